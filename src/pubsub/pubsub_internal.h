/*
 * Internal interface of the pubsub layer: the node and its adapter
 * (pubsub.c: configuration, the local API, mailbox subscribers; redis.c:
 * the Redis adapter on a loop thread of its own) and Presence (presence.c),
 * which replicates through the adapter.
 *
 * Messages between nodes travel on one Redis pub/sub channel per cluster
 * ("bennu:<name>"); each carries its origin node, so a node drops its own
 * messages when Redis echoes them back (it delivered them locally already).
 */
#ifndef BENNU_PUBSUB_INTERNAL_H
#define BENNU_PUBSUB_INTERNAL_H

#include "bennu/pubsub.h"
#include "socket/socket_internal.h"

/* Topics starting with this are the cluster's own traffic (Presence replication), never
 * delivered to subscribers. */
#define BN_PUBSUB_INTERNAL_PREFIX "bn:"
#define BN_PRESENCE_TOPIC "bn:presence"

/**
 * A way to the other nodes. The local adapter is none (NULL): broadcasts
 * stay in the process. Redis is bn__redis_adapter (redis.c); another broker
 * would be another one of these.
 */
typedef struct bn__pubsub_adapter {
    const char *name;
    /** Takes the URL and cluster name; -1 (logged) if the URL is malformed. Before any start. */
    int (*configure)(const char *url, const char *cluster);
    /** Starts the adapter in this process, once per process (a forked worker starts its own). */
    void (*start)(void);
    /** True while connected. */
    bool (*up)(void);
    /** Queues a message for the other nodes (all, or `target`); any thread; dropped while down. */
    void (*publish)(const char *target, const char *topic, const char *event, bool binary, bn_str payload);
} bn__pubsub_adapter;

extern const bn__pubsub_adapter bn__redis_adapter;

/** The configuration bn_pubsub_start settled (defaults and environment applied). */
const bn_pubsub_config *bn__pubsub_config(void);

/** The adapter's loop thread (Redis), or NULL with the local adapter. Presence runs its timers there. */
bn_loop *bn__pubsub_loop(void);

/**
 * Sends a message to the other nodes (all of them, or only `target_node`).
 * Any thread; copies what it needs; a no-op with the local adapter or while
 * Redis is unreachable (at most once). Does not deliver locally.
 */
void bn__pubsub_remote_send(const char *target_node, const char *topic, const char *event, bool binary,
                            bn_str payload);

/* ---- called by the adapter, on its loop thread ---------------------------------- */

/** A message for topic BN_PRESENCE_TOPIC from node `from` (never this node). */
void bn__presence_remote(const char *from, const char *event, bn_str payload);
/** The adapter (re)connected to Redis: messages may have been lost meanwhile. */
void bn__presence_connected(void);

/* ---- tests ---------------------------------------------------------------------------- */

/** How presence.c sends a replication message (`target` NULL: every node). */
typedef void bn__presence_send_fn(const char *target, const char *event, bn_str payload);
/** Tests play the other nodes: replication messages go to `send`, presence timers run on `loop`. */
void bn__presence_test_seam(bn_loop *loop, bn__presence_send_fn *send);

#endif
