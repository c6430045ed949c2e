/// A parsed `Set-Cookie` value: name, value and attributes (names lowercased).
struct SetCookie: Equatable {
    var name: String
    var value: String
    /// Attribute name (lowercased) -> value ("" for flags like Secure, HttpOnly).
    var attributes: [String: String]

    init(_ header: String) {
        var parts = header.split(separator: ";", omittingEmptySubsequences: false).makeIterator()
        let first = parts.next() ?? ""
        if let eq = first.firstIndex(of: "=") {
            name = String(first[..<eq]).trimmingWhitespace()
            value = String(first[first.index(after: eq)...]).trimmingWhitespace()
        } else {
            name = String(first).trimmingWhitespace()
            value = ""
        }
        attributes = [:]
        while let p = parts.next() {
            let attr = String(p).trimmingWhitespace()
            if attr.isEmpty { continue }
            if let eq = attr.firstIndex(of: "=") {
                attributes[attr[..<eq].lowercased().trimmingWhitespace()] = String(attr[attr.index(after: eq)...]).trimmingWhitespace()
            } else {
                attributes[attr.lowercased()] = ""
            }
        }
    }

    /// Display name of an attribute.
    static func displayName(_ attr: String) -> String {
        switch attr {
        case "httponly": "HttpOnly"
        case "samesite": "SameSite"
        case "max-age": "Max-Age"
        default: attr.prefix(1).uppercased() + attr.dropFirst()
        }
    }
}
