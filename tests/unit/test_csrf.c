/*
 * CSRF protection through the in-process client: Plug's token format (lengths,
 * alphabet, unmasking), which requests are checked, where the token may come
 * from, and that tokens of another session or a cleared one are refused.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "bennu/crypto.h"
#include "bennu/endpoint.h"
#include "bennu/session.h"
#include "bennu/testing.h"

#define SKB "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const bn_session_opts session = {.key = "_app_key", .signing_salt = "csrf test", .secret_key_base = SKB};

static void token(bn_conn *c) { bn_conn_text(c, 200, bn_str_from_cstr(bn_csrf_token(c))); }

static void two_tokens(bn_conn *c)
{
    const char *a = bn_csrf_token(c), *b = bn_csrf_token(c);
    bn_conn_text(c, 200, bn_str_from_cstr(bn_arena_printf(bn_conn_arena(c), "%s %s", a, b)));
}

static void state(bn_conn *c)
{
    bn_str s = bn_value_str(bn_session_get(c, BN_CSRF_SESSION_KEY));
    bn_conn_text(c, 200, s.ptr ? s : BN_STR("none"));
}

static void submit(bn_conn *c) { bn_conn_text(c, 200, BN_STR("ok")); }

static void logout(bn_conn *c)
{
    bn_session_clear(c);
    bn_session_renew(c);
    bn_conn_text(c, 200, BN_STR("bye"));
}

static void routes(bn_router *r)
{
    bn_pipeline(r, "browser", BN_PLUG(bn_plug_fetch_session, &session), BN_PLUG(bn_plug_protect_from_forgery, NULL));
    bn_pipeline(r, "unfetched", BN_PLUG(bn_plug_protect_from_forgery, NULL));
    bn_scope(r, "/", "browser") {
        bn_get(r, "/token", token);
        bn_get(r, "/tokens", two_tokens);
        bn_get(r, "/state", state);
        bn_get(r, "/submit", submit);
        bn_head(r, "/submit", submit);
        bn_options(r, "/submit", submit);
        bn_post(r, "/submit", submit);
        bn_put(r, "/submit", submit);
        bn_patch(r, "/submit", submit);
        bn_delete(r, "/submit", submit);
        bn_post(r, "/logout", logout);
    }
    bn_scope(r, "/bare", "unfetched") {
        bn_get(r, "/submit", submit);
        bn_post(r, "/submit", submit);
    }
}

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

TestSuite(csrf, .init = setup, .fini = teardown, .timeout = 30);

/* The body of GET `path` on client `tc`, as a C string. */
static char *fetch(bn_test_client *tc, const char *path)
{
    bn_test_conn *r = bn_test_get(tc, path);
    cr_assert_eq(r->status, 200, "GET %s: %d", path, r->status);
    char *s = strndup(r->body.ptr, r->body.len);
    bn_test_conn_free(r);
    return s;
}

static int post_with(bn_test_client *tc, const char *method, const char *form, const char *header)
{
    char hdr[128];
    const char *headers[] = {"content-type: application/x-www-form-urlencoded", NULL, NULL};
    if (header) {
        snprintf(hdr, sizeof hdr, "x-csrf-token: %s", header);
        headers[1] = hdr;
    }
    bn_test_conn *r = bn_test_request(tc, method, "/submit", bn_str_from_cstr(form ? form : ""), headers);
    int status = r->status;
    if (status == 200 && strcmp(method, "HEAD") != 0)
        cr_expect(bn_str_eq(r->body, BN_STR("ok")));
    bn_test_conn_free(r);
    return status;
}

static char *form_with(const char *tok)
{
    char *f = malloc(strlen(tok) + 16);
    sprintf(f, "_csrf_token=%s", tok);
    return f;
}

static bool b64url_only(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_'))
            return false;
    return true;
}

/* ---- format ---------------------------------------------------------------------------- */

Test(csrf, tokens_have_plugs_format_and_unmask_to_the_session_state)
{
    char *pair = fetch(t, "/tokens");
    char *st = fetch(t, "/state");
    cr_assert_eq(strlen(st), 24, "state %s", st);
    cr_expect(b64url_only(st));
    bn_buf raw = BN_BUF_INIT;
    cr_expect(bn_base64url_decode(&raw, bn_str_from_cstr(st), true) && raw.len == 18, "18 random bytes");
    bn_buf_free(&raw);

    char *second = strchr(pair, ' ');
    cr_assert(second);
    *second++ = '\0';
    const char *toks[] = {pair, second};
    for (int i = 0; i < 2; i++) {
        const char *tok = toks[i];
        cr_assert_eq(strlen(tok), BN_CSRF_TOKEN_LEN, "%s", tok);
        cr_expect(b64url_only(tok), "%s", tok);
        bn_buf x = BN_BUF_INIT;
        cr_assert(bn_base64url_decode(&x, bn_str_make(tok, 32), true));
        cr_assert_eq(x.len, 24);
        for (size_t j = 0; j < 24; j++)
            x.data[j] ^= tok[32 + j];
        cr_expect(memcmp(x.data, st, 24) == 0, "token %d does not unmask to the state", i);
        bn_buf_free(&x);
    }
    cr_expect_str_neq(pair, second, "a fresh mask per call");
    free(pair);
    free(st);
}

Test(csrf, the_state_is_made_once_and_kept)
{
    char *st = fetch(t, "/state");
    cr_expect_str_eq(st, "none", "no state before a token is asked for");
    free(st);
    bn_test_conn *r = bn_test_get(t, "/token");
    cr_expect(bn_test_header(r, "set-cookie").ptr, "the new state is saved");
    bn_test_conn_free(r);
    char *first = fetch(t, "/state");
    r = bn_test_get(t, "/token");
    cr_expect_null(bn_test_header(r, "set-cookie").ptr, "an existing state changes nothing");
    bn_test_conn_free(r);
    char *again = fetch(t, "/state");
    cr_expect_str_eq(first, again);
    free(first);
    free(again);
}

/* ---- checking ------------------------------------------------------------------------------ */

Test(csrf, unsafe_methods_need_a_valid_token)
{
    char *tok = fetch(t, "/token");
    char *form = form_with(tok);
    static const char *const unsafe[] = {"POST", "PUT", "PATCH", "DELETE"};
    for (size_t i = 0; i < BN_ARRAY_LEN(unsafe); i++) {
        cr_expect_eq(post_with(t, unsafe[i], "a=1", NULL), 403, "%s without a token", unsafe[i]);
        cr_expect_eq(post_with(t, unsafe[i], form, NULL), 200, "%s with the param", unsafe[i]);
        cr_expect_eq(post_with(t, unsafe[i], NULL, tok), 200, "%s with the header", unsafe[i]);
    }
    /* Tokens stay valid: many forms on a page, back button. */
    cr_expect_eq(post_with(t, "POST", form, NULL), 200);
    free(form);
    free(tok);
}

Test(csrf, a_json_body_may_carry_the_token)
{
    char *tok = fetch(t, "/token");
    char json[128];
    snprintf(json, sizeof json, "{\"_csrf_token\":\"%s\",\"a\":1}", tok);
    bn_test_conn *r = bn_test_post_json(t, "/submit", json);
    cr_expect_eq(r->status, 200);
    bn_test_conn_free(r);
    r = bn_test_post_json(t, "/submit", "{\"_csrf_token\":123}");
    cr_expect_eq(r->status, 403, "a non-string token is no token");
    bn_test_conn_free(r);
    free(tok);
}

Test(csrf, safe_methods_are_never_checked)
{
    static const char *const safe[] = {"GET", "HEAD", "OPTIONS"};
    for (size_t i = 0; i < BN_ARRAY_LEN(safe); i++)
        cr_expect_eq(post_with(t, safe[i], NULL, "garbage"), 200, "%s", safe[i]);
}

Test(csrf, a_token_from_another_session_is_refused)
{
    char *mine = fetch(t, "/token");
    bn_test_client *other = bn_test_client_for(&ep);
    char *theirs = fetch(other, "/token");
    char *form = form_with(theirs);
    cr_expect_eq(post_with(t, "POST", form, NULL), 403);
    cr_expect_eq(post_with(t, "POST", NULL, theirs), 403);
    cr_expect_eq(post_with(other, "POST", form, NULL), 200, "control: valid in its own session");
    /* Without a session cookie no token is valid. */
    bn_test_client *fresh = bn_test_client_for(&ep);
    cr_expect_eq(post_with(fresh, "POST", form, NULL), 403);
    cr_expect_eq(post_with(fresh, "POST", NULL, mine), 403);
    bn_test_client_free(fresh);
    bn_test_client_free(other);
    free(form);
    free(theirs);
    free(mine);
}

Test(csrf, malformed_or_unmasked_tokens_are_refused)
{
    char *tok = fetch(t, "/token");
    char *st = fetch(t, "/state");
    cr_expect_eq(post_with(t, "POST", NULL, st), 403, "the bare state is not accepted");
    char bad[BN_CSRF_TOKEN_LEN + 2];
    for (size_t i = 0; i < BN_CSRF_TOKEN_LEN; i++) {
        memcpy(bad, tok, sizeof bad - 1);
        bad[BN_CSRF_TOKEN_LEN] = '\0';
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        cr_expect_eq(post_with(t, "POST", NULL, bad), 403, "byte %zu changed", i);
    }
    snprintf(bad, sizeof bad, "%.*s", BN_CSRF_TOKEN_LEN - 1, tok);
    cr_expect_eq(post_with(t, "POST", NULL, bad), 403, "short");
    snprintf(bad, sizeof bad, "%sA", tok);
    cr_expect_eq(post_with(t, "POST", NULL, bad), 403, "long");
    memcpy(bad, tok, BN_CSRF_TOKEN_LEN + 1);
    bad[40] = '+'; /* outside the base64url alphabet, in the mask */
    cr_expect_eq(post_with(t, "POST", NULL, bad), 403, "mask alphabet");
    cr_expect_eq(post_with(t, "POST", "_csrf_token=", NULL), 403, "empty");
    free(st);
    free(tok);
}

Test(csrf, the_query_string_is_not_a_token_source)
{
    char *tok = fetch(t, "/token");
    char path[128];
    snprintf(path, sizeof path, "/submit?_csrf_token=%s", tok);
    bn_test_conn *r = bn_test_request(t, "POST", path, BN_STR(""), NULL);
    cr_expect_eq(r->status, 403);
    bn_test_conn_free(r);
    free(tok);
}

Test(csrf, clearing_the_session_invalidates_old_tokens)
{
    char *tok = fetch(t, "/token");
    char *form = form_with(tok);
    cr_expect_eq(post_with(t, "POST", form, NULL), 200);
    char *logout_form = form_with(tok);
    bn_test_conn *r = bn_test_post_form(t, "/logout", logout_form);
    cr_expect_eq(r->status, 200);
    bn_test_conn_free(r);
    cr_expect_eq(post_with(t, "POST", form, NULL), 403, "the state went with the session");
    free(logout_form);
    free(form);
    free(tok);
}

Test(csrf, protect_from_forgery_needs_the_session)
{
    bn_test_conn *r = bn_test_post_form(t, "/bare/submit", "a=1");
    cr_expect_eq(r->status, 500);
    bn_test_conn_free(r);
    r = bn_test_get(t, "/bare/submit");
    cr_expect_eq(r->status, 500, "a misconfigured pipeline fails on GET too");
    bn_test_conn_free(r);
}
