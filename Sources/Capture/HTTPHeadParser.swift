internal import HarnessCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parses HTTP/1.x start lines and header sections from bytes. Pure functions, no state.
enum HTTPHeadParser {
    static let lf: UInt8 = 0x0a
    static let cr: UInt8 = 0x0d
    static let sp: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3a

    /// tchar per RFC 9110.
    @inline(__always)
    static func isToken(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5a, 0x61...0x7a: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2a, 0x2b, 0x2d, 0x2e, 0x5e, 0x5f, 0x60, 0x7c, 0x7e: return true
        default: return false
        }
    }

    /// The line `[start, end)` without its trailing CR.
    @inline(__always)
    static func trimCR(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int {
        end > start && p[end - 1] == cr ? end - 1 : end
    }

    static func string(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: p[start..<end]), as: UTF8.self)
    }

    /// `HTTP/d.d` at `start` (exactly 8 bytes).
    static func version(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> HTTPVersionNumber? {
        guard end - start == 8, p[start] == 0x48, p[start + 1] == 0x54, p[start + 2] == 0x54, p[start + 3] == 0x50,
            p[start + 4] == 0x2f, p[start + 6] == 0x2e
        else { return nil }
        let major = p[start + 5] &- 0x30
        let minor = p[start + 7] &- 0x30
        guard major == 1, minor <= 9 else { return nil }
        return HTTPVersionNumber(major: major, minor: minor)
    }

    /// Parses a start line into `message`; returns an error text when it is not one.
    static func startLine(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, into m: inout HTTPMessage) -> String? {
        if m.isRequest {
            var i = start
            while i < end && isToken(p[i]) { i += 1 }
            guard i > start, i < end, p[i] == sp else { return "bad request method" }
            let methodEnd = i
            i += 1
            let targetStart = i
            while i < end && p[i] != sp { i += 1 }
            guard i > targetStart, i < end else { return "bad request line" }
            let targetEnd = i
            guard let v = version(p, i + 1, end) else { return "bad HTTP version in request line" }
            for j in targetStart..<targetEnd where p[j] < 0x21 || p[j] == 0x7f { return "bad request target" }
            m.method = string(p, start, methodEnd)
            m.target = string(p, targetStart, targetEnd)
            m.version = v
        } else {
            guard end - start >= 12, let v = version(p, start, start + 8), p[start + 8] == sp else {
                return "bad status line"
            }
            var status: UInt16 = 0
            for j in (start + 9)..<(start + 12) {
                let d = p[j] &- 0x30
                guard d <= 9 else { return "bad status code" }
                status = status * 10 + UInt16(d)
            }
            guard status >= 100 else { return "bad status code" }
            if end > start + 12 {
                guard p[start + 12] == sp else { return "bad status line" }
                m.reason = string(p, start + 13, end)
            }
            m.status = status
            m.version = v
        }
        return nil
    }

    /// Parses header lines in `[start, end)` (each ending in LF, the terminating empty line excluded).
    static func fields(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, into headers: inout Headers) -> String? {
        var mask: UInt8 = 0
        return fields(p, start, end, into: &headers, mask: &mask, previous: [])
    }

    /// The size on a chunk-size line `[start, lf)` (`lf` at its LF): hex digits (at most 15),
    /// optional whitespace, then a `;extension` or the end of the line. Nil when it is not one.
    static func chunkSize(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ lf: Int) -> UInt64? {
        var size: UInt64 = 0
        var digits = 0
        var i = start
        while i < lf {
            let c = p[i]
            let v: UInt8
            switch c {
            case 0x30...0x39: v = c - 0x30
            case 0x41...0x46: v = c - 0x41 + 10
            case 0x61...0x66: v = c - 0x61 + 10
            default: v = 0xff
            }
            if v == 0xff { break }
            if digits >= 15 { return nil }
            size = size << 4 | UInt64(v)
            digits += 1
            i += 1
        }
        guard digits > 0 else { return nil }
        // After the digits: optional whitespace, then `;extension`, then CR.
        while i < lf && (p[i] == sp || p[i] == tab) { i += 1 }
        if i < lf && p[i] != 0x3b && !(p[i] == cr && i == lf - 1) { return nil }
        return size
    }

    /// Bits of `HTTPMessage.fieldMask`: which framing-relevant fields a head has.
    static let maskTransferEncoding: UInt8 = 1
    static let maskContentLength: UInt8 = 2
    static let maskConnection: UInt8 = 4
    static let maskUpgrade: UInt8 = 8
    static let maskExpect: UInt8 = 16

    /// The mask bit for a field name (case-insensitive), 0 for the others.
    @inline(__always)
    static func maskBit(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> UInt8 {
        switch end - start {
        case 17: return equalsFolded(p, start, "transfer-encoding") ? maskTransferEncoding : 0
        case 14: return equalsFolded(p, start, "content-length") ? maskContentLength : 0
        case 10: return equalsFolded(p, start, "connection") ? maskConnection : 0
        case 7: return equalsFolded(p, start, "upgrade") ? maskUpgrade : 0
        case 6: return equalsFolded(p, start, "expect") ? maskExpect : 0
        default: return 0
        }
    }

    /// ASCII case-insensitive comparison of `p[start...]` with a lowercase name of the same length.
    @inline(__always)
    static func equalsFolded(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ lower: StaticString) -> Bool {
        let n = lower.utf8CodeUnitCount
        let q = lower.utf8Start
        // `| 0x20` folds ASCII letters and leaves '-' as it is; names are tokens, so no other
        // byte folds onto a letter or '-'.
        for i in 0..<n where p[start + i] | 0x20 != q[i] { return false }
        return true
    }

    /// The text of `[start, end)`, reusing `previous` (a String of an earlier head) when it has
    /// exactly these bytes: repeated header names and values then cost a compare, not a new String.
    @inline(__always)
    static func string(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, reusing previous: String?) -> String {
        if let previous, same(previous, p, start, end) { return previous }
        return string(p, start, end)
    }

    /// Whether `previous` (a String of an earlier head) has exactly the bytes `[start, end)`.
    @inline(__always)
    static func same(_ previous: String, _ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        let n = end - start
        return previous.utf8.withContiguousStorageIfAvailable { q -> Bool in
            q.count == n && (n == 0 || memcmp(q.baseAddress!, p.baseAddress! + start, n) == 0)
        } ?? false
    }

    /// When the line at `start` is `field`'s exactly (name, colon, optional whitespace, value, then
    /// CRLF or LF), the index after it; else nil. `field` comes from an earlier head that passed
    /// validation, so equal bytes need no second validation.
    @inline(__always)
    static func repeatedLine(_ field: HeaderField, _ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, mask: inout UInt8)
        -> Int?
    {
        let nameEnd = start + field.name.utf8.count
        guard nameEnd < end, p[nameEnd] == colon, same(field.name, p, start, nameEnd) else { return nil }
        var vs = nameEnd + 1
        while vs < end && (p[vs] == sp || p[vs] == tab) { vs += 1 }
        let ve = vs + field.value.utf8.count
        guard ve < end else { return nil }
        let next: Int
        if p[ve] == lf_ {
            next = ve + 1
        } else if p[ve] == cr, ve + 1 < end, p[ve + 1] == lf_ {
            next = ve + 2
        } else {
            return nil
        }
        guard same(field.value, p, vs, ve) else { return nil }
        mask |= maskBit(p, start, nameEnd)
        return next
    }

    /// As `fields(_:_:_:into:)`, also setting `mask` bits for the framing fields seen, and reusing
    /// the Strings of `previous` (the same position of an earlier head) when the bytes are equal.
    /// A head whose fields all equal `previous`'s gets `previous` itself: no new array (keep-alive
    /// traffic repeats its heads; each array was an allocation and a free per message).
    static func fields(
        _ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, into headers: inout Headers, mask: inout UInt8,
        previous: Headers
    ) -> String? {
        var lineStart = start
        // Fields so far equal `previous[0..<k]` and are not in `headers` yet.
        var repeating = !previous.isEmpty && headers.isEmpty
        var k = 0
        while lineStart < end {
            if repeating, k < previous.count, let next = repeatedLine(previous[k], p, lineStart, end, mask: &mask) {
                // The same line as the previous head's (whose bytes were validated): no scan.
                k += 1
                lineStart = next
                continue
            }
            var lf = lineStart
            while lf < end && p[lf] != lf_ { lf += 1 }
            let lineEnd = trimCR(p, lineStart, lf)
            if lineEnd > lineStart {
                if p[lineStart] == sp || p[lineStart] == tab {
                    // obs-fold: continues the previous value.
                    if repeating {
                        headers.append(contentsOf: previous[0..<k])
                        repeating = false
                    }
                    guard !headers.isEmpty else { return "header continuation without a header" }
                    var s = lineStart
                    while s < lineEnd && (p[s] == sp || p[s] == tab) { s += 1 }
                    headers[headers.count - 1].value += " " + string(p, s, lineEnd)
                } else {
                    var c = lineStart
                    while c < lineEnd && isToken(p[c]) { c += 1 }
                    guard c > lineStart, c < lineEnd, p[c] == colon else { return "bad header field name" }
                    var vs = c + 1
                    while vs < lineEnd && (p[vs] == sp || p[vs] == tab) { vs += 1 }
                    // Trailing whitespace is kept, as sent (llhttp/SwiftNIO keep it too).
                    let ve = lineEnd
                    for j in vs..<ve where (p[j] < 0x20 && p[j] != tab) || p[j] == 0x7f {
                        return "bad character in header value"
                    }
                    mask |= maskBit(p, lineStart, c)
                    let prior = k < previous.count ? previous[k] : nil
                    if repeating {
                        // `repeatedLine` did not match this line: the head differs from here on.
                        headers.append(contentsOf: previous[0..<k])
                        repeating = false
                    }
                    headers.append(
                        HeaderField(
                            string(p, lineStart, c, reusing: prior?.name), string(p, vs, ve, reusing: prior?.value)))
                    k += 1
                }
            }
            lineStart = lf + 1
        }
        if repeating {
            if k == previous.count {
                headers = previous
            } else {
                headers.append(contentsOf: previous[0..<k])
            }
        }
        return nil
    }
    private static let lf_: UInt8 = 0x0a

    typealias BodyMode = HTTPBodyMode

    static func lowercasedCodings(_ headers: Headers) -> [Substring]? {
        var codings: [Substring] = []
        var seen = false
        for i in headers.indices where headers[i].name.caseInsensitiveEquals("transfer-encoding") {
            seen = true
            for part in headers[i].value.split(separator: ",") {
                codings.append(Substring(part.trimmedOWS().lowercased()))
            }
        }
        return seen ? codings : nil
    }

    /// The Content-Length, nil when absent; throws text when invalid or conflicting.
    static func contentLength(_ headers: Headers) -> Result<UInt64?, ParseFailure> {
        var value: UInt64?
        for i in headers.indices where headers[i].name.caseInsensitiveEquals("content-length") {
            // Read in place (a copy of the value cost a retain and a release per message).
            let failure: ParseFailure?
            if let inPlace = headers[i].value.utf8.withContiguousStorageIfAvailable({ contentLengthList($0, into: &value) }) {
                failure = inPlace
            } else {
                var copy = headers[i].value
                failure = copy.withUTF8 { contentLengthList($0, into: &value) }
            }
            if let failure { return .failure(failure) }
        }
        return .success(value)
    }

    /// One Content-Length field: a comma-separated list of equal decimal values, each with
    /// optional whitespace, all equal to `value` when it is already set.
    private static func contentLengthList(_ bytes: UnsafeBufferPointer<UInt8>, into value: inout UInt64?) -> ParseFailure? {
        var n: UInt64 = 0
        var digits = 0
        var trailing = false
        var index = 0
        while index <= bytes.count {
            let b: UInt8 = index < bytes.count ? bytes[index] : 0x2C
            index += 1
            switch b {
            case 0x30...0x39:
                if trailing { return ParseFailure("bad Content-Length") }
                let (m, o1) = n.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(b - 0x30))
                if o1 || o2 { return ParseFailure("bad Content-Length") }
                n = a
                digits += 1
            case 0x20, 0x09:
                if digits > 0 { trailing = true }
            case 0x2C:
                if digits == 0 { return ParseFailure("bad Content-Length") }
                if let v = value, v != n { return ParseFailure("conflicting Content-Length values") }
                value = n
                n = 0
                digits = 0
                trailing = false
            default:
                return ParseFailure("bad Content-Length")
            }
        }
        return nil
    }

    /// What the Transfer-Encoding and Content-Length fields of `headers` say (the `mask` bits
    /// tell which may be present).
    static func fieldFraming(_ headers: Headers, mask: UInt8 = 0xff) -> FieldFraming {
        if mask & (maskTransferEncoding | maskContentLength) == 0 { return .absent }
        if mask & maskTransferEncoding != 0, let codings = lowercasedCodings(headers) {
            return codings.last == "chunked" ? .chunked : .otherCoding
        }
        switch contentLength(headers) {
        case .failure(let e): return .invalid(e.message)
        case .success(let n): return n.map { .length($0) } ?? .absent
        }
    }

    static func requestBodyMode(_ headers: Headers, mask: UInt8 = 0xff) -> Result<BodyMode, ParseFailure> {
        requestBodyMode(fieldFraming(headers, mask: mask))
    }

    static func requestBodyMode(_ framing: FieldFraming) -> Result<BodyMode, ParseFailure> {
        switch framing {
        case .absent: .success(.none)
        case .chunked: .success(.chunked)
        case .otherCoding: .failure(ParseFailure("request Transfer-Encoding does not end in chunked"))
        case .length(let n): .success(n == 0 ? .none : .length(n))
        case .invalid(let message): .failure(ParseFailure(message))
        }
    }

    static func responseBodyMode(status: UInt16, requestMethod: String?, headers: Headers, mask: UInt8 = 0xff)
        -> Result<BodyMode, ParseFailure>
    {
        responseBodyMode(status: status, requestMethod: requestMethod) { fieldFraming(headers, mask: mask) }
    }

    /// The body mode of a response; `framing` is asked only when the status and method leave it
    /// open.
    static func responseBodyMode(status: UInt16, requestMethod: String?, framing: () -> FieldFraming)
        -> Result<BodyMode, ParseFailure>
    {
        if status == 101 { return .success(.tunnel) }
        if status < 200 || status == 204 || status == 304 { return .success(.none) }
        if requestMethod == "HEAD" { return .success(.none) }
        if requestMethod == "CONNECT" && status < 300 { return .success(.tunnel) }
        switch framing() {
        case .absent, .otherCoding: return .success(.close)
        case .chunked: return .success(.chunked)
        case .length(let n): return .success(n == 0 ? .none : .length(n))
        case .invalid(let message): return .failure(ParseFailure(message))
        }
    }

    /// Bits of `HTTPMessage.connectionTokens`.
    static let tokensKnown: UInt8 = 1
    static let tokenClose: UInt8 = 2
    static let tokenKeepAlive: UInt8 = 4

    /// The `close` and `keep-alive` tokens of the Connection fields, as `connectionTokens` bits.
    static func connectionTokens(_ headers: Headers, mask: UInt8) -> UInt8 {
        var bits = tokensKnown
        guard mask & maskConnection != 0 else { return bits }
        if headers.containsToken("connection", "close") { bits |= tokenClose }
        if headers.containsToken("connection", "keep-alive") { bits |= tokenKeepAlive }
        return bits
    }
}

/// What a head's Transfer-Encoding and Content-Length fields say about its body, before the
/// status and the request method are taken into account.
enum FieldFraming: Sendable, Equatable {
    /// Neither field.
    case absent
    /// A Transfer-Encoding ending in chunked.
    case chunked
    /// A Transfer-Encoding not ending in chunked.
    case otherCoding
    /// A valid Content-Length (and no Transfer-Encoding).
    case length(UInt64)
    /// A Content-Length that cannot be read or conflicts with another.
    case invalid(String)
}

struct ParseFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

extension StringProtocol {
    func trimmedOWS() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}

/// How a message body is delimited.
public enum HTTPBodyMode: Sendable, Equatable {
    /// No body (HEAD, 1xx, 204, 304, a request without Content-Length or chunked).
    case none
    case length(UInt64)
    case chunked
    /// Until the connection closes (responses only).
    case close
    /// The connection switched protocols (101, CONNECT 2xx): the bytes are counted, not parsed.
    case tunnel
}
