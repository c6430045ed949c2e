import Foundation
import Diff
import HarnessCore
import HarnessTesting
import Testing

/// The fast path (pairs settled on scanned digests, no exchange decoded) must give exactly the
/// report of the full comparison of every pair: the same logs are diffed both ways.
@Suite struct FastPathEquivalenceTests {
    /// Diffs `b` with the fast path and with every pair compared in full; returns both reports
    /// and how many pairs the fast path settled.
    func both(_ b: DiffFixtureBuilder, rules: String? = nil) throws -> (fast: DiffReport, full: DiffReport, settled: Int) {
        let stats = DiffStatistics()
        var fast = DiffOptions()
        fast.fastPath = true
        fast.statistics = stats
        var full = DiffOptions()
        full.fastPath = false
        var a = try diffReport(b, rules: rules, options: fast)
        var c = try diffReport(b, rules: rules, options: full)
        for r in [\DiffReport.original, \.result] {  // each run wrote its own copy of the logs
            a[keyPath: r] = nil
            c[keyPath: r] = nil
        }
        if a != c { Self.explain(a, c) }
        return (a, c, stats.fastPairs)
    }

    /// Prints where two reports differ (groups and counts), for a failing comparison.
    static func explain(_ a: DiffReport, _ b: DiffReport) {
        func lines(_ r: DiffReport) -> Set<String> {
            Set(r.groups.map { "\($0.category) \($0.route) \($0.signature) x\($0.count) \($0.examples)" })
                .union(r.combinations.map { "combination \($0.key) x\($0.value)" })
                .union(["compared \(r.compared) differing \(r.differing) skipped \(r.skipped)"])
        }
        let la = lines(a), lb = lines(b)
        print("fast only:", la.subtracting(lb).sorted())
        print("full only:", lb.subtracting(la).sorted())
    }

    /// A pair without the per-exchange Expires and session cookie, so healthy pairs take the
    /// fast path.
    static func steady(_ p: inout DiffFixtureBuilder.Pair) {
        for f in [\DiffFixtureBuilder.Pair.originalFront, \.replayedFront] {
            p[keyPath: f].response?.headers.remove("Expires")
            p[keyPath: f].response?.headers.remove("Set-Cookie")
        }
    }

    /// Healthy pairs interleaved with every kind of difference and noise the comparison knows.
    static func mixed() -> DiffFixtureBuilder {
        let b = DiffFixtureBuilder()
        func add(_ path: String = "/app/items/42", _ m: @escaping (inout DiffFixtureBuilder.Pair) -> Void) {
            b.add(path: path) { p in
                steady(&p)
                m(&p)
            }
        }
        for i in 0..<6 { add("/app/items/\(i)") { _ in } }
        add { Pitfall.missingProxyPassReverse(&$0) }
        add { Pitfall.rewrittenRedirect(&$0) }
        add { Pitfall.trailingSlash(&$0) }
        add { Pitfall.preserveHostOff(&$0) }
        add { Pitfall.sslProxyEngineMissing(&$0) }
        add { Pitfall.forwardedForLost(&$0) }
        add { Pitfall.forwardedProtoAdded(&$0) }
        add { Pitfall.securityHeadersDropped(&$0) }
        add { Pitfall.backendDown(&$0) }
        add { p in p.replayedFront.response?.status = 404 }  // a status change alone
        b.add { _ in }  // with Expires shifted by the offset and differing session cookies
        add { p in  // noise only: Date, Age, request ids differ
            p.replayedFront.response?.headers.append(HeaderField("Age", "12"))
            p.replayedFront.response?.headers.set("X-Request-Id", "other")
        }
        add { p in  // names differ in case only, order changed
            let h = p.replayedFront.response?.headers ?? []
            p.replayedFront.response?.headers = h.reversed().map { HeaderField($0.name.lowercased(), $0.value) }
        }
        add { p in  // a list header split differently
            p.originalFront.response?.headers.append(HeaderField("Vary", "Accept, Origin"))
            p.replayedFront.response?.headers.append(HeaderField("Vary", "Origin"))
            p.replayedFront.response?.headers.append(HeaderField("Vary", "Accept"))
        }
        add { p in  // the same multi-valued header in another order
            p.originalFront.response?.headers += [HeaderField("Link", "<a>"), HeaderField("Link", "<b>")]
            p.replayedFront.response?.headers += [HeaderField("Link", "<b>"), HeaderField("Link", "<a>")]
        }
        add { p in  // whitespace around a value
            p.replayedFront.response?.headers.set("Cache-Control", "  no-cache, private ")
        }
        add { p in  // Server version bump vs product change
            p.replayedFront.response?.headers.set("Server", "Apache/2.4.99")
        }
        add { p in p.replayedFront.response?.headers.set("Server", "nginx/1.25") }
        add { p in  // Connection naming a field: that field is hop-by-hop
            p.replayedFront.response?.headers.set("Connection", "keep-alive, X-Hop")
            p.replayedFront.response?.headers.append(HeaderField("X-Hop", "1"))
        }
        add { p in  // JSON body: one field changed, key order changed
            p.replayedFront.response?.body = Array(#"{"tags":["a","b"],"name":"gadget","id":42}"#.utf8)
        }
        add { p in p.replayedFront.response?.body = Array(#"{"tags":["a","b"],"name":"widget","id":42}"#.utf8) }
        add { p in  // gzip on one side only
            p.replayedFront.response?.headers.append(HeaderField("Content-Encoding", "gzip"))
            let body = p.replayedFront.response?.body ?? []
            p.replayedFront.response?.body = Self.gzip(body)
        }
        add { p in p.replayedFront.response?.body = Array("plain text".utf8) }
        add { p in  // Location: same path through the target (healthy) and a relative one
            p.originalFront.response?.headers.set("Location", "http://www.example.com/app/x")
            p.replayedFront.response?.headers.set("Location", "/app/x")
        }
        add { p in
            p.originalFront.response?.headers.set("Content-Location", "/app/a/1")
            p.replayedFront.response?.headers.set("Content-Location", "/app/b/1")
        }
        add { p in  // a Refresh and a leaked listener
            p.originalFront.response?.headers.set("Refresh", "0; url=http://www.example.com/app/y")
            p.replayedFront.response?.headers.set("Refresh", "0; url=http://127.0.0.1:9000/store/y")
        }
        add { p in  // an unknown front Host (joins the origin table for this pair)
            p.replayedFront.request.headers.set("Host", "other.example:8081")
        }
        add { p in  // redacted values
            p.originalBacks[0].request.headers.append(HeaderField("Authorization", "redacted:ab12"))
            p.replayedBacks[0].request.headers.append(HeaderField("Authorization", "redacted:ab12"))
        }
        add { p in
            p.originalBacks[0].request.headers.append(HeaderField("Authorization", "redacted:ab12"))
            p.replayedBacks[0].request.headers.append(HeaderField("Authorization", " redacted:ab12"))
        }
        add { p in  // X-Forwarded-* normalised against each side's own front connection
            p.replayedBacks[0].request.headers.set("X-Forwarded-For", "203.0.113.9")
        }
        add { p in
            p.originalBacks[0].request.headers.append(HeaderField("X-Forwarded-Proto", "http"))
            p.replayedBacks[0].request.headers.append(HeaderField("X-Forwarded-Proto", "http"))
            p.originalBacks[0].request.headers.append(HeaderField("X-Forwarded-Port", "80"))
            p.replayedBacks[0].request.headers.append(HeaderField("X-Forwarded-Port", "8081"))
        }
        add { p in p.replayedBacks[0].request.headers.set("X-Forwarded-Host", "10.0.0.5:8080") }
        add { p in  // backend method, query, body
            p.replayedBacks[0].request.method = "POST"
        }
        add { p in p.replayedBacks[0].request.target += "?q=1" }
        add { p in p.replayedBacks[0].request.body = Array("x=1".utf8) }
        add { p in  // a backend call the replay did not make, one it made twice
            p.replayedBacks = []
        }
        b.add(backendCalls: 2) { p in
            steady(&p)
            p.replayedBacks.removeLast()
        }
        add { p in  // error instead of a response
            p.replayedFront.response = nil
            p.replayedFront.error = "reset"
        }
        add { p in p.originalFront.flags.incomplete = true }
        add { p in  // time-shifted header: by the offset, and not
            p.originalFront.response?.headers.append(HeaderField("Last-Modified", DiffFixtureBuilder.httpDate(DiffFixtureBuilder.recordingStart)))
            p.replayedFront.response?.headers.append(HeaderField("Last-Modified", DiffFixtureBuilder.httpDate(DiffFixtureBuilder.recordingStart + DiffFixtureBuilder.offsetMicros)))
        }
        add { p in
            p.originalFront.response?.headers.append(HeaderField("Last-Modified", DiffFixtureBuilder.httpDate(DiffFixtureBuilder.recordingStart)))
            p.replayedFront.response?.headers.append(HeaderField("Last-Modified", DiffFixtureBuilder.httpDate(DiffFixtureBuilder.recordingStart + 7_000_000_000)))
        }
        add { p in  // cookies: same raw, attribute changed
            p.originalFront.response?.headers.append(HeaderField("Set-Cookie", "a=1; Path=/"))
            p.replayedFront.response?.headers.append(HeaderField("Set-Cookie", "a=1; Path=/"))
        }
        add { p in
            p.originalFront.response?.headers.append(HeaderField("Set-Cookie", "a=1; Path=/"))
            p.replayedFront.response?.headers.append(HeaderField("Set-Cookie", "a=2; Path=/x"))
        }
        add("/other/7") { p in p.replayedFront.response?.headers.append(HeaderField("ETag", "\"b\"")) }
        add("/app/items/9") { p in
            p.replayedFront.response?.headers.append(HeaderField("ETag", "\"b\""))
            p.originalFront.response?.headers.append(HeaderField("ETag", "\"a\""))
        }
        for i in 0..<6 { add("/app/items/\(100 + i)") { _ in } }
        return b
    }

    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        let dir = TempDir("gz")
        let path = dir.file("b")
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        _ = try? Run.process("/bin/sh", ["-c", "gzip -n '\(path)'"])
        return (FileManager.default.contents(atPath: path + ".gz")).map { [UInt8]($0) } ?? bytes
    }

    @Test func mixedDifferencesGiveTheSameReportBothWays() throws {
        let (fast, full, settled) = try both(Self.mixed())
        #expect(fast == full)
        #expect(settled >= 12)  // the healthy pairs at least
        #expect(full.compared == fast.compared)
        #expect(!full.groups.isEmpty)
    }

    @Test func rulesFilesGiveTheSameReportBothWays() throws {
        let rules = """
            ignore_headers: [X-Build]
            unignore: [Age]
            rules:
              - route: "^/app/items/9"
                ignore_headers: [etag]
                ignore_fields: ["$.name"]
              - route: "^/other/"
                normalize:
                  - header: ETag
                    pattern: "[a-z]"
                    replace: "x"
            """
        let (fast, full, settled) = try both(Self.mixed(), rules: rules)
        #expect(fast == full)
        #expect(settled > 0)
        let plain = try both(Self.mixed(), rules: "defaults: false\n")
        #expect(plain.fast == plain.full)
    }

    @Test func syntheticLogsWithPlantedRegressionsGiveTheSameReport() throws {
        let dir = TempDir("fast")
        let o = dir.file("o.hlog"), r = dir.file("r.hlog")
        try SyntheticLogs.write(originalPath: o, resultPath: r, count: 3_000)
        let stats = DiffStatistics()
        var fast = DiffOptions()
        fast.statistics = stats
        var full = DiffOptions()
        full.fastPath = false
        let a = try DiffEngine.diff(originalPath: o, resultPath: r, options: fast)
        let b = try DiffEngine.diff(originalPath: o, resultPath: r, options: full)
        #expect(a == b)
        #expect(a.compared == 3_000)
        #expect(a.categories["location"] == 3)  // one pair in 1000 leaks the backend origin
        #expect(a.categories["header"] == 6)  // one in 500 drops X-Frame-Options
        #expect(stats.fastPairs + stats.fullPairs == 3_000)
        #expect(stats.fastPairs > 2_900)
    }
}
