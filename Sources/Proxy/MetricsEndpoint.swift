public import NIOCore
import NIOHTTP1
import NIOPosix

/// A Prometheus scrape endpoint: `GET /metrics` answers the proxy's counters in the text
/// exposition format (version 0.0.4); anything else is a 404. It has its own listener, so a
/// scrape never queues behind proxied traffic, and it reads the counters without locks.
public final class MetricsEndpoint: Sendable {
    private let channel: any Channel
    /// The bound port.
    public let port: Int

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    /// Starts listening on `host:port` (port 0 = ephemeral) on `group`; `statistics` is read per scrape.
    public static func start(
        host: String, port: Int, group: any EventLoopGroup, statistics: @escaping @Sendable () -> ProxyStatistics
    ) async throws -> MetricsEndpoint {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(statistics: statistics))
                }
            }
            .bind(host: host, port: port).get()
        return MetricsEndpoint(channel: channel, port: channel.localAddress?.port ?? port)
    }

    public func stop() async {
        try? await channel.close()
    }

    /// The exposition text for `s`.
    public static func text(_ s: ProxyStatistics) -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: Int) {
            out += "# HELP harness_proxy_\(name) \(help)\n# TYPE harness_proxy_\(name) \(type)\nharness_proxy_\(name) \(value)\n"
        }
        metric("requests_total", "counter", "Client requests whose head was read.", s.requests)
        metric("recorded_total", "counter", "Exchanges handed to the recording (both legs).", s.recorded)
        metric("left_out_total", "counter", "Exchanges left out of the recording because its queue was full.", s.leftOut)
        metric("upstream_errors_total", "counter", "Upstream failures: refused, reset, timeouts, TLS, no member.", s.upstreamErrors)
        metric("client_errors_total", "counter", "Requests the proxy answered itself with a 4xx.", s.clientErrors)
        metric("connections_total", "counter", "Client connections accepted.", s.connections)
        metric("connections_rejected_total", "counter", "Client connections closed at once over the connection cap.", s.connectionsRejected)
        metric("active_connections", "gauge", "Client connections open now.", s.activeConnections)
        return out
    }
}

private final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let statistics: @Sendable () -> ProxyStatistics
    private var head: HTTPRequestHead?

    init(statistics: @escaping @Sendable () -> ProxyStatistics) {
        self.statistics = statistics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            head = nil
            let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
            let found = path == "/metrics" && (h.method == .GET || h.method == .HEAD)
            let body = found ? MetricsEndpoint.text(statistics()) : "not found: the metrics are at /metrics\n"
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: found ? .ok : .notFound, headers: headers))), promise: nil)
            if h.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
