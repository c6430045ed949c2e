import Testing

@testable import replay_floor

/// The transport floor counts a response only when all of it has arrived: an early count would
/// end the floor's run before its requests were answered and overstate its rate.
@Suite struct ReplayFloorFramingTests {
    private func frame(_ text: String) -> (count: Int, consumed: Int) {
        Array(text.utf8).withUnsafeBytes { completeResponses($0) }
    }

    @Test func countsWholeResponsesAndStopsAtAPartialOne() {
        let one = "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 3\r\n\r\nok\n"
        let partialHead = "HTTP/1.1 200 OK\r\nContent-Le"
        let partialBody = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345"
        #expect(frame(one + one).count == 2)
        #expect(frame(one + one).consumed == 2 * one.utf8.count)
        #expect(frame(one + partialHead) == (1, one.utf8.count))
        #expect(frame(one + partialBody) == (1, one.utf8.count))
        #expect(frame(partialBody + "67890") == (1, partialBody.utf8.count + 5))
    }

    @Test func aResponseWithoutContentLengthHasNoBody() {
        let noBody = "HTTP/1.1 204 No Content\r\nServer: nginx\r\n\r\n"
        #expect(frame(noBody + noBody) == (2, 2 * noBody.utf8.count))
    }
}
