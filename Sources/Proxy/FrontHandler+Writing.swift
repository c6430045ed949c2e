import HarnessCore
internal import NIOCore

/// Responses go to the client as bytes the handler serializes: no HTTP encoder in the front
/// pipeline (it cost a `HTTPHeaders` conversion per response and a pipeline hop per part, and
/// the proxy has its own `Headers` for the recording anyway).
extension FrontHandler {
    /// The response head, not flushed. The body that follows is chunked when the fields say
    /// `Transfer-Encoding: chunked` and the request was not HEAD (as SwiftNIO's encoder decided).
    func writeResponseHead(_ ex: InFlightExchange, status: Int, reason: String, headers: Headers) {
        guard let context else { return }
        responseChunked = !ex.isHead && headers.first("Transfer-Encoding") == "chunked"
        let size = HeadBytes.responseSize(reason: reason, headers: headers)
        var head = context.channel.allocator.buffer(capacity: size)
        head.writeWithUnsafeMutableBytes(minimumWritableBytes: size) {
            HeadBytes.writeResponse(status: status, reason: reason, headers: headers, into: $0)
        }
        context.write(wrapOutboundOut(head), promise: nil)
    }

    /// Body bytes (one chunk of a chunked body); nothing for a response to HEAD.
    func writeResponseBody(_ ex: InFlightExchange, _ bytes: ByteBuffer) {
        guard let context, bytes.readableBytes > 0, !ex.isHead else { return }
        if responseChunked {
            ChunkedBody.write(bytes, to: context)
        } else {
            context.write(wrapOutboundOut(bytes), promise: nil)
        }
    }

    /// Ends the response (the last chunk and trailers of a chunked body) and flushes. When the
    /// connection may close after it (`ex` will not keep alive, or its request is still coming),
    /// the returned future completes once it is written; a kept-alive exchange needs no promise.
    func writeResponseEnd(_ ex: InFlightExchange, trailers: Headers) -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        let chunked = responseChunked
        responseChunked = false
        let needsFuture = ex.closeAfter || !ex.keepAlive || !ex.requestEnded
        guard chunked || needsFuture else {
            context.flush()
            return nil
        }
        let last =
            chunked
            ? ChunkedBody.last(trailers: trailers, allocator: context.channel.allocator)
            : context.channel.allocator.buffer(capacity: 0)
        guard needsFuture else {
            context.writeAndFlush(wrapOutboundOut(last), promise: nil)
            return nil
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(last), promise: done)
        return done.futureResult
    }
}
