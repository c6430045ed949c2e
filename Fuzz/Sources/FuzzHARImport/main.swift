import FuzzSupport
import HarnessCore

/// libFuzzer entry: any bytes as a HAR document.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = try? HARImporter.read(bytes: Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}


runFuzzer(fuzz)
