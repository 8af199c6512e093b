/* model/pooling: backward of every mode (and of all modes at once, with
 * prompt tokens masked) against central finite differences of forward. */
#include "model/pooling.h"
#include "tests/check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s = 88172645463325252ull;
static float frand(void)
{
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    return (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* loss = sum(pool(tok) * R); compares d_tok with finite differences. */
static void check_mode(stc_pooling p, const char *name)
{
    int C = 5, B = 3;
    int cu[4] = {0, 4, 5, 11};
    int skip[3] = {2, 0, 3};
    int T = cu[B], dim = stc_pooling_dim(&p);
    float *tok = malloc(sizeof(float) * T * C), *d_tok = malloc(sizeof(float) * T * C);
    float *R = malloc(sizeof(float) * B * dim), *out = malloc(sizeof(float) * B * dim);
    for (int i = 0; i < T * C; i++)
        tok[i] = frand();
    for (int i = 0; i < B * dim; i++)
        R[i] = frand();
    stc_pooling_backward(&p, d_tok, R, tok, cu, skip, B, C);
    double worst = 0;
    for (int i = 0; i < T * C; i++) {
        /* Pooling is piecewise linear: a step of 1e-3 stays inside one
         * piece for max pooling on random data, so FD is exact to
         * rounding. */
        float keep = tok[i];
        double lp = 0, lm = 0;
        tok[i] = keep + 1e-3f;
        stc_pooling_forward(&p, out, tok, cu, skip, B, C);
        for (int k = 0; k < B * dim; k++)
            lp += (double)out[k] * R[k];
        tok[i] = keep - 1e-3f;
        stc_pooling_forward(&p, out, tok, cu, skip, B, C);
        for (int k = 0; k < B * dim; k++)
            lm += (double)out[k] * R[k];
        tok[i] = keep;
        double fd = (lp - lm) / (2e-3);
        worst = fmax(worst, fabs(fd - d_tok[i]));
    }
    CHECK_MSG(worst < 2e-3, "%s: backward vs finite differences %.3g", name, worst);
    free(tok); free(d_tok); free(R); free(out);
}

int main(void)
{
    stc_pooling base = {.word_embedding_dimension = 5, .include_prompt = 1};
    const char *names[] = {"cls", "max", "mean", "mean_sqrt_len", "weightedmean", "lasttoken"};
    for (int m = 0; m < 6; m++) {
        for (int inc = 0; inc < 2; inc++) {
            stc_pooling p = base;
            p.include_prompt = inc;
            int *f[] = {&p.cls, &p.max, &p.mean, &p.mean_sqrt_len, &p.weightedmean, &p.lasttoken};
            *f[m] = 1;
            check_mode(p, names[m]);
        }
    }
    stc_pooling all = base;
    all.cls = all.max = all.mean = all.mean_sqrt_len = all.weightedmean = all.lasttoken = 1;
    all.include_prompt = 0;
    check_mode(all, "all modes, prompt masked");
    CHECK(stc_pooling_dim(&all) == 30);
    return check_report("test_pooling");
}
