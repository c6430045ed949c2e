import Foundation
import HarnessCore
import HarnessTesting
import Testing

@testable import Proxy

/// Upgrade/WebSocket: the handshake goes through and is recorded, the bytes after it are
/// tunnelled both ways and counted.
@Suite(.serialized) struct ProxyTunnelTests {
    @Test func websocketUpgradeIsTunnelledAndCounted() async throws {
        let backend = try EchoUpgradeBackend()
        let proxy = try await TestProxy.start(ProxyConfiguration(upstream: "http://127.0.0.1:\(backend.port)/"))
        let client = try RawClient(port: proxy.port)
        client.send(
            "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        let head = String(decoding: client.receive(timeout: 5) { String(decoding: $0, as: UTF8.self).contains("\r\n\r\n") }, as: UTF8.self)
        #expect(head.hasPrefix("HTTP/1.1 101"))
        #expect(head.lowercased().contains("upgrade: websocket"))
        client.send("ping-frame-1")
        let echo = String(decoding: client.receive(timeout: 5) { $0.count >= 12 }, as: UTF8.self)
        #expect(echo == "ping-frame-1")
        client.send("second!")
        let echo2 = String(decoding: client.receive(timeout: 5) { $0.count >= 7 }, as: UTF8.self)
        #expect(echo2 == "second!")
        client.close()
        try await Task.sleep(nanoseconds: 300_000_000)
        try await proxy.stop()
        let front = try #require(proxy.exchanges(.front).first)
        #expect(front.response?.status == 101)
        #expect(front.framing.contains(.upgrade))
        #expect(front.tunnel == TunnelBytes(clientToServer: 19, serverToClient: 19))
        let back = try #require(proxy.exchanges(.back).first)
        #expect(back.request.headers.first("Upgrade") == "websocket")
        #expect(back.tunnel == front.tunnel)
        #expect(back.link?.frontID == front.id)
    }
}

/// A one-connection backend: answers the first request head with `101`, then echoes bytes.
final class EchoUpgradeBackend: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32

    init() throws {
        let (fd, port) = try listenOnLoopback(backlog: 4)
        listener = fd
        self.port = port
        let thread = Thread {
            let c = accept(fd, nil, nil)
            guard c >= 0 else { return }
            var head: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while !String(decoding: head, as: UTF8.self).contains("\r\n\r\n") {
                let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
                if n <= 0 { close(c); return }
                head.append(contentsOf: buf[0..<n])
            }
            let reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
            _ = reply.withCString { send(c, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            while true {
                let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                _ = buf.withUnsafeBytes { send(c, $0.baseAddress, n, Int32(MSG_NOSIGNAL)) }
            }
            close(c)
        }
        thread.start()
    }

    deinit { close(listener) }
}
