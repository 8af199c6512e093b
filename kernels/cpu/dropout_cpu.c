/* Counter-based dropout on the CPU (see kernels/dropout.h). */
#include "kernels/dropout.h"

uint64_t stc_dropout_site_seed(uint64_t run_seed, int rank, uint64_t step, int site)
{
    /* Mix each coordinate through the generator so nearby values diverge. */
    uint64_t s = run_seed;
    s = (uint64_t)(stc_dropout_uniform(s, (uint64_t)rank) * 16777216.0f) ^ (s << 24) ^ ((uint64_t)rank << 48);
    s = s * 0xD1B54A32D192ED03ull + step;
    s = s * 0xD1B54A32D192ED03ull + (uint64_t)site;
    return s;
}

void stc_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed, uint64_t offset)
{
    if (p <= 0.0f) {
        if (out != inp)
            for (size_t i = 0; i < n; i++)
                out[i] = inp[i];
        return;
    }
    float scale = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++)
        out[i] = stc_dropout_uniform(seed, offset + i) >= p ? inp[i] * scale : 0.0f;
}

void stc_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed, uint64_t offset)
{
    stc_dropout_forward(dinp, dout, n, p, seed, offset);
}
