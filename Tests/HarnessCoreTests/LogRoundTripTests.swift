import Foundation
import HarnessCore
import HarnessTesting
import Testing

@Suite struct LogRoundTripTests {
    /// An exchange with every optional part set.
    static func rich() -> Exchange {
        var e = Exchange(
            id: 42, leg: .back,
            connection: ConnectionInfo(
                id: 7, client: Endpoint(host: "::1", port: 5555), server: Endpoint(host: "10.0.0.5", port: 8443),
                tls: true, sni: "backend.internal"),
            sequence: 3,
            timing: Timing(requestStart: 1_700_000_000_123_456, requestEnd: 1_700_000_000_123_500, responseStart: 1_700_000_000_200_000, responseEnd: 1_700_000_000_250_001),
            request: Request(
                method: "POST", target: "/upload?x=1", version: .http10,
                headers: [HeaderField("Host", "b"), HeaderField("X-Custom-Thing", "v1"), HeaderField("x-custom-thing", "v2"), HeaderField("Expect", "100-continue")],
                body: Array(repeating: 7, count: 3000), bodyTruncation: BodyTruncation(originalLength: 300_000, sha256: Array(repeating: 9, count: 32)),
                trailers: [HeaderField("X-Checksum", "abc")]),
            response: Response(
                status: 201, reason: "Created", headers: [HeaderField("Location", "/x/1"), HeaderField("Transfer-Encoding", "chunked")],
                body: Array("done".utf8), trailers: [HeaderField("Server-Timing", "db;dur=53")],
                interim: [InterimResponse(status: 100, reason: "Continue")]),
            framing: [.requestContentLength, .responseChunked, .continueSeen],
            flags: Flags(incomplete: true, gapBytes: 1460, snaplenTruncated: true, parseError: ParseError(offset: 99, message: "bad chunk size"), midStream: true, redacted: true),
            link: Link(frontID: 41, confidence: .high), replayOf: 9, tunnel: TunnelBytes(clientToServer: 10, serverToClient: 20),
            error: "reset", annotations: [Annotation("unmatched", "no recorded GET /x"), Annotation("k", "v")])
        e.timing.responseEnd += 1
        return e
    }

    @Test(arguments: [LogFormat.Codec.none, LogFormat.Codec.zstd])
    func roundTripKeepsEveryField(codec: LogFormat.Codec) throws {
        let dir = TempDir()
        let path = dir.file("a.log")
        var exchanges = SampleExchanges.session(count: 300)
        exchanges.append(Self.rich())
        exchanges.append(Exchange(id: 1000, request: Request(method: "GET", target: "*")))
        let header = LogHeader(metadata: [Annotation("source", "test"), Annotation("original_host", "www.example.com")])
        try LogFile.write(exchanges, to: path, header: header, options: LogWriterOptions(codec: codec, blockSize: 4096))
        let (readHeader, back, damage) = try LogFile.readAll(path)
        #expect(damage == nil)
        #expect(readHeader["source"] == "test")
        #expect(readHeader["original_host"] == "www.example.com")
        #expect(readHeader["tool"] == "harness")
        #expect(back.count == exchanges.count)
        #expect(back == exchanges)
    }

    @Test func fileIsCreatedOwnerOnly() throws {
        let dir = TempDir()
        let path = dir.file("secret.log")
        try LogFile.write(SampleExchanges.session(count: 2), to: path)
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
    }

    @Test func identicalBodiesAreStoredOnce() throws {
        let dir = TempDir()
        let body = Array(repeating: UInt8(ascii: "x"), count: 50_000)
        var exchanges: [Exchange] = []
        for i in 0..<20 {
            exchanges.append(Exchange(id: UInt64(i), request: Request(method: "GET", target: "/big"), response: Response(status: 200, body: body)))
        }
        try LogFile.write(exchanges, to: dir.file("dedup.log"), options: LogWriterOptions(codec: .none))
        let size = try FileManager.default.attributesOfItem(atPath: dir.file("dedup.log"))[.size] as? Int ?? 0
        #expect(size < 2 * body.count, "20 copies of a 50 KB body should be stored once, file is \(size) bytes")
        #expect(try LogFile.readAll(dir.file("dedup.log")).exchanges == exchanges)
    }

    @Test func segmentsResetTablesAndStillRoundTrip() throws {
        let dir = TempDir()
        var exchanges: [Exchange] = []
        for i in 0..<200 {
            let body = Array(String(repeating: "segment body \(i) ", count: 100).utf8)
            exchanges.append(Exchange(
                id: UInt64(i), request: Request(method: "GET", target: "/\(i)", headers: [HeaderField("X-Rare-\(i % 7)", "v")]),
                response: Response(status: 200, headers: [HeaderField("X-Other-\(i % 5)", "w")], body: body)))
        }
        // A tiny segment limit forces many segments; names and bodies must be re-defined in each.
        try LogFile.write(exchanges, to: dir.file("seg.log"), options: LogWriterOptions(blockSize: 2048, segmentBodyLimit: 10_000))
        #expect(try LogFile.readAll(dir.file("seg.log")).exchanges == exchanges)
    }

    @Test func unknownVersionIsAClearError() throws {
        let dir = TempDir()
        try LogFile.write(SampleExchanges.session(count: 1), to: dir.file("v.log"))
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file("v.log"))))
        bytes[8] = 9
        let error = #expect(throws: HarnessError.self) { try LogReader(bytes: bytes, name: "v.log") }
        #expect(error?.description.contains("version 9") == true)
        let notALog = #expect(throws: HarnessError.self) { try LogReader(bytes: Array("GET / HTTP/1.1\r\n".utf8), name: "x") }
        #expect(notALog?.description.contains("not a recording log") == true)
    }

    @Test func followReaderSeesBlocksWhileTheyAreWritten() throws {
        let dir = TempDir()
        let path = dir.file("follow.log")
        let writer = try LogWriter(path: path, options: LogWriterOptions(flushIntervalMicros: 0))
        let exchanges = SampleExchanges.session(count: 5)
        try writer.append(exchanges[0])
        let reader = try LogReader(path: path, follow: true)
        #expect(try reader.next() == exchanges[0])
        for e in exchanges.dropFirst() { try writer.append(e) }
        for e in exchanges.dropFirst() { #expect(try reader.next() == e) }
        try writer.close()
    }
}
