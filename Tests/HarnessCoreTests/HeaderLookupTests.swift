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
