import Foundation
/// Which origins stand for the same party in the recording and in the replay.
///
/// The recorded front origin and the replay target become `{front}`; each recorded backend origin
/// and its simulated listener become `{backend <recorded origin>}`. URLs in Location,
/// Content-Location and Refresh, and authorities in Host and X-Forwarded-Host, are compared after
/// this substitution, so `http://www.example.com/x` equals `http://127.0.0.1:8081/x` while a leaked
/// `http://10.0.0.5:8080/store/x` still differs (and is named as a leak).
struct OriginTable {
    static let front = "{front}"
    /// Canonical origin (`scheme://host:port`, lowercased, explicit port) -> token.
    private(set) var tokens: [String: String] = [:]
    /// Canonical authority (`host:port`) -> token, for Host-like headers (first mapping wins).
    private(set) var authorities: [String: String] = [:]
    /// Counts changes (memos of normalised values check it).
    private(set) var version = 0

    init(mappings: [OriginMapping], targets: [String]) {
        let targetOrigins = Set(targets.compactMap { Self.canonicalOrigin(of: $0) })
        // The front mapping is the one whose replayed side is the target.
        for m in mappings {
            guard let rec = Self.canonicalOrigin(of: m.recorded), let rep = Self.canonicalOrigin(of: m.replayed) else { continue }
            if targetOrigins.contains(rep) {
                add(rec, Self.front)
                add(rep, Self.front)
            }
        }
        for m in mappings {
            guard let rec = Self.canonicalOrigin(of: m.recorded), let rep = Self.canonicalOrigin(of: m.replayed) else { continue }
            if targetOrigins.contains(rep) { continue }
            let token = "{backend \(Self.display(rec))}"
            add(rec, token)
            add(rep, token)
        }
        for t in targetOrigins { add(t, Self.front) }
    }

    /// Registers a backend seen in the original recording (its server endpoint), unless known.
    mutating func addBackendIfUnknown(_ origin: String) {
        guard let o = Self.canonicalOrigin(of: origin), tokens[o] == nil else { return }
        add(o, "{backend \(Self.display(o))}")
    }

    private mutating func add(_ origin: String, _ token: String) {
        version += 1
        if tokens[origin] == nil { tokens[origin] = token }
        if let slash = origin.utf8.firstIndex(of: UInt8(ascii: "/")) {
            let auth = String(origin[origin.utf8.index(slash, offsetBy: 2)...])
            if authorities[auth] == nil { authorities[auth] = token }
        }
    }

    /// Registers an origin as the front (the Host a request was sent with).
    mutating func addFront(_ origin: String) {
        if let o = Self.canonicalOrigin(of: origin) { add(o, Self.front) }
    }

    /// `http://Host:80/x?y` -> (`http://host:80`, `/x?y`); nil when not absolute.
    static func split(_ url: Substring) -> (origin: String, rest: Substring)? {
        // Find "://" without Foundation (hot path).
        let u = url.utf8
        var i = u.startIndex
        var sepStart: Substring.UTF8View.Index?
        var n = 0
        while i != u.endIndex && n < 8 {
            if u[i] == UInt8(ascii: ":") {
                let a = u.index(after: i)
                if a != u.endIndex, u[a] == UInt8(ascii: "/"), u.index(after: a) != u.endIndex, u[u.index(after: a)] == UInt8(ascii: "/") {
                    sepStart = i
                }
                break
            }
            i = u.index(after: i)
            n += 1
        }
        guard let sep = sepStart else { return nil }
        let scheme = url[..<sep].lowercased()
        guard scheme == "http" || scheme == "https" || scheme == "ws" || scheme == "wss" else { return nil }
        let afterScheme = url[url.utf8.index(sep, offsetBy: 3)...]
        let end = afterScheme.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? afterScheme.endIndex
        var authority = afterScheme[..<end].lowercased()
        if let at = authority.lastIndex(of: "@") { authority = String(authority[authority.index(after: at)...]) }
        return (scheme + "://" + withPort(authority, scheme: scheme), afterScheme[end...])
    }

    static func canonicalOrigin(of url: String) -> String? {
        let u = Substring(url.trimmingWhitespace())
        return split(u)?.origin ?? split("http://" + u)?.origin
    }

    static func withPort(_ authority: String, scheme: String) -> String {
        var hasPort = false
        var inBracket = false
        for b in authority.utf8 {
            if b == UInt8(ascii: "[") { inBracket = true } else if b == UInt8(ascii: "]") { inBracket = false } else if b == UInt8(ascii: ":") && !inBracket { hasPort = true }
        }
        if hasPort { return authority }
        return authority + ((scheme == "https" || scheme == "wss") ? ":443" : ":80")
    }

    /// `http://10.0.0.5:8080` (default ports dropped) for messages.
    static func display(_ origin: String) -> String {
        if origin.hasPrefix("http://"), origin.hasSuffix(":80") { return String(origin.dropLast(3)) }
        if origin.hasPrefix("https://"), origin.hasSuffix(":443") { return String(origin.dropLast(4)) }
        return origin
    }

    /// A URL-valued header after normalisation, and the token (or raw origin) it pointed at.
    /// Relative references resolve against `{front}`.
    func normalizeURL(_ value: String) -> (normalized: String, origin: String) {
        let v = Substring(value.trimmingWhitespace())
        if let (origin, rest) = Self.split(v) {
            let token = tokens[origin] ?? Self.display(origin)
            return (token + rest, token)
        }
        if v.hasPrefix("//") {
            return normalizeURL("http:" + v)
        }
        if v.hasPrefix("/") { return (Self.front + v, Self.front) }
        return (Self.front + "/" + v, Self.front)
    }

    /// A Host-like authority after normalisation (`www.example.com` -> `{front}` when mapped).
    func normalizeAuthority(_ value: String, tls: Bool) -> String {
        let a = value.trimmingWhitespace().lowercased()
        let scheme = tls ? "https" : "http"
        if let t = authorities[Self.withPort(a, scheme: scheme)] { return t }
        if let t = authorities[Self.withPort(a, scheme: tls ? "http" : "https")] { return t }
        return a
    }

    /// True when the token names a backend.
    static func isBackend(_ token: String) -> Bool { token.hasPrefix("{backend ") }
    /// `{backend http://x}` -> `http://x`.
    static func backendOrigin(_ token: String) -> String {
        String(token.dropFirst("{backend ".count).dropLast())
    }
}

extension String {
    func trimmingWhitespace() -> String {
        guard let f = utf8.first, let l = utf8.last else { return self }
        if f != 32 && f != 9 && l != 32 && l != 9 { return self }
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
