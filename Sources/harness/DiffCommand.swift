import ArgumentParser
import Diff
import HarnessCore

/// `harness diff ORIGINAL RESULT`: compares a recording with a replay result offline.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare an original recording with a replay result; exit 1 when the gate fails.",
        discussion: "Categories: status, location, header, body, backend_request, backend_unmatched, backend_missing, error. See docs/DIFF.md.")

    @Argument(help: "The original recording.") var original: String
    @Argument(help: "The replay result log.") var result: String
    @Option(name: .customLong("rules"), help: "YAML rules file (noise, normalisation).") var rules: String?
    @Option(name: .customLong("report"), help: "Write the JSON report to FILE (- for stdout).") var report: String?
    @Option(name: .customLong("baseline"), help: "A replay of the same recording against the unchanged config (repeat for two): what differs there is noise.")
    var baseline: [String] = []
    @Option(name: .customLong("origin-map"), help: "RECORDED=REPLAYED origin pair (adds to the result header's origin_map).")
    var originMap: [String] = []
    @Option(name: .customLong("window"), help: "Records either log may run out of order (memory bound).") var window: Int = 50_000
    @Option(name: .customLong("generate-synthetic"), help: .hidden) var generateSynthetic: Int?
    @Flag(name: .customLong("bench-read-only"), help: .hidden) var benchReadOnly = false
    @OptionGroup var gate: GateOptionGroup
    @OptionGroup var output: ReportOptionGroup

    func run() async throws {
        try await withExitCodes {
            if let n = generateSynthetic {  // benchmarks: write ORIGINAL and RESULT instead of reading them
                try SyntheticLogs.write(originalPath: original, resultPath: result, count: n)
                return
            }
            if benchReadOnly {  // benchmarks: the floor, decoding both logs and nothing else
                var n = 0
                for path in [original, result] { try LogReader(path: path).forEach { _ in n += 1 } }
                Console.out("\(n) records\n")
                return
            }
            let gateOptions = try gate.checked()
            try output.check()
            var options = DiffOptions(
                rulesPath: rules, originMappings: originMap.flatMap { OriginMapping.parse($0) }, failOn: gateOptions.failOn,
                window: max(window, 16))
            if !baseline.isEmpty {
                let (first, second) = baseline.count >= 2 ? (baseline[0], baseline[1]) : (original, baseline[0])
                options.extraRulesYAML = try NoiseLearner().learn(first: first, second: second, options: options)
            }
            let r = Gate.apply(try DiffEngine.diff(originalPath: original, resultPath: result, options: options), options: gateOptions)
            try ReportWriter.write(r, to: output.outputs(json: report))
            try output.finish(r, summaryToStderr: report == "-")
        }
    }
}
