import Capture
import HarnessCore
import Synchronization
internal import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
internal import NIOHTTP1

extension FrontHandler {
    /// Forwards the upstream's response head to the client: hop-by-hop headers removed,
    /// `ProxyPassReverse`, Via, `Header set`, and framing the client can read.
    func sendResponseHead(_ ex: InFlightExchange, upstream: HTTPMessage) {
        guard context != nil else { return }
        var headers = ex.upstreamHeaders
        let upstreamChunked = headers.isChunked
        let hasLength = headers.has("Content-Length")
        let code = Int(upstream.status)
        let bodyless = ex.isHead || (100..<200).contains(code) || code == 204 || code == 304
        if upstreamChunked {
            ex.backFraming.insert(.responseChunked)
        } else if hasLength {
            ex.backFraming.insert(.responseContentLength)
        } else if !bodyless {
            ex.backFraming.insert(.responseCloseDelimited)
        }
        if Self.upstreamKeepsAlive(upstream) { ex.backFraming.insert(.keepAlive) }
        ProxyPassMapping.stripHopByHop(&headers)
        if configuration.reverseRewrite {
            let host = ex.requestHeaders.first("Host") ?? connection.server.description
            ProxyPassMapping.reverseRewrite(&headers, routes: configuration.routes, frontScheme: frontScheme, frontHost: host)
        }
        if configuration.via { ProxyPassMapping.merge(&headers, "Via", viaValue(upstream.version)) }
        ProxyPassMapping.apply(configuration.setResponseHeaders, to: &headers)
        let client11 = ex.head.version.major == 1 && ex.head.version.minor >= 1
        if bodyless {
            if upstreamChunked && ex.isHead && !hasLength { headers.append(HeaderField("Transfer-Encoding", "chunked")) }
        } else if hasLength {
            ex.framing.insert(.responseContentLength)
        } else if client11 {
            headers.append(HeaderField("Transfer-Encoding", "chunked"))
            ex.framing.insert(.responseChunked)
        } else {
            ex.framing.insert(.responseCloseDelimited)
            ex.closeAfter = true
        }
        if quiescing || shared.isShuttingDown { ex.closeAfter = true }
        if !(ex.keepAlive && !ex.closeAfter) {
            headers.set("Connection", "close")
        } else if !client11 {
            headers.set("Connection", "keep-alive")
        }
        let status = HTTPResponseStatus(statusCode: code, reasonPhrase: upstream.reason)
        ex.frontResponseHead = FrontResponseHead(status: code, reason: status.reasonPhrase)
        ex.frontResponseHeaders = headers
        ex.timing.responseStart = Clock.nowMicros()
        writeResponseHead(ex, status: code, reason: status.reasonPhrase, headers: headers)
    }

    /// Forwards a `101 Switching Protocols`; the tunnel starts when its (empty) end arrives.
    func sendSwitchingProtocols(_ ex: InFlightExchange, upstream: HTTPMessage) {
        guard let context else { return }
        var headers = ex.upstreamHeaders
        ProxyPassMapping.stripHopByHop(&headers, keepUpgrade: true)
        headers.append(HeaderField("Connection", "Upgrade"))
        ProxyPassMapping.apply(configuration.setResponseHeaders, to: &headers)
        ex.frontResponseHead = FrontResponseHead(status: 101, reason: HTTPResponseStatus.switchingProtocols.reasonPhrase)
        ex.frontResponseHeaders = headers
        ex.framing.insert(.upgrade)
        ex.backFraming.insert(.upgrade)
        ex.timing.responseStart = Clock.nowMicros()
        ex.tunnelPending = true
        writeResponseHead(ex, status: 101, reason: HTTPResponseStatus.switchingProtocols.reasonPhrase, headers: headers)
        context.flush()
    }

    /// Answers the client with a small HTML page of the proxy's own (errors, limits, no route).
    func respondLocally(_ ex: InFlightExchange, status: Int, detail: String, error: String?, clientError: Bool) {
        guard let context else { return }
        if clientError { shared.counters.clientErrors.add(1, ordering: .relaxed) }
        abortUpstream(ex)
        if ex.frontResponseHead != nil {
            // Too late for a status: the client already has a head. Cut the connection.
            ex.error = ex.error ?? error
            closed = true
            context.close(promise: nil)
            return
        }
        ex.error = error
        if !ex.requestEnded {
            // Whatever body is still coming is not read; the connection closes after the answer.
            ex.discarding = true
            ex.closeAfter = true
            ex.flags.incomplete = true
            ex.requestEnded = true
            ex.timing.requestEnd = Clock.nowMicros()
        }
        if [400, 408, 413, 431].contains(status) || quiescing || shared.isShuttingDown { ex.closeAfter = true }
        let page = Array(ErrorPages.body(status, detail: detail).utf8)
        var headers: Headers = [
            HeaderField("Date", HTTPDate.now()),
            HeaderField("Server", "harness"),
            HeaderField("Content-Length", String(page.count)),
        ]
        if !(ex.keepAlive && !ex.closeAfter) {
            headers.append(HeaderField("Connection", "close"))
        } else if ex.head.version.minor == 0 {
            headers.append(HeaderField("Connection", "keep-alive"))
        }
        headers.append(HeaderField("Content-Type", "text/html; charset=iso-8859-1"))
        let responseStatus = HTTPResponseStatus(statusCode: status, reasonPhrase: ErrorPages.reason(status))
        ex.frontResponseHead = FrontResponseHead(status: status, reason: responseStatus.reasonPhrase)
        ex.frontResponseHeaders = headers
        ex.framing.insert(.responseContentLength)
        ex.localBody = page
        let now = Clock.nowMicros()
        ex.timing.responseStart = now
        ex.timing.responseEnd = now
        ex.responseEnded = true
        writeResponseHead(ex, status: status, reason: responseStatus.reasonPhrase, headers: headers)
        var buffer = context.channel.allocator.buffer(capacity: page.count)
        buffer.writeBytes(page)
        writeResponseBody(ex, buffer)
        ex.endWritten = writeResponseEnd(ex, trailers: [])
        finishIfDone(ex)
    }
}

/// RFC 9110 IMF-fixdate, as in the Date header.
enum HTTPDate {
    static func now() -> String {
        var t = time(nil)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(tmv.tm_wday)]), \(two(tmv.tm_mday)) \(months[Int(tmv.tm_mon)]) \(1900 + tmv.tm_year) "
            + "\(two(tmv.tm_hour)):\(two(tmv.tm_min)):\(two(tmv.tm_sec)) GMT"
    }
}
