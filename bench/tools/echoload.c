/* echoload: a TCP echo load generator for bench/ (compiled at run time).
 *
 * usage: echoload HOST PORT CONNECTIONS MESSAGE_BYTES SECONDS [WARMUP_SECONDS]
 *
 * Each connection sends one message, waits for all of it to come back, and
 * sends the next (closed loop).  Prints one line:
 *   requests=N seconds=S rps=R p50_us=A p99_us=B errors=E
 * Latency is counted in 1 microsecond buckets up to 1 s (longer ones in the last).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUCKETS 1000000

struct conn {
    int fd;
    size_t sent, received;
    uint64_t started_ns;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint32_t buckets[BUCKETS];

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s HOST PORT CONNECTIONS MESSAGE_BYTES SECONDS [WARMUP]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), nconn = atoi(argv[3]);
    size_t size = (size_t)atol(argv[4]);
    double seconds = atof(argv[5]), warmup = argc > 6 ? atof(argv[6]) : 0.5;
    char *message = malloc(size), *scratch = malloc(size > 65536 ? size : 65536);
    memset(message, 'x', size);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    int ep = epoll_create1(0);
    struct conn *conns = calloc(nconn, sizeof *conns);
    for (int i = 0; i < nconn; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
            perror("connect");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        conns[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    uint64_t start = now_ns(), measure_from = start + (uint64_t)(warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(seconds * 1e9);
    long requests = 0, errors = 0;
    for (int i = 0; i < nconn; i++) {
        conns[i].started_ns = now_ns();
        ssize_t n = send(conns[i].fd, message, size, 0);
        conns[i].sent = n > 0 ? (size_t)n : 0;
    }
    struct epoll_event events[1024];
    for (;;) {
        uint64_t t = now_ns();
        if (t >= end) break;
        int n = epoll_wait(ep, events, 1024, 100);
        for (int k = 0; k < n; k++) {
            struct conn *c = events[k].data.ptr;
            ssize_t got = recv(c->fd, scratch, size - c->received, 0);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                continue;
            }
            c->received += (size_t)got;
            while (c->sent < size) { /* finish a partial send */
                ssize_t s = send(c->fd, message + c->sent, size - c->sent, 0);
                if (s <= 0) break;
                c->sent += (size_t)s;
            }
            if (c->received == size) {
                uint64_t done = now_ns();
                if (done >= measure_from && done < end) {
                    uint64_t us = (done - c->started_ns) / 1000;
                    buckets[us < BUCKETS ? us : BUCKETS - 1]++;
                    requests++;
                }
                c->received = 0;
                c->started_ns = done;
                ssize_t s = send(c->fd, message, size, 0);
                c->sent = s > 0 ? (size_t)s : 0;
            }
        }
    }
    long p50 = -1, p99 = -1, seen = 0;
    for (long us = 0; us < BUCKETS; us++) {
        seen += buckets[us];
        if (p50 < 0 && seen * 2 >= requests) p50 = us;
        if (p99 < 0 && seen * 100 >= requests * 99) { p99 = us; break; }
    }
    printf("requests=%ld seconds=%.3f rps=%.1f p50_us=%ld p99_us=%ld errors=%ld\n", requests,
           seconds, requests / seconds, p50, p99, errors);
    for (int i = 0; i < nconn; i++) close(conns[i].fd);
    return 0;
}
