// A per-thread nice value: Linux schedules threads, and setpriority() on a thread id changes
// only that thread (POSIX would say the process; Linux's documented behaviour differs).
#define _GNU_SOURCE
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include "CHarnessSupport.h"

int harness_set_thread_nice(int nice) {
#if defined(__linux__)
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
#else
    (void)nice;
    return -1;
#endif
}
