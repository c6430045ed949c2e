import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// `harness replay` as scripts call it: exit codes and messages.
@Suite(.serialized)
struct ReplayCommandTests {
    @Test func unreachableTargetIsExitTwoWithAClearMessage() throws {
        let dir = TempDir("replay-cli")
        try ReplayRecordingBuilder.scriptedSession().write(to: dir.file("r.log"))
        let port = freeLoopbackPort()
        let r = try Run.harness([
            "replay", dir.file("r.log"), "--target", "http://127.0.0.1:\(port)", "--backend", "127.0.0.1:0",
            "-o", dir.file("out.log"), "--speed", "max",
        ])
        #expect(r.status == 2)
        #expect(r.stderr.contains("unreachable") && r.stderr.contains("127.0.0.1:\(port)"), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
    }

    @Test func refusesTheOriginalHostUnlessAllowed() throws {
        let dir = TempDir("replay-cli")
        try ReplayRecordingBuilder.scriptedSession().write(to: dir.file("r.log"))
        let r = try Run.harness([
            "replay", dir.file("r.log"), "--target", "http://www.example.com", "--backend", "127.0.0.1:0",
            "-o", dir.file("out.log"),
        ])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--allow-original-host"), "\(r.stderr)")
    }

    @Test func badInputIsExitTwo() throws {
        let dir = TempDir("replay-cli")
        try Data("not a log".utf8).write(to: URL(fileURLWithPath: dir.file("bad.log")))
        let notALog = try Run.harness(["replay", dir.file("bad.log"), "--target", "http://127.0.0.1:1", "-o", dir.file("o.log")])
        #expect(notALog.status == 2)
        #expect(notALog.stderr.contains("bad.log"))
        try ReplayRecordingBuilder.scriptedSession().write(to: dir.file("r.log"))
        let noBackend = try Run.harness(["replay", dir.file("r.log"), "--target", "http://127.0.0.1:1", "-o", dir.file("o.log")])
        #expect(noBackend.status == 2)
        #expect(noBackend.stderr.contains("http://10.0.0.5:8080"), "\(noBackend.stderr)")
        let badSpeed = try Run.harness([
            "replay", dir.file("r.log"), "--target", "http://127.0.0.1:1", "-o", dir.file("o.log"), "--speed", "warp",
        ])
        #expect(badSpeed.status == 2)
    }

    @Test func gateFailureIsExitOneAndGoodConfigIsZero() throws {
        let dir = TempDir("replay-cli")
        try ReplayRecordingBuilder.scriptedSession().write(to: dir.file("r.log"))
        for (variant, expected) in [(ApacheStagingProxy.Variant.good, Int32(0)), (.trailingSlash, 1)] {
            let backendPort = freeLoopbackPort()
            guard let apache = try ApacheStagingProxy.start(variant: variant, backend: "http://127.0.0.1:\(backendPort)") else { return }
            defer { apache.stop() }
            let r = try Run.harness([
                "replay", dir.file("r.log"), "--target", apache.url, "--backend", "http://10.0.0.5:8080=127.0.0.1:\(backendPort)",
                "-o", dir.file("out-\(variant).log"), "--report", dir.file("report-\(variant).json"), "--speed", "max",
                "--junit", dir.file("junit-\(variant).xml"), "--html", dir.file("report-\(variant).html"),
            ])
            #expect(r.status == expected, "\(variant): \(r.stderr)")
            let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("report-\(variant).json"))))
            let object = try #require(report as? [String: Any])
            for key in ["exchanges", "compared", "differing", "categories", "groups"] { #expect(object[key] != nil, "\(key)") }
            #expect(object["exchanges"] as? Int == 6)
            let junit = try String(contentsOfFile: dir.file("junit-\(variant).xml"), encoding: .utf8)
            #expect(junit.contains("<testsuite"))
            #expect(junit.contains("<failure") == (expected == 1), "gating groups are JUnit failures")
            #expect(FileManager.default.fileExists(atPath: dir.file("report-\(variant).html")))
        }
    }

    /// `--max-rate` holds even at `--speed max`: six requests at 10/s take at least half a second
    /// (five gaps of 100 ms), where the uncapped replay of the same session takes a few ms.
    @Test func maxRateCapsSpeedMax() throws {
        let dir = TempDir("replay-cli")
        try ReplayRecordingBuilder.scriptedSession().write(to: dir.file("r.log"))
        let backendPort = freeLoopbackPort()
        guard let apache = try ApacheStagingProxy.start(variant: .good, backend: "http://127.0.0.1:\(backendPort)") else { return }
        defer { apache.stop() }
        func spreadSeconds(_ extra: [String], _ name: String) throws -> (Double, LogHeader) {
            let r = try Run.harness(
                [
                    "replay", dir.file("r.log"), "--target", apache.url, "--backend", "http://10.0.0.5:8080=127.0.0.1:\(backendPort)",
                    "-o", dir.file(name), "--speed", "max", "--quiet",
                ] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            let (header, exchanges, _) = try LogFile.readAll(dir.file(name))
            let starts = exchanges.filter { $0.leg == .front }.map(\.timing.requestStart)
            #expect(starts.count == 6)
            return (Double((starts.max() ?? 0) - (starts.min() ?? 0)) / 1e6, header)
        }
        let (capped, header) = try spreadSeconds(["--max-rate", "10"], "capped.log")
        #expect(capped >= 0.45, "6 requests at --max-rate 10 went out within \(capped) s")
        #expect(header["max_rate"] == "10.0/s")
        let (free, _) = try spreadSeconds([], "free.log")
        #expect(free < capped, "uncapped \(free) s")
        let bad = try Run.harness(["replay", dir.file("r.log"), "--target", apache.url, "-o", dir.file("o.log"), "--max-rate", "0"])
        #expect(bad.status == 2)
    }
}
