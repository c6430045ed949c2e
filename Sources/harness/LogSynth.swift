import ArgumentParser
import HarnessCore

/// `harness log synth --count N -o OUT`: deterministic synthetic proxy traffic (both legs).
struct LogSynth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth", abstract: "Write a deterministic synthetic recording (front and back legs) for benchmarks and trials.")

    @Option(help: "Front exchanges to generate (each with its back exchange).") var count: Int = 1000
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "Block codec: zstd or none.") var codec: String = "zstd"
    @Flag(help: "Front leg only.") var frontOnly = false
    @Flag(help: "Make every static-asset body unique (worst case for body dedup).") var uniqueBodies = false
    @Option(
        help: ArgumentHelp(
            "Spread the front requests round-robin over N long keep-alive connections (as a load generator's N connections), instead of a new connection every 1-12 requests.",
            valueName: "N")) var connections: Int?
    @Option(name: .shortAndLong, help: "The recording log to write.") var output: String

    func run() async throws {
        try await withExitCodes {
            guard let c = LogFormat.Codec.named(codec) else { throw HarnessError(.usage, "--codec takes zstd or none") }
            if let n = connections, n < 1 { throw HarnessError(.usage, "--connections takes a count of at least 1") }
            var header = LogHeader()
            header["source"] = "synthetic"
            header["original_host"] = "www.example.com"
            let writer = try LogWriter(path: output, header: header, options: LogWriterOptions(codec: c))
            var gen = SyntheticTraffic(seed: seed, uniqueBodies: uniqueBodies)
            for i in 0..<max(0, count) {
                let (front, b) = gen.next()
                var f = front
                if let n = connections {
                    // Connection k (1-based) carries requests k-1, k-1+n, k-1+2n, ... in that order.
                    let k = i % n + 1
                    f.connection.id = UInt64(k)
                    f.connection.client = Endpoint(host: "198.51.100.\(1 + k % 250)", port: UInt16(20000 + k % 40000))
                    f.sequence = UInt32(i / n)
                }
                try writer.append(f)
                if !frontOnly { try writer.append(b) }
            }
            try writer.close()
        }
    }
}

/// `harness log copy IN OUT`: rewrite a recording (change the codec; keep the readable prefix of a damaged one).
struct LogCopy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy", abstract: "Rewrite a recording: change its block codec, or salvage the readable prefix of a damaged one.")

    @Argument(help: "The recording to read.") var input: String
    @Argument(help: "The recording to write.") var output: String
    @Option(help: "Block codec: zstd or none.") var codec: String = "zstd"

    func run() async throws {
        try await withExitCodes {
            guard let c = LogFormat.Codec.named(codec) else { throw HarnessError(.usage, "--codec takes zstd or none") }
            let reader = try LogReader(path: input)
            let writer = try LogWriter(path: output, header: reader.header, options: LogWriterOptions(codec: c))
            try reader.forEach { try writer.append($0) }
            try writer.close()
            if let d = reader.damage {
                printError("warning: \(input): \(d); copied the \(reader.exchangesRead) exchanges before it")
            }
        }
    }
}
