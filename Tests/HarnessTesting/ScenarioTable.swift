import Foundation

/// One cell of the scenario matrix: a recording replayed against one staging config.
public struct ScenarioRow: Sendable {
    public var proxy: String
    public var variant: String
    /// `tap` (harness record) or `capture` (harness capture -i lo).
    public var recording: String
    public var seeds: String
    public var expected: Set<String>
    /// Category -> differences reported.
    public var fired: [String: Int]
    /// Replayed front exchanges.
    public var replayed: Int
    /// Why the cell could not run (the replay threw), if it did not.
    public var failure: String?
    /// Wall time of the cell (start the proxy, replay, diff, stop).
    public var seconds: Double = 0

    public init(
        proxy: String, variant: String, recording: String, seeds: String, expected: Set<String>, fired: [String: Int],
        replayed: Int, failure: String? = nil
    ) {
        self.proxy = proxy
        self.variant = variant
        self.recording = recording
        self.seeds = seeds
        self.expected = expected
        self.fired = fired
        self.replayed = replayed
        self.failure = failure
    }

    /// Every expected category fired and nothing else did.
    public var ok: Bool { failure == nil && Set(fired.keys) == expected && replayed > 0 }

    public var expectedText: String { expected.isEmpty ? "(silent)" : expected.sorted().joined(separator: ",") }
    public var firedText: String {
        if let failure { return "FAILED: \(failure)" }
        return fired.isEmpty ? "(silent)" : fired.sorted { $0.key < $1.key }.map { "\($0.key)(\($0.value))" }.joined(separator: ",")
    }
}

/// Renders the matrix as a plain-text table (also valid Markdown).
public enum ScenarioTable {
    public static func render(_ rows: [ScenarioRow]) -> String {
        let header = ["proxy", "variant", "recording", "fronts", "expected", "fired", "verdict", "secs", "seeded change"]
        let body = rows.map {
            [$0.proxy, $0.variant, $0.recording, String($0.replayed), $0.expectedText, $0.firedText,
             $0.ok ? "ok" : "MISMATCH", String(format: "%.1f", $0.seconds), $0.seeds]
        }
        var widths = header.map(\.count)
        for r in body { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            "| " + cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
        }
        var out = [line(header), "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|"]
        out += body.map(line)
        let bad = rows.filter { !$0.ok }.count
        out.append("")
        out.append("\(rows.count) cells, \(rows.count - bad) ok, \(bad) MISMATCH")
        return out.joined(separator: "\n")
    }
}
