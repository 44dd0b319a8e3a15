/*
 * CSRF protection [Plug.CSRFProtection], in Plug's token format (PROTOCOLS.md
 * 7.10) so Phoenix's JS clients and forms work: a per-session state, masked
 * afresh for every token handed out.
 */
#include "bennu/crypto.h"
#include "bennu/session.h"

#define RAW_LEN 18    /* random bytes behind the state and each mask */
#define STATE_LEN 24  /* b64url of RAW_LEN bytes */
#define MASKED_LEN 32 /* b64url of the STATE_LEN-byte XOR */

static bool is_b64url_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '_';
}

static bool is_b64url(bn_str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (!is_b64url_char(s.ptr[i]))
            return false;
    return true;
}

/* 24 chars of base64url from 18 fresh random bytes (no padding is ever needed). */
static void random_b64(char out[STATE_LEN])
{
    uint8_t raw[RAW_LEN];
    bn_random_bytes(raw, sizeof raw);
    bn_buf b = BN_BUF_INIT;
    bn_base64url_encode(&b, raw, sizeof raw, true);
    memcpy(out, b.data, STATE_LEN);
    bn_buf_free(&b);
}

/* The session's state, or BN_STR_NULL; one of another shape counts as none. */
static bn_str session_state(bn_conn *c)
{
    bn_str s = bn_value_str(bn_session_get(c, BN_CSRF_SESSION_KEY));
    return s.len == STATE_LEN && is_b64url(s) ? s : BN_STR_NULL;
}

static bn_str ensure_state(bn_conn *c)
{
    bn_str s = session_state(c);
    if (s.ptr)
        return s;
    char fresh[STATE_LEN];
    random_b64(fresh);
    bn_value *v = bn_value_string(bn_conn_arena(c), bn_str_make(fresh, STATE_LEN));
    bn_session_put(c, BN_CSRF_SESSION_KEY, v);
    return bn_value_str(v);
}

const char *bn_csrf_token(bn_conn *c)
{
    bn_str state = ensure_state(c);
    char mask[STATE_LEN];
    uint8_t x[STATE_LEN];
    random_b64(mask);
    for (size_t i = 0; i < STATE_LEN; i++)
        x[i] = (uint8_t)(state.ptr[i] ^ mask[i]);
    bn_buf b = BN_BUF_INIT;
    bn_base64url_encode(&b, x, sizeof x, true);
    bn_buf_append(&b, mask, STATE_LEN);
    char *token = bn_arena_strndup(bn_conn_arena(c), b.data, b.len);
    bn_buf_free(&b);
    return token;
}

bool bn_csrf_valid(bn_conn *c, bn_str token)
{
    bn_str state = session_state(c);
    if (!state.ptr || token.len != BN_CSRF_TOKEN_LEN)
        return false;
    bn_str mask = bn_str_make(token.ptr + MASKED_LEN, STATE_LEN);
    bn_buf x = BN_BUF_INIT;
    bool ok = is_b64url(mask) && bn_base64url_decode(&x, bn_str_make(token.ptr, MASKED_LEN), true) &&
              x.len == STATE_LEN;
    if (ok) {
        for (size_t i = 0; i < STATE_LEN; i++)
            x.data[i] ^= mask.ptr[i];
        ok = bn_crypto_equal(x.data, state.ptr, STATE_LEN);
    }
    bn_buf_free(&x);
    return ok;
}

static bool safe_method(bn_method m) { return m == BN_METHOD_GET || m == BN_METHOD_HEAD || m == BN_METHOD_OPTIONS; }

/* The token the request carries: the body param first (forms), then the header (JS). */
static bn_str sent_token(bn_conn *c)
{
    const bn_value *p = bn_value_get(bn_conn_body_params(c), BN_CSRF_PARAM);
    if (p)
        return bn_value_str(p); /* a non-string (_csrf_token[]=x) reads as missing */
    return bn_conn_req_header(c, BN_STR(BN_CSRF_HEADER));
}

void bn_plug_protect_from_forgery(bn_conn *c, const void *opts)
{
    (void)opts;
    bn_session_all(c); /* raises unless the session was fetched, whatever the method */
    if (safe_method(bn_conn_method_id(c)))
        return;
    bn_str token = sent_token(c);
    if (!bn_csrf_valid(c, token))
        bn_raise(c, 403,
                 "invalid CSRF (Cross Site Request Forgery) token (%s): make sure the session cookie is sent and "
                 "fetched, and that the request carries a token from bn_csrf_token in the \"" BN_CSRF_PARAM
                 "\" body param or the \"" BN_CSRF_HEADER "\" header",
                 token.ptr ? "it does not match this session" : "none was sent");
}
