#if canImport(Glibc)
import Glibc
#endif
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

// SwiftPM gives an executable its own `main`, so libFuzzer's is not linked: start its driver here.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32
) -> Int32

var fuzzArgc = CommandLine.argc
var fuzzArgv = CommandLine.unsafeArgv
exit(runFuzzerDriver(&fuzzArgc, &fuzzArgv, fuzz))
