/*
 * Presence [Phoenix.Presence, Phoenix.Tracker]: who is tracked on which
 * topic, on every node of the cluster.
 *
 * One process-wide table (a mutex) holds topic -> key -> metas; each meta
 * remembers the node that owns it, and a local one its channel. A node is
 * the only authority over its own metas ("per-node authority"):
 *  - a local track/update/untrack changes the table, sends the other nodes
 *    its ops as a "delta" with our next sequence number, then broadcasts the
 *    client-facing "presence_diff" to the topic (bn_broadcast_json reaches
 *    every node's subscribers through PubSub, behind the delta);
 *  - a node that has said nothing for presence_heartbeat_ms says "hb" with
 *    its sequence number;
 *  - a receiver applies a node's deltas in sequence, silently (the origin's
 *    broadcast already told the clients). A gap, a node it does not know, or
 *    a node that restarted (a new incarnation "v") makes it ask that node for
 *    its whole state ("state_req", direct), which then replaces that node's
 *    metas: the differences go to this node's subscribers only;
 *  - a node silent for presence_timeout_ms is dead: its metas leave, each
 *    survivor telling its own subscribers.
 *
 * The messages (topic BN_PRESENCE_TOPIC, JSON payloads; a meta is the JSON
 * object the clients get, phx_ref included):
 *   "delta"     {"v": V, "s": SEQ, "ops": [[topic, key, ref, meta | null (a leave)], ...]}
 *   "hb"        {"v": V, "s": SEQ}
 *   "state_req" {"v": V}                                  (to one node, or to all after a reconnect)
 *   "state"     {"v": V, "s": SEQ, "metas": [[topic, key, ref, meta], ...]}   (to the asker)
 * V is the sender's incarnation (its start time in ns): a restarted node,
 * whose numbering starts again, is a new one.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bennu/crypto.h"
#include "pubsub/pubsub_internal.h"

#define DEFAULT_HEARTBEAT_MS 1500
#define DEFAULT_TIMEOUT_MS 5000

/* ---- a small intrusive hash table ------------------------------------------------- */

typedef struct hlink {
    struct hlink *next;
    uint64_t hash;
} hlink;

typedef struct htab {
    hlink **slots;
    size_t mask; /* slots - 1 */
    size_t len;
} htab;

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

static hlink *htab_chain(const htab *t, uint64_t hash) { return t->slots ? t->slots[hash & t->mask] : NULL; }

static void htab_grow(htab *t)
{
    size_t n = t->slots ? (t->mask + 1) * 2 : 8;
    hlink **slots = bn_xcalloc(n, sizeof(*slots));
    for (size_t i = 0; t->slots && i <= t->mask; i++) {
        for (hlink *l = t->slots[i], *next; l; l = next) {
            next = l->next;
            l->next = slots[l->hash & (n - 1)];
            slots[l->hash & (n - 1)] = l;
        }
    }
    free(t->slots);
    t->slots = slots;
    t->mask = n - 1;
}

static void htab_add(htab *t, hlink *l, uint64_t hash)
{
    if (!t->slots || t->len > t->mask)
        htab_grow(t);
    l->hash = hash;
    l->next = t->slots[hash & t->mask];
    t->slots[hash & t->mask] = l;
    t->len++;
}

static void htab_del(htab *t, hlink *l)
{
    for (hlink **p = &t->slots[l->hash & t->mask]; *p; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            t->len--;
            return;
        }
    }
}

/* Things found by name: topics, keys, nodes. The name is stored after the struct. */
typedef struct named {
    hlink hl;
    size_t len;
    char *name; /* NUL-terminated */
} named;

static named *named_find(const htab *t, bn_str name)
{
    uint64_t h = hash_bytes(name.ptr, name.len);
    for (hlink *l = htab_chain(t, h); l; l = l->next) {
        named *n = bn_container_of(l, named, hl);
        if (l->hash == h && n->len == name.len && memcmp(n->name, name.ptr, name.len) == 0)
            return n;
    }
    return NULL;
}

/* Allocates a struct of `size` bytes that starts with a named, with room for `name`, and adds it to `t`. */
static void *named_new(htab *t, size_t size, bn_str name)
{
    named *n = bn_xcalloc(1, size + name.len + 1);
    n->name = (char *)n + size;
    memcpy(n->name, name.ptr, name.len);
    n->len = name.len;
    htab_add(t, &n->hl, hash_bytes(name.ptr, name.len));
    return n;
}

static bn_str name_of(const named *n) { return bn_str_make(n->name, n->len); }

/* ---- the table ------------------------------------------------------------------- */

typedef struct node {
    named n;            /* in P.nodes (the local node is not in it) */
    bn_list metas;      /* meta.owner_link */
    int64_t vsn;        /* its incarnation */
    uint64_t seq;       /* the last of its deltas applied */
    uint64_t last_seen; /* ms */
    bool syncing;       /* its state was asked for: its deltas wait for it */
    uint64_t asked_at;  /* ms */
} node;

typedef struct topic {
    named n;        /* in P.topics */
    htab keys;      /* pkey */
    bn_list order;  /* pkey.link, in the order they were first tracked */
} topic;

typedef struct pkey {
    named n;       /* in topic.keys */
    bn_list link;  /* in topic.order */
    topic *t;
    bn_list metas; /* meta.key_link, oldest first */
} pkey;

/* A local channel that tracks something: it untracks when it ends. */
typedef struct chan {
    hlink hl; /* in P.chans, by id */
    uint64_t id;
    bn_list metas; /* meta.chan_link */
} chan;

typedef struct meta {
    bn_list key_link;
    bn_list owner_link; /* in its node's metas */
    bn_list chan_link;  /* local metas: in their channel's */
    pkey *k;
    node *owner;
    struct chan *ch; /* a local meta's channel, else NULL */
    bool mark; /* seen in the state being applied */
    char ref[24];
    size_t json_len;
    char json[]; /* the meta as clients get it, phx_ref included */
} meta;

typedef bn__presence_send_fn send_fn;

static struct {
    pthread_mutex_t lock; /* everything below but the atomics and what init sets */
    htab topics, nodes, chans;
    node self;
    uint64_t seq;       /* the number of our last delta */
    uint64_t last_sent; /* ms: our last delta or heartbeat */
    bn_timer tick;
    bool ticking;
    uint16_t ref_node;  /* random: tells apart the phx_refs of nodes */
    _Atomic(uint32_t) ref_count;
    bn_presence_fetch_fn *_Atomic fetch;
    bn_loop *seam_loop;
    send_fn *seam_send;
} P = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init(void)
{
    bn_list_init(&P.self.metas);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    P.self.vsn = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    bn_random_bytes(&P.ref_node, sizeof(P.ref_node));
}

static void lock(void)
{
    pthread_once(&init_once, init);
    pthread_mutex_lock(&P.lock);
}

static void unlock(void) { pthread_mutex_unlock(&P.lock); }

static unsigned heartbeat_ms(void)
{
    const bn_pubsub_config *cfg = bn__pubsub_config();
    return cfg && cfg->presence_heartbeat_ms ? cfg->presence_heartbeat_ms : DEFAULT_HEARTBEAT_MS;
}

static unsigned timeout_ms(void)
{
    const bn_pubsub_config *cfg = bn__pubsub_config();
    return cfg && cfg->presence_timeout_ms ? cfg->presence_timeout_ms : DEFAULT_TIMEOUT_MS;
}

/* Where replication runs: the adapter's loop (NULL with the local adapter: nothing to replicate). */
static bn_loop *presence_loop(void) { return P.seam_loop ? P.seam_loop : bn__pubsub_loop(); }

static void send_msg(const char *target, const char *event, const bn_buf *payload)
{
    bn_str s = bn_str_make(payload->data, payload->len);
    if (P.seam_send)
        P.seam_send(target, event, s);
    else
        bn__pubsub_remote_send(target, BN_PRESENCE_TOPIC, event, false, s);
}

/* A unique meta ref: b64url of <<system time ns:64, node:16, counter:16>>, as Phoenix makes them. */
static void make_ref(char out[24])
{
    pthread_once(&init_once, init);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    uint16_t count = (uint16_t)atomic_fetch_add(&P.ref_count, 1);
    unsigned char raw[12];
    for (int i = 0; i < 8; i++)
        raw[i] = (unsigned char)(ns >> (56 - 8 * i));
    raw[8] = (unsigned char)(P.ref_node >> 8);
    raw[9] = (unsigned char)P.ref_node;
    raw[10] = (unsigned char)(count >> 8);
    raw[11] = (unsigned char)count;
    bn_buf b = BN_BUF_INIT;
    bn_base64url_encode(&b, raw, sizeof raw, false);
    memcpy(out, b.data, b.len); /* 16 characters */
    out[b.len] = '\0';
    bn_buf_free(&b);
}

static topic *topic_get(bn_str name, bool create)
{
    named *n = named_find(&P.topics, name);
    if (n || !create)
        return n ? bn_container_of(n, topic, n) : NULL;
    topic *t = named_new(&P.topics, sizeof(topic), name);
    bn_list_init(&t->order);
    return t;
}

static pkey *key_get(topic *t, bn_str name, bool create)
{
    named *n = named_find(&t->keys, name);
    if (n || !create)
        return n ? bn_container_of(n, pkey, n) : NULL;
    pkey *k = named_new(&t->keys, sizeof(pkey), name);
    k->t = t;
    bn_list_init(&k->metas);
    bn_list_push_back(&t->order, &k->link);
    return k;
}

static meta *meta_find(const pkey *k, bn_str ref)
{
    for (bn_list *l = k->metas.next; l != &k->metas; l = l->next) {
        meta *m = bn_container_of(l, meta, key_link);
        if (strlen(m->ref) == ref.len && memcmp(m->ref, ref.ptr, ref.len) == 0)
            return m;
    }
    return NULL;
}

/* Adds a meta (JSON text `json`, ref `ref`) owned by `owner` under topic/key. */
static meta *meta_add(bn_str topic_name, bn_str key, bn_str ref, bn_str json, node *owner)
{
    meta *m = bn_xcalloc(1, sizeof(*m) + json.len + 1);
    m->k = key_get(topic_get(topic_name, true), key, true);
    m->owner = owner;
    snprintf(m->ref, sizeof m->ref, BN_STR_FMT, BN_STR_ARG(ref));
    memcpy(m->json, json.ptr, json.len);
    m->json_len = json.len;
    bn_list_push_back(&m->k->metas, &m->key_link);
    bn_list_push_back(&owner->metas, &m->owner_link);
    bn_list_init(&m->chan_link);
    return m;
}

/* Takes `m` out of the table (dropping its key and topic if they become empty); the caller frees it. */
static void meta_unlink(meta *m)
{
    bn_list_remove(&m->key_link);
    bn_list_remove(&m->owner_link);
    bn_list_remove(&m->chan_link);
    pkey *k = m->k;
    m->k = NULL;
    if (!bn_list_empty(&k->metas))
        return;
    topic *t = k->t;
    htab_del(&t->keys, &k->n.hl);
    bn_list_remove(&k->link);
    free(k);
    if (t->keys.len)
        return;
    htab_del(&P.topics, &t->n.hl);
    free(t->keys.slots);
    free(t);
}

static bn_str meta_topic(const meta *m) { return name_of(&m->k->t->n); }
static bn_str meta_key(const meta *m) { return name_of(&m->k->n); }
static bn_str meta_json(const meta *m) { return bn_str_make(m->json, m->json_len); }
static bn_str meta_ref(const meta *m) { return bn_str_from_cstr(m->ref); }

static chan *chan_find(uint64_t id)
{
    uint64_t h = id * 0x9e3779b97f4a7c15ull;
    for (hlink *l = htab_chain(&P.chans, h); l; l = l->next) {
        chan *c = bn_container_of(l, chan, hl);
        if (c->id == id)
            return c;
    }
    return NULL;
}

static chan *chan_new(uint64_t id)
{
    chan *c = bn_xcalloc(1, sizeof(*c));
    c->id = id;
    bn_list_init(&c->metas);
    htab_add(&P.chans, &c->hl, id * 0x9e3779b97f4a7c15ull);
    return c;
}

/* The meta channel `id` tracks under `key` in its topic, or NULL (a key has a meta per tracker: few). */
static meta *chan_meta(bn_str topic_name, uint64_t id, bn_str key)
{
    topic *t = topic_get(topic_name, false);
    pkey *k = t ? key_get(t, key, false) : NULL;
    for (bn_list *l = k ? k->metas.next : NULL; k && l != &k->metas; l = l->next) {
        meta *m = bn_container_of(l, meta, key_link);
        if (m->ch && m->ch->id == id)
            return m;
    }
    return NULL;
}

static void chan_attach(chan *c, meta *m)
{
    m->ch = c;
    bn_list_push_back(&c->metas, &m->chan_link);
}

static node *node_find(bn_str name)
{
    named *n = named_find(&P.nodes, name);
    return n ? bn_container_of(n, node, n) : NULL;
}

static node *node_new(bn_str name, int64_t vsn)
{
    node *n = named_new(&P.nodes, sizeof(node), name);
    bn_list_init(&n->metas);
    n->vsn = vsn;
    return n;
}

/* ---- diffs: changes grouped into {"joins": {key: {"metas": [...]}}, "leaves": {...}} per topic ---- */

typedef struct change {
    bn_str topic, key, json; /* in the diffset's arena */
    bool join;
    size_t order;
} change;

typedef struct diffset {
    bn_arena a;
    change *v;
    size_t len, cap;
} diffset;

#define DIFFSET_INIT {BN_ARENA_INIT, NULL, 0, 0}

static bn_str arena_str(bn_arena *a, bn_str s) { return bn_str_make(bn_arena_strndup(a, s.ptr, s.len), s.len); }

static void diffset_add(diffset *d, const meta *m, bool join)
{
    if (d->len == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->v = bn_xrealloc(d->v, d->cap * sizeof(*d->v));
    }
    d->v[d->len] = (change){arena_str(&d->a, meta_topic(m)), arena_str(&d->a, meta_key(m)),
                            arena_str(&d->a, meta_json(m)), join, d->len};
    d->len++;
}

static void diffset_free(diffset *d)
{
    bn_arena_destroy(&d->a);
    free(d->v);
}

static int str_cmp(bn_str a, bn_str b)
{
    int c = memcmp(a.ptr, b.ptr, BN_MIN(a.len, b.len));
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

static int change_cmp(const void *pa, const void *pb)
{
    const change *a = pa, *b = pb;
    int c = str_cmp(a->topic, b->topic);
    if (!c)
        c = str_cmp(a->key, b->key);
    return c ? c : (a->order > b->order) - (a->order < b->order);
}

/* {key: {"metas": [...]}} of the joins (or leaves) among v[0..n), sorted by key. */
static void encode_group(bn_buf *out, const change *v, size_t n, bool join)
{
    const change *last = NULL;
    bn_buf_append(out, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (v[i].join != join)
            continue;
        if (!last || !bn_str_eq(last->key, v[i].key)) {
            if (last)
                bn_buf_append(out, "]},", 3);
            bn_json_encode_string(out, v[i].key);
            bn_buf_append(out, ":{\"metas\":[", 11);
        } else {
            bn_buf_append(out, ",", 1);
        }
        bn_buf_append_str(out, v[i].json);
        last = &v[i];
    }
    if (last)
        bn_buf_append(out, "]}", 2);
    bn_buf_append(out, "}", 1);
}

typedef void emit_fn(const char *topic, bn_str diff_json);

/* Calls emit once per topic with its presence_diff. */
static void diffset_emit(diffset *d, emit_fn *emit)
{
    if (!d->len)
        return;
    qsort(d->v, d->len, sizeof(*d->v), change_cmp);
    bn_buf out = BN_BUF_INIT;
    for (size_t i = 0, j; i < d->len; i = j) {
        for (j = i + 1; j < d->len && bn_str_eq(d->v[j].topic, d->v[i].topic);)
            j++;
        out.len = 0;
        bn_buf_append(&out, "{\"joins\":", 9);
        encode_group(&out, d->v + i, j - i, true);
        bn_buf_append(&out, ",\"leaves\":", 10);
        encode_group(&out, d->v + i, j - i, false);
        bn_buf_append(&out, "}", 1);
        emit(d->v[i].topic.ptr, bn_str_make(out.data, out.len)); /* arena strings are NUL-terminated */
    }
    bn_buf_free(&out);
}

/* Runs the fetch hook on the "joins" and "leaves" of a diff, or on a state (`diff` false). */
static void fetch_json(const char *topic, bn_str json, bool diff, bn_buf *out)
{
    bn_presence_fetch_fn *fetch = atomic_load(&P.fetch);
    bn_arena a = BN_ARENA_INIT;
    bn_json_error err;
    bn_value *v = fetch ? bn_json_parse(&a, json, &err) : NULL;
    if (!v) {
        bn_buf_append_str(out, json);
        bn_arena_destroy(&a);
        return;
    }
    if (!diff) {
        fetch(topic, v, &a);
    } else {
        bn_value *joins = (bn_value *)bn_value_get(v, "joins"), *leaves = (bn_value *)bn_value_get(v, "leaves");
        if (bn_value_len(joins))
            fetch(topic, joins, &a);
        if (bn_value_len(leaves))
            fetch(topic, leaves, &a);
    }
    bn_json_encode(out, v);
    bn_arena_destroy(&a);
}

/* A local change: to the topic's subscribers on every node, fetched. */
static void emit_everywhere(const char *topic, bn_str diff)
{
    bn_buf out = BN_BUF_INIT;
    fetch_json(topic, diff, true, &out);
    bn_broadcast_json(topic, "presence_diff", bn_str_make(out.data, out.len));
    bn_buf_free(&out);
}

/* What another node's state or death changed: this node's subscribers only (each node tells its own). */
static void emit_here(const char *topic, bn_str diff) { bn_pubsub_local_broadcast(topic, "presence_diff", diff); }

/* ---- replication: sending -------------------------------------------------------- */

static void tick_fire(bn_timer *t);

/* The heartbeat timer, started on the presence loop by the first thing that runs there. */
static void ensure_ticking(void)
{
    if (P.ticking)
        return;
    P.ticking = true;
    bn_timer_init(&P.tick, tick_fire);
    bn_timer_start(presence_loop(), &P.tick, BN_MAX(1u, BN_MIN(heartbeat_ms() / 2, timeout_ms() / 4)));
}

static void append_op(bn_buf *b, bn_str topic, bn_str key, bn_str ref, bn_str json)
{
    if (b->len)
        bn_buf_append(b, ",", 1);
    bn_buf_append(b, "[", 1);
    bn_json_encode_string(b, topic);
    bn_buf_append(b, ",", 1);
    bn_json_encode_string(b, key);
    bn_buf_append(b, ",", 1);
    bn_json_encode_string(b, ref);
    bn_buf_append(b, ",", 1);
    if (json.ptr)
        bn_buf_append_str(b, json);
    else
        bn_buf_append(b, "null", 4);
    bn_buf_append(b, "]", 1);
}

/* A local change's ops, appended to `ops` for its delta. Locked. */
static void add_op(bn_buf *ops, const meta *m, bool join)
{
    append_op(ops, meta_topic(m), meta_key(m), meta_ref(m), join ? meta_json(m) : BN_STR_NULL);
}

/*
 * Sends a local change's ops as our next delta, locked: sends leave in the
 * order of their numbers, whatever thread makes them. The caller broadcasts
 * the change's presence_diff after this, so it reaches Redis behind the
 * delta: a node has applied the delta before its clients get the diff, and
 * a client that joins there in between finds the change in its
 * presence_state. Deltas are applied silently, so nothing would tell it
 * otherwise.
 */
static void send_delta_locked(bn_buf *ops)
{
    if (ops->len && presence_loop()) { /* the local adapter: no other node */
        bn_buf b = BN_BUF_INIT;
        bn_buf_printf(&b, "{\"v\":%lld,\"s\":%llu,\"ops\":[", (long long)P.self.vsn, (unsigned long long)++P.seq);
        bn_buf_append(&b, ops->data, ops->len);
        bn_buf_append(&b, "]}", 2);
        send_msg(NULL, "delta", &b);
        bn_buf_free(&b);
        P.last_sent = bn_clock_ms();
    }
    bn_buf_free(ops);
}

/* Our state, to `to`. Locked, like deltas, so that its number is exact. */
static void send_state_locked(const char *to)
{
    bn_buf b = BN_BUF_INIT, ops = BN_BUF_INIT;
    for (bn_list *l = P.self.metas.next; l != &P.self.metas; l = l->next)
        add_op(&ops, bn_container_of(l, meta, owner_link), true);
    bn_buf_printf(&b, "{\"v\":%lld,\"s\":%llu,\"metas\":[", (long long)P.self.vsn, (unsigned long long)P.seq);
    if (ops.len)
        bn_buf_append(&b, ops.data, ops.len);
    bn_buf_append(&b, "]}", 2);
    send_msg(to, "state", &b);
    bn_buf_free(&b);
    bn_buf_free(&ops);
}

/* "hb" (with our number) or "state_req", to `to` (NULL: every node). Locked. */
static void send_simple_locked(const char *to, const char *event)
{
    bn_buf b = BN_BUF_INIT;
    if (strcmp(event, "hb") == 0)
        bn_buf_printf(&b, "{\"v\":%lld,\"s\":%llu}", (long long)P.self.vsn, (unsigned long long)P.seq);
    else
        bn_buf_printf(&b, "{\"v\":%lld}", (long long)P.self.vsn);
    send_msg(to, event, &b);
    bn_buf_free(&b);
}

/* Asks `n` for its state (locked): its deltas wait until the state comes. */
static void ask(node *n, uint64_t now, bool *asked)
{
    n->syncing = true;
    n->asked_at = now;
    *asked = true;
}

/* Removes a node and its metas (locked); the leaves go to `d`. */
static void node_drop(node *n, diffset *d)
{
    while (!bn_list_empty(&n->metas)) {
        meta *m = bn_container_of(n->metas.next, meta, owner_link);
        if (d)
            diffset_add(d, m, false);
        meta_unlink(m);
        free(m);
    }
    htab_del(&P.nodes, &n->n.hl);
    free(n);
}

/* Every tick: heartbeats, dead nodes, state requests that got no answer. */
static void tick_fire(bn_timer *t)
{
    unsigned hb = heartbeat_ms(), timeout = timeout_ms();
    uint64_t now = bn_clock_ms();
    diffset d = DIFFSET_INIT;
    lock();
    for (size_t i = 0; P.nodes.slots && i <= P.nodes.mask; i++) {
        for (hlink *l = P.nodes.slots[i], *next; l; l = next) {
            next = l->next;
            node *n = bn_container_of(l, node, n.hl);
            if (now - n->last_seen >= timeout) {
                bn_info("presence: node %s silent for %u ms: its presences leave", n->n.name, timeout);
                node_drop(n, &d);
            } else if (n->syncing && now - n->asked_at >= 2 * (uint64_t)hb) {
                n->asked_at = now; /* no answer: ask again */
                send_simple_locked(n->n.name, "state_req");
            }
        }
    }
    if (now - P.last_sent >= hb) {
        P.last_sent = now;
        send_simple_locked(NULL, "hb");
    }
    unlock();
    diffset_emit(&d, emit_here);
    diffset_free(&d);
    bn_timer_start(presence_loop(), t, BN_MAX(1u, BN_MIN(hb / 2, timeout / 4)));
}

/* ---- replication: receiving ------------------------------------------------------- */

typedef struct op {
    bn_str topic, key, ref;
    const bn_value *meta; /* NULL or null: a leave */
} op;

static bool op_parse(const bn_value *v, op *o)
{
    o->topic = bn_value_str(bn_value_at(v, 0));
    o->key = bn_value_str(bn_value_at(v, 1));
    o->ref = bn_value_str(bn_value_at(v, 2));
    o->meta = bn_value_at(v, 3);
    if (!bn_value_is(o->meta, BN_VALUE_OBJECT))
        o->meta = NULL;
    return bn_value_len(v) == 4 && o->topic.ptr && o->key.ptr && o->ref.len && o->ref.len < sizeof(((meta *)0)->ref);
}

static meta *remote_add(node *n, const op *o)
{
    bn_buf json = BN_BUF_INIT;
    bn_json_encode(&json, o->meta);
    meta *m = meta_add(o->topic, o->key, o->ref, bn_str_make(json.data, json.len), n);
    bn_buf_free(&json);
    return m;
}

/* A delta's ops, in order (locked). Applying one twice changes nothing. */
static void apply_ops(node *n, const bn_value *ops)
{
    for (size_t i = 0; i < bn_value_len(ops); i++) {
        op o;
        if (!op_parse(bn_value_at(ops, i), &o))
            continue;
        topic *t = topic_get(o.topic, false);
        pkey *k = t ? key_get(t, o.key, false) : NULL;
        meta *m = k ? meta_find(k, o.ref) : NULL;
        if (o.meta && !m) {
            remote_add(n, &o);
        } else if (!o.meta && m && m->owner == n) {
            meta_unlink(m);
            free(m);
        }
    }
}

/* A node's whole state replaces what we had of it (locked); the differences go to `d`. */
static void apply_state(node *n, const bn_value *metas, diffset *d)
{
    for (size_t i = 0; i < bn_value_len(metas); i++) {
        op o;
        if (!op_parse(bn_value_at(metas, i), &o) || !o.meta)
            continue;
        topic *t = topic_get(o.topic, false);
        pkey *k = t ? key_get(t, o.key, false) : NULL;
        meta *m = k ? meta_find(k, o.ref) : NULL;
        if (m && m->owner != n)
            continue; /* a ref is one node's */
        if (!m) {
            m = remote_add(n, &o);
            diffset_add(d, m, true);
        }
        m->mark = true;
    }
    for (bn_list *l = n->metas.next, *next; l != &n->metas; l = next) {
        next = l->next;
        meta *m = bn_container_of(l, meta, owner_link);
        if (m->mark) {
            m->mark = false;
            continue;
        }
        diffset_add(d, m, false);
        meta_unlink(m);
        free(m);
    }
}

/* What one message from node `n` means (locked). Sets *asked to ask it for its state, *answer to
 * send it ours. */
static void on_message(node *n, const char *event, const bn_value *msg, uint64_t now, diffset *d, bool *asked,
                       bool *answer)
{
    int64_t seq = -1;
    bn_value_to_int(bn_value_get(msg, "s"), &seq);
    if (strcmp(event, "delta") == 0) {
        if (n->syncing || seq < 0 || (uint64_t)seq <= n->seq)
            return; /* the state will have it, or we did already */
        if ((uint64_t)seq != n->seq + 1) {
            ask(n, now, asked); /* we missed some */
            return;
        }
        apply_ops(n, bn_value_get(msg, "ops"));
        n->seq = (uint64_t)seq;
    } else if (strcmp(event, "hb") == 0) {
        if (!n->syncing && seq >= 0 && (uint64_t)seq > n->seq)
            ask(n, now, asked); /* its last deltas did not come */
    } else if (strcmp(event, "state_req") == 0) {
        *answer = true;
    } else if (strcmp(event, "state") == 0) {
        if (seq < 0 || (!n->syncing && (uint64_t)seq < n->seq))
            return; /* older than what we applied since */
        apply_state(n, bn_value_get(msg, "metas"), d);
        n->seq = (uint64_t)seq;
        n->syncing = false;
    }
}

void bn__presence_remote(const char *from, const char *event, bn_str payload)
{
    bn_arena a = BN_ARENA_INIT;
    bn_json_error err;
    const bn_value *msg = bn_json_parse(&a, payload, &err);
    int64_t vsn;
    if (!msg || !bn_value_to_int(bn_value_get(msg, "v"), &vsn)) {
        bn_warn("presence: malformed %s from node %s: dropped", event, from);
        bn_arena_destroy(&a);
        return;
    }
    uint64_t now = bn_clock_ms();
    diffset d = DIFFSET_INIT;
    bool asked = false, answer = false;
    lock();
    ensure_ticking();
    node *n = node_find(bn_str_from_cstr(from));
    if (n && n->vsn != vsn) { /* it restarted: what the old one tracked is gone */
        bn_info("presence: node %s restarted", from);
        node_drop(n, &d);
        n = NULL;
    }
    if (!n) {
        bn_info("presence: node %s is up", from);
        n = node_new(bn_str_from_cstr(from), vsn);
        if (strcmp(event, "state") != 0)
            ask(n, now, &asked);
    }
    n->last_seen = now;
    on_message(n, event, msg, now, &d, &asked, &answer);
    if (asked)
        send_simple_locked(from, "state_req");
    if (answer)
        send_state_locked(from);
    unlock();
    bn_arena_destroy(&a);
    diffset_emit(&d, emit_here);
    diffset_free(&d);
}

void bn__presence_connected(void)
{
    uint64_t now = bn_clock_ms();
    bool asked = false;
    lock();
    ensure_ticking();
    for (size_t i = 0; P.nodes.slots && i <= P.nodes.mask; i++)
        for (hlink *l = P.nodes.slots[i]; l; l = l->next)
            ask(bn_container_of(l, node, n.hl), now, &asked);
    P.last_sent = now;
    send_simple_locked(NULL, "hb");        /* we are here, and where our numbering is */
    send_simple_locked(NULL, "state_req"); /* messages may have been lost: everyone's state again */
    unlock();
}

void bn__presence_test_seam(bn_loop *loop, send_fn *send)
{
    P.seam_loop = loop;
    P.seam_send = send;
}

/* ---- the API ------------------------------------------------------------------------ */

/* The meta clients get: the user's fields, then phx_ref (and phx_ref_prev for an update). */
static void meta_encode(bn_buf *out, const bn_value *user, const char *ref, const char *prev)
{
    bn_buf_append(out, "{", 1);
    for (size_t i = 0; bn_value_is(user, BN_VALUE_OBJECT) && i < user->as.object.len; i++) {
        const bn_value_member *mb = &user->as.object.members[i];
        if (bn_str_eq(mb->key, BN_STR("phx_ref")) || bn_str_eq(mb->key, BN_STR("phx_ref_prev")))
            continue;
        bn_json_encode_string(out, mb->key);
        bn_buf_append(out, ":", 1);
        bn_json_encode(out, mb->value);
        bn_buf_append(out, ",", 1);
    }
    bn_buf_printf(out, "\"phx_ref\":\"%s\"", ref);
    if (prev)
        bn_buf_printf(out, ",\"phx_ref_prev\":\"%s\"", prev);
    bn_buf_append(out, "}", 1);
}

static void channel_ended(bn_channel *ch, void *arg);

int bn_presence_track(bn_channel *ch, const char *key, const bn_value *meta_in)
{
    char ref[24];
    make_ref(ref);
    bn_buf json = BN_BUF_INIT;
    meta_encode(&json, meta_in, ref, NULL);
    bn_str k = bn_str_from_cstr(key);
    uint64_t id = bn_channel_id(ch);
    diffset d = DIFFSET_INIT;
    lock();
    if (chan_meta(bn_channel_topic(ch), id, k)) {
        unlock();
        bn_buf_free(&json);
        return -1;
    }
    chan *c = chan_find(id);
    bool first = !c;
    if (first)
        c = chan_new(id);
    meta *m = meta_add(bn_channel_topic(ch), k, bn_str_from_cstr(ref), bn_str_make(json.data, json.len), &P.self);
    chan_attach(c, m);
    bn_buf ops = BN_BUF_INIT;
    add_op(&ops, m, true);
    send_delta_locked(&ops); /* before the diff */
    diffset_add(&d, m, true);
    unlock();
    bn_buf_free(&json);
    if (first)
        bn_channel_defer(ch, channel_ended, NULL);
    diffset_emit(&d, emit_everywhere);
    diffset_free(&d);
    return 0;
}

int bn_presence_update(bn_channel *ch, const char *key, const bn_value *meta_in)
{
    char ref[24];
    make_ref(ref);
    diffset d = DIFFSET_INIT;
    lock();
    meta *old = chan_meta(bn_channel_topic(ch), bn_channel_id(ch), bn_str_from_cstr(key));
    if (!old) {
        unlock();
        return -1;
    }
    bn_buf json = BN_BUF_INIT;
    meta_encode(&json, meta_in, ref, old->ref);
    diffset_add(&d, old, false);
    bn_buf ops = BN_BUF_INIT;
    add_op(&ops, old, false);
    meta *m = meta_add(meta_topic(old), meta_key(old), bn_str_from_cstr(ref), bn_str_make(json.data, json.len),
                       &P.self); /* before the old one goes, so the key stays where it was */
    chan_attach(old->ch, m);
    meta_unlink(old);
    free(old);
    add_op(&ops, m, true);
    send_delta_locked(&ops);
    diffset_add(&d, m, true);
    unlock();
    bn_buf_free(&json);
    diffset_emit(&d, emit_everywhere);
    diffset_free(&d);
    return 0;
}

/* Untracks `m` (locked): its leave goes to `d`, and to `ops` for the other nodes. */
static void untrack_meta(meta *m, diffset *d, bn_buf *ops)
{
    diffset_add(d, m, false);
    add_op(ops, m, false);
    meta_unlink(m);
    free(m);
}

int bn_presence_untrack(bn_channel *ch, const char *key)
{
    diffset d = DIFFSET_INIT;
    bn_buf ops = BN_BUF_INIT;
    lock();
    meta *m = chan_meta(bn_channel_topic(ch), bn_channel_id(ch), bn_str_from_cstr(key));
    bool found = m != NULL;
    if (m)
        untrack_meta(m, &d, &ops);
    send_delta_locked(&ops);
    unlock();
    diffset_emit(&d, emit_everywhere);
    diffset_free(&d);
    return found ? 0 : -1;
}

/* The channel ended (in its task): whatever it still tracks leaves, in one diff. */
static void channel_ended(bn_channel *ch, void *arg)
{
    (void)arg;
    diffset d = DIFFSET_INIT;
    bn_buf ops = BN_BUF_INIT;
    lock();
    chan *c = chan_find(bn_channel_id(ch));
    if (c) {
        while (!bn_list_empty(&c->metas))
            untrack_meta(bn_container_of(c->metas.next, meta, chan_link), &d, &ops);
        htab_del(&P.chans, &c->hl);
        free(c);
    }
    send_delta_locked(&ops);
    unlock();
    diffset_emit(&d, emit_everywhere);
    diffset_free(&d);
}

/* {key: {"metas": [...]}, ...} of `topic` as JSON. */
static void encode_list(bn_buf *out, bn_str topic_name)
{
    bn_buf_append(out, "{", 1);
    lock();
    topic *t = topic_get(topic_name, false);
    for (bn_list *l = t ? t->order.next : NULL; t && l != &t->order; l = l->next) {
        pkey *k = bn_container_of(l, pkey, link);
        if (l != t->order.next)
            bn_buf_append(out, ",", 1);
        bn_json_encode_string(out, name_of(&k->n));
        bn_buf_append(out, ":{\"metas\":[", 11);
        for (bn_list *ml = k->metas.next; ml != &k->metas; ml = ml->next) {
            meta *m = bn_container_of(ml, meta, key_link);
            if (ml != k->metas.next)
                bn_buf_append(out, ",", 1);
            bn_buf_append(out, m->json, m->json_len);
        }
        bn_buf_append(out, "]}", 2);
    }
    unlock();
    bn_buf_append(out, "}", 1);
}

bn_value *bn_presence_list(bn_arena *a, const char *topic)
{
    bn_buf b = BN_BUF_INIT;
    encode_list(&b, bn_str_from_cstr(topic));
    bn_json_error err;
    bn_value *v = bn_json_parse(a, bn_str_make(b.data, b.len), &err);
    bn_buf_free(&b);
    return v ? v : bn_value_object(a);
}

void bn_presence_push_state(bn_channel *ch)
{
    bn_str topic = bn_channel_topic(ch);
    bn_buf list = BN_BUF_INIT, out = BN_BUF_INIT;
    encode_list(&list, topic);
    char *name = bn_arena_strndup(bn_channel_arena(ch), topic.ptr, topic.len);
    fetch_json(name, bn_str_make(list.data, list.len), false, &out);
    bn_channel_push_json(ch, "presence_state", bn_str_make(out.data, out.len));
    bn_buf_free(&list);
    bn_buf_free(&out);
}

void bn_presence_set_fetch(bn_presence_fetch_fn *fetch) { atomic_store(&P.fetch, fetch); }
