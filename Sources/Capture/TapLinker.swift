public import HarnessCore

/// Joins the recordings of two taps placed around one production proxy into one two-leg
/// recording: the front tap (clients -> tap -> proxy) gives the front leg, the back tap
/// (proxy -> tap -> backend) the back leg, and each back exchange is linked by time window to the
/// front exchange in flight that caused it, the way off-the-wire capture links (see `BackLinker`).
///
/// Streaming: both logs are read once, in the order they were written (completion order). An
/// event (a front starts or ends, a back starts) is decided once both logs have been read past
/// its time plus `window`, so memory follows the traffic within one window, not the length of the
/// recordings. An exchange that lasted longer than the window can be decided late: its back
/// exchanges are then left unlinked and counted.
public struct TapLinker {
    /// What a link run found.
    public struct Summary: Sendable, Equatable {
        public var fronts = 0
        public var backs = 0
        public var linkedHigh = 0
        public var linkedLow = 0
        public var unlinked = 0
        /// Exchanges of either tap that were not requests of its own clients (the tap's own
        /// upstream leg): left out, since the other tap saw the same traffic.
        public var skipped = 0
        public init() {}
    }

    private enum Kind: Int { case frontStart = 0, frontEnd = 1, back = 2 }

    private struct Event {
        var time: Int64
        var kind: Kind
        var order: UInt64
        var exchange: Exchange
    }

    private let window: Int64
    private var linker = BackLinker()
    private var pending: [Event] = []
    private var order: UInt64 = 0
    private var nextID: UInt64 = 1
    public private(set) var summary = Summary()
    /// All proxied traffic comes through one proxy: host matching does not apply to taps.
    private static let host = IPAddress(v4: 0x7f00_0001)
    /// Back connections are renumbered above this so they never collide with front ones.
    static let backConnectionBase: UInt64 = 1 << 40

    /// `windowMicros`: how long an exchange may last and still be linked exactly.
    public init(windowMicros: Int64 = 60_000_000) {
        window = windowMicros
    }

    /// Links `frontPath` and `backPath` into `sink`.
    public static func link(
        front frontPath: String, back backPath: String, into sink: any ExchangeSink, windowMicros: Int64 = 60_000_000
    ) throws -> Summary {
        var linker = TapLinker(windowMicros: windowMicros)
        let front = try LogReader(path: frontPath)
        let back = try LogReader(path: backPath)
        var frontMark = Int64.min
        var backMark = Int64.min
        var frontDone = false
        var backDone = false
        var read = 0
        while !frontDone || !backDone {
            // Read from the log that is behind, so the watermark advances.
            if !frontDone && (backDone || frontMark <= backMark) {
                if let e = try front.next() {
                    frontMark = max(frontMark, Self.end(e))
                    linker.addFront(e)
                } else {
                    frontDone = true
                }
            } else if let e = try back.next() {
                backMark = max(backMark, Self.end(e))
                linker.addBack(e)
            } else {
                backDone = true
            }
            read += 1
            // Deciding costs a pass over what is pending: do it every 1024 records.
            guard read % 1024 == 0 else { continue }
            let mark = min(frontDone ? Int64.max : frontMark, backDone ? Int64.max : backMark)
            try linker.release(upTo: mark == Int64.max ? Int64.max : mark - linker.window, into: sink)
        }
        try linker.release(upTo: Int64.max, into: sink)
        if let d = front.damage { throw HarnessError(.badInput, "the front tap's log is damaged: \(d)", path: frontPath) }
        if let d = back.damage { throw HarnessError(.badInput, "the back tap's log is damaged: \(d)", path: backPath) }
        return linker.summary
    }

    static func end(_ e: Exchange) -> Int64 {
        max(e.timing.requestStart, e.timing.requestEnd, e.timing.responseStart, e.timing.responseEnd)
    }

    private static func isClientSide(_ e: Exchange) -> Bool { e.leg == .front || e.leg == .direct }

    /// A front-tap exchange (its own back leg is skipped).
    public mutating func addFront(_ e: Exchange) {
        guard Self.isClientSide(e) else {
            summary.skipped += 1
            return
        }
        let copy = renumbered(e, leg: .front)
        push(Event(time: e.timing.requestStart, kind: .frontStart, order: 0, exchange: copy))
        push(Event(time: Self.end(e), kind: .frontEnd, order: 0, exchange: copy))
        summary.fronts += 1
    }

    /// A back-tap exchange: what the proxy sent its backend (the back tap's own back leg is skipped).
    public mutating func addBack(_ e: Exchange) {
        guard Self.isClientSide(e) else {
            summary.skipped += 1
            return
        }
        var copy = renumbered(e, leg: .back)
        copy.connection.id = Self.backConnectionBase + e.connection.id
        push(Event(time: e.timing.requestStart, kind: .back, order: 0, exchange: copy))
        summary.backs += 1
    }

    /// `e` with a fresh id in the joined log, on `leg`, without the tap's own link.
    private mutating func renumbered(_ e: Exchange, leg: Leg) -> Exchange {
        var copy = e
        copy.id = nextID
        nextID += 1
        copy.leg = leg
        copy.link = nil
        return copy
    }

    private mutating func push(_ event: Event) {
        var e = event
        e.order = order
        order += 1
        pending.append(e)
    }

    /// Decides every event at or before `mark`, in time order (at equal times: fronts start, then
    /// fronts end, then backs start), writing exchanges as they leave.
    mutating func release(upTo mark: Int64, into sink: any ExchangeSink) throws {
        guard pending.contains(where: { $0.time <= mark }) else { return }
        var ready = pending.filter { $0.time <= mark }
        pending.removeAll { $0.time <= mark }
        ready.sort { ($0.time, $0.kind.rawValue, $0.order) < ($1.time, $1.kind.rawValue, $1.order) }
        for event in ready {
            var e = event.exchange
            switch event.kind {
            case .frontStart:
                linker.frontStarted(
                    id: e.id, start: e.timing.requestStart, serverHost: Self.host, target: e.request.target, headers: e.request.headers)
            case .frontEnd:
                linker.frontEnded(id: e.id)
                try sink.append(e)
            case .back:
                if let link = linker.link(
                    start: e.timing.requestStart, clientHost: Self.host, target: e.request.target, headers: e.request.headers)
                {
                    e.link = link
                    if link.confidence == .low { summary.linkedLow += 1 } else { summary.linkedHigh += 1 }
                } else {
                    summary.unlinked += 1
                }
                try sink.append(e)
            }
        }
    }
}
