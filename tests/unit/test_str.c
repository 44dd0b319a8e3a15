/*
 * Unit tests for the bn_str helpers in src/core/str.c: case-insensitive
 * equality, comma-separated lists and strict decimal parsing.
 */
#include <criterion/criterion.h>

#include "bennu/core.h"

#define S(lit) BN_STR(lit)

static void assert_slice(bn_str s, const char *want)
{
    cr_assert_eq(s.len, strlen(want), "got \"%.*s\", want \"%s\"", (int)s.len, s.ptr, want);
    cr_assert(s.len == 0 || memcmp(s.ptr, want, s.len) == 0, "got \"%.*s\", want \"%s\"", (int)s.len, s.ptr, want);
}

Test(str, eq_nocase_matches_ascii_case_only)
{
    cr_assert(bn_str_eq_nocase(S("Content-Length"), S("content-length")));
    cr_assert(bn_str_eq_nocase(S("HOST"), S("host")));
    cr_assert(bn_str_eq_nocase(S(""), S("")));
    cr_assert(bn_str_eq_nocase(BN_STR_NULL, S("")));
    cr_assert_not(bn_str_eq_nocase(S("host"), S("hos")));
    cr_assert_not(bn_str_eq_nocase(S("host"), S("hosT ")));
    cr_assert_not(bn_str_eq_nocase(S("a"), S("b")));
    /* '@' and '`' differ only in bit 0x20 but are not letters. */
    cr_assert_not(bn_str_eq_nocase(S("@"), S("`")));
    cr_assert_not(bn_str_eq_nocase(S("["), S("{")));
    cr_assert_not(bn_str_eq_nocase(S("-"), S("\r")));
    /* Non-ASCII bytes are compared as they are. */
    cr_assert(bn_str_eq_nocase(S("\xc3\xa9"), S("\xc3\xa9")));
    cr_assert_not(bn_str_eq_nocase(S("\xc3\xa9"), S("\xc3\x89")));
}

Test(str, trim_removes_only_sp_and_htab_at_the_ends)
{
    assert_slice(bn_str_trim(S("  a b \t")), "a b");
    assert_slice(bn_str_trim(S("\t\tx")), "x");
    assert_slice(bn_str_trim(S("x")), "x");
    assert_slice(bn_str_trim(S("   ")), "");
    assert_slice(bn_str_trim(S("\r a \n")), "\r a \n");
    cr_assert_eq(bn_str_trim(BN_STR_NULL).len, 0);
    cr_assert_null(bn_str_trim(BN_STR_NULL).ptr);
}

Test(str, list_next_walks_elements_and_skips_empty_ones)
{
    bn_str list = S(" gzip ,, chunked\t,  ,x"), e;
    cr_assert(bn_str_list_next(&list, &e));
    assert_slice(e, "gzip");
    cr_assert(bn_str_list_next(&list, &e));
    assert_slice(e, "chunked");
    cr_assert(bn_str_list_next(&list, &e));
    assert_slice(e, "x");
    bn_str before = e;
    cr_assert_not(bn_str_list_next(&list, &e));
    cr_assert_eq(e.ptr, before.ptr, "elem is left untouched at the end");
    cr_assert_not(bn_str_list_next(&list, &e));

    bn_str empty = BN_STR_NULL;
    cr_assert_not(bn_str_list_next(&empty, &e));
    bn_str commas = S(" , ,,");
    cr_assert_not(bn_str_list_next(&commas, &e));
    cr_assert_eq(commas.len, 0);
}

Test(str, list_next_elements_point_into_the_list)
{
    const char *text = "a, b";
    bn_str list = bn_str_from_cstr(text), e;
    cr_assert(bn_str_list_next(&list, &e));
    cr_assert_eq(e.ptr, text);
    cr_assert(bn_str_list_next(&list, &e));
    cr_assert_eq(e.ptr, text + 3);
}

Test(str, has_token_finds_whole_elements_case_insensitively)
{
    cr_assert(bn_str_has_token(S("keep-alive, close"), S("close")));
    cr_assert(bn_str_has_token(S("keep-alive, close"), S("Keep-Alive")));
    cr_assert(bn_str_has_token(S("  close  "), S("close")));
    cr_assert(bn_str_has_token(S(",,close,,"), S("CLOSE")));
    cr_assert(bn_str_has_token(S("Upgrade\t,\tkeep-alive"), S("upgrade")));
    cr_assert_not(bn_str_has_token(S("closed"), S("close")));
    cr_assert_not(bn_str_has_token(S("xclose"), S("close")));
    cr_assert_not(bn_str_has_token(S("close-ish, keep"), S("close")));
    cr_assert_not(bn_str_has_token(S(""), S("close")));
    cr_assert_not(bn_str_has_token(BN_STR_NULL, S("close")));
    cr_assert_not(bn_str_has_token(S("a, , b"), S("")), "an empty token never matches");
}

Test(str, to_u64_accepts_plain_decimal)
{
    uint64_t v = 1;
    cr_assert(bn_str_to_u64(S("0"), &v));
    cr_assert_eq(v, 0);
    cr_assert(bn_str_to_u64(S("123"), &v));
    cr_assert_eq(v, 123);
    cr_assert(bn_str_to_u64(S("007"), &v));
    cr_assert_eq(v, 7);
    cr_assert(bn_str_to_u64(S("18446744073709551615"), &v));
    cr_assert_eq(v, UINT64_MAX);
    cr_assert(bn_str_to_u64(S("00000000000000000000018446744073709551615"), &v));
    cr_assert_eq(v, UINT64_MAX);
}

Test(str, to_u64_rejects_junk_and_overflow_without_writing)
{
    static const char *bad[] = {
        "", "+1", "-1", " 1", "1 ", "1a", "0x10", "1,2", "1.0", "18446744073709551616",
        "18446744073709551620", "99999999999999999999", "184467440737095516150",
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++) {
        uint64_t v = 42;
        cr_assert_not(bn_str_to_u64(bn_str_from_cstr(bad[i]), &v), "\"%s\" should be rejected", bad[i]);
        cr_assert_eq(v, 42, "\"%s\" must leave *out alone", bad[i]);
    }
    uint64_t v = 42;
    cr_assert_not(bn_str_to_u64(BN_STR_NULL, &v));
    cr_assert_not(bn_str_to_u64(bn_str_make("12\0" "3", 4), &v), "an embedded NUL is junk");
}

Test(str, to_i64_takes_a_sign_and_the_whole_int64_range)
{
    int64_t v = 1;
    cr_assert(bn_str_to_i64(S("-9223372036854775808"), &v));
    cr_assert_eq(v, INT64_MIN);
    cr_assert(bn_str_to_i64(S("9223372036854775807"), &v));
    cr_assert_eq(v, INT64_MAX);
    cr_assert(bn_str_to_i64(S("+12"), &v));
    cr_assert_eq(v, 12);
    cr_assert(bn_str_to_i64(S("-0"), &v));
    cr_assert_eq(v, 0);
    static const char *bad[] = {"", "-", "+", "--1", "+-1", " 1", "1 ", "12abc", "1e3",
                                "9223372036854775808", "-9223372036854775809"};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++) {
        v = 42;
        cr_assert_not(bn_str_to_i64(bn_str_from_cstr(bad[i]), &v), "\"%s\" should be rejected", bad[i]);
        cr_assert_eq(v, 42, "\"%s\" wrote the output", bad[i]);
    }
}
