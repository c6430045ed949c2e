#if canImport(Glibc)
import Glibc
#endif

/// Keeps a long replay's resident memory flat under glibc's allocator.
///
/// A replay allocates on one thread (the reader decodes the recording, the event loops build
/// results) and frees on another (the result writer). glibc gives each thread its own arena and
/// keeps what is freed into an arena for reuse there, so fragments pile up per arena: measured on
/// a million-request replay, the heap's own peak stayed under 30 MiB while the resident size grew
/// from 57 to 81 MiB. Capping the arenas and handing free pages back now and then keeps the
/// resident size near the heap's. Process-wide settings (the replay is the process's work);
/// `mallopt` and `malloc_trim` are looked up at run time (`malloc.h` is not in the Glibc module)
/// and nothing happens where they do not exist.
enum MemoryTrim {
    private typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    private typealias Trim = @convention(c) (Int) -> Int32

    /// glibc's `M_ARENA_MAX`.
    private static let arenaMaxParameter: Int32 = -8

    #if canImport(Glibc)
    private static let mallopt: Mallopt? = dlsym(dlopen(nil, RTLD_NOW), "mallopt").map { unsafeBitCast($0, to: Mallopt.self) }
    private static let mallocTrim: Trim? = dlsym(dlopen(nil, RTLD_NOW), "malloc_trim").map { unsafeBitCast($0, to: Trim.self) }
    #else
    private static let mallopt: Mallopt? = nil
    private static let mallocTrim: Trim? = nil
    #endif

    /// At most `arenas` malloc arenas for the threads created from now on.
    static func limitArenas(_ arenas: Int32 = 2) {
        _ = mallopt?(arenaMaxParameter, arenas)
    }

    /// Returns free pages of every arena to the system (a few milliseconds; call it seldom).
    static func trim() {
        _ = mallocTrim?(0)
    }
}
