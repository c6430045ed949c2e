import Capture
import HarnessCore
import NIOCore

/// A response as the replay client received it: the final message (status, headers, body as kept,
/// trailers, first- and last-byte times) and the 1xx responses that came before it.
struct ReceivedResponse: Sendable {
    var message: HTTPMessage
    var interim: [InterimResponse]

    var status: UInt16 { message.status }
}

/// Frames the target's responses on one replay connection straight from the socket's bytes, with
/// the same HTTP/1.x framer off-the-wire capture uses (`HTTPStreamParser`: Content-Length,
/// chunked with trailers, close-delimited, no body for HEAD/1xx/204/304, 101), and reports each
/// response (or the failure) to its driver. The transport feeds it: SwiftNIO's pipeline
/// (`ReplayClientHandler`) or a `PollConnection`. It stands for its connection in what it tells
/// the driver, so a late event of a connection the driver has dropped is recognised and ignored.
final class ResponseReader {
    // Strong: a transport can outlive its driver's interest (a late close), and the driver lets go
    // of its connection when it drops it.
    private let driver: ConnectionDriver
    private var parser: HTTPStreamParser
    private var interim: [InterimResponse] = []
    /// The head of the response being read (for a partial response when the connection closes).
    private var head: HTTPMessage?
    private(set) var failed = false
    /// The method of the request in flight: a response to HEAD has no body whatever it says.
    var requestMethod = "GET"

    init(driver: ConnectionDriver, maxBody: Int) {
        self.driver = driver
        // Heads and chunk lines are buffered; bodies stream through the accumulator (kept up to
        // `maxBody`, the rest counted and digested).
        self.parser = HTTPStreamParser(role: .response, maxBody: maxBody, maxBufferedBytes: 1 << 20)
    }

    /// Frames `bytes`, received at `time`; false once the stream has failed (the transport then
    /// closes the connection).
    func received(_ bytes: UnsafeRawBufferPointer, time: Int64) -> Bool {
        guard !failed else { return false }
        parser.append(bytes, time: time)
        while !failed, let event = parser.next() {
            switch event {
            case .head(let m):
                head = m
                parser.setBodyMode(HTTPStreamParser.responseBodyMode(for: m, requestMethod: requestMethod))
            case .message(let m):
                head = nil
                if m.status >= 100 && m.status < 200 && m.status != 101 {
                    interim.append(InterimResponse(status: m.status, reason: m.reason, headers: m.headers))
                    continue
                }
                if let error = m.parseError {
                    fail(kind: "error: malformed response: \(error.message)")
                    return false
                }
                let received = ReceivedResponse(message: m, interim: interim)
                interim = []
                driver.responseReceived(received, from: self)
            case .whole:
                // Requests only: a response waits for its body mode after its head.
                break
            case .malformed(let error, _):
                fail(kind: "error: malformed response: \(error.message)")
                return false
            }
        }
        return !failed
    }

    /// The connection failed (`kind` as `ConnectionFailure` names it); nothing more is read.
    func fail(kind: String) {
        guard !failed else { return }
        failed = true
        driver.connectionFailed(self, kind: kind)
    }

    /// The peer closed the connection: the end of the stream ends a close-delimited response (a
    /// whole one); anything else in progress was cut short.
    func ended(time: Int64) {
        guard !failed else { return }
        failed = true
        parser.finish(time: time)
        var partial: ReceivedResponse?
        while let event = parser.next() {
            guard case .message(let m) = event, !(m.status >= 100 && m.status < 200 && m.status != 101) else { continue }
            if m.complete && m.parseError == nil {
                head = nil
                driver.responseReceived(ReceivedResponse(message: m, interim: interim), from: self)
                interim = []
            } else {
                partial = ReceivedResponse(message: m, interim: interim)
            }
        }
        if partial == nil, let h = head { partial = ReceivedResponse(message: h, interim: interim) }
        driver.connectionClosed(self, partial: partial)
    }
}

/// A connection to the replay target as its driver uses it, whatever carries it.
protocol ClientConnection: AnyObject {
    /// Frames what the connection receives (and stands for it in what it tells the driver).
    var reader: ResponseReader { get }
    var localEndpoint: Endpoint { get }
    var remoteEndpoint: Endpoint { get }
    /// Sends `bytes`; `written` runs on the loop once the last of them left (nil: nobody waits).
    func write(_ bytes: ByteBuffer, written: (() -> Void)?)
    /// Closes the connection; the driver hears nothing more of it.
    func close()
}
