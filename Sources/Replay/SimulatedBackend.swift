import HarnessCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// What a simulated backend needs to answer: its index among the recorded backends, how to
/// rewrite recorded answers for its address, the shared matcher and the result log.
struct BackendContext: Sendable {
    var index: Int
    var listener: Origin
    var rewriter: ResponseRewriter
    var matcher: BackendMatcher
    var recorder: ResultRecorder
    var counters: ReplayCounters
    /// Wait as long as the recorded backend took before its answer (see `ReplayConfiguration.backendLatency`).
    var latency = false
}

/// A listener that plays one recorded backend for the staging proxy.
final class SimulatedBackend: Sendable {
    let channel: any Channel
    let listener: Origin
    private let box: ContextBox

    private init(channel: any Channel, listener: Origin, box: ContextBox) {
        self.channel = channel
        self.listener = listener
        self.box = box
    }

    /// Binds `spec` (port 0 = ephemeral) on `group`; connections are closed until `activate`.
    static func bind(spec: BackendSpec, group: any EventLoopGroup, certificate: BackendCertificate?) async throws
        -> SimulatedBackend
    {
        let sslContext = try certificate?.serverContext()
        let box = ContextBox()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let context = box.value else { throw ChannelError.ioOnClosedChannel }
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    var encoder = HTTPResponseEncoder.Configuration()
                    encoder.automaticallySetFramingHeaders = false
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: true, withErrorHandling: true, withOutboundHeaderValidation: false,
                        withEncoderConfiguration: encoder)
                    try channel.pipeline.syncOperations.addHandler(
                        BackendHandler(context: context, connectionID: context.recorder.newConnectionID(), tls: sslContext != nil))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: spec.listenHost, port: spec.listenPort).get()
        } catch {
            throw HarnessError(.network, "cannot listen on \(spec.listenHost):\(spec.listenPort) for the simulated backend: \(error)")
        }
        let port = UInt16(channel.localAddress?.port ?? spec.listenPort)
        let advertised = (spec.listenHost == "0.0.0.0" || spec.listenHost == "::") ? "127.0.0.1" : spec.listenHost
        return SimulatedBackend(channel: channel, listener: Origin(tls: spec.tls, host: advertised, port: port), box: box)
    }

    /// Starts answering with `context`.
    func activate(_ context: BackendContext) {
        box.value = context
    }

    func stop() async {
        try? await channel.close()
    }
}

/// Set once after bind, read by the child initializer.
private final class ContextBox: @unchecked Sendable {
    private let lock = PosixLock()
    private var stored: BackendContext?
    var value: BackendContext? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// Answers one proxy connection from the recorded back leg and records what it received.
final class BackendHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let context: BackendContext
    private let connectionID: UInt64
    private let tls: Bool
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var started: Int64 = 0
    private var sequence: UInt32 = 0

    init(context: BackendContext, connectionID: UInt64, tls: Bool) {
        self.context = context
        self.connectionID = connectionID
        self.tls = tls
    }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            started = Clock.nowMicros()
            if h.headers.first(name: "expect")?.lowercased() == "100-continue" {
                ctx.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: .continue))), promise: nil)
                ctx.flush()
            }
        case .body(var buffer):
            if let bytes = buffer.readBytes(length: buffer.readableBytes) { body += bytes }
        case .end(let trailers):
            guard let h = head else { return }
            head = nil
            respond(ctx, head: h, trailers: trailers)
        }
    }

    private func respond(_ ctx: ChannelHandlerContext, head h: HTTPRequestHead, trailers: HTTPHeaders?) {
        let requestEnd = Clock.nowMicros()
        let request = Request(
            method: h.method.rawValue, target: h.uri,
            version: HTTPVersionNumber(major: UInt8(clamping: h.version.major), minor: UInt8(clamping: h.version.minor)),
            headers: h.headers.map { HeaderField($0.name, $0.value) }, body: body,
            trailers: trailers.map { $0.map { HeaderField($0.name, $0.value) } } ?? [])
        context.counters.backendRequest()
        let match = context.matcher.match(
            origin: context.index, method: request.method, target: request.target, body: body, headers: request.headers)
        var response: Response
        var annotations: [Annotation] = []
        var link: Link?
        var replayOf: UInt64?
        var closeAfter = !h.isKeepAlive
        var delay: Int64 = 0
        switch match {
        case .matched(let recorded, let l, let reused):
            link = l
            if context.latency { delay = Self.recordedLatency(recorded) }
            replayOf = recorded.id
            if reused { annotations.append(Annotation("match", "reused")) }
            response = served(recorded, method: request.method)
            if recorded.response == nil { annotations.append(Annotation("recorded", "no response")) }
            if recorded.response?.bodyTruncation != nil { annotations.append(Annotation("recorded", "body truncated")) }
            if let c = response.headers.first("Connection"), c.lowercased().contains("close") { closeAfter = true }
            // A recorded 101: the handshake is answered; the tunnel's frames are not in the
            // recording, so the connection ends once the answer is out.
            if response.status == 101 { closeAfter = true }
        case .unmatched(let why, let l):
            link = l
            annotations.append(Annotation("unmatched", why))
            let text = Array("harness: no recorded backend answer: \(why)\n".utf8)
            let headerValue = String(why.unicodeScalars.map { $0.value < 32 || $0.value > 126 ? " " : Character($0) }.prefix(512))
            response = Response(
                status: 502, reason: "Bad Gateway", version: .http11,
                headers: [
                    HeaderField("Content-Type", "text/plain; charset=utf-8"),
                    HeaderField("Content-Length", String(text.count)),
                    HeaderField("X-Harness-Unmatched", headerValue),
                ], body: text)
            context.counters.unmatched()
        }
        if closeAfter && !response.headers.has("Connection") {
            response.headers.append(HeaderField("Connection", "close"))
        }
        let local = ctx.channel.localAddress
        let remote = ctx.channel.remoteAddress
        var framing: Framing = []
        if response.headers.first("Transfer-Encoding")?.lowercased().contains("chunked") == true {
            framing.insert(.responseChunked)
        } else if response.headers.has("Content-Length") {
            framing.insert(.responseContentLength)
        }
        if !closeAfter { framing.insert(.keepAlive) }
        // Recorded before a byte of the answer leaves: the proxy may relay it and the replay may end
        // at once, and the result log must already hold this backend call then. (With recorded
        // latency the answer leaves `delay` later; a proxy that gives up meanwhile still made the call.)
        let responseStart = Clock.nowMicros() + delay
        let exchange = Exchange(
            id: context.recorder.newExchangeID(), leg: .back,
            connection: ConnectionInfo(
                id: connectionID, client: endpoint(remote), server: endpoint(local), tls: tls),
            sequence: sequence,
            timing: Timing(requestStart: started, requestEnd: requestEnd, responseStart: responseStart, responseEnd: responseStart),
            request: request, response: response, framing: framing, link: link, replayOf: replayOf,
            annotations: annotations)
        sequence += 1
        context.recorder.append(exchange)
        if delay > 0 {
            ctx.eventLoop.assumeIsolated().scheduleTask(in: .microseconds(delay)) { [self] in
                self.write(ctx, response: response, head: h, method: request.method, closeAfter: closeAfter)
            }
        } else {
            write(ctx, response: response, head: h, method: request.method, closeAfter: closeAfter)
        }
    }

    /// How long the recorded backend took to start its answer after the request (µs, capped at 5 min).
    static func recordedLatency(_ recorded: Exchange) -> Int64 {
        let t = recorded.timing
        let sent = t.requestEnd > 0 ? t.requestEnd : t.requestStart
        guard sent > 0, t.responseStart > sent else { return 0 }
        return min(t.responseStart - sent, 300_000_000)
    }

    private func write(_ ctx: ChannelHandlerContext, response: Response, head h: HTTPRequestHead, method: String, closeAfter: Bool) {
        guard ctx.channel.isActive else { return }
        let version = HTTPVersion(major: Int(h.version.major), minor: Int(h.version.minor))
        var nioHeaders = HTTPHeaders()
        for f in response.headers { nioHeaders.add(name: f.name, value: f.value) }
        let status = HTTPResponseStatus(statusCode: Int(response.status), reasonPhrase: response.reason)
        ctx.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: nioHeaders))), promise: nil)
        if !response.body.isEmpty && method != "HEAD" {
            ctx.write(wrapOutboundOut(.body(.byteBuffer(ctx.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        let endTrailers: HTTPHeaders? =
            response.trailers.isEmpty ? nil : HTTPHeaders(response.trailers.map { ($0.name, $0.value) })
        let done = ctx.writeAndFlush(wrapOutboundOut(.end(endTrailers)))
        if closeAfter {
            let channel = ctx.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// The recorded answer, rewritten for this listener and re-framed for its body.
    private func served(_ recorded: Exchange, method: String) -> Response {
        guard var r = recorded.response else {
            let text = Array("harness: the recorded backend exchange \(recorded.id) has no response\n".utf8)
            return Response(
                status: 502, reason: "Bad Gateway",
                headers: [HeaderField("Content-Length", String(text.count)), HeaderField("X-Harness-Unmatched", "no recorded response")],
                body: text)
        }
        r.headers = context.rewriter.rewrite(r.headers)
        r.interim = []
        let bodiless = method == "HEAD" || r.status < 200 || r.status == 204 || r.status == 304
        if bodiless {
            r.body = []
            return r
        }
        let chunked = r.headers.first("Transfer-Encoding")?.lowercased().contains("chunked") == true
        if chunked {
            r.headers.remove("Content-Length")
            r.headers.set("Transfer-Encoding", "chunked")
        } else {
            r.headers.remove("Transfer-Encoding")
            r.headers.set("Content-Length", String(r.body.count))
            r.trailers = []
        }
        return r
    }

    func errorCaught(context ctx: ChannelHandlerContext, error: any Error) {
        ctx.close(promise: nil)
    }
}

/// The endpoint of a socket address (unknown: 0.0.0.0:0).
func endpoint(_ address: SocketAddress?) -> Endpoint {
    guard let address, let ip = address.ipAddress else { return Endpoint(host: "0.0.0.0", port: 0) }
    return Endpoint(host: ip, port: UInt16(clamping: address.port ?? 0))
}
