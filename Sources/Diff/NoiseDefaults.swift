/// The default noise list and the hop-by-hop headers, documented in `docs/DIFF.md`.
///
/// Kept short on purpose: with simulated backends most volatility disappears, so only values the
/// proxy (or the replay itself) makes up per request are ignored.
public enum NoiseDefaults {
    /// Header names ignored everywhere unless a rules file says `defaults: false` or `unignore`.
    public static let ignoredHeaders: Set<String> = [
        "date", "age",
        "x-request-id", "request-id", "x-correlation-id", "x-trace-id", "x-span-id",
        "traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid",
        "x-b3-sampled", "x-b3-flags", "x-amzn-trace-id", "x-cloud-trace-context", "uber-trace-id",
    ]
    /// Date-valued headers compared after shifting the original by the replay's time offset.
    public static let timeShiftedHeaders: Set<String> = ["expires", "last-modified"]
    /// Hop-by-hop (RFC 9110 §7.6.1) and framing headers: never compared.
    public static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization", "content-length",
    ]
    /// Compared by product name only (`Apache/2.4.62 (Debian)` equals `Apache/2.4.65`).
    public static let productOnlyHeaders: Set<String> = ["server"]
    /// Compared as URLs after origin normalisation: the `location` category.
    public static let locationHeaders: Set<String> = ["location", "content-location", "refresh"]
    /// Seconds of slack when comparing time-shifted dates.
    public static let timeToleranceSeconds: Int64 = 2
    /// Values with this prefix were replaced by a keyed hash at record time: opaque tokens.
    public static let redactedPrefix = "redacted:"
}
