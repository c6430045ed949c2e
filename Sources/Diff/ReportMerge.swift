import HarnessCore

/// Merges reports of sharded replays into one: counts and category combinations add up, groups
/// with the same category, route and signature join (examples kept up to the cap), latency
/// histograms merge exactly.
public enum ReportMerge {
    public static func merge(_ reports: [DiffReport], examplesPerGroup: Int = 5) -> DiffReport {
        var out = DiffReport()
        out.failOn = reports.first?.failOn ?? GateOptions.defaultFailOn.sorted()
        var groups: [String: DiffGroup] = [:]
        var order: [String] = []
        var lo = LatencyHistogram(), lr = LatencyHistogram()
        var haveLatency = false
        for r in reports {
            out.exchanges += r.exchanges
            out.compared += r.compared
            out.differing += r.differing
            out.unpaired += r.unpaired
            out.skipped += r.skipped
            out.notReplayed += r.notReplayed
            for (k, v) in r.categories { out.categories[k, default: 0] += v }
            for (k, v) in r.combinations { out.combinations[k, default: 0] += v }
            if let l = r.latency {
                haveLatency = true
                lo.merge(LatencyHistogram(stats: l.original))
                lr.merge(LatencyHistogram(stats: l.replayed))
            }
            for g in r.groups {
                let key = g.category + "\u{0}" + g.route + "\u{0}" + g.signature
                if var m = groups[key] {
                    m.count += g.count
                    for (i, id) in g.examples.enumerated() where m.examples.count < examplesPerGroup {
                        m.examples.append(id)
                        if i < g.replayedExamples.count { m.replayedExamples.append(g.replayedExamples[i]) }
                    }
                    if m.example == nil { m.example = g.example }
                    groups[key] = m
                } else {
                    groups[key] = g
                    order.append(key)
                }
            }
        }
        if reports.contains(where: { $0.combinations.isEmpty && !$0.categories.isEmpty }) {
            out.combinations = [:]  // an old report without combinations: fall back to per-category counts
        }
        out.groups = order.compactMap { groups[$0] }
        for i in out.groups.indices {
            out.groups[i].share = out.compared == 0 ? 0 : Double(out.groups[i].count) / Double(out.compared)
        }
        out.groups = Aggregator.sorted(out.groups)
        if haveLatency { out.latency = LatencyComparison(original: lo.stats, replayed: lr.stats) }
        return out
    }
}
