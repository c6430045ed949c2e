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
/// `bodies` in the order they occur (the layout itself is `ExchangeLayout`).
struct ResolvedDecoder: RecordTableResolver {
    var payload: ByteReader
    var resolved: ByteReader
    var bodies: ArraySlice<[UInt8]>

    mutating func decode() throws -> Exchange {
        var r = payload
        defer { payload = r }
        return try ExchangeLayout.decode(&r, tables: &self)
    }

    private mutating func resolvedString() throws -> String {
        let n = Int(try resolved.u32le())
        return String(decoding: try resolved.raw(n), as: UTF8.self)
    }

    mutating func headers(_ r: inout ByteReader) throws -> Headers {
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

    mutating func body(_ r: inout ByteReader) throws -> [UInt8] {
        if try r.count() == 0 { return [] }
        guard let b = bodies.first else { throw DecodeFailure(message: "body reference not resolved", offset: r.offset) }
        bodies = bodies.dropFirst()
        return b
    }

}
