/*
 * Schemas at run time: field lookup, the NULL bits of a record, and the
 * conversions between record fields and row cells.
 *
 * A cell comes from an adapter typed by what the database said: SQLite by
 * storage class (integers for booleans; text for dates, datetimes, JSON,
 * decimals and uuids; blobs for binaries), PostgreSQL in its text format
 * ("t"/"f", "2024-01-31 12:00:00+00", bytea as "\x…" hex) unless its
 * adapter already decoded the cell. bn__field_store accepts every one of
 * those spellings for a field of a given type and nothing else.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "data/data_internal.h"

/* ---- lookup ------------------------------------------------------------- */

const bn_field *bn_schema_field(const bn_schema *s, const char *name, size_t *index)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].name, name) == 0) {
            if (index)
                *index = i;
            return &s->fields[i];
        }
    return NULL;
}

const bn_assoc *bn_schema_assoc(const bn_schema *s, const char *name)
{
    for (size_t i = 0; name && i < s->nassocs; i++)
        if (strcmp(s->assocs[i].name, name) == 0)
            return &s->assocs[i];
    return NULL;
}

const bn_field *bn_schema_primary_key(const bn_schema *s)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (s->fields[i].type == BN_TYPE_ID)
            return &s->fields[i];
    return NULL;
}

static const bn_field *timestamp_field(const bn_schema *s, const char *name)
{
    const bn_field *f = bn_schema_field(s, name, NULL);
    return f && f->type == BN_TYPE_UTC_DATETIME ? f : NULL;
}

const bn_field *bn_schema_inserted_at(const bn_schema *s) { return timestamp_field(s, "inserted_at"); }
const bn_field *bn_schema_updated_at(const bn_schema *s) { return timestamp_field(s, "updated_at"); }

/* ---- NULL bits ---------------------------------------------------------- */

static uint64_t *nulls_of(const bn_schema *s, const void *record)
{
    return (uint64_t *)((char *)record + s->nulls_offset);
}

static void *member(const bn_field *f, const void *record) { return (char *)record + f->offset; }

static size_t type_size(bn_type t)
{
    switch (t) {
    case BN_TYPE_ID:
    case BN_TYPE_INTEGER:
    case BN_TYPE_BIGINT:
        return sizeof(int64_t);
    case BN_TYPE_FLOAT:
        return sizeof(double);
    case BN_TYPE_BOOLEAN:
        return sizeof(bool);
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
    case BN_TYPE_DECIMAL:
    case BN_TYPE_UUID:
        return sizeof(const char *);
    case BN_TYPE_DATE:
        return sizeof(bn_date);
    case BN_TYPE_UTC_DATETIME:
        return sizeof(bn_datetime);
    case BN_TYPE_BINARY:
        return sizeof(bn_str);
    case BN_TYPE_JSON:
        return sizeof(const bn_value *);
    case BN_TYPE_NULL:
        break;
    }
    return 0;
}

static bool field_is_null(const bn_schema *s, size_t i, const void *record)
{
    const bn_field *f = &s->fields[i];
    if (i < 64 && (*nulls_of(s, record) >> i & 1))
        return true;
    switch (f->type) {
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
    case BN_TYPE_DECIMAL:
    case BN_TYPE_UUID:
    case BN_TYPE_JSON:
        return *(const void *const *)member(f, record) == NULL;
    case BN_TYPE_BINARY:
        return ((const bn_str *)member(f, record))->ptr == NULL;
    default:
        return false;
    }
}

static void field_set_null(const bn_schema *s, size_t i, void *record, bool is_null)
{
    if (is_null)
        memset(member(&s->fields[i], record), 0, type_size(s->fields[i].type));
    if (i >= 64)
        return; /* only pointer fields can be NULL past the 64th */
    if (is_null)
        *nulls_of(s, record) |= (uint64_t)1 << i;
    else
        *nulls_of(s, record) &= ~((uint64_t)1 << i);
}

bool bn_record_is_null(const bn_schema *s, const void *record, const char *field)
{
    size_t i;
    return !bn_schema_field(s, field, &i) || field_is_null(s, i, record);
}

void bn_record_set_null(const bn_schema *s, void *record, const char *field, bool is_null)
{
    size_t i;
    if (bn_schema_field(s, field, &i))
        field_set_null(s, i, record, is_null);
}

bn_db_value bn_record_get(const bn_schema *s, const void *record, const char *field)
{
    size_t i;
    return bn_schema_field(s, field, &i) ? bn__field_load(s, i, record) : BN_DB_NULL;
}

/* ---- record -> value ---------------------------------------------------- */

bn_db_value bn__field_load(const bn_schema *s, size_t field, const void *record)
{
    if (field_is_null(s, field, record))
        return BN_DB_NULL;
    const bn_field *f = &s->fields[field];
    const void *p = member(f, record);
    bn_db_value v = {.type = f->type};
    switch (f->type) {
    case BN_TYPE_ID:
    case BN_TYPE_INTEGER:
    case BN_TYPE_BIGINT:
        v.u.i = *(const int64_t *)p;
        break;
    case BN_TYPE_FLOAT:
        v.u.f = *(const double *)p;
        break;
    case BN_TYPE_BOOLEAN:
        v.u.b = *(const bool *)p;
        break;
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
    case BN_TYPE_DECIMAL:
    case BN_TYPE_UUID:
        v.u.s = bn_str_from_cstr(*(const char *const *)p);
        break;
    case BN_TYPE_DATE:
        v.u.date = *(const bn_date *)p;
        break;
    case BN_TYPE_UTC_DATETIME:
        v.u.t = *(const bn_datetime *)p;
        break;
    case BN_TYPE_BINARY:
        v.u.s = *(const bn_str *)p;
        break;
    case BN_TYPE_JSON:
        v.u.json = *(const bn_value *const *)p;
        break;
    case BN_TYPE_NULL:
        return BN_DB_NULL;
    }
    return v;
}

/* ---- value -> record ---------------------------------------------------- */

static bool is_int_cell(bn_type t) { return t == BN_TYPE_ID || t == BN_TYPE_INTEGER || t == BN_TYPE_BIGINT; }
static bool is_text_cell(bn_type t)
{
    return t == BN_TYPE_STRING || t == BN_TYPE_TEXT || t == BN_TYPE_DECIMAL || t == BN_TYPE_UUID;
}

static bool parse_double(bn_str s, double *out)
{
    char buf[64];
    if (s.len == 0 || s.len >= sizeof buf)
        return false;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + s.len || (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL)))
        return false;
    *out = v;
    return true;
}

static bool parse_bool(bn_str s, bool *out)
{
    static const char *const yes[] = {"t", "true", "1"}, *const no[] = {"f", "false", "0"};
    for (size_t k = 0; k < BN_ARRAY_LEN(yes); k++) {
        if (bn_str_eq_nocase(s, bn_str_from_cstr(yes[k]))) {
            *out = true;
            return true;
        }
        if (bn_str_eq_nocase(s, bn_str_from_cstr(no[k]))) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* A number as text, for a string field that received one. */
static const char *number_text(bn_arena *a, bn_db_value cell)
{
    if (is_int_cell(cell.type))
        return bn_arena_printf(a, "%lld", (long long)cell.u.i);
    char *s = bn_arena_printf(a, "%.15g", cell.u.f);
    if (strtod(s, NULL) != cell.u.f)
        s = bn_arena_printf(a, "%.17g", cell.u.f);
    return s;
}

bool bn__field_store(const bn_schema *s, size_t field, void *record, bn_db_value cell, bn_arena *a,
                     const char **why)
{
    const bn_field *f = &s->fields[field];
    void *p = member(f, record);
    const char *dummy;
    if (!why)
        why = &dummy;
    if (cell.type == BN_TYPE_NULL) {
        field_set_null(s, field, record, true);
        return true;
    }
    bool text = is_text_cell(cell.type) || cell.type == BN_TYPE_BINARY;
    switch (f->type) {
    case BN_TYPE_ID:
    case BN_TYPE_INTEGER:
    case BN_TYPE_BIGINT: {
        int64_t v;
        if (is_int_cell(cell.type))
            v = cell.u.i;
        else if (cell.type == BN_TYPE_BOOLEAN)
            v = cell.u.b;
        else if (cell.type == BN_TYPE_FLOAT && cell.u.f > -9.2e18 && cell.u.f < 9.2e18 &&
                 (double)(int64_t)cell.u.f == cell.u.f)
            v = (int64_t)cell.u.f;
        else if (!(text && bn_str_to_i64(cell.u.s, &v))) {
            *why = "is not an integer";
            return false;
        }
        *(int64_t *)p = v;
        break;
    }
    case BN_TYPE_FLOAT: {
        double v;
        if (cell.type == BN_TYPE_FLOAT)
            v = cell.u.f;
        else if (is_int_cell(cell.type))
            v = (double)cell.u.i;
        else if (!(text && parse_double(cell.u.s, &v))) {
            *why = "is not a number";
            return false;
        }
        *(double *)p = v;
        break;
    }
    case BN_TYPE_BOOLEAN: {
        bool v;
        if (cell.type == BN_TYPE_BOOLEAN)
            v = cell.u.b;
        else if (is_int_cell(cell.type) && (cell.u.i == 0 || cell.u.i == 1))
            v = cell.u.i;
        else if (!(text && parse_bool(cell.u.s, &v))) {
            *why = "is not a boolean";
            return false;
        }
        *(bool *)p = v;
        break;
    }
    case BN_TYPE_STRING:
    case BN_TYPE_TEXT:
    case BN_TYPE_DECIMAL:
    case BN_TYPE_UUID: {
        const char *v;
        if (text) {
            if (memchr(cell.u.s.ptr ? cell.u.s.ptr : "", '\0', cell.u.s.len)) {
                *why = "contains a NUL byte, which a C string cannot hold";
                return false;
            }
            v = bn_arena_strndup(a, cell.u.s.ptr ? cell.u.s.ptr : "", cell.u.s.len);
        } else if (is_int_cell(cell.type) || cell.type == BN_TYPE_FLOAT) {
            v = number_text(a, cell); /* SQLite's numeric affinity turned text into a number */
        } else {
            *why = "is not text";
            return false;
        }
        *(const char **)p = v;
        break;
    }
    case BN_TYPE_DATE: {
        bn_date v;
        if (cell.type == BN_TYPE_DATE)
            v = cell.u.date;
        else if (!(text && bn_date_parse(cell.u.s, &v))) {
            *why = "is not a date (YYYY-MM-DD)";
            return false;
        }
        *(bn_date *)p = v;
        break;
    }
    case BN_TYPE_UTC_DATETIME: {
        bn_datetime v;
        if (cell.type == BN_TYPE_UTC_DATETIME)
            v = cell.u.t;
        else if (!(text && bn_datetime_parse(cell.u.s, &v))) {
            *why = "is not a datetime (YYYY-MM-DD HH:MM:SS)";
            return false;
        }
        *(bn_datetime *)p = v;
        break;
    }
    case BN_TYPE_BINARY: {
        bn_str v;
        if (cell.type == BN_TYPE_BINARY || text) { /* PostgreSQL's adapter decodes bytea itself */
            /* bytes as they came (a copy: the cell may live in a scratch arena) */
            char *copy = bn_arena_alloc(a, cell.u.s.len + 1);
            if (cell.u.s.len)
                memcpy(copy, cell.u.s.ptr, cell.u.s.len);
            copy[cell.u.s.len] = '\0';
            v = bn_str_make(copy, cell.u.s.len); /* never a NULL pointer: that would read as NULL */
        } else {
            *why = "is not binary data";
            return false;
        }
        *(bn_str *)p = v;
        break;
    }
    case BN_TYPE_JSON: {
        const bn_value *v;
        if (cell.type == BN_TYPE_JSON && cell.u.json) {
            v = cell.u.json;
        } else if (text) {
            bn_json_error jerr;
            v = bn_json_parse(a, cell.u.s, &jerr);
            if (!v) {
                *why = "is not valid JSON";
                return false;
            }
        } else if (is_int_cell(cell.type)) {
            v = bn_value_int(a, cell.u.i);
        } else if (cell.type == BN_TYPE_FLOAT) {
            v = bn_value_float(a, cell.u.f);
        } else if (cell.type == BN_TYPE_BOOLEAN) {
            v = bn_value_bool(a, cell.u.b);
        } else {
            *why = "is not JSON";
            return false;
        }
        *(const bn_value **)p = v;
        break;
    }
    case BN_TYPE_NULL:
        *why = "has no type";
        return false;
    }
    field_set_null(s, field, record, false);
    return true;
}

bool bn__record_from_row(const bn_schema *s, const bn_db_rows *rows, size_t row, void *record, bn_arena *a,
                         bn_db_error *err)
{
    memset(record, 0, s->size);
    const bn_db_value *cells = rows->cells + row * rows->ncols;
    for (size_t c = 0; c < rows->ncols; c++) {
        size_t i;
        if (!bn_schema_field(s, rows->columns[c], &i))
            continue;
        const char *why;
        if (!bn__field_store(s, i, record, cells[c], a, &why)) {
            bn__db_fail(err, a, "%s.%s %s", s->source, s->fields[i].name, why);
            return false;
        }
    }
    return true;
}
