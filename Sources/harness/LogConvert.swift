import ArgumentParser
import HarnessCore

/// Formats a recording can be converted to and from.
enum ExchangeFileFormat: String, ExpressibleByArgument, CaseIterable {
    case har, gor, jsonl
}

/// `harness log export FILE --format har|gor|jsonl -o OUT`.
struct LogExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Convert a recording to HAR, GoReplay or JSONL.")

    @Argument(help: "The recording log.") var file: String
    @Option(help: "har, gor (GoReplay; gzip when OUT ends .gz) or jsonl.") var format: ExchangeFileFormat
    @Option(name: .shortAndLong, help: "Output file (- for stdout).") var output: String

    func run() async throws {
        try await withExitCodes {
            let reader = try LogReader(path: file)
            var count = 0
            switch format {
            case .har:
                let w = try HARExporter(path: output)
                try reader.forEach { try w.append($0); count += 1 }
                try w.close()
            case .gor:
                let w = try GoReplayFormat.Writer(path: output)
                try reader.forEach { try w.append($0); count += 1 }
                try w.close()
            case .jsonl:
                let out = try OutputStream(path: output)
                try reader.forEach { try out.write(ExchangeJSON.line($0, bodies: true) + "\n"); count += 1 }
                try out.close()
            }
            if let damage = reader.damage { printError("warning: \(file): \(damage); exported the \(count) exchanges before it") }
            if output != "-" { printError("exported \(count) exchanges to \(output) (\(format.rawValue))") }
        }
    }
}

/// `harness log import FILE --format har|gor -o OUT`.
struct LogImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Convert a HAR or GoReplay file into a recording.")

    @Argument(help: "The HAR or GoReplay file (.gz is read transparently).") var file: String
    @Option(help: "har or gor.") var format: ExchangeFileFormat
    @Option(name: .shortAndLong, help: "The recording log to write.") var output: String

    func run() async throws {
        try await withExitCodes {
            var header = LogHeader()
            header["source"] = "import"
            header["imported_from"] = "\(format.rawValue):\(file)"
            var count = 0
            let writer = try LogWriter(path: output, header: header)
            do {
                switch format {
                case .har:
                    try HARImporter.forEach(path: file) { e in
                        try writer.append(e)
                        count += 1
                    }
                case .gor:
                    let r = try GoReplayFormat.Reader(path: file)
                    while let e = try r.next() { try writer.append(e); count += 1 }
                case .jsonl:
                    throw HarnessError(.usage, "import reads har or gor; a jsonl export is for people and other tools")
                }
            } catch {
                try writer.close()
                throw error
            }
            try writer.close()
            printError("imported \(count) exchanges into \(output)")
        }
    }
}
