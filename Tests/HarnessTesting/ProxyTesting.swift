public import Foundation
public import HarnessCore
public import Proxy

/// A `RecordingProxy` on an ephemeral loopback port that records into memory (or a log file).
///
/// ```swift
/// let proxy = try await TestProxy.start(ProxyConfiguration(upstream: nginx.origin + "/"))
/// let r = try Curl.get(proxy.url("/index.html"))
/// try await proxy.stop()
/// let exchanges = proxy.sink.exchanges
/// ```
public final class TestProxy: @unchecked Sendable {
    public let proxy: RecordingProxy
    public let sink: MemorySink
    public let port: Int
    public let scheme: String

    private init(proxy: RecordingProxy, sink: MemorySink, port: Int, scheme: String) {
        self.proxy = proxy
        self.sink = sink
        self.port = port
        self.scheme = scheme
    }

    /// Starts a proxy recording into a `MemorySink` (or into `logPath` when given).
    public static func start(_ configuration: ProxyConfiguration, logPath: String? = nil) async throws -> TestProxy {
        let sink = MemorySink()
        let recorder: any ExchangeSink = try logPath.map { try LogWriter(path: $0, header: LogHeader(metadata: [Annotation("source", "record")])) } ?? sink
        let proxy = RecordingProxy(configuration: configuration, recorder: recorder)
        let port = try await proxy.start()
        return TestProxy(
            proxy: proxy, sink: sink, port: port, scheme: configuration.tlsCertificatePath == nil ? "http" : "https")
    }

    /// `http://127.0.0.1:PORT` + path.
    public func url(_ path: String) -> String { "\(scheme)://127.0.0.1:\(port)\(path)" }

    /// Shuts down: drains, flushes and closes the recording.
    public func stop() async throws { try await proxy.shutdown() }

    /// Recorded exchanges of one leg, in the order they were recorded.
    public func exchanges(_ leg: Leg) -> [Exchange] { sink.exchanges.filter { $0.leg == leg } }
}

/// Runs the real curl.
public enum Curl {
    /// Output of `curl -sS -o BODY -D HEADERS -w '%{http_code}'`.
    public struct Result: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: Data
        public var stderr: String
        public func header(_ name: String) -> String? {
            headers.last { $0.0.caseInsensitiveEquals(name) }?.1
        }
    }

    /// Fetches `url` with extra curl arguments; body and headers are captured.
    public static func fetch(_ url: String, _ arguments: [String] = [], timeout: Double = 60) throws -> Result {
        guard let curl = TestEnvironment.which("curl") else { throw TestServerError("curl is not installed") }
        let dir = TempDir("curl")
        let bodyPath = dir.file("body")
        let headerPath = dir.file("headers")
        let r = try Run.process(
            curl, ["-sS", "-o", bodyPath, "-D", headerPath, "-w", "%{http_code}"] + arguments + [url], timeout: timeout)
        let body = (try? Data(contentsOf: URL(fileURLWithPath: bodyPath))) ?? Data()
        let rawHeaders = (try? String(contentsOfFile: headerPath, encoding: .utf8)) ?? ""
        var headers: [(String, String)] = []
        for line in rawHeaders.split(separator: "\r\n") {
            if line.hasPrefix("HTTP/") {
                headers = []
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return Result(status: Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, headers: headers, body: body, stderr: r.stderr)
    }
}
