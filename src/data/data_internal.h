/*
 * Inside the data layer: the adapter interface every database implements,
 * the Repo's connection handling that queries and changesets build on, and
 * the conversions between rows and records. Never installed.
 *
 *   types.c      dates and datetimes, bn_db_value helpers
 *   schema.c     field lookup, records <-> values, row cells -> fields
 *   sqlite.c     the SQLite adapter (synchronous: SQLite runs in-process)
 *   postgres.c   the PostgreSQL adapter (libpq asynchronous, waits suspend the task)
 *   repo.c       open/close, the pools, checkout, exec + log, CRUD, transactions, sandbox
 *   query.c      the query builder and its SQL, all/one/aggregate/update_all/delete_all, preload
 *   changeset.c  cast, validations, constraint errors
 *   migrate.c    the migration DSL, schema_migrations, db.* commands
 */
#ifndef BENNU_DATA_INTERNAL_H
#define BENNU_DATA_INTERNAL_H

#include "bennu/data.h"

/* ------------------------------------------------------------------------ */
/* Adapters                                                                   */

typedef struct bn_db_conn bn_db_conn; /* an adapter's connection */

typedef struct bn_adapter {
    bn_db_kind kind;
    const char *name; /* "sqlite", "postgres" */
    /* Opens a connection for `url` (the whole DATABASE_URL). NULL with *error (heap) on failure. */
    bn_db_conn *(*connect)(const char *url, char **error);
    void (*disconnect)(bn_db_conn *c);
    /*
     * Runs one statement. `sql` uses `?` placeholders (the adapter numbers them
     * for its server); `params` are bound in order. When `rows` is not NULL it
     * receives the result set, allocated in `a`; `changes` (if not NULL) the rows
     * affected. A wait for the server suspends the calling task when there is
     * one (bn_wait_fd) and polls otherwise; past `timeout_ms` (0: none) the
     * statement is cancelled and err->timeout set. Returns 0 or -1 with *err
     * filled (strings in `a`), including err->constraint for constraint
     * violations (PostgreSQL gives it; for SQLite the adapter derives it from
     * the message: "UNIQUE constraint failed: users.email" -> "users_email_index",
     * "FOREIGN KEY constraint failed" -> no name, so changesets fall back to
     * their declared foreign key constraints).
     */
    int (*exec)(bn_db_conn *c, const char *sql, const bn_db_value *params, size_t nparams, bn_arena *a,
                bn_db_rows *rows, int64_t *changes, uint64_t timeout_ms, bn_db_error *err);
    /* True once the connection is unusable (the server went away): the pool replaces it. */
    bool (*broken)(bn_db_conn *c);
} bn_adapter;

extern const bn_adapter bn__sqlite_adapter;
extern const bn_adapter bn__postgres_adapter;

/* The adapter for a URL ("sqlite:…" or "postgres://…" / "postgresql://…"), or NULL. */
const bn_adapter *bn__adapter_for(const char *url);

/* ------------------------------------------------------------------------ */
/* Running statements through a repo (repo.c)                                 */

/* Checks a connection out (or uses the one a transaction/sandbox repo is
 * bound to), runs the statement, logs "QUERY OK source=users db=1.2ms" at
 * debug level (warnings for errors), checks in, replaces a broken connection. */
int bn__repo_exec(bn_repo *r, const char *sql, const bn_db_value *params, size_t nparams, bn_arena *a,
                  bn_db_rows *rows, int64_t *changes, bn_db_error *err);
bn_db_kind bn__repo_kind(const bn_repo *r);
/* Fills *err (when not NULL) with a message of Bennu's own, in `a`. Returns -1. */
int bn__db_fail(bn_db_error *err, bn_arena *a, const char *fmt, ...) BN_PRINTF(3, 4);

/* ------------------------------------------------------------------------ */
/* Records and rows (schema.c)                                                */

/* Stores a row cell into field `f` of `record` (setting or clearing its NULL
 * bit), converting as the field's type needs: SQLite gives integers for
 * booleans and text for dates, datetimes and JSON; PostgreSQL gives what
 * its text format says. Strings are copied into `a`. False if the cell cannot
 * be read as that type (a message in *why). */
bool bn__field_store(const bn_schema *s, size_t field, void *record, bn_db_value cell, bn_arena *a,
                     const char **why);
/* A field of a record as a value to bind (NULL bit or NULL pointer: BN_DB_NULL). */
bn_db_value bn__field_load(const bn_schema *s, size_t field, const void *record);
/* Reads row `row` of `rows` into `record` (zeroed first): columns are matched to
 * fields by name; unknown columns are ignored. */
bool bn__record_from_row(const bn_schema *s, const bn_db_rows *rows, size_t row, void *record, bn_arena *a,
                         bn_db_error *err);

/* ------------------------------------------------------------------------ */
/* SQL text (query.c)                                                         */

/* Appends a quoted identifier: "users", with " doubled. */
void bn__sql_ident(bn_buf *sql, const char *name);

/* ------------------------------------------------------------------------ */
/* Changesets, for the Repo (changeset.c)                                     */

/* The fields that changed, with their values, in field order (virtual fields left out). */
size_t bn__changeset_changes(const bn_changeset *cs, const size_t **fields, const bn_db_value **values);
/* The record the changeset started from (NULL for a new one). */
const void *bn__changeset_data(const bn_changeset *cs);
/* After a failed insert/update: puts a declared constraint's error on its field
 * and returns true, or returns false (the caller adds err->message as a base error). */
bool bn__changeset_constraint_error(bn_changeset *cs, const bn_db_error *err);

/* ------------------------------------------------------------------------ */
/* Migrations (migrate.c)                                                     */

/* Runs `fn` (a migration's up or down) on a migration of dialect `kind` and
 * gives the SQL statements it renders, in order (array and strings in `a`).
 * Returns their number, or -1 with *error (in `a`) if the DSL was misused
 * (a column without a type, an unknown ON DELETE action, a NULL name...). */
int bn__migration_sql(bn_migration_fn *fn, bn_db_kind kind, bn_arena *a, const char *const **stmts,
                      const char **error);
/* The migrations BN_MIGRATION registered in the program (may hold NULLs; *n 0: none). */
const bn_migration_def *const *bn__migration_registered(size_t *n);
/* bn_repo_migrate / bn_repo_rollback over a given set of migrations (NULLs skipped). */
int bn__migrate_defs(bn_repo *r, const bn_migration_def *const *defs, size_t n, bn_db_error *err);
int bn__rollback_defs(bn_repo *r, const bn_migration_def *const *defs, size_t n, int steps, bn_db_error *err);

/* ------------------------------------------------------------------------ */
/* Query SQL (query.c; the Repo calls run it, tests check its text)           */

typedef enum { BN__SQL_SELECT, BN__SQL_UPDATE_ALL, BN__SQL_DELETE_ALL, BN__SQL_AGGREGATE } bn__sql_op;
/* Writes the statement for `op` (BN__SQL_AGGREGATE: `agg` of `field`, NULL for
 * count(*)) in `kind`'s dialect into `sql` (NUL-terminated, len without it),
 * with `?` placeholders; *params / *nparams: the values to bind, in order (in
 * the query's arena). Returns 0, or -1 with *err: the first builder error of
 * the query, or one found while writing (an unknown field, a field of an
 * association that is not joined, update_all without bn_set). */
int bn__query_sql(const bn_query *q, bn_db_kind kind, bn__sql_op op, bn_aggregate agg, const char *field,
                  bn_buf *sql, const bn_db_value **params, size_t *nparams, bn_db_error *err);

#endif
