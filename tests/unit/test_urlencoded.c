/*
 * Unit tests for src/web/urlencoded.c: percent-decoding, UTF-8 validation, the
 * params key rule (brackets, arrays, conflicts) and every limit and error.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "trees.h"
#include "web/parsers.h"

#define S(lit) BN_STR(lit)

static bn_arena arena;

static void setup(void) { arena = (bn_arena)BN_ARENA_INIT; }
static void teardown(void) { bn_arena_destroy(&arena); }

TestSuite(urlencoded, .init = setup, .fini = teardown);

/* Parses `input` into a fresh object and compares it with the JSON `expected`. */
static void assert_parses(const char *input, const char *expected)
{
    char err[160] = "";
    bn_value *got = bn_value_object(&arena);
    int r = bn__parse_urlencoded(&arena, bn_str_from_cstr(input), got, NULL, err, sizeof err);
    cr_assert_eq(r, 0, "parse %s failed: %s", input, err);
    cr_assert(bn_value_equal(got, bt_tree(&arena, expected)), "parse %s: got %s, want %s", input, bt_json(&arena, got), expected);
}

static void assert_fails(const char *input, const bn_params_limits *lim, const char *message)
{
    char err[160] = "";
    bn_value *got = bn_value_object(&arena);
    int r = bn__parse_urlencoded(&arena, bn_str_from_cstr(input), got, lim, err, sizeof err);
    cr_assert_eq(r, -1, "parse %s should fail, got %s", input, bt_json(&arena, got));
    cr_assert_str_eq(err, message, "parse %s", input);
}

Test(urlencoded, plain_pairs_plus_and_percent)
{
    assert_parses("a=1&b=2", "{\"a\":\"1\",\"b\":\"2\"}");
    assert_parses("q=hello+world&x=a%2Bb&y=%41%62%c3%a9", "{\"q\":\"hello world\",\"x\":\"a+b\",\"y\":\"Ab\xc3\xa9\"}");
    assert_parses("na+me=v", "{\"na me\":\"v\"}");
    assert_parses("", "{}");
    assert_parses("a=1=2", "{\"a\":\"1=2\"}");
    assert_parses("flag&b=", "{\"flag\":\"\",\"b\":\"\"}");
    assert_parses("nul=%00", "{\"nul\":\"\\u0000\"}");
}

Test(urlencoded, keeps_insertion_order)
{
    bn_value *got = bn_value_object(&arena);
    cr_assert_eq(bn__parse_urlencoded(&arena, S("z=1&a=2&m=3"), got, NULL, NULL, 0), 0);
    cr_assert_str_eq(bt_json(&arena, got), "{\"z\":\"1\",\"a\":\"2\",\"m\":\"3\"}");
}

Test(urlencoded, empty_pairs_and_empty_keys_are_skipped)
{
    assert_parses("&&a=1&&", "{\"a\":\"1\"}");
    assert_parses("=1&a=2", "{\"a\":\"2\"}");
    assert_parses("=", "{}");
    assert_parses("[x]=1&[]=2&a=3", "{\"a\":\"3\"}");
    assert_parses("%20=1", "{\" \":\"1\"}"); /* a space is a name */
}

Test(urlencoded, later_duplicates_win)
{
    assert_parses("a=1&a=2", "{\"a\":\"2\"}");
    assert_parses("u[n]=1&u[n]=2&u[m]=3", "{\"u\":{\"n\":\"2\",\"m\":\"3\"}}");
    bn_value *got = bn_value_object(&arena);
    cr_assert_eq(bn__parse_urlencoded(&arena, S("a=1&b=2&a=3"), got, NULL, NULL, 0), 0);
    cr_assert_str_eq(bt_json(&arena, got), "{\"a\":\"3\",\"b\":\"2\"}", "a replaced in place");
}

Test(urlencoded, brackets_nest_objects)
{
    assert_parses("user[name]=x", "{\"user\":{\"name\":\"x\"}}");
    assert_parses("user[name]=x&user[age]=3&other=y",
                  "{\"user\":{\"name\":\"x\",\"age\":\"3\"},\"other\":\"y\"}");
    assert_parses("a[b][c][d]=1&a[b][e]=2", "{\"a\":{\"b\":{\"c\":{\"d\":\"1\"},\"e\":\"2\"}}}");
    assert_parses("a%5Bb%5D=1", "{\"a\":{\"b\":\"1\"}}");
    assert_parses("a[0]=x&a[1]=y", "{\"a\":{\"0\":\"x\",\"1\":\"y\"}}");
    assert_parses("a[ b ]=1", "{\"a\":{\" b \":\"1\"}}");
    assert_parses("a[]]=1", "{\"a[]]\":\"1\"}");
}

Test(urlencoded, empty_brackets_build_arrays)
{
    assert_parses("user[tags][]=a&user[tags][]=b", "{\"user\":{\"tags\":[\"a\",\"b\"]}}");
    assert_parses("a[]=1", "{\"a\":[\"1\"]}");
    assert_parses("a[]=1&b=2&a[]=3", "{\"a\":[\"1\",\"3\"],\"b\":\"2\"}");
    assert_parses("a[]=", "{\"a\":[\"\"]}");
    /* Nested "[][]" keeps appending to the last inner array. */
    assert_parses("a[][]=1&a[][]=2", "{\"a\":[[\"1\",\"2\"]]}");
}

Test(urlencoded, arrays_of_objects_start_a_new_object_when_a_key_repeats)
{
    assert_parses("u[][name]=a&u[][age]=1&u[][name]=b&u[][age]=2",
                  "{\"u\":[{\"name\":\"a\",\"age\":\"1\"},{\"name\":\"b\",\"age\":\"2\"}]}");
    assert_parses("a[][b]=1&a[][c]=2&a[][b]=3", "{\"a\":[{\"b\":\"1\",\"c\":\"2\"},{\"b\":\"3\"}]}");
    /* Deeper: the whole remaining path decides. */
    assert_parses("a[][b][c]=1&a[][b][d]=2&a[][b][c]=3",
                  "{\"a\":[{\"b\":{\"c\":\"1\",\"d\":\"2\"}},{\"b\":{\"c\":\"3\"}}]}");
    /* A "[]" further down never collides, so it keeps filling the last object. */
    assert_parses("a[][t][]=1&a[][t][]=2", "{\"a\":[{\"t\":[\"1\",\"2\"]}]}");
    /* A scalar last item is not reused. */
    assert_parses("a[]=x&a[][b]=1", "{\"a\":[\"x\",{\"b\":\"1\"}]}");
}

Test(urlencoded, conflicts_are_last_wins)
{
    assert_parses("a=1&a[b]=2", "{\"a\":{\"b\":\"2\"}}");
    assert_parses("a[b]=2&a=1", "{\"a\":\"1\"}");
    assert_parses("a[]=1&a[b]=2", "{\"a\":{\"b\":\"2\"}}");
    assert_parses("a[b]=2&a[]=1", "{\"a\":[\"1\"]}");
    assert_parses("a[b]=1&a[b][c]=2", "{\"a\":{\"b\":{\"c\":\"2\"}}}");
    assert_parses("a=1&a[]=2", "{\"a\":[\"2\"]}");
}

Test(urlencoded, malformed_brackets_are_a_flat_name)
{
    assert_parses("a[b=1", "{\"a[b\":\"1\"}");
    assert_parses("a[b]c=1", "{\"a[b]c\":\"1\"}");
    assert_parses("a]=1", "{\"a]\":\"1\"}");
    assert_parses("a[b[c]]=1", "{\"a[b[c]]\":\"1\"}");
    assert_parses("a[b][=1", "{\"a[b][\":\"1\"}");
}

Test(urlencoded, merges_into_an_existing_tree)
{
    bn_value *into = bt_tree(&arena, "{\"id\":\"7\",\"user\":{\"role\":\"admin\"}}");
    cr_assert_eq(bn__parse_urlencoded(&arena, S("user[name]=x&page=2"), into, NULL, NULL, 0), 0);
    cr_assert_eq(bn__parse_urlencoded(&arena, S("id=8"), into, NULL, NULL, 0), 0);
    cr_assert(bn_value_equal(into, bt_tree(&arena, "{\"id\":\"8\",\"user\":{\"role\":\"admin\",\"name\":\"x\"},\"page\":\"2\"}")),
              "got %s", bt_json(&arena, into));
}

Test(urlencoded, depth_limit)
{
    char key[400] = "a";
    for (int i = 0; i < 32; i++)
        strcat(key, "[b]");
    char input[420];
    snprintf(input, sizeof input, "%s=1", key);
    bn_value *got = bn_value_object(&arena);
    char err[160];
    cr_assert_eq(bn__parse_urlencoded(&arena, bn_str_from_cstr(input), got, NULL, err, sizeof err), 0, "%s", err);
    const bn_value *v = bn_value_get(got, "a");
    for (int i = 0; i < 32; i++)
        v = bn_value_get(v, "b");
    cr_assert_str_eq(bn_value_str(v).ptr, "1");

    snprintf(input, sizeof input, "%s[c]=1", key);
    assert_fails(input, NULL,
                 "parameter \"a[b][b][b][b][b][b][b][b][b][b][...\" is nested deeper than 32 levels");

    bn_params_limits lim = {.max_depth = 2};
    assert_fails("x[a][b][c]=1", &lim, "parameter \"x[a][b][c]\" is nested deeper than 2 levels");
    got = bn_value_object(&arena);
    cr_assert_eq(bn__parse_urlencoded(&arena, S("x[a][b]=1&y[]=2"), got, &lim, NULL, 0), 0);
}

Test(urlencoded, pair_limit)
{
    bn_buf in = BN_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        bn_buf_printf(&in, "%sk%d=%d", i ? "&" : "", i, i);
    bn_buf_append_str(&in, S("&&&")); /* empty pairs do not count */
    bn_value *got = bn_value_object(&arena);
    cr_assert_eq(bn__parse_urlencoded(&arena, bn_str_make(in.data, in.len), got, NULL, NULL, 0), 0);
    cr_assert_eq(bn_value_len(got), 1000);
    cr_assert_str_eq(bn_value_str(bn_value_get(got, "k999")).ptr, "999");
    bn_buf_append_str(&in, S("x=1"));
    char err[160];
    got = bn_value_object(&arena);
    cr_assert_eq(bn__parse_urlencoded(&arena, bn_str_make(in.data, in.len), got, NULL, err, sizeof err), -1);
    cr_assert_str_eq(err, "too many parameters (more than 1000)");
    bn_buf_free(&in);

    bn_params_limits lim = {.max_pairs = 2};
    assert_fails("a=1&b=2&c=3", &lim, "too many parameters (more than 2)");
    /* Skipped pairs with an empty key still count. */
    assert_fails("=1&=2&c=3", &lim, "too many parameters (more than 2)");
}

Test(urlencoded, key_length_limit_is_on_the_raw_key)
{
    bn_params_limits lim = {.max_key_len = 6};
    bn_value *got = bn_value_object(&arena);
    cr_assert_eq(bn__parse_urlencoded(&arena, S("abcdef=1&x=1234567890"), got, &lim, NULL, 0), 0);
    assert_fails("abcdefg=1", &lim, "parameter name longer than 6 bytes");
    assert_fails("%41%42%43=1", &lim, "parameter name longer than 6 bytes");
    char big[1100];
    memset(big, 'k', 1025);
    strcpy(big + 1025, "=v");
    assert_fails(big, NULL, "parameter name longer than 1024 bytes");
}

Test(urlencoded, broken_percent_encoding_is_an_error)
{
    assert_fails("a=%zz", NULL, "invalid percent-encoding \"%zz\" in params");
    assert_fails("a=%4", NULL, "invalid percent-encoding \"%4\" in params");
    assert_fails("a=%", NULL, "invalid percent-encoding \"%\" in params");
    assert_fails("a%g1=1", NULL, "invalid percent-encoding \"%g1\" in params");
    assert_fails("ok=1&a=x%4&b=2", NULL, "invalid percent-encoding \"%4\" in params");
    assert_fails("a=%%41", NULL, "invalid percent-encoding \"%%4\" in params");
    assert_fails("a=%\x01\xff", NULL, "invalid percent-encoding \"%\\x01\\xFF\" in params");
}

Test(urlencoded, invalid_utf8_is_an_error)
{
    assert_fails("a=%FF", NULL, "invalid UTF-8 in the value of parameter \"a\"");
    assert_fails("a=\xc3", NULL, "invalid UTF-8 in the value of parameter \"a\"");
    assert_fails("a=%C0%AF", NULL, "invalid UTF-8 in the value of parameter \"a\""); /* overlong '/' */
    assert_fails("a=%ED%A0%80", NULL, "invalid UTF-8 in the value of parameter \"a\""); /* surrogate */
    assert_fails("a=%F4%90%80%80", NULL, "invalid UTF-8 in the value of parameter \"a\""); /* > U+10FFFF */
    assert_fails("k%FFey=1", NULL, "invalid UTF-8 in parameter name \"k\\xFFey\"");
    assert_parses("a=%F0%9F%98%80&%E2%82%AC=x", "{\"a\":\"\xf0\x9f\x98\x80\",\"\xe2\x82\xac\":\"x\"}");
}

Test(urlencoded, percent_decode_directly)
{
    bn_str out = S("untouched");
    cr_assert(bn__percent_decode(&arena, S("a+b%20c%2b"), false, &out));
    cr_assert(bn_str_eq(out, S("a+b c+")));
    cr_assert_eq(out.ptr[out.len], '\0');
    cr_assert(bn__percent_decode(&arena, S("a+b"), true, &out));
    cr_assert(bn_str_eq(out, S("a b")));
    cr_assert(bn__percent_decode(&arena, S(""), true, &out));
    cr_assert_eq(out.len, 0);
    bn_str keep = out;
    cr_assert_not(bn__percent_decode(&arena, S("ab%2"), true, &out));
    cr_assert_not(bn__percent_decode(&arena, S("%x0"), true, &out));
    cr_assert_eq(out.ptr, keep.ptr, "out untouched on failure");
}

Test(urlencoded, utf8_validator)
{
    cr_assert(bn__utf8_valid(S("")));
    cr_assert(bn__utf8_valid(S("plain ascii")));
    cr_assert(bn__utf8_valid(S("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf")));
    cr_assert_not(bn__utf8_valid(S("\x80")));
    cr_assert_not(bn__utf8_valid(S("\xc1\xbf")));
    cr_assert_not(bn__utf8_valid(S("\xe0\x9f\xbf")));
    cr_assert_not(bn__utf8_valid(S("\xf0\x8f\xbf\xbf")));
    cr_assert_not(bn__utf8_valid(S("\xf5\x80\x80\x80")));
    cr_assert_not(bn__utf8_valid(S("\xe2\x82")));
    cr_assert_not(bn__utf8_valid(S("\xe2\x28\xa1")));
}

Test(urlencoded, params_put_takes_any_value)
{
    bn_value *root = bn_value_object(&arena);
    cr_assert_eq(bn__params_put(&arena, root, S("f[x][]"), bn_value_int(&arena, 5), NULL, NULL, 0), 0);
    cr_assert_eq(bn__params_put(&arena, root, S("[x]"), bn_value_int(&arena, 6), NULL, NULL, 0), 1);
    cr_assert_eq(bn__params_put(&arena, root, S(""), bn_value_int(&arena, 6), NULL, NULL, 0), 1);
    cr_assert(bn_value_equal(root, bt_tree(&arena, "{\"f\":{\"x\":[5]}}")), "got %s", bt_json(&arena, root));
}

Test(urlencoded, quote_for_messages)
{
    char q[BN__QUOTE_SIZE];
    cr_assert_str_eq(bn__quote(S("a\"b\\c\n"), q), "\"a\\x22b\\x5Cc\\x0A\"");
    cr_assert_str_eq(bn__quote(S("0123456789012345678901234567890123"), q), "\"01234567890123456789012345678901...\"");
    char all[32];
    memset(all, 0xff, sizeof all);
    cr_assert_eq(strlen(bn__quote(bn_str_make(all, 32), q)), 2 + 32 * 4);
}
