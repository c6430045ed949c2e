#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import HarnessCore

/// Frames one direction of an HTTP/1.x connection into messages, incrementally.
///
/// Feed stream bytes (`append`), gaps (`gap`) and the end (`finish`); pull events with `next()`.
/// A request's body length follows from its headers. A response's depends on the request it
/// answers, so after a response `.head` the caller must call `setBodyMode` (the connection knows
/// the method). After a CONNECT or Upgrade request the request side waits for
/// `resolveUpgrade(accepted:)`. Malformed input yields `.malformed` and the parser resynchronises
/// on the next plausible start line. Memory is bounded by `maxBufferedBytes`.
public struct HTTPStreamParser {
    public enum Role: Sendable { case request, response }

    public enum Event {
        /// A message head was parsed (body not yet). For responses, call `setBodyMode` next.
        case head(HTTPMessage)
        /// A message ended (completely, or cut short: see `complete`).
        case message(HTTPMessage)
        /// A request that ended with its head (no body): `.head` and `.message` in one event, as
        /// most requests are (one event to queue, hand out and pair instead of two).
        case whole(HTTPMessage)
        /// Bytes that are not HTTP; the parser resynchronises after them.
        case malformed(ParseError, time: Int64)
    }

    public typealias BodyMode = HTTPBodyMode

    enum State: Equatable {
        case head
        case needBodyMode
        case body(UInt64)
        case chunkSize
        case chunkData(UInt64)
        case chunkDataEnd
        case trailers
        case close
        case awaitingUpgrade
        case tunnel
        case resync
    }

    public let role: Role
    public let maxBody: Int
    public let maxBufferedBytes: Int
    private(set) var state: State
    private var buf = ParseBuffer()
    private var pos = 0
    /// Stream offset of `buf[pos]`.
    private var offset: UInt64 = 0
    private var headScan = 0
    private var appendStart = 0
    private var now: Int64 = 0
    private var oldestTime: Int64 = 0
    private var current: HTTPMessage?
    private var body: BodyAccumulator
    /// The oldest waiting event when it is the only one (the usual case: a message's end, queued
    /// behind its head): moved in and out without the array's bookkeeping and copies.
    private var queuedFirst: Event?
    /// Set while `started` frames a request's body mode: a message that ends then ended with its
    /// head, and `endedWithHead` says so instead of a queued `.message`.
    private var framingHead = false
    private var endedWithHead = false
    /// Waiting events after `queuedFirst`.
    private var queued: [Event] = []
    /// Index of the next event of `queued` to hand out (no shifting on every pop).
    private var queuedHead = 0
    /// The last head parsed and its bytes (start line to the empty line): a head with exactly these
    /// bytes shares it after one compare (keep-alive traffic repeats whole heads), and a head that
    /// differs still reuses the Strings of its equal lines. The head object, not the message: the
    /// message goes to the log writer's thread, and reading it here again would pull its cache
    /// lines back from that thread's core.
    private var lastHead: MessageHead?
    /// Empty when the last head was longer than `maxRepeatedHead` (not kept for the compare: a
    /// copy per connection and direction).
    private var lastHeadBytes: [UInt8] = []
    static let maxRepeatedHead = 8192
    private var resyncing = false
    private var snaplenPending = false
    /// Bytes after a CONNECT/101 handshake (not parsed as HTTP).
    public private(set) var tunnelBytes: UInt64 = 0
    /// Bytes thrown away while looking for the next message start.
    public private(set) var discardedBytes: UInt64 = 0

    public init(role: Role, maxBody: Int = 1 << 20, maxBufferedBytes: Int = 1 << 20, midStream: Bool = false) {
        self.role = role
        self.maxBody = maxBody
        self.maxBufferedBytes = max(maxBufferedBytes, 1024)
        self.body = BodyAccumulator(maximum: maxBody)
        self.state = midStream ? .resync : .head
        self.resyncing = midStream
    }

    private var isRequest: Bool { role == .request }

    /// How a response to `requestMethod` with this status and headers is delimited (invalid
    /// framing headers: until close).
    public static func responseBodyMode(status: UInt16, requestMethod: String?, headers: Headers) -> HTTPBodyMode {
        switch HTTPHeadParser.responseBodyMode(status: status, requestMethod: requestMethod, headers: headers) {
        case .success(let m): m
        case .failure: .close
        }
    }

    /// As `responseBodyMode(status:requestMethod:headers:)` for a parsed response head: the
    /// framing fields its head lacks are not looked for.
    public static func responseBodyMode(for m: HTTPMessage, requestMethod: String?) -> HTTPBodyMode {
        switch HTTPHeadParser.responseBodyMode(status: m.status, requestMethod: requestMethod, framing: { m.framing }) {
        case .success(let mode): mode
        case .failure: .close
        }
    }

    // MARK: input

    /// Adds stream bytes that arrived at `time` (microseconds).
    public mutating func append(_ bytes: UnsafeRawBufferPointer, time: Int64) {
        add(bytes, time: time, lending: false)
    }

    /// As `append`, but the parser may frame `bytes` where they lie instead of copying them: they
    /// must stay valid and unchanged until `settle()`, which the caller must call before pulling
    /// events with them gone (it copies what is left unparsed).
    public mutating func lend(_ bytes: UnsafeRawBufferPointer, time: Int64) {
        add(bytes, time: time, lending: true)
    }

    /// Ends the loan of the last `lend`: the bytes not parsed yet are copied.
    public mutating func settle() {
        guard buf.isLent else { return }
        buf.keep(from: pos)
        headScan = max(0, headScan - pos)
        appendStart = max(0, appendStart - pos)
        pos = 0
    }

    private mutating func add(_ bytes: UnsafeRawBufferPointer, time: Int64, lending: Bool) {
        now = time
        guard !bytes.isEmpty else { return }
        if pos == buf.count {
            // Nothing buffered: bodies and tunnels take the bytes without copying them twice.
            buf.removeAll(keepingCapacity: true)
            pos = 0
            headScan = 0
            oldestTime = time
            switch state {
            case .tunnel:
                tunnelBytes += UInt64(bytes.count)
                offset += UInt64(bytes.count)
                return
            case .body(let remaining) where remaining > 0:
                let take = Int(min(remaining, UInt64(bytes.count)))
                body.add(UnsafeRawBufferPointer(rebasing: bytes[0..<take]))
                offset += UInt64(take)
                state = .body(remaining - UInt64(take))
                if remaining == UInt64(take) { finishMessage() }
                if take == bytes.count { return }
                appendStart = 0
                let rest = UnsafeRawBufferPointer(rebasing: bytes[take...])
                if lending { buf.lend(rest) } else { buf.append(contentsOf: rest) }
                return
            case .close:
                body.add(bytes)
                offset += UInt64(bytes.count)
                return
            default:
                break
            }
        } else if pos > 65536 && pos > buf.count / 2 {
            buf.removeFirst(pos)
            headScan -= pos
            pos = 0
        }
        appendStart = buf.count
        if lending && buf.count == 0 { buf.lend(bytes) } else { buf.append(contentsOf: bytes) }
    }

    /// Marks the message in progress as cut by the capture's snaplen.
    public mutating func noteSnaplenTruncation() {
        snaplenPending = true
        if current != nil { current!.snaplenTruncated = true }
    }

    /// `count` bytes of the stream are missing here.
    public mutating func gap(_ count: Int, time: Int64) {
        now = time
        guard count > 0 else { return }
        // Whatever is buffered comes before the hole: parse it first.
        let buffered = buf.count - pos
        switch state {
        case .tunnel:
            tunnelBytes += UInt64(buffered + count)
            dropBuffer()
            offset += UInt64(count)
        case .body(let remaining) where buffered == 0 && UInt64(count) <= remaining:
            body.lose(count)
            current?.gapBytes += UInt64(count)
            offset += UInt64(count)
            state = .body(remaining - UInt64(count))
            if remaining == UInt64(count) { finishMessage() }
        case .close where buffered == 0:
            body.lose(count)
            current?.gapBytes += UInt64(count)
            offset += UInt64(count)
        case .awaitingUpgrade:
            offset += UInt64(count)
        default:
            if current != nil {
                current!.gapBytes += UInt64(count)
                endMessage(complete: false)
            }
            discardedBytes += UInt64(buffered)
            dropBuffer()
            offset += UInt64(count)
            state = .resync
            resyncing = true
        }
    }

    /// The direction ended (FIN, RST, timeout or end of capture).
    public mutating func finish(time: Int64) {
        now = time
        var drained: [Event] = []
        while let e = step() { drained.append(e) }
        queued = drained
        queuedHead = 0
        switch state {
        case .close:
            endMessage(complete: true)
        case .head:
            let rest = buf.count - pos
            if rest > 0 && !onlyWhitespace() {
                enqueue(.malformed(ParseError(offset: offset, message: "stream ended inside a message head"), time: now))
            }
        case .needBodyMode, .body, .chunkSize, .chunkData, .chunkDataEnd, .trailers:
            endMessage(complete: false)
        case .awaitingUpgrade, .tunnel, .resync:
            break
        }
        dropBuffer()
        state = .resync
    }

    /// The body mode for the response whose head was just returned.
    public mutating func setBodyMode(_ mode: BodyMode) {
        guard state == .needBodyMode else { return }
        enter(mode)
    }

    /// For a request side waiting after CONNECT/Upgrade: did the server switch protocols?
    public mutating func resolveUpgrade(accepted: Bool) {
        guard state == .awaitingUpgrade else { return }
        if accepted {
            tunnelBytes += UInt64(buf.count - pos)
            offset += UInt64(buf.count - pos)
            dropBuffer()
            state = .tunnel
        } else {
            state = .head
            headScan = pos
        }
    }

    /// The side switched protocols (the response side after 101 or a CONNECT 2xx).
    public mutating func enterTunnel() {
        tunnelBytes += UInt64(buf.count - pos)
        offset += UInt64(buf.count - pos)
        dropBuffer()
        state = .tunnel
    }

    // MARK: output

    /// The next event, or nil when more input (or a body mode / upgrade decision) is needed.
    public mutating func next() -> Event? {
        if let e = popQueued() { return e }
        if let e = step() { return e }
        return popQueued()
    }

    @inline(__always)
    private mutating func enqueue(_ e: Event) {
        if queuedFirst == nil && queuedHead == queued.count {
            queuedFirst = e
        } else {
            queued.append(e)
        }
    }

    @inline(__always)
    private mutating func popQueued() -> Event? {
        if queuedFirst != nil { return queuedFirst.take() }
        guard queuedHead < queued.count else { return nil }
        let e = queued[queuedHead]
        queuedHead += 1
        if queuedHead == queued.count {
            queued.removeAll(keepingCapacity: true)
            queuedHead = 0
        }
        return e
    }

    private mutating func dropBuffer() {
        buf.removeAll(keepingCapacity: buf.capacity <= 1 << 16)
        pos = 0
        headScan = 0
        appendStart = 0
    }

    private func onlyWhitespace() -> Bool {
        for i in pos..<buf.count where buf[i] != 0x0d && buf[i] != 0x0a && buf[i] != 0x20 { return false }
        return true
    }

    private mutating func consume(_ n: Int) {
        pos += n
        offset += UInt64(n)
        if pos == buf.count {
            dropBuffer()
            oldestTime = now
        } else if pos >= appendStart {
            oldestTime = now
        }
    }

    private mutating func enter(_ mode: BodyMode) {
        switch mode {
        case .none: finishMessage()
        case .length(let n):
            current?.contentLength = true
            state = .body(n)
        case .chunked:
            current?.chunked = true
            state = .chunkSize
        case .close:
            current?.closeDelimited = true
            state = .close
        case .tunnel:
            finishMessage()
            state = .tunnel
        }
    }

    private mutating func finishMessage() { endMessage(complete: true) }

    private mutating func endMessage(complete: Bool) {
        guard let m = current else { return }
        current = nil
        m.complete = complete && m.gapBytes == 0
        m.endTime = now
        m.bodyLength = body.length
        m.truncation = body.truncation
        m.body = body.kept
        m.noteStorage()
        // The next body of this direction is compared with this one first (repeats share it).
        body = BodyAccumulator(maximum: maxBody, candidate: complete ? m.body : [])
        if framingHead {
            endedWithHead = true
        } else {
            enqueue(.message(m))
        }
        if state != .tunnel {
            state = .head
            headScan = pos
            if isRequest && complete && (m.method == "CONNECT"
                || (m.fieldMask & HTTPHeadParser.maskUpgrade != 0 && m.headers.has("upgrade"))) {
                state = .awaitingUpgrade
            }
        }
    }

    private mutating func malformed(_ message: String, at index: Int) {
        let e = ParseError(offset: offset + UInt64(max(0, index - pos)), message: message)
        if current != nil {
            current!.parseError = e
            endMessage(complete: false)
        } else {
            enqueue(.malformed(e, time: now))
        }
        state = .resync
        resyncing = true
        // Skip at least one byte so the same start line is not found again.
        if pos < buf.count { consume(1); discardedBytes += 1 }
    }

    /// One parsing step over buffered bytes.
    private mutating func step() -> Event? {
        while true {
            if let e = popQueued() { return e }
            switch state {
            case .head:
                // Nothing buffered: wait (without entering `parseHead`, a large frame).
                guard pos < buf.count else { return nil }
                // The previous head's bytes again (keep-alive traffic): one compare, no scan.
                if lastHead != nil, let m = repeatedHead() {
                    return started(m, headLength: lastHeadBytes.count)
                }
                guard let e = parseHead() else { return nil }
                return e
            case .needBodyMode, .awaitingUpgrade:
                return nil
            case .body(let remaining):
                let avail = buf.count - pos
                guard avail > 0 else { return nil }
                let take = Int(min(remaining, UInt64(avail)))
                addBody(pos, take)
                consume(take)
                state = .body(remaining - UInt64(take))
                if remaining == UInt64(take) { finishMessage() }
            case .close:
                let avail = buf.count - pos
                guard avail > 0 else { return nil }
                addBody(pos, avail)
                consume(avail)
                return nil
            case .tunnel:
                let avail = buf.count - pos
                tunnelBytes += UInt64(avail)
                offset += UInt64(avail)
                dropBuffer()
                return nil
            case .chunkSize:
                guard parseChunkSize() else { return nil }
            case .chunkData(let remaining):
                let avail = buf.count - pos
                guard avail > 0 else { return nil }
                let take = Int(min(remaining, UInt64(avail)))
                addBody(pos, take)
                consume(take)
                state = remaining == UInt64(take) ? .chunkDataEnd : .chunkData(remaining - UInt64(take))
            case .chunkDataEnd:
                let avail = buf.count - pos
                guard avail > 0 else { return nil }
                if buf[pos] == 0x0a {
                    consume(1)
                    state = .chunkSize
                } else if buf[pos] == 0x0d {
                    guard avail >= 2 else { return nil }
                    guard buf[pos + 1] == 0x0a else {
                        malformed("chunk data not followed by CRLF", at: pos)
                        continue
                    }
                    consume(2)
                    state = .chunkSize
                } else {
                    malformed("chunk data not followed by CRLF", at: pos)
                }
            case .trailers:
                guard parseTrailers() else { return nil }
            case .resync:
                guard resync() else { return nil }
            }
        }
    }

    private mutating func addBody(_ start: Int, _ count: Int) {
        buf.withUnsafeBytes { raw in body.add(UnsafeRawBufferPointer(rebasing: raw[start..<(start + count)])) }
    }

    /// Index of the next LF at or after `from`, or nil.
    private func findLF(from: Int) -> Int? {
        guard from < buf.count else { return nil }
        return buf.withUnsafeBytes { raw -> Int? in
            guard let base = raw.baseAddress, let hit = memchr(base + from, 0x0a, raw.count - from) else { return nil }
            return base.distance(to: UnsafeRawPointer(hit))
        }
    }

    @inline(never)
    private mutating func parseHead() -> Event? {
        // Skip empty lines before a message (RFC 9112 2.2).
        let first = pos
        while pos < buf.count && (buf[pos] == 0x0d || buf[pos] == 0x0a) {
            if buf[pos] == 0x0d && pos + 1 >= buf.count { return nil }
            consume(1)
        }
        // The previous head's bytes again, after the empty lines (`step` compared before them).
        if pos != first, lastHead != nil, let m = repeatedHead() {
            return started(m, headLength: lastHeadBytes.count)
        }
        if headScan < pos { headScan = pos }
        var lineStart = headScan
        var headEnd = -1
        while let lf = findLF(from: lineStart) {
            let lineLength = lf - lineStart
            if lineStart > pos && (lineLength == 0 || (lineLength == 1 && buf[lineStart] == 0x0d)) {
                headEnd = lf + 1
                break
            }
            lineStart = lf + 1
        }
        guard headEnd >= 0 else {
            headScan = lineStart
            if buf.count - pos > maxBufferedBytes {
                malformed("message head longer than \(maxBufferedBytes) bytes", at: pos)
                return step()
            }
            return nil
        }
        var m = HTTPMessage(isRequest: isRequest)
        m.startTime = pos >= appendStart ? now : oldestTime
        m.streamOffset = offset
        m.resynchronized = resyncing
        m.snaplenTruncated = snaplenPending
        let start = pos
        let error: String? = buf.withUnsafeBufferPointer { p -> String? in
            var lf = start
            while p[lf] != 0x0a { lf += 1 }
            if let e = HTTPHeadParser.startLine(p, start, HTTPHeadParser.trimCR(p, start, lf), into: &m) { return e }
            var mask: UInt8 = 0
            defer { m.fieldMask = mask }
            return HTTPHeadParser.fields(p, lf + 1, headEnd, into: &m.headers, mask: &mask, previous: lastHead?.headers ?? [])
        }
        if let error {
            malformed(error, at: start)
            return step()
        }
        // Worked out here, once per distinct head: repeats copy them (and another thread may
        // already read this message when the next head repeats it, so it is not mutated later).
        m.fieldFraming = HTTPHeadParser.fieldFraming(m.headers, mask: m.fieldMask)
        m.connectionTokens = HTTPHeadParser.connectionTokens(m.headers, mask: m.fieldMask)
        // Noted before the head is shared: a shared head is never written again.
        m.noteStorage()
        lastHead = m.head
        lastHeadBytes.removeAll(keepingCapacity: true)
        if headEnd - start <= Self.maxRepeatedHead {
            buf.withUnsafeBytes { lastHeadBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[start..<headEnd])) }
        }
        return started(m, headLength: headEnd - start)
    }

    /// A new message sharing `lastHead` when the buffered head has exactly its bytes (the same
    /// start line and fields, so the same validation and framing), else nil.
    private func repeatedHead() -> HTTPMessage? {
        let n = lastHeadBytes.count
        guard n > 0, buf.count - pos >= n, let head = lastHead else { return nil }
        let equal = buf.withUnsafeBytes { b in
            lastHeadBytes.withUnsafeBytes { memcmp(b.baseAddress! + pos, $0.baseAddress!, n) == 0 }
        }
        guard equal else { return nil }
        let m = HTTPMessage(isRequest: isRequest, head: head)
        m.startTime = pos >= appendStart ? now : oldestTime
        m.streamOffset = offset
        m.resynchronized = resyncing
        m.snaplenTruncated = snaplenPending
        return m
    }

    /// The head of `m` (`headLength` buffered bytes) was parsed: consume it and frame the body.
    private mutating func started(_ m: HTTPMessage, headLength: Int) -> Event? {
        resyncing = false
        snaplenPending = false
        consume(headLength)
        current = m
        guard isRequest else {
            state = .needBodyMode
            return .head(m)
        }
        framingHead = true
        switch HTTPHeadParser.requestBodyMode(m.framing) {
        case .success(let mode):
            state = .needBodyMode
            enter(mode)
        case .failure(let f):
            current!.parseError = ParseError(offset: m.streamOffset, message: f.message)
            state = .needBodyMode
            enter(.none)
        }
        framingHead = false
        if endedWithHead {
            endedWithHead = false
            return .whole(m)
        }
        // Nothing was queued before this head (`step` hands queued events out first), and the
        // message goes on with its body.
        return .head(m)
    }

    private mutating func parseChunkSize() -> Bool {
        guard let lf = findLF(from: pos) else {
            if buf.count - pos > 4096 { malformed("chunk size line too long", at: pos) }
            return false
        }
        let start = pos
        guard let size = buf.withUnsafeBufferPointer({ HTTPHeadParser.chunkSize($0, start, lf) }) else {
            malformed("bad chunk size", at: pos)
            return true
        }
        consume(lf + 1 - pos)
        state = size == 0 ? .trailers : .chunkData(size)
        return true
    }

    private mutating func parseTrailers() -> Bool {
        var lineStart = pos
        while let lf = findLF(from: lineStart) {
            let lineLength = lf - lineStart
            if lineLength == 0 || (lineLength == 1 && buf[lineStart] == 0x0d) {
                var trailers: Headers = []
                let start = pos
                let error = buf.withUnsafeBufferPointer { p in HTTPHeadParser.fields(p, start, lineStart, into: &trailers) }
                if let error {
                    malformed(error, at: start)
                    return true
                }
                current?.trailers = trailers
                consume(lf + 1 - pos)
                finishMessage()
                return true
            }
            lineStart = lf + 1
        }
        if buf.count - pos > maxBufferedBytes { malformed("trailer section too long", at: pos) }
        return false
    }

    /// Looks for a plausible start line; true when the state changed (found one or dropped bytes).
    private mutating func resync() -> Bool {
        var candidate = pos
        while candidate < buf.count {
            switch plausibleStart(at: candidate) {
            case .yes:
                discardedBytes += UInt64(candidate - pos)
                consume(candidate - pos)
                state = .head
                headScan = pos
                return true
            case .needMore:
                if candidate > pos {
                    discardedBytes += UInt64(candidate - pos)
                    consume(candidate - pos)
                }
                if buf.count - pos > 8192 {
                    // Too long to be a start line.
                    discardedBytes += 1
                    consume(1)
                    continue
                }
                return false
            case .no:
                guard let lf = findLF(from: candidate) else {
                    discardedBytes += UInt64(buf.count - pos)
                    offset += UInt64(buf.count - pos)
                    dropBuffer()
                    return false
                }
                candidate = lf + 1
            }
        }
        discardedBytes += UInt64(buf.count - pos)
        offset += UInt64(buf.count - pos)
        dropBuffer()
        return false
    }

    enum Plausibility { case yes, no, needMore }

    private func plausibleStart(at start: Int) -> Plausibility {
        let lf = findLF(from: start)
        let end = lf.map { $0 } ?? buf.count
        return buf.withUnsafeBufferPointer { p -> Plausibility in
            if isRequest {
                var i = start
                while i < end && p[i] >= 0x41 && p[i] <= 0x5a && i - start < 20 { i += 1 }
                if i == end { return lf == nil && i - start < 20 ? .needMore : .no }
                guard i > start, p[i] == 0x20 else { return .no }
                guard let lf else { return .needMore }
                let lineEnd = HTTPHeadParser.trimCR(p, start, lf)
                guard lineEnd - start > 10 else { return .no }
                return HTTPHeadParser.version(p, lineEnd - 8, lineEnd) != nil && p[lineEnd - 9] == 0x20 ? .yes : .no
            } else {
                let prefix: [UInt8] = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e]
                var i = 0
                while i < prefix.count && start + i < end {
                    if p[start + i] != prefix[i] { return .no }
                    i += 1
                }
                guard let lf else { return .needMore }
                var m = HTTPMessage(isRequest: false)
                return HTTPHeadParser.startLine(p, start, HTTPHeadParser.trimCR(p, start, lf), into: &m) == nil ? .yes : .no
            }
        }
    }
}
