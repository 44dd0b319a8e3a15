/*
 * LiveView tests (bennu/testing.h, "LiveViews"): a page driven as the npm
 * client drives it — dead render, join, events — over an in-process
 * bn_test_socket, and the client's rendered tree: diffs merged by the rules
 * of phoenix_live_view 1.2's Rendered class (assets/js/phoenix_live_view/
 * rendered.js: mergeDiff, mutableMerge, mergeKeyed, toOutputBuffer), then
 * rendered to HTML.
 *
 * The tree is a bn_value in the tree's arena, mutated in place like the
 * client's object; replaced subtrees stay in the arena until it is freed
 * (a test's lifetime). After every merge, "p" template tables are resolved
 * and dropped, as the client's render does, so that a later diff's integer
 * "s" only ever refers to a table of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bennu/live.h"
#include "bennu/testing.h"

#define ERR_MAX 512
#define TAG_MAX_ATTRS 32

/* ======================================================================== */
/* The rendered tree                                                         */

struct bn_test_rendered {
    bn_arena arena;  /* the tree, diffs, replaced subtrees */
    bn_value *root;  /* NULL until the first merge */
    bn_buf html;     /* the last bn_test_rendered_html */
    char *title;     /* the last "t", malloc'ed */
    char error[ERR_MAX];
};

static bool fail(bn_test_rendered *r, const char *fmt, const char *arg)
{
    snprintf(r->error, sizeof r->error, fmt, arg);
    return false;
}

static bool is_object(const bn_value *v) { return bn_value_is(v, BN_VALUE_OBJECT); }
static bool has(const bn_value *v, const char *key) { return bn_value_get(v, key) != NULL; }

static bn_value *get_mut(bn_value *object, const char *key) { return (bn_value *)bn_value_get(object, key); }

/* Removes `key` from an object (JS `delete`), keeping the others' order. */
static void del(bn_value *object, const char *key)
{
    if (!is_object(object))
        return;
    size_t n = object->as.object.len;
    bn_str k = bn_str_from_cstr(key);
    for (size_t i = 0; i < n; i++) {
        if (bn_str_eq(object->as.object.members[i].key, k)) {
            memmove(&object->as.object.members[i], &object->as.object.members[i + 1],
                    (n - i - 1) * sizeof object->as.object.members[0]);
            object->as.object.len--;
            return;
        }
    }
}


static bool do_merge(bn_test_rendered *r, bn_value *target, const bn_value *source);

/* An entry of the keyed diff given as an old index: the old entry, from the clone taken before the merge. */
static bn_value *moved_entry(bn_test_rendered *r, const bn_value *before, const bn_value *index)
{
    int64_t old = 0;
    char key[24];
    if (!before || !bn_value_to_int(index, &old))
        return NULL;
    snprintf(key, sizeof key, "%lld", (long long)old);
    const bn_value *e = bn_value_get(before, key);
    return e ? bn_value_copy(&r->arena, e) : NULL;
}

/* mergeKeyed: entries by index (a diff, an old index, or [old index, diff]), then "kc" drops the rest. */
static bool merge_keyed(bn_test_rendered *r, bn_value *target, const bn_value *source)
{
    bn_arena *a = &r->arena;
    const bn_value *sk = bn_value_get(source, "k");
    bn_value *tk = get_mut(target, "k");
    if (!is_object(sk))
        return fail(r, "a keyed diff whose \"k\" is not an object%s", "");
    if (!is_object(tk)) {
        tk = bn_value_object(a);
        bn_value_set(a, tk, "kc", bn_value_int(a, 0));
        bn_value_set(a, target, "k", tk);
    }
    /* without "km" the client has no clone to read moves from (a TypeError in the browser) */
    const bn_value *km = bn_value_get(sk, "km");
    const bn_value *before = km && !bn_value_is(km, BN_VALUE_NULL) && !(bn_value_is(km, BN_VALUE_BOOL) && !km->as.b)
                                 ? bn_value_copy(a, tk) : NULL;
    for (size_t i = 0; i < sk->as.object.len; i++) {
        bn_str key = sk->as.object.members[i].key;
        const bn_value *entry = sk->as.object.members[i].value;
        if (bn_str_eq(key, BN_STR("kc")) || bn_str_eq(key, BN_STR("km")))
            continue;
        if (bn_value_is(entry, BN_VALUE_ARRAY) || bn_value_is(entry, BN_VALUE_INT)) {
            bool with_diff = bn_value_is(entry, BN_VALUE_ARRAY);
            bn_value *e = moved_entry(r, before, with_diff ? bn_value_at(entry, 0) : entry);
            if (!e)
                return fail(r, "a keyed move without \"km\" or from a missing entry (entry %s)",
                            bn_arena_strndup(a, key.ptr, key.len));
            bn_value_set_str(a, tk, key, e);
            if (with_diff && !do_merge(r, e, bn_value_at(entry, 1)))
                return false;
        } else if (is_object(entry)) {
            bn_value *e = (bn_value *)bn_value_get_str(tk, key);
            if (!is_object(e)) {
                e = bn_value_object(a);
                bn_value_set_str(a, tk, key, e);
            }
            if (!do_merge(r, e, entry))
                return false;
        } else {
            return fail(r, "a keyed entry that is no object, index or move (entry %s)",
                        bn_arena_strndup(a, key.ptr, key.len));
        }
    }
    int64_t kc = 0, old = 0;
    if (!bn_value_to_int(bn_value_get(sk, "kc"), &kc) || kc < 0)
        return fail(r, "a keyed diff without \"kc\"%s", "");
    bn_value_to_int(bn_value_get(tk, "kc"), &old);
    for (int64_t i = kc; i < old; i++) {
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long)i);
        del(tk, key);
    }
    bn_value_set(a, tk, "kc", bn_value_int(a, kc));
    if (has(source, "stream"))
        bn_value_set(a, target, "stream", (bn_value *)bn_value_get(source, "stream"));
    if (has(source, "p"))
        bn_value_set(a, target, "p", (bn_value *)bn_value_get(source, "p"));
    return true;
}

/* doMutableMerge: an object without "s" merges into the object it meets; anything else replaces. */
static bool do_merge(bn_test_rendered *r, bn_value *target, const bn_value *source)
{
    if (!is_object(source))
        return fail(r, "a diff that is not an object%s", "");
    if (has(source, "k"))
        return merge_keyed(r, target, source);
    for (size_t i = 0; i < source->as.object.len; i++) {
        bn_str key = source->as.object.members[i].key;
        bn_value *val = source->as.object.members[i].value;
        bn_value *cur = (bn_value *)bn_value_get_str(target, key);
        if (is_object(val) && !has(val, "s") && is_object(cur)) {
            if (!do_merge(r, cur, val))
                return false;
        } else {
            bn_value_set_str(&r->arena, target, key, val);
        }
    }
    return true;
}

/* templateStatic: an integer "s" is an index into the nearest "p". */
static bool resolve_statics(bn_test_rendered *r, bn_value *node, const bn_value *templates)
{
    const bn_value *s = bn_value_get(node, "s");
    if (!bn_value_is(s, BN_VALUE_INT))
        return true;
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)s->as.i);
    const bn_value *t = bn_value_get(templates, key);
    if (!bn_value_is(t, BN_VALUE_ARRAY))
        return fail(r, "statics refer to template %s, which no \"p\" above has", key);
    bn_value_set(&r->arena, node, "s", (bn_value *)t);
    return true;
}

static bool resolve(bn_test_rendered *r, bn_value *node, const bn_value *templates);

static bool resolve_dynamics(bn_test_rendered *r, bn_value *node, const bn_value *templates)
{
    for (size_t i = 0; i < node->as.object.len; i++) {
        bn_value *v = node->as.object.members[i].value;
        bn_str key = node->as.object.members[i].key;
        if (is_object(v) && key.len && key.ptr[0] >= '0' && key.ptr[0] <= '9' && !resolve(r, v, templates))
            return false;
    }
    return true;
}

/* What toOutputBuffer / comprehensionToBuffer do to the tree as they render: "p" consumed, "s" made arrays. */
static bool resolve(bn_test_rendered *r, bn_value *node, const bn_value *templates)
{
    bn_value *k = get_mut(node, "k");
    if (k) {
        const bn_value *entry_templates = templates ? templates : bn_value_get(node, "p");
        if (!resolve_statics(r, node, templates))
            return false;
        del(node, "p");
        for (size_t i = 0; is_object(k) && i < k->as.object.len; i++)
            if (is_object(k->as.object.members[i].value)
                && !resolve_dynamics(r, k->as.object.members[i].value, entry_templates))
                return false;
        return true;
    }
    const bn_value *p = bn_value_get(node, "p");
    if (p) {
        templates = p;
        del(node, "p");
    }
    return resolve_statics(r, node, templates) && resolve_dynamics(r, node, templates);
}

/* mergeDiff after Rendered.extract: the top's "r" (a hook reply), "e" and "t" are not part of the tree. */
static bool merge_value(bn_test_rendered *r, const bn_value *diff_in)
{
    r->error[0] = '\0';
    if (!is_object(diff_in))
        return fail(r, "a diff that is not an object%s", "");
    bn_value *diff = bn_value_copy(&r->arena, diff_in);
    bn_str title = bn_value_str(bn_value_get(diff, "t"));
    if (title.ptr) {
        free(r->title);
        r->title = strndup(title.ptr, title.len);
    }
    del(diff, "r");
    del(diff, "e");
    del(diff, "t");
    if (has(diff, "c"))
        return fail(r, "components (\"c\") are not supported by bn_test_rendered yet%s", "");
    if (!r->root || has(diff, "s"))
        r->root = diff; /* mutableMerge: statics replace */
    else if (!do_merge(r, r->root, diff))
        return false;
    return resolve(r, r->root, NULL);
}

bn_test_rendered *bn_test_rendered_new(const char *rendered_json)
{
    bn_test_rendered *r = bn_xcalloc(1, sizeof *r);
    if (!bn_test_rendered_merge(r, rendered_json)) {
        fprintf(stderr, "bn_test_rendered_new: %s\n", r->error);
        bn_test_rendered_free(r);
        return NULL;
    }
    return r;
}

bool bn_test_rendered_merge(bn_test_rendered *r, const char *diff_json)
{
    bn_json_error jerr;
    bn_value *diff = bn_json_parse(&r->arena, bn_str_from_cstr(diff_json), &jerr);
    if (!diff)
        return fail(r, "the diff is not JSON: %s", diff_json);
    return merge_value(r, diff);
}

static bool render_node(bn_test_rendered *r, const bn_value *node);

static bool render_dynamics(bn_test_rendered *r, const bn_value *node, const bn_value *statics)
{
    size_t n = bn_value_len(statics);
    if (!bn_value_is(statics, BN_VALUE_ARRAY) || n == 0)
        return fail(r, "a rendered node without statics%s", "");
    for (size_t i = 0; i < n; i++) {
        bn_buf_append_str(&r->html, bn_value_str(bn_value_at(statics, i)));
        if (i + 1 == n)
            break;
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        const bn_value *d = bn_value_get(node, key);
        if (bn_value_is(d, BN_VALUE_STRING))
            bn_buf_append_str(&r->html, d->as.s);
        else if (is_object(d)) {
            if (!render_node(r, d))
                return false;
        } else if (bn_value_is(d, BN_VALUE_INT))
            return fail(r, "dynamic %s is a component, not supported yet", key);
        else
            return fail(r, "dynamic %s is missing (the browser would show \"undefined\")", key);
    }
    return true;
}

static bool render_node(bn_test_rendered *r, const bn_value *node)
{
    const bn_value *statics = bn_value_get(node, "s");
    const bn_value *k = bn_value_get(node, "k");
    if (!k)
        return render_dynamics(r, node, statics);
    int64_t kc = 0;
    bn_value_to_int(bn_value_get(k, "kc"), &kc);
    for (int64_t i = 0; i < kc; i++) {
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long)i);
        const bn_value *e = bn_value_get(k, key);
        if (!is_object(e))
            return fail(r, "keyed entry %s is missing", key);
        if (!render_dynamics(r, e, statics))
            return false;
    }
    return true;
}

const char *bn_test_rendered_html(bn_test_rendered *r)
{
    r->html.len = 0;
    if (!r->root || !render_node(r, r->root))
        return NULL;
    bn_buf_append(&r->html, "", 1);
    return r->html.data;
}

const char *bn_test_rendered_error(const bn_test_rendered *r) { return r->error; }

void bn_test_rendered_free(bn_test_rendered *r)
{
    if (!r)
        return;
    bn_arena_destroy(&r->arena);
    bn_buf_free(&r->html);
    free(r->title);
    free(r);
}

/* ======================================================================== */
/* HTML scanning: tags, attributes, text                                     */

typedef struct tag {
    bn_str name;
    bn_str attr_names[TAG_MAX_ATTRS];
    bn_str attr_values[TAG_MAX_ATTRS]; /* raw (entities not decoded) */
    size_t nattrs;
    bool self_closing;
    const char *end; /* after '>' */
} tag;

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'
           || c == ':';
}

static bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

/* Parses the start tag at `p` ('<' then a letter); false if it is not one. */
static bool parse_tag(const char *p, tag *t)
{
    memset(t, 0, sizeof *t);
    if (p[0] != '<' || !((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z')))
        return false;
    const char *q = p + 1;
    while (name_char(*q))
        q++;
    t->name = bn_str_make(p + 1, (size_t)(q - p - 1));
    for (;;) {
        while (space(*q))
            q++;
        if (*q == '\0')
            return false;
        if (*q == '>' || (q[0] == '/' && q[1] == '>')) {
            t->self_closing = *q == '/';
            t->end = q + (*q == '/' ? 2 : 1);
            return true;
        }
        const char *n = q;
        while (*q && !space(*q) && *q != '=' && *q != '>' && !(q[0] == '/' && q[1] == '>'))
            q++;
        if (q == n)
            q++; /* a stray character */
        bn_str value = BN_STR("");
        if (*q == '=') {
            q++;
            if (*q == '"' || *q == '\'') {
                char quote = *q++;
                const char *v = q;
                while (*q && *q != quote)
                    q++;
                value = bn_str_make(v, (size_t)(q - v));
                if (*q)
                    q++;
            } else {
                const char *v = q;
                while (*q && !space(*q) && *q != '>')
                    q++;
                value = bn_str_make(v, (size_t)(q - v));
            }
        }
        if (t->nattrs < TAG_MAX_ATTRS) {
            t->attr_names[t->nattrs] = bn_str_make(n, strcspn(n, "= \t\n\r\f>"));
            t->attr_values[t->nattrs++] = value;
        }
    }
}

static bn_str tag_attr(const tag *t, const char *name)
{
    for (size_t i = 0; i < t->nattrs; i++)
        if (bn_str_eq(t->attr_names[i], bn_str_from_cstr(name)))
            return t->attr_values[i];
    return BN_STR_NULL;
}

static bool str_ieq(bn_str a, bn_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        char x = a.ptr[i], y = b.ptr[i];
        if ((x >= 'A' && x <= 'Z' ? x + 32 : x) != (y >= 'A' && y <= 'Z' ? y + 32 : y))
            return false;
    }
    return true;
}

/* Appends `s` with the entities the renderer writes decoded. */
static void unescape(bn_buf *out, bn_str s)
{
    static const struct {
        const char *entity;
        char c;
    } entities[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&#x27;", '\''}};
    size_t n = sizeof entities / sizeof entities[0];
    for (size_t i = 0; i < s.len; i++) {
        size_t e = 0;
        while (s.ptr[i] == '&' && e < n
               && !(strlen(entities[e].entity) <= s.len - i
                    && memcmp(s.ptr + i, entities[e].entity, strlen(entities[e].entity)) == 0))
            e++;
        if (s.ptr[i] == '&' && e < n) {
            bn_buf_append(out, &entities[e].c, 1);
            i += strlen(entities[e].entity) - 1;
        } else {
            bn_buf_append(out, s.ptr + i, 1);
        }
    }
}

static bool void_element(bn_str name)
{
    static const char *const names[] = {"area", "base", "br", "col", "embed", "hr", "img", "input",
                                        "link", "meta", "source", "track", "wbr"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (str_ieq(name, bn_str_from_cstr(names[i])))
            return true;
    return false;
}

/* The content of the element whose start tag is `t`: up to its matching end tag (or the end). */
static bn_str element_content(const tag *t)
{
    if (t->self_closing || void_element(t->name))
        return bn_str_make(t->end, 0);
    int depth = 1;
    const char *p = t->end;
    while ((p = strchr(p, '<')) != NULL) {
        bool closing = p[1] == '/';
        const char *n = p + 1 + closing;
        if (strncasecmp(n, t->name.ptr, t->name.len) == 0 && !name_char(n[t->name.len])) {
            depth += closing ? -1 : 1;
            if (depth == 0)
                return bn_str_make(t->end, (size_t)(p - t->end));
        }
        p++;
    }
    return bn_str_from_cstr(t->end);
}

/* The text of some HTML: tags dropped, entities decoded. */
static void text_of(bn_buf *out, bn_str html)
{
    size_t i = 0;
    while (i < html.len) {
        const char *lt = memchr(html.ptr + i, '<', html.len - i);
        size_t n = lt ? (size_t)(lt - html.ptr) - i : html.len - i;
        unescape(out, bn_str_make(html.ptr + i, n));
        i += n;
        if (!lt)
            break;
        const char *gt = memchr(html.ptr + i, '>', html.len - i);
        i = gt ? (size_t)(gt - html.ptr) + 1 : html.len;
    }
    bn_buf_append(out, "", 1);
}

static bool matches(const tag *t, const char *selector)
{
    const char *hash = strchr(selector, '#');
    bn_str want_tag = bn_str_make(selector, hash ? (size_t)(hash - selector) : strlen(selector));
    if (want_tag.len && !str_ieq(t->name, want_tag))
        return false;
    if (!hash)
        return true;
    bn_str id = tag_attr(t, "id");
    return id.ptr && bn_str_eq(id, bn_str_from_cstr(hash + 1));
}

bool bn_test_html_has_element(const char *html, const char *selector, const char *text)
{
    if (!html || !selector || !*selector)
        return false;
    tag t;
    for (const char *p = strchr(html, '<'); p; p = strchr(p + 1, '<')) {
        if (!parse_tag(p, &t) || !matches(&t, selector))
            continue;
        if (!text)
            return true;
        bn_buf b = BN_BUF_INIT;
        text_of(&b, element_content(&t));
        bool found = strstr(b.data, text) != NULL;
        bn_buf_free(&b);
        if (found)
            return true;
    }
    return false;
}

/* ======================================================================== */
/* The live page                                                             */

struct bn_test_live {
    bn_test_socket *ts;
    char id[96];
    char topic[100];
    bn_test_rendered *tree;
    char *patched_to;    /* the last live_patch's "to" (malloc'ed) */
    char *redirected_to; /* the redirect or live_redirect that ended the view (malloc'ed) */
    const char *redirect_kind;
    bool closed;         /* phx_close came: the view is gone */
    char error[ERR_MAX];
};

static void set_string(char **dst, bn_str s)
{
    free(*dst);
    *dst = s.ptr ? strndup(s.ptr, s.len) : NULL;
}

/* Navigation in a reply or push payload: {"live_patch"|"redirect"|"live_redirect": {to, kind?}}. */
static void record_navigation(bn_test_live *lv, const char *kind, const bn_value *nav)
{
    bn_str to = bn_value_str(bn_value_get(nav, "to"));
    if (!to.ptr)
        return;
    if (strcmp(kind, "live_patch") == 0) {
        set_string(&lv->patched_to, to);
    } else {
        set_string(&lv->redirected_to, to);
        lv->redirect_kind = strcmp(kind, "redirect") == 0 ? "redirect" : "live_redirect";
    }
}

static void record_reply_navigation(bn_test_live *lv, const bn_value *response)
{
    static const char *const kinds[] = {"live_patch", "redirect", "live_redirect"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (bn_value_get(response, kinds[i]))
            record_navigation(lv, kinds[i], bn_value_get(response, kinds[i]));
}

static const char *live_fail(bn_test_live *lv, const char *what, const char *detail)
{
    snprintf(lv->error, sizeof lv->error, "%.200s%s%.300s", what, detail ? ": " : "", detail ? detail : "");
    return NULL;
}

static char *json_text(const bn_value *v)
{
    bn_buf b = BN_BUF_INIT;
    bn_json_encode(&b, v);
    bn_buf_append(&b, "", 1);
    return b.data;
}

/* Copies an attribute value, entities decoded, into out (cap bytes); false if it does not fit. */
static bool copy_attr(bn_str v, char *out, size_t cap)
{
    bn_buf b = BN_BUF_INIT;
    unescape(&b, v);
    bool ok = b.len < cap;
    if (ok) {
        memcpy(out, b.data ? b.data : "", b.len);
        out[b.len] = '\0';
    }
    bn_buf_free(&b);
    return ok;
}

/* What the page's container and csrf meta say, from the dead render. */
typedef struct page {
    char id[96];
    char *session; /* malloc'ed */
    char *statik;  /* malloc'ed; NULL: "" (sent as null) */
    char csrf[128];
} page;

static bool read_page(const char *html, page *pg)
{
    memset(pg, 0, sizeof *pg);
    tag t;
    bool found = false;
    for (const char *p = strchr(html, '<'); p; p = strchr(p + 1, '<')) {
        if (!parse_tag(p, &t))
            continue;
        if (str_ieq(t.name, BN_STR("meta")) && bn_str_eq(tag_attr(&t, "name"), BN_STR("csrf-token")))
            copy_attr(tag_attr(&t, "content"), pg->csrf, sizeof pg->csrf);
        bn_str session = tag_attr(&t, "data-phx-session");
        if (!found && session.ptr && copy_attr(tag_attr(&t, "id"), pg->id, sizeof pg->id)) {
            bn_buf b = BN_BUF_INIT;
            unescape(&b, session);
            bn_buf_append(&b, "", 1);
            pg->session = b.data;
            bn_str st = tag_attr(&t, "data-phx-static");
            if (st.len) {
                b = (bn_buf)BN_BUF_INIT;
                unescape(&b, st);
                bn_buf_append(&b, "", 1);
                pg->statik = b.data;
            }
            found = true;
        }
    }
    return found;
}

/* The join payload as LiveSocket 1.2 sends it for a first mount. */
static char *join_payload(const char *path, const page *pg)
{
    bn_arena a = BN_ARENA_INIT;
    bn_value *v = bn_value_object(&a);
    bn_buf url = BN_BUF_INIT;
    bn_buf_printf(&url, "http://www.example.com%s", path); /* the test client's host */
    bn_value_set(&a, v, "url", bn_value_string(&a, bn_str_make(url.data, url.len)));
    bn_value *params = bn_value_object(&a);
    bn_value_set(&a, params, "_csrf_token", bn_value_string(&a, bn_str_from_cstr(pg->csrf)));
    bn_value_set(&a, params, "_mounts", bn_value_int(&a, 0));
    bn_value_set(&a, params, "_mount_attempts", bn_value_int(&a, 0));
    bn_value_set(&a, v, "params", params);
    bn_value_set(&a, v, "session", bn_value_string(&a, bn_str_from_cstr(pg->session)));
    bn_value_set(&a, v, "static", pg->statik ? bn_value_string(&a, bn_str_from_cstr(pg->statik)) : bn_value_null(&a));
    bn_value_set(&a, v, "sticky", bn_value_bool(&a, false));
    char *json = json_text(v);
    bn_buf_free(&url);
    bn_arena_destroy(&a);
    return json;
}

bn_test_live *bn_test_live_get(bn_test_client *t, const char *path)
{
    bn_test_conn *r = bn_test_get(t, path);
    char *html = strndup(r->body.ptr ? r->body.ptr : "", r->body.len);
    int status = r->status;
    bn_test_conn_free(r);
    page pg;
    bool ok = status == 200 && read_page(html, &pg);
    free(html);
    if (!ok) {
        fprintf(stderr, "bn_test_live_get %s: status %d%s\n", path, status,
                status == 200 ? ", and no LiveView container (data-phx-session) in the page" : "");
        return NULL;
    }
    bn_test_live *lv = bn_xcalloc(1, sizeof *lv);
    snprintf(lv->id, sizeof lv->id, "%s", pg.id);
    snprintf(lv->topic, sizeof lv->topic, "lv:%s", pg.id);
    lv->ts = bn_test_socket_connect(&bn_live_socket, NULL);
    char *payload = join_payload(path, &pg);
    free(pg.session);
    free(pg.statik);
    const bn_value *resp = NULL;
    const char *jstatus = lv->ts ? bn_test_join(lv->ts, lv->topic, payload, &resp) : NULL;
    free(payload);
    if (!jstatus || strcmp(jstatus, "ok") != 0 || !is_object(bn_value_get(resp, "rendered"))) {
        char *why = resp ? json_text(resp) : NULL;
        fprintf(stderr, "bn_test_live_get %s: the join of %s answered %s %s\n", path, lv->topic,
                jstatus ? jstatus : "nothing", why ? why : "");
        free(why);
        bn_test_live_free(lv);
        return NULL;
    }
    record_reply_navigation(lv, resp); /* a handle_params at join that patched */
    lv->tree = bn_xcalloc(1, sizeof *lv->tree);
    if (!merge_value(lv->tree, bn_value_get(resp, "rendered"))) {
        fprintf(stderr, "bn_test_live_get %s: the join's rendered: %s\n", path, lv->tree->error);
        bn_test_live_free(lv);
        return NULL;
    }
    return lv;
}

void bn_test_live_free(bn_test_live *lv)
{
    if (!lv)
        return;
    bn_test_socket_close(lv->ts);
    bn_test_rendered_free(lv->tree);
    free(lv->patched_to);
    free(lv->redirected_to);
    free(lv);
}

const char *bn_test_live_html(bn_test_live *lv)
{
    const char *html = bn_test_rendered_html(lv->tree);
    return html ? html : live_fail(lv, "render", lv->tree->error);
}

const char *bn_test_live_id(const bn_test_live *lv) { return lv->id; }
const char *bn_test_live_title(const bn_test_live *lv) { return lv->tree->title; }
const char *bn_test_live_error(const bn_test_live *lv) { return lv->error; }
bn_test_socket *bn_test_live_socket(bn_test_live *lv) { return lv->ts; }

/* A message for the view's topic that is not the awaited reply: a diff is merged, the rest ignored. */
static bool take_push(bn_test_live *lv, const bn_test_msg *m, bool *merged)
{
    if (!m->topic || strcmp(m->topic, lv->topic) != 0)
        return true;
    if (strcmp(m->event, "phx_close") == 0 || strcmp(m->event, "phx_error") == 0)
        lv->closed = true;
    if (strcmp(m->event, "live_patch") == 0 || strcmp(m->event, "redirect") == 0
        || strcmp(m->event, "live_redirect") == 0)
        record_navigation(lv, m->event, m->payload);
    if (strcmp(m->event, "diff") != 0)
        return true;
    if (!merge_value(lv->tree, m->payload)) {
        live_fail(lv, "a pushed diff", lv->tree->error);
        return false;
    }
    *merged = true;
    return true;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Pushes `event` and takes messages in order until its reply: the pushes
 * before it handled (diffs merged, navigation recorded), then its diff.
 */
static const char *push_event(bn_test_live *lv, const char *event, const char *payload_json)
{
    lv->error[0] = '\0';
    if (lv->closed)
        return live_fail(lv, "the view is closed", lv->redirected_to);
    char *ref = strdup(bn_test_push(lv->ts, lv->topic, event, payload_json));
    int64_t deadline = now_ms() + BN_TEST_ASSERT_TIMEOUT_MS;
    const char *result = NULL;
    for (;;) {
        int64_t left = deadline - now_ms();
        const bn_test_msg *m = left > 0 ? bn_test_next(lv->ts, (unsigned)left) : NULL;
        if (!m) {
            live_fail(lv, "no reply to the event within BN_TEST_ASSERT_TIMEOUT_MS", payload_json);
            break;
        }
        bool merged = false;
        bool reply = m->ref && strcmp(m->ref, ref) == 0 && strcmp(m->event, "phx_reply") == 0;
        if (!reply) {
            if (!take_push(lv, m, &merged))
                break;
            continue;
        }
        if (!m->status || strcmp(m->status, "ok") != 0) {
            char *why = m->payload ? json_text(m->payload) : NULL;
            live_fail(lv, m->status ? m->status : "a reply without status", why);
            free(why);
        } else if (bn_value_get(m->payload, "diff") && !merge_value(lv->tree, bn_value_get(m->payload, "diff"))) {
            live_fail(lv, "the reply's diff", lv->tree->error);
        } else if (bn_value_get(m->payload, "redirect") || bn_value_get(m->payload, "live_redirect")) {
            record_reply_navigation(lv, m->payload);
            lv->closed = true; /* the view ends: phx_close follows */
            live_fail(lv, "redirected to", lv->redirected_to);
        } else if (bn_value_is(bn_value_get(m->payload, "link_redirect"), BN_VALUE_BOOL)) {
            lv->closed = true; /* the client navigates to the patched URL instead */
            live_fail(lv, "the patch leaves the view (link_redirect)", NULL);
        } else {
            result = bn_test_live_html(lv);
        }
        break;
    }
    free(ref);
    return result;
}

/* {"type":…,"event":…,"value":<value>[,"meta":…]} */
static const char *send_event(bn_test_live *lv, const char *type, const char *event, bn_value *value, bn_value *meta,
                              bn_arena *a)
{
    bn_value *p = bn_value_object(a);
    bn_value_set(a, p, "type", bn_value_string(a, bn_str_from_cstr(type)));
    bn_value_set(a, p, "event", bn_value_string(a, bn_str_from_cstr(event)));
    bn_value_set(a, p, "value", value);
    if (meta)
        bn_value_set(a, p, "meta", meta);
    char *json = json_text(p);
    const char *html = push_event(lv, "event", json);
    free(json);
    bn_arena_destroy(a);
    return html;
}

const char *bn_test_live_click(bn_test_live *lv, const char *event, const char *value_json)
{
    bn_arena a = BN_ARENA_INIT;
    bn_json_error jerr;
    bn_value *value = value_json ? bn_json_parse(&a, bn_str_from_cstr(value_json), &jerr) : bn_value_object(&a);
    if (!is_object(value)) {
        bn_arena_destroy(&a);
        return live_fail(lv, "bn_test_live_click: the value is not a JSON object", value_json);
    }
    return send_event(lv, "click", event, value, NULL, &a);
}

static const char *form_event(bn_test_live *lv, const char *event, const char *form, const char *target)
{
    bn_arena a = BN_ARENA_INIT;
    bn_value *meta = bn_value_object(&a);
    if (target)
        bn_value_set(&a, meta, "_target", bn_value_string(&a, bn_str_from_cstr(target)));
    bn_value *value = bn_value_string(&a, bn_str_from_cstr(form ? form : ""));
    return send_event(lv, "form", event, value, meta, &a);
}

const char *bn_test_live_submit(bn_test_live *lv, const char *event, const char *form)
{
    return form_event(lv, event, form, NULL);
}

const char *bn_test_live_change(bn_test_live *lv, const char *event, const char *form, const char *target)
{
    return form_event(lv, event, form, target);
}

const char *bn_test_live_patch(bn_test_live *lv, const char *path)
{
    bn_arena a = BN_ARENA_INIT;
    bn_value *p = bn_value_object(&a);
    bn_buf url = BN_BUF_INIT;
    bn_buf_printf(&url, "http://www.example.com%s", path);
    bn_value_set(&a, p, "url", bn_value_string(&a, bn_str_make(url.data, url.len)));
    char *json = json_text(p);
    const char *html = push_event(lv, "live_patch", json);
    free(json);
    bn_buf_free(&url);
    bn_arena_destroy(&a);
    return html;
}

const char *bn_test_live_patched_to(const bn_test_live *lv) { return lv->patched_to; }

const char *bn_test_live_redirected_to(const bn_test_live *lv, const char **kind)
{
    if (kind)
        *kind = lv->redirect_kind;
    return lv->redirected_to;
}

const char *bn_test_live_await_diff(bn_test_live *lv, unsigned timeout_ms)
{
    lv->error[0] = '\0';
    int64_t deadline = now_ms() + (timeout_ms ? timeout_ms : BN_TEST_ASSERT_TIMEOUT_MS);
    for (;;) {
        int64_t left = deadline - now_ms();
        const bn_test_msg *m = left > 0 ? bn_test_next(lv->ts, (unsigned)left) : NULL;
        if (!m)
            return live_fail(lv, "no diff pushed in time", NULL);
        bool merged = false;
        if (!take_push(lv, m, &merged))
            return NULL;
        if (merged)
            return bn_test_live_html(lv);
    }
}

bool bn_test_live_has_element(bn_test_live *lv, const char *selector, const char *text)
{
    return bn_test_html_has_element(bn_test_live_html(lv), selector, text);
}
