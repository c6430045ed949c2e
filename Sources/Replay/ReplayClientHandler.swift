import Capture
import HarnessCore
import NIOCore

/// A response as the replay client received it: the final message (status, headers, body as kept,
/// trailers, first- and last-byte times) and the 1xx responses that came before it.
struct ReceivedResponse: Sendable {
    var message: HTTPMessage
    var interim: [InterimResponse]

    var status: UInt16 { message.status }
}

/// Frames the target's responses on one replay connection straight from the socket's bytes, with
/// the same HTTP/1.x framer off-the-wire capture uses (`HTTPStreamParser`: Content-Length,
/// chunked with trailers, close-delimited, no body for HEAD/1xx/204/304, 101), and reports each
/// response (or the failure) to its driver. No HTTP codec in the pipeline: the request goes out
/// as bytes the driver serialized, the response comes in as bytes. Lives on the driver's loop.
final class ReplayClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let driver: ConnectionDriver
    private var parser: HTTPStreamParser
    private var interim: [InterimResponse] = []
    /// The head of the response being read (for a partial response when the connection closes).
    private var head: HTTPMessage?
    private var failed = false
    /// The method of the request in flight: a response to HEAD has no body whatever it says.
    var requestMethod = "GET"

    init(driver: ConnectionDriver, maxBody: Int) {
        self.driver = driver
        // Heads and chunk lines are buffered; bodies stream through the accumulator (kept up to
        // `maxBody`, the rest counted and digested).
        self.parser = HTTPStreamParser(role: .response, maxBody: maxBody, maxBufferedBytes: 1 << 20)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard !failed else { return }
        let now = Clock.nowMicros()
        buffer.withUnsafeReadableBytes { parser.append($0, time: now) }
        drain(context: context)
    }

    private func drain(context: ChannelHandlerContext) {
        while !failed, let event = parser.next() {
            switch event {
            case .head(let m):
                head = m
                parser.setBodyMode(HTTPStreamParser.responseBodyMode(for: m, requestMethod: requestMethod))
            case .message(let m):
                head = nil
                if m.status >= 100 && m.status < 200 && m.status != 101 {
                    interim.append(InterimResponse(status: m.status, reason: m.reason, headers: m.headers))
                    continue
                }
                if let error = m.parseError {
                    fail(context: context, kind: "error: malformed response: \(error.message)")
                    return
                }
                let received = ReceivedResponse(message: m, interim: interim)
                interim = []
                driver.responseReceived(received, on: context.channel)
            case .malformed(let error, _):
                fail(context: context, kind: "error: malformed response: \(error.message)")
                return
            }
        }
    }

    private func fail(context: ChannelHandlerContext, kind: String) {
        failed = true
        driver.connectionFailed(context.channel, kind: kind)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !failed {
            // The end of the stream ends a close-delimited response (a whole one); anything else
            // in progress was cut short.
            parser.finish(time: Clock.nowMicros())
            var partial: ReceivedResponse?
            while let event = parser.next() {
                guard case .message(let m) = event, !(m.status >= 100 && m.status < 200 && m.status != 101) else { continue }
                if m.complete && m.parseError == nil {
                    head = nil
                    driver.responseReceived(ReceivedResponse(message: m, interim: interim), on: context.channel)
                    interim = []
                } else {
                    partial = ReceivedResponse(message: m, interim: interim)
                }
            }
            if partial == nil, let h = head { partial = ReceivedResponse(message: h, interim: interim) }
            driver.connectionClosed(context.channel, partial: partial)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !failed else { return }
        fail(context: context, kind: ConnectionFailure.classify(error))
    }
}
