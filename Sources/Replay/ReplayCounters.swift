import HarnessCore

/// Running totals of a replay (for the progress line and the summary). Thread-safe.
public final class ReplayCounters: @unchecked Sendable {
    private let lock = PosixLock()
    // Guarded by `lock`.
    private var state = Snapshot()

    /// A consistent copy of the counters.
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

    public var snapshot: Snapshot { lock.withLock { state } }

    func frontDone(error: Bool, statusDiffers: Bool) {
        lock.withLock {
            state.done += 1
            if error { state.errors += 1 }
            if statusDiffers { state.statusDifferences += 1 }
        }
    }

    func unmatched() { lock.withLock { state.unmatched += 1 } }
    func backendRequest() { lock.withLock { state.backendRequests += 1 } }
}
