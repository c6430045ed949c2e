public import HarnessCore
internal import NIOCore
internal import NIOEmbedded

/// The proxy's client side without sockets: the same pipeline a client connection gets
/// (`FrontHandler`, which frames requests itself with the proxy's limits) on an `EmbeddedChannel`,
/// fed raw bytes. There are no routes, so no request ever leaves: routed requests are answered
/// 404 and malformed ones 400/413/431 locally, all recorded. For the request-parsing fuzz target
/// and fast tests of hostile input.
public enum FrontPipelineProbe {
    /// What the proxy wrote back and what it recorded.
    public struct Outcome: Sendable {
        public var response: [UInt8]
        public var recorded: [Exchange]
    }

    /// Feeds `chunks` (each one read) to a fresh connection, lets every timer fire, then closes.
    public static func feed(_ chunks: [[UInt8]], configuration: ProxyConfiguration = ProxyConfiguration()) throws -> Outcome {
        var config = configuration
        config.routes = []
        let sink = MemorySink()
        let queue = RecordingQueue(sink: sink)  // never started: `stop()` drains it on this thread
        let shared = try ProxyShared(configuration: config, queue: queue, counters: ProxyCounters())
        let channel = EmbeddedChannel()
        try RecordingProxy.initializeFront(channel, shared: shared).wait()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
        var response: [UInt8] = []
        func drain() {
            while let part = try? channel.readOutbound(as: IOData.self) {
                if case .byteBuffer(let b) = part { response += b.readableBytesView }
            }
        }
        for chunk in chunks where channel.isActive {
            _ = try? channel.writeInbound(ByteBuffer(bytes: chunk))
            drain()
        }
        channel.embeddedEventLoop.advanceTime(by: .hours(1))
        drain()
        _ = try? channel.finish()
        // Let closes the handler scheduled (linger) and the close callbacks run, then make sure the
        // shared state lets go of the channel (the cycle a real close breaks).
        channel.embeddedEventLoop.run()
        channel.embeddedEventLoop.advanceTime(by: .hours(2))
        drain()
        shared.unregister(channel)
        // Drop the timers still scheduled (idle timeout, the pool's sweep): they hold the handler
        // and the pool, which hold the loop.
        try? channel.embeddedEventLoop.syncShutdownGracefully()
        shared.releasePools()
        queue.stop()
        return Outcome(response: response, recorded: sink.exchanges)
    }
}
