import HarnessCore

/// The scripted user session the demo drives through the "production" proxy: browse, log in
/// (redirect + cookie), call the API, fetch a chunked report and a 1 MB download, upload, follow a
/// moved page. Several keep-alive connections, in order within each.
enum DemoSession {
    static let host = "www.example.com"

    static func exchanges(start: Int64) -> [Exchange] {
        let browser: Headers = [
            HeaderField("Host", host), HeaderField("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) demo"),
            HeaderField("Accept", "text/html,application/json;q=0.9,*/*;q=0.8"),
        ]
        func request(_ method: String, _ target: String, cookie: Bool = false, body: String? = nil) -> Request {
            var h = browser
            if cookie { h.append(HeaderField("Cookie", "SESSION=demo-alice")) }
            var bytes: [UInt8] = []
            if let body {
                bytes = Array(body.utf8)
                h.append(HeaderField("Content-Type", "application/x-www-form-urlencoded"))
                h.append(HeaderField("Content-Length", String(bytes.count)))
            }
            return Request(method: method, target: target, headers: h, body: bytes)
        }
        let upload = String(repeating: "x", count: 300_000)
        let connections: [[Request]] = [
            [request("GET", "/app/"), request("GET", "/app/login"),
             request("POST", "/app/login", body: "user=alice&password=wonderland"),
             request("GET", "/app/account", cookie: true)],
            [request("GET", "/app/account")],
            [request("GET", "/app/api/items/17", cookie: true), request("GET", "/app/api/items/42", cookie: true),
             request("GET", "/app/api/items/1001", cookie: true)],
            [request("GET", "/app/report", cookie: true), request("GET", "/app/download", cookie: true)],
            [request("POST", "/app/upload", cookie: true, body: upload), request("GET", "/app/old-catalogue")],
            [request("GET", "/app/missing-page")],
        ]
        var out: [Exchange] = []
        var id: UInt64 = 1
        var t = start
        for (c, requests) in connections.enumerated() {
            let conn = ConnectionInfo(
                id: UInt64(c + 1), client: Endpoint(host: "192.0.2.\(10 + c)", port: UInt16(50000 + c)),
                server: Endpoint(host: "203.0.113.10", port: 80))
            for (s, r) in requests.enumerated() {
                out.append(Exchange(id: id, leg: .front, connection: conn, sequence: UInt32(s),
                                    timing: Timing(requestStart: t), request: r))
                id += 1
                t += 2_000
            }
        }
        return out
    }
}
