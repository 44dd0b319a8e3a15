/*
 * Unit tests for the LiveView test helpers (src/testing/live_test.c): a
 * counter view driven through bn_test_live (dead render, join, clicks,
 * forms, handle_info diffs, has_element), then the client-side merge of
 * diffs into the rendered tree with crafted diffs (nested merge vs replace,
 * keyed comprehensions growing, shrinking and moving, template tables).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bennu.h>

#include "counter.html.h"

#define SKB "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- the view under test ---- */

typedef struct counter_state {
    char note[64];
} counter_state;

static int counter_mount(bn_live *lv, const bn_value *params, const bn_value *session)
{
    (void)session;
    int64_t start = 0;
    bn_str s = bn_value_str(bn_value_get(params, "start"));
    if (s.ptr)
        bn_str_to_i64(s, &start);
    bn_live_assign(lv, counter, count, (int)start);
    bn_live_assign(lv, counter, note, "");
    return 0;
}

static void counter_event(bn_live *lv, bn_str event, const bn_value *value)
{
    counter_assigns *a = bn_live_assigns(lv);
    counter_state *st = bn_live_state(lv);
    if (bn_str_eq(event, BN_STR("inc"))) {
        int64_t by = 1;
        bn_str s = bn_value_str(bn_value_get(value, "by")); /* phx-value-by */
        if (s.ptr)
            bn_str_to_i64(s, &by);
        bn_live_assign(lv, counter, count, a->count + (int)by);
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
    } else if (bn_str_eq(event, BN_STR("go"))) {
        bn_live_push_patch(lv, "/counter?start=9", false);
    } else if (bn_str_eq(event, BN_STR("away"))) {
        bn_live_redirect(lv, "/elsewhere");
    } else if (bn_str_eq(event, BN_STR("nav"))) {
        bn_live_push_navigate(lv, "/counter?start=1", true);
    } else if (bn_str_eq(event, BN_STR("title"))) {
        bn_live_set_title(lv, "Hello");
        bn_live_assign(lv, counter, count, a->count + 1); /* the title goes with a diff */
    }
}

/* The URL's "start" sets the count again on every patch. */
static void counter_params(bn_live *lv, const bn_value *params, const char *uri)
{
    (void)uri;
    int64_t start = 0;
    bn_str s = bn_value_str(bn_value_get(params, "start"));
    if (s.ptr && bn_str_to_i64(s, &start))
        bn_live_assign(lv, counter, count, (int)start);
}

static void counter_info(bn_live *lv, const bn_value *msg)
{
    if (bn_value_get(msg, "topic"))
        msg = bn_value_get(msg, "payload");
    int64_t n = 0;
    bn_value_to_int(bn_value_get(msg, "n"), &n);
    bn_live_assign(lv, counter, count, (int)n);
}

static const bn_live_def counter_live = {
    .name = "CounterLive",
    BN_LIVE_TEMPLATE(counter),
    .state_size = sizeof(counter_state),
    .mount = counter_mount,
    .handle_event = counter_event,
    .handle_info = counter_info,
    .handle_params = counter_params,
};

/* ---- the endpoint ---- */

static const bn_session_opts session = {.key = "_live_key", .signing_salt = "live salt", .secret_key_base = SKB};

static void routes(bn_router *r)
{
    bn_pipeline(r, "browser", BN_PLUG(bn_plug_fetch_session, &session));
    bn_scope(r, "/", "browser") {
        bn_live(r, "/counter", &counter_live);
    }
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

TestSuite(live_test, .init = setup, .fini = teardown);

static bn_test_live *live(const char *path)
{
    bn_test_live *lv = bn_test_live_get(client, path);
    cr_assert_not_null(lv, "no view at %s", path);
    return lv;
}

/* ---- driving a view ---- */

Test(live_test, the_joined_view_renders_like_the_dead_render)
{
    bn_test_live *lv = live("/counter?start=3");
    cr_assert_str_eq(bn_test_live_html(lv), "<div class=\"counter\"><span id=\"count\">3</span>"
                                            "<button phx-click=\"inc\">+</button><em></em></div>");
    cr_assert_eq(strncmp(bn_test_live_id(lv), "phx-", 4), 0);
    cr_assert(bn_test_live_has_element(lv, "#count", "3"));
    cr_assert_null(bn_test_live_patched_to(lv));
    cr_assert_null(bn_test_live_redirected_to(lv, NULL));
    bn_test_live_free(lv);
}

Test(live_test, two_clicks_count_to_two)
{
    bn_test_live *lv = live("/counter");
    cr_assert(bn_test_live_has_element(lv, "#count", "0"));
    cr_assert_not_null(bn_test_live_click(lv, "inc", NULL));
    const char *html = bn_test_live_click(lv, "inc", "{\"value\":\"\"}");
    cr_assert_not_null(html, "%s", bn_test_live_error(lv));
    cr_assert(strstr(html, "<span id=\"count\">2</span>"), "%s", html);
    cr_assert(bn_test_live_has_element(lv, "#count", "2"));
    cr_assert_not(bn_test_live_has_element(lv, "#count", "1"));
    cr_assert(bn_test_live_has_element(lv, "span#count", "2"));
    cr_assert(bn_test_live_has_element(lv, "button", "+"));
    cr_assert_not_null(bn_test_live_click(lv, "inc", "{\"by\":\"40\"}")); /* phx-value-by="40" */
    cr_assert(bn_test_live_has_element(lv, "#count", "42"));
    bn_test_live_free(lv);
}

Test(live_test, an_event_that_changes_nothing_keeps_the_html)
{
    bn_test_live *lv = live("/counter?start=5");
    char *before = strdup(bn_test_live_html(lv));
    cr_assert_str_eq(bn_test_live_click(lv, "nothing", NULL), before);
    free(before);
    cr_assert_null(bn_test_live_click(lv, "inc", "[1]"));
    cr_assert(strstr(bn_test_live_error(lv), "not a JSON object"), "%s", bn_test_live_error(lv));
    bn_test_live_free(lv);
}

Test(live_test, submit_and_change_send_the_form)
{
    bn_test_live *lv = live("/counter");
    const char *html = bn_test_live_submit(lv, "save", "note=hi+%3Cyou%3E");
    cr_assert_not_null(html, "%s", bn_test_live_error(lv));
    cr_assert(strstr(html, "<em>hi &lt;you&gt;/</em>"), "%s", html);
    cr_assert(bn_test_live_has_element(lv, "em", "hi <you>/"));
    cr_assert_not_null(bn_test_live_change(lv, "save", "note=typing", "note"));
    cr_assert(bn_test_live_has_element(lv, "em", "typing/note"));
    bn_test_live_free(lv);
}

Test(live_test, send_after_pushes_a_diff)
{
    bn_test_live *lv = live("/counter");
    cr_assert_not_null(bn_test_live_click(lv, "later", NULL));
    const char *html = bn_test_live_await_diff(lv, 0);
    cr_assert_not_null(html, "%s", bn_test_live_error(lv));
    cr_assert(bn_test_live_has_element(lv, "#count", "7"));
    /* the server's tree is complete after the push: the next click counts from 7 */
    cr_assert_not_null(bn_test_live_click(lv, "inc", NULL));
    cr_assert(bn_test_live_has_element(lv, "#count", "8"));
    cr_assert_null(bn_test_live_await_diff(lv, 20)); /* nothing more comes */
    bn_test_live_free(lv);
}

Test(live_test, a_broadcast_reaches_a_subscribed_view)
{
    bn_test_live *lv = live("/counter");
    bn_test_live *other = live("/counter");
    cr_assert_not_null(bn_test_live_click(lv, "follow", NULL));
    cr_assert_not_null(bn_test_live_click(other, "follow", NULL));
    bn_broadcast_json("counters", "set", BN_STR("{\"n\":42}"));
    cr_assert_not_null(bn_test_live_await_diff(lv, 0));
    cr_assert_not_null(bn_test_live_await_diff(other, 0));
    cr_assert(bn_test_live_has_element(lv, "#count", "42"));
    cr_assert(bn_test_live_has_element(other, "#count", "42"));
    bn_test_live_free(other);
    bn_test_live_free(lv);
}

Test(live_test, a_page_without_a_view_is_null)
{
    cr_assert_null(bn_test_live_get(client, "/nowhere"));
}

/* ---- navigation ---- */

Test(live_test, a_patch_runs_handle_params)
{
    bn_test_live *lv = live("/counter");
    const char *html = bn_test_live_patch(lv, "/counter?start=5");
    cr_assert_not_null(html, "%s", bn_test_live_error(lv));
    cr_assert(bn_test_live_has_element(lv, "#count", "5"));
    bn_test_live_free(lv);
}

Test(live_test, push_patch_is_seen_before_the_reply)
{
    bn_test_live *lv = live("/counter");
    cr_assert_not_null(bn_test_live_click(lv, "go", NULL), "%s", bn_test_live_error(lv));
    cr_assert_str_eq(bn_test_live_patched_to(lv), "/counter?start=9");
    cr_assert(bn_test_live_has_element(lv, "#count", "9"));
    cr_assert_null(bn_test_live_redirected_to(lv, NULL));
    bn_test_live_free(lv);
}

Test(live_test, a_redirect_ends_the_view)
{
    bn_test_live *lv = live("/counter");
    cr_assert_null(bn_test_live_click(lv, "away", NULL));
    const char *kind = NULL;
    cr_assert_str_eq(bn_test_live_redirected_to(lv, &kind), "/elsewhere");
    cr_assert_str_eq(kind, "redirect");
    cr_assert_null(bn_test_live_click(lv, "inc", NULL)); /* closed: no wait for a reply */
    cr_assert(strstr(bn_test_live_error(lv), "closed"), "%s", bn_test_live_error(lv));
    bn_test_live_free(lv);

    lv = live("/counter");
    cr_assert_null(bn_test_live_click(lv, "nav", NULL));
    cr_assert_str_eq(bn_test_live_redirected_to(lv, &kind), "/counter?start=1");
    cr_assert_str_eq(kind, "live_redirect");
    bn_test_live_free(lv);
}

Test(live_test, a_title_comes_with_the_diff)
{
    bn_test_live *lv = live("/counter");
    cr_assert_null(bn_test_live_title(lv));
    cr_assert_not_null(bn_test_live_click(lv, "title", NULL), "%s", bn_test_live_error(lv));
    cr_assert_str_eq(bn_test_live_title(lv), "Hello");
    bn_test_live_free(lv);
}

/* ---- has_element ---- */

Test(live_test, has_element_matches_ids_tags_and_text)
{
    const char *html = "<main><div id=\"a\">x <div>inner</div> &amp; y</div><p class=p>a &lt; b</p><br/><img src=x>"
                       "<div id=\"b\"></div></main>";
    cr_assert(bn_test_html_has_element(html, "#a", NULL));
    cr_assert(bn_test_html_has_element(html, "#a", "inner"));
    cr_assert(bn_test_html_has_element(html, "#a", "x inner & y")); /* nested same tag, entity */
    cr_assert_not(bn_test_html_has_element(html, "#b", "y"));
    cr_assert(bn_test_html_has_element(html, "div#b", NULL));
    cr_assert_not(bn_test_html_has_element(html, "p#b", NULL));
    cr_assert(bn_test_html_has_element(html, "p", "a < b"));
    cr_assert(bn_test_html_has_element(html, "div", "inner"));
    cr_assert(bn_test_html_has_element(html, "img", NULL));
    cr_assert(bn_test_html_has_element(html, "BR", NULL));
    cr_assert_not(bn_test_html_has_element(html, "span", NULL));
    cr_assert_not(bn_test_html_has_element(html, "#c", NULL));
    cr_assert_not(bn_test_html_has_element(NULL, "p", NULL));
}

/* ---- the client's merge, with crafted diffs ---- */

static bn_test_rendered *tree(const char *json)
{
    bn_test_rendered *r = bn_test_rendered_new(json);
    cr_assert_not_null(r, "%s", json);
    return r;
}

static void merge(bn_test_rendered *r, const char *diff, const char *html)
{
    cr_assert(bn_test_rendered_merge(r, diff), "%s: %s", diff, bn_test_rendered_error(r));
    const char *got = bn_test_rendered_html(r);
    cr_assert_not_null(got, "%s", bn_test_rendered_error(r));
    cr_assert_str_eq(got, html, "after %s", diff);
}

Test(live_test, a_nested_diff_merges_and_statics_replace)
{
    bn_test_rendered *r = tree("{\"0\":{\"0\":\"a\",\"1\":\"b\",\"s\":[\"<p>\",\"-\",\"</p>\"]},\"1\":\"t\","
                               "\"s\":[\"<div>\",\"\",\"</div>\"]}");
    cr_assert_str_eq(bn_test_rendered_html(r), "<div><p>a-b</p>t</div>");
    merge(r, "{\"0\":{\"1\":\"c\"}}", "<div><p>a-c</p>t</div>");           /* merged: "0" kept */
    merge(r, "{\"1\":\"u\"}", "<div><p>a-c</p>u</div>");                   /* "0" absent: unchanged */
    merge(r, "{\"0\":{\"0\":\"x\",\"s\":[\"<i>\",\"</i>\"]}}", "<div><i>x</i>u</div>"); /* "s": replaced */
    merge(r, "{\"0\":\"plain\"}", "<div>plainu</div>");                    /* a string replaces a node */
    merge(r, "{\"0\":{\"0\":\"n\",\"s\":[\"[\",\"]\"]}}", "<div>[n]u</div>"); /* and a node a string */
    merge(r, "{\"s\":[\"<b>\",\"</b>\"],\"0\":\"new\"}", "<b>new</b>");    /* top-level statics: a new tree */
    bn_test_rendered_free(r);
}

#define LIST(entries)                                                                                                  \
    "{\"0\":{\"s\":[\"<li>\",\"</li>\"],\"k\":{" entries "}},\"s\":[\"<ul>\",\"</ul>\"]}"

Test(live_test, a_keyed_comprehension_grows_and_shrinks)
{
    bn_test_rendered *r = tree(LIST("\"0\":{\"0\":\"a\"},\"1\":{\"0\":\"b\"},\"kc\":2"));
    cr_assert_str_eq(bn_test_rendered_html(r), "<ul><li>a</li><li>b</li></ul>");
    merge(r, "{\"0\":{\"k\":{\"1\":{\"0\":\"B\"},\"2\":{\"0\":\"c\"},\"kc\":3}}}",
          "<ul><li>a</li><li>B</li><li>c</li></ul>");
    merge(r, "{\"0\":{\"k\":{\"kc\":1}}}", "<ul><li>a</li></ul>");
    /* a new entry 1, nothing left of the old one */
    merge(r, "{\"0\":{\"k\":{\"1\":{\"0\":\"again\"},\"kc\":2}}}", "<ul><li>a</li><li>again</li></ul>");
    merge(r, "{\"0\":{\"k\":{\"kc\":0}}}", "<ul></ul>");
    /* the server's form: every entry whole, statics again */
    merge(r, LIST("\"0\":{\"0\":\"x\"},\"1\":{\"0\":\"y\"},\"kc\":2"), "<ul><li>x</li><li>y</li></ul>");
    bn_test_rendered_free(r);
}

Test(live_test, keyed_moves_need_km)
{
    bn_test_rendered *r = tree(LIST("\"0\":{\"0\":\"a\"},\"1\":{\"0\":\"b\"},\"2\":{\"0\":\"c\"},\"kc\":3"));
    merge(r, "{\"0\":{\"k\":{\"0\":2,\"1\":[0,{\"0\":\"A\"}],\"kc\":2,\"km\":true}}}",
          "<ul><li>c</li><li>A</li></ul>");
    /* the browser throws a TypeError on a move without "km" */
    cr_assert_not(bn_test_rendered_merge(r, "{\"0\":{\"k\":{\"0\":1,\"kc\":2}}}"));
    cr_assert(strstr(bn_test_rendered_error(r), "km"), "%s", bn_test_rendered_error(r));
    bn_test_rendered_free(r);
}

/* PROTOCOLS.md §7.5's LiveView 1.2 render, template table from the root, and §7.10c's update. */
Test(live_test, template_tables_resolve_integer_statics)
{
    bn_test_rendered *r = tree("{\"0\":\"Users\",\"1\":{\"s\":0,\"k\":{\"0\":{\"0\":\"phoenix\"},"
                               "\"1\":{\"0\":\"elixir\"},\"kc\":2}},\"r\":1,\"s\":1,"
                               "\"p\":{\"0\":[\"\\n    <br>\",\"\\n  \"],"
                               "\"1\":[\"<div>\\n  <h1>\",\"</h1>\\n  \",\"\\n</div>\"]}}");
    cr_assert_str_eq(bn_test_rendered_html(r),
                     "<div>\n  <h1>Users</h1>\n  \n    <br>phoenix\n  \n    <br>elixir\n  \n</div>");
    merge(r, "{\"1\":{\"k\":{\"1\":{\"0\":\"erlang\"},\"2\":{\"0\":\"gleam\"},\"kc\":3}}}",
          "<div>\n  <h1>Users</h1>\n  \n    <br>phoenix\n  \n    <br>erlang\n  \n    <br>gleam\n  \n</div>");
    /* a table is the diff's own: a later integer "s" without one is an error */
    cr_assert_not(bn_test_rendered_merge(r, "{\"0\":{\"0\":\"x\",\"s\":0}}"));
    bn_test_rendered_free(r);
}

Test(live_test, the_top_keys_of_a_diff_are_not_the_tree)
{
    bn_test_rendered *r = tree("{\"0\":\"a\",\"s\":[\"<p>\",\"</p>\"],\"t\":\"First\"}");
    cr_assert_str_eq(bn_test_rendered_html(r), "<p>a</p>");
    merge(r, "{\"0\":\"b\",\"t\":\"Second\",\"e\":[[\"hi\",{}]],\"r\":{\"ok\":true}}", "<p>b</p>");
    bn_test_rendered_free(r);
}

Test(live_test, what_the_client_cannot_render_is_an_error)
{
    cr_assert_null(bn_test_rendered_new("not json"));
    cr_assert_null(bn_test_rendered_new("{\"s\":[\"<p>\",\"</p>\"],\"0\":1,\"c\":{\"1\":{\"s\":[\"x\"]}}}"));
    bn_test_rendered *r = tree("{\"s\":[\"<p>\",\"</p>\"]}"); /* "0" missing: renders "undefined" in a browser */
    cr_assert_null(bn_test_rendered_html(r));
    cr_assert(strstr(bn_test_rendered_error(r), "missing"), "%s", bn_test_rendered_error(r));
    bn_test_rendered_free(r);
}
