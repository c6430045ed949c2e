internal import HarnessCore

/// What a finished exchange is made of, as the connection found it: the request (with its
/// pairing state) and the final response. `build()` turns it into the log's `Exchange`; it is
/// pure, so the capture loop can leave it to the log writer's thread (`ExchangeSink.append(batch:)`).
struct ExchangeParts: Sendable, ExchangeRecordSource {
    var pending: PendingExchange
    var response: HTTPMessage?
    var leg: Leg
    var connection: ConnectionInfo
    /// The bytes each way after a 101 or CONNECT 2xx (set when the connection ends).
    var tunnel: TunnelBytes?

    var id: UInt64 { pending.id }
    var hasLink: Bool { pending.link != nil }

    /// The response switched the connection to a tunnel (101, CONNECT 2xx).
    var isTunnel: Bool {
        guard let r = response else { return false }
        return r.status == 101 || (pending.request.method == "CONNECT" && r.status >= 200 && r.status < 300)
    }

    var incomplete: Bool {
        !pending.requestDone || !pending.request.complete || response == nil || !(response?.complete ?? false)
    }

    var gapBytes: UInt64 { pending.request.gapBytes + (response?.gapBytes ?? 0) }

    /// As `Exchange.isComplete`.
    var isComplete: Bool { response != nil && !incomplete && gapBytes == 0 }

    var hasTruncatedBody: Bool { pending.request.truncation != nil || response?.truncation != nil }

    /// The exchange's framing bits, flags, timing and notes, as `build()` and `write(to:)` record
    /// them. Read through a pointer, in place (a method call on the parts copied them whole).
    private static func summary(at p: UnsafePointer<ExchangeParts>, request q: HTTPMessage, response: HTTPMessage?)
        -> (framing: Framing, flags: Flags, timing: Timing, annotations: [Annotation])
    {
        let requestDone = p.pointee.pending.requestDone
        var framing: Framing = []
        if q.chunked { framing.insert(.requestChunked) }
        if q.contentLength { framing.insert(.requestContentLength) }
        var flags = Flags()
        flags.incomplete = !requestDone || !q.complete || response == nil || !(response?.complete ?? false)
        flags.gapBytes = q.gapBytes + (response?.gapBytes ?? 0)
        flags.snaplenTruncated = q.snaplenTruncated || (response?.snaplenTruncated ?? false)
        if q.parseError != nil || response?.parseError != nil || p.pointee.pending.responseParseError != nil {
            flags.parseError = q.parseError ?? response?.parseError ?? p.pointee.pending.responseParseError
        }
        flags.midStream = q.resynchronized || (response?.resynchronized ?? false)
        var timing = Timing(requestStart: q.startTime, requestEnd: requestDone ? q.endTime : 0)
        if response != nil {
            let r = response.unsafelyUnwrapped
            if r.chunked { framing.insert(.responseChunked) }
            if r.contentLength { framing.insert(.responseContentLength) }
            if r.closeDelimited { framing.insert(.responseCloseDelimited) }
            if r.status == 101 {
                framing.insert(.upgrade)
            } else if q.method == "CONNECT" && r.status >= 200 && r.status < 300 {
                framing.insert(.connectTunnel)
            }
            if Self.keepsAlive(q, r) { framing.insert(.keepAlive) }
            timing.responseStart = r.startTime
            timing.responseEnd = r.endTime
        }
        if p.pointee.pending.continueSeen && q.headers.first("expect")?.lowercased() == "100-continue" { framing.insert(.continueSeen) }
        // A body with a hole keeps only the bytes before it: say how long it really was.
        var annotations: [Annotation] = []
        if q.gapBytes > 0 && q.bodyLength > UInt64(q.body.count) && q.truncation == nil {
            annotations.append(Annotation("request_body_length", String(q.bodyLength)))
        }
        if let r = response, r.gapBytes > 0 && r.bodyLength > UInt64(r.body.count) && r.truncation == nil {
            annotations.append(Annotation("response_body_length", String(r.bodyLength)))
        }
        return (framing, flags, timing, annotations)
    }

    /// Calls `body` with the request and response of the parts at `p`, borrowed where they lie.
    /// Binding them (or chaining through the optional) retained and released the messages: on the
    /// log writer's thread, atomic operations on cache lines the capture thread writes.
    @inline(__always)
    private static func withMessages<R>(at p: UnsafePointer<ExchangeParts>, _ body: (HTTPMessage, HTTPMessage?) -> R) -> R {
        Unmanaged.passUnretained(p.pointee.pending.request)._withUnsafeGuaranteedRef { q in
            guard let offset = responseOffset else { return body(q, p.pointee.response) }
            guard let object = (UnsafeRawPointer(p) + offset).load(as: UnsafeRawPointer?.self) else { return body(q, nil) }
            return Unmanaged<HTTPMessage>.fromOpaque(object)._withUnsafeGuaranteedRef { body(q, $0) }
        }
    }

    private static let responseOffset = MemoryLayout<ExchangeParts>.offset(of: \ExchangeParts.response)

    func build() -> Exchange {
        let (framing, flags, timing, annotations) = withUnsafePointer(to: self) { p in
            Self.withMessages(at: p) { Self.summary(at: p, request: $0, response: $1) }
        }
        let p = pending
        let q = p.request
        let request = Request(
            method: q.method, target: q.target, version: q.version, headers: q.headers, body: q.body,
            bodyTruncation: q.truncation, trailers: q.trailers)
        var resp: Response?
        if let r = response {
            resp = Response(
                status: r.status, reason: r.reason, version: r.version, headers: r.headers, body: r.body,
                bodyTruncation: r.truncation, trailers: r.trailers, interim: p.interim)
        }
        return Exchange(
            id: p.id, leg: leg, connection: connection, sequence: p.sequence, timing: timing, request: request,
            response: resp, framing: framing, flags: flags, link: p.link, tunnel: tunnel, annotations: annotations)
    }

    /// The same exchange, written from the parsed messages where they are (no `Exchange` built).
    func write(to w: inout ExchangeRecordWriter) {
        withUnsafePointer(to: self) { Self.write(at: $0, to: &w) }
    }

    /// `write(to:)` of the parts at `p`, read in place: the log writer's thread calls it for each
    /// exchange, and a copy of the parts (or of its messages) was a retain and a release of each
    /// reference, on objects the capture thread also counts.
    static func write(at p: UnsafePointer<ExchangeParts>, to w: inout ExchangeRecordWriter) {
        withMessages(at: p) { write(at: p, request: $0, response: $1, to: &w) }
    }

    private static func write(
        at p: UnsafePointer<ExchangeParts>, request q: HTTPMessage, response: HTTPMessage?, to w: inout ExchangeRecordWriter
    ) {
        let (framing, flags, timing, annotations) = summary(at: p, request: q, response: response)
        w.head(
            id: p.pointee.pending.id, leg: p.pointee.leg, connection: p.pointee.connection,
            sequence: p.pointee.pending.sequence, timing: timing)
        if let headersKey = q.headersKey, let bodyKey = q.bodyKey {
            w.request(
                method: q.method, target: q.target, version: q.version, headersKey: headersKey, headers: { q.headers },
                bodyKey: bodyKey, body: { q.body }, bodyTruncation: q.truncation, trailers: q.trailers)
        } else {
            w.request(
                method: q.method, target: q.target, version: q.version, headers: q.headers, body: q.body,
                bodyTruncation: q.truncation, trailers: q.trailers)
        }
        if let r = response {
            w.response(r, interim: p.pointee.pending.interim)
        } else {
            w.noResponse()
        }
        w.tail(
            framing: framing, flags: flags, link: p.pointee.pending.link, replayOf: nil, tunnel: p.pointee.tunnel,
            error: nil, annotations: annotations)
    }

    @inline(__always)
    static func keepsAlive(_ q: HTTPMessage, _ r: HTTPMessage) -> Bool {
        if r.closeDelimited { return false }
        let close = HTTPHeadParser.tokenClose
        if q.hasConnectionToken(close) || r.hasConnectionToken(close) { return false }
        if r.version.minor == 0 || q.version.minor == 0 {
            let keep = HTTPHeadParser.tokenKeepAlive
            return q.hasConnectionToken(keep) || r.hasConnectionToken(keep)
        }
        return true
    }
}
