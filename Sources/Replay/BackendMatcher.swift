public import HarnessCore
import NIOCore

/// What a simulated backend matches an incoming request on: its backend, method, path and query.
public struct RouteKey: Hashable, Sendable {
    public var origin: Int
    public var method: String
    public var path: String
    public var query: String?
    public init(origin: Int, method: String, target: String) {
        self.origin = origin
        self.method = method.uppercased()
        let request = Request(method: method, target: target)
        self.path = String(request.path)
        self.query = request.query.map(String.init)
    }
}

/// A body's length and a 64-bit FNV-1a hash; the hash is nil for a recorded body that was cut,
/// which then matches any body of the same length.
public struct BodyDigest: Sendable, Equatable {
    public var length: UInt64
    public var hash: UInt64?
    public init(length: UInt64, hash: UInt64?) {
        self.length = length
        self.hash = hash
    }
    public init(_ body: [UInt8], truncation: BodyTruncation? = nil) {
        if let truncation {
            self.init(length: truncation.originalLength, hash: nil)
        } else {
            self.init(length: UInt64(body.count), hash: Self.fnv1a(body))
        }
    }
    public func matches(_ other: BodyDigest) -> Bool {
        guard length == other.length else { return false }
        guard let a = hash, let b = other.hash else { return true }
        return a == b
    }
    public static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }
}

/// The answer a simulated backend gives: a recorded back exchange (and the front it belongs to),
/// or why nothing matched.
public enum BackendMatch: Sendable {
    /// `reused`: every recorded exchange for this request was already served; the last is served again.
    case matched(recorded: Exchange, link: Link?, reused: Bool)
    case unmatched(why: String, link: Link?)
}

/// The recorded back exchanges a replay may still need, and the front exchanges in flight.
///
/// The replay streams the recording once; back exchanges enter this window as they are read and
/// leave when the front exchange they are linked to has been replayed (or was filtered out), or,
/// for unlinked ones, first-in first-out when the window is full. Matching, in order: an
/// unserved recorded request with the same method, path and query linked to a front exchange in
/// flight (same body first); then any unserved one with the same body; then the last one served
/// for that request again; else unmatched. Thread-safe.
public final class BackendMatcher: @unchecked Sendable {
    private struct Entry {
        var exchange: Exchange
        var route: RouteKey
        var digest: BodyDigest
        var frontID: UInt64?
        var consumed = false
        var bytes: Int
    }

    private let lock = PosixLock()
    // Everything below is guarded by `lock`.
    private var entries: [UInt64: Entry] = [:]
    private var byRoute: [RouteKey: [UInt64]] = [:]
    private var byFront: [UInt64: [UInt64]] = [:]
    private var fifo = CircularBuffer<UInt64>()
    private var inFlight: [UInt64: UInt64] = [:]
    private var bytes = 0
    private let maxEntries: Int
    private let maxBytes: Int
    private let originNames: [String]

    /// `originNames[i]` names backend `i` in messages.
    public init(originNames: [String], maxEntries: Int = 200_000, maxBytes: Int = 512 << 20) {
        self.originNames = originNames
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    /// Recorded back exchanges currently held.
    public var count: Int { lock.withLock { entries.count } }

    /// Adds a recorded back exchange of backend `origin`.
    public func addRecorded(_ exchange: Exchange, origin: Int) {
        let route = RouteKey(origin: origin, method: exchange.request.method, target: exchange.request.target)
        let size = exchange.request.body.count + (exchange.response?.body.count ?? 0) + 512
        let entry = Entry(
            exchange: exchange, route: route,
            digest: BodyDigest(exchange.request.body, truncation: exchange.request.bodyTruncation),
            frontID: exchange.link?.frontID, bytes: size)
        lock.withLock {
            if entries[exchange.id] != nil { return }
            entries[exchange.id] = entry
            byRoute[route, default: []].append(exchange.id)
            if let f = entry.frontID { byFront[f, default: []].append(exchange.id) }
            fifo.append(exchange.id)
            bytes += size
            while entries.count > maxEntries || bytes > maxBytes, let oldest = fifo.popFirst() {
                removeLocked(oldest)
            }
            if fifo.count > 2 * entries.count + 1024 {
                fifo = CircularBuffer(fifo.filter { entries[$0] != nil })
            }
        }
    }

    /// A front exchange starts: back requests may now be linked to `replayedID`.
    public func beginFront(originalID: UInt64, replayedID: UInt64) {
        lock.withLock { inFlight[originalID] = replayedID }
    }

    /// A front exchange ended: its recorded back exchanges leave the window.
    public func endFront(originalID: UInt64) {
        lock.withLock {
            inFlight[originalID] = nil
            dropLinkedLocked(originalID)
        }
    }

    /// A front exchange will not be replayed: its recorded back exchanges leave the window.
    public func dropFront(originalID: UInt64) {
        lock.withLock { dropLinkedLocked(originalID) }
    }

    /// Finds the recorded answer for a request that backend `origin` received. `headers` break
    /// ties: when several recorded requests for the same route belong to front exchanges in
    /// flight (two users loading the same page at once), the one whose recorded headers (cookies,
    /// credentials, `Accept`) agree most with what arrived is served and linked.
    public func match(origin: Int, method: String, target: String, body: [UInt8], headers: [HeaderField] = []) -> BackendMatch {
        let route = RouteKey(origin: origin, method: method, target: target)
        let digest = BodyDigest(body)
        return lock.withLock { () -> BackendMatch in
            let candidates = byRoute[route] ?? []
            // 1. Linked to a front exchange in flight (same body first; most headers in common).
            for sameBody in [true, false] {
                var best: (id: UInt64, replayed: UInt64, score: Int)?
                for id in candidates {
                    guard let e = entries[id], !e.consumed, let f = e.frontID, let replayed = inFlight[f] else { continue }
                    if sameBody && !e.digest.matches(digest) { continue }
                    if best == nil && headers.isEmpty {
                        best = (id, replayed, 0)
                        break
                    }
                    let score = Self.headerAgreement(e.exchange.request.headers, headers)
                    if best == nil || score > best!.score { best = (id, replayed, score) }
                }
                if let best {
                    return serveLocked(best.id, link: Link(frontID: best.replayed, confidence: inFlight.count == 1 ? .exact : .high))
                }
            }
            // 2. Any unserved recorded request with the same body, unlinked ones first.
            var fallback: UInt64?
            for id in candidates {
                guard let e = entries[id], !e.consumed, e.digest.matches(digest) else { continue }
                if e.frontID == nil || inFlight[e.frontID!] == nil {
                    fallback = id
                    break
                }
                if fallback == nil { fallback = id }
            }
            if let id = fallback { return serveLocked(id, link: soleFrontLink()) }
            // 3. Served before: repeat the last answer.
            for id in candidates.reversed() {
                guard let e = entries[id], e.consumed, e.digest.matches(digest) else { continue }
                return .matched(recorded: e.exchange, link: linkFor(e) ?? soleFrontLink(), reused: true)
            }
            return unmatchedLocked(route: route, digest: digest, target: target)
        }
    }

    private func serveLocked(_ id: UInt64, link: Link?) -> BackendMatch {
        entries[id]!.consumed = true
        return .matched(recorded: entries[id]!.exchange, link: link, reused: false)
    }

    private func linkFor(_ e: Entry) -> Link? {
        guard let f = e.frontID, let replayed = inFlight[f] else { return nil }
        return Link(frontID: replayed, confidence: .high)
    }

    private func soleFrontLink() -> Link? {
        guard inFlight.count == 1, let replayed = inFlight.first?.value else { return nil }
        return Link(frontID: replayed, confidence: .low)
    }

    private func unmatchedLocked(route: RouteKey, digest: BodyDigest, target: String) -> BackendMatch {
        let name = route.origin < originNames.count ? originNames[route.origin] : "backend \(route.origin)"
        var why = "no recorded \(route.method) \(target) on \(name)"
        if byRoute[route] != nil { why += " with this body (\(digest.length) bytes)" }
        // The nearest recorded request of a front exchange in flight says what was expected.
        var best: (score: Int, entry: Entry, replayed: UInt64)?
        for (front, replayed) in inFlight {
            for id in byFront[front] ?? [] {
                guard let e = entries[id], e.route.origin == route.origin else { continue }
                let score = Self.commonPrefix(e.exchange.request.target, target) + (e.route.method == route.method ? 1000 : 0)
                if best == nil || score > best!.score { best = (score, e, replayed) }
            }
        }
        if let best {
            why += "; the front request in flight expected \(best.entry.route.method) \(best.entry.exchange.request.target)"
            return .unmatched(why: why, link: Link(frontID: best.replayed, confidence: .low))
        }
        return .unmatched(why: why, link: soleFrontLink())
    }

    private func dropLinkedLocked(_ front: UInt64) {
        guard let ids = byFront.removeValue(forKey: front) else { return }
        for id in ids { removeLocked(id) }
    }

    private func removeLocked(_ id: UInt64) {
        guard let e = entries.removeValue(forKey: id) else { return }
        bytes -= e.bytes
        if var list = byRoute[e.route] {
            list.removeAll { $0 == id }
            byRoute[e.route] = list.isEmpty ? nil : list
        }
        if let f = e.frontID, var list = byFront[f] {
            list.removeAll { $0 == id }
            byFront[f] = list.isEmpty ? nil : list
        }
    }

    /// How many of the recorded request's end-to-end header fields arrived with the same value;
    /// fields a proxy rewrites anyway (`Host`, `X-Forwarded-*`, `Via`, hop-by-hop, framing) do not count.
    static func headerAgreement(_ recorded: [HeaderField], _ received: [HeaderField]) -> Int {
        var score = 0
        for r in recorded {
            let name = r.name.lowercased()
            if proxyRewritten.contains(name) || name.hasPrefix("x-forwarded-") { continue }
            if received.contains(where: { $0.value == r.value && $0.name.lowercased() == name }) { score += 1 }
        }
        return score
    }

    private static let proxyRewritten: Set<String> = [
        "host", "via", "forwarded", "connection", "keep-alive", "te", "transfer-encoding", "content-length",
        "proxy-connection", "upgrade",
    ]

    static func commonPrefix(_ a: String, _ b: String) -> Int {
        var n = 0
        for (x, y) in zip(a.utf8, b.utf8) {
            guard x == y else { break }
            n += 1
        }
        return n
    }
}
