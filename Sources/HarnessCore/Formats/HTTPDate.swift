/// HTTP dates: parses IMF-fixdate, RFC 850 and asctime forms; formats IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`). No locale state, no Foundation formatter.
public enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    private static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]

    /// Seconds since 1970, or nil when the value is not a date.
    public static func parse(_ value: String) -> Int64? {
        let t = value.split { $0 == " " || $0 == "," || $0 == "-" || $0 == ":" }.map { $0.lowercased() }
        guard let mi = t.firstIndex(where: { $0.count == 3 && months.contains($0) }),
            let month = months.firstIndex(of: t[mi]).map({ $0 + 1 })
        else { return nil }
        func num(_ i: Int) -> Int? { i >= 0 && i < t.count ? Int(t[i]) : nil }
        let day: Int?, year: Int?, h: Int?, m: Int?, sec: Int?
        if let d = num(mi - 1) {  // IMF-fixdate and RFC 850: DD Mon YYYY HH:MM:SS
            day = d; year = num(mi + 1); h = num(mi + 2); m = num(mi + 3); sec = num(mi + 4)
        } else {  // asctime: Mon DD HH:MM:SS YYYY
            day = num(mi + 1); h = num(mi + 2); m = num(mi + 3); sec = num(mi + 4); year = num(mi + 5)
        }
        guard let d = day, var y = year, let hh = h, let mm = m, let ss = sec, (1...31).contains(d) else { return nil }
        if y < 100 { y += y < 70 ? 2000 : 1900 }
        return ISO8601.days(fromCivil: Int64(y), Int64(month), Int64(d)) * 86_400 + Int64(hh * 3600 + mm * 60 + ss)
    }

    /// The IMF-fixdate for `seconds` since 1970.
    public static func format(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let sod = seconds - days * 86400
        let (y, m, d) = ISO8601.civil(fromDays: days)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(weekdays[Int(((days % 7) + 7) % 7)]), \(two(d)) \(monthNames[Int(m - 1)]) \(y) \(two(sod / 3600)):\(two(sod / 60 % 60)):\(two(sod % 60)) GMT"
    }
}
