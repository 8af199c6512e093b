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

    char msg[16] = "";
    if (r == 0)
        strcpy(msg, "from rank 0");
    CHECK(stc_comm_broadcast(&c, msg, sizeof msg, 0) == 0);
    CHECK(strcmp(msg, "from rank 0") == 0);
    CHECK(stc_comm_barrier(&c) == 0);

    /* The watchdog: with STC_TEST_HANG set, the last rank stalls and the
     * others' barrier must end the job within the timeout (see
     * tests/cmake/dist.cmake). */
    if (getenv("STC_TEST_HANG")) {
        stc_comm_set_timeout(&c, 1.0);
        stc_comm_set_step(7);
        if (r == P - 1)
            sleep(30);
        stc_comm_barrier(&c);
        fprintf(stderr, "rank %d: the barrier returned; the watchdog did not fire\n", r);
        return 1;
    }

    char name[32];
    snprintf(name, sizeof name, "test_dist rank %d/%d", r, P);
    int rc = check_report(name);
    stc_comm_finalize(&c);
    return rc;
}
