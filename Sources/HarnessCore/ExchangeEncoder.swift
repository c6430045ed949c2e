internal import CHarnessSupport
import Glibc

/// The per-segment tables of the log's encoding (header-name dictionary, header-value table,
/// content-addressed bodies). `ExchangeRecordWriter` writes exchanges through them; the name and
/// body records an exchange needs are emitted before the exchange's own record.
struct ExchangeEncoder {
    /// Header names: the static table's, then the segment's own (`LogFormat.staticNames.count` on).
    private var names = ExchangeEncoder.staticNames
    private var dynamicNames = 0
    private var values = StringIndex(minimumCapacity: 1024)
    private var bodyIndex: [UInt64: [Int]] = [:]
    private var bodies: [[UInt8]] = []
    /// Unique body bytes held in this segment (the writer starts a new segment past a limit).
    private(set) var segmentBodyBytes = 0
    /// The last body encoded and its index in `bodies`.
    private var lastBody: (bytes: [UInt8], index: Int)?
    /// Bodies by their array storage (two-way set-associative): a producer that hands the same
    /// array again (a capture's repeated body) is answered without hashing or comparing its
    /// bytes. Each slot holds its array, so a storage address it knows cannot be freed and
    /// reused. The keys are plain words, so a lookup retains nothing.
    private var bodyKeys = [StorageKey](repeating: StorageKey(), count: ExchangeEncoder.cacheSlots)
    private var bodyArrays = [[UInt8]](repeating: [], count: ExchangeEncoder.cacheSlots)
    private var bodyIndexes = [Int](repeating: 0, count: ExchangeEncoder.cacheSlots)
    /// Encoded header sections by the array storage of their fields (two-way set-associative),
    /// kept only when encoding them added nothing to the tables: the same array then encodes to
    /// the same bytes for the rest of the segment. Keep-alive captures and replays hand the same
    /// `Headers` array for every repeated head.
    private var sectionKeys = [StorageKey](repeating: StorageKey(), count: ExchangeEncoder.cacheSlots)
    private var sectionArrays = [Headers](repeating: [], count: ExchangeEncoder.cacheSlots)
    private var sectionEncoded = [[UInt8]](repeating: [], count: ExchangeEncoder.cacheSlots)

    /// Sets of two slots each. Direct-mapped with 512 slots, a capture of 50 keep-alive
    /// connections (a request head and a response head each: about 100 live keys) had keys
    /// evicting each other, and 11.5% of the writer's samples encoded sections field by field.
    static let cacheSets = 1024
    static let cacheSlots = cacheSets * 2
    /// The largest body the cache keeps a second array of (slots × this bounds what it holds
    /// beyond the segment's own bodies).
    static let maxCachedDuplicate = 16 << 10
    /// The largest encoded header section cached (the cache keeps its fields array alive).
    static let maxCachedSection = 4 << 10

    /// The first of the two cache slots of an array storage address (the set's most recent). The
    /// address is mixed through a full 64-bit finalizer: arrays allocated one after another have
    /// addresses in an arithmetic progression, and one multiplication put runs of them in a few
    /// sets (a test's 200 live sections fetched up to twice as often as they should).
    @inline(__always)
    private static func slot(_ key: StorageKey) -> Int {
        var x = UInt64(UInt(bitPattern: key.address))
        x ^= x >> 33
        x &*= 0xFF51_AFD7_ED55_8CCD
        x ^= x >> 33
        x &*= 0xC4CE_B9FE_1A85_EC53
        x ^= x >> 33
        return 2 * Int(truncatingIfNeeded: x >> 54)
    }

    /// The slot of the set starting at `set` that holds `key`, if one does.
    @inline(__always)
    private static func way(of key: StorageKey, in keys: [StorageKey], set: Int) -> Int? {
        if keys[set] == key { return set }
        if keys[set + 1] == key { return set + 1 }
        return nil
    }

    @inline(__always)
    private static func key<T>(_ a: [T]) -> StorageKey { StorageKey(a) }

    /// A header section known by its fields array's storage (`key`, worked out by its producer):
    /// when the section cache has it, its bytes are written without `headers` being called, so
    /// this thread neither reads nor counts references to an array its producer's thread shares.
    mutating func encodeHeaders(
        key: StorageKey, _ headers: () -> Headers, into body: inout ByteWriter, records: inout ByteWriter
    ) -> Int {
        if key.count == 0 {
            body.u8(0)
            return 0
        }
        if let way = Self.way(of: key, in: sectionKeys, set: Self.slot(key)) {
            sectionEncoded[way].withUnsafeBufferPointer { body.append($0) }
            return 0
        }
        return encodeHeaders(headers(), into: &body, records: &records)
    }

    /// A body known by its array's storage (`key`), as `encodeHeaders(key:_:into:records:)`.
    mutating func encodeBody(
        key: StorageKey, _ bytes: () -> [UInt8], into body: inout ByteWriter, records: inout ByteWriter
    ) -> Int {
        if key.count == 0 {
            body.varint(0)
            return 0
        }
        if let way = Self.way(of: key, in: bodyKeys, set: Self.slot(key)) {
            // The index the storage was cached with, as the array path would answer.
            body.varint(UInt64(bodyIndexes[way] + 1))
            return 0
        }
        return encodeBody(bytes(), into: &body, records: &records)
    }

    mutating func resetSegment() {
        if dynamicNames > 0 {
            names = Self.staticNames
            dynamicNames = 0
        }
        values.removeAll()
        bodyIndex.removeAll(keepingCapacity: true)
        bodies.removeAll(keepingCapacity: true)
        lastBody = nil
        for i in 0..<Self.cacheSlots {
            bodyKeys[i] = StorageKey()
            bodyArrays[i] = []
            sectionKeys[i] = StorageKey()
            sectionArrays[i] = []
            sectionEncoded[i] = []
        }
        segmentBodyBytes = 0
    }

    /// The static header names, each at its first index in `LogFormat.staticNames`.
    private static let staticNames: StringIndex = {
        var index = StringIndex(minimumCapacity: LogFormat.staticNames.count)
        for (i, n) in LogFormat.staticNames.enumerated() where index[n] == nil { index.insert(n, value: i) }
        return index
    }()

    mutating func encodeHeaders(_ headers: Headers, into body: inout ByteWriter, records: inout ByteWriter)
        -> Int
    {
        if headers.isEmpty {
            body.u8(0)
            return 0
        }
        let key = Self.key(headers)
        let slot = Self.slot(key)
        if let way = Self.way(of: key, in: sectionKeys, set: slot) {
            sectionEncoded[way].withUnsafeBufferPointer { body.append($0) }
            return 0
        }
        let start = body.count
        let valueCount = values.count
        let added = encodeFields(headers, into: &body, records: &records)
        if added == 0 && values.count == valueCount && body.count - start <= Self.maxCachedSection {
            // The set's recent entry moves to its second slot; the new one takes the first.
            sectionKeys[slot + 1] = sectionKeys[slot]
            sectionArrays.swapAt(slot, slot + 1)
            sectionEncoded.swapAt(slot, slot + 1)
            sectionKeys[slot] = key
            sectionArrays[slot] = headers
            sectionEncoded[slot].removeAll(keepingCapacity: true)
            body.withUnsafeBytes { sectionEncoded[slot].append(contentsOf: $0[start...]) }
        }
        return added
    }

    private mutating func encodeFields(_ headers: Headers, into body: inout ByteWriter, records: inout ByteWriter)
        -> Int
    {
        var added = 0
        body.varint(UInt64(headers.count))
        for index in headers.indices {
            if let i = names.find(headers[index].name) {
                body.varint(UInt64(i))
            } else {
                let i = LogFormat.staticNames.count + dynamicNames
                dynamicNames += 1
                names.insert(headers[index].name, value: i)
                records.u8(LogFormat.RecordType.name.rawValue)
                var def = ByteWriter(capacity: headers[index].name.utf8.count + 4)
                def.varint(UInt64(i))
                def.string(headers[index].name)
                records.blob(def)
                added += 1
                body.varint(UInt64(i))
            }
            encodeValue(headers[index].value, into: &body)
        }
        return added
    }

    /// Header value: `varint 0` + string for a literal (short literals join the segment's value
    /// table), `varint k` for the k-th table entry (1-based).
    private mutating func encodeValue(_ value: String, into body: inout ByteWriter) {
        if let i = values.find(value) {
            body.varint(UInt64(i + 1))
            return
        }
        body.varint(0)
        body.string(value)
        if value.utf8.count <= LogFormat.maxTabledValueLength && values.count < LogFormat.maxTabledValues {
            values.insert(value, value: values.count)
        }
    }

    /// Body reference: 0 is the empty body, k is the k-th body record of the segment (1-based).
    mutating func encodeBody(_ bytes: [UInt8], into body: inout ByteWriter, records: inout ByteWriter) -> Int {
        if bytes.isEmpty {
            body.varint(0)
            return 0
        }
        // The same array as the last body (a proxy's front and back legs share the response
        // body's storage): `lastBody` holds that storage, so its address cannot have been reused.
        if let last = lastBody, Self.sameStorage(last.bytes, bytes) {
            body.varint(UInt64(last.index + 1))
            return 0
        }
        let key = Self.key(bytes)
        let slot = Self.slot(key)
        if let way = Self.way(of: key, in: bodyKeys, set: slot) {
            let index = bodyIndexes[way]
            lastBody = (bytes, index)
            body.varint(UInt64(index + 1))
            return 0
        }
        let hash = bytes.withUnsafeBytes { harness_hash64($0.baseAddress, $0.count) }
        if let candidates = bodyIndex[hash] {
            for c in candidates where Self.sameBytes(bodies[c], bytes) {
                lastBody = (bytes, c)
                // Another array with the same bytes: the cache keeps it alive, so only small ones
                // (a capture's repeated bodies are at most 16 KiB) are kept.
                if bytes.count <= Self.maxCachedDuplicate { cacheBody(bytes, key: key, slot: slot, index: c) }
                body.varint(UInt64(c + 1))
                return 0
            }
        }
        lastBody = (bytes, bodies.count)
        cacheBody(bytes, key: key, slot: slot, index: bodies.count)
        bodies.append(bytes)
        bodyIndex[hash, default: []].append(bodies.count - 1)
        segmentBodyBytes += bytes.count
        records.u8(LogFormat.RecordType.body.rawValue)
        records.blob(bytes)
        body.varint(UInt64(bodies.count))
        return 1
    }

    /// Caches `bytes` in the first slot of its set (`slot`), the set's recent entry moving to the second.
    private mutating func cacheBody(_ bytes: [UInt8], key: StorageKey, slot: Int, index: Int) {
        bodyKeys[slot + 1] = bodyKeys[slot]
        bodyArrays.swapAt(slot, slot + 1)
        bodyIndexes[slot + 1] = bodyIndexes[slot]
        bodyKeys[slot] = key
        bodyArrays[slot] = bytes
        bodyIndexes[slot] = index
    }

    func encodeTruncation(_ t: BodyTruncation?, into body: inout ByteWriter) {
        if let t {
            body.u8(1)
            body.varint(t.originalLength)
            body.blob(t.sha256)
        } else {
            body.u8(0)
        }
    }

    /// Byte equality with one `memcmp` (the element-wise `==` was a hot loop for repeated bodies).
    /// Whether `a` and `b` are one array storage (same address and count).
    static func sameStorage(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pa.baseAddress == $0.baseAddress } }
    }

    static func sameBytes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                guard let x = pa.baseAddress, let y = pb.baseAddress else { return pa.count == pb.count }
                return memcmp(x, y, pa.count) == 0
            }
        }
    }
}
