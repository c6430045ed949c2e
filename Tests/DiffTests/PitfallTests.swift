import Foundation
import Diff
import HarnessCore
import HarnessTesting
import Testing

/// The seeds' mod_proxy pitfalls, each as a replay that must show the regression.
@Suite struct PitfallTests {
    @Test func missingProxyPassReverseLeaksBackendOriginInLocation() throws {
        let b = DiffFixtureBuilder()
        b.add(Pitfall.rewrittenRedirect)  // healthy: front origin maps to the target
        let id = b.add(Pitfall.missingProxyPassReverse)
        let r = try diffReport(b)
        #expect(r.compared == 2)
        #expect(r.signatures("location") == ["Location origin http://10.0.0.5:8080 leaked"])
        #expect(r.categories["location"] == 1)
        #expect(r.differing == 1)
        #expect(r.groups.first { $0.category == "location" }?.examples == [id])
        #expect(r.groups.first?.route == "GET /app/items/{id}")
        #expect(!Gate.evaluate(r, options: GateOptions()).passed)
    }

    @Test func trailingSlashMismatchIsUnmatchedBackendAndStatusChange() throws {
        let b = DiffFixtureBuilder()
        b.add()
        b.add(Pitfall.trailingSlash)
        let r = try diffReport(b)
        #expect(r.signatures("backend_unmatched") == ["backend unmatched GET /store//items/{id} (double slash)"])
        #expect(r.signatures("status") == ["status 200 -> 502"])
        #expect(r.signatures("backend_missing") == ["backend call GET /store/items/{id} missing"])
        #expect(r.differing == 1)
        #expect(r.combinations["status,backend_unmatched,backend_missing"] == 1)
    }

    @Test func proxyPreserveHostOffChangesBackendHost() throws {
        let b = DiffFixtureBuilder()
        b.add()
        b.add(Pitfall.preserveHostOff)
        let r = try diffReport(b)
        #expect(r.signatures("backend_request") == ["backend Host changed www.example.com -> 127.0.0.1:9000"])
        #expect(r.differing == 0)  // backend_request does not gate by default
        #expect(Gate.evaluate(r, options: GateOptions(failOn: ["backend_request"])).passed == false)
    }

    @Test func sslProxyEngineMissingGives500AndNoBackendCall() throws {
        let b = DiffFixtureBuilder()
        b.add()
        b.add(Pitfall.sslProxyEngineMissing)
        let r = try diffReport(b)
        #expect(r.signatures("status") == ["status 200 -> 500"])
        #expect(r.signatures("backend_missing") == ["backend call GET /store/items/{id} missing"])
        #expect(r.signatures("header").isEmpty)  // a status change subsumes header/body differences
    }

    @Test func forwardedHeadersLostAndAdded() throws {
        let b = DiffFixtureBuilder()
        b.add(Pitfall.forwardedForLost)
        b.add(Pitfall.forwardedProtoAdded)
        let r = try diffReport(b)
        #expect(Set(r.signatures("backend_request")) == ["backend header X-Forwarded-For removed", "backend header X-Forwarded-Proto added"])
    }

    @Test func securityHeadersDropped() throws {
        let b = DiffFixtureBuilder()
        b.add(Pitfall.securityHeadersDropped)
        b.add(Pitfall.securityHeadersDropped)
        let r = try diffReport(b)
        #expect(Set(r.signatures("header")) == ["header X-Frame-Options removed", "header Strict-Transport-Security removed"])
        #expect(r.groups.allSatisfy { $0.count == 2 && $0.share == 1.0 })
        #expect(r.groups.first?.example?.differences.count == 2)
    }

    @Test func backendDownGives503() throws {
        let b = DiffFixtureBuilder()
        b.add(Pitfall.backendDown)
        let r = try diffReport(b)
        #expect(r.signatures("status") == ["status 200 -> 503"])
        #expect(r.categories["backend_missing"] == 1)
    }

    @Test func refusedConnectionIsAnError() throws {
        let b = DiffFixtureBuilder()
        b.add(Pitfall.refused)
        let r = try diffReport(b)
        #expect(r.allSignatures == ["error: error refused"])
        #expect(r.differing == 1)
    }

    @Test func aaReplayShowsNoDifferenceAtAll() throws {
        let b = DiffFixtureBuilder()
        for i in 0..<50 { b.add(path: "/app/items/\(i)") }
        b.add(Pitfall.rewrittenRedirect)
        b.add(path: "/app/login", status: 200, contentType: "text/html", body: "<html>login</html>")
        let r = try diffReport(b)
        #expect(r.exchanges == 52)
        #expect(r.compared == 52)
        #expect(r.groups.isEmpty, "A/A differences: \(r.allSignatures)")
        #expect(r.differing == 0)
        #expect(Gate.evaluate(r, options: GateOptions()).passed)
        #expect(r.latency?.original.count == 52)
    }
}
