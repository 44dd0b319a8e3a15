/*
 * The parts of the Redis adapter (redis.c) that the unit tests and the fuzz
 * target reach: its URL parser and the envelope between nodes. The adapter
 * itself is bn__redis_adapter (pubsub_internal.h).
 */
#ifndef BENNU_PUBSUB_REDIS_ADAPTER_H
#define BENNU_PUBSUB_REDIS_ADAPTER_H

#include "bennu/core.h"

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
