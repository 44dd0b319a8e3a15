/*
 * Markup to a tree, HTML-aware like HEEx: tags must nest and close, void
 * elements must not close, attributes are "quoted", {expressions} or bare.
 * Directives (<%@ … %>) declare the module: its assigns, its components
 * (attrs and slots), what it includes and imports.
 *
 * The first syntax error ends the parse (longjmp back to tpl_parse): what
 * follows a broken tag cannot be read reliably anyway.
 */
#include <ctype.h>
#include <strings.h>

#include "template/compiler/tpl.h"

typedef struct parser {
    tpl_compiler *c;
    tpl_module *m;
    const tpl_src *src;
    const char *p, *end;
    jmp_buf fail;
    tpl_import_ref *imports;
    size_t nimports;
} parser;

#define FAIL_AT(ps, at, ...)                                                 \
    do {                                                                     \
        tpl_error(&(ps)->c->diag, (ps)->src, tpl_pos_of((ps)->src, (at)), __VA_ARGS__); \
        longjmp((ps)->fail, 1);                                              \
    } while (0)

#define FAIL_POS(ps, pos, ...)                                          \
    do {                                                                \
        tpl_error(&(ps)->c->diag, (ps)->src, (pos), __VA_ARGS__);       \
        longjmp((ps)->fail, 1);                                         \
    } while (0)

static bool starts(const parser *ps, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, s, n) == 0;
}

static bool is_ident_start(char ch) { return isalpha((unsigned char)ch) || ch == '_'; }
static bool is_ident_char(char ch) { return isalnum((unsigned char)ch) || ch == '_'; }

static bool is_void_element(bn_str name)
{
    static const char *const voids[] = {"area", "base", "br", "col", "embed", "hr", "img", "input",
                                        "link", "meta", "param", "source", "track", "wbr"};
    for (size_t i = 0; i < BN_ARRAY_LEN(voids); i++)
        if (name.len == strlen(voids[i]) && strncasecmp(name.ptr, voids[i], name.len) == 0)
            return true;
    return false;
}

static bool is_raw_text_element(bn_str name)
{
    return (name.len == 6 && strncasecmp(name.ptr, "script", 6) == 0) ||
           (name.len == 5 && strncasecmp(name.ptr, "style", 5) == 0);
}

static tpl_node *new_node(parser *ps, tpl_node_kind kind, const char *at)
{
    tpl_node *n = tpl_alloc(ps->c, sizeof *n);
    n->kind = kind;
    n->pos = tpl_pos_of(ps->src, at);
    return n;
}

static void add_child(parser *ps, tpl_node *parent, tpl_node *child)
{
    /* Adjacent text merges into one node. */
    if (child->kind == TPL_TEXT && parent->nchildren > 0) {
        tpl_node *last = parent->children[parent->nchildren - 1];
        if (last->kind == TPL_TEXT && last->text.ptr + last->text.len == child->text.ptr) {
            last->text.len += child->text.len;
            return;
        }
    }
    tpl_push(ps->c, (void ***)&parent->children, &parent->nchildren, child);
}

/* The end of <% … %> code starting at p: the "%>" outside C literals. */
static const char *find_eex_end(const char *p, const char *end)
{
    while (p + 1 < end) {
        int skipped = tpl_skip_c_noise(&p, end);
        if (skipped < 0)
            return NULL;
        if (skipped)
            continue;
        if (p[0] == '%' && p[1] == '>')
            return p;
        p++;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Tags                                                                       */

static bn_str read_tag_name(parser *ps)
{
    const char *s = ps->p;
    while (ps->p < ps->end && (is_ident_char(*ps->p) || *ps->p == '-' || *ps->p == '.' || *ps->p == ':'))
        ps->p++;
    return bn_str_make(s, (size_t)(ps->p - s));
}

static void skip_space(parser *ps)
{
    while (ps->p < ps->end && isspace((unsigned char)*ps->p))
        ps->p++;
}

/* {…} at ps->p: returns the code inside and moves past the '}'. */
static bn_str read_braced(parser *ps, const char *what)
{
    const char *open = ps->p;
    const char *close = tpl_find_brace_end(open + 1, ps->end);
    if (!close)
        FAIL_AT(ps, open, "unterminated %s: missing '}'", what);
    ps->p = close + 1;
    return bn_str_make(open + 1, (size_t)(close - open - 1));
}

static void add_special(parser *ps, tpl_node *n, bn_str name, const char *at, bn_str code, const char *vat)
{
    tpl_special *s = NULL;
    if (name.len == 3 && memcmp(name.ptr, ":if", 3) == 0)
        s = &n->s_if;
    else if (name.len == 4 && memcmp(name.ptr, ":for", 4) == 0)
        s = &n->s_for;
    else if (name.len == 4 && memcmp(name.ptr, ":let", 4) == 0)
        s = &n->s_let;
    else if (name.len == 4 && memcmp(name.ptr, ":key", 4) == 0)
        s = &n->s_key;
    else
        FAIL_AT(ps, at, "unknown special attribute \"%.*s\" (expected :if, :for, :let or :key)", BN_STR_ARG(name));
    if (s->code.ptr)
        FAIL_AT(ps, at, "duplicate attribute \"%.*s\"", BN_STR_ARG(name));
    if (!code.ptr)
        FAIL_AT(ps, at, "\"%.*s\" needs an expression: %.*s={…}", BN_STR_ARG(name), BN_STR_ARG(name));
    s->code = code;
    s->pos = tpl_pos_of(ps->src, vat);
}

static void read_attrs(parser *ps, tpl_node *n)
{
    for (;;) {
        skip_space(ps);
        if (ps->p >= ps->end)
            FAIL_POS(ps, n->pos, "unterminated tag <%.*s>: missing '>'", BN_STR_ARG(n->tag));
        if (*ps->p == '>') {
            ps->p++;
            return;
        }
        if (starts(ps, "/>")) {
            ps->p += 2;
            n->self_closing = true;
            return;
        }
        tpl_attr a = {0};
        const char *at = ps->p;
        a.pos = tpl_pos_of(ps->src, at);
        if (*ps->p == '{') {
            a.kind = TPL_ATTR_SPREAD;
            a.vpos = tpl_pos_of(ps->src, at + 1);
            a.value = read_braced(ps, "attribute expression");
        } else {
            const char *s = ps->p;
            while (ps->p < ps->end && !isspace((unsigned char)*ps->p) && !strchr("=>/\"'{}<", *ps->p))
                ps->p++;
            a.name = bn_str_make(s, (size_t)(ps->p - s));
            if (a.name.len == 0)
                FAIL_AT(ps, at, "expected an attribute name in <%.*s>, got '%c'", BN_STR_ARG(n->tag), *ps->p);
            const char *after_name = ps->p;
            skip_space(ps);
            if (ps->p < ps->end && *ps->p == '=') {
                ps->p++;
                skip_space(ps);
                const char *v = ps->p;
                if (v < ps->end && (*v == '"' || *v == '\'')) {
                    const char *e = memchr(v + 1, *v, (size_t)(ps->end - v - 1));
                    if (!e)
                        FAIL_AT(ps, v, "unterminated attribute value");
                    const char *eex = memmem(v + 1, (size_t)(e - v - 1), "<%", 2);
                    if (eex)
                        FAIL_AT(ps, eex, "<%% %%> inside an attribute value: write %.*s={expression}",
                                BN_STR_ARG(a.name));
                    a.kind = TPL_ATTR_STATIC;
                    a.quote = *v;
                    a.value = bn_str_make(v + 1, (size_t)(e - v - 1));
                    a.vpos = tpl_pos_of(ps->src, v + 1);
                    ps->p = e + 1;
                } else if (v < ps->end && *v == '{') {
                    a.value = read_braced(ps, "attribute expression");
                    a.vpos = tpl_pos_of(ps->src, v + 1);
                    bn_str t = tpl_trim(a.value);
                    a.kind = t.len >= 2 && t.ptr[0] == '[' && t.ptr[t.len - 1] == ']' ? TPL_ATTR_LIST : TPL_ATTR_EXPR;
                } else {
                    FAIL_AT(ps, v, "invalid value for attribute \"%.*s\": expected \"…\", '…' or {expression}",
                            BN_STR_ARG(a.name));
                }
            } else {
                ps->p = after_name;
                a.kind = TPL_ATTR_BARE;
            }
        }
        if (a.name.len && a.name.ptr[0] == ':') {
            add_special(ps, n, a.name, at, a.kind == TPL_ATTR_EXPR ? a.value : BN_STR_NULL,
                        a.kind == TPL_ATTR_EXPR ? a.value.ptr : at);
            continue;
        }
        for (size_t i = 0; i < n->nattrs; i++)
            if (a.name.len && bn_str_eq(n->attrs[i].name, a.name))
                FAIL_AT(ps, at, "duplicate attribute \"%.*s\"", BN_STR_ARG(a.name));
        tpl_attr *grown = tpl_alloc(ps->c, (n->nattrs + 1) * sizeof *grown);
        if (n->nattrs)
            memcpy(grown, n->attrs, n->nattrs * sizeof *grown);
        grown[n->nattrs++] = a;
        n->attrs = grown;
    }
}

static bool has_attr(const tpl_node *n, const char *name)
{
    for (size_t i = 0; i < n->nattrs; i++)
        if (n->attrs[i].name.len == strlen(name) && memcmp(n->attrs[i].name.ptr, name, n->attrs[i].name.len) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Content                                                                    */

typedef struct open_tag {
    tpl_node *node;
    bool curly; /* {expr} interpolation allowed inside */
} open_tag;

static void add_text(parser *ps, tpl_node *parent, const char *s, size_t len)
{
    if (!len)
        return;
    tpl_node *t = new_node(ps, TPL_TEXT, s);
    t->text = bn_str_make(s, len);
    add_child(ps, parent, t);
}

/* <%= … %>, <% … %> or <%!-- … --%> at ps->p. */
static void read_eex(parser *ps, tpl_node *parent)
{
    const char *at = ps->p;
    if (starts(ps, "<%!--")) {
        const char *e = memmem(ps->p, (size_t)(ps->end - ps->p), "--%>", 4);
        if (!e)
            FAIL_AT(ps, at, "unterminated comment: missing --%%>");
        ps->p = e + 4;
        return;
    }
    if (starts(ps, "<%%")) { /* literal "<%" */
        ps->p += 3;
        add_text(ps, parent, at, 2);
        return;
    }
    bool out = starts(ps, "<%=");
    ps->p += out ? 3 : 2;
    const char *e = find_eex_end(ps->p, ps->end);
    if (!e)
        FAIL_AT(ps, at, "unterminated %s: missing %%>", out ? "<%=" : "<%");
    tpl_node *n = new_node(ps, out ? TPL_EXPR : TPL_CODE, at);
    n->text = tpl_trim(bn_str_make(ps->p, (size_t)(e - ps->p)));
    n->text_pos = tpl_pos_of(ps->src, n->text.ptr);
    if (n->text.len == 0)
        FAIL_AT(ps, at, "empty %s %%>", out ? "<%=" : "<%");
    n->braces = out ? 0 : tpl_brace_balance(n->text);
    ps->p = e + 2;
    add_child(ps, parent, n);
}

/* Raw text of <script>/<style>: no tags and no {…}, only <%= %>. */
static void read_raw_text(parser *ps, tpl_node *el)
{
    for (;;) {
        const char *s = ps->p;
        while (ps->p < ps->end && !(ps->p[0] == '<' && (ps->p + 1 < ps->end) && (ps->p[1] == '%' || ps->p[1] == '/')))
            ps->p++;
        add_text(ps, el, s, (size_t)(ps->p - s));
        if (ps->p >= ps->end)
            FAIL_POS(ps, el->pos, "end of template reached without closing tag for <%.*s>", BN_STR_ARG(el->tag));
        if (ps->p[1] == '%') {
            read_eex(ps, el);
            continue;
        }
        const char *lt = ps->p, *name = lt + 2;
        if ((size_t)(ps->end - name) >= el->tag.len && strncasecmp(name, el->tag.ptr, el->tag.len) == 0) {
            ps->p = name + el->tag.len;
            skip_space(ps);
            if (ps->p < ps->end && *ps->p == '>') {
                ps->p++;
                return;
            }
        }
        add_text(ps, el, lt, 1); /* "</" of something else: text */
        ps->p = lt + 1;
    }
}

static void read_open_tag(parser *ps, open_tag *stack, size_t *depth, size_t cap)
{
    const char *at = ps->p++;
    bn_str tag = read_tag_name(ps);
    tpl_node *n;
    if (tag.ptr[0] == '.') {
        n = new_node(ps, TPL_CALL, at);
        n->text = bn_str_make(tag.ptr + 1, tag.len - 1);
    } else if (tag.ptr[0] == ':') {
        n = new_node(ps, TPL_SLOT, at);
        n->text = bn_str_make(tag.ptr + 1, tag.len - 1);
    } else if (isupper((unsigned char)tag.ptr[0])) {
        const char *dot = memrchr(tag.ptr, '.', tag.len);
        if (!dot)
            FAIL_AT(ps, at, "<%.*s> looks like a component: write <Module.name> or <.name>", BN_STR_ARG(tag));
        n = new_node(ps, TPL_CALL, at);
        n->module = bn_str_make(tag.ptr, (size_t)(dot - tag.ptr));
        n->text = bn_str_make(dot + 1, (size_t)(tag.ptr + tag.len - dot - 1));
    } else {
        n = new_node(ps, TPL_ELEMENT, at);
        n->text = tag;
    }
    n->tag = tag;
    if (n->kind != TPL_ELEMENT) {
        for (size_t i = 0; i < n->text.len; i++)
            if (!(i == 0 ? is_ident_start(n->text.ptr[i]) : is_ident_char(n->text.ptr[i])))
                FAIL_AT(ps, at, "invalid %s name \"%.*s\"", n->kind == TPL_SLOT ? "slot" : "component",
                        BN_STR_ARG(n->text));
    }
    read_attrs(ps, n);
    open_tag *top = &stack[*depth - 1];
    add_child(ps, top->node, n);
    if (n->kind == TPL_ELEMENT && is_void_element(tag))
        return;
    if (n->self_closing)
        return;
    if (n->kind == TPL_ELEMENT && is_raw_text_element(tag)) {
        read_raw_text(ps, n);
        return;
    }
    if (*depth == cap)
        FAIL_AT(ps, at, "tags nested too deeply (more than %zu levels)", cap - 1);
    stack[(*depth)++] = (open_tag){n, top->curly && !has_attr(n, "phx-no-curly-interpolation")};
}

static void read_close_tag(parser *ps, open_tag *stack, size_t *depth)
{
    const char *at = ps->p;
    ps->p += 2;
    bn_str tag = read_tag_name(ps);
    skip_space(ps);
    if (ps->p >= ps->end || *ps->p != '>')
        FAIL_AT(ps, at, "malformed closing tag </%.*s: expected '>'", BN_STR_ARG(tag));
    ps->p++;
    if (is_void_element(tag))
        FAIL_AT(ps, at, "<%.*s> is a void element: it has no closing tag", BN_STR_ARG(tag));
    if (*depth == 1)
        FAIL_AT(ps, at, "unexpected closing tag </%.*s>: no tag is open", BN_STR_ARG(tag));
    tpl_node *open = stack[*depth - 1].node;
    bool same = open->kind == TPL_ELEMENT ? tag.len == open->tag.len && strncasecmp(tag.ptr, open->tag.ptr, tag.len) == 0
                                          : bn_str_eq(tag, open->tag);
    if (!same)
        FAIL_AT(ps, at, "unmatched closing tag: expected </%.*s> for <%.*s> at line %d, got </%.*s>",
                BN_STR_ARG(open->tag), BN_STR_ARG(open->tag), open->pos.line, BN_STR_ARG(tag));
    (*depth)--;
}

/* Reads content into `root` up to a directive (<%@) or the end of the file. */
static void read_content(parser *ps, tpl_node *root)
{
    enum { MAX_DEPTH = 128 };
    open_tag stack[MAX_DEPTH];
    size_t depth = 1;
    stack[0] = (open_tag){root, true};
    while (ps->p < ps->end && !starts(ps, "<%@")) {
        tpl_node *parent = stack[depth - 1].node;
        const char *p = ps->p;
        if (p[0] == '<' && p + 1 < ps->end) {
            char n = p[1];
            if (n == '%') {
                read_eex(ps, parent);
                continue;
            }
            if (starts(ps, "<!--")) {
                const char *e = memmem(p, (size_t)(ps->end - p), "-->", 3);
                if (!e)
                    FAIL_AT(ps, p, "unterminated HTML comment: missing -->");
                ps->p = e + 3;
                add_text(ps, parent, p, (size_t)(ps->p - p));
                continue;
            }
            if (n == '!') { /* <!DOCTYPE html> */
                const char *e = memchr(p, '>', (size_t)(ps->end - p));
                if (!e)
                    FAIL_AT(ps, p, "unterminated <!…> declaration");
                ps->p = e + 1;
                add_text(ps, parent, p, (size_t)(ps->p - p));
                continue;
            }
            if (n == '/') {
                read_close_tag(ps, stack, &depth);
                continue;
            }
            if (isalpha((unsigned char)n) || n == '.' || n == ':') {
                read_open_tag(ps, stack, &depth, MAX_DEPTH);
                continue;
            }
        }
        if (p[0] == '{' && stack[depth - 1].curly) {
            tpl_node *e = new_node(ps, TPL_EXPR, p);
            e->text = tpl_trim(read_braced(ps, "{…} expression"));
            e->text_pos = tpl_pos_of(ps->src, e->text.ptr);
            if (e->text.len == 0)
                FAIL_AT(ps, p, "empty {} expression");
            add_child(ps, parent, e);
            continue;
        }
        /* Plain text up to the next character that may start something. */
        const char *s = ps->p++;
        while (ps->p < ps->end && *ps->p != '<' && *ps->p != '{')
            ps->p++;
        add_text(ps, parent, s, (size_t)(ps->p - s));
    }
    if (depth > 1) {
        tpl_node *open = stack[depth - 1].node;
        tpl_error(&ps->c->diag, ps->src, open->pos, "end of %s reached without closing tag for <%.*s>",
                  ps->p < ps->end ? "component" : "template", BN_STR_ARG(open->tag));
        longjmp(ps->fail, 1);
    }
}

/* ------------------------------------------------------------------------ */
/* Declarations                                                               */

typedef struct tok {
    const char *s, *e;
} tok;

/* Splits declaration code into C-like tokens (identifiers, numbers,
 * literals, single punctuation); comments are skipped. */
static size_t tokenize(parser *ps, bn_str code, tok **out)
{
    const char *p = code.ptr, *end = code.ptr + code.len;
    tok *toks = NULL;
    size_t n = 0, cap = 0;
    while (p < end) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (p + 1 < end && p[0] == '/' && p[1] == '/') {
            while (p < end && *p != '\n')
                p++;
            continue;
        }
        if (p + 1 < end && p[0] == '/' && p[1] == '*') {
            const char *e = memmem(p + 2, (size_t)(end - p - 2), "*/", 2);
            if (!e) /* the directive's end was found outside comments */
                bn_fatal("bennu-tpl: unterminated comment in a directive (a compiler bug)");
            p = e + 2;
            continue;
        }
        const char *s = p;
        if (is_ident_start(*p) || isdigit((unsigned char)*p)) {
            while (p < end && (is_ident_char(*p) || *p == '.'))
                p++;
        } else if (*p == '"' || *p == '\'') {
            if (!tpl_skip_c_literal(&p, end)) /* as above, for literals */
                bn_fatal("bennu-tpl: unterminated literal in a directive (a compiler bug)");
        } else {
            p++;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            tok *grown = tpl_alloc(ps->c, cap * sizeof *grown);
            if (n)
                memcpy(grown, toks, n * sizeof *grown);
            toks = grown;
        }
        toks[n++] = (tok){s, p};
    }
    *out = toks;
    return n;
}

static bool tok_is(tok t, const char *s) { return (size_t)(t.e - t.s) == strlen(s) && memcmp(t.s, s, strlen(s)) == 0; }
static bool tok_ident(tok t) { return is_ident_start(*t.s); }

static char *tok_text(parser *ps, tok *t, size_t from, size_t to)
{
    return tpl_strndup(ps->c, t[from].s, (size_t)(t[to - 1].e - t[from].s));
}

/* The index of the token closing the bracket at i, or n. */
static size_t match_bracket(tok *t, size_t i, size_t n)
{
    int depth = 0;
    for (; i < n; i++) {
        char ch = *t[i].s;
        if (t[i].e - t[i].s == 1 && (ch == '(' || ch == '[' || ch == '{'))
            depth++;
        else if (t[i].e - t[i].s == 1 && (ch == ')' || ch == ']' || ch == '}') && --depth == 0)
            return i;
    }
    return n;
}

/* Comma-separated items between t[open] and t[close]. */
static const char **split_list(parser *ps, tok *t, size_t open, size_t close, size_t *count)
{
    const char **items = NULL;
    *count = 0;
    size_t start = open + 1;
    int depth = 0;
    for (size_t i = open + 1; i <= close; i++) {
        char ch = *t[i].s;
        bool single = t[i].e - t[i].s == 1;
        if (single && (ch == '(' || ch == '[' || ch == '{'))
            depth++;
        else if (single && (ch == ')' || ch == ']' || ch == '}') && i != close)
            depth--;
        if ((i == close || (single && ch == ',' && depth == 0)) && i > start) {
            tpl_push(ps->c, (void ***)&items, count, tok_text(ps, t, start, i));
            start = i + 1;
        } else if (i == close || (single && ch == ',' && depth == 0)) {
            if (i != close)
                FAIL_AT(ps, t[i].s, "empty item in list");
        }
    }
    return items;
}

/* "TYPE NAME" from tokens [from, to): the name is the last identifier. */
static void parse_c_decl(parser *ps, tok *t, size_t from, size_t to, const char *what, tpl_attr_decl *d)
{
    if (to <= from || !tok_ident(t[to - 1]) || to - from < 2)
        FAIL_AT(ps, to > from ? t[from].s : t[from > 0 ? from - 1 : 0].e,
                "expected a C declaration \"TYPE NAME\" for %s", what);
    d->name = tok_text(ps, t, to - 1, to);
    d->type = tok_text(ps, t, from, to - 1);
    d->pos = tpl_pos_of(ps->src, t[to - 1].s);
}

/* One attr: [global NAME [include(...)]] | TYPE NAME [required] [= DEFAULT] [values(...)]. */
static void parse_attr(parser *ps, tok *t, size_t from, size_t to, tpl_attr_decl *d)
{
    if (from < to && tok_is(t[from], "global")) {
        if (from + 1 >= to || !tok_ident(t[from + 1]))
            FAIL_AT(ps, t[from].s, "expected a name after \"attr global\"");
        d->global = true;
        d->name = tok_text(ps, t, from + 1, from + 2);
        d->type = "bn_tpl_attrs";
        d->pos = tpl_pos_of(ps->src, t[from + 1].s);
        size_t i = from + 2;
        if (i < to && tok_is(t[i], "include") && i + 1 < to && tok_is(t[i + 1], "(")) {
            size_t close = match_bracket(t, i + 1, to);
            if (close == to)
                FAIL_AT(ps, t[i].s, "unclosed include(…)");
            const char **names = split_list(ps, t, i + 1, close, &d->ninclude);
            for (size_t k = 0; k < d->ninclude; k++) {
                size_t len = strlen(names[k]);
                if (len < 2 || names[k][0] != '"' || names[k][len - 1] != '"')
                    FAIL_AT(ps, t[i].s, "include(…) takes attribute names as \"strings\"");
                names[k] = tpl_strndup(ps->c, names[k] + 1, len - 2);
            }
            d->include = names;
            i = close + 1;
        }
        if (i != to)
            FAIL_AT(ps, t[i].s, "unexpected \"%.*s\" in attr global", (int)(t[i].e - t[i].s), t[i].s);
        return;
    }
    size_t decl_end = to, def = 0, def_end = to;
    for (size_t i = from; i < to; i++) {
        if (tok_is(t[i], "required")) {
            d->required = true;
            if (decl_end == to)
                decl_end = i;
            if (def && def_end == to)
                def_end = i;
        } else if (tok_is(t[i], "values") && i + 1 < to && tok_is(t[i + 1], "(")) {
            size_t close = match_bracket(t, i + 1, to);
            if (close == to)
                FAIL_AT(ps, t[i].s, "unclosed values(…)");
            d->values = split_list(ps, t, i + 1, close, &d->nvalues);
            if (decl_end == to)
                decl_end = i;
            if (def && def_end == to)
                def_end = i;
            i = close;
        } else if (tok_is(t[i], "=") && !def) {
            if (decl_end == to)
                decl_end = i;
            def = i + 1;
        }
    }
    parse_c_decl(ps, t, from, decl_end, "an attr", d);
    if (def) {
        if (def >= def_end)
            FAIL_AT(ps, t[def - 1].s, "expected a default value after '='");
        d->deflt = tok_text(ps, t, def, def_end);
    }
    if (d->required && d->deflt)
        FAIL_AT(ps, t[from].s, "attr \"%s\" is required: it cannot have a default", d->name);
    if (d->deflt && d->nvalues) {
        bool ok = false;
        for (size_t i = 0; i < d->nvalues && !ok; i++)
            ok = strcmp(d->values[i], d->deflt) == 0;
        if (!ok)
            FAIL_AT(ps, t[def].s, "the default of attr \"%s\", %s, is not one of its values", d->name, d->deflt);
    }
}

static void push_attr(parser *ps, tpl_attr_decl **list, size_t *n, tpl_attr_decl d)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i].name, d.name) == 0) {
            tpl_error(&ps->c->diag, ps->src, d.pos, "\"%s\" is declared twice", d.name);
            longjmp(ps->fail, 1);
        }
    tpl_attr_decl *grown = tpl_alloc(ps->c, (*n + 1) * sizeof *grown);
    if (*n)
        memcpy(grown, *list, *n * sizeof *grown);
    grown[(*n)++] = d;
    *list = grown;
}

/* Statement end: the next ';' at depth 0, or n. */
static size_t stmt_end(tok *t, size_t i, size_t n)
{
    int depth = 0;
    for (; i < n; i++) {
        char ch = *t[i].s;
        if (t[i].e - t[i].s != 1)
            continue;
        if (ch == '(' || ch == '[' || ch == '{')
            depth++;
        else if (ch == ')' || ch == ']' || ch == '}')
            depth--;
        else if (ch == ';' && depth == 0)
            return i;
    }
    return n;
}

static void parse_component_decls(parser *ps, tpl_component *comp, tok *t, size_t i, size_t n)
{
    while (i < n) {
        if (tok_is(t[i], "attr")) {
            size_t e = stmt_end(t, i, n);
            tpl_attr_decl d = {0};
            parse_attr(ps, t, i + 1, e, &d);
            for (size_t k = 0; k < comp->nslots; k++)
                if (strcmp(comp->slots[k].name, d.name) == 0)
                    FAIL_AT(ps, t[i].s, "\"%s\" is already a slot", d.name);
            push_attr(ps, &comp->attrs, &comp->nattrs, d);
            i = e + 1;
        } else if (tok_is(t[i], "slot")) {
            if (i + 1 >= n || !tok_ident(t[i + 1]))
                FAIL_AT(ps, t[i].s, "expected a slot name after \"slot\"");
            tpl_slot_decl s = {.name = tok_text(ps, t, i + 1, i + 2), .pos = tpl_pos_of(ps->src, t[i + 1].s)};
            i += 2;
            if (i < n && tok_is(t[i], "required")) {
                s.required = true;
                i++;
            }
            if (i < n && tok_is(t[i], "{")) {
                size_t close = match_bracket(t, i, n);
                if (close == n)
                    FAIL_AT(ps, t[i].s, "unclosed '{' in slot %s", s.name);
                if (strcmp(s.name, "inner_block") == 0)
                    FAIL_AT(ps, t[i].s, "the inner_block slot cannot have attrs");
                for (size_t k = i + 1; k < close;) {
                    if (!tok_is(t[k], "attr"))
                        FAIL_AT(ps, t[k].s, "expected \"attr\" inside slot %s { … }", s.name);
                    size_t e = stmt_end(t, k, close);
                    tpl_attr_decl d = {0};
                    parse_attr(ps, t, k + 1, e, &d);
                    if (d.global)
                        FAIL_AT(ps, t[k].s, "a slot cannot have a global attr");
                    if (strcmp(d.name, "inner_block") == 0)
                        FAIL_AT(ps, t[k].s, "\"inner_block\" is reserved in a slot");
                    push_attr(ps, &s.attrs, &s.nattrs, d);
                    k = e + 1;
                }
                i = close + 1;
                if (i < n && tok_is(t[i], ";"))
                    i++;
            } else if (i < n && tok_is(t[i], ";")) {
                i++;
            } else {
                FAIL_AT(ps, i < n ? t[i].s : t[n - 1].e, "expected ';' or '{' after slot %s", s.name);
            }
            for (size_t k = 0; k < comp->nslots; k++)
                if (strcmp(comp->slots[k].name, s.name) == 0)
                    FAIL_POS(ps, s.pos, "slot \"%s\" is declared twice", s.name);
            for (size_t k = 0; k < comp->nattrs; k++)
                if (strcmp(comp->attrs[k].name, s.name) == 0)
                    FAIL_POS(ps, s.pos, "\"%s\" is already an attr", s.name);
            tpl_slot_decl *grown = tpl_alloc(ps->c, (comp->nslots + 1) * sizeof *grown);
            if (comp->nslots)
                memcpy(grown, comp->slots, comp->nslots * sizeof *grown);
            grown[comp->nslots++] = s;
            comp->slots = grown;
        } else {
            FAIL_AT(ps, t[i].s, "expected \"attr\" or \"slot\", got \"%.*s\"", (int)(t[i].e - t[i].s), t[i].s);
        }
    }
}

static void parse_assigns(parser *ps, tpl_component *page, tok *t, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t e = stmt_end(t, i, n);
        if (e == n)
            FAIL_AT(ps, t[n - 1].e, "expected ';' after the assign");
        tpl_attr_decl d = {0};
        parse_c_decl(ps, t, i, e, "an assign", &d);
        push_attr(ps, &page->attrs, &page->nattrs, d);
        i = e + 1;
    }
}

/* ------------------------------------------------------------------------ */
/* Directives and the module                                                  */

static tpl_component *page_of(parser *ps, const char *at)
{
    if (!ps->m->page) {
        tpl_component *p = tpl_alloc(ps->c, sizeof *p);
        p->cname = ps->m->name;
        p->atype = tpl_printf(ps->c, "%s_assigns", ps->m->name);
        p->module = ps->m;
        p->pos = tpl_pos_of(ps->src, at);
        p->body = new_node(ps, TPL_FRAGMENT, at);
        ps->m->page = p;
    }
    return ps->m->page;
}

static bool valid_ident(bn_str s)
{
    if (!s.len || !is_ident_start(s.ptr[0]))
        return false;
    for (size_t i = 1; i < s.len; i++)
        if (!is_ident_char(s.ptr[i]))
            return false;
    return true;
}

/* Reads a directive at ps->p; returns its keyword and arguments. */
static bn_str read_directive(parser *ps, bn_str *args, const char **at)
{
    *at = ps->p;
    ps->p += 3;
    const char *e = find_eex_end(ps->p, ps->end);
    if (!e)
        FAIL_AT(ps, *at, "unterminated <%%@: missing %%>");
    bn_str body = tpl_trim(bn_str_make(ps->p, (size_t)(e - ps->p)));
    ps->p = e + 2;
    /* The newline after a directive belongs to it. */
    if (ps->p < ps->end && *ps->p == '\r')
        ps->p++;
    if (ps->p < ps->end && *ps->p == '\n')
        ps->p++;
    size_t k = 0;
    while (k < body.len && is_ident_char(body.ptr[k]))
        k++;
    *args = tpl_trim(bn_str_make(body.ptr + k, body.len - k));
    return bn_str_make(body.ptr, k);
}

static bool kw(bn_str s, const char *k) { return s.len == strlen(k) && memcmp(s.ptr, k, s.len) == 0; }

static bool only_space(const tpl_node *frag)
{
    for (size_t i = 0; i < frag->nchildren; i++) {
        const tpl_node *n = frag->children[i];
        if (n->kind != TPL_TEXT)
            return false;
        for (size_t k = 0; k < n->text.len; k++)
            if (!isspace((unsigned char)n->text.ptr[k]))
                return false;
    }
    return true;
}

static void read_component(parser *ps, bn_str args, const char *at)
{
    tok *t;
    size_t n = tokenize(ps, args, &t);
    if (n == 0 || !tok_ident(t[0]))
        FAIL_AT(ps, at, "expected a component name: <%%@ component NAME … %%>");
    tpl_component *comp = tpl_alloc(ps->c, sizeof *comp);
    comp->name = tok_text(ps, t, 0, 1);
    comp->cname = tpl_printf(ps->c, "%s_%s", ps->m->name, comp->name);
    comp->atype = tpl_printf(ps->c, "%s_assigns", comp->cname);
    comp->module = ps->m;
    comp->pos = tpl_pos_of(ps->src, t[0].s);
    for (size_t i = 0; i < ps->m->ncomponents; i++)
        if (strcmp(ps->m->components[i]->name, comp->name) == 0)
            FAIL_AT(ps, t[0].s, "component \"%s\" is defined twice (first at line %d)", comp->name,
                    ps->m->components[i]->pos.line);
    parse_component_decls(ps, comp, t, 1, n);
    comp->body = new_node(ps, TPL_FRAGMENT, ps->p);
    read_content(ps, comp->body);
    if (ps->p >= ps->end)
        FAIL_AT(ps, at, "component \"%s\" has no <%%@ end %%>", comp->name);
    const char *dat;
    bn_str dargs, d = read_directive(ps, &dargs, &dat);
    if (!kw(d, "end"))
        FAIL_AT(ps, dat, "expected <%%@ end %%> to close component \"%s\" (components do not nest)", comp->name);
    if (dargs.len)
        FAIL_AT(ps, dat, "<%%@ end %%> takes no arguments");
    tpl_push(ps->c, (void ***)&ps->m->components, &ps->m->ncomponents, comp);
}

static void read_module(parser *ps)
{
    bool seen_content = false;
    while (ps->p < ps->end) {
        if (!starts(ps, "<%@")) {
            const char *start = ps->p;
            tpl_node *frag = new_node(ps, TPL_FRAGMENT, start);
            read_content(ps, frag);
            if (!only_space(frag)) {
                tpl_node *body = page_of(ps, start)->body;
                if (body->nchildren == 0) /* the page starts at its first content */
                    body->pos = frag->children[0]->pos;
                for (size_t i = 0; i < frag->nchildren; i++)
                    add_child(ps, body, frag->children[i]);
                seen_content = true;
            }
            continue;
        }
        const char *at;
        bn_str args, d = read_directive(ps, &args, &at);
        if (kw(d, "component")) {
            read_component(ps, args, at);
        } else if (kw(d, "assigns") || kw(d, "layout")) {
            tpl_component *page = page_of(ps, at);
            if (page->nattrs || page->layout || seen_content)
                FAIL_AT(ps, at, "<%%@ %.*s %%> must come once, before the template's content", BN_STR_ARG(d));
            if (kw(d, "layout")) {
                if (args.len)
                    FAIL_AT(ps, at, "<%%@ layout %%> takes no arguments");
                page->layout = true;
            } else {
                tok *t;
                size_t n = tokenize(ps, args, &t);
                if (n == 0)
                    FAIL_AT(ps, at, "<%%@ assigns %%> declares nothing");
                parse_assigns(ps, page, t, n);
            }
        } else if (kw(d, "include")) {
            if (args.len < 3 || !((args.ptr[0] == '"' && args.ptr[args.len - 1] == '"') ||
                                  (args.ptr[0] == '<' && args.ptr[args.len - 1] == '>')))
                FAIL_AT(ps, at, "expected <%%@ include \"file.h\" %%> or <%%@ include <file.h> %%>");
            tpl_push(ps->c, (void ***)&ps->m->includes, &ps->m->nincludes, tpl_strndup(ps->c, args.ptr, args.len));
        } else if (kw(d, "import")) {
            if (!valid_ident(args))
                FAIL_AT(ps, at, "expected a module name: <%%@ import core_components %%>");
            tpl_import_ref *grown = tpl_alloc(ps->c, (ps->nimports + 1) * sizeof *grown);
            if (ps->nimports)
                memcpy(grown, ps->imports, ps->nimports * sizeof *grown);
            grown[ps->nimports++] = (tpl_import_ref){args, tpl_pos_of(ps->src, args.ptr)};
            ps->imports = grown;
        } else if (kw(d, "module")) {
            if (!valid_ident(args))
                FAIL_AT(ps, at, "expected a C identifier: <%%@ module NAME %%>");
            if (ps->m->ncomponents || ps->m->page)
                FAIL_AT(ps, at, "<%%@ module %%> must come first");
            ps->m->name = tpl_strndup(ps->c, args.ptr, args.len);
        } else if (kw(d, "end")) {
            FAIL_AT(ps, at, "<%%@ end %%> without <%%@ component %%>");
        } else {
            FAIL_AT(ps, at, "unknown directive \"%.*s\" (expected module, include, import, assigns, layout, "
                            "component or end)", BN_STR_ARG(d));
        }
    }
}

bool tpl_parse(tpl_compiler *c, tpl_module *m, tpl_import_ref **imports, size_t *nimports)
{
    parser ps = {.c = c, .m = m, .src = &m->src, .p = m->src.text, .end = m->src.text + m->src.len};
    if (setjmp(ps.fail)) {
        *imports = NULL;
        *nimports = 0;
        return false;
    }
    if (memchr(ps.p, '\0', m->src.len))
        FAIL_AT(&ps, memchr(ps.p, '\0', m->src.len), "NUL byte in template");
    read_module(&ps);
    *imports = ps.imports;
    *nimports = ps.nimports;
    return true;
}
