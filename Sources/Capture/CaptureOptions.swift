/// What capture keeps and how long it waits: legs, bounds and timeouts.
public struct CaptureOptions: Sendable {
    /// Server ports of the client-facing leg.
    public var frontPorts: Set<UInt16>
    /// Server ports of the proxy-to-backend leg.
    public var backPorts: Set<UInt16>
    /// Body bytes kept per message; the rest is counted and digested.
    public var maxBody: Int
    /// Bytes one direction of a connection may buffer (an unfinished head, out-of-order segments).
    public var maxConnectionBuffer: Int
    /// Connections tracked at once; past it the least recently active are evicted.
    public var maxConnections: Int
    /// A connection silent this long (packet time, microseconds) is closed.
    public var idleTimeoutMicros: Int64
    /// A half-closed connection silent this long is closed.
    public var halfClosedTimeoutMicros: Int64

    public init(
        frontPorts: Set<UInt16> = [], backPorts: Set<UInt16> = [], maxBody: Int = 1 << 20,
        maxConnectionBuffer: Int = 4 << 20, maxConnections: Int = 100_000,
        idleTimeoutMicros: Int64 = 300_000_000, halfClosedTimeoutMicros: Int64 = 60_000_000
    ) {
        self.frontPorts = frontPorts
        self.backPorts = backPorts
        self.maxBody = maxBody
        self.maxConnectionBuffer = maxConnectionBuffer
        self.maxConnections = maxConnections
        self.idleTimeoutMicros = idleTimeoutMicros
        self.halfClosedTimeoutMicros = halfClosedTimeoutMicros
    }
}

/// Totals of one capture run, printed at the end and stored in the log header.
public struct CaptureSummary: Sendable, Equatable {
    public var packets: UInt64 = 0
    public var tcpPackets: UInt64 = 0
    public var nonTCPPackets: UInt64 = 0
    public var malformedPackets: UInt64 = 0
    public var fragments: UInt64 = 0
    /// IPv4 datagrams rebuilt from fragments.
    public var reassembledDatagrams: UInt64 = 0
    public var snaplenTruncatedPackets: UInt64 = 0
    public var connections: UInt64 = 0
    public var midStreamConnections: UInt64 = 0
    /// Connections whose bytes were not HTTP (TLS, other protocols): tracked, not recorded.
    public var nonHTTPConnections: UInt64 = 0
    public var exchanges: UInt64 = 0
    public var completeExchanges: UInt64 = 0
    public var incompleteExchanges: UInt64 = 0
    public var gaps: UInt64 = 0
    public var gapBytes: UInt64 = 0
    public var duplicateBytes: UInt64 = 0
    public var truncatedBodies: UInt64 = 0
    public var parseErrors: UInt64 = 0
    public var orphanResponses: UInt64 = 0
    public var evictions: UInt64 = 0
    public var timeouts: UInt64 = 0
    public var bufferOverflows: UInt64 = 0
    public var linkedBackExchanges: UInt64 = 0
    public init() {}

    /// One paragraph for stderr.
    public var paragraph: String {
        "capture: \(packets) packets (\(tcpPackets) TCP, \(nonTCPPackets) other, \(fragments) IP fragments "
            + "(\(reassembledDatagrams) datagrams reassembled), "
            + "\(malformedPackets) malformed, \(snaplenTruncatedPackets) cut by snaplen), \(connections) connections "
            + "(\(midStreamConnections) joined mid-stream, \(nonHTTPConnections) not HTTP), \(exchanges) exchanges (\(completeExchanges) complete, "
            + "\(incompleteExchanges) incomplete, \(linkedBackExchanges) back exchanges linked), \(gaps) gaps "
            + "(\(gapBytes) bytes), \(duplicateBytes) retransmitted bytes, \(truncatedBodies) truncated bodies, "
            + "\(parseErrors) parse errors, \(orphanResponses) responses without a request, \(evictions) evictions, "
            + "\(timeouts) timeouts."
    }

    /// Key/value pairs for the log header.
    public var metadata: [(String, String)] {
        [
            ("capture_packets", "\(packets)"), ("capture_connections", "\(connections)"),
            ("capture_exchanges", "\(exchanges)"), ("capture_incomplete", "\(incompleteExchanges)"),
            ("capture_gaps", "\(gaps)"), ("capture_gap_bytes", "\(gapBytes)"),
            ("capture_truncated_bodies", "\(truncatedBodies)"), ("capture_evictions", "\(evictions)"),
        ]
    }
}
