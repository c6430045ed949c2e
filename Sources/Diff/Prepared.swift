import HarnessCore

/// An exchange as the diff holds it while waiting for its partner. Bodies up to
/// `BodyPrint.keepLimit` stay as recorded and are digested only when the raw bytes differ;
/// larger bodies are reduced to a `BodyPrint` at once (bounded memory).
final class Prepared {
    let exchange: Exchange
    /// `exchange.request.path`, computed once.
    let path: Substring
    /// The key a partner uses to find this exchange (original: id; result log: replayOf).
    let key: UInt64?
    private var requestPrint: BodyPrint?
    private var responsePrint: BodyPrint?

    init(_ e: Exchange, key: UInt64?) {
        var e = e
        if e.request.body.count > BodyPrint.keepLimit {
            requestPrint = BodyPrint(body: e.request.body, truncation: e.request.bodyTruncation, headers: e.request.headers)
            e.request.body = []
        }
        if let r = e.response, r.body.count > BodyPrint.keepLimit {
            responsePrint = BodyPrint(body: r.body, truncation: r.bodyTruncation, headers: r.headers)
            e.response?.body = []
        }
        exchange = e
        path = Self.path(of: e.request)
        self.key = key
    }

    /// The path part of the request target (fast path for origin-form targets).
    static func path(of r: Request) -> Substring {
        let t = Substring(r.target)
        guard t.utf8.first == UInt8(ascii: "/") else { return r.path }
        if let q = t.utf8.firstIndex(of: UInt8(ascii: "?")) { return t[..<q] }
        return t
    }

    var requestBody: BodyPrint {
        if let p = requestPrint { return p }
        let p = BodyPrint(body: exchange.request.body, truncation: exchange.request.bodyTruncation, headers: exchange.request.headers)
        requestPrint = p
        return p
    }

    var responseBody: BodyPrint? {
        if let p = responsePrint { return p }
        guard let r = exchange.response else { return nil }
        let p = BodyPrint(body: r.body, truncation: r.bodyTruncation, headers: r.headers)
        responsePrint = p
        return p
    }

    /// True when both bodies are byte-identical as recorded with the same content-encoding (no
    /// digest needed).
    func sameRawBody(as other: Prepared, response: Bool) -> Bool {
        if response {
            guard let a = exchange.response, let b = other.exchange.response, responsePrint == nil, other.responsePrint == nil,
                a.bodyTruncation == nil, b.bodyTruncation == nil
            else { return false }
            return a.body == b.body && a.headers.first("content-encoding") == b.headers.first("content-encoding")
        }
        let a = exchange.request, b = other.exchange.request
        guard requestPrint == nil, other.requestPrint == nil, a.bodyTruncation == nil, b.bodyTruncation == nil else { return false }
        return a.body == b.body && (a.body.isEmpty || a.headers.first("content-encoding") == b.headers.first("content-encoding"))
    }
}

/// A front exchange and the backend calls it caused.
struct ExchangeUnit {
    var front: Prepared
    var backs: [Prepared]
}
