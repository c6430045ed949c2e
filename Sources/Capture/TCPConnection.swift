internal import HarnessCore

/// A request waiting for its final response.
struct PendingExchange: Sendable {
    var id: UInt64
    var sequence: UInt32
    var request: HTTPMessage
    var requestDone = false
    var interim: [InterimResponse] = []
    var continueSeen = false
    var link: Link?
    var responseParseError: ParseError?
    /// A final response that came before the request ended (an early answer): emitted when it does.
    var earlyResponse: HTTPMessage?
}

/// Where a connection sends what it found: exchange ids, links and finished exchanges.
protocol ConnectionDelegate: AnyObject {
    /// A request head was seen: the id of its exchange and, for back requests, its link.
    func requestStarted(_ request: HTTPMessage, on connection: TCPConnection) -> (id: UInt64, link: Link?)
    /// An exchange is finished (or abandoned): its parts, encoded or built when handed on.
    func exchangeFinished(_ parts: consuming ExchangeParts, on connection: TCPConnection)
    /// Bytes that were not HTTP.
    func parseErrorSeen()
    /// A response that matched no request.
    func orphanResponse()
}

/// One TCP connection: both directions' reassembly and HTTP framing, and request/response pairing.
///
/// Not thread-safe: owned by one `CaptureEngine`.
final class TCPConnection {
    let id: UInt64
    let clientAddress: IPAddress
    let clientPort: UInt16
    let serverAddress: IPAddress
    let serverPort: UInt16
    let leg: Leg
    let info: ConnectionInfo
    var lastSeen: Int64
    var clientStream: TCPReassembler
    var serverStream: TCPReassembler
    var requests: HTTPStreamParser
    var responses: HTTPStreamParser
    var pending: [PendingExchange] = []
    var clientEnded = false
    var serverEnded = false
    var reset = false
    var nextSequence: UInt32 = 0
    /// An upgraded/CONNECT exchange waits for the end of the connection to count its tunnel bytes.
    var tunnelExchange: ExchangeParts?
    var synSequence: UInt32?
    var sawSYN = false
    /// A valid HTTP head was seen on this connection.
    var httpSeen = false
    /// The first bytes were not HTTP (TLS, another protocol): the connection is only tracked, not parsed.
    var notHTTP = false
    /// The engine that owns this connection (its table holds the connection, so the engine
    /// outlives it): `unowned(unsafe)`, as a checked `unowned` took and dropped a strong reference
    /// (two atomic operations) at every use, several times per message.
    unowned(unsafe) let delegate: any ConnectionDelegate

    init(
        id: UInt64, client: (IPAddress, UInt16), server: (IPAddress, UInt16), leg: Leg, options: CaptureOptions,
        time: Int64, delegate: any ConnectionDelegate
    ) {
        self.id = id
        clientAddress = client.0
        clientPort = client.1
        serverAddress = server.0
        serverPort = server.1
        self.leg = leg
        info = ConnectionInfo(
            id: id, client: Endpoint(host: client.0.description, port: client.1),
            server: Endpoint(host: server.0.description, port: server.1))
        lastSeen = time
        clientStream = TCPReassembler(maxPendingBytes: options.maxConnectionBuffer)
        serverStream = TCPReassembler(maxPendingBytes: options.maxConnectionBuffer)
        requests = HTTPStreamParser(role: .request, maxBody: options.maxBody, maxBufferedBytes: options.maxConnectionBuffer)
        responses = HTTPStreamParser(role: .response, maxBody: options.maxBody, maxBufferedBytes: options.maxConnectionBuffer)
        self.delegate = delegate
    }

    var ended: Bool { reset || (clientEnded && serverEnded) }
    var halfClosed: Bool { clientEnded || serverEnded }
    var joinedMidStream: Bool { clientStream.joinedMidStream || serverStream.joinedMidStream }

    /// Takes one segment of this connection. Its bytes and gaps are parsed as they are fed (each
    /// feed pumps the parsers); only a direction's end queues events here, and pumps after it.
    func handle(_ s: TCPSegment, payload: UnsafeRawBufferPointer, time: Int64) {
        lastSeen = time
        let fromClient = s.source == clientAddress && s.sourcePort == clientPort
        if s.isSYN && fromClient && !s.hasACK { sawSYN = true; synSequence = s.sequence }
        if s.isRST {
            reset = true
            end(time: time)
            return
        }
        if notHTTP {
            if s.isFIN { if fromClient { clientEnded = true } else { serverEnded = true } }
            return
        }
        if fromClient {
            if s.hasACK && serverStream.acknowledgmentMatters(s.acknowledgment) {
                serverStream.peerAcknowledged(s.acknowledgment) { feedResponses($0, time: time) }
            }
            if clientStream.continues(sequence: s.sequence, flags: s.flags, count: payload.count, missing: s.missingBytes) {
                feedRequests(.bytes(payload), time: time)
                return
            }
            if s.missingBytes > 0 { requests.noteSnaplenTruncation() }
            if !clientStream.synchronized && !s.isSYN && !payload.isEmpty { requests = midStreamParser(.request) }
            clientStream.segment(sequence: s.sequence, flags: s.flags, payload: payload, missing: s.missingBytes) {
                feedRequests($0, time: time)
            }
            if clientStream.finished && !clientEnded {
                clientEnded = true
                requests.finish(time: time)
                pump()
            }
        } else {
            if s.hasACK && clientStream.acknowledgmentMatters(s.acknowledgment) {
                clientStream.peerAcknowledged(s.acknowledgment) { feedRequests($0, time: time) }
            }
            if serverStream.continues(sequence: s.sequence, flags: s.flags, count: payload.count, missing: s.missingBytes) {
                feedResponses(.bytes(payload), time: time)
                return
            }
            if s.missingBytes > 0 { responses.noteSnaplenTruncation() }
            if !serverStream.synchronized && !s.isSYN && !payload.isEmpty { responses = midStreamParser(.response) }
            serverStream.segment(sequence: s.sequence, flags: s.flags, payload: payload, missing: s.missingBytes) {
                feedResponses($0, time: time)
            }
            if serverStream.finished && !serverEnded {
                serverEnded = true
                responses.finish(time: time)
                pump()
            }
        }
    }

    private func midStreamParser(_ role: HTTPStreamParser.Role) -> HTTPStreamParser {
        HTTPStreamParser(role: role, maxBody: requests.maxBody, maxBufferedBytes: requests.maxBufferedBytes, midStream: true)
    }

    private func feedRequests(_ piece: StreamPiece, time: Int64) {
        switch piece {
        case .bytes(let b): requests.lend(b, time: time)
        case .gap(let n): requests.gap(n, time: time)
        }
        // Parse as we go so a buffer never holds more than one packet's worth of parsed bytes;
        // the lent bytes are framed where they lie, and what is left is copied.
        pump()
        requests.settle()
    }

    private func feedResponses(_ piece: StreamPiece, time: Int64) {
        switch piece {
        case .bytes(let b): responses.lend(b, time: time)
        case .gap(let n): responses.gap(n, time: time)
        }
        pump()
        responses.settle()
    }

    /// Ends both directions (FIN seen both ways, RST, timeout, eviction or end of capture).
    func end(time: Int64) {
        if notHTTP { return }
        clientStream.flush { feedRequests($0, time: time) }
        serverStream.flush { feedResponses($0, time: time) }
        if !clientEnded {
            clientEnded = true
            requests.finish(time: time)
        }
        if !serverEnded {
            serverEnded = true
            responses.finish(time: time)
        }
        pump()
        // Whatever still waits has no (final) response.
        let left = pending
        pending.removeAll()
        for p in left { emit(p, response: p.earlyResponse, time: time) }
        if var t = tunnelExchange {
            t.tunnel = TunnelBytes(clientToServer: requests.tunnelBytes, serverToClient: responses.tunnelBytes)
            tunnelExchange = nil
            delegate.exchangeFinished(t, on: self)
        }
    }

    private var pumping = false
    /// Set when a response decided a CONNECT/Upgrade request's fate: the request side may then
    /// have more to hand out.
    private var upgradeResolved = false

    /// Drains both parsers' events until neither has more. Requests go first; a request's events
    /// never let the response side go on (it waits only for `setBodyMode`, which its own head
    /// event calls), and a response's events let the request side go on only by resolving an
    /// upgrade, so a second round runs only then.
    func pump() {
        guard !pumping else { return }
        pumping = true
        defer { pumping = false }
        repeat {
            upgradeResolved = false
            while let e = requests.next() { requestEvent(e) }
            while let e = responses.next() { responseEvent(e) }
        } while upgradeResolved
    }

    private func requestEvent(_ e: HTTPStreamParser.Event) {
        switch e {
        case .head(let m):
            httpSeen = true
            let (id, link) = delegate.requestStarted(m, on: self)
            pending.append(PendingExchange(id: id, sequence: nextSequence, request: m, link: link))
            nextSequence += 1
        case .whole(let m):
            // `.head` and `.message` at once: the request is done as it starts.
            httpSeen = true
            let (id, link) = delegate.requestStarted(m, on: self)
            pending.append(PendingExchange(id: id, sequence: nextSequence, request: m, requestDone: true, link: link))
            nextSequence += 1
        case .message(let m):
            if let i = pending.lastIndex(where: { !$0.requestDone && $0.request.streamOffset == m.streamOffset }) {
                pending[i].request = m
                pending[i].requestDone = true
                if let r = pending[i].earlyResponse {
                    let p = pending.remove(at: i)
                    emit(p, response: r, time: r.endTime)
                }
            }
        case .malformed(let error, let time):
            guard httpSeen else {
                notHTTP = true
                return
            }
            delegate.parseErrorSeen()
            let request = HTTPMessage(isRequest: true)
            request.startTime = time
            request.endTime = time
            request.parseError = error
            let (id, _) = delegate.requestStarted(request, on: self)
            var p = PendingExchange(id: id, sequence: nextSequence, request: request, requestDone: true)
            p.responseParseError = nil
            nextSequence += 1
            emit(p, response: nil, time: time)
        }
    }

    /// Index of the pending exchange a response starting at `start` answers.
    private func pairIndex(for m: HTTPMessage) -> Int? {
        guard !pending.isEmpty else { return nil }
        if m.resynchronized {
            // After a join or a gap: the latest request that started before this response.
            return pending.lastIndex { $0.request.startTime <= m.startTime }
        }
        guard let i = pending.firstIndex(where: { $0.earlyResponse == nil }) else { return nil }
        return pending[i].request.startTime <= m.startTime ? i : nil
    }

    private var currentResponseIndex: Int?

    private func responseEvent(_ e: HTTPStreamParser.Event) {
        switch e {
        case .head(let m):
            httpSeen = true
            let index = pairIndex(for: m)
            if let index, index > 0 {
                // Requests before the resynchronised response lost theirs.
                let lost = pending[0..<index]
                pending.removeFirst(index)
                for p in lost { emit(p, response: p.earlyResponse, time: m.startTime) }
            }
            currentResponseIndex = index == nil ? nil : 0
            let method = index == nil ? nil : pending[0].request.method
            switch HTTPHeadParser.responseBodyMode(status: m.status, requestMethod: method, framing: { m.framing }) {
            case .success(let mode):
                if mode == .tunnel {
                    requests.resolveUpgrade(accepted: true)
                    upgradeResolved = true
                } else if m.status >= 200, index != nil,
                    pending[0].request.method == "CONNECT"
                        || (pending[0].request.fieldMask & HTTPHeadParser.maskUpgrade != 0
                            && pending[0].request.headers.has("upgrade"))
                {
                    requests.resolveUpgrade(accepted: false)
                    upgradeResolved = true
                }
                responses.setBodyMode(mode)
            case .failure(let f):
                if index != nil { pending[0].responseParseError = ParseError(offset: m.streamOffset, message: f.message) }
                delegate.parseErrorSeen()
                responses.setBodyMode(.close)
            }
        case .message(let m):
            guard currentResponseIndex != nil, !pending.isEmpty else {
                delegate.orphanResponse()
                return
            }
            if m.status >= 100 && m.status < 200 && m.status != 101 {
                pending[0].interim.append(InterimResponse(status: m.status, reason: m.reason, headers: m.headers))
                if m.status == 100 { pending[0].continueSeen = true }
                return
            }
            currentResponseIndex = nil
            if !pending[0].requestDone && pending[0].request.complete == false && m.complete
                && pending.count == 1 && pending[0].request.parseError == nil
            {
                // Answered before the request body ended: wait for the request (or the connection end).
                pending[0].earlyResponse = m
                return
            }
            // One request waiting is the usual case: removeLast does not go through the general
            // (shifting) path of removeFirst.
            let p = pending.count == 1 ? pending.removeLast() : pending.removeFirst()
            emit(p, response: m, time: m.endTime)
        case .whole:
            // Requests only: a response waits for its body mode after its head.
            break
        case .malformed(let error, _):
            guard httpSeen else {
                notHTTP = true
                return
            }
            delegate.parseErrorSeen()
            if !pending.isEmpty && pending[0].responseParseError == nil { pending[0].responseParseError = error }
        }
    }

    /// Hands a finished exchange on; `p` is moved along, not copied (most callers have just taken
    /// it out of `pending`).
    private func emit(_ p: consuming PendingExchange, response: HTTPMessage?, time: Int64) {
        let parts = ExchangeParts(pending: p, response: response, leg: leg, connection: info)
        if parts.isTunnel {
            tunnelExchange = parts
        } else {
            delegate.exchangeFinished(parts, on: self)
        }
    }
}
