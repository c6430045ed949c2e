import HarnessCore
#if canImport(Glibc)
import Glibc
#endif

/// Drains a live device on its own thread, the way tcpdump does, so the kernel's buffer empties
/// at libpcap's pace and not at the pace of parsing and writing: packets are copied into batches
/// (one allocation per 1 MiB, not per packet) that the capture loop takes in order.
///
/// The queue holds at most `maxQueuedBytes`; past that, packets are dropped here and counted
/// (`droppedByHarness`), as the kernel would drop them when its own buffer is full. A stop
/// request (SIGINT/SIGTERM) ends the intake; what it had queued is still processed.
///
/// With `lossless` (capture files) nothing is dropped: a full queue makes the intake thread wait,
/// so libpcap's reads and copies run beside the parsing, on the other core.
final class LiveIntake: @unchecked Sendable {
    private struct Entry {
        var offset: Int
        var length: Int
        var wireLength: Int
        var timestamp: Int64
    }

    private final class Batch {
        let storage: UnsafeMutableRawBufferPointer
        var used = 0
        var entries: [Entry] = []
        init(capacity: Int) {
            storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        }
        deinit { storage.deallocate() }
    }

    static let batchBytes = 1 << 20
    static let batchPackets = 1024

    private let source: PcapSource
    private let maxQueuedBytes: Int
    private let lossless: Bool
    private let lock = ConditionLock()
    // Guarded by `lock`.
    private var queue: [Batch] = []
    private var queuedBytes = 0
    private var ended = false
    private var failure: (any Error)?
    private var stopping = false
    private var dropped = 0
    /// Batches the capture loop is done with, for the intake to fill again (no fresh pages to
    /// fault in for every MiB of packets).
    private var spare: [Batch] = []
    static let maxSpare = 4
    // Consumer side only.
    private var current: Batch?
    private var thread: pthread_t?

    init(source: PcapSource, maxQueuedBytes: Int = 256 << 20, lossless: Bool = false) {
        self.source = source
        self.maxQueuedBytes = maxQueuedBytes
        self.lossless = lossless
    }

    deinit { stop() }

    /// Packets dropped because the queue was full.
    var droppedByHarness: Int { lock.locked { dropped } }

    func start() {
        let box = Unmanaged.passRetained(self)
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { raw in
            guard let raw else { return nil }
            let intake = Unmanaged<LiveIntake>.fromOpaque(raw).takeRetainedValue()
            intake.intakeLoop()
            return nil
        }, box.toOpaque())
        if rc == 0 {
            thread = t
        } else {
            box.release()
            lock.locked {
                failure = HarnessError(.io, "cannot start the capture thread (error \(rc))")
                ended = true
            }
        }
    }

    // MARK: intake thread

    private func intakeLoop() {
        var batch = Batch(capacity: Self.batchBytes)
        var stop = false
        // The lock is taken once per batch (never per packet): hand the batch over, or drop it
        // whole when the queue is full, and learn whether to stop.
        func push() {
            var reuse: Batch?
            let taken = lock.locked { () -> Bool in
                stop = stopping
                guard !batch.entries.isEmpty else { return false }
                defer { reuse = spare.popLast() }
                if lossless {
                    while !queue.isEmpty && queuedBytes + batch.used > maxQueuedBytes && !stopping { lock.wait() }
                    stop = stopping
                    if stop { return false }
                }
                if queuedBytes + batch.used > maxQueuedBytes {
                    dropped += batch.entries.count
                    return false
                }
                queue.append(batch)
                queuedBytes += batch.used
                lock.broadcast()
                return true
            }
            if taken {
                if let reuse {
                    reuse.used = 0
                    reuse.entries.removeAll(keepingCapacity: true)
                    batch = reuse
                } else {
                    batch = Batch(capacity: Self.batchBytes)
                }
            } else {
                batch.used = 0
                batch.entries.removeAll(keepingCapacity: true)
            }
        }
        loop: while !stop && !StopRequest.isSet {
            let read: PcapRead
            do {
                read = try source.read(pollMillis: 20)
            } catch {
                lock.locked { failure = error }
                break
            }
            switch read {
            case .packet(let p):
                if batch.used + p.bytes.count > batch.storage.count {
                    push()
                    if p.bytes.count > batch.storage.count { batch = Batch(capacity: p.bytes.count) }
                }
                if let base = p.bytes.baseAddress, p.bytes.count > 0, let dest = batch.storage.baseAddress {
                    (dest + batch.used).copyMemory(from: base, byteCount: p.bytes.count)
                }
                batch.entries.append(Entry(offset: batch.used, length: p.bytes.count, wireLength: p.wireLength, timestamp: p.timestamp))
                batch.used += p.bytes.count
                if batch.entries.count >= Self.batchPackets { push() }
            case .idle:
                push()
            case .end:
                break loop
            }
        }
        push()
        lock.locked {
            ended = true
            lock.broadcast()
        }
    }

    // MARK: capture loop

    /// What `nextBatch` found.
    enum BatchRead {
        /// A batch's packets went to the caller (all of them, or up to where it said stop).
        case packets
        /// Nothing arrived within the wait (live capture only).
        case idle
        /// The source ended and everything queued was handed out.
        case end
    }

    /// Hands the packets of the next queued batch to `body`, in order (bytes, wire length,
    /// timestamp), until `body` returns false; the rest of that batch is then dropped. A batch at a
    /// time: per packet, a call through the read's enum and the batch's arrays was a few percent of
    /// a file capture.
    func nextBatch(_ body: (UnsafeRawBufferPointer, Int, Int64) throws -> Bool) throws -> BatchRead {
        // The batch handed out last is done with: it can be filled again.
        let finished = current
        current = nil
        let (next, done, error) = lock.locked { () -> (Batch?, Bool, (any Error)?) in
            if let finished, spare.count < Self.maxSpare, finished.storage.count == Self.batchBytes {
                spare.append(finished)
            }
            if queue.isEmpty && !ended { lock.wait(seconds: 0.1) }
            if !queue.isEmpty {
                let b = queue.removeFirst()
                queuedBytes -= b.used
                if lossless { lock.broadcast() }
                return (b, false, nil)
            }
            return (nil, ended, failure)
        }
        guard let batch = next else {
            if let error { throw error }
            return done ? .end : .idle
        }
        current = batch
        guard let base = batch.storage.baseAddress else { return .packets }
        try batch.entries.withUnsafeBufferPointer { entries in
            for e in entries {
                if try !body(UnsafeRawBufferPointer(start: base + e.offset, count: e.length), e.wireLength, e.timestamp) {
                    break
                }
            }
        }
        return .packets
    }

    func stop() {
        lock.locked {
            stopping = true
            lock.broadcast()
        }
        if let t = thread {
            thread = nil
            pthread_join(t, nil)
        }
    }
}
