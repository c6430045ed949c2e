import Replay
import Testing

/// The plan's one-bit-per-request record of where each recorded connection ends.
struct ConnectionEndsTests {
    @Test func marksTheLastRequestOfEachConnection() {
        var b = ConnectionEndsBuilder()
        for c: UInt64 in [1, 2, 1, 3, 2, 1] { b.add(connection: c) }
        let ends = b.ends
        #expect(ends.count == 6)
        #expect((0..<6).map { ends.isLast($0) } == [false, false, false, true, true, true])
        #expect(ends.lastCount == 3)
        #expect(!ends.isLast(6) && !ends.isLast(-1))
    }

    @Test func spansManyWords() {
        var b = ConnectionEndsBuilder()
        for i in 0..<1000 { b.add(connection: UInt64(i % 7)) }
        #expect(b.ends.lastCount == 7)
        #expect((993..<1000).allSatisfy { b.ends.isLast($0) })
        #expect(!(0..<993).contains { b.ends.isLast($0) })
    }

    @Test func forgetsTheOldestConnectionsPastItsBound() {
        var b = ConnectionEndsBuilder(maxTracked: 4)
        // Connections 1...6 once each: tracking 5 > 4 forgets the older half.
        for c: UInt64 in 1...6 { b.add(connection: c) }
        #expect(b.tracked <= 4)
        #expect(b.evicted >= 2)
        // Connection 1 comes back after being forgotten: its first request stays marked last
        // (its connection closes there) and the new one is last too.
        b.add(connection: 1)
        #expect(b.ends.isLast(0))
        #expect(b.ends.isLast(6))
        // A remembered connection still moves its mark.
        b.add(connection: 6)
        #expect(!b.ends.isLast(5))
        #expect(b.ends.isLast(7))
    }
}
