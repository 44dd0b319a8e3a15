/*
 * bennu-tpl: compiles `*.html.bnx` templates to C.
 *
 *     bennu-tpl [-o OUT_DIR] [-I DIR]... [-M DEPFILE] FILE.html.bnx...
 *
 * For each FILE writes OUT_DIR/FILE.html.c and OUT_DIR/FILE.html.h (only
 * when their content changed, so that a rebuild stops early). Errors go to
 * stderr as FILE:LINE:COL: error: message; the exit status is 1 on any.
 * -M writes a Makefile-syntax depfile naming every template read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "template/compiler/tpl.h"

static void usage(void)
{
    fputs("usage: bennu-tpl [-o OUT_DIR] [-I DIR]... [-M DEPFILE] FILE.html.bnx...\n", stderr);
    exit(2);
}

/* Writes `data` to `path` unless the file already holds exactly that. */
static bool write_if_changed(const char *path, const bn_buf *data)
{
    bn_buf old = BN_BUF_INIT;
    bool same = tpl_read_file(path, &old) && old.len == data->len &&
                (old.len == 0 || memcmp(old.data, data->data, old.len) == 0);
    bn_buf_free(&old);
    if (same)
        return true;
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data->data, 1, data->len, f) != data->len || fclose(f) != 0) {
        fprintf(stderr, "bennu-tpl: cannot write %s: %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

static void dep_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == ' ' || *s == '#')
            fputc('\\', f);
        if (*s == '$')
            fputc('$', f);
        fputc(*s, f);
    }
}

int main(int argc, char **argv)
{
    const char *out_dir = ".", *depfile = NULL;
    const char *includes[64];
    size_t nincludes = 0;
    const char *files[1024];
    size_t nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-o") == 0 || strcmp(a, "-I") == 0 || strcmp(a, "-M") == 0) && i + 1 < argc) {
            const char *v = argv[++i];
            if (a[1] == 'o')
                out_dir = v;
            else if (a[1] == 'M')
                depfile = v;
            else if (nincludes < BN_ARRAY_LEN(includes))
                includes[nincludes++] = v;
        } else if (strncmp(a, "-I", 2) == 0 && a[2] && nincludes < BN_ARRAY_LEN(includes)) {
            includes[nincludes++] = a + 2;
        } else if (a[0] == '-') {
            usage();
        } else if (nfiles < BN_ARRAY_LEN(files)) {
            files[nfiles++] = a;
        }
    }
    if (nfiles == 0)
        usage();

    int failed = 0;
    FILE *dep = NULL;
    if (depfile && !(dep = fopen(depfile, "w"))) {
        fprintf(stderr, "bennu-tpl: cannot write %s: %s\n", depfile, strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < nfiles; i++) {
        tpl_compiler c;
        tpl_compiler_init(&c, stderr);
        c.include_dirs = includes;
        c.ninclude_dirs = nincludes;
        tpl_module *m = tpl_module_load(&c, files[i]);
        if (m) {
            const char *h_path = tpl_printf(&c, "%s/%s", out_dir, m->header);
            const char *c_path = tpl_printf(&c, "%.*s.c", (int)(strlen(h_path) - 2), h_path);
            bn_buf out_c = BN_BUF_INIT, out_h = BN_BUF_INIT;
            if (tpl_generate(&c, m, c_path, &out_c, &out_h) && c.diag.errors == 0) {
                if (!write_if_changed(h_path, &out_h) || !write_if_changed(c_path, &out_c))
                    failed = 1;
                if (dep) {
                    dep_escape(dep, c_path);
                    fputc(' ', dep);
                    dep_escape(dep, h_path);
                    fputc(':', dep);
                    for (size_t d = 0; d < c.ndeps; d++) {
                        fputc(' ', dep);
                        dep_escape(dep, c.deps[d]);
                    }
                    fputc('\n', dep);
                }
            }
            bn_buf_free(&out_c);
            bn_buf_free(&out_h);
        }
        if (c.diag.errors)
            failed = 1;
        tpl_compiler_free(&c);
    }
    if (dep)
        fclose(dep);
    return failed;
}
