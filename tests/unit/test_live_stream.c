/*
 * Unit tests for LiveView streams (bn_live_stream_* in src/live/live.c): a
 * view of songs whose template renders a batch under phx-update="stream".
 * The join and each event's diff are checked as exact JSON: the batch's
 * entries with "stream": [ref, inserts, deletes(, true)] on the
 * comprehension, and nothing of the stream without operations.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bennu.h>

#include "live_songs.html.h"

#define SKB "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- the view under test ---- */

typedef struct songs_state {
    song batch[4];
} songs_state;

/* Sets the batch to the n songs given. */
static void set_batch(bn_live *lv, const song *items, size_t n)
{
    songs_state *st = bn_live_state(lv);
    if (n) /* memcpy from NULL is undefined, even for 0 bytes */
        memcpy(st->batch, items, n * sizeof *items);
    live_songs_assigns *a = bn_live_assigns(lv);
    a->batch = st->batch;
    a->nbatch = n;
}

static int songs_mount(bn_live *lv, const bn_value *params, const bn_value *session)
{
    (void)params, (void)session;
    bn_live_assign(lv, live_songs, title, "Songs");
    set_batch(lv, (song[]){{"songs-1", "One"}, {"songs-2", "Two & co"}}, 2);
    bn_live_stream_insert(lv, live_songs__changed_batch, "songs-1", -1);
    bn_live_stream_insert(lv, live_songs__changed_batch, "songs-2", -1);
    return 0;
}

static void songs_event(bn_live *lv, bn_str event, const bn_value *value)
{
    (void)value;
    const bn_tpl_changes batch = live_songs__changed_batch;
    if (bn_str_eq(event, BN_STR("prepend"))) {
        set_batch(lv, (song[]){{"songs-3", "Three"}}, 1);
        bn_live_stream_insert(lv, batch, "songs-3", 0);
    } else if (bn_str_eq(event, BN_STR("delete"))) {
        set_batch(lv, NULL, 0);
        bn_live_stream_delete(lv, batch, "songs-1");
    } else if (bn_str_eq(event, BN_STR("reset"))) {
        set_batch(lv, (song[]){{"songs-9", "Nine"}}, 1);
        bn_live_stream_reset(lv, batch);
        bn_live_stream_insert(lv, batch, "songs-9", -1);
    } else if (bn_str_eq(event, BN_STR("limit"))) {
        set_batch(lv, (song[]){{"songs-2", "Two again"}}, 1);
        bn_live_stream_insert_opts(lv, batch, "songs-2", 1, -10, true);
    } else if (bn_str_eq(event, BN_STR("title"))) {
        bn_live_assign(lv, live_songs, title, "Tunes");
    } else if (bn_str_eq(event, BN_STR("touch"))) {
        bn_live_changed(lv, batch); /* the batch re-rendered without operations */
    }
}

static const bn_live_def songs_live = {
    .name = "SongsLive",
    BN_LIVE_TEMPLATE(live_songs),
    .state_size = sizeof(songs_state),
    .mount = songs_mount,
    .handle_event = songs_event,
};

/* ---- the endpoint ---- */

static void routes(bn_router *r) { bn_live(r, "/songs", &songs_live); }

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

TestSuite(live_stream, .init = setup, .fini = teardown);

/* ---- helpers ---- */

typedef struct page {
    char id[64];
    char token[1024];
    char *body;
} page;

static bool attr_value(const char *text, const char *attr, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s=\"", attr);
    const char *p = strstr(text, pat);
    if (!p)
        return false;
    p += strlen(pat);
    const char *end = strchr(p, '"');
    if (!end || (size_t)(end - p) >= cap)
        return false;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return true;
}

static page dead_render(void)
{
    page pg;
    bn_test_conn *r = bn_test_get(client, "/songs");
    cr_assert_eq(r->status, 200);
    pg.body = strndup(r->body.ptr, r->body.len);
    cr_assert(attr_value(pg.body, "id", pg.id, sizeof pg.id));
    cr_assert(attr_value(pg.body, "data-phx-session", pg.token, sizeof pg.token));
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

static bn_test_socket *join_page(const page *pg, char **rendered)
{
    bn_test_socket *ts = bn_test_socket_connect(&bn_live_socket, NULL);
    cr_assert_not_null(ts);
    char payload[1400], topic[80];
    snprintf(payload, sizeof payload,
             "{\"url\":\"http://localhost/songs\",\"params\":{\"_csrf_token\":\"x\",\"_mounts\":0},\"session\":\"%s\","
             "\"static\":null,\"sticky\":false}",
             pg->token);
    snprintf(topic, sizeof topic, "lv:%s", pg->id);
    const bn_value *resp = NULL;
    cr_assert_str_eq(bn_test_join(ts, topic, payload, &resp), "ok");
    *rendered = json_of(bn_value_get(resp, "rendered"));
    return ts;
}

/* Pushes a click on `event` and returns the reply's payload as JSON (free it). */
static char *click(bn_test_socket *ts, const page *pg, const char *event)
{
    char payload[200], topic[80];
    snprintf(payload, sizeof payload, "{\"type\":\"click\",\"event\":\"%s\",\"value\":{}}", event);
    snprintf(topic, sizeof topic, "lv:%s", pg->id);
    const char *ref = bn_test_push(ts, topic, "event", payload);
    const bn_test_msg *m = bn_test_assert_reply(ts, ref, "ok", 0);
    cr_assert_not_null(m, "no reply to %s", event);
    return json_of(m->payload);
}

#define ENTRY(id, name) "{\"0\":\" id=\\\"" id "\\\"\",\"1\":\"" name "\"}"

static const char *const statics =
    "\"s\":[\"<h1>\",\"</h1><ul id=\\\"songs\\\" phx-update=\\\"stream\\\">\",\"</ul>\"]";

/* ---- tests ---- */

Test(live_stream, the_dead_render_renders_the_batch)
{
    page pg = dead_render();
    cr_assert(strstr(pg.body, "<h1>Songs</h1><ul id=\"songs\" phx-update=\"stream\"><li id=\"songs-1\">One</li>"
                              "<li id=\"songs-2\">Two &amp; co</li></ul>"),
              "%s", pg.body);
    free(pg.body);
}

Test(live_stream, join_sends_the_batch_with_its_inserts)
{
    page pg = dead_render();
    char *rendered;
    bn_test_socket *ts = join_page(&pg, &rendered);
    char expected[1024];
    snprintf(expected, sizeof expected,
             "{\"0\":\"Songs\",\"1\":{\"s\":[\"<li\",\">\",\"</li>\"],\"k\":{\"0\":" ENTRY("songs-1", "One")
             ",\"1\":" ENTRY("songs-2", "Two &amp; co") ",\"kc\":2},"
             "\"stream\":[\"0\",[[\"songs-1\",-1,null,false],[\"songs-2\",-1,null,false]],[]]},%s}",
             statics);
    cr_assert_str_eq(rendered, expected);
    free(rendered);
    free(pg.body);
    bn_test_socket_close(ts);
}

/* Each event's reply, in order, against the view as the previous events left it. */
static void assert_replies(const char *const *events, const char *const *expected, size_t n)
{
    page pg = dead_render();
    char *rendered;
    bn_test_socket *ts = join_page(&pg, &rendered);
    for (size_t i = 0; i < n; i++) {
        char *got = click(ts, &pg, events[i]);
        cr_assert_str_eq(got, expected[i], "after %s", events[i]);
        free(got);
    }
    free(rendered);
    free(pg.body);
    bn_test_socket_close(ts);
}

Test(live_stream, an_insert_sends_only_the_new_item)
{
    const char *events[] = {"prepend"};
    const char *expected[] = {
        "{\"diff\":{\"1\":{\"k\":{\"0\":" ENTRY("songs-3", "Three") ",\"kc\":1},"
        "\"stream\":[\"0\",[[\"songs-3\",0,null,false]],[]]}}}",
    };
    assert_replies(events, expected, 1);
}

Test(live_stream, a_delete_sends_no_entries)
{
    const char *events[] = {"delete"};
    const char *expected[] = {"{\"diff\":{\"1\":{\"k\":{\"kc\":0},\"stream\":[\"0\",[],[\"songs-1\"]]}}}"};
    assert_replies(events, expected, 1);
}

Test(live_stream, a_reset_has_a_fourth_element)
{
    const char *events[] = {"reset"};
    const char *expected[] = {
        "{\"diff\":{\"1\":{\"k\":{\"0\":" ENTRY("songs-9", "Nine") ",\"kc\":1},"
        "\"stream\":[\"0\",[[\"songs-9\",-1,null,false]],[],true]}}}",
    };
    assert_replies(events, expected, 1);
}

Test(live_stream, limit_and_update_only)
{
    const char *events[] = {"limit"};
    const char *expected[] = {
        "{\"diff\":{\"1\":{\"k\":{\"0\":" ENTRY("songs-2", "Two again") ",\"kc\":1},"
        "\"stream\":[\"0\",[[\"songs-2\",1,-10,true]],[]]}}}",
    };
    assert_replies(events, expected, 1);
}

Test(live_stream, renders_without_operations_send_nothing_of_the_stream)
{
    /* the batch still holds songs-3 after "prepend": neither a title change nor a re-render resends it */
    const char *events[] = {"title", "touch", "prepend", "title", "touch", "prepend"};
    const char *prepended = "{\"diff\":{\"1\":{\"k\":{\"0\":" ENTRY("songs-3", "Three") ",\"kc\":1},"
                            "\"stream\":[\"0\",[[\"songs-3\",0,null,false]],[]]}}}";
    const char *expected[] = {
        "{\"diff\":{\"0\":\"Tunes\"}}", "{\"diff\":{}}", prepended, "{\"diff\":{\"0\":\"Tunes\"}}", "{\"diff\":{}}",
        prepended,
    };
    assert_replies(events, expected, 6);
}

Test(live_stream, batches_in_a_row_are_sent_whole)
{
    /* the kept tree holds the stream empty, as the client does: the same index is a new item each time */
    const char *events[] = {"prepend", "reset", "delete", "limit"};
    const char *expected[] = {
        "{\"diff\":{\"1\":{\"k\":{\"0\":" ENTRY("songs-3", "Three") ",\"kc\":1},"
        "\"stream\":[\"0\",[[\"songs-3\",0,null,false]],[]]}}}",
        "{\"diff\":{\"1\":{\"k\":{\"0\":" ENTRY("songs-9", "Nine") ",\"kc\":1},"
        "\"stream\":[\"0\",[[\"songs-9\",-1,null,false]],[],true]}}}",
        "{\"diff\":{\"1\":{\"k\":{\"kc\":0},\"stream\":[\"0\",[],[\"songs-1\"]]}}}",
        "{\"diff\":{\"1\":{\"k\":{\"0\":" ENTRY("songs-2", "Two again") ",\"kc\":1},"
        "\"stream\":[\"0\",[[\"songs-2\",1,-10,true]],[]]}}}",
    };
    assert_replies(events, expected, 4);
}

Test(live_stream, through_the_live_view_test_helpers)
{
    bn_test_live *lv = bn_test_live_get(client, "/songs");
    cr_assert_not_null(lv);
    cr_assert(bn_test_live_has_element(lv, "li#songs-2", "Two & co"));
    /* the helpers render the comprehension's entries, i.e. this batch: the client keeps the others in the DOM */
    cr_assert_not_null(bn_test_live_click(lv, "prepend", NULL), "%s", bn_test_live_error(lv));
    cr_assert(bn_test_live_has_element(lv, "li#songs-3", "Three"));
    bn_test_live_free(lv);
}
