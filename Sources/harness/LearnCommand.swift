import Foundation
import ArgumentParser
import Diff
import HarnessCore

/// `harness learn FIRST SECOND -o RULES`: learns noise from two runs against an unchanged config.
struct LearnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learn",
        abstract: "Write a rules file that ignores what differs between two A/A runs.",
        discussion: "FIRST and SECOND are two replay results of the same recording against the unchanged configuration, or the recording and one such replay. Status, Location, error and backend-match differences are never learned.")

    @Argument(help: "A replay result (or the original recording).") var first: String
    @Argument(help: "Another replay result of the same recording.") var second: String
    @Option(name: .shortAndLong, help: "The rules file to write (- for stdout).") var output: String = "-"
    @Option(name: .customLong("min-count"), help: "A difference must occur in at least N exchanges to count as noise.")
    var minCount: Int = 1
    @Option(name: .customLong("min-share"), help: "...and in at least this percent of compared exchanges.")
    var minShare: Double = 0

    func run() async throws {
        try await withExitCodes {
            let yaml = try NoiseLearner(minCount: max(1, minCount), minShare: minShare / 100).learn(first: first, second: second)
            if output == "-" {
                Console.out(yaml)
            } else if !FileManager.default.createFile(atPath: output, contents: Data(yaml.utf8)) {
                throw HarnessError(.io, "cannot write the rules file", path: output)
            }
        }
    }
}
