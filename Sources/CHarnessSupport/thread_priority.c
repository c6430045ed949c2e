// A per-thread nice value: Linux schedules threads, and setpriority() on a thread id changes
// only that thread (POSIX would say the process; Linux's documented behaviour differs).
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
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

int harness_set_thread_idle(void) {
#if defined(__linux__) && defined(SCHED_IDLE)
    struct sched_param param = {0};
    return pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) == 0 ? 0 : -1;
#else
    return -1;
#endif
}

int harness_set_thread_normal(void) {
#if defined(__linux__)
    struct sched_param param = {0};
    return pthread_setschedparam(pthread_self(), SCHED_OTHER, &param) == 0 ? 0 : -1;
#else
    return -1;
#endif
}

#include <sys/prctl.h>

int harness_set_thread_name(const char *name) {
#ifdef PR_SET_NAME
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
#else
    (void)name;
    return -1;
#endif
}
