public import HarnessCore

/// The head parser for callers outside the capture that frame a live stream themselves (the
/// recording proxy's upstream side): one complete head from bytes, the body mode it implies,
/// and trailer fields. The same code the capture's framer runs, so both read heads alike.
public enum HTTPHeadReader {
    /// Why a head was rejected.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Parses a response head: `bytes` holds the status line and the field lines, each ending in
    /// LF (the empty line that ends the head excluded). `previous` is the connection's last head:
    /// the Strings of fields whose bytes repeat are reused (and the whole array when all repeat).
    public static func response(_ bytes: UnsafeRawBufferPointer, previous: Headers) -> Result<HTTPMessage, Failure> {
        head(bytes, isRequest: false, previous: previous)
    }

    /// Parses a request head, as `response` does a response head.
    public static func request(_ bytes: UnsafeRawBufferPointer, previous: Headers) -> Result<HTTPMessage, Failure> {
        head(bytes, isRequest: true, previous: previous)
    }

    private static func head(_ bytes: UnsafeRawBufferPointer, isRequest: Bool, previous: Headers) -> Result<HTTPMessage, Failure> {
        var m = HTTPMessage(isRequest: isRequest)
        let p = bytes.bindMemory(to: UInt8.self)
        var lf = 0
        while lf < p.count && p[lf] != 0x0a { lf += 1 }
        if let e = HTTPHeadParser.startLine(p, 0, HTTPHeadParser.trimCR(p, 0, lf), into: &m) {
            return .failure(Failure(message: e))
        }
        if lf < p.count {
            var mask: UInt8 = 0
            if let e = HTTPHeadParser.fields(p, lf + 1, p.count, into: &m.headers, mask: &mask, previous: previous) {
                return .failure(Failure(message: e))
            }
            m.fieldMask = mask
        } else {
            m.fieldMask = 0
        }
        return .success(m)
    }

    /// Field lines (trailers), each ending in LF, the final empty line excluded.
    public static func fields(_ bytes: UnsafeRawBufferPointer) -> Result<Headers, Failure> {
        var headers: Headers = []
        if let e = HTTPHeadParser.fields(bytes.bindMemory(to: UInt8.self), 0, bytes.count, into: &headers) {
            return .failure(Failure(message: e))
        }
        return .success(headers)
    }

    /// The size on a chunk-size line (`line` up to and without its LF); nil when it is not one.
    public static func chunkSize(_ line: UnsafeRawBufferPointer) -> UInt64? {
        let p = line.bindMemory(to: UInt8.self)
        return HTTPHeadParser.chunkSize(p, 0, p.count)
    }

    /// How the body of request `m` is delimited (Content-Length or chunked); a failure for
    /// framing headers that cannot be read, or a Transfer-Encoding that does not end in chunked.
    public static func requestBodyMode(_ m: HTTPMessage) -> Result<HTTPBodyMode, Failure> {
        HTTPHeadParser.requestBodyMode(m.framing).mapError { Failure(message: $0.message) }
    }

    /// Whether request `m` has both Content-Length and Transfer-Encoding (a smuggling attempt a
    /// proxy refuses, as llhttp does).
    public static func hasLengthAndCoding(_ m: HTTPMessage) -> Bool {
        let both = HTTPHeadParser.maskTransferEncoding | HTTPHeadParser.maskContentLength
        guard m.fieldMask & both == both else { return false }
        return m.headers.has("Content-Length") && m.headers.has("Transfer-Encoding")
    }

    /// How the body of response `m` to a `requestMethod` request is delimited; a failure for
    /// framing headers that contradict each other or cannot be read (e.g. two Content-Lengths).
    public static func responseBodyMode(_ m: HTTPMessage, requestMethod: String?) -> Result<HTTPBodyMode, Failure> {
        HTTPHeadParser.responseBodyMode(status: m.status, requestMethod: requestMethod, framing: { m.framing })
            .mapError { Failure(message: $0.message) }
    }
}
