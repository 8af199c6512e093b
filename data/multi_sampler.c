/*
 * The built-in multi-dataset samplers (ST_SPEC.md section 4): which dataset
 * each global batch of the epoch comes from. proportional uses every batch
 * of every dataset once, in a shuffled order; round_robin takes one batch of
 * each dataset in turn until the first runs out. They only order dataset
 * ids; stc_sampler_plan_epoch hands each id that dataset's next batch.
 */
#include "data/sampler.h"
#include "data/sampler_internal.h"
#include "util/error.h"

/* [0]*len0 + [1]*len1 + ... shuffled (Fisher-Yates, stc_rng_shuffle_i32):
 * a uniformly random order of the multiset, like Python's
 * SubsetRandomSampler over that list. */
static int plan_proportional(const void *state, const stc_sampler_epoch *ep, stc_rng *rng,
                             stc_dataset_order *out)
{
    (void)state;
    size_t total = 0;
    for (int k = 0; k < ep->n_datasets; k++)
        total += ep->n_batches[k];
    int rc = stc_dataset_order_reserve(out, total);
    if (rc)
        return rc;
    for (int k = 0; k < ep->n_datasets; k++)
        for (size_t b = 0; b < ep->n_batches[k]; b++)
            out->ids[out->n++] = k;
    stc_rng_shuffle_i32(rng, out->ids, out->n);
    return 0;
}

const stc_sampler_ops stc_sampler_builtin_proportional = {
    .name = "proportional",
    .kind = STC_SAMPLER_MULTI,
    .plan_order = plan_proportional,
};

/* Rounds 0, 1, ..., K-1 while every dataset has a batch left: Python's
 * zip(*samplers) stops at the first exhausted one, so min(len_k) * K
 * batches. No randomness of its own. */
static int plan_round_robin(const void *state, const stc_sampler_epoch *ep, stc_rng *rng,
                            stc_dataset_order *out)
{
    (void)state;
    (void)rng;
    size_t rounds = ep->n_batches[0];
    for (int k = 1; k < ep->n_datasets; k++)
        if (ep->n_batches[k] < rounds)
            rounds = ep->n_batches[k];
    int rc = stc_dataset_order_reserve(out, rounds * (size_t)ep->n_datasets);
    if (rc)
        return rc;
    for (size_t r = 0; r < rounds; r++)
        for (int k = 0; k < ep->n_datasets; k++)
            out->ids[out->n++] = k;
    return 0;
}

const stc_sampler_ops stc_sampler_builtin_round_robin = {
    .name = "round_robin",
    .kind = STC_SAMPLER_MULTI,
    .plan_order = plan_round_robin,
};
