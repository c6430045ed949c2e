import Foundation

/// One self-contained HTML page (no network: inline CSS, JS and SVG): verdict, summary,
/// categories, latency histograms original vs replayed, the groups, and a side-by-side diff of
/// each group's example (click a group to open it; type to filter).
enum HTMLReport {
    static func render(_ r: DiffReport) -> String {
        let e = ReportText.escapeXML
        let v = ReportText.verdict(r)
        var h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        h += "<title>harness diff: \(v.passed ? "PASS" : "FAIL")</title><style>\(css)</style></head><body>\n"
        h += "<header class=\"\(v.passed ? "pass" : "fail")\"><h1>Replay diff — \(v.passed ? "gate passed" : "gate failed")</h1>"
        if !v.passed { h += "<p id=\"reasons\">\(e(String(v.text.dropFirst(6))))</p>" }
        if let o = r.original, let res = r.result { h += "<p class=\"files\">\(e(o)) ↔ \(e(res))</p>" }
        h += "</header>\n<main>\n<section id=\"summary\"><h2>Summary</h2><table class=\"kv\">"
        for (k, n) in [("replayed", r.exchanges), ("compared", r.compared), ("differing (gating)", r.differing),
                       ("unpaired", r.unpaired), ("skipped", r.skipped), ("groups", r.groups.count)] {
            h += "<tr><th>\(k)</th><td>\(n)</td></tr>"
        }
        h += "<tr><th>fail on</th><td>\(e(r.failOn.joined(separator: ", ")))</td></tr></table>"
        let cats = ReportText.categorySummary(r)
        if !cats.isEmpty {
            h += "<table id=\"categories\"><tr><th>category</th><th>exchanges</th><th>share</th></tr>"
            for (c, n) in cats {
                h += "<tr class=\"\(r.failOn.contains(c) ? "gating" : "")\"><td>\(e(c))</td><td>\(n)</td><td>\(ReportText.percent(n, r.compared))</td></tr>"
            }
            h += "</table>"
        }
        h += "</section>\n"
        if let l = r.latency {
            h += "<section id=\"latency\"><h2>Latency</h2>"
            h += "<p>original p50 \(ReportText.ms(l.original.p50Micros)), p99 \(ReportText.ms(l.original.p99Micros)) · "
            h += "replayed p50 \(ReportText.ms(l.replayed.p50Micros)), p99 \(ReportText.ms(l.replayed.p99Micros))"
            if let reg = l.p99RegressionPercent { h += String(format: " · p99 %+.1f%%", reg) }
            h += "</p>" + histogram(l) + "</section>\n"
        }
        h += "<section id=\"groups\"><h2>Groups</h2>"
        if r.groups.isEmpty {
            h += "<p id=\"nodiff\">No differences.</p>"
        } else {
            h += "<input id=\"filter\" placeholder=\"filter groups (category, route, signature)…\" autocomplete=\"off\">"
            h += "<table id=\"grouptable\"><thead><tr><th>#</th><th>category</th><th>route</th><th>signature</th><th>count</th><th>share</th><th>examples</th></tr></thead><tbody>"
            for (i, g) in r.groups.enumerated() {
                h += "<tr class=\"group\(g.gating ? " gating" : "")\" data-i=\"\(i)\"><td>\(i + 1)</td><td class=\"cat\">\(e(g.category))</td>"
                h += "<td><code>\(e(g.route))</code></td><td class=\"sig\">\(e(g.signature))</td><td>\(g.count)</td>"
                h += "<td>\(String(format: "%.2f%%", g.share * 100))</td><td>\(g.examples.prefix(5).map { "#\($0)" }.joined(separator: " "))</td></tr>"
                h += "<tr class=\"example\" id=\"ex\(i)\"><td colspan=\"7\">" + example(g) + "</td></tr>"
            }
            h += "</tbody></table>"
        }
        h += "</section>\n</main>\n<script>\(js)</script>\n</body></html>\n"
        return h
    }

    static func example(_ g: DiffGroup) -> String {
        let e = ReportText.escapeXML
        guard let ex = g.example else { return "<p>No stored example (see ids).</p>" }
        var h = "<p>original #\(ex.originalID) ↔ replayed #\(ex.replayedID)</p><ul class=\"diffs\">"
        for d in ex.differences.prefix(20) {
            h += "<li><b>\(e(d.category.rawValue))</b> \(e(d.signature))"
            if d.original != nil || d.replayed != nil {
                h += ": <del>\(e(d.original ?? "(absent)"))</del> → <ins>\(e(d.replayed ?? "(absent)"))</ins>"
            }
            h += "</li>"
        }
        h += "</ul><table class=\"sbs\"><tr><th>original</th><th>replayed</th></tr>"
        for row in SideBySide.rows(ex.original, ex.replayed) {
            switch row {
            case .same(let s): h += "<tr><td>\(e(s))</td><td>\(e(s))</td></tr>"
            case .changed(let a, let b): h += "<tr class=\"chg\"><td>\(e(a))</td><td>\(e(b))</td></tr>"
            case .left(let a): h += "<tr class=\"del\"><td>\(e(a))</td><td></td></tr>"
            case .right(let b): h += "<tr class=\"add\"><td></td><td>\(e(b))</td></tr>"
            }
        }
        return h + "</table>"
    }

    /// Two histograms (original, replayed) over shared log-spaced bins, as inline SVG bars.
    static func histogram(_ l: LatencyComparison) -> String {
        let a = LatencyHistogram(stats: l.original), b = LatencyHistogram(stats: l.replayed)
        func values(_ h: LatencyHistogram) -> [(Double, Int)] {
            h.counts.enumerated().filter { $0.element > 0 }.map { (Double(max(1, LatencyHistogram.lowerBound($0.offset))), $0.element) }
        }
        let va = values(a), vb = values(b)
        let all = va + vb
        guard let lo = all.map(\.0).min(), let hi = all.map(\.0).max() else { return "" }
        let bins = 40
        let llo = log10(lo), lhi = max(log10(hi), llo + 0.001)
        func bin(_ x: Double) -> Int { min(bins - 1, max(0, Int((log10(x) - llo) / (lhi - llo) * Double(bins)))) }
        var ca = [Int](repeating: 0, count: bins), cb = ca
        for (x, n) in va { ca[bin(x)] += n }
        for (x, n) in vb { cb[bin(x)] += n }
        let fa = ca.map { a.total == 0 ? 0 : Double($0) / Double(a.total) }
        let fb = cb.map { b.total == 0 ? 0 : Double($0) / Double(b.total) }
        let peak = max(fa.max() ?? 0, fb.max() ?? 0, 0.0001)
        let w = 720.0, hgt = 200.0, bw = w / Double(bins)
        var s = "<svg id=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(w)) \(Int(hgt) + 30)\" width=\"\(Int(w))\" height=\"\(Int(hgt) + 30)\" role=\"img\" aria-label=\"latency histogram\">"
        for i in 0..<bins {
            let x = Double(i) * bw
            let ha = fa[i] / peak * hgt, hb = fb[i] / peak * hgt
            s += String(format: "<rect class=\"orig\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>original %.1f%%</title></rect>", x, hgt - ha, bw / 2 - 1, ha, fa[i] * 100)
            s += String(format: "<rect class=\"repl\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>replayed %.1f%%</title></rect>", x + bw / 2, hgt - hb, bw / 2 - 1, hb, fb[i] * 100)
        }
        for i in stride(from: 0, through: bins, by: 10) {
            let x = Double(i) * bw
            let micros = pow(10, llo + (lhi - llo) * Double(i) / Double(bins))
            s += String(format: "<text x=\"%.1f\" y=\"%.0f\">%@</text>", min(x, w - 60), hgt + 18, ReportText.ms(Int64(micros)))
        }
        s += "<text x=\"\(Int(w) - 220)\" y=\"14\" class=\"orig\">■ original</text><text x=\"\(Int(w) - 120)\" y=\"14\" class=\"repl\">■ replayed</text></svg>"
        return s
    }

    static let css = """
    body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
    header{padding:12px 24px;color:#fff}header.pass{background:#2e7d32}header.fail{background:#c62828}
    header h1{margin:0;font-size:22px}.files{opacity:.8;font-size:12px}
    main{padding:8px 24px}h2{font-size:17px;border-bottom:1px solid #ddd}
    table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
    table.kv th{font-weight:normal;color:#555}tr.gating td.cat,tr.gating td:first-child{color:#c62828;font-weight:bold}
    tr.group{cursor:pointer}tr.group:hover{background:#eef}tr.example{display:none}tr.example.open{display:table-row}
    #filter{width:420px;padding:4px;margin:6px 0}
    table.sbs{font:12px/1.3 ui-monospace,monospace;width:100%;table-layout:fixed}table.sbs td{white-space:pre-wrap;word-break:break-all;border:none;border-right:1px solid #ddd}
    tr.chg td{background:#fff3c4}tr.del td:first-child{background:#fdd}tr.add td:last-child{background:#dfd}
    del{background:#fdd;text-decoration:none}ins{background:#dfd;text-decoration:none}
    svg rect.orig{fill:#1565c0}svg rect.repl{fill:#ef6c00}svg text{font-size:11px;fill:#444}svg text.orig{fill:#1565c0}svg text.repl{fill:#ef6c00}
    """

    static let js = """
    document.querySelectorAll('tr.group').forEach(function(r){r.addEventListener('click',function(){
      var ex=document.getElementById('ex'+r.dataset.i);if(ex)ex.classList.toggle('open');});});
    var f=document.getElementById('filter');if(f)f.addEventListener('input',function(){var q=f.value.toLowerCase();
      document.querySelectorAll('tr.group').forEach(function(r){var show=r.textContent.toLowerCase().indexOf(q)>=0;
      r.style.display=show?'':'none';var ex=document.getElementById('ex'+r.dataset.i);if(ex&&!show)ex.classList.remove('open');});});
    var first=document.querySelector('tr.group');if(first){var ex=document.getElementById('ex'+first.dataset.i);if(ex)ex.classList.add('open');}
    """
}
