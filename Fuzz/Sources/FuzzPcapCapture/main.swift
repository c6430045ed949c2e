import Capture
import FuzzSupport
import HarnessCore

/// libFuzzer entry: any bytes as a classic pcap file, every packet through the capture pipeline's
/// pure parts (link/IP/TCP decoding, reassembly, HTTP framing, pairing, leg linking). The file
/// format itself is libpcap's job in `harness capture`; here a minimal reader walks the records so
/// the fuzzer reaches our code, not libpcap's header checks. Must never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard size >= 24 else { return 0 }
    let magic = bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
    let swapped: Bool
    let nanos: Bool
    switch magic {
    case 0xa1b2_c3d4: (swapped, nanos) = (false, false)
    case 0xd4c3_b2a1: (swapped, nanos) = (true, false)
    case 0xa1b2_3c4d: (swapped, nanos) = (false, true)
    case 0x4d3c_b2a1: (swapped, nanos) = (true, true)
    default: return 0
    }
    func u32(_ offset: Int) -> UInt32 {
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return swapped ? v.byteSwapped : v
    }
    guard let linkType = LinkType(dlt: Int32(bitPattern: u32(20) & 0x0FFF_FFFF)) else { return 0 }
    let engine = CaptureEngine(
        options: CaptureOptions(
            frontPorts: [80], backPorts: [8080], maxBody: 4096, maxConnectionBuffer: 64 << 10, maxConnections: 32),
        sink: DiscardSink())
    var offset = 24
    while offset + 16 <= size {
        let seconds = Int64(u32(offset))
        let fraction = Int64(u32(offset + 4))
        let captured = Int(u32(offset + 8))
        let wire = Int(u32(offset + 12))
        offset += 16
        guard captured <= size - offset else { break }
        let packet = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + captured)])
        offset += captured
        let micros = seconds * 1_000_000 + (nanos ? fraction / 1000 : fraction)
        do { try engine.process(packet, linkType: linkType, wireLength: max(wire, captured), timestamp: micros) } catch { return 0 }
    }
    try? engine.finish()
    return 0
}

/// Counts exchanges and drops them.
final class DiscardSink: ExchangeSink {
    var count = 0
    func append(_ exchange: Exchange) throws { count += 1 }
    func close() throws {}
}

runFuzzer(fuzz)
