/*
 * bench/chanload.c — load for a Phoenix channel server over WebSocket (V2 JSON),
 * for bench/run.sh's ws_* cases: bench/chan_server.c (Bennu) and its peer
 * bench/ws_peer.mjs (npm `ws`); runs and readings in bench/RESULTS.md.
 *
 *   chanload --port P [--server-pid PID] [-n N] [--procs K] [--rounds R] [--topic room:bench]
 *
 * The parent forks K workers (default: enough that none holds more than
 * 15,000 connections); worker i binds its sockets to 127.0.0.(2+i) so that
 * each has its own ephemeral ports, and talks to the parent over two pipes.
 * Phases, one after the other, all N connections held open throughout:
 *
 *   join     every worker opens its share (at most --inflight handshakes at a
 *            time), GET PATH?vsn=2.0.0 with the upgrade headers, then
 *            ["1","1",TOPIC,"phx_join",{}] and waits for its ok reply.
 *            -> BENCH ws_join n=N joins_per_s=...   (N / time until the last ok)
 *   idle     after --hold-ms of silence, the server's VmRSS (/proc/PID/status)
 *            against the one read before the first connect.
 *            -> BENCH ws_idle_mem n=N bytes_per_conn=...   ((after - before) / N)
 *   fan-out  connection 0 of worker 0 pushes "new_msg" with {"r":round,"t":now}
 *            (CLOCK_MONOTONIC in ns: the same clock in every process of the
 *            machine); every receiver computes now - t on arrival, each worker
 *            reports its slowest once all of its connections have the round,
 *            and the round's latency is the slowest of all: the time until the
 *            last of the N subscribers has the broadcast. --warmup-rounds are
 *            not counted; --gap-ms of quiet between rounds.
 *            -> BENCH ws_fanout n=N rounds=R p50_ms=... p99_ms=... max_ms=... first_p50_ms=...
 *                   server_cpu_ms=... client_cpu_ms=...   (CPU per broadcast: the
 *                   server's, from /proc/PID/stat, and chanload's workers')
 *   rtt      --rtt-clients connections (spread over the workers) push "ping"
 *            with a unique ref at --rtt-rate messages/s in all, for --rtt-secs;
 *            each phx_reply's time since its push.
 *            -> BENCH ws_rtt n=N rate=... clients=... samples=... p50_ms=... p99_ms=...
 *
 * The server must accept joins of TOPIC, broadcast "new_msg" pushes to the
 * topic (the sender included) and reply ok to "ping". Any failure (a refused
 * connect or join, a closed connection, a missing broadcast or reply, a phase
 * over --timeout-s) ends the run with a message and exit status 1.
 * Client frames are masked (RFC 6455) with random keys; the server's frames
 * are parsed with Bennu's own frame parser (src/socket/ws_frame.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "socket/ws_frame.h"

#define MAX_PER_PROC 15000
#define MAX_PROCS 250 /* source addresses 127.0.0.2 .. 127.0.0.251 */
#define READ_CHUNK 65536
#define MAX_EVENTS 1024
#define MAX_FRAME (1u << 20)
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define FANOUT_BODY "the quick brown fox jumps over the lazy dog"
#define TAG_CMD UINT64_MAX
#define TAG_TIMER (UINT64_MAX - 1)

typedef struct options {
    const char *host;
    int port;
    const char *path;
    const char *topic;
    long server_pid;
    int n, procs, inflight;
    int rounds, warmup_rounds, gap_ms;
    int hold_ms;
    int rtt_rate, rtt_secs, rtt_clients;
    int timeout_s;
} options;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void note(const char *fmt, ...) BN_PRINTF(1, 2);
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# chanload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- parent <-> worker messages (one write each: atomic on a pipe) ------------------- */

enum {
    CMD_CONNECT = 1, /* a: timeout ms */
    CMD_FANOUT,      /* a: round, b: timeout ms */
    CMD_RTT,         /* a: interval ns between pings, b: duration ms, c: clients of this worker */
    CMD_QUIT,
    REP_JOINED, /* a: joined, b: time of the last ok (ns), c: failed; text: first error */
    REP_ROUND,  /* a: round, b: connections that got it, c: slowest latency, d: fastest (ns) */
    REP_RTT,    /* a: pings sent, b: replies (then b int64 latencies in ns follow) */
    REP_FAIL,   /* text */
};

typedef struct msg {
    int32_t kind;
    int32_t worker;
    int64_t a, b, c, d;
    char text[200];
} msg;

static bool write_full(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        s += k;
        n -= (size_t)k;
    }
    return true;
}

/* Reads exactly n bytes, waiting at most timeout_ms for each piece. */
static bool read_full(int fd, void *p, size_t n, int timeout_ms)
{
    char *d = p;
    while (n > 0) {
        struct pollfd pf = {fd, POLLIN, 0};
        int r = poll(&pf, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        ssize_t k = read(fd, d, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        d += k;
        n -= (size_t)k;
    }
    return true;
}

/* ---- worker: connections ------------------------------------------------------------- */

typedef enum { C_NEW, C_CONNECTING, C_HANDSHAKE, C_JOINING, C_JOINED, C_DEAD } conn_state;

typedef struct conn {
    int fd;
    conn_state state;
    bool out_armed; /* EPOLLOUT asked for: `out` has unsent bytes */
    bn_buf in;      /* the tail of a frame that has not fully arrived */
    bn_buf out;
} conn;

typedef struct worker {
    const options *opt;
    int id, n, epfd, cmdfd, repfd, timerfd;
    conn *conns;
    uint64_t rng;
    bn_buf frame; /* one outgoing frame being built */
    uint8_t *rbuf;
    struct sockaddr_in src, dst;
    char request[512];
    size_t request_len;
    char accept[29];
    bool quit;
    /* join phase */
    bool connecting;
    int next, inflight, joined, failed;
    int64_t connect_deadline, t_joined;
    char error[200];
    /* fan-out: the round being received */
    int64_t round, round_max, round_min, round_deadline;
    int round_count;
    bool round_open;
    /* rtt */
    bool rtt_on, rtt_sending;
    int rtt_clients, rtt_next;
    int64_t rtt_end, rtt_grace;
    size_t rtt_cap, rtt_sent, rtt_recv;
    int64_t *rtt_sent_at; /* by ping sequence; 0 once answered */
    int64_t *rtt_samples;
} worker;

static void report(worker *w, msg *m)
{
    m->worker = w->id;
    if (!write_full(w->repfd, m, sizeof *m))
        _exit(1); /* the parent is gone */
}

static _Noreturn void worker_fail(worker *w, const char *fmt, ...) BN_PRINTF(2, 3);
static _Noreturn void worker_fail(worker *w, const char *fmt, ...)
{
    msg m = {.kind = REP_FAIL};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m.text, sizeof m.text, fmt, ap);
    va_end(ap);
    report(w, &m);
    _exit(1);
}

static uint32_t rng_next(worker *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return (uint32_t)(w->rng >> 16);
}

static void epoll_set(worker *w, int op, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    if (epoll_ctl(w->epfd, op, fd, &ev) < 0)
        worker_fail(w, "epoll_ctl: %s", strerror(errno));
}

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = C_DEAD;
    bn_buf_free(&c->in);
    bn_buf_free(&c->out);
}

/* A connection went wrong: while joining it counts as a failed join (the
 * parent stops the run); once joined the measurement is void. */
static void conn_broken(worker *w, conn *c, const char *fmt, ...) BN_PRINTF(3, 4);
static void conn_broken(worker *w, conn *c, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (c->state == C_JOINED)
        worker_fail(w, "worker %d, connection %td: %s", w->id, c - w->conns, why);
    if (!w->error[0])
        snprintf(w->error, sizeof w->error, "connection %td: %s", c - w->conns, why);
    if (c->state != C_DEAD && c->state != C_NEW) {
        w->failed++;
        w->inflight--;
    }
    conn_close(c);
}

static void conn_send(worker *w, conn *c, const char *data, size_t len)
{
    if (c->out.len == 0) {
        ssize_t k = send(c->fd, data, len, MSG_NOSIGNAL);
        if (k < 0 && errno != EAGAIN && errno != EINTR) {
            conn_broken(w, c, "send: %s", strerror(errno));
            return;
        }
        if (k < 0)
            k = 0;
        data += k;
        len -= (size_t)k;
        if (len == 0)
            return;
    }
    bn_buf_append(&c->out, data, len);
    if (!c->out_armed) {
        epoll_set(w, EPOLL_CTL_MOD, c->fd, EPOLLIN | EPOLLOUT, (uint64_t)(c - w->conns));
        c->out_armed = true;
    }
}

static void conn_flush(worker *w, conn *c)
{
    while (c->out.len > 0) {
        ssize_t k = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (k < 0) {
            conn_broken(w, c, "send: %s", strerror(errno));
            return;
        }
        bn_buf_consume(&c->out, (size_t)k);
    }
    bn_buf_free(&c->out);
    epoll_set(w, EPOLL_CTL_MOD, c->fd, EPOLLIN, (uint64_t)(c - w->conns));
    c->out_armed = false;
}

/* One masked frame, as a client must send it. */
static void send_frame(worker *w, conn *c, bn_ws_opcode op, const char *payload, size_t len)
{
    uint32_t k = rng_next(w);
    uint8_t mask[4] = {(uint8_t)k, (uint8_t)(k >> 8), (uint8_t)(k >> 16), (uint8_t)(k >> 24)};
    w->frame.len = 0;
    bn_ws_write_frame(&w->frame, op, bn_str_make(payload, len), mask);
    conn_send(w, c, w->frame.data, w->frame.len);
}

static void send_text(worker *w, conn *c, const char *fmt, ...) BN_PRINTF(3, 4);
static void send_text(worker *w, conn *c, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof text)
        worker_fail(w, "message too long");
    send_frame(w, c, BN_WS_TEXT, text, (size_t)n);
}

static void conn_start(worker *w, int i)
{
    conn *c = &w->conns[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        worker_fail(w, "socket: %s (open files: raise the limit)", strerror(errno));
    int one = 1;
    /* The port is chosen at connect, per destination: each source address has its own range. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)&w->src, sizeof w->src) < 0)
        worker_fail(w, "bind to %s: %s", inet_ntoa(w->src.sin_addr), strerror(errno));
    c->fd = fd;
    c->state = C_CONNECTING;
    w->inflight++;
    if (connect(fd, (const struct sockaddr *)&w->dst, sizeof w->dst) < 0 && errno != EINPROGRESS) {
        conn_broken(w, c, "connect: %s", strerror(errno));
        return;
    }
    epoll_set(w, EPOLL_CTL_ADD, fd, EPOLLOUT, (uint64_t)i);
}

static void conn_connected(worker *w, conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        conn_broken(w, c, "connect: %s", strerror(err));
        return;
    }
    c->state = C_HANDSHAKE;
    epoll_set(w, EPOLL_CTL_MOD, c->fd, EPOLLIN, (uint64_t)(c - w->conns));
    conn_send(w, c, w->request, w->request_len);
}

/* ---- worker: what the server sends ----------------------------------------------------- */

static bool str_is(bn_str s, const char *lit) { return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0; }

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* One element of the V2 array: a JSON string (escapes kept) or null (.ptr NULL). */
static const char *v2_elem(const char *p, const char *end, bn_str *out)
{
    p = skip_ws(p, end);
    if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
        *out = (bn_str){NULL, 0};
        return p + 4;
    }
    if (p >= end || *p != '"')
        return NULL;
    const char *s = ++p;
    while (p < end && *p != '"')
        p += *p == '\\' ? 2 : 1;
    if (p >= end)
        return NULL;
    *out = bn_str_make(s, (size_t)(p - s));
    return p + 1;
}

typedef struct v2msg {
    bn_str join_ref, ref, topic, event, payload;
} v2msg;

/* [join_ref, ref, topic, event, payload]: the payload is the rest, up to the final ']'. */
static bool v2_parse(bn_str text, v2msg *m)
{
    const char *p = text.ptr, *end = text.ptr + text.len;
    bn_str *fields[] = {&m->join_ref, &m->ref, &m->topic, &m->event};
    p = skip_ws(p, end);
    if (p >= end || *p++ != '[')
        return false;
    for (size_t i = 0; i < 4; i++) {
        if (!(p = v2_elem(p, end, fields[i])))
            return false;
        p = skip_ws(p, end);
        if (p >= end || *p++ != ',')
            return false;
    }
    while (end > p && end[-1] != ']')
        end--;
    if (end == p)
        return false;
    m->payload = bn_str_make(p, (size_t)(end - 1 - p));
    return true;
}

/* The integer after "key": in a flat JSON object (our own payloads). */
static bool json_int(bn_str obj, const char *key, int64_t *v)
{
    char pat[32];
    int n = snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *end = obj.ptr + obj.len;
    const char *p = memmem(obj.ptr, obj.len, pat, (size_t)n);
    if (!p)
        return false;
    p = skip_ws(p + n, end);
    if (p >= end || *p++ != ':')
        return false;
    p = skip_ws(p, end);
    char *stop;
    char num[24];
    size_t len = (size_t)(end - p) < sizeof num - 1 ? (size_t)(end - p) : sizeof num - 1;
    memcpy(num, p, len);
    num[len] = 0;
    long long x = strtoll(num, &stop, 10);
    if (stop == num)
        return false;
    *v = x;
    return true;
}

static int64_t ref_number(bn_str ref)
{
    int64_t v = 0;
    if (!ref.ptr || ref.len == 0 || ref.len > 18)
        return -1;
    for (size_t i = 0; i < ref.len; i++) {
        if (ref.ptr[i] < '0' || ref.ptr[i] > '9')
            return -1;
        v = v * 10 + (ref.ptr[i] - '0');
    }
    return v;
}

static void connect_done_check(worker *w)
{
    if (!w->connecting || w->joined + w->failed < w->n)
        return;
    w->connecting = false;
    msg m = {.kind = REP_JOINED, .a = w->joined, .b = w->t_joined, .c = w->failed};
    snprintf(m.text, sizeof m.text, "%s", w->error);
    report(w, &m);
}

static void round_reset(worker *w, int64_t round, int64_t deadline)
{
    w->round = round;
    w->round_count = 0;
    w->round_max = 0;
    w->round_min = INT64_MAX;
    w->round_deadline = deadline;
    w->round_open = true;
}

static void round_report(worker *w)
{
    msg m = {.kind = REP_ROUND, .a = w->round, .b = w->round_count, .c = w->round_max, .d = w->round_min};
    w->round_open = false;
    report(w, &m);
}

static void on_broadcast(worker *w, bn_str payload, int64_t t)
{
    int64_t round, sent;
    if (!json_int(payload, "r", &round) || !json_int(payload, "t", &sent))
        worker_fail(w, "a new_msg without r and t: %.*s", (int)(payload.len > 100 ? 100 : payload.len), payload.ptr);
    if (round < w->round || (round == w->round && !w->round_open))
        return; /* late, from a round already reported */
    if (round > w->round)
        round_reset(w, round, t + (int64_t)w->opt->timeout_s * 1000000000);
    w->round_count++;
    if (t - sent > w->round_max)
        w->round_max = t - sent;
    if (t - sent < w->round_min)
        w->round_min = t - sent;
    if (w->round_count == w->n)
        round_report(w);
}

static void on_reply(worker *w, conn *c, const v2msg *m, int64_t t)
{
    bool ok = memmem(m->payload.ptr, m->payload.len, "\"status\":\"ok\"", 13) != NULL;
    if (c->state == C_JOINING && str_is(m->ref, "1")) {
        if (!ok) {
            conn_broken(w, c, "join refused: %.*s", (int)(m->payload.len > 100 ? 100 : m->payload.len),
                        m->payload.ptr);
            return;
        }
        c->state = C_JOINED;
        w->joined++;
        w->inflight--;
        w->t_joined = t;
        connect_done_check(w);
        return;
    }
    int64_t seq = ref_number(m->ref) - 2; /* pings carry refs from "2" */
    if (seq < 0 || (size_t)seq >= w->rtt_cap || !w->rtt_sent_at[seq])
        return;
    if (!ok)
        worker_fail(w, "ping refused: %.*s", (int)(m->payload.len > 100 ? 100 : m->payload.len), m->payload.ptr);
    w->rtt_samples[w->rtt_recv++] = t - w->rtt_sent_at[seq];
    w->rtt_sent_at[seq] = 0;
}

static void on_text(worker *w, conn *c, bn_str text, int64_t t)
{
    v2msg m;
    if (!v2_parse(text, &m)) {
        conn_broken(w, c, "not a V2 message: %.*s", (int)(text.len > 100 ? 100 : text.len), text.ptr);
        return;
    }
    if (str_is(m.event, "new_msg"))
        on_broadcast(w, m.payload, t);
    else if (str_is(m.event, "phx_reply"))
        on_reply(w, c, &m, t);
    else if (str_is(m.event, "phx_error") || str_is(m.event, "phx_close"))
        conn_broken(w, c, "the server sent %.*s", (int)text.len, text.ptr);
}

static void on_frame(worker *w, conn *c, const bn_ws_frame *f, int64_t t)
{
    switch (f->opcode) {
    case BN_WS_TEXT:
        if (!f->fin)
            conn_broken(w, c, "a fragmented text message");
        else
            on_text(w, c, f->payload, t);
        break;
    case BN_WS_PING:
        send_frame(w, c, BN_WS_PONG, f->payload.ptr, f->payload.len);
        break;
    case BN_WS_PONG:
        break;
    case BN_WS_CLOSE:
        conn_broken(w, c, "the server sent a close frame");
        break;
    default:
        conn_broken(w, c, "an unexpected frame (opcode %d)", (int)f->opcode);
    }
}

/* The 101 response: its length up to the blank line, 0 while incomplete, -1 if refused. */
static long handshake(worker *w, conn *c, const char *p, size_t n)
{
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end) {
        if (n > 16384)
            conn_broken(w, c, "a handshake response without end");
        return n > 16384 ? -1 : 0;
    }
    size_t head = (size_t)(end - p) + 4;
    bool ok = head > 12 && memcmp(p, "HTTP/1.1 101", 12) == 0;
    if (ok) {
        /* Header names are case-insensitive: find the name in a lower-cased copy. */
        char lower[4096];
        size_t m = head < sizeof lower ? head : sizeof lower;
        for (size_t i = 0; i < m; i++)
            lower[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] + 32) : p[i];
        const char *h = memmem(lower, m, "\r\nsec-websocket-accept:", 23);
        const char *v = h ? skip_ws(p + (h - lower) + 23, p + head) : NULL;
        ok = v && (size_t)(p + head - v) >= 28 && memcmp(v, w->accept, 28) == 0;
    }
    if (!ok) {
        const char *eol = memchr(p, '\r', head);
        conn_broken(w, c, "handshake refused: %.*s", (int)(eol ? eol - p : 80), p);
        return -1;
    }
    return (long)head;
}

/* Handles what arrived (the handshake response, then frames); returns the bytes used. */
static size_t conn_process(worker *w, conn *c, uint8_t *p, size_t n, int64_t t)
{
    size_t off = 0;
    if (c->state == C_HANDSHAKE) {
        long head = handshake(w, c, (const char *)p, n);
        if (head <= 0)
            return 0;
        c->state = C_JOINING;
        send_text(w, c, "[\"1\",\"1\",\"%s\",\"phx_join\",{}]", w->opt->topic);
        off = (size_t)head;
    }
    while (off < n && c->state != C_DEAD) {
        bn_ws_frame f;
        size_t used;
        int code;
        bn_ws_parse_result r = bn_ws_parse(p + off, n - off, false, false, MAX_FRAME, &f, &used, &code);
        if (r == BN_WS_NEED_MORE)
            break;
        if (r == BN_WS_ERROR) {
            conn_broken(w, c, "a bad frame from the server (close code %d)", code);
            break;
        }
        off += used;
        on_frame(w, c, &f, t);
    }
    return off;
}

static void conn_consume(worker *w, conn *c, uint8_t *data, size_t len, int64_t t)
{
    if (c->in.len == 0) {
        size_t used = conn_process(w, c, data, len, t);
        if (c->state != C_DEAD && used < len)
            bn_buf_append(&c->in, data + used, len - used);
        return;
    }
    bn_buf_append(&c->in, data, len);
    size_t used = conn_process(w, c, (uint8_t *)c->in.data, c->in.len, t);
    if (c->state == C_DEAD)
        return;
    bn_buf_consume(&c->in, used);
    if (c->in.len == 0)
        bn_buf_free(&c->in); /* an idle connection keeps no buffer */
}

static void conn_readable(worker *w, conn *c, int64_t t)
{
    for (int k = 0; k < 16 && c->state != C_DEAD; k++) {
        ssize_t got = recv(c->fd, w->rbuf, READ_CHUNK, 0);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (got < 0) {
            conn_broken(w, c, "recv: %s", strerror(errno));
            return;
        }
        if (got == 0) {
            conn_broken(w, c, "the server closed the connection");
            return;
        }
        conn_consume(w, c, w->rbuf, (size_t)got, t);
        if (got < READ_CHUNK)
            return;
    }
}

static void conn_event(worker *w, int i, uint32_t events)
{
    conn *c = &w->conns[i];
    if (c->state == C_DEAD || c->state == C_NEW)
        return;
    if (c->state == C_CONNECTING) {
        conn_connected(w, c);
        return;
    }
    if (events & EPOLLOUT)
        conn_flush(w, c);
    if (c->state != C_DEAD && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        conn_readable(w, c, now_ns());
}

/* ---- worker: phases -------------------------------------------------------------------- */

static void start_connects(worker *w)
{
    while (w->connecting && w->next < w->n && w->inflight < w->opt->inflight)
        conn_start(w, w->next++);
    connect_done_check(w);
}

static void send_fanout(worker *w, int64_t round)
{
    conn *c = &w->conns[0];
    send_text(w, c, "[\"1\",\"f%" PRId64 "\",\"%s\",\"new_msg\",{\"body\":\"" FANOUT_BODY "\",\"r\":%" PRId64
              ",\"t\":%" PRId64 "}]", round, w->opt->topic, round, now_ns());
}

static void rtt_start(worker *w, const msg *m)
{
    int64_t interval = m->a, duration_ms = m->b;
    w->rtt_clients = (int)(m->c < w->n ? m->c : w->n);
    if (w->rtt_clients == 0) { /* not a sender: report nothing at once */
        w->rtt_on = true;
        w->rtt_sending = false;
        w->rtt_sent = w->rtt_recv = 0;
        return;
    }
    w->rtt_cap = (size_t)(duration_ms * 1000000 / interval) + 16;
    w->rtt_sent_at = bn_xcalloc(w->rtt_cap, sizeof *w->rtt_sent_at);
    w->rtt_samples = bn_xcalloc(w->rtt_cap, sizeof *w->rtt_samples);
    w->rtt_sent = w->rtt_recv = 0;
    w->rtt_next = 0;
    w->rtt_on = w->rtt_sending = true;
    w->rtt_end = now_ns() + duration_ms * 1000000;
    struct itimerspec its = {{interval / 1000000000, interval % 1000000000}, {0, 1}};
    if (timerfd_settime(w->timerfd, 0, &its, NULL) < 0)
        worker_fail(w, "timerfd_settime: %s", strerror(errno));
}

static void rtt_stop_sending(worker *w)
{
    struct itimerspec off = {{0, 0}, {0, 0}};
    timerfd_settime(w->timerfd, 0, &off, NULL);
    w->rtt_sending = false;
    w->rtt_grace = now_ns() + (int64_t)w->opt->timeout_s * 1000000000;
}

static void rtt_tick(worker *w)
{
    uint64_t ticks = 0;
    if (read(w->timerfd, &ticks, sizeof ticks) != sizeof ticks || !w->rtt_sending)
        return;
    for (uint64_t k = 0; k < ticks && k < 1000; k++) {
        int64_t t = now_ns();
        if (t >= w->rtt_end || w->rtt_sent >= w->rtt_cap) {
            rtt_stop_sending(w);
            return;
        }
        size_t seq = w->rtt_sent++;
        conn *c = &w->conns[w->rtt_next++ % w->rtt_clients];
        w->rtt_sent_at[seq] = t;
        send_text(w, c, "[\"1\",\"%zu\",\"%s\",\"ping\",{\"body\":\"ping\",\"t\":%" PRId64 "}]", seq + 2,
                  w->opt->topic, t);
    }
}

static void rtt_report(worker *w)
{
    msg m = {.kind = REP_RTT, .a = (int64_t)w->rtt_sent, .b = (int64_t)w->rtt_recv};
    report(w, &m);
    if (!write_full(w->repfd, w->rtt_samples, w->rtt_recv * sizeof *w->rtt_samples))
        _exit(1);
    free(w->rtt_sent_at);
    free(w->rtt_samples);
    w->rtt_sent_at = w->rtt_samples = NULL;
    w->rtt_cap = 0;
    w->rtt_on = false;
}

static void on_command(worker *w)
{
    msg m;
    if (!read_full(w->cmdfd, &m, sizeof m, 1000))
        _exit(1); /* the parent is gone */
    switch (m.kind) {
    case CMD_CONNECT:
        w->connecting = true;
        w->connect_deadline = now_ns() + m.a * 1000000;
        start_connects(w);
        break;
    case CMD_FANOUT:
        if (m.a > w->round)
            round_reset(w, m.a, now_ns() + m.b * 1000000);
        if (w->id == 0)
            send_fanout(w, m.a);
        break;
    case CMD_RTT:
        rtt_start(w, &m);
        break;
    default:
        w->quit = true;
    }
}

static void check_deadlines(worker *w, int64_t t)
{
    if (w->connecting && t > w->connect_deadline) {
        if (!w->error[0])
            snprintf(w->error, sizeof w->error, "%d connections still not joined after the timeout",
                     w->n - w->joined - w->failed);
        w->failed = w->n - w->joined;
        connect_done_check(w);
    }
    if (w->round_open && t > w->round_deadline)
        round_report(w); /* short: the parent stops the run */
    if (w->rtt_on && w->rtt_sending && t >= w->rtt_end)
        rtt_stop_sending(w);
    if (w->rtt_on && !w->rtt_sending && (w->rtt_recv == w->rtt_sent || t > w->rtt_grace))
        rtt_report(w);
}

static void worker_init(worker *w, const options *o, int id, int n, int cmdfd, int repfd)
{
    *w = (worker){.opt = o, .id = id, .n = n, .cmdfd = cmdfd, .repfd = repfd, .round = -1};
    w->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)getpid() << 20) ^ (uint64_t)now_ns();
    w->conns = bn_xcalloc((size_t)n, sizeof *w->conns);
    for (int i = 0; i < n; i++)
        w->conns[i].fd = -1;
    w->rbuf = bn_xmalloc(READ_CHUNK);
    w->src = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)id)};
    w->dst = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->host, &w->dst.sin_addr) != 1)
        worker_fail(w, "--host %s is not an IPv4 address", o->host);
    int len = snprintf(w->request, sizeof w->request,
                       "GET %s?vsn=2.0.0 HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
                       o->path, o->host, o->port);
    if (len < 0 || (size_t)len >= sizeof w->request)
        worker_fail(w, "--path too long");
    w->request_len = (size_t)len;
    bn_ws_accept_key(BN_STR(WS_KEY), w->accept);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (w->epfd < 0 || w->timerfd < 0)
        worker_fail(w, "epoll/timerfd: %s", strerror(errno));
    epoll_set(w, EPOLL_CTL_ADD, cmdfd, EPOLLIN, TAG_CMD);
    epoll_set(w, EPOLL_CTL_ADD, w->timerfd, EPOLLIN, TAG_TIMER);
}

static _Noreturn void worker_main(const options *o, int id, int n, int cmdfd, int repfd)
{
    worker w;
    worker_init(&w, o, id, n, cmdfd, repfd);
    struct epoll_event evs[MAX_EVENTS];
    while (!w.quit) {
        int k = epoll_wait(w.epfd, evs, MAX_EVENTS, 50);
        if (k < 0 && errno != EINTR)
            worker_fail(&w, "epoll_wait: %s", strerror(errno));
        for (int e = 0; e < k && !w.quit; e++) {
            if (evs[e].data.u64 == TAG_CMD)
                on_command(&w);
            else if (evs[e].data.u64 == TAG_TIMER)
                rtt_tick(&w);
            else
                conn_event(&w, (int)evs[e].data.u64, evs[e].events);
        }
        check_deadlines(&w, now_ns());
        if (w.connecting)
            start_connects(&w);
    }
    for (int i = 0; i < n; i++)
        conn_close(&w.conns[i]);
    _exit(0);
}

/* ---- parent ---------------------------------------------------------------------------- */

typedef struct parent {
    const options *opt;
    int k;
    pid_t pid[MAX_PROCS];
    int cmd[MAX_PROCS], rep[MAX_PROCS];
    int share[MAX_PROCS];
} parent;

static parent P;

static _Noreturn void die(const char *fmt, ...) BN_PRINTF(1, 2);
static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("chanload: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    for (int i = 0; i < P.k; i++)
        if (P.pid[i] > 0)
            kill(P.pid[i], SIGKILL);
    for (int i = 0; i < P.k; i++)
        if (P.pid[i] > 0)
            waitpid(P.pid[i], NULL, 0);
    exit(1);
}

/* A worker stopped taking commands: its last report says why, if it sent one. */
static _Noreturn void worker_gone(int worker)
{
    msg m;
    while (read_full(P.rep[worker], &m, sizeof m, 100))
        if (m.kind == REP_FAIL)
            die("%s", m.text);
    die("worker %d is gone", worker);
}

static void command(int worker, int kind, int64_t a, int64_t b, int64_t c)
{
    msg m = {.kind = kind, .worker = worker, .a = a, .b = b, .c = c};
    if (!write_full(P.cmd[worker], &m, sizeof m))
        worker_gone(worker);
}

/* Waits for one report of `kind` from each worker (into out[]); a failure or a
 * silence longer than timeout_ms stops the run. REP_RTT's samples go to *samples. */
static void gather(int kind, msg *out, int timeout_ms, int64_t **samples, size_t *nsamples)
{
    bool got[MAX_PROCS] = {0};
    int left = P.k;
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    while (left > 0) {
        struct pollfd pf[MAX_PROCS];
        for (int i = 0; i < P.k; i++)
            pf[i] = (struct pollfd){got[i] ? -1 : P.rep[i], POLLIN, 0};
        int wait = (int)((deadline - now_ns()) / 1000000);
        if (wait <= 0)
            die("no report from %d worker(s) within %d ms", left, timeout_ms);
        int r = poll(pf, (nfds_t)P.k, wait);
        if (r < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        for (int i = 0; i < P.k && r > 0; i++) {
            if (!pf[i].revents)
                continue;
            msg m;
            if (!read_full(P.rep[i], &m, sizeof m, 1000))
                worker_gone(i);
            if (m.kind == REP_FAIL)
                die("%s", m.text);
            if (m.kind != kind)
                die("worker %d: unexpected report %d (waiting for %d)", i, m.kind, kind);
            if (kind == REP_RTT && m.b > 0) {
                *samples = bn_xrealloc(*samples, (*nsamples + (size_t)m.b) * sizeof **samples);
                if (!read_full(P.rep[i], *samples + *nsamples, (size_t)m.b * sizeof **samples, 5000))
                    die("worker %d: short rtt samples", i);
                *nsamples += (size_t)m.b;
            }
            out[i] = m;
            got[i] = true;
            left--;
        }
    }
}

/* The server's resident memory: one reading of /proc. */
static long read_rss_kib(long pid)
{
    long kib = rss_kib(pid);
    if (kib < 0)
        die("cannot read VmRSS of process %ld (--server-pid)", pid);
    return kib;
}

static void spawn_workers(const options *o)
{
    P.opt = o;
    P.k = o->procs;
    for (int i = 0; i < P.k; i++) {
        P.share[i] = o->n / P.k + (i < o->n % P.k);
        int cmd[2], rep[2];
        if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0)
            die("pipe: %s", strerror(errno));
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0) {
            close(cmd[1]);
            close(rep[0]);
            for (int j = 0; j < i; j++) {
                close(P.cmd[j]);
                close(P.rep[j]);
            }
            P.k = 0; /* a worker's die() must not kill its siblings */
            worker_main(o, i, P.share[i], cmd[0], rep[1]);
        }
        close(cmd[0]);
        close(rep[1]);
        P.pid[i] = pid;
        P.cmd[i] = cmd[1];
        P.rep[i] = rep[0];
    }
}

static void phase_join(const options *o)
{
    msg rep[MAX_PROCS];
    int64_t t0 = now_ns();
    for (int i = 0; i < P.k; i++)
        command(i, CMD_CONNECT, (int64_t)o->timeout_s * 1000, 0, 0);
    gather(REP_JOINED, rep, o->timeout_s * 1000 + 5000, NULL, NULL);
    int64_t last = t0;
    for (int i = 0; i < P.k; i++) {
        if (rep[i].c > 0)
            die("worker %d (127.0.0.%d): %" PRId64 " of %d joins failed; first: %s", i, 2 + i, rep[i].c,
                P.share[i], rep[i].text);
        if (rep[i].b > last)
            last = rep[i].b;
    }
    double secs = (double)(last - t0) / 1e9;
    printf("BENCH ws_join n=%d procs=%d joins_per_s=%.0f secs=%.3f\n", o->n, P.k, secs > 0 ? o->n / secs : 0, secs);
    fflush(stdout);
}

static void phase_idle(const options *o, long rss0)
{
    sleep_ms(o->hold_ms);
    if (!o->server_pid)
        return;
    long rss1 = read_rss_kib(o->server_pid);
    double per = (double)(rss1 - rss0) * 1024.0 / o->n;
    printf("BENCH ws_idle_mem n=%d bytes_per_conn=%.0f rss_before_kib=%ld rss_after_kib=%ld hold_ms=%d\n", o->n, per,
           rss0, rss1, o->hold_ms);
    fflush(stdout);
}

/* One broadcast: the latency of its last receiver (*first: of its first one). */
static int64_t fanout_round(const options *o, int64_t round, int64_t *first)
{
    msg rep[MAX_PROCS];
    for (int i = 0; i < P.k; i++)
        command(i, CMD_FANOUT, round, (int64_t)o->timeout_s * 1000, 0);
    gather(REP_ROUND, rep, o->timeout_s * 1000 + 5000, NULL, NULL);
    int64_t worst = 0;
    *first = INT64_MAX;
    for (int i = 0; i < P.k; i++) {
        if (rep[i].a != round || rep[i].b != P.share[i])
            die("round %" PRId64 ": worker %d got the broadcast on %" PRId64 " of its %d connections", round, i,
                rep[i].a == round ? rep[i].b : 0, P.share[i]);
        if (rep[i].c > worst)
            worst = rep[i].c;
        if (rep[i].d < *first)
            *first = rep[i].d;
    }
    return worst;
}

/* CPU time (user + system) used so far by process `pid`, in ms; 0 if unknown. */
static double cpu_ms(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static double workers_cpu_ms(void)
{
    double sum = 0;
    for (int i = 0; i < P.k; i++)
        sum += cpu_ms(P.pid[i]);
    return sum;
}

/* Also prints what one broadcast cost in CPU, the server's and chanload's own
 * (its workers receiving N messages share the machine with the server). */
static void phase_fanout(const options *o)
{
    int64_t *last = bn_xcalloc((size_t)o->rounds, sizeof *last);
    int64_t *first = bn_xcalloc((size_t)o->rounds, sizeof *first);
    for (int r = 0; r < o->warmup_rounds; r++) {
        int64_t ignored;
        fanout_round(o, r, &ignored);
        sleep_ms(o->gap_ms);
    }
    double s0 = o->server_pid ? cpu_ms(o->server_pid) : 0, c0 = workers_cpu_ms();
    for (int r = 0; r < o->rounds; r++) {
        last[r] = fanout_round(o, o->warmup_rounds + r, &first[r]);
        sleep_ms(o->gap_ms);
    }
    double s1 = o->server_pid ? cpu_ms(o->server_pid) : 0, c1 = workers_cpu_ms();
    size_t n = (size_t)o->rounds;
    qsort(last, n, sizeof *last, cmp_i64);
    qsort(first, n, sizeof *first, cmp_i64);
    printf("BENCH ws_fanout n=%d rounds=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f first_p50_ms=%.2f"
           " server_cpu_ms=%.1f client_cpu_ms=%.1f\n",
           o->n, o->rounds, pct_ms(last, n, 0.50), pct_ms(last, n, 0.99), (double)last[n - 1] / 1e6,
           pct_ms(first, n, 0.50), (s1 - s0) / o->rounds, (c1 - c0) / o->rounds);
    fflush(stdout);
    free(last);
    free(first);
}

static void phase_rtt(const options *o)
{
    msg rep[MAX_PROCS];
    int clients = o->rtt_clients < o->n ? o->rtt_clients : o->n;
    /* Each worker's share of the rate and of the clients. */
    int senders = P.k < clients ? P.k : clients;
    int64_t interval = (int64_t)(1e9 * senders / o->rtt_rate);
    for (int i = 0; i < P.k; i++) {
        int mine = i < senders ? clients / senders + (i < clients % senders) : 0;
        command(i, CMD_RTT, mine ? interval : 1000000000, (int64_t)o->rtt_secs * 1000 * (mine > 0), mine);
    }
    int64_t *samples = NULL;
    size_t n = 0;
    gather(REP_RTT, rep, (o->rtt_secs + o->timeout_s) * 1000 + 5000, &samples, &n);
    int64_t sent = 0;
    for (int i = 0; i < P.k; i++)
        sent += rep[i].a;
    if ((int64_t)n != sent || n == 0)
        die("rtt: %zu replies to %" PRId64 " pings", n, sent);
    qsort(samples, n, sizeof *samples, cmp_i64);
    printf("BENCH ws_rtt n=%d rate=%d clients=%d secs=%d samples=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", o->n,
           o->rtt_rate, clients, o->rtt_secs, n, pct_ms(samples, n, 0.50), pct_ms(samples, n, 0.99),
           (double)samples[n - 1] / 1e6);
    fflush(stdout);
    free(samples);
}

static void finish(void)
{
    for (int i = 0; i < P.k; i++)
        command(i, CMD_QUIT, 0, 0, 0);
    int64_t deadline = now_ns() + 10 * (int64_t)1000000000;
    for (int i = 0; i < P.k; i++) {
        int status = 0;
        while (waitpid(P.pid[i], &status, WNOHANG) == 0) {
            if (now_ns() > deadline)
                die("worker %d does not exit", i);
            sleep_ms(10);
        }
        P.pid[i] = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            die("worker %d failed at exit", i);
    }
}

/* Every open file the hard limit allows: a worker holds up to 15,000 sockets. */
static void raise_nofile(const options *o)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)(o->n / o->procs + 1 + 64) > rl.rlim_cur)
        die("%d connections per process need more than the %llu open files allowed: use more --procs",
            o->n / o->procs + 1, (unsigned long long)rl.rlim_cur);
}

/* ---- options --------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: chanload --port P [--host 127.0.0.1] [--path /socket/websocket] [--server-pid PID]\n"
          "                [-n N] [--procs K] [--inflight M] [--topic room:bench] [--hold-ms 2000]\n"
          "                [--rounds 50] [--warmup-rounds 3] [--gap-ms 100]\n"
          "                [--rtt-rate 1000] [--rtt-secs 5] [--rtt-clients 10] [--timeout-s 60]\n",
          f);
}

static int int_arg(const char *name, const char *s, int min, int max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < min || v > max) {
        fprintf(stderr, "chanload: --%s wants an integer in %d..%d, not '%s'\n", name, min, max, s);
        exit(2);
    }
    return (int)v;
}

static void parse_options(int argc, char **argv, options *o)
{
    *o = (options){.host = "127.0.0.1", .path = "/socket/websocket", .topic = "room:bench", .n = 1000,
                   .inflight = 128, .rounds = 50, .warmup_rounds = 3, .gap_ms = 100, .hold_ms = 2000,
                   .rtt_rate = 1000, .rtt_secs = 5, .rtt_clients = 10, .timeout_s = 60};
    static const struct option longs[] = {
        {"host", 1, 0, 'H'},        {"port", 1, 0, 'p'},          {"path", 1, 0, 'P'},
        {"topic", 1, 0, 't'},       {"server-pid", 1, 0, 's'},    {"procs", 1, 0, 'k'},
        {"inflight", 1, 0, 'i'},    {"rounds", 1, 0, 'r'},        {"warmup-rounds", 1, 0, 'w'},
        {"gap-ms", 1, 0, 'g'},      {"hold-ms", 1, 0, 'h'},       {"rtt-rate", 1, 0, 'R'},
        {"rtt-secs", 1, 0, 'S'},    {"rtt-clients", 1, 0, 'C'},   {"timeout-s", 1, 0, 'T'},
        {"help", 0, 0, '?'},        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "n:", longs, NULL)) != -1) {
        switch (ch) {
        case 'H': o->host = optarg; break;
        case 'p': o->port = int_arg("port", optarg, 1, 65535); break;
        case 'P': o->path = optarg; break;
        case 't': o->topic = optarg; break;
        case 's': o->server_pid = int_arg("server-pid", optarg, 1, INT32_MAX); break;
        case 'n': o->n = int_arg("n", optarg, 1, MAX_PER_PROC * MAX_PROCS); break;
        case 'k': o->procs = int_arg("procs", optarg, 1, MAX_PROCS); break;
        case 'i': o->inflight = int_arg("inflight", optarg, 1, 100000); break;
        case 'r': o->rounds = int_arg("rounds", optarg, 1, 100000); break;
        case 'w': o->warmup_rounds = int_arg("warmup-rounds", optarg, 0, 100000); break;
        case 'g': o->gap_ms = int_arg("gap-ms", optarg, 0, 60000); break;
        case 'h': o->hold_ms = int_arg("hold-ms", optarg, 0, 600000); break;
        case 'R': o->rtt_rate = int_arg("rtt-rate", optarg, 1, 1000000); break;
        case 'S': o->rtt_secs = int_arg("rtt-secs", optarg, 1, 3600); break;
        case 'C': o->rtt_clients = int_arg("rtt-clients", optarg, 1, 1000000); break;
        case 'T': o->timeout_s = int_arg("timeout-s", optarg, 1, 3600); break;
        default: usage(ch == '?' && optopt == 0 ? stdout : stderr); exit(ch == '?' && optopt == 0 ? 0 : 2);
        }
    }
    if (optind < argc || !o->port) {
        usage(stderr);
        exit(2);
    }
    if (!o->procs)
        o->procs = (o->n + MAX_PER_PROC - 1) / MAX_PER_PROC;
    if (o->procs > o->n)
        o->procs = o->n;
    if (strchr(o->topic, '"') || strchr(o->topic, '\\') || strlen(o->topic) > 100)
        die("--topic: at most 100 characters, without quotes or backslashes");
}

int main(int argc, char **argv)
{
    options o;
    parse_options(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(&o);
    long rss0 = o.server_pid ? read_rss_kib(o.server_pid) : 0;
    note("%d connections to %s:%d%s over %d process(es), topic %s", o.n, o.host, o.port, o.path, o.procs, o.topic);
    spawn_workers(&o);
    phase_join(&o);
    phase_idle(&o, rss0);
    phase_fanout(&o);
    phase_rtt(&o);
    finish();
    return 0;
}
