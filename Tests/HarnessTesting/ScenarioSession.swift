import Foundation
public import HarnessCore
import Testing

/// Production for the scenario matrix: a real backend (nginx: static pages, a login with
/// redirects and a cookie, a gzip-chunked report, a large file, an upload) behind a real proxy
/// with its good config, a scripted session driven through it with curl and wrk, recorded twice:
/// through two `harness record` taps (one in front of the proxy, one between the proxy and the
/// backend) and off the wire with `harness capture -i lo` on the proxy's two legs.
///
/// ```
/// curl/wrk ─► tap F ─► proxy (good config) ─► tap B ─► nginx backend
///                      └─ harness capture -i lo: front port = proxy, back port = tap B ─┘
/// ```
/// Tap F's front leg is the client's view of the proxy; tap B's front leg is exactly what the
/// proxy asked the backend and got back; `harness log link` joins the two logs into one two-leg
/// recording. Every request carries `X-Request-Id` (on the diff's default noise list), which the
/// linker uses to tell concurrent requests for one path apart.
public struct ScenarioProduction: Sendable {
    /// The joined tap recording (front and back legs, linked).
    public var tapRecording: String
    /// The off-the-wire recording (nil when capture was not possible: not root).
    public var captureRecording: String?
    /// The backend origin the proxy called (tap B), as recorded.
    public var backendOrigin: String
    /// Front exchanges in each recording.
    public var tapFronts: Int
    public var captureFronts: Int
    /// What `harness capture` printed (libpcap's counters; kernel drops explain a short capture).
    public var captureSummary = ""

    /// The same production with its recordings copied into `directory` (which outlives the
    /// production's temp dir).
    public func copied(to directory: String) throws -> ScenarioProduction {
        var copy = self
        func move(_ path: String) throws -> String {
            let target = directory + "/" + (path as NSString).lastPathComponent
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.copyItem(atPath: path, toPath: target)
            return target
        }
        copy.tapRecording = try move(tapRecording)
        copy.captureRecording = try captureRecording.map(move)
        return copy
    }
}

public enum ScenarioSession {
    /// Records the session through `kind` with its good config; nil when a tool is missing.
    public static func record(_ kind: ScenarioProxyKind, into dir: TempDir) throws -> ScenarioProduction? {
        guard let curl = TestEnvironment.tool("curl"), let wrk = TestEnvironment.tool("wrk") else { return nil }
        let backendPort = freeLoopbackPort()
        let tapBackPort = freeLoopbackPort()
        let proxyPort = freeLoopbackPort()
        let tapFrontPort = freeLoopbackPort()
        let tapBackOrigin = "http://127.0.0.1:\(tapBackPort)"
        guard let python = TestEnvironment.tool("python3") else { return nil }
        let slowPort = freeLoopbackPort()
        let slow = try ScenarioServer(
            name: "slow backend", executable: python, arguments: ["-c", slowBackendScript, String(slowPort)], port: slowPort,
            output: dir.file("slow.out"), log: dir.file("slow.out"))
        defer { slow.stop() }
        guard let backend = try NginxServer(
            root: dir.file("backend-root"),
            extraServerConfig: backendLocations(selfOrigin: tapBackOrigin, port: backendPort, slowPort: slowPort), port: backendPort)
        else { return nil }
        defer { backend.stop() }
        try writeBackendFiles(backend)

        let harness = TestEnvironment.harnessExecutable
        let tapFlags = ["--preserve-host", "--no-forwarded-headers", "--max-record-body", "\(4 << 20)"]
        let tapBack = try ScenarioServer(
            name: "harness record (back tap)", executable: harness,
            arguments: ["record", "--listen", "127.0.0.1:\(tapBackPort)", "--upstream", backend.origin + "/",
                        "-o", dir.file("tap-back.log")] + tapFlags,
            port: tapBackPort, output: dir.file("tap-back.out"), log: dir.file("tap-back.out"))
        defer { tapBack.stop() }
        guard let proxy = try ScenarioProxy.start(kind, variant: "good", backend: tapBackOrigin, port: proxyPort) else { return nil }
        defer { proxy.stop() }
        let tapFront = try ScenarioServer(
            name: "harness record (front tap)", executable: harness,
            arguments: ["record", "--listen", "127.0.0.1:\(tapFrontPort)", "--upstream", proxy.url + "/",
                        "-o", dir.file("tap-front.log")] + tapFlags,
            port: tapFrontPort, output: dir.file("tap-front.out"), log: dir.file("tap-front.out"))
        defer { tapFront.stop() }
        let capture = try startCapture(proxyPort: proxyPort, backPort: tapBackPort, dir: dir)
        defer { capture?.stop() }

        try drive(curl: curl, wrk: wrk, frontPort: tapFrontPort, dir: dir)
        // Let the last exchanges reach the taps' logs and the capture's buffer.
        usleep(300_000)
        capture?.finish(signal: SIGINT)
        tapFront.finish(signal: SIGTERM)
        tapBack.finish(signal: SIGTERM)

        // The product's own join: `harness log link FRONT BACK`.
        let linkedPath = dir.file("tap-linked.log")
        let link = try Run.harness(["log", "link", dir.file("tap-front.log"), dir.file("tap-back.log"), "-o", linkedPath], timeout: 60)
        guard link.status == 0 else { throw HarnessError(.badInput, "harness log link failed: \(link.stderr)") }
        let joined = completeSessions(try LogFile.readAll(linkedPath).exchanges)
        let header = LogHeader(metadata: [
            Annotation("source", "record"), Annotation("original_host", ScenarioProxy.serverName),
            Annotation("scenario", "\(kind.rawValue) good config behind harness record taps, joined by harness log link"),
        ])
        let tapPath = dir.file("\(kind.rawValue)-tap.log")
        try LogFile.write(joined, to: tapPath, header: header)
        var production = ScenarioProduction(
            tapRecording: tapPath, captureRecording: nil, backendOrigin: tapBackOrigin,
            tapFronts: joined.filter { $0.leg == .front }.count, captureFronts: 0)
        if capture != nil {
            let (captureHeader, captured, _) = try LogFile.readAll(dir.file("capture.log"))
            let kept = completeSessions(captured)
            let path = dir.file("\(kind.rawValue)-capture.log")
            try LogFile.write(kept, to: path, header: captureHeader)
            production.captureRecording = path
            production.captureFronts = kept.filter { $0.leg == .front }.count
            production.captureSummary = (try? String(contentsOfFile: dir.file("capture.out"), encoding: .utf8)) ?? ""
            let dropped = captured.filter { $0.leg == .front }.count - production.captureFronts
            if dropped > 0 { production.captureSummary += "(\(dropped) incomplete front exchanges left out)\n" }
        }
        return production
    }

    /// The backend's locations: its redirects name the address the proxy called (tap B), as a
    /// backend configured with its own name does, so a proxy without reverse rewriting leaks it.
    /// The upload goes through nginx's request buffering to an inner location, so it is answered
    /// after the whole body was read, as an upload handler does (a `return` would answer at once
    /// and the proxy would abort the rest of the body: a different recording every run).
    /// `/app/slow` goes to a small Python backend that answers after 2.5 s (for proxy timeouts).
    static func backendLocations(selfOrigin: String, port: UInt16, slowPort: UInt16) -> String {
        """
        location = /app/login {
            if ($request_method = POST) {
                add_header Set-Cookie "SESSION=s-alice; Path=/app; HttpOnly" always;
                return 302 \(selfOrigin)/app/account;
            }
            default_type text/html;
            return 200 "<form method=post action=/app/login><input name=user></form>\\n";
        }
        location = /app/account {
            if ($cookie_SESSION = "") { return 302 \(selfOrigin)/app/login; }
            default_type application/json;
            return 200 '{"user":"$cookie_SESSION","orders":[1,2,3]}';
        }
        location = /app/docs { return 301 \(selfOrigin)/app/docs/; }
        location = /app/upload { proxy_pass http://127.0.0.1:\(port)/stored; }
        location = /app/slow { proxy_pass http://127.0.0.1:\(slowPort); }
        location = /stored { default_type application/json; return 201 '{"stored":"$content_length"}'; }
        location /app/ { gzip on; gzip_types text/plain; gzip_min_length 1; }
        """
    }

    /// A backend whose report takes 2.5 s (argument: the port).
    static let slowBackendScript = """
        import sys, time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        class Slow(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self):
                time.sleep(2.5)
                body = b"slow report\\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass
        ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Slow).serve_forever()
        """

    static func writeBackendFiles(_ backend: NginxServer) throws {
        try backend.writeFile("app/index.html", Data("<!doctype html><title>Shop</title><a href=/app/login>log in</a>\n".utf8))
        try backend.writeFile("app/docs/index.html", Data("<h1>Docs</h1>\n".utf8))
        try backend.writeFile("app/report.txt", Data((0..<3000).map { "row,\($0),\($0 * $0 % 977)\n" }.joined().utf8))
        try backend.writeFile("app/big.bin", Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }))
    }

    /// `harness capture -i lo` on the proxy's front port and its backend (tap B) port; nil when not
    /// root. Waits until the capture reports it is listening.
    static func startCapture(proxyPort: UInt16, backPort: UInt16, dir: TempDir) throws -> ScenarioServer? {
        guard TestEnvironment.isRoot || TestEnvironment.isCI else {
            print("SKIP: capturing on loopback needs root; the matrix replays the tap recordings only")
            return nil
        }
        let out = dir.file("capture.out")
        let capture = try ScenarioServer(
            name: "harness capture", executable: TestEnvironment.harnessExecutable,
            arguments: ["capture", "-i", "lo", "-o", dir.file("capture.log"), "--front-port", "\(proxyPort)",
                        "--back-port", "\(backPort)", "--max-body", "\(4 << 20)", "--buffer-size", "\(32 << 20)",
                        "tcp", "port", "\(proxyPort)", "or", "tcp", "port", "\(backPort)"],
            port: 0, output: out)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("capturing on") { return capture }
            usleep(20_000)
        }
        capture.stop()
        throw HarnessError(.network, "harness capture did not start: \((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
    }

    /// The scripted session against the front tap: pages, a login (POST, redirect, cookie), an
    /// unauthenticated redirect, a moved directory, a gzip-chunked report, a 300 KB download, a
    /// 200 KB upload, a 404, a slow report (2.5 s), then a short wrk burst (20 requests on two connections).
    static func drive(curl: String, wrk: String, frontPort: UInt16, dir: TempDir) throws {
        let site = "http://\(ScenarioProxy.serverName)/app"
        let jar = dir.file("cookies.txt")
        let upload = dir.file("upload.bin")
        try Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: upload))
        let steps: [[String]] = [
            ["\(site)/", "\(site)/login"],
            ["-L", "-c", jar, "-b", jar, "--data", "user=alice&password=wonderland", "\(site)/login"],
            ["-b", jar, "\(site)/account"],
            ["\(site)/account"],
            ["-L", "\(site)/docs"],
            ["--compressed", "\(site)/report.txt"],
            ["\(site)/big.bin"],
            ["-H", "Expect:", "-H", "Content-Type: application/octet-stream", "--data-binary", "@\(upload)", "\(site)/upload"],
            ["\(site)/missing"],
            ["\(site)/slow"],
        ]
        for (i, step) in steps.enumerated() {
            let r = try Run.process(
                curl, ["-sS", "-o", "/dev/null", "--connect-to", "\(ScenarioProxy.serverName)::127.0.0.1:\(frontPort)",
                       "-H", "X-Request-Id: s\(i)"] + step, timeout: 30)
            guard r.status == 0 else { throw HarnessError(.network, "session step \(i) (curl \(step)) failed: \(r.stderr)") }
        }
        let script = dir.file("burst.lua")
        try """
            local n = 0
            local done = 0
            request = function()
                n = n + 1
                return wrk.format("GET", "/app/index.html", {["Host"] = "\(ScenarioProxy.serverName)", ["X-Request-Id"] = "w" .. n})
            end
            response = function(status, headers, body)
                done = done + 1
                if done >= 20 then wrk.thread:stop() end
            end
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let r = try Run.process(wrk, ["-t1", "-c2", "-d1s", "-s", script, "http://127.0.0.1:\(frontPort)/"], timeout: 30)
        guard r.status == 0 else { throw HarnessError(.network, "wrk failed: \(r.stderr)") }
    }

    /// A recording without the front exchanges the client gave up on (the end of the wrk burst: no
    /// response, an error) and the back exchanges linked to them.
    public static func completeSessions(_ exchanges: [Exchange]) -> [Exchange] {
        let dropped = Set(exchanges.filter { $0.leg == .front && ($0.response == nil || $0.error != nil || !$0.isComplete) }.map(\.id))
        return exchanges.filter { e in
            if dropped.contains(e.id) { return false }
            if e.leg == .back, let f = e.link?.frontID, dropped.contains(f) { return false }
            return e.leg == .front || e.response != nil
        }
    }
}
