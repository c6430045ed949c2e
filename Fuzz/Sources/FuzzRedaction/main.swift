import FuzzSupport
import HarnessCore

/// The redactor every fuzz input goes through: JSON paths of each kind, a pattern, form fields.
let redactor = try? Redactor(
    headerNames: Redactor.defaultHeaders, queryParameters: ["token"],
    jsonPaths: ["user.password", "items[].token", "*.secret", "..password", "[]"], patterns: [#"sk_[a-z]+_(\w+)"#],
    key: Array("fuzz".utf8))

/// libFuzzer entry: any bytes as a request and response body (JSON, form, text), redacted. The
/// tolerant JSON scanner and the re-framing must never trap, and redaction must be idempotent.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let redactor, size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let types = ["application/json", "application/x-www-form-urlencoded", "text/plain"]
    let type = types[Int(bytes[0]) % types.count]
    let body = Array(bytes.dropFirst())
    var e = Exchange(
        id: 1,
        request: Request(
            method: "POST", target: "/x?token=" + String(decoding: body.prefix(16), as: UTF8.self),
            headers: [HeaderField("Content-Type", type), HeaderField("Content-Length", String(body.count)),
                      HeaderField("Cookie", String(decoding: body.prefix(32), as: UTF8.self))],
            body: body,
            bodyTruncation: bytes[0] & 0x80 != 0 ? BodyTruncation(originalLength: UInt64(body.count) + 10, sha256: [UInt8](repeating: 1, count: 32)) : nil),
        response: Response(status: 200, headers: [HeaderField("Content-Type", type)], body: body.reversed()))
    redactor.redact(&e)
    var again = e
    redactor.redact(&again)
    if again != e { fatalError("redaction is not idempotent") }
    return 0
}

runFuzzer(fuzz)
