/// Whole-file helpers over `LogReader` and `LogWriter`.
public enum LogFile {
    /// Reads every exchange of a small log (tests, tools). Large logs: iterate a `LogReader`.
    public static func readAll(_ path: String) throws -> (header: LogHeader, exchanges: [Exchange], damage: LogDamage?) {
        let reader = try LogReader(path: path)
        var out: [Exchange] = []
        try reader.forEach { out.append($0) }
        return (reader.header, out, reader.damage)
    }

    /// Writes `exchanges` to a new log at `path`.
    public static func write(
        _ exchanges: [Exchange], to path: String, header: LogHeader = LogHeader(),
        options: LogWriterOptions = LogWriterOptions()
    ) throws {
        let writer = try LogWriter(path: path, header: header, options: options)
        for e in exchanges { try writer.append(e) }
        try writer.close()
    }
}
