import ArgumentParser
import Foundation
import HarnessCore

/// `harness log stats FILE [--json]`: counts of a recording.
struct LogStats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Summarise a recording.")

    @Argument(help: "The recording log.") var file: String
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        try await withExitCodes {
            let reader = try LogReader(path: file)
            var exchanges = 0, incomplete = 0, bodyBytes: UInt64 = 0
            var legs: [Leg: Int] = [:]
            var connections = Set<UInt64>()
            var methods: [String: Int] = [:]
            var statuses: [String: Int] = [:]
            var first = Int64.max, last = Int64.min
            var linked = 0, errors = 0, truncated = 0, parseErrors = 0
            try reader.forEach { e in
                if e.isComplete { exchanges += 1 } else { incomplete += 1 }
                legs[e.leg, default: 0] += 1
                connections.insert(e.connection.id &* 4 &+ UInt64(e.leg.rawValue))
                methods[e.request.method, default: 0] += 1
                statuses[e.response.map { String($0.status) } ?? "none", default: 0] += 1
                bodyBytes += e.request.bodyLength + (e.response?.bodyLength ?? 0)
                if e.timing.requestStart > 0 {
                    first = min(first, e.timing.requestStart)
                    last = max(last, max(e.timing.requestStart, e.timing.responseEnd))
                }
                if e.link != nil { linked += 1 }
                if e.error != nil { errors += 1 }
                if e.request.bodyTruncation != nil || e.response?.bodyTruncation != nil { truncated += 1 }
                if e.flags.parseError != nil { parseErrors += 1 }
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? UInt64) ?? reader.offset
            if json {
                var w = JSONWriter()
                w.beginObject()
                w.number("exchanges", exchanges)
                w.number("incomplete", incomplete)
                w.number("connections", connections.count)
                w.beginObject("legs")
                for leg in Leg.allCases { w.number(leg.description, legs[leg] ?? 0) }
                w.endObject()
                w.number("bytes", size)
                w.number("body_bytes", bodyBytes)
                w.number("linked", linked)
                w.number("errors", errors)
                w.number("truncated_bodies", truncated)
                w.number("parse_errors", parseErrors)
                w.beginObject("methods")
                for (k, v) in methods.sorted(by: { $0.key < $1.key }) { w.number(k, v) }
                w.endObject()
                w.beginObject("statuses")
                for (k, v) in statuses.sorted(by: { $0.key < $1.key }) { w.number(k, v) }
                w.endObject()
                if first <= last {
                    w.string("first", ISO8601.format(micros: first))
                    w.string("last", ISO8601.format(micros: last))
                }
                w.beginObject("header")
                for a in reader.header.metadata { w.string(a.key, a.value) }
                w.endObject()
                if let d = reader.damage { w.string("damage", d.description) } else { w.null("damage") }
                w.endObject()
                Console.out(w.text + "\n")
            } else {
                var lines = [
                    "file:         \(file) (\(size) bytes)",
                    "exchanges:    \(exchanges) complete, \(incomplete) incomplete",
                    "connections:  \(connections.count)",
                    "legs:         " + Leg.allCases.map { "\($0) \(legs[$0] ?? 0)" }.joined(separator: ", "),
                    "linked:       \(linked) back exchanges linked to a front exchange",
                    "methods:      " + methods.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
                    "statuses:     " + statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
                    "body bytes:   \(bodyBytes)",
                ]
                if first <= last { lines.append("time:         \(ISO8601.format(micros: first)) .. \(ISO8601.format(micros: last))") }
                if errors + truncated + parseErrors > 0 {
                    lines.append("problems:     \(errors) errors, \(truncated) truncated bodies, \(parseErrors) parse errors")
                }
                if !reader.header.metadata.isEmpty {
                    lines.append("header:       " + reader.header.metadata.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
                }
                if let d = reader.damage { lines.append("damage:       \(d) (the exchanges above are the readable prefix)") }
                Console.out(lines.joined(separator: "\n") + "\n")
            }
        }
    }
}
