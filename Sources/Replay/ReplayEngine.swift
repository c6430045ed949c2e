import Foundation
import HarnessCore
import NIOCore
import NIOPosix

/// A recorded request on its way from the reader thread to its connection's driver: the request
/// as the replay sends it and what the result needs of the recorded exchange, not the exchange
/// itself. Built on the reader thread, so an event loop only writes it:
/// - the recorded response (headers, body, annotations) is released where it was decoded (freed
///   on an event loop, its memory went back to the reader's malloc arena under that arena's lock,
///   which the reader held at the same time for its next records);
/// - `--host-header` and the framing fields are applied there (`OutgoingRequest`).
/// A class: it passes through a batch, a task, the driver's queue and the result writer's queue
/// without copying (and retaining) the request's fields at each step.
final class PendingRequest: Sendable {
    /// The recorded exchange's id.
    let originalID: UInt64
    /// The recorded connection (its requests share one replayed connection).
    let connectionID: UInt64
    /// The request as sent, and the notes the result carries about it.
    let request: Request
    let annotations: [Annotation]
    /// Bytes of the request line and header section (`HeadBytes.requestSize`).
    let headSize: Int
    /// The body goes out as one chunk plus the trailers.
    let chunked: Bool
    /// How the request is framed (the result's `Framing` request bits).
    let framing: Framing
    let isConnect: Bool
    /// The recorded final status (nil: no response) and whether the recording has an error.
    let originalStatus: UInt16?
    let originalErrored: Bool
    /// When to send it (nil: as soon as possible).
    let due: NIODeadline?
    /// The last request of its recorded connection: the replayed connection closes after it.
    let last: Bool

    convenience init(exchange e: borrowing Exchange, outgoing: OutgoingRequest, due: NIODeadline?, last: Bool = false) {
        self.init(
            originalID: e.id, connectionID: e.connection.id, prepared: outgoing.prepare(e.request),
            originalStatus: e.response?.status, originalErrored: e.error != nil, due: due, last: last)
    }

    init(
        originalID: UInt64, connectionID: UInt64, prepared r: consuming OutgoingRequest.Prepared, originalStatus: UInt16?,
        originalErrored: Bool, due: NIODeadline?, last: Bool
    ) {
        self.originalID = originalID
        self.connectionID = connectionID
        isConnect = r.request.method.caseInsensitiveEquals("CONNECT")
        headSize = r.headSize
        chunked = r.chunked
        framing = r.framing
        annotations = r.annotations
        request = r.request
        self.originalStatus = originalStatus
        self.originalErrored = originalErrored
        self.due = due
        self.last = last
    }
}

/// How the replay turns a recorded request into the one it sends: Host per `--host-header`, and
/// the framing fields re-derived from the body it has.
struct OutgoingRequest: Sendable {
    let hostHeader: HostHeaderMode
    /// The target's authority (`host:port`), for `--host-header target` and a missing Host.
    let authority: String

    /// A request as sent, with what sending and recording it need to know about it.
    struct Prepared {
        var request: Request
        var annotations: [Annotation]
        /// `HeadBytes.requestSize` of the request.
        var headSize: Int
        /// Its body goes out chunked (its Transfer-Encoding says so).
        var chunked: Bool
        /// The result's request framing bits.
        var framing: Framing
    }

    func prepare(_ recorded: Request) -> Prepared {
        // One pass over the recorded fields answers the common case: nothing to change.
        var host = false
        var transferEncoding = false
        var lengths = 0
        var lengthMatches = true
        var size = recorded.method.utf8.count + 1 + recorded.target.utf8.count + 11 + 2
        let fields = recorded.headers
        for i in fields.indices {
            let n = fields[i].name.utf8.count
            size += n + 2 + fields[i].value.utf8.count + 2
            switch n {
            case 4: if fields[i].name.caseInsensitiveEquals("host") { host = true }
            case 14:
                if fields[i].name.caseInsensitiveEquals("content-length") {
                    lengths += 1
                    if fields[i].value != String(recorded.body.count) { lengthMatches = false }
                }
            case 17: if fields[i].name.caseInsensitiveEquals("transfer-encoding") { transferEncoding = true }
            default: break
            }
        }
        let hostKept: Bool
        switch hostHeader {
        case .original: hostKept = host || recorded.version != .http11
        case .target, .value: hostKept = false
        }
        let framingKept = (recorded.body.isEmpty && lengths == 0) || (lengths == 1 && lengthMatches)
        if hostKept && !transferEncoding && framingKept && recorded.trailers.isEmpty && recorded.bodyTruncation == nil {
            return Prepared(
                request: recorded, annotations: [], headSize: size, chunked: false,
                framing: lengths > 0 ? .requestContentLength : [])
        }
        let (r, notes) = rewrite(recorded)
        return Prepared(
            request: r, annotations: notes, headSize: ConnectionDriver.headSize(r), chunked: ConnectionDriver.isChunked(r),
            framing: Self.framing(r))
    }

    /// The result's request framing bits for a request as sent.
    static func framing(_ r: Request) -> Framing {
        r.headers.has("Transfer-Encoding") ? .requestChunked : r.headers.has("Content-Length") ? .requestContentLength : []
    }

    /// The general case of `prepare`: Host per `--host-header`, the framing fields re-derived.
    func rewrite(_ recorded: Request) -> (request: Request, annotations: [Annotation]) {
        var r = recorded
        var notes: [Annotation] = []
        switch hostHeader {
        case .original:
            if !r.headers.has("Host") && r.version == .http11 { r.headers.append(HeaderField("Host", authority)) }
        case .target: r.headers.set("Host", authority)
        case .value(let v): r.headers.set("Host", v)
        }
        if r.headers.first("Transfer-Encoding")?.lowercased().contains("chunked") == true {
            r.headers.remove("Content-Length")
            r.headers.set("Transfer-Encoding", "chunked")
        } else {
            r.trailers = []
            // Only when it changes: setting a field copies the recorded header list.
            let lengths = r.headers.all("Content-Length")
            if (!r.body.isEmpty || !lengths.isEmpty) && lengths != [String(r.body.count)] {
                r.headers.set("Content-Length", String(r.body.count))
            }
        }
        if recorded.bodyTruncation != nil {
            notes.append(Annotation("request_body", "truncated in the recording; sent \(r.body.count) bytes"))
            r.bodyTruncation = nil
        }
        return (r, notes)
    }
}

/// The client side of a running replay: one `ConnectionDriver` per recorded connection, at most
/// `concurrency` of them at a time, fed by the reader thread with bounded read-ahead.
///
/// The reader blocks when `readAhead` requests are waiting, but only while some active
/// connection has queued work (else the requests an active connection waits for could be behind
/// the blocked reader: it reads on instead).
final class ReplayEngine: @unchecked Sendable {
    let group: any EventLoopGroup
    let target: ReplayTarget
    let outgoing: OutgoingRequest
    let requestTimeout: TimeAmount
    let connectTimeout: TimeAmount
    let maxBody: Int
    let recorder: ResultRecorder
    let matcher: BackendMatcher?
    let counters: ReplayCounters
    let concurrency: Int
    let readAhead: Int
    let done: EventLoopPromise<Void>

    /// One `LoopPumps` per event loop of `group`, handed out in turn (as `group.next()` would).
    private let pumps: [LoopPumps]
    private var nextPumpsIndex = 0  // guarded by `condition`

    private func nextPumps() -> LoopPumps {
        defer { nextPumpsIndex = (nextPumpsIndex + 1) % pumps.count }
        return pumps[nextPumpsIndex]
    }

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var drivers: [UInt64: ConnectionDriver] = [:]
    private var waiting = CircularBuffer<ConnectionDriver>()
    private var active = 0
    private var buffered = 0
    private var queuedInActive = 0
    private var readerDone = false
    private var live = 0
    private var readerWaiting = false

    init(
        group: any EventLoopGroup, target: ReplayTarget, configuration: ReplayConfiguration, recorder: ResultRecorder,
        matcher: BackendMatcher?, counters: ReplayCounters
    ) {
        self.group = group
        self.target = target
        self.outgoing = OutgoingRequest(hostHeader: configuration.hostHeader, authority: target.origin.authority)
        self.requestTimeout = .nanoseconds(Int64(configuration.requestTimeout * 1e9))
        self.connectTimeout = .nanoseconds(Int64(configuration.connectTimeout * 1e9))
        self.maxBody = configuration.maxBodyBytes
        self.recorder = recorder
        self.matcher = matcher
        self.counters = counters
        self.concurrency = max(1, configuration.concurrency)
        self.readAhead = max(1024, 16 * max(1, configuration.concurrency))
        self.done = group.next().makePromise()
        // `--client-loops` caps SwiftNIO's loops too (a `PollLoopGroup` has that many already).
        var loops: [LoopPumps] = []
        for loop in group.makeIterator() where loops.count < configuration.clientLoops ?? Int.max {
            loops.append(LoopPumps(loop: loop))
        }
        self.pumps = loops.isEmpty ? [LoopPumps(loop: group.next())] : loops
    }

    // MARK: reader side

    /// Hands a recorded front exchange to its connection (created and admitted on first sight).
    /// After a connection's last request, the driver leaves the table: a later request with the
    /// same recorded id (a connection the bounded plan forgot) gets a new driver.
    func release(_ request: PendingRequest) {
        let id = request.connectionID
        condition.lock()
        let driver: ConnectionDriver
        var activate = false
        if let d = drivers[id] {
            driver = d
        } else {
            driver = ConnectionDriver(recordedID: id, pumps: nextPumps(), engine: self)
            drivers[id] = driver
            live += 1
            if active < concurrency {
                active += 1
                driver.coordActive = true
                activate = true
            } else {
                waiting.append(driver)
            }
        }
        if request.last { drivers[id] = nil }
        driver.coordQueued += 1
        buffered += 1
        if driver.coordActive { queuedInActive += 1 }
        condition.unlock()
        let item = Handoff(driver: driver, request: request, activate: activate)
        if let i = batches.firstIndex(where: { $0.loop === driver.loop }) {
            batches[i].items.append(item)
        } else {
            batches.append((driver.loop, [item]))
        }
        if batched == 0 { batchStarted = .now() }
        batched += 1
        if batched >= Self.batchSize { flushReleases() }
    }

    /// Called by the reader for every record it reads: a batch never waits more than a
    /// millisecond for company (sparse selections, slow reads).
    func releaseTick() {
        if batched > 0 && NIODeadline.now() - batchStarted > .milliseconds(1) { flushReleases() }
    }

    private struct Handoff {
        var driver: ConnectionDriver
        var request: PendingRequest
        var activate: Bool
    }

    /// Released requests travel to their event loops in batches: one task (one wake-up) per loop
    /// for up to `batchSize` requests, not one per request.
    static let batchSize = 32
    // Reader thread only.
    private var batches: [(loop: any EventLoop, items: [Handoff])] = []
    private var batched = 0
    private var batchStarted = NIODeadline.now()

    /// Sends the batched requests to their loops (the reader calls it before it blocks or ends).
    func flushReleases() {
        guard batched > 0 else { return }
        for i in batches.indices where !batches[i].items.isEmpty {
            let items = batches[i].items
            batches[i].items.removeAll(keepingCapacity: true)
            batches[i].loop.execute {
                for item in items {
                    item.driver.enqueue(item.request)
                    if item.activate { item.driver.activate() }
                }
            }
        }
        batched = 0
    }

    /// Blocks the reader while enough requests wait and some active connection can make progress.
    func waitForRoom() {
        condition.lock()
        if buffered > readAhead && queuedInActive > 0 {
            condition.unlock()
            flushReleases()
            condition.lock()
        }
        while buffered > readAhead && queuedInActive > 0 {
            readerWaiting = true
            condition.wait()
        }
        readerWaiting = false
        condition.unlock()
    }

    /// No more requests: connections drain and close.
    func readerFinished() {
        flushReleases()
        condition.lock()
        readerDone = true
        let all = Array(drivers.values)
        let finished = live == 0
        condition.unlock()
        for d in all { d.loop.execute { d.inputEnded() } }
        if finished { done.succeed(()) }
    }

    // MARK: driver side

    func dequeued(_ driver: ConnectionDriver) {
        condition.lock()
        driver.coordQueued -= 1
        if driver.coordActive { queuedInActive -= 1 }
        condition.unlock()
    }

    func requestDone() {
        condition.lock()
        buffered -= 1
        // Only the reader ever waits, and it is woken when a quarter of the read-ahead has room
        // (not at every request: a wake-up per request made the reader and the event loops
        // hand the CPU back and forth for every record).
        if readerWaiting && buffered <= readAhead - readAhead / 4 { condition.broadcast() }
        condition.unlock()
    }

    func driverFinished(_ driver: ConnectionDriver) {
        condition.lock()
        if drivers[driver.recordedID] === driver { drivers[driver.recordedID] = nil }
        live -= 1
        if driver.coordActive { queuedInActive -= driver.coordQueued }
        driver.coordActive = false
        let next = waiting.popFirst()
        if let next {
            next.coordActive = true
            queuedInActive += next.coordQueued
        } else {
            active -= 1
        }
        let finished = readerDone && live == 0
        if readerWaiting { condition.broadcast() }
        condition.unlock()
        if let next { next.loop.execute { next.activate() } }
        if finished { done.succeed(()) }
    }
}
