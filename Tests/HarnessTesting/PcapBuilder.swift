import Foundation

/// Writes small classic pcap files from hand-made TCP segments, for tests that need what loopback
/// rarely produces: reordering, retransmission, lost packets, mid-stream joins, odd link types.
public struct PcapBuilder {
    /// The link-layer framing written around each IP packet.
    public enum Link: Sendable {
        case ethernet
        case ethernetVLAN(UInt16)
        /// BSD loopback with the address family in little-endian host order (2, 24, 28 or 30).
        case null(family: UInt32)
        case loop
        case linuxSLL
        case linuxSLL2
        case raw

        public var linkType: UInt32 {
            switch self {
            case .ethernet, .ethernetVLAN: 1
            case .null: 0
            case .loop: 108
            case .linuxSLL: 113
            case .linuxSLL2: 276
            case .raw: 101
            }
        }
    }

    public let link: Link
    public let snaplen: Int
    public private(set) var bytes: [UInt8] = []
    public private(set) var packets = 0

    public init(link: Link = .ethernet, snaplen: Int = 262_144) {
        self.link = link
        self.snaplen = snaplen
        le32(0xa1b2_c3d4)
        le16(2)
        le16(4)
        le32(0)
        le32(0)
        le32(UInt32(snaplen))
        le32(link.linkType)
    }

    private mutating func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    private mutating func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }

    /// Appends one raw link-layer frame.
    public mutating func frame(_ data: [UInt8], timeMicros: Int64, wireLength: Int? = nil) {
        let cut = Array(data.prefix(snaplen))
        le32(UInt32(timeMicros / 1_000_000))
        le32(UInt32(timeMicros % 1_000_000))
        le32(UInt32(cut.count))
        le32(UInt32(wireLength ?? data.count))
        bytes.append(contentsOf: cut)
        packets += 1
    }

    /// Appends one TCP segment as a full frame (link header, IPv4 or IPv6, TCP).
    public mutating func segment(_ s: SyntheticSegment, timeMicros: Int64) {
        let ip = s.ipPacket()
        var f: [UInt8] = []
        let v6 = s.source.contains(":")
        let etherType: UInt16 = v6 ? 0x86dd : 0x0800
        switch link {
        case .ethernet, .ethernetVLAN:
            f += [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
            if case .ethernetVLAN(let id) = link { f += be16(0x8100) + be16(id) }
            f += be16(etherType)
        case .null(let family):
            let fam = v6 ? family : 2
            withUnsafeBytes(of: fam.littleEndian) { f += $0 }
        case .loop:
            f += be32(v6 ? 24 : 2)
        case .linuxSLL:
            f += be16(0) + be16(772) + be16(6) + [0, 0, 0, 0, 0, 0, 0, 0] + be16(etherType)
        case .linuxSLL2:
            f += be16(etherType) + be16(0) + be32(1) + be16(772) + [0, 6] + [0, 0, 0, 0, 0, 0, 0, 0]
        case .raw:
            break
        }
        frame(f + ip, timeMicros: timeMicros)
    }

    public func write(to path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }
}

func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

/// One TCP segment between two text addresses.
public struct SyntheticSegment: Sendable {
    public var source: String
    public var sourcePort: UInt16
    public var destination: String
    public var destinationPort: UInt16
    public var sequence: UInt32
    public var acknowledgment: UInt32
    public var flags: UInt8
    public var payload: [UInt8]
    /// IPv4 options bytes (multiple of 4) to test header-length handling.
    public var ipOptions: [UInt8] = []

    public static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04, psh: UInt8 = 0x08, ack: UInt8 = 0x10

    public init(
        source: String, sourcePort: UInt16, destination: String, destinationPort: UInt16, sequence: UInt32,
        acknowledgment: UInt32, flags: UInt8, payload: [UInt8] = []
    ) {
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
        self.sequence = sequence
        self.acknowledgment = acknowledgment
        self.flags = flags
        self.payload = payload
    }

    func tcpHeader() -> [UInt8] {
        be16(sourcePort) + be16(destinationPort) + be32(sequence) + be32(acknowledgment) + [0x50, flags]
            + be16(65535) + [0, 0, 0, 0]
    }

    /// The IP packet (checksums left zero: capture does not verify them).
    public func ipPacket() -> [UInt8] {
        let tcp = tcpHeader() + payload
        if source.contains(":") {
            return [0x60, 0, 0, 0] + be16(UInt16(tcp.count)) + [6, 64] + address6(source) + address6(destination) + tcp
        }
        let ihl = UInt8(5 + ipOptions.count / 4)
        let total = UInt16(Int(ihl) * 4 + tcp.count)
        return [0x40 | ihl, 0] + be16(total) + [0, 0, 0x40, 0, 64, 6, 0, 0] + address4(source) + address4(destination)
            + ipOptions + tcp
    }
}

func address4(_ s: String) -> [UInt8] {
    var a = in_addr()
    inet_pton(AF_INET, s, &a)
    return withUnsafeBytes(of: a) { Array($0) }
}

func address6(_ s: String) -> [UInt8] {
    var a = in6_addr()
    inet_pton(AF_INET6, s, &a)
    return withUnsafeBytes(of: a) { Array($0) }
}

/// A TCP connection that tracks both sides' sequence numbers, producing segments to write
/// (in order, or reordered/duplicated/dropped by the test).
public struct SyntheticConnection: Sendable {
    public var client: String
    public var clientPort: UInt16
    public var server: String
    public var serverPort: UInt16
    public var clientSequence: UInt32
    public var serverSequence: UInt32

    public init(
        client: String = "10.0.0.1", clientPort: UInt16 = 40000, server: String = "10.0.0.2", serverPort: UInt16 = 80,
        clientISN: UInt32 = 1000, serverISN: UInt32 = 5000
    ) {
        self.client = client
        self.clientPort = clientPort
        self.server = server
        self.serverPort = serverPort
        clientSequence = clientISN
        serverSequence = serverISN
    }

    func fromClient(_ seq: UInt32, _ flags: UInt8, _ payload: [UInt8]) -> SyntheticSegment {
        SyntheticSegment(
            source: client, sourcePort: clientPort, destination: server, destinationPort: serverPort, sequence: seq,
            acknowledgment: serverSequence, flags: flags, payload: payload)
    }

    func fromServer(_ seq: UInt32, _ flags: UInt8, _ payload: [UInt8]) -> SyntheticSegment {
        SyntheticSegment(
            source: server, sourcePort: serverPort, destination: client, destinationPort: clientPort, sequence: seq,
            acknowledgment: clientSequence, flags: flags, payload: payload)
    }

    /// SYN, SYN-ACK, ACK.
    public mutating func handshake() -> [SyntheticSegment] {
        let syn = fromClient(clientSequence, SyntheticSegment.syn, [])
        clientSequence &+= 1
        var synAck = fromServer(serverSequence, SyntheticSegment.syn | SyntheticSegment.ack, [])
        synAck.acknowledgment = clientSequence
        serverSequence &+= 1
        let ack = fromClient(clientSequence, SyntheticSegment.ack, [])
        return [syn, synAck, ack]
    }

    /// The client sends `data` in segments of at most `mss` bytes.
    public mutating func clientSends(_ data: [UInt8], mss: Int = 1460) -> [SyntheticSegment] {
        var out: [SyntheticSegment] = []
        var i = 0
        while i < data.count {
            let chunk = Array(data[i..<min(data.count, i + mss)])
            out.append(fromClient(clientSequence, SyntheticSegment.ack | SyntheticSegment.psh, chunk))
            clientSequence &+= UInt32(chunk.count)
            i += mss
        }
        return out
    }

    /// The server sends `data` in segments of at most `mss` bytes.
    public mutating func serverSends(_ data: [UInt8], mss: Int = 1460) -> [SyntheticSegment] {
        var out: [SyntheticSegment] = []
        var i = 0
        while i < data.count {
            let chunk = Array(data[i..<min(data.count, i + mss)])
            out.append(fromServer(serverSequence, SyntheticSegment.ack | SyntheticSegment.psh, chunk))
            serverSequence &+= UInt32(chunk.count)
            i += mss
        }
        return out
    }

    /// A pure ACK from the client (acknowledging everything the server sent so far).
    public func clientAck() -> SyntheticSegment { fromClient(clientSequence, SyntheticSegment.ack, []) }
    /// A pure ACK from the server.
    public func serverAck() -> SyntheticSegment { fromServer(serverSequence, SyntheticSegment.ack, []) }

    /// FIN from both sides.
    public mutating func close() -> [SyntheticSegment] {
        let a = fromClient(clientSequence, SyntheticSegment.fin | SyntheticSegment.ack, [])
        clientSequence &+= 1
        let b = fromServer(serverSequence, SyntheticSegment.fin | SyntheticSegment.ack, [])
        serverSequence &+= 1
        return [a, b, fromClient(clientSequence, SyntheticSegment.ack, [])]
    }
}

extension PcapBuilder {
    /// Appends segments 1 ms apart starting at `start`; returns the next free time.
    @discardableResult
    public mutating func add(_ segments: [SyntheticSegment], start: Int64, step: Int64 = 1000) -> Int64 {
        var t = start
        for s in segments {
            segment(s, timeMicros: t)
            t += step
        }
        return t
    }
}
