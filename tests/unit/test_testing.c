/*
 * The in-process test client: requests go through the real server path
 * without a socket; cookies persist between requests; suspended handlers run
 * to completion; errors come back as their status.
 */
#include <criterion/criterion.h>

#include "bennu/testing.h"
#include "bennu/web.h"

static void handler(bn_conn *c)
{
    bn_str path = bn_conn_path(c);
    if (bn_str_eq(path, BN_STR("/login"))) {
        bn_conn_put_resp_header(c, BN_STR("set-cookie"), BN_STR("session=abc123; Path=/; HttpOnly"));
        bn_conn_redirect(c, "/home");
    } else if (bn_str_eq(path, BN_STR("/home"))) {
        bn_str cookie = bn_conn_req_header(c, BN_STR("cookie"));
        bn_conn_text(c, 200, cookie.ptr ? cookie : BN_STR("no cookie"));
    } else if (bn_str_eq(path, BN_STR("/logout"))) {
        bn_conn_put_resp_header(c, BN_STR("set-cookie"), BN_STR("session=; Max-Age=0; Path=/"));
        bn_conn_text(c, 200, BN_STR("bye"));
    } else if (bn_str_eq(path, BN_STR("/slow"))) {
        bn_sleep(20); /* suspends: the client must still get the answer */
        bn_conn_text(c, 200, BN_STR("done"));
    } else if (bn_str_eq(path, BN_STR("/json"))) {
        bn_arena *a = bn_conn_arena(c);
        bn_value *v = bn_value_object(a);
        bn_value_set(a, v, "body_len", bn_value_int(a, (int64_t)bn_conn_body(c).len));
        bn_conn_json(c, 201, v);
    } else if (bn_str_eq(path, BN_STR("/teapot"))) {
        bn_raise(c, 418, "short and stout");
    } else {
        bn_conn_text(c, 404, BN_STR("nope"));
    }
}

static bn_server_config cfg;
static bn_test_client *t;

static void setup(void)
{
    bn_server_config_defaults(&cfg, NULL);
    cfg.handler = handler;
    t = bn_test_client_new(&cfg);
}

static void teardown(void) { bn_test_client_free(t); }

TestSuite(testing, .init = setup, .fini = teardown, .timeout = 20);

Test(testing, cookies_follow_the_client_like_a_browser)
{
    bn_test_conn *r = bn_test_get(t, "/login");
    cr_expect_eq(r->status, 302);
    cr_expect_str_eq(bn_test_redirected_to(r), "/home");
    cr_expect_str_eq(bn_test_cookie(t, "session"), "abc123");
    bn_test_conn_free(r);

    r = bn_test_get(t, "/home");
    cr_expect_eq(r->status, 200);
    cr_expect(bn_str_eq(r->body, BN_STR("session=abc123")), "body: %.*s", BN_STR_ARG(r->body));
    bn_test_conn_free(r);

    r = bn_test_get(t, "/logout");
    bn_test_conn_free(r);
    cr_expect_null(bn_test_cookie(t, "session"), "Max-Age=0 deletes the cookie");
    r = bn_test_get(t, "/home");
    cr_expect(bn_str_eq(r->body, BN_STR("no cookie")));
    bn_test_conn_free(r);
}

Test(testing, a_suspended_handler_runs_to_completion)
{
    bn_test_conn *r = bn_test_get(t, "/slow");
    cr_expect_eq(r->status, 200);
    cr_expect(bn_str_eq(r->body, BN_STR("done")));
    bn_test_conn_free(r);
}

Test(testing, json_bodies_and_responses)
{
    bn_test_conn *r = bn_test_post_json(t, "/json", "{\"a\":1}");
    cr_expect_eq(r->status, 201);
    cr_expect(bn_str_eq(bn_test_header(r, "content-type"), BN_STR("application/json; charset=utf-8")));
    int64_t n = 0;
    cr_expect(bn_value_to_int(bn_value_get(bn_test_json(r), "body_len"), &n));
    cr_expect_eq(n, 7);
    bn_test_conn_free(r);
}

Test(testing, errors_come_back_as_their_status)
{
    bn_test_conn *r = bn_test_get(t, "/teapot");
    cr_expect_eq(r->status, 418);
    bn_test_conn_free(r);
    /* A request the parser refuses gets its 4xx too. */
    static const char *const bad[] = {"x-bad header: 1", NULL};
    r = bn_test_request(t, "GET", "/home", BN_STR(""), bad);
    cr_expect_eq(r->status, 400);
    bn_test_conn_free(r);
}
