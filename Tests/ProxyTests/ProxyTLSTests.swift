import Foundation
import HarnessCore
import HarnessTesting
import Testing

@testable import Proxy

/// HTTPS on both sides with certificates the test makes: verification on by default.
@Suite(.serialized) struct ProxyTLSTests {
    @Test func httpsFrontAndVerifiedHTTPSUpstream() async throws {
        guard let cert = try TestCertificate(),
            let nginx = try NginxServer(
                extraServerConfig: """
                    ssl_certificate \(cert.certificatePath);
                    ssl_certificate_key \(cert.keyPath);
                    location / { return 200 'secure $scheme'; }
                    """, listenOptions: "ssl")
        else { return }
        var config = ProxyConfiguration(upstream: "https://localhost:\(nginx.port)/")
        config.tlsCertificatePath = cert.certificatePath
        config.tlsKeyPath = cert.keyPath
        config.upstreamCAPath = cert.certificatePath
        let proxy = try await TestProxy.start(config)
        let r = try Curl.fetch(proxy.url("/"), ["--cacert", cert.certificatePath])
        #expect(r.status == 200)
        #expect(String(decoding: r.body, as: UTF8.self) == "secure https")
        try await proxy.stop()
        let front = try #require(proxy.exchanges(.front).first)
        let back = try #require(proxy.exchanges(.back).first)
        #expect(front.connection.tls)
        #expect(back.connection.tls)
        #expect(back.connection.sni == "localhost")
        #expect(back.response.map { String(decoding: $0.body, as: UTF8.self) } == "secure https")

        // Verification is on by default: an unknown CA is a 502, recorded as a TLS failure.
        var strict = ProxyConfiguration(upstream: "https://localhost:\(nginx.port)/")
        strict.connectTimeoutSeconds = 3
        let p2 = try await TestProxy.start(strict)
        let r2 = try Curl.fetch(p2.url("/"))
        #expect(r2.status == 502)
        // --upstream-insecure (SSLProxyVerify none) accepts it.
        var insecure = strict
        insecure.upstreamInsecure = true
        let p3 = try await TestProxy.start(insecure)
        #expect(try Curl.fetch(p3.url("/")).status == 200)
        try await p2.stop()
        try await p3.stop()
        #expect(p2.exchanges(.front).first?.response?.status == 502)
        #expect(p2.exchanges(.back).first?.response == nil)
        #expect(p2.exchanges(.back).first?.error == "tls")
        #expect(p2.exchanges(.front).first?.error == "tls")
    }
}
