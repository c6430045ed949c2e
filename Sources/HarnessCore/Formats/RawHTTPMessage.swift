/// Parses and serialises one whole HTTP/1.x message held in memory (GoReplay payloads, exports).
///
/// Streaming capture has its own incremental framer (Capture module); this one reads a message
/// that is already complete, as an importer sees it.
public enum RawHTTPMessage {
    /// A parsed start line, headers and de-chunked body.
    public struct Parsed: Sendable, Equatable {
        /// Request: method, target, version. Response: version, status, reason.
        public var startLine: [String]
        public var version: HTTPVersionNumber
        public var headers: Headers
        public var body: [UInt8]
        public var trailers: Headers
        public var chunked: Bool
        public var contentLength: Bool
    }

    /// Parses `bytes` as one message. Throws a `DecodeFailure`-like `HarnessError` naming the offset.
    public static func parse(_ bytes: [UInt8], isRequest: Bool) throws -> Parsed {
        var lines: [(start: Int, end: Int)] = []
        var i = 0
        var lineStart = 0
        var headEnd = -1
        while i < bytes.count {
            if bytes[i] == 10 {
                let end = (i > lineStart && bytes[i - 1] == 13) ? i - 1 : i
                if end == lineStart {
                    headEnd = i + 1
                    break
                }
                lines.append((lineStart, end))
                lineStart = i + 1
            }
            i += 1
        }
        guard headEnd >= 0, let first = lines.first else {
            throw HarnessError(.badInput, "HTTP message has no complete head", location: "byte offset \(bytes.count)")
        }
        let startLine = String(decoding: bytes[first.start..<first.end], as: UTF8.self)
        let parts = startLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2 else {
            throw HarnessError(.badInput, "malformed start line \"\(startLine.prefix(60))\"", location: "byte offset 0")
        }
        let versionText = isRequest ? (parts.count > 2 ? parts[2] : "HTTP/1.0") : parts[0]
        guard let version = parseVersion(versionText) else {
            throw HarnessError(.badInput, "unknown HTTP version \"\(versionText.prefix(20))\"", location: "byte offset 0")
        }
        var headers: Headers = []
        for line in lines.dropFirst() {
            guard let colon = bytes[line.start..<line.end].firstIndex(of: 58) else {
                throw HarnessError(.badInput, "header line without a colon", location: "byte offset \(line.start)")
            }
            let name = String(decoding: bytes[line.start..<colon], as: UTF8.self)
            let value = String(decoding: bytes[(colon + 1)..<line.end], as: UTF8.self)
            headers.append(HeaderField(name, trimOWS(value)))
        }
        var parsed = Parsed(
            startLine: parts, version: version, headers: headers, body: [], trailers: [], chunked: false,
            contentLength: false)
        let rest = Array(bytes[headEnd...])
        if headers.all("Transfer-Encoding").contains(where: { $0.lowercased().contains("chunked") }) {
            parsed.chunked = true
            (parsed.body, parsed.trailers) = try dechunk(rest, baseOffset: headEnd)
        } else if let cl = headers.first("Content-Length"), let n = Int(cl.trimmingSpaces()), n >= 0 {
            parsed.contentLength = true
            parsed.body = Array(rest.prefix(n))
        } else {
            parsed.body = rest
        }
        return parsed
    }

    /// Decodes a chunked body; returns the body and the trailer fields.
    public static func dechunk(_ bytes: [UInt8], baseOffset: Int = 0) throws -> ([UInt8], Headers) {
        var body: [UInt8] = []
        var i = 0
        func line() throws -> String {
            guard let nl = bytes[i...].firstIndex(of: 10) else {
                throw HarnessError(.badInput, "chunked body ends inside a chunk-size line", location: "byte offset \(baseOffset + i)")
            }
            let end = (nl > i && bytes[nl - 1] == 13) ? nl - 1 : nl
            defer { i = nl + 1 }
            return String(decoding: bytes[i..<end], as: UTF8.self)
        }
        while true {
            let at = i
            let sizeLine = try line()
            let sizeText = sizeLine.split(separator: ";", maxSplits: 1).first.map { $0.trimmingSpaces() } ?? ""
            guard let size = Int(sizeText, radix: 16), size >= 0 else {
                throw HarnessError(.badInput, "bad chunk size \"\(sizeLine.prefix(20))\"", location: "byte offset \(baseOffset + at)")
            }
            if size == 0 { break }
            guard i + size <= bytes.count else {
                throw HarnessError(.badInput, "chunk of \(size) bytes runs past the end", location: "byte offset \(baseOffset + at)")
            }
            body.append(contentsOf: bytes[i..<(i + size)])
            i += size
            if i < bytes.count && bytes[i] == 13 { i += 1 }
            if i < bytes.count && bytes[i] == 10 { i += 1 }
        }
        var trailers: Headers = []
        while i < bytes.count {
            let l = try line()
            if l.isEmpty { break }
            if let colon = l.firstIndex(of: ":") {
                trailers.append(HeaderField(String(l[..<colon]), trimOWS(String(l[l.index(after: colon)...]))))
            }
        }
        return (body, trailers)
    }

    /// The request as bytes on the wire (re-chunked when its headers say chunked).
    public static func serialize(_ r: Request) -> [UInt8] {
        var out = Array("\(r.method) \(r.target) \(r.version)\r\n".utf8)
        appendHeadersAndBody(&out, r.headers, r.body, r.trailers)
        return out
    }

    /// The response as bytes on the wire (interim responses first).
    public static func serialize(_ r: Response) -> [UInt8] {
        var out: [UInt8] = []
        for i in r.interim {
            out += Array("\(r.version) \(i.status) \(i.reason)\r\n".utf8)
            for h in i.headers { out += Array("\(h.name): \(h.value)\r\n".utf8) }
            out += [13, 10]
        }
        out += Array("\(r.version) \(r.status) \(r.reason)\r\n".utf8)
        appendHeadersAndBody(&out, r.headers, r.body, r.trailers)
        return out
    }

    private static func appendHeadersAndBody(_ out: inout [UInt8], _ headers: Headers, _ body: [UInt8], _ trailers: Headers) {
        for h in headers { out += Array("\(h.name): \(h.value)\r\n".utf8) }
        out += [13, 10]
        if headers.all("Transfer-Encoding").contains(where: { $0.lowercased().contains("chunked") }) {
            if !body.isEmpty {
                out += Array(String(body.count, radix: 16).utf8) + [13, 10]
                out += body
                out += [13, 10]
            }
            out += Array("0\r\n".utf8)
            for h in trailers { out += Array("\(h.name): \(h.value)\r\n".utf8) }
            out += [13, 10]
        } else {
            out += body
        }
    }

    static func parseVersion(_ text: String) -> HTTPVersionNumber? {
        guard text.hasPrefix("HTTP/") else { return nil }
        let nums = text.dropFirst(5).split(separator: ".")
        guard let major = UInt8(nums.first ?? ""), let minor = nums.count > 1 ? UInt8(nums[1]) : 0 else { return nil }
        return HTTPVersionNumber(major: major, minor: minor)
    }

    static func trimOWS(_ s: String) -> String { String(s.trimmingSpaces()) }
}

extension StringProtocol {
    /// Drops leading and trailing spaces and tabs (HTTP optional whitespace).
    public func trimmingSpaces() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
