import HarnessCore

/// Member choice for one route, shared by every event loop (guarded by `lock`).
///
/// Round robin over the members that are not hot standbys and not in their error window, a member
/// named by the sticky-session cookie first, the hot standby when nobody else can take the request
/// (mod_proxy_balancer `lbmethod=byrequests`, `status=+H`, `stickysession=`).
final class Balancer: @unchecked Sendable {
    let route: ProxyRoute
    private let retryNanos: UInt64
    private let lock = PosixLock()
    // Guarded by `lock`.
    private var next = 0
    // Guarded by `lock`: member index -> monotonic time until which it is left out.
    private var failedUntil: [Int: UInt64] = [:]

    /// Each member's parsed URL (nil when it does not parse), once rather than per request.
    let origins: [UpstreamOrigin?]
    /// The annotations the recording carries, built once: the front leg's route, each member's
    /// back leg's upstream (shared arrays, not an allocation per request).
    let routeAnnotations: [Annotation]
    let upstreamAnnotations: [[Annotation]]

    init(route: ProxyRoute, retrySeconds: Double) {
        self.route = route
        self.origins = route.upstreams.map { UpstreamOrigin(url: $0.url) }
        self.routeAnnotations = [Annotation("route", route.prefix)]
        self.upstreamAnnotations = origins.map { [Annotation("upstream", $0?.poolKey ?? "")] }
        self.retryNanos = UInt64(max(0, retrySeconds) * 1e9)
    }

    var isPool: Bool { route.upstreams.count > 1 }

    /// The member to try, or nil when none can take the request (503).
    func choose(stickyRoute: String?, excluding tried: MemberSet) -> Int? {
        let members = route.upstreams
        if members.count == 1 { return tried.contains(0) ? nil : 0 }
        let now = Clock.monotonicNanos()
        return lock.withLock {
            func usable(_ i: Int) -> Bool {
                !tried.contains(i) && (failedUntil[i].map { now >= $0 } ?? true)
            }
            if let stickyRoute, let i = members.indices.first(where: { members[$0].route == stickyRoute }), usable(i) {
                return i
            }
            let active = members.indices.filter { !members[$0].standby }
            for step in 0..<active.count {
                let i = active[(next + step) % active.count]
                if usable(i) {
                    next = (next + step + 1) % max(1, active.count)
                    return i
                }
            }
            return members.indices.first { members[$0].standby && usable($0) }
        }
    }

    func markFailed(_ member: Int) {
        guard isPool else { return }
        lock.withLock { failedUntil[member] = Clock.monotonicNanos() + retryNanos }
    }

    func markHealthy(_ member: Int) {
        guard isPool else { return }
        lock.withLock { _ = failedUntil.removeValue(forKey: member) }
    }

    /// The route named by the sticky cookie (`NAME=anything.route`), if the route has one.
    static func stickyRoute(cookieName: String?, headers: Headers) -> String? {
        guard let cookieName else { return nil }
        for line in headers.all("Cookie") {
            for pair in line.split(separator: ";") {
                let p = pair.trimmingSpaces()
                guard let eq = p.firstIndex(of: "="), p[..<eq] == cookieName else { continue }
                let value = p[p.index(after: eq)...]
                if let dot = value.firstIndex(of: ".") { return String(value[value.index(after: dot)...]) }
                return String(value)
            }
        }
        return nil
    }
}

/// Balancer member indices already tried for one request: a bit mask for the first 64 members
/// (a `Set<Int>` allocated its storage on every request's first insert), a set beyond.
struct MemberSet: ExpressibleByArrayLiteral {
    private var low: UInt64 = 0
    private var high: Set<Int> = []

    init() {}
    init(arrayLiteral elements: Int...) { for i in elements { insert(i) } }

    func contains(_ i: Int) -> Bool {
        if i >= 0 && i < 64 { return low & (1 << UInt64(i)) != 0 }
        return high.contains(i)
    }

    mutating func insert(_ i: Int) {
        if i >= 0 && i < 64 { low |= 1 << UInt64(i) } else { high.insert(i) }
    }

    mutating func remove(_ i: Int) {
        if i >= 0 && i < 64 { low &= ~(1 << UInt64(i)) } else { high.remove(i) }
    }
}
