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
        // The port was free when picked, not when the server bound it: another test's server may
        // hold it now (or share it, with SO_REUSEPORT), and the connect above then reached that one.
        if let foreign = Self.foreignListeners(port: port, group: pid), !foreign.isEmpty {
            stop()
            throw HarnessError(
                .network, "\(name): port \(port) is also held by another process (socket inodes \(foreign)); pick another port")
        }
    }

    /// The inodes of the sockets listening on 127.0.0.1:`port` (or any address) that no process of
    /// process group `group` holds, from /proc; nil when /proc cannot be read.
    public static func foreignListeners(port: UInt16, group: pid_t) -> [String]? {
        guard let table = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) else { return nil }
        let portHex = String(format: "%04X", port)
        var listening: Set<String> = []
        for line in table.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            // sl local_address rem_address st ... inode (the tenth field); 0A is LISTEN.
            guard f.count > 9, f[3] == "0A" else { continue }
            let local = f[1].split(separator: ":")
            guard local.count == 2, local[1] == portHex, local[0] == "0100007F" || local[0] == "00000000" else { continue }
            listening.insert(String(f[9]))
        }
        guard !listening.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var ours: Set<String> = []
        for entry in entries {
            guard let p = pid_t(entry), getpgid(p) == group else { continue }
            let fdDir = "/proc/\(entry)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: fdDir)) ?? [] {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDir)/\(fd)"),
                    target.hasPrefix("socket:[")
                else { continue }
                ours.insert(String(target.dropFirst(8).dropLast()))
            }
        }
        return listening.subtracting(ours).sorted()
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
