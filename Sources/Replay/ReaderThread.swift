import CHarnessSupport
import Foundation
import HarnessCore
import NIOCore

/// The second pass over the recording, on its own thread: recorded back exchanges go to the
/// matcher, selected front exchanges to their connections with their due time. Fronts are held
/// back for a few records so the back exchanges written just after them reach the matcher first.
final class ReaderThread: @unchecked Sendable {
    private let lock = PosixLock()
    private var storedError: (any Error)?
    private var storedDamage: LogDamage?

    var error: (any Error)? { lock.withLock { storedError } }
    var damage: LogDamage? { lock.withLock { storedDamage } }

    static let holdBack = 64
    /// Result exchanges queued for the writer before the reader waits. Each holds its headers
    /// and bodies (a kilobyte or two): 16k of them let a writer that fell behind under load
    /// add tens of MiB to the peak; 4k are 0.2 s of work at 20k requests/s.
    static let maxBacklog = 4_096

    static func start(
        path: String, plan: RecordingPlan, selection: ReplaySelection, engine: ReplayEngine, matcher: BackendMatcher?,
        originIndex: [Origin: Int], speed: ReplaySpeed, rate: Double?, maxRate: Double?
    ) -> ReaderThread {
        let result = ReaderThread()
        let thread = Thread {
            _ = harness_set_thread_name("replay-reader")
            do {
                try result.read(
                    path: path, plan: plan, selection: selection, engine: engine, matcher: matcher, originIndex: originIndex,
                    speed: speed, rate: rate, maxRate: maxRate)
            } catch {
                result.lock.withLock { result.storedError = error }
            }
            engine.readerFinished()
        }
        thread.stackSize = 8 << 20
        thread.start()
        return result
    }

    private func read(
        path: String, plan: RecordingPlan, selection: ReplaySelection, engine: ReplayEngine, matcher: BackendMatcher?,
        originIndex: [Origin: Int], speed: ReplaySpeed, rate: Double?, maxRate: Double?
    ) throws {
        let reader = try LogReader(path: path)
        let base = NIODeadline.now() + .milliseconds(50)
        var selected = 0
        var released = 0
        // Fronts held back, and the record index of each (apart: reading `held.first` to test
        // the index copied the whole exchange at every record).
        var held = CircularBuffer<Exchange>()
        var heldAt = CircularBuffer<Int>()
        var index = 0
        let hold = matcher == nil ? 0 : Self.holdBack

        func release(_ e: Exchange) {
            var due: NIODeadline?
            if let rate, rate > 0 {
                due = base + .nanoseconds(Int64(Double(released) / rate * 1e9))
            } else if case .recorded(let factor) = speed, e.timing.requestStart > 0, plan.recordingStart > 0 {
                let offset = Double(e.timing.requestStart - plan.recordingStart) * 1000 / factor
                due = base + .nanoseconds(Int64(offset))
            }
            if let maxRate, maxRate > 0 {
                // The n-th request never leaves before n / maxRate seconds.
                let earliest = base + .nanoseconds(Int64(Double(released) / maxRate * 1e9))
                if due.map({ $0 < earliest }) ?? true { due = earliest }
            }
            let last = plan.ends.isLast(released)
            released += 1
            engine.release(PendingRequest(exchange: e, outgoing: engine.outgoing, due: due, last: last))
        }

        // Fronts come without their recorded responses (the replay needs their status alone).
        while let e = try reader.next(statusOnly: true) {
            index += 1
            if e.leg == .back {
                if let matcher, let i = originIndex[RecordingPlan.backendOrigin(of: e)] { matcher.addRecorded(e, origin: i) }
            } else if e.leg == plan.clientLeg {
                var take = selection.includes(e)
                if take, let limit = selection.limit, selected >= limit { take = false }
                if take {
                    selected += 1
                    if hold == 0 {
                        release(e)
                    } else {
                        held.append(e)
                        heldAt.append(index)
                    }
                } else {
                    matcher?.dropFront(originalID: e.id)
                }
            }
            while let at = heldAt.first, index - at >= hold {
                heldAt.removeFirst()
                release(held.removeFirst())
            }
            engine.releaseTick()
            // The engine's lock is shared with the event loops: look for room every few records,
            // not at every one (the read-ahead is at least 1024 requests; 16 more do no harm).
            if index & 15 == 0 { engine.waitForRoom() }
            // The result writer is behind: let it catch up (memory stays bounded, nothing is dropped).
            if index % 256 == 0 {
                while engine.recorder.backlog > Self.maxBacklog {
                    engine.flushReleases()
                    usleep(1_000)
                }
            }
        }
        while let e = held.popFirst() { release(e) }
        lock.withLock { storedDamage = reader.damage }
    }
}
