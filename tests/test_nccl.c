/*
 * The NCCL transport (dist/nccl/comm_nccl.h) against the MPI one as oracle:
 * all-reduce, all-gather, reduce-scatter and broadcast of device buffers
 * give what the MPI collectives give on the same host data, and
 * stc_nccl_sync returns once the stream is done. One rank per GPU (NCCL
 * refuses two ranks on one device): run under mpirun -np <GPUs>.
 * Without a CUDA GPU it prints why and exits 77 (ctest: skipped).
 */
#include "dist/comm.h"
#include "dist/nccl/comm_nccl.h"
#include "util/error.h"

#include "check.h"

#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>

enum { N = 1000003 }; /* odd, and large enough for NCCL's multi-chunk paths */

static float *to_device(const float *h, size_t n)
{
    float *d = NULL;
    if (cudaMalloc((void **)&d, n * sizeof(float)) != cudaSuccess)
        return NULL;
    cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice);
    return d;
}

static void from_device(float *h, const float *d, size_t n)
{
    cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost);
}

static int same(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    stc_comm c;
    if (stc_comm_init(&c, &argc, &argv)) {
        fprintf(stderr, "%s\n", stc_error_message());
        return 1;
    }
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        if (c.rank == 0)
            printf("test_nccl: skipped: no CUDA GPU on this machine (the NCCL transport runs on GPU ranks only)\n");
        stc_comm_finalize(&c);
        return 77;
    }
    if (c.local_world > n_dev) {
        if (c.rank == 0)
            printf("test_nccl: skipped: %d ranks on a node with %d GPUs (NCCL needs one GPU per rank)\n",
                   c.local_world, n_dev);
        stc_comm_finalize(&c);
        return 77;
    }
    stc_nccl *nc;
    if (stc_nccl_init(&nc, &c, c.local_rank, 60.0)) {
        fprintf(stderr, "rank %d: %s\n", c.rank, stc_error_message());
        return 1;
    }
    size_t W = (size_t)c.world;
    float *h = malloc(sizeof(float) * N * W), *want = malloc(sizeof(float) * N * W),
          *got = malloc(sizeof(float) * N * W);
    /* Small integers in float: sums are exact in any order, so the two
     * transports must agree bit for bit. */
    for (size_t i = 0; i < N * W; i++)
        h[i] = (float)((i * 7 + (size_t)c.rank * 13) % 97) - 48.0f;

    /* all-reduce */
    memcpy(want, h, sizeof(float) * N);
    stc_comm_allreduce_sum_f32(&c, want, N);
    float *d = to_device(h, N);
    CHECK(d && stc_nccl_allreduce_sum_f32(nc, d, N, NULL) == 0 && stc_nccl_sync(nc, NULL, "allreduce") == 0);
    from_device(got, d, N);
    CHECK_MSG(same(got, want, N), "allreduce differs from MPI's");
    cudaFree(d);

    /* all-gather */
    stc_comm_allgather_f32(&c, want, h, N);
    float *din = to_device(h, N), *dout = NULL;
    cudaMalloc((void **)&dout, sizeof(float) * N * W);
    CHECK(stc_nccl_allgather_f32(nc, dout, din, N, NULL) == 0 && stc_nccl_sync(nc, NULL, "allgather") == 0);
    from_device(got, dout, N * W);
    CHECK_MSG(same(got, want, N * W), "allgather differs from MPI's");
    cudaFree(din);
    cudaFree(dout);

    /* reduce-scatter: the rank's block of the all-reduce of N * W values */
    memcpy(want, h, sizeof(float) * N * W);
    stc_comm_allreduce_sum_f32(&c, want, N * W);
    din = to_device(h, N * W);
    cudaMalloc((void **)&dout, sizeof(float) * N);
    CHECK(stc_nccl_reduce_scatter_sum_f32(nc, dout, din, N, NULL) == 0 &&
          stc_nccl_sync(nc, NULL, "reduce_scatter") == 0);
    from_device(got, dout, N);
    CHECK_MSG(same(got, want + (size_t)c.rank * N, N), "reduce_scatter differs from MPI's");
    cudaFree(din);
    cudaFree(dout);

    /* broadcast from the last rank */
    int root = c.world - 1;
    memcpy(want, h, sizeof(float) * N);
    stc_comm_broadcast(&c, want, sizeof(float) * N, root);
    d = to_device(h, N);
    CHECK(stc_nccl_broadcast(nc, d, sizeof(float) * N, root, NULL) == 0 && stc_nccl_sync(nc, NULL, "broadcast") == 0);
    from_device(got, d, N);
    CHECK_MSG(same(got, want, N), "broadcast differs from MPI's");
    cudaFree(d);

    stc_nccl_free(nc);
    free(h);
    free(want);
    free(got);
    int rc = check_report("test_nccl");
    stc_comm_finalize(&c);
    return rc;
}
