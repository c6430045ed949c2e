internal import CHarnessSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A header field of the record being scanned: its name index and its value's bytes.
public struct ScannedField {
    /// Index in the log's name space: `LogFormat.staticHeaderNames` first, then the segment's
    /// name table (`LogScanner.name(_:)` spells it).
    public var name: Int
    /// The value's bytes (valid until the scanner moves on).
    public var value: UnsafeBufferPointer<UInt8>
}

/// What a scan of one exchange record found: scalars, and where the head fields and bodies are.
/// Byte buffers point into the scanner's block or value table and are valid until the next
/// `LogScanner.next`.
public struct ScannedExchange {
    public var id: UInt64 = 0
    public var leg: Leg = .direct
    public var connectionID: UInt64 = 0
    public var clientHost = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
    public var serverHost = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
    public var serverPort: UInt16 = 0
    public var tls = false
    public var timing = Timing()
    public var method = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
    public var target = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
    /// `fields[requestFields]` are the request head's fields in wire order.
    public var requestFields: Range<Int> = 0..<0
    /// Body reference (0: empty; k: `LogScanner.bodyPrint(k)`).
    public var requestBody = 0
    public var requestTruncated = false
    public var hasResponse = false
    public var status: UInt16 = 0
    public var responseFields: Range<Int> = 0..<0
    public var responseBody = 0
    public var responseTruncated = false
    /// Flag bits as stored (bit 0: incomplete).
    public var flagBits: UInt64 = 0
    public var linkFrontID: UInt64?
    public var replayOf: UInt64?
    public var hasError = false
    /// `fields[annotations]`-style range into `LogScanner.annotationKeys`.
    public var annotationKeys: Range<Int> = 0..<0

    public var incomplete: Bool { flagBits & 1 != 0 }
}

/// Walks a recording log's exchange records without building `Exchange` values: the diff's fast
/// path reads field bytes in place (no string per header), and keeps a detached copy of each
/// record (`DetachedRecords`) from which the full `Exchange` is decoded only when needed.
///
/// Same validation as `LogReader.next()` (it stops at the same record, with the same damage).
/// Memory: one block, the segment's tables, and what the caller detaches. Not thread-safe: one
/// thread scans (its state skips dynamic exclusivity checks: hot per-byte paths).
public final class LogScanner {
    public let reader: LogReader
    public var header: LogHeader { reader.header }
    public var damage: LogDamage? { reader.damage }
    public var path: String { reader.path }

    /// The current record (after `next` returned true).
    @exclusivity(unchecked) public private(set) var record = ScannedExchange()
    /// Head fields of the current record (see `ScannedExchange.requestFields`).
    @exclusivity(unchecked) public private(set) var fields: [ScannedField] = []
    /// Annotation keys of the current record.
    @exclusivity(unchecked) public private(set) var annotationKeys: [UnsafeBufferPointer<UInt8>] = []
    /// Incremented at each segment start (name indices above the static table change meaning).
    @exclusivity(unchecked) public private(set) var segment = 0

    @exclusivity(unchecked) private var block: UnsafeMutableBufferPointer<UInt8> = .allocate(capacity: 1 << 16)
    @exclusivity(unchecked) private var blockCount = 0
    @exclusivity(unchecked) private var cursor = 0
    @exclusivity(unchecked) private var names: [String] = []
    @exclusivity(unchecked) private var values: [UnsafeBufferPointer<UInt8>] = []
    @exclusivity(unchecked) private var chunks: [UnsafeMutableBufferPointer<UInt8>] = []
    @exclusivity(unchecked) private var chunkUsed = 0
    @exclusivity(unchecked) private var bodies: [[UInt8]] = []
    @exclusivity(unchecked) private var prints: [BodyDigest] = []
    @exclusivity(unchecked) private var detach: DetachedRecords?
    private static let chunkSize = 1 << 18

    /// Opens `path`; with `following`, reads it as it grows until the writer finishes.
    public init(path: String, following: LogFollow? = nil) throws {
        reader = try LogReader(path: path, following: following)
    }

    deinit {
        block.deallocate()
        for c in chunks { c.deallocate() }
    }

    /// The spelling of name index `i` (static or this segment's).
    public func name(_ i: Int) -> String? {
        let s = LogFormat.staticNames.count
        if i < s { return LogFormat.staticNames[i] }
        return i - s < names.count ? names[i - s] : nil
    }

    /// Length and two independent 64-bit hashes of body `ref` as recorded (ref 0: empty body).
    public func bodyPrint(_ ref: Int) -> BodyDigest {
        ref == 0 ? BodyDigest(length: 0, h1: 0, h2: 0) : prints[ref - 1]
    }

    /// Advances to the next exchange record; false at the end or at damage (see `damage`).
    /// With `detachingInto`, the record is also copied there (`DetachedRecords.exchange(_:)`).
    public func next(detachingInto store: DetachedRecords? = nil) throws -> Bool {
        detach = store
        defer { detach = nil }
        while true {
            while cursor < blockCount {
                do {
                    if try scanRecord() {
                        reader.countExchange()
                        return true
                    }
                } catch let f as DecodeFailure {
                    reader.markDamage(recordOffset: f.offset, message: f.message)
                    blockCount = 0
                    cursor = 0
                    return false
                }
            }
            guard let (bytes, segmentStart) = try reader.nextRawBlock() else { return false }
            if segmentStart { resetSegment() }
            if bytes.count > block.count {
                block.deallocate()
                block = .allocate(capacity: max(bytes.count, block.count * 2))
            }
            bytes.withUnsafeBufferPointer { src in
                if let b = src.baseAddress, let d = block.baseAddress { memcpy(d, b, src.count) }
            }
            blockCount = bytes.count
            cursor = 0
        }
    }

    private func resetSegment() {
        segment += 1
        names.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        bodies.removeAll(keepingCapacity: true)
        prints.removeAll(keepingCapacity: true)
        for c in chunks.dropFirst() { c.deallocate() }
        if chunks.count > 1 { chunks.removeSubrange(1...) }
        chunkUsed = 0
    }

    // MARK: walking one record

    private var base: UnsafePointer<UInt8> { UnsafePointer(block.baseAddress!) }

    private func fail(_ message: String, _ at: Int) -> DecodeFailure { DecodeFailure(message: message, offset: at) }

    private func u8(_ end: Int) throws -> UInt8 {
        guard cursor < end else { throw fail("unexpected end of record", cursor) }
        defer { cursor += 1 }
        return base[cursor]
    }

    private func varint(_ end: Int) throws -> UInt64 {
        // One byte: the common case (indices, small lengths).
        if cursor < end, base[cursor] < 0x80 {
            cursor += 1
            return UInt64(base[cursor - 1])
        }
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8(end)
            if shift == 63 && b > 1 { throw fail("varint overflows 64 bits", cursor - 1) }
            result |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw fail("varint too long", cursor - 1) }
        }
    }

    private func count(_ end: Int, limit: Int = Int(Int32.max)) throws -> Int {
        let at = cursor
        let v = try varint(end)
        guard v <= UInt64(limit) else { throw fail("length \(v) is out of range", at) }
        return Int(v)
    }

    private func raw(_ n: Int, _ end: Int) throws -> UnsafeBufferPointer<UInt8> {
        guard n >= 0, n <= end - cursor else {
            throw fail("a field of \(n) bytes runs past the end of its record", cursor)
        }
        defer { cursor += n }
        return UnsafeBufferPointer(start: base + cursor, count: n)
    }

    private func string(_ end: Int) throws -> UnsafeBufferPointer<UInt8> { try raw(try count(end), end) }

    /// One record at `cursor`; true when it was an exchange.
    private func scanRecord() throws -> Bool {
        let typeAt = cursor
        let type = try u8(blockCount)
        let length = try count(blockCount)
        _ = try raw(length, blockCount)
        let end = cursor
        cursor = end - length
        defer { cursor = end }
        switch LogFormat.RecordType(rawValue: type) {
        case .name:
            // Offsets inside table records are relative to the record's payload (as `LogReader` says).
            let payloadStart = cursor
            let index: Int, n: UnsafeBufferPointer<UInt8>
            do {
                index = try count(end)
                n = try string(end)
            } catch var f as DecodeFailure {
                f.offset -= payloadStart
                throw f
            }
            guard index == LogFormat.staticNames.count + names.count else {
                throw fail("header name #\(index) defined out of order", typeAt)
            }
            names.append(String(decoding: n, as: UTF8.self))
            return false
        case .body:
            let b = UnsafeBufferPointer(start: base + cursor, count: length)
            bodies.append(Array(b))
            prints.append(BodyDigest(length: length, h1: harness_hash64(b.baseAddress, length), h2: BodyDigest.fnv(b)))
            return false
        case .exchange:
            let store = detach
            let mark = store?.beginRecord(UnsafeBufferPointer(start: base + cursor, count: length))
            do {
                try scanExchange(end)
            } catch var failure as DecodeFailure {
                failure.offset = typeAt
                if let store, let mark { store.abandon(mark) }
                throw failure
            }
            if let store, let mark { store.endRecord(mark) }
            return true
        case nil:
            return false
        }
    }

    private func scanExchange(_ end: Int) throws {
        fields.removeAll(keepingCapacity: true)
        annotationKeys.removeAll(keepingCapacity: true)
        var e = ScannedExchange()
        e.id = try varint(end)
        guard let leg = Leg(rawValue: try u8(end)) else { throw fail("unknown leg", cursor) }
        e.leg = leg
        e.connectionID = try varint(end)
        e.clientHost = try string(end)
        _ = try port(end)
        e.serverHost = try string(end)
        e.serverPort = try port(end)
        let connFlags = try u8(end)
        e.tls = connFlags & 1 != 0
        if connFlags & 2 != 0 { _ = try string(end) }
        _ = try varint(end)
        let present = try u8(end)
        if present & 1 != 0 { e.timing.requestStart = try zigzag(end) }
        if present & 2 != 0 { e.timing.requestEnd = e.timing.requestStart &+ (try zigzag(end)) }
        if present & 4 != 0 { e.timing.responseStart = e.timing.requestStart &+ (try zigzag(end)) }
        if present & 8 != 0 { e.timing.responseEnd = e.timing.requestStart &+ (try zigzag(end)) }

        e.method = try string(end)
        e.target = try string(end)
        _ = try u8(end)
        e.requestFields = try headers(end, keep: true)
        e.requestBody = try body(end)
        e.requestTruncated = try truncation(end)
        _ = try headers(end, keep: false)
        if try u8(end) != 0 {
            e.hasResponse = true
            e.status = UInt16(truncatingIfNeeded: try varint(end))
            _ = try string(end)
            _ = try u8(end)
            e.responseFields = try headers(end, keep: true)
            e.responseBody = try body(end)
            e.responseTruncated = try truncation(end)
            _ = try headers(end, keep: false)
            let interimCount = try count(end, limit: 1000)
            for _ in 0..<interimCount {
                _ = try varint(end)
                _ = try string(end)
                _ = try headers(end, keep: false)
            }
        }
        _ = try varint(end)
        let bits = try varint(end)
        e.flagBits = bits
        if bits & 2 != 0 { _ = try varint(end) }
        if bits & 8 != 0 {
            _ = try varint(end)
            _ = try string(end)
        }
        if bits & 64 != 0 {
            e.linkFrontID = try varint(end)
            _ = try u8(end)
        }
        if bits & 128 != 0 { e.replayOf = try varint(end) }
        if bits & 256 != 0 {
            _ = try varint(end)
            _ = try varint(end)
        }
        if bits & 512 != 0 {
            e.hasError = true
            _ = try string(end)
        }
        if bits & 1024 != 0 {
            let n = try count(end, limit: 100_000)
            for _ in 0..<n {
                annotationKeys.append(try string(end))
                _ = try string(end)
            }
        }
        e.annotationKeys = 0..<annotationKeys.count
        record = e
    }

    private func zigzag(_ end: Int) throws -> Int64 {
        let v = try varint(end)
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }

    private func port(_ end: Int) throws -> UInt16 {
        let at = cursor
        let v = try varint(end)
        guard v <= 65535 else { throw fail("port \(v) out of range", at) }
        return UInt16(v)
    }

    private func headers(_ end: Int, keep: Bool) throws -> Range<Int> {
        let n = try count(end, limit: end - cursor)
        let first = fields.count
        let staticCount = LogFormat.staticNames.count
        for _ in 0..<n {
            let at = cursor
            let i = try count(end)
            if i >= staticCount {
                guard i - staticCount < names.count else { throw fail("header name #\(i) is not defined", at) }
                detach?.resolvedName(names[i - staticCount])
            }
            let v = try value(end)
            if keep { fields.append(ScannedField(name: i, value: v)) }
        }
        return first..<fields.count
    }

    private func value(_ end: Int) throws -> UnsafeBufferPointer<UInt8> {
        let at = cursor
        let ref = try count(end)
        if ref == 0 {
            let v = try string(end)
            if v.count <= LogFormat.maxTabledValueLength && values.count < LogFormat.maxTabledValues { values.append(table(v)) }
            return v
        }
        guard ref <= values.count else { throw fail("header value #\(ref) is not defined", at) }
        let v = values[ref - 1]
        detach?.resolvedValue(v)
        return v
    }

    /// Copies a tabled value into the segment's value arena (stable address until the segment ends).
    private func table(_ v: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        if chunks.isEmpty || chunkUsed + v.count > Self.chunkSize {
            if chunks.isEmpty || chunkUsed > 0 { chunks.append(.allocate(capacity: Self.chunkSize)) }
            chunkUsed = 0
        }
        let c = chunks[chunks.count - 1]
        let dst = c.baseAddress! + chunkUsed
        if let s = v.baseAddress, v.count > 0 { memcpy(dst, s, v.count) }
        chunkUsed += v.count
        return UnsafeBufferPointer(start: dst, count: v.count)
    }

    private func body(_ end: Int) throws -> Int {
        let at = cursor
        let ref = try count(end)
        if ref == 0 { return 0 }
        guard ref <= bodies.count else { throw fail("body #\(ref) is not defined", at) }
        detach?.resolvedBody(bodies[ref - 1])
        return ref
    }

    private func truncation(_ end: Int) throws -> Bool {
        guard try u8(end) != 0 else { return false }
        _ = try varint(end)
        _ = try string(end)
        return true
    }
}

/// A body as recorded, reduced to its length and two independent 64-bit hashes.
public struct BodyDigest: Equatable, Sendable {
    public var length: Int
    public var h1: UInt64
    public var h2: UInt64

    public init(length: Int, h1: UInt64, h2: UInt64) {
        self.length = length
        self.h1 = h1
        self.h2 = h2
    }

    /// 64-bit FNV-1a over bytes (the second hash; the first is `harness_hash64`).
    static func fnv(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in b { h = (h ^ UInt64(x)) &* 0x0000_0100_0000_01b3 }
        return h
    }
}
