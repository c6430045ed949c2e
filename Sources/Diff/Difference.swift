/// One difference found in one exchange pair: its category, a signature that groups it with the
/// same difference elsewhere, and the values on each side (for examples).
///
/// Signatures carry no exchange-specific values (ids are collapsed to `{id}`), so the same
/// regression on a thousand exchanges lands in one group.
public struct Difference: Sendable, Equatable, Codable {
    public var category: DiffCategory
    /// e.g. `Location origin http://10.0.0.5:8080 leaked`, `header X-Frame-Options removed`.
    public var signature: String
    /// The value on the original side (nil: absent).
    public var original: String?
    /// The value on the replayed side (nil: absent).
    public var replayed: String?

    public init(_ category: DiffCategory, _ signature: String, original: String? = nil, replayed: String? = nil) {
        self.category = category
        self.signature = signature
        self.original = original
        self.replayed = replayed
    }
}

/// The CONTRACT's difference categories.
public enum DiffCategory: String, Sendable, Codable, CaseIterable, Comparable {
    case status
    case location
    case header
    case body
    case backendRequest = "backend_request"
    case backendUnmatched = "backend_unmatched"
    case backendMissing = "backend_missing"
    case error

    /// Bit for category sets.
    var bit: UInt16 { UInt16(1) << UInt16(DiffCategory.allCases.firstIndex(of: self) ?? 0) }

    public static func < (a: DiffCategory, b: DiffCategory) -> Bool {
        (allCases.firstIndex(of: a) ?? 0) < (allCases.firstIndex(of: b) ?? 0)
    }

    /// The categories in a bit set.
    static func set(_ bits: UInt16) -> [DiffCategory] { allCases.filter { bits & $0.bit != 0 } }
}
