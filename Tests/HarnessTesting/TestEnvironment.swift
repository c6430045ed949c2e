public import Foundation

public import Testing

/// Where the tests run and what they may rely on.
///
/// A test that needs a real server or tool (nginx, apache2, tcpdump, tshark, curl, wrk) calls
/// `TestEnvironment.tool(_:)`. Locally a missing tool skips the test with a printed reason; in CI
/// (`CI` or `HARNESS_CI` set) it records a failure, so CI never goes green without the real peers.
public enum TestEnvironment {
    /// True when running under CI.
    public static var isCI: Bool {
        let env = ProcessInfo.processInfo.environment
        return !(env["CI"] ?? "").isEmpty || !(env["HARNESS_CI"] ?? "").isEmpty
    }

    /// The absolute path of an executable on PATH, /usr/sbin or /sbin.
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/local/sbin"] {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The tool's path; nil (after printing why, or failing the test in CI) when it is missing.
    public static func tool(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        if let found = which(name) { return found }
        if isCI {
            Issue.record("required tool '\(name)' is not installed (run scripts/install-deps)", sourceLocation: sourceLocation)
        } else {
            print("SKIP: '\(name)' not found; run scripts/install-deps to enable this test")
        }
        return nil
    }

    /// True when the process may open raw sockets / capture devices.
    public static var isRoot: Bool { geteuid() == 0 }

    /// The sanitizer the tests run under (`scripts/sanitize` sets `HARNESS_SANITIZER`), or nil.
    /// Tests that assert a load level scale it down under a sanitizer (TSan runs code 5-15x slower).
    public static var sanitizer: String? {
        guard let s = ProcessInfo.processInfo.environment["HARNESS_SANITIZER"], !s.isEmpty else { return nil }
        return s
    }

    /// The built `harness` executable, next to the test bundle.
    public static var harnessExecutable: String {
        // scripts/sanitize points here at the harness built with the sanitizer (its own scratch path).
        if let path = ProcessInfo.processInfo.environment["HARNESS_EXECUTABLE"], !path.isEmpty { return path }
        let bundle = Bundle.main.bundleURL.deletingLastPathComponent().path
        for candidate in [bundle + "/harness", FileManager.default.currentDirectoryPath + "/.build/debug/harness"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return bundle + "/harness"
    }

    /// The repository root (for `recordings/` and `../shared`).
    public static var repositoryRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }
}

/// A temporary directory removed when the value is released.
public final class TempDir: @unchecked Sendable {
    public let path: String
    public init(_ prefix: String = "harness-test") {
        let base = FileManager.default.temporaryDirectory.path
        let p = base + "/\(prefix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        path = p
    }
    /// A path inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs a process to completion and returns its exit status, stdout and stderr.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum Run {
    /// Runs `executable` with `arguments`, waiting at most `timeout` seconds (then SIGKILL).
    @discardableResult
    public static func process(
        _ executable: String, _ arguments: [String], stdin: Data? = nil, timeout: Double = 120,
        environment: [String: String]? = nil
    ) throws -> ProcessResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let outPipe = Pipe()
        let errPipe = Pipe()
        let inPipe = Pipe()
        p.standardOutput = outPipe
        p.standardError = errPipe
        p.standardInput = inPipe
        try p.run()
        // Each pipe is drained by a thread of its own with blocking reads. Not `readabilityHandler`:
        // its dispatch source is cancelled asynchronously, and the pipe's descriptor could be
        // closed (and its number reused) while libdispatch's epoll still held it, which crashed
        // the test process in `_dispatch_event_loop_drain` (seen once in CI; the known libdispatch
        // race of swiftlang/swift-subprocess#47).
        let out = PipeDrain(outPipe.fileHandleForReading)
        let err = PipeDrain(errPipe.fileHandleForReading)
        if let stdin { inPipe.fileHandleForWriting.write(stdin) }
        try? inPipe.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        // A daemon the child left behind may hold the pipes open: take what came by then.
        let drained = Date().addingTimeInterval(10)
        return ProcessResult(
            status: p.terminationStatus, stdout: String(decoding: out.data(waitingUntil: drained), as: UTF8.self),
            stderr: String(decoding: err.data(waitingUntil: drained), as: UTF8.self))
    }

    /// Runs the built `harness` with `arguments`.
    @discardableResult
    public static func harness(_ arguments: [String], stdin: Data? = nil, timeout: Double = 300) throws -> ProcessResult {
        try process(TestEnvironment.harnessExecutable, arguments, stdin: stdin, timeout: timeout)
    }
}

/// Reads a pipe to its end on a thread of its own (plain `read(2)`, no dispatch source). The
/// thread holds the file handle, so the descriptor stays open until the thread is done with it.
final class PipeDrain: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var storage = Data()
    private var ended = false

    init(_ handle: FileHandle) {
        Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                condition.lock()
                storage.append(contentsOf: buffer[0..<n])
                condition.unlock()
            }
            condition.lock()
            ended = true
            condition.broadcast()
            condition.unlock()
            withExtendedLifetime(handle) {}
        }.start()
    }

    /// What was read once the pipe ended, or by `deadline`.
    func data(waitingUntil deadline: Date) -> Data {
        condition.lock()
        defer { condition.unlock() }
        while !ended && condition.wait(until: deadline) {}
        return storage
    }
}

/// A free TCP port on 127.0.0.1 (bind to port 0, read it back, close).
public func freeLoopbackPort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return UInt16(bigEndian: addr.sin_port)
}

/// A TCP socket listening on 127.0.0.1 on an ephemeral port (SO_REUSEADDR), for hand-made test
/// servers; the caller owns (and closes) the descriptor.
public func listenOnLoopback(backlog: Int32 = 16) throws -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, len) == 0 && listen(fd, backlog) == 0 && getsockname(fd, $0, &len) == 0
        }
    }
    guard ok else {
        close(fd)
        throw TestServerError("cannot listen on 127.0.0.1")
    }
    return (fd, UInt16(bigEndian: addr.sin_port))
}
