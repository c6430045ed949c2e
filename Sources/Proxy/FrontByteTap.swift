import HarnessCore
internal import NIOCore

/// Sits in front of the HTTP decoder on a client connection and watches the raw bytes: how many
/// arrived, when the first byte of the next request came (timing and the 408 timer), and the first
/// kilobyte of it (so a request the decoder rejects is still recorded with what it looked like).
final class FrontByteTap: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let prefixLimit = 1024
    private(set) var totalBytes: UInt64 = 0
    /// Bytes seen before the current request started.
    private(set) var requestStartOffset: UInt64 = 0
    private(set) var firstByteMicros: Int64 = 0
    private(set) var prefix: [UInt8] = []
    private var armed = true
    var onFirstByte: (() -> Void)?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if armed {
            armed = false
            firstByteMicros = Clock.nowMicros()
            requestStartOffset = totalBytes
            prefix.removeAll(keepingCapacity: true)
            buffer.withUnsafeReadableBytes { prefix.append(contentsOf: $0.prefix(Self.prefixLimit)) }
            onFirstByte?()
        } else if prefix.count < Self.prefixLimit {
            buffer.withUnsafeReadableBytes { prefix.append(contentsOf: $0.prefix(Self.prefixLimit - prefix.count)) }
        }
        totalBytes += UInt64(buffer.readableBytes)
        context.fireChannelRead(data)
    }

    /// The next byte starts a new request.
    func rearm() { armed = true }
    /// A request head was decoded (stop collecting the prefix).
    func headSeen() {
        armed = false
        prefix.removeAll(keepingCapacity: true)
        firstByteMicros = 0
    }
    /// The time the current request's first byte arrived, or now.
    func takeFirstByteMicros() -> Int64 {
        let t = firstByteMicros
        firstByteMicros = 0
        return t > 0 ? t : Clock.nowMicros()
    }
}
