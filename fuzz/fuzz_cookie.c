/*
 * libFuzzer target for src/web/cookie.c: parses the input as a Cookie header
 * and checks what comes out; serializes a cookie made of the input and checks
 * that an accepted one cannot break the header and reads back the same.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

#include "web/parsers.h"

static bool tchar(unsigned char c) { return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c); }

static void check_parsed(const bn_value *obj, int added)
{
    CHECK(added >= 0 && added <= BN__COOKIE_MAX_COUNT);
    CHECK(bn_value_len(obj) == (size_t)added);
    for (size_t i = 0; i < obj->as.object.len; i++) {
        bn_str k = obj->as.object.members[i].key, v = bn_value_str(obj->as.object.members[i].value);
        CHECK(k.len > 0 && k.len + v.len < BN__COOKIE_MAX_PAIR);
        for (size_t j = 0; j < k.len; j++)
            CHECK(tchar((unsigned char)k.ptr[j]));
        for (size_t j = 0; j < v.len; j++)
            CHECK((unsigned char)v.ptr[j] >= 0x20 && v.ptr[j] != 0x7f && v.ptr[j] != ';');
        for (size_t j = 0; j < i; j++)
            CHECK(!bn_str_eq(obj->as.object.members[j].key, k));
    }
}

/* An accepted Set-Cookie value: no CTL; the pair reads back as it was written. */
static void check_serialized(bn_arena *a, bn_str name, bn_str value, const bn_cookie_attrs *at)
{
    bn_buf out = BN_BUF_INIT;
    bool ok = bn__cookie_serialize_at(&out, name, value, at, 1700000000);
    if (!ok) {
        CHECK(out.len == 0);
        bn_buf_free(&out);
        return;
    }
    CHECK(out.len > name.len);
    for (size_t i = 0; i < out.len; i++)
        CHECK((unsigned char)out.data[i] >= 0x20 && out.data[i] != 0x7f);
    bn_value *back = bn_value_object(a);
    bn_str pair = bn_str_make(out.data, name.len + 1 + value.len);
    CHECK(out.len == pair.len || out.data[pair.len] == ';');
    if (pair.len > BN__COOKIE_MAX_PAIR) {
        bn_buf_free(&out);
        return;
    }
    CHECK(bn__parse_cookie_header(a, pair, back) == 1);
    bn_str v = value;
    if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
        v = bn_str_make(v.ptr + 1, v.len - 2);
    CHECK(bn_str_eq(bn_value_str(bn_value_get_str(back, name)), v));
    bn_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    CHECK(buf);
    if (size)
        memcpy(buf, data, size);
    buf[size] = '\0';
    bn_arena a = BN_ARENA_INIT;

    bn_value *obj = bn_value_object(&a);
    check_parsed(obj, bn__parse_cookie_header(&a, bn_str_make(buf, size), obj));

    /* name=value[\n path [\n domain]] and attribute bits from the first byte. */
    if (size) {
        unsigned flags = (unsigned char)buf[0];
        char *fields[3] = {buf + 1, NULL, NULL};
        for (int i = 1; i < 3 && fields[i - 1]; i++) {
            char *nl = strchr(fields[i - 1], '\n');
            if (nl) {
                *nl = '\0';
                fields[i] = nl + 1;
            }
        }
        char *eq = strchr(fields[0], '=');
        bn_str name = bn_str_from_cstr(fields[0]), value = BN_STR("");
        if (eq) {
            name = bn_str_make(fields[0], (size_t)(eq - fields[0]));
            value = bn_str_from_cstr(eq + 1);
        }
        bn_cookie_attrs at = {.max_age = (int64_t)(flags & 7) - 2,
                              .path = fields[1],
                              .domain = fields[2],
                              .secure = flags & 8,
                              .http_only = flags & 16,
                              .same_site = (bn_same_site)(flags >> 5)};
        check_serialized(&a, name, value, &at);
    }
    bn_arena_destroy(&a);
    free(buf);
    return 0;
}
