// Thin wrappers over epoll, eventfd, timerfd and non-blocking TCP connect for the replay client's
// own event loop (Replay/PollLoop.swift). epoll_event is packed on x86_64, so Swift never sees it.
#define _GNU_SOURCE
#include "CHarnessSupport.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

int harness_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int harness_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int harness_epoll_wait(int epfd, struct harness_poll_event *out, int max, int timeout_ms) {
    struct epoll_event events[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        out[i].data = events[i].data.u64;
        out[i].events = events[i].events;
    }
    return n;
}

int harness_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

void harness_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t r = write(fd, &one, sizeof one);
    (void)r;
}

void harness_fd_drain(int fd) {
    uint64_t value;
    ssize_t r = read(fd, &value, sizeof value);
    (void)r;
}

int harness_timerfd(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

int harness_timerfd_set(int fd, uint64_t deadline_ns) {
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    if (deadline_ns != 0) {
        spec.it_value.tv_sec = (time_t)(deadline_ns / 1000000000ull);
        spec.it_value.tv_nsec = (long)(deadline_ns % 1000000000ull);
        if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    }
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

int harness_tcp_connect(const void *address, uint32_t length, int *error) {
    const struct sockaddr *sa = (const struct sockaddr *)address;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error = errno;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, sa, (socklen_t)length) == 0) {
        *error = 0;
    } else if (errno == EINPROGRESS) {
        *error = EINPROGRESS;
    } else {
        *error = errno;
        close(fd);
        return -1;
    }
    return fd;
}

int harness_socket_error(int fd) {
    int value = 0;
    socklen_t length = sizeof value;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) != 0) return errno;
    return value;
}

int harness_socket_name(int fd, int peer, char *host, size_t host_length, int *port) {
    struct sockaddr_storage ss;
    socklen_t length = sizeof ss;
    int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &length) : getsockname(fd, (struct sockaddr *)&ss, &length);
    if (r != 0) return -1;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        if (!inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)host_length)) return -1;
        *port = ntohs(in->sin_port);
        return 0;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)host_length)) return -1;
        *port = ntohs(in6->sin6_port);
        return 0;
    }
    return -1;
}
