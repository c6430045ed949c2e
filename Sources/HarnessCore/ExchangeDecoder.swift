/// Reads log records back into exchanges, keeping the per-segment name and body tables.
struct ExchangeDecoder {
    private var names: [String] = []
    private var values: [String] = []
    private var bodies: [[UInt8]] = []

    mutating func resetSegment() {
        names.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        bodies.removeAll(keepingCapacity: true)
    }

    /// Decodes one record; returns the exchange when the record is one, nil for table records.
    mutating func decodeRecord(_ reader: inout ByteReader) throws -> Exchange? {
        let typeAt = reader.offset
        let type = try reader.u8()
        let length = try reader.count()
        let payload = try reader.raw(length)
        var r = ByteReader(payload)
        switch LogFormat.RecordType(rawValue: type) {
        case .name:
            let index = try r.count()
            let name = try r.string()
            guard index == LogFormat.staticNames.count + names.count else {
                throw DecodeFailure(message: "header name #\(index) defined out of order", offset: typeAt)
            }
            names.append(name)
            return nil
        case .body:
            bodies.append(Array(payload))
            return nil
        case .exchange:
            do {
                return try decodeExchange(&r)
            } catch var failure as DecodeFailure {
                failure.offset = typeAt
                throw failure
            }
        case nil:
            // Unknown record types are skipped: later versions may add tables readers can ignore.
            return nil
        }
    }

    private mutating func decodeExchange(_ r: inout ByteReader) throws -> Exchange {
        let id = try r.varint()
        guard let leg = Leg(rawValue: try r.u8()) else { throw DecodeFailure(message: "unknown leg", offset: r.offset) }
        var conn = ConnectionInfo()
        conn.id = try r.varint()
        conn.client = Endpoint(host: try r.string(), port: try port(&r))
        conn.server = Endpoint(host: try r.string(), port: try port(&r))
        let connFlags = try r.u8()
        conn.tls = connFlags & 1 != 0
        if connFlags & 2 != 0 { conn.sni = try r.string() }
        let sequence = UInt32(truncatingIfNeeded: try r.varint())
        let present = try r.u8()
        var timing = Timing()
        if present & 1 != 0 { timing.requestStart = try r.zigzag() }
        if present & 2 != 0 { timing.requestEnd = timing.requestStart &+ (try r.zigzag()) }
        if present & 4 != 0 { timing.responseStart = timing.requestStart &+ (try r.zigzag()) }
        if present & 8 != 0 { timing.responseEnd = timing.requestStart &+ (try r.zigzag()) }

        var request = Request(method: try r.string(), target: try r.string())
        request.version = version(try r.u8())
        request.headers = try headers(&r)
        request.body = try body(&r)
        request.bodyTruncation = try truncation(&r)
        request.trailers = try headers(&r)

        var response: Response?
        if try r.u8() != 0 {
            var resp = Response(status: UInt16(truncatingIfNeeded: try r.varint()), reason: try r.string())
            resp.version = version(try r.u8())
            resp.headers = try headers(&r)
            resp.body = try body(&r)
            resp.bodyTruncation = try truncation(&r)
            resp.trailers = try headers(&r)
            let interimCount = try r.count(limit: 1000)
            for _ in 0..<interimCount {
                let status = UInt16(truncatingIfNeeded: try r.varint())
                let reason = try r.string()
                resp.interim.append(InterimResponse(status: status, reason: reason, headers: try headers(&r)))
            }
            response = resp
        }
        let framing = Framing(rawValue: UInt16(truncatingIfNeeded: try r.varint()))
        let bits = try r.varint()
        var flags = Flags()
        flags.incomplete = bits & 1 != 0
        if bits & 2 != 0 { flags.gapBytes = try r.varint() }
        flags.snaplenTruncated = bits & 4 != 0
        if bits & 8 != 0 { flags.parseError = ParseError(offset: try r.varint(), message: try r.string()) }
        flags.midStream = bits & 16 != 0
        flags.redacted = bits & 32 != 0
        var link: Link?
        if bits & 64 != 0 {
            let front = try r.varint()
            link = Link(frontID: front, confidence: LinkConfidence(rawValue: try r.u8()) ?? .low)
        }
        var replayOf: UInt64?
        if bits & 128 != 0 { replayOf = try r.varint() }
        var tunnel: TunnelBytes?
        if bits & 256 != 0 { tunnel = TunnelBytes(clientToServer: try r.varint(), serverToClient: try r.varint()) }
        var error: String?
        if bits & 512 != 0 { error = try r.string() }
        var annotations: [Annotation] = []
        if bits & 1024 != 0 {
            let n = try r.count(limit: 100_000)
            for _ in 0..<n { annotations.append(Annotation(try r.string(), try r.string())) }
        }
        return Exchange(
            id: id, leg: leg, connection: conn, sequence: sequence, timing: timing, request: request,
            response: response, framing: framing, flags: flags, link: link, replayOf: replayOf, tunnel: tunnel,
            error: error, annotations: annotations)
    }

    private func port(_ r: inout ByteReader) throws -> UInt16 {
        let at = r.offset
        let v = try r.varint()
        guard v <= 65535 else { throw DecodeFailure(message: "port \(v) out of range", offset: at) }
        return UInt16(v)
    }

    private func version(_ b: UInt8) -> HTTPVersionNumber { HTTPVersionNumber(major: b >> 4, minor: b & 0x0f) }

    private mutating func headers(_ r: inout ByteReader) throws -> Headers {
        let n = try r.count(limit: r.remaining)
        var out: Headers = []
        out.reserveCapacity(n)
        let staticCount = LogFormat.staticNames.count
        for _ in 0..<n {
            let at = r.offset
            let i = try r.count()
            let name: String
            if i < staticCount {
                name = LogFormat.staticNames[i]
            } else if i - staticCount < names.count {
                name = names[i - staticCount]
            } else {
                throw DecodeFailure(message: "header name #\(i) is not defined", offset: at)
            }
            out.append(HeaderField(name, try value(&r)))
        }
        return out
    }

    private mutating func value(_ r: inout ByteReader) throws -> String {
        let at = r.offset
        let ref = try r.count()
        if ref == 0 {
            let v = try r.string()
            if v.utf8.count <= LogFormat.maxTabledValueLength && values.count < LogFormat.maxTabledValues { values.append(v) }
            return v
        }
        guard ref <= values.count else { throw DecodeFailure(message: "header value #\(ref) is not defined", offset: at) }
        return values[ref - 1]
    }

    private func body(_ r: inout ByteReader) throws -> [UInt8] {
        let at = r.offset
        let ref = try r.count()
        if ref == 0 { return [] }
        guard ref <= bodies.count else { throw DecodeFailure(message: "body #\(ref) is not defined", offset: at) }
        return bodies[ref - 1]
    }

    private func truncation(_ r: inout ByteReader) throws -> BodyTruncation? {
        guard try r.u8() != 0 else { return nil }
        return BodyTruncation(originalLength: try r.varint(), sha256: try r.blob())
    }
}
