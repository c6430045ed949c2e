import Capture
import HarnessCore
import NIOCore
import NIOPosix
import NIOSSL

/// Replays one recorded connection: its requests in order on one connection to the target (a new
/// one when the target closes it), each at its due time and after the previous response.
/// Everything but the `coord*` fields runs on `loop`; those belong to the engine's lock.
final class ConnectionDriver: @unchecked Sendable {
    let recordedID: UInt64
    let loop: any EventLoop
    private unowned let engine: ReplayEngine

    // Guarded by the engine's lock.
    var coordActive = false
    var coordQueued = 0

    private enum State { case idle, waiting, connecting, sending }

    /// What the result needs of the original exchange (not the whole exchange: copying it
    /// retains every header and body).
    private struct Original {
        var id: UInt64
        var status: UInt16?
        var errored: Bool
        init(_ p: PendingRequest) {
            id = p.originalID
            status = p.originalStatus
            errored = p.originalErrored
        }
    }

    private struct InFlight {
        var original: Original
        var request: Request
        var id: UInt64
        var start: Int64
        var requestEnd: Int64 = 0
        var annotations: [Annotation]
    }

    private var queue = CircularBuffer<PendingRequest>()
    private var active = false
    private var inputClosed = false
    private var finished = false
    /// The connection's last request was enqueued: close once it is done.
    private var lastEnqueued = false
    private var state = State.idle
    private var channel: (any Channel)?
    /// The response framer of `channel` (told each request's method).
    private var handler: ReplayClientHandler?
    private var timer: Scheduled<Void>?
    /// One request timeout timer per connection, re-armed lazily: not one scheduled task per request.
    private var timeoutTimer: Scheduled<Void>?
    private var inflightDeadline = NIODeadline.distantFuture
    /// The connection's addresses, formatted once per connection.
    private var clientEndpoint = Endpoint(host: "0.0.0.0", port: 0)
    private var serverEndpoint: Endpoint?
    private var connectionID: UInt64 = 0
    private var sequence: UInt32 = 0
    private var inflight: InFlight?

    init(recordedID: UInt64, loop: any EventLoop, engine: ReplayEngine) {
        self.recordedID = recordedID
        self.loop = loop
        self.engine = engine
    }

    // MARK: fed by the engine (on loop)

    func enqueue(_ request: PendingRequest) {
        if request.last { lastEnqueued = true }
        queue.append(request)
        pump()
    }

    func activate() {
        active = true
        pump()
    }

    func inputEnded() {
        inputClosed = true
        pump()
    }

    // MARK: the state machine

    private func pump() {
        guard active, !finished, state == .idle else { return }
        guard let next = queue.first else {
            if lastEnqueued || inputClosed { finish() }
            return
        }
        let now = NIODeadline.now()
        let due = next.due ?? now
        if channel == nil {
            if due - now > .milliseconds(30) {
                wait(until: due - .milliseconds(20))
            } else {
                connect()
            }
            return
        }
        if due > now {
            wait(until: due)
            return
        }
        send()
    }

    private func wait(until deadline: NIODeadline) {
        state = .waiting
        timer = loop.scheduleTask(deadline: deadline) { [self] in
            state = .idle
            pump()
        }
    }

    private func connect() {
        state = .connecting
        let target = engine.target
        let maxBody = engine.maxBody
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(engine.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let ssl = target.sslContext {
                        try sync.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: target.serverHostname))
                    }
                    try sync.addHandler(ReplayClientHandler(driver: self, maxBody: maxBody))
                }
            }
        let connecting: EventLoopFuture<any Channel>
        if let address = target.address {
            connecting = bootstrap.connect(to: address)
        } else {
            connecting = bootstrap.connect(host: target.origin.host, port: Int(target.origin.port))
        }
        connecting.whenComplete { [self] result in
            loop.assertInEventLoop()
            state = .idle
            switch result {
            case .success(let ch):
                if finished {
                    ch.close(promise: nil)
                    return
                }
                channel = ch
                handler = try? ch.pipeline.syncOperations.handler(type: ReplayClientHandler.self)
                clientEndpoint = endpoint(ch.localAddress)
                serverEndpoint = endpoint(ch.remoteAddress)
                connectionID = engine.recorder.newConnectionID()
                sequence = 0
            case .failure(let error):
                failNext(kind: ConnectionFailure.classify(error))
            }
            // Not from inside the connect promise: NIO completes it before the pipeline has
            // seen channelActive, and a write from there races the channel's own bookkeeping.
            loop.execute { [self] in pump() }
        }
    }

    /// The next request could not be sent (no connection): record the error, go on.
    private func failNext(kind: String) {
        guard let p = queue.popFirst() else { return }
        engine.dequeued(self)
        let id = engine.recorder.newExchangeID()
        let now = Clock.nowMicros()
        let request = outgoingRequest(p.request).request
        record(
            InFlight(original: Original(p), request: request, id: id, start: now, requestEnd: 0, annotations: []),
            response: nil, error: kind, channel: nil)
    }

    private func send() {
        guard let channel, let p = queue.popFirst() else { return }
        engine.dequeued(self)
        let (request, annotations) = outgoingRequest(p.request)
        let id = engine.recorder.newExchangeID()
        if p.request.method.caseInsensitiveEquals("CONNECT") {
            record(
                InFlight(original: Original(p), request: request, id: id, start: Clock.nowMicros(), annotations: annotations),
                response: nil, error: "unsupported: CONNECT is not replayed", channel: channel)
            state = .idle
            pump()
            return
        }
        engine.matcher?.beginFront(originalID: p.originalID, replayedID: id)
        inflight = InFlight(
            original: Original(p), request: request, id: id, start: Clock.nowMicros(), annotations: annotations)
        state = .sending
        handler?.requestMethod = request.method
        var buffer = channel.allocator.buffer(capacity: Self.headSize(request) + request.body.count + 32)
        Self.serialize(request, into: &buffer)
        if request.body.count > Self.smallBody {
            channel.writeAndFlush(buffer).whenSuccess { [self] in
                if inflight?.id == id { inflight?.requestEnd = Clock.nowMicros() }
            }
        } else {
            // A small request is written by the flush itself (loopback, an empty socket buffer);
            // no promise and callback per request for its end time.
            channel.writeAndFlush(buffer, promise: nil)
            inflight?.requestEnd = Clock.nowMicros()
        }
        inflightDeadline = .now() + engine.requestTimeout
        armTimeout()
    }

    /// Requests with bodies up to this size take their end time when the flush returns.
    static let smallBody = 16 << 10

    /// Bytes of the request line and header section, exactly as `serialize` writes them.
    static func headSize(_ r: Request) -> Int {
        HeadBytes.requestSize(method: r.method, target: r.target, headers: r.headers)
    }

    /// The request as HTTP/1.x bytes: request line, headers as given (the framing headers were
    /// settled by `outgoingRequest`), the body as is, or as one chunk plus the trailers when the
    /// request is chunked.
    static func serialize(_ r: Request, into b: inout ByteBuffer) {
        let size = headSize(r)
        b.writeWithUnsafeMutableBytes(minimumWritableBytes: size) {
            HeadBytes.writeRequest(method: r.method, target: r.target, version: r.version, headers: r.headers, into: $0)
        }
        let chunked = r.headers.contains {
            $0.name.caseInsensitiveEquals("transfer-encoding") && $0.value.lowercased().contains("chunked")
        }
        guard chunked else {
            if !r.body.isEmpty { b.writeBytes(r.body) }
            return
        }
        if !r.body.isEmpty {
            b.writeString(String(r.body.count, radix: 16))
            b.writeString("\r\n")
            b.writeBytes(r.body)
            b.writeString("\r\n")
        }
        b.writeString("0\r\n")
        for f in r.trailers {
            b.writeString(f.name)
            b.writeString(": ")
            b.writeString(f.value)
            b.writeString("\r\n")
        }
        b.writeString("\r\n")
    }

    private func armTimeout() {
        guard timeoutTimer == nil, !finished else { return }
        timeoutTimer = loop.scheduleTask(deadline: inflightDeadline) { [self] in
            timeoutTimer = nil
            guard state == .sending, inflight != nil else { return }
            if NIODeadline.now() < inflightDeadline {
                armTimeout()
                return
            }
            endInFlight(response: nil, error: "timeout")
            dropChannel()
            pump()
        }
    }

    /// The recorded request as the replay sends it: Host per `--host-header`, framing re-derived.
    private func outgoingRequest(_ recorded: Request) -> (request: Request, annotations: [Annotation]) {
        var r = recorded
        var notes: [Annotation] = []
        switch engine.hostHeader {
        case .original:
            if !r.headers.has("Host") && r.version == .http11 { r.headers.append(HeaderField("Host", engine.target.origin.authority)) }
        case .target: r.headers.set("Host", engine.target.origin.authority)
        case .value(let v): r.headers.set("Host", v)
        }
        if r.headers.first("Transfer-Encoding")?.lowercased().contains("chunked") == true {
            r.headers.remove("Content-Length")
            r.headers.set("Transfer-Encoding", "chunked")
        } else {
            r.trailers = []
            // Only when it changes: setting a field copies the recorded header list.
            let lengths = r.headers.all("Content-Length")
            if (!r.body.isEmpty || !lengths.isEmpty) && lengths != [String(r.body.count)] {
                r.headers.set("Content-Length", String(r.body.count))
            }
        }
        if recorded.bodyTruncation != nil {
            notes.append(Annotation("request_body", "truncated in the recording; sent \(r.body.count) bytes"))
            r.bodyTruncation = nil
        }
        return (r, notes)
    }

    // MARK: events from the channel handler (on loop)

    func responseReceived(_ received: ReceivedResponse, on ch: any Channel) {
        guard ch === channel, state == .sending, inflight != nil else { return }
        // After a 101 the connection speaks another protocol: the handshake is what a replay
        // compares (the recording keeps the tunnel's byte counts, not its frames).
        let upgraded = received.status == 101
        if upgraded, var f = inflight {
            f.annotations.append(Annotation("upgrade", "handshake replayed; tunnel data is not replayed"))
            inflight = f
        }
        let closes =
            upgraded
            || Self.hasConnectionToken(received.message.headers, "close")
            || (received.message.version.minor == 0 && !Self.hasConnectionToken(received.message.headers, "keep-alive"))
        endInFlight(response: received, error: nil)
        if closes { dropChannel() }
        // The next request leaves after the loop has handled every response of this wake-up
        // (a task runs after the I/O events): the requests of one wake-up reach the target
        // together, as wrk's do, instead of one write (and one wake-up of the target) per
        // response while the target waits on the loop.
        loop.execute { [self] in pump() }
    }

    func connectionClosed(_ ch: any Channel, partial: ReceivedResponse?) {
        guard ch === channel else { return }
        channel = nil
        handler = nil
        if state == .sending {
            endInFlight(response: partial, error: "reset")
            pump()
        }
    }

    func connectionFailed(_ ch: any Channel, kind: String) {
        guard ch === channel else { return }
        if state == .sending {
            endInFlight(response: nil, error: kind)
        }
        dropChannel()
        pump()
    }

    /// Whether a Connection header lists `token` (case-insensitive, comma-separated lists).
    static func hasConnectionToken(_ headers: Headers, _ token: String) -> Bool {
        headers.containsToken("connection", token)
    }

    private func dropChannel() {
        channel?.close(promise: nil)
        channel = nil
        handler = nil
    }

    private func endInFlight(response: ReceivedResponse?, error: String?) {
        guard let f = inflight else { return }
        inflightDeadline = .distantFuture
        inflight = nil
        state = .idle
        record(f, response: response, error: error, channel: channel)
    }

    private func record(_ f: InFlight, response received: ReceivedResponse?, error: String?, channel ch: (any Channel)?) {
        var response: Response?
        var framing: Framing = []
        var timing = Timing(requestStart: f.start, requestEnd: f.requestEnd)
        if let r = received {
            let m = r.message
            response = Response(
                status: m.status, reason: m.reason, version: m.version, headers: m.headers, body: m.body,
                bodyTruncation: m.truncation, trailers: m.trailers, interim: r.interim)
            timing.responseStart = m.startTime
            timing.responseEnd = m.endTime
            if m.chunked {
                framing.insert(.responseChunked)
            } else if m.headers.has("Content-Length") {
                framing.insert(.responseContentLength)
            }
        }
        if f.request.headers.has("Transfer-Encoding") {
            framing.insert(.requestChunked)
        } else if f.request.headers.has("Content-Length") {
            framing.insert(.requestContentLength)
        }
        let target = engine.target
        let connection = ConnectionInfo(
            id: connectionID, client: ch == nil ? Endpoint(host: "0.0.0.0", port: 0) : clientEndpoint,
            server: ch.flatMap { _ in serverEndpoint } ?? Endpoint(host: target.origin.host, port: target.origin.port),
            tls: target.origin.tls, sni: target.serverHostname)
        var flags = Flags()
        if error != nil && response != nil { flags.incomplete = true }
        let exchange = Exchange(
            id: f.id, leg: .front, connection: connection, sequence: sequence, timing: timing, request: f.request,
            response: response, framing: framing, flags: flags, replayOf: f.original.id, error: error,
            annotations: f.annotations)
        sequence += 1
        engine.recorder.append(exchange)
        engine.matcher?.endFront(originalID: f.original.id)
        let differs = f.original.status != response?.status || (error != nil && !f.original.errored)
        engine.counters.frontDone(error: error != nil, statusDiffers: differs)
        engine.requestDone()
    }

    private func finish() {
        finished = true
        timer?.cancel()
        timeoutTimer?.cancel()
        timeoutTimer = nil
        dropChannel()
        engine.driverFinished(self)
    }
}
