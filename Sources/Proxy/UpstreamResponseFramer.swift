import Capture
import HarnessCore
internal import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Frames the responses of one upstream connection from its bytes, streaming: a head, body
/// slices of the buffers that arrived (never accumulated, so a 1 GB download passes in bounded
/// memory), the end with its trailers. Heads are read by the capture's head parser.
///
/// Pure logic over `ByteBuffer`s: no channel, no allocation per body slice. Bytes are buffered
/// only while a head, a chunk-size line or the trailers are split across reads.
struct UpstreamResponseFramer {
    enum Part {
        /// The final response head (or a `101`).
        case head(HTTPMessage)
        /// An interim `1xx` response (not `101`): recorded, not forwarded.
        case interim(HTTPMessage)
        case body(ByteBuffer)
        /// The response ended; trailers of a chunked body.
        case end(Headers)
    }

    struct Failure: Error, CustomStringConvertible {
        var message: String
        var description: String { "malformed upstream response: \(message)" }
    }

    private enum State: Equatable {
        case head
        case body(UInt64)
        case chunkSize
        case chunkData(UInt64)
        case chunkDataEnd
        case trailers
        case close
        case tunnel
    }

    /// The methods of the requests sent and not answered yet, oldest first (a response to HEAD
    /// has no body).
    private var methods: [String] = []
    /// The longest head (or trailer section, or chunk-size line) buffered before failing.
    let maxHeadBytes: Int
    private var state = State.head
    private var pending: ByteBuffer?
    private var lastHeaders: Headers = []

    init(maxHeadBytes: Int = 80 << 10) { self.maxHeadBytes = maxHeadBytes }

    /// A request with `method` went out: the next final response answers it.
    mutating func expectResponse(to method: String) { methods.append(method) }

    /// True while a close-delimited body is being read: the connection's end ends it.
    var readsUntilClose: Bool { state == .close }
    /// True after a `101`: the rest of the stream is not HTTP.
    var isTunnel: Bool { state == .tunnel }
    /// True between responses (nothing of one read yet).
    var isIdle: Bool { state == .head && (pending?.readableBytes ?? 0) == 0 }

    /// Frames `incoming`, appending what it completes to `parts`.
    mutating func feed(_ incoming: ByteBuffer, into parts: inout [Part]) throws {
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
        while buf.readableBytes > 0 {
            switch state {
            case .head:
                guard try head(&buf, into: &parts) else { return }
            case .body(let remaining):
                let take = Int(min(remaining, UInt64(buf.readableBytes)))
                if let slice = buf.readSlice(length: take) { parts.append(.body(slice)) }
                if remaining == UInt64(take) {
                    state = .head
                    parts.append(.end([]))
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
            case .tunnel:
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
        case .tunnel:
            return true
        default:
            return false
        }
    }

    /// The bytes after a `101` head (the tunnel's first bytes), taken once.
    mutating func takeLeftover() -> ByteBuffer? {
        defer { pending = nil }
        return pending
    }

    // MARK: pieces

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
    /// where that empty line starts; nil while incomplete.
    private static func sectionEnd(_ buf: ByteBuffer) -> (linesEnd: Int, end: Int)? {
        var start = 0
        while let next = lineEnd(buf, from: start) {
            let length = next - start
            if length == 1
                || (length == 2 && buf.getInteger(at: buf.readerIndex + start, as: UInt8.self) == 0x0d)
            {
                return (start, next)
            }
            start = next
        }
        return nil
    }

    private mutating func head(_ buf: inout ByteBuffer, into parts: inout [Part]) throws -> Bool {
        // Empty lines before a response are skipped (as llhttp does).
        while let b = buf.getInteger(at: buf.readerIndex, as: UInt8.self), b == 0x0d || b == 0x0a {
            if b == 0x0d && buf.readableBytes < 2 { return false }
            buf.moveReaderIndex(forwardBy: 1)
        }
        guard buf.readableBytes > 0 else { return false }
        guard let (linesEnd, end) = Self.sectionEnd(buf) else {
            if buf.readableBytes > maxHeadBytes { throw Failure(message: "head longer than \(maxHeadBytes) bytes") }
            return false
        }
        let parsed = buf.withUnsafeReadableBytes { raw in
            HTTPHeadReader.response(UnsafeRawBufferPointer(rebasing: raw[0..<linesEnd]), previous: lastHeaders)
        }
        buf.moveReaderIndex(forwardBy: end)
        let m: HTTPMessage
        switch parsed {
        case .success(let v): m = v
        case .failure(let f): throw Failure(message: f.message)
        }
        lastHeaders = m.headers
        if m.status < 200 && m.status != 101 {
            parts.append(.interim(m))
            return true
        }
        let method = methods.isEmpty ? nil : methods.removeFirst()
        let mode: HTTPBodyMode
        switch HTTPHeadReader.responseBodyMode(m, requestMethod: method) {
        case .success(let v): mode = v
        case .failure(let f): throw Failure(message: f.message)
        }
        parts.append(.head(m))
        switch mode {
        case .none:
            parts.append(.end([]))
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
            parts.append(.end([]))
            state = .tunnel
        }
        return true
    }

    private mutating func chunkSize(_ buf: inout ByteBuffer) throws -> Bool {
        guard let end = Self.lineEnd(buf, from: 0) else {
            if buf.readableBytes > 4096 { throw Failure(message: "chunk size line too long") }
            return false
        }
        let line = buf.withUnsafeReadableBytes { raw in HTTPHeadReader.chunkSize(UnsafeRawBufferPointer(rebasing: raw[0..<(end - 1)])) }
        guard let size = line else { throw Failure(message: "bad chunk size") }
        buf.moveReaderIndex(forwardBy: end)
        state = size == 0 ? .trailers : .chunkData(size)
        return true
    }

    private mutating func trailers(_ buf: inout ByteBuffer, into parts: inout [Part]) throws -> Bool {
        guard let (linesEnd, end) = Self.sectionEnd(buf) else {
            if buf.readableBytes > maxHeadBytes { throw Failure(message: "trailers longer than \(maxHeadBytes) bytes") }
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
        state = .head
        parts.append(.end(fields))
        return true
    }
}
