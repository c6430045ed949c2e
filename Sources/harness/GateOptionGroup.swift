import ArgumentParser
import Foundation
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
            failOn: Set(failOn.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }),
            maxDiffRate: maxDiffRate, maxP99RegressionPercent: maxP99Regression)
    }
}
