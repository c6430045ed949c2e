import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// The diff's reader (`LogScanner` + `DetachedRecords`) must see exactly what `LogReader` sees:
/// the same exchanges (decoded from the detached copies), the same stop and damage.
@Suite struct LogScannerTests {
    /// Exchanges with every optional part set, names and values in and out of the static and
    /// segment tables, repeated and large bodies.
    static func varied() -> [Exchange] {
        var traffic = SyntheticTraffic(seed: 7)
        var out: [Exchange] = []
        for i in 0..<400 {
            var (f, b) = traffic.next()
            if i % 7 == 0 {
                f.connection.sni = "www.example.com"
                f.request.trailers = [HeaderField("X-Checksum-\(i % 3)", "abc")]
                f.response?.interim = [InterimResponse(status: 100, reason: "Continue", headers: [HeaderField("X-Interim", "1")])]
                f.response?.trailers = [HeaderField("Server-Timing", "db;dur=\(i)")]
                f.flags.parseError = ParseError(offset: 12, message: "bad chunk")
                f.flags.gapBytes = 5
                f.tunnel = TunnelBytes(clientToServer: 1, serverToClient: 2)
                f.annotations = [Annotation("unmatched", "no recording"), Annotation("note", String(repeating: "x", count: 600))]
                f.error = "reset"
            }
            if i % 11 == 0 {
                f.response?.bodyTruncation = BodyTruncation(originalLength: 1 << 20, sha256: Array(repeating: 7, count: 32))
                f.response?.headers.append(HeaderField("X-Long", String(repeating: "v", count: 700)))
            }
            if i % 13 == 0 { f.response = nil }
            b.replayOf = UInt64(i)
            out += [b, f]
        }
        return out
    }

    @Test func scannedAndDetachedRecordsEqualTheReadersExchanges() throws {
        let dir = TempDir("scan")
        let path = dir.file("v.hlog")
        let exchanges = Self.varied()
        // Small blocks and segments: table resets and block boundaries happen often.
        try LogFile.write(exchanges, to: path, options: LogWriterOptions(blockSize: 4 << 10, segmentBodyLimit: 64 << 10))
        let read = try LogFile.readAll(path).exchanges
        #expect(read == exchanges)

        let scanner = try LogScanner(path: path)
        var stores: [(DetachedRecords, Int)] = []
        var store = DetachedRecords()
        var ids: [UInt64] = []
        while try scanner.next(detachingInto: store) {
            ids.append(scanner.record.id)
            #expect(scanner.record.leg == read[ids.count - 1].leg)
            #expect(scanner.record.replayOf == read[ids.count - 1].replayOf)
            #expect(scanner.record.hasResponse == (read[ids.count - 1].response != nil))
            stores.append((store, store.count - 1))
            if store.count == 37 { store = DetachedRecords() }
        }
        #expect(scanner.damage == nil)
        #expect(ids == read.map(\.id))
        let detached = try stores.map { try $0.0.exchange($0.1) }
        #expect(detached == read)
    }

    @Test func damageStopsAtTheSameRecordAsTheReader() throws {
        let dir = TempDir("scan")
        let path = dir.file("d.hlog")
        try LogFile.write(Self.varied(), to: path, options: LogWriterOptions(codec: .none, blockSize: 4 << 10))
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        for cut in [bytes.count / 2, bytes.count - 3] {  // a torn tail, then a flipped byte
            var b = bytes
            if cut == bytes.count / 2 { b = Array(b[..<cut]) } else { b[cut] ^= 0xff }
            try Data(b).write(to: URL(fileURLWithPath: path))
            let reader = try LogReader(path: path)
            var n = 0
            while try reader.next() != nil { n += 1 }
            let scanner = try LogScanner(path: path)
            var m = 0
            while try scanner.next() { m += 1 }
            #expect(m == n)
            #expect(scanner.damage == reader.damage)
            #expect(reader.damage != nil)
        }
        bytes.removeAll()
    }
}
