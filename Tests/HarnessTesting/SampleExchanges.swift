public import HarnessCore

/// Realistic exchanges for tests and benchmarks: a proxy host's front leg and the linked back leg.
public enum SampleExchanges {
    /// A front exchange and its linked back exchange, `index` varies paths, ids, bodies and times.
    public static func pair(index: Int, frontID: UInt64, backID: UInt64, start: Int64 = 1_700_000_000_000_000)
        -> (front: Exchange, back: Exchange)
    {
        let t = start + Int64(index) * 1_500
        let path = index % 3 == 0 ? "/store/item/\(index)" : (index % 3 == 1 ? "/login" : "/static/app.js")
        let method = index % 3 == 1 ? "POST" : "GET"
        let reqBody: [UInt8] = method == "POST" ? Array("user=alice&password=secret\(index % 7)".utf8) : []
        let respBody: [UInt8] =
            index % 3 == 2
            ? Array(String(repeating: "console.log('static asset');\n", count: 40).utf8)
            : Array("{\"id\":\(index),\"name\":\"item \(index)\",\"tags\":[\"a\",\"b\"]}".utf8)
        var frontHeaders: Headers = [
            HeaderField("Host", "www.example.com"), HeaderField("User-Agent", "curl/7.88.1"),
            HeaderField("Accept", "*/*"), HeaderField("Cookie", "SESSION=abc\(index % 5)"),
        ]
        if method == "POST" {
            frontHeaders.append(HeaderField("Content-Type", "application/x-www-form-urlencoded"))
            frontHeaders.append(HeaderField("Content-Length", String(reqBody.count)))
        }
        var respHeaders: Headers = [
            HeaderField("Date", "Tue, 14 Nov 2023 22:13:20 GMT"), HeaderField("Server", "Apache/2.4.57 (Debian)"),
            HeaderField("Content-Type", index % 3 == 2 ? "application/javascript" : "application/json"),
            HeaderField("Content-Length", String(respBody.count)), HeaderField("X-Trace-Custom", "t-\(index)"),
        ]
        var status: UInt16 = 200
        if method == "POST" {
            status = 302
            respHeaders.append(HeaderField("Location", "http://www.example.com/store/"))
            respHeaders.append(HeaderField("Set-Cookie", "SESSION=abc\(index % 5); Path=/; HttpOnly"))
        }
        let frontConn = ConnectionInfo(
            id: UInt64(index / 4 + 1), client: Endpoint(host: "192.0.2.\(index % 200 + 1)", port: UInt16(40000 + index % 20000)),
            server: Endpoint(host: "203.0.113.10", port: 80))
        let backConn = ConnectionInfo(
            id: UInt64(1_000_000 + index / 4), client: Endpoint(host: "203.0.113.10", port: UInt16(50000 + index % 10000)),
            server: Endpoint(host: "10.0.0.5", port: 8080))
        var backHeaders = frontHeaders
        backHeaders.set("Host", "10.0.0.5:8080")
        backHeaders.append(HeaderField("X-Forwarded-For", frontConn.client.host))
        backHeaders.append(HeaderField("X-Forwarded-Host", "www.example.com"))
        backHeaders.append(HeaderField("X-Forwarded-Server", "www.example.com"))
        var backRespHeaders = respHeaders
        if method == "POST" { backRespHeaders.set("Location", "http://10.0.0.5:8080/store/") }
        let backPath = path.hasPrefix("/store") ? path : "/app" + path
        let front = Exchange(
            id: frontID, leg: .front, connection: frontConn, sequence: UInt32(index % 4),
            timing: Timing(requestStart: t, requestEnd: t + 10, responseStart: t + 900, responseEnd: t + 950),
            request: Request(method: method, target: path, headers: frontHeaders, body: reqBody),
            response: Response(status: status, reason: status == 200 ? "OK" : "Found", headers: respHeaders, body: respBody),
            framing: [.responseContentLength, .keepAlive])
        let back = Exchange(
            id: backID, leg: .back, connection: backConn, sequence: 0,
            timing: Timing(requestStart: t + 100, requestEnd: t + 110, responseStart: t + 800, responseEnd: t + 850),
            request: Request(method: method, target: backPath, headers: backHeaders, body: reqBody),
            response: Response(status: status, reason: status == 200 ? "OK" : "Found", headers: backRespHeaders, body: respBody),
            framing: [.responseContentLength], link: Link(frontID: frontID, confidence: .exact))
        return (front, back)
    }

    /// `count` front exchanges, each followed by its back exchange (ids 1, 2, 3, ...).
    public static func session(count: Int) -> [Exchange] {
        var out: [Exchange] = []
        out.reserveCapacity(count * 2)
        for i in 0..<count {
            let p = pair(index: i, frontID: UInt64(2 * i + 1), backID: UInt64(2 * i + 2))
            out.append(p.front)
            out.append(p.back)
        }
        return out
    }
}
