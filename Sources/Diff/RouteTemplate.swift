/// Route templates for grouping: `GET /users/42/orders/9f1c...` becomes `GET /users/{id}/orders/{id}`.
///
/// A path segment is collapsed to `{id}` when it is all digits, a UUID, a hex string of 8 or more
/// characters with at least one digit, or a long (16+) token mixing letters and digits. The query
/// is left out.
public enum RouteTemplate {
    /// The template of a request: method and collapsed path.
    public static func of(method: String, path: Substring) -> String {
        method + " " + collapsePath(path)
    }

    /// `of(method:path:)` through a bounded cache (the diff's hot path; one per runner).
    final class Cache {
        private struct Key: Hashable {
            var method: String
            var path: Substring
        }
        private var entries: [Key: String] = [:]
        /// The route of `method path`, built once per distinct pair (no string built per lookup).
        func of(method: String, path: Substring) -> String {
            let key = Key(method: method, path: path)
            if let route = entries[key] { return route }
            let route = method + " " + collapsePath(path)
            if entries.count > 50_000 { entries.removeAll(keepingCapacity: true) }
            entries[key] = route
            return route
        }
    }

    /// The path with id-like segments replaced by `{id}`.
    public static func collapsePath(_ path: Substring) -> String {
        var out = ""
        out.reserveCapacity(path.utf8.count)
        var first = true
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            if !first { out += "/" }
            first = false
            out += isID(segment) ? "{id}" : String(segment)
        }
        return out.isEmpty ? "/" : out
    }

    /// Replaces id-like tokens anywhere in free text (for signatures built from values).
    public static func collapseText(_ text: String) -> String {
        var out = ""
        var token = Substring()
        var start = text.startIndex
        var i = text.startIndex
        func flush(_ end: String.Index) {
            token = text[start..<end]
            out += isID(token) ? "{id}" : String(token)
        }
        while i < text.endIndex {
            let c = text[i]
            if !(c.isLetter || c.isNumber || c == "-" || c == "_") {
                flush(i)
                out.append(c)
                start = text.index(after: i)
            }
            i = text.index(after: i)
        }
        flush(text.endIndex)
        return out
    }

    /// True for segments that look like identifiers.
    public static func isID(_ s: Substring) -> Bool {
        let u = s.utf8
        if u.isEmpty { return false }
        var digits = 0, hex = 0, letters = 0, dashes = 0, other = 0
        for b in u {
            switch b {
            case 48...57: digits += 1; hex += 1
            case 97...102, 65...70: hex += 1; letters += 1
            case 103...122, 71...90: letters += 1
            case 45: dashes += 1
            case 95: other += 1
            default: return false
            }
        }
        let n = u.count
        if digits == n { return true }
        if n == 36 && dashes == 4 && hex == 32 { return true }  // UUID
        if dashes == 0 && other == 0 && hex == n && n >= 8 && digits > 0 { return true }
        if n >= 16 && digits > 0 && letters > 0 { return true }
        return false
    }
}
