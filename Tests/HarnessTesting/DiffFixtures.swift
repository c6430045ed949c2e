public import HarnessCore
import Foundation

/// Builds original recordings and replay result logs in memory for diff tests: one healthy pair
/// per call, then a mutation turns it into one of the seeds' pitfalls.
///
/// The original: client 203.0.113.9 -> proxy www.example.com:80 (front), proxy -> backend
/// 10.0.0.5:8080 (back, `link.frontID` = original front). The replay: target 127.0.0.1:8081,
/// simulated backend 127.0.0.1:9000, header `origin_map` and time offset as the replayer writes.
public final class DiffFixtureBuilder {
    public static let frontOrigin = "http://www.example.com"
    public static let target = "http://127.0.0.1:8081"
    public static let backendOrigin = "http://10.0.0.5:8080"
    public static let listener = "http://127.0.0.1:9000"
    /// The replay ran one day after the recording.
    public static let offsetMicros: Int64 = 86_400_000_000
    public static let recordingStart: Int64 = 1_750_000_000_000_000

    public private(set) var original: [Exchange] = []
    public private(set) var result: [Exchange] = []
    private var nextOriginalID: UInt64 = 1
    private var nextResultID: UInt64 = 1_000_001
    private var clock: Int64 = DiffFixtureBuilder.recordingStart

    public init() {}

    /// One pair's four exchanges, mutable before they are appended.
    public struct Pair {
        public var originalFront: Exchange
        public var originalBacks: [Exchange]
        public var replayedFront: Exchange
        public var replayedBacks: [Exchange]
    }

    public static func httpDate(_ micros: Int64) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: Date(timeIntervalSince1970: Double(micros) / 1_000_000))
    }

    /// Adds a healthy pair for `GET path` (backend path `/store` + path minus `/app`), then lets
    /// `mutate` change it. Returns the original front id.
    @discardableResult
    public func add(
        method: String = "GET", path: String = "/app/items/42", status: UInt16 = 200,
        contentType: String = "application/json", body: String = #"{"id":42,"name":"widget","tags":["a","b"]}"#,
        extraResponseHeaders: Headers = [], backendCalls: Int = 1, _ mutate: (inout Pair) -> Void = { _ in }
    ) -> UInt64 {
        let t0 = clock
        clock += 10_000
        let replayT0 = t0 + Self.offsetMicros
        let ofid = nextOriginalID
        nextOriginalID += 1
        let rfid = nextResultID
        nextResultID += 1
        let backendPath = "/store" + path.dropFirst("/app".count)
        func response(_ at: Int64, requestID: String) -> Response {
            Response(
                status: status, reason: status == 200 ? "OK" : "",
                headers: [
                    HeaderField("Date", Self.httpDate(at)),
                    HeaderField("Server", at > Self.recordingStart + Self.offsetMicros / 2 ? "Apache/2.4.65 (Debian)" : "Apache/2.4.62 (Debian)"),
                    HeaderField("Content-Type", contentType),
                    HeaderField("Cache-Control", "no-cache, private"),
                    HeaderField("Expires", Self.httpDate(at + 3_600_000_000)),
                    HeaderField("X-Frame-Options", "DENY"),
                    HeaderField("Strict-Transport-Security", "max-age=31536000"),
                    HeaderField("Set-Cookie", "SESSION=\(requestID); Path=/; HttpOnly; Secure; Expires=\(Self.httpDate(at + 86_400_000_000))"),
                    HeaderField("X-Request-Id", requestID),
                    HeaderField("Content-Length", "\(body.utf8.count)"),
                    HeaderField("Connection", "keep-alive"),
                ] + extraResponseHeaders,
                body: Array(body.utf8))
        }
        let front = Exchange(
            id: ofid, leg: .front,
            connection: ConnectionInfo(id: ofid, client: Endpoint(host: "203.0.113.9", port: 50_000), server: Endpoint(host: "192.0.2.10", port: 80)),
            timing: Timing(requestStart: t0, requestEnd: t0 + 100, responseStart: t0 + 4_000, responseEnd: t0 + 5_000),
            request: Request(method: method, target: path, headers: [HeaderField("Host", "www.example.com"), HeaderField("User-Agent", "curl/8"), HeaderField("Traceparent", "00-\(ofid)-01")]),
            response: response(t0, requestID: "orig-\(ofid)"))
        let replayed = Exchange(
            id: rfid, leg: .front,
            connection: ConnectionInfo(id: rfid, client: Endpoint(host: "127.0.0.1", port: 40_000), server: Endpoint(host: "127.0.0.1", port: 8081)),
            timing: Timing(requestStart: replayT0, requestEnd: replayT0 + 100, responseStart: replayT0 + 3_000, responseEnd: replayT0 + 4_000),
            request: Request(method: method, target: path, headers: [HeaderField("Host", "127.0.0.1:8081"), HeaderField("User-Agent", "curl/8"), HeaderField("Traceparent", "00-\(rfid)-01")]),
            response: response(replayT0, requestID: "replay-\(rfid)"), replayOf: ofid)
        var pair = Pair(originalFront: front, originalBacks: [], replayedFront: replayed, replayedBacks: [])
        for call in 0..<backendCalls {
            let obid = nextOriginalID
            nextOriginalID += 1
            let rbid = nextResultID
            nextResultID += 1
            let bpath = call == 0 ? backendPath : backendPath + "/part\(call)"
            pair.originalBacks.append(Exchange(
                id: obid, leg: .back,
                connection: ConnectionInfo(id: obid, client: Endpoint(host: "192.0.2.10", port: 41_000), server: Endpoint(host: "10.0.0.5", port: 8080)),
                timing: Timing(requestStart: t0 + 500, requestEnd: t0 + 600, responseStart: t0 + 3_000, responseEnd: t0 + 3_500),
                request: Request(method: method, target: bpath, headers: [
                    HeaderField("Host", "www.example.com"), HeaderField("User-Agent", "curl/8"),
                    HeaderField("X-Forwarded-For", "203.0.113.9"), HeaderField("X-Forwarded-Host", "www.example.com"),
                    HeaderField("X-Forwarded-Server", "www.example.com"), HeaderField("Traceparent", "00-\(ofid)-01"),
                ]),
                response: Response(status: status, headers: [HeaderField("Content-Type", contentType)], body: Array(body.utf8)),
                link: Link(frontID: ofid, confidence: .exact)))
            pair.replayedBacks.append(Exchange(
                id: rbid, leg: .back,
                connection: ConnectionInfo(id: rbid, client: Endpoint(host: "127.0.0.1", port: 42_000), server: Endpoint(host: "127.0.0.1", port: 9000)),
                timing: Timing(requestStart: replayT0 + 500, requestEnd: replayT0 + 600, responseStart: replayT0 + 2_000, responseEnd: replayT0 + 2_500),
                request: Request(method: method, target: bpath, headers: [
                    HeaderField("Host", "127.0.0.1:8081"), HeaderField("User-Agent", "curl/8"),
                    HeaderField("X-Forwarded-For", "127.0.0.1"), HeaderField("X-Forwarded-Host", "127.0.0.1:8081"),
                    HeaderField("X-Forwarded-Server", "www.example.com"), HeaderField("Traceparent", "00-\(rfid)-01"),
                ]),
                response: Response(status: status, headers: [HeaderField("Content-Type", contentType)], body: Array(body.utf8)),
                link: Link(frontID: rfid, confidence: .exact), replayOf: obid))
        }
        mutate(&pair)
        // Backends finish before their front, as a proxy logs them.
        original += pair.originalBacks + [pair.originalFront]
        result += pair.replayedBacks + [pair.replayedFront]
        return ofid
    }

    /// The result header as the replayer writes it.
    public var resultHeader: LogHeader {
        LogHeader(metadata: [
            Annotation("source", "replay"), Annotation("target", Self.target),
            Annotation("origin_map", "\(Self.frontOrigin)=\(Self.target);\(Self.backendOrigin)=\(Self.listener)"),
            Annotation("started_us", "\(Self.recordingStart + Self.offsetMicros)"),
            Annotation("recording_started_us", "\(Self.recordingStart)"),
        ])
    }

    /// Writes both logs into `dir`; returns (original path, result path).
    public func write(to dir: TempDir, name: String = "case") throws -> (original: String, result: String) {
        let o = dir.file("\(name)-original.hlog"), r = dir.file("\(name)-result.hlog")
        try LogFile.write(original, to: o, header: LogHeader(metadata: [Annotation("source", "record")]))
        var header = resultHeader
        header["recording"] = o
        try LogFile.write(result, to: r, header: header)
        return (o, r)
    }
}

/// The seeds' pitfalls as mutations of a healthy pair.
public enum Pitfall {
    /// ProxyPassReverse missing: the backend's own origin leaks in Location.
    public static func missingProxyPassReverse(_ p: inout DiffFixtureBuilder.Pair) {
        p.originalFront.response?.status = 302
        p.originalFront.response?.headers.set("Location", "http://www.example.com/app/login")
        p.replayedFront.response?.status = 302
        p.replayedFront.response?.headers.set("Location", "http://10.0.0.5:8080/store/login")
    }
    /// Healthy redirect: the proxy rewrote Location to the (replay) front origin.
    public static func rewrittenRedirect(_ p: inout DiffFixtureBuilder.Pair) {
        p.originalFront.response?.status = 302
        p.originalFront.response?.headers.set("Location", "http://www.example.com/app/login")
        p.replayedFront.response?.status = 302
        p.replayedFront.response?.headers.set("Location", "http://127.0.0.1:8081/app/login")
    }
    /// `ProxyPass /app http://backend/store/` + `/app/x`: the backend sees `/store//x`, the
    /// simulated backend has no such recording, answers 502.
    public static func trailingSlash(_ p: inout DiffFixtureBuilder.Pair) {
        for i in p.replayedBacks.indices {
            p.replayedBacks[i].request.target = p.replayedBacks[i].request.target.replacingOccurrences(of: "/store/", with: "/store//")
            p.replayedBacks[i].replayOf = nil
            p.replayedBacks[i].annotations.append(Annotation("unmatched", "no recorded request for this path"))
            p.replayedBacks[i].response = Response(status: 502, reason: "Bad Gateway")
        }
        p.replayedFront.response?.status = 502
    }
    /// ProxyPreserveHost off: the backend sees its own address as Host.
    public static func preserveHostOff(_ p: inout DiffFixtureBuilder.Pair) {
        for i in p.replayedBacks.indices { p.replayedBacks[i].request.headers.set("Host", "127.0.0.1:9000") }
    }
    /// SSLProxyEngine missing for an HTTPS backend: 500, no backend call.
    public static func sslProxyEngineMissing(_ p: inout DiffFixtureBuilder.Pair) {
        p.replayedBacks = []
        p.replayedFront.response = Response(status: 500, reason: "Internal Server Error", headers: [HeaderField("Content-Type", "text/html")], body: Array("<h1>Internal Server Error</h1>".utf8))
    }
    /// The proxy stopped sending X-Forwarded-For.
    public static func forwardedForLost(_ p: inout DiffFixtureBuilder.Pair) {
        for i in p.replayedBacks.indices { p.replayedBacks[i].request.headers.remove("X-Forwarded-For") }
    }
    /// The proxy started sending X-Forwarded-Proto.
    public static func forwardedProtoAdded(_ p: inout DiffFixtureBuilder.Pair) {
        for i in p.replayedBacks.indices { p.replayedBacks[i].request.headers.append(HeaderField("X-Forwarded-Proto", "https")) }
    }
    /// Security headers dropped by the new config.
    public static func securityHeadersDropped(_ p: inout DiffFixtureBuilder.Pair) {
        p.replayedFront.response?.headers.remove("X-Frame-Options")
        p.replayedFront.response?.headers.remove("Strict-Transport-Security")
    }
    /// Backend down: 503 from the proxy, no backend call.
    public static func backendDown(_ p: inout DiffFixtureBuilder.Pair) {
        p.replayedBacks = []
        p.replayedFront.response = Response(status: 503, reason: "Service Unavailable", headers: [HeaderField("Content-Type", "text/html")])
    }
    /// The proxy refused the connection.
    public static func refused(_ p: inout DiffFixtureBuilder.Pair) {
        p.replayedBacks = []
        p.replayedFront.response = nil
        p.replayedFront.error = "refused"
    }
}
