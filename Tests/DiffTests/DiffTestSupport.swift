import Foundation
import Diff
import HarnessCore
import HarnessTesting
import Testing

/// Runs the diff engine on a builder's logs.
func diffReport(_ b: DiffFixtureBuilder, rules: String? = nil, options: DiffOptions = DiffOptions()) throws -> DiffReport {
    let dir = TempDir("diff")
    let (o, r) = try b.write(to: dir)
    var opts = options
    if let rules {
        let path = dir.file("rules.yaml")
        try rules.write(toFile: path, atomically: true, encoding: .utf8)
        opts.rulesPath = path
    }
    return try DiffEngine.diff(originalPath: o, resultPath: r, options: opts)
}

extension DiffReport {
    func signatures(_ category: String) -> [String] { groups.filter { $0.category == category }.map(\.signature) }
    var allSignatures: [String] { groups.map { "\($0.category): \($0.signature)" } }
}
