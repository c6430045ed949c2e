import NIOCore
import HarnessCore
public import Diff

/// How fast a replay sends its requests.
public enum ReplaySpeed: Sendable, Equatable, CustomStringConvertible {
    /// Recorded inter-arrival times divided by the factor (1 = as recorded).
    case recorded(Double)
    /// As fast as the connections allow.
    case max

    /// Parses `1x`, `2x`, `0.5x`, `2`, `max`.
    public init(parsing text: String) throws {
        let t = text.lowercased()
        if t == "max" {
            self = .max
            return
        }
        let number = t.hasSuffix("x") ? String(t.dropLast()) : t
        guard let factor = Double(number), factor > 0, factor.isFinite else {
            throw HarnessError(.usage, "--speed '\(text)' is not 1x, 2x, 0.5x or max")
        }
        self = .recorded(factor)
    }

    public var description: String {
        switch self {
        case .max: "max"
        case .recorded(let f): f == f.rounded() ? "\(Int(f))x" : "\(f)x"
        }
    }
}

/// Which Host header the replayed requests carry.
public enum HostHeaderMode: Sendable, Equatable {
    /// The recorded one (default): the staging proxy sees what production saw.
    case original
    /// The target's authority.
    case target
    /// A fixed value.
    case value(String)

    /// Parses `original`, `target` or any other text as a fixed value.
    public init(parsing text: String) {
        switch text.lowercased() {
        case "original": self = .original
        case "target": self = .target
        default: self = .value(text)
        }
    }
}

/// One slice of a recording split by connection: `index` of `count` (0-based index).
public struct Shard: Sendable, Equatable {
    public var index: Int
    public var count: Int
    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Parses `I/N` with 0 <= I < N (`1/4` is the second of four shards).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n > 0, i >= 0, i < n else {
            throw HarnessError(.usage, "--shard '\(text)' is not I/N with 0 <= I < N (e.g. 0/4)")
        }
        self.init(index: i, count: n)
    }
}

/// What carries a replay's client connections.
public enum ClientTransport: String, Sendable, CaseIterable {
    /// The replay's own epoll loops (`PollLoop`): the default for plain HTTP.
    case poll
    /// SwiftNIO's event loops and channels (TLS; and for comparison).
    case nio
}

/// Everything a replay needs; `harness replay` builds one from its flags, `harness demo` and the
/// tests build one directly.
public struct ReplayConfiguration: Sendable {
    /// The original recording.
    public var recordingPath: String
    /// The staging proxy, e.g. `http://127.0.0.1:8080` or `https://staging.internal`.
    public var target: String
    /// Simulated backends (ignored when the recording has no back leg).
    public var backends: [BackendSpec] = []
    /// Where the result log goes.
    public var outputPath: String
    public var speed: ReplaySpeed = .recorded(1)
    /// Requests per second across all connections (overrides the recorded timing).
    public var rate: Double?
    /// A ceiling on requests per second, whatever the timing (`--speed max` included): the
    /// replay never sends faster, even when the recorded timing or `rate` would.
    public var maxRate: Double?
    /// Recorded connections replayed at the same time.
    public var concurrency: Int = 64
    public var hostHeader: HostHeaderMode = .original
    /// HTTPS target: do not verify its certificate.
    public var insecure: Bool = false
    /// HTTPS target: trust this PEM bundle.
    public var caPath: String?
    /// Only front exchanges whose path matches this regular expression.
    public var matchPath: String?
    /// Only these methods (upper case); empty = all.
    public var methods: [String] = []
    /// Keep this percentage of recorded connections (deterministic by connection).
    public var samplePercent: Double?
    /// At most this many front exchanges.
    public var limit: Int?
    public var shard: Shard?
    /// Allow the target to be the recording's own original front host.
    public var allowOriginalHost: Bool = false
    /// Simulated backends wait as long before answering as the recorded backend did (its
    /// response start minus its request end), so a proxy timeout shorter than a slow backend
    /// shows. Off: they answer at once.
    public var backendLatency: Bool = false
    /// Replay against the real backends even though the recording has a back leg.
    public var realBackends: Bool = false
    /// No progress line (the summary is the caller's to print).
    public var quiet: Bool = true
    /// Seconds to wait for one response before recording `timeout`.
    public var requestTimeout: Double = 30
    /// Seconds to wait for a connection to the target before recording `refused`/`timeout`.
    public var connectTimeout: Double = 5
    /// Response bodies kept in the result log up to this many bytes (the rest is digested).
    public var maxBodyBytes: Int = 8 << 20
    /// Diff rules file handed to the diff engine.
    public var rulesPath: String?
    /// Where the diff report (JSON) goes, if anywhere.
    public var reportPath: String?
    /// What fails the gate.
    public var gate = GateOptions()
    /// Diff the result against the recording at the end (off: `harness diff` runs later).
    public var diff = true
    /// What carries the replay's connections to a plain-HTTP target (HTTPS targets always use
    /// SwiftNIO).
    public var transport: ClientTransport = .poll
    /// Event-loop threads for the replay's connections (nil: `defaultClientLoops`). One loop
    /// moves 70-80k requests/s on this project's 2-core machine; the rest of the cores go to the
    /// reader, the result writer, the diff and the simulated backends, and to a local target.
    public var clientLoops: Int?

    /// Half the cores, at least one: on 2 cores one loop beside a local nginx replays 15-25%
    /// faster than two (docs/bench/replay.md, session 10).
    public static var defaultClientLoops: Int { max(1, System.coreCount / 2) }

    public init(recordingPath: String, target: String, outputPath: String, backends: [BackendSpec] = []) {
        self.recordingPath = recordingPath
        self.target = target
        self.outputPath = outputPath
        self.backends = backends
    }
}
