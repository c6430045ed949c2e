import HarnessCore

extension HeaderComparer {
    /// An order-insensitive digest of a header list as the comparison sees it (after dropping
    /// hop-by-hop and ignored names and normalising values for `side`), plus the time-shifted
    /// values, which compare with a tolerance. Equal digests mean no header difference, so most
    /// pairs skip the detailed comparison; nil asks for the detailed path.
    func digest(_ headers: Headers, side: SideContext, skip: Set<String>) -> (sum: UInt64, dates: [(String, String)])? {
        var sum: UInt64 = 0
        var dates: [(String, String)] = []
        for f in headers {
            let n = f.name.lowercased()
            if n == "connection" {
                // A Connection header that lists other headers: let the detailed path handle it.
                for token in f.value.split(separator: ",") {
                    let t = token.trimmingPrefixSpaces().lowercased()
                    if t != "keep-alive" && t != "close" && t != "upgrade" { return nil }
                }
                continue
            }
            if NoiseDefaults.hopByHop.contains(n) || rules.ignored.contains(n) || skip.contains(n) { continue }
            var h = Hasher()
            h.combine(n)
            if rules.timeShifted.contains(n) {
                dates.append((n, f.value))
                continue
            } else if n == "set-cookie" {
                if f.value.hasPrefix(NoiseDefaults.redactedPrefix) { h.combine(f.value) } else {
                    let c = SetCookie(f.value)
                    h.combine(c.name)
                    if rules.cookieValues { h.combine(c.value) }
                    for (k, v) in c.attributes.sorted(by: { $0.key < $1.key }) {
                        h.combine(k)
                        if k != "expires" { h.combine(v.lowercased()) }
                    }
                }
            } else {
                h.combine(normalize(n, f.value, side: side))
            }
            sum &+= UInt64(bitPattern: Int64(h.finalize()))
        }
        return (sum, dates)
    }

    /// The common case: the same names in the same order, values equal or equal once ignored,
    /// normalised or time-shifted. Cheap (no lowercasing for identical fields); false means
    /// "look closer", not "different".
    func inOrderEqual(_ a: Headers, _ b: Headers, skip: Set<String>) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count {
            let x = a[i], y = b[i]
            guard x.name == y.name else { return false }
            if x.value == y.value {
                if x.name.utf8.count == 10, x.name.lowercased() == "connection" {
                    for token in x.value.split(separator: ",") {
                        let t = token.trimmingPrefixSpaces().lowercased()
                        if t != "keep-alive" && t != "close" && t != "upgrade" { return false }
                    }
                }
                continue
            }
            let n = x.name.lowercased()
            if NoiseDefaults.hopByHop.contains(n) || rules.ignored.contains(n) || skip.contains(n) { continue }
            if rules.timeShifted.contains(n) {
                if datesMatch(x.value, y.value) { continue }
                return false
            }
            if n == "set-cookie" {
                if x.value.hasPrefix(NoiseDefaults.redactedPrefix) || y.value.hasPrefix(NoiseDefaults.redactedPrefix) { return false }
                let c = SetCookie(x.value), d = SetCookie(y.value)
                guard c.name == d.name, !rules.cookieValues || c.value == d.value, c.attributes.count == d.attributes.count else { return false }
                for (k, v) in c.attributes {
                    guard let w = d.attributes[k] else { return false }
                    if k != "expires" && v.lowercased() != w.lowercased() { return false }
                }
                continue
            }
            if normalize(n, x.value, side: original) != normalize(n, y.value, side: replayed) { return false }
        }
        return true
    }

    /// True when both lists are certainly equal as compared (digests and dates match).
    func quickEqual(_ a: Headers, _ b: Headers, skip: Set<String>) -> Bool {
        guard let da = digest(a, side: original, skip: skip), let db = digest(b, side: replayed, skip: skip),
            da.sum == db.sum, da.dates.count == db.dates.count
        else { return false }
        for (x, y) in zip(da.dates.sorted { $0.0 < $1.0 }, db.dates.sorted { $0.0 < $1.0 }) {
            if x.0 != y.0 || !(x.1 == y.1 || datesMatch(x.1, y.1)) { return false }
        }
        return true
    }
}

extension Substring {
    func trimmingPrefixSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
