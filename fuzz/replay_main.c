/*
 * A main() for fuzz targets without libFuzzer: feeds every file named on the
 * command line (directories are walked) to LLVMFuzzerTestOneInput once.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t replayed;

/* Runs one file; false if it cannot be read. */
static bool replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return false;
    }
    size_t cap = 4096, len = 0;
    uint8_t *data = malloc(cap);
    size_t n;
    while (data && (n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap)
            data = realloc(data, cap *= 2);
    }
    bool ok = data && !ferror(f);
    fclose(f);
    if (!ok) {
        fprintf(stderr, "%s: read error\n", path);
        free(data);
        return false;
    }
    /* An exact-size copy, as libFuzzer gives, so overreads are caught. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact)
        abort();
    memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    replayed++;
    return true;
}

static bool replay_path(const char *path);

/* Replays a directory's entries in name order; an empty directory is an error. */
static bool replay_dir(const char *path)
{
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        perror(path);
        return false;
    }
    bool ok = true;
    size_t files = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (name[0] != '.') {
            size_t len = strlen(path) + strlen(name) + 2;
            char *child = malloc(len);
            snprintf(child, len, "%s/%s", path, name);
            ok = replay_path(child) && ok;
            free(child);
            files++;
        }
        free(names[i]);
    }
    free(names);
    if (files == 0) {
        fprintf(stderr, "%s: empty directory\n", path);
        return false;
    }
    return ok;
}

static bool replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return false;
    }
    return S_ISDIR(st.st_mode) ? replay_dir(path) : replay_file(path);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    bool ok = true;
    for (int i = 1; i < argc; i++)
        ok = replay_path(argv[i]) && ok;
    printf("replayed %zu inputs\n", replayed);
    return ok ? 0 : 1;
}
