public import HarnessCore

/// What a first streaming pass over a recording learns: which selected requests end their
/// connection, when the recording started, which backends it called and which host it was
/// recorded on. What it keeps is one bit per selected request and bounded samples; while it reads,
/// it remembers at most `ConnectionEndsBuilder.maxTracked` connections.
public struct RecordingPlan: Sendable {
    /// Per selected request of the client leg, in file order: whether it is its connection's last.
    public var ends: ConnectionEnds
    /// Connections forgotten by the bounded first pass (see `ConnectionEndsBuilder`).
    public var evictedConnections: Int
    /// The leg replayed: `front`, or `direct` for a recording without a proxy.
    public var clientLeg: Leg
    /// Front exchanges selected.
    public var total: Int
    /// First request start of the recording (microseconds).
    public var recordingStart: Int64
    /// Recorded backend origins (from the back exchanges' server endpoints), in order of first use.
    public var backendOrigins: [Origin]
    /// Per backend origin: other authorities it was called by (Host headers not seen on the front).
    public var backendAliases: [[String]]
    /// Back exchanges in the recording.
    public var backExchanges: Int
    /// Server endpoints and Host headers of the recorded front leg (bounded samples).
    public var frontEndpoints: Set<String>
    public var frontHosts: Set<String>
    public var header: LogHeader
    public var damage: LogDamage?
    public var exchangesInFile: Int

    /// The backend origin of a recorded back exchange.
    public static func backendOrigin(of e: Exchange) -> Origin {
        let server = e.connection.server
        if server.port == 0, let host = e.request.headers.first("Host"),
            let parsed = Origin(parsing: (e.connection.tls ? "https://" : "http://") + host)
        {
            return parsed
        }
        return Origin(tls: e.connection.tls, host: server.host, port: server.port)
    }

    /// Streams `path` once.
    public static func build(path: String, selection: ReplaySelection, maxTrackedConnections: Int = 500_000) throws
        -> RecordingPlan
    {
        let reader = try LogReader(path: path)
        var front = ConnectionEndsBuilder(maxTracked: maxTrackedConnections)
        var direct = ConnectionEndsBuilder(maxTracked: maxTrackedConnections)
        var totals: [Leg: Int] = [.front: 0, .direct: 0]
        var start: Int64 = .max
        var origins: [Origin] = []
        var originIndex: [Origin: Int] = [:]
        var hostsByOrigin: [[String]] = []
        var backs = 0
        var endpoints = Set<String>()
        var hosts = Set<String>()
        var count = 0
        while let e = try reader.next() {
            count += 1
            switch e.leg {
            case .back:
                backs += 1
                let o = backendOrigin(of: e)
                let index: Int
                if let i = originIndex[o] {
                    index = i
                } else {
                    index = origins.count
                    originIndex[o] = index
                    origins.append(o)
                    hostsByOrigin.append([])
                }
                if let h = e.request.headers.first("Host")?.lowercased(), hostsByOrigin[index].count < 16,
                    !hostsByOrigin[index].contains(h)
                {
                    hostsByOrigin[index].append(h)
                }
            case .front, .direct:
                if e.timing.requestStart > 0 { start = min(start, e.timing.requestStart) }
                if e.leg == .front {
                    if endpoints.count < 64 { endpoints.insert(e.connection.server.description) }
                    if hosts.count < 64, let h = e.request.headers.first("Host") { hosts.insert(h.lowercased()) }
                }
                guard selection.includes(e) else { continue }
                if let limit = selection.limit, totals[e.leg]! >= limit { continue }
                totals[e.leg]! += 1
                if e.leg == .front {
                    front.add(connection: e.connection.id)
                } else {
                    direct.add(connection: e.connection.id)
                }
            }
        }
        let leg: Leg = totals[.front]! > 0 || totals[.direct]! == 0 ? .front : .direct
        let aliases = hostsByOrigin.map { list in list.filter { !hosts.contains($0) } }
        let chosen = leg == .front ? front : direct
        return RecordingPlan(
            ends: chosen.ends, evictedConnections: chosen.evicted, clientLeg: leg, total: totals[leg]!, recordingStart: start == .max ? 0 : start,
            backendOrigins: origins, backendAliases: aliases, backExchanges: backs, frontEndpoints: endpoints,
            frontHosts: hosts, header: reader.header, damage: reader.damage, exchangesInFile: count)
    }
}
