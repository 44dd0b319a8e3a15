/*
 * Migrations [Ecto.Migration]: a C DSL that renders the same schema on SQLite
 * and PostgreSQL, the schema_migrations table, and the `db.*` commands of a
 * program [mix ecto.*].
 *
 * Design
 *
 * - A migration is a function (up or down) that calls the DSL on a
 *   bn_migration. The DSL only renders SQL: each call appends one statement
 *   for the repo's dialect (bn_migration_kind). Running a migration collects
 *   its statements first (up(m)), then executes them and the
 *   schema_migrations insert (or delete, for down) inside ONE transaction
 *   (bn_repo_transaction): both SQLite and PostgreSQL have transactional DDL,
 *   so a failing migration leaves nothing behind. A misuse of the DSL (a
 *   column without a type, an unknown ON DELETE action, a NULL name) is
 *   recorded and fails the migration before anything is sent.
 *
 * - Column types:
 *
 *       type          PostgreSQL                 SQLite
 *       ID            bigserial PRIMARY KEY      INTEGER PRIMARY KEY AUTOINCREMENT
 *       INTEGER       integer                    integer
 *       BIGINT        bigint                     bigint
 *       FLOAT         double precision           REAL
 *       BOOLEAN       boolean                    boolean (NUMERIC affinity: values 0/1)
 *       STRING        varchar(size or 255)       TEXT
 *       TEXT          text                       TEXT
 *       DECIMAL       numeric                    TEXT (exact text, never a double)
 *       DATE          date                       TEXT (YYYY-MM-DD)
 *       UTC_DATETIME  timestamp                  TEXT (ISO 8601)
 *       BINARY        bytea                      BLOB
 *       JSON          jsonb                      TEXT
 *       UUID          uuid                       TEXT
 *
 *   UTC_DATETIME is `timestamp` (without time zone, microsecond precision),
 *   not Ecto's timestamp(0): bn_datetime carries microseconds. A column with
 *   `references` and no type is a bigint (the type of an id). After the type
 *   come NOT NULL, DEFAULT <default_sql> (pasted as written: it is code, like
 *   the migration) and REFERENCES "table"("id") [ON DELETE <action>], the
 *   action being one of CASCADE, SET NULL, SET DEFAULT, RESTRICT, NO ACTION.
 *   PostgreSQL names such a foreign key "<table>_<column>_fkey", the name
 *   bn_foreign_key_constraint expects; SQLite enforces foreign keys only with
 *   PRAGMA foreign_keys=ON, which its adapter sets.
 *
 * - bn_create_table adds an "id" ID column first unless opts.no_id or one of
 *   the columns already has type ID; opts.timestamps appends inserted_at and
 *   updated_at, UTC_DATETIME NOT NULL. Identifiers are always quoted
 *   (bn__sql_ident): a name with quotes in it is a name, never SQL.
 *   bn_add_column / bn_remove_column are ALTER TABLE … ADD COLUMN / DROP
 *   COLUMN (SQLite 3.35+). Indexes are named "<table>_<col>[_<col>…]_index"
 *   (CREATE [UNIQUE] INDEX), the name a unique violation reports and
 *   bn_unique_constraint expects. bn_execute takes one statement of raw SQL.
 *
 * - schema_migrations(version bigint PRIMARY KEY, inserted_at timestamp) is
 *   created if missing (looked up first: PostgreSQL answers CREATE TABLE IF
 *   NOT EXISTS on an existing table with a NOTICE). bn_repo_migrate runs the
 *   registered migrations that are not in it, in version order;
 *   bn_repo_rollback runs the `down` of the latest `steps` applied ones,
 *   latest first. Every check that can fail without the database (duplicate
 *   versions, a migration without up, a rollback to a migration the program
 *   does not have or that has no down) fails before anything runs. Inside its
 *   transaction a migration checks its version again (on PostgreSQL after
 *   locking schema_migrations; SQLite's transactions take the write lock at
 *   BEGIN), so two processes migrating at once apply each migration once. A
 *   log line per migration: "== Migrated 20240131120000 create_users in 3.1ms".
 *
 * - Registration: BN_MIGRATION puts a pointer to its bn_migration_def into
 *   the ELF section "bn_migrations" (pointers only: a sanitizer may pad what
 *   a section holds; NULLs are skipped), read back through the linker's weak
 *   __start_/__stop_ symbols, as verified paths are (src/web/view.c). No
 *   function is named like the section.
 *
 * - Errors: bn_repo_migrate and bn_repo_rollback take no arena, so the
 *   strings of their bn_db_error live in a per-thread arena, valid until the
 *   thread's next call of either.
 *
 * - bn_data_command: db.create (SQLite: the file; PostgreSQL: CREATE DATABASE
 *   through the server's "postgres" maintenance database, "already exists"
 *   is fine), db.drop (SQLite: the file and its -wal/-shm/-journal;
 *   PostgreSQL: DROP DATABASE IF EXISTS … WITH (FORCE)), db.migrate,
 *   db.rollback [N] (default 1), db.seed, db.reset (drop, create, migrate,
 *   seed), on DATABASE_URL or bn_repo_open's default ("sqlite:app.db").
 *   PostgreSQL's pg_database is looked up before CREATE/DROP, so an existing
 *   database is reported, not logged as a failed query. SQLite URLs:
 *   sqlite:path, sqlite://path, sqlite:file:path?query, sqlite::memory:
 *   (nothing to create or drop). It prints what it did on stdout (URLs
 *   without their password), errors on stderr, and returns the exit status
 *   (2 for a bad argument).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "data/data_internal.h"

/* ---- the DSL ------------------------------------------------------------------ */

struct bn_migration {
    bn_db_kind kind;
    bn_arena *a;
    const char **stmts;
    size_t n, cap;
    const char *error; /* the first misuse of the DSL, or NULL */
};

static void push(bn_migration *m, bn_buf *sql)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        const char **s = bn_arena_alloc(m->a, cap * sizeof *s);
        if (m->n)
            memcpy(s, m->stmts, m->n * sizeof *s);
        m->stmts = s;
        m->cap = cap;
    }
    m->stmts[m->n++] = bn_arena_strndup(m->a, sql->len ? sql->data : "", sql->len);
    bn_buf_free(sql);
}

static void misuse(bn_migration *m, const char *fmt, ...) BN_PRINTF(2, 3);
static void misuse(bn_migration *m, const char *fmt, ...)
{
    if (m->error)
        return; /* the first one is the one to fix */
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    m->error = bn_arena_strndup(m->a, msg, strlen(msg));
}

static bool named(bn_migration *m, const char *what, const char *name)
{
    if (name && *name)
        return true;
    misuse(m, "%s without a name", what);
    return false;
}

/* The type of a column, without the primary key clause (ID is handled by the caller). */
static bool append_type(bn_migration *m, bn_buf *sql, const bn_column *c)
{
    bool pg = m->kind == BN_DB_POSTGRES;
    bn_type t = c->type;
    if (t == BN_TYPE_NULL && c->references)
        t = BN_TYPE_BIGINT;
    switch (t) {
    case BN_TYPE_ID:
        bn_buf_printf(sql, "%s", pg ? "bigserial PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT");
        return true;
    case BN_TYPE_INTEGER: bn_buf_printf(sql, "integer"); return true;
    case BN_TYPE_BIGINT: bn_buf_printf(sql, "bigint"); return true;
    case BN_TYPE_FLOAT: bn_buf_printf(sql, "%s", pg ? "double precision" : "REAL"); return true;
    case BN_TYPE_BOOLEAN: bn_buf_printf(sql, "boolean"); return true;
    case BN_TYPE_STRING:
        if (pg)
            bn_buf_printf(sql, "varchar(%zu)", c->size ? c->size : 255);
        else
            bn_buf_printf(sql, "TEXT");
        return true;
    case BN_TYPE_TEXT: bn_buf_printf(sql, "%s", pg ? "text" : "TEXT"); return true;
    case BN_TYPE_DECIMAL: bn_buf_printf(sql, "%s", pg ? "numeric" : "TEXT"); return true;
    case BN_TYPE_DATE: bn_buf_printf(sql, "%s", pg ? "date" : "TEXT"); return true;
    case BN_TYPE_UTC_DATETIME: bn_buf_printf(sql, "%s", pg ? "timestamp" : "TEXT"); return true;
    case BN_TYPE_BINARY: bn_buf_printf(sql, "%s", pg ? "bytea" : "BLOB"); return true;
    case BN_TYPE_JSON: bn_buf_printf(sql, "%s", pg ? "jsonb" : "TEXT"); return true;
    case BN_TYPE_UUID: bn_buf_printf(sql, "%s", pg ? "uuid" : "TEXT"); return true;
    case BN_TYPE_NULL: misuse(m, "column \"%s\" has no type", c->name); return false;
    }
    misuse(m, "column \"%s\" has an unknown type %d", c->name, (int)c->type);
    return false;
}

static const char *const on_delete_actions[] = {"CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION"};

/* "name" type [NOT NULL] [DEFAULT …] [REFERENCES "t"("id") [ON DELETE …]] */
static bool append_column(bn_migration *m, bn_buf *sql, const bn_column *c)
{
    if (!named(m, "a column", c->name))
        return false;
    bn__sql_ident(sql, c->name);
    bn_buf_append(sql, " ", 1);
    if (!append_type(m, sql, c))
        return false;
    if (c->not_null)
        bn_buf_printf(sql, " NOT NULL");
    if (c->default_sql)
        bn_buf_printf(sql, " DEFAULT %s", c->default_sql);
    if (c->references) {
        if (!*c->references) {
            misuse(m, "column \"%s\" references a table without a name", c->name);
            return false;
        }
        bn_buf_printf(sql, " REFERENCES ");
        bn__sql_ident(sql, c->references);
        bn_buf_printf(sql, "(\"id\")");
    }
    if (c->on_delete) {
        const char *action = NULL;
        for (size_t i = 0; i < BN_ARRAY_LEN(on_delete_actions); i++)
            if (strcasecmp(c->on_delete, on_delete_actions[i]) == 0)
                action = on_delete_actions[i];
        if (!action || !c->references) {
            if (!action)
                misuse(m, "column \"%s\": unknown ON DELETE action \"%s\"", c->name, c->on_delete);
            else
                misuse(m, "column \"%s\": ON DELETE %s without references", c->name, c->on_delete);
            return false;
        }
        bn_buf_printf(sql, " ON DELETE %s", action);
    }
    return true;
}

void bn_create_table(bn_migration *m, const char *table, const bn_column *columns, bn_table_opts opts)
{
    if (!named(m, "bn_create_table", table))
        return;
    bn_buf sql = BN_BUF_INIT;
    bn_buf_printf(&sql, "CREATE TABLE ");
    bn__sql_ident(&sql, table);
    bn_buf_printf(&sql, " (");
    bool has_id = false;
    size_t ncols = 0;
    for (const bn_column *c = columns; c && (c->name || c->type); c++)
        has_id |= c->type == BN_TYPE_ID;
    if (!opts.no_id && !has_id) {
        append_column(m, &sql, &(bn_column){.name = "id", .type = BN_TYPE_ID});
        ncols++;
    }
    for (const bn_column *c = columns; c && (c->name || c->type); c++) {
        if (ncols++)
            bn_buf_printf(&sql, ", ");
        if (!append_column(m, &sql, c))
            goto out;
    }
    if (opts.timestamps) {
        static const char *const names[] = {"inserted_at", "updated_at"};
        for (int i = 0; i < 2; i++) {
            if (ncols++)
                bn_buf_printf(&sql, ", ");
            append_column(m, &sql, &(bn_column){.name = names[i], .type = BN_TYPE_UTC_DATETIME, .not_null = true});
        }
    }
    if (ncols == 0) {
        misuse(m, "bn_create_table \"%s\" without columns", table);
        goto out;
    }
    bn_buf_printf(&sql, ")");
    push(m, &sql);
    return;
out:
    bn_buf_free(&sql);
}

void bn_drop_table(bn_migration *m, const char *table)
{
    if (!named(m, "bn_drop_table", table))
        return;
    bn_buf sql = BN_BUF_INIT;
    bn_buf_printf(&sql, "DROP TABLE ");
    bn__sql_ident(&sql, table);
    push(m, &sql);
}

void bn_add_column(bn_migration *m, const char *table, bn_column column)
{
    if (!named(m, "bn_add_column", table))
        return;
    bn_buf sql = BN_BUF_INIT;
    bn_buf_printf(&sql, "ALTER TABLE ");
    bn__sql_ident(&sql, table);
    bn_buf_printf(&sql, " ADD COLUMN ");
    if (append_column(m, &sql, &column))
        push(m, &sql);
    else
        bn_buf_free(&sql);
}

void bn_remove_column(bn_migration *m, const char *table, const char *column)
{
    if (!named(m, "bn_remove_column", table) || !named(m, "bn_remove_column's column", column))
        return;
    bn_buf sql = BN_BUF_INIT;
    bn_buf_printf(&sql, "ALTER TABLE ");
    bn__sql_ident(&sql, table);
    bn_buf_printf(&sql, " DROP COLUMN ");
    bn__sql_ident(&sql, column);
    push(m, &sql);
}

/* "<table>_<col>[_<col>…]_index" into `name`; false (a misuse) without columns. */
static bool index_name(bn_migration *m, const char *what, const char *table, const char *const *columns,
                       bn_buf *name)
{
    if (!named(m, what, table))
        return false;
    if (!columns || !columns[0]) {
        misuse(m, "%s on \"%s\" without columns", what, table);
        return false;
    }
    bn_buf_printf(name, "%s", table);
    for (const char *const *c = columns; *c; c++) {
        if (!**c) {
            misuse(m, "%s on \"%s\": a column without a name", what, table);
            bn_buf_free(name);
            return false;
        }
        bn_buf_printf(name, "_%s", *c);
    }
    bn_buf_printf(name, "_index");
    bn_buf_append(name, "", 1); /* NUL-terminated for bn__sql_ident */
    return true;
}

void bn_create_index(bn_migration *m, const char *table, const char *const *columns, bool unique)
{
    bn_buf name = BN_BUF_INIT;
    if (!index_name(m, "bn_create_index", table, columns, &name))
        return;
    bn_buf sql = BN_BUF_INIT;
    bn_buf_printf(&sql, unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ");
    bn__sql_ident(&sql, name.data);
    bn_buf_printf(&sql, " ON ");
    bn__sql_ident(&sql, table);
    bn_buf_printf(&sql, " (");
    for (const char *const *c = columns; *c; c++) {
        if (c != columns)
            bn_buf_printf(&sql, ", ");
        bn__sql_ident(&sql, *c);
    }
    bn_buf_printf(&sql, ")");
    bn_buf_free(&name);
    push(m, &sql);
}

void bn_drop_index(bn_migration *m, const char *table, const char *const *columns)
{
    bn_buf name = BN_BUF_INIT;
    if (!index_name(m, "bn_drop_index", table, columns, &name))
        return;
    bn_buf sql = BN_BUF_INIT;
    bn_buf_printf(&sql, "DROP INDEX ");
    bn__sql_ident(&sql, name.data);
    bn_buf_free(&name);
    push(m, &sql);
}

void bn_execute(bn_migration *m, const char *sql)
{
    if (!sql || !*sql) {
        misuse(m, "bn_execute without SQL");
        return;
    }
    bn_buf b = BN_BUF_INIT;
    bn_buf_append(&b, sql, strlen(sql));
    push(m, &b);
}

bn_db_kind bn_migration_kind(const bn_migration *m) { return m->kind; }

int bn__migration_sql(bn_migration_fn *fn, bn_db_kind kind, bn_arena *a, const char *const **stmts,
                      const char **error)
{
    bn_migration m = {.kind = kind, .a = a};
    fn(&m);
    if (m.error) {
        if (error)
            *error = m.error;
        return -1;
    }
    *stmts = m.stmts;
    return (int)m.n;
}

/* ---- the registered migrations ------------------------------------------------ */

/* Defined by the linker when some object has the section; weak so that a
 * program without migrations links (both are then NULL). */
extern const bn_migration_def *const __start_bn_migrations[] __attribute__((weak));
extern const bn_migration_def *const __stop_bn_migrations[] __attribute__((weak));

const bn_migration_def *const *bn__migration_registered(size_t *n)
{
    const bn_migration_def *const *start = __start_bn_migrations, *const *stop = __stop_bn_migrations;
    *n = start && stop > start ? (size_t)(stop - start) : 0;
    return *n ? start : NULL;
}

/* ---- running them ------------------------------------------------------------- */

/* The strings of the errors migrate and rollback return (see the top). */
static _Thread_local bn_arena error_arena;

/* Copies *src into *dst (when not NULL) with the strings in error_arena, the message prefixed. */
static int fail_with(bn_db_error *dst, const bn_db_error *src, const char *fmt, ...) BN_PRINTF(3, 4);
static int fail_with(bn_db_error *dst, const bn_db_error *src, const char *fmt, ...)
{
    char prefix[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
    }
    const char *why = src && src->message ? src->message : "";
    const char *msg = bn_arena_printf(&error_arena, "%s%s%s", prefix, *prefix && *why ? ": " : "", why);
    if (!dst) {
        bn_error("%s", msg);
        return -1;
    }
    *dst = src ? *src : (bn_db_error){0};
    dst->message = msg;
    if (src && src->constraint)
        dst->constraint = bn_arena_strndup(&error_arena, src->constraint, strlen(src->constraint));
    return -1;
}

static int by_version(const void *x, const void *y)
{
    const bn_migration_def *a = *(const bn_migration_def *const *)x, *b = *(const bn_migration_def *const *)y;
    return a->version < b->version ? -1 : a->version > b->version;
}

/* The non-NULL defs sorted by version (heap array), or -1 with *err for a set that cannot run. */
static int sorted_defs(const bn_migration_def *const *defs, size_t n, const bn_migration_def ***out,
                       size_t *count, bn_db_error *err)
{
    const bn_migration_def **v = bn_xmalloc((n ? n : 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (defs[i])
            v[k++] = defs[i];
    qsort(v, k, sizeof *v, by_version);
    for (size_t i = 0; i < k; i++) {
        const char *name = v[i]->name ? v[i]->name : "(unnamed)";
        int rc = 0;
        if (v[i]->version <= 0)
            rc = fail_with(err, NULL, "migration %s has version %lld (versions are positive, 20240131120000)",
                           name, (long long)v[i]->version);
        else if (!v[i]->up)
            rc = fail_with(err, NULL, "migration %lld %s has no up function", (long long)v[i]->version, name);
        else if (i > 0 && v[i]->version == v[i - 1]->version)
            rc = fail_with(err, NULL, "duplicate migration version %lld: %s and %s", (long long)v[i]->version,
                           v[i - 1]->name ? v[i - 1]->name : "(unnamed)", name);
        if (rc < 0) {
            free(v);
            return -1;
        }
    }
    *out = v;
    *count = k;
    return 0;
}

static int ensure_table(bn_repo *r, bn_arena *a, bn_db_error *err)
{
    const char *sql = bn_repo_kind(r) == BN_DB_POSTGRES
                          ? "CREATE TABLE IF NOT EXISTS \"schema_migrations\" "
                            "(\"version\" bigint PRIMARY KEY, \"inserted_at\" timestamp)"
                          : "CREATE TABLE IF NOT EXISTS \"schema_migrations\" "
                            "(\"version\" bigint PRIMARY KEY, \"inserted_at\" TEXT)";
    /* Looked up first: PostgreSQL answers IF NOT EXISTS on an existing table with a NOTICE. */
    const char *exists = bn_repo_kind(r) == BN_DB_POSTGRES
                             ? "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                               "AND table_name = 'schema_migrations'"
                             : "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'";
    bn_db_error e = {0};
    bn_db_rows rows = {0};
    if (bn__repo_exec(r, exists, NULL, 0, a, &rows, NULL, &e) < 0)
        return fail_with(err, &e, "looking for schema_migrations");
    if (rows.nrows > 0 || bn__repo_exec(r, sql, NULL, 0, a, NULL, NULL, &e) == 0)
        return 0;
    /* Another process migrating at the same time may have created it meanwhile
     * (PostgreSQL then fails on its catalog's unique index): look again. */
    bn_db_error e2 = {0};
    if (bn__repo_exec(r, exists, NULL, 0, a, &rows, NULL, &e2) == 0 && rows.nrows > 0)
        return 0;
    return fail_with(err, &e, "creating schema_migrations");
}

static bool cell_int(bn_db_value v, int64_t *out)
{
    switch (v.type) {
    case BN_TYPE_ID:
    case BN_TYPE_INTEGER:
    case BN_TYPE_BIGINT: *out = v.u.i; return true;
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
    case BN_TYPE_DECIMAL: {
        char buf[32];
        if (v.u.s.len == 0 || v.u.s.len >= sizeof buf)
            return false;
        memcpy(buf, v.u.s.ptr, v.u.s.len);
        buf[v.u.s.len] = '\0';
        char *end;
        errno = 0;
        long long x = strtoll(buf, &end, 10);
        if (errno || *end)
            return false;
        *out = x;
        return true;
    }
    default: return false;
    }
}

/* The applied versions, ascending, in `a`. */
static int applied_versions(bn_repo *r, bn_arena *a, int64_t **out, size_t *n, bn_db_error *err)
{
    bn_db_rows rows = {0};
    bn_db_error e = {0};
    if (bn__repo_exec(r, "SELECT \"version\" FROM \"schema_migrations\" ORDER BY \"version\"", NULL, 0, a, &rows,
                      NULL, &e) < 0)
        return fail_with(err, &e, "reading schema_migrations");
    int64_t *v = bn_arena_alloc(a, (rows.nrows ? rows.nrows : 1) * sizeof *v);
    for (size_t i = 0; i < rows.nrows; i++)
        if (rows.ncols < 1 || !cell_int(rows.cells[i * rows.ncols], &v[i]))
            return fail_with(err, NULL, "schema_migrations holds a version that is not an integer");
    *out = v;
    *n = rows.nrows;
    return 0;
}

static bool contains(const int64_t *v, size_t n, int64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] == x)
            return true;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* One migration, one direction, inside a transaction. */
typedef struct step {
    const bn_migration_def *def;
    bool up;
    const char *const *stmts;
    int nstmts;
    bn_arena *a;
    bn_db_error err; /* of the statement that failed */
    bool failed, skipped;
} step;

static int step_in_tx(bn_repo *tx, void *arg)
{
    step *s = arg;
    bn_db_value version = bn_db_int(s->def->version);
    if (bn_repo_kind(tx) == BN_DB_POSTGRES) {
        /* Another process migrating at the same time waits here, then sees our row. */
        if (bn__repo_exec(tx, "LOCK TABLE \"schema_migrations\" IN SHARE UPDATE EXCLUSIVE MODE", NULL, 0, s->a, NULL,
                          NULL, &s->err) < 0)
            goto failed;
    }
    bn_db_rows rows = {0};
    if (bn__repo_exec(tx, "SELECT 1 FROM \"schema_migrations\" WHERE \"version\" = ?", &version, 1, s->a, &rows, NULL,
                      &s->err) < 0)
        goto failed;
    if ((rows.nrows > 0) == s->up) { /* done meanwhile by someone else */
        s->skipped = true;
        return 0;
    }
    for (int i = 0; i < s->nstmts; i++)
        if (bn__repo_exec(tx, s->stmts[i], NULL, 0, s->a, NULL, NULL, &s->err) < 0)
            goto failed;
    if (s->up) {
        bn_db_value vals[2] = {version, {.type = BN_TYPE_UTC_DATETIME, .u.t = bn_datetime_now()}};
        if (bn__repo_exec(tx, "INSERT INTO \"schema_migrations\" (\"version\", \"inserted_at\") VALUES (?, ?)", vals, 2,
                          s->a, NULL, NULL, &s->err) < 0)
            goto failed;
    } else if (bn__repo_exec(tx, "DELETE FROM \"schema_migrations\" WHERE \"version\" = ?", &version, 1, s->a, NULL,
                             NULL, &s->err) < 0) {
        goto failed;
    }
    return 0;
failed:
    s->failed = true;
    return -1;
}

/* Renders and runs one migration; 1 if it ran, 0 if someone else did it meanwhile, -1. */
static int run_step(bn_repo *r, const bn_migration_def *def, bool up, bn_arena *a, bn_db_error *err)
{
    const char *name = def->name ? def->name : "(unnamed)";
    const char *misuse_msg = NULL;
    step s = {.def = def, .up = up, .a = a};
    uint64_t t0 = bn_clock_ns();
    s.nstmts = bn__migration_sql(up ? def->up : def->down, bn_repo_kind(r), a, &s.stmts, &misuse_msg);
    if (s.nstmts < 0)
        return fail_with(err, &(bn_db_error){.message = misuse_msg}, "migration %lld %s",
                         (long long)def->version, name);
    bn_db_error txerr = {0};
    int rc = bn_repo_transaction(r, step_in_tx, &s, &txerr);
    if (rc != 0)
        return fail_with(err, s.failed ? &s.err : &txerr, "migration %lld %s failed%s", (long long)def->version, name,
                         up ? "" : " to roll back");
    if (s.skipped)
        return 0;
    double ms = (double)(bn_clock_ns() - t0) / 1e6;
    bn_info("== %s %lld %s in %.1fms", up ? "Migrated" : "Rolled back", (long long)def->version, name, ms);
    return 1;
}

int bn__migrate_defs(bn_repo *r, const bn_migration_def *const *defs, size_t n, bn_db_error *err)
{
    bn_arena_reset(&error_arena);
    const bn_migration_def **v;
    size_t k;
    if (sorted_defs(defs, n, &v, &k, err) < 0)
        return -1;
    bn_arena a = BN_ARENA_INIT;
    int64_t *applied;
    size_t napplied;
    int count = 0;
    if (ensure_table(r, &a, err) < 0 || applied_versions(r, &a, &applied, &napplied, err) < 0) {
        count = -1;
        goto out;
    }
    for (size_t i = 0; i < k; i++) {
        if (contains(applied, napplied, v[i]->version))
            continue;
        int rc = run_step(r, v[i], true, &a, err);
        if (rc < 0) {
            count = -1;
            goto out;
        }
        count += rc;
    }
out:
    bn_arena_destroy(&a);
    free(v);
    return count;
}

int bn__rollback_defs(bn_repo *r, const bn_migration_def *const *defs, size_t n, int steps, bn_db_error *err)
{
    bn_arena_reset(&error_arena);
    const bn_migration_def **v;
    size_t k;
    if (sorted_defs(defs, n, &v, &k, err) < 0)
        return -1;
    bn_arena a = BN_ARENA_INIT;
    int64_t *applied;
    size_t napplied;
    int count = 0;
    const bn_migration_def **todo = NULL;
    if (ensure_table(r, &a, err) < 0 || applied_versions(r, &a, &applied, &napplied, err) < 0) {
        count = -1;
        goto out;
    }
    size_t ntodo = steps > 0 ? BN_MIN((size_t)steps, napplied) : 0;
    todo = bn_xmalloc((ntodo ? ntodo : 1) * sizeof *todo);
    for (size_t i = 0; i < ntodo; i++) { /* every check before the first down runs */
        int64_t version = applied[napplied - 1 - i];
        todo[i] = NULL;
        for (size_t j = 0; j < k; j++)
            if (v[j]->version == version)
                todo[i] = v[j];
        if (!todo[i]) {
            count = fail_with(err, NULL, "cannot roll back migration %lld: this program does not have it",
                              (long long)version);
            goto out;
        }
        if (!todo[i]->down) {
            count = fail_with(err, NULL, "cannot roll back migration %lld %s: it has no down function",
                              (long long)version, todo[i]->name ? todo[i]->name : "(unnamed)");
            goto out;
        }
    }
    for (size_t i = 0; i < ntodo; i++) {
        int rc = run_step(r, todo[i], false, &a, err);
        if (rc < 0) {
            count = -1;
            goto out;
        }
        count += rc;
    }
out:
    free(todo);
    bn_arena_destroy(&a);
    free(v);
    return count;
}

int bn_repo_migrate(bn_repo *r, bn_db_error *err)
{
    size_t n;
    const bn_migration_def *const *defs = bn__migration_registered(&n);
    return bn__migrate_defs(r, defs, n, err);
}

int bn_repo_rollback(bn_repo *r, int steps, bn_db_error *err)
{
    size_t n;
    const bn_migration_def *const *defs = bn__migration_registered(&n);
    return bn__rollback_defs(r, defs, n, steps, err);
}

/* ---- db.* commands ------------------------------------------------------------- */

typedef struct dburl {
    const char *url;     /* as given */
    const char *shown;   /* without the password, for messages */
    bn_db_kind kind;
    const char *path;    /* SQLite: the file, NULL for :memory: */
    const char *dbname;  /* PostgreSQL: the database (decoded) */
    const char *admin;   /* PostgreSQL: the same server's "postgres" database */
} dburl;

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* lower case */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Splits DATABASE_URL; false with a message on stderr if it is not one Bennu knows. */
static bool parse_url(const char *url, bn_arena *a, dburl *u, const char *cmd)
{
    *u = (dburl){.url = url, .shown = url};
    if (strncmp(url, "sqlite:", 7) == 0) {
        u->kind = BN_DB_SQLITE;
        const char *p = url + 7;
        if (strncmp(p, "//", 2) == 0) /* sqlite:///abs/path, sqlite://rel/path */
            p += 2;
        if (!*p) {
            fprintf(stderr, "bennu %s: DATABASE_URL %s names no file\n", cmd, url);
            return false;
        }
        if (strncmp(p, "file:", 5) == 0) { /* a URI: file:path?mode=...; the file is the path */
            const char *q = strchr(p, '?');
            bool memory = q && strstr(q, "mode=memory");
            p += 5;
            if (strncmp(p, "//", 2) == 0)
                p += 2;
            p = memory ? ":memory:" : bn_arena_strndup(a, p, q ? (size_t)(q - p) : strlen(p));
        }
        u->path = strcmp(p, ":memory:") == 0 ? NULL : p;
        return true;
    }
    size_t scheme = strncmp(url, "postgres://", 11) == 0 ? 11 : strncmp(url, "postgresql://", 13) == 0 ? 13 : 0;
    if (!scheme) {
        fprintf(stderr, "bennu %s: DATABASE_URL must be sqlite:PATH or postgres://…, not %s\n", cmd, url);
        return false;
    }
    u->kind = BN_DB_POSTGRES;
    const char *auth = url + scheme;
    size_t auth_len = strcspn(auth, "/?#");
    const char *path = auth + auth_len;
    const char *query = path + strcspn(path, "?#");
    /* user:password@ -> user:***@ */
    const char *at = memrchr(auth, '@', auth_len);
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon)
        u->shown = bn_arena_printf(a, "%.*s:***%s", (int)(colon - url), url, at);
    /* the database name, percent-decoded */
    const char *name = *path == '/' ? path + 1 : path;
    size_t name_len = (size_t)(query - name);
    char *dec = bn_arena_alloc(a, name_len + 1);
    size_t k = 0;
    for (size_t i = 0; i < name_len; i++) {
        int hi, lo;
        if (name[i] == '%' && i + 2 < name_len && (hi = hexval(name[i + 1])) >= 0 && (lo = hexval(name[i + 2])) >= 0) {
            dec[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dec[k++] = name[i];
        }
    }
    dec[k] = '\0';
    if (k == 0 || strlen(dec) != k) {
        fprintf(stderr, "bennu %s: DATABASE_URL %s names no database\n", cmd, u->shown);
        return false;
    }
    u->dbname = dec;
    u->admin = bn_arena_printf(a, "%.*s/postgres%s", (int)(path - url), url, query);
    return true;
}

static bn_repo *open_repo(const char *url, const char *cmd)
{
    char *error = NULL;
    bn_repo *r = bn_repo_open(&(bn_repo_config){.url = url, .pool_size = 2}, &error);
    if (!r) {
        fprintf(stderr, "bennu %s: %s\n", cmd, error ? error : "cannot open the database");
        free(error);
    }
    return r;
}

static void print_error(const char *cmd, const bn_db_error *e)
{
    fprintf(stderr, "bennu %s: %s\n", cmd, e->message && *e->message ? e->message : "database error");
}

/* 1 if the server has database `name`, 0 if not, -1 with *e. */
static int pg_database_exists(bn_repo *r, const char *name, bn_arena *a, bn_db_error *e)
{
    bn_db_rows rows = {0};
    bn_db_value v = bn_db_text(name);
    if (bn__repo_exec(r, "SELECT 1 FROM pg_database WHERE datname = ?", &v, 1, a, &rows, NULL, e) < 0)
        return -1;
    return rows.nrows > 0;
}

static int db_create(const dburl *u, const char *cmd)
{
    if (u->kind == BN_DB_SQLITE) {
        if (!u->path || access(u->path, F_OK) == 0) {
            printf("The database for %s has already been created\n", u->shown);
            return 0;
        }
        bn_repo *r = open_repo(u->url, cmd); /* creates the file */
        if (!r)
            return 1;
        bn_repo_close(r);
        printf("The database for %s has been created\n", u->shown);
        return 0;
    }
    bn_repo *r = open_repo(u->admin, cmd);
    if (!r)
        return 1;
    bn_arena a = BN_ARENA_INIT;
    bn_db_error e = {0};
    int status = 1;
    int exists = pg_database_exists(r, u->dbname, &a, &e);
    if (exists < 0) {
        print_error(cmd, &e);
        goto out;
    }
    status = 0;
    if (exists) {
        printf("The database for %s has already been created\n", u->shown);
        goto out;
    }
    bn_buf sql = BN_BUF_INIT;
    bn_buf_printf(&sql, "CREATE DATABASE ");
    bn__sql_ident(&sql, u->dbname);
    bn_buf_append(&sql, "", 1);
    if (bn__repo_exec(r, sql.data, NULL, 0, &a, NULL, NULL, &e) == 0)
        printf("The database for %s has been created\n", u->shown);
    else if (strcmp(e.sqlstate, "42P04") == 0) /* duplicate_database: created meanwhile */
        printf("The database for %s has already been created\n", u->shown);
    else {
        print_error(cmd, &e);
        status = 1;
    }
    bn_buf_free(&sql);
out:
    bn_arena_destroy(&a);
    bn_repo_close(r);
    return status;
}

static int db_drop(const dburl *u, const char *cmd)
{
    if (u->kind == BN_DB_SQLITE) {
        if (!u->path) {
            printf("The database for %s has already been dropped\n", u->shown);
            return 0;
        }
        static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
        bool existed = false;
        for (size_t i = 0; i < BN_ARRAY_LEN(suffixes); i++) {
            char path[4096];
            if ((size_t)snprintf(path, sizeof path, "%s%s", u->path, suffixes[i]) >= sizeof path) {
                fprintf(stderr, "bennu %s: path too long: %s\n", cmd, u->path);
                return 1;
            }
            if (unlink(path) == 0) {
                existed |= i == 0;
            } else if (errno != ENOENT) {
                fprintf(stderr, "bennu %s: cannot remove %s: %s\n", cmd, path, strerror(errno));
                return 1;
            }
        }
        printf("The database for %s has %sbeen dropped\n", u->shown, existed ? "" : "already ");
        return 0;
    }
    bn_repo *r = open_repo(u->admin, cmd);
    if (!r)
        return 1;
    bn_arena a = BN_ARENA_INIT;
    bn_db_error e = {0};
    int status = 1;
    int exists = pg_database_exists(r, u->dbname, &a, &e);
    if (exists < 0) {
        print_error(cmd, &e);
        goto out;
    }
    if (!exists) {
        printf("The database for %s has already been dropped\n", u->shown);
        status = 0;
        goto out;
    }
    bn_buf sql = BN_BUF_INIT;
    bn_buf_printf(&sql, "DROP DATABASE IF EXISTS ");
    bn__sql_ident(&sql, u->dbname);
    bn_buf_printf(&sql, " WITH (FORCE)");
    bn_buf_append(&sql, "", 1);
    int rc = bn__repo_exec(r, sql.data, NULL, 0, &a, NULL, NULL, &e);
    bn_buf_free(&sql);
    if (rc < 0) {
        print_error(cmd, &e);
        goto out;
    }
    printf("The database for %s has been dropped\n", u->shown);
    status = 0;
out:
    bn_arena_destroy(&a);
    bn_repo_close(r);
    return status;
}

static int db_migrate(const dburl *u, const char *cmd)
{
    bn_repo *r = open_repo(u->url, cmd);
    if (!r)
        return 1;
    bn_db_error e = {0};
    int n = bn_repo_migrate(r, &e);
    bn_repo_close(r);
    if (n < 0) {
        print_error(cmd, &e);
        return 1;
    }
    if (n == 0)
        printf("Migrations already up (%s)\n", u->shown);
    else
        printf("Migrated %d migration%s (%s)\n", n, n == 1 ? "" : "s", u->shown);
    return 0;
}

static int db_rollback(const dburl *u, const char *cmd, int steps)
{
    bn_repo *r = open_repo(u->url, cmd);
    if (!r)
        return 1;
    bn_db_error e = {0};
    int n = bn_repo_rollback(r, steps, &e);
    bn_repo_close(r);
    if (n < 0) {
        print_error(cmd, &e);
        return 1;
    }
    if (n == 0)
        printf("No migrations to roll back (%s)\n", u->shown);
    else
        printf("Rolled back %d migration%s (%s)\n", n, n == 1 ? "" : "s", u->shown);
    return 0;
}

static int db_seed(const dburl *u, const char *cmd, bn_seed_fn *seeds)
{
    if (!seeds) {
        printf("No seeds in this program\n");
        return 0;
    }
    bn_repo *r = open_repo(u->url, cmd);
    if (!r)
        return 1;
    int rc = seeds(r);
    bn_repo_close(r);
    if (rc != 0) {
        fprintf(stderr, "bennu %s: the seeds failed (%d)\n", cmd, rc);
        return 1;
    }
    printf("Seeded %s\n", u->shown);
    return 0;
}

int bn_data_command(int argc, char **argv, bn_seed_fn *seeds)
{
    static const char *const commands[] = {"db.create", "db.drop", "db.migrate", "db.rollback", "db.seed", "db.reset"};
    if (argc < 2 || !argv[1])
        return -1;
    const char *cmd = argv[1];
    size_t which = BN_ARRAY_LEN(commands);
    for (size_t i = 0; i < BN_ARRAY_LEN(commands); i++)
        if (strcmp(cmd, commands[i]) == 0)
            which = i;
    if (which == BN_ARRAY_LEN(commands))
        return -1;

    int steps = 1;
    if (which == 3 && argc > 3) {
        fprintf(stderr, "usage: %s db.rollback [N]\n", argv[0]);
        return 2;
    }
    if (which == 3 && argc > 2) {
        char *end;
        errno = 0;
        long x = strtol(argv[2], &end, 10);
        if (errno || end == argv[2] || *end || x < 1 || x > INT_MAX) {
            fprintf(stderr, "usage: %s db.rollback [N]   (N: how many migrations, at least 1)\n", argv[0]);
            return 2;
        }
        steps = (int)x;
    } else if (argc > 2 && which != 3) {
        fprintf(stderr, "usage: %s %s   (no arguments)\n", argv[0], cmd);
        return 2;
    }

    const char *url = getenv("DATABASE_URL");
    if (!url || !*url)
        url = "sqlite:app.db"; /* bn_repo_open's default */
    bn_arena a = BN_ARENA_INIT;
    dburl u;
    int status = 1;
    if (!parse_url(url, &a, &u, cmd))
        goto out;
    switch (which) {
    case 0: status = db_create(&u, cmd); break;
    case 1: status = db_drop(&u, cmd); break;
    case 2: status = db_migrate(&u, cmd); break;
    case 3: status = db_rollback(&u, cmd, steps); break;
    case 4: status = db_seed(&u, cmd, seeds); break;
    default: /* db.reset */
        status = db_drop(&u, cmd);
        if (status == 0)
            status = db_create(&u, cmd);
        if (status == 0)
            status = db_migrate(&u, cmd);
        if (status == 0)
            status = db_seed(&u, cmd, seeds);
        break;
    }
out:
    fflush(stdout);
    bn_arena_destroy(&a);
    return status;
}
