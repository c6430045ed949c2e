// glibc allocator knobs for long runs (malloc.h is not in Swift's Glibc module).
#include "CHarnessSupport.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int harness_limit_malloc_arenas(int arenas) {
#if defined(__GLIBC__)
    return mallopt(M_ARENA_MAX, arenas) == 1 ? 0 : -1;
#else
    (void)arenas;
    return -1;
#endif
}

void harness_malloc_trim(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
