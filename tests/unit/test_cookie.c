/*
 * Unit tests for src/web/cookie.c: the Cookie request header (quotes, invalid
 * pairs, first-wins, limits) and the Set-Cookie writer (attributes, refusals).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <time.h>

#include "trees.h"
#include "web/parsers.h"

#define S(lit) BN_STR(lit)

static bn_arena arena;

static void setup(void) { arena = (bn_arena)BN_ARENA_INIT; }
static void teardown(void) { bn_arena_destroy(&arena); }

TestSuite(cookie, .init = setup, .fini = teardown);

/* Parses `header` into a fresh object; compares its JSON (member order matters here). */
static void assert_cookies(const char *header, int added, const char *expected)
{
    bn_value *got = bn_value_object(&arena);
    int n = bn__parse_cookie_header(&arena, bn_str_from_cstr(header), got);
    cr_assert_str_eq(bt_json(&arena, got), expected, "header %s", header);
    cr_assert_eq(n, added, "header %s", header);
}

Test(cookie, parses_pairs)
{
    assert_cookies("a=1; b=2", 2, "{\"a\":\"1\",\"b\":\"2\"}");
    assert_cookies("a=1;b=2;;  c=3 ;", 3, "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}");
    assert_cookies("sid=\"quoted value\"; e=; q=\"\"", 3, "{\"sid\":\"quoted value\",\"e\":\"\",\"q\":\"\"}");
    assert_cookies("tok=abc==; x=a=b", 2, "{\"tok\":\"abc==\",\"x\":\"a=b\"}");
    assert_cookies("", 0, "{}");
    assert_cookies(" ; ; ", 0, "{}");
    /* Values are not percent-decoded; unusual but harmless bytes are kept. */
    assert_cookies("p=%41+b; u=caf\xc3\xa9; s=a b", 3, "{\"p\":\"%41+b\",\"u\":\"caf\xc3\xa9\",\"s\":\"a b\"}");
    assert_cookies("h=\"half", 1, "{\"h\":\"\\\"half\"}");
}

Test(cookie, skips_invalid_pairs)
{
    assert_cookies("novalue; a=1", 1, "{\"a\":\"1\"}");
    assert_cookies("=nameless; a=1", 1, "{\"a\":\"1\"}");
    assert_cookies("bad name=1; b(x)=2; c\xc3\xa9=3; ok=4", 1, "{\"ok\":\"4\"}");
    assert_cookies("ctl=a\x01z; tab=a\tb; del=\x7f; ok=1", 1, "{\"ok\":\"1\"}");
    assert_cookies(" spaced = v ; $Version=1", 2, "{\"spaced\":\"v\",\"$Version\":\"1\"}");
}

Test(cookie, first_occurrence_wins)
{
    assert_cookies("a=specific; a=general; b=1", 2, "{\"a\":\"specific\",\"b\":\"1\"}");
    bn_value *into = bn_value_object(&arena);
    bn_value_set(&arena, into, "a", bn_value_string(&arena, S("already")));
    cr_assert_eq(bn__parse_cookie_header(&arena, S("a=new; b=2"), into), 1);
    cr_assert_str_eq(bt_json(&arena, into), "{\"a\":\"already\",\"b\":\"2\"}");
}

Test(cookie, values_are_copies)
{
    char header[] = "a=1; b=2";
    bn_value *got = bn_value_object(&arena);
    cr_assert_eq(bn__parse_cookie_header(&arena, bn_str_from_cstr(header), got), 2);
    memset(header, 'x', sizeof header - 1);
    cr_assert_str_eq(bt_json(&arena, got), "{\"a\":\"1\",\"b\":\"2\"}");
}

Test(cookie, count_and_size_limits)
{
    bn_buf h = BN_BUF_INIT;
    for (int i = 0; i < BN__COOKIE_MAX_COUNT + 10; i++)
        bn_buf_printf(&h, "c%d=%d; ", i, i);
    bn_value *got = bn_value_object(&arena);
    cr_assert_eq(bn__parse_cookie_header(&arena, bn_str_make(h.data, h.len), got), BN__COOKIE_MAX_COUNT);
    cr_assert_eq(bn_value_len(got), BN__COOKIE_MAX_COUNT);
    cr_assert_not_null(bn_value_get(got, "c255"));
    cr_assert_null(bn_value_get(got, "c256"));
    bn_buf_free(&h);

    /* A pair of exactly BN__COOKIE_MAX_PAIR bytes passes; one more is skipped. */
    for (int extra = 0; extra <= 1; extra++) {
        bn_buf_append_str(&h, S("big="));
        for (int i = 0; i < BN__COOKIE_MAX_PAIR - 4 + extra; i++)
            bn_buf_append(&h, "v", 1);
        bn_buf_append_str(&h, S("; small=1"));
        got = bn_value_object(&arena);
        cr_assert_eq(bn__parse_cookie_header(&arena, bn_str_make(h.data, h.len), got), extra ? 1 : 2);
        cr_assert_eq(bn_value_get(got, "big") != NULL, !extra);
        bn_buf_free(&h);
    }
}

/* ------------------------------------------------------------------------ */
/* Set-Cookie                                                                 */

static const int64_t NOW = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

static void assert_set_cookie(const char *name, const char *value, const bn_cookie_attrs *attrs, const char *want)
{
    bn_buf out = BN_BUF_INIT;
    bool ok = bn__cookie_serialize_at(&out, bn_str_from_cstr(name), bn_str_from_cstr(value), attrs, NOW);
    cr_assert(ok, "%s=%s refused", name, value);
    cr_assert_eq(out.len, strlen(want));
    cr_assert(memcmp(out.data, want, out.len) == 0, "got %.*s, want %s", (int)out.len, out.data, want);
    bn_buf_free(&out);
}

static void assert_refused(const char *name, const char *value, const bn_cookie_attrs *attrs)
{
    bn_buf out = BN_BUF_INIT;
    bn_buf_append_str(&out, S("keep"));
    cr_assert_not(bn__cookie_serialize_at(&out, bn_str_from_cstr(name), bn_str_from_cstr(value), attrs, NOW),
                  "%s=%s should be refused", name, value);
    cr_assert_eq(out.len, 4, "nothing appended");
    bn_buf_free(&out);
}

Test(cookie, set_cookie_defaults)
{
    assert_set_cookie("sid", "abc", NULL, "sid=abc; Path=/; HttpOnly; SameSite=Lax");
    bn_cookie_attrs at = BN_COOKIE_ATTRS_DEFAULT;
    assert_set_cookie("sid", "abc", &at, "sid=abc; Path=/; HttpOnly; SameSite=Lax");
    at = (bn_cookie_attrs){.max_age = BN_COOKIE_SESSION};
    assert_set_cookie("a", "", &at, "a=; Path=/");
}

Test(cookie, set_cookie_every_attribute)
{
    bn_cookie_attrs at = {.max_age = 3600,
                          .path = "/admin",
                          .domain = "example.com",
                          .secure = true,
                          .http_only = true,
                          .same_site = BN_SAME_SITE_STRICT};
    assert_set_cookie("s", "v1", &at,
                      "s=v1; Path=/admin; Domain=example.com; Max-Age=3600; Expires=Sun, 06 Nov 1994 09:49:37 GMT; "
                      "Secure; HttpOnly; SameSite=Strict");
    at = (bn_cookie_attrs){.max_age = BN_COOKIE_SESSION, .secure = true, .same_site = BN_SAME_SITE_NONE};
    assert_set_cookie("s", "v", &at, "s=v; Path=/; Secure; SameSite=None");
    at.same_site = BN_SAME_SITE_LAX;
    assert_set_cookie("s", "v", &at, "s=v; Path=/; Secure; SameSite=Lax");
    at.same_site = (bn_same_site)42; /* out of range: no attribute */
    assert_set_cookie("s", "v", &at, "s=v; Path=/; Secure");
}

Test(cookie, set_cookie_delete_and_far_future)
{
    bn_cookie_attrs at = BN_COOKIE_ATTRS_DEFAULT;
    at.max_age = 0;
    assert_set_cookie("gone", "", &at,
                      "gone=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax");
    at.max_age = INT64_MAX;
    at.http_only = false;
    at.same_site = BN_SAME_SITE_UNSET;
    assert_set_cookie("k", "v", &at, "k=v; Path=/; Max-Age=9223372036854775807; Expires=Fri, 31 Dec 9999 23:59:59 GMT");
    at.max_age = -5; /* any negative value is a session cookie */
    assert_set_cookie("k", "v", &at, "k=v; Path=/");
}

Test(cookie, set_cookie_uses_the_clock)
{
    bn_cookie_attrs at = BN_COOKIE_ATTRS_DEFAULT;
    at.max_age = 60;
    bn_buf out = BN_BUF_INIT;
    int64_t before = (int64_t)time(NULL);
    cr_assert(bn__cookie_serialize(&out, S("a"), S("b"), &at));
    int64_t after = (int64_t)time(NULL);
    char d1[30], d2[30], want1[200], want2[200];
    bn_http_date_format(before + 60, d1);
    bn_http_date_format(after + 60, d2);
    snprintf(want1, sizeof want1, "a=b; Path=/; Max-Age=60; Expires=%s; HttpOnly; SameSite=Lax", d1);
    snprintf(want2, sizeof want2, "a=b; Path=/; Max-Age=60; Expires=%s; HttpOnly; SameSite=Lax", d2);
    bn_buf_append(&out, "", 1);
    cr_assert(!strcmp(out.data, want1) || !strcmp(out.data, want2), "got %s", out.data);
    bn_buf_free(&out);
}

Test(cookie, set_cookie_value_charset)
{
    /* base64url and the other cookie-octets pass, quoted or not. */
    assert_set_cookie("t", "SFMyNTY.g2gDbQ-_AAA", NULL, "t=SFMyNTY.g2gDbQ-_AAA; Path=/; HttpOnly; SameSite=Lax");
    assert_set_cookie("t", "!#$%&'()*+-./09:<=>?@AZ[]^_`az{|}~", NULL,
                      "t=!#$%&'()*+-./09:<=>?@AZ[]^_`az{|}~; Path=/; HttpOnly; SameSite=Lax");
    assert_set_cookie("t", "\"quoted\"", NULL, "t=\"quoted\"; Path=/; HttpOnly; SameSite=Lax");
    assert_set_cookie("t", "\"\"", NULL, "t=\"\"; Path=/; HttpOnly; SameSite=Lax");
    const char *bad_values[] = {"a b", "a;b", "a,b", "a\"b", "a\\b", "a\rb", "a\nb", "a\x7f", "caf\xc3\xa9",
                                "\"", "\"a b\"", "\"a", "a\tb"};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad_values); i++)
        assert_refused("t", bad_values[i], NULL);
    bn_buf out = BN_BUF_INIT;
    cr_assert_not(bn__cookie_serialize_at(&out, S("t"), S("a\0b"), NULL, NOW), "NUL refused");
    bn_buf_free(&out);
}

Test(cookie, set_cookie_name_and_attribute_checks)
{
    const char *bad_names[] = {"", "a b", "a=b", "a;b", "a,b", "a\"", "(a)", "a\r\n", "\xc3\xa9", "a/b", "a:b"};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad_names); i++)
        assert_refused(bad_names[i], "v", NULL);
    assert_set_cookie("__Host-x.y_z~!", "v", NULL, "__Host-x.y_z~!=v; Path=/; HttpOnly; SameSite=Lax");
    bn_cookie_attrs at = BN_COOKIE_ATTRS_DEFAULT;
    at.path = "/a;b";
    assert_refused("n", "v", &at);
    at.path = "/a\r\nSet-Cookie: x=y";
    assert_refused("n", "v", &at);
    at.path = "/ok path";
    at.domain = "ex.com; Secure";
    assert_refused("n", "v", &at);
    at.domain = "ex.com\x01";
    assert_refused("n", "v", &at);
    at.domain = ".ex.com";
    assert_set_cookie("n", "v", &at, "n=v; Path=/ok path; Domain=.ex.com; HttpOnly; SameSite=Lax");
}
