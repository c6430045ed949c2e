import Foundation
import HarnessCore

/// Reads a log on its own thread, scanning records and digesting what the fast path compares in
/// batches ahead of the join (so the two logs are read in parallel with the comparison), with a
/// detached copy of each batch for the pairs that need the full exchanges. At most `depth`
/// batches wait, which bounds the memory read ahead; the join takes a lock per batch.
final class RecordSource: @unchecked Sendable {
    // `cond` guards `batches`, `finished`, `failure`; `reader` belongs to the worker thread
    // until `finished` is set.
    private let cond = NSCondition()
    private var batches: [ScannedBatch] = []
    private var finished = false
    private var cancelled = false
    private var failure: (any Error)?
    @exclusivity(unchecked) private var current: ScannedBatch?
    @exclusivity(unchecked) private var cursor = 0
    let scanner: LogScanner
    private let key: @Sendable (ScannedExchange) -> UInt64?
    @exclusivity(unchecked) private var digester: RecordDigester  // the worker thread's alone
    private let batchSize = 512
    private let depth = 8

    /// While set and not finished, the worker runs in the idle scheduling class.
    private let following: LogFollow?

    init(
        scanner: LogScanner, digester: RecordDigester, following: LogFollow? = nil,
        key: @escaping @Sendable (ScannedExchange) -> UInt64?
    ) {
        self.scanner = scanner
        self.following = following
        self.digester = digester
        self.key = key
        // The running thread keeps this source alive; it is not stored here (a stored Thread whose
        // closure holds `self` is a cycle: the source, its reader and the file descriptor leaked).
        let t = Thread { [self] in work() }
        t.stackSize = 1 << 20
        t.start()
    }

    private func work() {
        var batch: [ScannedRecord] = []
        batch.reserveCapacity(batchSize)
        var store = DetachedRecords(capacity: 1 << 17, records: batchSize)
        var idle = following.map { !$0.isFinished && ThreadScheduling.enterIdleClass() } ?? false
        do {
            while try scanner.next(detachingInto: store) {
                if idle, following?.isFinished ?? true {
                    ThreadScheduling.leaveIdleClass()
                    idle = false
                }
                batch.append(ScannedRecord(scanner: scanner, digester: &digester, key: key(scanner.record)))
                if batch.count == batchSize {
                    if !push(ScannedBatch(records: batch, store: store)) { break }
                    batch = []
                    batch.reserveCapacity(batchSize)
                    store = DetachedRecords(capacity: 1 << 17, records: batchSize)
                }
            }
        } catch {
            cond.lock()
            failure = error
            cond.unlock()
        }
        if idle { ThreadScheduling.leaveIdleClass() }
        if !batch.isEmpty { _ = push(ScannedBatch(records: batch, store: store)) }
        cond.lock()
        finished = true
        cond.broadcast()
        cond.unlock()
    }

    /// Stops the worker (the join no longer needs this log) and waits until it has.
    func cancel() {
        cond.lock()
        cancelled = true
        batches.removeAll()
        cond.broadcast()
        while !finished { cond.wait() }
        cond.unlock()
    }

    /// Queues a batch; false once cancelled.
    @discardableResult
    private func push(_ batch: ScannedBatch) -> Bool {
        cond.lock()
        while batches.count >= depth && !cancelled { cond.wait() }
        if cancelled {
            cond.unlock()
            return false
        }
        batches.append(batch)
        cond.broadcast()
        cond.unlock()
        return true
    }

    /// The next scanned record; nil at the end (then `scanner.damage` is safe to read).
    func next() throws -> Scanned? {
        if let c = current, cursor < c.records.count {
            cursor += 1
            return Scanned(batch: c, index: cursor - 1)
        }
        current = nil
        cond.lock()
        while batches.isEmpty && !finished { cond.wait() }
        if batches.isEmpty {
            let f = failure
            cond.unlock()
            if let f { throw f }
            return nil
        }
        let c = batches.removeFirst()
        current = c
        cond.broadcast()
        cond.unlock()
        cursor = 1
        return Scanned(batch: c, index: 0)
    }
}
