/// Which selected client requests are the last of their recorded connection: one bit per selected
/// request, in file order (1 MiB per 8 million requests), so a replayed connection can close (and
/// free its `--concurrency` slot) right after its last request without a per-connection table.
public struct ConnectionEnds: Sendable, Equatable {
    private var words: [UInt64] = []
    /// Selected requests described.
    public private(set) var count = 0
    /// Requests marked last (one per connection, plus one per eviction, see `ConnectionEndsBuilder`).
    public private(set) var lastCount = 0

    public init() {}

    /// Whether the `index`-th selected request (0-based) is its connection's last; false past the end.
    public func isLast(_ index: Int) -> Bool {
        guard index >= 0, index < count else { return false }
        return words[index >> 6] & (1 << UInt64(index & 63)) != 0
    }

    mutating func appendLast() {
        if count & 63 == 0 { words.append(0) }
        words[count >> 6] |= 1 << UInt64(count & 63)
        count += 1
        lastCount += 1
    }

    mutating func clearLast(_ index: Int) {
        let bit: UInt64 = 1 << UInt64(index & 63)
        guard words[index >> 6] & bit != 0 else { return }
        words[index >> 6] &= ~bit
        lastCount -= 1
    }
}

/// Builds `ConnectionEnds` in one streaming pass. It remembers where each connection was last
/// seen, for at most `maxTracked` connections: past that, the half seen longest ago is forgotten
/// (their last-seen request stays marked last). A forgotten connection that comes back after such
/// a long silence is replayed on a new connection from there on; `evicted` counts the forgotten.
public struct ConnectionEndsBuilder {
    public private(set) var ends = ConnectionEnds()
    private var lastSeen: [UInt64: Int] = [:]
    public let maxTracked: Int
    public private(set) var evicted = 0

    public init(maxTracked: Int = 500_000) {
        self.maxTracked = max(2, maxTracked)
    }

    /// The next selected request, on recorded connection `connection`.
    public mutating func add(connection: UInt64) {
        let index = ends.count
        ends.appendLast()
        if let previous = lastSeen.updateValue(index, forKey: connection) {
            ends.clearLast(previous)
        } else if lastSeen.count > maxTracked {
            let cutoff = lastSeen.values.sorted()[lastSeen.count / 2]
            let before = lastSeen.count
            lastSeen = lastSeen.filter { $0.value >= cutoff }
            evicted += before - lastSeen.count
        }
    }

    /// Connections currently remembered.
    public var tracked: Int { lastSeen.count }
}
