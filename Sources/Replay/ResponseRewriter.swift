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

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) parsing and formatting without locale state.
public enum HTTPDate {
    static let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Seconds since the epoch, or nil when the value is not an IMF-fixdate.
    public static func parse(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int64(parts[1]),
            let monthIndex = months.firstIndex(of: String(parts[2])), let year = Int64(parts[3])
        else { return nil }
        let hms = parts[4].split(separator: ":")
        guard hms.count == 3, let h = Int64(hms[0]), let m = Int64(hms[1]), let s = Int64(hms[2]) else { return nil }
        return daysFromCivil(year, Int64(monthIndex + 1), day) * 86400 + h * 3600 + m * 60 + s
    }

    public static func format(_ seconds: Int64) -> String {
        let dayCount = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secs = seconds - dayCount * 86400
        let (y, mo, d) = civilFromDays(dayCount)
        let weekday = days[Int(((dayCount % 7) + 7) % 7)]
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(weekday), \(two(d)) \(months[Int(mo - 1)]) \(y) \(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60)) GMT"
    }

    // Howard Hinnant's days_from_civil / civil_from_days.
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
