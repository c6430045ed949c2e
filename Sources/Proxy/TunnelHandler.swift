import HarnessCore
internal import NIOCore
internal import NIOHTTP1

/// One side of an upgraded (WebSocket) connection after the `101`: raw bytes in are written to the
/// peer side, counted, with reads held back while the peer cannot take more. When either side
/// closes, both close and `onClose` reports the byte counts once.
final class TunnelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    weak var peer: TunnelHandler?
    private(set) var context: ChannelHandlerContext?
    /// Bytes read on this side (and written to the peer).
    private(set) var bytesIn: UInt64 = 0
    private var paused = false
    private var pendingRead = false
    var onClose: (() -> Void)?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        bytesIn += UInt64(buffer.readableBytes)
        guard let peer, let pctx = peer.context else { return }
        pctx.write(NIOAny(buffer), promise: nil)
        if !pctx.channel.isWritable { paused = true }
    }

    /// Passes bytes read on this side to the peer, as a read does.
    func forward(_ buffer: ByteBuffer) {
        bytesIn += UInt64(buffer.readableBytes)
        guard let peer, let pctx = peer.context else { return }
        pctx.writeAndFlush(NIOAny(buffer), promise: nil)
        if !pctx.channel.isWritable { paused = true }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        peer?.context?.flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { peer?.resume() }
        context.fireChannelWritabilityChanged()
    }

    private func resume() {
        paused = false
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        if paused { pendingRead = true } else { context.read() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    func channelInactive(context: ChannelHandlerContext) {
        self.context = nil
        if let peer, let pctx = peer.context { pctx.close(promise: nil) }
        let done = onClose ?? peer?.onClose
        onClose = nil
        peer?.onClose = nil
        done?()
        context.fireChannelInactive()
    }
}

extension FrontHandler {
    /// After the upstream's `101`: both pipelines drop their HTTP handlers and become a byte tunnel;
    /// the exchange is recorded (with the tunnel's byte counts) when either side closes.
    func startTunnel(_ ex: InFlightExchange) {
        guard let context, let conn = ex.upstream, let uctx = conn.handler.context else {
            context?.close(promise: nil)
            return
        }
        ex.upstream = nil
        ex.readTimer?.cancel()
        ex.readTimer = nil
        conn.handler.delegate = nil
        current = nil
        closed = true
        timer?.cancel()
        let front = TunnelHandler()
        let back = TunnelHandler()
        front.peer = back
        back.peer = front
        let shared = self.shared
        let connection = self.connection
        front.onClose = { [weak front, weak back] in
            let now = Clock.nowMicros()
            ex.responseEnded = true
            ex.timing.responseEnd = now
            ex.backTiming.responseEnd = now
            let bytes = TunnelBytes(clientToServer: front?.bytesIn ?? 0, serverToClient: back?.bytesIn ?? 0)
            ex.tunnel = bytes
            if shared.queue != nil {
                var back = ex.backRecord()
                back?.tunnel = bytes
                back?.flags.incomplete = false
                var f = ex.frontRecord(connection: connection)
                f.tunnel = bytes
                shared.record(back: back, front: f)
            }
        }
        do {
            let fsync = context.pipeline.syncOperations
            try fsync.addHandler(front, position: .before(self))
            let usync = uctx.pipeline.syncOperations
            let early = conn.handler.takeTunnelBytes()
            try usync.addHandler(back, position: .before(conn.handler))
            usync.removeHandler(conn.handler, promise: nil)
            let sent = framer.takeLeftover()
            fsync.removeHandler(self, promise: nil)
            // Bytes the upstream sent right behind its 101 (already read with the head), and
            // bytes the client sent behind its upgrade request.
            if let early, early.readableBytes > 0 { back.forward(early) }
            if let sent, sent.readableBytes > 0 { front.forward(sent) }
        } catch {
            context.close(promise: nil)
            conn.channel.close(promise: nil)
        }
    }
}
