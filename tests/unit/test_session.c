/*
 * Cookie sessions and flash through the in-process client: round trips signed
 * and encrypted, tampering, foreign keys, rotation, write-only-when-changed,
 * drop/renew, the size limit, configuration errors and flash across a redirect.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "bennu/crypto.h"
#include "bennu/endpoint.h"
#include "bennu/session.h"
#include "bennu/testing.h"

#define SKB "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define OLD_SKB "old-secret-old-secret-old-secret-old-secret-old-secret-old-secret"
#define OTHER_SKB "zyxwvutsrqponmlkjihgfedcba9876543210zyxwvutsrqponmlkjihgfedcba98"

static const bn_session_opts signed_opts = {.key = "_s_key", .signing_salt = "sign salt", .secret_key_base = SKB};
static const bn_session_opts enc_opts = {
    .key = "_e_key", .signing_salt = "sign salt", .encryption_salt = "enc salt", .secret_key_base = SKB};
/* The same keys as enc_opts under another cookie name (the name is the AAD). */
static const bn_session_opts enc2_opts = {
    .key = "_e2_key", .signing_salt = "sign salt", .encryption_salt = "enc salt", .secret_key_base = SKB};
static const bn_session_rotation old_secret[] = {{.secret_key_base = OLD_SKB}, {.signing_salt = "old salt"}};
static const bn_session_opts rot_opts = {.key = "_r_key",
                                         .signing_salt = "sign salt",
                                         .secret_key_base = SKB,
                                         .rotating = old_secret,
                                         .nrotating = 2};
/* Moving from signed to encrypted cookies: the signed ones are still read. */
static const bn_session_rotation was_signed[] = {{0}};
static const bn_session_opts mig_opts = {.key = "_m_key",
                                         .signing_salt = "sign salt",
                                         .encryption_salt = "enc salt",
                                         .secret_key_base = SKB,
                                         .rotating = was_signed,
                                         .nrotating = 1};
static const bn_cookie_attrs strict_attrs = {
    .max_age = 3600, .path = "/a", .secure = true, .http_only = true, .same_site = BN_SAME_SITE_STRICT};
static const bn_session_opts attr_opts = {
    .key = "_a_key", .signing_salt = "sign salt", .secret_key_base = SKB, .cookie = &strict_attrs};
static const bn_session_opts weak_opts = {.key = "_w_key", .signing_salt = "s", .secret_key_base = "too short"};
static const bn_session_opts env_opts = {.key = "_v_key", .signing_salt = "sign salt"};
static const bn_session_opts nosalt_opts = {.key = "_x_key"};

/* ---- the app: the same actions under a scope per option set ---------------------- */

static void get(bn_conn *c) { bn_conn_json(c, 200, bn_session_all(c)); }

/* A param as a C string ("" when absent). */
static const char *param(bn_conn *c, const char *name)
{
    bn_str s = bn_conn_param(c, name);
    return s.ptr ? bn_arena_strndup(bn_conn_arena(c), s.ptr, s.len) : "";
}

static void put(bn_conn *c)
{
    bn_arena *a = bn_conn_arena(c);
    bn_session_put(c, param(c, "k"), bn_value_string(a, bn_str_from_cstr(param(c, "v"))));
    bn_conn_text(c, 200, BN_STR("ok"));
}

static void del(bn_conn *c)
{
    bn_session_delete(c, param(c, "k"));
    bn_conn_text(c, 200, BN_STR("ok"));
}

static void clear(bn_conn *c)
{
    bn_session_clear(c);
    bn_conn_text(c, 200, BN_STR("ok"));
}

static void drop(bn_conn *c)
{
    bn_session_drop(c);
    bn_conn_text(c, 200, BN_STR("ok"));
}

static void renew(bn_conn *c)
{
    bn_session_renew(c);
    bn_conn_text(c, 200, BN_STR("ok"));
}

static void noop(bn_conn *c) { bn_conn_text(c, 200, BN_STR("ok")); }

static bn_value *string_of(bn_conn *c, const char *param)
{
    int64_t n = 0;
    bn_value_to_int(bn_value_get(bn_conn_params(c), param), &n);
    char *s = bn_arena_alloc(bn_conn_arena(c), (size_t)n + 1);
    memset(s, 'x', (size_t)n);
    return bn_value_string_ref(bn_conn_arena(c), bn_str_make(s, (size_t)n));
}

static void big(bn_conn *c)
{
    bn_session_put(c, "big", string_of(c, "n"));
    bn_conn_text(c, 200, BN_STR("ok"));
}

/* Grows a value after putting it: only the writer can catch that. */
static void grow(bn_conn *c)
{
    bn_value *list = bn_value_array(bn_conn_arena(c));
    bn_session_put(c, "list", list);
    bn_value_push(bn_conn_arena(c), list, string_of(c, "n"));
    bn_conn_text(c, 200, BN_STR("ok"));
}

/* Flash: save then redirect, show, or put and render in one go. */
static void flash_save(bn_conn *c)
{
    bn_flash_put(c, "info", "Saved!");
    bn_conn_redirect(c, "/f/show");
}

static void flash_hop(bn_conn *c)
{
    bn_flash_put(c, "error", "Hop");
    bn_conn_redirect(c, "/f/save");
}

static void flash_show(bn_conn *c)
{
    bn_str info = bn_flash_get(c, "info"), error = bn_flash_get(c, "error");
    char *body = bn_arena_printf(bn_conn_arena(c), "info=%.*s error=%.*s n=%zu", BN_STR_ARG(info),
                                 BN_STR_ARG(error), bn_value_len(bn_flash_all(c)));
    bn_conn_text(c, 200, bn_str_from_cstr(body));
}

static void flash_now(bn_conn *c)
{
    bn_flash_put(c, "info", "Now");
    flash_show(c);
}

static void flash_cleared(bn_conn *c)
{
    bn_flash_put(c, "info", "Lost");
    bn_flash_clear(c);
    bn_conn_redirect(c, "/f/show");
}

static void flash_huge(bn_conn *c)
{
    bn_str s = bn_value_str(string_of(c, "n"));
    bn_flash_put(c, "info", s.ptr);
    bn_conn_redirect(c, "/f/show");
}

static void flash_unfetched(bn_conn *c)
{
    bn_flash_put(c, "info", "x");
    bn_conn_text(c, 200, BN_STR("ok"));
}

static void session_routes(bn_router *r)
{
    bn_get(r, "/get", get);
    bn_post(r, "/put", put);
    bn_post(r, "/del", del);
    bn_post(r, "/clear", clear);
    bn_post(r, "/drop", drop);
    bn_post(r, "/renew", renew);
    bn_get(r, "/noop", noop);
    bn_post(r, "/big", big);
    bn_post(r, "/grow", grow);
}

static void routes(bn_router *r)
{
    bn_pipeline(r, "s", BN_PLUG(bn_plug_fetch_session, &signed_opts));
    bn_pipeline(r, "e", BN_PLUG(bn_plug_fetch_session, &enc_opts));
    bn_pipeline(r, "e2", BN_PLUG(bn_plug_fetch_session, &enc2_opts));
    bn_pipeline(r, "r", BN_PLUG(bn_plug_fetch_session, &rot_opts));
    bn_pipeline(r, "m", BN_PLUG(bn_plug_fetch_session, &mig_opts));
    bn_pipeline(r, "a", BN_PLUG(bn_plug_fetch_session, &attr_opts));
    bn_pipeline(r, "w", BN_PLUG(bn_plug_fetch_session, &weak_opts));
    bn_pipeline(r, "v", BN_PLUG(bn_plug_fetch_session, &env_opts));
    bn_pipeline(r, "x", BN_PLUG(bn_plug_fetch_session, &nosalt_opts));
    bn_pipeline(r, "f", BN_PLUG(bn_plug_fetch_session, &signed_opts), BN_PLUG(bn_plug_fetch_flash, NULL));
    bn_pipeline(r, "noflash", BN_PLUG(bn_plug_fetch_flash, NULL));
#define SESSION_SCOPE(name)                                                                                            \
    bn_scope(r, "/" name, name) {                                                                                      \
        session_routes(r);                                                                                             \
    }
    SESSION_SCOPE("s")
    SESSION_SCOPE("e")
    SESSION_SCOPE("e2")
    SESSION_SCOPE("r")
    SESSION_SCOPE("m")
    SESSION_SCOPE("a")
    SESSION_SCOPE("w")
    SESSION_SCOPE("v")
    SESSION_SCOPE("x")
    bn_scope(r, "/f", "f") {
        bn_post(r, "/save", flash_save);
        bn_post(r, "/hop", flash_hop);
        bn_get(r, "/show", flash_show);
        bn_get(r, "/now", flash_now);
        bn_post(r, "/cleared", flash_cleared);
        bn_post(r, "/huge", flash_huge);
    }
    bn_scope(r, "/s", "s") {
        bn_get(r, "/flash", flash_unfetched);
    }
    bn_scope(r, "/n") { /* no session at all */
        session_routes(r);
    }
    bn_scope(r, "/nf", "noflash") {
        bn_get(r, "/show", flash_show);
    }
}

/* ---- fixture and helpers ----------------------------------------------------------- */

static bn_endpoint ep;
static bn_test_client *t;

static void setup(void)
{
    bn_router *r = bn_router_new();
    routes(r);
    ep = (bn_endpoint){.router = r};
    t = bn_test_client_for(&ep);
    cr_assert_not_null(t, "the router has mistakes");
}

static void teardown(void)
{
    bn_test_client_free(t);
    bn_router_free(ep.router);
}

TestSuite(session, .init = setup, .fini = teardown, .timeout = 60);

static bool sets_cookie(const bn_test_conn *r) { return bn_test_header(r, "set-cookie").ptr != NULL; }

/* A copy of the jar's cookie (the jar's own string changes with the next response). */
static char *jar(const char *name)
{
    const char *v = bn_test_cookie(t, name);
    return v ? strdup(v) : NULL;
}

static void post_ok(const char *path, const char *form)
{
    bn_test_conn *r = bn_test_post_form(t, path, form);
    cr_assert_eq(r->status, 200, "POST %s %s: %d", path, form, r->status);
    bn_test_conn_free(r);
}

/* GET <scope>/get: the session's JSON must be `json`; `writes` whether a cookie comes back. */
static void expect_session(const char *scope, const char *json, bool writes)
{
    char path[32];
    snprintf(path, sizeof path, "%s/get", scope);
    bn_test_conn *r = bn_test_get(t, path);
    cr_assert_eq(r->status, 200, "%s: status %d", path, r->status);
    cr_assert(bn_str_eq(r->body, bn_str_from_cstr(json)), "%s: got %.*s, want %s", path, BN_STR_ARG(r->body), json);
    cr_assert_eq(sets_cookie(r), writes, "%s: set-cookie %s", path, writes ? "missing" : "unexpected");
    bn_test_conn_free(r);
}

/* The JSON inside a signed cookie (its middle part), to show what the browser can read. */
static char *signed_payload(const char *cookie)
{
    const char *a = strchr(cookie, '.'), *b = a ? strchr(a + 1, '.') : NULL;
    cr_assert(b, "not a signed token: %s", cookie);
    bn_buf out = BN_BUF_INIT;
    cr_assert(bn_base64url_decode(&out, bn_str_make(a + 1, (size_t)(b - a - 1)), false));
    char *s = strndup(out.data ? out.data : "", out.len);
    bn_buf_free(&out);
    return s;
}

static char *encode_with(const bn_session_opts *o, const char *skb, const char *json)
{
    bn_arena a = BN_ARENA_INIT;
    bn_json_error err;
    bn_value *v = bn_json_parse(&a, bn_str_from_cstr(json), &err);
    cr_assert(v);
    bn_buf out = BN_BUF_INIT;
    bn__session_encode(&out, o, bn_str_from_cstr(skb), v);
    char *s = strndup(out.data, out.len);
    bn_buf_free(&out);
    bn_arena_destroy(&a);
    return s;
}

/* ---- round trips --------------------------------------------------------------------- */

Test(session, signed_round_trip)
{
    bn_test_conn *r = bn_test_post_form(t, "/s/put", "k=user&v=ada");
    cr_assert_eq(r->status, 200);
    bn_str sc = bn_test_header(r, "set-cookie");
    cr_assert(sc.ptr);
    char *header = strndup(sc.ptr, sc.len);
    cr_expect(strncmp(header, "_s_key=SFMyNTY.", 15) == 0, "%s", header);
    cr_expect(strstr(header, "; Path=/") && strstr(header, "; HttpOnly") && strstr(header, "; SameSite=Lax"), "%s",
              header);
    cr_expect(!strstr(header, "Max-Age") && !strstr(header, "Secure"), "a browser-session cookie: %s", header);
    free(header);
    bn_test_conn_free(r);

    char *c = jar("_s_key");
    char *payload = signed_payload(c);
    cr_expect_str_eq(payload, "{\"user\":\"ada\"}", "signed, not hidden");
    free(payload);
    expect_session("/s", "{\"user\":\"ada\"}", false);

    post_ok("/s/put", "k=n&v=2");
    post_ok("/s/put", "k=user&v=grace");
    expect_session("/s", "{\"user\":\"grace\",\"n\":\"2\"}", false);
    post_ok("/s/del", "k=user");
    expect_session("/s", "{\"n\":\"2\"}", false);
    post_ok("/s/clear", "");
    cr_expect_not_null(bn_test_cookie(t, "_s_key"), "a cleared session is still written");
    expect_session("/s", "{}", false);
    free(c);
}

Test(session, encrypted_round_trip)
{
    post_ok("/e/put", "k=user&v=ada");
    char *c = jar("_e_key");
    cr_assert(strncmp(c, "A256GCM.", 8) == 0, "%s", c);
    bn_buf raw = BN_BUF_INIT;
    cr_assert(bn_base64url_decode(&raw, bn_str_from_cstr(c + 8), false));
    cr_expect(!memmem(raw.data, raw.len, "ada", 3) && !memmem(raw.data, raw.len, "user", 4), "plaintext visible");
    bn_buf_free(&raw);
    expect_session("/e", "{\"user\":\"ada\"}", false);

    /* Each write encrypts afresh: the same session gives another cookie. */
    post_ok("/e/renew", "");
    char *again = jar("_e_key");
    cr_expect_str_neq(again, c);
    expect_session("/e", "{\"user\":\"ada\"}", false);
    free(again);
    free(c);
}

Test(session, no_cookie_is_an_empty_session_and_sets_nothing)
{
    expect_session("/s", "{}", false);
    expect_session("/e", "{}", false);
    cr_expect_null(bn_test_cookie(t, "_s_key"));
}

/* ---- what is refused reads as an empty session ------------------------------------- */

static void expect_every_byte_guarded(const char *scope, const char *name)
{
    char path[32];
    snprintf(path, sizeof path, "%s/put", scope);
    post_ok(path, "k=role&v=user");
    char *good = jar(name);
    size_t len = strlen(good);
    for (size_t i = 0; i < len; i++) {
        char *bad = strdup(good);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        bn_test_put_cookie(t, name, bad);
        expect_session(scope, "{}", false);
        free(bad);
    }
    /* Cut short, extended, doubled. */
    char *bad = strndup(good, len - 1);
    bn_test_put_cookie(t, name, bad);
    expect_session(scope, "{}", false);
    free(bad);
    bad = malloc(2 * len + 2);
    snprintf(bad, 2 * len + 2, "%sA", good);
    bn_test_put_cookie(t, name, bad);
    expect_session(scope, "{}", false);
    snprintf(bad, 2 * len + 2, "%s.%s", good, good);
    bn_test_put_cookie(t, name, bad);
    expect_session(scope, "{}", false);
    free(bad);
    /* The untouched cookie still works. */
    bn_test_put_cookie(t, name, good);
    expect_session(scope, "{\"role\":\"user\"}", false);
    free(good);
}

Test(session, tampering_with_any_byte_of_a_signed_cookie_empties_the_session)
{
    expect_every_byte_guarded("/s", "_s_key");
}

Test(session, tampering_with_any_byte_of_an_encrypted_cookie_empties_the_session)
{
    expect_every_byte_guarded("/e", "_e_key");
}

Test(session, forged_payload_with_the_original_signature_is_refused)
{
    post_ok("/s/put", "k=role&v=user");
    char *good = jar("_s_key");
    char *dot2 = strrchr(good, '.');
    bn_buf forged = BN_BUF_INIT;
    bn_buf_append_str(&forged, BN_STR("SFMyNTY."));
    bn_base64url_encode(&forged, "{\"role\":\"admin\"}", 16, false);
    bn_buf_append(&forged, dot2, strlen(dot2) + 1);
    bn_test_put_cookie(t, "_s_key", forged.data);
    expect_session("/s", "{}", false);
    bn_buf_free(&forged);
    free(good);
}

Test(session, cookies_made_with_other_keys_are_refused)
{
    bn_session_opts other_salt = signed_opts;
    other_salt.signing_salt = "another salt";
    bn_session_opts other_enc = enc_opts;
    other_enc.encryption_salt = "another enc salt";
    struct {
        const char *scope, *name;
        char *cookie;
    } cases[] = {
        {"/s", "_s_key", encode_with(&signed_opts, OTHER_SKB, "{\"a\":1}")},
        {"/s", "_s_key", encode_with(&other_salt, SKB, "{\"a\":1}")},
        {"/e", "_e_key", encode_with(&enc_opts, OTHER_SKB, "{\"a\":1}")},
        {"/e", "_e_key", encode_with(&other_enc, SKB, "{\"a\":1}")},
        /* A signed cookie where an encrypted one is expected, and the reverse. */
        {"/e", "_e_key", encode_with(&signed_opts, SKB, "{\"a\":1}")},
        {"/s", "_s_key", encode_with(&enc_opts, SKB, "{\"a\":1}")},
        /* The right keys under another cookie name: the name is bound in. */
        {"/e2", "_e2_key", encode_with(&enc_opts, SKB, "{\"a\":1}")},
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(cases); i++) {
        bn_test_put_cookie(t, cases[i].name, cases[i].cookie);
        expect_session(cases[i].scope, "{}", false);
        free(cases[i].cookie);
    }
    /* The control: the same payloads with the right keys are read. */
    char *ok = encode_with(&enc2_opts, SKB, "{\"a\":1}");
    bn_test_put_cookie(t, "_e2_key", ok);
    expect_session("/e2", "{\"a\":1}", false);
    free(ok);
}

Test(session, malformed_cookies_are_an_empty_session)
{
    uint8_t key[BN_KEY_LEN];
    bn_key_derive(BN_STR(SKB), BN_STR("sign salt"), 1000, key, sizeof key);
    static const char *const payloads[] = {"[1,2]", "\"str\"", "42", "null", "{\"a\":", "not json", ""};
    for (size_t i = 0; i < BN_ARRAY_LEN(payloads); i++) {
        bn_buf tok = BN_BUF_INIT;
        bn_message_sign(&tok, key, bn_str_from_cstr(payloads[i]));
        bn_buf_append(&tok, "", 1);
        bn_test_put_cookie(t, "_s_key", tok.data);
        expect_session("/s", "{}", false);
        bn_buf_free(&tok);
    }
    static const char *const junk[] = {"", "x", "SFMyNTY", "SFMyNTY..", "SFMyNTY.e30.", "A256GCM.", "...."};
    for (size_t i = 0; i < BN_ARRAY_LEN(junk); i++) {
        bn_test_put_cookie(t, "_s_key", junk[i]);
        expect_session("/s", "{}", false);
        bn_test_put_cookie(t, "_e_key", junk[i]);
        expect_session("/e", "{}", false);
    }
    /* A refused cookie is left alone until the session changes, then replaced. */
    post_ok("/s/put", "k=a&v=1");
    expect_session("/s", "{\"a\":\"1\"}", false);
}

/* ---- key rotation -------------------------------------------------------------------- */

static void expect_rotated(const char *scope, const char *name, const bn_session_opts *now, const char *cookie)
{
    bn_test_put_cookie(t, name, cookie);
    expect_session(scope, "{\"user\":\"ada\"}", true); /* read, then re-issued */
    char *fresh = jar(name);
    cr_assert_str_neq(fresh, cookie);
    bn_arena a = BN_ARENA_INIT;
    bool rotated = true;
    bn_value *v = bn__session_decode(&a, now, BN_STR(SKB), bn_str_from_cstr(fresh), &rotated);
    cr_assert_not_null(v);
    cr_expect_not(rotated, "the new cookie uses the current keys");
    bn_arena_destroy(&a);
    expect_session(scope, "{\"user\":\"ada\"}", false); /* and is not re-issued again */
    free(fresh);
}

Test(session, rotation_accepts_old_secrets_and_salts_and_rewrites)
{
    bn_session_opts old = rot_opts;
    char *c = encode_with(&old, OLD_SKB, "{\"user\":\"ada\"}");
    expect_rotated("/r", "_r_key", &rot_opts, c);
    free(c);

    old.signing_salt = "old salt";
    c = encode_with(&old, SKB, "{\"user\":\"ada\"}");
    expect_rotated("/r", "_r_key", &rot_opts, c);
    free(c);

    /* An old secret with the old salt was never a listed combination. */
    c = encode_with(&old, OLD_SKB, "{\"user\":\"ada\"}");
    bn_test_put_cookie(t, "_r_key", c);
    expect_session("/r", "{}", false);
    free(c);
}

Test(session, rotation_from_signed_to_encrypted)
{
    char *c = encode_with(&signed_opts, SKB, "{\"user\":\"ada\"}");
    expect_rotated("/m", "_m_key", &mig_opts, c);
    cr_expect(strncmp(bn_test_cookie(t, "_m_key"), "A256GCM.", 8) == 0);
    free(c);
}

Test(session, decode_reports_rotation)
{
    bn_arena a = BN_ARENA_INIT;
    char *cur = encode_with(&rot_opts, SKB, "{\"k\":[1,true,null]}");
    char *old = encode_with(&rot_opts, OLD_SKB, "{\"k\":2}");
    bool rotated = true;
    const bn_value *v = bn__session_decode(&a, &rot_opts, BN_STR(SKB), bn_str_from_cstr(cur), &rotated);
    cr_assert(v && !rotated);
    cr_expect_eq(bn_value_len(bn_value_get(v, "k")), 3);
    v = bn__session_decode(&a, &rot_opts, BN_STR(SKB), bn_str_from_cstr(old), &rotated);
    cr_assert(v && rotated);
    v = bn__session_decode(&a, &signed_opts, BN_STR(SKB), bn_str_from_cstr(old), &rotated);
    cr_expect(!v && !rotated, "without the rotation entry the old cookie is refused");
    free(cur);
    free(old);
    bn_arena_destroy(&a);
}

/* ---- when the cookie is written --------------------------------------------------------- */

Test(session, an_unchanged_session_sets_no_cookie)
{
    post_ok("/s/put", "k=a&v=1");
    bn_test_conn *r = bn_test_get(t, "/s/noop");
    cr_expect_not(sets_cookie(r));
    bn_test_conn_free(r);
    expect_session("/s", "{\"a\":\"1\"}", false);
}

Test(session, drop_deletes_the_cookie)
{
    post_ok("/s/put", "k=a&v=1");
    bn_test_conn *r = bn_test_post_form(t, "/s/drop", "");
    bn_str sc = bn_test_header(r, "set-cookie");
    cr_assert(sc.ptr);
    char *header = strndup(sc.ptr, sc.len);
    cr_expect(strncmp(header, "_s_key=;", 8) == 0 && strstr(header, "Max-Age=0"), "%s", header);
    free(header);
    bn_test_conn_free(r);
    cr_expect_null(bn_test_cookie(t, "_s_key"));
    expect_session("/s", "{}", false);
}

Test(session, renew_writes_an_unchanged_session)
{
    post_ok("/s/put", "k=a&v=1");
    bn_test_conn *r = bn_test_post_form(t, "/s/renew", "");
    cr_expect(sets_cookie(r));
    bn_test_conn_free(r);
    expect_session("/s", "{\"a\":\"1\"}", false);
}

Test(session, cookie_attributes_come_from_the_options)
{
    bn_test_conn *r = bn_test_post_form(t, "/a/put", "k=a&v=1");
    bn_str sc = bn_test_header(r, "set-cookie");
    cr_assert(sc.ptr);
    char *header = strndup(sc.ptr, sc.len);
    cr_expect(strstr(header, "; Path=/a") && strstr(header, "; Max-Age=3600") && strstr(header, "; Secure") &&
                  strstr(header, "; HttpOnly") && strstr(header, "; SameSite=Strict"),
              "%s", header);
    free(header);
    bn_test_conn_free(r);
    /* Dropping uses the same path, or the browser would keep the cookie. */
    r = bn_test_post_form(t, "/a/drop", "");
    sc = bn_test_header(r, "set-cookie");
    cr_assert(sc.ptr);
    header = strndup(sc.ptr, sc.len);
    cr_expect(strstr(header, "Max-Age=0") && strstr(header, "; Path=/a"), "%s", header);
    free(header);
    bn_test_conn_free(r);
}

/* ---- the size limit -------------------------------------------------------------------------- */

Test(session, a_session_too_big_for_its_cookie_raises_500)
{
    post_ok("/s/put", "k=a&v=1");
    char *before = jar("_s_key");
    post_ok("/s/big", "n=2500"); /* fits */
    free(before);
    before = jar("_s_key");

    bn_test_conn *r = bn_test_post_form(t, "/s/big", "n=5000");
    cr_expect_eq(r->status, 500);
    cr_expect_not(sets_cookie(r), "the failed request leaves the cookie alone");
    bn_test_conn_free(r);
    cr_expect_str_eq(bn_test_cookie(t, "_s_key"), before);
    free(before);
}

Test(session, the_limit_is_on_the_whole_name_value_pair)
{
    /* Signed: "_s_key=" (7) + "SFMyNTY." (8) + b64url(json) + "." (1) + 43. {"big":"<n x>"} is
     * n + 10 bytes: n = 3017 gives 4095 bytes, n = 3018 gives 4097. */
    post_ok("/s/big", "n=3017");
    cr_expect_eq(strlen("_s_key=") + strlen(bn_test_cookie(t, "_s_key")), 4095);
    bn_test_conn *r = bn_test_get(t, "/s/get"); /* and the request side reads it back */
    cr_expect_eq(r->body.len, 3017 + 10);
    bn_test_conn_free(r);
    r = bn_test_post_form(t, "/s/big", "n=3018");
    cr_expect_eq(r->status, 500);
    bn_test_conn_free(r);
}

Test(session, a_value_grown_after_put_is_caught_by_the_writer)
{
    bn_test_conn *r = bn_test_post_form(t, "/s/grow", "n=5000");
    cr_expect_eq(r->status, 500);
    cr_expect_not(sets_cookie(r));
    bn_test_conn_free(r);
    post_ok("/s/grow", "n=10");
    expect_session("/s", "{\"list\":[\"xxxxxxxxxx\"]}", false);
}

/* ---- configuration errors ----------------------------------------------------------------------- */

static void expect_status(const char *method, const char *path, int status)
{
    bn_test_conn *r = bn_test_request(t, method, path, BN_STR(""), NULL);
    cr_expect_eq(r->status, status, "%s %s: %d", method, path, r->status);
    bn_test_conn_free(r);
}

Test(session, using_the_session_before_fetching_it_raises_500)
{
    expect_status("GET", "/n/get", 500);
    expect_status("POST", "/n/put", 500);
    expect_status("POST", "/n/del", 500);
    expect_status("POST", "/n/clear", 500);
    expect_status("POST", "/n/drop", 500);
    expect_status("POST", "/n/renew", 500);
    expect_status("GET", "/n/noop", 200);
}

Test(session, a_short_or_missing_secret_and_missing_options_raise_500)
{
    expect_status("GET", "/w/get", 500);
    unsetenv("SECRET_KEY_BASE");
    expect_status("GET", "/v/get", 500);
    setenv("SECRET_KEY_BASE", "short", 1);
    expect_status("GET", "/v/get", 500);
    expect_status("GET", "/x/get", 500);
}

Test(session, the_secret_can_come_from_the_environment)
{
    setenv("SECRET_KEY_BASE", OTHER_SKB, 1);
    post_ok("/v/put", "k=a&v=1");
    expect_session("/v", "{\"a\":\"1\"}", false);
    bn_session_opts same = env_opts;
    same.secret_key_base = OTHER_SKB;
    bn_arena a = BN_ARENA_INIT;
    cr_expect_not_null(bn__session_decode(&a, &same, BN_STR(OTHER_SKB), bn_str_from_cstr(bn_test_cookie(t, "_v_key")),
                                          NULL));
    bn_arena_destroy(&a);
}

/* ---- flash ------------------------------------------------------------------------------------- */

static void expect_flash(const char *path, const char *body)
{
    bn_test_conn *r = bn_test_get(t, path);
    cr_assert_eq(r->status, 200);
    cr_expect(bn_str_eq(r->body, bn_str_from_cstr(body)), "%s: got %.*s, want %s", path, BN_STR_ARG(r->body), body);
    bn_test_conn_free(r);
}

Test(session, flash_survives_exactly_one_redirect)
{
    bn_test_conn *r = bn_test_post_form(t, "/f/save", "");
    cr_assert_eq(r->status, 302);
    cr_expect_str_eq(bn_test_redirected_to(r), "/f/show");
    cr_expect(sets_cookie(r));
    bn_test_conn_free(r);
    char *payload = signed_payload(bn_test_cookie(t, "_s_key"));
    cr_expect_str_eq(payload, "{\"_flash\":{\"info\":\"Saved!\"}}");
    free(payload);
    expect_flash("/f/show", "info=Saved! error= n=1");
    expect_flash("/f/show", "info= error= n=0");
    expect_session("/s", "{}", false);
}

Test(session, flash_rides_along_a_chain_of_redirects)
{
    bn_test_conn *r = bn_test_post_form(t, "/f/hop", ""); /* -> /f/save, which adds info */
    cr_assert_eq(r->status, 302);
    bn_test_conn_free(r);
    r = bn_test_post_form(t, "/f/save", "");
    cr_assert_eq(r->status, 302);
    bn_test_conn_free(r);
    expect_flash("/f/show", "info=Saved! error=Hop n=2");
    expect_flash("/f/show", "info= error= n=0");
}

Test(session, flash_put_without_a_redirect_shows_now_only)
{
    bn_test_conn *r = bn_test_get(t, "/f/now");
    cr_expect(bn_str_eq(r->body, BN_STR("info=Now error= n=1")));
    cr_expect_not(sets_cookie(r), "nothing to carry over, nothing written");
    bn_test_conn_free(r);
    expect_flash("/f/show", "info= error= n=0");
}

Test(session, cleared_flash_is_not_carried)
{
    bn_test_conn *r = bn_test_post_form(t, "/f/cleared", "");
    cr_assert_eq(r->status, 302);
    cr_expect_not(sets_cookie(r));
    bn_test_conn_free(r);
    expect_flash("/f/show", "info= error= n=0");
}

Test(session, pages_without_flash_leave_the_session_alone)
{
    post_ok("/s/put", "k=a&v=1");
    bn_test_conn *r = bn_test_get(t, "/f/show");
    cr_expect(bn_str_eq(r->body, BN_STR("info= error= n=0")));
    cr_expect_not(sets_cookie(r));
    bn_test_conn_free(r);
}

Test(session, a_flash_too_big_for_the_cookie_raises_500)
{
    bn_test_conn *r = bn_test_post_form(t, "/f/huge", "n=5000");
    cr_expect_eq(r->status, 500);
    cr_expect_not(sets_cookie(r));
    bn_test_conn_free(r);
    expect_flash("/f/show", "info= error= n=0");
}

Test(session, flash_needs_its_plug_and_the_session)
{
    expect_status("GET", "/s/flash", 500); /* session, no fetch_flash */
    expect_status("GET", "/nf/show", 500); /* fetch_flash without a session */
}
