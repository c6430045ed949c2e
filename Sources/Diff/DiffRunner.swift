internal import Foundation
import HarnessCore

/// The streaming join behind `DiffEngine.diff`: reads the result log front to back and the
/// original only as far as the result needs, pairs replayed fronts with originals by `replayOf`,
/// gathers each side's backend calls by link, compares, and aggregates.
///
/// Memory bound: at most `window` original records wait for a partner (older ones are counted as
/// not replayed), a pair waits `lag` records on each side for late backend calls, and the
/// aggregate is bounded by the number of groups. A replay that runs more than `window` records
/// out of the original's order reports the stragglers as `unpaired`; raise `--window`.
///
/// Single-threaded (the join runs on the caller's thread; readers hand over batches), so its
/// state skips dynamic exclusivity checks.
final class DiffRunner {
    private let left: LogScanner
    private let right: LogScanner
    @exclusivity(unchecked) private var leftSource: RecordSource?
    @exclusivity(unchecked) private var rightSource: RecordSource?
    private let options: DiffOptions
    private let leftIsResult: Bool
    @exclusivity(unchecked) private var comparator: PairComparator
    @exclusivity(unchecked) private var aggregator: Aggregator

    @exclusivity(unchecked) private var lseq = 0, rseq = 0
    @exclusivity(unchecked) private var leftEOF = false, rightEOF = false

    @exclusivity(unchecked) private var leftFronts: [UInt64: (front: Scanned, seq: Int)] = [:]
    @exclusivity(unchecked) private var leftFrontOrder = FIFO<(key: UInt64, seq: Int)>()
    @exclusivity(unchecked) private var leftBacks: [UInt64: BackList] = [:]
    @exclusivity(unchecked) private var leftBackOrder = FIFO<(frontID: UInt64, seq: Int)>()
    @exclusivity(unchecked) private var pending = FIFO<(front: Scanned, seq: Int)>()
    @exclusivity(unchecked) private var waitReads = 0
    @exclusivity(unchecked) private var rightBacks: [UInt64: BackList] = [:]
    @exclusivity(unchecked) private var rightBackOrder = FIFO<(frontID: UInt64, seq: Int)>()
    @exclusivity(unchecked) private var ready = FIFO<(left: Scanned, lseq: Int, right: Scanned, rseq: Int)>()
    private let noise: NoiseRules
    /// Pairs the fast path settled (no exchange decoded), for tests and benchmarks.
    private(set) var fastPairs = 0
    private(set) var fullPairs = 0
    @exclusivity(unchecked) private var lastBackend: Endpoint?
    private let routes = RouteTemplate.Cache()

    init(originalPath: String, resultPath: String, options: DiffOptions) throws {
        left = try LogScanner(path: originalPath)
        right = try LogScanner(path: resultPath, following: options.following)
        self.options = options
        leftIsResult = options.originalIsResult
        let noise = try options.rulesPath.map { try NoiseRules(path: $0) } ?? NoiseRules()
        if let extra = options.extraRulesYAML { noise.merge(try NoiseRules(yaml: extra, name: "<baseline rules>")) }
        self.noise = noise
        var mappings = options.originMappings + OriginMapping.parse(right.header["origin_map"] ?? "")
        var targets = [right.header["target"]].compactMap { $0 }
        if leftIsResult {
            mappings += OriginMapping.parse(left.header["origin_map"] ?? "")
            targets += [left.header["target"]].compactMap { $0 }
        }
        var offset: Int64?
        if let s = right.header["started_us"].flatMap({ Int64($0) }), let r = right.header["recording_started_us"].flatMap({ Int64($0) }) {
            offset = s - r
        }
        comparator = PairComparator(origins: OriginTable(mappings: mappings, targets: targets), rules: noise, globalOffsetMicros: offset)
        aggregator = Aggregator(failOn: options.failOn, examplesPerGroup: options.examplesPerGroup)
        aggregator.report.original = originalPath
        aggregator.report.result = resultPath
    }

    func run() throws -> DiffReport {
        let isResult = leftIsResult
        let digester = RecordDigester(rules: noise.base(), keepTarget: noise.hasRouteRules)
        let following = options.following
        leftSource = RecordSource(scanner: left, digester: digester, following: following) { e in isResult ? e.replayOf : e.id }
        rightSource = RecordSource(scanner: right, digester: digester, following: following) { $0.replayOf }
        // Following a replay still running: stay out of its way (idle class) until it is done.
        var idle = following.map { !$0.isFinished && ThreadScheduling.enterIdleClass() } ?? false
        defer { if idle { ThreadScheduling.leaveIdleClass() } }
        while !rightEOF {
            try readRight()
            try resolve()
            try finalize()
            if idle, following?.isFinished ?? true {
                ThreadScheduling.leaveIdleClass()
                idle = false
            }
        }
        try resolve()
        try finalize()
        leftSource?.cancel()
        rightSource?.cancel()
        for (_, backs) in rightBacks { for b in backs { standalone(b) } }
        rightBacks.removeAll()
        if let d = right.damage {
            throw HarnessError(.badInput, "the result log is damaged: \(d.reason)", path: right.path, location: "byte offset \(d.offset)")
        }
        if let d = left.damage {
            throw HarnessError(.badInput, "the original recording is damaged: \(d.reason)", path: left.path, location: "byte offset \(d.offset)")
        }
        aggregator.report.notReplayed += leftFronts.count
        options.statistics?.fastPairs = fastPairs
        options.statistics?.fullPairs = fullPairs
        if ProcessInfo.processInfo.environment["HARNESS_DIFF_STATS"] == "1" {
            Console.error("diff: \(fastPairs) pairs equal on the fast path, \(fullPairs) compared in full")
        }
        return aggregator.finish()
    }

    // MARK: reading

    private func readLeft() throws {
        guard !leftEOF else { return }
        guard let p = try leftSource?.next() else { leftEOF = true; return }
        let e = p
        lseq += 1
        if e.leg == .back {
            guard let frontID = e.linkFrontID else { return }
            if !leftIsResult, e.server != lastBackend {
                lastBackend = e.server
                comparator.origins.addBackendIfUnknown((e.tls ? "https://" : "http://") + e.server.description)
            }
            leftBacks[frontID, default: BackList()].append(p)
            leftBackOrder.push((frontID, lseq))
        } else {
            guard let key = p.key else { return }
            leftFronts[key] = (p, lseq)
            leftFrontOrder.push((key, lseq))
        }
        evictLeft()
    }

    private func evictLeft() {
        let horizon = lseq - options.window
        while let h = leftFrontOrder.first, h.seq < horizon {
            leftFrontOrder.pop()
            if let f = leftFronts[h.key], f.seq == h.seq {
                leftFronts[h.key] = nil
                leftBacks[f.front.id] = nil
                aggregator.report.notReplayed += 1
            }
        }
        while let h = leftBackOrder.first, h.seq < horizon {
            leftBackOrder.pop()
            leftBacks[h.frontID] = nil
        }
    }

    private func readRight() throws {
        guard let p = try rightSource?.next() else { rightEOF = true; return }
        let e = p
        rseq += 1
        if e.leg == .back {
            guard let frontID = e.linkFrontID else { standalone(p); return }
            rightBacks[frontID, default: BackList()].append(p)
            rightBackOrder.push((frontID, rseq))
            let horizon = rseq - options.window
            while let h = rightBackOrder.first, h.seq < horizon {
                rightBackOrder.pop()
                if let orphans = rightBacks.removeValue(forKey: h.frontID) { orphans.forEach(standalone) }
            }
        } else {
            guard e.replayOf != nil else { return }
            aggregator.report.exchanges += 1
            pending.push((p, rseq))
        }
    }

    // MARK: pairing

    private func resolve() throws {
        while let head = pending.first {
            if let l = leftFronts.removeValue(forKey: head.front.key ?? 0) {
                ready.push((l.front, l.seq, head.front, head.seq))
                pending.pop()
                waitReads = 0
                continue
            }
            if leftEOF || waitReads >= options.window {
                aggregator.report.unpaired += 1
                pending.pop()
                waitReads = 0
                continue
            }
            try readLeft()
            waitReads += 1
        }
    }

    private func finalize() throws {
        while let p = ready.first {
            guard rightEOF || rseq - p.rseq >= options.lag else { return }
            if !leftEOF && lseq - p.lseq < options.lag {
                try readLeft()
                continue
            }
            ready.pop()
            compare(p.left, p.right)
        }
    }

    private func compare(_ l: Scanned, _ r: Scanned) {
        let lBacks = leftBacks.removeValue(forKey: l.id) ?? BackList()
        let rBacks = rightBacks.removeValue(forKey: r.id) ?? BackList()
        if !l.hasError && (!l.hasResponse || l.incomplete) {
            aggregator.report.skipped += 1
            return
        }
        if options.fastPath && comparator.fastEqual(l, lBacks, r, rBacks, noise: noise) {
            fastPairs += 1
            aggregator.addEqual(originalLatency: l.latency, replayedLatency: r.hasError ? nil : r.latency)
            return
        }
        fullPairs += 1
        let o = ExchangeUnit(front: l.prepared, backs: lBacks.map(\.prepared))
        let rep = ExchangeUnit(front: r.prepared, backs: rBacks.map(\.prepared))
        let route = routes.of(method: o.front.exchange.request.method, path: o.front.path)
        aggregator.add(original: o, replayed: rep, route: route, diffs: comparator.compare(o, rep))
    }

    /// A replayed backend call that joins no compared pair: only an unmatched one is a difference.
    private func standalone(_ s: Scanned) {
        guard s.replayOf == nil || s.unmatched else { return }
        let b = s.prepared
        let e = b.exchange
        let hint = e.request.path.contains("//") ? " (double slash)" : ""
        let d = Difference(
            .backendUnmatched, "backend unmatched \(e.request.method) \(RouteTemplate.collapsePath(e.request.path))\(hint)",
            replayed: "\(e.request.method) \(e.request.target)")
        aggregator.addStandalone(
            id: e.id, route: RouteTemplate.of(method: e.request.method, path: e.request.path), diffs: [d],
            unit: ExchangeUnit(front: b, backs: []))
    }
}

/// The backend calls of one front: the first inline (no array for the usual single call).
struct BackList: RandomAccessCollection {
    private var head: Scanned?
    private var rest: [Scanned] = []
    init() {}
    var startIndex: Int { 0 }
    var endIndex: Int { head == nil ? 0 : 1 + rest.count }
    subscript(i: Int) -> Scanned {
        if i == 0, let head { return head }
        return rest[i - 1]
    }
    mutating func append(_ s: Scanned) {
        if head == nil { head = s } else { rest.append(s) }
    }
}

/// A queue over a ring of slots (amortised O(1); a popped element is released at once).
struct FIFO<T> {
    private var slots: [T?] = Array(repeating: nil, count: 16)
    private var head = 0
    private(set) var count = 0
    var first: T? { count > 0 ? slots[head] : nil }
    mutating func push(_ x: T) {
        if count == slots.count {
            var grown: [T?] = Array(repeating: nil, count: slots.count * 2)
            for i in 0..<count { grown[i] = slots[(head + i) & (slots.count - 1)] }
            slots = grown
            head = 0
        }
        slots[(head + count) & (slots.count - 1)] = x
        count += 1
    }
    mutating func pop() {
        guard count > 0 else { return }
        slots[head] = nil
        head = (head + 1) & (slots.count - 1)
        count -= 1
    }
}
