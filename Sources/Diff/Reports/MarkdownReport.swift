import Foundation

/// A Markdown summary for a pull-request comment: verdict, counts, categories, latency, the top
/// groups, and a collapsed worked example per gating group.
enum MarkdownReport {
    static func render(_ r: DiffReport, topGroups: Int = 20) -> String {
        let v = ReportText.verdict(r)
        var out = "### Replay diff: " + (v.passed ? "✅ gate passed" : "❌ gate failed") + "\n\n"
        if !v.passed { out += "> " + v.text.dropFirst(6) + "\n\n" }
        out += "| replayed | compared | differing | unpaired |\n|---:|---:|---:|---:|\n"
        out += "| \(r.exchanges) | \(r.compared) | \(r.differing) (\(ReportText.percent(r.differing, r.compared))) | \(r.unpaired) |\n\n"
        let cats = ReportText.categorySummary(r)
        if !cats.isEmpty {
            out += "| category | exchanges | gates |\n|---|---:|:-:|\n"
            for (c, n) in cats { out += "| `\(c)` | \(n) | \(r.failOn.contains(c) ? "yes" : "") |\n" }
            out += "\n"
        }
        if let l = r.latency {
            out += "Latency p50 \(ReportText.ms(l.original.p50Micros)) → \(ReportText.ms(l.replayed.p50Micros)), "
            out += "p99 \(ReportText.ms(l.original.p99Micros)) → \(ReportText.ms(l.replayed.p99Micros))\n\n"
        }
        if r.groups.isEmpty { return out + "No differences.\n" }
        out += "| # | category | route | signature | count | share | examples |\n|---:|---|---|---|---:|---:|---|\n"
        for (i, g) in r.groups.prefix(topGroups).enumerated() {
            out += "| \(i + 1) | \(g.gating ? "**\(g.category)**" : g.category) | `\(cell(g.route))` | \(cell(g.signature)) | \(g.count) | "
            out += String(format: "%.2f%%", g.share * 100) + " | " + g.examples.prefix(3).map { "#\($0)" }.joined(separator: " ") + " |\n"
        }
        if r.groups.count > topGroups { out += "\n…and \(r.groups.count - topGroups) more groups.\n" }
        for g in r.groups.prefix(topGroups) where g.gating {
            guard let ex = g.example else { continue }
            out += "\n<details><summary>\(ReportText.escapeXML(g.signature)) — original #\(ex.originalID), replayed #\(ex.replayedID)</summary>\n\n```diff\n"
            for row in SideBySide.rows(ex.original, ex.replayed, maxLines: 80) {
                switch row {
                case .same(let s): out += "  " + s + "\n"
                case .changed(let a, let b): out += "- " + a + "\n+ " + b + "\n"
                case .left(let a): out += "- " + a + "\n"
                case .right(let b): out += "+ " + b + "\n"
                }
            }
            out += "```\n</details>\n"
        }
        return out
    }

    static func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
}
