public import Diff
import HarnessCore
import Foundation
import NIOCore
import NIOPosix

/// A simulated backend that is listening: the recorded origin it plays and its address.
public struct StartedBackend: Sendable, Equatable {
    public var recordedOrigin: String
    /// e.g. `http://127.0.0.1:9000`
    public var listener: String
    public var listenPort: Int
    /// The PEM certificate a TLS listener serves (generated ones are written next to the result).
    public var certificatePath: String?
}

/// What a replay did: counts, where things listened, the diff report and the gate's verdict.
public struct ReplaySummary: Sendable {
    public var resultPath: String
    /// Front exchanges selected for the replay.
    public var planned: Int
    public var counters: ReplayCounters.Snapshot
    public var originMappings: [OriginMapping]
    public var backends: [StartedBackend]
    public var report: DiffReport
    public var verdict: GateVerdict
    public var elapsedSeconds: Double
    /// Time the diff took after the replay.
    public var diffSeconds: Double = 0
    /// Things the user should know (damaged recording, ignored flags).
    public var warnings: [String]

    /// A few lines for people.
    public var text: String {
        var lines: [String] = []
        let rate = elapsedSeconds > 0 ? Double(counters.done) / elapsedSeconds : 0
        lines.append(
            "replayed \(counters.done) of \(planned) requests in \(String(format: "%.1f", elapsedSeconds)) s (\(Int(rate)) req/s); "
                + "\(counters.errors) errors, \(counters.backendRequests) backend requests, \(counters.unmatched) unmatched")
        for b in backends { lines.append("backend \(b.recordedOrigin) played at \(b.listener)") }
        lines.append(
            "diff (\(String(format: "%.2f", diffSeconds)) s): \(report.compared) compared, \(report.differing) differing"
                + (report.categories.isEmpty
                    ? "" : " (" + report.categories.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"))
        for g in report.groups.prefix(10) {
            lines.append("  \(g.count)x \(g.category) \(g.route): \(g.signature)")
        }
        for w in warnings { lines.append("warning: \(w)") }
        lines.append(verdict.passed ? "gate: pass" : "gate: FAIL (" + verdict.reasons.joined(separator: "; ") + ")")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Replays a recording against a staging proxy while playing the recorded backends.
///
/// `start()` reads the recording once (the plan), checks the target and binds the simulated
/// backends (so a caller can configure the staging proxy with their ports); `run()` replays,
/// writes the result log, diffs it against the recording and evaluates the gate.
public final class Replayer: @unchecked Sendable {
    public let configuration: ReplayConfiguration
    public let counters = ReplayCounters()

    private var plan: RecordingPlan?
    private var selection: ReplaySelection?
    private var target: ReplayTarget?
    private var group: MultiThreadedEventLoopGroup?
    private var listeners: [(origin: Origin, backend: SimulatedBackend, certificatePath: String?)] = []
    private var warnings: [String] = []

    public init(configuration: ReplayConfiguration) {
        self.configuration = configuration
    }

    deinit {
        if let group { group.shutdownGracefully { _ in } }
    }

    /// Releases the listeners without replaying (after `start()` when the caller gives up).
    public func cancel() async {
        await shutdown()
    }

    /// Plans the replay and binds the simulated backends; returns where they listen.
    @discardableResult
    public func start() async throws -> [StartedBackend] {
        if plan == nil { try await prepare() }
        return started
    }

    private var started: [StartedBackend] {
        listeners.map {
            StartedBackend(
                recordedOrigin: $0.origin.description, listener: $0.backend.listener.description,
                listenPort: Int($0.backend.listener.port), certificatePath: $0.certificatePath)
        }
    }

    private func prepare() async throws {
        let config = configuration
        MemoryTrim.limitArenas()
        let selection = try ReplaySelection(config)
        let target = try ReplayTarget(url: config.target, insecure: config.insecure, caPath: config.caPath)
        let plan = try await blocking { try RecordingPlan.build(path: config.recordingPath, selection: selection) }
        if let damage = plan.damage {
            warnings.append("the recording is damaged at \(damage); replaying the \(plan.exchangesInFile) exchanges before it")
        }
        if !config.allowOriginalHost, let why = Self.originalHostConflict(target: target.origin, plan: plan) {
            throw HarnessError(
                .usage, "refusing to replay against the recording's own original host (\(why)); pass --allow-original-host if you mean it",
                path: config.recordingPath)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        self.group = group
        if plan.backExchanges > 0 && !config.realBackends {
            let assignment = try Self.assign(config.backends, to: plan.backendOrigins, recording: config.recordingPath)
            for (index, spec) in assignment.enumerated() {
                var certificate: BackendCertificate?
                var certificatePath: String?
                if spec.tls {
                    if let c = spec.certificatePath, let k = spec.keyPath {
                        certificate = try BackendCertificate(certificatePath: c, keyPath: k)
                        certificatePath = c
                    } else {
                        let generated = try BackendCertificate.selfSigned(hosts: [spec.listenHost])
                        certificate = generated
                        let path = config.outputPath + ".backend\(index).pem"
                        if FileManager.default.createFile(atPath: path, contents: Data(generated.certificatePEM.utf8)) {
                            certificatePath = path
                        }
                    }
                }
                let backend = try await SimulatedBackend.bind(spec: spec, group: group, certificate: certificate)
                listeners.append((plan.backendOrigins[index], backend, certificatePath))
            }
        } else if !config.backends.isEmpty {
            warnings.append(
                plan.backExchanges == 0
                    ? "the recording has no back leg: --backend is ignored and the staging proxy calls its real backends"
                    : "--real-backends: --backend is ignored")
        }
        self.selection = selection
        self.target = target
        self.plan = plan
    }

    /// Replays, diffs and gates. Throws `HarnessError` for bad input or an unreachable target.
    public func run() async throws -> ReplaySummary {
        do {
            try await start()
        } catch {
            await shutdown()
            throw error
        }
        guard let plan, let selection, let target, let group else {
            throw HarnessError(.usage, "the replay could not be prepared")
        }
        do {
            let summary = try await replay(plan: plan, selection: selection, target: target, group: group)
            await shutdown()
            return summary
        } catch {
            await shutdown()
            throw error
        }
    }

    /// Stops the listeners and the event loops (idempotent).
    private func shutdown() async {
        for l in listeners { await l.backend.stop() }
        if let group {
            self.group = nil
            try? await group.shutdownGracefully()
        }
    }

    /// Whether the replay's client connections run on `PollLoop`s: a plain-HTTP target whose
    /// address the reachability check found, unless `--transport nio` asks for SwiftNIO.
    static func usesPollLoops(_ target: ReplayTarget, _ transport: ClientTransport) -> Bool {
        target.sslContext == nil && target.address != nil && transport == .poll
    }

    private func replay(
        plan: RecordingPlan, selection: ReplaySelection, target: ReplayTarget, group: MultiThreadedEventLoopGroup
    ) async throws -> ReplaySummary {
        let config = configuration
        var target = target
        try await target.checkReachable(group: group, timeout: config.connectTimeout)

        let mappings = originMappings(target: target)
        let startedUS = Clock.nowMicros()
        var header = LogHeader()
        header["tool"] = "harness"
        header["source"] = "replay"
        header["recording"] = config.recordingPath
        header["target"] = config.target
        header["origin_map"] = mappings.map { "\($0.recorded)=\($0.replayed)" }.joined(separator: ";")
        header["started_us"] = String(startedUS)
        header["recording_started_us"] = String(plan.recordingStart)
        header["speed"] = config.rate.map { "\($0)/s" } ?? config.speed.description
        if let maxRate = config.maxRate { header["max_rate"] = "\(maxRate)/s" }
        if let shard = config.shard { header["shard"] = "\(shard.index)/\(shard.count)" }
        let writer = try LogWriter(
            path: config.outputPath, header: header, options: LogWriterOptions(segmentBodyLimit: ResultRecorder.segmentBodyLimit))
        let recorder = ResultRecorder(sink: writer)

        // The diff follows the result log as the replay writes it, on CPU the replay leaves idle
        // (the event loops, the reader and the writer wait on the network at times); what is left
        // of it when the replay ends is all the replay waits for. A result that is not a regular
        // file cannot be read back while it is written: that diff runs after the replay.
        var options = DiffOptions(rulesPath: config.rulesPath, originMappings: mappings, failOn: config.gate.failOn)
        let follow = config.diff && Self.isRegularFile(config.outputPath) ? LogFollow() : nil
        options.following = follow
        // Every way out of this function lets the follower reach the end of the file.
        defer { follow?.finish() }
        let (originalPath, resultPath, diffOptions) = (config.recordingPath, config.outputPath, options)
        let runDiff: @Sendable () async throws -> DiffReport = {
            try await blocking { try DiffEngine.diff(originalPath: originalPath, resultPath: resultPath, options: diffOptions) }
        }
        let followingDiff = follow.map { _ in Task { try await runDiff() } }

        var matcher: BackendMatcher?
        var originIndex: [Origin: Int] = [:]
        if !listeners.isEmpty {
            let m = BackendMatcher(originNames: plan.backendOrigins.map(\.description))
            matcher = m
            let shift = plan.recordingStart > 0 ? (startedUS - plan.recordingStart) / 1_000_000 : 0
            for (i, l) in listeners.enumerated() {
                originIndex[l.origin] = i
                let rewriter = ResponseRewriter(
                    recorded: l.origin, aliases: plan.backendAliases[i], listener: l.backend.listener, dateShiftSeconds: shift)
                l.backend.activate(
                    BackendContext(
                        index: i, listener: l.backend.listener, rewriter: rewriter, matcher: m, recorder: recorder,
                        counters: counters, latency: config.backendLatency))
            }
        }

        // Plain-HTTP targets get the replay's own epoll loops (`PollLoop`); HTTPS targets, and any
        // target with `--transport nio`, SwiftNIO's.
        let loops = config.clientLoops ?? ReplayConfiguration.defaultClientLoops
        let pollGroup = try Self.usesPollLoops(target, config.transport) ? PollLoopGroup(count: loops) : nil
        defer { pollGroup?.shutdownGracefully { _ in } }
        let engine = ReplayEngine(
            group: pollGroup ?? group, target: target, configuration: config, recorder: recorder, matcher: matcher,
            counters: counters)
        let clock = ContinuousClock.now
        let progress = config.quiet || !Console.isTerminal(2) ? nil : startProgress(total: plan.total)
        let readerResult = ReaderThread.start(
            path: config.recordingPath, plan: plan, selection: selection, engine: engine, matcher: matcher,
            originIndex: originIndex, speed: config.speed, rate: config.rate, maxRate: config.maxRate)
        try await engine.done.futureResult.get()
        progress?.cancel()
        if progress != nil { Console.error("\r\u{1B}[K") }
        let elapsed = clock.duration(to: .now)
        // The diff's time is what it adds after the replay: closing the result, then the rest of
        // the diff (all of it when it could not follow the result).
        let diffClock = ContinuousClock.now
        for l in listeners { await l.backend.stop() }
        try recorder.close()
        follow?.finish()
        if let error = readerResult.error {
            throw error
        }
        if let damage = readerResult.damage, plan.damage == nil {
            warnings.append("the recording became unreadable at \(damage) during the replay")
        }

        let snapshot = counters.snapshot
        let diffReport: DiffReport
        if let followingDiff {
            diffReport = try await followingDiff.value
        } else if config.diff {
            diffReport = try await runDiff()
        } else {
            diffReport = DiffReport(exchanges: snapshot.done)
        }
        // Gate.apply stores the verdict and the per-group gating flags in the report, so every
        // rendering of it (JSON, terminal, HTML, Markdown) tells the verdict of the user's thresholds.
        let report = Gate.apply(diffReport, options: config.gate)
        if let reportPath = config.reportPath {
            do {
                try report.json().write(to: URL(fileURLWithPath: reportPath))
            } catch {
                throw HarnessError(.io, "cannot write the report: \(error)", path: reportPath)
            }
        }
        let diffElapsed = diffClock.duration(to: .now)
        let verdict = Gate.evaluate(report, options: config.gate)
        var summary = ReplaySummary(
            resultPath: config.outputPath, planned: plan.total, counters: counters.snapshot, originMappings: mappings,
            backends: started, report: report, verdict: verdict, elapsedSeconds: Self.seconds(elapsed), warnings: warnings)
        summary.diffSeconds = Self.seconds(diffElapsed)
        return summary
    }

    /// Whether `path` is a regular file (a log another reader can follow while it is written).
    static func isRegularFile(_ path: String) -> Bool {
        let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
        return type == .typeRegular
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private func originMappings(target: ReplayTarget) -> [OriginMapping] {
        var list: [OriginMapping] = []
        if let plan {
            var front: String?
            if let h = plan.header["original_host"], let o = Origin(parsing: h) {
                front = o.description
            } else if plan.frontHosts.count == 1, let h = plan.frontHosts.first, let o = Origin(parsing: (target.origin.tls ? "https://" : "http://") + h) {
                front = o.description
            } else if plan.frontEndpoints.count == 1, let e = plan.frontEndpoints.first, let o = Origin(parsing: e) {
                front = o.description
            }
            if let front { list.append(OriginMapping(recorded: front, replayed: target.origin.description)) }
        }
        for l in listeners {
            list.append(OriginMapping(recorded: l.origin.description, replayed: l.backend.listener.description))
        }
        return list
    }

    private func startProgress(total: Int) -> Task<Void, Never> {
        let counters = self.counters
        return Task.detached {
            let begin = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                if Task.isCancelled { break }
                let s = counters.snapshot
                let d = begin.duration(to: .now)
                let secs = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
                let rate = secs > 0 ? Double(s.done) / secs : 0
                let eta = rate > 0 ? Double(max(0, total - s.done)) / rate : 0
                Console.error(
                    "\r\u{1B}[K\(s.done)/\(total)  \(Int(rate)) req/s  \(s.statusDifferences) differing  \(s.errors) errors  "
                        + "\(s.unmatched) unmatched  ETA \(Int(eta)) s")
            }
        }
    }

    // MARK: pure helpers (tested directly)

    /// Which spec plays which recorded backend origin (index-aligned with `origins`).
    public static func assign(_ specs: [BackendSpec], to origins: [Origin], recording: String) throws -> [BackendSpec] {
        let names = origins.map(\.description).joined(separator: ", ")
        var result = [BackendSpec?](repeating: nil, count: origins.count)
        var unnamed: [BackendSpec] = []
        for spec in specs {
            guard let named = spec.recordedOrigin else {
                unnamed.append(spec)
                continue
            }
            guard let want = Origin(parsing: named), let i = origins.firstIndex(of: want) else {
                throw HarnessError(
                    .usage, "--backend \(spec): the recording has no backend \(named) (its backends: \(names))", path: recording)
            }
            result[i] = spec
        }
        if !unnamed.isEmpty {
            let open = result.indices.filter { result[$0] == nil }
            guard unnamed.count == 1, open.count == 1 else {
                throw HarnessError(
                    .usage,
                    "--backend without RECORDED_ORIGIN= is only allowed when the recording has one backend; it has \(origins.count): \(names)",
                    path: recording)
            }
            result[open[0]] = unnamed[0]
        }
        let missing = result.indices.filter { result[$0] == nil }.map { origins[$0].description }
        guard missing.isEmpty else {
            throw HarnessError(
                .usage,
                "the recording called backend\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", ")) but no --backend plays "
                    + "\(missing.count == 1 ? "it" : "them"); add --backend \(missing[0])=127.0.0.1:PORT (or --real-backends)",
                path: recording)
        }
        return result.compactMap { $0 }
    }

    /// Why `target` is the recording's own front host, or nil.
    public static func originalHostConflict(target: Origin, plan: RecordingPlan) -> String? {
        if let h = plan.header["original_host"], let o = Origin(parsing: h.contains("://") ? h : "\(target.scheme)://\(h)") {
            let explicitPort = Endpoint(parsing: Substring(h.split(separator: "/").last ?? "")) != nil || h.contains("://")
            if o.host == target.host && (!explicitPort || o.port == target.port) { return "original_host \(h)" }
        }
        let targetHost = target.host == "localhost" ? "127.0.0.1" : target.host
        let text = Endpoint(host: targetHost, port: target.port).description
        if plan.frontEndpoints.contains(text) { return "the recorded front leg was served by \(text)" }
        return nil
    }
}

/// Runs blocking work (file passes, the diff) on its own thread.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
