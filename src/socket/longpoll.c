/*
 * The long-poll transport (PROTOCOLS.md §1, §2.4, §4), as the npm phoenix
 * client's LongPoll expects it: a GET opens a session (410 + token) or
 * collects its buffered messages (200, or 204 after the window), a POST
 * feeds it messages (one body, or up to 100 ndjson lines).
 *
 * Threads: a client's requests may reach any loop thread, but a session (its
 * bn_socket, buffer and timers) lives on the loop that opened it and is only
 * touched there. A process-wide table maps tokens to sessions; a request
 * looks up the owner loop, posts an lp_op there and waits on a mailbox of
 * its own for the answer (the same path when it is on the owner itself).
 * The owner looks the token up again, so an op for a session that has just
 * ended finds nothing (a POST gets 410, a GET a new session).
 *
 * An op belongs to the requesting task until it is posted; then whoever
 * finishes last frees it. The owner claims it (PENDING -> ANSWERED) before
 * answering; a requester that gives up first marks it ABANDONED and the
 * owner frees it when it would have answered. A claimed op is always
 * answered, so a requester that loses the race just waits for it.
 *
 * Where Bennu differs from Phoenix: a poll replaced by a newer one is
 * answered 204 at once (Phoenix lets it run out its window, then 204); a
 * malformed message is answered 400 and ends the session (Phoenix's session
 * crashes and the POST gets 408); a session that ends while a poll waits
 * answers it at once. Like Phoenix, ndjson lines past the 100th are
 * dropped, a POST is acknowledged once its messages were handled (a
 * suspended callback delays the answer; past the window, plus a grace for a
 * busy owner loop, the POST gets 408), and a GET with a stale token opens a
 * new session (410: the client, holding a token, reconnects).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bennu/crypto.h"
#include "bennu/value.h"
#include "bennu/web.h"
#include "socket/socket_internal.h"

#define LP_TOKEN_BYTES 16
#define LP_TOKEN_LEN 22              /* base64url of 16 bytes, unpadded */
#define LP_MAX_BATCH 100             /* messages handled per POST (Phoenix's @max_poll_batch_size) */
#define LP_DEFAULT_WINDOW_MS 10000
#define LP_GRACE_MS 2000             /* how late the owner may answer after the window [pubsub_timeout_ms] */
#define LP_UNKNOWN 0                 /* an op's answer when no session has its token */

/* ------------------------------------------------------------------------ */
/* Sessions and ops                                                           */

typedef enum { OP_POLL, OP_POST } lp_op_kind;
enum { OP_PENDING, OP_ANSWERED, OP_ABANDONED };

typedef struct lp_op {
    bn_msg msg;           /* posted to the owner loop, then sent back to `mb` with the answer */
    _Atomic(int) state;   /* OP_* */
    lp_op_kind kind;
    const bn_socket_def *def;
    char token[LP_TOKEN_LEN + 1];
    bn_mailbox *mb;       /* the requesting task's (on its stack): used only once claimed */
    bn_list link;         /* owner side: in the session's queue of POSTs */
    /* POST: its own copy of the body, and how far it was fed */
    char *body;
    size_t body_len;
    size_t pos;
    unsigned lines;
    bool ndjson;
    bn_buf binary;        /* the decoded binary message being handled */
    /* the answer */
    int status;
    bn_buf messages;      /* 200: the messages as JSON strings, comma-separated */
} lp_op;

typedef struct lp_session {
    struct lp_session *next;          /* hash chain (table.lock) */
    char token[LP_TOKEN_LEN + 1];     /* immutable while in the table, like loop and def */
    bn_loop *loop;                    /* the owner */
    const bn_socket_def *def;
    bn_socket *s;                     /* NULL while connecting and once ended */
    unsigned window_ms;
    bn_buf out;                       /* buffered messages as JSON strings, comma-separated */
    lp_op *poll;                      /* the GET waiting for messages */
    bn_list posts;                    /* POSTs in arrival order; the first is being fed */
    bool busy;                        /* a message's callback suspended: wait for resume */
    bool closing;                     /* ends at the next kick */
    bool draining;                    /* the server drains: channels end with "shutdown" */
    uint64_t last_poll;               /* when a poll last came or was answered */
    bn_timer poll_timer;              /* the waiting poll's window */
    bn_timer idle_timer;              /* 1.5 x window without a poll ends the session */
    bn_timer kick_timer;              /* 0 ms: hand the buffer to the poll, or end, outside the core's calls */
} lp_session;

static lp_op *op_new(lp_op_kind kind, const bn_socket_def *def, bn_str token)
{
    lp_op *op = bn_xcalloc(1, sizeof *op);
    atomic_init(&op->state, OP_PENDING);
    op->kind = kind;
    op->def = def;
    memcpy(op->token, token.ptr, LP_TOKEN_LEN);
    bn_list_init(&op->link);
    return op;
}

static void op_free(lp_op *op)
{
    free(op->body);
    bn_buf_free(&op->binary);
    bn_buf_free(&op->messages);
    free(op);
}

/* The owner takes the right to answer; false if the requester gave up (the op is then ours to free). */
static bool op_claim(lp_op *op)
{
    int expected = OP_PENDING;
    return atomic_compare_exchange_strong(&op->state, &expected, OP_ANSWERED);
}

static void op_answer(lp_op *op, int status)
{
    if (!op_claim(op)) {
        op_free(op);
        return;
    }
    op->status = status;
    bn_mailbox_send(op->mb, &op->msg);
}

static unsigned window_ms(const bn_socket_def *def)
{
    return def->longpoll_window_ms ? def->longpoll_window_ms : LP_DEFAULT_WINDOW_MS;
}

/* ------------------------------------------------------------------------ */
/* The token table (any thread)                                               */

static struct {
    pthread_mutex_t lock;
    lp_session **buckets;
    size_t nbuckets; /* a power of two, or 0 */
    size_t count;
} table = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t token_hash(const char *token)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < LP_TOKEN_LEN; i++)
        h = (h ^ (uint8_t)token[i]) * 1099511628211u;
    return (size_t)h;
}

static void table_grow(void)
{
    size_t n = table.nbuckets ? table.nbuckets * 2 : 64;
    lp_session **b = bn_xcalloc(n, sizeof *b);
    for (size_t i = 0; i < table.nbuckets; i++) {
        for (lp_session *ls = table.buckets[i], *next; ls; ls = next) {
            next = ls->next;
            size_t j = token_hash(ls->token) & (n - 1);
            ls->next = b[j];
            b[j] = ls;
        }
    }
    free(table.buckets);
    table.buckets = b;
    table.nbuckets = n;
}

static void table_insert(lp_session *ls)
{
    pthread_mutex_lock(&table.lock);
    if (table.count >= table.nbuckets)
        table_grow();
    size_t i = token_hash(ls->token) & (table.nbuckets - 1);
    ls->next = table.buckets[i];
    table.buckets[i] = ls;
    table.count++;
    pthread_mutex_unlock(&table.lock);
}

static void table_remove(lp_session *ls)
{
    pthread_mutex_lock(&table.lock);
    if (table.nbuckets) {
        for (lp_session **p = &table.buckets[token_hash(ls->token) & (table.nbuckets - 1)]; *p; p = &(*p)->next) {
            if (*p == ls) {
                *p = ls->next;
                table.count--;
                break;
            }
        }
    }
    pthread_mutex_unlock(&table.lock);
}

/* Called with the lock held. */
static lp_session *table_get(const char *token, const bn_socket_def *def)
{
    if (!table.nbuckets)
        return NULL;
    for (lp_session *ls = table.buckets[token_hash(token) & (table.nbuckets - 1)]; ls; ls = ls->next)
        if (ls->def == def && memcmp(ls->token, token, LP_TOKEN_LEN) == 0)
            return ls;
    return NULL;
}

/* Any thread: the loop that owns the session of `token`, or NULL. Only the loop may be used. */
static bn_loop *table_owner(const char *token, const bn_socket_def *def)
{
    pthread_mutex_lock(&table.lock);
    lp_session *ls = table_get(token, def);
    bn_loop *loop = ls ? ls->loop : NULL;
    pthread_mutex_unlock(&table.lock);
    return loop;
}

/* On the owner loop: the session itself. Only its owner frees it, so it stays valid here. */
static lp_session *table_find_own(const char *token, const bn_socket_def *def)
{
    pthread_mutex_lock(&table.lock);
    lp_session *ls = table_get(token, def);
    pthread_mutex_unlock(&table.lock);
    return ls && ls->loop == bn_loop_current() ? ls : NULL;
}

/* ------------------------------------------------------------------------ */
/* The session, on its owner loop                                             */

static void kick(lp_session *ls)
{
    if (ls->s && !bn_timer_active(&ls->kick_timer))
        bn_timer_start(ls->loop, &ls->kick_timer, 0);
}

/* Ends the session at the next kick: never from inside a call of the core. */
static void end_soon(lp_session *ls)
{
    ls->closing = true;
    kick(ls);
}

/* Answers the waiting poll: 200 hands it the buffer. */
static void answer_poll(lp_session *ls, int status)
{
    lp_op *op = ls->poll;
    ls->poll = NULL;
    bn_timer_stop(&ls->poll_timer);
    ls->last_poll = bn_loop_now(ls->loop);
    if (!op_claim(op)) { /* the client's request gave up: the messages wait for the next poll */
        op_free(op);
        return;
    }
    op->status = status;
    if (status == 200) {
        op->messages = ls->out;
        ls->out = (bn_buf)BN_BUF_INIT;
    }
    bn_mailbox_send(op->mb, &op->msg);
}

static void session_free(lp_session *ls)
{
    bn_buf_free(&ls->out);
    free(ls);
}

/*
 * The session is gone: the waiting poll gets what is buffered (then 410),
 * pending POSTs 410, and the socket's channels terminate.
 */
static void session_end(lp_session *ls, const char *reason)
{
    table_remove(ls);
    ls->closing = true;
    if (ls->poll)
        answer_poll(ls, ls->out.len ? 200 : 410);
    bn_list *n;
    while ((n = bn_list_pop_front(&ls->posts)))
        op_answer(bn_container_of(n, lp_op, link), 410);
    bn_timer_stop(&ls->poll_timer);
    bn_timer_stop(&ls->idle_timer);
    bn_timer_stop(&ls->kick_timer);
    bn_socket *s = ls->s;
    ls->s = NULL;
    bn_debug("longpoll: session %s ended (%s)", ls->token, reason);
    if (s)
        bn__socket_closed(s, ls->draining ? "shutdown" : "closed");
    session_free(ls);
}

/* The server drains: this thread's sessions end now, their polls answered
 * 410 so that clients reconnect (to the next server) at once. */
static void drain_sessions(void)
{
    bn_loop *loop = bn_loop_current();
    for (;;) {
        lp_session *mine = NULL;
        pthread_mutex_lock(&table.lock);
        for (size_t i = 0; i < table.nbuckets && !mine; i++)
            for (lp_session *ls = table.buckets[i]; ls && !mine; ls = ls->next)
                if (ls->loop == loop && ls->s)
                    mine = ls;
        pthread_mutex_unlock(&table.lock);
        if (!mine)
            return;
        mine->draining = true;
        session_end(mine, "shutdown");
    }
}

static void kick_cb(bn_timer *t)
{
    lp_session *ls = bn_container_of(t, lp_session, kick_timer);
    if (ls->closing)
        session_end(ls, "closed by the server");
    else if (ls->poll && ls->out.len)
        answer_poll(ls, 200);
}

static void poll_timer_cb(bn_timer *t) { answer_poll(bn_container_of(t, lp_session, poll_timer), 204); }

static void idle_timer_cb(bn_timer *t)
{
    lp_session *ls = bn_container_of(t, lp_session, idle_timer);
    uint64_t idle = (uint64_t)ls->window_ms * 3 / 2;
    uint64_t since = bn_loop_now(ls->loop) - ls->last_poll;
    if (ls->poll) /* a poll is waiting: the client is there */
        bn_timer_start(ls->loop, t, idle);
    else if (since >= idle)
        session_end(ls, "no poll");
    else
        bn_timer_start(ls->loop, t, idle - since);
}

static lp_session *session_new(const bn_socket_def *def)
{
    bn_http_on_drain(drain_sessions);
    lp_session *ls = bn_xcalloc(1, sizeof *ls);
    ls->loop = bn_loop_current();
    ls->def = def;
    ls->window_ms = window_ms(def);
    bn_list_init(&ls->posts);
    bn_timer_init(&ls->poll_timer, poll_timer_cb);
    bn_timer_init(&ls->idle_timer, idle_timer_cb);
    bn_timer_init(&ls->kick_timer, kick_cb);
    uint8_t raw[LP_TOKEN_BYTES];
    bn_random_bytes(raw, sizeof raw);
    bn_buf tok = BN_BUF_INIT;
    bn_base64url_encode(&tok, raw, sizeof raw, false);
    memcpy(ls->token, tok.data, LP_TOKEN_LEN);
    bn_buf_free(&tok);
    return ls;
}

/* ---- the transport --------------------------------------------------------- */

static lp_session *session_of(bn_socket *s) { return bn__socket_tdata(s); }

static void buffer(lp_session *ls, bn_str msg)
{
    if (ls->closing)
        return;
    if (ls->out.len)
        bn_buf_append(&ls->out, ",", 1);
    bn_json_encode_string(&ls->out, msg);
    if (ls->poll)
        kick(ls); /* at the next turn, so that messages sent together leave together */
}

static void lp_send(bn_socket *s, bn_str msg, bool binary)
{
    if (binary) {
        bn_debug("longpoll: a binary message cannot travel over long-poll; dropped");
        return;
    }
    buffer(session_of(s), msg);
}

static void lp_send_fastlane(bn_socket *s, bn_fastlane *fl)
{
    bn_str msg = fl->binary ? BN_STR_NULL : bn__fastlane_message(fl, BN_VSN_2);
    if (!msg.ptr) {
        bn_debug("longpoll: a binary broadcast cannot travel over long-poll; dropped");
        return;
    }
    buffer(session_of(s), msg);
}

static size_t lp_pending(bn_socket *s) { return session_of(s)->out.len; }

static void lp_close(bn_socket *s, int code, const char *reason)
{
    lp_session *ls = session_of(s);
    bn_debug("longpoll: closing session %s (%d %s)", ls->token, code, reason ? reason : "");
    end_soon(ls);
}

static void feed(lp_session *ls);

static void lp_resume(bn_socket *s)
{
    lp_session *ls = session_of(s);
    ls->busy = false;
    feed(ls);
}

static const bn_transport longpoll_transport = {
    .name = "longpoll",
    .send = lp_send,
    .send_fastlane = lp_send_fastlane,
    .pending = lp_pending,
    .close = lp_close,
    .resume = lp_resume,
    /* no flush: a waiting poll is answered at the next turn (kick), with all a batch wrote */
};

/* ---- POSTs: feeding messages ------------------------------------------------ */

/* The next message of a POST: the whole body, or its next non-blank ndjson line. */
static bool next_message(lp_op *op, bn_str *msg)
{
    if (!op->ndjson) {
        if (op->lines++ > 0)
            return false;
        *msg = bn_str_make(op->body, op->body_len);
        return true;
    }
    while (op->pos < op->body_len) {
        if (op->lines == LP_MAX_BATCH) {
            bn_warn("longpoll: a POST of more than %d messages; the rest are dropped", LP_MAX_BATCH);
            op->pos = op->body_len;
            return false;
        }
        const char *start = op->body + op->pos;
        const char *nl = memchr(start, '\n', op->body_len - op->pos);
        size_t len = nl ? (size_t)(nl - start) : op->body_len - op->pos;
        op->pos += len + (nl != NULL);
        if (len && start[len - 1] == '\r')
            len--;
        if (len == 0) /* a blank line (a trailing newline) carries no message */
            continue;
        op->lines++;
        *msg = bn_str_make(start, len);
        return true;
    }
    return false;
}

/* One message to the socket: an ndjson line not starting with '[' is a base64 binary message (§2.4). */
static int input(lp_session *ls, lp_op *op, bn_str msg)
{
    size_t max = bn__socket_max_frame(ls->def);
    bool binary = op->ndjson && !(msg.len && msg.ptr[0] == '[');
    if (binary) {
        op->binary.len = 0;
        if (msg.len / 4 * 3 > max + 3 || !bn_base64_decode(&op->binary, msg))
            return BN_SOCKET_ERROR;
        msg = bn_str_make(op->binary.data, op->binary.len);
    }
    if (msg.len > max)
        return BN_SOCKET_ERROR;
    return bn__socket_input(ls->s, binary, msg);
}

/* Feeds the queued POSTs, in order, until all are handled or a callback suspends (then resume goes on). */
static void feed(lp_session *ls)
{
    while (!ls->busy && !ls->closing && !bn_list_empty(&ls->posts)) {
        lp_op *op = bn_container_of(ls->posts.next, lp_op, link);
        bn_str msg;
        if (!next_message(op, &msg)) { /* every message of it was handled */
            bn_list_remove(&op->link);
            op_answer(op, 200);
            continue;
        }
        int r = input(ls, op, msg);
        if (r == BN_SOCKET_BUSY) {
            ls->busy = true;
        } else if (r == BN_SOCKET_ERROR) {
            bn_debug("longpoll: malformed message on session %s", ls->token);
            bn_list_remove(&op->link);
            op_answer(op, 400);
            end_soon(ls);
        }
    }
}

/* ---- ops arriving on the owner loop ------------------------------------------ */

static void poll_arrive(lp_session *ls, lp_op *op)
{
    if (ls->poll) /* only one poll waits: the older one is answered now */
        answer_poll(ls, 204);
    ls->poll = op;
    if (ls->out.len) {
        answer_poll(ls, 200);
    } else {
        ls->last_poll = bn_loop_now(ls->loop);
        bn_timer_start(ls->loop, &ls->poll_timer, ls->window_ms);
    }
}

static void op_arrive(bn_msg *m)
{
    lp_op *op = bn_container_of(m, lp_op, msg);
    lp_session *ls = table_find_own(op->token, op->def);
    if (!ls || ls->closing) {
        op_answer(op, LP_UNKNOWN);
        return;
    }
    if (op->kind == OP_POLL) {
        poll_arrive(ls, op);
    } else {
        bn_list_push_back(&ls->posts, &op->link);
        feed(ls);
    }
}

/* ------------------------------------------------------------------------ */
/* Requests, on any loop                                                      */

static void send_json(bn_conn *c, bn_str body)
{
    bn_conn_put_resp_header(c, BN_STR("content-type"), BN_STR("application/json; charset=utf-8"));
    /* The token may travel in a header, so the URL is the same for every session: never cache. */
    bn_conn_put_resp_header(c, BN_STR("cache-control"), BN_STR("no-store"));
    bn_conn_send_resp(c, 200, body);
}

static void send_status(bn_conn *c, int status)
{
    char body[32];
    int n = snprintf(body, sizeof body, "{\"status\":%d}", status);
    send_json(c, bn_str_make(body, (size_t)n));
}

static void send_messages(bn_conn *c, int status, const char *token, const bn_buf *messages)
{
    bn_buf b = BN_BUF_INIT;
    bn_buf_printf(&b, "{\"status\":%d,\"token\":\"%s\",\"messages\":[", status, token);
    if (messages)
        bn_buf_append(&b, messages->data, messages->len);
    bn_buf_append_str(&b, BN_STR("]}"));
    send_json(c, bn_str_make(b.data, b.len));
    bn_buf_free(&b);
}

/* The session token: header x-phoenix-longpoll-token, else the `token` param. BN_STR_NULL if none fits. */
static bn_str request_token(bn_conn *c)
{
    bn_str t = bn_conn_req_header(c, BN_STR("x-phoenix-longpoll-token"));
    if (!t.ptr)
        t = bn_value_str(bn_value_get(bn_conn_query_params(c), "token"));
    return t.len == LP_TOKEN_LEN ? t : BN_STR_NULL;
}

/*
 * Sends `op` to the loop owning its session and waits for the answer, up to
 * `timeout_ms` (then `timeout_status`). Returns the status (LP_UNKNOWN: no
 * such session); takes `op`.
 */
static int ask_owner(lp_op *op, int64_t timeout_ms, int timeout_status, bn_buf *messages)
{
    bn_loop *owner = table_owner(op->token, op->def);
    if (!owner) {
        op_free(op);
        return LP_UNKNOWN;
    }
    bn_mailbox mb;
    bn_mailbox_init(&mb, bn_loop_current());
    op->mb = &mb;
    op->msg.run = op_arrive;
    bn_loop_post(owner, &op->msg);
    bn_msg *m = bn_mailbox_recv(&mb, timeout_ms);
    if (!m) {
        int expected = OP_PENDING;
        if (atomic_compare_exchange_strong(&op->state, &expected, OP_ABANDONED))
            return timeout_status; /* the owner frees the op */
        bn_mailbox_recv(&mb, -1); /* claimed: the answer is on its way */
    }
    int status = op->status;
    if (messages) {
        *messages = op->messages;
        op->messages = (bn_buf)BN_BUF_INIT;
    }
    op_free(op);
    return status;
}

static void open_session(bn_conn *c, const bn_socket_def *def)
{
    bn_vsn vsn;
    if (!bn__socket_vsn(c, &vsn) || vsn != BN_VSN_2) { /* long-poll speaks V2 JSON only */
        send_status(c, 403);
        return;
    }
    bn_str auth = def->auth_token ? bn_conn_req_header(c, BN_STR("x-phoenix-authtoken")) : BN_STR_NULL;
    const bn_value *params = bn_conn_query_params(c);
    lp_session *ls = session_new(def);
    bn_socket *s = bn__socket_connect(def, &longpoll_transport, ls, BN_VSN_2, params, c, auth);
    if (!s) {
        session_free(ls);
        send_status(c, 403);
        return;
    }
    ls->s = s;
    ls->last_poll = bn_loop_now(ls->loop);
    char token[LP_TOKEN_LEN + 1];
    memcpy(token, ls->token, sizeof token);
    table_insert(ls);
    bn_timer_start(ls->loop, &ls->idle_timer, (uint64_t)ls->window_ms * 3 / 2);
    if (ls->closing) /* closed during connect */
        kick(ls);
    bn_debug("longpoll: session %s opened", token);
    send_messages(c, 410, token, NULL);
}

static void serve_get(bn_conn *c, const bn_socket_def *def)
{
    bn_str token = request_token(c);
    if (token.ptr) {
        lp_op *op = op_new(OP_POLL, def, token);
        char tok[LP_TOKEN_LEN + 1];
        memcpy(tok, op->token, sizeof tok);
        bn_buf messages = BN_BUF_INIT;
        int status = ask_owner(op, (int64_t)window_ms(def) + LP_GRACE_MS, 204, &messages);
        if (status != LP_UNKNOWN) { /* 200, 204, or 410: the session ended while the poll waited */
            send_messages(c, status, tok, &messages);
            bn_buf_free(&messages);
            return;
        }
    }
    open_session(c, def); /* no session, or it is gone: a new one */
}

static bool is_ndjson(bn_str content_type)
{
    const char *semi = content_type.ptr ? memchr(content_type.ptr, ';', content_type.len) : NULL;
    if (semi)
        content_type.len = (size_t)(semi - content_type.ptr);
    return bn_str_eq_nocase(bn_str_trim(content_type), BN_STR("application/x-ndjson"));
}

static void serve_post(bn_conn *c, const bn_socket_def *def)
{
    bn_str token = request_token(c);
    if (!token.ptr) {
        send_status(c, 410);
        return;
    }
    lp_op *op = op_new(OP_POST, def, token);
    bn_str body = bn_conn_body(c);
    op->body = bn_xmalloc(body.len + 1);
    memcpy(op->body, body.ptr ? body.ptr : "", body.len);
    op->body_len = body.len;
    op->ndjson = is_ndjson(bn_conn_req_header(c, BN_STR("content-type")));
    /* Phoenix answers 408 when handling takes longer than the window. */
    int status = ask_owner(op, (int64_t)window_ms(def) + LP_GRACE_MS, 408, NULL);
    send_status(c, status == LP_UNKNOWN ? 410 : status);
}

/* CORS preflight: any origin may poll; the socket plug checks Origin itself. */
static void serve_options(bn_conn *c)
{
    bn_buf allow = BN_BUF_INIT;
    size_t n;
    const bn_header *h = bn_conn_req_headers(c, &n);
    for (size_t i = 0; i < n; i++) {
        if (!bn_str_eq_nocase(h[i].name, BN_STR("access-control-request-headers")))
            continue;
        if (allow.len)
            bn_buf_append_str(&allow, BN_STR(", "));
        bn_buf_append_str(&allow, h[i].value);
    }
    bn_str headers = allow.len ? bn_str_make(allow.data, allow.len) : BN_STR("");
    bn_conn_put_resp_header(c, BN_STR("access-control-allow-headers"), headers);
    bn_conn_put_resp_header(c, BN_STR("access-control-allow-methods"), BN_STR("get, post, options"));
    bn_conn_put_resp_header(c, BN_STR("access-control-max-age"), BN_STR("3600"));
    bn_conn_send_resp(c, 200, BN_STR(""));
    bn_buf_free(&allow);
}

void bn__longpoll_serve(bn_conn *c, const bn_socket_def *def)
{
    bn_conn_put_resp_header(c, BN_STR("access-control-allow-origin"), BN_STR("*"));
    if (!bn__socket_origin_allowed(c, def)) { /* else any site could open sessions [check_origin] */
        send_status(c, 403);
        return;
    }
    switch (bn_conn_method_id(c)) {
    case BN_METHOD_GET:
        serve_get(c, def);
        break;
    case BN_METHOD_POST:
        serve_post(c, def);
        break;
    case BN_METHOD_OPTIONS:
        serve_options(c);
        break;
    default:
        bn_conn_send_resp(c, 400, BN_STR(""));
        break;
    }
}
