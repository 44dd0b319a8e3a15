/*
 * libFuzzer target for bennu-tpl, the template compiler (src/template/compiler):
 * the input is a template's source, parsed (tpl_module_parse) and, when it
 * parses, checked and turned into C (tpl_generate). It must never crash,
 * leak or hang, and:
 *   - errors > 0 exactly when the parse or the generation failed;
 *   - every error is printed, as "PATH:LINE:COL: error: …", the line and a caret;
 *   - a successful generation gives a non-empty .c and .h, with every
 *     "#line @@" placeholder resolved.
 * The path names a directory that does not exist, and there are no -I
 * directories, so <%@ import %> and <Module.name> fail cleanly instead of
 * reading files.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

#include "template/compiler/tpl.h"

#define PATH "/nonexistent/fuzz.html.bnx"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy: the compiler keeps pointers into it, and reading
     * past `size` must be caught. */
    char *text = malloc(size ? size : 1);
    CHECK(text);
    if (size)
        memcpy(text, data, size);

    char *diag_text = NULL;
    size_t diag_len = 0;
    FILE *diag = open_memstream(&diag_text, &diag_len);
    CHECK(diag);

    tpl_compiler c;
    tpl_compiler_init(&c, diag);
    tpl_module *m = tpl_module_parse(&c, PATH, text, size);
    bn_buf out_c = BN_BUF_INIT, out_h = BN_BUF_INIT;
    if (!m) {
        CHECK(c.diag.errors > 0);
    } else {
        CHECK(c.diag.errors == 0);
        bool ok = tpl_generate(&c, m, "/nonexistent/fuzz.html.c", &out_c, &out_h);
        CHECK(ok == (c.diag.errors == 0));
        if (ok) {
            CHECK(out_c.len > 0 && out_h.len > 0);
            CHECK(!memmem(out_c.data, out_c.len, "\n#line @@", 9));
        }
    }
    int errors = c.diag.errors;
    tpl_compiler_free(&c);
    CHECK(fclose(diag) == 0);

    /* Diagnostics: none without an error; otherwise they start with the path
     * and end with a caret line. */
    if (errors == 0) {
        CHECK(diag_len == 0);
    } else {
        CHECK(diag_len > strlen(PATH) + 1 && memcmp(diag_text, PATH ":", strlen(PATH) + 1) == 0);
        CHECK(diag_len >= 2 && memcmp(diag_text + diag_len - 2, "^\n", 2) == 0);
    }

    bn_buf_free(&out_c);
    bn_buf_free(&out_h);
    free(diag_text);
    free(text);
    return 0;
}
