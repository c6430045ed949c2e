import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// The log encoder answers a header section or a body it has seen as the same array storage from
/// caches, without looking at the bytes. Sharing arrays must change nothing in the file.
@Suite struct EncoderCacheTests {
    /// `exchanges` with equal header sections and equal bodies made one array each (as a capture
    /// hands them on), or, with `share: false`, every array a fresh copy.
    static func variant(_ exchanges: [Exchange], share: Bool) -> [Exchange] {
        var sections: [String: Headers] = [:]
        var bodies: [[UInt8]: [UInt8]] = [:]
        func headers(_ h: Headers) -> Headers {
            guard share else { return h.map { $0 } }
            let key = h.map { "\($0.name)\u{0}\($0.value)" }.joined(separator: "\u{1}")
            if let s = sections[key] { return s }
            sections[key] = h
            return h
        }
        func body(_ b: [UInt8]) -> [UInt8] {
            guard share else { return b.map { $0 } }
            if let s = bodies[b] { return s }
            bodies[b] = b
            return b
        }
        return exchanges.map { e in
            var e = e
            e.request.headers = headers(e.request.headers)
            e.request.body = body(e.request.body)
            e.request.trailers = headers(e.request.trailers)
            if var r = e.response {
                r.headers = headers(r.headers)
                r.body = body(r.body)
                r.trailers = headers(r.trailers)
                e.response = r
            }
            return e
        }
    }

    /// Repeats over several blocks and segments (small blocks), with new header names and values
    /// appearing along the way (the sessions' ids), so cached sections meet tables that grew and
    /// were reset. A fixed creation time, and blocks cut by size only, so equal input makes equal
    /// files; a small segment limit starts a new segment every few dozen exchanges, so the caches
    /// must forget what the tables forget.
    static func setup(codec: LogFormat.Codec, segmentBodyLimit: Int) -> ([Exchange], LogHeader, LogWriterOptions) {
        var base: [Exchange] = []
        for round in 0..<4 {
            for var e in SampleExchanges.session(count: 150) {
                e.id += UInt64(round * 1000)
                base.append(e)
            }
        }
        let header = LogHeader(metadata: [Annotation("source", "test"), Annotation("created_us", "1")])
        let options = LogWriterOptions(
            codec: codec, blockSize: 4096, flushIntervalMicros: 1 << 40, segmentBodyLimit: segmentBodyLimit)
        return (base, header, options)
    }

    @Test(arguments: [(LogFormat.Codec.none, 8 << 20), (.zstd, 8 << 20), (.none, 1 << 10), (.zstd, 1 << 10)])
    func sharedArraysWriteTheSameFileAsCopies(codec: LogFormat.Codec, segmentBodyLimit: Int) throws {
        let (base, header, options) = Self.setup(codec: codec, segmentBodyLimit: segmentBodyLimit)
        let dir = TempDir()
        let shared = Self.variant(base, share: true)
        let copied = Self.variant(base, share: false)
        try LogFile.write(shared, to: dir.file("shared.log"), header: header, options: options)
        try LogFile.write(copied, to: dir.file("copied.log"), header: header, options: options)
        var oneSegment = options
        oneSegment.segmentBodyLimit = 8 << 20
        try LogFile.write(shared, to: dir.file("big.log"), header: header, options: oneSegment)
        let a = try Data(contentsOf: URL(fileURLWithPath: dir.file("shared.log")))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir.file("copied.log")))
        #expect(a == b)
        let (_, back, damage) = try LogFile.readAll(dir.file("shared.log"))
        #expect(damage == nil)
        #expect(back == base)
        if segmentBodyLimit < 1 << 20 && codec == .none {
            // The run did start new segments (their name and body records repeat).
            #expect(a.count > (try Data(contentsOf: URL(fileURLWithPath: dir.file("big.log")))).count)
        }
    }

    /// Counts how often the keyed record writer asked for the arrays behind a key.
    final class Fetches: @unchecked Sendable { var count = 0 }

    /// An exchange written through the keyed record writer (`request(...headersKey:...)`), with its
    /// header and body arrays known by their storage keys, as a capture's messages are.
    struct KeyedSource: ExchangeRecordSource {
        let exchange: Exchange
        let fetches: Fetches

        func build() -> Exchange { exchange }

        func write(to w: inout ExchangeRecordWriter) {
            let e = exchange
            let f = fetches
            w.head(id: e.id, leg: e.leg, connection: e.connection, sequence: e.sequence, timing: e.timing)
            let q = e.request
            w.request(
                method: q.method, target: q.target, version: q.version, headersKey: StorageKey(q.headers),
                headers: { f.count += 1; return q.headers }, bodyKey: StorageKey(q.body),
                body: { f.count += 1; return q.body }, bodyTruncation: q.bodyTruncation, trailers: q.trailers)
            if let r = e.response {
                w.response(
                    status: r.status, reason: r.reason, version: r.version, headersKey: StorageKey(r.headers),
                    headers: { f.count += 1; return r.headers }, bodyKey: StorageKey(r.body),
                    body: { f.count += 1; return r.body }, bodyTruncation: r.bodyTruncation, trailers: r.trailers,
                    interim: r.interim)
            } else {
                w.noResponse()
            }
            w.tail(
                framing: e.framing, flags: e.flags, link: e.link, replayOf: e.replayOf, tunnel: e.tunnel, error: e.error,
                annotations: e.annotations)
        }
    }

    @Test(arguments: [(LogFormat.Codec.none, 8 << 20), (.zstd, 1 << 10)])
    func keyedWritesGiveTheSameFileAndSkipKnownArrays(codec: LogFormat.Codec, segmentBodyLimit: Int) throws {
        let (base, header, options) = Self.setup(codec: codec, segmentBodyLimit: segmentBodyLimit)
        let dir = TempDir()
        let shared = Self.variant(base, share: true)
        try LogFile.write(Self.variant(base, share: false), to: dir.file("copied.log"), header: header, options: options)
        let fetches = Fetches()
        let writer = try LogWriter(path: dir.file("keyed.log"), header: header, options: options)
        for e in shared { try writer.append(source: KeyedSource(exchange: e, fetches: fetches)) }
        try writer.close()
        let a = try Data(contentsOf: URL(fileURLWithPath: dir.file("keyed.log")))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir.file("copied.log")))
        #expect(a == b)
        // Four arrays per exchange could be asked for; repeated sections and bodies are answered
        // from the caches by their keys alone.
        let nonEmpty = shared.reduce(0) { n, e in
            n + [e.request.headers.isEmpty, e.request.body.isEmpty, e.response?.headers.isEmpty ?? true,
                 e.response?.body.isEmpty ?? true].filter { !$0 }.count
        }
        // (With a segment every few dozen exchanges, the caches forget often.)
        #expect(fetches.count > 0)
        #expect(fetches.count < (segmentBodyLimit > 1 << 20 ? nonEmpty / 2 : nonEmpty), "\(fetches.count) fetches for \(nonEmpty) non-empty arrays")
    }

    @Test func manyLiveSectionsStayCachedTogether() throws {
        // 200 distinct header arrays in use at once (a capture of many keep-alive connections),
        // each written ten times in rotation. Each is fetched once to encode it and once more to
        // cache it (its first encoding added its value to the table); more than that means keys
        // pushed each other out of the cache. The slots follow the arrays' addresses, so a few
        // sets may still get three keys (each such set costs about 24 more fetches; about one is
        // expected); direct-mapped, about 19 pairs of keys would collide, some 340 more fetches.
        let sections: [Headers] = (0..<200).map { [HeaderField("Host", "a"), HeaderField("X-Id", "\($0)")] }
        var exchanges: [Exchange] = []
        for round in 0..<10 {
            for (i, h) in sections.enumerated() {
                var e = Exchange(id: UInt64(round * 1000 + i + 1), request: Request(method: "GET", target: "/", headers: h))
                e.timing.requestStart = 1_700_000_000_000_000
                exchanges.append(e)
            }
        }
        let header = LogHeader(metadata: [Annotation("source", "test")])
        let options = LogWriterOptions(codec: .none, blockSize: 1 << 16, flushIntervalMicros: 1 << 40)
        let dir = TempDir()
        let fetches = Fetches()
        let writer = try LogWriter(path: dir.file("many.log"), header: header, options: options)
        for e in exchanges { try writer.append(source: KeyedSource(exchange: e, fetches: fetches)) }
        try writer.close()
        #expect(try LogFile.readAll(dir.file("many.log")).exchanges.map(\.request.headers) == exchanges.map(\.request.headers))
        #expect(fetches.count >= 2 * sections.count)
        #expect(fetches.count < 2 * sections.count + 150, "\(fetches.count) fetches for \(sections.count) sections")
    }
}
