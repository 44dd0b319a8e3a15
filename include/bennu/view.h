/*
 * bennu/view.h — compiled templates in the web layer: rendering a page inside
 * its layouts from a controller [Phoenix.Controller.render/3, put_layout,
 * put_root_layout], and verified paths [~p, Phoenix.VerifiedRoutes].
 *
 * Example (templates compiled by `bennu-tpl`: the page `user_show.html.bnx`
 * with `<%@ assigns const char *name; const char *edit_href; %>`, and the
 * layouts `root.html.bnx` and `app.html.bnx`, whose assigns are bn_layout_assigns):
 *
 *     bn_pipeline(r, "browser", BN_PLUG(bn_plug_fetch_session, &session),
 *                 BN_PLUG_ROOT_LAYOUT(root),     // <html>…{@inner_content}…</html>
 *                 BN_PLUG_LAYOUT(app));          // nav bar, flash, {@inner_content}
 *
 *     static void show_user(bn_conn *c) {
 *         bn_conn_assign(c, "page_title", bn_value_string(bn_conn_arena(c), BN_STR("Ada")));
 *         const char *edit = BN_PATH(c, "/users/%d/edit", 42);          // "/users/42/edit"
 *         bn_render(c, user_show, &(user_show_assigns){.name = "Ada", .edit_href = edit});
 *         // 200 text/html: root layout ⊃ app layout ⊃ page
 *     }
 *
 * and `PROG routes --verify` (bn_endpoint_main) checks every ~p"…" of the
 * templates and every BN_PATH format linked into PROG against the router:
 *
 *     lib/user.html.bnx:12:9: error: no route matches ~p"/userz/#{}"
 *     src/users.c:40:0: error: no route matches BN_PATH("/users/%d/edti")
 */
#ifndef BENNU_VIEW_H
#define BENNU_VIEW_H

#include <stdint.h>
#include <stdio.h>

#include "bennu/router.h"
#include "bennu/template.h"
#include "bennu/web.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Layouts and rendering                                                      */

/**
 * The assigns of every layout template. The compiler emits
 * `typedef bn_layout_assigns NAME_assigns;` for a layout.
 */
typedef struct bn_layout_assigns {
    bn_conn *conn;
    bn_tpl_slot inner_content; /* the page (or the app layout around it): `{@inner_content}` */
    const char *page_title;    /* the "page_title" assign if a string, else NULL */
    const char *csrf_token;    /* masked CSRF token for <meta name="csrf-token"> when a session is fetched, else NULL */
} bn_layout_assigns;

/**
 * A layout template as a bn_tpl_fn (NAME__any), after a compile-time check
 * that its assigns are bn_layout_assigns. A constant expression, so it may
 * initialise static data.
 */
#define BN_LAYOUT(name) _Generic((const name##_assigns *)0, const bn_layout_assigns *: name##__any)

/** The outer layout, with <html> [put_root_layout]; NULL removes it. */
void bn_conn_put_root_layout(bn_conn *c, bn_tpl_fn *layout);
/** The layout inside the root one [put_layout]; NULL removes it. */
void bn_conn_put_layout(bn_conn *c, bn_tpl_fn *layout);
/** The layouts put so far, or NULL [root_layout/1, layout/1]. */
bn_tpl_fn *bn_conn_root_layout(const bn_conn *c);
bn_tpl_fn *bn_conn_layout(const bn_conn *c);

/**
 * Plugs that put a layout for every request of a pipeline [plug :put_root_layout,
 * html: {Layouts, :root}]. Their opts is the bn_tpl_fn itself (NULL removes):
 * write them with BN_PLUG_ROOT_LAYOUT(name) / BN_PLUG_LAYOUT(name), which check
 * the template's assigns type and are constant (endpoint plug arrays, pipelines).
 */
void bn_plug_put_root_layout(bn_conn *c, const void *opts /* bn_tpl_fn *, via BN_PLUG_ROOT_LAYOUT */);
void bn_plug_put_layout(bn_conn *c, const void *opts /* bn_tpl_fn *, via BN_PLUG_LAYOUT */);
#define BN_PLUG_ROOT_LAYOUT(name) ((bn_plug){bn_plug_put_root_layout, BN__FN_OPTS(BN_LAYOUT(name)), "bn_plug_put_root_layout"})
#define BN_PLUG_LAYOUT(name) ((bn_plug){bn_plug_put_layout, BN__FN_OPTS(BN_LAYOUT(name)), "bn_plug_put_layout"})
/* A function pointer carried in a plug's `const void *opts` (through an integer,
 * which ISO C allows both ways, where a direct cast is an extension). */
#define BN__FN_OPTS(fn) ((const void *)(uintptr_t)(fn))

/**
 * Renders `fn` with `assigns` inside the layouts put on the conn: root layout
 * ⊃ layout ⊃ page, each layout's inner_content rendering the next level, and
 * sends it with `status` (0: the status put on the conn, else 200) as
 * text/html; charset=utf-8 (unless a content-type was put already). A render
 * error (bn_tpl_render_html_in's message) raises 500 with it, which logs it.
 */
void bn_conn_render_fn(bn_conn *c, int status, bn_tpl_fn *fn, const void *assigns);
/**
 * bn_render(c, user_show, &(user_show_assigns){.name = n, .id = i}): the
 * assigns' type is checked. Variadic so that the commas of a compound literal
 * need no extra parentheses.
 */
#define bn_render(c, name, /* assigns */...) bn_conn_render_fn((c), 0, BN_TPL_ARGS(name, (__VA_ARGS__)))

/* ------------------------------------------------------------------------ */
/* Verified paths [~p, Phoenix.VerifiedRoutes]                                */

/**
 * A path written in a template (~p"/users/#{id}/edit") or in C (BN_PATH),
 * checked against the router after linking by bn_router_verify_paths.
 */
typedef struct bn_verified_path {
    const char *pattern; /* template form "/users/#{}/edit?tab=#{}" (each #{} is a dynamic value),
                            or a printf format when printf_style */
    bool printf_style;
    const char *file;
    int line;
    int col; /* 0: unknown */
} bn_verified_path;

/**
 * Registers a static bn_verified_path variable, at file or block scope: a
 * pointer to it goes into the ELF section "bn_verified_paths", which the
 * linker gathers from every object of the program. (Only pointers go there:
 * a sanitizer may pad what a section holds, and NULLs are skipped.) The list
 * is the executable's: paths registered inside a shared library are not seen.
 */
#define BN_VERIFIED_PATH_REGISTER(var) BN__VP_REGISTER(var, __COUNTER__)

/**
 * A path from a printf format, registered for verification (file and line of
 * the call, col 0), formatted into the conn's arena: BN_PATH(c, "/users/%d", id).
 * `fmt` must be a string literal. Values are written as printf writes them,
 * not percent-encoded: pass ids and slugs, or encode them first. A GNU
 * statement expression (gcc and clang).
 */
#define BN_PATH(c, /* fmt, */...)                                                                                      \
    __extension__({                                                                                                    \
        static const bn_verified_path bn__vp = {"" BN__FIRST(__VA_ARGS__, ~), true, __FILE__, __LINE__, 0};            \
        BN_VERIFIED_PATH_REGISTER(bn__vp);                                                                             \
        (const char *)bn_arena_printf(bn_conn_arena(c), __VA_ARGS__);                                                  \
    })

/** Every registered path of the program, in link order (*n == 0 when there is none).
 *  (Not named like the section: in an object that registers paths, the
 *  assembler would bind that name to the section's own symbol.) */
const bn_verified_path *const *bn_verified_path_list(size_t *n);

/**
 * Checks every registered path against `r` (built; NULL: no routes). The query
 * (after '?') and the fragment are ignored; a segment holding a dynamic part
 * (#{}, or a printf conversion; %% is a literal %) stands for any value, so it
 * must hit a :param or a *glob, not a static segment. Any method counts (a
 * path served only by POST is fine); a pattern not starting with '/' fails.
 * Writes one line per failure to `err`:
 *
 *     FILE:LINE:COL: error: no route matches ~p"PATTERN"
 *     FILE:LINE:COL: error: no route matches BN_PATH("FMT")
 *
 * and returns the number of failures.
 */
int bn_router_verify_paths(const bn_router *r, FILE *err);

/* ---- behind the macros ----------------------------------------------- */

#define BN__FIRST(x, ...) x
#define BN__VP_REGISTER(var, n) BN__VP_REGISTER2(var, n)
#define BN__VP_REGISTER2(var, n)                                                                                       \
    static const bn_verified_path *const bn__vp_ref_##n                                                                \
        __attribute__((section("bn_verified_paths"), used, aligned(sizeof(void *)))) = &(var)

#ifdef __cplusplus
}
#endif
#endif /* BENNU_VIEW_H */
