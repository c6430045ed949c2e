import HarnessCore
import NIOCore

/// Feeds a SwiftNIO channel's bytes to its `ResponseReader` (HTTPS targets, and every target
/// with `--transport nio`). No HTTP codec in the pipeline: the request goes out as
/// bytes the driver serialized, the response comes in as bytes. Lives on the driver's loop.
final class ReplayClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let reader: ResponseReader

    init(reader: ResponseReader) {
        self.reader = reader
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard !reader.failed else { return }
        let now = Clock.nowMicros()
        let ok = buffer.withUnsafeReadableBytes { reader.received($0, time: now) }
        if !ok { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        reader.ended(time: Clock.nowMicros())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !reader.failed else { return }
        reader.fail(kind: ConnectionFailure.classify(error))
        context.close(promise: nil)
    }
}

/// A SwiftNIO channel as a `ClientConnection`.
final class ChannelConnection: ClientConnection {
    let channel: any Channel
    let reader: ResponseReader
    let localEndpoint: Endpoint
    let remoteEndpoint: Endpoint

    init(channel: any Channel, reader: ResponseReader) {
        self.channel = channel
        self.reader = reader
        localEndpoint = endpoint(channel.localAddress)
        remoteEndpoint = endpoint(channel.remoteAddress)
    }

    func write(_ bytes: ByteBuffer, written: (() -> Void)?) {
        if let written {
            let done = NIOLoopBound(written, eventLoop: channel.eventLoop)
            channel.writeAndFlush(bytes).whenSuccess { done.value() }
        } else {
            channel.writeAndFlush(bytes, promise: nil)
        }
    }

    func close() { channel.close(promise: nil) }
}
