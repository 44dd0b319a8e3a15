/*
 * Phoenix.Socket's message serializers (PROTOCOLS.md §2): V2 JSON arrays
 * (the npm client's default), V1 JSON objects (legacy clients), and V2
 * binary frames for binary payloads. Pure functions over Bennu's buffers;
 * the transport picks the serializer from the socket's `vsn` parameter.
 *
 * A message is [join_ref, ref, topic, event, payload]. Decoded messages
 * point into the frame's bytes and into the arena (payload trees); encoded
 * ones are appended to a buffer, so a broadcast is encoded once per
 * serializer and shared by every subscriber (fastlane).
 */
#ifndef BENNU_SERIALIZER_H
#define BENNU_SERIALIZER_H

#include <stdbool.h>

#include "bennu/core.h"
#include "bennu/value.h"

typedef enum { BN_VSN_1, BN_VSN_2 } bn_vsn;

/* From the `vsn` query parameter: "2.0.0" (and any "2.x") is V2, "1.x" or absent is V1
 * (Phoenix's default when vsn is missing). False for anything else (the transport refuses). */
bool bn_vsn_parse(bn_str vsn, bn_vsn *out);

typedef struct bn_message {
    bn_str join_ref; /* .ptr NULL: null */
    bn_str ref;      /* .ptr NULL: null */
    bn_str topic;
    bn_str event;
    const bn_value *payload; /* JSON payloads (text frames): the tree; NULL for a binary payload */
    bn_str binary;           /* binary payloads (V2 binary frames): the bytes; .ptr NULL otherwise */
} bn_message;

/*
 * Decodes one client frame. Text frames: V2 is a JSON array of at least 5
 * elements (extra ones ignored), refs strings or null, topic and event
 * strings, payload any JSON value (Phoenix requires an object for most
 * events; the channel layer checks); V1 is an object with "topic", "event",
 * "payload", "ref" and optional "join_ref". Binary frames (V2 only): kind 0
 * (push), laid out as PROTOCOLS.md §2.3 says; kinds 1 and 2 are refused.
 * Returns false with *error (a static string) when the frame is malformed.
 * Strings point into `frame` or `a`; trees are allocated from `a`.
 */
bool bn_message_decode(bn_vsn vsn, bool binary_frame, bn_str frame, bn_arena *a, bn_message *out,
                       const char **error);

/* Appends the text frame of a message whose payload is JSON (`payload_json`: already-encoded
 * JSON text, written as is). V1 never sends join_ref. */
void bn_message_encode(bn_vsn vsn, bn_str join_ref, bn_str ref, bn_str topic, bn_str event, bn_str payload_json,
                       bn_buf *out);
/* A reply: event "phx_reply", payload {"status": status, "response": response_json}. */
void bn_message_encode_reply(bn_vsn vsn, bn_str join_ref, bn_str ref, bn_str topic, bn_str status,
                             bn_str response_json, bn_buf *out);

/*
 * V2 binary frames, server to client: a push (kind 0, no ref), a reply
 * (kind 1: status instead of event) and a broadcast (kind 2: no refs).
 * Each string must fit in 255 bytes: false (nothing appended) otherwise.
 */
bool bn_message_encode_binary_push(bn_str join_ref, bn_str topic, bn_str event, bn_str payload, bn_buf *out);
bool bn_message_encode_binary_reply(bn_str join_ref, bn_str ref, bn_str topic, bn_str status, bn_str payload,
                                    bn_buf *out);
bool bn_message_encode_binary_broadcast(bn_str topic, bn_str event, bn_str payload, bn_buf *out);

#endif
