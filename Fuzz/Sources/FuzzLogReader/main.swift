import FuzzSupport
import HarnessCore

/// libFuzzer entry: any bytes as a recording log. Must never trap; damage is reported, not fatal.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let reader = try? LogReader(bytes: bytes) else { return 0 }
    var count = 0
    while let e = try? reader.next() {
        count += e.request.headers.count
        if count > 1_000_000 { break }
    }
    return 0
}


runFuzzer(fuzz)
