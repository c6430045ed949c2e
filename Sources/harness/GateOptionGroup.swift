import ArgumentParser
import Foundation
import HarnessCore
import Diff

/// The CONTRACT's gate options, shared by `replay`, `diff` and `gate`.
struct GateOptionGroup: ParsableArguments {
    @Option(name: .customLong("fail-on"), help: "Categories that fail the gate (comma-separated).")
    var failOn: String = GateOptions.defaultFailOn.sorted().joined(separator: ",")

    @Option(name: .customLong("max-diff-rate"), help: "Percent of compared exchanges allowed to differ before exit 1.")
    var maxDiffRate: Double = 0

    @Option(name: .customLong("max-p99-regression"), help: "Allowed p99 latency regression, percent.")
    var maxP99Regression: Double?

    var gateOptions: GateOptions {
        GateOptions(
            failOn: Set(failOn.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }),
            maxDiffRate: maxDiffRate, maxP99RegressionPercent: maxP99Regression)
    }

    /// The options, checked: a bad value is a usage error (exit 2, CONTRACT).
    func checked() throws -> GateOptions {
        let options = gateOptions
        let unknown = options.unknownCategories
        if !unknown.isEmpty {
            throw HarnessError(
                .usage,
                "--fail-on: unknown categor\(unknown.count == 1 ? "y" : "ies") \(unknown.joined(separator: ", ")) (known: \(DiffCategory.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if maxDiffRate < 0 || maxDiffRate > 100 {
            throw HarnessError(.usage, "--max-diff-rate must be a percentage between 0 and 100")
        }
        if let p = maxP99Regression, p < 0 { throw HarnessError(.usage, "--max-p99-regression must be a percentage >= 0") }
        return options
    }
}

/// The report files beyond `--report` (JSON): shared by `replay`, `diff`, `gate` and `report`.
struct ReportFileOptions: ParsableArguments {
    @Option(name: .customLong("junit"), help: "Write JUnit XML (a testcase per group) to FILE.")
    var junit: String?
    @Option(name: .customLong("html"), help: "Write a self-contained HTML report to FILE.")
    var html: String?
    @Option(name: .customLong("markdown"), help: "Write a Markdown summary (for a PR comment) to FILE.")
    var markdown: String?

    func outputs(json: String?) -> ReportOutputs {
        ReportOutputs(json: json, junit: junit, html: html, markdown: markdown)
    }
}

/// Report files plus the terminal summary's options, shared by `diff`, `gate` and `report`.
struct ReportOptionGroup: ParsableArguments {
    @OptionGroup var files: ReportFileOptions
    @Option(name: .customLong("color"), help: "Colour the terminal summary: auto, always or never.")
    var color: String = "auto"
    @Option(name: .customLong("examples"), help: "Worked examples shown in the terminal summary.")
    var examples: Int = 3
    @Flag(name: .customLong("quiet"), help: "No terminal summary (the verdict line only).")
    var quiet = false

    func outputs(json: String?) -> ReportOutputs { files.outputs(json: json) }

    var colour: Bool {
        switch color {
        case "always": true
        case "never": false
        default: Console.isTerminal(1) && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        }
    }

    /// Prints the summary (or the verdict) and exits 1 when the gate failed.
    func finish(_ report: DiffReport, summaryToStderr: Bool = false) throws {
        let text: String
        if quiet {
            let v = report.gate.map { $0.passed ? "gate: PASS" : "gate: FAIL: " + $0.reasons.joined(separator: "; ") } ?? ""
            text = v + "\n"
        } else {
            text = ReportWriter.terminalSummary(report, colour: colour && !summaryToStderr, examples: examples)
        }
        if summaryToStderr { Console.error(text) } else { Console.out(text) }
        if report.gate?.passed == false { throw ExitCode(1) }
    }

    /// Checks the values (usage errors exit 2).
    func check() throws {
        guard ["auto", "always", "never"].contains(color) else { throw HarnessError(.usage, "--color must be auto, always or never") }
    }
}
