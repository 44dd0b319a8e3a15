/*
 * The router: declarations are recorded as they come; bn_router_build resolves
 * them (pipelines, forwards) into routes and freezes those into a segment tree
 * that bn_router_match walks without allocating anything but the params.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bennu/router.h"

#define MAX_PARAMS 32  /* per pattern: bounds the capture stack of a match */
#define MAX_CUSTOM 16  /* extension methods listed in one Allow header */

/* ------------------------------------------------------------------------ */
/* Data                                                                       */

/* A bn_scope or bn_resources block; the open ones form a stack through parent. */
typedef struct scope scope;
struct scope {
    scope *parent;
    const char *path;             /* full prefix, normalised: "" at the root, else "/api/v1" */
    const char *alias;            /* name prefix for routes inside ("user"), NULL if none */
    const char *const *pipelines; /* this block's own pipeline names, NULL-terminated */
    const char *file;
    int line;
    bool entered;                 /* the block's body is running (bn__block_enter) */
    bool flattened;               /* plugs below are computed (at build) */
    const bn_plug *plugs;         /* every pipeline from the root down to here */
    size_t nplugs;
};

typedef struct pipeline {
    const char *name;
    const bn_plug *plugs;
    size_t n;
    const char *file;
    int line;
} pipeline;

typedef struct route {
    bn_route pub;
    scope *scope; /* whose pipelines it goes through (NULL once plugs are set) */
    bool glob;    /* the last param is a *glob */
    bool any;     /* method "*" */
} route;

typedef struct forward {
    scope *scope;
    const char *prefix; /* full, normalised */
    bn_router *sub;
    const char *file;
    int line;
} forward;

/* One declaration, in order: a route or a forward. */
typedef struct decl {
    route *route;
    forward *forward;
} decl;

typedef struct node node;
struct node {
    bn_str seg;            /* the segment text, for a static child */
    node **statics;        /* sorted by (length, bytes) for binary search */
    size_t nstatics, capstatics;
    node *param, *glob;
    const route **routes;  /* the routes ending here, one per method */
    size_t nroutes, caproutes;
};

enum phase { DECLARING, RESOLVING, RESOLVED };

struct bn_router {
    bn_arena mem; /* everything the router owns: freed at once */
    enum phase phase;
    int built;    /* 0: not yet; 1: ok; -1: failed */
    scope root;
    scope *top;   /* innermost open block */
    decl *decls;
    size_t ndecls, capdecls;
    pipeline *pipelines;
    size_t npipelines, cappipelines;
    scope **scopes; /* every bn_scope block, to check its pipeline names once */
    size_t nscopes, capscopes;
    bn_route **routes; /* resolved: forwards expanded, plugs flattened */
    size_t nroutes, caproutes;
    node *tree;
    bn_buf errors;
};

static const char *const METHOD_NAMES[] = {
    [BN_METHOD_GET] = "GET",         [BN_METHOD_HEAD] = "HEAD",       [BN_METHOD_POST] = "POST",
    [BN_METHOD_PUT] = "PUT",         [BN_METHOD_PATCH] = "PATCH",     [BN_METHOD_DELETE] = "DELETE",
    [BN_METHOD_OPTIONS] = "OPTIONS", [BN_METHOD_CONNECT] = "CONNECT", [BN_METHOD_TRACE] = "TRACE",
};

static route *internal(const bn_route *rt) { return bn_container_of(rt, route, pub); }

/* ------------------------------------------------------------------------ */
/* Memory and errors                                                          */

/* Doubles an arena array when full; the old copy stays in the arena (total
 * waste is below the final size, and the router frees it all at once). */
static void *grow(bn_arena *a, void *items, size_t len, size_t *cap, size_t size)
{
    if (len < *cap)
        return items;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *bigger = bn_arena_alloc(a, ncap * size);
    if (len)
        memcpy(bigger, items, len * size);
    *cap = ncap;
    return bigger;
}

/* Appends one slot to an arena array and returns it. */
#define PUSH(r, arr, len, cap) ((arr) = grow(&(r)->mem, (arr), (len), &(cap), sizeof(*(arr))), &(arr)[(len)++])

static char *copy(bn_router *r, const char *s) { return s ? bn_arena_strndup(&r->mem, s, strlen(s)) : NULL; }

static BN_PRINTF(4, 5) void fail(bn_router *r, const char *file, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bn_buf_printf(&r->errors, "%s:%d: %s\n", file, line, msg);
}

/* Declarations after the build would silently not route: say so. */
static bool declaring(bn_router *r, const char *file, int line)
{
    if (r->phase == DECLARING)
        return true;
    bn_error("%s:%d: route declared after bn_router_build: ignored", file, line);
    return false;
}

bn_router *bn_router_new(void)
{
    bn_router *r = bn_xcalloc(1, sizeof(*r));
    r->root.path = "";
    r->root.entered = true;
    r->top = &r->root;
    return r;
}

void bn_router_free(bn_router *r)
{
    if (!r)
        return;
    bn_buf_free(&r->errors);
    bn_arena_destroy(&r->mem);
    free(r);
}

const char *bn_router_errors(const bn_router *r) { return r->errors.len ? r->errors.data : NULL; }

/* ------------------------------------------------------------------------ */
/* Paths and patterns                                                         */

/* Next non-empty segment at or after *p (empty segments are dropped). */
static bool next_segment(const char **p, const char *end, bn_str *seg)
{
    const char *s = *p;
    while (s < end && *s == '/')
        s++;
    if (s == end)
        return false;
    const char *e = memchr(s, '/', (size_t)(end - s));
    if (!e)
        e = end;
    *seg = bn_str_make(s, (size_t)(e - s));
    *p = e;
    return true;
}

static bool next_cseg(const char **p, bn_str *seg) { return next_segment(p, *p + strlen(*p), seg); }

/* `prefix` + `path`, normalised to "/a/b" ("/" when empty), in the router's memory. */
static const char *join_path(bn_router *r, const char *prefix, const char *path)
{
    bn_buf b = BN_BUF_INIT;
    const char *parts[] = {prefix, path};
    for (size_t i = 0; i < 2; i++) {
        const char *p = parts[i] ? parts[i] : "";
        bn_str seg;
        while (next_cseg(&p, &seg))
            bn_buf_printf(&b, "/" BN_STR_FMT, BN_STR_ARG(seg));
    }
    const char *out = b.len ? bn_arena_strndup(&r->mem, b.data, b.len) : "/";
    bn_buf_free(&b);
    return out;
}

static bool is_ident(bn_str s)
{
    if (s.len == 0 || (s.ptr[0] >= '0' && s.ptr[0] <= '9'))
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

static bool starts_with_slash(bn_router *r, const char *file, int line, const char *what, const char *path)
{
    if (path && path[0] == '/')
        return true;
    fail(r, file, line, "%s path \"%s\" must start with '/'", what, path ? path : "(null)");
    return false;
}

/* Checks the segments of a normalised pattern and lists its params into `rt`;
 * false after reporting the first mistake. */
static bool parse_pattern(bn_router *r, const char *file, int line, const char *path, route *rt)
{
    const char *names[MAX_PARAMS];
    size_t n = 0;
    const char *p = path;
    bn_str seg;
    while (next_cseg(&p, &seg)) {
        for (size_t i = 0; i < seg.len; i++) {
            unsigned char c = (unsigned char)seg.ptr[i];
            if (c <= ' ' || c == '?' || c == '#' || c == 0x7f) {
                fail(r, file, line, "invalid character '%c' in \"%s\"", c > ' ' ? c : '?', path);
                return false;
            }
        }
        if (seg.ptr[0] != ':' && seg.ptr[0] != '*')
            continue;
        bn_str name = bn_str_make(seg.ptr + 1, seg.len - 1);
        if (name.len == 0) {
            fail(r, file, line, "empty param name in \"%s\"", path);
            return false;
        }
        if (!is_ident(name)) {
            fail(r, file, line, "invalid param name \"" BN_STR_FMT "\" in \"%s\"", BN_STR_ARG(seg), path);
            return false;
        }
        if (seg.ptr[0] == '*' && *p != '\0') {
            fail(r, file, line, "glob \"" BN_STR_FMT "\" must be the last segment of \"%s\"", BN_STR_ARG(seg), path);
            return false;
        }
        for (size_t i = 0; i < n; i++)
            if (bn_str_eq(bn_str_from_cstr(names[i]), name)) {
                fail(r, file, line, "param \"%s\" appears twice in \"%s\"", names[i], path);
                return false;
            }
        if (n == MAX_PARAMS) {
            fail(r, file, line, "more than %d params in \"%s\"", MAX_PARAMS, path);
            return false;
        }
        names[n++] = bn_arena_strndup(&r->mem, name.ptr, name.len);
        rt->glob = seg.ptr[0] == '*';
    }
    const char **params = bn_arena_alloc(&r->mem, (n + 1) * sizeof(*params));
    memcpy(params, names, n * sizeof(*params));
    params[n] = NULL;
    rt->pub.params = params;
    rt->pub.nparams = n;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Names                                                                      */

/* The last C identifier of an action expression: "&page_home" -> "page_home". */
static const char *action_ident(bn_router *r, const char *text)
{
    const char *end = text + strlen(text), *start;
    while (end > text && !is_ident(bn_str_make(end - 1, 1)))
        end--;
    start = end;
    while (start > text && is_ident(bn_str_make(start - 1, 1)))
        start--;
    return start < end ? bn_arena_strndup(&r->mem, start, (size_t)(end - start)) : copy(r, text);
}

/* "user" inside resources "/users" + "post" -> "user_post". NULL stays NULL. */
static const char *scoped_name(bn_router *r, const scope *s, const char *name)
{
    if (!name || !s->alias)
        return copy(r, name);
    return bn_arena_printf(&r->mem, "%s_%s", s->alias, name);
}

static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* Phoenix's resource name: "MyApp.BlogPostController" -> "blog_post", "HTTPLog" -> "http_log". */
static const char *resource_name(bn_router *r, const char *controller)
{
    if (!controller)
        return NULL;
    const char *dot = strrchr(controller, '.');
    const char *s = dot ? dot + 1 : controller;
    size_t len = strlen(s), suffix = strlen("Controller");
    if (len > suffix && strcmp(s + len - suffix, "Controller") == 0)
        len -= suffix;
    if (len == 0)
        return NULL;
    char *out = bn_arena_alloc(&r->mem, 2 * len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool word_start = i > 0 && is_upper(c) &&
                          (is_lower_or_digit(s[i - 1]) || (i + 1 < len && is_upper(s[i - 1]) && !is_upper(s[i + 1])));
        if (word_start)
            *o++ = '_';
        *o++ = is_upper(c) ? (char)(c | 0x20) : c;
    }
    *o = '\0';
    return is_ident(bn_str_from_cstr(out)) ? out : NULL;
}

/* ------------------------------------------------------------------------ */
/* Declaring                                                                  */

static bn_method method_id(bn_str m)
{
    for (size_t i = 0; i < BN_ARRAY_LEN(METHOD_NAMES); i++)
        if (METHOD_NAMES[i] && bn_str_eq(m, bn_str_from_cstr(METHOD_NAMES[i])))
            return (bn_method)i;
    return BN_METHOD_OTHER;
}

/* Methods are case-sensitive tokens; lower case is almost surely a typo ("get"). */
static bool valid_method(bn_str m)
{
    if (m.len == 1 && m.ptr[0] == '*')
        return true;
    for (size_t i = 0; i < m.len; i++)
        if (!(is_upper(m.ptr[i]) || (m.ptr[i] >= '0' && m.ptr[i] <= '9') || m.ptr[i] == '-' || m.ptr[i] == '_'))
            return false;
    return m.len > 0;
}

typedef struct route_spec {
    const char *file;
    int line;
    scope *scope;
    const char *path; /* full and normalised */
    bn_action *action;
    const char *action_name, *controller, *name;
    bn_error_renderer *fallback;
    const void *data;
} route_spec;

/* Records one route per method of "GET|POST". */
static void add_routes(bn_router *r, const route_spec *spec, const char *methods)
{
    route pattern = {0};
    if (!parse_pattern(r, spec->file, spec->line, spec->path, &pattern))
        return;
    const char *p = methods, *end = methods + strlen(methods);
    while (p <= end) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        bn_str m = bn_str_trim(bn_str_make(p, (size_t)((bar ? bar : end) - p)));
        p = (bar ? bar : end) + 1;
        if (!valid_method(m)) {
            fail(r, spec->file, spec->line, "invalid method \"" BN_STR_FMT "\" in \"%s\"", BN_STR_ARG(m), methods);
            continue;
        }
        route *rt = bn_arena_alloc(&r->mem, sizeof(*rt));
        *rt = pattern;
        rt->any = m.ptr[0] == '*';
        rt->scope = spec->scope;
        rt->pub.method = bn_arena_strndup(&r->mem, m.ptr, m.len);
        rt->pub.method_id = method_id(m);
        rt->pub.path = spec->path;
        rt->pub.action = spec->action;
        rt->pub.action_name = spec->action_name;
        rt->pub.controller = spec->controller;
        rt->pub.fallback = spec->fallback;
        rt->pub.data = spec->data;
        rt->pub.name = spec->name;
        rt->pub.file = spec->file;
        rt->pub.line = spec->line;
        *PUSH(r, r->decls, r->ndecls, r->capdecls) = (decl){.route = rt};
    }
}

void bn__route(bn_router *r, const char *file, int line, const char *methods, const char *path, bn_action *action,
               const char *action_text, bool named, const char *as)
{
    bn__route_data(r, file, line, methods, path, action, action_text, named, as, NULL);
}

void bn__route_data(bn_router *r, const char *file, int line, const char *methods, const char *path,
                    bn_action *action, const char *action_text, bool named, const char *as, const void *data)
{
    if (!declaring(r, file, line) || !starts_with_slash(r, file, line, "route", path))
        return;
    if (!action) {
        fail(r, file, line, "route \"%s\" has no action", path);
        return;
    }
    if (!methods || !*methods) {
        fail(r, file, line, "route \"%s\" has no method", path);
        return;
    }
    const char *action_name = action_ident(r, action_text);
    route_spec spec = {
        .file = file,
        .line = line,
        .scope = r->top,
        .path = join_path(r, r->top->path, path),
        .action = action,
        .action_name = action_name,
        .name = scoped_name(r, r->top, named ? as : action_name),
        .data = data,
    };
    add_routes(r, &spec, methods);
}

static const pipeline *find_pipeline(const bn_router *r, const char *name)
{
    for (size_t i = 0; i < r->npipelines; i++)
        if (strcmp(r->pipelines[i].name, name) == 0)
            return &r->pipelines[i];
    return NULL;
}

void bn__pipeline(bn_router *r, const char *file, int line, const char *name, const bn_plug *plugs, size_t n)
{
    if (!declaring(r, file, line))
        return;
    if (!name || !*name) {
        fail(r, file, line, "pipeline without a name");
        return;
    }
    const pipeline *twin = find_pipeline(r, name);
    if (twin) {
        fail(r, file, line, "pipeline \"%s\" is already defined at %s:%d", name, twin->file, twin->line);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!plugs[i].fn) {
            fail(r, file, line, "pipeline \"%s\": plug %zu has no function", name, i + 1);
            return;
        }
    bn_plug *own = bn_arena_alloc(&r->mem, n * sizeof(*own));
    memcpy(own, plugs, n * sizeof(*own));
    *PUSH(r, r->pipelines, r->npipelines, r->cappipelines) =
        (pipeline){.name = copy(r, name), .plugs = own, .n = n, .file = file, .line = line};
}

/* Opens a block inside the current one: it inherits the path and the alias. */
static scope *push_block(bn_router *r, const char *file, int line)
{
    scope *s = bn_arena_alloc(&r->mem, sizeof(*s));
    *s = (scope){.parent = r->top, .path = r->top->path, .alias = r->top->alias, .file = file, .line = line};
    r->top = s;
    return s;
}

bool bn__block_enter(bn_router *r)
{
    scope *s = r->top;
    if (!s->entered) {
        s->entered = true;
        return true;
    }
    if (s != &r->root) /* never pop the root, whatever a stray call does */
        r->top = s->parent;
    return false;
}

void bn__scope_begin(bn_router *r, const char *file, int line, const char *const *args)
{
    scope *s = push_block(r, file, line);
    const char *prefix = args[0];
    if (!starts_with_slash(r, file, line, "scope", prefix))
        prefix = "";
    s->path = join_path(r, s->parent->path, prefix);
    size_t n = 0;
    while (args[1 + n])
        n++;
    const char **names = bn_arena_alloc(&r->mem, (n + 1) * sizeof(*names));
    for (size_t i = 0; i < n; i++)
        names[i] = copy(r, args[1 + i]);
    names[n] = NULL;
    s->pipelines = names;
    if (r->phase == DECLARING)
        *PUSH(r, r->scopes, r->nscopes, r->capscopes) = s;
}

/* ---- resources ---------------------------------------------------------- */

/* The REST actions in Phoenix's order (which is also the routes table's). */
static const struct rest_action {
    const char *name;
    size_t field; /* offset of the action in bn_controller */
    const char *method;
    const char *suffix;
    bool member; /* under /:id (unless singleton) */
} REST[] = {
    {"index", offsetof(bn_controller, index), "GET", "", false},
    {"edit", offsetof(bn_controller, edit), "GET", "/edit", true},
    {"new", offsetof(bn_controller, new_), "GET", "/new", false},
    {"show", offsetof(bn_controller, show), "GET", "", true},
    {"create", offsetof(bn_controller, create), "POST", "", false},
    {"update", offsetof(bn_controller, update), "PATCH|PUT", "", true},
    {"delete", offsetof(bn_controller, delete_), "DELETE", "", true},
};

static bn_action *controller_action(const bn_controller *c, const struct rest_action *a)
{
    return *(bn_action *const *)(const void *)((const char *)c + a->field);
}

static bool listed(const char *const *list, const char *name)
{
    for (; list && *list; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

/* Every name of `list` must be a REST action the controller has. */
static bool check_action_list(bn_router *r, const char *file, int line, const char *what, const char *const *list,
                              const bn_controller *c, bool must_exist)
{
    for (; list && *list; list++) {
        const struct rest_action *a = NULL;
        for (size_t i = 0; i < BN_ARRAY_LEN(REST); i++)
            if (strcmp(REST[i].name, *list) == 0)
                a = &REST[i];
        if (!a) {
            fail(r, file, line, "unknown action \"%s\" in %s (index, new, create, show, edit, update, delete)", *list,
                 what);
            return false;
        }
        if (must_exist && !controller_action(c, a)) {
            fail(r, file, line, "%s lists \"%s\" but %s has no %s action", what, *list, c->name ? c->name : "the controller",
                 *list);
            return false;
        }
    }
    return true;
}

static bool check_resources(bn_router *r, const char *file, int line, const char *path, const bn_controller *c,
                            const bn_resource_opts *o)
{
    if (!starts_with_slash(r, file, line, "resources", path))
        return false;
    if (!c) {
        fail(r, file, line, "resources \"%s\" has no controller", path);
        return false;
    }
    if (o->only && o->except) {
        fail(r, file, line, "resources \"%s\": give only or except, not both", path);
        return false;
    }
    return check_action_list(r, file, line, "only", o->only, c, true) &&
           check_action_list(r, file, line, "except", o->except, c, false);
}

void bn__resources_begin(bn_router *r, const char *file, int line, const char *path, const bn_controller *c,
                         bn_resource_opts opts)
{
    scope *s = push_block(r, file, line); /* always, even on error: the for-loop pops it */
    if (!declaring(r, file, line) || !check_resources(r, file, line, path, c, &opts))
        return;
    const char *singular = opts.as ? copy(r, opts.as) : resource_name(r, c->name);
    if (!singular || !is_ident(bn_str_from_cstr(singular))) {
        fail(r, file, line, "resources \"%s\": cannot derive a name from controller \"%s\"; set .as", path,
             c->name ? c->name : "(null)");
        return;
    }
    const char *base = join_path(r, s->parent->path, path);
    const char *stem = strcmp(base, "/") ? base : ""; /* resources "/" live at "/:id" */
    const char *member = opts.singleton ? base : bn_arena_printf(&r->mem, "%s/:id", stem);
    const char *name = scoped_name(r, s->parent, singular);
    for (size_t i = 0; i < BN_ARRAY_LEN(REST); i++) {
        const struct rest_action *a = &REST[i];
        bn_action *action = controller_action(c, a);
        bool wanted = opts.only ? listed(opts.only, a->name) : !listed(opts.except, a->name);
        if (!action || !wanted || (opts.singleton && strcmp(a->name, "index") == 0))
            continue;
        route_spec spec = {
            .file = file,
            .line = line,
            .scope = s->parent,
            .path = join_path(r, a->member ? member : base, a->suffix),
            .action = action,
            .action_name = a->name,
            .controller = copy(r, c->name),
            .name = name,
            .fallback = c->fallback,
        };
        add_routes(r, &spec, a->method);
    }
    /* Nested routes live under the member path, with a named param. */
    s->path = opts.singleton ? base : bn_arena_printf(&r->mem, "%s/:%s_id", stem, singular);
    s->alias = name;
}

void bn__forward(bn_router *r, const char *file, int line, const char *prefix, bn_router *sub)
{
    if (!declaring(r, file, line) || !starts_with_slash(r, file, line, "forward", prefix))
        return;
    if (!sub || sub == r) {
        fail(r, file, line, "forward \"%s\" to %s", prefix, sub ? "the router itself" : "a NULL router");
        return;
    }
    const char *full = join_path(r, r->top->path, prefix);
    if (strchr(full, ':') || strchr(full, '*')) {
        fail(r, file, line, "forward prefix \"%s\" cannot have params", full);
        return;
    }
    forward *f = bn_arena_alloc(&r->mem, sizeof(*f));
    *f = (forward){.scope = r->top, .prefix = full, .sub = sub, .file = file, .line = line};
    *PUSH(r, r->decls, r->ndecls, r->capdecls) = (decl){.forward = f};
}

/* ------------------------------------------------------------------------ */
/* Building: resolve the declarations, then fill the tree                    */

/* The plugs of every pipeline of `s` and its ancestors, outermost first. */
static const bn_plug *scope_plugs(bn_router *r, scope *s, size_t *n)
{
    if (!s->flattened) {
        size_t np = 0, own = 0;
        const bn_plug *up = s->parent ? scope_plugs(r, s->parent, &np) : NULL;
        for (const char *const *p = s->pipelines; p && *p; p++) {
            const pipeline *pl = find_pipeline(r, *p);
            own += pl ? pl->n : 0;
        }
        bn_plug *all = bn_arena_alloc(&r->mem, (np + own) * sizeof(*all));
        if (np)
            memcpy(all, up, np * sizeof(*all));
        size_t at = np;
        for (const char *const *p = s->pipelines; p && *p; p++) {
            const pipeline *pl = find_pipeline(r, *p);
            for (size_t i = 0; pl && i < pl->n; i++)
                all[at++] = pl->plugs[i];
        }
        s->plugs = all;
        s->nplugs = at;
        s->flattened = true;
    }
    *n = s->nplugs;
    return s->plugs;
}

static void add_resolved(bn_router *r, route *rt) { *PUSH(r, r->routes, r->nroutes, r->caproutes) = &rt->pub; }

static void resolve(bn_router *r);

/* Copies the sub-router's routes in under the prefix, after this scope's plugs. */
static void expand_forward(bn_router *r, const forward *f)
{
    bn_router *sub = f->sub;
    if (sub->phase == RESOLVING) {
        fail(r, f->file, f->line, "forward \"%s\" makes a cycle of routers", f->prefix);
        return;
    }
    resolve(sub);
    if (sub->errors.len) /* printf keeps the text NUL-terminated, as bn_router_errors needs */
        bn_buf_printf(&r->errors, "%.*s", (int)sub->errors.len, sub->errors.data);
    size_t nouter;
    const bn_plug *outer = scope_plugs(r, f->scope, &nouter);
    for (size_t i = 0; i < sub->nroutes; i++) {
        const route *from = internal(sub->routes[i]);
        route *rt = bn_arena_alloc(&r->mem, sizeof(*rt));
        *rt = *from;
        rt->pub.path = join_path(r, f->prefix, from->pub.path);
        bn_plug *plugs = bn_arena_alloc(&r->mem, (nouter + from->pub.nplugs) * sizeof(*plugs));
        if (nouter)
            memcpy(plugs, outer, nouter * sizeof(*plugs));
        if (from->pub.nplugs)
            memcpy(plugs + nouter, from->pub.plugs, from->pub.nplugs * sizeof(*plugs));
        rt->pub.plugs = plugs;
        rt->pub.nplugs = nouter + from->pub.nplugs;
        rt->scope = NULL;
        add_resolved(r, rt);
    }
}

static void resolve(bn_router *r)
{
    if (r->phase != DECLARING)
        return;
    r->phase = RESOLVING;
    if (r->top != &r->root)
        fail(r, r->top->file, r->top->line, "block never closed (break or return inside bn_scope/bn_resources?)");
    for (size_t i = 0; i < r->nscopes; i++)
        for (const char *const *p = r->scopes[i]->pipelines; *p; p++)
            if (!find_pipeline(r, *p))
                fail(r, r->scopes[i]->file, r->scopes[i]->line, "unknown pipeline \"%s\"", *p);
    for (size_t i = 0; i < r->ndecls; i++) {
        route *rt = r->decls[i].route;
        if (!rt) {
            expand_forward(r, r->decls[i].forward);
            continue;
        }
        rt->pub.plugs = scope_plugs(r, rt->scope, &rt->pub.nplugs);
        rt->scope = NULL;
        add_resolved(r, rt);
    }
    r->phase = RESOLVED;
}

static node *new_node(bn_router *r)
{
    node *n = bn_arena_alloc(&r->mem, sizeof(*n));
    memset(n, 0, sizeof(*n));
    return n;
}

/* Static children are ordered by length first: cheaper to compare. */
static int seg_cmp(bn_str a, bn_str b)
{
    if (a.len != b.len)
        return a.len < b.len ? -1 : 1;
    return memcmp(a.ptr, b.ptr, a.len);
}

/* Index of the first static child not below `seg`. */
static size_t lower_bound(const node *n, bn_str seg)
{
    size_t lo = 0, hi = n->nstatics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg_cmp(n->statics[mid]->seg, seg) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const node *find_static(const node *n, bn_str seg)
{
    size_t i = lower_bound(n, seg);
    return i < n->nstatics && seg_cmp(n->statics[i]->seg, seg) == 0 ? n->statics[i] : NULL;
}

static node *static_child(bn_router *r, node *n, bn_str seg)
{
    size_t i = lower_bound(n, seg);
    if (i < n->nstatics && seg_cmp(n->statics[i]->seg, seg) == 0)
        return n->statics[i];
    PUSH(r, n->statics, n->nstatics, n->capstatics);
    memmove(&n->statics[i + 1], &n->statics[i], (n->nstatics - 1 - i) * sizeof(*n->statics));
    node *child = new_node(r);
    child->seg = seg; /* points into the route's path, which the router owns */
    n->statics[i] = child;
    return child;
}

static node *child_or_new(bn_router *r, node **slot)
{
    if (!*slot)
        *slot = new_node(r);
    return *slot;
}

static void insert(bn_router *r, const route *rt)
{
    node *n = r->tree;
    const char *p = rt->pub.path;
    bn_str seg;
    while (next_cseg(&p, &seg)) {
        if (seg.ptr[0] == ':')
            n = child_or_new(r, &n->param);
        else if (seg.ptr[0] == '*')
            n = child_or_new(r, &n->glob);
        else
            n = static_child(r, n, seg);
    }
    for (size_t i = 0; i < n->nroutes; i++) {
        const bn_route *twin = &n->routes[i]->pub;
        if (strcmp(twin->method, rt->pub.method) == 0) {
            fail(r, rt->pub.file, rt->pub.line, "duplicate route %s %s: same as %s %s at %s:%d", rt->pub.method,
                 rt->pub.path, twin->method, twin->path, twin->file, twin->line);
            return;
        }
    }
    *PUSH(r, n->routes, n->nroutes, n->caproutes) = rt;
}

int bn_router_build(bn_router *r)
{
    if (r->built)
        return r->built > 0 ? 0 : -1;
    resolve(r);
    r->tree = new_node(r);
    for (size_t i = 0; i < r->nroutes; i++)
        insert(r, internal(r->routes[i]));
    r->built = r->errors.len ? -1 : 1;
    if (r->errors.len)
        fputs(r->errors.data, stderr);
    return r->built > 0 ? 0 : -1;
}

const bn_route *const *bn_router_routes(const bn_router *r, size_t *n)
{
    *n = r->nroutes;
    return (const bn_route *const *)r->routes;
}

/* ------------------------------------------------------------------------ */
/* Matching                                                                   */

typedef struct walk {
    const char *end; /* of the request path */
    bn_method method;
    bn_str method_name;
    bool collect;     /* second pass of a 405: gather the methods of every matching node */
    bool path_exists; /* some node with routes matched the whole path */
    const route *found;
    size_t ncaps;
    bn_str caps[MAX_PARAMS]; /* raw param values, in pattern order */
    unsigned allowed;        /* bit per bn_method */
    size_t ncustom;
    const char *custom[MAX_CUSTOM];
} walk;

static bool method_is(const route *rt, bn_method m, bn_str name)
{
    if (m != BN_METHOD_OTHER)
        return rt->pub.method_id == m;
    return rt->pub.method_id == BN_METHOD_OTHER && !rt->any && bn_str_eq(bn_str_from_cstr(rt->pub.method), name);
}

/* The node's route for the method: exact, else GET for HEAD, else "*". */
static const route *route_for(const node *n, bn_method m, bn_str name)
{
    const route *get = NULL, *any = NULL;
    for (size_t i = 0; i < n->nroutes; i++) {
        const route *rt = n->routes[i];
        if (method_is(rt, m, name))
            return rt;
        if (rt->pub.method_id == BN_METHOD_GET)
            get = rt;
        else if (rt->any)
            any = rt;
    }
    return m == BN_METHOD_HEAD && get ? get : any;
}

static void collect_methods(walk *w, const node *n)
{
    for (size_t i = 0; i < n->nroutes; i++) {
        const bn_route *rt = &n->routes[i]->pub;
        if (rt->method_id != BN_METHOD_OTHER) {
            w->allowed |= 1u << rt->method_id;
            continue;
        }
        bool seen = false;
        for (size_t j = 0; j < w->ncustom; j++)
            seen |= strcmp(w->custom[j], rt->method) == 0;
        if (!seen && w->ncustom < MAX_CUSTOM)
            w->custom[w->ncustom++] = rt->method;
    }
}

/* The whole path led to `n`: does it have a route for the method? */
static bool arrive(walk *w, const node *n)
{
    if (!n || n->nroutes == 0)
        return false;
    w->path_exists = true;
    if (w->collect) {
        collect_methods(w, n);
        return false; /* keep walking: the Allow header lists every matching node */
    }
    w->found = route_for(n, w->method, w->method_name);
    return w->found != NULL;
}

/* Depth-first, most specific branch first: static, then :param, then *glob.
 * The depth is bounded by the tree's, not by the request path's. */
static bool find(walk *w, const node *n, const char *p)
{
    bn_str seg;
    if (!next_segment(&p, w->end, &seg)) {
        if (arrive(w, n))
            return true;
        if (!n->glob)
            return false;
        w->caps[w->ncaps++] = bn_str_make(p, 0); /* a glob matches zero segments too */
        if (arrive(w, n->glob))
            return true;
        w->ncaps--;
        return false;
    }
    const node *child = find_static(n, seg);
    if (child && find(w, child, p))
        return true;
    if (n->param) {
        w->caps[w->ncaps++] = seg;
        if (find(w, n->param, p))
            return true;
        w->ncaps--;
    }
    if (n->glob) {
        w->caps[w->ncaps++] = bn_str_make(seg.ptr, (size_t)(w->end - seg.ptr));
        if (arrive(w, n->glob))
            return true;
        w->ncaps--;
    }
    return false;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes `raw` to `out` (room for raw.len); false on a malformed escape or %00. */
static bool decode_to(bn_str raw, char *out, size_t *len)
{
    size_t o = 0;
    for (size_t i = 0; i < raw.len; i++) {
        if (raw.ptr[i] != '%') {
            out[o++] = raw.ptr[i];
            continue;
        }
        int hi = i + 2 < raw.len ? hex_value(raw.ptr[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value(raw.ptr[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0))
            return false;
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    *len = o;
    return true;
}

/* A glob's value: its segments decoded and joined by '/', empty ones dropped. */
static bool decode_value(bn_arena *a, bn_str raw, bool glob, bn_str *out)
{
    char *buf = bn_arena_alloc(a, raw.len + 1);
    size_t len = 0;
    if (!glob) {
        if (!decode_to(raw, buf, &len))
            return false;
    } else {
        const char *p = raw.ptr;
        bn_str seg;
        while (next_segment(&p, raw.ptr + raw.len, &seg)) {
            size_t n;
            if (len)
                buf[len++] = '/';
            if (!decode_to(seg, buf + len, &n))
                return false;
            len += n;
        }
    }
    buf[len] = '\0';
    *out = bn_str_make(buf, len);
    return true;
}

static bn_route_match matched(const walk *w, bn_arena *a)
{
    const bn_route *rt = &w->found->pub;
    bn_value *params = bn_value_object(a);
    for (size_t i = 0; i < rt->nparams; i++) {
        bn_str value;
        if (!decode_value(a, w->caps[i], w->found->glob && i + 1 == rt->nparams, &value))
            return (bn_route_match){.status = 400, .route = rt};
        bn_value_set(a, params, rt->params[i], bn_value_string_ref(a, value));
    }
    return (bn_route_match){.status = 0, .route = rt, .params = params};
}

/* "GET, HEAD, POST": standard methods in enum order (HEAD implied by GET), then extensions. */
static const char *allow_header(walk *w, bn_arena *a)
{
    if (w->allowed & (1u << BN_METHOD_GET))
        w->allowed |= 1u << BN_METHOD_HEAD;
    const char *names[BN_ARRAY_LEN(METHOD_NAMES) + MAX_CUSTOM];
    size_t n = 0, len = 0;
    for (size_t m = 0; m < BN_ARRAY_LEN(METHOD_NAMES); m++)
        if (w->allowed & (1u << m))
            names[n++] = METHOD_NAMES[m];
    for (size_t i = 0; i < w->ncustom; i++)
        names[n++] = w->custom[i];
    for (size_t i = 0; i < n; i++)
        len += strlen(names[i]) + 2;
    char *out = bn_arena_alloc(a, len + 1), *o = out;
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, "%s%s", i ? ", " : "", names[i]);
    *o = '\0';
    return out;
}

bn_route_match bn_router_match(const bn_router *r, bn_method method, bn_str method_name, bn_str path, bn_arena *a)
{
    if (r->built == 0)
        bn_fatal("bn_router_match: call bn_router_build first");
    if (r->built < 0)
        return (bn_route_match){.status = 404};
    if (!path.ptr)
        path = BN_STR("");
    walk w;
    w.end = path.ptr + path.len;
    w.method = method;
    w.method_name = method_name;
    w.collect = false;
    w.path_exists = false;
    w.found = NULL;
    w.ncaps = 0;
    if (find(&w, r->tree, path.ptr))
        return matched(&w, a);
    if (!w.path_exists)
        return (bn_route_match){.status = 404};
    w.collect = true;
    w.allowed = 0;
    w.ncustom = 0;
    find(&w, r->tree, path.ptr);
    return (bn_route_match){.status = 405, .allow = allow_header(&w, a)};
}

/* Does a route end at `n` after segs[i..]? A NULL segment takes :param and *glob only. */
static bool has_path(const node *n, const bn_str *segs, size_t i, size_t nsegs)
{
    if (i == nsegs) /* a glob matches zero segments too */
        return n->nroutes > 0 || (n->glob && n->glob->nroutes > 0);
    if (segs[i].ptr) {
        const node *child = find_static(n, segs[i]);
        if (child && has_path(child, segs, i + 1, nsegs))
            return true;
    }
    if (n->param && has_path(n->param, segs, i + 1, nsegs))
        return true;
    return n->glob && n->glob->nroutes > 0;
}

bool bn_router_has_path(const bn_router *r, const bn_str *segments, size_t n)
{
    if (r->built == 0)
        bn_fatal("bn_router_has_path: call bn_router_build first");
    return r->built > 0 && has_path(r->tree, segments, 0, n);
}

/* ------------------------------------------------------------------------ */
/* Path helpers                                                               */

static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

/* Appends "/" + `s` percent-encoded (everything but RFC 3986's unreserved). */
static void append_encoded(bn_buf *b, bn_str s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *start = bn_buf_reserve(b, 1 + 3 * s.len), *o = start;
    *o++ = '/';
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (unreserved(c)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    b->len += (size_t)(o - start);
}

/* A glob's value keeps its '/' as separators (empty segments dropped). */
static void append_param(bn_buf *b, const char *value, bool glob)
{
    if (!glob) {
        append_encoded(b, bn_str_from_cstr(value));
        return;
    }
    bn_str seg;
    while (next_cseg(&value, &seg))
        append_encoded(b, seg);
}

static const char *fill_path(const bn_route *rt, bn_arena *a, const char *const *params)
{
    bn_buf b = BN_BUF_INIT;
    const char *p = rt->path;
    bn_str seg;
    size_t i = 0;
    while (next_cseg(&p, &seg)) {
        if (seg.ptr[0] == ':' || seg.ptr[0] == '*')
            append_param(&b, params[i++], seg.ptr[0] == '*');
        else
            bn_buf_printf(&b, "/" BN_STR_FMT, BN_STR_ARG(seg));
    }
    const char *out = b.len ? bn_arena_strndup(a, b.data, b.len) : bn_arena_strndup(a, "/", 1);
    bn_buf_free(&b);
    return out;
}

const char *bn_router_path(const bn_router *r, bn_arena *a, const char *name, const char *action,
                           const char *const *params)
{
    bn_str want = bn_str_from_cstr(name);
    if (want.len > 5 && strcmp(name + want.len - 5, "_path") == 0)
        want.len -= 5;
    size_t given = 0;
    while (params && params[given])
        given++;
    for (size_t i = 0; i < given; i++)
        if (!params[i][0]) {
            bn_error("bn_router_path: " BN_STR_FMT "_path: param %zu is empty", BN_STR_ARG(want), i + 1);
            return NULL;
        }
    const bn_route *named = NULL, *fit = NULL;
    for (size_t i = 0; i < r->nroutes; i++) {
        const bn_route *rt = r->routes[i];
        if (!rt->name || !bn_str_eq(bn_str_from_cstr(rt->name), want) || (action && strcmp(rt->action_name, action)))
            continue;
        named = rt;
        if (rt->nparams != given)
            continue;
        if (fit && strcmp(fit->path, rt->path) != 0) {
            bn_error("bn_router_path: " BN_STR_FMT "_path is ambiguous without an action (%s, %s)", BN_STR_ARG(want),
                     fit->path, rt->path);
            return NULL;
        }
        fit = fit ? fit : rt;
        if (action) /* with an action, the first fit is the answer */
            break;
    }
    if (fit)
        return fill_path(fit, a, params);
    if (!named)
        bn_error("bn_router_path: no route " BN_STR_FMT "_path%s%s", BN_STR_ARG(want), action ? " :" : "",
                 action ? action : "");
    else
        bn_error("bn_router_path: " BN_STR_FMT "_path :%s takes %zu params, %zu given", BN_STR_ARG(want),
                 named->action_name, named->nparams, given);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The routes table                                                           */

static void pad(FILE *out, size_t n)
{
    while (n--)
        fputc(' ', out);
}

void bn_router_print(const bn_router *r, FILE *out)
{
    size_t wname = 0, wmethod = 0, wpath = 0;
    for (size_t i = 0; i < r->nroutes; i++) {
        const bn_route *rt = r->routes[i];
        wname = BN_MAX(wname, rt->name ? strlen(rt->name) + 5 : 0);
        wmethod = BN_MAX(wmethod, strlen(rt->method));
        wpath = BN_MAX(wpath, strlen(rt->path));
    }
    for (size_t i = 0; i < r->nroutes; i++) {
        const bn_route *rt = r->routes[i];
        size_t name_len = rt->name ? strlen(rt->name) + 5 : 0;
        pad(out, 2 + wname - name_len);
        if (rt->name)
            fprintf(out, "%s_path", rt->name);
        fprintf(out, "  %-*s  %-*s  ", (int)wmethod, rt->method, (int)wpath, rt->path);
        if (rt->controller)
            fprintf(out, "%s :%s\n", rt->controller, rt->action_name);
        else
            fprintf(out, "%s\n", rt->action_name);
    }
}
