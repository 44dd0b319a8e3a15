/*
 * The web layer's side of bn_conn [Plug.Conn]: halting, plugs, assigns and
 * response helpers. Its per-request state lives in the request arena under a
 * private key, so the http layer knows nothing of it.
 */
#include <stdio.h>

#include "bennu/web.h"
#include "web/web_internal.h"

static const char web_key[] = "bennu.web";

bn_web *bn__web(bn_conn *c)
{
    bn_web *w = bn_conn_private(c, web_key);
    if (!w) {
        w = bn_arena_alloc(bn_conn_arena(c), sizeof(*w));
        memset(w, 0, sizeof(*w));
        bn_conn_put_private(c, web_key, w);
    }
    return w;
}

const bn_web *bn__web_peek(const bn_conn *c) { return bn_conn_private(c, web_key); }

/* ---- halting and plugs ----------------------------------------------------- */

void bn_conn_halt(bn_conn *c) { bn__web(c)->halted = true; }

bool bn_conn_halted(const bn_conn *c)
{
    const bn_web *w = bn__web_peek(c);
    return w && w->halted;
}

bool bn_plugs_run(bn_conn *c, const bn_plug *plugs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (bn_conn_halted(c))
            return false;
        plugs[i].fn(c, plugs[i].opts);
    }
    return !bn_conn_halted(c);
}

/* ---- request --------------------------------------------------------------- */

bn_str bn_conn_host(const bn_conn *c)
{
    bn_str h = bn_conn_req_header(c, BN_STR("host"));
    if (!h.ptr)
        return bn_str_make("", 0);
    if (h.len && h.ptr[0] == '[') { /* [::1]:4000 */
        const char *close = memchr(h.ptr, ']', h.len);
        return close ? bn_str_make(h.ptr, (size_t)(close - h.ptr) + 1) : h;
    }
    const char *colon = memchr(h.ptr, ':', h.len);
    return colon ? bn_str_make(h.ptr, (size_t)(colon - h.ptr)) : h;
}

/* ---- assigns ----------------------------------------------------------------- */

void bn_conn_assign(bn_conn *c, const char *key, bn_value *value)
{
    bn_web *w = bn__web(c);
    if (!w->assigns)
        w->assigns = bn_value_object(bn_conn_arena(c));
    bn_value_set(bn_conn_arena(c), w->assigns, key, value);
}

const bn_value *bn_conn_assigned(const bn_conn *c, const char *key)
{
    const bn_web *w = bn__web_peek(c);
    return w ? bn_value_get(w->assigns, key) : NULL;
}

void bn_conn_assign_ptr(bn_conn *c, const char *key, void *ptr)
{
    bn_web *w = bn__web(c);
    for (bn_ptr_assign *p = w->ptrs; p; p = p->next)
        if (strcmp(p->key, key) == 0) {
            p->ptr = ptr;
            return;
        }
    bn_ptr_assign *p = bn_arena_alloc(bn_conn_arena(c), sizeof(*p));
    p->key = bn_arena_strndup(bn_conn_arena(c), key, strlen(key));
    p->ptr = ptr;
    p->next = w->ptrs;
    w->ptrs = p;
}

void *bn_conn_assigned_ptr(const bn_conn *c, const char *key)
{
    const bn_web *w = bn__web_peek(c);
    for (const bn_ptr_assign *p = w ? w->ptrs : NULL; p; p = p->next)
        if (strcmp(p->key, key) == 0)
            return p->ptr;
    return NULL;
}

/* ---- responses ----------------------------------------------------------------- */

void bn_conn_put_resp_content_type(bn_conn *c, const char *type)
{
    bool text = strncmp(type, "text/", 5) == 0 || strcmp(type, "application/json") == 0 ||
                strcmp(type, "application/javascript") == 0;
    if (text && !strstr(type, "charset="))
        type = bn_arena_printf(bn_conn_arena(c), "%s; charset=utf-8", type);
    bn_conn_put_resp_header(c, BN_STR("content-type"), bn_str_from_cstr(type));
}

void bn_conn_text(bn_conn *c, int status, bn_str body)
{
    bn_conn_put_resp_content_type(c, "text/plain");
    bn_conn_send_resp(c, status, body);
}

void bn_conn_html(bn_conn *c, int status, bn_str body)
{
    bn_conn_put_resp_content_type(c, "text/html");
    bn_conn_send_resp(c, status, body);
}

void bn_conn_json(bn_conn *c, int status, const bn_value *v)
{
    bn_buf out = BN_BUF_INIT;
    bn_json_encode(&out, v);
    /* The body must outlive nothing but this call: send_resp copies it. */
    bn_conn_put_resp_content_type(c, "application/json");
    bn_conn_send_resp(c, status, bn_str_make(out.data, out.len));
    bn_buf_free(&out);
}

/* HTML-escapes `s` into the arena (for the little pages this layer writes itself). */
const char *bn_html_escape(bn_arena *a, const char *s)
{
    size_t extra = 0;
    for (const char *p = s; *p; p++)
        extra += *p == '&' ? 4 : *p == '<' || *p == '>' ? 3 : *p == '"' || *p == '\'' ? 5 : 0;
    if (!extra)
        return s;
    char *out = bn_arena_alloc(a, strlen(s) + extra + 1), *o = out;
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&': memcpy(o, "&amp;", 5), o += 5; break;
        case '<': memcpy(o, "&lt;", 4), o += 4; break;
        case '>': memcpy(o, "&gt;", 4), o += 4; break;
        case '"': memcpy(o, "&#34;", 5), o += 5; break;
        case '\'': memcpy(o, "&#39;", 5), o += 5; break;
        default: *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static void redirect_to(bn_conn *c, const char *url)
{
    bn_arena *a = bn_conn_arena(c);
    bn_conn_put_resp_header(c, BN_STR("location"), bn_str_from_cstr(url));
    const char *body = bn_arena_printf(a, "<html><body>You are being <a href=\"%s\">redirected</a>.</body></html>",
                                       bn_html_escape(a, url));
    bn_conn_html(c, 302, bn_str_from_cstr(body));
}

void bn_conn_redirect(bn_conn *c, const char *path)
{
    /* Only local paths: "//evil.example" and "/\\evil" would leave the site. */
    if (path[0] != '/' || path[1] == '/' || path[1] == '\\')
        bn_raise(c, 500, "bn_conn_redirect expects a local path, got \"%s\" (use bn_conn_redirect_external)", path);
    redirect_to(c, path);
}

void bn_conn_redirect_external(bn_conn *c, const char *url)
{
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        bn_raise(c, 500, "bn_conn_redirect_external expects an http(s) URL, got \"%s\"", url);
    redirect_to(c, url);
}

/* ---- Server-Sent Events --------------------------------------------------------- */

void bn_conn_sse_start(bn_conn *c)
{
    bn_conn_put_resp_header(c, BN_STR("content-type"), BN_STR("text/event-stream"));
    bn_conn_put_resp_header(c, BN_STR("cache-control"), BN_STR("no-cache"));
    bn_conn_send_chunked(c, 200);
}

/* Appends "field: value\n", refusing a value that would end the field early. */
static void sse_field(bn_buf *b, const char *field, const char *value)
{
    if (!value || strpbrk(value, "\r\n"))
        return;
    bn_buf_printf(b, "%s: %s\n", field, value);
}

int bn_conn_sse_send(bn_conn *c, const char *event, bn_str data, const char *id)
{
    bn_buf b = BN_BUF_INIT;
    sse_field(&b, "event", event);
    sse_field(&b, "id", id);
    /* Every line of the data is its own data: field (CR, LF and CRLF all end lines). */
    size_t start = 0;
    for (size_t i = 0; i <= data.len; i++) {
        if (i < data.len && data.ptr[i] != '\n' && data.ptr[i] != '\r')
            continue;
        bn_buf_printf(&b, "data: %.*s\n", (int)(i - start), data.ptr + start);
        if (i + 1 < data.len && data.ptr[i] == '\r' && data.ptr[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    bn_buf_append(&b, "\n", 1);
    int rc = bn_conn_chunk(c, bn_str_make(b.data, b.len));
    bn_buf_free(&b);
    return rc;
}
