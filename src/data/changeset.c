/*
 * Changesets [Ecto.Changeset]: casting request params onto a record, the
 * validations, and the constraint errors the Repo hands back.
 *
 * The rules (Ecto's, adapted to C):
 *
 * Casting (bn_changeset_cast)
 *   - Only permitted fields are read from params (an object; NULL means no
 *     params); other keys are ignored. A permitted name that is not a field of
 *     the schema is a programming error: bn_fatal names it. Params that are not
 *     an object (user=foo) make the base error "is invalid".
 *   - A missing key is no change. JSON null and the empty string are NULL (a
 *     change to NULL only if the data had a value).
 *   - Each param is parsed by the field's type; a failure, or a JSON shape the
 *     type cannot take (an object for an integer), is the error "is invalid" on
 *     the field, and the raw param is kept for the form (bn_changeset_input):
 *       string, text  a string, valid UTF-8, no NUL byte (a C string cannot hold it)
 *       integer, bigint, id  a JSON integer, or a string of [+-]digits within int64
 *                     (no spaces, no junk: " 12" and "12abc" are invalid); JSON floats
 *                     are invalid (Ecto's :integer refuses them too)
 *       float         a JSON number, or a string [+-]digits[.digits][e[+-]digits] that
 *                     is finite ("1e3" is 1000; "inf", "0x10", ".5" are invalid)
 *       boolean       JSON true/false, or "true"/"false"/"1"/"0"/"on"/"off"
 *       decimal       a JSON number, or a string [+-](digits[.digits]|.digits)[e[+-]digits],
 *                     kept as text ("12.50" stays "12.50")
 *       date          "YYYY-MM-DD" (bn_date_parse)
 *       utc_datetime  ISO 8601 (bn_datetime_parse)
 *       uuid          8-4-4-4-12 hex digits with dashes, stored lower case
 *       json          any value: the tree is kept (copied)
 *       binary        a string's bytes, whatever they are (NUL and invalid UTF-8 too)
 *   - A value equal to the data's current value is no change (decimals compare
 *     by value: "12.5" equals "12.50"; UUIDs ignoring case). The same goes for
 *     bn_changeset_put.
 *   - bn_changeset_put takes a value of the field's type, or one that converts
 *     without loss of meaning: any integer for integer fields, integers for
 *     floats, 0/1 for booleans (BN_DB(true) is an int in C17), any string kind
 *     for string-like fields and binaries (copied into the arena), NULL for all.
 *     Anything else, or an unknown field, is a programming error (bn_fatal).
 *   - A new changeset (data NULL) starts from a record whose every field is
 *     NULL: bn_changeset_apply gives the zero record with the NULL bits of the
 *     fields that did not change set.
 *   - The params are copied into the changeset's arena, so they may die first.
 *
 * Errors
 *   - Kept per field in the order they were added; the changeset's own (base)
 *     errors are under field "". Messages are static strings or copies in the
 *     arena. A field may be one the schema lacks ("password_confirmation").
 *   - A validation skips a field whose param failed to cast (Ecto validates
 *     only changes, and a failed cast is no change); validate_required skips
 *     a field that already has any error, as Ecto does.
 *
 * Validations
 *   - validate_required: blank is NULL or a string of only whitespace (ASCII
 *     space, \t \n \v \f \r), looking at the change if any, else the data.
 *   - length, format, number, inclusion and confirmation look at the change
 *     only, and not at a change to NULL (Ecto's validate_change).
 *   - length counts characters of strings (UTF-8), bytes of binaries, items of
 *     JSON arrays and objects; `is` first, then min, then max; one error at most.
 *   - format: POSIX extended regex compiled per call; a bad regex is a
 *     programming error (bn_fatal).
 *   - number: gt, min, lt, max in that order; the first failure is the error,
 *     the bound printed plainly ("18", "0.5").
 *   - inclusion compares the value as text with each listed value.
 *   - confirmation: when param "<field>_confirmation" is present and differs
 *     from the field's param (or from the changed value as text when the change
 *     came from bn_changeset_put), the error goes on "<field>_confirmation", as
 *     in Ecto (the form shows it under the confirmation input). A missing
 *     confirmation param is no error.
 *
 * Constraints
 *   - unique and foreign key constraints are only recorded here (default names
 *     "<table>_<field>_index" and "<table>_<field>_fkey"); after a failed write
 *     the Repo calls bn__changeset_constraint_error, which matches the error's
 *     constraint name exactly against them (and the kind, when the error tells
 *     it: SQLSTATE 23505/23503, SQLite's extended codes). SQLite's foreign key
 *     failures carry no name: they go on the first declared foreign key.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

static const char MSG_INVALID[] = "is invalid";
static const char MSG_BLANK[] = "can't be blank";
static const char MSG_FORMAT[] = "has invalid format";
static const char MSG_CONFIRMATION[] = "does not match confirmation";
static const char MSG_TAKEN[] = "has already been taken";
static const char MSG_NOT_EXIST[] = "does not exist";

enum { F_CHANGED = 1, F_CAST_ERROR = 2 };

typedef struct err_list {
    const char *field;  /* "" for the changeset's own errors */
    const char **msgs;  /* NULL-terminated */
    size_t len, cap;
    struct err_list *next;
} err_list;

typedef struct constraint {
    const char *field;
    const char *name;
    bool foreign;
    struct constraint *next;
} constraint;

struct bn_changeset {
    bn_arena *arena;
    const bn_schema *schema;
    const void *data;       /* a copy of the record given, or NULL */
    const bn_value *params; /* a copy of the params object, or NULL */
    uint8_t *flags;         /* per field: F_CHANGED, F_CAST_ERROR */
    bn_db_value *changes;   /* per field, meaningful when F_CHANGED */
    err_list *errors, **errors_tail;
    constraint *constraints, **constraints_tail;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                              */

static size_t field_index(const bn_schema *s, const char *name)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

static size_t need_field(const bn_changeset *cs, const char *name, const char *who)
{
    size_t i = name ? field_index(cs->schema, name) : SIZE_MAX;
    if (i == SIZE_MAX)
        bn_fatal("%s: schema %s has no field \"%s\"", who, cs->schema->name, name ? name : "(null)");
    return i;
}

static bool is_text_type(bn_type t)
{
    return t == BN_TYPE_STRING || t == BN_TYPE_TEXT || t == BN_TYPE_DECIMAL || t == BN_TYPE_UUID;
}

static bool is_int_type(bn_type t) { return t == BN_TYPE_ID || t == BN_TYPE_INTEGER || t == BN_TYPE_BIGINT; }

static const char *type_name(bn_type t)
{
    static const char *const names[] = {"null",  "id",   "integer", "bigint",       "float",  "boolean", "string",
                                        "text",  "decimal", "date", "utc_datetime", "binary", "json",    "uuid"};
    return (size_t)t < BN_ARRAY_LEN(names) ? names[t] : "?";
}

/* A NUL-terminated copy of `s` in the arena, as a slice. */
static bn_str arena_str(bn_arena *a, bn_str s)
{
    return bn_str_make(bn_arena_strndup(a, s.ptr ? s.ptr : "", s.len), s.len);
}

/* Length of the valid UTF-8 sequence at s[0..n) (shortest form, no
 * surrogates, at most U+10FFFF), or 0 if there is none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

static bool utf8_valid(bn_str s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len;) {
        size_t n = utf8_seq(p + i, s.len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

/* Characters of (valid or not) UTF-8 text: the bytes that start a sequence. */
static size_t utf8_count(bn_str s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++)
        if (((unsigned char)s.ptr[i] & 0xC0) != 0x80)
            n++;
    return n;
}

/* Plain text that reads back as `d`: 18 -> "18", 0.1 -> "0.1", 1000 -> "1000"
 * (%.15g is exact for most values and drops useless zeros; 16 and 17 digits
 * only when it does not read back). */
static void format_double(double d, char buf[40])
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 40, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}


/* ------------------------------------------------------------------------ */
/* Records: reading the data, writing the applied record                      */

static bool null_bit(const bn_schema *s, const void *rec, size_t i)
{
    uint64_t nulls;
    memcpy(&nulls, (const char *)rec + s->nulls_offset, sizeof nulls);
    return i < 64 && (nulls >> i & 1);
}

static void set_null_bit(const bn_schema *s, void *rec, size_t i, bool on)
{
    if (i >= 64)
        return;
    uint64_t nulls;
    memcpy(&nulls, (char *)rec + s->nulls_offset, sizeof nulls);
    nulls = on ? nulls | (UINT64_C(1) << i) : nulls & ~(UINT64_C(1) << i);
    memcpy((char *)rec + s->nulls_offset, &nulls, sizeof nulls);
}

/* Field i of a record as a value (the record's own pointers, not copied). */
static bn_db_value record_load(const bn_schema *s, size_t i, const void *rec)
{
    const bn_field *f = &s->fields[i];
    const char *p = (const char *)rec + f->offset;
    bn_db_value v = {.type = f->type};
    if (null_bit(s, rec, i))
        return BN_DB_NULL;
    switch (f->type) {
    case BN_TYPE_ID:
    case BN_TYPE_INTEGER:
    case BN_TYPE_BIGINT:
        memcpy(&v.u.i, p, sizeof(int64_t));
        break;
    case BN_TYPE_FLOAT:
        memcpy(&v.u.f, p, sizeof(double));
        break;
    case BN_TYPE_BOOLEAN:
        memcpy(&v.u.b, p, sizeof(bool));
        break;
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
    case BN_TYPE_DECIMAL:
    case BN_TYPE_UUID: {
        const char *str;
        memcpy(&str, p, sizeof str);
        if (!str)
            return BN_DB_NULL;
        v.u.s = bn_str_from_cstr(str);
        break;
    }
    case BN_TYPE_BINARY:
        memcpy(&v.u.s, p, sizeof(bn_str));
        if (!v.u.s.ptr)
            return BN_DB_NULL;
        break;
    case BN_TYPE_DATE:
        memcpy(&v.u.date, p, sizeof(bn_date));
        break;
    case BN_TYPE_UTC_DATETIME:
        memcpy(&v.u.t, p, sizeof(bn_datetime));
        break;
    case BN_TYPE_JSON:
        memcpy(&v.u.json, p, sizeof(const bn_value *));
        if (!v.u.json)
            return BN_DB_NULL;
        break;
    case BN_TYPE_NULL:
        return BN_DB_NULL;
    }
    return v;
}

/* Stores a value of the field's own type (or NULL) into field i of a record. */
static void record_store(const bn_schema *s, size_t i, void *rec, bn_db_value v)
{
    const bn_field *f = &s->fields[i];
    char *p = (char *)rec + f->offset;
    bool is_null = v.type == BN_TYPE_NULL;
    set_null_bit(s, rec, i, is_null);
    switch (f->type) {
    case BN_TYPE_ID:
    case BN_TYPE_INTEGER:
    case BN_TYPE_BIGINT: {
        int64_t x = is_null ? 0 : v.u.i;
        memcpy(p, &x, sizeof x);
        break;
    }
    case BN_TYPE_FLOAT: {
        double x = is_null ? 0 : v.u.f;
        memcpy(p, &x, sizeof x);
        break;
    }
    case BN_TYPE_BOOLEAN: {
        bool x = is_null ? false : v.u.b;
        memcpy(p, &x, sizeof x);
        break;
    }
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
    case BN_TYPE_DECIMAL:
    case BN_TYPE_UUID: {
        const char *x = is_null ? NULL : v.u.s.ptr; /* changes are NUL-terminated copies */
        memcpy(p, &x, sizeof x);
        break;
    }
    case BN_TYPE_BINARY: {
        bn_str x = is_null ? BN_STR_NULL : v.u.s;
        memcpy(p, &x, sizeof x);
        break;
    }
    case BN_TYPE_DATE: {
        bn_date x = is_null ? (bn_date){0} : v.u.date;
        memcpy(p, &x, sizeof x);
        break;
    }
    case BN_TYPE_UTC_DATETIME: {
        bn_datetime x = is_null ? 0 : v.u.t;
        memcpy(p, &x, sizeof x);
        break;
    }
    case BN_TYPE_JSON: {
        const bn_value *x = is_null ? NULL : v.u.json;
        memcpy(p, &x, sizeof x);
        break;
    }
    case BN_TYPE_NULL:
        break;
    }
}

/* The data's value of field i (NULL for a new changeset). */
static bn_db_value data_value(const bn_changeset *cs, size_t i)
{
    return cs->data ? record_load(cs->schema, i, cs->data) : BN_DB_NULL;
}

/* The value after the changes: the change, else the data's. */
static bn_db_value current_value(const bn_changeset *cs, size_t i)
{
    return (cs->flags[i] & F_CHANGED) ? cs->changes[i] : data_value(cs, i);
}

/* ------------------------------------------------------------------------ */
/* Equality (is a cast value a change?)                                       */

/* A decimal's text reduced to sign, significant digits and exponent, so that
 * "12.50", "12.5" and "1.25e1" compare equal. */
typedef struct decimal_key {
    bool neg;
    const char *digits; /* no leading or trailing zeros; empty for zero */
    size_t ndigits;
    long long exp;      /* value = digits * 10^exp */
    char buf[64];
} decimal_key;

static bool decimal_normalize(bn_str s, decimal_key *k, bn_arena *a)
{
    size_t i = 0;
    k->neg = false;
    if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-'))
        k->neg = s.ptr[i++] == '-';
    char *d = s.len < sizeof k->buf ? k->buf : bn_arena_alloc(a, s.len + 1);
    size_t nd = 0;
    long long frac = 0;
    bool dot = false, any = false;
    for (; i < s.len; i++) {
        char c = s.ptr[i];
        if (c >= '0' && c <= '9') {
            any = true;
            if (nd == 0 && c == '0') { /* leading zero */
                if (dot)
                    frac++;
                continue;
            }
            d[nd++] = c;
            if (dot)
                frac++;
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (!any)
        return false;
    long long e = 0;
    if (i < s.len && (s.ptr[i] == 'e' || s.ptr[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-'))
            eneg = s.ptr[i++] == '-';
        if (i == s.len)
            return false;
        for (; i < s.len; i++) {
            if (s.ptr[i] < '0' || s.ptr[i] > '9')
                return false;
            if (e < 1000000000LL)
                e = e * 10 + (s.ptr[i] - '0');
        }
        if (eneg)
            e = -e;
    }
    if (i != s.len)
        return false;
    e -= frac;
    while (nd > 0 && d[nd - 1] == '0') {
        nd--;
        e++;
    }
    k->digits = d;
    k->ndigits = nd;
    k->exp = nd ? e : 0;
    if (!nd)
        k->neg = false;
    return true;
}

static bool decimal_equal(bn_str x, bn_str y, bn_arena *a)
{
    decimal_key kx, ky;
    if (!decimal_normalize(x, &kx, a) || !decimal_normalize(y, &ky, a))
        return bn_str_eq(x, y);
    return kx.neg == ky.neg && kx.exp == ky.exp && kx.ndigits == ky.ndigits &&
           memcmp(kx.digits, ky.digits, kx.ndigits) == 0;
}

static bool same_value(bn_type t, bn_db_value x, bn_db_value y, bn_arena *a)
{
    bool xn = x.type == BN_TYPE_NULL, yn = y.type == BN_TYPE_NULL;
    if (xn || yn)
        return xn && yn;
    switch (t) {
    case BN_TYPE_ID:
    case BN_TYPE_INTEGER:
    case BN_TYPE_BIGINT:
        return x.u.i == y.u.i;
    case BN_TYPE_FLOAT:
        return x.u.f == y.u.f;
    case BN_TYPE_BOOLEAN:
        return x.u.b == y.u.b;
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
    case BN_TYPE_BINARY:
        return bn_str_eq(x.u.s, y.u.s);
    case BN_TYPE_UUID:
        return bn_str_eq_nocase(x.u.s, y.u.s);
    case BN_TYPE_DECIMAL:
        return decimal_equal(x.u.s, y.u.s, a);
    case BN_TYPE_DATE:
        return x.u.date.year == y.u.date.year && x.u.date.month == y.u.date.month && x.u.date.day == y.u.date.day;
    case BN_TYPE_UTC_DATETIME:
        return x.u.t == y.u.t;
    case BN_TYPE_JSON:
        return bn_value_equal(x.u.json, y.u.json);
    case BN_TYPE_NULL:
        return true;
    }
    return false;
}

/* Records `v` as field i's change, or drops the change if it equals the data. */
static void set_change(bn_changeset *cs, size_t i, bn_db_value v)
{
    if (same_value(cs->schema->fields[i].type, v, data_value(cs, i), cs->arena)) {
        cs->flags[i] &= (uint8_t)~F_CHANGED;
        return;
    }
    cs->flags[i] |= F_CHANGED;
    cs->changes[i] = v;
}

/* ------------------------------------------------------------------------ */
/* Parsing params                                                             */

/* Digits from s[*i]; returns how many. */
static size_t skip_digits(bn_str s, size_t *i)
{
    size_t start = *i;
    while (*i < s.len && s.ptr[*i] >= '0' && s.ptr[*i] <= '9')
        (*i)++;
    return *i - start;
}

/* [+-]? int [. frac]? ([eE][+-]?digits)? where the float form needs digits on
 * both sides of the dot and the decimal form needs digits on one side. */
static bool number_syntax(bn_str s, bool loose_dot)
{
    size_t i = 0;
    if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-'))
        i++;
    size_t nint = skip_digits(s, &i), nfrac = 0;
    bool dot = false;
    if (i < s.len && s.ptr[i] == '.') {
        dot = true;
        i++;
        nfrac = skip_digits(s, &i);
    }
    if (loose_dot ? nint + nfrac == 0 : (nint == 0 || (dot && nfrac == 0)))
        return false;
    if (i < s.len && (s.ptr[i] == 'e' || s.ptr[i] == 'E')) {
        i++;
        if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-'))
            i++;
        if (!skip_digits(s, &i))
            return false;
    }
    return i == s.len;
}

static bool parse_double(bn_arena *a, bn_str s, double *out)
{
    if (!number_syntax(s, false))
        return false;
    char small[64];
    char *z = s.len < sizeof small ? small : bn_arena_alloc(a, s.len + 1);
    memcpy(z, s.ptr, s.len);
    z[s.len] = '\0';
    double d = strtod(z, NULL);
    if (!isfinite(d))
        return false;
    *out = d;
    return true;
}

static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static bool parse_uuid(bn_arena *a, bn_str s, bn_str *out)
{
    if (s.len != 36)
        return false;
    char *z = bn_arena_alloc(a, 37);
    for (size_t i = 0; i < 36; i++) {
        char c = s.ptr[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!is_hex(c)) {
            return false;
        }
        z[i] = (char)tolower((unsigned char)c);
    }
    z[36] = '\0';
    *out = bn_str_make(z, 36);
    return true;
}

/*
 * Casts raw param `raw` (not NULL, not JSON null, not "") to a value of type
 * `t` in the arena. False if it does not parse.
 */
static bool cast_param(bn_arena *a, bn_type t, const bn_value *raw, bn_db_value *out)
{
    bool is_str = raw->type == BN_VALUE_STRING;
    bn_str s = is_str ? raw->as.s : BN_STR_NULL;
    *out = (bn_db_value){.type = t};
    switch (t) {
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
        if (!is_str || memchr(s.ptr, '\0', s.len) || !utf8_valid(s))
            return false;
        out->u.s = arena_str(a, s);
        return true;
    case BN_TYPE_ID:
    case BN_TYPE_INTEGER:
    case BN_TYPE_BIGINT:
        if (raw->type == BN_VALUE_INT) {
            out->u.i = raw->as.i;
            return true;
        }
        return is_str && bn_str_to_i64(s, &out->u.i);
    case BN_TYPE_FLOAT:
        if (raw->type == BN_VALUE_INT) {
            out->u.f = (double)raw->as.i;
            return true;
        }
        if (raw->type == BN_VALUE_FLOAT) {
            out->u.f = raw->as.f;
            return isfinite(raw->as.f);
        }
        return is_str && parse_double(a, s, &out->u.f);
    case BN_TYPE_BOOLEAN:
        if (raw->type == BN_VALUE_BOOL) {
            out->u.b = raw->as.b;
            return true;
        }
        if (!is_str)
            return false;
        if (bn_str_eq(s, BN_STR("true")) || bn_str_eq(s, BN_STR("1")) || bn_str_eq(s, BN_STR("on")))
            out->u.b = true;
        else if (bn_str_eq(s, BN_STR("false")) || bn_str_eq(s, BN_STR("0")) || bn_str_eq(s, BN_STR("off")))
            out->u.b = false;
        else
            return false;
        return true;
    case BN_TYPE_DECIMAL:
        if (raw->type == BN_VALUE_INT) {
            char *z = bn_arena_printf(a, "%" PRId64, raw->as.i);
            out->u.s = bn_str_from_cstr(z);
            return true;
        }
        if (raw->type == BN_VALUE_FLOAT) {
            if (!isfinite(raw->as.f))
                return false;
            char buf[40];
            format_double(raw->as.f, buf);
            out->u.s = arena_str(a, bn_str_from_cstr(buf));
            return true;
        }
        if (!is_str || !number_syntax(s, true))
            return false;
        out->u.s = arena_str(a, s);
        return true;
    case BN_TYPE_DATE:
        return is_str && bn_date_parse(s, &out->u.date);
    case BN_TYPE_UTC_DATETIME:
        return is_str && bn_datetime_parse(s, &out->u.t);
    case BN_TYPE_UUID:
        return is_str && parse_uuid(a, s, &out->u.s);
    case BN_TYPE_BINARY:
        if (!is_str)
            return false;
        out->u.s = arena_str(a, s);
        return true;
    case BN_TYPE_JSON:
        out->u.json = bn_value_copy(a, raw);
        return true;
    case BN_TYPE_NULL:
        break;
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                     */

static err_list *find_errors(const bn_changeset *cs, const char *field)
{
    for (err_list *l = cs->errors; l; l = l->next)
        if (strcmp(l->field, field) == 0)
            return l;
    return NULL;
}

/* Adds `message` (kept as is: static or already in the arena) to `field`. */
static void add_error(bn_changeset *cs, const char *field, const char *message)
{
    err_list *l = find_errors(cs, field);
    if (!l) {
        l = bn_arena_alloc(cs->arena, sizeof *l);
        *l = (err_list){.field = field};
        *cs->errors_tail = l;
        cs->errors_tail = &l->next;
    }
    if (l->len + 1 >= l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        const char **msgs = bn_arena_alloc(cs->arena, cap * sizeof *msgs);
        if (l->len)
            memcpy(msgs, l->msgs, l->len * sizeof *msgs);
        l->msgs = msgs;
        l->cap = cap;
    }
    l->msgs[l->len++] = message;
    l->msgs[l->len] = NULL;
}

static bool has_errors(const bn_changeset *cs, const char *field) { return find_errors(cs, field) != NULL; }

/* ------------------------------------------------------------------------ */
/* Cast and put                                                               */

bn_changeset *bn_changeset_cast(bn_arena *a, const bn_schema *s, const void *data, const bn_value *params,
                                const char *const *permitted)
{
    bn_changeset *cs = bn_arena_alloc(a, sizeof *cs);
    *cs = (bn_changeset){.arena = a, .schema = s};
    cs->errors_tail = &cs->errors;
    cs->constraints_tail = &cs->constraints;
    cs->flags = bn_arena_alloc(a, s->nfields ? s->nfields : 1);
    memset(cs->flags, 0, s->nfields);
    cs->changes = bn_arena_alloc(a, (s->nfields ? s->nfields : 1) * sizeof *cs->changes);
    if (data) {
        void *copy = bn_arena_alloc(a, s->size);
        memcpy(copy, data, s->size);
        cs->data = copy;
    }
    /* Programming errors first, whatever the params hold. */
    for (size_t k = 0; permitted && permitted[k]; k++)
        need_field(cs, permitted[k], "bn_changeset_cast: permitted field");
    if (!params || params->type == BN_VALUE_NULL)
        return cs;
    if (params->type != BN_VALUE_OBJECT) {
        add_error(cs, "", MSG_INVALID);
        return cs;
    }
    cs->params = bn_value_copy(a, params);
    for (size_t k = 0; permitted && permitted[k]; k++) {
        size_t i = field_index(s, permitted[k]);
        const bn_value *raw = bn_value_get(cs->params, permitted[k]);
        if (!raw)
            continue;
        const bn_field *f = &s->fields[i];
        bn_db_value v;
        if (raw->type == BN_VALUE_NULL || (raw->type == BN_VALUE_STRING && raw->as.s.len == 0)) {
            v = BN_DB_NULL;
        } else if (!cast_param(a, f->type, raw, &v)) {
            if (!(cs->flags[i] & F_CAST_ERROR)) { /* a field permitted twice errs once */
                cs->flags[i] |= F_CAST_ERROR;
                add_error(cs, f->name, MSG_INVALID);
            }
            continue;
        }
        set_change(cs, i, v);
    }
    return cs;
}

void bn_changeset_put(bn_changeset *cs, const char *field, bn_db_value value)
{
    size_t i = need_field(cs, field, "bn_changeset_put");
    const bn_field *f = &cs->schema->fields[i];
    bn_type vt = value.type;
    bool ok;
    switch (f->type) {
    case BN_TYPE_ID:
    case BN_TYPE_INTEGER:
    case BN_TYPE_BIGINT:
        ok = is_int_type(vt);
        break;
    case BN_TYPE_FLOAT:
        ok = vt == BN_TYPE_FLOAT || is_int_type(vt);
        if (ok && vt != BN_TYPE_FLOAT)
            value.u.f = (double)value.u.i;
        break;
    case BN_TYPE_BOOLEAN:
        /* In C17 `true` is an int, so BN_DB(true) is a BIGINT: take 0 and 1 too. */
        ok = vt == BN_TYPE_BOOLEAN || (is_int_type(vt) && (value.u.i == 0 || value.u.i == 1));
        if (ok && vt != BN_TYPE_BOOLEAN)
            value.u.b = value.u.i != 0;
        break;
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
    case BN_TYPE_DECIMAL:
    case BN_TYPE_UUID:
    case BN_TYPE_BINARY:
        ok = is_text_type(vt) || vt == BN_TYPE_BINARY;
        if (ok && !value.u.s.ptr)
            vt = BN_TYPE_NULL;
        else if (ok)
            value.u.s = arena_str(cs->arena, value.u.s);
        break;
    case BN_TYPE_JSON:
        ok = vt == BN_TYPE_JSON;
        if (ok && !value.u.json)
            vt = BN_TYPE_NULL;
        break;
    default:
        ok = vt == f->type;
        break;
    }
    if (vt == BN_TYPE_NULL) {
        set_change(cs, i, BN_DB_NULL);
        return;
    }
    if (!ok)
        bn_fatal("bn_changeset_put: field %s of %s is %s, not %s", field, cs->schema->name, type_name(f->type),
                 type_name(vt));
    value.type = f->type;
    set_change(cs, i, value);
}

/* ------------------------------------------------------------------------ */
/* Validations                                                                */

/* The field's change when a validation should look at it: changed, not to
 * NULL, and not a failed cast. */
static bool validatable(const bn_changeset *cs, size_t i, bn_db_value *v)
{
    if ((cs->flags[i] & (F_CHANGED | F_CAST_ERROR)) != F_CHANGED)
        return false;
    *v = cs->changes[i];
    return v->type != BN_TYPE_NULL;
}

static bool blank(bn_db_value v)
{
    if (v.type == BN_TYPE_NULL)
        return true;
    if (!is_text_type(v.type) && v.type != BN_TYPE_BINARY)
        return false;
    for (size_t k = 0; k < v.u.s.len; k++) {
        char c = v.u.s.ptr[k];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\v' && c != '\f' && c != '\r')
            return false;
    }
    return true;
}

void bn_validate_required(bn_changeset *cs, const char *const *fields)
{
    for (size_t k = 0; fields && fields[k]; k++) {
        size_t i = need_field(cs, fields[k], "bn_validate_required");
        const char *name = cs->schema->fields[i].name;
        if (has_errors(cs, name))
            continue;
        if (blank(current_value(cs, i)))
            add_error(cs, name, MSG_BLANK);
    }
}

void bn_validate_length(bn_changeset *cs, const char *field, bn_length_opts o)
{
    size_t i = need_field(cs, field, "bn_validate_length");
    const bn_field *f = &cs->schema->fields[i];
    if (!is_text_type(f->type) && f->type != BN_TYPE_BINARY && f->type != BN_TYPE_JSON)
        bn_fatal("bn_validate_length: field %s of %s is %s, which has no length", field, cs->schema->name,
                 type_name(f->type));
    bn_db_value v;
    if (!validatable(cs, i, &v))
        return;
    size_t n;
    const char *verb = "should be", *unit = "character(s)";
    if (f->type == BN_TYPE_BINARY) {
        n = v.u.s.len;
        unit = "byte(s)";
    } else if (f->type == BN_TYPE_JSON && (v.u.json->type == BN_VALUE_ARRAY || v.u.json->type == BN_VALUE_OBJECT)) {
        n = bn_value_len(v.u.json);
        verb = "should have";
        unit = "item(s)";
    } else if (f->type == BN_TYPE_JSON && v.u.json->type != BN_VALUE_STRING) {
        return; /* a number or a boolean has no length */
    } else {
        n = utf8_count(f->type == BN_TYPE_JSON ? v.u.json->as.s : v.u.s);
    }
    const char *bound = NULL;
    size_t count = 0;
    if (o.is && n != o.is) {
        bound = "";
        count = o.is;
    } else if (o.min && n < o.min) {
        bound = " at least";
        count = o.min;
    } else if (o.max && n > o.max) {
        bound = " at most";
        count = o.max;
    }
    if (bound)
        add_error(cs, f->name, bn_arena_printf(cs->arena, "%s%s %zu %s", verb, bound, count, unit));
}

void bn_validate_format(bn_changeset *cs, const char *field, const char *regex, const char *message)
{
    size_t i = need_field(cs, field, "bn_validate_format");
    const bn_field *f = &cs->schema->fields[i];
    if (!is_text_type(f->type) && f->type != BN_TYPE_BINARY)
        bn_fatal("bn_validate_format: field %s of %s is %s, not a string", field, cs->schema->name,
                 type_name(f->type));
    regex_t re;
    int rc = regcomp(&re, regex, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[128];
        regerror(rc, &re, why, sizeof why);
        bn_fatal("bn_validate_format: bad regex /%s/ for field %s: %s", regex, field, why);
    }
    bn_db_value v;
    if (validatable(cs, i, &v)) {
        int m;
#ifdef REG_STARTEND
        regmatch_t range = {.rm_so = 0, .rm_eo = (regoff_t)v.u.s.len};
        m = regexec(&re, v.u.s.ptr, 1, &range, REG_STARTEND);
#else
        m = regexec(&re, v.u.s.ptr, 0, NULL, 0); /* changes are NUL-terminated */
#endif
        if (m != 0)
            add_error(cs, f->name, message ? bn_arena_strndup(cs->arena, message, strlen(message)) : MSG_FORMAT);
    }
    regfree(&re);
}

void bn_validate_number(bn_changeset *cs, const char *field, bn_number_opts o)
{
    size_t i = need_field(cs, field, "bn_validate_number");
    const bn_field *f = &cs->schema->fields[i];
    if (!is_int_type(f->type) && f->type != BN_TYPE_FLOAT && f->type != BN_TYPE_DECIMAL)
        bn_fatal("bn_validate_number: field %s of %s is %s, not a number", field, cs->schema->name,
                 type_name(f->type));
    bn_db_value v;
    if (!validatable(cs, i, &v))
        return;
    /* long double holds every int64 exactly on x86-64 and aarch64. */
    long double x;
    if (is_int_type(f->type)) {
        x = (long double)v.u.i;
    } else if (f->type == BN_TYPE_FLOAT) {
        x = v.u.f;
    } else {
        char *z = bn_arena_strndup(cs->arena, v.u.s.ptr, v.u.s.len);
        x = strtold(z, NULL);
    }
    const char *what = NULL;
    double bound = 0;
    if (o.has_gt && !(x > (long double)o.gt)) {
        what = "must be greater than";
        bound = o.gt;
    } else if (o.has_min && !(x >= (long double)o.min)) {
        what = "must be greater than or equal to";
        bound = o.min;
    } else if (o.has_lt && !(x < (long double)o.lt)) {
        what = "must be less than";
        bound = o.lt;
    } else if (o.has_max && !(x <= (long double)o.max)) {
        what = "must be less than or equal to";
        bound = o.max;
    }
    if (what) {
        char num[40];
        format_double(bound, num);
        add_error(cs, f->name, bn_arena_printf(cs->arena, "%s %s", what, num));
    }
}

/* ------------------------------------------------------------------------ */
/* Values as text (inclusion, confirmation, forms)                            */

static bn_str format_value(bn_arena *a, bn_db_value v)
{
    char buf[64];
    switch (v.type) {
    case BN_TYPE_NULL:
        return BN_STR("");
    case BN_TYPE_ID:
    case BN_TYPE_INTEGER:
    case BN_TYPE_BIGINT:
        snprintf(buf, sizeof buf, "%" PRId64, v.u.i);
        break;
    case BN_TYPE_FLOAT:
        format_double(v.u.f, buf);
        break;
    case BN_TYPE_BOOLEAN:
        return v.u.b ? BN_STR("true") : BN_STR("false");
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
    case BN_TYPE_DECIMAL:
    case BN_TYPE_UUID:
    case BN_TYPE_BINARY:
        return v.u.s.ptr ? v.u.s : BN_STR("");
    case BN_TYPE_DATE:
        snprintf(buf, sizeof buf, "%04d-%02u-%02u", (int)v.u.date.year, (unsigned)v.u.date.month,
                 (unsigned)v.u.date.day);
        break;
    case BN_TYPE_UTC_DATETIME: {
        char t[32];
        return arena_str(a, bn_str_from_cstr(bn_datetime_format(v.u.t, t)));
    }
    case BN_TYPE_JSON: {
        if (v.u.json->type == BN_VALUE_STRING)
            return v.u.json->as.s;
        bn_buf out = BN_BUF_INIT;
        bn_json_encode(&out, v.u.json);
        bn_str s = arena_str(a, bn_str_make(out.data, out.len));
        bn_buf_free(&out);
        return s;
    }
    }
    return arena_str(a, bn_str_from_cstr(buf));
}

/* A raw param as the user typed it (a JSON body may hold numbers or trees). */
static bn_str format_param(bn_arena *a, const bn_value *raw)
{
    switch (raw->type) {
    case BN_VALUE_NULL:
        return BN_STR("");
    case BN_VALUE_STRING:
        return raw->as.s;
    case BN_VALUE_BOOL:
        return raw->as.b ? BN_STR("true") : BN_STR("false");
    case BN_VALUE_INT:
        return format_value(a, (bn_db_value){.type = BN_TYPE_BIGINT, .u.i = raw->as.i});
    case BN_VALUE_FLOAT:
        return format_value(a, (bn_db_value){.type = BN_TYPE_FLOAT, .u.f = raw->as.f});
    default:
        return format_value(a, (bn_db_value){.type = BN_TYPE_JSON, .u.json = raw});
    }
}

void bn_validate_inclusion(bn_changeset *cs, const char *field, const char *const *values)
{
    size_t i = need_field(cs, field, "bn_validate_inclusion");
    bn_db_value v;
    if (!validatable(cs, i, &v))
        return;
    bn_str text = format_value(cs->arena, v);
    for (size_t k = 0; values && values[k]; k++)
        if (bn_str_eq(text, bn_str_from_cstr(values[k])))
            return;
    add_error(cs, cs->schema->fields[i].name, MSG_INVALID);
}

void bn_validate_confirmation(bn_changeset *cs, const char *field)
{
    size_t i = need_field(cs, field, "bn_validate_confirmation");
    bn_db_value v;
    if (!validatable(cs, i, &v))
        return;
    const char *name = bn_arena_printf(cs->arena, "%s_confirmation", cs->schema->fields[i].name);
    const bn_value *confirm = bn_value_get(cs->params, name);
    if (!confirm)
        return;
    const bn_value *raw = bn_value_get(cs->params, cs->schema->fields[i].name);
    bool same = raw ? bn_value_equal(raw, confirm)
                    : bn_str_eq(format_param(cs->arena, confirm), format_value(cs->arena, v));
    if (!same)
        add_error(cs, name, MSG_CONFIRMATION);
}

/* ------------------------------------------------------------------------ */
/* Constraints                                                                */

static void add_constraint(bn_changeset *cs, const char *field, const char *name, bool foreign, const char *who)
{
    size_t i = need_field(cs, field, who);
    constraint *c = bn_arena_alloc(cs->arena, sizeof *c);
    const char *fname = cs->schema->fields[i].name;
    *c = (constraint){
        .field = fname,
        .name = name ? bn_arena_strndup(cs->arena, name, strlen(name))
                     : bn_arena_printf(cs->arena, "%s_%s_%s", cs->schema->source, fname, foreign ? "fkey" : "index"),
        .foreign = foreign,
    };
    *cs->constraints_tail = c;
    cs->constraints_tail = &c->next;
}

void bn_unique_constraint(bn_changeset *cs, const char *field, const char *constraint)
{
    add_constraint(cs, field, constraint, false, "bn_unique_constraint");
}

void bn_foreign_key_constraint(bn_changeset *cs, const char *field, const char *constraint)
{
    add_constraint(cs, field, constraint, true, "bn_foreign_key_constraint");
}

/* What kind of constraint an error says was violated: 'u'nique, 'f'oreign key, or 0. */
static char violation_kind(const bn_db_error *err)
{
    if (strcmp(err->sqlstate, "23505") == 0)
        return 'u';
    if (strcmp(err->sqlstate, "23503") == 0)
        return 'f';
    switch (err->code) {
    case 2067: /* SQLITE_CONSTRAINT_UNIQUE */
    case 1555: /* SQLITE_CONSTRAINT_PRIMARYKEY */
        return 'u';
    case 787:  /* SQLITE_CONSTRAINT_FOREIGNKEY */
        return 'f';
    default:
        break;
    }
    if (err->message && strstr(err->message, "FOREIGN KEY"))
        return 'f';
    if (err->message && strstr(err->message, "UNIQUE"))
        return 'u';
    return 0;
}

bool bn__changeset_constraint_error(bn_changeset *cs, const bn_db_error *err)
{
    if (!err)
        return false;
    char kind = violation_kind(err);
    for (constraint *c = cs->constraints; c; c = c->next) {
        if (kind && (kind == 'f') != c->foreign)
            continue;
        /* SQLite names no foreign key: the first declared one takes the error. */
        bool hit = err->constraint ? strcmp(err->constraint, c->name) == 0 : (kind == 'f' && c->foreign);
        if (hit) {
            add_error(cs, c->field, c->foreign ? MSG_NOT_EXIST : MSG_TAKEN);
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* Reading a changeset                                                        */

void bn_changeset_add_error(bn_changeset *cs, const char *field, const char *message)
{
    if (!field)
        field = "";
    size_t i = field_index(cs->schema, field);
    const char *name = i != SIZE_MAX ? cs->schema->fields[i].name : bn_arena_strndup(cs->arena, field, strlen(field));
    add_error(cs, name, bn_arena_strndup(cs->arena, message ? message : "", message ? strlen(message) : 0));
}

bool bn_changeset_valid(const bn_changeset *cs) { return cs->errors == NULL; }

const char *const *bn_changeset_errors(const bn_changeset *cs, const char *field)
{
    err_list *l = find_errors(cs, field ? field : "");
    return l ? l->msgs : NULL;
}

bool bn_changeset_change(const bn_changeset *cs, const char *field, bn_db_value *out)
{
    size_t i = need_field(cs, field, "bn_changeset_change");
    if (!(cs->flags[i] & F_CHANGED))
        return false;
    if (out)
        *out = cs->changes[i];
    return true;
}

bn_str bn_changeset_input(const bn_changeset *cs, const char *field)
{
    size_t i = field ? field_index(cs->schema, field) : SIZE_MAX;
    if (i == SIZE_MAX) { /* not a field ("password_confirmation"): the param as typed */
        const bn_value *raw = field ? bn_value_get(cs->params, field) : NULL;
        return raw ? format_param(cs->arena, raw) : BN_STR("");
    }
    if (cs->flags[i] & F_CAST_ERROR) {
        const bn_value *raw = bn_value_get(cs->params, cs->schema->fields[i].name);
        return raw ? format_param(cs->arena, raw) : BN_STR("");
    }
    return format_value(cs->arena, current_value(cs, i));
}

const void *bn_changeset_apply(const bn_changeset *cs)
{
    const bn_schema *s = cs->schema;
    void *rec = bn_arena_alloc(cs->arena, s->size);
    if (cs->data) {
        memcpy(rec, cs->data, s->size);
    } else {
        memset(rec, 0, s->size);
        for (size_t i = 0; i < s->nfields; i++)
            set_null_bit(s, rec, i, true);
    }
    for (size_t i = 0; i < s->nfields; i++)
        if (cs->flags[i] & F_CHANGED)
            record_store(s, i, rec, cs->changes[i]);
    return rec;
}

const bn_schema *bn_changeset_schema(const bn_changeset *cs) { return cs->schema; }

bn_arena *bn_changeset_arena(const bn_changeset *cs) { return cs->arena; }

/* ------------------------------------------------------------------------ */
/* For the Repo                                                               */

size_t bn__changeset_changes(const bn_changeset *cs, const size_t **fields, const bn_db_value **values)
{
    const bn_schema *s = cs->schema;
    size_t n = 0;
    for (size_t i = 0; i < s->nfields; i++)
        if ((cs->flags[i] & F_CHANGED) && !s->fields[i].virtual_field)
            n++;
    size_t *fs = bn_arena_alloc(cs->arena, (n ? n : 1) * sizeof *fs);
    bn_db_value *vs = bn_arena_alloc(cs->arena, (n ? n : 1) * sizeof *vs);
    n = 0;
    for (size_t i = 0; i < s->nfields; i++) {
        if ((cs->flags[i] & F_CHANGED) && !s->fields[i].virtual_field) {
            fs[n] = i;
            vs[n++] = cs->changes[i];
        }
    }
    if (fields)
        *fields = fs;
    if (values)
        *values = vs;
    return n;
}

const void *bn__changeset_data(const bn_changeset *cs) { return cs->data; }
