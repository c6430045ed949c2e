import NIOCore

/// The drivers of one event loop that handled a response in the current wake-up. Their next
/// requests leave together, from one task that runs after the loop's I/O events: the requests of a
/// wake-up reach the target together (as wrk's do), and the loop schedules one task per wake-up,
/// not one per response. Touched only on its loop.
final class LoopPumps: @unchecked Sendable {
    let loop: any EventLoop
    private var ready: [ConnectionDriver] = []
    private var running: [ConnectionDriver] = []

    init(loop: any EventLoop) {
        self.loop = loop
        ready.reserveCapacity(64)
        running.reserveCapacity(64)
    }

    /// `driver` pumps once the loop has handled this wake-up's I/O.
    func add(_ driver: ConnectionDriver) {
        loop.assertInEventLoop()
        if ready.isEmpty { loop.execute { [self] in run() } }
        ready.append(driver)
    }

    private func run() {
        swap(&ready, &running)
        for d in running { d.pumpNow() }
        running.removeAll(keepingCapacity: true)
    }
}
