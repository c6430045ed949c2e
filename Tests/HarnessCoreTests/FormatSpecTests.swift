import HarnessCore
import HarnessTesting
import Testing

/// The facts docs/FORMAT.md states, checked against the code.
@Suite struct FormatSpecTests {
    @Test func crc32cCheckValue() {
        #expect(LogFormat.crc32c(Array("123456789".utf8)) == 0xE306_9283)
        // The hardware and table paths agree on odd lengths and offsets.
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var running: UInt32 = 0
        for chunk in stride(from: 0, to: data.count, by: 37) {
            running = LogFormat.crc32c(Array(data[chunk..<min(data.count, chunk + 37)]), continuing: running)
        }
        #expect(running == LogFormat.crc32c(data))
    }

    @Test func staticTableIsAsSpecified() {
        #expect(LogFormat.staticHeaderNames.count == 104)
        #expect(LogFormat.staticHeaderNames[0] == "Host" && LogFormat.staticHeaderNames[51] == "Content-Disposition")
        #expect(LogFormat.staticHeaderNames[52] == "host")
        #expect(LogFormat.magic == [0x89, 0x48, 0x52, 0x4C, 0x0D, 0x0A, 0x1A, 0x0A])
    }
}
