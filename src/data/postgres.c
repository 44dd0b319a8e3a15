/*
 * The PostgreSQL adapter: libpq in its asynchronous mode. Every wait for the
 * server (connecting, sending, reading results) goes through one helper that
 * suspends the calling task on the socket (bn_wait_fd) when there is a task,
 * and poll()s otherwise (CLI commands, tests without a loop), so a query
 * suspends only its task and the loop serves everyone else meanwhile.
 *
 * Statements with `?` placeholders are renumbered $1, $2…; values travel as
 * parameters, in text format except bytes (binary). Data statements (SELECT,
 * INSERT, UPDATE, DELETE, WITH, VALUES, TABLE) are prepared once per
 * connection and kept in a bounded cache keyed by their SQL text and the
 * types of their values (least recently used first out); other statements
 * (BEGIN, SAVEPOINT, DDL…) run unnamed, or through the simple protocol when
 * they have no values, so a migration may hold several statements. Results
 * come in text format and are typed by column OID.
 *
 * Sessions run with TimeZone=UTC and DateStyle=ISO (so timestamps read back
 * as UTC ISO text) and client_encoding=UTF8 (so invalid UTF-8 is rejected by
 * the server with a clear error).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "bennu/crypto.h"
#include "bennu/runtime.h"
#include "data_internal.h"

/* Type OIDs (catalog/pg_type_d.h is a server header). */
enum {
    OID_BOOL = 16,
    OID_BYTEA = 17,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_OID = 26,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700,
    OID_TIMESTAMPTZ = 1184,
};

#define STMT_MAX 256          /* prepared statements kept per connection */
#define STMT_SLOTS 512        /* hash slots: twice STMT_MAX, a power of two */
#define STMT_MAX_SQL 16384    /* longer statements are not kept */
#define CONNECT_TIMEOUT_MS 10000
#define DRAIN_TIMEOUT_MS 5000 /* after a cancel, for the server to answer */
#define MAX_PARAMS 65535      /* the protocol's limit */

typedef struct pg_stmt {
    char *key; /* the SQL as given, '\0', one letter per value type */
    size_t key_len;
    uint64_t hash;
    uint64_t last_used;
    unsigned id; /* the statement is named "bn<id>" */
} pg_stmt;

struct bn_db_conn {
    PGconn *pg;
    pg_stmt *slots[STMT_SLOTS];
    size_t nstmts;
    uint64_t tick;
    unsigned next_id;
    bool dead;        /* a cancelled statement never finished: unusable */
    bn_arena scratch; /* per call: translated SQL, encoded values; empty between calls */
    bn_arena errors;  /* error strings of a call made without an arena */
};

/* ---- waiting --------------------------------------------------------------------------- */

/*
 * Waits until the connection's socket is ready for `events` (BN_IO_READ /
 * BN_IO_WRITE) or `deadline` (bn_clock_ms; 0: none) passes. Suspends the
 * task when there is one, else blocks in poll(). Returns the ready bits, 0 at
 * the deadline, -1 if the socket cannot be watched.
 */
static int wait_socket(PGconn *pg, unsigned events, uint64_t deadline)
{
    int fd = PQsocket(pg);
    if (fd < 0)
        return -1;
    for (;;) {
        int64_t left = -1;
        if (deadline) {
            uint64_t now = bn_clock_ms();
            if (now >= deadline)
                return 0;
            left = (int64_t)(deadline - now);
        }
        if (bn_task_self()) {
            int r = bn_wait_fd(fd, events, left);
            if (r < 0)
                return -1;
            if (r > 0)
                return r;
            continue; /* the timer, or a wake-up from elsewhere: check the deadline */
        }
        struct pollfd p = {.fd = fd,
                           .events = (short)(((events & BN_IO_READ) ? POLLIN : 0) | ((events & BN_IO_WRITE) ? POLLOUT : 0))};
        int n = poll(&p, 1, left < 0 ? -1 : left > INT_MAX ? INT_MAX : (int)left);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n > 0) {
            unsigned r = 0;
            if (p.revents & (POLLIN | POLLHUP | POLLERR))
                r |= BN_IO_READ;
            if (p.revents & (POLLOUT | POLLERR))
                r |= BN_IO_WRITE;
            if (p.revents & POLLNVAL)
                return -1;
            return (int)(r ? r : events);
        }
    }
}

/* ---- errors ---------------------------------------------------------------------------- */

/* libpq's messages end with a newline and may continue on indented lines: one line. */
static char *one_line(bn_arena *a, const char *msg)
{
    if (!msg || !*msg)
        msg = "unknown PostgreSQL error";
    size_t n = strlen(msg);
    char *out = a ? bn_arena_alloc(a, n + 1) : bn_xmalloc(n + 1);
    size_t len = 0;
    for (const char *p = msg; *p; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r') {
            if (len && out[len - 1] != ' ')
                out[len++] = ' ';
        } else {
            out[len++] = *p;
        }
    }
    while (len && out[len - 1] == ' ')
        len--;
    out[len] = '\0';
    return out;
}

static void set_error(bn_db_error *err, bn_arena *a, const char *sqlstate, const char *message,
                      const char *constraint)
{
    if (!err)
        return;
    *err = (bn_db_error){0};
    if (sqlstate)
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s", sqlstate);
    err->message = one_line(a, message);
    err->constraint = constraint ? bn_arena_strndup(a, constraint, strlen(constraint)) : NULL;
}

static int fail(bn_db_error *err, bn_arena *a, const char *sqlstate, const char *fmt, ...) BN_PRINTF(4, 5);
static int fail(bn_db_error *err, bn_arena *a, const char *sqlstate, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_error(err, a, sqlstate, msg, NULL);
    return -1;
}

/* An error of the connection itself (the socket closed, a write failed). */
static int fail_conn(bn_db_conn *c, bn_db_error *err, bn_arena *a)
{
    set_error(err, a, NULL, PQerrorMessage(c->pg), NULL);
    return -1;
}

static void set_result_error(bn_db_error *err, bn_arena *a, const PGresult *r)
{
    const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    set_error(err, a, PQresultErrorField(r, PG_DIAG_SQLSTATE), primary ? primary : PQresultErrorMessage(r),
              PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME));
}

/* Server notices (a NOTICE from DROP … IF EXISTS, a WARNING) go to the log, not stderr. */
static void notice_receiver(void *arg, const PGresult *r)
{
    (void)arg;
    const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (severity && strcmp(severity, "WARNING") == 0)
        bn_warn("postgres: %s: %s", severity, msg ? msg : "");
    else
        bn_debug("postgres: %s: %s", severity ? severity : "NOTICE", msg ? msg : "");
}

/* ---- connecting ------------------------------------------------------------------------ */

static char *heap_error(const char *prefix, const char *msg)
{
    char *line = one_line(NULL, msg);
    size_t n = strlen(prefix) + strlen(line) + 1;
    char *out = bn_xmalloc(n);
    snprintf(out, n, "%s%s", prefix, line);
    free(line);
    return out;
}

static bn_db_conn *pg_connect(const char *url, char **error)
{
    char *perr = NULL;
    PQconninfoOption *info = PQconninfoParse(url, &perr);
    if (!info) {
        *error = heap_error("invalid PostgreSQL URL: ", perr ? perr : "out of memory");
        PQfreemem(perr);
        return NULL;
    }
    /* Our session settings go after the URL's own options, which we keep. */
    const char *user_options = "";
    uint64_t timeout_ms = CONNECT_TIMEOUT_MS;
    for (PQconninfoOption *o = info; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "options") == 0)
            user_options = o->val;
        else if (strcmp(o->keyword, "connect_timeout") == 0 && atoi(o->val) > 0)
            timeout_ms = (uint64_t)atoi(o->val) * 1000;
    }
    char *options = bn_xmalloc(strlen(user_options) + 64);
    sprintf(options, "%s%s-c TimeZone=UTC -c DateStyle=ISO,YMD", user_options, *user_options ? " " : "");
    PQconninfoFree(info);

    /* expand_dbname: the URL sets everything; the later keywords override it. */
    const char *const keys[] = {"fallback_application_name", "dbname", "options", "client_encoding", NULL};
    const char *const vals[] = {"bennu", url, options, "UTF8", NULL};
    PGconn *pg = PQconnectStartParams(keys, vals, 1);
    free(options);
    if (!pg) {
        *error = bn_xstrdup("could not connect to PostgreSQL: out of memory");
        return NULL;
    }
    uint64_t deadline = bn_clock_ms() + timeout_ms;
    PostgresPollingStatusType st = PQstatus(pg) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        int ready = wait_socket(pg, st == PGRES_POLLING_READING ? BN_IO_READ : BN_IO_WRITE, deadline);
        if (ready <= 0) {
            *error = bn_xstrdup(ready == 0 ? "could not connect to PostgreSQL: timed out"
                                           : "could not connect to PostgreSQL: cannot watch the socket");
            PQfinish(pg);
            return NULL;
        }
        st = PQconnectPoll(pg);
    }
    if (st == PGRES_POLLING_FAILED || PQstatus(pg) != CONNECTION_OK) {
        *error = heap_error("could not connect to PostgreSQL: ", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    if (PQsetnonblocking(pg, 1) != 0) {
        *error = heap_error("could not connect to PostgreSQL: ", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeReceiver(pg, notice_receiver, NULL);
    bn_db_conn *c = bn_xcalloc(1, sizeof *c);
    c->pg = pg;
    return c;
}

static void pg_disconnect(bn_db_conn *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < STMT_SLOTS; i++) {
        if (c->slots[i]) {
            free(c->slots[i]->key);
            free(c->slots[i]);
        }
    }
    PQfinish(c->pg);
    bn_arena_destroy(&c->scratch);
    bn_arena_destroy(&c->errors);
    free(c);
}

/*
 * Unusable once libpq says so (the server closed the socket: a restart, an
 * administrator's kill) or once a cancelled statement never finished. An idle
 * connection's socket is checked without blocking, so a pool that asks before
 * handing a connection out never hands out one the server has dropped.
 */
static bool pg_broken(bn_db_conn *c)
{
    if (c->dead || PQstatus(c->pg) != CONNECTION_OK)
        return true;
    if (PQtransactionStatus(c->pg) == PQTRANS_ACTIVE)
        return false;
    /* Something arrived while idle: the FATAL a server sends as it shuts down, then EOF. */
    for (int i = 0; i < 4 && PQstatus(c->pg) == CONNECTION_OK; i++) {
        struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
        if (p.fd < 0 || poll(&p, 1, 0) <= 0)
            break;
        if (!PQconsumeInput(c->pg))
            return true;
        PGnotify *n;
        while ((n = PQnotifies(c->pg)))
            PQfreemem(n);
    }
    return PQstatus(c->pg) != CONNECTION_OK;
}

/* ---- SQL text -------------------------------------------------------------------------- */

static bool ident_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '$' || (unsigned char)ch >= 0x80;
}

/* At `p` (just after `$`): a dollar-quote tag "tag$" or "$"? Its length with the `$`, else 0. */
static size_t dollar_tag(const char *p)
{
    size_t n = 0;
    if (p[0] >= '0' && p[0] <= '9')
        return 0; /* $1: a positional parameter */
    while (p[n] && p[n] != '$') {
        if (!ident_char(p[n]) || p[n] == '$')
            return 0;
        n++;
    }
    return p[n] == '$' ? n + 1 : 0;
}

/*
 * Copies `sql` with each `?` outside string literals, quoted identifiers,
 * dollar quotes and comments replaced by $1, $2…; counts them in *holes and
 * notes in *multi whether another statement follows a `;`.
 */
static char *translate(bn_arena *a, const char *sql, size_t *holes, bool *multi)
{
    size_t len = strlen(sql), marks = 0;
    for (size_t i = 0; i < len; i++)
        marks += sql[i] == '?';
    char *out = bn_arena_alloc(a, len + marks * 10 + 1), *o = out;
    size_t n = 0;
    bool ended = false; /* a top-level `;` was seen */
    *multi = false;
    const char *p = sql;
    while (*p) {
        const char *start = p;
        char ch = *p;
        bool significant = true; /* not blank, not a comment, not `;` */
        if (ch == '\'' || ch == '"') {
            /* E'…' strings take backslash escapes; all of them double their quote. */
            bool escapes = ch == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
                           (p - 1 == sql || !ident_char(p[-2]));
            for (p++; *p; p++) {
                if (escapes && *p == '\\' && p[1])
                    p++;
                else if (*p == ch && p[1] == ch)
                    p++;
                else if (*p == ch) {
                    p++;
                    break;
                }
            }
        } else if (ch == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
            significant = false;
        } else if (ch == '/' && p[1] == '*') {
            for (int depth = 0; *p;) {
                if (p[0] == '/' && p[1] == '*') {
                    depth++;
                    p += 2;
                } else if (p[0] == '*' && p[1] == '/') {
                    p += 2;
                    if (--depth == 0)
                        break;
                } else {
                    p++;
                }
            }
            significant = false;
        } else if (ch == '$' && (p == sql || !ident_char(p[-1])) && dollar_tag(p + 1)) {
            size_t tag = dollar_tag(p + 1) + 1; /* the length of "$tag$" */
            const char *close = p + tag;
            while (*close && strncmp(close, p, tag) != 0)
                close++;
            p = *close ? close + tag : close;
        } else if (ch == '?') {
            if (ended)
                *multi = true;
            o += sprintf(o, "$%zu", ++n);
            p++;
            continue;
        } else {
            significant = ch != ';' && ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r';
            ended |= ch == ';';
            p++;
        }
        if (ended && significant)
            *multi = true;
        memcpy(o, start, (size_t)(p - start));
        o += p - start;
    }
    *o = '\0';
    *holes = n;
    return out;
}

/* Data statements are worth preparing; BEGIN, SAVEPOINT sp_3, DDL are not. */
static bool cacheable(const char *sql)
{
    const char *p = sql;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '(')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            if (!end)
                return false;
            p = end + 2;
        } else {
            break;
        }
    }
    static const char *const words[] = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES", "TABLE"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t n = strlen(words[i]);
        if (strncasecmp(p, words[i], n) == 0 && !ident_char(p[n]))
            return true;
    }
    return false;
}

/* ---- values ---------------------------------------------------------------------------- */

/* Days since 1970-01-01 to a proleptic Gregorian date. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* PostgreSQL writes year 0 as 1 BC. */
static void format_date(char *buf, size_t cap, int64_t y, unsigned m, unsigned d)
{
    if (y > 0)
        snprintf(buf, cap, "%04lld-%02u-%02u", (long long)y, m, d);
    else
        snprintf(buf, cap, "%04lld-%02u-%02u BC", (long long)(1 - y), m, d);
}

static void format_datetime(char *buf, size_t cap, bn_datetime t)
{
    int64_t secs = t / 1000000, us = t % 1000000;
    if (us < 0) {
        us += 1000000;
        secs--;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char date[32];
    snprintf(date, sizeof date, "%04lld-%02u-%02u", (long long)(y > 0 ? y : 1 - y), m, d);
    snprintf(buf, cap, "%s %02u:%02u:%02u.%06u+00%s", date, (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60),
             (unsigned)(sod % 60), (unsigned)us, y > 0 ? "" : " BC");
}

/* The shortest text that reads back as the same double. */
static void format_float(char *buf, size_t cap, double f)
{
    if (isnan(f)) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, cap, f > 0 ? "Infinity" : "-Infinity");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, f);
        if (strtod(buf, NULL) == f)
            return;
    }
}

typedef struct encoded {
    const char **values;
    int *lengths, *formats;
    Oid *types;
    char *signature; /* one letter per value: its type as the statement was prepared */
} encoded;

/*
 * Encodes the values as libpq parameters in `a`: text except bytes.
 * Booleans and bytes carry their type; the others are left for the server to
 * infer from the statement, as a literal would be: a string may go to a uuid,
 * a jsonb or a timestamp column, an integer to an int4, a numeric, or a
 * boolean column (C's `true` is an int: BN_DB(true) binds 1, which a boolean
 * column reads as true). Fails on text holding a NUL byte, which PostgreSQL's
 * text types cannot store.
 */
static int encode(bn_arena *a, const bn_db_value *params, size_t n, encoded *e, bn_db_error *err, bn_arena *ea)
{
    e->values = bn_arena_alloc(a, (n ? n : 1) * sizeof *e->values);
    e->lengths = bn_arena_alloc(a, (n ? n : 1) * sizeof *e->lengths);
    e->formats = bn_arena_alloc(a, (n ? n : 1) * sizeof *e->formats);
    e->types = bn_arena_alloc(a, (n ? n : 1) * sizeof *e->types);
    e->signature = bn_arena_alloc(a, n + 1);
    for (size_t i = 0; i < n; i++) {
        const bn_db_value *v = &params[i];
        char buf[64];
        const char *text = NULL;
        e->lengths[i] = 0;
        e->formats[i] = 0;
        e->types[i] = 0;
        e->signature[i] = 'u';
        switch (v->type) {
        case BN_TYPE_NULL:
            break;
        case BN_TYPE_ID:
        case BN_TYPE_INTEGER:
        case BN_TYPE_BIGINT:
            snprintf(buf, sizeof buf, "%lld", (long long)v->u.i);
            text = buf;
            break;
        case BN_TYPE_FLOAT:
            format_float(buf, sizeof buf, v->u.f);
            text = buf;
            break;
        case BN_TYPE_BOOLEAN:
            text = v->u.b ? "t" : "f";
            e->types[i] = OID_BOOL;
            e->signature[i] = 'b';
            break;
        case BN_TYPE_STRING:
        case BN_TYPE_TEXT:
        case BN_TYPE_DECIMAL:
        case BN_TYPE_UUID:
            if (v->u.s.len && memchr(v->u.s.ptr, '\0', v->u.s.len))
                return fail(err, ea, "22021",
                            "invalid byte sequence for encoding \"UTF8\": 0x00 (value %zu is text holding a NUL "
                            "byte, which PostgreSQL cannot store; bind bytes with bn_db_bytes)",
                            i + 1);
            text = bn_arena_strndup(a, v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len);
            break;
        case BN_TYPE_BINARY:
            if (v->u.s.len > INT_MAX)
                return fail(err, ea, "54000", "value %zu is too long (%zu bytes)", i + 1, v->u.s.len);
            e->values[i] = v->u.s.ptr ? v->u.s.ptr : "";
            e->lengths[i] = (int)v->u.s.len;
            e->formats[i] = 1;
            e->types[i] = OID_BYTEA;
            e->signature[i] = 'y';
            continue;
        case BN_TYPE_DATE:
            format_date(buf, sizeof buf, v->u.date.year, v->u.date.month, v->u.date.day);
            text = buf;
            break;
        case BN_TYPE_UTC_DATETIME:
            format_datetime(buf, sizeof buf, v->u.t);
            text = buf;
            break;
        case BN_TYPE_JSON:
            if (v->u.json) {
                bn_buf out = BN_BUF_INIT;
                bn_json_encode(&out, v->u.json);
                text = bn_arena_strndup(a, out.data ? out.data : "", out.len);
                bn_buf_free(&out);
            }
            break;
        default:
            return fail(err, ea, "", "value %zu has an unknown type (%d)", i + 1, (int)v->type);
        }
        if (text == buf)
            text = bn_arena_strndup(a, buf, strlen(buf));
        e->values[i] = text;
    }
    e->signature[n] = '\0';
    return 0;
}

/* bytea's text output: "\x0a1b…" (hex, the default) or the old escape format. */
static bn_str decode_bytea(bn_arena *a, const char *s, size_t len)
{
    if (len >= 2 && s[0] == '\\' && s[1] == 'x') {
        size_t n = (len - 2) / 2;
        char *out = bn_arena_alloc(a, n + 1);
        if (bn_hex_decode_to((uint8_t *)out, bn_str_make(s + 2, len - 2))) {
            out[n] = '\0';
            return bn_str_make(out, n);
        }
        /* not hex after all: libpq's decoder below handles every form */
    }
    size_t n = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)s, &n);
    char *out = bn_arena_alloc(a, n + 1);
    if (raw && n)
        memcpy(out, raw, n);
    out[n] = '\0';
    PQfreemem(raw);
    return bn_str_make(out, raw ? n : 0);
}

static bn_db_value read_cell(bn_arena *a, Oid type, const char *s, size_t len)
{
    switch (type) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        return (bn_db_value){.type = BN_TYPE_BIGINT, .u.i = strtoll(s, NULL, 10)};
    case OID_FLOAT4:
    case OID_FLOAT8:
        return (bn_db_value){.type = BN_TYPE_FLOAT, .u.f = strtod(s, NULL)};
    case OID_BOOL:
        return (bn_db_value){.type = BN_TYPE_BOOLEAN, .u.b = s[0] == 't'};
    case OID_BYTEA:
        return (bn_db_value){.type = BN_TYPE_BINARY, .u.s = decode_bytea(a, s, len)};
    case OID_NUMERIC:
        return (bn_db_value){.type = BN_TYPE_DECIMAL, .u.s = bn_str_make(bn_arena_strndup(a, s, len), len)};
    case OID_TIMESTAMPTZ:
        /* Sessions run in UTC: "2024-01-31 12:00:00+00" reads as "…Z". */
        if (len >= 3 && strcmp(s + len - 3, "+00") == 0) {
            char *t = bn_arena_strndup(a, s, len - 2);
            t[len - 3] = 'Z';
            return (bn_db_value){.type = BN_TYPE_TEXT, .u.s = bn_str_make(t, len - 2)};
        }
        break;
    default:
        break;
    }
    /* text, varchar, json, jsonb, uuid, date, timestamp and the rest: the text as it came. */
    return (bn_db_value){.type = BN_TYPE_TEXT, .u.s = bn_str_make(bn_arena_strndup(a, s, len), len)};
}

static void read_rows(const PGresult *r, bn_arena *a, bn_db_rows *rows)
{
    size_t nrows = (size_t)PQntuples(r), ncols = (size_t)PQnfields(r);
    const char **columns = bn_arena_alloc(a, (ncols ? ncols : 1) * sizeof *columns);
    Oid *types = bn_arena_alloc(a, (ncols ? ncols : 1) * sizeof *types);
    for (size_t j = 0; j < ncols; j++) {
        const char *name = PQfname(r, (int)j);
        columns[j] = bn_arena_strndup(a, name, strlen(name));
        types[j] = PQftype(r, (int)j);
    }
    size_t ncells = nrows * ncols;
    bn_db_value *cells = bn_arena_alloc(a, (ncells ? ncells : 1) * sizeof *cells);
    for (size_t i = 0; i < nrows; i++) {
        for (size_t j = 0; j < ncols; j++) {
            bn_db_value *cell = &cells[i * ncols + j];
            if (PQgetisnull(r, (int)i, (int)j))
                *cell = BN_DB_NULL;
            else
                *cell = read_cell(a, types[j], PQgetvalue(r, (int)i, (int)j),
                                  (size_t)PQgetlength(r, (int)i, (int)j));
        }
    }
    *rows = (bn_db_rows){.nrows = nrows, .ncols = ncols, .columns = columns, .cells = cells};
}

/* ---- talking to the server ------------------------------------------------------------- */

typedef struct call {
    bn_db_conn *c;
    uint64_t deadline;   /* 0: none */
    uint64_t timeout_ms;
    bool cancelled;      /* the deadline passed and a cancel was sent */
    bn_arena *a;         /* results and errors */
    bn_db_error *err;
} call;

/* The deadline passed: asks the server to cancel, then gives it a while to answer. */
static void cancel(call *k);

/* A wait ran out: the first time, cancel (0: wait on); after the cancel, the connection is
 * given up (-1 with the error). */
static int timed_out(call *k)
{
    if (!k->cancelled) {
        cancel(k);
        return 0;
    }
    k->c->dead = true;
    return fail(k->err, k->a, "57014", "the statement was cancelled but the server did not answer");
}

static void cancel(call *k)
{
    PGcancel *pc = PQgetCancel(k->c->pg);
    char buf[256];
    if (pc) {
        /* A short blocking round trip on a separate connection (libpq 15 has no async cancel). */
        if (!PQcancel(pc, buf, sizeof buf))
            bn_warn("postgres: cancel failed: %s", buf);
        PQfreeCancel(pc);
    }
    k->cancelled = true;
    k->deadline = bn_clock_ms() + DRAIN_TIMEOUT_MS;
}

/* Sends what libpq has buffered. */
static int flush(call *k)
{
    PGconn *pg = k->c->pg;
    for (;;) {
        int r = PQflush(pg);
        if (r == 0)
            return 0;
        if (r < 0)
            return fail_conn(k->c, k->err, k->a);
        int ready = wait_socket(pg, BN_IO_READ | BN_IO_WRITE, k->deadline);
        if (ready < 0)
            return fail_conn(k->c, k->err, k->a);
        if (ready == 0) {
            if (timed_out(k) < 0)
                return -1;
            continue;
        }
        /* The server may be waiting for us to read before it reads more. */
        if ((ready & BN_IO_READ) && !PQconsumeInput(pg))
            return fail_conn(k->c, k->err, k->a);
    }
}

/*
 * Reads every result of the statement sent last. Keeps the last result
 * set in *rows (when asked) and the rows affected in *changes; the first
 * error wins. Returns 0 or -1.
 */
static int collect(call *k, bn_db_rows *rows, int64_t *changes)
{
    PGconn *pg = k->c->pg;
    bool failed = false, lost = false;
    for (;;) {
        while (!lost && PQisBusy(pg)) {
            int ready = wait_socket(pg, BN_IO_READ, k->deadline);
            if (ready < 0)
                return fail_conn(k->c, k->err, k->a);
            if (ready == 0) {
                if (timed_out(k) < 0)
                    return -1;
                continue;
            }
            /* The connection is gone: what arrived before (the server's FATAL) is
             * still parsed by PQgetResult, which cannot block any more. */
            if (!PQconsumeInput(pg))
                lost = true;
        }
        PGresult *r = PQgetResult(pg);
        if (!r)
            break;
        switch (PQresultStatus(r)) {
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY:
            if (!failed) {
                if (rows)
                    read_rows(r, k->a, rows);
                if (changes) {
                    const char *n = PQcmdTuples(r);
                    *changes = *n ? strtoll(n, NULL, 10) : 0;
                }
            }
            break;
        case PGRES_COPY_IN: {
            /* Ends the copy with an error, which the server sends back as the statement's. */
            int sent;
            while ((sent = PQputCopyEnd(pg, "COPY FROM STDIN is not supported by Bennu's adapter")) == 0)
                if (flush(k) < 0)
                    break;
            if (sent < 0 || flush(k) < 0) {
                PQclear(r);
                return sent < 0 ? fail_conn(k->c, k->err, k->a) : -1;
            }
            break;
        }
        case PGRES_COPY_OUT: {
            char *buf;
            int n;
            while ((n = PQgetCopyData(pg, &buf, 1)) != -1) {
                if (n == -2) {
                    PQclear(r);
                    return fail_conn(k->c, k->err, k->a);
                }
                if (n > 0) {
                    PQfreemem(buf);
                    continue;
                }
                int ready = wait_socket(pg, BN_IO_READ, k->deadline);
                if (ready <= 0 || !PQconsumeInput(pg)) {
                    PQclear(r);
                    k->c->dead = true;
                    return fail(k->err, k->a, "", "COPY TO STDOUT is not supported by Bennu's adapter");
                }
            }
            if (!failed) {
                failed = true;
                fail(k->err, k->a, "0A000", "COPY TO STDOUT is not supported by Bennu's adapter");
            }
            break;
        }
        default: /* FATAL_ERROR, BAD_RESPONSE, NONFATAL_ERROR */
            if (!failed) {
                failed = true;
                set_result_error(k->err, k->a, r);
            }
            break;
        }
        PQclear(r);
    }
    if (failed && k->cancelled) {
        k->err->timeout = true;
        k->err->message = bn_arena_printf(k->a, "the statement took longer than %llu ms and was cancelled",
                                          (unsigned long long)k->timeout_ms);
    }
    return failed ? -1 : 0;
}

/* ---- the prepared statement cache ------------------------------------------------------ */

static uint64_t hash_key(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

static size_t stmt_slot(const bn_db_conn *c, const char *key, size_t len, uint64_t hash)
{
    size_t i = hash & (STMT_SLOTS - 1);
    while (c->slots[i] &&
           !(c->slots[i]->hash == hash && c->slots[i]->key_len == len && memcmp(c->slots[i]->key, key, len) == 0))
        i = (i + 1) & (STMT_SLOTS - 1);
    return i;
}

/* Removes slot i, shifting back the entries of its probe run (no tombstones). */
static void stmt_remove(bn_db_conn *c, size_t i)
{
    free(c->slots[i]->key);
    free(c->slots[i]);
    c->slots[i] = NULL;
    c->nstmts--;
    for (size_t j = (i + 1) & (STMT_SLOTS - 1); c->slots[j]; j = (j + 1) & (STMT_SLOTS - 1)) {
        size_t home = c->slots[j]->hash & (STMT_SLOTS - 1);
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            c->slots[i] = c->slots[j];
            c->slots[j] = NULL;
            i = j;
        }
    }
}

/* Runs a statement of our own that returns nothing (DEALLOCATE). */
static int run_simple(call *k, const char *sql)
{
    if (!PQsendQuery(k->c->pg, sql))
        return fail_conn(k->c, k->err, k->a);
    if (flush(k) < 0)
        return -1;
    return collect(k, NULL, NULL);
}

/* Drops the statement in slot i, on the server too. */
static int stmt_forget(call *k, size_t i)
{
    char sql[32];
    snprintf(sql, sizeof sql, "DEALLOCATE bn%u", k->c->slots[i]->id);
    stmt_remove(k->c, i);
    return run_simple(k, sql);
}

/* Makes room by dropping the least recently used statement. */
static int stmt_evict(call *k)
{
    size_t oldest = STMT_SLOTS;
    for (size_t i = 0; i < STMT_SLOTS; i++)
        if (k->c->slots[i] && (oldest == STMT_SLOTS || k->c->slots[i]->last_used < k->c->slots[oldest]->last_used))
            oldest = i;
    return stmt_forget(k, oldest);
}

/* ---- exec ------------------------------------------------------------------------------ */

static bool stale_plan(const bn_db_error *err)
{
    return strcmp(err->sqlstate, "0A000") == 0 && strstr(err->message, "cached plan must not change result type");
}

static int exec_statement(bn_db_conn *c, const char *sql, const bn_db_value *params, size_t nparams, bn_arena *ea,
                          bn_db_rows *rows, int64_t *changes, uint64_t timeout_ms, bn_db_error *err)
{
    call k = {.c = c, .deadline = timeout_ms ? bn_clock_ms() + timeout_ms : 0, .timeout_ms = timeout_ms,
              .a = ea, .err = err};
    if (c->dead || PQstatus(c->pg) != CONNECTION_OK)
        return fail(err, ea, "08003", "the connection to PostgreSQL is broken");
    if (nparams > MAX_PARAMS)
        return fail(err, ea, "54000", "too many values for one statement (%zu, at most %d)", nparams, MAX_PARAMS);
    encoded e;
    if (encode(&c->scratch, params, nparams, &e, err, ea) < 0)
        return -1;

    /* The cache key: the SQL as given, '\0', the value types. */
    size_t sql_len = strlen(sql), key_len = sql_len + 1 + nparams;
    bool prepare = sql_len <= STMT_MAX_SQL && cacheable(sql);
    char *key = bn_arena_alloc(&c->scratch, key_len + 1);
    memcpy(key, sql, sql_len + 1);
    memcpy(key + sql_len + 1, e.signature, nparams + 1);
    uint64_t hash = prepare ? hash_key(key, key_len) : 0;
    pg_stmt *st = prepare ? c->slots[stmt_slot(c, key, key_len, hash)] : NULL;

    for (int attempt = 0;; attempt++) {
        if (!st) {
            size_t holes;
            bool multi;
            const char *text = translate(&c->scratch, sql, &holes, &multi);
            if (!nparams)
                text = sql; /* no values: a `?` is an operator (jsonb's) */
            else if (holes != nparams)
                return fail(err, ea, "08P01", "the statement has %zu placeholders but %zu values were bound", holes,
                            nparams);
            /* A failed transaction refuses PREPARE and DEALLOCATE alike: run it unnamed. */
            if (!prepare || multi || PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
                /* The simple protocol when there are no values: a migration may hold several statements. */
                int sent = nparams ? PQsendQueryParams(c->pg, text, (int)nparams, e.types, e.values, e.lengths,
                                                       e.formats, 0)
                                   : PQsendQuery(c->pg, text);
                if (!sent)
                    return fail_conn(c, err, ea);
                if (flush(&k) < 0)
                    return -1;
                return collect(&k, rows, changes);
            }
            if (c->nstmts >= STMT_MAX && stmt_evict(&k) < 0)
                return -1;
            char name[16];
            snprintf(name, sizeof name, "bn%u", c->next_id);
            if (!PQsendPrepare(c->pg, name, text, (int)nparams, e.types))
                return fail_conn(c, err, ea);
            if (flush(&k) < 0 || collect(&k, NULL, NULL) < 0)
                return -1;
            st = bn_xcalloc(1, sizeof *st);
            st->key = bn_xmalloc(key_len + 1);
            memcpy(st->key, key, key_len + 1);
            st->key_len = key_len;
            st->hash = hash;
            st->id = c->next_id++;
            c->slots[stmt_slot(c, key, key_len, hash)] = st;
            c->nstmts++;
        }
        st->last_used = ++c->tick;
        char name[16];
        snprintf(name, sizeof name, "bn%u", st->id);
        if (!PQsendQueryPrepared(c->pg, name, (int)nparams, e.values, e.lengths, e.formats, 0))
            return fail_conn(c, err, ea);
        if (flush(&k) < 0)
            return -1;
        int rc = collect(&k, rows, changes);
        if (rc == 0 || k.cancelled || !stale_plan(err))
            return rc;
        /*
         * A migration changed a table under a cached `SELECT *`: the statement
         * must be prepared again. Outside a transaction the failed run left
         * nothing behind, so it is retried once; inside one the caller sees
         * the error (and the next call prepares afresh).
         */
        size_t slot = stmt_slot(c, key, key_len, hash);
        if (PQtransactionStatus(c->pg) != PQTRANS_IDLE || attempt > 0) {
            /* DEALLOCATE would fail in the failed transaction: the server keeps the unused statement. */
            stmt_remove(c, slot);
            return -1;
        }
        bn_db_error saved = *err;
        if (stmt_forget(&k, slot) < 0) {
            *err = saved;
            return -1;
        }
        st = NULL;
    }
}

static int pg_exec(bn_db_conn *c, const char *sql, const bn_db_value *params, size_t nparams, bn_arena *a,
                   bn_db_rows *rows, int64_t *changes, uint64_t timeout_ms, bn_db_error *err)
{
    bn_db_error local;
    if (!err)
        err = &local;
    /* Without an arena, error strings live in the connection's until its next call. */
    bn_arena_reset(&c->errors);
    if (rows)
        *rows = (bn_db_rows){0};
    if (changes)
        *changes = 0;
    int rc = exec_statement(c, sql, params, nparams, a ? a : &c->errors, rows, changes, timeout_ms, err);
    /* An idle connection holds no copies of values, however big they were. */
    bn_arena_reset(&c->scratch);
    /* Given up in the middle of a statement (its results never read): unusable. */
    if (rc < 0 && PQtransactionStatus(c->pg) == PQTRANS_ACTIVE)
        c->dead = true;
    return rc;
}

const bn_adapter bn__postgres_adapter = {
    .kind = BN_DB_POSTGRES,
    .name = "postgres",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .exec = pg_exec,
    .broken = pg_broken,
};
