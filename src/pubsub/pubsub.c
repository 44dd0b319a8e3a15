/*
 * PubSub [Phoenix.PubSub]: the node (its name and configuration), publishing
 * to this node's subscribers through the per-thread registry and to the
 * other nodes through the adapter, and subscribers that are tasks with a
 * mailbox. The Redis adapter itself is redis.c; without it (the local
 * adapter) a broadcast stays in this process.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bennu/http.h"
#include "pubsub/pubsub_internal.h"

/* ---- configuration --------------------------------------------------------------- */

#define DEFAULT_NAME "bennu"
#define DEFAULT_HEARTBEAT_MS 1500
#define DEFAULT_TIMEOUT_MS 5000
#define NODE_MAX 255

static struct {
    pthread_mutex_t lock;
    _Atomic(bool) settled; /* cfg holds the defaults at least: read without the lock from then on */
    bool started;          /* bn_pubsub_start ran */
    const bn__pubsub_adapter *_Atomic adapter; /* NULL: local only (set once, read from any thread) */
    bool node_given;       /* named by the program or BENNU_NODE: else host:pid of the serving process */
    bn_pubsub_config cfg;
    char node[NODE_MAX + 1];
} conf = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* "host:pid" of this process: a worker forked after bn_pubsub_start names itself again. */
static void name_after_process(void)
{
    char host[128] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(conf.node, sizeof conf.node, "%s:%d", host, (int)getpid());
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static unsigned env_ms(const char *name, unsigned def)
{
    long v = bn_env_long(name, (long)def);
    return v > 0 && v <= 24L * 3600 * 1000 ? (unsigned)v : def;
}

/* Fills conf.cfg from `cfg` (may be NULL), then the environment, then the defaults. Under conf.lock. */
static void settle(const bn_pubsub_config *cfg)
{
    bn_pubsub_config in = cfg ? *cfg : (bn_pubsub_config){0};
    const char *node = in.node && *in.node ? in.node : env_nonempty("BENNU_NODE");
    conf.node_given = node != NULL;
    if (node) {
        if (strlen(node) > NODE_MAX)
            bn_warn("pubsub: node name longer than %d bytes, cut", NODE_MAX);
        snprintf(conf.node, sizeof conf.node, "%s", node);
    } else {
        name_after_process();
    }
    const char *url = in.redis_url ? in.redis_url : getenv("REDIS_URL");
    const char *name = in.name && *in.name ? in.name : env_nonempty("BENNU_PUBSUB_NAME");
    free((char *)conf.cfg.redis_url);
    free((char *)conf.cfg.name);
    conf.cfg = (bn_pubsub_config){
        .node = conf.node,
        .redis_url = url && *url ? bn_xstrdup(url) : NULL,
        .name = bn_xstrdup(name ? name : DEFAULT_NAME),
        .presence_heartbeat_ms = in.presence_heartbeat_ms
                                     ? in.presence_heartbeat_ms
                                     : env_ms("BENNU_PRESENCE_HEARTBEAT_MS", DEFAULT_HEARTBEAT_MS),
        .presence_timeout_ms =
            in.presence_timeout_ms ? in.presence_timeout_ms : env_ms("BENNU_PRESENCE_TIMEOUT_MS", DEFAULT_TIMEOUT_MS),
    };
    atomic_store_explicit(&conf.settled, true, memory_order_release);
}

/* The configuration, settled from the environment if bn_pubsub_start has not run. */
static const bn_pubsub_config *config(void)
{
    if (atomic_load_explicit(&conf.settled, memory_order_acquire))
        return &conf.cfg; /* every publish reads the node's name: no lock once settled */
    pthread_mutex_lock(&conf.lock);
    if (!conf.settled)
        settle(NULL);
    pthread_mutex_unlock(&conf.lock);
    return &conf.cfg;
}

const bn_pubsub_config *bn__pubsub_config(void) { return config(); }
const char *bn_pubsub_node(void) { return config()->node; }
const char *bn_pubsub_adapter(void)
{
    const bn__pubsub_adapter *a = conf.adapter;
    return a ? a->name : "local";
}

/*
 * The adapter starts in the process that serves: in each worker (the hook),
 * at once if a worker already runs here, or at first use in programs that
 * never call bn_server_run (a mailbox subscriber, a publish, Presence).
 */
static const bn__pubsub_adapter *ensure_adapter(void)
{
    const bn__pubsub_adapter *a = conf.adapter;
    if (a)
        a->start();
    return a;
}

static void worker_started(void)
{
    pthread_mutex_lock(&conf.lock);
    if (!conf.node_given)
        name_after_process();
    pthread_mutex_unlock(&conf.lock);
    ensure_adapter();
}

bool bn_pubsub_connected(void)
{
    const bn__pubsub_adapter *a = ensure_adapter();
    return !a || a->up();
}

static void remote_publish(bn_fastlane *fl);

int bn_pubsub_start(const bn_pubsub_config *cfg)
{
    pthread_mutex_lock(&conf.lock);
    if (conf.started) {
        pthread_mutex_unlock(&conf.lock);
        bn_warn("pubsub: bn_pubsub_start called twice; the first configuration stays");
        return 0;
    }
    settle(cfg);
    int rc = 0;
    if (conf.cfg.redis_url && (rc = bn__redis_adapter.configure(conf.cfg.redis_url, conf.cfg.name)) == 0)
        conf.adapter = &bn__redis_adapter;
    conf.started = rc == 0;
    pthread_mutex_unlock(&conf.lock);
    if (rc != 0)
        return -1;
    if (!conf.adapter) {
        bn_debug("pubsub: node %s, local adapter", conf.node);
        return 0;
    }
    bn__registry_set_remote(remote_publish);
    if (bn_http_on_worker_start(worker_started))
        ensure_adapter();
    return 0;
}

/* ---- publishing ------------------------------------------------------------------ */

static bool internal_topic(const char *topic)
{
    return strncmp(topic, BN_PUBSUB_INTERNAL_PREFIX, sizeof BN_PUBSUB_INTERNAL_PREFIX - 1) == 0;
}

void bn__pubsub_remote_send(const char *target_node, const char *topic, const char *event, bool binary,
                            bn_str payload)
{
    const bn__pubsub_adapter *a = ensure_adapter();
    if (a && a->up())
        a->publish(target_node, topic, event, binary, payload);
}

/* The registry's way out: every broadcast made in this process also goes to the other nodes. */
static void remote_publish(bn_fastlane *fl)
{
    if (internal_topic(fl->topic)) /* the cluster's own traffic goes by bn__pubsub_remote_send */
        return;
    bn__pubsub_remote_send(NULL, fl->topic, fl->event, fl->binary, bn_str_make(fl->payload, fl->payload_len));
}

static void publish(const char *topic, const char *event, bn_str payload, uint64_t from, bool remote)
{
    bn_fastlane *fl = bn__fastlane_new(topic, event, false, payload, from);
    if (remote)
        bn__registry_publish(fl);
    else
        bn__registry_broadcast(fl);
    bn__fastlane_unref(fl);
}

void bn_pubsub_broadcast(const char *topic, const char *event, bn_str payload_json)
{
    publish(topic, event, payload_json, 0, true);
}

void bn_pubsub_local_broadcast(const char *topic, const char *event, bn_str payload_json)
{
    publish(topic, event, payload_json, 0, false);
}

void bn_pubsub_direct_broadcast(const char *node, const char *topic, const char *event, bn_str payload_json)
{
    if (strcmp(node, bn_pubsub_node()) == 0)
        publish(topic, event, payload_json, 0, false);
    else
        bn__pubsub_remote_send(node, topic, event, false, payload_json);
}

/* ---- mailbox subscribers ----------------------------------------------------------- */

struct bn_pubsub_sub {
    bn_subscription sub;
    bn_mailbox *mb;
    uint64_t id; /* the fastlane's `from` that skips it (broadcast_from) */
};

/* Mailbox subscribers' ids have the top bit set: channel ids (loop id << 48 | n) never do. */
static _Atomic(uint64_t) next_sub_id;

void bn_pubsub_broadcast_from(const bn_pubsub_sub *from, const char *topic, const char *event, bn_str payload_json)
{
    publish(topic, event, payload_json, from ? from->id : 0, true);
}

/* Marks a bn_msg as a pubsub message; also frees one that a loop hands back unread. */
static void message_run(bn_msg *m) { bn_pubsub_message_free(bn_container_of(m, bn_pubsub_message, msg)); }

/* On the subscriber's thread: one message per broadcast, holding a reference to it. */
static void deliver(bn_subscription *s, bn_fastlane *fl)
{
    bn_pubsub_sub *sub = bn_container_of(s, bn_pubsub_sub, sub);
    if (fl->from == sub->id)
        return;
    bn_pubsub_message *m = bn_xcalloc(1, sizeof *m);
    m->msg.run = message_run;
    m->topic = fl->topic;
    m->event = fl->event;
    m->payload = bn_str_make(fl->payload, fl->payload_len);
    m->binary = fl->binary;
    m->priv_ = bn__fastlane_ref(fl);
    bn_mailbox_send(sub->mb, &m->msg);
}

bn_pubsub_sub *bn_pubsub_subscribe(bn_mailbox *mb, const char *topic)
{
    if (!bn_loop_current())
        bn_fatal("bn_pubsub_subscribe: not on a loop thread");
    ensure_adapter();
    bn_pubsub_sub *sub = bn_xcalloc(1, sizeof *sub);
    sub->mb = mb;
    sub->id = (UINT64_C(1) << 63) | (atomic_fetch_add(&next_sub_id, 1) + 1);
    bn__registry_subscribe(&sub->sub, topic, deliver);
    return sub;
}

void bn_pubsub_unsubscribe(bn_pubsub_sub *sub)
{
    if (!sub)
        return;
    bn__registry_unsubscribe(&sub->sub);
    free(sub);
}

bn_pubsub_message *bn_pubsub_message_of(bn_msg *m)
{
    return m && m->run == message_run ? bn_container_of(m, bn_pubsub_message, msg) : NULL;
}

void bn_pubsub_message_free(bn_pubsub_message *m)
{
    if (!m)
        return;
    bn__fastlane_unref(m->priv_);
    free(m);
}
