/// A small, fast JSON text builder (objects, arrays, escaped strings) for the exporters.
public struct JSONWriter {
    public private(set) var text: String = ""
    private var needsComma: [Bool] = [false]

    public init() { text.reserveCapacity(1024) }

    private mutating func separator() {
        if needsComma[needsComma.count - 1] { text += "," }
        needsComma[needsComma.count - 1] = true
    }
    public mutating func beginObject(_ key: String? = nil) {
        separator()
        if let key { appendKey(key) }
        text += "{"
        needsComma.append(false)
    }
    public mutating func endObject() {
        needsComma.removeLast()
        text += "}"
    }
    public mutating func beginArray(_ key: String? = nil) {
        separator()
        if let key { appendKey(key) }
        text += "["
        needsComma.append(false)
    }
    public mutating func endArray() {
        needsComma.removeLast()
        text += "]"
    }
    public mutating func string(_ key: String?, _ value: String) {
        separator()
        if let key { appendKey(key) }
        JSONWriter.escape(value, into: &text)
    }
    public mutating func number<N: BinaryInteger>(_ key: String?, _ value: N) {
        separator()
        if let key { appendKey(key) }
        text += String(value)
    }
    public mutating func double(_ key: String?, _ value: Double) {
        separator()
        if let key { appendKey(key) }
        text += value.isFinite ? String(value) : "null"
    }
    public mutating func bool(_ key: String?, _ value: Bool) {
        separator()
        if let key { appendKey(key) }
        text += value ? "true" : "false"
    }
    public mutating func null(_ key: String?) {
        separator()
        if let key { appendKey(key) }
        text += "null"
    }
    /// `key: [[k, v], ...]`: ordered string pairs (headers, annotations).
    public mutating func pairs(_ key: String, _ list: [(String, String)]) {
        beginArray(key)
        for (k, v) in list {
            beginArray()
            string(nil, k)
            string(nil, v)
            endArray()
        }
        endArray()
    }

    private mutating func appendKey(_ key: String) {
        JSONWriter.escape(key, into: &text)
        text += ":"
    }

    /// Appends `s` as a quoted JSON string.
    ///
    /// Works on the UTF-8 bytes: only ASCII bytes ever need escaping (`"`, `\`, controls), and the
    /// bytes of other characters pass through as they are. (Walking unicode scalars and appending
    /// scalar slices was most of a HAR export's time.)
    public static func escape(_ s: String, into out: inout String) {
        var bytes: [UInt8] = []
        if s.utf8.withContiguousStorageIfAvailable({ escapeBytes($0, into: &bytes) }) == nil {
            var copy = s
            copy.withUTF8 { escapeBytes($0, into: &bytes) }
        }
        out += String(decoding: bytes, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func escapeBytes(_ src: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.reserveCapacity(src.count + 2)
        out.append(0x22)
        var plainStart = 0
        for i in 0..<src.count {
            let c = src[i]
            guard c < 0x20 || c == 0x22 || c == 0x5C else { continue }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: src[plainStart..<i]))
            plainStart = i + 1
            switch c {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            default:
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hexDigits[Int(c >> 4)], hexDigits[Int(c & 15)]])
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: src[plainStart..<src.count]))
        out.append(0x22)
    }
}
