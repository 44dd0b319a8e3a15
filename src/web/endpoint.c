/*
 * The endpoint: endpoint plugs, router dispatch, error views, request ids,
 * the logger, secure headers and the program's main.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bennu/crypto.h"
#include "bennu/endpoint.h"
#include "bennu/view.h"
#include "web/web_internal.h"

/* One endpoint per process, as in Phoenix; the http layer's handler has no
 * user pointer, and a request needs nothing else from it. */
static bn_endpoint *the_endpoint;

/* ---- dispatch ------------------------------------------------------------------ */

static void dispatch(bn_conn *c, bn_router *router)
{
    bn_route_match m = bn_router_match(router, bn_conn_method_id(c), bn_conn_method(c), bn_conn_path(c),
                                       bn_conn_arena(c));
    if (m.status == 405) /* the error page keeps this header: it is set again by the view */
        bn__web(c)->allow = m.allow;
    if (m.status != 0)
        bn_raise(c, m.status, "%s %.*s %.*s",
                 m.status == 404   ? "no route for"
                 : m.status == 405 ? "method not allowed:"
                                   : "malformed path:",
                 BN_STR_ARG(bn_conn_method(c)), BN_STR_ARG(bn_conn_path(c)));
    bn__conn_set_path_params(c, m.params);
    bn__web(c)->route = m.route;
    if (bn_plugs_run(c, m.route->plugs, m.route->nplugs))
        m.route->action(c);
}

const bn_route *bn_conn_route(const bn_conn *c)
{
    const bn_web *w = bn__web_peek(c);
    return w ? w->route : NULL;
}

const bn_router *bn_conn_router(const bn_conn *c)
{
    (void)c; /* one endpoint per process: its router serves every conn */
    return the_endpoint ? the_endpoint->router : NULL;
}

void bn_endpoint_call(bn_conn *c)
{
    bn_endpoint *ep = the_endpoint;
    if (!bn_plugs_run(c, ep->plugs, ep->nplugs))
        return;
    if (!ep->router)
        bn_raise(c, 404, "no router");
    dispatch(c, ep->router);
}

/* ---- error views ----------------------------------------------------------------- */

static bool wants_json(bn_conn *c)
{
    const char *format = bn_conn_format(c);
    if (format)
        return strcmp(format, "json") == 0;
    bn_str accept = bn_conn_req_header(c, BN_STR("accept"));
    if (accept.ptr) {
        bool json = memmem(accept.ptr, accept.len, "json", 4) != NULL;
        bool html = memmem(accept.ptr, accept.len, "html", 4) != NULL;
        if (json != html)
            return json;
    }
    bn_str ct = bn_conn_req_header(c, BN_STR("content-type"));
    return ct.ptr && memmem(ct.ptr, ct.len, "json", 4) != NULL;
}

/* The request's headers and (if they were parsed) params, escaped, for the dev page. */
static void dev_details(bn_conn *c, bn_buf *page)
{
    bn_arena *a = bn_conn_arena(c);
    size_t n;
    const bn_header *h = bn_conn_req_headers(c, &n);
    bn_buf_printf(page, "<h2>Request headers</h2>\n<pre>");
    for (size_t i = 0; i < n; i++) {
        bool secret = bn_str_eq_nocase(h[i].name, BN_STR("cookie")) || bn_str_eq_nocase(h[i].name, BN_STR("authorization"));
        const char *value = secret ? "[FILTERED]" : bn_arena_strndup(a, h[i].value.ptr, h[i].value.len);
        bn_buf_printf(page, "%s: %s\n", bn_html_escape(a, bn_arena_strndup(a, h[i].name.ptr, h[i].name.len)),
                      bn_html_escape(a, value));
    }
    bn_buf_printf(page, "</pre>\n");
    const bn_web *w = bn__web_peek(c);
    if (w && w->params_fetched && w->params) { /* never parse here: the body may be what failed */
        bn_buf json = BN_BUF_INIT;
        bn_json_encode(&json, w->params);
        bn_buf_printf(page, "<h2>Params</h2>\n<pre>%s</pre>\n",
                      bn_html_escape(a, bn_arena_strndup(a, json.data, json.len)));
        bn_buf_free(&json);
    }
}

void bn_render_error(bn_conn *c, int status, const char *message)
{
    bn_arena *a = bn_conn_arena(c);
    const char *reason = bn_http_reason(status);
    bool dev = the_endpoint && the_endpoint->dev;
    const char *rid = bn_conn_request_id(c);
    if (wants_json(c)) {
        bn_value *errors = bn_value_object(a), *root = bn_value_object(a);
        bn_value_set(a, errors, "detail", bn_value_string(a, bn_str_from_cstr(reason)));
        if (dev && message)
            bn_value_set(a, errors, "message", bn_value_string(a, bn_str_from_cstr(message)));
        bn_value_set(a, root, "errors", errors);
        bn_conn_json(c, status, root);
        return;
    }
    bn_buf page = BN_BUF_INIT;
    bn_buf_printf(&page,
                  "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%d %s</title>"
                  "<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:3rem auto;padding:0 1rem}"
                  "pre{background:#f4f4f4;padding:1rem;overflow:auto}</style></head>\n<body><h1>%s</h1>\n",
                  status, reason, reason);
    if (dev) {
        bn_buf_printf(&page, "<p><code>%s %s</code></p>\n<pre>%s</pre>\n",
                      bn_html_escape(a, bn_arena_strndup(a, bn_conn_method(c).ptr, bn_conn_method(c).len)),
                      bn_html_escape(a, bn_arena_strndup(a, bn_conn_path(c).ptr, bn_conn_path(c).len)),
                      bn_html_escape(a, message ? message : ""));
        if (rid)
            bn_buf_printf(&page, "<p>request id <code>%s</code></p>\n", rid);
        dev_details(c, &page);
    }
    bn_buf_printf(&page, "</body></html>\n");
    bn_conn_html(c, status, bn_str_make(page.data, page.len));
    bn_buf_free(&page);
}

static void render(bn_conn *c, int status, const char *message)
{
    const bn_web *w = bn__web_peek(c);
    if (status == 405 && w && w->allow) /* RFC 9110 §15.5.6: a 405 lists the methods */
        bn_conn_put_resp_header(c, BN_STR("allow"), bn_str_from_cstr(w->allow));
    if (w && w->request_id) /* the one header an error page must keep: it ties the page to the log */
        bn_conn_put_resp_header(c, BN_STR("x-request-id"), bn_str_from_cstr(w->request_id));
    /* 5xx are our faults (error); 4xx are the client's, kept at info with the reason. */
    bn_log(status >= 500 ? BN_LOG_ERROR : BN_LOG_INFO, "%.*s %.*s -> %d: %s%s%s", BN_STR_ARG(bn_conn_method(c)),
           BN_STR_ARG(bn_conn_path(c)), status, message ? message : "", bn_conn_request_id(c) ? " request_id=" : "",
           bn_conn_request_id(c) ? bn_conn_request_id(c) : "");
    bn_error_renderer *view = the_endpoint && the_endpoint->error_view ? the_endpoint->error_view : bn_render_error;
    if (w && w->route && w->route->fallback) /* the controller's action fallback */
        view = w->route->fallback;
    view(c, status, message);
}

/* ---- endpoint plugs ---------------------------------------------------------------- */

static bool valid_request_id(bn_str id)
{
    if (id.len < 20 || id.len > 200)
        return false;
    for (size_t i = 0; i < id.len; i++) {
        char ch = id.ptr[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_'))
            return false;
    }
    return true;
}

void bn_plug_request_id(bn_conn *c, const void *opts)
{
    (void)opts;
    bn_arena *a = bn_conn_arena(c);
    bn_str given = bn_conn_req_header(c, BN_STR("x-request-id"));
    const char *id;
    if (given.ptr && valid_request_id(given)) {
        id = bn_arena_strndup(a, given.ptr, given.len);
    } else {
        unsigned char raw[15];
        bn_random_bytes(raw, sizeof raw);
        bn_buf enc = BN_BUF_INIT;
        bn_base64url_encode(&enc, raw, sizeof raw, false); /* 20 chars, as Plug.RequestId makes */
        id = bn_arena_strndup(a, enc.data, enc.len);
        bn_buf_free(&enc);
    }
    bn__web(c)->request_id = id;
    bn_conn_put_resp_header(c, BN_STR("x-request-id"), bn_str_from_cstr(id));
}

const char *bn_conn_request_id(const bn_conn *c)
{
    const bn_web *w = bn__web_peek(c);
    return w ? w->request_id : NULL;
}

static void log_request(bn_conn *c, void *arg)
{
    uint64_t started = *(uint64_t *)arg;
    uint64_t us = (bn_clock_ns() - started) / 1000;
    const char *rid = bn_conn_request_id(c);
    bn_info("%.*s %.*s -> %d in %llu%s%s%s", BN_STR_ARG(bn_conn_method(c)), BN_STR_ARG(bn_conn_path(c)),
            bn_conn_status(c), (unsigned long long)(us >= 10000 ? us / 1000 : us), us >= 10000 ? "ms" : "µs",
            rid ? " request_id=" : "", rid ? rid : "");
}

void bn_plug_logger(bn_conn *c, const void *opts)
{
    (void)opts;
    uint64_t *started = bn_arena_alloc(bn_conn_arena(c), sizeof *started);
    *started = bn_clock_ns();
    bn_conn_register_before_send(c, log_request, started);
}

void bn_plug_secure_headers(bn_conn *c, const void *opts)
{
    (void)opts;
    static const struct {
        bn_str name, value;
    } headers[] = {
        {BN_STR("content-security-policy"), BN_STR("base-uri 'self'; frame-ancestors 'self';")},
        {BN_STR("referrer-policy"), BN_STR("strict-origin-when-cross-origin")},
        {BN_STR("x-content-type-options"), BN_STR("nosniff")},
        {BN_STR("x-frame-options"), BN_STR("SAMEORIGIN")},
        {BN_STR("x-permitted-cross-domain-policies"), BN_STR("none")},
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(headers); i++)
        bn_conn_put_resp_header(c, headers[i].name, headers[i].value);
}

/* ---- configuration and main ---------------------------------------------------------- */

int bn_endpoint_configure(bn_endpoint *ep, bn_server_config *cfg)
{
    const char *env = getenv("BENNU_ENV");
    if (env && strcmp(env, "dev") == 0)
        ep->dev = true;
    if (ep->router && bn_router_build(ep->router) < 0)
        return -1;
    the_endpoint = ep;
    cfg->handler = bn_endpoint_call;
    cfg->error_renderer = render;
    cfg->body_sink = bn__params_body_sink; /* uploads stream to their temp files */
    return 0;
}

int bn_endpoint_main(bn_endpoint *ep, int argc, char **argv)
{
    bn_server_config cfg;
    bn_server_config_defaults(&cfg, argv);
    if (bn_endpoint_configure(ep, &cfg) < 0)
        return 1;
    if (argc > 1 && strcmp(argv[1], "routes") == 0) {
        if (argc > 2 && strcmp(argv[2], "--verify") == 0) { /* every ~p and BN_PATH against the router */
            size_t n;
            bn_verified_path_list(&n);
            if (bn_router_verify_paths(ep->router, stderr) > 0)
                return 1;
            printf("%zu verified paths OK\n", n);
            return 0;
        }
        if (ep->router)
            bn_router_print(ep->router, stdout);
        return 0;
    }
    return bn_server_run(&cfg);
}
