#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Unbuffered writes to stdout and stderr, safe from any thread or task.
public enum Console {
    /// Writes `text` to stderr.
    public static func error(_ text: String) { writeAll(2, text) }
    /// Writes `text` to stdout.
    public static func out(_ text: String) { writeAll(1, text) }
    /// True when `fd` is a terminal (colour, progress lines).
    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) != 0 }

    private static func writeAll(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { buf in
            var done = 0
            while done < buf.count {
                let n = write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                done += n
            }
        }
    }
}
