import Foundation

/// A blocking TCP client for bytes no well-behaved client would send (pipelining, malformed heads,
/// slowloris), talking to 127.0.0.1.
public final class RawClient {
    /// The socket; -1 once closed.
    public private(set) var fd: Int32

    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard ok else {
            Foundation.close(fd)
            fd = -1
            throw TestServerError("cannot connect to 127.0.0.1:\(port)")
        }
    }

    /// Closes the socket once (a second close could hit a descriptor NIO reused meanwhile).
    public func close() {
        guard fd >= 0 else { return }
        Foundation.close(fd)
        fd = -1
    }

    deinit { close() }

    public func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    public func send(_ text: String) { send(Array(text.utf8)) }

    /// Reads until `until` is satisfied, the peer closes, or `timeout` seconds pass.
    public func receive(timeout: Double = 10, until: ([UInt8]) -> Bool = { _ in false }) -> [UInt8] {
        var out: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            if poll(&p, 1, ms) <= 0 { break }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
            if until(out) { break }
        }
        return out
    }

    /// Connects, sends, reads (see `receive`), closes.
    public static func exchange(
        port: Int, send bytes: [UInt8], timeout: Double = 10, until: ([UInt8]) -> Bool = { _ in false }
    ) throws -> [UInt8] {
        let c = try RawClient(port: port)
        c.send(bytes)
        return c.receive(timeout: timeout, until: until)
    }
}
