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
}
