/// GoReplay's file format (`gor --output-file`), so GoReplay users can bring their recordings.
///
/// Each payload is a header line `TYPE ID TIMESTAMP_NS LATENCY_NS`, the raw HTTP message, and the
/// separator `\n🐵🙈🙉\n`. Types: 1 request, 2 original response, 3 replayed response. Files whose
/// name ends in `.gz` are gzip'd. GoReplay has no legs, links or connections: on import every
/// exchange is `direct`, its GoReplay id kept in the annotation `gor_id`.
public enum GoReplayFormat {
    public static let separator: [UInt8] = Array("\n🐵🙈🙉\n".utf8)

    /// Writes exchanges as GoReplay payloads.
    public final class Writer {
        private let out: OutputStream
        public init(path: String) throws { out = try OutputStream(path: path) }

        public func append(_ e: Exchange) throws {
            let id = e.annotation("gor_id") ?? hexID(e.id)
            let reqNs = e.timing.requestStart * 1000
            try out.write("1 \(id) \(reqNs) -1\n")
            try out.write(RawHTTPMessage.serialize(e.request))
            try out.write(GoReplayFormat.separator)
            if let r = e.response {
                let respNs = (e.timing.responseStart != 0 ? e.timing.responseStart : e.timing.requestStart) * 1000
                let latency = e.timing.responseStart != 0 && e.timing.requestStart != 0
                    ? (e.timing.responseStart - e.timing.requestStart) * 1000 : 0
                try out.write("2 \(id) \(respNs) \(latency)\n")
                try out.write(RawHTTPMessage.serialize(r))
                try out.write(GoReplayFormat.separator)
            }
        }

        public func close() throws { try out.close() }

        private func hexID(_ id: UInt64) -> String {
            let h = String(id, radix: 16)
            return String(repeating: "0", count: max(0, 24 - h.count)) + h
        }
    }

    /// Reads a GoReplay file as exchanges, pairing each request with its original response by id.
    /// Memory holds the requests still waiting for a response (bounded by `pendingLimit`).
    public final class Reader {
        private let readChunk: () throws -> [UInt8]
        private var inputOffset: UInt64 = 0
        private var buffer: [UInt8] = []
        private var bufferStart = 0
        private var eof = false
        private var nextID: UInt64 = 1
        private var pending: [(gorID: String, exchange: Exchange)] = []
        private var pendingIndex: [String: Int] = [:]
        private var pendingBase = 0
        private var payloadNumber = 0
        private let pendingLimit: Int
        public let path: String

        public init(path: String, pendingLimit: Int = 100_000) throws {
            self.path = path
            let input = try InputStream(path: path)
            readChunk = { try input.read() }
            self.pendingLimit = pendingLimit
        }

        /// Reads GoReplay payloads held in memory (tests, fuzzing).
        public init(bytes: [UInt8], name: String = "<memory>", pendingLimit: Int = 100_000) {
            path = name
            var remaining: [UInt8]? = bytes
            readChunk = {
                defer { remaining = nil }
                return remaining ?? []
            }
            self.pendingLimit = pendingLimit
        }

        /// The next exchange in request order, or nil at the end.
        public func next() throws -> Exchange? {
            while true {
                if let first = pending.first, first.exchange.response != nil || pending.count > pendingLimit || eofAndDrained {
                    return popFirst()
                }
                if eofAndDrained { return nil }
                guard let payload = try nextPayload() else {
                    continue
                }
                try handle(payload)
            }
        }

        private var eofAndDrained: Bool { eof && bufferStart >= buffer.count }

        private func popFirst() -> Exchange {
            let first = pending.removeFirst()
            pendingIndex[first.gorID] = nil
            pendingBase += 1
            var e = first.exchange
            if e.response == nil { e.flags.incomplete = true }
            return e
        }

        /// One payload (header line + message) or nil when more input is needed.
        private func nextPayload() throws -> (header: [UInt8], body: [UInt8], offset: UInt64)? {
            while true {
                if let sepAt = find(GoReplayFormat.separator, from: bufferStart) {
                    let chunk = Array(buffer[bufferStart..<sepAt])
                    let offset = inputOffset - UInt64(buffer.count - bufferStart)
                    bufferStart = sepAt + GoReplayFormat.separator.count
                    compact()
                    payloadNumber += 1
                    guard let nl = chunk.firstIndex(of: 10) else {
                        throw HarnessError(.badInput, "GoReplay payload #\(payloadNumber) has no header line",
                                           path: path, location: "byte offset \(offset)")
                    }
                    return (Array(chunk[..<nl]), Array(chunk[(nl + 1)...]), offset)
                }
                if eof {
                    // A trailing payload without separator (a torn file): take it if it has a header.
                    if bufferStart < buffer.count {
                        let rest = Array(buffer[bufferStart...])
                        let offset = inputOffset - UInt64(rest.count)
                        bufferStart = buffer.count
                        if let nl = rest.firstIndex(of: 10), rest.count > nl + 1 {
                            payloadNumber += 1
                            return (Array(rest[..<nl]), Array(rest[(nl + 1)...]), offset)
                        }
                    }
                    return nil
                }
                let more = try readChunk()
                inputOffset += UInt64(more.count)
                if more.isEmpty { eof = true } else { buffer += more }
            }
        }

        private func compact() {
            if bufferStart > 1 << 20 {
                buffer.removeSubrange(0..<bufferStart)
                bufferStart = 0
            }
        }

        private func find(_ needle: [UInt8], from: Int) -> Int? {
            guard buffer.count - from >= needle.count else { return nil }
            var i = from
            let last = buffer.count - needle.count
            let first = needle[0]
            while i <= last {
                if buffer[i] == first {
                    var j = 1
                    while j < needle.count && buffer[i + j] == needle[j] { j += 1 }
                    if j == needle.count { return i }
                }
                i += 1
            }
            return nil
        }

        private func handle(_ payload: (header: [UInt8], body: [UInt8], offset: UInt64)) throws {
            let fields = String(decoding: payload.header, as: UTF8.self).split(separator: " ")
            guard fields.count >= 3, let type = fields.first, let ts = Int64(fields[2]) else {
                throw HarnessError(.badInput, "GoReplay payload #\(payloadNumber) has a malformed header line",
                                   path: path, location: "byte offset \(payload.offset)")
            }
            let gorID = String(fields[1])
            let latency = fields.count > 3 ? Int64(fields[3]) ?? 0 : 0
            func parsed(_ isRequest: Bool) throws -> RawHTTPMessage.Parsed {
                do {
                    return try RawHTTPMessage.parse(payload.body, isRequest: isRequest)
                } catch let e as HarnessError {
                    throw HarnessError(.badInput, "GoReplay payload #\(payloadNumber): \(e.message)", path: path,
                                       location: "byte offset \(payload.offset)")
                }
            }
            switch type {
            case "1":
                let m = try parsed(true)
                var framing: Framing = []
                if m.chunked { framing.insert(.requestChunked) }
                if m.contentLength { framing.insert(.requestContentLength) }
                let e = Exchange(
                    id: nextID, leg: .direct, sequence: 0, timing: Timing(requestStart: ts / 1000),
                    request: Request(method: m.startLine[0], target: m.startLine[1], version: m.version, headers: m.headers,
                                     body: m.body, trailers: m.trailers),
                    framing: framing, annotations: [Annotation("gor_id", gorID)])
                nextID += 1
                pendingIndex[gorID] = pendingBase + pending.count
                pending.append((gorID, e))
            case "2", "3":
                let m = try parsed(false)
                guard let slot = pendingIndex[gorID] else { return }  // response without its request: skipped
                let index = slot - pendingBase
                guard index >= 0, index < pending.count else { return }
                let status = UInt16(m.startLine[1]) ?? 0
                if type == "3" {
                    pending[index].exchange.annotations.append(Annotation("gor_replayed_status", String(status)))
                    return
                }
                var interim: [InterimResponse] = []
                var final = m
                // 100 Continue captured in the same payload: peel interim responses off.
                while (100..<200).contains(UInt16(final.startLine[1]) ?? 0), status != 101, !final.body.isEmpty,
                    let next = try? RawHTTPMessage.parse(final.body, isRequest: false)
                {
                    interim.append(InterimResponse(status: UInt16(final.startLine[1]) ?? 0,
                                                   reason: final.startLine.count > 2 ? final.startLine[2] : "",
                                                   headers: final.headers))
                    final = next
                }
                let finalStatus = UInt16(final.startLine[1]) ?? 0
                pending[index].exchange.response = Response(
                    status: finalStatus, reason: final.startLine.count > 2 ? final.startLine[2] : "", version: final.version,
                    headers: final.headers, body: final.body, trailers: final.trailers, interim: interim)
                if final.chunked { pending[index].exchange.framing.insert(.responseChunked) }
                if final.contentLength { pending[index].exchange.framing.insert(.responseContentLength) }
                if !interim.isEmpty { pending[index].exchange.framing.insert(.continueSeen) }
                let start = pending[index].exchange.timing.requestStart
                pending[index].exchange.timing.responseStart = latency > 0 ? start + latency / 1000 : ts / 1000
                pending[index].exchange.timing.responseEnd = pending[index].exchange.timing.responseStart
            default:
                throw HarnessError(.badInput, "GoReplay payload #\(payloadNumber) has unknown type \(type)",
                                   path: path, location: "byte offset \(payload.offset)")
            }
        }
    }
}
