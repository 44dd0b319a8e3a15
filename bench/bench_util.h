/*
 * bench/bench_util.h — what the benchmark programs share: a monotonic
 * clock, nearest-rank percentiles, a process's resident memory (chanload,
 * liveload), and a redis-server of their own (pubsub_bench,
 * presence_bench). Each program includes it once; everything is static.
 */
#ifndef BENNU_BENCH_UTIL_H
#define BENNU_BENCH_UTIL_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bennu/core.h>

/* CLOCK_MONOTONIC in ns: the same clock in every process of the machine. */
static inline int64_t now_ns(void) { return (int64_t)bn_clock_ns(); }

/* For qsort of int64_t samples. */
static inline int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Nearest-rank percentile p (0..1) of sorted ns samples v[n], in ms. */
static inline double pct_ms(const int64_t *v, size_t n, double p)
{
    size_t rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1e6;
}

/* VmRSS of process `pid` in KiB, or -1 if /proc says nothing. */
static inline long rss_kib(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/*
 * Starts a redis-server of the caller's own on a free loopback port, waits
 * until it accepts connections (at most 10 s) and sets REDIS_URL. Returns its
 * pid, or -1 (`why` says what failed).
 */
static inline pid_t bench_start_redis(const char **why)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || getsockname(s, (struct sockaddr *)&sa, &len) != 0) {
        close(s);
        *why = "no free port";
        return -1;
    }
    close(s);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1); /* its warnings about memory overcommit are not ours */
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly",
               "no", "--loglevel", "warning", (char *)NULL);
        perror("redis-server");
        _exit(127);
    }
    for (int i = 0;; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        int up = connect(c, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(c);
        if (up)
            break;
        if (i > 1000 || waitpid(pid, NULL, WNOHANG) == pid) {
            *why = "redis-server did not start";
            return -1;
        }
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%s", port);
    setenv("REDIS_URL", url, 1);
    return pid;
}

#endif
