/// An error a user can act on: what failed, on which input, and where in it.
///
/// Every stage reports bad input (a torn log, a truncated pcap, a malformed HAR, a bad flag) with
/// one of these. The CLI prints `description` and exits with code 2.
public struct HarnessError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case badInput = "bad input"
        case io = "I/O error"
        case unsupported = "unsupported"
        case usage = "usage"
        case network = "network"
    }
    public var code: Code
    public var message: String
    /// The file (or endpoint) involved, when there is one.
    public var path: String?
    /// Byte offset, packet number or exchange id, already phrased (`byte offset 1234`).
    public var location: String?

    public init(_ code: Code, _ message: String, path: String? = nil, location: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.location = location
    }

    public var description: String {
        var parts: [String] = []
        if let path { parts.append(path) }
        if let location { parts.append(location) }
        let prefix = parts.isEmpty ? "" : parts.joined(separator: ", ") + ": "
        return prefix + message
    }
}
