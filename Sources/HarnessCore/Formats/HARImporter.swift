import Foundation

/// Reads a HAR 1.2 file (ours, mitmproxy's, a browser's) as exchanges.
///
/// Our own `_`-prefixed custom fields restore what HAR cannot say (legs, links, exact target,
/// microsecond timings). Foreign HARs hold content-decoded bodies: when a response body was not
/// marked `_bodyAsSent`, its `Content-Encoding` is dropped and noted in the annotation
/// `har_decoded`, so the recording never claims bytes it did not see. HTTP/2 pseudo-headers
/// (`:authority`, ...) are dropped; `Host` is taken from the URL when missing.
public enum HARImporter {
    public static func read(path: String) throws -> [Exchange] {
        var out: [Exchange] = []
        try forEach(path: path) { out.append($0) }
        return out
    }

    /// Reads a HAR file entry by entry (gzip'd or `-` for stdin too): one entry's objects are held
    /// at a time, never the whole document's.
    public static func forEach(path: String, _ body: (Exchange) throws -> Void) throws {
        let input = try InputStream(path: path)
        var importer = EntryImporter(path: path)
        while true {
            let chunk = try input.read()
            if chunk.isEmpty { break }
            try importer.feed(chunk, body)
        }
        try importer.finish()
    }

    /// Reads a HAR document held in memory; `path` names it in errors.
    public static func read(bytes: [UInt8], path: String = "<memory>") throws -> [Exchange] {
        var out: [Exchange] = []
        var importer = EntryImporter(path: path)
        try importer.feed(bytes) { out.append($0) }
        try importer.finish()
        return out
    }

    /// The document's entries, as the splitter finds them, parsed and numbered.
    private struct EntryImporter {
        let path: String
        var splitter = HAREntrySplitter()
        var index = 0
        var nextID: UInt64 = 1
        var connIDs: [String: UInt64] = [:]

        init(path: String) { self.path = path }

        mutating func feed(_ bytes: [UInt8], _ body: (Exchange) throws -> Void) throws {
            // Taken out while it runs: each entry it finds updates the rest of `self`.
            var s = HAREntrySplitter()
            swap(&s, &splitter)
            defer { swap(&s, &splitter) }
            do {
                try bytes.withUnsafeBytes { raw in
                    try s.feed(raw) { entryBytes, start in try entry(entryBytes, at: start, body) }
                }
            } catch let f as HAREntrySplitter.Failure {
                throw HarnessError(.badInput, "not a valid HAR file: \(f.message)", path: path, location: "byte offset \(f.offset)")
            }
        }

        func finish() throws {
            do {
                try splitter.finish()
            } catch let f as HAREntrySplitter.Failure {
                throw HarnessError(.badInput, f.message, path: path, location: "byte offset \(f.offset)")
            }
        }

        private mutating func entry(_ bytes: [UInt8], at start: UInt64, _ body: (Exchange) throws -> Void) throws {
            defer { index += 1 }
            let any: Any
            do {
                any = try JSONSerialization.jsonObject(with: Data(bytes))
            } catch {
                let offset = (error as NSError).userInfo["NSJSONSerializationErrorIndex"] as? Int
                throw HarnessError(
                    .badInput, "not valid JSON (\((error as NSError).localizedDescription))", path: path,
                    location: "entry #\(index), byte offset \(start + UInt64(offset ?? 0))")
            }
            guard let entry = any as? [String: Any] else {
                throw HarnessError(.badInput, "entry is not an object", path: path, location: "entry #\(index)")
            }
            var e: Exchange
            do {
                e = try exchange(entry, fallbackID: nextID, connIDs: &connIDs)
            } catch let error as HarnessError {
                throw HarnessError(.badInput, error.message, path: path, location: "entry #\(index)")
            }
            if entry["_id"] == nil { e.id = nextID }
            nextID = max(nextID, e.id) + 1
            try body(e)
        }
    }

    private static func exchange(_ entry: [String: Any], fallbackID: UInt64, connIDs: inout [String: UInt64]) throws -> Exchange {
        guard let req = entry["request"] as? [String: Any], let method = req["method"] as? String,
            let url = req["url"] as? String
        else { throw HarnessError(.badInput, "request.method or request.url missing") }
        let parsedURL = splitURL(url)
        var headers = headerList(req["headers"]).filter { !$0.name.hasPrefix(":") }
        if !headers.has("Host"), !parsedURL.authority.isEmpty {
            headers.insert(HeaderField("Host", parsedURL.authority), at: 0)
        }
        let target = (entry["_target"] as? String) ?? parsedURL.pathAndQuery
        var request = Request(method: method, target: target, version: version(req["httpVersion"]), headers: headers)
        if let post = req["postData"] as? [String: Any], let text = post["text"] as? String {
            request.body = (post["_encoding"] as? String) == "base64" ? (Base64.decode(text) ?? []) : Array(text.utf8)
        }
        request.trailers = headerList(req["_trailers"])
        request.bodyTruncation = truncation(req["_truncated"])

        var e = Exchange(id: uint(entry["_id"]) ?? fallbackID, request: request)
        if let resp = entry["response"] as? [String: Any], let status = int(resp["status"]), status > 0 {
            var r = Response(status: UInt16(clamping: status), reason: resp["statusText"] as? String ?? "",
                             version: version(resp["httpVersion"]), headers: headerList(resp["headers"]).filter { !$0.name.hasPrefix(":") })
            if let content = resp["content"] as? [String: Any], let text = content["text"] as? String {
                r.body = (content["encoding"] as? String) == "base64" ? (Base64.decode(text) ?? []) : Array(text.utf8)
                if (content["_bodyAsSent"] as? Bool) != true, let ce = r.headers.first("Content-Encoding"),
                    ce.lowercased() != "identity"
                {
                    r.headers.remove("Content-Encoding")
                    e.annotations.append(Annotation("har_decoded", ce))
                }
            }
            r.trailers = headerList(resp["_trailers"])
            r.bodyTruncation = truncation(resp["_truncated"])
            if let interim = resp["_interim"] as? [[String: Any]] {
                r.interim = interim.map {
                    InterimResponse(status: UInt16(clamping: int($0["status"]) ?? 100), reason: $0["statusText"] as? String ?? "",
                                    headers: headerList($0["headers"]))
                }
            }
            e.response = r
        }
        if let leg = (entry["_leg"] as? String).flatMap(Leg.init(name:)) { e.leg = leg }
        e.sequence = UInt32(clamping: int(entry["_seq"]) ?? 0)
        let server = (entry["_server"] as? String).flatMap { Endpoint(parsing: Substring($0)) }
            ?? Endpoint(host: entry["serverIPAddress"] as? String ?? parsedURL.host, port: parsedURL.port)
        let client = (entry["_client"] as? String).flatMap { Endpoint(parsing: Substring($0)) } ?? Endpoint(host: "0.0.0.0", port: 0)
        let connKey = entry["connection"] as? String ?? "\(server)"
        let connID = uint(entry["_connId"]) ?? {
            if let id = connIDs[connKey] { return id }
            let id = UInt64(connIDs.count + 1)
            connIDs[connKey] = id
            return id
        }()
        e.connection = ConnectionInfo(id: connID, client: client, server: server,
                                      tls: (entry["_tls"] as? Bool) ?? (parsedURL.scheme == "https"), sni: entry["_sni"] as? String)
        if let us = entry["_timingUs"] as? [Any], us.count == 4 {
            let v = us.map { int64($0) ?? 0 }
            e.timing = Timing(requestStart: v[0], requestEnd: v[1], responseStart: v[2], responseEnd: v[3])
        } else {
            let start = (entry["startedDateTime"] as? String).flatMap(ISO8601.parse) ?? 0
            let timings = entry["timings"] as? [String: Any] ?? [:]
            func ms(_ k: String) -> Int64 {
                // Microseconds from milliseconds; a hostile value (NaN, huge) must not trap.
                let v = ((timings[k] as? Double) ?? Double(int(timings[k]) ?? 0)) * 1000
                guard v.isFinite, v > 0 else { return 0 }
                return v < 1e15 ? Int64(v) : Int64(1e15)
            }
            let send = ms("send"), wait = ms("wait"), receive = ms("receive")
            e.timing = Timing(requestStart: start, requestEnd: start + send, responseStart: start + send + wait,
                              responseEnd: start + send + wait + receive)
        }
        e.framing = Framing(rawValue: UInt16(clamping: int(entry["_framing"]) ?? 0))
        if let front = uint(entry["_link"]) {
            e.link = Link(frontID: front, confidence: (entry["_linkConfidence"] as? String).flatMap(LinkConfidence.init(name:)) ?? .low)
        }
        e.replayOf = uint(entry["_replayOf"])
        e.error = entry["_error"] as? String
        if let t = entry["_tunnel"] as? [Any], t.count == 2 {
            e.tunnel = TunnelBytes(clientToServer: uint(t[0]) ?? 0, serverToClient: uint(t[1]) ?? 0)
        }
        if let f = entry["_flags"] as? [String: Any] {
            e.flags.incomplete = f["incomplete"] as? Bool ?? false
            e.flags.gapBytes = uint(f["gapBytes"]) ?? 0
            e.flags.snaplenTruncated = f["snaplenTruncated"] as? Bool ?? false
            e.flags.midStream = f["midStream"] as? Bool ?? false
            e.flags.redacted = f["redacted"] as? Bool ?? false
            if let msg = f["parseError"] as? String {
                e.flags.parseError = ParseError(offset: uint(f["parseErrorOffset"]) ?? 0, message: msg)
            }
        }
        if let ann = entry["_annotations"] as? [[Any]] {
            e.annotations.append(contentsOf: ann.compactMap {
                guard $0.count == 2, let k = $0[0] as? String, let v = $0[1] as? String else { return nil }
                return Annotation(k, v)
            })
        }
        return e
    }

    private static func headerList(_ any: Any?) -> Headers {
        guard let list = any as? [[String: Any]] else { return [] }
        return list.compactMap {
            guard let n = $0["name"] as? String, let v = $0["value"] as? String else { return nil }
            return HeaderField(n, v)
        }
    }

    private static func truncation(_ any: Any?) -> BodyTruncation? {
        guard let t = any as? [String: Any], let len = uint(t["originalLength"]) else { return nil }
        return BodyTruncation(originalLength: len, sha256: (t["sha256"] as? String).flatMap(Base64.decode) ?? [])
    }

    private static func version(_ any: Any?) -> HTTPVersionNumber {
        guard let s = (any as? String)?.uppercased() else { return .http11 }
        return RawHTTPMessage.parseVersion(s) ?? .http11
    }

    private static func int(_ any: Any?) -> Int? { (any as? NSNumber)?.intValue ?? (any as? String).flatMap { Int($0) } }
    private static func int64(_ any: Any?) -> Int64? { (any as? NSNumber)?.int64Value }
    private static func uint(_ any: Any?) -> UInt64? {
        guard let n = any as? NSNumber, n.int64Value >= 0 else { return nil }
        return n.uint64Value
    }

    /// scheme, authority, host, port, path+query of an absolute URL.
    static func splitURL(_ url: String) -> (scheme: String, authority: String, host: String, port: UInt16, pathAndQuery: String) {
        guard let schemeEnd = url.range(of: "://") else { return ("http", "", "", 80, url.isEmpty ? "/" : url) }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let rest = url[schemeEnd.upperBound...]
        let slash = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = String(rest[..<slash])
        var path = String(rest[slash...])
        if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
        if let hash = path.firstIndex(of: "#") { path = String(path[..<hash]) }
        let defaultPort: UInt16 = scheme == "https" ? 443 : 80
        let endpoint = Endpoint(parsing: Substring(authority))
        return (scheme, authority, endpoint?.host ?? authority, endpoint?.port ?? defaultPort, path)
    }
}
