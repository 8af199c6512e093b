/*
 * `stc launch --nproc N COMMAND ...`: runs `stc COMMAND ...` on N ranks of
 * this node without the user writing mpirun flags: it finds mpirun (the
 * MPIRUN environment variable, else PATH), splits the cores evenly across
 * ranks (OMP_NUM_THREADS, unless set), and replaces itself with
 *   mpirun -np N [--oversubscribe] [--allow-run-as-root] -x OMP_NUM_THREADS ... stc COMMAND ...
 * The environment passes through (mpirun's local ranks inherit it).
 */
#include "launcher/commands.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The path of mpirun: $MPIRUN or the first "mpirun" on PATH. */
static int find_mpirun(char *out, size_t cap)
{
    const char *env = getenv("MPIRUN");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return access(out, X_OK) == 0 ? 0 : -1;
    }
    const char *path = getenv("PATH");
    if (!path)
        return -1;
    char *dup = strdup(path);
    int rc = -1;
    for (char *save = NULL, *dir = strtok_r(dup, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/mpirun", *dir ? dir : ".");
        if (access(out, X_OK) == 0) {
            rc = 0;
            break;
        }
    }
    free(dup);
    return rc;
}

int stc_cmd_launch(int argc, char **argv)
{
    int nproc = 0, i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        if (!strcmp(argv[i], "--nproc") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 65536) {
                fprintf(stderr, "stc launch: --nproc expects a positive integer, got '%s'\n", argv[i]);
                return 2;
            }
            nproc = (int)v;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: stc launch --nproc N COMMAND [ARGS...]\n\n"
                   "Runs `stc COMMAND ARGS...` on N MPI ranks of this node (mpirun from $MPIRUN or PATH;\n"
                   "OMP_NUM_THREADS = cores / N unless set). Example: stc launch --nproc 2 train cfg.json\n");
            return 0;
        } else {
            fprintf(stderr, "stc launch: unknown option '%s' (see stc launch --help)\n", argv[i]);
            return 2;
        }
    }
    if (nproc < 1 || i >= argc) {
        fprintf(stderr, "usage: stc launch --nproc N COMMAND [ARGS...]\n");
        return 2;
    }
    if (!strcmp(argv[i], "launch")) {
        fprintf(stderr, "stc launch: cannot launch 'launch'\n");
        return 2;
    }
    char mpirun[PATH_MAX], self[PATH_MAX];
    if (find_mpirun(mpirun, sizeof mpirun) != 0) {
        fprintf(stderr, "stc launch: mpirun not found (install Open MPI, add it to PATH, or set MPIRUN)\n");
        return 2;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "stc launch: cannot find the stc binary: %s\n", strerror(errno));
        return 1;
    }
    self[n] = '\0';
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    char threads[32];
    if (!getenv("OMP_NUM_THREADS")) {
        snprintf(threads, sizeof threads, "%ld", cores / nproc > 0 ? cores / nproc : 1);
        setenv("OMP_NUM_THREADS", threads, 1);
    }
    char np[16];
    snprintf(np, sizeof np, "%d", nproc);
    char **args = calloc((size_t)(argc - i) + 16, sizeof *args);
    if (!args)
        return 7;
    int k = 0;
    args[k++] = mpirun;
    args[k++] = "-np";
    args[k++] = np;
    if (nproc > cores)
        args[k++] = "--oversubscribe";
    if (geteuid() == 0)
        args[k++] = "--allow-run-as-root";
    /* Open MPI binds each rank to one core by default for small jobs, which
     * would crowd a rank's OpenMP threads onto that core. */
    if (atoi(getenv("OMP_NUM_THREADS")) > 1) {
        args[k++] = "--bind-to";
        args[k++] = "none";
    }
    args[k++] = "-x";
    args[k++] = "OMP_NUM_THREADS";
    args[k++] = self;
    for (int j = i; j < argc; j++)
        args[k++] = argv[j];
    args[k] = NULL;
    execv(mpirun, args);
    fprintf(stderr, "stc launch: cannot run %s: %s\n", mpirun, strerror(errno));
    free(args);
    return 1;
}
