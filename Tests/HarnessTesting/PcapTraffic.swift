import Foundation
public import HarnessCore

/// Real traffic on loopback for capture tests: a tcpdump recording, an nginx started from a temp
/// config, and tshark's view of a pcap to compare with.
public final class PcapRecorder: @unchecked Sendable {
    public let path: String
    private let process: Process
    private let stderr = Pipe()

    /// Starts `tcpdump -i IFACE -w path FILTER` and waits until it listens.
    public init(tcpdump: String, interface: String = "lo", path: String, filter: String, extra: [String] = []) throws {
        self.path = path
        process = Process()
        // Test runners start children with signals blocked: exec tcpdump with an empty mask so
        // SIGINT stops it (and it finishes the file).
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [
            "-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
            // --immediate-mode: without it packets wait in the kernel ring up to tcpdump's 1 s block
            // timeout, longer than stop()'s settle check, and the last exchanges went missing when
            // the machine was loaded.
            tcpdump, "-i", interface, "-s", "0", "-B", "131072", "-U", "--immediate-mode", "-w", path,
        ] + extra + [filter]
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        var seen = Data()
        while Date() < deadline {
            seen.append(stderr.fileHandleForReading.availableData)
            if String(decoding: seen, as: UTF8.self).contains("listening on") { break }
            usleep(20_000)
        }
        usleep(interface == "any" ? 1_000_000 : 200_000)
    }

    /// Stops tcpdump (SIGINT) and waits until the file is complete.
    public func stop() {
        // tcpdump drops what it has not read yet when interrupted: wait until the file stops growing.
        var lastSize: UInt64 = 0
        var stable = 0
        let settle = Date().addingTimeInterval(15)
        while stable < 6 && Date() < settle {
            usleep(100_000)
            let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
            if size == lastSize && size > 24 { stable += 1 } else { stable = 0 }
            lastSize = size
        }
        if process.isRunning { kill(process.processIdentifier, SIGINT) }
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { if process.isRunning { process.terminate() } }
}

/// nginx on 127.0.0.1 (and ::1) from a temp config; stopped on deinit.
public final class PcapNginx: @unchecked Sendable {
    public let dir: TempDir
    private let process: Process

    /// `servers` is the text of the `server { }` blocks; `$ROOT` in it becomes the document root.
    public init(nginx: String, servers: String, ports: [UInt16]) throws {
        dir = TempDir("nginx")
        let root = dir.file("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("tmp"), withIntermediateDirectories: true)
        let conf = """
            worker_processes 1;
            daemon off;
            error_log \(dir.file("error.log"));
            pid \(dir.file("nginx.pid"));
            events { worker_connections 256; }
            http {
              access_log off;
              client_body_temp_path \(dir.file("tmp")); proxy_temp_path \(dir.file("tmp"));
              fastcgi_temp_path \(dir.file("tmp")); uwsgi_temp_path \(dir.file("tmp")); scgi_temp_path \(dir.file("tmp"));
              default_type text/plain;
              \(servers.replacingOccurrences(of: "$ROOT", with: root))
            }
            """
        try conf.write(toFile: dir.file("nginx.conf"), atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: nginx)
        process.arguments = ["-p", dir.path, "-c", dir.file("nginx.conf")]
        process.standardError = FileHandle.nullDevice
        try process.run()
        for port in ports { PcapNginx.waitForPort(port) }
    }

    public var root: String { dir.file("root") }

    /// Waits until something accepts on 127.0.0.1:port.
    public static func waitForPort(_ port: UInt16, timeout: Double = 10) {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let r = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if r == 0 { return }
            usleep(50_000)
        }
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGQUIT)
            process.waitUntilExit()
        }
    }
}

/// Requests and response statuses per connection, keyed `clientport->serverport`, in order.
public struct PcapConversationView: Equatable, CustomStringConvertible, Sendable {
    public var requests: [String: [String]] = [:]
    public var statuses: [String: [UInt16]] = [:]
    public init() {}
    public var description: String {
        requests.keys.sorted().map { "\($0): \(requests[$0]!) -> \(statuses[$0] ?? [])" }.joined(separator: "\n")
    }

    /// Our exchanges, grouped the same way (final statuses only, as tshark lists them without 1xx).
    public init(exchanges: [Exchange]) {
        for e in exchanges where !e.request.method.isEmpty {
            let key = "\(e.connection.client.port)->\(e.connection.server.port)"
            requests[key, default: []].append("\(e.request.method) \(e.request.target)")
            if let r = e.response { statuses[key, default: []].append(r.status) }
        }
    }

    /// tshark's HTTP dissector on `file`, with `ports` decoded as HTTP.
    public static func tshark(_ tshark: String, file: String, httpPorts: [UInt16]) throws -> PcapConversationView {
        var args = ["-r", file, "-Y", "http", "-T", "fields", "-E", "separator=/t", "-o", "tcp.desegment_tcp_streams:TRUE",
                    "-o", "tcp.reassemble_out_of_order:TRUE"]
        for p in httpPorts { args += ["-d", "tcp.port==\(p),http"] }
        args += ["-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "http.request.method", "-e", "http.request.uri",
                 "-e", "http.response.code"]
        let result = try Run.process(tshark, args, timeout: 120)
        var view = PcapConversationView()
        for line in result.stdout.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 5 else { continue }
            // Several messages in one frame come comma-separated.
            let methods = f[2].split(separator: ",").map(String.init)
            let uris = f[3].split(separator: ",").map(String.init)
            let codes = f[4].split(separator: ",").compactMap { UInt16($0) }
            if !methods.isEmpty {
                let key = "\(f[0])->\(f[1])"
                for (i, m) in methods.enumerated() { view.requests[key, default: []].append("\(m) \(i < uris.count ? uris[i] : "")") }
            }
            for c in codes where c >= 200 || c == 101 {
                view.statuses["\(f[1])->\(f[0])", default: []].append(c)
            }
        }
        return view
    }
}
