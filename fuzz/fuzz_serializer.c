/*
 * libFuzzer target for src/socket/serializer.c. The input is one frame,
 * decoded four ways: as a V2 and a V1 text frame and as a V2 binary frame
 * (a V1 binary frame must always be refused). An accepted message's strings
 * are valid UTF-8 and (binary) lie inside the frame, with lengths that add
 * up to it. Each accepted message is then encoded again — as V2 and V1
 * text, as a reply, as a client binary push and as the server's binary
 * frames — and the result decoded (or, for the server's binary frames, read
 * back by hand): topic, event, refs (null or not) and payload survive.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"

#include "socket/serializer.h"
#include "socket/ws_frame.h"

static bool utf8_ok(bn_str s)
{
    if (s.len == 0)
        return true;
    uint32_t st = 0;
    return bn_utf8_validate(&st, (const uint8_t *)s.ptr, s.len) && st == 0;
}

static bool same_ref(bn_str a, bn_str b) { return (a.ptr == NULL) == (b.ptr == NULL) && bn_str_eq(a, b); }

static int depth(const bn_value *v)
{
    int d = 0;
    if (v->type == BN_VALUE_ARRAY)
        for (size_t i = 0; i < v->as.array.len; i++) {
            int k = depth(v->as.array.items[i]);
            d = k > d ? k : d;
        }
    else if (v->type == BN_VALUE_OBJECT)
        for (size_t i = 0; i < v->as.object.len; i++) {
            int k = depth(v->as.object.members[i].value);
            d = k > d ? k : d;
        }
    else
        return 0;
    return d + 1;
}

/* Every decoded message, any format. */
static void check_common(const bn_message *m)
{
    CHECK(m->topic.ptr && m->event.ptr);
    CHECK(utf8_ok(m->topic) && utf8_ok(m->event) && utf8_ok(m->ref) && utf8_ok(m->join_ref));
    CHECK((m->payload == NULL) != (m->binary.ptr == NULL));
}

static bn_message decode_must(bn_vsn vsn, bool binary, bn_str frame, bn_arena *a)
{
    bn_message m;
    const char *err = NULL;
    bool ok = bn_message_decode(vsn, binary, frame, a, &m, &err);
    if (!ok)
        fprintf(stderr, "re-decoding %.*s: %s\n", (int)frame.len, frame.ptr, err);
    CHECK(ok && err == NULL);
    check_common(&m);
    return m;
}

/* Encodes m as a text frame of `vsn` with `payload_json` and decodes it back. */
static void text_round_trip(bn_vsn vsn, const bn_message *m, bn_str payload_json, const bn_value *payload,
                            bn_arena *a)
{
    bn_buf out = BN_BUF_INIT;
    bn_message_encode(vsn, m->join_ref, m->ref, m->topic, m->event, payload_json, &out);
    bn_message d = decode_must(vsn, false, bn_str_make(out.data, out.len), a);
    CHECK(bn_str_eq(d.topic, m->topic) && bn_str_eq(d.event, m->event));
    CHECK(same_ref(d.ref, m->ref));
    CHECK(same_ref(d.join_ref, vsn == BN_VSN_2 ? m->join_ref : BN_STR_NULL));
    CHECK(d.payload && d.binary.ptr == NULL);
    if (payload)
        CHECK(bn_value_equal(d.payload, payload));

    /* The same as a reply: event phx_reply, {"status": <event>, "response": payload}. */
    if (payload && depth(payload) + 3 > 64)
        goto done;
    out.len = 0;
    bn_message_encode_reply(vsn, m->join_ref, m->ref, m->topic, m->event, payload_json, &out);
    d = decode_must(vsn, false, bn_str_make(out.data, out.len), a);
    CHECK(bn_str_eq(d.topic, m->topic) && bn_str_eq(d.event, BN_STR("phx_reply")));
    CHECK(same_ref(d.ref, m->ref));
    CHECK(same_ref(d.join_ref, vsn == BN_VSN_2 ? m->join_ref : BN_STR_NULL));
    CHECK(bn_value_len(d.payload) == 2);
    CHECK(bn_str_eq(bn_value_str(bn_value_get(d.payload, "status")), m->event));
    if (payload)
        CHECK(bn_value_equal(bn_value_get(d.payload, "response"), payload));
done:
    bn_buf_free(&out);
}

/* Reads `n` length-prefixed strings of a server binary frame (after the kind byte) and the payload. */
static void read_server_binary(const bn_buf *b, uint8_t kind, int n, const bn_str *want, bn_str payload)
{
    const uint8_t *p = (const uint8_t *)b->data;
    CHECK(b->len >= 1 + (size_t)n && p[0] == kind);
    size_t off = 1 + (size_t)n;
    for (int i = 0; i < n; i++) {
        CHECK(p[1 + i] == want[i].len && off + want[i].len <= b->len);
        CHECK(bn_str_eq(bn_str_make(b->data + off, p[1 + i]), want[i]));
        off += p[1 + i];
    }
    CHECK(bn_str_eq(bn_str_make(b->data + off, b->len - off), payload));
}

/* The server's binary frames for m's strings: they fit exactly when every string is ≤ 255 bytes. */
static void server_binary(const bn_message *m, bn_str payload)
{
    bn_str jr = m->join_ref, r = m->ref;
    bool fit = jr.len <= 255 && r.len <= 255 && m->topic.len <= 255 && m->event.len <= 255;
    bn_buf out = BN_BUF_INIT;
    bool ok = bn_message_encode_binary_push(jr, m->topic, m->event, payload, &out);
    CHECK(ok == (jr.len <= 255 && m->topic.len <= 255 && m->event.len <= 255));
    if (ok)
        read_server_binary(&out, 0, 3, (bn_str[]){jr, m->topic, m->event}, payload);
    else
        CHECK(out.len == 0);
    out.len = 0;
    ok = bn_message_encode_binary_reply(jr, r, m->topic, m->event, payload, &out);
    CHECK(ok == fit);
    if (ok)
        read_server_binary(&out, 1, 4, (bn_str[]){jr, r, m->topic, m->event}, payload);
    else
        CHECK(out.len == 0);
    out.len = 0;
    ok = bn_message_encode_binary_broadcast(m->topic, m->event, payload, &out);
    CHECK(ok == (m->topic.len <= 255 && m->event.len <= 255));
    if (ok)
        read_server_binary(&out, 2, 2, (bn_str[]){m->topic, m->event}, payload);
    else
        CHECK(out.len == 0);
    bn_buf_free(&out);
}

/* What the npm client writes for a binary push (kind 0, 5-byte header); decoded back. */
static void client_binary_round_trip(const bn_message *m, bn_str payload, bn_arena *a)
{
    bn_str s[4] = {m->join_ref, m->ref, m->topic, m->event};
    for (int i = 0; i < 4; i++)
        if (s[i].len > 255)
            return;
    bn_buf out = BN_BUF_INIT;
    uint8_t head[5] = {0, (uint8_t)s[0].len, (uint8_t)s[1].len, (uint8_t)s[2].len, (uint8_t)s[3].len};
    bn_buf_append(&out, head, 5);
    for (int i = 0; i < 4; i++)
        bn_buf_append_str(&out, s[i]);
    bn_buf_append_str(&out, payload);
    bn_message d = decode_must(BN_VSN_2, true, bn_str_make(out.data, out.len), a);
    /* Null refs come back as empty strings (binary frames have no null). */
    CHECK(bn_str_eq(d.join_ref, m->join_ref) && d.join_ref.ptr);
    CHECK(bn_str_eq(d.ref, m->ref) && d.ref.ptr);
    CHECK(bn_str_eq(d.topic, m->topic) && bn_str_eq(d.event, m->event));
    CHECK(bn_str_eq(d.binary, payload) && d.payload == NULL);
    /* V1 never takes binary frames. */
    bn_message x;
    const char *err = NULL;
    CHECK(!bn_message_decode(BN_VSN_1, true, bn_str_make(out.data, out.len), a, &x, &err) && err);
    bn_buf_free(&out);
}

static void check_text(bn_vsn vsn, bn_str frame)
{
    bn_arena a = BN_ARENA_INIT;
    bn_message m;
    const char *err = NULL;
    if (!bn_message_decode(vsn, false, frame, &a, &m, &err)) {
        CHECK(err && *err);
        bn_arena_destroy(&a);
        return;
    }
    CHECK(err == NULL);
    check_common(&m);
    CHECK(m.payload && m.binary.ptr == NULL);
    bn_buf pj = BN_BUF_INIT;
    bn_json_encode(&pj, m.payload);
    bn_str payload_json = bn_str_make(pj.data, pj.len);
    text_round_trip(BN_VSN_2, &m, payload_json, m.payload, &a);
    text_round_trip(BN_VSN_1, &m, payload_json, m.payload, &a);
    server_binary(&m, payload_json);
    client_binary_round_trip(&m, payload_json, &a);
    bn_buf_free(&pj);
    bn_arena_destroy(&a);
}

static void check_binary(bn_str frame)
{
    bn_arena a = BN_ARENA_INIT;
    bn_message m;
    const char *err = NULL;
    bool ok = bn_message_decode(BN_VSN_2, true, frame, &a, &m, &err);
    const uint8_t *p = (const uint8_t *)frame.ptr;
    if (!ok) {
        CHECK(err && *err);
        bn_arena_destroy(&a);
        return;
    }
    CHECK(err == NULL);
    check_common(&m);
    /* A push: 5-byte header, the four strings in order, then the payload up to the end. */
    CHECK(frame.len >= 5 && p[0] == 0);
    CHECK(m.join_ref.ptr == frame.ptr + 5 && m.join_ref.len == p[1]);
    CHECK(m.ref.ptr == m.join_ref.ptr + p[1] && m.ref.len == p[2]);
    CHECK(m.topic.ptr == m.ref.ptr + p[2] && m.topic.len == p[3]);
    CHECK(m.event.ptr == m.topic.ptr + p[3] && m.event.len == p[4]);
    CHECK(m.binary.ptr == m.event.ptr + p[4] && m.binary.ptr + m.binary.len == frame.ptr + frame.len);
    CHECK(m.payload == NULL);
    /* Re-encoded as the client would: the same bytes. */
    client_binary_round_trip(&m, m.binary, &a);
    /* As text frames (refs are never null here), with an empty-object payload. */
    text_round_trip(BN_VSN_2, &m, BN_STR("{}"), NULL, &a);
    text_round_trip(BN_VSN_1, &m, BN_STR("{}"), NULL, &a);
    server_binary(&m, m.binary);
    bn_arena_destroy(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy, so that slices past the end are caught by ASan. */
    char *copy = malloc(size ? size : 1);
    CHECK(copy);
    if (size)
        memcpy(copy, data, size);
    bn_str frame = bn_str_make(copy, size);
    check_text(BN_VSN_2, frame);
    check_text(BN_VSN_1, frame);
    check_binary(frame);
    bn_arena a = BN_ARENA_INIT;
    bn_message m;
    const char *err = NULL;
    CHECK(!bn_message_decode(BN_VSN_1, true, frame, &a, &m, &err) && err);
    bn_arena_destroy(&a);
    free(copy);
    return 0;
}
