import Foundation
import Diff
import HarnessCore
import HarnessTesting
import Testing

/// The gate's thresholds, report merging, learned noise and the text report formats.
@Suite struct GateAndReportTests {
    func mixed() throws -> DiffReport {
        let b = DiffFixtureBuilder()
        for i in 0..<96 { b.add(path: "/app/items/\(i)") }
        b.add(Pitfall.backendDown)
        b.add(Pitfall.securityHeadersDropped)
        b.add(Pitfall.preserveHostOff)
        b.add(Pitfall.missingProxyPassReverse)
        return try diffReport(b)
    }

    @Test func gateRateAndFailOn() throws {
        let r = try mixed()
        #expect(r.compared == 100)
        #expect(r.differing == 2)  // status + location gate by default
        #expect(!Gate.evaluate(r, options: GateOptions()).passed)
        #expect(Gate.evaluate(r, options: GateOptions(maxDiffRate: 2)).passed)
        #expect(!Gate.evaluate(r, options: GateOptions(maxDiffRate: 1.5)).passed)
        #expect(Gate.evaluate(r, options: GateOptions(failOn: ["body"])).passed)
        // Re-gating with other categories recounts from the category combinations.
        let headerGate = Gate.apply(r, options: GateOptions(failOn: ["header", "backend_request"]))
        #expect(headerGate.differing == 2)
        #expect(headerGate.gate?.passed == false)
        #expect(headerGate.groups.filter(\.gating).map(\.category).sorted() == ["backend_request", "header", "header"])
        #expect(GateOptions(failOn: ["nonsense"]).unknownCategories == ["nonsense"])
    }

    @Test func p99RegressionGate() throws {
        let b = DiffFixtureBuilder()
        for i in 0..<100 {
            b.add(path: "/app/items/\(i)") { p in
                p.replayedFront.timing.responseEnd = p.replayedFront.timing.requestStart + (i == 99 ? 50_000 : 10_000)
                p.originalFront.timing.responseEnd = p.originalFront.timing.requestStart + 10_000
            }
        }
        let r = try diffReport(b)
        let reg = try #require(r.latency?.p99RegressionPercent)
        #expect(reg < 5)  // p99 of 100 samples with one outlier is still ~10 ms
        #expect(Gate.evaluate(r, options: GateOptions(maxP99RegressionPercent: 10)).passed)
        let slow = DiffFixtureBuilder()
        for i in 0..<100 {
            slow.add(path: "/app/items/\(i)") { p in p.replayedFront.timing.responseEnd = p.replayedFront.timing.requestStart + 20_000 }
        }
        let s = try diffReport(slow)
        let v = Gate.evaluate(s, options: GateOptions(maxP99RegressionPercent: 50))
        #expect(!v.passed)
        #expect(v.reasons.first?.contains("p99 latency regressed") == true)
    }

    @Test func jsonRoundTripAndMerge() throws {
        let r = Gate.apply(try mixed(), options: GateOptions())
        let decoded = try JSONDecoder().decode(DiffReport.self, from: try r.json())
        #expect(decoded == r)
        let object = try #require(try JSONSerialization.jsonObject(with: try r.json()) as? [String: Any])
        for key in ["exchanges", "compared", "differing", "categories", "groups"] { #expect(object[key] != nil, "missing \(key)") }
        let group = try #require((object["groups"] as? [[String: Any]])?.first)
        for key in ["category", "route", "signature", "count", "examples"] { #expect(group[key] != nil, "missing group key \(key)") }
        let merged = Gate.apply(ReportMerge.merge([r, r]), options: GateOptions())
        #expect(merged.compared == 200)
        #expect(merged.differing == 4)
        #expect(merged.groups.count == r.groups.count)
        #expect(merged.groups.allSatisfy { $0.count % 2 == 0 })
        #expect(merged.latency?.original.count == 200)
        #expect(merged.gate?.passed == false)
    }

    @Test func junitMarkdownAndTerminal() throws {
        let r = Gate.apply(try mixed(), options: GateOptions())
        let dir = TempDir("formats")
        try ReportWriter.write(r, to: ReportOutputs(json: dir.file("r.json"), junit: dir.file("r.xml"), markdown: dir.file("r.md")))
        let xml = try String(contentsOfFile: dir.file("r.xml"), encoding: .utf8)
        #expect(xml.contains("<testcase classname=\"diff.status\" name=\"GET /app/items/{id}: status 200 -&gt; 503\">"))
        #expect(xml.components(separatedBy: "<failure").count - 1 == 3)  // status, location, gate
        #expect(xml.contains("<system-out>"))  // non-gating groups pass with details
        let md = try String(contentsOfFile: dir.file("r.md"), encoding: .utf8)
        #expect(md.hasPrefix("### Replay diff: ❌ gate failed"))
        #expect(md.contains("Location origin http://10.0.0.5:8080 leaked"))
        #expect(md.contains("<details>"))
        let text = ReportWriter.terminalSummary(r, colour: false)
        #expect(text.contains("GATE status"))
        #expect(text.contains("ORIGINAL"))
        #expect(text.contains("gate: FAIL"))
        #expect(!text.contains("\u{1B}["))
        #expect(ReportWriter.terminalSummary(r, colour: true).contains("\u{1B}[31"))
    }

    @Test func learnedNoiseSilencesAAAndKeepsRegressions() throws {
        // Two "A/A" runs whose only difference is a per-request header and a JSON timestamp.
        let b = DiffFixtureBuilder()
        for i in 0..<20 {
            b.add(path: "/app/items/\(i)") { p in
                p.replayedFront.response?.headers.append(HeaderField("X-Served-By", "node-\(i % 3)"))
                p.originalFront.response?.headers.append(HeaderField("X-Served-By", "node-9"))
                p.replayedFront.response?.body = Array(#"{"id":42,"name":"widget","tags":["a","b"],"at":"\#(i)"}"#.utf8)
                p.originalFront.response?.body = Array(#"{"id":42,"name":"widget","tags":["a","b"],"at":"x"}"#.utf8)
            }
        }
        let dir = TempDir("learn")
        let (o, r) = try b.write(to: dir)
        let yaml = try NoiseLearner().learn(first: o, second: r)
        #expect(yaml.contains("ignore_headers: [\"X-Served-By\"]"))
        #expect(yaml.contains("$.at"))
        #expect(yaml.contains("^/app/items/[^/]+$"))
        let silenced = try DiffEngine.diff(originalPath: o, resultPath: r, options: DiffOptions(extraRulesYAML: yaml))
        #expect(silenced.groups.isEmpty, "\(silenced.allSignatures)")
        // Learned noise never hides a status regression.
        let worse = DiffFixtureBuilder()
        for i in 0..<20 { worse.add(path: "/app/items/\(i)", i == 3 ? Pitfall.backendDown : { _ in }) }
        let (o2, r2) = try worse.write(to: dir, name: "worse")
        #expect(try NoiseLearner().learn(first: o2, second: r2).contains("rules: []"))
    }
}
