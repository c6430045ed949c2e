import CHarnessSupport
import Glibc
import HarnessCore
import NIOCore

/// One replay connection on a `PollLoop`: a non-blocking TCP socket. A request leaves with one
/// `send` (the rest, when the socket buffer is full, once it is writable); what each `read`
/// returns goes straight to the `ResponseReader`. Everything runs on the loop.
final class PollConnection: ClientConnection, PollWatcher, @unchecked Sendable {
    let reader: ResponseReader
    private(set) var localEndpoint = Endpoint(host: "0.0.0.0", port: 0)
    private(set) var remoteEndpoint = Endpoint(host: "0.0.0.0", port: 0)
    private let fd: Int32
    private unowned let loop: PollLoop
    private var closed = false
    /// Set while connecting: told once whether the connection came up (nil) or why not.
    private var connected: ((String?) -> Void)?
    private var connectTimer: Scheduled<Void>?
    /// Bytes the socket did not take yet, and who waits for them to leave.
    private var unsent: ByteBuffer?
    private var sentCallback: (() -> Void)?

    private init(fd: Int32, loop: PollLoop, reader: ResponseReader) {
        self.fd = fd
        self.loop = loop
        self.reader = reader
    }

    /// Connects to `address`; `done` runs on the loop with the connection, or with the failure as
    /// `ConnectionFailure` names it ("refused", "timeout", ...).
    static func connect(
        on loop: PollLoop, to address: SocketAddress, reader: ResponseReader, timeout: TimeAmount,
        done: @escaping @Sendable (Result<PollConnection, ConnectFailure>) -> Void
    ) {
        var error: Int32 = 0
        let fd = address.withSockAddr { harness_tcp_connect($0, UInt32($1), &error) }
        guard fd >= 0 else {
            let kind = ConnectionFailure.classify(errno: error)
            loop.execute { done(.failure(ConnectFailure(kind: kind))) }
            return
        }
        let connection = PollConnection(fd: fd, loop: loop, reader: reader)
        guard loop.register(fd, connection, writable: true) else {
            let kind = ConnectionFailure.classify(errno: errno)
            Glibc.close(fd)
            loop.execute { done(.failure(ConnectFailure(kind: kind))) }
            return
        }
        connection.connected = { failure in
            if let failure {
                done(.failure(ConnectFailure(kind: failure)))
            } else {
                done(.success(connection))
            }
        }
        connection.connectTimer = loop.scheduleTask(in: timeout) { [connection] in
            connection.finishConnect(failure: "timeout")
        }
    }

    /// Why a connection did not come up.
    struct ConnectFailure: Error {
        var kind: String
    }

    private func finishConnect(failure: String?) {
        guard let connected else { return }
        self.connected = nil
        connectTimer?.cancel()
        connectTimer = nil
        if failure != nil {
            shut()
        } else {
            loop.setWritable(fd, false)
            localEndpoint = Self.endpoint(fd, peer: false)
            remoteEndpoint = Self.endpoint(fd, peer: true)
        }
        connected(failure)
    }

    private static func endpoint(_ fd: Int32, peer: Bool) -> Endpoint {
        var host = [CChar](repeating: 0, count: 64)
        var port: Int32 = 0
        guard harness_socket_name(fd, peer ? 1 : 0, &host, host.count, &port) == 0 else {
            return Endpoint(host: "0.0.0.0", port: 0)
        }
        let text = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Endpoint(host: text, port: UInt16(truncatingIfNeeded: port))
    }

    // MARK: ClientConnection

    func write(_ bytes: ByteBuffer, written: (() -> Void)?) {
        guard !closed else { return }
        if var queued = unsent {
            var more = bytes
            queued.writeBuffer(&more)
            unsent = queued
            if let written { sentCallback = written }
            return
        }
        var rest = bytes
        switch send(&rest) {
        case .done:
            written?()
        case .blocked:
            unsent = rest
            sentCallback = written
            loop.setWritable(fd, true)
        case .failed(let e):
            // Told after this call returns, as SwiftNIO tells a write's error: the driver is in
            // the middle of sending.
            loop.execute { [self] in failAndClose(kind: ConnectionFailure.classify(errno: e)) }
        }
    }

    func close() {
        guard !closed else { return }
        connected = nil
        connectTimer?.cancel()
        connectTimer = nil
        shut()
    }

    private func shut() {
        guard !closed else { return }
        closed = true
        unsent = nil
        sentCallback = nil
        loop.unregister(fd)
        Glibc.close(fd)
    }

    private enum SendResult {
        case done, blocked
        case failed(Int32)
    }

    /// Writes what it can of `bytes` (what is left stays in it).
    private func send(_ bytes: inout ByteBuffer) -> SendResult {
        while bytes.readableBytes > 0 {
            let n = bytes.withUnsafeReadableBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                bytes.moveReaderIndex(forwardBy: n)
                continue
            }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .blocked }
            return .failed(e)
        }
        return .done
    }

    // MARK: PollWatcher

    func pollEvent(readable: Bool, writable: Bool) {
        if connected != nil {
            let e = harness_socket_error(fd)
            if e != 0 {
                finishConnect(failure: ConnectionFailure.classify(errno: e))
                return
            }
            guard writable else { return }
            finishConnect(failure: nil)
            return
        }
        if writable, !closed, var rest = unsent {
            unsent = nil
            switch send(&rest) {
            case .done:
                loop.setWritable(fd, false)
                let callback = sentCallback
                sentCallback = nil
                callback?()
            case .blocked:
                unsent = rest
            case .failed(let e):
                failAndClose(kind: ConnectionFailure.classify(errno: e))
                return
            }
        }
        if readable { readAll() }
    }

    func loopStopped() { close() }

    private func readAll() {
        let buffer = loop.readBuffer
        // A few reads per wake-up at most: a connection that keeps its socket full does not
        // starve the loop's others.
        for _ in 0..<4 where !closed {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 {
                if !reader.received(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), time: Clock.nowMicros()) {
                    shut()
                    return
                }
                if n < buffer.count { return }
                continue
            }
            if n == 0 {
                shut()
                reader.ended(time: Clock.nowMicros())
                return
            }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return }
            failAndClose(kind: ConnectionFailure.classify(errno: e))
            return
        }
    }

    /// The connection broke: the reader tells the driver (once), and the socket closes.
    private func failAndClose(kind: String) {
        guard !closed else { return }
        shut()
        reader.fail(kind: kind)
    }
}
