import HarnessCore
import Synchronization

/// Running totals of a replay (for the progress line and the summary). Thread-safe.
public final class ReplayCounters: Sendable {
    // One atomic per counter: the event loops bump them at every request, and a shared lock
    // there was one more cache line passed between the loops, the reader and the writer.
    private let done = Atomic<Int>(0)
    private let errors = Atomic<Int>(0)
    private let statusDifferences = Atomic<Int>(0)
    private let unmatchedCount = Atomic<Int>(0)
    private let backendRequests = Atomic<Int>(0)

    /// A copy of the counters (each read on its own: a running replay moves them in between).
    public struct Snapshot: Sendable, Equatable {
        /// Front exchanges replayed (with or without a response).
        public var done = 0
        /// Of those, with an error (refused, reset, timeout, ...).
        public var errors = 0
        /// Of those, whose status differs from the recording's (a live estimate of the diff).
        public var statusDifferences = 0
        /// Backend requests that matched nothing.
        public var unmatched = 0
        /// Backend requests answered from the recording.
        public var backendRequests = 0
        public init() {}
    }

    public init() {}

    public var snapshot: Snapshot {
        var s = Snapshot()
        s.errors = errors.load(ordering: .acquiring)
        s.statusDifferences = statusDifferences.load(ordering: .acquiring)
        s.unmatched = unmatchedCount.load(ordering: .acquiring)
        s.backendRequests = backendRequests.load(ordering: .acquiring)
        // Last, and each front's error and difference are counted before it is done: `done`
        // never lags behind them.
        s.done = done.load(ordering: .acquiring)
        return s
    }

    func frontDone(error: Bool, statusDiffers: Bool) {
        if error { errors.wrappingAdd(1, ordering: .relaxed) }
        if statusDiffers { statusDifferences.wrappingAdd(1, ordering: .relaxed) }
        done.wrappingAdd(1, ordering: .releasing)
    }

    func unmatched() { unmatchedCount.wrappingAdd(1, ordering: .relaxed) }
    func backendRequest() { backendRequests.wrappingAdd(1, ordering: .relaxed) }
}
