/*
 * The optimizer step of data-parallel training: each rank's gradient slab
 * averaged over ranks, clipped by the global norm (torch's clip_grad_norm_),
 * AdamW, and every rank left with the same weights; the step's scalars
 * (loss, named loss components) averaged alongside.
 *
 * On one rank this is the plain step: clip_grad_norm_ over the slab, AdamW
 * over the slab (optimizer.h), nothing else.
 *
 * On P > 1 ranks it is sharded (ZeRO-1): the parameter slab is cut into P
 * contiguous blocks (dist/comm.h, stc_comm_block), rank r owns block r and
 * the AdamW moments of block r only. A step is
 *   1. reduce-scatter of the gradient slab: rank r gets the sum over ranks
 *      of block r;
 *   2. one all-reduce of a few doubles: the scalars, and each rank's sum of
 *      squares of its averaged block (in its own slot, so every rank adds the
 *      same numbers in the same order: the norm is bit-identical everywhere);
 *   3. if the loss and the norm are finite, AdamW over block r with the
 *      gradient read as (sum * 1/P) * clip coefficient (the same float
 *      roundings as DDP's average and torch's in-place clip);
 *   4. all-gather of the updated blocks into every rank's parameter slab.
 * Every rank decides to skip a non-finite step from the same reduced
 * numbers, so all skip together and none reaches step 4.
 * The communication is that of one all-reduce (a reduce-scatter plus an
 * all-gather), and the optimizer's memory traffic and state are 1/P each.
 */
#ifndef STC_TRAINER_DP_STEP_H
#define STC_TRAINER_DP_STEP_H

#include <stddef.h>

#include "dist/comm.h"
#include "model/params.h"
#include "trainer/optimizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scalars a step can average across ranks (the loss and its components). */
#define STC_DP_MAX_SCALARS 16

typedef struct {
    const stc_comm *comm;     /* borrowed */
    size_t total;             /* elements of the parameter slab */
    size_t begin, count;      /* this rank's block of it (the whole slab on one rank) */
    float *grad_shard;        /* (count) the block's gradient summed over ranks (P > 1) */
    double *red;              /* (STC_DP_MAX_SCALARS + P) what step 2 all-reduces */
    /* Seconds spent so far in each phase, for STC_PROFILE (train.c). */
    double t_reduce;          /* reduce-scatter and the scalars' all-reduce (incl. waiting for peers) */
    double t_update;          /* norm and AdamW over this rank's block */
    double t_gather;          /* all-gather of the parameters */
} stc_dp_step;

/* This rank's block of a slab of `total` elements, and its buffers. */
int stc_dp_step_init(stc_dp_step *s, const stc_comm *comm, size_t total);
void stc_dp_step_free(stc_dp_step *s);

/*
 * One optimizer step. opt was made for this rank's block
 * (stc_adamw_init_shard with s->begin, s->count; or stc_adamw_init on one
 * rank) over one source, params' slab; grads is this rank's gradient slab
 * (read, and on one rank clipped in place); has_grad as optimizer.h.
 * scalars[0] is this rank's loss, scalars[1..n) anything else to average:
 * all are replaced by their mean over ranks. *norm gets the total norm
 * before clipping, *updated 1 if the step was applied, 0 if skipped (a
 * non-finite loss or norm).
 */
int stc_dp_step_run(stc_dp_step *s, stc_adamw *opt, stc_param_table *params, const float *grads,
                    const unsigned char *has_grad, double *scalars, int n_scalars, double max_norm,
                    double lr_factor, double *norm, int *updated);

#ifdef __cplusplus
}
#endif

#endif
