/// Reassembles fragmented IPv4 datagrams (RFC 791), the way the receiving host would, so a TCP
/// segment split by a small-MTU hop is still seen. Pure logic over captured bytes.
///
/// Bounded: at most `maxDatagrams` incomplete datagrams of at most 65,535 bytes each; one that is
/// still incomplete `timeoutMicros` after its first fragment (capture time) is dropped and
/// counted. Overlapping fragments are accepted in arrival order (later bytes win), as most stacks
/// did before RFC 5722; a datagram whose pieces do not cover it stays pending.
public struct FragmentReassembler: Sendable {
    struct Key: Hashable, Sendable {
        var source: UInt32
        var destination: UInt32
        var identification: UInt16
        var proto: UInt8
    }

    struct Pending: Sendable {
        var firstSeen: Int64
        /// The first fragment's IP header (offset 0), once seen.
        var header: [UInt8]?
        var pieces: [(offset: Int, bytes: [UInt8])] = []
        /// Payload length, once the last fragment (MF clear) is seen.
        var total: Int?
    }

    private var pending: [Key: Pending] = [:]
    private let maxDatagrams: Int
    private let timeoutMicros: Int64
    /// Datagrams given up (timed out, evicted, or over 64 KiB).
    public private(set) var dropped = 0
    /// Datagrams reassembled.
    public private(set) var reassembled = 0

    public init(maxDatagrams: Int = 1024, timeoutMicros: Int64 = 30_000_000) {
        self.maxDatagrams = maxDatagrams
        self.timeoutMicros = timeoutMicros
    }

    public var pendingCount: Int { pending.count }

    /// Adds the IPv4 fragment starting at `offset` in `packet`; returns the whole datagram (an
    /// IPv4 packet with the fragment fields cleared) when this fragment completes it.
    public mutating func add(_ packet: UnsafeRawBufferPointer, at offset: Int, time: Int64) -> [UInt8]? {
        let b = packet
        guard b.count >= offset + 20 else { return nil }
        let headerLength = Int(b[offset] & 0x0f) * 4
        let totalLength = Int(PacketDecoder.be16(b, offset + 2))
        guard headerLength >= 20, totalLength >= headerLength, b.count >= offset + headerLength else { return nil }
        let end = min(b.count, offset + totalLength)
        let fragmentField = PacketDecoder.be16(b, offset + 6)
        let fragmentOffset = Int(fragmentField & 0x1fff) * 8
        let more = fragmentField & 0x2000 != 0
        let key = Key(
            source: PacketDecoder.be32(b, offset + 12), destination: PacketDecoder.be32(b, offset + 16),
            identification: PacketDecoder.be16(b, offset + 4), proto: b[offset + 9])
        let payload = [UInt8](UnsafeRawBufferPointer(rebasing: b[(offset + headerLength)..<max(offset + headerLength, end)]))
        guard fragmentOffset + payload.count <= 65_535 - 20 else {
            if pending.removeValue(forKey: key) != nil { dropped += 1 }
            return nil
        }
        expire(now: time)
        var entry = pending[key] ?? Pending(firstSeen: time)
        if pending[key] == nil && pending.count >= maxDatagrams, let oldest = pending.min(by: { $0.value.firstSeen < $1.value.firstSeen })?.key {
            pending.removeValue(forKey: oldest)
            dropped += 1
        }
        if fragmentOffset == 0 { entry.header = [UInt8](UnsafeRawBufferPointer(rebasing: b[offset..<(offset + headerLength)])) }
        if !more { entry.total = fragmentOffset + payload.count }
        entry.pieces.append((fragmentOffset, payload))
        guard let header = entry.header, let total = entry.total, Self.covers(entry.pieces, total) else {
            pending[key] = entry
            return nil
        }
        pending.removeValue(forKey: key)
        reassembled += 1
        var datagram = header + [UInt8](repeating: 0, count: total)
        for piece in entry.pieces {
            let room = min(piece.bytes.count, total - piece.offset)
            guard room > 0 else { continue }
            datagram.replaceSubrange((header.count + piece.offset)..<(header.count + piece.offset + room), with: piece.bytes[0..<room])
        }
        let length = UInt16(clamping: datagram.count)
        datagram[2] = UInt8(length >> 8)
        datagram[3] = UInt8(length & 0xff)
        datagram[6] = 0
        datagram[7] = 0
        return datagram
    }

    static func covers(_ pieces: [(offset: Int, bytes: [UInt8])], _ total: Int) -> Bool {
        var reached = 0
        for p in pieces.sorted(by: { $0.offset < $1.offset }) {
            if p.offset > reached { return false }
            reached = max(reached, p.offset + p.bytes.count)
            if reached >= total { return true }
        }
        return reached >= total
    }

    private mutating func expire(now: Int64) {
        guard !pending.isEmpty else { return }
        let before = pending.count
        pending = pending.filter { now - $0.value.firstSeen <= timeoutMicros }
        dropped += before - pending.count
    }
}
