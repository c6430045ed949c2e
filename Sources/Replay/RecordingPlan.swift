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
        backendOrigin(
            tls: e.connection.tls, serverHost: e.connection.server.host, serverPort: e.connection.server.port,
            host: e.request.headers.first("Host"))
    }

    /// The backend origin of a back exchange: its server endpoint, or for a recording without one
    /// (port 0) the origin its Host header names.
    static func backendOrigin(tls: Bool, serverHost: String, serverPort: UInt16, host: String?) -> Origin {
        if serverPort == 0, let host, let parsed = Origin(parsing: (tls ? "https://" : "http://") + host) { return parsed }
        return Origin(tls: tls, host: serverHost, port: serverPort)
    }

    /// Streams `path` once, with the log scanner: no `Exchange` is built (a full decode of every
    /// record was a tenth of a replay's CPU, before the first request left).
    public static func build(path: String, selection: ReplaySelection, maxTrackedConnections: Int = 500_000) throws
        -> RecordingPlan
    {
        let scanner = try LogScanner(path: path)
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
        // The previous front exchange's server and Host: most repeat, and then the sets need no
        // String, description or hash.
        var lastServer: (host: [UInt8], port: UInt16) = ([], 0)
        var lastHost: String?
        var count = 0
        let filters = selection.filtersExchanges
        while try scanner.next() {
            count += 1
            let e = scanner.record
            switch e.leg {
            case .back:
                backs += 1
                let host = hostHeader(scanner, e.requestFields)
                let o = backendOrigin(
                    tls: e.tls, serverHost: String(decoding: e.serverHost, as: UTF8.self), serverPort: e.serverPort, host: host)
                let index: Int
                if let i = originIndex[o] {
                    index = i
                } else {
                    index = origins.count
                    originIndex[o] = index
                    origins.append(o)
                    hostsByOrigin.append([])
                }
                if let h = host?.lowercased(), hostsByOrigin[index].count < 16, !hostsByOrigin[index].contains(h) {
                    hostsByOrigin[index].append(h)
                }
            case .front, .direct:
                if e.timing.requestStart > 0 { start = min(start, e.timing.requestStart) }
                if e.leg == .front {
                    if endpoints.count < 64, e.serverPort != lastServer.port || !e.serverHost.elementsEqual(lastServer.host) {
                        lastServer = (Array(e.serverHost), e.serverPort)
                        let server = Endpoint(host: String(decoding: e.serverHost, as: UTF8.self), port: e.serverPort)
                        endpoints.insert(server.description)
                    }
                    if hosts.count < 64, let h = hostHeader(scanner, e.requestFields), h != lastHost {
                        lastHost = h
                        hosts.insert(h.lowercased())
                    }
                }
                if filters {
                    let target = String(decoding: e.target, as: UTF8.self)
                    guard
                        selection.includes(
                            method: String(decoding: e.method, as: UTF8.self),
                            path: { Request(method: "", target: target).path }, connectionID: e.connectionID)
                    else { continue }
                } else {
                    guard selection.includesConnection(e.connectionID) else { continue }
                }
                if let limit = selection.limit, totals[e.leg]! >= limit { continue }
                totals[e.leg]! += 1
                if e.leg == .front {
                    front.add(connection: e.connectionID)
                } else {
                    direct.add(connection: e.connectionID)
                }
            }
        }
        let leg: Leg = totals[.front]! > 0 || totals[.direct]! == 0 ? .front : .direct
        let aliases = hostsByOrigin.map { list in list.filter { !hosts.contains($0) } }
        let chosen = leg == .front ? front : direct
        return RecordingPlan(
            ends: chosen.ends, evictedConnections: chosen.evicted, clientLeg: leg, total: totals[leg]!, recordingStart: start == .max ? 0 : start,
            backendOrigins: origins, backendAliases: aliases, backExchanges: backs, frontEndpoints: endpoints,
            frontHosts: hosts, header: scanner.header, damage: scanner.damage, exchangesInFile: count)
    }

    /// The first Host field of the scanned head `fields` (as `Headers.first("Host")`).
    private static func hostHeader(_ scanner: LogScanner, _ fields: Range<Int>) -> String? {
        for i in fields {
            let f = scanner.fields[i]
            if let name = scanner.name(f.name), name.utf8.count == 4, name.caseInsensitiveEquals("host") {
                return String(decoding: f.value, as: UTF8.self)
            }
        }
        return nil
    }
}
