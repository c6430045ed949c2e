import HarnessCore
internal import NIOCore

/// Watches the raw bytes of a client connection before the front handler frames them: how many
/// arrived, when the first byte of the next request came (timing and the 408 timer), and the first
/// kilobyte of it (so a request the framer rejects is still recorded with what it looked like).
/// Called by `FrontHandler` for every read (not a handler of its own: one pipeline hop less).
final class FrontByteTap {
    static let prefixLimit = 1024
    private(set) var totalBytes: UInt64 = 0
    /// Bytes seen before the current request started.
    private(set) var requestStartOffset: UInt64 = 0
    private(set) var firstByteMicros: Int64 = 0
    /// Monotonic time the bytes of a not yet decoded request started arriving (0 = none).
    private(set) var pendingSinceNanos: UInt64 = 0
    private(set) var prefix: [UInt8] = []
    private var armed = true
    var onFirstByte: (() -> Void)?

    /// Takes note of one read.
    func observe(_ buffer: ByteBuffer) {
        if armed {
            armed = false
            firstByteMicros = Clock.nowMicros()
            pendingSinceNanos = Clock.monotonicNanos()
            requestStartOffset = totalBytes
            prefix.removeAll(keepingCapacity: true)
            buffer.withUnsafeReadableBytes { prefix.append(contentsOf: $0.prefix(Self.prefixLimit)) }
            onFirstByte?()
        } else if prefix.count < Self.prefixLimit {
            buffer.withUnsafeReadableBytes { prefix.append(contentsOf: $0.prefix(Self.prefixLimit - prefix.count)) }
        }
        totalBytes += UInt64(buffer.readableBytes)
    }

    /// The next byte starts a new request.
    func rearm() {
        armed = true
        pendingSinceNanos = 0
    }
    /// A request head was decoded (stop collecting the prefix).
    func headSeen() {
        armed = false
        pendingSinceNanos = 0
        prefix.removeAll(keepingCapacity: true)
        firstByteMicros = 0
    }
    /// The time the current request's first byte arrived, or now.
    func takeFirstByteMicros() -> Int64 {
        let t = firstByteMicros
        firstByteMicros = 0
        return t > 0 ? t : Clock.nowMicros()
    }
}
