import ArgumentParser
import HarnessCore

/// The `harness` command: record HTTP traffic, replay it against a staging proxy, diff and gate.
@main
struct Harness: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "harness",
        abstract: "Record real HTTP traffic, replay it against a staging reverse proxy, diff the answers, gate the release.",
        subcommands: [
            CaptureCommand.self, RecordCommand.self, ReplayCommand.self, DiffCommand.self, GateCommand.self,
            LogCommand.self, ShowCommand.self, ReportCommand.self, LearnCommand.self, DemoCommand.self,
        ]
    )

    /// As the argument parser's own entry point, except that a usage error (an unknown flag, a
    /// bad value, a failed validation) exits 2 as CONTRACT.md says, not the parser's 64.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                Console.error(fullMessage(for: error) + "\n")
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}
