/// HTTP/1.x heads as bytes: the start line, the fields as given, the empty line. Written
/// through one pointer into memory the caller sized exactly (the replay client and the proxy put
/// heads straight into socket buffers; appending piece by piece was a tenth of the replay
/// client's time).
public enum HeadBytes {
    /// Exactly the bytes `writeRequest` writes.
    public static func requestSize(method: String, target: String, headers: Headers) -> Int {
        method.utf8.count + 1 + target.utf8.count + 11 + fieldsSize(headers)
    }

    /// `METHOD target HTTP/x.y`, the fields, the empty line, at the start of `raw` (at least
    /// `requestSize` bytes); returns the bytes written.
    public static func writeRequest(
        method: String, target: String, version: HTTPVersionNumber, headers: Headers, into raw: UnsafeMutableRawBufferPointer
    ) -> Int {
        guard let start = raw.baseAddress else { return 0 }
        var w = Writer(p: start)
        w.put(method)
        w.put(" ")
        w.put(target)
        w.put(" HTTP/")
        w.put(byte: UInt8(ascii: "0") &+ version.major)
        w.put(".")
        w.put(byte: UInt8(ascii: "0") &+ version.minor)
        w.put("\r\n")
        w.fields(headers)
        return w.p - start
    }

    /// Exactly the bytes `writeResponse` writes.
    public static func responseSize(reason: String, headers: Headers) -> Int {
        13 + reason.utf8.count + 2 + fieldsSize(headers)
    }

    /// `HTTP/1.1 status reason`, the fields, the empty line (`status` in 100...999).
    public static func writeResponse(status: Int, reason: String, headers: Headers, into raw: UnsafeMutableRawBufferPointer)
        -> Int
    {
        guard let start = raw.baseAddress else { return 0 }
        var w = Writer(p: start)
        let code = min(max(status, 100), 999)
        w.put("HTTP/1.1 ")
        w.put(byte: UInt8(ascii: "0") &+ UInt8(code / 100))
        w.put(byte: UInt8(ascii: "0") &+ UInt8(code / 10 % 10))
        w.put(byte: UInt8(ascii: "0") &+ UInt8(code % 10))
        w.put(" ")
        w.put(reason)
        w.put("\r\n")
        w.fields(headers)
        return w.p - start
    }

    /// Field lines and the empty line (trailers of a chunked body end the same way).
    public static func fieldsSize(_ headers: Headers) -> Int {
        var n = 2
        for i in headers.indices { n += headers[i].name.utf8.count + 2 + headers[i].value.utf8.count + 2 }
        return n
    }

    /// Writes `fieldsSize(headers)` bytes at the start of `raw`; returns them.
    public static func writeFields(_ headers: Headers, into raw: UnsafeMutableRawBufferPointer) -> Int {
        guard let start = raw.baseAddress else { return 0 }
        var w = Writer(p: start)
        w.fields(headers)
        return w.p - start
    }

    private struct Writer {
        var p: UnsafeMutableRawPointer

        @inline(__always) mutating func put(_ s: String) {
            let count = s.utf8.count
            guard count > 0 else { return }
            let to = p
            let done: Void? = s.utf8.withContiguousStorageIfAvailable { u in
                if let from = u.baseAddress { to.copyMemory(from: from, byteCount: count) }
            }
            if done == nil {
                var copy = s
                copy.withUTF8 { u in if let from = u.baseAddress { to.copyMemory(from: from, byteCount: count) } }
            }
            p += count
        }

        @inline(__always) mutating func put(_ s: StaticString) {
            p.copyMemory(from: s.utf8Start, byteCount: s.utf8CodeUnitCount)
            p += s.utf8CodeUnitCount
        }

        @inline(__always) mutating func put(byte: UInt8) {
            p.storeBytes(of: byte, as: UInt8.self)
            p += 1
        }

        mutating func fields(_ headers: Headers) {
            for i in headers.indices {  // by index: `for f in headers` retained each field
                put(headers[i].name)
                put(": ")
                put(headers[i].value)
                put("\r\n")
            }
            put("\r\n")
        }
    }
}
