import CHarnessSupport
import Foundation
import HarnessCore
#if canImport(Glibc)
import Glibc
#endif

/// `capture --user NAME`: after libpcap has opened (activated) the device and the log exists,
/// a capture started as root gives root up for good and runs as NAME (like `tcpdump -Z`).
enum PrivilegeDrop {
    /// Hands `paths` to the user (so they can read what they recorded), drops supplementary
    /// groups, then sets the group and user ids and checks root cannot be regained.
    static func become(_ name: String, handingOver paths: [String]) throws {
        guard let entry = getpwnam(name) else {
            throw HarnessError(.usage, "--user \(name): no such user")
        }
        let uid = entry.pointee.pw_uid
        let gid = entry.pointee.pw_gid
        if geteuid() != 0 {
            if getuid() == uid && geteuid() == uid { return }
            throw HarnessError(.usage, "--user \(name) needs the capture to start as root (running as uid \(geteuid()))")
        }
        for path in paths where path != "-" {
            guard chown(path, uid, gid) == 0 else {
                throw HarnessError(.io, "cannot hand the log to \(name): \(String(cString: strerror(errno)))", path: path)
            }
        }
        guard setgroups(0, nil) == 0, setgid(gid) == 0, setuid(uid) == 0 else {
            throw HarnessError(.io, "cannot switch to user \(name): \(String(cString: strerror(errno)))")
        }
        // glibc skips threads it considers exiting (the main thread libdispatch parks): each
        // thread still holding other credentials changes its own.
        for (tid, ids) in threadUIDs() where ids.contains(where: { $0 != uid }) {
            guard harness_drop_thread_credentials(tid, uid, gid) == 0 else {
                throw HarnessError(.io, "cannot switch thread \(tid) to user \(name)")
            }
        }
        let remaining = threadUIDs().filter { $0.uids.contains(where: { $0 != uid }) }
        guard remaining.isEmpty, getuid() == uid, geteuid() == uid, getgid() == gid, uid == 0 || setuid(0) != 0 else {
            throw HarnessError(.io, "switched to user \(name) but root privileges remain (threads \(remaining.map(\.tid)))")
        }
    }

    /// Every thread of this process and its real, effective, saved and filesystem uids.
    static func threadUIDs() -> [(tid: Int32, uids: [UInt32])] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { name in
            guard let tid = Int32(name),
                let status = try? String(contentsOfFile: "/proc/self/task/\(name)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") })
            else { return nil }
            return (tid, line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().compactMap { UInt32($0) })
        }
    }
}
