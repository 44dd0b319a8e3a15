/*
 * The query builder and the Repo calls that run queries (src/data/query.c):
 * the exact SQL of every builder shape in both dialects with its bound
 * parameters, the builder's errors, then real runs of every shape against a
 * SQLite file and (when the test server runs) PostgreSQL.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bennu/data.h"
#include "data/data_internal.h"
#include "harness.h"

/* ---- schemas ------------------------------------------------------------------ */

#define USER_SCHEMA(FIELD, ASSOC)                      \
    FIELD(id, ID)                                      \
    FIELD(name, STRING)                                \
    FIELD(age, INTEGER)                                \
    FIELD(score, FLOAT)                                \
    FIELD(balance, DECIMAL)                            \
    FIELD(born, DATE)                                  \
    FIELD(password, STRING, .virtual_field = true)     \
    ASSOC(posts, HAS_MANY, post, author_id)            \
    FIELD(inserted_at, UTC_DATETIME)                   \
    FIELD(updated_at, UTC_DATETIME)
#define POST_SCHEMA(FIELD, ASSOC)                      \
    FIELD(id, ID)                                      \
    FIELD(title, STRING)                               \
    FIELD(body, TEXT)                                  \
    FIELD(views, INTEGER)                              \
    FIELD(published, BOOLEAN)                          \
    FIELD(author_id, BIGINT)                           \
    ASSOC(author, BELONGS_TO, user, author_id)         \
    ASSOC(comments, HAS_MANY, comment, post_id)        \
    FIELD(inserted_at, UTC_DATETIME)
#define COMMENT_SCHEMA(FIELD, ASSOC)                   \
    FIELD(id, ID)                                      \
    FIELD(post_id, BIGINT)                             \
    FIELD(body, TEXT)                                  \
    ASSOC(post, BELONGS_TO, post, post_id)
/* A table whose name needs quoting, without a primary key. */
#define ODD_SCHEMA(FIELD, ASSOC)                       \
    FIELD(label, TEXT)                                 \
    FIELD(n, INTEGER)

BN_SCHEMA_DECLARE(user, USER_SCHEMA)
BN_SCHEMA_DECLARE(post, POST_SCHEMA)
BN_SCHEMA_DECLARE(comment, COMMENT_SCHEMA)
BN_SCHEMA_DECLARE(odd, ODD_SCHEMA)
BN_SCHEMA_DEFINE(user, "users", USER_SCHEMA)
BN_SCHEMA_DEFINE(post, "posts", POST_SCHEMA)
BN_SCHEMA_DEFINE(comment, "comments", COMMENT_SCHEMA)
BN_SCHEMA_DEFINE(odd, "odd\"table", ODD_SCHEMA)

#define POST_COLS                                                                                        \
    "\"posts\".\"id\", \"posts\".\"title\", \"posts\".\"body\", \"posts\".\"views\", \"posts\".\"published\", " \
    "\"posts\".\"author_id\", \"posts\".\"inserted_at\""
#define USER_COLS                                                                                        \
    "\"users\".\"id\", \"users\".\"name\", \"users\".\"age\", \"users\".\"score\", \"users\".\"balance\", "     \
    "\"users\".\"born\", \"users\".\"inserted_at\", \"users\".\"updated_at\""
#define JOIN_AUTHOR " JOIN \"users\" AS \"author\" ON \"author\".\"id\" = \"posts\".\"author_id\""

/* ---- helpers ------------------------------------------------------------------ */

static bn_arena A = BN_ARENA_INIT;
static void teardown(void) { bn_arena_destroy(&A); }
TestSuite(query_sql, .fini = teardown);

typedef struct built {
    const char *sql; /* NULL on error */
    const char *error;
    const bn_db_value *params;
    size_t n;
} built;

static built build(const bn_query *q, bn_db_kind kind, bn__sql_op op, bn_aggregate agg, const char *field)
{
    bn_buf sql = BN_BUF_INIT;
    built b = {0};
    bn_db_error err = {0};
    if (bn__query_sql(q, kind, op, agg, field, &sql, &b.params, &b.n, &err) == 0) {
        cr_assert_eq(strlen(sql.data), sql.len, "the SQL is NUL-terminated, len without the NUL");
        b.sql = bn_arena_strndup(&A, sql.data, sql.len);
    } else {
        cr_assert_not_null(err.message);
        b.error = err.message;
    }
    bn_buf_free(&sql);
    return b;
}
static built sel(const bn_query *q, bn_db_kind kind) { return build(q, kind, BN__SQL_SELECT, BN_AGG_COUNT, NULL); }

/* Asserts the same text in both dialects. */
static built both(const bn_query *q, bn__sql_op op, bn_aggregate agg, const char *field, const char *expect)
{
    built s = build(q, BN_DB_SQLITE, op, agg, field), p = build(q, BN_DB_POSTGRES, op, agg, field);
    cr_assert_not_null(s.sql, "%s", s.error);
    cr_assert_str_eq(s.sql, expect);
    cr_assert_not_null(p.sql, "%s", p.error);
    cr_assert_str_eq(p.sql, expect);
    cr_assert_eq(s.n, p.n);
    return s;
}

static void assert_int_param(built b, size_t i, int64_t v)
{
    cr_assert_lt(i, b.n);
    cr_assert_eq(b.params[i].type, BN_TYPE_BIGINT, "param %zu has type %d", i, b.params[i].type);
    cr_assert_eq(b.params[i].u.i, v, "param %zu is %lld, not %lld", i, (long long)b.params[i].u.i, (long long)v);
}

static void assert_text_param(built b, size_t i, const char *v)
{
    cr_assert_lt(i, b.n);
    cr_assert_eq(b.params[i].type, BN_TYPE_TEXT);
    cr_assert(bn_str_eq(b.params[i].u.s, bn_str_from_cstr(v)), "param %zu is \"%.*s\"", i,
              BN_STR_ARG(b.params[i].u.s));
}

/* The error of every operation on q contains `needle`. */
static void assert_error(const bn_query *q, const char *needle)
{
    built b = sel(q, BN_DB_SQLITE);
    cr_assert_null(b.sql, "expected an error, got %s", b.sql);
    cr_assert(strstr(b.error, needle), "\"%s\" does not contain \"%s\"", b.error, needle);
}

/* ---- SELECT ------------------------------------------------------------------- */

Test(query_sql, select_lists_stored_fields_qualified)
{
    built b = both(bn_from(&A, &post_schema), BN__SQL_SELECT, 0, NULL, "SELECT " POST_COLS " FROM \"posts\"");
    cr_assert_eq(b.n, 0);
    /* the virtual password is not selected */
    both(bn_from(&A, &user_schema), BN__SQL_SELECT, 0, NULL, "SELECT " USER_COLS " FROM \"users\"");
}

Test(query_sql, where_fragments_and_eq_are_anded_and_bound)
{
    bn_query *q = bn_from(&A, &post_schema);
    bn_where(q, "views >= ? AND views < ?", BN_DB(10), BN_DB(20));
    bn_where_eq(q, "title", BN_DB("Hello"));
    bn_where_eq(q, "body", BN_DB_NULL);
    bn_where(q, "published");
    built b = both(q, BN__SQL_SELECT, 0, NULL,
                   "SELECT " POST_COLS " FROM \"posts\" WHERE (views >= ? AND views < ?) AND (\"posts\".\"title\" = ?)"
                   " AND (\"posts\".\"body\" IS NULL) AND (published)");
    cr_assert_eq(b.n, 3);
    assert_int_param(b, 0, 10);
    assert_int_param(b, 1, 20);
    assert_text_param(b, 2, "Hello");
}

Test(query_sql, hostile_values_stay_parameters)
{
    const char *evil = "'; DROP TABLE posts; --";
    bn_query *q = bn_from(&A, &post_schema);
    bn_where(q, "title = ?", BN_DB(evil));
    bn_where_eq(q, "body", BN_DB("\"); DELETE FROM users; --"));
    built b = both(q, BN__SQL_SELECT, 0, NULL,
                   "SELECT " POST_COLS " FROM \"posts\" WHERE (title = ?) AND (\"posts\".\"body\" = ?)");
    assert_text_param(b, 0, evil);
    assert_text_param(b, 1, "\"); DELETE FROM users; --");
}

Test(query_sql, values_are_copied_into_the_query)
{
    bn_query *q = bn_from(&A, &post_schema);
    {
        char name[16];
        snprintf(name, sizeof name, "%s", "Ada");
        bn_where(q, "title = ?", BN_DB(name));
        bn_where_eq(q, "body", bn_db_str(bn_str_make(name, 2)));
        bn_set(q, "title", bn_db_bytes(bn_str_make(name, 3)));
        memset(name, 'X', sizeof name);
    }
    built b = sel(q, BN_DB_SQLITE);
    assert_text_param(b, 0, "Ada");
    assert_text_param(b, 1, "Ad");
    built u = build(q, BN_DB_SQLITE, BN__SQL_UPDATE_ALL, 0, NULL);
    cr_assert_eq(u.params[0].type, BN_TYPE_BINARY);
    cr_assert(bn_str_eq(u.params[0].u.s, BN_STR("Ada")));
}

Test(query_sql, placeholders_inside_quotes_are_not_counted)
{
    bn_query *q = bn_from(&A, &post_schema);
    bn_where(q, "title <> '?' AND \"body?\" IS NOT NULL AND views = ?", BN_DB(3));
    built b = both(q, BN__SQL_SELECT, 0, NULL,
                   "SELECT " POST_COLS " FROM \"posts\" WHERE (title <> '?' AND \"body?\" IS NOT NULL AND views = ?)");
    cr_assert_eq(b.n, 1);
    assert_int_param(b, 0, 3);
    bn_query *c = bn_from(&A, &post_schema);
    bn_where(c, "views = ? /* why? */ -- or?\n OR views = ?", BN_DB(1), BN_DB(2));
    cr_assert_eq(sel(c, BN_DB_SQLITE).n, 2);
}

Test(query_sql, order_limit_offset_are_bound)
{
    bn_query *q = bn_from(&A, &post_schema);
    bn_where_eq(q, "published", bn_db_bool(true)); /* BN_DB(true) is an int: true is 1 in C */
    bn_order_by(q, "views", BN_DESC);
    bn_order_by(q, "id", BN_ASC);
    bn_limit(q, 10);
    bn_offset(q, 20);
    built b = both(q, BN__SQL_SELECT, 0, NULL,
                   "SELECT " POST_COLS " FROM \"posts\" WHERE (\"posts\".\"published\" = ?)"
                   " ORDER BY \"posts\".\"views\" DESC, \"posts\".\"id\" ASC LIMIT ? OFFSET ?");
    cr_assert_eq(b.n, 3);
    cr_assert_eq(b.params[0].type, BN_TYPE_BOOLEAN);
    assert_int_param(b, 1, 10);
    assert_int_param(b, 2, 20);
}

Test(query_sql, offset_without_limit_per_dialect)
{
    bn_query *q = bn_offset(bn_from(&A, &post_schema), 5);
    built s = sel(q, BN_DB_SQLITE), p = sel(q, BN_DB_POSTGRES);
    cr_assert_str_eq(s.sql, "SELECT " POST_COLS " FROM \"posts\" LIMIT -1 OFFSET ?");
    cr_assert_str_eq(p.sql, "SELECT " POST_COLS " FROM \"posts\" OFFSET ?");
    assert_int_param(s, 0, 5);
    assert_int_param(p, 0, 5);
    /* a limit alone; a limit of 0 is a limit */
    both(bn_limit(bn_from(&A, &post_schema), 0), BN__SQL_SELECT, 0, NULL,
         "SELECT " POST_COLS " FROM \"posts\" LIMIT ?");
}

Test(query_sql, select_subset_in_the_given_order)
{
    bn_query *q = bn_select(bn_from(&A, &post_schema), BN_FIELDS("title", "id", "title"));
    both(q, BN__SQL_SELECT, 0, NULL, "SELECT \"posts\".\"title\", \"posts\".\"id\" FROM \"posts\"");
}

Test(query_sql, select_subset_adds_the_keys_preloads_need)
{
    bn_query *q = bn_select(bn_from(&A, &post_schema), BN_FIELDS("title"));
    bn_preload(q, "author");
    both(q, BN__SQL_SELECT, 0, NULL, "SELECT \"posts\".\"title\", \"posts\".\"author_id\" FROM \"posts\"");
    bn_preload(q, "comments");
    bn_preload(q, "author"); /* twice: once */
    both(q, BN__SQL_SELECT, 0, NULL,
         "SELECT \"posts\".\"title\", \"posts\".\"author_id\", \"posts\".\"id\" FROM \"posts\"");
    /* already selected: not repeated */
    bn_query *q2 = bn_select(bn_from(&A, &user_schema), BN_FIELDS("id", "name"));
    bn_preload(q2, "posts");
    both(q2, BN__SQL_SELECT, 0, NULL, "SELECT \"users\".\"id\", \"users\".\"name\" FROM \"users\"");
}

Test(query_sql, join_belongs_to_with_conditions_on_the_joined_table)
{
    bn_query *q = bn_from(&A, &post_schema);
    bn_join(q, "author");
    bn_join(q, "author"); /* twice: once */
    bn_where(q, "author.name = ?", BN_DB("Ada"));
    bn_where_eq(q, "author.age", BN_DB(36));
    bn_order_by(q, "author.name", BN_ASC);
    built b = both(q, BN__SQL_SELECT, 0, NULL,
                   "SELECT " POST_COLS " FROM \"posts\"" JOIN_AUTHOR
                   " WHERE (author.name = ?) AND (\"author\".\"age\" = ?) ORDER BY \"author\".\"name\" ASC");
    assert_text_param(b, 0, "Ada");
    assert_int_param(b, 1, 36);
}

Test(query_sql, join_has_many_on_the_foreign_key)
{
    bn_query *q = bn_from(&A, &user_schema);
    bn_join(q, "posts");
    bn_where_eq(q, "posts.published", BN_DB(true));
    both(q, BN__SQL_SELECT, 0, NULL,
         "SELECT " USER_COLS " FROM \"users\" JOIN \"posts\" AS \"posts\" ON \"posts\".\"author_id\" = \"users\".\"id\""
         " WHERE (\"posts\".\"published\" = ?)");
    bn_query *q2 = bn_from(&A, &post_schema);
    bn_join(q2, "comments");
    bn_join(q2, "author");
    both(q2, BN__SQL_SELECT, 0, NULL,
         "SELECT " POST_COLS " FROM \"posts\" JOIN \"comments\" AS \"comments\" ON \"comments\".\"post_id\" = "
         "\"posts\".\"id\"" JOIN_AUTHOR);
}

Test(query_sql, identifiers_are_quoted)
{
    bn_buf b = BN_BUF_INIT;
    bn__sql_ident(&b, "we\"ird\"\"");
    bn__sql_ident(&b, "");
    bn__sql_ident(&b, "'; DROP TABLE x; --");
    const char *expect = "\"we\"\"ird\"\"\"\"\"" "\"\"" "\"'; DROP TABLE x; --\"";
    cr_assert_eq(b.len, strlen(expect));
    cr_assert(memcmp(b.data, expect, b.len) == 0, "%.*s", (int)b.len, b.data);
    bn_buf_free(&b);
    bn_query *q = bn_where_eq(bn_from(&A, &odd_schema), "n", BN_DB(1));
    both(q, BN__SQL_SELECT, 0, NULL,
         "SELECT \"odd\"\"table\".\"label\", \"odd\"\"table\".\"n\" FROM \"odd\"\"table\" WHERE (\"odd\"\"table\".\"n\" = ?)");
    both(q, BN__SQL_DELETE_ALL, 0, NULL, "DELETE FROM \"odd\"\"table\" WHERE (\"odd\"\"table\".\"n\" = ?)");
}

/* ---- UPDATE / DELETE ------------------------------------------------------------- */

Test(query_sql, update_all_sets_then_conditions)
{
    bn_query *q = bn_from(&A, &post_schema);
    bn_set(q, "title", BN_DB("New"));
    bn_set(q, "views", BN_DB(1));
    bn_set(q, "title", BN_DB("Newer")); /* again: replaces */
    bn_set(q, "body", BN_DB_NULL);
    bn_where_eq(q, "author_id", BN_DB(7));
    bn_order_by(q, "id", BN_ASC); /* no limit: the order means nothing here */
    built b = both(q, BN__SQL_UPDATE_ALL, 0, NULL,
                   "UPDATE \"posts\" SET \"title\" = ?, \"views\" = ?, \"body\" = ? WHERE (\"posts\".\"author_id\" = ?)");
    cr_assert_eq(b.n, 4);
    assert_text_param(b, 0, "Newer");
    assert_int_param(b, 1, 1);
    cr_assert_eq(b.params[2].type, BN_TYPE_NULL);
    assert_int_param(b, 3, 7);
    both(bn_set(bn_from(&A, &post_schema), "views", BN_DB(0)), BN__SQL_UPDATE_ALL, 0, NULL,
         "UPDATE \"posts\" SET \"views\" = ?");
}

Test(query_sql, update_all_with_a_join_uses_a_key_subquery)
{
    bn_query *q = bn_from(&A, &post_schema);
    bn_join(q, "author");
    bn_where(q, "author.name = ?", BN_DB("Ada"));
    bn_set(q, "views", BN_DB(99));
    built b = both(q, BN__SQL_UPDATE_ALL, 0, NULL,
                   "UPDATE \"posts\" SET \"views\" = ? WHERE \"posts\".\"id\" IN (SELECT \"posts\".\"id\" FROM \"posts\"" JOIN_AUTHOR
                   " WHERE (author.name = ?))");
    assert_int_param(b, 0, 99);
    assert_text_param(b, 1, "Ada");
}

Test(query_sql, delete_all_shapes)
{
    both(bn_from(&A, &post_schema), BN__SQL_DELETE_ALL, 0, NULL, "DELETE FROM \"posts\"");
    bn_query *q = bn_where(bn_from(&A, &post_schema), "views < ?", BN_DB(3));
    built b = both(q, BN__SQL_DELETE_ALL, 0, NULL, "DELETE FROM \"posts\" WHERE (views < ?)");
    assert_int_param(b, 0, 3);
    bn_query *j = bn_join(bn_from(&A, &post_schema), "author");
    bn_where_eq(j, "author.name", BN_DB("Bob"));
    both(j, BN__SQL_DELETE_ALL, 0, NULL,
         "DELETE FROM \"posts\" WHERE \"posts\".\"id\" IN (SELECT \"posts\".\"id\" FROM \"posts\"" JOIN_AUTHOR
         " WHERE (\"author\".\"name\" = ?))");
    bn_query *l = bn_limit(bn_order_by(bn_from(&A, &post_schema), "views", BN_DESC), 2);
    built lb = both(l, BN__SQL_DELETE_ALL, 0, NULL,
                    "DELETE FROM \"posts\" WHERE \"posts\".\"id\" IN (SELECT \"posts\".\"id\" FROM \"posts\""
                    " ORDER BY \"posts\".\"views\" DESC LIMIT ?)");
    assert_int_param(lb, 0, 2);
    /* a limit on a table without a primary key cannot be honoured */
    built e = build(bn_limit(bn_from(&A, &odd_schema), 1), BN_DB_SQLITE, BN__SQL_DELETE_ALL, 0, NULL);
    cr_assert_null(e.sql);
    cr_assert(strstr(e.error, "no primary key"), "%s", e.error);
}

/* ---- aggregates ------------------------------------------------------------------ */

Test(query_sql, aggregates)
{
    bn_query *q = bn_from(&A, &post_schema);
    both(q, BN__SQL_AGGREGATE, BN_AGG_COUNT, NULL, "SELECT count(*) FROM \"posts\"");
    both(q, BN__SQL_AGGREGATE, BN_AGG_COUNT, "body", "SELECT count(\"posts\".\"body\") FROM \"posts\"");
    bn_where_eq(q, "published", BN_DB(true));
    bn_order_by(q, "views", BN_ASC); /* dropped: PostgreSQL rejects ORDER BY beside an aggregate */
    both(q, BN__SQL_AGGREGATE, BN_AGG_SUM, "views",
         "SELECT sum(\"posts\".\"views\") FROM \"posts\" WHERE (\"posts\".\"published\" = ?)");
    both(q, BN__SQL_AGGREGATE, BN_AGG_AVG, "views",
         "SELECT avg(\"posts\".\"views\") FROM \"posts\" WHERE (\"posts\".\"published\" = ?)");
    both(q, BN__SQL_AGGREGATE, BN_AGG_MIN, "title",
         "SELECT min(\"posts\".\"title\") FROM \"posts\" WHERE (\"posts\".\"published\" = ?)");
    bn_query *j = bn_join(bn_from(&A, &post_schema), "author");
    both(j, BN__SQL_AGGREGATE, BN_AGG_MAX, "author.age",
         "SELECT max(\"author\".\"age\") FROM \"posts\"" JOIN_AUTHOR);
}

Test(query_sql, aggregates_over_a_limit_use_a_subquery)
{
    bn_query *q = bn_limit(bn_order_by(bn_from(&A, &post_schema), "views", BN_DESC), 3);
    built b = both(q, BN__SQL_AGGREGATE, BN_AGG_SUM, "views",
                   "SELECT sum(\"sub\".\"v\") FROM (SELECT \"posts\".\"views\" AS \"v\" FROM \"posts\""
                   " ORDER BY \"posts\".\"views\" DESC LIMIT ?) AS \"sub\"");
    assert_int_param(b, 0, 3);
    bn_query *o = bn_offset(bn_from(&A, &post_schema), 1);
    built s = build(o, BN_DB_SQLITE, BN__SQL_AGGREGATE, BN_AGG_COUNT, NULL);
    cr_assert_str_eq(s.sql, "SELECT count(*) FROM (SELECT 1 FROM \"posts\" LIMIT -1 OFFSET ?) AS \"sub\"");
    built p = build(o, BN_DB_POSTGRES, BN__SQL_AGGREGATE, BN_AGG_COUNT, NULL);
    cr_assert_str_eq(p.sql, "SELECT count(*) FROM (SELECT 1 FROM \"posts\" OFFSET ?) AS \"sub\"");
}

Test(query_sql, aggregate_errors)
{
    bn_query *q = bn_from(&A, &post_schema);
    struct {
        bn_aggregate agg;
        const char *field, *needle;
    } cases[] = {
        {BN_AGG_SUM, NULL, "sum needs a field"},
        {BN_AGG_SUM, "title", "not a number"},
        {BN_AGG_AVG, "published", "not a number"},
        {BN_AGG_MAX, "nope", "unknown field \"nope\""},
        {BN_AGG_MAX, "author.age", "not joined"},
        {BN_AGG_MAX, "writer.age", "no association \"writer\""},
        {(bn_aggregate)42, NULL, "unknown aggregate"},
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(cases); i++) {
        built b = build(q, BN_DB_SQLITE, BN__SQL_AGGREGATE, cases[i].agg, cases[i].field);
        cr_assert_null(b.sql, "case %zu", i);
        cr_assert(strstr(b.error, cases[i].needle), "case %zu: %s", i, b.error);
    }
}

/* ---- builder errors ------------------------------------------------------------ */

Test(query_sql, placeholder_count_must_match)
{
    assert_error(bn_where(bn_from(&A, &post_schema), "views > ? AND views < ?", BN_DB(1)),
                 "bn_where: \"views > ? AND views < ?\" has 2 placeholders but 1 value were given");
    assert_error(bn_where(bn_from(&A, &post_schema), "views > 1", BN_DB(1)), "has 0 placeholders but 1 value");
    assert_error(bn__where(bn_from(&A, &post_schema), NULL, NULL, 0), "fragment is NULL");
}

Test(query_sql, unknown_names_are_errors_not_sql)
{
    struct {
        bn_query *q;
        const char *needle;
    } cases[] = {
        {bn_where_eq(bn_from(&A, &post_schema), "titel", BN_DB("x")), "bn_where_eq: unknown field \"titel\" of post"},
        {bn_where_eq(bn_from(&A, &post_schema), "title\" = 1; --", BN_DB("x")), "unknown field"},
        {bn_order_by(bn_from(&A, &post_schema), "nope", BN_ASC), "bn_order_by: unknown field \"nope\""},
        {bn_order_by(bn_from(&A, &post_schema), "id", (bn_order)7), "neither BN_ASC nor BN_DESC"},
        {bn_select(bn_from(&A, &post_schema), BN_FIELDS("id", "nope")), "bn_select: unknown field \"nope\""},
        {bn_select(bn_from(&A, &post_schema), BN_FIELDS("author.name")), "only its own fields"},
        {bn_select(bn_from(&A, &user_schema), BN_FIELDS("password")), "virtual"},
        {bn_where_eq(bn_from(&A, &user_schema), "password", BN_DB("x")), "virtual"},
        {bn_set(bn_from(&A, &post_schema), "nope", BN_DB(1)), "bn_set: unknown field \"nope\""},
        {bn_set(bn_from(&A, &post_schema), "author.name", BN_DB(1)), "only its own fields"},
        {bn_join(bn_from(&A, &post_schema), "writer"), "bn_join: post has no association \"writer\""},
        {bn_join(bn_from(&A, &post_schema), NULL), "association name is NULL"},
        {bn_preload(bn_from(&A, &post_schema), "writer"), "bn_preload: post has no association \"writer\""},
        {bn_where_eq(bn_from(&A, &post_schema), "author.age", BN_DB(1)), "the association author is not joined"},
        {bn_order_by(bn_from(&A, &post_schema), "author.agee", BN_ASC), "unknown field \"agee\" of user"},
        {bn_limit(bn_from(&A, &post_schema), -1), "bn_limit: -1 is negative"},
        {bn_offset(bn_from(&A, &post_schema), -5), "bn_offset: -5 is negative"},
        {bn_select(bn_from(&A, &post_schema), NULL), "field list is NULL"},
        {bn_from(&A, NULL), "schema is NULL"},
    };
    for (size_t i = 0; i < BN_ARRAY_LEN(cases); i++) {
        built b = sel(cases[i].q, BN_DB_SQLITE);
        cr_assert_null(b.sql, "case %zu: %s", i, b.sql);
        cr_assert(strstr(b.error, cases[i].needle), "case %zu: \"%s\" lacks \"%s\"", i, b.error, cases[i].needle);
    }
}

Test(query_sql, the_first_error_is_kept_and_every_operation_reports_it)
{
    bn_query *q = bn_from(&A, &post_schema);
    bn_where_eq(q, "first", BN_DB(1));
    bn_where_eq(q, "second", BN_DB(1));
    bn_where_eq(q, "title", BN_DB("fine"));
    bn_set(q, "views", BN_DB(1));
    bn__sql_op ops[] = {BN__SQL_SELECT, BN__SQL_UPDATE_ALL, BN__SQL_DELETE_ALL, BN__SQL_AGGREGATE};
    for (size_t i = 0; i < BN_ARRAY_LEN(ops); i++) {
        built b = build(q, BN_DB_POSTGRES, ops[i], BN_AGG_COUNT, NULL);
        cr_assert_null(b.sql);
        cr_assert(strstr(b.error, "\"first\""), "%s", b.error);
    }
    built u = build(bn_from(&A, &post_schema), BN_DB_SQLITE, BN__SQL_UPDATE_ALL, 0, NULL);
    cr_assert(strstr(u.error, "sets nothing"), "%s", u.error);
}

Test(query_sql, null_query_and_null_arena)
{
    cr_assert_null(bn_from(NULL, &post_schema));
    cr_assert_null(bn_where(NULL, "x = ?", BN_DB(1)));
    cr_assert_null(bn_where_eq(NULL, "x", BN_DB(1)));
    cr_assert_null(bn_order_by(NULL, "x", BN_ASC));
    cr_assert_null(bn_limit(NULL, 1));
    cr_assert_null(bn_offset(NULL, 1));
    cr_assert_null(bn_select(NULL, BN_FIELDS("x")));
    cr_assert_null(bn_join(NULL, "x"));
    cr_assert_null(bn_preload(NULL, "x"));
    cr_assert_null(bn_set(NULL, "x", BN_DB(1)));
    bn_db_error err;
    bn_records recs = {(void *)1, 9};
    cr_assert_eq(bn_repo_all(NULL, NULL, &recs, &err), -1);
    cr_assert_null(recs.items);
    cr_assert(strstr(err.message, "no repo") || strstr(err.message, "no query"), "%s", err.message);
    built b = sel(NULL, BN_DB_SQLITE);
    cr_assert(strstr(b.error, "no query"), "%s", b.error);
}

/* ==== running queries against real databases ======================================= */

typedef struct db {
    bn_repo *root;  /* the opened repo */
    bn_repo *r;     /* what the test uses: root (SQLite) or a sandbox in its own PostgreSQL schema */
    char dir[64];   /* SQLite: the temp dir */
    bn_arena a;
} db;

static db D;

static void exec_sql(const char *sql, const bn_db_value *vals, size_t n)
{
    bn_db_rows rows;
    bn_db_error err = {0};
    int rc = bn__repo_query(D.r, &D.a, &rows, &err, sql, vals, n);
    cr_assert_eq(rc, 0, "%s: %s", sql, err.message);
}
#define EXEC(sql, ...) \
    exec_sql((sql), (const bn_db_value[]){BN_DB_NULL, ##__VA_ARGS__} + 1, \
             sizeof((bn_db_value[]){BN_DB_NULL, ##__VA_ARGS__}) / sizeof(bn_db_value) - 1)

static void create_tables(bool pg)
{
    if (pg) {
        EXEC("CREATE TABLE users (id bigserial PRIMARY KEY, name varchar(255), age integer, score double precision,"
             " balance numeric, born date, inserted_at timestamp, updated_at timestamp)");
        EXEC("CREATE TABLE posts (id bigserial PRIMARY KEY, title varchar(255), body text, views integer,"
             " published boolean, author_id bigint REFERENCES users(id), inserted_at timestamp)");
        EXEC("CREATE TABLE comments (id bigserial PRIMARY KEY, post_id bigint, body text)");
        EXEC("CREATE TABLE \"odd\"\"table\" (label text, n integer)");
    } else {
        EXEC("CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, age integer, score REAL,"
             " balance TEXT, born TEXT, inserted_at TEXT, updated_at TEXT)");
        EXEC("CREATE TABLE posts (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT, body TEXT, views integer,"
             " published boolean, author_id bigint REFERENCES users(id), inserted_at TEXT)");
        EXEC("CREATE TABLE comments (id INTEGER PRIMARY KEY AUTOINCREMENT, post_id bigint, body TEXT)");
        EXEC("CREATE TABLE \"odd\"\"table\" (label TEXT, n integer)");
    }
}

/*
 * users: 1 Ada (posts 1, 2), 2 Bob (posts 3, 5), 3 Cy (no posts, NULLs);
 * posts: views 10..50, post 4 has no author; comments: 2 on post 1, 1 on post 3.
 */
static void seed(void)
{
    EXEC("INSERT INTO users (id, name, age, score, balance, born) VALUES (?, ?, ?, ?, ?, ?)", BN_DB(1), BN_DB("Ada"),
         BN_DB(36), BN_DB(1.5), BN_DB("12.50"), BN_DB("1815-12-10"));
    EXEC("INSERT INTO users (id, name, age, score, balance, born) VALUES (?, ?, ?, ?, ?, ?)", BN_DB(2), BN_DB("Bob"),
         BN_DB(25), BN_DB(2.25), BN_DB("7.25"), BN_DB("1990-05-01"));
    EXEC("INSERT INTO users (id, name) VALUES (?, ?)", BN_DB(3), BN_DB("Cy"));
    const char *ins = "INSERT INTO posts (id, title, body, views, published, author_id) VALUES (?, ?, ?, ?, ?, ?)";
    EXEC(ins, BN_DB(1), BN_DB("Hello"), BN_DB("first"), BN_DB(10), bn_db_bool(true), BN_DB(1));
    EXEC(ins, BN_DB(2), BN_DB("Second"), BN_DB_NULL, BN_DB(20), bn_db_bool(false), BN_DB(1));
    EXEC(ins, BN_DB(3), BN_DB("Third"), BN_DB("third"), BN_DB(30), bn_db_bool(true), BN_DB(2));
    EXEC(ins, BN_DB(4), BN_DB("Orphan"), BN_DB("none"), BN_DB(40), bn_db_bool(true), BN_DB_NULL);
    EXEC(ins, BN_DB(5), BN_DB("Fifth"), BN_DB("fifth"), BN_DB(50), bn_db_bool(false), BN_DB(2));
    EXEC("INSERT INTO comments (id, post_id, body) VALUES (?, ?, ?)", BN_DB(1), BN_DB(1), BN_DB("c1"));
    EXEC("INSERT INTO comments (id, post_id, body) VALUES (?, ?, ?)", BN_DB(2), BN_DB(1), BN_DB("c2"));
    EXEC("INSERT INTO comments (id, post_id, body) VALUES (?, ?, ?)", BN_DB(3), BN_DB(3), BN_DB("c3"));
}

static void open_sqlite(void)
{
    memset(&D, 0, sizeof D);
    snprintf(D.dir, sizeof D.dir, "/tmp/bn_query_XXXXXX");
    cr_assert_not_null(mkdtemp(D.dir));
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/test.db", D.dir);
    char *error = NULL;
    D.root = bn_repo_open(&(bn_repo_config){.url = url, .quiet = true}, &error);
    cr_assert_not_null(D.root, "%s", error);
    D.r = D.root;
    create_tables(false);
    seed();
}

static void open_pg(void)
{
    memset(&D, 0, sizeof D);
    const char *url = bt_pg_url();
    if (!url)
        cr_skip_test("no PostgreSQL server for the tests");
    char *error = NULL;
    D.root = bn_repo_open(&(bn_repo_config){.url = url, .quiet = true, .pool_size = 2}, &error);
    cr_assert_not_null(D.root, "%s", error);
    bn_db_error err = {0};
    D.r = bn_repo_sandbox(D.root, &err);
    cr_assert_not_null(D.r, "%s", err.message);
    /* A schema of our own inside the sandbox's transaction: rolled back with it. */
    char schema[64], sql[160];
    static int seq;
    snprintf(schema, sizeof schema, "bt_query_%d_%d", (int)getpid(), ++seq);
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
    EXEC(sql);
    snprintf(sql, sizeof sql, "SET LOCAL search_path TO %s", schema);
    EXEC(sql);
    create_tables(true);
    seed();
}

static void close_db(void)
{
    if (D.r && D.r != D.root)
        bn_repo_sandbox_end(D.r);
    if (D.root)
        bn_repo_close(D.root);
    if (D.dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", D.dir);
        cr_assert_eq(system(cmd), 0);
    }
    bn_arena_destroy(&D.a);
    bn_arena_destroy(&A);
    memset(&D, 0, sizeof D);
}

TestSuite(query_sqlite, .init = open_sqlite, .fini = close_db);
TestSuite(query_pg, .init = open_pg, .fini = close_db);

/* Each of these runs once per adapter. */
#define BOTH_DBS(name)                  \
    static void name(void);             \
    Test(query_sqlite, name) { name(); } \
    Test(query_pg, name) { name(); }     \
    static void name(void)

static bn_records all(bn_query *q)
{
    bn_records recs = {(void *)1, 77};
    bn_db_error err = {0};
    int rc = bn_repo_all(D.r, q, &recs, &err);
    cr_assert_eq(rc, 0, "%s", err.message);
    return recs;
}

/* The ids of `recs` (of posts or users: id is the first member of both) as "1,2,3". */
static const char *ids(bn_records recs, size_t size)
{
    bn_buf b = BN_BUF_INIT;
    for (size_t i = 0; i < recs.count; i++) {
        int64_t id;
        memcpy(&id, (char *)recs.items + i * size, sizeof id);
        bn_buf_printf(&b, "%s%lld", i ? "," : "", (long long)id);
    }
    const char *s = bn_arena_strndup(&A, b.data ? b.data : "", b.len);
    bn_buf_free(&b);
    return s;
}
#define POST_IDS(recs) ids((recs), sizeof(post))
#define USER_IDS(recs) ids((recs), sizeof(user))

static int64_t count_of(bn_query *q)
{
    bn_db_value v;
    bn_db_error err = {0};
    cr_assert_eq(bn_repo_aggregate(D.r, q, BN_AGG_COUNT, NULL, &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.type, BN_TYPE_BIGINT);
    return v.u.i;
}

/* ---- all: where, order, paging, select --------------------------------------------- */

BOTH_DBS(all_rows_are_read_into_records)
{
    bn_records recs = all(bn_order_by(bn_from(&A, &post_schema), "id", BN_ASC));
    cr_assert_eq(recs.count, 5);
    post *p = BN_RECORD(recs, post, 0);
    cr_assert_eq(p->id, 1);
    cr_assert_str_eq(p->title, "Hello");
    cr_assert_str_eq(p->body, "first");
    cr_assert_eq(p->views, 10);
    cr_assert(p->published);
    cr_assert_eq(p->author_id, 1);
    cr_assert_null(p->author, "not preloaded");
    cr_assert_null(BN_RECORD(recs, post, 1)->body);
    cr_assert(bn_record_is_null(&post_schema, BN_RECORD(recs, post, 1), "body"));
    cr_assert(bn_record_is_null(&post_schema, BN_RECORD(recs, post, 3), "author_id"));
    cr_assert_not(BN_RECORD(recs, post, 1)->published);
    /* nothing matches: an empty result */
    bn_records none = all(bn_where_eq(bn_from(&A, &post_schema), "title", BN_DB("nope")));
    cr_assert_eq(none.count, 0);
}

BOTH_DBS(where_with_several_params)
{
    bn_query *q = bn_from(&A, &post_schema);
    bn_where(q, "views >= ? AND views <= ?", BN_DB(20), BN_DB(50));
    bn_where_eq(q, "published", bn_db_bool(true));
    bn_order_by(q, "id", BN_ASC);
    cr_assert_str_eq(POST_IDS(all(q)), "3,4");
    bn_where_eq(q, "author_id", BN_DB_NULL);
    cr_assert_str_eq(POST_IDS(all(q)), "4");
    bn_query *q2 = bn_order_by(bn_where_eq(bn_from(&A, &post_schema), "body", BN_DB_NULL), "id", BN_ASC);
    cr_assert_str_eq(POST_IDS(all(q2)), "2");
    /* typed values: a date */
    bn_db_value born = {.type = BN_TYPE_DATE, .u.date = {1990, 5, 1}};
    bn_records bob = all(bn_where_eq(bn_from(&A, &user_schema), "born", born));
    cr_assert_str_eq(USER_IDS(bob), "2");
    cr_assert(BN_RECORD(bob, user, 0)->born.year == 1990 && BN_RECORD(bob, user, 0)->born.day == 1);
    bn_query *q3 = bn_where(bn_from(&A, &post_schema), "title IN (?, ?) OR views = ?", BN_DB("Hello"),
                            BN_DB("Fifth"), BN_DB(30));
    cr_assert_str_eq(POST_IDS(all(bn_order_by(q3, "id", BN_DESC))), "5,3,1");
}

BOTH_DBS(hostile_values_stay_values)
{
    const char *evil[] = {"'; DROP TABLE posts; --", "\"); DELETE FROM users; --", "x' OR '1'='1", "?", "$1",
                          "\\'; --", "名前 \xe2\x80\xae"};
    for (size_t i = 0; i < BN_ARRAY_LEN(evil); i++) {
        cr_assert_eq(all(bn_where(bn_from(&A, &post_schema), "title = ?", BN_DB(evil[i]))).count, 0, "%s", evil[i]);
        cr_assert_eq(all(bn_where_eq(bn_from(&A, &post_schema), "title", BN_DB(evil[i]))).count, 0);
    }
    /* stored through update_all and read back verbatim */
    bn_query *u = bn_set(bn_where_eq(bn_from(&A, &post_schema), "id", BN_DB(2)), "title", BN_DB(evil[0]));
    bn_db_error err = {0};
    cr_assert_eq(bn_repo_update_all(D.r, u, &err), 1, "%s", err.message);
    bn_records got = all(bn_where_eq(bn_from(&A, &post_schema), "title", BN_DB(evil[0])));
    cr_assert_eq(got.count, 1);
    cr_assert_str_eq(BN_RECORD(got, post, 0)->title, evil[0]);
    /* the tables are all still there */
    cr_assert_eq(count_of(bn_from(&A, &post_schema)), 5);
    cr_assert_eq(count_of(bn_from(&A, &user_schema)), 3);
}

BOTH_DBS(order_limit_offset_page_through)
{
    const char *pages[] = {"5,4", "3,2", "1", ""};
    for (int i = 0; i < 4; i++) {
        bn_query *q = bn_order_by(bn_from(&A, &post_schema), "views", BN_DESC);
        bn_limit(q, 2);
        bn_offset(q, 2 * i);
        cr_assert_str_eq(POST_IDS(all(q)), pages[i], "page %d", i);
    }
    bn_query *o = bn_offset(bn_order_by(bn_from(&A, &post_schema), "id", BN_ASC), 3);
    cr_assert_str_eq(POST_IDS(all(o)), "4,5");
    cr_assert_eq(all(bn_limit(bn_from(&A, &post_schema), 0)).count, 0);
    /* two keys: published first (false < true), then views descending */
    bn_query *two = bn_order_by(bn_order_by(bn_from(&A, &post_schema), "published", BN_ASC), "views", BN_DESC);
    cr_assert_str_eq(POST_IDS(all(two)), "5,2,4,3,1");
}

BOTH_DBS(select_reads_only_those_fields)
{
    bn_query *q = bn_select(bn_from(&A, &post_schema), BN_FIELDS("title", "views"));
    bn_records recs = all(bn_order_by(q, "id", BN_ASC));
    cr_assert_eq(recs.count, 5);
    post *p = BN_RECORD(recs, post, 2);
    cr_assert_str_eq(p->title, "Third");
    cr_assert_eq(p->views, 30);
    cr_assert_eq(p->id, 0);
    cr_assert_null(p->body);
    cr_assert_eq(p->author_id, 0);
}

/* ---- joins ------------------------------------------------------------------- */

BOTH_DBS(join_with_a_condition_on_the_joined_table)
{
    bn_query *q = bn_join(bn_from(&A, &post_schema), "author");
    bn_where(q, "author.name = ?", BN_DB("Bob"));
    bn_order_by(q, "id", BN_ASC);
    cr_assert_str_eq(POST_IDS(all(q)), "3,5");
    bn_query *q2 = bn_join(bn_from(&A, &post_schema), "author");
    bn_where_eq(q2, "author.age", BN_DB(36));
    bn_order_by(q2, "author.name", BN_DESC);
    bn_order_by(q2, "views", BN_DESC);
    cr_assert_str_eq(POST_IDS(all(q2)), "2,1");
    /* an inner join drops the post without an author */
    cr_assert_eq(all(bn_join(bn_from(&A, &post_schema), "author")).count, 4);
    /* has_many: users with a published post (one row per matching post) */
    bn_query *u = bn_join(bn_from(&A, &user_schema), "posts");
    bn_where_eq(u, "posts.published", bn_db_bool(true));
    bn_order_by(u, "id", BN_ASC);
    bn_order_by(u, "posts.id", BN_ASC);
    cr_assert_str_eq(USER_IDS(all(u)), "1,2");
    bn_query *u2 = bn_order_by(bn_join(bn_from(&A, &user_schema), "posts"), "id", BN_ASC);
    cr_assert_str_eq(USER_IDS(all(u2)), "1,1,2,2");
}

/* ---- preload ----------------------------------------------------------------- */

BOTH_DBS(preload_has_many)
{
    bn_query *q = bn_preload(bn_order_by(bn_from(&A, &user_schema), "id", BN_ASC), "posts");
    bn_records users = all(q);
    cr_assert_eq(users.count, 3);
    user *ada = BN_RECORD(users, user, 0), *bob = BN_RECORD(users, user, 1), *cy = BN_RECORD(users, user, 2);
    cr_assert_eq(ada->posts.count, 2);
    cr_assert_str_eq(BN_RECORD(ada->posts, post, 0)->title, "Hello");
    cr_assert_str_eq(BN_RECORD(ada->posts, post, 1)->title, "Second");
    cr_assert_eq(BN_RECORD(ada->posts, post, 1)->author_id, 1);
    cr_assert_eq(bob->posts.count, 2);
    cr_assert_str_eq(POST_IDS(bob->posts), "3,5");
    cr_assert_eq(cy->posts.count, 0);
    cr_assert_null(cy->posts.items);
    /* nested associations are not loaded */
    cr_assert_null(BN_RECORD(ada->posts, post, 0)->author);
    cr_assert_eq(BN_RECORD(ada->posts, post, 0)->comments.count, 0);
    /* with a selection that leaves the key out, and a condition */
    bn_query *s = bn_select(bn_from(&A, &post_schema), BN_FIELDS("title"));
    bn_where(s, "views < ?", BN_DB(35));
    bn_preload(bn_order_by(s, "views", BN_ASC), "comments");
    bn_records posts = all(s);
    cr_assert_eq(posts.count, 3);
    cr_assert_eq(BN_RECORD(posts, post, 0)->comments.count, 2);
    cr_assert_str_eq(BN_RECORD(BN_RECORD(posts, post, 0)->comments, comment, 1)->body, "c2");
    cr_assert_eq(BN_RECORD(posts, post, 1)->comments.count, 0);
    cr_assert_eq(BN_RECORD(posts, post, 2)->comments.count, 1);
    cr_assert_str_eq(BN_RECORD(BN_RECORD(posts, post, 2)->comments, comment, 0)->body, "c3");
}

BOTH_DBS(preload_belongs_to)
{
    bn_query *q = bn_preload(bn_order_by(bn_from(&A, &post_schema), "id", BN_ASC), "author");
    bn_preload(q, "comments");
    bn_records posts = all(q);
    cr_assert_eq(posts.count, 5);
    const post *p1 = BN_RECORD(posts, post, 0), *p2 = BN_RECORD(posts, post, 1), *p4 = BN_RECORD(posts, post, 3);
    cr_assert_not_null(p1->author);
    cr_assert_str_eq(p1->author->name, "Ada");
    cr_assert_eq(p1->author->age, 36);
    cr_assert_eq(p1->author, p2->author, "one record per distinct author");
    cr_assert_str_eq(BN_RECORD(posts, post, 2)->author->name, "Bob");
    cr_assert_null(p4->author, "NULL foreign key");
    cr_assert_eq(p1->comments.count, 2);
    /* through bn_repo_one */
    bn_query *one = bn_preload(bn_where_eq(bn_from(&A, &comment_schema), "id", BN_DB(3)), "post");
    comment c;
    bn_db_error err = {0};
    cr_assert_eq(bn_repo_one(D.r, one, &c, &err), 1, "%s", err.message);
    cr_assert_not_null(c.post);
    cr_assert_str_eq(c.post->title, "Third");
    /* a foreign key that matches nothing (comments.post_id has no FOREIGN KEY): NULL */
    EXEC("INSERT INTO comments (id, post_id, body) VALUES (?, ?, ?)", BN_DB(4), BN_DB(999), BN_DB("lost"));
    bn_query *all_c = bn_preload(bn_order_by(bn_from(&A, &comment_schema), "id", BN_ASC), "post");
    bn_records cs = all(all_c);
    cr_assert_eq(cs.count, 4);
    cr_assert_str_eq(BN_RECORD(cs, comment, 0)->post->title, "Hello");
    cr_assert_eq(BN_RECORD(cs, comment, 0)->post, BN_RECORD(cs, comment, 1)->post);
    cr_assert_null(BN_RECORD(cs, comment, 3)->post);
    cr_assert_eq(BN_RECORD(cs, comment, 3)->post_id, 999);
}

/* A schema whose related table does not exist: a preload that needs no query must not run one. */
#define GHOST_SCHEMA(FIELD, ASSOC) \
    FIELD(id, ID)                  \
    FIELD(name, TEXT)
#define HAUNTED_SCHEMA(FIELD, ASSOC)                 \
    FIELD(id, ID)                                    \
    FIELD(ghost_id, BIGINT)                          \
    ASSOC(ghost, BELONGS_TO, ghost, ghost_id)         \
    ASSOC(ghosts, HAS_MANY, ghost, id)
BN_SCHEMA_DECLARE(ghost, GHOST_SCHEMA)
BN_SCHEMA_DECLARE(haunted, HAUNTED_SCHEMA)
BN_SCHEMA_DEFINE(ghost, "ghosts_nowhere", GHOST_SCHEMA)
BN_SCHEMA_DEFINE(haunted, "haunted", HAUNTED_SCHEMA)

BOTH_DBS(preload_without_keys_runs_no_query)
{
    EXEC("CREATE TABLE haunted (id integer PRIMARY KEY, ghost_id bigint)");
    bn_query *q = bn_preload(bn_preload(bn_from(&A, &haunted_schema), "ghost"), "ghosts");
    cr_assert_eq(all(q).count, 0);
    EXEC("INSERT INTO haunted (id, ghost_id) VALUES (?, ?)", BN_DB(1), BN_DB_NULL);
    bn_query *b = bn_preload(bn_from(&A, &haunted_schema), "ghost");
    bn_records recs = all(b);
    cr_assert_eq(recs.count, 1);
    cr_assert_null(BN_RECORD(recs, haunted, 0)->ghost);
    /* with a key, the query runs and fails on the missing table: the error comes back */
    if (bn_repo_kind(D.r) == BN_DB_SQLITE) {
        bn_records out;
        bn_db_error err = {0};
        cr_assert_eq(bn_repo_all(D.r, bn_preload(bn_from(&A, &haunted_schema), "ghosts"), &out, &err), -1);
        cr_assert(strstr(err.message, "ghosts_nowhere"), "%s", err.message);
        cr_assert_eq(out.count, 0);
    }
}

BOTH_DBS(preload_many_parents_in_chunks)
{
    /* 3000 users, 3000 posts: more keys than one IN list takes */
    EXEC("WITH RECURSIVE c(n) AS (SELECT 10 UNION ALL SELECT n + 1 FROM c WHERE n < 3009)"
         " INSERT INTO users (id, name, age) SELECT n, 'u' || n, n FROM c");
    EXEC("WITH RECURSIVE c(n) AS (SELECT 10 UNION ALL SELECT n + 1 FROM c WHERE n < 3009)"
         " INSERT INTO posts (id, title, views, author_id) SELECT n, 'p' || n, n, 3019 - n FROM c");
    bn_query *q = bn_where(bn_from(&A, &post_schema), "id >= ?", BN_DB(10));
    bn_preload(bn_order_by(q, "id", BN_ASC), "author");
    bn_records posts = all(q);
    cr_assert_eq(posts.count, 3000);
    for (size_t i = 0; i < posts.count; i++) {
        const post *p = BN_RECORD(posts, post, i);
        cr_assert_not_null(p->author, "post %lld", (long long)p->id);
        cr_assert_eq(p->author->id, p->author_id);
        cr_assert_eq(p->author->age, 3019 - p->id);
    }
    bn_query *u = bn_where(bn_from(&A, &user_schema), "id >= ?", BN_DB(10));
    bn_preload(bn_order_by(u, "id", BN_DESC), "posts");
    bn_records users = all(u);
    cr_assert_eq(users.count, 3000);
    for (size_t i = 0; i < users.count; i++) {
        const user *x = BN_RECORD(users, user, i);
        cr_assert_eq(x->posts.count, 1, "user %lld", (long long)x->id);
        cr_assert_eq(BN_RECORD(x->posts, post, 0)->id, 3019 - x->id);
    }
}

/* ---- one ------------------------------------------------------------------- */

BOTH_DBS(one_with_zero_one_and_two_results)
{
    post p = {.id = -1};
    bn_db_error err = {0};
    cr_assert_eq(bn_repo_one(D.r, bn_where_eq(bn_from(&A, &post_schema), "title", BN_DB("nope")), &p, &err), 0);
    cr_assert_eq(p.id, -1, "untouched");
    bn_query *q = bn_preload(bn_where_eq(bn_from(&A, &post_schema), "title", BN_DB("Third")), "author");
    bn_preload(q, "comments");
    cr_assert_eq(bn_repo_one(D.r, q, &p, &err), 1, "%s", err.message);
    cr_assert_eq(p.id, 3);
    cr_assert_str_eq(p.author->name, "Bob");
    cr_assert_eq(p.comments.count, 1);
    cr_assert_eq(bn_repo_one(D.r, bn_where_eq(bn_from(&A, &post_schema), "author_id", BN_DB(1)), &p, &err), -1);
    cr_assert_str_eq(err.message, "expected at most one result but got 2");
    cr_assert_eq(p.id, 3, "untouched on error");
    cr_assert_eq(bn_repo_one(D.r, bn_from(&A, &post_schema), &p, &err), -1);
    cr_assert_str_eq(err.message, "expected at most one result but got 5");
    cr_assert_eq(bn_repo_one(D.r, bn_limit(bn_from(&A, &post_schema), 1), &p, &err), 1);
}

/* ---- aggregates ---------------------------------------------------------------- */

BOTH_DBS(aggregates_on_rows)
{
    bn_db_value v;
    bn_db_error err = {0};
    bn_query *q = bn_from(&A, &post_schema);
    cr_assert_eq(count_of(q), 5);
    cr_assert_eq(bn_repo_aggregate(D.r, q, BN_AGG_SUM, "views", &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.type, BN_TYPE_BIGINT);
    cr_assert_eq(v.u.i, 150);
    cr_assert_eq(bn_repo_aggregate(D.r, q, BN_AGG_AVG, "views", &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.type, BN_TYPE_FLOAT);
    cr_assert_float_eq(v.u.f, 30.0, 1e-9);
    cr_assert_eq(bn_repo_aggregate(D.r, q, BN_AGG_MAX, "title", &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.type, BN_TYPE_STRING);
    cr_assert(bn_str_eq(v.u.s, BN_STR("Third")));
    cr_assert_eq(bn_repo_aggregate(D.r, q, BN_AGG_COUNT, "body", &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.u.i, 4, "count of a field skips NULLs");
    bn_query *u = bn_from(&A, &user_schema);
    cr_assert_eq(bn_repo_aggregate(D.r, u, BN_AGG_SUM, "score", &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.type, BN_TYPE_FLOAT);
    cr_assert_float_eq(v.u.f, 3.75, 1e-9);
    cr_assert_eq(bn_repo_aggregate(D.r, u, BN_AGG_SUM, "balance", &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.type, BN_TYPE_DECIMAL);
    cr_assert(bn_str_eq(v.u.s, BN_STR("19.75")), "%.*s", BN_STR_ARG(v.u.s));
    cr_assert_eq(bn_repo_aggregate(D.r, u, BN_AGG_MIN, "born", &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.type, BN_TYPE_DATE);
    cr_assert(v.u.date.year == 1815 && v.u.date.month == 12 && v.u.date.day == 10);
    cr_assert_eq(bn_repo_aggregate(D.r, u, BN_AGG_MIN, "age", &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.type, BN_TYPE_INTEGER);
    cr_assert_eq(v.u.i, 25);
    /* with conditions, a join, a limit */
    bn_query *w = bn_where(bn_from(&A, &post_schema), "published = ?", bn_db_bool(true));
    cr_assert_eq(count_of(w), 3);
    cr_assert_eq(bn_repo_aggregate(D.r, w, BN_AGG_SUM, "views", &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.u.i, 80);
    bn_query *j = bn_where_eq(bn_join(bn_from(&A, &post_schema), "author"), "author.name", BN_DB("Ada"));
    cr_assert_eq(count_of(j), 2);
    cr_assert_eq(bn_repo_aggregate(D.r, j, BN_AGG_MAX, "author.age", &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.u.i, 36);
    bn_query *l = bn_limit(bn_order_by(bn_from(&A, &post_schema), "views", BN_DESC), 2);
    cr_assert_eq(count_of(l), 2);
    cr_assert_eq(bn_repo_aggregate(D.r, l, BN_AGG_SUM, "views", &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.u.i, 90);
    cr_assert_eq(count_of(bn_offset(bn_from(&A, &post_schema), 4)), 1);
    /* datetimes: set through update_all, the latest read back as a datetime */
    bn_datetime t0;
    cr_assert(bn_datetime_parse(BN_STR("2024-01-31T12:00:00.250000Z"), &t0));
    for (int i = 1; i <= 3; i++) {
        bn_query *s = bn_where_eq(bn_from(&A, &post_schema), "id", BN_DB(i));
        bn_set(s, "inserted_at", (bn_db_value){.type = BN_TYPE_UTC_DATETIME, .u.t = t0 + i * 1000000});
        cr_assert_eq(bn_repo_update_all(D.r, s, &err), 1, "%s", err.message);
    }
    cr_assert_eq(bn_repo_aggregate(D.r, q, BN_AGG_MAX, "inserted_at", &v, &err), 0, "%s", err.message);
    cr_assert_eq(v.type, BN_TYPE_UTC_DATETIME);
    cr_assert_eq(v.u.t, t0 + 3000000);
    bn_query *since = bn_where(bn_from(&A, &post_schema), "inserted_at > ?",
                               (bn_db_value){.type = BN_TYPE_UTC_DATETIME, .u.t = t0 + 1500000});
    bn_records recent = all(bn_order_by(since, "inserted_at", BN_DESC));
    cr_assert_str_eq(POST_IDS(recent), "3,2");
    cr_assert_eq(BN_RECORD(recent, post, 1)->inserted_at, t0 + 2000000);
}

BOTH_DBS(aggregates_on_no_rows)
{
    bn_db_value v = bn_db_int(99);
    bn_db_error err = {0};
    bn_query *q = bn_where_eq(bn_from(&A, &post_schema), "title", BN_DB("nope"));
    cr_assert_eq(count_of(q), 0);
    bn_aggregate aggs[] = {BN_AGG_SUM, BN_AGG_AVG, BN_AGG_MIN, BN_AGG_MAX};
    for (size_t i = 0; i < BN_ARRAY_LEN(aggs); i++) {
        v = bn_db_int(99);
        cr_assert_eq(bn_repo_aggregate(D.r, q, aggs[i], "views", &v, &err), 0, "%s", err.message);
        cr_assert_eq(v.type, BN_TYPE_NULL, "aggregate %zu", i);
    }
    EXEC("DELETE FROM comments");
    cr_assert_eq(count_of(bn_from(&A, &comment_schema)), 0);
    cr_assert_eq(bn_repo_aggregate(D.r, bn_from(&A, &comment_schema), BN_AGG_MAX, "body", &v, &err), 0);
    cr_assert_eq(v.type, BN_TYPE_NULL);
}

/* ---- update_all / delete_all ----------------------------------------------------- */

BOTH_DBS(update_all_without_and_with_joins)
{
    bn_db_error err = {0};
    bn_query *q = bn_where(bn_from(&A, &post_schema), "views < ?", BN_DB(25));
    bn_set(q, "title", BN_DB("Early"));
    bn_set(q, "body", BN_DB_NULL);
    cr_assert_eq(bn_repo_update_all(D.r, q, &err), 2, "%s", err.message);
    bn_query *back = bn_order_by(bn_where_eq(bn_from(&A, &post_schema), "title", BN_DB("Early")), "id", BN_ASC);
    bn_records recs = all(back);
    cr_assert_str_eq(POST_IDS(recs), "1,2");
    cr_assert_null(BN_RECORD(recs, post, 0)->body);
    /* through a join: Bob's posts */
    bn_query *j = bn_join(bn_from(&A, &post_schema), "author");
    bn_where(j, "author.name = ?", BN_DB("Bob"));
    bn_set(j, "views", BN_DB(0));
    cr_assert_eq(bn_repo_update_all(D.r, j, &err), 2, "%s", err.message);
    cr_assert_str_eq(POST_IDS(all(bn_order_by(bn_where_eq(bn_from(&A, &post_schema), "views", BN_DB(0)), "id",
                                              BN_ASC))),
                     "3,5");
    /* a limit: the two most viewed */
    bn_query *l = bn_limit(bn_order_by(bn_from(&A, &post_schema), "views", BN_DESC), 2);
    bn_set(l, "published", bn_db_bool(false));
    cr_assert_eq(bn_repo_update_all(D.r, l, &err), 2, "%s", err.message);
    cr_assert_str_eq(POST_IDS(all(bn_order_by(bn_where_eq(bn_from(&A, &post_schema), "published", bn_db_bool(true)),
                                              "id", BN_ASC))),
                     "1,3");
    /* nothing matches: 0 */
    bn_query *n = bn_set(bn_where_eq(bn_from(&A, &post_schema), "id", BN_DB(99)), "views", BN_DB(1));
    cr_assert_eq(bn_repo_update_all(D.r, n, &err), 0, "%s", err.message);
}

BOTH_DBS(delete_all_without_and_with_joins)
{
    bn_db_error err = {0};
    EXEC("DELETE FROM comments");
    bn_query *j = bn_join(bn_from(&A, &post_schema), "author");
    bn_where_eq(j, "author.name", BN_DB("Ada"));
    cr_assert_eq(bn_repo_delete_all(D.r, j, &err), 2, "%s", err.message);
    cr_assert_str_eq(POST_IDS(all(bn_order_by(bn_from(&A, &post_schema), "id", BN_ASC))), "3,4,5");
    bn_query *q = bn_where(bn_from(&A, &post_schema), "views > ?", BN_DB(45));
    cr_assert_eq(bn_repo_delete_all(D.r, q, &err), 1, "%s", err.message);
    cr_assert_str_eq(POST_IDS(all(bn_order_by(bn_from(&A, &post_schema), "id", BN_ASC))), "3,4");
    bn_query *l = bn_limit(bn_order_by(bn_from(&A, &post_schema), "id", BN_DESC), 1);
    cr_assert_eq(bn_repo_delete_all(D.r, l, &err), 1, "%s", err.message);
    cr_assert_str_eq(POST_IDS(all(bn_from(&A, &post_schema))), "3");
    cr_assert_eq(bn_repo_delete_all(D.r, bn_from(&A, &post_schema), &err), 1, "%s", err.message);
    cr_assert_eq(count_of(bn_from(&A, &post_schema)), 0);
    cr_assert_eq(bn_repo_delete_all(D.r, bn_from(&A, &post_schema), &err), 0, "%s", err.message);
    /* a table whose name needs quoting */
    EXEC("INSERT INTO \"odd\"\"table\" (label, n) VALUES (?, ?)", BN_DB("a"), BN_DB(1));
    EXEC("INSERT INTO \"odd\"\"table\" (label, n) VALUES (?, ?)", BN_DB("b"), BN_DB(2));
    cr_assert_eq(bn_repo_delete_all(D.r, bn_where_eq(bn_from(&A, &odd_schema), "n", BN_DB(2)), &err), 1);
    bn_records odd_rows = all(bn_from(&A, &odd_schema));
    cr_assert_eq(odd_rows.count, 1);
    cr_assert_str_eq(BN_RECORD(odd_rows, odd, 0)->label, "a");
}

/* ---- errors through the Repo calls ---------------------------------------------- */

BOTH_DBS(builder_errors_come_back_from_the_repo)
{
    bn_db_error err = {0};
    bn_records recs;
    bn_query *bad = bn_where(bn_from(&A, &post_schema), "views > ? AND views < ?", BN_DB(1));
    cr_assert_eq(bn_repo_all(D.r, bad, &recs, &err), -1);
    cr_assert(strstr(err.message, "2 placeholders but 1 value"), "%s", err.message);
    cr_assert_eq(recs.count, 0);
    post p;
    cr_assert_eq(bn_repo_one(D.r, bn_join(bn_from(&A, &post_schema), "writer"), &p, &err), -1);
    cr_assert(strstr(err.message, "no association \"writer\""), "%s", err.message);
    cr_assert_eq(bn_repo_all(D.r, bn_preload(bn_from(&A, &post_schema), "writer"), &recs, &err), -1);
    cr_assert_eq(bn_repo_update_all(D.r, bn_set(bn_from(&A, &post_schema), "nope", BN_DB(1)), &err), -1);
    cr_assert(strstr(err.message, "bn_set: unknown field \"nope\""), "%s", err.message);
    cr_assert_eq(bn_repo_update_all(D.r, bn_from(&A, &post_schema), &err), -1);
    cr_assert_eq(bn_repo_delete_all(D.r, bn_where_eq(bn_from(&A, &post_schema), "x\"; DROP TABLE posts; --", BN_DB(1)),
                                    &err),
                 -1);
    cr_assert(strstr(err.message, "unknown field"), "%s", err.message);
    bn_db_value v;
    cr_assert_eq(bn_repo_aggregate(D.r, bn_from(&A, &post_schema), BN_AGG_SUM, "title", &v, &err), -1);
    cr_assert_eq(bn_repo_aggregate(D.r, bn_from(&A, &post_schema), BN_AGG_MAX, "nope", &v, &err), -1);
    cr_assert_eq(bn_repo_all(D.r, bn_where_eq(bn_from(&A, &post_schema), "author.name", BN_DB("x")), &recs, &err),
                 -1);
    cr_assert(strstr(err.message, "not joined"), "%s", err.message);
    cr_assert_eq(bn_repo_all(D.r, NULL, &recs, &err), -1);
    cr_assert_eq(bn_repo_all(D.r, bn_from(&A, &post_schema), NULL, &err), -1);
    /* nothing was changed, and an error without a bn_db_error is only logged */
    cr_assert_eq(bn_repo_delete_all(D.r, bn_where_eq(bn_from(&A, &post_schema), "nope", BN_DB(1)), NULL), -1);
    cr_assert_eq(count_of(bn_from(&A, &post_schema)), 5);
}
