import Foundation
import HarnessCore
import HarnessTesting
import Testing

@Suite(.serialized) struct LogCommandTests {
    static func sampleLog(_ dir: TempDir) throws -> String {
        let path = dir.file("s.log")
        try LogFile.write(SampleExchanges.session(count: 10), to: path, header: LogHeader(metadata: [Annotation("source", "test")]))
        return path
    }

    @Test func statsJSONHasTheContractKeys() throws {
        let dir = TempDir()
        let r = try Run.harness(["log", "stats", try Self.sampleLog(dir), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(obj["exchanges"] as? Int == 20)
        #expect(obj["incomplete"] as? Int == 0)
        #expect((obj["connections"] as? Int ?? 0) > 0)
        #expect((obj["legs"] as? [String: Int]) == ["front": 10, "back": 10, "direct": 0])
        #expect((obj["bytes"] as? Int ?? 0) > 0)
    }

    @Test func catJSONLHasTheContractKeys() throws {
        let dir = TempDir()
        let r = try Run.harness(["log", "cat", try Self.sampleLog(dir), "--format", "jsonl"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 20)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["id"] as? Int == 1)
        #expect(first["leg"] as? String == "front")
        #expect(first["conn"] as? String == "192.0.2.1:40000->203.0.113.10:80")
        #expect(first["method"] as? String == "GET")
        #expect(first["target"] as? String == "/store/item/0")
        #expect(first["status"] as? Int == 200)
        let headers = try #require(first["request_headers"] as? [[String]])
        #expect(headers.first == ["Host", "www.example.com"])
        #expect((first["response_headers"] as? [[String]])?.isEmpty == false)
        #expect(first["body_bytes"] as? Int == "{\"id\":0,\"name\":\"item 0\",\"tags\":[\"a\",\"b\"]}".utf8.count)
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(second["leg"] as? String == "back" && second["link_front"] as? Int == 1)
    }

    @Test func checkReportsDamageWithExitTwo() throws {
        let dir = TempDir()
        let path = try Self.sampleLog(dir)
        let ok = try Run.harness(["log", "check", path])
        #expect(ok.status == 0)
        #expect(ok.stdout.contains("OK: 20 exchanges"))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes.removeLast(5)
        try bytes.write(to: URL(fileURLWithPath: dir.file("torn.log")))
        let torn = try Run.harness(["log", "check", dir.file("torn.log")])
        #expect(torn.status == 2)
        #expect(torn.stdout.contains("DAMAGED"))
        #expect(torn.stdout.contains("offset"))
        // cat still prints the readable prefix and warns.
        let cat = try Run.harness(["log", "cat", dir.file("torn.log")])
        #expect(cat.status == 0)
        #expect(cat.stderr.contains("warning"))
    }

    @Test func badInputIsExitTwoWithTheFileNamed() throws {
        let dir = TempDir()
        try Data("not a log at all".utf8).write(to: URL(fileURLWithPath: dir.file("junk.log")))
        for args in [["log", "stats", dir.file("junk.log")], ["log", "cat", dir.file("missing.log")],
                     ["log", "import", dir.file("junk.log"), "--format", "har", "-o", dir.file("o.log")]] {
            let r = try Run.harness(args)
            #expect(r.status == 2, "\(args)")
            #expect(r.stderr.contains(dir.path), "stderr names the file: \(r.stderr)")
            #expect(!r.stderr.contains("Fatal error"))
        }
    }

    /// CONTRACT.md: a usage error is exit 2 with a message, whether the argument parser finds it
    /// (an unknown flag, a missing argument, a failed validation) or the command does.
    @Test func usageErrorsAreExitTwo() throws {
        let dir = TempDir()
        for args in [["capture", "--no-such-flag"], ["replay"], ["capture", "-r", dir.file("x.pcap"), "--count", "0"],
                     ["log", "synth", "--connections", "0", "-o", dir.file("s.log")],
                     ["log", "synth", "--codec", "lz4", "-o", dir.file("s.log")]] {
            let r = try Run.harness(args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(!r.stderr.isEmpty, "\(args)")
        }
        // A refused synth leaves no file behind.
        #expect(!FileManager.default.fileExists(atPath: dir.file("s.log")))
        #expect(try Run.harness(["--help"]).status == 0)
    }

    /// `log synth --connections N`: the fronts go round-robin over N keep-alive connections, each
    /// in its order, as a load generator's N connections carry them.
    @Test func synthSpreadsFrontsOverConnections() throws {
        let dir = TempDir()
        let r = try Run.harness(["log", "synth", "--count", "50", "--front-only", "--connections", "4", "-o", dir.file("k.log")])
        #expect(r.status == 0, "\(r.stderr)")
        let fronts = try LogFile.readAll(dir.file("k.log")).exchanges
        #expect(fronts.count == 50)
        #expect(Set(fronts.map(\.connection.id)) == [1, 2, 3, 4])
        for (i, e) in fronts.enumerated() {
            #expect(e.connection.id == UInt64(i % 4 + 1) && e.sequence == UInt32(i / 4))
        }
        // One client address per connection.
        #expect(Set(fronts.map { "\($0.connection.id) \($0.connection.client)" }).count == 4)
    }

    @Test(arguments: ["har", "gor"])
    func exportImportThroughTheCLI(format: String) throws {
        let dir = TempDir()
        let path = try Self.sampleLog(dir)
        let out = dir.file("x.\(format)")
        let e = try Run.harness(["log", "export", path, "--format", format, "-o", out])
        #expect(e.status == 0, "\(e.stderr)")
        let attrs = try FileManager.default.attributesOfItem(atPath: out)
        #expect((attrs[.posixPermissions] as? Int) == 0o600, "exports hold secrets too")
        let i = try Run.harness(["log", "import", out, "--format", format, "-o", dir.file("back.log")])
        #expect(i.status == 0, "\(i.stderr)")
        let original = try LogFile.readAll(path).exchanges
        let back = try LogFile.readAll(dir.file("back.log")).exchanges
        #expect(back.count == original.count)
        #expect(back.map(\.request.target) == original.map(\.request.target))
        #expect(back.map { $0.response?.status } == original.map { $0.response?.status })
        #expect(back.map(\.request.headers) == original.map(\.request.headers))
        #expect(back.map { $0.response?.body } == original.map { $0.response?.body })
        if format == "har" { #expect(back == original) }
    }
}
