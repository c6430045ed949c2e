import Foundation
import HarnessCore
import Yams

/// Noise and normalisation rules: the defaults plus an optional YAML rules file.
///
/// The file format (documented in `docs/DIFF.md`):
/// ```yaml
/// defaults: true              # keep the default ignore list (NoiseDefaults)
/// ignore_headers: [X-Powered-By]
/// unignore: [Server]          # compare a default-ignored header after all
/// cookie_values: false        # compare Set-Cookie values (default: presence only)
/// time_tolerance: 2           # seconds of slack for time-shifted dates
/// rules:
///   - route: "^/api/"         # regex on the request path (original request)
///     method: GET             # optional
///     ignore_headers: [ETag]
///     ignore_fields: ["$.meta.generated", "$.items[].updatedAt"]
///     cookie_values: true
///     ignore_body: false      # true: bodies on this route are not compared
///     normalize:
///       - header: X-Build
///         pattern: "[0-9]+"
///         replace: "N"
///       - field: "$.token"
///         pattern: ".*"
///         replace: "T"
/// ```
public final class NoiseRules {
    /// The default ignore list applies.
    public var useDefaults = true
    /// Ignored everywhere (lowercased).
    public var ignoreHeaders: Set<String> = []
    /// Default-ignored headers to compare after all (lowercased).
    public var unignore: Set<String> = []
    public var compareCookieValues = false
    public var timeToleranceSeconds = NoiseDefaults.timeToleranceSeconds
    var routeRules: [RouteRule] = []

    public init() {}

    /// Rules from a YAML file; throws `HarnessError` naming the file on bad input.
    public convenience init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HarnessError(.io, "cannot read the rules file", path: path)
        }
        try self.init(yaml: String(decoding: data, as: UTF8.self), name: path)
    }

    /// Rules from YAML text.
    public convenience init(yaml: String, name: String = "<rules>") throws {
        self.init()
        guard let root = try YAMLValues.load(yaml, file: name) else { return }
        guard let map = root as? [String: Any] else {
            throw HarnessError(.badInput, "the rules file must be a mapping (keys: defaults, ignore_headers, rules...)", path: name)
        }
        for (key, value) in map {
            switch key {
            case "defaults": useDefaults = try Self.bool(value, key, name)
            case "ignore_headers": ignoreHeaders.formUnion(try Self.strings(value, key, name).map { $0.lowercased() })
            case "unignore": unignore.formUnion(try Self.strings(value, key, name).map { $0.lowercased() })
            case "cookie_values": compareCookieValues = try Self.bool(value, key, name)
            case "time_tolerance":
                guard let n = value as? Int else { throw HarnessError(.badInput, "time_tolerance must be a number of seconds", path: name) }
                timeToleranceSeconds = Int64(n)
            case "rules":
                guard let list = value as? [Any] else { throw HarnessError(.badInput, "rules must be a list", path: name) }
                for (i, item) in list.enumerated() { routeRules.append(try RouteRule(item, index: i, file: name)) }
            default:
                throw HarnessError(.badInput, "unknown key '\(key)' in the rules file", path: name)
            }
        }
    }

    /// Adds another rule set (learned noise) to this one.
    public func merge(_ other: NoiseRules) {
        cache.removeAll()
        unrouted = nil
        ignoreHeaders.formUnion(other.ignoreHeaders)
        routeRules += other.routeRules
        compareCookieValues = compareCookieValues || other.compareCookieValues
    }

    static func bool(_ v: Any, _ key: String, _ file: String) throws -> Bool {
        if let b = v as? Bool { return b }
        throw HarnessError(.badInput, "\(key) must be true or false", path: file)
    }
    static func strings(_ v: Any, _ key: String, _ file: String) throws -> [String] {
        if let s = v as? String { return [s] }
        if let list = v as? [Any] { return list.map { "\($0)" } }
        throw HarnessError(.badInput, "\(key) must be a list of names", path: file)
    }

    private var cache: [String: ResolvedRules] = [:]
    /// The rules when no route rule exists (the common case: no hashing per exchange).
    private var unrouted: ResolvedRules?

    /// Route rules exist (the fast path then checks each pair's route).
    var hasRouteRules: Bool { !routeRules.isEmpty }

    /// The rules where no route rule applies.
    func base() -> ResolvedRules {
        if routeRules.isEmpty { return resolve(method: "", path: "") }
        return build(matching: [])
    }

    /// The rules in force for one request (cached per method and path).
    func resolve(method: String, path: Substring) -> ResolvedRules {
        if routeRules.isEmpty {
            if let r = unrouted { return r }
            let r = build(matching: [])
            unrouted = r
            return r
        }
        let key = method + " " + path
        if let r = cache[key] { return r }
        let p = String(path)
        let matching = routeRules.filter { $0.matches(method: method, path: p) }
        let r = build(matching: matching)
        if cache.count > 10_000 { cache.removeAll(keepingCapacity: true) }
        cache[key] = r
        return r
    }

    private func build(matching: [RouteRule]) -> ResolvedRules {
        let r = ResolvedRules()
        r.ignored = ignoreHeaders
        if useDefaults { r.ignored.formUnion(NoiseDefaults.ignoredHeaders.subtracting(unignore)) }
        r.timeShifted = useDefaults ? NoiseDefaults.timeShiftedHeaders.subtracting(unignore) : []
        r.productOnly = useDefaults ? NoiseDefaults.productOnlyHeaders.subtracting(unignore) : []
        r.cookieValues = compareCookieValues
        r.toleranceMicros = timeToleranceSeconds * 1_000_000
        r.routed = !matching.isEmpty
        for rule in matching {
            r.ignored.formUnion(rule.ignoreHeaders)
            r.ignoredFields += rule.ignoreFields
            if let c = rule.cookieValues { r.cookieValues = c }
            if rule.ignoreBody { r.ignoreBody = true }
            for n in rule.normalize {
                switch n.target {
                case .header(let name): r.headerNormalizers[name, default: []].append(n)
                case .field(let path): r.fieldNormalizers.append((path, n))
                }
            }
        }
        return r
    }
}

/// Rules that apply to requests whose path matches a pattern.
struct RouteRule {
    var pattern: NSRegularExpression?
    var patternText: String
    var method: String?
    var ignoreHeaders: Set<String> = []
    /// JSON field paths (`$.a.b`, `$.items[].id`); a path also covers everything under it.
    var ignoreFields: [String] = []
    var normalize: [Normalization] = []
    var cookieValues: Bool?
    /// Bodies on this route are not compared (pages with per-request tokens).
    var ignoreBody = false

    init(_ item: Any, index: Int, file: String) throws {
        guard let map = item as? [String: Any] else {
            throw HarnessError(.badInput, "rule \(index + 1) must be a mapping", path: file)
        }
        patternText = (map["route"] as? String) ?? ".*"
        do { pattern = try NSRegularExpression(pattern: patternText) } catch {
            throw HarnessError(.badInput, "rule \(index + 1): route '\(patternText)' is not a valid regular expression", path: file)
        }
        method = (map["method"] as? String)?.uppercased()
        for (key, value) in map {
            switch key {
            case "route", "method": break
            case "ignore_headers": ignoreHeaders = Set(try NoiseRules.strings(value, key, file).map { $0.lowercased() })
            case "ignore_fields": ignoreFields = try NoiseRules.strings(value, key, file).map(FieldPath.canonical)
            case "cookie_values": cookieValues = try NoiseRules.bool(value, key, file)
            case "ignore_body": ignoreBody = try NoiseRules.bool(value, key, file)
            case "normalize":
                guard let list = value as? [Any] else {
                    throw HarnessError(.badInput, "rule \(index + 1): normalize must be a list", path: file)
                }
                normalize = try list.map { try Normalization($0, rule: index, file: file) }
            default:
                throw HarnessError(.badInput, "rule \(index + 1): unknown key '\(key)'", path: file)
            }
        }
    }

    /// A rule built in code (learned noise).
    init(route: String, ignoreHeaders: Set<String> = [], ignoreFields: [String] = []) {
        patternText = route
        pattern = try? NSRegularExpression(pattern: route)
        self.ignoreHeaders = Set(ignoreHeaders.map { $0.lowercased() })
        self.ignoreFields = ignoreFields.map(FieldPath.canonical)
    }

    func matches(method m: String, path: String) -> Bool {
        if let method, method != m { return false }
        guard let pattern else { return true }
        return pattern.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil
    }
}

/// A regex replacement applied to a header's values or a JSON field's value on both sides.
struct Normalization {
    enum Target { case header(String), field(String) }
    var target: Target
    var regex: NSRegularExpression
    var replacement: String

    init(_ item: Any, rule: Int, file: String) throws {
        guard let map = item as? [String: Any], let pattern = map["pattern"] as? String else {
            throw HarnessError(.badInput, "rule \(rule + 1): each normalize entry needs header or field, and pattern", path: file)
        }
        if let h = map["header"] as? String {
            target = .header(h.lowercased())
        } else if let f = map["field"] as? String {
            target = .field(FieldPath.canonical(f))
        } else {
            throw HarnessError(.badInput, "rule \(rule + 1): a normalize entry needs header or field", path: file)
        }
        do { regex = try NSRegularExpression(pattern: pattern) } catch {
            throw HarnessError(.badInput, "rule \(rule + 1): '\(pattern)' is not a valid regular expression", path: file)
        }
        replacement = (map["replace"] as? String) ?? ""
    }

    func apply(_ value: String) -> String {
        regex.stringByReplacingMatches(in: value, range: NSRange(value.startIndex..., in: value), withTemplate: replacement)
    }
}

/// The rules in force for one exchange (shared, cached per route: a class, so passing it around
/// costs one reference).
final class ResolvedRules {
    var ignored: Set<String> = []
    var timeShifted: Set<String> = []
    var productOnly: Set<String> = []
    var cookieValues = false
    var toleranceMicros: Int64 = 2_000_000
    var ignoredFields: [String] = []
    var ignoreBody = false
    var headerNormalizers: [String: [Normalization]] = [:]
    var fieldNormalizers: [(String, Normalization)] = []
    /// A route rule contributed (false: the base rules, as `RecordDigester` assumed them).
    var routed = false

    func normalizeHeader(_ name: String, _ value: String) -> String {
        guard let list = headerNormalizers[name] else { return value }
        return list.reduce(value) { $1.apply($0) }
    }

    func fieldIgnored(_ path: String) -> Bool {
        let p = FieldPath.canonical(path)
        return ignoredFields.contains { p == $0 || p.hasPrefix($0 + ".") || p.hasPrefix($0 + "[") }
    }

    func normalizeField(_ path: String, _ value: String) -> String {
        if fieldNormalizers.isEmpty { return value }
        let p = FieldPath.canonical(path)
        var v = value
        for (fp, n) in fieldNormalizers where fp == p { v = n.apply(v) }
        return v
    }
}

/// JSON field paths: `$.items[3].id` canonicalised to `$.items[].id` for matching and grouping.
enum FieldPath {
    static func canonical(_ path: String) -> String {
        var out = ""
        var inBracket = false
        for c in path {
            if c == "[" { inBracket = true; out.append("["); continue }
            if c == "]" { inBracket = false; out.append("]"); continue }
            if inBracket { continue }
            out.append(c)
        }
        return out.hasPrefix("$") ? out : "$." + out
    }
}
