import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// Redaction must be idempotent: a recording redacted twice (a capture redacted at record time and
/// again on export, or `--redact-*` given to a tool that reads a redacted log) is unchanged by the
/// second pass. The inputs are the fuzzer's findings (`Fuzz/corpus/FuzzRedaction/crash-*`), run
/// through the same exchange the fuzz target builds.
struct RedactionIdempotenceTests {
    static let redactor = try? Redactor(
        headerNames: Redactor.defaultHeaders, queryParameters: ["token"],
        jsonPaths: ["user.password", "items[].token", "*.secret", "..password", "[]"], patterns: [#"sk_[a-z]+_(\w+)"#],
        key: Array("fuzz".utf8))

    /// The fuzz target's exchange: the first byte picks the content type (bit 7: a truncated body).
    static func exchange(_ bytes: [UInt8]) -> Exchange {
        let types = ["application/json", "application/x-www-form-urlencoded", "text/plain"]
        let type = types[Int(bytes[0]) % types.count]
        let body = Array(bytes.dropFirst())
        return Exchange(
            id: 1,
            request: Request(
                method: "POST", target: "/x?token=" + String(decoding: body.prefix(16), as: UTF8.self),
                headers: [HeaderField("Content-Type", type), HeaderField("Content-Length", String(body.count)),
                          HeaderField("Cookie", String(decoding: body.prefix(32), as: UTF8.self))],
                body: body,
                bodyTruncation: bytes[0] & 0x80 != 0 ? BodyTruncation(originalLength: UInt64(body.count) + 10, sha256: [UInt8](repeating: 1, count: 32)) : nil),
            response: Response(status: 200, headers: [HeaderField("Content-Type", type)], body: body.reversed()))
    }

    @Test(arguments: ["crash-not-idempotent-form", "crash-not-idempotent-json"])
    func fuzzFindingsRedactIdempotently(_ name: String) throws {
        let redactor = try #require(Self.redactor)
        let path = TestEnvironment.repositoryRoot + "/Fuzz/corpus/FuzzRedaction/" + name
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var once = Self.exchange(bytes)
        redactor.redact(&once)
        var twice = once
        redactor.redact(&twice)
        #expect(twice.request.target == once.request.target)
        #expect(twice.request.headers == once.request.headers)
        #expect(String(decoding: twice.request.body, as: UTF8.self) == String(decoding: once.request.body, as: UTF8.self))
        #expect(String(decoding: twice.response?.body ?? [], as: UTF8.self) == String(decoding: once.response?.body ?? [], as: UTF8.self))
        #expect(twice == once)
    }
}
