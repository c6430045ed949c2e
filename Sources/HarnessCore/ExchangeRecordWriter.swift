/// Something the log can take without an `Exchange` being built for it.
///
/// A producer that holds an exchange's parts in its own types (the replay's front results, with
/// the request it sent and the response it framed) would otherwise copy every string and array
/// into an `Exchange` (a retain each), encode it and release it all again. It writes the same
/// fields straight to the log's encoder instead (`write(to:)`); sinks that keep exchanges, not
/// bytes, call `build()`. The two must describe one exchange: encoding `build()` and `write(to:)`
/// give the same bytes.
public protocol ExchangeRecordSource {
    /// The exchange, as a value.
    func build() -> Exchange
    /// Writes the exchange's fields, in the log's order (`ExchangeRecordWriter`).
    func write(to w: inout ExchangeRecordWriter)
}

/// Writes exchanges as log records (see `docs/FORMAT.md`) into the block under construction, one
/// part at a time and in the format's order: `head`, `request`, `response` or `noResponse`, then
/// `tail`, which closes the record. Each part borrows what it is given; nothing is copied but
/// bytes. Header names and values, and bodies, go through the segment's tables (`ExchangeEncoder`),
/// and the name and body records an exchange needs precede its own record in the block.
public struct ExchangeRecordWriter: ~Copyable {
    /// The segment's tables.
    var tables = ExchangeEncoder()
    /// The block's records so far.
    var block = ByteWriter(capacity: 256 << 10)
    /// How many records `block` holds.
    var blockRecords = 0
    /// The exchange record under construction (its capacity is reused).
    private var record = ByteWriter(capacity: 4096)
    /// The next part expected (a check on the callers' order, in debug builds).
    private var next = Part.head

    private enum Part { case head, request, response, tail }

    init() {}

    /// Starts an exchange record: identity, connection and timing.
    public mutating func head(id: UInt64, leg: Leg, connection: ConnectionInfo, sequence: UInt32, timing t: Timing) {
        assert(next == .head, "an exchange record's parts out of order")
        next = .request
        record.removeAll()
        record.varint(id)
        record.u8(leg.rawValue)
        record.varint(connection.id)
        record.string(connection.client.host)
        record.varint(UInt64(connection.client.port))
        record.string(connection.server.host)
        record.varint(UInt64(connection.server.port))
        var connFlags: UInt8 = connection.tls ? 1 : 0
        if connection.sni != nil { connFlags |= 2 }
        record.u8(connFlags)
        if let sni = connection.sni { record.string(sni) }
        record.varint(UInt64(sequence))
        // Request start absolute, the others as offsets from it; a presence byte says which exist.
        var present: UInt8 = 0
        if t.requestStart != 0 { present |= 1 }
        if t.requestEnd != 0 { present |= 2 }
        if t.responseStart != 0 { present |= 4 }
        if t.responseEnd != 0 { present |= 8 }
        record.u8(present)
        if t.requestStart != 0 { record.zigzag(t.requestStart) }
        if t.requestEnd != 0 { record.zigzag(t.requestEnd - t.requestStart) }
        if t.responseStart != 0 { record.zigzag(t.responseStart - t.requestStart) }
        if t.responseEnd != 0 { record.zigzag(t.responseEnd - t.requestStart) }
    }

    /// The request: line, headers, body and trailers.
    public mutating func request(
        method: String, target: String, version: HTTPVersionNumber, headers: Headers, body: [UInt8],
        bodyTruncation: BodyTruncation?, trailers: Headers
    ) {
        request(
            method: method, target: target, version: version, headersKey: StorageKey(headers), headers: { headers },
            bodyKey: StorageKey(body), body: { body }, bodyTruncation: bodyTruncation, trailers: trailers)
    }

    /// The request, its header fields and body known by their arrays' storage (`StorageKey`, worked
    /// out by the producer's thread): `headers` and `body` are called only when the segment's
    /// tables do not know the key. A capture's repeated heads and bodies share one array, which
    /// its thread counts references to for every message; here it is then not touched at all.
    public mutating func request(
        method: String, target: String, version: HTTPVersionNumber, headersKey: StorageKey,
        headers: () -> Headers, bodyKey: StorageKey, body: () -> [UInt8], bodyTruncation: BodyTruncation?,
        trailers: Headers
    ) {
        assert(next == .request, "an exchange record's parts out of order")
        next = .response
        record.string(method)
        record.string(target)
        record.u8(version.major << 4 | (version.minor & 0x0f))
        fields(
            headersKey: headersKey, headers: headers, bodyKey: bodyKey, body: body, bodyTruncation: bodyTruncation,
            trailers: trailers)
    }

    /// The final response, as `request(method:target:version:headersKey:headers:bodyKey:body:bodyTruncation:trailers:)`.
    public mutating func response(
        status: UInt16, reason: String, version: HTTPVersionNumber, headersKey: StorageKey,
        headers: () -> Headers, bodyKey: StorageKey, body: () -> [UInt8], bodyTruncation: BodyTruncation?,
        trailers: Headers, interim: [InterimResponse]
    ) {
        assert(next == .response, "an exchange record's parts out of order")
        next = .tail
        record.u8(1)
        record.varint(UInt64(status))
        record.string(reason)
        record.u8(version.major << 4 | (version.minor & 0x0f))
        fields(
            headersKey: headersKey, headers: headers, bodyKey: bodyKey, body: body, bodyTruncation: bodyTruncation,
            trailers: trailers)
        interimResponses(interim)
    }

    /// A message's header fields, body and trailer fields (requests and responses alike).
    private mutating func fields(
        headersKey: StorageKey, headers: () -> Headers, bodyKey: StorageKey, body: () -> [UInt8],
        bodyTruncation: BodyTruncation?, trailers: Headers
    ) {
        blockRecords += tables.encodeHeaders(key: headersKey, headers, into: &record, records: &block)
        blockRecords += tables.encodeBody(key: bodyKey, body, into: &record, records: &block)
        tables.encodeTruncation(bodyTruncation, into: &record)
        blockRecords += tables.encodeHeaders(trailers, into: &record, records: &block)
    }

    /// The final response, and the interim (1xx) ones before it.
    public mutating func response(
        status: UInt16, reason: String, version: HTTPVersionNumber, headers: Headers, body: [UInt8],
        bodyTruncation: BodyTruncation?, trailers: Headers, interim: [InterimResponse]
    ) {
        response(
            status: status, reason: reason, version: version, headersKey: StorageKey(headers), headers: { headers },
            bodyKey: StorageKey(body), body: { body }, bodyTruncation: bodyTruncation, trailers: trailers,
            interim: interim)
    }

    private mutating func interimResponses(_ interim: [InterimResponse]) {
        record.varint(UInt64(interim.count))
        for i in interim {
            record.varint(UInt64(i.status))
            record.string(i.reason)
            blockRecords += tables.encodeHeaders(i.headers, into: &record, records: &block)
        }
    }

    /// The exchange has no response.
    public mutating func noResponse() {
        assert(next == .response, "an exchange record's parts out of order")
        next = .tail
        record.u8(0)
    }

    /// Framing, flags, links and notes; appends the finished record to the block. The notes are
    /// `annotations` followed by `moreAnnotations`.
    public mutating func tail(
        framing: Framing, flags f: Flags, link: Link?, replayOf: UInt64?, tunnel: TunnelBytes?, error: String?,
        annotations: [Annotation], moreAnnotations: [Annotation] = []
    ) {
        assert(next == .tail, "an exchange record's parts out of order")
        next = .head
        record.varint(UInt64(framing.rawValue))
        let noteCount = annotations.count + moreAnnotations.count
        var bits: UInt64 = 0
        if f.incomplete { bits |= 1 }
        if f.gapBytes != 0 { bits |= 2 }
        if f.snaplenTruncated { bits |= 4 }
        if f.parseError != nil { bits |= 8 }
        if f.midStream { bits |= 16 }
        if f.redacted { bits |= 32 }
        if link != nil { bits |= 64 }
        if replayOf != nil { bits |= 128 }
        if tunnel != nil { bits |= 256 }
        if error != nil { bits |= 512 }
        if noteCount > 0 { bits |= 1024 }
        record.varint(bits)
        if f.gapBytes != 0 { record.varint(f.gapBytes) }
        if let p = f.parseError {
            record.varint(p.offset)
            record.string(p.message)
        }
        if let link {
            record.varint(link.frontID)
            record.u8(link.confidence.rawValue)
        }
        if let replayOf { record.varint(replayOf) }
        if let tunnel {
            record.varint(tunnel.clientToServer)
            record.varint(tunnel.serverToClient)
        }
        if let error { record.string(error) }
        if noteCount > 0 {
            record.varint(UInt64(noteCount))
            for a in annotations {
                record.string(a.key)
                record.string(a.value)
            }
            for a in moreAnnotations {
                record.string(a.key)
                record.string(a.value)
            }
        }
        block.u8(LogFormat.RecordType.exchange.rawValue)
        block.blob(record)
        blockRecords += 1
    }

    /// Writes `e`'s records.
    public mutating func write(_ e: borrowing Exchange) {
        head(id: e.id, leg: e.leg, connection: e.connection, sequence: e.sequence, timing: e.timing)
        request(
            method: e.request.method, target: e.request.target, version: e.request.version,
            headers: e.request.headers, body: e.request.body, bodyTruncation: e.request.bodyTruncation,
            trailers: e.request.trailers)
        if let r = e.response {
            response(
                status: r.status, reason: r.reason, version: r.version, headers: r.headers, body: r.body,
                bodyTruncation: r.bodyTruncation, trailers: r.trailers, interim: r.interim)
        } else {
            noResponse()
        }
        tail(
            framing: e.framing, flags: e.flags, link: e.link, replayOf: e.replayOf, tunnel: e.tunnel, error: e.error,
            annotations: e.annotations)
    }

    /// Starts a new segment: the tables forget what they hold.
    mutating func resetSegment() { tables.resetSegment() }

    /// Unique body bytes held in this segment.
    var segmentBodyBytes: Int { tables.segmentBodyBytes }

    /// Empties the block (written out).
    mutating func clearBlock() {
        block.removeAll()
        blockRecords = 0
    }
}
