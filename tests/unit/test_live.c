/*
 * Unit tests for LiveView's server side (src/live/live.c): the dead render of
 * a bn_live route through an endpoint, then the "lv:*" channel of
 * bn_live_socket through the channel test helpers: join with the page's
 * session token (the full rendered tree), events (a click's minimal diff, a
 * no-op, a form), send_after → a "diff" push, stale tokens, leave.
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
    bn_live_assign(lv, counter, count, (int)start);
    bn_live_assign(lv, counter, note, "");
    return 0;
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
    } else if (bn_str_eq(event, BN_STR("follow"))) {
        bn_live_subscribe(lv, "counters");
    }
    /* anything else changes nothing */
}

static void counter_info(bn_live *lv, const bn_value *msg)
{
    if (bn_value_get(msg, "topic")) /* a broadcast to "counters": {topic, event, payload} */
        msg = bn_value_get(msg, "payload");
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
};

/* ---- the endpoint ---- */

static const bn_session_opts session = {.key = "_live_key", .signing_salt = "live salt", .secret_key_base = SKB};

static void routes(bn_router *r)
{
    bn_pipeline(r, "browser", BN_PLUG(bn_plug_fetch_session, &session));
    bn_scope(r, "/", "browser") {
        bn_live(r, "/counter", &counter_live);
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
