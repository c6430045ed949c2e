import Capture
import HarnessCore
import HarnessTesting
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// Our framer and SwiftNIO's `HTTPRequestDecoder`/`HTTPResponseDecoder` (llhttp) fed the same
/// bytes, whole and one byte at a time, must agree on every message.
@Suite struct NIODifferentialTests {
    /// A comparable summary of one message: start line, headers, body, trailers.
    struct Summary: Equatable, CustomStringConvertible {
        var start: String
        var headers: [String]
        var body: [UInt8]
        var trailers: [String]
        var description: String { "\(start) \(headers) body=\(body.count) trailers=\(trailers)" }
    }

    static let requestStreams: [String] = [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /p?q=1&r=%20 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Empty:\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world",
        "POST /chunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: yes\r\n\r\n",
        "PUT /x HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
        "DELETE /item/7 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /spaces HTTP/1.1\r\nHost:   padded value   \r\nX-Tab:\tv\r\n\r\n",
        "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 3000\r\n\r\n" + String(repeating: "z", count: 3000),
        "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nokHEAD /c HTTP/1.1\r\nHost: a\r\n\r\n",
    ]

    /// Response streams and the methods of the requests they answer.
    static let responseStreams: [(String, [String])] = [
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: t\r\n\r\nhello", ["GET"]),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", ["GET"]),
        ("HTTP/1.1 204 No Content\r\nDate: x\r\n\r\nHTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n", ["GET", "GET"]),
        ("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno", ["HEAD", "GET"]),
        ("HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", ["GET"]),
        ("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcdHTTP/1.1 500 Internal Server Error\r\nContent-Length: 1\r\n\r\n!", ["GET", "POST"]),
        ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2048\r\n\r\n" + String(repeating: "y", count: 2048), ["GET"]),
    ]

    // MARK: ours

    func ours(_ bytes: [UInt8], role: HTTPStreamParser.Role, methods: [String], byteAtATime: Bool) -> [Summary] {
        var d = ParserDriver(role, methods: methods)
        d.feed(bytes, byteAtATime: byteAtATime)
        d.finish()
        #expect(d.errors.isEmpty, "our parser found errors: \(d.errors)")
        return d.messages.map { m in
            Summary(
                start: m.isRequest ? "\(m.method) \(m.target) \(m.version)" : "\(m.version) \(m.status)",
                headers: m.headers.map { "\($0.name): \($0.value)" }, body: m.body,
                trailers: m.trailers.map { "\($0.name): \($0.value)" })
        }
    }

    // MARK: NIO

    func feedNIO(_ channel: EmbeddedChannel, _ bytes: [UInt8], byteAtATime: Bool) throws {
        if byteAtATime {
            for b in bytes { try channel.writeInbound(ByteBuffer(bytes: [b])) }
        } else {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        }
    }

    func nioRequests(_ bytes: [UInt8], byteAtATime: Bool) throws -> [Summary] {
        try NIORequestOracle.decode(bytes, byteAtATime: byteAtATime).map {
            Summary(start: $0.start, headers: $0.headers, body: $0.body, trailers: $0.trailers)
        }
    }

    func nioResponses(_ bytes: [UInt8], methods: [String], byteAtATime: Bool) throws -> [Summary] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPResponseDecoder(informationalResponseStrategy: .forward)))
        defer { _ = try? channel.finish() }
        for m in methods {
            try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: m), uri: "/")))
        }
        try feedNIO(channel, bytes, byteAtATime: byteAtATime)
        var out: [Summary] = []
        var current: Summary?
        while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
            switch part {
            case .head(let h):
                current = Summary(
                    start: "HTTP/\(h.version.major).\(h.version.minor) \(h.status.code)",
                    headers: h.headers.map { "\($0.name): \($0.value)" }, body: [], trailers: [])
            case .body(let b):
                current?.body += Array(b.readableBytesView)
            case .end(let t):
                current?.trailers = t?.map { "\($0.name): \($0.value)" } ?? []
                if let c = current { out.append(c) }
                current = nil
            }
        }
        return out
    }

    @Test(arguments: requestStreams.indices)
    func requestsAgreeWithNIO(index: Int) throws {
        let bytes = Array(Self.requestStreams[index].utf8)
        for byteAtATime in [false, true] {
            let expected = try nioRequests(bytes, byteAtATime: byteAtATime)
            #expect(!expected.isEmpty)
            #expect(ours(bytes, role: .request, methods: [], byteAtATime: byteAtATime) == expected)
        }
    }

    @Test(arguments: responseStreams.indices)
    func responsesAgreeWithNIO(index: Int) throws {
        let (text, methods) = Self.responseStreams[index]
        let bytes = Array(text.utf8)
        for byteAtATime in [false, true] {
            let expected = try nioResponses(bytes, methods: methods, byteAtATime: byteAtATime)
            #expect(!expected.isEmpty)
            #expect(ours(bytes, role: .response, methods: methods, byteAtATime: byteAtATime) == expected)
        }
    }

    static let malformedRequests: [String] = [
        "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET / FTP/1.1\r\n\r\n",
    ]

    @Test(arguments: malformedRequests.indices)
    func bothRejectMalformedRequests(index: Int) throws {
        let bytes = Array(Self.malformedRequests[index].utf8)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder()))
        var nioFailed = false
        do { try channel.writeInbound(ByteBuffer(bytes: bytes)) } catch { nioFailed = true }
        _ = try? channel.finish()
        #expect(nioFailed)
        var d = ParserDriver(.request)
        d.feed(bytes)
        d.finish()
        let flagged = !d.errors.isEmpty || d.messages.contains { $0.parseError != nil || !$0.complete }
        #expect(flagged)
    }
}
