public import Capture
public import HarnessCore

/// Runs capture over pcap files or builders in-process, collecting exchanges in memory.
public enum PcapCapture {
    /// Exchanges and the summary of capturing `path`.
    ///
    /// Every capture also runs a second time into a log (the log writer encodes the engine's parts,
    /// never building an `Exchange`), and that log must read back as the first run's exchanges: a
    /// capture test checks the log's encoding of what it captured as well.
    public static func run(
        file path: String, options: CaptureOptions = CaptureOptions(), filter: String? = nil
    ) throws -> (exchanges: [Exchange], summary: CaptureSummary) {
        let sink = MemorySink()
        let summary = try capture(file: path, options: options, filter: filter, into: sink)
        let dir = TempDir("pcap-log")
        let log = dir.file("capture.hlog")
        let writer = try LogWriter(path: log, options: LogWriterOptions(background: true))
        _ = try capture(file: path, options: options, filter: filter, into: writer)
        try writer.close()
        let (_, logged, damage) = try LogFile.readAll(log)
        guard damage == nil, logged == sink.exchanges else {
            throw HarnessError(
                .io, "the capture's log does not read back as its exchanges (\(logged.count) logged, "
                    + "\(sink.exchanges.count) captured, damage: \(damage.map { "\($0)" } ?? "none"))", path: path)
        }
        return (sink.exchanges, summary)
    }

    private static func capture(
        file path: String, options: CaptureOptions, filter: String?, into sink: any ExchangeSink
    ) throws -> CaptureSummary {
        let source = try PcapSource.open(file: path)
        if let filter { try source.setFilter(filter) }
        let engine = CaptureEngine(options: options, sink: sink)
        try CaptureRunner.run(source: source, engine: engine)
        return engine.summary
    }

    /// Writes `builder` to a temporary file and captures it.
    public static func run(
        _ builder: PcapBuilder, options: CaptureOptions = CaptureOptions()
    ) throws -> (exchanges: [Exchange], summary: CaptureSummary) {
        let dir = TempDir("pcap")
        let path = dir.file("test.pcap")
        try builder.write(to: path)
        return try run(file: path, options: options)
    }
}
