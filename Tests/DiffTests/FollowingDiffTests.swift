import Foundation
import Diff
import HarnessCore
import HarnessTesting
import Testing

/// A replay diffs its result log while it is being written (`DiffOptions.following`): the report
/// must be exactly the one a diff of the finished file gives, however the writes are cut.
@Suite struct FollowingDiffTests {
    /// Copies `source` into `destination` in pieces of `piece` bytes (cutting blocks and block
    /// headers), pausing between pieces, then tells the follower the writer is done.
    static func grow(_ source: String, into destination: String, piece: Int, follow: LogFollow) throws -> Thread {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        _ = FileManager.default.createFile(atPath: destination, contents: bytes.prefix(9))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: destination))
        handle.seekToEndOfFile()
        let thread = Thread {
            var at = 9
            while at < bytes.count {
                let end = min(bytes.count, at + piece)
                handle.write(bytes.subdata(in: at..<end))
                at = end
                usleep(300)
            }
            try? handle.close()
            follow.finish()
        }
        thread.start()
        return thread
    }

    @Test(arguments: [997, 20_011])
    func aFollowingDiffReportsWhatADiffOfTheFinishedFileReports(piece: Int) throws {
        let dir = TempDir("follow")
        let original = dir.file("o.log"), result = dir.file("r.log"), growing = dir.file("g.log")
        try SyntheticLogs.write(originalPath: original, resultPath: result, count: 3_000)
        var after = try DiffEngine.diff(originalPath: original, resultPath: result, options: DiffOptions())

        let follow = LogFollow(pollMicros: 500)
        var options = DiffOptions()
        options.following = follow
        _ = try Self.grow(result, into: growing, piece: piece, follow: follow)
        var during = try DiffEngine.diff(originalPath: original, resultPath: growing, options: options)
        #expect(follow.isFinished)

        // The synthetic logs hold real regressions: a diff that stopped at the first short read
        // would compare a fraction of them.
        #expect(after.compared == 3_000)
        #expect(after.differing > 0)
        after.result = nil
        during.result = nil
        #expect(during == after)
    }

    @Test func aFollowerStopsAtATornTailOnceTheWriterIsDone() throws {
        let dir = TempDir("follow")
        let original = dir.file("o.log"), result = dir.file("r.log"), torn = dir.file("t.log")
        try SyntheticLogs.write(originalPath: original, resultPath: result, count: 500)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: result))
        try bytes.prefix(bytes.count - 7).write(to: URL(fileURLWithPath: torn))
        let follow = LogFollow(pollMicros: 500)
        let reader = try LogReader(path: torn, following: follow)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { follow.finish() }
        var read = 0
        while try reader.next() != nil { read += 1 }
        // It waited for the rest (the writer was not done), then reported the torn block.
        #expect(follow.isFinished)
        #expect(reader.damage?.reason.contains("torn") == true)
        #expect(read < 1_000)
    }
}
