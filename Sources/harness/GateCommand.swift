import ArgumentParser

/// `harness gate` (placeholder until its issue lands).
struct GateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gate", abstract: "Not implemented yet.")
    func run() async throws {
        printError("gate is not implemented yet")
        throw ExitCode(2)
    }
}
