import Foundation
import Diff
import HarnessCore
import HarnessTesting
import Testing

/// Each difference kind and each normalisation, on one pair.
@Suite struct NormalisationTests {
    @Test func routeTemplatesCollapseIDs() {
        #expect(RouteTemplate.of(method: "GET", path: "/users/42/orders/9f1c2a7be0d4") == "GET /users/{id}/orders/{id}")
        #expect(RouteTemplate.collapsePath("/a/123e4567-e89b-12d3-a456-426614174000/b") == "/a/{id}/b")
        #expect(RouteTemplate.collapsePath("/static/app.css") == "/static/app.css")
        #expect(RouteTemplate.collapsePath("/v2/deadbeef") == "/v2/deadbeef")  // no digit: a word
        #expect(RouteTemplate.collapsePath("/t/AbC123xyz987QwE456") == "/t/{id}")
    }

    @Test func headerNamesCaseInsensitiveAndListsCompared() throws {
        let b = DiffFixtureBuilder()
        b.add { p in
            p.replayedFront.response?.headers.remove("Cache-Control")
            p.replayedFront.response?.headers.append(HeaderField("cache-control", "private"))
            p.replayedFront.response?.headers.append(HeaderField("CACHE-CONTROL", "no-cache"))
        }
        b.add { p in p.replayedFront.response?.headers.set("Cache-Control", "max-age=60") }
        let r = try diffReport(b)
        #expect(r.signatures("header") == ["header Cache-Control changed"])
        #expect(r.groups.first?.count == 1)
        #expect(r.groups.first?.example?.differences.first?.replayed == "max-age=60")
    }

    @Test func hopByHopAndDefaultNoiseAreIgnored() throws {
        let b = DiffFixtureBuilder()
        b.add { p in
            p.replayedFront.response?.headers.set("Connection", "close")
            p.replayedFront.response?.headers.append(HeaderField("Keep-Alive", "timeout=5"))
            p.replayedFront.response?.headers.append(HeaderField("Transfer-Encoding", "chunked"))
            p.replayedFront.response?.headers.append(HeaderField("Age", "3"))
            p.replayedFront.response?.headers.append(HeaderField("Tracestate", "x=1"))
        }
        let r = try diffReport(b)
        #expect(r.groups.isEmpty, "\(r.allSignatures)")
    }

    @Test func setCookieAttributesCompareValuesByPresence() throws {
        let b = DiffFixtureBuilder()
        b.add { p in p.replayedFront.response?.headers.set("Set-Cookie", "SESSION=zzz; Path=/; HttpOnly") }
        b.add { p in p.replayedFront.response?.headers.set("Set-Cookie", "OTHER=1; Path=/") }
        let r = try diffReport(b)
        #expect(Set(r.signatures("header")) == [
            "cookie SESSION attribute Secure removed", "cookie SESSION attribute Expires removed",
            "cookie SESSION removed", "cookie OTHER added",
        ])
        let strict = try diffReport(b, rules: "cookie_values: true\n")
        #expect(strict.signatures("header").contains("cookie SESSION value changed"))
    }

    @Test func timeShiftedExpiresMatchesButUnshiftedDoesNot() throws {
        let b = DiffFixtureBuilder()
        b.add { p in  // the proxy sent the recorded (unshifted) Expires + 2h: a real change
            p.replayedFront.response?.headers.set("Expires", DiffFixtureBuilder.httpDate(DiffFixtureBuilder.recordingStart + 7_200_000_000))
        }
        b.add { p in  // the recorded value verbatim (simulated backend): equal
            p.replayedFront.response?.headers.set("Expires", p.originalFront.response!.headers.first("Expires")!)
        }
        let r = try diffReport(b)
        #expect(r.signatures("header") == ["header Expires changed"])
        #expect(r.groups.first?.count == 1)
    }

    @Test func gzipBodyEqualsIdentityAndJSONComparedByField() throws {
        let dir = TempDir("gz")
        let plain = dir.file("b.json")
        let json = #"{"name":"widget","id":42,"tags":["a","b"]}"#  // key order differs from the original
        try json.write(toFile: plain, atomically: true, encoding: .utf8)
        try Run.process("/bin/sh", ["-c", "gzip -c '\(plain)' > '\(plain).gz'"])
        let gz = try [UInt8](Data(contentsOf: URL(fileURLWithPath: plain + ".gz")))
        let b = DiffFixtureBuilder()
        b.add { p in
            p.replayedFront.response?.headers.append(HeaderField("Content-Encoding", "gzip"))
            p.replayedFront.response?.body = gz
        }
        b.add { p in p.replayedFront.response?.body = Array(#"{"id":43,"name":"widget","tags":["a"],"extra":true}"#.utf8) }
        b.add(contentType: "text/html", body: "<p>hello</p>") { p in p.replayedFront.response?.body = Array("<p>bye</p>".utf8) }
        let r = try diffReport(b)
        #expect(Set(r.signatures("body")) == [
            "body field $.id changed", "body field $.tags[] removed", "body field $.extra added", "body changed (text/html)",
        ])
        #expect(r.signatures("header") == ["header Content-Encoding added"])
        #expect(r.groups.first { $0.signature == "body field $.id changed" }?.example?.differences.first { $0.signature.contains("$.id") }?.replayed == "43")
        #expect(r.groups.first { $0.signature == "body field $.extra added" }?.example?.differences.first?.replayed == "true")
    }

    @Test func locationHeadersNormalisedByOrigin() throws {
        let b = DiffFixtureBuilder()
        b.add { p in  // relative vs absolute front origin: equal
            p.originalFront.response?.headers.set("Content-Location", "http://www.example.com/app/items/1")
            p.replayedFront.response?.headers.set("Content-Location", "/app/items/1")
            p.originalFront.response?.headers.set("Refresh", "5; url=http://www.example.com/app/")
            p.replayedFront.response?.headers.set("Refresh", "5; url=http://127.0.0.1:8081/app/")
        }
        b.add { p in  // the simulated backend's listener leaks: still the backend
            p.originalFront.response?.headers.set("Location", "http://www.example.com/app/next")
            p.replayedFront.response?.headers.set("Location", "http://127.0.0.1:9000/store/next")
        }
        b.add { p in  // same origin, other path
            p.originalFront.response?.headers.set("Location", "/app/a/17")
            p.replayedFront.response?.headers.set("Location", "/app/b/17")
        }
        let r = try diffReport(b)
        #expect(Set(r.signatures("location")) == ["Location origin http://10.0.0.5:8080 leaked", "Location changed /app/a/{id} -> /app/b/{id}"])
    }

    @Test func redactedValuesAreOpaqueTokens() throws {
        let b = DiffFixtureBuilder()
        b.add { p in
            p.originalBacks[0].request.headers.append(HeaderField("Authorization", "redacted:ab12cd34"))
            p.replayedBacks[0].request.headers.append(HeaderField("Authorization", "redacted:ab12cd34"))
        }
        b.add { p in
            p.originalBacks[0].request.headers.append(HeaderField("Authorization", "redacted:ab12cd34"))
            p.replayedBacks[0].request.headers.append(HeaderField("Authorization", "redacted:ffff0000"))
        }
        let r = try diffReport(b)
        #expect(r.signatures("backend_request") == ["backend header Authorization changed"])
        #expect(r.groups.first?.count == 1)
    }

    @Test func rulesIgnoreAndNormalisePerRoute() throws {
        let b = DiffFixtureBuilder()
        b.add(path: "/app/items/1") { p in
            p.replayedFront.response?.headers.append(HeaderField("X-Build", "v1234"))
            p.originalFront.response?.headers.append(HeaderField("X-Build", "v1200"))
            p.replayedFront.response?.headers.append(HeaderField("ETag", "\"b\""))
            p.originalFront.response?.headers.append(HeaderField("ETag", "\"a\""))
            p.replayedFront.response?.body = Array(#"{"id":42,"name":"widget","tags":["a","b"],"generated":"now"}"#.utf8)
        }
        b.add(path: "/other/1") { p in
            p.replayedFront.response?.headers.append(HeaderField("ETag", "\"b\""))
            p.originalFront.response?.headers.append(HeaderField("ETag", "\"a\""))
        }
        let rules = """
            rules:
              - route: "^/app/"
                ignore_headers: [etag]
                ignore_fields: ["$.generated"]
                normalize:
                  - header: X-Build
                    pattern: "[0-9]+"
                    replace: "N"
            """
        let r = try diffReport(b, rules: rules)
        #expect(r.allSignatures == ["header: header ETag changed"])
        #expect(r.groups.first?.route == "GET /other/{id}")
        let plain = try diffReport(b)
        #expect(Set(plain.signatures("header")) == ["header ETag changed", "header X-Build changed"])
    }

    @Test func badRulesFileIsAHarnessError() throws {
        let b = DiffFixtureBuilder()
        b.add()
        #expect(throws: HarnessError.self) { try diffReport(b, rules: "rules:\n  - route: \"([\"\n") }
        #expect(throws: HarnessError.self) { try diffReport(b, rules: "bogus_key: 1\n") }
    }

    @Test func outOfOrderResultStillPairs() throws {
        let b = DiffFixtureBuilder()
        for i in 0..<200 { b.add(path: "/app/items/\(i)") }
        let dir = TempDir("ooo")
        let o = dir.file("o.hlog"), r = dir.file("r.hlog")
        try LogFile.write(b.original, to: o)
        try LogFile.write(b.result.reversed(), to: r, header: b.resultHeader)
        let report = try DiffEngine.diff(originalPath: o, resultPath: r, options: DiffOptions(window: 1_000, lag: 16))
        #expect(report.compared == 200)
        #expect(report.groups.isEmpty, "\(report.allSignatures)")
        // A window smaller than the disorder gives up pairs instead of growing.
        let small = try DiffEngine.diff(originalPath: o, resultPath: r, options: DiffOptions(window: 20, lag: 4))
        #expect(small.compared + small.unpaired == 200)
        #expect(small.unpaired > 0)
    }

    @Test func damagedInputIsReportedWithOffset() throws {
        let dir = TempDir("bad")
        let path = dir.file("junk.hlog")
        try Data("not a log at all, definitely".utf8).write(to: URL(fileURLWithPath: path))
        let b = DiffFixtureBuilder()
        b.add()
        let (o, _) = try b.write(to: dir)
        #expect(throws: HarnessError.self) { try DiffEngine.diff(originalPath: o, resultPath: path, options: DiffOptions()) }
    }
}
