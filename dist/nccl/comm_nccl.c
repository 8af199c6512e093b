/* The NCCL transport (see comm_nccl.h). */
#include "dist/nccl/comm_nccl.h"
#include "util/clock.h"
#include "util/error.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct stc_nccl {
    ncclComm_t comm;
    int rank, world, device;
    double timeout_s;
    int aborted;
};

static int nccl_fail(ncclResult_t r, const char *what)
{
    return stc_errorf(r == ncclRemoteError || r == ncclSystemError ? STC_ERR_PEER : STC_ERR_INTERNAL, "%s: %s",
                      what, ncclGetErrorString(r));
}

static int cuda_fail(cudaError_t e, const char *what)
{
    return stc_errorf(STC_ERR_INTERNAL, "%s: %s", what, cudaGetErrorString(e));
}

int stc_nccl_init(stc_nccl **out, const stc_comm *c, int device, double timeout_s)
{
    *out = NULL;
    int n_dev = 0;
    cudaError_t ce = cudaGetDeviceCount(&n_dev);
    if (ce != cudaSuccess)
        return cuda_fail(ce, "cudaGetDeviceCount");
    if (device < 0 || device >= n_dev)
        return stc_errorf(STC_ERR_USAGE, "rank %d: GPU %d requested but this node has %d", c->rank, device, n_dev);
    if ((ce = cudaSetDevice(device)) != cudaSuccess)
        return cuda_fail(ce, "cudaSetDevice");
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    ncclResult_t r;
    if (c->rank == 0 && (r = ncclGetUniqueId(&id)) != ncclSuccess)
        return nccl_fail(r, "ncclGetUniqueId");
    int rc = stc_comm_broadcast(c, &id, sizeof id, 0);
    if (rc)
        return rc;
    stc_nccl *n = calloc(1, sizeof *n);
    if (!n)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    n->rank = c->rank;
    n->world = c->world;
    n->device = device;
    n->timeout_s = timeout_s;
    if ((r = ncclCommInitRank(&n->comm, c->world, id, c->rank)) != ncclSuccess) {
        free(n);
        return nccl_fail(r, "ncclCommInitRank");
    }
    *out = n;
    return 0;
}

void stc_nccl_free(stc_nccl *n)
{
    if (!n)
        return;
    if (!n->aborted)
        ncclCommDestroy(n->comm);
    free(n);
}

int stc_nccl_allreduce_sum_f32(stc_nccl *n, float *buf, size_t count, void *stream)
{
    ncclResult_t r = ncclAllReduce(buf, buf, count, ncclFloat32, ncclSum, n->comm, (cudaStream_t)stream);
    return r == ncclSuccess ? 0 : nccl_fail(r, "ncclAllReduce");
}

int stc_nccl_allgather_f32(stc_nccl *n, float *out, const float *in, size_t count, void *stream)
{
    ncclResult_t r = ncclAllGather(in, out, count, ncclFloat32, n->comm, (cudaStream_t)stream);
    return r == ncclSuccess ? 0 : nccl_fail(r, "ncclAllGather");
}

int stc_nccl_reduce_scatter_sum_f32(stc_nccl *n, float *out, const float *in, size_t count, void *stream)
{
    ncclResult_t r = ncclReduceScatter(in, out, count, ncclFloat32, ncclSum, n->comm, (cudaStream_t)stream);
    return r == ncclSuccess ? 0 : nccl_fail(r, "ncclReduceScatter");
}

int stc_nccl_broadcast(stc_nccl *n, void *buf, size_t bytes, int root, void *stream)
{
    ncclResult_t r = ncclBroadcast(buf, buf, bytes, ncclUint8, root, n->comm, (cudaStream_t)stream);
    return r == ncclSuccess ? 0 : nccl_fail(r, "ncclBroadcast");
}

int stc_nccl_sync(stc_nccl *n, void *stream, const char *what)
{
    double t0 = stc_now_s();
    struct timespec nap = {0, 50000}; /* 50 us: short against a collective, cheap on the CPU */
    for (;;) {
        cudaError_t e = cudaStreamQuery((cudaStream_t)stream);
        if (e == cudaSuccess)
            return 0;
        if (e != cudaErrorNotReady)
            return cuda_fail(e, what);
        ncclResult_t async = ncclSuccess;
        ncclResult_t r = ncclCommGetAsyncError(n->comm, &async);
        if (r != ncclSuccess || async != ncclSuccess) {
            ncclCommAbort(n->comm);
            n->aborted = 1;
            return nccl_fail(r != ncclSuccess ? r : async, what);
        }
        double waited = stc_now_s() - t0;
        if (n->timeout_s > 0 && waited > n->timeout_s) {
            /* Aborting frees the kernels stuck waiting for the peer. */
            ncclCommAbort(n->comm);
            n->aborted = 1;
            return stc_errorf(STC_ERR_PEER, "rank %d: %s (NCCL, GPU %d) timed out after %.0f s", n->rank, what,
                              n->device, waited);
        }
        nanosleep(&nap, NULL);
    }
}
