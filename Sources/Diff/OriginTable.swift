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
        if tokens[origin] == nil { tokens[origin] = token }
        if let auth = origin.range(of: "://").map({ String(origin[$0.upperBound...]) }), authorities[auth] == nil {
            authorities[auth] = token
        }
    }

    /// Registers an origin as the front (the Host a request was sent with).
    mutating func addFront(_ origin: String) {
        if let o = Self.canonicalOrigin(of: origin) { add(o, Self.front) }
    }

    /// `http://Host:80/x?y` -> (`http://host:80`, `/x?y`); nil when not absolute.
    static func split(_ url: Substring) -> (origin: String, rest: Substring)? {
        guard let sep = url.range(of: "://") else { return nil }
        let scheme = url[..<sep.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" || scheme == "ws" || scheme == "wss" else { return nil }
        let afterScheme = url[sep.upperBound...]
        let end = afterScheme.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? afterScheme.endIndex
        var authority = afterScheme[..<end].lowercased()
        if let at = authority.lastIndex(of: "@") { authority = String(authority[authority.index(after: at)...]) }
        return (scheme + "://" + withPort(authority, scheme: scheme), afterScheme[end...])
    }

    static func canonicalOrigin(of url: String) -> String? {
        var u = Substring(url.trimmingWhitespace())
        if !u.contains("://") { u = "http://" + u }
        return split(u)?.origin
    }

    static func withPort(_ authority: String, scheme: String) -> String {
        let hasPort: Bool
        if authority.hasPrefix("[") { hasPort = authority.contains("]:") } else { hasPort = authority.contains(":") }
        if hasPort {
            if scheme == "http" || scheme == "ws", authority.hasSuffix(":80") { return authority }
            return authority
        }
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
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
