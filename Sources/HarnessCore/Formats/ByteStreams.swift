internal import CCompression

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file, transparently gunzipping it when it is gzip (zlib's `gzread`). `-` is stdin.
public final class InputStream {
    public let path: String
    private let file: gzFile
    /// Bytes consumed from the decompressed stream so far.
    public private(set) var offset: UInt64 = 0

    public init(path: String) throws {
        self.path = path
        let fd = path == "-" ? dup(0) : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0, let f = gzdopen(fd, "rb") else {
            throw HarnessError(.io, "cannot open: \(String(cString: strerror(errno)))", path: path)
        }
        file = f
        gzbuffer(file, 256 << 10)
    }

    deinit { gzclose(file) }

    /// Up to `max` bytes; empty at the end.
    public func read(max: Int = 256 << 10) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: max)
        let n = out.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        if n < 0 {
            var code: Int32 = 0
            let msg = gzerror(file, &code).map { String(cString: $0) } ?? "read error"
            throw HarnessError(.badInput, "cannot read: \(msg)", path: path, location: "byte offset \(offset)")
        }
        out.removeSubrange(Int(n)...)
        offset += UInt64(n)
        return out
    }

    /// Reads everything (importers of whole-document formats such as HAR).
    public func readAll(limit: Int = 4 << 30) throws -> [UInt8] {
        var all: [UInt8] = []
        while true {
            let chunk = try read()
            if chunk.isEmpty { return all }
            all += chunk
            if all.count > limit { throw HarnessError(.badInput, "file is larger than \(limit) bytes", path: path) }
        }
    }
}

/// Writes a file created 0600, gzip-compressed when `gzip` is true (or the name ends `.gz`). `-` is stdout.
public final class OutputStream {
    public let path: String
    private var fd: Int32
    private var gz: gzFile?
    private var buffer: [UInt8] = []

    public init(path: String, gzip: Bool? = nil) throws {
        self.path = path
        if path == "-" {
            fd = dup(1)
        } else {
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { throw HarnessError(.io, "cannot create: \(String(cString: strerror(errno)))", path: path) }
        if gzip ?? path.hasSuffix(".gz") {
            guard let g = gzdopen(fd, "wb6") else { throw HarnessError(.io, "cannot start gzip", path: path) }
            gz = g
        }
        buffer.reserveCapacity(256 << 10)
    }

    public func write(_ bytes: [UInt8]) throws {
        buffer += bytes
        if buffer.count >= 256 << 10 { try drain() }
    }
    public func write(_ text: String) throws { try write(Array(text.utf8)) }

    private func drain() throws {
        guard !buffer.isEmpty else { return }
        if let gz {
            let n = buffer.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }
            guard n == buffer.count else { throw HarnessError(.io, "gzip write failed", path: path) }
        } else {
            var done = 0
            while done < buffer.count {
                let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw HarnessError(.io, "cannot write: \(String(cString: strerror(errno)))", path: path)
                }
                done += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    public func close() throws {
        try drain()
        if let gz {
            gzclose(gz)
            self.gz = nil
        } else if fd >= 0 {
            Glibc.close(fd)
        }
        fd = -1
    }

    deinit {
        if let gz { gzclose(gz) } else if fd >= 0 { Glibc.close(fd) }
    }
}
