/*
 * The SQLite adapter. SQLite runs in-process, so a statement runs to its end
 * on the calling thread (a task does not suspend); the pool gives each loop
 * thread its own connection, and WAL lets readers run beside the writer.
 *
 * Prepared statements are kept per connection in a small LRU keyed by the
 * SQL text: the Repo and the query builder produce the same text for the
 * same shape of query, so a hot query is compiled once per connection.
 * A query timeout is a progress handler that interrupts the statement once
 * its deadline has passed.
 */
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "data/data_internal.h"

#define STMT_CACHE_SIZE 64
#define BUSY_TIMEOUT_MS 5000
#define PROGRESS_OPS 1000 /* virtual machine steps between two deadline checks */

typedef struct cached_stmt {
    char *sql; /* the key (heap), NULL for a free entry */
    size_t len;
    uint64_t hash;
    uint64_t used; /* the connection's tick at its last use */
    sqlite3_stmt *stmt;
} cached_stmt;

struct bn_db_conn {
    sqlite3 *db;
    uint64_t deadline_ns; /* 0: none */
    bool timed_out;
    uint64_t tick;
    cached_stmt cache[STMT_CACHE_SIZE];
};

/* Statements compiled by sqlite3_prepare (cache misses), for the tests. */
_Atomic uint64_t bn__sqlite_prepares;

static int progress(void *arg)
{
    bn_db_conn *c = arg;
    if (c->deadline_ns && bn_clock_ns() > c->deadline_ns) {
        c->timed_out = true;
        return 1; /* interrupts the statement: SQLITE_INTERRUPT */
    }
    return 0;
}

/* ---- connections -------------------------------------------------------- */

static void sqlite_disconnect(bn_db_conn *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < STMT_CACHE_SIZE; i++) {
        sqlite3_finalize(c->cache[i].stmt);
        free(c->cache[i].sql);
    }
    sqlite3_close_v2(c->db);
    free(c);
}

/* The file name of "sqlite:path", "sqlite://path" or "sqlite::memory:". */
static const char *url_path(const char *url)
{
    if (strncmp(url, "sqlite://", 9) == 0)
        return url + 9;
    if (strncmp(url, "sqlite:", 7) == 0)
        return url + 7;
    return NULL;
}

static bn_db_conn *sqlite_connect(const char *url, char **error)
{
    const char *path = url_path(url);
    if (!path || !*path) {
        *error = bn_xprintf("not a SQLite URL (sqlite:path or sqlite::memory:): %s", url);
        return NULL;
    }
    bn_db_conn *c = bn_xcalloc(1, sizeof *c);
    /* NOMUTEX: the pool never lets two threads use one connection at once. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (strncmp(path, "file:", 5) == 0)
        flags |= SQLITE_OPEN_URI; /* "file:name?mode=memory&cache=shared" and friends */
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        *error = bn_xprintf("cannot open SQLite database %s: %s", path,
                             c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite_disconnect(c);
        return NULL;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    char *msg = NULL;
    rc = sqlite3_exec(c->db,
                      "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;", NULL, NULL,
                      &msg);
    if (rc != SQLITE_OK) {
        *error = bn_xprintf("cannot set up SQLite database %s: %s", path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sqlite_disconnect(c);
        return NULL;
    }
    sqlite3_progress_handler(c->db, PROGRESS_OPS, progress, c);
    return c;
}

static bool sqlite_broken(bn_db_conn *c)
{
    (void)c;
    return false;
}

/* ---- the statement cache ------------------------------------------------ */

static uint64_t hash_sql(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211u;
    }
    return h;
}

static cached_stmt *cache_find(bn_db_conn *c, const char *sql, size_t len, uint64_t h)
{
    for (size_t i = 0; i < STMT_CACHE_SIZE; i++) {
        cached_stmt *e = &c->cache[i];
        if (e->sql && e->hash == h && e->len == len && memcmp(e->sql, sql, len) == 0)
            return e;
    }
    return NULL;
}

static void cache_put(bn_db_conn *c, const char *sql, size_t len, uint64_t h, sqlite3_stmt *st)
{
    cached_stmt *victim = &c->cache[0];
    for (size_t i = 0; i < STMT_CACHE_SIZE && victim->sql; i++)
        if (!c->cache[i].sql || c->cache[i].used < victim->used)
            victim = &c->cache[i];
    sqlite3_finalize(victim->stmt);
    free(victim->sql);
    victim->sql = bn_xmalloc(len + 1);
    memcpy(victim->sql, sql, len + 1);
    victim->len = len;
    victim->hash = h;
    victim->stmt = st;
    victim->used = c->tick;
}

/* True if `s` holds nothing but whitespace, semicolons and comments. */
static bool blank_sql(const char *s)
{
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == ';')
            s++;
        if (s[0] == '-' && s[1] == '-') {
            while (*s && *s != '\n')
                s++;
        } else if (s[0] == '/' && s[1] == '*') {
            const char *end = strstr(s + 2, "*/");
            if (!end)
                return true; /* an unterminated comment runs to the end */
            s = end + 2;
        } else {
            return *s == '\0';
        }
    }
}

/* ---- running statements ------------------------------------------------- */

static char *arena_copy(bn_arena *a, const void *p, size_t n)
{
    char *s = bn_arena_alloc(a, n + 1);
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* "users_email_index" from "UNIQUE constraint failed: users.email" (several
 * columns: "users_a_b_index"), the name bn_create_index gives; "users_pkey"
 * for a primary key, as PostgreSQL names it; a CHECK constraint's own name. */
static const char *constraint_name(bn_arena *a, int code, const char *msg)
{
    static const char unique[] = "UNIQUE constraint failed: ", check[] = "CHECK constraint failed: ";
    if ((code & 0xff) != SQLITE_CONSTRAINT)
        return NULL;
    if (strncmp(msg, check, sizeof check - 1) == 0)
        return bn_arena_strndup(a, msg + sizeof check - 1, strlen(msg + sizeof check - 1));
    if (strncmp(msg, unique, sizeof unique - 1) != 0)
        return NULL;
    const char *p = msg + sizeof unique - 1;
    const char *dot = strchr(p, '.');
    if (!dot)
        return NULL;
    bn_buf b = BN_BUF_INIT;
    bn_buf_append(&b, p, (size_t)(dot - p)); /* the table */
    if (code == SQLITE_CONSTRAINT_PRIMARYKEY) {
        bn_buf_append(&b, "_pkey", 5);
    } else {
        while (p && *p) {
            dot = strchr(p, '.');
            if (!dot)
                break;
            const char *end = strstr(dot, ", ");
            size_t n = end ? (size_t)(end - dot - 1) : strlen(dot + 1);
            bn_buf_append(&b, "_", 1);
            bn_buf_append(&b, dot + 1, n);
            p = end ? end + 2 : NULL;
        }
        bn_buf_append(&b, "_index", 6);
    }
    const char *name = arena_copy(a, b.data, b.len);
    bn_buf_free(&b);
    return name;
}

static int fail(bn_db_conn *c, bn_arena *a, bn_db_error *err, int rc, uint64_t timeout_ms)
{
    err->code = sqlite3_extended_errcode(c->db);
    if (!err->code)
        err->code = rc;
    if (c->timed_out && (rc & 0xff) == SQLITE_INTERRUPT) {
        err->timeout = true;
        err->message = bn_arena_printf(a, "query timed out after %llu ms", (unsigned long long)timeout_ms);
        return -1;
    }
    const char *msg = sqlite3_errmsg(c->db);
    err->message = bn_arena_strndup(a, msg, strlen(msg));
    err->constraint = constraint_name(a, err->code, msg);
    return -1;
}

static int bind(sqlite3_stmt *st, int i, const bn_db_value *v)
{
    char buf[32];
    switch (v->type) {
    case BN_TYPE_NULL:
        return sqlite3_bind_null(st, i);
    case BN_TYPE_ID:
    case BN_TYPE_INTEGER:
    case BN_TYPE_BIGINT:
        return sqlite3_bind_int64(st, i, v->u.i);
    case BN_TYPE_FLOAT:
        return sqlite3_bind_double(st, i, v->u.f);
    case BN_TYPE_BOOLEAN:
        return sqlite3_bind_int(st, i, v->u.b ? 1 : 0);
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
    case BN_TYPE_DECIMAL:
    case BN_TYPE_UUID:
        /* a NULL pointer would bind SQL NULL: an empty string is "" */
        return sqlite3_bind_text64(st, i, v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len, SQLITE_STATIC, SQLITE_UTF8);
    case BN_TYPE_BINARY:
        return sqlite3_bind_blob64(st, i, v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len, SQLITE_STATIC);
    case BN_TYPE_DATE:
        snprintf(buf, sizeof buf, "%04d-%02d-%02d", (int)v->u.date.year, v->u.date.month, v->u.date.day);
        return sqlite3_bind_text(st, i, buf, -1, SQLITE_TRANSIENT);
    case BN_TYPE_UTC_DATETIME: {
        /* Always with six fraction digits, so that text order is time order. */
        int64_t usec = v->u.t % 1000000;
        if (usec < 0)
            usec += 1000000;
        bn_datetime_format(v->u.t - usec, buf); /* the whole second: "…:SSZ" */
        size_t n = strlen(buf) - 1;
        snprintf(buf + n, sizeof buf - n, ".%06dZ", (int)usec);
        return sqlite3_bind_text(st, i, buf, -1, SQLITE_TRANSIENT);
    }
    case BN_TYPE_JSON: {
        if (!v->u.json)
            return sqlite3_bind_null(st, i);
        bn_buf b = BN_BUF_INIT;
        bn_json_encode(&b, v->u.json);
        int rc = sqlite3_bind_text64(st, i, b.data ? b.data : "", b.len, SQLITE_TRANSIENT, SQLITE_UTF8);
        bn_buf_free(&b);
        return rc;
    }
    }
    return SQLITE_MISUSE;
}

static bn_db_value read_cell(sqlite3_stmt *st, int i, bn_arena *a)
{
    bn_db_value v = BN_DB_NULL;
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        v.type = BN_TYPE_BIGINT;
        v.u.i = sqlite3_column_int64(st, i);
        break;
    case SQLITE_FLOAT:
        v.type = BN_TYPE_FLOAT;
        v.u.f = sqlite3_column_double(st, i);
        break;
    case SQLITE_TEXT: {
        const unsigned char *p = sqlite3_column_text(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        v.type = BN_TYPE_TEXT;
        v.u.s = bn_str_make(arena_copy(a, p, n), n);
        break;
    }
    case SQLITE_BLOB: {
        const void *p = sqlite3_column_blob(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        v.type = BN_TYPE_BINARY;
        v.u.s = bn_str_make(arena_copy(a, p, n), n);
        break;
    }
    default:
        break;
    }
    return v;
}

/* The result's column names: read after the first step, since a step may
 * re-prepare a cached statement whose table changed (SELECT * grows). */
static void read_columns(sqlite3_stmt *st, bn_arena *a, bn_db_rows *rows)
{
    int ncols = sqlite3_column_count(st);
    const char **names = bn_arena_alloc(a, sizeof(char *) * (size_t)(ncols ? ncols : 1));
    for (int i = 0; i < ncols; i++) {
        const char *n = sqlite3_column_name(st, i);
        names[i] = n ? bn_arena_strndup(a, n, strlen(n)) : "";
    }
    *rows = (bn_db_rows){.ncols = (size_t)ncols, .columns = names};
}

/* Steps `st` to its end; the rows go to `rows` when it is not NULL. */
static int run(bn_db_conn *c, sqlite3_stmt *st, bn_arena *a, bn_db_rows *rows, bn_db_error *err,
               uint64_t timeout_ms)
{
    bn_buf cells = BN_BUF_INIT;
    size_t nrows = 0, ncols = 0;
    int rc = sqlite3_step(st);
    if (rows && (rc == SQLITE_ROW || rc == SQLITE_DONE)) {
        read_columns(st, a, rows);
        ncols = rows->ncols;
    }
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
        if (!rows || !ncols)
            continue;
        bn_db_value *row = (bn_db_value *)bn_buf_reserve(&cells, sizeof(bn_db_value) * ncols);
        for (size_t i = 0; i < ncols; i++)
            row[i] = read_cell(st, (int)i, a);
        cells.len += sizeof(bn_db_value) * ncols;
        nrows++;
    }
    if (rc != SQLITE_DONE) {
        bn_buf_free(&cells);
        return fail(c, a, err, rc, timeout_ms);
    }
    if (rows && nrows) {
        bn_db_value *copy = bn_arena_alloc(a, cells.len);
        memcpy(copy, cells.data, cells.len);
        rows->cells = copy;
        rows->nrows = nrows;
    }
    bn_buf_free(&cells);
    return 0;
}

static int sqlite_exec(bn_db_conn *c, const char *sql, const bn_db_value *params, size_t nparams, bn_arena *a,
                       bn_db_rows *rows, int64_t *changes, uint64_t timeout_ms, bn_db_error *err)
{
    memset(err, 0, sizeof *err);
    if (rows)
        *rows = (bn_db_rows){0};
    if (changes)
        *changes = 0;
    c->tick++;
    c->timed_out = false;
    c->deadline_ns = timeout_ms ? bn_clock_ns() + timeout_ms * 1000000u : 0;
    int result = 0;
    const char *next = sql;
    while (next && !blank_sql(next)) {
        size_t len = strlen(next);
        uint64_t h = hash_sql(next, len);
        cached_stmt *e = cache_find(c, next, len, h);
        sqlite3_stmt *st;
        const char *tail = NULL;
        bool cached = e != NULL;
        if (e) {
            st = e->stmt;
            e->used = c->tick;
        } else {
            int rc = sqlite3_prepare_v3(c->db, next, (int)len + 1, SQLITE_PREPARE_PERSISTENT, &st, &tail);
            bn__sqlite_prepares++;
            if (rc != SQLITE_OK) {
                result = fail(c, a, err, rc, timeout_ms);
                break;
            }
            if (!st) /* only a comment */
                break;
            if (blank_sql(tail)) {
                cache_put(c, next, len, h, st);
                cached = true;
            } else if (nparams) {
                sqlite3_finalize(st);
                err->message = "several statements in one call cannot take values: run them one by one";
                result = -1;
                break;
            }
        }
        int expected = sqlite3_bind_parameter_count(st);
        if ((size_t)expected != nparams) {
            err->message = bn_arena_printf(a, "the statement has %d placeholder%s but %zu value%s were given",
                                           expected, expected == 1 ? "" : "s", nparams, nparams == 1 ? "" : "s");
            result = -1;
        }
        for (size_t i = 0; result == 0 && i < nparams; i++) {
            int rc = bind(st, (int)i + 1, &params[i]);
            if (rc != SQLITE_OK)
                result = fail(c, a, err, rc, timeout_ms);
        }
        if (result == 0)
            result = run(c, st, a, rows, err, timeout_ms);
        if (result == 0 && changes)
            *changes = sqlite3_stmt_readonly(st) ? 0 : sqlite3_changes64(c->db);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st); /* drops SQLITE_STATIC pointers to the caller's memory */
        if (!cached)
            sqlite3_finalize(st);
        if (result != 0)
            break;
        next = cached ? NULL : tail; /* a cached statement is a whole SQL text */
    }
    c->deadline_ns = 0;
    return result;
}

const bn_adapter bn__sqlite_adapter = {
    .kind = BN_DB_SQLITE,
    .name = "sqlite",
    .connect = sqlite_connect,
    .disconnect = sqlite_disconnect,
    .exec = sqlite_exec,
    .broken = sqlite_broken,
};
