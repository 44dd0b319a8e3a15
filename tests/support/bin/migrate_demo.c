/*
 * A program with two migrations and seeds, for the tests of `bennu db.*`:
 * `migrate_demo db.migrate` etc. run bn_data_command on DATABASE_URL.
 */
#include <stdio.h>

#include <bennu/data.h>

static void create_authors(bn_migration *m)
{
    bn_create_table(m, "authors", BN_COLUMNS({.name = "name", .type = BN_TYPE_STRING, .not_null = true}),
                    (bn_table_opts){.timestamps = true});
    bn_create_index(m, "authors", BN_FIELDS("name"), true);
}

static void drop_authors(bn_migration *m) { bn_drop_table(m, "authors"); }

static void create_books(bn_migration *m)
{
    bn_create_table(m, "books",
                    BN_COLUMNS({.name = "title", .type = BN_TYPE_TEXT, .not_null = true},
                               {.name = "author_id", .references = "authors", .on_delete = "CASCADE"}),
                    (bn_table_opts){0});
}

static void drop_books(bn_migration *m) { bn_drop_table(m, "books"); }

BN_MIGRATION(20240101000000, create_authors, create_authors, drop_authors);
BN_MIGRATION(20240102000000, create_books, create_books, drop_books);

static int seeds(bn_repo *r)
{
    bn_arena a = BN_ARENA_INIT;
    bn_db_value now = {.type = BN_TYPE_UTC_DATETIME, .u.t = bn_datetime_now()};
    int rc = bn_repo_query(r, &a, NULL, NULL,
                           "INSERT INTO authors (name, inserted_at, updated_at) VALUES (?, ?, ?)", BN_DB("Ada"), now,
                           now);
    if (rc == 0)
        rc = bn_repo_query(r, &a, NULL, NULL,
                           "INSERT INTO books (title, author_id) SELECT ?, id FROM authors WHERE name = ?",
                           BN_DB("Notes"), BN_DB("Ada"));
    bn_arena_destroy(&a);
    return rc;
}

int main(int argc, char **argv)
{
    int status = bn_data_command(argc, argv, seeds);
    if (status < 0) {
        fprintf(stderr, "usage: %s db.create|db.drop|db.migrate|db.rollback [N]|db.seed|db.reset\n", argv[0]);
        return 2;
    }
    return status;
}
