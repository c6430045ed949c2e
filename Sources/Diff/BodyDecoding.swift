internal import CCompression

/// Undoes `Content-Encoding` (gzip, x-gzip, deflate, zstd) so bodies compare by content.
enum BodyDecoding {
    /// Decoded output is capped (bounded memory on hostile input).
    static let maxDecoded = 64 << 20

    /// The decoded body, or nil when the encoding is unknown (br) or the bytes do not decode.
    static func decode(_ body: [UInt8], encoding: String) -> [UInt8]? {
        var out = body
        // Encodings apply in order; undo them last first.
        for coding in encoding.lowercased().split(separator: ",").map({ String($0).trimmingWhitespace() }).reversed() {
            switch coding {
            case "", "identity": continue
            case "gzip", "x-gzip": guard let d = inflate(out, windowBits: 15 + 32) else { return nil }; out = d
            case "deflate":
                guard let d = inflate(out, windowBits: 15) ?? inflate(out, windowBits: -15) else { return nil }
                out = d
            case "zstd": guard let d = unzstd(out) else { return nil }; out = d
            default: return nil
            }
        }
        return out
    }

    static func inflate(_ input: [UInt8], windowBits: Int32) -> [UInt8]? {
        if input.isEmpty { return [] }
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        out.reserveCapacity(min(input.count * 4, maxDecoded))
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var input = input
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
            while true {
                let rc: Int32 = chunk.withUnsafeMutableBufferPointer { c in
                    stream.next_out = c.baseAddress
                    stream.avail_out = uInt(c.count)
                    return CCompression.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                out.append(contentsOf: chunk[0..<produced])
                if out.count > maxDecoded { return Z_MEM_ERROR }
                if rc == Z_STREAM_END { return Z_STREAM_END }
                if rc != Z_OK { return rc }
                if stream.avail_in == 0 && produced == 0 { return Z_BUF_ERROR }
            }
        }
        return status == Z_STREAM_END ? out : nil
    }

    static func unzstd(_ input: [UInt8]) -> [UInt8]? {
        let size = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        guard size < UInt64(maxDecoded) else { return nil }  // also rejects unknown/error sizes
        var out = [UInt8](repeating: 0, count: Int(size))
        let n = out.withUnsafeMutableBytes { dst in
            input.withUnsafeBytes { src in ZSTD_decompress(dst.baseAddress, dst.count, src.baseAddress, src.count) }
        }
        guard ZSTD_isError(n) == 0 else { return nil }
        return Array(out[0..<n])
    }
}
