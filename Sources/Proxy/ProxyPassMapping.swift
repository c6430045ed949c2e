public import HarnessCore

/// mod_proxy's URL mapping, as pure functions: `ProxyPass` matching and mapping, `ProxyPassReverse`
/// rewriting, and the request/response header rules of mod_proxy_http.
public enum ProxyPassMapping {
    /// How many characters of `path` the route prefix `alias` matches, or nil (mod_proxy's
    /// `alias_match`): a `/` in the alias matches one or more `/` in the path, other characters
    /// compare literally, and the alias's last segment must match a whole segment (`/app` matches
    /// `/app` and `/app/x` but not `/apple`).
    public static func aliasMatch(path: Substring, alias: String) -> Int? {
        var path = path
        var alias = alias
        return path.withUTF8 { u in alias.withUTF8 { a in aliasMatch(u, a) } }
    }

    private static func aliasMatch(_ u: UnsafeBufferPointer<UInt8>, _ a: UnsafeBufferPointer<UInt8>) -> Int? {
        var ui = 0
        var ai = 0
        while ai < a.count && ui < u.count {
            if a[ai] == UInt8(ascii: "/") {
                if u[ui] != UInt8(ascii: "/") { return nil }
                while ai < a.count && a[ai] == UInt8(ascii: "/") { ai += 1 }
                while ui < u.count && u[ui] == UInt8(ascii: "/") { ui += 1 }
            } else {
                if u[ui] != a[ai] { return nil }
                ui += 1
                ai += 1
            }
        }
        if ui == u.count && ai != a.count { return nil }
        if ai == 0 { return a.isEmpty ? 0 : nil }
        if a[ai - 1] != UInt8(ascii: "/") && ui < u.count && u[ui] != UInt8(ascii: "/") { return nil }
        return ui
    }

    /// The index of the route that takes `path`, and how many characters of the path it matched.
    public static func route(
        for path: Substring, in routes: [ProxyRoute], matching: RouteMatching
    ) -> (index: Int, matched: Int)? {
        var best: (index: Int, matched: Int, aliasLength: Int)?
        for (i, r) in routes.enumerated() {
            guard let n = aliasMatch(path: path, alias: r.prefix) else { continue }
            if matching == .configurationOrder { return (i, n) }
            if best == nil || r.prefix.utf8.count > best!.aliasLength { best = (i, n, r.prefix.utf8.count) }
        }
        return best.map { ($0.index, $0.matched) }
    }

    /// The request-target to send upstream: the member's path followed by the unmatched rest of the
    /// client's path (plain concatenation, like mod_proxy), then the query. Nil when the result
    /// is not a usable origin-form target (e.g. `ProxyPass / http://b` maps `/x` to `http://bx`).
    public static func upstreamTarget(memberPath: String, path: Substring, matched: Int, query: Substring?) -> String? {
        let rest = path.utf8.dropFirst(matched)
        var target = memberPath + String(decoding: rest, as: UTF8.self)
        guard target.hasPrefix("/") else { return nil }
        if let query { target += "?" + query }
        return target
    }

    /// `ProxyPassReverse`: when `value` starts with a member URL of a route, that URL is replaced by
    /// the route's prefix, and a path-only result is made absolute with the client's scheme and Host
    /// (`ap_construct_url`, `UseCanonicalName Off`). Nil when no member URL matches.
    public static func reverseMap(_ value: String, routes: [ProxyRoute], frontScheme: String, frontHost: String) -> String? {
        for r in routes {
            for m in r.upstreams {
                let real = m.url
                guard value.utf8.count >= real.utf8.count,
                    value.utf8.prefix(real.utf8.count).elementsEqual(real.utf8, by: { lowerASCII($0) == lowerASCII($1) })
                else { continue }
                let mapped = r.prefix + String(decoding: value.utf8.dropFirst(real.utf8.count), as: UTF8.self)
                if mapped.contains("://") { return mapped }
                return "\(frontScheme)://\(frontHost)\(mapped)"
            }
        }
        return nil
    }

    /// Response headers `ProxyPassReverse` rewrites.
    public static let reverseHeaders = ["Location", "Content-Location", "URI"]

    /// Applies `reverseMap` to Location, Content-Location and URI.
    public static func reverseRewrite(_ headers: inout Headers, routes: [ProxyRoute], frontScheme: String, frontHost: String) {
        for i in headers.indices where reverseHeaders.contains(where: { headers[i].name.caseInsensitiveEquals($0) }) {
            if let mapped = reverseMap(headers[i].value, routes: routes, frontScheme: frontScheme, frontHost: frontHost) {
                headers[i].value = mapped
            }
        }
    }

    /// Hop-by-hop headers never forwarded (RFC 9110 7.6.1 plus the ones mod_proxy clears).
    static let hopByHop = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    ]

    /// Removes hop-by-hop headers and every header the Connection header names; `keepUpgrade` keeps
    /// `Upgrade` (and `Connection: upgrade` is re-added by the caller) for a tunnelled upgrade.
    public static func stripHopByHop(_ headers: inout Headers, keepUpgrade: Bool = false) {
        // Without a hop-by-hop field there is no Connection field either: nothing names a field
        // to remove, and the list stays as it is (no copy).
        guard headers.contains(where: { isHopByHop($0.name) }) else { return }
        // Fields the Connection header names. Hop-by-hop names among them go anyway and are not
        // collected, so the usual `Connection: keep-alive` allocates nothing.
        var named: [String] = []
        for i in headers.indices where headers[i].name.caseInsensitiveEquals("Connection") {
            var value = headers[i].value
            value.withUTF8 { bytes in
                var start = 0
                while start <= bytes.count {
                    var end = start
                    while end < bytes.count && bytes[end] != UInt8(ascii: ",") { end += 1 }
                    var lo = start
                    var hi = end
                    while lo < hi && (bytes[lo] == 0x20 || bytes[lo] == 0x09) { lo += 1 }
                    while hi > lo && (bytes[hi - 1] == 0x20 || bytes[hi - 1] == 0x09) { hi -= 1 }
                    if hi > lo {
                        let token = String(decoding: UnsafeBufferPointer(rebasing: bytes[lo..<hi]), as: UTF8.self)
                        if !isHopByHop(token) { named.append(token) }
                    }
                    start = end + 1
                }
            }
        }
        // The kept fields go to a new array: the list is usually shared (the recorded upstream
        // response holds it too), and `removeAll` copied all of it before dropping any.
        var kept = Headers()
        kept.reserveCapacity(headers.count)
        for i in headers.indices {
            let n = headers[i].name
            if !(keepUpgrade && n.caseInsensitiveEquals("upgrade"))
                && (isHopByHop(n) || (!named.isEmpty && named.contains { n.caseInsensitiveEquals($0) }))
            {
                continue
            }
            kept.append(headers[i])
        }
        headers = kept
    }

    /// Whether `name` is one of `hopByHop` (ASCII case-insensitive), without allocating.
    @inline(__always)
    static func isHopByHop(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2, 7, 10, 16, 17: hopByHop.contains { name.caseInsensitiveEquals($0) }
        default: false
        }
    }

    /// `apr_table_mergen`: every existing value of `name` and `value` joined by ", " into one field
    /// at the place of the first one (or appended).
    public static func merge(_ headers: inout Headers, _ name: String, _ value: String) {
        let existing = headers.all(name)
        if existing.isEmpty {
            headers.append(HeaderField(name, value))
        } else {
            headers.set(name, (existing + [value]).joined(separator: ", "))
        }
    }

    /// X-Forwarded-For / -Host / -Server as mod_proxy_http adds them (`client` = client IP,
    /// `originalHost` = the client's Host header, `serverName` = ServerName).
    public static func addForwarded(_ headers: inout Headers, client: String, originalHost: String?, serverName: String) {
        merge(&headers, "X-Forwarded-For", client)
        if let originalHost { merge(&headers, "X-Forwarded-Host", originalHost) }
        merge(&headers, "X-Forwarded-Server", serverName)
    }

    /// `RequestHeader set` / `Header set`: replaces every value; an empty value removes the header.
    public static func apply(_ sets: [HeaderField], to headers: inout Headers) {
        for s in sets {
            if s.value.isEmpty { headers.remove(s.name) } else { headers.set(s.name, s.value) }
        }
    }

    private static func lowerASCII(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c | 0x20 : c }
}
