import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import Replay

/// `PollLoop` as an `EventLoop`: tasks from any thread run on the loop, timers fire in deadline
/// order, cancelled ones never, and futures complete across threads.
@Suite struct PollLoopTests {
    @Test func tasksFromManyThreadsAllRunOnTheLoop() async throws {
        let group = try PollLoopGroup(count: 1)
        defer { group.shutdownGracefully { _ in } }
        let loop = try #require(group.loops.first)
        let ran = NIOLockedValueBox((count: 0, offLoop: 0))
        let done = loop.makePromise(of: Void.self)
        let threads = 4
        let perThread = 1_000
        for _ in 0..<threads {
            Thread {
                for _ in 0..<perThread {
                    loop.execute {
                        let total = ran.withLockedValue { r -> Int in
                            r.count += 1
                            if !loop.inEventLoop { r.offLoop += 1 }
                            return r.count
                        }
                        if total == threads * perThread { done.succeed(()) }
                    }
                }
            }.start()
        }
        try await done.futureResult.get()
        #expect(ran.withLockedValue { $0.count } == threads * perThread)
        #expect(ran.withLockedValue { $0.offLoop } == 0)
        #expect(!loop.inEventLoop)
    }

    @Test func timersFireInDeadlineOrderAndCancelledOnesNever() async throws {
        let group = try PollLoopGroup(count: 1)
        defer { group.shutdownGracefully { _ in } }
        let loop = try #require(group.loops.first)
        let fired = NIOLockedValueBox<[Int]>([])
        let start = NIODeadline.now()
        let late = loop.scheduleTask(deadline: start + .milliseconds(60)) { fired.withLockedValue { $0.append(60) } }
        let cancelled = loop.scheduleTask(deadline: start + .milliseconds(40)) { fired.withLockedValue { $0.append(40) } }
        let early = loop.scheduleTask(deadline: start + .milliseconds(20)) { fired.withLockedValue { $0.append(20) } }
        cancelled.cancel()
        try await early.futureResult.get()
        let firedAt = NIODeadline.now()
        try await late.futureResult.get()
        #expect(fired.withLockedValue { $0 } == [20, 60])
        #expect(firedAt - start >= .milliseconds(20), "a timer never fires early")
        await #expect(throws: EventLoopError.self) { try await cancelled.futureResult.get() }
        // A timer set from the loop itself, for a deadline already past, fires at once.
        let now = try await loop.submit { loop.scheduleTask(deadline: .now() - .seconds(1)) { 7 } }.get()
        #expect(try await now.futureResult.get() == 7)
    }
}
