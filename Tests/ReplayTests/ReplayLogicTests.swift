import HarnessCore
import HarnessTesting
import Replay
import Testing

/// Pure logic of the replay: flag parsing, matching, origin rewriting, selection.
struct BackendSpecTests {
    @Test func parsesOriginListenAndTLS() throws {
        let a = try BackendSpec(parsing: "http://10.0.0.5:8080=127.0.0.1:9000")
        #expect(a.recordedOrigin == "http://10.0.0.5:8080")
        #expect(a.listenHost == "127.0.0.1" && a.listenPort == 9000 && !a.tls)
        let b = try BackendSpec(parsing: "https://api.internal=https://127.0.0.1:9443")
        #expect(b.recordedOrigin == "https://api.internal")
        #expect(b.tls && b.listenPort == 9443)
        let c = try BackendSpec(parsing: "127.0.0.1:0")
        #expect(c.recordedOrigin == nil && c.listenPort == 0)
        let d = try BackendSpec(parsing: "http://10.0.0.5=[::1]:9000")
        #expect(d.recordedOrigin == "http://10.0.0.5" && d.listenHost == "::1")
    }

    @Test func rejectsBadSpecs() {
        for bad in ["", "=127.0.0.1:9000", "http://10.0.0.5:8080=", "127.0.0.1", "x=127.0.0.1:notaport", "127.0.0.1:99999"] {
            #expect(throws: HarnessError.self, "\(bad)") { try BackendSpec(parsing: bad) }
        }
    }

    @Test func originNormalisesDefaultPorts() {
        #expect(Origin(parsing: "http://10.0.0.5:80")?.description == "http://10.0.0.5")
        #expect(Origin(parsing: "HTTPS://API.example:443/x")?.description == "https://api.example")
        #expect(Origin(parsing: "http://10.0.0.5:8080") == Origin(tls: false, host: "10.0.0.5", port: 8080))
    }

    @Test func assignsSpecsToRecordedOrigins() throws {
        let origins = [Origin(parsing: "http://10.0.0.5:8080")!, Origin(parsing: "http://10.0.0.6:8080")!]
        let specs = try [BackendSpec(parsing: "http://10.0.0.6:8080=127.0.0.1:9001"), BackendSpec(parsing: "127.0.0.1:9000")]
        let assigned = try Replayer.assign(specs, to: origins, recording: "r.log")
        #expect(assigned.map(\.listenPort) == [9000, 9001])
        // One recorded backend: the origin may be left out.
        #expect(try Replayer.assign([BackendSpec(parsing: "127.0.0.1:9")], to: [origins[0]], recording: "r").count == 1)
        // A recorded backend nobody plays, or an origin the recording never called, is a usage error.
        #expect(throws: HarnessError.self) { try Replayer.assign([], to: origins, recording: "r") }
        #expect(throws: HarnessError.self) {
            try Replayer.assign([BackendSpec(parsing: "http://10.9.9.9=127.0.0.1:1")], to: [origins[0]], recording: "r")
        }
    }

    @Test func speedShardAndHostHeaderFlags() throws {
        #expect(try ReplaySpeed(parsing: "1x") == .recorded(1))
        #expect(try ReplaySpeed(parsing: "2x") == .recorded(2))
        #expect(try ReplaySpeed(parsing: "max") == .max)
        #expect(throws: HarnessError.self) { try ReplaySpeed(parsing: "fast") }
        #expect(try Shard(parsing: "1/4") == Shard(index: 1, count: 4))
        #expect(throws: HarnessError.self) { try Shard(parsing: "4/4") }
        #expect(HostHeaderMode(parsing: "target") == .target)
        #expect(HostHeaderMode(parsing: "staging.example") == .value("staging.example"))
    }
}

struct BackendMatcherTests {
    func back(_ id: UInt64, _ method: String, _ target: String, front: UInt64?, body: String = "", status: UInt16 = 200) -> Exchange {
        Exchange(
            id: id, leg: .back, request: Request(method: method, target: target, body: Array(body.utf8)),
            response: Response(status: status), link: front.map { Link(frontID: $0, confidence: .exact) })
    }

    func served(_ m: BackendMatch) -> (UInt64, Link?)? {
        if case .matched(let e, let link, _) = m { return (e.id, link) }
        return nil
    }

    @Test func prefersTheExchangeLinkedToTheFrontInFlight() {
        let m = BackendMatcher(originNames: ["http://10.0.0.5:8080"])
        m.addRecorded(back(2, "GET", "/a", front: 1, status: 200), origin: 0)
        m.addRecorded(back(4, "GET", "/a", front: 3, status: 404), origin: 0)
        m.beginFront(originalID: 3, replayedID: 30)
        let r = served(m.match(origin: 0, method: "GET", target: "/a", body: []))
        #expect(r?.0 == 4)
        #expect(r?.1?.frontID == 30)
    }

    /// Two users load the same page at once: the one whose cookie arrived gets its own answer.
    @Test func sameRouteInFlightTwiceIsTiedByHeaders() {
        let m = BackendMatcher(originNames: ["b"])
        var anonymous = back(2, "GET", "/account", front: 1, status: 302)
        anonymous.request.headers = [HeaderField("Host", "b"), HeaderField("Accept", "*/*")]
        var signedIn = back(4, "GET", "/account", front: 3, status: 200)
        signedIn.request.headers = [HeaderField("Host", "b"), HeaderField("Accept", "*/*"), HeaderField("Cookie", "s=1")]
        m.addRecorded(anonymous, origin: 0)
        m.addRecorded(signedIn, origin: 0)
        m.beginFront(originalID: 1, replayedID: 10)
        m.beginFront(originalID: 3, replayedID: 30)
        let withCookie = [HeaderField("Host", "staging"), HeaderField("Accept", "*/*"), HeaderField("cookie", "s=1")]
        let first = served(m.match(origin: 0, method: "GET", target: "/account", body: [], headers: withCookie))
        #expect(first?.0 == 4 && first?.1?.frontID == 30)
        let second = served(m.match(origin: 0, method: "GET", target: "/account", body: [], headers: [HeaderField("Accept", "*/*")]))
        #expect(second?.0 == 2 && second?.1?.frontID == 10)
    }

    @Test func fallsBackToMethodPathQueryAndBodyInRecordedOrder() {
        let m = BackendMatcher(originNames: ["b"])
        m.addRecorded(back(2, "POST", "/f?x=1", front: nil, body: "one"), origin: 0)
        m.addRecorded(back(3, "POST", "/f?x=1", front: nil, body: "two"), origin: 0)
        m.addRecorded(back(4, "POST", "/f?x=1", front: nil, body: "one"), origin: 0)
        #expect(served(m.match(origin: 0, method: "POST", target: "/f?x=1", body: Array("one".utf8)))?.0 == 2)
        #expect(served(m.match(origin: 0, method: "POST", target: "/f?x=1", body: Array("one".utf8)))?.0 == 4)
        #expect(served(m.match(origin: 0, method: "POST", target: "/f?x=1", body: Array("two".utf8)))?.0 == 3)
        // Exhausted: the last answer is served again, marked as reused.
        if case .matched(let e, _, let reused) = m.match(origin: 0, method: "POST", target: "/f?x=1", body: Array("one".utf8)) {
            #expect(e.id == 4 && reused)
        } else {
            Issue.record("expected a reused match")
        }
        // Query, method and backend all count.
        #expect(served(m.match(origin: 0, method: "POST", target: "/f?x=2", body: Array("one".utf8))) == nil)
        #expect(served(m.match(origin: 0, method: "PUT", target: "/f?x=1", body: Array("one".utf8))) == nil)
        #expect(served(m.match(origin: 1, method: "POST", target: "/f?x=1", body: Array("one".utf8))) == nil)
    }

    @Test func unmatchedSaysWhatTheFrontInFlightExpected() {
        let m = BackendMatcher(originNames: ["http://10.0.0.5:8080"])
        m.addRecorded(back(2, "GET", "/app/login", front: 1), origin: 0)
        m.beginFront(originalID: 1, replayedID: 10)
        guard case .unmatched(let why, let link) = m.match(origin: 0, method: "GET", target: "/applogin", body: []) else {
            Issue.record("a trailing-slash mismatch must not match")
            return
        }
        #expect(why.contains("/applogin") && why.contains("expected GET /app/login"))
        #expect(link?.frontID == 10)
    }

    @Test func windowDropsBackExchangesOfFinishedAndSkippedFronts() {
        let m = BackendMatcher(originNames: ["b"], maxEntries: 3)
        m.addRecorded(back(2, "GET", "/a", front: 1), origin: 0)
        m.addRecorded(back(4, "GET", "/b", front: 3), origin: 0)
        #expect(m.count == 2)
        m.beginFront(originalID: 1, replayedID: 10)
        m.endFront(originalID: 1)
        m.dropFront(originalID: 3)
        #expect(m.count == 0)
        for i in 0..<10 { m.addRecorded(back(100 + UInt64(i), "GET", "/u\(i)", front: nil), origin: 0) }
        #expect(m.count == 3)
        #expect(served(m.match(origin: 0, method: "GET", target: "/u9", body: [])) != nil)
        #expect(served(m.match(origin: 0, method: "GET", target: "/u0", body: [])) == nil)
    }
}

struct ResponseRewriterTests {
    let rewriter = ResponseRewriter(
        recorded: Origin(parsing: "http://10.0.0.5:8080")!, aliases: ["backend.internal:8080"],
        listener: Origin(parsing: "http://127.0.0.1:9000")!, dateShiftSeconds: 86400)

    @Test func rewritesLocationContentLocationAndCookieDomain() {
        let out = rewriter.rewrite([
            HeaderField("Location", "http://10.0.0.5:8080/app/welcome?x=1"),
            HeaderField("Content-Location", "http://backend.internal:8080/app/doc"),
            HeaderField("Set-Cookie", "sid=1; Domain=10.0.0.5; Path=/"),
            HeaderField("Set-Cookie", "b=2; domain=.backend.internal; Path=/"),
            HeaderField("Set-Cookie", "c=3; Domain=www.example.com"),
            HeaderField("Link", "<http://10.0.0.5:8080/x>"),
        ])
        #expect(out[0].value == "http://127.0.0.1:9000/app/welcome?x=1")
        #expect(out[1].value == "http://127.0.0.1:9000/app/doc")
        #expect(out[2].value == "sid=1; Domain=127.0.0.1; Path=/")
        #expect(out[3].value == "b=2; domain=.127.0.0.1; Path=/")
        #expect(out[4].value == "c=3; Domain=www.example.com")
        #expect(out[5].value == "<http://10.0.0.5:8080/x>")
    }

    @Test func leavesOtherHostsAndLookalikesAlone() {
        #expect(rewriter.rewriteURL("http://www.example.com/app/") == "http://www.example.com/app/")
        #expect(rewriter.rewriteURL("http://10.0.0.5:80801/x") == "http://10.0.0.5:80801/x")
        #expect(rewriter.rewriteURL("https://10.0.0.5:8080/x") == "https://10.0.0.5:8080/x")
        #expect(rewriter.rewriteURL("/relative") == "/relative")
        let defaultPort = ResponseRewriter(recorded: Origin(parsing: "http://10.0.0.5")!, listener: Origin(parsing: "http://127.0.0.1:9000")!)
        #expect(defaultPort.rewriteURL("http://10.0.0.5/x") == "http://127.0.0.1:9000/x")
        #expect(defaultPort.rewriteURL("http://10.0.0.5:80/x") == "http://127.0.0.1:9000/x")
    }

    @Test func refreshesDatesByTheShift() {
        let out = rewriter.rewrite([
            HeaderField("Date", "Sun, 06 Nov 1994 08:49:37 GMT"), HeaderField("Expires", "0"),
            HeaderField("Last-Modified", "Sat, 31 Dec 1994 23:59:59 GMT"),
        ])
        #expect(out[0].value == "Mon, 07 Nov 1994 08:49:37 GMT")
        #expect(out[1].value == "0")
        #expect(out[2].value == "Sun, 01 Jan 1995 23:59:59 GMT")
        #expect(HTTPDate.parse("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
        #expect(HTTPDate.format(951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
    }
}

struct ReplaySelectionTests {
    func exchange(_ id: UInt64, connection: UInt64, method: String = "GET", target: String = "/") -> Exchange {
        Exchange(id: id, leg: .front, connection: ConnectionInfo(id: connection), request: Request(method: method, target: target))
    }

    @Test func shardsPartitionConnectionsDeterministically() throws {
        let shards = try (0..<4).map { try ReplaySelection(shard: Shard(index: $0, count: 4)) }
        var counts = [0, 0, 0, 0]
        for c in UInt64(1)...4000 {
            let owners = shards.indices.filter { shards[$0].includesConnection(c) }
            #expect(owners.count == 1)
            counts[owners[0]] += 1
            // Same answer on every call (and every machine: the hash is fixed).
            #expect(shards[owners[0]].includesConnection(c))
        }
        #expect(counts.allSatisfy { $0 > 800 && $0 < 1200 })
        // The hash is pinned: shards must agree across machines and releases.
        #expect(ReplaySelection.mix(42) == 0xbdd732262feb6e95)
    }

    @Test func sampleKeepsWholeConnectionsAndRoughlyThePercentage() throws {
        let s = try ReplaySelection(samplePercent: 25)
        let kept = (UInt64(1)...8000).filter { s.includesConnection($0) }.count
        #expect(kept > 1700 && kept < 2300)
        for c in UInt64(1)...200 {
            let a = s.includes(exchange(1, connection: c, target: "/a"))
            let b = s.includes(exchange(2, connection: c, target: "/b"))
            #expect(a == b)
        }
        #expect(try ReplaySelection(samplePercent: 0).includesConnection(7) == false)
        #expect(try ReplaySelection(samplePercent: 100).includesConnection(7))
    }

    @Test func pathAndMethodFilters() throws {
        let s = try ReplaySelection(matchPath: "^/api/", methods: ["post"])
        #expect(s.includes(exchange(1, connection: 1, method: "POST", target: "/api/x?y=1")))
        #expect(!s.includes(exchange(2, connection: 1, method: "GET", target: "/api/x")))
        #expect(!s.includes(exchange(3, connection: 1, method: "POST", target: "/web/api/")))
        #expect(throws: HarnessError.self) { try ReplaySelection(matchPath: "([") }
    }

    @Test func planCountsSelectedRequestsPerConnectionAndFindsBackends() throws {
        let dir = TempDir("replay-plan")
        let path = dir.file("r.log")
        try ReplayRecordingBuilder.scriptedSession().write(to: path)
        let all = try RecordingPlan.build(path: path, selection: ReplaySelection())
        #expect(all.total == 6)
        #expect(all.ends.count == 6)
        #expect(all.ends.lastCount == 2)
        #expect(all.ends.isLast(5))
        #expect(all.backendOrigins.map(\.description) == ["http://10.0.0.5:8080"])
        #expect(all.frontEndpoints.contains("10.0.0.1:80"))
        let limited = try RecordingPlan.build(path: path, selection: ReplaySelection(limit: 3))
        #expect(limited.total == 3)
        let posts = try RecordingPlan.build(path: path, selection: ReplaySelection(methods: ["POST"]))
        #expect(posts.total == 1)
        #expect(Replayer.originalHostConflict(target: Origin(parsing: "http://www.example.com")!, plan: all) != nil)
        #expect(Replayer.originalHostConflict(target: Origin(parsing: "http://10.0.0.1:80")!, plan: all) != nil)
        #expect(Replayer.originalHostConflict(target: Origin(parsing: "http://127.0.0.1:8080")!, plan: all) == nil)
    }
}
