import Capture
import HarnessCore
import Testing

/// Drives an `HTTPStreamParser` the way a connection does and collects whole messages.
struct ParserDriver {
    var parser: HTTPStreamParser
    var methods: [String]
    var messages: [HTTPMessage] = []
    var heads = 0
    /// `.whole` events: requests that ended with their heads.
    var wholes = 0
    var errors: [ParseError] = []

    /// Bytes go in through `lend`/`settle` (as a capture's connections feed them: framed where
    /// they lie) or, with `lending: false`, through `append` (copied).
    var lending: Bool

    init(
        _ role: HTTPStreamParser.Role, methods: [String] = [], maxBody: Int = 1 << 20, midStream: Bool = false,
        lending: Bool = true
    ) {
        parser = HTTPStreamParser(role: role, maxBody: maxBody, midStream: midStream)
        self.methods = methods
        self.lending = lending
    }

    mutating func pump() {
        while let e = parser.next() {
            switch e {
            case .head(let m):
                heads += 1
                if !m.isRequest {
                    let method = methods.first
                    let mode = HTTPStreamParser.responseBodyMode(status: m.status, requestMethod: method, headers: m.headers)
                    parser.setBodyMode(mode)
                    if mode == .tunnel { parser.enterTunnel() }
                }
            case .message(let m):
                messages.append(m)
                if !m.isRequest && m.status >= 200 && !methods.isEmpty { methods.removeFirst() }
            case .whole(let m):
                #expect(m.isRequest, "only a request ends with its head")
                heads += 1
                wholes += 1
                messages.append(m)
            case .malformed(let e, _):
                errors.append(e)
            }
        }
    }

    mutating func feed(_ text: String, time: Int64 = 1, byteAtATime: Bool = false) {
        feed(Array(text.utf8), time: time, byteAtATime: byteAtATime)
    }

    mutating func feed(_ bytes: [UInt8], time: Int64 = 1, byteAtATime: Bool = false) {
        if byteAtATime {
            for b in bytes { feedPiece([b], time: time) }
        } else {
            feedPiece(bytes, time: time)
        }
    }

    private mutating func feedPiece(_ bytes: [UInt8], time: Int64) {
        // A copy whose storage is overwritten once the loan ends, so a parser that kept a
        // pointer into lent bytes would read garbage.
        var piece = bytes
        piece.withUnsafeMutableBytes { raw in
            if lending {
                parser.lend(UnsafeRawBufferPointer(raw), time: time)
                pump()
                parser.settle()
                for i in raw.indices { raw[i] = 0xee }
            } else {
                parser.append(UnsafeRawBufferPointer(raw), time: time)
                pump()
            }
        }
    }

    mutating func finish(time: Int64 = 2) {
        parser.finish(time: time)
        pump()
    }
}

@Suite struct HTTPStreamParserTests {
    @Test(arguments: [false, true])
    func contentLengthAndPipelinedRequests(byteAtATime: Bool) {
        var d = ParserDriver(.request)
        d.feed(
            "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /c HTTP/1.0\r\n\r\n",
            byteAtATime: byteAtATime)
        #expect(d.messages.map(\.method) == ["GET", "POST", "GET"])
        #expect(d.messages.map(\.target) == ["/a", "/b?q=1", "/c"])
        #expect(d.messages[1].body == Array("hello".utf8))
        #expect(d.messages[1].contentLength)
        #expect(d.messages[2].version == .http10)
        #expect(d.messages.allSatisfy { $0.complete })
    }

    @Test(arguments: [false, true])
    func chunkedWithExtensionsAndTrailers(byteAtATime: Bool) {
        var d = ParserDriver(.response, methods: ["GET"])
        d.feed(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n1 ; x\r\n!\r\n0\r\nX-Sum: abc\r\nX-Two: 2\r\n\r\n",
            byteAtATime: byteAtATime)
        #expect(d.messages.count == 1)
        let m = d.messages[0]
        #expect(m.body == Array("hello!".utf8))
        #expect(m.chunked)
        #expect(m.trailers == [HeaderField("X-Sum", "abc"), HeaderField("X-Two", "2")])
        #expect(m.complete)
    }

    @Test(arguments: [false, true])
    func requestsWithoutBodyEndWithTheirHeads(byteAtATime: Bool) {
        var d = ParserDriver(.request)
        d.feed(
            "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                + "POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
                + "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                + "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                + "POST /e HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
                + "POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            byteAtATime: byteAtATime)
        #expect(d.errors.isEmpty)
        #expect(d.messages.map(\.target) == ["/a", "/b", "/a", "/a", "/e", "/f"])
        #expect(d.messages.allSatisfy { $0.complete })
        #expect(d.heads == 6)
        // The GETs and the empty Content-Length POST end with their heads; the others have bodies.
        #expect(d.wholes == 4)
        #expect(d.messages.map { String(decoding: $0.body, as: UTF8.self) } == ["", "hi", "", "", "", ""])
    }

    @Test func closeDelimitedResponseEndsAtFinish() {
        var d = ParserDriver(.response, methods: ["GET"])
        d.feed("HTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of this ")
        d.feed("until close")
        #expect(d.messages.isEmpty)
        d.finish()
        #expect(d.messages.count == 1)
        #expect(d.messages[0].closeDelimited)
        #expect(d.messages[0].complete)
        #expect(String(decoding: d.messages[0].body, as: UTF8.self) == "all of this until close")
    }

    @Test func noBodyForHeadAnd1xx204And304() {
        var d = ParserDriver(.response, methods: ["HEAD", "GET", "GET", "GET"])
        d.feed(
            "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                + "HTTP/1.1 100 Continue\r\n\r\n"
                + "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"
                + "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"
                + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(d.messages.map(\.status) == [200, 100, 204, 304, 200])
        #expect(d.messages.map(\.body.count) == [0, 0, 0, 0, 2])
    }

    @Test func bodyPastTheMaximumIsCountedAndDigested() {
        var d = ParserDriver(.request, maxBody: 10)
        let body = String(repeating: "0123456789", count: 50)
        d.feed("PUT /big HTTP/1.1\r\nContent-Length: 500\r\n\r\n" + body)
        let m = d.messages[0]
        #expect(m.body == Array("0123456789".utf8))
        #expect(m.bodyLength == 500)
        #expect(m.truncation?.originalLength == 500)
        // SHA-256 of the whole 500-byte body (python3 -c 'print(hashlib.sha256(b"0123456789"*50).hexdigest())').
        let hex = m.truncation.map { $0.sha256.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        #expect(hex == "fab6d25d512442fc25ce3b1304a014240c059c6a5f619201fe97681c235a8bbf")
        var again = ParserDriver(.request, maxBody: 10)
        again.feed("PUT /big HTTP/1.1\r\nContent-Length: 500\r\n\r\n" + body, byteAtATime: true)
        #expect(again.messages[0].truncation == m.truncation)
    }

    @Test func malformedInputIsFlaggedAndTheParserResynchronises() {
        var d = ParserDriver(.request)
        d.feed("GET /ok HTTP/1.1\r\n\r\nthis is not http\r\nmore junk\r\nGET /next HTTP/1.1\r\nHost: y\r\n\r\n")
        #expect(d.messages.map(\.target) == ["/ok", "/next"])
        #expect(d.errors.count == 1)
        #expect(d.errors.first?.offset == 20)
        #expect(d.messages[1].resynchronized)
    }

    @Test func badHeaderNameIsAParseError() {
        var d = ParserDriver(.request)
        d.feed("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n")
        #expect(d.messages.isEmpty)
        #expect(d.errors.first?.message == "bad header field name")
    }

    @Test func gapInsideAKnownLengthBodyIsCountedNotInvented() {
        var d = ParserDriver(.response, methods: ["GET"])
        d.feed("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n12345")
        d.parser.gap(10, time: 3)
        d.feed("ABCDE")
        d.pump()
        #expect(d.messages.count == 1)
        let m = d.messages[0]
        #expect(m.gapBytes == 10)
        #expect(!m.complete)
        #expect(m.bodyLength == 20)
        #expect(m.body == Array("12345".utf8))
    }

    @Test func gapInAHeadResynchronisesOnTheNextRequest() {
        var d = ParserDriver(.request)
        d.feed("GET /first HTTP/1.1\r\nHo")
        d.parser.gap(100, time: 2)
        d.feed("st: x\r\n\r\nGET /second HTTP/1.1\r\n\r\n")
        #expect(d.messages.map(\.target) == ["/second"])
    }

    @Test func midStreamJoinSkipsToTheFirstStartLine() {
        var d = ParserDriver(.response, methods: ["GET"], midStream: true)
        d.feed("dy of an earlier response\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop")
        #expect(d.messages.map(\.status) == [404])
        #expect(d.messages[0].resynchronized)
    }

    @Test func upgradeResponseSwitchesToTunnel() {
        var d = ParserDriver(.response, methods: ["GET"])
        d.feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{81}\u{05}hello")
        #expect(d.messages.map(\.status) == [101])
        #expect(d.parser.tunnelBytes == 8)
    }

    @Test func connectRequestWaitsForTheDecision() {
        var d = ParserDriver(.request)
        d.feed("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\u{16}\u{03}\u{01}tls")
        #expect(d.messages.map(\.method) == ["CONNECT"])
        d.parser.resolveUpgrade(accepted: true)
        d.pump()
        #expect(d.parser.tunnelBytes == 6)
        var refused = ParserDriver(.request)
        refused.feed("CONNECT a:1 HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n")
        refused.parser.resolveUpgrade(accepted: false)
        refused.pump()
        #expect(refused.messages.map(\.target) == ["a:1", "/after"])
    }

    @Test func requestTimesComeFromTheBytesArrivalTimes() {
        var d = ParserDriver(.request)
        d.feed("POST /t HTTP/1.1\r\nContent-Length: 4\r\n\r\nab", time: 100)
        d.feed("cd", time: 250)
        #expect(d.messages[0].startTime == 100)
        #expect(d.messages[0].endTime == 250)
    }
}
