import HarnessCore
import Yams

/// A rules file's YAML as plain values (`[String: Any]`, `[Any]`, `String`, `Bool`, `Int`), built
/// from Yams's node tree by us instead of `Yams.load`, which traps on hostile input the
/// `FuzzNoiseRules` target found: a mapping key that is itself a mapping (force-unwrapped to
/// `AnyHashable`) and a sexagesimal integer that overflows (`4444444444444448:2`). Here an
/// integer that does not fit stays a string, a complex key is an error naming the line, nesting
/// is bounded (Yams composes recursively) and so is alias expansion (billion laughs).
enum YAMLValues {
    static let maxNodes = 200_000
    static let maxDepth = 256

    static func load(_ yaml: String, file: String) throws -> Any? {
        if flowDepth(yaml) > maxDepth {
            throw HarnessError(.badInput, "the rules file nests deeper than \(maxDepth) levels", path: file)
        }
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw HarnessError(.badInput, "the rules file is not valid YAML: \(error)", path: file)
        }
        guard let root else { return nil }
        var budget = maxNodes
        return try value(root, depth: 0, budget: &budget, file: file)
    }

    private static func value(_ node: Node, depth: Int, budget: inout Int, file: String) throws -> Any? {
        budget -= 1
        if budget < 0 {
            throw HarnessError(.badInput, "the rules file expands to more than \(maxNodes) YAML nodes (aliases?)", path: file)
        }
        if depth > maxDepth { throw HarnessError(.badInput, "the rules file nests deeper than \(maxDepth) levels", path: file) }
        switch node {
        case .scalar(let scalar): return plain(scalar, tag: Tag.Name(rawValue: node.tag.description))
        case .sequence(let items):
            var list: [Any] = []
            for item in items { if let v = try value(item, depth: depth + 1, budget: &budget, file: file) { list.append(v) } }
            return list
        case .mapping(let pairs):
            var map: [String: Any] = [:]
            for (key, item) in pairs {
                guard case .scalar(let k) = key else {
                    throw HarnessError(.badInput, "a mapping key must be a plain value, not a list or a mapping", path: file,
                        location: key.mark.map { "line \($0.line)" })
                }
                map[k.string] = try value(item, depth: depth + 1, budget: &budget, file: file)
            }
            return map
        }
    }

    /// A scalar as Yams's resolver types it, converted without traps.
    private static func plain(_ scalar: Node.Scalar, tag: Tag.Name) -> Any? {
        let s = scalar.string
        switch tag {
        case .null: return nil
        case .bool:
            switch s.lowercased() {
            case "true", "yes", "on", "y": return true
            case "false", "no", "off", "n": return false
            default: return s
            }
        case .int: return Int(s) ?? s
        default: return s
        }
    }

    /// The deepest `[`/`{` nesting outside quotes (a cheap bound before Yams recurses).
    private static func flowDepth(_ text: String) -> Int {
        var depth = 0
        var deepest = 0
        var quote: UInt8?
        for c in text.utf8 {
            if let q = quote {
                if c == q { quote = nil }
                continue
            }
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "'"): quote = c
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth = max(0, depth - 1)
            case UInt8(ascii: "\n"): quote = nil
            default: break
            }
        }
        return deepest
    }
}
