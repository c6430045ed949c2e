import ArgumentParser
import Diff
import Foundation
import HarnessCore
import Replay

/// `harness replay`: sends a recording's front requests to a staging proxy while playing its
/// recorded backends, writes the result log, diffs it and gates.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a recording against a staging proxy, playing the recorded backends; diff and gate.",
        discussion: """
            Exit codes: 0 no gating difference, 1 the gate failed, 2 bad input or an unreachable target.
            --backend http://10.0.0.5:8080=127.0.0.1:9000 plays the backend recorded at http://10.0.0.5:8080 \
            on 127.0.0.1:9000 (https://127.0.0.1:9443 listens with TLS). With one recorded backend the \
            origin may be left out.
            """)

    @Argument(help: "The recording (a log from capture or record).")
    var recording: String

    @Option(name: .customLong("target"), help: "The staging proxy, e.g. http://127.0.0.1:8080.")
    var target: String

    @Option(name: .customLong("backend"), help: "[RECORDED_ORIGIN=][https://]HOST:PORT to play a recorded backend on (repeatable).")
    var backends: [String] = []

    @Option(name: .customLong("backend-cert"), help: "PEM certificate for TLS backends (default: a generated one).")
    var backendCert: String?

    @Option(name: .customLong("backend-key"), help: "PEM key for --backend-cert.")
    var backendKey: String?

    @Option(name: .shortAndLong, help: "The result log.")
    var output: String

    @Option(name: .customLong("report"), help: "Write the diff report (JSON) here.")
    var report: String?

    @Option(name: .customLong("rules"), help: "Diff rules (YAML).")
    var rules: String?

    @Option(name: .customLong("speed"), help: "1x (recorded timing), 2x, 0.5x, or max.")
    var speed: String = "1x"

    @Option(name: .customLong("rate"), help: "Requests per second (instead of the recorded timing).")
    var rate: Double?

    @Option(name: .customLong("max-rate"), help: "Never more than this many requests per second, whatever --speed or --rate say.")
    var maxRate: Double?

    @Option(name: .customLong("concurrency"), help: "Recorded connections replayed at once.")
    var concurrency: Int = 64

    @Option(
        name: .customLong("client-loops"),
        help: "Event-loop threads for the replay's connections (default: half the cores, at least one).")
    var clientLoops: Int?

    @Option(name: .customLong("transport"), help: "poll (the replay's own epoll loops; default) or nio (SwiftNIO) for a plain-HTTP target.")
    var transport: String = "poll"

    @Option(name: .customLong("host-header"), help: "original (default), target, or a value.")
    var hostHeader: String = "original"

    @Flag(name: .customLong("insecure"), help: "HTTPS target: do not verify its certificate.")
    var insecure = false

    @Option(name: .customLong("ca"), help: "HTTPS target: trust this PEM bundle.")
    var ca: String?

    @Option(name: .customLong("match-path"), help: "Only requests whose path matches this regular expression.")
    var matchPath: String?

    @Option(name: .customLong("method"), help: "Only these methods (repeatable or comma-separated).")
    var methods: [String] = []

    @Option(name: .customLong("sample"), help: "Replay this percentage of the recorded connections.")
    var sample: Double?

    @Option(name: .customLong("limit"), help: "At most this many requests.")
    var limit: Int?

    @Option(name: .customLong("shard"), help: "I/N: replay the I-th (0-based) of N slices, split by connection.")
    var shard: String?

    @Option(name: .customLong("timeout"), help: "Seconds to wait for a response.")
    var timeout: Double = 30

    @Flag(name: .customLong("allow-original-host"), help: "Allow replaying against the recording's own front host.")
    var allowOriginalHost = false

    @Flag(name: .customLong("backend-latency"), help: "Simulated backends take as long to answer as the recorded ones did.")
    var backendLatency = false

    @Flag(name: .customLong("real-backends"), help: "Do not play the recorded backends; the staging proxy calls real ones.")
    var realBackends = false

    @Flag(name: .customLong("quiet"), help: "No progress line and no summary.")
    var quiet = false

    @Flag(name: .customLong("no-diff"), help: "Only write the result log (diff it later with harness diff).")
    var noDiff = false

    @OptionGroup var gate: GateOptionGroup

    @OptionGroup var reportFiles: ReportFileOptions

    func run() async throws {
        let summary = try await withExitCodes { () -> ReplaySummary in
            var config = ReplayConfiguration(recordingPath: recording, target: target, outputPath: output)
            config.backends = try backends.map {
                var spec = try BackendSpec(parsing: $0)
                if spec.tls {
                    spec.certificatePath = backendCert
                    spec.keyPath = backendKey
                }
                return spec
            }
            if (backendCert == nil) != (backendKey == nil) {
                throw HarnessError(.usage, "--backend-cert and --backend-key go together")
            }
            config.speed = try ReplaySpeed(parsing: speed)
            if let rate, !(rate > 0) { throw HarnessError(.usage, "--rate \(rate) must be positive") }
            config.rate = rate
            if let maxRate, !(maxRate > 0) { throw HarnessError(.usage, "--max-rate \(maxRate) must be positive") }
            config.maxRate = maxRate
            guard concurrency > 0 else { throw HarnessError(.usage, "--concurrency \(concurrency) must be at least 1") }
            config.concurrency = concurrency
            if let clientLoops {
                guard clientLoops > 0 else { throw HarnessError(.usage, "--client-loops \(clientLoops) must be at least 1") }
                config.clientLoops = clientLoops
            }
            guard let t = ClientTransport(rawValue: transport) else {
                throw HarnessError(.usage, "--transport '\(transport)' is poll or nio")
            }
            config.transport = t
            config.hostHeader = HostHeaderMode(parsing: hostHeader)
            config.insecure = insecure
            config.caPath = ca
            config.matchPath = matchPath
            config.methods = methods.flatMap { $0.split(separator: ",").map { String($0).uppercased() } }
            config.samplePercent = sample
            config.limit = limit
            config.shard = try shard.map { try Shard(parsing: $0) }
            guard timeout > 0 else { throw HarnessError(.usage, "--timeout \(timeout) must be positive") }
            config.requestTimeout = timeout
            config.allowOriginalHost = allowOriginalHost
            config.realBackends = realBackends
            config.backendLatency = backendLatency
            config.quiet = quiet
            config.reportPath = report
            config.rulesPath = rules
            config.gate = gate.gateOptions
            config.diff = !noDiff
            let replayer = Replayer(configuration: config)
            let summary = try await replayer.run()
            let extra = reportFiles.outputs(json: nil)
            if !extra.isEmpty { try ReportWriter.write(summary.report, to: extra) }
            return summary
        }
        if !quiet { Console.error(summary.text) }
        if !summary.verdict.passed { throw ExitCode(1) }
    }
}
