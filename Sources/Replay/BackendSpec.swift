import HarnessCore

/// One `--backend [RECORDED_ORIGIN=][https://]HOST:PORT`: where the harness listens to play a
/// recorded backend, and which recorded origin it plays (nil: the recording's only backend).
public struct BackendSpec: Sendable, Equatable, CustomStringConvertible {
    /// The recorded backend origin, e.g. `http://10.0.0.5:8080` (normalised, see `Origin`).
    public var recordedOrigin: String?
    public var listenHost: String
    /// 0 = an ephemeral port (read it back from the started replay).
    public var listenPort: Int
    /// Listen with TLS (for `SSLProxyEngine` configs).
    public var tls: Bool
    /// PEM certificate and key to serve; a self-signed pair is generated when nil.
    public var certificatePath: String?
    public var keyPath: String?

    public init(
        recordedOrigin: String? = nil, listenHost: String = "127.0.0.1", listenPort: Int = 0, tls: Bool = false,
        certificatePath: String? = nil, keyPath: String? = nil
    ) {
        self.recordedOrigin = recordedOrigin
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.tls = tls
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    /// Parses `[ORIGIN=][https://]HOST:PORT` (ORIGIN is `[http[s]://]HOST[:PORT]`).
    public init(parsing text: String) throws {
        var listen = Substring(text)
        var origin: String?
        if let eq = text.lastIndex(of: "=") {
            let left = text[..<eq]
            guard !left.isEmpty else {
                throw HarnessError(.usage, "--backend '\(text)': the recorded origin before '=' is empty")
            }
            guard let parsed = Origin(parsing: String(left)) else {
                throw HarnessError(.usage, "--backend '\(text)': '\(left)' is not an origin like http://10.0.0.5:8080")
            }
            origin = parsed.description
            listen = text[text.index(after: eq)...]
        }
        var tls = false
        if listen.hasPrefix("https://") {
            tls = true
            listen = listen.dropFirst(8)
        } else if listen.hasPrefix("http://") {
            listen = listen.dropFirst(7)
        }
        while listen.hasSuffix("/") { listen = listen.dropLast() }
        guard let endpoint = Endpoint(parsing: listen), !endpoint.host.isEmpty else {
            throw HarnessError(
                .usage, "--backend '\(text)': the listen address '\(listen)' is not HOST:PORT (e.g. 127.0.0.1:9000)")
        }
        self.init(recordedOrigin: origin, listenHost: endpoint.host, listenPort: Int(endpoint.port), tls: tls)
    }

    public var description: String {
        let listen = (tls ? "https://" : "") + Endpoint(host: listenHost, port: UInt16(listenPort)).description
        return recordedOrigin.map { "\($0)=\(listen)" } ?? listen
    }
}

/// A scheme, host and port; `description` is `scheme://host[:port]` (default ports left out).
public struct Origin: Sendable, Hashable, CustomStringConvertible {
    public var tls: Bool
    public var host: String
    public var port: UInt16

    public init(tls: Bool, host: String, port: UInt16) {
        self.tls = tls
        self.host = host.lowercased()
        self.port = port
    }

    /// Parses `[http[s]://]host[:port][/...]`.
    public init?(parsing text: String) {
        var rest = Substring(text)
        var tls = false
        if rest.lowercased().hasPrefix("https://") {
            tls = true
            rest = rest.dropFirst(8)
        } else if rest.lowercased().hasPrefix("http://") {
            rest = rest.dropFirst(7)
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard !rest.isEmpty else { return nil }
        if let endpoint = Endpoint(parsing: rest) {
            self.init(tls: tls, host: endpoint.host, port: endpoint.port)
        } else {
            var host = rest
            if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
            guard !host.contains(":") || rest.hasPrefix("["), !host.isEmpty else { return nil }
            self.init(tls: tls, host: String(host), port: tls ? 443 : 80)
        }
    }

    public var scheme: String { tls ? "https" : "http" }
    public var isDefaultPort: Bool { port == (tls ? 443 : 80) }
    /// `host[:port]` as in a Host header (port left out when it is the default).
    public var authority: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return isDefaultPort ? h : "\(h):\(port)"
    }
    /// `host:port` always.
    public var authorityWithPort: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(h):\(port)"
    }
    public var description: String { "\(scheme)://\(authority)" }
}
