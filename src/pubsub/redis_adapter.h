/*
 * The Redis adapter (redis.c) as pubsub.c, the unit tests and the fuzz
 * target see it; Presence needs none of it (pubsub_internal.h).
 */
#ifndef BENNU_PUBSUB_REDIS_ADAPTER_H
#define BENNU_PUBSUB_REDIS_ADAPTER_H

#include "bennu/core.h"

/** Takes the settled URL and cluster name; -1 (logged) if the URL is malformed. Before any bn__redis_start. */
int bn__redis_configure(const char *url, const char *name);
/** Starts the adapter's thread in this process, once per process (a forked worker starts its own). */
void bn__redis_start(void);
/** True while both connections are up. */
bool bn__redis_up(void);
/** Encodes and queues a PUBLISH on the adapter's thread (dropped while Redis is down). */
void bn__redis_publish(const char *target, const char *topic, const char *event, bool binary, bn_str payload);

/**
 * redis://[[user]:password@]host[:port][/db] (percent-decoded, [v6] hosts);
 * false for anything else (rediss:// included). Strings are malloc'd.
 */
bool bn__redis_url_parse(const char *url, char **host, unsigned *port, char **user, char **password,
                         unsigned *db);

/** The envelope between nodes: 'B' 'N' 1 flags origin [target] topic event payload (LEB128 lengths). */
void bn__pubsub_envelope_encode(bn_buf *out, const char *origin, const char *target, const char *topic,
                                const char *event, bool binary, bn_str payload);
/** Reads one; false if malformed. The strings point into `in`. */
bool bn__pubsub_envelope_decode(bn_str in, bn_str *origin, bn_str *target, bn_str *topic, bn_str *event,
                                bool *binary, bn_str *payload);

#endif
