#if canImport(Glibc)
import Glibc
#endif
import HarnessCore

/// libFuzzer entry: any bytes as a GoReplay file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let reader = GoReplayFormat.Reader(bytes: Array(UnsafeBufferPointer(start: data, count: size)), pendingLimit: 64)
    var n = 0
    while n < 100_000, let _ = try? reader.next() { n += 1 }
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
