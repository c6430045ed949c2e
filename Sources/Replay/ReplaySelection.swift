public import HarnessCore
import Foundation

/// Which recorded front exchanges a replay sends: path regex, methods, a sample of connections,
/// one shard of connections, and a limit. Sampling and sharding hash the connection id, so they
/// are deterministic (the same connections on every machine) and keep a connection whole.
public struct ReplaySelection: Sendable {
    public var matchPath: String?
    public var methods: Set<String>
    public var samplePercent: Double?
    public var shard: Shard?
    public var limit: Int?
    private let regex: NSRegularExpressionBox?

    public init(
        matchPath: String? = nil, methods: [String] = [], samplePercent: Double? = nil, shard: Shard? = nil,
        limit: Int? = nil
    ) throws {
        self.matchPath = matchPath
        self.methods = Set(methods.map { $0.uppercased() })
        self.samplePercent = samplePercent
        self.shard = shard
        self.limit = limit
        if let matchPath {
            do {
                regex = NSRegularExpressionBox(try NSRegularExpression(pattern: matchPath))
            } catch {
                throw HarnessError(.usage, "--match-path '\(matchPath)' is not a valid regular expression")
            }
        } else {
            regex = nil
        }
        if let samplePercent, !(0...100).contains(samplePercent) {
            throw HarnessError(.usage, "--sample \(samplePercent) is not a percentage between 0 and 100")
        }
        if let limit, limit < 0 { throw HarnessError(.usage, "--limit \(limit) is negative") }
    }

    public init(_ configuration: ReplayConfiguration) throws {
        try self.init(
            matchPath: configuration.matchPath, methods: configuration.methods,
            samplePercent: configuration.samplePercent, shard: configuration.shard, limit: configuration.limit)
    }

    /// True when the connection is in this replay's sample and shard.
    public func includesConnection(_ connectionID: UInt64) -> Bool {
        if let shard, shard.count > 1 {
            guard Int(Self.mix(connectionID ^ 0x5348_4152_4453_4544) % UInt64(shard.count)) == shard.index else {
                return false
            }
        }
        if let samplePercent {
            let bucket = Self.mix(connectionID ^ 0x5341_4D50_4C45_5321) % 10_000
            guard Double(bucket) < samplePercent * 100 else { return false }
        }
        return true
    }

    /// True when the exchange passes the per-exchange filters (path, method) and its connection
    /// is selected. The limit is applied by the caller, counting in file order.
    public func includes(_ exchange: Exchange) -> Bool {
        includes(method: exchange.request.method, path: { exchange.request.path }, connectionID: exchange.connection.id)
    }

    /// Whether any per-exchange filter (method, path) is set; without one, `includesConnection` decides.
    public var filtersExchanges: Bool { !methods.isEmpty || regex != nil }

    /// As `includes(_:)`, from the request's method, its path (computed only for a path filter)
    /// and its connection id.
    public func includes(method: String, path: () -> Substring, connectionID: UInt64) -> Bool {
        if !methods.isEmpty && !methods.contains(method.uppercased()) { return false }
        if let regex {
            let path = String(path())
            let range = NSRange(path.startIndex..., in: path)
            if regex.value.firstMatch(in: path, range: range) == nil { return false }
        }
        return includesConnection(connectionID)
    }

    /// SplitMix64's finaliser: a well-spread, stable 64-bit hash of an integer.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// NSRegularExpression is immutable and thread-safe once built.
struct NSRegularExpressionBox: @unchecked Sendable {
    let value: NSRegularExpression
    init(_ value: NSRegularExpression) { self.value = value }
}
