#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import HarnessCore
private import Crypto

/// One HTTP/1.x request or response as the stream parser found it, with how it was delimited and
/// what was missing.
///
/// A reference type: the parser fills one object per message and the connection, the pairing and
/// the log writer's batch pass it on without copying its fields (a value type was copied, with a
/// retain per field, five to eight times per message). The parser stops mutating a message once its
/// `.message` event is out, and only then is it handed to another thread (hence `@unchecked`).
public final class HTTPMessage: @unchecked Sendable {
    public var isRequest: Bool
    public var method = ""
    public var target = ""
    public var status: UInt16 = 0
    public var reason = ""
    public var version = HTTPVersionNumber.http11
    public var headers: Headers = [] { didSet { headersKey = nil } }
    /// The body after chunk decoding, at most the configured maximum.
    public var body: [UInt8] = [] { didSet { bodyKey = nil } }
    /// The storage keys of `headers` and `body` (`noteStorage()`), for the log writer to find them
    /// in its caches without touching the arrays; nil when not worked out or changed since.
    private(set) var headersKey: StorageKey?
    private(set) var bodyKey: StorageKey?
    /// The whole body's length (bytes seen plus bytes lost in gaps).
    public var bodyLength: UInt64 = 0
    /// Set when the body was longer than the maximum kept.
    public var truncation: BodyTruncation?
    public var trailers: Headers = []
    public var chunked = false
    public var contentLength = false
    public var closeDelimited = false
    /// Microseconds (packet time) of the first and last byte.
    public var startTime: Int64 = 0
    public var endTime: Int64 = 0
    /// Bytes of this message lost from the capture.
    public var gapBytes: UInt64 = 0
    /// False when the stream ended or broke before the message did.
    public var complete = false
    public var snaplenTruncated = false
    public var parseError: ParseError?
    /// The parser found this message by resynchronising (mid-stream join or after a gap/garbage).
    public var resynchronized = false
    /// Offset of the first byte within the direction's stream.
    public var streamOffset: UInt64 = 0
    /// Which framing fields the head has (`HTTPHeadParser.mask*` bits: Transfer-Encoding,
    /// Content-Length, Connection, Upgrade, Expect), so framing decisions skip scanning the
    /// headers for fields that are not there. All bits set means unknown: scan.
    var fieldMask: UInt8 = 0xff
    /// The Transfer-Encoding / Content-Length reading of the head, worked out once by the stream
    /// parser (and shared by repeats of the head); nil: not worked out.
    var fieldFraming: FieldFraming?
    /// `HTTPHeadParser.token*` bits: the Connection field's `close` and `keep-alive` tokens, when
    /// `tokensKnown` is set.
    var connectionTokens: UInt8 = 0

    /// `fieldFraming`, worked out now when the parser did not.
    var framing: FieldFraming { fieldFraming ?? HTTPHeadParser.fieldFraming(headers, mask: fieldMask) }

    /// Whether the Connection fields have `token` (`HTTPHeadParser.tokenClose` or `tokenKeepAlive`).
    func hasConnectionToken(_ token: UInt8) -> Bool {
        if connectionTokens & HTTPHeadParser.tokensKnown != 0 { return connectionTokens & token != 0 }
        guard fieldMask & HTTPHeadParser.maskConnection != 0 else { return false }
        return headers.containsToken("connection", token == HTTPHeadParser.tokenClose ? "close" : "keep-alive")
    }

    /// False when the head has no Connection field (known from parsing it), so a token lookup
    /// there can be skipped.
    public var mayHaveConnectionField: Bool { fieldMask & HTTPHeadParser.maskConnection != 0 }

    public init(isRequest: Bool) { self.isRequest = isRequest }

    /// Notes the storage keys of `headers` and `body` (the parser calls it when the message is done;
    /// setting either field again forgets its key).
    func noteStorage() {
        headersKey = StorageKey(headers)
        bodyKey = StorageKey(body)
    }
}

/// Collects a body up to a maximum; past it, counts and SHA-256-digests the rest.
///
/// Given a `candidate` (the previous body of the same direction), bytes equal to it are compared,
/// not copied: a body that repeats the candidate exactly comes out as the candidate's own array
/// (no allocation, and the log writer recognises the storage without hashing it). At the first
/// differing byte the matched prefix is copied and collection goes on as usual.
struct BodyAccumulator {
    private var bytes: [UInt8] = []
    var length: UInt64 = 0
    var cut = false
    /// Boxed: the digest state is large, and an accumulator is made for every message.
    private var hasher: Digest?

    private final class Digest {
        var sha = SHA256()
    }
    let maximum: Int
    private var candidate: [UInt8]
    /// Bytes so far equal to `candidate`'s first `matched` (and not copied into `bytes`).
    private var matched = 0
    private var matching: Bool

    /// Candidates longer than this are not kept (a copy per connection and direction stays small).
    static let maxCandidate = 16 << 10

    init(maximum: Int, candidate: [UInt8] = []) {
        self.maximum = maximum
        matching = !candidate.isEmpty && candidate.count <= Self.maxCandidate && candidate.count <= maximum
        self.candidate = matching ? candidate : []
    }

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        if matching {
            let n = bytes.count
            if n == 0 { return }
            if n <= candidate.count - matched,
                candidate.withUnsafeBytes({ memcmp($0.baseAddress! + matched, bytes.baseAddress!, n) == 0 })
            {
                matched += n
                length += UInt64(n)
                return
            }
            stopMatching()
        }
        length += UInt64(bytes.count)
        if cut { return }
        if hasher == nil {
            let room = maximum - self.bytes.count
            if bytes.count <= room {
                self.bytes.append(contentsOf: bytes)
                return
            }
            self.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<room]))
            let h = Digest()
            self.bytes.withUnsafeBytes { h.sha.update(bufferPointer: $0) }
            h.sha.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[room...]))
            hasher = h
        } else {
            hasher!.sha.update(bufferPointer: bytes)
        }
    }

    /// The bytes matched so far become the kept bytes (the body differs from the candidate).
    private mutating func stopMatching() {
        matching = false
        bytes = Array(candidate[0..<matched])
        candidate = []
    }

    /// Bytes lost in a gap: counted, and nothing after them is kept (never glue across a hole).
    mutating func lose(_ count: Int) {
        if matching { stopMatching() }
        length += UInt64(count)
        cut = true
        hasher = nil
    }

    /// The body kept (the candidate itself when the body repeated it whole).
    var kept: [UInt8] {
        guard matching else { return bytes }
        return matched == candidate.count ? candidate : Array(candidate[0..<matched])
    }

    var truncation: BodyTruncation? {
        guard let hasher, !cut else { return nil }
        return BodyTruncation(originalLength: length, sha256: Array(hasher.sha.finalize()))
    }
}

extension ExchangeRecordWriter {
    /// Writes `m` as the exchange's final response, after the `interim` ones.
    public mutating func response(_ m: HTTPMessage, interim: [InterimResponse]) {
        if let headersKey = m.headersKey, let bodyKey = m.bodyKey {
            unowned(unsafe) let m = m
            response(
                status: m.status, reason: m.reason, version: m.version, headersKey: headersKey, headers: { m.headers },
                bodyKey: bodyKey, body: { m.body }, bodyTruncation: m.truncation, trailers: m.trailers,
                interim: interim)
            return
        }
        response(
            status: m.status, reason: m.reason, version: m.version, headers: m.headers, body: m.body,
            bodyTruncation: m.truncation, trailers: m.trailers, interim: interim)
    }
}
