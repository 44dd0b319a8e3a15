/*
 * libFuzzer target for the session cookie decoder (src/web/session.c): attacker
 * bytes as a signed or encrypted cookie must read as no session or as an object
 * that re-encodes and reads back equal; also fed as the JSON inside a genuine
 * signature, the path a leaked or shared secret would open.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

#include "bennu/crypto.h"
#include "bennu/session.h"

#define SKB BN_STR("fuzz-secret-fuzz-secret-fuzz-secret-fuzz-secret-fuzz-secret-fuzz!")

static const bn_session_rotation rotations[] = {
    {.secret_key_base = "old-secret-old-secret-old-secret-old-secret-old-secret-old-secret"},
    {.signing_salt = "old salt"},
};
static const bn_session_opts signed_opts = {
    .key = "_fz_key", .signing_salt = "fz sign", .rotating = rotations, .nrotating = 2};
static const bn_session_opts enc_opts = {
    .key = "_fz_key", .signing_salt = "fz sign", .encryption_salt = "fz enc", .rotating = rotations, .nrotating = 2};

/* A decoded session is an object whose current-key encoding reads back equal and unrotated. */
static void check_decoded(bn_arena *a, const bn_session_opts *o, const bn_value *v, bool rotated)
{
    if (!v) {
        CHECK(!rotated);
        return;
    }
    CHECK(v->type == BN_VALUE_OBJECT);
    bn_buf again = BN_BUF_INIT;
    bn__session_encode(&again, o, SKB, v);
    bool rot2 = true;
    const bn_value *back = bn__session_decode(a, o, SKB, bn_str_make(again.data, again.len), &rot2);
    CHECK(back && !rot2 && bn_value_equal(v, back));
    bn_buf_free(&again);
}

static void decode_both(bn_arena *a, bn_str cookie)
{
    const bn_session_opts *opts[] = {&signed_opts, &enc_opts};
    for (size_t i = 0; i < 2; i++) {
        bool rotated = false;
        bn_value *v = bn__session_decode(a, opts[i], SKB, cookie, &rotated);
        check_decoded(a, opts[i], v, rotated);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_arena a = BN_ARENA_INIT;
    bn_str in = bn_str_make((const char *)data, size);
    decode_both(&a, in);

    /* The input after a valid header, so mutations go past the prefix check. */
    bn_buf framed = BN_BUF_INIT;
    bn_buf_append_str(&framed, BN_STR("SFMyNTY."));
    bn_buf_append_str(&framed, in);
    decode_both(&a, bn_str_make(framed.data, framed.len));

    /* The input as the payload of a genuine signed cookie: only JSON objects pass. */
    uint8_t key[BN_KEY_LEN];
    bn_key_derive(SKB, BN_STR("fz sign"), BN_KEY_ITERATIONS, key, sizeof key);
    bn_buf tok = BN_BUF_INIT;
    bn_message_sign(&tok, key, in);
    bool rotated = true;
    bn_value *v = bn__session_decode(&a, &signed_opts, SKB, bn_str_make(tok.data, tok.len), &rotated);
    bn_json_error err;
    bn_arena scratch = BN_ARENA_INIT;
    const bn_value *parsed = bn_json_parse(&scratch, in, &err);
    CHECK((v != NULL) == (parsed && parsed->type == BN_VALUE_OBJECT));
    CHECK(!v || (!rotated && bn_value_equal(v, parsed)));
    check_decoded(&a, &signed_opts, v, rotated);

    bn_arena_destroy(&scratch);
    bn_buf_free(&tok);
    bn_buf_free(&framed);
    bn_arena_destroy(&a);
    return 0;
}
