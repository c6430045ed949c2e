#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import HarnessCore
private import Crypto

/// The start line and header fields of a message, with what parsing them worked out.
///
/// One object is shared by every message whose head had the same bytes: keep-alive traffic
/// repeats whole heads, and the stream parser gives each repeat the last head's object (one
/// reference, where copying the fields was a retain and a release of each). Shared heads are never
/// changed: a change made through a message copies its head first (`HTTPMessage.uniqueHead`).
final class MessageHead: @unchecked Sendable {
    /// Keeps the fields off the cache line of the object's reference count (stored properties are
    /// laid out in order, after a 16-byte header): the capture thread counts a shared head once per
    /// message while the log writer's thread reads its fields, and with both on one line every
    /// count moved the line between the cores.
    private let padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0)
    var method = ""
    var target = ""
    var status: UInt16 = 0
    var reason = ""
    var version = HTTPVersionNumber.http11
    var headers: Headers = [] { didSet { headersKey = nil } }
    /// The storage key of `headers`, for the log writer to find them in its caches without
    /// touching the array (nil when not worked out or changed since).
    var headersKey: StorageKey?
    /// Which framing fields the head has (`HTTPHeadParser.mask*` bits: Transfer-Encoding,
    /// Content-Length, Connection, Upgrade, Expect), so framing decisions skip scanning the
    /// headers for fields that are not there. All bits set means unknown: scan.
    var fieldMask: UInt8 = 0xff
    /// The Transfer-Encoding / Content-Length reading of the head, worked out once by the stream
    /// parser; nil: not worked out.
    var fieldFraming: FieldFraming?
    /// `HTTPHeadParser.token*` bits: the Connection field's `close` and `keep-alive` tokens, when
    /// `tokensKnown` is set.
    var connectionTokens: UInt8 = 0

    init() {}

    func copy() -> MessageHead {
        let h = MessageHead()
        h.method = method
        h.target = target
        h.status = status
        h.reason = reason
        h.version = version
        h.headers = headers
        h.headersKey = headersKey
        h.fieldMask = fieldMask
        h.fieldFraming = fieldFraming
        h.connectionTokens = connectionTokens
        return h
    }
}

/// The fields of a message that most messages leave empty (one per message at most, never shared).
final class MessageExtras {
    var truncation: BodyTruncation?
    var trailers: Headers = []
    var parseError: ParseError?
}

/// One HTTP/1.x request or response as the stream parser found it, with how it was delimited and
/// what was missing.
///
/// A reference type: the parser fills one object per message and the connection, the pairing and
/// the log writer's batch pass it on without copying its fields (a value type was copied, with a
/// retain per field, five to eight times per message). The parser stops mutating a message once its
/// `.message` (or `.whole`) event is out, and only then is it handed to another thread (hence
/// `@unchecked`).
/// The start line and fields live in a `MessageHead` that repeats of the same head share.
public final class HTTPMessage: @unchecked Sendable {
    public var isRequest: Bool
    /// The start line and fields (shared with repeats of the same head: read freely, change
    /// through the accessors below, which copy a shared head first).
    private(set) var head: MessageHead
    /// The body after chunk decoding, at most the configured maximum.
    public var body: [UInt8] = [] { didSet { bodyKey = nil } }
    /// The storage key of `body` (`noteStorage()`), for the log writer to find it in its caches
    /// without touching the array; nil when not worked out or changed since.
    private(set) var bodyKey: StorageKey?
    /// The whole body's length (bytes seen plus bytes lost in gaps).
    public var bodyLength: UInt64 = 0
    /// What few messages have (trailers, a cut body, a parse error), kept apart so that making
    /// and freeing a message does not initialise and destroy them one by one.
    private var extras: MessageExtras?
    /// Set when the body was longer than the maximum kept.
    public var truncation: BodyTruncation? {
        get { extras?.truncation }
        set { if newValue != nil || extras != nil { uniqueExtras().truncation = newValue } }
    }
    public var trailers: Headers {
        get { extras?.trailers ?? [] }
        set { if !newValue.isEmpty || extras != nil { uniqueExtras().trailers = newValue } }
    }
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
    public var parseError: ParseError? {
        get { extras?.parseError }
        set { if newValue != nil || extras != nil { uniqueExtras().parseError = newValue } }
    }
    /// The parser found this message by resynchronising (mid-stream join or after a gap/garbage).
    public var resynchronized = false
    /// Offset of the first byte within the direction's stream.
    public var streamOffset: UInt64 = 0

    public init(isRequest: Bool) {
        self.isRequest = isRequest
        head = MessageHead()
    }

    /// A message whose head is `head` (shared, not copied).
    init(isRequest: Bool, head: MessageHead) {
        self.isRequest = isRequest
        self.head = head
    }

    @inline(__always)
    private func uniqueExtras() -> MessageExtras {
        if let e = extras { return e }
        let e = MessageExtras()
        extras = e
        return e
    }

    /// The head, copied first when another message shares it.
    @inline(__always)
    private func uniqueHead() -> MessageHead {
        if !isKnownUniquelyReferenced(&head) { head = head.copy() }
        return head
    }

    public var method: String {
        get { head.method }
        _modify { let h = uniqueHead(); yield &h.method }
    }
    public var target: String {
        get { head.target }
        _modify { let h = uniqueHead(); yield &h.target }
    }
    public var status: UInt16 {
        get { head.status }
        _modify { let h = uniqueHead(); yield &h.status }
    }
    public var reason: String {
        get { head.reason }
        _modify { let h = uniqueHead(); yield &h.reason }
    }
    public var version: HTTPVersionNumber {
        get { head.version }
        _modify { let h = uniqueHead(); yield &h.version }
    }
    public var headers: Headers {
        get { head.headers }
        _modify { let h = uniqueHead(); yield &h.headers }
    }
    var fieldMask: UInt8 {
        get { head.fieldMask }
        _modify { let h = uniqueHead(); yield &h.fieldMask }
    }
    var fieldFraming: FieldFraming? {
        get { head.fieldFraming }
        _modify { let h = uniqueHead(); yield &h.fieldFraming }
    }
    var connectionTokens: UInt8 {
        get { head.connectionTokens }
        _modify { let h = uniqueHead(); yield &h.connectionTokens }
    }
    /// The storage key of `headers` (see `MessageHead.headersKey`).
    var headersKey: StorageKey? { head.headersKey }

    /// `fieldFraming`, worked out now when the parser did not.
    var framing: FieldFraming {
        let h = head
        return h.fieldFraming ?? HTTPHeadParser.fieldFraming(h.headers, mask: h.fieldMask)
    }

    /// Whether the Connection fields have `token` (`HTTPHeadParser.tokenClose` or `tokenKeepAlive`).
    func hasConnectionToken(_ token: UInt8) -> Bool {
        let h = head
        if h.connectionTokens & HTTPHeadParser.tokensKnown != 0 { return h.connectionTokens & token != 0 }
        guard h.fieldMask & HTTPHeadParser.maskConnection != 0 else { return false }
        return h.headers.containsToken("connection", token == HTTPHeadParser.tokenClose ? "close" : "keep-alive")
    }

    /// False when the head has no Connection field (known from parsing it), so a token lookup
    /// there can be skipped.
    public var mayHaveConnectionField: Bool { head.fieldMask & HTTPHeadParser.maskConnection != 0 }

    /// Notes the storage keys of `headers` and `body` (the parser calls it when the message is done;
    /// setting either field again forgets its key). A head shared with other messages already has
    /// its key (the parser notes it before sharing it), so a shared head is never written here.
    func noteStorage() {
        if head.headersKey == nil { uniqueHead().headersKey = StorageKey(head.headers) }
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
