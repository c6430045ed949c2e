import HarnessCore
import HarnessTesting
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Replay

/// The replay client writes requests as bytes it serializes itself (no HTTP codec in its
/// pipeline). SwiftNIO's `HTTPRequestDecoder` is the independent oracle: it must read back the
/// method, target, version, headers, body and trailers the recording holds.
struct RequestSerializationTests {
    func decode(_ bytes: [UInt8]) throws -> [NIORequestOracle.Decoded] { try NIORequestOracle.decode(bytes) }

    func bytes(_ requests: [Request]) -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        for r in requests { ConnectionDriver.serialize(r, into: &buffer) }
        return Array(buffer.readableBytesView)
    }

    @Test func nioReadsBackWhatTheReplaySends() throws {
        let body = Array("name=a&token=%20x".utf8)
        let big = [UInt8]((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let requests = [
            Request(method: "GET", target: "/a/b?c=1&d=%2F", headers: [HeaderField("Host", "example.com"), HeaderField("Cookie", "s=1; t=2")]),
            Request(
                method: "POST", target: "/form", headers: [HeaderField("Host", "h"), HeaderField("Content-Length", String(body.count))],
                body: body),
            Request(
                method: "PUT", target: "/upload", headers: [HeaderField("Host", "h"), HeaderField("Transfer-Encoding", "chunked")],
                body: big, trailers: [HeaderField("X-Checksum", "abc")]),
            Request(method: "OPTIONS", target: "*", version: .http10, headers: [HeaderField("X-Empty", "")]),
            Request(method: "DELETE", target: "/x", headers: [HeaderField("Host", "h"), HeaderField("Transfer-Encoding", "gzip, chunked")], body: []),
        ]
        // Back to back on one connection (the HTTP/1.0 one last: it closes the connection), then
        // each on its own.
        let ordered = requests.filter { $0.version != .http10 } + requests.filter { $0.version == .http10 }
        #expect(try decode(bytes(ordered)).count == requests.count)
        let decoded = try requests.flatMap { try decode(bytes([$0])) }
        #expect(decoded.count == requests.count)
        for (r, d) in zip(requests, decoded) {
            #expect(d.start == "\(r.method) \(r.target) HTTP/\(r.version.major).\(r.version.minor)")
            #expect(d.headers == r.headers.map { "\($0.name): \($0.value)" })
            #expect(d.body == r.body, "\(r.method) \(r.target)")
            #expect(d.trailers == r.trailers.map { "\($0.name): \($0.value)" })
        }
    }

    /// The head is written through one pointer sized by `headSize`: the size must be exact for
    /// short (in-String) and long (heap) text, empty values and non-ASCII bytes.
    @Test func headSizeIsExact() throws {
        let long = String(repeating: "v", count: 300)
        let requests = [
            Request(method: "GET", target: "/", headers: []),
            Request(method: "GET", target: "/caf\u{e9}?q=\u{2603}", headers: [HeaderField("X-Long", long), HeaderField("X-E", "")]),
            Request(
                method: "PATCH", target: "/p/" + long, headers: [HeaderField("Host", "h"), HeaderField("Content-Length", "3")],
                body: [1, 2, 3]),
        ]
        for r in requests {
            let b = bytes([r])
            #expect(b.count == ConnectionDriver.headSize(r) + r.body.count)
            let text = String(decoding: b, as: UTF8.self)
            #expect(text.hasPrefix("\(r.method) \(r.target) HTTP/1.1\r\n"))
            #expect(text.contains("\r\n\r\n"))
        }
        let ascii = Request(method: "GET", target: "/x", headers: requests[1].headers)
        let d = try decode(bytes([ascii]))
        #expect(d.first?.headers == ["X-Long: \(long)", "X-E: "])
    }

    @Test func connectionTokensAreFoundInLists() {
        #expect(ConnectionDriver.hasConnectionToken([HeaderField("connection", "Upgrade, Close")], "close"))
        #expect(ConnectionDriver.hasConnectionToken([HeaderField("X", "1"), HeaderField("Connection", " keep-alive ")], "keep-alive"))
        #expect(!ConnectionDriver.hasConnectionToken([HeaderField("Connection", "closed")], "close"))
        #expect(!ConnectionDriver.hasConnectionToken([HeaderField("Proxy-Connection", "close")], "close"))
    }
}
