/*
 * PubSub in one process: the node's configuration, mailbox subscribers and
 * the publishing functions over the local adapter (broadcast, broadcast_from,
 * local and direct), the envelope between nodes (round trip, malformed
 * input), REDIS_URL parsing, and the Redis adapter against a redis-server of
 * the test's own — the test plays the other nodes with raw PUBLISHes and a
 * raw SUBSCRIBE, so each direction is checked on its own: what this node
 * sends, what it delivers, what it drops, AUTH and SELECT, and a restart of
 * Redis. Each test runs in a process of its own (Criterion), so each starts
 * PubSub afresh.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <bennu.h>

#include "pubsub/pubsub_internal.h"
#include "pubsub/redis_adapter.h"
#include "redis.h" /* tests/support: a redis-server of the test's own */

#define WAIT_MS 5000

static void clean_env(void)
{
    unsetenv("REDIS_URL");
    unsetenv("BENNU_NODE");
    unsetenv("BENNU_PUBSUB_NAME");
    unsetenv("BENNU_PRESENCE_HEARTBEAT_MS");
    unsetenv("BENNU_PRESENCE_TIMEOUT_MS");
    setenv("BENNU_LOG_LEVEL", "error", 1);
    bn_log_init_from_env();
}

TestSuite(pubsub, .init = clean_env, .timeout = 30);
TestSuite(envelope, .timeout = 30);
TestSuite(redis_url, .timeout = 30);
TestSuite(redis, .init = clean_env, .timeout = 60);

/* ---- running a test body in a task ------------------------------------------------------------- */

static bn_loop *test_loop;

typedef struct body {
    void (*fn)(void);
} body;

static void body_task(void *arg)
{
    ((body *)arg)->fn();
    bn_loop_stop(test_loop);
}

/* Runs fn in a task on a loop of this thread (mailboxes, bn_sleep). */
static void run(void (*fn)(void))
{
    test_loop = bn_loop_new();
    body b = {fn};
    bn_task_spawn(test_loop, body_task, &b);
    cr_assert_eq(bn_loop_run(test_loop), 0);
    bn_loop_free(test_loop);
    test_loop = NULL;
}

static bn_pubsub_message *next_msg(bn_mailbox *mb)
{
    bn_msg *m = bn_mailbox_recv(mb, WAIT_MS);
    cr_assert_not_null(m, "no message within %d ms", WAIT_MS);
    bn_pubsub_message *pm = bn_pubsub_message_of(m);
    cr_assert_not_null(pm, "a mailbox message that is not a pubsub message");
    return pm;
}

/* The next message is exactly this (a message that should have been skipped would come first). */
static void expect_msg(bn_mailbox *mb, const char *topic, const char *event, const char *payload)
{
    bn_pubsub_message *m = next_msg(mb);
    cr_expect_str_eq(m->topic, topic);
    cr_expect_str_eq(m->event, event);
    cr_expect(!m->binary);
    cr_expect(bn_str_eq(m->payload, bn_str_from_cstr(payload)), "payload %.*s, want %s", (int)m->payload.len,
              m->payload.ptr, payload);
    bn_pubsub_message_free(m);
}

static void expect_nothing_queued(bn_mailbox *mb)
{
    bn_msg *m = bn_mailbox_recv(mb, 0);
    cr_expect_null(m, "an unexpected message: %s", m ? bn_pubsub_message_of(m)->event : "");
}

/* Polls `cond` every 10 ms for up to `ms` (in a task). */
static bool eventually(bool (*cond)(void), int ms)
{
    for (int waited = 0; waited <= ms; waited += 10) {
        if (cond())
            return true;
        bn_sleep(10);
    }
    return false;
}

static bool is_connected(void) { return bn_pubsub_connected(); }
static bool is_disconnected(void) { return !bn_pubsub_connected(); }

/* ---- configuration --------------------------------------------------------------------------- */

Test(pubsub, without_start_the_node_is_local_and_named_after_the_process)
{
    char want[300], host[200] = "";
    gethostname(host, sizeof host - 1);
    snprintf(want, sizeof want, "%s:%d", host, (int)getpid());
    cr_expect_str_eq(bn_pubsub_node(), want);
    cr_expect_str_eq(bn_pubsub_adapter(), "local");
    cr_expect(bn_pubsub_connected(), "the local adapter is always connected");
    cr_expect_null(bn__pubsub_loop(), "the local adapter has no loop");
    const bn_pubsub_config *cfg = bn__pubsub_config();
    cr_expect_str_eq(cfg->name, "bennu");
    cr_expect_null(cfg->redis_url);
    cr_expect_eq(cfg->presence_heartbeat_ms, 1500);
    cr_expect_eq(cfg->presence_timeout_ms, 5000);
}

Test(pubsub, the_environment_fills_what_the_config_leaves_out)
{
    setenv("BENNU_NODE", "env-node", 1);
    setenv("BENNU_PUBSUB_NAME", "chat", 1);
    setenv("BENNU_PRESENCE_HEARTBEAT_MS", "200", 1);
    setenv("REDIS_URL", "", 1); /* empty: local */
    bn_pubsub_config cfg = {.presence_timeout_ms = 900};
    cr_assert_eq(bn_pubsub_start(&cfg), 0);
    cr_expect_str_eq(bn_pubsub_node(), "env-node");
    cr_expect_str_eq(bn_pubsub_adapter(), "local");
    cr_expect_str_eq(bn__pubsub_config()->name, "chat");
    cr_expect_eq(bn__pubsub_config()->presence_heartbeat_ms, 200);
    cr_expect_eq(bn__pubsub_config()->presence_timeout_ms, 900);
}

Test(pubsub, the_config_wins_over_the_environment)
{
    setenv("BENNU_NODE", "env-node", 1);
    bn_pubsub_config cfg = {.node = "cfg-node", .name = "mine", .presence_heartbeat_ms = 10};
    cr_assert_eq(bn_pubsub_start(&cfg), 0);
    cr_expect_str_eq(bn_pubsub_node(), "cfg-node");
    cr_expect_str_eq(bn__pubsub_config()->name, "mine");
    cr_expect_eq(bn__pubsub_config()->presence_heartbeat_ms, 10);
    cr_expect_eq(bn_pubsub_start(NULL), 0, "a second start is ignored");
    cr_expect_str_eq(bn_pubsub_node(), "cfg-node");
}

Test(pubsub, a_malformed_redis_url_fails_the_start)
{
    const char *bad[] = {"http://127.0.0.1:6379", "rediss://127.0.0.1", "redis://", "redis://h:0", "redis://h:x"};
    bn_log_threshold = BN_LOG_OFF; /* each is logged as an error */
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++) {
        bn_pubsub_config cfg = {.redis_url = bad[i]};
        cr_expect_eq(bn_pubsub_start(&cfg), -1, "%s", bad[i]);
    }
    cr_expect_str_eq(bn_pubsub_adapter(), "local");
}

/* ---- mailbox subscribers over the local adapter --------------------------------------------------- */

static void delivers_each_field(void)
{
    bn_mailbox mb;
    bn_mailbox_init(&mb, test_loop);
    bn_pubsub_sub *sub = bn_pubsub_subscribe(&mb, "room:1");
    bn_pubsub_broadcast("room:2", "elsewhere", BN_STR("{}"));
    bn_pubsub_broadcast("room:1", "new_msg", BN_STR("{\"body\":\"hi\"}"));
    expect_msg(&mb, "room:1", "new_msg", "{\"body\":\"hi\"}");
    bn_broadcast_binary("room:1", "blob", BN_STR("\x00\x01\x02"));
    bn_pubsub_message *m = next_msg(&mb);
    cr_expect(m->binary);
    cr_expect_str_eq(m->event, "blob");
    cr_expect(bn_str_eq(m->payload, BN_STR("\x00\x01\x02")));
    bn_pubsub_message_free(m);
    bn_broadcast_json("room:1", "from_socket_h", BN_STR("[1]"));
    expect_msg(&mb, "room:1", "from_socket_h", "[1]");
    expect_nothing_queued(&mb);
    bn_pubsub_unsubscribe(sub);
}

Test(pubsub, a_mailbox_subscriber_gets_its_topics_broadcasts) { run(delivers_each_field); }

static void unsubscribed(void)
{
    bn_mailbox mb;
    bn_mailbox_init(&mb, test_loop);
    bn_pubsub_sub *sub = bn_pubsub_subscribe(&mb, "t");
    bn_pubsub_sub *other = bn_pubsub_subscribe(&mb, "u");
    bn_pubsub_unsubscribe(sub);
    bn_pubsub_broadcast("t", "gone", BN_STR("{}"));
    bn_pubsub_broadcast("u", "marker", BN_STR("{}"));
    expect_msg(&mb, "u", "marker", "{}");
    bn_pubsub_unsubscribe(other);
    bn_pubsub_unsubscribe(NULL);
}

Test(pubsub, an_unsubscribed_mailbox_gets_nothing_more) { run(unsubscribed); }

static void from_skips_the_sender(void)
{
    bn_mailbox a, b;
    bn_mailbox_init(&a, test_loop);
    bn_mailbox_init(&b, test_loop);
    bn_pubsub_sub *sa = bn_pubsub_subscribe(&a, "room");
    bn_pubsub_sub *sb = bn_pubsub_subscribe(&b, "room");
    bn_pubsub_broadcast_from(sa, "room", "shout", BN_STR("{\"n\":1}"));
    bn_pubsub_broadcast("room", "marker", BN_STR("{}"));
    expect_msg(&a, "room", "marker", "{}"); /* not the shout */
    expect_msg(&b, "room", "shout", "{\"n\":1}");
    expect_msg(&b, "room", "marker", "{}");
    bn_pubsub_broadcast_from(NULL, "room", "everyone", BN_STR("{}"));
    expect_msg(&a, "room", "everyone", "{}");
    expect_msg(&b, "room", "everyone", "{}");
    bn_pubsub_unsubscribe(sa);
    bn_pubsub_unsubscribe(sb);
}

Test(pubsub, broadcast_from_skips_only_the_sender) { run(from_skips_the_sender); }

static void local_and_direct(void)
{
    bn_pubsub_config cfg = {.node = "here"};
    cr_assert_eq(bn_pubsub_start(&cfg), 0);
    bn_mailbox mb;
    bn_mailbox_init(&mb, test_loop);
    bn_pubsub_sub *sub = bn_pubsub_subscribe(&mb, "t");
    bn_pubsub_local_broadcast("t", "local", BN_STR("{}"));
    bn_pubsub_direct_broadcast("here", "t", "direct_here", BN_STR("{}"));
    bn_pubsub_direct_broadcast("there", "t", "direct_there", BN_STR("{}"));
    bn_pubsub_broadcast("t", "marker", BN_STR("{}"));
    expect_msg(&mb, "t", "local", "{}");
    expect_msg(&mb, "t", "direct_here", "{}");
    expect_msg(&mb, "t", "marker", "{}"); /* not direct_there: another node's */
    bn_pubsub_unsubscribe(sub);
}

Test(pubsub, local_and_direct_broadcasts_to_this_node_deliver_here_only) { run(local_and_direct); }

static void not_a_pubsub_message(void)
{
    bn_mailbox mb;
    bn_mailbox_init(&mb, test_loop);
    bn_msg plain;
    memset(&plain, 0, sizeof plain);
    bn_mailbox_send(&mb, &plain);
    cr_expect_null(bn_pubsub_message_of(bn_mailbox_recv(&mb, 0)));
    cr_expect_null(bn_pubsub_message_of(NULL));
    bn_pubsub_message_free(NULL);
}

Test(pubsub, other_mailbox_messages_are_not_pubsub_messages) { run(not_a_pubsub_message); }

/* Subscribers on several loop threads each get every broadcast once, in order, sent from another thread. */
enum { THREADS = 3, SUBS_PER_THREAD = 4, MESSAGES = 200 };

typedef struct sub_thread {
    pthread_t thread;
    bn_loop *loop;
    int done; /* tasks finished (on the thread's loop) */
    int received[SUBS_PER_THREAD];
    bool in_order;
} sub_thread;

typedef struct sub_task {
    sub_thread *st;
    int index;
    bn_mailbox mb;
} sub_task;

static _Atomic(int) subscribed;

static void sub_task_fn(void *arg)
{
    sub_task *t = arg;
    bn_mailbox_init(&t->mb, t->st->loop);
    bn_pubsub_sub *sub = bn_pubsub_subscribe(&t->mb, "fan");
    atomic_fetch_add(&subscribed, 1);
    for (int i = 0; i < MESSAGES; i++) {
        bn_msg *m = bn_mailbox_recv(&t->mb, WAIT_MS);
        if (!m)
            break;
        bn_pubsub_message *pm = bn_pubsub_message_of(m);
        char want[32];
        snprintf(want, sizeof want, "{\"i\":%d}", i);
        t->st->in_order &= bn_str_eq(pm->payload, bn_str_from_cstr(want));
        t->st->received[t->index]++;
        bn_pubsub_message_free(pm);
    }
    bn_pubsub_unsubscribe(sub);
    if (++t->st->done == SUBS_PER_THREAD)
        bn_loop_stop(t->st->loop);
}

static void *sub_thread_main(void *arg)
{
    sub_thread *st = arg;
    st->loop = bn_loop_new();
    st->in_order = true;
    sub_task tasks[SUBS_PER_THREAD];
    for (int k = 0; k < SUBS_PER_THREAD; k++) {
        tasks[k] = (sub_task){.st = st, .index = k};
        bn_task_spawn(st->loop, sub_task_fn, &tasks[k]);
    }
    bn_loop_run(st->loop);
    bn_loop_free(st->loop);
    return NULL;
}

Test(pubsub, subscribers_on_several_threads_each_get_every_broadcast_in_order)
{
    sub_thread threads[THREADS] = {0};
    for (int i = 0; i < THREADS; i++)
        pthread_create(&threads[i].thread, NULL, sub_thread_main, &threads[i]);
    for (int waited = 0; atomic_load(&subscribed) < THREADS * SUBS_PER_THREAD && waited < WAIT_MS; waited++)
        usleep(1000);
    cr_assert_eq(atomic_load(&subscribed), THREADS * SUBS_PER_THREAD);
    for (int i = 0; i < MESSAGES; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        bn_pubsub_broadcast("fan", "n", bn_str_from_cstr(payload));
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i].thread, NULL);
        for (int k = 0; k < SUBS_PER_THREAD; k++)
            cr_expect_eq(threads[i].received[k], MESSAGES, "thread %d subscriber %d", i, k);
        cr_expect(threads[i].in_order, "thread %d got broadcasts out of order", i);
    }
}

/* ---- the envelope ------------------------------------------------------------------------------- */

typedef struct decoded {
    bn_str origin, target, topic, event, payload;
    bool binary;
} decoded;

static bool decode(bn_str in, decoded *d)
{
    return bn__pubsub_envelope_decode(in, &d->origin, &d->target, &d->topic, &d->event, &d->binary, &d->payload);
}

static void expect_str(bn_str got, const char *want)
{
    cr_expect(bn_str_eq(got, bn_str_from_cstr(want)), "got \"%.*s\", want \"%s\"", (int)got.len, got.ptr, want);
}

Test(envelope, round_trips_every_field)
{
    bn_buf b = BN_BUF_INIT;
    bn__pubsub_envelope_encode(&b, "node-a", NULL, "room:lobby", "new_msg", false, BN_STR("{\"body\":\"é\"}"));
    decoded d;
    cr_assert(decode(bn_str_make(b.data, b.len), &d));
    expect_str(d.origin, "node-a");
    cr_expect_null(d.target.ptr, "no target");
    expect_str(d.topic, "room:lobby");
    expect_str(d.event, "new_msg");
    expect_str(d.payload, "{\"body\":\"é\"}");
    cr_expect(!d.binary);

    b.len = 0;
    char big[300];
    memset(big, 't', sizeof big - 1); /* a length over 127: two bytes of LEB128 */
    big[sizeof big - 1] = '\0';
    bn__pubsub_envelope_encode(&b, "a", "node-b", big, "e", true, BN_STR("\x00\xff"));
    cr_assert(decode(bn_str_make(b.data, b.len), &d));
    expect_str(d.target, "node-b");
    expect_str(d.topic, big);
    cr_expect(d.binary);
    cr_expect(bn_str_eq(d.payload, BN_STR("\x00\xff")));

    b.len = 0;
    bn__pubsub_envelope_encode(&b, "a", NULL, "t", "e", true, BN_STR_NULL);
    cr_expect(decode(bn_str_make(b.data, b.len), &d), "an empty binary payload is fine");
    cr_expect_eq(d.payload.len, 0);
    bn_buf_free(&b);
}

Test(envelope, every_cut_inside_the_header_is_refused)
{
    bn_buf b = BN_BUF_INIT;
    bn__pubsub_envelope_encode(&b, "origin", "target", "topic", "event", false, BN_STR("{}"));
    size_t head = b.len - 2; /* everything but the payload */
    decoded d;
    for (size_t len = 0; len <= head; len++)
        cr_expect(!decode(bn_str_make(b.data, len), &d), "a cut at %zu bytes was accepted", len);
    cr_expect(decode(bn_str_make(b.data, head + 1), &d), "a shorter payload is still a payload");
    bn_buf_free(&b);
}

/* An envelope written by hand: "BN", version, flags, then the rest as given. */
static bool decode_raw(const char *bytes, size_t len)
{
    decoded d;
    return decode(bn_str_make(bytes, len), &d);
}
#define RAW(lit) decode_raw(lit, sizeof(lit) - 1)

Test(envelope, malformed_envelopes_are_refused)
{
    cr_expect(RAW("BN\x01\x00\x01o\x01t\x01" "e{}"), "the reference envelope is fine");
    cr_expect(!RAW("XN\x01\x00\x01o\x01t\x01" "e{}"), "magic");
    cr_expect(!RAW("BN\x02\x00\x01o\x01t\x01" "e{}"), "an unknown version");
    cr_expect(!RAW("BN\x01\x04\x01o\x01t\x01" "e{}"), "an unknown flag");
    cr_expect(!RAW("BN\x01\x00\x00\x01t\x01" "e{}"), "an empty origin");
    cr_expect(!RAW("BN\x01\x00\x01o\x00\x01" "e{}"), "an empty topic");
    cr_expect(!RAW("BN\x01\x00\x01o\x01t\x00{}"), "an empty event");
    cr_expect(!RAW("BN\x01\x02\x01o\x00\x01t\x01" "e{}"), "an empty target");
    cr_expect(!RAW("BN\x01\x00\x01o\x01t\x01" "e"), "an empty JSON payload");
    cr_expect(RAW("BN\x01\x01\x01o\x01t\x01" "e"), "an empty binary payload");
    cr_expect(!RAW("BN\x01\x00\x01o\x02t\x00\x01" "e{}"), "a NUL in the topic");
    cr_expect(!RAW("BN\x01\x00\x01o\x01\xff\x01" "e{}"), "a topic that is not UTF-8");
    cr_expect(!RAW("BN\x01\x00\x01o\x02\xc3\x01" "e{}"), "a character cut in two");
    cr_expect(!RAW("BN\x01\x00\x01o\x09t\x01" "e{}"), "a length past the end");
    cr_expect(!RAW("BN\x01\x00\x81\x80\x80\x80\x80\x00o"), "a length in six bytes");
    cr_expect(!RAW("BN\x01\x00\xff\xff\xff\xff\x7f"), "a length over 32 bits");
    cr_expect(!RAW("BN\x01\x00\x80"), "a length cut short");
    cr_expect(!RAW("BN\x01"), "no flags");
    cr_expect(!decode_raw(NULL, 0), "nothing");
}

/* ---- REDIS_URL ------------------------------------------------------------------------------------ */

typedef struct url_case {
    const char *url;
    const char *host;
    unsigned port;
    const char *user, *password;
    unsigned db;
} url_case;

static void expect_cstr(const char *got, const char *want, const char *what, const char *url)
{
    if (!want)
        cr_expect_null(got, "%s of %s: %s", what, url, got);
    else
        cr_expect(got && strcmp(got, want) == 0, "%s of %s: got %s, want %s", what, url, got ? got : "NULL", want);
}

Test(redis_url, parses_every_part)
{
    const url_case cases[] = {
        {"redis://127.0.0.1", "127.0.0.1", 6379, NULL, NULL, 0},
        {"redis://localhost:6380", "localhost", 6380, NULL, NULL, 0},
        {"REDIS://cache.internal:1/", "cache.internal", 1, NULL, NULL, 0},
        {"redis://h:7000/15", "h", 7000, NULL, NULL, 15},
        {"redis://:s3cret@h", "h", 6379, NULL, "s3cret", 0},
        {"redis://:p%40ss%3Aw@h:1/2", "h", 1, NULL, "p@ss:w", 2},
        {"redis://:a@b@h", "h", 6379, NULL, "a@b", 0},
        {"redis://app:pw@h", "h", 6379, "app", "pw", 0},
        {"redis://[::1]:6390/3", "::1", 6390, NULL, NULL, 3},
        {"redis://[::1]", "::1", 6379, NULL, NULL, 0},
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(cases); i++) {
        const url_case *c = &cases[i];
        char *host, *user, *password;
        unsigned port, db;
        cr_expect(bn__redis_url_parse(c->url, &host, &port, &user, &password, &db), "%s refused", c->url);
        expect_cstr(host, c->host, "host", c->url);
        expect_cstr(user, c->user, "user", c->url);
        expect_cstr(password, c->password, "password", c->url);
        cr_expect_eq(port, c->port, "port of %s: %u", c->url, port);
        cr_expect_eq(db, c->db, "db of %s: %u", c->url, db);
        free(host);
        free(user);
        free(password);
    }
}

Test(redis_url, refuses_malformed_urls)
{
    const char *bad[] = {
        NULL, "", "127.0.0.1:6379", "http://h", "rediss://h", "redis://", "redis://:6379", "redis://h:",
        "redis://h:0", "redis://h:65536", "redis://h:12x", "redis://h/x", "redis://h/1/2", "redis://h/-1",
        "redis://name@h", "redis://:@h", "redis://:%zz@h", "redis://:%00@h", "redis://[::1", "redis://[::1]x",
        "redis://h h", "redis://h?db=1",
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++) {
        char *host = (char *)1, *user = (char *)1, *password = (char *)1;
        unsigned port, db;
        cr_expect(!bn__redis_url_parse(bad[i], &host, &port, &user, &password, &db), "%s accepted",
                  bad[i] ? bad[i] : "NULL");
        cr_expect(!host && !user && !password, "%s: out-parameters left set", bad[i] ? bad[i] : "NULL");
    }
}

/* ---- the Redis adapter against a redis-server of the test's own ---------------------------------------- */

static bt_redis redis;

static void start_redis(const char *const *args)
{
    cr_assert(bt_redis_start(&redis, args), "redis-server did not start (log %s)", redis.log_path);
}

static void stop_redis(void)
{
    bt_redis_stop(&redis);
    bt_redis_free(&redis);
}

static void start_node(const char *url)
{
    bn_pubsub_config cfg = {.node = "a", .redis_url = url};
    cr_assert_eq(bn_pubsub_start(&cfg), 0);
    cr_expect_str_eq(bn_pubsub_adapter(), "redis");
}

/* Another node's message, published straight to Redis. */
static void publish_as(const char *origin, const char *target, const char *topic, const char *event,
                       const char *payload)
{
    bn_buf b = BN_BUF_INIT;
    bn__pubsub_envelope_encode(&b, origin, target, topic, event, false, bn_str_from_cstr(payload));
    cr_assert(bt_redis_publish(&redis, NULL, "bennu:bennu", b.data, b.len));
    bn_buf_free(&b);
}

static void receives(void)
{
    cr_assert(eventually(is_connected, WAIT_MS), "not connected to redis");
    cr_expect_not_null(bn__pubsub_loop());
    bn_mailbox mb;
    bn_mailbox_init(&mb, test_loop);
    bn_pubsub_sub *sub = bn_pubsub_subscribe(&mb, "room:x");
    publish_as("b", NULL, "room:x", "from_b", "{\"n\":1}");
    expect_msg(&mb, "room:x", "from_b", "{\"n\":1}");

    publish_as("a", NULL, "room:x", "own_echo", "{}");         /* this node's: delivered when sent */
    publish_as("b", "c", "room:x", "for_c", "{}");             /* another node's direct broadcast */
    publish_as("b", NULL, "bn:other", "internal", "{}");       /* the cluster's own traffic */
    cr_assert(bt_redis_publish(&redis, NULL, "bennu:bennu", "garbage", 7));
    publish_as("b", "a", "room:x", "for_a", "{\"direct\":true}");
    publish_as("c", NULL, "room:x", "from_c", "[]");
    expect_msg(&mb, "room:x", "for_a", "{\"direct\":true}");
    expect_msg(&mb, "room:x", "from_c", "[]");
    bn_pubsub_unsubscribe(sub);
}

Test(redis, a_node_delivers_other_nodes_messages_and_drops_the_rest)
{
    start_redis(NULL);
    start_node(redis.url);
    run(receives);
    stop_redis();
}

/* A raw subscriber on the cluster's channel: what this node publishes. */
static redisContext *spy_open(void)
{
    redisContext *c = redisConnect("127.0.0.1", (int)redis.port);
    cr_assert(c && !c->err, "spy connect");
    redisSetTimeout(c, (struct timeval){WAIT_MS / 1000, 0});
    redisReply *r = redisCommand(c, "SUBSCRIBE bennu:bennu");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "spy subscribe");
    freeReplyObject(r);
    return c;
}

/* The next envelope this node ("a") published, Presence's own traffic aside (decoded into `d`, its bytes
 * kept in `keep`). */
static void spy_next(redisContext *c, decoded *d, bn_buf *keep)
{
    for (;;) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK, "nothing published within %d ms", WAIT_MS);
        cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
        keep->len = 0;
        bn_buf_append(keep, r->element[2]->str, r->element[2]->len);
        freeReplyObject(r);
        cr_assert(decode(bn_str_make(keep->data, keep->len), d), "a malformed envelope was published");
        if (bn_str_eq(d->origin, BN_STR("a")) && !bn_str_eq(d->topic, BN_STR(BN_PRESENCE_TOPIC)))
            return;
    }
}

static redisContext *spy;

static void publishes(void)
{
    cr_assert(eventually(is_connected, WAIT_MS), "not connected to redis");
    bn_mailbox mb;
    bn_mailbox_init(&mb, test_loop);
    bn_pubsub_sub *sub = bn_pubsub_subscribe(&mb, "room:y");
    decoded d;
    bn_buf keep = BN_BUF_INIT;

    bn_pubsub_broadcast("room:y", "hello", BN_STR("{\"x\":1}"));
    expect_msg(&mb, "room:y", "hello", "{\"x\":1}"); /* here too, at once */
    spy_next(spy, &d, &keep);
    expect_str(d.origin, "a");
    cr_expect_null(d.target.ptr);
    expect_str(d.topic, "room:y");
    expect_str(d.event, "hello");
    expect_str(d.payload, "{\"x\":1}");
    cr_expect(!d.binary);

    bn_pubsub_local_broadcast("room:y", "local_only", BN_STR("{}"));
    bn_pubsub_direct_broadcast("a", "room:y", "direct_to_me", BN_STR("{}"));
    bn_pubsub_direct_broadcast("b", "room:y", "direct_to_b", BN_STR("{\"d\":2}"));
    spy_next(spy, &d, &keep); /* neither the local one nor the direct one to this node went out */
    expect_str(d.target, "b");
    expect_str(d.event, "direct_to_b");
    expect_msg(&mb, "room:y", "local_only", "{}");
    expect_msg(&mb, "room:y", "direct_to_me", "{}");

    bn_pubsub_broadcast_from(sub, "room:y", "from_sub", BN_STR("{}"));
    spy_next(spy, &d, &keep); /* the other nodes' subscribers all get it */
    expect_str(d.event, "from_sub");

    bn_broadcast_binary("room:y", "bytes", BN_STR("\x01\x02"));
    spy_next(spy, &d, &keep);
    cr_expect(d.binary);
    cr_expect(bn_str_eq(d.payload, BN_STR("\x01\x02")));

    bn_broadcast_json("bn:test", "spoof", BN_STR("{}"));
    bn__pubsub_remote_send(NULL, "bn:test", "internal", false, BN_STR("{}"));
    spy_next(spy, &d, &keep); /* internal topics leave only by bn__pubsub_remote_send */
    expect_str(d.topic, "bn:test");
    expect_str(d.event, "internal");
    bn_pubsub_message *m = next_msg(&mb);
    cr_expect_str_eq(m->event, "bytes");
    bn_pubsub_message_free(m);
    bn_buf_free(&keep);
    bn_pubsub_unsubscribe(sub);
}

Test(redis, a_node_publishes_envelopes_naming_itself)
{
    start_redis(NULL);
    spy = spy_open();
    start_node(redis.url);
    run(publishes);
    redisFree(spy);
    stop_redis();
}

static void connects(void) { cr_expect(eventually(is_connected, WAIT_MS), "not connected to redis"); }

static void stays_down(void)
{
    bn_sleep(1500); /* several attempts, each refused */
    cr_expect(!bn_pubsub_connected(), "connected with a wrong password or database");
}

static const char *const with_password[] = {"--requirepass", "s3cret", NULL};

static void start_node_at(const char *fmt)
{
    char url[128];
    snprintf(url, sizeof url, fmt, redis.port);
    start_node(url);
}

Test(redis, auth_and_select_from_the_url)
{
    start_redis(with_password);
    start_node_at("redis://:s3cret@127.0.0.1:%u/3");
    run(connects);
    stop_redis();
}

Test(redis, auth_with_a_user_name)
{
    start_redis(with_password);
    start_node_at("redis://default:s3cret@127.0.0.1:%u");
    run(connects);
    stop_redis();
}

Test(redis, a_wrong_password_never_connects)
{
    start_redis(with_password);
    start_node_at("redis://:wrong@127.0.0.1:%u");
    run(stays_down);
    stop_redis();
}

Test(redis, a_database_out_of_range_never_connects)
{
    start_redis(NULL);
    start_node_at("redis://127.0.0.1:%u/99");
    run(stays_down);
    stop_redis();
}

static void survives_restart(void)
{
    cr_assert(eventually(is_connected, WAIT_MS), "not connected to redis");
    bn_mailbox mb;
    bn_mailbox_init(&mb, test_loop);
    bn_pubsub_sub *sub = bn_pubsub_subscribe(&mb, "room:z");
    bt_redis_stop(&redis);
    cr_assert(eventually(is_disconnected, WAIT_MS), "the adapter did not notice redis stopping");
    bn_pubsub_broadcast("room:z", "while_down", BN_STR("{}")); /* local delivery goes on */
    expect_msg(&mb, "room:z", "while_down", "{}");
    cr_assert(bt_redis_restart(&redis), "redis-server did not start again");
    cr_assert(eventually(is_connected, 3 * WAIT_MS), "no reconnection");
    publish_as("b", NULL, "room:z", "after_restart", "{}");
    expect_msg(&mb, "room:z", "after_restart", "{}");
    bn_pubsub_unsubscribe(sub);
}

Test(redis, a_restarted_redis_is_reconnected_and_local_delivery_never_stops)
{
    start_redis(NULL);
    start_node(redis.url);
    run(survives_restart);
    stop_redis();
}

static void starts_late(void)
{
    bn_sleep(300); /* a few refused attempts */
    cr_expect(!bn_pubsub_connected());
    cr_assert(bt_redis_restart(&redis), "redis-server did not start");
    cr_expect(eventually(is_connected, 3 * WAIT_MS), "no connection once redis came up");
}

Test(redis, a_node_started_before_redis_connects_when_it_comes_up)
{
    start_redis(NULL);
    bt_redis_stop(&redis); /* its port, without a server */
    start_node(redis.url);
    run(starts_late);
    stop_redis();
}

/* More than one read's worth (16 KiB) arrives in one go: every message and a large one, in order. */
enum { BURST = 3000, LARGE = 1 << 20 };

static void bursts(void)
{
    cr_assert(eventually(is_connected, WAIT_MS), "not connected to redis");
    bn_mailbox mb;
    bn_mailbox_init(&mb, test_loop);
    bn_pubsub_sub *sub = bn_pubsub_subscribe(&mb, "room:burst");

    /* In: pipelined PUBLISHes from "node b", then a 1 MiB one. */
    redisContext *c = redisConnect("127.0.0.1", (int)redis.port);
    cr_assert(c && !c->err);
    bn_buf b = BN_BUF_INIT;
    for (int i = 0; i < BURST; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        b.len = 0;
        bn__pubsub_envelope_encode(&b, "b", NULL, "room:burst", "n", false, bn_str_from_cstr(payload));
        redisAppendCommand(c, "PUBLISH bennu:bennu %b", b.data, b.len);
    }
    char *large = bn_xmalloc(LARGE + 3);
    large[0] = '"';
    memset(large + 1, 'x', LARGE);
    memcpy(large + 1 + LARGE, "\"", 2);
    b.len = 0;
    bn__pubsub_envelope_encode(&b, "b", NULL, "room:burst", "large", false, bn_str_from_cstr(large));
    redisAppendCommand(c, "PUBLISH bennu:bennu %b", b.data, b.len);
    for (int i = 0; i <= BURST; i++) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    redisFree(c);
    for (int i = 0; i < BURST; i++) {
        bn_pubsub_message *m = next_msg(&mb);
        char want[32];
        snprintf(want, sizeof want, "{\"i\":%d}", i);
        cr_assert(bn_str_eq(m->payload, bn_str_from_cstr(want)), "message %d: %.*s", i, (int)m->payload.len,
                  m->payload.ptr);
        bn_pubsub_message_free(m);
    }
    bn_pubsub_message *m = next_msg(&mb);
    cr_expect(bn_str_eq(m->payload, bn_str_from_cstr(large)), "the large message (%zu bytes)", m->payload.len);
    bn_pubsub_message_free(m);

    /* Out: a burst of broadcasts and a large one, written whole and in order. */
    for (int i = 0; i < BURST; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"o\":%d}", i);
        bn_pubsub_broadcast("room:burst", "n", bn_str_from_cstr(payload));
    }
    bn_pubsub_broadcast("room:burst", "large", bn_str_from_cstr(large));
    decoded d;
    bn_buf keep = BN_BUF_INIT;
    for (int i = 0; i < BURST; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"o\":%d}", i);
        spy_next(spy, &d, &keep);
        cr_assert(bn_str_eq(d.payload, bn_str_from_cstr(want)), "published %d: %.*s", i, (int)d.payload.len,
                  d.payload.ptr);
    }
    spy_next(spy, &d, &keep);
    cr_expect(bn_str_eq(d.payload, bn_str_from_cstr(large)), "the large broadcast (%zu bytes)", d.payload.len);
    for (int i = 0; i <= BURST; i++) /* delivered here when made (their echoes from Redis are dropped) */
        bn_pubsub_message_free(next_msg(&mb));
    expect_nothing_queued(&mb);
    bn_buf_free(&keep);
    bn_buf_free(&b);
    free(large);
    bn_pubsub_unsubscribe(sub);
}

Test(redis, bursts_and_large_messages_cross_whole_and_in_order)
{
    start_redis(NULL);
    spy = spy_open();
    start_node(redis.url);
    run(bursts);
    redisFree(spy);
    stop_redis();
}
