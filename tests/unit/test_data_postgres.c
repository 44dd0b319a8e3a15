/*
 * The PostgreSQL adapter (src/data/postgres.c) against the test suite's real
 * server (tools/pg_test_server.sh, started by ctest's `pg` fixture): connecting,
 * every value type both ways, hostile strings, the prepared statement cache,
 * constraint errors, timeouts, queries that suspend only their task, and a
 * server restart under an open connection. Without a server, every test skips.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bennu/data.h"
#include "bennu/runtime.h"
#include "data/data_internal.h"
#include "harness.h"

static const bn_adapter *pg = &bn__postgres_adapter;
static bn_arena arena;

static void teardown(void) { bn_arena_destroy(&arena); }

TestSuite(postgres, .fini = teardown, .timeout = 60);

static const char *url_or_skip(void)
{
    const char *url = bt_pg_url();
    if (!url)
        cr_skip_test("no PostgreSQL test server (ctest starts one: tools/pg_test_server.sh)");
    return url;
}

static bn_db_conn *open_conn(void)
{
    char *error = NULL;
    bn_db_conn *c = pg->connect(url_or_skip(), &error);
    cr_assert(c, "connect: %s", error ? error : "?");
    return c;
}

/* Runs a statement that must succeed; returns its rows. */
#define RUN(c, sql, ...)                                                                                         \
    run_ok((c), (sql), (const bn_db_value[]){BN_DB_NULL, ##__VA_ARGS__} + 1,                                     \
           sizeof((bn_db_value[]){BN_DB_NULL, ##__VA_ARGS__}) / sizeof(bn_db_value) - 1)
static bn_db_rows run_ok(bn_db_conn *c, const char *sql, const bn_db_value *params, size_t n)
{
    bn_db_rows rows;
    bn_db_error err = {0};
    int rc = pg->exec(c, sql, params, n, &arena, &rows, NULL, 0, &err);
    cr_assert_eq(rc, 0, "%s: %s (%s)", sql, err.message ? err.message : "?", err.sqlstate);
    return rows;
}

/* Runs a statement that must fail; returns the error. */
#define FAIL(c, sql, ...)                                                                                        \
    run_fail((c), (sql), (const bn_db_value[]){BN_DB_NULL, ##__VA_ARGS__} + 1,                                   \
             sizeof((bn_db_value[]){BN_DB_NULL, ##__VA_ARGS__}) / sizeof(bn_db_value) - 1)
static bn_db_error run_fail(bn_db_conn *c, const char *sql, const bn_db_value *params, size_t n)
{
    bn_db_rows rows;
    bn_db_error err = {0};
    cr_assert_eq(pg->exec(c, sql, params, n, &arena, &rows, NULL, 0, &err), -1, "%s succeeded", sql);
    cr_assert(err.message && *err.message, "%s: no message", sql);
    return err;
}

/* The one cell of a one-row, one-column result. */
#define CELL(c, sql, ...) one_cell(RUN((c), (sql), ##__VA_ARGS__), (sql))
static bn_db_value one_cell(bn_db_rows rows, const char *sql)
{
    cr_assert_eq(rows.nrows, 1, "%s: %zu rows", sql, rows.nrows);
    cr_assert_eq(rows.ncols, 1, "%s: %zu columns", sql, rows.ncols);
    return rows.cells[0];
}

static void expect_text(bn_db_value v, const char *want)
{
    cr_assert_eq(v.type, BN_TYPE_TEXT, "type %d, want TEXT", (int)v.type);
    cr_expect_eq(v.u.s.len, strlen(want), "length %zu, want %zu (%s)", v.u.s.len, strlen(want), want);
    cr_expect(bn_str_eq(v.u.s, bn_str_from_cstr(want)), "got \"%.*s\", want \"%s\"", BN_STR_ARG(v.u.s), want);
}

/* The test server's URL with other credentials or database: "USERINFO@host:port/DB". */
static char *url_as(const char *userinfo, const char *db)
{
    const char *url = url_or_skip();
    const char *host = strchr(url, '@');
    cr_assert(host);
    const char *slash = strchr(host, '/');
    cr_assert(slash);
    host++;
    return bn_arena_printf(&arena, "postgres://%s%.*s/%s", userinfo, (int)(slash - host), host, db);
}

/* ---- connecting ------------------------------------------------------------------ */

Test(postgres, connects_and_reports_unreachable_servers_bad_passwords_and_databases)
{
    bn_db_conn *c = open_conn();
    bn_db_value one = CELL(c, "SELECT 1");
    cr_expect_eq(one.type, BN_TYPE_BIGINT);
    cr_expect_eq(one.u.i, 1);
    cr_expect_not(pg->broken(c));
    /* The session runs in UTC with ISO dates and UTF-8, whatever the server's defaults. */
    expect_text(CELL(c, "SHOW TimeZone"), "UTC");
    expect_text(CELL(c, "SHOW client_encoding"), "UTF8");
    pg->disconnect(c);

    /* The one role that needs a password: the right one is accepted. */
    char *error = NULL;
    c = pg->connect(url_as("bennu_password:bennu@", "bennu_test"), &error);
    cr_assert(c, "the right password: %s", error ? error : "?");
    expect_text(CELL(c, "SELECT current_user::text"), "bennu_password");
    pg->disconnect(c);

    struct {
        const char *url, *says;
    } bad[] = {
        {url_as("bennu_password:wrong@", "bennu_test"), "password authentication failed"},
        {url_as("bennu_password@", "bennu_test"), "password"},
        {url_as("postgres@", "no_such_database"), "does not exist"},
        {"postgres://postgres@127.0.0.1:1/bennu_test", "Connection refused"},
        {"postgres://postgres@[/bennu_test", "invalid PostgreSQL URL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        error = NULL;
        bn_db_conn *b = pg->connect(bad[i].url, &error);
        cr_expect_null(b, "%s connected", bad[i].url);
        cr_assert(error, "%s: no error", bad[i].url);
        cr_expect(strstr(error, bad[i].says), "%s: \"%s\" does not say \"%s\"", bad[i].url, error, bad[i].says);
        cr_expect_null(strchr(error, '\n'), "one line: %s", error);
        cr_expect_null(strstr(error, "wrong"), "the password leaked into the message: %s", error);
        free(error);
    }
}

/* ---- values both ways ------------------------------------------------------------ */

Test(postgres, every_value_type_round_trips)
{
    bn_db_conn *c = open_conn();
    bn_db_value v;

    int64_t ints[] = {0, 42, -7, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        v = CELL(c, "SELECT ?::int8", bn_db_int(ints[i]));
        cr_expect_eq(v.type, BN_TYPE_BIGINT);
        cr_expect_eq(v.u.i, ints[i]);
    }
    v = CELL(c, "SELECT ?::int2 + ?::int4", BN_DB(2), BN_DB(40));
    cr_expect_eq(v.type, BN_TYPE_BIGINT);
    cr_expect_eq(v.u.i, 42);
    /* An integer's type is inferred from the statement, as a literal's: C's `true` is the int 1. */
    v = CELL(c, "SELECT ? + 1", BN_DB(5));
    cr_expect_eq(v.type, BN_TYPE_BIGINT);
    cr_expect_eq(v.u.i, 6);
    v = CELL(c, "SELECT NOT ?::bool", BN_DB(true));
    cr_expect_eq(v.type, BN_TYPE_BOOLEAN);
    cr_expect_not(v.u.b);
    expect_text(CELL(c, "SELECT 'n' || ?", BN_DB(7)), "n7");

    double floats[] = {1.5, 0.1, -2.25e-300, 1e300, 123456789.123456789};
    for (size_t i = 0; i < sizeof floats / sizeof *floats; i++) {
        v = CELL(c, "SELECT ?::float8", BN_DB(floats[i]));
        cr_expect_eq(v.type, BN_TYPE_FLOAT);
        cr_expect_eq(v.u.f, floats[i], "%.17g came back as %.17g", floats[i], v.u.f);
    }
    v = CELL(c, "SELECT ?::float8", BN_DB(INFINITY));
    cr_expect(isinf(v.u.f) && v.u.f > 0);
    v = CELL(c, "SELECT ?::float8", BN_DB(NAN));
    cr_expect(isnan(v.u.f));
    v = CELL(c, "SELECT ?::float4", BN_DB(0.5));
    cr_expect_eq(v.type, BN_TYPE_FLOAT);
    cr_expect_eq(v.u.f, 0.5);

    v = CELL(c, "SELECT ?::bool", bn_db_bool(true));
    cr_expect_eq(v.type, BN_TYPE_BOOLEAN);
    cr_expect(v.u.b);
    v = CELL(c, "SELECT ?", bn_db_bool(false));
    cr_expect_eq(v.type, BN_TYPE_BOOLEAN);
    cr_expect_not(v.u.b);

    expect_text(CELL(c, "SELECT ?::text", BN_DB("Ada")), "Ada");
    expect_text(CELL(c, "SELECT ?::varchar(255)", BN_DB("héllo ✓ 𝄞")), "héllo ✓ 𝄞");
    expect_text(CELL(c, "SELECT ?::text", BN_DB("")), "");

    v = CELL(c, "SELECT ?::numeric * 2", ((bn_db_value){.type = BN_TYPE_DECIMAL, .u.s = BN_STR("12.25")}));
    cr_expect_eq(v.type, BN_TYPE_DECIMAL);
    cr_expect(bn_str_eq(v.u.s, BN_STR("24.50")), "%.*s", BN_STR_ARG(v.u.s));
    v = CELL(c, "SELECT ?::numeric(30,10)", ((bn_db_value){.type = BN_TYPE_DECIMAL, .u.s = BN_STR("12345678901234567890.5")}));
    cr_expect(bn_str_eq(v.u.s, BN_STR("12345678901234567890.5000000000")), "%.*s", BN_STR_ARG(v.u.s));

    expect_text(CELL(c, "SELECT ?::uuid",
                     ((bn_db_value){.type = BN_TYPE_UUID, .u.s = BN_STR("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")})),
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");

    expect_text(CELL(c, "SELECT ?::date", ((bn_db_value){.type = BN_TYPE_DATE, .u.date = {2024, 2, 29}})),
                "2024-02-29");
    expect_text(CELL(c, "SELECT ?::date", ((bn_db_value){.type = BN_TYPE_DATE, .u.date = {0, 3, 15}})),
                "0001-03-15 BC");
    /* 2024-01-31T12:00:00.123456Z */
    bn_db_value t = {.type = BN_TYPE_UTC_DATETIME, .u.t = 1706702400123456};
    expect_text(CELL(c, "SELECT ?::timestamptz", t), "2024-01-31 12:00:00.123456Z");
    expect_text(CELL(c, "SELECT ?::timestamp", t), "2024-01-31 12:00:00.123456");
    /* 1969-12-31T23:59:59.5Z: before the epoch, microseconds are still positive. */
    expect_text(CELL(c, "SELECT ?::timestamptz", ((bn_db_value){.type = BN_TYPE_UTC_DATETIME, .u.t = -500000})),
                "1969-12-31 23:59:59.5Z");
    v = CELL(c, "SELECT extract(epoch FROM ?::timestamptz)::float8", t);
    cr_expect_eq(v.u.f, 1706702400.123456);

    static const char bytes[] = {'a', 0, 'b', (char)0xff, 0, '\'', '\\'};
    v = CELL(c, "SELECT ?::bytea", bn_db_bytes(bn_str_make(bytes, sizeof bytes)));
    cr_expect_eq(v.type, BN_TYPE_BINARY);
    cr_expect(bn_str_eq(v.u.s, bn_str_make(bytes, sizeof bytes)), "%zu bytes", v.u.s.len);
    v = CELL(c, "SELECT length(?)", bn_db_bytes(bn_str_make(bytes, sizeof bytes)));
    cr_expect_eq(v.u.i, (int64_t)sizeof bytes);
    v = CELL(c, "SELECT ?::bytea", bn_db_bytes(BN_STR("")));
    cr_expect_eq(v.type, BN_TYPE_BINARY);
    cr_expect_eq(v.u.s.len, 0);

    bn_value *obj = bn_value_object(&arena);
    bn_value_set(&arena, obj, "name", bn_value_string(&arena, BN_STR("O'Brien \"x\"")));
    bn_value_set(&arena, obj, "n", bn_value_int(&arena, 3));
    bn_db_value j = {.type = BN_TYPE_JSON, .u.json = obj};
    expect_text(CELL(c, "SELECT ?::json", j), "{\"name\":\"O'Brien \\\"x\\\"\",\"n\":3}");
    expect_text(CELL(c, "SELECT ?::jsonb", j), "{\"n\": 3, \"name\": \"O'Brien \\\"x\\\"\"}");
    v = CELL(c, "SELECT (?::jsonb)->>'n'", j);
    expect_text(v, "3");

    /* NULL of every kind, both ways. */
    v = CELL(c, "SELECT ?::int8 IS NULL", BN_DB_NULL);
    cr_expect(v.u.b);
    cr_expect_eq(CELL(c, "SELECT ?::text", BN_DB_NULL).type, BN_TYPE_NULL);
    cr_expect_eq(CELL(c, "SELECT ?::jsonb", ((bn_db_value){.type = BN_TYPE_JSON})).type, BN_TYPE_NULL);
    cr_expect_eq(CELL(c, "SELECT NULL::bytea").type, BN_TYPE_NULL);

    bn_db_rows rows = RUN(c, "SELECT 1 AS one, 'x' AS \"Two words\", NULL::int AS nothing");
    cr_assert_eq(rows.ncols, 3);
    cr_expect_str_eq(rows.columns[0], "one");
    cr_expect_str_eq(rows.columns[1], "Two words");
    cr_expect_str_eq(rows.columns[2], "nothing");
    cr_expect_eq(rows.cells[2].type, BN_TYPE_NULL);
    pg->disconnect(c);
}

Test(postgres, rows_changes_and_statements_without_values)
{
    bn_db_conn *c = open_conn();
    /* Several statements in one, as a migration sends them (no values: the simple protocol). */
    RUN(c, "DROP TABLE IF EXISTS pgt_items; "
           "CREATE TABLE pgt_items (id bigserial PRIMARY KEY, name text NOT NULL, qty int);"
           "CREATE INDEX pgt_items_name_index ON pgt_items (name);");
    int64_t changes = -1;
    bn_db_error err = {0};
    bn_db_value vals[] = {BN_DB("a"), BN_DB(1), BN_DB("b"), BN_DB(2), BN_DB("c"), BN_DB_NULL};
    cr_assert_eq(pg->exec(c, "INSERT INTO pgt_items (name, qty) VALUES (?, ?), (?, ?), (?, ?)", vals, 6, &arena,
                          NULL, &changes, 0, &err),
                 0, "%s", err.message);
    cr_expect_eq(changes, 3);
    bn_db_value two = BN_DB(2);
    cr_assert_eq(pg->exec(c, "UPDATE pgt_items SET qty = qty * 10 WHERE qty <= ?", &two, 1, &arena, NULL, &changes,
                          0, &err),
                 0);
    cr_expect_eq(changes, 2);
    bn_db_rows rows;
    cr_assert_eq(pg->exec(c, "SELECT id, name, qty FROM pgt_items ORDER BY id RETURNING", NULL, 0, &arena, &rows,
                          NULL, 0, &err),
                 -1);
    cr_expect_str_eq(err.sqlstate, "42601");
    rows = RUN(c, "SELECT id, name, qty FROM pgt_items ORDER BY id");
    cr_assert_eq(rows.nrows, 3);
    cr_expect_eq(rows.cells[0 * 3 + 2].u.i, 10);
    cr_expect_eq(rows.cells[1 * 3 + 2].u.i, 20);
    cr_expect_eq(rows.cells[2 * 3 + 2].type, BN_TYPE_NULL);
    expect_text(rows.cells[1 * 3 + 1], "b");
    rows = RUN(c, "INSERT INTO pgt_items (name) VALUES (?) RETURNING id, name", BN_DB("d"));
    cr_assert_eq(rows.nrows, 1);
    cr_expect_eq(rows.cells[0].u.i, 4);

    /* A big result set and a big value: many reads, and sends that do not fit the socket at once. */
    bn_db_value sum = CELL(c, "SELECT sum(x)::int8 FROM generate_series(1, ?::int) x", BN_DB(200000));
    cr_expect_eq(sum.u.i, 200000LL * 200001 / 2);
    rows = RUN(c, "SELECT x, repeat('y', 100) FROM generate_series(1, 20000) x");
    cr_expect_eq(rows.nrows, 20000);
    cr_expect_eq(rows.cells[19999 * 2].u.i, 20000);
    size_t big = 8 << 20;
    char *blob = malloc(big);
    for (size_t i = 0; i < big; i++)
        blob[i] = (char)(i * 7);
    bn_db_value back = CELL(c, "SELECT ?::bytea", bn_db_bytes(bn_str_make(blob, big)));
    cr_expect(bn_str_eq(back.u.s, bn_str_make(blob, big)), "8 MB of bytes came back as %zu", back.u.s.len);
    memset(blob, 'z', big - 1);
    blob[big - 1] = '\0';
    bn_db_value len = CELL(c, "SELECT length(?::text)", BN_DB((const char *)blob));
    cr_expect_eq(len.u.i, (int64_t)big - 1);
    free(blob);

    /* COPY has no place in the adapter: a clear error, and the connection goes on. */
    bn_db_error ce = FAIL(c, "COPY pgt_items (name) FROM STDIN");
    cr_expect(strstr(ce.message, "COPY FROM STDIN is not supported"), "%s", ce.message);
    ce = FAIL(c, "COPY pgt_items TO STDOUT");
    cr_expect(strstr(ce.message, "COPY TO STDOUT is not supported"), "%s", ce.message);
    cr_expect_eq(CELL(c, "SELECT count(*) FROM pgt_items").u.i, 4);

    /* An empty statement is no error; a wrong count of values is. */
    RUN(c, "");
    bn_db_error e = FAIL(c, "SELECT ?::int, ?::int", BN_DB(1));
    cr_expect(strstr(e.message, "2 placeholders but 1 values"), "%s", e.message);
    e = FAIL(c, "SELECT 1", BN_DB(1));
    cr_expect(strstr(e.message, "0 placeholders but 1 values"), "%s", e.message);
    RUN(c, "DROP TABLE pgt_items");
    pg->disconnect(c);
}

/* ---- hostile input --------------------------------------------------------------- */

Test(postgres, question_marks_in_literals_identifiers_and_comments_are_not_placeholders)
{
    bn_db_conn *c = open_conn();
    bn_db_rows rows = RUN(c,
                          "SELECT '?' AS a, 'it''s ?' AS b, E'\\'?\\\\' AS c, $$ ? $$ AS d, $q$ '? $q$ AS e, "
                          "? AS \"wh?t\", /* ? /* nested ? */ ? */ ?::text AS g -- trailing ?\n",
                          BN_DB(1), BN_DB("two"));
    cr_assert_eq(rows.ncols, 7);
    expect_text(rows.cells[0], "?");
    expect_text(rows.cells[1], "it's ?");
    expect_text(rows.cells[2], "'?\\");
    expect_text(rows.cells[3], " ? ");
    expect_text(rows.cells[4], " '? ");
    cr_expect_str_eq(rows.columns[5], "wh?t");
    expect_text(rows.cells[5], "1");
    expect_text(rows.cells[6], "two");
    /* Without values, `?` is left alone: jsonb's operator. */
    bn_db_value v = CELL(c, "SELECT '{\"a\":1}'::jsonb ? 'a'");
    cr_expect(v.u.b);
    pg->disconnect(c);
}

Test(postgres, hostile_strings_round_trip_or_fail_clearly)
{
    bn_db_conn *c = open_conn();
    RUN(c, "DROP TABLE IF EXISTS pgt_hostile");
    RUN(c, "CREATE TABLE pgt_hostile (id serial PRIMARY KEY, s text, b bytea)");
    const char *strings[] = {
        "O'Brien", "'; DROP TABLE pgt_hostile; --", "\"quoted\"", "back\\slash\\", "$1 $$ ? ?? $tag$",
        "--", "/*", "\r\n\t", "ünï ✓ 😀", "\x7f",
    };
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
        RUN(c, "INSERT INTO pgt_hostile (s) VALUES (?)", BN_DB(strings[i]));
        expect_text(CELL(c, "SELECT s FROM pgt_hostile WHERE s = ?", BN_DB(strings[i])), strings[i]);
    }
    bn_db_value n = CELL(c, "SELECT count(*) FROM pgt_hostile");
    cr_expect_eq(n.u.i, (int64_t)(sizeof strings / sizeof *strings), "the table survived");

    /* Invalid UTF-8: the server refuses it with its own message. */
    bn_db_error e = FAIL(c, "INSERT INTO pgt_hostile (s) VALUES (?)", BN_DB("bad \xff\xfe utf-8"));
    cr_expect_str_eq(e.sqlstate, "22021");
    cr_expect(strstr(e.message, "invalid byte sequence for encoding \"UTF8\""), "%s", e.message);
    e = FAIL(c, "SELECT ?::text", BN_DB("\xc3"));
    cr_expect_str_eq(e.sqlstate, "22021");
    /* NUL inside text: PostgreSQL cannot store it; refused before sending, same SQLSTATE. */
    e = FAIL(c, "INSERT INTO pgt_hostile (s) VALUES (?)", bn_db_str(bn_str_make("a\0b", 3)));
    cr_expect_str_eq(e.sqlstate, "22021");
    cr_expect(strstr(e.message, "NUL"), "%s", e.message);
    /* NUL inside bytes round-trips. */
    bn_str raw = bn_str_make("\0a\0\xff\0", 5);
    RUN(c, "INSERT INTO pgt_hostile (b) VALUES (?)", bn_db_bytes(raw));
    bn_db_value b = CELL(c, "SELECT b FROM pgt_hostile WHERE b = ?", bn_db_bytes(raw));
    cr_expect(bn_str_eq(b.u.s, raw));
    n = CELL(c, "SELECT count(*) FROM pgt_hostile");
    cr_expect_eq(n.u.i, (int64_t)(sizeof strings / sizeof *strings) + 1, "no partial writes");
    cr_expect_not(pg->broken(c));
    RUN(c, "DROP TABLE pgt_hostile");
    pg->disconnect(c);
}

/* ---- errors ---------------------------------------------------------------------- */

Test(postgres, constraint_violations_name_their_constraint)
{
    bn_db_conn *c = open_conn();
    RUN(c, "DROP TABLE IF EXISTS pgt_posts, pgt_users");
    RUN(c, "CREATE TABLE pgt_users (id bigserial PRIMARY KEY, email text NOT NULL)");
    RUN(c, "CREATE UNIQUE INDEX pgt_users_email_index ON pgt_users (email)");
    RUN(c, "CREATE TABLE pgt_posts (id bigserial PRIMARY KEY, "
           "author_id bigint CONSTRAINT pgt_posts_author_id_fkey REFERENCES pgt_users (id))");
    RUN(c, "INSERT INTO pgt_users (email) VALUES (?)", BN_DB("ada@example.com"));
    bn_db_error e = FAIL(c, "INSERT INTO pgt_users (email) VALUES (?)", BN_DB("ada@example.com"));
    cr_expect_str_eq(e.sqlstate, "23505");
    cr_expect_str_eq(e.constraint, "pgt_users_email_index");
    cr_expect(strstr(e.message, "duplicate key value violates unique constraint"), "%s", e.message);
    cr_expect_not(e.timeout);
    e = FAIL(c, "INSERT INTO pgt_posts (author_id) VALUES (?)", BN_DB(999));
    cr_expect_str_eq(e.sqlstate, "23503");
    cr_expect_str_eq(e.constraint, "pgt_posts_author_id_fkey");
    e = FAIL(c, "INSERT INTO pgt_users (email) VALUES (?)", BN_DB_NULL);
    cr_expect_str_eq(e.sqlstate, "23502");
    e = FAIL(c, "SELEC 1");
    cr_expect_str_eq(e.sqlstate, "42601");
    cr_expect_null(e.constraint);

    /* In a transaction, an error aborts it until ROLLBACK; nothing it wrote stays. */
    RUN(c, "BEGIN");
    RUN(c, "INSERT INTO pgt_users (email) VALUES (?)", BN_DB("bob@example.com"));
    FAIL(c, "INSERT INTO pgt_users (email) VALUES (?)", BN_DB("ada@example.com"));
    e = FAIL(c, "SELECT count(*) FROM pgt_users WHERE email = ?", BN_DB("x"));
    cr_expect_str_eq(e.sqlstate, "25P02");
    RUN(c, "ROLLBACK");
    bn_db_value n = CELL(c, "SELECT count(*) FROM pgt_users");
    cr_expect_eq(n.u.i, 1);
    RUN(c, "DROP TABLE pgt_posts, pgt_users");
    cr_expect_not(pg->broken(c));
    pg->disconnect(c);
}

/* ---- the prepared statement cache ---------------------------------------------- */

static int64_t prepared_count(bn_db_conn *c, const char *statement)
{
    bn_db_rows rows = RUN(c, "SELECT count(*), coalesce(sum(generic_plans + custom_plans), 0)::int8 "
                             "FROM pg_prepared_statements WHERE statement = ?",
                          BN_DB(statement));
    return rows.cells[0].u.i;
}

Test(postgres, data_statements_are_prepared_once_per_connection)
{
    bn_db_conn *c = open_conn();
    for (int i = 0; i < 5; i++) {
        bn_db_value v = CELL(c, "SELECT ?::int8 + 1", BN_DB(i));
        cr_expect_eq(v.u.i, i + 1);
    }
    cr_expect_eq(prepared_count(c, "SELECT $1::int8 + 1"), 1, "one statement prepared for five runs");
    bn_db_rows rows = RUN(c, "SELECT generic_plans + custom_plans FROM pg_prepared_statements "
                             "WHERE statement = 'SELECT $1::int8 + 1'");
    cr_expect_eq(rows.cells[0].u.i, 5, "it ran five times");

    /* Transaction control and DDL are not kept. */
    RUN(c, "BEGIN");
    RUN(c, "SAVEPOINT pgt_sp1");
    RUN(c, "RELEASE SAVEPOINT pgt_sp1");
    RUN(c, "COMMIT");
    bn_db_value n = CELL(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement !~* '^(SELECT|INSERT)'");
    cr_expect_eq(n.u.i, 0);

    /* The cache is bounded: the least recently used statements go, on the server too. */
    for (int i = 0; i < 300; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT ?::int8 + %d", i);
        bn_db_value v = CELL(c, sql, BN_DB(1));
        cr_expect_eq(v.u.i, 1 + i);
    }
    n = CELL(c, "SELECT count(*) FROM pg_prepared_statements");
    cr_expect_leq(n.u.i, 256, "%lld statements kept", (long long)n.u.i);
    cr_expect_geq(n.u.i, 200);
    cr_expect_eq(prepared_count(c, "SELECT $1::int8 + 0"), 0, "the oldest went");
    cr_expect_eq(CELL(c, "SELECT ?::int8 + 0", BN_DB(7)).u.i, 7, "and comes back when used");
    cr_expect_eq(prepared_count(c, "SELECT $1::int8 + 0"), 1);
    pg->disconnect(c);
}

Test(postgres, a_cached_select_star_survives_a_migration)
{
    bn_db_conn *c = open_conn();
    RUN(c, "DROP TABLE IF EXISTS pgt_stale");
    RUN(c, "CREATE TABLE pgt_stale (a int)");
    RUN(c, "INSERT INTO pgt_stale VALUES (?)", BN_DB(1));
    cr_expect_eq(RUN(c, "SELECT * FROM pgt_stale WHERE a = ?", BN_DB(1)).ncols, 1);
    RUN(c, "ALTER TABLE pgt_stale ADD COLUMN b text DEFAULT 'x'");
    bn_db_rows rows = RUN(c, "SELECT * FROM pgt_stale WHERE a = ?", BN_DB(1));
    cr_expect_eq(rows.ncols, 2, "prepared again with the new column");
    expect_text(rows.cells[1], "x");
    /* In a transaction the error reaches the caller, and the next call prepares afresh. */
    RUN(c, "ALTER TABLE pgt_stale ADD COLUMN c int DEFAULT 3");
    RUN(c, "BEGIN");
    bn_db_error e = FAIL(c, "SELECT * FROM pgt_stale WHERE a = ?", BN_DB(1));
    cr_expect_str_eq(e.sqlstate, "0A000");
    RUN(c, "ROLLBACK");
    cr_expect_eq(RUN(c, "SELECT * FROM pgt_stale WHERE a = ?", BN_DB(1)).ncols, 3);
    RUN(c, "DROP TABLE pgt_stale");
    pg->disconnect(c);
}

/* ---- timeouts -------------------------------------------------------------------- */

static void expect_timeout_then_usable(bn_db_conn *c)
{
    bn_db_error err = {0};
    bn_db_rows rows;
    /* Had the cancel not reached the server, the statement would have succeeded after 2 s. */
    cr_assert_eq(pg->exec(c, "SELECT pg_sleep(2)", NULL, 0, &arena, &rows, NULL, 200, &err), -1);
    cr_expect(err.timeout, "err.timeout set");
    cr_expect_str_eq(err.sqlstate, "57014");
    cr_expect(strstr(err.message, "200 ms"), "%s", err.message);
    cr_expect_not(pg->broken(c));
    cr_expect_eq(CELL(c, "SELECT ?::int8", BN_DB(9)).u.i, 9, "usable afterwards");
    /* A statement that finishes in time is untouched by its timeout. */
    cr_expect_eq(pg->exec(c, "SELECT pg_sleep(0.01)", NULL, 0, &arena, &rows, NULL, 5000, &err), 0);
}

Test(postgres, a_statement_past_its_timeout_is_cancelled)
{
    bn_db_conn *c = open_conn();
    expect_timeout_then_usable(c);
    /* Inside a transaction the cancel aborts it, as any error would. */
    RUN(c, "BEGIN");
    bn_db_error err = {0};
    cr_assert_eq(pg->exec(c, "SELECT pg_sleep(2)", NULL, 0, &arena, NULL, NULL, 100, &err), -1);
    cr_expect(err.timeout);
    RUN(c, "ROLLBACK");
    pg->disconnect(c);
}

/* ---- tasks ----------------------------------------------------------------------- */

static bn_loop *loop;
static int live_tasks;

typedef struct sleeper {
    uint64_t start_ns, end_ns;
    int rc;
    bool connected;
    char message[256];
} sleeper;

static void finish_task(void)
{
    if (--live_tasks == 0)
        bn_loop_stop(loop);
}

/* Connects (inside the task, so the handshake suspends too) and sleeps 0.3 s in the server. */
static void sleeper_task(void *arg)
{
    sleeper *s = arg;
    char *error = NULL;
    bn_db_conn *c = pg->connect(bt_pg_url(), &error);
    if (!c) {
        snprintf(s->message, sizeof s->message, "connect: %s", error);
        free(error);
        finish_task();
        return;
    }
    s->connected = true;
    bn_arena a = BN_ARENA_INIT;
    bn_db_error err = {0};
    bn_db_rows rows;
    s->start_ns = bn_clock_ns();
    s->rc = pg->exec(c, "SELECT pg_sleep(0.3)", NULL, 0, &a, &rows, NULL, 0, &err);
    s->end_ns = bn_clock_ns();
    if (s->rc)
        snprintf(s->message, sizeof s->message, "%s", err.message);
    bn_arena_destroy(&a);
    pg->disconnect(c);
    finish_task();
}

static void give_up(bn_timer *t)
{
    (void)t;
    bn_loop_stop(loop);
}

static void run_loop(void)
{
    bn_timer guard;
    bn_timer_init(&guard, give_up);
    bn_timer_start(loop, &guard, 20000);
    cr_assert_eq(bn_loop_run(loop), 0);
    bn_timer_stop(&guard);
    cr_assert_eq(live_tasks, 0, "tasks did not finish");
}

Test(postgres, a_query_suspends_only_its_task)
{
    url_or_skip();
    loop = bn_loop_new();
    sleeper s[2] = {0};
    live_tasks = 2;
    bn_task_spawn(loop, sleeper_task, &s[0]);
    bn_task_spawn(loop, sleeper_task, &s[1]);
    run_loop();
    bn_loop_free(loop);
    for (int i = 0; i < 2; i++) {
        cr_assert(s[i].connected, "task %d: %s", i, s[i].message);
        cr_assert_eq(s[i].rc, 0, "task %d: %s", i, s[i].message);
    }
    /* Both queries were in the server at once: each started before the other ended. */
    cr_expect_lt(s[0].start_ns, s[1].end_ns, "task 1 ran only after task 0 had finished");
    cr_expect_lt(s[1].start_ns, s[0].end_ns, "task 0 ran only after task 1 had finished");
}

typedef struct timeout_task {
    bool done;
} timeout_task;

static void timeout_in_task(void *arg)
{
    bn_db_conn *c = open_conn();
    expect_timeout_then_usable(c);
    pg->disconnect(c);
    ((timeout_task *)arg)->done = true;
    finish_task();
}

Test(postgres, a_timeout_inside_a_task)
{
    url_or_skip();
    loop = bn_loop_new();
    timeout_task t = {0};
    live_tasks = 1;
    bn_task_spawn(loop, timeout_in_task, &t);
    run_loop();
    bn_loop_free(loop);
    cr_expect(t.done);
}

/* ---- a server restart ------------------------------------------------------------ */

/* Restarts the test server through its script (same port, so the URL stays valid). */
static void restart_server(void)
{
    if (getenv("BENNU_TEST_PG_URL") && *getenv("BENNU_TEST_PG_URL"))
        cr_skip_test("an external server (BENNU_TEST_PG_URL) is not restarted by the tests");
    const char *file = getenv("BENNU_TEST_PG_URL_FILE");
    char dir[1024];
    if (file && *file) {
        snprintf(dir, sizeof dir, "%s", file);
        char *slash = strrchr(dir, '/');
        cr_assert(slash);
        *slash = '\0';
    } else {
        snprintf(dir, sizeof dir, "%s/../pg", BENNU_BIN_DIR);
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s/tools/pg_test_server.sh' restart '%s' 2>&1", BENNU_SOURCE_DIR, dir);
    int status;
    char *out = bt_run(cmd, &status);
    cr_assert_eq(status, 0, "restart: %s", out);
    free(out);
}

Test(postgres, a_server_restart_breaks_the_connection)
{
    bn_db_conn *c = open_conn(), *unasked = open_conn();
    cr_expect_eq(CELL(c, "SELECT ?::int8", BN_DB(1)).u.i, 1);
    cr_expect_eq(CELL(unasked, "SELECT ?::int8", BN_DB(1)).u.i, 1);
    cr_expect_not(pg->broken(c));
    restart_server();
    /* The server closed the socket: seen without sending anything. */
    cr_expect(pg->broken(c), "the connection reports broken after a restart");
    bn_db_error e = FAIL(c, "SELECT ?::int8", BN_DB(2));
    cr_expect(pg->broken(c));
    cr_expect_null(strchr(e.message, '\n'), "%s", e.message);
    /* A statement sent on the dead connection fails with the server's last word. */
    e = FAIL(unasked, "SELECT ?::int8", BN_DB(2));
    cr_expect(strstr(e.message, "terminating connection") || strstr(e.message, "closed the connection"), "%s",
              e.message);
    cr_expect(pg->broken(unasked));
    pg->disconnect(unasked);
    pg->disconnect(c);
    /* A new connection works. */
    c = open_conn();
    cr_expect_eq(CELL(c, "SELECT ?::int8", BN_DB(3)).u.i, 3);
    pg->disconnect(c);
}

/* A statement in flight when the server ends its backend: an error, and broken. */
typedef struct victim {
    bn_db_conn *c;
    int pid;
    int rc;
    bn_db_error err;
    bn_arena a;
} victim;

static void victim_task(void *arg)
{
    victim *v = arg;
    v->rc = pg->exec(v->c, "SELECT pg_sleep(10)", NULL, 0, &v->a, NULL, NULL, 0, &v->err);
    finish_task();
}

static void killer_task(void *arg)
{
    victim *v = arg;
    bn_db_conn *c = open_conn();
    bn_arena a = BN_ARENA_INIT;
    bn_db_error err = {0};
    bn_db_rows rows;
    /* Waits (suspended, polling the server) until the victim's statement runs, then ends its backend. */
    bn_db_value pid = bn_db_int(v->pid);
    for (int i = 0; i < 500; i++) {
        if (pg->exec(c, "SELECT count(*) FROM pg_stat_activity WHERE pid = ? AND query LIKE 'SELECT pg_sleep%'",
                     &pid, 1, &a, &rows, NULL, 0, &err) == 0 && rows.cells[0].u.i == 1)
            break;
        bn_sleep(10);
    }
    pg->exec(c, "SELECT pg_terminate_backend(?::int)", &pid, 1, &a, NULL, NULL, 0, &err);
    bn_arena_destroy(&a);
    pg->disconnect(c);
    finish_task();
}

Test(postgres, a_backend_killed_mid_statement_fails_it_and_breaks_the_connection)
{
    victim v = {0};
    v.c = open_conn();
    v.pid = (int)CELL(v.c, "SELECT pg_backend_pid()").u.i;
    loop = bn_loop_new();
    live_tasks = 2;
    bn_task_spawn(loop, victim_task, &v);
    bn_task_spawn(loop, killer_task, &v);
    run_loop();
    bn_loop_free(loop);
    cr_expect_eq(v.rc, -1);
    cr_assert(v.err.message);
    cr_expect(strstr(v.err.message, "terminating connection"), "%s", v.err.message);
    cr_expect_str_eq(v.err.sqlstate, "57P01");
    cr_expect(pg->broken(v.c));
    bn_arena_destroy(&v.a);
    pg->disconnect(v.c);
}

/* Through the Repo: the pool replaces the connection the restart broke. */
Test(postgres, the_repo_replaces_a_connection_a_restart_broke)
{
    const char *url = url_or_skip();
    char *error = NULL;
    bn_repo *r = bn_repo_open(&(bn_repo_config){.url = url, .pool_size = 1, .quiet = true}, &error);
    cr_assert(r, "open: %s", error ? error : "?");
    bn_db_rows rows;
    bn_db_error err = {0};
    cr_assert_eq(bn_repo_query(r, &arena, &rows, &err, "SELECT ?::int8", BN_DB(1)), 0, "%s", err.message);
    restart_server();
    /*
     * The pool checks a connection when it is checked in, so the first
     * statement after the restart may still be handed the dead one (it then
     * fails cleanly); the statement after it runs on a new connection.
     */
    int first = bn_repo_query(r, &arena, &rows, &err, "SELECT ?::int8", BN_DB(2));
    if (first < 0)
        cr_expect(err.message && *err.message);
    else
        cr_expect_eq(rows.cells[0].u.i, 2);
    cr_assert_eq(bn_repo_query(r, &arena, &rows, &err, "SELECT ?::int8", BN_DB(3)), 0, "%s", err.message);
    cr_expect_eq(rows.cells[0].u.i, 3);
    bn_repo_close(r);
}
