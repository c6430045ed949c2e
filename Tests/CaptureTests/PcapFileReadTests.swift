import Capture
import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// Capture files are read through a stream that maps them a window at a time: the packets must be
/// exactly those a plain `fopen` gives libpcap, across window edges, up to a torn last packet, and
/// including bytes appended after the file was opened.
@Suite struct PcapFileReadTests {
    struct Packet: Equatable {
        var bytes: [UInt8]
        var wireLength: Int
        var timestamp: Int64
    }

    /// Frames of every size from 1 to `count` bytes (so packets straddle page and window edges),
    /// each filled with a pattern of its number.
    static func frames(_ count: Int, from first: Int = 0) -> [[UInt8]] {
        (first..<(first + count)).map { n in (0..<(n % 3001 + 1)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n) } }
    }

    static func write(_ frames: [[UInt8]], to path: String, startMicros: Int64 = 1_700_000_000_000_000) throws {
        var b = PcapBuilder(link: .raw)
        for (i, f) in frames.enumerated() { b.frame(f, timeMicros: startMicros + Int64(i) * 7, wireLength: f.count + i % 3) }
        try b.write(to: path)
    }

    /// Every packet of the source, and the error that ended it (nil at a clean end).
    static func readAll(_ source: PcapSource) -> ([Packet], (any Error)?) {
        var out: [Packet] = []
        while true {
            do {
                switch try source.read() {
                case .packet(let p): out.append(Packet(bytes: Array(p.bytes), wireLength: p.wireLength, timestamp: p.timestamp))
                case .idle, .end: return (out, nil)
                }
            } catch {
                return (out, error)
            }
        }
    }

    func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("pcapread-\(UUID().uuidString)-\(name)").path
    }

    @Test func mappedWindowsGiveTheSamePacketsAsPlainReads() throws {
        let path = temporaryPath("a.pcap")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let frames = Self.frames(4000)
        try Self.write(frames, to: path)
        let plainSource = try PcapSource.open(file: path, mapWindow: nil)
        #expect(!plainSource.isMapped)
        let plain = Self.readAll(plainSource)
        #expect(plain.1 == nil)
        #expect(plain.0.count == frames.count)
        #expect(plain.0.map(\.bytes) == frames)
        for window in [4096, 65536, PcapSource.mapWindow] {
            let source = try PcapSource.open(file: path, mapWindow: window)
            #expect(source.isMapped)
            let mapped = Self.readAll(source)
            #expect(mapped.1 == nil, "window \(window)")
            #expect(mapped.0 == plain.0, "window \(window)")
        }
    }

    @Test func aTornLastPacketIsReportedAfterTheWholeOnes() throws {
        let path = temporaryPath("torn.pcap")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let frames = Self.frames(500)
        try Self.write(frames, to: path)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.truncate(atOffset: UInt64(size - 100))
        try handle.close()
        let plain = Self.readAll(try PcapSource.open(file: path, mapWindow: nil))
        let mapped = Self.readAll(try PcapSource.open(file: path, mapWindow: 4096))
        #expect(plain.0.count == 499)
        #expect(mapped.0 == plain.0)
        let error = try #require(mapped.1 as? HarnessError)
        #expect(error.message.contains("packet 500"))
        #expect(String(describing: error).contains(path))
        #expect((plain.1 as? HarnessError)?.message == error.message)
    }

    @Test func bytesAppendedAfterOpeningAreRead() throws {
        let path = temporaryPath("grow.pcap")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.write(Self.frames(300), to: path)
        let source = try PcapSource.open(file: path, mapWindow: 4096)
        // More packets land in the file before the reader reaches its old end.
        var more = PcapBuilder(link: .raw)
        let extra = Self.frames(200, from: 300)
        for (i, f) in extra.enumerated() { more.frame(f, timeMicros: 1_800_000_000_000_000 + Int64(i), wireLength: f.count) }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(more.bytes.dropFirst(24)))
        try handle.close()
        let (packets, error) = Self.readAll(source)
        #expect(error == nil)
        #expect(packets.map(\.bytes) == Self.frames(300) + extra)
    }

    @Test func aNamedPipeIsReadWholeAsAStream() throws {
        // A FIFO is not mapped: it is read as a stream, every packet its writer sends.
        let path = temporaryPath("fifo")
        #expect(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        let frames = Self.frames(300)
        var b = PcapBuilder(link: .raw)
        for (i, f) in frames.enumerated() { b.frame(f, timeMicros: 1_700_000_000_000_000 + Int64(i), wireLength: f.count) }
        let bytes = b.bytes
        let writer = Thread {
            // Blocks until the reader opens the FIFO.
            guard let h = FileHandle(forWritingAtPath: path) else { return }
            try? h.write(contentsOf: Data(bytes))
            try? h.close()
        }
        signal(SIGPIPE, SIG_IGN)
        writer.start()
        let source = try PcapSource.open(file: path)
        #expect(!source.isMapped)
        let (packets, error) = Self.readAll(source)
        #expect(error == nil)
        #expect(packets.map(\.bytes) == frames)
    }

    @Test func aMissingFileIsAClearError() throws {
        let path = temporaryPath("absent.pcap")
        #expect {
            _ = try PcapSource.open(file: path)
        } throws: { error in
            let e = error as? HarnessError
            return e?.code == .badInput && String(describing: error).contains(path) && e?.message.contains("No such file") == true
        }
    }
}
