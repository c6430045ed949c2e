import Capture
import HarnessCore
import Synchronization
internal import NIOCore
internal import NIOHTTP1

extension FrontHandler: UpstreamDelegate {
    // MARK: Choosing and connecting

    /// Picks a member of the exchange's route and gets a connection to it (pooled or new).
    func connectUpstream(_ ex: InFlightExchange, forceNew: Bool = false) {
        let balancer = shared.balancers[ex.routeIndex]
        let route = balancer.route
        let sticky = Balancer.stickyRoute(cookieName: route.stickyCookie, headers: ex.requestHeaders)
        guard let member = balancer.choose(stickyRoute: sticky, excluding: ex.tried) else {
            shared.counters.upstreamErrors.add(1, ordering: .relaxed)
            if ex.backError == nil || balancer.isPool {
                ex.annotations.append(Annotation("upstream_error", "no balancer member available"))
                respondLocally(ex, status: 503, detail: "No balancer member can take the request.",
                    error: ex.backError ?? "unavailable", clientError: false)
            } else {
                failWithBackError(ex)
            }
            return
        }
        ex.tried.insert(member)
        ex.memberIndex = member
        guard let origin = balancer.origins[member],
            let target = ProxyPassMapping.upstreamTarget(
                memberPath: origin.path, path: Request.path(of: ex.head.target), matched: ex.matchedLength,
                query: Request.query(of: ex.head.target))
        else {
            shared.counters.upstreamErrors.add(1, ordering: .relaxed)
            respondLocally(ex, status: 502, detail: "DNS lookup failure for the mapped URL of \(ex.head.target)",
                error: "bad mapping", clientError: false)
            return
        }
        ex.origin = origin
        ex.upstreamAnnotations = balancer.upstreamAnnotations[member]
        buildBackRequest(ex, origin: origin, target: target)
        if !forceNew, let conn = pool.takeIdle(origin) {
            attach(conn, to: ex, reused: true)
            return
        }
        paused.insert(.connecting)
        let started = Clock.nowMicros()
        pool.connect(origin).assumeIsolated().whenComplete { [weak self] result in
            guard let self else {
                if case .success(let conn) = result { conn.channel.close(promise: nil) }
                return
            }
            guard self.current === ex, !self.closed else {
                if case .success(let conn) = result { self.pool.release(conn) }
                return
            }
            switch result {
            case .success(let conn):
                balancer.markHealthy(member)
                self.attach(conn, to: ex, reused: false)
            case .failure(let error):
                let failure = UpstreamPool.classify(error)
                balancer.markFailed(member)
                ex.backError = failure.word
                if ex.backID == nil { ex.backID = self.shared.counters.exchangeID() }
                ex.backConnection = ConnectionInfo(
                    id: 0, client: Endpoint(host: "0.0.0.0", port: 0),
                    server: Endpoint(host: origin.host, port: UInt16(clamping: origin.port)), tls: origin.tls)
                ex.backTiming.requestStart = started
                ex.annotations.append(Annotation("upstream_error", "\(origin.poolKey): \(failure)"))
                if balancer.isPool {
                    // Try the next member, like mod_proxy_balancer's failover.
                    self.connectUpstream(ex)
                } else {
                    self.shared.counters.upstreamErrors.add(1, ordering: .relaxed)
                    self.failWithBackError(ex)
                }
            }
        }
    }

    /// 502 for refused/reset/TLS, 504 for a timeout.
    func failWithBackError(_ ex: InFlightExchange) {
        let word = ex.backError ?? "error"
        if word == "timeout" {
            respondLocally(ex, status: 504, detail: "", error: "timeout", clientError: false)
        } else {
            let detail =
                switch word {
                case "refused": "Connection refused"
                case "tls": "Error during SSL Handshake with remote server"
                default: "Error reading from remote server (\(word))"
                }
            respondLocally(ex, status: 502, detail: detail, error: word, clientError: false)
        }
    }

    /// The head sent upstream: hop-by-hop headers removed, Host, X-Forwarded-*, Via, set headers.
    private func buildBackRequest(_ ex: InFlightExchange, origin: UpstreamOrigin, target: String) {
        // One array with room for what is added (Host, X-Forwarded-*, Via): a copy of the
        // client's fields grew twice, and its first in-place edit copied it again.
        var headers = Headers()
        headers.reserveCapacity(ex.requestHeaders.count + 6)
        headers.append(contentsOf: ex.requestHeaders)
        let chunked = headers.isChunked
        ProxyPassMapping.stripHopByHop(&headers, keepUpgrade: ex.upgrade)
        if ex.upgrade { headers.append(HeaderField("Connection", "Upgrade")) }
        headers.remove("Expect")
        let originalHost = ex.requestHeaders.first("Host")
        if !configuration.preserveHost || originalHost == nil {
            if headers.has("Host") { headers.set("Host", origin.hostHeader) } else {
                headers.insert(HeaderField("Host", origin.hostHeader), at: 0)
            }
        }
        if configuration.addForwardedHeaders {
            ProxyPassMapping.addForwarded(
                &headers, client: connection.client.host, originalHost: originalHost, serverName: configuration.serverName)
        }
        if configuration.via { ProxyPassMapping.merge(&headers, "Via", viaValue(ex.head.version)) }
        ProxyPassMapping.apply(configuration.setRequestHeaders, to: &headers)
        if chunked {
            headers.remove("Content-Length")
            headers.append(HeaderField("Transfer-Encoding", "chunked"))
            ex.backFraming.insert(.requestChunked)
        } else if headers.has("Content-Length") {
            ex.backFraming.insert(.requestContentLength)
        }
        ex.backHeaders = headers
        ex.backTarget = target
    }

    func viaValue(_ version: HTTPVersionNumber) -> String {
        let port = shared.boundPort.load(ordering: .relaxed)
        return "\(version.major).\(version.minor) \(configuration.serverName):\(port) (harness)"
    }

    /// Sends the head (and whatever body already arrived) on `conn`.
    private func attach(_ conn: UpstreamConnection, to ex: InFlightExchange, reused: Bool) {
        guard let target = ex.backTarget else { return }
        ex.upstream = conn
        ex.reusedConnection = reused
        conn.handler.delegate = self
        conn.handler.paused = !(context?.channel.isWritable ?? true)
        if ex.backID == nil { ex.backID = shared.counters.exchangeID() }
        ex.backConnection = conn.info
        ex.backSequence = conn.sequence
        ex.backError = nil
        conn.sequence &+= 1
        ex.backTiming = Timing(requestStart: Clock.nowMicros())
        ex.lastUpstreamActivity = Clock.monotonicNanos()
        guard conn.handler.context != nil else {
            upstreamClosed(nil)
            return
        }
        conn.handler.sendHead(method: ex.head.method, target: target, headers: ex.backHeaders)
        let buffered = ex.buffered
        ex.buffered = []
        var ended = false
        for part in buffered {
            switch part {
            case .body(let b): conn.handler.sendBody(b)
            case .end: ended = true
            case .head, .interim: break
            }
        }
        if ended || ex.requestEnded {
            sendEnd(ex, conn)
        } else {
            conn.handler.context?.flush()
        }
        paused.remove(.connecting)
    }

    /// Drops the upstream connection of `ex` (not reusable).
    func abortUpstream(_ ex: InFlightExchange) {
        ex.readTimer?.cancel()
        ex.readTimer = nil
        guard let conn = ex.upstream else { return }
        ex.upstream = nil
        conn.handler.delegate = nil
        conn.isOpen = false
        conn.channel.close(promise: nil)
    }

    // MARK: Read timeout

    /// One lazily re-armed read timer per client connection (no timer churn per request): it
    /// checks the current exchange's last upstream activity when it fires.
    func startReadTimer(_ ex: InFlightExchange) {
        ex.lastUpstreamActivity = Clock.monotonicNanos()
        if readTimer == nil { armReadTimer(afterNanos: UInt64(configuration.readTimeoutSeconds * 1e9)) }
    }

    private func armReadTimer(afterNanos nanos: UInt64) {
        guard let context else { return }
        readTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(nanos))) { [weak self] in
            guard let self else { return }
            self.readTimer = nil
            if let ex = self.current { self.readTimerFired(ex) }
        }
    }

    private func readTimerFired(_ ex: InFlightExchange) {
        guard !ex.responseEnded, ex.upstream != nil, !closed else { return }
        let idle = Clock.monotonicNanos() &- ex.lastUpstreamActivity
        let limit = UInt64(configuration.readTimeoutSeconds * 1e9)
        if idle < limit {
            armReadTimer(afterNanos: limit - idle)
            return
        }
        shared.counters.upstreamErrors.add(1, ordering: .relaxed)
        abortUpstream(ex)
        ex.backError = "timeout"
        if ex.frontResponseHead == nil {
            respondLocally(ex, status: 504, detail: "", error: "timeout", clientError: false)
        } else {
            ex.error = "timeout"
            context?.close(promise: nil)
        }
    }

    // MARK: UpstreamDelegate

    func upstreamReceived(_ part: MessageFramer.Part) {
        guard let ex = current, !ex.responseEnded else { return }
        ex.lastUpstreamActivity = Clock.monotonicNanos()
        switch part {
        case .interim(let m):
            ex.upstreamInterim.append(InterimResponse(status: m.status, reason: m.reason, headers: m.headers))
        case .head(let head):
            ex.backTiming.responseStart = Clock.nowMicros()
            ex.upstreamHead = head
            ex.upstreamHeaders = head.headers
            if head.status == 101 && ex.upgrade {
                sendSwitchingProtocols(ex, upstream: head)
                return
            }
            sendResponseHead(ex, upstream: head)
        case .body(let buffer):
            ex.responseBody.append(buffer)
            guard let context else { return }
            writeResponseBody(ex, buffer)
            if !context.channel.isWritable { ex.upstream?.handler.paused = true }
        case .end(let trailers):
            if ex.tunnelPending {
                startTunnel(ex)
                return
            }
            let now = Clock.nowMicros()
            ex.backTiming.responseEnd = now
            ex.upstreamTrailers = trailers
            ex.readTimer?.cancel()
            ex.readTimer = nil
            if let conn = ex.upstream {
                ex.upstream = nil
                let reusable =
                    (ex.upstreamHead.map(Self.upstreamKeepsAlive) ?? false) && ex.requestEnded && !ex.discarding
                    && conn.handler.framer.isIdle
                if reusable {
                    pool.release(conn)
                } else {
                    conn.handler.delegate = nil
                    conn.isOpen = false
                    conn.channel.close(promise: nil)
                }
            }
            if !ex.requestEnded {
                // The upstream answered before the client finished sending: drop the rest, then close.
                ex.discarding = true
                ex.closeAfter = true
            }
            ex.responseEnded = true
            ex.timing.responseEnd = now
            ex.endWritten = writeResponseEnd(ex, trailers: trailers)
            finishIfDone(ex)
        }
    }

    func upstreamReadComplete() { context?.flush() }

    func upstreamWritabilityChanged(_ writable: Bool) {
        if writable { paused.remove(.upstreamFull) } else { paused.insert(.upstreamFull) }
    }

    func upstreamClosed(_ error: (any Error)?) {
        guard let ex = current, let conn = ex.upstream else { return }
        ex.upstream = nil
        conn.isOpen = false
        ex.readTimer?.cancel()
        ex.readTimer = nil
        if ex.responseEnded { return }
        if ex.upstreamHead == nil {
            // A pooled connection the backend had closed: retry once on a new one when that is safe.
            let idempotent = ["GET", "HEAD", "OPTIONS", "DELETE", "PUT"].contains(ex.head.method)
            if ex.reusedConnection && !ex.retried && idempotent && ex.requestBody.length == 0 {
                ex.retried = true
                ex.tried.remove(ex.memberIndex)
                connectUpstream(ex, forceNew: true)
                return
            }
            shared.counters.upstreamErrors.add(1, ordering: .relaxed)
            ex.backError = error.map { "\(UpstreamPool.classify($0).word)" } ?? "reset"
            if ex.backError == "error" { ex.backError = "reset" }
            ex.annotations.append(Annotation("upstream_error", error.map { "\($0)" } ?? "connection closed before a response"))
            failWithBackError(ex)
            return
        }
        shared.counters.upstreamErrors.add(1, ordering: .relaxed)
        ex.backError = "reset"
        ex.error = "reset"
        context?.close(promise: nil)
    }
}

extension FrontHandler {
    /// Whether the upstream connection stays open after response `m` (HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`); a close-delimited body
    /// ends with the connection.
    static func upstreamKeepsAlive(_ m: HTTPMessage) -> Bool {
        if m.closeDelimited { return false }
        if m.version.major == 1 && m.version.minor >= 1 { return !m.headers.containsToken("connection", "close") }
        return m.headers.containsToken("connection", "keep-alive")
    }
}
