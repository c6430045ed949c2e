import Foundation
import Diff
import HarnessCore
import HarnessTesting
import Testing

/// The HTML report, opened in headless Chromium: the DOM after scripts ran must hold the groups,
/// the latency histogram and the side-by-side example; a screenshot is kept as an artifact under
/// `.build/artifacts/diff-report.png`.
@Suite struct HTMLReportTests {
    @Test func htmlRendersGroupsInHeadlessChromium() throws {
        let b = DiffFixtureBuilder()
        for i in 0..<30 { b.add(path: "/app/items/\(i)") }
        b.add(Pitfall.missingProxyPassReverse)
        b.add(Pitfall.securityHeadersDropped)
        b.add(Pitfall.trailingSlash)
        let r = Gate.apply(try diffReport(b), options: GateOptions())
        let dir = TempDir("html")
        let page = dir.file("report.html")
        try ReportWriter.write(r, to: ReportOutputs(html: page))
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(!html.contains("http-equiv"))
        #expect(!html.contains("<script src"))
        #expect(!html.contains("<link"))
        guard let chromium = TestEnvironment.tool("chromium") else { return }
        let profile = dir.file("profile")
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(profile)"]
        let dom = try Run.process(chromium, common + ["--dump-dom", "file://" + page], timeout: 90)
        #expect(dom.status == 0, "chromium failed: \(dom.stderr.suffix(500))")
        for g in r.groups {
            #expect(dom.stdout.contains(ReportEscape.xml(g.signature)), "group not rendered: \(g.signature)")
        }
        #expect(dom.stdout.contains("<svg id=\"histogram\""))
        #expect(dom.stdout.contains("class=\"example open\""))  // the script opened the first example
        #expect(dom.stdout.contains("gate failed"))
        let artifacts = TestEnvironment.repositoryRoot + "/.build/artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let shot = artifacts + "/diff-report.png"
        try? FileManager.default.removeItem(atPath: shot)
        let s = try Run.process(chromium, common + ["--screenshot=\(shot)", "--window-size=1280,1600", "file://" + page], timeout: 90)
        #expect(s.status == 0)
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.count > 10_000)
        #expect(png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
    }
}

enum ReportEscape {
    static func xml(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
