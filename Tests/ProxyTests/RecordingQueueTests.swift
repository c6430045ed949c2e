import HarnessCore
import Testing

@testable import Proxy

/// The recording queue between the event loops and the writer thread: bounded, never blocking,
/// counting what it leaves out.
struct RecordingQueueTests {
    static func exchange(_ id: UInt64, _ leg: Leg, body: Int = 0) -> Exchange {
        Exchange(
            id: id, leg: leg, connection: ConnectionInfo(), sequence: 0, timing: Timing(),
            request: Request(method: "GET", target: "/\(id)", body: [UInt8](repeating: 1, count: body)), response: nil)
    }

    /// Both legs offered under one lock are taken in order (back first) while there is room,
    /// and counted as left out one by one when there is not.
    @Test func pairsAreTakenInOrderAndCountedWhenFull() throws {
        let sink = MemorySink()
        let queue = RecordingQueue(sink: sink, capacity: 5, maxBytes: 1 << 20)
        #expect(queue.offer(back: Self.exchange(1, .back), front: Self.exchange(2, .front)) == 2)
        #expect(queue.offer(back: nil, front: Self.exchange(3, .front)) == 1)
        #expect(queue.offer(back: Self.exchange(4, .back), front: Self.exchange(5, .front)) == 2)
        // Full: the back leg and the front leg are each left out.
        #expect(queue.offer(back: Self.exchange(6, .back), front: Self.exchange(7, .front)) == 0)
        #expect(queue.leftOut == 2)
        queue.stop()
        #expect(sink.exchanges.map(\.id) == [1, 2, 3, 4, 5])

        // The byte bound: a back leg with a large body is left out, its front leg still fits.
        let small = RecordingQueue(sink: MemorySink(), capacity: 100, maxBytes: 4096)
        #expect(small.offer(back: Self.exchange(1, .back, body: 8000), front: Self.exchange(2, .front)) == 1)
        #expect(small.leftOut == 1)
        small.stop()
    }
}
