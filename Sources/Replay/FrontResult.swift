import Capture
import HarnessCore

/// A replayed front exchange as its event loop saw it, before it is an `Exchange`: the event loop
/// hands these facts to the result writer, and the writer's thread builds the exchange
/// (`build()`), so the loops, which set the replay's pace, do not copy headers and bodies into
/// one.
struct FrontResult: Sendable {
    let pending: PendingRequest
    let id: UInt64
    let connectionID: UInt64
    let client: Endpoint
    let server: Endpoint
    let tls: Bool
    let sni: String?
    let sequence: UInt32
    let start: Int64
    let requestEnd: Int64
    let response: ReceivedResponse?
    let error: String?
    /// Notes added while it ran, after the request's own.
    let notes: [Annotation]

    /// The result log's exchange: the request as sent, the response as received (its framing
    /// as the message said), linked to the recorded exchange by `replayOf`.
    func build() -> Exchange {
        var response: Response?
        var framing = pending.framing
        var timing = Timing(requestStart: start, requestEnd: requestEnd)
        if let r = self.response {
            let m = r.message
            response = Response(
                status: m.status, reason: m.reason, version: m.version, headers: m.headers, body: m.body,
                bodyTruncation: m.truncation, trailers: m.trailers, interim: r.interim)
            timing.responseStart = m.startTime
            timing.responseEnd = m.endTime
            if m.chunked {
                framing.insert(.responseChunked)
            } else if m.headers.has("Content-Length") {
                framing.insert(.responseContentLength)
            }
        }
        var flags = Flags()
        if error != nil && response != nil { flags.incomplete = true }
        return Exchange(
            id: id, leg: .front,
            connection: ConnectionInfo(id: connectionID, client: client, server: server, tls: tls, sni: sni),
            sequence: sequence, timing: timing, request: pending.request, response: response, framing: framing,
            flags: flags, replayOf: pending.originalID, error: error,
            annotations: notes.isEmpty ? pending.annotations : pending.annotations + notes)
    }
}
