import ArgumentParser
import Foundation
import HarnessCore

/// The redaction flags `capture` and `record` share: values are replaced by a keyed hash before
/// anything reaches the disk.
struct RedactionOptions: ParsableArguments {
    @Option(
        name: .customLong("redact-header"),
        help: "A header whose values are replaced by a keyed hash (repeatable; 'default' = \(Redactor.defaultHeaders.joined(separator: ", "))).")
    var headers: [String] = []

    @Option(name: .customLong("redact-query"), help: "A query (or form body) parameter whose values are replaced (repeatable).")
    var queryParameters: [String] = []

    @Option(
        name: .customLong("redact-json"),
        help: "A JSON body field path: user.password, items[].token, *.secret, ..password (any depth) (repeatable).")
    var jsonPaths: [String] = []

    @Option(
        name: .customLong("redact-regex"),
        help: "A regular expression whose matches (or first capture group) in header values, the query and text bodies are replaced (repeatable).")
    var patterns: [String] = []

    @Option(name: .customLong("redact-key"), help: "A file holding the HMAC key (default: a fresh random key per recording).")
    var keyFile: String?

    /// The redactor the flags describe, nil when none is given.
    func makeRedactor() throws -> Redactor? {
        let names = headers.flatMap { $0.lowercased() == "default" ? Redactor.defaultHeaders : [$0] }
        guard !names.isEmpty || !queryParameters.isEmpty || !jsonPaths.isEmpty || !patterns.isEmpty else {
            if keyFile != nil { throw HarnessError(.usage, "--redact-key needs at least one --redact-* rule") }
            return nil
        }
        var key: [UInt8] = []
        if let keyFile {
            guard let data = FileManager.default.contents(atPath: keyFile), !data.isEmpty else {
                throw HarnessError(.badInput, "cannot read the redaction key (missing or empty file)", path: keyFile)
            }
            key = Array(data)
        }
        return try Redactor(headerNames: names, queryParameters: queryParameters, jsonPaths: jsonPaths, patterns: patterns, key: key)
    }
}
