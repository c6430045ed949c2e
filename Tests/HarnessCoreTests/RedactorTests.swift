import HarnessCore
import HarnessTesting
import Testing

@Suite struct RedactorTests {
    @Test func secretsAreReplacedByStableKeyedTokens() throws {
        let redactor = Redactor(headerNames: Redactor.defaultHeaders, queryParameters: ["token"], key: Array("k".utf8))
        var e = Exchange(
            id: 1,
            request: Request(method: "GET", target: "/a?token=s3cr3t&x=1", headers: [
                HeaderField("Authorization", "Bearer eyJhbGciOi.secret"), HeaderField("Cookie", "SESSION=abc123; theme=dark"),
                HeaderField("Accept", "*/*"),
            ]),
            response: Response(status: 200, headers: [HeaderField("Set-Cookie", "SESSION=abc123; Path=/; HttpOnly")]))
        var copy = e
        redactor.redact(&e)
        redactor.redact(&copy)
        #expect(e == copy, "equal secrets must stay equal")
        #expect(e.flags.redacted)
        let all = (e.request.headers + (e.response?.headers ?? [])).map { "\($0.name): \($0.value)" }.joined(separator: "\n") + e.request.target
        for secret in ["eyJhbGciOi.secret", "abc123", "s3cr3t", "dark"] { #expect(!all.contains(secret), "\(secret) leaked") }
        #expect(e.request.headers.first("Authorization")?.hasPrefix("Bearer redacted:") == true)
        #expect(e.request.headers.first("Cookie")?.hasPrefix("SESSION=redacted:") == true)
        #expect(e.response?.headers.first("Set-Cookie")?.hasSuffix("; Path=/; HttpOnly") == true)
        #expect(e.request.headers.first("Accept") == "*/*")
        #expect(e.request.target.hasSuffix("&x=1"))
        // The Cookie value and the Set-Cookie value of the same secret give the same token.
        let cookieToken = e.request.headers.first("Cookie")?.split(separator: ";").first?.split(separator: "=").last
        let setCookieToken = e.response?.headers.first("Set-Cookie")?.split(separator: ";").first?.split(separator: "=").last
        #expect(cookieToken == setCookieToken)
        // A different key gives different tokens.
        var other = copy
        other.request.headers = [HeaderField("Authorization", "Bearer eyJhbGciOi.secret")]
        var other2 = other
        Redactor(headerNames: ["Authorization"], key: Array("k2".utf8)).redact(&other2)
        redactor.redact(&other)
        #expect(other.request.headers != other2.request.headers)
    }
}
