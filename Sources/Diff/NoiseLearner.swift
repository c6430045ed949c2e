import Foundation
import HarnessCore

/// Learned noise, Diffy-style: what differs between two runs against an unchanged configuration
/// (two replays, or the recording and one replay) is noise. Header, cookie, backend-header and
/// body-field groups over the thresholds become rules; status, location, error and backend
/// match differences are never learned (they stay regressions).
public struct NoiseLearner: Sendable {
    /// A group is noise when it has at least this many exchanges...
    public var minCount: Int
    /// ...and at least this share (0...1) of compared exchanges.
    public var minShare: Double

    public init(minCount: Int = 1, minShare: Double = 0) {
        self.minCount = minCount
        self.minShare = minShare
    }

    /// Learns from two logs of the same recording. `first` may be the recording itself or a result.
    public func learn(first: String, second: String, options: DiffOptions = DiffOptions()) throws -> String {
        let header = try LogReader(path: first).header
        var o = options
        o.originalIsResult = header["source"] == "replay" || header["replayOf"] != nil || header["recording"] != nil
        o.extraRulesYAML = nil
        let report = try DiffEngine.diff(originalPath: first, resultPath: second, options: o)
        return rulesYAML(from: report)
    }

    /// The rules file (YAML) that silences the report's learnable groups.
    public func rulesYAML(from report: DiffReport) -> String {
        var perRoute: [String: (headers: Set<String>, fields: Set<String>, body: Bool)] = [:]
        for g in report.groups where g.count >= minCount && g.share >= minShare {
            var entry = perRoute[g.route] ?? ([], [], false)
            guard ["header", "body", "backend_request"].contains(g.category) else { continue }
            let words = g.signature.split(separator: " ").map(String.init)
            let sig = g.signature
            if sig.hasPrefix("header "), words.count >= 3 {
                entry.headers.insert(words[1])
            } else if sig.hasPrefix("backend header "), words.count >= 4 {
                entry.headers.insert(words[2])
            } else if sig.hasPrefix("cookie ") {
                entry.headers.insert("Set-Cookie")
            } else if sig.hasPrefix("body field "), words.count >= 4 {
                entry.fields.insert(words[2])
            } else if sig.hasPrefix("backend body field "), words.count >= 5 {
                entry.fields.insert(words[3])
            } else if sig.hasPrefix("body changed") || sig.hasPrefix("backend body changed") {
                entry.body = true
            }
            perRoute[g.route] = entry
        }
        var y = "# Learned noise: differences between two runs against an unchanged configuration.\n"
        y += "# \(report.compared) pairs compared; thresholds: count >= \(minCount), share >= \(minShare).\n"
        let routes = perRoute.filter { !$0.value.headers.isEmpty || !$0.value.fields.isEmpty || $0.value.body }
        if routes.isEmpty { return y + "rules: []\n" }
        y += "rules:\n"
        for (route, e) in routes.sorted(by: { $0.key < $1.key }) {
            let (method, regex) = Self.routeRegex(route)
            y += "  - route: \(Self.quote(regex))\n"
            if let method { y += "    method: \(method)\n" }
            if !e.headers.isEmpty { y += "    ignore_headers: [\(e.headers.sorted().map(Self.quote).joined(separator: ", "))]\n" }
            if !e.fields.isEmpty { y += "    ignore_fields: [\(e.fields.sorted().map(Self.quote).joined(separator: ", "))]\n" }
            if e.body { y += "    ignore_body: true\n" }
        }
        return y
    }

    /// `GET /users/{id}` -> (`GET`, `^/users/[^/]+$`).
    static func routeRegex(_ route: String) -> (String?, String) {
        let parts = route.split(separator: " ", maxSplits: 1)
        let method = parts.count == 2 ? String(parts[0]) : nil
        let path = parts.count == 2 ? String(parts[1]) : route
        let escaped = path.components(separatedBy: "{id}").map { piece in
            piece.map { "\\.^$|?*+()[]{}".contains($0) ? "\\" + String($0) : String($0) }.joined()
        }.joined(separator: "[^/]+")
        return (method, "^" + escaped + "$")
    }

    static func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
