import Capture
import HarnessCore
import Testing

/// Heads that repeat the previous head's fields take a fast path (no byte-by-byte scan, the
/// previous head's array shared): every near-repeat must still parse exactly as it was sent.
@Suite struct RepeatedHeadTests {
    @Test(arguments: [false, true])
    func nearRepeatsParseAsSent(byteAtATime: Bool) {
        let base = "GET / HTTP/1.1\r\nHost: a\r\nX-Id: 12\r\nAccept: */*\r\n\r\n"
        let heads = [
            base,
            base,  // identical
            "GET / HTTP/1.1\r\nHost: a\r\nX-Id: 123\r\nAccept: */*\r\n\r\n",  // longer value
            "GET / HTTP/1.1\r\nHost: a\r\nX-Id: 1\r\nAccept: */*\r\n\r\n",  // shorter value
            "GET / HTTP/1.1\r\nhost: a\r\nX-Id: 1\r\nAccept: */*\r\n\r\n",  // name case
            "GET / HTTP/1.1\nhost:   a\nX-Id: 1 \nAccept: */*\n\n",  // bare LF, OWS, trailing space
            "GET / HTTP/1.1\r\nhost: a\r\nX-Id: 1\r\n continued\r\nAccept: */*\r\n\r\n",  // obs-fold
            "GET / HTTP/1.1\r\nhost: a\r\nX-Id: 1\r\n\r\n",  // fewer fields
            "GET / HTTP/1.1\r\nhost: a\r\nX-Id: 1\r\nAccept: */*\r\nExtra: e\r\n\r\n",  // more fields
            "GET / HTTP/1.1\r\nhost: a\r\nX-Id: 1\r\nAccept: */*\r\nExtra: e\r\n\r\n",  // identical again
            "GET / HTTP/1.1\r\nhost: a\r\nX-Id:1\r\nAccept: */*\r\nExtra: e\r\n\r\n",  // no space after colon
        ]
        let expected: [[(String, String)]] = [
            [("Host", "a"), ("X-Id", "12"), ("Accept", "*/*")],
            [("Host", "a"), ("X-Id", "12"), ("Accept", "*/*")],
            [("Host", "a"), ("X-Id", "123"), ("Accept", "*/*")],
            [("Host", "a"), ("X-Id", "1"), ("Accept", "*/*")],
            [("host", "a"), ("X-Id", "1"), ("Accept", "*/*")],
            [("host", "a"), ("X-Id", "1 "), ("Accept", "*/*")],
            [("host", "a"), ("X-Id", "1 continued"), ("Accept", "*/*")],
            [("host", "a"), ("X-Id", "1")],
            [("host", "a"), ("X-Id", "1"), ("Accept", "*/*"), ("Extra", "e")],
            [("host", "a"), ("X-Id", "1"), ("Accept", "*/*"), ("Extra", "e")],
            [("host", "a"), ("X-Id", "1"), ("Accept", "*/*"), ("Extra", "e")],
        ]
        var d = ParserDriver(.request)
        d.feed(heads.joined(), byteAtATime: byteAtATime)
        #expect(d.errors.isEmpty)
        #expect(d.messages.count == expected.count)
        for (m, want) in zip(d.messages, expected) {
            #expect(m.headers.map(\.name) == want.map(\.0))
            #expect(m.headers.map(\.value) == want.map(\.1))
        }
    }

    @Test func aChangeThroughOneRepeatLeavesTheOthersAlone() {
        // Repeats share one head object: a change through one message must copy it first.
        let head = "GET /a HTTP/1.1\r\nHost: a\r\nX-Id: 1\r\n\r\n"
        var d = ParserDriver(.request)
        d.feed(head + head + head)
        #expect(d.messages.count == 3)
        guard d.messages.count == 3 else { return }
        let (a, b, c) = (d.messages[0], d.messages[1], d.messages[2])
        b.headers.append(HeaderField("Added", "yes"))
        b.method = "PUT"
        c.target = "/c"
        c.status = 7
        #expect(a.method == "GET" && a.target == "/a" && a.status == 0)
        #expect(a.headers.map(\.name) == ["Host", "X-Id"])
        #expect(b.method == "PUT" && b.target == "/a")
        #expect(b.headers.map(\.name) == ["Host", "X-Id", "Added"])
        #expect(c.method == "GET" && c.target == "/c" && c.status == 7)
        #expect(c.headers.map(\.name) == ["Host", "X-Id"])
        // The parser's next repeat still gets the head as it was sent.
        d.feed(head)
        #expect(d.messages.last.map { ($0.method, $0.target, $0.headers.count) } ?? ("", "", 0) == ("GET", "/a", 2))
    }

    @Test func aRepeatedHeadStillFramesItsBody() {
        // The Content-Length line repeats: the fast path must still see it (the mask bit).
        let head = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
        var d = ParserDriver(.request)
        d.feed(head + head + head)
        #expect(d.messages.map { String(decoding: $0.body, as: UTF8.self) } == ["abc", "abc", "abc"])
        #expect(d.errors.isEmpty)
    }

    @Test func aBadByteAfterARepeatedPrefixIsStillAnError() {
        var d = ParserDriver(.request)
        d.feed("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n")
        d.feed("GET / HTTP/1.1\r\nHost: a\r\nX: 1\u{1}\r\n\r\n")
        #expect(d.messages.count == 1)
        // (The resynchronisation then tries "ET / ..." and "T / ...", which fail the same way.)
        #expect(!d.errors.isEmpty)
        #expect(d.errors.allSatisfy { $0.message == "bad character in header value" })
    }

    /// Storage identity of an array (the fast paths hand on the previous message's own arrays).
    static func storage<T>(_ a: [T]) -> UnsafeRawPointer? { a.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) } }

    @Test(arguments: [false, true])
    func aWholeRepeatedHeadSharesTheFirstParse(byteAtATime: Bool) {
        let head = "GET /a HTTP/1.1\r\nHost: h\r\nX-Id: 7\r\n\r\n"
        var d = ParserDriver(.request)
        // The same head three times, then heads of the same length that differ in one byte: the
        // target, the version, a value.
        d.feed(head + head + head, byteAtATime: byteAtATime)
        d.feed("GET /b HTTP/1.1\r\nHost: h\r\nX-Id: 7\r\n\r\n", byteAtATime: byteAtATime)
        d.feed("GET /b HTTP/1.0\r\nHost: h\r\nX-Id: 7\r\n\r\n", byteAtATime: byteAtATime)
        d.feed("GET /b HTTP/1.0\r\nHost: h\r\nX-Id: 8\r\n\r\n", byteAtATime: byteAtATime)
        #expect(d.errors.isEmpty)
        #expect(d.messages.map(\.target) == ["/a", "/a", "/a", "/b", "/b", "/b"])
        #expect(d.messages.map(\.version.minor) == [1, 1, 1, 1, 0, 0])
        #expect(d.messages.map { $0.headers.first("x-id") } == ["7", "7", "7", "7", "7", "8"])
        #expect(d.messages.map(\.streamOffset) == (0..<6).map { UInt64($0 * head.utf8.count) })
        // The repeats took the first parse's fields array as it was.
        #expect(Self.storage(d.messages[1].headers) == Self.storage(d.messages[0].headers))
        #expect(Self.storage(d.messages[2].headers) == Self.storage(d.messages[0].headers))
    }

    @Test func aRepeatedResponseHeadKeepsItsOwnStatusAndFraming() {
        // Same length, different status: 204 has no body although the head says Content-Length.
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
        let none = "HTTP/1.1 204 OK\r\nContent-Length: 2\r\n\r\n"
        var d = ParserDriver(.response, methods: ["GET", "GET", "GET", "GET"])
        d.feed(ok + ok + none + ok)
        #expect(d.errors.isEmpty)
        #expect(d.messages.map(\.status) == [200, 200, 204, 200])
        #expect(d.messages.map { String(decoding: $0.body, as: UTF8.self) } == ["hi", "hi", "", "hi"])
    }

    @Test func aRepeatedBadContentLengthIsReportedEveryTime() {
        let head = "POST /p HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"
        var d = ParserDriver(.request)
        d.feed(head + head + head)
        #expect(d.messages.count == 3)
        #expect(d.messages.map { $0.parseError?.message } == Array(repeating: "bad Content-Length", count: 3))
    }

    @Test(arguments: [false, true])
    func repeatedBodiesShareStorageAndDifferentOnesDoNot(byteAtATime: Bool) {
        func post(_ body: String) -> String { "POST /p HTTP/1.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body }
        func chunked(_ parts: [String]) -> String {
            "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                + parts.map { String($0.utf8.count, radix: 16) + "\r\n" + $0 + "\r\n" }.joined() + "0\r\n\r\n"
        }
        let bodies = ["abcdef", "abcdef", "abcdeg", "abc", "abcdefgh", "abcdefgh", "xbcdefgh", ""]
        var d = ParserDriver(.request)
        d.feed(bodies.map(post).joined(), byteAtATime: byteAtATime)
        // Chunked: the same bytes cut differently, then a difference in the last chunk.
        d.feed(chunked(["ab", "cdefgh"]) + chunked(["abcdef", "gh"]) + chunked(["abc", "defgx"]), byteAtATime: byteAtATime)
        #expect(d.errors.isEmpty)
        let got = d.messages.map { String(decoding: $0.body, as: UTF8.self) }
        #expect(got == bodies + ["abcdefgh", "abcdefgh", "abcdefgx"])
        let m = d.messages
        #expect(Self.storage(m[1].body) == Self.storage(m[0].body))
        #expect(Self.storage(m[2].body) != Self.storage(m[1].body))
        #expect(Self.storage(m[5].body) == Self.storage(m[4].body))
        #expect(Self.storage(m[9].body) == Self.storage(m[8].body))
        #expect(m.allSatisfy { $0.bodyLength == UInt64($0.body.count) && $0.complete })
    }

    @Test func aRepeatedBodyCutByAGapKeepsOnlyWhatCameBeforeIt() {
        let msg = "POST /p HTTP/1.1\r\nContent-Length: 6\r\n\r\n"
        var d = ParserDriver(.request)
        d.feed(msg + "abcdef" + msg + "abc")
        d.parser.gap(3, time: 2)
        d.pump()
        #expect(d.messages.count == 2)
        #expect(String(decoding: d.messages[1].body, as: UTF8.self) == "abc")
        #expect(d.messages[1].bodyLength == 6)
        #expect(d.messages[1].gapBytes == 3)
        #expect(!d.messages[1].complete)
    }

    /// Lent bytes cut at every point give what one copied piece gives: what a loan leaves
    /// unparsed is kept, and nothing points into the lent bytes afterwards (the driver overwrites
    /// them).
    @Test func lentBytesCutAnywhereParseAsOnePiece() {
        let stream =
            "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
            + "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
            + "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
            + "GET /d HTTP/1.1\r\nHost: h\r\n\r\n"
        let bytes = Array(stream.utf8)
        func summary(_ d: ParserDriver) -> [String] {
            d.messages.map { m in
                "\(m.method) \(m.target) \(m.headers.map { "\($0.name)=\($0.value)" }) \(String(decoding: m.body, as: UTF8.self)) "
                    + "\(m.trailers.map(\.value)) \(m.streamOffset) \(m.complete)"
            }
        }
        var whole = ParserDriver(.request, lending: false)
        whole.feed(bytes)
        whole.finish()
        #expect(whole.messages.count == 4)
        for cut in 1..<bytes.count {
            for second in [cut, min(bytes.count, cut + 7)] {
                var d = ParserDriver(.request)
                d.feed(Array(bytes[0..<cut]))
                if second > cut { d.feed(Array(bytes[cut..<second])) }
                d.feed(Array(bytes[second...]))
                d.finish()
                #expect(summary(d) == summary(whole), "cut at \(cut), \(second)")
                #expect(d.errors.isEmpty)
            }
        }
    }
}
