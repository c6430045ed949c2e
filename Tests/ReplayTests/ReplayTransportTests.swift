import Foundation
import HarnessCore
import HarnessTesting
import Testing

@testable import Replay

/// The replay's two client transports, the epoll loops (`PollLoop`, the default for plain HTTP)
/// and SwiftNIO's channels, against one scripted target that answers each path its own way:
/// keep-alive, a body larger than a read, chunked with trailers, close-delimited, 100-continue, a
/// 2 MB upload larger than the socket buffer, a reset mid-body, bytes that are not HTTP, silence.
/// Each transport must record what the target did, and both must record the same.
@Suite struct ReplayTransportTests {
    @Test func bothTransportsRecordWhatTheTargetDid() async throws {
        let target = try ScriptedTarget()
        defer { target.stop() }
        let dir = TempDir("transports")
        var b = ReplayRecordingBuilder()
        let page = Response(status: 200, reason: "OK", headers: [HeaderField("Content-Length", "2")], body: Array("ok".utf8))
        let keepAlive = b.newConnection()
        for i in 0..<3 { b.add(connection: keepAlive, target: "/ok/\(i)", front: page, back: nil) }
        for path in ["/big", "/chunked", "/close", "/reset", "/garbage", "/hang", "/continue"] {
            b.add(connection: b.newConnection(), target: path, front: page, back: nil)
        }
        let upload = [UInt8](repeating: 0x61, count: 2_000_000)
        b.add(connection: b.newConnection(), method: "POST", target: "/upload", body: upload, front: page, back: nil)
        let recording = dir.file("rec.log")
        try b.write(to: recording)

        var outcomes: [ClientTransport: [String: Outcome]] = [:]
        for transport in ClientTransport.allCases {
            var config = ReplayConfiguration(
                recordingPath: recording, target: "http://127.0.0.1:\(target.port)", outputPath: dir.file("\(transport).log"))
            config.speed = .max
            config.requestTimeout = 1
            config.diff = false
            config.transport = transport
            _ = try await Replayer(configuration: config).run()
            let fronts = try LogFile.readAll(config.outputPath).exchanges.filter { $0.leg == .front }
            var byPath: [String: Outcome] = [:]
            for e in fronts { byPath[e.request.target] = Outcome(e) }
            outcomes[transport] = byPath

            let o = byPath
            #expect(o.count == 11, "\(transport): every recorded request is accounted for")
            for i in 0..<3 {
                #expect(o["/ok/\(i)"] == Outcome(status: 200, body: "ok", sequence: UInt32(i)), "\(transport)")
            }
            let keptAlive = Set(fronts.filter { $0.request.target.hasPrefix("/ok/") }.map(\.connection.id))
            #expect(keptAlive.count == 1, "\(transport): one recorded connection, one replayed connection")
            #expect(o["/big"]?.bodyCount == ScriptedTarget.bigBody, "\(transport)")
            #expect(o["/chunked"] == Outcome(status: 200, body: "hello world!", trailers: 1), "\(transport)")
            #expect(o["/close"] == Outcome(status: 200, body: "closing body"), "\(transport): close-delimited")
            #expect(o["/continue"] == Outcome(status: 200, body: "ok", interim: [100]), "\(transport)")
            #expect(o["/upload"] == Outcome(status: 200, body: "got 2000000"), "\(transport)")
            #expect(o["/reset"] == Outcome(status: nil, body: "", error: "reset"), "\(transport): \(String(describing: o["/reset"]))")
            #expect(o["/garbage"]?.error?.hasPrefix("error: malformed response") == true, "\(transport)")
            #expect(o["/hang"]?.error == "timeout", "\(transport)")
            // Every replayed exchange names the real addresses of its connection.
            for e in fronts where e.error == nil {
                #expect(e.connection.server.port == target.port && e.connection.client.port != 0, "\(transport)")
            }
        }
        for (path, poll) in outcomes[.poll] ?? [:] {
            let nio = outcomes[.nio]?[path]
            #expect(nio == poll, "\(path): poll \(poll) vs nio \(String(describing: nio))")
        }
    }

    /// What a replayed exchange came to, as far as a transport decides it.
    struct Outcome: Equatable {
        var status: UInt16?
        var body: String?
        var bodyCount = 0
        var trailers = 0
        var interim: [UInt16] = []
        var error: String?
        var sequence: UInt32 = 0

        init(status: UInt16?, body: String?, trailers: Int = 0, interim: [UInt16] = [], error: String? = nil, sequence: UInt32 = 0) {
            self.status = status
            self.body = body
            self.bodyCount = body?.utf8.count ?? 0
            self.trailers = trailers
            self.interim = interim
            self.error = error
            self.sequence = sequence
        }

        init(_ e: Exchange) {
            status = e.response?.status
            let bytes = e.response?.body ?? []
            body = bytes.count <= 64 ? String(decoding: bytes, as: UTF8.self) : nil
            bodyCount = bytes.count
            trailers = e.response?.trailers.count ?? 0
            interim = e.response?.interim.map(\.status) ?? []
            error = e.error
            sequence = e.sequence
        }
    }
}

/// A loopback HTTP/1.1 target, a thread per connection, that answers by path (see the suite).
final class ScriptedTarget: @unchecked Sendable {
    static let bigBody = 300_000
    let port: UInt16
    private let listener: Int32

    init() throws {
        (listener, port) = try listenOnLoopback()
        let l = listener
        Thread { ScriptedTarget.accept(l) }.start()
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func accept(_ listener: Int32) {
        while true {
            let c = Foundation.accept(listener, nil, nil)
            guard c >= 0 else { return }
            Thread { serve(c) }.start()
        }
    }

    private static func serve(_ c: Int32) {
        defer { close(c) }
        var pending: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        func fill() -> Bool {
            let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return false }
            pending += buf[0..<n]
            return true
        }
        func send(_ text: String) { send(Array(text.utf8)) }
        func send(_ bytes: [UInt8]) {
            var off = 0
            while off < bytes.count {
                let n = bytes[off...].withUnsafeBytes { Foundation.send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { return }
                off += n
            }
        }
        while true {
            var end: Int?
            while end == nil {
                end = pending.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound
                if end == nil && !fill() { return }
            }
            guard let headEnd = end else { return }
            let head = String(decoding: pending[0..<headEnd], as: UTF8.self)
            pending.removeFirst(headEnd)
            let lines = head.split(separator: "\r\n")
            let path = lines.first?.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            let length =
                lines.dropFirst().compactMap { line -> Int? in
                    let parts = line.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                    return Int(parts[1].trimmingCharacters(in: .whitespaces))
                }.first ?? 0
            while pending.count < length { if !fill() { return } }
            pending.removeFirst(length)
            switch path {
            case "/big":
                send("HTTP/1.1 200 OK\r\nContent-Length: \(bigBody)\r\n\r\n")
                send([UInt8](repeating: 0x62, count: bigBody))
            case "/chunked":
                send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5;ext=1\r\nworld\r\n1\r\n!\r\n0\r\nX-Sum: 12\r\n\r\n")
            case "/close":
                send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nclosing body")
                return
            case "/reset":
                send("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "x", count: 1000))
                usleep(50_000)
                var linger = linger(l_onoff: 1, l_linger: 0)
                setsockopt(c, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
                return
            case "/garbage":
                send("\u{1}\u{2}NOT HTTP AT ALL\r\n\r\n")
                usleep(50_000)
                return
            case "/hang":
                while fill() {}
                return
            case "/continue":
                send("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            case "/upload":
                let text = "got \(length)"
                send("HTTP/1.1 200 OK\r\nContent-Length: \(text.utf8.count)\r\n\r\n\(text)")
            default:
                send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            }
        }
    }
}
