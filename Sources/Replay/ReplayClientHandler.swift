import Crypto
import HarnessCore
import NIOCore
import NIOHTTP1

/// A response as the replay client received it.
struct ReceivedResponse {
    var head: HTTPResponseHead
    var interim: [InterimResponse]
    var body: [UInt8]
    var bodyLength: UInt64
    var sha256: [UInt8]?
    var trailers: HTTPHeaders?
    var responseStart: Int64
    var responseEnd: Int64
}

/// Collects one response at a time on a replay connection and reports it (or the failure) to
/// its driver. Lives on the driver's event loop.
final class ReplayClientHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let driver: ConnectionDriver
    private let maxBody: Int
    private var head: HTTPResponseHead?
    private var interim: [InterimResponse] = []
    private var body: [UInt8] = []
    private var length: UInt64 = 0
    private var hasher: SHA256?
    private var responseStart: Int64 = 0

    init(driver: ConnectionDriver, maxBody: Int) {
        self.driver = driver
        self.maxBody = maxBody
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            if h.status.code >= 100 && h.status.code < 200 && h.status.code != 101 {
                interim.append(
                    InterimResponse(
                        status: UInt16(h.status.code), reason: h.status.reasonPhrase,
                        headers: h.headers.map { HeaderField($0.name, $0.value) }))
                return
            }
            head = h
            body = []
            length = 0
            hasher = nil
            responseStart = Clock.nowMicros()
        case .body(let buffer):
            length += UInt64(buffer.readableBytes)
            buffer.withUnsafeReadableBytes { raw in
                if hasher != nil {
                    hasher!.update(bufferPointer: raw)
                }
                if body.count + raw.count <= maxBody {
                    body.append(contentsOf: raw)
                } else if hasher == nil {
                    var h = SHA256()
                    h.update(data: body)
                    h.update(bufferPointer: raw)
                    hasher = h
                    body.append(contentsOf: raw.prefix(maxBody - body.count))
                }
            }
        case .end(let trailers):
            guard let h = head else { return }
            let received = ReceivedResponse(
                head: h, interim: interim, body: body, bodyLength: length,
                sha256: hasher.map { Array($0.finalize()) }, trailers: trailers, responseStart: responseStart,
                responseEnd: Clock.nowMicros())
            head = nil
            interim = []
            body = []
            hasher = nil
            driver.responseReceived(received, on: context.channel)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        driver.connectionClosed(context.channel, partial: head.map { partialResponse($0) })
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        driver.connectionFailed(context.channel, kind: ConnectionFailure.classify(error))
        context.close(promise: nil)
    }

    private func partialResponse(_ h: HTTPResponseHead) -> ReceivedResponse {
        ReceivedResponse(
            head: h, interim: interim, body: body, bodyLength: length, sha256: nil, trailers: nil,
            responseStart: responseStart, responseEnd: Clock.nowMicros())
    }
}
