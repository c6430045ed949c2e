import ArgumentParser

/// `harness diff` (placeholder until its issue lands).
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "diff", abstract: "Not implemented yet.")
    func run() async throws {
        printError("diff is not implemented yet")
        throw ExitCode(2)
    }
}
