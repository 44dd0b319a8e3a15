/*
 * LiveView, server side [Phoenix.LiveView]: the dead render of a bn_live
 * route (mount disconnected, render inside the layouts, a signed session
 * token in data-phx-session), then the "lv:*" channel of bn_live_socket that
 * the npm phoenix_live_view client joins: mount connected, the full rendered
 * tree in the join reply, and diffs of the changed dynamics after events and
 * handle_info; handle_params with patches, live navigation, redirects and
 * the page title (§7.3, §7.4, §7.6). PROTOCOLS.md §7 has the wire format.
 *
 * Trees: a connected view keeps the last tree the client has, complete (a
 * diff's unchanged holes are filled from the tree before it), in one of two
 * arenas that alternate: the new tree is rendered against the previous one,
 * then the previous arena is reset.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bennu/crypto.h"
#include "bennu/live.h"
#include "bennu/session.h"
#include "bennu/view.h"
#include "web/parsers.h"

#define LIVE_SALT "bennu live view"
#define LIVE_VERSION "1.2.12"                /* the npm client this server speaks to (its liveview_version) */
#define LIVE_TOKEN_MAX_AGE_S (14 * 24 * 3600) /* Phoenix's max_age for the session token */
#define LIVE_ID_CHARS 16
#define LIVE_INFO_KEY "bn_live_info"         /* the send_after envelope: {"bn_live_info": msg} */
#define LIVE_MAX_ROUTES 256
#define LIVE_MAX_PATCHES 8                   /* handle_params patching again and again: a bug, not a loop */

/* What a callback asked for besides assigns [socket.redirected]. */
typedef enum live_nav { NAV_NONE, NAV_PATCH, NAV_NAVIGATE, NAV_REDIRECT } live_nav;

typedef struct live_route live_route;

struct bn_live {
    const bn_live_def *def;
    bn_channel *ch;     /* NULL in the dead render */
    bn_arena *arena;    /* the dead render's request arena (connected: the channel's) */
    char id[4 + LIVE_ID_CHARS + 1];
    bn_tpl_changes changed;
    bn_rendered *prev;  /* the complete tree the client has, in trees[cur] */
    bn_arena trees[2];
    int cur;
    void *assigns;
    void *state;
    const live_route *route; /* the route the page was rendered for (NULL: unknown) */
    const char *url;         /* the current URL (connected: in url_mem) */
    char *url_mem;
    live_nav nav;            /* pending navigation, in the callback's arena */
    const char *nav_to;
    bool nav_replace;
    const char *title;       /* a new title for the next diff, in the callback's arena */
    bn_buf events;           /* bn_live_push_event: `["event",payload]` items for the next diff's "e" */
    bn_buf hook_reply;       /* bn_live_reply: the JSON of the event's "r", while handling an event */
    bool in_event;           /* handle_event is running: bn_live_reply is allowed */
    struct live_stream *streams; /* bn_live_stream_*: heap, nstreams */
    size_t nstreams;
};

/* ---- the registry of live routes ------------------------------------------ */

/*
 * Filled by the dead render, one entry per route a view was rendered for: a
 * join that names a view this process never rendered answers "stale", and
 * the client's reload registers it. A patch or a live navigation must land
 * on a route of the same view with the same pipeline plugs (Phoenix's "same
 * live_session"): the URL changes without the plugs running again. Entries
 * are copies (the router may go) and never change once counted.
 */
struct live_route {
    const bn_live_def *def;
    char *pattern;  /* "/users/:id" */
    bn_plug *plugs; /* the route's pipelines, flattened */
    size_t nplugs;
};

static pthread_mutex_t routes_lock = PTHREAD_MUTEX_INITIALIZER;
static live_route live_routes_[LIVE_MAX_ROUTES];
static size_t nroutes;

static size_t routes_count(void)
{
    pthread_mutex_lock(&routes_lock);
    size_t n = nroutes;
    pthread_mutex_unlock(&routes_lock);
    return n;
}

static const live_route *register_route(const bn_live_def *def, const bn_route *rt)
{
    const live_route *found = NULL;
    pthread_mutex_lock(&routes_lock);
    for (size_t i = 0; i < nroutes && !found; i++)
        if (live_routes_[i].def == def && strcmp(live_routes_[i].pattern, rt->path) == 0)
            found = &live_routes_[i];
    if (!found && nroutes < LIVE_MAX_ROUTES) {
        live_route *e = &live_routes_[nroutes];
        e->def = def;
        e->pattern = bn_xstrdup(rt->path);
        e->nplugs = rt->nplugs;
        e->plugs = bn_xcalloc(rt->nplugs ? rt->nplugs : 1, sizeof(bn_plug));
        if (rt->nplugs)
            memcpy(e->plugs, rt->plugs, rt->nplugs * sizeof(bn_plug));
        found = e;
        nroutes++;
    } else if (!found) {
        bn_warn("live: more than %d live routes, %s is not registered", LIVE_MAX_ROUTES, rt->path);
    }
    pthread_mutex_unlock(&routes_lock);
    return found;
}

/* Every bn_live route of the router, so that a patch or navigation to a route this process has
 * not rendered yet is live too. Once per router. */
static void register_router_once(const bn_router *r)
{
    static const bn_router *_Atomic done;
    if (!r || atomic_load(&done) == r)
        return;
    size_t n;
    const bn_route *const *routes = bn_router_routes(r, &n);
    for (size_t i = 0; i < n; i++)
        if (routes[i]->action == bn_live_render && routes[i]->data)
            register_route(routes[i]->data, routes[i]);
    atomic_store(&done, r);
}

static const bn_live_def *find_view(bn_str name)
{
    size_t n = routes_count();
    for (size_t i = 0; i < n; i++)
        if (bn_str_eq(bn_str_from_cstr(live_routes_[i].def->name), name))
            return live_routes_[i].def;
    return NULL;
}

static const live_route *find_route(const bn_live_def *def, bn_str pattern)
{
    size_t n = routes_count();
    for (size_t i = 0; i < n; i++)
        if (live_routes_[i].def == def && bn_str_eq(bn_str_from_cstr(live_routes_[i].pattern), pattern))
            return &live_routes_[i];
    return NULL;
}

static bool same_plugs(const live_route *x, const live_route *y)
{
    if (x->nplugs != y->nplugs)
        return false;
    for (size_t i = 0; i < x->nplugs; i++)
        if (x->plugs[i].fn != y->plugs[i].fn || x->plugs[i].opts != y->plugs[i].opts)
            return false;
    return true;
}

/* The next segment of `*p` (empty ones skipped); false at the end. */
static bool next_segment(bn_str *p, bn_str *seg)
{
    while (p->len && p->ptr[0] == '/')
        p->ptr++, p->len--;
    if (!p->len)
        return false;
    size_t n = 0;
    while (n < p->len && p->ptr[n] != '/')
        n++;
    *seg = bn_str_make(p->ptr, n);
    p->ptr += n, p->len -= n;
    return true;
}

/* Matches `path` (percent-encoded) against a route pattern: its path params into `params`, or false. */
static bool match_pattern(bn_arena *a, const char *pattern, bn_str path, bn_value *params)
{
    bn_str pat = bn_str_from_cstr(pattern), ps, seg;
    while (next_segment(&pat, &ps)) {
        if (ps.ptr[0] == '*') { /* the rest, decoded segment by segment */
            bn_buf rest = BN_BUF_INIT;
            bool ok = true;
            for (bool first = true; ok && next_segment(&path, &seg); first = false) {
                bn_str d;
                ok = bn__percent_decode(a, seg, false, &d);
                if (!first)
                    bn_buf_append(&rest, "/", 1);
                if (ok)
                    bn_buf_append(&rest, d.ptr, d.len);
            }
            if (ok)
                bn_value_set_str(a, params, bn_str_make(ps.ptr + 1, ps.len - 1),
                                 bn_value_string(a, bn_str_make(rest.data ? rest.data : "", rest.len)));
            bn_buf_free(&rest);
            return ok;
        }
        bn_str d;
        if (!next_segment(&path, &seg) || !bn__percent_decode(a, seg, false, &d))
            return false;
        if (ps.ptr[0] == ':')
            bn_value_set_str(a, params, bn_str_make(ps.ptr + 1, ps.len - 1), bn_value_string(a, d));
        else if (!bn_str_eq(ps, d))
            return false;
    }
    return !next_segment(&path, &seg);
}

/* The path of a URL or of a path ("http://h/a?b" and "/a?b": "/a"; "http://h": empty, at its end). */
static bn_str url_path(bn_str url)
{
    const char *scheme = url.len ? memmem(url.ptr, url.len, "://", 3) : NULL;
    if (scheme) {
        const char *host = scheme + 3;
        const char *slash = memchr(host, '/', url.len - (size_t)(host - url.ptr));
        url = slash ? bn_str_make(slash, url.len - (size_t)(slash - url.ptr)) : bn_str_make(url.ptr + url.len, 0);
    }
    size_t n = 0;
    while (n < url.len && url.ptr[n] != '?' && url.ptr[n] != '#')
        n++;
    return bn_str_make(url.ptr, n);
}

/* The query params of a URL (decoded), into `params`. */
static void query_params(bn_arena *a, bn_str url, bn_value *params)
{
    const char *q = url.ptr ? memchr(url.ptr, '?', url.len) : NULL;
    if (!q)
        return;
    bn_str query = bn_str_make(q + 1, url.len - (size_t)(q + 1 - url.ptr));
    const char *hash = memchr(query.ptr, '#', query.len);
    if (hash)
        query.len = (size_t)(hash - query.ptr);
    char err[160];
    if (bn__parse_urlencoded(a, query, params, NULL, err, sizeof err) != 0)
        bn_warn("live: the URL's query is not valid (%s): params are partial", err);
}

/*
 * The route of `def` that `url` lands on, with the same plugs as `from` (any
 * route of def when from is NULL), and the URL's params (query, then path
 * params over them) in *params; NULL if none.
 */
static const live_route *resolve_url(bn_arena *a, const bn_live_def *def, const live_route *from, bn_str url,
                                     bn_value **params)
{
    bn_str path = url_path(url);
    size_t n = routes_count();
    for (size_t i = 0; i < n; i++) {
        const live_route *e = &live_routes_[i];
        if (e->def != def || (from && !same_plugs(e, from)))
            continue;
        bn_value *p = bn_value_object(a);
        query_params(a, url, p);
        if (match_pattern(a, e->pattern, path, p)) {
            *params = p;
            return e;
        }
    }
    return NULL;
}

/* ---- helpers ------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SECRET_KEY_BASE, or BN_STR_NULL if missing or shorter than 64 bytes. */
static bn_str secret_key_base(void)
{
    bn_str s = bn_str_from_cstr(getenv("SECRET_KEY_BASE"));
    return s.len >= 64 ? s : BN_STR_NULL;
}

/* "phx-" + 16 base64url characters (12 random bytes). */
static void make_id(char out[4 + LIVE_ID_CHARS + 1])
{
    uint8_t bytes[LIVE_ID_CHARS * 3 / 4];
    bn_random_bytes(bytes, sizeof bytes);
    bn_buf b = BN_BUF_INIT;
    bn_base64url_encode(&b, bytes, sizeof bytes, false);
    memcpy(out, "phx-", 4);
    memcpy(out + 4, b.data, LIVE_ID_CHARS);
    out[4 + LIVE_ID_CHARS] = '\0';
    bn_buf_free(&b);
}

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

/* ---- inside callbacks --------------------------------------------------- */

void *bn_live_assigns(bn_live *lv) { return lv->assigns; }
void *bn_live_state(bn_live *lv) { return lv->state; }
void bn_live_changed(bn_live *lv, bn_tpl_changes changes) { lv->changed |= changes; }
bool bn_live_connected(const bn_live *lv) { return lv->ch != NULL; }
bn_arena *bn_live_arena(bn_live *lv) { return lv->ch ? bn_channel_arena(lv->ch) : lv->arena; }
const char *bn_live_id(const bn_live *lv) { return lv->id; }

int bn_live_subscribe(bn_live *lv, const char *topic) { return lv->ch ? bn_channel_subscribe(lv->ch, topic) : -1; }

void bn_live_send_after(bn_live *lv, uint64_t delay_ms, const bn_value *msg)
{
    if (!lv->ch)
        return; /* the dead render keeps nothing: mount sends again once connected */
    bn_arena *a = bn_channel_arena(lv->ch);
    bn_value *env = bn_value_object(a);
    bn_value_set(a, env, LIVE_INFO_KEY, msg ? (bn_value *)msg : bn_value_null(a));
    bn_channel_send_after(lv->ch, delay_ms, env);
}

static void set_nav(bn_live *lv, live_nav nav, const char *to, bool replace)
{
    lv->nav = nav;
    to = to ? to : "/";
    lv->nav_to = bn_arena_strndup(bn_live_arena(lv), to, strlen(to));
    lv->nav_replace = replace;
}

void bn_live_push_patch(bn_live *lv, const char *to, bool replace) { set_nav(lv, NAV_PATCH, to, replace); }
void bn_live_push_navigate(bn_live *lv, const char *to, bool replace) { set_nav(lv, NAV_NAVIGATE, to, replace); }
void bn_live_redirect(bn_live *lv, const char *to) { set_nav(lv, NAV_REDIRECT, to, false); }
void bn_live_set_title(bn_live *lv, const char *title)
{
    title = title ? title : "";
    lv->title = bn_arena_strndup(bn_live_arena(lv), title, strlen(title));
}

static void call_params(bn_live *lv, const bn_value *params, const char *uri)
{
    if (lv->def->handle_params)
        lv->def->handle_params(lv, params, uri);
}

/* ---- the dead render ---------------------------------------------------- */

/* The container around the view's HTML, as a template in plain mode (what
 * bn_conn_render_fn renders inside the layouts). */
typedef struct container {
    bn_live *lv;
    const char *token;
} container;

static void render_container(bn_tpl *t, const void *assigns)
{
    const container *k = assigns;
    bn_buf_printf(t->out, "<div id=\"%s\" data-phx-main data-phx-session=\"", k->lv->id);
    bn_tpl_escape(t->out, k->token, strlen(k->token));
    bn_buf_append(t->out, "\" data-phx-static=\"\">", 21);
    k->lv->def->render(t, k->lv->assigns);
    bn_buf_append(t->out, "</div>", 6);
}

static bn_live *live_new_in(bn_arena *a, const bn_live_def *def)
{
    size_t n = align16(sizeof(bn_live)) + align16(def->assigns_size) + def->state_size;
    char *mem = bn_arena_alloc(a, n);
    memset(mem, 0, n);
    bn_live *lv = (bn_live *)mem;
    lv->def = def;
    lv->assigns = mem + align16(sizeof(bn_live));
    lv->state = def->state_size ? mem + align16(sizeof(bn_live)) + align16(def->assigns_size) : NULL;
    return lv;
}

static void free_buf(void *arg) { bn_buf_free(arg); }

/* The request's URL for handle_params: "http://" + Host + path + query. */
static const char *dead_uri(bn_conn *c)
{
    bn_str host = bn_conn_req_header(c, BN_STR("host"));
    bn_str path = bn_conn_path(c), query = bn_conn_query(c);
    bn_buf b = BN_BUF_INIT;
    bn_buf_printf(&b, "http://%.*s%.*s%s%.*s", (int)host.len, host.ptr ? host.ptr : "", (int)path.len, path.ptr,
                  query.len ? "?" : "", (int)query.len, query.ptr ? query.ptr : "");
    const char *uri = bn_arena_strndup(bn_conn_arena(c), b.data, b.len);
    bn_buf_free(&b);
    return uri;
}

void bn_live_render(bn_conn *c)
{
    const bn_route *rt = bn_conn_route(c);
    const bn_live_def *def = rt ? rt->data : NULL;
    if (!def || !def->render || !def->mount)
        bn_raise(c, 500, "bn_live_render: the route has no bn_live_def with render and mount");
    bn_str skb = secret_key_base();
    if (!skb.ptr)
        bn_raise(c, 500, "LiveView needs SECRET_KEY_BASE (at least 64 bytes) to sign its session token");
    register_router_once(bn_conn_router(c));
    const live_route *route = register_route(def, rt);

    bn_arena *a = bn_conn_arena(c);
    bn_live *lv = live_new_in(a, def);
    lv->arena = a;
    make_id(lv->id);
    const bn_value *session = bn_session_fetched(c) ? bn_session_all(c) : bn_value_object(a);
    if (def->mount(lv, bn_conn_params(c), session) != 0)
        bn_raise(c, 403, "%s refused the mount", def->name);
    if (!lv->nav)
        call_params(lv, bn_conn_params(c), dead_uri(c));
    if (lv->nav) { /* Phoenix's dead render answers every navigation with a redirect */
        if (lv->nav_to[0] == '/' && lv->nav_to[1] != '/')
            bn_conn_redirect(c, lv->nav_to);
        else
            bn_conn_redirect_external(c, lv->nav_to);
        return;
    }

    bn_value *data = bn_value_object(a);
    bn_value_set(a, data, "id", bn_value_string(a, bn_str_from_cstr(lv->id)));
    bn_value_set(a, data, "view", bn_value_string(a, bn_str_from_cstr(def->name)));
    if (route)
        bn_value_set(a, data, "route", bn_value_string(a, bn_str_from_cstr(route->pattern)));
    bn_value_set(a, data, "session", (bn_value *)session);
    bn_buf *tok = bn_arena_alloc(a, sizeof *tok);
    *tok = (bn_buf)BN_BUF_INIT;
    bn_conn_defer(c, free_buf, tok);
    bn_token_sign(tok, skb, BN_STR(LIVE_SALT), data, now_ms(), LIVE_TOKEN_MAX_AGE_S);
    bn_buf_append(tok, "", 1);

    if (lv->title)
        bn_conn_assign(c, "page_title", bn_value_string(a, bn_str_from_cstr(lv->title)));
    else if (def->title && !bn_value_is(bn_conn_assigned(c, "page_title"), BN_VALUE_STRING))
        bn_conn_assign(c, "page_title", bn_value_string(a, bn_str_from_cstr(def->title)));
    container k = {lv, tok->data};
    bn_conn_render_fn(c, 0, render_container, &k);
}

/* ---- trees ---------------------------------------------------------------- */

static void copy_dyn(bn_arena *a, bn_dyn *dst, const bn_dyn *src);

static bn_rendered *copy_rendered(bn_arena *a, const bn_rendered *r)
{
    bn_rendered *n = bn_arena_alloc(a, sizeof *n);
    n->block = r->block;
    n->dynamics = bn_arena_alloc(a, (r->block->ndynamics ? r->block->ndynamics : 1) * sizeof(bn_dyn));
    for (uint32_t i = 0; i < r->block->ndynamics; i++)
        copy_dyn(a, &n->dynamics[i], &r->dynamics[i]);
    return n;
}

static void copy_dyn(bn_arena *a, bn_dyn *dst, const bn_dyn *src)
{
    *dst = *src;
    switch (src->kind) {
    case BN_DYN_STRING:
        dst->u.string = bn_str_make(bn_arena_strndup(a, src->u.string.ptr, src->u.string.len), src->u.string.len);
        break;
    case BN_DYN_NESTED:
        dst->u.nested = copy_rendered(a, src->u.nested);
        break;
    case BN_DYN_LIST: {
        const bn_comprehension *s = src->u.list;
        bn_comprehension *l = bn_arena_alloc(a, sizeof *l);
        uint32_t nd = s->block->ndynamics;
        l->block = s->block;
        l->count = s->count;
        l->reads = s->reads;
        l->stream = NULL;
        l->entries = bn_arena_alloc(a, (s->count ? s->count : 1) * sizeof *l->entries);
        for (size_t e = 0; e < s->count; e++) {
            l->entries[e] = bn_arena_alloc(a, (nd ? nd : 1) * sizeof(bn_dyn));
            for (uint32_t i = 0; i < nd; i++)
                copy_dyn(a, &l->entries[e][i], &s->entries[e][i]);
        }
        dst->u.list = l;
        break;
    }
    default:
        break;
    }
}

/* Completes `r` (rendered against `prev`) with prev's values where it has
 * UNCHANGED holes, copied into `a`, so that it can be the next prev. */
static void fill_holes(bn_arena *a, bn_rendered *r, const bn_rendered *prev)
{
    if (!prev || prev->block != r->block)
        return; /* rendered in full */
    for (uint32_t i = 0; i < r->block->ndynamics; i++) {
        bn_dyn *d = &r->dynamics[i];
        const bn_dyn *p = &prev->dynamics[i];
        if (d->kind == BN_DYN_UNCHANGED)
            copy_dyn(a, d, p);
        else if (d->kind == BN_DYN_NESTED && p->kind == BN_DYN_NESTED)
            fill_holes(a, d->u.nested, p->u.nested);
    }
}

/* ---- streams [stream/4, stream_insert/4, stream_delete/3] ------------------ */

/*
 * A stream is an assign (its changed bit names it) from which the template's
 * `:for` renders the batch, the items of this update only: the server keeps
 * no item. Each operation marks the assign changed; the render then finds the
 * comprehension whose dynamic reads it and gives it the pending operations as
 * its "stream" [ref, inserts, deletes(, true)]. Once sent, the comprehension
 * is emptied in the kept tree as the client empties its copy, so the next
 * batch goes whole and a render without operations sends nothing of it.
 */
typedef struct live_stream {
    bn_tpl_changes bit;
    bn_buf inserts; /* `[dom_id,at,limit,update_only]` items, comma-separated */
    bn_buf deletes; /* JSON strings, comma-separated */
    bool reset;
    bool pending;   /* operations since the last render */
} live_stream;

static live_stream *stream_of(bn_live *lv, bn_tpl_changes bit)
{
    if (!lv->ch || !bit)
        return NULL; /* the dead render renders whatever the batch holds; the client gets it again at join */
    lv->changed |= bit;
    for (size_t i = 0; i < lv->nstreams; i++)
        if (lv->streams[i].bit == bit)
            return &lv->streams[i];
    lv->streams = bn_xrealloc(lv->streams, (lv->nstreams + 1) * sizeof *lv->streams);
    live_stream *s = &lv->streams[lv->nstreams++];
    *s = (live_stream){.bit = bit, .inserts = BN_BUF_INIT, .deletes = BN_BUF_INIT};
    return s;
}

void bn_live_stream_insert_opts(bn_live *lv, bn_tpl_changes stream, const char *dom_id, int at, int limit,
                                bool update_only)
{
    live_stream *s = stream_of(lv, stream);
    if (!s || !dom_id)
        return;
    if (s->inserts.len)
        bn_buf_append(&s->inserts, ",", 1);
    bn_buf_append(&s->inserts, "[", 1);
    bn_json_encode_string(&s->inserts, bn_str_from_cstr(dom_id));
    if (limit)
        bn_buf_printf(&s->inserts, ",%d,%d,%s]", at, limit, update_only ? "true" : "false");
    else
        bn_buf_printf(&s->inserts, ",%d,null,%s]", at, update_only ? "true" : "false");
    s->pending = true;
}

void bn_live_stream_insert(bn_live *lv, bn_tpl_changes stream, const char *dom_id, int at)
{
    bn_live_stream_insert_opts(lv, stream, dom_id, at, 0, false);
}

void bn_live_stream_delete(bn_live *lv, bn_tpl_changes stream, const char *dom_id)
{
    live_stream *s = stream_of(lv, stream);
    if (!s || !dom_id)
        return;
    if (s->deletes.len)
        bn_buf_append(&s->deletes, ",", 1);
    bn_json_encode_string(&s->deletes, bn_str_from_cstr(dom_id));
    s->pending = true;
}

void bn_live_stream_reset(bn_live *lv, bn_tpl_changes stream)
{
    live_stream *s = stream_of(lv, stream);
    if (!s)
        return;
    s->reset = s->pending = true; /* the client empties the stream, then applies this batch's inserts */
}

static void streams_free(bn_live *lv)
{
    for (size_t i = 0; i < lv->nstreams; i++) {
        bn_buf_free(&lv->streams[i].inserts);
        bn_buf_free(&lv->streams[i].deletes);
    }
    free(lv->streams);
    lv->streams = NULL;
    lv->nstreams = 0;
}

/* The stream whose assign the comprehension's dynamic reads, or NULL. */
static live_stream *stream_for(bn_live *lv, const bn_comprehension *c)
{
    for (size_t i = 0; i < lv->nstreams; i++)
        if (c->reads & lv->streams[i].bit)
            return &lv->streams[i];
    return NULL;
}

/* Calls fn on every comprehension of the tree outside comprehensions (streams do not nest). */
static void each_list(bn_rendered *r, void (*fn)(bn_live *lv, bn_arena *a, bn_comprehension *c), bn_live *lv,
                      bn_arena *a)
{
    for (uint32_t i = 0; i < r->block->ndynamics; i++) {
        bn_dyn *d = &r->dynamics[i];
        if (d->kind == BN_DYN_NESTED)
            each_list(d->u.nested, fn, lv, a);
        else if (d->kind == BN_DYN_LIST)
            fn(lv, a, d->u.list);
    }
}

/* A stream's comprehension just rendered: its operations as "stream"; without any, no entries. */
static void stream_mark(bn_live *lv, bn_arena *a, bn_comprehension *c)
{
    live_stream *s = stream_for(lv, c);
    if (!s)
        return;
    if (!s->pending) {
        c->count = 0;
        return;
    }
    size_t ref = (size_t)(s - lv->streams);
    bn_buf b = BN_BUF_INIT;
    bn_buf_printf(&b, "[\"%zu\",[", ref);
    bn_buf_append(&b, s->inserts.data ? s->inserts.data : "", s->inserts.len);
    bn_buf_append(&b, "],[", 3);
    bn_buf_append(&b, s->deletes.data ? s->deletes.data : "", s->deletes.len);
    bn_buf_append(&b, s->reset ? "],true]" : "]]", s->reset ? 7 : 2);
    c->stream = bn_arena_strndup(a, b.data, b.len);
    bn_buf_free(&b);
    s->inserts.len = s->deletes.len = 0;
    s->reset = s->pending = false;
}

/* Sent: the kept tree holds the stream's comprehension empty, as the client does. */
static void stream_sent(bn_live *lv, bn_arena *a, bn_comprehension *c)
{
    (void)a;
    if (stream_for(lv, c)) {
        c->count = 0;
        c->stream = NULL;
    }
}

static void streams_mark(bn_live *lv, bn_arena *a, bn_rendered *r)
{
    if (lv->nstreams)
        each_list(r, stream_mark, lv, a);
}

/* After a render: the tree's stream comprehensions emptied; operations on a stream the page does not show dropped. */
static void streams_sent(bn_live *lv, bn_rendered *r)
{
    if (!lv->nstreams)
        return;
    each_list(r, stream_sent, lv, NULL);
    for (size_t i = 0; i < lv->nstreams; i++) {
        live_stream *s = &lv->streams[i];
        s->inserts.len = s->deletes.len = 0;
        s->reset = s->pending = false;
    }
}

/*
 * Renders the view against its previous tree and appends the JSON to `out`
 * (with the top statics on a first render). Returns false (message in *error)
 * on a render error: the view keeps its previous tree.
 */
static bool render_json(bn_live *lv, bn_buf *out, bool first, const char **error)
{
    int next = 1 - lv->cur;
    bn_arena *a = &lv->trees[next];
    bn_tpl_changes changed = first ? BN_TPL_ALL : lv->changed;
    const bn_rendered *prev = first ? NULL : lv->prev;
    bn_rendered *r = bn_tpl_render_tree_fn(a, lv->def->render, lv->assigns, changed, prev, error);
    lv->changed = 0;
    if (!r) {
        bn_arena_reset(a);
        return false;
    }
    streams_mark(lv, a, r);
    bn_rendered_diff_to_json(r, prev, first, out); /* a list sends only the entries that changed */
    fill_holes(a, r, prev);
    streams_sent(lv, r);
    bn_arena_reset(&lv->trees[lv->cur]);
    lv->cur = next;
    lv->prev = r;
    return true;
}

/* ---- the channel ---------------------------------------------------------- */

typedef struct live_channel {
    bn_live *lv;
} live_channel;

static bn_live *channel_live(bn_channel *ch) { return ((live_channel *)bn_channel_state(ch))->lv; }

static void live_free(bn_live *lv)
{
    if (!lv)
        return;
    bn_arena_destroy(&lv->trees[0]);
    bn_arena_destroy(&lv->trees[1]);
    bn_buf_free(&lv->events);
    bn_buf_free(&lv->hook_reply);
    streams_free(lv);
    free(lv->url_mem);
    free(lv);
}

static int reply_error(bn_channel *ch, const char *reason)
{
    bn_arena *a = bn_channel_arena(ch);
    bn_value *r = bn_value_object(a);
    bn_value_set(a, r, "reason", bn_value_string(a, bn_str_from_cstr(reason)));
    bn_channel_reply(ch, "error", r);
    return 1;
}

/* The view named by the join's session token, or NULL (stale). */
static const bn_live_def *verify_session(bn_channel *ch, const bn_value *payload, const bn_value **session,
                                         bn_str *route)
{
    bn_str skb = secret_key_base();
    if (!skb.ptr) {
        bn_warn("live: SECRET_KEY_BASE missing or shorter than 64 bytes: every join is stale");
        return NULL;
    }
    bn_value *data = NULL;
    bn_str token = bn_value_str(bn_value_get(payload, "session"));
    if (bn_token_verify(bn_channel_arena(ch), skb, BN_STR(LIVE_SALT), token, LIVE_TOKEN_MAX_AGE_S, now_ms(), &data)
        != BN_TOKEN_OK)
        return NULL;
    bn_str topic = bn_channel_topic(ch);
    bn_str id = bn_value_str(bn_value_get(data, "id"));
    if (topic.len < 3 || !bn_str_eq(id, bn_str_make(topic.ptr + 3, topic.len - 3)))
        return NULL;
    const bn_value *s = bn_value_get(data, "session");
    *session = bn_value_is(s, BN_VALUE_OBJECT) ? s : bn_value_object(bn_channel_arena(ch));
    *route = bn_value_str(bn_value_get(data, "route"));
    return find_view(bn_value_str(bn_value_get(data, "view")));
}

static void set_url(bn_live *lv, bn_str url)
{
    char *mem = bn_xcalloc(1, url.len + 1);
    memcpy(mem, url.ptr, url.len);
    free(lv->url_mem);
    lv->url = lv->url_mem = mem;
}

/* `to` (a path) as a full URL on the current URL's scheme and host, in the callback's arena. */
static bn_str absolute_url(bn_live *lv, const char *to)
{
    bn_str cur = bn_str_from_cstr(lv->url ? lv->url : "");
    bn_str path = url_path(cur);
    size_t origin = path.ptr && memmem(cur.ptr, cur.len, "://", 3) ? (size_t)(path.ptr - cur.ptr) : 0;
    if (to[0] != '/' || to[1] == '/')
        origin = 0; /* already a URL */
    bn_buf b = BN_BUF_INIT;
    bn_buf_printf(&b, "%.*s%s", (int)origin, cur.ptr, to);
    bn_str u = bn_str_make(bn_arena_strndup(bn_live_arena(lv), b.data, b.len), b.len);
    bn_buf_free(&b);
    return u;
}

/* {"to":…,"kind":…} (kind NULL: none) appended to out. */
static void nav_json(bn_live *lv, bn_buf *out, bool kind)
{
    bn_arena *a = bn_live_arena(lv);
    bn_value *v = bn_value_object(a);
    bn_value_set(a, v, "to", bn_value_string(a, bn_str_from_cstr(lv->nav_to)));
    if (kind)
        bn_value_set(a, v, "kind", bn_value_string(a, lv->nav_replace ? BN_STR("replace") : BN_STR("push")));
    bn_json_encode(out, v);
}

/*
 * Applies a pending push_patch: the URL becomes `to` and handle_params runs
 * (again, if it patched too, at most LIVE_MAX_PATCHES times); `patched` gets
 * each patch's {to, kind}, the last one last. A `to` that is not a known
 * route of this view under the same plugs becomes a push_navigate: the
 * client's navigation join then either lands or loads the page.
 */
static void apply_patches(bn_live *lv, void (*patched)(bn_live *lv, void *arg), void *arg)
{
    for (int i = 0; lv->nav == NAV_PATCH; i++) {
        if (i == LIVE_MAX_PATCHES)
            bn_channel_raise(lv->ch, "%s: push_patch from handle_params more than %d times in a row", lv->def->name,
                             LIVE_MAX_PATCHES);
        bn_value *params = NULL;
        bn_str url = absolute_url(lv, lv->nav_to);
        if (!lv->route || !resolve_url(bn_live_arena(lv), lv->def, lv->route, url, &params)) {
            bn_warn("live: %s: push_patch to %s, not a route of this view in the same pipeline: navigating instead",
                    lv->def->name, lv->nav_to);
            lv->nav = NAV_NAVIGATE;
            return;
        }
        patched(lv, arg);
        lv->nav = NAV_NONE;
        set_url(lv, url);
        call_params(lv, params, lv->url);
    }
}

/* Splices the pending title as "t" into the JSON object that ends `out`. */
static void put_title(bn_live *lv, bn_buf *out)
{
    if (!lv->title || !out->len || out->data[out->len - 1] != '}')
        return;
    out->len--;
    if (out->data[out->len - 1] != '{')
        bn_buf_append(out, ",", 1);
    bn_buf_append(out, "\"t\":", 4);
    bn_arena *a = bn_live_arena(lv);
    bn_json_encode(out, bn_value_string(a, bn_str_from_cstr(lv->title)));
    bn_buf_append(out, "}", 1);
    lv->title = NULL;
}

/* Splices the pushed events as "e" into the JSON object that ends `out` [push_event]. */
static void put_events(bn_live *lv, bn_buf *out)
{
    if (!lv->events.len || !out->len || out->data[out->len - 1] != '}')
        return;
    out->len--;
    if (out->data[out->len - 1] != '{')
        bn_buf_append(out, ",", 1);
    bn_buf_append(out, "\"e\":[", 5);
    bn_buf_append(out, lv->events.data, lv->events.len);
    bn_buf_append(out, "]}", 2);
    lv->events.len = 0;
}

/* Splices the hook reply as "r" into the JSON object that ends `out` [{:reply, map, socket}]. */
static void put_hook_reply(bn_live *lv, bn_buf *out)
{
    if (!lv->hook_reply.len || !out->len || out->data[out->len - 1] != '}')
        return;
    out->len--;
    if (out->data[out->len - 1] != '{')
        bn_buf_append(out, ",", 1);
    bn_buf_append(out, "\"r\":", 4);
    bn_buf_append(out, lv->hook_reply.data, lv->hook_reply.len);
    bn_buf_append(out, "}", 1);
    lv->hook_reply.len = 0;
}

void bn_live_reply(bn_live *lv, const bn_value *reply)
{
    if (!lv->ch || !lv->in_event) {
        bn_warn("live: %s: bn_live_reply outside handle_event: ignored", lv->def->name);
        return;
    }
    lv->hook_reply.len = 0;
    if (reply)
        bn_json_encode(&lv->hook_reply, reply);
    else
        bn_buf_append(&lv->hook_reply, "{}", 2);
}

void bn_live_push_event(bn_live *lv, const char *event, const bn_value *payload)
{
    if (!lv->ch)
        return; /* the dead render has no client to tell */
    if (lv->events.len)
        bn_buf_append(&lv->events, ",", 1);
    bn_buf_append(&lv->events, "[", 1);
    bn_json_encode_string(&lv->events, bn_str_from_cstr(event));
    bn_buf_append(&lv->events, ",", 1);
    if (payload)
        bn_json_encode(&lv->events, payload);
    else
        bn_buf_append(&lv->events, "{}", 2);
    bn_buf_append(&lv->events, "]", 1);
}

static void join_patched(bn_live *lv, void *arg)
{
    bn_buf *patch = arg; /* only the last one counts: the client's URL */
    patch->len = 0;
    nav_json(lv, patch, true);
}

/* A join refused by mount's navigation: {"redirect":{to}} or {"live_redirect":{to,kind}}. */
static int reply_nav_error(bn_live *lv)
{
    bn_buf out = BN_BUF_INIT;
    bool live = lv->nav == NAV_NAVIGATE;
    bn_buf_append(&out, live ? "{\"live_redirect\":" : "{\"redirect\":", live ? 17 : 12);
    nav_json(lv, &out, live);
    bn_buf_append(&out, "}", 1);
    bn_channel_reply_json(lv->ch, "error", bn_str_make(out.data, out.len));
    bn_buf_free(&out);
    return 1;
}

static void join_failed(bn_channel *ch, bn_live *lv)
{
    live_free(lv);
    ((live_channel *)bn_channel_state(ch))->lv = NULL;
}

/* The route a join lands on: the "url" (a rejoin) or the "redirect" (live navigation) [§7.2 check 3]. */
static bool join_route(bn_live *lv, const bn_value *payload, bn_str token_route, bn_value **params)
{
    bn_arena *a = bn_channel_arena(lv->ch);
    const live_route *from = token_route.ptr ? find_route(lv->def, token_route) : NULL;
    bn_str url = bn_value_str(bn_value_get(payload, "url"));
    bn_str redirect = bn_value_str(bn_value_get(payload, "redirect"));
    if (redirect.ptr) {
        /* a live navigation within the view's routes under the same plugs; anything else: a page load */
        lv->route = from ? resolve_url(a, lv->def, from, redirect, params) : NULL;
        set_url(lv, redirect);
        return lv->route != NULL;
    }
    set_url(lv, url.ptr ? url : BN_STR(""));
    lv->route = resolve_url(a, lv->def, from, url, params);
    if (!lv->route) { /* a URL no route of this process matches: its query only */
        lv->route = from;
        *params = bn_value_object(a);
        query_params(a, url, *params);
    }
    return true;
}

/* What connect learned of the client: whether its CSRF token matched its session. */
typedef struct live_socket_state {
    bool stale; /* every join answers stale: the page must reload (PROTOCOLS.md §7.10) */
} live_socket_state;

static int live_join(bn_channel *ch, const bn_value *payload)
{
    const bn_value *session = NULL;
    bn_str token_route = BN_STR_NULL;
    const live_socket_state *sock = bn_socket_state(bn_channel_socket(ch));
    const bn_live_def *def = sock->stale ? NULL : verify_session(ch, payload, &session, &token_route);
    if (!def)
        return reply_error(ch, "stale");
    size_t n = align16(sizeof(bn_live)) + align16(def->assigns_size) + def->state_size;
    char *mem = bn_xcalloc(1, n);
    bn_live *lv = (bn_live *)mem;
    lv->def = def;
    lv->ch = ch;
    lv->assigns = mem + align16(sizeof(bn_live));
    lv->state = def->state_size ? mem + align16(sizeof(bn_live)) + align16(def->assigns_size) : NULL;
    bn_str topic = bn_channel_topic(ch);
    snprintf(lv->id, sizeof lv->id, "%.*s", (int)(topic.len - 3), topic.ptr + 3);
    ((live_channel *)bn_channel_state(ch))->lv = lv;

    bn_value *params = NULL;
    if (!join_route(lv, payload, token_route, &params)) {
        join_failed(ch, lv);
        return reply_error(ch, "unauthorized");
    }
    if (def->mount(lv, params, session) != 0) {
        join_failed(ch, lv);
        return reply_error(ch, "unauthorized");
    }
    bn_buf patch = BN_BUF_INIT;
    if (!lv->nav)
        call_params(lv, params, lv->url);
    apply_patches(lv, join_patched, &patch);
    if (lv->nav) {
        bn_buf_free(&patch);
        int rc = reply_nav_error(lv);
        join_failed(ch, lv);
        return rc;
    }
    bn_buf out = BN_BUF_INIT;
    const char *error = NULL;
    bn_buf_append(&out, "{\"rendered\":", 12);
    if (!render_json(lv, &out, true, &error)) {
        bn_buf_free(&out);
        bn_buf_free(&patch);
        bn_error("live: %s: render error at join: %s", def->name, error);
        join_failed(ch, lv);
        return reply_error(ch, "join crashed");
    }
    put_title(lv, &out);
    bn_buf_printf(&out, ",\"liveview_version\":\"%s\"", LIVE_VERSION);
    if (patch.len) {
        bn_buf_append(&out, ",\"live_patch\":", 14);
        bn_buf_append(&out, patch.data, patch.len);
    }
    bn_buf_append(&out, "}", 1);
    bn_channel_reply_json(ch, "ok", bn_str_make(out.data, out.len));
    bn_buf_free(&out);
    bn_buf_free(&patch);
    return 0;
}

/* A form event's value: the urlencoded form decoded, with `meta` merged in. */
static const bn_value *form_value(bn_arena *a, const bn_value *payload)
{
    bn_value *v = bn_value_object(a);
    char err[160];
    if (bn__parse_urlencoded(a, bn_value_str(bn_value_get(payload, "value")), v, NULL, err, sizeof err) != 0)
        bn_warn("live: a form event's value is not valid (%s): the form is partial", err);
    const bn_value *meta = bn_value_get(payload, "meta");
    if (bn_value_is(meta, BN_VALUE_OBJECT))
        for (size_t i = 0; i < meta->as.object.len; i++)
            bn_value_set_str(a, v, meta->as.object.members[i].key, meta->as.object.members[i].value);
    return v;
}

/* After a callback: the diff of what changed and the new title as `{"diff":…}` (wrap) or as it is, or nothing. */
static bool diff_json(bn_live *lv, bn_buf *out, bool wrap)
{
    if (!lv->changed && !lv->title && !lv->events.len && !lv->hook_reply.len)
        return false;
    const char *error = NULL;
    bn_buf body = BN_BUF_INIT;
    if (!lv->changed)
        bn_buf_append(&body, "{}", 2);
    else if (!render_json(lv, &body, false, &error)) {
        bn_buf_free(&body);
        bn_channel_raise(lv->ch, "%s: render error: %s", lv->def->name, error);
    }
    put_title(lv, &body);
    put_events(lv, &body);
    if (wrap)
        put_hook_reply(lv, &body);
    lv->hook_reply.len = 0; /* a push has no one to answer */
    if (wrap)
        bn_buf_append(out, "{\"diff\":", 8);
    bn_buf_append(out, body.data, body.len);
    if (wrap)
        bn_buf_append(out, "}", 1);
    bn_buf_free(&body);
    return true;
}

static void push_patched(bn_live *lv, void *arg)
{
    (void)arg;
    bn_buf b = BN_BUF_INIT;
    nav_json(lv, &b, true);
    bn_channel_push_json(lv->ch, "live_patch", bn_str_make(b.data, b.len));
    bn_buf_free(&b);
}

/*
 * After a callback (an event or a live_patch: `reply`; handle_info: pushes):
 * a patch pushes "live_patch" {to, kind} and runs handle_params; then a
 * redirect or live redirect ends the view [§7.3, §7.4], else the diff goes.
 */
static void after_callback(bn_live *lv, bool reply)
{
    apply_patches(lv, push_patched, NULL);
    bn_buf out = BN_BUF_INIT;
    if (lv->nav == NAV_REDIRECT || lv->nav == NAV_NAVIGATE) {
        bool live = lv->nav == NAV_NAVIGATE;
        if (reply) {
            bn_buf_append(&out, live ? "{\"live_redirect\":" : "{\"redirect\":", live ? 17 : 12);
            nav_json(lv, &out, live);
            bn_buf_append(&out, "}", 1);
            bn_channel_reply_json(lv->ch, "ok", bn_str_make(out.data, out.len));
        } else {
            nav_json(lv, &out, live);
            bn_channel_push_json(lv->ch, live ? "live_redirect" : "redirect", bn_str_make(out.data, out.len));
        }
        lv->nav = NAV_NONE;
        bn_channel_stop(lv->ch);
    } else if (diff_json(lv, &out, reply)) {
        if (reply)
            bn_channel_reply_json(lv->ch, "ok", bn_str_make(out.data, out.len));
        else
            bn_channel_push_json(lv->ch, "diff", bn_str_make(out.data, out.len));
    } else if (reply) {
        bn_channel_reply(lv->ch, "ok", NULL);
    }
    bn_buf_free(&out);
}

static void live_event(bn_live *lv, const bn_value *payload)
{
    bn_arena *a = bn_channel_arena(lv->ch);
    const bn_value *value;
    if (bn_str_eq(bn_value_str(bn_value_get(payload, "type")), BN_STR("form")))
        value = form_value(a, payload);
    else {
        value = bn_value_get(payload, "value");
        if (!value)
            value = bn_value_object(a);
    }
    lv->in_event = true;
    if (lv->def->handle_event)
        lv->def->handle_event(lv, bn_value_str(bn_value_get(payload, "event")), value);
    lv->in_event = false;
    after_callback(lv, true);
}

/* The client followed a <.link patch> or went back: {url} [§7.3, §7.6]. */
static void live_patch(bn_live *lv, const bn_value *payload)
{
    bn_str url = bn_value_str(bn_value_get(payload, "url"));
    bn_value *params = NULL;
    if (!url.ptr || !lv->route || !resolve_url(bn_channel_arena(lv->ch), lv->def, lv->route, url, &params)) {
        /* another view, or other plugs: the client navigates instead */
        bn_channel_reply_json(lv->ch, "ok", BN_STR("{\"link_redirect\":true}"));
        return;
    }
    set_url(lv, url);
    call_params(lv, params, lv->url);
    after_callback(lv, true);
}

static void live_in(bn_channel *ch, const bn_channel_msg *m)
{
    bn_live *lv = channel_live(ch);
    if (bn_str_eq(m->event, BN_STR("event")))
        live_event(lv, m->payload);
    else if (bn_str_eq(m->event, BN_STR("live_patch")))
        live_patch(lv, m->payload);
    else
        bn_channel_reply(ch, "ok", NULL); /* not in this slice (uploads, cids_*): acknowledged */
}

static void live_info(bn_channel *ch, const bn_value *msg)
{
    bn_live *lv = channel_live(ch);
    const bn_value *inner = bn_value_get(msg, LIVE_INFO_KEY);
    if (!inner) /* not ours: a broadcast to a topic the view subscribed to */
        inner = msg;
    if (!lv->def->handle_info)
        return;
    lv->def->handle_info(lv, inner);
    after_callback(lv, false);
}

static void live_terminate(bn_channel *ch, const char *reason)
{
    live_channel *st = bn_channel_state(ch);
    if (st->lv && st->lv->def->terminate)
        st->lv->def->terminate(st->lv, reason);
    live_free(st->lv);
    st->lv = NULL;
}

/* ---- the socket ------------------------------------------------------------ */

/*
 * The CSRF check of §7.10: when the endpoint fetched the cookie session for
 * /live (as a browser pipeline does), the `_csrf_token` param must be valid
 * against it, else the socket connects but every join is stale and the page
 * reloads. Without a fetched session there is nothing to check against (said
 * once in the log); in-process test sockets (c NULL) are trusted.
 */
static int live_connect(bn_socket *s, const bn_value *params, bn_conn *c)
{
    static _Atomic(bool) warned;
    live_socket_state *st = bn_socket_state(s);
    if (!c)
        return 0;
    register_router_once(bn_conn_router(c)); /* a fresh process (a restart) knows its views at once */
    if (!bn_session_fetched(c)) {
        if (!atomic_exchange(&warned, true))
            bn_warn("live: no session fetched for /live: the CSRF token of LiveView sockets is not checked "
                    "(fetch the session in an endpoint plug before bn_socket_plug(&bn_live_socket))");
        return 0;
    }
    bn_str token = bn_value_str(bn_value_get(params, BN_CSRF_PARAM));
    st->stale = !token.ptr || !bn_csrf_valid(c, token);
    if (st->stale)
        bn_debug("live: a socket whose CSRF token does not match its session: its joins are stale");
    return 0;
}

static const bn_channel_def live_channel_def = {
    .name = "Phoenix.LiveView.Channel",
    .state_size = sizeof(live_channel),
    .join = live_join,
    .handle_in = live_in,
    .handle_info = live_info,
    .terminate = live_terminate,
};

static const bn_channel_route live_routes[] = {{"lv:*", &live_channel_def}};

const bn_socket_def bn_live_socket = {
    .name = "Phoenix.LiveView.Socket",
    .path = "/live",
    .channels = live_routes,
    .nchannels = 1,
    .connect = live_connect,
    .state_size = sizeof(live_socket_state),
    .longpoll = true,
};
