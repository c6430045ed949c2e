import Diff
import Foundation
import HarnessCore
import HarnessTesting
import Replay
import Testing

/// The end-to-end scenario matrix (issue 7): for Apache httpd, nginx and HAProxy, record a scripted
/// curl/wrk session through the real proxy with its good config in front of a real backend (taps
/// and off the wire), then replay each recording against every variant config while the harness
/// plays the backend, and check that exactly the expected difference categories fire.
/// `scripts/e2e` runs this suite alone and prints the table.
@Suite(.serialized)
struct ScenarioMatrixTests {
    /// `HARNESS_E2E_PROXIES=apache,nginx` limits the run; `HARNESS_E2E_KEEP=DIR` keeps the
    /// recordings, result logs and reports there; `HARNESS_E2E_TABLE=FILE` is where the table goes.
    static let environment = ProcessInfo.processInfo.environment

    @Test func everySeededMistakeFiresItsCategoriesAndGoodConfigsStaySilent() async throws {
        let started = Date()
        let keep = Self.environment["HARNESS_E2E_KEEP"]
        let scratch = TempDir("scenario-matrix")
        let dir = keep ?? scratch.path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let only = Set((Self.environment["HARNESS_E2E_PROXIES"] ?? "").split(separator: ",").map(String.init))
        var cells: [Cell] = []
        for kind in ScenarioProxyKind.allCases where only.isEmpty || only.contains(kind.rawValue) {
            guard TestEnvironment.tool(kind.tool) != nil else { continue }
            let productionDir = TempDir("scenario-\(kind.rawValue)-production")
            // One retry: the servers listen on ports picked before they start, which a parallel
            // test's connection can take meanwhile.
            let retryDir = TempDir("scenario-\(kind.rawValue)-production")
            let recorded = try (try? ScenarioSession.record(kind, into: productionDir)) ?? ScenarioSession.record(kind, into: retryDir)
            guard var production = recorded else { continue }
            production = try production.copied(to: dir)
            if !production.captureSummary.isEmpty { print("\(kind.rawValue) capture:\n\(production.captureSummary)") }
            // The whole session was recorded: 10 curl steps (13 requests with the followed
            // redirects) and the wrk burst.
            #expect(production.tapFronts >= 30, "\(kind): \(production.tapFronts) front exchanges through the taps")
            if production.captureRecording != nil {
                #expect(production.captureFronts >= 30, "\(kind): \(production.captureFronts) front exchanges captured")
            }
            var recordings = [("tap", production.tapRecording)]
            if let capture = production.captureRecording { recordings.append(("capture", capture)) }
            for variant in kind.variants {
                for (name, path) in recordings {
                    cells.append(Cell(kind: kind, variant: variant, recording: name, path: path, production: production))
                }
            }
        }
        let rows = await Self.run(cells, dir: dir, concurrency: 3)
        let table = ScenarioTable.render(rows)
        let elapsed = String(format: "%.0f", Date().timeIntervalSince(started))
        print("\nScenario matrix (\(elapsed) s):\n\(table)\n")
        let tablePath = Self.environment["HARNESS_E2E_TABLE"] ?? FileManager.default.temporaryDirectory.path + "/scenario-matrix.txt"
        try? (table + "\n").write(toFile: tablePath, atomically: true, encoding: .utf8)
        for row in rows {
            #expect(row.ok, "\(row.proxy) \(row.variant) (\(row.recording)): expected \(row.expectedText), fired \(row.firedText)")
        }
    }

    struct Cell: Sendable {
        var kind: ScenarioProxyKind
        var variant: ScenarioVariant
        var recording: String
        var path: String
        var production: ScenarioProduction
    }

    /// Replays the cells, `concurrency` at a time (each has its own proxy and ports); rows in cell order.
    static func run(_ cells: [Cell], dir: String, concurrency: Int) async -> [ScenarioRow] {
        await withTaskGroup(of: (Int, ScenarioRow).self) { group in
            var rows = [ScenarioRow?](repeating: nil, count: cells.count)
            var next = 0
            func add() {
                guard next < cells.count else { return }
                let (i, c) = (next, cells[next])
                next += 1
                group.addTask { (i, await replay(c.kind, c.variant, recording: (c.recording, c.path), production: c.production, dir: dir)) }
            }
            for _ in 0..<concurrency { add() }
            while let (i, row) = await group.next() {
                rows[i] = row
                add()
            }
            return rows.compactMap { $0 }
        }
    }

    /// Replays `recording` against `kind` started with `variant`, the harness playing the recorded
    /// backend (with TLS for the HTTPS variants); the categories the diff reported.
    static func replay(
        _ kind: ScenarioProxyKind, _ variant: ScenarioVariant, recording: (kind: String, path: String),
        production: ScenarioProduction, dir: String
    ) async -> ScenarioRow {
        let started = Date()
        var row = ScenarioRow(
            proxy: kind.rawValue, variant: variant.name, recording: recording.kind, seeds: variant.seeds,
            expected: variant.expected, fired: [:], replayed: 0)
        do {
            let name = "\(kind.rawValue)-\(variant.name)-\(recording.kind)"
            // The simulated backend binds an ephemeral port first and the proxy is configured with
            // it; a proxy port taken meanwhile by another test's connection is retried.
            var lastError: (any Error)?
            for _ in 0..<3 {
                let port = freeLoopbackPort()
                var config = ReplayConfiguration(
                    recordingPath: recording.path, target: "http://127.0.0.1:\(port)", outputPath: "\(dir)/\(name).log",
                    backends: [BackendSpec(recordedOrigin: production.backendOrigin, listenPort: 0, tls: variant.backendTLS)])
                config.speed = .max
                config.concurrency = 4
                config.allowOriginalHost = true
                config.backendLatency = variant.backendLatency
                config.requestTimeout = 20
                config.reportPath = "\(dir)/\(name).json"
                let replayer = Replayer(configuration: config)
                guard let simulated = try await replayer.start().first else {
                    throw HarnessError(.badInput, "the recording has no back leg", path: recording.path)
                }
                let backend = variant.backendDown
                    ? "http://127.0.0.1:\(freeLoopbackPort())"
                    : "\(variant.backendTLS ? "https" : "http")://127.0.0.1:\(simulated.listenPort)"
                let proxy: ScenarioProxy?
                do {
                    proxy = try ScenarioProxy.start(kind, variant: variant.name, backend: backend, port: port)
                } catch {
                    lastError = error
                    await replayer.cancel()
                    continue
                }
                guard let proxy else {
                    await replayer.cancel()
                    row.failure = "\(kind.tool) missing"
                    return row
                }
                defer { proxy.stop() }
                let summary = try await replayer.run()
                row.fired = summary.report.categories.filter { $0.value > 0 }
                row.replayed = summary.report.compared
                lastError = nil
                break
            }
            if let lastError { throw lastError }
        } catch {
            row.failure = "\(error)"
        }
        row.seconds = Date().timeIntervalSince(started)
        return row
    }
}

/// `harness replay --backend-latency` through the CLI: a recorded backend answer that took 2.5 s
/// times out behind nginx with `proxy_read_timeout 1s` (504, gate fails) and passes without the
/// timeout; without the flag the simulated backend answers at once and nothing differs.
@Suite(.serialized)
struct ReplayBackendLatencyCommandTests {
    func replay(variant: String, latency: Bool) throws -> (status: Int32, report: DiffReport)? {
        let dir = TempDir("latency-cli")
        var exchanges = ReplayRecordingBuilder.scriptedSession().exchanges
        // The login redirect's backend answer started 2.5 s after its request.
        let slow = try #require(exchanges.firstIndex { $0.leg == .back && $0.request.target.hasPrefix("/app/login") })
        exchanges[slow].timing.responseStart = exchanges[slow].timing.requestEnd + 2_500_000
        exchanges[slow].timing.responseEnd = exchanges[slow].timing.responseStart + 500
        try LogFile.write(exchanges, to: dir.file("rec.log"), header: LogHeader(metadata: [Annotation("source", "test")]))
        let simulated = freeLoopbackPort()
        guard let proxy = try ScenarioProxy.start(.nginx, variant: variant, backend: "http://127.0.0.1:\(simulated)") else { return nil }
        defer { proxy.stop() }
        let r = try Run.harness(
            ["replay", dir.file("rec.log"), "--target", proxy.url, "--backend", "http://10.0.0.5:8080=127.0.0.1:\(simulated)",
             "--speed", "max", "--quiet", "-o", dir.file("result.log"), "--report", dir.file("report.json")]
                + (latency ? ["--backend-latency"] : []), timeout: 60)
        return (r.status, try DiffReport.load(path: dir.file("report.json")))
    }

    @Test func slowRecordedBackendTimesOutOnlyWithTheFlagAndTheShortTimeout() throws {
        guard let timedOut = try replay(variant: "read-timeout", latency: true) else { return }
        #expect(timedOut.status == 1)
        #expect(timedOut.report.categories["status"] == 1)
        #expect(timedOut.report.groups.contains { $0.signature.contains("504") })
        guard let atOnce = try replay(variant: "read-timeout", latency: false), let patient = try replay(variant: "good", latency: true)
        else { return }
        #expect(atOnce.status == 0)
        #expect(atOnce.report.categories["status"] == nil)
        #expect(patient.status == 0)
        #expect(patient.report.categories["status"] == nil)
    }
}

/// The scenario servers' start check: a listener on the port that another process group holds
/// (a port picked free, then taken by another test's server) is reported, so the start is retried
/// on another port instead of testing the wrong server.
@Suite struct ScenarioPortOwnershipTests {
    @Test func aListenerOfAnotherGroupIsForeignAndOursIsNot() throws {
        let (fd, port) = try listenOnLoopback()
        defer { close(fd) }
        let ours = try #require(ScenarioServer.foreignListeners(port: port, group: getpgrp()))
        #expect(ours.isEmpty, "the test process's own listener counted as foreign: \(ours)")
        // No process is in a group numbered after an unused pid: every listener is foreign.
        let foreign = try #require(ScenarioServer.foreignListeners(port: port, group: pid_t(Int32.max)))
        #expect(foreign.count == 1)
    }
}
