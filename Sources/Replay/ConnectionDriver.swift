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

    private struct InFlight {
        var pending: PendingRequest
        var id: UInt64
        var start: Int64
        var requestEnd: Int64 = 0
        /// Notes added while it ran (an upgrade), after the request's own.
        var notes: [Annotation] = []
    }

    private var queue = CircularBuffer<PendingRequest>()
    private var active = false
    private var inputClosed = false
    private var finished = false
    /// The connection's last request was enqueued: close once it is done.
    private var lastEnqueued = false
    private var state = State.idle
    /// The connection to the target (its reader frames the responses and is told each request's
    /// method).
    private var connection: (any ClientConnection)?
    /// Where requests are serialized (one buffer per driver, reused while the transport does not
    /// hold on to it).
    private var scratch = ByteBufferAllocator().buffer(capacity: 1024)
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

    /// Where this driver queues its next pump after a response (one task per wake-up of `loop`).
    private let pumps: LoopPumps

    init(recordedID: UInt64, pumps: LoopPumps, engine: ReplayEngine) {
        self.recordedID = recordedID
        self.loop = pumps.loop
        self.pumps = pumps
        self.engine = engine
    }

    /// Sends the next request if it is due and the connection is free (`LoopPumps` calls it).
    func pumpNow() { pump() }

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
        if connection == nil {
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
        if let poll = loop as? PollLoop, let address = target.address, target.sslContext == nil {
            let reader = ResponseReader(driver: self, maxBody: maxBody)
            PollConnection.connect(on: poll, to: address, reader: reader, timeout: engine.connectTimeout) { [self] result in
                switch result {
                case .success(let c): connected(c)
                case .failure(let f): connected(failure: f.kind)
                }
            }
            return
        }
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(engine.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let ssl = target.sslContext {
                        try sync.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: target.serverHostname))
                    }
                    try sync.addHandler(ReplayClientHandler(reader: ResponseReader(driver: self, maxBody: maxBody)))
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
            switch result {
            case .success(let ch):
                guard let handler = try? ch.pipeline.syncOperations.handler(type: ReplayClientHandler.self) else {
                    ch.close(promise: nil)
                    connected(failure: "error: the connection's pipeline is gone")
                    return
                }
                connected(ChannelConnection(channel: ch, reader: handler.reader))
            case .failure(let error):
                connected(failure: ConnectionFailure.classify(error))
            }
        }
    }

    /// The connection is up: requests go out on it.
    private func connected(_ c: any ClientConnection) {
        state = .idle
        if finished {
            c.close()
            return
        }
        connection = c
        clientEndpoint = c.localEndpoint
        serverEndpoint = c.remoteEndpoint
        connectionID = engine.recorder.newConnectionID()
        sequence = 0
        // Not from inside the connect promise: NIO completes it before the pipeline has seen
        // channelActive, and a write from there races the channel's own bookkeeping.
        loop.execute { [self] in pump() }
    }

    /// No connection: the next request is recorded with `kind` as its error.
    private func connected(failure kind: String) {
        state = .idle
        failNext(kind: kind)
        loop.execute { [self] in pump() }
    }

    /// The next request could not be sent (no connection): record the error, go on.
    private func failNext(kind: String) {
        guard let p = queue.popFirst() else { return }
        engine.dequeued(self)
        let id = engine.recorder.newExchangeID()
        record(InFlight(pending: p, id: id, start: Clock.nowMicros()), response: nil, error: kind, connected: false)
    }

    private func send() {
        guard let connection, let p = queue.popFirst() else { return }
        engine.dequeued(self)
        let id = engine.recorder.newExchangeID()
        if p.isConnect {
            record(
                InFlight(pending: p, id: id, start: Clock.nowMicros()), response: nil,
                error: "unsupported: CONNECT is not replayed", connected: true)
            state = .idle
            pump()
            return
        }
        engine.matcher?.beginFront(originalID: p.originalID, replayedID: id)
        inflight = InFlight(pending: p, id: id, start: Clock.nowMicros())
        state = .sending
        connection.reader.requestMethod = p.request.method
        let bodyCount = p.request.body.count
        scratch.clear()
        scratch.reserveCapacity(p.headSize + bodyCount + 32)
        Self.serialize(p, into: &scratch)
        if bodyCount > Self.smallBody {
            connection.write(scratch) { [self] in
                if inflight?.id == id { inflight?.requestEnd = Clock.nowMicros() }
            }
        } else {
            // A small request is written by the flush itself (loopback, an empty socket buffer);
            // no promise and callback per request for its end time.
            connection.write(scratch, written: nil)
            inflight?.requestEnd = Clock.nowMicros()
        }
        // A large request's buffer is not kept for the connection's next ones.
        if scratch.capacity > Self.scratchKept { scratch = ByteBufferAllocator().buffer(capacity: 1024) }
        inflightDeadline = .now() + engine.requestTimeout
        armTimeout()
    }

    /// Requests with bodies up to this size take their end time when the flush returns.
    static let smallBody = 16 << 10

    /// The largest serialization buffer a driver keeps between requests.
    static let scratchKept = 64 << 10

    /// Bytes of the request line and header section, exactly as `serialize` writes them.
    static func headSize(_ r: Request) -> Int {
        HeadBytes.requestSize(method: r.method, target: r.target, headers: r.headers)
    }

    /// Whether `serialize` sends the body of `r` chunked (its Transfer-Encoding says so).
    static func isChunked(_ r: Request) -> Bool {
        r.headers.first("Transfer-Encoding")?.lowercased().contains("chunked") == true
    }

    /// As `serialize(_:into:)` for a request as it is (tests).
    static func serialize(_ r: Request, into b: inout ByteBuffer) {
        let prepared = OutgoingRequest.Prepared(
            request: r, annotations: [], headSize: headSize(r), chunked: isChunked(r), framing: [])
        serialize(
            PendingRequest(
                originalID: 0, connectionID: 0, prepared: prepared, originalStatus: nil, originalErrored: false, due: nil,
                last: false),
            into: &b)
    }

    /// The request as HTTP/1.x bytes: request line, headers as given (the framing headers were
    /// settled by `OutgoingRequest`), the body as is, or as one chunk plus the trailers when the
    /// request is `chunked`. The head's size was worked out on the reader thread.
    static func serialize(_ p: PendingRequest, into b: inout ByteBuffer) {
        // The closure holds the request's object, not a copy of the request (a copy retained and
        // released each of its strings and arrays, on the event loop, at every request).
        b.writeWithUnsafeMutableBytes(minimumWritableBytes: p.headSize) { [p] in
            HeadBytes.writeRequest(
                method: p.request.method, target: p.request.target, version: p.request.version,
                headers: p.request.headers, into: $0)
        }
        guard p.chunked else {
            if !p.request.body.isEmpty { b.writeBytes(p.request.body) }
            return
        }
        let r = p.request
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

    // MARK: events from the channel handler (on loop)

    func responseReceived(_ received: ReceivedResponse, from reader: ResponseReader) {
        guard reader === connection?.reader, state == .sending, inflight != nil else { return }
        // After a 101 the connection speaks another protocol: the handshake is what a replay
        // compares (the recording keeps the tunnel's byte counts, not its frames).
        let upgraded = received.status == 101
        if upgraded, inflight != nil {
            inflight?.notes.append(Annotation("upgrade", "handshake replayed; tunnel data is not replayed"))
        }
        let m = received.message
        let listed = m.mayHaveConnectionField
        let closes =
            upgraded
            || (listed && Self.hasConnectionToken(m.headers, "close"))
            || (m.version.minor == 0 && !(listed && Self.hasConnectionToken(m.headers, "keep-alive")))
        endInFlight(response: received, error: nil)
        if closes { dropChannel() }
        // The next request leaves after the loop has handled every response of this wake-up
        // (`LoopPumps`): the requests of one wake-up reach the target together, as wrk's do,
        // instead of one write (and one wake-up of the target) per response while the target
        // waits on the loop.
        pumps.add(self)
    }

    func connectionClosed(_ reader: ResponseReader, partial: ReceivedResponse?) {
        guard reader === connection?.reader else { return }
        connection = nil
        if state == .sending {
            endInFlight(response: partial, error: "reset")
            pump()
        }
    }

    func connectionFailed(_ reader: ResponseReader, kind: String) {
        guard reader === connection?.reader else { return }
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
        connection?.close()
        connection = nil
    }

    private func endInFlight(response: ReceivedResponse?, error: String?) {
        guard let f = inflight else { return }
        inflightDeadline = .distantFuture
        inflight = nil
        state = .idle
        record(f, response: response, error: error, connected: connection != nil)
    }

    /// Hands the replayed exchange to the result writer, which builds it (`FrontResult.build`)
    /// on its own thread.
    private func record(_ f: InFlight, response received: ReceivedResponse?, error: String?, connected: Bool) {
        let p = f.pending
        let target = engine.target
        let result = FrontResult(
            pending: p, id: f.id, connectionID: connectionID,
            client: connected ? clientEndpoint : Endpoint(host: "0.0.0.0", port: 0),
            server: connected ? serverEndpoint ?? Endpoint(host: target.origin.host, port: target.origin.port)
                : Endpoint(host: target.origin.host, port: target.origin.port),
            tls: target.origin.tls, sni: target.serverHostname, sequence: sequence, start: f.start,
            requestEnd: f.requestEnd, response: received, error: error, notes: f.notes)
        sequence += 1
        let differs = p.originalStatus != received?.status || (error != nil && !p.originalErrored)
        engine.recorder.append(result)
        engine.matcher?.endFront(originalID: p.originalID)
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
