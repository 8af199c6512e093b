/*
 * Shared between the sampler files (not part of the public API): the
 * built-in samplers' ops, registry helpers for messages, and the SplitMix64
 * finalizer used both by the rng and by the hash sets.
 */
#ifndef STC_DATA_SAMPLER_INTERNAL_H
#define STC_DATA_SAMPLER_INTERNAL_H

#include "data/sampler.h"

#include <stdio.h>

/* data/batch_sampler.c, data/no_duplicates.c */
extern const stc_sampler_ops stc_sampler_builtin_batch;
extern const stc_sampler_ops stc_sampler_builtin_no_duplicates;
extern const stc_sampler_ops stc_sampler_builtin_no_duplicates_hashed;
extern const stc_sampler_ops stc_sampler_builtin_group_by_label;
/* data/multi_sampler.c */
extern const stc_sampler_ops stc_sampler_builtin_proportional;
extern const stc_sampler_ops stc_sampler_builtin_round_robin;

/* data/sampler_registry.c: writes "a, b, c" (the names of this kind) into
 * buf, for error messages. */
void stc_sampler_list_names(stc_sampler_kind kind, char *buf, size_t size);
/* A registration error kept from before main() (0 if none); records the
 * message again when there is one. */
int stc_sampler_startup_error(void);

/* The SplitMix64 / MurmurHash3 64-bit finalizer: a bijective mix. */
/* 2^64 / golden ratio: the rng's increment and a hash multiplier. */
#define STC_GOLDEN 0x9E3779B97F4A7C15ull

static inline uint64_t stc_sampler_fmix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The dataset's name for messages ("dataset K" when it has none). */
static inline const char *stc_sampler_ds_name(const stc_sampler_dataset *d, int k, char buf[32])
{
    if (d->name && d->name[0])
        return d->name;
    snprintf(buf, 32, "dataset %d", k);
    return buf;
}

#endif
