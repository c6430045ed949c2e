import ArgumentParser

/// `harness record` (placeholder until its issue lands).
struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "record", abstract: "Not implemented yet.")
    func run() async throws {
        printError("record is not implemented yet")
        throw ExitCode(2)
    }
}
