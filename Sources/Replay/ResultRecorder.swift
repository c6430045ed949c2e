public import HarnessCore
import CHarnessSupport
import Foundation
import Synchronization

/// The replay's result log, plus unique ids for exchanges and connections.
///
/// Replayed front exchanges and backend requests arrive from several event loops. They are queued
/// (in arrival order) and encoded by one writer thread that owns the `LogWriter`, so the event
/// loops never encode, compress or write under a shared lock. Nothing is ever left out: `backlog`
/// lets the replay's reader hold back while the writer catches up.
public final class ResultRecorder: @unchecked Sendable {
    private let lock = ConditionLock()
    // Guarded by `lock`.
    private let writer: any ExchangeSink
    private var queue: [Item] = []
    private var failure: (any Error)?
    private var closing = false
    private var closed = false
    private var started = false
    private var writerDone = false
    private var _written = 0

    /// Unique body bytes per segment of the result log. A segment's tables (bodies, header values)
    /// live until it ends; replayed responses repeat a lot and their unique bytes are few (a
    /// static target's 3-byte answer, the requests' small POST bodies), so with the recorder's
    /// default of 8 MiB a segment could hold hundreds of thousands of small bodies and 64k
    /// header values, and the writer's memory grew for a million requests before it levelled.
    static let segmentBodyLimit = 1 << 20

    /// Exchanges written between two hand-backs of free memory (`MemoryTrim`).
    static let trimEvery = 50_000

    /// The writer thread's nice value (as the recording proxy's writer).
    static let writerNice: Int32 = 5

    /// Exchanges queued at once before the writer is woken (it also wakes every 50 ms).
    static let wakeBatch = 256

    /// A result waiting for the writer: an exchange, or a replayed front the writer builds.
    private enum Item {
        case exchange(Exchange)
        case front(FrontResult)

        /// Appends it to `sink` (a replayed front is encoded from its parts, on the writer's
        /// thread, with no `Exchange` built for the log).
        func write(to sink: any ExchangeSink) throws {
            switch self {
            case .exchange(let e): try sink.append(e)
            case .front(let f): try sink.append(source: f)
            }
        }
    }

    // Atomic, not under `lock`: the event loops take an id at every request.
    private let nextExchangeID = Atomic<UInt64>(1)
    private let nextConnectionID = Atomic<UInt64>(1)

    public init(sink: any ExchangeSink) {
        self.writer = sink
    }

    public func newExchangeID() -> UInt64 { nextExchangeID.wrappingAdd(1, ordering: .relaxed).oldValue }

    public func newConnectionID() -> UInt64 { nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// Exchanges written so far.
    public var written: Int { lock.locked { _written } }

    /// Exchanges queued and not yet written.
    public var backlog: Int { lock.locked { queue.count } }

    /// Queues `exchange`; a write error is kept and thrown by `close()` (the replay goes on).
    public func append(_ exchange: consuming Exchange) { enqueue(.exchange(exchange)) }

    /// Queues a replayed front exchange; the writer's thread builds it.
    func append(_ front: FrontResult) { enqueue(.front(front)) }

    private func enqueue(_ item: consuming Item) {
        // Moved into the queue under lock()/unlock(): a closure would copy the exchange (a
        // retain and a release of every string and array in it).
        lock.lock()
        var start = false
        if !closing, failure == nil {
            queue.append(item)
            if queue.count == Self.wakeBatch { lock.signal() }
            if !started {
                started = true
                start = true
            }
        }
        lock.unlock()
        if start {
            // Named by `run()` for the kernel.
            Thread { [self] in run() }.start()
        }
    }

    private func run() {
        // The writer's work is not latency-sensitive; the event loops' is. At a lower priority it
        // never holds a core that a loop with a response to handle is waiting for.
        _ = harness_set_thread_nice(Self.writerNice)
        _ = harness_set_thread_name("replay-writer")
        var batch: [Item] = []
        var sinceTrim = 0
        while true {
            let stop = lock.locked { () -> Bool in
                if queue.isEmpty && !closing { lock.wait(seconds: 0.05) }
                swap(&batch, &queue)
                return closing && queue.isEmpty
            }
            var written = 0
            var error: (any Error)?
            // Each exchange is moved out of the batch (reversed, then popped): lending `batch[i]`
            // to the writer copied it, a retain and a release of every string and array it holds.
            batch.withUnsafeMutableBufferPointer { $0.reverse() }  // bitwise swaps; Array's copied
            while let item = batch.popLast() {
                guard error == nil else { continue }
                do {
                    try item.write(to: writer)
                    written += 1
                } catch let e {
                    error = e
                }
            }
            sinceTrim += written
            if sinceTrim >= Self.trimEvery {
                sinceTrim = 0
                MemoryTrim.trim()
            }
            if error == nil, let w = writer as? LogWriter {
                do { try w.flushIfDue() } catch let e { error = e }
            }
            lock.locked {
                _written += written
                if let error, failure == nil { failure = error }
            }
            if stop || lock.locked({ failure != nil && closing }) {
                lock.locked {
                    writerDone = true
                    lock.broadcast()
                }
                return
            }
        }
    }

    /// Writes what is queued, then flushes and closes the log; throws the first write error.
    public func close() throws {
        let wait = lock.locked { () -> Bool in
            if closed { return false }
            closing = true
            lock.broadcast()
            return started
        }
        if wait {
            lock.locked { while !writerDone { lock.wait() } }
        }
        try lock.locked {
            guard !closed else { return }
            closed = true
            // Written by the caller when no writer thread ever started.
            if !started {
                for item in queue where failure == nil {
                    do {
                        try item.write(to: writer)
                        _written += 1
                    } catch {
                        failure = error
                    }
                }
                queue = []
            }
            try writer.close()
            if let failure { throw failure }
        }
    }
}
