import Diff
import FuzzSupport

/// libFuzzer entry: any bytes as a diff rules file (YAML). Bad rules are errors, never traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? NoiseRules(yaml: text, name: "<fuzz>")
    return 0
}

runFuzzer(fuzz)
