/*
 * The Redis adapter [Phoenix.PubSub.Redis]: every node SUBSCRIBEs to one
 * Redis channel per cluster ("bennu:<name>") and PUBLISHes there each
 * broadcast made in it, as an envelope naming the origin node; a node drops
 * what it sent itself (it delivered that locally already).
 *
 * Two hiredis async connections (one subscribed, one for PUBLISH) live on a
 * thread of their own with its own bn_loop. Other threads hand it encoded
 * envelopes with bn_loop_post; what arrives is delivered through the
 * registry to every loop thread, or to Presence. A connection that fails is
 * retried with backoff (100 ms doubling to 5 s); meanwhile publishes are
 * dropped (at most once) and local delivery goes on.
 *
 * The envelope (version 1), lengths as LEB128:
 *     'B' 'N' 1 flags  origin [target] topic event  payload
 * flags: 1 the payload is binary, 2 a target node follows the origin. Each
 * string is a length and that many bytes (UTF-8, no NUL, not empty); the
 * payload is the rest (JSON text, never empty, or bytes).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/ioctl.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "pubsub/pubsub_internal.h"
#include "pubsub/redis_adapter.h"
#include "socket/ws_frame.h"
#include "web/parsers.h"

#define DEFAULT_PORT 6379
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 5000
#define READS_PER_TURN 64                     /* 16 KiB each: then other events get a turn */
#define MAX_BACKLOG ((size_t)64 << 20)        /* unwritten PUBLISH bytes beyond which publishes drop */

/* ---- the envelope ------------------------------------------------------------------ */

#define ENVELOPE_VERSION 1
enum { ENV_BINARY = 1, ENV_TARGET = 2 };

static void put_varint(bn_buf *b, size_t v)
{
    char *p = bn_buf_reserve(b, 10);
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        p[n++] = (char)(byte | (v ? 0x80 : 0));
    } while (v);
    b->len += n;
}

static void put_string(bn_buf *b, const char *s)
{
    size_t len = strlen(s);
    put_varint(b, len);
    bn_buf_append(b, s, len);
}

void bn__pubsub_envelope_encode(bn_buf *out, const char *origin, const char *target, const char *topic,
                                const char *event, bool binary, bn_str payload)
{
    const char head[4] = {'B', 'N', ENVELOPE_VERSION, (char)((binary ? ENV_BINARY : 0) | (target ? ENV_TARGET : 0))};
    bn_buf_append(out, head, sizeof head);
    put_string(out, origin);
    if (target)
        put_string(out, target);
    put_string(out, topic);
    put_string(out, event);
    bn_buf_append(out, payload.ptr, payload.len);
}

/* A LEB128 number of at most 32 bits; false if cut short or larger. */
static bool get_varint(const uint8_t **p, const uint8_t *end, size_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 35 && *p < end; shift += 7) {
        uint8_t byte = *(*p)++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = (size_t)v;
            return v <= UINT32_MAX;
        }
    }
    return false;
}

/* A non-empty UTF-8 string without NUL (it becomes a C string and goes into JSON frames). */
static bool get_string(const uint8_t **p, const uint8_t *end, bn_str *s)
{
    size_t len;
    if (!get_varint(p, end, &len) || len == 0 || len > (size_t)(end - *p) || memchr(*p, 0, len))
        return false;
    uint32_t state = 0;
    if (!bn_utf8_validate(&state, *p, len) || state != 0)
        return false;
    *s = bn_str_make((const char *)*p, len);
    *p += len;
    return true;
}

bool bn__pubsub_envelope_decode(bn_str in, bn_str *origin, bn_str *target, bn_str *topic, bn_str *event,
                                bool *binary, bn_str *payload)
{
    const uint8_t *p = (const uint8_t *)in.ptr, *end = p + in.len;
    if (in.len < 4 || p[0] != 'B' || p[1] != 'N' || p[2] != ENVELOPE_VERSION || (p[3] & ~(ENV_BINARY | ENV_TARGET)))
        return false;
    unsigned flags = p[3];
    p += 4;
    *target = BN_STR_NULL;
    if (!get_string(&p, end, origin) || ((flags & ENV_TARGET) && !get_string(&p, end, target)) ||
        !get_string(&p, end, topic) || !get_string(&p, end, event))
        return false;
    *binary = flags & ENV_BINARY;
    *payload = bn_str_make((const char *)p, (size_t)(end - p));
    return *binary || payload->len > 0;
}

/* ---- REDIS_URL ------------------------------------------------------------------------ */

/* A percent-decoded copy of s, malloc'd (NULL if an escape is broken or decodes to NUL). */
static char *percent_decode(bn_str s)
{
    bn_arena a = BN_ARENA_INIT;
    bn_str out;
    char *copy = NULL;
    if (bn__percent_decode(&a, s, false, &out) && !memchr(out.ptr, 0, out.len))
        copy = bn_xstrdup(out.ptr);
    bn_arena_destroy(&a);
    return copy;
}

static bool parse_number(bn_str s, uint64_t max, unsigned *out)
{
    uint64_t v;
    if (!bn_str_to_u64(s, &v) || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

/* Splits "host[:port]" or "[v6]:port" into a host copy and the port. */
static bool parse_hostport(bn_str hp, char **host, unsigned *port)
{
    bn_str h = hp, p = BN_STR_NULL;
    if (hp.len && hp.ptr[0] == '[') {
        const char *close = memchr(hp.ptr, ']', hp.len);
        if (!close)
            return false;
        h = bn_str_make(hp.ptr + 1, (size_t)(close - hp.ptr - 1));
        bn_str rest = bn_str_make(close + 1, hp.len - (size_t)(close + 1 - hp.ptr));
        if (rest.len && rest.ptr[0] != ':')
            return false;
        if (rest.len)
            p = bn_str_make(rest.ptr + 1, rest.len - 1);
    } else {
        const char *colon = memchr(hp.ptr, ':', hp.len);
        if (colon) {
            h = bn_str_make(hp.ptr, (size_t)(colon - hp.ptr));
            p = bn_str_make(colon + 1, hp.len - h.len - 1);
        }
    }
    if (h.len == 0 || h.len > 253)
        return false;
    for (size_t i = 0; i < h.len; i++)
        if ((unsigned char)h.ptr[i] <= ' ' || strchr("@/?#[]", h.ptr[i]))
            return false;
    *port = DEFAULT_PORT;
    if (p.ptr && (!parse_number(p, 65535, port) || *port == 0))
        return false;
    *host = bn_xmalloc(h.len + 1);
    memcpy(*host, h.ptr, h.len);
    (*host)[h.len] = '\0';
    return true;
}

bool bn__redis_url_parse(const char *url, char **host, unsigned *port, char **user, char **password,
                         unsigned *db)
{
    *host = *user = *password = NULL;
    *port = DEFAULT_PORT;
    *db = 0;
    static const char scheme[] = "redis://";
    if (!url || strncasecmp(url, scheme, sizeof scheme - 1) != 0)
        return false;
    bn_str rest = bn_str_from_cstr(url + sizeof scheme - 1);
    const char *slash = memchr(rest.ptr, '/', rest.len);
    bn_str authority = slash ? bn_str_make(rest.ptr, (size_t)(slash - rest.ptr)) : rest;
    bn_str path = slash ? bn_str_make(slash + 1, rest.len - authority.len - 1) : BN_STR_NULL;
    const char *at = NULL; /* the last '@': a password may contain more (unencoded) */
    for (size_t i = 0; i < authority.len; i++)
        if (authority.ptr[i] == '@')
            at = authority.ptr + i;
    bn_str hostport = at ? bn_str_make(at + 1, authority.len - (size_t)(at + 1 - authority.ptr)) : authority;
    bool ok = parse_hostport(hostport, host, port) && (path.len == 0 || parse_number(path, 1000000, db));
    if (ok && at) {
        bn_str userinfo = bn_str_make(authority.ptr, (size_t)(at - authority.ptr));
        const char *colon = memchr(userinfo.ptr, ':', userinfo.len);
        ok = colon != NULL; /* "user:password" or ":password"; a bare name would be ambiguous */
        if (ok && colon > userinfo.ptr)
            ok = (*user = percent_decode(bn_str_make(userinfo.ptr, (size_t)(colon - userinfo.ptr)))) != NULL;
        if (ok)
            ok = (*password = percent_decode(
                      bn_str_make(colon + 1, userinfo.len - (size_t)(colon + 1 - userinfo.ptr)))) != NULL &&
                 **password;
    }
    if (!ok) {
        free(*host);
        free(*user);
        free(*password);
        *host = *user = *password = NULL;
    }
    return ok;
}

/* ---- the adapter's state -------------------------------------------------------------- */

/* One hiredis connection and its watcher; the struct outlives every context it holds. */
typedef struct rconn {
    redisAsyncContext *ac; /* NULL while closed (hiredis frees it; the cleanup hook clears this) */
    bn_io io;
    bn_timer more;   /* reads left over for the next turn */
    bool want_write; /* hiredis has bytes to write */
    bool hup;        /* the peer closed: read to the end */
    bool ready;      /* AUTH and SELECT went through; subscribed, or PING answered */
} rconn;

enum { DOWN, CONNECTING, UP };

static struct {
    /* Settled by bn__redis_configure, before the thread starts. */
    bool configured;
    char *host, *user, *password;
    unsigned port, db;
    char *channel;
    /* Starting the thread. */
    pthread_mutex_t lock;
    pthread_cond_t started;
    _Atomic(bool) running; /* in this process (a forked child has no thread: reset at fork) */
    _Atomic(bn_loop *) loop;
    _Atomic(bool) up;
    /* The rest belongs to the adapter's thread. */
    rconn sub, pub;
    int state;
    bool tearing_down; /* freeing our own contexts: their cleanup is no failure */
    bool was_up;       /* the failure being handled ended an UP state */
    bool complained;   /* this outage has been logged */
    bool backlog_logged;
    unsigned backoff_ms;
    char reason[192]; /* the first failure of this attempt */
    bn_str me;        /* this node's name, to drop our own messages */
    bn_timer flush, teardown, retry, deadline;
    bn_buf scratch; /* a received message's strings, NUL-terminated */
    uint64_t malformed;
} rd = {.lock = PTHREAD_MUTEX_INITIALIZER, .started = PTHREAD_COND_INITIALIZER};

static bn_loop *adapter_loop(void) { return atomic_load(&rd.loop); }

/* In a child forked by a process whose adapter ran: no thread, and no lock held. */
static void forked(void)
{
    pthread_mutex_init(&rd.lock, NULL);
    pthread_cond_init(&rd.started, NULL);
    atomic_store(&rd.running, false);
    atomic_store(&rd.loop, NULL);
    atomic_store(&rd.up, false);
}

static int redis_configure(const char *url, const char *name)
{
    char *host, *user, *password;
    unsigned port, db;
    if (strncasecmp(url, "rediss://", 9) == 0) {
        bn_error("pubsub: REDIS_URL: TLS (rediss://) is not supported; use redis:// on a trusted network");
        return -1;
    }
    if (!bn__redis_url_parse(url, &host, &port, &user, &password, &db)) {
        bn_error("pubsub: malformed REDIS_URL (want redis://[[user]:password@]host[:port][/db])");
        return -1;
    }
    rd.host = host;
    rd.port = port;
    rd.user = user;
    rd.password = password;
    rd.db = db;
    rd.channel = bn_xprintf("bennu:%s", name);
    rd.configured = true;
    pthread_atfork(NULL, NULL, forked);
    return 0;
}

static bool redis_up(void) { return atomic_load(&rd.up); }

/* ---- failure, backoff and reconnection -------------------------------------------------- */

static void note_reason(const char *why)
{
    if (!rd.reason[0])
        snprintf(rd.reason, sizeof rd.reason, "%s", why && *why ? why : "connection closed");
}

/* Something failed: the rest is torn down at the next turn (never inside hiredis' own calls). */
static void fail(const char *why)
{
    note_reason(why);
    if (rd.state == DOWN)
        return;
    rd.was_up = rd.state == UP;
    rd.state = DOWN;
    atomic_store(&rd.up, false);
    bn_timer_stop(&rd.deadline);
    bn_timer_start(adapter_loop(), &rd.teardown, 0);
}

static void conn_close(rconn *c)
{
    if (c->ac)
        redisAsyncFree(c->ac); /* runs the cleanup hook now */
    c->ac = NULL;
    c->ready = c->want_write = c->hup = false;
    bn_timer_stop(&c->more);
}

static void teardown_cb(bn_timer *t)
{
    (void)t;
    rd.tearing_down = true;
    conn_close(&rd.sub);
    conn_close(&rd.pub);
    rd.tearing_down = false;
    if (rd.was_up) {
        bn_warn("pubsub: lost the connection to redis at %s:%u (%s); local delivery goes on, reconnecting", rd.host,
                rd.port, rd.reason);
        rd.complained = true;
    } else if (!rd.complained) {
        bn_warn("pubsub: cannot connect to redis at %s:%u (%s); retrying with backoff up to %d ms", rd.host, rd.port,
                rd.reason, BACKOFF_MAX_MS);
        rd.complained = true;
    } else {
        bn_debug("pubsub: redis at %s:%u still unreachable (%s); next try in %u ms", rd.host, rd.port, rd.reason,
                 rd.backoff_ms);
    }
    rd.was_up = false;
    bn_timer_start(adapter_loop(), &rd.retry, rd.backoff_ms);
    rd.backoff_ms = BN_MIN(rd.backoff_ms * 2, BACKOFF_MAX_MS);
}

static void deadline_cb(bn_timer *t)
{
    (void)t;
    if (rd.state == CONNECTING)
        fail("no answer within 5 s");
}

/* Both connections answered: broadcasts flow again. */
static void check_up(void)
{
    if (rd.state != CONNECTING || !rd.sub.ready || !rd.pub.ready)
        return;
    rd.state = UP;
    atomic_store(&rd.up, true);
    bn_timer_stop(&rd.deadline);
    rd.backoff_ms = BACKOFF_MIN_MS;
    rd.complained = rd.backlog_logged = false;
    bn_info("pubsub: connected to redis at %s:%u as node %s (channel %s)", rd.host, rd.port, bn_pubsub_node(),
            rd.channel);
    bn__presence_connected();
}

/* ---- hiredis on a bn_loop ------------------------------------------------------------------ */
/*
 * The socket is watched for reading and writing from the start (epoll is
 * edge-triggered here); the hooks only record what hiredis wants. Reads go
 * on while the kernel holds bytes; writes are flushed once per loop turn
 * (a burst of publishes leaves in one write), and after that only when the
 * socket says it drained.
 */

static void ev_nop(void *privdata) { (void)privdata; }

static void ev_add_write(void *privdata)
{
    rconn *c = privdata;
    if (c->want_write)
        return; /* already waiting: for the flush, or for the socket to drain */
    c->want_write = true;
    if (!bn_timer_active(&rd.flush))
        bn_timer_start(adapter_loop(), &rd.flush, 0);
}

static void ev_del_write(void *privdata) { ((rconn *)privdata)->want_write = false; }

/* hiredis is freeing the context: by our hand (teardown) or because the connection failed. */
static void ev_cleanup(void *privdata)
{
    rconn *c = privdata;
    bn_io_stop(adapter_loop(), &c->io);
    bn_timer_stop(&c->more);
    const char *why = c->ac && c->ac->err ? c->ac->errstr : NULL;
    c->ac = NULL;
    c->ready = c->want_write = false;
    if (!rd.tearing_down)
        fail(why);
}

static void read_some(rconn *c)
{
    for (int i = 0; i < READS_PER_TURN; i++) {
        redisAsyncHandleRead(c->ac);
        if (!c->ac)
            return;
        int avail = 0;
        if (ioctl(c->io.fd, FIONREAD, &avail) == 0 && avail > 0)
            continue;
        if (!c->hup)
            return; /* all read: the next edge tells of more */
    }
    bn_timer_start(adapter_loop(), &c->more, 0);
}

static void more_cb(bn_timer *t)
{
    rconn *c = bn_container_of(t, rconn, more);
    if (c->ac)
        read_some(c);
}

static void conn_io(bn_io *io, unsigned events)
{
    rconn *c = bn_container_of(io, rconn, io);
    if (events & BN_IO_HUP)
        c->hup = true;
    if ((events & BN_IO_WRITE) && c->ac && c->want_write)
        redisAsyncHandleWrite(c->ac); /* the first one completes the connect */
    if ((events & BN_IO_READ) && c->ac)
        read_some(c);
}

static void flush_conn(rconn *c)
{
    /* Not before the connect completed: hiredis would take "no error yet" for connected. */
    if (c->ac && c->want_write && (c->ac->c.flags & REDIS_CONNECTED))
        redisAsyncHandleWrite(c->ac);
}

static void flush_cb(bn_timer *t)
{
    (void)t;
    flush_conn(&rd.sub);
    flush_conn(&rd.pub);
}

/* ---- commands and replies -------------------------------------------------------------------- */

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *what)
{
    (void)ac;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR) { /* NULL: the connection is closing; its cleanup says why */
        char why[160];
        snprintf(why, sizeof why, "%s refused: %s", (const char *)what, r->str);
        fail(why);
    }
}

static void on_pong(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac, (void)priv;
    redisReply *r = reply;
    if (!r)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        on_setup_reply(ac, reply, "PING");
        return;
    }
    rd.pub.ready = true;
    check_up();
}

static void malformed(size_t len)
{
    if (rd.malformed++ == 0)
        bn_warn("pubsub: dropped a malformed message on %s (%zu bytes); more are logged at debug level", rd.channel,
                len);
    else
        bn_debug("pubsub: dropped a malformed message on %s (%zu bytes)", rd.channel, len);
}

/* A message from the cluster's channel: to this node's subscribers, or to Presence. */
static void receive(bn_str data)
{
    bn_str origin, target, topic, event, payload;
    bool binary;
    if (!bn__pubsub_envelope_decode(data, &origin, &target, &topic, &event, &binary, &payload)) {
        malformed(data.len);
        return;
    }
    if (bn_str_eq(origin, rd.me) || (target.ptr && !bn_str_eq(target, rd.me)))
        return; /* ours (delivered here when sent), or for another node */
    rd.scratch.len = 0;
    bn_buf_append(&rd.scratch, origin.ptr, origin.len);
    bn_buf_append(&rd.scratch, "", 1);
    bn_buf_append(&rd.scratch, topic.ptr, topic.len);
    bn_buf_append(&rd.scratch, "", 1);
    bn_buf_append(&rd.scratch, event.ptr, event.len);
    bn_buf_append(&rd.scratch, "", 1);
    const char *from = rd.scratch.data, *t = from + origin.len + 1, *ev = t + topic.len + 1;
    if (strcmp(t, BN_PRESENCE_TOPIC) == 0) {
        bn__presence_remote(from, ev, payload);
    } else if (strncmp(t, BN_PUBSUB_INTERNAL_PREFIX, sizeof BN_PUBSUB_INTERNAL_PREFIX - 1) != 0) {
        bn_fastlane *fl = bn__fastlane_new(t, ev, binary, payload, 0);
        bn__registry_broadcast(fl);
        bn__fastlane_unref(fl);
    }
}

static void on_subscription(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac, (void)priv;
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING) {
        receive(bn_str_make(r->element[2]->str, r->element[2]->len));
    } else if (strcmp(kind, "subscribe") == 0) {
        rd.sub.ready = true;
        check_up();
    }
}

/* Opens one connection and queues its setup: AUTH, SELECT, then SUBSCRIBE or PING. */
static bool conn_open(rconn *c, bool subscriber)
{
    redisAsyncContext *ac = redisAsyncConnect(rd.host, (int)rd.port);
    if (!ac || ac->err) {
        note_reason(ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        return false;
    }
    if (bn_io_start(adapter_loop(), &c->io, ac->c.fd, BN_IO_READ | BN_IO_WRITE, conn_io) < 0) {
        note_reason("cannot watch the socket");
        redisAsyncFree(ac);
        return false;
    }
    c->ac = ac;
    c->ready = c->want_write = c->hup = false;
    ac->ev.data = c;
    ac->ev.addRead = ev_nop;
    ac->ev.delRead = ev_nop;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisEnableKeepAlive(&ac->c);
    if (rd.password && rd.user)
        redisAsyncCommand(ac, on_setup_reply, (void *)"AUTH", "AUTH %s %s", rd.user, rd.password);
    else if (rd.password)
        redisAsyncCommand(ac, on_setup_reply, (void *)"AUTH", "AUTH %s", rd.password);
    if (rd.db)
        redisAsyncCommand(ac, on_setup_reply, (void *)"SELECT", "SELECT %u", rd.db);
    if (subscriber)
        redisAsyncCommand(ac, on_subscription, NULL, "SUBSCRIBE %s", rd.channel);
    else
        redisAsyncCommand(ac, on_pong, NULL, "PING");
    return true;
}

static void retry_cb(bn_timer *t)
{
    (void)t;
    rd.state = CONNECTING;
    rd.reason[0] = '\0';
    bn_timer_start(adapter_loop(), &rd.deadline, CONNECT_TIMEOUT_MS);
    if (!conn_open(&rd.sub, true) || !conn_open(&rd.pub, false))
        fail(NULL);
}

/* ---- publishing ------------------------------------------------------------------------ */

typedef struct outgoing {
    bn_msg msg;
    bn_buf envelope;
} outgoing;

/* On the adapter's thread: one PUBLISH, written with the others of this turn. */
static void send_outgoing(bn_msg *m)
{
    outgoing *o = bn_container_of(m, outgoing, msg);
    redisAsyncContext *ac = rd.pub.ac;
    if (rd.state == UP && ac) {
        if (sdslen(ac->c.obuf) > MAX_BACKLOG) {
            if (!rd.backlog_logged)
                bn_warn("pubsub: redis at %s:%u takes publishes slower than they come; dropping until it catches up",
                        rd.host, rd.port);
            rd.backlog_logged = true;
        } else {
            const char *argv[3] = {"PUBLISH", rd.channel, o->envelope.data};
            size_t lens[3] = {7, strlen(rd.channel), o->envelope.len};
            redisAsyncCommandArgv(ac, NULL, NULL, 3, argv, lens);
        }
    }
    bn_buf_free(&o->envelope);
    free(o);
}

static void redis_publish(const char *target, const char *topic, const char *event, bool binary, bn_str payload)
{
    bn_loop *loop = adapter_loop();
    if (!loop)
        return;
    outgoing *o = bn_xcalloc(1, sizeof *o);
    bn__pubsub_envelope_encode(&o->envelope, bn_pubsub_node(), target, topic, event, binary, payload);
    o->msg.run = send_outgoing;
    bn_loop_post(loop, &o->msg);
}

/* ---- the adapter's thread --------------------------------------------------------------- */

static void *adapter_main(void *arg)
{
    (void)arg;
    bn_loop *loop = bn_loop_new();
    bn_timer_init(&rd.flush, flush_cb);
    bn_timer_init(&rd.teardown, teardown_cb);
    bn_timer_init(&rd.retry, retry_cb);
    bn_timer_init(&rd.deadline, deadline_cb);
    bn_timer_init(&rd.sub.more, more_cb);
    bn_timer_init(&rd.pub.more, more_cb);
    rd.backoff_ms = BACKOFF_MIN_MS;
    rd.me = bn_str_from_cstr(bn_pubsub_node()); /* a worker names itself before it starts us */
    pthread_mutex_lock(&rd.lock);
    atomic_store(&rd.loop, loop);
    pthread_cond_broadcast(&rd.started);
    pthread_mutex_unlock(&rd.lock);
    retry_cb(&rd.retry);
    bn_loop_run(loop);
    return NULL;
}

static void redis_start(void)
{
    if (!rd.configured || atomic_load_explicit(&rd.loop, memory_order_acquire))
        return; /* the common case: every publish passes here */
    pthread_mutex_lock(&rd.lock);
    if (atomic_load(&rd.running)) { /* another thread is starting it: wait for its loop */
        while (!atomic_load(&rd.loop))
            pthread_cond_wait(&rd.started, &rd.lock);
        pthread_mutex_unlock(&rd.lock);
        return;
    }
    /* Marked running before the thread exists: the thread itself may call here (Presence, once
     * connected) before this one wakes up, and must not start a second adapter. */
    atomic_store(&rd.running, true);
    /* Afresh, also in a process forked from one whose adapter ran (its thread did not follow). */
    rd.state = DOWN;
    rd.sub = rd.pub = (rconn){0};
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals are for the serving threads */
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int err = pthread_create(&thread, &attr, adapter_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        bn_fatal("pubsub: cannot start the redis adapter's thread: %s", strerror(err));
    while (!atomic_load(&rd.loop))
        pthread_cond_wait(&rd.started, &rd.lock);
    pthread_mutex_unlock(&rd.lock);
}

bn_loop *bn__pubsub_loop(void)
{
    if (!rd.configured)
        return NULL;
    redis_start();
    return adapter_loop();
}

const bn__pubsub_adapter bn__redis_adapter = {
    .name = "redis",
    .configure = redis_configure,
    .start = redis_start,
    .up = redis_up,
    .publish = redis_publish,
};
