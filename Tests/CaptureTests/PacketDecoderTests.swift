import Capture
import HarnessTesting
import Testing

/// Link, IP and TCP header decoding over hand-made frames.
@Suite struct PacketDecoderTests {
    let segment = SyntheticSegment(
        source: "192.168.1.10", sourcePort: 51000, destination: "10.1.2.3", destinationPort: 8080, sequence: 0xffff_fff0,
        acknowledgment: 77, flags: SyntheticSegment.ack | SyntheticSegment.psh, payload: Array("GET / HTTP/1.1\r\n".utf8))

    func decode(_ link: PcapBuilder.Link, _ s: SyntheticSegment, snaplen: Int = 262_144) -> DecodedPacket {
        var b = PcapBuilder(link: link, snaplen: snaplen)
        b.segment(s, timeMicros: 1)
        // Frame = bytes after the 24-byte file header and 16-byte record header.
        let frame = Array(b.bytes[40...])
        let wire = Int(b.bytes[36]) | Int(b.bytes[37]) << 8 | Int(b.bytes[38]) << 16
        let lt = LinkType(dlt: Int32(linkValue(link)))!
        return frame.withUnsafeBytes { PacketDecoder.decode($0, linkType: lt, wireLength: wire) }
    }

    func linkValue(_ l: PcapBuilder.Link) -> Int {
        switch l {
        case .ethernet, .ethernetVLAN: 1
        case .null: 0
        case .loop: 108
        case .linuxSLL: 113
        case .linuxSLL2: 276
        case .raw: 12
        }
    }

    func expectTCP(_ d: DecodedPacket, _ s: SyntheticSegment, sourceText: String) {
        guard case .tcp(let t) = d else {
            Issue.record("expected TCP, got \(d)")
            return
        }
        #expect(t.source.description == sourceText)
        #expect(t.sourcePort == s.sourcePort)
        #expect(t.destinationPort == s.destinationPort)
        #expect(t.sequence == s.sequence)
        #expect(t.acknowledgment == s.acknowledgment)
        #expect(t.payloadCount == s.payload.count)
        #expect(t.missingBytes == 0)
    }

    @Test(arguments: [
        PcapBuilder.Link.ethernet, .ethernetVLAN(42), .null(family: 2), .loop, .linuxSLL, .linuxSLL2, .raw,
    ])
    func ipv4OverEveryLinkType(link: PcapBuilder.Link) {
        expectTCP(decode(link, segment), segment, sourceText: "192.168.1.10")
    }

    @Test(arguments: [UInt32(24), 28, 30, 10])
    func ipv6OverNullWithEveryBSDFamily(family: UInt32) {
        var s = segment
        s.source = "2001:db8::1"
        s.destination = "::1"
        expectTCP(decode(.null(family: family), s), s, sourceText: "2001:db8::1")
    }

    @Test func ipv6OverSLL2AndEthernet() {
        var s = segment
        s.source = "fe80::1:2:3:4"
        s.destination = "fe80::9"
        expectTCP(decode(.linuxSLL2, s), s, sourceText: "fe80::1:2:3:4")
        expectTCP(decode(.ethernet, s), s, sourceText: "fe80::1:2:3:4")
    }

    @Test func ipv4OptionsAreSkipped() {
        var s = segment
        s.ipOptions = [1, 1, 1, 0, 0x44, 4, 5, 0]  // NOPs + timestamp-ish option, 8 bytes
        expectTCP(decode(.ethernet, s), s, sourceText: "192.168.1.10")
    }

    @Test func ipv4FragmentsAreFlagged() {
        var b = PcapBuilder(link: .raw)
        var ip = segment.ipPacket()
        ip[6] = 0x20  // MF
        b.frame(ip, timeMicros: 1)
        let frame = Array(b.bytes[40...])
        let d = frame.withUnsafeBytes { PacketDecoder.decode($0, linkType: .raw, wireLength: frame.count) }
        #expect(d == .fragment)
    }

    @Test func ipv6ExtensionHeadersAreWalked() {
        var s = segment
        s.source = "2001:db8::5"
        s.destination = "2001:db8::6"
        var ip = s.ipPacket()
        // Insert hop-by-hop (8 bytes) and destination options (8 bytes) before TCP.
        let tcp = Array(ip[40...])
        ip = Array(ip[0..<40])
        ip[6] = 0  // next: hop-by-hop
        let hop: [UInt8] = [60, 0, 1, 4, 0, 0, 0, 0]
        let dst: [UInt8] = [6, 0, 1, 4, 0, 0, 0, 0]
        let payloadLength = UInt16(hop.count + dst.count + tcp.count)
        ip[4] = UInt8(payloadLength >> 8)
        ip[5] = UInt8(payloadLength & 0xff)
        ip += hop + dst + tcp
        let d = ip.withUnsafeBytes { PacketDecoder.decode($0, linkType: .raw, wireLength: ip.count) }
        expectTCP(d, s, sourceText: "2001:db8::5")
        // A non-first IPv6 fragment is flagged.
        var frag = Array(ip[0..<40])
        frag[6] = 44
        frag += [6, 0, 0x00, 0x09, 0, 0, 0, 1] + tcp
        let f = frag.withUnsafeBytes { PacketDecoder.decode($0, linkType: .raw, wireLength: frag.count) }
        #expect(f == .fragment)
    }

    @Test func snaplenCutPayloadIsCounted() {
        guard case .tcp(let t) = decode(.ethernet, segment, snaplen: 14 + 20 + 20 + 5) else {
            Issue.record("expected TCP")
            return
        }
        #expect(t.payloadCount == 5)
        #expect(t.missingBytes == segment.payload.count - 5)
    }

    @Test func shortAndForeignFramesNeverTrap() {
        for n in 0..<60 {
            let junk = [UInt8](repeating: 0x45, count: n)
            for lt in [LinkType.ethernet, .null, .loop, .linuxSLL, .linuxSLL2, .raw, .ipv4, .ipv6] {
                _ = junk.withUnsafeBytes { PacketDecoder.decode($0, linkType: lt, wireLength: n + 100) }
            }
        }
        let arp: [UInt8] = [UInt8](repeating: 0, count: 12) + [0x08, 0x06] + [UInt8](repeating: 0, count: 28)
        #expect(arp.withUnsafeBytes { PacketDecoder.decode($0, linkType: .ethernet, wireLength: 42) } == .other)
    }

    @Test func addressText() {
        #expect(IPAddress(v4: 0x7f00_0001).description == "127.0.0.1")
        #expect(IPAddress(hi: 0, lo: 1).description == "::1")
        #expect(IPAddress(hi: 0x2001_0db8_0000_0000, lo: 0x0000_0000_0000_0001).description == "2001:db8::1")
        #expect(IPAddress(hi: 0x2001_0db8_0001_0000, lo: 0x0000_0001_0000_0001).description == "2001:db8:1::1:0:1")
    }
}

