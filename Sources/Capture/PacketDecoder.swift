/// The link-layer types capture understands (libpcap `DLT_*` values, as `pcap_datalink` returns them).
public enum LinkType: Sendable, Equatable {
    case null
    case ethernet
    case raw
    case ipv4
    case ipv6
    case loop
    case linuxSLL
    case linuxSLL2

    /// Maps a libpcap data link type; nil when capture cannot decode it.
    public init?(dlt: Int32) {
        switch dlt {
        case 0: self = .null
        case 1: self = .ethernet
        case 12, 14, 101: self = .raw
        case 108: self = .loop
        case 113: self = .linuxSLL
        case 228: self = .ipv4
        case 229: self = .ipv6
        case 276: self = .linuxSLL2
        default: return nil
        }
    }
}

/// One decoded TCP segment: addresses, ports, sequence space and where its payload lies.
///
/// `payloadOffset`/`payloadCount` index the captured packet bytes; `missingBytes` counts payload
/// bytes that were on the wire but cut by the capture's snaplen.
public struct TCPSegment: Sendable, Equatable {
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequence: UInt32
    public var acknowledgment: UInt32
    public var flags: UInt8
    public var window: UInt16
    public var payloadOffset: Int
    public var payloadCount: Int
    public var missingBytes: Int

    public static let fin: UInt8 = 0x01
    public static let syn: UInt8 = 0x02
    public static let rst: UInt8 = 0x04
    public static let psh: UInt8 = 0x08
    public static let ack: UInt8 = 0x10

    public var isSYN: Bool { flags & Self.syn != 0 }
    public var isFIN: Bool { flags & Self.fin != 0 }
    public var isRST: Bool { flags & Self.rst != 0 }
    public var hasACK: Bool { flags & Self.ack != 0 }
}

/// What a packet turned out to be.
public enum DecodedPacket: Sendable, Equatable {
    case tcp(TCPSegment)
    /// Not TCP over IP (ARP, UDP, ICMP, ...): skipped.
    case other
    /// An IP fragment (IPv4 MF/offset or an IPv6 fragment header). The capture engine reassembles
    /// IPv4 datagrams (`FragmentReassembler`); IPv6 fragments are counted.
    case fragment
    /// Too short or inconsistent headers.
    case malformed(String)
}

/// Decodes link, IP and TCP headers of one captured packet without copying it.
///
/// Pure functions over the captured bytes, tested directly. Byte order is explicit everywhere; a
/// short or inconsistent header gives `.malformed`, never a trap.
public enum PacketDecoder {
    /// Where the network layer starts, past the link header.
    public enum LinkLayer: Sendable, Equatable {
        case ip(etherType: UInt16, offset: Int)
        case other
        case malformed(String)
    }

    /// Decodes `bytes` (the captured part) of a packet that was `wireLength` bytes on the wire.
    public static func decode(_ bytes: UnsafeRawBufferPointer, linkType: LinkType, wireLength: Int) -> DecodedPacket {
        switch linkLayer(bytes, linkType: linkType) {
        case .other: return .other
        case .malformed(let why): return .malformed(why)
        case .ip(let etherType, let offset):
            let lost = max(0, wireLength - bytes.count)
            return etherType == 0x0800 ? decodeIPv4(bytes, at: offset, lost: lost) : decodeIPv6(bytes, at: offset, lost: lost)
        }
    }

    /// The link header: which IP version follows, and where.
    public static func linkLayer(_ bytes: UnsafeRawBufferPointer, linkType: LinkType) -> LinkLayer {
        let n = bytes.count
        var offset = 0
        var etherType: UInt16 = 0
        switch linkType {
        case .ethernet:
            guard n >= 14 else { return .malformed("short Ethernet header") }
            etherType = be16(bytes, 12)
            offset = 14
            while etherType == 0x8100 || etherType == 0x88a8 || etherType == 0x9100 {
                guard n >= offset + 4 else { return .malformed("short VLAN tag") }
                etherType = be16(bytes, offset + 2)
                offset += 4
            }
        case .linuxSLL:
            guard n >= 16 else { return .malformed("short Linux cooked (SLL) header") }
            etherType = be16(bytes, 14)
            offset = 16
        case .linuxSLL2:
            guard n >= 20 else { return .malformed("short Linux cooked (SLL2) header") }
            etherType = be16(bytes, 0)
            offset = 20
        case .null, .loop:
            guard n >= 4 else { return .malformed("short loopback header") }
            let raw = bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
            // NULL is in the capturing host's byte order, LOOP in network order: accept both.
            let family = linkType == .loop ? UInt32(bigEndian: raw) : familyValue(raw)
            switch family {
            case 2: etherType = 0x0800
            case 10, 24, 28, 30: etherType = 0x86dd
            default: return .other
            }
            offset = 4
        case .raw:
            guard n >= 1 else { return .malformed("empty packet") }
            etherType = bytes[0] >> 4 == 6 ? 0x86dd : 0x0800
        case .ipv4: etherType = 0x0800
        case .ipv6: etherType = 0x86dd
        }
        guard etherType == 0x0800 || etherType == 0x86dd else { return .other }
        return .ip(etherType: etherType, offset: offset)
    }

    private static func familyValue(_ raw: UInt32) -> UInt32 {
        let little = UInt32(littleEndian: raw)
        if little < 256 { return little }
        return UInt32(bigEndian: raw)
    }

    @inline(__always)
    static func be16(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt16 {
        UInt16(bigEndian: b.loadUnaligned(fromByteOffset: at, as: UInt16.self))
    }

    @inline(__always)
    static func be32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(bigEndian: b.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }

    static func decodeIPv4(_ b: UnsafeRawBufferPointer, at start: Int, lost: Int) -> DecodedPacket {
        guard b.count >= start + 20 else { return .malformed("short IPv4 header") }
        let vihl = b[start]
        guard vihl >> 4 == 4 else { return .malformed("IPv4 version field is \(vihl >> 4)") }
        let headerLength = Int(vihl & 0x0f) * 4
        guard headerLength >= 20, b.count >= start + headerLength else { return .malformed("bad IPv4 header length") }
        let totalLength = Int(be16(b, start + 2))
        guard totalLength >= headerLength else { return .malformed("IPv4 total length below header length") }
        let fragment = be16(b, start + 6)
        if fragment & 0x2000 != 0 || fragment & 0x1fff != 0 { return .fragment }
        guard b[start + 9] == 6 else { return .other }
        let source = IPAddress(v4: be32(b, start + 12))
        let destination = IPAddress(v4: be32(b, start + 16))
        // TSO-coalesced loopback packets can carry total length 0: take what was captured.
        let ipEnd = totalLength == 0 ? b.count + lost : start + totalLength
        return decodeTCP(b, at: start + headerLength, ipEnd: ipEnd, source: source, destination: destination)
    }

    static func decodeIPv6(_ b: UnsafeRawBufferPointer, at start: Int, lost: Int) -> DecodedPacket {
        guard b.count >= start + 40 else { return .malformed("short IPv6 header") }
        guard b[start] >> 4 == 6 else { return .malformed("IPv6 version field is \(b[start] >> 4)") }
        let payloadLength = Int(be16(b, start + 4))
        var next = b[start + 6]
        let source = IPAddress(hi: UInt64(bigEndian: b.loadUnaligned(fromByteOffset: start + 8, as: UInt64.self)),
                               lo: UInt64(bigEndian: b.loadUnaligned(fromByteOffset: start + 16, as: UInt64.self)))
        let destination = IPAddress(hi: UInt64(bigEndian: b.loadUnaligned(fromByteOffset: start + 24, as: UInt64.self)),
                                    lo: UInt64(bigEndian: b.loadUnaligned(fromByteOffset: start + 32, as: UInt64.self)))
        let ipEnd = payloadLength == 0 ? b.count + lost : start + 40 + payloadLength
        var offset = start + 40
        var hops = 0
        while next != 6 {
            hops += 1
            guard hops < 16 else { return .malformed("too many IPv6 extension headers") }
            switch next {
            case 0, 43, 60, 135, 139, 140:
                guard b.count >= offset + 2 else { return .malformed("short IPv6 extension header") }
                next = b[offset]
                offset += (Int(b[offset + 1]) + 1) * 8
            case 51:
                guard b.count >= offset + 2 else { return .malformed("short IPv6 AH header") }
                next = b[offset]
                offset += (Int(b[offset + 1]) + 2) * 4
            case 44:
                guard b.count >= offset + 8 else { return .malformed("short IPv6 fragment header") }
                let fragment = be16(b, offset + 2)
                if fragment & 0xfff9 != 0 { return .fragment }
                next = b[offset]
                offset += 8
            default:
                return .other
            }
        }
        return decodeTCP(b, at: offset, ipEnd: ipEnd, source: source, destination: destination)
    }

    static func decodeTCP(
        _ b: UnsafeRawBufferPointer, at start: Int, ipEnd: Int, source: IPAddress, destination: IPAddress
    ) -> DecodedPacket {
        guard b.count >= start + 20, ipEnd >= start + 20 else { return .malformed("short TCP header") }
        let dataOffset = Int(b[start + 12] >> 4) * 4
        guard dataOffset >= 20, ipEnd >= start + dataOffset else { return .malformed("bad TCP data offset") }
        let payloadStart = start + dataOffset
        let wirePayload = ipEnd - payloadStart
        let captured = max(0, min(b.count, ipEnd) - payloadStart)
        return .tcp(TCPSegment(
            source: source, destination: destination,
            sourcePort: be16(b, start), destinationPort: be16(b, start + 2),
            sequence: be32(b, start + 4), acknowledgment: be32(b, start + 8),
            flags: b[start + 13], window: be16(b, start + 14),
            payloadOffset: payloadStart, payloadCount: captured, missingBytes: max(0, wirePayload - captured)))
    }
}
