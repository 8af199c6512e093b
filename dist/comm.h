/*
 * The communicator: who this rank is (world size, rank, local rank on its
 * node) and the collectives training and encoding need. This first version
 * has the MPI transport for CPU buffers; NCCL for device buffers joins it
 * behind the same calls (DESIGN.md, dist/).
 *
 * Launched without mpirun, a process is a world of one: MPI is still
 * initialised (Open MPI's singleton mode), so every code path is the same.
 */
#ifndef STC_DIST_COMM_H
#define STC_DIST_COMM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int rank;        /* in MPI_COMM_WORLD */
    int world;       /* ranks in MPI_COMM_WORLD */
    int local_rank;  /* among the ranks on this node (device binding) */
    int local_world; /* ranks on this node */
    void *local_comm; /* MPI_Comm of this node's ranks (opaque here) */
} stc_comm;

/* Initialises MPI (if not yet) and fills c. */
int stc_comm_init(stc_comm *c, int *argc, char ***argv);
/* Frees the node communicator and finalises MPI. */
int stc_comm_finalize(stc_comm *c);

/* In-place sums across all ranks (identical order on every rank, so every
 * rank gets bit-identical results). */
int stc_comm_allreduce_sum_f32(const stc_comm *c, float *buf, size_t n);
int stc_comm_allreduce_sum_f64(const stc_comm *c, double *buf, size_t n);

/* In-place element-wise minimum / maximum across all ranks. */
int stc_comm_allreduce_min_f32(const stc_comm *c, float *buf, size_t n);
int stc_comm_allreduce_max_f32(const stc_comm *c, float *buf, size_t n);

/* out[world * n] = every rank's in[n], in rank order. */
int stc_comm_allgather_f32(const stc_comm *c, float *out, const float *in, size_t n);
int stc_comm_allgather_f64(const stc_comm *c, double *out, const double *in, size_t n);

/*
 * Sharded slabs (ZeRO-1 optimizer step): a slab of n elements is cut into
 * world contiguous blocks in rank order by one partition function that
 * every rank (and every collective below) computes identically. Blocks are
 * as even as possible in units of STC_COMM_BLOCK_ALIGN elements (64 bytes of
 * float32: no two ranks' blocks share a cache line, and device copies stay
 * aligned); the last rank's block ends at n, and a slab of fewer units than
 * ranks leaves some blocks empty. Each reduced element has one owner, so a
 * sharded step cannot diverge across ranks by reduction order.
 */
#define STC_COMM_BLOCK_ALIGN 16
void stc_comm_block(size_t n, int world, int rank, size_t *begin, size_t *count);

/* Reduce-scatter, equal blocks: in[world * n] on every rank; out[n] gets
 * the sum over ranks of block `rank` of in. out and in may not overlap. */
int stc_comm_reduce_scatter_sum_f32(const stc_comm *c, float *out, const float *in, size_t n);

/* Reduce-scatter over stc_comm_block's partition of an n-element slab:
 * out[count] (this rank's block's size) gets the sum over ranks of this
 * rank's block of in[n]. out and in may not overlap. */
int stc_comm_reduce_scatter_block_sum_f32(const stc_comm *c, float *out, const float *in, size_t n);

/* The inverse for a sharded slab, in place: each rank's block (stc_comm_block)
 * of buf[n] is copied into every other rank's buf (MPI_Allgatherv), so every
 * rank ends with the same n elements. */
int stc_comm_allgather_block_f32(const stc_comm *c, float *buf, size_t n);

int stc_comm_broadcast(const stc_comm *c, void *buf, size_t bytes, int root);
int stc_comm_barrier(const stc_comm *c);

/* Gathers every rank's n bytes on root: there *out is a malloc'd buffer of
 * the ranks' bytes in rank order and sizes[r] (world entries) each rank's
 * count; elsewhere out and sizes are untouched. Each rank's n < 2 GiB. */
int stc_comm_gather_bytes(const stc_comm *c, const void *in, size_t n, int root, void **out, size_t *sizes);

/* Ends every rank with exit code `code` (MPI_Abort); used by the entry point
 * only, after printing the reason. */
void stc_comm_abort(int code);

/* The collectives' deadline (RELIABILITY.md, "exit, never hang"): a watchdog
 * thread ends the job when one collective call of this rank has waited more
 * than `seconds` (a peer died or hangs), printing
 * "rank R: <collective> at step S timed out after T s" and calling
 * MPI_Abort with STC_ERR_PEER. 0 disables it. The trainer passes
 * ddp_timeout and updates the step. Every collective above runs under it,
 * each piece of one too large for MPI's int counts (those go in pieces)
 * separately. */
int stc_comm_set_timeout(const stc_comm *c, double seconds);
void stc_comm_set_step(long long step);

#ifdef __cplusplus
}
#endif

#endif
