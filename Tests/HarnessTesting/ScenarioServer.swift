public import Foundation
import HarnessCore

/// A server process (apache2 -DFOREGROUND, haproxy -db, `harness record`, `harness capture`) started
/// as the leader of its own process group with its output discarded, stopped with its group.
public final class ScenarioServer: @unchecked Sendable {
    public let name: String
    /// The loopback port it listens on (0 when it does not listen, e.g. a capture).
    public let port: UInt16
    public let pid: pid_t
    private var stopped = false

    /// Starts `executable` (stdout and stderr appended to `output`) and, when `port` is non-zero,
    /// waits until it accepts connections there. `log` is read into the error when it does not come up.
    public init(
        name: String, executable: String, arguments: [String], port: UInt16, output: String = "/dev/null", log: String? = nil
    ) throws {
        self.name = name
        self.port = port
        pid = try spawnInOwnGroup(executable, arguments, output: output)
        guard port != 0 else { return }
        if !waitForLoopbackPort(port, timeout: 15) {
            let text = log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
            stop()
            throw HarnessError(.network, "\(name) did not start on port \(port): \(text.suffix(800))")
        }
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// Sends `signal` to the leader only (a graceful stop the program handles itself), waits up to
    /// `timeout` seconds for it to exit, then stops the group.
    public func finish(signal: Int32, timeout: Double = 15) {
        guard !stopped else { return }
        kill(pid, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || r < 0 { break }
            usleep(20_000)
        }
        stop()
    }

    /// Stops the process group (SIGTERM, SIGKILL after 3 s).
    public func stop() {
        guard !stopped else { return }
        stopped = true
        stopProcessGroup(pid)
    }

    deinit { stop() }
}

/// SIGTERM to the process group `pid` leads, waits up to 3 s for the leader and every member to
/// go, then SIGKILL to the group; reaps the leader.
func stopProcessGroup(_ pid: pid_t) {
    kill(-pid, SIGTERM)
    let deadline = Date().addingTimeInterval(3)
    while Date() < deadline {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        // Gone (or reaped by someone else) and no member left in the group.
        if (r == pid || r < 0) && kill(-pid, 0) != 0 { return }
        usleep(20_000)
    }
    kill(-pid, SIGKILL)
    var status: Int32 = 0
    _ = waitpid(pid, &status, WNOHANG)
}
