import Capture
import Testing

/// Per-direction TCP reassembly: order, duplicates, overlaps, wrap-around, gaps, joins.
@Suite struct TCPReassemblerTests {
    /// Collects what the reassembler hands on: bytes as text, gaps as `<gap N>`.
    final class Collector {
        var text = ""
        var gaps: [Int] = []
        func take(_ p: StreamPiece) {
            switch p {
            case .bytes(let b): text += String(decoding: b, as: UTF8.self)
            case .gap(let n):
                gaps.append(n)
                text += "<gap \(n)>"
            }
        }
    }

    func feed(_ r: inout TCPReassembler, _ c: Collector, _ seq: UInt32, _ s: String, flags: UInt8 = 0x18) {
        Array(s.utf8).withUnsafeBytes { r.segment(sequence: seq, flags: flags, payload: $0, deliver: c.take) }
    }

    func syn(_ r: inout TCPReassembler, _ c: Collector, _ isn: UInt32) {
        r.segment(sequence: isn, flags: TCPSegment.syn, payload: UnsafeRawBufferPointer(start: nil, count: 0), deliver: c.take)
    }

    @Test func outOfOrderSegmentsAreReordered() {
        var r = TCPReassembler()
        let c = Collector()
        syn(&r, c, 99)
        feed(&r, c, 106, "world")
        feed(&r, c, 111, "!")
        #expect(c.text == "")
        feed(&r, c, 100, "hello ")
        #expect(c.text == "hello world!")
        #expect(r.counters.outOfOrderSegments == 2)
    }

    @Test func retransmissionsAndOverlapsAreTrimmed() {
        var r = TCPReassembler()
        let c = Collector()
        syn(&r, c, 0)
        feed(&r, c, 1, "abcdef")
        feed(&r, c, 1, "abcdef")  // full retransmission
        feed(&r, c, 4, "defghi")  // overlap of 3
        feed(&r, c, 12, "lm")  // ahead
        feed(&r, c, 8, "hijkl")  // overlaps both sides
        #expect(c.text == "abcdefghijklm")
        #expect(r.counters.duplicateBytes == 6 + 3 + 2 + 1)
        #expect(c.gaps.isEmpty)
    }

    @Test func sequenceNumbersWrapAround() {
        var r = TCPReassembler()
        let c = Collector()
        syn(&r, c, 0xffff_fffa)
        feed(&r, c, 0xffff_fffb, "12345")
        feed(&r, c, 3, "90")  // after wrap, out of order
        feed(&r, c, 0, "678")
        #expect(c.text == "1234567890")
    }

    @Test func peerAckMarksLostBytesAsGap() {
        var r = TCPReassembler()
        let c = Collector()
        syn(&r, c, 0)
        feed(&r, c, 1, "aaaa")
        feed(&r, c, 9, "cccc")  // bytes 5..<9 lost
        #expect(c.text == "aaaa")
        r.peerAcknowledged(13, deliver: c.take)
        #expect(c.text == "aaaa<gap 4>cccc")
        // An ack past everything seen: the tail was lost too.
        r.peerAcknowledged(20, deliver: c.take)
        #expect(c.gaps == [4, 7])
        #expect(r.counters.gapBytes == 11)
    }

    @Test func flushHandsOnWaitingBytesAfterAGap() {
        var r = TCPReassembler()
        let c = Collector()
        syn(&r, c, 1000)
        feed(&r, c, 1001, "x")
        feed(&r, c, 1010, "y")
        r.flush(deliver: c.take)
        #expect(c.text == "x<gap 8>y")
    }

    @Test func pendingCapForcesAGap() {
        var r = TCPReassembler(maxPendingBytes: 8)
        let c = Collector()
        syn(&r, c, 0)
        feed(&r, c, 11, "12345")
        feed(&r, c, 16, "67890")
        #expect(c.text == "<gap 10>1234567890")
    }

    @Test func midStreamJoinStartsAtFirstPayload() {
        var r = TCPReassembler()
        let c = Collector()
        feed(&r, c, 123_456, "GET /")
        feed(&r, c, 123_461, " HTTP")
        #expect(r.joinedMidStream)
        #expect(c.text == "GET / HTTP")
    }

    @Test func finIsReachedOnlyWhenAllBytesArrived() {
        var r = TCPReassembler()
        let c = Collector()
        syn(&r, c, 0)
        feed(&r, c, 4, "def", flags: TCPSegment.fin | TCPSegment.ack)
        #expect(!r.finished)
        feed(&r, c, 1, "abc")
        #expect(r.finished)
        #expect(c.text == "abcdef")
        // The ACK of the FIN is not a gap.
        r.peerAcknowledged(8, deliver: c.take)
        #expect(c.gaps.isEmpty)
    }

    @Test func snaplenCutBytesBecomeAGap() {
        var r = TCPReassembler()
        let c = Collector()
        syn(&r, c, 0)
        Array("abc".utf8).withUnsafeBytes { r.segment(sequence: 1, flags: 0x18, payload: $0, missing: 5, deliver: c.take) }
        feed(&r, c, 9, "z")
        #expect(c.text == "abc<gap 5>z")
    }
}
