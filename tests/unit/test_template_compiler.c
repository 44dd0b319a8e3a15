/*
 * Tests of bennu-tpl, the template compiler (src/template/compiler), driven
 * in-process through its internal API (tpl.h):
 *
 *   - template_errors: one test per error message the compiler can print,
 *     each from tests/golden/template_errors/<case>.html.bnx, compared
 *     exactly with <case>.err (FILE:LINE:COL: error: message, the source
 *     line and the caret line); another test checks that every message of
 *     parse.c, gen.c and module.c appears in some .err file;
 *   - template_output: the generated C and header of a few representative
 *     templates (tests/golden/templates/<name>.html.bnx) compared with
 *     <name>.html.c.expected and <name>.html.h.expected, and compiled by the
 *     C compiler;
 *   - template_cli: the bennu-tpl program (exit status, stderr, outputs
 *     rewritten only when they change, -M depfile, -I);
 *   - template_line: #line directives make the C compiler's errors in
 *     template code point into the template.
 *
 * BENNU_UPDATE_GOLDEN=1 rewrites the .err and .expected files from the
 * actual output (then review every changed file with git diff).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "template/compiler/tpl.h"

#define ERRORS_DIR BENNU_SOURCE_DIR "/tests/golden/template_errors"
#define OUTPUT_DIR BENNU_SOURCE_DIR "/tests/golden/templates"
#define TPL_BIN BENNU_BIN_DIR "/bennu-tpl"

/* ------------------------------------------------------------------------ */
/* Files                                                                      */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    bn_buf b = BN_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        bn_buf_append(&b, chunk, n);
    fclose(f);
    char *s = malloc(b.len + 1);
    cr_assert_not_null(s);
    if (b.len)
        memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    if (len)
        *len = b.len;
    bn_buf_free(&b);
    return s;
}

static void spit(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static void spit_str(const char *path, const char *s) { spit(path, s, strlen(s)); }

static bool updating(void)
{
    const char *u = getenv("BENNU_UPDATE_GOLDEN");
    return u && *u && strcmp(u, "0") != 0;
}

/* A printable copy of `s` for an assertion message: control bytes escaped. */
static char *printable(const char *s, size_t len)
{
    bn_buf b = BN_BUF_INIT;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n' || ch == '\t' || (ch >= 0x20 && ch != 0x7f))
            bn_buf_append(&b, &s[i], 1);
        else
            bn_buf_printf(&b, "\\x%02x", ch);
    }
    char *out = strndup(b.data ? b.data : "", b.len);
    bn_buf_free(&b);
    return out;
}

/* Compares `actual` with the golden file `path` (or rewrites it when updating). */
static void golden(const char *path, const char *actual, size_t len)
{
    if (updating()) {
        spit(path, actual, len);
        return;
    }
    size_t elen;
    char *expected = slurp(path, &elen);
    cr_assert_not_null(expected, "missing golden file %s (run with BENNU_UPDATE_GOLDEN=1 to create it)", path);
    if (elen != len || memcmp(expected, actual, len) != 0) {
        size_t i = 0, line = 1;
        while (i < len && i < elen && expected[i] == actual[i])
            line += actual[i++] == '\n';
        char *e = printable(expected, elen), *a = printable(actual, len);
        cr_assert_fail("%s differs from the actual output at line %zu (byte %zu)\n"
                       "---- expected ----\n%s\n---- actual ----\n%s",
                       path, line, i, e, a);
    }
    free(expected);
}

/* ------------------------------------------------------------------------ */
/* Compiling in-process                                                       */

typedef struct compiled {
    bool loaded;    /* tpl_module_load returned a module */
    bool generated; /* tpl_generate returned true */
    int errors;
    char *diag;     /* what went to the diagnostics stream */
    size_t diag_len;
    bn_buf c, h;
} compiled;

/* Compiles `file` (a path relative to `dir`, which becomes the working
 * directory so that diagnostics name the file as passed). */
static compiled compile_in(const char *dir, const char *file, const char *c_path, const char **includes,
                           size_t nincludes)
{
    cr_assert_eq(chdir(dir), 0, "chdir %s: %s", dir, strerror(errno));
    compiled r = {.c = BN_BUF_INIT, .h = BN_BUF_INIT};
    FILE *diag = open_memstream(&r.diag, &r.diag_len);
    cr_assert_not_null(diag);
    tpl_compiler c;
    tpl_compiler_init(&c, diag);
    c.include_dirs = includes;
    c.ninclude_dirs = nincludes;
    tpl_module *m = tpl_module_load(&c, file);
    r.loaded = m != NULL;
    if (m)
        r.generated = tpl_generate(&c, m, c_path, &r.c, &r.h);
    r.errors = c.diag.errors;
    tpl_compiler_free(&c);
    fclose(diag);
    return r;
}

static void compiled_free(compiled *r)
{
    free(r->diag);
    bn_buf_free(&r->c);
    bn_buf_free(&r->h);
}

/* Compiles a template held in memory; diagnostics into *diag if not NULL. */
static compiled compile_text(const char *path, const char *text, bool with_diag)
{
    compiled r = {.c = BN_BUF_INIT, .h = BN_BUF_INIT};
    FILE *diag = with_diag ? open_memstream(&r.diag, &r.diag_len) : NULL;
    tpl_compiler c;
    tpl_compiler_init(&c, diag);
    tpl_module *m = tpl_module_parse(&c, path, text, strlen(text));
    r.loaded = m != NULL;
    if (m)
        r.generated = tpl_generate(&c, m, "out.html.c", &r.c, &r.h);
    r.errors = c.diag.errors;
    tpl_compiler_free(&c);
    if (diag)
        fclose(diag);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Error messages: one golden case each                                       */

/* Every case of tests/golden/template_errors (other .html.bnx files there are
 * modules the cases import or call). */
#define ERROR_CASES(X)                                                                                                 \
    /* parse.c */                                                                                                      \
    X(unterminated_expression)                                                                                         \
    X(unterminated_attribute_expression)                                                                               \
    X(unknown_special_attribute)                                                                                       \
    X(duplicate_special_attribute)                                                                                     \
    X(special_needs_expression)                                                                                        \
    X(unterminated_tag)                                                                                                \
    X(expected_attribute_name)                                                                                         \
    X(unterminated_attribute_value)                                                                                    \
    X(invalid_attribute_value)                                                                                         \
    X(duplicate_attribute)                                                                                             \
    X(unterminated_eex_comment)                                                                                        \
    X(unterminated_eex_output)                                                                                         \
    X(unterminated_eex_code)                                                                                           \
    X(empty_eex_output)                                                                                                \
    X(empty_eex_code)                                                                                                  \
    X(unclosed_script)                                                                                                 \
    X(bare_component_name)                                                                                             \
    X(invalid_component_name)                                                                                          \
    X(invalid_slot_name)                                                                                               \
    X(nested_too_deeply)                                                                                               \
    X(malformed_closing_tag)                                                                                           \
    X(void_closing_tag)                                                                                                \
    X(unexpected_closing_tag)                                                                                          \
    X(unmatched_closing_tag)                                                                                           \
    X(unterminated_html_comment)                                                                                       \
    X(unterminated_declaration)                                                                                        \
    X(eex_in_attribute_value)                                                                                          \
    X(default_not_in_values)                                                                                           \
    X(expression_nested_too_deeply)                                                                                    \
    X(empty_expression)                                                                                                \
    X(unclosed_tag)                                                                                                    \
    X(unclosed_tag_in_component)                                                                                       \
    X(empty_values_item)                                                                                               \
    X(expected_c_declaration)                                                                                          \
    X(attr_global_name)                                                                                                \
    X(attr_global_unclosed_include)                                                                                    \
    X(attr_global_include_not_strings)                                                                                 \
    X(attr_global_unexpected)                                                                                          \
    X(unclosed_values)                                                                                                 \
    X(missing_default)                                                                                                 \
    X(required_with_default)                                                                                           \
    X(declared_twice)                                                                                                  \
    X(assign_declared_twice)                                                                                           \
    X(attr_already_slot)                                                                                               \
    X(slot_name_missing)                                                                                               \
    X(unclosed_slot_brace)                                                                                             \
    X(inner_block_attrs)                                                                                               \
    X(slot_expected_attr)                                                                                              \
    X(slot_global_attr)                                                                                                \
    X(slot_reserved_inner_block)                                                                                       \
    X(slot_expected_semicolon)                                                                                         \
    X(slot_declared_twice)                                                                                             \
    X(slot_already_attr)                                                                                               \
    X(component_expected_attr_or_slot)                                                                                 \
    X(assign_expected_semicolon)                                                                                       \
    X(unterminated_directive)                                                                                          \
    X(component_name_missing)                                                                                          \
    X(component_defined_twice)                                                                                         \
    X(component_missing_end)                                                                                           \
    X(component_nested)                                                                                                \
    X(end_with_arguments)                                                                                              \
    X(assigns_after_content)                                                                                           \
    X(layout_twice)                                                                                                    \
    X(layout_with_arguments)                                                                                           \
    X(assigns_empty)                                                                                                   \
    X(include_malformed)                                                                                               \
    X(import_malformed)                                                                                                \
    X(module_malformed)                                                                                                \
    X(module_not_first)                                                                                                \
    X(end_without_component)                                                                                           \
    X(unknown_directive)                                                                                               \
    X(nul_byte)                                                                                                        \
    /* module.c */                                                                                                     \
    X(import_not_found)                                                                                                \
    /* gen.c */                                                                                                        \
    X(unterminated_path)                                                                                               \
    X(unterminated_path_interpolation)                                                                                 \
    X(empty_path_interpolation)                                                                                        \
    X(path_not_absolute)                                                                                               \
    X(unterminated_c_literal)                                                                                          \
    X(expected_assign_name)                                                                                            \
    X(unknown_assign)                                                                                                  \
    X(render_slot_arguments)                                                                                           \
    X(render_slot_not_a_slot)                                                                                          \
    X(render_slot_not_an_entry)                                                                                        \
    X(empty_attribute_list_item)                                                                                       \
    X(attr_value_not_allowed)                                                                                          \
    X(attr_value_not_allowed_expr)                                                                                     \
    X(attr_not_a_string)                                                                                               \
    X(attr_needs_value)                                                                                                \
    X(attr_list_on_component)                                                                                          \
    X(global_attr_list)                                                                                                \
    X(unknown_module)                                                                                                  \
    X(module_has_no_component)                                                                                         \
    X(unknown_component)                                                                                               \
    X(invalid_let)                                                                                                     \
    X(spread_on_component)                                                                                             \
    X(unknown_attribute)                                                                                               \
    X(missing_required_attribute)                                                                                      \
    X(let_without_inner_block)                                                                                         \
    X(missing_inner_block)                                                                                             \
    X(slot_entry_if)                                                                                                   \
    X(missing_required_slot)                                                                                           \
    X(unknown_slot)                                                                                                    \
    X(no_content)                                                                                                      \
    X(invalid_for)                                                                                                     \
    X(invalid_for_slot)                                                                                                \
    X(invalid_for_type)                                                                                                \
    X(invalid_for_array)                                                                                               \
    X(invalid_for_list)                                                                                                \
    X(for_list_needs_pointer)                                                                                          \
    X(unopened_c_block)                                                                                                \
    X(unclosed_c_block)                                                                                                \
    X(let_on_element)                                                                                                  \
    X(slot_outside_call)

static void check_error_case(const char *name)
{
    char file[256], err_path[512];
    snprintf(file, sizeof file, "%s.html.bnx", name);
    snprintf(err_path, sizeof err_path, "%s/%s.err", ERRORS_DIR, name);
    char c_path[256];
    snprintf(c_path, sizeof c_path, "%s.html.c", name);
    compiled r = compile_in(ERRORS_DIR, file, c_path, NULL, 0);
    cr_assert_gt(r.errors, 0, "%s compiled without an error", file);
    cr_assert(!r.loaded || !r.generated, "%s: %d error(s) but the compile succeeded", file, r.errors);
    /* The first line names the file as it was passed. */
    cr_assert(r.diag_len > strlen(file) && memcmp(r.diag, file, strlen(file)) == 0 && r.diag[strlen(file)] == ':',
              "%s: diagnostics do not start with the file name:\n%s", file, r.diag);
    golden(err_path, r.diag, r.diag_len);
    compiled_free(&r);
}

#define ERROR_TEST(name)                                                                                               \
    Test(template_errors, name) { check_error_case(#name); }
ERROR_CASES(ERROR_TEST)

#define ERROR_NAME(name) #name,
static const char *const error_cases[] = {ERROR_CASES(ERROR_NAME)};

static bool is_error_case(const char *name, size_t len)
{
    for (size_t i = 0; i < BN_ARRAY_LEN(error_cases); i++)
        if (strlen(error_cases[i]) == len && memcmp(error_cases[i], name, len) == 0)
            return true;
    return false;
}

/* Each .err file is a listed case, each listed case has its .err. */
Test(template_errors, every_golden_file_is_a_case)
{
    DIR *d = opendir(ERRORS_DIR);
    cr_assert_not_null(d);
    struct dirent *e;
    size_t nerr = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".err") == 0) {
            cr_expect(is_error_case(e->d_name, len - 4), "%s has no test in ERROR_CASES", e->d_name);
            nerr++;
        }
    }
    closedir(d);
    cr_expect_eq(nerr, BN_ARRAY_LEN(error_cases), "%zu .err files for %zu cases", nerr, BN_ARRAY_LEN(error_cases));
}

/* The fixed parts of every error message in the compiler's sources appear in
 * some .err file: a new message without a golden case fails here. */
typedef struct message {
    char *format;
    char *file;
    int line;
} message;

/* Reads the C string literal(s) at p (adjacent literals concatenated). */
static char *read_literal(const char **pp)
{
    const char *p = *pp;
    bn_buf b = BN_BUF_INIT;
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\t')
            p++;
        if (*p != '"')
            break;
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1]) {
                p++;
                char ch = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
                bn_buf_append(&b, &ch, 1);
            } else {
                bn_buf_append(&b, p, 1);
            }
        }
        if (*p == '"')
            p++;
    }
    *pp = p;
    char *s = strndup(b.data ? b.data : "", b.len);
    bn_buf_free(&b);
    return s;
}

static size_t find_messages(const char *file, message *out, size_t cap)
{
    char path[512];
    snprintf(path, sizeof path, "%s/src/template/compiler/%s", BENNU_SOURCE_DIR, file);
    char *src = slurp(path, NULL);
    cr_assert_not_null(src, "cannot read %s", path);
    size_t n = 0;
    static const char *const calls[] = {"FAIL_AT(", "ERR(", "tpl_error("};
    for (size_t k = 0; k < BN_ARRAY_LEN(calls); k++) {
        for (const char *p = src; (p = strstr(p, calls[k]));) {
            const char *call = p;
            p += strlen(calls[k]);
            /* Not a definition or a declaration: the call's first literal argument. */
            const char *close = strstr(p, ");");
            const char *q = strchr(p, '"');
            if (!q || !close || q > close)
                continue;
            if (call > src && (call[-1] == '_' || (call[-1] >= 'a' && call[-1] <= 'z')))
                continue;
            const char *lit = q;
            char *fmt = read_literal(&lit);
            if (!*fmt) {
                free(fmt);
                continue;
            }
            int line = 1;
            for (const char *s = src; s < call; s++)
                line += *s == '\n';
            cr_assert_lt(n, cap);
            out[n++] = (message){fmt, strdup(file), line};
        }
    }
    free(src);
    return n;
}

/* The longest piece of a printf format without a conversion. */
static char *longest_fixed(const char *fmt)
{
    bn_buf best = BN_BUF_INIT, cur = BN_BUF_INIT;
    for (const char *p = fmt;; p++) {
        if (*p == '%' && p[1] == '%') {
            bn_buf_append(&cur, "%", 1);
            p++;
            continue;
        }
        if (*p == '%' || !*p) {
            if (cur.len > best.len) {
                best.len = 0;
                bn_buf_append(&best, cur.data, cur.len);
            }
            cur.len = 0;
            if (!*p)
                break;
            p++;
            while (*p && !strchr("sdcuzfx", *p))
                p++;
            if (*p == 'z')
                p++;
            if (!*p)
                break;
            continue;
        }
        bn_buf_append(&cur, p, 1);
    }
    char *s = strndup(best.data ? best.data : "", best.len);
    bn_buf_free(&best);
    bn_buf_free(&cur);
    return s;
}

Test(template_errors, every_message_has_a_golden_case)
{
    /* Every .err file, concatenated. */
    bn_buf all = BN_BUF_INIT;
    for (size_t i = 0; i < BN_ARRAY_LEN(error_cases); i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.err", ERRORS_DIR, error_cases[i]);
        size_t len;
        char *s = slurp(path, &len);
        if (s)
            bn_buf_append(&all, s, len);
        free(s);
    }
    bn_buf_append(&all, "", 1);
    message msgs[256];
    size_t n = 0;
    static const char *const files[] = {"parse.c", "gen.c", "module.c"};
    for (size_t i = 0; i < BN_ARRAY_LEN(files); i++)
        n += find_messages(files[i], msgs + n, BN_ARRAY_LEN(msgs) - n);
    cr_assert_gt(n, 90, "found only %zu messages in the compiler's sources", n);
    for (size_t i = 0; i < n; i++) {
        char *fixed = longest_fixed(msgs[i].format);
        /* "%s:%d:%d: error: " is tpl_error's own prefix, not a message. */
        if (strlen(fixed) >= 3 && !strstr(msgs[i].format, "error: "))
            cr_expect(memmem(all.data, all.len, fixed, strlen(fixed)) != NULL,
                      "%s:%d: no golden case prints \"%s\" (the message \"%s\")", msgs[i].file, msgs[i].line, fixed,
                      msgs[i].format);
        free(fixed);
        free(msgs[i].format);
        free(msgs[i].file);
    }
    bn_buf_free(&all);
}

/* Diagnostics to a NULL stream are counted, not printed. */
Test(template_errors, null_diagnostics_stream_counts_errors)
{
    compiled r = compile_text("/nonexistent/x.html.bnx", "<p>{@nope}</p><.missing/>", false);
    cr_assert(r.loaded);
    cr_assert_not(r.generated);
    cr_assert_eq(r.errors, 2);
    compiled_free(&r);
    r = compile_text("/nonexistent/x.html.bnx", "<p>", false);
    cr_assert_not(r.loaded);
    cr_assert_eq(r.errors, 1);
    compiled_free(&r);
}

/* Semantic errors do not stop at the first: each is reported. */
Test(template_errors, semantic_errors_are_all_reported)
{
    compiled r = compile_text("many.html.bnx", "<%@ assigns int n; %>\n<p>{@a}</p>\n<p>{@b}</p>\n<.nope/>\n", true);
    cr_assert(r.loaded);
    cr_assert_not(r.generated);
    cr_assert_eq(r.errors, 3);
    cr_assert_str_eq(r.diag, "many.html.bnx:2:5: error: unknown assign @a\n"
                             " <p>{@a}</p>\n"
                             "     ^\n"
                             "many.html.bnx:3:5: error: unknown assign @b\n"
                             " <p>{@b}</p>\n"
                             "     ^\n"
                             "many.html.bnx:4:1: error: unknown component <.nope> (not in this module, its imports, "
                             "or the built-ins)\n"
                             " <.nope/>\n"
                             " ^\n");
    compiled_free(&r);
}

/* A file that cannot be read. */
Test(template_errors, unreadable_file)
{
    compiled r = compile_in(ERRORS_DIR, "no_such_template.html.bnx", "x.html.c", NULL, 0);
    cr_assert_not(r.loaded);
    cr_assert_eq(r.errors, 1);
    cr_assert_str_eq(r.diag, "no_such_template.html.bnx: error: cannot read: No such file or directory\n");
    compiled_free(&r);
}

/* A tab before the column keeps the caret aligned. */
Test(template_errors, caret_after_tabs)
{
    compiled r = compile_text("tabs.html.bnx", "<div>\n\t\t<p>{@x}</p>\n</div>\n", true);
    cr_assert_str_eq(r.diag, "tabs.html.bnx:2:7: error: unknown assign @x\n"
                             " \t\t<p>{@x}</p>\n"
                             " \t\t    ^\n");
    compiled_free(&r);
}

/* ------------------------------------------------------------------------ */
/* C comments and literals in template code                                    */

/* C comments are part of C: the brace scanner skips them, so must the rest. */
Test(template_errors, apostrophe_in_a_comment_of_an_expression)
{
    compiled r = compile_text("c.html.bnx", "<%@ assigns int count; %>\n<p>{@count /* don't */}</p>\n", true);
    cr_expect_eq(r.errors, 0, "%s", r.diag);
    cr_expect(r.generated);
    compiled_free(&r);
}

Test(template_errors, apostrophe_in_a_comment_of_eex)
{
    compiled r = compile_text("c.html.bnx", "<%@ assigns int count; %>\n<p><%= @count /* it's */ %></p>\n", true);
    cr_expect_eq(r.errors, 0, "%s", r.diag);
    cr_expect(r.generated);
    compiled_free(&r);
}

Test(template_errors, at_sign_in_a_comment)
{
    compiled r = compile_text("c.html.bnx", "<%@ assigns int count; %>\n<p>{@count /* mail me@example.com */}</p>\n",
                              true);
    cr_expect_eq(r.errors, 0, "%s", r.diag);
    cr_expect(r.generated);
    compiled_free(&r);
}

/* An @ in a C literal is not an assign. */
Test(template_errors, at_sign_in_a_literal)
{
    compiled r = compile_text("c.html.bnx", "<p>{\"me@example.com\"}<%= '@' %></p>\n", true);
    cr_assert_eq(r.errors, 0, "%s", r.diag);
    cr_assert_not_null(strstr(r.c.data, "\"me@example.com\""));
    compiled_free(&r);
}

/* A ~p"… in a comment: no path at all (found by fuzz_template: an unterminated
 * path without #{} formatted its parts from a NULL buffer and crashed). */
Test(template_errors, path_in_a_comment)
{
    compiled r = compile_text("c.html.bnx", "<p>{1 /* ~p\"/x */}</p>\n", true);
    cr_expect_eq(r.errors, 0, "%s", r.diag);
    cr_expect(r.generated);
    compiled_free(&r);
}

/* values(…) with non-ASCII strings: the value given as written is allowed. */
Test(template_errors, non_ascii_values)
{
    compiled r = compile_text("v.html.bnx",
                              "<%@ component tag\n"
                              "    attr const char *label = \"caf\xC3\xA9\" values(\"caf\xC3\xA9\", \"th\xC3\xA9\");\n"
                              "%>\n<b>{@label}</b>\n<%@ end %>\n"
                              "<.tag label=\"th\xC3\xA9\" />\n",
                              true);
    cr_expect_eq(r.errors, 0, "%s", r.diag);
    compiled_free(&r);
}

/* A default outside the attr's values(…) is an error, as a call's value is. */
Test(template_errors, default_outside_values)
{
    compiled r = compile_text("v.html.bnx",
                              "<%@ component tag\n"
                              "    attr const char *kind = \"huge\" values(\"small\", \"big\");\n"
                              "%>\n<b>{@kind}</b>\n<%@ end %>\n"
                              "<.tag />\n",
                              true);
    cr_expect_gt(r.errors, 0, "a default outside values(…) was accepted");
    compiled_free(&r);
}

/* A malformed list(…) source is reported, like a malformed array(…) (found
 * by fuzz_template: the members were read before the form was checked). */
Test(template_errors, for_list_source_without_closing_paren)
{
    compiled r = compile_text("f.html.bnx", "<p :for={int *x <- list(a}>y</p>\n", true);
    cr_assert_not(r.generated);
    cr_assert_str_eq(r.diag, "f.html.bnx:1:20: error: invalid :for source: expected list(LIST, MEMBER), MEMBER naming "
                             "the bn_list field\n"
                             " <p :for={int *x <- list(a}>y</p>\n"
                             "                    ^\n");
    compiled_free(&r);
    r = compile_text("f.html.bnx", "<p :for={int *x <- array(a, b}>y</p>\n", true);
    cr_assert_not(r.generated);
    cr_assert_str_eq(r.diag, "f.html.bnx:1:20: error: invalid :for source: expected array(POINTER, COUNT)\n"
                             " <p :for={int *x <- array(a, b}>y</p>\n"
                             "                    ^\n");
    compiled_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Generated code: golden output                                              */

static const char *const output_cases[] = {"page", "components", "calls", "loops", "layout"};

static void check_output_case(const char *name)
{
    char file[256], c_path[256], path[512];
    snprintf(file, sizeof file, "%s.html.bnx", name);
    /* A fixed c_path keeps the #line directives stable. */
    snprintf(c_path, sizeof c_path, "%s.html.c", name);
    compiled r = compile_in(OUTPUT_DIR, file, c_path, NULL, 0);
    cr_assert_eq(r.errors, 0, "%s:\n%s", file, r.diag);
    cr_assert(r.loaded && r.generated);
    cr_assert_eq(r.diag_len, 0);
    snprintf(path, sizeof path, "%s/%s.html.c.expected", OUTPUT_DIR, name);
    golden(path, r.c.data, r.c.len);
    snprintf(path, sizeof path, "%s/%s.html.h.expected", OUTPUT_DIR, name);
    golden(path, r.h.data, r.h.len);
    compiled_free(&r);
}

Test(template_output, page) { check_output_case("page"); }
Test(template_output, components) { check_output_case("components"); }
Test(template_output, calls) { check_output_case("calls"); }
Test(template_output, loops) { check_output_case("loops"); }
Test(template_output, layout) { check_output_case("layout"); }

/* The same template compiles to the same bytes twice (no addresses, no time). */
Test(template_output, deterministic)
{
    compiled a = compile_in(OUTPUT_DIR, "calls.html.bnx", "calls.html.c", NULL, 0);
    compiled b = compile_in(OUTPUT_DIR, "calls.html.bnx", "calls.html.c", NULL, 0);
    cr_assert(a.generated && b.generated);
    cr_assert(a.c.len == b.c.len && memcmp(a.c.data, b.c.data, a.c.len) == 0);
    cr_assert(a.h.len == b.h.len && memcmp(a.h.data, b.h.data, a.h.len) == 0);
    compiled_free(&a);
    compiled_free(&b);
}

/* The module name comes from the file name, or from <%@ module %>. */
Test(template_output, module_names)
{
    compiled r = compile_text("dir/user-list.html.bnx", "<p>x</p>", true);
    cr_assert(r.generated, "%s", r.diag);
    cr_assert_not_null(strstr(r.h.data, "void user_list(bn_tpl *t, const user_list_assigns *assigns);"), "%s",
                       r.h.data);
    compiled_free(&r);
    r = compile_text("dir/2fa.html.bnx", "<p>x</p>", true);
    cr_assert(r.generated, "%s", r.diag);
    cr_assert_not_null(strstr(r.h.data, "void t_2fa(bn_tpl *t, const t_2fa_assigns *assigns);"), "%s", r.h.data);
    compiled_free(&r);
    r = compile_text("dir/x.html.bnx", "<%@ module accounts_page %>\n<p>x</p>", true);
    cr_assert(r.generated, "%s", r.diag);
    cr_assert_not_null(strstr(r.h.data, "#ifndef BNX_ACCOUNTS_PAGE_H"), "%s", r.h.data);
    cr_assert_not_null(strstr(r.h.data, "void accounts_page(bn_tpl *t, const accounts_page_assigns *assigns);"));
    compiled_free(&r);
}

/* Each assign gets a change bit in declaration order. */
Test(template_output, change_bits)
{
    compiled r = compile_text("bits.html.bnx", "<%@ assigns int a; int b; int c; %>\n<p>{@c}{@a}</p>", true);
    cr_assert(r.generated, "%s", r.diag);
    cr_assert_not_null(strstr(r.h.data, "#define bits__changed_a bn_tpl_bit(0)\n"
                                        "#define bits__changed_b bn_tpl_bit(1)\n"
                                        "#define bits__changed_c bn_tpl_bit(2)\n"));
    /* @c reads bit 2, @a bit 0. */
    cr_assert_not_null(strstr(r.c.data, "bn_tpl_dyn(bn__t, (bn_tpl_changes)0x4u)"), "%s", r.c.data);
    cr_assert_not_null(strstr(r.c.data, "bn_tpl_dyn(bn__t, (bn_tpl_changes)0x1u)"), "%s", r.c.data);
    compiled_free(&r);
}

/* The generated C of every golden template compiles without a warning. */
static bool have_cc(void)
{
    int status;
    free(bt_run("command -v cc >/dev/null 2>&1", &status));
    return status == 0;
}

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/bennu-tpl-test-XXXXXX";
    char *dir = mkdtemp(tmpl);
    cr_assert_not_null(dir);
    return strdup(dir);
}

static void remove_tmpdir(char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    int status;
    free(bt_run(cmd, &status));
    free(dir);
}

Test(template_output, generated_code_compiles)
{
    if (!have_cc())
        cr_skip_test("no C compiler (cc) found");
    char *tmp = make_tmpdir();
    for (size_t i = 0; i < BN_ARRAY_LEN(output_cases); i++) {
        char file[256], c_path[256], path[600];
        snprintf(file, sizeof file, "%s.html.bnx", output_cases[i]);
        snprintf(c_path, sizeof c_path, "%s.html.c", output_cases[i]);
        compiled r = compile_in(OUTPUT_DIR, file, c_path, NULL, 0);
        cr_assert(r.generated, "%s", r.diag);
        snprintf(path, sizeof path, "%s/%s.html.c", tmp, output_cases[i]);
        spit(path, r.c.data, r.c.len);
        snprintf(path, sizeof path, "%s/%s.html.h", tmp, output_cases[i]);
        spit(path, r.h.data, r.h.len);
        compiled_free(&r);
    }
    for (size_t i = 0; i < BN_ARRAY_LEN(output_cases); i++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && cc -c -o /dev/null -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -I '%s/include' -I . "
                 "-I '%s' %s.html.c 2>&1",
                 tmp, BENNU_SOURCE_DIR, OUTPUT_DIR, output_cases[i]);
        int status;
        char *out = bt_run(cmd, &status);
        cr_expect_eq(status, 0, "%s.html.c does not compile:\n%s", output_cases[i], out);
        free(out);
    }
    remove_tmpdir(tmp);
}

/* ------------------------------------------------------------------------ */
/* The bennu-tpl program                                                      */

static char *run_in(const char *dir, const char *args, int *status)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s 2>&1", dir, TPL_BIN, args);
    return bt_run(cmd, status);
}

static bool exists(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void write_in(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    spit_str(path, text);
}

static void mkdir_in(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s: %s", path, strerror(errno));
}

static char *read_in(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *s = slurp(path, NULL);
    cr_assert_not_null(s, "cannot read %s", path);
    return s;
}

static struct timespec mtime_of(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
    return st.st_mtim;
}

/* Sets a file's mtime to a fixed time in the past. */
static void age(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct timespec times[2] = {{946684800, 0}, {946684800, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, path, times, 0), 0);
}

static const char widgets_bnx[] = "<%@ component badge\n"
                                  "    attr const char *label = \"new\";\n"
                                  "%>\n"
                                  "<span class=\"badge\">{@label}</span>\n"
                                  "<%@ end %>\n";
static const char page_bnx[] = "<%@ import widgets %>\n"
                               "<%@ assigns const char *title; %>\n"
                               "<h1>{@title} <.badge /></h1>\n";

Test(template_cli, error_exit_status_and_stderr)
{
    char *tmp = make_tmpdir();
    write_in(tmp, "bad.html.bnx", "<%@ assigns const char *title; %>\n<h1>{@titel}</h1>\n");
    int status;
    char *out = run_in(tmp, "-o . bad.html.bnx", &status);
    cr_assert_eq(status, 1);
    cr_assert_str_eq(out, "bad.html.bnx:2:6: error: unknown assign @titel\n"
                          " <h1>{@titel}</h1>\n"
                          "      ^\n");
    cr_assert_not(exists(tmp, "bad.html.c"));
    cr_assert_not(exists(tmp, "bad.html.h"));
    free(out);
    /* A syntax error, named by the path as given. */
    mkdir_in(tmp, "sub");
    write_in(tmp, "sub/broken.html.bnx", "<div>\n<p>x</div>\n");
    out = run_in(tmp, "-o sub sub/broken.html.bnx", &status);
    cr_assert_eq(status, 1);
    cr_assert_str_eq(out, "sub/broken.html.bnx:2:5: error: unmatched closing tag: expected </p> for <p> at line 2, "
                          "got </div>\n"
                          " <p>x</div>\n"
                          "     ^\n");
    free(out);
    remove_tmpdir(tmp);
}

Test(template_cli, usage_and_unreadable_file)
{
    char *tmp = make_tmpdir();
    int status;
    char *out = run_in(tmp, "", &status);
    cr_assert_eq(status, 2);
    cr_assert_not_null(strstr(out, "usage: bennu-tpl"), "%s", out);
    free(out);
    out = run_in(tmp, "-x page.html.bnx", &status);
    cr_assert_eq(status, 2);
    free(out);
    out = run_in(tmp, "missing.html.bnx", &status);
    cr_assert_eq(status, 1);
    cr_assert_str_eq(out, "missing.html.bnx: error: cannot read: No such file or directory\n");
    free(out);
    remove_tmpdir(tmp);
}

Test(template_cli, writes_outputs_and_depfile)
{
    char *tmp = make_tmpdir();
    write_in(tmp, "widgets.html.bnx", widgets_bnx);
    write_in(tmp, "page.html.bnx", page_bnx);
    mkdir_in(tmp, "out");
    int status;
    char *out = run_in(tmp, "-o out -M out/page.d page.html.bnx", &status);
    cr_assert_eq(status, 0, "%s", out);
    cr_assert_str_eq(out, "");
    free(out);
    cr_assert(exists(tmp, "out/page.html.c"));
    cr_assert(exists(tmp, "out/page.html.h"));
    /* Only the named template is written, not the one it imports. */
    cr_assert_not(exists(tmp, "out/widgets.html.c"));
    char *dep = read_in(tmp, "out/page.d");
    cr_assert_str_eq(dep, "out/page.html.c out/page.html.h: page.html.bnx widgets.html.bnx\n");
    free(dep);
    char *c = read_in(tmp, "out/page.html.c");
    cr_assert_not_null(strstr(c, "#include \"page.html.h\""));
    cr_assert_not_null(strstr(c, "#include \"widgets.html.h\""));
    cr_assert_not_null(strstr(c, "#line 3 \"page.html.bnx\""), "%s", c);
    /* The lines after template code point back into the .c file by its output path. */
    cr_assert_not_null(strstr(c, "\"out/page.html.c\""), "%s", c);
    free(c);
    char *h = read_in(tmp, "out/page.html.h");
    cr_assert_not_null(strstr(h, "/* Generated by bennu-tpl from page.html.bnx. Do not edit. */"), "%s", h);
    free(h);
    remove_tmpdir(tmp);
}

Test(template_cli, several_files_and_include_dirs)
{
    char *tmp = make_tmpdir();
    bn_arena a = BN_ARENA_INIT;
    mkdir_in(tmp, "lib");
    mkdir_in(tmp, "pages");
    write_in(tmp, "lib/widgets.html.bnx", widgets_bnx);
    write_in(tmp, "pages/page.html.bnx", page_bnx);
    write_in(tmp, "pages/other.html.bnx", "<%@ assigns int n; %>\n<Widgets.badge label=\"x\" /> {@n}\n");
    int status;
    /* Without -I the import is not found. */
    char *out = run_in(tmp, "-o pages pages/page.html.bnx", &status);
    cr_assert_eq(status, 1);
    cr_assert_str_eq(out, "pages/page.html.bnx:1:12: error: cannot find module \"widgets\" (widgets.html.bnx) to import\n"
                          " <%@ import widgets %>\n"
                          "            ^\n");
    free(out);
    out = run_in(tmp, "-o pages -I lib -M pages/deps.d pages/page.html.bnx pages/other.html.bnx", &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    cr_assert(exists(tmp, "pages/page.html.c") && exists(tmp, "pages/other.html.c"));
    char *dep = read_in(tmp, "pages/deps.d");
    cr_assert_str_eq(dep, "pages/page.html.c pages/page.html.h: pages/page.html.bnx lib/widgets.html.bnx\n"
                          "pages/other.html.c pages/other.html.h: pages/other.html.bnx lib/widgets.html.bnx\n");
    free(dep);
    /* -IDIR in one argument. */
    out = run_in(tmp, "-o pages -Ilib pages/page.html.bnx", &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    /* One bad file among good ones: exit 1, the good ones are still written. */
    write_in(tmp, "pages/bad.html.bnx", "<p>\n");
    char *rm = bt_run(bn_arena_printf(&a, "rm -f '%s/pages/other.html.c'", tmp), &status);
    free(rm);
    out = run_in(tmp, "-o pages -I lib pages/bad.html.bnx pages/other.html.bnx", &status);
    cr_assert_eq(status, 1);
    cr_assert_not_null(strstr(out, "pages/bad.html.bnx:1:1: error: end of template reached without closing tag for <p>"),
                       "%s", out);
    cr_assert(exists(tmp, "pages/other.html.c"));
    free(out);
    bn_arena_destroy(&a);
    remove_tmpdir(tmp);
}

Test(template_cli, unchanged_outputs_are_not_rewritten)
{
    char *tmp = make_tmpdir();
    write_in(tmp, "widgets.html.bnx", widgets_bnx);
    write_in(tmp, "page.html.bnx", page_bnx);
    int status;
    char *out = run_in(tmp, "-o . page.html.bnx", &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    age(tmp, "page.html.c");
    age(tmp, "page.html.h");
    out = run_in(tmp, "-o . page.html.bnx", &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    cr_assert_eq(mtime_of(tmp, "page.html.c").tv_sec, 946684800, "an unchanged .c was rewritten");
    cr_assert_eq(mtime_of(tmp, "page.html.h").tv_sec, 946684800, "an unchanged .h was rewritten");
    /* A change in the body changes the .c only; the header stays. */
    write_in(tmp, "page.html.bnx", "<%@ import widgets %>\n<%@ assigns const char *title; %>\n<h2>{@title}</h2>\n");
    out = run_in(tmp, "-o . page.html.bnx", &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    cr_assert_neq(mtime_of(tmp, "page.html.c").tv_sec, 946684800, "a changed .c was not rewritten");
    cr_assert_eq(mtime_of(tmp, "page.html.h").tv_sec, 946684800, "an unchanged .h was rewritten");
    /* A new assign changes the header. */
    write_in(tmp, "page.html.bnx", "<%@ assigns const char *title; int n; %>\n<h2>{@title}</h2>\n");
    out = run_in(tmp, "-o . page.html.bnx", &status);
    cr_assert_eq(status, 0, "%s", out);
    free(out);
    cr_assert_neq(mtime_of(tmp, "page.html.h").tv_sec, 946684800, "a changed .h was not rewritten");
    remove_tmpdir(tmp);
}

/* bennu_templates() (cmake/BennuTemplates.cmake) declares the outputs of
 * DIR/FILE.html.bnx as OUT/NAME.html.c and OUT/NAME.html.h, NAME being FILE
 * up to its first dot, prefixed by DIR_ when DIR ends in "_html", with every
 * character but [A-Za-z0-9_] as '_': bennu-tpl must write exactly those
 * files, or the build cannot find them. */
Test(template_cli, outputs_are_named_as_bennu_templates_expects)
{
    char *tmp = make_tmpdir();
    mkdir_in(tmp, "out");
    mkdir_in(tmp, "page_html");
    write_in(tmp, "user-list.html.bnx", "<p>users</p>\n");
    write_in(tmp, "page_html/home.html.bnx", "<p>home</p>\n");
    write_in(tmp, "renamed.html.bnx", "<%@ module other_name %>\n<p>x</p>\n");
    write_in(tmp, "2fa.html.bnx", "<p>code</p>\n");
    static const char *const expected[][2] = {{"user-list.html.bnx", "user_list"},
                                              {"page_html/home.html.bnx", "page_html_home"},
                                              {"renamed.html.bnx", "renamed"},
                                              {"2fa.html.bnx", "2fa"}};
    for (size_t i = 0; i < BN_ARRAY_LEN(expected); i++) {
        char args[256], c[128], h[128];
        snprintf(args, sizeof args, "-o out %s", expected[i][0]);
        int status;
        char *out = run_in(tmp, args, &status);
        cr_expect_eq(status, 0, "%s: %s", expected[i][0], out);
        free(out);
        snprintf(c, sizeof c, "out/%s.html.c", expected[i][1]);
        snprintf(h, sizeof h, "out/%s.html.h", expected[i][1]);
        cr_expect(exists(tmp, c) && exists(tmp, h), "%s: not written as %s and %s", expected[i][0], c, h);
    }
    remove_tmpdir(tmp);
}

/* ------------------------------------------------------------------------ */
/* #line: the C compiler's messages point into the template                   */

static char *compile_generated(const char *tmp, const char *file, bool link_stage, int *status)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' -o . %s 2>&1 && cc %s -std=c17 -D_GNU_SOURCE -I '%s/include' -I . %.*s.c 2>&1",
             tmp, TPL_BIN, file, link_stage ? "-c -o /dev/null" : "-fsyntax-only", BENNU_SOURCE_DIR,
             (int)(strlen(file) - 4), file);
    return bt_run(cmd, status);
}

/* A value of a type a template cannot write: the error is reported at the
 * template's line (bn_tpl_put names a function declared with the error
 * attribute, so the message comes from code generation: -c, not -fsyntax-only). */
Test(template_line, type_error_points_into_the_template)
{
    if (!have_cc())
        cr_skip_test("no C compiler (cc) found");
    char *tmp = make_tmpdir();
    write_in(tmp, "bad.html.bnx", "<%@ assigns const struct user *user; int n; %>\n"
                                  "<h1>Profile {@n}</h1>\n"
                                  "<p><%= @user %></p>\n");
    int status;
    char *out = compile_generated(tmp, "bad.html.bnx", true, &status);
    cr_assert_neq(status, 0, "the C compiler accepted a struct pointer in <%%= %%>:\n%s", out);
    cr_assert_not_null(strstr(out, "bad.html.bnx:3"), "the C compiler's message does not name bad.html.bnx:3:\n%s",
                       out);
    free(out);
    remove_tmpdir(tmp);
}

/* A C syntax error in <% %> and in an attribute expression. */
Test(template_line, syntax_errors_point_into_the_template)
{
    if (!have_cc())
        cr_skip_test("no C compiler (cc) found");
    char *tmp = make_tmpdir();
    write_in(tmp, "stmt.html.bnx", "<%@ assigns int n; %>\n"
                                   "<p>{@n}</p>\n"
                                   "\n"
                                   "<% int x = ; %>\n");
    int status;
    char *out = compile_generated(tmp, "stmt.html.bnx", false, &status);
    cr_assert_neq(status, 0, "%s", out);
    cr_assert_not_null(strstr(out, "stmt.html.bnx:4:"), "%s", out);
    free(out);
    write_in(tmp, "attr.html.bnx", "<%@ assigns int n; %>\n"
                                   "<div\n"
                                   "  id=\"x\"\n"
                                   "  title={@n +}>x</div>\n");
    out = compile_generated(tmp, "attr.html.bnx", false, &status);
    cr_assert_neq(status, 0, "%s", out);
    cr_assert_not_null(strstr(out, "attr.html.bnx:4:"), "%s", out);
    free(out);
    /* An undeclared identifier in a :for source. */
    write_in(tmp, "loop.html.bnx", "<%@ include <bennu/core.h> %>\n"
                                   "<%@ assigns const bn_list *users; %>\n"
                                   "<ul>\n"
                                   "  <li :for={const struct user *u <- userz}>x</li>\n"
                                   "</ul>\n");
    out = compile_generated(tmp, "loop.html.bnx", false, &status);
    cr_assert_neq(status, 0, "%s", out);
    cr_assert_not_null(strstr(out, "loop.html.bnx:4:"), "%s", out);
    free(out);
    remove_tmpdir(tmp);
}

/* The column is kept too when the generated call leaves room before it. */
Test(template_line, column_is_kept)
{
    if (!have_cc())
        cr_skip_test("no C compiler (cc) found");
    char *tmp = make_tmpdir();
    /* missing_variable is at column 23 of line 2. */
    write_in(tmp, "col.html.bnx", "<%@ assigns int n; %>\n"
                                  "<p>The total amount: {missing_variable + @n}</p>\n");
    int status;
    char *out = compile_generated(tmp, "col.html.bnx", false, &status);
    cr_assert_neq(status, 0, "%s", out);
    cr_assert_not_null(strstr(out, "col.html.bnx:2:23:"), "%s", out);
    free(out);
    remove_tmpdir(tmp);
}
