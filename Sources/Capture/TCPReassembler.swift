/// What the reassembler hands on for one direction of a connection, in stream order.
public enum StreamPiece {
    /// The next bytes of the stream (valid only during the call).
    case bytes(UnsafeRawBufferPointer)
    /// `count` bytes are missing here (lost from the capture or cut by snaplen): never invented.
    case gap(Int)
}

/// Counters one direction's reassembly keeps.
public struct ReassemblyCounters: Sendable, Equatable {
    /// Payload bytes seen again (retransmissions and overlaps), dropped.
    public var duplicateBytes: UInt64 = 0
    /// Bytes known missing, handed on as gaps.
    public var gapBytes: UInt64 = 0
    /// Number of gaps.
    public var gaps: UInt64 = 0
    /// Segments that arrived ahead of a hole and waited.
    public var outOfOrderSegments: UInt64 = 0
    public init() {}
}

/// Puts one direction's TCP segments back into stream order.
///
/// Sequence numbers are compared modulo 2^32 (wrap-around safe). Retransmitted and overlapping
/// bytes are trimmed; segments past a hole wait (bounded by `maxPendingBytes`); a hole becomes a
/// `.gap` when the peer acknowledges past it (the bytes existed but the capture lost them), when the
/// waiting bytes exceed the cap, or when the stream ends. A direction seen without its SYN starts
/// at the first payload byte (`joinedMidStream`).
public struct TCPReassembler {
    public private(set) var synchronized = false
    public private(set) var joinedMidStream = false
    /// The next expected sequence number.
    public private(set) var nextSequence: UInt32 = 0
    /// Sequence number of the first stream byte (after the SYN).
    public private(set) var initialSequence: UInt32 = 0
    /// Sequence number of the FIN, once seen.
    public private(set) var finSequence: UInt32?
    public private(set) var counters = ReassemblyCounters()
    public let maxPendingBytes: Int
    private var pending: [(sequence: UInt32, data: [UInt8])] = []
    private var pendingBytes = 0

    public init(maxPendingBytes: Int = 4 << 20) {
        self.maxPendingBytes = maxPendingBytes
    }

    /// True once every byte up to the FIN has been handed on.
    public var finished: Bool { finSequence.map { $0 == nextSequence } ?? false }
    /// Bytes of this direction handed on (or skipped as gaps) since the start.
    public var streamOffset: UInt64 { UInt64(nextSequence &- initialSequence) }
    public var hasPending: Bool { !pending.isEmpty }

    @inline(__always)
    static func distance(_ from: UInt32, _ to: UInt32) -> Int64 { Int64(Int32(bitPattern: to &- from)) }

    /// The fast path of `segment`: true when a segment of `count` payload bytes (no SYN, FIN or
    /// snaplen cut) continues the stream exactly, with nothing waiting and no FIN seen, as most
    /// do. Its bytes are then taken as delivered and the caller hands them on itself (no closure
    /// call, no retain of what the closure captured); false: use `segment`.
    @inline(__always)
    public mutating func continues(sequence: UInt32, flags: UInt8, count: Int, missing: Int) -> Bool {
        guard synchronized, sequence == nextSequence, count > 0, missing == 0,
            flags & (TCPSegment.syn | TCPSegment.fin) == 0, pending.isEmpty, finSequence == nil
        else { return false }
        nextSequence = nextSequence &+ UInt32(truncatingIfNeeded: count)
        return true
    }

    /// False when an acknowledgment of `ack` has nothing to say (it is not past the next expected
    /// byte): `peerAcknowledged` can be skipped.
    @inline(__always)
    public func acknowledgmentMatters(_ ack: UInt32) -> Bool {
        synchronized && Self.distance(nextSequence, ack) > 0
    }

    /// Takes one segment of this direction; hands in-order bytes and gaps to `deliver`.
    public mutating func segment(
        sequence: UInt32, flags: UInt8, payload: UnsafeRawBufferPointer, missing: Int = 0,
        deliver: (StreamPiece) -> Void
    ) {
        var seq = sequence
        if flags & TCPSegment.syn != 0 {
            if !synchronized || pending.isEmpty && streamOffset == 0 {
                synchronized = true
                joinedMidStream = false
                nextSequence = sequence &+ 1
                initialSequence = nextSequence
            }
            seq = sequence &+ 1
        }
        if !synchronized {
            guard !payload.isEmpty || flags & TCPSegment.fin != 0 else { return }
            synchronized = true
            joinedMidStream = true
            nextSequence = seq
            initialSequence = seq
        }
        if flags & TCPSegment.fin != 0 {
            let fin = seq &+ UInt32(truncatingIfNeeded: payload.count) &+ UInt32(truncatingIfNeeded: missing)
            if finSequence == nil || Self.distance(finSequence!, fin) < 0 { finSequence = fin }
        }
        let d = Self.distance(nextSequence, seq)
        if payload.isEmpty {
            if missing > 0 && d == 0 {
                noteGap(missing, deliver)
                nextSequence = nextSequence &+ UInt32(truncatingIfNeeded: missing)
                drain(deliver)
            }
            return
        }
        if d <= 0 {
            let skip = Int(-d)
            if skip >= payload.count {
                counters.duplicateBytes += UInt64(payload.count)
                return
            }
            counters.duplicateBytes += UInt64(skip)
            let fresh = UnsafeRawBufferPointer(rebasing: payload[skip...])
            deliver(.bytes(fresh))
            nextSequence = nextSequence &+ UInt32(fresh.count)
            if missing > 0 {
                // Cut by snaplen: the bytes existed, the capture did not keep them.
                noteGap(missing, deliver)
                nextSequence = nextSequence &+ UInt32(truncatingIfNeeded: missing)
            }
            drain(deliver)
        } else {
            insertPending(sequence: seq, payload: payload)
            if pendingBytes > maxPendingBytes { skipToPending(deliver) }
        }
    }

    /// The peer acknowledged `ack`: bytes before it that never arrived were lost by the capture.
    public mutating func peerAcknowledged(_ ack: UInt32, deliver: (StreamPiece) -> Void) {
        guard synchronized else { return }
        var limit = ack
        // The FIN takes one sequence number that carries no byte.
        if let fin = finSequence, Self.distance(fin, limit) > 0 { limit = fin }
        // A huge jump is a bogus or foreign ack (e.g. before a mid-stream sync): ignore it.
        let ahead = Self.distance(nextSequence, limit)
        guard ahead > 0, ahead < 1 << 30 else { return }
        while Self.distance(nextSequence, limit) > 0 {
            if let first = pending.first, Self.distance(first.sequence, limit) >= 0 {
                skipToPending(deliver)
            } else {
                let missing = Int(Self.distance(nextSequence, limit))
                noteGap(missing, deliver)
                nextSequence = limit
            }
        }
    }

    /// The stream ends (FIN reached, RST, timeout, capture end): every waiting segment is handed on.
    public mutating func flush(deliver: (StreamPiece) -> Void) {
        while !pending.isEmpty { skipToPending(deliver) }
    }

    private mutating func noteGap(_ count: Int, _ deliver: (StreamPiece) -> Void) {
        guard count > 0 else { return }
        counters.gaps += 1
        counters.gapBytes += UInt64(count)
        deliver(.gap(count))
    }

    private mutating func skipToPending(_ deliver: (StreamPiece) -> Void) {
        guard let first = pending.first else { return }
        let missing = Self.distance(nextSequence, first.sequence)
        if missing > 0 {
            noteGap(Int(missing), deliver)
            nextSequence = first.sequence
        }
        drain(deliver)
    }

    private mutating func insertPending(sequence: UInt32, payload: UnsafeRawBufferPointer) {
        counters.outOfOrderSegments += 1
        let offset = Self.distance(nextSequence, sequence)
        var index = pending.count
        while index > 0 && Self.distance(nextSequence, pending[index - 1].sequence) > offset { index -= 1 }
        if index > 0 && pending[index - 1].sequence == sequence && pending[index - 1].data.count >= payload.count {
            counters.duplicateBytes += UInt64(payload.count)
            return
        }
        pending.insert((sequence, [UInt8](payload)), at: index)
        pendingBytes += payload.count
    }

    private mutating func drain(_ deliver: (StreamPiece) -> Void) {
        while let first = pending.first {
            let d = Self.distance(nextSequence, first.sequence)
            if d > 0 { return }
            pending.removeFirst()
            pendingBytes -= first.data.count
            let skip = Int(-d)
            if skip >= first.data.count {
                counters.duplicateBytes += UInt64(first.data.count)
                continue
            }
            counters.duplicateBytes += UInt64(skip)
            first.data.withUnsafeBytes { raw in
                deliver(.bytes(UnsafeRawBufferPointer(rebasing: raw[skip...])))
            }
            nextSequence = nextSequence &+ UInt32(first.data.count - skip)
        }
    }
}
