/// Little helpers to build and read the log's binary encoding: LEB128 varints, zigzag, strings.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    @inline(__always)
    mutating func varint(_ value: UInt64) {
        if value < 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value))
        } else {
            longVarint(value)
        }
    }

    /// Two bytes or more: gathered in a register, appended at once.
    private mutating func longVarint(_ value: UInt64) {
        var v = value
        var packed: (UInt64, UInt64) = (0, 0)
        let n = withUnsafeMutableBytes(of: &packed) { raw -> Int in
            var n = 0
            while v >= 0x80 {
                raw[n] = UInt8(truncatingIfNeeded: v) | 0x80
                v >>= 7
                n += 1
            }
            raw[n] = UInt8(v)
            return n + 1
        }
        withUnsafeBytes(of: &packed) { raw in
            // A typed buffer appends with one copy (a raw slice went byte by byte).
            guard let base = raw.baseAddress else { return }
            bytes.append(contentsOf: UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: n))
        }
    }
    mutating func varint(_ value: Int) { varint(UInt64(max(0, value))) }
    mutating func zigzag(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }
    mutating func string(_ s: String) {
        // Native strings lend their bytes as they are; only others (bridged) are copied first.
        let done = s.utf8.withContiguousStorageIfAvailable { buf -> Bool in
            varint(UInt64(buf.count))
            bytes.append(contentsOf: buf)
            return true
        }
        guard done == nil else { return }
        var copy = s
        copy.withUTF8 { buf in
            varint(UInt64(buf.count))
            bytes.append(contentsOf: buf)
        }
    }
    mutating func blob(_ b: [UInt8]) {
        varint(UInt64(b.count))
        bytes.append(contentsOf: b)
    }
    mutating func u32le(_ v: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v >> 16))
        bytes.append(UInt8(truncatingIfNeeded: v >> 24))
    }
    mutating func u16le(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
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
