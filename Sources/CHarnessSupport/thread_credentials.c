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

static volatile sig_atomic_t drop_state;  // 0 pending, 1 done, -1 failed
static volatile uid_t drop_uid;
static volatile gid_t drop_gid;

static void drop_handler(int sig) {
    (void)sig;
    int saved = errno;
    long a = syscall(SYS_setgroups, 0, NULL);
    long b = syscall(SYS_setresgid, drop_gid, drop_gid, drop_gid);
    long c = syscall(SYS_setresuid, drop_uid, drop_uid, drop_uid);
    drop_state = (a == 0 && b == 0 && c == 0) ? 1 : -1;
    errno = saved;
}

int harness_drop_thread_credentials(int tid, uint32_t uid, uint32_t gid) {
    struct sigaction action = {0}, previous;
    action.sa_handler = drop_handler;
    sigemptyset(&action.sa_mask);
    int signal_number = SIGRTMIN + 3;
    if (sigaction(signal_number, &action, &previous) != 0) return -1;
    drop_uid = uid;
    drop_gid = gid;
    drop_state = 0;
    int result = -1;
    if (syscall(SYS_tgkill, getpid(), tid, signal_number) == 0) {
        struct timespec pause = {0, 1000000};
        for (int i = 0; i < 2000 && drop_state == 0; i++) nanosleep(&pause, NULL);
        result = drop_state == 1 ? 0 : -1;
    }
    sigaction(signal_number, &previous, NULL);
    return result;
}
