/* Unit tests for the value tree (src/core/value.c): builders, readers, paths, equality. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "bennu/value.h"

static bn_arena A = BN_ARENA_INIT;
static void teardown(void) { bn_arena_destroy(&A); }
TestSuite(value, .fini = teardown);

Test(value, scalars)
{
    cr_assert(bn_value_is(bn_value_null(&A), BN_VALUE_NULL));
    bn_value *b = bn_value_bool(&A, true);
    cr_assert(bn_value_is(b, BN_VALUE_BOOL) && b->as.b);
    cr_assert_eq(bn_value_int(&A, -7)->as.i, -7);
    cr_assert_float_eq(bn_value_float(&A, 2.5)->as.f, 2.5, 0);
    cr_assert_not(bn_value_is(NULL, BN_VALUE_NULL));
}

Test(value, string_copies_and_terminates)
{
    char src[] = "hello world";
    bn_value *s = bn_value_string(&A, bn_str_make(src, 5));
    src[0] = 'J';
    bn_str got = bn_value_str(s);
    cr_assert_eq(got.len, 5);
    cr_assert_str_eq(got.ptr, "hello"); /* NUL-terminated copy */
    bn_value *r = bn_value_string_ref(&A, bn_str_make(src, 5));
    cr_assert_eq(bn_value_str(r).ptr, src);
    cr_assert(bn_str_eq(bn_value_str(r), BN_STR("Jello")));
    bn_value *e = bn_value_string(&A, BN_STR_NULL);
    cr_assert_eq(bn_value_str(e).len, 0);
    cr_assert_not_null(bn_value_str(e).ptr);
    cr_assert_null(bn_value_str(bn_value_int(&A, 1)).ptr);
}

Test(value, array_grows_past_many_doublings)
{
    bn_value *arr = bn_value_array(&A);
    for (int i = 0; i < 1000; i++)
        bn_value_push(&A, arr, bn_value_int(&A, i));
    cr_assert_eq(bn_value_len(arr), 1000);
    for (size_t i = 0; i < 1000; i++)
        cr_assert_eq(bn_value_at(arr, i)->as.i, (int64_t)i);
    cr_assert_null(bn_value_at(arr, 1000));
    cr_assert_null(bn_value_at(NULL, 0));
    bn_value_push(&A, arr, NULL);
    cr_assert(bn_value_is(bn_value_at(arr, 1000), BN_VALUE_NULL));
}

Test(value, object_set_replaces_and_keeps_order)
{
    bn_value *o = bn_value_object(&A);
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        bn_value_set(&A, o, key, bn_value_int(&A, i));
    }
    bn_value_set(&A, o, "k5", bn_value_string(&A, BN_STR("five")));
    cr_assert_eq(bn_value_len(o), 100);
    cr_assert(bn_str_eq(bn_value_str(bn_value_get(o, "k5")), BN_STR("five")));
    cr_assert(bn_str_eq(o->as.object.members[5].key, BN_STR("k5")));
    cr_assert(bn_str_eq(o->as.object.members[99].key, BN_STR("k99")));
    cr_assert_null(bn_value_get(o, "nope"));
    cr_assert_null(bn_value_get(NULL, "k1"));
    cr_assert_null(bn_value_get(bn_value_int(&A, 3), "k1"));
    /* Keys are copied: mutating the caller's buffer changes nothing. */
    snprintf(key, sizeof(key), "tmp");
    bn_value_set(&A, o, key, bn_value_bool(&A, false));
    key[0] = 'x';
    cr_assert_not_null(bn_value_get(o, "tmp"));
    /* Keys may hold any bytes, including NUL, through the bn_str variant. */
    bn_value_set_str(&A, o, bn_str_make("a\0b", 3), bn_value_int(&A, 9));
    cr_assert_eq(bn_value_get_str(o, bn_str_make("a\0b", 3))->as.i, 9);
    cr_assert_null(bn_value_get(o, "a"));
}

Test(value, path)
{
    bn_value *root = bn_value_object(&A);
    bn_value *user = bn_value_object(&A);
    bn_value *emails = bn_value_array(&A);
    bn_value_push(&A, emails, bn_value_string(&A, BN_STR("a@x")));
    bn_value_push(&A, emails, bn_value_string(&A, BN_STR("b@x")));
    bn_value_set(&A, user, "emails", emails);
    bn_value_set(&A, user, "0", bn_value_int(&A, 42));
    bn_value_set(&A, root, "user", user);

    cr_assert(bn_str_eq(bn_value_str(bn_value_path(root, "user.emails.1")), BN_STR("b@x")));
    cr_assert_eq(bn_value_path(root, "user.emails"), emails);
    cr_assert_eq(bn_value_path(root, "user.0")->as.i, 42); /* objects take digits as keys */
    cr_assert_eq(bn_value_path(root, ""), NULL);
    cr_assert_null(bn_value_path(root, "user.emails.2"));
    cr_assert_null(bn_value_path(root, "user.emails.x"));
    cr_assert_null(bn_value_path(root, "user.emails.-1"));
    cr_assert_null(bn_value_path(root, "user.emails.0.z"));
    cr_assert_null(bn_value_path(root, "user..emails"));
    cr_assert_null(bn_value_path(root, "user.emails."));
    cr_assert_null(bn_value_path(NULL, "user"));
    cr_assert_null(bn_value_path(root, NULL));
}

Test(value, to_int)
{
    int64_t n = 0;
    cr_assert(bn_value_to_int(bn_value_int(&A, -3), &n) && n == -3);
    cr_assert(bn_value_to_int(bn_value_float(&A, 12.0), &n) && n == 12);
    cr_assert(bn_value_to_int(bn_value_float(&A, -0.0), &n) && n == 0);
    cr_assert_not(bn_value_to_int(bn_value_float(&A, 1.5), &n));
    cr_assert_not(bn_value_to_int(bn_value_float(&A, 9223372036854775808.0), &n));
    cr_assert(bn_value_to_int(bn_value_float(&A, -9223372036854775808.0), &n) && n == INT64_MIN);
    cr_assert_not(bn_value_to_int(bn_value_float(&A, NAN), &n));
    cr_assert_not(bn_value_to_int(bn_value_float(&A, INFINITY), &n));
    cr_assert(bn_value_to_int(bn_value_string(&A, BN_STR("42")), &n) && n == 42);
    cr_assert(bn_value_to_int(bn_value_string(&A, BN_STR("+42")), &n) && n == 42);
    cr_assert(bn_value_to_int(bn_value_string(&A, BN_STR("-42")), &n) && n == -42);
    cr_assert(bn_value_to_int(bn_value_string(&A, BN_STR("9223372036854775807")), &n) && n == INT64_MAX);
    cr_assert(bn_value_to_int(bn_value_string(&A, BN_STR("-9223372036854775808")), &n) && n == INT64_MIN);
    n = 77;
    cr_assert_not(bn_value_to_int(bn_value_string(&A, BN_STR("9223372036854775808")), &n));
    cr_assert_not(bn_value_to_int(bn_value_string(&A, BN_STR("-9223372036854775809")), &n));
    cr_assert_not(bn_value_to_int(bn_value_string(&A, BN_STR("")), &n));
    cr_assert_not(bn_value_to_int(bn_value_string(&A, BN_STR("-")), &n));
    cr_assert_not(bn_value_to_int(bn_value_string(&A, BN_STR(" 1")), &n));
    cr_assert_not(bn_value_to_int(bn_value_string(&A, BN_STR("1.0")), &n));
    cr_assert_not(bn_value_to_int(bn_value_string(&A, BN_STR("0x10")), &n));
    cr_assert_not(bn_value_to_int(bn_value_string(&A, BN_STR("--1")), &n));
    cr_assert_eq(n, 77); /* untouched on failure */
    cr_assert_not(bn_value_to_int(bn_value_bool(&A, true), &n));
    cr_assert_not(bn_value_to_int(NULL, &n));
}

static bn_value *sample(bool reversed)
{
    bn_value *o = bn_value_object(&A);
    bn_value *arr = bn_value_array(&A);
    bn_value_push(&A, arr, bn_value_int(&A, 1));
    bn_value_push(&A, arr, bn_value_null(&A));
    if (reversed) {
        bn_value_set(&A, o, "b", arr);
        bn_value_set(&A, o, "a", bn_value_string(&A, BN_STR("x")));
    } else {
        bn_value_set(&A, o, "a", bn_value_string(&A, BN_STR("x")));
        bn_value_set(&A, o, "b", arr);
    }
    return o;
}

Test(value, equal)
{
    cr_assert(bn_value_equal(sample(false), sample(true)));
    cr_assert(bn_value_equal(NULL, NULL));
    cr_assert_not(bn_value_equal(NULL, bn_value_null(&A)));
    cr_assert_not(bn_value_equal(bn_value_int(&A, 1), bn_value_float(&A, 1.0))); /* types are strict */
    cr_assert_not(bn_value_equal(bn_value_string(&A, BN_STR("a")), bn_value_string(&A, BN_STR("ab"))));
    bn_value *x = sample(false), *y = sample(false);
    bn_value_push(&A, (bn_value *)bn_value_get(y, "b"), bn_value_int(&A, 2));
    cr_assert_not(bn_value_equal(x, y));
    bn_value *z = sample(false);
    bn_value_set(&A, z, "a", bn_value_string(&A, BN_STR("y")));
    cr_assert_not(bn_value_equal(x, z));
    bn_value *w = sample(false);
    bn_value_set(&A, w, "c", bn_value_null(&A));
    cr_assert_not(bn_value_equal(x, w));
    cr_assert_not(bn_value_equal(w, x));
    /* Same size, different key sets. */
    bn_value *p = bn_value_object(&A), *q = bn_value_object(&A);
    bn_value_set(&A, p, "a", bn_value_null(&A));
    bn_value_set(&A, q, "b", bn_value_null(&A));
    cr_assert_not(bn_value_equal(p, q));
}

/* A deep copy lives in its own arena: equal to the original, sharing nothing with it. */
Test(value, copy_is_deep_and_outlives_the_original)
{
    bn_arena src = BN_ARENA_INIT;
    bn_json_error err;
    bn_value *v = bn_json_parse(&src, BN_STR("{\"a\":[1,2.5,\"x\",null,true],\"b\":{\"c\":\"d\"}}"), &err);
    cr_assert_not_null(v);
    bn_value *c = bn_value_copy(&A, v);
    cr_assert(bn_value_equal(v, c));
    cr_assert_neq(bn_value_str(bn_value_path(c, "b.c")).ptr, bn_value_str(bn_value_path(v, "b.c")).ptr);
    bn_arena_destroy(&src); /* the copy does not point into it (ASan would say) */
    cr_assert_str_eq(bn_value_str(bn_value_path(c, "a.2")).ptr, "x");
    cr_assert(bn_value_is(bn_value_copy(&A, NULL), BN_VALUE_NULL));
}
