/*
 * Params and cookies of a conn [Plug.Parsers, Plug.Conn.fetch_cookies]:
 * parsed on first use from the query string, the body (by its content type)
 * and the router's path params, into one tree in the request arena.
 */
#include <pthread.h>
#include <stdlib.h>

#include "bennu/web.h"
#include "web/parsers.h"
#include "web/web_internal.h"

/* Params limits: the parsers' defaults (parsers.h), uploads sizes from the
 * environment (BENNU_MAX_FILE_SIZE, BENNU_MAX_FILES_SIZE). Read once. */
static bn_params_limits limits;
static pthread_once_t limits_once = PTHREAD_ONCE_INIT;

static void limits_init(void)
{
    limits.max_file_size = bn_env_size("BENNU_MAX_FILE_SIZE", 0);
    limits.max_files_total = bn_env_size("BENNU_MAX_FILES_SIZE", 0);
    limits = bn__params_limits_resolve(&limits);
}

static const bn_params_limits *params_limits(void)
{
    pthread_once(&limits_once, limits_init);
    return &limits;
}

static void remove_uploads(void *arg)
{
    bn__uploads_cleanup(arg);
    free(arg);
}

static bn_str media_type(bn_str content_type)
{
    const char *semi = memchr(content_type.ptr, ';', content_type.len);
    bn_str t = bn_str_make(content_type.ptr, semi ? (size_t)(semi - content_type.ptr) : content_type.len);
    while (t.len && (t.ptr[t.len - 1] == ' ' || t.ptr[t.len - 1] == '\t'))
        t.len--;
    return t;
}

/* ---- multipart bodies streamed as they arrive ------------------------------- */

typedef struct upload_sink {
    bn_body_sink base;
    bn__multipart_form *form;
    bn_conn *c;
} upload_sink;

static void abort_form(void *arg) { bn__multipart_form_abort(arg); }

static int sink_feed(bn_body_sink *s, const char *data, size_t len)
{
    upload_sink *u = (upload_sink *)s;
    char err[256];
    if (bn__multipart_form_feed(u->form, data, len, err, sizeof err) == 0)
        return 0;
    s->status = bn__multipart_form_too_large(u->form) ? 413 : 400;
    bn_info("%.*s %.*s: multipart body refused: %s", BN_STR_ARG(bn_conn_method(u->c)),
            BN_STR_ARG(bn_conn_path(u->c)), err);
    return -1;
}

static int sink_finish(bn_body_sink *s)
{
    upload_sink *u = (upload_sink *)s;
    char err[256];
    if (bn__multipart_form_finish(u->form, err, sizeof err) == 0)
        return 0;
    s->status = 400;
    bn_info("%.*s %.*s: multipart body refused: %s", BN_STR_ARG(bn_conn_method(u->c)),
            BN_STR_ARG(bn_conn_path(u->c)), err);
    return -1;
}

bn_body_sink *bn__params_body_sink(bn_conn *c)
{
    bn_str ct = bn_conn_req_header(c, BN_STR("content-type"));
    if (!ct.ptr || !bn_str_eq_nocase(media_type(ct), BN_STR("multipart/form-data")))
        return NULL; /* other bodies are small enough to buffer (BENNU_MAX_BODY) */
    bn_arena *a = bn_conn_arena(c);
    bn_web *w = bn__web(c);
    bn__uploads *up = bn_xcalloc(1, sizeof(*up));
    bn_conn_defer(c, remove_uploads, up); /* temp files go when the request ends, however it ends */
    w->uploads = up;
    w->body_params = bn_value_object(a);
    char err[256];
    bn__multipart_form *form = bn__multipart_form_begin(a, ct, w->body_params, up, params_limits(), err, sizeof err);
    if (!form) { /* a bad Content-Type: buffer it, and the params fetch answers 400 with the reason */
        w->body_params = NULL;
        return NULL;
    }
    bn_conn_defer(c, abort_form, form); /* runs first (latest first): closes a half-written file */
    w->body_streamed = true;
    upload_sink *u = bn_arena_alloc(a, sizeof(*u));
    *u = (upload_sink){.base = {.feed = sink_feed, .finish = sink_finish}, .form = form, .c = c};
    return &u->base;
}

static void parse_body(bn_conn *c, bn_value *into)
{
    bn_arena *a = bn_conn_arena(c);
    bn_str body = bn_conn_body(c);
    bn_str ct = bn_conn_req_header(c, BN_STR("content-type"));
    if (!ct.ptr || body.len == 0)
        return;
    bn_str type = media_type(ct);
    char err[256];
    if (bn_str_eq_nocase(type, BN_STR("application/x-www-form-urlencoded"))) {
        if (bn__parse_urlencoded(a, body, into, params_limits(), err, sizeof err) < 0)
            bn_raise(c, 400, "malformed form body: %s", err);
    } else if (bn_str_eq_nocase(type, BN_STR("application/json")) ||
               (type.len > 5 && bn_str_eq_nocase(bn_str_make(type.ptr + type.len - 5, 5), BN_STR("+json")))) {
        bn_json_error jerr;
        bn_value *v = bn_json_parse(a, body, &jerr);
        if (!v)
            bn_raise(c, 400, "malformed JSON body: %s at line %d, column %d", jerr.text, jerr.line, jerr.column);
        if (v->type == BN_VALUE_OBJECT) {
            for (size_t i = 0; i < v->as.object.len; i++)
                bn_value_set_str(a, into, v->as.object.members[i].key, v->as.object.members[i].value);
        } else {
            bn_value_set(a, into, "_json", v); /* as Plug.Parsers.JSON does for non-objects */
        }
    } else if (bn_str_eq_nocase(type, BN_STR("multipart/form-data"))) {
        bn__uploads *up = bn_xcalloc(1, sizeof(*up));
        bn_conn_defer(c, remove_uploads, up); /* temp files go when the request ends */
        bn__web(c)->uploads = up;
        if (bn__parse_multipart(a, body, ct, into, up, params_limits(), err, sizeof err) < 0)
            bn_raise(c, 400, "malformed multipart body: %s", err);
    }
    /* Other types are left to the action (bn_conn_body), as Plug's :pass does. */
}

static void merge(bn_arena *a, bn_value *into, const bn_value *from)
{
    for (size_t i = 0; from && i < from->as.object.len; i++)
        bn_value_set_str(a, into, from->as.object.members[i].key, from->as.object.members[i].value);
}

static void fetch(bn_conn *c)
{
    bn_web *w = bn__web(c);
    if (w->params_fetched)
        return;
    w->params_fetched = true; /* before parsing: a raise must not make us parse twice */
    bn_arena *a = bn_conn_arena(c);
    w->query_params = bn_value_object(a);
    w->params = bn_value_object(a);
    char err[256];
    if (bn__parse_urlencoded(a, bn_conn_query(c), w->query_params, params_limits(), err, sizeof err) < 0)
        bn_raise(c, 400, "malformed query string: %s", err);
    if (!w->body_streamed) { /* a streamed multipart body was parsed as it arrived */
        w->body_params = bn_value_object(a);
        parse_body(c, w->body_params);
    }
    merge(a, w->params, w->query_params);
    merge(a, w->params, w->body_params);
    merge(a, w->params, w->path_params);
}

const bn_value *bn_conn_params(bn_conn *c)
{
    fetch(c);
    return bn__web(c)->params;
}

const bn_value *bn_conn_query_params(bn_conn *c)
{
    fetch(c);
    return bn__web(c)->query_params;
}

const bn_value *bn_conn_body_params(bn_conn *c)
{
    fetch(c);
    return bn__web(c)->body_params;
}

const bn_value *bn_conn_path_params(const bn_conn *c)
{
    const bn_web *w = bn__web_peek(c);
    return w ? w->path_params : NULL;
}

void bn__conn_set_path_params(bn_conn *c, bn_value *params)
{
    bn_web *w = bn__web(c);
    w->path_params = params;
    if (w->params_fetched) /* already merged once: path params win */
        merge(bn_conn_arena(c), w->params, params);
}

bn_str bn_conn_param(bn_conn *c, const char *path) { return bn_value_str(bn_value_path(bn_conn_params(c), path)); }

const bn_str *bn_conn_path_segments(bn_conn *c, size_t *n)
{
    bn_arena *a = bn_conn_arena(c);
    bn_str path = bn_conn_path(c);
    size_t cap = 1;
    for (size_t i = 0; i < path.len; i++)
        cap += path.ptr[i] == '/';
    bn_str *segs = bn_arena_alloc(a, cap * sizeof(bn_str));
    *n = 0;
    for (size_t i = 0; i < path.len;) {
        size_t j = i;
        while (j < path.len && path.ptr[j] != '/')
            j++;
        if (j > i && !bn__percent_decode(a, bn_str_make(path.ptr + i, j - i), false, &segs[*n]))
            bn_raise(c, 400, "malformed percent-encoding in the path");
        *n += j > i;
        i = j + 1;
    }
    return *n ? segs : NULL;
}

/* ---- cookies ----------------------------------------------------------------- */

bn_str bn_conn_req_cookie(bn_conn *c, const char *name)
{
    bn_web *w = bn__web(c);
    if (!w->req_cookies) {
        w->req_cookies = bn_value_object(bn_conn_arena(c));
        size_t n;
        const bn_header *h = bn_conn_req_headers(c, &n);
        for (size_t i = 0; i < n; i++) /* several Cookie headers are allowed (HTTP/2 style) */
            if (bn_str_eq_nocase(h[i].name, BN_STR("cookie")))
                bn__parse_cookie_header(bn_conn_arena(c), h[i].value, w->req_cookies);
    }
    return bn_value_str(bn_value_get(w->req_cookies, name));
}

bool bn_conn_put_resp_cookie(bn_conn *c, const char *name, bn_str value, const bn_cookie_attrs *attrs)
{
    bn_buf line = BN_BUF_INIT;
    bool ok = bn__cookie_serialize(&line, bn_str_from_cstr(name), value, attrs);
    if (ok)
        bn_conn_put_resp_header(c, BN_STR("set-cookie"), bn_str_make(line.data, line.len));
    else
        bn_error("refusing to set cookie \"%s\": its name or value has characters a cookie cannot carry", name);
    bn_buf_free(&line);
    return ok;
}

void bn_conn_delete_resp_cookie(bn_conn *c, const char *name, const bn_cookie_attrs *attrs)
{
    bn_cookie_attrs at = attrs ? *attrs : BN_COOKIE_ATTRS_DEFAULT;
    at.max_age = 0;
    bn_conn_put_resp_cookie(c, name, BN_STR(""), &at);
}
