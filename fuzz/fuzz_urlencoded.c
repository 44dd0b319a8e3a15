/*
 * libFuzzer target for src/web/urlencoded.c: parses the input as a query
 * string with small limits and checks the tree, the error text, percent-decoding
 * and the params key rule on the raw input used as a key.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

#include "web/parsers.h"

static const bn_params_limits limits = {.max_depth = 4, .max_pairs = 64, .max_key_len = 48};

/* Every string (keys too) is valid UTF-8; returns the depth of `v`. */
static size_t check_tree(const bn_value *v)
{
    size_t deepest = 0;
    switch (v->type) {
    case BN_VALUE_STRING:
        CHECK(bn__utf8_valid(v->as.s));
        return 0;
    case BN_VALUE_ARRAY:
        for (size_t i = 0; i < v->as.array.len; i++)
            deepest = BN_MAX(deepest, check_tree(v->as.array.items[i]));
        return deepest + 1;
    case BN_VALUE_OBJECT:
        for (size_t i = 0; i < v->as.object.len; i++) {
            CHECK(bn__utf8_valid(v->as.object.members[i].key));
            deepest = BN_MAX(deepest, check_tree(v->as.object.members[i].value));
        }
        return deepest + 1;
    default:
        CHECK(!"only strings, arrays and objects");
        return 0;
    }
}

/* Leaves (strings) of a tree: at most one per pair. */
static size_t leaves(const bn_value *v)
{
    size_t n = 0;
    if (v->type == BN_VALUE_STRING)
        return 1;
    for (size_t i = 0; i < bn_value_len(v); i++)
        n += leaves(v->type == BN_VALUE_ARRAY ? v->as.array.items[i] : v->as.object.members[i].value);
    return n;
}

/* Error messages end up in 400 responses: printable ASCII only. */
static void check_message(const char *err)
{
    size_t n = strlen(err);
    CHECK(n > 0);
    for (size_t i = 0; i < n; i++)
        CHECK(err[i] >= 0x20 && err[i] < 0x7f);
}

static void check_decode(bn_arena *a, bn_str in)
{
    bn_str out;
    if (!bn__percent_decode(a, in, true, &out)) {
        /* Only a '%' can make it fail. */
        CHECK(memchr(in.ptr, '%', in.len));
        return;
    }
    CHECK(out.len <= in.len && out.ptr[out.len] == '\0');
    /* Encoding every byte and decoding gives the bytes back. */
    char *enc = bn_arena_alloc(a, out.len * 3 + 1);
    for (size_t i = 0; i < out.len; i++)
        snprintf(enc + 3 * i, 4, "%%%02X", (unsigned char)out.ptr[i]);
    bn_str back;
    CHECK(bn__percent_decode(a, bn_str_make(enc, out.len * 3), false, &back));
    CHECK(bn_str_eq(back, out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    CHECK(buf);
    if (size)
        memcpy(buf, data, size);
    bn_str in = bn_str_make(buf, size);
    bn_arena a = BN_ARENA_INIT;

    char err[160] = "";
    bn_value *root = bn_value_object(&a);
    int r = bn__parse_urlencoded(&a, in, root, &limits, err, sizeof err);
    CHECK(r == 0 || r == -1);
    if (r == 0) {
        CHECK(err[0] == '\0');
        CHECK(check_tree(root) <= limits.max_depth + 2); /* root, name, then a level per segment */
        size_t pairs = 0;
        for (size_t i = 0; i < size; i++)
            pairs += buf[i] == '&';
        CHECK(leaves(root) <= pairs + 1);
    } else {
        check_message(err);
    }
    /* A tree that is merged into gets the same answer. */
    bn_value *again = bn_value_object(&a);
    bn_value_set(&a, again, "preset", bn_value_string(&a, BN_STR("x")));
    char err2[160] = "";
    CHECK(bn__parse_urlencoded(&a, in, again, &limits, err2, sizeof err2) == r);
    CHECK(strcmp(err, err2) == 0);

    check_decode(&a, in);

    /* The whole input as one key. */
    bn_value *keyed = bn_value_object(&a);
    char err3[160] = "";
    int k = bn__params_put(&a, keyed, in, bn_value_int(&a, 1), &limits, err3, sizeof err3);
    CHECK(k == 0 || k == 1 || k == -1);
    CHECK(k == 0 ? bn_value_len(keyed) == 1 : bn_value_len(keyed) == 0);
    if (k == -1)
        check_message(err3);

    bn_arena_destroy(&a);
    free(buf);
    return 0;
}
