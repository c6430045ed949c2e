import HarnessCore

/// A body reduced to what the comparison needs: decoded length and digest, media type, and the
/// decoded bytes while they are small enough to diff structurally or show in an example.
struct BodyPrint {
    /// Decoded bytes are kept up to this size (JSON field diffs, examples); above it, digest only.
    static let keepLimit = 1 << 20

    var length: UInt64
    var hash: UInt64
    var bytes: [UInt8]?
    /// `application/json` (lowercased, without parameters).
    var mediaType: String
    /// The recorded body was cut: `hash` covers the full body's SHA-256 instead.
    var truncated: Bool
    /// The content-encoding could not be undone: `hash` covers the encoded bytes.
    var undecodable: Bool

    init(body: [UInt8], truncation: BodyTruncation?, headers: Headers) {
        mediaType = (headers.first("content-type") ?? "").split(separator: ";").first.map {
            String($0).trimmingWhitespace().lowercased()
        } ?? ""
        if let truncation {
            truncated = true
            undecodable = false
            length = truncation.originalLength
            hash = Self.digest(truncation.sha256)
            bytes = nil
            return
        }
        truncated = false
        let encoding = headers.first("content-encoding") ?? ""
        var decoded = body
        undecodable = false
        if !encoding.isEmpty {
            if let d = ContentCoding.decode(body, encoding: encoding) { decoded = d } else { undecodable = true }
        }
        length = UInt64(decoded.count)
        hash = Self.digest(decoded)
        bytes = decoded.count <= Self.keepLimit ? decoded : nil
    }

    var isJSON: Bool {
        if mediaType.hasSuffix("json") || mediaType.hasSuffix("+json") { return true }
        guard mediaType.isEmpty, let b = bytes, let f = b.first(where: { $0 != 32 && $0 != 10 && $0 != 13 && $0 != 9 }) else {
            return false
        }
        return f == UInt8(ascii: "{") || f == UInt8(ascii: "[")
    }

    /// Same content (decoded digest and length).
    func sameContent(as other: BodyPrint) -> Bool {
        if truncated != other.truncated { return length == other.length }
        return length == other.length && hash == other.hash
    }

    /// A 64-bit digest of the bytes (fast, not cryptographic: a change detector; four hash lanes,
    /// where a single multiply chain over 8-byte words was 7% of a diff of differing pairs).
    static func digest(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { fastHash64($0) } ^ UInt64(bytes.count)
    }
}
