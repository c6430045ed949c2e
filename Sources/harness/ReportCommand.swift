import ArgumentParser
import Diff
import HarnessCore

/// `harness report merge|render`: combine sharded reports, or render one in other formats.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Merge sharded diff reports or render a report as JUnit, HTML or Markdown.",
        subcommands: [Merge.self, Render.self])

    struct Merge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "merge", abstract: "Merge reports of sharded replays into one (exit 1 when the merged gate fails).")
        @Argument(help: "Reports to merge.") var reports: [String]
        @Option(name: .shortAndLong, help: "The merged JSON report (- for stdout).") var output: String
        @OptionGroup var gate: GateOptionGroup
        @OptionGroup var outputs: ReportOptionGroup

        func validate() throws {
            if reports.isEmpty { throw ValidationError("give at least one report to merge") }
        }

        func run() async throws {
            try await withExitCodes {
                let options = try gate.checked()
                try outputs.check()
                let merged = Gate.apply(ReportMerge.merge(try reports.map { try DiffReport.load(path: $0) }), options: options)
                try ReportWriter.write(merged, to: outputs.outputs(json: output))
                try outputs.finish(merged, summaryToStderr: output == "-")
            }
        }
    }

    struct Render: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "render", abstract: "Print a report's summary and write other formats.")
        @Argument(help: "A JSON report.") var report: String
        @OptionGroup var outputs: ReportOptionGroup

        func run() async throws {
            try await withExitCodes {
                let r = try DiffReport.load(path: report)
                try ReportWriter.write(r, to: outputs.outputs(json: nil))
                try outputs.finish(r)
            }
        }
    }
}
