import Capture
import HarnessCore
import HarnessTesting
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Proxy

/// The proxy frames upstream responses itself. SwiftNIO's `HTTPResponseDecoder` is the oracle:
/// fed the same bytes (whole, byte by byte, in odd pieces), both must report the same heads,
/// bodies and trailers.
struct MessageFramerTests {
    /// One message as both sides report it: status line, fields, body, trailers.
    struct Message: Equatable, CustomStringConvertible {
        var status: UInt
        var reason: String
        var headers: [String]
        var body: [UInt8]
        var trailers: [String]
        var description: String { "\(status) \(reason) \(headers) body \(body.count) bytes, trailers \(trailers)" }
    }

    /// (request method, response bytes) of a keep-alive connection's exchanges.
    static let cases: [(String, [String], String)] = [
        ("content-length", ["GET"], "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b \r\nServer: t\r\n\r\nhello"),
        (
            "chunked, extensions, trailers", ["GET"],
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n"
        ),
        ("HEAD keeps no body", ["HEAD", "GET"], "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        ("204 and 304", ["GET", "GET"], "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n"),
        (
            "keep-alive sequence", ["GET", "POST", "GET"],
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nHTTP/1.1 302 Found\r\nLocation: http://b/x\r\nContent-Length: 3\r\n\r\nxyz"
        ),
        ("empty reason", ["GET"], "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"),
        (
            "big chunks", ["GET"],
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + (0..<7).map { i in "2710\r\n" + String(repeating: Character(UnicodeScalar(UInt8(97 + i))), count: 10_000) + "\r\n" }
                .joined() + "0\r\n\r\n"
        ),
    ]

    func nio(_ methods: [String], _ bytes: [UInt8], pieces: [Int]) throws -> [Message] {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        for m in methods {
            try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: m), uri: "/")))
            try channel.writeOutbound(HTTPClientRequestPart.end(nil))
        }
        while try channel.readOutbound(as: ByteBuffer.self) != nil {}
        var out: [Message] = []
        var current: Message?
        func drain() throws {
            while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
                switch part {
                case .head(let h):
                    current = Message(
                        status: h.status.code, reason: h.status.reasonPhrase, headers: h.headers.map { "\($0.name): \($0.value)" },
                        body: [], trailers: [])
                case .body(let b): current?.body += Array(b.readableBytesView)
                case .end(let t):
                    current?.trailers = t?.map { "\($0.name): \($0.value)" } ?? []
                    if let c = current { out.append(c) }
                    current = nil
                }
            }
        }
        var i = 0
        for n in pieces {
            try channel.writeInbound(ByteBuffer(bytes: bytes[i..<(i + n)]))
            try drain()
            i += n
        }
        _ = try? channel.finish()
        try drain()
        return out
    }

    func ours(_ methods: [String], _ bytes: [UInt8], pieces: [Int]) throws -> [Message] {
        var framer = MessageFramer(role: .response)
        for m in methods { framer.expectResponse(to: m) }
        var out: [Message] = []
        var current: Message?
        var parts: [MessageFramer.Part] = []
        func drain() {
            for part in parts {
                switch part {
                case .interim(let m):
                    out.append(Message(status: UInt(m.status), reason: m.reason, headers: m.headers.map { "\($0.name): \($0.value)" }, body: [], trailers: []))
                case .head(let m):
                    // An empty reason phrase: NIO names the code's standard one.
                    let reason = m.reason.isEmpty ? HTTPResponseStatus(statusCode: Int(m.status)).reasonPhrase : m.reason
                    current = Message(status: UInt(m.status), reason: reason, headers: m.headers.map { "\($0.name): \($0.value)" }, body: [], trailers: [])
                case .body(let b): current?.body += Array(b.readableBytesView)
                case .end(let t):
                    current?.trailers = t.map { "\($0.name): \($0.value)" }
                    if let c = current { out.append(c) }
                    current = nil
                }
            }
            parts.removeAll()
        }
        var i = 0
        for n in pieces {
            try framer.feed(ByteBuffer(bytes: bytes[i..<(i + n)]), into: &parts)
            drain()
            i += n
        }
        _ = framer.finish(into: &parts)
        drain()
        return out
    }

    static func splits(_ count: Int) -> [[Int]] {
        var odd: [Int] = []
        var left = count
        var n = 1
        while left > 0 {
            let take = min(left, n)
            odd.append(take)
            left -= take
            n = n * 3 % 17 + 1
        }
        return [[count], Array(repeating: 1, count: count), odd]
    }

    @Test(arguments: cases.indices)
    func framesLikeSwiftNIO(_ index: Int) throws {
        let (name, methods, text) = Self.cases[index]
        let bytes = Array(text.utf8)
        let expected = try nio(methods, bytes, pieces: [bytes.count])
        #expect(expected.count == methods.count, "\(name): the oracle read \(expected.count) responses")
        for pieces in Self.splits(bytes.count) {
            let got = try ours(methods, bytes, pieces: pieces)
            #expect(got == expected, "\(name), \(pieces.count) pieces")
        }
    }

    static let requests: [(String, String)] = [
        ("pipelined GETs", "GET /a?b=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nHEAD / HTTP/1.0\r\n\r\n"),
        ("form POST", "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\nContent-Type: x\r\n\r\na=1&b=2GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        (
            "chunked PUT with trailers",
            "PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n10\r\n0123456789abcdef\r\n0\r\nX-Sum: 9\r\n\r\n"
        ),
        ("empty chunked DELETE", "DELETE /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("leading empty lines", "\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]

    func ourRequests(_ bytes: [UInt8], pieces: [Int]) throws -> [NIORequestOracle.Decoded] {
        var framer = MessageFramer(role: .request)
        var out: [NIORequestOracle.Decoded] = []
        var current: NIORequestOracle.Decoded?
        var parts: [MessageFramer.Part] = []
        var i = 0
        for n in pieces {
            try framer.feed(ByteBuffer(bytes: bytes[i..<(i + n)]), into: &parts)
            i += n
            for part in parts {
                switch part {
                case .head(let m):
                    current = NIORequestOracle.Decoded(
                        start: "\(m.method) \(m.target) \(m.version)", headers: m.headers.map { "\($0.name): \($0.value)" },
                        body: [], trailers: [])
                case .body(let b): current?.body += Array(b.readableBytesView)
                case .end(let t):
                    current?.trailers = t.map { "\($0.name): \($0.value)" }
                    if let c = current { out.append(c) }
                    current = nil
                case .interim: break
                }
            }
            parts.removeAll()
        }
        return out
    }

    @Test(arguments: requests.indices)
    func framesRequestsLikeSwiftNIO(_ index: Int) throws {
        let (name, text) = Self.requests[index]
        let bytes = Array(text.utf8)
        let expected = try NIORequestOracle.decode(bytes)
        #expect(!expected.isEmpty, "\(name): the oracle read nothing")
        for pieces in Self.splits(bytes.count) {
            #expect(try ourRequests(bytes, pieces: pieces) == expected, "\(name), \(pieces.count) pieces")
        }
    }

    /// What llhttp refuses from a client, the framer refuses: smuggling framings, bad lines; an
    /// endless head is "too large" (431), not malformed (400).
    @Test func hostileRequestsFail() {
        let bad = [
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "GARBAGE\r\n\r\n",
            "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "GET /a b HTTP/1.1\r\n\r\n", "GET / HTTP/2.0\r\n\r\n",
        ]
        for text in bad {
            var framer = MessageFramer(role: .request)
            var parts: [MessageFramer.Part] = []
            #expect(Self.fails { try framer.feed(ByteBuffer(string: text), into: &parts) }, "\(text.debugDescription)")
        }
        var framer = MessageFramer(role: .request, maxHeadBytes: 1024)
        var parts: [MessageFramer.Part] = []
        do {
            try framer.feed(ByteBuffer(string: "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 2000)), into: &parts)
            Issue.record("no failure")
        } catch let f as MessageFramer.Failure {
            #expect(f.tooLarge)
        } catch {
            Issue.record("\(error)")
        }
    }

    /// After an upgrade request the rest is not framed: it is the tunnel's (or nobody's).
    @Test func upgradeRequestStopsFraming() throws {
        var framer = MessageFramer(role: .request)
        var parts: [MessageFramer.Part] = []
        try framer.feed(
            ByteBuffer(string: "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{81}\u{80}GET / HTTP/1.1\r\n\r\n"),
            into: &parts)
        #expect(parts.count == 2 && framer.isStopped)
        #expect(framer.takeLeftover().map { Array($0.readableBytesView) } == Array("\u{81}\u{80}GET / HTTP/1.1\r\n\r\n".utf8))
    }

    /// What the proxy writes to clients (`HeadBytes.writeResponse`, `ChunkedBody.last`) reads
    /// back through SwiftNIO's decoder, and its size is exactly what was reserved.
    @Test func writtenResponsesReadBackThroughSwiftNIO() throws {
        let headers: Headers = [HeaderField("Transfer-Encoding", "chunked"), HeaderField("X-Empty", ""), HeaderField("X-Long", String(repeating: "z", count: 200))]
        var bytes = ByteBufferAllocator().buffer(capacity: 512)
        let size = HeadBytes.responseSize(reason: "Not Found", headers: headers)
        let written = bytes.writeWithUnsafeMutableBytes(minimumWritableBytes: size) {
            HeadBytes.writeResponse(status: 404, reason: "Not Found", headers: headers, into: $0)
        }
        #expect(written == size)
        bytes.writeString("3\r\nabc\r\n")
        var last = ChunkedBody.last(trailers: [HeaderField("X-Sum", "1")], allocator: ByteBufferAllocator())
        bytes.writeBuffer(&last)
        let got = try nio(["GET"], Array(bytes.readableBytesView), pieces: [bytes.readableBytes])
        #expect(
            got == [
                Message(
                    status: 404, reason: "Not Found", headers: headers.map { "\($0.name): \($0.value)" }, body: Array("abc".utf8),
                    trailers: ["X-Sum: 1"])
            ])
    }

    /// An interim 100 comes before the final response (recorded apart from it).
    @Test func interimThenFinal() throws {
        var framer = MessageFramer(role: .response)
        framer.expectResponse(to: "POST")
        var parts: [MessageFramer.Part] = []
        try framer.feed(ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"), into: &parts)
        guard parts.count == 4, case .interim(let i) = parts[0], case .head(let h) = parts[1], case .body(let b) = parts[2],
            case .end = parts[3]
        else {
            Issue.record("parts: \(parts)")
            return
        }
        #expect(i.status == 100 && h.status == 201 && String(buffer: b) == "ok")
    }

    /// Lines ending in a bare LF are read (as the capture reads them; llhttp refuses them).
    @Test func bareLineFeeds() throws {
        var framer = MessageFramer(role: .response)
        framer.expectResponse(to: "GET")
        var parts: [MessageFramer.Part] = []
        try framer.feed(ByteBuffer(string: "HTTP/1.1 200 OK\nContent-Length: 2\nA: b\n\nhi"), into: &parts)
        guard parts.count == 3, case .head(let h) = parts[0], case .body(let b) = parts[1] else {
            Issue.record("parts: \(parts)")
            return
        }
        #expect(h.headers == [HeaderField("Content-Length", "2"), HeaderField("A", "b")] && String(buffer: b) == "hi")
    }

    /// A close-delimited body ends with the connection; a cut Content-Length body does not.
    @Test func endOfStream() throws {
        var framer = MessageFramer(role: .response)
        var parts: [MessageFramer.Part] = []
        try framer.feed(ByteBuffer(string: "HTTP/1.0 200 OK\r\n\r\nabc"), into: &parts)
        try framer.feed(ByteBuffer(string: "def"), into: &parts)
        #expect(framer.readsUntilClose)
        let ended = framer.finish(into: &parts)
        #expect(ended)
        #expect(parts.count == 4)
        if case .end = parts.last {} else { Issue.record("no end: \(parts)") }

        var cut = MessageFramer(role: .response)
        parts = []
        try cut.feed(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"), into: &parts)
        let cutEnded = cut.finish(into: &parts)
        #expect(!cutEnded)
    }

    /// After a 101 the rest is the tunnel's: handed over as it came, not parsed.
    @Test func switchingProtocolsLeavesTheRest() throws {
        var framer = MessageFramer(role: .response)
        var parts: [MessageFramer.Part] = []
        try framer.feed(ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{81}\u{02}hi"), into: &parts)
        try framer.feed(ByteBuffer(string: "GARBAGE"), into: &parts)
        #expect(framer.isStopped)
        #expect(parts.count == 2)
        let rest = framer.takeLeftover().map { Array($0.readableBytesView) } ?? []
        #expect(rest == Array("\u{81}\u{02}hiGARBAGE".utf8))
    }

    /// What NIO rejects, the framer rejects too: bad status lines, chunk sizes, two lengths.
    @Test func malformedResponsesFail() {
        let bad = [
            "HTTP/1.1 2000 OK\r\n\r\n", "HTTZ/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        ]
        for text in bad {
            var framer = MessageFramer(role: .response)
            var parts: [MessageFramer.Part] = []
            #expect(Self.fails { try framer.feed(ByteBuffer(string: text), into: &parts) }, "\(text.debugDescription)")
        }
    }

    /// A head that never ends is refused past the limit instead of buffered without bound.
    @Test func endlessHeadIsRefused() throws {
        var framer = MessageFramer(role: .response, maxHeadBytes: 1024)
        var parts: [MessageFramer.Part] = []
        try framer.feed(ByteBuffer(string: "HTTP/1.1 200 OK\r\n"), into: &parts)
        #expect(Self.fails {
            for _ in 0..<100 { try framer.feed(ByteBuffer(string: "X-Filler: " + String(repeating: "a", count: 50) + "\r\n"), into: &parts) }
        })
    }

    static func fails(_ body: () throws -> Void) -> Bool {
        do { try body() } catch is MessageFramer.Failure { return true } catch { return false }
        return false
    }
}
