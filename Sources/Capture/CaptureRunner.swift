import HarnessCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A process-wide stop request, set from SIGINT/SIGTERM handlers (a lock-free atomic store only).
public enum StopRequest {
    static let flag = Atomic<Bool>(false)

    public static var isSet: Bool { flag.load(ordering: .relaxed) }
    public static func set() { flag.store(true, ordering: .relaxed) }
    public static func reset() { flag.store(false, ordering: .relaxed) }

    /// Installs handlers so SIGINT and SIGTERM end the capture loop cleanly.
    public static func installSignalHandlers() {
        // A parent may have started us with these blocked (test runners do): unblock them here.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        signal(SIGINT) { _ in StopRequest.flag.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in StopRequest.flag.store(true, ordering: .relaxed) }
    }
}

/// When a capture loop stops by itself.
public struct CaptureLimits: Sendable {
    public var durationMicros: Int64?
    public var packetCount: Int?
    public init(durationMicros: Int64? = nil, packetCount: Int? = nil) {
        self.durationMicros = durationMicros
        self.packetCount = packetCount
    }
}

/// Drives a `PcapSource` into a `CaptureEngine` until the end, a limit, or a stop request.
public enum CaptureRunner {
    /// Reads every packet; on a read error the engine is still finished (what was decoded is kept)
    /// before the error is rethrown. `tick` runs after every `tickEvery` packets and every idle
    /// poll (flush a due block, print progress; per packet, its clock reads were a few percent of
    /// a file read); an error it throws ends the run like a read error.
    public static let tickEvery = 64

    public static func run(
        source: PcapSource, engine: CaptureEngine, limits: CaptureLimits = CaptureLimits(), tick: (() throws -> Void)? = nil
    ) throws {
        var sinceTick = 0
        let started = Clock.monotonicNanos()
        // Read once: the source object is written by the intake thread for every packet it reads
        // (its packet count), so a read of it per packet here waited for that cache line.
        let linkType = source.linkType
        let isLive = source.isLive
        var failure: (any Error)?
        // libpcap's reads run on their own thread, the way tcpdump drains a device: for a live
        // device so the kernel's buffer empties at libpcap's pace; for a file (never dropping: it
        // waits) so the reads and copies run beside the parsing, on the other core.
        let intake = isLive ? LiveIntake(source: source) : LiveIntake(source: source, maxQueuedBytes: 4 << 20, lossless: true)
        intake.start()
        defer {
            intake.stop()
            if intake.droppedByHarness > 0 {
                Console.error("warning: \(intake.droppedByHarness) packets dropped: the capture queue was full (the disk or the parser fell behind)")
            }
        }
        var handed = 0
        func limitReached() -> Bool {
            // A live feed ends by itself on a stop request, after handing out what it queued.
            if StopRequest.isSet && !isLive { return true }
            if let d = limits.durationMicros, Int64((Clock.monotonicNanos() - started) / 1000) >= d { return true }
            if let n = limits.packetCount, handed >= n { return true }
            return false
        }
        loop: while !limitReached() {
            do {
                var stop = false
                let read = try intake.nextBatch { bytes, wireLength, timestamp in
                    if limitReached() {
                        stop = true
                        return false
                    }
                    handed += 1
                    do {
                        try engine.process(bytes, linkType: linkType, wireLength: wireLength, timestamp: timestamp)
                    } catch let e as HarnessError {
                        failure = e
                        stop = true
                        return false
                    }
                    sinceTick += 1
                    if sinceTick >= Self.tickEvery {
                        sinceTick = 0
                        try tick?()
                    }
                    return true
                }
                if stop { break loop }
                switch read {
                case .packets:
                    continue
                case .idle:
                    // Nothing arrived: what finished reaches the sink (and, by the tick, the file).
                    try engine.handOver()
                    sinceTick = 0
                    try tick?()
                case .end:
                    break loop
                }
            } catch {
                failure = error
                break loop
            }
        }
        try engine.finish()
        if let failure { throw failure }
    }
}
