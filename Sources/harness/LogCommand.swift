import ArgumentParser

/// `harness log ...`: inspect, check, convert recordings.
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Inspect, check and convert recordings.", subcommands: [])
}
