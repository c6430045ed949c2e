internal import CHarnessSupport
internal import Foundation
public import HarnessCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bounded queue between the event loops and one dedicated writer thread that owns the sink.
///
/// `offer` never blocks traffic: when the queue holds `capacity` exchanges or `maxBytes` body bytes,
/// the exchange is left out and counted. The writer thread appends in batches, calls
/// `LogWriter.flushIfDue()` at least every 50 ms, and on `stop()` drains what is queued, then
/// flushes and closes the sink. All mutable state is guarded by `lock`.
public final class RecordingQueue: @unchecked Sendable {
    private let sink: any ExchangeSink
    private let capacity: Int
    private let maxBytes: Int
    private let transform: (@Sendable (inout Exchange) -> Void)?
    private let wakeBatch: Int
    private let lock = ConditionLock()
    /// The writer thread's nice value (Linux: per thread).
    static let writerNice: Int32 = 5
    // Guarded by `lock`.
    private var items: [Exchange] = []
    private var queuedBytes = 0
    private var stopping = false
    private var finished = false
    private var started = false
    private var _leftOut = 0
    private var _written = 0
    private var _flushed = 0
    private var _writeErrors = 0
    private var firstError: (any Error)?

    /// `transform` runs on the writer thread before each append (e.g. redaction).
    public init(
        sink: any ExchangeSink, capacity: Int = 8192, maxBytes: Int = 256 << 20,
        transform: (@Sendable (inout Exchange) -> Void)? = nil
    ) {
        self.sink = sink
        self.capacity = max(1, capacity)
        self.maxBytes = max(1, maxBytes)
        self.transform = transform
        self.wakeBatch = max(1, min(1024, capacity / 4))
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T { try lock.locked(body) }

    /// Starts the writer thread.
    public func start() {
        let go = locked { () -> Bool in
            if started { return false }
            started = true
            return true
        }
        guard go else { return }
        let thread = Thread { [self] in self.run() }
        thread.name = "harness-log-writer"
        thread.start()
    }

    /// Queues an exchange's back leg (if any) and its front leg under one lock (the proxy ends
    /// both at once); returns how many were taken (the others are counted as left out).
    @discardableResult
    public func offer(back: consuming Exchange?, front: consuming Exchange) -> Int {
        let backBytes = back.map(Self.bytes) ?? 0
        let frontBytes = Self.bytes(front)
        // Moved into the queue under `lock()`/`unlock()`: a closure would copy both exchanges
        // (a retain and a release of every string and array in them).
        lock.lock()
        defer { lock.unlock() }
        var taken = 0
        if let back = back.take(), take(back, bytes: backBytes) { taken += 1 }
        if take(front, bytes: frontBytes) { taken += 1 }
        return taken
    }

    private static func bytes(_ e: Exchange) -> Int { e.request.body.count + (e.response?.body.count ?? 0) + 512 }

    /// Under `lock`: appends `exchange` unless the queue is full (then counts it as left out).
    private func take(_ exchange: consuming Exchange, bytes: Int) -> Bool {
        if stopping || items.count >= capacity || queuedBytes + bytes > maxBytes {
            _leftOut += 1
            return false
        }
        items.append(exchange)
        queuedBytes += bytes
        // The writer wakes by itself every 50 ms; a signal only when a batch is worth it, so
        // traffic does not pay a thread wake-up (and its context switch) per exchange.
        if items.count == wakeBatch { lock.signal() }
        return true
    }

    /// Exchanges left out because the queue was full (or stopping).
    public var leftOut: Int { locked { _leftOut } }
    /// Exchanges handed to the sink.
    public var written: Int { locked { _written } }
    /// Exchanges that have reached the file (a `LogWriter` sink's blocks written with `write(2)`):
    /// a kill -9 from now on cannot lose them.
    public var flushed: Int { locked { _flushed } }
    /// Appends that failed (disk full, ...); the first error is in `error`.
    public var writeErrors: Int { locked { _writeErrors } }
    public var error: (any Error)? { locked { firstError } }

    /// Drains the queue, flushes and closes the sink, and waits for the writer thread to end.
    public func stop() {
        let wasStarted = locked { () -> Bool in
            stopping = true
            lock.broadcast()
            return started
        }
        if !wasStarted {
            drainOnCaller()
            return
        }
        locked {
            while !finished { lock.wait() }
        }
    }

    private func drainOnCaller() {
        var batch = locked { () -> [Exchange] in
            defer { items = [] }
            return items
        }
        write(&batch)
        closeSink()
        locked { finished = true }
    }

    private func run() {
        // The writer works in batches (encode + compress 1024 exchanges); at a lower priority the
        // event loops preempt it, so a batch never sits between a response and its client.
        // It needs a small share of a core, and the queue absorbs the delay.
        _ = harness_set_thread_nice(Self.writerNice)
        var batch: [Exchange] = []
        while true {
            let stop: Bool = locked {
                if items.isEmpty && !stopping { lock.wait(seconds: 0.05) }
                swap(&batch, &items)
                queuedBytes = 0
                return stopping && items.isEmpty
            }
            write(&batch)
            if let writer = sink as? LogWriter {
                do { try writer.flushIfDue() } catch { noteError(error) }
                let flushed = writer.flushed
                locked { _flushed = flushed }
            }
            if stop {
                // Anything offered after `stopping` was refused, so the queue is empty for good.
                closeSink()
                locked {
                    finished = true
                    lock.broadcast()
                }
                return
            }
        }
    }

    /// Appends `batch` in order and empties it (keeping its capacity).
    private func write(_ batch: inout [Exchange]) {
        var ok = 0
        // Each exchange is moved out of the batch (reversed, then popped): lending `batch[i]` to
        // the sink copied it, a retain and a release of every string and array it holds.
        batch.withUnsafeMutableBufferPointer { $0.reverse() }  // bitwise swaps; Array's copied
        while var e = batch.popLast() {
            do {
                transform?(&e)
                try sink.append(e)
                ok += 1
            } catch {
                noteError(error)
            }
        }
        if ok > 0 { locked { _written += ok } }
    }

    private func closeSink() {
        do { try sink.close() } catch { noteError(error) }
    }

    private func noteError(_ error: any Error) {
        locked {
            _writeErrors += 1
            if firstError == nil { firstError = error }
        }
    }
}
