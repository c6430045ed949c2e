import HarnessCore
import NIOCore
import NIOPosix
import NIOSSL

/// The staging proxy a replay sends to: address, TLS and the Host header it stands for.
struct ReplayTarget: Sendable {
    var origin: Origin
    var sslContext: NIOSSLContext?
    /// SNI and certificate name (nil for an IP address).
    var serverHostname: String?
    /// The address the reachability check connected to: every replay connection goes there
    /// directly (no name resolution, and no resolver thread hop, per connection).
    var address: SocketAddress?

    init(url: String, insecure: Bool, caPath: String?) throws {
        guard url.lowercased().hasPrefix("http://") || url.lowercased().hasPrefix("https://"),
            let origin = Origin(parsing: url)
        else {
            throw HarnessError(.usage, "--target '\(url)' is not an http:// or https:// URL")
        }
        self.origin = origin
        let isIP = origin.host.contains(":") || origin.host.split(separator: ".").allSatisfy { UInt8($0) != nil }
        serverHostname = isIP ? nil : origin.host
        if origin.tls {
            var tls = TLSConfiguration.makeClientConfiguration()
            if insecure { tls.certificateVerification = .none }
            if let caPath {
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
                } catch {
                    throw HarnessError(.badInput, "cannot read the CA bundle: \(error)", path: caPath)
                }
            }
            do {
                sslContext = try NIOSSLContext(configuration: tls)
            } catch {
                throw HarnessError(.badInput, "cannot set up TLS for the target: \(error)")
            }
        } else {
            sslContext = nil
        }
    }

    /// Connects once and closes, so an unreachable target is a clear error before the replay;
    /// remembers the address it reached in `address`.
    mutating func checkReachable(group: any EventLoopGroup, timeout: Double) async throws {
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(Int64(timeout * 1000)))
                .connect(host: origin.host, port: Int(origin.port)).get()
            address = channel.remoteAddress
            try? await channel.close()
        } catch {
            throw HarnessError(
                .network, "the target \(origin) is unreachable (\(ConnectionFailure.classify(error))); is the staging proxy running?")
        }
    }
}

/// Names the CONTRACT's error kinds: refused, reset, timeout.
enum ConnectionFailure {
    /// The kind of a system call's error number (`PollConnection`'s errors, and SwiftNIO's
    /// `IOError`s, described by `error` when the number has no kind of its own).
    static func classify(errno e: Int32, error: (any Error)? = nil) -> String {
        switch e {
        case ECONNREFUSED: return "refused"
        case ECONNRESET, EPIPE: return "reset"
        case ETIMEDOUT: return "timeout"
        default: return "error: \(error ?? IOError(errnoCode: e, reason: "socket"))"
        }
    }

    static func classify(_ error: any Error) -> String {
        if let e = error as? IOError { return classify(errno: e.errnoCode, error: e) }
        if let e = error as? ChannelError {
            switch e {
            case .connectTimeout: return "timeout"
            case .ioOnClosedChannel, .alreadyClosed, .outputClosed, .eof: return "reset"
            default: return "error: \(e)"
            }
        }
        if let e = error as? NIOConnectionError {
            if let first = e.connectionErrors.first { return classify(first.error) }
            if e.dnsAError != nil || e.dnsAAAAError != nil { return "error: cannot resolve \(e.host)" }
            return "refused"
        }
        let text = "\(error)"
        if text.contains("refused") { return "refused" }
        if text.contains("reset") { return "reset" }
        return "error: \(text)"
    }
}
