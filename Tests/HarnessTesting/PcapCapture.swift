public import Capture
public import HarnessCore

/// Runs capture over pcap files or builders in-process, collecting exchanges in memory.
public enum PcapCapture {
    /// Exchanges and the summary of capturing `path`.
    public static func run(
        file path: String, options: CaptureOptions = CaptureOptions(), filter: String? = nil
    ) throws -> (exchanges: [Exchange], summary: CaptureSummary) {
        let source = try PcapSource.open(file: path)
        if let filter { try source.setFilter(filter) }
        let sink = MemorySink()
        let engine = CaptureEngine(options: options, sink: sink)
        try CaptureRunner.run(source: source, engine: engine)
        return (sink.exchanges, engine.summary)
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
