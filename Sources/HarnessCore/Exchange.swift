/// One HTTP exchange: a request and its response (or none), as seen on one leg of a proxy host.
///
/// This is the unit every stage passes along: capture and the recording proxy produce exchanges,
/// the log stores them, replay re-sends their requests and records new ones, and the diff engine
/// compares pairs. All timestamps are microseconds since the Unix epoch; 0 means "not seen".
public struct Exchange: Sendable, Equatable {
    /// Unique within one log file.
    public var id: UInt64
    /// Which leg of the proxy host the exchange travelled on.
    public var leg: Leg
    /// The TCP connection (and TLS facts) the exchange travelled on.
    public var connection: ConnectionInfo
    /// Position of this exchange within its connection (0 for the first request).
    public var sequence: UInt32
    /// First and last byte of request and response, microseconds since the epoch (0 = not seen).
    public var timing: Timing
    public var request: Request
    /// `nil` when no (final) response was seen.
    public var response: Response?
    /// How the messages were delimited on the wire.
    public var framing: Framing
    /// What went wrong or was cut while recording.
    public var flags: Flags
    /// For a `back` exchange: the `front` exchange that caused it, and how sure the link is.
    public var link: Link?
    /// For a replayed exchange: the id of the exchange in the original recording it re-plays.
    public var replayOf: UInt64?
    /// Bytes carried through an upgraded connection or CONNECT tunnel after the handshake.
    public var tunnel: TunnelBytes?
    /// An error instead of (or after) a response: refused, reset, timeout (replay and proxy).
    public var error: String?
    /// Free-form facts for tools and people (`key`, `value`), kept in order. Unknown keys are kept.
    public var annotations: [Annotation]

    public init(
        id: UInt64, leg: Leg = .direct, connection: ConnectionInfo = ConnectionInfo(), sequence: UInt32 = 0,
        timing: Timing = Timing(), request: Request, response: Response? = nil, framing: Framing = [],
        flags: Flags = Flags(), link: Link? = nil, replayOf: UInt64? = nil, tunnel: TunnelBytes? = nil,
        error: String? = nil, annotations: [Annotation] = []
    ) {
        self.id = id
        self.leg = leg
        self.connection = connection
        self.sequence = sequence
        self.timing = timing
        self.request = request
        self.response = response
        self.framing = framing
        self.flags = flags
        self.link = link
        self.replayOf = replayOf
        self.tunnel = tunnel
        self.error = error
        self.annotations = annotations
    }

    /// True when the exchange has a final response and nothing is missing.
    public var isComplete: Bool { response != nil && !flags.incomplete && flags.gapBytes == 0 }

    /// The first annotation value for `key`.
    public func annotation(_ key: String) -> String? { annotations.first { $0.key == key }?.value }
}

/// The leg of a proxy host an exchange was seen on.
public enum Leg: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Client -> proxy.
    case front = 1
    /// Proxy -> backend.
    case back = 2
    /// Neither (or no proxy involved).
    case direct = 3

    public var description: String {
        switch self {
        case .front: "front"
        case .back: "back"
        case .direct: "direct"
        }
    }

    public init?(name: String) {
        switch name.lowercased() {
        case "front": self = .front
        case "back": self = .back
        case "direct": self = .direct
        default: return nil
        }
    }
}

/// An IP address (v4 or v6, as text) and a port.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }
    /// `1.2.3.4:80` or `[::1]:80`.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `host:port` or `[v6]:port`.
    public init?(parsing text: Substring) {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { return nil }
            self.init(host: String(host), port: port)
        } else {
            guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
                return nil
            }
            self.init(host: String(text[..<colon]), port: port)
        }
    }
}

/// The connection an exchange travelled on.
public struct ConnectionInfo: Sendable, Equatable {
    /// Unique within one log file; exchanges with the same id shared one TCP connection.
    public var id: UInt64
    public var client: Endpoint
    public var server: Endpoint
    public var tls: Bool
    /// TLS server name indication, when known.
    public var sni: String?

    public init(
        id: UInt64 = 0, client: Endpoint = Endpoint(host: "0.0.0.0", port: 0),
        server: Endpoint = Endpoint(host: "0.0.0.0", port: 0), tls: Bool = false, sni: String? = nil
    ) {
        self.id = id
        self.client = client
        self.server = server
        self.tls = tls
        self.sni = sni
    }

    /// `clientip:port->serverip:port`, the CONTRACT's `conn` field.
    public var tupleDescription: String { "\(client)->\(server)" }
}

/// Timestamps of one exchange, in microseconds since the Unix epoch; 0 means not seen.
public struct Timing: Sendable, Equatable {
    public var requestStart: Int64
    public var requestEnd: Int64
    public var responseStart: Int64
    public var responseEnd: Int64
    public init(requestStart: Int64 = 0, requestEnd: Int64 = 0, responseStart: Int64 = 0, responseEnd: Int64 = 0) {
        self.requestStart = requestStart
        self.requestEnd = requestEnd
        self.responseStart = responseStart
        self.responseEnd = responseEnd
    }
    /// Request first byte to response last byte, in microseconds, when both are known.
    public var latency: Int64? {
        guard requestStart > 0, responseEnd >= requestStart else { return nil }
        return responseEnd - requestStart
    }
}

/// One header field, name in its original case.
public struct HeaderField: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// An ordered header list that keeps wire order and case; lookups are case-insensitive.
public typealias Headers = [HeaderField]

extension Array where Element == HeaderField {
    // The lookups go by index: `for field in self` copied each field, a retain and a release of
    // every long value on the way to the one asked for.

    /// The first value of `name` (case-insensitive).
    @inlinable
    public func first(_ name: String) -> String? {
        for i in indices where self[i].name.caseInsensitiveEquals(name) { return self[i].value }
        return nil
    }
    /// Whether a field `name` is present (case-insensitive).
    @inlinable
    public func has(_ name: String) -> Bool {
        for i in indices where self[i].name.caseInsensitiveEquals(name) { return true }
        return false
    }
    /// Every value of `name` (case-insensitive), in order.
    public func all(_ name: String) -> [String] {
        var values: [String] = []
        for i in indices where self[i].name.caseInsensitiveEquals(name) { values.append(self[i].value) }
        return values
    }
    /// Replaces every field named `name` with one field (or appends it).
    public mutating func set(_ name: String, _ value: String) {
        if let index = firstIndex(where: { $0.name.caseInsensitiveEquals(name) }) {
            self[index].value = value
            var i = index + 1
            while i < count {
                if self[i].name.caseInsensitiveEquals(name) { remove(at: i) } else { i += 1 }
            }
        } else {
            append(HeaderField(name, value))
        }
    }
    /// Removes every field named `name`.
    public mutating func remove(_ name: String) {
        // Looked for first: `removeAll` makes the array unique (a copy) even when nothing matches.
        guard has(name) else { return }
        removeAll { $0.name.caseInsensitiveEquals(name) }
    }
}

extension String {
    /// ASCII case-insensitive comparison (header names are ASCII tokens). Different lengths
    /// answer at once; native strings compare their contiguous UTF-8 without iterators.
    @inlinable
    public func caseInsensitiveEquals(_ other: String) -> Bool {
        let n = utf8.count
        guard n == other.utf8.count else { return false }
        let fast = utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b in ASCIICase.equal(a, b) }
        }
        if let fast, let answer = fast { return answer }
        return ASCIICase.equal([UInt8](utf8), [UInt8](other.utf8))
    }
}

/// ASCII case folding over bytes, shared by the header lookups.
public enum ASCIICase {
    /// Whether `a` and `b` (same length) are equal ignoring ASCII case.
    @inlinable
    public static func equal<A: RandomAccessCollection<UInt8>, B: RandomAccessCollection<UInt8>>(_ a: A, _ b: B) -> Bool
    where A.Index == Int, B.Index == Int {
        guard a.count == b.count else { return false }
        var i = a.startIndex
        var j = b.startIndex
        while i < a.endIndex {
            let x = a[i]
            let y = b[j]
            if x != y {
                let lx = x | 0x20
                guard lx == y | 0x20, lx >= 0x61, lx <= 0x7A else { return false }
            }
            i += 1
            j += 1
        }
        return true
    }
}

extension Array where Element == HeaderField {
    /// Whether a comma-separated list header `name` holds `token` (case-insensitive, optional
    /// whitespace around items), without allocating: `Connection: keep-alive, Upgrade`.
    public func containsToken(_ name: String, _ token: String) -> Bool {
        for i in indices where self[i].name.caseInsensitiveEquals(name) {
            var v = self[i].value
            var t = token
            let found = v.withUTF8 { bytes -> Bool in
                t.withUTF8 { t in
                    var start = 0
                    while start <= bytes.count {
                        var end = start
                        while end < bytes.count && bytes[end] != 0x2C { end += 1 }
                        var lo = start
                        var hi = end
                        while lo < hi && (bytes[lo] == 0x20 || bytes[lo] == 0x09) { lo += 1 }
                        while hi > lo && (bytes[hi - 1] == 0x20 || bytes[hi - 1] == 0x09) { hi -= 1 }
                        if hi - lo == t.count && ASCIICase.equal(bytes[lo..<hi], t) { return true }
                        start = end + 1
                    }
                    return false
                }
            }
            if found { return true }
        }
        return false
    }
}

/// HTTP version as major.minor.
public struct HTTPVersionNumber: Sendable, Equatable, CustomStringConvertible {
    public var major: UInt8
    public var minor: UInt8
    public init(major: UInt8, minor: UInt8) {
        self.major = major
        self.minor = minor
    }
    public static let http11 = HTTPVersionNumber(major: 1, minor: 1)
    public static let http10 = HTTPVersionNumber(major: 1, minor: 0)
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// A request head and body.
public struct Request: Sendable, Equatable {
    public var method: String
    /// The request-target as sent (origin-form, absolute-form, authority-form or `*`).
    public var target: String
    public var version: HTTPVersionNumber
    public var headers: Headers
    /// The body as sent on the wire (still chunk-decoded, content-encoding kept), maybe truncated.
    public var body: [UInt8]
    /// Set when `body` is not the whole body.
    public var bodyTruncation: BodyTruncation?
    /// Trailer fields of a chunked body.
    public var trailers: Headers

    public init(
        method: String, target: String, version: HTTPVersionNumber = .http11, headers: Headers = [],
        body: [UInt8] = [], bodyTruncation: BodyTruncation? = nil, trailers: Headers = []
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.bodyTruncation = bodyTruncation
        self.trailers = trailers
    }

    /// The whole body's length, including what was cut.
    public var bodyLength: UInt64 { bodyTruncation?.originalLength ?? UInt64(body.count) }
    /// The path part of the target (before `?`); for an absolute-form target, the part after the
    /// authority (`/` when there is none). Scanned as bytes: the delimiters are ASCII.
    public var path: Substring { Self.path(of: target) }
    /// The query part of the target (after `?`), if any.
    public var query: Substring? { Self.query(of: target) }

    /// `path` of a request-target.
    public static func path(of target: String) -> Substring {
        let u = target.utf8
        var start = u.startIndex
        if u.first != UInt8(ascii: "/"), let colon = u.firstIndex(of: UInt8(ascii: ":")) {
            var i = u.index(after: colon)
            if i < u.endIndex && u[i] == UInt8(ascii: "/") {
                i = u.index(after: i)
                if i < u.endIndex && u[i] == UInt8(ascii: "/") {
                    i = u.index(after: i)
                    guard let p = u[i...].firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") })
                    else { return "/" }
                    start = p
                }
            }
        }
        let end = u[start...].firstIndex(of: UInt8(ascii: "?")) ?? u.endIndex
        return target[start..<end]
    }

    /// `query` of a request-target.
    public static func query(of target: String) -> Substring? {
        guard let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return target[target.utf8.index(after: q)...]
    }
}

/// A response head and body.
public struct Response: Sendable, Equatable {
    public var status: UInt16
    public var reason: String
    public var version: HTTPVersionNumber
    public var headers: Headers
    public var body: [UInt8]
    public var bodyTruncation: BodyTruncation?
    public var trailers: Headers
    /// Interim (1xx) responses seen before this final one, e.g. `100 Continue`.
    public var interim: [InterimResponse]

    public init(
        status: UInt16, reason: String = "", version: HTTPVersionNumber = .http11, headers: Headers = [],
        body: [UInt8] = [], bodyTruncation: BodyTruncation? = nil, trailers: Headers = [],
        interim: [InterimResponse] = []
    ) {
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.body = body
        self.bodyTruncation = bodyTruncation
        self.trailers = trailers
        self.interim = interim
    }

    public var bodyLength: UInt64 { bodyTruncation?.originalLength ?? UInt64(body.count) }
}

/// A 1xx response that preceded the final one.
public struct InterimResponse: Sendable, Equatable {
    public var status: UInt16
    public var reason: String
    public var headers: Headers
    public init(status: UInt16, reason: String = "", headers: Headers = []) {
        self.status = status
        self.reason = reason
        self.headers = headers
    }
}

/// A body that was cut to the configured maximum: how long it really was and a digest of all of it.
public struct BodyTruncation: Sendable, Equatable {
    public var originalLength: UInt64
    /// SHA-256 of the whole body as it was on the wire.
    public var sha256: [UInt8]
    public init(originalLength: UInt64, sha256: [UInt8]) {
        self.originalLength = originalLength
        self.sha256 = sha256
    }
}

/// How the messages of an exchange were delimited.
public struct Framing: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let requestChunked = Framing(rawValue: 1 << 0)
    public static let requestContentLength = Framing(rawValue: 1 << 1)
    public static let responseChunked = Framing(rawValue: 1 << 2)
    public static let responseContentLength = Framing(rawValue: 1 << 3)
    /// The response body ran until the server closed the connection.
    public static let responseCloseDelimited = Framing(rawValue: 1 << 4)
    /// An `Expect: 100-continue` request whose interim `100` was seen.
    public static let continueSeen = Framing(rawValue: 1 << 5)
    /// A `101 Switching Protocols` upgrade (e.g. WebSocket).
    public static let upgrade = Framing(rawValue: 1 << 6)
    /// A CONNECT tunnel.
    public static let connectTunnel = Framing(rawValue: 1 << 7)
    /// The connection was kept alive after this exchange.
    public static let keepAlive = Framing(rawValue: 1 << 8)
}

/// What went wrong or was cut while recording an exchange.
public struct Flags: Sendable, Equatable {
    /// The request or response is not whole (connection ended early, capture stopped, timeout).
    public var incomplete: Bool
    /// Bytes known to be missing from the stream (lost packets), never invented.
    public var gapBytes: UInt64
    /// A packet was cut by the capture's snaplen.
    public var snaplenTruncated: Bool
    /// The bytes were not valid HTTP: where and why.
    public var parseError: ParseError?
    /// The recording joined the connection mid-stream; the pairing may be uncertain.
    public var midStream: Bool
    /// A redaction rule replaced values in this exchange.
    public var redacted: Bool

    public init(
        incomplete: Bool = false, gapBytes: UInt64 = 0, snaplenTruncated: Bool = false, parseError: ParseError? = nil,
        midStream: Bool = false, redacted: Bool = false
    ) {
        self.incomplete = incomplete
        self.gapBytes = gapBytes
        self.snaplenTruncated = snaplenTruncated
        self.parseError = parseError
        self.midStream = midStream
        self.redacted = redacted
    }
}

/// Where an HTTP message failed to parse.
public struct ParseError: Sendable, Equatable {
    /// Byte offset within the direction's stream of the connection.
    public var offset: UInt64
    public var message: String
    public init(offset: UInt64, message: String) {
        self.offset = offset
        self.message = message
    }
}

/// The link from a `back` exchange to the `front` exchange that caused it.
public struct Link: Sendable, Equatable {
    public var frontID: UInt64
    public var confidence: LinkConfidence
    public init(frontID: UInt64, confidence: LinkConfidence) {
        self.frontID = frontID
        self.confidence = confidence
    }
}

/// How sure a front/back link is.
public enum LinkConfidence: UInt8, Sendable, CustomStringConvertible {
    /// The proxy itself knew (recording proxy).
    case exact = 1
    /// The only in-flight front exchange whose path maps onto the back request.
    case high = 2
    /// One of several candidates, chosen by time window.
    case low = 3

    public var description: String {
        switch self {
        case .exact: "exact"
        case .high: "high"
        case .low: "low"
        }
    }
    public init?(name: String) {
        switch name {
        case "exact": self = .exact
        case "high": self = .high
        case "low": self = .low
        default: return nil
        }
    }
}

/// Bytes carried by an upgraded connection or tunnel after the handshake.
public struct TunnelBytes: Sendable, Equatable {
    public var clientToServer: UInt64
    public var serverToClient: UInt64
    public init(clientToServer: UInt64, serverToClient: UInt64) {
        self.clientToServer = clientToServer
        self.serverToClient = serverToClient
    }
}

/// A key/value fact attached to an exchange.
public struct Annotation: Sendable, Equatable {
    public var key: String
    public var value: String
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}
