import HarnessCore

/// The fast path: decides from the scanned facts alone that a pair has no difference.
///
/// Conservative by construction: it answers true only where the detailed comparison
/// (`compare(_:_:)`) would report nothing, and false ("look closer") for anything it does not
/// model: errors, status changes, a route rule in force, a front Host that would extend the
/// origin table, redacted values, Connection headers listing fields, truncated bodies, raw
/// differences in time-shifted headers, any backend call unmatched or missing. Heads compare by
/// digest (`RecordDigester`); Location-like and origin- or client-dependent fields are normalised
/// here exactly as the detailed path does.
extension PairComparator {
    func fastEqual(_ o: Scanned, _ oBacks: BackList, _ r: Scanned, _ rBacks: BackList, noise: NoiseRules) -> Bool {
        if o.hasError || r.hasError || !o.hasResponse || !r.hasResponse || o.status != r.status { return false }
        let oh = o.head, rh = r.head
        if oh.slow || rh.slow || oh.sum != rh.sum || oh.fields != rh.fields { return false }
        if !Self.sameBody(oh, rh, response: true) { return false }
        if !hostIsKnownFront(o.host, tls: o.tls) || !hostIsKnownFront(r.host, tls: r.tls) { return false }
        let rules: ResolvedRules
        if noise.hasRouteRules {
            guard let m = o.method, let t = o.target else { return false }
            rules = noise.resolve(method: m, path: Prepared.path(of: Request(method: m, target: t)))
            if rules.routed { return false }
        } else {
            rules = noise.resolve(method: "", path: "")
        }
        var pair = PairContext(o: o, r: r, rules: rules)
        if oh.location != rh.location || oh.contentLocation != rh.contentLocation || oh.refresh != rh.refresh,
            !locationsEqual([oh.location, oh.contentLocation, oh.refresh], [rh.location, rh.contentLocation, rh.refresh], pair.comparer(self))
        {
            return false
        }
        if !specialsEqual(oh.specials, rh.specials, &pair) { return false }

        for rb in rBacks {
            guard let key = rb.replayOf, !rb.unmatched else { return false }
            guard let ob = oBacks.first(where: { $0.key == key }) else { continue }
            if !backendEqual(ob, rb, &pair, noise: noise) { return false }
        }
        // Every original call matched: some replayed call names its key (then `first` finds one).
        for ob in oBacks {
            guard let k = ob.key, rBacks.contains(where: { $0.replayOf == k }) else { return false }
        }
        return true
    }

    private func backendEqual(_ ob: Scanned, _ rb: Scanned, _ pair: inout PairContext, noise: NoiseRules) -> Bool {
        if ob.methodHash != rb.methodHash || ob.targetHash != rb.targetHash { return false }
        let a = ob.head, b = rb.head
        if a.slow || b.slow || a.sum != b.sum || a.fields != b.fields { return false }
        if !Self.sameBody(a, b, response: false) { return false }
        if ob.host != rb.host {
            let na = ob.host.map { authority($0, tls: ob.tls) }
            let nb = rb.host.map { authority($0, tls: rb.tls) }
            if na != nb { return false }
        }
        if noise.hasRouteRules {
            guard let m = ob.method, let t = ob.target else { return false }
            if noise.resolve(method: m, path: Prepared.path(of: Request(method: m, target: t))).routed { return false }
        }
        return specialsEqual(a.specials, b.specials, &pair)
    }

    /// `origins.normalizeAuthority`, remembered per value until the origin table changes.
    func authority(_ v: String, tls: Bool) -> String {
        let memo = authorityMemo
        if memo.version != origins.version {
            memo.version = origins.version
            memo.plain.removeAll()
            memo.tls.removeAll()
        }
        if let n = tls ? memo.tls[v] : memo.plain[v] { return n }
        let n = origins.normalizeAuthority(v, tls: tls)
        if memo.plain.count + memo.tls.count > 10_000 {
            memo.plain.removeAll()
            memo.tls.removeAll()
        }
        if tls { memo.tls[v] = n } else { memo.plain[v] = n }
        return n
    }

    /// Raw bodies equal (two hashes and the length) with the same content-encoding: the detailed
    /// path finds them equal too (byte-equal, or equal decoded digests).
    static func sameBody(_ a: HeadDigest, _ b: HeadDigest, response: Bool) -> Bool {
        if a.truncated || b.truncated { return false }
        if a.body != b.body { return false }
        if !response && a.body.length == 0 { return true }
        return a.encodingHash == b.encodingHash
    }

    /// Mirrors `originsFor`: true when the Host needs no addition to the origin table.
    private func hostIsKnownFront(_ h: String?, tls: Bool) -> Bool {
        guard let h else { return true }
        if frontCache.contains(h) { return true }
        guard origins.normalizeAuthority(h, tls: tls) == OriginTable.front else { return false }
        if frontCache.count < 1_000 { frontCache.insert(h) }
        return true
    }

    static func context(_ s: Scanned) -> SideContext {
        SideContext(clientHost: s.clientHost, frontScheme: s.tls ? "https" : "http", frontPort: s.server.port, startMicros: s.timing.requestStart)
    }

    private func locationsEqual(_ a: [String?], _ b: [String?], _ comparer: HeaderComparer) -> Bool {
        if a == b { return true }
        var oa: Headers = [], ob: Headers = []
        for (i, name) in ["Location", "Content-Location", "Refresh"].enumerated() where i < a.count {
            if a[i] == b[i] { continue }
            guard let x = a[i], let y = b[i] else { return false }
            oa.append(HeaderField(name, x))
            ob.append(HeaderField(name, y))
        }
        if oa.isEmpty { return true }
        var diffs: [Difference] = []
        compareLocations(oa, ob, headers: comparer, into: &diffs)
        return diffs.isEmpty
    }

    /// Pair-dependent fields, in wire order on both sides: same names, values equal as normalised.
    func specialsEqual(_ a: [Special], _ b: [Special], _ pair: inout PairContext) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count {
            let x = a[i], y = b[i]
            guard x.name == y.name else { return false }
            let same = x.value == y.value
            if same && (x.kind == .url || x.kind == .timeShifted) { continue }
            if x.kind == .timeShifted || x.opaque || y.opaque {
                if same { continue }
                return false
            }
            let plain = pair.rules.headerNormalizers.isEmpty
            switch x.kind {
            case .forwardedFor:
                // Each side's own client: both `{client}`.
                if plain && x.value == pair.o.clientHost && y.value == pair.r.clientHost { continue }
            case .forwardedHost:
                if plain, !x.value.utf8.contains(UInt8(ascii: ",")), !y.value.utf8.contains(UInt8(ascii: ",")) {
                    if authority(x.value.trimmingWhitespace(), tls: pair.o.tls) == authority(y.value.trimmingWhitespace(), tls: pair.r.tls) {
                        continue
                    }
                    return false
                }
            default: break
            }
            let c = pair.comparer(self)
            if c.normalize(x.name, x.value, side: c.original) != c.normalize(y.name, y.value, side: c.replayed) { return false }
        }
        return true
    }

}

/// One pair's fronts and rules; builds the header comparer only when a field needs it.
struct PairContext {
    let o: Scanned
    let r: Scanned
    let rules: ResolvedRules
    private var built: HeaderComparer?

    init(o: Scanned, r: Scanned, rules: ResolvedRules) {
        self.o = o
        self.r = r
        self.rules = rules
    }

    mutating func comparer(_ p: PairComparator) -> HeaderComparer {
        if let built { return built }
        let c = HeaderComparer(
            rules: rules, origins: p.origins, original: PairComparator.context(o), replayed: PairComparator.context(r),
            globalOffsetMicros: p.globalOffsetMicros)
        built = c
        return c
    }
}
