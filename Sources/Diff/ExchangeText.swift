import HarnessCore

/// Renders an exchange unit as plain text for examples (`show`, terminal, HTML, Markdown).
enum ExchangeText {
    static let bodyLimit = 1_500

    static func render(_ u: ExchangeUnit) -> String {
        var out = ""
        let e = u.front.exchange
        out += "#\(e.id) \(e.request.method) \(e.request.target) \(e.request.version)\n"
        for h in e.request.headers { out += "\(h.name): \(h.value)\n" }
        out += body(u.front.requestBody)
        if let err = e.error { out += "!! error: \(err)\n" }
        if let r = e.response {
            out += "\n\(r.version) \(r.status) \(r.reason)\n"
            for h in r.headers { out += "\(h.name): \(h.value)\n" }
            if let b = u.front.responseBody { out += body(b) }
        } else {
            out += "\n(no response)\n"
        }
        for b in u.backs {
            let be = b.exchange
            out += "\n-- backend #\(be.id)" + (be.replayOf.map { " (answered from #\($0))" } ?? "")
            if let why = be.annotation("unmatched") { out += " UNMATCHED: \(why)" }
            out += "\n\(be.request.method) \(be.request.target) \(be.request.version)\n"
            for h in be.request.headers { out += "\(h.name): \(h.value)\n" }
            out += body(b.requestBody)
            if let r = be.response { out += "=> \(r.status) \(r.reason)\n" }
        }
        return out
    }

    static func body(_ b: BodyPrint) -> String {
        if b.length == 0 { return "" }
        guard let bytes = b.bytes else { return "\n[\(b.length) bytes\(b.truncated ? ", truncated" : "")]\n" }
        let printable = bytes.prefix(bodyLimit).allSatisfy { $0 == 9 || $0 == 10 || $0 == 13 || ($0 >= 32 && $0 != 127) || $0 >= 128 }
        if !printable { return "\n[\(b.length) bytes, binary]\n" }
        var s = "\n" + String(decoding: bytes.prefix(bodyLimit), as: UTF8.self)
        if bytes.count > bodyLimit { s += "\n[… \(bytes.count - bodyLimit) more bytes]" }
        return s + "\n"
    }
}
