import Foundation
import Testing
public import HarnessCore

/// A real Apache httpd started as the staging proxy for replay tests: a temp config dir, an
/// ephemeral port, mod_proxy + mod_proxy_http, stopped by `stop()` (or on release).
public final class ApacheStagingProxy: @unchecked Sendable {
    /// The seeded mod_proxy mistakes the replay must catch.
    public enum Variant: String, Sendable, CaseIterable {
        case good
        /// ProxyPassReverse left out: backend redirects leak the backend address.
        case noReverse
        /// ProxyPreserveHost Off: the backend sees its own address as Host.
        case noPreserveHost
        /// `ProxyPass /app/ http://backend/app` (missing slash): /app/x becomes /appx.
        case trailingSlash
        /// The good config plus a WebSocket route through mod_proxy_wstunnel (`ws://`).
        case websocket
        /// The WebSocket route missing: mod_proxy_wstunnel not loaded, `/app/ws` goes through the
        /// plain HTTP route, which drops the hop-by-hop `Upgrade`.
        case noWstunnel
    }

    public let port: UInt16
    public let directory: TempDir
    /// The apache2 parent; it leads its own process group (its workers are in it too).
    private let pid: pid_t
    private var stopped = false

    /// Starts apache2 proxying `/app/` to `backend` (e.g. `http://127.0.0.1:9000`); nil when apache2
    /// is missing (see `TestEnvironment.tool`).
    public static func start(variant: Variant, backend: String, serverName: String = "www.example.com") throws
        -> ApacheStagingProxy?
    {
        guard let apache = TestEnvironment.tool("apache2") else { return nil }
        let dir = TempDir("harness-apache")
        chmod(dir.path, 0o777)
        let port = freeLoopbackPort()
        let modules = "/usr/lib/apache2/modules"
        var conf = """
            ServerRoot \(dir.path)
            LoadModule mpm_event_module \(modules)/mod_mpm_event.so
            LoadModule authz_core_module \(modules)/mod_authz_core.so
            LoadModule proxy_module \(modules)/mod_proxy.so
            LoadModule proxy_http_module \(modules)/mod_proxy_http.so
            Listen 127.0.0.1:\(port)
            PidFile \(dir.path)/httpd.pid
            ErrorLog \(dir.path)/error.log
            LogLevel warn
            ServerName \(serverName)
            User www-data
            Group www-data
            KeepAlive On
            ProxyRequests Off

            """
        switch variant {
        case .good:
            conf += "ProxyPreserveHost On\nProxyPass /app/ \(backend)/app/\nProxyPassReverse /app/ \(backend)/app/\n"
        case .noReverse:
            conf += "ProxyPreserveHost On\nProxyPass /app/ \(backend)/app/\n"
        case .noPreserveHost:
            conf += "ProxyPreserveHost Off\nProxyPass /app/ \(backend)/app/\nProxyPassReverse /app/ \(backend)/app/\n"
        case .trailingSlash:
            conf += "ProxyPreserveHost On\nProxyPass /app/ \(backend)/app\nProxyPassReverse /app/ \(backend)/app\n"
        case .websocket:
            let ws = backend.replacingOccurrences(of: "http://", with: "ws://")
            conf += "LoadModule proxy_wstunnel_module \(modules)/mod_proxy_wstunnel.so\n"
            conf += "ProxyPreserveHost On\nProxyPass /app/ws \(ws)/app/ws\n"
            conf += "ProxyPass /app/ \(backend)/app/\nProxyPassReverse /app/ \(backend)/app/\n"
        case .noWstunnel:
            conf += "ProxyPreserveHost On\nProxyPass /app/ \(backend)/app/\nProxyPassReverse /app/ \(backend)/app/\n"
        }
        let confPath = dir.file("httpd.conf")
        try conf.write(toFile: confPath, atomically: true, encoding: .utf8)
        let pid = try spawnInOwnGroup(apache, ["-f", confPath, "-DFOREGROUND"])
        let proxy = ApacheStagingProxy(port: port, directory: dir, pid: pid)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if canConnect(port: port) { return proxy }
            usleep(50_000)
        }
        let log = (try? String(contentsOfFile: dir.file("error.log"), encoding: .utf8)) ?? ""
        proxy.stop()
        throw HarnessError(.network, "apache2 did not start on port \(port): \(log.suffix(600))")
    }

    private init(port: UInt16, directory: TempDir, pid: pid_t) {
        self.port = port
        self.directory = directory
        self.pid = pid
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// Stops apache2 and its workers (the process group this fixture started), killing it after 3 s.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        stopProcessGroup(pid)
    }

    deinit { stop() }
}

/// True when something accepts TCP connections on 127.0.0.1:port.
public func canConnect(port: UInt16) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let len = socklen_t(MemoryLayout<sockaddr_in>.size)
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } } == 0
}

/// Builds recordings for replay tests: a production Apache (`www.example.com` on 10.0.0.1:80)
/// in front of a backend recorded at `http://10.0.0.5:8080`, with linked back exchanges.
public struct ReplayRecordingBuilder {
    public var frontHost = "www.example.com"
    public var frontServer = Endpoint(host: "10.0.0.1", port: 80)
    public var backend = Endpoint(host: "10.0.0.5", port: 8080)
    public private(set) var exchanges: [Exchange] = []
    private var nextID: UInt64 = 1
    private var nextConnection: UInt64 = 1
    public var clock: Int64 = 1_700_000_000_000_000

    public init() {}

    /// A new recorded client connection; returns its id.
    public mutating func newConnection() -> UInt64 {
        defer { nextConnection += 1 }
        return nextConnection
    }

    /// One front exchange (and the back exchange production Apache made for it, when `back` is
    /// given), `gapMicros` after the previous one.
    @discardableResult
    public mutating func add(
        connection: UInt64, method: String = "GET", target: String, requestHeaders: Headers = [], body: [UInt8] = [],
        front: Response, back: Response?, backTarget: String? = nil, gapMicros: Int64 = 10_000
    ) -> (front: UInt64, back: UInt64?) {
        clock += gapMicros
        let start = clock
        let frontID = nextID
        let backID: UInt64? = back == nil ? nil : nextID + 1
        nextID += back == nil ? 1 : 2
        let sequence = UInt32(exchanges.filter { $0.leg == .front && $0.connection.id == connection }.count)
        var frontHeaders: Headers = [HeaderField("Host", frontHost), HeaderField("User-Agent", "replay-test")]
        frontHeaders += requestHeaders
        if !body.isEmpty { frontHeaders.append(HeaderField("Content-Length", String(body.count))) }
        if let back, let backID {
            var backHeaders: Headers = [HeaderField("Host", frontHost), HeaderField("User-Agent", "replay-test")]
            backHeaders += requestHeaders
            if !body.isEmpty { backHeaders.append(HeaderField("Content-Length", String(body.count))) }
            backHeaders += [
                HeaderField("X-Forwarded-For", "10.0.0.9"), HeaderField("X-Forwarded-Host", frontHost),
                HeaderField("X-Forwarded-Server", frontHost), HeaderField("Connection", "Keep-Alive"),
            ]
            exchanges.append(
                Exchange(
                    id: backID, leg: .back,
                    connection: ConnectionInfo(
                        id: 1000 + connection, client: Endpoint(host: "10.0.0.1", port: 40000 + UInt16(connection)),
                        server: backend),
                    sequence: sequence,
                    timing: Timing(requestStart: start + 200, requestEnd: start + 300, responseStart: start + 1000, responseEnd: start + 1500),
                    request: Request(method: method, target: backTarget ?? target, headers: backHeaders, body: body),
                    response: back, link: Link(frontID: frontID, confidence: .exact)))
        }
        exchanges.append(
            Exchange(
                id: frontID, leg: .front,
                connection: ConnectionInfo(
                    id: connection, client: Endpoint(host: "10.0.0.9", port: 50000 + UInt16(connection)), server: frontServer),
                sequence: sequence,
                timing: Timing(requestStart: start, requestEnd: start + 100, responseStart: start + 1800, responseEnd: start + 2000),
                request: Request(method: method, target: target, headers: frontHeaders, body: body), response: front,
                framing: [.keepAlive]))
        return (frontID, backID)
    }

    public func write(to path: String, header extra: [Annotation] = []) throws {
        var header = LogHeader(metadata: [Annotation("source", "test"), Annotation("original_host", frontHost)])
        header.metadata += extra
        try LogFile.write(exchanges, to: path, header: header)
    }

    /// The scripted session plus a WebSocket handshake on `/app/ws` (101 on both legs), recorded
    /// through a production Apache whose route used mod_proxy_wstunnel.
    public static func websocketSession() -> ReplayRecordingBuilder {
        var b = scriptedSession()
        b.addWebSocketHandshake(connection: b.newConnection(), target: "/app/ws")
        return b
    }

    /// A WebSocket handshake on both legs: the Upgrade request, answered 101 Switching Protocols.
    @discardableResult
    public mutating func addWebSocketHandshake(connection: UInt64, target: String) -> (front: UInt64, back: UInt64?) {
        let upgrade: Headers = [
            HeaderField("Upgrade", "websocket"), HeaderField("Connection", "Upgrade"),
            HeaderField("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), HeaderField("Sec-WebSocket-Version", "13"),
        ]
        let switching = Response(
            status: 101, reason: "Switching Protocols",
            headers: [
                HeaderField("Upgrade", "websocket"), HeaderField("Connection", "Upgrade"),
                HeaderField("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ])
        return add(connection: connection, target: target, requestHeaders: upgrade, front: switching, back: switching)
    }

    /// The scripted session: pages, a login redirect, a POST with a cookie, a chunked large body,
    /// a second connection with a redirect to a directory; every front answer is what a correctly
    /// configured Apache (ProxyPass/ProxyPassReverse `/app/`, ProxyPreserveHost On) returns.
    public static func scriptedSession() -> ReplayRecordingBuilder {
        var b = ReplayRecordingBuilder()
        let backendOrigin = "http://10.0.0.5:8080"
        let publicOrigin = "http://www.example.com"
        func ok(_ text: String, _ extra: Headers = []) -> Response {
            Response(
                status: 200, reason: "OK",
                headers: [HeaderField("Content-Type", "text/html"), HeaderField("Content-Length", String(text.utf8.count))] + extra,
                body: Array(text.utf8))
        }
        func redirect(_ status: UInt16, _ location: String) -> Response {
            Response(
                status: status, reason: status == 302 ? "Found" : "Moved Permanently",
                headers: [HeaderField("Location", location), HeaderField("Content-Length", "0")])
        }
        let big = [UInt8]((0..<200_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
        let c1 = b.newConnection()
        b.add(connection: c1, target: "/app/", front: ok("home"), back: ok("home"))
        b.add(
            connection: c1, target: "/app/login?next=%2Fapp%2F", front: redirect(302, "\(publicOrigin)/app/welcome"),
            back: redirect(302, "\(backendOrigin)/app/welcome"))
        b.add(
            connection: c1, method: "POST", target: "/app/form",
            requestHeaders: [HeaderField("Content-Type", "application/x-www-form-urlencoded")], body: Array("a=1&b=2".utf8),
            front: ok("saved", [HeaderField("Set-Cookie", "sid=abc; Path=/app")]),
            back: ok("saved", [HeaderField("Set-Cookie", "sid=abc; Path=/app")]))
        let chunked = Response(
            status: 200, reason: "OK",
            headers: [HeaderField("Content-Type", "application/octet-stream"), HeaderField("Transfer-Encoding", "chunked")],
            body: big)
        b.add(connection: c1, target: "/app/big", front: chunked, back: chunked)
        let c2 = b.newConnection()
        b.add(connection: c2, target: "/app/docs", front: redirect(301, "\(publicOrigin)/app/docs/"), back: redirect(301, "\(backendOrigin)/app/docs/"))
        b.add(connection: c2, target: "/app/docs/", front: ok("docs"), back: ok("docs"))
        return b
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np`, when the C library has it.
private let spawnCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
}()

/// Starts `path` with `arguments` as the leader of a new process group, output discarded (or
/// appended to `output`). (Not Foundation's Process: it could leave the server's exit unreaped
/// and hang on wait.)
func spawnInOwnGroup(_ path: String, _ arguments: [String], output: String = "/dev/null") throws -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    // The test process's threads block signals and a child inherits the mask: unblock them and
    // restore the default actions, so SIGTERM/SIGINT stop the server gracefully and at once.
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attributes, &none)
    var stopSignals = sigset_t()
    sigemptyset(&stopSignals)
    for s in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&stopSignals, s) }
    posix_spawnattr_setsigdefault(&attributes, &stopSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    posix_spawnattr_setpgroup(&attributes, 0)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    // Nothing else of the test process: its sockets and pipes (other tests' clients, `Run.process`
    // pipes, simulated backends) must not stay open in a server that outlives them, or their
    // peers never see EOF.
    // (glibc 2.34+; Swift's Glibc module does not import it, so it is looked up.)
    if let closeFrom = spawnCloseFrom { _ = closeFrom(&actions, 3) }
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
    guard rc == 0 else { throw HarnessError(.io, "cannot start \(path): \(String(cString: strerror(rc)))") }
    return pid
}
