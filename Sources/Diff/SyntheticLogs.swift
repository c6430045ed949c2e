import HarnessCore

/// Generates an original recording and a matching replay result of `count` front exchanges (each
/// with one backend call) for benchmarks: realistic headers, small JSON bodies, and a sprinkling
/// of real regressions (one pair in 1000 leaks a backend Location, one in 500 drops a header).
public enum SyntheticLogs {
    public static func write(originalPath: String, resultPath: String, count: Int) throws {
        let start: Int64 = 1_750_000_000_000_000
        let offset: Int64 = 3_600_000_000
        let o = try LogWriter(path: originalPath, header: LogHeader(metadata: [Annotation("source", "record")]))
        let r = try LogWriter(path: resultPath, header: LogHeader(metadata: [
            Annotation("source", "replay"), Annotation("recording", originalPath), Annotation("target", "http://127.0.0.1:8081"),
            Annotation("origin_map", "http://www.example.com=http://127.0.0.1:8081;http://10.0.0.5:8080=http://127.0.0.1:9000"),
            Annotation("started_us", "\(start + offset)"), Annotation("recording_started_us", "\(start)"),
        ]))
        let routes = ["/api/users/", "/api/orders/", "/static/app.js?v=", "/api/items/", "/login?next=/a/"]
        for i in 0..<count {
            let t = start + Int64(i) * 1_000
            let route = routes[i % routes.count]
            let path = route + "\(i % 100_000)"
            let body = Array(#"{"id":\#(i % 100_000),"name":"item \#(i % 977)","price":\#(i % 13).5,"tags":["a","b"]}"#.utf8)
            func front(id: UInt64, at: Int64, host: String, client: String, replayOf: UInt64?, leak: Bool, drop: Bool) -> Exchange {
                var headers: Headers = [
                    HeaderField("Date", "Mon, 23 Jun 2025 10:00:00 GMT"), HeaderField("Server", "Apache/2.4.62 (Debian)"),
                    HeaderField("Content-Type", "application/json"), HeaderField("Cache-Control", "no-cache"),
                    HeaderField("X-Request-Id", "\(id)"), HeaderField("Content-Length", "\(body.count)"),
                    HeaderField("Connection", "keep-alive"),
                ]
                if !drop { headers.append(HeaderField("X-Frame-Options", "DENY")) }
                if i % 50 == 0 { headers.append(HeaderField("Location", leak ? "http://10.0.0.5:8080/store/x" : "http://\(host)/x")) }
                return Exchange(
                    id: id, leg: .front,
                    connection: ConnectionInfo(id: id, client: Endpoint(host: client, port: 40_000), server: Endpoint(host: "127.0.0.1", port: 8081)),
                    timing: Timing(requestStart: at, requestEnd: at + 50, responseStart: at + 900 + Int64(i % 7) * 100, responseEnd: at + 1_000 + Int64(i % 7) * 100),
                    request: Request(method: "GET", target: path, headers: [
                        HeaderField("Host", host), HeaderField("User-Agent", "bench/1"), HeaderField("Accept", "*/*"),
                    ]),
                    response: Response(status: 200, reason: "OK", headers: headers, body: body), replayOf: replayOf)
            }
            func back(id: UInt64, front: UInt64, host: String, client: String, replayOf: UInt64?) -> Exchange {
                Exchange(
                    id: id, leg: .back,
                    connection: ConnectionInfo(id: id, client: Endpoint(host: "127.0.0.1", port: 41_000), server: Endpoint(host: "10.0.0.5", port: 8080)),
                    timing: Timing(requestStart: t + 100, requestEnd: t + 150, responseStart: t + 700, responseEnd: t + 800),
                    request: Request(method: "GET", target: "/store" + path, headers: [
                        HeaderField("Host", host), HeaderField("X-Forwarded-For", client), HeaderField("X-Forwarded-Host", host),
                        HeaderField("User-Agent", "bench/1"),
                    ]),
                    response: Response(status: 200, headers: [HeaderField("Content-Type", "application/json")], body: body),
                    link: Link(frontID: front, confidence: .exact), replayOf: replayOf)
            }
            let ofid = UInt64(2 * i + 1), obid = UInt64(2 * i + 2)
            try o.append(back(id: obid, front: ofid, host: "www.example.com", client: "203.0.113.9", replayOf: nil))
            try o.append(front(id: ofid, at: t, host: "www.example.com", client: "203.0.113.9", replayOf: nil, leak: false, drop: false))
            let rfid = UInt64(10_000_000_000 + 2 * i + 1), rbid = rfid + 1
            try r.append(back(id: rbid, front: rfid, host: "127.0.0.1:8081", client: "127.0.0.1", replayOf: obid))
            try r.append(front(
                id: rfid, at: t + offset, host: "127.0.0.1:8081", client: "127.0.0.1", replayOf: ofid, leak: i % 1_000 == 0,
                drop: i % 500 == 7))
        }
        try o.close()
        try r.close()
    }
}
