import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// `--redact-json`, `--redact-regex` and form parameters: secrets leave bodies, headers and the
/// query; everything else (formatting included) stays; bodies are re-framed.
@Suite struct BodyRedactionTests {
    let key = Array("test-key".utf8)

    func post(_ body: String, type: String = "application/json", extra: Headers = []) -> Exchange {
        Exchange(
            id: 1,
            request: Request(
                method: "POST", target: "/login",
                headers: [HeaderField("Content-Type", type), HeaderField("Content-Length", String(body.utf8.count))] + extra,
                body: Array(body.utf8)),
            framing: [.requestContentLength])
    }

    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func jsonPathsReplaceOnlyTheNamedValuesAndKeepFormatting() throws {
        let body = """
            {"user": {"name": "ann", "password": "hunter2"},
             "items": [{"token": "tok-1"}, {"token": "tok-2", "n": 1}],
             "deep": {"a": {"password": 12345}}, "keep": "password"}
            """
        let redactor = try Redactor(headerNames: [], jsonPaths: ["user.password", "items[].token", "..password"], patterns: [], key: key)
        var e = post(body)
        redactor.redact(&e)
        let out = text(e.request.body)
        for secret in ["hunter2", "tok-1", "tok-2", "12345"] { #expect(!out.contains(secret), "\(secret) leaked: \(out)") }
        #expect(out.contains("\"name\": \"ann\""))
        #expect(out.contains("\"keep\": \"password\""), "a value equal to a key name is not a key")
        #expect(out.contains("\"password\": \"\(redactor.token("hunter2"))\""), "a string's token is the token of its text")
        #expect(out.contains("\"n\": 1"))
        #expect(out.hasPrefix("{\"user\": {"), "bytes outside the values stay as they were")
        #expect(e.flags.redacted)
        #expect(e.request.headers.first("Content-Length") == String(e.request.body.count))
        let parsed = try JSONSerialization.jsonObject(with: Data(e.request.body)) as? [String: Any]
        #expect(parsed?["keep"] as? String == "password", "the result is still JSON")
    }

    @Test func aNamedContainerBecomesOneToken() throws {
        let redactor = try Redactor(headerNames: [], jsonPaths: ["credentials", "[].secret"], patterns: [], key: key)
        var e = post(#"{"credentials": {"user": "u", "pass": ["p1", "p2"]}, "after": true}"#)
        redactor.redact(&e)
        let out = text(e.request.body)
        #expect(!out.contains("p1") && !out.contains("\"u\""), "\(out)")
        #expect(out.hasSuffix(#", "after": true}"#), "\(out)")
        #expect(try JSONSerialization.jsonObject(with: Data(e.request.body)) is [String: Any])

        var array = post(#"[{"secret": "s-1"}, {"secret": "s-2"}, {"other": "s-3"}]"#)
        redactor.redact(&array)
        let arrayText = text(array.request.body)
        #expect(!arrayText.contains("s-1") && !arrayText.contains("s-2") && arrayText.contains("s-3"), "\(arrayText)")
        #expect(try JSONSerialization.jsonObject(with: Data(array.request.body)) is [Any])
    }

    @Test func aTruncatedBodyIsRedactedToItsEnd() throws {
        let redactor = try Redactor(headerNames: [], jsonPaths: ["password", "profile"], patterns: [], key: key)
        let whole = #"{"a": 1, "password": "a-long-secret-value", "b": 2}"#
        let cut = Array(whole.utf8.prefix(30))  // ends inside the password string
        var e = post(whole)
        e.request.body = cut
        e.request.bodyTruncation = BodyTruncation(originalLength: UInt64(whole.utf8.count), sha256: Array(repeating: 7, count: 32))
        redactor.redact(&e)
        #expect(!text(e.request.body).contains("a-long"), "\(text(e.request.body))")
        #expect(text(e.request.body).hasPrefix(#"{"a": 1, "password": "redacted:"#))
        let t = try #require(e.request.bodyTruncation)
        #expect(t.sha256 != Array(repeating: 7, count: 32), "the digest of a body with a secret is keyed too")
        #expect(Int(t.originalLength) == whole.utf8.count + e.request.body.count - cut.count)
        #expect(e.request.headers.first("Content-Length") == String(t.originalLength))

        var open = post(#"{"profile": {"ssn": "123-45-"#)
        redactor.redact(&open)
        #expect(!text(open.request.body).contains("123-45"), "\(text(open.request.body))")
    }

    @Test func hostileJSONNeitherCrashesNorLeaksWhatWasFound() throws {
        let redactor = try Redactor(headerNames: [], jsonPaths: ["..x"], patterns: [], key: key)
        var deep = post(String(repeating: "[", count: 200_000) + #"{"x": "s3cret"}"#)
        redactor.redact(&deep)
        #expect(!text(deep.request.body).contains("s3cret"))
        for junk in [#"{"x": "ok" "y"#, "}{", "[,,]", #"{"x":"#, "\"\\", #"{"a" 1}"#, #"[1, {"x": tru"#] {
            var e = post(junk)
            redactor.redact(&e)  // must not trap
        }
        var bad = post(#"{"a": 1} {"x": "after-the-root"}"#)
        redactor.redact(&bad)
        #expect(text(bad.request.body).contains("after-the-root"), "bytes after the root value are not JSON")
    }

    @Test func patternsRedactHeadersQueryAndTextBodies() throws {
        let redactor = try Redactor(
            headerNames: ["Authorization"], queryParameters: [], jsonPaths: [],
            patterns: [#"sk_live_[A-Za-z0-9]+"#, #"ssn=(\d{3}-\d{2}-\d{4})"#], key: key)
        var e = post(
            "note: sk_live_ABC123 and ssn=123-45-6789 ok", type: "text/plain",
            extra: [HeaderField("X-Key", "use sk_live_ABC123"), HeaderField("Authorization", "Bearer sk_live_ABC123")])
        e.request.target = "/pay?key=sk_live_ABC123&n=1"
        e.response = Response(
            status: 200, headers: [HeaderField("Content-Length", "20")], body: Array("echo sk_live_ABC123.".utf8))
        redactor.redact(&e)
        let token = redactor.token("sk_live_ABC123")
        #expect(e.request.headers.first("X-Key") == "use " + token)
        #expect(e.request.target == "/pay?key=\(token)&n=1")
        #expect(text(e.request.body) == "note: \(token) and ssn=\(redactor.token("123-45-6789")) ok", "a capture group redacts the group only")
        #expect(e.request.headers.first("Content-Length") == String(e.request.body.count))
        #expect(e.request.headers.first("Authorization") == "Bearer " + token, "named header and pattern agree on the token")
        #expect(text(e.response?.body ?? []) == "echo \(token).")
        #expect(e.response?.headers.first("Content-Length") == String(e.response?.body.count ?? 0))
        // Idempotent: redacting a redacted exchange changes nothing.
        var again = e
        redactor.redact(&again)
        #expect(again == e)
    }

    @Test func formBodiesEncodedBodiesAndBinaryBodies() throws {
        let redactor = try Redactor(headerNames: [], queryParameters: ["password"], jsonPaths: ["password"], patterns: ["secret"], key: key)
        var form = post("user=ann&password=hunter2", type: "application/x-www-form-urlencoded")
        redactor.redact(&form)
        #expect(text(form.request.body) == "user=ann&password=" + redactor.token("hunter2"))

        var brotli = post(#"{"password": "x"}"#, extra: [HeaderField("Content-Encoding", "br")])
        redactor.redact(&brotli)
        #expect(text(brotli.request.body) == #"{"password": "x"}"#, "br cannot be decoded here: left as it was")
        #expect(brotli.annotation("redaction") == "request body not inspected: Content-Encoding br")
        #expect(brotli.annotations.filter { $0.key == "redaction" }.count == 1, "noted once, not once per rule kind")

        var binary = post("", type: "application/octet-stream")
        binary.request.body = [0xFF, 0xFE] + Array("secret".utf8)
        redactor.redact(&binary)
        #expect(binary.request.body == [0xFF, 0xFE] + Array("secret".utf8), "a body that is not UTF-8 is not text")
    }

    /// A gzip, deflate or zstd body is decoded, redacted and encoded again: the secret is gone
    /// from the stored bytes, the body still decodes (checked with gzip(1), an independent
    /// decoder, for gzip), and Content-Length follows the new encoded length.
    @Test(arguments: ["gzip", "deflate", "zstd", "gzip, zstd"])
    func encodedBodiesAreRedactedAndReEncoded(_ encoding: String) throws {
        let redactor = try Redactor(headerNames: [], jsonPaths: ["password"], patterns: ["sk_live_[A-Za-z0-9]+"], key: key)
        let json = #"{"user": "ann", "password": "hunter2", "note": "key sk_live_XYZ987 here"}"#
        let plain = post(json)
        let decoded = try #require(ContentCoding.decodeRemembering(Array(json.utf8), encoding: "identity"))
        #expect(decoded.codings.isEmpty)
        let codings: [ContentCoding.Coding] = encoding.split(separator: ",").reversed().map {
            switch $0.trimmingCharacters(in: .whitespaces) {
            case "gzip": .gzip
            case "deflate": .zlibDeflate
            default: .zstd
            }
        }
        var e = plain
        e.request.body = try #require(ContentCoding.encode(Array(json.utf8), codings: codings))
        e.request.headers = [
            HeaderField("Content-Type", "application/json"), HeaderField("Content-Encoding", encoding),
            HeaderField("Content-Length", String(e.request.body.count)),
        ]
        let before = e.request.body
        redactor.redact(&e)
        #expect(e.request.body != before)
        #expect(e.flags.redacted)
        #expect(e.annotation("redaction") == nil)
        #expect(e.request.headers.first("Content-Length") == String(e.request.body.count))
        let stored = e.request.body
        for secret in ["hunter2", "sk_live_XYZ987"] {
            #expect(!Data(stored).contains(Data(secret.utf8)), "no secret in the stored bytes")
        }
        let content = text(try #require(ContentCoding.decode(stored, encoding: encoding), "still decodes as \(encoding)"))
        #expect(content == #"{"user": "ann", "password": "\#(redactor.token("hunter2"))", "note": "key \#(redactor.token("sk_live_XYZ987")) here"}"#)
        if encoding == "gzip", let gzip = TestEnvironment.tool("gzip") {
            let out = try Run.process(gzip, ["-dc"], stdin: Data(stored))
            #expect(out.status == 0)
            #expect(out.stdout == content, "gzip(1) reads the re-encoded body")
        }
        var again = e
        redactor.redact(&again)
        #expect(again == e, "idempotent on encoded bodies too")
    }

    /// A raw deflate stream (no zlib header: sent by some servers) is re-encoded raw; a truncated
    /// or undecodable encoded body is not inspected and says so.
    @Test func rawDeflateTruncatedAndBrokenEncodedBodies() throws {
        let redactor = try Redactor(headerNames: [], jsonPaths: ["password"], patterns: [], key: key)
        let json = #"{"password": "hunter2"}"#
        var raw = post(json, extra: [HeaderField("Content-Encoding", "deflate")])
        raw.request.body = try #require(ContentCoding.encode(Array(json.utf8), codings: [.rawDeflate]))
        redactor.redact(&raw)
        let decoded = try #require(ContentCoding.decodeRemembering(raw.request.body, encoding: "deflate"))
        #expect(decoded.codings == [.rawDeflate])
        #expect(text(decoded.body) == #"{"password": "\#(redactor.token("hunter2"))"}"#)

        var truncated = post(json, extra: [HeaderField("Content-Encoding", "gzip")])
        let gz = try #require(ContentCoding.encode(Array(json.utf8), codings: [.gzip]))
        truncated.request.body = Array(gz.prefix(10))
        truncated.request.bodyTruncation = BodyTruncation(originalLength: UInt64(gz.count), sha256: Array(repeating: 1, count: 32))
        redactor.redact(&truncated)
        #expect(truncated.request.body == Array(gz.prefix(10)))
        #expect(truncated.annotation("redaction") == "request body not inspected: Content-Encoding gzip")

        var broken = post(json, extra: [HeaderField("Content-Encoding", "gzip")])
        redactor.redact(&broken)
        #expect(text(broken.request.body) == json, "not gzip at all: left as it was")
        #expect(broken.annotation("redaction") == "request body not inspected: Content-Encoding gzip")
    }

    @Test func badRulesAreUsageErrors() {
        for path in ["", "a..b", "a[0]", "a.", ".a", "a[x]"] {
            #expect(throws: HarnessError.self, "\(path)") { _ = try Redactor(headerNames: [], jsonPaths: [path], patterns: []) }
        }
        #expect(throws: HarnessError.self) { _ = try Redactor(headerNames: [], jsonPaths: [], patterns: ["(unclosed"]) }
        let ok = try? Redactor(headerNames: [], jsonPaths: ["a.b", "a[].b", "[].a", "*.b", "..b", "a[][]"], patterns: [])
        #expect(ok?.headerDescription == "json:a.b,json:a[].b,json:[].a,json:*.b,json:..b,json:a[][]")
    }
}
