/*
 * bennu/data.h — Bennu's Ecto: schemas, changesets, queries, a Repo over
 * SQLite (the embedded default) and PostgreSQL (libpq, asynchronous: a query
 * suspends only its task), migrations and a test sandbox.
 *
 * A schema is declared once, as an X-macro list, and gives a C struct plus
 * the metadata that changesets, queries and generators read:
 *
 *     #define USER_SCHEMA(FIELD, ASSOC)                    \
 *         FIELD(id, ID)                                    \
 *         FIELD(name, STRING)                              \
 *         FIELD(age, INTEGER)                              \
 *         ASSOC(posts, HAS_MANY, post, author_id)          \
 *         FIELD(inserted_at, UTC_DATETIME)                 \
 *         FIELD(updated_at, UTC_DATETIME)
 *     BN_SCHEMA_DECLARE(user, USER_SCHEMA)          // header: struct user, user_schema
 *     BN_SCHEMA_DEFINE(user, "users", USER_SCHEMA)  // one .c file: the metadata
 *
 *     bn_repo *repo = bn_repo_open(&(bn_repo_config){.url = "sqlite:app.db"}, &err);
 *     bn_changeset *cs = bn_changeset_cast(arena, &user_schema, NULL, params, BN_FIELDS("name", "age"));
 *     bn_validate_required(cs, BN_FIELDS("name"));
 *     bn_validate_number(cs, "age", (bn_number_opts){.has_min = true, .min = 0});
 *     user u;
 *     if (bn_repo_insert(repo, cs, &u) == 0) ...      // else the errors are in cs, for the form
 *
 *     bn_query *q = bn_from(arena, &user_schema);
 *     bn_where(q, "age >= ?", BN_DB(18));
 *     bn_order_by(q, "name", BN_ASC);
 *     bn_records adults;
 *     bn_repo_all(repo, q, &adults, NULL);            // adults.items is a user[adults.count]
 *
 * Memory: everything a call returns (records, their strings, errors) comes
 * from the arena given to it (a query's, a changeset's); nothing to free.
 * Errors: calls return 0 (or a count) on success and -1 on failure; an
 * optional bn_db_error receives the details (else they are logged). Calls
 * that take no arena (delete, insert_all, transaction, sandbox) keep the
 * strings of *err in a small per-thread ring: read them before the thread's
 * next failing call of that kind.
 */
#ifndef BENNU_DATA_H
#define BENNU_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bennu/core.h"
#include "bennu/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Types and values                                                           */

typedef enum bn_type {
    BN_TYPE_NULL = 0,     /* a NULL value (never a field's type) */
    BN_TYPE_ID,           /* int64_t primary key, assigned by the database */
    BN_TYPE_INTEGER,      /* int64_t (SQL integer) */
    BN_TYPE_BIGINT,       /* int64_t (SQL bigint) */
    BN_TYPE_FLOAT,        /* double */
    BN_TYPE_BOOLEAN,      /* bool */
    BN_TYPE_STRING,       /* const char * (varchar(255)) */
    BN_TYPE_TEXT,         /* const char * */
    BN_TYPE_DECIMAL,      /* const char *, the decimal as text ("12.50"): never a double */
    BN_TYPE_DATE,         /* bn_date */
    BN_TYPE_UTC_DATETIME, /* bn_datetime */
    BN_TYPE_BINARY,       /* bn_str of bytes */
    BN_TYPE_JSON,         /* const bn_value * */
    BN_TYPE_UUID,         /* const char *, 36 characters, lower case */
} bn_type;

typedef struct bn_date {
    int32_t year;
    uint8_t month, day;
} bn_date;

/** Microseconds since 1970-01-01T00:00:00Z. */
typedef int64_t bn_datetime;
bn_datetime bn_datetime_now(void);
/** "2024-01-31T12:00:00Z" (fraction only when non-zero: ".123456"); into `buf` of 32 bytes. */
const char *bn_datetime_format(bn_datetime t, char buf[32]);
/** Reads ISO 8601 "YYYY-MM-DD[T ]HH:MM:SS[.ffffff][Z|+00:00]"; false if malformed. */
bool bn_datetime_parse(bn_str s, bn_datetime *out);
bool bn_date_parse(bn_str s, bn_date *out);

/** A value bound to a query or read from a row. */
typedef struct bn_db_value {
    bn_type type; /* BN_TYPE_NULL for NULL */
    union {
        int64_t i;     /* ID, INTEGER, BIGINT */
        double f;      /* FLOAT */
        bool b;        /* BOOLEAN */
        bn_str s;      /* STRING, TEXT, DECIMAL, UUID, BINARY */
        bn_date date;  /* DATE */
        bn_datetime t; /* UTC_DATETIME */
        const bn_value *json;
    } u;
} bn_db_value;

#define BN_DB_NULL ((bn_db_value){.type = BN_TYPE_NULL})
static inline bn_db_value bn_db_int(long long i) { return (bn_db_value){.type = BN_TYPE_BIGINT, .u.i = i}; }
static inline bn_db_value bn_db_float(double f) { return (bn_db_value){.type = BN_TYPE_FLOAT, .u.f = f}; }
static inline bn_db_value bn_db_bool(bool b) { return (bn_db_value){.type = BN_TYPE_BOOLEAN, .u.b = b}; }
static inline bn_db_value bn_db_text(const char *s)
{
    return s ? (bn_db_value){.type = BN_TYPE_TEXT, .u.s = bn_str_from_cstr(s)} : BN_DB_NULL;
}
static inline bn_db_value bn_db_str(bn_str s) { return (bn_db_value){.type = BN_TYPE_TEXT, .u.s = s}; }
static inline bn_db_value bn_db_bytes(bn_str s) { return (bn_db_value){.type = BN_TYPE_BINARY, .u.s = s}; }
static inline bn_db_value bn_db_same(bn_db_value v) { return v; }
/** A bound value from a C value: BN_DB(42), BN_DB("Ada"), BN_DB(flag), BN_DB(1.5). A bool
 *  variable binds a BOOLEAN, but the literals true/false are ints in C17: bn_db_bool(true). */
#define BN_DB(x)                                                                                               \
    _Generic((x), int: bn_db_int, long: bn_db_int, long long: bn_db_int, unsigned: bn_db_int, short: bn_db_int, \
             double: bn_db_float, float: bn_db_float, bool: bn_db_bool, char *: bn_db_text,                    \
             const char *: bn_db_text, bn_str: bn_db_str, bn_db_value: bn_db_same)(x)

/** A NULL-terminated list of names: BN_FIELDS("name", "email"). */
#define BN_FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})

typedef struct bn_db_error {
    char sqlstate[6];        /* "23505"… for PostgreSQL, "" otherwise */
    int code;                /* SQLite's extended result code, 0 otherwise */
    const char *message;     /* what the database or Bennu said */
    const char *constraint;  /* the violated constraint's name, when one was */
    bool timeout;            /* the query or the pool checkout timed out */
} bn_db_error;

/* ------------------------------------------------------------------------ */
/* Schemas [Ecto.Schema]                                                      */

typedef struct bn_schema bn_schema;

typedef struct bn_field {
    const char *name;
    bn_type type;
    size_t offset;           /* of the member in the struct */
    const char *default_sql; /* a column default for migrations and generators, or NULL */
    bool virtual_field;      /* not stored (a password before hashing) */
} bn_field;

typedef enum { BN_ASSOC_BELONGS_TO, BN_ASSOC_HAS_MANY } bn_assoc_kind;

typedef struct bn_assoc {
    const char *name; /* "author", "posts" */
    bn_assoc_kind kind;
    const bn_schema *related;
    const char *foreign_key; /* belongs_to: a field of this schema; has_many: of the related one */
    size_t offset;           /* of the member that holds the preloaded record(s) */
} bn_assoc;

/** Records of one schema in one array: `items` is a T[count]. */
typedef struct bn_records {
    void *items;
    size_t count;
} bn_records;
/** The i-th record: BN_RECORD(recs, user, i)->name. */
#define BN_RECORD(recs, type, i) (&((type *)(recs).items)[i])

struct bn_schema {
    const char *name;   /* "user" */
    const char *source; /* the table, "users" */
    size_t size;        /* sizeof the struct */
    const bn_field *fields;
    size_t nfields;
    const bn_assoc *assocs;
    size_t nassocs;
    size_t nulls_offset; /* of the uint64_t whose bit i says field i is NULL */
};

/** The field named `name`, or NULL; its index in *index if not NULL. */
const bn_field *bn_schema_field(const bn_schema *s, const char *name, size_t *index);
const bn_assoc *bn_schema_assoc(const bn_schema *s, const char *name);
/** The ID field, the inserted_at / updated_at fields (UTC_DATETIME), or NULL. */
const bn_field *bn_schema_primary_key(const bn_schema *s);
const bn_field *bn_schema_inserted_at(const bn_schema *s);
const bn_field *bn_schema_updated_at(const bn_schema *s);
/** NULL-ness of a field of a record (a NULL string pointer is NULL too). */
bool bn_record_is_null(const bn_schema *s, const void *record, const char *field);
void bn_record_set_null(const bn_schema *s, void *record, const char *field, bool is_null);
/** A field of a record as a value (for forms, JSON, logs). */
bn_db_value bn_record_get(const bn_schema *s, const void *record, const char *field);

/* Behind BN_SCHEMA_DECLARE/DEFINE: the C type of each field type. */
#define BN__CTYPE_ID int64_t
#define BN__CTYPE_INTEGER int64_t
#define BN__CTYPE_BIGINT int64_t
#define BN__CTYPE_FLOAT double
#define BN__CTYPE_BOOLEAN bool
#define BN__CTYPE_STRING const char *
#define BN__CTYPE_TEXT const char *
#define BN__CTYPE_DECIMAL const char *
#define BN__CTYPE_DATE bn_date
#define BN__CTYPE_UTC_DATETIME bn_datetime
#define BN__CTYPE_BINARY bn_str
#define BN__CTYPE_JSON const bn_value *
#define BN__CTYPE_UUID const char *
#define BN__ASSOC_MEMBER_BELONGS_TO(fname, other) const struct other *fname;
#define BN__ASSOC_MEMBER_HAS_MANY(fname, other) bn_records fname;
#define BN__MEMBER(fname, T, ...) BN__CTYPE_##T fname;
#define BN__ASSOC_MEMBER(fname, KIND, other, fk) BN__ASSOC_MEMBER_##KIND(fname, other)
#define BN__NO_FIELD(...)
#define BN__NO_ASSOC(...)
#define BN__FIELD_INIT(fname, T, ...) {.name = #fname, .type = BN_TYPE_##T, __VA_ARGS__},
#define BN__ASSOC_INIT(fname, KIND, other, fk) \
    {.name = #fname, .kind = BN_ASSOC_##KIND, .related = &other##_schema, .foreign_key = #fk},
#define BN__FIELD_OFFSET(fname, T, ...) (bn__f++)->offset = offsetof(bn__cur, fname);
#define BN__ASSOC_OFFSET(fname, KIND, other, fk) (bn__a++)->offset = offsetof(bn__cur, fname);

/**
 * In a header: `typedef struct NAME {…} NAME;` with one member per FIELD (C
 * type from the field type) and per ASSOC (belongs_to: a pointer to the
 * preloaded record; has_many: bn_records), plus `uint64_t bn_nulls`; and
 * `extern const bn_schema NAME_schema`. FIELD(name, TYPE[, .default_sql = "0"]),
 * ASSOC(name, BELONGS_TO | HAS_MANY, other_schema_name, foreign_key).
 */
#define BN_SCHEMA_DECLARE(sname, LIST)                                                                           \
    typedef struct sname {                                                                                       \
        LIST(BN__MEMBER, BN__ASSOC_MEMBER)                                                                       \
        uint64_t bn_nulls;                                                                                       \
    } sname;                                                                                                     \
    extern const bn_schema sname##_schema;

/**
 * In one .c file: the metadata of a declared schema, table `table`. The rows
 * of the list do not name the struct, so member offsets are filled by a
 * constructor that runs before main (a block-scope typedef names it there).
 */
#define BN_SCHEMA_DEFINE(sname, table, LIST)                                                                     \
    static bn_field sname##__fields[] = {LIST(BN__FIELD_INIT, BN__NO_ASSOC)};                                   \
    static bn_assoc sname##__assocs[] = {LIST(BN__NO_FIELD, BN__ASSOC_INIT){0}};                                \
    const bn_schema sname##_schema = {#sname,                                                                    \
                                      table,                                                                     \
                                      sizeof(sname),                                                             \
                                      sname##__fields,                                                           \
                                      sizeof(sname##__fields) / sizeof(bn_field),                                \
                                      sname##__assocs,                                                           \
                                      sizeof(sname##__assocs) / sizeof(bn_assoc) - 1,                            \
                                      offsetof(sname, bn_nulls)};                                                \
    __attribute__((constructor)) static void sname##__layout(void)                                              \
    {                                                                                                            \
        typedef sname bn__cur;                                                                                   \
        bn_field *bn__f = sname##__fields;                                                                       \
        bn_assoc *bn__a = sname##__assocs;                                                                       \
        LIST(BN__FIELD_OFFSET, BN__ASSOC_OFFSET)                                                                 \
        (void)bn__f;                                                                                             \
        (void)bn__a;                                                                                             \
    }

/* ------------------------------------------------------------------------ */
/* Changesets [Ecto.Changeset]                                                */

typedef struct bn_changeset bn_changeset;

/**
 * Casts `params` (the web layer's param tree, e.g. bn_conn_params(c)
 * under "user") onto a copy of `data` (an existing record, or NULL for a
 * new one, whose fields all start NULL), for the `permitted` fields only.
 * A value that does not parse as the field's type is an error "is invalid";
 * an empty string is NULL (as in Phoenix forms).
 */
bn_changeset *bn_changeset_cast(bn_arena *a, const bn_schema *s, const void *data, const bn_value *params,
                                const char *const *permitted);
/** A change set from C [put_change]. */
void bn_changeset_put(bn_changeset *cs, const char *field, bn_db_value value);

void bn_validate_required(bn_changeset *cs, const char *const *fields);               /* "can't be blank" */
typedef struct bn_length_opts {
    size_t min, max, is; /* 0: no bound; counted in characters (UTF-8) */
} bn_length_opts;
void bn_validate_length(bn_changeset *cs, const char *field, bn_length_opts o);
/** POSIX extended regex; `message` NULL: "has invalid format". */
void bn_validate_format(bn_changeset *cs, const char *field, const char *regex, const char *message);
typedef struct bn_number_opts {
    bool has_min, has_max;
    double min, max;        /* inclusive */
    bool has_gt, has_lt;
    double gt, lt;          /* exclusive */
} bn_number_opts;
void bn_validate_number(bn_changeset *cs, const char *field, bn_number_opts o);
void bn_validate_inclusion(bn_changeset *cs, const char *field, const char *const *values); /* "is invalid" */
/** `field` must equal param "<field>_confirmation", else "does not match confirmation" on that
 *  param's name ("password_confirmation"), as in Ecto. */
void bn_validate_confirmation(bn_changeset *cs, const char *field);
/** Turns the database's unique violation of `constraint` (NULL: "<table>_<field>_index")
 *  into the error "has already been taken" on `field`, when the Repo inserts or updates. */
void bn_unique_constraint(bn_changeset *cs, const char *field, const char *constraint);
/** Likewise for a foreign key ("<table>_<field>_fkey"): "does not exist". */
void bn_foreign_key_constraint(bn_changeset *cs, const char *field, const char *constraint);

void bn_changeset_add_error(bn_changeset *cs, const char *field, const char *message);
bool bn_changeset_valid(const bn_changeset *cs);
/** The messages of `field` (NULL-terminated, NULL if none); field "" is the changeset's own. */
const char *const *bn_changeset_errors(const bn_changeset *cs, const char *field);
/** The changed value of a field, or false if it did not change. */
bool bn_changeset_change(const bn_changeset *cs, const char *field, bn_db_value *out);
/** The value a form shows: the param as typed if it failed to cast, else the change, else the data. */
bn_str bn_changeset_input(const bn_changeset *cs, const char *field);
/** The record with the changes applied [apply_changes]. */
const void *bn_changeset_apply(const bn_changeset *cs);
const bn_schema *bn_changeset_schema(const bn_changeset *cs);
bn_arena *bn_changeset_arena(const bn_changeset *cs);

/* ------------------------------------------------------------------------ */
/* Queries [Ecto.Query]: values are always bound as parameters                */

typedef struct bn_query bn_query;
typedef enum { BN_ASC, BN_DESC } bn_order;

/** A query over the schema's table, allocated in `a` (so are its results). */
bn_query *bn_from(bn_arena *a, const bn_schema *s);
/**
 * A condition (ANDed with the others): an SQL fragment in which each `?` is
 * bound to the next value. Fields are written as in SQL ("age >= ?",
 * "author.name = ?" after bn_join(q, "author")). The fragment is code, never
 * data: values only ever travel as parameters.
 */
#define bn_where(q, fragment, ...) \
    bn__where((q), (fragment), (const bn_db_value[]){BN_DB_NULL, ##__VA_ARGS__} + 1, \
              sizeof((bn_db_value[]){BN_DB_NULL, ##__VA_ARGS__}) / sizeof(bn_db_value) - 1)
bn_query *bn__where(bn_query *q, const char *fragment, const bn_db_value *values, size_t n);
/** field = value for a field of the schema (checked; NULL value: IS NULL). */
bn_query *bn_where_eq(bn_query *q, const char *field, bn_db_value value);
bn_query *bn_order_by(bn_query *q, const char *field, bn_order dir);
bn_query *bn_limit(bn_query *q, int64_t n);
bn_query *bn_offset(bn_query *q, int64_t n);
/** Only these fields are read (the others stay zero). */
bn_query *bn_select(bn_query *q, const char *const *fields);
/** INNER JOIN an association, aliased by its name in fragments ("author.name = ?"). */
bn_query *bn_join(bn_query *q, const char *assoc);
/** After the query, loads an association of every record (one more query per association). */
bn_query *bn_preload(bn_query *q, const char *assoc);
/** `SET field = value` for bn_repo_update_all. */
bn_query *bn_set(bn_query *q, const char *field, bn_db_value value);

typedef enum { BN_AGG_COUNT, BN_AGG_SUM, BN_AGG_AVG, BN_AGG_MIN, BN_AGG_MAX } bn_aggregate;

/* ------------------------------------------------------------------------ */
/* The Repo [Ecto.Repo]                                                       */

typedef struct bn_repo bn_repo;

typedef struct bn_repo_config {
    const char *url;            /* "sqlite:path", "sqlite::memory:", "postgres://user:pw@host:port/db"; NULL: DATABASE_URL, else "sqlite:app.db" */
    unsigned pool_size;         /* connections in all, split evenly over the loop threads (rounded up,
                                   at least one each; threads outside a loop share one more sub-pool);
                                   0: POOL_SIZE, else 10 for PostgreSQL, one per loop thread for SQLite */
    uint64_t checkout_timeout_ms; /* 0: 15000 */
    uint64_t query_timeout_ms;    /* 0: 15000 */
    bool quiet;                 /* no query log lines (BENNU_LOG_LEVEL=debug shows them) */
} bn_repo_config;

typedef enum { BN_DB_SQLITE, BN_DB_POSTGRES } bn_db_kind;

/** Opens (SQLite: creates the file, WAL mode, foreign keys on). NULL with *error (heap) on failure. */
bn_repo *bn_repo_open(const bn_repo_config *cfg, char **error);
void bn_repo_close(bn_repo *r);
bn_db_kind bn_repo_kind(const bn_repo *r);

/** Every record the query selects. */
int bn_repo_all(bn_repo *r, const bn_query *q, bn_records *out, bn_db_error *err);
/** The only record (1), none (0), or -1 (an error, or more than one). */
int bn_repo_one(bn_repo *r, const bn_query *q, void *out, bn_db_error *err);
/** By primary key: 1 found, 0 not found, -1 error. Strings in `a`. */
int bn_repo_get(bn_repo *r, bn_arena *a, const bn_schema *s, int64_t id, void *out, bn_db_error *err);
/** By fields: bn_repo_get_by(r, a, &user_schema, &u, err, "email", BN_DB(e)). */
#define bn_repo_get_by(r, a, s, out, err, ...)                                                              \
    bn__repo_get_by((r), (a), (s), (out), (err), (const bn__db_pair[]){__VA_ARGS__},                      \
                    sizeof((const bn__db_pair[]){__VA_ARGS__}) / sizeof(bn__db_pair))
typedef struct bn__db_pair {
    const char *field;
    bn_db_value value;
} bn__db_pair;
int bn__repo_get_by(bn_repo *r, bn_arena *a, const bn_schema *s, void *out, bn_db_error *err,
                    const bn__db_pair *pairs, size_t n);

/**
 * Inserts a valid changeset's record (timestamps set, the id read back into
 * `out`, which may be NULL). On an invalid changeset nothing is sent; on a
 * constraint the changeset declared, the error goes on its field; any other
 * database error goes on the changeset's base (field ""). Returns 0 or -1.
 */
int bn_repo_insert(bn_repo *r, bn_changeset *cs, void *out);
/** Updates the changed fields of a changeset made from an existing record (updated_at set). */
int bn_repo_update(bn_repo *r, bn_changeset *cs, void *out);
/** Deletes by primary key: 1 deleted, 0 not there, -1 error. */
int bn_repo_delete(bn_repo *r, const bn_schema *s, const void *record, bn_db_error *err);
/** Inserts `n` records (items of the schema's struct) in one statement; returns n or -1. */
int64_t bn_repo_insert_all(bn_repo *r, const bn_schema *s, const void *records, size_t n, bn_db_error *err);
/** Rows changed by the query's bn_set()s / deleted by its conditions, or -1. */
int64_t bn_repo_update_all(bn_repo *r, const bn_query *q, bn_db_error *err);
int64_t bn_repo_delete_all(bn_repo *r, const bn_query *q, bn_db_error *err);
/** count(*) (field NULL) or sum/avg/min/max of a field; the result in *out (NULL when no rows). */
int bn_repo_aggregate(bn_repo *r, const bn_query *q, bn_aggregate agg, const char *field, bn_db_value *out,
                      bn_db_error *err);
/** Raw SQL with bound parameters (migrations, reports); rows as values, row-major. */
typedef struct bn_db_rows {
    size_t nrows, ncols;
    const char *const *columns;
    const bn_db_value *cells; /* cells[row * ncols + col] */
} bn_db_rows;
#define bn_repo_query(r, a, rows, err, sql, ...) \
    bn__repo_query((r), (a), (rows), (err), (sql), (const bn_db_value[]){BN_DB_NULL, ##__VA_ARGS__} + 1, \
                   sizeof((bn_db_value[]){BN_DB_NULL, ##__VA_ARGS__}) / sizeof(bn_db_value) - 1)
int bn__repo_query(bn_repo *r, bn_arena *a, bn_db_rows *rows, bn_db_error *err, const char *sql,
                   const bn_db_value *values, size_t n);

/**
 * Runs `fn` in a transaction on one connection [Repo.transaction]: `tx` is a
 * repo bound to it. fn returns 0 to commit, anything else to roll back
 * [Repo.rollback], which bn_repo_transaction returns. Nested calls on `tx`
 * use savepoints; calls the same task makes on `r` meanwhile go to `tx` too.
 * On PostgreSQL a statement that failed in fn (outside a nested call) has
 * aborted the transaction: it is rolled back and -1 returned even if fn
 * returns 0. Do not bn_raise out of fn: return instead.
 */
typedef int bn_repo_tx_fn(bn_repo *tx, void *arg);
int bn_repo_transaction(bn_repo *r, bn_repo_tx_fn *fn, void *arg, bn_db_error *err);

/**
 * Test sandbox [Ecto.Adapters.SQL.Sandbox]: a repo bound to one connection
 * inside a transaction that bn_repo_sandbox_end rolls back, so concurrent
 * tests share a database without seeing each other's writes.
 */
bn_repo *bn_repo_sandbox(bn_repo *r, bn_db_error *err);
void bn_repo_sandbox_end(bn_repo *sandbox);

/* ------------------------------------------------------------------------ */
/* Migrations [Ecto.Migration]: a C DSL, the same on SQLite and PostgreSQL     */

typedef struct bn_migration bn_migration;

typedef struct bn_column {
    const char *name;
    bn_type type;           /* BN_TYPE_ID makes the primary key */
    bool not_null;
    const char *default_sql; /* a literal SQL default ("0", "'draft'"), or NULL */
    const char *references;  /* a table: a foreign key to its id */
    const char *on_delete;   /* "CASCADE", "SET NULL", NULL */
    size_t size;             /* STRING: varchar(size), 0: 255 */
} bn_column;
#define BN_COLUMNS(...) ((const bn_column[]){__VA_ARGS__, {0}})

typedef struct bn_table_opts {
    bool timestamps;   /* inserted_at, updated_at: utc_datetime, not null */
    bool no_id;        /* no automatic id primary key */
} bn_table_opts;

void bn_create_table(bn_migration *m, const char *table, const bn_column *columns, bn_table_opts opts);
void bn_drop_table(bn_migration *m, const char *table);
void bn_add_column(bn_migration *m, const char *table, bn_column column);
void bn_remove_column(bn_migration *m, const char *table, const char *column);
/** Index "<table>_<col1>_<col2>_index" (the name unique_constraint expects). */
void bn_create_index(bn_migration *m, const char *table, const char *const *columns, bool unique);
void bn_drop_index(bn_migration *m, const char *table, const char *const *columns);
/** Raw SQL for what the DSL does not cover (check bn_migration_kind for dialects). */
void bn_execute(bn_migration *m, const char *sql);
bn_db_kind bn_migration_kind(const bn_migration *m);

typedef void bn_migration_fn(bn_migration *m);
typedef struct bn_migration_def {
    int64_t version; /* 20240131120000 */
    const char *name;
    bn_migration_fn *up, *down;
} bn_migration_def;
/** Registers a migration of the program (an ELF section, like verified paths). */
#define BN_MIGRATION(version, name, up, down)                                                         \
    static const bn_migration_def bn__migration_##name = {version, #name, up, down};                 \
    static const bn_migration_def *const bn__migration_ref_##name                                    \
        __attribute__((section("bn_migrations"), used, aligned(sizeof(void *)))) = &bn__migration_##name
/** Seeds for `db.seed` [priv/repo/seeds.exs]. */
typedef int bn_seed_fn(bn_repo *r);

/** Runs pending migrations in version order, each in a transaction; returns how many, or -1.
 *  (No arena here: the strings of *err last until the thread's next migrate or rollback.) */
int bn_repo_migrate(bn_repo *r, bn_db_error *err);
/** Rolls back the `steps` latest migrations; returns how many, or -1. */
int bn_repo_rollback(bn_repo *r, int steps, bn_db_error *err);

/**
 * The `db.*` commands of a program [mix ecto.*]: `PROG db.create`,
 * `db.drop`, `db.migrate`, `db.rollback [N]`, `db.reset` (drop, create,
 * migrate, seed), `db.seed`, using DATABASE_URL. Returns -1 if argv[1] is not
 * one of them, else the exit status. `seeds` may be NULL.
 */
int bn_data_command(int argc, char **argv, bn_seed_fn *seeds);

#ifdef __cplusplus
}
#endif

#endif
