public import HarnessCore

/// The 4-tuple of a connection, ordered so both directions give the same key.
struct FlowKey: Hashable {
    var a: IPAddress
    var b: IPAddress
    var aPort: UInt16
    var bPort: UInt16

    init(_ s: TCPSegment) {
        if (s.source, s.sourcePort) < (s.destination, s.destinationPort) {
            a = s.source; aPort = s.sourcePort; b = s.destination; bPort = s.destinationPort
        } else {
            a = s.destination; aPort = s.destinationPort; b = s.source; bPort = s.sourcePort
        }
    }
}

/// Turns captured packets into exchanges: decoding, the connection table, pairing, legs, links.
///
/// Feed packets in capture order with `process`; call `finish` at the end. Exchanges go to `sink`
/// (after `transform`, e.g. redaction) in a deterministic order: the order they end in, which
/// depends only on the packets. Connection ids count from 1 in order of first sight; exchange ids
/// count from 1 in order of request start. Memory follows open connections: idle ones time out
/// and, past `maxConnections`, the least recently active are evicted (counted in `summary`).
/// Without a transform, exchanges reach the sink in batches (`ExchangeSink.append(batch:)`) of up
/// to 256 or 100 ms of packet time; `handOver()` (when the capture is idle) and `finish()` hand on
/// the rest. Not thread-safe: one engine per capture loop.
public final class CaptureEngine {
    public let options: CaptureOptions
    public private(set) var summary = CaptureSummary()
    private let sink: any ExchangeSink
    private let transform: ((inout Exchange) -> Void)?
    private var table: [FlowKey: TCPConnection] = [:]
    /// Connections recently looked up, by a cheap hash of their key (direct-mapped): most packets
    /// are answered here without hashing the key for the table. Kept in step with `table` by
    /// `connection(for:)`, `insert` and `remove`.
    private var recent = [RecentFlow?](repeating: nil, count: CaptureEngine.recentSlots)
    private struct RecentFlow {
        var key: FlowKey
        /// Not counted: `table` holds the connection, and `remove` clears the slot with the entry.
        var connection: Unmanaged<TCPConnection>
    }
    static let recentSlots = 256
    private var linker = BackLinker()
    private var reassembler = FragmentReassembler()
    private var nextConnectionID: UInt64 = 1
    private var nextExchangeID: UInt64 = 1
    private var outbox: [ExchangeParts] = []
    /// Packet time of the oldest exchange in the outbox.
    private var outboxSince: Int64 = 0
    /// Without a transform, finished exchanges are handed on in batches of this many (or older
    /// than `handOverMicros` of packet time, or on `handOver()`), built on the sink's side.
    static let handOverCount = 256
    static let handOverMicros: Int64 = 100_000
    private var now: Int64 = 0
    private var nextSweep: Int64 = 0

    public init(options: CaptureOptions, sink: any ExchangeSink, transform: ((inout Exchange) -> Void)? = nil) {
        self.options = options
        self.sink = sink
        self.transform = transform
    }

    /// Connections currently tracked.
    public var openConnections: Int { table.count }

    /// Processes one captured packet (`bytes` is the captured part of `wireLength` bytes).
    public func process(_ bytes: UnsafeRawBufferPointer, linkType: LinkType, wireLength: Int, timestamp: Int64) throws {
        summary.packets += 1
        if timestamp > now { now = timestamp }
        switch PacketDecoder.decode(bytes, linkType: linkType, wireLength: wireLength) {
        case .tcp(let s):
            summary.tcpPackets += 1
            if s.missingBytes > 0 { summary.snaplenTruncatedPackets += 1 }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[s.payloadOffset..<(s.payloadOffset + s.payloadCount)])
            segment(s, payload: payload, time: timestamp)
        case .other: summary.nonTCPPackets += 1
        case .fragment:
            summary.fragments += 1
            if case .ip(0x0800, let offset) = PacketDecoder.linkLayer(bytes, linkType: linkType),
                let datagram = reassembler.add(bytes, at: offset, time: timestamp)
            {
                summary.reassembledDatagrams += 1
                datagram.withUnsafeBytes { d in
                    guard case .tcp(let s) = PacketDecoder.decode(d, linkType: .ipv4, wireLength: d.count) else { return }
                    summary.tcpPackets += 1
                    segment(s, payload: UnsafeRawBufferPointer(rebasing: d[s.payloadOffset..<(s.payloadOffset + s.payloadCount)]), time: timestamp)
                }
            }
        case .malformed: summary.malformedPackets += 1
        }
        if now >= nextSweep {
            sweep()
            nextSweep = now + 1_000_000
        }
        try drain()
    }

    /// Ends every open connection (in connection-id order) and hands on what is left.
    public func finish() throws {
        let open = table.values.sorted { $0.id < $1.id }
        table.removeAll()
        for i in recent.indices { recent[i] = nil }
        for c in open { close(c) }
        try drain(force: true)
    }

    /// Hands every finished exchange on to the sink now (the capture loop calls it when idle).
    public func handOver() throws { try drain(force: true) }

    private func drain(force: Bool = false) throws {
        guard !outbox.isEmpty else { return }
        if let transform {
            // Transformed (redacted) exchanges are built here, one by one, as they finish.
            let batch = outbox
            outbox.removeAll(keepingCapacity: true)
            for item in batch {
                var e = item.build()
                transform(&e)
                try sink.append(e)
            }
            return
        }
        guard force || outbox.count >= Self.handOverCount || now - outboxSince >= Self.handOverMicros else { return }
        let batch = FinishedBatch(records: outbox)
        outbox = []
        outbox.reserveCapacity(Self.handOverCount)
        try sink.append(batch: batch)
    }

    private func finished(_ item: consuming ExchangeParts) {
        if outbox.isEmpty { outboxSince = now }
        outbox.append(item)
    }

    private func segment(_ s: TCPSegment, payload: UnsafeRawBufferPointer, time: Int64) {
        let key = FlowKey(s)
        // Most packets belong to a connection just seen and go on it, borrowed from the recent
        // slot (taking a reference was a retain and a release per packet).
        if !s.isSYN, let r = recent[Self.recentSlot(key)], r.key == key {
            let ended = r.connection._withUnsafeGuaranteedRef { c in
                c.handle(s, payload: payload, time: time)
                return c.ended
            }
            if ended {
                let c = r.connection.takeUnretainedValue()
                remove(key)
                close(c)
            }
            return
        }
        var connection = connection(for: key)
        if let c = connection, s.isSYN && !s.hasACK, c.ended || (c.sawSYN && c.synSequence != s.sequence) {
            // The 4-tuple is reused by a new connection.
            remove(key)
            close(c)
            connection = nil
        }
        if connection == nil {
            // A pure ACK or RST of a connection we never saw carries nothing worth a table entry.
            guard s.isSYN || !payload.isEmpty || s.missingBytes > 0 else { return }
            let c = open(s, payload: payload, time: time)
            insert(c, for: key)
            connection = c
            if table.count > options.maxConnections { evict() }
        }
        guard let c = connection else { return }
        c.handle(s, payload: payload, time: time)
        if c.ended {
            remove(key)
            close(c)
        }
    }

    @inline(__always)
    private static func recentSlot(_ k: FlowKey) -> Int {
        let x = k.a.lo ^ k.a.hi ^ (k.b.lo &* 0x9E37_79B9_7F4A_7C15) ^ k.b.hi ^ (UInt64(k.aPort) << 16 | UInt64(k.bPort))
        return Int(truncatingIfNeeded: (x &* 0xFF51_AFD7_ED55_8CCD) >> 56)
    }

    private func connection(for key: FlowKey) -> TCPConnection? {
        let slot = Self.recentSlot(key)
        if let r = recent[slot], r.key == key { return r.connection.takeUnretainedValue() }
        guard let c = table[key] else { return nil }
        recent[slot] = RecentFlow(key: key, connection: Unmanaged.passUnretained(c))
        return c
    }

    private func insert(_ c: TCPConnection, for key: FlowKey) {
        table[key] = c
        recent[Self.recentSlot(key)] = RecentFlow(key: key, connection: Unmanaged.passUnretained(c))
    }

    private func remove(_ key: FlowKey) {
        table.removeValue(forKey: key)
        let slot = Self.recentSlot(key)
        if recent[slot]?.key == key { recent[slot] = nil }
    }

    private func open(_ s: TCPSegment, payload: UnsafeRawBufferPointer, time: Int64) -> TCPConnection {
        let src = (s.source, s.sourcePort)
        let dst = (s.destination, s.destinationPort)
        let srcIsClient: Bool
        if s.isSYN {
            srcIsClient = !s.hasACK
        } else if isServerPort(s.destinationPort) != isServerPort(s.sourcePort) {
            srcIsClient = isServerPort(s.destinationPort)
        } else if Self.startsLikeResponse(payload) {
            srcIsClient = false
        } else if Self.startsLikeRequest(payload) {
            srcIsClient = true
        } else {
            srcIsClient = s.destinationPort < s.sourcePort
        }
        let client = srcIsClient ? src : dst
        let server = srcIsClient ? dst : src
        let leg: Leg =
            options.frontPorts.contains(server.1) ? .front : options.backPorts.contains(server.1) ? .back : .direct
        let c = TCPConnection(
            id: nextConnectionID, client: client, server: server, leg: leg, options: options, time: time, delegate: self)
        nextConnectionID += 1
        summary.connections += 1
        return c
    }

    private func isServerPort(_ p: UInt16) -> Bool { options.frontPorts.contains(p) || options.backPorts.contains(p) }

    static func startsLikeResponse(_ p: UnsafeRawBufferPointer) -> Bool {
        p.count >= 5 && p[0] == 0x48 && p[1] == 0x54 && p[2] == 0x54 && p[3] == 0x50 && p[4] == 0x2f
    }

    static func startsLikeRequest(_ p: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i < p.count && i < 16 && p[i] >= 0x41 && p[i] <= 0x5a { i += 1 }
        return i >= 3 && i < p.count && p[i] == 0x20
    }

    private func close(_ c: TCPConnection) {
        c.end(time: max(c.lastSeen, 0))
        if c.joinedMidStream { summary.midStreamConnections += 1 }
        if c.notHTTP { summary.nonHTTPConnections += 1 }
        for s in [c.clientStream.counters, c.serverStream.counters] {
            summary.gaps += s.gaps
            summary.gapBytes += s.gapBytes
            summary.duplicateBytes += s.duplicateBytes
        }
    }

    /// Closes connections idle past their timeout, in connection-id order.
    private func sweep() {
        let idle = now - options.idleTimeoutMicros
        let half = now - options.halfClosedTimeoutMicros
        var expired: [(FlowKey, TCPConnection)] = []
        for (k, c) in table where c.lastSeen < idle || (c.halfClosed && c.lastSeen < half) { expired.append((k, c)) }
        guard !expired.isEmpty else { return }
        expired.sort { $0.1.id < $1.1.id }
        for (k, c) in expired {
            remove(k)
            summary.timeouts += 1
            close(c)
        }
    }

    /// Evicts the least recently active eighth of the table (at least one connection).
    private func evict() {
        let n = max(1, table.count / 8)
        let victims = table.sorted { ($0.value.lastSeen, $0.value.id) < ($1.value.lastSeen, $1.value.id) }.prefix(n)
        for (k, c) in victims {
            remove(k)
            summary.evictions += 1
            close(c)
        }
    }
}

extension CaptureEngine: ConnectionDelegate {
    func requestStarted(_ request: HTTPMessage, on connection: TCPConnection) -> (id: UInt64, link: Link?) {
        let id = nextExchangeID
        nextExchangeID += 1
        var link: Link?
        switch connection.leg {
        case .front:
            linker.frontStarted(id: id, start: request.startTime, serverHost: connection.serverAddress, target: request.target, headers: request.headers)
        case .back:
            link = linker.link(start: request.startTime, clientHost: connection.clientAddress, target: request.target, headers: request.headers)
        case .direct:
            break
        }
        return (id, link)
    }

    func exchangeFinished(_ parts: consuming ExchangeParts, on connection: TCPConnection) {
        if parts.leg == .front { linker.frontEnded(id: parts.id) }
        if parts.hasLink { summary.linkedBackExchanges += 1 }
        summary.exchanges += 1
        if parts.isComplete { summary.completeExchanges += 1 } else { summary.incompleteExchanges += 1 }
        if parts.hasTruncatedBody { summary.truncatedBodies += 1 }
        finished(parts)
    }

    func parseErrorSeen() { summary.parseErrors += 1 }
    func orphanResponse() { summary.orphanResponses += 1 }
}

/// The engine's outbox handed to a sink in one piece; the sink encodes or builds the exchanges
/// (the background log writer does it on its own thread).
struct FinishedBatch: ExchangeBatch {
    let records: [ExchangeParts]

    func writeRecord(_ index: Int, to w: inout ExchangeRecordWriter) {
        // Through the buffer pointer the record is borrowed where it lies (the array's subscript
        // copied it: a retain and a release of each of its references).
        records.withUnsafeBufferPointer { ExchangeParts.write(at: $0.baseAddress! + index, to: &w) }
    }
}
