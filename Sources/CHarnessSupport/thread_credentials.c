// Dropping the credentials of one thread that glibc's set*id broadcast skips.
//
// glibc's setuid()/setgid() change every thread of the process, except threads it considers
// exiting. libdispatch's dispatch_main() (which runs Swift's async main on Linux) calls
// pthread_exit() on the main thread and parks it in sigsuspend() from a TSD destructor: that
// thread lives on, skipped, with root's credentials. This makes it change its own credentials
// with raw system calls from a signal handler (async-signal-safe), then reports the outcome.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include "CHarnessSupport.h"

// Shared between the calling thread and the signal handler on the target thread: lock-free atomics
// (async-signal-safe), release on one side and acquire on the other, so the handler sees the ids
// the caller stored and the caller sees the handler's outcome (ThreadSanitizer checks this).
static int drop_state;  // 0 pending, 1 done, -1 failed
static uid_t drop_uid;
static gid_t drop_gid;

static void drop_handler(int sig) {
    (void)sig;
    int saved = errno;
    gid_t gid = __atomic_load_n(&drop_gid, __ATOMIC_ACQUIRE);
    uid_t uid = __atomic_load_n(&drop_uid, __ATOMIC_ACQUIRE);
    long a = syscall(SYS_setgroups, 0, NULL);
    long b = syscall(SYS_setresgid, gid, gid, gid);
    long c = syscall(SYS_setresuid, uid, uid, uid);
    __atomic_store_n(&drop_state, (a == 0 && b == 0 && c == 0) ? 1 : -1, __ATOMIC_RELEASE);
    errno = saved;
}

int harness_drop_thread_credentials(int tid, uint32_t uid, uint32_t gid) {
    struct sigaction action = {0}, previous;
    action.sa_handler = drop_handler;
    sigemptyset(&action.sa_mask);
    int signal_number = SIGRTMIN + 3;
    if (sigaction(signal_number, &action, &previous) != 0) return -1;
    __atomic_store_n(&drop_uid, (uid_t)uid, __ATOMIC_RELEASE);
    __atomic_store_n(&drop_gid, (gid_t)gid, __ATOMIC_RELEASE);
    __atomic_store_n(&drop_state, 0, __ATOMIC_RELEASE);
    int result = -1;
    if (syscall(SYS_tgkill, getpid(), tid, signal_number) == 0) {
        struct timespec pause = {0, 1000000};
        for (int i = 0; i < 2000 && __atomic_load_n(&drop_state, __ATOMIC_ACQUIRE) == 0; i++) nanosleep(&pause, NULL);
        result = __atomic_load_n(&drop_state, __ATOMIC_ACQUIRE) == 1 ? 0 : -1;
    }
    sigaction(signal_number, &previous, NULL);
    return result;
}
