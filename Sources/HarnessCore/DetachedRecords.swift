/// Self-contained copies of scanned exchange records (a batch of them), decodable to `Exchange`
/// later without the log's segment tables: each record's payload bytes as stored, plus the table
/// entries it referred to (header names and values as bytes, bodies by reference), in order.
///
/// Filled by `LogScanner.next(detachingInto:)` on one thread; read-only afterwards (safe to hand
/// to another thread once filled).
public final class DetachedRecords: @unchecked Sendable {
    @exclusivity(unchecked) private var bytes: [UInt8] = []
    @exclusivity(unchecked) private var bodies: [[UInt8]] = []
    @exclusivity(unchecked) private var records: [Entry] = []

    private struct Entry {
        var payload: Range<Int>
        var resolvedEnd: Int
        var bodies: Range<Int>
    }

    /// Where a record being detached starts.
    public struct Mark {
        var bytes: Int
        var payloadEnd: Int
        var bodies: Int
    }

    /// `capacity`: bytes to reserve; `records`: records expected (a batch).
    public init(capacity: Int = 0, records: Int = 0) {
        bytes.reserveCapacity(capacity)
        self.records.reserveCapacity(records)
        bodies.reserveCapacity(records)
    }

    /// Records held.
    public var count: Int { records.count }
    /// Bytes held (payloads and resolved entries; bodies are shared with the reader).
    public var byteCount: Int { bytes.count }

    func beginRecord(_ payload: UnsafeBufferPointer<UInt8>) -> Mark {
        let start = bytes.count
        bytes.append(contentsOf: payload)
        return Mark(bytes: start, payloadEnd: bytes.count, bodies: bodies.count)
    }

    func resolvedName(_ name: String) {
        let n = name.utf8.count
        appendLength(n)
        bytes.append(contentsOf: name.utf8)
    }

    func resolvedValue(_ v: UnsafeBufferPointer<UInt8>) {
        appendLength(v.count)
        bytes.append(contentsOf: v)
    }

    func resolvedBody(_ b: [UInt8]) { bodies.append(b) }

    private func appendLength(_ n: Int) {
        bytes.append(UInt8(truncatingIfNeeded: n))
        bytes.append(UInt8(truncatingIfNeeded: n >> 8))
        bytes.append(UInt8(truncatingIfNeeded: n >> 16))
        bytes.append(UInt8(truncatingIfNeeded: n >> 24))
    }

    func abandon(_ m: Mark) {
        bytes.removeSubrange(m.bytes...)
        bodies.removeSubrange(m.bodies...)
    }

    func endRecord(_ m: Mark) {
        records.append(Entry(payload: m.bytes..<m.payloadEnd, resolvedEnd: bytes.count, bodies: m.bodies..<bodies.count))
    }

    /// Decodes record `i` (0-based, in the order detached) to an exchange.
    public func exchange(_ i: Int) throws -> Exchange {
        let e = records[i]
        return try bytes.withUnsafeBufferPointer { buf in
            var d = ResolvedDecoder(
                payload: ByteReader(UnsafeBufferPointer(rebasing: buf[e.payload])),
                resolved: ByteReader(UnsafeBufferPointer(rebasing: buf[e.payload.upperBound..<e.resolvedEnd])),
                bodies: bodies[e.bodies])
            do {
                return try d.decode()
            } catch let f as DecodeFailure {
                throw HarnessError(.badInput, "a detached record does not decode: \(f.message)", location: "record \(i)")
            }
        }
    }
}

/// Decodes an exchange record's payload whose table references are listed in `resolved` and
/// `bodies` in the order they occur (mirrors `ExchangeDecoder.decodeExchange`).
struct ResolvedDecoder {
    var payload: ByteReader
    var resolved: ByteReader
    var bodies: ArraySlice<[UInt8]>

    mutating func decode() throws -> Exchange {
        var r = payload
        defer { payload = r }
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

    private mutating func resolvedString() throws -> String {
        let n = Int(try resolved.u32le())
        return String(decoding: try resolved.raw(n), as: UTF8.self)
    }

    private mutating func headers(_ r: inout ByteReader) throws -> Headers {
        let n = try r.count(limit: r.remaining)
        var out: Headers = []
        out.reserveCapacity(n)
        let staticCount = LogFormat.staticNames.count
        for _ in 0..<n {
            let i = try r.count()
            let name = i < staticCount ? LogFormat.staticNames[i] : try resolvedString()
            let ref = try r.count()
            let value = ref == 0 ? try r.string() : try resolvedString()
            out.append(HeaderField(name, value))
        }
        return out
    }

    private mutating func body(_ r: inout ByteReader) throws -> [UInt8] {
        if try r.count() == 0 { return [] }
        guard let b = bodies.first else { throw DecodeFailure(message: "body reference not resolved", offset: r.offset) }
        bodies = bodies.dropFirst()
        return b
    }

    private func truncation(_ r: inout ByteReader) throws -> BodyTruncation? {
        guard try r.u8() != 0 else { return nil }
        return BodyTruncation(originalLength: try r.varint(), sha256: try r.blob())
    }
}
