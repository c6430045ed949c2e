import Testing

@testable import replay_floor

/// The transport floor counts a response only when all of it has arrived: an early count would
/// end the floor's run before its requests were answered and overstate its rate.
@Suite struct ReplayFloorFramingTests {
    private func frame(_ text: String) throws -> (count: Int, consumed: Int) {
        try Array(text.utf8).withUnsafeBytes { try completeResponses($0) }
    }

    @Test func countsWholeResponsesAndStopsAtAPartialOne() throws {
        let one = "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 3\r\n\r\nok\n"
        let partialHead = "HTTP/1.1 200 OK\r\nContent-Le"
        let partialBody = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345"
        #expect(try frame(one + one).count == 2)
        #expect(try frame(one + one).consumed == 2 * one.utf8.count)
        #expect(try frame(one + partialHead) == (1, one.utf8.count))
        #expect(try frame(one + partialBody) == (1, one.utf8.count))
        #expect(try frame(partialBody + "67890") == (1, partialBody.utf8.count + 5))
    }

    @Test func aResponseWithoutContentLengthHasNoBody() throws {
        let noBody = "HTTP/1.1 204 No Content\r\nServer: nginx\r\n\r\n"
        #expect(try frame(noBody + noBody) == (2, 2 * noBody.utf8.count))
    }

    /// Bytes that are no response, or a length that would overflow, end the run with an error.
    @Test func hostileAnswersAreErrorsNotTraps() {
        #expect(throws: FloorError.self) { try frame("SSH-2.0-OpenSSH_9.2\r\n\r\n") }
        #expect(throws: FloorError.self) { try frame("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\n") }
        #expect(throws: FloorError.self) {
            try frame("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokgarbage that is not a response\r\n\r\n")
        }
    }
}
