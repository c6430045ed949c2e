public import HarnessCore

/// The replay's result log: a `LogWriter` behind a lock (replayed front exchanges and backend
/// requests arrive from several event loops), plus unique ids for exchanges and connections.
public final class ResultRecorder: @unchecked Sendable {
    private let lock = PosixLock()
    // Guarded by `lock`.
    private let writer: any ExchangeSink
    private var nextExchangeID: UInt64 = 1
    private var nextConnectionID: UInt64 = 1
    private var failure: (any Error)?
    private var closed = false
    public private(set) var written = 0

    public init(sink: any ExchangeSink) {
        self.writer = sink
    }

    public func newExchangeID() -> UInt64 {
        lock.withLock {
            defer { nextExchangeID += 1 }
            return nextExchangeID
        }
    }

    public func newConnectionID() -> UInt64 {
        lock.withLock {
            defer { nextConnectionID += 1 }
            return nextConnectionID
        }
    }

    /// Appends; a write error is kept and thrown by `close()` (the replay goes on).
    public func append(_ exchange: Exchange) {
        lock.withLock {
            guard !closed, failure == nil else { return }
            do {
                try writer.append(exchange)
                written += 1
            } catch {
                failure = error
            }
        }
    }

    /// Writes a partial block out if it is old enough (followers see progress).
    public func flushIfDue() {
        lock.withLock {
            guard !closed, failure == nil, let w = writer as? LogWriter else { return }
            do { try w.flushIfDue() } catch { failure = error }
        }
    }

    public func close() throws {
        try lock.withLock {
            guard !closed else { return }
            closed = true
            try writer.close()
            if let failure { throw failure }
        }
    }
}
