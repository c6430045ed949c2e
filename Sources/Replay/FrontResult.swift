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

    /// The result's framing bits, timing and flags (the request's bits as prepared, the
    /// response's as its message said).
    private func summary() -> (framing: Framing, timing: Timing, flags: Flags) {
        var framing = pending.framing
        var timing = Timing(requestStart: start, requestEnd: requestEnd)
        if let m = response?.message {
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
        return (framing, timing, flags)
    }

    private var connection: ConnectionInfo {
        ConnectionInfo(id: connectionID, client: client, server: server, tls: tls, sni: sni)
    }
}

extension FrontResult: ExchangeRecordSource {
    /// The result log's exchange: the request as sent, the response as received (its framing
    /// as the message said), linked to the recorded exchange by `replayOf`.
    func build() -> Exchange {
        let (framing, timing, flags) = summary()
        var response: Response?
        if let r = self.response {
            let m = r.message
            response = Response(
                status: m.status, reason: m.reason, version: m.version, headers: m.headers, body: m.body,
                bodyTruncation: m.truncation, trailers: m.trailers, interim: r.interim)
        }
        return Exchange(
            id: id, leg: .front, connection: connection, sequence: sequence, timing: timing,
            request: pending.request, response: response, framing: framing, flags: flags,
            replayOf: pending.originalID, error: error,
            annotations: notes.isEmpty ? pending.annotations : pending.annotations + notes)
    }

    /// The same exchange, written from the request and the response message where they are.
    func write(to w: inout ExchangeRecordWriter) {
        let (framing, timing, flags) = summary()
        w.head(id: id, leg: .front, connection: connection, sequence: sequence, timing: timing)
        let q = pending
        w.request(
            method: q.request.method, target: q.request.target, version: q.request.version,
            headers: q.request.headers, body: q.request.body, bodyTruncation: q.request.bodyTruncation,
            trailers: q.request.trailers)
        if let r = response {
            w.response(r.message, interim: r.interim)
        } else {
            w.noResponse()
        }
        w.tail(
            framing: framing, flags: flags, link: nil, replayOf: q.originalID, tunnel: nil, error: error,
            annotations: q.annotations, moreAnnotations: notes)
    }
}
