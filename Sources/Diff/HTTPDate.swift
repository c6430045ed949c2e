/// Parses HTTP dates (IMF-fixdate, RFC 850 and asctime forms) to seconds since the epoch.
enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Seconds since 1970, or nil when the value is not a date.
    static func parse(_ value: String) -> Int64? {
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
        guard let d = day, var y = year, let hh = h, let mm = m, let ss = sec else { return nil }
        if y < 100 { y += y < 70 ? 2000 : 1900 }
        return daysFromCivil(y, month, d) * 86_400 + Int64(hh * 3600 + mm * 60 + ss)
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return Int64(era * 146_097 + doe - 719_468)
    }
}
