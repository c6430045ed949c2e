#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The background half of a `LogWriter` with `background: true`: the caller's thread gathers
/// exchanges into batches and hands them over; one thread of its own encodes, compresses and
/// writes them, in the order they were appended (so the file holds the same records as a
/// synchronous writer would write).
///
/// Bounded: at most `maxQueuedBatches` batches wait; past that `append` waits for the thread.
/// A write error is kept and thrown by the next `append`, `flush`, `flushIfDue` or `finish`.
final class LogWriterPipeline: @unchecked Sendable {
    /// An exchange, or a batch of them (built on the pipeline's thread).
    private enum Item {
        case exchange(Exchange)
        case batch(any ExchangeBatch)
    }

    private enum Job {
        case exchanges([Item])
        /// Write the block in progress; then `done` reaches this ticket.
        case flush(UInt64)
    }

    static let batchSize = 512
    static let maxQueuedBatches = 4

    /// Touched only by the pipeline's thread once it runs.
    private let blocks: LogBlockWriter
    private let lock = ConditionLock()
    // Guarded by `lock`.
    private var queue: [Job] = []
    private var stopping = false
    private var failure: (any Error)?
    private var done: UInt64 = 0
    private var flushedCount = 0
    private var written: UInt64 = 0
    /// Jobs the thread has written, handed back so the caller's thread frees what it allocated.
    /// Freed on this thread, the caller's objects (a capture's messages, headers and bodies) went
    /// back to the caller's malloc arena under its lock, and the two threads took turns waking
    /// each other through that lock (a tenth of both threads' time in a capture).
    private var spent: [Job] = []
    // The caller's thread only.
    private var batch: [Item] = []
    /// Exchanges in `batch` (a batch item counts its own).
    private var batchCount = 0
    private var batchStartedAt: Int64 = 0
    private var tickets: UInt64 = 0
    private var thread: pthread_t?

    init(blocks: LogBlockWriter) throws {
        self.blocks = blocks
        let box = Unmanaged.passRetained(self)
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { raw in
            guard let raw else { return nil }
            let pipeline = Unmanaged<LogWriterPipeline>.fromOpaque(raw).takeRetainedValue()
            pipeline.run()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            throw HarnessError(.io, "cannot start the log writer thread (error \(rc))", path: blocks.path)
        }
        thread = t
    }

    /// Exchanges whose blocks reached the file.
    var flushed: Int { lock.locked { flushedCount } }
    var bytesWritten: UInt64 { lock.locked { written } }

    func append(_ exchange: Exchange) throws {
        if batch.isEmpty { batchStartedAt = Clock.nowMicros() }
        batch.append(.exchange(exchange))
        batchCount += 1
        if batchCount >= Self.batchSize { try submit(nil) }
    }

    func append(batch exchanges: any ExchangeBatch) throws {
        if batch.isEmpty { batchStartedAt = Clock.nowMicros() }
        batch.append(.batch(exchanges))
        batchCount += exchanges.count
        if batchCount >= Self.batchSize { try submit(nil) }
    }

    /// Hands over a batch older than the interval, and has the thread write its partial block.
    func flushIfDue(intervalMicros: Int64) throws {
        if batch.isEmpty {
            // Idle: free what the thread has written (it would otherwise wait for the next batch).
            var dead: [Job] = []
            let failed = lock.locked { () -> (any Error)? in
                swap(&dead, &spent)
                return failure
            }
            dead.removeAll()
            if let failed { throw failed }
            return
        }
        if Clock.nowMicros() - batchStartedAt >= intervalMicros { try submit(nil) }
    }

    /// Everything appended so far reaches the file before this returns.
    func flush() throws {
        tickets += 1
        let ticket = tickets
        try submit(ticket)
        try lock.locked {
            while done < ticket && failure == nil { lock.wait() }
            if let failure { throw failure }
        }
    }

    /// Flushes, then ends the thread.
    func finish() throws {
        var result: (any Error)?
        do { try flush() } catch { result = error }
        lock.locked {
            stopping = true
            lock.broadcast()
        }
        if let t = thread {
            pthread_join(t, nil)
            thread = nil
        }
        spent.removeAll()
        if let result { throw result }
    }

    private func submit(_ ticket: UInt64?) throws {
        let exchanges = batch
        batch = []
        batchCount = 0
        var dead: [Job] = []
        defer { dead.removeAll() }  // here, outside the lock, on the caller's thread
        try lock.locked {
            swap(&dead, &spent)
            while queue.count >= Self.maxQueuedBatches && failure == nil { lock.wait() }
            if let failure { throw failure }
            if !exchanges.isEmpty { queue.append(.exchanges(exchanges)) }
            if let ticket { queue.append(.flush(ticket)) }
            lock.broadcast()
        }
    }

    // MARK: the pipeline's thread

    private func run() {
        let idleWait = max(0.01, min(1.0, Double(blocks.options.flushIntervalMicros) / 2e6))
        while true {
            var jobs: [Job] = []
            var stop = false
            lock.locked {
                if queue.isEmpty && !stopping { lock.wait(seconds: idleWait) }
                jobs = queue
                queue.removeAll(keepingCapacity: true)
                stop = stopping && jobs.isEmpty
                if !jobs.isEmpty { lock.broadcast() }
            }
            if stop { return }
            var error: (any Error)?
            var reached: UInt64 = 0
            do {
                for job in jobs {
                    switch job {
                    case .exchanges(let items):
                        for item in items {
                            switch item {
                            case .exchange(let e): try blocks.append(e)
                            case .batch(let b): try blocks.append(batch: b)
                            }
                        }
                    case .flush(let ticket):
                        try blocks.flush()
                        reached = ticket
                    }
                }
                if jobs.isEmpty { try blocks.flushIfDue() }
            } catch let e {
                error = e
            }
            lock.locked {
                spent.append(contentsOf: jobs)
                if failure == nil, let error { failure = error }
                if reached > done { done = reached }
                flushedCount = blocks.flushed
                written = blocks.bytesWritten
                lock.broadcast()
            }
            if error != nil {
                // Nothing more reaches the file: drain the queue so callers do not wait.
                lock.locked {
                    while !stopping {
                        queue.removeAll()
                        lock.broadcast()
                        lock.wait()
                    }
                }
                return
            }
        }
    }
}
