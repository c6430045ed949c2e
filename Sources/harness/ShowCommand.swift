import ArgumentParser

/// `harness show` (placeholder until its issue lands).
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Not implemented yet.")
    func run() async throws {
        printError("show is not implemented yet")
        throw ExitCode(2)
    }
}
