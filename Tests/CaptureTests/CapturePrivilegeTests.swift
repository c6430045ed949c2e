import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// `capture --user`: a live capture started as root runs as the named user once the device is
/// open, and still records; `--stats` reports exchanges flushed to the file while idle.
@Suite(.serialized) struct CapturePrivilegeTests {
    /// The `Uid:` line of /proc/PID/status: real, effective, saved, filesystem.
    func uids(_ pid: Int32) -> [String] {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return [] }
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().map(String.init)
    }

    @Test func liveCaptureAsRootDropsToTheUserAndStillRecords() throws {
        guard TestEnvironment.isRoot, let nginx = TestEnvironment.tool("nginx"), let curl = TestEnvironment.tool("curl")
        else { return }
        let nobody = try #require(getpwnam("nobody")).pointee.pw_uid
        let port = freeLoopbackPort()
        let server = try PcapNginx(nginx: nginx, servers: "server { listen 127.0.0.1:\(port); location / { return 200 \"hi\\n\"; } }", ports: [port])
        let dir = TempDir("cap-user")
        chmod(dir.path, 0o755)
        let out = dir.file("live.hlog")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnvironment.harnessExecutable)
        p.arguments = ["capture", "-i", "lo", "-o", out, "--user", "nobody", "--stats", "0.1", "--front-port", "\(port)", "tcp", "port", "\(port)"]
        let err = Pipe()
        p.standardError = err
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        var seen = Data()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && !String(decoding: seen, as: UTF8.self).contains("capturing on") {
            seen.append(err.fileHandleForReading.availableData)
        }
        #expect(uids(p.processIdentifier) == Array(repeating: String(nobody), count: 4), "the capture runs as nobody")
        for i in 0..<3 { try Run.process(curl, ["-s", "-o", "/dev/null", "http://127.0.0.1:\(port)/user\(i)"]) }
        // While idle, the last block is flushed and reported (a kill -9 now would lose nothing).
        let flushedBy = Date().addingTimeInterval(10)
        while Date() < flushedBy && !String(decoding: seen, as: UTF8.self).contains("flushed=3") {
            seen.append(err.fileHandleForReading.availableData)
        }
        #expect(String(decoding: seen, as: UTF8.self).contains("flushed=3"), "\(String(decoding: seen, as: UTF8.self))")
        kill(p.processIdentifier, SIGINT)
        let stopBy = Date().addingTimeInterval(10)
        while p.isRunning && Date() < stopBy { usleep(20_000) }
        p.waitUntilExit()
        _ = server
        #expect(p.terminationStatus == 0)
        let log = try LogFile.readAll(out)
        #expect(log.exchanges.map(\.request.target) == (0..<3).map { "/user\($0)" })
        let owner = (try FileManager.default.attributesOfItem(atPath: out)[.ownerAccountID] as? NSNumber)?.uint32Value
        #expect(owner == nobody, "the log is handed to the user")
    }

    @Test func unknownUserIsExitTwo() throws {
        guard TestEnvironment.isRoot else { return }
        let dir = TempDir("cap-user")
        let r = try Run.harness(["capture", "-i", "lo", "-o", dir.file("x.hlog"), "--user", "no-such-user-4711", "--duration", "1"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("no-such-user-4711"), "\(r.stderr)")
    }
}
