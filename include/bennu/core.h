/*
 * bennu/core.h — the ground floor: string slices, growable buffers, arenas,
 * intrusive lists, allocation that never returns NULL, logging and time.
 *
 * Nothing here knows about sockets or threads; every other layer stands on it.
 */
#ifndef BENNU_CORE_H
#define BENNU_CORE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BN_LIKELY(x) __builtin_expect(!!(x), 1)
#define BN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define BN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define BN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define BN_MAX(a, b) ((a) > (b) ? (a) : (b))
#define BN_PRINTF(f, a) __attribute__((format(printf, f, a)))

/** Pointer to the struct that embeds `ptr` as its member `field`. */
#define bn_container_of(ptr, type, field) ((type *)((char *)(ptr) - offsetof(type, field)))

/* ------------------------------------------------------------------------ */
/* Allocation: these abort with a message on out-of-memory, so callers carry */
/* no NULL branches (a server that cannot allocate cannot answer anyway).    */

void *bn_xmalloc(size_t size);
void *bn_xcalloc(size_t n, size_t size);
void *bn_xrealloc(void *ptr, size_t size);
char *bn_xstrdup(const char *s);
/** A formatted string on the heap (free it). */
char *bn_xprintf(const char *fmt, ...) BN_PRINTF(1, 2);

/* ------------------------------------------------------------------------ */
/* String slices: a pointer and a length into memory someone else owns.      */
/* Never NUL-terminated by contract.                                          */

typedef struct bn_str {
    const char *ptr;
    size_t len;
} bn_str;

#define BN_STR(lit) ((bn_str){(lit), sizeof(lit) - 1})
#define BN_STR_NULL ((bn_str){NULL, 0})
#define BN_STR_FMT "%.*s"
#define BN_STR_ARG(s) (int)(s).len, (s).ptr

static inline bn_str bn_str_make(const char *ptr, size_t len) { return (bn_str){ptr, len}; }
static inline bn_str bn_str_from_cstr(const char *s) { return (bn_str){s, s ? strlen(s) : 0}; }
static inline bool bn_str_eq(bn_str a, bn_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}
/** ASCII case-insensitive equality (header names, tokens). */
bool bn_str_eq_nocase(bn_str a, bn_str b);
/** True if the comma-separated token list `list` contains `token` (case-insensitive). */
bool bn_str_has_token(bn_str list, bn_str token);
/** Parses a non-negative decimal integer that fills the whole slice; false on overflow or junk. */
bool bn_str_to_u64(bn_str s, uint64_t *out);
/** The same for an optionally signed ("+"/"-") integer within int64_t. */
bool bn_str_to_i64(bn_str s, int64_t *out);
/** `s` without leading and trailing SP/HTAB (HTTP's optional whitespace). */
bn_str bn_str_trim(bn_str s);
/**
 * Pops the next element of the comma-separated list `*list` (RFC 9110 §5.6.1)
 * into `*elem`, trimmed of SP/HTAB; empty elements are skipped. Advances
 * `*list` past it. Returns false, leaving `*elem` untouched, when none is left.
 */
bool bn_str_list_next(bn_str *list, bn_str *elem);

/* ------------------------------------------------------------------------ */
/* Growable byte buffer (heap). Appends may move `data`.                      */

typedef struct bn_buf {
    char *data;
    size_t len;
    size_t cap;
} bn_buf;

#define BN_BUF_INIT {NULL, 0, 0}

/** Makes room for `extra` more bytes and returns a pointer to the free tail. */
char *bn_buf_reserve(bn_buf *b, size_t extra);
void bn_buf_append(bn_buf *b, const void *data, size_t len);
static inline void bn_buf_append_str(bn_buf *b, bn_str s) { bn_buf_append(b, s.ptr, s.len); }
void bn_buf_printf(bn_buf *b, const char *fmt, ...) BN_PRINTF(2, 3);
/** Drops the first `n` bytes, moving the rest to the front. */
void bn_buf_consume(bn_buf *b, size_t n);
void bn_buf_free(bn_buf *b);

/* ------------------------------------------------------------------------ */
/* Shared bytes: immutable, reference-counted across threads (a broadcast's   */
/* frame written to many connections). Atomic counts; the last unref frees.   */

typedef struct bn_shared {
    _Atomic(size_t) refs;
    size_t len;
    char data[]; /* len bytes */
} bn_shared;

/** A block of `len` bytes with one reference; fill `data` before sharing it. */
bn_shared *bn_shared_new(size_t len);
static inline bn_shared *bn_shared_ref(bn_shared *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}
/** Drops a reference; frees the block with the last one. NULL is ignored. */
void bn_shared_unref(bn_shared *s);

/* ------------------------------------------------------------------------ */
/* Arena: a bump allocator for memory whose lifetime is one request (or one  */
/* connection). Freed all at once by bn_arena_reset/bn_arena_destroy. Blocks  */
/* come from a per-thread cache so a reset arena costs no free()/malloc().    */

typedef struct bn_arena_block bn_arena_block;
typedef struct bn_arena {
    bn_arena_block *head; /* current block; older blocks chained behind it */
    char *cur;
    char *end;
} bn_arena;

#define BN_ARENA_INIT {NULL, NULL, NULL}

/** Allocates `size` bytes aligned to 16. Never returns NULL. */
void *bn_arena_alloc(bn_arena *a, size_t size);
char *bn_arena_strndup(bn_arena *a, const char *s, size_t len);
char *bn_arena_printf(bn_arena *a, const char *fmt, ...) BN_PRINTF(2, 3);
/** Frees everything allocated so far; the blocks go back to the thread's cache. */
void bn_arena_reset(bn_arena *a);
void bn_arena_destroy(bn_arena *a);

/* ------------------------------------------------------------------------ */
/* Intrusive circular doubly-linked list. Nodes live inside their owners.    */

typedef struct bn_list {
    struct bn_list *prev;
    struct bn_list *next;
} bn_list;

static inline void bn_list_init(bn_list *l) { l->prev = l->next = l; }
static inline bool bn_list_empty(const bn_list *l) { return l->next == l; }
/** True if `n` is linked into some list (nodes are initialised unlinked). */
static inline bool bn_list_linked(const bn_list *n) { return n->next != n; }
static inline void bn_list_insert_before(bn_list *pos, bn_list *n)
{
    n->prev = pos->prev;
    n->next = pos;
    pos->prev->next = n;
    pos->prev = n;
}
static inline void bn_list_push_back(bn_list *l, bn_list *n) { bn_list_insert_before(l, n); }
static inline void bn_list_remove(bn_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}
static inline bn_list *bn_list_pop_front(bn_list *l)
{
    if (bn_list_empty(l))
        return NULL;
    bn_list *n = l->next;
    bn_list_remove(n);
    return n;
}
/** Moves every node of `src` to the end of `dst`, leaving `src` empty. */
static inline void bn_list_splice(bn_list *dst, bn_list *src)
{
    if (bn_list_empty(src))
        return;
    src->next->prev = dst->prev;
    dst->prev->next = src->next;
    src->prev->next = dst;
    dst->prev = src->prev;
    bn_list_init(src);
}

/* ------------------------------------------------------------------------ */
/* Logging to stderr: one line per call, prefixed with time, level, pid.     */
/* BENNU_LOG_LEVEL=debug|info|warn|error|off picks the threshold.            */

typedef enum bn_log_level { BN_LOG_DEBUG, BN_LOG_INFO, BN_LOG_WARN, BN_LOG_ERROR, BN_LOG_OFF } bn_log_level;

extern bn_log_level bn_log_threshold;
void bn_log_init_from_env(void);
void bn_log_write(bn_log_level level, const char *fmt, ...) BN_PRINTF(2, 3);
#define bn_log(level, ...)                                                                                             \
    do {                                                                                                               \
        if ((level) >= bn_log_threshold)                                                                               \
            bn_log_write((level), __VA_ARGS__);                                                                        \
    } while (0)
#define bn_debug(...) bn_log(BN_LOG_DEBUG, __VA_ARGS__)
#define bn_info(...) bn_log(BN_LOG_INFO, __VA_ARGS__)
#define bn_warn(...) bn_log(BN_LOG_WARN, __VA_ARGS__)
#define bn_error(...) bn_log(BN_LOG_ERROR, __VA_ARGS__)
/** Logs and aborts: for broken invariants, never for bad input. */
_Noreturn void bn_fatal(const char *fmt, ...) BN_PRINTF(1, 2);

/* ------------------------------------------------------------------------ */
/* Time.                                                                      */

/** Monotonic clock in milliseconds (arbitrary origin). */
uint64_t bn_clock_ms(void);
/** Monotonic clock in nanoseconds. */
uint64_t bn_clock_ns(void);
/** Formats `t` (seconds since the epoch) as an IMF-fixdate; writes exactly 29 bytes + NUL. */
void bn_http_date_format(int64_t t, char out[30]);

/* ------------------------------------------------------------------------ */
/* Environment helpers for configuration.                                    */

/** Integer from the environment variable `name`, or `def` if unset/invalid. */
long bn_env_long(const char *name, long def);
/** Byte size from `name` ("64k", "8m", "1g" or plain bytes), or `def`. */
size_t bn_env_size(const char *name, size_t def);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_CORE_H */
