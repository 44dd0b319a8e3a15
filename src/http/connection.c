/*
 * The HTTP/1.1 connection state machine.
 *
 * Reads land in the thread's scratch buffer; every complete request in it is
 * parsed in place and handed to the handler in a task. Only the unparsed
 * tail of a read (a partial request, or the requests queued behind a handler
 * that suspended) is copied into the connection's own buffer, so an idle
 * connection owns no buffer at all. Responses of one batch are queued and
 * leave in a single writev() when the batch is done.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <unistd.h>

#include "http/http_internal.h"

static void conn_io(bn_io *io, unsigned events);
static void conn_timeout(bn_timer *t);
static void on_readable(bn_http_conn *hc);
static void after_output(bn_http_conn *hc);
static void abandon_exchange(bn_http_conn *hc);

/* ---- life cycle ----------------------------------------------------------- */

void bn__http_accept(bn_http_thread *thr, int fd, const struct sockaddr_storage *peer, socklen_t peer_len)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    bn_http_conn *hc = bn_xcalloc(1, sizeof(*hc));
    hc->thr = thr;
    hc->state = CONN_IDLE;
    memcpy(&hc->peer, peer, BN_MIN((size_t)peer_len, sizeof hc->peer));
    bn_timer_init(&hc->timer, conn_timeout);
    if (bn_io_start(thr->loop, &hc->io, fd, BN_IO_READ | BN_IO_WRITE, conn_io) < 0) {
        close(fd);
        free(hc);
        return;
    }
    bn_list_push_back(&thr->conns, &hc->link);
    thr->nconns++;
    /* A new connection must send its first head within the header timeout. */
    bn_timer_start(thr->loop, &hc->timer, thr->cfg->limits.header_timeout_ms);
}

static void conn_free(bn_timer *t)
{
    bn_http_conn *hc = bn_container_of(t, bn_http_conn, timer);
    bn_http_thread *thr = hc->thr;
    free(hc);
    thr->nconns--; /* counted until freed, so that a drain waits for this turn too */
    bn__http_conn_gone(thr);
}

/* Closes the socket now; the struct goes at the next loop turn, because an
 * event for it may still sit in the current epoll batch. A connection whose
 * handler is suspended is freed when the handler returns. */
static void close_now(bn_http_conn *hc)
{
    if (hc->io.fd < 0)
        return;
    bn_io_stop(hc->thr->loop, &hc->io);
    close(hc->io.fd);
    hc->io.fd = -1;
    bn_list_remove(&hc->link);
    bn__out_discard(hc);
    if (hc->write_waiter)
        bn_task_wake(hc->write_waiter); /* it will see the closed fd */
    if (hc->stream) { /* an upgraded connection: its handler's last callback */
        const bn_stream_handler *h = hc->stream;
        hc->stream = NULL;
        h->on_close((bn_stream *)hc, hc->stream_user);
    }
    if (hc->state == CONN_HANDLING)
        return;
    hc->state = CONN_CLOSED;
    bn_buf_free(&hc->in);
    abandon_exchange(hc);
    hc->timer.cb = conn_free;
    bn_timer_start(hc->thr->loop, &hc->timer, 0);
}

/* Drops the exchange of a request that will never reach its handler (an
 * error, a timeout, a close), running its deferred cleanups first. */
static void abandon_exchange(bn_http_conn *hc)
{
    if (hc->ex)
        bn__exchange_run_deferred(hc->ex);
    hc->ex = NULL;
    hc->sink = NULL;
    bn_arena_reset(&hc->arena);
}

/* ---- timers --------------------------------------------------------------- */

/* Arms the timer that guards the current state. */
static void arm_state_timer(bn_http_conn *hc)
{
    const bn_http_limits *lim = &hc->thr->cfg->limits;
    unsigned ms = 0;
    hc->write_timer = false;
    switch (hc->state) {
    case CONN_IDLE: ms = lim->keepalive_timeout_ms; break;
    case CONN_HEAD: ms = lim->header_timeout_ms; break;
    case CONN_BODY: ms = lim->body_timeout_ms; break;
    case CONN_LINGER: ms = BN_HTTP_LINGER_MS; break;
    case CONN_HANDLING: /* the handler's time is its own business */
    case CONN_UPGRADED: /* the stream handler keeps its own time */
    case CONN_CLOSED: bn_timer_stop(&hc->timer); return;
    }
    bn_timer_start(hc->thr->loop, &hc->timer, ms);
}

/* Moves to `state`. The head timer is armed once, so a slow client cannot
 * extend it byte by byte; the body timer restarts on every bit of progress. */
static void enter(bn_http_conn *hc, bn_conn_state state)
{
    bool changed = hc->state != state;
    hc->state = state;
    if ((changed || state == CONN_BODY) && !hc->write_timer)
        arm_state_timer(hc);
}

static void stream_settle(bn_http_conn *hc);

static void conn_timeout(bn_timer *t)
{
    bn_http_conn *hc = bn_container_of(t, bn_http_conn, timer);
    if (hc->state == CONN_UPGRADED && !hc->write_timer) { /* a close the stream asked for */
        if (hc->broken)
            close_now(hc);
        else
            stream_settle(hc);
        return;
    }
    if (hc->write_timer || hc->state == CONN_IDLE || hc->state == CONN_LINGER) {
        close_now(hc);
        return;
    }
    /* A head or body that is too slow: tell the client, then close. */
    abandon_exchange(hc);
    bn_buf_free(&hc->in);
    bn__http_write_error(hc, 408);
    if (bn__out_flush(hc) < 0) {
        close_now(hc);
        return;
    }
    after_output(hc);
}

/* ---- requests ------------------------------------------------------------- */

static void run_handler(void *arg)
{
    bn_conn *c = arg;
    const bn_server_config *cfg = c->hc->thr->cfg;
    bn__exchange_run(c, cfg->handler, cfg->error_renderer);
}

/* The response of the current exchange is complete: serialise, free its memory. */
static void finish_exchange(bn_http_conn *hc)
{
    hc->served++;
    bn__exchange_run_deferred(hc->ex);
    bn__exchange_finish(hc->ex);
    const bn_stream_handler *upgrade = hc->ex->upgrade;
    hc->stream_user = hc->ex->upgrade_user;
    hc->ex = NULL;
    bn_arena_reset(&hc->arena);
    if (upgrade && !hc->close_after_flush && hc->io.fd >= 0) {
        hc->stream = upgrade;
        enter(hc, CONN_UPGRADED);
        return;
    }
    if (upgrade) /* the connection will not carry it (closing, draining): let it free its state */
        upgrade->on_close((bn_stream *)hc, hc->stream_user);
    enter(hc, CONN_IDLE);
}

static void fail(bn_http_conn *hc, int status)
{
    abandon_exchange(hc);
    bn__http_write_error(hc, status);
}

static size_t process(bn_http_conn *hc, char *data, size_t *len);
static void keep_input(bn_http_conn *hc, char *data, size_t len, size_t consumed, bool from_scratch);

/* A handler that had suspended has returned (on the loop's native stack). */
static void handler_done(void *arg)
{
    bn_http_conn *hc = arg;
    size_t raw = hc->ex->raw_len;
    finish_exchange(hc);
    if (hc->local) { /* an in-process request: its caller takes the output */
        bn_loop_stop(hc->thr->loop);
        return;
    }
    if (hc->io.fd < 0) { /* the connection broke while the handler ran */
        bn__out_discard(hc);
        bn_buf_free(&hc->in);
        bn_arena_destroy(&hc->arena);
        hc->state = CONN_CLOSED;
        hc->timer.cb = conn_free;
        bn_timer_start(hc->thr->loop, &hc->timer, 0);
        return;
    }
    /* The request (and anything pipelined behind it) was moved to hc->in. */
    size_t rest = hc->in.len - raw;
    size_t consumed = raw + process(hc, hc->in.data + raw, &rest);
    keep_input(hc, hc->in.data, raw + rest, consumed, false);
    if (bn__out_flush(hc) < 0) {
        close_now(hc);
        return;
    }
    if (hc->state == CONN_UPGRADED)
        hc->read_pending = true; /* what followed the handshake, and what the kernel holds */
    after_output(hc);
}

static void dispatch(bn_http_conn *hc)
{
    bn_task *t = bn__task_new(hc->thr->loop, run_handler, hc->ex);
    enter(hc, CONN_HANDLING);
    if (bn__task_run(t, handler_done, hc))
        finish_exchange(hc);
}

/* Parses the head at p; on success sets up hc->ex. Returns false to stop. */
static bool start_exchange(bn_http_conn *hc, const char *p, size_t avail)
{
    bn_http_thread *thr = hc->thr;
    bn_http_request req;
    ssize_t r = bn_http_parse_request(p, avail, &req, thr->parse_headers, &thr->parse_limits);
    if (r == BN_HTTP_INCOMPLETE) {
        enter(hc, CONN_HEAD);
        return false;
    }
    if (r < 0) {
        fail(hc, (int)-r);
        return false;
    }
    bn_conn *c = bn__exchange_new(hc);
    c->req = req;
    c->req.headers = bn_arena_alloc(&hc->arena, req.nheaders * sizeof(bn_header));
    memcpy(c->req.headers, thr->parse_headers, req.nheaders * sizeof(bn_header));
    hc->ex = c;
    hc->head_len = (size_t)r;
    hc->continue_sent = false;
    memset(&hc->chunked, 0, sizeof hc->chunked);
    hc->sink = NULL;
    hc->sink_fed = 0;
    const bn_http_limits *lim = &thr->cfg->limits;
    if (thr->cfg->body_sink && req.has_content_length && req.content_length > 0 && !req.chunked)
        hc->sink = thr->cfg->body_sink(c);
    if (req.has_content_length && req.content_length > (hc->sink ? lim->max_streamed_body : lim->max_body)) {
        fail(hc, 413);
        return false;
    }
    return true;
}

static void send_continue(bn_http_conn *hc)
{
    if (hc->ex->req.expect_continue && !hc->continue_sent && hc->ex->req.version_minor >= 1) {
        bn__out_append(hc, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        hc->continue_sent = true;
    }
}

static int sink_refused(bn_http_conn *hc)
{
    int status = hc->sink->status ? hc->sink->status : 400;
    fail(hc, status >= 400 && status <= 599 ? status : 400);
    return -1;
}

/*
 * Gives the body bytes that have arrived (region[0..ravail)) to the sink and
 * drops them from the input, so a streamed body never piles up in memory.
 * Same results as take_body.
 */
static int stream_body(bn_http_conn *hc, char *region, size_t ravail, size_t *avail)
{
    bn_conn *c = hc->ex;
    uint64_t need = c->req.content_length - hc->sink_fed;
    size_t n = (size_t)BN_MIN((uint64_t)ravail, need);
    if (n) {
        if (hc->sink->feed(hc->sink, region, n) < 0)
            return sink_refused(hc);
        hc->sink_fed += n;
        memmove(region, region + n, ravail - n);
        *avail -= n;
    }
    if (hc->sink_fed < c->req.content_length)
        return 0;
    if (hc->sink->finish(hc->sink) < 0)
        return sink_refused(hc);
    hc->sink = NULL;
    c->body = bn_str_make(region, 0);
    c->raw_len = hc->head_len;
    return 1;
}

/*
 * Looks for the body of hc->ex in p[0..*avail) (p is the start of the request).
 * Returns 1 when complete (body and raw_len set), 0 when more is needed, -1
 * after an error response. A partial chunked body is compacted in place, so
 * *avail may shrink.
 */
static int take_body(bn_http_conn *hc, char *p, size_t *avail)
{
    bn_conn *c = hc->ex;
    char *region = p + hc->head_len;
    size_t ravail = *avail - hc->head_len;
    if (hc->sink)
        return stream_body(hc, region, ravail, avail);
    if (!c->req.chunked) {
        uint64_t cl = c->req.has_content_length ? c->req.content_length : 0;
        if (ravail < cl)
            return 0;
        c->body = bn_str_make(region, (size_t)cl);
        c->raw_len = hc->head_len + (size_t)cl;
        return 1;
    }
    const bn_http_limits *lim = &hc->thr->cfg->limits;
    int r = bn_http_chunked_decode(&hc->chunked, region, ravail, lim->max_body, lim->max_request_line);
    if (r < 0) {
        fail(hc, -r);
        return -1;
    }
    if (r == 1) {
        c->body = bn_str_make(region, (size_t)hc->chunked.decoded);
        c->raw_len = hc->head_len + hc->chunked.consumed;
        return 1;
    }
    /* Drop the gap between decoded data and the raw bytes still to decode. */
    size_t gap = hc->chunked.consumed - (size_t)hc->chunked.decoded;
    if (gap) {
        memmove(region + hc->chunked.decoded, region + hc->chunked.consumed, ravail - hc->chunked.consumed);
        hc->chunked.consumed = (size_t)hc->chunked.decoded;
        *avail -= gap;
    }
    return 0;
}

/*
 * Handles every complete request in data[0..*len). Returns the bytes fully
 * consumed. Stops at a partial request, a suspended handler, an error, or
 * when too much output waits.
 */
static size_t process(bn_http_conn *hc, char *data, size_t *len)
{
    size_t off = 0;
    while (off < *len && !hc->close_after_flush && hc->state != CONN_HANDLING && hc->state != CONN_UPGRADED &&
           hc->out_pending < BN_HTTP_OUT_HIGH_WATER) {
        char *p = data + off;
        size_t avail = *len - off;
        if (!hc->ex && !start_exchange(hc, p, avail))
            break;
        int r = take_body(hc, p, &avail);
        *len = off + avail;
        if (r < 0)
            break;
        if (r == 0) {
            send_continue(hc);
            enter(hc, CONN_BODY);
            break;
        }
        size_t raw = hc->ex->raw_len;
        dispatch(hc);
        if (hc->state == CONN_HANDLING)
            break; /* suspended: the request stays in the input until it finishes */
        off += raw;
    }
    if (hc->close_after_flush && !hc->ex)
        return *len; /* an error or a last response: nothing after it will be read */
    return off;
}

/* Keeps data[consumed..len) for later in hc->in, fixing up the slices of a
 * pending or suspended exchange that point into it. */
static void keep_input(bn_http_conn *hc, char *data, size_t len, size_t consumed, bool from_scratch)
{
    size_t rest = len - consumed;
    char *tail = data + consumed;
    if (from_scratch) {
        if (rest) {
            bn_buf_append(&hc->in, tail, rest);
            if (hc->ex)
                bn__exchange_rebase(hc->ex, tail, rest, bn__ptr_delta(hc->in.data, tail));
        }
    } else {
        hc->in.len = len;
        if (consumed) {
            if (hc->ex)
                bn__exchange_rebase(hc->ex, tail, rest, -(ptrdiff_t)consumed);
            bn_buf_consume(&hc->in, consumed);
        }
    }
    if (hc->in.len == 0)
        bn_buf_free(&hc->in); /* idle connections own no buffer */
}

/* How much to read into hc->in next. */
static size_t read_room(bn_http_conn *hc)
{
    size_t room = 16 * 1024;
    bn_conn *c = hc->ex;
    if (hc->sink) {
        room = 64 * 1024; /* the body goes to the sink: no need to make room for it all */
    } else if (c && !c->req.chunked && c->req.has_content_length) {
        uint64_t need = hc->head_len + c->req.content_length;
        if (need > hc->in.len)
            room = BN_MAX(room, BN_MIN((size_t)(need - hc->in.len), (size_t)1 << 20));
    }
    const char *old = hc->in.data;
    bn_buf_reserve(&hc->in, room);
    if (hc->ex && hc->in.data != old) /* the pending head moved with the buffer */
        bn__exchange_rebase(hc->ex, old, hc->in.len, bn__ptr_delta(hc->in.data, old));
    return room;
}

static void discard_input(bn_http_conn *hc)
{
    for (;;) {
        ssize_t n = read(hc->io.fd, hc->thr->scratch, BN_HTTP_SCRATCH_SIZE);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || errno != EAGAIN)
            close_now(hc);
        return;
    }
}

static void stream_readable(bn_http_conn *hc);

static void on_readable(bn_http_conn *hc)
{
    if (hc->state == CONN_LINGER) {
        discard_input(hc);
        return;
    }
    if (hc->state == CONN_UPGRADED) {
        stream_readable(hc);
        return;
    }
    if (hc->state == CONN_HANDLING || hc->close_after_flush || hc->out_pending >= BN_HTTP_OUT_HIGH_WATER) {
        hc->read_pending = true; /* edge-triggered: remember, resume later */
        return;
    }
    hc->read_pending = false;
    for (;;) {
        bool from_scratch = hc->in.len == 0;
        size_t room = from_scratch ? BN_HTTP_SCRATCH_SIZE : read_room(hc);
        char *dst = from_scratch ? hc->thr->scratch : hc->in.data + hc->in.len;
        ssize_t n = read(hc->io.fd, dst, room);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            close_now(hc);
            return;
        }
        if (n == 0) { /* peer closed: what was complete has been answered */
            hc->peer_eof = true;
            if (bn__out_flush(hc) < 0 || !hc->want_write) {
                close_now(hc);
                return;
            }
            hc->close_after_flush = true;
            break;
        }
        char *data = from_scratch ? dst : hc->in.data;
        size_t len = from_scratch ? (size_t)n : hc->in.len + (size_t)n;
        if (!from_scratch)
            hc->in.len = len;
        size_t consumed = process(hc, data, &len);
        keep_input(hc, data, len, consumed, from_scratch);
        if (hc->io.fd < 0)
            return;
        if (hc->state == CONN_UPGRADED) { /* the handshake's answer first, then the frames */
            hc->read_pending = true;
            break;
        }
        if (hc->state == CONN_HANDLING || hc->close_after_flush || hc->out_pending >= BN_HTTP_OUT_HIGH_WATER) {
            hc->read_pending = true;
            break;
        }
        if ((size_t)n < room && !hc->peer_hup)
            break; /* drained: the next arrival raises a new edge (a FIN already seen would not) */
    }
    if (bn__out_flush(hc) < 0) {
        close_now(hc);
        return;
    }
    after_output(hc);
}

/* After a flush attempt: arm the right timer, close or continue reading. */
static void after_output(bn_http_conn *hc)
{
    if (hc->io.fd < 0)
        return;
    if (hc->want_write) {
        if (!hc->write_timer) { /* armed once: it measures lack of progress */
            hc->write_timer = true;
            bn_timer_start(hc->thr->loop, &hc->timer, hc->thr->cfg->limits.write_timeout_ms);
        }
        return;
    }
    if (hc->close_after_flush && hc->state != CONN_HANDLING && !hc->ex) {
        if (hc->peer_eof) {
            close_now(hc);
            return;
        }
        /* Lingering close: stop sending, read what the client still sends, so
         * that the kernel does not answer it with a reset that could destroy
         * the response in flight. */
        shutdown(hc->io.fd, SHUT_WR);
        bn_buf_free(&hc->in);
        enter(hc, CONN_LINGER);
        discard_input(hc);
        return;
    }
    if (hc->write_timer || hc->state == CONN_IDLE)
        arm_state_timer(hc); /* keep-alive counts from the last response */
    if (hc->read_pending && hc->state != CONN_HANDLING)
        on_readable(hc);
}

static void conn_io(bn_io *io, unsigned events)
{
    bn_http_conn *hc = bn_container_of(io, bn_http_conn, io);
    if (hc->io.fd < 0 || hc->state == CONN_CLOSED)
        return;
    if (events & BN_IO_HUP)
        hc->peer_hup = true;
    if ((events & BN_IO_WRITE) && hc->write_waiter) {
        bn_task_wake(hc->write_waiter); /* the streaming handler flushes itself */
        events &= ~(unsigned)BN_IO_WRITE;
    }
    if ((events & BN_IO_WRITE) && hc->out_head) {
        if (bn__out_flush(hc) < 0) {
            close_now(hc);
            return;
        }
        after_output(hc);
        if (hc->io.fd < 0)
            return;
    }
    if (events & BN_IO_READ)
        on_readable(hc);
}

int bn__conn_flush_from_task(bn_http_conn *hc)
{
    if (hc->local)
        return 0; /* an in-process request: the caller collects the output */
    for (;;) {
        if (hc->io.fd < 0)
            return -1;
        if (bn__out_flush(hc) < 0) {
            close_now(hc);
            return -1;
        }
        if (!hc->want_write)
            return 0;
        if (!hc->write_timer) {
            hc->write_timer = true;
            bn_timer_start(hc->thr->loop, &hc->timer, hc->thr->cfg->limits.write_timeout_ms);
        }
        hc->write_waiter = bn_task_self();
        bn_task_suspend();
        hc->write_waiter = NULL;
    }
}

/* ---- graceful drain -------------------------------------------------------- */

/* Process-wide hook lists (bn_http_on_drain, bn_http_on_worker_start). */
#define MAX_HOOKS 8
typedef struct hook_list {
    pthread_mutex_t lock;
    void (*fns[MAX_HOOKS])(void);
    unsigned n;
} hook_list;

static hook_list drain_hooks = {.lock = PTHREAD_MUTEX_INITIALIZER};
static hook_list worker_hooks = {.lock = PTHREAD_MUTEX_INITIALIZER};
static bool worker_running; /* under worker_hooks.lock */

static void hooks_add(hook_list *l, void (*fn)(void), const char *what)
{
    bool known = false;
    for (unsigned i = 0; i < l->n; i++)
        known |= l->fns[i] == fn;
    if (!known && l->n < MAX_HOOKS)
        l->fns[l->n++] = fn;
    else if (!known)
        bn_error("%s: more than %d hooks", what, MAX_HOOKS);
}

static void hooks_run(hook_list *l)
{
    pthread_mutex_lock(&l->lock);
    unsigned n = l->n;
    void (*fns[MAX_HOOKS])(void);
    memcpy(fns, l->fns, sizeof fns);
    pthread_mutex_unlock(&l->lock);
    for (unsigned i = 0; i < n; i++)
        fns[i]();
}

void bn_http_on_drain(void (*fn)(void))
{
    pthread_mutex_lock(&drain_hooks.lock);
    hooks_add(&drain_hooks, fn, "bn_http_on_drain");
    pthread_mutex_unlock(&drain_hooks.lock);
}

bool bn_http_on_worker_start(void (*fn)(void))
{
    pthread_mutex_lock(&worker_hooks.lock);
    hooks_add(&worker_hooks, fn, "bn_http_on_worker_start");
    bool running = worker_running;
    pthread_mutex_unlock(&worker_hooks.lock);
    return running;
}

void bn__http_worker_started(void)
{
    /* Snapshot and mark in one step: a hook registered later starts by itself, none runs twice. */
    pthread_mutex_lock(&worker_hooks.lock);
    hook_list l = {.n = worker_hooks.n};
    memcpy(l.fns, worker_hooks.fns, sizeof l.fns);
    worker_running = true;
    pthread_mutex_unlock(&worker_hooks.lock);
    for (unsigned i = 0; i < l.n; i++)
        l.fns[i]();
}

void bn__http_drain_conns(bn_http_thread *thr)
{
    hooks_run(&drain_hooks);
    bn_list *n = thr->conns.next;
    while (n != &thr->conns) {
        bn_http_conn *hc = bn_container_of(n, bn_http_conn, link);
        n = n->next; /* close_now unlinks hc */
        /* A connection that has not sent its first request yet is not idle:
         * its client is about to send one. It gets an answer (with
         * "connection: close", like every response from now on). */
        if (hc->state == CONN_IDLE && hc->served > 0 && !hc->out_head && hc->in.len == 0)
            close_now(hc);
        else if (hc->state == CONN_IDLE && hc->served > 0)
            hc->close_after_flush = true;
        else if (hc->state == CONN_UPGRADED && hc->stream && hc->stream->on_drain)
            hc->stream->on_drain((bn_stream *)hc, hc->stream_user);
    }
}

/* ---- upgraded connections (bn_stream) ------------------------------------------ */

bn_stream *bn_conn_upgrade(bn_conn *c, const bn_stream_handler *h, void *user)
{
    if (c->hc->local) {
        bn_error("bn_conn_upgrade: an in-process request has no connection to hand over");
        return NULL;
    }
    c->upgrade = h;
    c->upgrade_user = user;
    return (bn_stream *)c->hc;
}

/* Gives data[0..len) to the stream handler and keeps what it did not consume. */
static void stream_offer(bn_http_conn *hc, char *data, size_t len, bool from_scratch)
{
    hc->in_stream_cb = true;
    size_t consumed = hc->stream->on_data((bn_stream *)hc, hc->stream_user, data, len);
    hc->in_stream_cb = false;
    keep_input(hc, data, len, BN_MIN(consumed, len), from_scratch);
}

static bool stream_blocked(const bn_http_conn *hc)
{
    return hc->stream_paused || hc->close_after_flush || hc->io.fd < 0 || !hc->stream;
}

/* Reads and offers input until the kernel has no more or the handler pauses. */
static void stream_readable(bn_http_conn *hc)
{
    if (stream_blocked(hc)) {
        hc->read_pending = true;
        return;
    }
    hc->read_pending = false;
    if (hc->in.len) /* kept from before a pause, or sent right behind the handshake */
        stream_offer(hc, hc->in.data, hc->in.len, false);
    while (!stream_blocked(hc)) {
        bool from_scratch = hc->in.len == 0;
        size_t room = BN_HTTP_SCRATCH_SIZE;
        if (!from_scratch)
            bn_buf_reserve(&hc->in, room = 16 * 1024);
        char *dst = from_scratch ? hc->thr->scratch : hc->in.data + hc->in.len;
        ssize_t n = read(hc->io.fd, dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) { /* the peer is gone: nothing more can be said to it */
            close_now(hc);
            return;
        }
        if (from_scratch) {
            stream_offer(hc, dst, (size_t)n, true);
        } else {
            hc->in.len += (size_t)n;
            stream_offer(hc, hc->in.data, hc->in.len, false);
        }
        if ((size_t)n < room && !hc->peer_hup)
            break;
    }
    if (hc->io.fd >= 0 && stream_blocked(hc))
        hc->read_pending = true;
    stream_settle(hc);
}

/* Writes what is queued, then closes, arms the write timer or reads on. */
static void stream_settle(bn_http_conn *hc)
{
    if (hc->io.fd < 0)
        return;
    if (bn__out_flush(hc) < 0) {
        close_now(hc);
        return;
    }
    after_output(hc);
}

/* Defers work on the stream to the next loop turn (from a task, a callback
 * or a broadcast, where closing now would pull the connection from under the caller). */
static void stream_later(bn_http_conn *hc)
{
    if (hc->write_timer)
        return; /* the write timer's own turn comes; a broken write is seen there */
    bn_timer_start(hc->thr->loop, &hc->timer, 0);
}

static bool stream_writable(const bn_http_conn *hc)
{
    return hc->io.fd >= 0 && hc->state == CONN_UPGRADED && !hc->close_after_flush && !hc->broken;
}

void bn_stream_write(bn_stream *s, const void *data, size_t len)
{
    bn_http_conn *hc = (bn_http_conn *)s;
    if (stream_writable(hc))
        bn__out_append(hc, data, len);
}

void bn_stream_write_shared(bn_stream *s, bn_shared *sh, size_t off, size_t len)
{
    bn_http_conn *hc = (bn_http_conn *)s;
    if (!stream_writable(hc))
        return;
    size_t done = 0;
    if (!hc->out_head) { /* nothing queued: straight to the kernel, no reference kept */
        ssize_t w;
        do
            w = write(hc->io.fd, sh->data + off, len);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN) {
            hc->broken = true;
            stream_later(hc);
            return;
        }
        done = w > 0 ? (size_t)w : 0;
        if (done == len)
            return;
    }
    bn__out_shared(hc, sh, off + done, len - done);
    if (!hc->in_stream_cb && bn_stream_flush(s) < 0)
        return;
}

int bn_stream_flush(bn_stream *s)
{
    bn_http_conn *hc = (bn_http_conn *)s;
    if (hc->io.fd < 0 || hc->broken)
        return -1;
    if (hc->in_stream_cb)
        return 0; /* the batch's flush follows */
    if (bn__out_flush(hc) < 0) {
        hc->broken = true;
        stream_later(hc);
        return -1;
    }
    if (hc->want_write && !hc->write_timer) {
        hc->write_timer = true;
        bn_timer_start(hc->thr->loop, &hc->timer, hc->thr->cfg->limits.write_timeout_ms);
    }
    return 0;
}

size_t bn_stream_pending(const bn_stream *s) { return ((const bn_http_conn *)s)->out_pending; }

void bn_stream_pause(bn_stream *s) { ((bn_http_conn *)s)->stream_paused = true; }

void bn_stream_resume(bn_stream *s)
{
    bn_http_conn *hc = (bn_http_conn *)s;
    hc->stream_paused = false;
    if (!hc->in_stream_cb && hc->state == CONN_UPGRADED && (hc->read_pending || hc->in.len))
        stream_readable(hc);
}

void bn_stream_close(bn_stream *s)
{
    bn_http_conn *hc = (bn_http_conn *)s;
    if (hc->io.fd < 0 || hc->close_after_flush)
        return;
    hc->close_after_flush = true;
    if (!hc->in_stream_cb) /* else the batch's end settles it */
        stream_later(hc);
}

void bn_stream_abort(bn_stream *s)
{
    bn_http_conn *hc = (bn_http_conn *)s;
    if (hc->io.fd < 0)
        return;
    hc->broken = true;
    hc->write_timer = false; /* the next turn closes, whatever the timer was measuring */
    bn_timer_start(hc->thr->loop, &hc->timer, 0);
}

const char *bn_stream_remote_ip(bn_stream *s)
{
    static _Thread_local char text[INET6_ADDRSTRLEN];
    const bn_peer_addr *peer = &((bn_http_conn *)s)->peer;
    strcpy(text, "unknown");
    if (peer->sa.sa_family == AF_INET)
        inet_ntop(AF_INET, &peer->in.sin_addr, text, sizeof text);
    else if (peer->sa.sa_family == AF_INET6)
        inet_ntop(AF_INET6, &peer->in6.sin6_addr, text, sizeof text);
    return text;
}

bn_loop *bn_stream_loop(bn_stream *s) { return ((bn_http_conn *)s)->thr->loop; }

/* ---- in-process requests (no socket) ---------------------------------------- */

static _Thread_local bn_http_thread *local_thread;

static bn_http_thread *local_thread_for(const bn_server_config *cfg)
{
    if (!local_thread) {
        bn_http_thread *thr = bn_xcalloc(1, sizeof(*thr));
        thr->loop = bn_loop_current() ? bn_loop_current() : bn_loop_new();
        thr->scratch = bn_xmalloc(BN_HTTP_SCRATCH_SIZE);
        bn_list_init(&thr->conns);
        local_thread = thr;
    }
    bn_http_thread *thr = local_thread;
    thr->cfg = cfg;
    thr->parse_limits = (bn_http_parse_limits){cfg->limits.max_request_line, cfg->limits.max_header_bytes,
                                               cfg->limits.max_headers};
    thr->parse_headers = bn_xrealloc(thr->parse_headers, BN_MAX(cfg->limits.max_headers, (size_t)1) * sizeof(bn_header));
    return thr;
}

/* Appends what the exchange queued (bytes and files) to `out`. */
static void collect_output(bn_http_conn *hc, bn_buf *out)
{
    for (bn_out_seg *s = hc->out_head; s; s = s->next) {
        if (s->file_fd < 0) {
            bn_buf_append(out, s->buf.data + s->sent, s->buf.len - s->sent);
            continue;
        }
        char *dst = bn_buf_reserve(out, s->file_left);
        ssize_t n = pread(s->file_fd, dst, s->file_left, s->file_off);
        out->len += n > 0 ? (size_t)n : 0;
    }
}

int bn_http_local_request(const bn_server_config *cfg, bn_str request, bn_buf *response)
{
    bn_http_thread *thr = local_thread_for(cfg);
    bn_http_conn *hc = bn_xcalloc(1, sizeof(*hc));
    hc->thr = thr;
    hc->local = true;
    hc->io.fd = -1;
    hc->state = CONN_IDLE;
    hc->peer.in.sin_family = AF_INET;
    hc->peer.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bn_timer_init(&hc->timer, conn_timeout);

    bn_buf_append(&hc->in, request.ptr, request.len);
    size_t len = hc->in.len;
    size_t consumed = process(hc, hc->in.data, &len);
    keep_input(hc, hc->in.data, len, consumed, false);
    int rc = 0;
    if (hc->state == CONN_HANDLING)
        rc = bn_loop_run(thr->loop); /* the handler suspended: run until it is done */
    else if (hc->ex)
        rc = -1; /* an incomplete request */
    collect_output(hc, response);

    bn_timer_stop(&hc->timer);
    bn__out_discard(hc);
    bn_buf_free(&hc->in);
    bn_arena_destroy(&hc->arena);
    free(hc);
    return rc;
}
