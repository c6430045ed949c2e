import ArgumentParser

/// `harness demo` (placeholder until its issue lands).
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Not implemented yet.")
    func run() async throws {
        printError("demo is not implemented yet")
        throw ExitCode(2)
    }
}
