import ArgumentParser
import Capture
import HarnessCore

/// `harness log link`: two taps around one production proxy -> one two-leg recording.
struct LogLink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link",
        abstract: "Join the logs of two taps around one proxy into one recording with linked legs.",
        discussion: """
            Place one `harness record` in front of the production proxy (clients -> tap -> proxy) and \
            one between it and its backend (the proxy pointed at the tap). FRONT is the first tap's \
            log, BACK the second's; each tap's own client side is used. Every back exchange is linked \
            to the front exchange in flight when it started (best path match, newest on a tie), the \
            way off-the-wire capture links the legs.
            """)

    @Argument(help: "The log of the tap in front of the proxy.") var front: String
    @Argument(help: "The log of the tap between the proxy and its backend.") var back: String
    @Option(name: .shortAndLong, help: "The two-leg recording to write.") var output: String
    @Option(help: "Seconds an exchange may last and still be linked (memory follows this window).")
    var window: Double = 60

    func run() async throws {
        try await withExitCodes {
            guard window > 0 else { throw ValidationError("--window must be positive") }
            let frontHeader = try LogReader(path: front).header
            var header = LogHeader()
            header["source"] = "link"
            header["front_tap"] = front
            header["back_tap"] = back
            if let host = frontHeader["original_host"] { header["original_host"] = host }
            let writer = try LogWriter(path: output, header: header)
            let s = try TapLinker.link(front: front, back: back, into: writer, windowMicros: Int64(window * 1_000_000))
            try writer.close()
            printError(
                "linked: \(s.fronts) front and \(s.backs) back exchanges; \(s.linkedHigh) links high, \(s.linkedLow) low, "
                    + "\(s.unlinked) back exchanges unlinked; \(s.skipped) tap-side upstream exchanges left out. Wrote \(output).")
        }
    }
}
