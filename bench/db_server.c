/*
 * bench/db_server.c — TechEmpower's database tests on Bennu's data layer
 * (bennu/data.h), for `make bench`'s *_pg and *_sqlite cases (bench/README.md).
 * DATABASE_URL chooses the database: `postgres://…` (libpq, asynchronous: a
 * query suspends only its task) or `sqlite:path` (in-process: a query runs
 * to its end on the loop thread).
 *
 *   GET /db                 -> {"id":N,"randomNumber":M}, one random World row
 *   GET /queries?queries=N  -> [{…}, …]: N random rows, one query each
 *                              (N clamped to 1..500; missing or not a number: 1)
 *   GET /fortunes           -> the Fortune table plus one fortune added at
 *                              request time, sorted by message, rendered by
 *                              fortunes.html.bnx (the page of bench_server)
 *   GET /updates?queries=N  -> N random rows read one by one, each given a new
 *                              random number and written back, then returned
 *   anything else           -> 404
 *
 * The tables are TechEmpower's: world(id integer PRIMARY KEY, randomnumber
 * integer) with 10,000 rows and fortune(id integer PRIMARY KEY, message) with
 * the 12 rows of fortunes.c. A migration (BN_MIGRATION, run by
 * bn_repo_migrate in the master process before the server starts) creates
 * them and the start-up fills them when they are empty (bn_repo_insert_all).
 * Each worker process opens its own Repo (on_worker_start): POOL_SIZE
 * PostgreSQL connections per process, split between the loop threads; with
 * SQLite one connection per loop thread.
 *
 * Reads go through the Repo's own calls: bn_repo_get (SELECT id, randomnumber
 * FROM world WHERE id = ? LIMIT 2, prepared once per connection) and
 * bn_repo_all on bn_from(fortune). Updates (BENCH_DB_UPDATES):
 *   batch (default)  one statement for the request's rows, every value bound:
 *                    UPDATE world SET randomnumber = CASE id WHEN ? THEN ? …
 *                    END WHERE id IN (?, …), ids sorted so that concurrent
 *                    requests lock rows in the same order (no deadlocks)
 *   row              one bn_repo_update per row, through a changeset made
 *                    from the row read (UPDATE … SET randomnumber = ? WHERE
 *                    id = ? RETURNING …), as an Ecto app would write it
 * Both are what TechEmpower allows; bench/RESULTS.md says which is faster.
 * JSON is built as bn_value trees and encoded by bn_conn_json (Bennu's own
 * encoder; content type application/json).
 *
 * `db_server check` opens the database, migrates, seeds and exits (a quick
 * test of a DATABASE_URL without serving).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bennu/data.h"
#include "bennu/http.h"
#include "bennu/template.h"
#include "bennu/web.h"
#include "fortunes.h"
#include "fortunes.html.h"

#define WORLD_ROWS 10000
#define MAX_QUERIES 500

/* ---- schemas ------------------------------------------------------------------------- */

#define WORLD_SCHEMA(FIELD, ASSOC) \
    FIELD(id, ID)                  \
    FIELD(randomnumber, INTEGER)
BN_SCHEMA_DECLARE(world, WORLD_SCHEMA)
BN_SCHEMA_DEFINE(world, "world", WORLD_SCHEMA)

/* "fortune" is fortunes.h's row type (what the template takes): the schema's is fortune_row. */
#define FORTUNE_SCHEMA(FIELD, ASSOC) \
    FIELD(id, ID)                    \
    FIELD(message, TEXT)
BN_SCHEMA_DECLARE(fortune_row, FORTUNE_SCHEMA)
BN_SCHEMA_DEFINE(fortune_row, "fortune", FORTUNE_SCHEMA)

/* ---- the migration --------------------------------------------------------------------- */

/* TechEmpower's exact tables: a 4-byte integer key given by the data, where the
 * DSL's id column would be a bigserial. The same SQL on SQLite and PostgreSQL. */
static void create_tables(bn_migration *m)
{
    bn_execute(m, "CREATE TABLE world (id integer PRIMARY KEY, randomnumber integer NOT NULL DEFAULT 0)");
    bn_execute(m, "CREATE TABLE fortune (id integer PRIMARY KEY, message varchar(2048) NOT NULL)");
}

static void drop_tables(bn_migration *m)
{
    bn_drop_table(m, "fortune");
    bn_drop_table(m, "world");
}

BN_MIGRATION(20261125170000, create_world_and_fortune, create_tables, drop_tables);

/* ---- random numbers -------------------------------------------------------------------- */

/* 1..10000, from a per-thread xorshift64* (seeded from the clock and the thread). */
static int random_id(void)
{
    static _Thread_local uint64_t s;
    if (!s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&s ^ 0x9e3779b97f4a7c15ull;
    }
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return (int)(((s * 0x2545f4914f6cdd1dull) >> 33) % WORLD_ROWS) + 1;
}

/* ---- start-up -------------------------------------------------------------------------- */

static bn_repo *repo;   /* the worker's */
static bool batch_updates = true;

static int count_rows(bn_repo *r, const bn_schema *s, int64_t *n)
{
    bn_arena a = BN_ARENA_INIT;
    bn_db_value v;
    bn_db_error err;
    int rc = bn_repo_aggregate(r, bn_from(&a, s), BN_AGG_COUNT, NULL, &v, &err);
    if (rc < 0)
        fprintf(stderr, "db_server: counting %s: %s\n", s->source, err.message);
    else
        *n = v.type == BN_TYPE_NULL ? 0 : v.u.i;
    bn_arena_destroy(&a);
    return rc;
}

/* Creates the tables (migration) and fills them when empty. */
static int prepare_database(void)
{
    char *error = NULL;
    bn_repo *r = bn_repo_open(&(bn_repo_config){.quiet = true, .pool_size = 1}, &error);
    if (!r) {
        fprintf(stderr, "db_server: cannot open the database: %s\n", error ? error : "?");
        free(error);
        return -1;
    }
    bn_db_error err;
    int rc = -1;
    if (bn_repo_migrate(r, &err) < 0) {
        fprintf(stderr, "db_server: migration failed: %s\n", err.message);
        goto out;
    }
    int64_t n = 0;
    if (count_rows(r, &world_schema, &n) < 0)
        goto out;
    if (n == 0) {
        world *rows = bn_xcalloc(WORLD_ROWS, sizeof *rows);
        for (int i = 0; i < WORLD_ROWS; i++)
            rows[i] = (world){.id = i + 1, .randomnumber = random_id()};
        int64_t done = bn_repo_insert_all(r, &world_schema, rows, WORLD_ROWS, &err);
        free(rows);
        if (done != WORLD_ROWS) {
            fprintf(stderr, "db_server: filling world: %s\n", done < 0 ? err.message : "short insert");
            goto out;
        }
    } else if (n != WORLD_ROWS) {
        fprintf(stderr, "db_server: world has %lld rows, not %d\n", (long long)n, WORLD_ROWS);
        goto out;
    }
    if (count_rows(r, &fortune_row_schema, &n) < 0)
        goto out;
    if (n == 0) {
        fortune_row *rows = bn_xcalloc(fortune_table_count, sizeof *rows);
        for (size_t i = 0; i < fortune_table_count; i++)
            rows[i] = (fortune_row){.id = fortune_table[i].id, .message = fortune_table[i].message};
        int64_t done = bn_repo_insert_all(r, &fortune_row_schema, rows, fortune_table_count, &err);
        free(rows);
        if (done < 0) {
            fprintf(stderr, "db_server: filling fortune: %s\n", err.message);
            goto out;
        }
    } else if (n != (int64_t)fortune_table_count) {
        fprintf(stderr, "db_server: fortune has %lld rows, not %zu\n", (long long)n, fortune_table_count);
        goto out;
    }
    rc = 0;
out:
    bn_repo_close(r);
    return rc;
}

static void open_repo(void)
{
    char *error = NULL;
    repo = bn_repo_open(&(bn_repo_config){.quiet = true}, &error);
    if (!repo) {
        fprintf(stderr, "db_server: cannot open the database: %s\n", error ? error : "?");
        exit(1);
    }
}

/* ---- handlers -------------------------------------------------------------------------- */

static void fail(bn_conn *c, const char *what, const bn_db_error *err)
{
    bn_warn("db_server: %s: %s", what, err->message ? err->message : "failed");
    bn_conn_send_resp(c, 500, BN_STR("database error"));
}

/* ?queries=N as TechEmpower reads it: 1 when missing or not a number, clamped to 1..500. */
static int queries_param(bn_conn *c)
{
    int64_t n;
    if (!bn_value_to_int(bn_value_get(bn_conn_query_params(c), "queries"), &n) || n < 1)
        return 1;
    return n > MAX_QUERIES ? MAX_QUERIES : (int)n;
}

static bn_value *world_json(bn_arena *a, const world *w)
{
    bn_value *o = bn_value_object(a);
    bn_value_set(a, o, "id", bn_value_int(a, w->id));
    bn_value_set(a, o, "randomNumber", bn_value_int(a, w->randomnumber));
    return o;
}

/* One random row; 0 or -1 (after answering 500). */
static int get_world(bn_conn *c, world *w)
{
    bn_db_error err;
    int rc = bn_repo_get(repo, bn_conn_arena(c), &world_schema, random_id(), w, &err);
    if (rc == 1)
        return 0;
    if (rc == 0)
        err.message = "a world row is missing";
    fail(c, "world", &err);
    return -1;
}

static void db(bn_conn *c)
{
    world w;
    if (get_world(c, &w) == 0)
        bn_conn_json(c, 200, world_json(bn_conn_arena(c), &w));
}

static void queries(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    int n = queries_param(c);
    bn_value *list = bn_value_array(a);
    for (int i = 0; i < n; i++) {
        world w;
        if (get_world(c, &w) < 0)
            return;
        bn_value_push(a, list, world_json(a, &w));
    }
    bn_conn_json(c, 200, list);
}

static int by_id(const void *x, const void *y)
{
    const world *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

/* The rows' new numbers in one statement: CASE id WHEN ? THEN ? … END WHERE id IN (?, …). */
static int update_batch(bn_arena *a, const world *rows, int n, bn_db_error *err)
{
    world *sorted = bn_arena_alloc(a, (size_t)n * sizeof *sorted);
    memcpy(sorted, rows, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, by_id);
    bn_buf sql = BN_BUF_INIT;
    bn_db_value *v = bn_arena_alloc(a, (size_t)n * 3 * sizeof *v);
    size_t nv = 0;
    bn_buf_append_str(&sql, BN_STR("UPDATE world SET randomnumber = CASE id"));
    for (int i = 0; i < n; i++) {
        /* CAST: in PostgreSQL a CASE of untyped parameters would be text. */
        bn_buf_append_str(&sql, BN_STR(" WHEN ? THEN CAST(? AS integer)"));
        v[nv++] = bn_db_int(sorted[i].id);
        v[nv++] = bn_db_int(sorted[i].randomnumber);
    }
    bn_buf_append_str(&sql, BN_STR(" ELSE randomnumber END WHERE id IN ("));
    for (int i = 0; i < n; i++) {
        bn_buf_append_str(&sql, i ? BN_STR(", ?") : BN_STR("?"));
        v[nv++] = bn_db_int(sorted[i].id);
    }
    bn_buf_append(&sql, ")", 2); /* with its NUL */
    /* bn_repo_query's array form: the values are a run-time list, every one bound. */
    int rc = bn__repo_query(repo, a, NULL, err, sql.data, v, nv);
    bn_buf_free(&sql);
    return rc;
}

static int update_row(bn_arena *a, const world *old, int64_t number)
{
    bn_changeset *cs = bn_changeset_cast(a, &world_schema, old, NULL, NULL);
    bn_changeset_put(cs, "randomnumber", bn_db_int(number));
    return bn_repo_update(repo, cs, NULL);
}

static void updates(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    int n = queries_param(c);
    world *rows = bn_arena_alloc(a, (size_t)n * sizeof *rows);
    for (int i = 0; i < n; i++)
        if (get_world(c, &rows[i]) < 0)
            return;
    bn_value *list = bn_value_array(a);
    for (int i = 0; i < n; i++) {
        /* A new number, never the one read: every row really changes. */
        int number;
        do
            number = random_id();
        while (number == rows[i].randomnumber);
        if (!batch_updates && update_row(a, &rows[i], number) < 0) {
            bn_db_error err = {.message = "update failed"};
            fail(c, "world update", &err);
            return;
        }
        rows[i].randomnumber = number;
        bn_value_push(a, list, world_json(a, &rows[i]));
    }
    bn_db_error err;
    if (batch_updates && update_batch(a, rows, n, &err) < 0) {
        fail(c, "world update", &err);
        return;
    }
    bn_conn_json(c, 200, list);
}

/* Fortune's rows become fortunes.h's rows (int id, the message), and with
 * the request's own fortune are sorted and rendered as bench_server does. */
static void fortunes_page(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    bn_records recs;
    bn_db_error err;
    if (bn_repo_all(repo, bn_from(a, &fortune_row_schema), &recs, &err) < 0) {
        fail(c, "fortune", &err);
        return;
    }
    fortune *rows = bn_arena_alloc(a, (recs.count + 1) * sizeof *rows);
    const fortune **list = bn_arena_alloc(a, (recs.count + 1) * sizeof *list);
    for (size_t i = 0; i < recs.count; i++) {
        const fortune_row *f = BN_RECORD(recs, fortune_row, i);
        rows[i] = (fortune){(int)f->id, f->message};
        list[i] = &rows[i];
    }
    rows[recs.count] = (fortune){0, FORTUNE_EXTRA_MESSAGE};
    list[recs.count] = &rows[recs.count];
    size_t n = recs.count + 1;
    fortunes_sort(list, n);

    const fortunes_assigns assigns = {.fortunes = list, .count = n};
    bn_buf page = BN_BUF_INIT;
    if (bn_tpl_render_html(&page, fortunes, &assigns)) {
        bn_buf_free(&page);
        bn_conn_send_resp(c, 500, BN_STR(""));
        return;
    }
    bn_conn_put_resp_header(c, BN_STR("content-type"), BN_STR("text/html; charset=utf-8"));
    bn_conn_send_resp(c, 200, bn_str_make(page.data, page.len));
    bn_buf_free(&page);
}

static void route(bn_conn *c)
{
    bn_str path = bn_conn_path(c);
    if (bn_str_eq(path, BN_STR("/db")))
        db(c);
    else if (bn_str_eq(path, BN_STR("/queries")))
        queries(c);
    else if (bn_str_eq(path, BN_STR("/fortunes")))
        fortunes_page(c);
    else if (bn_str_eq(path, BN_STR("/updates")))
        updates(c);
    else
        bn_conn_send_resp(c, 404, BN_STR("Not Found"));
}

int main(int argc, char **argv)
{
    const char *mode = getenv("BENCH_DB_UPDATES");
    if (mode && strcmp(mode, "row") == 0)
        batch_updates = false;
    else if (mode && *mode && strcmp(mode, "batch") != 0) {
        fprintf(stderr, "db_server: BENCH_DB_UPDATES is batch or row, not \"%s\"\n", mode);
        return 2;
    }
    /* Before any worker exists: the master creates and fills the tables once. */
    if (prepare_database() < 0)
        return 1;
    if (argc > 1 && strcmp(argv[1], "check") == 0)
        return 0;
    bn_server_config cfg;
    bn_server_config_defaults(&cfg, argv);
    cfg.handler = route;
    cfg.on_worker_start = open_repo;
    return bn_server_run(&cfg);
}
