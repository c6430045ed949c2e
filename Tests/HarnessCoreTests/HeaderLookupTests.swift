import HarnessCore
import Testing

/// The case-insensitive header lookups every module leans on.
@Suite struct HeaderLookupTests {
    @Test func caseInsensitiveEqualsFoldsLettersOnly() {
        #expect("Content-Length".caseInsensitiveEquals("content-length"))
        #expect("X-API-KEY".caseInsensitiveEquals("x-api-key"))
        #expect(!"Content-Length".caseInsensitiveEquals("Content-Lengt"))
        // 0x40 '@' and 0x60 '`' differ only in the case bit but are not letters.
        #expect(!"a@b".caseInsensitiveEquals("a`b"))
        #expect(!"[x]".caseInsensitiveEquals("{x}"))
        #expect("".caseInsensitiveEquals(""))
        // Bridged or non-contiguous strings take the slow path with the same answer.
        let sub = "xxContent-Type"[...].dropFirst(2)
        #expect(String(sub).caseInsensitiveEquals("CONTENT-TYPE"))
    }

    @Test func containsTokenReadsCommaListsAcrossFields() {
        let h: Headers = [
            HeaderField("Connection", " Keep-Alive ,\tUpgrade"), HeaderField("X", "close"), HeaderField("connection", "TE"),
        ]
        #expect(h.containsToken("connection", "keep-alive"))
        #expect(h.containsToken("CONNECTION", "upgrade"))
        #expect(h.containsToken("connection", "te"))
        #expect(!h.containsToken("connection", "close"))
        #expect(!h.containsToken("connection", "keep"))
        #expect(!([] as Headers).containsToken("connection", "close"))
    }
}

/// The path and query of a request-target, in every form a request line can carry.
@Suite struct RequestTargetTests {
    @Test func pathAndQueryOfEachForm() {
        let cases: [(String, String, String?)] = [
            ("/", "/", nil),
            ("/a/b?x=1&y=2", "/a/b", "x=1&y=2"),
            ("/a?", "/a", ""),
            ("/a?b?c", "/a", "b?c"),
            ("http://h:8080/p/q?z", "/p/q", "z"),
            ("https://h", "/", nil),
            ("http://h?x", "", "x"),
            ("HTTP://H/Up", "/Up", nil),
            ("h:443", "h:443", nil),
            ("http:/x", "http:/x", nil),
            ("*", "*", nil),
            ("", "", nil),
            ("/caf\u{e9}/\u{301}?q=\u{e9}", "/caf\u{e9}/\u{301}", "q=\u{e9}"),
        ]
        for (target, path, query) in cases {
            let r = Request(method: "GET", target: target)
            #expect(r.path == path, "path of \(target)")
            #expect(r.query.map(String.init) == query, "query of \(target)")
        }
    }
}
