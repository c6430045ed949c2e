// A read-only stdio stream over a regular file that maps the file a window at a time instead of
// copying it in with read(2): libpcap reads capture files through stdio, and the kernel's copy of
// every byte into the stream's buffer was a third of the reading thread's time. Only the current
// window is mapped, so resident memory stays one window whatever the file's length.
#define _GNU_SOURCE
#include "CHarnessSupport.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct mapped_file {
    int fd;
    size_t size;      // the file's length when last checked
    size_t pos;       // the next byte to hand out
    size_t window;    // bytes per mapping (a multiple of the page size)
    size_t map_start; // file offset of `map`
    size_t map_length;
    unsigned char *map;
};

static void unmap(struct mapped_file *f) {
    if (f->map) munmap(f->map, f->map_length);
    f->map = NULL;
    f->map_length = 0;
}

// Maps the window holding `f->pos`; 0 at the end of the file, -1 on error (errno set).
static int map_window(struct mapped_file *f) {
    if (f->pos >= f->size) {
        // The file may have grown since (a capture still being written): look again.
        struct stat st;
        if (fstat(f->fd, &st) != 0) return -1;
        f->size = (size_t)st.st_size;
        if (f->pos >= f->size) return 0;
    }
    unmap(f);
    size_t start = f->pos - f->pos % f->window;
    size_t length = f->size - start < f->window ? f->size - start : f->window;
    void *m = mmap(NULL, length, PROT_READ, MAP_PRIVATE, f->fd, (off_t)start);
    if (m == MAP_FAILED) return -1;
    madvise(m, length, MADV_SEQUENTIAL);
    madvise(m, length, MADV_WILLNEED);
    f->map = m;
    f->map_start = start;
    f->map_length = length;
    return 1;
}

static ssize_t mapped_read(void *cookie, char *buffer, size_t count) {
    struct mapped_file *f = cookie;
    size_t done = 0;
    while (done < count) {
        if (!f->map || f->pos < f->map_start || f->pos >= f->map_start + f->map_length) {
            int r = map_window(f);
            if (r < 0) return done > 0 ? (ssize_t)done : -1;
            if (r == 0) break;
        }
        size_t available = f->map_start + f->map_length - f->pos;
        size_t n = count - done < available ? count - done : available;
        memcpy(buffer + done, f->map + (f->pos - f->map_start), n);
        f->pos += n;
        done += n;
    }
    return (ssize_t)done;
}

static int mapped_seek(void *cookie, off64_t *offset, int whence) {
    struct mapped_file *f = cookie;
    long long base;
    switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = (long long)f->pos; break;
    case SEEK_END: base = (long long)f->size; break;
    default: errno = EINVAL; return -1;
    }
    long long target = base + (long long)*offset;
    if (target < 0) {
        errno = EINVAL;
        return -1;
    }
    f->pos = (size_t)target;
    *offset = target;
    return 0;
}

static int mapped_close(void *cookie) {
    struct mapped_file *f = cookie;
    unmap(f);
    int r = close(f->fd);
    free(f);
    return r;
}

FILE *harness_mapped_fopen(const char *path, size_t window) {
    // Looked at before it is opened: opening a FIFO waits for its writer, and closing it again
    // for the caller to open it as a stream left a moment with no reader, in which the writer's
    // writes fail (EPIPE).
    struct stat st;
    if (stat(path, &st) != 0) return NULL;
    if (!S_ISREG(st.st_mode)) {
        errno = ENOTSUP;
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        // Replaced by something else since the stat: the caller opens it as a stream.
        close(fd);
        errno = ENOTSUP;
        return NULL;
    }
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    if (window < (size_t)page) window = (size_t)page;
    window -= window % (size_t)page;
    struct mapped_file *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    f->fd = fd;
    f->size = (size_t)st.st_size;
    f->window = window;
    cookie_io_functions_t io = {.read = mapped_read, .write = NULL, .seek = mapped_seek, .close = mapped_close};
    FILE *file = fopencookie(f, "rb", io);
    if (!file) {
        int e = errno;
        close(fd);
        free(f);
        errno = e;
    }
    return file;
}
