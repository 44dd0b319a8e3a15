/*
 * Modules: one .html.bnx file each. A module is loaded once per compile,
 * with the modules it imports; <Module.name> calls load modules on demand,
 * found next to the calling file or in the -I directories as
 * "<snake_case name>.html.bnx".
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "template/compiler/tpl.h"

void tpl_compiler_init(tpl_compiler *c, FILE *diag)
{
    memset(c, 0, sizeof *c);
    c->diag.out = diag;
}

void tpl_compiler_free(tpl_compiler *c)
{
    for (size_t i = 0; i < c->nmodules; i++)
        tpl_src_free(&c->modules[i]->src);
    bn_arena_destroy(&c->arena);
}

void *tpl_alloc(tpl_compiler *c, size_t size)
{
    void *p = bn_arena_alloc(&c->arena, size ? size : 1);
    memset(p, 0, size);
    return p;
}

char *tpl_strndup(tpl_compiler *c, const char *s, size_t len) { return bn_arena_strndup(&c->arena, s, len); }

char *tpl_printf(tpl_compiler *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    char *copy = tpl_strndup(c, s, strlen(s));
    free(s);
    return copy;
}

void tpl_push(tpl_compiler *c, void ***items, size_t *n, void *item)
{
    /* Capacity doubles at powers of two; the old array stays in the arena. */
    if ((*n & (*n - 1)) == 0) {
        void **grown = tpl_alloc(c, (*n ? *n * 2 : 4) * sizeof *grown);
        if (*n)
            memcpy(grown, *items, *n * sizeof *grown);
        *items = grown;
    }
    (*items)[(*n)++] = item;
}

tpl_pos tpl_pos_of(const tpl_src *src, const char *p)
{
    tpl_src *m = (tpl_src *)src; /* the line index is a cache */
    if (!m->line_starts) {
        size_t n = 1;
        for (size_t i = 0; i < m->len; i++)
            n += m->text[i] == '\n';
        m->line_starts = bn_xmalloc(n * sizeof *m->line_starts);
        m->line_starts[0] = 0;
        m->nlines = 1;
        for (size_t i = 0; i < m->len; i++)
            if (m->text[i] == '\n')
                m->line_starts[m->nlines++] = i + 1;
    }
    size_t off = p < m->text ? 0 : (size_t)(p - m->text);
    if (off > m->len)
        off = m->len;
    size_t lo = 0, hi = m->nlines; /* the last line starting at or before off */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (m->line_starts[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    return (tpl_pos){(int)lo + 1, (int)(off - m->line_starts[lo]) + 1};
}

void tpl_src_free(tpl_src *src)
{
    free(src->line_starts);
    src->line_starts = NULL;
}

void tpl_error(tpl_diag *d, const tpl_src *src, tpl_pos pos, const char *fmt, ...)
{
    d->errors++;
    if (!d->out)
        return;
    fprintf(d->out, "%s:%d:%d: error: ", src->path, pos.line, pos.col);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
    /* The line, then a caret under the column. */
    const char *line = src->text, *end = src->text + src->len;
    for (int l = 1; l < pos.line && line < end; l++) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        line = nl ? nl + 1 : end;
    }
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol)
        eol = end;
    fprintf(d->out, " %.*s\n ", (int)(eol - line), line);
    for (int i = 1; i < pos.col && line + i - 1 < eol; i++)
        fputc(line[i - 1] == '\t' ? '\t' : ' ', d->out);
    fputs("^\n", d->out);
}

char *tpl_snake_case(tpl_compiler *c, const char *name, size_t len)
{
    bn_buf b = BN_BUF_INIT;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (isupper(ch)) {
            if (i > 0 && name[i - 1] != '_')
                bn_buf_append(&b, "_", 1);
            ch = (unsigned char)tolower(ch);
        }
        bn_buf_append(&b, &ch, 1);
    }
    char *s = tpl_strndup(c, b.data ? b.data : "", b.len);
    bn_buf_free(&b);
    return s;
}

/* "dir/core_components.html.bnx" -> "core_components", any other character
 * as '_'. A file in a directory named like Phoenix's view modules,
 * "page_html/home.html.bnx", is "page_html_home" [embed_templates "page_html/..."].
 * This names the generated files; the C prefix is the same, made an identifier. */
static char *file_base(tpl_compiler *c, const char *path)
{
    const char *base = strrchr(path, '/');
    const char *dir = NULL;
    size_t dirlen = 0;
    if (base) {
        dir = base;
        while (dir > path && dir[-1] != '/')
            dir--;
        dirlen = (size_t)(base - dir);
        base++;
    } else {
        base = path;
    }
    size_t len = strcspn(base, ".");
    char *name = dirlen > 5 && memcmp(dir + dirlen - 5, "_html", 5) == 0
                     ? tpl_printf(c, "%.*s_%.*s", (int)dirlen, dir, (int)len, base)
                     : tpl_strndup(c, base, len);
    for (char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            *p = '_';
    return name;
}

static char *default_name(tpl_compiler *c, const char *base)
{
    return !*base || isdigit((unsigned char)*base) ? tpl_printf(c, "t_%s", base) : tpl_strndup(c, base, strlen(base));
}

static tpl_module *loaded(tpl_compiler *c, const char *path)
{
    for (size_t i = 0; i < c->nmodules; i++)
        if (strcmp(c->modules[i]->path, path) == 0)
            return c->modules[i];
    return NULL;
}

tpl_module *tpl_module_parse(tpl_compiler *c, const char *path, const char *text, size_t len)
{
    tpl_module *m = tpl_alloc(c, sizeof *m);
    m->path = tpl_strndup(c, path, strlen(path));
    m->src = (tpl_src){.path = m->path, .text = text, .len = len};
    const char *base = file_base(c, path);
    m->name = default_name(c, base);
    m->header = tpl_printf(c, "%s.html.h", base);
    tpl_push(c, (void ***)&c->modules, &c->nmodules, m);
    tpl_import_ref *imports;
    size_t nimports;
    /* Files are named after the path (the build knows it before compiling),
     * C symbols after the module, which <%@ module %> may rename. */
    if (!tpl_parse(c, m, &imports, &nimports))
        return NULL;
    m->parsed_ok = true;
    for (size_t i = 0; i < nimports; i++) {
        int before = c->diag.errors;
        tpl_module *dep = tpl_module_find(c, m, imports[i].name.ptr, imports[i].name.len);
        if (!dep && c->diag.errors != before)
            return NULL; /* found, with errors of its own */
        if (!dep) {
            tpl_error(&c->diag, &m->src, imports[i].pos, "cannot find module \"%.*s\" (%s.html.bnx) to import",
                      (int)imports[i].name.len, imports[i].name.ptr,
                      tpl_snake_case(c, imports[i].name.ptr, imports[i].name.len));
            return NULL;
        }
        tpl_push(c, (void ***)&m->imports, &m->nimports, dep);
    }
    return m;
}

bool tpl_read_file(const char *path, bn_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        bn_buf_append(out, chunk, n);
    bool ok = !ferror(f);
    fclose(f);
    return ok;
}

static char *read_file(tpl_compiler *c, const char *path, size_t *len)
{
    bn_buf b = BN_BUF_INIT;
    if (!tpl_read_file(path, &b)) {
        bn_buf_free(&b);
        return NULL;
    }
    char *text = tpl_strndup(c, b.data ? b.data : "", b.len);
    *len = b.len;
    bn_buf_free(&b);
    tpl_push(c, (void ***)&c->deps, &c->ndeps, tpl_strndup(c, path, strlen(path)));
    return text;
}

tpl_module *tpl_module_load(tpl_compiler *c, const char *path)
{
    tpl_module *m = loaded(c, path);
    if (m)
        return m->parsed_ok ? m : NULL;
    size_t len;
    char *text = read_file(c, path, &len);
    if (!text) {
        c->diag.errors++;
        if (c->diag.out)
            fprintf(c->diag.out, "%s: error: cannot read: %s\n", path, strerror(errno));
        return NULL;
    }
    return tpl_module_parse(c, path, text, len);
}

tpl_module *tpl_module_find(tpl_compiler *c, const tpl_module *from, const char *name, size_t len)
{
    char *file = tpl_printf(c, "%s.html.bnx", tpl_snake_case(c, name, len));
    /* Next to the calling file first, then the -I directories. */
    const char *slash = strrchr(from->path, '/');
    char *candidates[64];
    size_t n = 0;
    candidates[n++] = slash ? tpl_printf(c, "%.*s/%s", (int)(slash - from->path), from->path, file) : file;
    for (size_t i = 0; i < c->ninclude_dirs && n < BN_ARRAY_LEN(candidates); i++)
        candidates[n++] = tpl_printf(c, "%s/%s", c->include_dirs[i], file);
    for (size_t i = 0; i < n; i++) {
        tpl_module *m = loaded(c, candidates[i]);
        if (m)
            return m->parsed_ok ? m : NULL;
        FILE *f = fopen(candidates[i], "rb");
        if (f) {
            fclose(f);
            return tpl_module_load(c, candidates[i]);
        }
    }
    return NULL;
}

/* <.link>: declared here, implemented by hand in src/template (bn_link). */
tpl_module *tpl_builtins(tpl_compiler *c)
{
    static const char *const link_global_include[] = {"download", "hreflang", "referrerpolicy", "rel", "target",
                                                      "type"};
    for (size_t i = 0; i < c->nmodules; i++)
        if (strcmp(c->modules[i]->path, "<builtin>") == 0)
            return c->modules[i];
    tpl_module *m = tpl_alloc(c, sizeof *m);
    m->path = "<builtin>";
    m->name = "bn";
    m->header = NULL;
    m->src = (tpl_src){.path = "<builtin>", .text = ""};
    m->parsed_ok = true;
    tpl_component *link = tpl_alloc(c, sizeof *link);
    link->name = "link";
    link->cname = "bn_link";
    link->atype = "bn_link_assigns";
    link->builtin = true;
    link->module = m;
    static const struct {
        const char *type, *name;
    } attrs[] = {{"const char *", "href"},   {"const char *", "navigate"},   {"const char *", "patch"},
                 {"bool", "replace"},        {"const char *", "method"},     {"const char *", "csrf_token"},
                 {"bool", "trusted"}};
    link->attrs = tpl_alloc(c, (BN_ARRAY_LEN(attrs) + 1) * sizeof *link->attrs);
    for (size_t i = 0; i < BN_ARRAY_LEN(attrs); i++)
        link->attrs[link->nattrs++] = (tpl_attr_decl){.type = attrs[i].type, .name = attrs[i].name};
    link->attrs[link->nattrs++] = (tpl_attr_decl){.type = "bn_tpl_attrs", .name = "rest", .global = true,
                                                  .include = (const char **)link_global_include,
                                                  .ninclude = BN_ARRAY_LEN(link_global_include)};
    link->slots = tpl_alloc(c, sizeof *link->slots);
    link->slots[link->nslots++] = (tpl_slot_decl){.name = "inner_block"};
    tpl_push(c, (void ***)&m->components, &m->ncomponents, link);
    tpl_push(c, (void ***)&c->modules, &c->nmodules, m);
    return m;
}
