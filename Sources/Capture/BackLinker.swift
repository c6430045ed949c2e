public import HarnessCore

/// Links each back exchange to the front exchange that caused it.
///
/// Front requests are registered when their head is seen and released when the exchange ends.
/// A back request on the same host (its client address is a front server address) that starts
/// while front exchanges are in flight is linked to one of them: the best path match (equal path,
/// then one path ending with the other, then none), the most recently started on a tie. The link
/// is `.high` when the choice was unique (one candidate, or one best path match), `.low` otherwise.
/// The choice depends only on the candidates, never on hash order: the same input gives the same links.
public struct BackLinker: Sendable {
    struct Front: Sendable {
        var id: UInt64
        var start: Int64
        var host: IPAddress
        var path: Substring
    }
    private var inFlight: [UInt64: Front] = [:]

    public init() {}

    public var inFlightCount: Int { inFlight.count }

    /// A front request started.
    public mutating func frontStarted(id: UInt64, start: Int64, serverHost: IPAddress, target: String) {
        inFlight[id] = Front(id: id, start: start, host: serverHost, path: Self.path(of: target))
    }

    /// A front exchange ended.
    public mutating func frontEnded(id: UInt64) { inFlight.removeValue(forKey: id) }

    /// The link for a back request from `clientHost` starting at `start`, or nil.
    public func link(start: Int64, clientHost: IPAddress, target: String) -> Link? {
        let path = Self.path(of: target)
        var best: Front?
        var bestScore = -1
        var bestCount = 0
        var candidates = 0
        for f in inFlight.values where f.start <= start && (f.host == clientHost || hostsAreLoopback(f.host, clientHost)) {
            candidates += 1
            let score = Self.score(front: f.path, back: path)
            if score > bestScore {
                best = f
                bestScore = score
                bestCount = 1
            } else if score == bestScore {
                bestCount += 1
                if let b = best, f.start > b.start || (f.start == b.start && f.id > b.id) { best = f }
            }
        }
        guard let best else { return nil }
        let unique = candidates == 1 || (bestCount == 1 && bestScore > 0)
        return Link(frontID: best.id, confidence: unique ? .high : .low)
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
