/*
 * Compiled templates in the web layer: a page rendered inside its layouts
 * [Phoenix.Controller.render/3], and the check of verified paths against the
 * router [Phoenix.VerifiedRoutes].
 */
#include <stdio.h>
#include <stdlib.h>

#include "bennu/session.h"
#include "bennu/view.h"
#include "web/web_internal.h"

/* ---- layouts ------------------------------------------------------------------ */

void bn_conn_put_root_layout(bn_conn *c, bn_tpl_fn *layout) { bn__web(c)->root_layout = layout; }
void bn_conn_put_layout(bn_conn *c, bn_tpl_fn *layout) { bn__web(c)->layout = layout; }

bn_tpl_fn *bn_conn_root_layout(const bn_conn *c)
{
    const bn_web *w = bn__web_peek(c);
    return w ? w->root_layout : NULL;
}

bn_tpl_fn *bn_conn_layout(const bn_conn *c)
{
    const bn_web *w = bn__web_peek(c);
    return w ? w->layout : NULL;
}

/* The plugs' opts carry the function through uintptr_t (BN__FN_OPTS). */
static bn_tpl_fn *fn_of_opts(const void *opts) { return (bn_tpl_fn *)(uintptr_t)opts; }

void bn_plug_put_root_layout(bn_conn *c, const void *opts) { bn_conn_put_root_layout(c, fn_of_opts(opts)); }
void bn_plug_put_layout(bn_conn *c, const void *opts) { bn_conn_put_layout(c, fn_of_opts(opts)); }

/* ---- rendering ------------------------------------------------------------------ */

/* One level of the nesting: a template and its assigns. A layout's
 * inner_content is a slot whose env is the next level inward. */
typedef struct level {
    bn_tpl_fn *fn;
    const void *assigns;
} level;

static void render_level(bn_tpl *t, const void *env, const void *arg)
{
    (void)arg;
    const level *l = env;
    l->fn(t, l->assigns);
}

static const char *page_title(bn_conn *c)
{
    const bn_value *v = bn_conn_assigned(c, "page_title");
    if (!bn_value_is(v, BN_VALUE_STRING))
        return NULL;
    bn_str s = bn_value_str(v);
    return bn_arena_strndup(bn_conn_arena(c), s.ptr, s.len); /* slices are not NUL-terminated */
}

static void free_buf(void *arg) { bn_buf_free(arg); }

void bn_conn_render_fn(bn_conn *c, int status, bn_tpl_fn *fn, const void *assigns)
{
    const bn_web *w = bn__web_peek(c);
    bn_tpl_fn *root = w ? w->root_layout : NULL, *app = w ? w->layout : NULL;
    level page = {fn, assigns}, inner, outer;
    bn_layout_assigns app_assigns, root_assigns;
    const level *top = &page;
    if (root || app) {
        bn_layout_assigns common = {.conn = c, .page_title = page_title(c)};
        common.csrf_token = bn_session_fetched(c) ? bn_csrf_token(c) : NULL;
        if (app) {
            app_assigns = common;
            app_assigns.inner_content = (bn_tpl_slot){render_level, top, BN_TPL_ALL};
            inner = (level){app, &app_assigns};
            top = &inner;
        }
        if (root) {
            root_assigns = common;
            root_assigns.inner_content = (bn_tpl_slot){render_level, top, BN_TPL_ALL};
            outer = (level){root, &root_assigns};
            top = &outer;
        }
    }
    /* In the arena with a deferred free: a template's C code may raise. */
    bn_buf *out = bn_arena_alloc(bn_conn_arena(c), sizeof(*out));
    *out = (bn_buf)BN_BUF_INIT;
    bn_conn_defer(c, free_buf, out);
    const char *error = bn_tpl_render_html_in(out, bn_conn_arena(c), top->fn, top->assigns);
    if (error)
        bn_raise(c, 500, "render error: %s", error); /* the server logs 5xx with the message */
    if (!bn_conn_resp_header(c, BN_STR("content-type")).ptr) /* put_new_resp_content_type */
        bn_conn_put_resp_content_type(c, "text/html");
    bn_conn_send_resp(c, status, out->len ? bn_str_make(out->data, out->len) : BN_STR(""));
    bn_buf_free(out); /* send_resp copied it */
}

/* ---- verified paths ------------------------------------------------------------------ */

/* Defined by the linker when some object has the section; weak so that a
 * program without any registered path links (both are then NULL). */
extern const bn_verified_path *const __start_bn_verified_paths[] __attribute__((weak));
extern const bn_verified_path *const __stop_bn_verified_paths[] __attribute__((weak));

const bn_verified_path *const *bn_verified_path_list(size_t *n)
{
    const bn_verified_path *const *start = __start_bn_verified_paths, *const *stop = __stop_bn_verified_paths;
    *n = start && stop > start ? (size_t)(stop - start) : 0;
    return *n ? start : NULL;
}

/* printf conversion letters (length modifiers and flags come before them). */
static const char conversions[] = "diouxXeEfFgGaAcspn";

/*
 * Splits the path part of `vp`'s pattern into raw segments (empty ones
 * dropped); a segment holding a dynamic part becomes {NULL, 0}. Text goes to
 * `text` (a '%%' becomes '%'). Returns the number of segments, or -1 if the
 * path does not start with '/' or has more than `cap` segments.
 */
static int split_pattern(const bn_verified_path *vp, bn_str *segs, int cap, char *text)
{
    const char *p = vp->pattern;
    if (p[0] != '/')
        return -1;
    int n = 0;
    size_t seg_start = 0, len = 0;
    bool dynamic = false, open = false;
    for (;; p++) {
        char ch = *p;
        bool end = ch == '\0' || ch == '?' || (ch == '#' && (vp->printf_style || p[1] != '{'));
        if (end || ch == '/') {
            if (open) {
                if (n == cap)
                    return -1;
                segs[n++] = dynamic ? BN_STR_NULL : bn_str_make(text + seg_start, len - seg_start);
            }
            if (end)
                return n;
            seg_start = len;
            dynamic = open = false;
            continue;
        }
        open = true;
        if (!vp->printf_style && ch == '#' && p[1] == '{') { /* "#{}" (anything up to '}') */
            const char *close = strchr(p, '}');
            p = close ? close : p + strlen(p) - 1;
            dynamic = true;
        } else if (vp->printf_style && ch == '%' && p[1] == '%') {
            text[len++] = '%';
            p++;
        } else if (vp->printf_style && ch == '%') {
            while (p[1] && !strchr(conversions, p[1]))
                p++;
            if (p[1])
                p++;
            dynamic = true;
        } else {
            text[len++] = ch;
        }
    }
}

int bn_router_verify_paths(const bn_router *r, FILE *err)
{
    size_t n;
    const bn_verified_path *const *paths = bn_verified_path_list(&n);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        const bn_verified_path *vp = paths[i];
        if (!vp || !vp->pattern)
            continue; /* padding, should a toolchain add any */
        size_t plen = strlen(vp->pattern);
        int cap = (int)BN_MIN(plen / 2 + 1, 4096);
        bn_str *segs = bn_xmalloc((size_t)cap * sizeof(*segs));
        char *text = bn_xmalloc(plen + 1);
        int nsegs = split_pattern(vp, segs, cap, text);
        bool ok = nsegs >= 0 && r && bn_router_has_path(r, segs, (size_t)nsegs);
        free(segs);
        free(text);
        if (ok)
            continue;
        failures++;
        fprintf(err, vp->printf_style ? "%s:%d:%d: error: no route matches BN_PATH(\"%s\")\n"
                                      : "%s:%d:%d: error: no route matches ~p\"%s\"\n",
                vp->file ? vp->file : "?", vp->line, vp->col, vp->pattern);
    }
    return failures;
}
