import ArgumentParser

/// `harness capture` (placeholder until its issue lands).
struct CaptureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "capture", abstract: "Not implemented yet.")
    func run() async throws {
        printError("capture is not implemented yet")
        throw ExitCode(2)
    }
}
