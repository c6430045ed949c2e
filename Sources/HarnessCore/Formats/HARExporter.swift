/// Writes a HAR 1.2 file, streaming one entry at a time.
///
/// Bodies are kept as sent (not content-decoded): text when UTF-8, else base64 with
/// `"encoding": "base64"`, marked `"_bodyAsSent": true`. What HAR has no field for rides in
/// `_`-prefixed custom fields (`_id`, `_leg`, `_target`, `_link`, `_replayOf`, `_timingUs`, ...),
/// which `HARImporter` reads back.
public final class HARExporter {
    private let out: OutputStream
    private var first = true

    public init(path: String, creator: String = "harness") throws {
        out = try OutputStream(path: path)
        var name = ""
        JSONWriter.escape(creator, into: &name)
        try out.write("{\"log\":{\"version\":\"1.2\",\"creator\":{\"name\":\(name),\"version\":\"1\"},\"entries\":[\n")
    }

    public func append(_ e: Exchange) throws {
        var w = JSONWriter()
        w.beginObject()
        w.string("startedDateTime", ISO8601.format(micros: e.timing.requestStart))
        let total = e.timing.latency.map { Double($0) / 1000 } ?? 0
        w.double("time", total)
        // Request.
        w.beginObject("request")
        w.string("method", e.request.method)
        w.string("url", Self.url(e))
        w.string("httpVersion", e.request.version.description)
        Self.headers(&w, "headers", e.request.headers)
        w.beginArray("cookies")
        w.endArray()
        w.beginArray("queryString")
        if let q = e.request.query {
            for pair in q.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                w.beginObject()
                w.string("name", String(kv[0]))
                w.string("value", kv.count > 1 ? String(kv[1]) : "")
                w.endObject()
            }
        }
        w.endArray()
        if !e.request.body.isEmpty || e.request.headers.has("Content-Type") {
            w.beginObject("postData")
            w.string("mimeType", e.request.headers.first("Content-Type") ?? "")
            if let text = String(validating: e.request.body, as: UTF8.self) {
                w.string("text", text)
            } else {
                w.string("text", Base64.encode(e.request.body))
                w.string("_encoding", "base64")
            }
            w.endObject()
        }
        w.number("headersSize", -1)
        w.number("bodySize", e.request.bodyLength)
        Self.trailersAndTruncation(&w, e.request.trailers, e.request.bodyTruncation)
        w.endObject()
        // Response (HAR requires one: status 0 when none was seen).
        w.beginObject("response")
        let r = e.response
        w.number("status", r?.status ?? 0)
        w.string("statusText", r?.reason ?? "")
        w.string("httpVersion", (r?.version ?? e.request.version).description)
        Self.headers(&w, "headers", r?.headers ?? [])
        w.beginArray("cookies")
        w.endArray()
        w.beginObject("content")
        let body = r?.body ?? []
        w.number("size", body.count)
        w.string("mimeType", r?.headers.first("Content-Type") ?? "")
        if let text = String(validating: body, as: UTF8.self) {
            w.string("text", text)
        } else {
            w.string("text", Base64.encode(body))
            w.string("encoding", "base64")
        }
        w.bool("_bodyAsSent", true)
        w.endObject()
        w.string("redirectURL", r?.headers.first("Location") ?? "")
        w.number("headersSize", -1)
        w.number("bodySize", r?.bodyLength ?? 0)
        Self.trailersAndTruncation(&w, r?.trailers ?? [], r?.bodyTruncation)
        if let interim = r?.interim, !interim.isEmpty {
            w.beginArray("_interim")
            for i in interim {
                w.beginObject()
                w.number("status", i.status)
                w.string("statusText", i.reason)
                Self.headers(&w, "headers", i.headers)
                w.endObject()
            }
            w.endArray()
        }
        w.endObject()
        w.beginObject("cache")
        w.endObject()
        let t = e.timing
        w.beginObject("timings")
        w.double("send", t.requestEnd >= t.requestStart && t.requestEnd > 0 ? Double(t.requestEnd - t.requestStart) / 1000 : 0)
        w.double("wait", t.responseStart >= t.requestEnd && t.responseStart > 0 && t.requestEnd > 0 ? Double(t.responseStart - t.requestEnd) / 1000 : 0)
        w.double("receive", t.responseEnd >= t.responseStart && t.responseEnd > 0 && t.responseStart > 0 ? Double(t.responseEnd - t.responseStart) / 1000 : 0)
        w.endObject()
        w.string("serverIPAddress", e.connection.server.host)
        w.string("connection", String(e.connection.id))
        // Custom fields.
        w.number("_id", e.id)
        w.string("_leg", e.leg.description)
        w.string("_target", e.request.target)
        w.number("_connId", e.connection.id)
        w.string("_client", e.connection.client.description)
        w.string("_server", e.connection.server.description)
        w.number("_seq", e.sequence)
        if e.connection.tls { w.bool("_tls", true) }
        if let sni = e.connection.sni { w.string("_sni", sni) }
        w.beginArray("_timingUs")
        for v in [t.requestStart, t.requestEnd, t.responseStart, t.responseEnd] { w.number(nil, v) }
        w.endArray()
        w.number("_framing", e.framing.rawValue)
        if let link = e.link {
            w.number("_link", link.frontID)
            w.string("_linkConfidence", link.confidence.description)
        }
        if let ro = e.replayOf { w.number("_replayOf", ro) }
        if let err = e.error { w.string("_error", err) }
        if let tunnel = e.tunnel {
            w.beginArray("_tunnel")
            w.number(nil, tunnel.clientToServer)
            w.number(nil, tunnel.serverToClient)
            w.endArray()
        }
        let f = e.flags
        w.beginObject("_flags")
        w.bool("incomplete", f.incomplete)
        w.number("gapBytes", f.gapBytes)
        w.bool("snaplenTruncated", f.snaplenTruncated)
        w.bool("midStream", f.midStream)
        w.bool("redacted", f.redacted)
        if let p = f.parseError {
            w.number("parseErrorOffset", p.offset)
            w.string("parseError", p.message)
        }
        w.endObject()
        if !e.annotations.isEmpty { w.pairs("_annotations", e.annotations.map { ($0.key, $0.value) }) }
        w.endObject()
        try out.write(first ? w.text : ",\n" + w.text)
        first = false
    }

    public func close() throws {
        try out.write("\n]}}\n")
        try out.close()
    }

    static func url(_ e: Exchange) -> String {
        let target = e.request.target
        if target.hasPrefix("http://") || target.hasPrefix("https://") { return target }
        let scheme = e.connection.tls ? "https" : "http"
        let host = e.request.headers.first("Host") ?? e.connection.server.description
        if target.hasPrefix("/") { return "\(scheme)://\(host)\(target)" }
        return "\(scheme)://\(host)/"
    }

    private static func headers(_ w: inout JSONWriter, _ key: String, _ h: Headers) {
        w.beginArray(key)
        for f in h {
            w.beginObject()
            w.string("name", f.name)
            w.string("value", f.value)
            w.endObject()
        }
        w.endArray()
    }

    private static func trailersAndTruncation(_ w: inout JSONWriter, _ trailers: Headers, _ t: BodyTruncation?) {
        if !trailers.isEmpty { headers(&w, "_trailers", trailers) }
        if let t {
            w.beginObject("_truncated")
            w.number("originalLength", t.originalLength)
            w.string("sha256", Base64.encode(t.sha256))
            w.endObject()
        }
    }
}
