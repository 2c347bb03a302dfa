/*
 * replay.c: the main of a fuzz harness built without libFuzzer (make test).  Feeds the harness
 * each file named on the command line (a folder: each file in it), or, with no arguments, the seed
 * corpus tests/fuzz/corpus/NAME/ and the past crashers tests/fuzz/regress/NAME/ (from the top of
 * the tree, or $REGFS_TOP).  A crasher that is not fixed crashes here, under ASan and UBSan.
 * Prints how many inputs it ran; exits 1 when it found none (a corpus gone missing is a failure).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t size = 0, cap = 0, n;

    if (!f) {
        perror(path);
        exit(1);
    }
    do {
        if (size == cap && !(data = realloc(data, cap = cap * 2 + 4096))) {
            perror("realloc");
            exit(1);
        }
        n = fread(data + size, 1, cap - size, f);
        size += n;
    } while (n > 0);
    if (ferror(f)) {
        perror(path);
        exit(1);
    }
    fclose(f);
    fprintf(stderr, "replay %s (%zu bytes)\n", path, size);
    /* An exact-size copy, so that ASan sees a read past the end of the input. */
    uint8_t *exact = malloc(size ? size : 1);
    memcpy(exact, data, size);
    free(data);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    return 1;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path)
{
    struct stat sb;
    struct dirent *d;
    char **names = NULL;
    size_t n = 0;
    int count = 0;
    DIR *dir;

    if (stat(path, &sb) < 0)
        return 0;
    if (!S_ISDIR(sb.st_mode))
        return run_file(path);
    if (!(dir = opendir(path))) {
        perror(path);
        exit(1);
    }
    while ((d = readdir(dir))) {
        if (d->d_name[0] == '.')
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        if (!names || asprintf(&names[n], "%s/%s", path, d->d_name) < 0) {
            perror("out of memory");
            exit(1);
        }
        n++;
    }
    closedir(dir);
    if (n)
        qsort(names, n, sizeof *names, cmp);   /* the same order every run */
    for (size_t i = 0; i < n; i++) {
        count += run_path(names[i]);
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    const char *top = getenv("REGFS_TOP");
    char path[4096];
    int count = 0;

    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            count += run_path(argv[i]);
    } else {
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus/%s", top ? top : ".", FUZZ_NAME);
        count += run_path(path);
        snprintf(path, sizeof path, "%s/tests/fuzz/regress/%s", top ? top : ".", FUZZ_NAME);
        count += run_path(path);
    }
    printf("%s: %d inputs replayed\n", FUZZ_NAME, count);
    return count > 0 ? 0 : 1;
}
