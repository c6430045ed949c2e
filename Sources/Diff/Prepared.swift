import HarnessCore

/// An exchange as the diff holds it while waiting for its partner: the head fields, and bodies
/// reduced to `BodyPrint`s (decoded digest; decoded bytes only while small).
struct Prepared {
    var exchange: Exchange
    var requestBody: BodyPrint
    var responseBody: BodyPrint?
    /// The key a partner uses to find this exchange (original: id; result log: replayOf).
    var key: UInt64?

    init(_ e: Exchange, key: UInt64?) {
        var e = e
        requestBody = BodyPrint(body: e.request.body, truncation: e.request.bodyTruncation, headers: e.request.headers)
        responseBody = e.response.map { BodyPrint(body: $0.body, truncation: $0.bodyTruncation, headers: $0.headers) }
        e.request.body = []
        e.response?.body = []
        exchange = e
        self.key = key
    }
}

/// A front exchange and the backend calls it caused.
struct ExchangeUnit {
    var front: Prepared
    var backs: [Prepared]
}
