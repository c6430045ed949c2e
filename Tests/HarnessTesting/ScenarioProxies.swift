import Foundation
import HarnessCore
import Testing

/// The real reverse proxies of the end-to-end scenario matrix.
public enum ScenarioProxyKind: String, CaseIterable, Sendable {
    case apache
    case nginx
    case haproxy

    /// The executable `TestEnvironment.tool` looks for.
    public var tool: String { self == .apache ? "apache2" : rawValue }

    /// The configs the matrix replays against: `good` first (production's config, pointed at the
    /// simulated backend), then one seeded mistake each.
    public var variants: [ScenarioVariant] {
        switch self {
        case .apache: ScenarioVariant.apache
        case .nginx: ScenarioVariant.nginx
        case .haproxy: ScenarioVariant.haproxy
        }
    }
}

/// One staging config of the matrix: what it seeds and which difference categories the replay
/// must report (exactly those; an empty set means the replay must stay silent).
public struct ScenarioVariant: Sendable {
    public var name: String
    /// What changed against the good config, in the proxy's own words.
    public var seeds: String
    public var expected: Set<String>
    /// The simulated backend listens with TLS (the config proxies to `https://`).
    public var backendTLS = false
    /// The config points at a port nobody listens on.
    public var backendDown = false
    /// The simulated backend takes as long as the recorded one (`replay --backend-latency`): on
    /// for the good config and the timeout variants (elsewhere the slow report answers at once,
    /// which keeps the matrix fast).
    public var backendLatency: Bool

    init(_ name: String, _ seeds: String, _ expected: Set<String>, tls: Bool = false, down: Bool = false, slow: Bool = false) {
        self.name = name
        self.seeds = seeds
        self.expected = expected
        backendTLS = tls
        backendDown = down
        backendLatency = slow || name == "good"
    }

    /// The backend never answers: every page becomes the proxy's error page (status), no backend
    /// call is made (backend_missing) and the session's three redirects lose their Location.
    static let unreachable: Set<String> = ["status", "backend_missing", "location"]
    /// Every backend call asks for a path never recorded: answered 502 by the simulated backend
    /// (backend_unmatched, status), the recorded calls are not made (backend_missing), the
    /// redirects lose their Location. (Paths with no slash after the prefix still match.)
    static let pathMismatch: Set<String> = ["backend_unmatched", "status", "backend_missing", "location"]

    static let apache: [ScenarioVariant] = [
        .init("good", "production's config", []),
        .init("no-reverse", "ProxyPassReverse removed", ["location"]),
        .init("trailing-slash", "ProxyPass /app/ http://backend/app (no slash)", pathMismatch),
        .init("no-preserve-host", "ProxyPreserveHost Off", ["backend_request"]),
        .init("headers-dropped", "Header always set X-Frame-Options/X-Content-Type-Options removed", ["header"]),
        .init("request-header", "RequestHeader set X-Env staging (was prod)", ["backend_request"]),
        .init("no-forwarded", "ProxyAddHeaders Off (no X-Forwarded-*)", ["backend_request"]),
        .init("via-on", "ProxyVia On", ["backend_request", "header"]),
        .init("proxy-timeout", "ProxyTimeout 1 (the slow report takes 2.5 s)", ["status"], slow: true),
        .init("balancer", "ProxyPass to balancer://app, one BalancerMember", []),
        .init("hot-standby", "balancer: the live member moved to hot standby (+H), a dead member active", []),
        .init("sticky-routeid", "balancer: stickysession=ROUTEID + Header add Set-Cookie ROUTEID", ["header"]),
        .init("balancer-reverse", "balancer: ProxyPassReverse /app/ balancer://app/ (Location /app//account)", ["location"]),
        .init("backend-down", "backend unreachable, ErrorDocument 503", unreachable, down: true),
        .init("https-no-engine", "https:// backend without SSLProxyEngine (500)", unreachable, tls: true),
        .init("https-engine", "https:// backend, SSLProxyEngine On, SSLProxyVerify none", [], tls: true),
        .init("https-verify", "https:// backend, SSLProxyVerify require (self-signed)", unreachable, tls: true),
    ]

    static let nginx: [ScenarioVariant] = [
        .init("good", "production's config", []),
        .init("redirect-off", "proxy_redirect off", ["location"]),
        .init("trailing-slash", "proxy_pass http://backend/app (no slash)", pathMismatch),
        .init("host-default", "proxy_set_header Host $host removed", ["backend_request"]),
        .init("headers-dropped", "add_header X-Frame-Options/X-Content-Type-Options removed", ["header"]),
        .init("request-header", "proxy_set_header X-Env staging (was prod)", ["backend_request"]),
        .init("no-forwarded", "proxy_set_header X-Forwarded-For removed", ["backend_request"]),
        .init("read-timeout", "proxy_read_timeout 1s (the slow report takes 2.5 s)", ["status"], slow: true),
        .init("upstream-backup", "upstream: a dead server, the live one as backup", []),
        .init("backend-down", "backend unreachable (502)", unreachable, down: true),
        .init("https", "proxy_pass https:// backend (proxy_ssl_verify off)", [], tls: true),
        .init("https-verify", "proxy_ssl_verify on (self-signed backend)", unreachable, tls: true),
    ]

    static let haproxy: [ScenarioVariant] = [
        .init("good", "production's config", []),
        .init("no-location-rewrite", "http-response replace-header Location removed", ["location"]),
        .init("request-header", "http-request set-header X-Env staging (was prod)", ["backend_request"]),
        .init("no-forwardfor", "option forwardfor removed", ["backend_request"]),
        .init("headers-dropped", "http-response set-header X-Frame-Options/X-Content-Type-Options removed", ["header"]),
        .init("server-timeout", "timeout server 1s (the slow report takes 2.5 s)", ["status"], slow: true),
        .init("sticky-cookie", "cookie ROUTEID insert indirect nocache + server ... cookie a", ["header"]),
        .init("backend-down", "server unreachable (503)", unreachable, down: true),
        .init("https", "server ... ssl verify none", [], tls: true),
        .init("https-verify", "server ... ssl verify required (self-signed backend)", unreachable, tls: true),
    ]
}

/// A real Apache httpd, nginx or HAProxy started from a temp config dir on a loopback port,
/// proxying `/app/` to `backend` with a scenario variant's config; stopped by `stop()`.
public final class ScenarioProxy: @unchecked Sendable {
    public let kind: ScenarioProxyKind
    public let port: UInt16
    public let directory: TempDir
    private let server: ScenarioServer?
    private let nginx: NginxServer?

    /// The public name production answers as (`ServerName`, the Host clients send).
    public static let serverName = "www.example.com"

    /// Nil when the proxy is not installed (see `TestEnvironment.tool`). `backend` is an origin
    /// (`http://127.0.0.1:9000`, or `https://...` for the TLS variants).
    public static func start(
        _ kind: ScenarioProxyKind, variant: String, backend: String, port: UInt16 = freeLoopbackPort()
    ) throws -> ScenarioProxy? {
        guard let executable = TestEnvironment.tool(kind.tool) else { return nil }
        let dir = TempDir("scenario-\(kind.rawValue)")
        chmod(dir.path, 0o755)
        switch kind {
        case .apache:
            try FileManager.default.createDirectory(atPath: dir.file("errors"), withIntermediateDirectories: true)
            try "<h1>Down for maintenance</h1>\n".write(toFile: dir.file("errors/503.html"), atomically: true, encoding: .utf8)
            chmod(dir.file("errors"), 0o755)
            chmod(dir.file("errors/503.html"), 0o644)
            let conf = dir.file("httpd.conf")
            try apacheConfig(variant: variant, backend: backend, port: port, dir: dir.path).write(
                toFile: conf, atomically: true, encoding: .utf8)
            let server = try ScenarioServer(
                name: "apache2", executable: executable, arguments: ["-f", conf, "-DFOREGROUND"], port: port,
                log: dir.file("error.log"))
            return ScenarioProxy(kind: kind, port: port, directory: dir, server: server, nginx: nil)
        case .nginx:
            let upstream = variant == "upstream-backup"
                ? "upstream app { server 127.0.0.1:\(freeLoopbackPort()); server \(authority(backend)) backup; }" : ""
            guard let nginx = try NginxServer(
                extraServerConfig: nginxLocations(variant: variant, backend: backend), extraHTTPConfig: upstream, port: port)
            else { return nil }
            return ScenarioProxy(kind: kind, port: port, directory: dir, server: nil, nginx: nginx)
        case .haproxy:
            let conf = dir.file("haproxy.cfg")
            try haproxyConfig(variant: variant, backend: backend, port: port).write(toFile: conf, atomically: true, encoding: .utf8)
            let server = try ScenarioServer(name: "haproxy", executable: executable, arguments: ["-f", conf, "-db"], port: port)
            return ScenarioProxy(kind: kind, port: port, directory: dir, server: server, nginx: nil)
        }
    }

    private init(kind: ScenarioProxyKind, port: UInt16, directory: TempDir, server: ScenarioServer?, nginx: NginxServer?) {
        self.kind = kind
        self.port = port
        self.directory = directory
        self.server = server
        self.nginx = nginx
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    public func stop() {
        server?.stop()
        nginx?.stop()
    }

    deinit { stop() }

    /// `http://127.0.0.1:9000` -> `127.0.0.1:9000`.
    static func authority(_ origin: String) -> String {
        String(origin.drop { $0 != "/" }.drop { $0 == "/" })
    }

    static func apacheConfig(variant: String, backend: String, port: UInt16, dir: String) -> String {
        let modules = "/usr/lib/apache2/modules"
        let load = [
            "mpm_event", "authz_core", "alias", "headers", "proxy", "proxy_http", "socache_shmcb", "ssl", "slotmem_shm",
            "proxy_balancer", "lbmethod_byrequests",
        ]
            .map { "LoadModule \($0)_module \(modules)/mod_\($0).so" }.joined(separator: "\n")
        let user = TestEnvironment.isRoot ? "User www-data\nGroup www-data" : ""
        var lines = [
            "ProxyPreserveHost On", "ProxyPass /app/ \(backend)/app/", "ProxyPassReverse /app/ \(backend)/app/",
            "RequestHeader set X-Env prod", "Header always set X-Frame-Options SAMEORIGIN",
            "Header always set X-Content-Type-Options nosniff",
        ]
        func replace(_ prefix: String, with new: String?) {
            lines = lines.compactMap { $0.hasPrefix(prefix) ? new : $0 }
        }
        let sslProxyLax = "SSLProxyEngine On\nSSLProxyVerify none\nSSLProxyCheckPeerName off\nSSLProxyCheckPeerCN off\nSSLProxyCheckPeerExpire off"
        switch variant {
        case "no-reverse": replace("ProxyPassReverse", with: nil)
        case "trailing-slash":
            replace("ProxyPass ", with: "ProxyPass /app/ \(backend)/app")
            replace("ProxyPassReverse", with: "ProxyPassReverse /app/ \(backend)/app")
        case "no-preserve-host": replace("ProxyPreserveHost", with: "ProxyPreserveHost Off")
        case "headers-dropped": replace("Header always", with: nil)
        case "request-header": replace("RequestHeader", with: "RequestHeader set X-Env staging")
        case "no-forwarded": lines.append("ProxyAddHeaders Off")
        case "via-on": lines.append("ProxyVia On")
        case "proxy-timeout": lines.append("ProxyTimeout 1")
        case "balancer", "hot-standby", "sticky-routeid", "balancer-reverse":
            let dead = "http://127.0.0.1:\(freeLoopbackPort())"
            let members = variant == "hot-standby"
                ? "BalancerMember \(dead)/app route=a\n    BalancerMember \(backend)/app route=b status=+H"
                : "BalancerMember \(backend)/app route=a"
            let sticky = variant == "sticky-routeid" ? "\n    ProxySet stickysession=ROUTEID" : ""
            replace("ProxyPass ", with: "<Proxy balancer://app>\n    \(members)\(sticky)\n</Proxy>\nProxyPass /app/ balancer://app/")
            // Reverse-mapped against the member's URL: against balancer://app/ Apache joins the
            // member's /app and the rest of the path with a second slash (the last variant).
            if variant == "balancer-reverse" { replace("ProxyPassReverse", with: "ProxyPassReverse /app/ balancer://app/") }
            if variant == "sticky-routeid" {
                lines.append("Header add Set-Cookie \"ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/\" env=BALANCER_ROUTE_CHANGED")
            }
        case "https-engine": lines.append(sslProxyLax)
        case "https-verify":
            lines.append("SSLProxyEngine On\nSSLProxyVerify require\nSSLProxyCACertificateFile /etc/ssl/certs/ca-certificates.crt")
        default: break
        }
        return """
            ServerRoot \(dir)
            DefaultRuntimeDir \(dir)
            PidFile \(dir)/httpd.pid
            Mutex file:\(dir) default
            \(load)
            \(user)
            Listen 127.0.0.1:\(port)
            ErrorLog \(dir)/error.log
            LogLevel warn
            ServerName \(serverName)
            KeepAlive On
            ProxyRequests Off
            Alias /errors/ \(dir)/errors/
            <Directory \(dir)/errors>
                Require all granted
            </Directory>
            ErrorDocument 503 /errors/503.html
            \(lines.joined(separator: "\n"))

            """
    }

    static func nginxLocations(variant: String, backend: String) -> String {
        var lines = [
            "proxy_pass \(backend)/app/;", "proxy_http_version 1.1;", "proxy_set_header Connection \"\";",
            "proxy_set_header Host $host;", "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "proxy_set_header X-Env prod;", "add_header X-Frame-Options SAMEORIGIN always;",
            "add_header X-Content-Type-Options nosniff always;", "absolute_redirect off;",
        ]
        func replace(_ prefix: String, with new: String?) {
            lines = lines.compactMap { $0.hasPrefix(prefix) ? new : $0 }
        }
        switch variant {
        case "redirect-off": lines.append("proxy_redirect off;")
        case "trailing-slash": replace("proxy_pass", with: "proxy_pass \(backend)/app;")
        case "host-default": replace("proxy_set_header Host", with: nil)
        case "headers-dropped": replace("add_header", with: nil)
        case "request-header": replace("proxy_set_header X-Env", with: "proxy_set_header X-Env staging;")
        case "no-forwarded": replace("proxy_set_header X-Forwarded-For", with: nil)
        case "read-timeout": lines.append("proxy_read_timeout 1s;")
        case "upstream-backup":
            // proxy_redirect default would now rewrite http://app/app/: name the backend's origin.
            replace("proxy_pass", with: "proxy_pass http://app/app/;\nproxy_redirect \(backend)/app/ /app/;")
        case "https-verify":
            lines.append("proxy_ssl_verify on;\nproxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;")
        default: break
        }
        return "location /app/ {\n" + lines.map { "    " + $0 }.joined(separator: "\n") + "\n}"
    }

    static func haproxyConfig(variant: String, backend: String, port: UInt16) -> String {
        let target = authority(backend)
        let escaped = target.replacingOccurrences(of: ".", with: "\\.")
        var server = "server s1 \(target)" + (variant == "sticky-cookie" ? " cookie a" : "")
        if backend.hasPrefix("https://") {
            server += variant == "https-verify" ? " ssl verify required ca-file /etc/ssl/certs/ca-certificates.crt" : " ssl verify none"
        }
        var lines = [
            "option forwardfor", "http-request set-header X-Env prod",
            "http-response set-header X-Frame-Options SAMEORIGIN", "http-response set-header X-Content-Type-Options nosniff",
            "http-response replace-header Location ^https?://\(escaped)(/.*)$ \\1",
        ]
        func replace(_ prefix: String, with new: String?) {
            lines = lines.compactMap { $0.hasPrefix(prefix) ? new : $0 }
        }
        switch variant {
        case "no-location-rewrite": replace("http-response replace-header Location", with: nil)
        case "request-header": replace("http-request set-header X-Env", with: "http-request set-header X-Env staging")
        case "no-forwardfor": replace("option forwardfor", with: nil)
        case "headers-dropped": replace("http-response set-header", with: nil)
        case "sticky-cookie": lines.append("cookie ROUTEID insert indirect nocache")
        default: break
        }
        return """
            global
                maxconn 256
                # Without SO_REUSEPORT a port another test's server holds fails the bind instead of
                # being shared (ScenarioServer also checks that the listener is haproxy's own).
                noreuseport
            defaults
                mode http
                option http-keep-alive
                # Loopback: a refused connect is retried once after min(timeout connect, 1 s).
                retries 1
                timeout connect 300ms
                timeout client 15s
                timeout server \(variant == "server-timeout" ? "1s" : "15s")
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend be
            backend be
            \(lines.map { "    " + $0 }.joined(separator: "\n"))
                \(server)

            """
    }
}
