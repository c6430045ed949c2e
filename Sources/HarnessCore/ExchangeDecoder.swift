/// Reads log records back into exchanges, keeping the per-segment name and body tables.
struct ExchangeDecoder: RecordTableResolver {
    private var names: [String] = []
    private var values: [String] = []
    private var bodies: [[UInt8]] = []

    mutating func resetSegment() {
        names.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        bodies.removeAll(keepingCapacity: true)
    }

    /// Decodes one record; returns the exchange when the record is one, nil for table records.
    /// `statusOnly`: see `ExchangeLayout.decode`.
    mutating func decodeRecord(_ reader: inout ByteReader, statusOnly: Bool = false) throws -> Exchange? {
        let typeAt = reader.offset
        let type = try reader.u8()
        let length = try reader.count()
        let payload = try reader.raw(length)
        var r = ByteReader(payload)
        switch LogFormat.RecordType(rawValue: type) {
        case .name:
            let index = try r.count()
            let name = try r.string()
            guard index == LogFormat.staticNames.count + names.count else {
                throw DecodeFailure(message: "header name #\(index) defined out of order", offset: typeAt)
            }
            names.append(name)
            return nil
        case .body:
            bodies.append(Array(payload))
            return nil
        case .exchange:
            do {
                return try ExchangeLayout.decode(&r, tables: &self, statusOnly: statusOnly)
            } catch var failure as DecodeFailure {
                failure.offset = typeAt
                throw failure
            }
        case nil:
            // Unknown record types are skipped: later versions may add tables readers can ignore.
            return nil
        }
    }

    mutating func headers(_ r: inout ByteReader) throws -> Headers {
        let n = try r.count(limit: r.remaining)
        var out: Headers = []
        out.reserveCapacity(n)
        let staticCount = LogFormat.staticNames.count
        for _ in 0..<n {
            let at = r.offset
            let i = try r.count()
            let name: String
            if i < staticCount {
                name = LogFormat.staticNames[i]
            } else if i - staticCount < names.count {
                name = names[i - staticCount]
            } else {
                throw DecodeFailure(message: "header name #\(i) is not defined", offset: at)
            }
            out.append(HeaderField(name, try value(&r)))
        }
        return out
    }

    mutating func skipHeaders(_ r: inout ByteReader) throws {
        let n = try r.count(limit: r.remaining)
        let defined = LogFormat.staticNames.count + names.count
        for _ in 0..<n {
            let at = r.offset
            let i = try r.count()
            guard i < defined else { throw DecodeFailure(message: "header name #\(i) is not defined", offset: at) }
            try skipValue(&r)
        }
    }

    /// As `value`, building a String only for a literal the table keeps.
    private mutating func skipValue(_ r: inout ByteReader) throws {
        let at = r.offset
        let ref = try r.count()
        if ref == 0 {
            let bytes = try r.raw(try r.count())
            if bytes.count <= LogFormat.maxTabledValueLength && values.count < LogFormat.maxTabledValues {
                values.append(String(decoding: bytes, as: UTF8.self))
            }
            return
        }
        guard ref <= values.count else { throw DecodeFailure(message: "header value #\(ref) is not defined", offset: at) }
    }

    func skipBody(_ r: inout ByteReader) throws {
        let at = r.offset
        let ref = try r.count()
        guard ref <= bodies.count else { throw DecodeFailure(message: "body #\(ref) is not defined", offset: at) }
    }

    private mutating func value(_ r: inout ByteReader) throws -> String {
        let at = r.offset
        let ref = try r.count()
        if ref == 0 {
            let v = try r.string()
            if v.utf8.count <= LogFormat.maxTabledValueLength && values.count < LogFormat.maxTabledValues { values.append(v) }
            return v
        }
        guard ref <= values.count else { throw DecodeFailure(message: "header value #\(ref) is not defined", offset: at) }
        return values[ref - 1]
    }

    func body(_ r: inout ByteReader) throws -> [UInt8] {
        let at = r.offset
        let ref = try r.count()
        if ref == 0 { return [] }
        guard ref <= bodies.count else { throw DecodeFailure(message: "body #\(ref) is not defined", offset: at) }
        return bodies[ref - 1]
    }

}
