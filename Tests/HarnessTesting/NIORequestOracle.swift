import NIOCore
import NIOEmbedded
import NIOHTTP1

/// SwiftNIO's `HTTPRequestDecoder` as an independent oracle for the harness's own request
/// framing and serialization: what it reads from bytes, in a comparable form.
public enum NIORequestOracle {
    /// One request: the start line, `Name: value` fields, the body, the trailers.
    public struct Decoded: Equatable, Sendable {
        public var start: String
        public var headers: [String]
        public var body: [UInt8]
        public var trailers: [String]

        public init(start: String, headers: [String], body: [UInt8], trailers: [String]) {
            self.start = start
            self.headers = headers
            self.body = body
            self.trailers = trailers
        }
    }

    /// The complete requests in `bytes`, fed in one read or one byte at a time.
    public static func decode(_ bytes: [UInt8], byteAtATime: Bool = false) throws -> [Decoded] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder()))
        defer { _ = try? channel.finish() }
        if byteAtATime {
            for b in bytes { try channel.writeInbound(ByteBuffer(bytes: [b])) }
        } else {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        }
        var out: [Decoded] = []
        var current: Decoded?
        while let part = try channel.readInbound(as: HTTPServerRequestPart.self) {
            switch part {
            case .head(let h):
                current = Decoded(
                    start: "\(h.method.rawValue) \(h.uri) HTTP/\(h.version.major).\(h.version.minor)",
                    headers: h.headers.map { "\($0.name): \($0.value)" }, body: [], trailers: [])
            case .body(let b): current?.body += Array(b.readableBytesView)
            case .end(let t):
                current?.trailers = t?.map { "\($0.name): \($0.value)" } ?? []
                if let c = current { out.append(c) }
                current = nil
            }
        }
        return out
    }
}
