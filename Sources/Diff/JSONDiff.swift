import Foundation

/// Structural JSON comparison: both documents flattened to `path -> scalar` and compared by path.
enum JSONDiff {
    /// Flattens a JSON document; nil when it does not parse.
    static func flatten(_ bytes: [UInt8]) -> [String: String]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else {
            return nil
        }
        var out: [String: String] = [:]
        walk(object, "$", &out)
        return out
    }

    private static func walk(_ value: Any, _ path: String, _ out: inout [String: String]) {
        if out.count > 100_000 { return }
        switch value {
        case let d as [String: Any]:
            if d.isEmpty { out[path] = "{}" }
            for (k, v) in d { walk(v, path + "." + k, &out) }
        case let a as [Any]:
            if a.isEmpty { out[path] = "[]" }
            for (i, v) in a.enumerated() { walk(v, path + "[\(i)]", &out) }
        case is NSNull:
            out[path] = "null"
        case let s as String:
            out[path] = "\"" + s + "\""
        case let n as NSNumber:
            let type = String(cString: n.objCType)
            out[path] = type == "c" || type == "B" ? (n.boolValue ? "true" : "false") : n.description
        default:
            out[path] = "\(value)"
        }
    }

    /// Field differences (path, original, replayed), honouring ignored and normalised fields.
    static func compare(_ a: [String: String], _ b: [String: String], rules: ResolvedRules, limit: Int = 20)
        -> [(path: String, original: String?, replayed: String?)]
    {
        var out: [(String, String?, String?)] = []
        for path in Set(a.keys).union(b.keys).sorted() {
            if rules.fieldIgnored(path) { continue }
            let x = a[path].map { rules.normalizeField(path, $0) }
            let y = b[path].map { rules.normalizeField(path, $0) }
            if x == y { continue }
            if let x, let y, x.hasPrefix("\"" + NoiseDefaults.redactedPrefix), x == y { continue }
            out.append((path, x, y))
            if out.count >= limit { break }
        }
        return out
    }
}
