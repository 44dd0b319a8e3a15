/*
 * bench/render_bench.c — what the Fortunes page costs to render, without
 * HTTP: the compiled template fortunes.html.bnx in both of its modes, next to
 * a hand-written C renderer of the same bytes. Run by bench/run.sh (not by
 * the tests).
 *
 *   plain       bn_tpl_render_html into one bn_buf, emptied (not freed) each time
 *   tree        bn_tpl_render_tree (the LiveView structure: statics apart from
 *               dynamics) into an arena reset each time
 *   handwritten memcpy of the constant parts, snprintf("%d") for the id and a
 *               table-driven escape of the message, into one buffer sized once
 *   collect     fortunes_collect: the 13 pointers gathered and sorted (qsort)
 *   request     what bench_server's /fortunes handler does before send_resp:
 *               collect, then the template into a new bn_buf (grown from
 *               empty, as bn_render does), freed after
 *
 * The page is the one bench_server sends: the 12 rows plus the request's
 * fortune, sorted. Before timing, the three renderers must produce the same
 * bytes (the tree through bn_rendered_to_html), or the program fails.
 *
 * Usage: render_bench [ITERATIONS]   (default 100000; each mode is timed
 *                                     REPS times, the median is printed)
 *        render_bench ITERATIONS MODE  one mode only (plain, tree, handwritten,
 *                                     collect, request), for perf and callgrind
 *        render_bench --page         writes the hand-written page to stdout:
 *                                     the bytes run.sh expects from every server
 *
 * Output (one line):
 *   BENCH fortunes_render ns_per_page=X bytes=Y ns_per_tree=Z handwritten_ns_per_page=H
 *         template_vs_handwritten=X/H tree_vs_handwritten=Z/H collect_sort_ns=S
 *         ns_per_request=R iterations=N
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bennu/core.h"
#include "bennu/template.h"
#include "fortunes.h"
#include "fortunes.html.h"

#define REPS 7

static const char page_head[] =
    "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>";
static const char page_tail[] = "</table></body></html>";

/* ---- the hand-written renderer ---------------------------------------------- */

/* The entity of each byte that has one (the template's: & < > " '), else NULL. */
static const char *const entity[256] = {
    ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&#39;",
};

/* Writes `s` escaped at `dst`; returns the end. Runs without entities are
 * copied whole. No UTF-8 validation (the template's escape has it). */
static char *escape_into(char *dst, const char *s)
{
    const char *run = s;
    for (;; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == 0)
            break;
        const char *e = entity[ch];
        if (!e)
            continue;
        memcpy(dst, run, (size_t)(s - run));
        dst += s - run;
        size_t el = strlen(e);
        memcpy(dst, e, el);
        dst += el;
        run = s + 1;
    }
    memcpy(dst, run, (size_t)(s - run));
    return dst + (s - run);
}

#define PUT(dst, lit) (memcpy((dst), (lit), sizeof(lit) - 1), (dst) += sizeof(lit) - 1)

/* Appends the page to `out`: one reservation of the worst case, then memcpy. */
static void render_by_hand(bn_buf *out, const fortune *const *list, size_t n)
{
    size_t worst = sizeof page_head + sizeof page_tail;
    for (size_t i = 0; i < n; i++)
        worst += 40 + 6 * strlen(list[i]->message); /* "&quot;" is the longest entity */
    char *start = bn_buf_reserve(out, worst), *p = start;
    PUT(p, page_head);
    for (size_t i = 0; i < n; i++) {
        PUT(p, "<tr><td>");
        p += snprintf(p, 16, "%d", list[i]->id);
        PUT(p, "</td><td>");
        p = escape_into(p, list[i]->message);
        PUT(p, "</td></tr>");
    }
    PUT(p, page_tail);
    out->len += (size_t)(p - start);
}

/* ---- timing ------------------------------------------------------------------ */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench_ctx {
    const fortune *const *list;
    size_t n;
    bn_buf out;
    bn_arena arena;
    volatile size_t sink; /* keeps the loops' results alive */
} bench_ctx;

typedef void bench_fn(bench_ctx *b);

static void run_plain(bench_ctx *b)
{
    const fortunes_assigns as = {.fortunes = b->list, .count = b->n};
    b->out.len = 0;
    const char *err = bn_tpl_render_html(&b->out, fortunes, &as);
    b->sink += b->out.len + (err != NULL);
}

static void run_tree(bench_ctx *b)
{
    bn_arena_reset(&b->arena);
    const char *err = NULL;
    const fortunes_assigns as = {.fortunes = b->list, .count = b->n};
    bn_rendered *r = bn_tpl_render_tree(&b->arena, fortunes, &as, BN_TPL_ALL, NULL, &err);
    b->sink += (size_t)(uintptr_t)r + (err != NULL);
}

static void run_hand(bench_ctx *b)
{
    b->out.len = 0;
    render_by_hand(&b->out, b->list, b->n);
    b->sink += b->out.len;
}

static void run_collect(bench_ctx *b)
{
    const fortune *list[16];
    fortune extra = {0, FORTUNE_EXTRA_MESSAGE};
    b->sink += fortunes_collect(list, &extra) + (size_t)(uintptr_t)list[0];
}

static void run_request(bench_ctx *b)
{
    const fortune *list[16];
    fortune extra = {0, FORTUNE_EXTRA_MESSAGE};
    const fortunes_assigns as = {.fortunes = list, .count = fortunes_collect(list, &extra)};
    bn_buf page = BN_BUF_INIT;
    const char *err = bn_tpl_render_html(&page, fortunes, &as);
    b->sink += page.len + (err != NULL);
    bn_buf_free(&page);
}

/* The median over REPS runs of `iters` calls, in ns per call. */
static double time_it(bench_ctx *b, bench_fn *fn, long iters)
{
    double per[REPS];
    for (long i = 0; i < iters / 10 + 1; i++) /* warm-up: caches, buffer and arena sizes */
        fn(b);
    for (int r = 0; r < REPS; r++) {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++)
            fn(b);
        per[r] = (now_ns() - t0) / (double)iters;
    }
    qsort(per, REPS, sizeof per[0], cmp_double);
    return per[REPS / 2];
}

/* ---- main -------------------------------------------------------------------- */

static int same(const char *what, const bn_buf *a, const bn_buf *b)
{
    if (a->len == b->len && memcmp(a->data, b->data, a->len) == 0)
        return 1;
    size_t i = 0;
    while (i < a->len && i < b->len && a->data[i] == b->data[i])
        i++;
    fprintf(stderr, "render_bench: %s differs from the hand-written page at byte %zu (%zu vs %zu bytes)\n", what, i,
            a->len, b->len);
    return 0;
}

static const struct {
    const char *name;
    bench_fn *fn;
} modes[] = {{"plain", run_plain},     {"tree", run_tree},       {"handwritten", run_hand},
             {"collect", run_collect}, {"request", run_request}};

int main(int argc, char **argv)
{
    fortune extra = {0, FORTUNE_EXTRA_MESSAGE};
    const fortune *list[16];
    if (fortune_table_count + 1 > sizeof list / sizeof list[0])
        return 1;
    size_t n = fortunes_collect(list, &extra);
    const fortunes_assigns as = {.fortunes = list, .count = n};

    int status = 1;
    bn_buf hand = BN_BUF_INIT, plain = BN_BUF_INIT, from_tree = BN_BUF_INIT;
    bn_arena arena = BN_ARENA_INIT;
    bench_ctx b = {.list = list, .n = n, .out = BN_BUF_INIT, .arena = BN_ARENA_INIT};
    render_by_hand(&hand, list, n);
    if (argc > 1 && strcmp(argv[1], "--page") == 0) {
        size_t wrote = fwrite(hand.data, 1, hand.len, stdout);
        status = wrote == hand.len && fflush(stdout) == 0 ? 0 : 1;
        goto done;
    }
    long iters = argc > 1 ? atol(argv[1]) : 100000;
    if (iters < 1) {
        fprintf(stderr, "usage: %s [ITERATIONS [MODE]] | --page\n", argv[0]);
        status = 2;
        goto done;
    }

    /* The three renderers must agree before any of them is timed. */
    const char *err = bn_tpl_render_html(&plain, fortunes, &as);
    const char *terr = NULL;
    bn_rendered *tree = bn_tpl_render_tree(&arena, fortunes, &as, BN_TPL_ALL, NULL, &terr);
    if (err || terr || !tree) {
        fprintf(stderr, "render_bench: render error: %s\n", err ? err : terr ? terr : "no tree");
        goto done;
    }
    bn_rendered_to_html(tree, &from_tree);
    if (!same("bn_tpl_render_html", &plain, &hand) || !same("bn_tpl_render_tree", &from_tree, &hand))
        goto done;

    if (argc > 2) {
        status = 2;
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
            if (strcmp(argv[2], modes[i].name) == 0) {
                printf("BENCH fortunes_render_%s ns=%.0f iterations=%ld\n", modes[i].name,
                       time_it(&b, modes[i].fn, iters), iters);
                status = 0;
            }
        if (status)
            fprintf(stderr, "render_bench: unknown mode %s (plain, tree, handwritten, collect, request)\n", argv[2]);
        goto done;
    }
    double t_plain = time_it(&b, run_plain, iters);
    double t_tree = time_it(&b, run_tree, iters);
    double t_hand = time_it(&b, run_hand, iters);
    double t_collect = time_it(&b, run_collect, iters);
    double t_request = time_it(&b, run_request, iters);
    printf("BENCH fortunes_render ns_per_page=%.0f bytes=%zu ns_per_tree=%.0f handwritten_ns_per_page=%.0f "
           "template_vs_handwritten=%.2f tree_vs_handwritten=%.2f collect_sort_ns=%.0f ns_per_request=%.0f "
           "iterations=%ld\n",
           t_plain, hand.len, t_tree, t_hand, t_plain / t_hand, t_tree / t_hand, t_collect, t_request, iters);
    status = 0;
done:
    fflush(stdout);
    bn_buf_free(&b.out);
    bn_arena_destroy(&b.arena);
    bn_arena_destroy(&arena);
    bn_buf_free(&plain);
    bn_buf_free(&from_tree);
    bn_buf_free(&hand);
    return status;
}
