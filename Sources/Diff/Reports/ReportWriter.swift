import Foundation
import HarnessCore

/// Where to write a report, by format. `replay`, `diff`, `demo` and `report merge` all write
/// through here, so their outputs are identical.
public struct ReportOutputs: Sendable {
    /// The JSON report (CONTRACT keys).
    public var json: String?
    /// JUnit XML: a testcase per group, failures for gating groups.
    public var junit: String?
    /// One self-contained HTML page.
    public var html: String?
    /// A Markdown summary for a pull-request comment.
    public var markdown: String?
    public init(json: String? = nil, junit: String? = nil, html: String? = nil, markdown: String? = nil) {
        self.json = json
        self.junit = junit
        self.html = html
        self.markdown = markdown
    }
    public var isEmpty: Bool { json == nil && junit == nil && html == nil && markdown == nil }
}

/// Writes a report in every requested format (`-` writes to stdout).
public enum ReportWriter {
    public static func write(_ report: DiffReport, to outputs: ReportOutputs) throws {
        if let p = outputs.json { try save(try report.json() + Data("\n".utf8), p) }
        if let p = outputs.junit { try save(Data(JUnitReport.render(report).utf8), p) }
        if let p = outputs.html { try save(Data(HTMLReport.render(report).utf8), p) }
        if let p = outputs.markdown { try save(Data(MarkdownReport.render(report).utf8), p) }
    }

    /// The terminal summary (colour when `colour`), with `examples` worked examples.
    public static func terminalSummary(_ report: DiffReport, colour: Bool, topGroups: Int = 10, examples: Int = 3, width: Int = 160) -> String {
        TerminalReport(colour: colour, width: width).render(report, topGroups: topGroups, examples: examples)
    }

    static func save(_ data: Data, _ path: String) throws {
        if path == "-" {
            Console.out(String(decoding: data, as: UTF8.self))
            return
        }
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw HarnessError(.io, "cannot write the report", path: path)
        }
    }
}

/// Small helpers shared by the report renderers.
enum ReportText {
    static func percent(_ part: Int, _ whole: Int) -> String {
        whole == 0 ? "0%" : String(format: "%.2f%%", Double(part) * 100 / Double(whole))
    }
    static func ms(_ micros: Int64) -> String {
        micros >= 10_000 ? String(format: "%.0f ms", Double(micros) / 1000) : String(format: "%.2f ms", Double(micros) / 1000)
    }
    static func verdict(_ r: DiffReport) -> (passed: Bool, text: String) {
        let g = r.gate ?? GateRecord(passed: Gate.evaluate(r, options: GateOptions(failOn: Set(r.failOn))).passed, reasons: [], failOn: r.failOn, maxDiffRate: 0)
        return (g.passed, g.passed ? "PASS" : "FAIL: " + g.reasons.joined(separator: "; "))
    }
    static func escapeXML(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if ch.value < 32 && ch != "\n" && ch != "\t" && ch != "\r" { out += "?" } else { out.unicodeScalars.append(ch) }
            }
        }
        return out
    }
    static func categorySummary(_ r: DiffReport) -> [(String, Int)] {
        DiffCategory.allCases.compactMap { c in r.categories[c.rawValue].map { (c.rawValue, $0) } }
            + r.categories.filter { DiffCategory(rawValue: $0.key) == nil }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
    /// "Replay of X: N replayed, M compared, K differing (p%) in cats".
    static func headline(_ r: DiffReport) -> String {
        "\(r.exchanges) replayed, \(r.compared) compared, \(r.differing) differing (\(percent(r.differing, r.compared))) in \(r.failOn.joined(separator: ","))"
    }
}
