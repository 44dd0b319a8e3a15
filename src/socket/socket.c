/*
 * The channel core [Phoenix.Socket, Phoenix.Channel], independent of the
 * transport: connects sockets, routes messages to channels by topic, runs
 * channel callbacks in tasks, and answers as PROTOCOLS.md §3 says.
 *
 * Work for a socket (an inbound message, an intercepted broadcast, a
 * handle_info, a terminate) runs one item at a time, each in a task; while
 * one is suspended the others wait in the socket's queue and the transport
 * stops reading. Fastlane broadcasts skip the queue: they go straight to the
 * transport, as in Phoenix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "bennu/crypto.h"
#include "runtime/task.h"
#include "socket/socket_internal.h"
#include "socket/ws_frame.h"

#define DEFAULT_TIMEOUT_MS 60000
#define DEFAULT_MAX_FRAME (1024 * 1024)
#define DEFAULT_MAX_CHANNELS 100
#define DEFAULT_MAX_OUTGOING (4 * 1024 * 1024)

typedef enum work_kind { WORK_INPUT, WORK_OUT, WORK_INFO, WORK_TERMINATE } work_kind;

/* One item of a socket's work, with the memory its callback uses. */
typedef struct work {
    bn_list link; /* in socket->queue */
    work_kind kind;
    bn_socket *s;
    bn_channel *ch; /* WORK_OUT/INFO/TERMINATE */
    bn_arena arena;
    bn_message msg;      /* WORK_INPUT */
    bn_str event;        /* WORK_OUT */
    const bn_value *value; /* WORK_OUT payload, WORK_INFO message */
    const char *reason;  /* WORK_TERMINATE */
    bn_str join_reply;   /* the response a join callback set (bn_channel_reply) */
} work;

struct bn_socket {
    const bn_socket_def *def;
    const bn_transport *t; /* NULL once the transport is gone */
    void *tdata;
    bn_vsn vsn;
    bool busy;    /* a work item is running or suspended */
    bool stalled; /* the transport was told BN_SOCKET_BUSY: resume it when idle */
    bool closing; /* terminating: no new work but terminates */
    unsigned nchannels;
    bn_loop *loop;
    bn_list channels;
    bn_list queue;
    char *id;
    bn_subscription id_sub;
    bn_str auth_token; /* during connect only */
    bn_timer later;    /* a close decided during a delivery, done at the next turn */
    int later_code;
    void *state;
};

struct bn_channel {
    bn_list link; /* in socket->channels */
    bn_socket *s;
    const bn_channel_def *def;
    bn_subscription sub;
    uint64_t id;    /* for broadcast_from */
    bn_list timers; /* send_after */
    bool joined;    /* the join was accepted */
    bool stopping;  /* bn_channel_stop: end after the callback */
    bool ending;    /* a terminate is queued */
    work *cur;      /* the work being handled (reply target, arena) */
    struct channel_defer *defers; /* bn_channel_defer, latest first */
    bn_list extra_subs;             /* bn_channel_subscribe: extra_sub.link */
    bool replied;
    jmp_buf *catch_frame;
    char *topic;
    char *join_ref;
    void *state;
};

static _Thread_local uint64_t next_channel_id;

static bool pump(bn_socket *s);
static void channel_deliver(bn_subscription *sub, bn_fastlane *fl);

/* ---- defaults ----------------------------------------------------------------- */

unsigned bn__socket_timeout_ms(const bn_socket_def *def) { return def->timeout_ms ? def->timeout_ms : DEFAULT_TIMEOUT_MS; }
size_t bn__socket_max_frame(const bn_socket_def *def)
{
    return def->max_frame_size ? def->max_frame_size : DEFAULT_MAX_FRAME;
}
size_t bn__socket_max_outgoing(const bn_socket_def *def)
{
    return def->max_outgoing ? def->max_outgoing : DEFAULT_MAX_OUTGOING;
}
static unsigned max_channels(const bn_socket_def *def)
{
    return def->max_channels ? def->max_channels : DEFAULT_MAX_CHANNELS;
}

/* ---- sending ------------------------------------------------------------------------ */

/* Closes at the next loop turn (from a delivery, where the registry is being walked). */
static void close_later(bn_socket *s, int code)
{
    if (!s->t || s->later_code)
        return;
    s->later_code = code;
    bn_timer_start(s->loop, &s->later, 0);
}

/* A client that lets output pile up past the high-water mark is dropped. */
static void check_outgoing(bn_socket *s)
{
    if (s->t && !s->later_code && s->t->pending(s) > bn__socket_max_outgoing(s->def)) {
        bn_warn("%s: client does not read; %zu bytes unsent: closing", s->def->name ? s->def->name : "socket",
                s->t->pending(s));
        close_later(s, BN_WS_CLOSE_POLICY);
    }
}

/* Sends an encoded message and frees its buffer. */
static void send_text(bn_socket *s, bn_buf *b)
{
    if (s->t) {
        s->t->send(s, bn_str_make(b->data, b->len), false);
        check_outgoing(s);
    }
    bn_buf_free(b);
}

static void send_message(bn_socket *s, bn_str join_ref, bn_str ref, bn_str topic, bn_str event, bn_str json)
{
    bn_buf b = BN_BUF_INIT;
    bn_message_encode(s->vsn, join_ref, ref, topic, event, json, &b);
    send_text(s, &b);
}

static void send_reply(bn_socket *s, bn_str join_ref, bn_str ref, bn_str topic, bn_str status, bn_str json)
{
    bn_buf b = BN_BUF_INIT;
    bn_message_encode_reply(s->vsn, join_ref, ref, topic, status, json, &b);
    send_text(s, &b);
}

static void send_binary(bn_socket *s, bn_buf *b)
{
    if (s->t) {
        s->t->send(s, bn_str_make(b->data, b->len), true);
        check_outgoing(s);
    }
    bn_buf_free(b);
}

static bn_str cstr(const char *s) { return bn_str_from_cstr(s); }

static void flush(bn_socket *s)
{
    if (s->t && s->t->flush)
        s->t->flush(s);
}

/* [join_ref, join_ref, topic, "phx_close" | "phx_error", payload] */
static void send_channel_end(bn_channel *ch, const char *event, const char *payload)
{
    send_message(ch->s, cstr(ch->join_ref), cstr(ch->join_ref), cstr(ch->topic), cstr(event), cstr(payload));
}

/* ---- channels: life cycle ---------------------------------------------------------- */

static bool topic_matches(const char *pattern, bn_str topic)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*')
        return topic.len >= n - 1 && memcmp(topic.ptr, pattern, n - 1) == 0;
    return topic.len == n && memcmp(topic.ptr, pattern, n) == 0;
}

static const bn_channel_def *route(const bn_socket_def *def, bn_str topic)
{
    for (size_t i = 0; i < def->nchannels; i++)
        if (topic_matches(def->channels[i].pattern, topic))
            return def->channels[i].def;
    return NULL;
}

static bn_channel *find_channel(bn_socket *s, bn_str topic)
{
    for (bn_list *n = s->channels.next; n != &s->channels; n = n->next) {
        bn_channel *ch = bn_container_of(n, bn_channel, link);
        if (!ch->ending && bn_str_eq(cstr(ch->topic), topic))
            return ch;
    }
    return NULL;
}

/* One allocation: the struct, the user's state, the topic and the join ref. */
static bn_channel *channel_new(bn_socket *s, const bn_channel_def *def, bn_str topic, bn_str join_ref)
{
    size_t state = (def->state_size + 15) & ~(size_t)15;
    bn_channel *ch = bn_xcalloc(1, sizeof(*ch) + state + topic.len + 1 + join_ref.len + 1);
    char *p = (char *)(ch + 1);
    ch->state = def->state_size ? p : NULL;
    ch->topic = p + state;
    memcpy(ch->topic, topic.ptr, topic.len);
    ch->join_ref = ch->topic + topic.len + 1;
    if (join_ref.len)
        memcpy(ch->join_ref, join_ref.ptr, join_ref.len);
    ch->s = s;
    ch->def = def;
    ch->id = ((uint64_t)bn_loop_id(s->loop) << 48) | ++next_channel_id;
    bn_list_init(&ch->timers);
    bn_list_init(&ch->link);
    bn_list_init(&ch->extra_subs);
    return ch;
}

/* A subscription of a channel to a topic other than its own (bn_channel_subscribe). */
typedef struct extra_sub {
    bn_subscription sub;
    bn_list link; /* in channel->extra_subs */
    bn_channel *ch;
    char topic[];
} extra_sub;

static void unsubscribe_extras(bn_channel *ch)
{
    while (!bn_list_empty(&ch->extra_subs)) {
        extra_sub *x = bn_container_of(ch->extra_subs.next, extra_sub, link);
        bn_list_remove(&x->link);
        bn__registry_unsubscribe(&x->sub);
        free(x);
    }
}

typedef struct channel_defer {
    struct channel_defer *next;
    void (*fn)(bn_channel *ch, void *arg);
    void *arg;
} channel_defer;

/* Runs the bn_channel_defer callbacks once (from the channel's last task). */
static void run_defers(bn_channel *ch)
{
    while (ch->defers) {
        channel_defer *d = ch->defers;
        ch->defers = d->next;
        d->fn(ch, d->arg);
        free(d);
    }
}

typedef struct info_timer {
    bn_timer timer;
    bn_list link; /* in channel->timers */
    bn_channel *ch;
    char *json;
} info_timer;

static void channel_free(bn_channel *ch)
{
    while (ch->defers) { /* only if no task ran them (cannot happen today) */
        channel_defer *d = ch->defers;
        ch->defers = d->next;
        free(d);
    }
    while (!bn_list_empty(&ch->timers)) {
        info_timer *it = bn_container_of(ch->timers.next, info_timer, link);
        bn_timer_stop(&it->timer);
        bn_list_remove(&it->link);
        free(it->json);
        free(it);
    }
    bn__registry_unsubscribe(&ch->sub);
    unsubscribe_extras(ch);
    if (bn_list_linked(&ch->link)) {
        bn_list_remove(&ch->link);
        ch->s->nchannels--;
    }
    free(ch);
}

static work *work_new(bn_socket *s, work_kind kind, bn_channel *ch)
{
    work *w = bn_xcalloc(1, sizeof(*w));
    w->kind = kind;
    w->s = s;
    w->ch = ch;
    return w;
}

static void work_free(work *w)
{
    bn_arena_destroy(&w->arena);
    free(w);
}

/* Queues the channel's terminate (after whatever is queued before it). */
static void channel_end(bn_channel *ch, const char *reason)
{
    if (ch->ending)
        return;
    ch->ending = true;
    bn__registry_unsubscribe(&ch->sub); /* nothing more reaches it */
    unsubscribe_extras(ch);
    work *w = work_new(ch->s, WORK_TERMINATE, ch);
    w->reason = reason;
    bn_list_push_back(&ch->s->queue, &w->link);
}

/* ---- callbacks in tasks ------------------------------------------------------------ */

static void run_join(work *w);
static void run_in(work *w);

/* Calls the channel callback of `w` with a catch frame for bn_channel_raise.
 * Returns false if it raised. */
static bool call(work *w, void (*fn)(work *w))
{
    bn_channel *ch = w->ch;
    jmp_buf frame;
    jmp_buf *outer = ch->catch_frame;
    work *outer_cur = ch->cur;
    ch->cur = w;
    ch->replied = false;
    ch->catch_frame = &frame;
    bool ok = true;
    if (setjmp(frame) == 0)
        fn(w);
    else
        ok = false;
    ch->catch_frame = outer;
    ch->cur = outer_cur;
    return ok;
}

static void call_out(work *w)
{
    if (w->ch->def->handle_out)
        w->ch->def->handle_out(w->ch, w->event, w->value);
}

static void call_info(work *w)
{
    if (w->ch->def->handle_info)
        w->ch->def->handle_info(w->ch, w->value);
}

static void call_terminate(work *w)
{
    if (w->ch->def->terminate && w->ch->joined)
        w->ch->def->terminate(w->ch, w->reason);
}

static void call_defers(work *w) { run_defers(w->ch); }

/* A callback raised: the client hears phx_error and may rejoin. */
static void channel_crashed(bn_channel *ch)
{
    send_channel_end(ch, "phx_error", "{\"reason\":\"channel_crash\"}");
    channel_end(ch, "error");
}

static void after_callback(bn_channel *ch, bool ok)
{
    if (!ok) {
        channel_crashed(ch);
        return;
    }
    if (ch->stopping && !ch->ending) {
        send_channel_end(ch, "phx_close", "{}");
        channel_end(ch, "stopped");
    }
}

static void work_task(void *arg)
{
    work *w = arg;
    bn_channel *ch = w->ch;
    switch (w->kind) {
    case WORK_INPUT:
        if (bn_str_eq(w->msg.event, BN_STR("phx_join")))
            run_join(w);
        else
            run_in(w);
        break;
    case WORK_OUT:
        if (!ch->ending)
            after_callback(ch, call(w, call_out));
        break;
    case WORK_INFO:
        if (!ch->ending)
            after_callback(ch, call(w, call_info));
        break;
    case WORK_TERMINATE:
        call(w, call_terminate); /* a raise here ends nothing more */
        call(w, call_defers);
        break;
    }
}

/* The item is done (on the loop's stack): free it, then the next one. */
static void socket_free(bn_socket *s);

static void work_done(work *w)
{
    bn_socket *s = w->s;
    if (w->kind == WORK_TERMINATE)
        channel_free(w->ch);
    work_free(w);
    s->busy = false;
    flush(s); /* what the callback wrote */
}

static void work_exit(void *arg)
{
    work *w = arg;
    bn_socket *s = w->s;
    work_done(w);
    pump(s);
}

/* Runs queued work until the queue is empty or an item suspends. Returns
 * false if that was the end of a closed socket (it is freed). */
static bool pump(bn_socket *s)
{
    while (!s->busy && !bn_list_empty(&s->queue)) {
        work *w = bn_container_of(s->queue.next, work, link);
        bn_list_remove(&w->link);
        s->busy = true;
        bn_task *t = bn__task_new(s->loop, work_task, w);
        if (!bn__task_run(t, work_exit, w))
            return true; /* suspended: work_exit pumps again */
        work_done(w);
    }
    if (s->busy)
        return true;
    if (s->closing && !s->t) {
        socket_free(s);
        return false;
    }
    if (s->stalled && s->t) {
        s->stalled = false;
        s->t->resume(s);
    }
    return true;
}

/* ---- inbound messages ---------------------------------------------------------------- */

static void reply_unmatched(bn_socket *s, const bn_message *m, bool with_join_ref)
{
    send_reply(s, with_join_ref ? m->join_ref : BN_STR_NULL, m->ref, m->topic, BN_STR("error"),
               BN_STR("{\"reason\":\"unmatched topic\"}"));
}

static void call_join(work *w)
{
    bn_channel *ch = w->ch;
    const bn_value *payload = w->msg.payload;
    int rc = ch->def->join ? ch->def->join(ch, payload) : 0;
    ch->joined = rc == 0;
}

static void run_join(work *w)
{
    bn_socket *s = w->s;
    bn_channel *ch = w->ch;
    bool ok = call(w, call_join);
    const bn_message *m = &w->msg;
    bn_str response = w->join_reply.ptr ? w->join_reply : BN_STR("{}");
    if (!ok) {
        send_reply(s, m->join_ref, m->ref, m->topic, BN_STR("error"), BN_STR("{\"reason\":\"join crashed\"}"));
        ch->joined = false;
    } else {
        send_reply(s, m->join_ref, m->ref, m->topic, ch->joined ? BN_STR("ok") : BN_STR("error"), response);
    }
    if (!ch->joined || s->closing) {
        call(w, call_defers);
        channel_free(ch); /* never joined: terminate is not called */
        return;
    }
    bn_list_push_back(&s->channels, &ch->link);
    s->nchannels++;
    bn__registry_subscribe(&ch->sub, ch->topic, channel_deliver);
    if (ch->stopping) {
        send_channel_end(ch, "phx_close", "{}");
        channel_end(ch, "stopped");
    }
}

static void call_in(work *w)
{
    if (w->ch->def->handle_in) {
        bn_channel_msg msg = {w->msg.event, w->msg.payload, w->msg.binary, w->msg.ref};
        w->ch->def->handle_in(w->ch, &msg);
    }
}

static void run_in(work *w)
{
    if (w->ch->ending) { /* it crashed or left while this message waited: as if it never existed */
        reply_unmatched(w->s, &w->msg, true);
        return;
    }
    after_callback(w->ch, call(w, call_in));
}

/* A phx_join: route it, refuse it, or queue the join callback. */
static int handle_join(bn_socket *s, work *w)
{
    const bn_message *m = &w->msg;
    const bn_channel_def *def = route(s->def, m->topic);
    if (!def) {
        reply_unmatched(s, m, false);
        return 0;
    }
    bn_channel *old = find_channel(s, m->topic);
    if (old) { /* duplicate join: the old instance closes first [Phoenix] */
        send_channel_end(old, "phx_close", "{}");
        channel_end(old, "duplicate_join");
    } else if (s->nchannels >= max_channels(s->def)) {
        send_reply(s, m->join_ref, m->ref, m->topic, BN_STR("error"),
                   BN_STR("{\"reason\":\"too many channels joined\"}"));
        return 0;
    }
    w->ch = channel_new(s, def, m->topic, m->join_ref.ptr ? m->join_ref : m->ref);
    return 1;
}

static bool stale(const bn_channel *ch, const bn_message *m)
{
    return m->join_ref.ptr && !bn_str_eq(m->join_ref, cstr(ch->join_ref));
}

static void handle_leave(bn_socket *s, const bn_message *m)
{
    bn_channel *ch = find_channel(s, m->topic);
    if (!ch) {
        send_reply(s, m->join_ref, m->ref, m->topic, BN_STR("ok"), BN_STR("{}"));
        return;
    }
    if (stale(ch, m))
        return;
    send_reply(s, m->join_ref, m->ref, m->topic, BN_STR("ok"), BN_STR("{}"));
    send_channel_end(ch, "phx_close", "{}");
    channel_end(ch, "left");
}

/* Decides what an inbound message becomes. Returns true if `w` was queued. */
static bool route_input(bn_socket *s, work *w)
{
    const bn_message *m = &w->msg;
    if (bn_str_eq(m->topic, BN_STR("phoenix"))) {
        if (bn_str_eq(m->event, BN_STR("heartbeat")))
            send_reply(s, BN_STR_NULL, m->ref, m->topic, BN_STR("ok"), BN_STR("{}"));
        return false;
    }
    if (bn_str_eq(m->event, BN_STR("phx_join"))) {
        if (!handle_join(s, w))
            return false;
    } else if (bn_str_eq(m->event, BN_STR("phx_leave"))) {
        handle_leave(s, m);
        return false;
    } else {
        bn_channel *ch = find_channel(s, m->topic);
        if (!ch) {
            reply_unmatched(s, m, true);
            return false;
        }
        if (stale(ch, m))
            return false;
        w->ch = ch;
    }
    bn_list_push_back(&s->queue, &w->link);
    return true;
}

int bn__socket_input(bn_socket *s, bool binary, bn_str msg)
{
    if (s->closing)
        return BN_SOCKET_DONE;
    work *w = work_new(s, WORK_INPUT, NULL);
    const char *error = NULL;
    if (binary) /* the decoded strings point into the frame: keep it with the work */
        msg = bn_str_make(bn_arena_strndup(&w->arena, msg.ptr, msg.len), msg.len);
    if (!bn_message_decode(s->vsn, binary, msg, &w->arena, &w->msg, &error)) {
        bn_warn("%s: malformed message: %s", s->def->name ? s->def->name : "socket", error);
        work_free(w);
        return BN_SOCKET_ERROR;
    }
    if (!route_input(s, w))
        work_free(w); /* answered at once; a leave may have queued a terminate */
    pump(s);
    flush(s);
    if (s->busy || !bn_list_empty(&s->queue)) {
        s->stalled = true;
        return BN_SOCKET_BUSY;
    }
    return BN_SOCKET_DONE;
}

bool bn__socket_busy(const bn_socket *s) { return s->busy; }

/* ---- broadcasts reaching a channel --------------------------------------------------- */

static bool intercepted(const bn_channel_def *def, const char *event)
{
    for (const char *const *e = def->intercept; e && *e; e++)
        if (strcmp(*e, event) == 0)
            return true;
    return false;
}

static void channel_deliver(bn_subscription *sub, bn_fastlane *fl)
{
    bn_channel *ch = bn_container_of(sub, bn_channel, sub);
    bn_socket *s = ch->s;
    if (fl->from == ch->id || !s->t || ch->ending)
        return;
    if (!intercepted(ch->def, fl->event)) {
        if (fl->binary && s->vsn == BN_VSN_1)
            return; /* V1 cannot carry it */
        s->t->send_fastlane(s, fl);
        check_outgoing(s);
        return;
    }
    work *w = work_new(s, WORK_OUT, ch);
    w->event = bn_str_make(bn_arena_strndup(&w->arena, fl->event, strlen(fl->event)), strlen(fl->event));
    if (!fl->binary) {
        bn_json_error err;
        w->value = bn_json_parse(&w->arena, bn_str_make(fl->payload, fl->payload_len), &err);
    } else {
        w->value = bn_value_string(&w->arena, bn_str_make(fl->payload, fl->payload_len));
    }
    bn_list_push_back(&s->queue, &w->link);
    if (!s->busy) /* run it at the next turn: the registry is being walked now */
        bn_timer_start(s->loop, &s->later, 0);
}

/* The socket's own topic (its id): "disconnect" closes it. */
static void id_deliver(bn_subscription *sub, bn_fastlane *fl)
{
    bn_socket *s = bn_container_of(sub, bn_socket, id_sub);
    if (strcmp(fl->event, "disconnect") == 0)
        close_later(s, BN_WS_CLOSE_GOING_AWAY);
}

/* ---- sockets ------------------------------------------------------------------------- */

/* The next loop turn after a delivery: a decided close, or queued work. */
static void later_cb(bn_timer *t)
{
    bn_socket *s = bn_container_of(t, bn_socket, later);
    int code = s->later_code;
    s->later_code = 0;
    if (code && s->t) {
        s->t->close(s, code, code == BN_WS_CLOSE_POLICY ? "slow client" : "disconnect");
        return;
    }
    if (pump(s) && !s->busy)
        flush(s);
}

bn_socket *bn__socket_connect(const bn_socket_def *def, const bn_transport *t, void *tdata, bn_vsn vsn,
                              const bn_value *params, bn_conn *c, bn_str auth_token)
{
    size_t state = (def->state_size + 15) & ~(size_t)15;
    bn_socket *s = bn_xcalloc(1, sizeof(*s) + state);
    s->def = def;
    s->t = t;
    s->tdata = tdata;
    s->vsn = vsn;
    s->loop = bn_loop_current();
    s->state = def->state_size ? s + 1 : NULL;
    s->auth_token = auth_token;
    bn_list_init(&s->channels);
    bn_list_init(&s->queue);
    bn_timer_init(&s->later, later_cb);
    bn_arena scratch = BN_ARENA_INIT;
    if (!params)
        params = bn_value_object(&scratch);
    int rc = def->connect ? def->connect(s, params, c) : 0;
    bn_arena_destroy(&scratch);
    s->auth_token = BN_STR_NULL;
    if (rc != 0) {
        free(s->id);
        free(s);
        return NULL;
    }
    if (s->id)
        bn__registry_subscribe(&s->id_sub, s->id, id_deliver);
    return s;
}

static void socket_free(bn_socket *s)
{
    bn_timer_stop(&s->later);
    bn__registry_unsubscribe(&s->id_sub);
    free(s->id);
    free(s);
}

void bn__socket_closed(bn_socket *s, const char *reason)
{
    s->t = NULL;
    s->closing = true;
    bn__registry_unsubscribe(&s->id_sub);
    /* Queued inbound work is dropped; terminates run in order. */
    bn_list *n = s->queue.next;
    while (n != &s->queue) {
        work *w = bn_container_of(n, work, link);
        n = n->next;
        if (w->kind == WORK_TERMINATE)
            continue;
        bn_list_remove(&w->link);
        work_free(w);
    }
    for (bn_list *c = s->channels.next; c != &s->channels; c = c->next) {
        bn_channel *ch = bn_container_of(c, bn_channel, link);
        channel_end(ch, reason ? reason : "closed");
    }
    pump(s);
}

void *bn__socket_tdata(bn_socket *s) { return s->tdata; }
const bn_socket_def *bn__socket_def(const bn_socket *s) { return s->def; }
bn_vsn bn__socket_vsn_of(const bn_socket *s) { return s->vsn; }

bool bn__socket_vsn(bn_conn *c, bn_vsn *vsn)
{
    return bn_vsn_parse(bn_value_str(bn_value_get(bn_conn_query_params(c), "vsn")), vsn);
}

void bn_socket_plug(bn_conn *c, const void *opts)
{
    const bn_socket_def *def = opts;
    bn_str path = bn_conn_path(c);
    size_t n = strlen(def->path);
    while (n && def->path[n - 1] == '/')
        n--;
    if (path.len <= n || memcmp(path.ptr, def->path, n) != 0 || path.ptr[n] != '/')
        return;
    bn_str rest = bn_str_make(path.ptr + n + 1, path.len - n - 1);
    if (bn_str_eq(rest, BN_STR("websocket")) && !def->no_websocket)
        bn__websocket_serve(c, def);
    else if (bn_str_eq(rest, BN_STR("longpoll")) && def->longpoll)
        bn__longpoll_serve(c, def);
    else
        return;
    bn_conn_halt(c);
}

/* ---- public socket API --------------------------------------------------------------- */

void *bn_socket_state(bn_socket *s) { return s->state; }

void bn_socket_set_id(bn_socket *s, const char *id)
{
    free(s->id);
    s->id = id ? bn_xstrdup(id) : NULL;
}

const char *bn_socket_id(const bn_socket *s) { return s->id; }
bn_str bn_socket_auth_token(const bn_socket *s) { return s->auth_token; }
const char *bn_socket_transport(const bn_socket *s) { return s->t ? s->t->name : "closed"; }
int bn_socket_vsn(const bn_socket *s) { return s->vsn == BN_VSN_2 ? 2 : 1; }

void bn_socket_disconnect(const char *id) { bn_broadcast_json(id, "disconnect", BN_STR("{}")); }

/* ---- public channel API ------------------------------------------------------------------ */

bn_socket *bn_channel_socket(bn_channel *ch) { return ch->s; }
void *bn_channel_state(bn_channel *ch) { return ch->state; }
bn_str bn_channel_topic(const bn_channel *ch) { return cstr(ch->topic); }

bn_arena *bn_channel_arena(bn_channel *ch)
{
    if (!ch->cur)
        bn_fatal("bn_channel_arena called outside a channel callback");
    return &ch->cur->arena;
}

static bn_str encode_value(bn_channel *ch, const bn_value *v)
{
    if (!v)
        return BN_STR("{}");
    bn_buf b = BN_BUF_INIT;
    bn_json_encode(&b, v);
    bn_str out = bn_str_make(bn_arena_strndup(bn_channel_arena(ch), b.data, b.len), b.len);
    bn_buf_free(&b);
    return out;
}

void bn_channel_reply_json(bn_channel *ch, const char *status, bn_str response_json)
{
    work *w = ch->cur;
    if (!w || w->kind != WORK_INPUT || ch->replied) {
        bn_warn("%s: bn_channel_reply outside join/handle_in, or twice: ignored", ch->def->name ? ch->def->name : "channel");
        return;
    }
    ch->replied = true;
    if (bn_str_eq(w->msg.event, BN_STR("phx_join"))) { /* sent by run_join with the join's verdict */
        w->join_reply = bn_str_make(bn_arena_strndup(&w->arena, response_json.ptr, response_json.len), response_json.len);
        return;
    }
    send_reply(ch->s, cstr(ch->join_ref), w->msg.ref, cstr(ch->topic), cstr(status), response_json);
}

void bn_channel_reply(bn_channel *ch, const char *status, const bn_value *response)
{
    bn_channel_reply_json(ch, status, encode_value(ch, response));
}

static void base64_object(bn_buf *json, bn_str bytes)
{
    bn_buf_append(json, "{\"binary\":\"", 11);
    bn_base64_encode(json, bytes.ptr, bytes.len);
    bn_buf_append(json, "\"}", 2);
}

void bn_channel_reply_binary(bn_channel *ch, const char *status, bn_str bytes)
{
    work *w = ch->cur;
    if (!w || w->kind != WORK_INPUT || ch->replied || bn_str_eq(w->msg.event, BN_STR("phx_join"))) {
        bn_warn("bn_channel_reply_binary outside handle_in, or twice: ignored");
        return;
    }
    if (ch->s->vsn == BN_VSN_1) {
        bn_buf json = BN_BUF_INIT;
        base64_object(&json, bytes);
        bn_channel_reply_json(ch, status, bn_str_make(json.data, json.len));
        bn_buf_free(&json);
        return;
    }
    ch->replied = true;
    bn_buf b = BN_BUF_INIT;
    if (bn_message_encode_binary_reply(cstr(ch->join_ref), w->msg.ref, cstr(ch->topic), cstr(status), bytes, &b))
        send_binary(ch->s, &b);
    else
        bn_warn("bn_channel_reply_binary: topic, ref or status longer than 255 bytes: not sent");
}

void bn_channel_push_json(bn_channel *ch, const char *event, bn_str payload_json)
{
    if (!ch->ending)
        send_message(ch->s, cstr(ch->join_ref), BN_STR_NULL, cstr(ch->topic), cstr(event), payload_json);
}

void bn_channel_push(bn_channel *ch, const char *event, const bn_value *payload)
{
    bn_buf b = BN_BUF_INIT;
    if (payload)
        bn_json_encode(&b, payload);
    bn_channel_push_json(ch, event, payload ? bn_str_make(b.data, b.len) : BN_STR("{}"));
    bn_buf_free(&b);
}

void bn_channel_push_binary(bn_channel *ch, const char *event, bn_str bytes)
{
    if (ch->ending)
        return;
    if (ch->s->vsn == BN_VSN_1) {
        bn_buf json = BN_BUF_INIT;
        base64_object(&json, bytes);
        bn_channel_push_json(ch, event, bn_str_make(json.data, json.len));
        bn_buf_free(&json);
        return;
    }
    bn_buf b = BN_BUF_INIT;
    if (bn_message_encode_binary_push(cstr(ch->join_ref), cstr(ch->topic), cstr(event), bytes, &b))
        send_binary(ch->s, &b);
    else
        bn_warn("bn_channel_push_binary: topic or event longer than 255 bytes: not sent");
}

static void broadcast(const char *topic, const char *event, bool binary, bn_str payload, uint64_t from)
{
    bn_fastlane *fl = bn__fastlane_new(topic, event, binary, payload, from);
    bn__registry_publish(fl);
    bn__fastlane_unref(fl);
}

static void broadcast_value(const char *topic, const char *event, const bn_value *payload, uint64_t from)
{
    bn_buf b = BN_BUF_INIT;
    if (payload)
        bn_json_encode(&b, payload);
    broadcast(topic, event, false, payload ? bn_str_make(b.data, b.len) : BN_STR("{}"), from);
    bn_buf_free(&b);
}

void bn_broadcast(const char *topic, const char *event, const bn_value *payload)
{
    broadcast_value(topic, event, payload, 0);
}
void bn_broadcast_json(const char *topic, const char *event, bn_str payload_json)
{
    broadcast(topic, event, false, payload_json, 0);
}
void bn_broadcast_binary(const char *topic, const char *event, bn_str bytes)
{
    broadcast(topic, event, true, bytes, 0);
}
void bn_channel_broadcast(bn_channel *ch, const char *event, const bn_value *payload)
{
    broadcast_value(ch->topic, event, payload, 0);
}
void bn_channel_broadcast_json(bn_channel *ch, const char *event, bn_str payload_json)
{
    broadcast(ch->topic, event, false, payload_json, 0);
}
void bn_channel_broadcast_binary(bn_channel *ch, const char *event, bn_str bytes)
{
    broadcast(ch->topic, event, true, bytes, 0);
}
void bn_channel_broadcast_from(bn_channel *ch, const char *event, const bn_value *payload)
{
    broadcast_value(ch->topic, event, payload, ch->id);
}
void bn_channel_broadcast_from_json(bn_channel *ch, const char *event, bn_str payload_json)
{
    broadcast(ch->topic, event, false, payload_json, ch->id);
}

void bn_channel_stop(bn_channel *ch) { ch->stopping = true; }

_Noreturn void bn_channel_raise(bn_channel *ch, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    bn_error("%s %s: %s", ch->def->name ? ch->def->name : "channel", ch->topic, msg);
    if (!ch->catch_frame)
        bn_fatal("bn_channel_raise outside a channel callback");
    longjmp(*ch->catch_frame, 1);
}

static void info_fire(bn_timer *t)
{
    info_timer *it = bn_container_of(t, info_timer, timer);
    bn_channel *ch = it->ch;
    bn_socket *s = ch->s;
    bn_list_remove(&it->link);
    if (!ch->ending) {
        work *w = work_new(s, WORK_INFO, ch);
        bn_json_error err;
        w->value = bn_json_parse(&w->arena, bn_str_from_cstr(it->json), &err);
        bn_list_push_back(&s->queue, &w->link);
    }
    free(it->json);
    free(it);
    pump(s); /* may end the channel, or the socket */
}

void bn_channel_send_after(bn_channel *ch, uint64_t delay_ms, const bn_value *msg)
{
    info_timer *it = bn_xcalloc(1, sizeof(*it));
    bn_buf b = BN_BUF_INIT;
    if (msg)
        bn_json_encode(&b, msg);
    else
        bn_buf_append(&b, "null", 4);
    bn_buf_append(&b, "", 1);
    it->json = b.data;
    it->ch = ch;
    bn_list_push_back(&ch->timers, &it->link);
    bn_timer_init(&it->timer, info_fire);
    bn_timer_start(ch->s->loop, &it->timer, delay_ms);
}

void bn_channel_defer(bn_channel *ch, void (*fn)(bn_channel *ch, void *arg), void *arg)
{
    channel_defer *d = bn_xmalloc(sizeof(*d));
    d->fn = fn;
    d->arg = arg;
    d->next = ch->defers;
    ch->defers = d;
}

uint64_t bn_channel_id(const bn_channel *ch) { return ch->id; }

/* A broadcast to one of a channel's extra topics: handle_info gets {topic, event, payload}. */
static void extra_deliver(bn_subscription *sub, bn_fastlane *fl)
{
    extra_sub *x = bn_container_of(sub, extra_sub, sub);
    bn_channel *ch = x->ch;
    bn_socket *s = ch->s;
    if (ch->ending || !s->t)
        return;
    work *w = work_new(s, WORK_INFO, ch);
    bn_arena *a = &w->arena;
    bn_value *msg = bn_value_object(a);
    bn_value_set(a, msg, "topic", bn_value_string(a, cstr(fl->topic)));
    bn_value_set(a, msg, "event", bn_value_string(a, cstr(fl->event)));
    bn_str payload = bn_str_make(fl->payload, fl->payload_len);
    bn_json_error err;
    bn_value *v = fl->binary ? NULL : bn_json_parse(a, payload, &err);
    bn_value_set(a, msg, "payload", v ? v : bn_value_string(a, payload));
    w->value = msg;
    bn_list_push_back(&s->queue, &w->link);
    if (!s->busy) /* run it at the next turn: the registry is being walked now */
        bn_timer_start(s->loop, &s->later, 0);
}

int bn_channel_subscribe(bn_channel *ch, const char *topic)
{
    for (bn_list *n = ch->extra_subs.next; n != &ch->extra_subs; n = n->next)
        if (strcmp(bn_container_of(n, extra_sub, link)->topic, topic) == 0)
            return -1;
    size_t len = strlen(topic);
    extra_sub *x = bn_xcalloc(1, sizeof(*x) + len + 1);
    memcpy(x->topic, topic, len + 1);
    x->ch = ch;
    bn_list_push_back(&ch->extra_subs, &x->link);
    bn__registry_subscribe(&x->sub, x->topic, extra_deliver);
    return 0;
}
