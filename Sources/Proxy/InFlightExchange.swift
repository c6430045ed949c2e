import Capture
import HarnessCore
internal import NIOCore
internal import NIOHTTP1

/// One client exchange while the proxy works on it: what the client sent, what went upstream,
/// what came back and what the client got. Confined to the front connection's event loop.
final class InFlightExchange {
    let id: UInt64
    let sequence: UInt32
    /// The request head as the client sent it.
    let head: HTTPMessage
    let requestHeaders: Headers
    var timing = Timing()
    var requestBody: BodyRecorder
    var requestTrailers: Headers = []
    var requestEnded = false
    /// The client's connection may stay open after this exchange.
    var keepAlive: Bool
    /// Close the client connection once the response is written.
    var closeAfter = false
    /// Body parts are dropped (the proxy answered by itself before the body ended).
    var discarding = false
    var interim: [InterimResponse] = []
    var flags = Flags()
    var framing: Framing = []
    var error: String?
    var annotations: [Annotation] = []

    // Upstream side.
    var routeIndex = -1
    var matchedLength = 0
    var memberIndex = -1
    var tried = MemberSet()
    var origin: UpstreamOrigin?
    /// The back leg's `upstream` annotation for `origin` (shared, built once per member); set
    /// with `origin`, before the request is mapped.
    var upstreamAnnotations: [Annotation] = []
    var backID: UInt64?
    /// The request-target sent upstream (nil until the request is mapped).
    var backTarget: String?
    var backHeaders: Headers = []
    var backTiming = Timing()
    var backFraming: Framing = []
    var backError: String?
    var backConnection = ConnectionInfo()
    var backSequence: UInt32 = 0
    var upstream: UpstreamConnection?
    var reusedConnection = false
    var retried = false
    /// Parts that arrived before the upstream connection was ready.
    var buffered: [MessageFramer.Part] = []
    var upstreamHead: HTTPMessage?
    /// `upstreamHead`'s fields as received (what the back leg records).
    var upstreamHeaders: Headers = []
    /// Interim (1xx) responses the upstream sent before its final one (recorded, not forwarded).
    var upstreamInterim: [InterimResponse] = []
    var upstreamTrailers: Headers = []
    var lastUpstreamActivity: UInt64 = 0
    var readTimer: Scheduled<Void>?

    // Response side.
    var responseBody: BodyRecorder
    var frontResponseHead: FrontResponseHead?
    var frontResponseHeaders: Headers = []
    var responseEnded = false
    var localBody: [UInt8]?
    /// The client asked for a protocol upgrade (WebSocket); tunnelled after a `101`.
    var upgrade = false
    var tunnelPending = false
    var tunnel: TunnelBytes?
    /// Completes when the response's end has been written to the client.
    var endWritten: EventLoopFuture<Void>?

    init(id: UInt64, sequence: UInt32, head: HTTPMessage, bodyLimit: Int, keepAlive: Bool) {
        self.id = id
        self.sequence = sequence
        self.head = head
        self.requestHeaders = head.headers
        self.requestBody = BodyRecorder(limit: bodyLimit)
        self.responseBody = BodyRecorder(limit: bodyLimit)
        self.keepAlive = keepAlive
    }

    var isHead: Bool { head.method == "HEAD" }

    func request(target: String, headers: Headers, version: HTTPVersionNumber) -> Request {
        let (body, truncation) = requestBody.finish()
        return Request(
            method: head.method, target: target, version: version, headers: headers, body: body,
            bodyTruncation: truncation, trailers: requestTrailers)
    }

    /// The client-side exchange as recorded.
    func frontRecord(connection: ConnectionInfo) -> Exchange {
        var response: Response?
        if let h = frontResponseHead {
            let (body, truncation) = localBody.map { ($0, nil) } ?? responseBody.finish()
            response = Response(
                status: UInt16(clamping: h.status), reason: h.reason, version: .http11,
                headers: frontResponseHeaders, body: body, bodyTruncation: truncation,
                trailers: upstreamTrailers, interim: interim)
        }
        var f = flags
        if !(requestEnded && responseEnded) { f.incomplete = true }
        var fr = framing
        if keepAlive && !closeAfter { fr.insert(.keepAlive) }
        return Exchange(
            id: id, leg: .front, connection: connection, sequence: sequence, timing: timing,
            request: request(target: head.target, headers: requestHeaders, version: head.version),
            response: response, framing: fr, flags: f, tunnel: tunnel, error: error, annotations: annotations)
    }

    /// The upstream exchange it caused, linked exactly; nil when nothing was sent upstream.
    func backRecord() -> Exchange? {
        guard let backID, let backTarget else { return nil }
        var response: Response?
        if let h = upstreamHead {
            let (body, truncation) = responseBody.finish()
            response = Response(
                status: h.status, reason: h.reason, version: h.version, headers: upstreamHeaders, body: body,
                bodyTruncation: truncation, trailers: upstreamTrailers, interim: upstreamInterim)
        }
        var f = Flags()
        if response == nil || backTiming.responseEnd == 0 { f.incomplete = true }
        var annotations = upstreamAnnotations
        if retried { annotations.append(Annotation("retried", "stale keep-alive connection")) }
        return Exchange(
            id: backID, leg: .back, connection: backConnection, sequence: backSequence, timing: backTiming,
            request: request(target: backTarget, headers: backHeaders, version: .http11), response: response,
            framing: backFraming, flags: f, link: Link(frontID: id, confidence: .exact), tunnel: tunnel,
            error: backError, annotations: annotations)
    }
}

/// The status line the proxy wrote to the client (always HTTP/1.1).
struct FrontResponseHead {
    var status: Int
    var reason: String
}

extension Headers {
    /// True when a Transfer-Encoding field lists `chunked`.
    var isChunked: Bool {
        for i in indices where self[i].name.caseInsensitiveEquals("Transfer-Encoding") {
            if self[i].value.lowercased().contains("chunked") { return true }
        }
        return false
    }
}
