internal import CHarnessSupport
import Glibc

/// Turns exchanges into log records, keeping the per-segment tables (header-name dictionary and
/// content-addressed bodies). Name and body records it needs are emitted before the exchange.
struct ExchangeEncoder {
    /// Header names: the static table's, then the segment's own (`LogFormat.staticNames.count` on).
    private var names = ExchangeEncoder.staticNames
    private var dynamicNames = 0
    private var values = StringIndex(minimumCapacity: 1024)
    private var bodyIndex: [UInt64: [Int]] = [:]
    private var bodies: [[UInt8]] = []
    /// Unique body bytes held in this segment (the writer starts a new segment past a limit).
    private(set) var segmentBodyBytes = 0
    /// The exchange record under construction, kept between calls so its capacity is reused.
    private var scratch = ByteWriter(capacity: 4096)
    /// The last body encoded and its index in `bodies`.
    private var lastBody: (bytes: [UInt8], index: Int)?

    mutating func resetSegment() {
        if dynamicNames > 0 {
            names = Self.staticNames
            dynamicNames = 0
        }
        values.removeAll()
        bodyIndex.removeAll(keepingCapacity: true)
        bodies.removeAll(keepingCapacity: true)
        lastBody = nil
        segmentBodyBytes = 0
    }

    /// The static header names, each at its first index in `LogFormat.staticNames`.
    private static let staticNames: StringIndex = {
        var index = StringIndex(minimumCapacity: LogFormat.staticNames.count)
        for (i, n) in LogFormat.staticNames.enumerated() where index[n] == nil { index.insert(n, value: i) }
        return index
    }()

    /// Appends the records for `exchange` to `out`; returns how many records were written.
    mutating func encode(_ e: borrowing Exchange, into out: inout ByteWriter) -> Int {
        var records = 1
        var body = ByteWriter(capacity: 0)
        swap(&body, &scratch)
        body.bytes.removeAll(keepingCapacity: true)
        defer { swap(&body, &scratch) }
        body.varint(e.id)
        body.u8(e.leg.rawValue)
        body.varint(e.connection.id)
        body.string(e.connection.client.host)
        body.varint(UInt64(e.connection.client.port))
        body.string(e.connection.server.host)
        body.varint(UInt64(e.connection.server.port))
        var connFlags: UInt8 = e.connection.tls ? 1 : 0
        if e.connection.sni != nil { connFlags |= 2 }
        body.u8(connFlags)
        if let sni = e.connection.sni { body.string(sni) }
        body.varint(UInt64(e.sequence))
        // Timing: request start absolute, the others as offsets from it; a presence byte says which exist.
        let t = e.timing
        var present: UInt8 = 0
        if t.requestStart != 0 { present |= 1 }
        if t.requestEnd != 0 { present |= 2 }
        if t.responseStart != 0 { present |= 4 }
        if t.responseEnd != 0 { present |= 8 }
        body.u8(present)
        if t.requestStart != 0 { body.zigzag(t.requestStart) }
        if t.requestEnd != 0 { body.zigzag(t.requestEnd - t.requestStart) }
        if t.responseStart != 0 { body.zigzag(t.responseStart - t.requestStart) }
        if t.responseEnd != 0 { body.zigzag(t.responseEnd - t.requestStart) }

        let r = e.request
        body.string(r.method)
        body.string(r.target)
        body.u8(r.version.major << 4 | (r.version.minor & 0x0f))
        records += encodeHeaders(r.headers, into: &body, records: &out)
        records += encodeBody(r.body, into: &body, records: &out)
        encodeTruncation(r.bodyTruncation, into: &body)
        records += encodeHeaders(r.trailers, into: &body, records: &out)

        if let resp = e.response {
            body.u8(1)
            body.varint(UInt64(resp.status))
            body.string(resp.reason)
            body.u8(resp.version.major << 4 | (resp.version.minor & 0x0f))
            records += encodeHeaders(resp.headers, into: &body, records: &out)
            records += encodeBody(resp.body, into: &body, records: &out)
            encodeTruncation(resp.bodyTruncation, into: &body)
            records += encodeHeaders(resp.trailers, into: &body, records: &out)
            body.varint(UInt64(resp.interim.count))
            for i in resp.interim {
                body.varint(UInt64(i.status))
                body.string(i.reason)
                records += encodeHeaders(i.headers, into: &body, records: &out)
            }
        } else {
            body.u8(0)
        }
        body.varint(UInt64(e.framing.rawValue))

        let f = e.flags
        var bits: UInt64 = 0
        if f.incomplete { bits |= 1 }
        if f.gapBytes != 0 { bits |= 2 }
        if f.snaplenTruncated { bits |= 4 }
        if f.parseError != nil { bits |= 8 }
        if f.midStream { bits |= 16 }
        if f.redacted { bits |= 32 }
        if e.link != nil { bits |= 64 }
        if e.replayOf != nil { bits |= 128 }
        if e.tunnel != nil { bits |= 256 }
        if e.error != nil { bits |= 512 }
        if !e.annotations.isEmpty { bits |= 1024 }
        body.varint(bits)
        if f.gapBytes != 0 { body.varint(f.gapBytes) }
        if let p = f.parseError {
            body.varint(p.offset)
            body.string(p.message)
        }
        if let link = e.link {
            body.varint(link.frontID)
            body.u8(link.confidence.rawValue)
        }
        if let r = e.replayOf { body.varint(r) }
        if let tunnel = e.tunnel {
            body.varint(tunnel.clientToServer)
            body.varint(tunnel.serverToClient)
        }
        if let err = e.error { body.string(err) }
        if !e.annotations.isEmpty {
            body.varint(UInt64(e.annotations.count))
            for a in e.annotations {
                body.string(a.key)
                body.string(a.value)
            }
        }
        out.u8(LogFormat.RecordType.exchange.rawValue)
        out.blob(body.bytes)
        return records
    }

    private mutating func encodeHeaders(_ headers: Headers, into body: inout ByteWriter, records: inout ByteWriter)
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
                records.blob(def.bytes)
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
    private mutating func encodeBody(_ bytes: [UInt8], into body: inout ByteWriter, records: inout ByteWriter) -> Int {
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
        let hash = bytes.withUnsafeBytes { harness_hash64($0.baseAddress, $0.count) }
        if let candidates = bodyIndex[hash] {
            for c in candidates where Self.sameBytes(bodies[c], bytes) {
                lastBody = (bytes, c)
                body.varint(UInt64(c + 1))
                return 0
            }
        }
        lastBody = (bytes, bodies.count)
        bodies.append(bytes)
        bodyIndex[hash, default: []].append(bodies.count - 1)
        segmentBodyBytes += bytes.count
        records.u8(LogFormat.RecordType.body.rawValue)
        records.blob(bytes)
        body.varint(UInt64(bodies.count))
        return 1
    }

    private func encodeTruncation(_ t: BodyTruncation?, into body: inout ByteWriter) {
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
