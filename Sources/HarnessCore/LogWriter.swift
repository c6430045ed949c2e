internal import CCompression
internal import CHarnessSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where exchanges go: the log writer, or an in-memory collector in tests.
public protocol ExchangeSink: AnyObject {
    func append(_ exchange: Exchange) throws
    func close() throws
    /// Adds a batch of exchanges, in order. A sink may build them later, on another thread (the
    /// background log writer does); the default appends them one by one at once.
    func append(batch: any ExchangeBatch) throws
    /// Adds the exchange `source` describes. The log writer encodes its parts without building an
    /// `Exchange`; the default builds it and appends that.
    func append(source: some ExchangeRecordSource) throws
}

extension ExchangeSink {
    public func append(batch: any ExchangeBatch) throws { try batch.forEach { try append($0) } }
    public func append(source: some ExchangeRecordSource) throws { try append(source.build()) }
}

/// Exchanges handed to a sink together, as record sources: the log writer encodes their parts (on
/// its own thread, with `background`), and other sinks build them, so the producer's thread does
/// neither.
public protocol ExchangeBatch: Sendable {
    associatedtype Record: ExchangeRecordSource
    /// The exchanges, in order.
    var records: [Record] { get }
    /// Writes record `index` (a batch type implements it to write its records where they lie,
    /// without the copy a generic caller makes of each).
    func writeRecord(_ index: Int, to w: inout ExchangeRecordWriter)
}

extension ExchangeBatch {
    public var count: Int { records.count }

    public func writeRecord(_ index: Int, to w: inout ExchangeRecordWriter) { records[index].write(to: &w) }

    /// Builds and hands out each exchange, in order.
    public func forEach(_ body: (Exchange) throws -> Void) throws {
        try records.withUnsafeBufferPointer { for i in $0.indices { try body($0[i].build()) } }
    }
}

extension Exchange: ExchangeRecordSource {
    public func build() -> Exchange { self }
    public func write(to w: inout ExchangeRecordWriter) { w.write(self) }
}

/// How a `LogWriter` packs blocks.
public struct LogWriterOptions: Sendable {
    public var codec: LogFormat.Codec
    /// Raw bytes gathered before a block is written.
    public var blockSize: Int
    /// A partial block is written once it is this old (microseconds), so followers see it.
    public var flushIntervalMicros: Int64
    /// Unique body bytes per segment before a new segment starts (bounds every reader's memory).
    public var segmentBodyLimit: Int
    /// zstd level.
    public var level: Int32
    /// Encode, compress and write on the writer's own thread (exchanges are handed over in
    /// batches), so the caller's thread only produces exchanges. Same file content.
    public var background: Bool

    public init(
        codec: LogFormat.Codec = .zstd, blockSize: Int = 256 << 10, flushIntervalMicros: Int64 = 1_000_000,
        segmentBodyLimit: Int = 8 << 20, level: Int32 = 1,
        background: Bool = false
    ) {
        self.codec = codec
        self.blockSize = blockSize
        self.flushIntervalMicros = flushIntervalMicros
        self.segmentBodyLimit = segmentBodyLimit
        self.level = level
        self.background = background
    }
}

/// Appends exchanges to a recording log (see `docs/FORMAT.md`).
///
/// Records gather in a block that is written (with a CRC32C, compressed when it pays) when it is
/// full, when it is older than the flush interval, on `flush()` and on `close()`. A crash loses at
/// most the block in progress (with `background`, also the exchanges queued for the encoding
/// thread). The file is created with mode 0600. Not thread-safe: confine a writer to one thread or
/// actor (with `background`, the writer's own thread does the encoding, compression and writes).
public final class LogWriter: ExchangeSink {
    public let path: String
    public let options: LogWriterOptions
    private let blocks: LogBlockWriter
    private let pipeline: LogWriterPipeline?
    private var closed = false
    /// Exchanges handed to `append`.
    public private(set) var appended = 0
    /// Exchanges that have reached the file (written with `write(2)`).
    public var flushed: Int { pipeline?.flushed ?? blocks.flushed }
    /// Bytes written to the file so far.
    public var bytesWritten: UInt64 { pipeline?.bytesWritten ?? blocks.bytesWritten }

    /// Creates (or truncates) `path` with mode 0600 and writes the header. `-` writes to stdout.
    public init(path: String, header: LogHeader = LogHeader(), options: LogWriterOptions = LogWriterOptions()) throws {
        self.path = path
        self.options = options
        blocks = try LogBlockWriter(path: path, header: header, options: options)
        pipeline = options.background ? try LogWriterPipeline(blocks: blocks) : nil
    }

    deinit {
        // The pipeline's thread holds it: end the thread (what was appended reaches the file).
        if !closed, let pipeline { try? pipeline.finish() }
    }

    /// Adds one exchange. It reaches the file with its block.
    public func append(_ exchange: Exchange) throws {
        guard !closed else { throw HarnessError(.io, "append after close", path: path) }
        appended += 1
        if let pipeline {
            try pipeline.append(exchange)
        } else {
            try blocks.append(exchange)
        }
    }

    /// Adds a batch; with `background`, its exchanges are built and encoded on the writer's thread.
    public func append(batch: any ExchangeBatch) throws {
        guard !closed else { throw HarnessError(.io, "append after close", path: path) }
        appended += batch.count
        if let pipeline {
            try pipeline.append(batch: batch)
        } else {
            try blocks.append(batch: batch)
        }
    }

    /// Adds the exchange `source` describes; without `background`, its parts are encoded as they
    /// are (no `Exchange` is built).
    public func append(source: some ExchangeRecordSource) throws {
        guard !closed else { throw HarnessError(.io, "append after close", path: path) }
        appended += 1
        if let pipeline {
            try pipeline.append(source.build())
        } else {
            try blocks.append(source: source)
        }
    }

    /// Writes the block in progress when it is older than the flush interval (call on a timer).
    public func flushIfDue() throws {
        if let pipeline {
            try pipeline.flushIfDue(intervalMicros: options.flushIntervalMicros)
        } else {
            try blocks.flushIfDue()
        }
    }

    /// Writes the block in progress now.
    public func flush() throws {
        if let pipeline {
            try pipeline.flush()
        } else {
            try blocks.flush()
        }
    }

    /// Flushes, syncs and closes the file.
    public func close() throws {
        guard !closed else { return }
        closed = true
        var failure: (any Error)?
        if let pipeline {
            do { try pipeline.finish() } catch { failure = error }
        } else {
            do { try blocks.flush() } catch { failure = error }
        }
        blocks.closeFile()
        if let failure { throw failure }
    }
}

/// The encoding and writing half of a `LogWriter`: records into blocks, blocks into the file.
/// Used from one thread at a time (the caller's, or the writer's own encoding thread).
final class LogBlockWriter {
    let path: String
    let options: LogWriterOptions
    private var fd: Int32
    private var fileClosed = false
    private var records = ExchangeRecordWriter()
    private var blockStartedAt: Int64 = 0
    private var startSegment = true
    /// A block's header and stored bytes, laid out for one write.
    private var scratch: [UInt8] = []
    /// zstd's compression context, kept from block to block (created at the first block).
    private var compressor: OpaquePointer?
    private let ownsFD: Bool
    private var appended = 0
    private(set) var flushed = 0
    private(set) var bytesWritten: UInt64 = 0

    init(path: String, header: LogHeader, options: LogWriterOptions) throws {
        self.path = path
        self.options = options
        if path == "-" {
            fd = 1
            ownsFD = false
        } else {
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw HarnessError(.io, "cannot create the log: \(String(cString: strerror(errno)))", path: path)
            }
            ownsFD = true
            fchmod(fd, 0o600)
        }
        var h = header
        if h["tool"] == nil { h["tool"] = "harness" }
        if h["created_us"] == nil { h["created_us"] = String(Clock.nowMicros()) }
        var meta = ByteWriter()
        meta.varint(UInt64(h.metadata.count))
        for a in h.metadata {
            meta.string(a.key)
            meta.string(a.value)
        }
        var head = ByteWriter()
        head.append(LogFormat.magic)
        head.u16le(LogFormat.version)
        head.u32le(UInt32(meta.count))
        head.append(meta)
        head.u32le(meta.withUnsafeBytes { harness_crc32c(0, $0.baseAddress, $0.count) })
        do {
            try head.withUnsafeBytes { try writeAll($0) }
        } catch {
            closeFile()
            throw error
        }
    }

    deinit {
        closeFile()
        ZSTD_freeCCtx(compressor)
    }

    func append(_ exchange: Exchange) throws { try append(source: exchange) }

    /// Encodes the exchange; the block goes out when it is full or old, the segment ends past its
    /// body limit.
    func append(source: some ExchangeRecordSource) throws {
        if try !encode({ source.write(to: &$0) }) && Clock.nowMicros() - blockStartedAt >= options.flushIntervalMicros {
            try writeBlock()
        }
    }

    /// Encodes one exchange (`write` writes its record); writes the block when it is full. True
    /// when it wrote one.
    @inline(__always)
    private func encode(_ write: (inout ExchangeRecordWriter) -> Void) throws -> Bool {
        if records.blockRecords == 0 { blockStartedAt = Clock.nowMicros() }
        write(&records)
        appended += 1
        guard records.block.count >= options.blockSize || records.segmentBodyBytes >= options.segmentBodyLimit else {
            return false
        }
        try writeBlock()
        if records.segmentBodyBytes >= options.segmentBodyLimit {
            records.resetSegment()
            startSegment = true
        }
        return true
    }

    /// Each of the batch's exchanges, encoded from its parts; the block's age is checked once, at
    /// the end of the batch.
    func append<B: ExchangeBatch>(batch: B) throws {
        for i in 0..<batch.count { _ = try encode { batch.writeRecord(i, to: &$0) } }
        try flushIfDue()
    }

    func flushIfDue() throws {
        if records.blockRecords > 0 && Clock.nowMicros() - blockStartedAt >= options.flushIntervalMicros {
            try writeBlock()
        }
    }

    func flush() throws {
        if records.blockRecords > 0 { try writeBlock() }
    }

    /// Syncs and closes the file (idempotent).
    func closeFile() {
        guard !fileClosed else { return }
        fileClosed = true
        if ownsFD {
            fsync(fd)
            Glibc.close(fd)
        }
    }

    private func writeBlock() throws {
        let headerSize = LogFormat.blockHeaderSize
        let blockRecords = records.blockRecords
        let segmentStart = startSegment
        // The block goes out as one write: its header, then its bytes (compressed when that pays),
        // both laid out in `scratch`.
        try records.block.withUnsafeBytes { raw in
            let bound = options.codec == .zstd ? max(ZSTD_compressBound(raw.count), raw.count) : raw.count
            if scratch.count < headerSize + bound { scratch = [UInt8](repeating: 0, count: headerSize + bound) }
            var codec = LogFormat.Codec.none
            var stored = raw.count
            if compressor == nil && options.codec == .zstd { compressor = ZSTD_createCCtx() }
            // No context (zstd could not allocate one): the block is stored as it is.
            if options.codec == .zstd && raw.count > 128, let compressor {
                let n = scratch.withUnsafeMutableBytes { dst in
                    ZSTD_compressCCtx(compressor, dst.baseAddress! + headerSize, dst.count - headerSize,
                                      raw.baseAddress, raw.count, options.level)
                }
                if ZSTD_isError(n) == 0 && n < raw.count - raw.count / 16 {
                    codec = .zstd
                    stored = n
                }
            }
            try scratch.withUnsafeMutableBytes { out in
                let body = out.baseAddress! + headerSize
                if codec == .none, let from = raw.baseAddress { body.copyMemory(from: from, byteCount: raw.count) }
                var head = ByteWriter(capacity: headerSize)
                head.u32le(UInt32(stored))
                head.u32le(UInt32(raw.count))
                head.u32le(UInt32(blockRecords))
                head.u8(codec.rawValue)
                head.u8(segmentStart ? LogFormat.flagSegmentStart : 0)
                head.u16le(0)
                var crc = head.withUnsafeBytes { harness_crc32c(0, $0.baseAddress, $0.count) }
                crc = harness_crc32c(crc, body, stored)
                head.u32le(crc)
                head.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                try writeAll(UnsafeBufferPointer(start: out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                                 count: headerSize + stored))
            }
        }
        startSegment = false
        records.clearBlock()
        flushed = appended
    }

    private func writeAll(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        guard !fileClosed else { throw HarnessError(.io, "write after close", path: path) }
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let n = write(fd, base + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw HarnessError(.io, "cannot write the log: \(String(cString: strerror(errno)))", path: path,
                                   location: "byte offset \(bytesWritten)")
            }
            done += n
            bytesWritten += UInt64(n)
        }
    }
}

/// Wall-clock time in microseconds since the Unix epoch.
public enum Clock {
    public static func nowMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }
    /// Monotonic time in nanoseconds (for measuring intervals).
    public static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// Collects exchanges in memory (tests, and stages that post-process before writing).
public final class MemorySink: ExchangeSink, @unchecked Sendable {
    // Guarded by `lock`.
    private var storage: [Exchange] = []
    private let lock = PosixLock()
    public init() {}
    public func append(_ exchange: Exchange) throws { lock.withLock { storage.append(exchange) } }
    public func close() throws {}
    public var exchanges: [Exchange] { lock.withLock { storage } }
}

/// A small pthread mutex wrapper for the few places that need one.
public final class PosixLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    public init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
