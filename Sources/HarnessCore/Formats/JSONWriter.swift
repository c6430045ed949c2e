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
    public static func escape(_ s: String, into out: inout String) {
        out += "\""
        var plainStart = s.unicodeScalars.startIndex
        var i = plainStart
        let scalars = s.unicodeScalars
        while i != scalars.endIndex {
            let c = scalars[i]
            let replacement: String?
            switch c {
            case "\"": replacement = "\\\""
            case "\\": replacement = "\\\\"
            case "\n": replacement = "\\n"
            case "\r": replacement = "\\r"
            case "\t": replacement = "\\t"
            default:
                if c.value < 0x20 {
                    let hex = String(c.value, radix: 16)
                    replacement = "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    replacement = nil
                }
            }
            if let replacement {
                out.unicodeScalars.append(contentsOf: scalars[plainStart..<i])
                out += replacement
                plainStart = scalars.index(after: i)
            }
            i = scalars.index(after: i)
        }
        out.unicodeScalars.append(contentsOf: scalars[plainStart..<scalars.endIndex])
        out += "\""
    }
}
