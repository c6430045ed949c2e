import HarnessCore
internal import NIOCore

/// The chunked transfer coding on the way out (RFC 9112 7.1), for the bodies the proxy frames
/// itself: requests to an upstream, responses to a client.
enum ChunkedBody {
    /// Writes `bytes` (not empty) as one chunk through `context`: size line, data, CRLF.
    static func write(_ bytes: ByteBuffer, to context: ChannelHandlerContext) {
        var size = context.channel.allocator.buffer(capacity: 18)
        size.writeString(String(bytes.readableBytes, radix: 16))
        size.writeStaticString("\r\n")
        context.write(NIOAny(size), promise: nil)
        context.write(NIOAny(bytes), promise: nil)
        context.write(NIOAny(crlf), promise: nil)
    }

    /// The last chunk and the trailer section.
    static func last(trailers: Headers, allocator: ByteBufferAllocator) -> ByteBuffer {
        let size = 3 + HeadBytes.fieldsSize(trailers)
        var end = allocator.buffer(capacity: size)
        end.writeStaticString("0\r\n")
        end.writeWithUnsafeMutableBytes(minimumWritableBytes: size - 3) { HeadBytes.writeFields(trailers, into: $0) }
        return end
    }

    private static let crlf = ByteBuffer(staticString: "\r\n")
}
