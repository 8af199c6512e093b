/*
 * The NCCL transport of the communicator: the same collectives as
 * dist/comm.h, on device buffers of GPU ranks (DESIGN.md, dist/). Built
 * only where the CUDA toolkit and NCCL are found (STC_HAVE_NCCL).
 *
 * The NCCL unique id is created by rank 0 and broadcast over MPI, so the
 * job's MPI launch is all NCCL needs. Collectives are enqueued on the
 * caller's CUDA stream and return at once (NCCL's model); stc_nccl_sync
 * waits for the stream with the same deadline as the MPI collectives: a
 * peer that died or hangs makes it abort the NCCL communicator and return
 * STC_ERR_PEER naming the collective ("exit, never hang": RELIABILITY.md),
 * instead of blocking in cudaStreamSynchronize forever.
 */
#ifndef STC_DIST_NCCL_COMM_NCCL_H
#define STC_DIST_NCCL_COMM_NCCL_H

#include "dist/comm.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct stc_nccl stc_nccl;

/* Binds this rank to GPU `device` (cudaSetDevice) and joins the job's NCCL
 * communicator (every rank of c calls it). timeout_s: the deadline of
 * stc_nccl_sync (0: none). */
int stc_nccl_init(stc_nccl **out, const stc_comm *c, int device, double timeout_s);
void stc_nccl_free(stc_nccl *n);

/* Enqueue on `stream` (a cudaStream_t; NULL = the default stream). Buffers
 * are device memory. In place is allowed where NCCL allows it. */
int stc_nccl_allreduce_sum_f32(stc_nccl *n, float *buf, size_t count, void *stream);
/* out[world * count] = every rank's in[count], in rank order. */
int stc_nccl_allgather_f32(stc_nccl *n, float *out, const float *in, size_t count, void *stream);
/* out[count] = the sum over ranks of in[rank * count .. (rank + 1) * count). */
int stc_nccl_reduce_scatter_sum_f32(stc_nccl *n, float *out, const float *in, size_t count, void *stream);
int stc_nccl_broadcast(stc_nccl *n, void *buf, size_t bytes, int root, void *stream);

/* Waits until `stream` has run everything enqueued, polling NCCL for
 * asynchronous errors; `what` names the collective in messages. */
int stc_nccl_sync(stc_nccl *n, void *stream, const char *what);

#ifdef __cplusplus
}
#endif

#endif
