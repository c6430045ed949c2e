import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// The hardening issue's bar for redaction, end to end with the real CLI: a session carrying a
/// bearer token, a session cookie, a JSON password and a regex-matched API key is recorded through
/// `harness record` in front of nginx; no secret is in the log file (raw bytes, decoded exchanges,
/// `log cat --bodies`), and the redacted recording replays against an unchanged staging config
/// (another `harness record`, the harness playing nginx) with zero differences.
@Suite(.serialized) struct RedactedRecordReplayTests {
    static let secrets = [
        "bearer-secret-0815", "cookie-secret-4711", "json-secret-hunter2", "sk_live_REQUEST77", "sk_live_RESPONSE9", "sk_live_GZIPPED5",
    ]

    func start(_ arguments: [String], port: UInt16) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnvironment.harnessExecutable)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        guard waitForLoopbackPort(port, timeout: 10) else {
            kill(p.processIdentifier, SIGKILL)
            throw TestServerError("harness \(arguments.first ?? "") did not listen on \(port)")
        }
        return p
    }

    func stop(_ p: Process) {
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(15)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }

    @Test func redactedRecordingHoldsNoSecretAndReplaysWithoutDifferences() async throws {
        guard
            let nginx = try NginxServer(extraServerConfig: """
                location /login {
                    default_type application/json;
                    add_header Set-Cookie "SESSION=cookie-secret-4711; Path=/; HttpOnly";
                    return 200 '{"ok": true, "key": "sk_live_RESPONSE9"}';
                }
                location /profile { default_type text/plain; return 200 'profile'; }
                location /data {
                    gzip on; gzip_min_length 0; gzip_types application/json;
                    alias \(Self.gzipFile());
                    default_type application/json;
                }
                """)
        else { return }
        defer { nginx.stop() }
        let dir = TempDir("redact-e2e")
        let recording = dir.file("recording.hlog")
        let recordPort = freeLoopbackPort()
        let recorder = try start(
            [
                "record", "--listen", "127.0.0.1:\(recordPort)", "--upstream", nginx.origin + "/", "-o", recording,
                "--redact-header", "default", "--redact-json", "user.password", "--redact-regex", "sk_live_[A-Za-z0-9]+",
            ], port: recordPort)
        let login = #"{"user": {"name": "ann", "password": "json-secret-hunter2"}, "note": "key sk_live_REQUEST77"}"#
        for _ in 0..<2 {
            let r = try Curl.fetch(
                "http://127.0.0.1:\(recordPort)/login",
                ["-H", "Authorization: Bearer bearer-secret-0815", "-H", "Cookie: SESSION=cookie-secret-4711",
                 "-H", "Content-Type: application/json", "--data-binary", login])
            #expect(r.status == 200)
            #expect(String(decoding: r.body, as: UTF8.self).contains("sk_live_RESPONSE9"), "the client gets the real answer")
        }
        let profile = try Curl.fetch(
            "http://127.0.0.1:\(recordPort)/profile", ["-H", "Authorization: Bearer bearer-secret-0815", "-H", "Cookie: SESSION=cookie-secret-4711"])
        #expect(profile.status == 200)
        // A gzip'd JSON answer: the secret is inside the compressed bytes.
        let data = try Curl.fetch("http://127.0.0.1:\(recordPort)/data", ["-H", "Accept-Encoding: gzip"])
        #expect(data.status == 200)
        stop(recorder)

        // No secret in the raw file, the decoded exchanges, or `log cat --bodies --format jsonl`.
        let raw = try Data(contentsOf: URL(fileURLWithPath: recording))
        let (header, exchanges, damage) = try LogFile.readAll(recording)
        #expect(damage == nil)
        #expect(exchanges.count == 8)
        #expect(header["redacted"]?.contains("json:user.password") == true, "the header says the recording is redacted")
        let decoded = exchanges.map { "\($0)" + String(decoding: $0.request.body + Self.content($0.response), as: UTF8.self) }.joined()
        let gzipped = exchanges.filter { $0.response?.headers.first("Content-Encoding") == "gzip" }
        #expect(gzipped.count == 2, "nginx gzip'd /data on both legs")
        for e in gzipped { #expect(String(decoding: Self.content(e.response), as: UTF8.self).contains("redacted:")) }
        let cat = try Run.harness(["log", "cat", recording, "--bodies", "--format", "jsonl"])
        #expect(cat.status == 0)
        for secret in Self.secrets {
            let inRaw = raw.range(of: Data(secret.utf8)) != nil
            let inDecoded = decoded.contains(secret)
            let inCat = cat.stdout.contains(secret)
            #expect(!inRaw, "\(secret) is in the raw log")
            #expect(!inDecoded, "\(secret) is in a decoded exchange")
            #expect(!inCat, "\(secret) is in log cat")
        }
        let tokensThere = decoded.contains("Bearer redacted:") && cat.stdout.contains(#"\"password\": \"redacted:"#)
        #expect(tokensThere, "the tokens are there instead")
        for e in exchanges {
            #expect(e.flags.redacted)
            if !e.request.body.isEmpty { #expect(e.request.headers.first("Content-Length") == String(e.request.body.count)) }
            if let r = e.response, !r.body.isEmpty, let length = r.headers.first("Content-Length") { #expect(length == String(r.body.count)) }
        }
        // Equal secrets, equal tokens: one Authorization value on both legs and all requests.
        #expect(Set(exchanges.compactMap { $0.request.headers.first("Authorization") }).count == 1)

        // Replay against an unchanged staging config: the harness plays nginx.
        let backendPort = freeLoopbackPort()
        let stagingPort = freeLoopbackPort()
        let staging = try start(
            ["record", "--listen", "127.0.0.1:\(stagingPort)", "--upstream", "http://127.0.0.1:\(backendPort)/", "-o", dir.file("staging.hlog")],
            port: stagingPort)
        defer { stop(staging) }
        let replay = try Run.harness([
            "replay", recording, "--target", "http://127.0.0.1:\(stagingPort)",
            "--backend", "\(nginx.origin)=127.0.0.1:\(backendPort)", "-o", dir.file("result.hlog"),
            "--report", dir.file("report.json"), "--speed", "max",
        ])
        #expect(replay.status == 0, "\(replay.stdout)\n\(replay.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("report.json")))) as? [String: Any]
        #expect(report?["exchanges"] as? Int == 4)
        #expect(report?["differing"] as? Int == 0, "\(report ?? [:])")
        let result = try LogFile.readAll(dir.file("result.hlog")).exchanges
        #expect(result.filter { $0.leg == .back && $0.replayOf != nil }.count == 4, "every backend request matched a recorded one")
    }

    /// A JSON file with a secret, big enough that gzip is worth it.
    static func gzipFile() -> String {
        let path = FileManager.default.temporaryDirectory.path + "/redact-gzip-\(getpid()).json"
        let items = (0..<50).map { #"{"n": \#($0), "name": "item"}"# }.joined(separator: ", ")
        let json = #"{"key": "sk_live_GZIPPED5", "items": [\#(items)]}"#
        _ = FileManager.default.createFile(atPath: path, contents: Data(json.utf8), attributes: [.posixPermissions: 0o644])
        return path
    }

    /// A response body as content (Content-Encoding undone).
    static func content(_ response: Response?) -> [UInt8] {
        guard let response else { return [] }
        guard let encoding = response.headers.first("Content-Encoding") else { return response.body }
        return ContentCoding.decode(response.body, encoding: encoding) ?? response.body
    }
}
