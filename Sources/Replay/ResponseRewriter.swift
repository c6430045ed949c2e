public import HarnessCore

/// Rewrites a recorded backend answer for the listener that plays it: the recorded backend origin
/// becomes the listener's in `Location`, `Content-Location` and `Set-Cookie` domains (so the
/// staging proxy's reverse rewriting sees the address it is configured with), and date headers
/// move forward by the time since the recording. Pure logic.
public struct ResponseRewriter: Sendable {
    /// The recorded origin and other authorities the backend was known by (Host headers it got).
    public var recorded: Origin
    public var aliases: [String]
    public var listener: Origin
    /// Seconds added to `Date`, `Expires` and `Last-Modified`.
    public var dateShiftSeconds: Int64

    public init(recorded: Origin, aliases: [String] = [], listener: Origin, dateShiftSeconds: Int64 = 0) {
        self.recorded = recorded
        self.aliases = aliases.map { $0.lowercased() }
        self.listener = listener
        self.dateShiftSeconds = dateShiftSeconds
    }

    /// The authorities (`host[:port]`) that stand for the recorded backend.
    var recordedAuthorities: [String] {
        var list = [recorded.authorityWithPort.lowercased()]
        if recorded.isDefaultPort { list.append(recorded.authority.lowercased()) }
        for a in aliases where !list.contains(a) { list.append(a) }
        return list
    }

    public func rewrite(_ headers: Headers) -> Headers {
        var out = headers
        for i in out.indices {
            let name = out[i].name
            if name.caseInsensitiveEquals("Location") || name.caseInsensitiveEquals("Content-Location") {
                out[i].value = rewriteURL(out[i].value)
            } else if name.caseInsensitiveEquals("Set-Cookie") {
                out[i].value = rewriteCookieDomain(out[i].value)
            } else if dateShiftSeconds != 0
                && (name.caseInsensitiveEquals("Date") || name.caseInsensitiveEquals("Expires")
                    || name.caseInsensitiveEquals("Last-Modified"))
            {
                if let t = HTTPDate.parse(out[i].value) { out[i].value = HTTPDate.format(t + dateShiftSeconds) }
            }
        }
        return out
    }

    /// `http://10.0.0.5:8080/x` -> `http://127.0.0.1:9000/x`; anything else unchanged.
    public func rewriteURL(_ value: String) -> String {
        let lower = value.lowercased()
        for authority in recordedAuthorities {
            for prefix in ["\(recorded.scheme)://\(authority)", "//\(authority)"] where lower.hasPrefix(prefix) {
                let rest = value.dropFirst(prefix.count)
                guard rest.isEmpty || rest.first == "/" || rest.first == "?" || rest.first == "#" else { continue }
                let replacement = prefix.hasPrefix("//") ? "//\(listener.authority)" : listener.description
                return replacement + rest
            }
        }
        return value
    }

    /// `Domain=10.0.0.5` -> `Domain=127.0.0.1`.
    public func rewriteCookieDomain(_ value: String) -> String {
        var hosts = Set([recorded.host])
        for a in aliases {
            if let o = Origin(parsing: a) { hosts.insert(o.host) }
        }
        var parts = value.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        var changed = false
        for i in parts.indices.dropFirst() {
            let trimmed = parts[i].drop { $0 == " " }
            guard trimmed.lowercased().hasPrefix("domain=") else { continue }
            let raw = trimmed.dropFirst(7)
            let dotted = raw.hasPrefix(".")
            let domain = (dotted ? raw.dropFirst() : raw).lowercased()
            if hosts.contains(domain) {
                let lead = parts[i].prefix { $0 == " " }
                parts[i] = lead + trimmed.prefix(7) + (dotted ? "." : "") + listener.host
                changed = true
            }
        }
        return changed ? parts.joined(separator: ";") : value
    }
}
