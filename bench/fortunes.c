/*
 * bench/fortunes.c — the in-memory "Fortune" table of TechEmpower's Fortunes
 * test (the rows of its database, ids 1–12) and the per-request collect-and-sort
 * (db_server sorts the rows it read from the database the same way).
 */
#include "fortunes.h"

#include <stdlib.h>
#include <string.h>

const fortune fortune_table[] = {
    {1, "fortune: No such file or directory"},
    {2, "A computer scientist is someone who fixes things that aren't broken."},
    {3, "After enough decimal places, nobody gives a damn."},
    {4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"},
    {5, "A computer program does what you tell it to do, not what you want it to do."},
    {6, "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen"},
    {7, "Any program that runs right is obsolete."},
    {8, "A list is only as strong as its weakest link. — Donald Knuth"},
    {9, "Feature: A bug with seniority."},
    {10, "Computers make very fast, very accurate mistakes."},
    {11, "<script>alert(\"This should not be displayed in a browser alert box.\");</script>"},
    {12, "フレームワークのベンチマーク"},
};
const size_t fortune_table_count = sizeof fortune_table / sizeof fortune_table[0];

static int by_message(const void *a, const void *b)
{
    const fortune *x = *(const fortune *const *)a, *y = *(const fortune *const *)b;
    return strcmp(x->message, y->message);
}

void fortunes_sort(const fortune **list, size_t n) { qsort(list, n, sizeof *list, by_message); }

size_t fortunes_collect(const fortune **out, const fortune *extra)
{
    size_t n = 0;
    for (size_t i = 0; i < fortune_table_count; i++)
        out[n++] = &fortune_table[i];
    out[n++] = extra;
    fortunes_sort(out, n);
    return n;
}
