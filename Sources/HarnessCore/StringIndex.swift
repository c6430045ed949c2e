internal import CHarnessSupport

/// A `String` → `Int` map for the log encoder's header-name and header-value tables.
///
/// Open addressing over `harness_hash64` of the UTF-8 bytes. Swift's `Dictionary` hashes every
/// key with a per-process seeded SipHash (seed, combine, finalize), which was a fifth of the
/// capture writer's time at a dozen lookups per exchange; header names and values are short, and
/// this hash costs a few multiplies for them. Keys are compared byte for byte on a hash match, so
/// the hash only decides speed, never the answer.
struct StringIndex {
    /// Entry index + 1 per slot; 0 is empty.
    private var slots: [Int32]
    private var keys: [String] = []
    private var hashes: [UInt64] = []
    private var values: [Int] = []
    private var mask: Int

    init(minimumCapacity: Int = 32) {
        var size = 16
        while size < minimumCapacity * 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
        mask = size - 1
    }

    var count: Int { keys.count }

    @inline(__always)
    static func hash(_ s: String) -> UInt64 {
        if let h = s.utf8.withContiguousStorageIfAvailable({ harness_hash64($0.baseAddress, $0.count) }) { return h }
        var copy = s
        return copy.withUTF8 { harness_hash64($0.baseAddress, $0.count) }
    }

    /// The value stored for `key`, if any.
    subscript(key: String) -> Int? {
        let h = Self.hash(key)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let e = Int(slots[i])
            if e == 0 { return nil }
            if hashes[e - 1] == h && keys[e - 1] == key { return values[e - 1] }
            i = (i + 1) & mask
        }
    }

    /// Adds `key` (which must not be present) with `value`.
    mutating func insert(_ key: String, value: Int) {
        let h = Self.hash(key)
        keys.append(key)
        hashes.append(h)
        values.append(value)
        if keys.count * 2 > slots.count {
            grow()
        } else {
            place(h, entry: keys.count)
        }
    }

    /// Forgets every key, keeping the storage.
    mutating func removeAll() {
        guard !keys.isEmpty else { return }
        keys.removeAll(keepingCapacity: true)
        hashes.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        slots.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    private mutating func place(_ h: UInt64, entry: Int) {
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = Int32(entry)
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = Array(repeating: 0, count: size)
        mask = size - 1
        for (n, h) in hashes.enumerated() { place(h, entry: n + 1) }
    }
}

/// A fast 64-bit hash of bytes (`harness_hash64`: four multiply lanes over long inputs). A change
/// detector and table key, not cryptographic; stable within a process run.
public func fastHash64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    harness_hash64(bytes.baseAddress, bytes.count)
}
