/*
 * bennu/endpoint.h — the endpoint [Phoenix.Endpoint]: the plugs every request
 * goes through, then the router, plus error pages, and the program's main.
 *
 * Example (see docs/guides/controllers.md for the whole app):
 *
 *     static const bn_plug endpoint_plugs[] = {
 *         BN_PLUG(bn_plug_request_id, NULL),
 *         BN_PLUG(bn_plug_logger, NULL),
 *     };
 *     int main(int argc, char **argv) {
 *         bn_router *r = bn_router_new();
 *         routes(r);                                 // bn_get(r, "/", page_home); ...
 *         bn_endpoint ep = {.plugs = endpoint_plugs, .nplugs = 2, .router = r};
 *         return bn_endpoint_main(&ep, argc, argv);  // "routes" prints the table
 *     }
 */
#ifndef BENNU_ENDPOINT_H
#define BENNU_ENDPOINT_H

#include "bennu/router.h"
#include "bennu/web.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_endpoint {
    const bn_plug *plugs; /* run for every request, before the router */
    size_t nplugs;
    bn_router *router;    /* built by bn_endpoint_main/configure if not yet */
    /** Detailed error pages (message, request id, params). Default: BENNU_ENV=dev. */
    bool dev;
    /** Overrides the error views (NULL: Bennu's HTML and JSON pages). */
    bn_error_renderer *error_view;
} bn_endpoint;

/**
 * Points `cfg` at the endpoint (handler and error renderer) and builds its
 * router; for bn_server_run and for bn_test_client. Returns 0, or -1 if the
 * router has mistakes (they are printed with file:line).
 */
int bn_endpoint_configure(bn_endpoint *ep, bn_server_config *cfg);
/** The request path: endpoint plugs, then the router's match, pipelines and action. */
void bn_endpoint_call(bn_conn *c);
/**
 * A whole program's main: `prog routes` prints the routes table; `prog routes
 * --verify` checks every verified path of the program against the router
 * (bennu/view.h: errors on stderr and exit status 1, else "N verified paths
 * OK"); anything else serves (bn_server_config_defaults from the
 * environment). Returns the exit status.
 */
int bn_endpoint_main(bn_endpoint *ep, int argc, char **argv);

/* ------------------------------------------------------------------------ */
/* Endpoint plugs                                                             */

/** x-request-id: keeps a valid incoming one (20-200 chars of [A-Za-z0-9_-]) or makes one. */
void bn_plug_request_id(bn_conn *c, const void *opts);
/** One log line per request: method, path, status, time, request id [Plug.Logger]. */
void bn_plug_logger(bn_conn *c, const void *opts);
/** The browser security headers Phoenix sets [put_secure_browser_headers]. */
void bn_plug_secure_headers(bn_conn *c, const void *opts);
/**
 * Content negotiation [accepts]: `opts` is a NULL-terminated list of formats
 * the route answers, e.g. (const char *const[]){"html", "json", NULL}. Picks
 * the format from the `_format` param or the Accept header (quality values
 * and wildcards; no header = the first listed); none acceptable -> 406.
 * Error pages follow the chosen format.
 */
void bn_plug_accepts(bn_conn *c, const void *opts);
/** The format chosen by bn_plug_accepts, or NULL. */
const char *bn_conn_format(const bn_conn *c);
/** The request id of this request (after bn_plug_request_id), or NULL. */
const char *bn_conn_request_id(const bn_conn *c);

/** Bennu's error view: JSON {"errors":{"detail":...}} when the client wants JSON, else an HTML page. */
void bn_render_error(bn_conn *c, int status, const char *message);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_ENDPOINT_H */
