#ifndef CHARNESS_SUPPORT_H
#define CHARNESS_SUPPORT_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/// Names the calling thread for the kernel (top, perf, /proc; 15 bytes kept). 0 on success.
int harness_set_thread_name(const char *name);

/// At most `arenas` glibc malloc arenas (M_ARENA_MAX); 0 on success, -1 elsewhere.
int harness_limit_malloc_arenas(int arenas);

/// Hands free pages of every malloc arena back to the system (glibc; a no-op elsewhere).
void harness_malloc_trim(void);

/// An event as `harness_epoll_wait` reports it (epoll_event is packed on x86_64).
struct harness_poll_event {
    uint64_t data;
    uint32_t events;
};

/// epoll_create1(EPOLL_CLOEXEC).
int harness_epoll_create(void);
/// epoll_ctl with `events` and `data` as the event's u64.
int harness_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// epoll_wait into `out` (at most 256 events); returns the count, or -1 with errno.
int harness_epoll_wait(int epfd, struct harness_poll_event *out, int max, int timeout_ms);
/// A non-blocking eventfd; `harness_eventfd_signal` adds one, `harness_fd_drain` reads it back.
int harness_eventfd(void);
void harness_eventfd_signal(int fd);
void harness_fd_drain(int fd);
/// A non-blocking CLOCK_MONOTONIC timerfd; `harness_timerfd_set` arms it for an absolute
/// deadline in nanoseconds (0 disarms).
int harness_timerfd(void);
int harness_timerfd_set(int fd, uint64_t deadline_ns);
/// A non-blocking TCP socket (TCP_NODELAY) connecting to `address`: returns the descriptor and
/// sets `*error` to 0 (connected) or EINPROGRESS; -1 with `*error` set when it failed at once.
int harness_tcp_connect(const void *address, uint32_t length, int *error);
/// The socket's pending error (SO_ERROR).
int harness_socket_error(int fd);
/// The socket's own (`peer` 0) or peer address as text and port; 0 on success.
int harness_socket_name(int fd, int peer, char *host, size_t host_length, int *port);

/// Opens the regular file at `path` as a read-only stdio stream that maps it `window` bytes at a
/// time (rounded to pages) instead of reading it: the bytes are copied once, from the page cache,
/// and only one window is mapped at any time. NULL with errno set when it cannot (ENOTSUP: not a
/// regular file, e.g. a pipe; the caller then uses fopen). Growth of the file is followed;
/// truncating it while it is read is not supported (a mapped page past the end faults).
FILE *harness_mapped_fopen(const char *path, size_t window);

#endif
