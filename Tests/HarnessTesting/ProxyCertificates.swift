import Foundation
import Testing

/// A self-signed certificate for `localhost` and `127.0.0.1`, made with the openssl CLI in a temp
/// directory; the certificate is its own CA (pass it as `--cacert` / `--upstream-ca`).
public final class TestCertificate: @unchecked Sendable {
    public let directory: TempDir
    public var certificatePath: String { directory.file("cert.pem") }
    public var keyPath: String { directory.file("key.pem") }

    public init?() throws {
        guard let openssl = TestEnvironment.tool("openssl") else { return nil }
        directory = TempDir("cert")
        let r = try Run.process(openssl, [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory.file("key.pem"),
            "-out", directory.file("cert.pem"), "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        guard r.status == 0 else { throw TestServerError("openssl failed: \(r.stderr)") }
        chmod(directory.path, 0o755)
        chmod(keyPath, 0o644)
    }
}
