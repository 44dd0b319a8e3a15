/*
 * bennu/pubsub.h — Phoenix.PubSub and Phoenix.Presence in C: the same
 * publish/subscribe API inside one node and across a cluster of nodes that
 * share an existing broker (Redis pub/sub), and "who is online" lists per
 * topic that the npm client's `Presence` object understands unmodified.
 *
 * Without bn_pubsub_start a process is a node of its own: broadcasts reach
 * this process's subscribers only (the local adapter). With REDIS_URL set,
 * every broadcast — bn_broadcast, a channel's bn_channel_broadcast, and
 * these functions — also reaches the subscribers of every other node on
 * the same Redis, and presences replicate to every node.
 *
 * Example (a node of a cluster; docs/guides/pubsub.md, presence.md):
 *
 *     int main(int argc, char **argv) {
 *         bn_pubsub_start(NULL);          // BENNU_NODE, REDIS_URL from the environment
 *         ...
 *         return bn_endpoint_main(&ep, argc, argv);
 *     }
 *     static void room_info(bn_channel *ch, const bn_value *msg) {   // after_join
 *         bn_arena *a = bn_channel_arena(ch);
 *         bn_value *meta = bn_value_object(a);
 *         bn_value_set(a, meta, "online_at", bn_value_int(a, time(NULL)));
 *         bn_presence_track(ch, user_name, meta);                 // presence_diff to the room
 *         bn_presence_push_state(ch);                             // presence_state to this client
 *     }
 *
 * Delivery is at most once, as in Phoenix: a message published while Redis
 * is unreachable reaches this node's subscribers only.
 */
#ifndef BENNU_PUBSUB_H
#define BENNU_PUBSUB_H

#include "bennu/socket.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* The node and its adapter                                                   */

typedef struct bn_pubsub_config {
    const char *node;      /* this node's name, unique in the cluster (NULL: BENNU_NODE, else host:pid) */
    const char *redis_url; /* "redis://[:password@]host[:port][/db]" (NULL: REDIS_URL; unset: local only) */
    const char *name;      /* the cluster's pubsub name; nodes with the same name talk (NULL: "bennu") */
    unsigned presence_heartbeat_ms; /* how often a node says it is alive (0: BENNU_PRESENCE_HEARTBEAT_MS, else 1500 ms) */
    unsigned presence_timeout_ms;   /* a node silent this long has its presences removed
                                       (0: BENNU_PRESENCE_TIMEOUT_MS, else 5000 ms) */
} bn_pubsub_config;

/**
 * Starts PubSub for this process (`cfg` NULL: everything from the
 * environment). Call it once from main, before bn_server_run or
 * bn_endpoint_main: under a master, the Redis connection is made in each
 * worker. With Redis, a connection that fails or drops is retried with
 * backoff (100 ms doubling to 5 s) and logged; local delivery never waits
 * for it. Returns 0, or -1 for a malformed REDIS_URL (logged).
 */
int bn_pubsub_start(const bn_pubsub_config *cfg);
/** This node's name. */
const char *bn_pubsub_node(void);
/** "local" or "redis". */
const char *bn_pubsub_adapter(void);
/** True when the Redis adapter is connected (always true for the local adapter). */
bool bn_pubsub_connected(void);

/* ------------------------------------------------------------------------ */
/* Publishing (from any loop thread). The payload is JSON text; bn_broadcast  */
/* (bennu/socket.h) takes a bn_value.                                         */

/** To every subscriber of `topic` on every node [PubSub.broadcast]. */
void bn_pubsub_broadcast(const char *topic, const char *event, bn_str payload_json);
/** To every subscriber on every node except `from` (a mailbox subscription) [broadcast_from]. */
typedef struct bn_pubsub_sub bn_pubsub_sub;
void bn_pubsub_broadcast_from(const bn_pubsub_sub *from, const char *topic, const char *event, bn_str payload_json);
/** To this node's subscribers only [local_broadcast]. */
void bn_pubsub_local_broadcast(const char *topic, const char *event, bn_str payload_json);
/** To the subscribers on node `node` only (this one included) [direct_broadcast]. */
void bn_pubsub_direct_broadcast(const char *node, const char *topic, const char *event, bn_str payload_json);

/* ------------------------------------------------------------------------ */
/* Subscribing from a task with a mailbox. Channels subscribe by joining.     */

/** A message delivered to a mailbox subscriber; free it with bn_pubsub_message_free. */
typedef struct bn_pubsub_message {
    bn_msg msg; /* private: the mailbox link */
    const char *topic;
    const char *event;
    bn_str payload; /* JSON text, or the bytes of a binary broadcast */
    bool binary;
    void *priv_; /* private */
} bn_pubsub_message;

/**
 * Subscribes `mb` (bound to the calling loop thread) to `topic`: every
 * broadcast to it arrives as a bn_pubsub_message in the mailbox. Returns the
 * subscription (unsubscribe it on the same thread).
 */
bn_pubsub_sub *bn_pubsub_subscribe(bn_mailbox *mb, const char *topic);
void bn_pubsub_unsubscribe(bn_pubsub_sub *sub);
/** The pubsub message a mailbox message is, or NULL if it is something else. */
bn_pubsub_message *bn_pubsub_message_of(bn_msg *m);
void bn_pubsub_message_free(bn_pubsub_message *m);

/* ------------------------------------------------------------------------ */
/* Presence [Phoenix.Presence]                                                */
/*                                                                            */
/* A presence is a key (a user id) with a list of metas, one per tracked     */
/* channel (a user with two tabs has two metas); each meta gets a "phx_ref". */
/* Changes reach the topic's subscribers on every node as "presence_diff"    */
/* {"joins": {key: {"metas": [...]}}, "leaves": {...}}; bn_presence_push_state */
/* sends a joiner the whole list as "presence_state" {key: {"metas": [...]}}. */

/**
 * Tracks the channel's client under `key` in its topic with `meta` (an
 * object, copied) [Presence.track/3]; untracked when the channel ends.
 * Returns 0, or -1 if this channel already tracks `key`.
 */
int bn_presence_track(bn_channel *ch, const char *key, const bn_value *meta);
/** Replaces the meta of the channel's `key` (a leave and a join in one diff) [update/3]. -1 if not tracked. */
int bn_presence_update(bn_channel *ch, const char *key, const bn_value *meta);
/** Stops tracking [untrack/2]. -1 if not tracked. */
int bn_presence_untrack(bn_channel *ch, const char *key);
/** The presences of `topic` on every node, {key: {"metas": [...]}}, in `a` [list/1]. */
bn_value *bn_presence_list(bn_arena *a, const char *topic);
/** Pushes "presence_state" (bn_presence_list of the channel's topic, fetched) to the channel's client. */
void bn_presence_push_state(bn_channel *ch);

/**
 * Enriches presences before they are sent [fetch/2]: called with `presences`
 * ({key: {"metas": [...]}}, in `a`) for every presence_state and
 * presence_diff a channel's track/update/untrack or end sends; add fields
 * next to "metas" (a user's name from the database). Runs in the channel's
 * task: it may query. Not called for the leaves of a node that died. NULL: none.
 */
typedef void bn_presence_fetch_fn(const char *topic, bn_value *presences, bn_arena *a);
void bn_presence_set_fetch(bn_presence_fetch_fn *fetch);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_PUBSUB_H */
