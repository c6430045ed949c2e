import Foundation
import HarnessCore

/// Compares one original front exchange (and its backend calls) with its replay.
///
/// A status change subsumes the header and body differences of the same pair (an error page
/// differs everywhere); Location, backend and error differences are always reported.
struct PairComparator {
    var origins: OriginTable
    let rules: NoiseRules
    var globalOffsetMicros: Int64?
    /// Host values already known to normalise to `{front}` (skips the origin table per pair).
    let frontCache = HostSet()
    /// Normalised authorities of the fast path (`authority(_:tls:)`).
    let authorityMemo = AuthorityMemo()
    private var knownFront: HostSet { frontCache }

    func compare(_ o: ExchangeUnit, _ r: ExchangeUnit) -> [Difference] {
        var diffs: [Difference] = []
        let oe = o.front.exchange, re = r.front.exchange
        let resolved = rules.resolve(method: oe.request.method, path: o.front.path)
        let headers = HeaderComparer(
            rules: resolved, origins: originsFor(oe, re), original: Self.context(oe), replayed: Self.context(re),
            globalOffsetMicros: globalOffsetMicros)

        if let err = re.error, err != oe.error {
            diffs.append(Difference(.error, "error \(RouteTemplate.collapseText(err))", original: oe.error, replayed: err))
            compareBackends(o, r, headers: headers, reportMissing: false, into: &diffs)
            return diffs
        }
        guard let or = oe.response else { return diffs }
        guard let rr = re.response else {
            diffs.append(Difference(.error, "error no response", original: "\(or.status)", replayed: nil))
            return diffs
        }
        if or.status != rr.status {
            diffs.append(Difference(.status, "status \(or.status) -> \(rr.status)", original: "\(or.status)", replayed: "\(rr.status)"))
        }
        compareLocations(or.headers, rr.headers, headers: headers, into: &diffs)
        if or.status == rr.status {
            headers.compare(or.headers, rr.headers, category: .header, prefix: "header", skip: NoiseDefaults.locationHeaders, into: &diffs)
            if !o.front.sameRawBody(as: r.front, response: true), let ob = o.front.responseBody, let rb = r.front.responseBody {
                compareBodies(ob, rb, rules: resolved, category: .body, prefix: "body", into: &diffs)
            }
        }
        compareBackends(o, r, headers: headers, reportMissing: true, into: &diffs)
        return diffs
    }

    /// The origin table plus the Host each front request was sent with (as `{front}`).
    private func originsFor(_ oe: Exchange, _ re: Exchange) -> OriginTable {
        var t = origins
        for e in [oe, re] {
            guard let h = e.request.headers.first("host") else { continue }
            let tls = e.connection.tls
            if knownFront.contains(h) { continue }
            if t.normalizeAuthority(h, tls: tls) != OriginTable.front {
                t.addFront((tls ? "https://" : "http://") + h)
            } else if knownFront.count < 1_000 {
                knownFront.insert(h)
            }
        }
        return t
    }

    static func context(_ e: Exchange) -> SideContext {
        SideContext(
            clientHost: e.connection.client.host, frontScheme: e.connection.tls ? "https" : "http",
            frontPort: e.connection.server.port, startMicros: e.timing.requestStart)
    }

    func compareLocations(_ a: Headers, _ b: Headers, headers: HeaderComparer, into diffs: inout [Difference]) {
        for name in ["Location", "Content-Location", "Refresh"] {
            let va = a.first(name), vb = b.first(name)
            if va == nil && vb == nil { continue }
            guard let va else { diffs.append(Difference(.location, "\(name) added", replayed: vb)); continue }
            guard let vb else { diffs.append(Difference(.location, "\(name) removed", original: va)); continue }
            if va == vb { continue }
            let ua = name == "Refresh" ? Self.refreshURL(va) : va
            let ub = name == "Refresh" ? Self.refreshURL(vb) : vb
            let lower = name.lowercased()
            let (na, oa) = headers.origins.normalizeURL(headers.rules.normalizeHeader(lower, ua))
            let (nb, ob) = headers.origins.normalizeURL(headers.rules.normalizeHeader(lower, ub))
            if na == nb { continue }
            let sig: String
            if oa != ob && OriginTable.isBackend(ob) {
                sig = "\(name) origin \(OriginTable.backendOrigin(ob)) leaked"
            } else if oa != ob {
                sig = "\(name) origin changed \(Self.show(oa)) -> \(Self.show(ob))"
            } else {
                sig = "\(name) changed \(RouteTemplate.collapseText(Self.show(na))) -> \(RouteTemplate.collapseText(Self.show(nb)))"
            }
            diffs.append(Difference(.location, sig, original: va, replayed: vb))
        }
    }

    /// The query of a request target (after the first `?`), without Character-level scanning.
    static func query(_ target: String) -> Substring? {
        guard let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return target[target.utf8.index(after: q)...]
    }

    static func show(_ s: String) -> String {
        s.replacingOccurrences(of: OriginTable.front, with: "")
    }

    static func refreshURL(_ v: String) -> String {
        guard let r = v.range(of: "url=", options: .caseInsensitive) else { return v }
        return String(v[r.upperBound...]).trimmingWhitespace()
    }

    func compareBodies(
        _ a: BodyPrint, _ b: BodyPrint, rules: ResolvedRules, category: DiffCategory, prefix: String,
        into diffs: inout [Difference]
    ) {
        if rules.ignoreBody || a.sameContent(as: b) && rules.fieldNormalizers.isEmpty { return }
        if a.isJSON, b.isJSON, let ab = a.bytes, let bb = b.bytes, let fa = JSONDiff.flatten(ab), let fb = JSONDiff.flatten(bb) {
            for d in JSONDiff.compare(fa, fb, rules: rules) {
                let path = FieldPath.canonical(d.path)
                let what = d.original == nil ? "added" : d.replayed == nil ? "removed" : "changed"
                diffs.append(Difference(category, "\(prefix) field \(path) \(what)", original: d.original, replayed: d.replayed))
            }
            return
        }
        if a.sameContent(as: b) { return }
        let type = a.mediaType.isEmpty ? (b.mediaType.isEmpty ? "" : " (\(b.mediaType))") : " (\(a.mediaType))"
        diffs.append(Difference(
            category, "\(prefix) changed\(type)", original: Self.snippet(a), replayed: Self.snippet(b)))
    }

    static func snippet(_ p: BodyPrint) -> String {
        guard let bytes = p.bytes else { return "\(p.length) bytes" + (p.truncated ? " (truncated)" : "") }
        let text = String(decoding: bytes.prefix(200), as: UTF8.self)
        return "\(p.length) bytes: " + text + (bytes.count > 200 ? "…" : "")
    }

    func compareBackends(
        _ o: ExchangeUnit, _ r: ExchangeUnit, headers: HeaderComparer, reportMissing: Bool, into diffs: inout [Difference]
    ) {
        var matched = Set<UInt64>()
        for rb in r.backs {
            let re = rb.exchange
            if re.replayOf == nil || re.annotation("unmatched") != nil {
                let path = String(re.request.path)
                let hint = path.contains("//") ? " (double slash)" : ""
                diffs.append(Difference(
                    .backendUnmatched, "backend unmatched \(re.request.method) \(RouteTemplate.collapsePath(re.request.path))\(hint)",
                    replayed: "\(re.request.method) \(re.request.target)" + (re.annotation("unmatched").map { " — \($0)" } ?? "")))
                continue
            }
            guard let key = re.replayOf, let ob = o.backs.first(where: { $0.key == key }) else { continue }
            matched.insert(key)
            compareBackendRequest(ob, rb, headers: headers, into: &diffs)
        }
        guard reportMissing else { return }
        for ob in o.backs where !matched.contains(ob.key ?? ob.exchange.id) {
            let e = ob.exchange
            diffs.append(Difference(
                .backendMissing, "backend call \(e.request.method) \(RouteTemplate.collapsePath(e.request.path)) missing",
                original: "\(e.request.method) \(e.request.target)"))
        }
    }

    func compareBackendRequest(_ ob: Prepared, _ rb: Prepared, headers: HeaderComparer, into diffs: inout [Difference]) {
        let a = ob.exchange.request, b = rb.exchange.request
        if a.method != b.method {
            diffs.append(Difference(.backendRequest, "backend method changed \(a.method) -> \(b.method)", original: a.method, replayed: b.method))
        }
        if ob.path != rb.path {
            diffs.append(Difference(
                .backendRequest,
                "backend path changed \(RouteTemplate.collapsePath(ob.path)) -> \(RouteTemplate.collapsePath(rb.path))",
                original: String(ob.path), replayed: String(rb.path)))
        }
        let qa = Self.query(a.target), qb = Self.query(b.target)
        if qa != qb {
            diffs.append(Difference(.backendRequest, "backend query changed", original: qa.map(String.init), replayed: qb.map(String.init)))
        }
        let ha = a.headers.first("host"), hb = b.headers.first("host")
        if ha != hb {
            let na = ha.map { headers.origins.normalizeAuthority($0, tls: ob.exchange.connection.tls) }
            let nb = hb.map { headers.origins.normalizeAuthority($0, tls: rb.exchange.connection.tls) }
            if na != nb {
                diffs.append(Difference(
                    .backendRequest, "backend Host changed \(ha ?? "(none)") -> \(hb ?? "(none)")", original: ha, replayed: hb))
            }
        }
        var backHeaders = headers
        backHeaders.rules = rules.resolve(method: a.method, path: ob.path)
        backHeaders.compare(a.headers, b.headers, category: .backendRequest, prefix: "backend header", skip: ["host"], into: &diffs)
        if !ob.sameRawBody(as: rb, response: false) {
            compareBodies(ob.requestBody, rb.requestBody, rules: backHeaders.rules, category: .backendRequest, prefix: "backend body", into: &diffs)
        }
    }
}

/// Authorities already normalised against one version of the origin table (single-threaded use).
final class AuthorityMemo {
    var version = -1
    var plain: [String: String] = [:]
    var tls: [String: String] = [:]
}

/// A small mutable set of strings shared by copies of the comparator (single-threaded use).
final class HostSet {
    private var items: Set<String> = []
    /// The last host found: pairs come with the same few hosts, and comparing one String is
    /// cheaper than hashing it for the set at every pair.
    private var last: String?
    func contains(_ s: String) -> Bool {
        if let last, last == s { return true }
        guard items.contains(s) else { return false }
        last = s
        return true
    }
    func insert(_ s: String) { items.insert(s) }
    var count: Int { items.count }
}
