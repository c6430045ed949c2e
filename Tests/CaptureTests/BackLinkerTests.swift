import Capture
import HarnessCore
import Testing

/// The back-leg linker under concurrency: two front requests for the same path in flight at once
/// (a load burst on two keep-alive connections) must each get their own back exchange.
struct BackLinkerTests {
    let proxy = IPAddress(v4: 0x7f00_0001)

    @Test func concurrentSamePathRequestsAreLinkedOneToOneByHeaders() {
        var linker = BackLinker()
        linker.frontStarted(id: 1, start: 100, serverHost: proxy, target: "/app/index.html", headers: [HeaderField("X-Request-Id", "w1")])
        linker.frontStarted(id: 2, start: 110, serverHost: proxy, target: "/app/index.html", headers: [HeaderField("X-Request-Id", "w2")])
        // The back request for the older front arrives first: headers decide, not recency.
        let first = linker.link(
            start: 120, clientHost: proxy, target: "/app/index.html",
            headers: [HeaderField("X-Request-Id", "w1"), HeaderField("X-Forwarded-For", "127.0.0.1")])
        let second = linker.link(
            start: 130, clientHost: proxy, target: "/app/index.html", headers: [HeaderField("X-Request-Id", "w2")])
        #expect(first?.frontID == 1)
        #expect(second?.frontID == 2)
    }

    @Test func withoutDistinguishingHeadersEachFrontGetsOneBackExchange() {
        var linker = BackLinker()
        linker.frontStarted(id: 1, start: 100, serverHost: proxy, target: "/a")
        linker.frontStarted(id: 2, start: 110, serverHost: proxy, target: "/a")
        let first = linker.link(start: 120, clientHost: proxy, target: "/a")
        let second = linker.link(start: 130, clientHost: proxy, target: "/a")
        #expect(Set([first?.frontID, second?.frontID]) == [1, 2])
        #expect(first?.confidence == .low)
        // A third call (a retry) goes to one of them, it does not vanish.
        #expect(linker.link(start: 140, clientHost: proxy, target: "/a") != nil)
    }

    @Test func pathStillComesFirst() {
        var linker = BackLinker()
        linker.frontStarted(id: 1, start: 100, serverHost: proxy, target: "/app/a", headers: [HeaderField("Cookie", "s=1")])
        linker.frontStarted(id: 2, start: 110, serverHost: proxy, target: "/app/b", headers: [HeaderField("Accept", "*/*")])
        let link = linker.link(start: 120, clientHost: proxy, target: "/app/a", headers: [HeaderField("Accept", "*/*")])
        #expect(link?.frontID == 1)
        #expect(link?.confidence == .high)
    }
}
