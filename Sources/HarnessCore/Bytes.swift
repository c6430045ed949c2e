/// Little helpers to build and read the log's binary encoding: LEB128 varints, zigzag, strings.
///
/// `ByteWriter` appends to raw memory it alone owns (it is `~Copyable`): the log writer appends a
/// few dozen small pieces per exchange, and through `[UInt8]` each was a call to the runtime's
/// uniqueness check and a generic append (a fifth of the writer thread's time in a capture).
struct ByteWriter: ~Copyable {
    /// The bytes, in memory this writer owns (it cannot be copied, so nothing else can alias it):
    /// an append is a capacity check and a store, not the array's uniqueness check and call.
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Bytes written so far.
    private(set) var count = 0

    init(capacity: Int = 256) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// A copy of the bytes written.
    var bytes: [UInt8] { withUnsafeBytes { [UInt8]($0) } }

    /// Borrows the bytes written (valid only inside `body`).
    func withUnsafeBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }

    /// Forgets the bytes, keeping the memory.
    mutating func removeAll() { count = 0 }

    /// Room for `extra` more bytes.
    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if capacity - count < extra { grow(extra) }
    }

    private mutating func grow(_ extra: Int) {
        let wanted = max(capacity * 2, count + extra)
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: wanted)
        fresh.update(from: base, count: count)
        base.deallocate()
        base = fresh
        capacity = wanted
    }

    @inline(__always)
    mutating func u8(_ v: UInt8) {
        reserve(1)
        base[count] = v
        count += 1
    }

    @inline(__always)
    mutating func varint(_ value: UInt64) {
        if value < 0x80 {
            u8(UInt8(truncatingIfNeeded: value))
        } else {
            longVarint(value)
        }
    }

    /// Two bytes or more.
    private mutating func longVarint(_ value: UInt64) {
        reserve(10)
        var v = value
        var n = count
        while v >= 0x80 {
            base[n] = UInt8(truncatingIfNeeded: v) | 0x80
            v >>= 7
            n += 1
        }
        base[n] = UInt8(v)
        count = n + 1
    }
    mutating func varint(_ value: Int) { varint(UInt64(max(0, value))) }
    mutating func zigzag(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    /// Appends bytes as they are.
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let from = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).update(from: from, count: bytes.count)
        count += bytes.count
    }
    mutating func append(_ bytes: [UInt8]) { bytes.withUnsafeBufferPointer { append($0) } }
    mutating func append(_ bytes: borrowing ByteWriter) { bytes.withUnsafeBytes { append($0) } }

    mutating func string(_ s: String) {
        // Native strings lend their bytes as they are; only others (bridged) are copied first.
        let done = s.utf8.withContiguousStorageIfAvailable { buf -> Bool in
            varint(UInt64(buf.count))
            append(buf)
            return true
        }
        guard done == nil else { return }
        var copy = s
        copy.withUTF8 { buf in
            varint(UInt64(buf.count))
            append(buf)
        }
    }
    mutating func blob(_ b: [UInt8]) {
        varint(UInt64(b.count))
        append(b)
    }
    /// A length-prefixed copy of another writer's bytes.
    mutating func blob(_ b: borrowing ByteWriter) {
        varint(UInt64(b.count))
        append(b)
    }
    mutating func u32le(_ v: UInt32) {
        reserve(4)
        for i in 0..<4 { base[count + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
        count += 4
    }
    mutating func u16le(_ v: UInt16) {
        reserve(2)
        base[count] = UInt8(truncatingIfNeeded: v)
        base[count + 1] = UInt8(truncatingIfNeeded: v >> 8)
        count += 2
    }
}

/// An array's identity while it is alive: its storage's address and its count. The log encoder's
/// caches know arrays by it (a cache slot keeps its array alive, so a key it holds cannot name
/// another array); an empty array's key matches no non-empty one.
public struct StorageKey: Equatable, @unchecked Sendable {
    @usableFromInline var address: UnsafeRawPointer?
    @usableFromInline var count = 0

    init() {}

    /// Inlinable, so callers in other modules get it specialized (unspecialized it was a generic
    /// call and a closure context per array).
    @inlinable
    public init<T>(_ a: [T]) {
        (address, count) = a.withUnsafeBufferPointer { (UnsafeRawPointer($0.baseAddress), $0.count) }
    }
}

/// Thrown by `ByteReader` when the bytes end early or hold an impossible value.
struct DecodeFailure: Error {
    var message: String
    /// Offset inside the buffer being decoded.
    var offset: Int
}

/// A bounds-checked cursor over bytes; every read throws `DecodeFailure` instead of trapping.
struct ByteReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var offset: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }
    var atEnd: Bool { offset >= bytes.count }

    mutating func u8() throws -> UInt8 {
        guard offset < bytes.count else { throw DecodeFailure(message: "unexpected end of record", offset: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }
    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            if shift == 63 && b > 1 { throw DecodeFailure(message: "varint overflows 64 bits", offset: offset - 1) }
            result |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw DecodeFailure(message: "varint too long", offset: offset - 1) }
        }
    }
    /// A varint that must fit an `Int` and be at most `limit`.
    mutating func count(limit: Int = Int(Int32.max)) throws -> Int {
        let at = offset
        let v = try varint()
        guard v <= UInt64(limit) else { throw DecodeFailure(message: "length \(v) is out of range", offset: at) }
        return Int(v)
    }
    mutating func zigzag() throws -> Int64 {
        let v = try varint()
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }
    mutating func raw(_ n: Int) throws -> UnsafeBufferPointer<UInt8> {
        guard n >= 0, n <= remaining else {
            throw DecodeFailure(message: "a field of \(n) bytes runs past the end of its record", offset: offset)
        }
        defer { offset += n }
        return UnsafeBufferPointer(rebasing: bytes[offset..<(offset + n)])
    }
    mutating func string() throws -> String {
        let n = try count()
        return String(decoding: try raw(n), as: UTF8.self)
    }
    mutating func blob() throws -> [UInt8] {
        let n = try count()
        return Array(try raw(n))
    }
    mutating func u32le() throws -> UInt32 {
        let b = try raw(4)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }
    mutating func u16le() throws -> UInt16 {
        let b = try raw(2)
        return UInt16(b[0]) | UInt16(b[1]) << 8
    }
}
