import ArgumentParser
import Foundation
import Capture
import HarnessCore

/// `harness capture`: HTTP/1.x exchanges off the wire (libpcap) into a recording log.
struct CaptureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Capture HTTP/1.x exchanges from a pcap/pcapng file or a live interface into a recording log.",
        discussion: """
            Reads packets with libpcap (-r FILE, '-' for stdin; or -i IFACE live, which needs root or \
            CAP_NET_RAW), reassembles TCP, frames HTTP/1.0 and 1.1 in both directions and writes one \
            exchange per request/response pair. Trailing arguments are a BPF filter, as tcpdump takes it.
            """)

    @Option(name: [.customShort("r"), .customLong("read")], help: "A pcap or pcapng file to read ('-' reads stdin).")
    var file: String?

    @Option(name: [.customShort("i"), .customLong("interface")], help: "An interface to capture live ('any' for all).")
    var interface: String?

    @Option(name: .shortAndLong, help: "The recording log to write (required for live capture; default: FILE.hlog).")
    var output: String?

    @Option(name: .customLong("front-port"), help: "A server port of the client-facing leg (repeatable).")
    var frontPorts: [UInt16] = []

    @Option(name: .customLong("back-port"), help: "A server port of the proxy-to-backend leg (repeatable).")
    var backPorts: [UInt16] = []

    @Option(help: "Stop a live capture after this many seconds.")
    var duration: Double?

    @Option(help: "Stop after this many packets.")
    var count: Int?

    @Option(help: "Bytes kept of each packet in a live capture.")
    var snaplen: Int32 = 262_144

    @Option(name: .customLong("buffer-size"), help: "libpcap's kernel buffer in bytes (live capture).")
    var bufferSize: Int32?

    @Option(name: .customLong("max-body"), help: "Body bytes kept per message; the rest is counted and digested.")
    var maxBody: Int = 1 << 20

    @Option(name: .customLong("max-connections"), help: "Connections tracked at once before the least active are evicted.")
    var maxConnections: Int = 100_000

    @Option(name: .customLong("idle-timeout"), help: "Seconds of silence (packet time) before a connection is closed.")
    var idleTimeout: Double = 300

    @OptionGroup(title: "Redaction")
    var redaction: RedactionOptions

    @Option(help: "After opening the device (and creating the log), run as this user instead of root (live capture).")
    var user: String?

    @Option(help: "Print a progress line (packets, exchanges, flushed) every this many seconds (live capture).")
    var stats: Double?

    @Flag(name: .customLong("quiet"), help: "Do not print the summary.")
    var quiet = false

    @Flag(name: .customLong("print"), help: "Also print one line per exchange to stdout (tab-separated).")
    var printExchanges = false

    @Argument(parsing: .captureForPassthrough, help: "A BPF filter expression (tcpdump syntax).")
    var filter: [String] = []

    func validate() throws {
        // The filter takes the rest of the line verbatim, so `--help` lands there: honour it.
        if let first = filter.first, first == "--help" || first == "-h" || first == "-help" {
            throw CleanExit.helpRequest(self)
        }
        if (file == nil) == (interface == nil) {
            throw ValidationError("Give exactly one of -r FILE (read a capture) or -i IFACE (capture live).")
        }
        if interface != nil && output == nil { throw ValidationError("Live capture needs -o OUT (the log to write).") }
        if file != nil && duration != nil { throw ValidationError("--duration applies to live capture (-i) only.") }
        if let count, count <= 0 { throw ValidationError("--count must be positive.") }
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive.") }
        if maxBody < 0 { throw ValidationError("--max-body must not be negative.") }
        if maxConnections < 1 { throw ValidationError("--max-connections must be at least 1.") }
        if user != nil && interface == nil { throw ValidationError("--user applies to live capture (-i) only.") }
        if let stats, stats <= 0 { throw ValidationError("--stats takes a positive number of seconds.") }
    }

    func run() async throws {
        try await withExitCodes {
            try capture()
        }
    }

    /// After each packet or idle poll: write a block that is due (an idle live capture must not
    /// hold exchanges back), and with `--stats` print a progress line. `flushed` counts exchanges
    /// whose blocks reached the file, so a kill -9 after the line cannot lose them.
    private func progress(_ writer: LogWriter, _ engine: CaptureEngine) -> () throws -> Void {
        let interval = stats.map { UInt64($0 * 1e9) }
        var next = Clock.monotonicNanos() + (interval ?? 0)
        return {
            try writer.flushIfDue()
            guard let interval, Clock.monotonicNanos() >= next else { return }
            next = Clock.monotonicNanos() + interval
            let s = engine.summary
            Console.error("harness: packets=\(s.packets) exchanges=\(writer.appended) flushed=\(writer.flushed)\n")
        }
    }

    private func capture() throws {
        let source: PcapSource
        if let file {
            source = try PcapSource.open(file: file)
        } else {
            source = try PcapSource.open(interface: interface ?? "any", snaplen: snaplen, bufferSize: bufferSize)
        }
        let expression = filter.joined(separator: " ")
        if !expression.isEmpty { try source.setFilter(expression) }
        let outPath = output ?? (file.map { $0 == "-" ? "capture.hlog" : $0 + ".hlog" } ?? "capture.hlog")
        var header = LogHeader()
        header["source"] = "capture"
        header[source.isLive ? "interface" : "pcap"] = source.name
        header["link_type"] = source.dataLinkName
        if !expression.isEmpty { header["filter"] = expression }
        if !frontPorts.isEmpty { header["front_ports"] = frontPorts.map(String.init).joined(separator: ",") }
        if !backPorts.isEmpty { header["back_ports"] = backPorts.map(String.init).joined(separator: ",") }
        let redactor = try redaction.makeRedactor()
        if let redactor { header["redacted"] = redactor.headerDescription }
        let writer = try LogWriter(path: outPath, header: header, options: LogWriterOptions(background: true))
        if let user { try PrivilegeDrop.become(user, handingOver: [outPath]) }
        let options = CaptureOptions(
            frontPorts: Set(frontPorts), backPorts: Set(backPorts), maxBody: maxBody, maxConnections: maxConnections,
            idleTimeoutMicros: Int64(idleTimeout * 1_000_000))
        let sink: any ExchangeSink = printExchanges ? PrintingSink(next: writer) : writer
        let engine = CaptureEngine(options: options, sink: sink, transform: redactor?.transform)
        if source.isLive { StopRequest.installSignalHandlers() }
        if source.isLive { Console.error("harness: capturing on \(source.name) (\(source.dataLinkName)); Ctrl-C stops\n") }
        let limits = CaptureLimits(durationMicros: duration.map { Int64($0 * 1_000_000) }, packetCount: count)
        var failure: (any Error)?
        do {
            try CaptureRunner.run(source: source, engine: engine, limits: limits, tick: progress(writer, engine))
        } catch {
            failure = error
        }
        try writer.close()
        if !quiet {
            var text = engine.summary.paragraph
            if source.isLive, let c = source.counters() {
                text += " libpcap: \(c.received) received, \(c.droppedByKernel) dropped by the kernel, "
                    + "\(c.droppedByInterface) dropped by the interface."
            }
            text += " Wrote \(outPath)."
            Console.error(text + "\n")
        }
        if let failure { throw failure }
    }
}

/// Prints `id conn seq leg method target status flags` per exchange, then hands it on.
final class PrintingSink: ExchangeSink {
    let next: any ExchangeSink
    init(next: any ExchangeSink) { self.next = next }

    func append(_ e: Exchange) throws {
        var flags: [String] = []
        if !e.isComplete { flags.append("incomplete") }
        if e.flags.gapBytes > 0 { flags.append("gap=\(e.flags.gapBytes)") }
        if e.flags.midStream { flags.append("midstream") }
        if let p = e.flags.parseError { flags.append("parse-error@\(p.offset):\(p.message)") }
        if let l = e.link { flags.append("link=\(l.frontID)/\(l.confidence)") }
        let status = e.response.map { String($0.status) } ?? "-"
        Console.out(
            "\(e.id)\t\(e.connection.id)\t\(e.sequence)\t\(e.leg)\t\(e.connection.tupleDescription)\t"
                + "\(e.request.method)\t\(e.request.target)\t\(status)\t\(flags.joined(separator: ","))\n")
        try next.append(e)
    }

    func close() throws { try next.close() }
}
