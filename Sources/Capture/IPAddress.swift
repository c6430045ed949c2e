/// An IPv4 or IPv6 address held in 128 bits, cheap to hash and compare.
///
/// IPv4 addresses are stored v4-mapped (`::ffff:a.b.c.d`), so one flow key type serves both
/// families. `description` prints dotted quads for IPv4 and RFC 5952 text for IPv6.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var hi: UInt64
    public var lo: UInt64

    public init(hi: UInt64, lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }

    /// An IPv4 address from its 32-bit value in host order (`0x7f000001` is 127.0.0.1).
    public init(v4: UInt32) {
        hi = 0
        lo = 0xffff_0000_0000 | UInt64(v4)
    }

    public var isV4: Bool { hi == 0 && (lo >> 32) == 0xffff }

    public static func < (a: IPAddress, b: IPAddress) -> Bool { a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo }

    public var description: String {
        if isV4 {
            let v = UInt32(truncatingIfNeeded: lo)
            return "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
        }
        var groups = [UInt16](repeating: 0, count: 8)
        for i in 0..<4 {
            groups[i] = UInt16(truncatingIfNeeded: hi >> (48 - 16 * UInt64(i)))
            groups[i + 4] = UInt16(truncatingIfNeeded: lo >> (48 - 16 * UInt64(i)))
        }
        // RFC 5952: the longest run (>= 2) of zero groups becomes "::", the first one on a tie.
        var bestStart = -1
        var bestLength = 0
        var i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLength && j - i >= 2 {
                    bestStart = i
                    bestLength = j - i
                }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}
