/*
 * bench/presence_bench.c — BENCH presence_join: how fast a node tracks
 * presences, and how long another node of the cluster takes to hold them all
 * (bennu/pubsub.h, Presence over Redis); bench/run.sh's presence_join case,
 * readings in bench/RESULTS.md.
 *
 *   presence_bench [N]        (N: 10000; REDIS_URL: the Redis to use, else a
 *                              redis-server of its own on a free loopback port)
 *
 * Node A is a process with one in-process channel (bennu/testing.h) joined to
 * room:bench that tracks N keys, one bn_presence_track each ({"i": i}): each
 * is a presence_diff broadcast (to the channel itself, and published to
 * Redis) and an op of a replication delta. Nodes B and C are other processes
 * on the same Redis that poll bn_presence_list until it holds N keys. One
 * after the other:
 *
 *   local  A with the local adapter (nothing replicates): tracks/s
 *   live   B up first, then A tracks N: A's tracks/s (joins_per_s), B's lag
 *          behind A, from A's last track returning to B holding all N
 *          (converge_ms), and N over the time from A's first track to B
 *          holding all N (cluster_joins_per_s: joins that every node has)
 *   cold   C starts once A holds N: from C's bn_pubsub_start to C holding all
 *          N (the state transfer a node that joins the cluster goes through)
 *
 * Times are CLOCK_MONOTONIC, the same clock in every process of the machine.
 * B and C poll every millisecond, and a poll of 10,000 presences costs a few
 * ms itself: the convergence times are good to about that. Prints:
 *
 *   BENCH presence_join n=N joins_per_s=... cluster_joins_per_s=... local_joins_per_s=... converge_ms=...
 *         cold_converge_ms=...
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bennu.h>

#include "bench_util.h"

#define TOPIC "room:bench"
#define WAIT_S 120 /* any phase longer than this fails the run */

static void die(const char *what)
{
    fprintf(stderr, "presence_bench: %s\n", what);
    exit(1);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- node A: a channel that tracks N keys when asked ------------------------------ */

static void track_many(bn_channel *ch, const bn_channel_msg *m)
{
    int64_t n = 0;
    bn_value_to_int(bn_value_get(m->payload, "n"), &n);
    bn_arena *a = bn_channel_arena(ch);
    uint64_t t0 = bn_clock_ns();
    for (int64_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "user:%lld", (long long)i);
        bn_value *meta = bn_value_object(a);
        bn_value_set(a, meta, "i", bn_value_int(a, i));
        if (bn_presence_track(ch, key, meta) != 0)
            die("a track failed");
    }
    uint64_t t1 = bn_clock_ns();
    bn_value *r = bn_value_object(a);
    bn_value_set(a, r, "t0", bn_value_int(a, (int64_t)t0));
    bn_value_set(a, r, "t1", bn_value_int(a, (int64_t)t1));
    bn_channel_reply(ch, "ok", r);
}

static const bn_channel_def bench_channel = {.name = "BenchChannel", .handle_in = track_many};
static const bn_channel_route routes[] = {{TOPIC, &bench_channel}};
static const bn_socket_def bench_socket = {.name = "BenchSocket", .channels = routes, .nchannels = 1};

static void wait_connected(void)
{
    for (int i = 0; !bn_pubsub_connected(); i++) {
        if (i > WAIT_S * 200)
            die("no connection to Redis");
        sleep_ms(5);
    }
}

/* Tracks n keys; writes "t0 t1\n" (ns) to `out`, then waits for `in` to close. */
static void node_a(int n, bool redis, int out, int in)
{
    bn_pubsub_config cfg = {.node = redis ? "bench-a" : "bench-local", .redis_url = redis ? NULL : ""};
    if (bn_pubsub_start(&cfg) != 0)
        die("bn_pubsub_start failed");
    if (redis) {
        wait_connected();
        sleep_ms(500); /* the others hear our first heartbeat and know us */
    }
    bn_test_socket *ts = bn_test_socket_connect(&bench_socket, NULL);
    const char *joined = ts ? bn_test_join(ts, TOPIC, NULL, NULL) : NULL;
    if (!joined || strcmp(joined, "ok") != 0)
        die("node A could not join " TOPIC);
    char payload[32];
    snprintf(payload, sizeof payload, "{\"n\":%d}", n);
    const char *ref = bn_test_push(ts, TOPIC, "track", payload);
    const bn_test_msg *r = bn_test_assert_reply(ts, ref, "ok", WAIT_S * 1000);
    int64_t t0 = 0, t1 = 0;
    if (!r || !bn_value_to_int(bn_value_get(r->payload, "t0"), &t0) ||
        !bn_value_to_int(bn_value_get(r->payload, "t1"), &t1))
        die("node A: no reply to track");
    dprintf(out, "%lld %lld\n", (long long)t0, (long long)t1);
    close(out);
    char c;
    while (read(in, &c, 1) > 0) /* stay a node (its adapter thread answers state requests) until told */
        ;
    _exit(0);
}

/* ---- nodes B and C: wait until the list holds n keys ------------------------------- */

/* Writes "ready\n" once connected (if `ready` >= 0), then "start done\n" (ns) once it holds n keys. */
static void node_watch(const char *name, int n, int ready, int out)
{
    uint64_t start = bn_clock_ns();
    bn_pubsub_config cfg = {.node = name};
    if (bn_pubsub_start(&cfg) != 0)
        die("bn_pubsub_start failed");
    wait_connected();
    if (ready >= 0) {
        dprintf(ready, "ready\n");
        close(ready);
    }
    bn_arena a = BN_ARENA_INIT;
    uint64_t deadline = bn_clock_ms() + WAIT_S * 1000;
    while (bn_value_len(bn_presence_list(&a, TOPIC)) < (size_t)n) {
        bn_arena_reset(&a);
        if (bn_clock_ms() > deadline)
            die("a node never held every presence");
        sleep_ms(1);
    }
    dprintf(out, "%llu %llu\n", (unsigned long long)start, (unsigned long long)bn_clock_ns());
    _exit(0);
}

/* ---- the parent ------------------------------------------------------------------------- */

typedef struct child {
    pid_t pid;
    int from; /* what it writes */
    int to;   /* closing it tells node A to go */
} child;

static child spawn(void (*body)(child *c))
{
    int up[2], down[2];
    if (pipe(up) != 0 || pipe(down) != 0)
        die("pipe failed");
    child c = {.from = up[0], .to = down[1]};
    c.pid = fork();
    if (c.pid < 0)
        die("fork failed");
    if (c.pid == 0) {
        close(up[0]);
        close(down[1]);
        c.from = down[0]; /* the child's view: read from the parent here */
        c.to = up[1];     /* and write to it here */
        body(&c);
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    return c;
}

/* Reads one line from the child (blocking). */
static void read_line(child *c, char *buf, size_t size)
{
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t r = read(c->from, buf + len, 1);
        if (r <= 0)
            die("a node ended before reporting (see its messages above)");
        if (buf[len] == '\n')
            break;
        len++;
    }
    buf[len] = '\0';
}

static void finish(child *c)
{
    close(c->from);
    close(c->to);
    int status;
    waitpid(c->pid, &status, 0);
}

static int n_keys;

static void run_local(child *c) { node_a(n_keys, false, c->to, c->from); }
static void run_a(child *c) { node_a(n_keys, true, c->to, c->from); }
/* B reports "ready" and its result on the same pipe. */
static void run_b(child *c) { node_watch("bench-b", n_keys, dup(c->to), c->to); }
static void run_c(child *c) { node_watch("bench-c", n_keys, -1, c->to); }

/* A redis-server of our own on a free loopback port; sets REDIS_URL. */
static pid_t start_redis(void)
{
    const char *why = NULL;
    pid_t pid = bench_start_redis(&why);
    if (pid < 0)
        die(why);
    return pid;
}

static double per_s(int n, long long ns) { return ns > 0 ? n * 1e9 / (double)ns : 0; }

int main(int argc, char **argv)
{
    n_keys = argc > 1 ? atoi(argv[1]) : 10000;
    if (n_keys <= 0)
        die("usage: presence_bench [N]");
    setenv("BENNU_LOG_LEVEL", "warn", 0);
    bn_log_init_from_env();
    pid_t redis = getenv("REDIS_URL") && *getenv("REDIS_URL") ? 0 : start_redis();
    char line[128];
    long long t0, t1, start, done;

    child local = spawn(run_local);
    read_line(&local, line, sizeof line);
    sscanf(line, "%lld %lld", &t0, &t1);
    double local_rate = per_s(n_keys, t1 - t0);
    finish(&local);

    child b = spawn(run_b);
    read_line(&b, line, sizeof line); /* ready */
    child a = spawn(run_a);
    read_line(&a, line, sizeof line);
    sscanf(line, "%lld %lld", &t0, &t1);
    read_line(&b, line, sizeof line);
    sscanf(line, "%lld %lld", &start, &done);
    double rate = per_s(n_keys, t1 - t0), lag_ms = (double)(done - t1) / 1e6, cluster_rate = per_s(n_keys, done - t0);
    finish(&b);

    child c = spawn(run_c);
    read_line(&c, line, sizeof line);
    sscanf(line, "%lld %lld", &start, &done);
    double cold_ms = (double)(done - start) / 1e6;
    finish(&c);
    finish(&a);

    if (redis) {
        kill(redis, SIGTERM);
        waitpid(redis, NULL, 0);
    }
    printf("BENCH presence_join n=%d joins_per_s=%.0f cluster_joins_per_s=%.0f local_joins_per_s=%.0f converge_ms=%.1f "
           "cold_converge_ms=%.1f\n",
           n_keys, rate, cluster_rate, local_rate, lag_ms, cold_ms);
    return 0;
}
