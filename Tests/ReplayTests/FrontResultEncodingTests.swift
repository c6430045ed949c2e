import Capture
import Foundation
import HarnessCore
import Testing

@testable import Replay

/// The result writer encodes a replayed front from its parts (`FrontResult.write(to:)`), without
/// building an `Exchange`. The log must not tell: the same results written that way and as built
/// exchanges give byte-identical files, and the file reads back as the built exchanges.
@Suite struct FrontResultEncodingTests {
    /// A recorded front; `chunked` gives it a chunked body with a trailer, cut in the recording (so
    /// the replay's request carries a note of its own).
    private static func recorded(id: UInt64, body: [UInt8], chunked: Bool) -> Exchange {
        var headers = [HeaderField("Host", "shop.example"), HeaderField("X-Long-Header-Name-\(id)", "v\(id)")]
        if chunked { headers.append(HeaderField("Transfer-Encoding", "chunked")) }
        return Exchange(
            id: id, leg: .front,
            connection: ConnectionInfo(
                id: 7, client: Endpoint(host: "10.0.0.9", port: 50_000), server: Endpoint(host: "10.0.0.1", port: 80)),
            sequence: 0, timing: Timing(requestStart: 1_700_000_000_000_000),
            request: Request(
                method: body.isEmpty ? "GET" : "POST", target: "/a/b?c=\(id)",
                headers: headers, body: body,
                bodyTruncation: chunked ? BodyTruncation(originalLength: 5000, sha256: Array(repeating: 1, count: 32)) : nil,
                trailers: chunked ? [HeaderField("X-Trailer", "t")] : []),
            response: Response(status: 200, reason: "OK", headers: [HeaderField("Content-Length", "2")], body: Array("ok".utf8)))
    }

    private static func message(status: UInt16, chunked: Bool, interimHeaders: Headers) -> ReceivedResponse {
        let m = HTTPMessage(isRequest: false)
        m.status = status
        m.reason = "Custom Reason"
        m.version = HTTPVersionNumber(major: 1, minor: 1)
        m.headers = [
            HeaderField("Date", "Tue, 24 Nov 2026 05:00:00 GMT"),
            chunked ? HeaderField("Transfer-Encoding", "chunked") : HeaderField("Content-Length", "11"),
            HeaderField("X-Served-By-A-Rather-Long-Name", "backend-\(status)"),
        ]
        m.body = Array("hello world".utf8)
        m.chunked = chunked
        if chunked { m.trailers = [HeaderField("X-Checksum", "abc")] }
        m.truncation = status == 206 ? BodyTruncation(originalLength: 99_999, sha256: Array(repeating: 7, count: 32)) : nil
        m.startTime = 1_700_000_000_100_000
        m.endTime = 1_700_000_000_100_500
        return ReceivedResponse(message: m, interim: interimHeaders.isEmpty ? [] : [InterimResponse(status: 100, reason: "Continue", headers: interimHeaders)])
    }

    private static func results() -> [FrontResult] {
        let outgoing = OutgoingRequest(hostHeader: .original, authority: "127.0.0.1:8080")
        var out: [FrontResult] = []
        for i in 0..<6 {
            let e = recorded(
                id: UInt64(100 + i), body: i % 2 == 0 ? [] : Array(repeating: UInt8(i), count: 300), chunked: i == 3)
            let pending = PendingRequest(exchange: e, outgoing: outgoing, due: nil, last: i == 5)
            let response: ReceivedResponse? = switch i {
            case 0: message(status: 200, chunked: false, interimHeaders: [])
            case 1: message(status: 200, chunked: true, interimHeaders: [HeaderField("X-Interim", "1")])
            case 2: message(status: 206, chunked: false, interimHeaders: [])
            case 3: message(status: 302, chunked: false, interimHeaders: [])
            case 4: message(status: 500, chunked: false, interimHeaders: [])  // with an error: incomplete
            default: nil
            }
            out.append(
                FrontResult(
                    pending: pending, id: UInt64(1 + i), connectionID: 3,
                    client: Endpoint(host: "127.0.0.1", port: 40_000), server: Endpoint(host: "127.0.0.1", port: 8080),
                    tls: i == 2, sni: i == 2 ? "shop.example" : nil, sequence: UInt32(i),
                    start: 1_700_000_000_050_000 + Int64(i), requestEnd: i == 5 ? 0 : 1_700_000_000_060_000,
                    response: response, error: i >= 4 ? (i == 4 ? "reset" : "timeout") : nil,
                    notes: i == 3 ? [Annotation("upgrade", "websocket")] : []))
        }
        return out
    }

    @Test func partsAndBuiltExchangesWriteTheSameBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("front-encoding-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let header = LogHeader(metadata: [Annotation("created_us", "1"), Annotation("source", "replay")])
        let results = Self.results()
        let parts = dir.appendingPathComponent("parts.hlog").path
        let built = dir.appendingPathComponent("built.hlog").path
        // Twice over: the second round hits the segment's name, value and body tables.
        let a = try LogWriter(path: parts, header: header)
        for _ in 0..<2 { for r in results { try a.append(source: r) } }
        try a.close()
        let b = try LogWriter(path: built, header: header)
        for _ in 0..<2 { for r in results { try b.append(r.build()) } }
        try b.close()
        let partBytes = try Data(contentsOf: URL(fileURLWithPath: parts))
        let builtBytes = try Data(contentsOf: URL(fileURLWithPath: built))
        #expect(partBytes.count > 500)
        #expect(partBytes == builtBytes)

        let reader = try LogReader(path: parts)
        var read: [Exchange] = []
        while let e = try reader.next() { read.append(e) }
        #expect(read == results.map { $0.build() } + results.map { $0.build() })
        // What the parts carried, checked on the decoded side.
        #expect(read[1].response?.interim.first?.headers == [HeaderField("X-Interim", "1")])
        #expect(read[1].framing.contains(.responseChunked))
        #expect(read[2].response?.bodyTruncation?.originalLength == 99_999)
        // The request's own note, then the one added while it ran.
        #expect(read[3].annotations.map(\.key) == ["request_body", "upgrade"])
        #expect(read[3].request.trailers == [HeaderField("X-Trailer", "t")])
        #expect(read[4].flags.incomplete && read[4].error == "reset")
        #expect(read[5].response == nil && read[5].error == "timeout")
        #expect(read.allSatisfy { $0.replayOf != nil })
    }
}
