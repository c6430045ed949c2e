import Synchronization

/// Connects a log's writer to readers that follow the file while it is written
/// (`LogReader(path:following:)`, `LogScanner(path:following:)`): until `finish()`, a reader that
/// reaches the end of the file waits for more; after it, the end of the file is the end of the log.
///
/// The writer calls `finish()` only once everything is in the file. A reader loads the flag
/// before each read, so a finish it has seen guarantees the read that follows sees every byte.
public final class LogFollow: Sendable {
    private let finished = Atomic<Bool>(false)
    /// How long a reader at the end of the file sleeps before it looks again.
    public let pollMicros: UInt32

    public init(pollMicros: UInt32 = 2_000) { self.pollMicros = pollMicros }

    /// The writer is done: readers stop waiting at the end of the file.
    public func finish() { finished.store(true, ordering: .releasing) }

    public var isFinished: Bool { finished.load(ordering: .acquiring) }
}
