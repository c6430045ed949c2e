/// A field path into a JSON body, as `--redact-json` takes it.
///
/// Syntax (a small subset of JSONPath, dots between steps):
/// - `user.password`: the key `password` of the object under the root's key `user`;
/// - `items[].token`: `[]` steps into every element of an array (`[].token` when the root is one);
/// - `*` matches any one key (`users.*.password`);
/// - a leading `..` matches at any depth: `..password` is every `password` key wherever it is.
///
/// The value found (a string, number, boolean, null, or a whole object or array) is replaced by a
/// JSON string holding its keyed token; a string's token is computed over its decoded text, so the
/// same secret in a header and a JSON field gives the same token.
public struct JSONRedactionPath: Sendable, Equatable, CustomStringConvertible {
    /// One step of a path.
    public enum Step: Sendable, Equatable {
        case key(String)
        case anyKey
        case anyElement
    }

    public let steps: [Step]
    /// True for a leading `..`: the path may start at any depth.
    public let anywhere: Bool
    public let description: String

    /// Parses the syntax above; throws a usage error naming the path when it is malformed.
    public init(parsing text: String) throws(HarnessError) {
        description = text
        var rest = Substring(text)
        anywhere = rest.hasPrefix("..")
        if anywhere { rest = rest.dropFirst(2) }
        var steps: [Step] = []
        for part in rest.split(separator: ".", omittingEmptySubsequences: false) {
            var name = part
            var elements = 0
            while name.hasSuffix("[]") {
                name = name.dropLast(2)
                elements += 1
            }
            if name.contains("[") || name.contains("]") {
                throw HarnessError(.usage, "--redact-json '\(text)': only '[]' (every element) may follow a key")
            }
            if name.isEmpty {
                // `[].x` at the root, or `a[][]`; an empty step between dots is a mistake.
                if elements == 0 { throw HarnessError(.usage, "--redact-json '\(text)': empty step (two dots, or a dot at an end)") }
            } else {
                steps.append(name == "*" ? .anyKey : .key(String(name)))
            }
            steps += Array(repeating: .anyElement, count: elements)
        }
        if steps.isEmpty { throw HarnessError(.usage, "--redact-json '\(text)': no field named") }
        self.steps = steps
    }

    /// True when the value at `location` (root first) is one this path names.
    func matches(_ location: [JSONLocationStep]) -> Bool {
        if anywhere {
            guard location.count >= steps.count else { return false }
        } else {
            guard location.count == steps.count else { return false }
        }
        let offset = location.count - steps.count
        for (i, step) in steps.enumerated() {
            switch (step, location[offset + i]) {
            case (.key(let name), .key(let actual)): if name != actual { return false }
            case (.anyKey, .key): continue
            case (.anyElement, .element): continue
            default: return false
            }
        }
        return true
    }
}

/// Where a value sits in a JSON document: under an object key, or an array element.
enum JSONLocationStep: Equatable {
    case key(String)
    case element
}

/// A byte range of a body and what replaces it.
struct ByteReplacement {
    var range: Range<Int>
    var bytes: [UInt8]
}

/// A tolerant, formatting-preserving JSON scanner: finds the values some paths name and returns
/// the byte ranges to replace, leaving every other byte as it was (so the diff sees only the
/// tokens change). It works on a prefix (a truncated body): a named value that does not end
/// within the bytes is redacted to the end. It stops at the first syntax error, keeping what it
/// found before. Nesting is tracked on an explicit stack (no recursion on hostile depth).
struct JSONRedactionScanner {
    let paths: [JSONRedactionPath]
    let token: (String) -> String

    private enum Expecting { case key, value, separator }
    private enum Frame {
        case object(Expecting)
        case array(Expecting)
    }

    func replacements(in body: [UInt8]) -> [ByteReplacement] {
        var out: [ByteReplacement] = []
        var stack: [Frame] = []
        var location: [JSONLocationStep] = []
        // While inside a named container: where it starts and the stack depth it opened at.
        var namedContainer: (start: Int, depth: Int)?
        var i = 0
        let n = body.count

        func replace(_ range: Range<Int>, tokenOf value: String) {
            out.append(ByteReplacement(range: range, bytes: Array(("\"" + token(value) + "\"").utf8)))
        }
        // A value ended: leave its step and expect a separator in the parent.
        func valueDone() {
            guard let top = stack.last else { return }
            if !location.isEmpty { location.removeLast() }
            switch top {
            case .object: stack[stack.count - 1] = .object(.separator)
            case .array: stack[stack.count - 1] = .array(.separator)
            }
        }

        scan: while true {
            while i < n, body[i] == 0x20 || body[i] == 0x0A || body[i] == 0x0D || body[i] == 0x09 { i += 1 }
            guard i < n else { break }
            let c = body[i]
            var expecting = Expecting.value
            if let top = stack.last {
                switch top {
                case .object(let e), .array(let e): expecting = e
                }
            }
            let closer = c == UInt8(ascii: "}") || c == UInt8(ascii: "]")
            if closer, let top = stack.last {
                switch (top, c, expecting) {
                case (.object, UInt8(ascii: "}"), .key), (.object, UInt8(ascii: "}"), .separator),
                    (.array, UInt8(ascii: "]"), .separator):
                    break
                case (.array, UInt8(ascii: "]"), .value):
                    if location.last == .element { location.removeLast() }  // `[]` or a trailing comma
                default: break scan
                }
                stack.removeLast()
                i += 1
                if let named = namedContainer, named.depth == stack.count {
                    replace(named.start..<i, tokenOf: String(decoding: body[named.start..<i], as: UTF8.self))
                    namedContainer = nil
                }
                if stack.isEmpty { break scan }  // the root value is done
                valueDone()
                continue
            }
            switch expecting {
            case .separator:
                guard c == UInt8(ascii: ",") else { break scan }
                i += 1
                switch stack[stack.count - 1] {
                case .object: stack[stack.count - 1] = .object(.key)
                case .array:
                    stack[stack.count - 1] = .array(.value)
                    location.append(.element)
                }
            case .key:
                guard c == UInt8(ascii: "\""), let (key, end) = JSONStringScan.decode(body, from: i) else { break scan }
                i = end
                while i < n, body[i] == 0x20 || body[i] == 0x0A || body[i] == 0x0D || body[i] == 0x09 { i += 1 }
                guard i < n, body[i] == UInt8(ascii: ":") else { break scan }
                i += 1
                stack[stack.count - 1] = .object(.value)
                location.append(.key(key))
            case .value:
                let named = namedContainer == nil && paths.contains { $0.matches(location) }
                let start = i
                if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                    if named { namedContainer = (start, stack.count) }
                    if c == UInt8(ascii: "{") {
                        stack.append(.object(.key))
                    } else {
                        stack.append(.array(.value))
                        location.append(.element)
                    }
                    i += 1
                    continue
                }
                if c == UInt8(ascii: "\"") {
                    guard let (text, end) = JSONStringScan.decode(body, from: i) else {
                        // Cut off by the end of the bytes: a named string is redacted to the end.
                        if named { replace(start..<n, tokenOf: String(decoding: body[start...], as: UTF8.self)) }
                        break scan
                    }
                    i = end
                    // A token already (a redacted recording redacted again) stays as it is.
                    if named && !text.hasPrefix(Redactor.marker) { replace(start..<end, tokenOf: text) }
                } else {
                    while i < n, !Self.endsScalar(body[i]) { i += 1 }
                    guard i > start else { break scan }
                    if named { replace(start..<i, tokenOf: String(decoding: body[start..<i], as: UTF8.self)) }
                }
                if stack.isEmpty { break scan }
                valueDone()
            }
        }
        // A named container still open when the bytes end is redacted to the end.
        if let named = namedContainer {
            replace(named.start..<n, tokenOf: String(decoding: body[named.start...], as: UTF8.self))
        }
        return out
    }

    private static func endsScalar(_ b: UInt8) -> Bool {
        b == UInt8(ascii: ",") || b == UInt8(ascii: "}") || b == UInt8(ascii: "]") || b == 0x20 || b == 0x0A || b == 0x0D
            || b == 0x09 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "{") || b == UInt8(ascii: "[")
    }
}

/// Decodes one JSON string literal.
enum JSONStringScan {
    /// The decoded text of the string starting at `start` (a `"`) and the offset after its closing
    /// quote; nil when it does not close within the bytes. Bad escapes are kept as written.
    static func decode(_ b: [UInt8], from start: Int) -> (String, Int)? {
        var i = start + 1
        var raw: [UInt8] = []
        var units: [UInt16] = []
        func flushUnits() {
            if !units.isEmpty {
                raw += Array(String(decoding: units, as: UTF16.self).utf8)
                units = []
            }
        }
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                flushUnits()
                return (String(decoding: raw, as: UTF8.self), i + 1)
            }
            if c == UInt8(ascii: "\\"), i + 1 < b.count {
                let e = b[i + 1]
                if e == UInt8(ascii: "u"), i + 5 < b.count, let unit = UInt16(String(decoding: b[(i + 2)..<(i + 6)], as: UTF8.self), radix: 16) {
                    units.append(unit)
                    i += 6
                    continue
                }
                flushUnits()
                switch e {
                case UInt8(ascii: "n"): raw.append(0x0A)
                case UInt8(ascii: "t"): raw.append(0x09)
                case UInt8(ascii: "r"): raw.append(0x0D)
                case UInt8(ascii: "b"): raw.append(0x08)
                case UInt8(ascii: "f"): raw.append(0x0C)
                default: raw.append(e)
                }
                i += 2
                continue
            }
            if c == UInt8(ascii: "\\") { return nil }
            flushUnits()
            raw.append(c)
            i += 1
        }
        return nil
    }
}
