internal import CHarnessSupport

/// Keeps a long replay's resident memory flat under glibc's allocator.
///
/// A replay allocates on one thread (the reader decodes the recording, the event loops build
/// results) and frees on another (the result writer). glibc gives each thread its own arena and
/// keeps what is freed into an arena for reuse there, so fragments pile up per arena: measured on
/// a million-request replay, the heap's own peak stayed under 30 MiB while the resident size grew
/// from 57 to 81 MiB. Capping the arenas and handing free pages back now and then keeps the
/// resident size near the heap's. Process-wide settings (the replay is the process's work),
/// through CHarnessSupport (`malloc.h` is not in the Glibc module); no-ops off glibc.
enum MemoryTrim {
    /// At most `arenas` malloc arenas for the threads created from now on.
    static func limitArenas(_ arenas: Int32 = 2) {
        _ = harness_limit_malloc_arenas(arenas)
    }

    /// Returns free pages of every arena to the system (a few milliseconds; call it seldom).
    static func trim() {
        harness_malloc_trim()
    }
}
