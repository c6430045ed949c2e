/// The parts of an upstream URL the proxy needs: scheme, host, port and base path.
///
/// Parsed by hand (no Foundation) so that odd but legal configurations, such as a base path with
/// doubled slashes or none at all, are kept exactly as written: mod_proxy concatenates strings.
public struct UpstreamOrigin: Sendable, Hashable, CustomStringConvertible {
    public let tls: Bool
    public let host: String
    public let port: Int
    /// Everything after the authority, as written (may be empty).
    public let path: String
    /// The Host header value for this origin (port left out when it is the scheme's default).
    public let hostHeader: String
    /// `scheme://host:port`, the key of the connection pool and of the recorded back origin.
    public let poolKey: String

    /// Parses `http://host[:port][/path]` or `https://...`; nil for anything else.
    public init?(url: String) {
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("http://") {
            tls = false
            rest = url.dropFirst(7)
        } else if lower.hasPrefix("https://") {
            tls = true
            rest = url.dropFirst(8)
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        path = String(rest[authorityEnd...])
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let defaultPort = tls ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.isEmpty {
                port = defaultPort
            } else if after.hasPrefix(":"), let p = Int(after.dropFirst()), (1...65535).contains(p) {
                port = p
            } else {
                return nil
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
        } else {
            host = String(authority)
            port = defaultPort
        }
        guard !host.isEmpty else { return nil }
        let bracketed = host.contains(":") ? "[\(host)]" : host
        hostHeader = port == (tls ? 443 : 80) ? bracketed : "\(bracketed):\(port)"
        poolKey = "\(tls ? "https" : "http")://\(hostHeader)"
    }

    public var scheme: String { tls ? "https" : "http" }
    public var isDefaultPort: Bool { port == (tls ? 443 : 80) }
    public var description: String { poolKey + path }
}
