/*
 * Unit tests for src/template: escaping, values and attributes, plain and
 * structured renders of hand-written templates shaped like bennu-tpl's
 * output, change tracking, the JSON of a tree, <.link> and verified paths.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>

#include "bennu/template.h"

#define B(i) bn_tpl_bit(i)

static bn_arena arena;

static void setup(void) { arena = (bn_arena)BN_ARENA_INIT; }
static void teardown(void) { bn_arena_destroy(&arena); }

TestSuite(template_runtime, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

static char *take(bn_buf *b)
{
    char *s = bn_arena_strndup(&arena, b->data ? b->data : "", b->len);
    bn_buf_free(b);
    return s;
}

static char *plain(bn_tpl_fn *fn, const void *a)
{
    bn_buf out = BN_BUF_INIT;
    const char *err = bn_tpl_render_html_fn(&out, fn, a);
    cr_assert_null(err, "plain render failed: %s", err);
    return take(&out);
}

static bn_rendered *tree(bn_tpl_fn *fn, const void *a, bn_tpl_changes changed, const bn_rendered *prev)
{
    const char *err = "unset";
    bn_rendered *r = bn_tpl_render_tree_fn(&arena, fn, a, changed, prev, &err);
    cr_assert_null(err, "structured render failed: %s", err);
    cr_assert_not_null(r);
    return r;
}

static char *html_of(const bn_rendered *r)
{
    bn_buf out = BN_BUF_INIT;
    bn_rendered_to_html(r, &out);
    return take(&out);
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

/* Both modes render `expected`. */
static void assert_renders(bn_tpl_fn *fn, const void *a, const char *expected)
{
    cr_assert_str_eq(plain(fn, a), expected);
    cr_assert_str_eq(html_of(tree(fn, a, BN_TPL_ALL, NULL)), expected);
}

/* ------------------------------------------------------------------------ */
/* One value in one dynamic: "[" value "]"                                    */

enum { V_STR, V_CSTR, V_LL, V_ULL, V_DOUBLE, V_BOOL, V_CHAR, V_INT, V_UNSIGNED, V_FLOAT, V_SAFE, V_ATTR };
typedef struct val_assigns {
    int kind;
    bn_str str;
    const char *cstr;
    long long ll;
    unsigned long long ull;
    double d;
    bool b;
    char c;
} val_assigns;

static const bn_str val__s0[] = {BN_STR("["), BN_STR("]")};
static const bn_tpl_block val__b0 = {val__s0, 1, 0x76616c00, "val.html.bnx:1"};

static void val(bn_tpl *t, const val_assigns *a)
{
    bn_tpl_open(t, &val__b0);
    bn_tpl_text(t, &val__b0, 0);
    if (bn_tpl_dyn(t, B(0))) {
        switch (a->kind) {
        case V_STR: bn_tpl_put(t, a->str); break;
        case V_CSTR: bn_tpl_put(t, a->cstr); break;
        case V_LL: bn_tpl_put(t, a->ll); break;
        case V_ULL: bn_tpl_put(t, a->ull); break;
        case V_DOUBLE: bn_tpl_put(t, a->d); break;
        case V_BOOL: bn_tpl_put(t, a->b); break;
        case V_CHAR: bn_tpl_put(t, a->c); break;
        case V_INT: bn_tpl_put(t, (int)a->ll); break;
        case V_UNSIGNED: bn_tpl_put(t, (unsigned)a->ull); break;
        case V_FLOAT: bn_tpl_put(t, (float)a->d); break;
        case V_SAFE: bn_tpl_put(t, bn_raw(a->str)); break;
        case V_ATTR: bn_tpl_attr(t, "title", a->str); break;
        }
    }
    bn_tpl_text(t, &val__b0, 1);
    bn_tpl_close(t, &val__b0);
}
static void val__any(bn_tpl *t, const void *a) { val(t, a); }

#define STR_CASE(lit) BN_STR(lit)

Test(template_runtime, hostile_text_and_attributes)
{
    static const struct {
        bn_str in;
        const char *out;
    } cases[] = {
        {STR_CASE("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;"},
        {STR_CASE("\" onmouseover='x'"), "&quot; onmouseover=&#39;x&#39;"},
        {STR_CASE("&amp;"), "&amp;amp;"},
        {STR_CASE("a\0b"), "a\xEF\xBF\xBD" "b"},
        {STR_CASE("\x80"), "\xEF\xBF\xBD"},                                          /* lone continuation */
        {STR_CASE("\xE2\x82"), "\xEF\xBF\xBD"},                                      /* truncated 3-byte */
        {STR_CASE("\xE2\x82x"), "\xEF\xBF\xBDx"},                                    /* ... then ASCII */
        {STR_CASE("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD"},                          /* overlong '/' */
        {STR_CASE("\xE0\x80\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},          /* overlong 3-byte */
        {STR_CASE("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},          /* surrogate D800 */
        {STR_CASE("\xF4\x90\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* > U+10FFFF */
        {STR_CASE("\xF0\x9F\x98"), "\xEF\xBF\xBD"},                                  /* truncated 4-byte */
        {STR_CASE("\xFF"), "\xEF\xBF\xBD"},
        {STR_CASE("x\xFFy\xFE"), "x\xEF\xBF\xBDy\xEF\xBF\xBD"},
        {STR_CASE("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
        {STR_CASE("\xF4\x8F\xBF\xBF"), "\xF4\x8F\xBF\xBF"}, /* U+10FFFF is valid */
        {STR_CASE("plain ascii, nothing to do"), "plain ascii, nothing to do"},
        {STR_CASE(""), ""},
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(cases); i++) {
        char text[256], attr[256];
        snprintf(text, sizeof text, "[%s]", cases[i].out);
        snprintf(attr, sizeof attr, "[ title=\"%s\"]", cases[i].out);
        assert_renders(val__any, &(val_assigns){.kind = V_STR, .str = cases[i].in}, text);
        assert_renders(val__any, &(val_assigns){.kind = V_ATTR, .str = cases[i].in}, attr);
    }
}

Test(template_runtime, escape_appends_and_copies_long_ascii_runs)
{
    bn_buf out = BN_BUF_INIT;
    bn_buf_append(&out, "x", 1);
    char big[5000];
    memset(big, 'a', sizeof big);
    big[2500] = '<';
    bn_tpl_escape(&out, big, sizeof big);
    cr_assert_eq(out.len, 1 + sizeof big + 3);
    cr_assert(memcmp(out.data + 2501, "&lt;", 4) == 0);
    bn_buf_free(&out);
}

Test(template_runtime, numbers_bools_chars_and_null)
{
    assert_renders(val__any, &(val_assigns){.kind = V_LL, .ll = -9223372036854775807LL - 1}, "[-9223372036854775808]");
    assert_renders(val__any, &(val_assigns){.kind = V_ULL, .ull = 18446744073709551615ULL}, "[18446744073709551615]");
    assert_renders(val__any, &(val_assigns){.kind = V_INT, .ll = -42}, "[-42]");
    assert_renders(val__any, &(val_assigns){.kind = V_UNSIGNED, .ull = 7}, "[7]");
    assert_renders(val__any, &(val_assigns){.kind = V_BOOL, .b = true}, "[true]");
    assert_renders(val__any, &(val_assigns){.kind = V_BOOL, .b = false}, "[false]");
    assert_renders(val__any, &(val_assigns){.kind = V_CHAR, .c = 'x'}, "[x]");
    assert_renders(val__any, &(val_assigns){.kind = V_CHAR, .c = '<'}, "[&lt;]");
    assert_renders(val__any, &(val_assigns){.kind = V_CHAR, .c = '\0'}, "[\xEF\xBF\xBD]");
    assert_renders(val__any, &(val_assigns){.kind = V_CSTR, .cstr = NULL}, "[]");
    assert_renders(val__any, &(val_assigns){.kind = V_CSTR, .cstr = "a&b"}, "[a&amp;b]");
    assert_renders(val__any, &(val_assigns){.kind = V_SAFE, .str = BN_STR("<b>&amp;</b>")}, "[<b>&amp;</b>]");
    assert_renders(val__any, &(val_assigns){.kind = V_SAFE, .str = BN_STR_NULL}, "[]");
}

Test(template_runtime, doubles_are_shortest_round_trip)
{
    static const struct {
        double d;
        const char *out;
    } cases[] = {
        {0.1, "[0.1]"},
        {1e300, "[1e+300]"},
        {-0.0, "[-0]"},
        {1.0 / 3, "[0.3333333333333333]"},
        {2.0 / 3, "[0.6666666666666666]"},
        {0.1 + 0.2, "[0.30000000000000004]"},
        {123456789.0, "[123456789]"},
        {1.5, "[1.5]"},
        {1.0 / 0.0, "[inf]"},
        {-1.0 / 0.0, "[-inf]"},
        {0.0 / 0.0, "[nan]"},
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(cases); i++)
        assert_renders(val__any, &(val_assigns){.kind = V_DOUBLE, .d = cases[i].d}, cases[i].out);
    assert_renders(val__any, &(val_assigns){.kind = V_FLOAT, .d = 0.5}, "[0.5]");
}

/* ------------------------------------------------------------------------ */
/* hello.html.bnx: the example of the header                                  */

typedef struct hello_assigns {
    const char *name;
    int count;
} hello_assigns;
static const bn_str hello__s0[] = {BN_STR("<p class=\"x\">Hello "), BN_STR(" ("), BN_STR(")</p>\n")};
static const bn_tpl_block hello__b0 = {hello__s0, 2, 0x1a2b3c4d, "hello.html.bnx:1"};

static void hello(bn_tpl *t, const hello_assigns *assigns)
{
    bn_tpl_open(t, &hello__b0);
    bn_tpl_text(t, &hello__b0, 0);
    if (bn_tpl_dyn(t, bn_tpl_bit(0)))
        bn_tpl_put(t, assigns->name);
    bn_tpl_text(t, &hello__b0, 1);
    if (bn_tpl_dyn(t, bn_tpl_bit(1)))
        bn_tpl_put(t, assigns->count);
    bn_tpl_text(t, &hello__b0, 2);
    bn_tpl_close(t, &hello__b0);
}
static void hello__any(bn_tpl *t, const void *a) { hello(t, a); }

Test(template_runtime, hello_plain_macro_and_json)
{
    bn_buf out = BN_BUF_INIT;
    bn_buf_append(&out, ">", 1);
    hello_assigns world = {.name = "<world>", .count = 3};
    cr_assert_null(bn_tpl_render_html(&out, hello, &world));
    cr_assert_str_eq(take(&out), "><p class=\"x\">Hello &lt;world&gt; (3)</p>\n");

    const char *err = "unset";
    hello_assigns w = {.name = "<w>", .count = 3};
    bn_rendered *r = bn_tpl_render_tree(&arena, hello, &w, BN_TPL_ALL, NULL, &err);
    cr_assert_null(err);
    cr_assert_eq(r->block, &hello__b0);
    cr_assert_eq(r->dynamics[0].kind, BN_DYN_STRING);
    cr_assert_str_eq(json_of(r, true),
                     "{\"0\":\"&lt;w&gt;\",\"1\":\"3\",\"s\":[\"<p class=\\\"x\\\">Hello \",\" (\",\")</p>\\n\"]}");
    cr_assert_str_eq(json_of(r, false), "{\"0\":\"&lt;w&gt;\",\"1\":\"3\"}");

    /* Only count changed: name is left out. */
    bn_rendered *r2 = tree(hello__any, &(hello_assigns){.name = "<w>", .count = 4}, B(1), r);
    cr_assert_eq(r2->dynamics[0].kind, BN_DYN_UNCHANGED);
    cr_assert_str_eq(json_of(r2, false), "{\"1\":\"4\"}");
    cr_assert_str_eq(html_of(r2), "<p class=\"x\">Hello  (4)</p>\n");

    /* A different root than prev's renders in full. */
    bn_rendered *other = tree(val__any, &(val_assigns){.kind = V_CSTR, .cstr = "v"}, BN_TPL_ALL, NULL);
    bn_rendered *r3 = tree(hello__any, &(hello_assigns){.name = "n", .count = 1}, B(1), other);
    cr_assert_str_eq(json_of(r3, false), "{\"0\":\"n\",\"1\":\"1\"}");
}

Test(template_runtime, json_strings_are_valid_json)
{
    val_assigns a = {.kind = V_SAFE, .str = BN_STR("a\x01\"\\\t\xff\xC3\xA9/")};
    bn_rendered *r = tree(val__any, &a, BN_TPL_ALL, NULL);
    cr_assert_str_eq(json_of(r, false), "{\"0\":\"a\\u0001\\\"\\\\\\t\xEF\xBF\xBD\xC3\xA9/\"}");
}

/* ------------------------------------------------------------------------ */
/* iff.html.bnx: nested :if                                                    */
/*   <div class="card"><h1>{@title}</h1><p :if={@show}>Hi {@name}<b :if={@vip}>VIP</b></p></div> */

typedef struct iff_assigns {
    const char *title;
    bool show;
    const char *name;
    bool vip;
} iff_assigns;
static const bn_str iff__s0[] = {BN_STR("<div class=\"card\"><h1>"), BN_STR("</h1>"), BN_STR("</div>")};
static const bn_tpl_block iff__b0 = {iff__s0, 2, 0x1f0, "iff.html.bnx:1"};
static const bn_str iff__s1[] = {BN_STR("<p>Hi "), BN_STR(""), BN_STR("</p>")};
static const bn_tpl_block iff__b1 = {iff__s1, 2, 0x1f1, "iff.html.bnx:1"};
static const bn_str iff__s2[] = {BN_STR("<b>VIP</b>")};
static const bn_tpl_block iff__b2 = {iff__s2, 0, 0x1f2, "iff.html.bnx:1"};

static void iff(bn_tpl *t, const iff_assigns *assigns)
{
    bn_tpl_open(t, &iff__b0);
    bn_tpl_text(t, &iff__b0, 0);
    if (bn_tpl_dyn(t, B(0)))
        bn_tpl_put(t, assigns->title);
    bn_tpl_text(t, &iff__b0, 1);
    if (bn_tpl_dyn(t, B(1) | B(2) | B(3))) {
        if (assigns->show) {
            bn_tpl_open(t, &iff__b1);
            bn_tpl_text(t, &iff__b1, 0);
            if (bn_tpl_dyn(t, B(2)))
                bn_tpl_put(t, assigns->name);
            bn_tpl_text(t, &iff__b1, 1);
            if (bn_tpl_dyn(t, B(3))) {
                if (assigns->vip) {
                    bn_tpl_open(t, &iff__b2);
                    bn_tpl_text(t, &iff__b2, 0);
                    bn_tpl_close(t, &iff__b2);
                } else {
                    bn_tpl_put_empty(t);
                }
            }
            bn_tpl_text(t, &iff__b1, 2);
            bn_tpl_close(t, &iff__b1);
        } else {
            bn_tpl_put_empty(t);
        }
    }
    bn_tpl_text(t, &iff__b0, 2);
    bn_tpl_close(t, &iff__b0);
}
static void iff__any(bn_tpl *t, const void *a) { iff(t, a); }

Test(template_runtime, nested_if_plain_equals_structured)
{
    assert_renders(iff__any, &(iff_assigns){"T", true, "N", true},
                   "<div class=\"card\"><h1>T</h1><p>Hi N<b>VIP</b></p></div>");
    assert_renders(iff__any, &(iff_assigns){"T", true, "<N>", false},
                   "<div class=\"card\"><h1>T</h1><p>Hi &lt;N&gt;</p></div>");
    assert_renders(iff__any, &(iff_assigns){"T", false, "N", true}, "<div class=\"card\"><h1>T</h1></div>");
}

Test(template_runtime, nested_if_change_tracking)
{
    iff_assigns a = {"A", true, "N", false};
    bn_rendered *r1 = tree(iff__any, &a, BN_TPL_ALL, NULL);
    cr_assert_str_eq(json_of(r1, true), "{\"0\":\"A\",\"1\":{\"0\":\"N\",\"1\":\"\",\"s\":[\"<p>Hi \",\"\",\"</p>\"]},"
                                        "\"s\":[\"<div class=\\\"card\\\"><h1>\",\"</h1>\",\"</div>\"]}");

    /* name changed: the title is left out, the <p> is tracked and partial (no "s": the client merges). */
    a.name = "M";
    bn_rendered *r2 = tree(iff__any, &a, B(2), r1);
    cr_assert_eq(r2->dynamics[0].kind, BN_DYN_UNCHANGED);
    cr_assert_eq(r2->dynamics[1].kind, BN_DYN_NESTED);
    cr_assert_eq(r2->dynamics[1].u.nested->dynamics[1].kind, BN_DYN_UNCHANGED);
    cr_assert_str_eq(json_of(r2, false), "{\"1\":{\"0\":\"M\"}}");

    /* vip flipped: the <b> is new, so it is forced and carries its statics. */
    a.vip = true;
    bn_rendered *r3 = tree(iff__any, &a, B(3), r1);
    cr_assert_str_eq(json_of(r3, false), "{\"1\":{\"1\":{\"s\":[\"<b>VIP</b>\"]}}}");

    /* show flipped off then on: the <p> comes back in full, with "s". */
    a.show = false;
    bn_rendered *r4 = tree(iff__any, &a, B(1), r3);
    cr_assert_str_eq(json_of(r4, false), "{\"1\":\"\"}");
    a.show = true;
    bn_rendered *r5 = tree(iff__any, &a, B(1), r4);
    cr_assert_str_eq(json_of(r5, false),
                     "{\"1\":{\"0\":\"M\",\"1\":{\"s\":[\"<b>VIP</b>\"]},\"s\":[\"<p>Hi \",\"\",\"</p>\"]}}");

    /* Nothing changed: everything is left out. */
    bn_rendered *r6 = tree(iff__any, &a, 0, r5);
    cr_assert_str_eq(json_of(r6, false), "{}");
    cr_assert_str_eq(html_of(r6), "<div class=\"card\"><h1></h1></div>");
}

/* ------------------------------------------------------------------------ */
/* track.html.bnx: a :for                                                      */
/*   <p>{@a}|{@b}</p><ul><li :for={x <- @items}>{x}:{@a}</li></ul>            */

typedef struct track_assigns {
    const char *a;
    const char *b;
    const char *const *items;
    size_t n;
} track_assigns;
static const bn_str track__s0[] = {BN_STR("<p>"), BN_STR("|"), BN_STR("</p><ul>"), BN_STR("</ul>")};
static const bn_tpl_block track__b0 = {track__s0, 3, 0x7700, "track.html.bnx:1"};
static const bn_str track__s1[] = {BN_STR("<li>"), BN_STR(":"), BN_STR("</li>")};
static const bn_tpl_block track__b1 = {track__s1, 2, 0x7701, "track.html.bnx:1"};

static void track(bn_tpl *t, const track_assigns *assigns)
{
    bn_tpl_open(t, &track__b0);
    bn_tpl_text(t, &track__b0, 0);
    if (bn_tpl_dyn(t, B(0)))
        bn_tpl_put(t, assigns->a);
    bn_tpl_text(t, &track__b0, 1);
    if (bn_tpl_dyn(t, B(1)))
        bn_tpl_put(t, assigns->b);
    bn_tpl_text(t, &track__b0, 2);
    if (bn_tpl_dyn(t, B(2) | B(0))) {
        bn_tpl_for_open(t, &track__b1);
        for (size_t i = 0; i < assigns->n; i++) {
            const char *x = assigns->items[i];
            bn_tpl_for_item(t);
            bn_tpl_text(t, &track__b1, 0);
            if (bn_tpl_dyn(t, B(2)))
                bn_tpl_put(t, x);
            bn_tpl_text(t, &track__b1, 1);
            if (bn_tpl_dyn(t, B(0)))
                bn_tpl_put(t, assigns->a);
            bn_tpl_text(t, &track__b1, 2);
        }
        bn_tpl_for_close(t);
    }
    bn_tpl_text(t, &track__b0, 3);
    bn_tpl_close(t, &track__b0);
}
static void track__any(bn_tpl *t, const void *a) { track(t, a); }

static const char *const three[] = {"x", "<y>", "z"};

Test(template_runtime, for_with_0_1_3_items)
{
    assert_renders(track__any, &(track_assigns){"A", "B", three, 0}, "<p>A|B</p><ul></ul>");
    assert_renders(track__any, &(track_assigns){"A", "B", three, 1}, "<p>A|B</p><ul><li>x:A</li></ul>");
    assert_renders(track__any, &(track_assigns){"A", "B", three, 3},
                   "<p>A|B</p><ul><li>x:A</li><li>&lt;y&gt;:A</li><li>z:A</li></ul>");
    bn_rendered *r = tree(track__any, &(track_assigns){"A", "B", three, 2}, BN_TPL_ALL, NULL);
    cr_assert_eq(r->dynamics[2].kind, BN_DYN_LIST);
    cr_assert_eq(r->dynamics[2].u.list->count, 2);
    cr_assert_str_eq(json_of(r, true), "{\"0\":\"A\",\"1\":\"B\",\"2\":{\"s\":[\"<li>\",\":\",\"</li>\"],\"k\":{\"0\":"
                                       "{\"0\":\"x\",\"1\":\"A\"},\"1\":{\"0\":\"&lt;y&gt;\",\"1\":\"A\"},\"kc\":2}},"
                                       "\"s\":[\"<p>\",\"|\",\"</p><ul>\",\"</ul>\"]}");
    bn_rendered *empty = tree(track__any, &(track_assigns){"A", "B", three, 0}, BN_TPL_ALL, NULL);
    cr_assert_str_eq(json_of(empty, false),
                     "{\"0\":\"A\",\"1\":\"B\",\"2\":{\"s\":[\"<li>\",\":\",\"</li>\"],\"k\":{\"kc\":0}}}");
}

Test(template_runtime, tracking_skips_unchanged_and_comprehensions_are_full)
{
    track_assigns a = {"A", "B", three, 2};
    bn_rendered *r1 = tree(track__any, &a, BN_TPL_ALL, NULL);
    a.b = "B2";
    bn_rendered *r2 = tree(track__any, &a, B(1), r1);
    cr_assert_eq(r2->dynamics[0].kind, BN_DYN_UNCHANGED);
    cr_assert_eq(r2->dynamics[2].kind, BN_DYN_UNCHANGED);
    cr_assert_str_eq(json_of(r2, false), "{\"1\":\"B2\"}");
    /* items changed: every entry is rendered in full, @a included though it did not change. */
    a.n = 3;
    bn_rendered *r3 = tree(track__any, &a, B(1) | B(2), r2);
    cr_assert_str_eq(json_of(r3, false), "{\"1\":\"B2\",\"2\":{\"s\":[\"<li>\",\":\",\"</li>\"],\"k\":{\"0\":"
                                         "{\"0\":\"x\",\"1\":\"A\"},\"1\":{\"0\":\"&lt;y&gt;\",\"1\":\"A\"},"
                                         "\"2\":{\"0\":\"z\",\"1\":\"A\"},\"kc\":3}}}");
    /* A diff tree to HTML leaves the unchanged parts out. */
    cr_assert_str_eq(html_of(r2), "<p>|B2</p><ul></ul>");
}

static char *diff_of(const bn_rendered *r, const bn_rendered *prev)
{
    bn_buf out = BN_BUF_INIT;
    bn_rendered_diff_to_json(r, prev, false, &out);
    return take(&out);
}

/* Against the tree the client has, a list sends only the entries that changed, and no statics. */
Test(template_runtime, a_list_diff_sends_only_changed_entries)
{
    const char *items[] = {"x", "<y>", "z"};
    track_assigns a = {"A", "B", items, 2};
    bn_rendered *r1 = tree(track__any, &a, BN_TPL_ALL, NULL);
    a.n = 3; /* one more entry */
    bn_rendered *r2 = tree(track__any, &a, B(2), r1); /* this template reads @items for the list and its length */
    cr_assert_str_eq(diff_of(r2, r1), "{\"2\":{\"k\":{\"2\":{\"0\":\"z\",\"1\":\"A\"},\"kc\":3}}}");
    items[1] = "w"; /* one entry's one dynamic */
    bn_rendered *r3 = tree(track__any, &a, B(2), r2);
    cr_assert_str_eq(diff_of(r3, r2), "{\"2\":{\"k\":{\"1\":{\"0\":\"w\"},\"kc\":3}}}");
    a.n = 1; /* shrink: the count says it */
    bn_rendered *r4 = tree(track__any, &a, B(2), r3);
    cr_assert_str_eq(diff_of(r4, r3), "{\"2\":{\"k\":{\"kc\":1}}}");
    a.n = 1; /* re-rendered but equal: left out */
    bn_rendered *r5 = tree(track__any, &a, B(2), r4);
    cr_assert_str_eq(diff_of(r5, r4), "{}");
    cr_assert_str_eq(diff_of(r1, NULL), json_of(r1, false), "no previous tree: the full render");
}

/* ------------------------------------------------------------------------ */
/* A component with an inner block that reads the caller's assigns           */
/*   card:  <section><h2>{@title}</h2>{render_slot(@inner_block)}</section>   */
/*   page:  <main><.card title={@user}>Count: {@count}</.card></main>         */

typedef struct card_assigns {
    const char *title;
    bn_tpl_slot inner_block;
} card_assigns;
static const bn_str card__s0[] = {BN_STR("<section><h2>"), BN_STR("</h2>"), BN_STR("</section>")};
static const bn_tpl_block card__b0 = {card__s0, 2, 0xca0, "card.html.bnx:1"};

static void card(bn_tpl *t, const card_assigns *assigns)
{
    bn_tpl_open(t, &card__b0);
    bn_tpl_text(t, &card__b0, 0);
    if (bn_tpl_dyn(t, B(0)))
        bn_tpl_put(t, assigns->title);
    bn_tpl_text(t, &card__b0, 1);
    if (bn_tpl_dyn(t, B(1)))
        bn_tpl_render_slot(t, &assigns->inner_block, NULL);
    bn_tpl_text(t, &card__b0, 2);
    bn_tpl_close(t, &card__b0);
}
static void card__any(bn_tpl *t, const void *a) { card(t, a); }

typedef struct page_assigns {
    const char *user;
    int count;
} page_assigns;
static const bn_str page__s0[] = {BN_STR("<main>"), BN_STR("</main>")};
static const bn_tpl_block page__b0 = {page__s0, 1, 0xba0, "page.html.bnx:1"};
static const bn_str page__s1[] = {BN_STR("Count: "), BN_STR("")};
static const bn_tpl_block page__b1 = {page__s1, 1, 0xba1, "page.html.bnx:1"};

static void page__slot0(bn_tpl *t, const void *env, const void *arg)
{
    const page_assigns *assigns = env;
    (void)arg;
    bn_tpl_open(t, &page__b1);
    bn_tpl_text(t, &page__b1, 0);
    if (bn_tpl_dyn(t, B(1)))
        bn_tpl_put(t, assigns->count);
    bn_tpl_text(t, &page__b1, 1);
    bn_tpl_close(t, &page__b1);
}

static void page(bn_tpl *t, const page_assigns *assigns)
{
    bn_tpl_open(t, &page__b0);
    bn_tpl_text(t, &page__b0, 0);
    if (bn_tpl_dyn(t, B(0) | B(1))) {
        /* The callee's assigns (and so the slot's changes) are made before bn_tpl_enter. */
        card_assigns ca = {.title = assigns->user, .inner_block = {page__slot0, assigns, bn_tpl_changes_now(t)}};
        bn_tpl_changes saved = bn_tpl_enter(t, bn_tpl_changes_map(t, (bn_tpl_changes[]){B(0), B(1)}, 2));
        card(t, &ca);
        bn_tpl_leave(t, saved);
    }
    bn_tpl_text(t, &page__b0, 1);
    bn_tpl_close(t, &page__b0);
}
static void page__any(bn_tpl *t, const void *a) { page(t, a); }

Test(template_runtime, component_with_inner_block)
{
    page_assigns a = {"<Ann>", 4};
    assert_renders(page__any, &a, "<main><section><h2>&lt;Ann&gt;</h2>Count: 4</section></main>");
    bn_rendered *r1 = tree(page__any, &a, BN_TPL_ALL, NULL);
    cr_assert_str_eq(json_of(r1, false), "{\"0\":{\"0\":\"&lt;Ann&gt;\",\"1\":{\"0\":\"4\",\"s\":[\"Count: \",\"\"]},"
                                         "\"s\":[\"<section><h2>\",\"</h2>\",\"</section>\"]}}");
    /* count changed: only the slot's dynamic goes, through the card (the slot's block,
     * complete since its only dynamic changed, carries its statics: the client replaces it). */
    a.count = 5;
    bn_rendered *r2 = tree(page__any, &a, B(1), r1);
    cr_assert_str_eq(json_of(r2, false), "{\"0\":{\"1\":{\"0\":\"5\",\"s\":[\"Count: \",\"\"]}}}");
    /* user changed: only the card's title. */
    a.user = "Bob";
    bn_rendered *r3 = tree(page__any, &a, B(0), r2);
    cr_assert_str_eq(json_of(r3, false), "{\"0\":{\"0\":\"Bob\"}}");
}

/* ------------------------------------------------------------------------ */
/* A named slot with several entries rendered in one dynamic                  */
/*   tabs:  <nav>{render_slot(@tab)}</nav>                                     */
/*   caller: <div><.tabs><:tab>One {@a}</:tab><:tab>Two</:tab><:tab>{@b}</:tab></.tabs></div> */

typedef struct tabs_assigns {
    const bn_tpl_slot *tab;
    size_t ntab;
} tabs_assigns;
static const bn_str tabs__s0[] = {BN_STR("<nav>"), BN_STR("</nav>")};
static const bn_tpl_block tabs__b0 = {tabs__s0, 1, 0x7ab0, "tabs.html.bnx:1"};

static void tabs(bn_tpl *t, const tabs_assigns *assigns)
{
    bn_tpl_open(t, &tabs__b0);
    bn_tpl_text(t, &tabs__b0, 0);
    if (bn_tpl_dyn(t, B(0)))
        for (size_t i = 0; i < assigns->ntab; i++)
            bn_tpl_render_slot(t, &assigns->tab[i], NULL);
    bn_tpl_text(t, &tabs__b0, 1);
    bn_tpl_close(t, &tabs__b0);
}

typedef struct tpage_assigns {
    const char *a;
    const char *b;
    size_t n; /* entries given */
} tpage_assigns;
static const bn_str tpage__s0[] = {BN_STR("<div>"), BN_STR("</div>")};
static const bn_tpl_block tpage__b0 = {tpage__s0, 1, 0x7a90, "tpage.html.bnx:1"};
static const bn_str tpage__s1[] = {BN_STR("<a>One "), BN_STR("</a>")};
static const bn_tpl_block tpage__b1 = {tpage__s1, 1, 0x7a91, "tpage.html.bnx:1"};
static const bn_str tpage__s2[] = {BN_STR("<a>Two</a>")};
static const bn_tpl_block tpage__b2 = {tpage__s2, 0, 0x7a92, "tpage.html.bnx:1"};
static const bn_str tpage__s3[] = {BN_STR("<a>"), BN_STR("</a>")};
static const bn_tpl_block tpage__b3 = {tpage__s3, 1, 0x7a93, "tpage.html.bnx:1"};

static void tpage__tab0(bn_tpl *t, const void *env, const void *arg)
{
    const tpage_assigns *assigns = env;
    (void)arg;
    bn_tpl_open(t, &tpage__b1);
    bn_tpl_text(t, &tpage__b1, 0);
    if (bn_tpl_dyn(t, B(0)))
        bn_tpl_put(t, assigns->a);
    bn_tpl_text(t, &tpage__b1, 1);
    bn_tpl_close(t, &tpage__b1);
}

static void tpage__tab1(bn_tpl *t, const void *env, const void *arg)
{
    (void)env;
    (void)arg;
    bn_tpl_open(t, &tpage__b2);
    bn_tpl_text(t, &tpage__b2, 0);
    bn_tpl_close(t, &tpage__b2);
}

static void tpage__tab2(bn_tpl *t, const void *env, const void *arg)
{
    const tpage_assigns *assigns = env;
    (void)arg;
    bn_tpl_open(t, &tpage__b3);
    bn_tpl_text(t, &tpage__b3, 0);
    if (bn_tpl_dyn(t, B(1)))
        bn_tpl_put(t, assigns->b);
    bn_tpl_text(t, &tpage__b3, 1);
    bn_tpl_close(t, &tpage__b3);
}

static void tpage(bn_tpl *t, const tpage_assigns *assigns)
{
    bn_tpl_open(t, &tpage__b0);
    bn_tpl_text(t, &tpage__b0, 0);
    if (bn_tpl_dyn(t, B(0) | B(1) | B(2))) {
        bn_tpl_changes now = bn_tpl_changes_now(t);
        bn_tpl_slot entries[3] = {
            {tpage__tab0, assigns, now}, {tpage__tab1, assigns, now}, {tpage__tab2, assigns, now}};
        tabs_assigns ta = {entries, assigns->n};
        bn_tpl_changes saved = bn_tpl_enter(t, bn_tpl_changes_map(t, (bn_tpl_changes[]){B(0) | B(1) | B(2)}, 1));
        tabs(t, &ta);
        bn_tpl_leave(t, saved);
    }
    bn_tpl_text(t, &tpage__b0, 1);
    bn_tpl_close(t, &tpage__b0);
}
static void tpage__any(bn_tpl *t, const void *a) { tpage(t, a); }

Test(template_runtime, named_slot_entries_in_one_dynamic)
{
    tpage_assigns a = {"A", "<B>", 3};
    assert_renders(tpage__any, &a, "<div><nav><a>One A</a><a>Two</a><a>&lt;B&gt;</a></nav></div>");
    bn_rendered *r = tree(tpage__any, &a, BN_TPL_ALL, NULL);
    const bn_rendered *nav = r->dynamics[0].u.nested;
    cr_assert_eq(nav->dynamics[0].kind, BN_DYN_STRING, "several values make one string");
    cr_assert_str_eq(json_of(r, false),
                     "{\"0\":{\"0\":\"<a>One A</a><a>Two</a><a>&lt;B&gt;</a>\",\"s\":[\"<nav>\",\"</nav>\"]}}");
    a.n = 0;
    assert_renders(tpage__any, &a, "<div><nav></nav></div>");
    a.n = 1;
    assert_renders(tpage__any, &a, "<div><nav><a>One A</a></nav></div>");
    cr_assert_eq(tree(tpage__any, &a, BN_TPL_ALL, NULL)->dynamics[0].u.nested->dynamics[0].kind, BN_DYN_NESTED);
}

Test(template_runtime, one_entry_then_three_fills_from_prev)
{
    tpage_assigns a = {"A", "B", 1};
    bn_rendered *r1 = tree(tpage__any, &a, BN_TPL_ALL, NULL);
    /* The first entry is tracked (its @a did not change) when the second one arrives:
     * its unchanged part comes from prev. */
    a.n = 3;
    bn_rendered *r2 = tree(tpage__any, &a, B(2), r1);
    cr_assert_str_eq(json_of(r2, false),
                     "{\"0\":{\"0\":\"<a>One A</a><a>Two</a><a>B</a>\",\"s\":[\"<nav>\",\"</nav>\"]}}");
    /* From several back to one: the entry is new, in full (and so is the <nav>, complete). */
    a.n = 1;
    bn_rendered *r3 = tree(tpage__any, &a, B(2), r2);
    cr_assert_str_eq(json_of(r3, false),
                     "{\"0\":{\"0\":{\"0\":\"A\",\"s\":[\"<a>One \",\"</a>\"]},\"s\":[\"<nav>\",\"</nav>\"]}}");
}

Test(template_runtime, multi_value_against_a_partial_prev_fails)
{
    tpage_assigns a = {"A", "B", 1};
    bn_rendered *r1 = tree(tpage__any, &a, BN_TPL_ALL, NULL);
    bn_rendered *r2 = tree(tpage__any, &a, B(1), r1); /* entry 0 has a hole */
    cr_assert_eq(r2->dynamics[0].u.nested->dynamics[0].u.nested->dynamics[0].kind, BN_DYN_UNCHANGED);
    a.n = 3;
    const char *err = NULL;
    cr_assert_null(bn_tpl_render_tree(&arena, tpage, &a, B(2), r2, &err));
    cr_assert_not_null(err);
    cr_assert(strstr(err, "complete tree") != NULL, "%s", err);
}

/* ------------------------------------------------------------------------ */
/* Mixed values in one dynamic: a string, a comprehension, a block           */

static const bn_str mixed__s0[] = {BN_STR("("), BN_STR(")")};
static const bn_tpl_block mixed__b0 = {mixed__s0, 1, 0x3100, "mixed.html.bnx:1"};
static const bn_str mixed__s1[] = {BN_STR("<i>"), BN_STR("</i>")};
static const bn_tpl_block mixed__b1 = {mixed__s1, 1, 0x3101, "mixed.html.bnx:1"};

static void mixed(bn_tpl *t, const int *n)
{
    bn_tpl_open(t, &mixed__b0);
    bn_tpl_text(t, &mixed__b0, 0);
    if (bn_tpl_dyn(t, B(0))) {
        bn_tpl_put(t, "a&");
        bn_tpl_for_open(t, &mixed__b1);
        for (int i = 0; i < *n; i++) {
            bn_tpl_for_item(t);
            bn_tpl_text(t, &mixed__b1, 0);
            if (bn_tpl_dyn(t, B(0)))
                bn_tpl_put(t, i);
            bn_tpl_text(t, &mixed__b1, 1);
        }
        bn_tpl_for_close(t);
        bn_tpl_open(t, &mixed__b1);
        bn_tpl_text(t, &mixed__b1, 0);
        if (bn_tpl_dyn(t, B(0)))
            bn_tpl_put(t, *n);
        bn_tpl_text(t, &mixed__b1, 1);
        bn_tpl_close(t, &mixed__b1);
    }
    bn_tpl_text(t, &mixed__b0, 1);
    bn_tpl_close(t, &mixed__b0);
}
static void mixed__any(bn_tpl *t, const void *a) { mixed(t, a); }

Test(template_runtime, mixed_values_in_one_dynamic)
{
    assert_renders(mixed__any, &(int){2}, "(a&amp;<i>0</i><i>1</i><i>2</i>)");
    assert_renders(mixed__any, &(int){0}, "(a&amp;<i>0</i>)");
}

/* ------------------------------------------------------------------------ */
/* Capture regions (C control flow), nested, with components inside          */
/*   badge: <span class="badge">{@label}<s :for={i <- 0..@stars}>{i}</s></span>  */
/*   cap:   <p><% for (int i = 0; i < @n; i++) { %><i>{i}</i><.badge .../>     */
/*          <% if (i % 2) { %>odd<% } %><% } %></p>                             */

typedef struct badge_assigns {
    const char *label;
    int stars;
} badge_assigns;
static const bn_str badge__s0[] = {BN_STR("<span class=\"badge\">"), BN_STR(""), BN_STR("</span>")};
static const bn_tpl_block badge__b0 = {badge__s0, 2, 0xbad0, "badge.html.bnx:1"};
static const bn_str badge__s1[] = {BN_STR("<s>"), BN_STR("</s>")};
static const bn_tpl_block badge__b1 = {badge__s1, 1, 0xbad1, "badge.html.bnx:1"};

static void badge(bn_tpl *t, const badge_assigns *assigns)
{
    bn_tpl_open(t, &badge__b0);
    bn_tpl_text(t, &badge__b0, 0);
    if (bn_tpl_dyn(t, B(0)))
        bn_tpl_put(t, assigns->label);
    bn_tpl_text(t, &badge__b0, 1);
    if (bn_tpl_dyn(t, B(1))) {
        bn_tpl_for_open(t, &badge__b1);
        for (int i = 0; i < assigns->stars; i++) {
            bn_tpl_for_item(t);
            bn_tpl_text(t, &badge__b1, 0);
            if (bn_tpl_dyn(t, B(1)))
                bn_tpl_put(t, i);
            bn_tpl_text(t, &badge__b1, 1);
        }
        bn_tpl_for_close(t);
    }
    bn_tpl_text(t, &badge__b0, 2);
    bn_tpl_close(t, &badge__b0);
}

typedef struct cap_assigns {
    int n;
    const char *label;
} cap_assigns;
static const bn_str cap__s0[] = {BN_STR("<p>"), BN_STR("</p>"), BN_STR("")};
static const bn_tpl_block cap__b0 = {cap__s0, 2, 0xca90, "cap.html.bnx:1"};

static void cap(bn_tpl *t, const cap_assigns *assigns)
{
    bn_tpl_open(t, &cap__b0);
    bn_tpl_text(t, &cap__b0, 0);
    if (bn_tpl_dyn(t, BN_TPL_ALL)) {
        bn_tpl_capture_begin(t);
        for (int i = 0; i < assigns->n; i++) {
            bn_tpl_put_safe(t, bn_raw_cstr("<i>"));
            bn_tpl_put(t, i);
            bn_tpl_put_safe(t, bn_raw_cstr("</i>"));
            if (bn_tpl_dyn(t, B(0) | B(1))) {
                badge_assigns ba = {assigns->label, i};
                bn_tpl_changes saved = bn_tpl_enter(t, bn_tpl_changes_map(t, (bn_tpl_changes[]){B(1), B(0)}, 2));
                badge(t, &ba);
                bn_tpl_leave(t, saved);
            }
            bn_tpl_capture_begin(t);
            if (i % 2)
                bn_tpl_put_safe(t, bn_raw_cstr("odd"));
            bn_tpl_capture_end(t);
        }
        bn_tpl_capture_end(t);
    }
    bn_tpl_text(t, &cap__b0, 1);
    if (bn_tpl_dyn(t, B(1)))
        bn_tpl_put(t, assigns->label);
    bn_tpl_text(t, &cap__b0, 2);
    bn_tpl_close(t, &cap__b0);
}
static void cap__any(bn_tpl *t, const void *a) { cap(t, a); }

Test(template_runtime, capture_regions)
{
    cap_assigns a = {2, "<x>"};
    const char *want = "<p><i>0</i><span class=\"badge\">&lt;x&gt;</span><i>1</i><span class=\"badge\">&lt;x&gt;"
                       "<s>0</s></span>odd</p>&lt;x&gt;";
    assert_renders(cap__any, &a, want);
    bn_rendered *r1 = tree(cap__any, &a, BN_TPL_ALL, NULL);
    cr_assert_eq(r1->dynamics[0].kind, BN_DYN_STRING);
    /* A capture reads everything: any change renders it again, in full. */
    bn_rendered *r2 = tree(cap__any, &a, B(5), r1);
    cr_assert_eq(r2->dynamics[0].kind, BN_DYN_STRING);
    cr_assert_eq(r2->dynamics[1].kind, BN_DYN_UNCHANGED);
    cr_assert(bn_str_eq(r2->dynamics[0].u.string, r1->dynamics[0].u.string));
    cr_assert_eq(tree(cap__any, &a, 0, r1)->dynamics[0].kind, BN_DYN_UNCHANGED);
    a.n = 0;
    assert_renders(cap__any, &a, "<p></p>&lt;x&gt;");
}

/* The shape bennu-tpl gives a capture: each literal run between C code is a
 * block of its own, opened as many times as the C code runs it.
 *   <ul><% for (int i = 0; i < @n; i++) { %><li class={@cls}>{i}</li><% } %></ul>  */
typedef struct loop_assigns {
    int n;
    const char *cls;
} loop_assigns;
static const bn_str loop__s0[] = {BN_STR("<ul>"), BN_STR("</ul>")};
static const bn_tpl_block loop__b0 = {loop__s0, 1, 0x1000, "loop.html.bnx:1"};
static const bn_str loop__s1[] = {BN_STR("<li"), BN_STR(">"), BN_STR("</li>")};
static const bn_tpl_block loop__b1 = {loop__s1, 2, 0x1001, "loop.html.bnx:1"};

static void loop(bn_tpl *t, const loop_assigns *assigns)
{
    bn_tpl_open(t, &loop__b0);
    bn_tpl_text(t, &loop__b0, 0);
    if (bn_tpl_dyn(t, BN_TPL_ALL)) {
        bn_tpl_capture_begin(t);
        for (int i = 0; i < assigns->n; i++) {
            bn_tpl_open(t, &loop__b1);
            bn_tpl_text(t, &loop__b1, 0);
            if (bn_tpl_dyn(t, BN_TPL_ALL))
                bn_tpl_attr(t, "class", assigns->cls);
            bn_tpl_text(t, &loop__b1, 1);
            if (bn_tpl_dyn(t, BN_TPL_ALL))
                bn_tpl_put(t, i);
            bn_tpl_text(t, &loop__b1, 2);
            bn_tpl_close(t, &loop__b1);
        }
        bn_tpl_capture_end(t);
    }
    bn_tpl_text(t, &loop__b0, 1);
    bn_tpl_close(t, &loop__b0);
}
static void loop__any(bn_tpl *t, const void *a) { loop(t, a); }

Test(template_runtime, capture_of_blocks_opened_in_a_c_loop)
{
    assert_renders(loop__any, &(loop_assigns){3, "a\"b"},
                   "<ul><li class=\"a&quot;b\">0</li><li class=\"a&quot;b\">1</li><li class=\"a&quot;b\">2</li></ul>");
    assert_renders(loop__any, &(loop_assigns){1, NULL}, "<ul><li>0</li></ul>");
    assert_renders(loop__any, &(loop_assigns){0, NULL}, "<ul></ul>");
    bn_rendered *r1 = tree(loop__any, &(loop_assigns){1, NULL}, BN_TPL_ALL, NULL);
    cr_assert_str_eq(json_of(r1, true), "{\"0\":\"<li>0</li>\",\"s\":[\"<ul>\",\"</ul>\"]}");
    bn_rendered *r2 = tree(loop__any, &(loop_assigns){2, NULL}, B(0), r1);
    cr_assert_str_eq(json_of(r2, false), "{\"0\":\"<li>0</li><li>1</li>\"}");
}

/* ------------------------------------------------------------------------ */
/* Attributes: class lists, values, booleans, {@rest}                        */
/*   <a class={[@base, @active && "active", @extra]} href={@url} {@rest} disabled={@disabled}>x</a> */

typedef struct attrs_assigns {
    const char *base;
    bool active;
    const char *extra;
    const char *url;
    bn_tpl_attrs rest;
    bool disabled;
} attrs_assigns;
static const bn_str attrs__s0[] = {BN_STR("<a"), BN_STR(""), BN_STR(""), BN_STR(""), BN_STR(">x</a>")};
static const bn_tpl_block attrs__b0 = {attrs__s0, 4, 0xa770, "attrs.html.bnx:1"};

static void attrs(bn_tpl *t, const attrs_assigns *assigns)
{
    bn_tpl_open(t, &attrs__b0);
    bn_tpl_text(t, &attrs__b0, 0);
    if (bn_tpl_dyn(t, B(0) | B(1) | B(2)))
        bn_tpl_attr_list(t, "class",
                         (const char *const[]){assigns->base, assigns->active ? "active" : NULL, assigns->extra}, 3);
    bn_tpl_text(t, &attrs__b0, 1);
    if (bn_tpl_dyn(t, B(3)))
        bn_tpl_attr(t, "href", assigns->url);
    bn_tpl_text(t, &attrs__b0, 2);
    if (bn_tpl_dyn(t, B(4)))
        bn_tpl_attrs_put(t, assigns->rest);
    bn_tpl_text(t, &attrs__b0, 3);
    if (bn_tpl_dyn(t, B(5)))
        bn_tpl_attr(t, "disabled", assigns->disabled);
    bn_tpl_text(t, &attrs__b0, 4);
    bn_tpl_close(t, &attrs__b0);
}
static void attrs__any(bn_tpl *t, const void *a) { attrs(t, a); }

Test(template_runtime, attributes_class_lists_and_rest)
{
    const bn_tpl_attr rest[] = {
        bn_tpl_attr_cstr("phx-click", "go"),
        bn_tpl_attr_cstr("data-x", NULL),
        bn_tpl_attr_bool("hidden", true),
        bn_tpl_attr_bool("checked", false),
        bn_tpl_attr_safe("data-safe", bn_raw_cstr("<b>")),
        bn_tpl_attr_str("title", BN_STR("a\"b")),
        bn_tpl_attr_of("data-y", "1"),
    };
    attrs_assigns a = {"btn", true, "", "/a?b=1&c=\"2\"", {rest, BN_ARRAY_LEN(rest)}, true};
    assert_renders(attrs__any, &a,
                   "<a class=\"btn active\" href=\"/a?b=1&amp;c=&quot;2&quot;\" phx-click=\"go\" hidden "
                   "data-safe=\"<b>\" title=\"a&quot;b\" data-y=\"1\" disabled>x</a>");
    /* Every class NULL or empty: no class attribute; NULL href and false boolean: nothing. */
    attrs_assigns b = {NULL, false, "", NULL, {NULL, 0}, false};
    assert_renders(attrs__any, &b, "<a>x</a>");
    attrs_assigns c = {"<q>", false, "x'y", NULL, {NULL, 0}, false};
    assert_renders(attrs__any, &c, "<a class=\"&lt;q&gt; x&#39;y\">x</a>");
    bn_rendered *r = tree(attrs__any, &b, BN_TPL_ALL, NULL);
    cr_assert_str_eq(json_of(r, false), "{\"0\":\"\",\"1\":\"\",\"2\":\"\",\"3\":\"\"}");
}

/* ------------------------------------------------------------------------ */
/* Slots: absent, put_slot (layouts), changes                                 */

static const bn_str layout__s0[] = {BN_STR("<body>"), BN_STR("</body>")};
static const bn_tpl_block layout__b0 = {layout__s0, 1, 0x1a70, "layout.html.bnx:1"};
typedef struct layout_assigns {
    bn_tpl_slot inner_content;
} layout_assigns;

static void layout(bn_tpl *t, const layout_assigns *assigns)
{
    bn_tpl_open(t, &layout__b0);
    bn_tpl_text(t, &layout__b0, 0);
    if (bn_tpl_dyn(t, B(0)))
        bn_tpl_put(t, assigns->inner_content);
    bn_tpl_text(t, &layout__b0, 1);
    bn_tpl_close(t, &layout__b0);
}
static void layout__any(bn_tpl *t, const void *a) { layout(t, a); }

static void hello_slot(bn_tpl *t, const void *env, const void *arg)
{
    (void)arg;
    hello(t, env);
}

Test(template_runtime, layouts_and_absent_slots)
{
    hello_assigns h = {"x", 1};
    layout_assigns l = {{hello_slot, &h, BN_TPL_ALL}};
    assert_renders(layout__any, &l, "<body><p class=\"x\">Hello x (1)</p>\n</body>");
    layout_assigns none = {{NULL, NULL, 0}};
    assert_renders(layout__any, &none, "<body></body>");
    assert_renders(page__any, &(page_assigns){"u", 1}, "<main><section><h2>u</h2>Count: 1</section></main>");
    card_assigns empty_card = {"t", {NULL, NULL, 0}};
    bn_buf out = BN_BUF_INIT;
    cr_assert_null(bn_tpl_render_html(&out, card, &empty_card));
    cr_assert_str_eq(take(&out), "<section><h2>t</h2></section>");
}

Test(template_runtime, changes_map_enter_leave_and_fail)
{
    bn_tpl t = {.out = NULL, .arena = &arena, .tree = NULL, .changed = B(1) | B(5), .error = NULL};
    cr_assert_eq(bn_tpl_changes_map(&t, (bn_tpl_changes[]){B(0), B(1) | B(2), B(5), 0}, 4), B(1) | B(2));
    cr_assert_eq(bn_tpl_changes_now(&t), B(1) | B(5));
    bn_tpl_changes saved = bn_tpl_enter(&t, B(0));
    cr_assert_eq(saved, B(1) | B(5));
    cr_assert_eq(t.changed, B(0));
    bn_tpl_leave(&t, saved);
    cr_assert_eq(t.changed, B(1) | B(5));
    cr_assert_eq(bn_tpl_bit(63), bn_tpl_bit(100));
    bn_tpl_fail(&t, "first");
    bn_tpl_fail(&t, "second");
    cr_assert_str_eq(t.error, "first");
}

/* ------------------------------------------------------------------------ */
/* <.link>                                                                    */

static const bn_str go__s0[] = {BN_STR("go")};
static const bn_tpl_block go__b0 = {go__s0, 0, 0x90, "go"};
static void go_slot(bn_tpl *t, const void *env, const void *arg)
{
    (void)env;
    (void)arg;
    bn_tpl_open(t, &go__b0);
    bn_tpl_text(t, &go__b0, 0);
    bn_tpl_close(t, &go__b0);
}
static void link__any(bn_tpl *t, const void *a) { bn_link(t, a); }

/* The assigns with an inner block "go". */
static const bn_link_assigns *L(bn_link_assigns a)
{
    bn_link_assigns *p = bn_arena_alloc(&arena, sizeof *p);
    *p = a;
    p->inner_block = (bn_tpl_slot){go_slot, NULL, BN_TPL_ALL};
    return p;
}

Test(template_runtime, link_shapes)
{
    assert_renders(link__any, L((bn_link_assigns){.href = "/x?a=1&b=2"}), "<a href=\"/x?a=1&amp;b=2\">go</a>");
    assert_renders(link__any, L((bn_link_assigns){.navigate = "/n"}),
                   "<a href=\"/n\" data-phx-link=\"redirect\" data-phx-link-state=\"push\">go</a>");
    assert_renders(link__any, L((bn_link_assigns){.patch = "/p", .replace = true}),
                   "<a href=\"/p\" data-phx-link=\"patch\" data-phx-link-state=\"replace\">go</a>");
    assert_renders(link__any, L((bn_link_assigns){.href = "/u/1", .method = "delete", .csrf_token = "tok"}),
                   "<a href=\"/u/1\" data-method=\"delete\" data-csrf=\"tok\" data-to=\"/u/1\">go</a>");
    assert_renders(link__any, L((bn_link_assigns){.href = "/u/1", .method = "get", .csrf_token = "tok"}),
                   "<a href=\"/u/1\">go</a>");
    const bn_tpl_attr rest[] = {bn_tpl_attr_cstr("class", "btn"), bn_tpl_attr_bool("download", true)};
    assert_renders(link__any, L((bn_link_assigns){.navigate = "/n", .rest = {rest, 2}}),
                   "<a href=\"/n\" data-phx-link=\"redirect\" data-phx-link-state=\"push\" class=\"btn\" "
                   "download>go</a>");
    assert_renders(link__any, L((bn_link_assigns){.rest = {rest, 1}}), "<a href=\"#\" class=\"btn\">go</a>");
    assert_renders(link__any, L((bn_link_assigns){.href = "#"}), "<a href=\"#\">go</a>");
    static const char *const good[] = {"https://x", "/path", "mailto:a@b", "path:x", "?q=javascript:"};
    for (size_t i = 0; i < BN_ARRAY_LEN(good); i++)
        assert_renders(link__any, L((bn_link_assigns){.href = good[i]}),
                       bn_arena_printf(&arena, "<a href=\"%s\">go</a>", good[i]));
}

Test(template_runtime, link_refuses_unsafe_schemes)
{
    static const char *const bad[] = {"javascript:alert(1)", " JaVaScRiPt:alert(1)", "\tjavascript:x",
                                      "java\nscript:x",      "data:text/html,<b>",  "VBScript:x",
                                      "\x01javascript:x"};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++) {
        cr_assert_not(bn_tpl_url_is_safe(bad[i], strlen(bad[i])), "%s", bad[i]);
        for (int kind = 0; kind < 3; kind++) {
            bn_link_assigns a = *L((bn_link_assigns){0});
            *(kind == 0 ? &a.href : kind == 1 ? &a.navigate : &a.patch) = bad[i];
            bn_buf out = BN_BUF_INIT;
            const char *err = bn_tpl_render_html_fn(&out, link__any, &a);
            cr_assert_not_null(err, "%s", bad[i]);
            cr_assert(strstr(err, "unsafe URL scheme") != NULL);
            cr_assert_str_eq(take(&out), "<a href=\"#\">go</a>");
            err = NULL;
            cr_assert_null(bn_tpl_render_tree_fn(&arena, link__any, &a, BN_TPL_ALL, NULL, &err));
            cr_assert_not_null(err);
            /* trusted lets it through */
            a.trusted = true;
            cr_assert_null(bn_tpl_render_html_fn(&out, link__any, &a));
            cr_assert(strstr(take(&out), "href=\"#\"") == NULL);
        }
    }
    cr_assert(bn_tpl_url_is_safe("https://x", 9));
    cr_assert(bn_tpl_url_is_safe("", 0));
    cr_assert(bn_tpl_url_is_safe(NULL, 0));
    cr_assert(bn_tpl_url_is_safe("javascript", 10)); /* no colon: a relative path */
    cr_assert(bn_tpl_url_is_safe("./javascript:x", 14));
    cr_assert(bn_tpl_url_is_safe("javascriptx:x", 13));
}

Test(template_runtime, link_tracks_its_assigns)
{
    bn_link_assigns a = *L((bn_link_assigns){.navigate = "/a"});
    bn_rendered *r1 = tree(link__any, &a, BN_TPL_ALL, NULL);
    a.replace = true;
    bn_rendered *r2 = tree(link__any, &a, bn_tpl_bit(3), r1);
    cr_assert_str_eq(json_of(r2, false), "{\"1\":\" data-phx-link-state=\\\"replace\\\"\"}");
}

/* ------------------------------------------------------------------------ */
/* Verified paths and formatting                                              */

Test(template_runtime, paths_are_percent_encoded)
{
    bn_tpl t = {.out = NULL, .arena = &arena, .tree = NULL, .changed = BN_TPL_ALL, .error = NULL};
    const char *p = bn_tpl_path(&t, (const char *const[]){"/users/", "/files?q=", "&x=", "&n=", ""},
                                (const char *const[]){"a/b c\xC3\xA9:@!$&'()*+,;=~", "\xC3\xA9&x y/?", NULL, "1"}, 4);
    cr_assert_str_eq(p, "/users/a%2Fb%20c%C3%A9:@!$&'()*+,;=~/files?q=%C3%A9%26x+y%2F%3F&x=&n=1");
    cr_assert_str_eq(bn_tpl_path(&t, (const char *const[]){"/plain"}, NULL, 0), "/plain");
    cr_assert_str_eq(bn_tpl_path(&t, (const char *const[]){"/p/", "?a=", ""},
                                 (const char *const[]){"%?#", "%?#"}, 2),
                     "/p/%25%3F%23?a=%25%3F%23");
    cr_assert_str_eq(bn_tpl_fmt(&t, 42), "42");
    cr_assert_str_eq(bn_tpl_fmt(&t, -7L), "-7");
    cr_assert_str_eq(bn_tpl_fmt(&t, 18446744073709551615ULL), "18446744073709551615");
    cr_assert_str_eq(bn_tpl_fmt(&t, BN_STR("ab")), "ab");
    cr_assert_str_eq(bn_tpl_fmt(&t, (const char *)NULL), "");
    cr_assert_str_eq(bn_tpl_fmt(&t, "s"), "s");
}

/* ------------------------------------------------------------------------ */
/* A broken protocol (a compiler bug) stops a debug build at once             */

static void short_block(bn_tpl *t, const void *a)
{
    (void)a;
    bn_tpl_open(t, &hello__b0); /* two dynamics, one written */
    if (bn_tpl_dyn(t, B(0)))
        bn_tpl_put(t, "x");
    bn_tpl_close(t, &hello__b0);
}

#ifndef NDEBUG
Test(template_runtime, missing_dynamics_abort_in_debug, .signal = SIGABRT)
{
    const char *err = NULL;
    bn_tpl_render_tree_fn(&arena, short_block, NULL, BN_TPL_ALL, NULL, &err);
}
#else
Test(template_runtime, missing_dynamics_fail_in_release)
{
    const char *err = NULL;
    cr_assert_null(bn_tpl_render_tree_fn(&arena, short_block, NULL, BN_TPL_ALL, NULL, &err));
    cr_assert_not_null(err);
}
#endif
