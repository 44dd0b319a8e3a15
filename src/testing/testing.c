/*
 * In-process test client (bennu/testing.h): builds raw requests, runs them
 * through bn_http_local_request, parses the raw responses and keeps a cookie
 * jar between requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "bennu/endpoint.h"
#include "bennu/testing.h"

typedef struct jar_cookie {
    struct jar_cookie *next;
    char *name;
    char *value;
} jar_cookie;

struct bn_test_client {
    const bn_server_config *cfg;
    bn_server_config own_cfg; /* for clients made by bn_test_client_for */
    jar_cookie *jar;
};

bn_test_client *bn_test_client_new(const bn_server_config *cfg)
{
    bn_test_client *t = bn_xcalloc(1, sizeof(*t));
    t->cfg = cfg;
    return t;
}

bn_test_client *bn_test_client_for(bn_endpoint *ep)
{
    bn_test_client *t = bn_xcalloc(1, sizeof(*t));
    bn_server_config_defaults(&t->own_cfg, NULL);
    if (bn_endpoint_configure(ep, &t->own_cfg) < 0) {
        free(t);
        return NULL;
    }
    t->cfg = &t->own_cfg;
    return t;
}

static void jar_remove(bn_test_client *t, const char *name)
{
    for (jar_cookie **p = &t->jar; *p; p = &(*p)->next)
        if (strcmp((*p)->name, name) == 0) {
            jar_cookie *dead = *p;
            *p = dead->next;
            free(dead->name);
            free(dead->value);
            free(dead);
            return;
        }
}

void bn_test_put_cookie(bn_test_client *t, const char *name, const char *value)
{
    jar_remove(t, name);
    jar_cookie *c = bn_xcalloc(1, sizeof(*c));
    c->name = bn_xstrdup(name);
    c->value = bn_xstrdup(value);
    c->next = t->jar;
    t->jar = c;
}

const char *bn_test_cookie(const bn_test_client *t, const char *name)
{
    for (const jar_cookie *c = t->jar; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c->value;
    return NULL;
}

void bn_test_client_free(bn_test_client *t)
{
    while (t->jar)
        jar_remove(t, t->jar->name);
    free(t);
}

/* ---- responses ------------------------------------------------------------ */

static bn_str line_at(const char **p, const char *end)
{
    const char *start = *p;
    const char *nl = memchr(start, '\n', (size_t)(end - start));
    const char *stop = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    if (stop > start && stop[-1] == '\r')
        stop--;
    return bn_str_make(start, (size_t)(stop - start));
}

/* Set-Cookie: name=value; Max-Age=0 ... -> the jar. */
static void absorb_cookie(bn_test_client *t, bn_str v)
{
    const char *semi = memchr(v.ptr, ';', v.len);
    bn_str pair = bn_str_make(v.ptr, semi ? (size_t)(semi - v.ptr) : v.len);
    const char *eq = memchr(pair.ptr, '=', pair.len);
    if (!eq)
        return;
    char *name = strndup(pair.ptr, (size_t)(eq - pair.ptr));
    char *value = strndup(eq + 1, pair.len - (size_t)(eq - pair.ptr) - 1);
    bool expired = false;
    for (const char *a = semi; a && a < v.ptr + v.len; a = memchr(a + 1, ';', (size_t)(v.ptr + v.len - a - 1))) {
        const char *attr = a + 1;
        while (*attr == ' ')
            attr++;
        if (strncasecmp(attr, "max-age=0", 9) == 0 || strncasecmp(attr, "max-age=-", 9) == 0)
            expired = true;
    }
    if (expired)
        jar_remove(t, name);
    else
        bn_test_put_cookie(t, name, value);
    free(name);
    free(value);
}

static void parse_response(bn_test_client *t, bn_test_conn *r)
{
    const char *p = r->raw.data, *end = r->raw.data + r->raw.len;
    /* Skip interim 100 Continue responses. */
    for (;;) {
        bn_str status = line_at(&p, end);
        char line[64]; /* sscanf needs a terminated string; the raw bytes are not one */
        snprintf(line, sizeof line, "%.*s", (int)BN_MIN(status.len, sizeof line - 1), status.ptr);
        if (status.len < 12 || sscanf(line, "HTTP/1.%*d %d", &r->status) != 1) {
            r->status = 0;
            return;
        }
        if (r->status >= 200)
            break;
        while (p < end && line_at(&p, end).len)
            ;
    }
    size_t cap = 16;
    r->headers = bn_arena_alloc(&r->arena, cap * sizeof(bn_header));
    uint64_t length = 0;
    for (bn_str line; p < end && (line = line_at(&p, end)).len;) {
        const char *colon = memchr(line.ptr, ':', line.len);
        if (!colon)
            continue;
        if (r->nheaders == cap) {
            bn_header *more = bn_arena_alloc(&r->arena, cap * 2 * sizeof(bn_header));
            memcpy(more, r->headers, cap * sizeof(bn_header));
            r->headers = more;
            cap *= 2;
        }
        bn_header *h = &r->headers[r->nheaders++];
        h->name = bn_str_make(line.ptr, (size_t)(colon - line.ptr));
        const char *v = colon + 1;
        while (v < line.ptr + line.len && *v == ' ')
            v++;
        h->value = bn_str_make(v, (size_t)(line.ptr + line.len - v));
        if (bn_str_eq_nocase(h->name, BN_STR("content-length")))
            bn_str_to_u64(h->value, &length);
        if (bn_str_eq_nocase(h->name, BN_STR("set-cookie")))
            absorb_cookie(t, h->value);
    }
    size_t avail = (size_t)(end - p);
    r->body = bn_str_make(p, length < avail ? (size_t)length : avail);
}

/* ---- requests ---------------------------------------------------------------- */

bn_test_conn *bn_test_request(bn_test_client *t, const char *method, const char *path, bn_str body,
                              const char *const *headers)
{
    bn_buf req = BN_BUF_INIT;
    bn_buf_printf(&req, "%s %s HTTP/1.1\r\nhost: www.example.com\r\n", method, path);
    bool has_length = false;
    for (size_t i = 0; headers && headers[i]; i++) {
        bn_buf_printf(&req, "%s\r\n", headers[i]);
        has_length |= strncasecmp(headers[i], "content-length:", 15) == 0;
    }
    if (t->jar) {
        bn_buf_printf(&req, "cookie: ");
        for (const jar_cookie *c = t->jar; c; c = c->next)
            bn_buf_printf(&req, "%s%s=%s", c == t->jar ? "" : "; ", c->name, c->value);
        bn_buf_printf(&req, "\r\n");
    }
    if (!has_length && (body.len || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                        strcmp(method, "PATCH") == 0))
        bn_buf_printf(&req, "content-length: %zu\r\n", body.len);
    bn_buf_append(&req, "\r\n", 2);
    bn_buf_append(&req, body.ptr, body.len);

    bn_test_conn *r = bn_xcalloc(1, sizeof(*r));
    bn_http_local_request(t->cfg, bn_str_make(req.data, req.len), &r->raw);
    bn_buf_free(&req);
    parse_response(t, r);
    return r;
}

bn_test_conn *bn_test_get(bn_test_client *t, const char *path)
{
    return bn_test_request(t, "GET", path, BN_STR(""), NULL);
}

bn_test_conn *bn_test_post_form(bn_test_client *t, const char *path, const char *form)
{
    static const char *const h[] = {"content-type: application/x-www-form-urlencoded", NULL};
    return bn_test_request(t, "POST", path, bn_str_from_cstr(form), h);
}

bn_test_conn *bn_test_post_json(bn_test_client *t, const char *path, const char *json)
{
    static const char *const h[] = {"content-type: application/json", NULL};
    return bn_test_request(t, "POST", path, bn_str_from_cstr(json), h);
}

void bn_test_conn_free(bn_test_conn *r)
{
    if (!r)
        return;
    bn_arena_destroy(&r->arena);
    bn_buf_free(&r->raw);
    free(r);
}

bn_str bn_test_header(const bn_test_conn *r, const char *name)
{
    bn_str n = bn_str_from_cstr(name);
    for (size_t i = 0; i < r->nheaders; i++)
        if (bn_str_eq_nocase(r->headers[i].name, n))
            return r->headers[i].value;
    return BN_STR_NULL;
}

const bn_value *bn_test_json(bn_test_conn *r)
{
    bn_json_error err;
    return bn_json_parse(&r->arena, r->body, &err);
}

const char *bn_test_redirected_to(bn_test_conn *r)
{
    if (r->status < 300 || r->status > 399)
        return NULL;
    bn_str loc = bn_test_header(r, "location");
    return loc.ptr ? bn_arena_strndup(&r->arena, loc.ptr, loc.len) : NULL;
}
