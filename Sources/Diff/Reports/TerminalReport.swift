import Foundation

/// The terminal summary: headline, categories, latency, top groups, worked examples, verdict.
struct TerminalReport {
    var colour: Bool
    var width: Int

    private func paint(_ s: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }

    func render(_ r: DiffReport, topGroups: Int, examples: Int) -> String {
        var out = paint("harness diff", "1") + ": " + ReportText.headline(r) + "\n"
        if r.unpaired + r.skipped > 0 {
            out += "  unpaired \(r.unpaired), skipped (original incomplete) \(r.skipped)\n"
        }
        let cats = ReportText.categorySummary(r)
        if !cats.isEmpty {
            out += "categories: " + cats.map { name, n in
                let s = "\(name) \(n)"
                return r.failOn.contains(name) ? paint(s, "31") : paint(s, "33")
            }.joined(separator: "  ") + "\n"
        }
        if let l = r.latency {
            out += "latency original p50 \(ReportText.ms(l.original.p50Micros)) p99 \(ReportText.ms(l.original.p99Micros))"
            out += "  replayed p50 \(ReportText.ms(l.replayed.p50Micros)) p99 \(ReportText.ms(l.replayed.p99Micros))"
            if let reg = l.p99RegressionPercent { out += String(format: "  (p99 %+.1f%%)", reg) }
            out += "\n"
        }
        if r.groups.isEmpty {
            out += paint("no differences", "32") + "\n"
        } else {
            out += "\ntop groups (\(r.groups.count) in all):\n"
            for (i, g) in r.groups.prefix(topGroups).enumerated() {
                let mark = g.gating ? paint("GATE", "31;1") : paint("info", "2")
                let share = String(format: "%.2f%%", g.share * 100)
                out += String(format: "%3d. ", i + 1) + mark + " \(g.category.padding(17)) \(String(g.count).leftPadding(7)) \(share.leftPadding(8))  \(g.route)  \(paint(g.signature, "1"))"
                out += "  e.g. " + g.examples.prefix(3).map { "#\($0)" }.joined(separator: " ") + "\n"
            }
            var shown = 0
            for g in r.groups where shown < examples {
                guard let ex = g.example else { continue }
                shown += 1
                out += "\n" + paint("example: \(g.signature) — original #\(ex.originalID), replayed #\(ex.replayedID)", "1") + "\n"
                for d in ex.differences.prefix(8) {
                    out += "  \(d.category.rawValue): \(d.signature)"
                    if d.original != nil || d.replayed != nil {
                        out += "  [\(Self.clip(d.original ?? "(absent)")) -> \(Self.clip(d.replayed ?? "(absent)"))]"
                    }
                    out += "\n"
                }
                out += SideBySide.text(ex.original, ex.replayed, width: width, colour: colour)
            }
        }
        let v = ReportText.verdict(r)
        out += "\n" + (v.passed ? paint("gate: PASS", "32;1") : paint("gate: " + v.text, "31;1")) + "\n"
        return out
    }

    static func clip(_ s: String) -> String { s.count > 70 ? String(s.prefix(69)) + "…" : s }
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
    func leftPadding(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
