import ArgumentParser
import HarnessCore

/// `harness log check FILE`: validate every block; exit 2 when the file is damaged.
struct LogCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check a recording: valid records and the offset of the first bad byte.")

    @Argument(help: "The recording log.") var file: String

    func run() async throws {
        try await withExitCodes {
            let reader = try LogReader(path: file)
            try reader.forEach { _ in }
            if let damage = reader.damage {
                Console.out("\(file): DAMAGED: \(reader.exchangesRead) valid exchanges in \(reader.blocksRead) blocks; first bad byte at offset \(damage.offset) (\(damage.reason))\n")
                throw ExitCode(2)
            }
            Console.out("\(file): OK: \(reader.exchangesRead) exchanges in \(reader.blocksRead) blocks, \(reader.offset) bytes\n")
        }
    }
}
