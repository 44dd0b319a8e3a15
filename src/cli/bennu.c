/*
 * The bennu command. For now: `bennu routes [APP]` prints an app's routes
 * table (like mix phx.routes) by running the app binary with "routes". The
 * generators, the dev server and releases come with later issues.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int usage(FILE *out)
{
    fprintf(out, "usage: bennu routes [APP]   print the routes table of APP (default: ./build/bin/<dir name>)\n"
                 "       bennu help           this text\n");
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

static int routes(int argc, char **argv)
{
    char app[4096];
    if (argc > 2)
        snprintf(app, sizeof app, "%s", argv[2]);
    else if (default_app(app, sizeof app) < 0)
        return usage(stderr);
    if (access(app, X_OK) != 0) {
        fprintf(stderr, "bennu routes: cannot run %s: %s\n", app, strerror(errno));
        return 1;
    }
    execl(app, app, "routes", (char *)NULL);
    fprintf(stderr, "bennu routes: exec %s: %s\n", app, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    if (strcmp(argv[1], "routes") == 0)
        return routes(argc, argv);
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0)
        return usage(stdout);
    fprintf(stderr, "bennu: unknown command \"%s\"\n", argv[1]);
    return usage(stderr);
}
