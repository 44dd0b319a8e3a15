/*
 * bennu/web.h — Phoenix's Plug/Conn layer in C: plugs and pipelines, params,
 * cookies, assigns, response helpers, halting and errors.
 *
 * The request/response exchange is the http layer's bn_conn (bennu/http.h);
 * this header adds what Plug.Conn offers on top of it. The router lives in
 * bennu/router.h, the endpoint (the plug chain every request goes through)
 * in bennu/endpoint.h.
 */
#ifndef BENNU_WEB_H
#define BENNU_WEB_H

#include "bennu/cookie.h"
#include "bennu/http.h"
#include "bennu/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Actions and plugs                                                          */

/** A controller action: reads the conn (params, assigns) and sends a response. */
typedef void bn_action(bn_conn *c);

/**
 * A plug: a function with options [Plug]. It may transform the conn, send a
 * response and halt (bn_conn_halt) to stop the chain.
 */
typedef void bn_plug_fn(bn_conn *c, const void *opts);

typedef struct bn_plug {
    bn_plug_fn *fn;
    const void *opts;
    const char *name; /* for logs and the routes table */
} bn_plug;

/** A plug value: BN_PLUG(bn_plug_fetch_session, NULL). */
#define BN_PLUG(fn, opts) ((bn_plug){(fn), (opts), #fn})

/** Runs `plugs` in order until one halts. Returns false if the conn was halted. */
bool bn_plugs_run(bn_conn *c, const bn_plug *plugs, size_t n);

/** Stops the plug chain after the current plug [Plug.Conn.halt/1]. */
void bn_conn_halt(bn_conn *c);
bool bn_conn_halted(const bn_conn *c);

/* ------------------------------------------------------------------------ */
/* Request                                                                    */

/** The path split on '/', percent-decoded, empty segments dropped [conn.path_info];
 *  NULL and *n == 0 for "/". A malformed escape raises 400. */
const bn_str *bn_conn_path_segments(bn_conn *c, size_t *n);
/** The Host header without the port ("example.com"), or empty. */
bn_str bn_conn_host(const bn_conn *c);
/**
 * All params [conn.params]: query string, then the body (urlencoded, JSON or
 * multipart), then path params, later ones winning on a clash. Parsed on
 * first use; a malformed body or query raises 400 with the reason.
 */
const bn_value *bn_conn_params(bn_conn *c);
const bn_value *bn_conn_query_params(bn_conn *c);
const bn_value *bn_conn_body_params(bn_conn *c);
const bn_value *bn_conn_path_params(const bn_conn *c);
/** The string at a dotted path of the params ("user.name"), or BN_STR_NULL. */
bn_str bn_conn_param(bn_conn *c, const char *path);

/* ------------------------------------------------------------------------ */
/* Cookies                                                                    */

/** A request cookie's value (as sent, not decoded), or BN_STR_NULL. */
bn_str bn_conn_req_cookie(bn_conn *c, const char *name);
/**
 * Adds a Set-Cookie header (attrs NULL: BN_COOKIE_ATTRS_DEFAULT). A name that
 * is not a token or a value outside the cookie-octet set is refused with an
 * error in the log and false (base64url-encode arbitrary bytes first).
 */
bool bn_conn_put_resp_cookie(bn_conn *c, const char *name, bn_str value, const bn_cookie_attrs *attrs);
/** Tells the browser to drop the cookie (Max-Age=0); path and domain must match how it was set. */
void bn_conn_delete_resp_cookie(bn_conn *c, const char *name, const bn_cookie_attrs *attrs);

/* ------------------------------------------------------------------------ */
/* Assigns: values the plugs and actions of one request share [conn.assigns] */

void bn_conn_assign(bn_conn *c, const char *key, bn_value *value);
const bn_value *bn_conn_assigned(const bn_conn *c, const char *key);
/** A C pointer (a user struct, a db row...) under `key`; lives as long as the caller makes it. */
void bn_conn_assign_ptr(bn_conn *c, const char *key, void *ptr);
void *bn_conn_assigned_ptr(const bn_conn *c, const char *key);

/* ------------------------------------------------------------------------ */
/* Responses                                                                  */

/** Sets content-type; text types get "; charset=utf-8" as Phoenix does. */
void bn_conn_put_resp_content_type(bn_conn *c, const char *type);
void bn_conn_text(bn_conn *c, int status, bn_str body);
void bn_conn_html(bn_conn *c, int status, bn_str body);
/** Encodes `v` as JSON (application/json). */
void bn_conn_json(bn_conn *c, int status, const bn_value *v);
/** 302 to a local path ("/users/1"); anything else (a full URL, "//host") raises 500. */
void bn_conn_redirect(bn_conn *c, const char *path);
/** 302 to an absolute http(s) URL. */
void bn_conn_redirect_external(bn_conn *c, const char *url);

/** `s` with & < > " ' escaped for HTML, NUL-terminated, in the arena (or `s` itself if nothing needs it). */
const char *bn_html_escape(bn_arena *a, const char *s);

/* ------------------------------------------------------------------------ */
/* Server-Sent Events (text/event-stream over a streamed response)            */

/** Starts an event stream: 200, text/event-stream, no caching, chunked. */
void bn_conn_sse_start(bn_conn *c);
/**
 * Sends one event; `event` and `id` may be NULL. Multi-line `data` becomes
 * several data: lines, as the format requires. Written at once; returns -1
 * once the client is gone.
 */
int bn_conn_sse_send(bn_conn *c, const char *event, bn_str data, const char *id);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_WEB_H */
