import ArgumentParser
import Diff

/// `harness gate REPORT.json`: re-evaluates a report against gate thresholds.
struct GateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate", abstract: "Decide pass (0) or fail (1) from a diff report and thresholds.")

    @Argument(help: "A report written by diff or replay (--report).") var report: String
    @OptionGroup var gate: GateOptionGroup
    @OptionGroup var output: ReportOptionGroup

    func run() async throws {
        try await withExitCodes {
            let options = try gate.checked()
            try output.check()
            let r = Gate.apply(try DiffReport.load(path: report), options: options)
            try ReportWriter.write(r, to: output.outputs(json: nil))
            try output.finish(r)
        }
    }
}
