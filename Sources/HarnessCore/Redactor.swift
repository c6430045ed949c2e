import Crypto

/// Replaces secret values in exchanges with a keyed hash before anything reaches the disk.
///
/// A redacted value reads `redacted:` followed by 16 hex digits of HMAC-SHA256(key, value), so
/// equal secrets stay equal (a replay still matches requests to backend exchanges) and nothing of
/// the secret is kept. Cookie and Set-Cookie keep cookie names and attributes and lose the values;
/// Authorization keeps its scheme (`Bearer`, `Basic`). Query parameters are redacted by name (in
/// the target and in `application/x-www-form-urlencoded` bodies), JSON body fields by path
/// (`JSONRedactionPath`), and regular-expression matches anywhere in header values, the query and
/// text bodies. A body that changes length is re-framed: `Content-Length` is set to the new length.
public struct Redactor: Sendable {
    /// The set `--redact-header` offers by default.
    public static let defaultHeaders = ["Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key"]
    /// The prefix every redacted value starts with (the diff treats such values as opaque tokens).
    public static let marker = "redacted:"

    public let headerNames: [String]
    public let queryParameters: [String]
    public let jsonPaths: [JSONRedactionPath]
    let patterns: [RedactionPattern]
    let key: SymmetricKey

    /// `key` empty: a fresh random per-recording key.
    public init(headerNames: [String], queryParameters: [String] = [], key: [UInt8] = []) {
        self.init(names: headerNames, query: queryParameters, paths: [], compiled: [], key: key)
    }

    /// Every kind of rule: `jsonPaths` in `JSONRedactionPath` syntax, `patterns` as regular
    /// expressions (ICU syntax; a pattern with a capture group redacts the first group, otherwise
    /// the whole match). Throws a usage error naming a malformed path or pattern.
    public init(
        headerNames: [String], queryParameters: [String] = [], jsonPaths: [String], patterns: [String], key: [UInt8] = []
    ) throws(HarnessError) {
        var paths: [JSONRedactionPath] = []
        for p in jsonPaths { paths.append(try JSONRedactionPath(parsing: p)) }
        var compiled: [RedactionPattern] = []
        for p in patterns { compiled.append(try RedactionPattern(p)) }
        self.init(names: headerNames, query: queryParameters, paths: paths, compiled: compiled, key: key)
    }

    private init(names: [String], query: [String], paths: [JSONRedactionPath], compiled: [RedactionPattern], key: [UInt8]) {
        self.headerNames = names
        self.queryParameters = query
        self.jsonPaths = paths
        self.patterns = compiled
        self.key = key.isEmpty ? SymmetricKey(size: .bits256) : SymmetricKey(data: key)
    }

    /// True when the redactor would change nothing.
    public var isEmpty: Bool { headerNames.isEmpty && queryParameters.isEmpty && jsonPaths.isEmpty && patterns.isEmpty }

    /// What a recording's header says about its redaction (`redacted` key). Regular expressions
    /// are counted, not written: a pattern may spell the secret it looks for.
    public var headerDescription: String {
        var parts = headerNames.map { "header:" + $0 } + queryParameters.map { "query:" + $0 }
        parts += jsonPaths.map { "json:" + $0.description }
        if !patterns.isEmpty { parts.append("regex:\(patterns.count)") }
        return parts.joined(separator: ",")
    }

    /// `redact` as a closure, for the places that take a transform (the proxy's writer thread,
    /// the capture engine).
    public var transform: @Sendable (inout Exchange) -> Void { { self.redact(&$0) } }

    /// The keyed token that stands for `value`.
    public func token(_ value: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(value.utf8), using: key)
        let hex = mac.prefix(8).map { byte -> String in
            let s = String(byte, radix: 16)
            return byte < 16 ? "0" + s : s
        }.joined()
        return Redactor.marker + hex
    }

    /// Redacts headers, trailers and query parameters of both request and response.
    public func redact(_ exchange: inout Exchange) {
        guard !isEmpty else { return }
        var changed = false
        changed = redactHeaders(&exchange.request.headers) || changed
        changed = redactHeaders(&exchange.request.trailers) || changed
        if var response = exchange.response {
            changed = redactHeaders(&response.headers) || changed
            changed = redactHeaders(&response.trailers) || changed
            for i in response.interim.indices { changed = redactHeaders(&response.interim[i].headers) || changed }
            exchange.response = response
        }
        if !queryParameters.isEmpty, let redactedTarget = redactQuery(exchange.request.target) {
            exchange.request.target = redactedTarget
            changed = true
        }
        changed = redactBodies(&exchange) || changed
        if !patterns.isEmpty { changed = redactPatterns(&exchange) || changed }
        if changed { exchange.flags.redacted = true }
    }

    private func redactHeaders(_ headers: inout Headers) -> Bool {
        var changed = false
        for i in headers.indices {
            let name = headers[i].name
            guard headerNames.contains(where: { $0.caseInsensitiveEquals(name) }) else { continue }
            let value = headers[i].value
            if value.hasPrefix(Redactor.marker) { continue }
            let redacted: String
            if name.caseInsensitiveEquals("Cookie") {
                redacted = redactCookiePairs(value, separator: ";", attributesFollow: false)
            } else if name.caseInsensitiveEquals("Set-Cookie") {
                redacted = redactCookiePairs(value, separator: ";", attributesFollow: true)
            } else if name.caseInsensitiveEquals("Authorization") || name.caseInsensitiveEquals("Proxy-Authorization"),
                let space = value.firstIndex(of: " ")
            {
                let credentials = String(value[value.index(after: space)...])
                if credentials.hasPrefix(Redactor.marker) { continue }
                redacted = String(value[..<space]) + " " + token(credentials)
            } else {
                redacted = token(value)
            }
            if redacted != value {
                headers[i].value = redacted
                changed = true
            }
        }
        return changed
    }

    /// `a=1; b=2` -> `a=<token>; b=<token>`; for Set-Cookie only the first pair is a cookie.
    private func redactCookiePairs(_ value: String, separator: Character, attributesFollow: Bool) -> String {
        var parts = value.split(separator: separator, omittingEmptySubsequences: false).map(String.init)
        let count = attributesFollow ? min(1, parts.count) : parts.count
        for i in 0..<count {
            let part = parts[i]
            guard let eq = part.firstIndex(of: "=") else { continue }
            let cookieValue = String(part[part.index(after: eq)...])
            if cookieValue.hasPrefix(Redactor.marker) || cookieValue.isEmpty { continue }
            parts[i] = String(part[...eq]) + token(cookieValue)
        }
        return parts.joined(separator: String(separator))
    }

    private func redactQuery(_ target: String) -> String? {
        guard let q = target.firstIndex(of: "?") else { return nil }
        guard let query = redactFormPairs(target[target.index(after: q)...]) else { return nil }
        return String(target[...q]) + query
    }

    /// `a=1&b=2` with the named parameters' values replaced; nil when none is named.
    func redactFormPairs(_ query: Substring) -> String? {
        var changed = false
        let pairs = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            guard let eq = pair.firstIndex(of: "=") else { return String(pair) }
            let name = String(pair[..<eq])
            let value = String(pair[pair.index(after: eq)...])
            guard queryParameters.contains(name), !value.hasPrefix(Redactor.marker) else { return String(pair) }
            changed = true
            return name + "=" + token(value)
        }
        return changed ? pairs.joined(separator: "&") : nil
    }
}
