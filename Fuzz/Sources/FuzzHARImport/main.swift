#if canImport(Glibc)
import Glibc
#endif
import HarnessCore

/// libFuzzer entry: any bytes as a HAR document.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = try? HARImporter.read(bytes: Array(UnsafeBufferPointer(start: data, count: size)))
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
