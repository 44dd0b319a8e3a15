/*
 * The template compiler's internals: bennu-tpl reads `*.html.bnx` files and
 * writes C. Four stages, one file each:
 *
 *   module.c  find and load modules (a file and the modules it imports)
 *   parse.c   markup to a tree of nodes, directives to declarations
 *   expr.c    C expressions: @assigns, raw(), ~p"…", braces, literals
 *   gen.c     checks every component call and writes the C
 *
 * Everything a compile allocates comes from one arena, freed at the end.
 */
#ifndef BENNU_TPL_COMPILER_H
#define BENNU_TPL_COMPILER_H

#include <setjmp.h>
#include <stdio.h>

#include "bennu/core.h"

typedef struct tpl_pos {
    int line, col; /* 1-based; col counts bytes */
} tpl_pos;

/* A source file and where diagnostics about it go. */
typedef struct tpl_src {
    const char *path;
    const char *text;
    size_t len;
    /* Where each line starts, built on the first tpl_pos_of (positions are
     * asked for in every node: a rescan from the top would be quadratic). */
    size_t *line_starts;
    size_t nlines;
} tpl_src;

typedef struct tpl_diag {
    FILE *out;
    int errors;
} tpl_diag;

/* Prints "FILE:LINE:COL: error: message", the line and a caret. */
void tpl_error(tpl_diag *d, const tpl_src *src, tpl_pos pos, const char *fmt, ...) BN_PRINTF(4, 5);

/* ------------------------------------------------------------------------ */
/* Declarations: assigns, attrs, slots, components                            */

typedef struct tpl_attr_decl {
    const char *type; /* C type, e.g. "const char *" */
    const char *name;
    const char *deflt;  /* C expression or NULL */
    const char **values; /* allowed values as written (C literals), or NULL */
    size_t nvalues;
    bool required;
    bool global;           /* `attr global rest`: collects HTML attributes */
    const char **include;  /* extra attribute names a global attr accepts */
    size_t ninclude;
    tpl_pos pos;
} tpl_attr_decl;

typedef struct tpl_slot_decl {
    const char *name; /* "inner_block" for the default slot */
    bool required;
    tpl_attr_decl *attrs; /* named slots only */
    size_t nattrs;
    tpl_pos pos;
} tpl_slot_decl;

typedef struct tpl_node tpl_node;

/* A component or a module's page template. */
typedef struct tpl_component {
    const char *name;     /* "button"; NULL for the page template */
    const char *cname;    /* C function: "core_components_button" */
    const char *atype;    /* assigns type: "core_components_button_assigns" */
    tpl_attr_decl *attrs; /* page: the declared assigns (no defaults) */
    size_t nattrs;
    tpl_slot_decl *slots;
    size_t nslots;
    bool layout;       /* assigns are bn_layout_assigns */
    bool builtin;      /* bn_link: no generated code */
    tpl_node *body;    /* a fragment node */
    tpl_pos pos;
    struct tpl_module *module;
} tpl_component;

typedef struct tpl_module {
    const char *name; /* C prefix: "core_components" */
    const char *path;
    const char *header; /* generated header's file name: "core_components.html.h" */
    tpl_src src;
    const char **includes; /* as written: "\"app.h\"" or "<stdio.h>" */
    size_t nincludes;
    struct tpl_module **imports;
    size_t nimports;
    tpl_component **components;
    size_t ncomponents;
    tpl_component *page; /* NULL if the file only defines components */
    bool parsed_ok;
} tpl_module;

/* ------------------------------------------------------------------------ */
/* The markup tree                                                            */

typedef enum {
    TPL_FRAGMENT, /* a list of children (template body, slot content) */
    TPL_TEXT,     /* static HTML as written */
    TPL_EXPR,     /* <%= expr %> or {expr} */
    TPL_CODE,     /* <% stmt %> */
    TPL_ELEMENT,  /* <div …>…</div> */
    TPL_CALL,     /* <.name …> or <Module.name …> */
    TPL_SLOT,     /* <:name …>…</:name> inside a call */
} tpl_node_kind;

typedef enum {
    TPL_ATTR_STATIC, /* name="value" (value as written, quotes excluded) */
    TPL_ATTR_BARE,   /* name */
    TPL_ATTR_EXPR,   /* name={expr} */
    TPL_ATTR_LIST,   /* name={[a, b && "c"]} */
    TPL_ATTR_SPREAD, /* {expr} */
} tpl_attr_kind;

typedef struct tpl_attr {
    tpl_attr_kind kind;
    bn_str name;
    bn_str value;
    char quote;
    tpl_pos pos, vpos; /* of the name, of the value's first byte */
} tpl_attr;

/* :if, :for, :let, :key */
typedef struct tpl_special {
    bn_str code;
    tpl_pos pos;
} tpl_special;

struct tpl_node {
    tpl_node_kind kind;
    tpl_pos pos;
    bn_str text;    /* TEXT: HTML; EXPR/CODE: the C; ELEMENT/SLOT: tag or slot name; CALL: component name */
    bn_str module;  /* CALL: "Layouts" for <Layouts.app>, empty for <.app> */
    bn_str tag;     /* ELEMENT/CALL/SLOT: the name as written ("div", ".button", ":col") */
    tpl_pos text_pos;
    tpl_attr *attrs;
    size_t nattrs;
    tpl_special s_if, s_for, s_let, s_key;
    tpl_node **children;
    size_t nchildren;
    bool self_closing;
    int braces; /* CODE: '{' minus '}' */
};

/* ------------------------------------------------------------------------ */
/* Stages                                                                     */

typedef struct tpl_compiler {
    bn_arena arena;
    tpl_diag diag;
    const char **include_dirs;
    size_t ninclude_dirs;
    tpl_module **modules; /* every module loaded, in load order */
    size_t nmodules;
    const char **deps; /* files read (for the depfile) */
    size_t ndeps;
} tpl_compiler;

void tpl_compiler_init(tpl_compiler *c, FILE *diag);
void tpl_compiler_free(tpl_compiler *c);

/* Loads a module from memory (path names it in diagnostics). NULL on a syntax error. */
tpl_module *tpl_module_parse(tpl_compiler *c, const char *path, const char *text, size_t len);
/* Loads a module from a file. */
tpl_module *tpl_module_load(tpl_compiler *c, const char *path);
/* The module "core_components" (or "CoreComponents"), searched next to `from` and in the -I dirs. */
tpl_module *tpl_module_find(tpl_compiler *c, const tpl_module *from, const char *name, size_t len);
/* The built-in module that holds <.link>. */
tpl_module *tpl_builtins(tpl_compiler *c);

/* parse.c: fills m (includes, imports by name, components, page). False on error. */
typedef struct tpl_import_ref {
    bn_str name;
    tpl_pos pos;
} tpl_import_ref;
bool tpl_parse(tpl_compiler *c, tpl_module *m, tpl_import_ref **imports, size_t *nimports);

/* gen.c: checks and writes the module's C. False on error. */
bool tpl_generate(tpl_compiler *c, tpl_module *m, const char *c_path, bn_buf *out_c, bn_buf *out_h);

/* Helpers shared by the stages */
void *tpl_alloc(tpl_compiler *c, size_t size);
char *tpl_strndup(tpl_compiler *c, const char *s, size_t len);
char *tpl_printf(tpl_compiler *c, const char *fmt, ...) BN_PRINTF(2, 3);
/* Appends to a growable array of pointers kept in the arena. */
void tpl_push(tpl_compiler *c, void ***items, size_t *n, void *item);
/* The position of byte `p` of src->text. */
tpl_pos tpl_pos_of(const tpl_src *src, const char *p);
void tpl_src_free(tpl_src *src);
/* Appends a whole file to `out`; false (errno set) if it cannot be read. */
bool tpl_read_file(const char *path, bn_buf *out);
/* `s` without surrounding white space. */
bn_str tpl_trim(bn_str s);
/* "CoreComponents" -> "core_components"; "core_components" unchanged. */
char *tpl_snake_case(tpl_compiler *c, const char *name, size_t len);

/* expr.c */
/* Skips a C string or character literal starting at *p (a quote); false if unterminated. */
bool tpl_skip_c_literal(const char **p, const char *end);
/* If *p starts a C literal or comment, moves past it and returns 1 (0 if
 * nothing is there, -1 if it is unterminated: *p is then `end`). */
int tpl_skip_c_noise(const char **p, const char *end);
/* The end of a {…} expression starting after '{' (points at the matching '}'), or NULL. */
const char *tpl_find_brace_end(const char *p, const char *end);
/* '{' minus '}' outside literals and comments. */
int tpl_brace_balance(bn_str code);

#endif
