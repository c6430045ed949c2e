import Capture
import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// `harness capture` end to end: bad input, stdin, live capture and its clean stop.
@Suite(.serialized) struct CaptureCommandTests {
    static func sample(exchanges: Int) -> PcapBuilder {
        var b = PcapBuilder()
        var t: Int64 = 1_000_000
        for i in 0..<exchanges {
            var c = SyntheticConnection(clientPort: UInt16(43000 + i))
            let segs = c.handshake() + c.clientSends(Array("GET /n\(i) HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
                + c.serverSends(Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)) + c.close()
            t = b.add(segs, start: t)
        }
        return b
    }

    /// The BPF filter takes the rest of the line, yet `--help` still prints the help.
    @Test func helpIsPrintedDespiteThePassthroughFilter() throws {
        let r = try Run.harness(["capture", "--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("OVERVIEW: Capture HTTP/1.x exchanges"), "\(r.stdout)\(r.stderr)")
    }

    @Test func truncatedPcapExitsTwoNamingThePacketAndKeepsWhatWasDecoded() throws {
        let dir = TempDir("cap-cli")
        let pcap = dir.file("cut.pcap")
        var bytes = Self.sample(exchanges: 3).bytes
        bytes.removeLast(30)
        try Data(bytes).write(to: URL(fileURLWithPath: pcap))
        let out = dir.file("out.hlog")
        let r = try Run.harness(["capture", "-r", pcap, "-o", out])
        #expect(r.status == 2)
        #expect(r.stderr.contains(pcap))
        #expect(r.stderr.contains("packet 24"))
        let log = try LogFile.readAll(out)
        #expect(log.exchanges.map(\.request.target).prefix(2) == ["/n0", "/n1"])
    }

    @Test func garbageAndMissingFilesExitTwo() throws {
        let dir = TempDir("cap-cli")
        let junk = dir.file("junk.pcap")
        try Data((0..<500).map { UInt8(truncatingIfNeeded: $0 * 31) }).write(to: URL(fileURLWithPath: junk))
        let r = try Run.harness(["capture", "-r", junk, "-o", dir.file("o.hlog")])
        #expect(r.status == 2)
        #expect(r.stderr.contains(junk))
        let missing = try Run.harness(["capture", "-r", dir.file("nope.pcap"), "-o", dir.file("o.hlog")])
        #expect(missing.status == 2)
        #expect(!missing.stderr.contains("Fatal"))
        let usage = try Run.harness(["capture", "-o", dir.file("o.hlog")])
        #expect(usage.status != 0)
    }

    @Test func readsStdinAndAppliesABPFFilter() throws {
        let dir = TempDir("cap-cli")
        let out = dir.file("stdin.hlog")
        let r = try Run.harness(["capture", "-r", "-", "-o", out, "tcp", "port", "80", "and", "not", "port", "43001"],
                                stdin: Data(Self.sample(exchanges: 3).bytes))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("2 exchanges"))
        let log = try LogFile.readAll(out)
        #expect(log.exchanges.map(\.request.target) == ["/n0", "/n2"])
        #expect(log.header["source"] == "capture")
    }

    @Test func redactedHeadersNeverReachTheLog() throws {
        var b = PcapBuilder()
        var c = SyntheticConnection()
        let req = "GET /me HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cr3t-token\r\nX-Keep: visible\r\n\r\n"
        b.add(c.handshake() + c.clientSends(Array(req.utf8))
            + c.serverSends(Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)) + c.close(), start: 1_000_000)
        let dir = TempDir("cap-cli")
        let pcap = dir.file("auth.pcap")
        try b.write(to: pcap)
        let key = dir.file("key")
        try Data("fixed key".utf8).write(to: URL(fileURLWithPath: key))
        let out = dir.file("r.hlog")
        let r = try Run.harness(["capture", "-r", pcap, "-o", out, "--redact-header", "Authorization", "--redact-key", key])
        #expect(r.status == 0, "\(r.stderr)")
        let raw = try Data(contentsOf: URL(fileURLWithPath: out))
        #expect(raw.range(of: Data("s3cr3t-token".utf8)) == nil)
        let e = try #require(LogFile.readAll(out).exchanges.first)
        #expect(e.request.headers.first("authorization")?.contains("redacted:") == true)
        #expect(e.request.headers.first("x-keep") == "visible")
    }
}
