// The replay benchmark's transport floor (scripts/bench/replay, section 1): the cheapest client
// that does what the replay's client side must do on the wire, and nothing else. It sends one
// fixed request (the size and header count of the synthetic recording's) on each of C keep-alive
// connections, frames each response by its Content-Length, and sends the next request, N in all.
// No recording is read, no result is written, nothing is compared.
//
// Two transports: SwiftNIO on L event loops (the replay's own), and a single thread over poll(2).
// The gap between this floor and `harness replay --speed max` is the replay's own per-request work.
import ArgumentParser
import Foundation
import Glibc
import NIOCore
import NIOPosix
import Synchronization

/// The request every floor connection sends (about the size of a synthetic recording's requests).
let floorRequest: [UInt8] = Array(
    ("GET /api/v1/items/89062?fields=name,price&lang=en HTTP/1.1\r\nHost: www.example.com\r\n"
        + "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36\r\n"
        + "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n"
        + "Cookie: SESSION=9e3779b97f4a7c15; _ga=GA1.2.1.1700000000\r\nAccept: application/json\r\n\r\n").utf8)

/// Frames responses by Content-Length (no chunked, no close-delimited: the floor's target is a
/// static nginx answer). Returns how many responses are complete in `bytes` and where the next
/// begins. Not the project's `HTTPHeadReader`: that builds the header Strings the replay pays
/// for, and the floor measures the transport without them. Throws on bytes that are not an
/// HTTP/1.x response head or a Content-Length past `maxBody`.
func completeResponses(_ bytes: UnsafeRawBufferPointer) throws -> (count: Int, consumed: Int) {
    var count = 0
    var at = 0
    let n = bytes.count
    while true {
        if n - at >= statusPrefix.count {
            for k in statusPrefix.indices where bytes[at + k] != statusPrefix[k] {
                throw FloorError.badResponse("no HTTP/1.x status line at byte \(at) of the buffered bytes")
            }
        }
        var end = -1
        var i = at
        while i + 3 < n {
            if bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
                end = i + 4
                break
            }
            i += 1
        }
        guard end > 0 else { return (count, at) }
        let length = try contentLength(bytes, from: at, to: end)
        guard length <= n - end else { return (count, at) }
        at = end + length
        count += 1
    }
}

/// What every response starts with.
private let statusPrefix: [UInt8] = Array("HTTP/1.".utf8)
private let lengthName: [UInt8] = Array("content-length:".utf8)
/// The largest body the floor accepts (its target answers a few bytes).
let maxBody = 1 << 30

/// The Content-Length of the head in `bytes[from..<to]` (0 when absent).
func contentLength(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) throws -> Int {
    var i = from
    while i + lengthName.count < to {
        if bytes[i] == 10 {
            let s = i + 1
            var k = 0
            while k < lengthName.count && s + k < to && (bytes[s + k] | 0x20) == lengthName[k] { k += 1 }
            if k == lengthName.count {
                var v = 0
                var j = s + k
                while j < to && bytes[j] == 32 { j += 1 }
                while j < to && bytes[j] >= 48 && bytes[j] <= 57 {
                    v = v * 10 + Int(bytes[j] - 48)
                    guard v <= maxBody else { throw FloorError.badResponse("a Content-Length above \(maxBody) bytes") }
                    j += 1
                }
                return v
            }
        }
        i += 1
    }
    return 0
}

/// Shared by the NIO connections: requests left to send, responses still to come.
final class FloorBudget: Sendable {
    let toSend: Atomic<Int>
    let toReceive: Atomic<Int>
    let done: EventLoopPromise<Void>
    init(_ n: Int, done: EventLoopPromise<Void>) {
        toSend = Atomic(n)
        toReceive = Atomic(n)
        self.done = done
    }
    /// Claims one request to send (false when all are out).
    func claim() -> Bool { toSend.subtract(1, ordering: .relaxed).newValue >= 0 }
    func received(_ k: Int) {
        if toReceive.subtract(k, ordering: .relaxed).newValue == 0 { done.succeed(()) }
    }
    /// A connection closed before every response came (the target's keep-alive limit, a crash).
    func connectionLost() {
        if toReceive.load(ordering: .relaxed) > 0 { done.fail(FloorError.connectionClosed) }
    }
}

/// Why a floor run stopped; each ends the run with exit code 2.
enum FloorError: Error, CustomStringConvertible {
    case connectionClosed
    case badResponse(String)
    case unreachable(String)
    var description: String {
        switch self {
        case .connectionClosed: "the target closed a connection before all responses came (raise its keep-alive request limit)"
        case .badResponse(let why): "the target's answer is not what the floor frames: \(why)"
        case .unreachable(let why): why
        }
    }
}

/// One NIO connection: a request out, its response framed, the next request out.
final class FloorHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let budget: FloorBudget
    private var pending = ByteBuffer()
    init(budget: FloorBudget) { self.budget = budget }

    func channelActive(context: ChannelHandlerContext) { send(context) }

    private func send(_ context: ChannelHandlerContext) {
        guard budget.claim() else { return }
        var b = context.channel.allocator.buffer(capacity: floorRequest.count)
        b.writeBytes(floorRequest)
        context.writeAndFlush(NIOAny(b), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        budget.connectionLost()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        // Framed where the bytes are: only a partial response is kept for the next read.
        let direct = pending.readableBytes == 0
        if !direct { pending.writeBuffer(&incoming) }
        let framed = (direct ? incoming : pending).withUnsafeReadableBytes { bytes in
            Result { try completeResponses(bytes) }
        }
        let count: Int
        switch framed {
        case .failure(let error):
            budget.done.fail(error)
            context.close(promise: nil)
            return
        case .success(let r):
            count = r.count
            if direct {
                incoming.moveReaderIndex(forwardBy: r.consumed)
                if incoming.readableBytes > 0 { pending.writeBuffer(&incoming) }
            } else {
                pending.moveReaderIndex(forwardBy: r.consumed)
                pending.discardReadBytes()
            }
        }
        guard count > 0 else { return }
        budget.received(count)
        for _ in 0..<count { send(context) }
    }
}

@main
struct ReplayFloor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay-floor", abstract: "The replay benchmark's transport floor: fixed requests, no log, no diff.")

    @Option(help: "Target port on 127.0.0.1.") var port: Int
    @Option(help: "Keep-alive connections.") var connections = 32
    @Option(help: "Requests in all.") var requests = 200_000
    @Option(help: "nio or poll.") var transport = "nio"
    @Option(help: "Event loops (nio).") var loops = System.coreCount

    func run() throws {
        guard transport == "nio" || transport == "poll" else { throw ValidationError("--transport is nio or poll") }
        let start = ContinuousClock.now
        do {
            if transport == "nio" { try runNIO() } else { try runPoll() }
        } catch let error as FloorError {
            FileHandle.standardError.write(Data("replay-floor: \(error) (127.0.0.1:\(port))\n".utf8))
            throw ExitCode(2)
        } catch {
            // Connect failures from SwiftNIO (refused, timed out).
            FileHandle.standardError.write(Data("replay-floor: cannot reach 127.0.0.1:\(port): \(error)\n".utf8))
            throw ExitCode(2)
        }
        let d = start.duration(to: .now)
        let secs = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        print("floor \(transport): \(requests) requests in \((secs * 1000).rounded() / 1000) s (\(Int(Double(requests) / secs)) req/s)")
    }

    private func runNIO() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, loops))
        defer { try? group.syncShutdownGracefully() }
        let budget = FloorBudget(requests, done: group.next().makePromise())
        var channels: [any Channel] = []
        for _ in 0..<connections {
            channels.append(
                try ClientBootstrap(group: group)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .channelInitializer { ch in
                        ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(FloorHandler(budget: budget)) }
                    }
                    .connect(host: "127.0.0.1", port: port).wait())
        }
        try budget.done.futureResult.wait()
        for c in channels { try? c.close().wait() }
    }

    private func runPoll() throws {
        var fds: [pollfd] = []
        var buffers: [[UInt8]] = []
        defer { for p in fds { close(p.fd) } }
        var sent = 0
        var received = 0
        func send(_ fd: Int32) throws {
            guard sent < requests else { return }
            sent += 1
            let w = floorRequest.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard w == floorRequest.count else { throw FloorError.unreachable("short write to the target (\(w) bytes)") }
        }
        for _ in 0..<connections {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw FloorError.unreachable("socket() failed") }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            a.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else {
                close(fd)
                throw FloorError.unreachable("cannot connect: connection refused or unreachable")
            }
            fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
            buffers.append([])
            try send(fd)
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while received < requests {
            guard poll(&fds, nfds_t(fds.count), 10_000) > 0 else { throw FloorError.unreachable("the target stopped answering for 10 s") }
            for i in fds.indices where fds[i].revents != 0 {
                let r = read(fds[i].fd, &chunk, chunk.count)
                guard r > 0 else { throw FloorError.connectionClosed }
                buffers[i].append(contentsOf: chunk[0..<r])
                let (count, consumed) = try buffers[i].withUnsafeBytes { try completeResponses($0) }
                if consumed > 0 { buffers[i].removeFirst(consumed) }
                received += count
                for _ in 0..<count { try send(fds[i].fd) }
            }
        }
    }
}
