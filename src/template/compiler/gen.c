/*
 * From the tree to C. Each template becomes a function that walks its
 * blocks: a block's statics are one constant array; its dynamics are
 * `if (bn_tpl_dyn(t, READS)) { … }` sections, READS being the assigns the
 * section's expressions mention (what LiveView's change tracking needs).
 * Component calls are checked against the component's declaration here.
 *
 * Naming in the output: everything generated is prefixed by the module name
 * and "__" (M__b3 is block 3, M__slot5 a slot function); the render context
 * is `bn__t` and the assigns pointer `assigns`, as in Phoenix.
 */
#include <ctype.h>

#include "template/compiler/tpl.h"

#define ALL_READS UINT64_MAX

typedef struct local {
    const char *type;
    const char *name;
    const tpl_component *slot_owner; /* bound by :for over a named slot */
} local;

typedef struct scope {
    const tpl_component *comp; /* whose assigns `assigns` points to */
    local *locals;
    size_t nlocals;
} scope;

typedef struct block {
    int id;
    bn_buf cur;     /* the static being collected */
    bn_buf statics; /* C initializers of the finished statics */
    unsigned nstatics;
    bn_buf *code;
    bool list_body; /* a comprehension's body: no open/close */
    bool dirty;     /* after a <% %> statement every dynamic reads everything */
    uint32_t hash;
    tpl_pos pos;
} block;

typedef struct gen {
    tpl_compiler *c;
    tpl_module *m;
    const tpl_src *src;
    const char *c_path;
    bn_buf top; /* statics, blocks, env structs, prototypes */
    bn_buf fns; /* function definitions */
    int seq;
    bool uses_view;
    uint64_t touched; /* every assign read so far (slot contents measure theirs) */
    int depth;        /* of ~p"#{…}" nesting, bounded */
    tpl_module **used;
    size_t nused;
} gen;

static void gen_nodes(gen *g, block *b, const scope *sc, tpl_node **nodes, size_t n);

/* ------------------------------------------------------------------------ */
/* Small helpers                                                              */

#define ERR(g, pos, ...) tpl_error(&(g)->c->diag, (g)->src, (pos), __VA_ARGS__)

static tpl_pos pos_of(gen *g, const char *p) { return tpl_pos_of(g->src, p); }

/* Appends `s` as the inside of a C string literal. */
static void c_escape(bn_buf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            bn_buf_printf(out, "\\%c", ch);
        } else if (ch == '\n') {
            bn_buf_append(out, "\\n", 2);
        } else if (ch == '\t') {
            bn_buf_append(out, "\\t", 2);
        } else if (ch < 0x20 || ch >= 0x7f || (ch == '?' && i + 1 < len && s[i + 1] == '?')) {
            bn_buf_printf(out, "\\%03o", ch); /* octal: never swallows a following digit */
        } else {
            bn_buf_append(out, &ch, 1);
        }
    }
}

static void c_string(bn_buf *out, const char *s, size_t len)
{
    bn_buf_append(out, "\"", 1);
    c_escape(out, s, len);
    bn_buf_append(out, "\"", 1);
}

static const char *mask_text(gen *g, uint64_t m)
{
    return m == ALL_READS ? "BN_TPL_ALL" : tpl_printf(g->c, "(bn_tpl_changes)0x%llxu", (unsigned long long)m);
}

static uint64_t bit(size_t index) { return (uint64_t)1 << (index < 63 ? index : 63); }

/* User code with a #line directive so that the C compiler's messages point
 * into the template; "#line @@" is resolved when the file is assembled.
 * `prefix` and `suffix` share the line (a macro call around an expression
 * is then reported at the template's line too); the code starts at its
 * template column when the prefix leaves room. */
static void emit_call(gen *g, bn_buf *out, const char *prefix, const char *code, const char *suffix, tpl_pos pos)
{
    bn_buf_printf(out, "\n#line %d ", pos.line);
    c_string(out, g->src->path, strlen(g->src->path));
    bn_buf_append(out, "\n", 1);
    for (int i = 1 + (int)strlen(prefix); i < pos.col; i++)
        bn_buf_append(out, " ", 1);
    bn_buf_printf(out, "%s%s%s\n#line @@\n", prefix, code, suffix);
}

static void emit_user(gen *g, bn_buf *out, const char *code, tpl_pos pos) { emit_call(g, out, "", code, "", pos); }

static bool is_ident_char(char ch) { return isalnum((unsigned char)ch) || ch == '_'; }

static bool valid_ident(const char *s)
{
    if (!*s || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!is_ident_char(*s))
            return false;
    return true;
}

/* Splits C code on top-level commas (outside brackets and literals). */
static size_t split_commas(gen *g, bn_str code, bn_str **out)
{
    size_t n = 0, cap = 4;
    bn_str *items = tpl_alloc(g->c, cap * sizeof *items);
    const char *p = code.ptr, *end = code.ptr + code.len, *start = p;
    int depth = 0;
    for (;;) {
        if (p < end && tpl_skip_c_noise(&p, end))
            continue;
        if (p == end || (*p == ',' && depth == 0)) {
            if (n == cap) {
                bn_str *grown = tpl_alloc(g->c, cap * 2 * sizeof *grown);
                memcpy(grown, items, n * sizeof *grown);
                items = grown;
                cap *= 2;
            }
            items[n++] = tpl_trim(bn_str_make(start, (size_t)(p - start)));
            if (p == end)
                break;
            start = p + 1;
        } else if (*p == '(' || *p == '[' || *p == '{') {
            depth++;
        } else if (*p == ')' || *p == ']' || *p == '}') {
            depth--;
        }
        p++;
    }
    *out = items;
    return n;
}

/* Finds the top-level occurrence of `op` in code (outside literals/brackets). */
static const char *find_top(bn_str code, const char *op)
{
    size_t oplen = strlen(op);
    const char *p = code.ptr, *end = code.ptr + code.len;
    int depth = 0;
    while (p < end) {
        int skipped = tpl_skip_c_noise(&p, end);
        if (skipped < 0)
            return NULL;
        if (skipped)
            continue;
        if (*p == '(' || *p == '[' || *p == '{')
            depth++;
        else if (*p == ')' || *p == ']' || *p == '}')
            depth--;
        else if (depth == 0 && (size_t)(end - p) >= oplen && memcmp(p, op, oplen) == 0)
            return p;
        p++;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Fields of a template's assigns: attrs then slots, in declaration order     */

static size_t nfields(const tpl_component *comp) { return comp->nattrs + comp->nslots; }

static const char *field_name(const tpl_component *comp, size_t i)
{
    return i < comp->nattrs ? comp->attrs[i].name : comp->slots[i - comp->nattrs].name;
}

static long field_index(const tpl_component *comp, const char *name, size_t len)
{
    for (size_t i = 0; i < nfields(comp); i++) {
        const char *f = field_name(comp, i);
        if (strlen(f) == len && memcmp(f, name, len) == 0)
            return (long)i;
    }
    return -1;
}

static const tpl_slot_decl *find_slot(const tpl_component *comp, const char *name, size_t len)
{
    for (size_t i = 0; i < comp->nslots; i++)
        if (strlen(comp->slots[i].name) == len && memcmp(comp->slots[i].name, name, len) == 0)
            return &comp->slots[i];
    return NULL;
}

static const local *find_local(const scope *sc, const char *name, size_t len)
{
    for (size_t i = sc->nlocals; i-- > 0;)
        if (strlen(sc->locals[i].name) == len && memcmp(sc->locals[i].name, name, len) == 0)
            return &sc->locals[i];
    return NULL;
}

static scope scope_with(gen *g, const scope *sc, local l)
{
    scope s = *sc;
    s.locals = tpl_alloc(g->c, (sc->nlocals + 1) * sizeof *s.locals);
    if (sc->nlocals)
        memcpy(s.locals, sc->locals, sc->nlocals * sizeof *s.locals);
    s.locals[s.nlocals++] = l;
    return s;
}

/* ------------------------------------------------------------------------ */
/* Expressions: @assigns, raw(), ~p"…"                                         */

static char *rewrite(gen *g, const scope *sc, bn_str code, uint64_t *reads);

/* ~p"/users/#{@id}": registers the pattern and returns the C that builds it. */
static const char *verified_path(gen *g, const scope *sc, const char *at, const char **pp, const char *end,
                                 uint64_t *reads)
{
    const char *p = *pp + 3; /* past ~p" */
    bn_buf pattern = BN_BUF_INIT, parts = BN_BUF_INIT, values = BN_BUF_INIT;
    const char *lit = p;
    size_t nvalues = 0;
    for (;;) {
        if (p >= end || *p == '\n') {
            ERR(g, pos_of(g, at), "unterminated ~p\"…\" path");
            break;
        }
        bool interp = p + 1 < end && p[0] == '#' && p[1] == '{';
        if (*p == '"' || interp) {
            bn_buf_append(&pattern, lit, (size_t)(p - lit));
            bn_buf_printf(&parts, "%s\"%.*s\"", parts.len ? ", " : "", (int)(p - lit), lit);
            if (*p == '"') {
                p++;
                break;
            }
            const char *close = tpl_find_brace_end(p + 2, end);
            if (!close) {
                ERR(g, pos_of(g, p), "unterminated #{…} in ~p path");
                p = end;
                break;
            }
            bn_str e = tpl_trim(bn_str_make(p + 2, (size_t)(close - p - 2)));
            if (!e.len)
                ERR(g, pos_of(g, p), "empty #{} in ~p path");
            bn_buf_printf(&values, "%sbn_tpl_fmt(bn__t, (%s))", values.len ? ", " : "", rewrite(g, sc, e, reads));
            bn_buf_append(&pattern, "#{}", 3);
            nvalues++;
            p = lit = close + 1;
            continue;
        }
        if (*p == '\\' && p + 1 < end)
            p++;
        p++;
    }
    *pp = p;
    if (!parts.len) { /* unterminated before any part: reported above */
        bn_buf_free(&pattern);
        bn_buf_free(&values);
        return "\"\"";
    }
    if (pattern.len == 0 || pattern.data[0] != '/')
        ERR(g, pos_of(g, at), "a verified path must start with '/'");
    int id = g->seq++;
    tpl_pos pos = pos_of(g, at);
    bn_buf_printf(&g->top, "static const bn_verified_path %s__vp%d = {\"%.*s\", false, ", g->m->name, id,
                  (int)pattern.len, pattern.data ? pattern.data : "");
    c_string(&g->top, g->src->path, strlen(g->src->path));
    bn_buf_printf(&g->top, ", %d, %d};\nBN_VERIFIED_PATH_REGISTER(%s__vp%d);\n", pos.line, pos.col, g->m->name, id);
    g->uses_view = true;
    const char *out = nvalues == 0
                          ? tpl_printf(g->c, "(\"%.*s\")", (int)parts.len - 2, parts.data + 1)
                          : tpl_printf(g->c, "bn_tpl_path(bn__t, (const char *const[]){%.*s}, (const char *const[]){%.*s}, %zu)",
                                       (int)parts.len, parts.data, (int)values.len, values.data, nvalues);
    bn_buf_free(&pattern);
    bn_buf_free(&parts);
    bn_buf_free(&values);
    return out;
}

static char *rewrite(gen *g, const scope *sc, bn_str code, uint64_t *reads)
{
    if (g->depth >= 32) {
        ERR(g, pos_of(g, code.ptr), "expression nested too deeply");
        return "0";
    }
    g->depth++;
    bn_buf out = BN_BUF_INIT;
    const char *p = code.ptr, *end = code.ptr + code.len;
    char prev = 0; /* last non-space character copied */
    while (p < end) {
        if (p[0] == '~' && p + 2 < end && p[1] == 'p' && p[2] == '"') {
            const char *at = p;
            bn_buf_printf(&out, "%s", verified_path(g, sc, at, &p, end, reads));
            prev = ')';
            continue;
        }
        const char *s0 = p;
        int skipped = tpl_skip_c_noise(&p, end);
        if (skipped) {
            if (skipped < 0)
                ERR(g, pos_of(g, s0), *s0 == '/' ? "unterminated comment" : "unterminated C literal");
            bn_buf_append(&out, s0, (size_t)(p - s0));
            if (*s0 != '/')
                prev = '"';
            continue;
        }
        if (*p == '@') {
            const char *s = ++p;
            while (p < end && is_ident_char(*p))
                p++;
            long idx = field_index(sc->comp, s, (size_t)(p - s));
            if (p == s) {
                ERR(g, pos_of(g, s - 1), "expected an assign name after '@'");
            } else if (idx < 0) {
                ERR(g, pos_of(g, s - 1), "unknown assign @%.*s", (int)(p - s), s);
            } else {
                *reads |= bit((size_t)idx);
                g->touched |= bit((size_t)idx);
            }
            bn_buf_printf(&out, "assigns->%.*s", (int)(p - s), s);
            prev = 'a';
            continue;
        }
        if (isalpha((unsigned char)*p) || *p == '_') {
            const char *s = p;
            while (p < end && is_ident_char(*p))
                p++;
            size_t len = (size_t)(p - s);
            const char *q = p;
            while (q < end && isspace((unsigned char)*q))
                q++;
            bool call = q < end && *q == '(';
            bool member = prev == '.' || prev == '>';
            if (len == 3 && memcmp(s, "raw", 3) == 0 && call && !member)
                bn_buf_append(&out, "bn_raw", 6);
            else
                bn_buf_append(&out, s, len);
            if (len == 7 && memcmp(s, "assigns", 7) == 0 && !member)
                *reads = g->touched = ALL_READS;
            prev = 'a';
            continue;
        }
        if (!isspace((unsigned char)*p))
            prev = *p;
        bn_buf_append(&out, p, 1);
        p++;
    }
    char *s = tpl_strndup(g->c, out.data ? out.data : "", out.len);
    bn_buf_free(&out);
    g->depth--;
    return s;
}

/* ------------------------------------------------------------------------ */
/* Blocks                                                                     */

static void blk_open(gen *g, block *b, bn_buf *code, bool list_body, bool dirty, tpl_pos pos)
{
    memset(b, 0, sizeof *b);
    b->id = g->seq++;
    b->code = code;
    b->list_body = list_body;
    b->dirty = dirty;
    b->pos = pos;
    b->hash = 2166136261u;
    if (!list_body)
        bn_buf_printf(code, "bn_tpl_open(bn__t, &%s__b%d);\n", g->m->name, b->id);
}

static void blk_flush(gen *g, block *b)
{
    bn_buf_append(&b->statics, "    BN_STR(", 11);
    c_string(&b->statics, b->cur.data ? b->cur.data : "", b->cur.len);
    bn_buf_append(&b->statics, "),\n", 3);
    for (size_t i = 0; i < b->cur.len; i++)
        b->hash = (b->hash ^ (unsigned char)b->cur.data[i]) * 16777619u;
    b->hash = (b->hash ^ 0xff) * 16777619u; /* separates statics */
    if (b->cur.len)
        bn_buf_printf(b->code, "bn_tpl_text(bn__t, &%s__b%d, %u);\n", g->m->name, b->id, b->nstatics);
    b->nstatics++;
    b->cur.len = 0;
}

/* A dynamic: the statics so far end, `inner` runs when the reads changed. */
static void blk_dyn(gen *g, block *b, uint64_t reads, bn_buf *inner)
{
    blk_flush(g, b);
    bn_buf_printf(b->code, "if (bn_tpl_dyn(bn__t, %s)) {\n", mask_text(g, b->dirty ? ALL_READS : reads));
    bn_buf_append(b->code, inner->data, inner->len);
    bn_buf_append(b->code, "}\n", 2);
    bn_buf_free(inner);
}

static void blk_close(gen *g, block *b)
{
    blk_flush(g, b);
    if (!b->list_body)
        bn_buf_printf(b->code, "bn_tpl_close(bn__t, &%s__b%d);\n", g->m->name, b->id);
    const char *base = strrchr(g->src->path, '/');
    base = base ? base + 1 : g->src->path;
    for (const char *p = g->m->name; *p; p++)
        b->hash = (b->hash ^ (unsigned char)*p) * 16777619u;
    b->hash = (b->hash ^ (uint32_t)b->id) * 16777619u;
    bn_buf_printf(&g->top, "static const bn_str %s__s%d[] = {\n%.*s};\n", g->m->name, b->id, (int)b->statics.len,
                  b->statics.data);
    bn_buf_printf(&g->top, "static const bn_tpl_block %s__b%d = {%s__s%d, %u, 0x%08xu, ", g->m->name, b->id,
                  g->m->name, b->id, b->nstatics - 1, b->hash);
    bn_buf *where = &(bn_buf)BN_BUF_INIT;
    bn_buf_printf(where, "%s:%d", base, b->pos.line);
    c_string(&g->top, where->data, where->len);
    bn_buf_free(where);
    bn_buf_append(&g->top, "};\n", 3);
    bn_buf_free(&b->cur);
    bn_buf_free(&b->statics);
}

/* ------------------------------------------------------------------------ */
/* Expressions and render_slot                                                */

static bool render_slot_call(gen *g, const scope *sc, const tpl_node *n, bn_buf *inner, uint64_t *reads)
{
    bn_str t = n->text;
    if (t.len < 12 || memcmp(t.ptr, "render_slot", 11) != 0 || is_ident_char(t.ptr[11]))
        return false;
    const char *open = t.ptr + 11;
    while (open < t.ptr + t.len && isspace((unsigned char)*open))
        open++;
    if (open >= t.ptr + t.len || *open != '(' || t.ptr[t.len - 1] != ')')
        return false;
    bn_str *args;
    size_t nargs = split_commas(g, bn_str_make(open + 1, (size_t)(t.ptr + t.len - 1 - open - 1)), &args);
    if (nargs < 1 || nargs > 2 || args[0].len == 0) {
        ERR(g, n->text_pos, "render_slot takes a slot and an optional argument: render_slot(@inner_block[, arg])");
        return true;
    }
    const char *arg = "NULL";
    if (nargs == 2)
        arg = tpl_printf(g->c, "(const void *)(%s)", rewrite(g, sc, args[1], reads));
    bn_str s = args[0];
    if (s.ptr[0] == '@') {
        const tpl_slot_decl *slot = find_slot(sc->comp, s.ptr + 1, s.len - 1);
        if (!slot) {
            ERR(g, pos_of(g, s.ptr), "render_slot expects a slot: %.*s is not a slot of this component",
                (int)s.len, s.ptr);
            return true;
        }
        *reads |= bit((size_t)field_index(sc->comp, slot->name, strlen(slot->name)));
        if (strcmp(slot->name, "inner_block") == 0)
            bn_buf_printf(inner, "bn_tpl_render_slot(bn__t, &assigns->inner_block, %s);\n", arg);
        else
            bn_buf_printf(inner,
                          "for (size_t bn__i = 0; bn__i < assigns->%s_count; bn__i++)\n"
                          "    bn_tpl_render_slot(bn__t, &assigns->%s[bn__i].inner_block, %s);\n",
                          slot->name, slot->name, arg);
        return true;
    }
    const local *l = find_local(sc, s.ptr, s.len);
    if (!l || !l->slot_owner) {
        ERR(g, pos_of(g, s.ptr), "render_slot expects a slot: @%.*s, or an entry bound by :for={x <- @slot}",
            (int)s.len, s.ptr);
        return true;
    }
    bn_buf_printf(inner, "bn_tpl_render_slot(bn__t, &%s->inner_block, %s);\n", l->name, arg);
    return true;
}

static void gen_expr(gen *g, block *b, const scope *sc, const tpl_node *n)
{
    bn_buf inner = BN_BUF_INIT;
    uint64_t reads = 0;
    if (!render_slot_call(g, sc, n, &inner, &reads)) {
        emit_call(g, &inner, "bn_tpl_put(bn__t, ", rewrite(g, sc, n->text, &reads), ");", n->text_pos);
    }
    blk_dyn(g, b, reads, &inner);
}

/* ------------------------------------------------------------------------ */
/* HTML elements                                                              */

/* One item of class={[…]}: `cond && "name"` becomes `(cond) ? "name" : NULL`. */
static const char *list_item(gen *g, const scope *sc, bn_str item, uint64_t *reads)
{
    const char *and = find_top(item, "&&");
    if (and) {
        bn_str rhs = tpl_trim(bn_str_make(and + 2, (size_t)(item.ptr + item.len - and - 2)));
        if (rhs.len >= 2 && rhs.ptr[0] == '"' && rhs.ptr[rhs.len - 1] == '"' && !find_top(rhs, "&&")) {
            bn_str lhs = tpl_trim(bn_str_make(item.ptr, (size_t)(and - item.ptr)));
            return tpl_printf(g->c, "(%s) ? %.*s : NULL", rewrite(g, sc, lhs, reads), (int)rhs.len, rhs.ptr);
        }
    }
    return rewrite(g, sc, item, reads);
}

static void gen_attr(gen *g, block *b, const scope *sc, const tpl_attr *a)
{
    bn_buf inner = BN_BUF_INIT;
    uint64_t reads = 0;
    bn_buf name = BN_BUF_INIT;
    c_string(&name, a->name.ptr ? a->name.ptr : "", a->name.len);
    switch (a->kind) {
    case TPL_ATTR_STATIC:
        bn_buf_printf(&b->cur, " %.*s=%c%.*s%c", BN_STR_ARG(a->name), a->quote, BN_STR_ARG(a->value), a->quote);
        break;
    case TPL_ATTR_BARE:
        bn_buf_printf(&b->cur, " %.*s", BN_STR_ARG(a->name));
        break;
    case TPL_ATTR_EXPR:
        emit_call(g, &inner, tpl_printf(g->c, "bn_tpl_attr(bn__t, %.*s, ", (int)name.len, name.data),
                  rewrite(g, sc, a->value, &reads), ");", a->vpos);
        blk_dyn(g, b, reads, &inner);
        break;
    case TPL_ATTR_LIST: {
        bn_str t = tpl_trim(a->value);
        bn_str *items;
        size_t n = split_commas(g, bn_str_make(t.ptr + 1, t.len - 2), &items);
        bn_buf list = BN_BUF_INIT;
        for (size_t i = 0; i < n; i++) {
            if (!items[i].len) {
                ERR(g, a->vpos, "empty item in attribute list");
                continue;
            }
            bn_buf_printf(&list, "%s%s", i ? ", " : "", list_item(g, sc, items[i], &reads));
        }
        bn_buf_printf(&inner, "bn_tpl_attr_list(bn__t, %.*s, (const char *const[]){", (int)name.len, name.data);
        tpl_pos pos = a->vpos;
        emit_user(g, &inner, list.len ? tpl_strndup(g->c, list.data, list.len) : "NULL", pos);
        bn_buf_printf(&inner, "}, %zu);\n", n);
        bn_buf_free(&list);
        blk_dyn(g, b, reads, &inner);
        break;
    }
    case TPL_ATTR_SPREAD:
        emit_call(g, &inner, "bn_tpl_attrs_put(bn__t, ", rewrite(g, sc, a->value, &reads), ");", a->vpos);
        blk_dyn(g, b, reads, &inner);
        break;
    }
    bn_buf_free(&name);
}

static void gen_element_inline(gen *g, block *b, const scope *sc, const tpl_node *n)
{
    bn_buf_printf(&b->cur, "<%.*s", BN_STR_ARG(n->tag));
    for (size_t i = 0; i < n->nattrs; i++)
        gen_attr(g, b, sc, &n->attrs[i]);
    static const char *const voids = " area base br col embed hr img input link meta param source track wbr ";
    char key[64];
    bool is_void = false;
    if (n->tag.len < sizeof key - 2) {
        snprintf(key, sizeof key, " %.*s ", BN_STR_ARG(n->tag));
        for (char *p = key; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        is_void = strstr(voids, key) != NULL;
    }
    if (is_void) {
        bn_buf_append(&b->cur, n->self_closing ? "/>" : ">", n->self_closing ? 2 : 1);
        return;
    }
    bn_buf_append(&b->cur, ">", 1);
    gen_nodes(g, b, sc, n->children, n->nchildren);
    bn_buf_printf(&b->cur, "</%.*s>", BN_STR_ARG(n->tag));
}

/* ------------------------------------------------------------------------ */
/* Component calls                                                            */

static bool type_is(const char *type, const char *want)
{
    bn_str t = tpl_trim(bn_str_from_cstr(type));
    if (t.len > 6 && memcmp(t.ptr, "const ", 6) == 0)
        t = tpl_trim(bn_str_make(t.ptr + 6, t.len - 6));
    return t.len == strlen(want) && memcmp(t.ptr, want, t.len) == 0;
}
static bool type_is_cstring(const char *type) { return strstr(type, "char") && strchr(type, '*'); }

static bool is_global_attr(const tpl_attr_decl *g, bn_str name)
{
    static const char *const globals[] = {
        "accesskey", "autocapitalize", "autofocus", "class", "contenteditable", "dir", "draggable", "enterkeyhint",
        "hidden", "id", "inert", "inputmode", "is", "itemid", "itemprop", "itemref", "itemscope", "itemtype", "lang",
        "nonce", "popover", "role", "slot", "spellcheck", "style", "tabindex", "title", "translate"};
    if ((name.len > 4 && (memcmp(name.ptr, "phx-", 4) == 0 || memcmp(name.ptr, "data-", 5) == 0)) ||
        (name.len > 5 && memcmp(name.ptr, "aria-", 5) == 0))
        return true;
    for (size_t i = 0; i < BN_ARRAY_LEN(globals); i++)
        if (name.len == strlen(globals[i]) && memcmp(name.ptr, globals[i], name.len) == 0)
            return true;
    for (size_t i = 0; i < g->ninclude; i++)
        if (name.len == strlen(g->include[i]) && memcmp(name.ptr, g->include[i], name.len) == 0)
            return true;
    return false;
}

static bool is_literal(bn_str e)
{
    if (!e.len)
        return false;
    if (e.ptr[0] == '"' || e.ptr[0] == '\'') {
        const char *p = e.ptr;
        return tpl_skip_c_literal(&p, e.ptr + e.len) && p == e.ptr + e.len;
    }
    size_t i = e.ptr[0] == '-' ? 1 : 0;
    if (i >= e.len || !isdigit((unsigned char)e.ptr[i]))
        return false;
    for (; i < e.len; i++)
        if (!isalnum((unsigned char)e.ptr[i]) && e.ptr[i] != '.')
            return false;
    return true;
}

/* The C value of an attribute given at a call site; NULL after an error. */
static const char *attr_value(gen *g, const scope *sc, const char *call, const tpl_attr_decl *d, const tpl_attr *a,
                              uint64_t *reads)
{
    switch (a->kind) {
    case TPL_ATTR_STATIC: {
        bn_buf lit = BN_BUF_INIT;
        c_string(&lit, a->value.ptr, a->value.len);
        const char *s = tpl_strndup(g->c, lit.data, lit.len);
        bn_buf_free(&lit);
        if (d->nvalues) {
            /* values(…) are C literals as written: compare the text between their quotes. */
            bool ok = false;
            for (size_t i = 0; i < d->nvalues && !ok; i++) {
                size_t vl = strlen(d->values[i]);
                ok = vl == a->value.len + 2 && d->values[i][0] == '"' &&
                     memcmp(d->values[i] + 1, a->value.ptr, a->value.len) == 0;
            }
            if (!ok) {
                bn_buf list = BN_BUF_INIT;
                for (size_t i = 0; i < d->nvalues; i++)
                    bn_buf_printf(&list, "%s%s", i ? ", " : "", d->values[i]);
                ERR(g, a->vpos, "attribute \"%s\" of <%s> must be one of %.*s; got \"%.*s\"", d->name, call,
                    (int)list.len, list.data, BN_STR_ARG(a->value));
                bn_buf_free(&list);
                return NULL;
            }
        }
        if (type_is_cstring(d->type))
            return s;
        if (type_is(d->type, "bn_str"))
            return tpl_printf(g->c, "BN_STR(%s)", s);
        if (type_is(d->type, "bn_safe"))
            return tpl_printf(g->c, "bn_raw_cstr(%s)", s);
        ERR(g, a->vpos, "attribute \"%s\" of <%s> is %s, not a string: write %s={…}", d->name, call, d->type,
            d->name);
        return NULL;
    }
    case TPL_ATTR_BARE:
        if (type_is(d->type, "bool") || type_is(d->type, "_Bool"))
            return "true";
        ERR(g, a->pos, "attribute \"%s\" of <%s> needs a value (it is %s)", d->name, call, d->type);
        return NULL;
    case TPL_ATTR_EXPR: {
        bn_str e = tpl_trim(a->value);
        if (d->nvalues && is_literal(e)) {
            bool ok = false;
            for (size_t i = 0; i < d->nvalues && !ok; i++)
                ok = strlen(d->values[i]) == e.len && memcmp(d->values[i], e.ptr, e.len) == 0;
            if (!ok) {
                bn_buf list = BN_BUF_INIT;
                for (size_t i = 0; i < d->nvalues; i++)
                    bn_buf_printf(&list, "%s%s", i ? ", " : "", d->values[i]);
                ERR(g, a->vpos, "attribute \"%s\" of <%s> must be one of %.*s; got %.*s", d->name, call,
                    (int)list.len, list.data, (int)e.len, e.ptr);
                bn_buf_free(&list);
                return NULL;
            }
        }
        bn_buf v = BN_BUF_INIT;
        bn_buf_append(&v, "(", 1);
        emit_user(g, &v, rewrite(g, sc, a->value, reads), a->vpos);
        bn_buf_append(&v, ")", 1);
        const char *s = tpl_strndup(g->c, v.data, v.len);
        bn_buf_free(&v);
        return s;
    }
    case TPL_ATTR_LIST:
        ERR(g, a->vpos, "a [list] value is only allowed on HTML attributes, not on attribute \"%s\" of <%s>", d->name,
            call);
        return NULL;
    case TPL_ATTR_SPREAD:
        break;
    }
    return NULL;
}

/* One attribute of the global set, as a bn_tpl_attr initializer. */
static const char *global_value(gen *g, const scope *sc, const tpl_attr *a, uint64_t *reads)
{
    bn_buf name = BN_BUF_INIT, v = BN_BUF_INIT;
    c_string(&name, a->name.ptr, a->name.len);
    if (a->kind == TPL_ATTR_STATIC) {
        bn_buf_printf(&v, "bn_tpl_attr_cstr(%.*s, ", (int)name.len, name.data);
        c_string(&v, a->value.ptr, a->value.len);
        bn_buf_append(&v, ")", 1);
    } else if (a->kind == TPL_ATTR_BARE) {
        bn_buf_printf(&v, "bn_tpl_attr_bool(%.*s, true)", (int)name.len, name.data);
    } else if (a->kind == TPL_ATTR_EXPR) {
        emit_call(g, &v, tpl_printf(g->c, "bn_tpl_attr_of(%.*s, (", (int)name.len, name.data),
                  rewrite(g, sc, a->value, reads), "))", a->vpos);
    } else {
        ERR(g, a->vpos, "a [list] value is not allowed on attribute \"%.*s\" of a component", BN_STR_ARG(a->name));
    }
    const char *s = tpl_strndup(g->c, v.data ? v.data : "", v.len);
    bn_buf_free(&name);
    bn_buf_free(&v);
    return s;
}

static const tpl_component *resolve(gen *g, const tpl_node *n)
{
    const tpl_module *mods[66];
    size_t nm = 0;
    if (n->module.len) {
        int before = g->c->diag.errors;
        tpl_module *m = tpl_module_find(g->c, g->m, n->module.ptr, n->module.len);
        if (!m && g->c->diag.errors != before)
            return NULL; /* it has errors of its own, reported */
        if (!m) {
            ERR(g, n->pos, "unknown module %.*s (looked for %s.html.bnx next to this file and in the -I directories)",
                BN_STR_ARG(n->module), tpl_snake_case(g->c, n->module.ptr, n->module.len));
            return NULL;
        }
        mods[nm++] = m;
    } else {
        mods[nm++] = g->m;
        for (size_t i = 0; i < g->m->nimports && nm < 65; i++)
            mods[nm++] = g->m->imports[i];
        mods[nm++] = tpl_builtins(g->c);
    }
    for (size_t i = 0; i < nm; i++)
        for (size_t k = 0; k < mods[i]->ncomponents; k++) {
            const tpl_component *comp = mods[i]->components[k];
            if (strlen(comp->name) == n->text.len && memcmp(comp->name, n->text.ptr, n->text.len) == 0) {
                if (mods[i] != g->m && !comp->builtin) {
                    bool seen = false;
                    for (size_t u = 0; u < g->nused; u++)
                        seen |= g->used[u] == mods[i];
                    if (!seen)
                        tpl_push(g->c, (void ***)&g->used, &g->nused, (void *)mods[i]);
                }
                return comp;
            }
        }
    if (n->module.len)
        ERR(g, n->pos, "module %.*s has no component \"%.*s\"", BN_STR_ARG(n->module), BN_STR_ARG(n->text));
    else
        ERR(g, n->pos, "unknown component <.%.*s> (not in this module, its imports, or the built-ins)",
            BN_STR_ARG(n->text));
    return NULL;
}

typedef struct call_ctx {
    gen *g;
    const scope *sc;
    const char *env; /* the env variable's name, made on first use */
    bn_buf *pre;     /* declarations before the assigns */
    int id;
} call_ctx;

/* The environment handed to slot functions: the caller's assigns and locals. */
static const char *call_env(call_ctx *cc)
{
    if (cc->env)
        return cc->env;
    gen *g = cc->g;
    const scope *sc = cc->sc;
    int id = g->seq++;
    bn_buf_printf(&g->top, "struct %s__env%d {\n    const %s *assigns;\n", g->m->name, id, sc->comp->atype);
    for (size_t i = 0; i < sc->nlocals; i++)
        bn_buf_printf(&g->top, "    %s %s;\n", sc->locals[i].type, sc->locals[i].name);
    bn_buf_append(&g->top, "};\n", 3);
    bn_buf_printf(cc->pre, "const struct %s__env%d bn__e%d = {assigns", g->m->name, id, cc->id);
    for (size_t i = 0; i < sc->nlocals; i++)
        bn_buf_printf(cc->pre, ", %s", sc->locals[i].name);
    bn_buf_append(cc->pre, "};\n", 3);
    cc->env = tpl_printf(g->c, "%d", id);
    return cc->env;
}

/* Parses "TYPE NAME" (a :for or :let variable); false if malformed. */
static bool parse_var(gen *g, bn_str decl, const char **type, const char **name)
{
    decl = tpl_trim(decl);
    size_t e = decl.len;
    while (e > 0 && is_ident_char(decl.ptr[e - 1]))
        e--;
    if (e == decl.len || e == 0 || isdigit((unsigned char)decl.ptr[e]))
        return false;
    *name = tpl_strndup(g->c, decl.ptr + e, decl.len - e);
    bn_str t = tpl_trim(bn_str_make(decl.ptr, e));
    if (!t.len)
        return false;
    *type = tpl_strndup(g->c, t.ptr, t.len);
    return true;
}

/* A slot's content as a function; returns "M__slotN". */
static const char *gen_slot_fn(call_ctx *cc, tpl_node **nodes, size_t n, const tpl_special *let, tpl_pos pos,
                               uint64_t *reads)
{
    gen *g = cc->g;
    const char *env = call_env(cc);
    int id = g->seq++;
    scope sc = *cc->sc;
    bn_buf body = BN_BUF_INIT;
    bn_buf_printf(&g->top, "static void %s__slot%d(bn_tpl *bn__t, const void *bn__env, const void *bn__arg);\n",
                  g->m->name, id);
    bn_buf_printf(&body,
                  "static void %s__slot%d(bn_tpl *bn__t, const void *bn__env, const void *bn__arg)\n{\n"
                  "const struct %s__env%s *bn__e = bn__env;\nconst %s *assigns = bn__e->assigns;\n(void)assigns;\n"
                  "(void)bn__arg;\n",
                  g->m->name, id, g->m->name, env, sc.comp->atype);
    for (size_t i = 0; i < sc.nlocals; i++)
        bn_buf_printf(&body, "%s %s = bn__e->%s;\n(void)%s;\n", sc.locals[i].type, sc.locals[i].name,
                      sc.locals[i].name, sc.locals[i].name);
    if (let->code.ptr) {
        const char *type, *name;
        if (!parse_var(g, let->code, &type, &name) || !strchr(type, '*')) {
            ERR(g, let->pos, "invalid :let: expected {TYPE *NAME}, a pointer that receives render_slot's argument");
        } else {
            emit_user(g, &body, tpl_printf(g->c, "%s %s = (%s)bn__arg;", type, name, type), let->pos);
            bn_buf_printf(&body, "(void)%s;\n", name);
            sc = scope_with(g, &sc, (local){type, name, NULL});
        }
    }
    uint64_t touched = g->touched;
    g->touched = 0;
    block b;
    blk_open(g, &b, &body, false, false, pos);
    gen_nodes(g, &b, &sc, nodes, n);
    blk_close(g, &b);
    *reads |= g->touched;
    g->touched |= touched;
    bn_buf_append(&body, "}\n\n", 3);
    bn_buf_append(&g->fns, body.data, body.len);
    bn_buf_free(&body);
    return tpl_printf(g->c, "%s__slot%d", g->m->name, id);
}

/* Checks the attrs given to a component or a slot entry and writes the
 * initializers of the declared ones into `init`; `reads[i]` per field. */
static void call_attrs(call_ctx *cc, const char *what, const tpl_attr_decl *decls, size_t ndecls, const tpl_node *n,
                       bn_buf *init, uint64_t *reads, bn_buf *rest, size_t *nrest, tpl_pos at)
{
    gen *g = cc->g;
    const tpl_attr_decl *global = NULL;
    size_t global_i = 0;
    for (size_t i = 0; i < ndecls; i++)
        if (decls[i].global)
            global = &decls[i], global_i = i;
    bool *given = tpl_alloc(g->c, (ndecls + 1) * sizeof *given);
    for (size_t k = 0; k < n->nattrs; k++) {
        const tpl_attr *a = &n->attrs[k];
        if (a->kind == TPL_ATTR_SPREAD) {
            ERR(g, a->pos, "{…} spread is not allowed on <%s>: pass the set to its global attr by name", what);
            continue;
        }
        size_t i = 0;
        while (i < ndecls && (decls[i].global || strlen(decls[i].name) != a->name.len ||
                              memcmp(decls[i].name, a->name.ptr, a->name.len) != 0))
            i++;
        if (i < ndecls) {
            given[i] = true;
            const char *v = attr_value(g, cc->sc, what, &decls[i], a, &reads[i]);
            if (v)
                bn_buf_printf(init, "    .%s = %s,\n", decls[i].name, v);
        } else if (global && is_global_attr(global, a->name)) {
            bn_buf_printf(rest, "    %s,\n", global_value(g, cc->sc, a, &reads[global_i]));
            (*nrest)++;
        } else {
            ERR(g, a->pos, "unknown attribute \"%.*s\" for <%s>", BN_STR_ARG(a->name), what);
        }
    }
    for (size_t i = 0; i < ndecls; i++) {
        if (given[i] || decls[i].global)
            continue;
        if (decls[i].required)
            ERR(g, at, "missing required attribute \"%s\" for <%s>", decls[i].name, what);
        else if (decls[i].deflt)
            bn_buf_printf(init, "    .%s = %s,\n", decls[i].name, decls[i].deflt);
    }
}

static bool blank(const tpl_node *n)
{
    if (n->kind != TPL_TEXT)
        return false;
    for (size_t i = 0; i < n->text.len; i++)
        if (!isspace((unsigned char)n->text.ptr[i]))
            return false;
    return true;
}

static void gen_call(gen *g, block *b, const scope *sc, const tpl_node *n)
{
    const tpl_component *comp = resolve(g, n);
    if (!comp)
        return;
    const char *what = tpl_printf(g->c, "%.*s", BN_STR_ARG(n->tag));
    size_t nf = nfields(comp);
    uint64_t *reads = tpl_alloc(g->c, (nf + 1) * sizeof *reads);
    bn_buf pre = BN_BUF_INIT, init = BN_BUF_INIT, rest = BN_BUF_INIT;
    size_t nrest = 0;
    call_ctx cc = {.g = g, .sc = sc, .pre = &pre, .id = g->seq++};
    call_attrs(&cc, what, comp->attrs, comp->nattrs, n, &init, reads, &rest, &nrest, n->pos);
    if (n->s_let.code.ptr && !find_slot(comp, "inner_block", 11))
        ERR(g, n->s_let.pos, ":let needs content: <%s> has no inner_block slot", what);

    /* Children: <:slot> entries, the rest is the inner block. */
    tpl_node **inner = NULL;
    size_t ninner = 0;
    bool has_inner = false;
    tpl_pos inner_pos = n->pos;
    for (size_t i = 0; i < n->nchildren; i++) {
        tpl_node *ch = n->children[i];
        if (ch->kind == TPL_SLOT)
            continue;
        if (!blank(ch) && !has_inner) {
            has_inner = true;
            inner_pos = ch->pos;
        }
        tpl_push(g->c, (void ***)&inner, &ninner, ch);
    }
    for (size_t s = 0; s < comp->nslots; s++) {
        const tpl_slot_decl *slot = &comp->slots[s];
        size_t fi = comp->nattrs + s;
        if (strcmp(slot->name, "inner_block") == 0) {
            if (!has_inner) {
                if (slot->required)
                    ERR(g, n->pos, "missing required slot inner_block for <%s>: it needs content", what);
                continue;
            }
            const char *fn = gen_slot_fn(&cc, inner, ninner, &n->s_let, inner_pos, &reads[fi]);
            bn_buf_printf(&init, "    .inner_block = {%s, &bn__e%d, bn_tpl_changes_now(bn__t)},\n", fn, cc.id);
            continue;
        }
        bn_buf entries = BN_BUF_INIT;
        size_t count = 0;
        for (size_t i = 0; i < n->nchildren; i++) {
            tpl_node *ch = n->children[i];
            if (ch->kind != TPL_SLOT || strlen(slot->name) != ch->text.len ||
                memcmp(slot->name, ch->text.ptr, ch->text.len) != 0)
                continue;
            if (ch->s_if.code.ptr || ch->s_for.code.ptr)
                ERR(g, ch->pos, ":if and :for are not supported on slot entries <%.*s>", BN_STR_ARG(ch->tag));
            const char *swhat = tpl_printf(g->c, "%.*s", BN_STR_ARG(ch->tag));
            uint64_t *sreads = tpl_alloc(g->c, (slot->nattrs + 1) * sizeof *sreads);
            bn_buf sinit = BN_BUF_INIT, srest = BN_BUF_INIT;
            size_t snrest = 0;
            call_attrs(&cc, swhat, slot->attrs, slot->nattrs, ch, &sinit, sreads, &srest, &snrest, ch->pos);
            for (size_t k = 0; k < slot->nattrs; k++)
                reads[fi] |= sreads[k];
            bool content = false;
            for (size_t k = 0; k < ch->nchildren; k++)
                content |= !blank(ch->children[k]);
            bn_buf_append(&entries, "{\n", 2);
            if (content || ch->s_let.code.ptr) {
                const char *fn = gen_slot_fn(&cc, ch->children, ch->nchildren, &ch->s_let, ch->pos, &reads[fi]);
                bn_buf_printf(&entries, "    .inner_block = {%s, &bn__e%d, bn_tpl_changes_now(bn__t)},\n", fn, cc.id);
            }
            bn_buf_append(&entries, sinit.data ? sinit.data : "", sinit.len);
            bn_buf_append(&entries, "},\n", 3);
            bn_buf_free(&sinit);
            bn_buf_free(&srest);
            count++;
        }
        if (count == 0) {
            if (slot->required)
                ERR(g, n->pos, "missing required slot <:%s> for <%s>", slot->name, what);
        } else {
            bn_buf_printf(&pre, "const %s__%s bn__s%d_%zu[] = {\n%.*s};\n", comp->cname, slot->name, cc.id, s,
                          (int)entries.len, entries.data);
            bn_buf_printf(&init, "    .%s = bn__s%d_%zu,\n    .%s_count = %zu,\n", slot->name, cc.id, s, slot->name,
                          count);
        }
        bn_buf_free(&entries);
    }
    for (size_t i = 0; i < n->nchildren; i++) {
        tpl_node *ch = n->children[i];
        if (ch->kind == TPL_SLOT && (!find_slot(comp, ch->text.ptr, ch->text.len) ||
                                     (ch->text.len == 11 && memcmp(ch->text.ptr, "inner_block", 11) == 0)))
            ERR(g, ch->pos, "unknown slot <%.*s> for <%s>", BN_STR_ARG(ch->tag), what);
    }
    if (has_inner && !find_slot(comp, "inner_block", 11))
        ERR(g, inner_pos, "<%s> takes no content (it declares no inner_block slot)", what);
    for (size_t i = 0; i < comp->nattrs; i++)
        if (comp->attrs[i].global && nrest) {
            bn_buf_printf(&pre, "const bn_tpl_attr bn__r%d[] = {\n%.*s};\n", cc.id, (int)rest.len, rest.data);
            bn_buf_printf(&init, "    .%s = {bn__r%d, %zu},\n", comp->attrs[i].name, cc.id, nrest);
        }

    bn_buf code = BN_BUF_INIT;
    uint64_t all = 0;
    for (size_t i = 0; i < nf; i++)
        all |= reads[i];
    bn_buf_append(&code, "{\n", 2);
    bn_buf_append(&code, pre.data ? pre.data : "", pre.len);
    if (init.len)
        bn_buf_printf(&code, "const %s bn__a%d = {\n%.*s};\n", comp->atype, cc.id, (int)init.len, init.data);
    else
        bn_buf_printf(&code, "const %s bn__a%d = {0};\n", comp->atype, cc.id);
    bn_buf_printf(&code, "const bn_tpl_changes bn__c%d = bn_tpl_enter(bn__t, bn_tpl_changes_map(bn__t, ", cc.id);
    if (nf) {
        bn_buf_append(&code, "(const bn_tpl_changes[]){", 25);
        for (size_t i = 0; i < nf; i++)
            bn_buf_printf(&code, "%s%s", i ? ", " : "", mask_text(g, reads[i]));
        bn_buf_printf(&code, "}, %zu));\n", nf);
    } else {
        bn_buf_append(&code, "NULL, 0));\n", 11);
    }
    bn_buf_printf(&code, "%s(bn__t, &bn__a%d);\nbn_tpl_leave(bn__t, bn__c%d);\n}\n", comp->cname, cc.id, cc.id);
    bn_buf_free(&pre);
    bn_buf_free(&init);
    bn_buf_free(&rest);
    blk_dyn(g, b, all, &code);
}

/* ------------------------------------------------------------------------ */
/* :if and :for                                                               */

/* A node without its specials, rendered into block b. */
static void gen_plain(gen *g, block *b, const scope *sc, const tpl_node *n)
{
    if (n->kind == TPL_CALL)
        gen_call(g, b, sc, n);
    else
        gen_element_inline(g, b, sc, n);
}

/* `name(a, b)` with two arguments: true and args set; false if src is not that form. */
static bool call_form(gen *g, bn_str src, const char *name, bn_str **args, bool *malformed)
{
    size_t len = strlen(name);
    *args = NULL;
    if (src.len <= len || memcmp(src.ptr, name, len) != 0)
        return false;
    const char *p = src.ptr + len;
    while (p < src.ptr + src.len && isspace((unsigned char)*p))
        p++;
    if (p >= src.ptr + src.len || *p != '(')
        return false;
    *malformed = src.ptr[src.len - 1] != ')' ||
                 split_commas(g, bn_str_make(p + 1, (size_t)(src.ptr + src.len - 2 - p)), args) != 2 ||
                 !(*args)[0].len || !(*args)[1].len;
    if (*malformed)
        *args = NULL;
    return true;
}

/* The struct a pointer type points to: "const struct user *" -> "struct user". */
static const char *pointee(gen *g, const char *type)
{
    bn_buf base = BN_BUF_INIT;
    for (const char *p = type; *p;) {
        while (isspace((unsigned char)*p) || *p == '*')
            p++;
        const char *s = p;
        while (*p && !isspace((unsigned char)*p) && *p != '*')
            p++;
        size_t len = (size_t)(p - s);
        if (len && !(len == 5 && memcmp(s, "const", 5) == 0) && !(len == 8 && memcmp(s, "volatile", 8) == 0))
            bn_buf_printf(&base, "%s%.*s", base.len ? " " : "", (int)len, s);
    }
    const char *r = tpl_strndup(g->c, base.data ? base.data : "", base.len);
    bn_buf_free(&base);
    return r;
}

/* :for={DECL <- SOURCE}: writes the loop's opening into `loop` (closed by "}")
 * and returns, in *inner, the scope with the loop variable. */
static bool gen_for_head(gen *g, const scope *sc, const tpl_node *n, bn_buf *loop, scope *inner, uint64_t *reads)
{
    bn_str code = n->s_for.code;
    const char *arrow = find_top(code, "<-");
    if (!arrow) {
        ERR(g, n->s_for.pos, "invalid :for: expected {TYPE NAME <- SOURCE}");
        return false;
    }
    bn_str decl = tpl_trim(bn_str_make(code.ptr, (size_t)(arrow - code.ptr)));
    bn_str src = tpl_trim(bn_str_make(arrow + 2, (size_t)(code.ptr + code.len - arrow - 2)));
    int id = g->seq++;
    const char *type, *name;
    if (src.len > 1 && src.ptr[0] == '@' && find_slot(sc->comp, src.ptr + 1, src.len - 1) &&
        !(src.len == 12 && memcmp(src.ptr + 1, "inner_block", 11) == 0)) {
        /* Entries of a named slot: the variable's type is known. */
        name = tpl_strndup(g->c, decl.ptr, decl.len);
        if (!valid_ident(name) && !parse_var(g, decl, &type, &name)) {
            ERR(g, n->s_for.pos, "invalid :for: expected {NAME <- @slot}");
            return false;
        }
        const char *slot = tpl_strndup(g->c, src.ptr + 1, src.len - 1);
        *reads |= bit((size_t)field_index(sc->comp, slot, strlen(slot)));
        type = tpl_printf(g->c, "const %s__%s *", sc->comp->cname, slot);
        bn_buf_printf(loop,
                      "for (size_t bn__i%d = 0; bn__i%d < assigns->%s_count; bn__i%d++) {\n%s%s = &assigns->%s[bn__i%d];\n",
                      id, id, slot, id, type, name, slot, id);
        *inner = scope_with(g, sc, (local){type, name, sc->comp});
        return true;
    }
    if (!parse_var(g, decl, &type, &name)) {
        ERR(g, n->s_for.pos, "invalid :for: expected {TYPE NAME <- SOURCE}, with the variable's C type");
        return false;
    }
    *inner = scope_with(g, sc, (local){type, name, NULL});
    bn_str *args;
    bool malformed = false;
    if (call_form(g, src, "array", &args, &malformed)) {
        if (malformed) {
            ERR(g, pos_of(g, src.ptr), "invalid :for source: expected array(POINTER, COUNT)");
            return false;
        }
        bn_buf_printf(loop, "for (size_t bn__i%d = 0, bn__n%d = (size_t)(", id, id);
        emit_user(g, loop, rewrite(g, sc, args[1], reads), pos_of(g, args[1].ptr));
        bn_buf_printf(loop, "); bn__i%d < bn__n%d; bn__i%d++) {\n", id, id, id);
        emit_user(g, loop, tpl_printf(g->c, "%s %s = (%s)[bn__i%d];", type, name, rewrite(g, sc, args[0], reads), id),
                  n->s_for.pos);
        return true;
    }
    const char *member = "link";
    if (call_form(g, src, "list", &args, &malformed)) {
        member = malformed ? "" : tpl_strndup(g->c, args[1].ptr, args[1].len);
        if (malformed || !valid_ident(member)) {
            ERR(g, pos_of(g, src.ptr), "invalid :for source: expected list(LIST, MEMBER), MEMBER naming the bn_list field");
            return false;
        }
        src = args[0];
    }
    if (!strchr(type, '*')) {
        ERR(g, n->s_for.pos, ":for over a bn_list needs a pointer variable, e.g. {const user *u <- @users}");
        return false;
    }
    bn_buf_printf(loop, "const bn_list *bn__h%d = (", id);
    emit_user(g, loop, rewrite(g, sc, src, reads), pos_of(g, src.ptr));
    bn_buf_printf(loop, ");\nfor (const bn_list *bn__l%d = bn__h%d->next; bn__l%d != bn__h%d; bn__l%d = bn__l%d->next) {\n",
                  id, id, id, id, id, id);
    /* The variable's line points at the :for, where a wrong type or member is written. */
    emit_user(g, loop,
              tpl_printf(g->c, "%s %s = (%s)(void *)((char *)bn__l%d - offsetof(%s, %s));", type, name, type, id,
                         pointee(g, type), member),
              n->s_for.pos);
    return true;
}

static void gen_special(gen *g, block *b, const scope *sc, const tpl_node *n)
{
    /* The dynamic must re-render when anything inside reads a changed assign. */
    uint64_t touched = g->touched, reads = 0;
    g->touched = 0;
    bn_buf inner = BN_BUF_INIT;
    const char *cond = NULL;
    if (n->s_if.code.ptr) {
        bn_buf c = BN_BUF_INIT;
        emit_user(g, &c, rewrite(g, sc, n->s_if.code, &reads), n->s_if.pos);
        cond = tpl_strndup(g->c, c.data, c.len);
        bn_buf_free(&c);
    }
    if (n->s_for.code.ptr) {
        scope body_scope;
        bn_buf loop = BN_BUF_INIT, body = BN_BUF_INIT;
        if (gen_for_head(g, sc, n, &loop, &body_scope, &reads)) {
            block lb;
            blk_open(g, &lb, &body, true, b->dirty, n->pos);
            gen_plain(g, &lb, &body_scope, n);
            blk_close(g, &lb);
            bn_buf_printf(&inner, "bn_tpl_for_open(bn__t, &%s__b%d);\n", g->m->name, lb.id);
            bn_buf_append(&inner, loop.data, loop.len);
            bn_buf_printf(&inner, "(void)%s;\n", body_scope.locals[body_scope.nlocals - 1].name);
            if (cond)
                bn_buf_printf(&inner, "if (!(%s))\n    continue;\n", cond);
            bn_buf_append(&inner, "bn_tpl_for_item(bn__t);\n", 24);
            bn_buf_append(&inner, body.data, body.len);
            bn_buf_append(&inner, "}\nbn_tpl_for_close(bn__t);\n", 27);
        }
        bn_buf_free(&loop);
        bn_buf_free(&body);
    } else {
        block nb;
        bn_buf_printf(&inner, "if (%s) {\n", cond);
        blk_open(g, &nb, &inner, false, b->dirty, n->pos);
        gen_plain(g, &nb, sc, n);
        blk_close(g, &nb);
        bn_buf_append(&inner, "} else {\nbn_tpl_put_empty(bn__t);\n}\n", 36);
    }
    reads |= g->touched;
    g->touched |= touched;
    blk_dyn(g, b, reads, &inner);
}

/* ------------------------------------------------------------------------ */
/* C control flow: <% if (x) { %> … <% } %> is one dynamic, rendered as a     */
/* string (no change tracking inside: prefer :if and :for)                    */

static void gen_group(gen *g, block *b, const scope *sc, tpl_node **nodes, size_t n)
{
    bn_buf inner = BN_BUF_INIT;
    bn_buf_append(&inner, "bn_tpl_capture_begin(bn__t);\n", 29);
    for (size_t i = 0; i < n;) {
        if (nodes[i]->kind == TPL_CODE) {
            uint64_t reads = 0;
            emit_user(g, &inner, rewrite(g, sc, nodes[i]->text, &reads), nodes[i]->text_pos);
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && nodes[j]->kind != TPL_CODE)
            j++;
        block rb;
        blk_open(g, &rb, &inner, false, true, nodes[i]->pos);
        gen_nodes(g, &rb, sc, nodes + i, j - i);
        blk_close(g, &rb);
        i = j;
    }
    bn_buf_append(&inner, "bn_tpl_capture_end(bn__t);\n", 27);
    blk_dyn(g, b, ALL_READS, &inner);
}

static void gen_nodes(gen *g, block *b, const scope *sc, tpl_node **nodes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tpl_node *node = nodes[i];
        switch (node->kind) {
        case TPL_FRAGMENT:
            gen_nodes(g, b, sc, node->children, node->nchildren);
            break;
        case TPL_TEXT:
            bn_buf_append(&b->cur, node->text.ptr, node->text.len);
            break;
        case TPL_EXPR:
            gen_expr(g, b, sc, node);
            break;
        case TPL_CODE: {
            if (node->braces < 0) {
                ERR(g, node->pos, "'}' closes a C block that was not opened in this element");
                break;
            }
            if (node->braces == 0) {
                uint64_t reads = 0;
                emit_user(g, b->code, rewrite(g, sc, node->text, &reads), node->text_pos);
                b->dirty = true;
                g->touched = ALL_READS;
                break;
            }
            int depth = 0;
            size_t j = i;
            for (; j < n; j++) {
                if (nodes[j]->kind == TPL_CODE)
                    depth += nodes[j]->braces;
                if (depth <= 0)
                    break;
            }
            if (j == n || depth < 0) {
                ERR(g, node->pos, "the C block opened here is not closed in the same element: "
                                  "its '}' must be in a <%% %%> before the parent tag closes");
                return;
            }
            gen_group(g, b, sc, nodes + i, j - i + 1);
            i = j;
            break;
        }
        case TPL_ELEMENT:
        case TPL_CALL:
            if (node->s_let.code.ptr && node->kind == TPL_ELEMENT)
                ERR(g, node->s_let.pos, ":let is only allowed on component calls and slot entries");
            if (node->s_if.code.ptr || node->s_for.code.ptr)
                gen_special(g, b, sc, node);
            else
                gen_plain(g, b, sc, node);
            break;
        case TPL_SLOT:
            ERR(g, node->pos, "slot <%.*s> outside a component call", BN_STR_ARG(node->tag));
            break;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Functions, header and file                                                 */

static void struct_fields(bn_buf *h, const tpl_component *comp)
{
    for (size_t i = 0; i < comp->nattrs; i++)
        bn_buf_printf(h, "    %s %s;\n", comp->attrs[i].type, comp->attrs[i].name);
    for (size_t i = 0; i < comp->nslots; i++) {
        const tpl_slot_decl *s = &comp->slots[i];
        if (strcmp(s->name, "inner_block") == 0)
            bn_buf_append(h, "    bn_tpl_slot inner_block;\n", 29);
        else
            bn_buf_printf(h, "    const %s__%s *%s;\n    size_t %s_count;\n", comp->cname, s->name, s->name, s->name);
    }
    if (!nfields(comp))
        bn_buf_append(h, "    char bn__unused;\n", 20);
}

static void declare(gen *g, const tpl_component *comp, bn_buf *h)
{
    for (size_t i = 0; i < comp->nslots; i++) {
        const tpl_slot_decl *s = &comp->slots[i];
        if (strcmp(s->name, "inner_block") == 0)
            continue;
        bn_buf_printf(h, "/* An entry of slot <:%s>. */\ntypedef struct %s__%s {\n    bn_tpl_slot inner_block;\n",
                      s->name, comp->cname, s->name);
        for (size_t k = 0; k < s->nattrs; k++)
            bn_buf_printf(h, "    %s %s;\n", s->attrs[k].type, s->attrs[k].name);
        bn_buf_printf(h, "} %s__%s;\n\n", comp->cname, s->name);
    }
    if (comp->layout) {
        bn_buf_printf(h, "typedef bn_layout_assigns %s;\n", comp->atype);
    } else {
        bn_buf_printf(h, "typedef struct %s {\n", comp->atype);
        struct_fields(h, comp);
        bn_buf_printf(h, "} %s;\n", comp->atype);
    }
    if (!comp->name) /* a page: the bits LiveView's assign() marks */
        for (size_t i = 0; i < nfields(comp) && i < 63; i++)
            bn_buf_printf(h, "#define %s__changed_%s bn_tpl_bit(%zu)\n", comp->cname, field_name(comp, i), i);
    bn_buf_printf(h, "void %s(bn_tpl *t, const %s *assigns);\nvoid %s__any(bn_tpl *t, const void *assigns);\n\n",
                  comp->cname, comp->atype, comp->cname);
    (void)g;
}

static void define(gen *g, const tpl_component *comp)
{
    scope sc = {.comp = comp};
    bn_buf body = BN_BUF_INIT;
    bn_buf_printf(&body, "void %s(bn_tpl *bn__t, const %s *assigns)\n{\n(void)assigns;\n", comp->cname, comp->atype);
    block b;
    blk_open(g, &b, &body, false, false, comp->body->pos);
    /* Leading and trailing blank space of a template is not part of it. */
    tpl_node **nodes = comp->body->children;
    size_t n = comp->body->nchildren;
    if (n && nodes[0]->kind == TPL_TEXT) {
        bn_str t = nodes[0]->text;
        while (t.len && isspace((unsigned char)*t.ptr))
            t.ptr++, t.len--;
        nodes[0]->text = t;
    }
    if (n && nodes[n - 1]->kind == TPL_TEXT) {
        bn_str t = nodes[n - 1]->text;
        while (t.len && isspace((unsigned char)t.ptr[t.len - 1]))
            t.len--;
        nodes[n - 1]->text = t;
    }
    gen_nodes(g, &b, &sc, nodes, n);
    blk_close(g, &b);
    bn_buf_printf(&body, "}\n\nvoid %s__any(bn_tpl *bn__t, const void *assigns)\n{\n    %s(bn__t, assigns);\n}\n\n",
                  comp->cname, comp->cname);
    bn_buf_append(&g->fns, body.data, body.len);
    bn_buf_free(&body);
}

/* Replaces each "#line @@" by the line that follows it in `path`. */
static void resolve_lines(bn_buf *out, const char *path)
{
    bn_buf res = BN_BUF_INIT;
    int line = 1;
    const char *p = out->data, *end = out->data + out->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl + 1 : end;
        if ((size_t)(e - p) >= 8 && memcmp(p, "#line @@", 8) == 0) {
            bn_buf_printf(&res, "#line %d ", line + 1);
            c_string(&res, path, strlen(path));
            bn_buf_append(&res, "\n", 1);
        } else {
            bn_buf_append(&res, p, (size_t)(e - p));
        }
        line++;
        p = e;
    }
    bn_buf_free(out);
    *out = res;
}

bool tpl_generate(tpl_compiler *c, tpl_module *m, const char *c_path, bn_buf *out_c, bn_buf *out_h)
{
    int errors = c->diag.errors;
    gen g = {.c = c, .m = m, .src = &m->src, .c_path = c_path};
    static const char *const layout_fields[][2] = {
        {"bn_conn *", "conn"}, {"bn_tpl_slot", "inner_content"}, {"const char *", "page_title"},
        {"const char *", "csrf_token"}};
    if (m->page && m->page->layout) {
        m->page->attrs = tpl_alloc(c, BN_ARRAY_LEN(layout_fields) * sizeof *m->page->attrs);
        for (size_t i = 0; i < BN_ARRAY_LEN(layout_fields); i++)
            m->page->attrs[i] = (tpl_attr_decl){.type = layout_fields[i][0], .name = layout_fields[i][1]};
        m->page->nattrs = BN_ARRAY_LEN(layout_fields);
    }
    bn_buf h = BN_BUF_INIT;
    char guard[256];
    size_t k = 0;
    for (const char *p = m->name; *p && k < sizeof guard - 1; p++)
        guard[k++] = (char)toupper((unsigned char)*p);
    guard[k] = 0;
    bn_buf_printf(&h, "/* Generated by bennu-tpl from %s. Do not edit. */\n#ifndef BNX_%s_H\n#define BNX_%s_H\n\n",
                  m->path, guard, guard);
    bn_buf_append(&h, "#include <bennu/template.h>\n", 28);
    if (m->page && m->page->layout)
        bn_buf_append(&h, "#include <bennu/view.h>\n", 24);
    for (size_t i = 0; i < m->nincludes; i++)
        bn_buf_printf(&h, "#include %s\n", m->includes[i]);
    bn_buf_append(&h, "\n", 1);
    for (size_t i = 0; i < m->ncomponents; i++)
        declare(&g, m->components[i], &h);
    if (m->page)
        declare(&g, m->page, &h);
    bn_buf_append(&h, "#endif\n", 7);

    for (size_t i = 0; i < m->ncomponents; i++)
        define(&g, m->components[i]);
    if (m->page)
        define(&g, m->page);

    bn_buf_printf(out_c, "/* Generated by bennu-tpl from %s. Do not edit. */\n#include \"%s\"\n\n#include <stddef.h>\n",
                  m->path, m->header);
    if (g.uses_view && !(m->page && m->page->layout))
        bn_buf_append(out_c, "#include <bennu/view.h>\n", 24);
    for (size_t i = 0; i < g.nused; i++)
        if (g.used[i]->header)
            bn_buf_printf(out_c, "#include \"%s\"\n", g.used[i]->header);
    bn_buf_append(out_c, "\n", 1);
    bn_buf_append(out_c, g.top.data ? g.top.data : "", g.top.len);
    bn_buf_append(out_c, "\n", 1);
    bn_buf_append(out_c, g.fns.data ? g.fns.data : "", g.fns.len);
    resolve_lines(out_c, c_path);
    bn_buf_append(out_h, h.data, h.len);
    bn_buf_free(&h);
    bn_buf_free(&g.top);
    bn_buf_free(&g.fns);
    return c->diag.errors == errors;
}
