import Diff
import Foundation
import HarnessCore
import HarnessTesting
import Proxy
import Replay
import Testing

/// The fault campaign: backends that reset mid-body, answer garbage or close after the headers;
/// a disk that fills while recording; a staging proxy that dies during a replay. Each must end in
/// a recorded error exchange or a clear message, never a crash or a hang.
@Suite(.serialized) struct FaultCampaignTests {
    @Test(arguments: FaultyBackend.Mode.allCases)
    func faultyUpstreamIsAnsweredAndRecordedAsAnError(mode: FaultyBackend.Mode) async throws {
        let backend = try FaultyBackend(mode: mode)
        var config = ProxyConfiguration(upstream: "http://127.0.0.1:\(backend.port)/")
        config.readTimeoutSeconds = 5
        let proxy = try await TestProxy.start(config)
        let curl = try #require(TestEnvironment.which("curl"))
        let started = Date()
        let r = try Run.process(curl, ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", proxy.url("/x")], timeout: 30)
        #expect(Date().timeIntervalSince(started) < 15, "\(mode): the client was left hanging")
        // The proxy still serves: a second request gets an answer too.
        let again = try Run.process(curl, ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", proxy.url("/y")], timeout: 30)
        try await proxy.stop()
        let fronts = proxy.exchanges(.front)
        #expect(fronts.count == 2, "\(mode): \(fronts.count) front exchanges recorded")
        for f in fronts {
            let failed = f.error != nil || f.flags.incomplete || (f.response?.status ?? 0) >= 500
            #expect(failed, "\(mode): recorded as \(f.response?.status ?? 0) without an error")
        }
        if mode == .garbage {
            #expect(r.stdout == "502" && again.stdout == "502", "garbage from the backend is a 502 (got \(r.stdout), \(again.stdout))")
        } else {
            // The head was already on its way: the client sees the body cut short.
            #expect(r.status != 0, "\(mode): curl should report the truncated body")
        }
        backend.stop()
    }

    /// A full disk while recording: proxied traffic is untouched, the recorder reports the error
    /// and exits 2, and the log's written prefix reads back.
    @Test func fullDiskWhileRecording() throws {
        guard TestEnvironment.isRoot else {
            print("SKIP: mounting a small tmpfs needs root")
            return
        }
        guard let nginx = try NginxServer(extraServerConfig: "location / { }") else { return }
        for i in 0..<12 {
            try nginx.writeFile("f\(i).bin", Data((0..<150_000).map { _ in UInt8.random(in: 0...255) }))
        }
        let dir = TempDir("fulldisk")
        let disk = dir.file("disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mount = try Run.process("/bin/mount", ["-t", "tmpfs", "-o", "size=600k", "tmpfs", disk])
        try #require(mount.status == 0, "mount: \(mount.stderr)")
        defer { _ = try? Run.process("/bin/umount", ["-l", disk]) }
        let port = freeLoopbackPort()
        let output = dir.file("record.out")
        let record = try ScenarioServer(
            name: "harness record", executable: TestEnvironment.harnessExecutable,
            arguments: ["record", "--listen", "127.0.0.1:\(port)", "--upstream", nginx.origin + "/", "-o", disk + "/out.log",
                        "--max-record-body", "\(1 << 20)"],
            port: port, output: output, log: output)
        let curl = try #require(TestEnvironment.which("curl"))
        var statuses: [String] = []
        for i in 0..<12 {
            let r = try Run.process(curl, ["-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "http://127.0.0.1:\(port)/f\(i).bin"], timeout: 30)
            statuses.append(r.stdout)
        }
        record.finish(signal: SIGTERM)
        #expect(statuses.allSatisfy { $0 == "200 150000" }, "traffic was disturbed: \(statuses)")
        let printed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(printed.contains("could not be written"), "no clear message: \(printed.suffix(600))")
        #expect(printed.contains("No space left") || printed.lowercased().contains("space"), "\(printed.suffix(600))")
        let (_, exchanges, damage) = try LogFile.readAll(disk + "/out.log")
        print("fault campaign, full disk: \(exchanges.count) exchanges read back (damage: \(damage.map { "\($0)" } ?? "none")); recorder said: \(printed.split(separator: "\n").last ?? "")")
        #expect(exchanges.count < 24, "the disk cannot hold every exchange")
        #expect(exchanges.allSatisfy { $0.response?.status == 200 }, "the readable prefix is intact")
    }

    /// The staging proxy dies in the middle of a replay: what was sent before is recorded, the
    /// rest are `refused` errors, and the replay ends with its report.
    @Test func stagingProxyDiesMidReplay() async throws {
        let dir = TempDir("fault-staging")
        var b = ReplayRecordingBuilder()
        let page = Response(status: 200, reason: "OK", headers: [HeaderField("Content-Length", "2")], body: Array("ok".utf8))
        for i in 0..<60 {
            b.add(connection: b.newConnection(), target: "/app/p\(i)", front: page, back: page, gapMicros: 60_000)
        }
        let recording = dir.file("rec.log")
        try b.write(to: recording)
        let stagingPort = freeLoopbackPort()
        var config = ReplayConfiguration(
            recordingPath: recording, target: "http://127.0.0.1:\(stagingPort)", outputPath: dir.file("result.log"),
            backends: [try BackendSpec(parsing: "http://10.0.0.5:8080=127.0.0.1:0")])
        config.speed = .recorded(1)
        let replayer = Replayer(configuration: config)
        let listener = try #require(try await replayer.start().first).listener
        var staging = ProxyConfiguration()
        staging.listenPort = Int(stagingPort)
        staging.routes = [ProxyRoute(prefix: "/app/", upstream: listener + "/app/")]
        staging.preserveHost = true
        let proxy = RecordingProxy(configuration: staging, recorder: nil)
        _ = try await proxy.start()
        // Kill the staging proxy once it has answered a few requests (not at a fixed time: under a
        // sanitizer or on a loaded machine the replay's start-up alone can take longer than that).
        let killer = Task {
            let deadline = Date().addingTimeInterval(30)
            while proxy.statistics.requests < 5 && Date() < deadline {
                try await Task.sleep(nanoseconds: 5_000_000)
            }
            try await proxy.shutdown()
        }
        let summary = try await replayer.run()
        try await killer.value
        let fronts = try LogFile.readAll(config.outputPath).exchanges.filter { $0.leg == .front }
        #expect(fronts.count == 60, "every recorded request is accounted for")
        let ok = fronts.filter { $0.response?.status == 200 }.count
        let failed = fronts.filter { $0.error != nil }
        print("fault campaign, staging proxy killed mid-replay: \(ok) answered, \(failed.count) failed (\(Set(failed.compactMap(\.error)).sorted()))")
        #expect(ok > 0 && !failed.isEmpty, "\(ok) answered, \(failed.count) failed")
        #expect(failed.allSatisfy { ["refused", "reset"].contains($0.error ?? "") }, "\(Set(failed.compactMap(\.error)))")
        #expect(summary.counters.errors == failed.count)
        #expect((summary.report.categories["error"] ?? 0) > 0)
    }
}
