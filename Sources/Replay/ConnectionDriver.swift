import HarnessCore
import NIOCore
import NIOHTTP1
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
        init(_ e: Exchange) {
            id = e.id
            status = e.response?.status
            errored = e.error != nil
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
                    var encoder = HTTPRequestEncoder.Configuration()
                    encoder.automaticallySetFramingHeaders = false
                    try sync.addHTTPClientHandlers(enableOutboundHeaderValidation: false, encoderConfiguration: encoder)
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
        let request = outgoingRequest(p.exchange.request).request
        record(
            InFlight(original: Original(p.exchange), request: request, id: id, start: now, requestEnd: 0, annotations: []),
            response: nil, error: kind, channel: nil)
    }

    private func send() {
        guard let channel, let p = queue.popFirst() else { return }
        engine.dequeued(self)
        let original = p.exchange
        let (request, annotations) = outgoingRequest(original.request)
        let id = engine.recorder.newExchangeID()
        if original.request.method.uppercased() == "CONNECT" {
            record(
                InFlight(original: Original(original), request: request, id: id, start: Clock.nowMicros(), annotations: annotations),
                response: nil, error: "unsupported: CONNECT is not replayed", channel: channel)
            state = .idle
            pump()
            return
        }
        engine.matcher?.beginFront(originalID: original.id, replayedID: id)
        inflight = InFlight(
            original: Original(original), request: request, id: id, start: Clock.nowMicros(), annotations: annotations)
        state = .sending
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headers.count)
        for f in request.headers { headers.add(name: f.name, value: f.value) }
        let head = HTTPRequestHead(
            version: HTTPVersion(major: Int(request.version.major), minor: Int(request.version.minor)),
            method: HTTPMethod(rawValue: request.method), uri: request.target, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if !request.body.isEmpty {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(channel.allocator.buffer(bytes: request.body))), promise: nil)
        }
        let trailers: HTTPHeaders? =
            request.trailers.isEmpty ? nil : HTTPHeaders(request.trailers.map { ($0.name, $0.value) })
        if request.body.count > Self.smallBody {
            channel.writeAndFlush(HTTPClientRequestPart.end(trailers)).whenSuccess { [self] in
                if inflight?.id == id { inflight?.requestEnd = Clock.nowMicros() }
            }
        } else {
            // A small request is written by the flush itself (loopback, an empty socket buffer);
            // no promise and callback per request for its end time.
            channel.writeAndFlush(HTTPClientRequestPart.end(trailers), promise: nil)
            inflight?.requestEnd = Clock.nowMicros()
        }
        inflightDeadline = .now() + engine.requestTimeout
        armTimeout()
    }

    /// Requests with bodies up to this size take their end time when the flush returns.
    static let smallBody = 16 << 10

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
            if r.headers.first("Host") == nil && r.version == .http11 { r.headers.append(HeaderField("Host", engine.target.origin.authority)) }
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
        let upgraded = received.head.status == .switchingProtocols
        if upgraded, var f = inflight {
            f.annotations.append(Annotation("upgrade", "handshake replayed; tunnel data is not replayed"))
            inflight = f
        }
        let closes =
            upgraded
            || received.head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
            || (received.head.version.minor == 0
                && !received.head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "keep-alive" })
        endInFlight(response: received, error: nil)
        if closes { dropChannel() }
        pump()
    }

    func connectionClosed(_ ch: any Channel, partial: ReceivedResponse?) {
        guard ch === channel else { return }
        channel = nil
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

    private func dropChannel() {
        channel?.close(promise: nil)
        channel = nil
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
            let headers = r.head.headers.map { HeaderField($0.name, $0.value) }
            response = Response(
                status: UInt16(clamping: r.head.status.code), reason: r.head.status.reasonPhrase,
                version: HTTPVersionNumber(major: UInt8(clamping: r.head.version.major), minor: UInt8(clamping: r.head.version.minor)),
                headers: headers, body: r.body,
                bodyTruncation: r.sha256.map { BodyTruncation(originalLength: r.bodyLength, sha256: $0) },
                trailers: r.trailers.map { $0.map { HeaderField($0.name, $0.value) } } ?? [], interim: r.interim)
            timing.responseStart = r.responseStart
            timing.responseEnd = r.responseEnd
            if headers.first("Transfer-Encoding")?.lowercased().contains("chunked") == true {
                framing.insert(.responseChunked)
            } else if headers.first("Content-Length") != nil {
                framing.insert(.responseContentLength)
            }
        }
        if f.request.headers.first("Transfer-Encoding") != nil {
            framing.insert(.requestChunked)
        } else if f.request.headers.first("Content-Length") != nil {
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
