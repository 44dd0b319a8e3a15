/*
 * A cluster of three channel_server nodes (tests/support/bin/channel_server.c)
 * sharing a redis-server of the test's own, driven with raw WebSocket
 * frames: a broadcast made on one node reaches the clients of every node,
 * once; broadcast_from skips only its sender, wherever the others are; when
 * Redis stops, each node's own clients still hear each other, and once it
 * is back the nodes reconnect by themselves and broadcasts cross again.
 * Node A runs under its master (the adapter starts in the worker), B and C
 * without one.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "redis.h"

#define WAIT_MS 5000
#define NODES 3

static bt_redis redis;
static bt_server node[NODES];
static const char *const names[NODES] = {"a", "b", "c"};

static int count_in_log(const bt_server *s, const char *needle)
{
    char *log = bt_log_read(s);
    int n = 0;
    for (const char *p = strstr(log, needle); p; p = strstr(p + 1, needle))
        n++;
    free(log);
    return n;
}

/* Waits until every node's log holds `needle` at least `times` times. */
static void await_logs(const char *needle, int times)
{
    for (int i = 0; i < NODES; i++) {
        long long end = bt_now_ms() + 3 * WAIT_MS;
        while (count_in_log(&node[i], needle) < times && bt_now_ms() < end)
            usleep(20000);
        cr_assert_geq(count_in_log(&node[i], needle), times, "node %s: \"%s\" not logged %d times (log %s)",
                      names[i], needle, times, node[i].log_path);
    }
}

static void start_cluster(void)
{
    cr_assert(bt_redis_start(&redis, NULL), "redis-server did not start (log %s)", redis.log_path);
    char url[96];
    snprintf(url, sizeof url, "REDIS_URL=%s", redis.url);
    for (int i = 0; i < NODES; i++) {
        char name[32];
        snprintf(name, sizeof name, "BENNU_NODE=%s", names[i]);
        const char *env[] = {url, name, i == 0 ? "BENNU_MASTER=1" : "BENNU_MASTER=0", "BENNU_THREADS=2", NULL};
        cr_assert(bt_server_start(&node[i], "channel_server", env), "node %s did not start (log %s)", names[i],
                  node[i].log_path);
    }
    await_logs("pubsub: connected to redis", 1);
}

static void stop_cluster(void)
{
    for (int i = 0; i < NODES; i++)
        if (node[i].pid)
            bt_server_stop(&node[i], 2000);
    bt_redis_stop(&redis);
    bt_redis_free(&redis);
}

TestSuite(cluster, .init = start_cluster, .fini = stop_cluster, .timeout = 90);

/* ---- clients ------------------------------------------------------------------------------------- */

static int next_ref = 1;

/* A client joined to one topic. */
typedef struct cl {
    bt_ws ws;
    int join_ref;
} cl;

/* A client of node `i`, joined to `topic`. */
static cl client(int i, const char *topic)
{
    cl c;
    cr_assert(bt_ws_open(&c.ws, node[i].port, "vsn=2.0.0"), "no WebSocket to node %s", names[i]);
    char join[256], reply[256];
    int ref = c.join_ref = next_ref++;
    snprintf(join, sizeof join, "[\"%d\",\"%d\",\"%s\",\"phx_join\",{}]", ref, ref, topic);
    snprintf(reply, sizeof reply, "[\"%d\",\"%d\",\"%s\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]", ref, ref,
             topic);
    cr_assert(bt_ws_send_text(&c.ws, join));
    char *got = bt_ws_read_text(&c.ws, WAIT_MS);
    cr_assert(got && strcmp(got, reply) == 0, "join on node %s: %s", names[i], got ? got : "(nothing)");
    free(got);
    return c;
}

static void push(cl *c, const char *topic, const char *event, const char *payload)
{
    char msg[512];
    snprintf(msg, sizeof msg, "[\"%d\",\"%d\",\"%s\",\"%s\",%s]", c->join_ref, next_ref++, topic, event, payload);
    cr_assert(bt_ws_send_text(&c->ws, msg));
}

/* The client's next frame is exactly this broadcast (a duplicate or a skipped one would come first). */
static void expect_broadcast(cl *c, const char *who, const char *topic, const char *event, const char *payload)
{
    char want[512];
    snprintf(want, sizeof want, "[null,null,\"%s\",\"%s\",%s]", topic, event, payload);
    char *got = bt_ws_read_text(&c->ws, WAIT_MS);
    cr_expect(got && strcmp(got, want) == 0, "%s got %s\nwant %s", who, got ? got : "(nothing)", want);
    free(got);
}

static void stop_clean(void)
{
    for (int i = 0; i < NODES; i++) {
        int status = bt_server_stop(&node[i], 5000);
        cr_expect_eq(status, 0, "node %s exit status %d (log %s)", names[i], status, node[i].log_path);
    }
}

/* ---- tests ---------------------------------------------------------------------------------------- */

Test(cluster, a_broadcast_reaches_the_clients_of_every_node_once)
{
    cl c[NODES];
    for (int i = 0; i < NODES; i++)
        c[i] = client(i, "room:all");
    for (int from = 0; from < NODES; from++) {
        char payload[64];
        snprintf(payload, sizeof payload, "{\"body\":\"from %s\"}", names[from]);
        push(&c[from], "room:all", "new_msg", payload);
        for (int i = 0; i < NODES; i++)
            expect_broadcast(&c[i], names[i], "room:all", "new_msg", payload);
    }
    for (int i = 0; i < NODES; i++)
        bt_ws_close(&c[i].ws);
    stop_clean();
}

/* Redis hands a node its own PUBLISH back: it must not reach the node's clients a second time. */
Test(cluster, a_node_does_not_deliver_its_own_broadcast_twice)
{
    cl a = client(0, "room:echo"), a2 = client(0, "room:echo"), b = client(1, "room:echo");
    push(&a, "room:echo", "new_msg", "{\"n\":1}");
    expect_broadcast(&a, "a", "room:echo", "new_msg", "{\"n\":1}");
    expect_broadcast(&a2, "a2", "room:echo", "new_msg", "{\"n\":1}");
    expect_broadcast(&b, "b", "room:echo", "new_msg", "{\"n\":1}");
    /* B publishes after Redis gave it n:1, so Redis gives A its echo of n:1 (if any) before n:2. */
    push(&b, "room:echo", "new_msg", "{\"n\":2}");
    expect_broadcast(&a, "a", "room:echo", "new_msg", "{\"n\":2}");
    expect_broadcast(&a2, "a2", "room:echo", "new_msg", "{\"n\":2}");
    expect_broadcast(&b, "b", "room:echo", "new_msg", "{\"n\":2}");
    bt_ws_close(&a.ws);
    bt_ws_close(&a2.ws);
    bt_ws_close(&b.ws);
    stop_clean();
}

Test(cluster, broadcast_from_skips_only_its_sender_on_every_node)
{
    cl a = client(0, "room:from"), a2 = client(0, "room:from"), b = client(1, "room:from"),
          c = client(2, "room:from");
    push(&a, "room:from", "shout_from", "{\"x\":1}");
    expect_broadcast(&a2, "a2", "room:from", "shout_from", "{\"x\":1}");
    expect_broadcast(&b, "b", "room:from", "shout_from", "{\"x\":1}");
    expect_broadcast(&c, "c", "room:from", "shout_from", "{\"x\":1}");
    push(&c, "room:from", "new_msg", "{\"marker\":true}");
    expect_broadcast(&a, "a (not the shout)", "room:from", "new_msg", "{\"marker\":true}");
    bt_ws_close(&a.ws);
    bt_ws_close(&a2.ws);
    bt_ws_close(&b.ws);
    bt_ws_close(&c.ws);
    stop_clean();
}

Test(cluster, redis_restarted_broadcasts_resume_and_local_delivery_never_stops)
{
    cl a = client(0, "room:r"), a2 = client(0, "room:r"), b = client(1, "room:r");
    push(&a, "room:r", "new_msg", "{\"before\":true}");
    expect_broadcast(&a, "a", "room:r", "new_msg", "{\"before\":true}");
    expect_broadcast(&a2, "a2", "room:r", "new_msg", "{\"before\":true}");
    expect_broadcast(&b, "b", "room:r", "new_msg", "{\"before\":true}");

    bt_redis_stop(&redis);
    await_logs("pubsub: lost the connection to redis", 1);
    push(&a, "room:r", "new_msg", "{\"down\":true}"); /* A's clients still hear each other */
    expect_broadcast(&a, "a", "room:r", "new_msg", "{\"down\":true}");
    expect_broadcast(&a2, "a2", "room:r", "new_msg", "{\"down\":true}");

    cr_assert(bt_redis_restart(&redis), "redis-server did not start again (log %s)", redis.log_path);
    await_logs("pubsub: connected to redis", 2);
    push(&b, "room:r", "new_msg", "{\"after\":\"b\"}");
    expect_broadcast(&a, "a", "room:r", "new_msg", "{\"after\":\"b\"}");
    expect_broadcast(&a2, "a2", "room:r", "new_msg", "{\"after\":\"b\"}");
    /* At most once: what A sent while Redis was down never reaches B. */
    expect_broadcast(&b, "b", "room:r", "new_msg", "{\"after\":\"b\"}");
    push(&a, "room:r", "new_msg", "{\"after\":\"a\"}");
    expect_broadcast(&b, "b", "room:r", "new_msg", "{\"after\":\"a\"}");
    bt_ws_close(&a.ws);
    bt_ws_close(&a2.ws);
    bt_ws_close(&b.ws);
    stop_clean();
}
