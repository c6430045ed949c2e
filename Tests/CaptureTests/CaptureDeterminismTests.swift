import Capture
import HarnessCore
import HarnessTesting
import Testing

/// The same pcap always gives the same log: in-process with a memory sink, and through the CLI
/// (file intake thread + background log writer) run twice. And the background writer writes the
/// same records as the synchronous one.
@Suite struct CaptureDeterminismTests {
    /// Three interleaved connections: keep-alive, pipelined, chunked and Content-Length bodies,
    /// headers that repeat from one message to the next and headers that change.
    static func pcap(rounds: Int = 200) -> PcapBuilder {
        var connections = (0..<3).map { i in
            SyntheticConnection(client: "10.0.0.\(i + 1)", clientPort: UInt16(40000 + i), server: "10.0.0.9", serverPort: 80)
        }
        var segs: [SyntheticSegment] = []
        for i in connections.indices { segs += connections[i].handshake() }
        for round in 0..<rounds {
            for i in connections.indices {
                let body = String(repeating: "x", count: (round * 7 + i) % 50)
                let request = "GET /r/\(round)?c=\(i) HTTP/1.1\r\nHost: h\r\nX-Round: \(round)\r\nConnection: keep-alive\r\n\r\n"
                let response: String
                if round % 3 == 0 {
                    response = "HTTP/1.1 200 OK\r\nServer: s\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + String(body.utf8.count + 1, radix: 16) + "\r\n\(body)!\r\n0\r\n\r\n"
                } else {
                    response = "HTTP/1.1 200 OK\r\nServer: s\r\nDate: d\(round)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                }
                if round % 5 == 4 {
                    // Pipelined: two requests, then both responses.
                    segs += connections[i].clientSends(Array((request + request).utf8))
                    segs.append(connections[i].serverAck())
                    segs += connections[i].serverSends(Array((response + response).utf8), mss: 40)
                } else {
                    segs += connections[i].clientSends(Array(request.utf8))
                    segs.append(connections[i].serverAck())
                    segs += connections[i].serverSends(Array(response.utf8))
                }
                segs.append(connections[i].clientAck())
            }
        }
        for i in connections.indices { segs += connections[i].close() }
        var b = PcapBuilder()
        _ = b.add(segs, start: 1_700_000_000_000_000, step: 10)
        return b
    }

    @Test func cliLogIsDeterministicAndMatchesTheEngine() throws {
        let dir = TempDir("determinism")
        let path = dir.file("mixed.pcap")
        try Self.pcap().write(to: path)
        let (reference, summary) = try PcapCapture.run(file: path)
        #expect(summary.exchanges == 3 * (200 + 200 / 5))
        #expect(reference.count == summary.exchanges)
        #expect(reference.allSatisfy { $0.isComplete })
        var logs: [[Exchange]] = []
        for run in 0..<2 {
            let out = dir.file("run\(run).hlog")
            let r = try Run.harness(["capture", "-r", path, "-o", out, "--quiet"])
            #expect(r.status == 0, "\(r.stderr)")
            let (_, exchanges, damage) = try LogFile.readAll(out)
            #expect(damage == nil)
            logs.append(exchanges)
        }
        #expect(logs[0] == reference)
        #expect(logs[1] == reference)
    }

    @Test func backgroundWriterWritesWhatTheSynchronousOneWrites() throws {
        let dir = TempDir("bgwriter")
        let path = dir.file("mixed.pcap")
        try Self.pcap(rounds: 60).write(to: path)
        let (exchanges, _) = try PcapCapture.run(file: path)
        try #require(exchanges.count > 100)
        var logs: [[Exchange]] = []
        for background in [false, true] {
            let out = dir.file("w-\(background).hlog")
            // Small blocks and segments, so block and segment boundaries are crossed many times.
            let options = LogWriterOptions(blockSize: 2048, segmentBodyLimit: 4096, background: background)
            let writer = try LogWriter(path: out, options: options)
            for (i, e) in exchanges.enumerated() {
                try writer.append(e)
                if i == 50 {
                    try writer.flush()
                    #expect(writer.flushed == 51)
                }
            }
            try writer.close()
            #expect(writer.appended == exchanges.count)
            #expect(writer.flushed == exchanges.count)
            let (_, back, damage) = try LogFile.readAll(out)
            #expect(damage == nil)
            logs.append(back)
        }
        #expect(logs[0] == exchanges)
        #expect(logs[1] == exchanges)
    }
}
