import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// A replay's reader reads recorded fronts with `next(statusOnly: true)`: the request whole, the
/// response's status alone. The record must be read and checked as a full read does, and the
/// segment's tables must learn the same entries, or a later record would decode wrongly.
@Suite struct StatusOnlyReadTests {
    @Test func statusOnlyKeepsRequestsAndStatusesAndEveryLaterRecord() throws {
        let dir = TempDir()
        let path = dir.file("a.log")
        var traffic = SyntheticTraffic(seed: 7)
        var written: [Exchange] = []
        for i in 0..<400 {
            let (front, back) = traffic.next()
            var f = front
            var rich = LogRoundTripTests.rich()
            rich.leg = .front
            rich.id = 100_000 + UInt64(i)
            if i % 50 == 0 { f = rich }
            // Annotations and literal response header values (tabled by the writer) on fronts.
            f.annotations.append(Annotation("note", "n\(i % 3)"))
            f.response?.headers.append(HeaderField("X-Served-By", "cache-\(i % 17)-node"))
            written.append(back)
            written.append(f)
        }
        let writer = try LogWriter(path: path, options: LogWriterOptions(blockSize: 16 << 10, segmentBodyLimit: 64 << 10))
        for e in written { try writer.append(e) }
        try writer.close()

        let full = try LogReader(path: path)
        let slim = try LogReader(path: path)
        var n = 0
        while let a = try full.next() {
            let b = try #require(try slim.next(statusOnly: true))
            n += 1
            #expect(b.id == a.id && b.leg == a.leg && b.connection == a.connection && b.timing == a.timing)
            #expect(b.request == a.request)
            #expect(b.response?.status == a.response?.status)
            #expect(b.error == a.error && b.replayOf == a.replayOf && b.flags == a.flags)
            if a.leg == .back {
                #expect(b == a)  // backs feed the simulated backends: whole
            } else {
                #expect(b.response.map { $0.headers.isEmpty && $0.body.isEmpty } ?? true)
                #expect(b.annotations.isEmpty)
            }
        }
        #expect(try slim.next(statusOnly: true) == nil)
        #expect(n == written.count)
        #expect(full.damage == nil && slim.damage == nil)
    }

    @Test func statusOnlyStopsAtTheSameDamage() throws {
        let dir = TempDir()
        let path = dir.file("a.log")
        var traffic = SyntheticTraffic(seed: 9)
        let writer = try LogWriter(path: path, options: LogWriterOptions(codec: .none, blockSize: 4 << 10))
        for _ in 0..<200 {
            let (front, back) = traffic.next()
            try writer.append(back)
            try writer.append(front)
        }
        try writer.close()
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count * 2 / 3] ^= 0xff
        let full = try LogReader(bytes: bytes)
        let slim = try LogReader(bytes: bytes)
        var a = 0, b = 0
        while try full.next() != nil { a += 1 }
        while try slim.next(statusOnly: true) != nil { b += 1 }
        #expect(a == b)
        #expect(a < 400)
        #expect(full.damage == slim.damage)
    }
}
