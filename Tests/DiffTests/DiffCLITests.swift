import Foundation
import Diff
import HarnessCore
import HarnessTesting
import Testing

/// The CONTRACT surface: `harness diff`, `gate`, `show`, `report merge`, `learn` and exit codes.
@Suite struct DiffCLITests {
    @Test func diffGateShowMergeLearnExitCodes() throws {
        let dir = TempDir("cli")
        let good = DiffFixtureBuilder()
        for i in 0..<10 { good.add(path: "/app/items/\(i)") }
        let (go, gr) = try good.write(to: dir, name: "aa")
        let aa = try Run.harness(["diff", go, gr, "--report", dir.file("aa.json"), "--color", "never"])
        #expect(aa.status == 0, "\(aa.stdout)\(aa.stderr)")
        #expect(aa.stdout.contains("no differences"))

        let bad = DiffFixtureBuilder()
        for i in 0..<8 { bad.add(path: "/app/items/\(i)") }
        let leak = bad.add(Pitfall.missingProxyPassReverse)
        bad.add(Pitfall.securityHeadersDropped)
        let (bo, br) = try bad.write(to: dir, name: "bad")
        let d = try Run.harness([
            "diff", bo, br, "--report", dir.file("bad.json"), "--junit", dir.file("bad.xml"), "--html", dir.file("bad.html"),
            "--markdown", dir.file("bad.md"), "--color", "never",
        ])
        #expect(d.status == 1, "\(d.stdout)\(d.stderr)")
        #expect(d.stdout.contains("Location origin http://10.0.0.5:8080 leaked"))
        for f in ["bad.json", "bad.xml", "bad.html", "bad.md"] { #expect(FileManager.default.fileExists(atPath: dir.file(f))) }
        let report = try DiffReport.load(path: dir.file("bad.json"))
        #expect(report.compared == 10 && report.differing == 1)
        #expect(report.gate?.passed == false)

        // gate: thresholds re-evaluated on the stored report.
        #expect(try Run.harness(["gate", dir.file("bad.json"), "--quiet"]).status == 1)
        #expect(try Run.harness(["gate", dir.file("bad.json"), "--max-diff-rate", "10", "--quiet"]).status == 0)
        #expect(try Run.harness(["gate", dir.file("bad.json"), "--fail-on", "body", "--quiet"]).status == 0)
        #expect(try Run.harness(["gate", dir.file("bad.json"), "--fail-on", "header", "--quiet"]).status == 1)
        let unknown = try Run.harness(["gate", dir.file("bad.json"), "--fail-on", "bogus"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("bogus"))
        let missing = try Run.harness(["gate", dir.file("nope.json")])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("nope.json"))
        try Data("{\"exchanges\": 1}".utf8).write(to: URL(fileURLWithPath: dir.file("partial.json")))
        let partial = try Run.harness(["gate", dir.file("partial.json")])
        #expect(partial.status == 2 && partial.stderr.contains("compared"))

        // diff on a file that is not a log: exit 2 naming it.
        let notLog = try Run.harness(["diff", dir.file("bad.md"), br])
        #expect(notLog.status == 2)
        #expect(notLog.stderr.contains("bad.md"))

        // show: by original id, the recording found through the result header.
        let show = try Run.harness(["show", br, "\(leak)", "--color", "never"])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains("location: Location origin http://10.0.0.5:8080 leaked"))
        #expect(show.stdout.contains("ORIGINAL"))
        #expect(try Run.harness(["show", br, "999999"]).status == 2)

        // report merge of two shards.
        let m = try Run.harness(["report", "merge", dir.file("bad.json"), dir.file("aa.json"), "-o", dir.file("merged.json"), "--quiet"])
        #expect(m.status == 1)
        let merged = try DiffReport.load(path: dir.file("merged.json"))
        #expect(merged.compared == 20 && merged.differing == 1)

        // learn: the A/A pair yields no rules.
        let learn = try Run.harness(["learn", go, gr])
        #expect(learn.status == 0)
        #expect(learn.stdout.contains("rules: []"))
    }
}
