/// Two texts side by side, lines aligned by a longest-common-subsequence pass; differing rows
/// are marked with `|`, lines only on one side with `<` or `>`.
enum SideBySide {
    enum Row { case same(String), changed(String, String), left(String), right(String) }

    static func rows(_ a: String, _ b: String, maxLines: Int = 300) -> [Row] {
        let x = Array(a.split(separator: "\n", omittingEmptySubsequences: false).prefix(maxLines).map(String.init))
        let y = Array(b.split(separator: "\n", omittingEmptySubsequences: false).prefix(maxLines).map(String.init))
        let n = x.count, m = y.count
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lcs[i][j] = x[i] == y[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var out: [Row] = []
        var i = 0, j = 0
        var lefts: [String] = [], rights: [String] = []
        func flush() {
            let k = min(lefts.count, rights.count)
            for t in 0..<k { out.append(.changed(lefts[t], rights[t])) }
            for t in k..<lefts.count { out.append(.left(lefts[t])) }
            for t in k..<rights.count { out.append(.right(rights[t])) }
            lefts = []; rights = []
        }
        while i < n || j < m {
            if i < n && j < m && x[i] == y[j] {
                flush()
                out.append(.same(x[i])); i += 1; j += 1
            } else if j >= m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
                lefts.append(x[i]); i += 1
            } else {
                rights.append(y[j]); j += 1
            }
        }
        flush()
        return out
    }

    /// Plain text (or ANSI-coloured) two-column rendering.
    static func text(_ a: String, _ b: String, width: Int, colour: Bool) -> String {
        let col = max(20, (width - 3) / 2)
        func fit(_ s: String) -> String {
            let t = s.replacingTabs()
            if t.count > col { return String(t.prefix(col - 1)) + "…" }
            return t + String(repeating: " ", count: col - t.count)
        }
        let red = colour ? "\u{1B}[31m" : "", green = colour ? "\u{1B}[32m" : "", yellow = colour ? "\u{1B}[33m" : "", reset = colour ? "\u{1B}[0m" : ""
        var out = fit("ORIGINAL") + "   " + "REPLAYED\n"
        for row in rows(a, b) {
            switch row {
            case .same(let s): out += fit(s) + "   " + fit(s).trimmingTrailing() + "\n"
            case .changed(let l, let r): out += yellow + fit(l) + " | " + fit(r).trimmingTrailing() + reset + "\n"
            case .left(let l): out += red + fit(l) + " <" + reset + "\n"
            case .right(let r): out += green + fit("") + " > " + fit(r).trimmingTrailing() + reset + "\n"
            }
        }
        return out
    }
}

extension String {
    func replacingTabs() -> String { contains("\t") ? split(separator: "\t", omittingEmptySubsequences: false).joined(separator: "    ") : self }
    func trimmingTrailing() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
