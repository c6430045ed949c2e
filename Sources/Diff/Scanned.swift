import HarnessCore

/// One record's facts the fast path compares, computed on the reader's thread by
/// `RecordDigester` (no string per header). Stored inline in its batch (no allocation per record).
struct ScannedRecord {
    let id: UInt64
    let leg: Leg
    let linkFrontID: UInt64?
    let replayOf: UInt64?
    /// The key a partner uses to find this exchange (original: id; result log: replayOf).
    let key: UInt64?
    let hasError: Bool
    let hasResponse: Bool
    let incomplete: Bool
    let status: UInt16
    let unmatched: Bool
    let timing: Timing
    let tls: Bool
    /// The server endpoint (its host only for backs).
    let server: Endpoint
    /// The client address (fronts only).
    let clientHost: String
    /// Fronts: the response head; backs: the request head (what the diff compares of each).
    let head: HeadDigest
    /// First `Host` of the request.
    let host: String?
    /// Hash and length of method and target (backs compare them).
    let methodHash: UInt64
    let targetHash: UInt64
    /// Method and target when route rules need them (`RecordDigester.keepTarget`).
    let method: String?
    let target: String?

    init(scanner: LogScanner, digester: inout RecordDigester, key: UInt64?) {
        let r = scanner.record
        id = r.id
        leg = r.leg
        linkFrontID = r.linkFrontID
        replayOf = r.replayOf
        self.key = key
        hasError = r.hasError
        hasResponse = r.hasResponse
        incomplete = r.incomplete
        status = r.status
        timing = r.timing
        tls = r.tls
        // Backs need the server (backend origins), fronts the client and port (normalisation).
        let back = r.leg == .back
        server = Endpoint(host: back ? String(decoding: r.serverHost, as: UTF8.self) : "", port: r.serverPort)
        clientHost = back ? "" : String(decoding: r.clientHost, as: UTF8.self)
        var unmatched = false
        for k in scanner.annotationKeys[r.annotationKeys] where RecordDigester.equal(k, RecordDigester.unmatchedKey) {
            unmatched = true
        }
        self.unmatched = unmatched
        let d = digester.digest(scanner: scanner, front: r.leg != .back)
        head = d.head
        host = d.host
        methodHash = RecordDigester.hash(r.method)
        targetHash = RecordDigester.hash(r.target)
        if digester.keepTarget {
            method = String(decoding: r.method, as: UTF8.self)
            target = String(decoding: r.target, as: UTF8.self)
        } else {
            method = nil
            target = nil
        }
    }
}

/// Scanned records and their detached copies, handed from a reader thread to the join as one
/// object (read-only once handed over; alive while any of its records waits in the join).
final class ScannedBatch {
    let records: [ScannedRecord]
    let store: DetachedRecords

    init(records: [ScannedRecord], store: DetachedRecords) {
        self.records = records
        self.store = store
    }
}

/// One record as the join holds it: a handle on its batch. The full exchange is decoded from the
/// detached copy only when a pair needs the detailed comparison.
struct Scanned {
    let batch: ScannedBatch
    let index: Int

    var id: UInt64 { batch.records[index].id }
    var leg: Leg { batch.records[index].leg }
    var linkFrontID: UInt64? { batch.records[index].linkFrontID }
    var replayOf: UInt64? { batch.records[index].replayOf }
    /// The key a partner uses to find this exchange (original: id; result log: replayOf).
    var key: UInt64? { batch.records[index].key }
    var hasError: Bool { batch.records[index].hasError }
    var hasResponse: Bool { batch.records[index].hasResponse }
    var incomplete: Bool { batch.records[index].incomplete }
    var status: UInt16 { batch.records[index].status }
    var unmatched: Bool { batch.records[index].unmatched }
    var timing: Timing { batch.records[index].timing }
    var tls: Bool { batch.records[index].tls }
    var server: Endpoint { batch.records[index].server }
    var clientHost: String { batch.records[index].clientHost }
    var head: HeadDigest { batch.records[index].head }
    var host: String? { batch.records[index].host }
    var methodHash: UInt64 { batch.records[index].methodHash }
    var targetHash: UInt64 { batch.records[index].targetHash }
    var method: String? { batch.records[index].method }
    var target: String? { batch.records[index].target }
    var latency: Int64? { batch.records[index].timing.latency }

    /// The full exchange, decoded from the detached copy (slow path only).
    var prepared: Prepared {
        let e: Exchange
        do {
            e = try batch.store.exchange(index)
        } catch {
            // The scan validated the record; a detached copy that does not decode is a bug, but
            // never a trap on input: compare an empty exchange instead.
            e = Exchange(id: id, leg: leg, request: Request(method: "", target: ""))
        }
        return Prepared(e, key: key)
    }
}

/// What the fast path compares of one head (fronts: response; backs: request), see
/// `RecordDigester.digest`.
struct HeadDigest {
    /// Order-insensitive across names, order-sensitive within a name: the compared fields'
    /// lowercased names, occurrence numbers and values as the comparison normalises them.
    var sum: UInt64 = 0
    var fields = 0
    /// Fields whose comparison depends on the pair (origins, client, time offset), compared by
    /// the join in wire order.
    var specials: [Special] = []
    /// Location, Content-Location, Refresh (first values; responses only).
    var location: String?
    var contentLocation: String?
    var refresh: String?
    /// Something the fast path does not handle (a Connection header listing other fields,
    /// redacted values, non-ASCII where trimming or product names are involved): compare in full.
    var slow = false
    /// The body as recorded, its content-encoding (first value) and whether it was cut.
    var body = BodyDigest(length: 0, h1: 0, h2: 0)
    var encodingHash: UInt64 = 0
    var truncated = false
}

/// A field compared per pair (its normalisation depends on the pair), as recorded.
struct Special {
    enum Kind: UInt8 {
        /// Expires, Last-Modified: equal when raw-equal (otherwise the detailed path shifts them).
        case timeShifted
        /// X-Forwarded-For: `{client}` per side.
        case forwardedFor
        /// X-Forwarded-Host/-Server: an authority (origin table, the side's scheme).
        case forwardedHost
        /// X-Forwarded-Proto/-Scheme/-Port: against the side's front connection.
        case frontFacts
        /// Origin, Referer: URLs through the origin table (equal raw values stay equal).
        case url
    }
    var kind: Kind
    var name: String
    var value: String
    /// A redacted token (or a value whose trimming bytes and characters could disagree):
    /// compared raw only.
    var opaque: Bool

    static func kind(of name: String, timeShifted: Set<String>) -> Kind {
        if timeShifted.contains(name) { return .timeShifted }
        switch name {
        case "x-forwarded-for", "forwarded-for": return .forwardedFor
        case "x-forwarded-host", "x-forwarded-server": return .forwardedHost
        case "origin", "referer": return .url
        default: return .frontFacts
        }
    }
}

/// Computes `HeadDigest`s on a reader's thread. Classifies each header name once per segment
/// under the base rules (the rules in force where no route rule matches).
struct RecordDigester {
    enum Kind: UInt8 { case skip, plain, product, cookie, special, connection, location, host, encoding }

    struct NameInfo {
        var kind: Kind
        var special: Special.Kind = .timeShifted
        var hash: UInt64
        var lower: String
    }

    let ignored: Set<String>
    let timeShifted: Set<String>
    let productOnly: Set<String>
    let keepTarget: Bool
    private var segment = -1
    private var frontNames: [NameInfo?] = []
    private var backNames: [NameInfo?] = []
    private var occurrences: [UInt64] = []

    static let unmatchedKey = Array("unmatched".utf8)

    init(rules: ResolvedRules, keepTarget: Bool) {
        ignored = rules.ignored
        timeShifted = rules.timeShifted
        productOnly = rules.productOnly
        self.keepTarget = keepTarget
    }

    static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: [UInt8]) -> Bool {
        a.count == b.count && a.elementsEqual(b)
    }

    static func hash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(b.count)
        guard let p = b.baseAddress else { return h }
        var i = 0
        let n = b.count
        while i + 8 <= n {
            h = (h ^ UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)) &* 0x0000_0100_0000_01b3
            h ^= h >> 29
            i += 8
        }
        while i < n {
            h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01b3
            i += 1
        }
        return mix(h)
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    private mutating func info(_ scanner: LogScanner, _ index: Int, front: Bool) -> NameInfo {
        if index < (front ? frontNames.count : backNames.count), let i = front ? frontNames[index] : backNames[index] { return i }
        return learn(scanner, index, front: front)
    }

    /// Starts a segment: table names (above the static ones) change meaning.
    private mutating func enter(segment number: Int) {
        if number != segment {
            segment = number
            // Static names keep their meaning across segments; only table names change.
            let s = LogFormat.staticHeaderNames.count
            if frontNames.count > s { frontNames.removeSubrange(s...) }
            if backNames.count > s { backNames.removeSubrange(s...) }
        }
    }

    private mutating func learn(_ scanner: LogScanner, _ index: Int, front: Bool) -> NameInfo {
        let lower = (scanner.name(index) ?? "").lowercased()
        let kind = classify(lower, front: front)
        var l = lower
        var i = NameInfo(kind: kind, hash: l.withUTF8 { Self.hash($0) }, lower: lower)
        if kind == .special { i.special = Special.kind(of: lower, timeShifted: timeShifted) }
        if front {
            while frontNames.count <= index { frontNames.append(nil) }
            frontNames[index] = i
        } else {
            while backNames.count <= index { backNames.append(nil) }
            backNames[index] = i
        }
        return i
    }

    private func classify(_ n: String, front: Bool) -> Kind {
        if n == "connection" { return .connection }
        if n == "host" && !front { return .host }
        if front && NoiseDefaults.locationHeaders.contains(n) { return .location }
        if NoiseDefaults.hopByHop.contains(n) || ignored.contains(n) { return .skip }
        if n == "content-encoding" { return .encoding }
        if n == "set-cookie" { return .cookie }
        if timeShifted.contains(n) || HeaderComparer.specialNames.contains(n) { return .special }
        if productOnly.contains(n) { return .product }
        return .plain
    }

    /// The digest of a record's compared head (fronts: response; backs: request) and the first
    /// request Host.
    mutating func digest(scanner: LogScanner, front: Bool) -> (head: HeadDigest, host: String?) {
        let r = scanner.record
        // One read of the scanner's state per record (cross-module property reads are checked).
        let fields = scanner.fields
        enter(segment: scanner.segment)
        var host: String?
        var d = HeadDigest()
        // The request Host (fronts: origins; backs: compared by authority).
        for f in fields[r.requestFields] {
            let i = info(scanner, f.name, front: false)
            if i.kind == .host {
                host = String(decoding: f.value, as: UTF8.self)
                break
            }
        }
        let range: Range<Int>
        if front {
            guard r.hasResponse else { return (d, host) }
            range = r.responseFields
            d.body = scanner.bodyPrint(r.responseBody)
            d.truncated = r.responseTruncated
        } else {
            range = r.requestFields
            d.body = scanner.bodyPrint(r.requestBody)
            d.truncated = r.requestTruncated
        }
        occurrences.removeAll(keepingCapacity: true)
        var sawEncoding = false
        for f in fields[range] {
            let i = info(scanner, f.name, front: front)
            switch i.kind {
            case .skip, .host:
                continue
            case .connection:
                if !Self.onlyPlainConnectionTokens(f.value) { d.slow = true }
                continue
            case .location:
                switch i.lower {
                case "location": if d.location == nil { d.location = String(decoding: f.value, as: UTF8.self) }
                case "content-location": if d.contentLocation == nil { d.contentLocation = String(decoding: f.value, as: UTF8.self) }
                default: if d.refresh == nil { d.refresh = String(decoding: f.value, as: UTF8.self) }
                }
                continue
            case .special:
                d.specials.append(Special(
                    kind: i.special, name: i.lower, value: String(decoding: f.value, as: UTF8.self), opaque: Self.trimmed(f.value) == nil))
                continue
            case .encoding:
                if !sawEncoding {
                    sawEncoding = true
                    d.encodingHash = Self.hash(f.value) | 1
                }
            case .plain, .product, .cookie:
                break
            }
            var occ: UInt64 = 0
            for o in occurrences where o == i.hash { occ += 1 }
            occurrences.append(i.hash)
            let v: UInt64
            if i.kind == .cookie {
                v = Self.hash(f.value)
            } else {
                guard let t = Self.trimmed(f.value) else {
                    d.slow = true
                    continue
                }
                if i.kind == .product {
                    var n = 0
                    while n < t.count && t[n] != UInt8(ascii: "/") && t[n] != UInt8(ascii: " ") {
                        if t[n] >= 0x80 { d.slow = true }
                        n += 1
                    }
                    // A combining mark after the stop makes one character of it (compare in full).
                    if n + 1 < t.count && t[n + 1] >= 0x80 { d.slow = true }
                    v = Self.hash(UnsafeBufferPointer(rebasing: t[0..<n]))
                } else {
                    v = Self.hash(t)
                }
            }
            d.sum &+= Self.mix(i.hash &+ Self.mix(v ^ (occ &* 0x2545_f491_4f6c_dd1d)))
            d.fields += 1
        }
        return (d, host)
    }

    /// The value without surrounding spaces and tabs, as `trimmingWhitespace` compares it; nil
    /// when byte and character trimming could disagree (a combining mark after a leading space)
    /// or the value is a redacted token (compared by the detailed path).
    static func trimmed(_ v: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8>? {
        var lo = 0, hi = v.count
        while lo < hi && (v[lo] == 0x20 || v[lo] == 0x09) { lo += 1 }
        while hi > lo && (v[hi - 1] == 0x20 || v[hi - 1] == 0x09) { hi -= 1 }
        if lo > 0 && lo < hi && v[lo] >= 0x80 { return nil }
        let t = UnsafeBufferPointer(rebasing: v[lo..<hi])
        if t.count >= redacted.count && t[0] == UInt8(ascii: "r") && equal(UnsafeBufferPointer(rebasing: t[0..<redacted.count]), redacted) {
            return nil
        }
        return t
    }

    static let redacted = Array(NoiseDefaults.redactedPrefix.utf8)

    /// Connection tokens that name no other header (keep-alive, close, upgrade).
    static func onlyPlainConnectionTokens(_ v: UnsafeBufferPointer<UInt8>) -> Bool {
        var start = 0
        while start <= v.count {
            var end = start
            while end < v.count && v[end] != UInt8(ascii: ",") { end += 1 }
            var lo = start, hi = end
            while lo < hi && (v[lo] == 0x20 || v[lo] == 0x09) { lo += 1 }
            while hi > lo && (v[hi - 1] == 0x20 || v[hi - 1] == 0x09) { hi -= 1 }
            let t = UnsafeBufferPointer(rebasing: v[lo..<hi])
            if !(ASCIICase.equal(t, keepAlive) || ASCIICase.equal(t, close) || ASCIICase.equal(t, upgrade)) { return false }
            start = end + 1
        }
        return true
    }

    static let keepAlive = Array("keep-alive".utf8)
    static let close = Array("close".utf8)
    static let upgrade = Array("upgrade".utf8)
}
