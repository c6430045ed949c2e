public import Foundation
import Testing

/// A real nginx started from a temporary config on an ephemeral loopback port, stopped by `stop()`
/// (or when released).
///
/// `root` is served as static files; `extraServerConfig` goes inside the `server { }` block (extra
/// `location`s, `return`s), `extraHTTPConfig` inside `http { }` (upstreams). The temp directory holds
/// the config, pid, logs and nginx's temp paths.
public final class NginxServer: @unchecked Sendable {
    public let port: UInt16
    /// Listening with `ssl` (give `ssl_certificate` lines in `extraServerConfig`).
    public let tls: Bool
    public let directory: TempDir
    public let root: String
    private let process: Process

    /// Nil (after `TestEnvironment.tool` printed or recorded why) when nginx is not installed.
    public init?(
        root: String? = nil, extraServerConfig: String = "", extraHTTPConfig: String = "", workers: Int = 1,
        port: UInt16? = nil, listenOptions: String = ""
    ) throws {
        guard let nginx = TestEnvironment.tool("nginx") else { return nil }
        tls = listenOptions.contains("ssl")
        directory = TempDir("nginx")
        self.root = root ?? directory.file("html")
        try FileManager.default.createDirectory(atPath: self.root, withIntermediateDirectories: true)
        for d in ["logs", "tmp"] {
            try FileManager.default.createDirectory(atPath: directory.file(d), withIntermediateDirectories: true)
        }
        chmod(directory.path, 0o755)
        self.port = port ?? freeLoopbackPort()
        let d = directory.path
        let user = TestEnvironment.isRoot ? "user root;" : ""
        let config = """
            \(user)
            worker_processes \(workers);
            daemon off;
            pid \(d)/nginx.pid;
            error_log \(d)/logs/error.log warn;
            events { worker_connections 4096; }
            http {
                access_log off;
                client_body_temp_path \(d)/tmp/body;
                proxy_temp_path \(d)/tmp/proxy;
                fastcgi_temp_path \(d)/tmp/fastcgi;
                uwsgi_temp_path \(d)/tmp/uwsgi;
                scgi_temp_path \(d)/tmp/scgi;
                client_max_body_size 0;
                keepalive_requests 100000;
                default_type application/octet-stream;
                \(extraHTTPConfig)
                server {
                    listen 127.0.0.1:\(self.port) \(listenOptions);
                    server_name localhost;
                    root \(self.root);
                    \(extraServerConfig)
                }
            }
            """
        try config.write(toFile: directory.file("nginx.conf"), atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: nginx)
        process.arguments = ["-p", d, "-c", directory.file("nginx.conf"), "-e", "\(d)/logs/error.log"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard waitForLoopbackPort(self.port, timeout: 10) else {
            let log = (try? String(contentsOfFile: directory.file("logs/error.log"), encoding: .utf8)) ?? ""
            stop()
            throw TestServerError("nginx did not start on port \(self.port): \(log)")
        }
    }

    /// `http://127.0.0.1:PORT` (`https://` when listening with `ssl`).
    public var origin: String { "\(tls ? "https" : "http")://127.0.0.1:\(port)" }

    /// Writes a file under the static root (directories created).
    public func writeFile(_ relative: String, _ data: Data) throws {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit { stop() }
}

/// A real Apache httpd (Debian's `apache2`) started from a temporary config on an ephemeral
/// loopback port. `extraConfig` goes at the end of the main config (proxy directives,
/// `<Location>`s); `modules` are extra module names to load (e.g. `proxy`, `proxy_http`, `ssl`).
///
/// Apache is started with `-k start` (it daemonizes; under Foundation's `Process` a foreground
/// Apache's parent process exits early) and stopped through its pid file.
public final class ApacheServer: @unchecked Sendable {
    public let port: UInt16
    public let directory: TempDir
    public let root: String
    private let executable: String
    private var stopped = false

    public static let moduleDirectory = "/usr/lib/apache2/modules"
    public static let baseModules = [
        "mpm_event", "authz_core", "mime", "dir", "alias", "rewrite", "headers", "env", "setenvif",
    ]

    public init?(root: String? = nil, extraConfig: String = "", modules: [String] = [], port: UInt16? = nil) throws {
        guard let apache = TestEnvironment.tool("apache2") ?? TestEnvironment.which("httpd") else { return nil }
        executable = apache
        directory = TempDir("apache")
        self.root = root ?? directory.file("htdocs")
        try FileManager.default.createDirectory(atPath: self.root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.file("logs"), withIntermediateDirectories: true)
        chmod(directory.path, 0o755)
        self.port = port ?? freeLoopbackPort()
        let d = directory.path
        var seen = Set<String>()
        let load = (Self.baseModules + modules).filter { seen.insert($0).inserted }.map {
            "LoadModule \($0)_module \(Self.moduleDirectory)/mod_\($0).so"
        }.joined(separator: "\n")
        let user = TestEnvironment.isRoot ? "User daemon\nGroup daemon" : ""
        let config = """
            ServerRoot \(d)
            DefaultRuntimeDir \(d)
            PidFile \(d)/httpd.pid
            Mutex file:\(d) default
            \(load)
            \(user)
            Listen 127.0.0.1:\(self.port)
            ServerName localhost
            ErrorLog \(d)/logs/error.log
            LogLevel warn
            TypesConfig /etc/mime.types
            KeepAlive On
            MaxKeepAliveRequests 0
            DocumentRoot \(self.root)
            <Directory \(self.root)>
                Require all granted
            </Directory>
            \(extraConfig)
            """
        try config.write(toFile: directory.file("httpd.conf"), atomically: true, encoding: .utf8)
        // Not `Run.process`: the daemon would keep its output pipes open forever.
        let launcher = Process()
        launcher.executableURL = URL(fileURLWithPath: apache)
        launcher.arguments = ["-f", directory.file("httpd.conf"), "-k", "start"]
        launcher.standardInput = FileHandle.nullDevice
        launcher.standardOutput = FileHandle.nullDevice
        launcher.standardError = FileHandle.nullDevice
        try launcher.run()
        guard waitForLoopbackPort(self.port, timeout: 10) else {
            let log = (try? String(contentsOfFile: directory.file("logs/error.log"), encoding: .utf8)) ?? ""
            stop()
            throw TestServerError("apache2 did not start on port \(self.port): \(log)")
        }
    }

    public var origin: String { "http://127.0.0.1:\(port)" }

    public func writeFile(_ relative: String, _ data: Data) throws {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// SIGTERM to the process group in the pid file, then SIGKILL after at most a second.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        let text = (try? String(contentsOfFile: directory.file("httpd.pid"), encoding: .utf8)) ?? ""
        let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        // The daemon leads its own process group. SIGTERM may be blocked (the test process's
        // dispatch threads block signals and children inherit the mask), so SIGKILL follows.
        if pid > 0 { kill(-pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(1)
        while pid > 0 && kill(pid, 0) == 0 && Date() < deadline { usleep(20_000) }
        if pid > 0 {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
        // Children that left the group (or were forked meanwhile): every process started with
        // this config file, until none is left.
        for _ in 0..<20 {
            if killProcesses(commandLineContaining: directory.file("httpd.conf")) == 0 { break }
            usleep(50_000)
        }
    }

    deinit { stop() }
}

/// A test server that would not start, with its log.
public struct TestServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Polls until something accepts TCP connections on 127.0.0.1:`port`.
public func waitForLoopbackPort(_ port: UInt16, timeout: Double) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        close(fd)
        if ok { return true }
        usleep(20_000)
    }
    return false
}

/// SIGKILL to every process whose command line contains `text` (a unique temp path).
@discardableResult
public func killProcesses(commandLineContaining text: String) -> Int {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return 0 }
    var killed = 0
    for e in entries {
        guard let pid = pid_t(e), pid != getpid(),
            let data = FileManager.default.contents(atPath: "/proc/\(e)/cmdline")
        else { continue }
        let cmd = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        if cmd.contains(text) && kill(pid, SIGKILL) == 0 { killed += 1 }
    }
    return killed
}

/// Open file descriptors of this process (for leak checks).
public func openFileDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// How many of this process's descriptors are TCP sockets with `ports` at either end: a leak
/// check that other suites running in parallel in the same process cannot disturb.
public func openSocketCount(ports: Set<UInt16>) -> Int {
    var inodes = Set<String>()
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 9 else { continue }
            let local = f[1].split(separator: ":").last.flatMap { UInt16($0, radix: 16) }
            let remote = f[2].split(separator: ":").last.flatMap { UInt16($0, radix: 16) }
            if let local, ports.contains(local) { inodes.insert(String(f[9])) }
            if let remote, ports.contains(remote) { inodes.insert(String(f[9])) }
        }
    }
    var count = 0
    for fd in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
        guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + fd),
            link.hasPrefix("socket:[")
        else { continue }
        if inodes.contains(String(link.dropFirst(8).dropLast())) { count += 1 }
    }
    return count
}
