import Diff
import Foundation
import HarnessCore
import HarnessTesting
import Proxy
import Replay
import Testing

/// End to end with the harness's own proxy as both production and staging: the scripted session
/// is driven through a recording production proxy (the harness playing its backend), and that
/// recording is replayed against staging proxies with a good config and the seeded mistakes.
@Suite(.serialized)
struct ReplayRecordingProxyTests {
    /// Records the scripted session through a production `RecordingProxy` (ProxyPass /app/ with
    /// reverse rewriting and preserve-host); returns the recording's path.
    func recordProduction(in dir: TempDir) async throws -> String {
        let script = dir.file("script.log")
        try ReplayRecordingBuilder.scriptedSession().write(to: script)
        let backendPort = freeLoopbackPort()
        var production = ProxyConfiguration()
        production.routes = [ProxyRoute(prefix: "/app/", upstream: "http://127.0.0.1:\(backendPort)/app/")]
        production.reverseRewrite = true
        production.preserveHost = true
        var header = LogHeader()
        header["source"] = "record"
        let recording = dir.file("production.log")
        let writer = try LogWriter(path: recording, header: header)
        let proxy = RecordingProxy(configuration: production, recorder: writer)
        let port = try await proxy.start()
        var drive = ReplayConfiguration(
            recordingPath: script, target: "http://127.0.0.1:\(port)", outputPath: dir.file("driven.log"),
            backends: [BackendSpec(listenHost: "127.0.0.1", listenPort: Int(backendPort))])
        drive.speed = .max
        drive.concurrency = 2
        let driven = try await Replayer(configuration: drive).run()
        try await proxy.shutdown()
        #expect(driven.counters.errors == 0 && driven.counters.unmatched == 0)
        return recording
    }

    /// Replays `recording` against a staging `RecordingProxy` (configured by `configure`, given the
    /// simulated backend's URL). With `tls`, the staging front speaks HTTPS with that certificate
    /// (the replay trusts it with --insecure) and the backend is simulated over HTTPS when the
    /// recorded back leg was.
    func replay(
        _ recording: String, in dir: TempDir, name: String, tls: TestCertificate? = nil,
        staging configure: (inout ProxyConfiguration, String) -> Void
    ) async throws -> (ReplaySummary, [Exchange], [Exchange]) {
        let (_, recorded, _) = try LogFile.readAll(recording)
        let back = try #require(recorded.first { $0.leg == .back })
        let origin = back.connection.server
        let stagingPort = freeLoopbackPort()
        var config = ReplayConfiguration(
            recordingPath: recording, target: "\(tls == nil ? "http" : "https")://127.0.0.1:\(stagingPort)",
            outputPath: dir.file("result-\(name).log"),
            backends: [try BackendSpec(parsing: back.connection.tls ? "https://\(origin)=https://127.0.0.1:0" : "http://\(origin)=127.0.0.1:0")])
        config.insecure = tls != nil
        config.speed = .max
        let replayer = Replayer(configuration: config)
        let listener = try #require(try await replayer.start().first).listener
        var staging = ProxyConfiguration()
        staging.listenPort = Int(stagingPort)
        staging.routes = [ProxyRoute(prefix: "/app/", upstream: listener + "/app/")]
        staging.reverseRewrite = true
        staging.preserveHost = true
        staging.upstreamInsecure = true
        staging.tlsCertificatePath = tls?.certificatePath
        staging.tlsKeyPath = tls?.keyPath
        configure(&staging, listener)
        let proxy = RecordingProxy(configuration: staging, recorder: nil)
        _ = try await proxy.start()
        let summary = try await replayer.run()
        try await proxy.shutdown()
        return (summary, recorded, try LogFile.readAll(config.outputPath).exchanges)
    }

    @Test func goodAndBrokenStagingConfigs() async throws {
        let dir = TempDir("replay-own-proxy")
        let recording = try await recordProduction(in: dir)

        let (good, recorded, goodResult) = try await replay(recording, in: dir, name: "good") { _, _ in }
        #expect(good.counters.done == 6 && good.counters.errors == 0 && good.counters.unmatched == 0)
        #expect(goodResult.filter { $0.leg == .back }.count == 6)
        #expect(good.verdict.passed, "\(good.report.groups)")

        let (noReverse, _, noReverseResult) = try await replay(recording, in: dir, name: "no-reverse") { c, _ in c.reverseRewrite = false }
        let redirects = noReverseResult.filter { $0.leg == .front && ($0.response?.status ?? 0) / 100 == 3 }
        #expect(redirects.count == 2)
        for r in redirects {
            let original = try #require(recorded.first { $0.id == r.replayOf })
            #expect(r.response?.headers.first("Location") != original.response?.headers.first("Location"))
        }
        #expect((noReverse.report.categories["location"] ?? 0) == 2, "\(noReverse.report.categories)")
        #expect(!noReverse.verdict.passed)

        let (noHost, _, noHostResult) = try await replay(recording, in: dir, name: "no-host") { c, _ in c.preserveHost = false }
        let backs = noHostResult.filter { $0.leg == .back }
        #expect(backs.count == 6)
        #expect(backs.allSatisfy { $0.request.headers.first("Host")?.hasPrefix("127.0.0.1:") == true })
        #expect((noHost.report.categories["backend_request"] ?? 0) > 0, "\(noHost.report.categories)")

        let (slash, _, slashResult) = try await replay(recording, in: dir, name: "slash") { c, listener in
            c.routes = [ProxyRoute(prefix: "/app/", upstream: listener + "/app")]
        }
        #expect(slashResult.filter { $0.leg == .back && $0.annotation("unmatched") != nil }.count == 6)
        #expect((slash.report.categories["backend_unmatched"] ?? 0) > 0, "\(slash.report.categories)")
        #expect(!slash.verdict.passed)
    }

    /// A WebSocket handshake recorded on both legs: the replay sends the Upgrade request, the
    /// simulated backend answers the recorded 101, and the handshake compares equal.
    @Test func websocketHandshakeIsReplayed() async throws {
        let dir = TempDir("replay-upgrade")
        var b = ReplayRecordingBuilder()
        let c = b.newConnection()
        b.addWebSocketHandshake(connection: c, target: "/app/ws")
        let page = Response(status: 200, reason: "OK", headers: [HeaderField("Content-Length", "2")], body: Array("ok".utf8))
        b.add(connection: b.newConnection(), target: "/app/", front: page, back: page)
        let recording = dir.file("ws.log")
        try b.write(to: recording)

        let (summary, _, result) = try await replay(recording, in: dir, name: "ws") { _, _ in }
        let front = try #require(result.first { $0.leg == .front && $0.request.target == "/app/ws" })
        #expect(front.error == nil, "\(front.error ?? "")")
        #expect(front.response?.status == 101)
        #expect(front.annotation("upgrade") != nil)
        let back = try #require(result.first { $0.leg == .back && $0.request.target == "/app/ws" })
        #expect(back.request.headers.first("Upgrade") == "websocket")
        #expect(back.replayOf != nil && back.annotation("unmatched") == nil)
        #expect(summary.counters.errors == 0)
        #expect(summary.verdict.passed, "\(summary.report.groups)")
    }

    /// HTTPS end to end: the replay speaks TLS to the staging proxy, which speaks TLS to the
    /// simulated backend (the recorded back leg was HTTPS: `SSLProxyEngine On`).
    @Test func httpsFrontAndBackendReplayOverTLS() async throws {
        guard let cert = try TestCertificate() else { return }
        let dir = TempDir("replay-tls")
        // The scripted session recorded on https://www.example.com, its back leg on
        // https://10.0.0.5:8443 (redirects name those origins, as they would).
        let b = ReplayRecordingBuilder.scriptedSession()
        let tlsRecording = b.exchanges.map { e -> Exchange in
            var e = e
            e.connection.tls = true
            let (from, to) = e.leg == .back ? ("http://10.0.0.5:8080", "https://10.0.0.5:8443") : ("http://www.example.com", "https://www.example.com")
            if e.leg == .back { e.connection.server = Endpoint(host: "10.0.0.5", port: 8443) } else { e.connection.server.port = 443 }
            let headers = e.response?.headers ?? []
            e.response?.headers = headers.map { HeaderField($0.name, $0.value.replacingOccurrences(of: from, with: to)) }
            return e
        }
        let recording = dir.file("tls.log")
        try LogFile.write(tlsRecording, to: recording, header: LogHeader(metadata: [Annotation("original_host", b.frontHost)]))

        let (summary, _, result) = try await replay(recording, in: dir, name: "tls", tls: cert) { _, _ in }
        let fronts = result.filter { $0.leg == .front }
        let backs = result.filter { $0.leg == .back }
        #expect(!fronts.isEmpty && fronts.allSatisfy { $0.error == nil && $0.connection.tls }, "\(fronts.compactMap(\.error))")
        #expect(!backs.isEmpty && backs.allSatisfy { $0.connection.tls && $0.annotation("unmatched") == nil },
            "\(backs.map { ($0.request.target, $0.connection.tls, $0.annotations) })")
        #expect(summary.counters.errors == 0 && summary.counters.unmatched == 0)
        #expect(summary.verdict.passed, "\(summary.report.groups)")
    }
}
