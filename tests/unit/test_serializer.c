/*
 * Unit tests for src/socket/serializer.c: every example of PROTOCOLS.md
 * §2.1–2.3 (decoded, and encoded byte for byte), V1 objects, V2 binary
 * frames both ways, round trips, each malformed frame with its error, JSON
 * escaping of hostile topics and events, the 255-byte limit of binary
 * strings and the `vsn` parameter.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socket/serializer.h"

#define BYTES(...) ((const char[]){__VA_ARGS__}), sizeof((const char[]){__VA_ARGS__})
#define BIN(...) bn_str_make(BYTES(__VA_ARGS__))
#define S(lit) BN_STR(lit)
#define NUL BN_STR_NULL

static bn_arena arena;

static void setup(void) { arena = (bn_arena)BN_ARENA_INIT; }
static void teardown(void) { bn_arena_destroy(&arena); }

TestSuite(serializer, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

static bn_message decode_ok(bn_vsn vsn, bool binary, bn_str frame)
{
    bn_message m;
    memset(&m, 0xAB, sizeof(m)); /* nothing left unset */
    const char *err = "unset";
    bool ok = bn_message_decode(vsn, binary, frame, &arena, &m, &err);
    cr_assert(ok, "decoding %.*s failed: %s", (int)frame.len, frame.ptr, err ? err : "(null)");
    return m;
}

static void decode_err(bn_vsn vsn, bool binary, bn_str frame, const char *want)
{
    bn_message m;
    memset(&m, 0xAB, sizeof(m));
    const char *err = NULL;
    bool ok = bn_message_decode(vsn, binary, frame, &arena, &m, &err);
    cr_assert_not(ok, "decoding %.*s should fail", (int)frame.len, frame.ptr);
    cr_assert(err != NULL, "an error string");
    cr_assert_str_eq(err, want, "decoding %.*s", (int)frame.len, frame.ptr);
}

/* A ref is null (want NULL) or equal to the C string want. */
static void expect_ref(bn_str got, const char *want, const char *what)
{
    if (!want) {
        cr_assert_null(got.ptr, "%s should be null", what);
        cr_assert_eq(got.len, 0);
    } else {
        cr_assert_not_null(got.ptr, "%s should be \"%s\", is null", what, want);
        cr_assert(bn_str_eq(got, bn_str_from_cstr(want)), "%s: \"%.*s\", expected \"%s\"", what, (int)got.len,
                  got.ptr, want);
    }
}

static void expect_msg(const bn_message *m, const char *join_ref, const char *ref, const char *topic,
                       const char *event)
{
    expect_ref(m->join_ref, join_ref, "join_ref");
    expect_ref(m->ref, ref, "ref");
    expect_ref(m->topic, topic, "topic");
    expect_ref(m->event, event, "event");
}

/* The payload equals the JSON text `json`. */
static void expect_payload(const bn_message *m, const char *json)
{
    cr_assert_not_null(m->payload);
    cr_assert_null(m->binary.ptr, "a text frame has no binary payload");
    bn_value *want = bn_json_parse(&arena, bn_str_from_cstr(json), NULL);
    cr_assert_not_null(want, "bad test JSON %s", json);
    cr_assert(bn_value_equal(m->payload, want), "payload differs from %s", json);
}

static void expect_buf(const bn_buf *b, const char *want, size_t len)
{
    cr_assert_eq(b->len, len, "wrote %zu bytes (%.*s), expected %zu (%.*s)", b->len, (int)b->len, b->data, len,
                 (int)len, want);
    cr_assert(memcmp(b->data, want, len) == 0, "wrote %.*s, expected %.*s", (int)b->len, b->data, (int)len, want);
}

#define EXPECT_TEXT(buf, lit) expect_buf((buf), (lit), sizeof(lit) - 1)

/* ------------------------------------------------------------------------ */
/* vsn                                                                        */

Test(serializer, vsn_parse)
{
    bn_vsn v = (bn_vsn)-1;
    cr_assert(bn_vsn_parse(S("2.0.0"), &v));
    cr_assert_eq(v, BN_VSN_2);
    v = (bn_vsn)-1;
    cr_assert(bn_vsn_parse(S("2.1"), &v));
    cr_assert_eq(v, BN_VSN_2);
    v = (bn_vsn)-1;
    cr_assert(bn_vsn_parse(S("1.0.0"), &v));
    cr_assert_eq(v, BN_VSN_1);
    v = (bn_vsn)-1;
    cr_assert(bn_vsn_parse(S("1.1"), &v));
    cr_assert_eq(v, BN_VSN_1);
    v = (bn_vsn)-1;
    cr_assert(bn_vsn_parse(S("2.0.0-rc.1"), &v));
    cr_assert_eq(v, BN_VSN_2);
    /* Absent: Phoenix's default, 1.0.0. */
    v = (bn_vsn)-1;
    cr_assert(bn_vsn_parse(NUL, &v));
    cr_assert_eq(v, BN_VSN_1);

    const char *bad[] = {"", "3.0.0", "abc", "2", "2.", "0.9.0", "12.0.0", "2.0.0 ", " 2.0.0", "2,0,0", "v2.0.0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        v = (bn_vsn)-1;
        cr_assert_not(bn_vsn_parse(bn_str_from_cstr(bad[i]), &v), "vsn \"%s\" is refused", bad[i]);
        cr_assert_eq((int)v, -1, "vsn \"%s\": *out untouched", bad[i]);
    }
    /* An empty parameter (vsn=) is present, not absent. */
    cr_assert_not(bn_vsn_parse(bn_str_make("", 0), &v));
}

/* ------------------------------------------------------------------------ */
/* V2 JSON: PROTOCOLS.md §2.1                                                 */

Test(serializer, v2_client_examples_decode)
{
    bn_message m = decode_ok(BN_VSN_2, false, S("[\"3\",\"3\",\"room:lobby\",\"phx_join\",{\"token\":\"abc\"}]"));
    expect_msg(&m, "3", "3", "room:lobby", "phx_join");
    expect_payload(&m, "{\"token\":\"abc\"}");

    m = decode_ok(BN_VSN_2, false, S("[\"3\",\"4\",\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]"));
    expect_msg(&m, "3", "4", "room:lobby", "new_msg");
    expect_payload(&m, "{\"body\":\"hi\"}");

    m = decode_ok(BN_VSN_2, false, S("[null,\"5\",\"phoenix\",\"heartbeat\",{}]"));
    expect_msg(&m, NULL, "5", "phoenix", "heartbeat");
    expect_payload(&m, "{}");
}

Test(serializer, v2_server_examples_decode)
{
    /* The server's frames are V2 messages too. */
    bn_message m = decode_ok(BN_VSN_2, false, S("[null,null,\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]"));
    expect_msg(&m, NULL, NULL, "room:lobby", "new_msg");
    m = decode_ok(BN_VSN_2, false, S("[\"3\",null,\"room:lobby\",\"tick\",{\"n\":1}]"));
    expect_msg(&m, "3", NULL, "room:lobby", "tick");
    expect_payload(&m, "{\"n\":1}");
    m = decode_ok(BN_VSN_2, false,
                  S("[\"3\",\"4\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"id\":9}}]"));
    expect_msg(&m, "3", "4", "room:lobby", "phx_reply");
    expect_payload(&m, "{\"status\":\"ok\",\"response\":{\"id\":9}}");
}

Test(serializer, v2_server_examples_encode)
{
    bn_buf out = BN_BUF_INIT;
    bn_message_encode_reply(BN_VSN_2, S("3"), S("3"), S("room:lobby"), S("ok"), S("{}"), &out);
    EXPECT_TEXT(&out, "[\"3\",\"3\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
    out.len = 0;
    bn_message_encode_reply(BN_VSN_2, S("3"), S("4"), S("room:lobby"), S("ok"), S("{\"id\":9}"), &out);
    EXPECT_TEXT(&out, "[\"3\",\"4\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"id\":9}}]");
    out.len = 0;
    bn_message_encode(BN_VSN_2, NUL, NUL, S("room:lobby"), S("new_msg"), S("{\"body\":\"hi\"}"), &out);
    EXPECT_TEXT(&out, "[null,null,\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]");
    out.len = 0;
    bn_message_encode(BN_VSN_2, S("3"), NUL, S("room:lobby"), S("tick"), S("{\"n\":1}"), &out);
    EXPECT_TEXT(&out, "[\"3\",null,\"room:lobby\",\"tick\",{\"n\":1}]");
    out.len = 0;
    bn_message_encode_reply(BN_VSN_2, NUL, S("5"), S("phoenix"), S("ok"), S("{}"), &out);
    EXPECT_TEXT(&out, "[null,\"5\",\"phoenix\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
    /* The client's own frames, encoded the same way. */
    out.len = 0;
    bn_message_encode(BN_VSN_2, S("3"), S("3"), S("room:lobby"), S("phx_join"), S("{\"token\":\"abc\"}"), &out);
    EXPECT_TEXT(&out, "[\"3\",\"3\",\"room:lobby\",\"phx_join\",{\"token\":\"abc\"}]");
    out.len = 0;
    bn_message_encode(BN_VSN_2, NUL, S("5"), S("phoenix"), S("heartbeat"), S("{}"), &out);
    EXPECT_TEXT(&out, "[null,\"5\",\"phoenix\",\"heartbeat\",{}]");
    bn_buf_free(&out);
}

Test(serializer, encode_appends)
{
    bn_buf out = BN_BUF_INIT;
    bn_buf_append(&out, "xy", 2);
    bn_message_encode(BN_VSN_2, NUL, NUL, S("t"), S("e"), S("{}"), &out);
    EXPECT_TEXT(&out, "xy[null,null,\"t\",\"e\",{}]");
    bn_buf_free(&out);
}

Test(serializer, v2_payload_verbatim_and_any_status)
{
    bn_buf out = BN_BUF_INIT;
    /* The payload JSON is written as given, whitespace and all. */
    bn_message_encode(BN_VSN_2, S("1"), S("2"), S("t"), S("e"), S("{ \"a\" : [1, 2] }"), &out);
    EXPECT_TEXT(&out, "[\"1\",\"2\",\"t\",\"e\",{ \"a\" : [1, 2] }]");
    out.len = 0;
    bn_message_encode_reply(BN_VSN_2, S("1"), S("2"), S("t"), S("error"), S("{\"reason\":\"unmatched topic\"}"), &out);
    EXPECT_TEXT(&out, "[\"1\",\"2\",\"t\",\"phx_reply\",{\"status\":\"error\",\"response\":{\"reason\":\"unmatched "
                      "topic\"}}]");
    out.len = 0;
    bn_message_encode_reply(BN_VSN_2, S("1"), S("2"), S("t"), S("timeout"), S("{}"), &out);
    EXPECT_TEXT(&out, "[\"1\",\"2\",\"t\",\"phx_reply\",{\"status\":\"timeout\",\"response\":{}}]");
    /* An empty payload (a caller's slip) still gives JSON. */
    out.len = 0;
    bn_message_encode(BN_VSN_2, NUL, NUL, S("t"), S("e"), NUL, &out);
    EXPECT_TEXT(&out, "[null,null,\"t\",\"e\",{}]");
    bn_buf_free(&out);
}

Test(serializer, v2_extra_elements_and_payload_types)
{
    bn_message m = decode_ok(BN_VSN_2, false, S("[\"1\",\"2\",\"t\",\"e\",{\"a\":1},\"extra\",[1,2],null]"));
    expect_msg(&m, "1", "2", "t", "e");
    expect_payload(&m, "{\"a\":1}");
    /* Any JSON value is a payload here (the channel layer checks for objects). */
    m = decode_ok(BN_VSN_2, false, S("[null,null,\"t\",\"e\",[1,\"x\"]]"));
    expect_payload(&m, "[1,\"x\"]");
    m = decode_ok(BN_VSN_2, false, S("[null,null,\"t\",\"e\",null]"));
    cr_assert_eq(m.payload->type, BN_VALUE_NULL);
    /* Whitespace around and inside. */
    m = decode_ok(BN_VSN_2, false, S(" \n[ null , \"7\" , \"room:1\" , \"e\" , { } ]\r\n"));
    expect_msg(&m, NULL, "7", "room:1", "e");
    /* Empty strings are strings, not null. */
    m = decode_ok(BN_VSN_2, false, S("[\"\",\"\",\"\",\"\",{}]"));
    expect_msg(&m, "", "", "", "");
}

Test(serializer, v2_malformed)
{
    decode_err(BN_VSN_2, false, S(""), "message is not valid JSON");
    decode_err(BN_VSN_2, false, NUL, "message is not valid JSON");
    decode_err(BN_VSN_2, false, S("[\"1\",\"2\",\"t\",\"e\",{}"), "message is not valid JSON");
    decode_err(BN_VSN_2, false, S("[\"1\",\"2\",\"t\",\"e\",{}] x"), "message is not valid JSON");
    decode_err(BN_VSN_2, false, S("[\"1\",\"2\",\"t\",\"e\",{'a':1}]"), "message is not valid JSON");
    /* Not an array. */
    const char *not_array = "V2 message is not a JSON array";
    decode_err(BN_VSN_2, false, S("{\"topic\":\"t\",\"event\":\"e\",\"payload\":{},\"ref\":null}"), not_array);
    decode_err(BN_VSN_2, false, S("\"hello\""), not_array);
    decode_err(BN_VSN_2, false, S("42"), not_array);
    decode_err(BN_VSN_2, false, S("null"), not_array);
    /* Too few elements. */
    const char *few = "V2 message has fewer than 5 elements";
    decode_err(BN_VSN_2, false, S("[]"), few);
    decode_err(BN_VSN_2, false, S("[\"1\",\"2\",\"t\",\"e\"]"), few);
    decode_err(BN_VSN_2, false, S("[null,null,null,null]"), few);
    /* Wrong types. */
    decode_err(BN_VSN_2, false, S("[1,\"2\",\"t\",\"e\",{}]"), "V2 join_ref is neither a string nor null");
    decode_err(BN_VSN_2, false, S("[true,\"2\",\"t\",\"e\",{}]"), "V2 join_ref is neither a string nor null");
    decode_err(BN_VSN_2, false, S("[\"1\",2,\"t\",\"e\",{}]"), "V2 ref is neither a string nor null");
    decode_err(BN_VSN_2, false, S("[\"1\",[\"2\"],\"t\",\"e\",{}]"), "V2 ref is neither a string nor null");
    decode_err(BN_VSN_2, false, S("[\"1\",{},\"t\",\"e\",{}]"), "V2 ref is neither a string nor null");
    decode_err(BN_VSN_2, false, S("[\"1\",\"2\",null,\"e\",{}]"), "V2 topic is not a string");
    decode_err(BN_VSN_2, false, S("[\"1\",\"2\",7,\"e\",{}]"), "V2 topic is not a string");
    decode_err(BN_VSN_2, false, S("[\"1\",\"2\",\"t\",null,{}]"), "V2 event is not a string");
    decode_err(BN_VSN_2, false, S("[\"1\",\"2\",\"t\",1.5,{}]"), "V2 event is not a string");
    /* Invalid UTF-8 inside a string (jansson refuses it). */
    decode_err(BN_VSN_2, false, S("[\"1\",\"2\",\"\xff\",\"e\",{}]"), "message is not valid JSON");
    /* A V1 object sent to V2 and the reverse. */
    decode_err(BN_VSN_1, false, S("[\"1\",\"2\",\"t\",\"e\",{}]"), "V1 message is not a JSON object");
}

Test(serializer, v2_error_pointer_optional)
{
    bn_message m;
    cr_assert_not(bn_message_decode(BN_VSN_2, false, S("[]"), &arena, &m, NULL));
    cr_assert(bn_message_decode(BN_VSN_2, false, S("[null,null,\"t\",\"e\",{}]"), &arena, &m, NULL));
}

/* ------------------------------------------------------------------------ */
/* V1 JSON: PROTOCOLS.md §2.2                                                 */

Test(serializer, v1_decode)
{
    bn_message m = decode_ok(
        BN_VSN_1, false, S("{\"topic\":\"room:lobby\",\"event\":\"phx_join\",\"payload\":{\"a\":1},\"ref\":\"1\"}"));
    expect_msg(&m, NULL, "1", "room:lobby", "phx_join");
    expect_payload(&m, "{\"a\":1}");
    /* Any order, join_ref when given. */
    m = decode_ok(BN_VSN_1, false,
                  S("{\"ref\":\"4\",\"join_ref\":\"3\",\"payload\":{},\"event\":\"new_msg\",\"topic\":\"r\"}"));
    expect_msg(&m, "3", "4", "r", "new_msg");
    /* ref null or absent; join_ref null. */
    m = decode_ok(BN_VSN_1, false, S("{\"topic\":\"t\",\"event\":\"e\",\"payload\":{},\"ref\":null}"));
    expect_msg(&m, NULL, NULL, "t", "e");
    m = decode_ok(BN_VSN_1, false, S("{\"topic\":\"t\",\"event\":\"e\",\"payload\":{}}"));
    expect_msg(&m, NULL, NULL, "t", "e");
    m = decode_ok(BN_VSN_1, false, S("{\"topic\":\"t\",\"event\":\"e\",\"payload\":{},\"join_ref\":null}"));
    expect_msg(&m, NULL, NULL, "t", "e");
    /* Unknown members are ignored; a null payload is still a payload. */
    m = decode_ok(BN_VSN_1, false, S("{\"topic\":\"t\",\"event\":\"e\",\"payload\":null,\"x\":[1],\"ref\":\"9\"}"));
    expect_msg(&m, NULL, "9", "t", "e");
    cr_assert_eq(m.payload->type, BN_VALUE_NULL);
}

Test(serializer, v1_malformed)
{
    decode_err(BN_VSN_1, false, S("{\"topic\":\"t\""), "message is not valid JSON");
    decode_err(BN_VSN_1, false, S("\"t\""), "V1 message is not a JSON object");
    decode_err(BN_VSN_1, false, S("[null,null,\"t\",\"e\",{}]"), "V1 message is not a JSON object");
    decode_err(BN_VSN_1, false, S("{\"event\":\"e\",\"payload\":{},\"ref\":\"1\"}"),
               "V1 topic is missing or not a string");
    decode_err(BN_VSN_1, false, S("{\"topic\":1,\"event\":\"e\",\"payload\":{},\"ref\":\"1\"}"),
               "V1 topic is missing or not a string");
    decode_err(BN_VSN_1, false, S("{\"topic\":\"t\",\"payload\":{},\"ref\":\"1\"}"),
               "V1 event is missing or not a string");
    decode_err(BN_VSN_1, false, S("{\"topic\":\"t\",\"event\":[],\"payload\":{},\"ref\":\"1\"}"),
               "V1 event is missing or not a string");
    decode_err(BN_VSN_1, false, S("{\"topic\":\"t\",\"event\":\"e\",\"ref\":\"1\"}"), "V1 message has no payload");
    decode_err(BN_VSN_1, false, S("{\"topic\":\"t\",\"event\":\"e\",\"payload\":{},\"ref\":1}"),
               "V1 ref is neither a string nor null");
    decode_err(BN_VSN_1, false, S("{\"topic\":\"t\",\"event\":\"e\",\"payload\":{},\"ref\":\"1\",\"join_ref\":3}"),
               "V1 join_ref is neither a string nor null");
}

Test(serializer, v1_encode)
{
    bn_buf out = BN_BUF_INIT;
    /* join_ref is never sent. */
    bn_message_encode(BN_VSN_1, S("3"), S("4"), S("room:lobby"), S("new_msg"), S("{\"body\":\"hi\"}"), &out);
    EXPECT_TEXT(&out, "{\"topic\":\"room:lobby\",\"event\":\"new_msg\",\"payload\":{\"body\":\"hi\"},\"ref\":\"4\"}");
    out.len = 0;
    bn_message_encode(BN_VSN_1, NUL, NUL, S("room:lobby"), S("new_msg"), S("{\"body\":\"hi\"}"), &out);
    EXPECT_TEXT(&out, "{\"topic\":\"room:lobby\",\"event\":\"new_msg\",\"payload\":{\"body\":\"hi\"},\"ref\":null}");
    out.len = 0;
    bn_message_encode_reply(BN_VSN_1, S("3"), S("3"), S("room:lobby"), S("ok"), S("{}"), &out);
    EXPECT_TEXT(&out, "{\"topic\":\"room:lobby\",\"event\":\"phx_reply\","
                      "\"payload\":{\"status\":\"ok\",\"response\":{}},\"ref\":\"3\"}");
    out.len = 0;
    bn_message_encode_reply(BN_VSN_1, NUL, S("5"), S("phoenix"), S("error"), S("{\"reason\":\"x\"}"), &out);
    EXPECT_TEXT(&out, "{\"topic\":\"phoenix\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"error\",\"response\":{"
                      "\"reason\":\"x\"}},\"ref\":\"5\"}");
    bn_buf_free(&out);
}

/* ------------------------------------------------------------------------ */
/* Round trips                                                                */

static void round_trip(bn_vsn vsn, bn_str join_ref, bn_str ref, bn_str topic, bn_str event, const char *payload)
{
    bn_buf out = BN_BUF_INIT;
    bn_message_encode(vsn, join_ref, ref, topic, event, bn_str_from_cstr(payload), &out);
    bn_message m = decode_ok(vsn, false, bn_str_make(out.data, out.len));
    if (vsn == BN_VSN_2) {
        cr_assert_eq(m.join_ref.ptr == NULL, join_ref.ptr == NULL);
        cr_assert(bn_str_eq(m.join_ref, join_ref));
    } else {
        cr_assert_null(m.join_ref.ptr, "V1 sends no join_ref");
    }
    cr_assert_eq(m.ref.ptr == NULL, ref.ptr == NULL);
    cr_assert(bn_str_eq(m.ref, ref));
    cr_assert(bn_str_eq(m.topic, topic), "topic %.*s", (int)m.topic.len, m.topic.ptr);
    cr_assert(bn_str_eq(m.event, event));
    expect_payload(&m, payload);

    /* The decoded message, encoded again, gives the same bytes. */
    bn_buf again = BN_BUF_INIT;
    bn_buf pj = BN_BUF_INIT;
    bn_json_encode(&pj, m.payload);
    bn_message_encode(vsn, m.join_ref, m.ref, m.topic, m.event, bn_str_make(pj.data, pj.len), &again);
    bn_buf canon = BN_BUF_INIT;
    bn_message_encode(vsn, join_ref, ref, topic, event, bn_str_make(pj.data, pj.len), &canon);
    expect_buf(&again, canon.data, canon.len);
    bn_buf_free(&pj);
    bn_buf_free(&again);
    bn_buf_free(&canon);
    bn_buf_free(&out);
}

Test(serializer, round_trips)
{
    for (int v = 0; v < 2; v++) {
        bn_vsn vsn = v ? BN_VSN_2 : BN_VSN_1;
        round_trip(vsn, S("3"), S("4"), S("room:lobby"), S("new_msg"), "{\"body\":\"hi\"}");
        round_trip(vsn, NUL, NUL, S("room:lobby"), S("new_msg"), "{}");
        round_trip(vsn, S("1"), NUL, S("t"), S("e"), "{\"n\":[1,2.5,null,true,\"x\"]}");
        round_trip(vsn, NUL, S("99"), S("phoenix"), S("heartbeat"), "{}");
        round_trip(vsn, S(""), S(""), S(""), S(""), "{}");
        round_trip(vsn, S("j\"r"), S("r\\"), S("r\xc3\xa9sum\xc3\xa9:\xf0\x9f\x98\x80"), S("a\tb\nc\x01\x7f"),
                   "{\"k\":\"\\u0000\"}");
        /* A NUL inside a topic survives (bn_str is length-counted). */
        round_trip(vsn, NUL, S("1"), bn_str_make("a\0b", 3), S("e"), "{}");
    }
}

/* ------------------------------------------------------------------------ */
/* JSON escaping                                                              */

Test(serializer, hostile_strings_escaped)
{
    bn_buf out = BN_BUF_INIT;
    bn_message_encode(BN_VSN_2, S("\"],1,[\""), S("\\"), S("room:\"lobby\"\n\r\t\b\f\x01\x1f\x7f"),
                      S("\xc3\xa9v\xe2\x82\xac\xf0\x9f\x98\x80"), S("{}"), &out);
    EXPECT_TEXT(&out, "[\"\\\"],1,[\\\"\",\"\\\\\",\"room:\\\"lobby\\\"\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\","
                      "\"\xc3\xa9v\xe2\x82\xac\xf0\x9f\x98\x80\",{}]");
    bn_message m = decode_ok(BN_VSN_2, false, bn_str_make(out.data, out.len));
    expect_msg(&m, "\"],1,[\"", "\\", "room:\"lobby\"\n\r\t\b\f\x01\x1f\x7f", "\xc3\xa9v\xe2\x82\xac\xf0\x9f\x98\x80");

    /* A topic that tries to close the V1 object and add a ref. */
    out.len = 0;
    bn_message_encode(BN_VSN_1, NUL, S("1"), S("t\",\"ref\":\"evil"), S("e"), S("{}"), &out);
    EXPECT_TEXT(&out, "{\"topic\":\"t\\\",\\\"ref\\\":\\\"evil\",\"event\":\"e\",\"payload\":{},\"ref\":\"1\"}");
    m = decode_ok(BN_VSN_1, false, bn_str_make(out.data, out.len));
    expect_msg(&m, NULL, "1", "t\",\"ref\":\"evil", "e");

    /* A status in a reply is escaped too. */
    out.len = 0;
    bn_message_encode_reply(BN_VSN_2, NUL, S("1"), S("t"), S("o\"k"), S("{}"), &out);
    EXPECT_TEXT(&out, "[null,\"1\",\"t\",\"phx_reply\",{\"status\":\"o\\\"k\",\"response\":{}}]");

    /* NUL is \u0000. */
    out.len = 0;
    bn_message_encode(BN_VSN_2, NUL, NUL, bn_str_make("a\0", 2), S("e"), S("{}"), &out);
    EXPECT_TEXT(&out, "[null,null,\"a\\u0000\",\"e\",{}]");
    bn_buf_free(&out);
}

/* ------------------------------------------------------------------------ */
/* V2 binary: PROTOCOLS.md §2.3                                               */

Test(serializer, binary_client_push_example)
{
    /* What phoenix@1.8.16's Serializer writes for
     * {join_ref:"1", ref:"2", topic:"lvu:x", event:"chunk", payload:[1,2,3]}. */
    static const char frame[] = {0, 1, 1, 5, 5, '1', '2', 'l', 'v', 'u', ':', 'x', 'c', 'h', 'u', 'n', 'k', 1, 2, 3};
    bn_message m = decode_ok(BN_VSN_2, true, bn_str_make(frame, sizeof(frame)));
    expect_msg(&m, "1", "2", "lvu:x", "chunk");
    cr_assert_null(m.payload);
    cr_assert_eq(m.binary.len, 3);
    cr_assert(memcmp(m.binary.ptr, "\1\2\3", 3) == 0);
    /* Everything points into the frame. */
    cr_assert_eq(m.join_ref.ptr, frame + 5);
    cr_assert_eq(m.ref.ptr, frame + 6);
    cr_assert_eq(m.topic.ptr, frame + 7);
    cr_assert_eq(m.event.ptr, frame + 12);
    cr_assert_eq(m.binary.ptr, frame + 17);
}

Test(serializer, binary_client_push_edges)
{
    /* Empty payload: a non-null empty slice at the frame's end. */
    static const char f1[] = {0, 1, 1, 1, 1, 'j', 'r', 't', 'e'};
    bn_message m = decode_ok(BN_VSN_2, true, bn_str_make(f1, sizeof(f1)));
    expect_msg(&m, "j", "r", "t", "e");
    cr_assert_eq(m.binary.ptr, f1 + sizeof(f1));
    cr_assert_eq(m.binary.len, 0);
    cr_assert_null(m.payload);

    /* Empty strings everywhere (as Phoenix, empty refs are "", not null). */
    static const char f2[] = {0, 0, 0, 0, 0, 'x'};
    m = decode_ok(BN_VSN_2, true, bn_str_make(f2, sizeof(f2)));
    expect_msg(&m, "", "", "", "");
    cr_assert_eq(m.binary.len, 1);

    /* UTF-8 strings, a payload that is not UTF-8 (it need not be), NULs. */
    static const char f3[] = {0, 0, 1, 2, 4, 'r', '\xc3', '\xa9', '\xf0', '\x9f', '\x98', '\x80', '\xff', '\0', '\xc3'};
    m = decode_ok(BN_VSN_2, true, bn_str_make(f3, sizeof(f3)));
    expect_msg(&m, "", "r", "\xc3\xa9", "\xf0\x9f\x98\x80");
    cr_assert_eq(m.binary.len, 3);

    /* All four strings at 255 bytes. */
    size_t n = 5 + 4 * 255 + 2;
    char *big = malloc(n);
    big[0] = 0;
    memset(big + 1, 255, 4);
    memset(big + 5, 'a', 4 * 255);
    big[n - 2] = 'p';
    big[n - 1] = 'q';
    m = decode_ok(BN_VSN_2, true, bn_str_make(big, n));
    cr_assert_eq(m.join_ref.len, 255);
    cr_assert_eq(m.ref.len, 255);
    cr_assert_eq(m.topic.len, 255);
    cr_assert_eq(m.event.len, 255);
    cr_assert(bn_str_eq(m.binary, S("pq")));
    /* One byte short: the lengths run past the end. */
    decode_err(BN_VSN_2, true, bn_str_make(big, 5 + 4 * 255 - 1),
               "binary push lengths run past the end of the frame");
    decode_ok(BN_VSN_2, true, bn_str_make(big, 5 + 4 * 255));
    free(big);
}

Test(serializer, binary_malformed)
{
    decode_err(BN_VSN_2, true, S(""), "empty binary frame");
    decode_err(BN_VSN_2, true, NUL, "empty binary frame");
    /* Truncated headers. */
    const char *trunc = "binary push header is truncated";
    decode_err(BN_VSN_2, true, BIN(0), trunc);
    decode_err(BN_VSN_2, true, BIN(0, 0), trunc);
    decode_err(BN_VSN_2, true, BIN(0, 0, 0), trunc);
    decode_err(BN_VSN_2, true, BIN(0, 0, 0, 0), trunc);
    /* Lengths past the end. */
    const char *past = "binary push lengths run past the end of the frame";
    decode_err(BN_VSN_2, true, BIN(0, 1, 0, 0, 0), past);
    decode_err(BN_VSN_2, true, BIN(0, 0, 0, 0, 1), past);
    decode_err(BN_VSN_2, true, BIN(0, 1, 1, 5, 5, '1', '2', 'l', 'v', 'u', ':', 'x', 'c', 'h', 'u', 'n'), past);
    decode_err(BN_VSN_2, true, BIN(0, (char)255, (char)255, (char)255, (char)255, 'a'), past);
    /* Kinds a client never sends, and unknown ones. */
    const char *kinds = "binary reply or broadcast (kinds 1, 2) sent by a client";
    decode_err(BN_VSN_2, true, BIN(1, 1, 1, 1, 2, 'j', 'r', 't', 'o', 'k'), kinds);
    decode_err(BN_VSN_2, true, BIN(2, 1, 1, 't', 'e', 'x'), kinds);
    decode_err(BN_VSN_2, true, BIN(1), kinds);
    decode_err(BN_VSN_2, true, BIN(3, 0, 0, 0, 0), "unknown binary frame kind");
    decode_err(BN_VSN_2, true, BIN((char)0xff, 0, 0, 0, 0), "unknown binary frame kind");
    decode_err(BN_VSN_2, true, S("[null,null,\"t\",\"e\",{}]"), "unknown binary frame kind");
    /* Invalid UTF-8 in each string: a stray continuation, an overlong, a surrogate, a cut sequence. */
    const char *utf8 = "binary push string is not valid UTF-8";
    decode_err(BN_VSN_2, true, BIN(0, 1, 0, 0, 0, '\x80'), utf8);
    decode_err(BN_VSN_2, true, BIN(0, 0, 2, 0, 0, '\xc0', '\xaf'), utf8);
    decode_err(BN_VSN_2, true, BIN(0, 0, 0, 3, 0, '\xed', '\xa0', '\x80'), utf8);
    decode_err(BN_VSN_2, true, BIN(0, 0, 0, 0, 1, '\xc3'), utf8);
    /* A character split between two strings is invalid in both. */
    decode_err(BN_VSN_2, true, BIN(0, 0, 0, 1, 1, '\xc3', '\xa9'), utf8);
    decode_err(BN_VSN_2, true, BIN(0, 0, 0, 0, 1, (char)0xf5, 'x'), utf8);
    /* Binary frames need V2. */
    static const char ok[] = {0, 1, 1, 5, 5, '1', '2', 'l', 'v', 'u', ':', 'x', 'c', 'h', 'u', 'n', 'k', 1, 2, 3};
    decode_err(BN_VSN_1, true, bn_str_make(ok, sizeof(ok)), "binary frames need the V2 serializer");
    /* A binary frame's bytes read as text are not JSON. */
    decode_err(BN_VSN_2, false, bn_str_make(ok, sizeof(ok)), "message is not valid JSON");
}

Test(serializer, binary_server_encodings)
{
    bn_buf out = BN_BUF_INIT;
    /* Push (kind 0): no ref, 4-byte header. */
    cr_assert(bn_message_encode_binary_push(S("1"), S("lvu:x"), S("chunk"), S("\1\2\3"), &out));
    expect_buf(&out, BYTES(0, 1, 5, 5, '1', 'l', 'v', 'u', ':', 'x', 'c', 'h', 'u', 'n', 'k', 1, 2, 3));
    out.len = 0;
    /* A null join_ref is written as an empty string. */
    cr_assert(bn_message_encode_binary_push(NUL, S("t"), S("e"), S("xy"), &out));
    expect_buf(&out, BYTES(0, 0, 1, 1, 't', 'e', 'x', 'y'));
    out.len = 0;
    /* Reply (kind 1): status in the event's place. */
    cr_assert(bn_message_encode_binary_reply(S("3"), S("14"), S("room:1"), S("ok"), S("\0\xff"), &out));
    expect_buf(&out, BYTES(1, 1, 2, 6, 2, '3', '1', '4', 'r', 'o', 'o', 'm', ':', '1', 'o', 'k', 0, (char)0xff));
    out.len = 0;
    cr_assert(bn_message_encode_binary_reply(NUL, S("5"), S("t"), S("error"), NUL, &out));
    expect_buf(&out, BYTES(1, 0, 1, 1, 5, '5', 't', 'e', 'r', 'r', 'o', 'r'));
    out.len = 0;
    /* Broadcast (kind 2): no refs. */
    cr_assert(bn_message_encode_binary_broadcast(S("room:lobby"), S("img"), S("PNG"), &out));
    expect_buf(&out, BYTES(2, 10, 3, 'r', 'o', 'o', 'm', ':', 'l', 'o', 'b', 'b', 'y', 'i', 'm', 'g', 'P', 'N', 'G'));
    out.len = 0;
    cr_assert(bn_message_encode_binary_broadcast(S(""), S(""), NUL, &out));
    expect_buf(&out, BYTES(2, 0, 0));
    /* Appends after what the buffer holds. */
    out.len = 0;
    bn_buf_append(&out, "ab", 2);
    cr_assert(bn_message_encode_binary_broadcast(S("t"), S("e"), S("p"), &out));
    expect_buf(&out, BYTES('a', 'b', 2, 1, 1, 't', 'e', 'p'));
    bn_buf_free(&out);
}

Test(serializer, binary_255_byte_limit)
{
    char s255[255], s256[256];
    memset(s255, 'x', sizeof(s255));
    memset(s256, 'y', sizeof(s256));
    bn_str ok = bn_str_make(s255, 255), big = bn_str_make(s256, 256);
    bn_buf out = BN_BUF_INIT;
    bn_buf_append(&out, "keep", 4);

    cr_assert(bn_message_encode_binary_push(ok, ok, ok, S("p"), &out));
    cr_assert_eq(out.len, 4 + 4 + 3 * 255 + 1);
    cr_assert_eq((uint8_t)out.data[5], 255);
    out.len = 4;
    cr_assert(bn_message_encode_binary_reply(ok, ok, ok, ok, S("p"), &out));
    cr_assert_eq(out.len, 4 + 5 + 4 * 255 + 1);
    out.len = 4;
    cr_assert(bn_message_encode_binary_broadcast(ok, ok, S("p"), &out));
    cr_assert_eq(out.len, 4 + 3 + 2 * 255 + 1);
    out.len = 4;

    /* 256 bytes in any string: false, nothing appended. */
    bn_str push_args[3][3] = {{big, ok, ok}, {ok, big, ok}, {ok, ok, big}};
    for (int i = 0; i < 3; i++) {
        cr_assert_not(bn_message_encode_binary_push(push_args[i][0], push_args[i][1], push_args[i][2], S("p"), &out));
        expect_buf(&out, "keep", 4);
    }
    bn_str reply_args[4][4] = {{big, ok, ok, ok}, {ok, big, ok, ok}, {ok, ok, big, ok}, {ok, ok, ok, big}};
    for (int i = 0; i < 4; i++) {
        cr_assert_not(bn_message_encode_binary_reply(reply_args[i][0], reply_args[i][1], reply_args[i][2],
                                                     reply_args[i][3], S("p"), &out));
        expect_buf(&out, "keep", 4);
    }
    cr_assert_not(bn_message_encode_binary_broadcast(big, ok, S("p"), &out));
    expect_buf(&out, "keep", 4);
    cr_assert_not(bn_message_encode_binary_broadcast(ok, big, S("p"), &out));
    expect_buf(&out, "keep", 4);
    /* The payload has no limit. */
    cr_assert(bn_message_encode_binary_broadcast(S("t"), S("e"), bn_str_make(s256, 256), &out));
    cr_assert_eq(out.len, 4 + 3 + 2 + 256);
    bn_buf_free(&out);
}

/* A client push built by hand (what the npm client writes), decoded, re-encoded as the server's frames. */
Test(serializer, binary_round_trip_to_server_frames)
{
    static const char frame[] = {0, 1, 2, 4, 4, '7', '1', '2', 'r', ':', '\xc3', '\xa9', 'p', 'i', 'n', 'g', 9, 8};
    bn_message m = decode_ok(BN_VSN_2, true, bn_str_make(frame, sizeof(frame)));
    expect_msg(&m, "7", "12", "r:\xc3\xa9", "ping");
    bn_buf out = BN_BUF_INIT;
    /* The showcase's answer to a binary ping: a binary reply with the same bytes. */
    cr_assert(bn_message_encode_binary_reply(m.join_ref, m.ref, m.topic, S("ok"), m.binary, &out));
    expect_buf(&out, BYTES(1, 1, 2, 4, 2, '7', '1', '2', 'r', ':', '\xc3', '\xa9', 'o', 'k', 9, 8));
    /* And as a V2 text frame, refs intact. */
    out.len = 0;
    bn_message_encode(BN_VSN_2, m.join_ref, m.ref, m.topic, m.event, S("{}"), &out);
    EXPECT_TEXT(&out, "[\"7\",\"12\",\"r:\xc3\xa9\",\"ping\",{}]");
    bn_buf_free(&out);
}
