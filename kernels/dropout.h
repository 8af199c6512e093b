/*
 * Dropout with a counter-based random stream: the keep/drop decision of
 * element i is a pure function of (seed, offset + i), so backward, GradCache's
 * second pass and a resumed run regenerate exactly the masks forward used,
 * without storing them, and results do not depend on thread count.
 *
 * Semantics as torch.nn.Dropout in training: keep with probability 1 - p,
 * scale kept values by 1 / (1 - p).
 */
#ifndef STC_KERNELS_DROPOUT_H
#define STC_KERNELS_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A uniform float in [0, 1) for counter `ctr` of stream `seed`
 * (SplitMix64 finaliser over the pair: statistically strong and cheap). */
static inline float stc_dropout_uniform(uint64_t seed, uint64_t ctr)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + ctr + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

/* Derives the seed of one dropout site (layer, place) at one training step
 * from the run's seed and rank: sites and steps never share masks. */
uint64_t stc_dropout_site_seed(uint64_t run_seed, int rank, uint64_t step, int site);

/* out[i] = keep(i) ? inp[i] / (1 - p) : 0, keep(i) = uniform(seed, offset + i) >= p.
 * p == 0 copies; out may alias inp. */
void stc_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed, uint64_t offset);

/* dinp[i] = keep(i) ? dout[i] / (1 - p) : 0 (assigned; dinp may alias dout). */
void stc_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed, uint64_t offset);

#ifdef __cplusplus
}
#endif

#endif
