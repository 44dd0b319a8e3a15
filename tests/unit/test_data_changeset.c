/*
 * Changesets: casting params of every type (good, bad, boundaries), the
 * validations and their messages, errors, apply/input for forms, the hooks
 * the Repo calls, params from real request bodies through the web layer,
 * and constraint errors from real inserts.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bennu.h>

#include "bennu/data.h"
#include "bennu/testing.h"
#include "data/data_internal.h"
#include "harness.h"

/* ---- schemas ------------------------------------------------------------------- */

#define ITEM_SCHEMA(FIELD, ASSOC)                                                                                 \
    FIELD(id, ID)                                                                                                 \
    FIELD(name, STRING)                                                                                           \
    FIELD(bio, TEXT)                                                                                              \
    FIELD(age, INTEGER)                                                                                           \
    FIELD(big, BIGINT)                                                                                            \
    FIELD(score, FLOAT)                                                                                           \
    FIELD(active, BOOLEAN)                                                                                        \
    FIELD(price, DECIMAL)                                                                                         \
    FIELD(born, DATE)                                                                                             \
    FIELD(seen_at, UTC_DATETIME)                                                                                  \
    FIELD(token, UUID)                                                                                            \
    FIELD(meta, JSON)                                                                                             \
    FIELD(blob, BINARY)                                                                                           \
    FIELD(password, STRING, .virtual_field = true)
BN_SCHEMA_DECLARE(item, ITEM_SCHEMA)
BN_SCHEMA_DEFINE(item, "items", ITEM_SCHEMA)

/* ---- helpers ------------------------------------------------------------------- */

static bn_arena A;

static void setup(void) { A = (bn_arena)BN_ARENA_INIT; }
static void teardown(void) { bn_arena_destroy(&A); }

TestSuite(changeset, .init = setup, .fini = teardown, .timeout = 30);

static const char *const ALL[] = {"name", "bio",  "age",  "big",  "score", "active",   "price",
                                  "born", "seen_at", "token", "meta", "blob", "password", NULL};

/* Params from JSON text, parsed as a real JSON body would be. */
static const bn_value *json(const char *text)
{
    bn_json_error e;
    bn_value *v = bn_json_parse(&A, bn_str_from_cstr(text), &e);
    cr_assert_not_null(v, "bad JSON in the test: %s: %s", text, e.text);
    return v;
}

/* A changeset of a new item from {"<field>": <json value>}. */
static bn_changeset *cast1(const char *field, const char *value_json)
{
    bn_value *p = bn_value_object(&A);
    bn_value_set(&A, p, field, (bn_value *)json(value_json));
    return bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
}

static const char *first_error(const bn_changeset *cs, const char *field)
{
    const char *const *e = bn_changeset_errors(cs, field);
    return e ? e[0] : NULL;
}

static size_t nerrors(const bn_changeset *cs, const char *field)
{
    const char *const *e = bn_changeset_errors(cs, field);
    size_t n = 0;
    while (e && e[n])
        n++;
    return n;
}

static bn_db_value change_of(const bn_changeset *cs, const char *field)
{
    bn_db_value v = {.type = (bn_type)-1};
    cr_assert(bn_changeset_change(cs, field, &v), "%s did not change", field);
    return v;
}

static bool str_is(bn_str s, const char *want) { return bn_str_eq(s, bn_str_from_cstr(want)); }

#define expect_input(cs, field, want)                                                                          \
    do {                                                                                                       \
        bn_str in_ = bn_changeset_input((cs), (field));                                                        \
        cr_expect(str_is(in_, (want)), "input of %s: \"%.*s\", want \"%s\"", (field), BN_STR_ARG(in_), (want)); \
    } while (0)

/* The cast of one param must fail with "is invalid" and keep the raw text. */
static void expect_invalid(const char *field, const char *value_json)
{
    bn_changeset *cs = cast1(field, value_json);
    cr_expect_not(bn_changeset_valid(cs), "%s=%s should not cast", field, value_json);
    cr_expect_str_eq(first_error(cs, field) ? first_error(cs, field) : "(none)", "is invalid", "%s=%s", field,
                     value_json);
    cr_expect_not(bn_changeset_change(cs, field, NULL), "%s=%s made a change", field, value_json);
}

/* An existing item: Ada, 30, active, price 12.5. */
static item existing(void)
{
    item it = {0};
    it.id = 7;
    it.name = "Ada";
    it.age = 30;
    it.active = true;
    it.price = "12.5";
    it.score = 1.5;
    it.born = (bn_date){1990, 12, 10};
    /* NULL pointers (bio, token, ...) read as NULL; big is NULL by its bit. */
    it.bn_nulls = UINT64_C(1) << 4;
    return it;
}

/* ---- casting: strings ------------------------------------------------------------ */

Test(changeset, cast_string_as_is)
{
    bn_changeset *cs = cast1("name", "\"Zoë Ada\"");
    cr_expect(bn_changeset_valid(cs));
    bn_db_value v = change_of(cs, "name");
    cr_expect_eq(v.type, BN_TYPE_STRING);
    cr_expect(str_is(v.u.s, "Zoë Ada"));
    cr_expect_eq(v.u.s.ptr[v.u.s.len], '\0', "string changes are C strings");
    cs = cast1("bio", "\"  spaces kept  \"");
    cr_expect(str_is(change_of(cs, "bio").u.s, "  spaces kept  "));
}

Test(changeset, cast_string_rejects_invalid_utf8)
{
    bn_value *p = bn_value_object(&A);
    bn_value_set(&A, p, "name", bn_value_string(&A, BN_STR("ab\xff")));
    bn_value_set(&A, p, "bio", bn_value_string(&A, BN_STR("\xc3\x28")));          /* bad continuation */
    bn_value_set(&A, p, "blob", bn_value_string(&A, BN_STR("\xff\xfe")));          /* binary: fine */
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    cr_expect_str_eq(first_error(cs, "name"), "is invalid");
    cr_expect_str_eq(first_error(cs, "bio"), "is invalid");
    cr_expect_null(bn_changeset_errors(cs, "blob"));
    cr_expect(bn_str_eq(change_of(cs, "blob").u.s, BN_STR("\xff\xfe")));
    /* Overlong and surrogate encodings are invalid too. */
    bn_value_set(&A, p, "name", bn_value_string(&A, BN_STR("\xc0\xaf")));
    bn_value_set(&A, p, "bio", bn_value_string(&A, BN_STR("\xed\xa0\x80")));
    cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    cr_expect_str_eq(first_error(cs, "name"), "is invalid");
    cr_expect_str_eq(first_error(cs, "bio"), "is invalid");
}

Test(changeset, cast_nul_byte_rejected_for_strings_kept_for_binary)
{
    const bn_value *p = json("{\"name\":\"a\\u0000b\",\"blob\":\"a\\u0000b\"}");
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    cr_expect_str_eq(first_error(cs, "name"), "is invalid", "a C string cannot hold a NUL byte");
    bn_db_value v = change_of(cs, "blob");
    cr_expect_eq(v.type, BN_TYPE_BINARY);
    cr_expect_eq(v.u.s.len, 3);
    cr_expect(bn_str_eq(v.u.s, BN_STR("a\0b")));
}

Test(changeset, cast_wrong_json_shape_is_invalid)
{
    expect_invalid("name", "{\"a\":1}");
    expect_invalid("name", "[\"a\"]");
    expect_invalid("name", "42");
    expect_invalid("name", "true");
    expect_invalid("age", "{\"a\":1}");
    expect_invalid("age", "[1]");
    expect_invalid("age", "true");
    expect_invalid("score", "[1.5]");
    expect_invalid("active", "{}");
    expect_invalid("price", "[]");
    expect_invalid("born", "20240101");
    expect_invalid("seen_at", "{}");
    expect_invalid("token", "1");
    expect_invalid("blob", "[1,2]");
}

/* ---- casting: numbers ----------------------------------------------------------------- */

Test(changeset, cast_integer)
{
    cr_expect_eq(change_of(cast1("age", "\"42\""), "age").u.i, 42);
    cr_expect_eq(change_of(cast1("age", "\"-7\""), "age").u.i, -7);
    cr_expect_eq(change_of(cast1("age", "\"+5\""), "age").u.i, 5);
    cr_expect_eq(change_of(cast1("age", "42"), "age").u.i, 42, "a JSON number");
    cr_expect_eq(change_of(cast1("age", "\"007\""), "age").u.i, 7);
    cr_expect_eq(change_of(cast1("age", "42"), "age").type, BN_TYPE_INTEGER);
    cr_expect_eq(change_of(cast1("big", "\"9223372036854775807\""), "big").u.i, INT64_MAX);
    cr_expect_eq(change_of(cast1("big", "\"-9223372036854775808\""), "big").u.i, INT64_MIN);
    cr_expect_eq(change_of(cast1("big", "-9223372036854775808"), "big").u.i, INT64_MIN);
    cr_expect_eq(change_of(cast1("big", "\"-9223372036854775808\""), "big").type, BN_TYPE_BIGINT);
}

Test(changeset, cast_integer_rejects_overflow_junk_and_spaces)
{
    expect_invalid("big", "\"9223372036854775808\"");
    expect_invalid("big", "\"-9223372036854775809\"");
    expect_invalid("big", "\"99999999999999999999999\"");
    expect_invalid("age", "\"12abc\"");
    expect_invalid("age", "\" 12\"");
    expect_invalid("age", "\"12 \"");
    expect_invalid("age", "\"1.0\"");
    expect_invalid("age", "\"1e3\"");
    expect_invalid("age", "\"-\"");
    expect_invalid("age", "\"+\"");
    expect_invalid("age", "\"0x10\"");
    expect_invalid("age", "1.5");
    expect_invalid("age", "1e3"); /* a JSON float, as Ecto's :integer refuses */
}

Test(changeset, cast_float)
{
    cr_expect_float_eq(change_of(cast1("score", "\"1.5\""), "score").u.f, 1.5, 0);
    cr_expect_float_eq(change_of(cast1("score", "\"1e3\""), "score").u.f, 1000.0, 0);
    cr_expect_float_eq(change_of(cast1("score", "\"-2.5E-1\""), "score").u.f, -0.25, 0);
    cr_expect_float_eq(change_of(cast1("score", "\"7\""), "score").u.f, 7.0, 0);
    cr_expect_float_eq(change_of(cast1("score", "3"), "score").u.f, 3.0, 0, "a JSON integer");
    cr_expect_float_eq(change_of(cast1("score", "2.25"), "score").u.f, 2.25, 0);
    cr_expect_float_eq(change_of(cast1("score", "1e3"), "score").u.f, 1000.0, 0);
    cr_expect_eq(change_of(cast1("score", "2.25"), "score").type, BN_TYPE_FLOAT);
}

Test(changeset, cast_float_rejects)
{
    const char *bad[] = {"\"abc\"", "\".5\"", "\"5.\"", "\"inf\"", "\"nan\"", "\"1e999\"", "\"0x10\"", "\" 1.5\"",
                         "\"1.5x\"", "\"1e\"", "\"1,5\"", "true"};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++)
        expect_invalid("score", bad[i]);
}

Test(changeset, cast_boolean_as_phoenix_checkboxes_send)
{
    const char *yes[] = {"\"true\"", "\"1\"", "\"on\"", "true"};
    const char *no[] = {"\"false\"", "\"0\"", "\"off\"", "false"};
    item it = existing();
    for (size_t i = 0; i < 4; i++) {
        /* new record: NULL -> true/false are both changes */
        bn_db_value v = change_of(cast1("active", yes[i]), "active");
        cr_expect_eq(v.type, BN_TYPE_BOOLEAN);
        cr_expect(v.u.b, "%s", yes[i]);
        cr_expect_not(change_of(cast1("active", no[i]), "active").u.b, "%s", no[i]);
        /* existing active item: "on" is no change, "off" is */
        bn_value *p = bn_value_object(&A);
        bn_value_set(&A, p, "active", (bn_value *)json(yes[i]));
        cr_expect_not(bn_changeset_change(bn_changeset_cast(&A, &item_schema, &it, p, ALL), "active", NULL));
    }
    const char *bad[] = {"\"yes\"", "\"TRUE\"", "\"2\"", "1", "0", "\"true \""};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++)
        expect_invalid("active", bad[i]);
}

Test(changeset, cast_decimal_kept_as_text)
{
    bn_db_value v = change_of(cast1("price", "\"12.50\""), "price");
    cr_expect_eq(v.type, BN_TYPE_DECIMAL);
    cr_expect(str_is(v.u.s, "12.50"), "the text as typed, never a double");
    cr_expect(str_is(change_of(cast1("price", "\"-0.5\""), "price").u.s, "-0.5"));
    cr_expect(str_is(change_of(cast1("price", "\".5\""), "price").u.s, ".5"));
    cr_expect(str_is(change_of(cast1("price", "\"1e3\""), "price").u.s, "1e3"));
    cr_expect(str_is(change_of(cast1("price", "\"123456789012345678901234567890.123\""), "price").u.s,
                     "123456789012345678901234567890.123"),
              "beyond a double's precision");
    cr_expect(str_is(change_of(cast1("price", "12"), "price").u.s, "12"));
    cr_expect(str_is(change_of(cast1("price", "1.25"), "price").u.s, "1.25"));
    const char *bad[] = {"\"12,5\"", "\"abc\"", "\"1.2.3\"", "\"NaN\"", "\"Infinity\"", "\".\"", "\" 1\"", "\"1e\"",
                         "\"$5\"", "true"};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++)
        expect_invalid("price", bad[i]);
}

Test(changeset, decimal_equal_by_value_is_no_change)
{
    item it = existing(); /* price "12.5" */
    const char *same[] = {"\"12.50\"", "\"12.5\"", "\"+12.500\"", "\"1.25e1\"", "\"0012.5\"", "12.5"};
    for (size_t i = 0; i < BN_ARRAY_LEN(same); i++) {
        bn_value *p = bn_value_object(&A);
        bn_value_set(&A, p, "price", (bn_value *)json(same[i]));
        bn_changeset *cs = bn_changeset_cast(&A, &item_schema, &it, p, ALL);
        cr_expect_not(bn_changeset_change(cs, "price", NULL), "%s equals 12.5", same[i]);
    }
    const char *other[] = {"\"12.51\"", "\"-12.5\"", "\"125\"", "\"1.25\""};
    for (size_t i = 0; i < BN_ARRAY_LEN(other); i++) {
        bn_value *p = bn_value_object(&A);
        bn_value_set(&A, p, "price", (bn_value *)json(other[i]));
        bn_changeset *cs = bn_changeset_cast(&A, &item_schema, &it, p, ALL);
        cr_expect(bn_changeset_change(cs, "price", NULL), "%s differs from 12.5", other[i]);
    }
}

/* ---- casting: dates, uuids, json, binary ------------------------------------------------- */

Test(changeset, cast_date)
{
    bn_db_value v = change_of(cast1("born", "\"2024-02-29\""), "born");
    cr_expect_eq(v.type, BN_TYPE_DATE);
    cr_expect_eq(v.u.date.year, 2024);
    cr_expect_eq(v.u.date.month, 2);
    cr_expect_eq(v.u.date.day, 29);
    expect_invalid("born", "\"2023-02-29\"");
    expect_invalid("born", "\"2024-1-5\"");
    expect_invalid("born", "\"2024-13-01\"");
    expect_invalid("born", "\"yesterday\"");
}

Test(changeset, cast_utc_datetime)
{
    bn_db_value v = change_of(cast1("seen_at", "\"2024-01-31T12:00:00Z\""), "seen_at");
    cr_expect_eq(v.type, BN_TYPE_UTC_DATETIME);
    cr_expect_eq(v.u.t, INT64_C(1706702400) * 1000000);
    v = change_of(cast1("seen_at", "\"2024-01-31 12:00:00.250000+00:00\""), "seen_at");
    cr_expect_eq(v.u.t, INT64_C(1706702400) * 1000000 + 250000);
    expect_invalid("seen_at", "\"2024-01-31\"");
    expect_invalid("seen_at", "\"2024-01-31T25:00:00Z\"");
    expect_invalid("seen_at", "\"noon\"");
}

Test(changeset, cast_uuid_lower_cased)
{
    bn_db_value v = change_of(cast1("token", "\"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11\""), "token");
    cr_expect_eq(v.type, BN_TYPE_UUID);
    cr_expect(str_is(v.u.s, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    expect_invalid("token", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1\"");   /* 35 */
    expect_invalid("token", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111\""); /* 37 */
    expect_invalid("token", "\"a0eebc99x9c0b-4ef8-bb6d-6bb9bd380a11\"");  /* dash misplaced */
    expect_invalid("token", "\"g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");  /* not hex */
    expect_invalid("token", "\"a0eebc999c0b4ef8bb6d6bb9bd380a11\"");      /* no dashes */
}

Test(changeset, cast_json_keeps_the_tree_in_the_changeset_arena)
{
    bn_arena params_arena = BN_ARENA_INIT;
    bn_json_error e;
    bn_value *p = bn_json_parse(&params_arena, BN_STR("{\"meta\":{\"tags\":[\"a\",\"b\"],\"n\":1},\"name\":\"x\"}"), &e);
    cr_assert_not_null(p);
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    bn_arena_destroy(&params_arena); /* the changeset must not point into it */
    bn_db_value v = change_of(cs, "meta");
    cr_expect_eq(v.type, BN_TYPE_JSON);
    cr_expect(bn_value_equal(v.u.json, json("{\"n\":1,\"tags\":[\"a\",\"b\"]}")));
    cr_expect(str_is(change_of(cs, "name").u.s, "x"));
    /* any JSON value goes, a string included */
    cr_expect(bn_value_equal(change_of(cast1("meta", "[1,2]"), "meta").u.json, json("[1,2]")));
    cr_expect(bn_value_equal(change_of(cast1("meta", "\"s\""), "meta").u.json, json("\"s\"")));
    cr_expect(bn_value_equal(change_of(cast1("meta", "false"), "meta").u.json, json("false")));
}

Test(changeset, cast_binary_bytes)
{
    bn_value *p = bn_value_object(&A);
    bn_value_set(&A, p, "blob", bn_value_string(&A, BN_STR("\x00\x01\xff")));
    bn_db_value v = change_of(bn_changeset_cast(&A, &item_schema, NULL, p, ALL), "blob");
    cr_expect_eq(v.type, BN_TYPE_BINARY);
    cr_expect(bn_str_eq(v.u.s, BN_STR("\x00\x01\xff")));
}

/* ---- casting: NULL, no-change, permitted ---------------------------------------------------- */

Test(changeset, empty_string_and_null_are_null)
{
    /* A new record has nothing: "" and null are no change. */
    bn_changeset *cs = cast1("age", "\"\"");
    cr_expect(bn_changeset_valid(cs));
    cr_expect_not(bn_changeset_change(cs, "age", NULL));
    cr_expect_not(bn_changeset_change(cast1("name", "null"), "name", NULL));
    cr_expect_not(bn_changeset_change(cast1("token", "\"\""), "token", NULL), "\"\" is NULL for every type");

    /* An existing value: "" is a change to NULL. */
    item it = existing();
    const bn_value *p = json("{\"name\":\"\",\"age\":null,\"bio\":\"\",\"born\":\"\"}");
    cs = bn_changeset_cast(&A, &item_schema, &it, p, ALL);
    cr_expect(bn_changeset_valid(cs));
    cr_expect_eq(change_of(cs, "name").type, BN_TYPE_NULL);
    cr_expect_eq(change_of(cs, "age").type, BN_TYPE_NULL);
    cr_expect_eq(change_of(cs, "born").type, BN_TYPE_NULL);
    cr_expect_not(bn_changeset_change(cs, "bio", NULL), "bio was NULL already");
}

Test(changeset, equal_value_is_no_change)
{
    item it = existing();
    const bn_value *p = json("{\"name\":\"Ada\",\"age\":\"30\",\"score\":\"1.50\",\"born\":\"1990-12-10\","
                             "\"active\":\"true\"}");
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, &it, p, ALL);
    const size_t *fields;
    const bn_db_value *values;
    cr_expect_eq(bn__changeset_changes(cs, &fields, &values), 0);
    p = json("{\"name\":\"Ada L.\",\"age\":31}");
    cs = bn_changeset_cast(&A, &item_schema, &it, p, ALL);
    cr_expect(str_is(change_of(cs, "name").u.s, "Ada L."));
    cr_expect_eq(change_of(cs, "age").u.i, 31);
}

Test(changeset, only_permitted_fields_are_cast)
{
    const bn_value *p = json("{\"name\":\"Ada\",\"age\":\"nope\",\"id\":\"99\",\"is_admin\":\"true\"}");
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, p, BN_FIELDS("name"));
    cr_expect(bn_changeset_valid(cs), "age is not permitted, so its bad value does not matter");
    cr_expect(bn_changeset_change(cs, "name", NULL));
    cr_expect_not(bn_changeset_change(cs, "age", NULL));
    cr_expect_not(bn_changeset_change(cs, "id", NULL));
}

Test(changeset, params_keys_compared_as_strings)
{
    /* A key with the field's name as a prefix, or differing in case, is not the field. */
    const bn_value *p = json("{\"nam\":\"x\",\"Name\":\"y\",\"name \":\"z\"}");
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    cr_expect_not(bn_changeset_change(cs, "name", NULL));
}

Test(changeset, no_params_and_non_object_params)
{
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, NULL, ALL);
    cr_expect(bn_changeset_valid(cs));
    cr_expect_not(bn_changeset_change(cs, "name", NULL));
    cs = bn_changeset_cast(&A, &item_schema, NULL, json("\"user\""), ALL);
    cr_expect_not(bn_changeset_valid(cs), "user=foo is not a params object");
    cr_expect_str_eq(first_error(cs, ""), "is invalid");
}

Test(changeset, unknown_permitted_field_is_fatal, .signal = SIGABRT)
{
    bn_changeset_cast(&A, &item_schema, NULL, NULL, BN_FIELDS("name", "nickname"));
}

/* ---- put ----------------------------------------------------------------------------------- */

Test(changeset, put_converts_c_values_and_skips_equal_ones)
{
    item it = existing();
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, &it, NULL, NULL);
    bn_changeset_put(cs, "age", BN_DB(30));
    cr_expect_not(bn_changeset_change(cs, "age", NULL), "30 is the data's value");
    bn_changeset_put(cs, "age", BN_DB(31));
    bn_db_value v = change_of(cs, "age");
    cr_expect_eq(v.type, BN_TYPE_INTEGER, "the field's type, whatever BN_DB made");
    cr_expect_eq(v.u.i, 31);
    bn_changeset_put(cs, "age", BN_DB(30));
    cr_expect_not(bn_changeset_change(cs, "age", NULL), "back to the data's value: no change");

    char name[] = "Grace";
    bn_changeset_put(cs, "name", BN_DB(name));
    name[0] = 'X';
    cr_expect(str_is(change_of(cs, "name").u.s, "Grace"), "put copies strings");
    bn_changeset_put(cs, "score", BN_DB(2));
    cr_expect_float_eq(change_of(cs, "score").u.f, 2.0, 0);
    bn_changeset_put(cs, "bio", BN_DB_NULL);
    cr_expect_not(bn_changeset_change(cs, "bio", NULL), "bio was NULL");
    bn_changeset_put(cs, "price", BN_DB((const char *)NULL));
    cr_expect_eq(change_of(cs, "price").type, BN_TYPE_NULL);
    bn_changeset_put(cs, "seen_at", (bn_db_value){.type = BN_TYPE_UTC_DATETIME, .u.t = 5});
    cr_expect_eq(change_of(cs, "seen_at").u.t, 5);
    bn_changeset_put(cs, "blob", bn_db_bytes(BN_STR("a\0b")));
    cr_expect(bn_str_eq(change_of(cs, "blob").u.s, BN_STR("a\0b")));
    cr_expect(bn_changeset_valid(cs));
}

Test(changeset, put_of_the_wrong_type_is_fatal, .signal = SIGABRT)
{
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, NULL, NULL);
    bn_changeset_put(cs, "age", BN_DB("12"));
}

Test(changeset, put_of_an_unknown_field_is_fatal, .signal = SIGABRT)
{
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, NULL, NULL);
    bn_changeset_put(cs, "nickname", BN_DB("x"));
}

/* ---- errors ---------------------------------------------------------------------------------- */

Test(changeset, errors_per_field_in_order_base_under_empty_name)
{
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, NULL, NULL);
    cr_expect(bn_changeset_valid(cs));
    cr_expect_null(bn_changeset_errors(cs, "name"));
    char msg[32] = "first";
    bn_changeset_add_error(cs, "name", msg);
    strcpy(msg, "changed");
    bn_changeset_add_error(cs, "name", "second");
    bn_changeset_add_error(cs, "", "the whole thing");
    bn_changeset_add_error(cs, "terms", "must be accepted"); /* not a field: fine */
    for (int i = 0; i < 10; i++)
        bn_changeset_add_error(cs, "age", "again"); /* the list grows */
    cr_expect_not(bn_changeset_valid(cs));
    const char *const *e = bn_changeset_errors(cs, "name");
    cr_assert_not_null(e);
    cr_expect_str_eq(e[0], "first", "messages are copied");
    cr_expect_str_eq(e[1], "second");
    cr_expect_null(e[2]);
    cr_expect_str_eq(first_error(cs, ""), "the whole thing");
    cr_expect_str_eq(first_error(cs, "terms"), "must be accepted");
    cr_expect_eq(nerrors(cs, "age"), 10);
    cr_expect_null(bn_changeset_errors(cs, "bio"));
}

/* ---- validate_required -------------------------------------------------------------------------- */

Test(changeset, validate_required)
{
    const bn_value *p = json("{\"name\":\" \\t\\n \",\"bio\":\"hi\",\"age\":\"\"}");
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    bn_validate_required(cs, BN_FIELDS("name", "bio", "age", "score"));
    cr_expect_str_eq(first_error(cs, "name"), "can't be blank", "only whitespace is blank");
    cr_expect_null(bn_changeset_errors(cs, "bio"));
    cr_expect_str_eq(first_error(cs, "age"), "can't be blank", "\"\" cast to NULL");
    cr_expect_str_eq(first_error(cs, "score"), "can't be blank", "a new record has nothing");
}

Test(changeset, validate_required_looks_at_data_and_changes)
{
    item it = existing();
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, &it, json("{\"age\":\"\"}"), ALL);
    bn_validate_required(cs, BN_FIELDS("name", "age", "active"));
    cr_expect_null(bn_changeset_errors(cs, "name"), "the data has a name");
    cr_expect_str_eq(first_error(cs, "age"), "can't be blank", "changed to NULL");
    cr_expect_null(bn_changeset_errors(cs, "active"), "false would not be blank either");
    cs = bn_changeset_cast(&A, &item_schema, &it, NULL, NULL);
    bn_changeset_put(cs, "name", BN_DB("   "));
    bn_validate_required(cs, BN_FIELDS("name"));
    cr_expect_str_eq(first_error(cs, "name"), "can't be blank");
}

Test(changeset, validate_required_skips_fields_with_errors)
{
    bn_changeset *cs = cast1("age", "\"12abc\"");
    bn_validate_required(cs, BN_FIELDS("age"));
    cr_expect_eq(nerrors(cs, "age"), 1);
    cr_expect_str_eq(first_error(cs, "age"), "is invalid");
}

Test(changeset, validate_required_unknown_field_is_fatal, .signal = SIGABRT)
{
    bn_validate_required(bn_changeset_cast(&A, &item_schema, NULL, NULL, NULL), BN_FIELDS("nickname"));
}

/* ---- validate_length ------------------------------------------------------------------------------ */

static bn_changeset *name_cs(const char *name)
{
    bn_value *p = bn_value_object(&A);
    bn_value_set(&A, p, "name", bn_value_string(&A, bn_str_from_cstr(name)));
    return bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
}

Test(changeset, validate_length_counts_characters)
{
    bn_changeset *cs = name_cs("Zoë");
    bn_validate_length(cs, "name", (bn_length_opts){.min = 3, .max = 3});
    cr_expect(bn_changeset_valid(cs), "Zoë is 3 characters (4 bytes)");
    cs = name_cs("Zo");
    bn_validate_length(cs, "name", (bn_length_opts){.min = 3});
    cr_expect_str_eq(first_error(cs, "name"), "should be at least 3 character(s)");
    cs = name_cs("Zoë Ada");
    bn_validate_length(cs, "name", (bn_length_opts){.max = 6});
    cr_expect_str_eq(first_error(cs, "name"), "should be at most 6 character(s)");
    cs = name_cs("日本語");
    bn_validate_length(cs, "name", (bn_length_opts){.is = 3});
    cr_expect(bn_changeset_valid(cs));
    cs = name_cs("日本");
    bn_validate_length(cs, "name", (bn_length_opts){.is = 3, .min = 10});
    cr_expect_eq(nerrors(cs, "name"), 1, "one length error at most");
    cr_expect_str_eq(first_error(cs, "name"), "should be 3 character(s)");
    cs = name_cs("abcdef");
    bn_validate_length(cs, "name", (bn_length_opts){.min = 6, .max = 6});
    cr_expect(bn_changeset_valid(cs), "bounds are inclusive");
}

Test(changeset, validate_length_of_binaries_and_json)
{
    bn_changeset *cs = cast1("blob", "\"ë\"");
    bn_validate_length(cs, "blob", (bn_length_opts){.max = 1});
    cr_expect_str_eq(first_error(cs, "blob"), "should be at most 1 byte(s)");
    cs = cast1("meta", "[1,2,3]");
    bn_validate_length(cs, "meta", (bn_length_opts){.max = 2});
    cr_expect_str_eq(first_error(cs, "meta"), "should have at most 2 item(s)");
    cs = cast1("meta", "{\"a\":1}");
    bn_validate_length(cs, "meta", (bn_length_opts){.min = 2});
    cr_expect_str_eq(first_error(cs, "meta"), "should have at least 2 item(s)");
}

Test(changeset, validate_length_only_on_changes)
{
    item it = existing(); /* name "Ada" */
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, &it, json("{\"name\":\"Ada\"}"), ALL);
    bn_validate_length(cs, "name", (bn_length_opts){.min = 5});
    cr_expect(bn_changeset_valid(cs), "Ecto validates changes, not the data");
    cs = bn_changeset_cast(&A, &item_schema, &it, json("{\"name\":\"\"}"), ALL);
    bn_validate_length(cs, "name", (bn_length_opts){.min = 5});
    cr_expect(bn_changeset_valid(cs), "a change to NULL has no length (validate_required's business)");
}

Test(changeset, validate_length_of_a_number_is_fatal, .signal = SIGABRT)
{
    bn_validate_length(cast1("age", "1"), "age", (bn_length_opts){.min = 1});
}

/* ---- validate_format ---------------------------------------------------------------------------------- */

Test(changeset, validate_format)
{
    bn_changeset *cs = name_cs("ada@example.com");
    bn_validate_format(cs, "name", "^[^@[:space:]]+@[^@[:space:]]+$", NULL);
    cr_expect(bn_changeset_valid(cs));
    cs = name_cs("ada at example.com");
    bn_validate_format(cs, "name", "^[^@[:space:]]+@[^@[:space:]]+$", NULL);
    cr_expect_str_eq(first_error(cs, "name"), "has invalid format");
    cs = name_cs("abc");
    char msg[] = "must be digits";
    bn_validate_format(cs, "name", "^[0-9]+$", msg);
    msg[0] = 'X';
    cr_expect_str_eq(first_error(cs, "name"), "must be digits");
    cs = name_cs("a123b");
    bn_validate_format(cs, "name", "[0-9]+", NULL);
    cr_expect(bn_changeset_valid(cs), "unanchored: a match anywhere");
}

Test(changeset, validate_format_of_binaries_sees_every_byte)
{
    const bn_value *p = json("{\"blob\":\"ab\\u0000cd\"}");
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    bn_validate_format(cs, "blob", "cd$", NULL);
    cr_expect(bn_changeset_valid(cs), "the bytes after the NUL count");
}

Test(changeset, validate_format_bad_regex_is_fatal, .signal = SIGABRT)
{
    bn_validate_format(name_cs("x"), "name", "([a-z", NULL);
}

/* ---- validate_number ----------------------------------------------------------------------------------- */

static bn_changeset *age_cs(const char *age)
{
    bn_value *p = bn_value_object(&A);
    bn_value_set(&A, p, "age", bn_value_string(&A, bn_str_from_cstr(age)));
    bn_value_set(&A, p, "score", bn_value_string(&A, bn_str_from_cstr(age)));
    bn_value_set(&A, p, "price", bn_value_string(&A, bn_str_from_cstr(age)));
    return bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
}

Test(changeset, validate_number_bounds_and_messages)
{
    bn_changeset *cs = age_cs("17");
    bn_validate_number(cs, "age", (bn_number_opts){.has_min = true, .min = 18});
    cr_expect_str_eq(first_error(cs, "age"), "must be greater than or equal to 18");
    cs = age_cs("18");
    bn_validate_number(cs, "age", (bn_number_opts){.has_min = true, .min = 18, .has_max = true, .max = 18});
    cr_expect(bn_changeset_valid(cs), "inclusive bounds");
    cs = age_cs("121");
    bn_validate_number(cs, "age", (bn_number_opts){.has_max = true, .max = 120});
    cr_expect_str_eq(first_error(cs, "age"), "must be less than or equal to 120");
    cs = age_cs("0");
    bn_validate_number(cs, "age", (bn_number_opts){.has_gt = true, .gt = 0});
    cr_expect_str_eq(first_error(cs, "age"), "must be greater than 0");
    cs = age_cs("10");
    bn_validate_number(cs, "age", (bn_number_opts){.has_lt = true, .lt = 10});
    cr_expect_str_eq(first_error(cs, "age"), "must be less than 10");
    cs = age_cs("-5");
    bn_validate_number(cs, "age", (bn_number_opts){.has_gt = true, .gt = -3, .has_min = true, .min = 0});
    cr_expect_eq(nerrors(cs, "age"), 1, "the first failure only");
    cr_expect_str_eq(first_error(cs, "age"), "must be greater than -3");
}

Test(changeset, validate_number_of_floats_and_decimals)
{
    bn_changeset *cs = age_cs("0.25");
    bn_validate_number(cs, "score", (bn_number_opts){.has_min = true, .min = 0.5});
    cr_expect_str_eq(first_error(cs, "score"), "must be greater than or equal to 0.5");
    bn_validate_number(cs, "price", (bn_number_opts){.has_gt = true, .gt = 0.1, .has_lt = true, .lt = 0.3});
    cr_expect_null(bn_changeset_errors(cs, "price"));
    bn_validate_number(cs, "price", (bn_number_opts){.has_max = true, .max = 0.2});
    cr_expect_str_eq(first_error(cs, "price"), "must be less than or equal to 0.2");
    cs = age_cs("1e3");
    bn_validate_number(cs, "score", (bn_number_opts){.has_max = true, .max = 1000});
    bn_validate_number(cs, "price", (bn_number_opts){.has_min = true, .min = 1000});
    cr_expect_null(bn_changeset_errors(cs, "score"));
    cr_expect_null(bn_changeset_errors(cs, "price"));
    cs = age_cs("1e3");
    bn_validate_number(cs, "score", (bn_number_opts){.has_lt = true, .lt = 1e3});
    cr_expect_str_eq(first_error(cs, "score"), "must be less than 1000");
    cs = age_cs("1");
    bn_validate_number(cs, "score", (bn_number_opts){.has_gt = true, .gt = 1e20});
    cr_expect_str_eq(first_error(cs, "score"), "must be greater than 1e+20");
}

Test(changeset, validate_number_of_huge_integers_is_exact)
{
    bn_changeset *cs = cast1("big", "\"9223372036854775807\"");
    bn_validate_number(cs, "big", (bn_number_opts){.has_lt = true, .lt = 9223372036854775807.0});
    cr_expect(bn_changeset_valid(cs), "2^63-1 < 2^63 (the double): no rounding to equal");
}

Test(changeset, validate_number_of_a_string_is_fatal, .signal = SIGABRT)
{
    bn_validate_number(name_cs("x"), "name", (bn_number_opts){.has_min = true});
}

/* ---- validate_inclusion --------------------------------------------------------------------------------- */

Test(changeset, validate_inclusion)
{
    bn_changeset *cs = name_cs("admin");
    bn_validate_inclusion(cs, "name", BN_FIELDS("user", "admin"));
    cr_expect(bn_changeset_valid(cs));
    cs = name_cs("root");
    bn_validate_inclusion(cs, "name", BN_FIELDS("user", "admin"));
    cr_expect_str_eq(first_error(cs, "name"), "is invalid");
    cs = age_cs("3");
    bn_validate_inclusion(cs, "age", BN_FIELDS("1", "2", "3"));
    cr_expect(bn_changeset_valid(cs), "a number compares as its text");
    cs = age_cs("4");
    bn_validate_inclusion(cs, "age", BN_FIELDS("1", "2", "3"));
    cr_expect_str_eq(first_error(cs, "age"), "is invalid");
}

/* ---- validate_confirmation ------------------------------------------------------------------------------ */

Test(changeset, validate_confirmation)
{
    const bn_value *p = json("{\"password\":\"s3cret!\",\"password_confirmation\":\"s3cret!\"}");
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    bn_validate_confirmation(cs, "password");
    cr_expect(bn_changeset_valid(cs));

    p = json("{\"password\":\"s3cret!\",\"password_confirmation\":\"s3cret\"}");
    cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    bn_validate_confirmation(cs, "password");
    cr_expect_str_eq(first_error(cs, "password_confirmation"), "does not match confirmation", "Ecto's field");
    cr_expect_null(bn_changeset_errors(cs, "password"));
    expect_input(cs, "password_confirmation", "s3cret");

    p = json("{\"password\":\"s3cret!\"}");
    cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    bn_validate_confirmation(cs, "password");
    cr_expect(bn_changeset_valid(cs), "no confirmation param: nothing to compare");

    p = json("{\"password\":\"s3cret!\",\"password_confirmation\":\"\"}");
    cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    bn_validate_confirmation(cs, "password");
    cr_expect_str_eq(first_error(cs, "password_confirmation"), "does not match confirmation");

    p = json("{\"password_confirmation\":\"abc\"}");
    cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    bn_changeset_put(cs, "password", BN_DB("abc"));
    bn_validate_confirmation(cs, "password");
    cr_expect(bn_changeset_valid(cs), "a put change compares as text");
}

/* ---- validations skip fields that failed to cast --------------------------------------------------------- */

Test(changeset, validations_skip_fields_that_failed_to_cast)
{
    const bn_value *p = json("{\"age\":\"12abc\",\"name\":\"ok\",\"token\":\"nope\",\"password\":[1],"
                             "\"password_confirmation\":\"x\"}");
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    bn_validate_number(cs, "age", (bn_number_opts){.has_min = true, .min = 100});
    bn_validate_inclusion(cs, "age", BN_FIELDS("1"));
    bn_validate_format(cs, "token", "^x$", NULL);
    bn_validate_length(cs, "token", (bn_length_opts){.is = 1});
    bn_validate_inclusion(cs, "token", BN_FIELDS("x"));
    bn_validate_confirmation(cs, "password");
    bn_validate_required(cs, BN_FIELDS("age", "token"));
    cr_expect_eq(nerrors(cs, "age"), 1);
    cr_expect_eq(nerrors(cs, "token"), 1);
    cr_expect_eq(nerrors(cs, "password"), 1);
    cr_expect_null(bn_changeset_errors(cs, "password_confirmation"));
    cr_expect_str_eq(first_error(cs, "age"), "is invalid");
}

Test(changeset, a_field_permitted_twice_errs_once)
{
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, json("{\"age\":\"x\"}"), BN_FIELDS("age", "age"));
    cr_expect_eq(nerrors(cs, "age"), 1);
}

/* ---- constraints ------------------------------------------------------------------------------------------- */

Test(changeset, unique_constraint_default_and_custom_names)
{
    bn_changeset *cs = name_cs("Ada");
    bn_unique_constraint(cs, "name", NULL);
    bn_unique_constraint(cs, "token", "items_token_key");
    bn_db_error err = {.sqlstate = "23505", .message = "duplicate key", .constraint = "items_name_index"};
    cr_expect(bn__changeset_constraint_error(cs, &err));
    cr_expect_str_eq(first_error(cs, "name"), "has already been taken");
    err.constraint = "items_token_key";
    cr_expect(bn__changeset_constraint_error(cs, &err));
    cr_expect_str_eq(first_error(cs, "token"), "has already been taken");
    err.constraint = "ITEMS_NAME_INDEX";
    cr_expect_not(bn__changeset_constraint_error(cs, &err), "names are case-sensitive");
    err.constraint = "items_other_index";
    cr_expect_not(bn__changeset_constraint_error(cs, &err));
    err.constraint = NULL;
    cr_expect_not(bn__changeset_constraint_error(cs, &err), "an unnamed unique violation matches nothing");
    cr_expect_not(bn__changeset_constraint_error(cs, NULL));
}

Test(changeset, foreign_key_constraint)
{
    bn_changeset *cs = cast1("age", "1");
    bn_unique_constraint(cs, "name", NULL);
    bn_foreign_key_constraint(cs, "age", NULL);
    bn_foreign_key_constraint(cs, "big", "items_big_owner_fk");
    bn_db_error err = {.sqlstate = "23503", .constraint = "items_age_fkey"};
    cr_expect(bn__changeset_constraint_error(cs, &err));
    cr_expect_str_eq(first_error(cs, "age"), "does not exist");
    err.constraint = "items_big_owner_fk";
    cr_expect(bn__changeset_constraint_error(cs, &err));
    cr_expect_str_eq(first_error(cs, "big"), "does not exist");
    /* A unique violation does not take a foreign key's name, nor the reverse. */
    bn_db_error uniq = {.sqlstate = "23505", .constraint = "items_age_fkey"};
    cr_expect_not(bn__changeset_constraint_error(cs, &uniq));
}

Test(changeset, sqlite_foreign_key_failure_goes_on_the_first_foreign_key)
{
    bn_changeset *cs = cast1("age", "1");
    bn_unique_constraint(cs, "name", NULL);
    bn_foreign_key_constraint(cs, "big", NULL);
    bn_foreign_key_constraint(cs, "age", NULL);
    bn_db_error err = {.code = 787, .message = "FOREIGN KEY constraint failed"};
    cr_expect(bn__changeset_constraint_error(cs, &err));
    cr_expect_str_eq(first_error(cs, "big"), "does not exist");
    cr_expect_null(bn_changeset_errors(cs, "age"));
    cr_expect_null(bn_changeset_errors(cs, "name"));
    /* by the message alone (no extended code) */
    bn_changeset *cs2 = cast1("age", "1");
    bn_foreign_key_constraint(cs2, "age", NULL);
    bn_db_error err2 = {.message = "FOREIGN KEY constraint failed"};
    cr_expect(bn__changeset_constraint_error(cs2, &err2));
    cr_expect_str_eq(first_error(cs2, "age"), "does not exist");
    /* no foreign key declared: not ours */
    bn_changeset *cs3 = cast1("age", "1");
    cr_expect_not(bn__changeset_constraint_error(cs3, &err2));
}

Test(changeset, sqlite_unique_failure_by_derived_name)
{
    bn_changeset *cs = name_cs("Ada");
    bn_unique_constraint(cs, "name", NULL);
    bn_db_error err = {.code = 2067, .message = "UNIQUE constraint failed: items.name", .constraint = "items_name_index"};
    cr_expect(bn__changeset_constraint_error(cs, &err));
    cr_expect_str_eq(first_error(cs, "name"), "has already been taken");
}

Test(changeset, constraint_on_unknown_field_is_fatal, .signal = SIGABRT)
{
    bn_unique_constraint(name_cs("x"), "nickname", NULL);
}

/* ---- apply, input, the Repo hooks ---------------------------------------------------------------------------- */

Test(changeset, apply_new_record)
{
    const bn_value *p = json("{\"name\":\"Ada\",\"age\":\"36\",\"price\":\"9.99\",\"born\":\"1815-12-10\"}");
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    const item *it = bn_changeset_apply(cs);
    cr_expect_str_eq(it->name, "Ada");
    cr_expect_eq(it->age, 36);
    cr_expect_str_eq(it->price, "9.99");
    cr_expect_eq(it->born.year, 1815);
    cr_expect_eq(it->born.day, 10);
    cr_expect_not(it->bn_nulls & (UINT64_C(1) << 3), "age has a value");
    cr_expect(it->bn_nulls & (UINT64_C(1) << 4), "big was never set: NULL, not 0");
    cr_expect(it->bn_nulls & (UINT64_C(1) << 0), "no id yet");
    cr_expect_null(it->bio);
}

Test(changeset, apply_existing_record_with_null_changes)
{
    item it = existing();
    const bn_value *p = json("{\"name\":\"Grace\",\"age\":\"\",\"active\":\"off\"}");
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, &it, p, ALL);
    it.name = "mutated after cast";
    const item *out = bn_changeset_apply(cs);
    cr_expect_neq((const void *)out, (const void *)&it);
    cr_expect_eq(out->id, 7, "unchanged fields come from the data");
    cr_expect_str_eq(out->name, "Grace");
    cr_expect_eq(out->age, 0);
    cr_expect(out->bn_nulls & (UINT64_C(1) << 3), "a NULL change sets the NULL bit");
    cr_expect_not(out->active);
    cr_expect_not(out->bn_nulls & (UINT64_C(1) << 6));
    cr_expect_str_eq(out->price, "12.5");
    const item *data = bn__changeset_data(cs);
    cr_expect_str_eq(data->name, "Ada", "the changeset keeps its own copy of the data");
    cr_expect_null(bn__changeset_data(bn_changeset_cast(&A, &item_schema, NULL, NULL, NULL)));
}

Test(changeset, input_for_forms)
{
    item it = existing();
    it.seen_at = INT64_C(1706702400) * 1000000;
    const bn_value *p = json("{\"age\":\"12abc\",\"name\":\"Grace\",\"score\":\"\",\"token\":[1,2],\"big\":77}");
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, &it, p, ALL);
    expect_input(cs, "age", "12abc");           /* failed to cast: as typed */
    expect_input(cs, "token", "[1,2]");         /* a tree that failed: its JSON */
    expect_input(cs, "name", "Grace");          /* the change */
    expect_input(cs, "score", "");              /* changed to NULL */
    expect_input(cs, "big", "77");
    expect_input(cs, "active", "true");         /* the data, formatted */
    expect_input(cs, "price", "12.5");
    expect_input(cs, "born", "1990-12-10");
    expect_input(cs, "seen_at", "2024-01-31T12:00:00Z");
    expect_input(cs, "bio", "");                /* NULL */
    expect_input(cs, "id", "7");
    expect_input(cs, "nickname", "");           /* no such param */

    bn_changeset *cs2 = bn_changeset_cast(&A, &item_schema, NULL, json("{\"score\":\"1e3\",\"meta\":{\"a\":[1]}}"), ALL);
    expect_input(cs2, "score", "1000");
    expect_input(cs2, "meta", "{\"a\":[1]}");
    expect_input(cs2, "age", "");
    bn_changeset_put(cs2, "score", BN_DB(0.1));
    expect_input(cs2, "score", "0.1");
    bn_changeset_put(cs2, "active", BN_DB(false));
    expect_input(cs2, "active", "false");
}

Test(changeset, changes_for_the_repo_in_field_order_without_virtual_fields)
{
    const bn_value *p = json("{\"price\":\"1\",\"name\":\"Ada\",\"password\":\"pw\",\"age\":\"\"}");
    bn_changeset *cs = bn_changeset_cast(&A, &item_schema, NULL, p, ALL);
    bn_changeset_put(cs, "big", BN_DB(5));
    const size_t *fields;
    const bn_db_value *values;
    size_t n = bn__changeset_changes(cs, &fields, &values);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(item_schema.fields[fields[0]].name, "name");
    cr_expect_str_eq(item_schema.fields[fields[1]].name, "big");
    cr_expect_str_eq(item_schema.fields[fields[2]].name, "price");
    cr_expect(str_is(values[0].u.s, "Ada"));
    cr_expect_eq(values[1].u.i, 5);
    cr_expect_eq(values[1].type, BN_TYPE_BIGINT);
    cr_expect(str_is(values[2].u.s, "1"));
    cr_expect(bn_changeset_change(cs, "password", NULL), "the virtual field did change, for the program");
    cr_expect_eq(bn_changeset_schema(cs), &item_schema);
    cr_expect_eq(bn_changeset_arena(cs), &A);
}

/* ---- params from real request bodies, through the web layer ---------------------------------------- */

static const char *const FORM[] = {"name", "age", "active", "score", "born", "token", "password", NULL};

/* {"errors": {field: [messages]}, "input": {field: text}} for the form's fields. */
static bn_value *render_form(bn_arena *a, const bn_changeset *cs)
{
    static const char *const shown[] = {"", "name", "age", "active", "score", "born", "token", "password",
                                        "password_confirmation", NULL};
    bn_value *errors = bn_value_object(a), *input = bn_value_object(a), *out = bn_value_object(a);
    for (size_t i = 0; shown[i]; i++) {
        const char *const *e = bn_changeset_errors(cs, shown[i]);
        if (e) {
            bn_value *list = bn_value_array(a);
            for (size_t k = 0; e[k]; k++)
                bn_value_push(a, list, bn_value_string(a, bn_str_from_cstr(e[k])));
            bn_value_set(a, errors, shown[i], list);
        }
        if (shown[i][0])
            bn_value_set(a, input, shown[i], bn_value_string(a, bn_changeset_input(cs, shown[i])));
    }
    bn_value_set(a, out, "errors", errors);
    bn_value_set(a, out, "input", input);
    return out;
}

/* What a controller's create action does [Phoenix: UserController.create]. */
static void item_create(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    const bn_value *params = bn_value_get(bn_conn_params(c), "item");
    bn_changeset *cs = bn_changeset_cast(a, &item_schema, NULL, params, FORM);
    bn_validate_required(cs, BN_FIELDS("name", "age"));
    bn_validate_length(cs, "name", (bn_length_opts){.min = 2, .max = 20});
    bn_validate_number(cs, "age", (bn_number_opts){.has_min = true, .min = 18});
    bn_validate_confirmation(cs, "password");
    bn_conn_json(c, bn_changeset_valid(cs) ? 201 : 422, render_form(a, cs));
}

static bn_endpoint web_ep;
static bn_test_client *web;

static void web_setup(void)
{
    setup();
    bn_router *r = bn_router_new();
    bn_post(r, "/items", item_create);
    web_ep = (bn_endpoint){.router = r};
    web = bn_test_client_for(&web_ep);
    cr_assert_not_null(web);
}

static void web_teardown(void)
{
    bn_test_client_free(web);
    bn_router_free(web_ep.router);
    teardown();
}

TestSuite(changeset_web, .init = web_setup, .fini = web_teardown, .timeout = 30);

static const char *err_at(bn_test_conn *r, const char *path)
{
    bn_str s = bn_value_str(bn_value_path(bn_test_json(r), path));
    return s.ptr ? bn_arena_strndup(&A, s.ptr, s.len) : "(none)";
}

Test(changeset_web, urlencoded_form_with_errors)
{
    bn_test_conn *r = bn_test_post_form(
        web, "/items",
        "item[name]=A&item[age]=12abc&item[active]=on&item[password]=pw&item[password_confirmation]=px&item[id]=9");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(err_at(r, "errors.name.0"), "should be at least 2 character(s)");
    cr_expect_str_eq(err_at(r, "errors.age.0"), "is invalid");
    cr_expect_null(bn_value_path(bn_test_json(r), "errors.age.1"), "required and number skip a cast error");
    cr_expect_str_eq(err_at(r, "errors.password_confirmation.0"), "does not match confirmation");
    cr_expect_str_eq(err_at(r, "input.age"), "12abc", "the form shows what was typed");
    cr_expect_str_eq(err_at(r, "input.active"), "true");
    cr_expect_str_eq(err_at(r, "input.password_confirmation"), "px");
    bn_test_conn_free(r);
}

Test(changeset_web, urlencoded_form_valid)
{
    bn_test_conn *r = bn_test_post_form(web, "/items",
                                        "item[name]=Zo%C3%AB&item[age]=36&item[active]=off&item[born]=1815-12-10"
                                        "&item[score]=1e3&item[token]=A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11");
    cr_expect_eq(r->status, 201, "body: %.*s", BN_STR_ARG(r->body));
    cr_expect_null(bn_value_get(bn_value_get(bn_test_json(r), "errors"), "name"));
    cr_expect_str_eq(err_at(r, "input.name"), "Zoë");
    cr_expect_str_eq(err_at(r, "input.age"), "36");
    cr_expect_str_eq(err_at(r, "input.active"), "false");
    cr_expect_str_eq(err_at(r, "input.born"), "1815-12-10");
    cr_expect_str_eq(err_at(r, "input.score"), "1000");
    cr_expect_str_eq(err_at(r, "input.token"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    bn_test_conn_free(r);
}

Test(changeset_web, urlencoded_empty_fields_are_blank)
{
    bn_test_conn *r = bn_test_post_form(web, "/items", "item[name]=+++&item[age]=&item[score]=");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(err_at(r, "errors.name.0"), "can't be blank", "'+' is a space in a form");
    cr_expect_str_eq(err_at(r, "errors.age.0"), "can't be blank");
    cr_expect_null(bn_value_path(bn_test_json(r), "errors.score"));
    bn_test_conn_free(r);
    /* no item params at all */
    r = bn_test_post_form(web, "/items", "other=1");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(err_at(r, "errors.name.0"), "can't be blank");
    bn_test_conn_free(r);
    /* item=foo: not an object */
    r = bn_test_post_form(web, "/items", "item=foo");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(err_at(r, "errors..0"), "is invalid", "a base error");
    bn_test_conn_free(r);
}

Test(changeset_web, urlencoded_nul_byte_and_overflow)
{
    bn_test_conn *r = bn_test_post_form(web, "/items", "item[name]=a%00b&item[age]=9223372036854775808");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(err_at(r, "errors.name.0"), "is invalid");
    cr_expect_str_eq(err_at(r, "errors.age.0"), "is invalid");
    cr_expect_str_eq(err_at(r, "input.age"), "9223372036854775808");
    bn_test_conn_free(r);
}

Test(changeset_web, json_body)
{
    bn_test_conn *r = bn_test_post_json(web, "/items",
                                        "{\"item\":{\"name\":\"Ada\",\"age\":36,\"active\":true,\"score\":2.5}}");
    cr_expect_eq(r->status, 201, "body: %.*s", BN_STR_ARG(r->body));
    cr_expect_str_eq(err_at(r, "input.age"), "36");
    cr_expect_str_eq(err_at(r, "input.score"), "2.5");
    bn_test_conn_free(r);
    r = bn_test_post_json(web, "/items",
                          "{\"item\":{\"name\":\"A\\u0000da\",\"age\":{\"n\":1},\"active\":1,\"score\":\"x\"}}");
    cr_expect_eq(r->status, 422);
    cr_expect_str_eq(err_at(r, "errors.name.0"), "is invalid");
    cr_expect_str_eq(err_at(r, "errors.age.0"), "is invalid");
    cr_expect_str_eq(err_at(r, "errors.active.0"), "is invalid");
    cr_expect_str_eq(err_at(r, "errors.score.0"), "is invalid");
    cr_expect_str_eq(err_at(r, "input.age"), "{\"n\":1}");
    cr_expect_str_eq(err_at(r, "input.active"), "1");
    bn_test_conn_free(r);
}

/* ---- constraint errors from real databases ----------------------------------------------------------- */

#define AUTHOR_SCHEMA(FIELD, ASSOC)                                                                               \
    FIELD(id, ID)                                                                                                 \
    FIELD(name, STRING)                                                                                           \
    FIELD(email, STRING)                                                                                          \
    FIELD(inserted_at, UTC_DATETIME)                                                                              \
    FIELD(updated_at, UTC_DATETIME)
BN_SCHEMA_DECLARE(author, AUTHOR_SCHEMA)
BN_SCHEMA_DEFINE(author, "authors", AUTHOR_SCHEMA)

#define ARTICLE_SCHEMA(FIELD, ASSOC)                                                                              \
    FIELD(id, ID)                                                                                                 \
    FIELD(title, STRING)                                                                                          \
    FIELD(author_id, BIGINT)                                                                                      \
    ASSOC(writer, BELONGS_TO, author, author_id)
BN_SCHEMA_DECLARE(article, ARTICLE_SCHEMA)
BN_SCHEMA_DEFINE(article, "articles", ARTICLE_SCHEMA)

typedef struct db {
    bn_repo *root; /* the opened repo */
    bn_repo *r;    /* what the test uses: root (SQLite) or a sandbox in its own PostgreSQL schema */
    char dir[64];  /* SQLite: the temp dir */
} db;

static db D;

static void exec_sql(const char *sql)
{
    bn_db_rows rows;
    bn_db_error err = {0};
    cr_assert_eq(bn_repo_query(D.r, &A, &rows, &err, sql), 0, "%s: %s", sql, err.message);
}

static int64_t count_rows(const char *table)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) AS n FROM %s", table);
    bn_db_rows rows;
    bn_db_error err = {0};
    cr_assert_eq(bn_repo_query(D.r, &A, &rows, &err, sql), 0, "%s", err.message);
    cr_assert_eq(rows.nrows, 1);
    cr_assert(rows.cells[0].type == BN_TYPE_BIGINT || rows.cells[0].type == BN_TYPE_INTEGER, "type %d",
              (int)rows.cells[0].type);
    return rows.cells[0].u.i;
}

static void open_sqlite(void)
{
    setup();
    memset(&D, 0, sizeof D);
    snprintf(D.dir, sizeof D.dir, "/tmp/bn_changeset_XXXXXX");
    cr_assert_not_null(mkdtemp(D.dir));
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/test.db", D.dir);
    char *error = NULL;
    D.root = bn_repo_open(&(bn_repo_config){.url = url, .quiet = true}, &error);
    cr_assert_not_null(D.root, "%s", error);
    D.r = D.root;
    exec_sql("CREATE TABLE authors (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT,"
             " inserted_at TEXT, updated_at TEXT)");
    exec_sql("CREATE UNIQUE INDEX authors_email_index ON authors (email)");
    exec_sql("CREATE TABLE articles (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT,"
             " author_id bigint REFERENCES authors(id))");
}

static void open_pg(void)
{
    setup();
    memset(&D, 0, sizeof D);
    const char *url = bt_pg_url();
    if (!url)
        cr_skip_test("no PostgreSQL server for the tests");
    char *error = NULL;
    D.root = bn_repo_open(&(bn_repo_config){.url = url, .quiet = true, .pool_size = 2}, &error);
    cr_assert_not_null(D.root, "%s", error);
    bn_db_error err = {0};
    D.r = bn_repo_sandbox(D.root, &err);
    cr_assert_not_null(D.r, "%s", err.message);
    /* A schema of our own inside the sandbox's transaction: rolled back with it. */
    char sql[160];
    static int seq;
    snprintf(sql, sizeof sql, "CREATE SCHEMA bt_changeset_%d_%d", (int)getpid(), ++seq);
    exec_sql(sql);
    snprintf(sql, sizeof sql, "SET LOCAL search_path TO bt_changeset_%d_%d", (int)getpid(), seq);
    exec_sql(sql);
    exec_sql("CREATE TABLE authors (id bigserial PRIMARY KEY, name varchar(255) NOT NULL, email varchar(255),"
             " inserted_at timestamp, updated_at timestamp)");
    exec_sql("CREATE UNIQUE INDEX authors_email_index ON authors (email)");
    exec_sql("CREATE TABLE articles (id bigserial PRIMARY KEY, title varchar(255),"
             " author_id bigint REFERENCES authors(id))");
}

static void close_db(void)
{
    if (D.r && D.r != D.root)
        bn_repo_sandbox_end(D.r);
    if (D.root)
        bn_repo_close(D.root);
    if (D.dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", D.dir);
        cr_assert_eq(system(cmd), 0);
    }
    memset(&D, 0, sizeof D);
    teardown();
}

TestSuite(changeset_sqlite, .init = open_sqlite, .fini = close_db, .timeout = 60);
TestSuite(changeset_pg, .init = open_pg, .fini = close_db, .timeout = 60);

/* Each of these runs once per adapter. */
#define BOTH_DBS(name)                      \
    static void name(void);                 \
    Test(changeset_sqlite, name) { name(); } \
    Test(changeset_pg, name) { name(); }     \
    static void name(void)

/* The changeset of the registration form: name required, email unique. */
static bn_changeset *author_cs(const author *data, const char *name, const char *email, bool declare)
{
    bn_value *p = bn_value_object(&A);
    if (name)
        bn_value_set(&A, p, "name", bn_value_string(&A, bn_str_from_cstr(name)));
    if (email)
        bn_value_set(&A, p, "email", bn_value_string(&A, bn_str_from_cstr(email)));
    bn_changeset *cs = bn_changeset_cast(&A, &author_schema, data, p, BN_FIELDS("name", "email"));
    if (declare)
        bn_unique_constraint(cs, "email", NULL);
    return cs;
}

static author insert_author(const char *name, const char *email)
{
    bn_changeset *cs = author_cs(NULL, name, email, true);
    author out;
    cr_assert_eq(bn_repo_insert(D.r, cs, &out), 0, "insert %s: %s", name,
                 first_error(cs, "") ? first_error(cs, "") : "");
    return out;
}

BOTH_DBS(unique_violation_on_insert_goes_on_the_field)
{
    author ada = insert_author("Ada", "ada@example.com");
    cr_expect_gt(ada.id, 0);
    cr_expect_str_eq(ada.email, "ada@example.com");

    bn_changeset *cs = author_cs(NULL, "Ada II", "ada@example.com", true);
    author out = {0};
    cr_expect_eq(bn_repo_insert(D.r, cs, &out), -1);
    cr_expect_not(bn_changeset_valid(cs));
    cr_expect_str_eq(first_error(cs, "email") ? first_error(cs, "email") : "(none)", "has already been taken");
    cr_expect_null(bn_changeset_errors(cs, ""), "a declared constraint is no base error: %s", first_error(cs, ""));
    cr_expect_eq(count_rows("authors"), 1);
    expect_input(cs, "email", "ada@example.com");
}

BOTH_DBS(undeclared_unique_violation_is_a_base_error)
{
    insert_author("Ada", "ada@example.com");
    bn_changeset *cs = author_cs(NULL, "Ada II", "ada@example.com", false);
    cr_expect_eq(bn_repo_insert(D.r, cs, NULL), -1);
    cr_expect_null(bn_changeset_errors(cs, "email"));
    cr_expect_not_null(first_error(cs, ""), "the database's message on the base");
    cr_expect_eq(count_rows("authors"), 1);
}

BOTH_DBS(unique_violation_on_update_goes_on_the_field)
{
    insert_author("Ada", "ada@example.com");
    author bob = insert_author("Bob", "bob@example.com");
    bn_changeset *cs = author_cs(&bob, NULL, "ada@example.com", true);
    author out;
    cr_expect_eq(bn_repo_update(D.r, cs, &out), -1);
    cr_expect_str_eq(first_error(cs, "email") ? first_error(cs, "email") : "(none)", "has already been taken");
    /* the same changeset with another address goes through */
    cs = author_cs(&bob, NULL, "robert@example.com", true);
    cr_expect_eq(bn_repo_update(D.r, cs, &out), 0, "%s", first_error(cs, "") ? first_error(cs, "") : "");
    cr_expect_str_eq(out.email, "robert@example.com");
    cr_expect_eq(out.id, bob.id);
}

BOTH_DBS(foreign_key_violation_goes_on_the_field)
{
    author ada = insert_author("Ada", "ada@example.com");
    bn_value *p = bn_value_object(&A);
    bn_value_set(&A, p, "title", bn_value_string(&A, BN_STR("Notes")));
    bn_value_set(&A, p, "author_id", bn_value_string(&A, BN_STR("999")));
    bn_changeset *cs = bn_changeset_cast(&A, &article_schema, NULL, p, BN_FIELDS("title", "author_id"));
    bn_foreign_key_constraint(cs, "author_id", NULL);
    cr_expect_eq(bn_repo_insert(D.r, cs, NULL), -1);
    cr_expect_str_eq(first_error(cs, "author_id") ? first_error(cs, "author_id") : "(none)", "does not exist");
    cr_expect_null(bn_changeset_errors(cs, ""));
    cr_expect_eq(count_rows("articles"), 0);

    /* undeclared: a base error */
    cs = bn_changeset_cast(&A, &article_schema, NULL, p, BN_FIELDS("title", "author_id"));
    cr_expect_eq(bn_repo_insert(D.r, cs, NULL), -1);
    cr_expect_null(bn_changeset_errors(cs, "author_id"));
    cr_expect_not_null(first_error(cs, ""));

    /* an existing author: inserted */
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)ada.id);
    bn_value_set(&A, p, "author_id", bn_value_string(&A, bn_str_from_cstr(id)));
    cs = bn_changeset_cast(&A, &article_schema, NULL, p, BN_FIELDS("title", "author_id"));
    bn_foreign_key_constraint(cs, "author_id", NULL);
    article out;
    cr_expect_eq(bn_repo_insert(D.r, cs, &out), 0, "%s", first_error(cs, "") ? first_error(cs, "") : "");
    cr_expect_eq(out.author_id, ada.id);
    cr_expect_eq(count_rows("articles"), 1);
}

BOTH_DBS(an_invalid_changeset_is_not_sent)
{
    bn_changeset *cs = author_cs(NULL, "", "ada@example.com", true);
    bn_validate_required(cs, BN_FIELDS("name"));
    cr_expect_eq(bn_repo_insert(D.r, cs, NULL), -1);
    cr_expect_eq(nerrors(cs, "name"), 1);
    cr_expect_null(bn_changeset_errors(cs, ""));
    cr_expect_eq(count_rows("authors"), 0);
    /* without the validation, the database's NOT NULL refuses it: a base error */
    cs = author_cs(NULL, "", "ada@example.com", true);
    cr_expect_eq(bn_repo_insert(D.r, cs, NULL), -1);
    cr_expect_not_null(first_error(cs, ""));
    cr_expect_null(bn_changeset_errors(cs, "email"));
    cr_expect_eq(count_rows("authors"), 0);
}

/* A registration action that inserts through the Repo and shows the errors. */
static void author_create(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    const bn_value *params = bn_value_get(bn_conn_params(c), "author");
    bn_changeset *cs = bn_changeset_cast(a, &author_schema, NULL, params, BN_FIELDS("name", "email"));
    bn_validate_required(cs, BN_FIELDS("name", "email"));
    bn_validate_format(cs, "email", "^[^@[:space:]]+@[^@[:space:]]+$", "must have the @ sign and no spaces");
    bn_unique_constraint(cs, "email", NULL);
    author out;
    bn_value *v = bn_value_object(a);
    if (bn_repo_insert(D.r, cs, &out) == 0) {
        bn_value_set(a, v, "id", bn_value_int(a, out.id));
        bn_conn_json(c, 201, v);
        return;
    }
    bn_value *errors = bn_value_object(a);
    static const char *const fields[] = {"", "name", "email", NULL};
    for (size_t i = 0; fields[i]; i++) {
        const char *const *e = bn_changeset_errors(cs, fields[i]);
        if (e)
            bn_value_set(a, errors, fields[i], bn_value_string(a, bn_str_from_cstr(e[0])));
    }
    bn_value_set(a, v, "errors", errors);
    bn_value_set(a, v, "email", bn_value_string(a, bn_changeset_input(cs, "email")));
    bn_conn_json(c, 422, v);
}

BOTH_DBS(a_form_posted_twice_through_the_web_layer_and_the_repo)
{
    bn_router *r = bn_router_new();
    bn_post(r, "/authors", author_create);
    bn_endpoint ep = {.router = r};
    bn_test_client *t = bn_test_client_for(&ep);
    cr_assert_not_null(t);

    bn_test_conn *res = bn_test_post_form(t, "/authors", "author[name]=Ada&author[email]=ada%40example.com");
    cr_expect_eq(res->status, 201, "%.*s", BN_STR_ARG(res->body));
    int64_t id = 0;
    cr_expect(bn_value_to_int(bn_value_get(bn_test_json(res), "id"), &id));
    cr_expect_gt(id, 0);
    bn_test_conn_free(res);

    res = bn_test_post_form(t, "/authors", "author[name]=Ada+again&author[email]=ada%40example.com");
    cr_expect_eq(res->status, 422, "%.*s", BN_STR_ARG(res->body));
    cr_expect_str_eq(err_at(res, "errors.email"), "has already been taken");
    cr_expect_str_eq(err_at(res, "errors."), "(none)");
    cr_expect_str_eq(err_at(res, "email"), "ada@example.com");
    bn_test_conn_free(res);

    res = bn_test_post_form(t, "/authors", "author[name]=&author[email]=ada+at+example.com");
    cr_expect_eq(res->status, 422);
    cr_expect_str_eq(err_at(res, "errors.name"), "can't be blank");
    cr_expect_str_eq(err_at(res, "errors.email"), "must have the @ sign and no spaces");
    bn_test_conn_free(res);

    cr_expect_eq(count_rows("authors"), 1);
    bn_test_client_free(t);
    bn_router_free(r);
}
