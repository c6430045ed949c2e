internal import CHarnessSupport

/// Constants of the recording log format. `docs/FORMAT.md` is the specification.
public enum LogFormat {
    /// The 8 bytes every log starts with: `\x89HRL\r\n\x1a\n` (PNG-style: catches text-mode damage).
    public static let magic: [UInt8] = [0x89, 0x48, 0x52, 0x4C, 0x0D, 0x0A, 0x1A, 0x0A]
    /// The version this build writes and reads.
    public static let version: UInt16 = 1
    /// Bytes of a block header: stored length, raw length, record count (u32 LE each), codec,
    /// flags (u8 each), reserved (u16), CRC32C of header bytes 0..<16 plus the stored payload (u32 LE).
    public static let blockHeaderSize = 20
    /// A block never holds more than this many stored bytes (a reader refuses larger ones).
    public static let maxBlockSize = 64 << 20

    /// Block payload codecs.
    public enum Codec: UInt8, Sendable {
        case none = 0
        case zstd = 1
    }

    /// Header values of at most this many UTF-8 bytes join the per-segment value table.
    static let maxTabledValueLength = 512
    /// The per-segment value table stops growing at this many entries.
    static let maxTabledValues = 65536

    /// Block flag: this block starts a new segment; readers forget the name and body tables.
    static let flagSegmentStart: UInt8 = 1

    /// Record types inside a block's payload.
    enum RecordType: UInt8 {
        case name = 1
        case body = 2
        case exchange = 3
    }

    /// Header names stored as one byte (their index). Case matters: the log keeps original case,
    /// so both the usual Title-Case and the lower-case spelling are listed.
    static let staticNames: [String] = {
        let names = [
            "Host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Accept-Ranges", "Age",
            "Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Length",
            "Content-Location", "Content-Type", "Cookie", "Date", "ETag", "Expires", "Keep-Alive",
            "Last-Modified", "Location", "Pragma", "Referer", "Server", "Set-Cookie", "Transfer-Encoding",
            "Upgrade", "Vary", "Via", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Server",
            "X-Forwarded-Proto", "X-Request-Id", "X-Frame-Options", "X-Content-Type-Options",
            "Strict-Transport-Security", "Content-Security-Policy", "If-Modified-Since", "If-None-Match",
            "Origin", "Range", "Content-Range", "Expect", "Access-Control-Allow-Origin",
            "Sec-WebSocket-Key", "Sec-WebSocket-Accept", "Sec-WebSocket-Version", "Refresh", "Traceparent",
            "X-Powered-By", "Content-Disposition",
        ]
        return names + names.map { $0.lowercased() }
    }()
}

/// The metadata at the top of a log: who wrote it, from what, and how.
public struct LogHeader: Sendable, Equatable {
    /// Ordered key/value pairs. Well-known keys: `tool`, `created_us`, `source` (`capture`,
    /// `record`, `replay`, `import`), `original_host`, `redacted`, `recording` (for replay results).
    public var metadata: [Annotation]

    public init(metadata: [Annotation] = []) { self.metadata = metadata }

    public subscript(key: String) -> String? {
        get { metadata.first { $0.key == key }?.value }
        set {
            metadata.removeAll { $0.key == key }
            if let newValue { metadata.append(Annotation(key, newValue)) }
        }
    }
}

extension LogFormat.Codec {
    /// `zstd` or `none`.
    public static func named(_ name: String) -> LogFormat.Codec? {
        switch name.lowercased() {
        case "zstd": .zstd
        case "none", "off": LogFormat.Codec.none
        default: nil
        }
    }
}

extension LogFormat {
    /// The static header-name table (indices 0..<104), as docs/FORMAT.md lists it.
    public static var staticHeaderNames: [String] { staticNames }

    /// CRC32C (Castagnoli) of `bytes`, continuing from `crc` (0 to start).
    public static func crc32c(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { harness_crc32c(crc, $0.baseAddress, $0.count) }
    }
}
