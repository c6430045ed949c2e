internal import CHarnessSupport

/// A `String` → `Int` map for the log encoder's header-name and header-value tables.
///
/// Open addressing over `harness_hash64` of the UTF-8 bytes. Swift's `Dictionary` hashes every
/// key with a per-process seeded SipHash (seed, combine, finalize), which was a fifth of the
/// capture writer's time at a dozen lookups per exchange; header names and values are short, and
/// this hash costs a few multiplies for them. Keys are compared byte for byte on a hash match, so
/// the hash only decides speed, never the answer.
///
/// `find` first asks a small direct-mapped cache keyed by the `String`'s own two words: a short
/// string keeps its bytes in them, a long one its storage object and length. Equal words mean
/// equal text, so a field the framer shared with the previous message, or a short value seen
/// before, is answered without hashing its bytes. The cache keeps its keys alive, so a storage
/// address it holds cannot be freed and reused by other text.
struct StringIndex {
    /// Entry index + 1 per slot; 0 is empty.
    private var slots: [Int32]
    private var keys: [String] = []
    private var hashes: [UInt64] = []
    private var values: [Int] = []
    private var mask: Int
    private var cache: [CacheEntry]

    private struct CacheEntry {
        var w0: UInt64 = 0
        var w1: UInt64 = 0
        /// -1: empty.
        var value = -1
        var key = ""
    }

    private static let cacheSize = 256

    init(minimumCapacity: Int = 32) {
        var size = 16
        while size < minimumCapacity * 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
        mask = size - 1
        cache = Array(repeating: CacheEntry(), count: Self.cacheSize)
    }

    @inline(__always)
    private static func words(_ s: String) -> (UInt64, UInt64) { unsafeBitCast(s, to: (UInt64, UInt64).self) }

    @inline(__always)
    private static func cacheSlot(_ w: (UInt64, UInt64)) -> Int {
        Int(truncatingIfNeeded: ((w.0 &* 0x9E37_79B9_7F4A_7C15) ^ w.1) &* 0xFF51_AFD7_ED55_8CCD >> 56)
            & (cacheSize - 1)
    }

    /// The value stored for `key`, if any, through the identity cache.
    @inline(__always)
    mutating func find(_ key: String) -> Int? {
        let w = Self.words(key)
        let slot = Self.cacheSlot(w)
        let hit = cache.withUnsafeBufferPointer { c -> Int in
            c[slot].w0 == w.0 && c[slot].w1 == w.1 ? c[slot].value : -1
        }
        if hit >= 0 { return hit }
        guard let v = self[key] else { return nil }
        cache[slot] = CacheEntry(w0: w.0, w1: w.1, value: v, key: key)
        return v
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
        let w = Self.words(key)
        cache[Self.cacheSlot(w)] = CacheEntry(w0: w.0, w1: w.1, value: value, key: key)
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
        cache.withUnsafeMutableBufferPointer { $0.update(repeating: CacheEntry()) }
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
