import ArgumentParser
import HarnessCore

/// `harness log cat FILE [--format text|jsonl]`: one line per exchange.
struct LogCat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cat", abstract: "Print the exchanges of a recording.")

    enum Format: String, ExpressibleByArgument { case text, jsonl }

    @Argument(help: "The recording log (- for stdin).") var file: String
    @Option(help: "text or jsonl.") var format: Format = .text
    @Flag(help: "Include bodies (jsonl).") var bodies = false
    @Flag(help: "Keep reading as the file grows (like tail -f).") var follow = false

    func run() async throws {
        try await withExitCodes {
            let reader = try LogReader(path: file, follow: follow)
            let out = try OutputStream(path: "-")
            try reader.forEach { e in
                switch format {
                case .jsonl: try out.write(ExchangeJSON.line(e, bodies: bodies) + "\n")
                case .text: try out.write(LogCat.textLine(e) + "\n")
                }
            }
            try out.close()
            if let damage = reader.damage {
                printError("warning: \(file): \(damage); \(reader.exchangesRead) exchanges before it were printed")
            }
        }
    }

    static func textLine(_ e: Exchange) -> String {
        var s = "#\(e.id) \(e.leg) \(e.connection.tupleDescription) \(e.request.method) \(e.request.target)"
        if let r = e.response {
            s += " -> \(r.status) \(r.reason) (\(r.bodyLength) bytes)"
        } else {
            s += " -> (no response)"
        }
        if let l = e.timing.latency { s += " \(Double(l) / 1000) ms" }
        if let link = e.link { s += " link=#\(link.frontID)/\(link.confidence)" }
        if let r = e.replayOf { s += " replay-of=#\(r)" }
        if let err = e.error { s += " error=\(err)" }
        if e.flags.incomplete { s += " [incomplete]" }
        if e.flags.gapBytes > 0 { s += " [gap \(e.flags.gapBytes)]" }
        if let p = e.flags.parseError { s += " [parse error at \(p.offset): \(p.message)]" }
        return s
    }
}
