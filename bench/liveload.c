/*
 * bench/liveload.c — load for a LiveView server, for bench/run.sh's live case:
 * bench/live_server.c (Bennu); runs and readings in bench/RESULTS.md.
 *
 *   liveload --port P [--server-pid PID] [-n N] [--rate R] [--secs S] [--hold-ms MS]
 *
 * One process, one epoll loop; what a browser running the npm
 * phoenix_live_view client does for each of N views, on loopback:
 *
 *   warm-up  one view of /table and one of /counter, joined (left out of the measures).
 *   pages    GET /counter over one HTTP/1.1 keep-alive connection, N times;
 *            each page's id and data-phx-session.
 *   join     N WebSockets to /live/websocket?vsn=2.0.0 (at most --inflight
 *            opening at a time), each joining lv:ID with the client's payload
 *            (url, params {_csrf_token, _mounts}, session, static null).
 *   memory   after --hold-ms of silence, the server's VmRSS against the one
 *            read before the first page.
 *            -> BENCH live_mem n=N bytes_per_view=...   ((after - before) / N)
 *   diff     view 0 clicks "inc" once; then one more view, of /table (1,000
 *            rows), clicks "bump" (one row changes): the size of each reply
 *            (the whole V2 message as sent in the text frame, and its "diff").
 *            -> BENCH live_diff_bytes counter_msg_bytes=... counter_diff_bytes=... table_msg_bytes=... ...
 *   events   the N views push {"type":"click","event":"inc","value":{}} in
 *            turn, --rate pushes/s in all, for --secs; each reply's time
 *            since its push.
 *            -> BENCH live_event n=N rate=R samples=... p50_ms=... p99_ms=... max_ms=...
 *
 * Any failure (a refused page, connect or join, an error reply, a closed
 * connection, a phase over --timeout-s) ends the run with a message and exit
 * status 1. Client frames are masked (RFC 6455); the server's frames are
 * parsed with Bennu's own frame parser (src/socket/ws_frame.h); the clock,
 * percentiles and memory readings are bench_util.h's, shared with chanload.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "socket/ws_frame.h"

#define READ_CHUNK 65536
#define MAX_EVENTS 256
#define MAX_FRAME (16u << 20)
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define JOIN_REF 1        /* every connection's join ref (and the join's ref) */
#define FIRST_EVENT_REF 2 /* event refs: 2, 3, ...: index into the send times */

typedef struct options {
    const char *host;
    int port;
    long server_pid;
    int n, inflight, rate, secs, hold_ms, timeout_s;
} options;

typedef enum { C_NEW, C_HANDSHAKE, C_JOINING, C_JOINED } conn_state;

typedef struct conn {
    int fd;
    conn_state state;
    char id[64];
    char *session; /* the page's data-phx-session (malloc'd) */
    const char *path;
    bn_buf in, out;
    bool out_armed;
} conn;

static struct {
    options o;
    conn *conns; /* n + 2: then the /table view and the warm-up view of /counter */
    int epfd;
    struct sockaddr_in dst;
    char accept[29];
    uint8_t rbuf[READ_CHUNK];
    bn_buf frame;
    uint32_t rng;
    int joined, inflight, next;
    int64_t next_ref;
    int64_t *sent;    /* event ref - FIRST_EVENT_REF -> push time (ns), 0 once answered */
    int64_t *lat;     /* reply latencies (ns) */
    size_t nsent, nlat, cap;
    /* the last reply to a diff probe: its V2 message and its diff's size */
    size_t last_msg_bytes, last_diff_bytes, join_bytes;
    bool last_ok;
} L;

static _Noreturn void die(const char *fmt, ...) BN_PRINTF(1, 2);
static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("liveload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void note(const char *fmt, ...) BN_PRINTF(1, 2);
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# liveload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* The server's resident memory: one reading of /proc. */
static long read_rss_kib(long pid)
{
    long kib = rss_kib(pid);
    if (kib < 0)
        die("cannot read VmRSS of process %ld (--server-pid)", pid);
    return kib;
}

static int tcp_connect(bool nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s (open files: raise the limit)", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&L.dst, sizeof L.dst) < 0)
        die("connect to port %d: %s", L.o.port, strerror(errno));
    if (nonblock)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* ---- pages: GET over one keep-alive connection ------------------------------------------ */

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            die("write: %s", strerror(errno));
        p += k;
        n -= (size_t)k;
    }
}

/* The length of the first line of a response (its status line), at most max. */
static int line_len(const char *p, size_t max)
{
    const char *eol = memchr(p, '\r', max);
    return (int)(eol ? (size_t)(eol - p) : max);
}

/* Copies the value of `attr="…"` in body into out (cap bytes); false if absent or too long. */
static bool attr_value(const char *body, size_t len, const char *attr, char *out, size_t cap)
{
    char pat[64];
    int n = snprintf(pat, sizeof pat, " %s=\"", attr);
    const char *p = memmem(body, len, pat, (size_t)n);
    if (!p)
        return false;
    p += n;
    const char *end = memchr(p, '"', (size_t)(body + len - p));
    if (!end || (size_t)(end - p) >= cap)
        return false;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = 0;
    return true;
}

/* GET path on the keep-alive `fd` (buffer `in` keeps what follows); fills c's id and session. */
static void get_page(int fd, bn_buf *in, conn *c, const char *path)
{
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", path, L.o.host, L.o.port);
    write_all(fd, req, (size_t)n);
    size_t head = 0, body = 0;
    for (;;) {
        if (!head) {
            const char *e = in->len ? memmem(in->data, in->len, "\r\n\r\n", 4) : NULL;
            if (e) {
                head = (size_t)(e - in->data) + 4;
                if (in->len < 12 || memcmp(in->data, "HTTP/1.1 200", 12) != 0)
                    die("GET %s: %.*s", path, line_len(in->data, head), in->data);
                const char *cl = memmem(in->data, head, "content-length:", 15);
                if (!cl)
                    cl = memmem(in->data, head, "Content-Length:", 15);
                if (!cl)
                    die("GET %s: no content-length", path);
                body = strtoul(cl + 15, NULL, 10);
            }
        }
        if (head && in->len >= head + body)
            break;
        char buf[READ_CHUNK];
        ssize_t k = read(fd, buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            die("GET %s: %s", path, k == 0 ? "the server closed the connection" : strerror(errno));
        bn_buf_append(in, buf, (size_t)k);
    }
    char session[4096];
    if (!attr_value(in->data + head, body, "id", c->id, sizeof c->id) ||
        !attr_value(in->data + head, body, "data-phx-session", session, sizeof session))
        die("GET %s: no id or data-phx-session in the page", path);
    c->session = strdup(session);
    c->path = path;
    bn_buf_consume(in, head + body);
}

/* ---- WebSockets ---------------------------------------------------------------------------- */

static void epoll_set(int op, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    if (epoll_ctl(L.epfd, op, fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void conn_send(conn *c, const char *data, size_t len)
{
    if (c->out.len == 0) {
        ssize_t k = send(c->fd, data, len, MSG_NOSIGNAL);
        if (k < 0 && errno != EAGAIN && errno != EINTR)
            die("view %td: send: %s", c - L.conns, strerror(errno));
        if (k < 0)
            k = 0;
        data += k;
        len -= (size_t)k;
        if (len == 0)
            return;
    }
    bn_buf_append(&c->out, data, len);
    if (!c->out_armed) {
        epoll_set(EPOLL_CTL_MOD, c->fd, EPOLLIN | EPOLLOUT, (uint64_t)(c - L.conns));
        c->out_armed = true;
    }
}

static void conn_flush(conn *c)
{
    while (c->out.len > 0) {
        ssize_t k = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (k < 0)
            die("view %td: send: %s", c - L.conns, strerror(errno));
        bn_buf_consume(&c->out, (size_t)k);
    }
    bn_buf_free(&c->out);
    epoll_set(EPOLL_CTL_MOD, c->fd, EPOLLIN, (uint64_t)(c - L.conns));
    c->out_armed = false;
}

static uint32_t rng_next(void)
{
    L.rng ^= L.rng << 13;
    L.rng ^= L.rng >> 17;
    L.rng ^= L.rng << 5;
    return L.rng;
}

/* One masked text frame, as a client must send it. */
static void send_text(conn *c, const char *text, size_t len)
{
    uint32_t k = rng_next();
    uint8_t mask[4] = {(uint8_t)k, (uint8_t)(k >> 8), (uint8_t)(k >> 16), (uint8_t)(k >> 24)};
    L.frame.len = 0;
    bn_ws_write_frame(&L.frame, BN_WS_TEXT, bn_str_make(text, len), mask);
    conn_send(c, L.frame.data, L.frame.len);
}

static void conn_start(int i)
{
    conn *c = &L.conns[i];
    c->fd = tcp_connect(true);
    c->state = C_HANDSHAKE;
    L.inflight++;
    epoll_set(EPOLL_CTL_ADD, c->fd, EPOLLIN, (uint64_t)i);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /live/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     L.o.host, L.o.port);
    conn_send(c, req, (size_t)n);
}

static void send_join(conn *c)
{
    bn_buf b = BN_BUF_INIT;
    bn_buf_printf(&b,
                  "[\"%d\",\"%d\",\"lv:%s\",\"phx_join\",{\"url\":\"http://%s:%d%s\","
                  "\"params\":{\"_csrf_token\":\"liveload\",\"_mounts\":0},\"session\":\"%s\",\"static\":null,"
                  "\"sticky\":false}]",
                  JOIN_REF, JOIN_REF, c->id, L.o.host, L.o.port, c->path, c->session);
    send_text(c, b.data, b.len);
    bn_buf_free(&b);
    c->state = C_JOINING;
}

/* A click of `event` (value {} or the JSON given), with a fresh ref. */
static int64_t send_click(conn *c, const char *event, const char *value)
{
    char text[256];
    int64_t ref = L.next_ref++;
    int n = snprintf(text, sizeof text,
                     "[\"%d\",\"%lld\",\"lv:%s\",\"event\",{\"type\":\"click\",\"event\":\"%s\",\"value\":%s}]",
                     JOIN_REF, (long long)ref, c->id, event, value);
    if (n < 0 || (size_t)n >= sizeof text)
        die("event message too long");
    send_text(c, text, (size_t)n);
    return ref;
}

/* The 101 response: its length up to the blank line, 0 while incomplete. */
static size_t handshake(conn *c, const char *p, size_t n)
{
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end) {
        if (n > 16384)
            die("view %td: a handshake response without end", c - L.conns);
        return 0;
    }
    size_t head = (size_t)(end - p) + 4;
    if (head <= 12 || memcmp(p, "HTTP/1.1 101", 12) != 0 || !memmem(p, head, L.accept, 28))
        die("view %td: handshake refused: %.*s", c - L.conns, line_len(p, head), p);
    return head;
}

/* The length of the JSON object or array at p (the diff), 0 if it is none or cut short. */
static size_t json_value_len(const char *p, const char *end)
{
    if (p >= end || (*p != '{' && *p != '['))
        return 0;
    int depth = 0;
    bool str = false;
    for (const char *q = p; q < end; q++) {
        if (str) {
            if (*q == '\\')
                q++;
            else if (*q == '"')
                str = false;
        } else if (*q == '"') {
            str = true;
        } else if (*q == '{' || *q == '[') {
            depth++;
        } else if ((*q == '}' || *q == ']') && --depth == 0) {
            return (size_t)(q - p) + 1;
        }
    }
    return 0;
}

/* The ref of a V2 message: its second element, a JSON string of digits (-1 otherwise). */
static int64_t v2_ref(const char *p, const char *end)
{
    /* ["JOIN_REF","REF",... : skip to the 3rd quote */
    int quotes = 0;
    while (p < end && quotes < 3)
        quotes += *p++ == '"';
    int64_t v = 0;
    const char *s = p;
    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    return p > s && p < end && *p == '"' ? v : -1;
}

static void on_text(conn *c, bn_str text, int64_t t)
{
    const char *p = text.ptr, *end = p + text.len;
    if (!memmem(p, text.len, "\"phx_reply\"", 11)) {
        if (memmem(p, text.len, "\"phx_error\"", 11) || memmem(p, text.len, "\"phx_close\"", 11))
            die("view %td: the server sent %.*s", c - L.conns, (int)(text.len > 200 ? 200 : text.len), p);
        return; /* a push ("diff", "redirect"...): none expected here */
    }
    bool ok = memmem(p, text.len, "\"status\":\"ok\"", 13) != NULL;
    int64_t ref = v2_ref(p, end);
    if (c->state == C_JOINING && ref == JOIN_REF) {
        if (!ok)
            die("view %td: join refused: %.*s", c - L.conns, (int)(text.len > 200 ? 200 : text.len), p);
        c->state = C_JOINED;
        L.joined++;
        L.inflight--;
        L.join_bytes = text.len;
        return;
    }
    if (!ok)
        die("view %td: event refused: %.*s", c - L.conns, (int)(text.len > 200 ? 200 : text.len), p);
    size_t i = (size_t)(ref - FIRST_EVENT_REF);
    if (ref < FIRST_EVENT_REF || i >= L.nsent || !L.sent[i])
        die("view %td: a reply to no pending event: %.*s", c - L.conns, (int)(text.len > 200 ? 200 : text.len), p);
    L.lat[L.nlat++] = t - L.sent[i];
    L.sent[i] = 0;
    L.last_msg_bytes = text.len;
    const char *d = memmem(p, text.len, "\"diff\":", 7);
    L.last_diff_bytes = d ? json_value_len(d + 7, end) : 0;
    L.last_ok = true;
}

/* Handles what arrived (the handshake response, then frames); returns the bytes used. */
static size_t conn_process(conn *c, uint8_t *p, size_t n, int64_t t)
{
    size_t off = 0;
    if (c->state == C_HANDSHAKE) {
        off = handshake(c, (const char *)p, n);
        if (!off)
            return 0;
        send_join(c);
    }
    while (off < n) {
        bn_ws_frame f;
        size_t used;
        int code;
        bn_ws_parse_result r = bn_ws_parse(p + off, n - off, false, false, MAX_FRAME, &f, &used, &code);
        if (r == BN_WS_NEED_MORE)
            break;
        if (r == BN_WS_ERROR)
            die("view %td: a bad frame from the server (close code %d)", c - L.conns, code);
        off += used;
        if (f.opcode == BN_WS_TEXT && f.fin)
            on_text(c, f.payload, t);
        else if (f.opcode == BN_WS_CLOSE)
            die("view %td: the server sent a close frame", c - L.conns);
        else if (f.opcode != BN_WS_PING && f.opcode != BN_WS_PONG)
            die("view %td: an unexpected frame (opcode %d, fin %d)", c - L.conns, (int)f.opcode, (int)f.fin);
    }
    return off;
}

static void conn_readable(conn *c, int64_t t)
{
    for (int k = 0; k < 16; k++) {
        ssize_t got = recv(c->fd, L.rbuf, READ_CHUNK, 0);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (got <= 0)
            die("view %td: %s", c - L.conns, got == 0 ? "the server closed the connection" : strerror(errno));
        bn_buf_append(&c->in, L.rbuf, (size_t)got);
        size_t used = conn_process(c, (uint8_t *)c->in.data, c->in.len, t);
        bn_buf_consume(&c->in, used);
        if (c->in.len == 0)
            bn_buf_free(&c->in); /* an idle connection keeps no buffer */
        if (got < READ_CHUNK)
            return;
    }
}

/* One round of the loop: waits up to timeout_ms for events and handles them. */
static void poll_once(int timeout_ms)
{
    struct epoll_event evs[MAX_EVENTS];
    int k = epoll_wait(L.epfd, evs, MAX_EVENTS, timeout_ms);
    if (k < 0 && errno != EINTR)
        die("epoll_wait: %s", strerror(errno));
    int64_t t = now_ns();
    for (int j = 0; j < k; j++) {
        conn *c = &L.conns[evs[j].data.u64];
        if (evs[j].events & EPOLLOUT)
            conn_flush(c);
        if (evs[j].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            conn_readable(c, t);
    }
}

/* ---- phases -------------------------------------------------------------------------------- */

/* Opens and joins views [from, to): at most --inflight handshakes and joins at a time. */
static void join_views(int from, int to)
{
    int64_t deadline = now_ns() + (int64_t)L.o.timeout_s * 1000000000;
    int target = L.joined + (to - from);
    L.next = from;
    while (L.joined < target) {
        while (L.next < to && L.inflight < L.o.inflight)
            conn_start(L.next++);
        poll_once(10);
        if (now_ns() > deadline)
            die("%d of %d views joined after %d s", L.joined, target, L.o.timeout_s);
    }
}

/* Pushes one click from view i and waits for its reply; the reply's sizes are in L.last_*. */
static void probe(int i, const char *event, const char *value)
{
    L.last_ok = false;
    L.sent[L.nsent++] = now_ns();
    send_click(&L.conns[i], event, value);
    int64_t deadline = now_ns() + (int64_t)L.o.timeout_s * 1000000000;
    while (!L.last_ok) {
        poll_once(10);
        if (now_ns() > deadline)
            die("no reply to %s within %d s", event, L.o.timeout_s);
    }
}

/* The N views click in turn at --rate pushes/s for --secs; then every reply is awaited. */
static void phase_events(void)
{
    size_t total = (size_t)L.o.rate * (size_t)L.o.secs;
    size_t first_lat = L.nlat;
    int64_t start = now_ns(), interval = 1000000000 / L.o.rate;
    size_t pushed = 0;
    while (pushed < total) {
        int64_t t = now_ns();
        size_t due = (size_t)((t - start) / interval) + 1;
        if (due > total)
            due = total;
        for (; pushed < due; pushed++) {
            L.sent[L.nsent++] = now_ns();
            send_click(&L.conns[pushed % (size_t)L.o.n], "inc", "{}");
        }
        int64_t wait = start + (int64_t)pushed * interval - now_ns();
        poll_once(wait > 0 ? (int)(wait / 1000000) : 0);
    }
    int64_t deadline = now_ns() + (int64_t)L.o.timeout_s * 1000000000;
    while (L.nlat - first_lat < total) {
        poll_once(10);
        if (now_ns() > deadline)
            die("%zu of %zu event replies after %d s", L.nlat - first_lat, total, L.o.timeout_s);
    }
    int64_t *v = L.lat + first_lat;
    qsort(v, total, sizeof *v, cmp_i64);
    double secs = (double)(now_ns() - start) / 1e9;
    printf("BENCH live_event n=%d rate=%d samples=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f secs=%.1f\n", L.o.n,
           L.o.rate, total, pct_ms(v, total, 0.50), pct_ms(v, total, 0.99), pct_ms(v, total, 1.0), secs);
}

/* ---- options ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: liveload --port P [--host 127.0.0.1] [--server-pid PID] [-n 1000] [--inflight 128]\n"
          "                [--hold-ms 2000] [--rate 1000] [--secs 5] [--timeout-s 60]\n",
          f);
}

static int int_arg(const char *name, const char *s, int min, int max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < min || v > max) {
        fprintf(stderr, "liveload: --%s wants an integer in %d..%d, not '%s'\n", name, min, max, s);
        exit(2);
    }
    return (int)v;
}

static void parse_options(int argc, char **argv, options *o)
{
    *o = (options){.host = "127.0.0.1", .n = 1000, .inflight = 128, .rate = 1000, .secs = 5, .hold_ms = 2000,
                   .timeout_s = 60};
    static const struct option longs[] = {
        {"host", 1, 0, 'H'},     {"port", 1, 0, 'p'},    {"server-pid", 1, 0, 's'}, {"inflight", 1, 0, 'i'},
        {"hold-ms", 1, 0, 'h'},  {"rate", 1, 0, 'R'},    {"secs", 1, 0, 'S'},       {"timeout-s", 1, 0, 'T'},
        {"help", 0, 0, '?'},     {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "n:", longs, NULL)) != -1) {
        switch (ch) {
        case 'H': o->host = optarg; break;
        case 'p': o->port = int_arg("port", optarg, 1, 65535); break;
        case 's': o->server_pid = int_arg("server-pid", optarg, 1, 1 << 30); break;
        case 'n': o->n = int_arg("n", optarg, 1, 200000); break;
        case 'i': o->inflight = int_arg("inflight", optarg, 1, 100000); break;
        case 'h': o->hold_ms = int_arg("hold-ms", optarg, 0, 600000); break;
        case 'R': o->rate = int_arg("rate", optarg, 1, 1000000); break;
        case 'S': o->secs = int_arg("secs", optarg, 1, 3600); break;
        case 'T': o->timeout_s = int_arg("timeout-s", optarg, 1, 3600); break;
        default: usage(ch == '?' && optopt == 0 ? stdout : stderr); exit(ch == '?' && optopt == 0 ? 0 : 2);
        }
    }
    if (!o->port) {
        usage(stderr);
        exit(2);
    }
}

/* Each view holds one socket here: N + a few must fit under the open-file limit. */
static void raise_nofile(int n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (rlim_t)n + 64 > rl.rlim_cur)
        die("%d views need more than the %llu open files allowed", n, (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    parse_options(argc, argv, &L.o);
    const options *o = &L.o;
    raise_nofile(o->n);
    L.dst = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->host, &L.dst.sin_addr) != 1)
        die("--host wants an IPv4 address, not '%s'", o->host);
    bn_ws_accept_key(BN_STR(WS_KEY), L.accept);
    L.rng = (uint32_t)now_ns() | 1;
    L.conns = calloc((size_t)o->n + 2, sizeof *L.conns);
    L.cap = (size_t)o->rate * (size_t)o->secs + 16;
    L.sent = calloc(L.cap, sizeof *L.sent);
    L.lat = calloc(L.cap, sizeof *L.lat);
    L.next_ref = FIRST_EVENT_REF;
    L.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!L.conns || !L.sent || !L.lat || L.epfd < 0)
        die("out of memory or epoll_create1 failed");

    /* Warm-up, left out of the measure: the table view and one counter view joined (the
     * server's code, allocator arenas and buffers touched once), then the RSS before. */
    int http = tcp_connect(false);
    bn_buf in = BN_BUF_INIT;
    conn *table = &L.conns[o->n];
    get_page(http, &in, table, "/table");
    get_page(http, &in, &L.conns[o->n + 1], "/counter");
    join_views(o->n, o->n + 1);
    size_t table_join = L.join_bytes;
    join_views(o->n + 1, o->n + 2);
    for (int64_t end = now_ns() + 200000000; now_ns() < end;)
        poll_once(50);
    long rss0 = o->server_pid ? read_rss_kib(o->server_pid) : 0;
    int64_t t0 = now_ns();
    for (int i = 0; i < o->n; i++)
        get_page(http, &in, &L.conns[i], "/counter");
    int64_t t1 = now_ns();
    L.join_bytes = 0;
    join_views(0, o->n);
    int64_t t2 = now_ns();
    note("%d pages in %.2f s, %d joins in %.2f s (counter join reply: %zu bytes)", o->n, (double)(t1 - t0) / 1e9,
         o->n, (double)(t2 - t1) / 1e9, L.join_bytes);
    /* Idle: the server settles (its replies are sent, its buffers freed) before its RSS is read. */
    int64_t quiet_end = now_ns() + (int64_t)o->hold_ms * 1000000;
    while (now_ns() < quiet_end)
        poll_once(50);
    if (o->server_pid) {
        long rss1 = read_rss_kib(o->server_pid);
        printf("BENCH live_mem n=%d bytes_per_view=%ld rss_before_kib=%ld rss_after_kib=%ld\n", o->n,
               (rss1 - rss0) * 1024 / o->n, rss0, rss1);
    } else {
        note("no --server-pid: no live_mem line");
    }
    fflush(stdout);

    probe(0, "inc", "{}");
    size_t counter_msg = L.last_msg_bytes, counter_diff = L.last_diff_bytes;
    probe(o->n, "bump", "{}");
    printf("BENCH live_diff_bytes counter_msg_bytes=%zu counter_diff_bytes=%zu table_rows=1000 table_msg_bytes=%zu "
           "table_diff_bytes=%zu table_join_bytes=%zu\n",
           counter_msg, counter_diff, L.last_msg_bytes, L.last_diff_bytes, table_join);
    fflush(stdout);

    phase_events();
    close(http);
    bn_buf_free(&in);
    for (int i = 0; i < o->n + 2; i++) {
        if (L.conns[i].fd > 0)
            close(L.conns[i].fd);
        free(L.conns[i].session);
        bn_buf_free(&L.conns[i].in);
        bn_buf_free(&L.conns[i].out);
    }
    bn_buf_free(&L.frame);
    free(L.conns);
    free(L.sent);
    free(L.lat);
    close(L.epfd);
    return 0;
}
