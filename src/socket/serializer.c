/*
 * Phoenix.Socket's serializers (PROTOCOLS.md §2): V2 JSON arrays, V1 JSON
 * objects and V2 binary frames. See serializer.h for the contracts.
 *
 * Decoding trusts nothing: JSON goes through bn_json_parse (jansson, which
 * refuses invalid UTF-8), binary frames have every length checked against
 * the frame and every string checked for UTF-8. Encoding escapes the strings
 * it writes (bn_json_encode_string) and inserts payload JSON verbatim.
 */
#include <string.h>

#include "socket/serializer.h"
#include "socket/ws_frame.h"

/* ------------------------------------------------------------------------ */
/* vsn                                                                        */

/* Characters of a semver version after the major number ("0.0", "0.0-rc.1+b"). */
static bool vsn_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' ||
           c == '+';
}

bool bn_vsn_parse(bn_str vsn, bn_vsn *out)
{
    if (!vsn.ptr) { /* no vsn parameter: Phoenix's default is 1.0.0 */
        *out = BN_VSN_1;
        return true;
    }
    /* "1.x" or "2.x": the major digit, a dot, and something version-like after it. */
    if (vsn.len < 3 || vsn.ptr[1] != '.' || (vsn.ptr[0] != '1' && vsn.ptr[0] != '2'))
        return false;
    for (size_t i = 2; i < vsn.len; i++)
        if (!vsn_char(vsn.ptr[i]))
            return false;
    *out = vsn.ptr[0] == '2' ? BN_VSN_2 : BN_VSN_1;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                   */

static bool fail(const char **error, const char *why)
{
    if (error)
        *error = why;
    return false;
}

/* A string that is never the null ref: an empty one still has a pointer. */
static bn_str non_null(bn_str s) { return s.ptr ? s : bn_str_make("", 0); }

/* A ref: JSON null (or absent: v NULL) is the null ref, a string is itself, anything else is malformed. */
static bool read_ref(const bn_value *v, bn_str *out)
{
    if (!v || v->type == BN_VALUE_NULL) {
        *out = BN_STR_NULL;
        return true;
    }
    if (v->type != BN_VALUE_STRING)
        return false;
    *out = non_null(v->as.s);
    return true;
}

static bool read_string(const bn_value *v, bn_str *out)
{
    if (!v || v->type != BN_VALUE_STRING)
        return false;
    *out = non_null(v->as.s);
    return true;
}

static bool decode_v2_text(const bn_value *root, bn_message *out, const char **error)
{
    if (root->type != BN_VALUE_ARRAY)
        return fail(error, "V2 message is not a JSON array");
    if (root->as.array.len < 5)
        return fail(error, "V2 message has fewer than 5 elements");
    bn_value *const *it = root->as.array.items;
    if (!read_ref(it[0], &out->join_ref))
        return fail(error, "V2 join_ref is neither a string nor null");
    if (!read_ref(it[1], &out->ref))
        return fail(error, "V2 ref is neither a string nor null");
    if (!read_string(it[2], &out->topic))
        return fail(error, "V2 topic is not a string");
    if (!read_string(it[3], &out->event))
        return fail(error, "V2 event is not a string");
    out->payload = it[4];
    return true;
}

static bool decode_v1_text(const bn_value *root, bn_message *out, const char **error)
{
    if (root->type != BN_VALUE_OBJECT)
        return fail(error, "V1 message is not a JSON object");
    if (!read_string(bn_value_get(root, "topic"), &out->topic))
        return fail(error, "V1 topic is missing or not a string");
    if (!read_string(bn_value_get(root, "event"), &out->event))
        return fail(error, "V1 event is missing or not a string");
    const bn_value *payload = bn_value_get(root, "payload");
    if (!payload)
        return fail(error, "V1 message has no payload");
    if (!read_ref(bn_value_get(root, "ref"), &out->ref))
        return fail(error, "V1 ref is neither a string nor null");
    if (!read_ref(bn_value_get(root, "join_ref"), &out->join_ref))
        return fail(error, "V1 join_ref is neither a string nor null");
    out->payload = payload;
    return true;
}

static bool utf8_ok(const uint8_t *p, size_t n)
{
    if (n == 0)
        return true;
    uint32_t state = 0;
    return bn_utf8_validate(&state, p, n) && state == 0;
}

enum { KIND_PUSH = 0, KIND_REPLY = 1, KIND_BROADCAST = 2 };

static bool decode_binary(bn_str frame, bn_message *out, const char **error)
{
    const uint8_t *p = (const uint8_t *)frame.ptr;
    if (frame.len < 1)
        return fail(error, "empty binary frame");
    if (p[0] == KIND_REPLY || p[0] == KIND_BROADCAST)
        return fail(error, "binary reply or broadcast (kinds 1, 2) sent by a client");
    if (p[0] != KIND_PUSH)
        return fail(error, "unknown binary frame kind");
    if (frame.len < 5)
        return fail(error, "binary push header is truncated");
    size_t lens[4] = {p[1], p[2], p[3], p[4]};
    size_t off = 5;
    /* At most 4 * 255 bytes of strings: no overflow. */
    if (lens[0] + lens[1] + lens[2] + lens[3] > frame.len - off)
        return fail(error, "binary push lengths run past the end of the frame");
    bn_str s[4];
    for (int i = 0; i < 4; i++) {
        if (!utf8_ok(p + off, lens[i]))
            return fail(error, "binary push string is not valid UTF-8");
        s[i] = bn_str_make(frame.ptr + off, lens[i]);
        off += lens[i];
    }
    /* As Phoenix does, empty refs are empty strings, not null. */
    out->join_ref = s[0];
    out->ref = s[1];
    out->topic = s[2];
    out->event = s[3];
    out->payload = NULL;
    out->binary = bn_str_make(frame.ptr + off, frame.len - off);
    return true;
}

bool bn_message_decode(bn_vsn vsn, bool binary_frame, bn_str frame, bn_arena *a, bn_message *out,
                       const char **error)
{
    bn_message m = {.join_ref = BN_STR_NULL, .ref = BN_STR_NULL, .payload = NULL, .binary = BN_STR_NULL};
    if (error)
        *error = NULL;
    if (frame.len && !frame.ptr)
        return fail(error, "frame without bytes");
    bool ok;
    if (binary_frame) {
        if (vsn != BN_VSN_2)
            return fail(error, "binary frames need the V2 serializer");
        ok = decode_binary(frame, &m, error);
    } else {
        bn_json_error jerr;
        const bn_value *root = bn_json_parse(a, frame, &jerr);
        if (!root)
            return fail(error, "message is not valid JSON");
        ok = vsn == BN_VSN_2 ? decode_v2_text(root, &m, error) : decode_v1_text(root, &m, error);
    }
    if (ok)
        *out = m;
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Text encoding                                                              */

static void put_ref(bn_buf *out, bn_str ref)
{
    if (ref.ptr)
        bn_json_encode_string(out, ref);
    else
        bn_buf_append(out, "null", 4);
}

/* Payload JSON as given; an empty one (a caller's slip) is written as {} so the frame stays JSON. */
static void put_json(bn_buf *out, bn_str json)
{
    if (json.len)
        bn_buf_append_str(out, json);
    else
        bn_buf_append(out, "{}", 2);
}

#define LIT(out, s) bn_buf_append((out), (s), sizeof(s) - 1)

/* Everything up to the payload's value: V2 "[jr,r,"t","e"," and V1 {"topic":"t","event":"e","payload":. */
static void encode_head(bn_vsn vsn, bn_str join_ref, bn_str ref, bn_str topic, bn_str event, bn_buf *out)
{
    if (vsn == BN_VSN_2) {
        LIT(out, "[");
        put_ref(out, join_ref);
        LIT(out, ",");
        put_ref(out, ref);
        LIT(out, ",");
        bn_json_encode_string(out, topic);
        LIT(out, ",");
        bn_json_encode_string(out, event);
        LIT(out, ",");
    } else {
        LIT(out, "{\"topic\":");
        bn_json_encode_string(out, topic);
        LIT(out, ",\"event\":");
        bn_json_encode_string(out, event);
        LIT(out, ",\"payload\":");
    }
}

static void encode_tail(bn_vsn vsn, bn_str ref, bn_buf *out)
{
    if (vsn == BN_VSN_2) {
        LIT(out, "]");
    } else {
        LIT(out, ",\"ref\":");
        put_ref(out, ref);
        LIT(out, "}");
    }
}

void bn_message_encode(bn_vsn vsn, bn_str join_ref, bn_str ref, bn_str topic, bn_str event, bn_str payload_json,
                       bn_buf *out)
{
    encode_head(vsn, join_ref, ref, topic, event, out);
    put_json(out, payload_json);
    encode_tail(vsn, ref, out);
}

void bn_message_encode_reply(bn_vsn vsn, bn_str join_ref, bn_str ref, bn_str topic, bn_str status,
                             bn_str response_json, bn_buf *out)
{
    encode_head(vsn, join_ref, ref, topic, BN_STR("phx_reply"), out);
    LIT(out, "{\"status\":");
    bn_json_encode_string(out, status);
    LIT(out, ",\"response\":");
    put_json(out, response_json);
    LIT(out, "}");
    encode_tail(vsn, ref, out);
}

/* ------------------------------------------------------------------------ */
/* Binary encoding                                                            */

static void put_bytes(bn_buf *out, bn_str s)
{
    if (s.len)
        bn_buf_append(out, s.ptr, s.len);
}

/* Writes kind, the lengths of strs[0..n) and the strings, then the payload; false if a string is too long. */
static bool encode_binary(uint8_t kind, const bn_str *strs, int n, bn_str payload, bn_buf *out)
{
    size_t total = 1 + (size_t)n + payload.len;
    for (int i = 0; i < n; i++) {
        if (strs[i].len > 255)
            return false;
        total += strs[i].len;
    }
    uint8_t *p = (uint8_t *)bn_buf_reserve(out, total);
    size_t at = 0;
    p[at++] = kind;
    for (int i = 0; i < n; i++)
        p[at++] = (uint8_t)strs[i].len;
    out->len += at;
    for (int i = 0; i < n; i++)
        put_bytes(out, strs[i]);
    put_bytes(out, payload);
    return true;
}

/* A null ref goes out as an empty string (Phoenix writes to_string(nil) == ""). */
bool bn_message_encode_binary_push(bn_str join_ref, bn_str topic, bn_str event, bn_str payload, bn_buf *out)
{
    bn_str strs[3] = {join_ref, topic, event};
    return encode_binary(KIND_PUSH, strs, 3, payload, out);
}

bool bn_message_encode_binary_reply(bn_str join_ref, bn_str ref, bn_str topic, bn_str status, bn_str payload,
                                    bn_buf *out)
{
    bn_str strs[4] = {join_ref, ref, topic, status};
    return encode_binary(KIND_REPLY, strs, 4, payload, out);
}

bool bn_message_encode_binary_broadcast(bn_str topic, bn_str event, bn_str payload, bn_buf *out)
{
    bn_str strs[2] = {topic, event};
    return encode_binary(KIND_BROADCAST, strs, 2, payload, out);
}
