/*
 * bennu/value.h — the value tree that request params, JSON bodies, channel
 * payloads and changesets share (core layer).
 *
 * A bn_value is null, a boolean, an integer, a float, a string, an array or an
 * object (ordered keys). Every node and string lives in a bn_arena: a tree is
 * freed all at once with its arena, never node by node. Strings are bn_str
 * slices (not NUL-terminated by contract, although the builders below do
 * terminate the copies they make).
 *
 * Example:
 *
 *     bn_arena a = BN_ARENA_INIT;
 *     bn_value *user = bn_value_object(&a);
 *     bn_value_set(&a, user, "name", bn_value_string(&a, BN_STR("Ada")));
 *     bn_value_set(&a, user, "age", bn_value_int(&a, 36));
 *     bn_buf out = BN_BUF_INIT;
 *     bn_json_encode(&out, user);                // {"name":"Ada","age":36}
 *     bn_str name = bn_value_str(bn_value_get(user, "name"));
 *     bn_arena_destroy(&a);
 */
#ifndef BENNU_VALUE_H
#define BENNU_VALUE_H

#include "bennu/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bn_value_type {
    BN_VALUE_NULL,
    BN_VALUE_BOOL,
    BN_VALUE_INT,
    BN_VALUE_FLOAT,
    BN_VALUE_STRING,
    BN_VALUE_ARRAY,
    BN_VALUE_OBJECT,
} bn_value_type;

typedef struct bn_value bn_value;

typedef struct bn_value_member {
    bn_str key;
    bn_value *value;
} bn_value_member;

struct bn_value {
    bn_value_type type;
    union {
        bool b;
        int64_t i;
        double f;
        bn_str s;
        struct {
            bn_value **items;
            size_t len, cap;
        } array;
        struct {
            bn_value_member *members; /* in insertion order */
            size_t len, cap;
        } object;
    } as;
};

/* ---- building (all memory from `a`) ----------------------------------- */

bn_value *bn_value_null(bn_arena *a);
bn_value *bn_value_bool(bn_arena *a, bool b);
bn_value *bn_value_int(bn_arena *a, int64_t i);
bn_value *bn_value_float(bn_arena *a, double f);
/** Copies `s` into the arena. */
bn_value *bn_value_string(bn_arena *a, bn_str s);
/** Wraps `s` without copying: it must outlive the tree. */
bn_value *bn_value_string_ref(bn_arena *a, bn_str s);
bn_value *bn_value_array(bn_arena *a);
bn_value *bn_value_object(bn_arena *a);
void bn_value_push(bn_arena *a, bn_value *array, bn_value *item);
/** Sets `key` (copied) in `object`, replacing an existing member of that name. */
void bn_value_set(bn_arena *a, bn_value *object, const char *key, bn_value *value);
void bn_value_set_str(bn_arena *a, bn_value *object, bn_str key, bn_value *value);

/* ---- reading (NULL-safe: a NULL or mistyped value reads as absent) ----- */

/** Member `key` of an object, or NULL. */
const bn_value *bn_value_get(const bn_value *object, const char *key);
const bn_value *bn_value_get_str(const bn_value *object, bn_str key);
/** Follows a dotted path of object keys and array indexes ("user.emails.0"), or NULL. */
const bn_value *bn_value_path(const bn_value *v, const char *path);
/** Item `i` of an array, or NULL. */
const bn_value *bn_value_at(const bn_value *array, size_t i);
/** Number of items of an array or members of an object; 0 otherwise. */
size_t bn_value_len(const bn_value *v);
/** The string of a string value, or BN_STR_NULL. */
bn_str bn_value_str(const bn_value *v);
/** Integer value (floats with no fraction and numeric strings convert); false if not one. */
bool bn_value_to_int(const bn_value *v, int64_t *out);
bool bn_value_is(const bn_value *v, bn_value_type type);
/** A deep copy of `v` (NULL: null) in `a`: for keeping a tree past its arena. */
bn_value *bn_value_copy(bn_arena *a, const bn_value *v);
/** Deep equality (object member order does not matter). */
bool bn_value_equal(const bn_value *a, const bn_value *b);

/* ---- JSON ------------------------------------------------------------- */

typedef struct bn_json_error {
    int line, column;
    char text[160];
} bn_json_error;

/**
 * Parses one JSON document (RFC 8259; anything after it but whitespace is an
 * error) into a tree in `a`. Returns NULL and fills `err` on bad input.
 * Depth is limited to 64 levels.
 */
bn_value *bn_json_parse(bn_arena *a, bn_str json, bn_json_error *err);
/** Appends the compact JSON encoding of `v` (strings escaped, UTF-8 kept). */
void bn_json_encode(bn_buf *out, const bn_value *v);
/** Appends `s` as a JSON string literal, quotes included. */
void bn_json_encode_string(bn_buf *out, bn_str s);

#ifdef __cplusplus
}
#endif
#endif /* BENNU_VALUE_H */
