import Capture
import HarnessCore
import Synchronization
internal import NIOCore
internal import NIOHTTP1

/// The last handler of a client connection: frames requests from the bytes (`MessageFramer`,
/// no HTTP codec in the pipeline), takes them one at a time (pipelined ones wait in `backlog`
/// with reads held back), routes each to an upstream connection on the same event loop, streams
/// bodies both ways with back-pressure, answers failures itself, and records both legs when an
/// exchange ends.
final class FrontHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum BacklogItem {
        case part(MessageFramer.Part)
        case parseError(MessageFramer.Failure)
    }

    struct PauseReasons: OptionSet {
        let rawValue: UInt8
        static let backlog = PauseReasons(rawValue: 1)
        static let connecting = PauseReasons(rawValue: 2)
        static let upstreamFull = PauseReasons(rawValue: 4)
    }

    let shared: ProxyShared
    let tap = FrontByteTap()
    let pool: UpstreamPool
    let frontScheme: String
    var context: ChannelHandlerContext?
    var connection = ConnectionInfo()
    var sequence: UInt32 = 0
    var backlog = CircularBuffer<BacklogItem>()
    var current: InFlightExchange?
    var paused: PauseReasons = [] {
        didSet {
            if paused.isEmpty && pendingRead, let context {
                pendingRead = false
                context.read()
            }
        }
    }
    var pendingRead = false
    /// The response being written has a chunked body (framed here).
    var responseChunked = false
    var quiescing = false
    var closed = false
    var timer: Scheduled<Void>?
    var readTimer: Scheduled<Void>?
    var idleSinceNanos: UInt64 = 0
    var framer: MessageFramer
    private var parts: [MessageFramer.Part] = []

    init(shared: ProxyShared, pool: UpstreamPool) {
        self.shared = shared
        self.pool = pool
        self.configuration = shared.configuration
        self.frontScheme = shared.frontTLS == nil ? "http" : "https"
        self.framer = MessageFramer(role: .request, maxHeadBytes: shared.configuration.maxHeaderBytes)
    }

    /// Stored per connection: reading a field through `shared.configuration` copied the whole
    /// configuration (a retain and a release of each of its strings and arrays) at every use.
    let configuration: ProxyConfiguration

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        connection = ConnectionInfo(
            id: shared.counters.connectionID(), client: Endpoint(socketAddress: context.channel.remoteAddress),
            server: Endpoint(socketAddress: context.channel.localAddress), tls: shared.frontTLS != nil)
        if context.channel.isActive { becomeIdle() }
    }

    /// The pipeline lets go of this handler (the channel closed): let go of the context too, or
    /// handler and context keep each other (and the connection's state) alive. Found by the
    /// FuzzProxyRequest target's leak check.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        connection.client = Endpoint(socketAddress: context.channel.remoteAddress)
        connection.server = Endpoint(socketAddress: context.channel.localAddress)
        becomeIdle()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        tap.observe(buffer)
        if closed { return }
        var failure: MessageFramer.Failure?
        do {
            try framer.feed(buffer, into: &parts)
        } catch let f as MessageFramer.Failure {
            failure = f
        } catch {
            failure = MessageFramer.Failure(message: "\(error)")
        }
        for part in parts {
            if closed { break }
            if !backlog.isEmpty || (current?.requestEnded ?? false) {
                backlog.append(.part(part))
                paused.insert(.backlog)
            } else {
                handle(part)
            }
        }
        parts.removeAll(keepingCapacity: true)
        if let failure, !closed {
            if let ex = current, ex.requestEnded {
                backlog.append(.parseError(failure))
            } else {
                rejectMalformed(failure)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let conn = current?.upstream { conn.handler.context?.flush() }
    }

    func read(context: ChannelHandlerContext) {
        if paused.isEmpty { context.read() } else { pendingRead = true }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        current?.upstream?.handler.paused = !context.channel.isWritable
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closed { return }
        // I/O errors (reset by peer, TLS failures): the connection is going away.
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            if current == nil && backlog.isEmpty { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !closed && current == nil && framer.inMessage && !tap.prefix.isEmpty {
            // The client went away in the middle of a request head: nothing to answer.
            let ex = malformedExchange()
            ex.flags.incomplete = true
            ex.error = "client closed"
            recordExchange(ex)
        }
        closed = true
        timer?.cancel()
        timer = nil
        readTimer?.cancel()
        readTimer = nil
        if let ex = current {
            current = nil
            ex.readTimer?.cancel()
            if let conn = ex.upstream {
                ex.upstream = nil
                conn.handler.delegate = nil
                conn.channel.close(promise: nil)
            }
            if ex.error == nil { ex.error = "client closed" }
            if ex.backError == nil && ex.backTiming.responseEnd == 0 { ex.backError = "client closed" }
            recordExchange(ex)
        }
        backlog.removeAll()
        context.fireChannelInactive()
    }

    // MARK: Requests

    private func handle(_ part: MessageFramer.Part) {
        switch part {
        case .head(let head):
            startExchange(head)
        case .body(let buffer):
            guard let ex = current else { return }
            receiveBody(buffer, ex)
        case .end(let trailers):
            guard let ex = current else { return }
            receiveEnd(trailers, ex)
        case .interim:
            break
        }
    }

    /// HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`.
    static func keepsAlive(_ head: HTTPMessage) -> Bool {
        if head.version.major == 1 && head.version.minor >= 1 { return !head.headers.containsToken("connection", "close") }
        return head.headers.containsToken("connection", "keep-alive")
    }

    private func startExchange(_ head: HTTPMessage) {
        shared.counters.requests.add(1, ordering: .relaxed)
        let ex = InFlightExchange(
            id: shared.counters.exchangeID(), sequence: sequence, head: head,
            bodyLimit: configuration.maxRecordedBodyBytes,
            keepAlive: Self.keepsAlive(head) && !quiescing && !shared.isShuttingDown)
        sequence &+= 1
        ex.timing.requestStart = tap.takeFirstByteMicros()
        tap.headSeen()
        current = ex
        if ex.requestHeaders.has("Content-Length") { ex.framing.insert(.requestContentLength) }
        if ex.requestHeaders.isChunked { ex.framing.insert(.requestChunked) }
        if MessageFramer.asksUpgrade(head) {
            // The framer stops after an upgrade request: the connection ends with this exchange.
            ex.upgrade = true
            ex.closeAfter = true
        }

        if let limit = configuration.maxBodyBytes, let cl = head.headers.first("Content-Length").flatMap({ Int($0) }),
            cl > limit
        {
            respondLocally(ex, status: 413, detail: "The request body of \(cl) bytes is over the limit of \(limit) bytes.",
                error: nil, clientError: true)
            return
        }
        let path = Request.path(of: head.target)
        guard path.hasPrefix("/"),
            let (index, matched) = ProxyPassMapping.route(for: path, in: configuration.routes, matching: configuration.routeMatching)
        else {
            respondLocally(ex, status: 404, detail: "The requested URL was not found on this server.", error: nil,
                clientError: true)
            return
        }
        ex.routeIndex = index
        ex.matchedLength = matched
        let route = shared.balancers[index].routeAnnotations
        if ex.annotations.isEmpty { ex.annotations = route } else { ex.annotations.append(contentsOf: route) }
        if let expect = head.headers.first("Expect"), expect.lowercased() == "100-continue" {
            // Answered here (like Apache); the upstream request goes without Expect.
            context?.writeAndFlush(wrapOutboundOut(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
            ex.interim.append(InterimResponse(status: 100, reason: "Continue"))
            ex.framing.insert(.continueSeen)
        }
        connectUpstream(ex)
    }

    private func receiveBody(_ buffer: ByteBuffer, _ ex: InFlightExchange) {
        ex.requestBody.append(buffer)
        if ex.discarding { return }
        if let limit = configuration.maxBodyBytes, ex.requestBody.length > UInt64(limit) {
            abortUpstream(ex)
            if ex.frontResponseHead == nil {
                respondLocally(ex, status: 413, detail: "The request body is over the limit of \(limit) bytes.",
                    error: nil, clientError: true)
            } else {
                ex.closeAfter = true
                ex.discarding = true
            }
            return
        }
        if let conn = ex.upstream {
            conn.handler.sendBody(buffer)
            if !conn.channel.isWritable { paused.insert(.upstreamFull) }
        } else {
            ex.buffered.append(.body(buffer))
        }
    }

    private func receiveEnd(_ trailers: Headers, _ ex: InFlightExchange) {
        ex.requestEnded = true
        ex.timing.requestEnd = Clock.nowMicros()
        ex.requestTrailers = trailers
        if ex.discarding {
            finishIfDone(ex)
            return
        }
        if let conn = ex.upstream {
            sendEnd(ex, conn)
        } else {
            ex.buffered.append(.end(trailers))
        }
    }

    func sendEnd(_ ex: InFlightExchange, _ conn: UpstreamConnection) {
        conn.handler.sendEnd(trailers: ex.requestTrailers)
        ex.backTiming.requestEnd = Clock.nowMicros()
        startReadTimer(ex)
    }

    // MARK: Idle and head timers

    /// The connection waits for a request. One lazily re-armed timer per connection checks both
    /// the idle timeout and the request-head timeout (no timer churn per request).
    func becomeIdle() {
        guard !closed, context != nil else { return }
        if quiescing || shared.isShuttingDown {
            context?.close(promise: nil)
            return
        }
        tap.rearm()
        idleSinceNanos = Clock.monotonicNanos()
        if timer == nil { armTimer(afterNanos: min(idleNanos, headNanos)) }
    }

    private var idleNanos: UInt64 { UInt64(max(0.001, configuration.idleTimeoutSeconds) * 1e9) }
    private var headNanos: UInt64 { UInt64(max(0.001, configuration.requestHeadTimeoutSeconds) * 1e9) }

    private func armTimer(afterNanos nanos: UInt64) {
        guard let context else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(nanos))) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.timerFired()
        }
    }

    private func timerFired() {
        guard !closed, current == nil, let context else { return }  // a request re-arms via becomeIdle
        let now = Clock.monotonicNanos()
        if tap.pendingSinceNanos > 0 {
            let waited = now &- tap.pendingSinceNanos
            if waited >= headNanos {
                requestHeadTimedOut()
                return
            }
            armTimer(afterNanos: headNanos - waited)
            return
        }
        let idle = now &- idleSinceNanos
        if idle >= idleNanos {
            context.close(promise: nil)
            return
        }
        armTimer(afterNanos: min(idleNanos - idle, headNanos))
    }

    private func requestHeadTimedOut() {
        let ex = malformedExchange()
        ex.flags.parseError = ParseError(offset: tap.totalBytes, message: "request head not complete within the timeout")
        ex.annotations.append(Annotation("rejected", "request head timeout"))
        current = ex
        respondLocally(ex, status: 408, detail: "Server timeout waiting for the HTTP request from the client.",
            error: "timeout", clientError: true)
    }

    /// An exchange for bytes the decoder rejected (or never completed), from the raw prefix.
    private func malformedExchange() -> InFlightExchange {
        let raw = tap.prefix
        let lineEnd = raw.firstIndex(of: UInt8(ascii: "\n")) ?? raw.endIndex
        let line = String(decoding: raw[..<lineEnd], as: UTF8.self).trimmingCharacters(in: "\r")
        let words = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        let method = words.count > 0 ? String(words[0]) : ""
        let target = words.count > 1 ? String(words[1]) : ""
        let head = HTTPMessage(isRequest: true)
        head.method = method
        head.target = target
        head.headers = Self.rawHeaderLines(raw[..<raw.endIndex], after: lineEnd)
        let ex = InFlightExchange(
            id: shared.counters.exchangeID(), sequence: sequence, head: head, bodyLimit: 0, keepAlive: false)
        sequence &+= 1
        ex.timing.requestStart = tap.takeFirstByteMicros()
        ex.timing.requestEnd = Clock.nowMicros()
        ex.requestEnded = true
        ex.discarding = true
        ex.annotations.append(Annotation("raw_prefix", String(decoding: raw.prefix(256), as: UTF8.self)))
        return ex
    }

    private static func rawHeaderLines(_ raw: ArraySlice<UInt8>, after lineEnd: Int) -> [HeaderField] {
        guard lineEnd < raw.endIndex else { return [] }
        let text = String(decoding: raw[(lineEnd + 1)...], as: UTF8.self)
        var fields: [HeaderField] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let l = line.hasSuffix("\r") ? line.dropLast() : line
            if l.isEmpty { break }
            guard let colon = l.firstIndex(of: ":") else { continue }
            fields.append(HeaderField(String(l[..<colon]), String(l[l.index(after: colon)...].trimmingSpaces())))
            if fields.count >= 64 { break }
        }
        return fields
    }

    /// The decoder rejected the bytes: 400 (431 for oversized headers), recorded, connection closed.
    func rejectMalformed(_ error: MessageFramer.Failure) {
        let status = error.tooLarge ? 431 : 400
        if let ex = current {
            // Broken framing in the middle of a body.
            ex.flags.parseError = ParseError(offset: tap.totalBytes, message: "\(error)")
            abortUpstream(ex)
            if ex.frontResponseHead == nil {
                ex.requestEnded = true
                ex.discarding = true
                respondLocally(ex, status: 400, detail: "Malformed request body: \(error)", error: nil, clientError: true)
            } else {
                context?.close(promise: nil)
            }
            return
        }
        let ex = malformedExchange()
        ex.flags.parseError = ParseError(offset: tap.requestStartOffset, message: "\(error)")
        ex.annotations.append(Annotation("rejected", "\(error)"))
        current = ex
        let detail =
            status == 431
            ? "Size of the request headers is over the limit of \(configuration.maxHeaderBytes) bytes."
            : "Your browser sent a request that this server could not understand."
        respondLocally(ex, status: status, detail: detail, error: nil, clientError: true)
    }

    // MARK: Finishing

    /// Records the exchange and moves on when both the request and the response are complete.
    func finishIfDone(_ ex: InFlightExchange) {
        guard ex.requestEnded && ex.responseEnded, current === ex else { return }
        current = nil
        ex.readTimer?.cancel()
        recordExchange(ex)
        if ex.closeAfter || !ex.keepAlive {
            closed = true
            closeAfterWrite(ex.endWritten, linger: ex.discarding)
            return
        }
        paused.remove(.connecting)
        paused.remove(.upstreamFull)
        while !closed, !(current?.requestEnded ?? false), let item = backlog.popFirst() {
            switch item {
            case .part(let part): handle(part)
            case .parseError(let error): rejectMalformed(error)
            }
        }
        if backlog.isEmpty && !(current?.requestEnded ?? false) { paused.remove(.backlog) }
        if current == nil && !closed { becomeIdle() }
    }

    /// Closes once `written` completes; with `linger`, waits a little longer so a client still
    /// sending a body it was told not to send reads the answer instead of a reset.
    func closeAfterWrite(_ written: EventLoopFuture<Void>?, linger: Bool) {
        guard let context else { return }
        guard let written else {
            context.close(promise: nil)
            return
        }
        let loop = context.eventLoop
        written.assumeIsolated().whenComplete { [weak self] _ in
            guard let self, let context = self.context else { return }
            if linger {
                loop.assumeIsolated().scheduleTask(in: .milliseconds(500)) { context.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        }
    }

    func recordExchange(_ ex: InFlightExchange) {
        guard shared.queue != nil else { return }
        shared.record(back: ex.backRecord(), front: ex.frontRecord(connection: connection))
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
