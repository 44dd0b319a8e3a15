/*
 * bench/bench_util.h — what the load clients (chanload, liveload) measure
 * with: a monotonic clock, nearest-rank percentiles, a process's resident
 * memory. Each program includes it once; everything is static.
 */
#ifndef BENNU_BENCH_UTIL_H
#define BENNU_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>

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

#endif
