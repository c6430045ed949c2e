internal import CCompression

/// `Content-Encoding` both ways (gzip, x-gzip, deflate, zstd): undone to compare or redact bodies
/// by content, and redone after redaction so a recorded body stays encoded as it was sent.
/// Output is capped (`maxDecoded`): hostile input cannot make it allocate without bound.
public enum ContentCoding {
    /// Decoded output is capped (bounded memory on hostile input).
    public static let maxDecoded = 64 << 20

    /// One coding of a `Content-Encoding` list. `deflate` remembers whether the sender wrapped
    /// the stream in zlib's header (RFC 9110 says it must; some servers send raw deflate).
    public enum Coding: Equatable, Sendable {
        case gzip, zlibDeflate, rawDeflate, zstd
    }

    /// The decoded body, or nil when the encoding is unknown (br) or the bytes do not decode.
    public static func decode(_ body: [UInt8], encoding: String) -> [UInt8]? {
        decodeRemembering(body, encoding: encoding)?.body
    }

    /// The decoded body and the codings that decoded it (last applied first), so `encode` can
    /// redo them exactly.
    public static func decodeRemembering(_ body: [UInt8], encoding: String) -> (body: [UInt8], codings: [Coding])? {
        let lowered = encoding.lowercased().split(separator: ",").map { $0.trimmingSpacesAndTabs() }
        var out = body
        var used: [Coding] = []
        // Encodings apply in order; undo them last first.
        for coding in lowered.reversed() {
            switch coding {
            case "", "identity": continue
            case "gzip", "x-gzip":
                guard let d = inflate(out, windowBits: 15 + 32) else { return nil }
                out = d
                used.append(.gzip)
            case "deflate":
                if let d = inflate(out, windowBits: 15) {
                    out = d
                    used.append(.zlibDeflate)
                } else if let d = inflate(out, windowBits: -15) {
                    out = d
                    used.append(.rawDeflate)
                } else {
                    return nil
                }
            case "zstd":
                guard let d = unzstd(out) else { return nil }
                out = d
                used.append(.zstd)
            default: return nil
            }
        }
        return (out, used)
    }

    /// Re-applies `codings` as returned by `decodeRemembering` (last applied first).
    public static func encode(_ body: [UInt8], codings: [Coding]) -> [UInt8]? {
        var out = body
        for coding in codings.reversed() {
            let next: [UInt8]? =
                switch coding {
                case .gzip: deflate(out, windowBits: 15 + 16)
                case .zlibDeflate: deflate(out, windowBits: 15)
                case .rawDeflate: deflate(out, windowBits: -15)
                case .zstd: zstd(out)
                }
            guard let next else { return nil }
            out = next
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

    static func deflate(_ input: [UInt8], windowBits: Int32) -> [UInt8]? {
        var stream = z_stream()
        guard
            deflateInit2_(
                &stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return nil }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count))) + 32
        var out = [UInt8](repeating: 0, count: bound)
        var input = input
        let rc: Int32 = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                return CCompression.deflate(&stream, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END else { return nil }
        out.removeSubrange(Int(stream.total_out)...)
        return out
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

    static func zstd(_ input: [UInt8]) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let n = out.withUnsafeMutableBytes { dst in
            input.withUnsafeBytes { src in ZSTD_compress(dst.baseAddress, dst.count, src.baseAddress, src.count, 3) }
        }
        guard ZSTD_isError(n) == 0 else { return nil }
        return Array(out[0..<n])
    }
}

extension Substring {
    fileprivate func trimmingSpacesAndTabs() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}
