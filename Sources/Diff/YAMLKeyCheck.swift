import HarnessCore
import Yams

/// Refuses YAML that Yams's `load` would trap on: a mapping key that is itself a mapping or a
/// sequence (`? {a: 1} : x`) is force-unwrapped to `AnyHashable` inside Yams. Found by the
/// `FuzzNoiseRules` fuzz target; checked on the composed node tree before `load`. Also bounds the
/// tree (aliases expand: a few nested anchors make billions of nodes).
enum YAMLKeyCheck {
    static let maxNodes = 200_000

    static func check(_ yaml: String, file: String) throws {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw HarnessError(.badInput, "the rules file is not valid YAML: \(error)", path: file)
        }
        guard let root else { return }
        var pending = [root]
        var seen = 0
        while let node = pending.popLast() {
            seen += 1
            if seen > maxNodes {
                throw HarnessError(.badInput, "the rules file expands to more than \(maxNodes) YAML nodes (aliases?)", path: file)
            }
            switch node {
            case .scalar: continue
            case .sequence(let items): pending += Array(items)
            case .mapping(let pairs):
                for (key, value) in pairs {
                    guard case .scalar = key else {
                        let line = key.mark.map { "line \($0.line)" }
                        throw HarnessError(.badInput, "a mapping key must be a plain value, not a list or a mapping", path: file, location: line)
                    }
                    pending.append(value)
                }
            }
        }
    }
}
