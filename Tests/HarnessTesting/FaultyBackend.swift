import Foundation

/// A backend that misbehaves on purpose, for the fault campaign: it reads one request head per
/// connection and then does what `mode` says. Runs on a thread; 127.0.0.1, ephemeral port.
public final class FaultyBackend: @unchecked Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Headers promise 100,000 bytes, 1,000 arrive, then a TCP reset.
        case resetMidBody
        /// Bytes that are not HTTP.
        case garbage
        /// A complete head promising a body, then the connection closes.
        case closeAfterHeaders
    }

    public let port: UInt16
    private let listener: Int32
    private let mode: Mode

    public init(mode: Mode) throws {
        self.mode = mode
        (listener, port) = try listenOnLoopback()
        let thread = Thread { [listener, mode] in FaultyBackend.serve(listener, mode) }
        thread.start()
    }

    /// Stops accepting (the accept loop ends when the listener is shut down).
    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func serve(_ listener: Int32, _ mode: Mode) {
        while true {
            let c = accept(listener, nil, nil)
            guard c >= 0 else { return }
            var head: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while !String(decoding: head, as: UTF8.self).contains("\r\n\r\n") {
                let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                head.append(contentsOf: buf[0..<n])
            }
            func send(_ bytes: [UInt8]) {
                _ = bytes.withUnsafeBytes { Foundation.send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            switch mode {
            case .resetMidBody:
                send(Array("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".utf8) + [UInt8](repeating: 0x78, count: 1000))
                usleep(50_000)
                var linger = linger(l_onoff: 1, l_linger: 0)
                setsockopt(c, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
            case .garbage:
                send(Array("\u{1}\u{2}NOT HTTP AT ALL\r\n\r\n".utf8))
                usleep(50_000)
            case .closeAfterHeaders:
                send(Array("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nContent-Type: text/plain\r\n\r\n".utf8))
                usleep(50_000)
            }
            close(c)
        }
    }
}
