/*
 * What the samplers need to know about the training datasets
 * (data/sampler.h's stc_sampler_dataset): row counts always; the hashes of
 * every row's texts for no_duplicates; every row's label for group_by_label.
 * Hashes and labels need one pass over a dataset, so they are computed only
 * for the sampler that reads them.
 */
#ifndef STC_TRAINER_SAMPLER_INPUTS_H
#define STC_TRAINER_SAMPLER_INPUTS_H

#include "data/dataset.h"
#include "data/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n;
    stc_sampler_dataset *sds; /* (n) */
    uint64_t **hashes;        /* (n) owned, or NULL */
    double **labels;          /* (n) owned, or NULL */
} stc_sampler_inputs;

/* need_hashes / need_labels: what the configured batch sampler reads. */
int stc_sampler_inputs_build(stc_sampler_inputs *in, stc_dataset *const *dss, const char *const *names, int n,
                             int need_hashes, int need_labels);
void stc_sampler_inputs_free(stc_sampler_inputs *in);

#ifdef __cplusplus
}
#endif

#endif
