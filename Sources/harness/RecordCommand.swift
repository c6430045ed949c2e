import ArgumentParser
import Dispatch
import Foundation
import HarnessCore
import Proxy

/// `harness record`: run the recording reverse proxy until SIGINT/SIGTERM, writing both legs of
/// every exchange to a log.
struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Run a recording reverse proxy (mod_proxy semantics) and write every exchange to a log.",
        discussion: """
            Routes follow Apache's ProxyPass: --route /app/=http://10.0.0.5:8080/x/ maps /app/foo to /x/foo. \
            Several URLs (comma-separated) form a balancer pool; a URL may end in #route=NAME (sticky \
            session route) or #standby (hot standby). SIGINT/SIGTERM stops accepting, drains, flushes and \
            closes the log, then prints the counts.
            """)

    @Option(help: "Where to listen, HOST:PORT (port 0 = ephemeral; the bound port is printed).")
    var listen: String = "127.0.0.1:8080"

    @Option(help: "The upstream URL for every path (one route / -> URL).")
    var upstream: String?

    @Option(name: .customLong("route"), help: "PREFIX=URL[,URL...] (repeatable), like ProxyPass PREFIX URL.")
    var routes: [String] = []

    @Option(name: .shortAndLong, help: "The recording log to write (- for stdout).")
    var output: String

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: the front speaks HTTPS.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Flag(name: .customLong("reverse"), help: "Rewrite Location/Content-Location/URI like ProxyPassReverse.")
    var reverse = false

    @Flag(name: .customLong("preserve-host"), help: "Send the client's Host upstream (ProxyPreserveHost On).")
    var preserveHost = false

    @Flag(name: .customLong("no-forwarded-headers"), help: "Do not add X-Forwarded-For/-Host/-Server.")
    var noForwardedHeaders = false

    @Flag(help: "Add Via headers (ProxyVia On).")
    var via = false

    @Flag(name: .customLong("first-match"), help: "The first matching route wins (Apache order), not the longest.")
    var firstMatch = false

    @Option(name: .customLong("server-name"), help: "The proxy's name in X-Forwarded-Server and Via.")
    var serverName: String?

    @Option(name: .customLong("set-request-header"), help: "'Name: value' set on upstream requests (empty value removes).")
    var setRequestHeaders: [String] = []

    @Option(name: .customLong("set-response-header"), help: "'Name: value' set on responses (empty value removes).")
    var setResponseHeaders: [String] = []

    @Flag(name: .customLong("upstream-insecure"), help: "Do not verify upstream certificates (SSLProxyVerify none).")
    var upstreamInsecure = false

    @Option(name: .customLong("upstream-ca"), help: "PEM file of extra trust roots for upstream certificates.")
    var upstreamCA: String?

    @Option(name: .customLong("sticky-cookie"), help: "Sticky-session cookie for balancer routes (e.g. ROUTEID).")
    var stickyCookie: String?

    @OptionGroup(title: "Redaction")
    var redaction: RedactionOptions

    @Option(name: .customLong("connect-timeout"), help: "Upstream connect timeout, seconds.")
    var connectTimeout: Double = 5

    @Option(name: .customLong("read-timeout"), help: "Upstream read timeout, seconds (504 before the response head).")
    var readTimeout: Double = 60

    @Option(name: .customLong("idle-timeout"), help: "Idle keep-alive client connections close after this many seconds.")
    var idleTimeout: Double = 60

    @Option(name: .customLong("request-head-timeout"), help: "Seconds a request head may take to arrive (408).")
    var requestHeadTimeout: Double = 20

    @Option(name: .customLong("max-header-bytes"), help: "Request header size limit (431).")
    var maxHeaderBytes: Int = 32 << 10

    @Option(name: .customLong("max-body-bytes"), help: "Request body size limit (413).")
    var maxBodyBytes: Int?

    @Option(name: .customLong("max-connections"), help: "Client connections over this number are closed.")
    var maxConnections: Int = 10_000

    @Option(name: .customLong("max-record-body"), help: "Body bytes recorded per message (longer bodies keep a SHA-256).")
    var maxRecordBody: Int = 1 << 20

    @Option(name: .customLong("queue-size"), help: "Exchanges the recording queue holds before leaving some out.")
    var queueSize: Int = 8192

    @Option(help: "Print a statistics line every this many seconds.")
    var stats: Double?

    @Option(help: "Event loop threads (0 = one per core).")
    var threads: Int = 0

    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics (port 0 = ephemeral).")
    var metrics: String?

    func validate() throws {
        if upstream == nil && routes.isEmpty { throw ValidationError("give --upstream URL or at least one --route PREFIX=URL") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if let stats, stats <= 0 { throw ValidationError("--stats takes a positive number of seconds") }
    }

    func makeConfiguration() throws -> ProxyConfiguration {
        var c = ProxyConfiguration()
        guard let endpoint = Endpoint(parsing: Substring(listen)) else {
            throw HarnessError(.usage, "--listen '\(listen)' is not HOST:PORT")
        }
        c.listenHost = endpoint.host
        c.listenPort = Int(endpoint.port)
        do {
            if let upstream { c.routes.append(try ProxyRoute(upstreamParsing: upstream)) }
            for r in routes { c.routes.append(try ProxyRoute(parsing: r)) }
        } catch {
            throw HarnessError(.usage, error.message)
        }
        if let stickyCookie { for i in c.routes.indices { c.routes[i].stickyCookie = stickyCookie } }
        c.routeMatching = firstMatch ? .configurationOrder : .longestPrefix
        c.reverseRewrite = reverse
        c.preserveHost = preserveHost
        c.addForwardedHeaders = !noForwardedHeaders
        c.via = via
        if let serverName { c.serverName = serverName }
        c.setRequestHeaders = try setRequestHeaders.map(Self.headerField)
        c.setResponseHeaders = try setResponseHeaders.map(Self.headerField)
        c.tlsCertificatePath = tlsCert
        c.tlsKeyPath = tlsKey
        c.upstreamInsecure = upstreamInsecure
        c.upstreamCAPath = upstreamCA
        c.connectTimeoutSeconds = connectTimeout
        c.readTimeoutSeconds = readTimeout
        c.idleTimeoutSeconds = idleTimeout
        c.requestHeadTimeoutSeconds = requestHeadTimeout
        c.maxHeaderBytes = maxHeaderBytes
        c.maxBodyBytes = maxBodyBytes
        c.maxConnections = maxConnections
        c.maxRecordedBodyBytes = maxRecordBody
        c.recordQueueCapacity = queueSize
        c.threads = threads
        do { try c.validate() } catch { throw HarnessError(.usage, error.message) }
        return c
    }

    static func headerField(_ text: String) throws -> HeaderField {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
            throw HarnessError(.usage, "header '\(text)' must look like 'Name: value'")
        }
        return HeaderField(
            String(text[..<colon]), text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }

    func run() async throws {
        try await withExitCodes {
            let configuration = try makeConfiguration()
            var header = LogHeader()
            header["source"] = "record"
            header["upstream"] = configuration.routes.map { "\($0.prefix)=\($0.upstreams.map(\.url).joined(separator: ","))" }
                .joined(separator: ";")
            let redactor = try redaction.makeRedactor()
            if let redactor { header["redacted"] = redactor.headerDescription }
            let writer = try LogWriter(path: output, header: header)
            let proxy = RecordingProxy(
                configuration: configuration, recorder: writer, transform: redactor?.transform)
            let port = try await proxy.start()
            let scheme = configuration.tlsCertificatePath == nil ? "http" : "https"
            let host = configuration.listenHost.contains(":") ? "[\(configuration.listenHost)]" : configuration.listenHost
            Console.error("harness: recording on \(scheme)://\(host):\(port) -> \(output)\n")

            let stop = SignalWaiter(signals: [SIGINT, SIGTERM])
            if let metrics {
                guard let at = Endpoint(parsing: Substring(metrics)) else {
                    throw HarnessError(.usage, "--metrics takes HOST:PORT, not '\(metrics)'")
                }
                let endpoint = try await proxy.startMetrics(host: at.host, port: Int(at.port))
                Console.error("harness: metrics on http://\(at.host):\(endpoint.port)/metrics\n")
            }
            let statsTask: Task<Void, Never>? = stats.map { interval in
                Task {
                    var last = proxy.statistics
                    while !Task.isCancelled {
                        try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                        if Task.isCancelled { break }
                        let now = proxy.statistics
                        let rate = Double(now.requests - last.requests) / interval
                        Console.error(
                            "harness: \(String(format: "%.1f", rate)) req/s requests=\(now.requests) "
                                + "recorded=\(now.recorded) flushed=\(proxy.flushed) left_out=\(now.leftOut) "
                                + "upstream_errors=\(now.upstreamErrors) connections=\(now.activeConnections)\n")
                        last = now
                    }
                }
            }
            await stop.wait()
            statsTask?.cancel()
            Console.error("harness: stopping (draining in-flight exchanges)\n")
            try await proxy.shutdown()
            let s = proxy.statistics
            Console.error(
                "harness: requests=\(s.requests) recorded=\(proxy.written) left_out=\(s.leftOut) "
                    + "upstream_errors=\(s.upstreamErrors) client_errors=\(s.clientErrors)\n")
            if let error = proxy.recorderError {
                throw HarnessError(.io, "the log could not be written completely: \(error)", path: output)
            }
        }
    }
}

/// Waits for the first of some signals (their default action is turned off while waiting).
final class SignalWaiter: @unchecked Sendable {
    // Guarded by `lock`.
    private var fired = false
    private var continuation: CheckedContinuation<Void, Never>?
    private let lock = NSLock()
    private var sources: [any DispatchSourceSignal] = []

    init(signals: [Int32]) {
        for s in signals {
            signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler { [weak self] in self?.fire() }
            source.resume()
            sources.append(source)
        }
    }

    private func fire() {
        let c: CheckedContinuation<Void, Never>? = lock.withLock {
            fired = true
            defer { continuation = nil }
            return continuation
        }
        c?.resume()
    }

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = lock.withLock {
                if fired { return true }
                continuation = c
                return false
            }
            if now { c.resume() }
        }
    }
}
