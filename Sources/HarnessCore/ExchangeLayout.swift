/// Where an exchange record's table references resolve: the segment's name, value and body tables
/// (`ExchangeDecoder`, reading a log in order) or the entries a detached copy carries with it
/// (`ResolvedDecoder`). The record's own layout is decoded once, in `ExchangeLayout`.
protocol RecordTableResolver {
    /// A header list: count, then per field a name reference and a value (literal or reference).
    mutating func headers(_ r: inout ByteReader) throws -> Headers
    /// A body reference (0 = empty).
    mutating func body(_ r: inout ByteReader) throws -> [UInt8]
    /// Reads past a header list as `headers` does (same checks, same table entries), building none.
    mutating func skipHeaders(_ r: inout ByteReader) throws
    /// Reads past a body reference as `body` does (same checks).
    mutating func skipBody(_ r: inout ByteReader) throws
}

extension RecordTableResolver {
    mutating func skipHeaders(_ r: inout ByteReader) throws { _ = try headers(&r) }
    mutating func skipBody(_ r: inout ByteReader) throws { _ = try body(&r) }
}

/// The layout of an exchange record's payload (see `docs/FORMAT.md`), shared by every decoder.
enum ExchangeLayout {
    /// With `statusOnly` (for exchanges that are not on the back leg), the response keeps its
    /// status alone and the annotations are left out: the record is read and checked all the same,
    /// and the tables learn the same entries, but no header list, body or string of the response
    /// is built (a replay sends the request and only compares the status as it goes).
    static func decode<T: RecordTableResolver>(_ r: inout ByteReader, tables: inout T, statusOnly: Bool = false) throws
        -> Exchange
    {
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
        request.headers = try tables.headers(&r)
        request.body = try tables.body(&r)
        request.bodyTruncation = try truncation(&r)
        request.trailers = try tables.headers(&r)

        var response: Response?
        let slim = statusOnly && leg != .back
        if try r.u8() != 0 {
            response = slim ? try statusOnlyResponse(&r, tables: &tables) : try fullResponse(&r, tables: &tables)
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
            if slim {
                for _ in 0..<(2 * n) { _ = try r.raw(try r.count()) }
            } else {
                for _ in 0..<n { annotations.append(Annotation(try r.string(), try r.string())) }
            }
        }
        return Exchange(
            id: id, leg: leg, connection: conn, sequence: sequence, timing: timing, request: request,
            response: response, framing: framing, flags: flags, link: link, replayOf: replayOf, tunnel: tunnel,
            error: error, annotations: annotations)
        }

    private static func fullResponse<T: RecordTableResolver>(_ r: inout ByteReader, tables: inout T) throws -> Response {
        var resp = Response(status: UInt16(truncatingIfNeeded: try r.varint()), reason: try r.string())
        resp.version = version(try r.u8())
        resp.headers = try tables.headers(&r)
        resp.body = try tables.body(&r)
        resp.bodyTruncation = try truncation(&r)
        resp.trailers = try tables.headers(&r)
        let interimCount = try r.count(limit: 1000)
        for _ in 0..<interimCount {
            let status = UInt16(truncatingIfNeeded: try r.varint())
            let reason = try r.string()
            resp.interim.append(InterimResponse(status: status, reason: reason, headers: try tables.headers(&r)))
        }
        return resp
    }

    /// Reads a response as `fullResponse` does (same checks, same table entries), keeping its status.
    private static func statusOnlyResponse<T: RecordTableResolver>(_ r: inout ByteReader, tables: inout T) throws
        -> Response
    {
        let resp = Response(status: UInt16(truncatingIfNeeded: try r.varint()))
        _ = try r.raw(try r.count())  // reason
        _ = try r.u8()  // version
        try tables.skipHeaders(&r)
        try tables.skipBody(&r)
        if try r.u8() != 0 {  // truncation: length, digest
            _ = try r.varint()
            _ = try r.raw(try r.count())
        }
        try tables.skipHeaders(&r)  // trailers
        let interimCount = try r.count(limit: 1000)
        for _ in 0..<interimCount {
            _ = try r.varint()
            _ = try r.raw(try r.count())
            try tables.skipHeaders(&r)
        }
        return resp
    }

    static func port(_ r: inout ByteReader) throws -> UInt16 {
        let at = r.offset
        let v = try r.varint()
        guard v <= 65535 else { throw DecodeFailure(message: "port \(v) out of range", offset: at) }
        return UInt16(v)
    }

    static func version(_ b: UInt8) -> HTTPVersionNumber { HTTPVersionNumber(major: b >> 4, minor: b & 0x0f) }

    static func truncation(_ r: inout ByteReader) throws -> BodyTruncation? {
        guard try r.u8() != 0 else { return nil }
        return BodyTruncation(originalLength: try r.varint(), sha256: try r.blob())
    }
}
