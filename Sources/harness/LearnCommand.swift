import ArgumentParser

/// `harness learn` (placeholder until its issue lands).
struct LearnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "learn", abstract: "Not implemented yet.")
    func run() async throws {
        printError("learn is not implemented yet")
        throw ExitCode(2)
    }
}
