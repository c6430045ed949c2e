import HarnessCore
internal import NIOCore
internal import NIOHTTP1
internal import NIOPosix
internal import NIOSSL

/// What an upstream connection reports to the exchange that is using it (same event loop).
protocol UpstreamDelegate: AnyObject {
    func upstreamReceived(_ part: MessageFramer.Part)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(_ writable: Bool)
    func upstreamClosed(_ error: (any Error)?)
}

/// The only handler of an upstream connection (after TLS): writes requests as bytes it
/// serializes, frames responses from the bytes (`MessageFramer`), passes the parts to its
/// delegate, and holds reads back while the delegate's client cannot take more bytes.
///
/// No HTTP codec: SwiftNIO's encoder and decoder cost a `HTTPHeaders` conversion each way and a
/// pipeline hop per part, and the proxy needs its own `Headers` for the recording anyway.
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    weak var delegate: (any UpstreamDelegate)?
    /// Set while the client side cannot take more bytes.
    var paused = false {
        didSet {
            if !paused && pendingRead, let context {
                pendingRead = false
                context.read()
            }
        }
    }
    private var pendingRead = false
    private(set) var context: ChannelHandlerContext?
    var onClose: (() -> Void)?
    private var closedError: (any Error)?
    private(set) var framer = MessageFramer(role: .response)
    private var parts: [MessageFramer.Part] = []
    /// The request being sent has a chunked body (framed here).
    private var chunkedRequest = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    // MARK: requests

    /// Writes the request head (not flushed): request line and `headers` as given.
    func sendHead(method: String, target: String, headers: Headers) {
        guard let context else { return }
        framer.expectResponse(to: method)
        chunkedRequest = headers.isChunked
        let size = HeadBytes.requestSize(method: method, target: target, headers: headers)
        var buffer = context.channel.allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) {
            HeadBytes.writeRequest(method: method, target: target, version: .http11, headers: headers, into: $0)
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// Writes body bytes (one chunk of a chunked body).
    func sendBody(_ bytes: ByteBuffer) {
        guard let context, bytes.readableBytes > 0 else { return }
        guard chunkedRequest else {
            context.write(wrapOutboundOut(bytes), promise: nil)
            return
        }
        ChunkedBody.write(bytes, to: context)
    }

    /// Ends the request (the last chunk and trailers of a chunked body) and flushes.
    func sendEnd(trailers: Headers) {
        guard let context else { return }
        if chunkedRequest {
            context.write(wrapOutboundOut(ChunkedBody.last(trailers: trailers, allocator: context.channel.allocator)), promise: nil)
        }
        context.flush()
    }

    /// The bytes after a `101` response (the tunnel's first), taken once.
    func takeTunnelBytes() -> ByteBuffer? { framer.takeLeftover() }

    // MARK: responses

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try framer.feed(unwrapInboundIn(data), into: &parts)
        } catch {
            deliver()
            if closedError == nil { closedError = error }
            context.close(promise: nil)
            return
        }
        deliver()
    }

    private func deliver() {
        guard !parts.isEmpty else { return }
        for part in parts { delegate?.upstreamReceived(part) }
        parts.removeAll(keepingCapacity: true)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(context.channel.isWritable)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closedError == nil { closedError = error }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A close-delimited body ends with the connection.
        if closedError == nil && framer.finish(into: &parts) { deliver() }
        parts.removeAll()
        let d = delegate
        delegate = nil
        onClose?()
        onClose = nil
        d?.upstreamClosed(closedError)
        self.context = nil
    }

    func read(context: ChannelHandlerContext) {
        if paused { pendingRead = true } else { context.read() }
    }
}

/// One pooled keep-alive connection to an upstream origin.
final class UpstreamConnection {
    let channel: any Channel
    let handler: UpstreamHandler
    let origin: UpstreamOrigin
    let info: ConnectionInfo
    /// Requests sent on this connection so far (the next exchange's sequence).
    var sequence: UInt32 = 0
    /// When it went back to the pool (the sweeper closes it past the idle timeout).
    var idleSince = NIODeadline.now()
    var isOpen = true

    init(channel: any Channel, handler: UpstreamHandler, origin: UpstreamOrigin, info: ConnectionInfo) {
        self.channel = channel
        self.handler = handler
        self.origin = origin
        self.info = info
    }
}

/// Why an upstream connection could not be had.
enum UpstreamFailure: Error, CustomStringConvertible {
    case refused(String)
    case timeout(String)
    case tls(String)
    case other(String)

    var description: String {
        switch self {
        case .refused(let s): "refused: \(s)"
        case .timeout(let s): "connect timeout: \(s)"
        case .tls(let s): "tls: \(s)"
        case .other(let s): s
        }
    }
    /// The CONTRACT's error word.
    var word: String {
        switch self {
        case .refused: "refused"
        case .timeout: "timeout"
        case .tls: "tls"
        case .other: "error"
        }
    }
}

/// Idle keep-alive upstream connections of one event loop, by origin. Only touched on `eventLoop`
/// (hence `@unchecked Sendable`: the reference crosses threads, the state never does).
final class UpstreamPool: @unchecked Sendable {
    let eventLoop: any EventLoop
    let shared: ProxyShared
    /// Idle connections by origin (a proxy has a few origins: a list, searched by key). A class
    /// per origin, so taking and returning a connection mutates its array in place; the dictionary
    /// this replaces allocated twice per request in its accessors.
    private var idle: [IdleList] = []

    private final class IdleList {
        let key: String
        var connections: [UpstreamConnection] = []
        init(key: String) { self.key = key }
    }

    private func list(_ key: String) -> IdleList? {
        for l in idle where l.key == key { return l }
        return nil
    }

    init(eventLoop: any EventLoop, shared: ProxyShared) {
        self.eventLoop = eventLoop
        self.shared = shared
    }

    /// An idle connection to `origin`, or nil (newest first: the warmest socket).
    func takeIdle(_ origin: UpstreamOrigin) -> UpstreamConnection? {
        guard let list = list(origin.poolKey) else { return nil }
        while let conn = list.connections.popLast() {
            if conn.isOpen && conn.channel.isActive { return conn }
        }
        return nil
    }

    /// Returns a connection whose exchange finished cleanly. No timer per request: one sweeper
    /// per pool closes connections idle past `upstreamIdleSeconds`.
    func release(_ conn: UpstreamConnection) {
        guard conn.isOpen, conn.channel.isActive, !shared.isShuttingDown else {
            conn.channel.close(promise: nil)
            return
        }
        conn.handler.delegate = nil
        conn.handler.paused = false
        conn.idleSince = .now()
        if let list = list(conn.origin.poolKey) {
            list.connections.append(conn)
        } else {
            let list = IdleList(key: conn.origin.poolKey)
            list.connections.append(conn)
            idle.append(list)
        }
        startSweeper()
    }

    private var sweeper: RepeatedTask?

    private func startSweeper() {
        guard sweeper == nil else { return }
        let seconds = shared.configuration.upstreamIdleSeconds
        let period = TimeAmount.nanoseconds(Int64(max(0.05, min(1, seconds / 2)) * 1e9))
        sweeper = eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { [weak self] (_: RepeatedTask) in
            self?.sweep(olderThan: .nanoseconds(Int64(seconds * 1e9)))
        }
    }

    private func sweep(olderThan timeout: TimeAmount) {
        let deadline = NIODeadline.now() - timeout
        for list in idle {
            // Taken out while closing: a close can call `closed(_:)`, which edits the list.
            var connections = list.connections
            list.connections = []
            connections.removeAll { conn in
                guard !conn.isOpen || conn.idleSince <= deadline else { return false }
                conn.channel.close(promise: nil)
                return true
            }
            list.connections = connections + list.connections
        }
    }

    /// Forgets a connection that closed (called once per connection, from its handler).
    fileprivate func closed(_ conn: UpstreamConnection) {
        conn.isOpen = false
        list(conn.origin.poolKey)?.connections.removeAll { $0 === conn }
    }

    /// Closes every idle connection (shutdown).
    func closeAll() {
        sweeper?.cancel()
        sweeper = nil
        let lists = idle
        idle = []
        for list in lists {
            let connections = list.connections
            list.connections = []
            for c in connections { c.channel.close(promise: nil) }
        }
    }

    /// Opens a new connection to `origin` on this event loop.
    func connect(_ origin: UpstreamOrigin) -> EventLoopFuture<UpstreamConnection> {
        let shared = self.shared
        let tls = origin.tls
        let host = origin.host
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(Int64(shared.configuration.connectTimeoutSeconds * 1e9)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if tls {
                        guard let ctx = shared.upstreamTLS else { throw UpstreamFailure.tls("no TLS context") }
                        let sni = host.isIPAddress ? nil : host
                        try sync.addHandler(try NIOSSLClientHandler(context: ctx, serverHostname: sni))
                    }
                    try sync.addHandler(UpstreamHandler())
                }
            }
        let loop = eventLoop
        return bootstrap.connect(host: host, port: origin.port).flatMapErrorThrowing { error in
            throw UpstreamPool.classify(error)
        }.flatMapThrowing { channel in
            loop.preconditionInEventLoop()
            let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
            let info = ConnectionInfo(
                id: shared.counters.connectionID(),
                client: Endpoint(socketAddress: channel.localAddress),
                server: Endpoint(socketAddress: channel.remoteAddress), tls: tls, sni: host.isIPAddress ? nil : host)
            let conn = UpstreamConnection(channel: channel, handler: handler, origin: origin, info: info)
            handler.onClose = { [weak self, weak conn] in
                guard let self, let conn else { return }
                self.closed(conn)
            }
            return conn
        }
    }

    static func classify(_ error: any Error) -> UpstreamFailure {
        if let e = error as? UpstreamFailure { return e }
        if error is NIOSSLError || error is BoringSSLError { return .tls("\(error)") }
        if error is ChannelError, case .connectTimeout = error as? ChannelError {
            return .timeout("\(error)")
        }
        if let io = error as? IOError {
            if io.errnoCode == ECONNREFUSED { return .refused("connection refused") }
            if io.errnoCode == ETIMEDOUT { return .timeout("connect timed out") }
            return .other("\(io)")
        }
        if let multi = error as? NIOConnectionError {
            for e in multi.connectionErrors {
                let c = classify(e.error)
                if case .other = c { continue }
                return c
            }
            if multi.dnsAError != nil || multi.dnsAAAAError != nil { return .other("DNS lookup failure for: \(multi.host)") }
            return .refused("connection refused")
        }
        return .other("\(error)")
    }
}

extension String {
    var isIPAddress: Bool {
        if contains(":") { return true }
        let parts = split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
}

extension Endpoint {
    init(socketAddress: SocketAddress?) {
        guard let a = socketAddress else {
            self.init(host: "0.0.0.0", port: 0)
            return
        }
        self.init(host: a.ipAddress ?? "0.0.0.0", port: UInt16(clamping: a.port ?? 0))
    }
}
