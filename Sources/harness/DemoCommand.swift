import ArgumentParser
import Diff
import Foundation
import HarnessCore
import Proxy
import Replay

/// `harness demo`: the whole job on built-in parts, no server outside the harness.
///
/// A built-in backend application and the harness's own proxy as "production" (ProxyPass with
/// ProxyPassReverse); a scripted session recorded through it, both legs; then two replays with
/// the harness playing the recorded backend: against a correct new config (no differences) and
/// against one with a planted regression (reverse rewriting off, as if `ProxyPassReverse` were
/// deleted). Both reports are printed and the HTML report written. Exit 0: the demo does not gate.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Record a scripted session through a built-in production proxy, replay it against a good and a broken staging config, report.")

    @Option(name: .shortAndLong, help: "Directory for the recording, the results and the reports.")
    var output: String = "harness-demo"

    @Flag(help: "No colour.") var noColour = false

    func run() async throws {
        try await withExitCodes {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let colour = !noColour && Console.isTerminal(1)
            func say(_ s: String) { Console.out((colour ? "\u{1B}[1m" : "") + s + (colour ? "\u{1B}[0m" : "") + "\n") }

            // 1. Production: the built-in backend behind the harness's proxy, recording both legs.
            let backend = try await DemoBackend.start()
            let backendOrigin = "http://127.0.0.1:\(backend.port)"
            let recording = output + "/production.log"
            var production = ProxyConfiguration()
            production.routes = [ProxyRoute(prefix: "/app/", upstream: backendOrigin + "/app/")]
            production.reverseRewrite = true
            production.serverName = "proxy.example.com"
            var header = LogHeader()
            header["source"] = "record"
            header["original_host"] = DemoSession.host
            let writer = try LogWriter(path: recording, header: header)
            let prodProxy = RecordingProxy(configuration: production, recorder: writer)
            let prodPort = try await prodProxy.start()
            say("1. production: built-in backend at \(backendOrigin), harness proxy at http://127.0.0.1:\(prodPort) (ProxyPass /app/ \(backendOrigin)/app/ + ProxyPassReverse)")

            // 2. The scripted session, driven through production.
            let script = output + "/session-script.log"
            try LogFile.write(DemoSession.exchanges(start: Clock.nowMicros()), to: script)
            var drive = ReplayConfiguration(recordingPath: script, target: "http://127.0.0.1:\(prodPort)", outputPath: output + "/session-driven.log")
            drive.speed = .max
            drive.diff = false
            drive.allowOriginalHost = true
            let driven = try await Replayer(configuration: drive).run()
            try await prodProxy.shutdown()
            await backend.stop()
            let (_, recorded, _) = try LogFile.readAll(recording)
            let fronts = recorded.filter { $0.leg == .front }.count
            say("2. recorded the scripted session: \(driven.counters.done) requests -> \(fronts) front + \(recorded.count - fronts) back exchanges in \(recording)")
            say("   (the backend is now stopped: from here on the harness plays it from the recording)")

            // 3. Replays against two staging configs.
            var results: [(String, DiffReport)] = []
            for (name, reverse) in [("good-config", true), ("no-reverse-rewrite", false)] {
                let stagingPort = try Self.freePort()
                var replay = ReplayConfiguration(
                    recordingPath: recording, target: "http://127.0.0.1:\(stagingPort)", outputPath: output + "/replay-\(name).log",
                    backends: [try BackendSpec(parsing: "\(backendOrigin)=127.0.0.1:0")])
                replay.speed = .max
                replay.reportPath = output + "/report-\(name).json"
                let replayer = Replayer(configuration: replay)
                let listeners = try await replayer.start()
                guard let simulated = listeners.first else { throw HarnessError(.badInput, "the recording has no back leg", path: recording) }
                var staging = production
                staging.listenPort = stagingPort
                staging.routes = [ProxyRoute(prefix: "/app/", upstream: simulated.listener + "/app/")]
                staging.reverseRewrite = reverse
                let stagingProxy = RecordingProxy(configuration: staging, recorder: nil)
                _ = try await stagingProxy.start()
                let summary = try await replayer.run()
                try await stagingProxy.shutdown()
                let html = output + "/report-\(name).html"
                try ReportWriter.write(summary.report, to: ReportOutputs(json: replay.reportPath, html: html, markdown: output + "/report-\(name).md"))
                say("\n3\(name == "good-config" ? "a" : "b"). staging with \(name == "good-config" ? "the same, correct config" : "a planted regression: ProxyPassReverse removed") (proxy :\(stagingPort), backend played at \(simulated.listener))")
                Console.out(ReportWriter.terminalSummary(summary.report, colour: colour, examples: 1))
                Console.out("   reports: \(html), \(replay.reportPath ?? "")\n")
                results.append((name, summary.report))
            }
            let good = results[0].1, bad = results[1].1
            say("\nsummary: good config -> \(good.differing) differing of \(good.compared); regression -> \(bad.differing) differing of \(bad.compared) (\(bad.categories.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))")
            say("open \(output)/report-no-reverse-rewrite.html for the side-by-side view. (The demo does not gate: exit 0.)")
        }
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError(.io, "cannot open a socket") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw HarnessError(.io, "cannot find a free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
