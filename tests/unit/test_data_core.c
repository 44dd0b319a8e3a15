/*
 * The core of the data layer against real databases: dates and datetimes,
 * schema metadata and record <-> cell conversions, the SQLite adapter
 * (pragmas, storage classes, binding, constraint names, the statement
 * cache, timeouts), and the Repo (open, get/get_by, insert/update/delete
 * through changesets, insert_all, raw queries, transactions and savepoints,
 * the sandbox, the pool's queue and checkout timeout, the query log line).
 *
 * The Repo tests are a table over adapters: each runs on a SQLite file in a
 * temp dir and on the test PostgreSQL (bt_pg_url(); skipped when none runs).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <pthread.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bennu/data.h"
#include "bennu/runtime.h"
#include "data/data_internal.h"
#include "harness.h"

/* Statements compiled by the SQLite adapter (its statement cache's misses). */
extern _Atomic uint64_t bn__sqlite_prepares;

/* ---- schemas ------------------------------------------------------------------- */

#define THING_SCHEMA(FIELD, ASSOC)                                                                                 \
    FIELD(id, ID)                                                                                                  \
    FIELD(name, STRING)                                                                                            \
    FIELD(body, TEXT)                                                                                              \
    FIELD(count, INTEGER)                                                                                          \
    FIELD(big, BIGINT)                                                                                             \
    FIELD(ratio, FLOAT)                                                                                            \
    FIELD(active, BOOLEAN)                                                                                         \
    FIELD(price, DECIMAL)                                                                                          \
    FIELD(born, DATE)                                                                                              \
    FIELD(seen_at, UTC_DATETIME)                                                                                   \
    FIELD(data, BINARY)                                                                                            \
    FIELD(meta, JSON)                                                                                              \
    FIELD(uid, UUID)                                                                                               \
    FIELD(secret, STRING, .virtual_field = true)                                                                   \
    FIELD(inserted_at, UTC_DATETIME)                                                                               \
    FIELD(updated_at, UTC_DATETIME)
BN_SCHEMA_DECLARE(thing, THING_SCHEMA)
BN_SCHEMA_DEFINE(thing, "core_things", THING_SCHEMA)

#define USER_SCHEMA(FIELD, ASSOC)                                                                                  \
    FIELD(id, ID)                                                                                                  \
    FIELD(email, STRING)                                                                                           \
    FIELD(name, STRING)                                                                                            \
    ASSOC(posts, HAS_MANY, post, author_id)                                                                        \
    FIELD(inserted_at, UTC_DATETIME)                                                                               \
    FIELD(updated_at, UTC_DATETIME)
#define POST_SCHEMA(FIELD, ASSOC)                                                                                  \
    FIELD(id, ID)                                                                                                  \
    FIELD(title, STRING)                                                                                           \
    FIELD(author_id, BIGINT)                                                                                       \
    ASSOC(author, BELONGS_TO, user, author_id)
BN_SCHEMA_DECLARE(user, USER_SCHEMA)
BN_SCHEMA_DECLARE(post, POST_SCHEMA)
BN_SCHEMA_DEFINE(user, "core_users", USER_SCHEMA)
BN_SCHEMA_DEFINE(post, "core_posts", POST_SCHEMA)

/* A table whose name is an injection attempt: identifiers must be quoted. */
#define ODD_TABLE "core odd \"table'; DROP TABLE core_things; --"
#define ODD_SCHEMA(FIELD, ASSOC)                                                                                   \
    FIELD(id, ID)                                                                                                  \
    FIELD(label, TEXT)
BN_SCHEMA_DECLARE(odd, ODD_SCHEMA)
BN_SCHEMA_DEFINE(odd, ODD_TABLE, ODD_SCHEMA)

/* ---- helpers ------------------------------------------------------------------- */

static bn_arena A;
static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    A = (bn_arena)BN_ARENA_INIT;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bn_data_core_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    setenv("BENNU_THREADS", "1", 1); /* pool_size N: N connections per thread */
}

static void teardown(void)
{
    bn_arena_destroy(&A);
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(data_core, .init = setup, .fini = teardown, .timeout = 60);

static const char *const SQLITE_DDL[] = {
    "CREATE TABLE core_things (id INTEGER PRIMARY KEY, name varchar(255), body TEXT, \"count\" integer, big bigint, "
    "ratio REAL, active boolean, price TEXT, born TEXT, seen_at TEXT, data BLOB, meta TEXT, uid TEXT, "
    "inserted_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE TABLE core_users (id INTEGER PRIMARY KEY, email varchar(255), name varchar(255), "
    "inserted_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE UNIQUE INDEX core_users_email_index ON core_users (email)",
    "CREATE TABLE core_posts (id INTEGER PRIMARY KEY, title varchar(255), author_id bigint REFERENCES core_users(id))",
    "CREATE TABLE \"core odd \"\"table'; DROP TABLE core_things; --\" (id INTEGER PRIMARY KEY, label TEXT)",
    NULL,
};

static const char *const POSTGRES_DDL[] = {
    "DROP TABLE IF EXISTS core_posts, core_users, core_things, "
    "\"core odd \"\"table'; DROP TABLE core_things; --\" CASCADE",
    "CREATE TABLE core_things (id bigserial PRIMARY KEY, name varchar(255), body text, \"count\" integer, big bigint, "
    "ratio double precision, active boolean, price numeric, born date, seen_at timestamp, data bytea, meta jsonb, "
    "uid uuid, inserted_at timestamp NOT NULL, updated_at timestamp NOT NULL)",
    "CREATE TABLE core_users (id bigserial PRIMARY KEY, email varchar(255), name varchar(255), "
    "inserted_at timestamp NOT NULL, updated_at timestamp NOT NULL)",
    "CREATE UNIQUE INDEX core_users_email_index ON core_users (email)",
    "CREATE TABLE core_posts (id bigserial PRIMARY KEY, title varchar(255), "
    "author_id bigint REFERENCES core_users(id))",
    "CREATE TABLE \"core odd \"\"table'; DROP TABLE core_things; --\" (id bigserial PRIMARY KEY, label text)",
    NULL,
};

static void sql(bn_repo *r, const char *text)
{
    bn_db_error e;
    cr_assert_eq(bn_repo_query(r, &A, NULL, &e, text), 0, "%s: %s", text, e.message);
}

static int64_t count_rows(bn_repo *r, const char *table)
{
    char q[128];
    snprintf(q, sizeof q, "SELECT count(*) FROM %s", table);
    bn_db_rows rows;
    bn_db_error e;
    cr_assert_eq(bn_repo_query(r, &A, &rows, &e, q), 0, "%s: %s", q, e.message);
    cr_assert_eq(rows.nrows, 1);
    int64_t n = -1;
    if (rows.cells[0].type == BN_TYPE_BIGINT)
        n = rows.cells[0].u.i;
    else { /* PostgreSQL's text format */
        char buf[32];
        snprintf(buf, sizeof buf, "%.*s", (int)rows.cells[0].u.s.len, rows.cells[0].u.s.ptr);
        n = strtoll(buf, NULL, 10);
    }
    return n;
}

static char sqlite_url[128];

static bn_repo *open_db(bn_db_kind kind, bn_repo_config cfg)
{
    if (kind == BN_DB_POSTGRES) {
        cfg.url = bt_pg_url();
        if (!cfg.url) {
            teardown(); /* a skipped test gets no .fini */
            cr_skip_test("no PostgreSQL test server (bt_pg_url)");
        }
    } else {
        snprintf(sqlite_url, sizeof sqlite_url, "sqlite:%s/test.db", tmpdir);
        cfg.url = sqlite_url;
    }
    char *error = NULL;
    bn_repo *r = bn_repo_open(&cfg, &error);
    cr_assert_not_null(r, "bn_repo_open: %s", error);
    cr_assert_eq(bn_repo_kind(r), kind);
    for (const char *const *s = kind == BN_DB_POSTGRES ? POSTGRES_DDL : SQLITE_DDL; *s; s++)
        sql(r, *s);
    return r;
}

static const bn_db_kind KINDS[] = {BN_DB_SQLITE, BN_DB_POSTGRES};

/* A test run once per adapter, with `r` open on a fresh database and `kind`. */
#define DB_TEST(name, ...)                                                                                        \
    static void name##_body(bn_repo *r, bn_db_kind kind);                                                       \
    ParameterizedTestParameters(data_core, name)                                                                  \
    {                                                                                                             \
        return cr_make_param_array(bn_db_kind, (void *)KINDS, BN_ARRAY_LEN(KINDS));                               \
    }                                                                                                             \
    ParameterizedTest(bn_db_kind *kind, data_core, name)                                                          \
    {                                                                                                             \
        bn_repo *r = open_db(*kind, (bn_repo_config){.quiet = true, __VA_ARGS__});                                \
        name##_body(r, *kind);                                                                                    \
        bn_repo_close(r);                                                                                         \
    }                                                                                                             \
    static void name##_body(bn_repo *r, __attribute__((unused)) bn_db_kind kind)

static bn_str S(const char *s) { return bn_str_from_cstr(s); }


static bool bytes_is(bn_str got, const char *want, size_t n)
{
    return got.ptr && got.len == n && memcmp(got.ptr, want, n) == 0;
}

static const char *errors_of(const bn_changeset *cs, const char *field)
{
    const char *const *e = bn_changeset_errors(cs, field);
    return e ? e[0] : NULL;
}

/* Inserts a user through a changeset; returns its id (or -1). */
static int64_t insert_user(bn_repo *r, const char *email, const char *name)
{
    bn_changeset *cs = bn_changeset_cast(&A, &user_schema, NULL, NULL, NULL);
    bn_changeset_put(cs, "email", bn_db_text(email));
    bn_changeset_put(cs, "name", bn_db_text(name));
    bn_unique_constraint(cs, "email", NULL);
    user u;
    if (bn_repo_insert(r, cs, &u) < 0)
        return -1;
    return u.id;
}

/* ======================================================================== */
/* Dates and datetimes                                                       */

static const char *fmt(bn_datetime t)
{
    static char buf[32];
    return bn_datetime_format(t, buf);
}

static bn_datetime parse(const char *s)
{
    bn_datetime t = 0;
    cr_assert(bn_datetime_parse(S(s), &t), "should parse: %s", s);
    return t;
}

Test(data_core, datetime_format)
{
    cr_expect_str_eq(fmt(0), "1970-01-01T00:00:00Z");
    cr_expect_str_eq(fmt(1706702400000000), "2024-01-31T12:00:00Z");
    cr_expect_str_eq(fmt(1706702400123456), "2024-01-31T12:00:00.123456Z");
    cr_expect_str_eq(fmt(1706702400000001), "2024-01-31T12:00:00.000001Z");
    cr_expect_str_eq(fmt(-1), "1969-12-31T23:59:59.999999Z");
    cr_expect_str_eq(fmt(-86400000000), "1969-12-31T00:00:00Z");
    cr_expect_str_eq(fmt(951782400000000), "2000-02-29T00:00:00Z");
    cr_expect_str_eq(fmt(253402300799000000), "9999-12-31T23:59:59Z");
    cr_expect_str_eq(fmt(-62135596800000000), "0001-01-01T00:00:00Z");
    cr_expect_lt(strlen(fmt(INT64_MAX)), 32);
    cr_expect_lt(strlen(fmt(INT64_MIN + 1)), 32);
}

Test(data_core, datetime_parse)
{
    cr_expect_eq(parse("2024-01-31T12:00:00Z"), 1706702400000000);
    cr_expect_eq(parse("2024-01-31 12:00:00"), 1706702400000000);
    cr_expect_eq(parse("2024-01-31t12:00:00z"), 1706702400000000);
    cr_expect_eq(parse("2024-01-31 12:00:00+00"), 1706702400000000);   /* PostgreSQL timestamptz */
    cr_expect_eq(parse("2024-01-31T12:00:00+00:00"), 1706702400000000);
    cr_expect_eq(parse("2024-01-31T14:30:00+02:30"), 1706702400000000);
    cr_expect_eq(parse("2024-01-31T07:00:00-0500"), 1706702400000000);
    cr_expect_eq(parse("2024-01-31T12:00:00.123456Z"), 1706702400123456);
    cr_expect_eq(parse("2024-01-31 12:00:00.5"), 1706702400500000);
    cr_expect_eq(parse("2024-01-31T12:00:00.1234567891Z"), 1706702400123456); /* past µs: dropped */
    cr_expect_eq(parse("1969-12-31T23:59:59.999999Z"), -1);
    cr_expect_eq(parse("2024-02-29T00:00:00Z"), 1709164800000000);

    static const char *const bad[] = {
        "",  "2024-01-31", "2024-01-31T12:00", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z", "2024-01-31T24:00:00Z", "2024-01-31T12:60:00Z", "2024-01-31T12:00:60Z",
        "2024-01-31T12:00:00.Z", "2024-01-31T12:00:00Zjunk", "2024-01-31X12:00:00", "24-01-31T12:00:00",
        "2024-1-31T12:00:00", "2024-01-31T12:00:00+", "2024-01-31T12:00:00+25:00", "2024-01-31T12:00:00+01:61",
        "abcd-ef-ghT12:00:00", "2024-01-31T12:00:00 ",
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++) {
        bn_datetime t;
        cr_expect_not(bn_datetime_parse(S(bad[i]), &t), "should not parse: \"%s\"", bad[i]);
    }
    /* Not NUL-terminated: only the slice is read. */
    bn_datetime t;
    cr_expect(bn_datetime_parse(bn_str_make("2024-01-31T12:00:00Zgarbage", 20), &t));
    cr_expect_eq(t, 1706702400000000);
}

Test(data_core, datetime_round_trips)
{
    bn_datetime samples[] = {0, 1, -1, 999999, 1706702400123456, -62135596800000000, 253402300799999999,
                             bn_datetime_now()};
    for (size_t i = 0; i < BN_ARRAY_LEN(samples); i++)
        cr_expect_eq(parse(fmt(samples[i])), samples[i], "%s", fmt(samples[i]));
    uint64_t x = 88172645463325252u; /* xorshift: many days across four centuries */
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        bn_datetime t = (bn_datetime)(x % 12600000000000000u) - 2208988800000000; /* 1900..2299 */
        cr_assert_eq(parse(fmt(t)), t, "%s", fmt(t));
    }
    bn_datetime now = bn_datetime_now();
    cr_expect_gt(now, 1700000000000000); /* after 2023: a real clock, in microseconds */
}

Test(data_core, date_parse)
{
    bn_date d;
    cr_assert(bn_date_parse(S("2024-02-29"), &d));
    cr_expect_eq(d.year, 2024);
    cr_expect_eq(d.month, 2);
    cr_expect_eq(d.day, 29);
    cr_assert(bn_date_parse(S("0001-01-01"), &d));
    cr_expect_eq(d.year, 1);
    static const char *const bad[] = {"2023-02-29", "2024-00-10", "2024-12-32", "2024-1-01", "2024-01-01T00:00:00",
                                      "", "2024-01-01 "};
    for (size_t i = 0; i < BN_ARRAY_LEN(bad); i++)
        cr_expect_not(bn_date_parse(S(bad[i]), &d), "should not parse: \"%s\"", bad[i]);
}

/* ======================================================================== */
/* Schemas and records                                                       */

Test(data_core, schema_metadata)
{
    size_t i = 99;
    const bn_field *f = bn_schema_field(&thing_schema, "price", &i);
    cr_assert_not_null(f);
    cr_expect_eq(i, 7);
    cr_expect_eq(f->type, BN_TYPE_DECIMAL);
    cr_expect_eq(f->offset, offsetof(thing, price));
    cr_expect_null(bn_schema_field(&thing_schema, "nope", NULL));
    cr_expect_null(bn_schema_field(&thing_schema, NULL, NULL));
    cr_expect(bn_schema_field(&thing_schema, "secret", NULL)->virtual_field);

    cr_expect_str_eq(bn_schema_primary_key(&thing_schema)->name, "id");
    cr_expect_str_eq(bn_schema_inserted_at(&thing_schema)->name, "inserted_at");
    cr_expect_str_eq(bn_schema_updated_at(&thing_schema)->name, "updated_at");
    cr_expect_null(bn_schema_inserted_at(&post_schema));
    cr_expect_null(bn_schema_updated_at(&odd_schema));

    const bn_assoc *as = bn_schema_assoc(&user_schema, "posts");
    cr_assert_not_null(as);
    cr_expect_eq(as->kind, BN_ASSOC_HAS_MANY);
    cr_expect_eq(as->related, &post_schema);
    cr_expect_str_eq(as->foreign_key, "author_id");
    cr_expect_eq(as->offset, offsetof(user, posts));
    cr_expect_eq(bn_schema_assoc(&post_schema, "author")->kind, BN_ASSOC_BELONGS_TO);
    cr_expect_null(bn_schema_assoc(&post_schema, "comments"));
}

Test(data_core, record_nulls_and_values)
{
    thing t = {0};
    t.name = "Ada";
    /* A zero struct: pointer fields are NULL, value fields are not. */
    cr_expect_not(bn_record_is_null(&thing_schema, &t, "name"));
    cr_expect(bn_record_is_null(&thing_schema, &t, "body"));
    cr_expect(bn_record_is_null(&thing_schema, &t, "meta"));
    cr_expect(bn_record_is_null(&thing_schema, &t, "data"));
    cr_expect(bn_record_is_null(&thing_schema, &t, "uid"));
    cr_expect_not(bn_record_is_null(&thing_schema, &t, "count"));
    cr_expect(bn_record_is_null(&thing_schema, &t, "no_such_field"));

    t.count = 7;
    bn_record_set_null(&thing_schema, &t, "count", true);
    cr_expect(bn_record_is_null(&thing_schema, &t, "count"));
    cr_expect_eq(t.count, 0, "set_null zeroes the member");
    cr_expect_eq(bn_record_get(&thing_schema, &t, "count").type, BN_TYPE_NULL);
    bn_record_set_null(&thing_schema, &t, "count", false);
    cr_expect_not(bn_record_is_null(&thing_schema, &t, "count"));

    t.count = 42;
    t.ratio = 0.5;
    t.active = true;
    t.born = (bn_date){2024, 2, 29};
    t.seen_at = 1706702400123456;
    t.data = bn_str_make("a\0b", 3);
    bn_db_value v = bn_record_get(&thing_schema, &t, "count");
    cr_expect_eq(v.type, BN_TYPE_INTEGER);
    cr_expect_eq(v.u.i, 42);
    cr_expect_eq(bn_record_get(&thing_schema, &t, "ratio").u.f, 0.5);
    cr_expect_eq(bn_record_get(&thing_schema, &t, "active").u.b, true);
    cr_expect_eq(bn_record_get(&thing_schema, &t, "born").u.date.day, 29);
    cr_expect_eq(bn_record_get(&thing_schema, &t, "seen_at").u.t, 1706702400123456);
    v = bn_record_get(&thing_schema, &t, "name");
    cr_expect_eq(v.type, BN_TYPE_STRING);
    cr_expect(bn_str_eq(v.u.s, BN_STR("Ada")));
    v = bn_record_get(&thing_schema, &t, "data");
    cr_expect_eq(v.type, BN_TYPE_BINARY);
    cr_expect(bytes_is(v.u.s, "a\0b", 3));
    cr_expect_eq(bn_record_get(&thing_schema, &t, "body").type, BN_TYPE_NULL);
    cr_expect_eq(bn_record_get(&thing_schema, &t, "nope").type, BN_TYPE_NULL);

    bn_record_set_null(&thing_schema, &t, "name", true);
    cr_expect_null(t.name);
}

/* Stores `cell` into field `name` of *t; returns the failure reason or NULL. */
static const char *store(thing *t, const char *name, bn_db_value cell)
{
    size_t i;
    cr_assert_not_null(bn_schema_field(&thing_schema, name, &i));
    const char *why = NULL;
    return bn__field_store(&thing_schema, i, t, cell, &A, &why) ? NULL : (why ? why : "?");
}

static bn_db_value text_cell(const char *s) { return bn_db_text(s); }

Test(data_core, field_store_conversions)
{
    thing t = {0};
    /* integers: SQLite integers, PostgreSQL text */
    cr_expect_null(store(&t, "count", bn_db_int(-5)));
    cr_expect_eq(t.count, -5);
    cr_expect_null(store(&t, "big", text_cell("9223372036854775807")));
    cr_expect_eq(t.big, INT64_MAX);
    cr_expect_null(store(&t, "big", text_cell("-9223372036854775808")));
    cr_expect_eq(t.big, INT64_MIN);
    cr_expect_not_null(store(&t, "big", text_cell("9223372036854775808")));
    cr_expect_not_null(store(&t, "count", text_cell("12abc")));
    cr_expect_not_null(store(&t, "count", text_cell("")));
    cr_expect_not_null(store(&t, "count", bn_db_float(1.5)));
    cr_expect_null(store(&t, "count", bn_db_float(3.0)));
    cr_expect_eq(t.count, 3);
    /* floats */
    cr_expect_null(store(&t, "ratio", text_cell("-2.5e3")));
    cr_expect_eq(t.ratio, -2500.0);
    cr_expect_null(store(&t, "ratio", bn_db_int(2)));
    cr_expect_eq(t.ratio, 2.0);
    cr_expect_null(store(&t, "ratio", text_cell("Infinity")));
    cr_expect_not_null(store(&t, "ratio", text_cell("1.5x")));
    /* booleans: SQLite 0/1, PostgreSQL t/f */
    cr_expect_null(store(&t, "active", bn_db_int(1)));
    cr_expect(t.active);
    cr_expect_null(store(&t, "active", text_cell("f")));
    cr_expect_not(t.active);
    cr_expect_null(store(&t, "active", text_cell("t")));
    cr_expect(t.active);
    cr_expect_null(store(&t, "active", bn_db_bool(false)));
    cr_expect_not(t.active);
    cr_expect_not_null(store(&t, "active", bn_db_int(2)));
    cr_expect_not_null(store(&t, "active", text_cell("yes please")));
    /* decimals stay text; a number (SQLite numeric affinity) becomes text */
    cr_expect_null(store(&t, "price", text_cell("12.50")));
    cr_expect_str_eq(t.price, "12.50");
    cr_expect_null(store(&t, "price", bn_db_int(12)));
    cr_expect_str_eq(t.price, "12");
    cr_expect_null(store(&t, "price", bn_db_float(0.1)));
    cr_expect_str_eq(t.price, "0.1");
    /* dates and datetimes from text */
    cr_expect_null(store(&t, "born", text_cell("2024-02-29")));
    cr_expect_eq(t.born.year, 2024);
    cr_expect_eq(t.born.day, 29);
    cr_expect_not_null(store(&t, "born", text_cell("2024-02-30")));
    cr_expect_null(store(&t, "seen_at", text_cell("2024-01-31 12:00:00.123456+00")));
    cr_expect_eq(t.seen_at, 1706702400123456);
    cr_expect_null(store(&t, "seen_at", text_cell("2024-01-31 12:00:00")));
    cr_expect_eq(t.seen_at, 1706702400000000);
    cr_expect_not_null(store(&t, "seen_at", text_cell("yesterday")));
    cr_expect_not_null(store(&t, "seen_at", bn_db_int(5)));
    /* binary: bytes (SQLite blobs; PostgreSQL's adapter decodes bytea); text is its own bytes,
     * even when it looks like bytea hex */
    cr_expect_null(store(&t, "data", bn_db_bytes(bn_str_make("\0\1\2", 3))));
    cr_expect(bytes_is(t.data, "\0\1\2", 3));
    cr_expect_null(store(&t, "data", text_cell("\\x00ff41")));
    cr_expect(bytes_is(t.data, "\\x00ff41", 8));
    cr_expect_null(store(&t, "data", bn_db_bytes(bn_str_make("", 0))));
    cr_expect_not_null(t.data.ptr, "an empty binary is not NULL");
    cr_expect_eq(t.data.len, 0);
    cr_expect_not(bn_record_is_null(&thing_schema, &t, "data"));
    /* JSON: text parsed into the arena */
    cr_expect_null(store(&t, "meta", text_cell("{\"a\": [1, 2.5, \"x\"], \"b\": null}")));
    cr_assert_not_null(t.meta);
    cr_expect_eq(bn_value_len(bn_value_get(t.meta, "a")), 3);
    cr_expect_not_null(store(&t, "meta", text_cell("{not json")));
    cr_expect_null(store(&t, "meta", bn_db_int(3)));
    cr_expect_eq(t.meta->type, BN_VALUE_INT);
    /* strings: copies, NUL-terminated; a NUL inside cannot be a C string */
    char buf[] = "hello";
    cr_expect_null(store(&t, "name", text_cell(buf)));
    buf[0] = 'j';
    cr_expect_str_eq(t.name, "hello");
    cr_expect_not_null(store(&t, "name", bn_db_str(bn_str_make("a\0b", 3))));
    cr_expect_null(store(&t, "uid", text_cell("0e5f6d3a-8c1b-4e2f-9a7d-3b4c5d6e7f80")));
    /* NULL for every type sets the bit and zeroes the member */
    t.count = 9;
    for (size_t i = 0; i < thing_schema.nfields; i++) {
        const char *why = NULL;
        cr_expect(bn__field_store(&thing_schema, i, &t, BN_DB_NULL, &A, &why));
        cr_expect(bn_record_is_null(&thing_schema, &t, thing_schema.fields[i].name), "%s",
                  thing_schema.fields[i].name);
        cr_expect_eq(bn__field_load(&thing_schema, i, &t).type, BN_TYPE_NULL);
    }
    cr_expect_null(t.name);
    cr_expect_eq(t.count, 0);
    /* a value clears the bit again */
    cr_expect_null(store(&t, "count", bn_db_int(0)));
    cr_expect_not(bn_record_is_null(&thing_schema, &t, "count"));
}

Test(data_core, record_from_row)
{
    static const char *const cols[] = {"name", "extra", "count", "active"};
    bn_db_value cells[] = {
        bn_db_text("Ada"), bn_db_text("ignored"), bn_db_int(36), BN_DB_NULL, /* row 0 */
        bn_db_text("Bob"), bn_db_int(1),          text_cell("x"), bn_db_int(1), /* row 1: count is junk */
    };
    bn_db_rows rows = {.nrows = 2, .ncols = 4, .columns = cols, .cells = cells};
    thing t;
    memset(&t, 0xAB, sizeof t);
    bn_db_error e;
    cr_assert(bn__record_from_row(&thing_schema, &rows, 0, &t, &A, &e));
    cr_expect_str_eq(t.name, "Ada");
    cr_expect_eq(t.count, 36);
    cr_expect(bn_record_is_null(&thing_schema, &t, "active"));
    cr_expect_null(t.body, "zeroed first");
    cr_expect_eq(t.id, 0);
    cr_expect_not(bn__record_from_row(&thing_schema, &rows, 1, &t, &A, &e));
    cr_assert_not_null(e.message);
    cr_expect(strstr(e.message, "things.count") != NULL, "%s", e.message);
}

/* ======================================================================== */
/* The SQLite adapter                                                        */

static bn_db_conn *sqlite_conn(const char *file)
{
    char url[256], *error = NULL;
    snprintf(url, sizeof url, "sqlite:%s/%s", tmpdir, file);
    bn_db_conn *c = bn__sqlite_adapter.connect(url, &error);
    cr_assert_not_null(c, "%s", error);
    return c;
}

static int xexec(bn_db_conn *c, const char *text, const bn_db_value *p, size_t n, bn_db_rows *rows, int64_t *changes,
                 bn_db_error *e)
{
    return bn__sqlite_adapter.exec(c, text, p, n, &A, rows, changes, 0, e);
}

static int64_t int_of(bn_db_conn *c, const char *text)
{
    bn_db_rows rows;
    bn_db_error e;
    cr_assert_eq(xexec(c, text, NULL, 0, &rows, NULL, &e), 0, "%s: %s", text, e.message);
    cr_assert_eq(rows.nrows, 1);
    cr_assert_eq(rows.cells[0].type, BN_TYPE_BIGINT, "%s", text);
    return rows.cells[0].u.i;
}

Test(data_core, sqlite_connection_settings)
{
    bn_db_conn *c = sqlite_conn("settings.db");
    bn_db_rows rows;
    bn_db_error e;
    cr_assert_eq(xexec(c, "PRAGMA journal_mode", NULL, 0, &rows, NULL, &e), 0);
    cr_expect(bn_str_eq(rows.cells[0].u.s, BN_STR("wal")));
    cr_expect_eq(int_of(c, "PRAGMA foreign_keys"), 1);
    cr_expect_eq(int_of(c, "PRAGMA synchronous"), 1); /* NORMAL */
    cr_expect_eq(int_of(c, "PRAGMA busy_timeout"), 5000);
    cr_expect_not(bn__sqlite_adapter.broken(c));
    bn__sqlite_adapter.disconnect(c);
    struct stat st;
    char path[128];
    snprintf(path, sizeof path, "%s/settings.db", tmpdir);
    cr_expect_eq(stat(path, &st), 0, "the file was created");

    char *error = NULL;
    cr_expect_null(bn__sqlite_adapter.connect("sqlite:/nonexistent-dir/x/y.db", &error));
    cr_assert_not_null(error);
    cr_expect(strstr(error, "/nonexistent-dir/x/y.db") != NULL, "%s", error);
    free(error);
    error = NULL;
    cr_expect_null(bn__sqlite_adapter.connect("sqlite:", &error));
    cr_assert_not_null(error);
    free(error);
    c = bn__sqlite_adapter.connect("sqlite::memory:", &error);
    cr_assert_not_null(c, "%s", error);
    cr_expect_eq(int_of(c, "SELECT 40 + 2"), 42);
    bn__sqlite_adapter.disconnect(c);
}

Test(data_core, sqlite_cells_by_storage_class)
{
    bn_db_conn *c = sqlite_conn("cells.db");
    bn_db_rows rows;
    bn_db_error e;
    cr_assert_eq(xexec(c, "SELECT 1 AS i, 1.5 AS f, 'x' AS t, x'00ff' AS b, NULL AS n, x'' AS e", NULL, 0, &rows,
                       NULL, &e),
                 0, "%s", e.message);
    cr_assert_eq(rows.nrows, 1);
    cr_assert_eq(rows.ncols, 6);
    static const char *const names[] = {"i", "f", "t", "b", "n", "e"};
    for (size_t i = 0; i < 6; i++)
        cr_expect_str_eq(rows.columns[i], names[i]);
    cr_expect_eq(rows.cells[0].type, BN_TYPE_BIGINT);
    cr_expect_eq(rows.cells[0].u.i, 1);
    cr_expect_eq(rows.cells[1].type, BN_TYPE_FLOAT);
    cr_expect_eq(rows.cells[1].u.f, 1.5);
    cr_expect_eq(rows.cells[2].type, BN_TYPE_TEXT);
    cr_expect(bn_str_eq(rows.cells[2].u.s, BN_STR("x")));
    cr_expect_eq(rows.cells[3].type, BN_TYPE_BINARY);
    cr_expect(bytes_is(rows.cells[3].u.s, "\0\xff", 2));
    cr_expect_eq(rows.cells[4].type, BN_TYPE_NULL);
    cr_expect_eq(rows.cells[5].type, BN_TYPE_BINARY);
    cr_expect_not_null(rows.cells[5].u.s.ptr, "an empty blob is not NULL");

    /* no rows: the columns are still there */
    cr_assert_eq(xexec(c, "SELECT 1 AS one WHERE 0", NULL, 0, &rows, NULL, &e), 0);
    cr_expect_eq(rows.nrows, 0);
    cr_expect_eq(rows.ncols, 1);
    cr_expect_str_eq(rows.columns[0], "one");
    bn__sqlite_adapter.disconnect(c);
}

Test(data_core, sqlite_binding_every_type)
{
    bn_db_conn *c = sqlite_conn("bind.db");
    bn_value *json = bn_value_object(&A);
    bn_value_set(&A, json, "k", bn_value_string(&A, BN_STR("v\"")));
    bn_db_value p[] = {
        bn_db_int(-7),
        bn_db_float(0.25),
        bn_db_bool(true),
        bn_db_text("O'Brien"),
        {.type = BN_TYPE_DECIMAL, .u.s = BN_STR("12.50")},
        {.type = BN_TYPE_DATE, .u.date = {2024, 2, 29}},
        {.type = BN_TYPE_UTC_DATETIME, .u.t = 1706702400000000},
        {.type = BN_TYPE_UTC_DATETIME, .u.t = -1},
        bn_db_bytes(bn_str_make("a\0b", 3)),
        {.type = BN_TYPE_JSON, .u.json = json},
        BN_DB_NULL,
        bn_db_str(bn_str_make(NULL, 0)), /* an empty string, not NULL */
        bn_db_str(bn_str_make("x\0y", 3)),
    };
    bn_db_rows rows;
    bn_db_error e;
    cr_assert_eq(xexec(c, "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?", p, BN_ARRAY_LEN(p), &rows, NULL, &e), 0,
                 "%s", e.message);
    const bn_db_value *v = rows.cells;
    cr_expect_eq(v[0].u.i, -7);
    cr_expect_eq(v[1].u.f, 0.25);
    cr_expect_eq(v[2].type, BN_TYPE_BIGINT);
    cr_expect_eq(v[2].u.i, 1);
    cr_expect(bn_str_eq(v[3].u.s, BN_STR("O'Brien")));
    cr_expect(bn_str_eq(v[4].u.s, BN_STR("12.50")));
    cr_expect(bn_str_eq(v[5].u.s, BN_STR("2024-02-29")));
    /* always six fraction digits, so that text order is time order */
    cr_expect(bn_str_eq(v[6].u.s, BN_STR("2024-01-31T12:00:00.000000Z")), "%.*s", (int)v[6].u.s.len, v[6].u.s.ptr);
    cr_expect(bn_str_eq(v[7].u.s, BN_STR("1969-12-31T23:59:59.999999Z")), "%.*s", (int)v[7].u.s.len, v[7].u.s.ptr);
    cr_expect_eq(v[8].type, BN_TYPE_BINARY);
    cr_expect(bytes_is(v[8].u.s, "a\0b", 3));
    cr_expect(bn_str_eq(v[9].u.s, BN_STR("{\"k\":\"v\\\"\"}")), "%.*s", (int)v[9].u.s.len, v[9].u.s.ptr);
    cr_expect_eq(v[10].type, BN_TYPE_NULL);
    cr_expect_eq(v[11].type, BN_TYPE_TEXT);
    cr_expect_eq(v[11].u.s.len, 0);
    cr_expect_eq(v[12].u.s.len, 3, "text with a NUL keeps its length");

    /* placeholders and values must match */
    cr_expect_eq(xexec(c, "SELECT ?, ?", p, 1, NULL, NULL, &e), -1);
    cr_expect(strstr(e.message, "2 placeholders but 1 value") != NULL, "%s", e.message);
    bn__sqlite_adapter.disconnect(c);
}

Test(data_core, sqlite_changes_and_several_statements)
{
    bn_db_conn *c = sqlite_conn("changes.db");
    bn_db_error e;
    int64_t changes = -1;
    cr_assert_eq(xexec(c, "CREATE TABLE t (a integer); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);", NULL, 0,
                       NULL, &changes, &e),
                 0, "%s", e.message);
    cr_expect_eq(changes, 1, "the last statement's changes");
    cr_assert_eq(xexec(c, "UPDATE t SET a = a + 1", NULL, 0, NULL, &changes, &e), 0);
    cr_expect_eq(changes, 2);
    cr_assert_eq(xexec(c, "SELECT * FROM t", NULL, 0, NULL, &changes, &e), 0);
    cr_expect_eq(changes, 0, "a SELECT changes nothing");
    bn_db_value one = bn_db_int(1);
    cr_expect_eq(xexec(c, "INSERT INTO t VALUES (?); DROP TABLE t", &one, 1, NULL, NULL, &e), -1);
    cr_expect(strstr(e.message, "one by one") != NULL, "%s", e.message);
    cr_expect_eq(int_of(c, "SELECT count(*) FROM t"), 2, "nothing of the rejected text ran");
    cr_expect_eq(xexec(c, "   -- only a comment", NULL, 0, NULL, NULL, &e), 0);
    cr_expect_eq(xexec(c, "SELEC 1", NULL, 0, NULL, NULL, &e), -1);
    cr_expect(strstr(e.message, "syntax error") != NULL, "%s", e.message);
    cr_expect_eq(e.code, 1); /* SQLITE_ERROR */
    bn__sqlite_adapter.disconnect(c);
}

Test(data_core, sqlite_constraint_names)
{
    bn_db_conn *c = sqlite_conn("constraints.db");
    bn_db_error e;
    cr_assert_eq(xexec(c,
                       "CREATE TABLE p (id INTEGER PRIMARY KEY, a text, b text, n integer CONSTRAINT n_positive "
                       "CHECK (n > 0), nn text NOT NULL DEFAULT 'x');"
                       "CREATE UNIQUE INDEX p_a_index ON p (a);"
                       "CREATE UNIQUE INDEX p_a_b_index ON p (b, n);"
                       "CREATE TABLE k (id INTEGER PRIMARY KEY, p_id integer REFERENCES p(id));"
                       "INSERT INTO p (id, a, b, n) VALUES (1, 'x', 'y', 1);",
                       NULL, 0, NULL, NULL, &e),
                 0, "%s", e.message);
    cr_expect_eq(xexec(c, "INSERT INTO p (a) VALUES ('x')", NULL, 0, NULL, NULL, &e), -1);
    cr_expect_str_eq(e.constraint, "p_a_index");
    cr_expect_eq(e.code, 2067); /* SQLITE_CONSTRAINT_UNIQUE */
    cr_expect_str_eq(e.message, "UNIQUE constraint failed: p.a");
    cr_expect_str_eq(e.sqlstate, "");
    cr_expect_eq(xexec(c, "INSERT INTO p (b, n) VALUES ('y', 1)", NULL, 0, NULL, NULL, &e), -1);
    cr_expect_str_eq(e.constraint, "p_b_n_index");
    cr_expect_eq(xexec(c, "INSERT INTO p (id) VALUES (1)", NULL, 0, NULL, NULL, &e), -1);
    cr_expect_str_eq(e.constraint, "p_pkey");
    cr_expect_eq(xexec(c, "INSERT INTO p (n) VALUES (0)", NULL, 0, NULL, NULL, &e), -1);
    cr_expect_str_eq(e.constraint, "n_positive");
    cr_expect_eq(xexec(c, "INSERT INTO k (p_id) VALUES (99)", NULL, 0, NULL, NULL, &e), -1);
    cr_expect_null(e.constraint, "SQLite names no foreign key");
    cr_expect_eq(e.code, 787); /* SQLITE_CONSTRAINT_FOREIGNKEY: foreign keys are on */
    cr_expect_eq(xexec(c, "INSERT INTO p (nn) VALUES (NULL)", NULL, 0, NULL, NULL, &e), -1);
    cr_expect_null(e.constraint);
    cr_expect_eq(e.code, 1299); /* SQLITE_CONSTRAINT_NOTNULL */
    bn__sqlite_adapter.disconnect(c);
}

Test(data_core, sqlite_timeout_interrupts_only_that_statement)
{
    bn_db_conn *c = sqlite_conn("timeout.db");
    bn_db_error e;
    bn_db_rows rows;
    const char *forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    cr_expect_eq(bn__sqlite_adapter.exec(c, forever, NULL, 0, &A, &rows, NULL, 50, &e), -1);
    cr_expect(e.timeout);
    cr_expect_str_eq(e.message, "query timed out after 50 ms");
    cr_expect_eq(e.code & 0xff, 9); /* SQLITE_INTERRUPT */
    /* the connection goes on */
    cr_expect_eq(int_of(c, "SELECT 7"), 7);
    /* a real interruption that is not ours is not a timeout */
    cr_expect_eq(bn__sqlite_adapter.exec(c, "SELECT 1", NULL, 0, &A, &rows, NULL, 50, &e), 0);
    bn__sqlite_adapter.disconnect(c);
}

Test(data_core, sqlite_statement_cache)
{
    bn_db_conn *c = sqlite_conn("cache.db");
    bn_db_value v = bn_db_int(3);
    bn_db_rows rows;
    bn_db_error e;
    uint64_t before = bn__sqlite_prepares;
    for (int i = 0; i < 10; i++) {
        v.u.i = i;
        cr_assert_eq(xexec(c, "SELECT ? * 2 AS twice", &v, 1, &rows, NULL, &e), 0, "%s", e.message);
        cr_assert_eq(rows.cells[0].u.i, i * 2, "a cached statement is rebound each time");
    }
    cr_expect_eq(bn__sqlite_prepares - before, 1, "compiled once, reused nine times");

    /* LRU of 64: a statement used recently survives 63 others... */
    char text[64];
    for (int i = 0; i < 63; i++) {
        snprintf(text, sizeof text, "SELECT %d", i);
        cr_assert_eq(xexec(c, text, NULL, 0, NULL, NULL, &e), 0);
    }
    before = bn__sqlite_prepares;
    cr_assert_eq(xexec(c, "SELECT ? * 2 AS twice", &v, 1, &rows, NULL, &e), 0);
    cr_expect_eq(bn__sqlite_prepares - before, 0);
    /* ...and the least recently used goes when 64 others came after it. */
    for (int i = 100; i < 164; i++) {
        snprintf(text, sizeof text, "SELECT %d", i);
        cr_assert_eq(xexec(c, text, NULL, 0, NULL, NULL, &e), 0);
    }
    before = bn__sqlite_prepares;
    cr_assert_eq(xexec(c, "SELECT ? * 2 AS twice", &v, 1, &rows, NULL, &e), 0);
    cr_expect_eq(bn__sqlite_prepares - before, 1);

    /* a cached statement follows schema changes (SQLite re-prepares it) */
    cr_assert_eq(xexec(c, "CREATE TABLE s (a integer)", NULL, 0, NULL, NULL, &e), 0);
    cr_assert_eq(xexec(c, "SELECT * FROM s", NULL, 0, &rows, NULL, &e), 0);
    cr_expect_eq(rows.ncols, 1);
    cr_assert_eq(xexec(c, "ALTER TABLE s ADD COLUMN b text", NULL, 0, NULL, NULL, &e), 0);
    cr_assert_eq(xexec(c, "SELECT * FROM s", NULL, 0, &rows, NULL, &e), 0);
    cr_expect_eq(rows.ncols, 2);
    /* a failed statement leaves its cached copy usable */
    cr_assert_eq(xexec(c, "CREATE TABLE u (a integer UNIQUE)", NULL, 0, NULL, NULL, &e), 0);
    for (int i = 0; i < 3; i++)
        cr_expect_eq(xexec(c, "INSERT INTO u VALUES (?)", &v, 1, NULL, NULL, &e), i == 0 ? 0 : -1);
    bn__sqlite_adapter.disconnect(c);
}

/* ======================================================================== */
/* Opening repos                                                             */

Test(data_core, repo_open_urls_and_defaults)
{
    cr_assert_eq(chdir(tmpdir), 0);
    unsetenv("DATABASE_URL");
    char *error = NULL;
    bn_repo *r = bn_repo_open(NULL, &error);
    cr_assert_not_null(r, "%s", error);
    cr_expect_eq(bn_repo_kind(r), BN_DB_SQLITE);
    cr_expect_eq(bn__repo_kind(r), BN_DB_SQLITE);
    bn_repo_close(r);
    cr_expect_eq(access("app.db", F_OK), 0, "sqlite:app.db, relative to the cwd");

    setenv("DATABASE_URL", "sqlite:from_env.db", 1);
    r = bn_repo_open(&(bn_repo_config){.quiet = true}, &error);
    cr_assert_not_null(r, "%s", error);
    bn_repo_close(r);
    cr_expect_eq(access("from_env.db", F_OK), 0);

    r = bn_repo_open(&(bn_repo_config){.url = "sqlite:explicit.db"}, &error);
    cr_assert_not_null(r, "%s", error);
    bn_repo_close(r);
    cr_expect_eq(access("explicit.db", F_OK), 0, "the config's url beats DATABASE_URL");

    error = NULL;
    cr_expect_null(bn_repo_open(&(bn_repo_config){.url = "mysql://localhost/x"}, &error));
    cr_assert_not_null(error);
    cr_expect(strstr(error, "mysql://localhost/x") != NULL, "%s", error);
    free(error);
    error = NULL;
    cr_expect_null(bn_repo_open(&(bn_repo_config){.url = "sqlite:/nonexistent-dir/x/y.db"}, &error));
    cr_assert_not_null(error);
    free(error);
    bn_repo_close(NULL);

    cr_expect_eq(bn__adapter_for("sqlite:x.db"), &bn__sqlite_adapter);
    cr_expect_eq(bn__adapter_for("postgres://u@h/db"), &bn__postgres_adapter);
    cr_expect_eq(bn__adapter_for("postgresql://u@h/db"), &bn__postgres_adapter);
    cr_expect_null(bn__adapter_for("sqlitex"));
    cr_expect_null(bn__adapter_for(NULL));
}

Test(data_core, repo_in_memory_is_one_database_per_repo)
{
    char *error = NULL;
    bn_repo *a = bn_repo_open(&(bn_repo_config){.url = "sqlite::memory:", .pool_size = 2}, &error);
    bn_repo *b = bn_repo_open(&(bn_repo_config){.url = "sqlite::memory:", .quiet = true}, &error);
    cr_assert(a && b, "%s", error);
    sql(a, "CREATE TABLE t (x integer)");
    sql(a, "INSERT INTO t VALUES (1)");
    /* a second connection of the same repo (the first one is held) sees it */
    bn_repo *sb = bn_repo_sandbox(a, NULL);
    cr_assert_not_null(sb);
    cr_expect_eq(count_rows(a, "t"), 1);
    bn_repo_sandbox_end(sb);
    bn_db_error e;
    cr_expect_eq(bn_repo_query(b, &A, NULL, &e, "SELECT * FROM t"), -1, "another repo, another database");
    cr_expect(strstr(e.message, "no such table") != NULL, "%s", e.message);
    bn_repo_close(a);
    bn_repo_close(b);
}

/* ======================================================================== */
/* CRUD through the Repo, on every adapter                                   */

static const char HOSTILE_NAME[] = "O'Brien \"the\" \\ '; DROP TABLE core_things; --";
static const char HOSTILE_BODY[] = "line1\nline2\t\r'\"`; DELETE FROM core_users; /* */ -- 🦀🔥 café ∑ 𝄞";
static const char BYTES[] = "\0a\0\xff\xfe'\"\\\x01";

static thing *full_thing(void)
{
    thing *t = bn_arena_alloc(&A, sizeof *t);
    memset(t, 0, sizeof *t);
    t->name = HOSTILE_NAME;
    t->body = HOSTILE_BODY;
    t->count = -2147483647;
    t->big = INT64_MIN + 1;
    t->ratio = -0.125;
    t->active = true;
    t->price = "12345678901234567890.50";
    t->born = (bn_date){2024, 2, 29};
    t->seen_at = 1706702400123456;
    t->data = bn_str_make(BYTES, sizeof BYTES - 1);
    bn_json_error je;
    t->meta = bn_json_parse(
        &A, BN_STR("{\"sql\": \"'; DROP TABLE core_things; --\", \"emoji\": \"🦀\", \"n\": [1, 2.5]}"), &je);
    t->uid = "0e5f6d3a-8c1b-4e2f-9a7d-3b4c5d6e7f80";
    t->secret = "virtual";
    return t;
}

static bn_changeset *changeset_of(const thing *t)
{
    bn_changeset *cs = bn_changeset_cast(&A, &thing_schema, NULL, NULL, NULL);
    for (size_t i = 0; i < thing_schema.nfields; i++) {
        const bn_field *f = &thing_schema.fields[i];
        if (f->type == BN_TYPE_ID || strcmp(f->name, "inserted_at") == 0 || strcmp(f->name, "updated_at") == 0)
            continue;
        bn_changeset_put(cs, f->name, bn__field_load(&thing_schema, i, t));
    }
    return cs;
}

static void expect_same_thing(const thing *got, const thing *want, bn_db_kind kind)
{
    cr_expect_str_eq(got->name, want->name);
    cr_expect_str_eq(got->body, want->body);
    cr_expect_eq(got->count, want->count);
    cr_expect_eq(got->big, want->big);
    cr_expect_eq(got->ratio, want->ratio);
    cr_expect_eq(got->active, want->active);
    cr_expect_str_eq(got->price, want->price);
    cr_expect_eq(got->born.year, want->born.year);
    cr_expect_eq(got->born.month, want->born.month);
    cr_expect_eq(got->born.day, want->born.day);
    cr_expect_eq(got->seen_at, want->seen_at, "%s", fmt(got->seen_at));
    cr_expect(bytes_is(got->data, want->data.ptr, want->data.len), "%zu bytes", got->data.len);
    cr_expect(bn_value_equal(got->meta, want->meta), "JSON (jsonb may reorder keys on %d)", (int)kind);
    cr_expect_str_eq(got->uid, want->uid);
}

DB_TEST(insert_and_get_round_trip_every_type_and_hostile_strings)
{
    thing *t = full_thing();
    thing out;
    bn_changeset *cs = changeset_of(t);
    bn_datetime before = bn_datetime_now();
    cr_assert_eq(bn_repo_insert(r, cs, &out), 0, "%s", errors_of(cs, ""));
    bn_datetime after = bn_datetime_now();
    cr_expect_gt(out.id, 0, "the id is read back");
    expect_same_thing(&out, t, kind);
    cr_expect_str_eq(out.secret, "virtual", "virtual fields stay as the changeset had them");
    cr_expect(out.inserted_at >= before - 1000000 && out.inserted_at <= after + 1000000, "%s", fmt(out.inserted_at));
    cr_expect_eq(out.inserted_at, out.updated_at);

    thing got;
    memset(&got, 0x5A, sizeof got);
    bn_db_error e;
    cr_assert_eq(bn_repo_get(r, &A, &thing_schema, out.id, &got, &e), 1, "%s", e.message);
    expect_same_thing(&got, t, kind);
    cr_expect_eq(got.id, out.id);
    cr_expect_eq(got.inserted_at, out.inserted_at, "datetimes keep their microseconds");
    cr_expect_null(got.secret, "virtual fields are not stored");
    cr_expect_eq(count_rows(r, "core_things"), 1, "the table survived the hostile strings");

    /* a table whose name is hostile */
    bn_changeset *ocs = bn_changeset_cast(&A, &odd_schema, NULL, NULL, NULL);
    bn_changeset_put(ocs, "label", bn_db_text(HOSTILE_NAME));
    odd o;
    cr_assert_eq(bn_repo_insert(r, ocs, &o), 0, "%s", errors_of(ocs, ""));
    odd og;
    cr_assert_eq(bn_repo_get(r, &A, &odd_schema, o.id, &og, &e), 1, "%s", e.message);
    cr_expect_str_eq(og.label, HOSTILE_NAME);
    cr_expect_eq(count_rows(r, "core_things"), 1);

    cr_expect_eq(bn_repo_get(r, &A, &thing_schema, out.id + 1000, &got, &e), 0, "not found");
}

DB_TEST(invalid_utf8_round_trips_or_is_refused_clearly)
{
    static const char bad[] = "ok \xc3\x28 \xff\xfe \xed\xa0\x80 end";
    bn_changeset *cs = bn_changeset_cast(&A, &thing_schema, NULL, NULL, NULL);
    bn_changeset_put(cs, "name", bn_db_text(bad));
    thing out;
    int rc = bn_repo_insert(r, cs, &out);
    if (kind == BN_DB_SQLITE) {
        cr_assert_eq(rc, 0, "%s", errors_of(cs, ""));
        thing got;
        bn_db_error e;
        cr_assert_eq(bn_repo_get(r, &A, &thing_schema, out.id, &got, &e), 1, "%s", e.message);
        cr_expect_str_eq(got.name, bad, "SQLite keeps the bytes as they are");
    } else {
        cr_expect_eq(rc, -1, "PostgreSQL refuses text that is not UTF-8");
        cr_expect_not_null(errors_of(cs, ""), "with a base error on the changeset");
        cr_expect_eq(count_rows(r, "core_things"), 0);
    }
    /* bytes are bytes: the same in a binary field always round-trip */
    cs = bn_changeset_cast(&A, &thing_schema, NULL, NULL, NULL);
    bn_changeset_put(cs, "data", bn_db_bytes(bn_str_make(bad, sizeof bad - 1)));
    cr_assert_eq(bn_repo_insert(r, cs, &out), 0, "%s", errors_of(cs, ""));
    thing got;
    cr_assert_eq(bn_repo_get(r, &A, &thing_schema, out.id, &got, NULL), 1);
    cr_expect(bytes_is(got.data, bad, sizeof bad - 1));
}

DB_TEST(nulls_of_every_type)
{
    bn_changeset *cs = bn_changeset_cast(&A, &thing_schema, NULL, NULL, NULL);
    thing out;
    cr_assert_eq(bn_repo_insert(r, cs, &out), 0, "an empty changeset inserts defaults: %s", errors_of(cs, ""));
    thing got;
    bn_db_error e;
    cr_assert_eq(bn_repo_get(r, &A, &thing_schema, out.id, &got, &e), 1, "%s", e.message);
    for (size_t i = 0; i < thing_schema.nfields; i++) {
        const char *n = thing_schema.fields[i].name;
        bool expect_null = strcmp(n, "id") && strcmp(n, "inserted_at") && strcmp(n, "updated_at");
        cr_expect_eq(bn_record_is_null(&thing_schema, &got, n), expect_null, "%s", n);
        cr_expect_eq(bn_record_is_null(&thing_schema, &out, n), expect_null, "out: %s", n);
    }
    cr_expect_null(got.name);
    cr_expect_null(got.meta);
    cr_expect_null(got.data.ptr);
    cr_expect_eq(got.count, 0);

    /* a value, then back to NULL through an update */
    thing *t = full_thing();
    cs = changeset_of(t);
    cr_assert_eq(bn_repo_insert(r, cs, &out), 0, "%s", errors_of(cs, ""));
    cs = bn_changeset_cast(&A, &thing_schema, &out, NULL, NULL);
    for (size_t i = 0; i < thing_schema.nfields; i++) {
        const bn_field *f = &thing_schema.fields[i];
        if (f->type != BN_TYPE_ID && strcmp(f->name, "inserted_at") && strcmp(f->name, "updated_at"))
            bn_changeset_put(cs, f->name, BN_DB_NULL);
    }
    thing upd;
    cr_assert_eq(bn_repo_update(r, cs, &upd), 0, "%s", errors_of(cs, ""));
    cr_assert_eq(bn_repo_get(r, &A, &thing_schema, out.id, &got, &e), 1, "%s", e.message);
    for (size_t i = 0; i < thing_schema.nfields; i++) {
        const char *n = thing_schema.fields[i].name;
        bool expect_null = strcmp(n, "id") && strcmp(n, "inserted_at") && strcmp(n, "updated_at");
        cr_expect_eq(bn_record_is_null(&thing_schema, &got, n), expect_null, "%s", n);
    }

    /* get_by a NULL value means IS NULL */
    thing one;
    cr_expect_eq(bn_repo_get_by(r, &A, &thing_schema, &one, &e, {"name", BN_DB_NULL}, {"count", BN_DB_NULL}), -1,
                 "two rows have no name");
    cr_expect(strstr(e.message, "at most one") != NULL, "%s", e.message);
}

DB_TEST(get_by)
{
    int64_t ada = insert_user(r, "ada@example.com", "Ada"), bob = insert_user(r, "bob@example.com", "Bob");
    cr_assert(ada > 0 && bob > 0);
    user u;
    bn_db_error e;
    cr_expect_eq(bn_repo_get_by(r, &A, &user_schema, &u, &e, {"email", BN_DB("bob@example.com")}), 1, "%s",
                 e.message);
    cr_expect_eq(u.id, bob);
    cr_expect_str_eq(u.name, "Bob");
    cr_expect_eq(bn_repo_get_by(r, &A, &user_schema, &u, &e, {"email", BN_DB("bob@example.com")},
                                {"name", BN_DB("Ada")}),
                 0);
    cr_expect_eq(bn_repo_get_by(r, &A, &user_schema, &u, &e, {"email", BN_DB("' OR 1=1 --")}), 0,
                 "values are bound, never pasted");
    cr_expect_eq(bn_repo_get_by(r, &A, &user_schema, &u, &e, {"nope", BN_DB(1)}), -1);
    cr_expect(strstr(e.message, "nope") != NULL, "%s", e.message);
    cr_expect_eq(bn_repo_get_by(r, &A, &user_schema, &u, &e, {"id", BN_DB(ada)}), 1);
    cr_expect_str_eq(u.email, "ada@example.com");
}

DB_TEST(insert_from_an_existing_record)
{
    /* a changeset over a record (a template): its other fields are inserted too */
    user tmpl = {.email = "tmpl@example.com", .name = "Template"};
    bn_value *params = bn_value_object(&A);
    bn_value_set(&A, params, "email", bn_value_string(&A, BN_STR("copy@example.com")));
    bn_changeset *cs = bn_changeset_cast(&A, &user_schema, &tmpl, params, BN_FIELDS("email"));
    user out;
    cr_assert_eq(bn_repo_insert(r, cs, &out), 0, "%s", errors_of(cs, ""));
    cr_expect_gt(out.id, 0, "a zero id is not inserted: the database assigns one");
    cr_expect_gt(out.inserted_at, 1700000000000000, "a zero timestamp is set");
    user got;
    cr_assert_eq(bn_repo_get(r, &A, &user_schema, out.id, &got, NULL), 1);
    cr_expect_str_eq(got.email, "copy@example.com");
    cr_expect_str_eq(got.name, "Template");
}

DB_TEST(update_and_delete)
{
    int64_t id = insert_user(r, "ada@example.com", "Ada");
    cr_assert_gt(id, 0);
    user u;
    cr_assert_eq(bn_repo_get(r, &A, &user_schema, id, &u, NULL), 1);
    bn_value *params = bn_value_object(&A);
    bn_value_set(&A, params, "name", bn_value_string(&A, BN_STR("Ada Lovelace")));
    bn_changeset *cs = bn_changeset_cast(&A, &user_schema, &u, params, BN_FIELDS("name", "email"));
    user out;
    cr_assert_eq(bn_repo_update(r, cs, &out), 0, "%s", errors_of(cs, ""));
    cr_expect_str_eq(out.name, "Ada Lovelace");
    cr_expect_str_eq(out.email, "ada@example.com");
    cr_expect_eq(out.inserted_at, u.inserted_at);
    cr_expect_geq(out.updated_at, u.updated_at);
    user got;
    cr_assert_eq(bn_repo_get(r, &A, &user_schema, id, &got, NULL), 1);
    cr_expect_str_eq(got.name, "Ada Lovelace");
    cr_expect_eq(got.updated_at, out.updated_at);

    /* no change: nothing sent, the record as it was */
    cs = bn_changeset_cast(&A, &user_schema, &got, params, BN_FIELDS("name"));
    user same;
    cr_assert_eq(bn_repo_update(r, cs, &same), 0);
    cr_expect_eq(same.updated_at, got.updated_at);

    /* an invalid changeset sends nothing */
    cs = bn_changeset_cast(&A, &user_schema, &got, NULL, NULL);
    bn_changeset_put(cs, "name", bn_db_text("X"));
    bn_changeset_add_error(cs, "name", "is bad");
    cr_expect_eq(bn_repo_update(r, cs, &same), -1);
    cr_assert_eq(bn_repo_get(r, &A, &user_schema, id, &got, NULL), 1);
    cr_expect_str_eq(got.name, "Ada Lovelace");

    /* a new record cannot be updated */
    cs = bn_changeset_cast(&A, &user_schema, NULL, params, BN_FIELDS("name"));
    cr_expect_eq(bn_repo_update(r, cs, &same), -1);
    cr_expect_not_null(errors_of(cs, ""));

    bn_db_error e;
    cr_expect_eq(bn_repo_delete(r, &user_schema, &got, &e), 1, "%s", e.message);
    cr_expect_eq(bn_repo_delete(r, &user_schema, &got, &e), 0, "already gone");
    cr_expect_eq(bn_repo_get(r, &A, &user_schema, id, &same, NULL), 0);

    /* updating a deleted record: stale */
    cs = bn_changeset_cast(&A, &user_schema, &got, NULL, NULL);
    bn_changeset_put(cs, "name", bn_db_text("Ghost"));
    cr_expect_eq(bn_repo_update(r, cs, &same), -1);
    cr_expect(strstr(errors_of(cs, "") ? errors_of(cs, "") : "", "stale") != NULL);

    user nokey = {0};
    bn_record_set_null(&user_schema, &nokey, "id", true);
    cr_expect_eq(bn_repo_delete(r, &user_schema, &nokey, &e), -1);
    cr_expect_not_null(e.message);
}

DB_TEST(constraint_errors_go_to_the_changeset)
{
    cr_assert_gt(insert_user(r, "ada@example.com", "Ada"), 0);
    /* a declared unique constraint: an error on its field */
    bn_changeset *cs = bn_changeset_cast(&A, &user_schema, NULL, NULL, NULL);
    bn_changeset_put(cs, "email", bn_db_text("ada@example.com"));
    bn_unique_constraint(cs, "email", NULL);
    user u;
    cr_expect_eq(bn_repo_insert(r, cs, &u), -1);
    cr_expect_str_eq(errors_of(cs, "email"), "has already been taken");
    cr_expect_null(errors_of(cs, ""));
    /* undeclared: the database's message as a base error */
    cs = bn_changeset_cast(&A, &user_schema, NULL, NULL, NULL);
    bn_changeset_put(cs, "email", bn_db_text("ada@example.com"));
    cr_expect_eq(bn_repo_insert(r, cs, &u), -1);
    cr_expect_null(errors_of(cs, "email"));
    cr_expect_not_null(errors_of(cs, ""));
    /* a foreign key */
    cs = bn_changeset_cast(&A, &post_schema, NULL, NULL, NULL);
    bn_changeset_put(cs, "title", bn_db_text("Hi"));
    bn_changeset_put(cs, "author_id", bn_db_int(424242));
    bn_foreign_key_constraint(cs, "author_id", NULL);
    post p;
    cr_expect_eq(bn_repo_insert(r, cs, &p), -1);
    cr_expect_str_eq(errors_of(cs, "author_id"), "does not exist");
    cr_expect_eq(count_rows(r, "core_posts"), 0);
    /* an invalid changeset never reaches the database */
    cs = bn_changeset_cast(&A, &user_schema, NULL, NULL, NULL);
    bn_changeset_put(cs, "email", bn_db_text("new@example.com"));
    bn_changeset_add_error(cs, "email", "is bad");
    cr_expect_eq(bn_repo_insert(r, cs, &u), -1);
    cr_expect_eq(count_rows(r, "core_users"), 1);
    /* the repo goes on after errors (PostgreSQL: no aborted state outside transactions) */
    cr_expect_gt(insert_user(r, "bob@example.com", "Bob"), 0);
}

DB_TEST(insert_all)
{
    /* Value fields (integers, dates...) are NULL only by their NULL bit. */
    thing items[3];
    memset(items, 0, sizeof items);
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < thing_schema.nfields; i++)
            bn_record_set_null(&thing_schema, &items[k], thing_schema.fields[i].name, true);
    for (size_t k = 0; k < 3; k++) /* the NULL bit wins over a pointer */
        bn_record_set_null(&thing_schema, &items[k], "name", false);
    bn_record_set_null(&thing_schema, &items[1], "data", false);
    items[0].name = "one";
    items[0].count = 1;
    bn_record_set_null(&thing_schema, &items[0], "count", false);
    items[1].name = HOSTILE_NAME;
    items[1].data = bn_str_make(BYTES, sizeof BYTES - 1);
    items[2].name = "three";
    items[2].seen_at = 1706702400000001;
    bn_record_set_null(&thing_schema, &items[2], "seen_at", false);
    items[2].inserted_at = 1000000; /* kept: only unset timestamps are filled */
    bn_record_set_null(&thing_schema, &items[2], "inserted_at", false);
    bn_db_error e;
    cr_assert_eq(bn_repo_insert_all(r, &thing_schema, items, 3, &e), 3, "%s", e.message);
    cr_expect_eq(count_rows(r, "core_things"), 3);
    thing got;
    cr_assert_eq(bn_repo_get_by(r, &A, &thing_schema, &got, &e, {"name", BN_DB(HOSTILE_NAME)}), 1, "%s", e.message);
    cr_expect(bytes_is(got.data, BYTES, sizeof BYTES - 1));
    cr_expect_gt(got.inserted_at, 1700000000000000, "timestamps filled: %s", fmt(got.inserted_at));
    cr_assert_eq(bn_repo_get_by(r, &A, &thing_schema, &got, &e, {"name", BN_DB("three")}), 1);
    cr_expect(bn_record_is_null(&thing_schema, &got, "count"));
    cr_expect_eq(got.seen_at, 1706702400000001);
    cr_expect_eq(got.inserted_at, 1000000);
    cr_expect_eq(bn_repo_insert_all(r, &thing_schema, items, 0, &e), 0);

    /* one statement: a failing row inserts none */
    user us[2] = {{.email = "a@x"}, {.email = "a@x"}};
    cr_expect_eq(bn_repo_insert_all(r, &user_schema, us, 2, &e), -1);
    cr_expect_not_null(e.message);
    cr_expect_str_eq(e.constraint, "core_users_email_index");
    cr_expect_eq(count_rows(r, "core_users"), 0);

    /* too many values for one statement: refused with the limit */
    size_t n = 40000;
    user *many = calloc(n, sizeof *many);
    cr_expect_eq(bn_repo_insert_all(r, &user_schema, many, n, &e), -1);
    cr_expect(strstr(e.message, "at most") != NULL, "%s", e.message);
    free(many);
}

DB_TEST(raw_queries)
{
    bn_db_rows rows;
    bn_db_error e;
    cr_assert_eq(bn_repo_query(r, &A, &rows, &e, "SELECT ? AS a, ? AS b, ? AS c", BN_DB(1), BN_DB("two"),
                               BN_DB_NULL),
                 0, "%s", e.message);
    cr_assert_eq(rows.nrows, 1);
    cr_assert_eq(rows.ncols, 3);
    cr_expect_str_eq(rows.columns[1], "b");
    cr_expect(bn_str_eq(rows.cells[1].u.s, BN_STR("two")));
    cr_expect_eq(rows.cells[2].type, BN_TYPE_NULL);
    cr_expect_eq(bn_repo_query(r, &A, &rows, &e, "SELECT * FROM no_such_table"), -1);
    cr_expect_not_null(e.message);
    cr_expect_not(e.timeout);
    if (kind == BN_DB_POSTGRES)
        cr_expect_str_eq(e.sqlstate, "42P01");
    else
        cr_expect_eq(e.code, 1);
    cr_expect_eq(bn_repo_query(r, NULL, NULL, &e, "INSERT INTO core_posts (title) VALUES (?)", BN_DB("t")), 0,
                 "no rows wanted: no arena needed");
    cr_expect_eq(count_rows(r, "core_posts"), 1);
}

DB_TEST(query_timeout, .query_timeout_ms = 100)
{
    bn_db_rows rows;
    bn_db_error e;
    const char *slow = kind == BN_DB_POSTGRES
                           ? "SELECT pg_sleep(30)"
                           : "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    cr_expect_eq(bn_repo_query(r, &A, &rows, &e, slow), -1);
    cr_expect(e.timeout, "%s", e.message);
    cr_expect_eq(count_rows(r, "core_things"), 0, "the next query on the same pool succeeds");
}

/* ---- transactions ------------------------------------------------------------- */

typedef struct tx_plan {
    int64_t ids[4];
    int inner_result;
    bool fail_late;
} tx_plan;

static int inner_tx(bn_repo *tx, void *arg)
{
    tx_plan *p = arg;
    p->ids[1] = insert_user(tx, "inner@example.com", "Inner");
    cr_assert_gt(p->ids[1], 0);
    return p->inner_result;
}

static int outer_tx(bn_repo *tx, void *arg)
{
    tx_plan *p = arg;
    p->ids[0] = insert_user(tx, "outer1@example.com", "Outer 1");
    cr_assert_gt(p->ids[0], 0);
    bn_db_error e;
    int rc = bn_repo_transaction(tx, inner_tx, p, &e);
    cr_assert_eq(rc, p->inner_result, "a nested transaction returns fn's result");
    p->ids[2] = insert_user(tx, "outer2@example.com", "Outer 2");
    cr_assert_gt(p->ids[2], 0);
    if (p->fail_late) /* a unique violation: the caller sees the failure and rolls back */
        return insert_user(tx, "outer1@example.com", "Dup") < 0 ? -1 : 0;
    return 0;
}

static bool user_exists(bn_repo *r, const char *email)
{
    user u;
    bn_db_error e;
    int rc = bn_repo_get_by(r, &A, &user_schema, &u, &e, {"email", BN_DB(email)});
    cr_assert_neq(rc, -1, "%s", e.message);
    return rc == 1;
}

DB_TEST(transaction_commits)
{
    tx_plan p = {.inner_result = 0};
    bn_db_error e;
    cr_assert_eq(bn_repo_transaction(r, outer_tx, &p, &e), 0, "%s", e.message);
    cr_expect(user_exists(r, "outer1@example.com"));
    cr_expect(user_exists(r, "inner@example.com"));
    cr_expect(user_exists(r, "outer2@example.com"));
}

DB_TEST(nested_savepoint_rollback_keeps_the_outer_writes)
{
    tx_plan p = {.inner_result = 7};
    bn_db_error e;
    cr_assert_eq(bn_repo_transaction(r, outer_tx, &p, &e), 0, "%s", e.message);
    cr_expect(user_exists(r, "outer1@example.com"));
    cr_expect_not(user_exists(r, "inner@example.com"), "the savepoint was rolled back");
    cr_expect(user_exists(r, "outer2@example.com"));
}

DB_TEST(failed_transaction_leaves_no_partial_write)
{
    tx_plan p = {.inner_result = 0, .fail_late = true};
    bn_db_error e;
    cr_expect_eq(bn_repo_transaction(r, outer_tx, &p, &e), -1);
    cr_expect_eq(count_rows(r, "core_users"), 0, "read back: nothing of it was written");
    /* and the repo goes on */
    cr_expect_gt(insert_user(r, "after@example.com", "After"), 0);
    cr_expect_eq(count_rows(r, "core_users"), 1);
}

static int rollback_with(bn_repo *tx, void *arg)
{
    (void)arg;
    cr_assert_gt(insert_user(tx, "gone@example.com", "Gone"), 0);
    cr_assert(user_exists(tx, "gone@example.com"), "visible inside");
    return 42;
}

static int uses_the_root_repo(bn_repo *tx, void *arg)
{
    (void)tx;
    bn_repo *root = arg;
    /* the task's calls on the root repo go to its transaction (one connection per thread here) */
    cr_assert_gt(insert_user(root, "root@example.com", "Root"), 0);
    return 1;
}

DB_TEST(transaction_rolls_back, .pool_size = 1)
{
    bn_db_error e;
    cr_expect_eq(bn_repo_transaction(r, rollback_with, NULL, &e), 42, "fn's result comes back");
    cr_expect_not(user_exists(r, "gone@example.com"));
    cr_expect_eq(bn_repo_transaction(r, uses_the_root_repo, r, &e), 1);
    cr_expect_not(user_exists(r, "root@example.com"), "rolled back with the transaction");
}

static int swallows_a_failure(bn_repo *tx, void *arg)
{
    (void)arg;
    cr_assert_gt(insert_user(tx, "first@example.com", "First"), 0);
    cr_assert_eq(insert_user(tx, "first@example.com", "Dup"), -1);
    return 0; /* as if nothing happened */
}

DB_TEST(a_transaction_that_ignores_a_failed_statement)
{
    bn_db_error e;
    int rc = bn_repo_transaction(r, swallows_a_failure, NULL, &e);
    if (kind == BN_DB_POSTGRES) {
        cr_expect_eq(rc, -1, "PostgreSQL aborted it at the failed statement");
        cr_expect(strstr(e.message, "rolled back") != NULL, "%s", e.message);
        cr_expect_eq(count_rows(r, "core_users"), 0);
    } else {
        cr_expect_eq(rc, 0, "%s", e.message);
        cr_expect_eq(count_rows(r, "core_users"), 1, "SQLite undid only the failed statement");
    }
    cr_expect_gt(insert_user(r, "next@example.com", "Next"), 0, "the connection went back clean");
}

DB_TEST(sandbox_writes_vanish_at_the_end, .pool_size = 2)
{
    cr_assert_gt(insert_user(r, "before@example.com", "Before"), 0);
    bn_db_error e;
    bn_repo *sb = bn_repo_sandbox(r, &e);
    cr_assert_not_null(sb, "%s", e.message);
    cr_expect_eq(bn_repo_kind(sb), kind);
    cr_assert_gt(insert_user(sb, "sandboxed@example.com", "Sandboxed"), 0);
    cr_expect(user_exists(sb, "sandboxed@example.com"));
    cr_expect(user_exists(sb, "before@example.com"));
    cr_expect_not(user_exists(r, "sandboxed@example.com"), "other connections do not see it");
    /* an expected error inside the sandbox does not spoil it (PostgreSQL) */
    cr_expect_eq(insert_user(sb, "sandboxed@example.com", "Dup"), -1);
    cr_expect(user_exists(sb, "sandboxed@example.com"));
    /* transactions inside a sandbox are savepoints */
    tx_plan p = {.inner_result = 1};
    cr_assert_eq(bn_repo_transaction(sb, outer_tx, &p, &e), 0, "%s", e.message);
    cr_expect(user_exists(sb, "outer2@example.com"));
    cr_expect_not(user_exists(sb, "inner@example.com"));
    bn_repo_sandbox_end(sb);
    cr_expect_not(user_exists(r, "sandboxed@example.com"));
    cr_expect_not(user_exists(r, "outer2@example.com"));
    cr_expect(user_exists(r, "before@example.com"));
    cr_expect_eq(count_rows(r, "core_users"), 1);
}

DB_TEST(checkout_outside_a_task_fails_at_once, .pool_size = 1)
{
    bn_db_error e;
    bn_repo *sb = bn_repo_sandbox(r, &e); /* holds this thread's only connection */
    cr_assert_not_null(sb, "%s", e.message);
    bn_db_rows rows;
    cr_expect_eq(bn_repo_query(r, &A, &rows, &e, "SELECT 1"), -1);
    cr_expect(e.timeout);
    cr_expect(strstr(e.message, "connection not available") != NULL, "%s", e.message);
    cr_expect_null(bn_repo_sandbox(r, &e));
    bn_repo_sandbox_end(sb);
    cr_expect_eq(bn_repo_query(r, &A, &rows, &e, "SELECT 1"), 0, "%s", e.message);
}

/* ---- the pool, with tasks on a loop ------------------------------------------ */

static bn_loop *loop;
static bn_repo *R;
static int live;
static char order[32];
static bn_task *holder;
static bool holder_parked, reader_started; /* wake the holder only from the test's own suspension */
static bn_db_error waiter_err;
static int waiter_rc;

static void stop_loop(bn_timer *t)
{
    (void)t;
    bn_loop_stop(loop);
}

static void run_loop(void)
{
    static bn_timer guard;
    bn_timer_init(&guard, stop_loop);
    bn_timer_start(loop, &guard, 20000); /* a safety net only: the tests stop the loop themselves */
    cr_assert_eq(bn_loop_run(loop), 0);
    bn_timer_stop(&guard);
}

static void task_done(void)
{
    if (--live == 0)
        bn_loop_stop(loop);
}

static void mark(char c)
{
    size_t n = strlen(order);
    order[n] = c;
    order[n + 1] = '\0';
}

static int hold_until_woken(bn_repo *tx, void *arg)
{
    (void)tx, (void)arg;
    holder = bn_task_self();
    mark('H');
    holder_parked = true;
    bn_task_suspend();
    holder_parked = false;
    mark('h');
    return 0;
}

static void holder_task(void *arg)
{
    (void)arg;
    bn_db_error e;
    cr_expect_eq(bn_repo_transaction(R, hold_until_woken, NULL, &e), 0, "%s", e.message);
    task_done();
}

static void query_task(void *arg)
{
    char c = (char)(uintptr_t)arg;
    bn_arena a = BN_ARENA_INIT;
    waiter_rc = bn_repo_query(R, &a, NULL, &waiter_err, "SELECT 1");
    if (waiter_rc == 0)
        mark(c);
    else if (waiter_err.message) { /* out of the arena that goes now */
        static char msg[256];
        snprintf(msg, sizeof msg, "%s", waiter_err.message);
        waiter_err.message = msg;
    }
    bn_arena_destroy(&a);
    task_done();
}

/* An adapter may suspend a task on its socket (PostgreSQL): wait for the
 * holder to park in its transaction, and for a reader to be queued. */
static void wait_parked(bool with_reader)
{
    while (!holder_parked || (with_reader && !reader_started))
        bn_task_yield();
}

static void waker_task(void *arg)
{
    wait_parked(arg != NULL);
    mark('w');
    bn_task_wake(holder);
    task_done();
}

static void timed_out_then_wake(void *arg)
{
    wait_parked(false);
    query_task(arg);
    mark(waiter_rc == 0 ? '!' : 't');
    bn_task_wake(holder);
}

DB_TEST(pool_checkout_times_out_in_a_task, .pool_size = 1, .checkout_timeout_ms = 50)
{
    (void)kind;
    R = r;
    loop = bn_loop_new();
    live = 2;
    order[0] = '\0';
    bn_task_spawn(loop, holder_task, NULL);
    bn_task_spawn(loop, timed_out_then_wake, (void *)(uintptr_t)'q');
    run_loop();
    cr_expect_str_eq(order, "Hth", "the waiter timed out while the holder kept the connection");
    cr_expect_eq(waiter_rc, -1);
    cr_expect(waiter_err.timeout);
    cr_expect_str_eq(waiter_err.message, "connection not available after 50 ms");
    /* the connection came back */
    live = 1;
    order[0] = '\0';
    bn_task_spawn(loop, query_task, (void *)(uintptr_t)'1');
    run_loop();
    cr_expect_str_eq(order, "1");
    bn_loop_free(loop);
}

DB_TEST(pool_waiters_are_served_in_order, .pool_size = 1)
{
    (void)kind;
    R = r;
    loop = bn_loop_new();
    live = 5;
    order[0] = '\0';
    bn_task_spawn(loop, holder_task, NULL);
    bn_task_spawn(loop, query_task, (void *)(uintptr_t)'1');
    bn_task_spawn(loop, query_task, (void *)(uintptr_t)'2');
    bn_task_spawn(loop, query_task, (void *)(uintptr_t)'3');
    bn_task_spawn(loop, waker_task, NULL);
    run_loop();
    cr_expect_str_eq(order, "Hwh123", "queued while held, served first come first served");
    bn_loop_free(loop);
}

/* Two tasks share a sandbox: a nested transaction holds its connection, the other task waits for it. */
static bn_repo *SB;

static int sandbox_tx(bn_repo *tx, void *arg)
{
    (void)arg;
    holder = bn_task_self();
    cr_assert_gt(insert_user(tx, "in-tx@example.com", "In tx"), 0);
    mark('H');
    holder_parked = true;
    bn_task_suspend();
    holder_parked = false;
    mark('h');
    return 0;
}

static void sandbox_holder(void *arg)
{
    (void)arg;
    bn_db_error e;
    cr_expect_eq(bn_repo_transaction(SB, sandbox_tx, NULL, &e), 0, "%s", e.message);
    task_done();
}

static void sandbox_reader(void *arg)
{
    (void)arg;
    wait_parked(false);
    mark('r');
    reader_started = true;
    bool seen = user_exists(SB, "in-tx@example.com");
    mark(seen ? 'S' : 'x');
    task_done();
}

DB_TEST(sandbox_shared_by_tasks_serialises_on_its_connection, .pool_size = 2)
{
    (void)kind;
    bn_db_error e;
    SB = bn_repo_sandbox(r, &e);
    cr_assert_not_null(SB, "%s", e.message);
    loop = bn_loop_new();
    live = 3;
    order[0] = '\0';
    bn_task_spawn(loop, sandbox_holder, NULL);
    bn_task_spawn(loop, sandbox_reader, NULL);
    bn_task_spawn(loop, waker_task, (void *)1);
    run_loop();
    cr_expect_str_eq(order, "Hrwh" "S", "the reader waited for the savepoint to be released");
    bn_loop_free(loop);
    bn_repo_sandbox_end(SB);
    cr_expect_not(user_exists(r, "in-tx@example.com"));
}

/* ---- several loop threads on one repo ------------------------------------------ */

#define THREAD_INSERTS 40

typedef struct thread_job {
    bn_repo *r;
    int index, ok, left, tasks;
    bn_arena a;
    char error[256];
} thread_job;

static void insert_in_task(void *arg)
{
    thread_job *j = arg;
    int task = j->tasks++;
    for (int i = 0; i < THREAD_INSERTS; i++) {
        bn_changeset *cs = bn_changeset_cast(&j->a, &user_schema, NULL, NULL, NULL);
        char email[64];
        snprintf(email, sizeof email, "thread%d-%d-%d@example.com", j->index, task, i);
        bn_changeset_put(cs, "email", bn_db_text(email));
        if (bn_repo_insert(j->r, cs, NULL) == 0)
            j->ok++;
        else if (!j->error[0])
            snprintf(j->error, sizeof j->error, "%s", errors_of(cs, "") ? errors_of(cs, "") : "?");
        bn_task_yield();
    }
    if (--j->left == 0)
        bn_loop_stop(bn_loop_current());
}

static void *loop_thread(void *arg)
{
    thread_job *j = arg;
    j->a = (bn_arena)BN_ARENA_INIT;
    bn_loop *l = bn_loop_new();
    j->left = 2;
    bn_task_spawn(l, insert_in_task, j);
    bn_task_spawn(l, insert_in_task, j);
    bn_loop_run(l);
    bn_loop_free(l);
    return NULL; /* the arena goes on the main thread: a thread's block cache dies with it */
}

DB_TEST(loop_threads_get_their_own_connections, .pool_size = 2)
{
    thread_job jobs[3] = {{.r = r, .index = 0}, {.r = r, .index = 1}, {.r = r, .index = 2}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, loop_thread, &jobs[i]), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        bn_arena_destroy(&jobs[i].a);
    }
    for (int i = 0; i < 3; i++)
        cr_expect_eq(jobs[i].ok, 2 * THREAD_INSERTS, "thread %d: %s", i, jobs[i].error);
    cr_expect_eq(count_rows(r, "core_users"), 3 * 2 * THREAD_INSERTS);
}

/* ---- the query log line -------------------------------------------------------- */

/* Runs fn with stderr going to a file; returns what was written. */
static char *capture_stderr(void (*fn)(bn_repo *), bn_repo *r)
{
    char path[128];
    snprintf(path, sizeof path, "%s/stderr.log", tmpdir);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    cr_assert_geq(fd, 0);
    int saved = dup(2);
    dup2(fd, 2);
    fn(r);
    dup2(saved, 2);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    char *text = bn_arena_alloc(&A, (size_t)n + 1);
    cr_assert_eq(pread(fd, text, (size_t)n, 0), n);
    text[n] = '\0';
    close(fd);
    return text;
}

static void some_queries(bn_repo *r)
{
    thing t;
    bn_db_error e;
    bn_repo_get(r, &A, &thing_schema, 1, &t, &e);
    bn_repo_query(r, &A, NULL, &e, "SELECT * FROM missing_table");
}

DB_TEST(query_log_lines)
{
    bn_log_level saved = bn_log_threshold;
    char *error = NULL;
    bn_repo *loud = bn_repo_open(&(bn_repo_config){.url = kind == BN_DB_POSTGRES ? bt_pg_url() : sqlite_url}, &error);
    cr_assert_not_null(loud, "%s", error);
    bn_log_threshold = BN_LOG_DEBUG;
    char *log = capture_stderr(some_queries, loud);
    cr_expect(strstr(log, "[debug]") && strstr(log, "QUERY OK source=core_things db="), "%s", log);
    cr_expect(strstr(log, "ms SELECT \"id\", \"name\"") != NULL, "the SQL follows: %s", log);
    cr_expect(strstr(log, "[warn]") && strstr(log, "QUERY ERROR source=missing_table db="), "%s", log);
    cr_expect(strstr(log, "| SELECT * FROM missing_table") != NULL, "%s", log);

    bn_log_threshold = BN_LOG_INFO; /* debug lines are off, failures still show */
    log = capture_stderr(some_queries, loud);
    cr_expect_null(strstr(log, "QUERY OK"), "%s", log);
    cr_expect_not_null(strstr(log, "QUERY ERROR"), "%s", log);

    bn_log_threshold = BN_LOG_DEBUG;
    log = capture_stderr(some_queries, r); /* opened quiet */
    cr_expect_null(strstr(log, "QUERY"), "quiet: %s", log);
    bn_log_threshold = saved;
    bn_repo_close(loud);
}
