import ArgumentParser

/// `harness log ...`: inspect, check and convert recordings.
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Inspect, check and convert recordings.",
        subcommands: [LogStats.self, LogCat.self, LogCheck.self, LogExport.self, LogImport.self, LogCopy.self, LogSynth.self, LogLink.self])
}
