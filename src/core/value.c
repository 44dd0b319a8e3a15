/*
 * The value tree (bennu/value.h) minus JSON: arena-allocated builders and
 * NULL-safe readers. Nothing here frees: a tree dies with its arena.
 */
#include "bennu/value.h"

#define INITIAL_CAP 4

/* ---- building ---------------------------------------------------------- */

static bn_value *node(bn_arena *a, bn_value_type type)
{
    bn_value *v = bn_arena_alloc(a, sizeof(*v));
    memset(v, 0, sizeof(*v));
    v->type = type;
    return v;
}

bn_value *bn_value_null(bn_arena *a) { return node(a, BN_VALUE_NULL); }

bn_value *bn_value_bool(bn_arena *a, bool b)
{
    bn_value *v = node(a, BN_VALUE_BOOL);
    v->as.b = b;
    return v;
}

bn_value *bn_value_int(bn_arena *a, int64_t i)
{
    bn_value *v = node(a, BN_VALUE_INT);
    v->as.i = i;
    return v;
}

bn_value *bn_value_float(bn_arena *a, double f)
{
    bn_value *v = node(a, BN_VALUE_FLOAT);
    v->as.f = f;
    return v;
}

bn_value *bn_value_string(bn_arena *a, bn_str s)
{
    bn_value *v = node(a, BN_VALUE_STRING);
    /* The copy is NUL-terminated so callers may hand it to C APIs. */
    v->as.s = bn_str_make(bn_arena_strndup(a, s.len ? s.ptr : "", s.len), s.len);
    return v;
}

bn_value *bn_value_string_ref(bn_arena *a, bn_str s)
{
    bn_value *v = node(a, BN_VALUE_STRING);
    v->as.s = s.ptr ? s : bn_str_make("", 0);
    return v;
}

bn_value *bn_value_array(bn_arena *a) { return node(a, BN_VALUE_ARRAY); }
bn_value *bn_value_object(bn_arena *a) { return node(a, BN_VALUE_OBJECT); }

/* Doubles an arena vector of `*cap` elements of `size` bytes; the old copy is
 * abandoned in the arena (total waste stays below the final size). */
static void *grow(bn_arena *a, void *old, size_t len, size_t *cap, size_t size)
{
    size_t ncap = *cap ? *cap * 2 : INITIAL_CAP;
    void *p = bn_arena_alloc(a, ncap * size);
    if (len)
        memcpy(p, old, len * size);
    *cap = ncap;
    return p;
}

void bn_value_push(bn_arena *a, bn_value *array, bn_value *item)
{
    if (!array || array->type != BN_VALUE_ARRAY)
        bn_fatal("bn_value_push: not an array");
    if (array->as.array.len == array->as.array.cap)
        array->as.array.items =
            grow(a, array->as.array.items, array->as.array.len, &array->as.array.cap, sizeof(bn_value *));
    /* A NULL item is stored as JSON null so readers never meet holes. */
    array->as.array.items[array->as.array.len++] = item ? item : bn_value_null(a);
}

static bn_value_member *find_member(const bn_value *object, bn_str key)
{
    for (size_t i = 0; i < object->as.object.len; i++)
        if (bn_str_eq(object->as.object.members[i].key, key))
            return &object->as.object.members[i];
    return NULL;
}

void bn_value_set_str(bn_arena *a, bn_value *object, bn_str key, bn_value *value)
{
    if (!object || object->type != BN_VALUE_OBJECT)
        bn_fatal("bn_value_set: not an object");
    if (!value)
        value = bn_value_null(a);
    bn_value_member *m = find_member(object, key);
    if (m) {
        m->value = value;
        return;
    }
    if (object->as.object.len == object->as.object.cap)
        object->as.object.members = grow(a, object->as.object.members, object->as.object.len,
                                         &object->as.object.cap, sizeof(bn_value_member));
    m = &object->as.object.members[object->as.object.len++];
    m->key = bn_str_make(bn_arena_strndup(a, key.len ? key.ptr : "", key.len), key.len);
    m->value = value;
}

void bn_value_set(bn_arena *a, bn_value *object, const char *key, bn_value *value)
{
    bn_value_set_str(a, object, bn_str_from_cstr(key), value);
}

/* ---- reading ----------------------------------------------------------- */

const bn_value *bn_value_get_str(const bn_value *object, bn_str key)
{
    if (!object || object->type != BN_VALUE_OBJECT)
        return NULL;
    const bn_value_member *m = find_member(object, key);
    return m ? m->value : NULL;
}

const bn_value *bn_value_get(const bn_value *object, const char *key)
{
    return key ? bn_value_get_str(object, bn_str_from_cstr(key)) : NULL;
}

const bn_value *bn_value_at(const bn_value *array, size_t i)
{
    if (!array || array->type != BN_VALUE_ARRAY || i >= array->as.array.len)
        return NULL;
    return array->as.array.items[i];
}

/* One path segment: an object key, or a decimal index into an array. */
static const bn_value *step(const bn_value *v, bn_str seg)
{
    if (v->type == BN_VALUE_OBJECT)
        return bn_value_get_str(v, seg);
    if (v->type != BN_VALUE_ARRAY)
        return NULL;
    uint64_t i;
    if (!bn_str_to_u64(seg, &i) || i >= v->as.array.len)
        return NULL;
    return v->as.array.items[i];
}

const bn_value *bn_value_path(const bn_value *v, const char *path)
{
    if (!path)
        return NULL;
    const char *p = path;
    while (v) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        v = step(v, bn_str_make(p, n));
        if (!dot)
            return v;
        p = dot + 1;
    }
    return NULL;
}

size_t bn_value_len(const bn_value *v)
{
    if (!v)
        return 0;
    if (v->type == BN_VALUE_ARRAY)
        return v->as.array.len;
    if (v->type == BN_VALUE_OBJECT)
        return v->as.object.len;
    return 0;
}

bn_str bn_value_str(const bn_value *v)
{
    return v && v->type == BN_VALUE_STRING ? v->as.s : BN_STR_NULL;
}

/* Decimal integer with an optional sign filling the whole slice. */
static bool parse_int(bn_str s, int64_t *out)
{
    bool neg = false;
    if (s.len && (s.ptr[0] == '-' || s.ptr[0] == '+')) {
        neg = s.ptr[0] == '-';
        s.ptr++, s.len--;
    }
    uint64_t u;
    if (!bn_str_to_u64(s, &u))
        return false;
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1)
            return false;
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)u;
    }
    return true;
}

bool bn_value_to_int(const bn_value *v, int64_t *out)
{
    if (!v)
        return false;
    switch (v->type) {
    case BN_VALUE_INT:
        *out = v->as.i;
        return true;
    case BN_VALUE_FLOAT:
        /* [-2^63, 2^63) is exactly the doubles that fit in int64_t. */
        if (!(v->as.f >= -9223372036854775808.0 && v->as.f < 9223372036854775808.0)) /* NaN too */
            return false;
        if ((double)(int64_t)v->as.f != v->as.f)
            return false;
        *out = (int64_t)v->as.f;
        return true;
    case BN_VALUE_STRING:
        return parse_int(v->as.s, out);
    default:
        return false;
    }
}

bool bn_value_is(const bn_value *v, bn_value_type type) { return v && v->type == type; }

bool bn_value_equal(const bn_value *a, const bn_value *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->type != b->type)
        return false;
    switch (a->type) {
    case BN_VALUE_NULL:
        return true;
    case BN_VALUE_BOOL:
        return a->as.b == b->as.b;
    case BN_VALUE_INT:
        return a->as.i == b->as.i;
    case BN_VALUE_FLOAT:
        return a->as.f == b->as.f;
    case BN_VALUE_STRING:
        return bn_str_eq(a->as.s, b->as.s);
    case BN_VALUE_ARRAY:
        if (a->as.array.len != b->as.array.len)
            return false;
        for (size_t i = 0; i < a->as.array.len; i++)
            if (!bn_value_equal(a->as.array.items[i], b->as.array.items[i]))
                return false;
        return true;
    case BN_VALUE_OBJECT:
        /* Keys are unique (bn_value_set replaces), so equal sizes plus
         * "every member of a is in b with an equal value" is equality. */
        if (a->as.object.len != b->as.object.len)
            return false;
        for (size_t i = 0; i < a->as.object.len; i++) {
            const bn_value_member *m = &a->as.object.members[i];
            const bn_value_member *o = find_member(b, m->key);
            if (!o || !bn_value_equal(m->value, o->value))
                return false;
        }
        return true;
    }
    return false;
}

bn_value *bn_value_copy(bn_arena *a, const bn_value *v)
{
    switch (v ? v->type : BN_VALUE_NULL) {
    case BN_VALUE_NULL:
        break;
    case BN_VALUE_BOOL:
        return bn_value_bool(a, v->as.b);
    case BN_VALUE_INT:
        return bn_value_int(a, v->as.i);
    case BN_VALUE_FLOAT:
        return bn_value_float(a, v->as.f);
    case BN_VALUE_STRING:
        return bn_value_string(a, v->as.s);
    case BN_VALUE_ARRAY: {
        bn_value *out = bn_value_array(a);
        for (size_t i = 0; i < v->as.array.len; i++)
            bn_value_push(a, out, bn_value_copy(a, v->as.array.items[i]));
        return out;
    }
    case BN_VALUE_OBJECT: {
        bn_value *out = bn_value_object(a);
        for (size_t i = 0; i < v->as.object.len; i++)
            bn_value_set_str(a, out, v->as.object.members[i].key, bn_value_copy(a, v->as.object.members[i].value));
        return out;
    }
    }
    return bn_value_null(a);
}
