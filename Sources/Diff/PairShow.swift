import HarnessCore

/// `harness show`: finds one replayed exchange (by its id in the result log, or by the original
/// id it replays), its original and both sides' backend calls, and renders the pair side by side
/// with its differences. Streams both logs; holds only the matching exchanges.
public enum PairShow {
    public static func render(
        resultPath: String, id: UInt64, originalPath: String? = nil, rulesPath: String? = nil,
        width: Int = 160, colour: Bool = false
    ) throws -> String {
        let result = try LogReader(path: resultPath)
        guard let origPath = originalPath ?? result.header["recording"] else {
            throw HarnessError(.usage, "the result log names no recording (header key 'recording'); pass --original", path: resultPath)
        }
        var byID: Exchange?, byReplayOf: Exchange?
        var backs: [UInt64: [Exchange]] = [:]
        try result.forEach { e in
            if e.leg == .back {
                if let f = e.link?.frontID { backs[f, default: []].append(e) }
                return
            }
            if e.id == id { byID = e }
            if e.replayOf == id && byReplayOf == nil { byReplayOf = e }
            // Keep only backs of candidates to bound memory.
            if backs.count > 100_000 { backs = backs.filter { $0.key == byID?.id || $0.key == byReplayOf?.id } }
        }
        guard let replayed = byID ?? byReplayOf, let originalID = replayed.replayOf else {
            throw HarnessError(.badInput, "no replayed exchange with id \(id) (nor one replaying original #\(id))", path: resultPath,
                               location: "exchange id \(id)")
        }
        let original = try LogReader(path: origPath)
        var orig: Exchange?
        var origBacks: [Exchange] = []
        try original.forEach { e in
            if e.leg == .back { if e.link?.frontID == originalID { origBacks.append(e) } } else if e.id == originalID { orig = e }
        }
        guard let orig else {
            throw HarnessError(.badInput, "the recording has no exchange #\(originalID)", path: origPath, location: "exchange id \(originalID)")
        }
        let o = ExchangeUnit(front: Prepared(orig, key: orig.id), backs: origBacks.map { Prepared($0, key: $0.id) })
        let r = ExchangeUnit(front: Prepared(replayed, key: originalID), backs: (backs[replayed.id] ?? []).map { Prepared($0, key: $0.replayOf) })
        let rules = try rulesPath.map { try NoiseRules(path: $0) } ?? NoiseRules()
        var offset: Int64?
        if let s = result.header["started_us"].flatMap({ Int64($0) }), let rs = result.header["recording_started_us"].flatMap({ Int64($0) }) {
            offset = s - rs
        }
        let comparator = PairComparator(
            origins: OriginTable(mappings: OriginMapping.parse(result.header["origin_map"] ?? ""), targets: [result.header["target"]].compactMap { $0 }),
            rules: rules, globalOffsetMicros: offset)
        let diffs = comparator.compare(o, r)
        var out = "original #\(orig.id) (\(origPath)) ↔ replayed #\(replayed.id) (\(resultPath))\n"
        out += "route \(RouteTemplate.of(method: orig.request.method, path: orig.request.path))\n"
        if diffs.isEmpty { out += "no differences\n" }
        for d in diffs {
            out += "  \(d.category.rawValue): \(d.signature)"
            if d.original != nil || d.replayed != nil { out += "  [\(d.original ?? "(absent)") -> \(d.replayed ?? "(absent)")]" }
            out += "\n"
        }
        return out + "\n" + SideBySide.text(ExchangeText.render(o), ExchangeText.render(r), width: width, colour: colour)
    }
}
