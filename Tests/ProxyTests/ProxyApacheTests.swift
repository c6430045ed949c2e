import Foundation
import HarnessCore
import HarnessTesting
import Testing

@testable import Proxy

/// The proxy in front of a real Apache httpd: uploads (chunked and not) checked by a CGI that
/// hashes what Apache received, and Apache's own redirects rewritten like ProxyPassReverse.
@Suite(.serialized) struct ProxyApacheTests {
    func startApache() throws -> (ApacheServer, TempDir)? {
        let cgiDir = TempDir("apache-cgi")
        chmod(cgiDir.path, 0o755)
        let script = cgiDir.file("sum.cgi")
        try "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nsha256sum | cut -d' ' -f1\n".write(
            toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let port = freeLoopbackPort()
        let server = try ApacheServer(
            extraConfig: """
                ScriptAlias /x/sum \(script)
                <Directory \(cgiDir.path)>
                    Require all granted
                </Directory>
                Redirect 302 /x/old http://127.0.0.1:\(port)/x/new
                """, modules: ["cgi"], port: port)
        return server.map { ($0, cgiDir) }
    }

    @Test func uploadsArriveByteIdenticalChunkedOrNot() async throws {
        guard let (apache, cgi) = try startApache() else { return }
        defer { _ = cgi }
        let proxy = try await TestProxy.start(ProxyConfiguration(routes: [ProxyRoute(prefix: "/app/", upstream: apache.origin + "/x/")]))
        let dir = TempDir("upload")
        for size in [1024, 3 << 20] {
            let data = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            try data.write(to: URL(fileURLWithPath: dir.file("u")))
            let expected = sha256Hex(data)
            let plain = try Curl.fetch(proxy.url("/app/sum"), ["--data-binary", "@" + dir.file("u"), "-H", "Expect:"])
            #expect(plain.status == 200)
            #expect(String(decoding: plain.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == expected)
            let chunked = try Curl.fetch(
                proxy.url("/app/sum"), ["--data-binary", "@" + dir.file("u"), "-H", "Transfer-Encoding: chunked"])
            #expect(chunked.status == 200)
            #expect(String(decoding: chunked.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == expected)
        }
        try await proxy.stop()
        let fronts = proxy.exchanges(.front)
        let backs = proxy.exchanges(.back)
        #expect(fronts.count == 4 && backs.count == 4)
        for (i, front) in fronts.enumerated() {
            let back = try #require(backs.first { $0.link?.frontID == front.id })
            #expect(front.request.bodyLength == back.request.bodyLength)
            #expect(front.request.bodyLength == (i < 2 ? 1024 : 3 << 20))
            let chunked = i % 2 == 1
            #expect(front.framing.contains(.requestChunked) == chunked)
            #expect(back.framing.contains(.requestChunked) == chunked)
            #expect(back.request.target == "/x/sum")
            // What the proxy recorded is what Apache hashed.
            let served = String(decoding: back.response?.body ?? [], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let recordedDigest = front.request.bodyTruncation.map { hex($0.sha256) } ?? hex(BodyRecorder.sha256(front.request.body))
            #expect(served == recordedDigest)
        }
    }

    @Test func apacheRedirectIsRewritten() async throws {
        guard let (apache, cgi) = try startApache() else { return }
        defer { _ = cgi }
        var config = ProxyConfiguration(routes: [ProxyRoute(prefix: "/app/", upstream: apache.origin + "/x/")])
        config.reverseRewrite = true
        let proxy = try await TestProxy.start(config)
        let r = try Curl.fetch(proxy.url("/app/old"), ["-H", "Host: www.example.com"])
        #expect(r.status == 302)
        #expect(r.header("Location") == "http://www.example.com/app/new")
        try await proxy.stop()
        #expect(proxy.exchanges(.back).first?.response?.headers.first("Location") == "\(apache.origin)/x/new")
    }
}
