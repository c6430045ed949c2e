import Capture
import HarnessCore
import HarnessTesting
import Testing

/// IPv4 fragments: a segment split by a small-MTU hop is reassembled before TCP sees it.
@Suite struct FragmentReassemblyTests {
    /// Splits an IPv4 packet (20-byte header) into fragments of `size` payload bytes (a multiple of 8).
    static func fragments(of ip: [UInt8], size: Int) -> [[UInt8]] {
        let header = Array(ip[0..<20])
        let payload = Array(ip[20...])
        var out: [[UInt8]] = []
        var offset = 0
        while offset < payload.count {
            let piece = Array(payload[offset..<min(payload.count, offset + size)])
            var h = header
            let total = UInt16(20 + piece.count)
            h[2] = UInt8(total >> 8)
            h[3] = UInt8(total & 0xff)
            h[4] = 0x12
            h[5] = 0x34
            let more: UInt16 = offset + piece.count < payload.count ? 0x2000 : 0
            let field = more | UInt16(offset / 8)
            h[6] = UInt8(field >> 8)
            h[7] = UInt8(field & 0xff)
            out.append(h + piece)
            offset += size
        }
        return out
    }

    @Test func outOfOrderFragmentsRebuildTheSegment() throws {
        var c = SyntheticConnection(client: "10.0.0.1", server: "10.0.0.2")
        let segment = c.serverSends(Array("HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n".utf8) + Array(repeating: 0x61, count: 40))[0]
        let ip = segment.ipPacket()
        var r = FragmentReassembler()
        let parts = Self.fragments(of: ip, size: 24)
        #expect(parts.count >= 4)
        var result: [UInt8]?
        for (i, part) in parts.reversed().enumerated() {
            result = part.withUnsafeBytes { r.add($0, at: 0, time: Int64(i)) }
            if i < parts.count - 1 { #expect(result == nil, "incomplete until the last piece arrives") }
        }
        let datagram = try #require(result)
        #expect(Array(datagram[20...]) == Array(ip[20...]))
        #expect(r.reassembled == 1 && r.pendingCount == 0)
        let decoded = datagram.withUnsafeBytes { PacketDecoder.decode($0, linkType: .ipv4, wireLength: $0.count) }
        guard case .tcp(let t) = decoded else {
            Issue.record("expected TCP, got \(decoded)")
            return
        }
        #expect(t.payloadCount == segment.payload.count)
    }

    @Test func aHoleKeepsItPendingAndTimesOut() {
        var c = SyntheticConnection(client: "10.0.0.1", server: "10.0.0.2")
        let ip = c.clientSends(Array(repeating: 0x62, count: 100))[0].ipPacket()
        var r = FragmentReassembler(timeoutMicros: 1_000)
        let parts = Self.fragments(of: ip, size: 32)
        for (i, part) in parts.enumerated() where i != 1 {
            #expect(part.withUnsafeBytes { r.add($0, at: 0, time: 0) } == nil)
        }
        #expect(r.pendingCount == 1)
        // Another datagram much later expires the incomplete one.
        _ = parts[0].withUnsafeBytes { raw -> [UInt8]? in
            var other = Array(raw)
            other[4] = 0x99
            return other.withUnsafeBytes { r.add($0, at: 0, time: 10_000) }
        }
        #expect(r.dropped == 1)
    }

    /// Whole pipeline: the request and the response both arrive fragmented.
    @Test func fragmentedExchangeIsCaptured() throws {
        var c = SyntheticConnection(client: "10.0.0.1", server: "10.0.0.2")
        let request = Array("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 64\r\n\r\n".utf8) + Array(repeating: 0x41, count: 64)
        let response = Array("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok".utf8)
        var segs = c.handshake()
        let req = c.clientSends(request)
        let ack = c.serverAck()
        let resp = c.serverSends(response)
        let tail = [c.clientAck()] + c.close()
        var b = PcapBuilder(link: .raw)
        var t: Int64 = 1_700_000_000_000_000
        func put(_ frame: [UInt8]) {
            b.frame(frame, timeMicros: t)
            t += 1000
        }
        for s in segs { put(s.ipPacket()) }
        for s in req { for f in Self.fragments(of: s.ipPacket(), size: 40).reversed() { put(f) } }
        put(ack.ipPacket())
        for s in resp { for f in Self.fragments(of: s.ipPacket(), size: 16) { put(f) } }
        segs = tail
        for s in segs { put(s.ipPacket()) }
        let (exchanges, summary) = try PcapCapture.run(b)
        #expect(summary.reassembledDatagrams == 2)
        try #require(exchanges.count == 1)
        #expect(exchanges[0].request.body == Array(repeating: 0x41, count: 64))
        #expect(exchanges[0].response?.status == 201)
        #expect(exchanges[0].isComplete)
    }
}
