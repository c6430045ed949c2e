import HarnessCore
import Proxy
import Testing

/// The proxy's client side on an EmbeddedChannel (the request-parsing fuzz target's harness):
/// answers and records without sockets.
@Suite struct FrontPipelineProbeTests {
    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func aRequestTornAcrossReadsIsAnsweredAndRecorded() throws {
        let request = Array("GET /a?b=1 HTTP/1.1\r\nHost: example\r\nX-Long: \(String(repeating: "v", count: 100))\r\n\r\n".utf8)
        let outcome = try FrontPipelineProbe.feed([Array(request[..<17]), Array(request[17...])])
        #expect(text(outcome.response).hasPrefix("HTTP/1.1 404"), "\(text(outcome.response))")
        let e = try #require(outcome.recorded.first)
        #expect(outcome.recorded.count == 1)
        #expect(e.leg == .front && e.request.target == "/a?b=1" && e.response?.status == 404)
    }

    @Test func hostileHeadsAreRejectedAndRecorded() throws {
        var config = ProxyConfiguration()
        config.maxHeaderBytes = 1024
        let cases: [(String, String)] = [
            ("GARBAGE\r\n\r\n", "400"),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "400"),
            ("GET / HTTP/1.1\r\nHost: h\r\nX: \(String(repeating: "a", count: 4000))\r\n\r\n", "431"),
        ]
        for (input, status) in cases {
            let outcome = try FrontPipelineProbe.feed([Array(input.utf8)], configuration: config)
            #expect(text(outcome.response).hasPrefix("HTTP/1.1 \(status)"), "\(input.prefix(60)): \(text(outcome.response).prefix(80))")
            #expect(outcome.recorded.count == 1, "\(input.prefix(60))")
        }
    }
}
