import Capture
import HarnessCore
import HarnessTesting
import Testing

/// Whole-pipeline tests over hand-made pcaps: what loopback rarely produces.
@Suite struct SyntheticPcapTests {
    static let get = Array("GET /one HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
    static let ok = Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".utf8)

    /// One GET/200 exchange, with `mutate` applied to the segment list before writing.
    func exchangeOnce(
        link: PcapBuilder.Link = .ethernet, request: [UInt8] = get, response: [UInt8] = ok, mss: Int = 1460,
        client: String = "10.0.0.1", server: String = "10.0.0.2", mutate: ([SyntheticSegment]) -> [SyntheticSegment] = { $0 }
    ) throws -> (exchanges: [Exchange], summary: CaptureSummary) {
        var c = SyntheticConnection(client: client, server: server)
        var segs = c.handshake()
        segs += c.clientSends(request, mss: mss)
        segs.append(c.serverAck())
        segs += c.serverSends(response, mss: mss)
        segs.append(c.clientAck())
        segs += c.close()
        var b = PcapBuilder(link: link)
        b.add(mutate(segs), start: 1_700_000_000_000_000)
        return try PcapCapture.run(b)
    }

    @Test func plainExchangeWithTimingAndConnection() throws {
        let (ex, summary) = try exchangeOnce()
        try #require(ex.count == 1)
        let e = ex[0]
        #expect(e.request.method == "GET")
        #expect(e.request.target == "/one")
        #expect(e.response?.status == 200)
        #expect(e.response?.body == Array("hello".utf8))
        #expect(e.isComplete)
        #expect(e.connection.tupleDescription == "10.0.0.1:40000->10.0.0.2:80")
        #expect(e.connection.id == 1)
        #expect(e.leg == .direct)
        #expect(e.timing.requestStart == 1_700_000_000_003_000)
        #expect(e.timing.responseStart == 1_700_000_000_005_000)
        #expect(summary.connections == 1)
        #expect(summary.exchanges == 1)
    }

    @Test func reorderedSegmentsGiveTheSameExchange() throws {
        let body = String(repeating: "r", count: 5000)
        let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n\(body)".utf8)
        let (ex, _) = try exchangeOnce(response: response, mss: 1000) { segs in
            var s = segs
            // Server data segments are at 5...10: swap two and move the first to the end of the burst.
            s.swapAt(6, 8)
            let moved = s.remove(at: 5)
            s.insert(moved, at: 10)
            return s
        }
        try #require(ex.count == 1)
        #expect(ex[0].isComplete)
        #expect(ex[0].response?.body.count == 5000)
        #expect(ex[0].response?.body == Array(body.utf8))
    }

    @Test func retransmissionsAreDropped() throws {
        let (ex, summary) = try exchangeOnce { segs in
            var s = segs
            s.insert(s[3], at: 4)  // the request again
            s.insert(s[6], at: 7)  // the response again
            return s
        }
        try #require(ex.count == 1)
        #expect(ex[0].isComplete)
        #expect(summary.duplicateBytes == UInt64(Self.get.count + Self.ok.count))
    }

    @Test func lostSegmentIsAGapNeverInvented() throws {
        let body = String(repeating: "g", count: 3000)
        let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n\(body)".utf8)
        let (ex, summary) = try exchangeOnce(response: response, mss: 1000) { segs in
            var s = segs
            s.remove(at: 6)  // the second server data segment is lost from the capture
            return s
        }
        try #require(ex.count == 1)
        let e = ex[0]
        #expect(e.flags.gapBytes == 1000)
        #expect(e.flags.incomplete)
        #expect(!e.isComplete)
        #expect(e.annotation("response_body_length") == "3000")
        #expect((e.response?.body.count ?? 0) < 3000)
        #expect(summary.gaps == 1)
    }

    @Test func midStreamJoinResynchronises() throws {
        var c = SyntheticConnection()
        var segs = c.handshake()
        segs += c.clientSends(Array("POST /early HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789".utf8), mss: 30)
        segs += c.serverSends(Array("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n".utf8), mss: 20)
        segs += c.clientSends(Self.get)
        segs += c.serverSends(Self.ok)
        segs.append(c.clientAck())
        var b = PcapBuilder()
        // Join after the handshake and the first segments of each side.
        b.add(Array(segs[4...4]) + Array(segs[6...]), start: 1_000_000)
        let (ex, summary) = try PcapCapture.run(b)
        #expect(ex.map(\.request.target) == ["/one"])
        #expect(ex.first?.response?.status == 200)
        #expect(summary.midStreamConnections == 1)
    }

    @Test func pipeliningPairsInOrder() throws {
        let reqs = Array("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nHEAD /c HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
        let resps = Array(
            ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na" + "HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nb"
                + "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n").utf8)
        let (ex, _) = try exchangeOnce(request: reqs, response: resps)
        #expect(ex.map(\.request.target) == ["/a", "/b", "/c"])
        #expect(ex.map { $0.response?.status ?? 0 } == [200, 404, 200])
        #expect(ex.map(\.sequence) == [0, 1, 2])
        #expect(ex.allSatisfy { $0.isComplete })
    }

    @Test func expectContinueRecordsTheInterimResponse() throws {
        var c = SyntheticConnection()
        var segs = c.handshake()
        segs += c.clientSends(Array("PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n".utf8))
        segs += c.serverSends(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        segs += c.clientSends(Array("data".utf8))
        segs += c.serverSends(Array("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n".utf8))
        segs += c.close()
        var b = PcapBuilder()
        b.add(segs, start: 1_000_000)
        let (ex, _) = try PcapCapture.run(b)
        try #require(ex.count == 1)
        #expect(ex[0].response?.status == 201)
        #expect(ex[0].response?.interim.map(\.status) == [100])
        #expect(ex[0].framing.contains(.continueSeen))
        #expect(ex[0].request.body == Array("data".utf8))
    }

    @Test func connectTunnelBytesAreCountedNotParsed() throws {
        var c = SyntheticConnection(serverPort: 3128)
        var segs = c.handshake()
        segs += c.clientSends(Array("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".utf8))
        segs += c.serverSends(Array("HTTP/1.1 200 Connection Established\r\n\r\n".utf8))
        segs += c.clientSends([UInt8](repeating: 0x16, count: 300))
        segs += c.serverSends([UInt8](repeating: 0x17, count: 700))
        segs += c.close()
        var b = PcapBuilder()
        b.add(segs, start: 1_000_000)
        let (ex, summary) = try PcapCapture.run(b)
        try #require(ex.count == 1)
        #expect(ex[0].framing.contains(.connectTunnel))
        #expect(ex[0].tunnel == TunnelBytes(clientToServer: 300, serverToClient: 700))
        #expect(summary.parseErrors == 0)
    }

    @Test func closeDelimitedResponseEndsWithTheFIN() throws {
        let (ex, _) = try exchangeOnce(response: Array("HTTP/1.0 200 OK\r\n\r\nuntil the end".utf8))
        try #require(ex.count == 1)
        #expect(ex[0].framing.contains(.responseCloseDelimited))
        #expect(ex[0].response?.body == Array("until the end".utf8))
        #expect(ex[0].isComplete)
    }

    @Test func ipv6OverNullLoopbackWithBSDFamily() throws {
        for family: UInt32 in [24, 28, 30] {
            let (ex, _) = try exchangeOnce(link: .null(family: family), client: "::1", server: "::1")
            #expect(ex.count == 1)
            #expect(ex.first?.connection.server.description == "[::1]:80")
        }
    }

    @Test func sequenceWrapAroundInsideAnExchange() throws {
        var c = SyntheticConnection(clientISN: 0xffff_ff00, serverISN: 0xffff_fff0)
        var segs = c.handshake()
        segs += c.clientSends(Self.get, mss: 10)
        let body = String(repeating: "w", count: 600)
        segs += c.serverSends(Array("HTTP/1.1 200 OK\r\nContent-Length: 600\r\n\r\n\(body)".utf8), mss: 100)
        segs += c.close()
        var b = PcapBuilder()
        b.add(segs, start: 1_000_000)
        let (ex, _) = try PcapCapture.run(b)
        try #require(ex.count == 1)
        #expect(ex[0].isComplete)
        #expect(ex[0].response?.body.count == 600)
    }

    @Test func legsAndBackLinks() throws {
        // Client -> proxy :8080 (front); proxy -> backend :9000 (back) while the front is in flight.
        var front = SyntheticConnection(client: "10.0.0.1", clientPort: 50000, server: "10.0.0.2", serverPort: 8080)
        var back = SyntheticConnection(client: "10.0.0.2", clientPort: 60000, server: "10.0.0.3", serverPort: 9000)
        var other = SyntheticConnection(client: "10.0.0.1", clientPort: 50001, server: "10.0.0.2", serverPort: 8080)
        var segs = front.handshake() + back.handshake() + other.handshake()
        segs += front.clientSends(Array("GET /api/users/7 HTTP/1.1\r\nHost: p\r\n\r\n".utf8))
        segs += other.clientSends(Array("GET /static/logo.png HTTP/1.1\r\nHost: p\r\n\r\n".utf8))
        segs += back.clientSends(Array("GET /users/7 HTTP/1.1\r\nHost: b\r\n\r\n".utf8))
        segs += back.serverSends(Self.ok)
        segs += front.serverSends(Self.ok)
        segs += other.serverSends(Self.ok)
        var b = PcapBuilder()
        b.add(segs, start: 1_000_000)
        let (ex, summary) = try PcapCapture.run(b, options: CaptureOptions(frontPorts: [8080], backPorts: [9000]))
        let backEx = try #require(ex.first { $0.leg == .back })
        let frontEx = try #require(ex.first { $0.request.target == "/api/users/7" })
        #expect(frontEx.leg == .front)
        #expect(backEx.link == Link(frontID: frontEx.id, confidence: .high))
        #expect(summary.linkedBackExchanges == 1)
    }

    @Test func sameInputGivesTheSameExchanges() throws {
        var b = PcapBuilder()
        var t: Int64 = 1_000_000
        for i in 0..<20 {
            var c = SyntheticConnection(clientPort: UInt16(41000 + i))
            var segs = c.handshake() + c.clientSends(Self.get) + c.serverSends(Self.ok)
            if i % 3 == 0 { segs.swapAt(1, 2) }
            segs += c.close()
            t = b.add(segs, start: t, step: 10)
        }
        let first = try PcapCapture.run(b).exchanges
        let second = try PcapCapture.run(b).exchanges
        #expect(first.count == 20)
        let same = first == second
        #expect(same)
    }

    @Test func connectionTableCapEvicts() throws {
        var b = PcapBuilder()
        var t: Int64 = 1_000_000
        for i in 0..<10 {
            var c = SyntheticConnection(clientPort: UInt16(42000 + i))
            t = b.add(c.handshake() + c.clientSends(Self.get), start: t)
        }
        let (ex, summary) = try PcapCapture.run(b, options: CaptureOptions(maxConnections: 4))
        #expect(summary.evictions >= 6)
        #expect(ex.count == 10)
        #expect(ex.allSatisfy { $0.response == nil && $0.flags.incomplete })
    }

    @Test func snaplenTruncatedPacketsAreFlagged() throws {
        var c = SyntheticConnection()
        var segs = c.handshake() + c.clientSends(Self.get)
        segs += c.serverSends(Array("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".utf8) + [UInt8](repeating: 0x61, count: 1000))
        segs += c.close()
        var b = PcapBuilder(snaplen: 200)
        b.add(segs, start: 1_000_000)
        let (ex, summary) = try PcapCapture.run(b)
        try #require(ex.count == 1)
        #expect(ex[0].flags.snaplenTruncated)
        #expect(ex[0].flags.gapBytes > 0)
        #expect(summary.snaplenTruncatedPackets == 1)
    }
}
