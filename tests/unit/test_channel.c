/*
 * Unit tests for the channel core (src/socket/socket.c) through the
 * in-process test helpers of bennu/testing.h (src/testing/channel_test.c):
 * connect, join (accepted, refused, unmatched, duplicate, too many), replies,
 * pushes, broadcasts between sockets, intercepts, stop / raise / leave,
 * handle_info, a suspending handler, heartbeats and disconnect by id.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <bennu.h>

/* ---- the app under test ---- */

static char terminated[8][32]; /* the terminate reasons, in order */
static int nterminated;

typedef struct room_state {
    int pings;
} room_state;

static bool has(const bn_value *v, const char *key) { return bn_value_get(v, key) != NULL; }

static int room_join(bn_channel *ch, const bn_value *payload)
{
    if (has(payload, "refuse")) {
        bn_arena *a = bn_channel_arena(ch);
        bn_value *r = bn_value_object(a);
        bn_value_set(a, r, "reason", bn_value_string(a, BN_STR("unauthorized")));
        bn_channel_reply(ch, "error", r);
        return 1;
    }
    if (has(payload, "welcome"))
        bn_channel_reply_json(ch, "ok", BN_STR("{\"hello\":\"there\"}"));
    return 0;
}

static void room_in(bn_channel *ch, const bn_channel_msg *m)
{
    bn_str e = m->event;
    if (bn_str_eq(e, BN_STR("ping"))) {
        ((room_state *)bn_channel_state(ch))->pings++;
        bn_channel_reply(ch, "ok", m->payload);
    } else if (bn_str_eq(e, BN_STR("count"))) {
        bn_arena *a = bn_channel_arena(ch);
        bn_value *v = bn_value_object(a);
        bn_value_set(a, v, "pings", bn_value_int(a, ((room_state *)bn_channel_state(ch))->pings));
        bn_channel_reply(ch, "ok", v);
    } else if (bn_str_eq(e, BN_STR("fail"))) {
        bn_channel_reply_json(ch, "error", BN_STR("{\"reason\":\"nope\"}"));
    } else if (bn_str_eq(e, BN_STR("push"))) {
        bn_channel_push(ch, "pushed", m->payload);
    } else if (bn_str_eq(e, BN_STR("shout"))) {
        bn_channel_broadcast(ch, "shout", m->payload);
    } else if (bn_str_eq(e, BN_STR("shout_from"))) {
        bn_channel_broadcast_from(ch, "shout", m->payload);
    } else if (bn_str_eq(e, BN_STR("whisper"))) {
        bn_channel_broadcast(ch, "secret", m->payload); /* intercepted */
    } else if (bn_str_eq(e, BN_STR("stop"))) {
        bn_channel_reply(ch, "ok", NULL);
        bn_channel_stop(ch);
    } else if (bn_str_eq(e, BN_STR("raise"))) {
        bn_channel_raise(ch, "boom");
    } else if (bn_str_eq(e, BN_STR("later"))) {
        bn_channel_send_after(ch, 5, m->payload);
    } else if (bn_str_eq(e, BN_STR("slow"))) {
        bn_sleep(20);
        bn_channel_push_json(ch, "done", BN_STR("{\"which\":\"slow\"}"));
        bn_channel_reply(ch, "ok", NULL);
    } else if (bn_str_eq(e, BN_STR("fast"))) {
        bn_channel_push_json(ch, "done", BN_STR("{\"which\":\"fast\"}"));
        bn_channel_reply(ch, "ok", NULL);
    } else if (bn_str_eq(e, BN_STR("bin"))) {
        bn_channel_reply_binary(ch, "ok", m->binary);
    } else if (bn_str_eq(e, BN_STR("follow"))) { /* {"topic": T}: broadcasts to T reach handle_info */
        bn_str t = bn_value_str(bn_value_get(m->payload, "topic"));
        const char *topic = bn_arena_strndup(bn_channel_arena(ch), t.ptr ? t.ptr : "", t.len);
        bn_channel_reply(ch, bn_channel_subscribe(ch, topic) == 0 ? "ok" : "error", NULL);
    } else if (bn_str_eq(e, BN_STR("bin_push"))) {
        bn_channel_push_binary(ch, "bytes", BN_STR("\x01\x02\x00\x03"));
    }
    /* "noreply" and anything else: no reply */
}

/* An intercepted "secret" reaches each subscriber here: masked, or dropped. */
static void room_out(bn_channel *ch, bn_str event, const bn_value *payload)
{
    if (has(payload, "drop"))
        return;
    bn_arena *a = bn_channel_arena(ch);
    bn_value *v = bn_value_object(a);
    bn_value_set(a, v, "masked", bn_value_bool(a, true));
    bn_value_set(a, v, "event", bn_value_string(a, event));
    bn_channel_push(ch, "secret", v);
}

static void room_info(bn_channel *ch, const bn_value *msg) { bn_channel_push(ch, "info", msg); }

static void room_terminate(bn_channel *ch, const char *reason)
{
    (void)ch;
    if (nterminated < 8)
        snprintf(terminated[nterminated++], sizeof terminated[0], "%s", reason);
}

static const char *const room_intercept[] = {"secret", NULL};
static const bn_channel_def room_channel = {
    .name = "RoomChannel",
    .state_size = sizeof(room_state),
    .join = room_join,
    .handle_in = room_in,
    .intercept = room_intercept,
    .handle_out = room_out,
    .handle_info = room_info,
    .terminate = room_terminate,
};
static const bn_channel_route routes[] = {{"room:*", &room_channel}, {"exact", &room_channel}};

/* Needs {"user": name}, except with the auth token "t0k3n"; the socket is named "user:<name>". */
static int user_connect(bn_socket *s, const bn_value *params, bn_conn *c)
{
    cr_assert_null(c, "a test socket has no HTTP request");
    bn_str token = bn_socket_auth_token(s);
    if (token.ptr && bn_str_eq(token, BN_STR("t0k3n"))) {
        bn_socket_set_id(s, "user:token");
        return 0;
    }
    bn_str user = bn_value_str(bn_value_get(params, "user"));
    if (!user.ptr)
        return -1;
    bn_sleep(1); /* connect runs in a task: it may suspend */
    char id[64];
    snprintf(id, sizeof id, "user:" BN_STR_FMT, BN_STR_ARG(user));
    bn_socket_set_id(s, id);
    return 0;
}

static const bn_socket_def user_socket = {
    .name = "UserSocket",
    .path = "/socket",
    .channels = routes,
    .nchannels = BN_ARRAY_LEN(routes),
    .connect = user_connect,
    .max_channels = 3,
};

/* ---- helpers ---- */

static bn_test_socket *connect_as(const char *user)
{
    char params[64];
    snprintf(params, sizeof params, "{\"user\":\"%s\"}", user);
    bn_test_socket *ts = bn_test_socket_connect(&user_socket, params);
    cr_assert_not_null(ts, "connect as %s", user);
    return ts;
}

static void join_ok(bn_test_socket *ts, const char *topic)
{
    const char *status = bn_test_join(ts, topic, NULL, NULL);
    cr_assert_not_null(status, "a reply to joining %s", topic);
    cr_assert_str_eq(status, "ok");
}

static bn_str json_of(const bn_value *v)
{
    static bn_buf b;
    b.len = 0;
    bn_json_encode(&b, v);
    return bn_str_make(b.data, b.len);
}

static void expect_json(const bn_value *v, const char *json)
{
    cr_assert_not_null(v);
    bn_str got = json_of(v);
    cr_expect(bn_str_eq(got, bn_str_from_cstr(json)), "got " BN_STR_FMT ", expected %s", BN_STR_ARG(got), json);
}

static void expect_terminated(int i, const char *reason)
{
    cr_assert_gt(nterminated, i, "terminate #%d (%s) was called", i, reason);
    cr_expect_str_eq(terminated[i], reason);
}

/* ---- connect and join ---- */

Test(channel, connect_is_refused_or_names_the_socket)
{
    cr_expect_null(bn_test_socket_connect(&user_socket, NULL));
    cr_expect_null(bn_test_socket_connect(&user_socket, "{\"user\":1}"));
    bn_test_socket *ts = connect_as("ada");
    cr_expect_str_eq(bn_socket_id(bn_test_socket_get(ts)), "user:ada");
    cr_expect_str_eq(bn_socket_transport(bn_test_socket_get(ts)), "test");
    cr_expect_eq(bn_socket_vsn(bn_test_socket_get(ts)), 2);
    bn_test_socket_close(ts);

    ts = bn_test_socket_connect_token(&user_socket, NULL, "t0k3n");
    cr_assert_not_null(ts);
    cr_expect_str_eq(bn_socket_id(bn_test_socket_get(ts)), "user:token");
    bn_test_socket_close(ts);
}

Test(channel, join_is_accepted_with_a_response)
{
    bn_test_socket *ts = connect_as("ada");
    const bn_value *response = NULL;
    cr_assert_str_eq(bn_test_join(ts, "room:1", NULL, &response), "ok");
    expect_json(response, "{}");
    cr_assert_str_eq(bn_test_join(ts, "room:2", "{\"welcome\":true}", &response), "ok");
    expect_json(response, "{\"hello\":\"there\"}");
    cr_assert_str_eq(bn_test_join(ts, "exact", NULL, NULL), "ok");
    bn_test_socket_close(ts);
    cr_expect_eq(nterminated, 3, "closing the socket terminates its channels");
    expect_terminated(0, "closed");
}

Test(channel, refused_join_leaves_no_channel)
{
    bn_test_socket *ts = connect_as("ada");
    const bn_value *response = NULL;
    cr_assert_str_eq(bn_test_join(ts, "room:1", "{\"refuse\":true}", &response), "error");
    expect_json(response, "{\"reason\":\"unauthorized\"}");
    const char *ref = bn_test_push(ts, "room:1", "ping", NULL);
    const bn_test_msg *r = bn_test_assert_reply(ts, ref, "error", 0);
    cr_assert_not_null(r);
    expect_json(r->payload, "{\"reason\":\"unmatched topic\"}");
    bn_test_socket_close(ts);
    cr_expect_eq(nterminated, 0, "a refused join is never terminated");
}

Test(channel, unmatched_topic)
{
    bn_test_socket *ts = connect_as("ada");
    const bn_value *response = NULL;
    cr_assert_str_eq(bn_test_join(ts, "lobby:1", NULL, &response), "error");
    expect_json(response, "{\"reason\":\"unmatched topic\"}");
    cr_assert_str_eq(bn_test_join(ts, "exactly", NULL, NULL), "error", "an exact pattern is not a prefix");
    bn_test_socket_close(ts);
}

Test(channel, duplicate_join_closes_the_old_one)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    join_ok(ts, "room:1");
    const bn_test_msg *m = bn_test_assert_push(ts, "room:1", "phx_close", 0);
    cr_assert_not_null(m);
    cr_expect_str_eq(m->join_ref, "1", "phx_close is for the old join");
    cr_expect_str_eq(m->ref, "1");
    expect_terminated(0, "duplicate_join");
    /* The new join is the channel now. */
    const char *ref = bn_test_push(ts, "room:1", "ping", NULL);
    m = bn_test_assert_reply(ts, ref, "ok", 0);
    cr_assert_not_null(m);
    cr_expect_str_eq(m->join_ref, "2");
    bn_test_socket_close(ts);
}

Test(channel, too_many_channels)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    join_ok(ts, "room:2");
    join_ok(ts, "room:3");
    const bn_value *response = NULL;
    cr_assert_str_eq(bn_test_join(ts, "room:4", NULL, &response), "error");
    expect_json(response, "{\"reason\":\"too many channels joined\"}");
    join_ok(ts, "room:3"); /* a rejoin is not one more */
    const char *ref = bn_test_leave(ts, "room:1");
    cr_assert_not_null(bn_test_assert_reply(ts, ref, "ok", 0));
    join_ok(ts, "room:4"); /* a channel left is one less */
    bn_test_socket_close(ts);
}

/* ---- messages ---- */

Test(channel, replies_ok_error_and_none)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    const char *ref = bn_test_push(ts, "room:1", "ping", "{\"n\":1}");
    const bn_test_msg *r = bn_test_assert_reply(ts, ref, "ok", 0);
    cr_assert_not_null(r);
    expect_json(r->payload, "{\"n\":1}");
    cr_expect_str_eq(r->topic, "room:1");
    cr_expect_str_eq(r->join_ref, "1");
    cr_expect_str_eq(r->event, "phx_reply");

    ref = bn_test_push(ts, "room:1", "fail", NULL);
    r = bn_test_assert_reply(ts, ref, "error", 0);
    cr_assert_not_null(r);
    expect_json(r->payload, "{\"reason\":\"nope\"}");

    ref = bn_test_push(ts, "room:1", "noreply", NULL);
    cr_expect(bn_test_refute_reply(ts, ref, 0));
    const char *ping = bn_test_push(ts, "room:1", "ping", NULL);
    cr_expect_not_null(bn_test_assert_reply(ts, ping, "ok", 0), "the socket goes on after a noreply");
    bn_test_socket_close(ts);
}

Test(channel, assert_reply_checks_the_status)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    const char *ref = bn_test_push(ts, "room:1", "fail", NULL);
    cr_expect_null(bn_test_assert_reply(ts, ref, "ok", 0), "an error reply is not an ok one");
    bn_test_socket_close(ts);
}

Test(channel, push_to_the_client)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    bn_test_push(ts, "room:1", "push", "{\"body\":\"hi\"}");
    const bn_test_msg *m = bn_test_assert_push(ts, "room:1", "pushed", 0);
    cr_assert_not_null(m);
    expect_json(m->payload, "{\"body\":\"hi\"}");
    cr_expect_str_eq(m->join_ref, "1");
    cr_expect_null(m->ref);
    cr_expect_null(m->status);
    cr_expect(bn_test_refute_push(ts, NULL, "pushed", 0), "taken once");
    bn_test_socket_close(ts);
}

Test(channel, binary_payloads)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    const char *ref = bn_test_push_binary(ts, "room:1", "bin", BN_STR("\x00\xff\x10"));
    const bn_test_msg *r = bn_test_assert_reply(ts, ref, "ok", 0);
    cr_assert_not_null(r);
    cr_expect_null(r->payload);
    cr_assert_eq(r->binary.len, 3);
    cr_expect(memcmp(r->binary.ptr, "\x00\xff\x10", 3) == 0);
    cr_expect_str_eq(r->topic, "room:1");

    bn_test_push(ts, "room:1", "bin_push", NULL);
    const bn_test_msg *m = bn_test_assert_push(ts, "room:1", "bytes", 0);
    cr_assert_not_null(m);
    cr_assert_eq(m->binary.len, 4);
    cr_expect(memcmp(m->binary.ptr, "\x01\x02\x00\x03", 4) == 0);
    cr_expect_str_eq(m->join_ref, "1");
    bn_test_socket_close(ts);
}

Test(channel, broadcast_reaches_every_subscriber)
{
    bn_test_socket *a = connect_as("ada");
    bn_test_socket *b = connect_as("bob");
    join_ok(a, "room:1");
    join_ok(b, "room:1");
    join_ok(b, "room:2");
    bn_test_push(a, "room:1", "shout", "{\"body\":\"hello\"}");
    const bn_test_msg *m = bn_test_assert_broadcast(a, "room:1", "shout", 0);
    cr_assert_not_null(m);
    expect_json(m->payload, "{\"body\":\"hello\"}");
    m = bn_test_assert_push(b, "room:1", "shout", 0);
    cr_assert_not_null(m);
    expect_json(m->payload, "{\"body\":\"hello\"}");
    cr_expect_null(m->join_ref, "a fastlane broadcast has no refs");
    cr_expect_null(m->ref);
    cr_expect_not_null(bn_test_assert_push(a, "room:1", "shout", 0), "the sender's client gets it too");
    cr_expect(bn_test_refute_push(b, "room:2", "shout", 0), "not on another topic");
    bn_test_socket_close(a);
    bn_test_socket_close(b);
}

Test(channel, broadcast_from_spares_the_sender)
{
    bn_test_socket *a = connect_as("ada");
    bn_test_socket *b = connect_as("bob");
    join_ok(a, "room:1");
    join_ok(b, "room:1");
    bn_test_push(a, "room:1", "shout_from", "{\"body\":\"psst\"}");
    cr_expect_not_null(bn_test_assert_push(b, "room:1", "shout", 0));
    cr_expect_not_null(bn_test_assert_broadcast(a, "room:1", "shout", 0), "it was broadcast");
    cr_expect(bn_test_refute_push(a, "room:1", "shout", 0), "but not to the sender's client");
    bn_test_socket_close(a);
    bn_test_socket_close(b);
}

Test(channel, broadcast_from_outside_a_channel)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    bn_test_subscribe(ts, "news");
    bn_broadcast_json("room:1", "notice", BN_STR("{\"n\":1}"));
    bn_broadcast_json("news", "headline", BN_STR("{\"n\":2}"));
    cr_expect_not_null(bn_test_assert_push(ts, "room:1", "notice", 0));
    const bn_test_msg *m = bn_test_assert_broadcast(ts, "news", "headline", 0);
    cr_assert_not_null(m);
    expect_json(m->payload, "{\"n\":2}");
    bn_broadcast_binary("room:1", "raw", BN_STR("ab"));
    m = bn_test_assert_push(ts, "room:1", "raw", 0);
    cr_assert_not_null(m);
    cr_expect(bn_str_eq(m->binary, BN_STR("ab")));
    bn_test_socket_close(ts);
}

Test(channel, intercepted_events_go_through_handle_out)
{
    bn_test_socket *a = connect_as("ada");
    bn_test_socket *b = connect_as("bob");
    join_ok(a, "room:1");
    join_ok(b, "room:1");
    bn_test_push(a, "room:1", "whisper", "{\"text\":\"x\"}");
    const bn_test_msg *m = bn_test_assert_push(b, "room:1", "secret", 0);
    cr_assert_not_null(m);
    expect_json(m->payload, "{\"masked\":true,\"event\":\"secret\"}");
    cr_expect_str_eq(m->join_ref, "1", "pushed by b's channel");
    m = bn_test_assert_push(a, "room:1", "secret", 0);
    cr_assert_not_null(m);
    expect_json(m->payload, "{\"masked\":true,\"event\":\"secret\"}");
    m = bn_test_assert_broadcast(a, "room:1", "secret", 0);
    cr_assert_not_null(m);
    expect_json(m->payload, "{\"text\":\"x\"}");

    bn_test_push(a, "room:1", "whisper", "{\"drop\":true}");
    cr_expect_not_null(bn_test_assert_broadcast(b, "room:1", "secret", 0), "broadcast");
    cr_expect(bn_test_refute_push(b, "room:1", "secret", 0), "but dropped by handle_out");
    cr_expect(bn_test_refute_push(a, "room:1", "secret", 0));
    bn_test_socket_close(a);
    bn_test_socket_close(b);
}

/* ---- the end of a channel ---- */

Test(channel, stop_sends_phx_close)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    const char *ref = bn_test_push(ts, "room:1", "stop", NULL);
    cr_expect_not_null(bn_test_assert_reply(ts, ref, "ok", 0));
    const bn_test_msg *m = bn_test_assert_push(ts, "room:1", "phx_close", 0);
    cr_assert_not_null(m);
    cr_expect_str_eq(m->join_ref, "1");
    expect_json(m->payload, "{}");
    expect_terminated(0, "stopped");
    ref = bn_test_push(ts, "room:1", "ping", NULL);
    cr_expect_not_null(bn_test_assert_reply(ts, ref, "error", 0), "the channel is gone");
    bn_test_socket_close(ts);
}

Test(channel, raise_sends_phx_error_and_others_go_on)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    join_ok(ts, "room:2");
    const char *ref = bn_test_push(ts, "room:1", "raise", NULL);
    const bn_test_msg *m = bn_test_assert_push(ts, "room:1", "phx_error", 0);
    cr_assert_not_null(m);
    cr_expect_str_eq(m->join_ref, "1");
    cr_expect(bn_test_refute_reply(ts, ref, 0), "a raising handle_in does not reply");
    expect_terminated(0, "error");
    ref = bn_test_push(ts, "room:2", "ping", NULL);
    cr_expect_not_null(bn_test_assert_reply(ts, ref, "ok", 0), "room:2 goes on");
    join_ok(ts, "room:1"); /* the client rejoins */
    ref = bn_test_push(ts, "room:1", "ping", NULL);
    cr_expect_not_null(bn_test_assert_reply(ts, ref, "ok", 0));
    bn_test_socket_close(ts);
}

Test(channel, leave)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    const char *ref = bn_test_leave(ts, "room:1");
    const bn_test_msg *r = bn_test_assert_reply(ts, ref, "ok", 0);
    cr_assert_not_null(r);
    cr_expect_str_eq(r->join_ref, "1");
    cr_expect_not_null(bn_test_assert_push(ts, "room:1", "phx_close", 0));
    expect_terminated(0, "left");
    ref = bn_test_leave(ts, "room:1");
    cr_expect_not_null(bn_test_assert_reply(ts, ref, "ok", 0), "leaving a channel that is not there is ok");
    bn_test_socket_close(ts);
}

/* ---- the socket's life ---- */

Test(channel, handle_info_after_a_delay)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    bn_test_push(ts, "room:1", "later", "{\"tick\":1}");
    const bn_test_msg *m = bn_test_assert_push(ts, "room:1", "info", 0);
    cr_assert_not_null(m);
    expect_json(m->payload, "{\"tick\":1}");
    bn_test_socket_close(ts);
}

/* A channel subscribed to another topic gets its broadcasts in handle_info, until it ends. */
Test(channel, a_channel_subscribes_to_another_topic)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    cr_assert_not_null(bn_test_assert_reply(ts, bn_test_push(ts, "room:1", "follow", "{\"topic\":\"news\"}"), "ok", 0));
    cr_assert_not_null(bn_test_assert_reply(ts, bn_test_push(ts, "room:1", "follow", "{\"topic\":\"news\"}"), "error",
                                            0), "twice: refused");
    bn_broadcast_json("news", "headline", BN_STR("{\"n\":2}"));
    const bn_test_msg *m = bn_test_assert_push(ts, "room:1", "info", 0);
    cr_assert_not_null(m);
    expect_json(m->payload, "{\"topic\":\"news\",\"event\":\"headline\",\"payload\":{\"n\":2}}");
    cr_assert_not_null(bn_test_assert_reply(ts, bn_test_leave(ts, "room:1"), "ok", 0));
    bn_broadcast_json("news", "headline", BN_STR("{\"n\":3}"));
    cr_expect(bn_test_refute_push(ts, "room:1", "info", 0), "the subscription ended with the channel");
    bn_test_socket_close(ts);
}

Test(channel, a_suspended_handler_keeps_the_order)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    const char *slow = bn_test_push(ts, "room:1", "slow", NULL);
    const char *fast = bn_test_push(ts, "room:1", "fast", NULL);
    const char *beat = bn_test_push(ts, "phoenix", "heartbeat", NULL);
    const char *expect[][2] = {{"done", "slow"}, {"phx_reply", slow}, {"done", "fast"}, {"phx_reply", fast},
                               {"phx_reply", beat}};
    for (size_t i = 0; i < BN_ARRAY_LEN(expect); i++) {
        const bn_test_msg *m = bn_test_next(ts, 0);
        cr_assert_not_null(m, "message %zu", i);
        cr_assert_str_eq(m->event, expect[i][0], "message %zu", i);
        if (m->status)
            cr_expect_str_eq(m->ref, expect[i][1], "message %zu", i);
        else
            cr_expect(bn_str_eq(bn_value_str(bn_value_get(m->payload, "which")), bn_str_from_cstr(expect[i][1])));
    }
    bn_test_socket_close(ts);
}

Test(channel, close_while_a_handler_sleeps)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    bn_test_push(ts, "room:1", "slow", NULL);
    bn_test_push(ts, "room:1", "fast", NULL);
    bn_test_socket_close(ts); /* waits for "slow" to return, drops "fast" */
    expect_terminated(0, "closed");
}

Test(channel, heartbeat)
{
    bn_test_socket *ts = connect_as("ada");
    const char *ref = bn_test_push(ts, "phoenix", "heartbeat", NULL);
    const bn_test_msg *r = bn_test_assert_reply(ts, ref, "ok", 0);
    cr_assert_not_null(r);
    cr_expect_str_eq(r->topic, "phoenix");
    cr_expect_null(r->join_ref);
    expect_json(r->payload, "{}");
    bn_test_socket_close(ts);
}

Test(channel, disconnect_by_id)
{
    bn_test_socket *ada = connect_as("ada");
    bn_test_socket *bob = connect_as("bob");
    join_ok(ada, "room:1");
    bn_socket_disconnect("user:ada");
    cr_expect_eq(bn_test_assert_close(ada, 0), 1001);
    cr_expect_null(bn_test_socket_get(ada));
    expect_terminated(0, "closed");
    cr_expect_eq(bn_test_assert_close(bob, 50), 0, "bob stays");
    const char *ref = bn_test_push(bob, "phoenix", "heartbeat", NULL);
    cr_expect_not_null(bn_test_assert_reply(bob, ref, "ok", 0));
    bn_test_socket_close(ada);
    bn_test_socket_close(bob);
}

Test(channel, channel_state_lives_as_long_as_the_channel)
{
    bn_test_socket *ts = connect_as("ada");
    join_ok(ts, "room:1");
    for (int i = 0; i < 3; i++)
        cr_assert_not_null(bn_test_assert_reply(ts, bn_test_push(ts, "room:1", "ping", NULL), "ok", 0));
    const bn_test_msg *r = bn_test_assert_reply(ts, bn_test_push(ts, "room:1", "count", NULL), "ok", 0);
    cr_assert_not_null(r);
    expect_json(r->payload, "{\"pings\":3}");
    join_ok(ts, "room:1"); /* a new channel, a new (zeroed) state */
    r = bn_test_assert_reply(ts, bn_test_push(ts, "room:1", "count", NULL), "ok", 0);
    cr_assert_not_null(r);
    expect_json(r->payload, "{\"pings\":0}");
    bn_test_socket_close(ts);
}
