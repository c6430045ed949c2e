import Diff
import HarnessCore
import Testing

/// Rules files the fuzzer (FuzzNoiseRules) found or that attack the YAML layer: an error naming
/// the file, never a trap or a blow-up.
@Suite struct RulesFileHostileInputTests {
    @Test func aComplexMappingKeyIsAnErrorNotATrap() {
        // Yams's `load` force-unwraps a mapping key to AnyHashable: a mapping as a key trapped.
        let yaml = "rules:\n  ? route: \"^/x\"\n    ignore_body: true\n  : 1\n"
        #expect(throws: HarnessError.self) { _ = try NoiseRules(yaml: yaml, name: "bad.yaml") }
        let flow = "defaults: false\n? [a, b]\n: c\n"
        do {
            _ = try NoiseRules(yaml: flow, name: "flow.yaml")
            Issue.record("a sequence key was accepted")
        } catch let error as HarnessError {
            #expect(error.description.contains("flow.yaml") && error.description.contains("line"), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func aliasBombIsRefused() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...8 { yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        #expect(throws: HarnessError.self) { _ = try NoiseRules(yaml: yaml, name: "bomb.yaml") }
    }

    @Test func overflowingAndDeepScalarsAreErrorsNotTraps() {
        // Yams's `load` overflowed on a sexagesimal integer (found by the fuzzer): now a string,
        // which `time_tolerance` refuses.
        #expect(throws: HarnessError.self) { _ = try NoiseRules(yaml: "time_tolerance: 4444444444444448:2\n") }
        #expect(throws: HarnessError.self) { _ = try NoiseRules(yaml: "4444444444444448:2") }
        let deep = "ignore_headers: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: HarnessError.self) { _ = try NoiseRules(yaml: deep) }
    }

    @Test func theDocumentedExampleStillLoads() throws {
        let rules = try NoiseRules(yaml: "defaults: true\nignore_headers: [X-Powered-By]\nrules:\n  - route: \"^/api/\"\n    ignore_body: true\n")
        #expect(rules.ignoreHeaders.contains("x-powered-by"))
    }
}
