/*
 * Unit tests for Presence (src/pubsub/presence.c) on the local adapter,
 * through in-process test sockets (bennu/testing.h): track on join with
 * presence_state to the joiner and presence_diff to the room, two metas for
 * one key, update, untrack, untrack when a channel ends, the fetch hook and
 * list. Then the replication logic, with the test playing another node: it
 * feeds bn__presence_remote and sees what this node sends through a seam.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bennu.h>

#include "pubsub/pubsub_internal.h"


/* ---- the app under test: joining room:* with {"user": NAME, "meta": {...}} tracks NAME ---- */

typedef struct room_state {
    char user[32];
    char meta[128]; /* JSON */
} room_state;

static int room_join(bn_channel *ch, const bn_value *payload)
{
    room_state *st = bn_channel_state(ch);
    bn_str user = bn_value_str(bn_value_get(payload, "user"));
    snprintf(st->user, sizeof st->user, BN_STR_FMT, BN_STR_ARG(user));
    bn_buf b = BN_BUF_INIT;
    const bn_value *meta = bn_value_get(payload, "meta");
    if (meta)
        bn_json_encode(&b, meta);
    snprintf(st->meta, sizeof st->meta, "%.*s", (int)b.len, b.len ? b.data : "{}");
    bn_buf_free(&b);
    if (user.len) /* tracked once joined, as after_join does in Phoenix */
        bn_channel_send_after(ch, 0, NULL);
    return 0;
}

static bn_value *parse(bn_arena *a, const char *json)
{
    bn_json_error err;
    bn_value *v = bn_json_parse(a, bn_str_from_cstr(json), &err);
    cr_assert_not_null(v, "JSON %s", json);
    return v;
}

static void room_info(bn_channel *ch, const bn_value *msg)
{
    (void)msg;
    room_state *st = bn_channel_state(ch);
    cr_assert_eq(bn_presence_track(ch, st->user, parse(bn_channel_arena(ch), st->meta)), 0);
    bn_presence_push_state(ch);
}

static void reply_rc(bn_channel *ch, int rc) { bn_channel_reply(ch, rc == 0 ? "ok" : "error", NULL); }

static void room_in(bn_channel *ch, const bn_channel_msg *m)
{
    room_state *st = bn_channel_state(ch);
    bn_str e = m->event;
    bn_str key = bn_value_str(bn_value_get(m->payload, "key"));
    const char *k = key.ptr ? bn_arena_strndup(bn_channel_arena(ch), key.ptr, key.len) : st->user;
    if (bn_str_eq(e, BN_STR("track")))
        reply_rc(ch, bn_presence_track(ch, k, bn_value_get(m->payload, "meta")));
    else if (bn_str_eq(e, BN_STR("update")))
        reply_rc(ch, bn_presence_update(ch, k, bn_value_get(m->payload, "meta")));
    else if (bn_str_eq(e, BN_STR("untrack")))
        reply_rc(ch, bn_presence_untrack(ch, k));
    else if (bn_str_eq(e, BN_STR("list")))
        bn_channel_reply(ch, "ok", bn_presence_list(bn_channel_arena(ch), "room:listed"));
}

static const bn_channel_def room_channel = {
    .name = "RoomChannel",
    .state_size = sizeof(room_state),
    .join = room_join,
    .handle_in = room_in,
    .handle_info = room_info,
};
static const bn_channel_route routes[] = {{"room:*", &room_channel}};
static const bn_socket_def user_socket = {
    .name = "UserSocket",
    .path = "/socket",
    .channels = routes,
    .nchannels = BN_ARRAY_LEN(routes),
};

/* ---- helpers ---- */

static void local_node(void)
{
    bn_pubsub_config cfg = {.node = "here", .redis_url = "", .presence_heartbeat_ms = 20, .presence_timeout_ms = 300};
    cr_assert_eq(bn_pubsub_start(&cfg), 0);
    cr_assert_str_eq(bn_pubsub_adapter(), "local");
}

static bn_test_socket *connect_socket(void)
{
    bn_test_socket *ts = bn_test_socket_connect(&user_socket, NULL);
    cr_assert_not_null(ts);
    return ts;
}

/* Joins `topic` as `user` (meta: JSON or NULL) and returns the presence_state the joiner got. */
static const bn_value *join_as(bn_test_socket *ts, const char *topic, const char *user, const char *meta)
{
    char payload[256];
    snprintf(payload, sizeof payload, "{\"user\":\"%s\",\"meta\":%s}", user, meta ? meta : "{}");
    cr_assert_str_eq(bn_test_join(ts, topic, payload, NULL), "ok");
    const bn_test_msg *m = bn_test_assert_push(ts, topic, "presence_state", 0);
    cr_assert_not_null(m, "%s gets presence_state on %s", user, topic);
    return m->payload;
}

static const bn_value *next_diff(bn_test_socket *ts, const char *topic)
{
    const bn_test_msg *m = bn_test_assert_push(ts, topic, "presence_diff", 0);
    cr_assert_not_null(m, "a presence_diff on %s", topic);
    return m->payload;
}

static const char *str_at(const bn_value *v, const char *path)
{
    static char out[8][128];
    static int n;
    bn_str s = bn_value_str(bn_value_path(v, path));
    cr_assert_not_null(s.ptr, "%s is a string", path);
    char *o = out[n++ % 8];
    snprintf(o, sizeof out[0], BN_STR_FMT, BN_STR_ARG(s));
    return o;
}

static size_t len_at(const bn_value *v, const char *path) { return bn_value_len(bn_value_path(v, path)); }

/* Pushes `event` with `payload` and expects the reply's status. */
static void push_expect(bn_test_socket *ts, const char *topic, const char *event, const char *payload,
                        const char *status)
{
    const char *ref = bn_test_push(ts, topic, event, payload);
    cr_assert_not_null(bn_test_assert_reply(ts, ref, status, 0), "%s replies %s", event, status);
}

/* Runs the loop for `ms` (nothing is sent as "nothing"). */
static void spin(bn_test_socket *ts, unsigned ms) { bn_test_refute_push(ts, "none", "nothing", ms); }

/* ---- one node ---- */

Test(presence, joiner_gets_state_and_room_gets_diff)
{
    local_node();
    bn_test_socket *ada = connect_socket(), *bob = connect_socket();
    const bn_value *state = join_as(ada, "room:1", "ada", "{\"status\":\"online\"}");
    cr_expect_eq(bn_value_len(state), 1);
    cr_expect_eq(len_at(state, "ada.metas"), 1);
    cr_expect_str_eq(str_at(state, "ada.metas.0.status"), "online");
    const char *ada_ref = str_at(state, "ada.metas.0.phx_ref");
    cr_expect_eq(strlen(ada_ref), 16, "a phx_ref is 12 bytes in base64url");
    const bn_value *diff = next_diff(ada, "room:1"); /* her own join, as Phoenix sends it */
    cr_expect_str_eq(str_at(diff, "joins.ada.metas.0.phx_ref"), ada_ref);
    cr_expect_eq(bn_value_len(bn_value_get(diff, "leaves")), 0);

    state = join_as(bob, "room:1", "bob", NULL);
    cr_expect_eq(bn_value_len(state), 2);
    cr_expect_str_eq(str_at(state, "ada.metas.0.phx_ref"), ada_ref);
    const char *bob_ref = str_at(state, "bob.metas.0.phx_ref");
    cr_expect_str_neq(bob_ref, ada_ref);
    diff = next_diff(ada, "room:1");
    cr_expect_str_eq(str_at(diff, "joins.bob.metas.0.phx_ref"), bob_ref);
    cr_expect(bn_test_assert_broadcast(ada, "room:1", "presence_diff", 0) != NULL);

    bn_test_socket_close(ada);
    bn_test_socket_close(bob);
}

Test(presence, one_key_two_channels_two_metas)
{
    local_node();
    bn_test_socket *tab1 = connect_socket(), *tab2 = connect_socket();
    join_as(tab1, "room:2", "ada", "{\"tab\":1}");
    const bn_value *state = join_as(tab2, "room:2", "ada", "{\"tab\":2}");
    cr_assert_eq(bn_value_len(state), 1);
    cr_assert_eq(len_at(state, "ada.metas"), 2);
    cr_expect_eq(bn_value_path(state, "ada.metas.0.tab")->as.i, 1);
    cr_expect_eq(bn_value_path(state, "ada.metas.1.tab")->as.i, 2);
    cr_expect_str_neq(str_at(state, "ada.metas.0.phx_ref"), str_at(state, "ada.metas.1.phx_ref"));

    /* One tab goes: one meta leaves, the key stays with the other. */
    next_diff(tab1, "room:2");
    next_diff(tab1, "room:2");
    bn_test_socket_close(tab2);
    const bn_value *diff = next_diff(tab1, "room:2");
    cr_expect_eq(len_at(diff, "leaves.ada.metas"), 1);
    cr_expect_eq(bn_value_path(diff, "leaves.ada.metas.0.tab")->as.i, 2);
    bn_arena a = BN_ARENA_INIT;
    bn_value *list = bn_presence_list(&a, "room:2");
    cr_expect_eq(len_at(list, "ada.metas"), 1);
    bn_arena_destroy(&a);
    bn_test_socket_close(tab1);
}

Test(presence, update_is_a_leave_and_a_join)
{
    local_node();
    bn_test_socket *ts = connect_socket();
    const bn_value *state = join_as(ts, "room:3", "ada", "{\"status\":\"online\"}");
    const char *old_ref = str_at(state, "ada.metas.0.phx_ref");
    next_diff(ts, "room:3");

    push_expect(ts, "room:3", "update", "{\"meta\":{\"status\":\"away\"}}", "ok");
    const bn_value *diff = next_diff(ts, "room:3");
    cr_expect_str_eq(str_at(diff, "joins.ada.metas.0.status"), "away");
    cr_expect_str_eq(str_at(diff, "joins.ada.metas.0.phx_ref_prev"), old_ref);
    const char *new_ref = str_at(diff, "joins.ada.metas.0.phx_ref");
    cr_expect_str_neq(new_ref, old_ref);
    cr_expect_str_eq(str_at(diff, "leaves.ada.metas.0.status"), "online");
    cr_expect_str_eq(str_at(diff, "leaves.ada.metas.0.phx_ref"), old_ref);

    bn_arena a = BN_ARENA_INIT;
    bn_value *list = bn_presence_list(&a, "room:3");
    cr_expect_eq(len_at(list, "ada.metas"), 1);
    cr_expect_str_eq(str_at(list, "ada.metas.0.phx_ref"), new_ref);
    bn_arena_destroy(&a);

    push_expect(ts, "room:3", "update", "{\"key\":\"nobody\",\"meta\":{}}", "error");
    bn_test_socket_close(ts);
}

Test(presence, track_twice_and_untrack)
{
    local_node();
    bn_test_socket *ts = connect_socket(), *watcher = connect_socket();
    join_as(watcher, "room:4", "eve", NULL);
    join_as(ts, "room:4", "ada", NULL);
    next_diff(watcher, "room:4");
    next_diff(watcher, "room:4");

    push_expect(ts, "room:4", "track", NULL, "error"); /* this channel tracks "ada" already */
    push_expect(ts, "room:4", "track", "{\"key\":\"ada:phone\",\"meta\":{\"device\":\"phone\"}}", "ok");
    const bn_value *diff = next_diff(watcher, "room:4");
    cr_expect_str_eq(str_at(diff, "joins.ada:phone.metas.0.device"), "phone");

    push_expect(ts, "room:4", "untrack", NULL, "ok");
    diff = next_diff(watcher, "room:4");
    cr_expect_eq(bn_value_len(bn_value_get(diff, "joins")), 0);
    cr_expect_eq(len_at(diff, "leaves.ada.metas"), 1);
    push_expect(ts, "room:4", "untrack", NULL, "error");

    bn_arena a = BN_ARENA_INIT;
    bn_value *list = bn_presence_list(&a, "room:4");
    cr_expect_eq(bn_value_len(list), 2);
    cr_expect_null(bn_value_get(list, "ada"));
    cr_expect_not_null(bn_value_get(list, "ada:phone"));
    bn_arena_destroy(&a);
    bn_test_socket_close(ts);
    bn_test_socket_close(watcher);
}

Test(presence, channel_end_untracks)
{
    local_node();
    bn_test_socket *ts = connect_socket(), *watcher = connect_socket();
    join_as(watcher, "room:5", "eve", NULL);
    join_as(ts, "room:5", "ada", NULL);
    push_expect(ts, "room:5", "track", "{\"key\":\"ada:2\"}", "ok");
    next_diff(watcher, "room:5");
    next_diff(watcher, "room:5");
    next_diff(watcher, "room:5");

    /* Leaving: everything the channel tracked leaves in one diff. */
    bn_test_leave(ts, "room:5");
    const bn_value *diff = next_diff(watcher, "room:5");
    cr_expect_eq(bn_value_len(bn_value_get(diff, "leaves")), 2);
    cr_expect_not_null(bn_value_path(diff, "leaves.ada.metas.0.phx_ref"));
    cr_expect_not_null(bn_value_path(diff, "leaves.ada:2.metas.0.phx_ref"));

    /* Closing the socket. */
    join_as(ts, "room:5", "ada", NULL);
    next_diff(watcher, "room:5");
    bn_test_socket_close(ts);
    diff = next_diff(watcher, "room:5");
    cr_expect_eq(len_at(diff, "leaves.ada.metas"), 1);
    bn_arena a = BN_ARENA_INIT;
    cr_expect_eq(bn_value_len(bn_presence_list(&a, "room:5")), 1, "eve only");
    bn_arena_destroy(&a);
    bn_test_socket_close(watcher);
}

/* Adds {"name": KEY in capitals} next to each presence's metas. */
static void shout_names(const char *topic, bn_value *presences, bn_arena *a)
{
    cr_assert_str_eq(topic, "room:6");
    for (size_t i = 0; i < presences->as.object.len; i++) {
        bn_value_member *m = &presences->as.object.members[i];
        char *up = bn_arena_strndup(a, m->key.ptr, m->key.len);
        for (char *p = up; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        bn_value_set(a, m->value, "name", bn_value_string(a, bn_str_from_cstr(up)));
    }
}

Test(presence, fetch_enriches_state_and_diffs)
{
    local_node();
    bn_presence_set_fetch(shout_names);
    bn_test_socket *ts = connect_socket();
    const bn_value *state = join_as(ts, "room:6", "ada", NULL);
    cr_expect_str_eq(str_at(state, "ada.name"), "ADA");
    cr_expect_eq(len_at(state, "ada.metas"), 1);
    const bn_value *diff = next_diff(ts, "room:6");
    cr_expect_str_eq(str_at(diff, "joins.ada.name"), "ADA");
    push_expect(ts, "room:6", "untrack", NULL, "ok");
    diff = next_diff(ts, "room:6");
    cr_expect_str_eq(str_at(diff, "leaves.ada.name"), "ADA");
    bn_presence_set_fetch(NULL);
    bn_test_socket_close(ts);
}

Test(presence, list)
{
    local_node();
    bn_test_socket *ts = connect_socket();
    join_as(ts, "room:listed", "ada", "{\"n\":1}");
    const char *ref = bn_test_push(ts, "room:listed", "list", NULL);
    const bn_test_msg *r = bn_test_assert_reply(ts, ref, "ok", 0);
    cr_assert_not_null(r);
    cr_expect_eq(bn_value_len(r->payload), 1);
    cr_expect_eq(bn_value_path(r->payload, "ada.metas.0.n")->as.i, 1);
    bn_arena a = BN_ARENA_INIT;
    cr_expect_eq(bn_value_len(bn_presence_list(&a, "room:empty")), 0);
    cr_expect(bn_value_is(bn_presence_list(&a, "room:empty"), BN_VALUE_OBJECT));
    bn_arena_destroy(&a);
    bn_test_socket_close(ts);
}

/* ---- replication: the test plays node "n2" ---- */

typedef struct sent {
    char target[32]; /* "" : every node */
    char event[16];
    char payload[1024];
} sent;

static sent outbox[1024]; /* heartbeats fill it in a few seconds: the tests are shorter */
static int nsent;

static void capture(const char *target, const char *event, bn_str payload)
{
    if (nsent == (int)BN_ARRAY_LEN(outbox))
        return;
    sent *s = &outbox[nsent++];
    snprintf(s->target, sizeof s->target, "%s", target ? target : "");
    snprintf(s->event, sizeof s->event, "%s", event);
    snprintf(s->payload, sizeof s->payload, BN_STR_FMT, BN_STR_ARG(payload));
}

/* The first message sent since `*from` with this event (and target), or NULL; advances *from past it. */
static const sent *sent_since(int *from, const char *target, const char *event)
{
    for (int i = *from; i < nsent; i++) {
        if (strcmp(outbox[i].event, event) == 0 && (!target || strcmp(outbox[i].target, target) == 0)) {
            *from = i + 1;
            return &outbox[i];
        }
    }
    return NULL;
}

static void from_n2(const char *event, const char *json) { bn__presence_remote("n2", event, bn_str_from_cstr(json)); }

/* A node with a socket (for the loop and to watch room:r), playing against n2. */
static bn_test_socket *replicating_node(void)
{
    local_node();
    bn_test_socket *ts = connect_socket();
    bn__presence_test_seam(bn_loop_current(), capture);
    bn__presence_connected(); /* as the adapter does once Redis answers: the heartbeats start */
    nsent = 0;
    return ts;
}

static bn_value *payload_of(bn_arena *a, const sent *s) { return parse(a, s->payload); }

Test(presence_replication, local_changes_go_out_as_numbered_deltas)
{
    bn_test_socket *ts = replicating_node();
    join_as(ts, "room:r", "ada", "{\"n\":1}");
    push_expect(ts, "room:r", "untrack", NULL, "ok");
    int at = 0;
    bn_arena a = BN_ARENA_INIT;
    const sent *d1 = sent_since(&at, "", "delta");
    cr_assert_not_null(d1);
    bn_value *v = payload_of(&a, d1);
    cr_expect_eq(bn_value_get(v, "s")->as.i, 1);
    cr_expect_str_eq(str_at(v, "ops.0.0"), "room:r");
    cr_expect_str_eq(str_at(v, "ops.0.1"), "ada");
    cr_expect_eq(bn_value_path(v, "ops.0.3.n")->as.i, 1);
    const char *ref = str_at(v, "ops.0.2");
    cr_expect_str_eq(str_at(v, "ops.0.3.phx_ref"), ref);
    /* The untrack: the next delta. */
    const sent *d2 = sent_since(&at, "", "delta");
    cr_assert_not_null(d2);
    v = payload_of(&a, d2);
    cr_expect_eq(bn_value_get(v, "s")->as.i, 2);
    cr_expect_str_eq(str_at(v, "ops.0.2"), ref);
    cr_expect(bn_value_is(bn_value_path(v, "ops.0.3"), BN_VALUE_NULL), "null: a leave");

    /* Heartbeats carry the last number. */
    spin(ts, 60);
    const sent *hb = sent_since(&at, "", "hb");
    cr_assert_not_null(hb);
    cr_expect_eq(bn_value_get(payload_of(&a, hb), "s")->as.i, 2);
    bn_arena_destroy(&a);
    bn_test_socket_close(ts);
}

Test(presence_replication, unknown_node_is_asked_for_its_state)
{
    bn_test_socket *ts = replicating_node();
    join_as(ts, "room:r", "ada", NULL);
    next_diff(ts, "room:r");
    int at = nsent;

    from_n2("hb", "{\"v\":7,\"s\":3}");
    const sent *req = sent_since(&at, "n2", "state_req");
    cr_assert_not_null(req, "a node we do not know is asked for its state");
    from_n2("delta", "{\"v\":7,\"s\":4,\"ops\":[[\"room:r\",\"zed\",\"Z1\",{\"phx_ref\":\"Z1\"}]]}");
    bn_arena a = BN_ARENA_INIT;
    cr_expect_null(bn_value_get(bn_presence_list(&a, "room:r"), "zed"), "deltas wait for the state");

    /* Its state: bob joins here, told to this node's subscribers. */
    from_n2("state", "{\"v\":7,\"s\":3,\"metas\":[[\"room:r\",\"bob\",\"B1\",{\"user\":\"bob\",\"phx_ref\":\"B1\"}]]}");
    const bn_value *diff = next_diff(ts, "room:r");
    cr_expect_str_eq(str_at(diff, "joins.bob.metas.0.phx_ref"), "B1");
    cr_expect_str_eq(str_at(diff, "joins.bob.metas.0.user"), "bob");
    bn_value *list = bn_presence_list(&a, "room:r");
    cr_expect_eq(bn_value_len(list), 2);

    /* In-sequence deltas apply silently (n2's own broadcast told the clients). */
    from_n2("delta", "{\"v\":7,\"s\":4,\"ops\":[[\"room:r\",\"carl\",\"C1\",{\"phx_ref\":\"C1\"}],"
                     "[\"room:r\",\"bob\",\"B1\",null]]}");
    list = bn_presence_list(&a, "room:r");
    cr_expect_not_null(bn_value_get(list, "carl"));
    cr_expect_null(bn_value_get(list, "bob"));
    cr_expect(bn_test_refute_push(ts, "room:r", "presence_diff", 0));
    cr_expect_null(sent_since(&at, "n2", "state_req"));

    /* A heartbeat that matches needs nothing; a gap makes this node ask again. */
    from_n2("hb", "{\"v\":7,\"s\":4}");
    cr_expect_null(sent_since(&at, "n2", "state_req"));
    from_n2("delta", "{\"v\":7,\"s\":6,\"ops\":[[\"room:r\",\"dan\",\"D1\",{\"phx_ref\":\"D1\"}]]}");
    cr_expect_not_null(sent_since(&at, "n2", "state_req"), "a gap: ask for the state");
    cr_expect_null(bn_value_get(bn_presence_list(&a, "room:r"), "dan"));

    /* The state replaces what this node had of n2: carl leaves, dan joins. */
    from_n2("state", "{\"v\":7,\"s\":6,\"metas\":[[\"room:r\",\"dan\",\"D1\",{\"phx_ref\":\"D1\"}]]}");
    diff = next_diff(ts, "room:r");
    cr_expect_str_eq(str_at(diff, "joins.dan.metas.0.phx_ref"), "D1");
    cr_expect_str_eq(str_at(diff, "leaves.carl.metas.0.phx_ref"), "C1");
    list = bn_presence_list(&a, "room:r");
    cr_expect_eq(bn_value_len(list), 2, "ada and dan");
    bn_arena_destroy(&a);
    bn_test_socket_close(ts);
}

Test(presence_replication, state_request_is_answered)
{
    bn_test_socket *ts = replicating_node();
    join_as(ts, "room:r", "ada", "{\"n\":1}");
    int at = nsent, at2 = nsent;
    from_n2("state_req", "{\"v\":7}");
    const sent *st = sent_since(&at, "n2", "state");
    cr_assert_not_null(st);
    bn_arena a = BN_ARENA_INIT;
    bn_value *v = payload_of(&a, st);
    cr_expect_eq(bn_value_get(v, "s")->as.i, 1, "the join's delta left first");
    cr_expect_eq(bn_value_len(bn_value_get(v, "metas")), 1);
    cr_expect_str_eq(str_at(v, "metas.0.1"), "ada");
    cr_expect_eq(bn_value_path(v, "metas.0.3.n")->as.i, 1);
    cr_expect_not_null(sent_since(&at2, "n2", "state_req"), "and n2, unknown, is asked for its own");
    bn_arena_destroy(&a);
    bn_test_socket_close(ts);
}

Test(presence_replication, restarted_node_loses_its_presences)
{
    bn_test_socket *ts = replicating_node();
    join_as(ts, "room:r", "ada", NULL);
    next_diff(ts, "room:r");
    from_n2("state", "{\"v\":7,\"s\":0,\"metas\":[[\"room:r\",\"bob\",\"B1\",{\"phx_ref\":\"B1\"}]]}");
    next_diff(ts, "room:r");
    int at = nsent;
    from_n2("hb", "{\"v\":8,\"s\":0}"); /* a new incarnation */
    const bn_value *diff = next_diff(ts, "room:r");
    cr_expect_str_eq(str_at(diff, "leaves.bob.metas.0.phx_ref"), "B1");
    cr_expect_not_null(sent_since(&at, "n2", "state_req"));
    bn_test_socket_close(ts);
}

Test(presence_replication, silent_node_leaves_after_the_timeout)
{
    bn_test_socket *ts = replicating_node(); /* timeout 300 ms */
    join_as(ts, "room:r", "ada", NULL);
    next_diff(ts, "room:r");
    from_n2("state", "{\"v\":7,\"s\":0,\"metas\":[[\"room:r\",\"bob\",\"B1\",{\"phx_ref\":\"B1\"}],"
                     "[\"room:other\",\"bob\",\"B2\",{\"phx_ref\":\"B2\"}]]}");
    next_diff(ts, "room:r");
    /* Heard from within the timeout: still there. */
    for (int i = 0; i < 3; i++) {
        spin(ts, 100);
        from_n2("hb", "{\"v\":7,\"s\":0}");
    }
    bn_arena a = BN_ARENA_INIT;
    cr_expect_not_null(bn_value_get(bn_presence_list(&a, "room:r"), "bob"));
    /* Then silence: bob leaves, ada (this node's) stays. */
    const bn_value *diff = next_diff(ts, "room:r");
    cr_expect_str_eq(str_at(diff, "leaves.bob.metas.0.phx_ref"), "B1");
    cr_expect_eq(bn_value_len(bn_value_get(diff, "joins")), 0);
    bn_value *list = bn_presence_list(&a, "room:r");
    cr_expect_eq(bn_value_len(list), 1);
    cr_expect_not_null(bn_value_get(list, "ada"));
    cr_expect_eq(bn_value_len(bn_presence_list(&a, "room:other")), 0);
    bn_arena_destroy(&a);
    bn_test_socket_close(ts);
}

Test(presence_replication, reconnect_asks_everyone_again)
{
    bn_test_socket *ts = replicating_node();
    from_n2("state", "{\"v\":7,\"s\":2,\"metas\":[]}");
    int at = nsent;
    bn__presence_connected();
    cr_expect_not_null(sent_since(&at, "", "hb"));
    cr_expect_not_null(sent_since(&at, "", "state_req"), "to every node");
    /* Until n2's state comes, its deltas wait. */
    from_n2("delta", "{\"v\":7,\"s\":3,\"ops\":[[\"room:r\",\"eve\",\"E1\",{\"phx_ref\":\"E1\"}]]}");
    bn_arena a = BN_ARENA_INIT;
    cr_expect_null(bn_value_get(bn_presence_list(&a, "room:r"), "eve"));
    from_n2("state", "{\"v\":7,\"s\":3,\"metas\":[[\"room:r\",\"eve\",\"E1\",{\"phx_ref\":\"E1\"}]]}");
    cr_expect_not_null(bn_value_get(bn_presence_list(&a, "room:r"), "eve"));
    bn_arena_destroy(&a);
    bn_test_socket_close(ts);
}
