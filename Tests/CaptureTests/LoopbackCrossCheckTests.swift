import Capture
import Foundation
import HarnessCore
import HarnessTesting
import Testing

/// Real traffic (curl, a pipelining client, nginx as server and as proxy) recorded with tcpdump on
/// loopback; our exchanges must equal what tshark's HTTP dissector reports for the same file.
@Suite(.serialized) struct LoopbackCrossCheckTests {
    struct Tools {
        var nginx: String
        var tcpdump: String
        var tshark: String
        var curl: String
    }

    static func tools() -> Tools? {
        guard TestEnvironment.isRoot || TestEnvironment.isCI else {
            print("SKIP: capturing on loopback needs root")
            return nil
        }
        guard let nginx = TestEnvironment.tool("nginx"), let tcpdump = TestEnvironment.tool("tcpdump"),
            let tshark = TestEnvironment.tool("tshark"), let curl = TestEnvironment.tool("curl")
        else { return nil }
        return Tools(nginx: nginx, tcpdump: tcpdump, tshark: tshark, curl: curl)
    }

    /// Front nginx on `front` (static files, gzip, a proxy to `back`), backend nginx on `back`.
    static func startNginx(_ t: Tools, front: UInt16, back: UInt16) throws -> PcapNginx {
        let servers = """
            server {
              listen 127.0.0.1:\(front); listen [::1]:\(front);
              root $ROOT;
              gzip on; gzip_types text/plain; gzip_min_length 1;
              client_max_body_size 10m;
              location /proxy/ { proxy_pass http://127.0.0.1:\(back)/; proxy_http_version 1.1; proxy_set_header Connection ""; }
            }
            server {
              listen 127.0.0.1:\(back);
              client_max_body_size 10m;
              location / { return 200 "backend saw $request_uri\\n"; }
            }
            """
        let n = try PcapNginx(nginx: t.nginx, servers: servers, ports: [front, back])
        try "small file\n".write(toFile: n.root + "/small.txt", atomically: true, encoding: .utf8)
        try String(repeating: "compressible text line\n", count: 4000).write(
            toFile: n.root + "/text.txt", atomically: true, encoding: .utf8)
        try Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: n.root + "/big.bin"))
        return n
    }

    /// Sends three pipelined requests in one write and reads until the server closes.
    static func pipeline(port: UInt16) throws {
        let script = """
            import socket
            s = socket.create_connection(("127.0.0.1", \(port)))
            s.sendall(b"GET /small.txt HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /nope HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nHEAD /small.txt HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            while s.recv(65536): pass
            """
        try Run.process("/usr/bin/env", ["python3", "-c", script], timeout: 20)
    }

    @Test func curlPipeliningIPv6AndProxyLegsMatchTshark() throws {
        guard let t = Self.tools() else { return }
        let front = freeLoopbackPort()
        let back = freeLoopbackPort()
        let nginx = try Self.startNginx(t, front: front, back: back)
        let dir = TempDir("cap-loop")
        let pcap = dir.file("loop.pcap")
        let body = dir.file("post.bin")
        try Data(repeating: 0x61, count: 300 * 1024).write(to: URL(fileURLWithPath: body))
        let recorder = try PcapRecorder(
            tcpdump: t.tcpdump, path: pcap, filter: "tcp port \(front) or tcp port \(back)")
        let base = "http://127.0.0.1:\(front)"
        try Run.process(t.curl, ["-s", "-o", "/dev/null", "\(base)/small.txt", "\(base)/missing", "\(base)/small.txt"])
        try Run.process(t.curl, ["-s", "-o", "/dev/null", "--compressed", "\(base)/text.txt"])
        try Run.process(t.curl, ["-s", "-o", "/dev/null", "\(base)/big.bin"])
        try Run.process(t.curl, ["-s", "-o", "/dev/null", "-I", "\(base)/small.txt"])
        try Run.process(t.curl, ["-s", "-o", "/dev/null", "-H", "Expect: 100-continue", "--data-binary", "@\(body)", "\(base)/proxy/upload?x=1"])
        try Run.process(t.curl, ["-s", "-o", "/dev/null", "-g", "http://[::1]:\(front)/small.txt"])
        try Self.pipeline(port: front)
        recorder.stop()
        _ = nginx

        let options = CaptureOptions(frontPorts: [front], backPorts: [back])
        let (ours, summary) = try PcapCapture.run(file: pcap, options: options)
        let theirs = try PcapConversationView.tshark(t.tshark, file: pcap, httpPorts: [front, back])
        #expect(PcapConversationView(exchanges: ours) == theirs, "ours:\n\(PcapConversationView(exchanges: ours))\ntshark:\n\(theirs)")
        // The same traffic as pcapng reads the same.
        if let editcap = TestEnvironment.tool("editcap") {
            let pcapng = dir.file("loop.pcapng")
            try Run.process(editcap, ["-F", "pcapng", pcap, pcapng])
            let (again, _) = try PcapCapture.run(file: pcapng, options: options)
            let same = again == ours
            #expect(same, "pcapng gave \(again.count) exchanges, pcap \(ours.count)")
        }
        #expect(ours.count >= 12)
        #expect(summary.gaps == 0)

        let big = try #require(ours.first { $0.request.target == "/big.bin" })
        #expect(big.response?.bodyLength == 1 << 20)
        let bigComplete = big.isComplete
        #expect(bigComplete, "big.bin: flags \(big.flags)")
        let gz = try #require(ours.first { $0.request.target == "/text.txt" })
        #expect(gz.framing.contains(.responseChunked))
        #expect(gz.response?.headers.first("content-encoding") == "gzip")
        let post = try #require(ours.first { $0.request.target == "/proxy/upload?x=1" && $0.leg == .front })
        #expect(post.request.bodyLength == 300 * 1024)
        #expect(post.response?.interim.map(\.status) == [100])
        #expect(post.framing.contains(.continueSeen))
        let backPost = try #require(ours.first { $0.leg == .back && $0.request.method == "POST" })
        #expect(backPost.request.target == "/upload?x=1")
        #expect(backPost.link?.frontID == post.id)
        let v6 = ours.filter { $0.connection.client.host == "::1" }
        #expect(v6.count == 1)
        let piped = ours.filter { $0.request.target == "/nope" }
        #expect(piped.first?.response?.status == 404)
        #expect(ours.filter { !$0.isComplete }.map(\.request.target) == [])
    }

    @Test func anyInterfaceSLL2MatchesTshark() throws {
        guard let t = Self.tools(), let editcap = TestEnvironment.tool("editcap") else { return }
        let front = freeLoopbackPort()
        let back = freeLoopbackPort()
        let nginx = try Self.startNginx(t, front: front, back: back)
        let dir = TempDir("cap-any")
        let pcap = dir.file("any.pcap")
        let recorder = try PcapRecorder(
            tcpdump: t.tcpdump, interface: "any", path: pcap, filter: "tcp port \(front) or tcp port \(back)",
            extra: ["-y", "LINUX_SLL2"])
        let base = "http://127.0.0.1:\(front)"
        try Run.process(t.curl, ["-s", "-o", "/dev/null", "\(base)/small.txt", "\(base)/proxy/a/b", "\(base)/text.txt"])
        try Run.process(t.curl, ["-s", "-o", "/dev/null", "--compressed", "\(base)/text.txt"])
        recorder.stop()
        _ = nginx
        _ = editcap
        let theirs = try PcapConversationView.tshark(t.tshark, file: pcap, httpPorts: [front, back])
        for file in [pcap] {
            let (ours, _) = try PcapCapture.run(file: file, options: CaptureOptions(frontPorts: [front], backPorts: [back]))
            #expect(PcapConversationView(exchanges: ours) == theirs, "\(file) ours:\n\(PcapConversationView(exchanges: ours))\ntshark:\n\(theirs)")
            #expect(ours.count == 5)
        }
        let source = try PcapSource.open(file: pcap)
        #expect(source.linkType == .linuxSLL2)
    }

    // Live capture runs in this serialized suite so it never overlaps the tcpdump recordings.
    @Test func liveCaptureStopsCleanlyOnSIGINT() throws {
        guard TestEnvironment.isRoot, let nginx = TestEnvironment.tool("nginx"), let curl = TestEnvironment.tool("curl")
        else { return }
        let port = freeLoopbackPort()
        let server = try PcapNginx(nginx: nginx, servers: "server { listen 127.0.0.1:\(port); location / { return 200 \"hi\\n\"; } }", ports: [port])
        let dir = TempDir("cap-live")
        let out = dir.file("live.hlog")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnvironment.harnessExecutable)
        p.arguments = ["capture", "-i", "lo", "-o", out, "--front-port", "\(port)", "tcp", "port", "\(port)"]
        let err = Pipe()
        p.standardError = err
        try p.run()
        // Wait for "capturing on".
        var seen = Data()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && !String(decoding: seen, as: UTF8.self).contains("capturing on") {
            seen.append(err.fileHandleForReading.availableData)
        }
        for i in 0..<5 { try Run.process(curl, ["-s", "-o", "/dev/null", "http://127.0.0.1:\(port)/live\(i)"]) }
        usleep(300_000)
        kill(p.processIdentifier, SIGINT)
        let stopBy = Date().addingTimeInterval(10)
        while p.isRunning && Date() < stopBy { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        seen.append(err.fileHandleForReading.readDataToEndOfFile())
        let text = String(decoding: seen, as: UTF8.self)
        _ = server
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains("received"))
        let log = try LogFile.readAll(out)
        #expect(log.exchanges.map(\.request.target) == (0..<5).map { "/live\($0)" })
        #expect(log.exchanges.allSatisfy { $0.leg == .front && $0.isComplete })
    }

    @Test(arguments: ["internet-http.pcap", "internet-redirects.pcap", "mixed-with-ssdp.pcap"])
    func sharedInternetCapturesMatchTshark(name: String) throws {
        guard let tshark = TestEnvironment.tool("tshark") else { return }
        let file = TestEnvironment.repositoryRoot + "/../../shared/pcaps/" + name
        let path = FileManager.default.fileExists(atPath: file) ? file : "/work/shared/pcaps/" + name
        guard FileManager.default.fileExists(atPath: path) else {
            print("SKIP: \(path) not found")
            return
        }
        let (ours, _) = try PcapCapture.run(file: path)
        let theirs = try PcapConversationView.tshark(tshark, file: path, httpPorts: [])
        #expect(PcapConversationView(exchanges: ours) == theirs, "ours:\n\(PcapConversationView(exchanges: ours))\ntshark:\n\(theirs)")
        if name == "mixed-with-ssdp.pcap" {
            // SSDP is HTTP over UDP: never a TCP exchange.
            #expect(ours.isEmpty)
        } else {
            #expect(!ours.isEmpty)
        }
    }
}
