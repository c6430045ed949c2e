import Capture
import HarnessCore
import HarnessTesting
import Testing

/// Two taps around one proxy joined into one two-leg recording (`harness log link`).
@Suite struct TapLinkerTests {
    /// An exchange on the client side of a tap, from `start` to `end` (microseconds).
    func tapped(_ id: UInt64, _ target: String, _ start: Int64, _ end: Int64, conn: UInt64, leg: Leg = .front) -> Exchange {
        Exchange(
            id: id, leg: leg,
            connection: ConnectionInfo(id: conn, client: Endpoint(host: "127.0.0.1", port: 40000), server: Endpoint(host: "127.0.0.1", port: 8080)),
            timing: Timing(requestStart: start, requestEnd: start + 10, responseStart: end - 10, responseEnd: end),
            request: Request(method: "GET", target: target), response: Response(status: 200))
    }

    @Test func backsLinkToTheFrontInFlightByTimeAndPath() throws {
        let dir = TempDir("taplink")
        // Front tap, in the order a tap writes (completion): /a (100..900), /b (200..500),
        // /late (5000..6000); the tap's own upstream leg is in the log too.
        let fronts = [
            tapped(1, "/b", 200, 500, conn: 2), tapped(2, "/b", 210, 490, conn: 2, leg: .back),
            tapped(3, "/a", 100, 900, conn: 1), tapped(4, "/a", 110, 880, conn: 1, leg: .back),
            tapped(5, "/late", 5000, 6000, conn: 3),
        ]
        // Back tap: what the proxy asked its backend (mapped under /app/), plus one at 3000
        // when no front is in flight.
        let backs = [
            tapped(1, "/app/b", 250, 450, conn: 7), tapped(2, "/app/a", 300, 800, conn: 8), tapped(3, "/app/x", 3000, 3100, conn: 9),
            tapped(4, "/app/late", 5100, 5900, conn: 7),
        ]
        try LogFile.write(fronts, to: dir.file("front.log"))
        try LogFile.write(backs, to: dir.file("back.log"))
        let sink = MemorySink()
        let summary = try TapLinker.link(front: dir.file("front.log"), back: dir.file("back.log"), into: sink, windowMicros: 1000)
        #expect(summary.fronts == 3 && summary.backs == 4 && summary.skipped == 2)
        #expect(summary.unlinked == 1 && summary.linkedHigh == 3)

        let out = sink.exchanges
        #expect(Set(out.map(\.id)).count == out.count, "ids are unique after the merge")
        func front(_ target: String) throws -> Exchange { try #require(out.first { $0.leg == .front && $0.request.target == target }) }
        func back(_ target: String) throws -> Exchange { try #require(out.first { $0.leg == .back && $0.request.target == target }) }
        #expect(try back("/app/b").link?.frontID == front("/b").id, "both /a and /b are in flight: the path decides")
        #expect(try back("/app/a").link?.frontID == front("/a").id)
        #expect(try back("/app/late").link?.frontID == front("/late").id)
        #expect(try back("/app/x").link == nil)
        #expect(out.filter { $0.leg == .back }.allSatisfy { $0.connection.id > 1 << 32 }, "back connections never collide with front ones")
    }

    @Test func cliWritesALinkedRecordingThatReadsBack() throws {
        let dir = TempDir("taplink-cli")
        try LogFile.write([tapped(1, "/p", 100, 900, conn: 1)], to: dir.file("front.log"))
        try LogFile.write([tapped(1, "/p", 200, 800, conn: 1)], to: dir.file("back.log"))
        let r = try Run.harness(["log", "link", dir.file("front.log"), dir.file("back.log"), "-o", dir.file("linked.log")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("1 links high"))
        let (header, exchanges, damage) = try LogFile.readAll(dir.file("linked.log"))
        #expect(damage == nil && header["source"] == "link")
        let f = try #require(exchanges.first { $0.leg == .front })
        #expect(exchanges.first { $0.leg == .back }?.link == Link(frontID: f.id, confidence: .high))
        let bad = try Run.harness(["log", "link", dir.file("missing.log"), dir.file("back.log"), "-o", dir.file("x.log")])
        #expect(bad.status == 2)
    }
}
