/// Deterministic, realistic-looking proxy traffic for benchmarks, demos and load tests.
///
/// Front exchanges as browsers and API clients send them through a reverse proxy, each with the
/// back exchange the proxy sent to its backend (`http://10.0.0.5:8080`), linked exactly: varied
/// paths, query strings, cookies, user agents, JSON bodies of varying size, static assets (the
/// same bytes many times), redirects and form POSTs. The same seed gives the same traffic.
public struct SyntheticTraffic {
    private var rng: SplitMix64
    private var nextID: UInt64 = 1
    private var connection: UInt64 = 0
    private var left = 0
    private var clock: Int64
    private var client = Endpoint(host: "198.51.100.1", port: 40000)
    private var backConnection: UInt64 = 1_000_000
    private var sequence: UInt32 = 0
    private let assets: [(String, String, [UInt8])]
    private let uniqueBodies: Bool

    /// `uniqueBodies`: every static asset body differs (a worst case for the log's body dedup).
    public init(seed: UInt64 = 42, start: Int64 = 1_700_000_000_000_000, uniqueBodies: Bool = false) {
        self.uniqueBodies = uniqueBodies
        rng = SplitMix64(seed: seed)
        clock = start
        var gen = SplitMix64(seed: seed ^ 0x5eed)
        assets = (0..<24).map { i in
            let kind = i % 3
            let size = 2_000 + Int(gen.next() % 30_000)
            var body = [UInt8]()
            body.reserveCapacity(size)
            let words = ["function", "return", "var", "const", "color:", "margin", "div", ".btn", "{", "}", ";", "\n"]
            while body.count < size { body += Array(words[Int(gen.next() % UInt64(words.count))].utf8) + [32] }
            let path = ["/static/js/app.\(i).js", "/static/css/site.\(i).css", "/static/img/logo\(i).svg"][kind]
            let type = ["application/javascript", "text/css", "image/svg+xml"][kind]
            return (path, type, body)
        }
    }

    /// The next front exchange and the back exchange it caused.
    public mutating func next() -> (front: Exchange, back: Exchange) {
        if left == 0 {
            connection += 1
            backConnection += 1
            left = 1 + Int(rng.next() % 12)
            sequence = 0
            client = Endpoint(host: "198.51.100.\(1 + rng.next() % 250)", port: UInt16(32768 + rng.next() % 28000))
        }
        left -= 1
        clock += Int64(200 + rng.next() % 3000)
        let start = clock
        let kind = rng.next() % 100
        let agents = [
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
            "curl/7.88.1", "okhttp/4.12.0",
        ]
        let ua = agents[Int(connection % UInt64(agents.count))]
        let session = String(connection &* 0x9E3779B97F4A7C15, radix: 16)
        var method = "GET"
        var target: String
        var reqBody: [UInt8] = []
        var status: UInt16 = 200
        var reason = "OK"
        var respBody: [UInt8]
        var contentType = "application/json"
        var extraResp: Headers = []
        var extraReq: Headers = []
        if kind < 45 {
            let a = assets[Int(rng.next() % UInt64(assets.count))]
            target = a.0
            respBody = a.2
            if uniqueBodies { respBody += Array("\n/* build \(nextID) \(rng.next()) */\n".utf8) }
            contentType = a.1
            extraResp.append(HeaderField("Cache-Control", "public, max-age=31536000"))
            extraResp.append(HeaderField("ETag", "\"\(String(a.2.count, radix: 16))-5f3a\""))
        } else if kind < 80 {
            let id = rng.next() % 100_000
            target = "/api/v1/items/\(id)?fields=name,price&lang=en"
            var json = "{\"id\":\(id),\"name\":\"Item \(id)\",\"price\":\(rng.next() % 10000).\(rng.next() % 100),\"tags\":["
            json += (0..<Int(rng.next() % 6)).map { "\"tag\($0)\"" }.joined(separator: ",")
            json += "],\"stock\":\(rng.next() % 500),\"updated\":\"2023-11-14T22:\(10 + rng.next() % 50):00Z\"}"
            respBody = Array(json.utf8)
            extraReq.append(HeaderField("Accept", "application/json"))
        } else if kind < 90 {
            method = "POST"
            target = "/login"
            reqBody = Array("username=user\(rng.next() % 1000)&password=pw\(rng.next() % 100000)&remember=1".utf8)
            status = 302
            reason = "Found"
            respBody = []
            contentType = "text/html; charset=iso-8859-1"
            extraReq.append(HeaderField("Content-Type", "application/x-www-form-urlencoded"))
            extraReq.append(HeaderField("Content-Length", String(reqBody.count)))
            extraResp.append(HeaderField("Location", "http://www.example.com/account/"))
            extraResp.append(HeaderField("Set-Cookie", "SESSION=\(session); Path=/; HttpOnly; SameSite=Lax"))
        } else if kind < 97 {
            target = "/account/orders?page=\(rng.next() % 20)"
            let rows = (0..<Int(3 + rng.next() % 20)).map { "<tr><td>order \($0)</td><td>\(rng.next() % 1000)</td></tr>" }
            respBody = Array(("<!DOCTYPE html><html><head><title>Orders</title></head><body><table>" + rows.joined() + "</table></body></html>").utf8)
            contentType = "text/html; charset=UTF-8"
        } else {
            target = "/missing/\(rng.next() % 1000)"
            status = 404
            reason = "Not Found"
            respBody = Array("<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n</body></html>\n".utf8)
            contentType = "text/html; charset=iso-8859-1"
        }
        var reqHeaders: Headers = [
            HeaderField("Host", "www.example.com"), HeaderField("User-Agent", ua),
            HeaderField("Accept-Encoding", "gzip, deflate, br"), HeaderField("Accept-Language", "en-US,en;q=0.9"),
            HeaderField("Cookie", "SESSION=\(session); _ga=GA1.2.\(connection).1700000000"),
        ]
        reqHeaders += extraReq
        var respHeaders: Headers = [
            HeaderField("Date", HTTPDate.format(start / 1_000_000)), HeaderField("Server", "Apache/2.4.57 (Debian)"),
            HeaderField("Content-Type", contentType), HeaderField("Content-Length", String(respBody.count)),
            HeaderField("X-Request-Id", String(rng.next(), radix: 16)),
        ]
        respHeaders += extraResp
        let frontID = nextID
        let backID = nextID + 1
        nextID += 2
        let frontConn = ConnectionInfo(id: connection, client: client, server: Endpoint(host: "203.0.113.10", port: 80))
        let backConn = ConnectionInfo(
            id: backConnection, client: Endpoint(host: "10.0.0.2", port: UInt16(40000 + backConnection % 20000)),
            server: Endpoint(host: "10.0.0.5", port: 8080))
        let backend = Int64(300 + rng.next() % 20_000)
        let front = Exchange(
            id: frontID, leg: .front, connection: frontConn, sequence: sequence,
            timing: Timing(requestStart: start, requestEnd: start + 40, responseStart: start + backend + 250, responseEnd: start + backend + 300 + Int64(respBody.count / 100)),
            request: Request(method: method, target: target, headers: reqHeaders, body: reqBody),
            response: Response(status: status, reason: reason, headers: respHeaders, body: respBody),
            framing: method == "POST" ? [.requestContentLength, .responseContentLength, .keepAlive] : [.responseContentLength, .keepAlive])
        var backReq = reqHeaders
        backReq.set("Host", "10.0.0.5:8080")
        backReq.append(HeaderField("X-Forwarded-For", client.host))
        backReq.append(HeaderField("X-Forwarded-Host", "www.example.com"))
        backReq.append(HeaderField("X-Forwarded-Server", "www.example.com"))
        backReq.append(HeaderField("Connection", "Keep-Alive"))
        var backResp = respHeaders
        if let loc = backResp.first("Location") {
            backResp.set("Location", loc.replacingPrefix("http://www.example.com", with: "http://10.0.0.5:8080"))
        }
        let back = Exchange(
            id: backID, leg: .back, connection: backConn, sequence: sequence,
            timing: Timing(requestStart: start + 120, requestEnd: start + 150, responseStart: start + backend + 100, responseEnd: start + backend + 150),
            request: Request(method: method, target: target, headers: backReq, body: reqBody),
            response: Response(status: status, reason: reason, headers: backResp, body: respBody),
            framing: front.framing, link: Link(frontID: frontID, confidence: .exact))
        sequence += 1
        return (front, back)
    }
}

/// A small, fast, seedable generator (SplitMix64) so synthetic traffic is reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension String {
    /// `self` with `prefix` replaced by `replacement` when it starts with it.
    public func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}
