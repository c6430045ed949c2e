/// Finds the entries of a HAR document (`log.entries`, one JSON object each) in its bytes as they
/// are read, so an importer parses one entry at a time: a HAR of 200k entries parsed whole held
/// some 17 GB of Foundation objects; this holds one chunk and one entry.
///
/// It follows JSON's structure only as far as it must (strings and their escapes, brackets, the
/// keys of the two outer objects) and checks nothing inside an entry: each entry's bytes go to a
/// real JSON parser. Bytes outside `log.entries` (pages, creator) are skipped.
struct HAREntrySplitter {
    /// An open object or array.
    private struct Frame {
        var isObject: Bool
        /// Objects: the next string is a key (after `{` or `,`).
        var expectingKey = false
        /// Objects: the key whose value comes or came last.
        var key: [UInt8] = []
    }

    /// The deepest nesting accepted outside an entry (a HAR needs 3), and inside one (a frame per
    /// level is held: hostile nesting must not grow it with the entry).
    static let maxDepth = 64
    static let maxEntryDepth = 512
    /// The largest entry accepted (bodies are inline in a HAR; 1 GiB is far past any real one).
    static let maxEntryBytes = 1 << 30
    /// Longer keys are not ours to match.
    private static let maxKeyBytes = 64

    private var stack: [Frame] = []
    private var inString = false
    private var escaped = false
    /// The string being read is a key of one of the two outer objects (captured into `key`).
    private var capturingKey = false
    private var key: [UInt8] = []
    /// Inside `log.entries`: its frame's depth.
    private var entriesDepth: Int?
    private var sawEntries = false
    /// The entry being collected, and where it starts in the stream.
    private var entry: [UInt8] = []
    private var entryStart: UInt64 = 0
    private var inEntry = false
    /// Bytes consumed so far.
    private(set) var offset: UInt64 = 0
    private var finishedDocument = false

    /// Why the document's structure is not a HAR's, and where.
    struct Failure: Error {
        var message: String
        var offset: UInt64
    }

    /// Feeds the next bytes; `entry` gets each complete entry's bytes and its offset.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, entry emit: ([UInt8], UInt64) throws -> Void) throws {
        var i = 0
        let n = bytes.count
        // Where the current entry's bytes in this chunk start.
        var copyFrom = inEntry ? 0 : -1
        while i < n {
            let b = bytes[i]
            let at = offset + UInt64(i)
            if inString {
                if escaped {
                    escaped = false
                } else if b == 0x5C {  // backslash
                    escaped = true
                } else if b == 0x22 {  // quote
                    inString = false
                    if capturingKey {
                        capturingKey = false
                        // An overlong key is kept as its first bytes: it matches none of ours.
                        stack[stack.count - 1].key = key
                        stack[stack.count - 1].expectingKey = false
                    }
                } else if capturingKey && key.count <= Self.maxKeyBytes {
                    key.append(b)
                }
                i += 1
                continue
            }
            let space = b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D
            if finishedDocument && !space { throw Failure(message: "bytes after the end of the JSON document", offset: at) }
            switch b {
            case 0x20, 0x09, 0x0A, 0x0D:
                break
            case 0x22:
                inString = true
                if !inEntry && stack.count <= 2, let top = stack.last, top.isObject, top.expectingKey {
                    capturingKey = true
                    key.removeAll(keepingCapacity: true)
                }
                if !inEntry && atEntryStart { throw Failure(message: "a log.entries element is not an object", offset: at) }
            case 0x7B, 0x5B:  // { [
                if !inEntry && atEntryStart {
                    guard b == 0x7B else { throw Failure(message: "a log.entries element is not an object", offset: at) }
                    inEntry = true
                    entryStart = at
                    copyFrom = i
                }
                let opensEntries =
                    !inEntry && b == 0x5B && stack.count == 2 && stack[0].isObject && stack[0].key == Self.logKey
                    && stack[1].isObject && stack[1].key == Self.entriesKey
                let limit = inEntry ? Self.maxEntryDepth : Self.maxDepth
                if stack.count >= limit {
                    throw Failure(message: "JSON nested deeper than \(limit) levels", offset: at)
                }
                stack.append(Frame(isObject: b == 0x7B, expectingKey: b == 0x7B))
                if opensEntries {
                    entriesDepth = stack.count
                    sawEntries = true
                }
            case 0x7D, 0x5D:  // } ]
                guard let top = stack.last, top.isObject == (b == 0x7D) else {
                    throw Failure(message: "unbalanced '\(Character(UnicodeScalar(b)))'", offset: at)
                }
                if stack.count == entriesDepth { entriesDepth = nil }
                stack.removeLast()
                if inEntry && entriesDepth != nil && stack.count == entriesDepth {
                    // The entry's closing brace.
                    if copyFrom >= 0 { entry.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[copyFrom...i])) }
                    copyFrom = -1
                    inEntry = false
                    try emit(entry, entryStart)
                    entry.removeAll(keepingCapacity: entry.capacity <= 1 << 20)
                }
                if stack.isEmpty { finishedDocument = true }
            case 0x2C:  // ,
                if let top = stack.last, top.isObject, !inEntry || stack.count <= 2 {
                    stack[stack.count - 1].expectingKey = true
                }
            default:
                if !inEntry && atEntryStart && b != 0x3A {
                    throw Failure(message: "a log.entries element is not an object", offset: at)
                }
            }
            i += 1
        }
        if inEntry {
            if copyFrom >= 0 { entry.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[copyFrom...])) }
            if entry.count > Self.maxEntryBytes {
                throw Failure(message: "a log.entries element is larger than \(Self.maxEntryBytes) bytes", offset: entryStart)
            }
        }
        offset += UInt64(n)
    }

    /// The stream ended: it must have been one whole document with a `log.entries` array.
    func finish() throws {
        if !stack.isEmpty || inString {
            throw Failure(message: "the JSON document ends early (inside \(stack.count) open brackets)", offset: offset)
        }
        if !sawEntries { throw Failure(message: "not a HAR file: no log.entries array", offset: offset) }
    }

    /// Directly inside `log.entries`, outside any entry: the next value is an entry.
    private var atEntryStart: Bool { entriesDepth != nil && stack.count == entriesDepth }

    private static let logKey = Array("log".utf8)
    private static let entriesKey = Array("entries".utf8)
}
