/// A fixed-size log-linear latency histogram (microseconds, ~3% bucket width): bounded memory,
/// mergeable across shards, percentiles without keeping samples.
public struct LatencyHistogram: Sendable, Equatable, Codable {
    static let bucketCount = 1_400
    public private(set) var counts: [Int]
    public private(set) var total: Int = 0
    public private(set) var maxMicros: Int64 = 0

    public init() { counts = [Int](repeating: 0, count: Self.bucketCount) }

    static func index(_ v: Int64) -> Int {
        let v = UInt64(max(v, 0))
        if v < 64 { return Int(v) }
        let msb = 63 - v.leadingZeroBitCount
        let shift = msb - 5
        return min(shift * 32 + Int(v >> UInt64(shift)), bucketCount - 1)
    }

    static func lowerBound(_ i: Int) -> Int64 {
        if i < 64 { return Int64(i) }
        let shift = i / 32 - 1
        return Int64(i - shift * 32) << Int64(shift)
    }

    public mutating func add(_ micros: Int64) {
        counts[Self.index(micros)] += 1
        total += 1
        maxMicros = max(maxMicros, micros)
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for i in 0..<min(counts.count, other.counts.count) { counts[i] += other.counts[i] }
        total += other.total
        maxMicros = max(maxMicros, other.maxMicros)
    }

    /// The value at quantile `q` (0...1), microseconds (bucket midpoint); 0 when empty.
    public func percentile(_ q: Double) -> Int64 {
        guard total > 0 else { return 0 }
        let rank = max(1, Int((q * Double(total)).rounded(.up)))
        var seen = 0
        for (i, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= rank {
                let lo = Self.lowerBound(i), hi = Self.lowerBound(i + 1)
                return min((lo + hi) / 2, maxMicros)
            }
        }
        return maxMicros
    }

    /// Summary for reports; `buckets` is sparse `[[index, count], ...]` so reports merge exactly.
    public var stats: LatencyStats {
        LatencyStats(
            count: total, p50Micros: percentile(0.5), p90Micros: percentile(0.9), p99Micros: percentile(0.99),
            maxMicros: maxMicros, buckets: counts.enumerated().filter { $0.element > 0 }.map { [$0.offset, $0.element] })
    }

    init(stats: LatencyStats) {
        self.init()
        for pair in stats.buckets where pair.count == 2 && pair[0] >= 0 && pair[0] < Self.bucketCount {
            counts[pair[0]] += pair[1]
            total += pair[1]
        }
        maxMicros = stats.maxMicros
    }
}

/// Latency percentiles of one side, in microseconds.
public struct LatencyStats: Sendable, Equatable, Codable {
    public var count: Int
    public var p50Micros: Int64
    public var p90Micros: Int64
    public var p99Micros: Int64
    public var maxMicros: Int64
    public var buckets: [[Int]]

    enum CodingKeys: String, CodingKey {
        case count, buckets
        case p50Micros = "p50_us", p90Micros = "p90_us", p99Micros = "p99_us", maxMicros = "max_us"
    }
}

/// Original vs replayed latency.
public struct LatencyComparison: Sendable, Equatable, Codable {
    public var original: LatencyStats
    public var replayed: LatencyStats
    /// (replayed p99 - original p99) / original p99, percent; nil without data.
    public var p99RegressionPercent: Double? {
        guard original.count > 0, replayed.count > 0, original.p99Micros > 0 else { return nil }
        return Double(replayed.p99Micros - original.p99Micros) * 100 / Double(original.p99Micros)
    }
}
