private import CPcap
private import CHarnessSupport
import HarnessCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One packet as libpcap hands it over; `bytes` is valid only until the next read.
public struct CapturedPacket {
    public var bytes: UnsafeRawBufferPointer
    public var wireLength: Int
    /// Microseconds since the Unix epoch.
    public var timestamp: Int64
}

/// What a read from a `PcapSource` gave.
public enum PcapRead {
    case packet(CapturedPacket)
    /// Nothing arrived within the poll interval (live capture only).
    case idle
    /// End of file.
    case end
}

/// libpcap's counters for a live capture.
public struct PcapCounters: Sendable, Equatable {
    public var received: UInt64
    public var droppedByKernel: UInt64
    public var droppedByInterface: UInt64
}

/// A libpcap handle: a pcap or pcapng file (`-` is stdin) or a live interface.
///
/// The only type that touches libpcap. Every failing C call goes through `check`, which turns it
/// into a `HarnessError` naming the file or interface (and the packet number where it applies).
/// The handle is closed on deinit. Not thread-safe: read from one thread.
public final class PcapSource {
    private let handle: OpaquePointer
    public let name: String
    public let isLive: Bool
    public let linkType: LinkType
    public let dataLinkName: String
    /// Packets read so far (the number of the last one).
    public private(set) var packetNumber = 0
    private let fd: Int32
    /// The capture file is read through a mapping (`open(file:mapWindow:)`).
    public private(set) var isMapped = false
    /// The stdio buffer of a capture file (freed after `pcap_close` closed the file).
    private var fileBuffer: UnsafeMutablePointer<CChar>?

    private init(handle: OpaquePointer, name: String, isLive: Bool, fileBuffer: UnsafeMutablePointer<CChar>? = nil) throws {
        self.fileBuffer = fileBuffer
        self.handle = handle
        self.name = name
        self.isLive = isLive
        let dlt = pcap_datalink(handle)
        dataLinkName = pcap_datalink_val_to_name(dlt).map { String(cString: $0) } ?? "DLT \(dlt)"
        guard let lt = LinkType(dlt: dlt) else {
            pcap_close(handle)
            fileBuffer?.deallocate()
            self.fileBuffer = nil
            throw HarnessError(.unsupported, "link type \(dataLinkName) (\(dlt)) is not supported", path: name)
        }
        linkType = lt
        fd = isLive ? pcap_get_selectable_fd(handle) : -1
    }

    deinit {
        pcap_close(handle)
        fileBuffer?.deallocate()
    }

    /// The stdio buffer libpcap reads a capture file through. libpcap reads files with `fread`,
    /// and stdio's default buffer (the file system's 4 KiB block) made a 500 MB capture 125,000
    /// `read` calls; with 1 MiB it is 500.
    static let fileBufferSize = 1 << 20
    /// A mapped file's stream needs no system call to refill: a buffer that stays in the core's
    /// cache is enough.
    static let mappedBufferSize = 64 << 10
    /// How much of a regular capture file is mapped at a time (resident memory stays this much).
    public static let mapWindow = 1 << 20

    /// Opens a capture file (pcap or pcapng); `-` reads stdin.
    ///
    /// libpcap reads the file through a stdio stream. For a regular file that stream maps the file
    /// a window at a time (`harness_mapped_fopen`): each byte is copied once from the page cache,
    /// where `read` had the kernel copy it into the stream's buffer first (a third of the reading
    /// thread's time). Pipes and stdin are read as usual. `mapWindow` nil reads a regular file
    /// as usual too (tests compare the two).
    public static func open(file path: String, mapWindow: Int? = PcapSource.mapWindow) throws -> PcapSource {
        let name = path == "-" ? "<stdin>" : path
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        var mapped: UnsafeMutablePointer<FILE>?
        if path != "-", let mapWindow {
            mapped = harness_mapped_fopen(path, mapWindow)
            if mapped == nil && errno != ENOTSUP {
                let reason = String(cString: strerror(errno))
                throw HarnessError(.badInput, "cannot read the capture: \(reason)", path: name)
            }
        }
        // Stdin through its own FILE on a duplicate of fd 0 (closed with the handle).
        guard let file = mapped ?? (path == "-" ? fdopen(dup(0), "rb") : fopen(path, "rb")) else {
            let reason = String(cString: strerror(errno))
            throw HarnessError(.badInput, "cannot read the capture: \(reason)", path: name)
        }
        let size = mapped == nil ? fileBufferSize : mappedBufferSize
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
        // Before the first read, as setvbuf requires; the buffer outlives the FILE (freed after pcap_close).
        setvbuf(file, buffer, _IOFBF, size)
        guard let h = pcap_fopen_offline_with_tstamp_precision(file, UInt32(PCAP_TSTAMP_PRECISION_MICRO), &errbuf) else {
            // On failure libpcap leaves the FILE open.
            fclose(file)
            buffer.deallocate()
            throw HarnessError(.badInput, "cannot read the capture: \(cString(errbuf))", path: name)
        }
        let source = try PcapSource(handle: h, name: name, isLive: false, fileBuffer: buffer)
        source.isMapped = mapped != nil
        return source
    }

    /// Opens a live interface. Not in immediate mode, like `tcpdump -w`: libpcap then uses
    /// TPACKET_V3, whose ring holds packets at their captured size, so a 32 MiB buffer holds tens
    /// of thousands of small packets (in immediate mode every slot is snaplen-sized: a few
    /// hundred). Packets arrive within the 100 ms read timeout.
    public static func open(
        interface: String, snaplen: Int32 = 262_144, bufferSize: Int32? = nil, promiscuous: Bool = false,
        immediate: Bool = false
    ) throws -> PcapSource {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let h = pcap_create(interface, &errbuf) else {
            throw HarnessError(.io, "cannot open the interface: \(cString(errbuf))", path: interface)
        }
        do {
            try check(pcap_set_snaplen(h, snaplen), h, "setting the snaplen", interface)
            if immediate { try check(pcap_set_immediate_mode(h, 1), h, "setting immediate mode", interface) }
            try check(pcap_set_promisc(h, promiscuous ? 1 : 0), h, "setting promiscuous mode", interface)
            try check(pcap_set_timeout(h, 100), h, "setting the read timeout", interface)
            if let bufferSize { try check(pcap_set_buffer_size(h, bufferSize), h, "setting the buffer size", interface) }
            let status = pcap_activate(h)
            if status == PCAP_ERROR_PERM_DENIED || (status < 0 && String(cString: pcap_geterr(h)).contains("ermission")) {
                throw HarnessError(
                    .io,
                    "live capture needs root or the CAP_NET_RAW capability (run with sudo, or "
                        + "`setcap cap_net_raw,cap_net_admin=eip` on the harness binary)", path: interface)
            }
            try check(status, h, "activating the capture", interface)
            try check(pcap_setnonblock(h, 1, &errbuf), h, "setting non-blocking mode", interface)
        } catch {
            pcap_close(h)
            throw error
        }
        return try PcapSource(handle: h, name: interface, isLive: true)
    }

    /// The checking helper: a negative libpcap status becomes a `HarnessError` saying what failed.
    @discardableResult
    static func check(_ status: Int32, _ h: OpaquePointer, _ what: String, _ name: String, location: String? = nil) throws -> Int32 {
        guard status < 0 else { return status }
        var detail = String(cString: pcap_geterr(h))
        if detail.isEmpty { detail = String(cString: pcap_statustostr(status)) }
        throw HarnessError(.io, "\(what) failed: \(detail)", path: name, location: location)
    }

    /// Compiles and installs a BPF filter (tcpdump syntax).
    public func setFilter(_ expression: String) throws {
        var program = bpf_program()
        let netmask: bpf_u_int32 = 0xffff_ffff
        if pcap_compile(handle, &program, expression, 1, netmask) < 0 {
            throw HarnessError(
                .usage, "bad filter expression '\(expression)': \(String(cString: pcap_geterr(handle)))", path: name)
        }
        defer { pcap_freecode(&program) }
        try Self.check(pcap_setfilter(handle, &program), handle, "installing the filter", name)
    }

    /// Reads the next packet; a live source waits at most `pollMillis` before returning `.idle`.
    public func read(pollMillis: Int32 = 100) throws -> PcapRead {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while true {
            let r = pcap_next_ex(handle, &header, &data)
            switch r {
            case 1:
                guard let header, let data else { return .idle }
                packetNumber += 1
                let h = header.pointee
                let ts = Int64(h.ts.tv_sec) * 1_000_000 + Int64(h.ts.tv_usec)
                return .packet(CapturedPacket(
                    bytes: UnsafeRawBufferPointer(start: data, count: Int(h.caplen)), wireLength: Int(h.len),
                    timestamp: ts))
            case 0:
                guard isLive else { return .idle }
                if fd >= 0 {
                    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    let n = poll(&p, 1, pollMillis)
                    if n == 0 { return .idle }
                    if n < 0 && errno == EINTR { return .idle }
                    continue
                }
                return .idle
            case PCAP_ERROR_BREAK:
                return .end
            default:
                let detail = String(cString: pcap_geterr(handle))
                throw HarnessError(
                    .badInput, "cannot read packet \(packetNumber + 1): \(detail)", path: name,
                    location: "packet \(packetNumber + 1)")
            }
        }
    }

    /// libpcap's counters (live captures).
    public func counters() -> PcapCounters? {
        var s = pcap_stat()
        guard pcap_stats(handle, &s) == 0 else { return nil }
        return PcapCounters(
            received: UInt64(s.ps_recv), droppedByKernel: UInt64(s.ps_drop), droppedByInterface: UInt64(s.ps_ifdrop))
    }
}

/// The text of a NUL-terminated C buffer.
private func cString(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
