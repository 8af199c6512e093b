/* dist/: ranks, local ranks and collectives under mpirun (run with -np 2 and
 * -np 3 by ctest). Every rank checks; the exit status is non-zero on any
 * rank's failure (mpirun returns it). */
#include "dist/comm.h"
#include "tests/check.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    stc_comm c;
    if (stc_comm_init(&c, &argc, &argv)) {
        fprintf(stderr, "%s\n", stc_error_message());
        return 1;
    }
    int P = c.world, r = c.rank;
    CHECK(P >= 1 && r >= 0 && r < P);
    CHECK(c.local_rank >= 0 && c.local_rank < c.local_world && c.local_world <= P);
    if (argc > 1)
        CHECK_MSG(P == atoi(argv[1]), "world %d, expected %s", P, argv[1]);

    float v[3] = {(float)r, 1.0f, (float)(r * r)};
    CHECK(stc_comm_allreduce_sum_f32(&c, v, 3) == 0);
    CHECK(v[0] == (float)(P * (P - 1) / 2) && v[1] == (float)P);
    double d = 0.5 * r;
    CHECK(stc_comm_allreduce_sum_f64(&c, &d, 1) == 0);
    CHECK(d == 0.25 * P * (P - 1));

    float in[2] = {(float)r, (float)(10 * r)};
    float *out = calloc(2 * (size_t)P, sizeof *out);
    CHECK(stc_comm_allgather_f32(&c, out, in, 2) == 0);
    for (int k = 0; k < P; k++)
        CHECK(out[2 * k] == (float)k && out[2 * k + 1] == (float)(10 * k));
    free(out);
    double din[3] = {r + 0.25, -1.0 * r, 1e300}, *dout = calloc(3 * (size_t)P, sizeof *dout);
    CHECK(stc_comm_allgather_f64(&c, dout, din, 3) == 0);
    for (int k = 0; k < P; k++)
        CHECK(dout[3 * k] == k + 0.25 && dout[3 * k + 1] == -1.0 * k && dout[3 * k + 2] == 1e300);
    free(dout);

    /* The block partition: contiguous, in rank order, covering [0, n),
     * aligned but for the end, as even as the alignment allows. */
    static const size_t sizes[] = {0, 1, 15, 16, 17, 33, 47, 100, 1001, 4099};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t n = sizes[si], next = 0, lo = (size_t)-1, hi = 0;
        for (int q = 0; q < P; q++) {
            size_t b, k;
            stc_comm_block(n, P, q, &b, &k);
            CHECK_MSG(b == next && (b % STC_COMM_BLOCK_ALIGN == 0 || k == 0), "n %zu rank %d: [%zu, +%zu)", n, q, b, k);
            next = b + k;
            lo = k < lo ? k : lo;
            hi = k > hi ? k : hi;
        }
        CHECK_MSG(next == n, "n %zu: blocks end at %zu", n, next);
        CHECK_MSG(hi - lo <= STC_COMM_BLOCK_ALIGN, "n %zu: blocks from %zu to %zu", n, lo, hi);
    }

    /* Reduce-scatter and the sharded allgather on uneven slabs: rank q
     * contributes in[i] = i + 1000 q (exact in float), so block sums are
     * known; then each rank writes i * 3 + 1 into its own block and the
     * allgather must give every rank the whole slab. Equal blocks too. */
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t n = sizes[si], b, k;
        stc_comm_block(n, P, r, &b, &k);
        float *slab = malloc(sizeof(float) * (n + 1)), *own = malloc(sizeof(float) * (k + 1));
        for (size_t i = 0; i < n; i++)
            slab[i] = (float)i + 1000.0f * (float)r;
        CHECK(stc_comm_reduce_scatter_block_sum_f32(&c, own, slab, n) == 0);
        int ok = 1;
        for (size_t i = 0; i < k; i++)
            ok &= own[i] == (float)P * (float)(b + i) + 1000.0f * (float)(P * (P - 1) / 2);
        CHECK_MSG(ok, "reduce_scatter_block n %zu rank %d", n, r);
        for (size_t i = 0; i < n; i++)
            slab[i] = -1.0f;
        for (size_t i = 0; i < k; i++)
            slab[b + i] = (float)(b + i) * 3.0f + 1.0f;
        CHECK(stc_comm_allgather_block_f32(&c, slab, n) == 0);
        ok = 1;
        for (size_t i = 0; i < n; i++)
            ok &= slab[i] == (float)i * 3.0f + 1.0f;
        CHECK_MSG(ok, "allgather_block n %zu rank %d", n, r);
        free(slab);
        free(own);

        float *all = malloc(sizeof(float) * (n * (size_t)P + 1)), *mine = malloc(sizeof(float) * (n + 1));
        for (size_t i = 0; i < n * (size_t)P; i++)
            all[i] = (float)i + 1000.0f * (float)r;
        CHECK(stc_comm_reduce_scatter_sum_f32(&c, mine, all, n) == 0);
        ok = 1;
        for (size_t i = 0; i < n; i++)
            ok &= mine[i] == (float)P * (float)((size_t)r * n + i) + 1000.0f * (float)(P * (P - 1) / 2);
        CHECK_MSG(ok, "reduce_scatter n %zu rank %d", n, r);
        free(all);
        free(mine);
    }

    char msg[16] = "";
    if (r == 0)
        strcpy(msg, "from rank 0");
    CHECK(stc_comm_broadcast(&c, msg, sizeof msg, 0) == 0);
    CHECK(strcmp(msg, "from rank 0") == 0);
    CHECK(stc_comm_barrier(&c) == 0);

    /* The watchdog: with STC_TEST_HANG set, the last rank stalls and the
     * others' collective (a barrier; STC_TEST_HANG=reduce_scatter or
     * allgather: the sharded-slab collectives) must end the job within the
     * timeout (see tests/cmake/dist.cmake). */
    const char *hang = getenv("STC_TEST_HANG");
    if (hang) {
        stc_comm_set_timeout(&c, 1.0);
        stc_comm_set_step(7);
        if (r == P - 1)
            sleep(30);
        float slab[64] = {0}, own[64];
        if (!strcmp(hang, "reduce_scatter"))
            stc_comm_reduce_scatter_block_sum_f32(&c, own, slab, 64);
        else if (!strcmp(hang, "allgather"))
            stc_comm_allgather_block_f32(&c, slab, 64);
        else
            stc_comm_barrier(&c);
        fprintf(stderr, "rank %d: the collective returned; the watchdog did not fire\n", r);
        return 1;
    }

    char name[32];
    snprintf(name, sizeof name, "test_dist rank %d/%d", r, P);
    int rc = check_report(name);
    stc_comm_finalize(&c);
    return rc;
}
