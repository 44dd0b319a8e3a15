/*
 * Rendering of real compiled templates: the tests/templates/ files (NAME.html.bnx) are
 * compiled by bennu-tpl at build time (bennu_templates() in
 * tests/CMakeLists.txt) and linked into this test. Every render is done
 * twice, plain (bn_tpl_render_html) and structured (bn_tpl_render_tree, then
 * bn_rendered_to_html), and both must give the same, exact HTML.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>

#include "bennu/template.h"

#include "classes.html.h"
#include "comps.html.h"
#include "control.html.h"
#include "escape.html.h"
#include "links.html.h"
#include "loops.html.h"
#include "int_attrs.html.h"
#include "numbers.html.h"
#include "paths.html.h"
#include "raw.html.h"
#include "spread.html.h"
#include "tree.html.h"
#include "uses.html.h"

static bn_arena arena;

static void setup(void) { arena = (bn_arena)BN_ARENA_INIT; }
static void teardown(void) { bn_arena_destroy(&arena); }

TestSuite(template_render, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

static char *take(bn_buf *b)
{
    char *s = bn_arena_strndup(&arena, b->data ? b->data : "", b->len);
    bn_buf_free(b);
    return s;
}

/* Renders both ways; both must succeed and agree. Returns the HTML. */
static char *render_fn(bn_tpl_fn *fn, const void *assigns)
{
    bn_buf out = BN_BUF_INIT;
    const char *err = bn_tpl_render_html_fn(&out, fn, assigns);
    cr_assert_null(err, "plain render failed: %s", err);
    char *plain = take(&out);
    const char *terr = "unset";
    bn_rendered *r = bn_tpl_render_tree_fn(&arena, fn, assigns, BN_TPL_ALL, NULL, &terr);
    cr_assert_null(terr, "structured render failed: %s", terr);
    cr_assert_not_null(r);
    bn_rendered_to_html(r, &out);
    char *tree = take(&out);
    cr_assert_str_eq(tree, plain, "bn_rendered_to_html of the tree differs from the plain render");
    return plain;
}
#define RENDER(name, ...) render_fn(BN_TPL_ARGS(name, (&(name##_assigns){__VA_ARGS__})))

/* The render error of both modes (which must agree). */
static const char *render_error_fn(bn_tpl_fn *fn, const void *assigns)
{
    bn_buf out = BN_BUF_INIT;
    const char *err = bn_tpl_render_html_fn(&out, fn, assigns);
    bn_buf_free(&out);
    const char *terr = NULL;
    bn_rendered *r = bn_tpl_render_tree_fn(&arena, fn, assigns, BN_TPL_ALL, NULL, &terr);
    cr_assert((terr != NULL) == (r == NULL), "structured render: error %s, tree %p", terr ? terr : "(none)", (void *)r);
    cr_assert((err == NULL) == (terr == NULL), "plain: %s, structured: %s", err ? err : "(none)",
              terr ? terr : "(none)");
    if (err)
        cr_assert_str_eq(err, terr);
    return err;
}
#define RENDER_ERROR(name, ...) render_error_fn(BN_TPL_ARGS(name, (&(name##_assigns){__VA_ARGS__})))

static bn_rendered *tree_fn(bn_tpl_fn *fn, const void *assigns, bn_tpl_changes changed, const bn_rendered *prev)
{
    const char *err = "unset";
    bn_rendered *r = bn_tpl_render_tree_fn(&arena, fn, assigns, changed, prev, &err);
    cr_assert_null(err, "structured render failed: %s", err);
    cr_assert_not_null(r);
    return r;
}

static char *json_of(const bn_rendered *r, bool with_statics)
{
    bn_buf out = BN_BUF_INIT;
    bn_rendered_to_json(r, with_statics, &out);
    char *s = take(&out);
    json_error_t e;
    json_t *parsed = json_loads(s, 0, &e);
    cr_assert_not_null(parsed, "invalid JSON (%s): %s", e.text, s);
    json_decref(parsed);
    return s;
}

static user mkuser(const char *name, int age, bool admin) { return (user){.name = name, .age = age, .admin = admin}; }

/* ------------------------------------------------------------------------ */
/* Escaping                                                                   */

#define FFFD "\xEF\xBF\xBD"

static const struct {
    const char *in, *out;
} hostile[] = {
    {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
    {"\"double\"", "&quot;double&quot;"},
    {"'single'", "&#39;single&#39;"},
    {"a & b &amp;", "a &amp; b &amp;amp;"},
    {"\" onmouseover=\"alert(1)", "&quot; onmouseover=&quot;alert(1)"},
    {"x' onclick='y", "x&#39; onclick=&#39;y"},
    {"</pre><img src=x onerror=alert(1)>", "&lt;/pre&gt;&lt;img src=x onerror=alert(1)&gt;"},
    {"caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80", "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80"}, /* valid UTF-8 */
    {"\xFF\xFE", FFFD FFFD},                                                         /* never UTF-8 */
    {"caf\xC3", "caf" FFFD},                                                         /* truncated */
    {"\xC0\xAF", FFFD FFFD},                                                         /* overlong '/' */
    {"\xED\xA0\x80", FFFD FFFD FFFD},                                                /* a surrogate */
    {"\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD},                                       /* past U+10FFFF */
    {"{@x} <%= y %>", "{@x} &lt;%= y %&gt;"},
    {"", ""},
};

Test(template_render, escapes_text_and_attributes)
{
    for (size_t i = 0; i < BN_ARRAY_LEN(hostile); i++) {
        const char *in = hostile[i].in, *e = hostile[i].out;
        char *html = RENDER(escape, .text = in, .str = bn_str_from_cstr(in));
        /* class={["a", @text]}: an empty item is left out. */
        char *want = bn_arena_printf(&arena, "<p title=\"%s\" data-s=\"%s\" class=\"a%s%s\">%s</p><pre>%s</pre>", e, e,
                                     *e ? " " : "", e, e, e);
        cr_assert_str_eq(html, want, "input #%zu", i);
    }
}

Test(template_render, escapes_nul_in_a_bn_str)
{
    char *html = RENDER(escape, .text = "t", .str = bn_str_make("a\0b<\0", 5));
    cr_assert_str_eq(html, "<p title=\"t\" data-s=\"a" FFFD "b&lt;" FFFD "\" class=\"a t\">t</p><pre>a" FFFD "b&lt;" FFFD
                           "</pre>");
}

Test(template_render, null_strings_omit_attributes)
{
    char *html = RENDER(escape, .text = NULL, .str = BN_STR_NULL);
    cr_assert_str_eq(html, "<p class=\"a\"></p><pre></pre>");
}

/* ------------------------------------------------------------------------ */
/* Values                                                                     */

Test(template_render, numbers_bools_doubles_chars)
{
    char *html = RENDER(numbers, .i = -42, .l = LONG_MIN, .ll = 123456789012LL, .u = 4000000000u, .ull = ULLONG_MAX,
                        .sh = -7, .uc = 200, .d = 3.5, .f = 0.25f, .yes = true, .no = false, .c = '<',
                        .null_text = NULL);
    cr_assert_str_eq(html, "-42|-9223372036854775808|123456789012|4000000000|18446744073709551615|-7|200|3.5|0.25|true|"
                           "false|&lt;||-84|1");
    html = RENDER(numbers, .d = 0.1, .f = 1.5f, .c = '&', .null_text = "\"");
    cr_assert_str_eq(html, "0|0|0|0|0|0|0|0.1|1.5|false|false|&amp;|&quot;|0|0");
    html = RENDER(numbers, .d = 1.0 / 3.0, .c = 'x');
    cr_assert_str_eq(html, "0|0|0|0|0|0|0|0.3333333333333333|0|false|false|x||0|0");
}

/* Integer attributes are written in decimal (phx-value-id={item.id}). */
Test(template_render, integer_attributes)
{
    char *html = RENDER(int_attrs, .id = -3, .size = 4000000000ul, .big = 123456789012LL);
    cr_assert_str_eq(html, "<button phx-click=\"delete\" phx-value-id=\"-3\" data-size=\"4000000000\" "
                           "data-big=\"123456789012\">x</button>");
}

Test(template_render, raw_is_not_escaped)
{
    char *html = RENDER(raw, .html = "<b>bold</b>", .str = BN_STR("<i>i</i>"), .safe = {"<u>u</u>", 8});
    cr_assert_str_eq(html, "<div><b>bold</b>|<i>i</i>|<u>u</u>|<u>u</u>|&lt;b&gt;bold&lt;/b&gt;</div>");
    html = RENDER(raw, .html = NULL, .str = BN_STR_NULL, .safe = {NULL, 0});
    cr_assert_str_eq(html, "<div>||||</div>");
}

/* ------------------------------------------------------------------------ */
/* :if and :for                                                               */

Test(template_render, if_and_for_with_many_items)
{
    bn_list users, items;
    bn_list_init(&users);
    bn_list_init(&items);
    user a = mkuser("Ann <3", 31, true), b = mkuser("Bob", 4, false);
    bn_list_push_back(&users, &a.link);
    bn_list_push_back(&users, &b.link);
    item x = {.label = "x&"}, y = {.label = "y"};
    bn_list_push_back(&items, &x.node);
    bn_list_push_back(&items, &y.node);
    int nums[] = {1, 2, 3};
    char *html = RENDER(loops, .users = &users, .nums = nums, .nnums = 3, .items = &items, .show = true);
    cr_assert_str_eq(html, "<ul><li>Ann &lt;3 (31)</li><li>Bob (4)</li></ul>\n"
                           "<ol><li>1</li><li>2</li><li>3</li></ol>\n"
                           "<p><i>x&amp;</i><i>y</i></p>\n"
                           "<b>Ann &lt;3</b>\n"
                           "<p>shown</p>\n"
                           "<table><tr><td>Ann &lt;31</td><td>Ann &lt;32</td><td>Ann &lt;33</td></tr>"
                           "<tr><td>Bob1</td><td>Bob2</td><td>Bob3</td></tr></table>");
}

Test(template_render, if_and_for_with_one_item)
{
    bn_list users, items;
    bn_list_init(&users);
    bn_list_init(&items);
    user b = mkuser("Bob", 4, false);
    bn_list_push_back(&users, &b.link);
    item x = {.label = "only"};
    bn_list_push_back(&items, &x.node);
    int nums[] = {7};
    char *html = RENDER(loops, .users = &users, .nums = nums, .nnums = 1, .items = &items, .show = false);
    cr_assert_str_eq(html, "<ul><li>Bob (4)</li></ul>\n"
                           "<ol><li>7</li></ol>\n"
                           "<p><i>only</i></p>\n"
                           "\n"
                           "<p>hidden</p>\n"
                           "<table><tr><td>Bob7</td></tr></table>");
}

Test(template_render, if_and_for_with_no_item)
{
    bn_list users, items;
    bn_list_init(&users);
    bn_list_init(&items);
    char *html = RENDER(loops, .users = &users, .nums = NULL, .nnums = 0, .items = &items, .show = false);
    cr_assert_str_eq(html, "<ul></ul>\n"
                           "<ol></ol>\n"
                           "<p></p>\n"
                           "\n"
                           "<p>hidden</p>\n"
                           "<table></table>");
}

/* ------------------------------------------------------------------------ */
/* Components                                                                 */

Test(template_render, components)
{
    bn_list users;
    bn_list_init(&users);
    user a = mkuser("Ann <3", 31, true), b = mkuser("Bob", 4, false);
    bn_list_push_back(&users, &a.link);
    bn_list_push_back(&users, &b.link);
    char *html = RENDER(uses, .title = "T&C", .users = &users, .busy = true, .n = 5);
    cr_assert_str_eq(
        html,
        /* defaults */
        "<button type=\"button\" class=\"btn primary\">Plain</button>\n"
        /* values, a bare bool, global attrs (phx-, data-, aria-, include("form")) */
        "<button type=\"submit\" class=\"btn danger off\" disabled phx-click=\"del\" data-id=\"7\" "
        "aria-label=\"Delete\" form=\"f1\">Delete T&amp;C</button>\n"
        "<button type=\"button\" class=\"btn primary off\" disabled phx-value-n=\"T&amp;C\">Busy</button>\n"
        "<span class=\"badge\">new:0</span><span class=\"badge\">T&amp;C:5</span>\n"
        /* named slots with attrs, inner_block with :let */
        "<section><header class=\"top\">H1</header><header>H2</header><h2>T&amp;C</h2>Body of T&amp;C</section>\n"
        "<section><h2>empty</h2></section>\n"
        /* :for over slot entries, render_slot(col, u) with :let */
        "<table><tr><th>Name</th><th class=\"num\">Age</th></tr>"
        "<tr><td>Ann &lt;3</td><td>31</td></tr><tr><td>Bob</td><td>4</td></tr></table>\n"
        /* a remote call */
        "<span class=\"badge\">remote:0</span>\n"
        /* a component in a :for, with the loop variable in its attrs */
        "<span><span class=\"badge\">Ann &lt;3:31</span></span><span><span class=\"badge\">Bob:4</span></span>\n"
        /* only global attrs, with class, a bare one and an expression */
        "<div class=\"c\" id=\"i\" phx-click=\"go\" data-x=\"T&amp;C\" aria-hidden=\"true\" hidden "
        "style=\"color: red\">in box</div><div></div>\n"
        /* render_slot(@item) renders every entry */
        "<ul><li>one</li><li>two 5</li></ul>");
}

Test(template_render, components_called_from_c)
{
    /* A component is a function of its assigns: callable with a hand-built struct. */
    char *html = RENDER(comps_badge, .label = "<x>", .count = -1);
    cr_assert_str_eq(html, "<span class=\"badge\">&lt;x&gt;:-1</span>");
    /* Its defaults belong to the call site: a zeroed struct has none. */
    html = RENDER(comps_badge, .label = NULL);
    cr_assert_str_eq(html, "<span class=\"badge\">:0</span>");
}

/* ------------------------------------------------------------------------ */
/* Attributes                                                                 */

Test(template_render, class_lists)
{
    char *html = RENDER(classes, .on = true, .off = false, .extra = "x y", .none = NULL);
    cr_assert_str_eq(html, "<div class=\"btn on x y\">x</div><p>y</p><i class=\"q&quot;&lt;\"></i>");
    html = RENDER(classes, .on = false, .off = true, .extra = "\"><script>", .none = "");
    cr_assert_str_eq(html, "<div class=\"btn off &quot;&gt;&lt;script&gt;\">x</div><p class=\"a\">y</p>"
                           "<i class=\"q&quot;&lt;\"></i>");
}

Test(template_render, spread)
{
    const bn_tpl_attr items[] = {
        bn_tpl_attr_cstr("class", "a<b"),
        bn_tpl_attr_bool("hidden", true),
        bn_tpl_attr_bool("off", false),
        bn_tpl_attr_cstr("title", NULL),
        bn_tpl_attr_safe("data-raw", bn_raw_cstr("<b>")),
        bn_tpl_attr_str("data-s", BN_STR("q\"'")),
        bn_tpl_attr_cstr("data-empty", ""),
    };
    char *html = RENDER(spread, .rest = {items, BN_ARRAY_LEN(items)});
    cr_assert_str_eq(html, "<div id=\"x\" class=\"a&lt;b\" hidden data-raw=\"<b>\" data-s=\"q&quot;&#39;\" "
                           "data-empty=\"\">z</div>");
    html = RENDER(spread, .rest = {NULL, 0});
    cr_assert_str_eq(html, "<div id=\"x\">z</div>");
}

/* ------------------------------------------------------------------------ */
/* C control flow                                                             */

Test(template_render, c_control_flow)
{
    cr_assert_str_eq(RENDER(control, .n = 3, .name = "<A>"),
                     "<b>many &lt;A&gt;</b>\n<ul><li>0</li><li>1</li><li>2</li></ul>\n<p>6</p>");
    cr_assert_str_eq(RENDER(control, .n = 1, .name = "x"), "<i>one</i>\n<ul><li>0</li></ul>\n<p>2</p>");
    cr_assert_str_eq(RENDER(control, .n = 0, .name = "x"), "<u>none</u>\n<ul></ul>\n<p>0</p>");
}

/* ------------------------------------------------------------------------ */
/* <.link>                                                                    */

Test(template_render, link_shapes)
{
    char *html = RENDER(links, .url = "/x?a=1&b=2", .replace = true, .csrf = "tok\"");
    cr_assert_str_eq(html, "<a href=\"/x?a=1&amp;b=2\">href</a>\n"
                           "<a href=\"/x?a=1&amp;b=2\" data-phx-link=\"redirect\" data-phx-link-state=\"push\">nav</a>\n"
                           "<a href=\"/x?a=1&amp;b=2\" data-phx-link=\"patch\" data-phx-link-state=\"replace\">patch</a>\n"
                           "<a href=\"/x?a=1&amp;b=2\" data-method=\"delete\" data-csrf=\"tok&quot;\" "
                           "data-to=\"/x?a=1&amp;b=2\" class=\"danger\" data-confirm=\"Sure?\">del</a>\n"
                           "<a href=\"#\">none</a>\n"
                           "<a href=\"/x?a=1&amp;b=2\" target=\"_blank\" rel=\"noopener\">ext</a>");
    /* No URL at all: every link is href="#". */
    html = RENDER(links, .url = NULL, .replace = false, .csrf = NULL);
    cr_assert_str_eq(html, "<a href=\"#\">href</a>\n"
                           "<a href=\"#\">nav</a>\n"
                           "<a href=\"#\">patch</a>\n"
                           "<a href=\"#\" class=\"danger\" data-confirm=\"Sure?\">del</a>\n"
                           "<a href=\"#\">none</a>\n"
                           "<a href=\"#\" target=\"_blank\" rel=\"noopener\">ext</a>");
}

Test(template_render, link_refuses_script_urls)
{
    static const char *const bad[] = {"javascript:alert(1)", "JaVaScRiPt:alert(1)", " \tjavascript:x",
                                      "java\nscript:x",      "vbscript:msgbox",    "data:text/html,<b>x</b>"};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++) {
        const char *err = RENDER_ERROR(links, .url = bad[i]);
        cr_assert_not_null(err, "%s was not refused", bad[i]);
        cr_assert_not_null(strstr(err, "unsafe URL"), "%s", err);
    }
    /* Not a scheme: accepted. */
    static const char *const good[] = {"/javascript:x", "javascript", "./data:x", "https://x/?javascript:1"};
    for (size_t i = 0; i < BN_ARRAY_LEN(good); i++)
        cr_assert_null(RENDER_ERROR(links, .url = good[i]), "%s was refused", good[i]);
}

/* ------------------------------------------------------------------------ */
/* Verified paths                                                             */

Test(template_render, verified_paths)
{
    char *html = RENDER(paths, .id = 42, .slug = "a b/c?d", .q = "x y&z=1", .tab = BN_STR("\xC3\xBC"));
    cr_assert_str_eq(html, "<a href=\"/users/42/posts/a%20b%2Fc%3Fd?q=x+y%26z%3D1&amp;tab=%C3%BC\">p</a>"
                           "<a href=\"/about\">about</a>"
                           "<a href=\"/users/42\" data-phx-link=\"redirect\" data-phx-link-state=\"push\">u</a>");
    /* Sub-delimiters stay in a segment, not in a query value. */
    html = RENDER(paths, .id = -1, .slug = "it's@home:+", .q = "it's", .tab = BN_STR("~a-b_c.d"));
    cr_assert_str_eq(html, "<a href=\"/users/-1/posts/it&#39;s@home:+?q=it%27s&amp;tab=~a-b_c.d\">p</a>"
                           "<a href=\"/about\">about</a>"
                           "<a href=\"/users/-1\" data-phx-link=\"redirect\" data-phx-link-state=\"push\">u</a>");
}

/* ------------------------------------------------------------------------ */
/* Structured renders                                                         */

#define TREE_STATICS "\"s\":[\"<h1>\",\"</h1>\",\"<ul>\",\"</ul>\"]"
#define IF_STATICS "\"s\":[\"<p>Count: \",\" of \",\"</p>\"]"
#define FOR_STATICS "\"s\":[\"<li>\",\"</li>\"]"

Test(template_render, tree_json)
{
    bn_list users;
    bn_list_init(&users);
    user a = mkuser("Ann", 1, false), b = mkuser("B\"o", 2, false);
    bn_list_push_back(&users, &a.link);
    bn_list_push_back(&users, &b.link);
    tree_assigns as = {.title = "Hi", .count = 3, .users = &users, .show = true};
    bn_rendered *r = tree_fn(BN_TPL_ARGS(tree, &as), BN_TPL_ALL, NULL);
    cr_assert_str_eq(json_of(r, true), "{\"0\":\"Hi\",\"1\":{\"0\":\"3\",\"1\":\"Hi\"," IF_STATICS "},"
                                       "\"2\":{" FOR_STATICS ",\"k\":{\"0\":{\"0\":\"Ann\"},\"1\":{\"0\":\"B&quot;o\"},\"kc\":2}},"
                                       TREE_STATICS "}");
    cr_assert_str_eq(json_of(r, false), "{\"0\":\"Hi\",\"1\":{\"0\":\"3\",\"1\":\"Hi\"," IF_STATICS "},"
                                        "\"2\":{" FOR_STATICS ",\"k\":{\"0\":{\"0\":\"Ann\"},\"1\":{\"0\":\"B&quot;o\"},\"kc\":2}}}");
    bn_buf out = BN_BUF_INIT;
    bn_rendered_to_html(r, &out);
    cr_assert_str_eq(take(&out), "<h1>Hi</h1><p>Count: 3 of Hi</p><ul><li>Ann</li><li>B&quot;o</li></ul>");
}

Test(template_render, change_tracking)
{
    bn_list users;
    bn_list_init(&users);
    user a = mkuser("Ann", 1, false);
    bn_list_push_back(&users, &a.link);
    tree_assigns as = {.title = "Hi", .count = 3, .users = &users, .show = true};
    bn_rendered *r1 = tree_fn(BN_TPL_ARGS(tree, &as), BN_TPL_ALL, NULL);

    /* Only @count changed: the title and the list are left out, and so is
     * the :if body's title; that body is partial, so without statics. */
    as.count = 4;
    bn_rendered *r2 = tree_fn(BN_TPL_ARGS(tree, &as), tree__changed_count, r1);
    cr_assert_str_eq(json_of(r2, false), "{\"1\":{\"0\":\"4\"}}");

    /* Nothing changed: an empty diff. */
    bn_rendered *r3 = tree_fn(BN_TPL_ARGS(tree, &as), 0, r2);
    cr_assert_str_eq(json_of(r3, false), "{}");

    /* The :if turns false: its dynamic becomes "". */
    as.show = false;
    bn_rendered *r4 = tree_fn(BN_TPL_ARGS(tree, &as), tree__changed_show, r3);
    cr_assert_str_eq(json_of(r4, false), "{\"1\":\"\"}");

    /* And true again: the body is new to the client, sent whole with its statics. */
    as.show = true;
    bn_rendered *r5 = tree_fn(BN_TPL_ARGS(tree, &as), tree__changed_show, r4);
    cr_assert_str_eq(json_of(r5, false), "{\"1\":{\"0\":\"4\",\"1\":\"Hi\"," IF_STATICS "}}");

    /* The title is read twice: both places change. */
    as.title = "Yo";
    bn_rendered *r6 = tree_fn(BN_TPL_ARGS(tree, &as), tree__changed_title, r5);
    cr_assert_str_eq(json_of(r6, false), "{\"0\":\"Yo\",\"1\":{\"1\":\"Yo\"}}");

    /* The list changed: the comprehension is sent whole. */
    user b = mkuser("Bob", 2, false);
    bn_list_push_back(&users, &b.link);
    bn_rendered *r7 = tree_fn(BN_TPL_ARGS(tree, &as), tree__changed_users, r6);
    cr_assert_str_eq(json_of(r7, false),
                     "{\"2\":{" FOR_STATICS ",\"k\":{\"0\":{\"0\":\"Ann\"},\"1\":{\"0\":\"Bob\"},\"kc\":2}}}");
}

/* Plain HTML equals the tree's HTML for every template (RENDER checks it);
 * here with a render error in the structured mode too. */
Test(template_render, tree_of_a_render_with_an_error)
{
    const char *err = NULL;
    bn_rendered *r =
        bn_tpl_render_tree(&arena, links, &((links_assigns){.url = "javascript:x"}), BN_TPL_ALL, NULL, &err);
    cr_assert_null(r);
    cr_assert(err && strstr(err, "unsafe URL"), "the render error is reported: %s", err ? err : "(none)");
}
