/* Test helpers for value trees (see trees.h). */
#include "trees.h"

#include <criterion/criterion.h>

const char *bt_json(bn_arena *a, const bn_value *v)
{
    bn_buf b = BN_BUF_INIT;
    bn_json_encode(&b, v);
    char *s = bn_arena_strndup(a, b.data ? b.data : "", b.len);
    bn_buf_free(&b);
    return s;
}

bn_value *bt_tree(bn_arena *a, const char *json)
{
    bn_json_error e;
    bn_value *v = bn_json_parse(a, bn_str_from_cstr(json), &e);
    cr_assert(v, "bad expected JSON %s: %s", json, e.text);
    return v;
}
