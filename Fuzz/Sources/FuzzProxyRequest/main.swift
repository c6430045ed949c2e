import FuzzSupport
import HarnessCore
import Proxy

/// libFuzzer entry: any bytes as what a client sends the recording proxy (NIO's request decoder
/// with the proxy's limits, the byte tap, FrontHandler; no upstream). The first byte splits the
/// rest into two reads, so requests torn across reads are covered. Must never trap, and every
/// connection that sent a whole request head gets an answer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let rest = Array(bytes.dropFirst())
    let cut = rest.isEmpty ? 0 : Int(bytes[0]) % (rest.count + 1)
    var config = ProxyConfiguration()
    config.maxHeaderBytes = 4096
    config.maxBodyBytes = 8192
    config.maxRecordedBodyBytes = 1024
    guard let outcome = try? FrontPipelineProbe.feed([Array(rest[..<cut]), Array(rest[cut...])], configuration: config) else {
        return 0
    }
    if outcome.recorded.contains(where: { $0.leg == .back }) { fatalError("a request left the proxy without a route") }
    return 0
}

runFuzzer(fuzz)
