/*
 * The Repo: opening a database, the connection pools, running statements
 * (with the query log line), the CRUD calls on schemas, transactions and the
 * test sandbox.
 *
 * Pools. A connection is used by one loop thread at a time, so each loop
 * thread that uses a repo gets its own sub-pool of ceil(pool_size / threads)
 * connections (at least one), made when first needed; threads without a loop
 * share one more sub-pool. A checkout takes a free connection of the
 * caller's sub-pool; when all are busy a task queues (FIFO) until one is
 * checked in or checkout_timeout_ms passes, and code outside a task fails at
 * once. A connection the adapter calls broken (it broke in its last
 * statement, or the server closed it while it was idle) is closed and
 * replaced at the next checkout, so a server restart costs no failed query
 * when the server said goodbye before the query came.
 *
 * PostgreSQL aborts a transaction at its first failed statement and turns
 * the COMMIT into a rollback: a transaction whose fn returns 0 after such a
 * failure is rolled back and reported as failed (SQLite undoes only the
 * failed statement, and commits the rest).
 *
 * Bound repos. A transaction's `tx` and a sandbox are repos bound to one
 * checked-out connection: every call made through them (here or in query.c,
 * which goes through bn__repo_exec) runs on it. A gate lets one task at a
 * time use the connection (re-entrant for that task); a nested transaction
 * holds the gate from SAVEPOINT to RELEASE. While a task runs a transaction,
 * its calls on the root repo also go to the transaction's connection (as
 * in Ecto), so a helper that was handed the root repo cannot deadlock on
 * the connection its own task holds.
 *
 * Errors of calls that take no arena (delete, insert_all, transaction,
 * sandbox) keep their strings in a small per-thread ring: they stay valid
 * until eight more such errors happened on the thread.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#include "bennu/runtime.h"
#include "data/data_internal.h"

#define DEFAULT_POOL_SIZE 10
#define DEFAULT_TIMEOUT_MS 15000
#define SQLITE_MAX_PARAMS 32766 /* SQLITE_MAX_VARIABLE_NUMBER since 3.32 */
#define POSTGRES_MAX_PARAMS 65535

/* ------------------------------------------------------------------------ */
/* Types                                                                      */

typedef struct slot {
    bn_db_conn *conn; /* NULL until first needed, or after a broken one was closed */
    bool busy;
} slot;

typedef struct subpool {
    bool has_loop;
    unsigned loop_id;
    pthread_mutex_t mu; /* slots and waiters: a bound repo may check in from another thread */
    size_t size;
    slot *slots;
    bn_list waiters;
} subpool;

typedef struct bound {
    subpool *sub;
    slot *slot;
    pthread_mutex_t mu; /* the gate */
    const void *owner;  /* the task (or thread) using the connection */
    unsigned holds;
    bn_list waiters;
    unsigned depth; /* savepoints open */
    bool sandbox;
    bool aborted; /* PostgreSQL: a statement failed outside savepoints, COMMIT would roll back */
} bound;

struct bn_repo {
    bn_repo *root; /* itself, for the repo bn_repo_open made */
    bound *bound;  /* NULL for the root */
    /* The root's own: */
    const bn_adapter *adapter;
    char *url;
    size_t per_thread;
    uint64_t checkout_timeout_ms, query_timeout_ms;
    bool quiet;
    uint64_t serial; /* never reused, unlike addresses: keys the per-thread cache */
    pthread_mutex_t mu;
    subpool **subs;
    size_t nsubs;
};

/* ------------------------------------------------------------------------ */
/* Errors                                                                     */

#define RING_SIZE 8
static _Thread_local char err_ring[RING_SIZE][512];
static _Thread_local unsigned err_ring_next;

static const char *ring_copy(const char *s)
{
    if (!s)
        return NULL;
    char *d = err_ring[err_ring_next++ % RING_SIZE];
    size_t n = strnlen(s, sizeof err_ring[0] - 1); /* longer messages are cut */
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int vfail(bn_db_error *err, bn_arena *a, bool timeout, const char *fmt, va_list ap)
{
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (!err) {
        bn_warn("%s", buf);
        return -1;
    }
    memset(err, 0, sizeof *err);
    err->message = a ? bn_arena_strndup(a, buf, strlen(buf)) : ring_copy(buf);
    err->timeout = timeout;
    return -1;
}

int bn__db_fail(bn_db_error *err, bn_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, a, false, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_timeout(bn_db_error *err, bn_arena *a, const char *fmt, ...) BN_PRINTF(3, 4);
static int fail_timeout(bn_db_error *err, bn_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, a, true, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Waiting in a queue (a pool's or a gate's)                                  */

typedef struct waiter {
    bn_list link; /* in the queue, guarded by *mu */
    pthread_mutex_t *mu;
    bn_task *task;
    bn_loop *loop;
    bn_timer timer;
    bn_msg msg; /* wakes the task when the grant comes from another thread */
    void *granted;
    bool timed_out;
} waiter;

static void waiter_timer(bn_timer *t)
{
    waiter *w = bn_container_of(t, waiter, timer);
    pthread_mutex_lock(w->mu);
    if (bn_list_linked(&w->link)) { /* not granted meanwhile */
        bn_list_remove(&w->link);
        w->timed_out = true;
        bn_task_wake(w->task);
    }
    pthread_mutex_unlock(w->mu);
}

static void waiter_msg(bn_msg *m) { bn_task_wake(bn_container_of(m, waiter, msg)->task); }

/* Hands `what` to the first waiter of `queue` (its mutex held); false if none. */
static bool grant_first(bn_list *queue, void *what)
{
    bn_list *n = bn_list_pop_front(queue);
    if (!n)
        return false;
    waiter *w = bn_container_of(n, waiter, link);
    w->granted = what;
    if (bn_loop_current() == w->loop) {
        bn_task_wake(w->task);
    } else {
        w->msg.run = waiter_msg;
        bn_loop_post(w->loop, &w->msg);
    }
    return true;
}

/* Queues the calling task on `queue`, whose mutex `mu` the caller holds, and
 * suspends until granted or `timeout_ms` (0: none) passes. Returns what was
 * granted, or NULL; `mu` is released either way. */
static void *wait_in(bn_list *queue, pthread_mutex_t *mu, uint64_t timeout_ms)
{
    waiter w = {.mu = mu, .task = bn_task_self(), .loop = bn_loop_current()};
    bn_list_init(&w.link);
    bn_list_push_back(queue, &w.link);
    bn_timer_init(&w.timer, waiter_timer);
    if (timeout_ms)
        bn_timer_start(w.loop, &w.timer, timeout_ms);
    for (;;) {
        pthread_mutex_unlock(mu);
        bn_task_suspend();
        pthread_mutex_lock(mu);
        if (w.granted || w.timed_out)
            break;
    }
    pthread_mutex_unlock(mu);
    bn_timer_stop(&w.timer);
    return w.granted;
}

/* ------------------------------------------------------------------------ */
/* Pools                                                                      */

static atomic_uint_fast64_t next_serial = 1;

static _Thread_local struct {
    uint64_t serial;
    bool has_loop;
    unsigned loop_id;
    subpool *sub;
} sub_cache;

static subpool *subpool_for(bn_repo *r)
{
    bn_loop *loop = bn_loop_current();
    bool has_loop = loop != NULL;
    unsigned id = loop ? bn_loop_id(loop) : 0;
    if (sub_cache.sub && sub_cache.serial == r->serial && sub_cache.has_loop == has_loop &&
        sub_cache.loop_id == id)
        return sub_cache.sub;
    pthread_mutex_lock(&r->mu);
    subpool *sub = NULL;
    for (size_t i = 0; i < r->nsubs && !sub; i++)
        if (r->subs[i]->has_loop == has_loop && r->subs[i]->loop_id == id)
            sub = r->subs[i];
    if (!sub) {
        sub = bn_xcalloc(1, sizeof *sub);
        sub->has_loop = has_loop;
        sub->loop_id = id;
        pthread_mutex_init(&sub->mu, NULL);
        sub->size = r->per_thread;
        sub->slots = bn_xcalloc(sub->size, sizeof(slot));
        bn_list_init(&sub->waiters);
        r->subs = bn_xrealloc(r->subs, (r->nsubs + 1) * sizeof *r->subs);
        r->subs[r->nsubs++] = sub;
    }
    pthread_mutex_unlock(&r->mu);
    sub_cache.serial = r->serial;
    sub_cache.has_loop = has_loop;
    sub_cache.loop_id = id;
    sub_cache.sub = sub;
    return sub;
}

static void checkin(subpool *sub, slot *s)
{
    pthread_mutex_lock(&sub->mu);
    if (!grant_first(&sub->waiters, s))
        s->busy = false;
    pthread_mutex_unlock(&sub->mu);
}

static int checkout(bn_repo *root, subpool **subp, slot **slotp, bn_arena *a, bn_db_error *err)
{
    subpool *sub = subpool_for(root);
    pthread_mutex_lock(&sub->mu);
    slot *s = NULL;
    for (size_t i = 0; i < sub->size; i++) {
        slot *c = &sub->slots[i];
        if (!c->busy && (!s || (c->conn && !s->conn)))
            s = c;
    }
    if (s) {
        s->busy = true;
        pthread_mutex_unlock(&sub->mu);
    } else if (!bn_task_self()) {
        pthread_mutex_unlock(&sub->mu);
        return fail_timeout(err, a,
                            "connection not available: all %zu connection%s of this thread are in use, and "
                            "code outside a task cannot wait for one",
                            sub->size, sub->size == 1 ? "" : "s");
    } else {
        s = wait_in(&sub->waiters, &sub->mu, root->checkout_timeout_ms);
        if (!s)
            return fail_timeout(err, a, "connection not available after %llu ms",
                                (unsigned long long)root->checkout_timeout_ms);
    }
    /* A connection that broke (in its last statement, or idle: the server
     * went away) is replaced before anyone uses it. */
    if (s->conn && root->adapter->broken(s->conn)) {
        root->adapter->disconnect(s->conn);
        s->conn = NULL;
    }
    if (!s->conn) {
        char *why = NULL;
        s->conn = root->adapter->connect(root->url, &why);
        if (!s->conn) {
            bn__db_fail(err, a, "%s", why ? why : "cannot connect");
            free(why);
            checkin(sub, s);
            return -1;
        }
    }
    *subp = sub;
    *slotp = s;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Gates of bound repos                                                       */

static const void *current_owner(void)
{
    static _Thread_local char thread_token;
    bn_task *t = bn_task_self();
    return t ? (const void *)t : (const void *)&thread_token;
}

/* timeout_ms 0: wait as long as it takes (ending a transaction must happen). */
static int gate_enter(bn_repo *root, bound *b, uint64_t timeout_ms, bn_arena *a, bn_db_error *err)
{
    const void *me = current_owner();
    pthread_mutex_lock(&b->mu);
    if (b->holds == 0 || b->owner == me) {
        b->owner = me;
        b->holds++;
        pthread_mutex_unlock(&b->mu);
        return 0;
    }
    if (!bn_task_self()) {
        pthread_mutex_unlock(&b->mu);
        return fail_timeout(err, a, "the connection of this %s is in use by a task",
                            b->sandbox ? "sandbox" : "transaction");
    }
    if (!wait_in(&b->waiters, &b->mu, timeout_ms))
        return fail_timeout(err, a, "connection not available after %llu ms (another task is using this %s)",
                            (unsigned long long)root->checkout_timeout_ms, b->sandbox ? "sandbox" : "transaction");
    return 0; /* the releaser made us the owner */
}

static void gate_leave(bound *b)
{
    pthread_mutex_lock(&b->mu);
    if (--b->holds == 0) {
        bn_list *first = b->waiters.next;
        if (first != &b->waiters) {
            b->owner = bn_container_of(first, waiter, link)->task;
            b->holds = 1;
            grant_first(&b->waiters, b);
        } else {
            b->owner = NULL;
        }
    }
    pthread_mutex_unlock(&b->mu);
}

static void bound_init(bound *b, subpool *sub, slot *s, bool sandbox)
{
    *b = (bound){.sub = sub, .slot = s, .sandbox = sandbox};
    pthread_mutex_init(&b->mu, NULL);
    bn_list_init(&b->waiters);
}

/* The transactions running on this thread, by task: calls a task makes on a
 * root repo while it runs a transaction on it go to the transaction. */
typedef struct active_tx {
    bn_list link;
    const bn_repo *root;
    const void *owner;
    bn_repo *tx;
} active_tx;
static _Thread_local bn_list active_txs;

static bn_repo *active_tx_for(const bn_repo *root)
{
    if (!active_txs.next)
        return NULL;
    const void *me = current_owner();
    for (bn_list *n = active_txs.next; n != &active_txs; n = n->next) {
        active_tx *t = bn_container_of(n, active_tx, link);
        if (t->root == root && t->owner == me)
            return t->tx;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Running statements                                                         */

static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
           (unsigned char)c >= 0x80;
}

/* The table after the first FROM, INTO or UPDATE of `sql` (quotes removed, at most cap-1 bytes), or "". */
static void query_source(const char *sql, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = sql;
    while (*p) {
        if (*p == '\'' || *p == '"') { /* skip a literal or a quoted identifier */
            char q = *p++;
            while (*p && !(*p == q && p[1] != q))
                p += *p == q ? 2 : 1;
            if (*p)
                p++;
            continue;
        }
        if (!word_char(*p)) {
            p++;
            continue;
        }
        const char *w = p;
        while (word_char(*p))
            p++;
        size_t n = (size_t)(p - w);
        if (!((n == 4 && strncasecmp(w, "from", 4) == 0) || (n == 4 && strncasecmp(w, "into", 4) == 0) ||
              (n == 6 && strncasecmp(w, "update", 6) == 0)))
            continue;
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
            p++;
        size_t len = 0;
        if (*p == '"') {
            for (p++; *p && len + 1 < cap; p++) {
                if (*p == '"' && p[1] != '"')
                    break;
                if (*p == '"')
                    p++;
                out[len++] = *p >= ' ' && *p != 0x7f ? *p : '?';
            }
        } else {
            while ((word_char(*p) || *p == '.') && len + 1 < cap)
                out[len++] = *p++;
        }
        out[len] = '\0';
        return;
    }
}

static void log_query(const bn_repo *root, const char *sql, int rc, const bn_db_error *e, uint64_t queue_ns,
                      uint64_t db_ns, bool unreported)
{
    if (rc == 0 ? (root->quiet || bn_log_threshold > BN_LOG_DEBUG)
                : ((root->quiet && !unreported) || bn_log_threshold > BN_LOG_WARN))
        return;
    char source[96], src_part[112] = "";
    query_source(sql, source, sizeof source);
    if (source[0])
        snprintf(src_part, sizeof src_part, " source=%s", source);
    if (rc == 0)
        bn_log_write(BN_LOG_DEBUG, "QUERY OK%s db=%.1fms queue=%.1fms %s", src_part, (double)db_ns / 1e6,
                     (double)queue_ns / 1e6, sql);
    else
        bn_log_write(BN_LOG_WARN, "QUERY ERROR%s db=%.1fms queue=%.1fms %s | %s", src_part, (double)db_ns / 1e6,
                     (double)queue_ns / 1e6, e->message ? e->message : "failed", sql);
}

/* Runs one statement on a connection the caller holds, and logs it. */
static int run_on(bn_repo *root, bn_db_conn *c, const char *sql, const bn_db_value *params, size_t nparams,
                  bn_arena *a, bn_db_rows *rows, int64_t *changes, bn_db_error *e, uint64_t queue_ns,
                  bool unreported)
{
    uint64_t t0 = bn_clock_ns();
    int rc = root->adapter->exec(c, sql, params, nparams, a, rows, changes, root->query_timeout_ms, e);
    log_query(root, sql, rc, e, queue_ns, bn_clock_ns() - t0, unreported);
    return rc < 0 ? -1 : rc;
}

/* A statement of Bennu's own (BEGIN, SAVEPOINT...), errors in the ring. */
static int run_internal(bn_repo *root, bn_db_conn *c, const char *sql, bn_db_error *err)
{
    bn_arena a = BN_ARENA_INIT;
    bn_db_error local, *e = err ? err : &local;
    int rc = run_on(root, c, sql, NULL, 0, &a, NULL, NULL, e, 0, err == NULL);
    if (rc < 0) {
        e->message = ring_copy(e->message);
        e->constraint = ring_copy(e->constraint);
    }
    bn_arena_destroy(&a);
    return rc;
}

int bn__repo_exec(bn_repo *r, const char *sql, const bn_db_value *params, size_t nparams, bn_arena *a,
                  bn_db_rows *rows, int64_t *changes, bn_db_error *err)
{
    if (!r || !sql)
        return bn__db_fail(err, a, "bn__repo_exec: %s is NULL", !r ? "the repo" : "the SQL");
    if (rows && !a)
        bn_fatal("bn__repo_exec: rows need an arena");
    bn_db_error local, *e = err ? err : &local;
    memset(e, 0, sizeof *e);
    bn_arena scratch = BN_ARENA_INIT, *ea = a ? a : &scratch;
    bn_repo *root = r->root;
    if (!r->bound) {
        bn_repo *tx = active_tx_for(root);
        if (tx)
            r = tx;
    }
    uint64_t t0 = bn_clock_ns();
    int rc;
    if (r->bound) {
        bound *b = r->bound;
        rc = gate_enter(root, b, root->checkout_timeout_ms, ea, e);
        if (rc == 0) {
            bn_db_conn *c = b->slot->conn;
            /* In PostgreSQL a failed statement aborts its whole transaction;
             * inside a sandbox each statement gets a savepoint, so a test can
             * go on after an expected error (a unique violation...). */
            bool guard = b->sandbox && b->depth == 0 && root->adapter->kind == BN_DB_POSTGRES;
            if (guard)
                rc = run_internal(root, c, "SAVEPOINT bn_sandbox", e);
            if (rc == 0) {
                rc = run_on(root, c, sql, params, nparams, ea, rows, changes, e, bn_clock_ns() - t0, err == NULL);
                if (rc < 0 && !guard && b->depth == 0 && root->adapter->kind == BN_DB_POSTGRES)
                    b->aborted = true;
                if (guard) {
                    bn_db_error ignored;
                    if (rc < 0)
                        run_internal(root, c, "ROLLBACK TO SAVEPOINT bn_sandbox", &ignored);
                    run_internal(root, c, "RELEASE SAVEPOINT bn_sandbox", &ignored);
                }
            }
            gate_leave(b);
        }
    } else {
        subpool *sub;
        slot *s;
        rc = checkout(root, &sub, &s, ea, e);
        if (rc == 0) {
            rc = run_on(root, s->conn, sql, params, nparams, ea, rows, changes, e, bn_clock_ns() - t0,
                        err == NULL);
            checkin(sub, s);
        }
    }
    if (rc < 0 && !a) { /* the strings must outlive the scratch arena */
        e->message = ring_copy(e->message);
        e->constraint = ring_copy(e->constraint);
    }
    bn_arena_destroy(&scratch);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Open and close                                                             */

const bn_adapter *bn__adapter_for(const char *url)
{
    if (!url)
        return NULL;
    if (strncmp(url, "sqlite:", 7) == 0)
        return &bn__sqlite_adapter;
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return &bn__postgres_adapter;
    return NULL;
}

static size_t loop_threads(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long n = bn_env_long("BENNU_THREADS", cores > 0 ? cores : 1);
    return n >= 1 ? (size_t)n : 1;
}

bn_repo *bn_repo_open(const bn_repo_config *cfg, char **error)
{
    bn_repo_config c = cfg ? *cfg : (bn_repo_config){0};
    const char *url = c.url;
    if (!url || !*url)
        url = getenv("DATABASE_URL");
    if (!url || !*url)
        url = "sqlite:app.db";
    const bn_adapter *ad = bn__adapter_for(url);
    if (!ad) {
        char *e = bn_xprintf("unknown database URL \"%s\" (sqlite:path, sqlite::memory: or postgres://...)", url);
        if (error)
            *error = e;
        else {
            bn_error("%s", e);
            free(e);
        }
        return NULL;
    }
    bn_repo *r = bn_xcalloc(1, sizeof *r);
    r->root = r;
    r->adapter = ad;
    r->serial = atomic_fetch_add(&next_serial, 1);
    /* Every connection of a private in-memory database would be a database
     * of its own: the repo's connections share one, named after the repo. */
    if (strcmp(url, "sqlite::memory:") == 0)
        r->url = bn_xprintf("sqlite:file:bennu-memory-%ld-%llu?mode=memory&cache=shared", (long)getpid(),
                             (unsigned long long)r->serial);
    else
        r->url = bn_xstrdup(url);
    size_t threads = loop_threads(), total;
    if (ad->kind == BN_DB_POSTGRES) {
        long env = bn_env_long("POOL_SIZE", DEFAULT_POOL_SIZE);
        total = c.pool_size ? c.pool_size : env > 0 ? (size_t)env : DEFAULT_POOL_SIZE;
    } else {
        /* SQLite has one writer at a time: one connection per loop thread. */
        total = c.pool_size ? c.pool_size : threads;
    }
    r->per_thread = (total + threads - 1) / threads;
    if (r->per_thread < 1)
        r->per_thread = 1;
    r->checkout_timeout_ms = c.checkout_timeout_ms ? c.checkout_timeout_ms : DEFAULT_TIMEOUT_MS;
    r->query_timeout_ms = c.query_timeout_ms ? c.query_timeout_ms : DEFAULT_TIMEOUT_MS;
    r->quiet = c.quiet;
    pthread_mutex_init(&r->mu, NULL);

    /* One connection now: it reports a bad URL at once, creates the SQLite
     * file, and keeps an in-memory database alive. */
    char *why = NULL;
    subpool *sub = subpool_for(r);
    sub->slots[0].conn = ad->connect(r->url, &why);
    if (!sub->slots[0].conn) {
        if (error)
            *error = why ? why : bn_xstrdup("cannot connect");
        else {
            bn_error("%s", why ? why : "cannot connect");
            free(why);
        }
        bn_repo_close(r);
        return NULL;
    }
    return r;
}

void bn_repo_close(bn_repo *r)
{
    if (!r)
        return;
    if (r->bound) {
        if (r->bound->sandbox)
            bn_repo_sandbox_end(r);
        return;
    }
    for (size_t i = 0; i < r->nsubs; i++) {
        subpool *sub = r->subs[i];
        for (size_t k = 0; k < sub->size; k++)
            if (sub->slots[k].conn)
                r->adapter->disconnect(sub->slots[k].conn);
        free(sub->slots);
        pthread_mutex_destroy(&sub->mu);
        free(sub);
    }
    if (sub_cache.serial == r->serial)
        sub_cache.sub = NULL;
    free(r->subs);
    free(r->url);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

bn_db_kind bn_repo_kind(const bn_repo *r) { return r->root->adapter->kind; }
bn_db_kind bn__repo_kind(const bn_repo *r) { return r->root->adapter->kind; }

/* ------------------------------------------------------------------------ */
/* SQL text of the CRUD calls                                                 */

static const char *sql_text(bn_buf *b)
{
    bn_buf_append(b, "", 1);
    b->len--;
    return b->data;
}

static bool stored(const bn_field *f) { return !f->virtual_field; }

/* "id", "name", ... : the stored fields. */
static void sql_fields(bn_buf *b, const bn_schema *s)
{
    bool first = true;
    for (size_t i = 0; i < s->nfields; i++) {
        if (!stored(&s->fields[i]))
            continue;
        if (!first)
            bn_buf_append(b, ", ", 2);
        bn__sql_ident(b, s->fields[i].name);
        first = false;
    }
}

/* Stores the columns of row 0 that are fields into `record`, over what it holds. */
static int overlay_row(const bn_schema *s, const bn_db_rows *rows, void *record, bn_arena *a, bn_db_error *err)
{
    for (size_t c = 0; c < rows->ncols; c++) {
        size_t i;
        const char *why;
        if (!bn_schema_field(s, rows->columns[c], &i))
            continue;
        if (!bn__field_store(s, i, record, rows->cells[c], a, &why))
            return bn__db_fail(err, a, "%s.%s %s", s->source, s->fields[i].name, why);
    }
    return 0;
}

int bn__repo_query(bn_repo *r, bn_arena *a, bn_db_rows *rows, bn_db_error *err, const char *sql,
                   const bn_db_value *values, size_t n)
{
    if (!r || !sql)
        return bn__db_fail(err, a, "bn_repo_query: %s is NULL", !r ? "the repo" : "the SQL");
    if (rows && !a)
        return bn__db_fail(err, a, "bn_repo_query: rows need an arena");
    return bn__repo_exec(r, sql, values, n, a, rows, NULL, err);
}

/* ------------------------------------------------------------------------ */
/* Reading by key                                                             */

static int get_by(bn_repo *r, bn_arena *a, const bn_schema *s, void *out, bn_db_error *err, const bn__db_pair *pairs,
                  size_t n, const char *what)
{
    if (!r || !a || !s || !out)
        return bn__db_fail(err, a, "%s: %s is NULL", what,
                           !r ? "the repo" : !a ? "the arena" : !s ? "the schema" : "out");
    if (n == 0)
        return bn__db_fail(err, a, "%s: no field to look up", what);
    bn_buf sql = BN_BUF_INIT;
    bn_db_value *params = bn_arena_alloc(a, n * sizeof *params);
    size_t np = 0;
    bn_buf_append_str(&sql, BN_STR("SELECT "));
    sql_fields(&sql, s);
    bn_buf_append_str(&sql, BN_STR(" FROM "));
    bn__sql_ident(&sql, s->source);
    for (size_t k = 0; k < n; k++) {
        const bn_field *f = bn_schema_field(s, pairs[k].field, NULL);
        if (!f || !stored(f)) {
            bn_buf_free(&sql);
            return bn__db_fail(err, a, "%s: %s has no field \"%s\"", what, s->source,
                               pairs[k].field ? pairs[k].field : "(null)");
        }
        bn_buf_append_str(&sql, k ? BN_STR(" AND ") : BN_STR(" WHERE "));
        bn__sql_ident(&sql, f->name);
        if (pairs[k].value.type == BN_TYPE_NULL) {
            bn_buf_append_str(&sql, BN_STR(" IS NULL"));
        } else {
            bn_buf_append_str(&sql, BN_STR(" = ?"));
            params[np++] = pairs[k].value;
        }
    }
    bn_buf_append_str(&sql, BN_STR(" LIMIT 2"));
    bn_db_rows rows;
    int rc = bn__repo_exec(r, sql_text(&sql), params, np, a, &rows, NULL, err);
    bn_buf_free(&sql);
    if (rc < 0)
        return -1;
    if (rows.nrows == 0)
        return 0;
    if (rows.nrows > 1)
        return bn__db_fail(err, a, "%s: expected at most one %s but got more", what, s->name);
    return bn__record_from_row(s, &rows, 0, out, a, err) ? 1 : -1;
}

int bn_repo_get(bn_repo *r, bn_arena *a, const bn_schema *s, int64_t id, void *out, bn_db_error *err)
{
    const bn_field *pk = s ? bn_schema_primary_key(s) : NULL;
    if (!pk)
        return bn__db_fail(err, a, "bn_repo_get: %s has no primary key", s ? s->name : "(no schema)");
    bn__db_pair p = {pk->name, bn_db_int(id)};
    return get_by(r, a, s, out, err, &p, 1, "bn_repo_get");
}

int bn__repo_get_by(bn_repo *r, bn_arena *a, const bn_schema *s, void *out, bn_db_error *err,
                    const bn__db_pair *pairs, size_t n)
{
    return get_by(r, a, s, out, err, pairs, n, "bn_repo_get_by");
}

/* ------------------------------------------------------------------------ */
/* Writing through changesets                                                 */

/* A column to write and its value. */
typedef struct colval {
    size_t field;
    bn_db_value value;
} colval;

static bool has_col(const colval *cols, size_t n, size_t field)
{
    for (size_t k = 0; k < n; k++)
        if (cols[k].field == field)
            return true;
    return false;
}

/* Sets an autogenerated timestamp unless the changeset sets it (or, with
 * `keep` from an existing record, the record already has one). */
static void add_timestamp(const bn_schema *s, const bn_field *f, colval *cols, size_t *n, bn_datetime now,
                          const void *keep)
{
    if (!f)
        return;
    size_t i = (size_t)(f - s->fields);
    if (has_col(cols, *n, i))
        return;
    if (keep) {
        bn_db_value v = bn__field_load(s, i, keep);
        if (v.type != BN_TYPE_NULL && v.u.t != 0) {
            cols[(*n)++] = (colval){i, v};
            return;
        }
    }
    cols[(*n)++] = (colval){i, {.type = BN_TYPE_UTC_DATETIME, .u.t = now}};
}

/* After a failed write: a declared constraint's error on its field, else a base error. */
static int changeset_failed(bn_changeset *cs, const bn_db_error *e)
{
    if (!bn__changeset_constraint_error(cs, e))
        bn_changeset_add_error(cs, "", e->message ? e->message : "the database refused the change");
    return -1;
}

/* Runs an INSERT/UPDATE ... RETURNING and fills `out` from the changeset and the row. */
static int write_returning(bn_repo *r, bn_changeset *cs, bn_buf *sql, const bn_db_value *params, size_t n,
                           void *out)
{
    const bn_schema *s = bn_changeset_schema(cs);
    bn_arena *a = bn_changeset_arena(cs);
    bn_buf_append_str(sql, BN_STR(" RETURNING "));
    sql_fields(sql, s);
    bn_db_rows rows;
    bn_db_error e;
    int rc = bn__repo_exec(r, sql_text(sql), params, n, a, &rows, NULL, &e);
    bn_buf_free(sql);
    if (rc < 0)
        return changeset_failed(cs, &e);
    if (rows.nrows == 0) {
        bn_changeset_add_error(cs, "", "is stale: the record no longer exists");
        return -1;
    }
    if (out) {
        memcpy(out, bn_changeset_apply(cs), s->size);
        if (overlay_row(s, &rows, out, a, &e) < 0) {
            bn_changeset_add_error(cs, "", e.message);
            return -1;
        }
    }
    return 0;
}

int bn_repo_insert(bn_repo *r, bn_changeset *cs, void *out)
{
    if (!cs)
        return -1;
    if (!bn_changeset_valid(cs))
        return -1;
    const bn_schema *s = bn_changeset_schema(cs);
    bn_arena *a = bn_changeset_arena(cs);
    if (!r) {
        bn_changeset_add_error(cs, "", "no repo");
        return -1;
    }
    const size_t *fields;
    const bn_db_value *values;
    size_t nchanges = bn__changeset_changes(cs, &fields, &values);
    const void *data = bn__changeset_data(cs);
    colval *cols = bn_arena_alloc(a, (s->nfields + 2) * sizeof *cols);
    size_t n = 0;
    const bn_field *ins = bn_schema_inserted_at(s), *upd = bn_schema_updated_at(s);
    for (size_t k = 0; k < nchanges; k++)
        cols[n++] = (colval){fields[k], values[k]};
    if (data) { /* inserting a copy of a record: its other non-NULL fields too */
        for (size_t i = 0; i < s->nfields; i++) {
            const bn_field *f = &s->fields[i];
            if (!stored(f) || has_col(cols, n, i) || f == ins || f == upd)
                continue;
            bn_db_value v = bn__field_load(s, i, data);
            if (v.type == BN_TYPE_NULL || (f->type == BN_TYPE_ID && v.u.i == 0))
                continue;
            cols[n++] = (colval){i, v};
        }
    }
    bn_datetime now = bn_datetime_now();
    add_timestamp(s, ins, cols, &n, now, data);
    add_timestamp(s, upd, cols, &n, now, data);

    bn_buf sql = BN_BUF_INIT;
    bn_db_value *params = bn_arena_alloc(a, (n ? n : 1) * sizeof *params);
    bn_buf_append_str(&sql, BN_STR("INSERT INTO "));
    bn__sql_ident(&sql, s->source);
    if (n == 0) {
        bn_buf_append_str(&sql, BN_STR(" DEFAULT VALUES"));
    } else {
        bn_buf_append_str(&sql, BN_STR(" ("));
        for (size_t k = 0; k < n; k++) {
            if (k)
                bn_buf_append(&sql, ", ", 2);
            bn__sql_ident(&sql, s->fields[cols[k].field].name);
            params[k] = cols[k].value;
        }
        bn_buf_append_str(&sql, BN_STR(") VALUES ("));
        for (size_t k = 0; k < n; k++)
            bn_buf_append(&sql, k ? ", ?" : "?", k ? 3 : 1);
        bn_buf_append(&sql, ")", 1);
    }
    return write_returning(r, cs, &sql, params, n, out);
}

int bn_repo_update(bn_repo *r, bn_changeset *cs, void *out)
{
    if (!cs)
        return -1;
    if (!bn_changeset_valid(cs))
        return -1;
    const bn_schema *s = bn_changeset_schema(cs);
    bn_arena *a = bn_changeset_arena(cs);
    const void *data = bn__changeset_data(cs);
    const bn_field *pk = bn_schema_primary_key(s);
    if (!r || !data || !pk) {
        bn_changeset_add_error(cs, "", !r      ? "no repo"
                                       : !data ? "bn_repo_update needs a changeset made from an existing record"
                                               : "the schema has no primary key");
        return -1;
    }
    bn_db_value id = bn__field_load(s, (size_t)(pk - s->fields), data);
    if (id.type == BN_TYPE_NULL) {
        bn_changeset_add_error(cs, "", "the record has no primary key value");
        return -1;
    }
    const size_t *fields;
    const bn_db_value *values;
    size_t nchanges = bn__changeset_changes(cs, &fields, &values);
    if (nchanges == 0) { /* nothing to send */
        if (out)
            memcpy(out, bn_changeset_apply(cs), s->size);
        return 0;
    }
    colval *cols = bn_arena_alloc(a, (nchanges + 1) * sizeof *cols);
    size_t n = 0;
    for (size_t k = 0; k < nchanges; k++)
        cols[n++] = (colval){fields[k], values[k]};
    add_timestamp(s, bn_schema_updated_at(s), cols, &n, bn_datetime_now(), NULL);

    bn_buf sql = BN_BUF_INIT;
    bn_db_value *params = bn_arena_alloc(a, (n + 1) * sizeof *params);
    bn_buf_append_str(&sql, BN_STR("UPDATE "));
    bn__sql_ident(&sql, s->source);
    bn_buf_append_str(&sql, BN_STR(" SET "));
    for (size_t k = 0; k < n; k++) {
        if (k)
            bn_buf_append(&sql, ", ", 2);
        bn__sql_ident(&sql, s->fields[cols[k].field].name);
        bn_buf_append_str(&sql, BN_STR(" = ?"));
        params[k] = cols[k].value;
    }
    bn_buf_append_str(&sql, BN_STR(" WHERE "));
    bn__sql_ident(&sql, pk->name);
    bn_buf_append_str(&sql, BN_STR(" = ?"));
    params[n] = id;
    return write_returning(r, cs, &sql, params, n + 1, out);
}

int bn_repo_delete(bn_repo *r, const bn_schema *s, const void *record, bn_db_error *err)
{
    const bn_field *pk = s ? bn_schema_primary_key(s) : NULL;
    if (!r || !record || !pk)
        return bn__db_fail(err, NULL, "bn_repo_delete: %s", !r ? "no repo" : !record ? "no record" : "no primary key");
    bn_db_value id = bn__field_load(s, (size_t)(pk - s->fields), record);
    if (id.type == BN_TYPE_NULL)
        return bn__db_fail(err, NULL, "bn_repo_delete: the record has no primary key value");
    bn_buf sql = BN_BUF_INIT;
    bn_buf_append_str(&sql, BN_STR("DELETE FROM "));
    bn__sql_ident(&sql, s->source);
    bn_buf_append_str(&sql, BN_STR(" WHERE "));
    bn__sql_ident(&sql, pk->name);
    bn_buf_append_str(&sql, BN_STR(" = ?"));
    int64_t changes = 0;
    int rc = bn__repo_exec(r, sql_text(&sql), &id, 1, NULL, NULL, &changes, err);
    bn_buf_free(&sql);
    return rc < 0 ? -1 : changes > 0;
}

int64_t bn_repo_insert_all(bn_repo *r, const bn_schema *s, const void *records, size_t n, bn_db_error *err)
{
    if (!r || !s || (!records && n))
        return bn__db_fail(err, NULL, "bn_repo_insert_all: %s is NULL",
                           !r ? "the repo" : !s ? "the schema" : "records");
    if (n == 0)
        return 0;
    const char *base = records;
    const bn_field *pk = bn_schema_primary_key(s), *ins = bn_schema_inserted_at(s), *upd = bn_schema_updated_at(s);
    /* The primary key is written only when some record has one. */
    bool with_pk = false;
    for (size_t k = 0; pk && k < n && !with_pk; k++) {
        bn_db_value v = bn__field_load(s, (size_t)(pk - s->fields), base + k * s->size);
        with_pk = v.type != BN_TYPE_NULL && v.u.i != 0;
    }
    size_t *cols = bn_xmalloc((s->nfields ? s->nfields : 1) * sizeof *cols), ncols = 0;
    for (size_t i = 0; i < s->nfields; i++)
        if (stored(&s->fields[i]) && (&s->fields[i] != pk || with_pk))
            cols[ncols++] = i;
    size_t limit = bn_repo_kind(r) == BN_DB_POSTGRES ? POSTGRES_MAX_PARAMS : SQLITE_MAX_PARAMS;
    if (ncols == 0 || n > limit / ncols) {
        free(cols);
        return ncols == 0 ? bn__db_fail(err, NULL, "bn_repo_insert_all: %s has no column to insert", s->source)
                          : bn__db_fail(err, NULL,
                                        "bn_repo_insert_all: %zu records of %zu columns exceed the %zu values one "
                                        "statement can bind: insert at most %zu at a time",
                                        n, ncols, limit, limit / ncols);
    }
    bn_db_value *params = bn_xmalloc(n * ncols * sizeof *params);
    bn_datetime now = bn_datetime_now();
    bn_buf sql = BN_BUF_INIT;
    bn_buf_append_str(&sql, BN_STR("INSERT INTO "));
    bn__sql_ident(&sql, s->source);
    bn_buf_append_str(&sql, BN_STR(" ("));
    for (size_t c = 0; c < ncols; c++) {
        if (c)
            bn_buf_append(&sql, ", ", 2);
        bn__sql_ident(&sql, s->fields[cols[c]].name);
    }
    bn_buf_append_str(&sql, BN_STR(") VALUES "));
    for (size_t k = 0; k < n; k++) {
        bn_buf_append_str(&sql, k ? BN_STR(", (") : BN_STR("("));
        for (size_t c = 0; c < ncols; c++) {
            const bn_field *f = &s->fields[cols[c]];
            bn_db_value v = bn__field_load(s, cols[c], base + k * s->size);
            if ((f == ins || f == upd) && (v.type == BN_TYPE_NULL || v.u.t == 0))
                v = (bn_db_value){.type = BN_TYPE_UTC_DATETIME, .u.t = now};
            else if (f == pk && v.type != BN_TYPE_NULL && v.u.i == 0)
                v = BN_DB_NULL;
            params[k * ncols + c] = v;
            bn_buf_append(&sql, c ? ", ?" : "?", c ? 3 : 1);
        }
        bn_buf_append(&sql, ")", 1);
    }
    int64_t changes = 0;
    int rc = bn__repo_exec(r, sql_text(&sql), params, n * ncols, NULL, NULL, &changes, err);
    bn_buf_free(&sql);
    free(params);
    free(cols);
    return rc < 0 ? -1 : (int64_t)n;
}

/* ------------------------------------------------------------------------ */
/* Transactions and the sandbox                                               */

static int savepoint(bn_repo *r, bn_repo_tx_fn *fn, void *arg, bn_db_error *err)
{
    bn_repo *root = r->root;
    bound *b = r->bound;
    if (gate_enter(root, b, root->checkout_timeout_ms, NULL, err) < 0)
        return -1;
    unsigned depth = ++b->depth;
    char sql[64];
    snprintf(sql, sizeof sql, "SAVEPOINT bn_sp_%u", depth);
    int rc = run_internal(root, b->slot->conn, sql, err);
    if (rc == 0) {
        rc = fn(r, arg);
        if (rc == 0) {
            snprintf(sql, sizeof sql, "RELEASE SAVEPOINT bn_sp_%u", depth);
            if (run_internal(root, b->slot->conn, sql, err) < 0)
                rc = -1;
        }
        if (rc != 0) {
            bn_db_error ignored;
            snprintf(sql, sizeof sql, "ROLLBACK TO SAVEPOINT bn_sp_%u", depth);
            run_internal(root, b->slot->conn, sql, &ignored);
            snprintf(sql, sizeof sql, "RELEASE SAVEPOINT bn_sp_%u", depth);
            run_internal(root, b->slot->conn, sql, &ignored);
        }
    }
    b->depth--;
    gate_leave(b);
    return rc;
}

static const char *begin_sql(const bn_repo *root, bool sandbox)
{
    /* SQLite: take the write lock at BEGIN, so that a transaction that reads
     * then writes cannot fail to upgrade (SQLITE_BUSY_SNAPSHOT) halfway. */
    return root->adapter->kind == BN_DB_SQLITE && !sandbox ? "BEGIN IMMEDIATE" : "BEGIN";
}

int bn_repo_transaction(bn_repo *r, bn_repo_tx_fn *fn, void *arg, bn_db_error *err)
{
    if (!r || !fn)
        return bn__db_fail(err, NULL, "bn_repo_transaction: %s is NULL", !r ? "the repo" : "fn");
    if (!r->bound) {
        bn_repo *tx = active_tx_for(r->root);
        if (tx)
            r = tx;
    }
    if (r->bound)
        return savepoint(r, fn, arg, err);

    bn_repo *root = r->root;
    subpool *sub;
    slot *s;
    if (checkout(root, &sub, &s, NULL, err) < 0)
        return -1;
    bound b;
    bound_init(&b, sub, s, false);
    bn_repo tx = {.root = root, .bound = &b};
    int rc = run_internal(root, s->conn, begin_sql(root, false), err);
    if (rc == 0) {
        if (!active_txs.next)
            bn_list_init(&active_txs);
        active_tx act = {.root = root, .owner = current_owner(), .tx = &tx};
        bn_list_push_back(&active_txs, &act.link);
        rc = fn(&tx, arg);
        bn_list_remove(&act.link);
        /* Let statements other tasks run on tx finish first. */
        bn_db_error busy;
        bool gated = gate_enter(root, &b, 0, NULL, &busy) == 0;
        if (rc == 0 && b.aborted) {
            bn_db_error ignored;
            run_internal(root, s->conn, "ROLLBACK", &ignored);
            rc = bn__db_fail(err, NULL, "the transaction was rolled back: one of its statements failed");
        } else if (rc == 0 && run_internal(root, s->conn, "COMMIT", err) < 0) {
            bn_db_error ignored;
            run_internal(root, s->conn, "ROLLBACK", &ignored);
            rc = -1;
        } else if (rc != 0) {
            bn_db_error ignored;
            run_internal(root, s->conn, "ROLLBACK", &ignored);
        }
        if (gated)
            gate_leave(&b);
    }
    pthread_mutex_destroy(&b.mu);
    checkin(sub, s);
    return rc;
}

typedef struct sandbox {
    bn_repo repo;
    bound bound;
} sandbox;

bn_repo *bn_repo_sandbox(bn_repo *r, bn_db_error *err)
{
    if (!r || r->bound) {
        bn__db_fail(err, NULL, "bn_repo_sandbox: %s", !r ? "no repo" : "a sandbox is made from the repo itself");
        return NULL;
    }
    subpool *sub;
    slot *s;
    if (checkout(r, &sub, &s, NULL, err) < 0)
        return NULL;
    if (run_internal(r, s->conn, begin_sql(r, true), err) < 0) {
        checkin(sub, s);
        return NULL;
    }
    sandbox *sb = bn_xcalloc(1, sizeof *sb);
    bound_init(&sb->bound, sub, s, true);
    sb->repo.root = r;
    sb->repo.bound = &sb->bound;
    return &sb->repo;
}

void bn_repo_sandbox_end(bn_repo *r)
{
    if (!r || !r->bound || !r->bound->sandbox)
        return;
    sandbox *sb = bn_container_of(r, sandbox, repo);
    bn_repo *root = r->root;
    bn_db_error ignored;
    bool gated = gate_enter(root, &sb->bound, 0, NULL, &ignored) == 0;
    run_internal(root, sb->bound.slot->conn, "ROLLBACK", &ignored);
    if (gated)
        gate_leave(&sb->bound);
    pthread_mutex_destroy(&sb->bound.mu);
    checkin(sb->bound.sub, sb->bound.slot);
    free(sb);
}
