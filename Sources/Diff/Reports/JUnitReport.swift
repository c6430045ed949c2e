import Foundation

/// JUnit XML for CI: one testcase per group (a failure when the group's category gates) and one
/// `gate` testcase carrying the verdict.
enum JUnitReport {
    static func render(_ r: DiffReport) -> String {
        let x = ReportText.escapeXML
        let verdict = ReportText.verdict(r)
        let failures = r.groups.filter(\.gating).count + (verdict.passed ? 0 : 1)
        let tests = r.groups.count + 1
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"harness diff\" tests=\"\(tests)\" failures=\"\(failures)\">\n"
        out += "  <testsuite name=\"harness diff\" tests=\"\(tests)\" failures=\"\(failures)\" errors=\"0\" skipped=\"0\">\n"
        out += "    <properties>\n"
        for (k, v) in [("exchanges", r.exchanges), ("compared", r.compared), ("differing", r.differing)] {
            out += "      <property name=\"\(k)\" value=\"\(v)\"/>\n"
        }
        out += "    </properties>\n"
        out += "    <testcase classname=\"diff.gate\" name=\"gate\">\n"
        if !verdict.passed { out += "      <failure message=\"\(x(verdict.text))\" type=\"gate\"/>\n" }
        out += "    </testcase>\n"
        for g in r.groups {
            out += "    <testcase classname=\"diff.\(x(g.category))\" name=\"\(x(g.route)): \(x(g.signature))\">\n"
            var detail = "\(g.count) exchanges (\(String(format: "%.2f%%", g.share * 100))); examples: "
            detail += zip(g.examples, g.replayedExamples + Array(repeating: 0, count: max(0, g.examples.count - g.replayedExamples.count)))
                .map { "original #\($0) / replayed #\($1)" }.joined(separator: ", ")
            if let ex = g.example {
                detail += "\n" + ex.differences.map { "\($0.category.rawValue): \($0.signature) [\($0.original ?? "(absent)") -> \($0.replayed ?? "(absent)")]" }.joined(separator: "\n")
            }
            if g.gating {
                out += "      <failure message=\"\(x(g.signature)) (\(g.count))\" type=\"\(x(g.category))\">\(x(detail))</failure>\n"
            } else {
                out += "      <system-out>\(x(detail))</system-out>\n"
            }
            out += "    </testcase>\n"
        }
        out += "  </testsuite>\n</testsuites>\n"
        return out
    }
}
