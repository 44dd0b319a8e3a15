/*
 * LiveView, server side [Phoenix.LiveView]: the dead render of a bn_live
 * route (mount disconnected, render inside the layouts, a signed session
 * token in data-phx-session), then the "lv:*" channel of bn_live_socket that
 * the npm phoenix_live_view client joins: mount connected, the full rendered
 * tree in the join reply, and diffs of the changed dynamics after events and
 * handle_info. PROTOCOLS.md §7 has the wire format.
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
#define LIVE_MAX_VIEWS 256

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
};

/* ---- the registry of views, by name ------------------------------------- */

/* Filled by the dead render: a join that names a view this process never
 * rendered answers "stale", and the client's reload registers it. */
static pthread_mutex_t views_lock = PTHREAD_MUTEX_INITIALIZER;
static const bn_live_def *views[LIVE_MAX_VIEWS];
static size_t nviews;

static void register_view(const bn_live_def *def)
{
    pthread_mutex_lock(&views_lock);
    size_t i = 0;
    while (i < nviews && strcmp(views[i]->name, def->name) != 0)
        i++;
    if (i == nviews && nviews < LIVE_MAX_VIEWS)
        views[nviews++] = def;
    else if (i == nviews)
        bn_warn("live: more than %d views, %s is not registered", LIVE_MAX_VIEWS, def->name);
    pthread_mutex_unlock(&views_lock);
}

static const bn_live_def *find_view(bn_str name)
{
    const bn_live_def *found = NULL;
    pthread_mutex_lock(&views_lock);
    for (size_t i = 0; i < nviews && !found; i++)
        if (bn_str_eq(bn_str_from_cstr(views[i]->name), name))
            found = views[i];
    pthread_mutex_unlock(&views_lock);
    return found;
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

void bn_live_render(bn_conn *c)
{
    const bn_route *rt = bn_conn_route(c);
    const bn_live_def *def = rt ? rt->data : NULL;
    if (!def || !def->render || !def->mount)
        bn_raise(c, 500, "bn_live_render: the route has no bn_live_def with render and mount");
    bn_str skb = secret_key_base();
    if (!skb.ptr)
        bn_raise(c, 500, "LiveView needs SECRET_KEY_BASE (at least 64 bytes) to sign its session token");
    register_view(def);

    bn_arena *a = bn_conn_arena(c);
    bn_live *lv = live_new_in(a, def);
    lv->arena = a;
    make_id(lv->id);
    const bn_value *session = bn_session_fetched(c) ? bn_session_all(c) : bn_value_object(a);
    if (def->mount(lv, bn_conn_params(c), session) != 0)
        bn_raise(c, 403, "%s refused the mount", def->name);

    bn_value *data = bn_value_object(a);
    bn_value_set(a, data, "id", bn_value_string(a, bn_str_from_cstr(lv->id)));
    bn_value_set(a, data, "view", bn_value_string(a, bn_str_from_cstr(def->name)));
    bn_value_set(a, data, "session", (bn_value *)session);
    bn_buf *tok = bn_arena_alloc(a, sizeof *tok);
    *tok = (bn_buf)BN_BUF_INIT;
    bn_conn_defer(c, free_buf, tok);
    bn_token_sign(tok, skb, BN_STR(LIVE_SALT), data, now_ms(), LIVE_TOKEN_MAX_AGE_S);
    bn_buf_append(tok, "", 1);

    if (def->title && !bn_value_is(bn_conn_assigned(c, "page_title"), BN_VALUE_STRING))
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
    bn_rendered_to_json(r, first, out);
    fill_holes(a, r, prev);
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
static const bn_live_def *verify_session(bn_channel *ch, const bn_value *payload, const bn_value **session)
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
    return find_view(bn_value_str(bn_value_get(data, "view")));
}

/* The params of the joined URL: its query decoded (path params are not
 * matched again in this slice). */
static bn_value *url_params(bn_arena *a, const bn_value *payload)
{
    bn_value *params = bn_value_object(a);
    bn_str url = bn_value_str(bn_value_get(payload, "url"));
    const char *q = url.ptr ? memchr(url.ptr, '?', url.len) : NULL;
    if (!q)
        return params;
    bn_str query = bn_str_make(q + 1, url.len - (size_t)(q + 1 - url.ptr));
    const char *hash = memchr(query.ptr, '#', query.len);
    if (hash)
        query.len = (size_t)(hash - query.ptr);
    char err[160];
    if (bn__parse_urlencoded(a, query, params, NULL, err, sizeof err) != 0)
        bn_warn("live: the joined URL's query is not valid (%s): params are partial", err);
    return params;
}

static int live_join(bn_channel *ch, const bn_value *payload)
{
    const bn_value *session = NULL;
    const bn_live_def *def = verify_session(ch, payload, &session);
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

    bn_arena *a = bn_channel_arena(ch);
    if (def->mount(lv, url_params(a, payload), session) != 0) {
        live_free(lv);
        ((live_channel *)bn_channel_state(ch))->lv = NULL;
        return reply_error(ch, "unauthorized");
    }
    bn_buf out = BN_BUF_INIT;
    const char *error = NULL;
    bn_buf_append(&out, "{\"rendered\":", 12);
    if (!render_json(lv, &out, true, &error)) {
        bn_buf_free(&out);
        bn_error("live: %s: render error at join: %s", def->name, error);
        live_free(lv);
        ((live_channel *)bn_channel_state(ch))->lv = NULL;
        return reply_error(ch, "join crashed");
    }
    bn_buf_printf(&out, ",\"liveview_version\":\"%s\"}", LIVE_VERSION);
    bn_channel_reply_json(ch, "ok", bn_str_make(out.data, out.len));
    bn_buf_free(&out);
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

/* After a callback: the diff of what changed as `{"diff":…}` (wrap) or as it is, or nothing. */
static bool diff_json(bn_live *lv, bn_buf *out, bool wrap)
{
    if (!lv->changed)
        return false;
    const char *error = NULL;
    bn_buf body = BN_BUF_INIT;
    if (!render_json(lv, &body, false, &error)) {
        bn_buf_free(&body);
        bn_channel_raise(lv->ch, "%s: render error: %s", lv->def->name, error);
    }
    if (wrap)
        bn_buf_append(out, "{\"diff\":", 8);
    bn_buf_append(out, body.data, body.len);
    if (wrap)
        bn_buf_append(out, "}", 1);
    bn_buf_free(&body);
    return true;
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
    if (lv->def->handle_event)
        lv->def->handle_event(lv, bn_value_str(bn_value_get(payload, "event")), value);
    bn_buf out = BN_BUF_INIT;
    if (diff_json(lv, &out, true))
        bn_channel_reply_json(lv->ch, "ok", bn_str_make(out.data, out.len));
    else
        bn_channel_reply(lv->ch, "ok", NULL);
    bn_buf_free(&out);
}

static void live_in(bn_channel *ch, const bn_channel_msg *m)
{
    bn_live *lv = channel_live(ch);
    if (bn_str_eq(m->event, BN_STR("event")))
        live_event(lv, m->payload);
    else
        bn_channel_reply(ch, "ok", NULL); /* not in this slice (live_patch, uploads, cids_*): acknowledged */
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
    bn_buf out = BN_BUF_INIT;
    if (diff_json(lv, &out, false))
        bn_channel_push_json(ch, "diff", bn_str_make(out.data, out.len));
    bn_buf_free(&out);
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

static int live_connect(bn_socket *s, const bn_value *params, bn_conn *c)
{
    (void)s, (void)params, (void)c; /* the session and CSRF check come in a later slice */
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
    .longpoll = true,
};
