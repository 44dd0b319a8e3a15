/*
 * Migrations: the exact SQL the DSL renders for each dialect, then real runs
 * on SQLite files and on PostgreSQL (a fresh database per test, on the test
 * server when there is one): migrate, idempotence, schema_migrations, rollback,
 * a failing migration leaves nothing, duplicate versions, the unique index's
 * constraint name, foreign keys, the db.* commands in-process, and `bennu
 * db.*` forwarded to tests/support/bin/migrate_demo.
 *
 * The "bn_migrations" section is global to the binary: the two migrations
 * registered below (widgets, gadgets) are all this test binary has, and the
 * tests of bn_repo_migrate and bn_data_command expect exactly them. Other
 * sets of migrations go through bn__migrate_defs / bn__rollback_defs.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bennu/data.h"
#include "bennu/value.h"
#include "data/data_internal.h"
#include "harness.h"

/* ---- rendering -------------------------------------------------------------------- */

static bn_arena arena;

static void setup(void) { bn_log_threshold = BN_LOG_WARN; }
static void teardown(void) { bn_arena_destroy(&arena); }

/* The statements `fn` renders for `kind`, joined with "\n". */
static const char *render(bn_migration_fn *fn, bn_db_kind kind)
{
    const char *const *stmts = NULL;
    const char *error = NULL;
    int n = bn__migration_sql(fn, kind, &arena, &stmts, &error);
    cr_assert_geq(n, 0, "misuse: %s", error ? error : "?");
    bn_buf b = BN_BUF_INIT;
    for (int i = 0; i < n; i++)
        bn_buf_printf(&b, "%s%s", i ? "\n" : "", stmts[i]);
    char *s = bn_arena_strndup(&arena, b.len ? b.data : "", b.len);
    bn_buf_free(&b);
    return s;
}

static const char *misuse_of(bn_migration_fn *fn)
{
    const char *const *stmts = NULL;
    const char *error = NULL;
    int n = bn__migration_sql(fn, BN_DB_SQLITE, &arena, &stmts, &error);
    cr_assert_eq(n, -1);
    cr_assert(error);
    int n2 = bn__migration_sql(fn, BN_DB_POSTGRES, &arena, &stmts, &error);
    cr_assert_eq(n2, -1);
    return error;
}

static void every_type(bn_migration *m)
{
    bn_create_table(m, "things",
                    BN_COLUMNS({.name = "i", .type = BN_TYPE_INTEGER}, {.name = "big", .type = BN_TYPE_BIGINT},
                               {.name = "f", .type = BN_TYPE_FLOAT}, {.name = "ok", .type = BN_TYPE_BOOLEAN},
                               {.name = "s", .type = BN_TYPE_STRING},
                               {.name = "code", .type = BN_TYPE_STRING, .size = 8},
                               {.name = "body", .type = BN_TYPE_TEXT}, {.name = "price", .type = BN_TYPE_DECIMAL},
                               {.name = "born", .type = BN_TYPE_DATE}, {.name = "at", .type = BN_TYPE_UTC_DATETIME},
                               {.name = "blob", .type = BN_TYPE_BINARY}, {.name = "meta", .type = BN_TYPE_JSON},
                               {.name = "uid", .type = BN_TYPE_UUID}),
                    (bn_table_opts){0});
}

Test(migrate_sql, create_table_every_type, .init = setup, .fini = teardown)
{
    cr_expect_str_eq(render(every_type, BN_DB_SQLITE),
                     "CREATE TABLE \"things\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT, \"i\" integer, "
                     "\"big\" bigint, \"f\" REAL, \"ok\" boolean, \"s\" TEXT, \"code\" TEXT, \"body\" TEXT, "
                     "\"price\" TEXT, \"born\" TEXT, \"at\" TEXT, \"blob\" BLOB, \"meta\" TEXT, \"uid\" TEXT)");
    cr_expect_str_eq(render(every_type, BN_DB_POSTGRES),
                     "CREATE TABLE \"things\" (\"id\" bigserial PRIMARY KEY, \"i\" integer, \"big\" bigint, "
                     "\"f\" double precision, \"ok\" boolean, \"s\" varchar(255), \"code\" varchar(8), \"body\" text, "
                     "\"price\" numeric, \"born\" date, \"at\" timestamp, \"blob\" bytea, \"meta\" jsonb, "
                     "\"uid\" uuid)");
}

static void constraints(bn_migration *m)
{
    bn_create_table(m, "posts",
                    BN_COLUMNS({.name = "title", .type = BN_TYPE_STRING, .not_null = true, .default_sql = "''"},
                               {.name = "views", .type = BN_TYPE_INTEGER, .not_null = true, .default_sql = "0"},
                               {.name = "author_id", .references = "users", .on_delete = "cascade"},
                               {.name = "editor_id", .type = BN_TYPE_INTEGER, .references = "users",
                                .on_delete = "SET NULL"},
                               {.name = "topic_id", .type = BN_TYPE_BIGINT, .references = "topics"}),
                    (bn_table_opts){.timestamps = true});
}

Test(migrate_sql, create_table_constraints_and_timestamps, .init = setup, .fini = teardown)
{
    cr_expect_str_eq(render(constraints, BN_DB_SQLITE),
                     "CREATE TABLE \"posts\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT, "
                     "\"title\" TEXT NOT NULL DEFAULT '', \"views\" integer NOT NULL DEFAULT 0, "
                     "\"author_id\" bigint REFERENCES \"users\"(\"id\") ON DELETE CASCADE, "
                     "\"editor_id\" integer REFERENCES \"users\"(\"id\") ON DELETE SET NULL, "
                     "\"topic_id\" bigint REFERENCES \"topics\"(\"id\"), "
                     "\"inserted_at\" TEXT NOT NULL, \"updated_at\" TEXT NOT NULL)");
    cr_expect_str_eq(render(constraints, BN_DB_POSTGRES),
                     "CREATE TABLE \"posts\" (\"id\" bigserial PRIMARY KEY, "
                     "\"title\" varchar(255) NOT NULL DEFAULT '', \"views\" integer NOT NULL DEFAULT 0, "
                     "\"author_id\" bigint REFERENCES \"users\"(\"id\") ON DELETE CASCADE, "
                     "\"editor_id\" integer REFERENCES \"users\"(\"id\") ON DELETE SET NULL, "
                     "\"topic_id\" bigint REFERENCES \"topics\"(\"id\"), "
                     "\"inserted_at\" timestamp NOT NULL, \"updated_at\" timestamp NOT NULL)");
}

static void ids(bn_migration *m)
{
    bn_create_table(m, "tags_posts",
                    BN_COLUMNS({.name = "tag_id", .references = "tags"}, {.name = "post_id", .references = "posts"}),
                    (bn_table_opts){.no_id = true});
    bn_create_table(m, "codes",
                    BN_COLUMNS({.name = "code_id", .type = BN_TYPE_ID}, {.name = "v", .type = BN_TYPE_TEXT}),
                    (bn_table_opts){0});
    bn_create_table(m, "stamps", NULL, (bn_table_opts){.timestamps = true});
}

Test(migrate_sql, no_id_explicit_id_and_no_columns, .init = setup, .fini = teardown)
{
    cr_expect_str_eq(render(ids, BN_DB_SQLITE),
                     "CREATE TABLE \"tags_posts\" (\"tag_id\" bigint REFERENCES \"tags\"(\"id\"), "
                     "\"post_id\" bigint REFERENCES \"posts\"(\"id\"))\n"
                     "CREATE TABLE \"codes\" (\"code_id\" INTEGER PRIMARY KEY AUTOINCREMENT, \"v\" TEXT)\n"
                     "CREATE TABLE \"stamps\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT, "
                     "\"inserted_at\" TEXT NOT NULL, \"updated_at\" TEXT NOT NULL)");
    cr_expect_str_eq(render(ids, BN_DB_POSTGRES),
                     "CREATE TABLE \"tags_posts\" (\"tag_id\" bigint REFERENCES \"tags\"(\"id\"), "
                     "\"post_id\" bigint REFERENCES \"posts\"(\"id\"))\n"
                     "CREATE TABLE \"codes\" (\"code_id\" bigserial PRIMARY KEY, \"v\" text)\n"
                     "CREATE TABLE \"stamps\" (\"id\" bigserial PRIMARY KEY, "
                     "\"inserted_at\" timestamp NOT NULL, \"updated_at\" timestamp NOT NULL)");
}

static void alterations(bn_migration *m)
{
    bn_add_column(m, "users",
                  (bn_column){.name = "age", .type = BN_TYPE_INTEGER, .not_null = true, .default_sql = "0"});
    bn_add_column(m, "users", (bn_column){.name = "nick", .type = BN_TYPE_STRING, .size = 40});
    bn_add_column(m, "users", (bn_column){.name = "team_id", .references = "teams", .on_delete = "RESTRICT"});
    bn_remove_column(m, "users", "nick");
    bn_create_index(m, "users", BN_FIELDS("email"), true);
    bn_create_index(m, "users", BN_FIELDS("team_id", "age"), false);
    bn_drop_index(m, "users", BN_FIELDS("team_id", "age"));
    bn_drop_table(m, "users");
    bn_execute(m, bn_migration_kind(m) == BN_DB_POSTGRES ? "CREATE EXTENSION IF NOT EXISTS citext" : "SELECT 1");
}

Test(migrate_sql, alter_index_drop_execute, .init = setup, .fini = teardown)
{
    cr_expect_str_eq(render(alterations, BN_DB_SQLITE),
                     "ALTER TABLE \"users\" ADD COLUMN \"age\" integer NOT NULL DEFAULT 0\n"
                     "ALTER TABLE \"users\" ADD COLUMN \"nick\" TEXT\n"
                     "ALTER TABLE \"users\" ADD COLUMN \"team_id\" bigint REFERENCES \"teams\"(\"id\") "
                     "ON DELETE RESTRICT\n"
                     "ALTER TABLE \"users\" DROP COLUMN \"nick\"\n"
                     "CREATE UNIQUE INDEX \"users_email_index\" ON \"users\" (\"email\")\n"
                     "CREATE INDEX \"users_team_id_age_index\" ON \"users\" (\"team_id\", \"age\")\n"
                     "DROP INDEX \"users_team_id_age_index\"\n"
                     "DROP TABLE \"users\"\n"
                     "SELECT 1");
    cr_expect_str_eq(render(alterations, BN_DB_POSTGRES),
                     "ALTER TABLE \"users\" ADD COLUMN \"age\" integer NOT NULL DEFAULT 0\n"
                     "ALTER TABLE \"users\" ADD COLUMN \"nick\" varchar(40)\n"
                     "ALTER TABLE \"users\" ADD COLUMN \"team_id\" bigint REFERENCES \"teams\"(\"id\") "
                     "ON DELETE RESTRICT\n"
                     "ALTER TABLE \"users\" DROP COLUMN \"nick\"\n"
                     "CREATE UNIQUE INDEX \"users_email_index\" ON \"users\" (\"email\")\n"
                     "CREATE INDEX \"users_team_id_age_index\" ON \"users\" (\"team_id\", \"age\")\n"
                     "DROP INDEX \"users_team_id_age_index\"\n"
                     "DROP TABLE \"users\"\n"
                     "CREATE EXTENSION IF NOT EXISTS citext");
}

static void hostile(bn_migration *m)
{
    bn_create_table(m, "we\"ird", BN_COLUMNS({.name = "x\"; DROP TABLE users; --", .type = BN_TYPE_TEXT}),
                    (bn_table_opts){0});
    bn_create_index(m, "we\"ird", BN_FIELDS("x\"; DROP TABLE users; --"), true);
}

Test(migrate_sql, identifiers_are_quoted, .init = setup, .fini = teardown)
{
    cr_expect_str_eq(render(hostile, BN_DB_SQLITE),
                     "CREATE TABLE \"we\"\"ird\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT, "
                     "\"x\"\"; DROP TABLE users; --\" TEXT)\n"
                     "CREATE UNIQUE INDEX \"we\"\"ird_x\"\"; DROP TABLE users; --_index\" ON \"we\"\"ird\" "
                     "(\"x\"\"; DROP TABLE users; --\")");
}

static void nothing(bn_migration *m) { (void)m; }

Test(migrate_sql, an_empty_migration_renders_nothing, .init = setup, .fini = teardown)
{
    cr_expect_str_eq(render(nothing, BN_DB_SQLITE), "");
}

static void no_type(bn_migration *m) { bn_create_table(m, "t", BN_COLUMNS({.name = "x"}), (bn_table_opts){0}); }
static void bad_on_delete(bn_migration *m)
{
    bn_create_table(m, "t", BN_COLUMNS({.name = "u_id", .references = "u", .on_delete = "CASCADE; DROP TABLE u"}),
                    (bn_table_opts){0});
}
static void on_delete_alone(bn_migration *m)
{
    bn_add_column(m, "t", (bn_column){.name = "x", .type = BN_TYPE_INTEGER, .on_delete = "CASCADE"});
}
static void null_table(bn_migration *m) { bn_drop_table(m, NULL); }
static void no_index_columns(bn_migration *m) { bn_create_index(m, "t", NULL, false); }
static void no_columns(bn_migration *m) { bn_create_table(m, "t", NULL, (bn_table_opts){.no_id = true}); }
static void null_sql(bn_migration *m)
{
    bn_drop_table(m, "fine");
    bn_execute(m, NULL);
}

Test(migrate_sql, misuse_is_an_error, .init = setup, .fini = teardown)
{
    cr_expect_str_eq(misuse_of(no_type), "column \"x\" has no type");
    cr_expect_str_eq(misuse_of(bad_on_delete), "column \"u_id\": unknown ON DELETE action \"CASCADE; DROP TABLE u\"");
    cr_expect_str_eq(misuse_of(on_delete_alone), "column \"x\": ON DELETE CASCADE without references");
    cr_expect_str_eq(misuse_of(null_table), "bn_drop_table without a name");
    cr_expect_str_eq(misuse_of(no_index_columns), "bn_create_index on \"t\" without columns");
    cr_expect_str_eq(misuse_of(no_columns), "bn_create_table \"t\" without columns");
    cr_expect_str_eq(misuse_of(null_sql), "bn_execute without SQL");
}

/* ---- real databases --------------------------------------------------------------- */

/* The database of one test: a SQLite file in a temp dir, or a fresh
 * PostgreSQL database on the test server (created and dropped with db.*). */
static struct {
    bool pg;
    char dir[64];
    char url[1024];
    bool created;
} T;

/* `base` with its database replaced by `db`. */
static void pg_url_with_db(char *out, size_t cap, const char *base, const char *db)
{
    const char *auth = strstr(base, "://");
    cr_assert(auth, "bad PostgreSQL URL %s", base);
    auth += 3;
    const char *path = auth + strcspn(auth, "/?");
    const char *query = path + strcspn(path, "?");
    snprintf(out, cap, "%.*s/%s%s", (int)(path - base), base, db, query);
}

/* Runs bn_data_command with stdout into a string (in `arena`); the status in *status. */
static const char *command(int *status, const char *cmd, const char *arg)
{
    char path[128];
    snprintf(path, sizeof path, "%s/stdout", T.dir);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    close(fd);
    char *argv[] = {"migrate_test", (char *)cmd, (char *)arg, NULL};
    *status = bn_data_command(arg ? 3 : 2, argv, NULL);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return bn_arena_strndup(&arena, buf, n);
}

static void db_setup(bool pg)
{
    setup();
    T.pg = pg;
    const char *base = pg ? bt_pg_url() : NULL;
    if (pg && !base)
        cr_skip_test("no PostgreSQL test server");
    strcpy(T.dir, "/tmp/bn-migrate-XXXXXX");
    cr_assert(mkdtemp(T.dir));
    if (!pg) {
        snprintf(T.url, sizeof T.url, "sqlite:%s/test.db", T.dir);
    } else {
        static unsigned n;
        char name[64];
        snprintf(name, sizeof name, "bn_migrate_%d_%u", (int)getpid(), n++);
        pg_url_with_db(T.url, sizeof T.url, base, name);
    }
    setenv("DATABASE_URL", T.url, 1);
    if (pg) {
        int status;
        const char *out = command(&status, "db.create", NULL);
        cr_assert_eq(status, 0, "db.create: %s", out);
        T.created = true;
    }
}

static void sqlite_setup(void) { db_setup(false); }
static void pg_setup(void) { db_setup(true); }

static void db_teardown(void)
{
    if (T.pg && T.created) {
        int status;
        command(&status, "db.drop", NULL);
    }
    if (T.dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", T.dir);
        int st;
        free(bt_run(cmd, &st));
    }
    teardown();
}

/* Each test body runs on SQLite and, when the server is there, on PostgreSQL. */
#define BOTH(name)                                                                    \
    static void name##_body(void);                                                    \
    Test(migrate_sqlite, name, .init = sqlite_setup, .fini = db_teardown, .timeout = 60) \
    {                                                                                 \
        name##_body();                                                                \
    }                                                                                 \
    Test(migrate_postgres, name, .init = pg_setup, .fini = db_teardown, .timeout = 60)   \
    {                                                                                 \
        name##_body();                                                                \
    }                                                                                 \
    static void name##_body(void)

static bn_repo *open_db(void)
{
    char *error = NULL;
    bn_repo *r = bn_repo_open(&(bn_repo_config){.url = T.url, .pool_size = 2, .quiet = true}, &error);
    cr_assert(r, "open %s: %s", T.url, error ? error : "?");
    return r;
}

static int64_t cell_int(bn_db_value v)
{
    switch (v.type) {
    case BN_TYPE_ID:
    case BN_TYPE_INTEGER:
    case BN_TYPE_BIGINT: return v.u.i;
    case BN_TYPE_TEXT:
    case BN_TYPE_STRING:
    case BN_TYPE_DECIMAL: {
        char buf[32];
        snprintf(buf, sizeof buf, "%.*s", (int)v.u.s.len, v.u.s.ptr);
        return strtoll(buf, NULL, 10);
    }
    default: cr_assert_fail("cell of type %d is not an integer", (int)v.type);
    }
    return 0;
}

/* The one integer a query returns. */
#define SCALAR(r, sql, ...)                                                                                   \
    __extension__({                                                                                           \
        bn_db_rows rows_;                                                                                     \
        bn_db_error err_ = {0};                                                                               \
        int rc_ = bn_repo_query((r), &arena, &rows_, &err_, (sql), ##__VA_ARGS__);                             \
        cr_assert_eq(rc_, 0, "%s: %s", (sql), err_.message ? err_.message : "?");                             \
        cr_assert_eq(rows_.nrows, 1, "%s: %zu rows", (sql), rows_.nrows);                                     \
        cell_int(rows_.cells[0]);                                                                             \
    })

static bool table_exists(bn_repo *r, const char *table)
{
    if (bn_repo_kind(r) == BN_DB_SQLITE)
        return SCALAR(r, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", BN_DB(table)) == 1;
    return SCALAR(r,
                  "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
                  "AND table_name = ?",
                  BN_DB(table)) == 1;
}

static bool column_exists(bn_repo *r, const char *table, const char *column)
{
    if (bn_repo_kind(r) == BN_DB_SQLITE)
        return SCALAR(r, "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?", BN_DB(table), BN_DB(column)) == 1;
    return SCALAR(r,
                  "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() "
                  "AND table_name = ? AND column_name = ?",
                  BN_DB(table), BN_DB(column)) == 1;
}

/* The applied versions, ascending, as "v1,v2". */
static const char *versions(bn_repo *r)
{
    bn_db_rows rows;
    bn_db_error err = {0};
    int rc = bn_repo_query(r, &arena, &rows, &err, "SELECT version FROM schema_migrations ORDER BY version");
    cr_assert_eq(rc, 0, "%s", err.message ? err.message : "?");
    bn_buf b = BN_BUF_INIT;
    for (size_t i = 0; i < rows.nrows; i++)
        bn_buf_printf(&b, "%s%lld", i ? "," : "", (long long)cell_int(rows.cells[i * rows.ncols]));
    char *s = bn_arena_strndup(&arena, b.len ? b.data : "", b.len);
    bn_buf_free(&b);
    return s;
}

/* The migrations of the tests below. */
static void users_up(bn_migration *m)
{
    bn_create_table(m, "users",
                    BN_COLUMNS({.name = "name", .type = BN_TYPE_STRING, .not_null = true},
                               {.name = "email", .type = BN_TYPE_STRING}),
                    (bn_table_opts){.timestamps = true});
    bn_create_index(m, "users", BN_FIELDS("email"), true);
}
static void users_down(bn_migration *m) { bn_drop_table(m, "users"); }
static void posts_up(bn_migration *m)
{
    bn_create_table(m, "posts",
                    BN_COLUMNS({.name = "title", .type = BN_TYPE_TEXT},
                               {.name = "user_id", .references = "users", .on_delete = "CASCADE"}),
                    (bn_table_opts){0});
}
static void posts_down(bn_migration *m) { bn_drop_table(m, "posts"); }
static void age_up(bn_migration *m)
{
    bn_add_column(m, "users",
                  (bn_column){.name = "age", .type = BN_TYPE_INTEGER, .not_null = true, .default_sql = "0"});
}
static void age_down(bn_migration *m) { bn_remove_column(m, "users", "age"); }
static void bad_up(bn_migration *m)
{
    bn_create_table(m, "ghosts", BN_COLUMNS({.name = "name", .type = BN_TYPE_TEXT}), (bn_table_opts){0});
    bn_execute(m, "THIS IS NOT SQL");
}
static void bad_down(bn_migration *m)
{
    bn_drop_table(m, "posts");
    bn_execute(m, "NOR IS THIS");
}

static const bn_migration_def m_users = {20240101000000, "create_users", users_up, users_down};
static const bn_migration_def m_posts = {20240102000000, "create_posts", posts_up, posts_down};
static const bn_migration_def m_age = {20240103000000, "add_age", age_up, age_down};
static const bn_migration_def m_bad = {20240104000000, "bad_one", bad_up, users_down};
static const bn_migration_def m_posts_bad_down = {20240102000000, "create_posts", posts_up, bad_down};
static const bn_migration_def m_no_down = {20240103000000, "add_age", age_up, NULL};

/* A set of migrations as the (defs, n) arguments of bn__migrate_defs / bn__rollback_defs. */
#define DEFS(...)                                 \
    (const bn_migration_def *const[]){__VA_ARGS__}, \
        sizeof((const bn_migration_def *const[]){__VA_ARGS__}) / sizeof(void *)

BOTH(migrate_creates_records_and_is_idempotent)
{
    bn_repo *r = open_db();
    bn_db_error err = {0};
    /* out of order and with a NULL: sorted by version, NULLs skipped */
    cr_assert_eq(bn__migrate_defs(r, DEFS(&m_age, NULL, &m_users, &m_posts), &err), 3, "%s", err.message);
    cr_expect(table_exists(r, "users"));
    cr_expect(table_exists(r, "posts"));
    cr_expect(column_exists(r, "users", "age"));
    cr_expect(column_exists(r, "users", "inserted_at"));
    cr_expect_str_eq(versions(r), "20240101000000,20240102000000,20240103000000");
    cr_expect_eq(bn__migrate_defs(r, DEFS(&m_users, &m_posts, &m_age), &err), 0);
    cr_expect_str_eq(versions(r), "20240101000000,20240102000000,20240103000000");
    bn_repo_close(r);
}

BOTH(migrate_runs_only_the_pending_ones)
{
    bn_repo *r = open_db();
    bn_db_error err = {0};
    cr_assert_eq(bn__migrate_defs(r, DEFS(&m_users), &err), 1, "%s", err.message);
    cr_expect(!table_exists(r, "posts"));
    cr_assert_eq(bn__migrate_defs(r, DEFS(&m_users, &m_posts, &m_age), &err), 2, "%s", err.message);
    cr_expect(table_exists(r, "posts"));
    cr_expect_str_eq(versions(r), "20240101000000,20240102000000,20240103000000");
    bn_repo_close(r);
}

/* Two processes migrating the same database at once apply each migration once. */
BOTH(concurrent_migrations_apply_each_once)
{
    bn_repo_close(open_db()); /* the database exists before (db.create), as in a deployment */
    int pipes[2][2];
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pipe(pipes[i]), 0);
        pids[i] = fork();
        cr_assert_geq(pids[i], 0);
        if (pids[i] == 0) {
            char go;
            close(pipes[i][1]);
            if (read(pipes[i][0], &go, 1) != 1) /* both start together */
                _exit(100);
            char *error = NULL;
            bn_repo *r = bn_repo_open(&(bn_repo_config){.url = T.url, .pool_size = 2, .quiet = true}, &error);
            if (!r) {
                fprintf(stderr, "child %d: %s\n", i, error);
                _exit(101);
            }
            bn_db_error err = {0};
            int n = bn__migrate_defs(r, DEFS(&m_users, &m_posts, &m_age), &err);
            if (n < 0)
                fprintf(stderr, "child %d: %s\n", i, err.message);
            bn_repo_close(r);
            _exit(n < 0 ? 102 : n);
        }
        close(pipes[i][0]);
    }
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(write(pipes[i][1], "g", 1), 1);
        close(pipes[i][1]);
    }
    int total = 0;
    for (int i = 0; i < 2; i++) {
        int st;
        cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) <= 3, "child %d: status %d", i, st);
        total += WEXITSTATUS(st);
    }
    cr_expect_eq(total, 3);
    bn_repo *r = open_db();
    cr_expect_str_eq(versions(r), "20240101000000,20240102000000,20240103000000");
    bn_repo_close(r);
}

BOTH(rollback_runs_down_latest_first)
{
    bn_repo *r = open_db();
    bn_db_error err = {0};
    cr_assert_eq(bn__migrate_defs(r, DEFS(&m_users, &m_posts, &m_age), &err), 3, "%s", err.message);
    cr_assert_eq(bn__rollback_defs(r, DEFS(&m_users, &m_posts, &m_age), 1, &err), 1, "%s", err.message);
    cr_expect(!column_exists(r, "users", "age"));
    cr_expect(table_exists(r, "posts"));
    cr_expect_str_eq(versions(r), "20240101000000,20240102000000");
    cr_assert_eq(bn__rollback_defs(r, DEFS(&m_users, &m_posts, &m_age), 5, &err), 2, "%s", err.message);
    cr_expect(!table_exists(r, "posts"));
    cr_expect(!table_exists(r, "users"));
    cr_expect(table_exists(r, "schema_migrations"));
    cr_expect_str_eq(versions(r), "");
    cr_expect_eq(bn__rollback_defs(r, DEFS(&m_users, &m_posts, &m_age), 1, &err), 0);
    /* and up again */
    cr_assert_eq(bn__migrate_defs(r, DEFS(&m_users, &m_posts, &m_age), &err), 3, "%s", err.message);
    cr_expect(column_exists(r, "users", "age"));
    bn_repo_close(r);
}

BOTH(a_failing_migration_leaves_nothing)
{
    bn_repo *r = open_db();
    bn_db_error err = {0};
    cr_assert_eq(bn__migrate_defs(r, DEFS(&m_users, &m_bad, &m_posts), &err), -1);
    cr_expect(strstr(err.message, "migration 20240104000000 bad_one failed: "), "%s", err.message);
    /* the migrations before it stay; the failing one left neither its table nor its version */
    cr_expect(table_exists(r, "users"));
    cr_expect(table_exists(r, "posts"));
    cr_expect(!table_exists(r, "ghosts"));
    cr_expect_str_eq(versions(r), "20240101000000,20240102000000");
    bn_repo_close(r);
}

BOTH(a_failing_rollback_leaves_everything)
{
    bn_repo *r = open_db();
    bn_db_error err = {0};
    cr_assert_eq(bn__migrate_defs(r, DEFS(&m_users, &m_posts_bad_down), &err), 2, "%s", err.message);
    cr_assert_eq(bn__rollback_defs(r, DEFS(&m_users, &m_posts_bad_down), 1, &err), -1);
    cr_expect(strstr(err.message, "migration 20240102000000 create_posts failed to roll back: "), "%s", err.message);
    cr_expect(table_exists(r, "posts"));
    cr_expect_str_eq(versions(r), "20240101000000,20240102000000");
    bn_repo_close(r);
}

BOTH(rollback_checks_everything_before_running)
{
    bn_repo *r = open_db();
    bn_db_error err = {0};
    cr_assert_eq(bn__migrate_defs(r, DEFS(&m_users, &m_posts, &m_no_down), &err), 3, "%s", err.message);
    /* the latest has no down: nothing runs */
    cr_expect_eq(bn__rollback_defs(r, DEFS(&m_users, &m_posts, &m_no_down), 2, &err), -1);
    cr_expect_str_eq(err.message, "cannot roll back migration 20240103000000 add_age: it has no down function");
    /* the program lacks the second latest: nothing runs either */
    cr_expect_eq(bn__rollback_defs(r, DEFS(&m_users, &m_age), 2, &err), -1);
    cr_expect_str_eq(err.message, "cannot roll back migration 20240102000000: this program does not have it");
    cr_expect(column_exists(r, "users", "age"));
    cr_expect_str_eq(versions(r), "20240101000000,20240102000000,20240103000000");
    bn_repo_close(r);
}

BOTH(duplicate_versions_fail_before_anything_runs)
{
    static const bn_migration_def dup = {20240101000000, "also_users", posts_up, posts_down};
    bn_repo *r = open_db();
    bn_db_error err = {0};
    cr_assert_eq(bn__migrate_defs(r, DEFS(&m_posts, &m_users, &dup), &err), -1);
    cr_expect(strstr(err.message, "duplicate migration version 20240101000000: "), "%s", err.message);
    cr_expect(!table_exists(r, "users"));
    cr_expect(!table_exists(r, "posts"));
    cr_expect(!table_exists(r, "schema_migrations"));
    bn_repo_close(r);
}

static void untyped_up(bn_migration *m) { no_type(m); }

BOTH(dsl_misuse_fails_before_sending)
{
    static const bn_migration_def untyped = {20240105000000, "untyped", untyped_up, NULL};
    bn_repo *r = open_db();
    bn_db_error err = {0};
    cr_assert_eq(bn__migrate_defs(r, DEFS(&m_users, &untyped), &err), -1);
    cr_expect_str_eq(err.message, "migration 20240105000000 untyped: column \"x\" has no type");
    cr_expect(!table_exists(r, "t"));
    cr_expect_str_eq(versions(r), "20240101000000");
    bn_repo_close(r);
}

static bn_db_value now_value(void) { return (bn_db_value){.type = BN_TYPE_UTC_DATETIME, .u.t = bn_datetime_now()}; }

BOTH(unique_index_names_the_constraint)
{
    bn_repo *r = open_db();
    bn_db_error err = {0};
    cr_assert_eq(bn__migrate_defs(r, DEFS(&m_users), &err), 1, "%s", err.message);
    const char *sql = "INSERT INTO users (name, email, inserted_at, updated_at) VALUES (?, ?, ?, ?)";
    cr_assert_eq(bn_repo_query(r, &arena, NULL, &err, sql, BN_DB("Ada"), BN_DB("ada@example.com"), now_value(),
                               now_value()),
                 0, "%s", err.message);
    err = (bn_db_error){0};
    cr_assert_eq(bn_repo_query(r, &arena, NULL, &err, sql, BN_DB("Ada 2"), BN_DB("ada@example.com"), now_value(),
                               now_value()),
                 -1);
    cr_expect(err.constraint && strcmp(err.constraint, "users_email_index") == 0, "constraint %s (%s)",
              err.constraint ? err.constraint : "NULL", err.message);
    /* NOT NULL holds too */
    cr_expect_eq(bn_repo_query(r, &arena, NULL, &err, sql, BN_DB_NULL, BN_DB("x@example.com"), now_value(),
                               now_value()),
                 -1);
    bn_repo_close(r);
}

BOTH(foreign_keys_hold_and_cascade)
{
    bn_repo *r = open_db();
    bn_db_error err = {0};
    cr_assert_eq(bn__migrate_defs(r, DEFS(&m_users, &m_posts), &err), 2, "%s", err.message);
    cr_assert_eq(bn_repo_query(r, &arena, NULL, &err,
                               "INSERT INTO users (name, inserted_at, updated_at) VALUES (?, ?, ?)", BN_DB("Ada"),
                               now_value(), now_value()),
                 0, "%s", err.message);
    int64_t id = SCALAR(r, "SELECT id FROM users WHERE name = ?", BN_DB("Ada"));
    cr_assert_eq(bn_repo_query(r, &arena, NULL, &err, "INSERT INTO posts (title, user_id) VALUES (?, ?)",
                               BN_DB("Hello"), BN_DB((long long)id)),
                 0, "%s", err.message);
    cr_expect_eq(bn_repo_query(r, &arena, NULL, &err, "INSERT INTO posts (title, user_id) VALUES (?, ?)",
                               BN_DB("Orphan"), BN_DB((long long)id + 1000)),
                 -1, "a post of no user was inserted");
    cr_assert_eq(bn_repo_query(r, &arena, NULL, &err, "DELETE FROM users WHERE id = ?", BN_DB((long long)id)), 0,
                 "%s", err.message);
    cr_expect_eq(SCALAR(r, "SELECT count(*) FROM posts"), 0, "ON DELETE CASCADE");
    bn_repo_close(r);
}

BOTH(every_type_takes_its_values)
{
    static const bn_migration_def things = {20240106000000, "things", every_type, NULL};
    bn_repo *r = open_db();
    bn_db_error err = {0};
    cr_assert_eq(bn__migrate_defs(r, DEFS(&things), &err), 1, "%s", err.message);
    bn_db_value date = {.type = BN_TYPE_DATE, .u.date = {2024, 1, 31}};
    bn_db_value price = {.type = BN_TYPE_DECIMAL, .u.s = BN_STR("12.50")};
    bn_db_value uid = {.type = BN_TYPE_UUID, .u.s = BN_STR("0b7e7dee-87b6-4b3a-9b2f-3c2bb2b6a7c1")};
    bn_db_value meta = {.type = BN_TYPE_JSON, .u.json = bn_json_parse(&arena, BN_STR("{\"a\": 1}"), NULL)};
    cr_assert(meta.u.json);
    /* bn_db_bool, not BN_DB(true): C's `true` is an int, so BN_DB(true) binds a bigint. */
    int rc = bn_repo_query(r, &arena, NULL, &err,
                           "INSERT INTO things (i, big, f, ok, s, code, body, price, born, at, blob, meta, uid) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           BN_DB(1), BN_DB(5000000000LL), BN_DB(1.5), bn_db_bool(true), BN_DB("s"), BN_DB("code"),
                           BN_DB("body"), price, date, now_value(), bn_db_bytes(BN_STR("\x00\x01\xff")),
                           meta, uid);
    cr_assert_eq(rc, 0, "%s", err.message);
    cr_expect_eq(SCALAR(r, "SELECT big FROM things"), 5000000000LL);
    cr_expect_eq(SCALAR(r, "SELECT count(*) FROM things WHERE ok = ?", bn_db_bool(true)), 1);
    /* the decimal stays exact text */
    bn_db_rows rows;
    cr_assert_eq(bn_repo_query(r, &arena, &rows, &err, "SELECT price FROM things"), 0, "%s", err.message);
    cr_assert_eq(rows.nrows, 1);
    bn_db_value cell = rows.cells[0];
    cr_expect(cell.type != BN_TYPE_FLOAT, "the decimal came back as a double");
    if (cell.type == BN_TYPE_TEXT || cell.type == BN_TYPE_DECIMAL || cell.type == BN_TYPE_STRING)
        cr_expect(bn_str_eq(cell.u.s, BN_STR("12.50")), "%.*s", BN_STR_ARG(cell.u.s));
    bn_repo_close(r);
}

/* ---- registered migrations and the db.* commands ----------------------------------- */

static void widgets_up(bn_migration *m)
{
    bn_create_table(m, "widgets", BN_COLUMNS({.name = "name", .type = BN_TYPE_STRING}), (bn_table_opts){0});
}
static void widgets_down(bn_migration *m) { bn_drop_table(m, "widgets"); }
static void gadgets_up(bn_migration *m)
{
    bn_create_table(m, "gadgets", BN_COLUMNS({.name = "widget_id", .references = "widgets"}), (bn_table_opts){0});
}
static void gadgets_down(bn_migration *m) { bn_drop_table(m, "gadgets"); }

/* Registered in reverse version order on purpose. */
BN_MIGRATION(20200102000000, create_gadgets, gadgets_up, gadgets_down);
BN_MIGRATION(20200101000000, create_widgets, widgets_up, widgets_down);

Test(migrate_registry, lists_what_the_program_registered, .init = setup, .fini = teardown)
{
    size_t n;
    const bn_migration_def *const *defs = bn__migration_registered(&n);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!defs[i])
            continue;
        if (defs[i]->version == 20200101000000 && strcmp(defs[i]->name, "create_widgets") == 0 &&
            defs[i]->up == widgets_up)
            seen |= 1;
        else if (defs[i]->version == 20200102000000 && strcmp(defs[i]->name, "create_gadgets") == 0)
            seen |= 2;
        else
            cr_expect_fail("unexpected migration %lld", (long long)defs[i]->version);
    }
    cr_expect_eq(seen, 3);
}

BOTH(repo_migrate_runs_the_registered_ones)
{
    bn_repo *r = open_db();
    bn_db_error err = {0};
    cr_assert_eq(bn_repo_migrate(r, &err), 2, "%s", err.message);
    cr_expect(table_exists(r, "widgets"));
    cr_expect(table_exists(r, "gadgets"));
    cr_expect_eq(bn_repo_migrate(r, &err), 0);
    cr_expect_str_eq(versions(r), "20200101000000,20200102000000");
    cr_assert_eq(bn_repo_rollback(r, 1, &err), 1, "%s", err.message);
    cr_expect(!table_exists(r, "gadgets"));
    cr_expect(table_exists(r, "widgets"));
    cr_expect_str_eq(versions(r), "20200101000000");
    bn_repo_close(r);
}

static int seeded;
static int seed_widgets(bn_repo *r)
{
    seeded++;
    return bn_repo_query(r, &arena, NULL, NULL, "INSERT INTO widgets (name) VALUES (?)", BN_DB("sprocket"));
}

/* Like command(), with seeds. */
static const char *seed_command(int *status, const char *cmd)
{
    char path[128];
    snprintf(path, sizeof path, "%s/stdout", T.dir);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    close(fd);
    char *argv[] = {"migrate_test", (char *)cmd, NULL};
    *status = bn_data_command(2, argv, seed_widgets);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return bn_arena_strndup(&arena, buf, n);
}

static bool database_exists(void)
{
    if (!T.pg) {
        char path[128];
        snprintf(path, sizeof path, "%s/test.db", T.dir);
        return access(path, F_OK) == 0;
    }
    char admin[1024];
    pg_url_with_db(admin, sizeof admin, T.url, "postgres");
    char *error = NULL;
    bn_repo *r = bn_repo_open(&(bn_repo_config){.url = admin, .pool_size = 1, .quiet = true}, &error);
    cr_assert(r, "%s", error ? error : "?");
    const char *name = strrchr(T.url, '/') + 1;
    char db[128];
    snprintf(db, sizeof db, "%.*s", (int)strcspn(name, "?"), name);
    bool exists = SCALAR(r, "SELECT count(*) FROM pg_database WHERE datname = ?", BN_DB(db)) == 1;
    bn_repo_close(r);
    return exists;
}

#define EXPECT_OUT(out, text) cr_expect(strstr((out), (text)), "expected \"%s\" in:\n%s", (text), (out))

BOTH(data_command_does_each_command)
{
    int st;
    const char *out;
    char shown[1100];
    snprintf(shown, sizeof shown, "%s", T.url); /* the test URLs carry no password */

    out = command(&st, "db.drop", NULL);
    cr_assert_eq(st, 0, "%s", out);
    cr_expect(!database_exists());
    out = command(&st, "db.drop", NULL);
    cr_expect_eq(st, 0);
    EXPECT_OUT(out, "has already been dropped");

    out = command(&st, "db.create", NULL);
    cr_assert_eq(st, 0, "%s", out);
    EXPECT_OUT(out, "has been created");
    cr_expect(database_exists());
    out = command(&st, "db.create", NULL);
    cr_expect_eq(st, 0);
    EXPECT_OUT(out, "has already been created");

    out = command(&st, "db.migrate", NULL);
    cr_assert_eq(st, 0, "%s", out);
    EXPECT_OUT(out, "Migrated 2 migrations");
    out = command(&st, "db.migrate", NULL);
    EXPECT_OUT(out, "Migrations already up");

    out = command(&st, "db.rollback", NULL);
    cr_assert_eq(st, 0, "%s", out);
    EXPECT_OUT(out, "Rolled back 1 migration (");
    out = command(&st, "db.rollback", "5");
    cr_assert_eq(st, 0, "%s", out);
    EXPECT_OUT(out, "Rolled back 1 migration (");
    out = command(&st, "db.rollback", NULL);
    EXPECT_OUT(out, "No migrations to roll back");
    out = command(&st, "db.migrate", NULL);
    cr_assert_eq(st, 0, "%s", out);

    seeded = 0;
    out = command(&st, "db.seed", NULL); /* no seeds given */
    cr_expect_eq(st, 0);
    EXPECT_OUT(out, "No seeds");
    out = seed_command(&st, "db.seed");
    cr_assert_eq(st, 0, "%s", out);
    cr_expect_eq(seeded, 1);
    bn_repo *r = open_db();
    cr_expect_eq(SCALAR(r, "SELECT count(*) FROM widgets"), 1);
    bn_repo_close(r);

    out = seed_command(&st, "db.reset");
    cr_assert_eq(st, 0, "%s", out);
    EXPECT_OUT(out, "has been dropped");
    EXPECT_OUT(out, "has been created");
    EXPECT_OUT(out, "Migrated 2 migrations");
    EXPECT_OUT(out, "Seeded");
    r = open_db();
    cr_expect_eq(SCALAR(r, "SELECT count(*) FROM widgets"), 1, "reset starts from an empty database");
    cr_expect_str_eq(versions(r), "20200101000000,20200102000000");
    bn_repo_close(r);

    out = command(&st, "db.drop", NULL);
    cr_assert_eq(st, 0, "%s", out);
    EXPECT_OUT(out, "has been dropped");
    cr_expect(!database_exists());
    if (!T.pg) {
        char path[128];
        snprintf(path, sizeof path, "%s/test.db-wal", T.dir);
        cr_expect(access(path, F_OK) != 0, "the -wal file is left");
    }
    T.created = false;
}

BOTH(data_command_rejects_what_it_does_not_know)
{
    int st;
    cr_expect_eq(bn_data_command(2, (char *[]){"p", "server", NULL}, NULL), -1);
    cr_expect_eq(bn_data_command(1, (char *[]){"p", NULL}, NULL), -1);
    command(&st, "db.rollback", "zero");
    cr_expect_eq(st, 2);
    command(&st, "db.rollback", "0");
    cr_expect_eq(st, 2);
    command(&st, "db.migrate", "extra");
    cr_expect_eq(st, 2);
}

Test(migrate_command, bad_urls_fail_cleanly, .init = sqlite_setup, .fini = db_teardown)
{
    int st;
    setenv("DATABASE_URL", "mysql://localhost/app", 1);
    command(&st, "db.migrate", NULL);
    cr_expect_eq(st, 1);
    setenv("DATABASE_URL", "postgres://localhost", 1);
    command(&st, "db.create", NULL);
    cr_expect_eq(st, 1);
}

Test(migrate_command, sqlite_url_forms, .init = sqlite_setup, .fini = db_teardown)
{
    int st;
    char url[256], path[128];
    snprintf(path, sizeof path, "%s/u.db", T.dir);
    snprintf(url, sizeof url, "sqlite:file:%s?mode=rwc", path);
    setenv("DATABASE_URL", url, 1);
    command(&st, "db.create", NULL);
    cr_expect_eq(st, 0);
    cr_expect(access(path, F_OK) == 0, "%s was not created", path);
    command(&st, "db.drop", NULL);
    cr_expect_eq(st, 0);
    cr_expect(access(path, F_OK) != 0, "%s was not removed", path);

    snprintf(url, sizeof url, "sqlite://%s", path); /* sqlite:///abs/path */
    setenv("DATABASE_URL", url, 1);
    const char *out = command(&st, "db.migrate", NULL);
    cr_expect_eq(st, 0, "%s", out);
    cr_expect(access(path, F_OK) == 0, "%s was not created", path);

    setenv("DATABASE_URL", "sqlite::memory:", 1);
    out = command(&st, "db.drop", NULL);
    cr_expect_eq(st, 0);
    EXPECT_OUT(out, "already been dropped");
}

Test(migrate_command, passwords_are_not_printed, .init = sqlite_setup, .fini = db_teardown)
{
    /* A server that is not there: the command fails, and nothing it prints shows the password. */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "DATABASE_URL='postgres://ada:s3cret@127.0.0.1:1/app?connect_timeout=2' "
             "%s/bennu db.create %s/migrate_demo 2>&1",
             BENNU_BIN_DIR, BENNU_BIN_DIR);
    int st;
    char *out = bt_run(cmd, &st);
    cr_expect_neq(st, 0, "%s", out);
    cr_expect(!strstr(out, "s3cret"), "%s", out);
    free(out);
}

/* ---- bennu db.* forwarded to a program ------------------------------------------------- */

static char *bennu(const char *args, int *status)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "DATABASE_URL='%s' %s/bennu %s 2>&1", T.url, BENNU_BIN_DIR, args);
    return bt_run(cmd, status);
}

BOTH(bennu_forwards_db_commands)
{
    char args[512];
    int st;
    char *out;
    const char *app = BENNU_BIN_DIR "/migrate_demo";

    snprintf(args, sizeof args, "db.create %s", app);
    out = bennu(args, &st);
    cr_expect_eq(st, 0, "%s", out);
    free(out);

    snprintf(args, sizeof args, "db.migrate %s", app);
    out = bennu(args, &st);
    cr_expect_eq(st, 0, "%s", out);
    EXPECT_OUT(out, "== Migrated 20240101000000 create_authors in ");
    EXPECT_OUT(out, "== Migrated 20240102000000 create_books in ");
    EXPECT_OUT(out, "Migrated 2 migrations");
    free(out);

    snprintf(args, sizeof args, "db.seed %s", app);
    out = bennu(args, &st);
    cr_expect_eq(st, 0, "%s", out);
    free(out);
    bn_repo *r = open_db();
    cr_expect_eq(SCALAR(r, "SELECT count(*) FROM books"), 1);
    bn_repo_close(r);

    snprintf(args, sizeof args, "db.rollback %s 2", app); /* ARGS after APP */
    out = bennu(args, &st);
    cr_expect_eq(st, 0, "%s", out);
    EXPECT_OUT(out, "== Rolled back 20240102000000 create_books in ");
    EXPECT_OUT(out, "Rolled back 2 migrations");
    free(out);
    r = open_db();
    cr_expect(!table_exists(r, "authors"));
    bn_repo_close(r);

    snprintf(args, sizeof args, "db.reset %s", app);
    out = bennu(args, &st);
    cr_expect_eq(st, 0, "%s", out);
    free(out);
    r = open_db();
    cr_expect_eq(SCALAR(r, "SELECT count(*) FROM authors"), 1);
    bn_repo_close(r);

    snprintf(args, sizeof args, "db.frobnicate %s", app);
    out = bennu(args, &st);
    cr_expect_neq(st, 0);
    EXPECT_OUT(out, "unknown command");
    free(out);

    out = bennu("db.migrate /nonexistent/app", &st);
    cr_expect_neq(st, 0);
    EXPECT_OUT(out, "bennu db.migrate: cannot run /nonexistent/app");
    free(out);
}
