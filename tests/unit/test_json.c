/* Unit tests for JSON parsing and encoding (src/core/json.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bennu/value.h"

static bn_arena A = BN_ARENA_INIT;
static bn_buf B = BN_BUF_INIT;
static void teardown(void)
{
    bn_arena_destroy(&A);
    bn_buf_free(&B);
}
TestSuite(json, .fini = teardown);

static bn_value *parse(const char *s)
{
    bn_json_error err = {0};
    bn_value *v = bn_json_parse(&A, bn_str_from_cstr(s), &err);
    cr_assert_not_null(v, "parse %s: %d:%d %s", s, err.line, err.column, err.text);
    return v;
}

static bn_json_error parse_fail(bn_str s)
{
    bn_json_error err = {0};
    cr_assert_null(bn_json_parse(&A, s, &err), "accepted %.*s", (int)s.len, s.ptr);
    cr_assert_neq(err.text[0], '\0');
    return err;
}

/* Encodes `v` and checks the exact text. */
static void assert_encodes(const bn_value *v, const char *want)
{
    B.len = 0;
    bn_json_encode(&B, v);
    cr_assert(bn_str_eq(bn_str_make(B.data, B.len), bn_str_from_cstr(want)), "got %.*s want %s", (int)B.len,
              B.data, want);
}

Test(json, parses_every_type)
{
    bn_value *v = parse(" {\"n\":null,\"t\":true,\"f\":false,\"i\":-12,\"x\":1.5,\"s\":\"hi\",\"a\":[1,[2]],\"o\":{}} ");
    cr_assert(bn_value_is(bn_value_get(v, "n"), BN_VALUE_NULL));
    cr_assert(bn_value_get(v, "t")->as.b);
    cr_assert_not(bn_value_get(v, "f")->as.b);
    cr_assert_eq(bn_value_get(v, "i")->as.i, -12);
    cr_assert(bn_value_is(bn_value_get(v, "x"), BN_VALUE_FLOAT));
    cr_assert_eq(bn_value_get(v, "x")->as.f, 1.5);
    cr_assert(bn_str_eq(bn_value_str(bn_value_get(v, "s")), BN_STR("hi")));
    cr_assert_eq(bn_value_path(v, "a.1.0")->as.i, 2);
    cr_assert(bn_value_is(bn_value_get(v, "o"), BN_VALUE_OBJECT));
    cr_assert_eq(bn_value_len(bn_value_get(v, "o")), 0);
    /* Member order is the document's. */
    cr_assert(bn_str_eq(v->as.object.members[0].key, BN_STR("n")));
    cr_assert(bn_str_eq(v->as.object.members[7].key, BN_STR("o")));
    /* Parsed objects stay editable with the builders. */
    bn_value_set(&A, v, "extra", bn_value_int(&A, 1));
    bn_value_set(&A, v, "n", bn_value_int(&A, 2));
    cr_assert_eq(bn_value_len(v), 9);
    cr_assert_eq(bn_value_get(v, "n")->as.i, 2);
    bn_value_push(&A, (bn_value *)bn_value_get(v, "a"), bn_value_int(&A, 3));
    cr_assert_eq(bn_value_path(v, "a.2")->as.i, 3);
}

Test(json, scalar_documents)
{
    cr_assert_eq(parse("7")->as.i, 7);
    cr_assert(bn_str_eq(bn_value_str(parse("\"x\"")), BN_STR("x")));
    cr_assert(bn_value_is(parse("null"), BN_VALUE_NULL));
}

Test(json, duplicate_keys_last_wins)
{
    bn_value *v = parse("{\"a\":1,\"b\":0,\"a\":2}");
    cr_assert_eq(bn_value_len(v), 2);
    cr_assert_eq(bn_value_get(v, "a")->as.i, 2);
}

Test(json, big_ints_and_floats)
{
    cr_assert_eq(parse("9223372036854775807")->as.i, INT64_MAX);
    cr_assert_eq(parse("-9223372036854775808")->as.i, INT64_MIN);
    /* Out of int64 range is refused, not silently rounded. */
    bn_json_error e = parse_fail(BN_STR("[9223372036854775808]"));
    cr_assert_eq(e.line, 1);
    parse_fail(BN_STR("1e400"));
    bn_value *f = parse("[1.0, 1e2, -0.5, 2.5E-3]");
    cr_assert(bn_value_is(bn_value_at(f, 0), BN_VALUE_FLOAT)); /* "1.0" stays a float */
    cr_assert_eq(bn_value_at(f, 1)->as.f, 100.0);
    cr_assert_eq(bn_value_at(f, 2)->as.f, -0.5);
    cr_assert_eq(bn_value_at(f, 3)->as.f, 0.0025);
}

Test(json, string_escapes_decode)
{
    bn_value *v = parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00\\u0000z\"");
    bn_str s = bn_value_str(v);
    const char want[] = "a\"b\\c/d\b\f\n\r\t\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\0z";
    cr_assert_eq(s.len, sizeof(want) - 1);
    cr_assert_eq(memcmp(s.ptr, want, s.len), 0);
}

Test(json, syntax_errors_with_positions)
{
    bn_json_error e = parse_fail(BN_STR("[1] x"));
    cr_assert_eq(e.line, 1);
    cr_assert_eq(e.column, 5);
    e = parse_fail(BN_STR("{\n  \"a\": 1,\n  \"b\": ,\n}"));
    cr_assert_eq(e.line, 3);
    parse_fail(BN_STR(""));
    parse_fail(BN_STR("   "));
    parse_fail(BN_STR("[1,2"));
    parse_fail(BN_STR("{'a':1}"));
    parse_fail(BN_STR("[1,]"));
    parse_fail(BN_STR("\"\\ud800\""));    /* lone surrogate */
    parse_fail(BN_STR("\"\xff\""));        /* invalid UTF-8 */
    parse_fail(BN_STR("\"a\nb\""));        /* raw control character */
    parse_fail(BN_STR("[1]\0"));           /* NUL after the document */
    parse_fail(BN_STR("NaN"));
    /* A NULL err is allowed. */
    cr_assert_null(bn_json_parse(&A, BN_STR("{"), NULL));
}

static char *nested(int depth, const char *prefix)
{
    size_t plen = strlen(prefix);
    char *s = malloc(plen + 2 * (size_t)depth + 1);
    memcpy(s, prefix, plen);
    for (int i = 0; i < depth; i++) {
        s[plen + (size_t)i] = '[';
        s[plen + (size_t)depth + (size_t)i] = ']';
    }
    s[plen + 2 * (size_t)depth] = '\0';
    return s;
}

Test(json, depth_limit)
{
    char *ok = nested(64, "");
    cr_assert_not_null(bn_json_parse(&A, bn_str_from_cstr(ok), NULL));
    free(ok);
    char *deep = nested(65, "\n  ");
    bn_json_error e = parse_fail(bn_str_from_cstr(deep));
    cr_assert_eq(e.line, 2);
    cr_assert_eq(e.column, 3 + 64, "column %d", e.column); /* the 65th '[' */
    free(deep);
    /* Objects count too, and brackets inside strings do not. */
    cr_assert_not_null(bn_json_parse(&A, BN_STR("{\"[[[[\":{\"a\":[]}}"), NULL));
    char *big = nested(3000, "");
    parse_fail(bn_str_from_cstr(big));
    free(big);
}

Test(json, encode_every_type)
{
    bn_value *o = bn_value_object(&A);
    bn_value_set(&A, o, "n", bn_value_null(&A));
    bn_value_set(&A, o, "t", bn_value_bool(&A, true));
    bn_value_set(&A, o, "f", bn_value_bool(&A, false));
    bn_value_set(&A, o, "i", bn_value_int(&A, INT64_MIN));
    bn_value_set(&A, o, "j", bn_value_int(&A, 0));
    bn_value *arr = bn_value_array(&A);
    bn_value_push(&A, arr, bn_value_int(&A, INT64_MAX));
    bn_value_push(&A, arr, bn_value_array(&A));
    bn_value_push(&A, arr, bn_value_object(&A));
    bn_value_set(&A, o, "a", arr);
    assert_encodes(o, "{\"n\":null,\"t\":true,\"f\":false,\"i\":-9223372036854775808,\"j\":0,"
                      "\"a\":[9223372036854775807,[],{}]}");
    assert_encodes(NULL, "null");
}

Test(json, encode_floats)
{
    assert_encodes(bn_value_float(&A, 0.1), "0.1");
    assert_encodes(bn_value_float(&A, 1.0), "1.0");
    assert_encodes(bn_value_float(&A, -2.0), "-2.0");
    assert_encodes(bn_value_float(&A, 0.0), "0.0");
    assert_encodes(bn_value_float(&A, 1e300), "1e+300");
    assert_encodes(bn_value_float(&A, 1.0 / 3.0), "0.3333333333333333");
    assert_encodes(bn_value_float(&A, NAN), "null");
    assert_encodes(bn_value_float(&A, INFINITY), "null");
    assert_encodes(bn_value_float(&A, -INFINITY), "null");
    /* Every encoding parses back to the same double, as a float. */
    const double samples[] = {0.1, 1.0 / 3.0, 5e-324, 1.7976931348623157e308, -123456.789, 1e21, 1e15};
    for (size_t i = 0; i < BN_ARRAY_LEN(samples); i++) {
        B.len = 0;
        bn_json_encode(&B, bn_value_float(&A, samples[i]));
        bn_value *back = bn_json_parse(&A, bn_str_make(B.data, B.len), NULL);
        cr_assert(bn_value_is(back, BN_VALUE_FLOAT), "%.*s", (int)B.len, B.data);
        cr_assert_eq(back->as.f, samples[i]);
    }
}

Test(json, encode_string_escapes)
{
    B.len = 0;
    bn_json_encode_string(&B, bn_str_make("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f\0!", 16));
    cr_assert(bn_str_eq(bn_str_make(B.data, B.len),
                        BN_STR("\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\\u0000!\"")),
              "%.*s", (int)B.len, B.data);
    /* Valid UTF-8 is kept as is. */
    B.len = 0;
    bn_json_encode_string(&B, BN_STR("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF"));
    cr_assert(bn_str_eq(bn_str_make(B.data, B.len), BN_STR("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\"")));
    /* Invalid UTF-8 (stray continuation, overlong, surrogate, > U+10FFFF,
     * truncated) becomes U+FFFD per bad byte, so the output stays valid. */
    B.len = 0;
    bn_json_encode_string(&B, BN_STR("a\x80" "b\xC0\xAF" "c\xED\xA0\x80" "d\xF4\x90\x80\x80" "e\xE2\x82"));
    bn_value *back = bn_json_parse(&A, bn_str_make(B.data, B.len), NULL);
    cr_assert_not_null(back, "%.*s", (int)B.len, B.data);
#define R "\xEF\xBF\xBD"
    cr_assert(bn_str_eq(bn_str_make(B.data, B.len),
                        BN_STR("\"a" R "b" R R "c" R R R "d" R R R R "e" R R "\"")),
              "%.*s", (int)B.len, B.data);
#undef R
    B.len = 0;
    bn_json_encode_string(&B, BN_STR_NULL);
    cr_assert(bn_str_eq(bn_str_make(B.data, B.len), BN_STR("\"\"")));
}

Test(json, round_trip)
{
    const char *docs[] = {
        "{\"user\":{\"name\":\"Ada \\\"L\\\"\",\"tags\":[\"a\",\"\xC3\xA9\",\"\\u0000\"],\"n\":-1,\"x\":2.5},\"ok\":true}",
        "[null,false,[],{},[[{\"\":\"\"}]],\"\\u001b[0m\",0.001,-0.0]",
        "\"\\t\\n\"",
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(docs); i++) {
        bn_value *v = parse(docs[i]);
        B.len = 0;
        bn_json_encode(&B, v);
        bn_value *w = bn_json_parse(&A, bn_str_make(B.data, B.len), NULL);
        cr_assert(bn_value_equal(v, w), "%s -> %.*s", docs[i], (int)B.len, B.data);
        /* Compact output is a fixed point. */
        size_t len = B.len;
        char *first = strndup(B.data, len);
        B.len = 0;
        bn_json_encode(&B, w);
        cr_assert(bn_str_eq(bn_str_make(first, len), bn_str_make(B.data, B.len)));
        free(first);
    }
    assert_encodes(parse("[1, 2.0, \"\\u00e9\"]"), "[1,2.0,\"\xC3\xA9\"]");
}

Test(json, header_example)
{
    bn_arena a = BN_ARENA_INIT;
    bn_value *user = bn_value_object(&a);
    bn_value_set(&a, user, "name", bn_value_string(&a, BN_STR("Ada")));
    bn_value_set(&a, user, "age", bn_value_int(&a, 36));
    bn_buf out = BN_BUF_INIT;
    bn_json_encode(&out, user);
    cr_assert(bn_str_eq(bn_str_make(out.data, out.len), BN_STR("{\"name\":\"Ada\",\"age\":36}")));
    bn_str name = bn_value_str(bn_value_get(user, "name"));
    cr_assert(bn_str_eq(name, BN_STR("Ada")));
    bn_buf_free(&out);
    bn_arena_destroy(&a);
}
