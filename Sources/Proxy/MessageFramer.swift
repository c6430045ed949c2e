import Capture
import HarnessCore
internal import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Frames the HTTP/1.x messages of one direction of a live connection from its bytes,
/// streaming: a head, body slices of the buffers that arrived (never accumulated, so a 1 GB body
/// passes in bounded memory), the end with its trailers. The proxy's requests from clients and
/// responses from upstreams both go through it; heads are read by the capture's head parser.
///
/// Pure logic over `ByteBuffer`s: no channel, no allocation per body slice. Bytes are buffered
/// only while a head, a chunk-size line or the trailers are split across reads.
struct MessageFramer {
    enum Role { case request, response }

    enum Part {
        /// A request head, a final response head, or a `101`.
        case head(HTTPMessage)
        /// An interim `1xx` response (not `101`): recorded, not forwarded.
        case interim(HTTPMessage)
        case body(ByteBuffer)
        /// The message ended; trailers of a chunked body.
        case end(Headers)
    }

    struct Failure: Error, CustomStringConvertible {
        var message: String
        /// The head (or trailer section) is longer than the limit: 431 for a request.
        var tooLarge = false
        var description: String { message }
    }

    private enum State: Equatable {
        case head
        case body(UInt64)
        case chunkSize
        case chunkData(UInt64)
        case chunkDataEnd
        case trailers
        case close
        /// After a 101, a CONNECT or an Upgrade request: the rest is not HTTP.
        case stopped
        /// After a failure: nothing more is framed.
        case failed
    }

    let role: Role
    /// The longest head (or trailer section) accepted.
    let maxHeadBytes: Int
    private var state = State.head
    private var pending: ByteBuffer?
    private var lastHeaders: Headers = []
    /// Response role: the methods of the requests sent and not answered yet, oldest first.
    private var methods: [String] = []
    /// The message that ends switches protocols: framing stops after it.
    private var stopsAfter = false
    /// How far (from the reader index) an incomplete head or trailer section was searched for
    /// its empty line: the next read resumes there (a head arriving a byte at a time is not
    /// rescanned from its start at every read).
    private var scanned = 0

    init(role: Role, maxHeadBytes: Int = 80 << 10) {
        self.role = role
        self.maxHeadBytes = maxHeadBytes
    }

    /// A request with `method` went out: the next final response answers it (a response to
    /// HEAD has no body).
    mutating func expectResponse(to method: String) { methods.append(method) }

    /// True while a close-delimited body is being read: the connection's end ends it.
    var readsUntilClose: Bool { state == .close }
    /// True after a `101`, a CONNECT or an Upgrade request: the rest of the stream is not HTTP.
    var isStopped: Bool { state == .stopped }
    /// True between messages with nothing of the next one buffered.
    var isIdle: Bool { state == .head && (pending?.readableBytes ?? 0) == 0 }
    /// True while part of a message has been read and its end has not.
    var inMessage: Bool {
        switch state {
        case .head: return (pending?.readableBytes ?? 0) > 0
        case .stopped, .failed: return false
        default: return true
        }
    }

    /// Frames `incoming`, appending what it completes to `parts`. After a failure, nothing more.
    mutating func feed(_ incoming: ByteBuffer, into parts: inout [Part]) throws {
        if state == .failed { return }
        var buf: ByteBuffer
        if var p = pending {
            pending = nil
            p.writeImmutableBuffer(incoming)
            buf = p
        } else {
            buf = incoming
        }
        defer {
            if buf.readableBytes > 0 {
                if buf.readerIndex > 4096 { buf.discardReadBytes() }
                pending = buf
            }
        }
        do {
            try frame(&buf, into: &parts)
        } catch {
            state = .failed
            buf.moveReaderIndex(forwardBy: buf.readableBytes)
            throw error
        }
    }

    private mutating func frame(_ buf: inout ByteBuffer, into parts: inout [Part]) throws {
        while buf.readableBytes > 0 {
            switch state {
            case .head:
                guard try head(&buf, into: &parts) else { return }
            case .body(let remaining):
                let take = Int(min(remaining, UInt64(buf.readableBytes)))
                if let slice = buf.readSlice(length: take) { parts.append(.body(slice)) }
                if remaining == UInt64(take) {
                    ended(into: &parts, [])
                } else {
                    state = .body(remaining - UInt64(take))
                }
            case .close:
                if let slice = buf.readSlice(length: buf.readableBytes) { parts.append(.body(slice)) }
            case .chunkSize:
                guard try chunkSize(&buf) else { return }
            case .chunkData(let remaining):
                let take = Int(min(remaining, UInt64(buf.readableBytes)))
                if let slice = buf.readSlice(length: take) { parts.append(.body(slice)) }
                state = remaining == UInt64(take) ? .chunkDataEnd : .chunkData(remaining - UInt64(take))
            case .chunkDataEnd:
                let first = buf.getInteger(at: buf.readerIndex, as: UInt8.self)
                if first == 0x0a {
                    buf.moveReaderIndex(forwardBy: 1)
                } else if first == 0x0d {
                    guard buf.readableBytes >= 2 else { return }
                    guard buf.getInteger(at: buf.readerIndex + 1, as: UInt8.self) == 0x0a else {
                        throw Failure(message: "chunk data not followed by CRLF")
                    }
                    buf.moveReaderIndex(forwardBy: 2)
                } else {
                    throw Failure(message: "chunk data not followed by CRLF")
                }
                state = .chunkSize
            case .trailers:
                guard try trailers(&buf, into: &parts) else { return }
            case .stopped, .failed:
                return
            }
        }
    }

    /// The connection ended: a close-delimited body ends here (true). Anything else in progress
    /// is cut short (false).
    mutating func finish(into parts: inout [Part]) -> Bool {
        switch state {
        case .close:
            state = .head
            parts.append(.end([]))
            return true
        case .head:
            return pending == nil
        case .stopped:
            return true
        default:
            return false
        }
    }

    /// The bytes after the head that stopped framing (a tunnel's first bytes), taken once.
    mutating func takeLeftover() -> ByteBuffer? {
        defer { pending = nil }
        return pending
    }

    // MARK: pieces

    private mutating func ended(into parts: inout [Part], _ trailers: Headers) {
        parts.append(.end(trailers))
        state = stopsAfter ? .stopped : .head
        stopsAfter = false
    }

    /// The index just past the next LF at or after `from` (relative to the reader index), or nil.
    private static func lineEnd(_ buf: ByteBuffer, from: Int) -> Int? {
        buf.withUnsafeReadableBytes { raw -> Int? in
            guard from < raw.count, let base = raw.baseAddress,
                let hit = memchr(base + from, 0x0a, raw.count - from)
            else { return nil }
            return base.distance(to: UnsafeRawPointer(hit)) + 1
        }
    }

    /// The end (past its empty line) of a section of lines starting at the reader index, and
    /// where that empty line starts; nil while incomplete (`scanned` then says where the last,
    /// incomplete line starts, for the next call).
    private mutating func sectionEnd(_ buf: ByteBuffer) -> (linesEnd: Int, end: Int)? {
        var start = scanned
        while let next = Self.lineEnd(buf, from: start) {
            let length = next - start
            if length == 1
                || (length == 2 && buf.getInteger(at: buf.readerIndex + start, as: UInt8.self) == 0x0d)
            {
                scanned = 0
                return (start, next)
            }
            start = next
        }
        scanned = start
        return nil
    }

    private mutating func head(_ buf: inout ByteBuffer, into parts: inout [Part]) throws -> Bool {
        // Empty lines before a message are skipped (RFC 9112 2.2, as llhttp does).
        while let b = buf.getInteger(at: buf.readerIndex, as: UInt8.self), b == 0x0d || b == 0x0a {
            if b == 0x0d && buf.readableBytes < 2 { return false }
            buf.moveReaderIndex(forwardBy: 1)
        }
        guard buf.readableBytes > 0 else { return false }
        guard let (linesEnd, end) = sectionEnd(buf) else {
            if buf.readableBytes > maxHeadBytes {
                throw Failure(message: "head longer than \(maxHeadBytes) bytes", tooLarge: true)
            }
            return false
        }
        if end > maxHeadBytes { throw Failure(message: "head longer than \(maxHeadBytes) bytes", tooLarge: true) }
        let previous = lastHeaders
        let isRequest = role == .request
        let parsed = buf.withUnsafeReadableBytes { raw in
            let bytes = UnsafeRawBufferPointer(rebasing: raw[0..<linesEnd])
            return isRequest
                ? HTTPHeadReader.request(bytes, previous: previous) : HTTPHeadReader.response(bytes, previous: previous)
        }
        let m: HTTPMessage
        switch parsed {
        case .success(let v): m = v
        case .failure(let f): throw Failure(message: f.message)
        }
        buf.moveReaderIndex(forwardBy: end)
        lastHeaders = m.headers
        let mode: HTTPBodyMode
        if isRequest {
            if HTTPHeadReader.hasLengthAndCoding(m) { throw Failure(message: "Content-Length with Transfer-Encoding") }
            switch HTTPHeadReader.requestBodyMode(m) {
            case .success(let v): mode = v
            case .failure(let f): throw Failure(message: f.message)
            }
            // After CONNECT or an Upgrade request the connection may switch protocols: the bytes
            // after this request are not framed (the handler decides what they are).
            stopsAfter = m.method == "CONNECT" || Self.asksUpgrade(m)
        } else {
            if m.status < 200 && m.status != 101 {
                parts.append(.interim(m))
                return true
            }
            let method = methods.isEmpty ? nil : methods.removeFirst()
            switch HTTPHeadReader.responseBodyMode(m, requestMethod: method) {
            case .success(let v): mode = v
            case .failure(let f): throw Failure(message: f.message)
            }
        }
        parts.append(.head(m))
        switch mode {
        case .none:
            ended(into: &parts, [])
        case .length(let n):
            m.contentLength = true
            state = .body(n)
        case .chunked:
            m.chunked = true
            state = .chunkSize
        case .close:
            m.closeDelimited = true
            state = .close
        case .tunnel:
            stopsAfter = true
            ended(into: &parts, [])
        }
        return true
    }

    /// An Upgrade field and `upgrade` in Connection (llhttp's condition for stopping).
    static func asksUpgrade(_ m: HTTPMessage) -> Bool {
        m.headers.has("Upgrade") && m.headers.containsToken("connection", "upgrade")
    }

    private mutating func chunkSize(_ buf: inout ByteBuffer) throws -> Bool {
        guard let end = Self.lineEnd(buf, from: 0) else {
            if buf.readableBytes > 4096 { throw Failure(message: "chunk size line too long") }
            return false
        }
        let line = buf.withUnsafeReadableBytes { raw in
            HTTPHeadReader.chunkSize(UnsafeRawBufferPointer(rebasing: raw[0..<(end - 1)]))
        }
        guard let size = line else { throw Failure(message: "bad chunk size") }
        buf.moveReaderIndex(forwardBy: end)
        state = size == 0 ? .trailers : .chunkData(size)
        return true
    }

    private mutating func trailers(_ buf: inout ByteBuffer, into parts: inout [Part]) throws -> Bool {
        guard let (linesEnd, end) = sectionEnd(buf) else {
            if buf.readableBytes > maxHeadBytes {
                throw Failure(message: "trailers longer than \(maxHeadBytes) bytes", tooLarge: true)
            }
            return false
        }
        var fields: Headers = []
        if linesEnd > 0 {
            let parsed = buf.withUnsafeReadableBytes { raw in
                HTTPHeadReader.fields(UnsafeRawBufferPointer(rebasing: raw[0..<linesEnd]))
            }
            switch parsed {
            case .success(let f): fields = f
            case .failure(let f): throw Failure(message: f.message)
            }
        }
        buf.moveReaderIndex(forwardBy: end)
        ended(into: &parts, fields)
        return true
    }
}
