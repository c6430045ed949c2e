import HarnessCore

/// Folds per-pair differences into the report: category counts, category combinations, groups
/// (category, route template, signature) with counts and example ids, and latency histograms.
///
/// Memory is bounded by the number of distinct groups (capped at `maxGroups`; beyond it new
/// groups fold into route `(other)`), never by the number of exchanges.
struct Aggregator {
    static let maxGroups = 5_000
    /// Groups that keep a worked example (bounds the report's size).
    static let maxExamples = 500
    var examplesPerGroup = 5
    var failOn: Set<String>
    var report = DiffReport()
    private var groups: [GroupKey: DiffGroup] = [:]
    private var order: [GroupKey] = []
    var originalLatency = LatencyHistogram()
    var replayedLatency = LatencyHistogram()

    struct GroupKey: Hashable {
        var category: DiffCategory
        var route: String
        var signature: String
    }

    init(failOn: Set<String>, examplesPerGroup: Int) {
        self.failOn = failOn
        self.examplesPerGroup = examplesPerGroup
    }

    /// Records one compared pair and its differences.
    mutating func add(original: ExchangeUnit, replayed: ExchangeUnit, route: String, diffs: [Difference]) {
        report.compared += 1
        if let l = original.front.exchange.timing.latency { originalLatency.add(l) }
        if replayed.front.exchange.error == nil, let l = replayed.front.exchange.timing.latency { replayedLatency.add(l) }
        record(originalID: original.front.exchange.id, replayedID: replayed.front.exchange.id, route: route, diffs: diffs) {
            (original, replayed)
        }
    }

    /// Records one compared pair without differences (the fast path: no exchanges decoded).
    mutating func addEqual(originalLatency o: Int64?, replayedLatency r: Int64?) {
        report.compared += 1
        if let o { originalLatency.add(o) }
        if let r { replayedLatency.add(r) }
    }

    /// Records differences not tied to a compared pair (unlinked backend calls).
    mutating func addStandalone(id: UInt64, route: String, diffs: [Difference], unit: ExchangeUnit) {
        record(originalID: unit.front.exchange.replayOf ?? 0, replayedID: id, route: route, diffs: diffs) { nil }
    }

    private mutating func record(
        originalID: UInt64, replayedID: UInt64, route: String, diffs: [Difference],
        units: () -> (ExchangeUnit, ExchangeUnit)?
    ) {
        guard !diffs.isEmpty else { return }
        var bits: UInt16 = 0
        for d in diffs { bits |= d.category.bit }
        let cats = DiffCategory.set(bits)
        for c in cats { report.categories[c.rawValue, default: 0] += 1 }
        report.combinations[cats.map(\.rawValue).joined(separator: ","), default: 0] += 1
        if cats.contains(where: { failOn.contains($0.rawValue) }) { report.differing += 1 }
        var seen = Set<GroupKey>()
        for d in diffs {
            var key = GroupKey(category: d.category, route: route, signature: d.signature)
            if groups[key] == nil && groups.count >= Self.maxGroups { key.route = "(other)" }
            guard seen.insert(key).inserted else { continue }
            if groups[key] == nil {
                var g = DiffGroup(category: d.category.rawValue, route: key.route, signature: d.signature, count: 0, examples: [])
                if groups.count < Self.maxExamples, let (o, r) = units() {
                    g.example = DiffExample(
                        originalID: originalID, replayedID: replayedID, differences: diffs,
                        original: ExchangeText.render(o), replayed: ExchangeText.render(r))
                }
                groups[key] = g
                order.append(key)
            }
            groups[key]!.count += 1
            if groups[key]!.examples.count < examplesPerGroup {
                groups[key]!.examples.append(originalID)
                groups[key]!.replayedExamples.append(replayedID)
            }
        }
    }

    /// The finished report: groups most frequent first, shares, latency.
    func finish() -> DiffReport {
        var r = report
        r.failOn = failOn.sorted()
        r.groups = order.compactMap { groups[$0] }
        for i in r.groups.indices {
            r.groups[i].share = r.compared == 0 ? 0 : Double(r.groups[i].count) / Double(r.compared)
            r.groups[i].gating = failOn.contains(r.groups[i].category)
        }
        r.groups = Self.sorted(r.groups)
        if originalLatency.total > 0 || replayedLatency.total > 0 {
            r.latency = LatencyComparison(original: originalLatency.stats, replayed: replayedLatency.stats)
        }
        return r
    }

    /// Most frequent first; ties: gating first, then category order, route, signature.
    static func sorted(_ groups: [DiffGroup]) -> [DiffGroup] {
        groups.sorted {
            if $0.count != $1.count { return $0.count > $1.count }
            if $0.gating != $1.gating { return $0.gating }
            if $0.category != $1.category { return $0.category < $1.category }
            if $0.route != $1.route { return $0.route < $1.route }
            return $0.signature < $1.signature
        }
    }
}
