/*
 * Cookie sessions [Plug.Session with the cookie store]: the session object as
 * JSON in a signed or encrypted cookie, read once per request, written back
 * by a before-send callback only when something changed.
 */
#include <stdlib.h>

#include "bennu/crypto.h"
#include "bennu/session.h"

static const char session_key[] = "bennu.session";

/* What the response does with the cookie [Plug's :plug_session_info]. */
typedef enum session_info { INFO_NONE, INFO_WRITE, INFO_RENEW, INFO_DROP } session_info;

typedef struct session_state {
    const bn_session_opts *opts;
    bn_str skb;
    bn_value *data; /* an object in the request arena */
    session_info info;
    bool written; /* the callback ran: an error page must not run it again */
} session_state;

/* ---- the codec ----------------------------------------------------------------- */

/* One way of making cookies: the current options or a rotation entry. */
typedef struct keyset {
    bn_str skb;
    const char *signing_salt;
    const char *encryption_salt; /* NULL: signed only */
} keyset;

static keyset current_keys(const bn_session_opts *o, bn_str skb)
{
    return (keyset){skb, o->signing_salt, o->encryption_salt};
}

static keyset rotated_keys(const bn_session_opts *o, bn_str skb, const bn_session_rotation *r)
{
    return (keyset){r->secret_key_base ? bn_str_from_cstr(r->secret_key_base) : skb,
                    r->signing_salt ? r->signing_salt : o->signing_salt, r->encryption_salt};
}

static void derive(const keyset *k, uint8_t key[BN_KEY_LEN])
{
    const char *salt = k->encryption_salt ? k->encryption_salt : k->signing_salt;
    bn_key_derive(k->skb, bn_str_from_cstr(salt), BN_KEY_ITERATIONS, key, BN_KEY_LEN);
}

/* The cookie name is the AAD: a value lifted into another cookie does not open. */
static void seal(bn_buf *out, const bn_session_opts *o, const keyset *k, bn_str payload)
{
    uint8_t key[BN_KEY_LEN];
    derive(k, key);
    if (k->encryption_salt)
        bn_message_encrypt(out, key, payload, bn_str_from_cstr(o->key));
    else
        bn_message_sign(out, key, payload);
}

static bool open_with(bn_buf *out, const bn_session_opts *o, const keyset *k, bn_str cookie)
{
    uint8_t key[BN_KEY_LEN];
    derive(k, key);
    if (k->encryption_salt)
        return bn_message_decrypt(out, key, cookie, bn_str_from_cstr(o->key));
    return bn_message_verify(out, key, cookie);
}

void bn__session_encode(bn_buf *out, const bn_session_opts *opts, bn_str skb, const bn_value *session)
{
    bn_buf json = BN_BUF_INIT;
    bn_json_encode(&json, session);
    keyset k = current_keys(opts, skb);
    seal(out, opts, &k, bn_str_make(json.data, json.len));
    bn_buf_free(&json);
}

bn_value *bn__session_decode(bn_arena *a, const bn_session_opts *opts, bn_str skb, bn_str cookie, bool *rotated)
{
    bn_buf payload = BN_BUF_INIT;
    keyset k = current_keys(opts, skb);
    bool ok = open_with(&payload, opts, &k, cookie), old = false;
    for (size_t i = 0; !ok && opts->rotating && i < opts->nrotating; i++) {
        k = rotated_keys(opts, skb, &opts->rotating[i]);
        ok = old = open_with(&payload, opts, &k, cookie);
    }
    bn_value *v = NULL;
    if (ok) {
        bn_json_error err;
        v = bn_json_parse(a, bn_str_make(payload.data ? payload.data : "", payload.len), &err);
        if (v && v->type != BN_VALUE_OBJECT)
            v = NULL; /* authentic but not ours (another app sharing the secret?) */
    }
    bn_buf_free(&payload);
    if (rotated)
        *rotated = v && old;
    return v;
}

/* ---- the plug ------------------------------------------------------------------- */

static size_t max_size(const bn_session_opts *o) { return o->max_cookie_size ? o->max_cookie_size : BN_SESSION_MAX_COOKIE; }

/* Encodes the session into `out`; false (and `out` freed) if name=value would pass
 * the limit, which is on the whole pair: the most the request side reads back. */
static bool encode_fits(const session_state *s, bn_buf *out, size_t *pair)
{
    bn__session_encode(out, s->opts, s->skb, s->data);
    *pair = strlen(s->opts->key) + 1 + out->len;
    if (*pair <= max_size(s->opts))
        return true;
    bn_buf_free(out);
    return false;
}

#define TOO_BIG "the session cookie %s would be %zu bytes, over the %zu-byte limit: keep big data server-side " \
                "and only an id in the session"

static void write_cookie(bn_conn *c, void *arg)
{
    session_state *s = arg;
    if (s->written)
        return;
    s->written = true;
    if (s->info == INFO_DROP) {
        bn_conn_delete_resp_cookie(c, s->opts->key, s->opts->cookie);
        return;
    }
    if (s->info == INFO_NONE)
        return;
    bn_buf out = BN_BUF_INIT;
    size_t pair;
    if (!encode_fits(s, &out, &pair)) {
        /* Raising here would lose the response (it is already on its way), so
         * fail it the only way left: a 500 status, the old cookie kept. */
        bn_error(TOO_BIG " (grown after bn_session_put)", s->opts->key, pair, max_size(s->opts));
        bn_conn_put_status(c, 500);
        return;
    }
    bn_conn_put_resp_cookie(c, s->opts->key, bn_str_make(out.data, out.len), s->opts->cookie);
    bn_buf_free(&out);
}

static bn_str secret_key_base(bn_conn *c, const bn_session_opts *o)
{
    const char *skb = o->secret_key_base ? o->secret_key_base : getenv("SECRET_KEY_BASE");
    if (!skb)
        bn_raise(c, 500, "session: no secret_key_base (set SECRET_KEY_BASE or bn_session_opts.secret_key_base)");
    size_t len = strlen(skb);
    if (len < BN_SESSION_MIN_SECRET)
        bn_raise(c, 500, "session: secret_key_base must be at least %d bytes, got %zu (make one with "
                 "`openssl rand -base64 48`)", BN_SESSION_MIN_SECRET, len);
    return bn_str_make(skb, len);
}

bool bn_session_fetched(const bn_conn *c) { return bn_conn_private(c, session_key) != NULL; }

void bn_plug_fetch_session(bn_conn *c, const void *opts)
{
    const bn_session_opts *o = opts;
    if (bn_conn_private(c, session_key))
        return; /* fetched already (nested pipelines) */
    if (!o || !o->key || !o->signing_salt)
        bn_raise(c, 500, "bn_plug_fetch_session needs options with .key and .signing_salt");
    bn_arena *a = bn_conn_arena(c);
    session_state *s = bn_arena_alloc(a, sizeof(*s));
    *s = (session_state){.opts = o, .skb = secret_key_base(c, o)};
    bn_str cookie = bn_conn_req_cookie(c, o->key);
    bool rotated = false;
    if (cookie.ptr)
        s->data = bn__session_decode(a, o, s->skb, cookie, &rotated);
    if (!s->data) {
        if (cookie.ptr)
            bn_debug("session: ignoring an invalid %s cookie", o->key);
        s->data = bn_value_object(a);
    }
    if (rotated)
        s->info = INFO_WRITE; /* re-issue it under the current keys */
    bn_conn_put_private(c, session_key, s);
    bn_conn_register_before_send(c, write_cookie, s);
}

/* ---- the session API -------------------------------------------------------------- */

static session_state *fetched(bn_conn *c)
{
    session_state *s = bn_conn_private(c, session_key);
    if (!s)
        bn_raise(c, 500, "session not fetched: run bn_plug_fetch_session before using the session");
    return s;
}

/* Like Plug's put_new: the first change or renew/drop configuration stays. */
static void mark_written(session_state *s)
{
    if (s->info == INFO_NONE)
        s->info = INFO_WRITE;
}

const bn_value *bn_session_get(bn_conn *c, const char *key) { return bn_value_get(fetched(c)->data, key); }

const bn_value *bn_session_all(bn_conn *c) { return fetched(c)->data; }

void bn_session_put(bn_conn *c, const char *key, bn_value *v)
{
    session_state *s = fetched(c);
    bn_value_set(bn_conn_arena(c), s->data, key, v ? v : bn_value_null(bn_conn_arena(c)));
    mark_written(s);
    /* Fail here, in the action, where the stack says who grew the session; once the
     * response is on its way (flash callbacks) the writer checks instead. */
    bn_buf out = BN_BUF_INIT;
    size_t pair;
    if (bn_conn_sent(c))
        return;
    if (!encode_fits(s, &out, &pair)) {
        s->written = true; /* the error page leaves the cookie as it was */
        bn_raise(c, 500, TOO_BIG, s->opts->key, pair, max_size(s->opts));
    }
    bn_buf_free(&out);
}

void bn_session_delete(bn_conn *c, const char *key)
{
    session_state *s = fetched(c);
    bn_value *obj = s->data;
    for (size_t i = 0; i < obj->as.object.len; i++) {
        if (bn_str_eq(obj->as.object.members[i].key, bn_str_from_cstr(key))) {
            memmove(&obj->as.object.members[i], &obj->as.object.members[i + 1],
                    (obj->as.object.len - i - 1) * sizeof(obj->as.object.members[0]));
            obj->as.object.len--;
            break;
        }
    }
    mark_written(s);
}

void bn_session_clear(bn_conn *c)
{
    session_state *s = fetched(c);
    s->data = bn_value_object(bn_conn_arena(c));
    mark_written(s);
}

void bn_session_drop(bn_conn *c) { fetched(c)->info = INFO_DROP; }

void bn_session_renew(bn_conn *c) { fetched(c)->info = INFO_RENEW; }
