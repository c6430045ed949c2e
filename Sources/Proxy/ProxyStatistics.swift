internal import Synchronization

/// Counters of a running proxy, read at any time from any thread.
public struct ProxyStatistics: Sendable, Equatable, CustomStringConvertible {
    /// Client requests whose head was read (including ones answered by the proxy itself).
    public var requests: Int
    /// Exchanges handed to the recording queue (front and back legs).
    public var recorded: Int
    /// Exchanges left out of the recording because the queue was full.
    public var leftOut: Int
    /// Upstream failures: refused, reset, timeouts, TLS failures, no member available.
    public var upstreamErrors: Int
    /// Requests answered with 4xx by the proxy itself (bad framing, limits, timeouts).
    public var clientErrors: Int
    /// Client connections open now.
    public var activeConnections: Int
    /// Client connections accepted so far.
    public var connections: Int
    /// Client connections closed at once because `maxConnections` was reached.
    public var connectionsRejected: Int

    public var description: String {
        "requests=\(requests) recorded=\(recorded) left_out=\(leftOut) upstream_errors=\(upstreamErrors) "
            + "client_errors=\(clientErrors) connections=\(activeConnections)"
    }
}

/// The atomic counters behind `ProxyStatistics`.
final class ProxyCounters: Sendable {
    let requests = Atomic<Int>(0)
    let recorded = Atomic<Int>(0)
    let leftOut = Atomic<Int>(0)
    let upstreamErrors = Atomic<Int>(0)
    let clientErrors = Atomic<Int>(0)
    let activeConnections = Atomic<Int>(0)
    let connections = Atomic<Int>(0)
    let connectionsRejected = Atomic<Int>(0)
    /// Exchange and connection ids, unique within one log.
    let nextExchangeID = Atomic<UInt64>(1)
    let nextConnectionID = Atomic<UInt64>(1)

    func exchangeID() -> UInt64 { nextExchangeID.wrappingAdd(1, ordering: .relaxed).oldValue }
    func connectionID() -> UInt64 { nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue }

    var snapshot: ProxyStatistics {
        ProxyStatistics(
            requests: requests.load(ordering: .relaxed), recorded: recorded.load(ordering: .relaxed),
            leftOut: leftOut.load(ordering: .relaxed), upstreamErrors: upstreamErrors.load(ordering: .relaxed),
            clientErrors: clientErrors.load(ordering: .relaxed),
            activeConnections: activeConnections.load(ordering: .relaxed),
            connections: connections.load(ordering: .relaxed),
            connectionsRejected: connectionsRejected.load(ordering: .relaxed))
    }
}
