/*
 * bench/pubsub_bench.c — BENCH pubsub_cluster: broadcasts from a publisher on
 * node A to N mailbox subscribers spread over nodes A and B through Redis
 * (bennu/pubsub.h), against the same N subscribers on one node with the
 * local adapter; bench/run.sh's pubsub_cluster case, readings in
 * bench/RESULTS.md.
 *
 *   pubsub_bench [N [M]]      (N subscribers: 100; M messages: 20000;
 *                              REDIS_URL: the Redis to use, else a
 *                              redis-server of its own on a free loopback port)
 *
 * Each node is a process with two loop threads of subscribers (tasks that
 * bn_mailbox_recv on topic "bench"); node A's main thread publishes with
 * bn_pubsub_broadcast, each payload carrying its number and the time it was
 * sent (CLOCK_MONOTONIC: the same clock in every process). Subscribers
 * write the latency of each delivery and count deliveries in memory shared
 * by the processes. Two phases per run, after 1,000 messages of warm-up:
 *
 *   flood  M messages as fast as they are delivered, at most 256 per
 *          subscriber in flight (beyond that, a publisher outruns its
 *          subscribers and Redis disconnects a slow one): messages/s from the
 *          first publish to the last delivery (msgs_per_s; deliveries/s is N
 *          times that)
 *   paced  2,000 messages at 1,000/s: p50 and p99 of the delivery latency,
 *          from bn_pubsub_broadcast to the subscriber's task holding it
 *
 * The cluster run has N/2 subscribers on A and N/2 on B; the local run all N
 * on one node. Prints:
 *
 *   BENCH pubsub_cluster subs=N msgs_per_s=... deliveries_per_s=... p50_ms=... p99_ms=...
 *         local_msgs_per_s=... local_p50_ms=... local_p99_ms=... ratio=...   (ratio: cluster/local msgs/s)
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bennu.h>

#include "bench_util.h"

#define TOPIC "bench"
#define THREADS 2       /* subscriber loop threads per node */
#define WARMUP 1000
#define WINDOW 256      /* messages in flight per subscriber, flood phase */
#define PACED 2000
#define PACED_RATE 1000 /* messages/s */
#define WAIT_S 120      /* any phase longer than this fails the run */

static void die(const char *what)
{
    fprintf(stderr, "pubsub_bench: %s\n", what);
    exit(1);
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

/* ---- memory shared by the driver and the nodes ------------------------------------ */

typedef struct counter {
    _Atomic(uint64_t) n;
    char pad[56]; /* one cache line per subscriber thread */
} counter;

typedef struct shared {
    _Atomic(int) subscribed; /* subscribers ready */
    _Atomic(int) finished;   /* the publisher is done: nodes exit */
    counter delivered[2 * THREADS];
    uint64_t flood_ns;       /* first publish to last delivery */
    unsigned nsubs, total;   /* subscribers; messages of all phases */
    uint32_t lat[];          /* [subscriber][message]: latency in 0.1 µs + 1 (0: not received) */
} shared;

static shared *sh;

static uint64_t delivered(void)
{
    uint64_t n = 0;
    for (int i = 0; i < 2 * THREADS; i++)
        n += atomic_load_explicit(&sh->delivered[i].n, memory_order_relaxed);
    return n;
}

/* ---- a node's subscribers ------------------------------------------------------------ */

typedef struct sub_thread {
    pthread_t thread;
    unsigned slot;          /* its counter in sh->delivered */
    unsigned first, count;  /* its subscribers' indexes */
    bn_loop *loop;
} sub_thread;

typedef struct sub {
    sub_thread *t;
    unsigned index;
} sub;

static void subscriber(void *arg)
{
    sub *s = arg;
    bn_mailbox mb;
    bn_mailbox_init(&mb, s->t->loop);
    bn_pubsub_subscribe(&mb, TOPIC);
    atomic_fetch_add(&sh->subscribed, 1);
    uint32_t *lat = sh->lat + (size_t)s->index * sh->total;
    for (;;) {
        bn_pubsub_message *m = bn_pubsub_message_of(bn_mailbox_recv(&mb, -1));
        uint64_t now = bn_clock_ns();
        unsigned i;
        unsigned long long sent;
        if (m && sscanf(m->payload.ptr, "{\"i\":%u,\"t\":%llu", &i, &sent) == 2 && i < sh->total)
            lat[i] = (uint32_t)BN_MIN((now - sent) / 100 + 1, UINT32_MAX);
        atomic_fetch_add_explicit(&sh->delivered[s->t->slot].n, 1, memory_order_relaxed);
        bn_pubsub_message_free(m);
    }
}

static void *sub_thread_main(void *arg)
{
    sub_thread *t = arg;
    t->loop = bn_loop_new();
    sub *subs = bn_xcalloc(t->count, sizeof *subs);
    for (unsigned k = 0; k < t->count; k++) {
        subs[k] = (sub){t, t->first + k};
        bn_task_spawn(t->loop, subscriber, &subs[k]);
    }
    bn_loop_run(t->loop);
    return NULL;
}

/* ---- the publisher (node A's main thread) ------------------------------------------------ */

static void publish(unsigned i)
{
    char payload[160];
    int len = snprintf(payload, sizeof payload, "{\"i\":%u,\"t\":%llu,\"body\":\"%s\"}", i,
                       (unsigned long long)bn_clock_ns(), "the quick brown fox jumps over the lazy dog, twice over");
    bn_pubsub_broadcast(TOPIC, "new_msg", bn_str_make(payload, (size_t)len));
}

static void await_deliveries(uint64_t want)
{
    uint64_t deadline = bn_clock_ns() + (uint64_t)WAIT_S * 1000000000u;
    while (delivered() < want) {
        if (bn_clock_ns() > deadline)
            die("deliveries missing (a subscriber never got some messages)");
        sleep_ns(20000);
    }
}

/* Messages [first, first + count) with at most WINDOW per subscriber in flight. */
static void flood(unsigned first, unsigned count)
{
    uint64_t n = sh->nsubs;
    for (unsigned i = first; i < first + count; i++) {
        while ((i + 1) * n - delivered() > WINDOW * n)
            sleep_ns(20000);
        publish(i);
    }
    await_deliveries((uint64_t)(first + count) * n);
}

static void paced(unsigned first, unsigned count)
{
    uint64_t t0 = bn_clock_ns(), interval = 1000000000u / PACED_RATE;
    for (unsigned k = 0; k < count; k++) {
        uint64_t at = t0 + k * interval, now = bn_clock_ns();
        if (at > now)
            sleep_ns(at - now);
        publish(first + k);
    }
    await_deliveries((uint64_t)(first + count) * sh->nsubs);
}

static void run_phases(unsigned msgs)
{
    for (long i = 0; atomic_load(&sh->subscribed) < (int)sh->nsubs; i++) {
        if (i > WAIT_S * 1000)
            die("the subscribers never all subscribed");
        sleep_ns(1000000);
    }
    flood(0, WARMUP);
    uint64_t t0 = bn_clock_ns();
    flood(WARMUP, msgs);
    sh->flood_ns = bn_clock_ns() - t0;
    paced(WARMUP + msgs, PACED);
    atomic_store(&sh->finished, 1);
}

/* ---- a node ---------------------------------------------------------------------------- */

static void wait_connected(void)
{
    for (int i = 0; !bn_pubsub_connected(); i++) {
        if (i > WAIT_S * 1000)
            die("no connection to Redis");
        sleep_ns(1000000);
    }
}

/* Node `name` with subscribers [first, first + count) on counter slots [slot, slot + THREADS); publishes if msgs. */
static void node(const char *name, bool redis, unsigned first, unsigned count, unsigned slot, unsigned msgs)
{
    bn_pubsub_config cfg = {.node = name, .redis_url = redis ? NULL : ""};
    if (bn_pubsub_start(&cfg) != 0)
        die("bn_pubsub_start failed");
    if (redis)
        wait_connected();
    sub_thread threads[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        unsigned lo = first + count * i / THREADS, hi = first + count * (i + 1) / THREADS;
        threads[i] = (sub_thread){.slot = slot + i, .first = lo, .count = hi - lo};
        if (pthread_create(&threads[i].thread, NULL, sub_thread_main, &threads[i]) != 0)
            die("pthread_create failed");
    }
    if (msgs)
        run_phases(msgs);
    while (!atomic_load(&sh->finished))
        sleep_ns(5000000);
    _exit(0);
}

static pid_t spawn_node(const char *name, bool redis, unsigned first, unsigned count, unsigned slot, unsigned msgs)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed");
    if (pid == 0)
        node(name, redis, first, count, slot, msgs);
    return pid;
}

/* ---- the driver ------------------------------------------------------------------------- */

/* A redis-server of our own on a free loopback port; sets REDIS_URL. */
static pid_t start_redis(void)
{
    const char *why = NULL;
    pid_t pid = bench_start_redis(&why);
    if (pid < 0)
        die(why);
    return pid;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* p50 and p99 (ms) of the paced phase's latencies, every subscriber's. */
static void percentiles(double *p50, double *p99)
{
    size_t n = 0, cap = (size_t)sh->nsubs * PACED;
    uint32_t *v = bn_xmalloc(cap * sizeof *v);
    for (unsigned s = 0; s < sh->nsubs; s++)
        for (unsigned i = sh->total - PACED; i < sh->total; i++)
            if (sh->lat[(size_t)s * sh->total + i])
                v[n++] = sh->lat[(size_t)s * sh->total + i] - 1;
    if (n == 0)
        die("no latency recorded");
    qsort(v, n, sizeof *v, cmp_u32);
    *p50 = v[n / 2] / 1e4;
    *p99 = v[(n * 99) / 100] / 1e4;
    free(v);
}

typedef struct result {
    double msgs_per_s, p50, p99;
} result;

static result run(bool cluster, unsigned nsubs, unsigned msgs)
{
    size_t size = sizeof(shared) + (size_t)nsubs * (WARMUP + msgs + PACED) * sizeof(uint32_t);
    sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        die("mmap failed");
    sh->nsubs = nsubs;
    sh->total = WARMUP + msgs + PACED;
    pid_t b = 0, a;
    if (cluster) {
        b = spawn_node("bench-b", true, nsubs / 2, nsubs - nsubs / 2, THREADS, 0);
        a = spawn_node("bench-a", true, 0, nsubs / 2, 0, msgs);
    } else {
        a = spawn_node("bench-local", false, 0, nsubs, 0, msgs);
    }
    int status;
    if (waitpid(a, &status, 0) != a || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("node A failed");
    if (b && (waitpid(b, &status, 0) != b || !WIFEXITED(status) || WEXITSTATUS(status) != 0))
        die("node B failed");
    result r = {.msgs_per_s = msgs * 1e9 / (double)sh->flood_ns};
    percentiles(&r.p50, &r.p99);
    munmap(sh, size);
    sh = NULL;
    return r;
}

int main(int argc, char **argv)
{
    int nsubs = argc > 1 ? atoi(argv[1]) : 100, msgs = argc > 2 ? atoi(argv[2]) : 20000;
    if (nsubs < 2 || msgs <= 0)
        die("usage: pubsub_bench [N (>= 2) [M]]");
    setenv("BENNU_LOG_LEVEL", "warn", 0);
    bn_log_init_from_env();
    pid_t redis = getenv("REDIS_URL") && *getenv("REDIS_URL") ? 0 : start_redis();
    result local = run(false, (unsigned)nsubs, (unsigned)msgs);
    result cluster = run(true, (unsigned)nsubs, (unsigned)msgs);
    if (redis) {
        kill(redis, SIGTERM);
        waitpid(redis, NULL, 0);
    }
    printf("BENCH pubsub_cluster subs=%d msgs_per_s=%.0f deliveries_per_s=%.0f p50_ms=%.3f p99_ms=%.3f "
           "local_msgs_per_s=%.0f local_p50_ms=%.3f local_p99_ms=%.3f ratio=%.2f\n",
           nsubs, cluster.msgs_per_s, cluster.msgs_per_s * nsubs, cluster.p50, cluster.p99, local.msgs_per_s,
           local.p50, local.p99, cluster.msgs_per_s / local.msgs_per_s);
    return 0;
}
