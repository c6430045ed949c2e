import Foundation
import HarnessCore
import HarnessTesting
import Testing

@Suite struct FormatRoundTripTests {
    /// What HAR and GoReplay can carry: method, target, status, headers (order, case), bodies.
    static func essentials(_ e: Exchange) -> [String] {
        [e.request.method, e.request.target, String(e.response?.status ?? 0), e.response?.reason ?? "",
         e.request.headers.map { "\($0.name): \($0.value)" }.joined(separator: "|"),
         (e.response?.headers ?? []).map { "\($0.name): \($0.value)" }.joined(separator: "|"),
         Base64.encode(e.request.body), Base64.encode(e.response?.body ?? [])]
    }

    static func mixedExchanges() -> [Exchange] {
        var list = SampleExchanges.session(count: 40)
        // Binary body, chunked response with trailers, 100-continue, no response.
        list.append(Exchange(
            id: 500, leg: .front, timing: Timing(requestStart: 1_700_000_100_000_001, requestEnd: 1_700_000_100_000_002, responseStart: 1_700_000_100_000_900, responseEnd: 1_700_000_100_001_000),
            request: Request(method: "PUT", target: "/bin?x=1&y", headers: [HeaderField("Host", "h"), HeaderField("Content-Length", "256"), HeaderField("Expect", "100-continue")], body: (0..<256).map { UInt8($0) }),
            response: Response(status: 200, reason: "OK", headers: [HeaderField("Transfer-Encoding", "chunked"), HeaderField("content-type", "application/octet-stream")],
                               body: [0, 1, 2, 255, 254], trailers: [HeaderField("X-Sum", "5")], interim: [InterimResponse(status: 100, reason: "Continue")]),
            framing: [.responseChunked, .continueSeen]))
        list.append(Exchange(id: 501, timing: Timing(requestStart: 1_700_000_200_000_000), request: Request(method: "GET", target: "/hang", headers: [HeaderField("Host", "h")]), flags: Flags(incomplete: true)))
        return list
    }

    @Test func harRoundTripIsLossless() throws {
        let dir = TempDir()
        let exchanges = Self.mixedExchanges()
        let exporter = try HARExporter(path: dir.file("x.har"))
        for e in exchanges { try exporter.append(e) }
        try exporter.close()
        // It is valid JSON with the HAR shape.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("x.har")))) as? [String: Any]
        let entries = (json?["log"] as? [String: Any])?["entries"] as? [Any]
        #expect(entries?.count == exchanges.count)
        let back = try HARImporter.read(path: dir.file("x.har"))
        #expect(back == exchanges, "our custom fields must restore every field")
    }

    @Test(arguments: ["x.gor", "x.gor.gz"])
    func goReplayRoundTripKeepsWhatTheFormatHolds(name: String) throws {
        let dir = TempDir()
        let exchanges = Self.mixedExchanges()
        let w = try GoReplayFormat.Writer(path: dir.file(name))
        for e in exchanges { try w.append(e) }
        try w.close()
        let raw = try Data(contentsOf: URL(fileURLWithPath: dir.file(name)))
        if name.hasSuffix(".gz") { #expect(raw.prefix(2) == Data([0x1f, 0x8b]), "a .gz name must give a gzip file") }
        let r = try GoReplayFormat.Reader(path: dir.file(name))
        var back: [Exchange] = []
        while let e = try r.next() { back.append(e) }
        #expect(back.count == exchanges.count)
        for (a, b) in zip(exchanges, back) {
            #expect(Self.essentials(a) == Self.essentials(b))
            #expect(a.timing.requestStart == b.timing.requestStart, "timestamps survive at GoReplay's precision")
            if a.response != nil { #expect(a.timing.responseStart == b.timing.responseStart) }
            #expect(a.response?.trailers == b.response?.trailers)
            #expect(a.response?.interim.map(\.status) == b.response?.interim.map(\.status))
        }
        // The file is the GoReplay layout: header lines and the monkey separator.
        let text = String(decoding: try InputStream(path: dir.file(name)).readAll(), as: UTF8.self)
        #expect(text.hasPrefix("1 "))
        #expect(text.contains("\n🐵🙈🙉\n2 "))
    }

    @Test func goReplayFileWrittenByHandImports() throws {
        // The layout GoReplay's `--output-file` writes: request (latency -1), then original response.
        let dir = TempDir()
        let gor = "1 a1b2c3d4e5f6a1b2c3d4e5f6 1700000000000000000 -1\nPOST /api?q=1 HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\n🐵🙈🙉\n"
            + "2 a1b2c3d4e5f6a1b2c3d4e5f6 1700000000002000000 2000000\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok\n🐵🙈🙉\n"
            + "1 ffff00000000000000000001 1700000000005000000 -1\nGET /lost HTTP/1.1\r\nHost: example.com\r\n\r\n\n🐵🙈🙉\n"
        try Data(gor.utf8).write(to: URL(fileURLWithPath: dir.file("in.gor")))
        let r = try GoReplayFormat.Reader(path: dir.file("in.gor"))
        var back: [Exchange] = []
        while let e = try r.next() { back.append(e) }
        #expect(back.count == 2)
        #expect(back[0].request.method == "POST" && back[0].request.target == "/api?q=1")
        #expect(back[0].request.body == Array("abc".utf8))
        #expect(back[0].response?.status == 201 && back[0].response?.body == Array("ok".utf8))
        #expect(back[0].timing.requestStart == 1_700_000_000_000_000)
        #expect(back[0].timing.responseStart == 1_700_000_000_002_000)
        #expect(back[0].annotation("gor_id") == "a1b2c3d4e5f6a1b2c3d4e5f6")
        #expect(back[1].response == nil && back[1].flags.incomplete)
    }

    @Test func malformedGoReplayNamesThePayload() throws {
        let dir = TempDir()
        try Data("1 id notanumber -1\nGET / HTTP/1.1\r\n\r\n\n🐵🙈🙉\n".utf8).write(to: URL(fileURLWithPath: dir.file("bad.gor")))
        let r = try GoReplayFormat.Reader(path: dir.file("bad.gor"))
        let error = #expect(throws: HarnessError.self) { _ = try r.next() }
        #expect(error?.description.contains("payload #1") == true)
        #expect(error?.description.contains("bad.gor") == true)
    }

    @Test func mitmproxyHARImports() throws {
        // Written by mitmproxy 11 (`mitmdump --mode reverse:... --set hardump=`) from real curl traffic.
        let path = TestEnvironment.repositoryRoot + "/recordings/mitmproxy-11-sample.har"
        let exchanges = try HARImporter.read(path: path)
        #expect(exchanges.count == 5)
        #expect(exchanges.map(\.request.method) == ["GET", "GET", "GET", "POST", "GET"])
        #expect(exchanges.map(\.request.target) == ["/data.json", "/big.txt", "/login", "/post", "/missing"])
        #expect(exchanges.map { $0.response?.status } == [200, 200, 302, 201, 404])
        #expect(exchanges[0].response.map { String(decoding: $0.body, as: UTF8.self) }?.contains("\"hello\"") == true)
        #expect(exchanges[2].response?.headers.first("Location") == "http://127.0.0.1:18080/data.json")
        #expect(exchanges[3].request.body == Array("a=1&b=2".utf8))
        // mitmproxy stores decoded bodies: the gzip'd one must not claim Content-Encoding any more.
        #expect(exchanges[1].response?.headers.first("Content-Encoding") == nil)
        #expect(exchanges[1].annotation("har_decoded") == "gzip")
        #expect(exchanges.allSatisfy { $0.timing.requestStart > 1_700_000_000_000_000 })
        // And it survives log -> HAR -> log.
        let dir = TempDir()
        try LogFile.write(exchanges, to: dir.file("m.log"))
        let exporter = try HARExporter(path: dir.file("m.har"))
        for e in try LogFile.readAll(dir.file("m.log")).exchanges { try exporter.append(e) }
        try exporter.close()
        #expect(try HARImporter.read(path: dir.file("m.har")) == exchanges)
    }

    @Test func iso8601RoundTrips() {
        for v: Int64 in [0, 1_700_000_000_123_456, 951_782_400_000_001, 4_102_444_800_999_999] {
            #expect(ISO8601.parse(ISO8601.format(micros: v)) == v)
        }
        #expect(ISO8601.parse("2026-11-23T00:54:41.501686+00:00") == ISO8601.parse("2026-11-23T00:54:41.501686Z"))
        #expect(ISO8601.parse("2026-11-23T01:54:41.5+01:00") == 1_795_395_281_500_000)
        #expect(ISO8601.parse("garbage") == nil)
    }

    /// Found by FuzzHARImport: a timing of 1e300 ms trapped converting to Int64. Hostile timings
    /// import as 0 or a clamped value, never a crash.
    @Test func hostileTimingsDoNotTrap() throws {
        let dir = TempDir("har-timing")
        let har = #"{"log": {"version": "1.2", "creator": {"name": "x"}, "entries": [{"startedDateTime": "2024-01-01T00:00:00Z", "time": 1, "request": {"method": "GET", "url": "http://a/x", "httpVersion": "HTTP/1.1", "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0}, "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [], "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1, "bodySize": 0}, "cache": {}, "timings": {"send": 1e300, "wait": -5, "receive": 1}}]}}"#
        try Data(har.utf8).write(to: URL(fileURLWithPath: dir.file("t.har")))
        let exchanges = try HARImporter.read(path: dir.file("t.har"))
        #expect(exchanges.count == 1)
    }
}
