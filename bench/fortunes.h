/*
 * bench/fortunes.h — the data of TechEmpower's "Fortunes" test for `make bench`
 * (bench_server's /fortunes and render_bench): the 12 classic fortunes, held
 * in memory instead of a database, and the per-request work the test asks
 * for (take the rows, add one fortune, sort by message).
 */
#ifndef BENCH_FORTUNES_H
#define BENCH_FORTUNES_H

#include <stddef.h>

typedef struct fortune {
    int id;
    const char *message; /* UTF-8, untrusted: the template escapes it */
} fortune;

/** The "Fortune" table: 12 rows, read-only. */
extern const fortune fortune_table[];
extern const size_t fortune_table_count;

/** The fortune every request adds before sorting (id 0). */
#define FORTUNE_EXTRA_MESSAGE "Additional fortune added at request time."

/**
 * One request's list: `out` (room for fortune_table_count + 1 pointers) gets
 * a pointer to every row and to `extra` (the request's own fortune), sorted
 * by message in byte order (strcmp). Returns the number of entries.
 */
size_t fortunes_collect(const fortune **out, const fortune *extra);

/** Sorts `n` fortunes by message in byte order (strcmp), as fortunes_collect does. */
void fortunes_sort(const fortune **list, size_t n);

#endif
