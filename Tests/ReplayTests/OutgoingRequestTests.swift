import HarnessCore
import Testing

@testable import Replay

/// `OutgoingRequest.prepare` answers the common case (nothing to change) from one pass over the
/// fields, on the reader thread. The general rewrite is the oracle: for every request and Host
/// mode, the prepared request, its notes, head size, chunking and framing must be the rewrite's.
struct OutgoingRequestTests {
    static let body = Array("a=1&b=2".utf8)

    static let requests: [Request] = [
        Request(method: "GET", target: "/", headers: [HeaderField("Host", "example.com"), HeaderField("Accept", "*/*")]),
        Request(method: "GET", target: "/nohost", headers: [HeaderField("Accept", "*/*")]),
        Request(method: "GET", target: "/old", version: .http10, headers: [HeaderField("Accept", "*/*")]),
        Request(method: "GET", target: "/host-case", headers: [HeaderField("hOsT", "h")]),
        Request(method: "POST", target: "/ok", headers: [HeaderField("Host", "h"), HeaderField("Content-Length", "7")], body: body),
        Request(method: "POST", target: "/padded", headers: [HeaderField("Host", "h"), HeaderField("Content-Length", "007")], body: body),
        Request(method: "POST", target: "/wrong", headers: [HeaderField("Host", "h"), HeaderField("content-length", "9")], body: body),
        Request(method: "POST", target: "/none", headers: [HeaderField("Host", "h")], body: body),
        Request(
            method: "POST", target: "/two",
            headers: [HeaderField("Host", "h"), HeaderField("Content-Length", "7"), HeaderField("Content-Length", "7")], body: body),
        Request(method: "GET", target: "/zero", headers: [HeaderField("Host", "h"), HeaderField("Content-Length", "0")]),
        Request(
            method: "POST", target: "/chunked",
            headers: [HeaderField("Host", "h"), HeaderField("Transfer-Encoding", "chunked"), HeaderField("Content-Length", "7")],
            body: body, trailers: [HeaderField("X-Sum", "1")]),
        Request(method: "POST", target: "/gzip", headers: [HeaderField("Host", "h"), HeaderField("Transfer-Encoding", "gzip")], body: body),
        Request(
            method: "POST", target: "/trailers", headers: [HeaderField("Host", "h"), HeaderField("Content-Length", "7")], body: body,
            trailers: [HeaderField("X-Sum", "1")]),
        Request(
            method: "PUT", target: "/cut", headers: [HeaderField("Host", "h"), HeaderField("Content-Length", "7")], body: body,
            bodyTruncation: BodyTruncation(originalLength: 100, sha256: Array(repeating: 1, count: 32))),
    ]

    @Test(arguments: [HostHeaderMode.original, .target, .value("staging.example")])
    func theOnePassAnswerIsTheRewritesAnswer(mode: HostHeaderMode) {
        let outgoing = OutgoingRequest(hostHeader: mode, authority: "127.0.0.1:8080")
        var fast = 0
        for recorded in Self.requests {
            let p = outgoing.prepare(recorded)
            let (r, notes) = outgoing.rewrite(recorded)
            #expect(p.request == r, "\(recorded.target)")
            #expect(p.annotations == notes, "\(recorded.target)")
            #expect(p.headSize == ConnectionDriver.headSize(r), "\(recorded.target)")
            #expect(p.chunked == ConnectionDriver.isChunked(r), "\(recorded.target)")
            #expect(p.framing == OutgoingRequest.framing(r), "\(recorded.target)")
            if p.request == recorded { fast += 1 }
        }
        // The unchanged requests (Host kept) are the common case the one pass is for.
        if case .original = mode { #expect(fast >= 5) }
    }
}
