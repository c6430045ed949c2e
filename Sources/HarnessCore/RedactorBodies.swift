import Crypto
import Foundation

/// Body and regular-expression redaction, and re-framing a body that changed length.
///
/// Tokens are not length-preserving (a `redacted:` token is 25 characters whatever the secret),
/// so a changed body is re-framed: `Content-Length` is set to the new length (a chunked message
/// has no length to fix: the body is stored de-chunked and re-chunked when sent). A truncated body
/// keeps its original length moved by the same amount and its SHA-256 replaced by the keyed hash
/// of it (the digest of a body holding a secret is not kept either). A content-encoded body (gzip,
/// deflate, zstd) is decoded, redacted and encoded again the same way, so the recording still holds
/// what a client could have sent. One that cannot be decoded (br, a truncated body, bytes that do
/// not decode) is left as it was and the exchange is annotated `redaction` =
/// `request body not inspected: Content-Encoding br` so the gap is visible.
extension Redactor {
    /// JSON paths, form parameters and patterns in both bodies; true when anything changed. Each
    /// body is decoded (and re-encoded) once, whatever the rules.
    func redactBodies(_ e: inout Exchange) -> Bool {
        guard !jsonPaths.isEmpty || !queryParameters.isEmpty || !patterns.isEmpty else { return false }
        var notes: [Annotation] = []
        var changed = redactBody(
            &e.request.body, headers: &e.request.headers, truncation: &e.request.bodyTruncation, side: "request", notes: &notes)
        if var response = e.response {
            changed =
                redactBody(&response.body, headers: &response.headers, truncation: &response.bodyTruncation, side: "response", notes: &notes)
                || changed
            e.response = response
        }
        e.noteOnce(notes)
        return changed
    }

    /// Regular expressions over header values (not the framing headers) and the query (bodies:
    /// `redactBodies`).
    func redactPatterns(_ e: inout Exchange) -> Bool {
        var changed = false
        changed = redactPatterns(inHeaders: &e.request.headers) || changed
        changed = redactPatterns(inHeaders: &e.request.trailers) || changed
        if let q = e.request.target.firstIndex(of: "?"),
            let query = replacePatterns(String(e.request.target[e.request.target.index(after: q)...]))
        {
            e.request.target = String(e.request.target[...q]) + query
            changed = true
        }
        guard var response = e.response else { return changed }
        changed = redactPatterns(inHeaders: &response.headers) || changed
        changed = redactPatterns(inHeaders: &response.trailers) || changed
        for i in response.interim.indices { changed = redactPatterns(inHeaders: &response.interim[i].headers) || changed }
        e.response = response
        return changed
    }

    /// One body through every body rule (JSON and form first, then patterns), re-framed when it
    /// changed; a note when an encoded body could not be inspected.
    private func redactBody(
        _ body: inout [UInt8], headers: inout Headers, truncation: inout BodyTruncation?, side: String, notes: inout [Annotation]
    ) -> Bool {
        let truncated = truncation != nil
        let type = headers.first("Content-Type")?.lowercased() ?? ""
        // Until nothing changes (a few rounds at most): the rules read the same bytes more than
        // one way (a body that starts like JSON is also read as JSON; a form value's replacement
        // can remove quotes that a JSON reading saw), so one round could leave what a second
        // would redact. Redaction is then idempotent: a redacted body passes through unchanged.
        var changed = false
        for round in 0..<Self.maxBodyRounds {
            let (redacted, note) = decodedBody(body, headers: headers, truncated: truncated, side: side) { content in
                let structured = structuredContent(content, type: type)
                return patternContent(structured ?? content, truncated: truncated) ?? structured
            }
            if let note, round == 0 { notes.append(note) }
            // Equal bytes are no change: re-framing them would re-key a truncated body's digest.
            guard let redacted, redacted != body else { break }
            reframe(&headers, &truncation, from: body.count, to: redacted.count)
            body = redacted
            changed = true
        }
        return changed
    }

    /// Rounds of body rules at most (see `redactBody`).
    static let maxBodyRounds = 4

    /// The content with JSON fields and form parameters redacted; nil when unchanged.
    private func structuredContent(_ content: [UInt8], type: String) -> [UInt8]? {
        var result: [UInt8]?
        if !jsonPaths.isEmpty, type.contains("json") || Self.looksLikeJSON(content) {
            let scanner = JSONRedactionScanner(paths: jsonPaths, token: token)
            let edits = scanner.replacements(in: content)
            if !edits.isEmpty { result = Self.apply(edits, to: content) }
        }
        if !queryParameters.isEmpty, type.hasPrefix("application/x-www-form-urlencoded"),
            let text = String(validating: result ?? content, as: UTF8.self), let form = redactFormPairs(Substring(text))
        {
            result = Array(form.utf8)
        }
        return result
    }

    /// The content with pattern matches replaced, when it is text (UTF-8); nil when unchanged.
    private func patternContent(_ content: [UInt8], truncated: Bool) -> [UInt8]? {
        guard !patterns.isEmpty else { return nil }
        var bytes = content[...]
        var text = String(validating: bytes, as: UTF8.self)
        // A truncated body may end inside a multi-byte character: try without its last bytes.
        while text == nil, truncated, bytes.count > max(0, content.count - 3) {
            bytes = bytes.dropLast()
            text = String(validating: bytes, as: UTF8.self)
        }
        guard let text, let replaced = replacePatterns(text) else { return nil }
        return Array(replaced.utf8) + content[bytes.endIndex...]
    }

    /// Runs `redact` over the body's content: the bytes themselves, or, for a content-encoded
    /// body, the decoded bytes, encoded again the same way when `redact` changed them. Returns the
    /// new body (nil when unchanged) and, for a body that could not be decoded, a note.
    private func decodedBody(
        _ body: [UInt8], headers: Headers, truncated: Bool, side: String, _ redact: ([UInt8]) -> [UInt8]?
    ) -> ([UInt8]?, Annotation?) {
        guard !body.isEmpty else { return (nil, nil) }
        guard let encoding = Self.contentEncoding(headers) else { return (redact(body), nil) }
        let note = Annotation("redaction", "\(side) body not inspected: Content-Encoding \(encoding)")
        // A truncated encoded body cannot be decoded to its end, nor re-encoded to the same prefix.
        guard !truncated, let decoded = ContentCoding.decodeRemembering(body, encoding: encoding) else { return (nil, note) }
        guard let redacted = redact(decoded.body) else { return (nil, nil) }
        guard let encoded = ContentCoding.encode(redacted, codings: decoded.codings) else { return (nil, note) }
        return (encoded, nil)
    }

    private func redactPatterns(inHeaders headers: inout Headers) -> Bool {
        var changed = false
        for i in headers.indices {
            let name = headers[i].name
            if name.caseInsensitiveEquals("Content-Length") || name.caseInsensitiveEquals("Transfer-Encoding") { continue }
            if let value = replacePatterns(headers[i].value) {
                headers[i].value = value
                changed = true
            }
        }
        return changed
    }

    /// `text` with every pattern's matches replaced by tokens; nil when nothing matched.
    func replacePatterns(_ text: String) -> String? {
        var current = text
        var changed = false
        for pattern in patterns {
            if let next = pattern.replace(in: current, token: token) {
                current = next
                changed = true
            }
        }
        return changed ? current : nil
    }

    /// Sets Content-Length to the new length and re-keys a truncated body's digest.
    private func reframe(_ headers: inout Headers, _ truncation: inout BodyTruncation?, from old: Int, to new: Int) {
        if var t = truncation {
            t.originalLength = UInt64(max(0, Int64(t.originalLength) + Int64(new) - Int64(old)))
            t.sha256 = Array(HMAC<SHA256>.authenticationCode(for: t.sha256, using: key))
            truncation = t
        }
        let chunked = headers.first("Transfer-Encoding")?.lowercased().contains("chunked") == true
        if !chunked, headers.has("Content-Length") {
            headers.set("Content-Length", String(truncation?.originalLength ?? UInt64(new)))
        }
    }

    private static func contentEncoding(_ headers: Headers) -> String? {
        guard let value = headers.first("Content-Encoding")?.trimmingCharacters(in: .whitespaces), !value.isEmpty,
            value.lowercased() != "identity"
        else { return nil }
        return value
    }

    private static func looksLikeJSON(_ body: [UInt8]) -> Bool {
        guard let first = body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else { return false }
        return first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
    }

    /// Applies non-overlapping, ordered replacements.
    static func apply(_ edits: [ByteReplacement], to body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + edits.count * 32)
        var at = 0
        for edit in edits.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) where edit.range.lowerBound >= at {
            out += body[at..<edit.range.lowerBound]
            out += edit.bytes
            at = edit.range.upperBound
        }
        out += body[at...]
        return out
    }
}

/// One `--redact-regex` pattern. NSRegularExpression is immutable and thread-safe once built.
struct RedactionPattern: @unchecked Sendable {
    let regex: NSRegularExpression

    init(_ pattern: String) throws(HarnessError) {
        do {
            regex = try NSRegularExpression(pattern: pattern)
        } catch {
            throw HarnessError(.usage, "--redact-regex '\(pattern)' is not a valid regular expression")
        }
    }

    /// `text` with each match (its first capture group, when the pattern has one) replaced by its
    /// token; nil when nothing was replaced.
    func replace(in text: String, token: (String) -> String) -> String? {
        let whole = NSRange(text.startIndex..<text.endIndex, in: text)
        let tokens = Self.tokenRanges(text)
        var ranges: [NSRange] = []
        for match in regex.matches(in: text, range: whole) {
            let r = regex.numberOfCaptureGroups > 0 ? match.range(at: 1) : match.range
            guard r.location != NSNotFound, r.length > 0 else { continue }
            if tokens.contains(where: { NSIntersectionRange($0, r).length > 0 }) { continue }
            ranges.append(r)
        }
        guard !ranges.isEmpty else { return nil }
        var out = ""
        var at = text.startIndex
        for r in ranges {
            guard let range = Range(r, in: text), range.lowerBound >= at else { continue }
            out += text[at..<range.lowerBound]
            out += token(String(text[range]))
            at = range.upperBound
        }
        out += text[at...]
        return out
    }

    /// Where `text` holds tokens (`redacted:` + 16 hex digits): matches inside them are left alone.
    private static func tokenRanges(_ text: String) -> [NSRange] {
        var ranges: [NSRange] = []
        var from = text.startIndex
        while let r = text.range(of: Redactor.marker, range: from..<text.endIndex) {
            let end = text.index(r.upperBound, offsetBy: 16, limitedBy: text.endIndex) ?? text.endIndex
            ranges.append(NSRange(r.lowerBound..<end, in: text))
            from = r.upperBound
        }
        return ranges
    }
}

extension Exchange {
    /// Appends the notes not already present (JSON/form and pattern redaction both note a body
    /// they could not inspect; running the redactor twice changes nothing).
    fileprivate mutating func noteOnce(_ notes: [Annotation]) {
        for note in notes where !annotations.contains(note) { annotations.append(note) }
    }
}
