/*
 * In-process channel tests (bennu/testing.h, "Channels"): a bn_transport
 * that feeds V2 messages to the channel core and records, decoded, what the
 * core sends back, plus assertions that run the thread's loop until the
 * awaited message is there or a timer ends the wait.
 *
 * Everything a test socket records lives in its arena until it is closed.
 * Inputs are fed on the loop's stack: directly from the test's own calls,
 * or from a zero-delay timer after the core resumes a suspended callback,
 * never from inside a core callback (the core is not reentrant there).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bennu/runtime.h"
#include "bennu/testing.h"
#include "socket/socket_internal.h"

/* A message the client received, in arrival order. */
typedef struct received {
    bn_list link;
    bool taken; /* an assertion returned it */
    bn_test_msg m;
} received;

/* A message for the server, queued while a callback of the socket is suspended. */
typedef struct input {
    bn_list link;
    bool binary;
    size_t len;
    char data[];
} input;

/* A topic the test joined or subscribed to. */
typedef struct test_topic {
    bn_list link;
    bn_test_socket *ts;
    const char *topic;
    const char *join_ref; /* the current join's ref; NULL: not joined */
    bn_subscription sub;  /* the test's own subscription (assert_broadcast) */
    bool subscribed;
} test_topic;

struct bn_test_socket {
    bn_socket *s;         /* NULL once closed */
    bn_loop *loop;
    bn_arena arena;       /* received messages, refs, topics */
    unsigned next_ref;
    bn_list inputs;       /* input: not yet given to the core */
    bool busy;            /* a callback suspended: inputs wait for resume */
    bn_list received;     /* received: what the client got */
    bn_list broadcasts;   /* received: what the test's subscriptions got */
    bn_list topics;       /* test_topic */
    int close_code;       /* set when the server closes the socket */
    bool waiting;         /* a call is running the loop for this socket */
    bn_timer wait_timer;  /* ends that run at its timeout */
    bn_timer feed_timer;  /* feeds queued inputs once a callback resumed */
    bn_timer close_timer; /* lets the core go after the server closed the socket */
};

/* ---- the thread's loop -------------------------------------------------------- */

static _Thread_local bn_loop *own_loop; /* made for a thread that had none; kept for its life */

static bn_loop *thread_loop(const char *fn)
{
    if (bn_task_self())
        bn_fatal("%s runs the loop itself: call it from the thread's plain code, not from a task", fn);
    bn_loop *loop = bn_loop_current();
    if (!loop)
        loop = own_loop = bn_loop_new();
    return loop;
}

/* Something arrived for `ts`: a waiting call looks at it. */
static void arrived(bn_test_socket *ts)
{
    if (ts->waiting)
        bn_loop_stop(ts->loop);
}

static void wait_timeout(bn_timer *t) { bn_loop_stop(bn_container_of(t, bn_test_socket, wait_timer)->loop); }

/* Runs the loop until something arrives for `ts` or `ms` pass. */
static void run_for(bn_test_socket *ts, uint64_t ms)
{
    ts->waiting = true;
    bn_timer_start(ts->loop, &ts->wait_timer, ms);
    bn_loop_run(ts->loop);
    bn_timer_stop(&ts->wait_timer);
    ts->waiting = false;
}

typedef bool until_fn(bn_test_socket *ts, const void *ctx);

/* Runs the loop until `done` holds or `timeout_ms` pass; returns done's last answer. */
static bool run_until(bn_test_socket *ts, until_fn *done, const void *ctx, unsigned timeout_ms)
{
    uint64_t deadline = bn_clock_ms() + timeout_ms;
    for (;;) {
        if (done(ts, ctx))
            return true;
        uint64_t now = bn_clock_ms();
        if (now >= deadline)
            return false;
        run_for(ts, deadline - now);
    }
}

/* ---- decoding what the core sends --------------------------------------------- */

static const char *cstr(bn_test_socket *ts, bn_str s)
{
    return s.ptr ? bn_arena_strndup(&ts->arena, s.ptr, s.len) : NULL;
}

/* A V2 text message: a reply's payload is split into status and response. */
static bool decode_text(bn_test_socket *ts, bn_str msg, bn_test_msg *m)
{
    bn_message dm;
    const char *error = NULL;
    if (!bn_message_decode(BN_VSN_2, false, msg, &ts->arena, &dm, &error))
        return false;
    m->topic = cstr(ts, dm.topic);
    m->event = cstr(ts, dm.event);
    m->join_ref = cstr(ts, dm.join_ref);
    m->ref = cstr(ts, dm.ref);
    m->payload = dm.payload;
    if (strcmp(m->event, "phx_reply") == 0) {
        bn_str status = bn_value_str(bn_value_get(dm.payload, "status"));
        m->status = status.ptr ? cstr(ts, status) : "";
        m->payload = bn_value_get(dm.payload, "response");
    }
    return true;
}

/*
 * A V2 binary message from the server (PROTOCOLS.md §2.3): a push (kind 0:
 * join_ref, topic, event), a reply (1: join_ref, ref, topic, status) or a
 * broadcast (2: topic, event), each string's length in one byte, then the
 * payload.
 */
static bool decode_binary(bn_test_socket *ts, bn_str msg, bn_test_msg *m)
{
    const uint8_t *p = (const uint8_t *)msg.ptr;
    if (msg.len < 1 || p[0] > 2)
        return false;
    static const int nstrings[] = {3, 4, 2};
    int n = nstrings[p[0]];
    if (msg.len < 1 + (size_t)n)
        return false;
    bn_str strs[4];
    size_t off = 1 + (size_t)n;
    for (int i = 0; i < n; i++) {
        size_t len = p[1 + i];
        if (off + len > msg.len)
            return false;
        strs[i] = bn_str_make(msg.ptr + off, len);
        off += len;
    }
    /* An empty ref reads as null, as the JS client's `joinRef || null` does. */
    const char *join_ref = p[0] < 2 && strs[0].len ? cstr(ts, strs[0]) : NULL;
    if (p[0] == 0) {
        *m = (bn_test_msg){.join_ref = join_ref, .topic = cstr(ts, strs[1]), .event = cstr(ts, strs[2])};
    } else if (p[0] == 1) {
        *m = (bn_test_msg){.join_ref = join_ref, .ref = strs[1].len ? cstr(ts, strs[1]) : NULL,
                           .topic = cstr(ts, strs[2]), .event = "phx_reply", .status = cstr(ts, strs[3])};
    } else {
        *m = (bn_test_msg){.topic = cstr(ts, strs[0]), .event = cstr(ts, strs[1])};
    }
    m->binary = bn_str_make(bn_arena_strndup(&ts->arena, msg.ptr + off, msg.len - off), msg.len - off);
    return true;
}

static test_topic *topic_of(bn_test_socket *ts, const char *topic, bool create);

/* Records one message in `list`; the core's bytes are copied (they do not outlive the call). */
static void record(bn_test_socket *ts, bn_list *list, bn_str msg, bool binary)
{
    received *r = bn_arena_alloc(&ts->arena, sizeof(*r));
    *r = (received){.taken = false};
    bn_str copy = bn_str_make(bn_arena_strndup(&ts->arena, msg.ptr, msg.len), msg.len);
    if (!(binary ? decode_binary(ts, copy, &r->m) : decode_text(ts, copy, &r->m)))
        bn_fatal("bn_test: the server sent a message that does not decode: " BN_STR_FMT,
                 (int)BN_MIN(msg.len, 200), msg.ptr);
    bn_list_push_back(list, &r->link);
    /* A channel that ends is no longer joined: later pushes go without its join_ref. */
    if (list == &ts->received && r->m.join_ref &&
        (strcmp(r->m.event, "phx_close") == 0 || strcmp(r->m.event, "phx_error") == 0)) {
        test_topic *tt = topic_of(ts, r->m.topic, false);
        if (tt && tt->join_ref && strcmp(tt->join_ref, r->m.join_ref) == 0)
            tt->join_ref = NULL;
    }
    arrived(ts);
}

/* ---- the transport -------------------------------------------------------------- */

static void finish(bn_test_socket *ts)
{
    bn_timer_stop(&ts->close_timer);
    bn_timer_stop(&ts->feed_timer);
    if (ts->s)
        bn__socket_closed(ts->s, "closed");
    ts->s = NULL;
    ts->busy = false;
}

static void t_send(bn_socket *s, bn_str msg, bool binary)
{
    bn_test_socket *ts = bn__socket_tdata(s);
    record(ts, &ts->received, msg, binary);
}

static void t_send_fastlane(bn_socket *s, bn_fastlane *fl)
{
    bn_test_socket *ts = bn__socket_tdata(s);
    bn_str msg = bn__fastlane_message(fl, BN_VSN_2);
    if (msg.ptr)
        record(ts, &ts->received, msg, fl->binary);
}

static size_t t_pending(bn_socket *s)
{
    (void)s;
    return 0; /* everything "sent" is recorded at once */
}

static void close_later(bn_timer *t) { finish(bn_container_of(t, bn_test_socket, close_timer)); }

/* The server ends the connection: the core is let go from the loop, not from inside its own call. */
static void t_close(bn_socket *s, int code, const char *reason)
{
    (void)reason;
    bn_test_socket *ts = bn__socket_tdata(s);
    ts->close_code = code ? code : 1000;
    bn_timer_start(ts->loop, &ts->close_timer, 0);
    arrived(ts);
}

static void t_resume(bn_socket *s)
{
    bn_test_socket *ts = bn__socket_tdata(s);
    ts->busy = false;
    bn_timer_start(ts->loop, &ts->feed_timer, 0);
    arrived(ts);
}

static const bn_transport test_transport = {
    .name = "test",
    .send = t_send,
    .send_fastlane = t_send_fastlane,
    .pending = t_pending,
    .close = t_close,
    .resume = t_resume,
};

/* ---- inputs ------------------------------------------------------------------------ */

/* Gives queued inputs to the core, in order, until one suspends. */
static void feed(bn_test_socket *ts)
{
    while (ts->s && !ts->busy && !ts->close_code && !bn_list_empty(&ts->inputs)) {
        input *in = bn_container_of(bn_list_pop_front(&ts->inputs), input, link);
        int rc = bn__socket_input(ts->s, in->binary, bn_str_make(in->data, in->len));
        free(in); /* the core copied what it keeps */
        if (rc == BN_SOCKET_BUSY) {
            ts->busy = true;
        } else if (rc == BN_SOCKET_ERROR) {
            ts->close_code = 1002; /* what a WebSocket peer gets for a malformed message */
            finish(ts);
            arrived(ts);
        }
    }
}

static void feed_later(bn_timer *t) { feed(bn_container_of(t, bn_test_socket, feed_timer)); }

static void enqueue(bn_test_socket *ts, bool binary, const bn_buf *b)
{
    if (!ts->s || ts->close_code) {
        bn_warn("bn_test: a message to a closed socket is dropped");
        return;
    }
    input *in = bn_xmalloc(sizeof(*in) + b->len);
    in->binary = binary;
    in->len = b->len;
    memcpy(in->data, b->data, b->len);
    bn_list_push_back(&ts->inputs, &in->link);
    feed(ts);
}

static void drop_inputs(bn_test_socket *ts)
{
    while (!bn_list_empty(&ts->inputs))
        free(bn_container_of(bn_list_pop_front(&ts->inputs), input, link));
}

static const char *new_ref(bn_test_socket *ts) { return bn_arena_printf(&ts->arena, "%u", ++ts->next_ref); }

static void push_text(bn_test_socket *ts, const char *join_ref, const char *ref, const char *topic, const char *event,
                      const char *payload_json)
{
    bn_str payload = bn_str_from_cstr(payload_json ? payload_json : "{}");
    bn_arena scratch = BN_ARENA_INIT;
    bn_json_error err;
    if (!bn_json_parse(&scratch, payload, &err))
        bn_fatal("bn_test_push: the payload of \"%s\" is not JSON (%s): %s", event, err.text, payload_json);
    bn_arena_destroy(&scratch);
    bn_buf b = BN_BUF_INIT;
    bn_message_encode(BN_VSN_2, bn_str_from_cstr(join_ref), bn_str_from_cstr(ref), bn_str_from_cstr(topic),
                      bn_str_from_cstr(event), payload, &b);
    enqueue(ts, false, &b);
    bn_buf_free(&b);
}

/* ---- topics ----------------------------------------------------------------------- */

static test_topic *topic_of(bn_test_socket *ts, const char *topic, bool create)
{
    for (bn_list *n = ts->topics.next; n != &ts->topics; n = n->next) {
        test_topic *tt = bn_container_of(n, test_topic, link);
        if (strcmp(tt->topic, topic) == 0)
            return tt;
    }
    if (!create)
        return NULL;
    test_topic *tt = bn_arena_alloc(&ts->arena, sizeof(*tt));
    memset(tt, 0, sizeof(*tt));
    tt->ts = ts;
    tt->topic = bn_arena_strndup(&ts->arena, topic, strlen(topic));
    bn_list_push_back(&ts->topics, &tt->link);
    return tt;
}

static void on_broadcast(bn_subscription *sub, bn_fastlane *fl)
{
    test_topic *tt = bn_container_of(sub, test_topic, sub);
    bn_str msg = bn__fastlane_message(fl, BN_VSN_2);
    if (msg.ptr)
        record(tt->ts, &tt->ts->broadcasts, msg, fl->binary);
}

void bn_test_subscribe(bn_test_socket *ts, const char *topic)
{
    test_topic *tt = topic_of(ts, topic, true);
    if (tt->subscribed)
        return;
    bn__registry_subscribe(&tt->sub, topic, on_broadcast);
    tt->subscribed = true;
}

/* ---- sockets ------------------------------------------------------------------------ */

typedef struct connect_job {
    bn_test_socket *ts;
    const bn_socket_def *def;
    const bn_value *params;
    bn_str token;
    bn_socket *s;
    bool done;
} connect_job;

/* def->connect may suspend (a database lookup): it runs in a task, as it does for a real request. */
static void connect_task(void *arg)
{
    connect_job *j = arg;
    j->s = bn__socket_connect(j->def, &test_transport, j->ts, BN_VSN_2, j->params, NULL, j->token);
    j->done = true;
    bn_loop_stop(j->ts->loop);
}

bn_test_socket *bn_test_socket_connect_token(const bn_socket_def *def, const char *params_json,
                                             const char *auth_token)
{
    bn_test_socket *ts = bn_xcalloc(1, sizeof(*ts));
    ts->loop = thread_loop("bn_test_socket_connect");
    bn_list_init(&ts->inputs);
    bn_list_init(&ts->received);
    bn_list_init(&ts->broadcasts);
    bn_list_init(&ts->topics);
    bn_timer_init(&ts->wait_timer, wait_timeout);
    bn_timer_init(&ts->feed_timer, feed_later);
    bn_timer_init(&ts->close_timer, close_later);

    connect_job j = {.ts = ts, .def = def, .token = bn_str_from_cstr(auth_token)};
    if (params_json) {
        bn_json_error err;
        j.params = bn_json_parse(&ts->arena, bn_str_from_cstr(params_json), &err);
        if (!j.params)
            bn_fatal("bn_test_socket_connect: the params are not JSON (%s): %s", err.text, params_json);
    }
    bn_task_spawn(ts->loop, connect_task, &j);
    while (!j.done)
        bn_loop_run(ts->loop);
    if (!j.s) {
        bn_arena_destroy(&ts->arena);
        free(ts);
        return NULL;
    }
    ts->s = j.s;
    return ts;
}

bn_test_socket *bn_test_socket_connect(const bn_socket_def *def, const char *params_json)
{
    return bn_test_socket_connect_token(def, params_json, NULL);
}

bn_socket *bn_test_socket_get(bn_test_socket *ts) { return ts->s; }

static bool not_busy(bn_test_socket *ts, const void *ctx)
{
    (void)ctx;
    return !ts->s || !ts->busy;
}

void bn_test_socket_close(bn_test_socket *ts)
{
    if (!ts)
        return;
    thread_loop("bn_test_socket_close");
    /* A suspended callback still uses the socket: let it return first. */
    if (!run_until(ts, not_busy, NULL, BN_TEST_ASSERT_TIMEOUT_MS)) {
        bn_error("bn_test_socket_close: a callback is still suspended after %d ms; the socket is leaked",
                 BN_TEST_ASSERT_TIMEOUT_MS);
        return;
    }
    finish(ts);
    bn_timer_stop(&ts->wait_timer);
    for (bn_list *n = ts->topics.next; n != &ts->topics; n = n->next) {
        test_topic *tt = bn_container_of(n, test_topic, link);
        if (tt->subscribed)
            bn__registry_unsubscribe(&tt->sub);
    }
    drop_inputs(ts);
    bn_arena_destroy(&ts->arena);
    free(ts);
}

/* ---- client messages ---------------------------------------------------------------- */

const char *bn_test_push(bn_test_socket *ts, const char *topic, const char *event, const char *payload_json)
{
    thread_loop("bn_test_push");
    test_topic *tt = topic_of(ts, topic, false);
    const char *ref = new_ref(ts);
    push_text(ts, tt ? tt->join_ref : NULL, ref, topic, event, payload_json);
    return ref;
}

/* A client push in a V2 binary frame: kind 0, four lengths, join_ref, ref, topic, event, payload. */
const char *bn_test_push_binary(bn_test_socket *ts, const char *topic, const char *event, bn_str bytes)
{
    thread_loop("bn_test_push_binary");
    test_topic *tt = topic_of(ts, topic, false);
    const char *ref = new_ref(ts);
    const char *strs[4] = {tt && tt->join_ref ? tt->join_ref : "", ref, topic, event};
    bn_buf b = BN_BUF_INIT;
    bn_buf_append(&b, "\0", 1);
    for (int i = 0; i < 4; i++) {
        size_t len = strlen(strs[i]);
        if (len > 255)
            bn_fatal("bn_test_push_binary: \"%s\" is longer than a binary frame allows (255 bytes)", strs[i]);
        uint8_t l = (uint8_t)len;
        bn_buf_append(&b, &l, 1);
    }
    for (int i = 0; i < 4; i++)
        bn_buf_append(&b, strs[i], strlen(strs[i]));
    bn_buf_append_str(&b, bytes);
    enqueue(ts, true, &b);
    bn_buf_free(&b);
    return ref;
}

const char *bn_test_join(bn_test_socket *ts, const char *topic, const char *payload_json, const bn_value **response)
{
    thread_loop("bn_test_join");
    if (response)
        *response = NULL;
    bn_test_subscribe(ts, topic); /* before the join: broadcasts from join itself count */
    test_topic *tt = topic_of(ts, topic, true);
    const char *ref = new_ref(ts);
    tt->join_ref = ref;
    push_text(ts, ref, ref, topic, "phx_join", payload_json);
    const bn_test_msg *r = bn_test_assert_reply(ts, ref, NULL, 0);
    if (!r || strcmp(r->status, "ok") != 0) {
        if (tt->join_ref == ref)
            tt->join_ref = NULL;
        if (!r)
            return NULL;
    }
    if (response)
        *response = r->payload;
    return r->status;
}

const char *bn_test_leave(bn_test_socket *ts, const char *topic)
{
    return bn_test_push(ts, topic, "phx_leave", NULL);
}

/* ---- assertions ---------------------------------------------------------------------- */

typedef bool match_fn(const bn_test_msg *m, const void *want);

typedef struct search {
    bn_list *list;
    match_fn *match;
    const void *want;
    received *found;
} search;

static bool find(bn_test_socket *ts, const void *ctx)
{
    (void)ts;
    search *s = (search *)ctx;
    for (bn_list *n = s->list->next; n != s->list; n = n->next) {
        received *r = bn_container_of(n, received, link);
        if (!r->taken && s->match(&r->m, s->want)) {
            s->found = r;
            return true;
        }
    }
    return false;
}

static received *await(bn_test_socket *ts, bn_list *list, match_fn *match, const void *want, unsigned timeout_ms)
{
    search s = {list, match, want, NULL};
    run_until(ts, find, &s, timeout_ms);
    return s.found;
}

typedef struct topic_event {
    const char *topic; /* NULL: any */
    const char *event;
} topic_event;

static bool is_event(const bn_test_msg *m, const void *want)
{
    const topic_event *te = want;
    return strcmp(m->event, te->event) == 0 && (!te->topic || strcmp(m->topic, te->topic) == 0);
}

static bool is_reply_to(const bn_test_msg *m, const void *ref)
{
    return m->status && m->ref && strcmp(m->ref, ref) == 0;
}

static bool any(const bn_test_msg *m, const void *want)
{
    (void)m, (void)want;
    return true;
}

/* Tells what the test did get, for a failed assertion's message. */
static void report(bn_list *list, const char *what)
{
    bn_buf b = BN_BUF_INIT;
    for (bn_list *n = list->next; n != list; n = n->next) {
        received *r = bn_container_of(n, received, link);
        if (r->taken)
            continue;
        bn_buf_printf(&b, "\n    %s %s", r->m.topic, r->m.event);
        if (r->m.status)
            bn_buf_printf(&b, " %s (ref %s)", r->m.status, r->m.ref ? r->m.ref : "null");
        bn_buf_append(&b, " ", 1);
        if (r->m.payload)
            bn_json_encode(&b, r->m.payload);
        else
            bn_buf_printf(&b, "<%zu bytes>", r->m.binary.len);
    }
    bn_buf_append(&b, "", 1);
    bn_error("%s; waiting:%s", what, b.len > 1 ? b.data : " nothing");
    bn_buf_free(&b);
}

static unsigned or_default(unsigned ms, unsigned def) { return ms ? ms : def; }

const bn_test_msg *bn_test_assert_reply(bn_test_socket *ts, const char *ref, const char *status, unsigned timeout_ms)
{
    thread_loop("bn_test_assert_reply");
    timeout_ms = or_default(timeout_ms, BN_TEST_ASSERT_TIMEOUT_MS);
    received *r = await(ts, &ts->received, is_reply_to, ref, timeout_ms);
    if (!r) {
        char what[160];
        snprintf(what, sizeof what, "bn_test_assert_reply: no reply to ref %s within %u ms", ref, timeout_ms);
        report(&ts->received, what);
        return NULL;
    }
    r->taken = true;
    if (status && strcmp(r->m.status, status) != 0) {
        bn_buf b = BN_BUF_INIT;
        if (r->m.payload)
            bn_json_encode(&b, r->m.payload);
        bn_buf_append(&b, "", 1);
        bn_error("bn_test_assert_reply: the reply to ref %s is \"%s\" %s, not \"%s\"", ref, r->m.status, b.data,
                 status);
        bn_buf_free(&b);
        return NULL;
    }
    return &r->m;
}

bool bn_test_refute_reply(bn_test_socket *ts, const char *ref, unsigned timeout_ms)
{
    thread_loop("bn_test_refute_reply");
    return !await(ts, &ts->received, is_reply_to, ref, or_default(timeout_ms, BN_TEST_REFUTE_TIMEOUT_MS));
}

static const bn_test_msg *assert_in(bn_test_socket *ts, bn_list *list, const char *fn, const char *topic,
                                    const char *event, unsigned timeout_ms)
{
    thread_loop(fn);
    timeout_ms = or_default(timeout_ms, BN_TEST_ASSERT_TIMEOUT_MS);
    topic_event te = {topic, event};
    received *r = await(ts, list, is_event, &te, timeout_ms);
    if (!r) {
        char what[300];
        snprintf(what, sizeof what, "%s: no \"%s\" on %s within %u ms", fn, event, topic ? topic : "any topic",
                 timeout_ms);
        report(list, what);
        return NULL;
    }
    r->taken = true;
    return &r->m;
}

static bool refute_in(bn_test_socket *ts, bn_list *list, const char *fn, const char *topic, const char *event,
                      unsigned timeout_ms)
{
    thread_loop(fn);
    topic_event te = {topic, event};
    received *r = await(ts, list, is_event, &te, or_default(timeout_ms, BN_TEST_REFUTE_TIMEOUT_MS));
    if (r)
        bn_error("%s: \"%s\" came on %s", fn, event, r->m.topic);
    return !r;
}

const bn_test_msg *bn_test_assert_push(bn_test_socket *ts, const char *topic, const char *event, unsigned timeout_ms)
{
    return assert_in(ts, &ts->received, "bn_test_assert_push", topic, event, timeout_ms);
}

bool bn_test_refute_push(bn_test_socket *ts, const char *topic, const char *event, unsigned timeout_ms)
{
    return refute_in(ts, &ts->received, "bn_test_refute_push", topic, event, timeout_ms);
}

const bn_test_msg *bn_test_assert_broadcast(bn_test_socket *ts, const char *topic, const char *event,
                                            unsigned timeout_ms)
{
    return assert_in(ts, &ts->broadcasts, "bn_test_assert_broadcast", topic, event, timeout_ms);
}

bool bn_test_refute_broadcast(bn_test_socket *ts, const char *topic, const char *event, unsigned timeout_ms)
{
    return refute_in(ts, &ts->broadcasts, "bn_test_refute_broadcast", topic, event, timeout_ms);
}

const bn_test_msg *bn_test_next(bn_test_socket *ts, unsigned timeout_ms)
{
    thread_loop("bn_test_next");
    received *r = await(ts, &ts->received, any, NULL, or_default(timeout_ms, BN_TEST_ASSERT_TIMEOUT_MS));
    if (!r)
        return NULL;
    r->taken = true;
    return &r->m;
}

static bool closed(bn_test_socket *ts, const void *ctx)
{
    (void)ctx;
    return ts->close_code != 0;
}

int bn_test_assert_close(bn_test_socket *ts, unsigned timeout_ms)
{
    thread_loop("bn_test_assert_close");
    if (run_until(ts, closed, NULL, or_default(timeout_ms, BN_TEST_ASSERT_TIMEOUT_MS)))
        finish(ts); /* from here, not from the close timer: bn_test_socket_get is NULL at once */
    return ts->close_code;
}
