/*
 * The runtime of compiled templates [Phoenix.LiveView.Engine,
 * Phoenix.LiveView.Diff]: the same generated code either writes HTML straight
 * into a buffer (plain mode) or builds a bn_rendered tree (structured mode).
 *
 * Structured mode keeps a stack of frames, one per open block or
 * comprehension. A frame walks its block's dynamics in order: bn_tpl_dyn_slow
 * ends the current dynamic and starts the next one, which either takes values
 * (it reads a changed assign, or the frame is forced) or is left
 * BN_DYN_UNCHANGED. A forced frame renders every dynamic: the root on a first
 * render, a nested block that `prev` does not hold at the same place with the
 * same block, every comprehension entry, and everything under a forced frame.
 *
 * Several values in one dynamic. Generated code usually writes one value per
 * dynamic, but a named slot with several entries, or a component called in a
 * C loop, writes several. The rule: a dynamic that receives a second value
 * becomes a BN_DYN_STRING holding the HTML of all its values, in order. Each
 * value is still built as a tree (a block opened as the second value or later
 * is forced, so its tree is complete) and turned into HTML when it is
 * committed. The first value may have been a nested block tracked against
 * `prev`, with UNCHANGED holes: its HTML takes those from `prev`, which must
 * then hold them (a complete tree, as the client has it); if it does not,
 * the render fails rather than send HTML with pieces missing. A capture
 * region (bn_tpl_capture_begin/end) turns its dynamic into such a string at
 * once, and every value written inside it, nested blocks included, goes into
 * that string. So plain and structured renders always produce the same HTML.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bennu/value.h"
#include "template/template_internal.h"

/* What the current dynamic of a frame holds so far. */
enum { DYN_EMPTY, DYN_SINGLE, DYN_TEXT };

typedef struct frame {
    const bn_tpl_block *block;
    bn_rendered *node;        /* a block's frame: the node being built */
    const bn_rendered *prev;  /* what it is tracked against; NULL: forced */
    bn_dyn *dyns;             /* the node's dynamics, or the current entry's */
    uint32_t idx;             /* dynamics started; the current one is idx - 1 */
    bool list;                /* a comprehension */
    bool in_entry;            /* comprehension: bn_tpl_for_item was called */
    bool forced;
    bool active;              /* the current dynamic takes values */
    bn_tpl_changes reads;     /* what the current dynamic reads */
    unsigned char state;      /* DYN_*: what the current dynamic holds */
    unsigned capture;         /* open capture regions in the current dynamic */
    bn_buf text;              /* DYN_TEXT: the dynamic's HTML so far */
    bn_dyn **entries;         /* comprehension entries so far (heap, reused) */
    size_t nentries, centries;
} frame;

struct bn_tpl_builder {
    frame *frames; /* reused by depth, with their buffers */
    size_t depth, cap;
    const bn_rendered *prev;
    bn_rendered *root;
};

static const bn_dyn empty_string = {.kind = BN_DYN_STRING, .u.string = {"", 0}};

/* A broken contract between bennu-tpl and this runtime: a compiler bug. */
static void protocol_error(bn_tpl *t, const bn_tpl_block *b, const char *what)
{
#ifndef NDEBUG
    (void)t;
    bn_fatal("template runtime: %s (block %s; a bennu-tpl bug)", what, b && b->where ? b->where : "?");
#else
    (void)b;
    (void)what;
    bn_tpl_fail(t, "template runtime: generated code broke the protocol");
#endif
}

void bn_tpl_fail(bn_tpl *t, const char *message)
{
    if (!t->error)
        t->error = message ? message : "template render error";
}

static frame *top(const bn_tpl *t)
{
    const struct bn_tpl_builder *b = t->tree;
    return b->depth ? &b->frames[b->depth - 1] : NULL;
}

static frame *push(struct bn_tpl_builder *b)
{
    if (b->depth == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        b->frames = bn_xrealloc(b->frames, cap * sizeof *b->frames);
        memset(b->frames + b->cap, 0, (cap - b->cap) * sizeof *b->frames);
        b->cap = cap;
    }
    frame *f = &b->frames[b->depth++];
    f->node = NULL;
    f->prev = NULL;
    f->dyns = NULL;
    f->idx = 0;
    f->list = f->in_entry = f->forced = f->active = false;
    f->state = DYN_EMPTY;
    f->capture = 0;
    f->reads = 0;
    f->text.len = 0;
    f->nentries = 0;
    return f;
}

static bn_dyn *alloc_dyns(bn_arena *a, uint32_t n)
{
    if (!n)
        return NULL;
    bn_dyn *d = bn_arena_alloc(a, n * sizeof *d);
    memset(d, 0, n * sizeof *d); /* BN_DYN_UNCHANGED */
    return d;
}

static bn_str arena_copy(bn_arena *a, const char *p, size_t n)
{
    if (!n)
        return (bn_str){"", 0};
    char *s = bn_arena_alloc(a, n);
    memcpy(s, p, n);
    return (bn_str){s, n};
}

/* ------------------------------------------------------------------------ */
/* Trees to HTML                                                              */

/*
 * `t` NULL: bn_rendered_to_html, an UNCHANGED dynamic writes nothing.
 * `t` set: the HTML of a value that joins a multi-value dynamic; UNCHANGED
 * holes come from `pd`, the same place in the tree the value was tracked
 * against, and the render fails if it does not have them.
 */
static void html_dyn(bn_tpl *t, bn_buf *out, const bn_dyn *d, const bn_dyn *pd);

static void html_node(bn_tpl *t, bn_buf *out, const bn_rendered *r, const bn_rendered *prev)
{
    const bn_tpl_block *b = r->block;
    for (uint32_t i = 0; i < b->ndynamics; i++) {
        bn_buf_append_str(out, b->statics[i]);
        html_dyn(t, out, &r->dynamics[i], prev ? &prev->dynamics[i] : NULL);
    }
    bn_buf_append_str(out, b->statics[b->ndynamics]);
}

static void html_list(bn_tpl *t, bn_buf *out, const bn_comprehension *c)
{
    const bn_tpl_block *b = c->block;
    for (size_t e = 0; e < c->count; e++) {
        for (uint32_t i = 0; i < b->ndynamics; i++) {
            bn_buf_append_str(out, b->statics[i]);
            html_dyn(t, out, &c->entries[e][i], NULL);
        }
        bn_buf_append_str(out, b->statics[b->ndynamics]);
    }
}

static void html_dyn(bn_tpl *t, bn_buf *out, const bn_dyn *d, const bn_dyn *pd)
{
    switch (d->kind) {
    case BN_DYN_UNCHANGED:
        if (!t)
            return;
        if (pd && pd->kind != BN_DYN_UNCHANGED)
            html_dyn(t, out, pd, NULL);
        else
            bn_tpl_fail(t, "template render: a dynamic that held one block now holds several, and the previous "
                           "tree lacks the unchanged parts of that block (pass a complete tree as prev)");
        return;
    case BN_DYN_STRING:
        bn_buf_append_str(out, d->u.string);
        return;
    case BN_DYN_NESTED: {
        const bn_rendered *pn = NULL;
        if (pd && pd->kind == BN_DYN_NESTED && pd->u.nested->block == d->u.nested->block)
            pn = pd->u.nested;
        html_node(t, out, d->u.nested, pn);
        return;
    }
    case BN_DYN_LIST:
        html_list(t, out, d->u.list);
        return;
    }
}

void bn_rendered_to_html(const bn_rendered *r, bn_buf *out)
{
    if (r)
        html_node(NULL, out, r, NULL);
}

/* ------------------------------------------------------------------------ */
/* Structured mode: frames and values                                         */

/* The frame whose current dynamic may take a value now, or NULL. */
static frame *value_frame(bn_tpl *t)
{
    frame *f = top(t);
    if (!f || !f->active) {
        protocol_error(t, f ? f->block : NULL, "a value written outside a dynamic");
        return NULL;
    }
    return f;
}

/* The current dynamic gets a second value: what it holds becomes HTML. */
static void to_text(bn_tpl *t, frame *f)
{
    const bn_dyn *pd = f->prev ? &f->prev->dynamics[f->idx - 1] : NULL;
    f->text.len = 0;
    html_dyn(t, &f->text, &f->dyns[f->idx - 1], pd);
    f->state = DYN_TEXT;
}

/* A finished value (nested block or comprehension) goes into the current
 * dynamic of the frame under it. */
static void commit(bn_tpl *t, bn_dyn v)
{
    frame *f = top(t);
    if (!f || !f->active)
        return; /* reported when it was opened */
    switch (f->state) {
    case DYN_EMPTY:
        f->dyns[f->idx - 1] = v;
        f->state = DYN_SINGLE;
        return;
    case DYN_SINGLE:
        to_text(t, f);
        break;
    default:
        break;
    }
    html_dyn(t, &f->text, &v, NULL);
}

/* Ends the current dynamic of `f`: an empty one is "", a text one a string. */
static void dyn_end(bn_tpl *t, frame *f)
{
    if (!f->active)
        return;
    if (f->capture) {
        protocol_error(t, f->block, "a capture region left open");
        f->capture = 0;
    }
    bn_dyn *d = &f->dyns[f->idx - 1];
    if (f->state == DYN_EMPTY)
        *d = empty_string;
    else if (f->state == DYN_TEXT)
        *d = (bn_dyn){.kind = BN_DYN_STRING, .u.string = arena_copy(t->arena, f->text.data, f->text.len)};
    f->active = false;
    f->state = DYN_EMPTY;
}

/* Whether what is written at this point is rendered in full. */
static bool forced_here(const bn_tpl *t)
{
    const frame *f = top(t);
    return f && (f->forced || f->state != DYN_EMPTY || f->capture);
}

bool bn_tpl_dyn_slow(bn_tpl *t, bn_tpl_changes reads)
{
    frame *f = top(t);
    if (!f || (f->list && !f->in_entry)) {
        protocol_error(t, f ? f->block : NULL, "a dynamic outside any block");
        return false;
    }
    if (f->capture)
        return true; /* part of the capture's string */
    dyn_end(t, f);
    if (f->idx >= f->block->ndynamics) {
        protocol_error(t, f->block, "more dynamics than the block has");
        return false;
    }
    uint32_t i = f->idx++;
    if (f->forced || (reads & t->changed)) {
        f->active = true;
        f->reads = reads;
        f->state = DYN_EMPTY;
        return true;
    }
    f->dyns[i] = (bn_dyn){.kind = BN_DYN_UNCHANGED};
    return false;
}

void bn_tpl_open(bn_tpl *t, const bn_tpl_block *b)
{
    if (!t->tree)
        return;
    struct bn_tpl_builder *bld = t->tree;
    const bn_rendered *prev = NULL;
    if (bld->depth == 0) {
        if (bld->root)
            protocol_error(t, b, "a second root block");
        if (bld->prev && bld->prev->block == b)
            prev = bld->prev;
    } else {
        frame *p = value_frame(t);
        /* Tracked only as the first value of a dynamic of a tracked block. */
        if (p && !p->forced && p->state == DYN_EMPTY && !p->capture) {
            const bn_dyn *pd = &p->prev->dynamics[p->idx - 1];
            if (pd->kind == BN_DYN_NESTED && pd->u.nested->block == b)
                prev = pd->u.nested;
        }
    }
    bn_rendered *node = bn_arena_alloc(t->arena, sizeof *node);
    node->block = b;
    node->dynamics = alloc_dyns(t->arena, b->ndynamics);
    frame *f = push(bld);
    f->block = b;
    f->node = node;
    f->prev = prev;
    f->forced = prev == NULL;
    f->dyns = node->dynamics;
}

void bn_tpl_close(bn_tpl *t, const bn_tpl_block *b)
{
    if (!t->tree)
        return;
    struct bn_tpl_builder *bld = t->tree;
    frame *f = top(t);
    if (!f || f->list || f->block != b) {
        protocol_error(t, b, "a block closed that is not the open one");
        return;
    }
    dyn_end(t, f);
    if (f->idx != b->ndynamics)
        protocol_error(t, b, "a block closed before all its dynamics were written");
    bn_rendered *node = f->node;
    bld->depth--;
    if (bld->depth == 0) {
        if (!bld->root)
            bld->root = node;
        return;
    }
    commit(t, (bn_dyn){.kind = BN_DYN_NESTED, .u.nested = node});
}

void bn_tpl_for_open(bn_tpl *t, const bn_tpl_block *body)
{
    if (!t->tree)
        return;
    value_frame(t);
    frame *f = push(t->tree);
    f->block = body;
    f->list = true;
    f->forced = true;
}

/* Ends the current entry of a comprehension frame. */
static void entry_end(bn_tpl *t, frame *f)
{
    if (!f->in_entry)
        return;
    dyn_end(t, f);
    if (f->idx != f->block->ndynamics)
        protocol_error(t, f->block, "a comprehension entry ended before all its dynamics were written");
}

void bn_tpl_for_item(bn_tpl *t)
{
    if (!t->tree)
        return;
    frame *f = top(t);
    if (!f || !f->list) {
        protocol_error(t, f ? f->block : NULL, "bn_tpl_for_item outside a comprehension");
        return;
    }
    entry_end(t, f);
    if (f->nentries == f->centries) {
        f->centries = f->centries ? f->centries * 2 : 8;
        f->entries = bn_xrealloc(f->entries, f->centries * sizeof *f->entries);
    }
    f->dyns = f->entries[f->nentries++] = alloc_dyns(t->arena, f->block->ndynamics);
    f->idx = 0;
    f->in_entry = true;
}

void bn_tpl_for_close(bn_tpl *t)
{
    if (!t->tree)
        return;
    struct bn_tpl_builder *bld = t->tree;
    frame *f = top(t);
    if (!f || !f->list) {
        protocol_error(t, f ? f->block : NULL, "bn_tpl_for_close outside a comprehension");
        return;
    }
    entry_end(t, f);
    bn_comprehension *c = bn_arena_alloc(t->arena, sizeof *c);
    c->block = f->block;
    c->count = f->nentries;
    c->entries = NULL;
    c->stream = NULL;
    if (f->nentries) {
        c->entries = bn_arena_alloc(t->arena, f->nentries * sizeof *c->entries);
        memcpy(c->entries, f->entries, f->nentries * sizeof *c->entries);
    }
    bld->depth--;
    if (bld->depth == 0) {
        protocol_error(t, c->block, "a comprehension outside any block");
        return;
    }
    c->reads = top(t)->reads;
    commit(t, (bn_dyn){.kind = BN_DYN_LIST, .u.list = c});
}

void bn_tpl_capture_begin(bn_tpl *t)
{
    if (!t->tree)
        return; /* plain mode writes in place */
    frame *f = value_frame(t);
    if (!f)
        return;
    if (f->state == DYN_SINGLE) {
        to_text(t, f);
    } else if (f->state == DYN_EMPTY) {
        f->text.len = 0;
        f->state = DYN_TEXT;
    }
    f->capture++;
}

void bn_tpl_capture_end(bn_tpl *t)
{
    if (!t->tree)
        return;
    frame *f = top(t);
    if (!f || !f->capture) {
        protocol_error(t, f ? f->block : NULL, "bn_tpl_capture_end without bn_tpl_capture_begin");
        return;
    }
    f->capture--;
}

/* ------------------------------------------------------------------------ */
/* Changes                                                                    */

bn_tpl_changes bn_tpl_changes_now(const bn_tpl *t)
{
    return t->tree && forced_here(t) ? BN_TPL_ALL : t->changed;
}

bn_tpl_changes bn_tpl_changes_map(const bn_tpl *t, const bn_tpl_changes *reads, size_t n)
{
    bn_tpl_changes now = bn_tpl_changes_now(t), mask = 0;
    for (size_t i = 0; i < n; i++)
        if (reads[i] & now)
            mask |= bn_tpl_bit((unsigned)BN_MIN(i, 63));
    return mask;
}

bn_tpl_changes bn_tpl_enter(bn_tpl *t, bn_tpl_changes callee_changed)
{
    bn_tpl_changes saved = t->changed;
    t->changed = callee_changed;
    return saved;
}

void bn_tpl_render_slot(bn_tpl *t, const bn_tpl_slot *s, const void *arg)
{
    if (!s || !s->render)
        return;
    bn_tpl_changes saved = t->changed;
    t->changed = s->changed;
    s->render(t, s->env, arg);
    t->changed = saved;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                     */

/*
 * Where the HTML of a string value goes: t->out in plain mode; in structured
 * mode the dynamic's text when it already holds something, else the scratch
 * buffer t->out, which put_end copies into the arena.
 */
static bn_buf *put_begin(bn_tpl *t)
{
    if (!t->tree)
        return t->out;
    t->out->len = 0;
    frame *f = value_frame(t);
    if (!f)
        return t->out;
    if (f->state == DYN_SINGLE)
        to_text(t, f);
    return f->state == DYN_TEXT ? &f->text : t->out;
}

static void put_end(bn_tpl *t, bn_buf *b)
{
    if (!t->tree || b != t->out)
        return;
    frame *f = top(t);
    if (!f || !f->active)
        return; /* reported by put_begin */
    f->dyns[f->idx - 1] = (bn_dyn){.kind = BN_DYN_STRING, .u.string = arena_copy(t->arena, b->data, b->len)};
    f->state = DYN_SINGLE;
}

static void put_escaped(bn_tpl *t, const char *s, size_t len)
{
    bn_buf *o = put_begin(t);
    bn_tpl_escape(o, s, len);
    put_end(t, o);
}

void bn_tpl_put_cstr(bn_tpl *t, const char *s) { put_escaped(t, s, s ? strlen(s) : 0); }
void bn_tpl_put_str(bn_tpl *t, bn_str s) { put_escaped(t, s.ptr, s.len); }
void bn_tpl_put_char(bn_tpl *t, char c) { put_escaped(t, &c, 1); }
void bn_tpl_put_bool(bn_tpl *t, bool b) { put_escaped(t, b ? "true" : "false", b ? 4 : 5); }
void bn_tpl_put_empty(bn_tpl *t) { put_escaped(t, NULL, 0); }

void bn_tpl_put_safe(bn_tpl *t, bn_safe s)
{
    bn_buf *o = put_begin(t);
    bn_buf_append(o, s.ptr, s.ptr ? s.len : 0);
    put_end(t, o);
}

/* Decimal digits of v, written backwards from `end`; returns the first. snprintf
 * was a third of a typical page's render (TechEmpower Fortunes, 13 ids). */
static char *format_u64(char *end, unsigned long long v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static void put_digits(bn_tpl *t, const char *s, size_t len)
{
    bn_buf *o = put_begin(t);
    bn_buf_append(o, s, len); /* digits need no escaping */
    put_end(t, o);
}

void bn_tpl_put_ll(bn_tpl *t, long long v)
{
    char buf[24], *end = buf + sizeof buf;
    char *p = format_u64(end, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
    if (v < 0)
        *--p = '-';
    put_digits(t, p, (size_t)(end - p));
}

void bn_tpl_put_ull(bn_tpl *t, unsigned long long v)
{
    char buf[24], *end = buf + sizeof buf;
    char *p = format_u64(end, v);
    put_digits(t, p, (size_t)(end - p));
}

/* The shortest of %.15g, %.16g and %.17g that reads back as `v`. */
static size_t format_double(char buf[32], double v)
{
    if (isnan(v) || isinf(v)) {
        const char *s = isnan(v) ? "nan" : v < 0 ? "-inf" : "inf";
        size_t n = strlen(s);
        memcpy(buf, s, n + 1);
        return n;
    }
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return (size_t)n;
}

void bn_tpl_put_double(bn_tpl *t, double v)
{
    char buf[32];
    size_t n = format_double(buf, v);
    put_escaped(t, buf, n);
}

void bn_tpl_put_slot(bn_tpl *t, bn_tpl_slot s)
{
    /* An absent slot writes nothing: the dynamic ends as "". */
    bn_tpl_render_slot(t, &s, NULL);
}

/* ------------------------------------------------------------------------ */
/* Attributes                                                                 */

static void attr_write(bn_buf *o, const bn_tpl_attr *a)
{
    if (!a->name)
        return;
    switch (a->kind) {
    case BN_TPL_ATTR_BOOL:
        if (a->on) {
            bn_buf_append(o, " ", 1);
            bn_tpl_escape(o, a->name, strlen(a->name));
        }
        return;
    case BN_TPL_ATTR_STR:
    case BN_TPL_ATTR_SAFE:
        if (!a->str)
            return;
        bn_buf_append(o, " ", 1);
        bn_tpl_escape(o, a->name, strlen(a->name));
        bn_buf_append(o, "=\"", 2);
        if (a->kind == BN_TPL_ATTR_STR)
            bn_tpl_escape(o, a->str, a->len);
        else
            bn_buf_append(o, a->str, a->len);
        bn_buf_append(o, "\"", 1);
        return;
    }
}

void bn_tpl_attr_put(bn_tpl *t, bn_tpl_attr a)
{
    bn_buf *o = put_begin(t);
    attr_write(o, &a);
    put_end(t, o);
}

void bn_tpl_attr_list(bn_tpl *t, const char *name, const char *const *items, size_t n)
{
    bn_buf *o = put_begin(t);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (!items[i] || !items[i][0])
            continue;
        if (!any) {
            bn_buf_append(o, " ", 1);
            bn_tpl_escape(o, name, strlen(name));
            bn_buf_append(o, "=\"", 2);
            any = true;
        } else {
            bn_buf_append(o, " ", 1);
        }
        bn_tpl_escape(o, items[i], strlen(items[i]));
    }
    if (any)
        bn_buf_append(o, "\"", 1);
    put_end(t, o);
}

void bn_tpl_attrs_put(bn_tpl *t, bn_tpl_attrs attrs)
{
    bn_buf *o = put_begin(t);
    for (size_t i = 0; i < attrs.count; i++)
        attr_write(o, &attrs.items[i]);
    put_end(t, o);
}

/* ------------------------------------------------------------------------ */
/* Formatting into the arena (verified paths)                                 */

const char *bn_tpl_fmt_cstr(bn_tpl *t, const char *s)
{
    (void)t;
    return s ? s : "";
}

const char *bn_tpl_fmt_str(bn_tpl *t, bn_str s) { return bn_arena_strndup(t->arena, s.ptr, s.ptr ? s.len : 0); }
const char *bn_tpl_fmt_ll(bn_tpl *t, long long v) { return bn_arena_printf(t->arena, "%lld", v); }
const char *bn_tpl_fmt_ull(bn_tpl *t, unsigned long long v) { return bn_arena_printf(t->arena, "%llu", v); }

/* ------------------------------------------------------------------------ */
/* Entry points                                                               */

const char *bn_tpl_render_html_in(bn_buf *out, bn_arena *arena, bn_tpl_fn *fn, const void *assigns)
{
    bn_tpl t = {.out = out, .arena = arena, .tree = NULL, .changed = BN_TPL_ALL, .error = NULL};
    fn(&t, assigns);
    return t.error;
}

const char *bn_tpl_render_html_fn(bn_buf *out, bn_tpl_fn *fn, const void *assigns)
{
    bn_arena arena = BN_ARENA_INIT;
    const char *error = bn_tpl_render_html_in(out, &arena, fn, assigns);
    bn_arena_destroy(&arena);
    return error;
}

bn_rendered *bn_tpl_render_tree_fn(bn_arena *arena, bn_tpl_fn *fn, const void *assigns, bn_tpl_changes changed,
                                   const bn_rendered *prev, const char **error)
{
    bn_buf scratch = BN_BUF_INIT;
    struct bn_tpl_builder bld = {.prev = prev};
    bn_tpl t = {.out = &scratch, .arena = arena, .tree = &bld, .changed = changed, .error = NULL};
    fn(&t, assigns);
    if (bld.depth)
        protocol_error(&t, bld.frames[bld.depth - 1].block, "a block left open at the end of the render");
    if (!bld.root)
        bn_tpl_fail(&t, "template render: the template opened no block");
    for (size_t i = 0; i < bld.cap; i++) {
        bn_buf_free(&bld.frames[i].text);
        free(bld.frames[i].entries);
    }
    free(bld.frames);
    bn_buf_free(&scratch);
    if (error)
        *error = t.error;
    return t.error ? NULL : bld.root;
}

/* ------------------------------------------------------------------------ */
/* Trees to JSON                                                              */

static void json_statics(bn_buf *out, const bn_tpl_block *b)
{
    bn_buf_append(out, "\"s\":[", 5);
    for (uint32_t i = 0; i <= b->ndynamics; i++) {
        if (i)
            bn_buf_append(out, ",", 1);
        bn_json_encode_string(out, b->statics[i]);
    }
    bn_buf_append(out, "]", 1);
}

static bool json_node(bn_buf *out, const bn_rendered *r, const bn_rendered *prev, bool top, bool with_statics);
static bool json_list(bn_buf *out, const bn_comprehension *c, const bn_comprehension *prev);

/* Whether two rendered dynamics would write the same HTML (for per-entry diffs). */
static bool dyn_equal(const bn_dyn *a, const bn_dyn *b);

static bool node_equal(const bn_rendered *a, const bn_rendered *b)
{
    if (a->block != b->block)
        return false;
    for (uint32_t i = 0; i < a->block->ndynamics; i++)
        if (!dyn_equal(&a->dynamics[i], &b->dynamics[i]))
            return false;
    return true;
}

static bool dyn_equal(const bn_dyn *a, const bn_dyn *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case BN_DYN_STRING:
        return bn_str_eq(a->u.string, b->u.string);
    case BN_DYN_NESTED:
        return node_equal(a->u.nested, b->u.nested);
    case BN_DYN_LIST: {
        const bn_comprehension *x = a->u.list, *y = b->u.list;
        if (x->block != y->block || x->count != y->count || x->stream || y->stream) /* a stream's ops always go */
            return false;
        for (size_t e = 0; e < x->count; e++)
            for (uint32_t i = 0; i < x->block->ndynamics; i++)
                if (!dyn_equal(&x->entries[e][i], &y->entries[e][i]))
                    return false;
        return true;
    }
    case BN_DYN_UNCHANGED:
        return false;
    }
    return false;
}

/* The previous tree's counterpart of a dynamic, if it has the same shape. */
static const bn_rendered *prev_nested(const bn_dyn *d, const bn_dyn *p)
{
    return p && p->kind == BN_DYN_NESTED && d->u.nested->block == p->u.nested->block ? p->u.nested : NULL;
}
static const bn_comprehension *prev_list(const bn_dyn *d, const bn_dyn *p)
{
    return p && p->kind == BN_DYN_LIST && d->u.list->block == p->u.list->block ? p->u.list : NULL;
}

/* Writes a dynamic (against its previous value `p`, or NULL); returns whether
 * it is complete (no UNCHANGED below it, nothing left for the client to keep). */
static bool json_dyn(bn_buf *out, const bn_dyn *d, const bn_dyn *p)
{
    switch (d->kind) {
    case BN_DYN_STRING:
        bn_json_encode_string(out, d->u.string);
        return true;
    case BN_DYN_NESTED:
        return json_node(out, d->u.nested, prev_nested(d, p), false, false);
    case BN_DYN_LIST:
        return json_list(out, d->u.list, prev_list(d, p));
    case BN_DYN_UNCHANGED:
        break;
    }
    bn_buf_append(out, "\"\"", 2); /* only in a comprehension entry, which is never partial */
    return false;
}

/*
 * A node: its changed dynamics, then "s". The top node has "s" when the
 * caller asks. A nested node has it when its subtree is complete: it is new
 * to the client (a forced node is always complete) or was rendered in full,
 * and the client replaces it. A partial node is a tracked one, whose
 * statics the client already has: without "s", the client merges it. With
 * `prev`, dynamics equal to the previous render's are left out too.
 */
static bool json_node(bn_buf *out, const bn_rendered *r, const bn_rendered *prev, bool top, bool with_statics)
{
    bool complete = true, first = true;
    bn_buf_append(out, "{", 1);
    for (uint32_t i = 0; i < r->block->ndynamics; i++) {
        const bn_dyn *d = &r->dynamics[i];
        const bn_dyn *p = prev ? &prev->dynamics[i] : NULL;
        if (d->kind == BN_DYN_UNCHANGED || (p && d->kind != BN_DYN_STRING && dyn_equal(d, p))) {
            complete = false;
            continue;
        }
        char key[16];
        int n = snprintf(key, sizeof key, "%s\"%u\":", first ? "" : ",", i);
        bn_buf_append(out, key, (size_t)n);
        first = false;
        complete = json_dyn(out, d, p) && complete;
    }
    if (top ? with_statics : complete) {
        if (!first)
            bn_buf_append(out, ",", 1);
        json_statics(out, r->block);
    }
    bn_buf_append(out, "}", 1);
    return complete;
}

/* One entry's dynamics; against `prev` (the entry at the same index before) only those that changed. */
static void json_entry(bn_buf *out, uint32_t nd, const bn_dyn *entry, const bn_dyn *prev)
{
    char key[32];
    bool first = true;
    bn_buf_append(out, "{", 1);
    for (uint32_t i = 0; i < nd; i++) {
        if (prev && dyn_equal(&entry[i], &prev[i]))
            continue;
        int n = snprintf(key, sizeof key, "%s\"%u\":", first ? "" : ",", i);
        bn_buf_append(out, key, (size_t)n);
        first = false;
        json_dyn(out, &entry[i], prev ? &prev[i] : NULL);
    }
    bn_buf_append(out, "}", 1);
}

/*
 * A comprehension in LiveView's keyed format (1.1+): {"s":[…],"k":{"0":{…},
 * …,"kc":N}}. Without a previous render of it, every entry whole, with the
 * statics: the client replaces the list. With one (same statics), only the
 * entries that differ from the entry at the same index, each with only its
 * changed dynamics, and no statics: the client merges, keeps the rest, and
 * "kc" drops the entries past the new count. Returns whether it was whole.
 */
static bool json_list(bn_buf *out, const bn_comprehension *c, const bn_comprehension *prev)
{
    uint32_t nd = c->block->ndynamics;
    bn_buf_append(out, "{", 1);
    if (!prev) {
        json_statics(out, c->block);
        bn_buf_append(out, ",", 1);
    }
    bn_buf_append(out, "\"k\":{", 5);
    char key[32];
    for (size_t e = 0; e < c->count; e++) {
        const bn_dyn *before = prev && e < prev->count ? prev->entries[e] : NULL;
        if (before) {
            bool same = true;
            for (uint32_t i = 0; i < nd && same; i++)
                same = dyn_equal(&c->entries[e][i], &before[i]);
            if (same)
                continue;
        }
        int n = snprintf(key, sizeof key, "\"%zu\":", e);
        bn_buf_append(out, key, (size_t)n);
        json_entry(out, nd, c->entries[e], before);
        bn_buf_append(out, ",", 1);
    }
    int n = snprintf(key, sizeof key, "\"kc\":%zu}", c->count);
    bn_buf_append(out, key, (size_t)n);
    if (c->stream) {
        bn_buf_append(out, ",\"stream\":", 10);
        bn_buf_append(out, c->stream, strlen(c->stream));
    }
    bn_buf_append(out, "}", 1);
    return prev == NULL;
}

void bn_rendered_to_json(const bn_rendered *r, bool with_statics, bn_buf *out)
{
    bn_rendered_diff_to_json(r, NULL, with_statics, out);
}

void bn_rendered_diff_to_json(const bn_rendered *r, const bn_rendered *prev, bool with_statics, bn_buf *out)
{
    if (!r) {
        bn_buf_append(out, "{}", 2);
        return;
    }
    json_node(out, r, prev && prev->block == r->block ? prev : NULL, true, with_statics);
}
