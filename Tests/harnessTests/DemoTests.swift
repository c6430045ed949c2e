import Foundation
import HarnessCore
import HarnessTesting
import Testing

@Suite struct DemoTests {
    /// The README's first command: built-in production, a recorded session, a clean replay and a
    /// replay that catches the planted ProxyPassReverse regression.
    @Test func demoRecordsReplaysAndCatchesThePlantedRegression() throws {
        let dir = TempDir()
        let r = try Run.harness(["demo", "-o", dir.path, "--no-colour"], timeout: 180)
        #expect(r.status == 0, "the demo does not gate: \(r.stderr)")
        let good = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("report-good-config.json")))) as? [String: Any])
        let bad = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("report-no-reverse-rewrite.json")))) as? [String: Any])
        #expect(good["differing"] as? Int == 0, "an unchanged config shows no difference")
        #expect((good["compared"] as? Int ?? 0) >= 13)
        let categories = bad["categories"] as? [String: Int] ?? [:]
        #expect(categories["location"] == 4, "every redirect (login, account, upload, moved page) leaks the backend origin")
        #expect(categories.keys.sorted() == ["location"], "nothing else changed: \(categories)")
        // Both legs were recorded and linked exactly.
        let recording = try LogFile.readAll(dir.file("production.log")).exchanges
        let backs = recording.filter { $0.leg == .back }
        #expect(backs.count == 13 && backs.allSatisfy { $0.link?.confidence == .exact })
        let html = try String(contentsOfFile: dir.file("report-no-reverse-rewrite.html"), encoding: .utf8)
        #expect(html.contains("leaked"))
        #expect(r.stdout.contains("ProxyPassReverse removed"))
    }
}
