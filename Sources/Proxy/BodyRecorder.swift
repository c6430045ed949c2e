internal import Crypto
import HarnessCore
internal import NIOCore

/// Keeps the first `limit` bytes of a body for the recording; past the limit it keeps only a
/// running SHA-256 and the length, so memory stays bounded whatever the body's size.
struct BodyRecorder {
    let limit: Int
    private(set) var bytes: [UInt8] = []
    private(set) var length: UInt64 = 0
    private var hasher: SHA256?

    init(limit: Int) { self.limit = limit }

    mutating func append(_ buffer: ByteBuffer) {
        let n = buffer.readableBytes
        length += UInt64(n)
        if hasher == nil && bytes.count + n <= limit {
            buffer.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
            return
        }
        if hasher == nil {
            var h = SHA256()
            h.update(data: bytes)
            hasher = h
            let room = limit - bytes.count
            if room > 0 { buffer.withUnsafeReadableBytes { bytes.append(contentsOf: $0.prefix(room)) } }
        }
        buffer.withUnsafeReadableBytes { hasher!.update(bufferPointer: $0) }
    }

    /// SHA-256 of `bytes` (for tests and tools comparing against a truncation digest).
    static func sha256(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }

    /// The recorded bytes and, when cut, the truncation facts.
    func finish() -> ([UInt8], BodyTruncation?) {
        guard let hasher else { return (bytes, nil) }
        return (bytes, BodyTruncation(originalLength: length, sha256: Array(hasher.finalize())))
    }
}
