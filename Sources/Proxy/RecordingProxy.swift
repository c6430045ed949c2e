internal import Dispatch
internal import Synchronization
public import HarnessCore
internal import NIOCore
internal import NIOHTTP1
internal import NIOPosix
internal import NIOSSL

/// The harness's recording reverse proxy: an HTTP/1.1 (or HTTPS) front that routes requests the way
/// mod_proxy's `ProxyPass` does, streams them to pooled upstream connections, and records both legs
/// of every exchange (linked exactly) through a bounded queue to a writer thread.
///
/// ```swift
/// let proxy = RecordingProxy(configuration: ProxyConfiguration(upstream: "http://127.0.0.1:8080/"),
///                            recorder: try LogWriter(path: "out.hlog"))
/// let port = try await proxy.start()
/// ...
/// try await proxy.shutdown()   // stop accepting, drain, flush and close the log
/// ```
public final class RecordingProxy: Sendable {
    public let configuration: ProxyConfiguration
    private let counters = ProxyCounters()
    private let queue: RecordingQueue?
    private let state = ProxyRunState()

    /// `recorder` = nil: proxy without recording. `transform` runs on the writer thread before
    /// each exchange reaches the recorder (redaction).
    public init(
        configuration: ProxyConfiguration, recorder: (any ExchangeSink)?,
        transform: (@Sendable (inout Exchange) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.queue = recorder.map {
            RecordingQueue(
                sink: $0, capacity: configuration.recordQueueCapacity, maxBytes: configuration.recordQueueMaxBytes,
                transform: transform)
        }
    }

    /// Binds the front and starts serving; returns the bound port.
    public func start() async throws -> Int {
        do { try configuration.validate() } catch { throw HarnessError(.usage, error.message) }
        let shared = try ProxyShared(configuration: configuration, queue: queue, counters: counters)
        let threads = configuration.threads > 0 ? configuration.threads : System.coreCount
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        queue?.start()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                RecordingProxy.initializeFront(channel, shared: shared)
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: configuration.listenHost, port: configuration.listenPort).get()
        } catch {
            try? await group.shutdownGracefully()
            throw HarnessError(
                .io, "cannot listen on \(configuration.listenHost):\(configuration.listenPort): \(error)")
        }
        let port = channel.localAddress?.port ?? configuration.listenPort
        shared.boundPort.store(port, ordering: .relaxed)
        state.set(RunningProxy(group: group, server: channel, shared: shared))
        return port
    }

    static func initializeFront(_ channel: any Channel, shared: ProxyShared) -> EventLoopFuture<Void> {
        let counters = shared.counters
        let active = counters.activeConnections.add(1, ordering: .relaxed).newValue
        counters.connections.add(1, ordering: .relaxed)
        if active > shared.configuration.maxConnections || shared.isShuttingDown {
            counters.activeConnections.subtract(1, ordering: .relaxed)
            counters.connectionsRejected.add(1, ordering: .relaxed)
            return channel.close()
        }
        shared.register(channel)
        channel.closeFuture.whenComplete { _ in
            counters.activeConnections.subtract(1, ordering: .relaxed)
            shared.unregister(channel)
        }
        return channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            if let tls = shared.frontTLS { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
            try sync.addHandler(FrontHandler(shared: shared, pool: shared.pool(for: channel.eventLoop)))
        }
    }

    /// The bound port while running.
    public var port: Int? { state.get()?.server.localAddress?.port }

    /// Counters, from any thread.
    public var statistics: ProxyStatistics {
        var s = counters.snapshot
        if let queue { s.leftOut = queue.leftOut }
        return s
    }

    /// Serves `statistics` for Prometheus at `http://host:port/metrics` (port 0 = ephemeral) on
    /// the proxy's event loops, until `shutdown()`.
    public func startMetrics(host: String, port: Int) async throws -> MetricsEndpoint {
        guard let running = state.get() else { throw ProxyConfigurationError("the proxy is not running") }
        return try await MetricsEndpoint.start(host: host, port: port, group: running.group) { [self] in statistics }
    }

    /// Exchanges that reached the recorder (after `shutdown()`, all of them).
    public var written: Int { queue?.written ?? 0 }
    /// Exchanges whose blocks have reached the file (safe from a kill -9).
    public var flushed: Int { queue?.flushed ?? 0 }
    /// The first error the recorder reported (disk full, ...), if any.
    public var recorderError: (any Error)? { queue?.error }

    /// Stops accepting, lets in-flight exchanges finish within `drainSeconds`, closes what is left,
    /// then flushes and closes the recording. Safe to call more than once.
    public func shutdown() async throws {
        guard let running = state.take() else {
            await stopQueue()
            return
        }
        let shared = running.shared
        shared.beginShutdown()
        try? await running.server.close()
        for channel in shared.openChannels {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        let deadline = Clock.monotonicNanos() + UInt64(max(0, configuration.drainSeconds) * 1e9)
        while counters.activeConnections.load(ordering: .relaxed) > 0 && Clock.monotonicNanos() < deadline {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        for channel in shared.openChannels { try? await channel.close() }
        for pool in shared.allPools {
            try? await pool.eventLoop.submit { pool.closeAll() }.get()
        }
        await stopQueue()
        try? await running.group.shutdownGracefully()
    }

    private func stopQueue() async {
        guard let queue else { return }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                queue.stop()
                done.resume()
            }
        }
    }
}

/// What `start()` created; gone after `shutdown()`.
struct RunningProxy: @unchecked Sendable {
    let group: MultiThreadedEventLoopGroup
    let server: any Channel
    let shared: ProxyShared
}

/// The running proxy, guarded by `lock`.
final class ProxyRunState: @unchecked Sendable {
    private let lock = PosixLock()
    // Guarded by `lock`.
    private var running: RunningProxy?
    func set(_ r: RunningProxy) { lock.withLock { running = r } }
    func get() -> RunningProxy? { lock.withLock { running } }
    func take() -> RunningProxy? {
        lock.withLock {
            defer { running = nil }
            return running
        }
    }
}
