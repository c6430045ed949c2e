import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// `harness record` as a separate process: SIGTERM drains and closes the log, kill -9 under load
/// leaves a log whose valid prefix reads back.
@Suite(.serialized) struct ProxyRecordCommandTests {
    func startRecord(_ arguments: [String], port: UInt16) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnvironment.harnessExecutable)
        p.arguments = ["record", "--listen", "127.0.0.1:\(port)"] + arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        guard waitForLoopbackPort(port, timeout: 10) else {
            kill(p.processIdentifier, SIGKILL)
            throw TestServerError("harness record did not listen on \(port)")
        }
        return p
    }

    func waitGone(_ p: Process, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        return !p.isRunning
    }

    @Test func sigtermDrainsFlushesAndRedacts() async throws {
        guard let nginx = try NginxServer(extraServerConfig: "location / { return 200 'ok'; }") else { return }
        let dir = TempDir("record")
        let log = dir.file("out.hlog")
        let port = freeLoopbackPort()
        let p = try startRecord(["--upstream", nginx.origin + "/", "-o", log, "--redact-header", "Authorization"], port: port)
        for _ in 0..<3 {
            let r = try Curl.fetch("http://127.0.0.1:\(port)/a", ["-H", "Authorization: Bearer secret-token"])
            #expect(r.status == 200)
        }
        kill(p.processIdentifier, SIGTERM)
        #expect(waitGone(p, timeout: 15))
        let (header, exchanges, damage) = try LogFile.readAll(log)
        #expect(damage == nil)
        #expect(header["source"] == "record")
        #expect(exchanges.count == 6)
        #expect(exchanges.filter { $0.leg == .front }.count == 3)
        for e in exchanges {
            let auth = try #require(e.request.headers.first("Authorization"))
            #expect(auth.hasPrefix("Bearer redacted:") || auth.hasPrefix(Redactor.marker))
            #expect(!auth.contains("secret-token"))
            #expect(e.flags.redacted)
        }
        // Equal secrets stay equal.
        #expect(Set(exchanges.compactMap { $0.request.headers.first("Authorization") }).count == 1)
    }

    @Test func killNineUnderLoadLeavesAReadablePrefix() async throws {
        guard let nginx = try NginxServer(extraServerConfig: "location / { return 200 'payload'; }"),
            let wrk = TestEnvironment.tool("wrk")
        else { return }
        let dir = TempDir("record")
        let log = dir.file("out.hlog")
        let port = freeLoopbackPort()
        let p = try startRecord(["--upstream", nginx.origin + "/", "-o", log], port: port)
        let load = Process()
        load.executableURL = URL(fileURLWithPath: wrk)
        load.arguments = ["-t1", "-c10", "-d4s", "http://127.0.0.1:\(port)/"]
        load.standardOutput = FileHandle.nullDevice
        load.standardError = FileHandle.nullDevice
        try load.run()
        try await Task.sleep(nanoseconds: 2_500_000_000)
        kill(p.processIdentifier, SIGKILL)
        #expect(waitGone(p, timeout: 5))
        kill(load.processIdentifier, SIGKILL)
        let reader = try LogReader(path: log)
        var count = 0
        var fronts = 0
        while let e = try reader.next() {
            count += 1
            if e.leg == .front { fronts += 1 }
            // Every record read back is whole: a 200, or (when the loaded upstream refused or reset
            // an attempt) an exchange that carries its error. The point is a readable prefix.
            #expect(e.response?.status == 200 || e.error != nil,
                    "#\(e.id) \(e.leg) status \(String(describing: e.response?.status)) error \(e.error ?? "none") \(e.annotations)")
        }
        #expect(count > 100)
        #expect(fronts > 50)
    }
}
