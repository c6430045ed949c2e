import ArgumentParser

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
}
