import HarnessCore
import Testing

@testable import Proxy

@Suite struct ProxyPassMappingTests {
    func map(_ prefix: String, _ url: String, _ target: String) -> String? {
        let routes = [ProxyRoute(prefix: prefix, upstream: url)]
        let path = Request(method: "GET", target: target).path
        guard let (_, matched) = ProxyPassMapping.route(for: path, in: routes, matching: .longestPrefix),
            let origin = UpstreamOrigin(url: url)
        else { return nil }
        return ProxyPassMapping.upstreamTarget(
            memberPath: origin.path, path: path, matched: matched, query: Request(method: "GET", target: target).query)
    }

    @Test func trailingSlashesMatchedMapLikeProxyPass() {
        #expect(map("/app/", "http://b/x/", "/app/foo") == "/x/foo")
        #expect(map("/app/", "http://b/x/", "/app/foo?a=1&b") == "/x/foo?a=1&b")
        #expect(map("/", "http://b:8080/", "/index.html") == "/index.html")
        #expect(map("/app", "http://b/x", "/app/foo") == "/x/foo")
    }

    @Test func trailingSlashMismatchGivesDoubleSlashOrGluedPath() {
        // ProxyPass /app http://b/x/  ->  /x//foo (the classic pitfall)
        #expect(map("/app", "http://b/x/", "/app/foo") == "/x//foo")
        // ProxyPass /app/ http://b/x  ->  /xfoo
        #expect(map("/app/", "http://b/x", "/app/foo") == "/xfoo")
        // ProxyPass / http://b (no path): the result is not an origin-form target.
        #expect(map("/", "http://b", "/foo") == nil)
    }

    @Test func aliasMatchFollowsModProxy() {
        #expect(ProxyPassMapping.aliasMatch(path: "/app", alias: "/app") == 4)
        #expect(ProxyPassMapping.aliasMatch(path: "/apple", alias: "/app") == nil)
        #expect(ProxyPassMapping.aliasMatch(path: "/app", alias: "/app/") == nil)
        #expect(ProxyPassMapping.aliasMatch(path: "/app//foo", alias: "/app/") == 6)
        #expect(ProxyPassMapping.aliasMatch(path: "/", alias: "/") == 1)
    }

    @Test func longestPrefixOrFirstMatch() {
        let routes = [ProxyRoute(prefix: "/", upstream: "http://a/"), ProxyRoute(prefix: "/api/", upstream: "http://b/")]
        #expect(ProxyPassMapping.route(for: "/api/x", in: routes, matching: .longestPrefix)?.index == 1)
        #expect(ProxyPassMapping.route(for: "/api/x", in: routes, matching: .configurationOrder)?.index == 0)
        #expect(ProxyPassMapping.route(for: "/other", in: routes, matching: .longestPrefix)?.index == 0)
    }

    @Test func reverseRewriteLikeProxyPassReverse() {
        let routes = [ProxyRoute(prefix: "/app/", upstream: "http://10.0.0.5:8080/x/")]
        #expect(
            ProxyPassMapping.reverseMap(
                "http://10.0.0.5:8080/x/login?next=1", routes: routes, frontScheme: "https", frontHost: "www.example.com")
                == "https://www.example.com/app/login?next=1")
        #expect(
            ProxyPassMapping.reverseMap("http://other/x/login", routes: routes, frontScheme: "http", frontHost: "h") == nil)
        // Mismatched slashes glue the path: ProxyPassReverse /app http://b/x/ maps .../x/login to /applogin.
        let glued = [ProxyRoute(prefix: "/app", upstream: "http://b/x/")]
        #expect(ProxyPassMapping.reverseMap("http://b/x/login", routes: glued, frontScheme: "http", frontHost: "h") == "http://h/applogin")
        var headers: Headers = [HeaderField("location", "http://10.0.0.5:8080/x/a"), HeaderField("Content-Location", "http://10.0.0.5:8080/x/b")]
        ProxyPassMapping.reverseRewrite(&headers, routes: routes, frontScheme: "http", frontHost: "f:81")
        #expect(headers.map(\.value) == ["http://f:81/app/a", "http://f:81/app/b"])
    }

    @Test func forwardedHeadersAreAppendedLikeModProxyHTTP() {
        var headers: Headers = [
            HeaderField("Host", "www.example.com"), HeaderField("X-Forwarded-For", "1.1.1.1"),
            HeaderField("X-Forwarded-For", "2.2.2.2"),
        ]
        ProxyPassMapping.addForwarded(&headers, client: "127.0.0.1", originalHost: "www.example.com", serverName: "proxy1")
        #expect(headers.all("X-Forwarded-For") == ["1.1.1.1, 2.2.2.2, 127.0.0.1"])
        #expect(headers.first("X-Forwarded-Host") == "www.example.com")
        #expect(headers.first("X-Forwarded-Server") == "proxy1")
    }

    @Test func hopByHopHeadersAreRemoved() {
        var headers: Headers = [
            HeaderField("Connection", "keep-alive, X-Secret"), HeaderField("Keep-Alive", "timeout=5"),
            HeaderField("X-Secret", "1"), HeaderField("Accept", "*/*"), HeaderField("TE", "trailers"),
        ]
        ProxyPassMapping.stripHopByHop(&headers)
        #expect(headers == [HeaderField("Accept", "*/*")])

        // Names in any case, tokens with tabs and empty items, several Connection fields.
        var mixed: Headers = [
            HeaderField("CONNECTION", "\tUpgrade ,, x-one"), HeaderField("connection", "X-Two"),
            HeaderField("Upgrade", "websocket"), HeaderField("X-ONE", "1"), HeaderField("x-two", "2"),
            HeaderField("Transfer-Encoding", "chunked"), HeaderField("Proxy-Connection", "keep-alive"),
            HeaderField("X-Three", "3"),
        ]
        var kept = mixed
        ProxyPassMapping.stripHopByHop(&mixed)
        #expect(mixed == [HeaderField("X-Three", "3")])
        ProxyPassMapping.stripHopByHop(&kept, keepUpgrade: true)
        #expect(kept == [HeaderField("Upgrade", "websocket"), HeaderField("X-Three", "3")])

        // Nothing hop-by-hop: the list is left alone.
        var plain: Headers = [HeaderField("Host", "h"), HeaderField("Tee", "x"), HeaderField("Trailers", "y")]
        let before = plain
        ProxyPassMapping.stripHopByHop(&plain)
        #expect(plain == before)
    }

    @Test func setHeadersReplaceAndRemove() {
        var headers: Headers = [HeaderField("Server", "nginx"), HeaderField("X-A", "1"), HeaderField("x-a", "2")]
        ProxyPassMapping.apply([HeaderField("X-A", "3"), HeaderField("Server", "")], to: &headers)
        #expect(headers == [HeaderField("X-A", "3")])
    }

    @Test func routeAndMemberParsing() throws {
        let r = try ProxyRoute(parsing: "/app/=http://127.0.0.1:1/x/#route=1,https://h:2/#standby")
        #expect(r.prefix == "/app/")
        #expect(r.upstreams == [ProxyUpstream("http://127.0.0.1:1/x/", route: "1"), ProxyUpstream("https://h:2/", standby: true)])
        #expect(throws: ProxyConfigurationError.self) { try ProxyRoute(parsing: "app=http://x/") }
        #expect(throws: ProxyConfigurationError.self) { try ProxyRoute(parsing: "/=ftp://x/") }
        #expect(UpstreamOrigin(url: "http://[::1]:8080/p")?.hostHeader == "[::1]:8080")
        #expect(UpstreamOrigin(url: "https://h/")?.port == 443)
    }

    /// `--upstream http://host:port` (a bare origin) means the origin's root; a path is kept as
    /// given, and `--route` keeps mod_proxy's exact trailing-slash mapping.
    @Test func upstreamBareOriginMeansItsRoot() throws {
        let bare = try ProxyRoute(upstreamParsing: "http://127.0.0.1:8080")
        #expect(bare.prefix == "/" && bare.upstreams == [ProxyUpstream("http://127.0.0.1:8080/")])
        #expect(ProxyPassMapping.upstreamTarget(memberPath: "/", path: "/x/y", matched: 1, query: "a=1") == "/x/y?a=1")
        let pool = try ProxyRoute(upstreamParsing: "http://a:1#route=r1,https://b:2/base#standby,http://[::1]:3")
        #expect(pool.upstreams == [
            ProxyUpstream("http://a:1/", route: "r1"), ProxyUpstream("https://b:2/base", standby: true), ProxyUpstream("http://[::1]:3/"),
        ])
        #expect(ProxyConfiguration(upstream: "http://h:9").routes[0].upstreams[0].url == "http://h:9/")
        #expect(try ProxyRoute(parsing: "/=http://127.0.0.1:8080").upstreams[0].url == "http://127.0.0.1:8080")
        #expect(throws: ProxyConfigurationError.self) { try ProxyRoute(upstreamParsing: "ftp://x") }
    }

    @Test func balancerRoundRobinStandbyAndSticky() {
        let route = ProxyRoute(
            prefix: "/",
            upstreams: [ProxyUpstream("http://a/", route: "1"), ProxyUpstream("http://b/", route: "2"), ProxyUpstream("http://c/", standby: true)],
            stickyCookie: "ROUTEID")
        let b = Balancer(route: route, retrySeconds: 60)
        let picks = (0..<4).compactMap { _ in b.choose(stickyRoute: nil, excluding: []) }
        #expect(picks == [0, 1, 0, 1])
        #expect(b.choose(stickyRoute: "2", excluding: []) == 1)
        b.markFailed(0)
        b.markFailed(1)
        #expect(b.choose(stickyRoute: nil, excluding: []) == 2)
        #expect(b.choose(stickyRoute: nil, excluding: [2]) == nil)
        #expect(Balancer.stickyRoute(cookieName: "ROUTEID", headers: [HeaderField("Cookie", "a=b; ROUTEID=.2")]) == "2")
    }

    @Test func memberSetHoldsSmallAndLargeIndices() {
        var s: MemberSet = [0, 63]
        s.insert(64)
        s.insert(1000)
        for i in [0, 63, 64, 1000] { #expect(s.contains(i)) }
        for i in [1, 62, 65, 999, -1] { #expect(!s.contains(i)) }
        s.remove(63)
        s.remove(1000)
        #expect(!s.contains(63) && !s.contains(1000) && s.contains(0) && s.contains(64))
    }
}
