/*
 * bennu/router.h — the router [Phoenix.Router]: verb routes, pipelines and
 * scopes, RESTful resources, forwarding, path helpers and the routes table.
 *
 * Routes are declared once at start-up, then bn_router_build freezes them
 * into a radix tree that bn_router_match walks per request (no malloc; the
 * params object comes from the request arena). Running the matched route's
 * plugs and action on a conn is the endpoint's job, not this header's.
 */

// Example (in line comments: the glob pattern below would nest a block comment):
//
//     static const bn_controller users = {
//         .name = "UserController",
//         .index = user_index, .show = user_show, .create = user_create,
//     };
//     static const bn_controller posts = {.name = "PostController", .index = post_index};
//
//     static void routes(bn_router *r)
//     {
//         bn_pipeline(r, "browser", BN_PLUG(bn_plug_fetch_session, NULL), BN_PLUG(my_auth, &auth_opts));
//         bn_pipeline(r, "api", BN_PLUG(accepts_json, NULL));
//
//         bn_scope(r, "/", "browser") {
//             bn_get_as(r, "/", page_home, "home");        // GET /       home_path
//             bn_resources(r, "/users", &users) {          // GET /users  user_path :index ...
//                 bn_resources(r, "/posts", &posts);       // GET /users/:user_id/posts
//             }
//         }
//         bn_scope(r, "/api", "api") {
//             bn_get(r, "/status", api_status);            // GET /api/status
//             bn_post(r, "/files/*path", api_upload);      // params: {"path": "a/b.txt"}
//         }
//         bn_forward(r, "/admin", admin_router);           // admin's routes under /admin
//     }
//
//     bn_router *r = bn_router_new();
//     routes(r);
//     if (bn_router_build(r) != 0)                         // every mistake is on stderr
//         exit(1);
//     bn_route_match m = bn_router_match(r, BN_METHOD_GET, BN_STR("GET"), BN_STR("/users/42"), arena);
//     // m.status == 0, m.route->action == user_show, m.params == {"id": "42"}
//     const char *p = bn_router_path(r, arena, "user", "show", BN_PARAMS("42"));   // "/users/42"

/*
 * Matching rules
 * - The path is split on '/' and empty segments are dropped, so "/users/",
 *   "//users" and "/users" are the same path [Plug.Router].
 * - `:name` matches one whole segment; `*name` (last segment only) matches the
 *   rest of the path, zero or more segments, captured as one string with the
 *   segments joined by '/' ("/files" gives "", "/files/a//b/" gives "a/b").
 * - Where several routes could match, a static segment beats `:param`, which
 *   beats `*glob`, segment by segment from the left, whatever the declaration
 *   order (the tree backtracks when a more specific branch has no route for
 *   the method). Two routes with the same method and the same shape
 *   ("/users/:id" and "/users/:uid") are a build error.
 * - Static segments are compared byte for byte with the raw (still
 *   percent-encoded) request segment; captured values are percent-decoded. A
 *   malformed escape or an encoded NUL ("%00") in a captured value is a 400.
 * - HEAD matches a GET route when the node has no HEAD route of its own. A
 *   `bn_match(r, "*", ...)` route matches any method, after exact ones.
 * - A path that exists for other methods only is a 405, with `allow` listing
 *   them ("GET, HEAD, POST": standard methods in the order of bn_method,
 *   then extension methods); otherwise 404.
 *
 * Route names (for path helpers and the routes table)
 * - resources: from the controller's name: "UserController" -> "user",
 *   "BlogPostController" -> "blog_post" (or `.as` in bn_resource_opts);
 * - other routes: the action function's name (bn_get(r, "/", page_home) ->
 *   "page_home"), or the name given to the _as variant (NULL: no name);
 * - inside nested resources the parent's name is prefixed ("user_post").
 *
 * Mistakes never crash: each is reported as "file:line: message" by
 * bn_router_build, which then returns -1. Do not `break` or `return` out of
 * a bn_scope/bn_resources block (the build reports the unclosed block).
 */
#ifndef BENNU_ROUTER_H
#define BENNU_ROUTER_H

#include <stdio.h>

#include "bennu/web.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_router bn_router;

/** A RESTful controller: a NULL action simply has no route [Phoenix.Controller]. */
typedef struct bn_controller {
    const char *name; /* "UserController": shown in the routes table; the resource name derives from it */
    bn_action *index, *new_, *create, *show, *edit, *update, *delete_;
    /**
     * The controller's action fallback [action_fallback]: renders the error
     * response when one of its actions raises (bn_raise), in place of the
     * endpoint's error view. NULL: the endpoint's view.
     */
    bn_error_renderer *fallback;
} bn_controller;

/** A resolved route: everything the endpoint needs to dispatch it. Read-only. */
typedef struct bn_route {
    const char *method;          /* "GET", an extension method ("PROPFIND"), or "*" for any */
    bn_method method_id;         /* BN_METHOD_OTHER for extension methods and "*" */
    const char *path;            /* full, normalised pattern: "/users/:user_id/posts/:id" */
    bn_action *action;
    const char *action_name;     /* "show" for resources, else the function's name */
    const char *controller;      /* controller name for resources, else NULL */
    bn_error_renderer *fallback; /* the controller's action fallback, or NULL */
    const void *data;            /* what the route was declared with for its action (a LiveView), or NULL */
    const char *name;            /* route name ("user"), NULL if none; the helper is name + "_path" */
    const bn_plug *plugs;        /* the scopes' pipelines flattened, outermost first */
    size_t nplugs;
    const char *const *params;   /* names of the path params in pattern order ("user_id", "id") */
    size_t nparams;
    const char *file;            /* where it was declared */
    int line;
} bn_route;

/** The route the endpoint dispatched `c` to, or NULL (before routing, or a plug answered). */
const bn_route *bn_conn_route(const bn_conn *c);
/** The router of the endpoint serving `c` (also before routing, e.g. in an endpoint plug), or NULL. */
const bn_router *bn_conn_router(const bn_conn *c);

static inline const bn_plug *bn_route_plugs(const bn_route *rt, size_t *n)
{
    *n = rt->nplugs;
    return rt->plugs;
}

/** The answer of bn_router_match. */
typedef struct bn_route_match {
    int status;           /* 0: matched; 404 no such path; 405 wrong method; 400 bad escape */
    const bn_route *route; /* when status is 0 (and the route that failed to decode for 400) */
    bn_value *params;     /* status 0: an object of the decoded path params (strings) */
    const char *allow;    /* status 405: the Allow header value, "GET, HEAD, POST" */
} bn_route_match;

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                 */

bn_router *bn_router_new(void);
/** Frees the router and everything it allocated (routes, names, the tree). */
void bn_router_free(bn_router *r);

/**
 * Checks every declaration and freezes the routes into the match tree.
 * Returns 0, or -1 after writing each mistake to stderr as "file:line: msg"
 * (bn_router_errors returns the same text). A router that failed to build
 * matches nothing. Calling it again returns the first result.
 */
int bn_router_build(bn_router *r);
/** All the build errors, one per line, or NULL if there were none. */
const char *bn_router_errors(const bn_router *r);

/* ------------------------------------------------------------------------ */
/* Matching (thread-safe on a built router: it only reads)                    */

/**
 * Finds the route for `method` (`method_name` is only read when `method` is
 * BN_METHOD_OTHER) and the raw request `path`. Allocates params and the Allow
 * string from `a`, nothing else. See "Matching rules" above.
 */
bn_route_match bn_router_match(const bn_router *r, bn_method method, bn_str method_name, bn_str path,
                               bn_arena *a);

/**
 * Whether some route, of any method, serves paths of this shape [for verified
 * paths]: `segments` are the raw path segments (as a request would send them,
 * empty ones already dropped); a segment whose ptr is NULL stands for any
 * value, so it matches a `:param` or a `*glob`, never a static segment.
 * Without NULL segments, this is "bn_router_match answers something other than
 * 404". Aborts, like bn_router_match, on a router never built.
 */
bool bn_router_has_path(const bn_router *r, const bn_str *segments, size_t n);

/** The resolved routes in declaration order (forwarded ones expanded in place). */
const bn_route *const *bn_router_routes(const bn_router *r, size_t *n);

/* ------------------------------------------------------------------------ */
/* Path helpers [Routes.user_path(conn, :edit, 42)]                           */

/** A NULL-terminated list of path param values: BN_PARAMS("42", "7"). */
#define BN_PARAMS(...) ((const char *const[]){__VA_ARGS__, NULL})

/**
 * The path of the route named `name` ("user", or "user_path") for `action`
 * ("edit"), with `params` (NULL if none) filled in order and percent-encoded
 * (a glob value keeps its '/'; an empty value is refused). Among the routes
 * with that name and action, the one taking as many params as given is used.
 * `action` may be NULL when that leaves one path (a plain route's only
 * action). Returns the path in `a`, or NULL after logging an error when no
 * route fits or the choice is ambiguous.
 *
 *     bn_router_path(r, a, "user_post", "show", BN_PARAMS("1", "a b"))  // "/users/1/posts/a%20b"
 */
const char *bn_router_path(const bn_router *r, bn_arena *a, const char *name, const char *action,
                           const char *const *params);

/**
 * Writes the routes table like `mix phx.routes`: helper, method, path,
 * controller and action, in aligned columns:
 *
 *       user_path  GET     /users/:id/edit  UserController :edit
 *     status_path  GET     /api/status      api_status
 */
void bn_router_print(const bn_router *r, FILE *out);

/* ------------------------------------------------------------------------ */
/* Declaring routes. Every macro records __FILE__:__LINE__ for errors.        */

/** Verb routes: bn_get(r, "/users/:id", user_show). The action's name is captured. */
#define bn_get(r, path, action) bn__verb(r, "GET", path, action)
#define bn_post(r, path, action) bn__verb(r, "POST", path, action)
#define bn_put(r, path, action) bn__verb(r, "PUT", path, action)
#define bn_patch(r, path, action) bn__verb(r, "PATCH", path, action)
#define bn_delete(r, path, action) bn__verb(r, "DELETE", path, action)
#define bn_options(r, path, action) bn__verb(r, "OPTIONS", path, action)
#define bn_head(r, path, action) bn__verb(r, "HEAD", path, action)
/** One route per listed method ("GET|POST", "PROPFIND"), or "*" for every method. */
#define bn_match(r, methods, path, action) bn__verb(r, methods, path, action)

/** The same with an explicit route name: bn_get_as(r, "/", page_home, "home") -> home_path. */
#define bn_get_as(r, path, action, as) bn__verb_as(r, "GET", path, action, as)
#define bn_post_as(r, path, action, as) bn__verb_as(r, "POST", path, action, as)
#define bn_put_as(r, path, action, as) bn__verb_as(r, "PUT", path, action, as)
#define bn_patch_as(r, path, action, as) bn__verb_as(r, "PATCH", path, action, as)
#define bn_delete_as(r, path, action, as) bn__verb_as(r, "DELETE", path, action, as)
#define bn_options_as(r, path, action, as) bn__verb_as(r, "OPTIONS", path, action, as)
#define bn_head_as(r, path, action, as) bn__verb_as(r, "HEAD", path, action, as)
#define bn_match_as(r, methods, path, action, as) bn__verb_as(r, methods, path, action, as)

/**
 * A named list of plugs that scopes pipe requests through [pipeline :browser]:
 * bn_pipeline(r, "api", BN_PLUG(accepts_json, NULL), BN_PLUG(auth, &opts)).
 * The plugs are copied; their options must outlive the router.
 */
#define bn_pipeline(r, name, ...)                                                                                      \
    bn__pipeline((r), __FILE__, __LINE__, (name), (const bn_plug[]){__VA_ARGS__},                                      \
                 sizeof((const bn_plug[]){__VA_ARGS__}) / sizeof(bn_plug))

/**
 * A block of routes under a path prefix, piped through the named pipelines
 * [scope "/api" do pipe_through :api]: bn_scope(r, "/api", "api", "auth") { ... }.
 * Scopes nest: prefixes concatenate and pipelines accumulate, outer first.
 */
#define bn_scope(r, ...)                                                                                               \
    for (bn__scope_begin((r), __FILE__, __LINE__, (const char *const[]){__VA_ARGS__, NULL}); bn__block_enter(r);)

/** Options of bn_resources. `only`/`except` list action names, NULL-terminated. */
typedef struct bn_resource_opts {
    const char *const *only;
    const char *const *except;
    const char *as;  /* resource name for helpers and nested params (default: from the controller) */
    bool singleton;  /* "/account": no index and no :id [resources singleton: true] */
} bn_resource_opts;

#define BN_ONLY(...) ((bn_resource_opts){.only = (const char *const[]){__VA_ARGS__, NULL}})
#define BN_EXCEPT(...) ((bn_resource_opts){.except = (const char *const[]){__VA_ARGS__, NULL}})

/**
 * The REST routes of a controller [resources "/users", UserController]:
 *
 *     GET /users (index)   GET /users/new (new)        POST /users (create)
 *     GET /users/:id (show)   GET /users/:id/edit (edit)
 *     PATCH and PUT /users/:id (update)   DELETE /users/:id (delete)
 *
 * Optionally with bn_resource_opts: bn_resources(r, "/users", &users, BN_ONLY("index", "show")).
 * Either ends with ';' or opens a block of nested routes, which live under
 * "/users/:user_id" and have names prefixed with "user_":
 *
 *     bn_resources(r, "/users", &users) { bn_resources(r, "/posts", &posts); }
 */
#define bn_resources(...) BN__PICK4(__VA_ARGS__, bn__resources_opts, bn__resources_plain, ~)(__VA_ARGS__)

/**
 * Hands every request under `prefix` to `sub`, another router, with the rest
 * of the path [forward "/admin", AdminRouter]. Its routes are copied in at
 * build time with their own pipelines after this scope's; `sub` must outlive r.
 */
#define bn_forward(r, prefix, sub) bn__forward((r), __FILE__, __LINE__, (prefix), (sub))

/* ---- behind the macros ----------------------------------------------- */

#define bn__verb(r, methods, path, action)                                                                             \
    bn__route((r), __FILE__, __LINE__, (methods), (path), (action), #action, false, NULL)
#define bn__verb_as(r, methods, path, action, as)                                                                      \
    bn__route((r), __FILE__, __LINE__, (methods), (path), (action), #action, true, (as))
#define BN__PICK4(_1, _2, _3, _4, name, ...) name
#define bn__resources_plain(r, path, controller) bn__resources_opts(r, path, controller, (bn_resource_opts){0})
#define bn__resources_opts(r, path, controller, opts)                                                                  \
    for (bn__resources_begin((r), __FILE__, __LINE__, (path), (controller), (opts)); bn__block_enter(r);)

/** A route whose action reads `data` back with bn_conn_route (layers above the router: bn_live). */
void bn__route_data(bn_router *r, const char *file, int line, const char *methods, const char *path,
                    bn_action *action, const char *action_text, bool named, const char *as, const void *data);
void bn__route(bn_router *r, const char *file, int line, const char *methods, const char *path, bn_action *action,
               const char *action_text, bool named, const char *as);
void bn__pipeline(bn_router *r, const char *file, int line, const char *name, const bn_plug *plugs, size_t n);
/* `args` is {prefix, pipeline names..., NULL}. */
void bn__scope_begin(bn_router *r, const char *file, int line, const char *const *args);
void bn__resources_begin(bn_router *r, const char *file, int line, const char *path, const bn_controller *controller,
                         bn_resource_opts opts);
/* True the first time for the innermost block just begun; the second time it closes the block. */
bool bn__block_enter(bn_router *r);
void bn__forward(bn_router *r, const char *file, int line, const char *prefix, bn_router *sub);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_ROUTER_H */
