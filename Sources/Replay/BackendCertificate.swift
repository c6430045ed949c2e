import HarnessCore
import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A certificate and key (PEM) for a simulated HTTPS backend: given files, or a self-signed
/// pair generated at start (valid for `localhost`, `127.0.0.1`, `::1` and the listen host).
public struct BackendCertificate: Sendable {
    public var certificatePEM: String
    public var keyPEM: String

    public init(certificatePEM: String, keyPEM: String) {
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
    }

    /// Reads a PEM certificate chain and key.
    public init(certificatePath: String, keyPath: String) throws {
        func read(_ path: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw HarnessError(.io, "cannot read the backend certificate or key", path: path)
            }
            return String(decoding: data, as: UTF8.self)
        }
        self.init(certificatePEM: try read(certificatePath), keyPEM: try read(keyPath))
    }

    /// A fresh self-signed P-256 certificate.
    public static func selfSigned(hosts: [String]) throws -> BackendCertificate {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("harness")
            CommonName("harness simulated backend")
        }
        var names: [GeneralName] = [.dnsName("localhost")]
        var ips: [[UInt8]] = [[127, 0, 0, 1], [UInt8](repeating: 0, count: 15) + [1]]
        for host in hosts {
            if let v4 = IPv4Bytes(host) {
                if !ips.contains(v4) { ips.append(v4) }
            } else if !host.contains(":") && host != "localhost" {
                names.append(.dnsName(host))
            }
        }
        names += ips.map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(30 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(key))
        return BackendCertificate(certificatePEM: try certificate.serializeAsPEM().pemString, keyPEM: key.pemRepresentation)
    }

    /// A TLS server context serving this pair.
    func serverContext() throws -> NIOSSLContext {
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
            let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw HarnessError(.badInput, "the backend certificate or key is not usable PEM: \(error)")
        }
    }
}

private func IPv4Bytes(_ text: String) -> [UInt8]? {
    let parts = text.split(separator: ".")
    guard parts.count == 4 else { return nil }
    let bytes = parts.compactMap { UInt8($0) }
    return bytes.count == 4 ? bytes : nil
}
