import CHarnessSupport
import Dispatch
import Foundation
import Glibc
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Something a `PollLoop` watches: told when its descriptor is readable (or hung up, or failed)
/// and when it is writable.
protocol PollWatcher: AnyObject {
    func pollEvent(readable: Bool, writable: Bool)
    /// The loop is ending: close the descriptor.
    func loopStopped()
}

/// The replay client's own event loop for plain-TCP targets: one thread over `epoll`, an
/// `eventfd` for tasks from other threads and a `timerfd` for the earliest timer.
///
/// It is a SwiftNIO `EventLoop` (tasks, timers, promises), so `ConnectionDriver` schedules on it
/// as on SwiftNIO's loops, but its sockets are not SwiftNIO channels: a `PollConnection` writes a
/// request with one `send` and hands what one `read` returns to its `ResponseReader`, with no
/// pipeline, promise or buffer allocation per message between them. That path is the replay's
/// hottest (see docs/bench/replay.md, session 10): SwiftNIO's write and read pipelines were about
/// 3 µs of a request's 20-odd µs of client CPU. HTTPS targets stay on SwiftNIO (TLS).
///
/// Tasks queued from the loop itself run after the I/O events of the wake-up that queued them
/// (`LoopPumps` depends on it); tasks from other threads run in the next wake-up.
final class PollLoop: EventLoop, @unchecked Sendable {
    private let epfd: Int32
    private let wakeFD: Int32
    private let timerFD: Int32
    private let lock = NIOLock()
    // Guarded by `lock`.
    private var remote: [@Sendable () -> Void] = []
    private var wakePending = false
    private var stopping = false
    private var stopCallbacks: [(DispatchQueue, @Sendable ((any Error)?) -> Void)] = []
    // The loop thread's own.
    private var local: [() -> Void] = []
    private var running: [() -> Void] = []
    private var remoteRunning: [@Sendable () -> Void] = []
    /// Each watched descriptor's registration: a generation (in the event's upper 32 bits) tells
    /// a stale event of a closed descriptor from one of a new socket that reuses its number in
    /// the same wake-up.
    private var watchers: [Int32: (generation: UInt32, watcher: any PollWatcher)] = [:]
    private var generation: UInt32 = 0
    private var timers = TimerHeap()
    private var timerBodies: [UInt64: () -> Void] = [:]
    private var armedDeadline: UInt64 = 0
    /// One read buffer for every connection of the loop (they read one at a time).
    let readBuffer: UnsafeMutableRawBufferPointer

    private let threadID = Atomic<UInt>(0)
    private let nextTimerID = Atomic<UInt64>(1)
    private let started = DispatchSemaphore(value: 0)

    static let readBufferSize = 64 << 10

    // <sys/epoll.h>'s values (Linux's ABI).
    static let pollIn: UInt32 = 0x001
    static let pollOut: UInt32 = 0x004
    static let pollErr: UInt32 = 0x008
    static let pollHup: UInt32 = 0x010
    static let pollRDHup: UInt32 = 0x2000
    static let ctlAdd: Int32 = 1
    static let ctlDel: Int32 = 2
    static let ctlMod: Int32 = 3

    /// The loop thread's name.
    let name: String

    init(name: String) throws {
        self.name = name
        epfd = harness_epoll_create()
        wakeFD = harness_eventfd()
        timerFD = harness_timerfd()
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        guard epfd >= 0, wakeFD >= 0, timerFD >= 0,
            harness_epoll_ctl(epfd, Self.ctlAdd, wakeFD, Self.pollIn, UInt64(wakeFD)) == 0,
            harness_epoll_ctl(epfd, Self.ctlAdd, timerFD, Self.pollIn, UInt64(timerFD)) == 0
        else {
            let e = errno
            for fd in [epfd, wakeFD, timerFD] where fd >= 0 { Glibc.close(fd) }
            readBuffer.deallocate()
            throw IOError(errnoCode: e, reason: "epoll set-up")
        }
        // Named by `run()` for the kernel (Foundation's name does not reach it on Linux).
        Thread { [self] in run() }.start()
        started.wait()
    }

    deinit {
        Glibc.close(epfd)
        Glibc.close(wakeFD)
        Glibc.close(timerFD)
        readBuffer.deallocate()
    }

    // MARK: EventLoop

    var inEventLoop: Bool { threadID.load(ordering: .relaxed) == UInt(pthread_self()) }

    func execute(_ task: @escaping @Sendable () -> Void) {
        if inEventLoop {
            local.append(task)
            return
        }
        let wake = lock.withLock { () -> Bool in
            remote.append(task)
            if wakePending { return false }
            wakePending = true
            return true
        }
        if wake { harness_eventfd_signal(wakeFD) }
    }

    func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise: EventLoopPromise<T> = makePromise()
        let id = nextTimerID.wrappingAdd(1, ordering: .relaxed).oldValue
        let body: @Sendable () -> Void = {
            do { promise.assumeIsolatedUnsafeUnchecked().succeed(try task()) } catch { promise.fail(error) }
        }
        let at = deadline.uptimeNanoseconds
        if inEventLoop {
            addTimer(id: id, at: at, body: body)
        } else {
            execute { [self] in addTimer(id: id, at: at, body: body) }
        }
        return Scheduled(promise: promise) { [self] in
            if inEventLoop {
                timerBodies[id] = nil
            } else {
                execute { [self] in timerBodies[id] = nil }
            }
        }
    }

    func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + delay, task)
    }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        lock.withLock {
            stopping = true
            stopCallbacks.append((queue, callback))
        }
        harness_eventfd_signal(wakeFD)
    }

    // MARK: descriptors (on the loop)

    /// Watches `fd` for input (and for output when `writable`).
    func register(_ fd: Int32, _ watcher: any PollWatcher, writable: Bool) -> Bool {
        generation &+= 1
        watchers[fd] = (generation, watcher)
        guard harness_epoll_ctl(epfd, Self.ctlAdd, fd, Self.interest(writable: writable), Self.token(fd, generation)) == 0 else {
            watchers[fd] = nil
            return false
        }
        return true
    }

    func setWritable(_ fd: Int32, _ writable: Bool) {
        guard let g = watchers[fd]?.generation else { return }
        _ = harness_epoll_ctl(epfd, Self.ctlMod, fd, Self.interest(writable: writable), Self.token(fd, g))
    }

    private static func token(_ fd: Int32, _ generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    /// Stops watching `fd` (before it is closed; events of this wake-up for it are dropped).
    func unregister(_ fd: Int32) {
        watchers[fd] = nil
        _ = harness_epoll_ctl(epfd, Self.ctlDel, fd, 0, 0)
    }

    private static func interest(writable: Bool) -> UInt32 {
        var events = Self.pollIn | Self.pollRDHup
        if writable { events |= Self.pollOut }
        return events
    }

    // MARK: the loop

    private func addTimer(id: UInt64, at: UInt64, body: @escaping () -> Void) {
        timerBodies[id] = body
        timers.push(at: at, id: id)
    }

    private func run() {
        // The kernel's thread name (15 bytes at most), for top, perf and /proc.
        _ = harness_set_thread_name(name)
        threadID.store(UInt(pthread_self()), ordering: .relaxed)
        started.signal()
        let events = UnsafeMutableBufferPointer<harness_poll_event>.allocate(capacity: 256)
        defer { events.deallocate() }
        let readMask = Self.pollIn | Self.pollRDHup | Self.pollHup
            | Self.pollErr
        let writeMask = Self.pollOut
        while true {
            armTimer()
            let n = harness_epoll_wait(epfd, events.baseAddress, 256, local.isEmpty ? -1 : 0)
            if n < 0 && errno != EINTR { break }
            for i in 0..<max(0, Int(n)) {
                let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: events[i].data))
                let generation = UInt32(truncatingIfNeeded: events[i].data >> 32)
                let bits = events[i].events
                if fd == wakeFD {
                    harness_fd_drain(wakeFD)
                } else if fd == timerFD {
                    harness_fd_drain(timerFD)
                    armedDeadline = 0
                } else if let w = watchers[fd], w.generation == generation {
                    w.watcher.pollEvent(readable: bits & readMask != 0, writable: bits & writeMask != 0)
                }
            }
            fireTimers()
            let stop = lock.withLock { () -> Bool in
                wakePending = false
                swap(&remote, &remoteRunning)
                return stopping
            }
            for task in remoteRunning { task() }
            remoteRunning.removeAll(keepingCapacity: true)
            swap(&local, &running)
            for task in running { task() }
            running.removeAll(keepingCapacity: true)
            if stop && local.isEmpty && lock.withLock({ remote.isEmpty }) { break }
        }
        // Whatever is still open (a replay that ended early) closes with the loop.
        for w in Array(watchers.values) { w.watcher.loopStopped() }
        watchers = [:]
        timerBodies = [:]
        let callbacks = lock.withLock { stopCallbacks }
        for (queue, callback) in callbacks { queue.async { callback(nil) } }
    }

    private func fireTimers() {
        guard let first = timers.first else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        guard first.at <= now else { return }
        while let t = timers.first, t.at <= now {
            timers.pop()
            if let body = timerBodies.removeValue(forKey: t.id) { body() }
        }
    }

    /// Points the timerfd at the earliest live timer (cancelled ones are dropped on the way).
    private func armTimer() {
        while let t = timers.first, timerBodies[t.id] == nil { timers.pop() }
        guard let t = timers.first else { return }
        let at = max(1, min(t.at, UInt64(Int64.max)))
        if at != armedDeadline {
            armedDeadline = at
            _ = harness_timerfd_set(timerFD, at)
        }
    }
}

/// A binary min-heap of timer deadlines (ties in the order they were added).
struct TimerHeap {
    struct Entry {
        var at: UInt64
        var id: UInt64
    }
    private var items: [Entry] = []

    var first: Entry? { items.first }

    private static func less(_ a: Entry, _ b: Entry) -> Bool { a.at != b.at ? a.at < b.at : a.id < b.id }

    mutating func push(at: UInt64, id: UInt64) {
        items.append(Entry(at: at, id: id))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < items.count && Self.less(items[l], items[m]) { m = l }
            if r < items.count && Self.less(items[r], items[m]) { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
    }
}

/// `count` `PollLoop`s handed out in turn.
final class PollLoopGroup: EventLoopGroup, @unchecked Sendable {
    let loops: [PollLoop]
    private let index = Atomic<Int>(0)

    init(count: Int) throws {
        var loops: [PollLoop] = []
        for i in 0..<max(1, count) { loops.append(try PollLoop(name: "replay-loop-\(i)")) }
        self.loops = loops
    }

    func next() -> any EventLoop { loops[index.wrappingAdd(1, ordering: .relaxed).oldValue % loops.count] }

    func makeIterator() -> EventLoopIterator { EventLoopIterator(loops) }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        let left = NIOLockedValueBox(loops.count)
        for loop in loops {
            loop.shutdownGracefully(queue: queue) { _ in
                let last = left.withLockedValue { n -> Bool in
                    n -= 1
                    return n == 0
                }
                if last { callback(nil) }
            }
        }
    }
}
