import HarnessCore

/// Facts about one side of a pair that header normalisation needs.
struct SideContext {
    /// The client address of the front exchange (X-Forwarded-For's last hop).
    var clientHost: String
    /// `http` or `https` for the front connection.
    var frontScheme: String
    /// The front server port.
    var frontPort: UInt16
    /// Request start of the front exchange (microseconds).
    var startMicros: Int64
}

/// Compares two header lists: names case-insensitive, multi-valued headers as lists, Set-Cookie
/// parsed, hop-by-hop and ignored headers left out, time-shifted dates allowed their offset.
struct HeaderComparer {
    var rules: ResolvedRules
    var origins: OriginTable
    var original: SideContext
    var replayed: SideContext
    /// The replay's global time offset (`started_us - recording_started_us`), if known.
    var globalOffsetMicros: Int64?

    /// One header name's values, in wire order.
    struct Run {
        var name: String
        var display: String
        var values: [String]
    }

    /// Headers grouped by lowercased name (sorted by name), without hop-by-hop/ignored/skipped ones.
    func grouped(_ headers: Headers, skip: Set<String>) -> [Run] {
        var connectionListed: Set<String> = []
        var fields: [(name: String, index: Int)] = []
        fields.reserveCapacity(headers.count)
        for (i, f) in headers.enumerated() {
            let n = f.name.lowercased()
            if n == "connection" {
                for token in f.value.split(separator: ",") { connectionListed.insert(String(token).trimmingWhitespace().lowercased()) }
            }
            if NoiseDefaults.hopByHop.contains(n) || rules.ignored.contains(n) || skip.contains(n) { continue }
            fields.append((n, i))
        }
        fields.sort { $0.name != $1.name ? $0.name < $1.name : $0.index < $1.index }
        var runs: [Run] = []
        for (n, i) in fields where !connectionListed.contains(n) {
            if runs.last?.name == n {
                runs[runs.count - 1].values.append(headers[i].value)
            } else {
                runs.append(Run(name: n, display: headers[i].name, values: [headers[i].value]))
            }
        }
        return runs
    }

    /// Appends the differences between `a` (original) and `b` (replayed) to `diffs`.
    func compare(
        _ a: Headers, _ b: Headers, category: DiffCategory, prefix: String, skip: Set<String>,
        into diffs: inout [Difference]
    ) {
        if inOrderEqual(a, b, skip: skip) || quickEqual(a, b, skip: skip) { return }
        let ga = grouped(a, skip: skip)
        let gb = grouped(b, skip: skip)
        var i = 0, j = 0
        while i < ga.count || j < gb.count {
            if j >= gb.count || (i < ga.count && ga[i].name < gb[j].name) {
                diffs.append(Difference(category, "\(prefix) \(canonicalName(ga[i].display)) removed", original: ga[i].values.joined(separator: ", ")))
                i += 1
                continue
            }
            if i >= ga.count || gb[j].name < ga[i].name {
                diffs.append(Difference(category, "\(prefix) \(canonicalName(gb[j].display)) added", replayed: gb[j].values.joined(separator: ", ")))
                j += 1
                continue
            }
            let va = ga[i], vb = gb[j]
            i += 1
            j += 1
            if va.name == "set-cookie" {
                compareCookies(va.values, vb.values, category: category, into: &diffs)
                continue
            }
            if !equalValues(va.name, va.values, vb.values) {
                diffs.append(Difference(
                    category, "\(prefix) \(canonicalName(va.display)) changed", original: va.values.joined(separator: ", "),
                    replayed: vb.values.joined(separator: ", ")))
            }
        }
    }

    func equalValues(_ name: String, _ a: [String], _ b: [String]) -> Bool {
        if a == b { return true }
        if a.count == 1 && b.count == 1 && (a[0].hasPrefix(NoiseDefaults.redactedPrefix) || b[0].hasPrefix(NoiseDefaults.redactedPrefix)) {
            return false  // opaque tokens that differ
        }
        let na = a.map { normalize(name, $0, side: original) }
        let nb = b.map { normalize(name, $0, side: replayed) }
        if na == nb { return true }
        if rules.timeShifted.contains(name), na.count == 1, nb.count == 1 {
            return datesMatch(na[0], nb[0])
        }
        if Self.unsplittable.contains(name) { return false }
        return tokens(na) == tokens(nb)
    }

    static let specialNames: Set<String> = [
        "x-forwarded-for", "forwarded-for", "x-forwarded-host", "x-forwarded-server", "x-forwarded-proto",
        "x-forwarded-scheme", "x-forwarded-port", "origin", "referer",
    ]

    static let unsplittable: Set<String> = ["expires", "last-modified", "date", "if-modified-since", "if-unmodified-since", "retry-after", "set-cookie", "www-authenticate"]

    private func tokens(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",").map { String($0).trimmingWhitespace() } }.filter { !$0.isEmpty }.sorted()
    }

    /// One value as compared: rules' regexes, redaction opaque, origin-mapped where it names one.
    func normalize(_ name: String, _ value: String, side: SideContext) -> String {
        if value.hasPrefix(NoiseDefaults.redactedPrefix) { return value }
        let v = (rules.headerNormalizers.isEmpty ? value : rules.normalizeHeader(name, value)).trimmingWhitespace()
        guard name.utf8.count >= 6, Self.specialNames.contains(name) || rules.productOnly.contains(name) else { return v }
        switch name {
        case "x-forwarded-for", "forwarded-for":
            if v == side.clientHost { return "{client}" }
            return v.split(separator: ",").map {
                let hop = String($0).trimmingWhitespace()
                return hop == side.clientHost ? "{client}" : hop
            }.joined(separator: ", ")
        case "x-forwarded-host", "x-forwarded-server":
            if !v.utf8.contains(UInt8(ascii: ",")) { return origins.normalizeAuthority(v, tls: side.frontScheme == "https") }
            return v.split(separator: ",").map { origins.normalizeAuthority(String($0), tls: side.frontScheme == "https") }
                .joined(separator: ", ")
        case "x-forwarded-proto", "x-forwarded-scheme":
            return v.lowercased() == side.frontScheme ? "{front-scheme}" : v
        case "x-forwarded-port":
            return v == String(side.frontPort) ? "{front-port}" : v
        case "origin", "referer":
            return origins.normalizeURL(v).normalized
        default:
            if rules.productOnly.contains(name) {
                return String(v.prefix { $0 != "/" && $0 != " " })
            }
            return v
        }
    }

    /// Dates equal when shifted by the pair's own offset, the replay's offset, or not at all.
    func datesMatch(_ a: String, _ b: String) -> Bool {
        guard let ta = HTTPDate.parse(a), let tb = HTTPDate.parse(b) else { return a == b }
        let tol = max(rules.toleranceMicros, 1_000_000)
        let delta = (tb - ta) * 1_000_000
        if abs(delta) <= tol { return true }
        if original.startMicros > 0, replayed.startMicros > 0, abs(delta - (replayed.startMicros - original.startMicros)) <= tol {
            return true
        }
        if let g = globalOffsetMicros, abs(delta - g) <= tol { return true }
        return false
    }

    func compareCookies(_ a: [String], _ b: [String], category: DiffCategory, into diffs: inout [Difference]) {
        var ca: [String: SetCookie] = [:], cb: [String: SetCookie] = [:]
        for v in a { let c = SetCookie(v); ca[c.name] = c }
        for v in b { let c = SetCookie(v); cb[c.name] = c }
        for name in Set(ca.keys).union(cb.keys).sorted() {
            guard let x = ca[name] else {
                diffs.append(Difference(category, "cookie \(name) added", replayed: b.first { SetCookie($0).name == name }))
                continue
            }
            guard let y = cb[name] else {
                diffs.append(Difference(category, "cookie \(name) removed", original: a.first { SetCookie($0).name == name }))
                continue
            }
            if rules.cookieValues, x.value != y.value {
                diffs.append(Difference(category, "cookie \(name) value changed", original: x.value, replayed: y.value))
            }
            for attr in Set(x.attributes.keys).union(y.attributes.keys).sorted() {
                let display = SetCookie.displayName(attr)
                switch (x.attributes[attr], y.attributes[attr]) {
                case (nil, let v?):
                    diffs.append(Difference(category, "cookie \(name) attribute \(display) added", replayed: v))
                case (let v?, nil):
                    diffs.append(Difference(category, "cookie \(name) attribute \(display) removed", original: v))
                case (let v?, let w?) where attr != "expires" && v.lowercased() != w.lowercased():
                    if attr == "domain" || attr == "path",
                        origins.normalizeAuthority(v, tls: false) == origins.normalizeAuthority(w, tls: false) { continue }
                    diffs.append(Difference(category, "cookie \(name) attribute \(display) changed", original: v, replayed: w))
                default: break
                }
            }
        }
    }

    /// `x-frame-options` -> `X-Frame-Options` (keeps the case seen when it is not all-lowercase).
    func canonicalName(_ name: String) -> String {
        if name != name.lowercased() { return name }
        return name.split(separator: "-", omittingEmptySubsequences: false)
            .map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: "-")
    }
}
