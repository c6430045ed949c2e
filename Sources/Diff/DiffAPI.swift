import HarnessCore
public import Foundation

// The seam between Replay/CLI and the diff engine. The signatures here are what `replay`,
// `diff` and `gate` call; the implementation behind them is the diff engine's (issue 6).

/// A recorded origin and the origin that stands for it in a replay: the original front origin maps
/// to the replay target, each recorded backend origin to its simulated listener.
public struct OriginMapping: Sendable, Equatable, Codable {
    /// e.g. `http://10.0.0.5:8080`
    public var recorded: String
    /// e.g. `http://127.0.0.1:9000`
    public var replayed: String
    public init(recorded: String, replayed: String) {
        self.recorded = recorded
        self.replayed = replayed
    }
}

/// What the diff engine compares and what counts as gating.
public struct DiffOptions: Sendable {
    /// YAML rules file (noise, normalisation), if any.
    public var rulesPath: String?
    /// Origins to treat as equal (also read from the result log's header, key `origin_map`).
    public var originMappings: [OriginMapping]
    /// Categories whose differences gate (CONTRACT default).
    public var failOn: Set<String>
    public init(
        rulesPath: String? = nil, originMappings: [OriginMapping] = [],
        failOn: Set<String> = GateOptions.defaultFailOn
    ) {
        self.rulesPath = rulesPath
        self.originMappings = originMappings
        self.failOn = failOn
    }
}

/// One group of differences: same category, route template and signature.
public struct DiffGroup: Sendable, Codable, Equatable {
    public var category: String
    public var route: String
    public var signature: String
    public var count: Int
    /// Exchange ids (original recording) of examples.
    public var examples: [UInt64]
    public init(category: String, route: String, signature: String, count: Int, examples: [UInt64]) {
        self.category = category
        self.route = route
        self.signature = signature
        self.count = count
        self.examples = examples
    }
}

/// The diff report (CONTRACT keys: exchanges, compared, differing, categories, groups).
public struct DiffReport: Sendable, Codable, Equatable {
    /// Replayed exchanges.
    public var exchanges: Int
    /// Pairs compared.
    public var compared: Int
    /// Exchanges with at least one gating difference.
    public var differing: Int
    /// Category -> number of exchanges with that difference.
    public var categories: [String: Int]
    /// Most frequent first.
    public var groups: [DiffGroup]
    public init(exchanges: Int = 0, compared: Int = 0, differing: Int = 0, categories: [String: Int] = [:], groups: [DiffGroup] = []) {
        self.exchanges = exchanges
        self.compared = compared
        self.differing = differing
        self.categories = categories
        self.groups = groups
    }

    /// The report as pretty JSON.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

/// Compares an original recording with a replay result.
public enum DiffEngine {
    /// Streams both logs and returns the report. Throws `HarnessError` on unreadable input.
    public static func diff(originalPath: String, resultPath: String, options: DiffOptions) throws -> DiffReport {
        // Placeholder until the diff engine lands: status codes only.
        let original = try LogReader(path: originalPath)
        var statusByID: [UInt64: UInt16?] = [:]
        try original.forEach { if $0.leg != .back { statusByID[$0.id] = $0.response?.status } }
        let result = try LogReader(path: resultPath)
        var report = DiffReport()
        var groups: [String: DiffGroup] = [:]
        try result.forEach { e in
            guard e.leg != .back, let orig = e.replayOf else { return }
            report.exchanges += 1
            guard let before = statusByID[orig] else { return }
            report.compared += 1
            let after = e.response?.status
            if before != after {
                let sig = "status \(before.map(String.init) ?? "none") -> \(after.map(String.init) ?? "none")"
                report.differing += 1
                report.categories["status", default: 0] += 1
                groups[sig, default: DiffGroup(category: "status", route: String(e.request.path), signature: sig, count: 0, examples: [])].count += 1
                if groups[sig]!.examples.count < 5 { groups[sig]!.examples.append(orig) }
            }
        }
        report.groups = groups.values.sorted { $0.count > $1.count }
        return report
    }
}

/// Gate thresholds (CONTRACT: `--fail-on`, `--max-diff-rate`; plus latency).
public struct GateOptions: Sendable {
    public static let defaultFailOn: Set<String> = ["status", "location", "backend_unmatched", "error"]
    public var failOn: Set<String>
    /// Percent of compared exchanges allowed to differ in the fail-on categories.
    public var maxDiffRate: Double
    public var maxP99RegressionPercent: Double?
    public init(failOn: Set<String> = GateOptions.defaultFailOn, maxDiffRate: Double = 0, maxP99RegressionPercent: Double? = nil) {
        self.failOn = failOn
        self.maxDiffRate = maxDiffRate
        self.maxP99RegressionPercent = maxP99RegressionPercent
    }
}

/// The gate's decision and why.
public struct GateVerdict: Sendable {
    public var passed: Bool
    public var reasons: [String]
}

/// Decides pass/fail from a report.
public enum Gate {
    public static func evaluate(_ report: DiffReport, options: GateOptions) -> GateVerdict {
        let failing = report.groups.filter { options.failOn.contains($0.category) }
        let differing = report.differing
        let rate = report.compared == 0 ? 0 : Double(differing) * 100 / Double(report.compared)
        if !failing.isEmpty && rate > options.maxDiffRate {
            return GateVerdict(passed: false, reasons: ["\(differing) of \(report.compared) exchanges differ (\(rate)%) in gating categories"])
        }
        return GateVerdict(passed: true, reasons: [])
    }
}
