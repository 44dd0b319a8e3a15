/*
 * The query builder [Ecto.Query] and the Repo calls that run queries: all,
 * one, aggregate, update_all, delete_all, and preloads.
 *
 * Design
 *
 * - A bn_query lives in its arena and records what the builder calls asked
 *   for (conditions, order, limit/offset, selected fields, joins, preloads,
 *   SETs). No SQL is written until a Repo call runs it, so the text can follow
 *   the repo's dialect (bn__repo_kind): the only difference today is an OFFSET
 *   without a LIMIT ("LIMIT -1 OFFSET ?" on SQLite, "OFFSET ?" on PostgreSQL).
 * - Identifiers are always quoted (bn__sql_ident). The table keeps its own
 *   name as alias (FROM "posts"), so fragments may say posts.title; a join is
 *   aliased by the association's name:
 *     belongs_to  JOIN "users" AS "author" ON "author"."id" = "posts"."author_id"
 *     has_many    JOIN "comments" AS "comments" ON "comments"."post_id" = "posts"."id"
 *   Fields named by the API (where_eq, order_by, select, set, aggregates) are
 *   checked against the schema ("title", or "author.name" for a joined
 *   association) and written qualified ("posts"."title"); a name the schema
 *   does not have is an error, never SQL.
 * - SELECT lists the stored (non-virtual) fields of the schema, or only those
 *   of bn_select (plus the keys a preload needs: the primary key for has_many,
 *   the foreign key for belongs_to), qualified by the table. Rows are read
 *   back by column name (bn__record_from_row).
 * - Values are ALWAYS bound parameters: the API has no call that takes a
 *   value as SQL text. The only SQL a developer writes is a bn_where fragment,
 *   which is code (a literal in the program), never data. Everything is
 *   emitted with `?` placeholders, in text order, and the adapter numbers them
 *   ($1, $2… for PostgreSQL). A fragment's `?` are counted outside '…' and
 *   "…" quotes and comments (as the adapters do) and must match its values.
 *   LIMIT and OFFSET are bound too.
 * - Conditions are ANDed, each in parentheses. bn_where_eq with a NULL value
 *   is IS NULL.
 * - update_all is UPDATE "t" SET "f" = ?, … WHERE …; delete_all is DELETE
 *   FROM "t" WHERE …. Neither SQLite nor PostgreSQL takes a JOIN (or, portably,
 *   a LIMIT) there, so a query with joins, a limit or an offset selects its
 *   rows by primary key in a subquery: WHERE "t"."id" IN (SELECT "t"."id" FROM
 *   "t" JOIN … WHERE … ORDER BY … LIMIT ?).
 * - Aggregates: SELECT count(*) / sum("t"."f") … FROM … WHERE … (an ORDER BY
 *   is dropped: PostgreSQL rejects it next to an aggregate). With a limit or
 *   an offset the rows are cut first: SELECT sum("sub"."v") FROM (SELECT
 *   "t"."f" AS "v" FROM … LIMIT ?) AS "sub". Databases disagree on the types
 *   of results (PostgreSQL's sum(bigint) and avg are numeric, SQLite's sum of
 *   text is a float), so the result is normalised: count, and sum of integer
 *   fields -> BIGINT; sum of floats and avg -> FLOAT; sum of decimals ->
 *   DECIMAL text; min/max -> the field's own type (through bn__field_store);
 *   NULL when there are no rows (but count, which is 0).
 * - bn_repo_one reads every row the query gives (no LIMIT added) and fails
 *   with "expected at most one result but got N" for more than one.
 * - Preload: after the main query, one query per association (skipped when
 *   no parent has a key): has_many -> SELECT … FROM related WHERE fk IN (?, …)
 *   ORDER BY fk, id; the children are read into one array (related->size each,
 *   in the query's arena) and each parent's bn_records points at its run of
 *   it. belongs_to -> SELECT … FROM related WHERE id IN (…) ORDER BY id; each
 *   parent's pointer member points at its record (NULL when its foreign key is
 *   NULL or matches nothing). Keys are sent in sorted chunks of at most
 *   PRELOAD_CHUNK, each padded to a power of two (by repeating the last key)
 *   so a statement cache sees few distinct texts.
 * - Malformed use (a fragment whose `?` do not match its values, an unknown
 *   field or association, a negative limit, …) never crashes: the builder
 *   keeps the first error in the query, and the Repo call that runs it
 *   returns -1 with that message.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

#define PRELOAD_CHUNK 1024

/* A field named by the API: of the schema (assoc NULL) or of an association (joined: checked in SQL). */
typedef struct fref {
    const bn_assoc *assoc;
    const bn_schema *s;
    size_t index;
} fref;

typedef enum { COND_SQL, COND_EQ, COND_IN } cond_kind;

typedef struct cond {
    cond_kind kind;
    const char *sql; /* COND_SQL */
    fref f;          /* COND_EQ, COND_IN */
    const bn_db_value *values;
    size_t n;
} cond;

typedef struct order_term {
    fref f;
    bn_order dir;
} order_term;

typedef struct set_term {
    size_t index;
    bn_db_value value;
} set_term;

struct bn_query {
    bn_arena *a;
    const bn_schema *s;
    cond *conds;
    size_t nconds, capconds;
    order_term *orders;
    size_t norders, caporders;
    size_t *selects;
    size_t nselects, capselects;
    bool has_select;
    const bn_assoc **joins;
    size_t njoins, capjoins;
    const bn_assoc **preloads;
    size_t npreloads, cappreloads;
    set_term *sets;
    size_t nsets, capsets;
    int64_t limit, offset;
    bool has_limit, has_offset;
    const char *error; /* the first builder error, in the arena */
};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

static void *grow(bn_arena *a, void *items, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return items;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *p = bn_arena_alloc(a, ncap * size);
    if (n)
        memcpy(p, items, n * size);
    *cap = ncap;
    return p;
}
#define PUSH(q, arr, n, cap) \
    ((q)->arr = grow((q)->a, (q)->arr, (q)->n, &(q)->cap, sizeof *(q)->arr), &(q)->arr[(q)->n++])

static void builder_error(bn_query *q, const char *fmt, ...) BN_PRINTF(2, 3);
static void builder_error(bn_query *q, const char *fmt, ...)
{
    if (q->error)
        return;
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        q->error = "malformed query";
    } else if ((size_t)n < sizeof small) {
        q->error = bn_arena_strndup(q->a, small, (size_t)n);
    } else {
        char *p = bn_arena_alloc(q->a, (size_t)n + 1);
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
        q->error = p;
    }
    va_end(ap2);
    va_end(ap);
}

static bool is_int_type(bn_type t) { return t == BN_TYPE_ID || t == BN_TYPE_INTEGER || t == BN_TYPE_BIGINT; }

static const bn_field *find_field(const bn_schema *s, const char *name, size_t *index)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].name, name) == 0) {
            if (index)
                *index = i;
            return &s->fields[i];
        }
    return NULL;
}

static const bn_assoc *find_assoc(const bn_schema *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->nassocs; i++)
        if (strlen(s->assocs[i].name) == len && memcmp(s->assocs[i].name, name, len) == 0)
            return &s->assocs[i];
    return NULL;
}

static bool primary_key(const bn_schema *s, size_t *index)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (s->fields[i].type == BN_TYPE_ID && !s->fields[i].virtual_field) {
            *index = i;
            return true;
        }
    return false;
}

/*
 * "field" (of the schema) or "assoc.field" (of an association's schema) into
 * *out; NULL, or why not (in `a`). Joined-ness is checked when SQL is written.
 */
static const char *resolve(bn_arena *a, const bn_schema *s, const char *name, bool allow_assoc, fref *out)
{
    if (!name)
        return "a field name is NULL";
    const char *dot = strchr(name, '.');
    const bn_schema *fs = s;
    const bn_assoc *as = NULL;
    const char *fname = name;
    if (dot) {
        if (!allow_assoc)
            return bn_arena_printf(a, "\"%s\" is not a field of %s (only its own fields are allowed here)", name,
                                   s->name);
        as = find_assoc(s, name, (size_t)(dot - name));
        if (!as)
            return bn_arena_printf(a, "\"%s\": %s has no association \"%.*s\"", name, s->name, (int)(dot - name),
                                   name);
        fs = as->related;
        fname = dot + 1;
    }
    size_t i;
    const bn_field *f = find_field(fs, fname, &i);
    if (!f)
        return bn_arena_printf(a, "unknown field \"%s\" of %s", fname, fs->name);
    if (f->virtual_field)
        return bn_arena_printf(a, "field \"%s\" of %s is virtual (not stored)", fname, fs->name);
    *out = (fref){as, fs, i};
    return NULL;
}

/* A copy of a value whose bytes live in `a` (the caller's may not outlive the query). */
static bn_db_value copy_value(bn_arena *a, bn_db_value v)
{
    switch (v.type) {
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
    case BN_TYPE_DECIMAL:
    case BN_TYPE_UUID:
    case BN_TYPE_BINARY:
        if (v.u.s.ptr)
            v.u.s.ptr = bn_arena_strndup(a, v.u.s.ptr, v.u.s.len);
        break;
    default:
        break;
    }
    return v;
}

/* `?` outside '…' and "…" quotes and comments (as the adapters number them). */
static size_t count_placeholders(const char *s)
{
    size_t n = 0;
    char quote = 0;
    for (; *s; s++) {
        if (quote) {
            if (*s == quote)
                quote = 0; /* a doubled quote closes and reopens: the count is unchanged */
        } else if (*s == '\'' || *s == '"') {
            quote = *s;
        } else if (s[0] == '-' && s[1] == '-') {
            while (s[1] && s[1] != '\n')
                s++;
        } else if (s[0] == '/' && s[1] == '*') {
            const char *end = strstr(s + 2, "*/");
            if (!end)
                break;
            s = end + 1;
        } else if (*s == '?') {
            n++;
        }
    }
    return n;
}

/* The int64 key in field `index` of `rec`; false when it is NULL. */
static bool key_of(const bn_schema *s, size_t index, const void *rec, int64_t *out)
{
    uint64_t nulls;
    memcpy(&nulls, (const char *)rec + s->nulls_offset, sizeof nulls);
    if (index < 64 && (nulls >> index & 1))
        return false;
    memcpy(out, (const char *)rec + s->fields[index].offset, sizeof *out);
    return true;
}

/* Fails without an arena (no query at all): a static message. */
static int fail_static(bn_db_error *err, const char *message)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->message = message;
    } else {
        bn_warn("%s", message);
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* The builder                                                                */

bn_query *bn_from(bn_arena *a, const bn_schema *s)
{
    if (!a)
        return NULL;
    bn_query *q = bn_arena_alloc(a, sizeof *q);
    memset(q, 0, sizeof *q);
    q->a = a;
    q->s = s;
    if (!s)
        q->error = "bn_from: the schema is NULL";
    return q;
}

bn_query *bn__where(bn_query *q, const char *fragment, const bn_db_value *values, size_t n)
{
    if (!q || !q->s)
        return q;
    if (!fragment) {
        builder_error(q, "bn_where: the fragment is NULL");
        return q;
    }
    if (n && !values) {
        builder_error(q, "bn_where: \"%s\": the values are NULL", fragment);
        return q;
    }
    size_t expect = count_placeholders(fragment);
    if (expect != n) {
        builder_error(q, "bn_where: \"%s\" has %zu placeholder%s but %zu value%s were given", fragment, expect,
                      expect == 1 ? "" : "s", n, n == 1 ? "" : "s");
        return q;
    }
    bn_db_value *copy = bn_arena_alloc(q->a, (n ? n : 1) * sizeof *copy);
    for (size_t i = 0; i < n; i++)
        copy[i] = copy_value(q->a, values[i]);
    cond *c = PUSH(q, conds, nconds, capconds);
    *c = (cond){.kind = COND_SQL, .sql = bn_arena_strndup(q->a, fragment, strlen(fragment)), .values = copy, .n = n};
    return q;
}

bn_query *bn_where_eq(bn_query *q, const char *field, bn_db_value value)
{
    if (!q || !q->s)
        return q;
    fref f;
    const char *why = resolve(q->a, q->s, field, true, &f);
    if (why) {
        builder_error(q, "bn_where_eq: %s", why);
        return q;
    }
    bn_db_value *v = bn_arena_alloc(q->a, sizeof *v);
    *v = copy_value(q->a, value);
    cond *c = PUSH(q, conds, nconds, capconds);
    *c = (cond){.kind = COND_EQ, .f = f, .values = v, .n = 1};
    return q;
}

bn_query *bn_order_by(bn_query *q, const char *field, bn_order dir)
{
    if (!q || !q->s)
        return q;
    fref f;
    const char *why = resolve(q->a, q->s, field, true, &f);
    if (why) {
        builder_error(q, "bn_order_by: %s", why);
        return q;
    }
    if (dir != BN_ASC && dir != BN_DESC) {
        builder_error(q, "bn_order_by: the direction of \"%s\" is neither BN_ASC nor BN_DESC", field);
        return q;
    }
    *PUSH(q, orders, norders, caporders) = (order_term){f, dir};
    return q;
}

bn_query *bn_limit(bn_query *q, int64_t n)
{
    if (!q || !q->s)
        return q;
    if (n < 0) {
        builder_error(q, "bn_limit: %" PRId64 " is negative", n);
        return q;
    }
    q->limit = n;
    q->has_limit = true;
    return q;
}

bn_query *bn_offset(bn_query *q, int64_t n)
{
    if (!q || !q->s)
        return q;
    if (n < 0) {
        builder_error(q, "bn_offset: %" PRId64 " is negative", n);
        return q;
    }
    q->offset = n;
    q->has_offset = true;
    return q;
}

bn_query *bn_select(bn_query *q, const char *const *fields)
{
    if (!q || !q->s)
        return q;
    if (!fields) {
        builder_error(q, "bn_select: the field list is NULL");
        return q;
    }
    q->has_select = true;
    for (size_t k = 0; fields[k]; k++) {
        fref f;
        const char *why = resolve(q->a, q->s, fields[k], false, &f);
        if (why) {
            builder_error(q, "bn_select: %s", why);
            return q;
        }
        bool seen = false;
        for (size_t j = 0; j < q->nselects; j++)
            seen |= q->selects[j] == f.index;
        if (!seen)
            *PUSH(q, selects, nselects, capselects) = f.index;
    }
    return q;
}

/* The association `name` of the query's schema, checked for what a join or a preload needs. */
static const bn_assoc *usable_assoc(bn_query *q, const char *what, const char *name)
{
    if (!name) {
        builder_error(q, "%s: the association name is NULL", what);
        return NULL;
    }
    const bn_assoc *as = find_assoc(q->s, name, strlen(name));
    if (!as) {
        builder_error(q, "%s: %s has no association \"%s\"", what, q->s->name, name);
        return NULL;
    }
    size_t i;
    const bn_field *fk;
    if (as->kind == BN_ASSOC_BELONGS_TO) {
        fk = find_field(q->s, as->foreign_key, NULL);
        if (!primary_key(as->related, &i)) {
            builder_error(q, "%s: %s (of association %s) has no primary key", what, as->related->name, name);
            return NULL;
        }
    } else {
        fk = find_field(as->related, as->foreign_key, NULL);
        if (!primary_key(q->s, &i)) {
            builder_error(q, "%s: %s has no primary key", what, q->s->name);
            return NULL;
        }
    }
    if (!fk || fk->virtual_field || !is_int_type(fk->type)) {
        builder_error(q, "%s: the foreign key \"%s\" of association %s is not a stored integer field", what,
                      as->foreign_key, name);
        return NULL;
    }
    return as;
}

bn_query *bn_join(bn_query *q, const char *assoc)
{
    if (!q || !q->s)
        return q;
    const bn_assoc *as = usable_assoc(q, "bn_join", assoc);
    if (!as)
        return q;
    if (strcmp(as->name, q->s->source) == 0) {
        builder_error(q, "bn_join: the alias \"%s\" is also the table's name", as->name);
        return q;
    }
    for (size_t i = 0; i < q->njoins; i++)
        if (q->joins[i] == as)
            return q;
    *PUSH(q, joins, njoins, capjoins) = as;
    return q;
}

bn_query *bn_preload(bn_query *q, const char *assoc)
{
    if (!q || !q->s)
        return q;
    const bn_assoc *as = usable_assoc(q, "bn_preload", assoc);
    if (!as)
        return q;
    for (size_t i = 0; i < q->npreloads; i++)
        if (q->preloads[i] == as)
            return q;
    *PUSH(q, preloads, npreloads, cappreloads) = as;
    return q;
}

bn_query *bn_set(bn_query *q, const char *field, bn_db_value value)
{
    if (!q || !q->s)
        return q;
    fref f;
    const char *why = resolve(q->a, q->s, field, false, &f);
    if (why) {
        builder_error(q, "bn_set: %s", why);
        return q;
    }
    for (size_t i = 0; i < q->nsets; i++)
        if (q->sets[i].index == f.index) {
            q->sets[i].value = copy_value(q->a, value);
            return q;
        }
    *PUSH(q, sets, nsets, capsets) = (set_term){f.index, copy_value(q->a, value)};
    return q;
}

/* ------------------------------------------------------------------------ */
/* SQL text                                                                   */

void bn__sql_ident(bn_buf *sql, const char *name)
{
    bn_buf_append(sql, "\"", 1);
    for (const char *p = name; *p; p++) {
        const char *q = strchr(p, '"');
        if (!q) {
            bn_buf_append(sql, p, strlen(p));
            break;
        }
        bn_buf_append(sql, p, (size_t)(q - p));
        bn_buf_append(sql, "\"\"", 2);
        p = q;
    }
    bn_buf_append(sql, "\"", 1);
}

typedef struct gen {
    const bn_query *q;
    bn_db_kind kind;
    bn_buf *sql;
    bn_db_value *params;
    size_t nparams, cap;
    const char *error; /* the first error found while writing */
} gen;

static void put(gen *g, const char *s) { bn_buf_append(g->sql, s, strlen(s)); }

static void bind(gen *g, bn_db_value v)
{
    if (g->nparams == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 8;
        bn_db_value *p = bn_arena_alloc(g->q->a, ncap * sizeof *p);
        if (g->nparams)
            memcpy(p, g->params, g->nparams * sizeof *p);
        g->params = p;
        g->cap = ncap;
    }
    g->params[g->nparams++] = v;
}

static void column(gen *g, const char *alias, const char *field)
{
    bn__sql_ident(g->sql, alias);
    put(g, ".");
    bn__sql_ident(g->sql, field);
}

static bool joined(const bn_query *q, const bn_assoc *as)
{
    for (size_t i = 0; i < q->njoins; i++)
        if (q->joins[i] == as)
            return true;
    return false;
}

/* A field named by the API, qualified by its alias. */
static void fref_column(gen *g, fref f)
{
    if (f.assoc && !joined(g->q, f.assoc) && !g->error)
        g->error = bn_arena_printf(g->q->a, "\"%s.%s\": the association %s is not joined (bn_join)", f.assoc->name,
                                   f.s->fields[f.index].name, f.assoc->name);
    column(g, f.assoc ? f.assoc->name : g->q->s->source, f.s->fields[f.index].name);
}

/* The columns of SELECT (without the keyword). */
static void select_list(gen *g)
{
    const bn_query *q = g->q;
    const bn_schema *s = q->s;
    size_t n = 0;
    if (!q->has_select) {
        for (size_t i = 0; i < s->nfields; i++) {
            if (s->fields[i].virtual_field)
                continue;
            put(g, n++ ? ", " : "");
            column(g, s->source, s->fields[i].name);
        }
    } else {
        for (size_t k = 0; k < q->nselects; k++) {
            put(g, n++ ? ", " : "");
            column(g, s->source, s->fields[q->selects[k]].name);
        }
        /* The keys the preloads match on, if the selection left them out. */
        for (size_t p = 0; p < q->npreloads; p++) {
            const bn_assoc *as = q->preloads[p];
            size_t key = 0;
            if (as->kind == BN_ASSOC_HAS_MANY)
                primary_key(s, &key);
            else
                find_field(s, as->foreign_key, &key);
            bool seen = false;
            for (size_t k = 0; k < q->nselects; k++)
                seen |= q->selects[k] == key;
            for (size_t j = 0; j < p; j++) /* added by an earlier preload */
                seen |= (q->preloads[j]->kind == as->kind &&
                         (as->kind == BN_ASSOC_HAS_MANY || strcmp(q->preloads[j]->foreign_key, as->foreign_key) == 0));
            if (!seen) {
                put(g, n++ ? ", " : "");
                column(g, s->source, s->fields[key].name);
            }
        }
    }
    if (n == 0 && !g->error)
        g->error = bn_arena_printf(q->a, "%s: nothing to select (no stored field)", s->name);
}

/* FROM … JOIN … */
static void from_joins(gen *g)
{
    const bn_query *q = g->q;
    const bn_schema *s = q->s;
    put(g, " FROM ");
    bn__sql_ident(g->sql, s->source);
    for (size_t j = 0; j < q->njoins; j++) {
        const bn_assoc *as = q->joins[j];
        size_t pk = 0;
        put(g, " JOIN ");
        bn__sql_ident(g->sql, as->related->source);
        put(g, " AS ");
        bn__sql_ident(g->sql, as->name);
        put(g, " ON ");
        if (as->kind == BN_ASSOC_BELONGS_TO) {
            primary_key(as->related, &pk);
            column(g, as->name, as->related->fields[pk].name);
            put(g, " = ");
            column(g, s->source, as->foreign_key);
        } else {
            primary_key(s, &pk);
            column(g, as->name, as->foreign_key);
            put(g, " = ");
            column(g, s->source, s->fields[pk].name);
        }
    }
}

/* WHERE (…) AND (…) */
static void where_conds(gen *g)
{
    const bn_query *q = g->q;
    for (size_t i = 0; i < q->nconds; i++) {
        const cond *c = &q->conds[i];
        put(g, i ? " AND (" : " WHERE (");
        switch (c->kind) {
        case COND_SQL: {
            put(g, c->sql);
            for (size_t k = 0; k < c->n; k++)
                bind(g, c->values[k]);
            break;
        }
        case COND_EQ:
            fref_column(g, c->f);
            if (c->values[0].type == BN_TYPE_NULL) {
                put(g, " IS NULL");
            } else {
                put(g, " = ?");
                bind(g, c->values[0]);
            }
            break;
        case COND_IN:
            fref_column(g, c->f);
            put(g, " IN (");
            for (size_t k = 0; k < c->n; k++) {
                put(g, k ? ", ?" : "?");
                bind(g, c->values[k]);
            }
            put(g, ")");
            break;
        }
        put(g, ")");
    }
}

static void from_where(gen *g)
{
    from_joins(g);
    where_conds(g);
}

/* ORDER BY … LIMIT ? OFFSET ? */
static void order_limit(gen *g, bool with_order)
{
    const bn_query *q = g->q;
    if (with_order) {
        for (size_t i = 0; i < q->norders; i++) {
            put(g, i ? ", " : " ORDER BY ");
            fref_column(g, q->orders[i].f);
            put(g, q->orders[i].dir == BN_DESC ? " DESC" : " ASC");
        }
    }
    if (q->has_limit) {
        put(g, " LIMIT ?");
        bind(g, bn_db_int(q->limit));
    } else if (q->has_offset && g->kind == BN_DB_SQLITE) {
        put(g, " LIMIT -1"); /* SQLite has no OFFSET without a LIMIT */
    }
    if (q->has_offset) {
        put(g, " OFFSET ?");
        bind(g, bn_db_int(q->offset));
    }
}

/* WHERE "t"."id" IN (SELECT "t"."id" FROM … JOIN … WHERE … ORDER BY … LIMIT ?), for UPDATE and DELETE. */
static void where_by_key(gen *g)
{
    const bn_schema *s = g->q->s;
    size_t pk = 0;
    if (!primary_key(s, &pk)) {
        if (!g->error)
            g->error = bn_arena_printf(g->q->a, "%s has no primary key: update_all/delete_all cannot use joins, "
                                                "limit or offset on it", s->name);
        return;
    }
    put(g, " WHERE ");
    column(g, s->source, s->fields[pk].name);
    put(g, " IN (SELECT ");
    column(g, s->source, s->fields[pk].name);
    from_where(g);
    order_limit(g, true);
    put(g, ")");
}

static const char *const agg_names[] = {"count", "sum", "avg", "min", "max"};

int bn__query_sql(const bn_query *q, bn_db_kind kind, bn__sql_op op, bn_aggregate agg, const char *field, bn_buf *sql,
                  const bn_db_value **params, size_t *nparams, bn_db_error *err)
{
    *params = NULL;
    *nparams = 0;
    if (!q)
        return fail_static(err, "no query (bn_from was given no arena)");
    if (q->error)
        return bn__db_fail(err, q->a, "%s", q->error);
    const bn_schema *s = q->s;
    gen g = {.q = q, .kind = kind, .sql = sql};
    bool by_key = q->njoins || q->has_limit || q->has_offset;
    switch (op) {
    case BN__SQL_SELECT:
        put(&g, "SELECT ");
        select_list(&g);
        from_where(&g);
        order_limit(&g, true);
        break;
    case BN__SQL_UPDATE_ALL:
        if (q->nsets == 0)
            return bn__db_fail(err, q->a, "update_all: the query sets nothing (bn_set)");
        put(&g, "UPDATE ");
        bn__sql_ident(sql, s->source);
        for (size_t i = 0; i < q->nsets; i++) {
            put(&g, i ? ", " : " SET ");
            bn__sql_ident(sql, s->fields[q->sets[i].index].name);
            put(&g, " = ?");
            bind(&g, q->sets[i].value);
        }
        if (by_key)
            where_by_key(&g);
        else
            where_conds(&g);
        break;
    case BN__SQL_DELETE_ALL:
        put(&g, "DELETE FROM ");
        bn__sql_ident(sql, s->source);
        if (by_key)
            where_by_key(&g);
        else
            where_conds(&g);
        break;
    case BN__SQL_AGGREGATE: {
        if ((unsigned)agg > BN_AGG_MAX)
            return bn__db_fail(err, q->a, "aggregate: unknown aggregate %d", (int)agg);
        fref f = {0};
        if (field) {
            const char *why = resolve(q->a, s, field, true, &f);
            if (why)
                return bn__db_fail(err, q->a, "aggregate: %s", why);
        } else if (agg != BN_AGG_COUNT) {
            return bn__db_fail(err, q->a, "aggregate: %s needs a field", agg_names[agg]);
        }
        if (agg == BN_AGG_SUM || agg == BN_AGG_AVG) {
            bn_type t = f.s->fields[f.index].type;
            if (!is_int_type(t) && t != BN_TYPE_FLOAT && t != BN_TYPE_DECIMAL)
                return bn__db_fail(err, q->a, "aggregate: %s of \"%s\", which is not a number", agg_names[agg],
                                   field);
        }
        put(&g, "SELECT ");
        put(&g, agg_names[agg]);
        bool cut = q->has_limit || q->has_offset;
        if (!cut) {
            if (field) {
                put(&g, "(");
                fref_column(&g, f);
                put(&g, ")");
            } else {
                put(&g, "(*)");
            }
            from_where(&g);
        } else {
            put(&g, field ? "(\"sub\".\"v\") FROM (SELECT " : "(*) FROM (SELECT ");
            if (field) {
                fref_column(&g, f);
                put(&g, " AS \"v\"");
            } else {
                put(&g, "1");
            }
            from_where(&g);
            order_limit(&g, true);
            put(&g, ") AS \"sub\"");
        }
        break;
    }
    default:
        return bn__db_fail(err, q->a, "unknown query operation %d", (int)op);
    }
    if (g.error)
        return bn__db_fail(err, q->a, "%s", g.error);
    bn_buf_reserve(sql, 1)[0] = '\0';
    *params = g.params;
    *nparams = g.nparams;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Running queries                                                            */

/* Runs `op` and gives its rows (or the rows changed in *changes). */
static int run(bn_repo *r, const bn_query *q, bn__sql_op op, bn_aggregate agg, const char *field, bn_db_rows *rows,
               int64_t *changes, bn_db_error *err)
{
    if (!r)
        return q ? bn__db_fail(err, q->a, "no repo") : fail_static(err, "no repo");
    bn_buf sql = BN_BUF_INIT;
    const bn_db_value *params;
    size_t n;
    int rc = bn__query_sql(q, bn__repo_kind(r), op, agg, field, &sql, &params, &n, err);
    if (rc == 0)
        rc = bn__repo_exec(r, sql.data, params, n, q->a, rows, changes, err);
    bn_buf_free(&sql);
    return rc;
}

/* Rows into a zeroed array of records of `s`. */
static int read_records(const bn_schema *s, const bn_db_rows *rows, bn_arena *a, void **items, bn_db_error *err)
{
    *items = NULL;
    if (rows->nrows == 0)
        return 0;
    char *p = bn_arena_alloc(a, rows->nrows * s->size); /* bn__record_from_row zeroes each */
    for (size_t i = 0; i < rows->nrows; i++)
        if (!bn__record_from_row(s, rows, i, p + i * s->size, a, err))
            return -1;
    *items = p;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Preloads one association into `n` records of the query's schema. */
static int preload(bn_repo *r, const bn_query *q, const bn_assoc *as, char *items, size_t n, bn_db_error *err)
{
    const bn_schema *s = q->s, *rs = as->related;
    bn_arena *a = q->a;
    bool many = as->kind == BN_ASSOC_HAS_MANY;
    size_t parent_key = 0, child_key = 0, child_pk = 0;
    bool child_has_pk = primary_key(rs, &child_pk);
    if (many) {
        primary_key(s, &parent_key);
        find_field(rs, as->foreign_key, &child_key);
    } else {
        find_field(s, as->foreign_key, &parent_key);
        primary_key(rs, &child_key);
    }

    /* The distinct keys of the parents, sorted. */
    int64_t *keys = bn_arena_alloc(a, (n ? n : 1) * sizeof *keys);
    size_t nkeys = 0;
    for (size_t i = 0; i < n; i++)
        if (key_of(s, parent_key, items + i * s->size, &keys[nkeys]))
            nkeys++;
    qsort(keys, nkeys, sizeof *keys, cmp_i64);
    size_t u = 0;
    for (size_t i = 0; i < nkeys; i++)
        if (u == 0 || keys[i] != keys[u - 1])
            keys[u++] = keys[i];
    nkeys = u;

    /* One query per chunk of keys; chunks are in key order, so are their rows. */
    size_t nchunks = (nkeys + PRELOAD_CHUNK - 1) / PRELOAD_CHUNK;
    bn_db_rows *chunk_rows = bn_arena_alloc(a, (nchunks ? nchunks : 1) * sizeof *chunk_rows);
    size_t total = 0;
    for (size_t c = 0; c < nchunks; c++) {
        size_t from = c * PRELOAD_CHUNK, count = BN_MIN(PRELOAD_CHUNK, nkeys - from);
        size_t padded = 1;
        while (padded < count)
            padded *= 2;
        bn_db_value *vals = bn_arena_alloc(a, padded * sizeof *vals);
        for (size_t k = 0; k < padded; k++)
            vals[k] = bn_db_int(keys[from + BN_MIN(k, count - 1)]);
        bn_query *sub = bn_from(a, rs);
        *PUSH(sub, conds, nconds, capconds) =
            (cond){.kind = COND_IN, .f = {NULL, rs, child_key}, .values = vals, .n = padded};
        *PUSH(sub, orders, norders, caporders) = (order_term){{NULL, rs, child_key}, BN_ASC};
        if (many && child_has_pk && child_pk != child_key)
            *PUSH(sub, orders, norders, caporders) = (order_term){{NULL, rs, child_pk}, BN_ASC};
        memset(&chunk_rows[c], 0, sizeof chunk_rows[c]);
        if (run(r, sub, BN__SQL_SELECT, BN_AGG_COUNT, NULL, &chunk_rows[c], NULL, err) < 0)
            return -1;
        total += chunk_rows[c].nrows;
    }

    /* Every child, in key order, in one array. */
    char *children = NULL;
    if (total) {
        children = bn_arena_alloc(a, total * rs->size); /* zeroed row by row when read */
        size_t at = 0;
        for (size_t c = 0; c < nchunks; c++)
            for (size_t i = 0; i < chunk_rows[c].nrows; i++, at++)
                if (!bn__record_from_row(rs, &chunk_rows[c], i, children + at * rs->size, a, err))
                    return -1;
    }
    int64_t *child_keys = bn_arena_alloc(a, (total ? total : 1) * sizeof *child_keys);
    for (size_t i = 0; i < total; i++) {
        if (!key_of(rs, child_key, children + i * rs->size, &child_keys[i]) ||
            (i && child_keys[i] < child_keys[i - 1]))
            return bn__db_fail(err, a, "preload %s: the database returned keys out of order", as->name);
    }

    /* Each parent points at its child (belongs_to) or its run of children (has_many). */
    for (size_t i = 0; i < n; i++) {
        char *parent = items + i * s->size;
        int64_t key;
        size_t lo = 0, hi = total;
        bool has = key_of(s, parent_key, parent, &key);
        if (has) {
            while (lo < hi) { /* the first child key >= key */
                size_t mid = lo + (hi - lo) / 2;
                if (child_keys[mid] < key)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            has = lo < total && child_keys[lo] == key;
        }
        if (many) {
            bn_records recs = {NULL, 0};
            if (has) {
                size_t end = lo;
                while (end < total && child_keys[end] == key)
                    end++;
                recs = (bn_records){children + lo * rs->size, end - lo};
            }
            memcpy(parent + as->offset, &recs, sizeof recs);
        } else {
            const void *ptr = has ? children + lo * rs->size : NULL;
            memcpy(parent + as->offset, &ptr, sizeof ptr);
        }
    }
    return 0;
}

static int select_records(bn_repo *r, const bn_query *q, bn_records *out, bn_db_error *err)
{
    bn_db_rows rows = {0};
    if (run(r, q, BN__SQL_SELECT, BN_AGG_COUNT, NULL, &rows, NULL, err) < 0)
        return -1;
    if (read_records(q->s, &rows, q->a, &out->items, err) < 0)
        return -1;
    out->count = rows.nrows;
    return 0;
}

static int preload_all(bn_repo *r, const bn_query *q, bn_records *recs, bn_db_error *err)
{
    for (size_t p = 0; p < q->npreloads; p++)
        if (recs->count && preload(r, q, q->preloads[p], recs->items, recs->count, err) < 0)
            return -1;
    return 0;
}

int bn_repo_all(bn_repo *r, const bn_query *q, bn_records *out, bn_db_error *err)
{
    bn_records recs = {NULL, 0};
    if (out)
        *out = recs;
    if (!out)
        return q ? bn__db_fail(err, q->a, "bn_repo_all: out is NULL") : fail_static(err, "bn_repo_all: out is NULL");
    if (select_records(r, q, &recs, err) < 0 || preload_all(r, q, &recs, err) < 0)
        return -1;
    *out = recs;
    return 0;
}

int bn_repo_one(bn_repo *r, const bn_query *q, void *out, bn_db_error *err)
{
    if (!out)
        return q ? bn__db_fail(err, q->a, "bn_repo_one: out is NULL") : fail_static(err, "bn_repo_one: out is NULL");
    bn_records recs;
    if (select_records(r, q, &recs, err) < 0)
        return -1;
    if (recs.count > 1)
        return bn__db_fail(err, q->a, "expected at most one result but got %zu", recs.count);
    if (recs.count == 0)
        return 0;
    if (preload_all(r, q, &recs, err) < 0)
        return -1;
    memcpy(out, recs.items, q->s->size);
    return 1;
}

int64_t bn_repo_update_all(bn_repo *r, const bn_query *q, bn_db_error *err)
{
    int64_t changes = 0;
    if (run(r, q, BN__SQL_UPDATE_ALL, BN_AGG_COUNT, NULL, NULL, &changes, err) < 0)
        return -1;
    return changes;
}

int64_t bn_repo_delete_all(bn_repo *r, const bn_query *q, bn_db_error *err)
{
    int64_t changes = 0;
    if (run(r, q, BN__SQL_DELETE_ALL, BN_AGG_COUNT, NULL, NULL, &changes, err) < 0)
        return -1;
    return changes;
}

/* The text of a string-like cell, NUL-terminated in `buf` (false if it does not fit). */
static bool cell_text(bn_db_value v, char *buf, size_t cap)
{
    if (v.u.s.len >= cap)
        return false;
    memcpy(buf, v.u.s.ptr, v.u.s.len);
    buf[v.u.s.len] = '\0';
    return true;
}

static bool is_text_cell(bn_type t)
{
    return t == BN_TYPE_TEXT || t == BN_TYPE_STRING || t == BN_TYPE_DECIMAL || t == BN_TYPE_UUID;
}

static bool cell_int(bn_db_value v, int64_t *out)
{
    char buf[64], *end;
    if (is_int_type(v.type)) {
        *out = v.u.i;
        return true;
    }
    if (v.type == BN_TYPE_FLOAT && v.u.f >= -9.2e18 && v.u.f <= 9.2e18 && v.u.f == (double)(int64_t)v.u.f) {
        *out = (int64_t)v.u.f;
        return true;
    }
    if (!is_text_cell(v.type) || !cell_text(v, buf, sizeof buf))
        return false;
    errno = 0;
    long long i = strtoll(buf, &end, 10);
    if (errno || end == buf)
        return false;
    if (*end == '.') { /* numeric "42.000" */
        for (end++; *end == '0'; end++)
            ;
    }
    if (*end)
        return false;
    *out = i;
    return true;
}

static bool cell_float(bn_db_value v, double *out)
{
    char buf[128], *end;
    if (v.type == BN_TYPE_FLOAT) {
        *out = v.u.f;
        return true;
    }
    if (is_int_type(v.type)) {
        *out = (double)v.u.i;
        return true;
    }
    if (!is_text_cell(v.type) || !cell_text(v, buf, sizeof buf))
        return false;
    errno = 0;
    *out = strtod(buf, &end);
    return !errno && end != buf && !*end;
}

int bn_repo_aggregate(bn_repo *r, const bn_query *q, bn_aggregate agg, const char *field, bn_db_value *out,
                      bn_db_error *err)
{
    if (!out)
        return q ? bn__db_fail(err, q->a, "bn_repo_aggregate: out is NULL")
                 : fail_static(err, "bn_repo_aggregate: out is NULL");
    *out = BN_DB_NULL;
    bn_db_rows rows = {0};
    if (run(r, q, BN__SQL_AGGREGATE, agg, field, &rows, NULL, err) < 0)
        return -1;
    if (rows.nrows != 1 || rows.ncols < 1)
        return bn__db_fail(err, q->a, "aggregate: expected one value, got %zu rows", rows.nrows);
    bn_db_value cell = rows.cells[0];
    if (cell.type == BN_TYPE_NULL)
        return 0; /* no rows (count never is NULL) */
    fref f = {0};
    if (field)
        resolve(q->a, q->s, field, true, &f); /* checked when the SQL was written */
    bn_type t = field ? f.s->fields[f.index].type : BN_TYPE_BIGINT;
    const char *what = agg_names[agg];
    if (agg == BN_AGG_COUNT || (agg == BN_AGG_SUM && is_int_type(t))) {
        int64_t i;
        if (!cell_int(cell, &i))
            return bn__db_fail(err, q->a, "aggregate: %s is not an integer", what);
        *out = bn_db_int(i);
    } else if (agg == BN_AGG_AVG || (agg == BN_AGG_SUM && t == BN_TYPE_FLOAT)) {
        double d;
        if (!cell_float(cell, &d))
            return bn__db_fail(err, q->a, "aggregate: %s is not a number", what);
        *out = bn_db_float(d);
    } else if (agg == BN_AGG_SUM) { /* DECIMAL: kept as text */
        const char *text;
        if (is_text_cell(cell.type))
            text = bn_arena_strndup(q->a, cell.u.s.ptr, cell.u.s.len);
        else if (is_int_type(cell.type))
            text = bn_arena_printf(q->a, "%" PRId64, cell.u.i);
        else if (cell.type == BN_TYPE_FLOAT)
            text = bn_arena_printf(q->a, "%.15g", cell.u.f);
        else
            return bn__db_fail(err, q->a, "aggregate: %s is not a number", what);
        *out = (bn_db_value){.type = BN_TYPE_DECIMAL, .u.s = bn_str_from_cstr(text)};
    } else { /* min/max: the field's own type */
        void *rec = bn_arena_alloc(q->a, f.s->size);
        memset(rec, 0, f.s->size);
        const char *why = NULL;
        if (!bn__field_store(f.s, f.index, rec, cell, q->a, &why))
            return bn__db_fail(err, q->a, "aggregate: %s of \"%s\": %s", what, field, why ? why : "unreadable");
        *out = bn__field_load(f.s, f.index, rec);
    }
    return 0;
}
