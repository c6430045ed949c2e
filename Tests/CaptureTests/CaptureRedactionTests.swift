import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// `harness capture` takes the same redaction group as `record`: JSON paths and patterns reach
/// captured bodies, and a changed body is re-framed.
@Suite struct CaptureRedactionTests {
    @Test func jsonAndPatternRedactionInACapture() throws {
        var b = PcapBuilder()
        var c = SyntheticConnection()
        let body = #"{"user": "ann", "password": "pw-secret-42", "card": "4111-1111-1111-1111"}"#
        let req = "POST /login?api_key=q-secret HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        let answer = #"{"session": "sess-secret-9"}"#
        let resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(answer.utf8.count)\r\n\r\n" + answer
        b.add(c.handshake() + c.clientSends(Array(req.utf8)) + c.serverSends(Array(resp.utf8)) + c.close(), start: 1_000_000)
        let dir = TempDir("cap-redact")
        let pcap = dir.file("login.pcap")
        try b.write(to: pcap)
        let out = dir.file("r.hlog")
        let r = try Run.harness([
            "capture", "-r", pcap, "-o", out, "--redact-json", "password", "--redact-json", "..session",
            "--redact-regex", #"\d{4}-\d{4}-\d{4}-\d{4}"#, "--redact-query", "api_key",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let (header, exchanges, _) = try LogFile.readAll(out)
        let e = try #require(exchanges.first)
        let text = "\(e.request.target) " + String(decoding: e.request.body + (e.response?.body ?? []), as: UTF8.self)
        for secret in ["pw-secret-42", "4111-1111", "q-secret", "sess-secret-9"] {
            let leaked = text.contains(secret)
            #expect(!leaked, "\(secret) in \(text)")
        }
        #expect(text.contains(#""user": "ann""#))
        #expect(e.request.headers.first("Content-Length") == String(e.request.body.count))
        #expect(e.response?.headers.first("Content-Length") == String(e.response?.body.count ?? -1))
        #expect(header["redacted"] == "query:api_key,json:password,json:..session,regex:1")
        let bad = try Run.harness(["capture", "-r", pcap, "-o", dir.file("x.hlog"), "--redact-json", "a[0]"])
        #expect(bad.status == 2 && bad.stderr.contains("a[0]"), "\(bad.stderr)")
    }
}
