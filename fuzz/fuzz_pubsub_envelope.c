/*
 * libFuzzer target for the envelope that carries a broadcast between nodes
 * (src/pubsub/redis.c): bytes read from Redis, where anything on the
 * cluster's channel arrives. An accepted envelope's strings lie inside the
 * input in order (origin, target, topic, event), are non-empty UTF-8
 * without NUL, and the payload is the rest of the input (never empty for
 * JSON). Every cut before the payload is refused. Encoding the decoded
 * fields again gives an envelope no longer than the input (lengths may have
 * come in more bytes than needed) that decodes to the same fields, and the
 * broadcast a node would make of it can be built (framed for WebSocket).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

#include "pubsub/pubsub_internal.h"
#include "pubsub/redis_adapter.h"
#include "socket/ws_frame.h"

typedef struct env {
    bn_str origin, target, topic, event, payload;
    bool binary;
} env;

static bool decode(bn_str in, env *e)
{
    return bn__pubsub_envelope_decode(in, &e->origin, &e->target, &e->topic, &e->event, &e->binary, &e->payload);
}

static bool inside(bn_str s, const uint8_t *data, size_t size)
{
    return s.ptr >= (const char *)data && s.ptr + s.len <= (const char *)data + size;
}

static void check_string(bn_str s, const uint8_t *data, size_t size)
{
    CHECK(s.ptr && s.len > 0 && inside(s, data, size));
    CHECK(!memchr(s.ptr, 0, s.len));
    uint32_t state = 0;
    CHECK(bn_utf8_validate(&state, (const uint8_t *)s.ptr, s.len) && state == 0);
}

static bool same(bn_str a, bn_str b) { return (a.ptr == NULL) == (b.ptr == NULL) && bn_str_eq(a, b); }

static char *cstr(bn_str s) { return s.ptr ? strndup(s.ptr, s.len) : NULL; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    env e;
    if (!decode(bn_str_make((const char *)data, size), &e))
        return 0;
    check_string(e.origin, data, size);
    check_string(e.topic, data, size);
    check_string(e.event, data, size);
    if (e.target.ptr) {
        check_string(e.target, data, size);
        CHECK(e.target.ptr > e.origin.ptr && e.topic.ptr > e.target.ptr);
    }
    CHECK(e.topic.ptr > e.origin.ptr && e.event.ptr > e.topic.ptr);
    CHECK(e.payload.ptr == e.event.ptr + e.event.len);
    CHECK(e.payload.ptr + e.payload.len == (const char *)data + size);
    CHECK(e.binary || e.payload.len > 0);

    size_t head = (size_t)((const uint8_t *)e.payload.ptr - data);
    env cut;
    for (size_t len = 0; len < head; len += len < 64 ? 1 : 97)
        CHECK(!decode(bn_str_make((const char *)data, len), &cut));
    CHECK(!decode(bn_str_make((const char *)data, head - 1), &cut));

    char *origin = cstr(e.origin), *target = cstr(e.target), *topic = cstr(e.topic), *event = cstr(e.event);
    bn_buf again = BN_BUF_INIT;
    bn__pubsub_envelope_encode(&again, origin, target, topic, event, e.binary, e.payload);
    CHECK(again.len <= size);
    env back;
    CHECK(decode(bn_str_make(again.data, again.len), &back));
    CHECK(same(back.origin, e.origin) && same(back.target, e.target) && same(back.topic, e.topic) &&
          same(back.event, e.event) && same(back.payload, e.payload) && back.binary == e.binary);

    /* What a node delivers: a broadcast framed once for every subscriber. */
    bn_fastlane *fl = bn__fastlane_new(topic, event, e.binary, e.payload, 0);
    size_t hdr;
    CHECK(bn__fastlane_frame(fl, BN_VSN_2, &hdr) != NULL);
    bn__fastlane_unref(fl);
    bn_buf_free(&again);
    free(origin);
    free(target);
    free(topic);
    free(event);
    return 0;
}
