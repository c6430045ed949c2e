import ArgumentParser

/// `harness replay` (placeholder until its issue lands).
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replay", abstract: "Not implemented yet.")
    func run() async throws {
        printError("replay is not implemented yet")
        throw ExitCode(2)
    }
}
