/// The small HTML bodies the proxy answers with itself, worded like Apache httpd's.
enum ErrorPages {
    static func reason(_ status: Int) -> String {
        switch status {
        case 400: "Bad Request"
        case 404: "Not Found"
        case 408: "Request Timeout"
        case 413: "Content Too Large"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 502: "Proxy Error"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Error"
        }
    }

    static func body(_ status: Int, detail: String) -> String {
        let title: String
        let text: String
        switch status {
        case 502:
            title = "502 Proxy Error"
            text = "<h1>Proxy Error</h1>\n<p>The proxy server received an invalid\nresponse from an upstream server.<br />\n"
                + "The proxy server could not handle the request<p>Reason: <strong>\(escape(detail))</strong></p></p>\n"
        case 503:
            title = "503 Service Unavailable"
            text = "<h1>Service Unavailable</h1>\n<p>The server is temporarily unable to service your\n"
                + "request due to maintenance downtime or capacity\nproblems. Please try again later.</p>\n"
        case 504:
            title = "504 Gateway Timeout"
            text = "<h1>Gateway Timeout</h1>\n<p>The gateway did not receive a timely response\nfrom the upstream server or application.</p>\n"
        default:
            title = "\(status) \(reason(status))"
            text = "<h1>\(reason(status))</h1>\n<p>\(escape(detail))</p>\n"
        }
        return "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>\(title)</title>\n</head><body>\n"
            + text + "</body></html>\n"
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
