#ifndef CHARNESS_SUPPORT_H
#define CHARNESS_SUPPORT_H
#include <stddef.h>
#include <stdint.h>

/// CRC32C (Castagnoli), as used by the recording log. `crc` is the running value (0 to start).
/// Uses the SSE4.2 instruction when the CPU has it, a table otherwise.
uint32_t harness_crc32c(uint32_t crc, const void *data, size_t length);

/// 64-bit FNV-1a-style content hash used to find identical bodies inside one log segment.
uint64_t harness_hash64(const void *data, size_t length);

/// Makes thread `tid` of this process set its own groups, gid and uid with raw system calls (from
/// a signal handler), for a thread glibc's setuid() broadcast skips. 0 on success, -1 otherwise.
int harness_drop_thread_credentials(int tid, uint32_t uid, uint32_t gid);

/// Sets the calling thread's nice value (Linux keeps one per thread). 0 on success, -1 otherwise.
int harness_set_thread_nice(int nice);

/// Moves the calling thread to the idle scheduling class (SCHED_IDLE on Linux): it runs when a
/// core would otherwise be idle. 0 on success, -1 otherwise.
int harness_set_thread_idle(void);

/// Moves the calling thread back to the normal class (SCHED_OTHER). Leaving SCHED_IDLE needs
/// CAP_SYS_NICE or a permissive RLIMIT_NICE: -1 when the kernel refuses.
int harness_set_thread_normal(void);

/// At most `arenas` glibc malloc arenas (M_ARENA_MAX); 0 on success, -1 elsewhere.
int harness_limit_malloc_arenas(int arenas);

/// Hands free pages of every malloc arena back to the system (glibc; a no-op elsewhere).
void harness_malloc_trim(void);

#endif
