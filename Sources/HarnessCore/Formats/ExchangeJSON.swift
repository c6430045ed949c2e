/// One exchange as one JSON object: the CONTRACT's `log cat --format jsonl` line, and (with
/// bodies) the lossless JSONL export that `log import --format jsonl` reads back.
public enum ExchangeJSON {
    /// The JSON object for `e`. `bodies`: include bodies (UTF-8 text or base64).
    public static func line(_ e: Exchange, bodies: Bool) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.number("id", e.id)
        w.string("leg", e.leg.description)
        w.string("conn", e.connection.tupleDescription)
        w.number("conn_id", e.connection.id)
        w.number("seq", e.sequence)
        if e.connection.tls { w.bool("tls", true) }
        if let sni = e.connection.sni { w.string("sni", sni) }
        w.string("method", e.request.method)
        w.string("target", e.request.target)
        w.string("version", e.request.version.description)
        if let r = e.response { w.number("status", r.status) } else { w.null("status") }
        if let r = e.response {
            w.string("reason", r.reason)
            w.string("response_version", r.version.description)
        }
        headers(&w, "request_headers", e.request.headers)
        headers(&w, "response_headers", e.response?.headers ?? [])
        if !e.request.trailers.isEmpty { headers(&w, "request_trailers", e.request.trailers) }
        if let t = e.response?.trailers, !t.isEmpty { headers(&w, "response_trailers", t) }
        if let interim = e.response?.interim, !interim.isEmpty {
            w.beginArray("interim")
            for i in interim {
                w.beginObject()
                w.number("status", i.status)
                w.string("reason", i.reason)
                headers(&w, "headers", i.headers)
                w.endObject()
            }
            w.endArray()
        }
        w.number("body_bytes", e.response?.bodyLength ?? 0)
        w.number("request_body_bytes", e.request.bodyLength)
        if bodies {
            body(&w, "request_body", e.request.body)
            if let r = e.response { body(&w, "response_body", r.body) }
        }
        truncation(&w, "request_truncated", e.request.bodyTruncation)
        truncation(&w, "response_truncated", e.response?.bodyTruncation)
        w.beginObject("timing_us")
        w.number("request_start", e.timing.requestStart)
        w.number("request_end", e.timing.requestEnd)
        w.number("response_start", e.timing.responseStart)
        w.number("response_end", e.timing.responseEnd)
        w.endObject()
        if !e.framing.isEmpty { w.number("framing", e.framing.rawValue) }
        let f = e.flags
        if f.incomplete { w.bool("incomplete", true) }
        if f.gapBytes > 0 { w.number("gap_bytes", f.gapBytes) }
        if f.snaplenTruncated { w.bool("snaplen_truncated", true) }
        if f.midStream { w.bool("mid_stream", true) }
        if f.redacted { w.bool("redacted", true) }
        if let p = f.parseError {
            w.beginObject("parse_error")
            w.number("offset", p.offset)
            w.string("message", p.message)
            w.endObject()
        }
        if let link = e.link {
            w.number("link_front", link.frontID)
            w.string("link_confidence", link.confidence.description)
        }
        if let r = e.replayOf { w.number("replay_of", r) }
        if let t = e.tunnel {
            w.beginObject("tunnel")
            w.number("client_to_server", t.clientToServer)
            w.number("server_to_client", t.serverToClient)
            w.endObject()
        }
        if let err = e.error { w.string("error", err) }
        if !e.annotations.isEmpty { w.pairs("annotations", e.annotations.map { ($0.key, $0.value) }) }
        w.endObject()
        return w.text
    }

    private static func headers(_ w: inout JSONWriter, _ key: String, _ h: Headers) {
        w.pairs(key, h.map { ($0.name, $0.value) })
    }

    private static func body(_ w: inout JSONWriter, _ key: String, _ bytes: [UInt8]) {
        if let text = String(validating: bytes, as: UTF8.self) {
            w.string(key, text)
        } else {
            w.string(key + "_b64", Base64.encode(bytes))
        }
    }

    private static func truncation(_ w: inout JSONWriter, _ key: String, _ t: BodyTruncation?) {
        guard let t else { return }
        w.beginObject(key)
        w.number("original_length", t.originalLength)
        w.string("sha256", t.sha256.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())
        w.endObject()
    }
}
