import HarnessCore
internal import NIOCore
internal import NIOSSL
internal import Synchronization

/// State every connection of one proxy shares: configuration, counters, the recording queue,
/// balancers, TLS contexts and the per-event-loop upstream pools (the dictionary is guarded by
/// `lock`; each pool is only used on its own event loop).
final class ProxyShared: @unchecked Sendable {
    let configuration: ProxyConfiguration
    let counters: ProxyCounters
    let queue: RecordingQueue?
    let balancers: [Balancer]
    let frontTLS: NIOSSLContext?
    let upstreamTLS: NIOSSLContext?
    private let lock = PosixLock()
    // Guarded by `lock`.
    private var pools: [ObjectIdentifier: UpstreamPool] = [:]
    // Guarded by `lock`.
    private var channels: [ObjectIdentifier: any Channel] = [:]
    private let shuttingDown = Atomic<Bool>(false)
    /// Port the front listens on (set once bound).
    let boundPort = Atomic<Int>(0)

    init(configuration: ProxyConfiguration, queue: RecordingQueue?, counters: ProxyCounters) throws {
        self.configuration = configuration
        self.counters = counters
        self.queue = queue
        self.balancers = configuration.routes.map { Balancer(route: $0, retrySeconds: configuration.memberRetrySeconds) }
        if let cert = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
                var tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
                tls.applicationProtocols = ["http/1.1"]
                frontTLS = try NIOSSLContext(configuration: tls)
            } catch {
                throw HarnessError(.io, "cannot load the TLS certificate or key: \(error)", path: cert)
            }
        } else {
            frontTLS = nil
        }
        if configuration.routes.contains(where: { $0.upstreams.contains { UpstreamOrigin(url: $0.url)?.tls == true } }) {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.applicationProtocols = ["http/1.1"]
            if configuration.upstreamInsecure { tls.certificateVerification = .none }
            if let ca = configuration.upstreamCAPath {
                do {
                    let roots = try NIOSSLCertificate.fromPEMFile(ca)
                    tls.additionalTrustRoots = [.certificates(roots)]
                } catch {
                    throw HarnessError(.io, "cannot load the upstream CA certificates: \(error)", path: ca)
                }
            }
            do { upstreamTLS = try NIOSSLContext(configuration: tls) } catch {
                throw HarnessError(.io, "cannot set up TLS to the upstream: \(error)")
            }
        } else {
            upstreamTLS = nil
        }
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }
    func beginShutdown() { shuttingDown.store(true, ordering: .relaxed) }

    /// The upstream pool of `loop` (created on first use).
    func pool(for loop: any EventLoop) -> UpstreamPool {
        let key = ObjectIdentifier(loop)
        return lock.withLock {
            if let p = pools[key] { return p }
            let p = UpstreamPool(eventLoop: loop, shared: self)
            pools[key] = p
            return p
        }
    }

    var allPools: [UpstreamPool] { lock.withLock { Array(pools.values) } }

    /// Forgets the pools (each holds this object: the cycle is broken here once no connection
    /// needs them).
    func releasePools() { lock.withLock { pools.removeAll() } }

    func register(_ channel: any Channel) { lock.withLock { channels[ObjectIdentifier(channel)] = channel } }
    func unregister(_ channel: any Channel) { lock.withLock { _ = channels.removeValue(forKey: ObjectIdentifier(channel)) } }
    var openChannels: [any Channel] { lock.withLock { Array(channels.values) } }

    /// Hands both legs of a finished exchange to the recording queue in one hand-off (taken or
    /// counted as left out, each).
    func record(back: consuming Exchange?, front: consuming Exchange) {
        guard let queue else { return }
        let taken = queue.offer(back: back, front: front)
        if taken > 0 { counters.recorded.add(taken, ordering: .relaxed) }
    }
}
