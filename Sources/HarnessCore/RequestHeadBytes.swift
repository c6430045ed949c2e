/// An HTTP/1.x request head as bytes: the request line, the fields as given, the empty line.
/// Written through one pointer into memory the caller sized with `size` (the replay client and
/// the proxy's upstream side put it straight into a socket buffer; per-piece appends were a
/// tenth of the replay client's time).
public enum RequestHeadBytes {
    /// Exactly the bytes `write` writes.
    public static func size(method: String, target: String, headers: Headers) -> Int {
        var n = method.utf8.count + 1 + target.utf8.count + 11 + 2
        for f in headers { n += f.name.utf8.count + 2 + f.value.utf8.count + 2 }
        return n
    }

    /// Writes the head at the start of `raw` (at least `size` bytes); returns the bytes written.
    public static func write(
        method: String, target: String, version: HTTPVersionNumber, headers: Headers, into raw: UnsafeMutableRawBufferPointer
    ) -> Int {
        guard let start = raw.baseAddress else { return 0 }
        var p = start
        @inline(__always) func put(_ s: String) {
            let count = s.utf8.count
            guard count > 0 else { return }
            let done: Void? = s.utf8.withContiguousStorageIfAvailable { u in
                if let from = u.baseAddress { p.copyMemory(from: from, byteCount: count) }
            }
            if done == nil {
                var copy = s
                copy.withUTF8 { u in if let from = u.baseAddress { p.copyMemory(from: from, byteCount: count) } }
            }
            p += count
        }
        @inline(__always) func put(_ s: StaticString) {
            p.copyMemory(from: s.utf8Start, byteCount: s.utf8CodeUnitCount)
            p += s.utf8CodeUnitCount
        }
        @inline(__always) func put(byte: UInt8) {
            p.storeBytes(of: byte, as: UInt8.self)
            p += 1
        }
        put(method)
        put(" ")
        put(target)
        put(" HTTP/")
        put(byte: UInt8(ascii: "0") &+ version.major)
        put(".")
        put(byte: UInt8(ascii: "0") &+ version.minor)
        put("\r\n")
        for f in headers {
            put(f.name)
            put(": ")
            put(f.value)
            put("\r\n")
        }
        put("\r\n")
        return p - start
    }
}
