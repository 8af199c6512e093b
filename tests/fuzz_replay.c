/*
 * Replays fuzz inputs through a libFuzzer harness without libFuzzer, so the
 * seed corpus runs under ASan/UBSan in ctest with gcc (clang's -fsanitize=
 * fuzzer is not needed). Generic: link it with any file that defines
 * LLVMFuzzerTestOneInput (tests/fuzz_safetensors.c, later the tokenizer.json
 * and JSONL harnesses).
 *
 *   fuzz_replay_X DIR_OR_FILE...
 *
 * Every regular file (directories are read one level deep, in name order) is
 * copied into a heap buffer of exactly its size, so ASan catches a read one
 * byte past the end, and passed to the harness. A crash or sanitizer report
 * fails the run; so does finding no input at all (a misplaced corpus).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a harness, as in libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Feeds one file to the harness; returns 0, or -1 if it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        perror(path);
        fclose(f);
        return -1;
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf || (n && fread(buf, 1, n, f) != n)) {
        fprintf(stderr, "%s: cannot read %zu bytes\n", path, n);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    /* buf holds exactly n bytes (an empty input gets a non-NULL pointer). */
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file directly inside dir, in name order. Adds the
 * number replayed to *count; returns -1 on a read error. */
static int replay_dir(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(len);
        if (!path) {
            rc = -1;
            break;
        }
        snprintf(path, len, "%s/%s", dir, names[i]);
        struct stat sb;
        if (rc == 0 && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (replay_file(path) != 0)
                rc = -1;
            else
                (*count)++;
        }
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) {
            perror(argv[i]);
            return 1;
        }
        int rc = S_ISDIR(sb.st_mode) ? replay_dir(argv[i], &count) : replay_file(argv[i]);
        if (rc != 0)
            return 1;
        if (!S_ISDIR(sb.st_mode))
            count++;
    }
    if (count == 0) {
        fprintf(stderr, "%s: no inputs found\n", argv[0]);
        return 1;
    }
    printf("replayed %d inputs without a crash\n", count);
    return 0;
}
