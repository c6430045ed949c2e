import Foundation
import HarnessCore
import HarnessTesting
import Testing

@Suite struct LogDamageTests {
    static func sampleLog() throws -> (bytes: [UInt8], exchanges: [Exchange], blockEnds: [Int]) {
        let dir = TempDir()
        let path = dir.file("d.log")
        let exchanges = SampleExchanges.session(count: 60)
        // One exchange per block (blockSize 1) so every block boundary is a recoverable prefix.
        try LogFile.write(exchanges, to: path, options: LogWriterOptions(blockSize: 1))
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        // Block ends: where a prefix holds exactly k whole blocks.
        var ends: [Int] = []
        var offset = 18 + Int(UInt32(bytes[10]) | UInt32(bytes[11]) << 8 | UInt32(bytes[12]) << 16 | UInt32(bytes[13]) << 24)
        ends.append(offset)
        while offset < bytes.count {
            let stored = Int(UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
            offset += LogFormat.blockHeaderSize + stored
            ends.append(offset)
        }
        return (bytes, exchanges, ends)
    }

    @Test func truncationAtEveryOffsetKeepsTheValidPrefix() throws {
        let (bytes, exchanges, ends) = try Self.sampleLog()
        #expect(ends.last == bytes.count)
        let headerEnd = ends[0]
        for cut in stride(from: headerEnd, through: bytes.count, by: 11) {
            let reader = try LogReader(bytes: Array(bytes[0..<cut]))
            var got: [Exchange] = []
            try reader.forEach { got.append($0) }
            let wholeBlocks = ends.filter { $0 <= cut }.count - 1
            #expect(got == Array(exchanges.prefix(wholeBlocks)), "cut at \(cut)")
            if ends.contains(cut) {
                #expect(reader.damage == nil, "cut at a block boundary \(cut) is a clean end")
            } else {
                #expect(reader.damage != nil, "cut at \(cut) must be reported as a torn tail")
                #expect(reader.damage?.offset == UInt64(ends[wholeBlocks]))
            }
        }
    }

    @Test func flippedBytesNeverCrashAndKeepThePrefix() throws {
        let (bytes, exchanges, ends) = try Self.sampleLog()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<400 {
            var damaged = bytes
            let at = Int.random(in: ends[0]..<bytes.count, using: &rng)
            damaged[at] ^= UInt8.random(in: 1...255, using: &rng)
            let reader = try LogReader(bytes: damaged)
            var got: [Exchange] = []
            try reader.forEach { got.append($0) }
            // Every block before the damaged one reads back exactly.
            let intact = ends.filter { $0 <= at }.count - 1
            #expect(got.count >= intact)
            #expect(Array(got.prefix(intact)) == Array(exchanges.prefix(intact)))
            #expect(reader.damage != nil, "a flipped byte at \(at) must be detected (CRC32C)")
        }
    }

    @Test func damagedHeaderIsRejected() throws {
        let (bytes, _, _) = try Self.sampleLog()
        for at in 0..<20 {
            var damaged = bytes
            damaged[at] ^= 0x40
            #expect(throws: HarnessError.self) { try LogReader(bytes: damaged) }
        }
    }
}
