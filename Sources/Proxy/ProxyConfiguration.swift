public import HarnessCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One member of a route's upstream pool: a backend origin (and base path) the proxy may send to.
///
/// A route with one member behaves like `ProxyPass /prefix http://backend/path`; several members
/// behave like a mod_proxy_balancer `BalancerMember` list (round robin), where `standby` is a hot
/// standby (`status=+H`) used only when no other member can take the request, and `route` is the
/// sticky-session route name matched against the sticky cookie (`ROUTEID=.route`).
public struct ProxyUpstream: Sendable, Equatable {
    /// `http://host:port/path` or `https://host:port/path`.
    public var url: String
    /// The sticky-session route name (`BalancerMember ... route=NAME`).
    public var route: String?
    /// A hot standby member (`status=+H`).
    public var standby: Bool

    public init(_ url: String, route: String? = nil, standby: Bool = false) {
        self.url = url
        self.route = route
        self.standby = standby
    }

    /// Parses `URL[#route=NAME][#standby]`.
    public init(parsing text: String) throws(ProxyConfigurationError) {
        var parts = text.split(separator: "#", omittingEmptySubsequences: false).map(String.init)
        let url = parts.removeFirst()
        var route: String?
        var standby = false
        for option in parts {
            if option.hasPrefix("route=") {
                route = String(option.dropFirst("route=".count))
            } else if option == "standby" || option == "+H" {
                standby = true
            } else {
                throw ProxyConfigurationError(
                    "unknown balancer member option '#\(option)' in '\(text)' (use #route=NAME or #standby)")
            }
        }
        guard UpstreamOrigin(url: url) != nil else {
            throw ProxyConfigurationError("'\(url)' is not an http:// or https:// URL with a host")
        }
        self.init(url, route: route, standby: standby)
    }
}

/// A `ProxyPass` rule: requests whose path starts with `prefix` go to one of `upstreams`.
///
/// Mapping follows mod_proxy exactly: the rest of the path after `prefix` is appended to the
/// member's URL path as is, so `ProxyPass /app/ http://b/x/` maps `/app/foo` to `/x/foo`, while the
/// mismatched `ProxyPass /app http://b/x/` maps `/app/foo` to `/x//foo`.
public struct ProxyRoute: Sendable, Equatable {
    public var prefix: String
    public var upstreams: [ProxyUpstream]
    /// The sticky-session cookie (`stickysession=ROUTEID`); nil = no stickiness.
    public var stickyCookie: String?

    public init(prefix: String, upstreams: [ProxyUpstream], stickyCookie: String? = nil) {
        self.prefix = prefix
        self.upstreams = upstreams
        self.stickyCookie = stickyCookie
    }

    /// A route with a single upstream URL.
    public init(prefix: String, upstream: String) {
        self.init(prefix: prefix, upstreams: [ProxyUpstream(upstream)])
    }

    /// The route of `--upstream URL[,URL...]`: every path to the upstream. Unlike a `--route`
    /// (mapped exactly as `ProxyPass` maps it, trailing slashes included), an upstream given as a
    /// bare origin (`http://host:port`, no path) means that origin's root: `/x` goes to
    /// `http://host:port/x`, as a reverse proxy's upstream does in nginx, mitmproxy or GoReplay.
    public init(upstreamParsing text: String) throws(ProxyConfigurationError) {
        let members = text.split(separator: ",").map { member -> String in
            let m = String(member)
            let url = m.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? m
            guard let scheme = url.firstRange(of: "://"), !url[scheme.upperBound...].contains("/") else { return m }
            return url + "/" + m.dropFirst(url.count)
        }
        try self.init(parsing: "/=" + members.joined(separator: ","))
    }

    /// Parses `PREFIX=URL[,URL...]`, each URL optionally followed by `#route=NAME` / `#standby`.
    public init(parsing text: String) throws(ProxyConfigurationError) {
        guard let eq = text.firstIndex(of: "="), text[..<eq].hasPrefix("/") else {
            throw ProxyConfigurationError("route '\(text)' must look like /PREFIX=http://host:port/path")
        }
        let members = text[text.index(after: eq)...].split(separator: ",").map(String.init)
        guard !members.isEmpty else { throw ProxyConfigurationError("route '\(text)' has no upstream URL") }
        var upstreams: [ProxyUpstream] = []
        for m in members { upstreams.append(try ProxyUpstream(parsing: m)) }
        self.init(prefix: String(text[..<eq]), upstreams: upstreams)
    }
}

/// How routes are chosen when several prefixes match.
public enum RouteMatching: Sendable {
    /// The longest matching prefix wins (the default).
    case longestPrefix
    /// The first route in configuration order wins (Apache `ProxyPass` order).
    case configurationOrder
}

/// A configuration that cannot work, in a sentence a person can act on.
public struct ProxyConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Everything a `RecordingProxy` needs: where to listen, where to send, how to rewrite, limits.
public struct ProxyConfiguration: Sendable {
    public var listenHost: String = "127.0.0.1"
    /// 0 = an ephemeral port (read it back from `RecordingProxy.start()`).
    public var listenPort: Int = 0
    public var routes: [ProxyRoute] = []
    public var routeMatching: RouteMatching = .longestPrefix
    /// `ProxyPassReverse` on Location, Content-Location and URI response headers.
    public var reverseRewrite: Bool = false
    /// `ProxyPreserveHost On`: send the client's Host upstream.
    public var preserveHost: Bool = false
    /// X-Forwarded-For / -Host / -Server, appended to existing values like mod_proxy_http.
    public var addForwardedHeaders: Bool = true
    /// `ProxyVia On`: add a Via header to requests and responses.
    public var via: Bool = false
    /// The name this proxy gives itself (X-Forwarded-Server, Via); defaults to the host name.
    public var serverName: String = ProxyConfiguration.defaultServerName()
    /// Headers set on every upstream request (`RequestHeader set`); an empty value removes the header.
    public var setRequestHeaders: [HeaderField] = []
    /// Headers set on every response to the client (`Header set`); an empty value removes the header.
    public var setResponseHeaders: [HeaderField] = []
    /// PEM certificate chain and key: the front speaks HTTPS (ALPN http/1.1).
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// `SSLProxyVerify none`: do not verify upstream certificates.
    public var upstreamInsecure: Bool = false
    /// Extra trust roots (PEM) for upstream certificates.
    public var upstreamCAPath: String?
    /// How long a failed balancer member is left out before it is tried again (`retry=`).
    public var memberRetrySeconds: Double = 5

    public var connectTimeoutSeconds: Double = 5
    /// Longest wait for the upstream response to start, and between its reads (504 before the head).
    public var readTimeoutSeconds: Double = 60
    /// A keep-alive client connection with no request is closed after this long.
    public var idleTimeoutSeconds: Double = 60
    /// A request head must be complete this long after its first byte (408 otherwise).
    public var requestHeadTimeoutSeconds: Double = 20
    /// Idle pooled upstream connections are closed after this long.
    public var upstreamIdleSeconds: Double = 30
    /// How long `shutdown()` lets in-flight exchanges finish.
    public var drainSeconds: Double = 5

    /// Header fields over this size (names plus values): 431.
    public var maxHeaderBytes: Int = 32 << 10
    /// Request bodies over this size: 413; nil = unlimited.
    public var maxBodyBytes: Int? = nil
    /// Client connections over this number are closed at once.
    public var maxConnections: Int = 10_000
    /// Recorded body bytes per message; longer bodies are cut and flagged with a SHA-256 digest.
    public var maxRecordedBodyBytes: Int = 1 << 20
    /// Exchanges waiting for the writer thread; when full, exchanges are left out and counted.
    public var recordQueueCapacity: Int = 8192
    /// Body bytes waiting for the writer thread; when over, exchanges are left out and counted.
    public var recordQueueMaxBytes: Int = 256 << 20
    /// Event loop threads (0 = one per core).
    public var threads: Int = 0

    public init(routes: [ProxyRoute] = []) { self.routes = routes }

    /// One route `/` -> `url` (`--upstream URL`; a bare origin means its root, see
    /// `ProxyRoute(upstreamParsing:)`).
    public init(upstream url: String) {
        self.routes = [(try? ProxyRoute(upstreamParsing: url)) ?? ProxyRoute(prefix: "/", upstream: url)]
    }

    /// Checks the routes and TLS settings; the first problem as a sentence.
    public func validate() throws(ProxyConfigurationError) {
        if routes.isEmpty { throw ProxyConfigurationError("no upstream: give --upstream URL or --route PREFIX=URL") }
        for r in routes {
            guard r.prefix.hasPrefix("/") else {
                throw ProxyConfigurationError("route prefix '\(r.prefix)' must start with /")
            }
            guard !r.upstreams.isEmpty else { throw ProxyConfigurationError("route '\(r.prefix)' has no upstream") }
            for u in r.upstreams where UpstreamOrigin(url: u.url) == nil {
                throw ProxyConfigurationError("upstream '\(u.url)' is not an http:// or https:// URL with a host")
            }
        }
        if (tlsCertificatePath == nil) != (tlsKeyPath == nil) {
            throw ProxyConfigurationError("--tls-cert and --tls-key go together")
        }
        if !(0...65535).contains(listenPort) {
            throw ProxyConfigurationError("listen port \(listenPort) is out of range")
        }
    }

    static func defaultServerName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}
