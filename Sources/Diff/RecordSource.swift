import Foundation
import HarnessCore

/// Reads a log on its own thread, decoding and preparing exchanges in batches ahead of the
/// join (so the two logs decode in parallel with the comparison). At most `depth` batches wait,
/// which bounds the memory read ahead.
final class RecordSource: @unchecked Sendable {
    // `cond` guards `batches`, `finished`, `failure`; `reader` belongs to the worker thread
    // until `finished` is set.
    private let cond = NSCondition()
    private var batches: [[Prepared]] = []
    private var finished = false
    private var cancelled = false
    private var failure: (any Error)?
    private var current: [Prepared] = []
    private var cursor = 0
    let reader: LogReader
    private let key: @Sendable (Exchange) -> UInt64?
    private let batchSize = 512
    private let depth = 8

    init(reader: LogReader, key: @escaping @Sendable (Exchange) -> UInt64?) {
        self.reader = reader
        self.key = key
        // The running thread keeps this source alive; it is not stored here (a stored Thread whose
        // closure holds `self` is a cycle: the source, its reader and the file descriptor leaked).
        let t = Thread { [self] in work() }
        t.stackSize = 1 << 20
        t.start()
    }

    private func work() {
        var batch: [Prepared] = []
        batch.reserveCapacity(batchSize)
        do {
            while let e = try reader.next() {
                batch.append(Prepared(e, key: key(e)))
                if batch.count == batchSize {
                    if !push(batch) { break }
                    batch = []
                    batch.reserveCapacity(batchSize)
                }
            }
        } catch {
            cond.lock()
            failure = error
            cond.unlock()
        }
        if !batch.isEmpty { _ = push(batch) }
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
    private func push(_ batch: [Prepared]) -> Bool {
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

    /// The next prepared exchange; nil at the end (then `reader.damage` is safe to read).
    func next() throws -> Prepared? {
        if cursor < current.count {
            cursor += 1
            return current[cursor - 1]
        }
        cond.lock()
        while batches.isEmpty && !finished { cond.wait() }
        if batches.isEmpty {
            let f = failure
            cond.unlock()
            if let f { throw f }
            return nil
        }
        current = batches.removeFirst()
        cond.broadcast()
        cond.unlock()
        cursor = 1
        return current[0]
    }
}
