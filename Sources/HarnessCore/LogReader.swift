internal import CCompression
internal import CHarnessSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a log stops being readable, and why.
public struct LogDamage: Sendable, Equatable, CustomStringConvertible {
    /// Byte offset of the first block that could not be read.
    public var offset: UInt64
    public var reason: String
    public var description: String { "byte offset \(offset): \(reason)" }
}

/// Reads a recording log front to back, one exchange at a time (see `docs/FORMAT.md`).
///
/// Memory holds one block and the current segment's tables, never the whole file. A torn or
/// damaged tail ends the iteration: `next()` returns nil and `damage` says where and why; every
/// exchange before it is returned. A wrong magic or an unknown version throws at `init`.
/// With `follow` (or a `LogFollow`), the reader waits for a file that is still being written.
public final class LogReader {
    public let path: String
    public private(set) var header = LogHeader()
    /// Set when the reader stopped before the end of the file.
    public private(set) var damage: LogDamage?
    /// Exchanges returned so far.
    public private(set) var exchangesRead = 0
    /// Blocks read so far.
    public private(set) var blocksRead = 0
    /// Offset of the next unread block.
    public private(set) var offset: UInt64 = 0

    private var source: Source
    private var decoder = ExchangeDecoder()
    private var blockBytes: [UInt8] = []
    private var blockCursor = 0
    /// Set while the file may still grow: a short read waits for the writer until it finishes.
    private let following: LogFollow?

    private enum Source {
        case file(Int32, owned: Bool)
        case memory([UInt8], position: Int)
    }

    /// Opens `path` (`-` reads stdin) and reads its header.
    public convenience init(path: String, follow: Bool = false) throws {
        try self.init(path: path, following: follow ? LogFollow(pollMicros: 50_000) : nil)
    }

    /// Opens `path` and reads it as it grows until `following` is finished (nil: a plain read).
    public init(path: String, following: LogFollow?) throws {
        self.path = path
        self.following = following
        if path == "-" {
            source = .file(0, owned: false)
        } else {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw HarnessError(.io, "cannot open the log: \(String(cString: strerror(errno)))", path: path)
            }
            source = .file(fd, owned: true)
        }
        try readHeader()
    }

    /// Reads a log held in memory (tests, fuzzing).
    public init(bytes: [UInt8], name: String = "<memory>") throws {
        path = name
        following = nil
        source = .memory(bytes, position: 0)
        try readHeader()
    }

    deinit {
        if case .file(let fd, let owned) = source, owned { close(fd) }
    }

    /// The next exchange, or nil at the end (or at damage; see `damage`).
    public func next() throws -> Exchange? { try next(statusOnly: false) }

    /// The next exchange; with `statusOnly`, an exchange that is not on the back leg comes with
    /// its response's status alone and without annotations (the record is still read and
    /// checked whole). A replay's reader needs no more of a recorded front exchange.
    public func next(statusOnly: Bool) throws -> Exchange? {
        while true {
            if blockCursor < blockBytes.count {
                let result: Exchange?
                do {
                    result = try blockBytes.withUnsafeBufferPointer { buf in
                        var r = ByteReader(buf, offset: blockCursor)
                        defer { blockCursor = r.offset }
                        return try decoder.decodeRecord(&r, statusOnly: statusOnly)
                    }
                } catch let f as DecodeFailure {
                    damage = LogDamage(
                        offset: lastBlockOffset,
                        reason: "record at offset \(f.offset) of the block is malformed: \(f.message)")
                    blockBytes = []
                    blockCursor = 0
                    return nil
                }
                if let e = result {
                    exchangesRead += 1
                    return e
                }
                continue
            }
            if damage != nil { return nil }
            guard try loadBlock() else { return nil }
        }
    }

    /// The next block's payload (decompressed) and whether it starts a segment, for readers that
    /// walk records themselves (`LogScanner`). Do not mix with `next()` on the same reader.
    func nextRawBlock() throws -> (bytes: [UInt8], segmentStart: Bool)? {
        if damage != nil { return nil }
        guard try loadBlock() else { return nil }
        let b = blockBytes
        blockBytes = []
        blockCursor = 0
        return (b, lastBlockStartsSegment)
    }

    /// Records damage found by a record walker outside this reader (`LogScanner`).
    func markDamage(recordOffset: Int, message: String) {
        damage = LogDamage(offset: lastBlockOffset, reason: "record at offset \(recordOffset) of the block is malformed: \(message)")
    }

    /// Counts an exchange returned by a record walker outside this reader.
    func countExchange() { exchangesRead += 1 }

    private var lastBlockStartsSegment = false

    /// Calls `body` for every readable exchange.
    public func forEach(_ body: (Exchange) throws -> Void) throws {
        while let e = try next() { try body(e) }
    }

    private var lastBlockOffset: UInt64 = 0

    private func readHeader() throws {
        guard let fixed = try readExactly(14, waiting: true), fixed.count == 14 else {
            throw HarnessError(.badInput, "not a recording log: the file is shorter than the 14-byte header",
                               path: path, location: "byte offset 0")
        }
        guard Array(fixed[0..<8]) == LogFormat.magic else {
            throw HarnessError(.badInput, "not a recording log (wrong magic bytes)", path: path,
                               location: "byte offset 0")
        }
        let version = UInt16(fixed[8]) | UInt16(fixed[9]) << 8
        guard version == LogFormat.version else {
            throw HarnessError(.unsupported, "log format version \(version) is not supported (this build reads version \(LogFormat.version))",
                               path: path, location: "byte offset 8")
        }
        let length = Int(UInt32(fixed[10]) | UInt32(fixed[11]) << 8 | UInt32(fixed[12]) << 16 | UInt32(fixed[13]) << 24)
        guard length <= 1 << 20, let meta = try readExactly(length + 4, waiting: true), meta.count == length + 4 else {
            throw HarnessError(.badInput, "the log header is truncated or too large", path: path,
                               location: "byte offset 10")
        }
        let stored = UInt32(meta[length]) | UInt32(meta[length + 1]) << 8 | UInt32(meta[length + 2]) << 16
            | UInt32(meta[length + 3]) << 24
        let crc = meta.withUnsafeBytes { harness_crc32c(0, $0.baseAddress, length) }
        guard crc == stored else {
            throw HarnessError(.badInput, "the log header fails its CRC32C check", path: path, location: "byte offset 14")
        }
        do {
            try meta.withUnsafeBufferPointer { buf in
                var r = ByteReader(UnsafeBufferPointer(rebasing: buf[0..<length]))
                let n = try r.count(limit: 10_000)
                for _ in 0..<n { header.metadata.append(Annotation(try r.string(), try r.string())) }
            }
        } catch {
            throw HarnessError(.badInput, "the log header is malformed", path: path, location: "byte offset 14")
        }
        offset = UInt64(18 + length)
    }

    /// Reads the next block into `blockBytes`. False at a clean end or at damage.
    private func loadBlock() throws -> Bool {
        let start = offset
        lastBlockOffset = start
        guard let head = try readExactly(LogFormat.blockHeaderSize, waiting: true) else { return false }
        if head.isEmpty { return false }
        guard head.count == LogFormat.blockHeaderSize else {
            damage = LogDamage(offset: start, reason: "torn block header (\(head.count) of \(LogFormat.blockHeaderSize) bytes)")
            return false
        }
        func u32(_ i: Int) -> Int {
            Int(UInt32(head[i]) | UInt32(head[i + 1]) << 8 | UInt32(head[i + 2]) << 16 | UInt32(head[i + 3]) << 24)
        }
        let storedLength = u32(0)
        let rawLength = u32(4)
        let codecByte = head[12]
        let flags = head[13]
        let crcStored = UInt32(u32(16))
        guard storedLength <= LogFormat.maxBlockSize, rawLength <= LogFormat.maxBlockSize else {
            damage = LogDamage(offset: start, reason: "block length out of range (header damaged)")
            return false
        }
        guard let payload = try readExactly(storedLength, waiting: true), payload.count == storedLength else {
            damage = LogDamage(offset: start, reason: "torn block: the file ends inside it")
            return false
        }
        var crc = head.withUnsafeBytes { harness_crc32c(0, $0.baseAddress, 16) }
        crc = payload.withUnsafeBytes { harness_crc32c(crc, $0.baseAddress, $0.count) }
        guard crc == crcStored else {
            damage = LogDamage(offset: start, reason: "block fails its CRC32C check")
            return false
        }
        switch LogFormat.Codec(rawValue: codecByte) {
        case .none?:
            blockBytes = payload
        case .zstd?:
            var out = [UInt8](repeating: 0, count: rawLength)
            let n = out.withUnsafeMutableBytes { dst in
                payload.withUnsafeBytes { src in
                    ZSTD_decompress(dst.baseAddress, dst.count, src.baseAddress, src.count)
                }
            }
            guard ZSTD_isError(n) == 0, n == rawLength else {
                damage = LogDamage(offset: start, reason: "block does not decompress")
                return false
            }
            blockBytes = out
        case nil:
            damage = LogDamage(offset: start, reason: "unknown block codec \(codecByte)")
            return false
        }
        lastBlockStartsSegment = flags & LogFormat.flagSegmentStart != 0
        if lastBlockStartsSegment { decoder.resetSegment() }
        blockCursor = 0
        blocksRead += 1
        offset = start + UInt64(LogFormat.blockHeaderSize + storedLength)
        return true
    }

    /// Reads `count` bytes; fewer at the end of the input. With `waiting` and `follow`, a short read
    /// waits for the writer instead (and rewinds so the block is read whole).
    private func readExactly(_ count: Int, waiting: Bool = false) throws -> [UInt8]? {
        switch source {
        case .memory(let bytes, let position):
            let end = min(bytes.count, position + count)
            source = .memory(bytes, position: end)
            return Array(bytes[position..<end])
        case .file(let fd, _):
            var out = [UInt8](repeating: 0, count: count)
            var got = 0
            while got < count {
                // Loaded before the read: once the writer has finished, this read sees every byte.
                let writerDone = following?.isFinished ?? true
                let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw HarnessError(.io, "cannot read the log: \(String(cString: strerror(errno)))", path: path,
                                       location: "byte offset \(offset + UInt64(got))")
                }
                if n == 0 {
                    if waiting && !writerDone, let following {
                        usleep(following.pollMicros)
                        continue
                    }
                    break
                }
                got += n
            }
            if got < count { out.removeSubrange(got...) }
            return out
        }
    }
}
