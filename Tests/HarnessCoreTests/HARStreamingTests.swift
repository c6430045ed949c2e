import Foundation
import HarnessTesting
import Testing

@testable import HarnessCore

/// HAR import reads entry by entry (`HAREntrySplitter`), not the whole document: the entries it
/// finds must not depend on where the reads cut the bytes, strings that look like structure must
/// stay strings, and a document that is not a HAR says where.
@Suite struct HARStreamingTests {
    /// Entries whose strings hold braces, brackets, escaped quotes, backslashes and a key named
    /// "entries"; `pages` and `creator` before and after the entries; odd whitespace.
    static let document = #"""
        { "log" : { "version":"1.2", "creator": {"name": "x", "entries": [1, 2]},
          "pages": [ {"id": "p{1}", "title": "[not] \"entries\""} ],
          "entries" :
          [
           {"request": {"method": "GET", "url": "http://h/a?q={x}", "httpVersion": "HTTP/1.1",
             "headers": [{"name": "X-Json", "value": "{\"entries\": [\"}\"]}\\"}]},
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [],
             "content": {"text": "]]}}\\\"{{"}}},
           {"request": {"method": "POST", "url": "http://h/b", "httpVersion": "HTTP/1.1", "headers": [],
             "postData": {"text": "a=1&b={2}"}},
            "response": {"status": 302, "statusText": "Found", "httpVersion": "HTTP/1.1",
             "headers": [{"name": "Location", "value": "http://h/a"}], "content": {}}}
          ],
          "comment": "after the entries: { ["
        } }
        """#

    private static func split(_ text: String, chunk: Int) throws -> [String] {
        var splitter = HAREntrySplitter()
        var out: [String] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + chunk)
            try bytes[i..<end].withUnsafeBytes { raw in
                try splitter.feed(raw) { entry, _ in out.append(String(decoding: entry, as: UTF8.self)) }
            }
            i = end
        }
        try splitter.finish()
        return out
    }

    @Test func entriesDoNotDependOnWhereTheReadsCut() throws {
        let whole = try Self.split(Self.document, chunk: 1 << 20)
        #expect(whole.count == 2)
        #expect(whole[0].hasPrefix("{\"request\"") && whole[0].hasSuffix("}}}"))
        for chunk in [1, 2, 3, 7, 64] {
            #expect(try Self.split(Self.document, chunk: chunk) == whole, "chunk \(chunk)")
        }
        let exchanges = try HARImporter.read(bytes: Array(Self.document.utf8))
        #expect(exchanges.map(\.request.method) == ["GET", "POST"])
        #expect(exchanges[0].request.headers.first("X-Json") == #"{"entries": ["}"]}\"#)
        #expect(exchanges[0].response.map { String(decoding: $0.body, as: UTF8.self) } == #"]]}}\"{{"#)
        #expect(exchanges[1].request.body == Array("a=1&b={2}".utf8))
        #expect(exchanges[1].response?.headers.first("Location") == "http://h/a")
    }

    @Test func aFileImportsEntryByEntryAsTheWholeDocumentDid() throws {
        // Through a file, gzip'd too: the reads of `InputStream` cut the document.
        let dir = TempDir("har-stream")
        let exchanges = (0..<300).map { i in
            Exchange(
                id: UInt64(i + 1), leg: .front,
                request: Request(
                    method: "GET", target: "/p/\(i)?x={\(i)}", headers: [HeaderField("Host", "h"), HeaderField("X-N", "\"\(i)\"")]),
                response: Response(
                    status: 200, reason: "OK", headers: [HeaderField("Content-Type", "text/plain")],
                    body: Array(String(repeating: "}{][\"\\", count: 40 + i).utf8)))
        }
        let exporter = try HARExporter(path: dir.file("x.har"))
        for e in exchanges { try exporter.append(e) }
        try exporter.close()
        let back = try HARImporter.read(path: dir.file("x.har"))
        #expect(back.count == 300)
        #expect(back.map(\.request.target) == exchanges.map(\.request.target))
        #expect(back.map { $0.response?.body } == exchanges.map { $0.response?.body })
        let gz = try Run.process("/bin/sh", ["-c", "gzip -c \(dir.file("x.har")) > \(dir.file("x.har.gz"))"])
        #expect(gz.status == 0)
        #expect(try HARImporter.read(path: dir.file("x.har.gz")) == back)
    }

    @Test func documentsThatAreNotHARSayWhere() throws {
        let cases: [(String, String)] = [
            (#"{"log": {"entries": [{"request": {"method": "GET", "url": "http://h/"}}"#, "ends early"),
            (#"{"log": {"pages": []}}"#, "no log.entries array"),
            (#"{"entries": [{"a": 1}]}"#, "no log.entries array"),
            (#"{"log": {"entries": [1, 2]}}"#, "not an object"),
            (#"{"log": {"entries": ["x"]}}"#, "not an object"),
            (#"{"log": {"entries": [{"request": {"method": "GET", "url": "http://h/"}}]}} {"#, "after the end"),
            (#"{"log": {"entries": [{"a": 1]}}"#, "unbalanced"),
            (#"{"log": {"entries": [{"request": {"method": "GET", "url": "http://h/"}, "x": tru}]}}"#, "not valid JSON"),
        ]
        for (text, expected) in cases {
            let error = #expect(throws: HarnessError.self) { try HARImporter.read(bytes: Array(text.utf8), path: "t.har") }
            #expect(error?.description.contains(expected) == true, "\(text): \(error?.description ?? "no error")")
            #expect(error?.description.contains("t.har") == true)
        }
        // Where: the bad literal of the last case is past the start of its entry.
        let text = #"{"log": {"entries": [{"request": {"method": "GET", "url": "http://h/"}, "x": tru}]}}"#
        let error = #expect(throws: HarnessError.self) { try HARImporter.read(bytes: Array(text.utf8), path: "t.har") }
        #expect(error?.description.contains("entry #0") == true, "\(error?.description ?? "")")
    }

    /// A key too long to be ours is still a key: the string after it is its value.
    @Test func anOverlongKeyDoesNotShiftTheKeys() throws {
        let long = String(repeating: "k", count: 200)
        let text = #"{"log": {""# + long + #"": "entries", "entries": [{"request": {"method": "GET", "url": "http://h/x"}}]}}"#
        #expect(try HARImporter.read(bytes: Array(text.utf8)).map(\.request.target) == ["/x"])
    }

    /// The exporters' string escaping, checked against Foundation's JSON parser: every string
    /// reads back as itself, and the escapes are the short ones.
    @Test func jsonEscapingReadsBackThroughFoundation() throws {
        let cases = [
            "", "plain", "quote \" and backslash \\", "\n\r\t", "\u{01}\u{1f}\u{7f}", "héllo wörld", "🐵 {[\"]}",
            String(repeating: "ab\"", count: 1000), "\u{2028}\u{2029}", "tail\\",
        ]
        for c in cases {
            var json = ""
            JSONWriter.escape(c, into: &json)
            let back = try JSONSerialization.jsonObject(with: Data("[\(json)]".utf8)) as? [String]
            #expect(back == [c], "\(json)")
        }
        var json = ""
        JSONWriter.escape("a\"b\\c\nd\u{01}", into: &json)
        #expect(json == #""a\"b\\c\nd\u0001""#)
        #expect(Base64.encode(Array("hello, world!".utf8)) == "aGVsbG8sIHdvcmxkIQ==")
        #expect(Base64.decode(Base64.encode(Array(0...255))) == Array(0...255))
    }

    @Test func deepNestingOutsideEntriesIsRefused() throws {
        let text = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        let error = #expect(throws: HarnessError.self) { try HARImporter.read(bytes: Array(text.utf8)) }
        #expect(error?.description.contains("nested deeper") == true)
        // Inside an entry too: a frame is held per level.
        let deep = #"{"log": {"entries": [{"a": "# + String(repeating: "[", count: 100_000)
        let inEntry = #expect(throws: HarnessError.self) { try HARImporter.read(bytes: Array(deep.utf8)) }
        #expect(inEntry?.description.contains("nested deeper than 512") == true, "\(inEntry?.description ?? "")")
    }
}
