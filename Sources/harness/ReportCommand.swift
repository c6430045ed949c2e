import ArgumentParser

/// `harness report` (placeholder until its issue lands).
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Not implemented yet.")
    func run() async throws {
        printError("report is not implemented yet")
        throw ExitCode(2)
    }
}
