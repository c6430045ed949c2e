import FuzzSupport
import HarnessCore

/// libFuzzer entry: any bytes as a GoReplay file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let reader = GoReplayFormat.Reader(bytes: Array(UnsafeBufferPointer(start: data, count: size)), pendingLimit: 64)
    var n = 0
    while n < 100_000, let _ = try? reader.next() { n += 1 }
    return 0
}


runFuzzer(fuzz)
