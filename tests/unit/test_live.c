/*
 * Unit tests for LiveView's server side (src/live/live.c): the dead render of
 * a bn_live route through an endpoint, then the "lv:*" channel of
 * bn_live_socket through the channel test helpers: join with the page's
 * session token (the full rendered tree), events (a click's minimal diff, a
 * no-op, a form), send_after → a "diff" push, stale tokens, leave; then
 * handle_params, live_patch, push_patch/push_navigate/redirect and titles.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bennu.h>

#include "counter.html.h"

#define SKB "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- the view under test ---- */

typedef struct counter_state {
    char note[64];
} counter_state;

static int terminated; /* terminate calls (each test runs in its own process) */
static char terminate_reason[32];

static int counter_mount(bn_live *lv, const bn_value *params, const bn_value *session)
{
    (void)session;
    int64_t start = 0;
    bn_str s = bn_value_str(bn_value_get(params, "start"));
    if (s.ptr)
        bn_str_to_i64(s, &start);
    if (bn_value_get(params, "refuse"))
        return 1;
    if (bn_value_get(params, "bounce"))
        bn_live_redirect(lv, "/bye");
    if (bn_value_get(params, "go"))
        bn_live_push_navigate(lv, "/bare", false);
    if (bn_value_get(params, "titled"))
        bn_live_set_title(lv, "Mounted");
    bn_live_assign(lv, counter, count, (int)start);
    bn_live_assign(lv, counter, note, "");
    return 0;
}

static char last_uri[256]; /* what handle_params got last */

/* ?fix=1 is normalised to /counter/3; a path's :n sets the count. */
static void counter_params(bn_live *lv, const bn_value *params, const char *uri)
{
    snprintf(last_uri, sizeof last_uri, "%s", uri);
    if (bn_value_get(params, "fix")) {
        bn_live_push_patch(lv, "/counter/3", true);
        return;
    }
    int64_t n = 0;
    bn_str s = bn_value_str(bn_value_get(params, "n"));
    if (s.ptr && bn_str_to_i64(s, &n))
        bn_live_assign(lv, counter, count, (int)n);
}

static void counter_event(bn_live *lv, bn_str event, const bn_value *value)
{
    counter_assigns *a = bn_live_assigns(lv);
    counter_state *st = bn_live_state(lv);
    if (bn_str_eq(event, BN_STR("inc"))) {
        bn_live_assign(lv, counter, count, a->count + 1);
    } else if (bn_str_eq(event, BN_STR("save"))) {
        bn_str n = bn_value_str(bn_value_get(value, "note"));
        bn_str target = bn_value_str(bn_value_get(value, "_target"));
        snprintf(st->note, sizeof st->note, "%.*s/%.*s", (int)n.len, n.ptr, (int)target.len, target.ptr);
        bn_live_assign(lv, counter, note, st->note);
    } else if (bn_str_eq(event, BN_STR("later"))) {
        bn_arena *ar = bn_live_arena(lv);
        bn_value *msg = bn_value_object(ar);
        bn_value_set(ar, msg, "n", bn_value_int(ar, 7));
        bn_live_send_after(lv, 1, msg);
    } else if (bn_str_eq(event, BN_STR("notify"))) { /* a count, and an event for the page's hooks */
        bn_live_assign(lv, counter, count, a->count + 1);
        bn_arena *ar = bn_live_arena(lv);
        bn_value *p = bn_value_object(ar);
        bn_value_set(ar, p, "id", bn_value_string(ar, BN_STR("count")));
        bn_live_push_event(lv, "highlight", p);
        bn_live_push_event(lv, "ping", NULL);
    } else if (bn_str_eq(event, BN_STR("ask"))) { /* a hook's pushEvent with a reply callback */
        bn_arena *ar = bn_live_arena(lv);
        bn_value *r = bn_value_object(ar);
        bn_value_set(ar, r, "count", bn_value_int(ar, a->count));
        bn_live_reply(lv, r);
    } else if (bn_str_eq(event, BN_STR("follow"))) {
        bn_live_subscribe(lv, "counters");
    } else if (bn_str_eq(event, BN_STR("patch"))) {
        bn_live_push_patch(lv, "/counter/9?x=1", false);
    } else if (bn_str_eq(event, BN_STR("patch_away"))) {
        bn_live_push_patch(lv, "/bare", false);
    } else if (bn_str_eq(event, BN_STR("navigate"))) {
        bn_live_push_navigate(lv, "/bare", true);
    } else if (bn_str_eq(event, BN_STR("leave"))) {
        bn_live_redirect(lv, "https://example.com/bye");
    } else if (bn_str_eq(event, BN_STR("title"))) {
        bn_live_set_title(lv, "Hi \"you\" <3");
    } else if (bn_str_eq(event, BN_STR("inc_title"))) {
        bn_live_assign(lv, counter, count, a->count + 1);
        bn_live_set_title(lv, "One");
    }
    /* anything else changes nothing */
}

static void counter_info(bn_live *lv, const bn_value *msg)
{
    if (bn_value_get(msg, "topic")) /* a broadcast to "counters": {topic, event, payload} */
        msg = bn_value_get(msg, "payload");
    if (bn_value_get(msg, "away")) {
        bn_live_redirect(lv, "/bye");
        return;
    }
    int64_t n = 0;
    bn_value_to_int(bn_value_get(msg, "n"), &n);
    bn_live_assign(lv, counter, count, (int)n);
}

static void counter_terminate(bn_live *lv, const char *reason)
{
    (void)lv;
    terminated++;
    snprintf(terminate_reason, sizeof terminate_reason, "%s", reason);
}

static const bn_live_def counter_live = {
    .name = "CounterLive",
    BN_LIVE_TEMPLATE(counter),
    .state_size = sizeof(counter_state),
    .title = "Counter",
    .mount = counter_mount,
    .handle_event = counter_event,
    .handle_info = counter_info,
    .terminate = counter_terminate,
    .handle_params = counter_params,
};

/* ---- the endpoint ---- */

static const bn_session_opts session = {.key = "_live_key", .signing_salt = "live salt", .secret_key_base = SKB};

static void routes(bn_router *r)
{
    bn_pipeline(r, "browser", BN_PLUG(bn_plug_fetch_session, &session));
    bn_scope(r, "/", "browser") {
        bn_live(r, "/counter", &counter_live);
        bn_live(r, "/counter/:n", &counter_live);
    }
    bn_live(r, "/bare", &counter_live); /* no session fetched */
}

static bn_endpoint ep;
static bn_test_client *client;

static void setup(void)
{
    setenv("SECRET_KEY_BASE", SKB, 1);
    bn_router *r = bn_router_new();
    routes(r);
    ep = (bn_endpoint){.router = r};
    client = bn_test_client_for(&ep);
    cr_assert_not_null(client);
}

static void teardown(void)
{
    bn_test_client_free(client);
    bn_router_free(ep.router);
}

TestSuite(live, .init = setup, .fini = teardown);

/* ---- helpers ---- */

typedef struct page {
    char id[64];
    char token[1024];
} page;

/* Copies the attribute value after `attr="` in `body` into out. */
static bool attr_value(bn_str body, const char *attr, char *out, size_t cap)
{
    char *text = strndup(body.ptr, body.len);
    char pat[64];
    snprintf(pat, sizeof pat, "%s=\"", attr);
    const char *p = strstr(text, pat);
    bool ok = false;
    if (p) {
        p += strlen(pat);
        const char *end = strchr(p, '"');
        if (end && (size_t)(end - p) < cap) {
            memcpy(out, p, (size_t)(end - p));
            out[end - p] = '\0';
            ok = true;
        }
    }
    free(text);
    return ok;
}

/* The dead render of /counter (which also registers the view for joins). */
static page dead_render(const char *path)
{
    page pg;
    bn_test_conn *r = bn_test_get(client, path);
    cr_assert_eq(r->status, 200, "status %d: %.*s", r->status, (int)r->body.len, r->body.ptr);
    cr_assert(attr_value(r->body, "id", pg.id, sizeof pg.id));
    cr_assert(attr_value(r->body, "data-phx-session", pg.token, sizeof pg.token));
    bn_test_conn_free(r);
    return pg;
}

static char *json_of(const bn_value *v)
{
    bn_buf b = BN_BUF_INIT;
    bn_json_encode(&b, v);
    bn_buf_append(&b, "", 1);
    return b.data;
}

static void join_payload(char *out, size_t cap, const char *url, const char *token)
{
    snprintf(out, cap,
             "{\"url\":\"%s\",\"params\":{\"_csrf_token\":\"x\",\"_mounts\":0},\"session\":\"%s\","
             "\"static\":null,\"sticky\":false}",
             url, token);
}

static char *topic_of(const page *pg)
{
    static char topic[80];
    snprintf(topic, sizeof topic, "lv:%s", pg->id);
    return topic;
}

/* Joins the page's view; returns the socket. */
static bn_test_socket *join_page(const page *pg, const char *url, const bn_value **resp)
{
    bn_test_socket *ts = bn_test_socket_connect(&bn_live_socket, NULL);
    cr_assert_not_null(ts);
    char payload[1400];
    join_payload(payload, sizeof payload, url, pg->token);
    const char *status = bn_test_join(ts, topic_of(pg), payload, resp);
    cr_assert_str_eq(status, "ok");
    return ts;
}

static void assert_reply_json(bn_test_socket *ts, const char *ref, const char *expected)
{
    const bn_test_msg *m = bn_test_assert_reply(ts, ref, "ok", 0);
    cr_assert_not_null(m, "no reply");
    char *got = json_of(m->payload);
    cr_assert_str_eq(got, expected);
    free(got);
}

/* ---- the dead render ---- */

Test(live, dead_render_wraps_the_view_in_its_container)
{
    bn_test_conn *r = bn_test_get(client, "/counter?start=3");
    cr_assert_eq(r->status, 200);
    char *body = strndup(r->body.ptr, r->body.len);
    cr_assert(strstr(body, "<div id=\"phx-"), "%s", body);
    cr_assert(strstr(body, "data-phx-main data-phx-session=\"") != NULL, "%s", body);
    cr_assert(strstr(body, "data-phx-static=\"\">") != NULL, "%s", body);
    cr_assert(strstr(body, "<span id=\"count\">3</span><button phx-click=\"inc\">+</button>") != NULL, "%s", body);
    cr_assert(strstr(body, "</div></div>") != NULL, "%s", body);
    page pg;
    cr_assert(attr_value(r->body, "id", pg.id, sizeof pg.id));
    cr_assert_eq(strlen(pg.id), 20);
    for (const char *p = pg.id + 4; *p; p++)
        cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    cr_assert(strncmp(bn_test_header(r, "content-type").ptr, "text/html", 9) == 0);
    free(body);
    bn_test_conn_free(r);
}

Test(live, the_session_token_names_the_id_and_view)
{
    page pg = dead_render("/counter");
    bn_arena a = BN_ARENA_INIT;
    bn_value *data = NULL;
    cr_assert_eq(bn_token_verify(&a, BN_STR(SKB), BN_STR("bennu live view"), bn_str_from_cstr(pg.token), 1209600,
                                 (int64_t)time(NULL) * 1000 + 1000, &data),
                 BN_TOKEN_OK);
    cr_assert(bn_str_eq(bn_value_str(bn_value_get(data, "id")), bn_str_from_cstr(pg.id)));
    cr_assert(bn_str_eq(bn_value_str(bn_value_get(data, "view")), BN_STR("CounterLive")));
    cr_assert(bn_value_is(bn_value_get(data, "session"), BN_VALUE_OBJECT));
    bn_arena_destroy(&a);
}

Test(live, a_route_without_session_renders_too) { dead_render("/bare"); }

Test(live, a_refused_mount_is_403)
{
    bn_test_conn *r = bn_test_get(client, "/counter?refuse=1");
    cr_assert_eq(r->status, 403);
    bn_test_conn_free(r);
}

Test(live, no_secret_key_base_is_500)
{
    setenv("SECRET_KEY_BASE", "short", 1);
    bn_test_conn *r = bn_test_get(client, "/bare");
    cr_assert_eq(r->status, 500);
    bn_test_conn_free(r);
}

/* ---- the channel ---- */

Test(live, join_replies_the_full_rendered_tree)
{
    page pg = dead_render("/counter");
    const bn_value *resp = NULL;
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter?start=41", &resp);
    cr_assert(bn_str_eq(bn_value_str(bn_value_get(resp, "liveview_version")), BN_STR("1.2.12")));
    const bn_value *rendered = bn_value_get(resp, "rendered");
    cr_assert(bn_str_eq(bn_value_str(bn_value_get(rendered, "0")), BN_STR("41")));
    cr_assert(bn_str_eq(bn_value_str(bn_value_get(rendered, "1")), BN_STR("")));
    const bn_value *s = bn_value_get(rendered, "s");
    cr_assert_eq(bn_value_len(s), 3);
    cr_assert(bn_str_eq(bn_value_str(bn_value_at(s, 0)), BN_STR("<div class=\"counter\"><span id=\"count\">")));
    bn_test_socket_close(ts);
    cr_assert_eq(terminated, 1);
    cr_assert_str_eq(terminate_reason, "closed");
}

Test(live, a_click_replies_only_the_changed_dynamic)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"inc\",\"value\":{}}");
    assert_reply_json(ts, ref, "{\"diff\":{\"0\":\"1\"}}");
    ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"inc\",\"value\":{\"value\":\"\"}}");
    assert_reply_json(ts, ref, "{\"diff\":{\"0\":\"2\"}}");
    ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"nothing\",\"value\":{}}");
    assert_reply_json(ts, ref, "{}");
    bn_test_socket_close(ts);
}

Test(live, a_form_event_decodes_the_form_and_merges_meta)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref = bn_test_push(ts, topic_of(&pg), "event",
                                   "{\"type\":\"form\",\"event\":\"save\",\"value\":\"note=hi+%3Cyou%3E\","
                                   "\"meta\":{\"_target\":\"note\"}}");
    assert_reply_json(ts, ref, "{\"diff\":{\"1\":\"hi &lt;you&gt;/note\"}}");
    bn_test_socket_close(ts);
}

Test(live, send_after_pushes_a_diff)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"later\",\"value\":{}}");
    assert_reply_json(ts, ref, "{}");
    const bn_test_msg *m = bn_test_assert_push(ts, topic_of(&pg), "diff", 0);
    cr_assert_not_null(m);
    char *got = json_of(m->payload);
    cr_assert_str_eq(got, "{\"0\":\"7\"}");
    free(got);
    /* the tree kept after a push is complete: the next click diffs against 7 */
    ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"inc\",\"value\":{}}");
    assert_reply_json(ts, ref, "{\"diff\":{\"0\":\"8\"}}");
    bn_test_socket_close(ts);
}

/* Two views of the same page stay in sync through a topic both subscribed to. */
Test(live, a_subscribed_view_gets_broadcasts_in_handle_info)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"follow\",\"value\":{}}");
    assert_reply_json(ts, ref, "{}");
    bn_broadcast_json("counters", "set", BN_STR("{\"n\":42}"));
    const bn_test_msg *m = bn_test_assert_push(ts, topic_of(&pg), "diff", 0);
    cr_assert_not_null(m);
    char *got = json_of(m->payload);
    cr_assert_str_eq(got, "{\"0\":\"42\"}");
    free(got);
    bn_test_socket_close(ts);
}

/* push_event: the next diff carries "e" with every event pushed, in order. */
Test(live, push_event_rides_on_the_next_diff)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"notify\",\"value\":{}}");
    assert_reply_json(ts, ref, "{\"diff\":{\"0\":\"1\",\"e\":[[\"highlight\",{\"id\":\"count\"}],[\"ping\",{}]]}}");
    ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"inc\",\"value\":{}}");
    assert_reply_json(ts, ref, "{\"diff\":{\"0\":\"2\"}}"); /* sent once */
    bn_test_socket_close(ts);
}

/* bn_live_reply: the event's reply carries "r" for the hook, with or without a change. */
Test(live, a_hook_reply_rides_on_the_reply_as_r)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"hook\",\"event\":\"ask\",\"value\":{}}");
    assert_reply_json(ts, ref, "{\"diff\":{\"r\":{\"count\":0}}}");
    ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"inc\",\"value\":{}}");
    assert_reply_json(ts, ref, "{\"diff\":{\"0\":\"1\"}}"); /* answered once */
    bn_test_socket_close(ts);
}

Test(live, leave_terminates_the_view)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref = bn_test_leave(ts, topic_of(&pg));
    cr_assert_not_null(bn_test_assert_reply(ts, ref, "ok", 0));
    cr_assert_not_null(bn_test_assert_push(ts, topic_of(&pg), "phx_close", 0));
    bn_test_socket_close(ts);
    cr_assert_eq(terminated, 1);
    cr_assert_str_eq(terminate_reason, "left");
}

static void assert_stale(const char *topic, const char *token)
{
    bn_test_socket *ts = bn_test_socket_connect(&bn_live_socket, NULL);
    cr_assert_not_null(ts);
    char payload[1400];
    join_payload(payload, sizeof payload, "http://localhost/counter", token);
    const bn_value *resp = NULL;
    cr_assert_str_eq(bn_test_join(ts, topic, payload, &resp), "error");
    cr_assert(bn_str_eq(bn_value_str(bn_value_get(resp, "reason")), BN_STR("stale")));
    bn_test_socket_close(ts);
    cr_assert_eq(terminated, 0);
}

/* A token signed like the dead render's, with chosen fields and age. */
static void sign(char *out, size_t cap, const char *id, const char *view, int64_t age_ms)
{
    bn_arena a = BN_ARENA_INIT;
    bn_value *d = bn_value_object(&a);
    bn_value_set(&a, d, "id", bn_value_string(&a, bn_str_from_cstr(id)));
    bn_value_set(&a, d, "view", bn_value_string(&a, bn_str_from_cstr(view)));
    bn_value_set(&a, d, "session", bn_value_object(&a));
    bn_buf b = BN_BUF_INIT;
    bn_token_sign(&b, BN_STR(SKB), BN_STR("bennu live view"), d, (int64_t)time(NULL) * 1000 - age_ms, 1209600);
    snprintf(out, cap, "%.*s", (int)b.len, b.data);
    bn_buf_free(&b);
    bn_arena_destroy(&a);
}

Test(live, a_forged_token_is_stale)
{
    page pg = dead_render("/counter");
    char forged[1100];
    snprintf(forged, sizeof forged, "%sx", pg.token);
    assert_stale(topic_of(&pg), forged);
    assert_stale(topic_of(&pg), "nonsense");
}

Test(live, a_token_for_another_id_is_stale)
{
    page pg = dead_render("/counter");
    assert_stale("lv:phx-AAAAAAAAAAAAAAAA", pg.token);
}

Test(live, an_expired_token_is_stale)
{
    page pg = dead_render("/counter");
    char token[1024];
    sign(token, sizeof token, pg.id, "CounterLive", 15LL * 24 * 3600 * 1000);
    assert_stale(topic_of(&pg), token);
    sign(token, sizeof token, pg.id, "CounterLive", 1000); /* the same, fresh: joins */
    bn_test_socket *ts = bn_test_socket_connect(&bn_live_socket, NULL);
    char payload[1400];
    join_payload(payload, sizeof payload, "http://localhost/counter", token);
    cr_assert_str_eq(bn_test_join(ts, topic_of(&pg), payload, NULL), "ok");
    bn_test_socket_close(ts);
}

Test(live, an_unknown_view_is_stale)
{
    page pg = dead_render("/counter");
    char token[1024];
    sign(token, sizeof token, pg.id, "NoSuchLive", 1000);
    assert_stale(topic_of(&pg), token);
}

Test(live, a_join_before_any_render_is_stale)
{
    char token[1024];
    sign(token, sizeof token, "phx-BBBBBBBBBBBBBBBB", "CounterLive", 1000);
    assert_stale("lv:phx-BBBBBBBBBBBBBBBB", token);
}

Test(live, a_refused_connected_mount_is_an_error)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = bn_test_socket_connect(&bn_live_socket, NULL);
    char payload[1400];
    join_payload(payload, sizeof payload, "http://localhost/counter?refuse=1", pg.token);
    cr_assert_str_eq(bn_test_join(ts, topic_of(&pg), payload, NULL), "error");
    bn_test_socket_close(ts);
    cr_assert_eq(terminated, 0);
}

/* ---- navigation and titles (§7.3, §7.4, §7.6) ---- */

/* A reply or push payload, as JSON. */
static void assert_json(const bn_value *v, const char *expected)
{
    char *got = json_of(v);
    cr_assert_str_eq(got, expected);
    free(got);
}

static bn_test_socket *join_expect(const page *pg, const char *field, const char *url, const char *status,
                                   const bn_value **resp)
{
    bn_test_socket *ts = bn_test_socket_connect(&bn_live_socket, NULL);
    cr_assert_not_null(ts);
    char payload[1400];
    snprintf(payload, sizeof payload,
             "{\"%s\":\"%s\",\"params\":{\"_csrf_token\":\"x\",\"_mounts\":0},\"session\":\"%s\","
             "\"static\":null,\"sticky\":false}",
             field, url, pg->token);
    cr_assert_str_eq(bn_test_join(ts, topic_of(pg), payload, resp), status);
    return ts;
}

Test(live, handle_params_gets_the_path_and_query_params)
{
    bn_test_conn *r = bn_test_get(client, "/counter/6?start=1");
    cr_assert_eq(r->status, 200);
    cr_assert(memmem(r->body.ptr, r->body.len, "<span id=\"count\">6</span>", 25) != NULL);
    cr_assert(strncmp(last_uri, "http://", 7) == 0 && strstr(last_uri, "/counter/6?start=1"), "%s", last_uri);
    bn_test_conn_free(r);
    page pg = dead_render("/counter/6");
    const bn_value *resp = NULL;
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter/5?start=1", &resp);
    cr_assert(bn_str_eq(bn_value_str(bn_value_get(bn_value_get(resp, "rendered"), "0")), BN_STR("5")));
    cr_assert_null(bn_value_get(resp, "live_patch"));
    cr_assert_str_eq(last_uri, "http://localhost/counter/5?start=1");
    bn_test_socket_close(ts);
}

Test(live, a_client_live_patch_runs_handle_params)
{
    dead_render("/counter/1"); /* registers the route */
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref = bn_test_push(ts, topic_of(&pg), "live_patch", "{\"url\":\"http://localhost/counter/12\"}");
    assert_reply_json(ts, ref, "{\"diff\":{\"0\":\"12\"}}");
    cr_assert_str_eq(last_uri, "http://localhost/counter/12");
    ref = bn_test_push(ts, topic_of(&pg), "live_patch", "{\"url\":\"http://localhost/counter?a=b\"}");
    assert_reply_json(ts, ref, "{}");
    /* another pipeline, no route, no url: the client navigates instead */
    ref = bn_test_push(ts, topic_of(&pg), "live_patch", "{\"url\":\"http://localhost/bare\"}");
    assert_reply_json(ts, ref, "{\"link_redirect\":true}");
    ref = bn_test_push(ts, topic_of(&pg), "live_patch", "{\"url\":\"http://localhost/nowhere\"}");
    assert_reply_json(ts, ref, "{\"link_redirect\":true}");
    ref = bn_test_push(ts, topic_of(&pg), "live_patch", "{}");
    assert_reply_json(ts, ref, "{\"link_redirect\":true}");
    bn_test_socket_close(ts);
}

/* The first live render registers every live route of the router: /counter/:n was never
 * rendered, yet the patch to it is live. */
Test(live, push_patch_pushes_live_patch_before_the_diff_reply)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"patch\",\"value\":{}}");
    const bn_test_msg *m = bn_test_next(ts, BN_TEST_ASSERT_TIMEOUT_MS);
    cr_assert_not_null(m);
    cr_assert_str_eq(m->event, "live_patch");
    assert_json(m->payload, "{\"to\":\"/counter/9?x=1\",\"kind\":\"push\"}");
    m = bn_test_next(ts, BN_TEST_ASSERT_TIMEOUT_MS);
    cr_assert_not_null(m);
    cr_assert_str_eq(m->event, "phx_reply");
    cr_assert_str_eq(m->ref, ref);
    assert_json(m->payload, "{\"diff\":{\"0\":\"9\"}}");
    cr_assert_str_eq(last_uri, "http://localhost/counter/9?x=1");
    bn_test_socket_close(ts);
}

/* A patch to a route of another pipeline (another live_session, as it were) is navigated to. */
Test(live, push_patch_outside_the_same_pipeline_navigates)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"patch_away\",\"value\":{}}");
    assert_reply_json(ts, ref, "{\"live_redirect\":{\"to\":\"/bare\",\"kind\":\"push\"}}");
    cr_assert_not_null(bn_test_assert_push(ts, topic_of(&pg), "phx_close", 0));
    bn_test_socket_close(ts);
}

Test(live, push_navigate_replies_live_redirect_and_stops)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref =
        bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"navigate\",\"value\":{}}");
    assert_reply_json(ts, ref, "{\"live_redirect\":{\"to\":\"/bare\",\"kind\":\"replace\"}}");
    cr_assert_not_null(bn_test_assert_push(ts, topic_of(&pg), "phx_close", 0));
    cr_assert_eq(terminated, 1);
    bn_test_socket_close(ts);
}

Test(live, redirect_replies_redirect_and_stops)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"leave\",\"value\":{}}");
    assert_reply_json(ts, ref, "{\"redirect\":{\"to\":\"https://example.com/bye\"}}");
    cr_assert_not_null(bn_test_assert_push(ts, topic_of(&pg), "phx_close", 0));
    cr_assert_eq(terminated, 1);
    bn_test_socket_close(ts);
}

Test(live, a_redirect_from_handle_info_is_pushed)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref =
        bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"follow\",\"value\":{}}");
    assert_reply_json(ts, ref, "{}");
    bn_broadcast_json("counters", "set", BN_STR("{\"away\":true}"));
    const bn_test_msg *m = bn_test_assert_push(ts, topic_of(&pg), "redirect", 0);
    cr_assert_not_null(m);
    assert_json(m->payload, "{\"to\":\"/bye\"}");
    cr_assert_not_null(bn_test_assert_push(ts, topic_of(&pg), "phx_close", 0));
    bn_test_socket_close(ts);
}

Test(live, navigation_in_mount_refuses_the_join)
{
    page pg = dead_render("/counter");
    const bn_value *resp = NULL;
    bn_test_socket *ts = join_expect(&pg, "url", "http://localhost/counter?bounce=1", "error", &resp);
    assert_json(resp, "{\"redirect\":{\"to\":\"/bye\"}}");
    bn_test_socket_close(ts);
    ts = join_expect(&pg, "url", "http://localhost/counter?go=1", "error", &resp);
    assert_json(resp, "{\"live_redirect\":{\"to\":\"/bare\",\"kind\":\"push\"}}");
    bn_test_socket_close(ts);
    cr_assert_eq(terminated, 0);
}

Test(live, navigation_in_the_dead_render_redirects)
{
    bn_test_conn *r = bn_test_get(client, "/counter?bounce=1");
    cr_assert_eq(r->status, 302);
    cr_assert_str_eq(bn_test_redirected_to(r), "/bye");
    bn_test_conn_free(r);
    r = bn_test_get(client, "/counter?fix=1");
    cr_assert_eq(r->status, 302);
    cr_assert_str_eq(bn_test_redirected_to(r), "/counter/3");
    bn_test_conn_free(r);
}

Test(live, a_patch_from_handle_params_at_join_is_in_the_reply)
{
    dead_render("/counter/1");
    page pg = dead_render("/counter");
    const bn_value *resp = NULL;
    bn_test_socket *ts = join_expect(&pg, "url", "http://localhost/counter?fix=1", "ok", &resp);
    assert_json(bn_value_get(resp, "live_patch"), "{\"to\":\"/counter/3\",\"kind\":\"replace\"}");
    cr_assert(bn_str_eq(bn_value_str(bn_value_get(bn_value_get(resp, "rendered"), "0")), BN_STR("3")));
    cr_assert_str_eq(last_uri, "http://localhost/counter/3");
    bn_test_socket_close(ts);
}

Test(live, a_live_navigation_join_lands_on_the_redirect_url)
{
    dead_render("/counter/1");
    page pg = dead_render("/counter");
    const bn_value *resp = NULL;
    bn_test_socket *ts = join_expect(&pg, "redirect", "http://localhost/counter/4", "ok", &resp);
    cr_assert(bn_str_eq(bn_value_str(bn_value_get(bn_value_get(resp, "rendered"), "0")), BN_STR("4")));
    bn_test_socket_close(ts);
    /* another pipeline or no route: the client loads the page */
    ts = join_expect(&pg, "redirect", "http://localhost/bare", "error", &resp);
    assert_json(resp, "{\"reason\":\"unauthorized\"}");
    bn_test_socket_close(ts);
    ts = join_expect(&pg, "redirect", "http://localhost/nowhere", "error", &resp);
    assert_json(resp, "{\"reason\":\"unauthorized\"}");
    bn_test_socket_close(ts);
}

Test(live, set_title_puts_t_in_the_diff)
{
    page pg = dead_render("/counter");
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter", NULL);
    const char *ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"title\",\"value\":{}}");
    assert_reply_json(ts, ref, "{\"diff\":{\"t\":\"Hi \\\"you\\\" <3\"}}");
    ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"inc_title\",\"value\":{}}");
    assert_reply_json(ts, ref, "{\"diff\":{\"0\":\"1\",\"t\":\"One\"}}");
    ref = bn_test_push(ts, topic_of(&pg), "event", "{\"type\":\"click\",\"event\":\"nothing\",\"value\":{}}");
    assert_reply_json(ts, ref, "{}"); /* sent once */
    bn_test_socket_close(ts);
}

Test(live, a_title_set_in_mount_is_in_the_join_reply)
{
    page pg = dead_render("/counter");
    const bn_value *resp = NULL;
    bn_test_socket *ts = join_page(&pg, "http://localhost/counter?titled=1", &resp);
    cr_assert(bn_str_eq(bn_value_str(bn_value_get(bn_value_get(resp, "rendered"), "t")), BN_STR("Mounted")));
    bn_test_socket_close(ts);
}
