/*
 * The bennu command. For now it forwards to the app binary, which knows its
 * own routes and migrations: `bennu routes [APP]` prints an app's routes
 * table (like mix phx.routes) by running `APP routes`, and `bennu db.migrate
 * [APP [ARGS...]]` (db.create, db.drop, db.migrate, db.rollback, db.seed,
 * db.reset; like mix ecto.*) runs `APP db.migrate [ARGS...]`. The
 * generators, the dev server and releases come with later issues.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(FILE *out)
{
    fprintf(out, "usage: bennu routes [APP [--verify]]   print the routes table of APP\n"
                 "       bennu db.create [APP]            create the database (DATABASE_URL)\n"
                 "       bennu db.drop [APP]              drop it\n"
                 "       bennu db.migrate [APP]           run the pending migrations\n"
                 "       bennu db.rollback [APP [N]]      roll back the N (1) latest migrations\n"
                 "       bennu db.seed [APP]              run the seeds\n"
                 "       bennu db.reset [APP]             drop, create, migrate, seed\n"
                 "       bennu help                       this text\n"
                 "APP defaults to ./build/bin/<name of the current directory>.\n");
    return out == stderr ? 2 : 0;
}

/* The default app: build/bin/<name of the current directory>, as `bennu new` lays apps out. */
static int default_app(char *out, size_t cap)
{
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    const char *name = strrchr(cwd, '/');
    name = name ? name + 1 : cwd;
    int n = snprintf(out, cap, "build/bin/%s", name);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* `bennu CMD [APP [ARGS...]]` runs `APP CMD [ARGS...]`. */
static int forward(int argc, char **argv)
{
    const char *cmd = argv[1];
    char app[4096];
    if (argc > 2)
        snprintf(app, sizeof app, "%s", argv[2]);
    else if (default_app(app, sizeof app) < 0)
        return usage(stderr);
    if (access(app, X_OK) != 0) {
        fprintf(stderr, "bennu %s: cannot run %s: %s\n", cmd, app, strerror(errno));
        return 1;
    }
    int nargs = argc > 3 ? argc - 3 : 0;
    char **args = calloc((size_t)nargs + 3, sizeof *args);
    if (!args) {
        fprintf(stderr, "bennu %s: out of memory\n", cmd);
        return 1;
    }
    args[0] = app;
    args[1] = (char *)cmd;
    for (int i = 0; i < nargs; i++)
        args[2 + i] = argv[3 + i];
    execv(app, args);
    fprintf(stderr, "bennu %s: exec %s: %s\n", cmd, app, strerror(errno));
    free(args);
    return 1;
}

static bool forwarded(const char *cmd)
{
    static const char *const cmds[] = {"routes", "db.create", "db.drop", "db.migrate", "db.rollback", "db.seed",
                                       "db.reset"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(cmd, cmds[i]) == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    if (forwarded(argv[1]))
        return forward(argc, argv);
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0)
        return usage(stdout);
    fprintf(stderr, "bennu: unknown command \"%s\"\n", argv[1]);
    return usage(stderr);
}
