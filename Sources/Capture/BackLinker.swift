public import HarnessCore

/// Links each back exchange to the front exchange that caused it.
///
/// Front requests are registered when their head is seen and released when the exchange ends.
/// A back request on the same host (its client address is a front server address) that starts
/// while front exchanges are in flight is linked to one of them: the best path match (equal path,
/// then one path ending with the other, then none), then the most request header lines in common
/// (a proxy forwards the client's `Cookie`, `User-Agent`, `X-Request-Id`... unchanged), then the
/// fewest back exchanges linked so far (a proxy calls a backend once per request, so two
/// concurrent requests for one path get one back exchange each), then the most recently started. The link
/// is `.high` when the choice was unique (one candidate, or one best path match), `.low` otherwise.
/// The choice depends only on the candidates, never on hash order: the same input gives the same links.
public struct BackLinker: Sendable {
    struct Front: Sendable {
        var id: UInt64
        var start: Int64
        var host: IPAddress
        var path: Substring
        /// `name:value` of the request headers a proxy passes through unchanged.
        var fingerprint: Set<String>
        /// Back exchanges linked to it so far.
        var linked = 0
    }

    /// How well a back request fits a front one (compared in this order).
    struct Rank: Comparable {
        var path: Int
        var headers: Int
        var fresh: Int
        static func < (a: Rank, b: Rank) -> Bool { (a.path, a.headers, a.fresh) < (b.path, b.headers, b.fresh) }
    }
    private var inFlight: [UInt64: Front] = [:]

    public init() {}

    public var inFlightCount: Int { inFlight.count }

    /// A front request started.
    public mutating func frontStarted(id: UInt64, start: Int64, serverHost: IPAddress, target: String, headers: Headers = []) {
        inFlight[id] = Front(id: id, start: start, host: serverHost, path: Self.path(of: target), fingerprint: Self.fingerprint(headers))
    }

    /// A front exchange ended.
    public mutating func frontEnded(id: UInt64) { inFlight.removeValue(forKey: id) }

    /// The link for a back request from `clientHost` starting at `start`, or nil.
    public mutating func link(start: Int64, clientHost: IPAddress, target: String, headers: Headers = []) -> Link? {
        let path = Self.path(of: target)
        let fingerprint = Self.fingerprint(headers)
        var best: (front: Front, rank: Rank)?
        var bestCount = 0
        var candidates = 0
        for f in inFlight.values where f.start <= start && (f.host == clientHost || hostsAreLoopback(f.host, clientHost)) {
            candidates += 1
            let rank = Rank(
                path: Self.score(front: f.path, back: path), headers: f.fingerprint.intersection(fingerprint).count, fresh: -f.linked)
            guard let b = best else {
                best = (f, rank)
                bestCount = 1
                continue
            }
            if rank > b.rank {
                best = (f, rank)
                bestCount = 1
            } else if rank == b.rank {
                bestCount += 1
                if f.start > b.front.start || (f.start == b.front.start && f.id > b.front.id) { best = (f, rank) }
            }
        }
        guard let best else { return nil }
        inFlight[best.front.id]?.linked += 1
        let unique = candidates == 1 || (bestCount == 1 && best.rank.path > 0)
        return Link(frontID: best.front.id, confidence: unique ? .high : .low)
    }

    /// Headers a proxy rewrites or adds (hop-by-hop, framing, Host, forwarding) are left out.
    static let rewrittenByProxies: Set<String> = [
        "host", "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "expect", "via", "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-server",
        "x-forwarded-proto", "x-forwarded-port", "x-real-ip",
    ]

    static func fingerprint(_ headers: Headers) -> Set<String> {
        var out = Set<String>()
        for h in headers {
            let name = h.name.lowercased()
            if !rewrittenByProxies.contains(name) { out.insert(name + ":" + h.value) }
        }
        return out
    }

    private func hostsAreLoopback(_ a: IPAddress, _ b: IPAddress) -> Bool {
        func loop(_ x: IPAddress) -> Bool {
            (x.isV4 && (x.lo >> 24) & 0xff == 127) || (x.hi == 0 && x.lo == 1)
        }
        return loop(a) && loop(b)
    }

    static func path(of target: String) -> Substring {
        Request(method: "GET", target: target).path
    }

    /// 3: equal paths; 2: one ends with the other (a proxy adding or stripping a prefix); 1: same
    /// last segment; 0: nothing in common.
    static func score(front: Substring, back: Substring) -> Int {
        if front == back { return 3 }
        if (front.count > 1 && back.hasSuffix(front)) || (back.count > 1 && front.hasSuffix(back)) { return 2 }
        let fl = front.split(separator: "/").last
        let bl = back.split(separator: "/").last
        if let fl, let bl, fl == bl { return 1 }
        return 0
    }
}
