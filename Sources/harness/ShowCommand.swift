import ArgumentParser
import Diff
import HarnessCore

/// `harness show RESULT ID`: one pair, original and replayed side by side, with its differences.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print one replayed exchange and its original side by side.")

    @Argument(help: "The replay result log.") var result: String
    @Argument(help: "Exchange id: in the result log, or the original id it replays.") var id: UInt64
    @Option(name: .customLong("original"), help: "The original recording (default: the result header's 'recording').")
    var original: String?
    @Option(name: .customLong("rules"), help: "YAML rules file.") var rules: String?
    @Option(name: .customLong("width"), help: "Columns for the side-by-side view.") var width: Int = 160
    @Option(name: .customLong("color"), help: "auto, always or never.") var color: String = "auto"

    func run() async throws {
        try await withExitCodes {
            let colour = color == "always" || (color == "auto" && Console.isTerminal(1))
            Console.out(try PairShow.render(
                resultPath: result, id: id, originalPath: original, rulesPath: rules, width: max(width, 60), colour: colour))
        }
    }
}
