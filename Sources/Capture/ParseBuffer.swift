/// The bytes a stream parser works on: its own copy, or (between `lend` and `keep`) bytes the
/// caller lent it, not copied.
///
/// A segment that holds whole messages (most of them, in keep-alive traffic) is then framed where
/// it lies; only what is left unparsed when the loan ends is copied. Indexing and the pointer
/// accessors read whichever is current, so the parser's code is the same for both.
struct ParseBuffer {
    private var owned: [UInt8] = []
    private var lent: UnsafeBufferPointer<UInt8>?

    /// Whether the current bytes are a caller's.
    var isLent: Bool { lent != nil }
    var count: Int { lent?.count ?? owned.count }
    var capacity: Int { owned.capacity }

    subscript(i: Int) -> UInt8 {
        @inline(__always) get { lent?[i] ?? owned[i] }
    }

    /// Starts a loan of `bytes` (valid until `keep`); the buffer must be empty.
    mutating func lend(_ bytes: UnsafeRawBufferPointer) {
        assert(count == 0, "lending to a parse buffer that holds bytes")
        owned.removeAll(keepingCapacity: true)
        lent = bytes.assumingMemoryBound(to: UInt8.self)
    }

    /// Ends a loan: the lent bytes from `start` on are copied into the buffer's own storage (at
    /// index 0).
    mutating func keep(from start: Int) {
        guard let l = lent else { return }
        lent = nil
        owned.removeAll(keepingCapacity: true)
        if start < l.count { owned.append(contentsOf: UnsafeBufferPointer(rebasing: l[start...])) }
    }

    mutating func append(contentsOf bytes: UnsafeRawBufferPointer) {
        if lent != nil { keep(from: 0) }
        owned.append(contentsOf: bytes)
    }

    mutating func removeAll(keepingCapacity: Bool) {
        lent = nil
        owned.removeAll(keepingCapacity: keepingCapacity)
    }

    mutating func removeFirst(_ n: Int) {
        if lent != nil { keep(from: 0) }
        owned.removeFirst(n)
    }

    func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if let lent { return try body(lent) }
        return try owned.withUnsafeBufferPointer(body)
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let lent { return try body(UnsafeRawBufferPointer(lent)) }
        return try owned.withUnsafeBytes(body)
    }
}
