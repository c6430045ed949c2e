import HarnessCore

/// The streaming join behind `DiffEngine.diff`: reads the result log front to back and the
/// original only as far as the result needs, pairs replayed fronts with originals by `replayOf`,
/// gathers each side's backend calls by link, compares, and aggregates.
///
/// Memory bound: at most `window` original records wait for a partner (older ones are counted as
/// not replayed), a pair waits `lag` records on each side for late backend calls, and the
/// aggregate is bounded by the number of groups. A replay that runs more than `window` records
/// out of the original's order reports the stragglers as `unpaired`; raise `--window`.
final class DiffRunner {
    private let left: LogReader
    private let right: LogReader
    private var leftSource: RecordSource?
    private var rightSource: RecordSource?
    private let options: DiffOptions
    private let leftIsResult: Bool
    private var comparator: PairComparator
    private var aggregator: Aggregator

    private var lseq = 0, rseq = 0
    private var leftEOF = false, rightEOF = false

    private var leftFronts: [UInt64: (front: Prepared, seq: Int)] = [:]
    private var leftFrontOrder = FIFO<(key: UInt64, seq: Int)>()
    private var leftBacks: [UInt64: [Prepared]] = [:]
    private var leftBackOrder = FIFO<(frontID: UInt64, seq: Int)>()
    private var pending = FIFO<(front: Prepared, seq: Int)>()
    private var waitReads = 0
    private var rightBacks: [UInt64: [Prepared]] = [:]
    private var rightBackOrder = FIFO<(frontID: UInt64, seq: Int)>()
    private var ready = FIFO<(left: Prepared, lseq: Int, right: Prepared, rseq: Int)>()
    private var lastBackend: Endpoint?

    init(originalPath: String, resultPath: String, options: DiffOptions) throws {
        left = try LogReader(path: originalPath)
        right = try LogReader(path: resultPath)
        self.options = options
        leftIsResult = options.originalIsResult
        let noise = try options.rulesPath.map { try NoiseRules(path: $0) } ?? NoiseRules()
        if let extra = options.extraRulesYAML { noise.merge(try NoiseRules(yaml: extra, name: "<baseline rules>")) }
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
        leftSource = RecordSource(reader: left) { e in
            if e.leg == .back { return isResult ? e.replayOf : e.id }
            return isResult ? e.replayOf : e.id
        }
        rightSource = RecordSource(reader: right) { $0.replayOf }
        while !rightEOF {
            try readRight()
            try resolve()
            try finalize()
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
        return aggregator.finish()
    }

    // MARK: reading

    private func readLeft() throws {
        guard !leftEOF else { return }
        guard let p = try leftSource?.next() else { leftEOF = true; return }
        let e = p.exchange
        lseq += 1
        if e.leg == .back {
            guard let frontID = e.link?.frontID else { return }
            if !leftIsResult, e.connection.server != lastBackend {
                lastBackend = e.connection.server
                comparator.origins.addBackendIfUnknown((e.connection.tls ? "https://" : "http://") + e.connection.server.description)
            }
            leftBacks[frontID, default: []].append(p)
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
                leftBacks[f.front.exchange.id] = nil
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
        let e = p.exchange
        rseq += 1
        if e.leg == .back {
            guard let frontID = e.link?.frontID else { standalone(p); return }
            rightBacks[frontID, default: []].append(p)
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

    private func compare(_ l: Prepared, _ r: Prepared) {
        let o = ExchangeUnit(front: l, backs: leftBacks.removeValue(forKey: l.exchange.id) ?? [])
        let rep = ExchangeUnit(front: r, backs: rightBacks.removeValue(forKey: r.exchange.id) ?? [])
        let oe = l.exchange
        if oe.error == nil && (oe.response == nil || oe.flags.incomplete) {
            aggregator.report.skipped += 1
            return
        }
        let route = RouteTemplate.of(method: oe.request.method, path: l.path)
        aggregator.add(original: o, replayed: rep, route: route, diffs: comparator.compare(o, rep))
    }

    /// A replayed backend call that joins no compared pair: only an unmatched one is a difference.
    private func standalone(_ b: Prepared) {
        let e = b.exchange
        guard e.replayOf == nil || e.annotation("unmatched") != nil else { return }
        let hint = e.request.path.contains("//") ? " (double slash)" : ""
        let d = Difference(
            .backendUnmatched, "backend unmatched \(e.request.method) \(RouteTemplate.collapsePath(e.request.path))\(hint)",
            replayed: "\(e.request.method) \(e.request.target)")
        aggregator.addStandalone(
            id: e.id, route: RouteTemplate.of(method: e.request.method, path: e.request.path), diffs: [d],
            unit: ExchangeUnit(front: b, backs: []))
    }
}

/// A queue over an array with a moving head (amortised O(1), compacts itself).
struct FIFO<T> {
    private var items: [T] = []
    private var head = 0
    var first: T? { head < items.count ? items[head] : nil }
    var count: Int { items.count - head }
    mutating func push(_ x: T) { items.append(x) }
    mutating func pop() {
        head += 1
        if head >= 4_096 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
    }
}
