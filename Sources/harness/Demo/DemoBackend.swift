import HarnessCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// The demo's built-in backend application: a login with redirects and cookies, a JSON API,
/// a chunked report, a large download, an upload, a moved page. Its redirects name its own
/// origin (`http://127.0.0.1:PORT/app/...`), as real backends do, so a proxy without reverse
/// rewriting (`ProxyPassReverse`) leaks that origin to clients.
final class DemoBackend: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    let port: Int

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel, port: Int) {
        self.group = group
        self.channel = channel
        self.port = port
    }

    static func start() async throws -> DemoBackend {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(DemoBackendHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return DemoBackend(group: group, channel: channel, port: channel.localAddress?.port ?? 0)
    }

    func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

private final class DemoBackendHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var buf):
            body += buf.readBytes(length: buf.readableBytes) ?? []
        case .end:
            guard let head else { return }
            respond(context: context, head: head)
            self.head = nil
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let port = context.channel.localAddress?.port ?? 0
        let origin = "http://127.0.0.1:\(port)"
        let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
        let cookie = head.headers["Cookie"].joined(separator: "; ")
        let loggedIn = cookie.contains("SESSION=demo-")
        var status = HTTPResponseStatus.ok
        var headers = HTTPHeaders()
        var payload: [UInt8] = []
        var chunked = false
        headers.add(name: "X-Frame-Options", value: "DENY")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        headers.add(name: "X-Backend-Saw-Host", value: head.headers["Host"].first ?? "")
        switch (head.method, path) {
        case (.GET, "/app/"), (.GET, "/app/index.html"):
            headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
            payload = Array("<!doctype html><title>Demo shop</title><h1>Welcome</h1><a href=\"/app/login\">log in</a>\n".utf8)
        case (.GET, "/app/login"):
            headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
            payload = Array("<form method=post action=/app/login><input name=user><input name=password type=password></form>\n".utf8)
        case (.POST, "/app/login"):
            let form = String(decoding: body, as: UTF8.self)
            let user = form.split(separator: "&").first { $0.hasPrefix("user=") }.map { String($0.dropFirst(5)) } ?? "guest"
            status = .found
            headers.add(name: "Location", value: "\(origin)/app/account")
            headers.add(name: "Set-Cookie", value: "SESSION=demo-\(user); Path=/app; HttpOnly")
        case (.GET, "/app/account"):
            if loggedIn {
                headers.add(name: "Content-Type", value: "application/json")
                payload = Array("{\"user\":\"\(cookie.split(separator: "-").last.map(String.init)?.prefix(20) ?? "")\",\"orders\":[1,2,3]}".utf8)
            } else {
                status = .found
                headers.add(name: "Location", value: "\(origin)/app/login")
            }
        case (.GET, _) where path.hasPrefix("/app/api/items/"):
            let id = path.dropFirst("/app/api/items/".count)
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Cache-Control", value: "max-age=60")
            payload = Array("{\"id\":\"\(id)\",\"name\":\"Item \(id)\",\"price\":\(id.count * 7).5}".utf8)
        case (.GET, "/app/report"):
            chunked = true
            headers.add(name: "Content-Type", value: "text/csv")
            payload = Array((0..<4000).map { "row,\($0),\($0 * $0 % 977),ok\n" }.joined().utf8)
        case (.GET, "/app/download"):
            headers.add(name: "Content-Type", value: "application/octet-stream")
            var rng = SplitMix64(seed: 7)
            payload = (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case (.POST, "/app/upload"):
            status = .created
            headers.add(name: "Location", value: "\(origin)/app/files/\(body.count)")
            headers.add(name: "Content-Type", value: "application/json")
            payload = Array("{\"stored\":\(body.count)}".utf8)
        case (.GET, "/app/old-catalogue"):
            status = .movedPermanently
            headers.add(name: "Location", value: "\(origin)/app/api/items/1")
        default:
            status = .notFound
            headers.add(name: "Content-Type", value: "text/plain")
            payload = Array("not found\n".utf8)
        }
        if chunked {
            headers.add(name: "Transfer-Encoding", value: "chunked")
        } else {
            headers.add(name: "Content-Length", value: String(payload.count))
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if chunked {
            var offset = 0
            while offset < payload.count {
                let end = min(payload.count, offset + 16_384)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: payload[offset..<end])))), promise: nil)
                offset = end
            }
        } else if !payload.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: payload)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
