public import HarnessCore
public import Foundation

// The seam between Replay/CLI and the diff engine. The signatures here are what `replay`,
// `diff` and `gate` call; the engine lives in DiffRunner.swift and its helpers.

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

    /// Parses the result header's `origin_map` (`recorded=replayed;recorded=replayed`).
    public static func parse(_ text: String) -> [OriginMapping] {
        text.split(separator: ";").compactMap { pair -> OriginMapping? in
            guard let eq = pair.firstIndex(of: "=") else { return nil }
            let r = String(pair[..<eq]).trimmingWhitespace()
            let p = String(pair[eq...].dropFirst()).trimmingWhitespace()
            return r.isEmpty || p.isEmpty ? nil : OriginMapping(recorded: r, replayed: p)
        }
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
    /// Extra rules in YAML text (learned noise from a baseline), applied after `rulesPath`.
    public var extraRulesYAML: String?
    /// Records each side may run ahead of the other before an unpaired exchange is given up
    /// (bounds memory: see docs/DIFF.md).
    public var window: Int
    /// Records read past a pair before it is compared (late backend calls still join it).
    public var lag: Int
    /// Example ids kept per group.
    public var examplesPerGroup: Int
    /// Treat the "original" as another result log of the same recording (A/A baseline, `learn`):
    /// fronts pair by `replayOf` on both sides.
    public var originalIsResult: Bool
    /// Settle pairs that are equal on their scanned digests without decoding them (the default;
    /// the report is the same either way). False compares every pair in full (tests, debugging;
    /// also `HARNESS_DIFF_FULL=1` in the environment).
    public var fastPath = getenv("HARNESS_DIFF_FULL").map { String(cString: $0) != "1" } ?? true
    /// Filled in by the run when set (how many pairs the fast path settled).
    public var statistics: DiffStatistics?
    /// Set when the result log is still being written (a replay diffs as it goes): the result is
    /// read as it grows until `following.finish()`, and until then the diff's threads run in the
    /// idle scheduling class, on CPU the replay leaves unused.
    public var following: LogFollow?
    public init(
        rulesPath: String? = nil, originMappings: [OriginMapping] = [],
        failOn: Set<String> = GateOptions.defaultFailOn, extraRulesYAML: String? = nil, window: Int = 50_000,
        lag: Int = 1_024, examplesPerGroup: Int = 5, originalIsResult: Bool = false
    ) {
        self.rulesPath = rulesPath
        self.originMappings = originMappings
        self.failOn = failOn
        self.extraRulesYAML = extraRulesYAML
        self.window = window
        self.lag = lag
        self.examplesPerGroup = examplesPerGroup
        self.originalIsResult = originalIsResult
    }
}

/// One worked example of a group: the differences and both exchanges, rendered as text.
public struct DiffExample: Sendable, Codable, Equatable {
    public var originalID: UInt64
    public var replayedID: UInt64
    public var differences: [Difference]
    /// The original exchange (front request/response and backend calls) as text.
    public var original: String
    /// The replayed exchange as text.
    public var replayed: String

    enum CodingKeys: String, CodingKey {
        case originalID = "original_id", replayedID = "replayed_id", differences, original, replayed
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
    /// Ids of the same examples in the result log.
    public var replayedExamples: [UInt64]
    /// count / compared.
    public var share: Double
    /// The category is one the gate fails on.
    public var gating: Bool
    /// The first example, side by side.
    public var example: DiffExample?

    public init(
        category: String, route: String, signature: String, count: Int, examples: [UInt64],
        replayedExamples: [UInt64] = [], share: Double = 0, gating: Bool = false, example: DiffExample? = nil
    ) {
        self.category = category
        self.route = route
        self.signature = signature
        self.count = count
        self.examples = examples
        self.replayedExamples = replayedExamples
        self.share = share
        self.gating = gating
        self.example = example
    }

    enum CodingKeys: String, CodingKey {
        case category, route, signature, count, examples, share, gating, example
        case replayedExamples = "replayed_examples"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        category = try c.decode(String.self, forKey: .category)
        route = try c.decode(String.self, forKey: .route)
        signature = try c.decode(String.self, forKey: .signature)
        count = try c.decode(Int.self, forKey: .count)
        examples = try c.decodeIfPresent([UInt64].self, forKey: .examples) ?? []
        replayedExamples = try c.decodeIfPresent([UInt64].self, forKey: .replayedExamples) ?? []
        share = try c.decodeIfPresent(Double.self, forKey: .share) ?? 0
        gating = try c.decodeIfPresent(Bool.self, forKey: .gating) ?? false
        example = try c.decodeIfPresent(DiffExample.self, forKey: .example)
    }
}

/// The gate's decision as stored in a report.
public struct GateRecord: Sendable, Codable, Equatable {
    public var passed: Bool
    public var reasons: [String]
    public var failOn: [String]
    public var maxDiffRate: Double
    public var maxP99RegressionPercent: Double?
    enum CodingKeys: String, CodingKey {
        case passed, reasons
        case failOn = "fail_on", maxDiffRate = "max_diff_rate", maxP99RegressionPercent = "max_p99_regression"
    }
}

/// The diff report (CONTRACT keys: exchanges, compared, differing, categories, groups; more keys
/// for shares, latency, the category combinations the gate needs, and the verdict).
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
    /// Sorted comma-joined category sets -> exchanges with exactly that set (lets `gate` recount
    /// `differing` for any `--fail-on`).
    public var combinations: [String: Int]
    /// Replayed exchanges whose original was not found.
    public var unpaired: Int
    /// Pairs not compared because the original has no complete response.
    public var skipped: Int
    /// Original front exchanges that were never replayed.
    public var notReplayed: Int
    /// Groups beyond the cap were folded into route `(other)`.
    public var latency: LatencyComparison?
    public var gate: GateRecord?
    public var original: String?
    public var result: String?
    /// The fail-on set `differing` was counted with.
    public var failOn: [String]

    public init(exchanges: Int = 0, compared: Int = 0, differing: Int = 0, categories: [String: Int] = [:], groups: [DiffGroup] = []) {
        self.exchanges = exchanges
        self.compared = compared
        self.differing = differing
        self.categories = categories
        self.groups = groups
        combinations = [:]
        unpaired = 0
        skipped = 0
        notReplayed = 0
        failOn = GateOptions.defaultFailOn.sorted()
    }

    enum CodingKeys: String, CodingKey {
        case exchanges, compared, differing, categories, groups, combinations, unpaired, skipped, latency, gate
        case original, result
        case notReplayed = "not_replayed", failOn = "fail_on"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        exchanges = try c.decode(Int.self, forKey: .exchanges)
        compared = try c.decode(Int.self, forKey: .compared)
        differing = try c.decode(Int.self, forKey: .differing)
        categories = try c.decodeIfPresent([String: Int].self, forKey: .categories) ?? [:]
        groups = try c.decodeIfPresent([DiffGroup].self, forKey: .groups) ?? []
        combinations = try c.decodeIfPresent([String: Int].self, forKey: .combinations) ?? [:]
        unpaired = try c.decodeIfPresent(Int.self, forKey: .unpaired) ?? 0
        skipped = try c.decodeIfPresent(Int.self, forKey: .skipped) ?? 0
        notReplayed = try c.decodeIfPresent(Int.self, forKey: .notReplayed) ?? 0
        latency = try c.decodeIfPresent(LatencyComparison.self, forKey: .latency)
        gate = try c.decodeIfPresent(GateRecord.self, forKey: .gate)
        original = try c.decodeIfPresent(String.self, forKey: .original)
        result = try c.decodeIfPresent(String.self, forKey: .result)
        failOn = try c.decodeIfPresent([String].self, forKey: .failOn) ?? GateOptions.defaultFailOn.sorted()
    }

    /// The report as pretty JSON.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Reads a report written by `json()`; throws `HarnessError` naming the file.
    public static func load(path: String) throws -> DiffReport {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HarnessError(.io, "cannot read the report", path: path)
        }
        do { return try JSONDecoder().decode(DiffReport.self, from: data) } catch {
            throw HarnessError(.badInput, "not a diff report (expected JSON with exchanges, compared, differing, groups): \(Self.describe(error))", path: path)
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing key '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            "wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted(let ctx): ctx.debugDescription
        default: "\(error)"
        }
    }

    /// Exchanges that differ in at least one of `categories` (exact, from `combinations`; falls back
    /// to the largest single category for reports without them).
    public func differing(in categories: Set<String>) -> Int {
        if !combinations.isEmpty {
            return combinations.reduce(0) { sum, kv in
                kv.key.split(separator: ",").contains { categories.contains(String($0)) } ? sum + kv.value : sum
            }
        }
        if Set(failOn) == categories { return differing }
        return categories.map { self.categories[$0] ?? 0 }.max() ?? 0
    }
}

/// Counters of one diff run (tests and benchmarks): written by the run, read after it returns.
public final class DiffStatistics: @unchecked Sendable {
    /// Pairs found equal on their scanned digests, without decoding their exchanges.
    public var fastPairs = 0
    /// Pairs compared in full (exchanges decoded).
    public var fullPairs = 0
    public init() {}
}

/// Compares an original recording with a replay result.
public enum DiffEngine {
    /// Streams both logs and returns the report. Throws `HarnessError` on unreadable input.
    public static func diff(originalPath: String, resultPath: String, options: DiffOptions) throws -> DiffReport {
        try DiffRunner(originalPath: originalPath, resultPath: resultPath, options: options).run()
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

    /// Unknown category names in `failOn` (a usage error for the CLI).
    public var unknownCategories: [String] {
        let known = Set(DiffCategory.allCases.map(\.rawValue))
        return failOn.filter { !known.contains($0) }.sorted()
    }
}

/// The gate's decision and why.
public struct GateVerdict: Sendable {
    public var passed: Bool
    public var reasons: [String]
    public init(passed: Bool, reasons: [String]) {
        self.passed = passed
        self.reasons = reasons
    }
}

/// Decides pass/fail from a report.
public enum Gate {
    public static func evaluate(_ report: DiffReport, options: GateOptions) -> GateVerdict {
        var reasons: [String] = []
        let differing = report.differing(in: options.failOn)
        let rate = report.compared == 0 ? (differing > 0 ? 100 : 0) : Double(differing) * 100 / Double(report.compared)
        if differing > 0 && rate > options.maxDiffRate {
            let cats = options.failOn.sorted().joined(separator: ",")
            reasons.append(
                "\(differing) of \(report.compared) compared exchanges differ in \(cats) (\(Self.percent(rate)), allowed \(Self.percent(options.maxDiffRate)))")
        }
        if let limit = options.maxP99RegressionPercent, let reg = report.latency?.p99RegressionPercent, reg > limit {
            let l = report.latency!
            reasons.append(
                "p99 latency regressed \(Self.percent(reg)) (\(l.original.p99Micros / 1000) ms -> \(l.replayed.p99Micros / 1000) ms, allowed \(Self.percent(limit)))")
        }
        return GateVerdict(passed: reasons.isEmpty, reasons: reasons)
    }

    static func percent(_ v: Double) -> String { String(format: "%.2f%%", v) }

    /// The report with its groups' `gating` flags, `differing` and `gate` recomputed for `options`.
    public static func apply(_ report: DiffReport, options: GateOptions) -> DiffReport {
        var r = report
        r.differing = r.differing(in: options.failOn)
        r.failOn = options.failOn.sorted()
        for i in r.groups.indices { r.groups[i].gating = options.failOn.contains(r.groups[i].category) }
        let v = evaluate(r, options: options)
        r.gate = GateRecord(
            passed: v.passed, reasons: v.reasons, failOn: options.failOn.sorted(), maxDiffRate: options.maxDiffRate,
            maxP99RegressionPercent: options.maxP99RegressionPercent)
        return r
    }
}
