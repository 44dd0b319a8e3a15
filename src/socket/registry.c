/*
 * The topic registry: who is subscribed to what, sharded per loop thread.
 * A shard is touched only by its own thread; a broadcast reaches the other
 * threads as a posted message carrying a reference to the fastlane, so the
 * one lock here guards only the list of shards, taken when a thread makes
 * its shard and when a broadcast reads the list.
 */
#include <pthread.h>
#include <stdlib.h>

#include "socket/socket_internal.h"

#define MAX_SHARDS 256

typedef struct bn_topic_entry {
    struct bn_topic_entry *next; /* hash chain */
    uint32_t hash;
    bn_list subs;
    char topic[];
} bn_topic_entry;

typedef struct shard {
    bn_loop *loop;
    bn_topic_entry **buckets;
    size_t nbuckets, nentries;
    _Atomic(size_t) nsubs; /* read by broadcasting threads to skip empty shards */
} shard;

/* A fastlane on its way to one shard. */
typedef struct delivery {
    bn_msg msg;
    shard *to;
    bn_fastlane *fl;
} delivery;

static pthread_mutex_t shards_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*_Atomic remote_publish)(bn_fastlane *fl);
static shard *shards[MAX_SHARDS];
static _Atomic(unsigned) nshards;
static _Thread_local shard *my_shard;

static uint32_t topic_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static shard *this_shard(void)
{
    bn_loop *loop = bn_loop_current();
    if (my_shard && my_shard->loop == loop)
        return my_shard;
    if (my_shard && atomic_load(&my_shard->nsubs) == 0) { /* this thread's old loop was freed (tests) */
        pthread_mutex_lock(&shards_lock);
        my_shard->loop = loop;
        pthread_mutex_unlock(&shards_lock);
        return my_shard;
    }
    my_shard = NULL;
    pthread_mutex_lock(&shards_lock);
    unsigned n = atomic_load(&nshards);
    for (unsigned i = 0; i < n && !my_shard; i++) /* a loop made again on this thread */
        if (shards[i]->loop == loop)
            my_shard = shards[i];
    if (!my_shard) {
        if (n == MAX_SHARDS)
            bn_fatal("socket registry: more than %d loop threads", MAX_SHARDS);
        shard *sh = bn_xcalloc(1, sizeof(*sh));
        sh->loop = loop;
        sh->nbuckets = 64;
        sh->buckets = bn_xcalloc(sh->nbuckets, sizeof(*sh->buckets));
        shards[n] = sh;
        atomic_store(&nshards, n + 1);
        my_shard = sh;
    }
    pthread_mutex_unlock(&shards_lock);
    return my_shard;
}

static bn_topic_entry *find(shard *sh, const char *topic, uint32_t h)
{
    for (bn_topic_entry *e = sh->buckets[h & (sh->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->topic, topic) == 0)
            return e;
    return NULL;
}

static void grow(shard *sh)
{
    size_t n = sh->nbuckets * 2;
    bn_topic_entry **b = bn_xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < sh->nbuckets; i++) {
        for (bn_topic_entry *e = sh->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(sh->buckets);
    sh->buckets = b;
    sh->nbuckets = n;
}

void bn__registry_subscribe(bn_subscription *sub, const char *topic, bn_deliver_fn *deliver)
{
    shard *sh = this_shard();
    uint32_t h = topic_hash(topic);
    bn_topic_entry *e = find(sh, topic, h);
    if (!e) {
        size_t len = strlen(topic);
        e = bn_xmalloc(sizeof(*e) + len + 1);
        memcpy(e->topic, topic, len + 1);
        e->hash = h;
        bn_list_init(&e->subs);
        if (sh->nentries + 1 > sh->nbuckets)
            grow(sh);
        e->next = sh->buckets[h & (sh->nbuckets - 1)];
        sh->buckets[h & (sh->nbuckets - 1)] = e;
        sh->nentries++;
    }
    sub->entry = e;
    sub->deliver = deliver;
    bn_list_push_back(&e->subs, &sub->link);
    atomic_fetch_add_explicit(&sh->nsubs, 1, memory_order_relaxed);
}

void bn__registry_unsubscribe(bn_subscription *sub)
{
    bn_topic_entry *e = sub->entry;
    if (!e)
        return;
    shard *sh = this_shard();
    bn_list_remove(&sub->link);
    sub->entry = NULL;
    atomic_fetch_sub_explicit(&sh->nsubs, 1, memory_order_relaxed);
    if (!bn_list_empty(&e->subs))
        return;
    bn_topic_entry **p = &sh->buckets[e->hash & (sh->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    sh->nentries--;
    free(e);
}

/* On the shard's thread: hands the fastlane to each local subscriber. */
static void deliver(bn_msg *m)
{
    delivery *d = bn_container_of(m, delivery, msg);
    bn_topic_entry *e = find(d->to, d->fl->topic, topic_hash(d->fl->topic));
    if (e) {
        /* A subscriber may leave while we deliver (its own link only): step first. */
        bn_list *n = e->subs.next;
        while (n != &e->subs) {
            bn_list *next = n->next;
            bn_subscription *sub = bn_container_of(n, bn_subscription, link);
            sub->deliver(sub, d->fl);
            n = next;
        }
    }
    bn__fastlane_unref(d->fl);
    free(d);
}

void bn__registry_broadcast(bn_fastlane *fl)
{
    unsigned n = atomic_load(&nshards);
    for (unsigned i = 0; i < n; i++) {
        shard *sh = shards[i];
        if (atomic_load_explicit(&sh->nsubs, memory_order_relaxed) == 0)
            continue;
        delivery *d = bn_xcalloc(1, sizeof(*d));
        d->to = sh;
        d->fl = bn__fastlane_ref(fl);
        d->msg.run = deliver;
        bn_loop_post(sh->loop, &d->msg);
    }
}

void bn__registry_set_remote(void (*publish)(bn_fastlane *fl)) { atomic_store(&remote_publish, publish); }

void bn__registry_publish(bn_fastlane *fl)
{
    bn__registry_broadcast(fl);
    void (*publish)(bn_fastlane *) = atomic_load(&remote_publish);
    if (publish)
        publish(fl);
}
