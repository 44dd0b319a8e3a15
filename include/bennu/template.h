/*
 * bennu/template.h — the runtime of compiled templates [Phoenix.Component,
 * Phoenix.LiveView.Rendered].
 *
 * `bennu-tpl` turns each `*.html.bnx` file into C that calls the functions
 * below; the language is described in docs/templates.md. A compiled template
 * is a tree of blocks: each block has N+1 constant statics and N dynamics.
 * The same generated code renders in two modes:
 *
 *   - plain: statics and dynamics are written interleaved into one buffer,
 *     nothing is built (controllers, `bn_tpl_render_html`);
 *   - structured: a bn_rendered tree keeps the statics (shared, constant)
 *     apart from the dynamics, and a dynamic whose assigns did not change
 *     is skipped and marked BN_DYN_UNCHANGED (LiveView diffs).
 *
 * Example (a template `hello.html.bnx` with `<%@ assigns const char *name; %>`):
 *
 *     bn_buf out = BN_BUF_INIT;
 *     bn_tpl_render_html(&out, hello, &(hello_assigns){.name = "<world>"});
 *     // out: "<p>Hello &lt;world&gt;</p>"
 */
#ifndef BENNU_TEMPLATE_H
#define BENNU_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bennu/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Values a template can write                                                */

/** Trusted HTML, written without escaping: `<%= raw(html) %>`. */
typedef struct bn_safe {
    const char *ptr;
    size_t len;
} bn_safe;

static inline bn_safe bn_raw_cstr(const char *s) { return (bn_safe){s, s ? strlen(s) : 0}; }
static inline bn_safe bn_raw_str(bn_str s) { return (bn_safe){s.ptr, s.len}; }
static inline bn_safe bn_raw_safe(bn_safe s) { return s; }
/** `raw(x)` in a template: x is a C string, a bn_str or already a bn_safe. */
#define bn_raw(x) _Generic((x), char *: bn_raw_cstr, const char *: bn_raw_cstr, bn_str: bn_raw_str, \
                           bn_safe: bn_raw_safe)(x)

/** A set of assigns, one bit each (the 64th bit stands for every assign past the 63rd). */
typedef uint64_t bn_tpl_changes;
#define BN_TPL_ALL UINT64_MAX

typedef struct bn_tpl bn_tpl;

/**
 * A piece of caller content handed to a component: the inner block
 * [inner_block] or one entry of a named slot. `render == NULL` means absent.
 * `env` points at the caller's variables; `arg` is what the component passes
 * to render_slot and the caller's `:let` receives.
 */
typedef void bn_tpl_slot_fn(bn_tpl *t, const void *env, const void *arg);
typedef struct bn_tpl_slot {
    bn_tpl_slot_fn *render;
    const void *env;
    bn_tpl_changes changed; /* the caller's changes when the slot was made */
} bn_tpl_slot;

/** One extra attribute of a component with `attr global NAME` (`phx-click="x"`). */
typedef enum { BN_TPL_ATTR_STR, BN_TPL_ATTR_BOOL, BN_TPL_ATTR_SAFE } bn_tpl_attr_kind;
typedef struct bn_tpl_attr {
    const char *name;
    bn_tpl_attr_kind kind;
    bool on;         /* BOOL: present or not */
    const char *str; /* STR (NULL: omitted), SAFE (not escaped) */
    size_t len;
} bn_tpl_attr;
typedef struct bn_tpl_attrs {
    const bn_tpl_attr *items;
    size_t count;
} bn_tpl_attrs;

static inline bn_tpl_attr bn_tpl_attr_cstr(const char *name, const char *v)
{
    return (bn_tpl_attr){name, BN_TPL_ATTR_STR, true, v, v ? strlen(v) : 0};
}
static inline bn_tpl_attr bn_tpl_attr_str(const char *name, bn_str v)
{
    return (bn_tpl_attr){name, BN_TPL_ATTR_STR, true, v.ptr, v.len};
}
static inline bn_tpl_attr bn_tpl_attr_bool(const char *name, bool v)
{
    return (bn_tpl_attr){name, BN_TPL_ATTR_BOOL, v, NULL, 0};
}
static inline bn_tpl_attr bn_tpl_attr_safe(const char *name, bn_safe v)
{
    return (bn_tpl_attr){name, BN_TPL_ATTR_SAFE, true, v.ptr, v.len};
}
/** An attribute from any supported C value (used by generated code). */
#define bn_tpl_attr_of(name, v) _Generic((v), char *: bn_tpl_attr_cstr, const char *: bn_tpl_attr_cstr, \
                                         bn_str: bn_tpl_attr_str, bool: bn_tpl_attr_bool, \
                                         bn_safe: bn_tpl_attr_safe)(name, v)

/* ------------------------------------------------------------------------ */
/* Blocks and the rendered tree                                               */

/** The constant part of one block: ndynamics + 1 statics, in program memory. */
typedef struct bn_tpl_block {
    const bn_str *statics;
    uint32_t ndynamics;
    uint32_t fingerprint; /* differs between blocks of different statics */
    const char *where;    /* "file.html.bnx:LINE" of the block's first byte */
} bn_tpl_block;

typedef enum {
    BN_DYN_UNCHANGED = 0, /* skipped: the assigns it reads did not change */
    BN_DYN_STRING,        /* escaped HTML text */
    BN_DYN_NESTED,        /* a nested block (:if body, component, slot) */
    BN_DYN_LIST,          /* a comprehension (:for) */
} bn_dyn_kind;

typedef struct bn_rendered bn_rendered;
typedef struct bn_comprehension bn_comprehension;

typedef struct bn_dyn {
    bn_dyn_kind kind;
    union {
        bn_str string;
        bn_rendered *nested;
        bn_comprehension *list;
    } u;
} bn_dyn;

/** A rendered block: its statics (shared) and its dynamics (this render's). */
struct bn_rendered {
    const bn_tpl_block *block;
    bn_dyn *dynamics; /* block->ndynamics */
};

/** A comprehension: one block's statics, `count` entries of its dynamics. */
struct bn_comprehension {
    const bn_tpl_block *block;
    size_t count;
    bn_dyn **entries; /* entries[i] has block->ndynamics dynamics */
    bn_tpl_changes reads; /* the assigns the dynamic holding it reads (how LiveView finds a stream's) */
    const char *stream;   /* a LiveView stream's operations, JSON written as its "stream" (NULL: none) */
};

/* ------------------------------------------------------------------------ */
/* Rendering                                                                  */

/**
 * A compiled template or component is `void NAME(bn_tpl *t, const NAME_assigns *assigns)`;
 * the compiler also emits `NAME__any`, the same function as a bn_tpl_fn, for
 * code that handles templates of any type (layouts, the macros below).
 */
typedef void bn_tpl_fn(bn_tpl *t, const void *assigns);
/** NAME__any, after checking that `assigns` points to NAME_assigns. */
#define BN_TPL_ARGS(name, ...) name##__any, (const void *)(const name##_assigns *){__VA_ARGS__}

/** Renders to HTML, appended to `out`. Returns NULL, or the error message of a
 *  render error (an unsafe `<.link>` URL), in which case `out` is unspecified. */
const char *bn_tpl_render_html_fn(bn_buf *out, bn_tpl_fn *fn, const void *assigns);
#define bn_tpl_render_html(out, name, ...) bn_tpl_render_html_fn((out), BN_TPL_ARGS(name, __VA_ARGS__))
/** The same, with formatted values (verified paths, numbers) taken from `arena`,
 *  e.g. the request's: nothing is lost if the template's own C code raises. */
const char *bn_tpl_render_html_in(bn_buf *out, bn_arena *arena, bn_tpl_fn *fn, const void *assigns);

/**
 * Renders into a tree allocated from `arena`. `changed` names the assigns that
 * changed since `prev` (BN_TPL_ALL and prev NULL for a first render): a
 * dynamic that reads none of them is BN_DYN_UNCHANGED. A nested block that
 * `prev` does not hold in the same place is rendered in full. Returns NULL
 * with *error set on a render error.
 */
bn_rendered *bn_tpl_render_tree_fn(bn_arena *arena, bn_tpl_fn *fn, const void *assigns, bn_tpl_changes changed,
                                   const bn_rendered *prev, const char **error);
#define bn_tpl_render_tree(arena, name, assigns, changed, prev, error) \
    bn_tpl_render_tree_fn((arena), BN_TPL_ARGS(name, (assigns)), (changed), (prev), (error))

/** Writes a tree as HTML (statics and dynamics interleaved; UNCHANGED writes nothing). */
void bn_rendered_to_html(const bn_rendered *r, bn_buf *out);
/**
 * Writes a tree as a LiveView rendered object with inline statics:
 * {"0":"…","1":{"0":…,"s":[…]},"s":[…]}; a comprehension is keyed, as
 * LiveView 1.1+ reads it: {"s":[…],"k":{"0":{"0":…},…,"kc":N}};
 * an UNCHANGED dynamic is left out, and `with_statics` false leaves out the
 * top node's "s" (the client already has it).
 */
void bn_rendered_to_json(const bn_rendered *r, bool with_statics, bn_buf *out);
/**
 * The same as a diff against `prev`, the tree the client has (NULL: as
 * bn_rendered_to_json): comprehensions the client has send only the entries
 * that changed, each with only its changed dynamics, and no statics; a
 * nested block or list equal to its previous render is left out. `prev`
 * must be complete (no UNCHANGED holes).
 */
void bn_rendered_diff_to_json(const bn_rendered *r, const bn_rendered *prev, bool with_statics, bn_buf *out);

/** Bit of an assign by its index in the assigns struct (the compiler numbers them). */
static inline bn_tpl_changes bn_tpl_bit(unsigned index) { return (bn_tpl_changes)1 << (index < 63 ? index : 63); }

/* ------------------------------------------------------------------------ */
/* Escaping                                                                   */

/** Appends `s` escaped for HTML text and attribute values: & < > " ' are
 *  replaced by entities, NUL by U+FFFD, and invalid UTF-8 sequences by U+FFFD. */
void bn_tpl_escape(bn_buf *out, const char *s, size_t len);

/** Whether a URL's scheme is safe for href/src: anything but javascript:,
 *  vbscript: and data: (case-insensitive, ignoring leading spaces and control
 *  characters, and tabs and newlines anywhere in the scheme, as browsers do:
 *  "java\nscript:" is refused). */
bool bn_tpl_url_is_safe(const char *url, size_t len);

/* ------------------------------------------------------------------------ */
/* The built-in <.link> component [Phoenix.Component.link/1]                  */

typedef struct bn_link_assigns {
    const char *href;     /* a plain link */
    const char *navigate; /* LiveView navigation: data-phx-link="redirect" */
    const char *patch;    /* LiveView patch: data-phx-link="patch" */
    bool replace;         /* data-phx-link-state="replace" instead of "push" */
    const char *method;   /* "delete", "post"…: rendered as data-method, data-to, data-csrf */
    const char *csrf_token;
    bool trusted;         /* allow javascript:/data: URLs (refused otherwise) */
    bn_tpl_attrs rest;    /* class, id, phx-*, data-*… */
    bn_tpl_slot inner_block;
} bn_link_assigns;

/** `<.link navigate={...}>text</.link>`: an <a> for href, navigate or patch. */
void bn_link(bn_tpl *t, const bn_link_assigns *assigns);

/* ------------------------------------------------------------------------ */
/* Called by generated code (not by hand)                                     */

struct bn_tpl {
    bn_buf *out;          /* plain mode: where HTML goes; structured: scratch for one string */
    bn_arena *arena;      /* structured trees, formatted paths */
    struct bn_tpl_builder *tree; /* NULL in plain mode */
    bn_tpl_changes changed;      /* the current template's changed assigns */
    const char *error;           /* first render error */
};

/** Opens/closes a block; plain mode does nothing. */
void bn_tpl_open(bn_tpl *t, const bn_tpl_block *b);
void bn_tpl_close(bn_tpl *t, const bn_tpl_block *b);

/** Writes static i of block b (plain mode only). */
static inline void bn_tpl_text(bn_tpl *t, const bn_tpl_block *b, unsigned i)
{
    if (!t->tree)
        bn_buf_append(t->out, b->statics[i].ptr, b->statics[i].len);
}

/** Starts the next dynamic of the open block; false means skip it (unchanged). */
bool bn_tpl_dyn_slow(bn_tpl *t, bn_tpl_changes reads);
static inline bool bn_tpl_dyn(bn_tpl *t, bn_tpl_changes reads) { return !t->tree || bn_tpl_dyn_slow(t, reads); }

/** The changes to hand to a slot made now (BN_TPL_ALL inside a forced subtree). */
bn_tpl_changes bn_tpl_changes_now(const bn_tpl *t);
/** For a component call: bit i of the result is set when reads[i] intersects the caller's changes. */
bn_tpl_changes bn_tpl_changes_map(const bn_tpl *t, const bn_tpl_changes *reads, size_t n);
/** Enters a component with its changed attrs; returns what bn_tpl_leave restores. */
bn_tpl_changes bn_tpl_enter(bn_tpl *t, bn_tpl_changes callee_changed);
static inline void bn_tpl_leave(bn_tpl *t, bn_tpl_changes saved) { t->changed = saved; }

/** The value of the current dynamic: written as escaped text. */
void bn_tpl_put_cstr(bn_tpl *t, const char *s);
void bn_tpl_put_str(bn_tpl *t, bn_str s);
void bn_tpl_put_safe(bn_tpl *t, bn_safe s);
void bn_tpl_put_char(bn_tpl *t, char c);
void bn_tpl_put_bool(bn_tpl *t, bool b);
void bn_tpl_put_ll(bn_tpl *t, long long v);
void bn_tpl_put_ull(bn_tpl *t, unsigned long long v);
void bn_tpl_put_double(bn_tpl *t, double v);
void bn_tpl_put_slot(bn_tpl *t, bn_tpl_slot s);
/** The current dynamic is empty (a false :if). */
void bn_tpl_put_empty(bn_tpl *t);
/** Named by bn_tpl_put for a type it cannot write: calling it is a compile error
 *  reported at the template's line (the generated call sits under a #line). */
void bn_tpl_put_unsupported(bn_tpl *t, ...)
    __attribute__((error("a template cannot write a value of this type: write a string (const char *, bn_str, "
                         "raw(...)), a number, a bool or a char")));
/** `<%= expr %>`: dispatched on the C type of the value; see bn_tpl_put_unsupported. */
#define bn_tpl_put(t, v)                                                                                          \
    _Generic((v), char *: bn_tpl_put_cstr, const char *: bn_tpl_put_cstr, bn_str: bn_tpl_put_str,            \
             bn_safe: bn_tpl_put_safe, char: bn_tpl_put_char, bool: bn_tpl_put_bool, signed char: bn_tpl_put_ll, \
             short: bn_tpl_put_ll, int: bn_tpl_put_ll, long: bn_tpl_put_ll, long long: bn_tpl_put_ll,          \
             unsigned char: bn_tpl_put_ull, unsigned short: bn_tpl_put_ull, unsigned: bn_tpl_put_ull,          \
             unsigned long: bn_tpl_put_ull, unsigned long long: bn_tpl_put_ull, float: bn_tpl_put_double,      \
             double: bn_tpl_put_double, bn_tpl_slot: bn_tpl_put_slot, default: bn_tpl_put_unsupported)(t, v)

/** `name={expr}`: writes ` name="escaped"`, ` name` for true, nothing for false or NULL. */
void bn_tpl_attr_put(bn_tpl *t, bn_tpl_attr a);
#define bn_tpl_attr(t, name, v) bn_tpl_attr_put((t), bn_tpl__attr_value((t), name, v))
/** `name={["a", cond && "b", @c]}`: the non-NULL, non-empty items joined by spaces. */
void bn_tpl_attr_list(bn_tpl *t, const char *name, const char *const *items, size_t n);
/** `{@rest}` in a tag: every attribute of the set. */
void bn_tpl_attrs_put(bn_tpl *t, bn_tpl_attrs attrs);

/** A number or string formatted into the template's arena (for verified paths). */
const char *bn_tpl_fmt_cstr(bn_tpl *t, const char *s);
const char *bn_tpl_fmt_str(bn_tpl *t, bn_str s);
const char *bn_tpl_fmt_ll(bn_tpl *t, long long v);
const char *bn_tpl_fmt_ull(bn_tpl *t, unsigned long long v);
#define bn_tpl_fmt(t, v)                                                                                       \
    _Generic((v), char *: bn_tpl_fmt_cstr, const char *: bn_tpl_fmt_cstr, bn_str: bn_tpl_fmt_str,           \
             short: bn_tpl_fmt_ll, int: bn_tpl_fmt_ll, long: bn_tpl_fmt_ll, long long: bn_tpl_fmt_ll,       \
             unsigned short: bn_tpl_fmt_ull, unsigned: bn_tpl_fmt_ull, unsigned long: bn_tpl_fmt_ull,       \
             unsigned long long: bn_tpl_fmt_ull)(t, v)
/**
 * A verified path `~p"/users/#{id}?tab=#{t}"`: the pattern's parts joined with
 * the values, each percent-encoded (as a path segment before '?', as a query
 * value after it). Allocated from the render's arena.
 */
const char *bn_tpl_path(bn_tpl *t, const char *const *parts, const char *const *values, size_t nvalues);

/* An element attribute from any supported C value: strings and booleans as bn_tpl_attr_of,
 * integers formatted into the template's arena (phx-value-id={item.id}). */
static inline bn_tpl_attr bn_tpl__attr_cstr(bn_tpl *t, const char *n, const char *v) { (void)t; return bn_tpl_attr_cstr(n, v); }
static inline bn_tpl_attr bn_tpl__attr_str(bn_tpl *t, const char *n, bn_str v) { (void)t; return bn_tpl_attr_str(n, v); }
static inline bn_tpl_attr bn_tpl__attr_bool(bn_tpl *t, const char *n, bool v) { (void)t; return bn_tpl_attr_bool(n, v); }
static inline bn_tpl_attr bn_tpl__attr_safe(bn_tpl *t, const char *n, bn_safe v) { (void)t; return bn_tpl_attr_safe(n, v); }
static inline bn_tpl_attr bn_tpl__attr_ll(bn_tpl *t, const char *n, long long v) { return bn_tpl_attr_cstr(n, bn_tpl_fmt_ll(t, v)); }
static inline bn_tpl_attr bn_tpl__attr_ull(bn_tpl *t, const char *n, unsigned long long v)
{
    return bn_tpl_attr_cstr(n, bn_tpl_fmt_ull(t, v));
}
#define bn_tpl__attr_value(t, name, v)                                                                                 \
    _Generic((v), char *: bn_tpl__attr_cstr, const char *: bn_tpl__attr_cstr, bn_str: bn_tpl__attr_str,              \
             bool: bn_tpl__attr_bool, bn_safe: bn_tpl__attr_safe, short: bn_tpl__attr_ll, int: bn_tpl__attr_ll,       \
             long: bn_tpl__attr_ll, long long: bn_tpl__attr_ll, unsigned short: bn_tpl__attr_ull,                    \
             unsigned: bn_tpl__attr_ull, unsigned long: bn_tpl__attr_ull, unsigned long long: bn_tpl__attr_ull)(t, name, v)

/** A comprehension (:for): open, one item per element, close. */
void bn_tpl_for_open(bn_tpl *t, const bn_tpl_block *body);
void bn_tpl_for_item(bn_tpl *t);
void bn_tpl_for_close(bn_tpl *t);

/** Content under C control flow (`<% if (x) { %>…<% } %>`) becomes one string dynamic. */
void bn_tpl_capture_begin(bn_tpl *t);
void bn_tpl_capture_end(bn_tpl *t);

/** Renders a slot with the caller's changes; an absent slot renders nothing. */
void bn_tpl_render_slot(bn_tpl *t, const bn_tpl_slot *s, const void *arg);

/** Records a render error (the first one wins); rendering goes on. */
void bn_tpl_fail(bn_tpl *t, const char *message);

#ifdef __cplusplus
}
#endif

#endif
