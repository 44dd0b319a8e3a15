/*
 * bennu/testing.h — helpers for users' tests [Phoenix.ConnTest].
 *
 * A bn_test_client dispatches requests through the server's real request path
 * (parser, limits, handler in a task, error pages) in-process, without a
 * socket, and keeps the cookies the responses set, like a browser, so a test
 * can log in and then post a form with its CSRF token.
 *
 * Example:
 *
 *     bn_server_config cfg;
 *     bn_server_config_defaults(&cfg, NULL);
 *     cfg.handler = my_endpoint_handler;
 *     bn_test_client *t = bn_test_client_new(&cfg);
 *     bn_test_conn *r = bn_test_get(t, "/api/users/1");
 *     assert(r->status == 200);
 *     assert(bn_str_eq(bn_value_str(bn_value_get(bn_test_json(r), "name")), BN_STR("Ada")));
 *     bn_test_conn_free(r);
 *     bn_test_client_free(t);
 */
#ifndef BENNU_TESTING_H
#define BENNU_TESTING_H

#include "bennu/http.h"
#include "bennu/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_test_client bn_test_client;

/** A finished request, as the client saw it. */
typedef struct bn_test_conn {
    int status;
    bn_header *headers; /* response headers in order */
    size_t nheaders;
    bn_str body;
    bn_arena arena; /* owns everything above */
    bn_buf raw;     /* the raw response bytes */
} bn_test_conn;

/** A client for the server described by `cfg` (its handler, error renderer, limits). */
bn_test_client *bn_test_client_new(const bn_server_config *cfg);
/**
 * A client for an endpoint [Phoenix.ConnTest with @endpoint]: default limits
 * from the environment, the endpoint configured (its router built). NULL if
 * the router has mistakes (they are printed with file:line).
 */
struct bn_endpoint;
bn_test_client *bn_test_client_for(struct bn_endpoint *ep);
void bn_test_client_free(bn_test_client *t);

/**
 * Sends `method path` with `body` and extra `headers` ("name: value" strings,
 * NULL-terminated, may be NULL), plus Host and the cookie jar. Returns the
 * response (never NULL: a request the server could not parse comes back with
 * its 4xx status).
 */
bn_test_conn *bn_test_request(bn_test_client *t, const char *method, const char *path, bn_str body,
                              const char *const *headers);
bn_test_conn *bn_test_get(bn_test_client *t, const char *path);
/** POST with an application/x-www-form-urlencoded body ("a=1&b=2"). */
bn_test_conn *bn_test_post_form(bn_test_client *t, const char *path, const char *form);
/** POST with an application/json body. */
bn_test_conn *bn_test_post_json(bn_test_client *t, const char *path, const char *json);
void bn_test_conn_free(bn_test_conn *r);

/** First response header named `name` (case-insensitive), or BN_STR_NULL. */
bn_str bn_test_header(const bn_test_conn *r, const char *name);
/** The body parsed as JSON (in r's arena), or NULL if it is not JSON. */
const bn_value *bn_test_json(bn_test_conn *r);
/** The Location of a 3xx response, or NULL [redirected_to/1]. */
const char *bn_test_redirected_to(bn_test_conn *r);
/** Value of cookie `name` in the client's jar, or NULL. */
const char *bn_test_cookie(const bn_test_client *t, const char *name);
/** Puts a cookie in the jar (sent with every later request). */
void bn_test_put_cookie(bn_test_client *t, const char *name, const char *value);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_TESTING_H */
