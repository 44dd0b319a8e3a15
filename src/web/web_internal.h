/*
 * Per-request state of the web layer, kept in the request arena under a
 * private key of the conn (see conn.c).
 */
#ifndef BENNU_WEB_INTERNAL_H
#define BENNU_WEB_INTERNAL_H

#include "bennu/template.h"
#include "bennu/web.h"

typedef struct bn_ptr_assign {
    struct bn_ptr_assign *next;
    const char *key;
    void *ptr;
} bn_ptr_assign;

typedef struct bn_web {
    bool halted;
    bool params_fetched;
    bool body_streamed;     /* body_params came from a streamed multipart body */
    bn_value *params;       /* merged query + body + path */
    bn_value *query_params;
    bn_value *body_params;
    bn_value *path_params;
    bn_value *assigns;
    bn_ptr_assign *ptrs;
    bn_value *req_cookies;  /* parsed on first use */
    const char *request_id;
    const struct bn_route *route; /* the matched route, once dispatched */
    const char *allow;            /* the Allow value of a 405 */
    const char *format;           /* chosen by bn_plug_accepts: "html", "json", ... */
    void *uploads;          /* temp files of a multipart body, removed after the response */
    bn_tpl_fn *root_layout; /* bn_conn_put_root_layout (view.c) */
    bn_tpl_fn *layout;      /* bn_conn_put_layout */
} bn_web;

/** The web state of `c`, created on first use. */
bn_web *bn__web(bn_conn *c);
/** The web state if it exists (read-only paths never allocate). */
const bn_web *bn__web_peek(const bn_conn *c);
/** The body sink for multipart bodies (bn_server_config.body_sink), or NULL to buffer. */
bn_body_sink *bn__params_body_sink(bn_conn *c);
/** Sets the router's path params (they win over query and body params). */
void bn__conn_set_path_params(bn_conn *c, bn_value *params);

#endif
