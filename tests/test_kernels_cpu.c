/*
 * CPU kernels against naive float64 references on random, odd shapes. The
 * attention reference is the padded formulation Hugging Face runs (every
 * sequence padded to the longest, additive -inf mask on padded keys), which
 * proves the packed layout computes the same thing. Attention-probability
 * dropout: the reference applies the mask ops.h documents (counter = the
 * element's att offset), and the drop rate measured from the kernel's output
 * is p.
 */
#include "kernels/dropout.h"
#include "kernels/ops.h"
#include "tests/check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static float *rand_buf(size_t n, float scale)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        p[i] = scale * frand();
    return p;
}

static double max_diff(const float *a, const double *b, size_t n)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++)
        w = fmax(w, fabs((double)a[i] - b[i]));
    return w;
}

static void test_matmul(const stc_ops *ops, int N, int C, int OC, int with_bias)
{
    float *x = rand_buf((size_t)N * C, 1.0f), *w = rand_buf((size_t)OC * C, 0.5f), *b = rand_buf((size_t)OC, 1.0f);
    float *out = malloc(sizeof(float) * (size_t)N * OC);
    double *ref = malloc(sizeof(double) * (size_t)N * OC);
    ops->matmul_forward(out, x, w, with_bias ? b : NULL, N, C, OC);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = with_bias ? b[o] : 0.0;
            for (int c = 0; c < C; c++)
                s += (double)x[(size_t)n * C + c] * w[(size_t)o * C + c];
            ref[(size_t)n * OC + o] = s;
        }
    double d = max_diff(out, ref, (size_t)N * OC);
    CHECK_MSG(d < 1e-4, "matmul N=%d C=%d OC=%d bias=%d: %.3g", N, C, OC, with_bias, d);
    free(x); free(w); free(b); free(out); free(ref);
}

static void test_layernorm(const stc_ops *ops, int N, int C)
{
    float *x = rand_buf((size_t)N * C, 3.0f), *w = rand_buf((size_t)C, 1.0f), *b = rand_buf((size_t)C, 1.0f);
    float *out = malloc(sizeof(float) * (size_t)N * C), *mean = malloc(sizeof(float) * N), *rstd = malloc(sizeof(float) * N);
    double *ref = malloc(sizeof(double) * (size_t)N * C);
    for (int n = 0; n < N; n++)
        x[(size_t)n * C] += 100.0f; /* a large offset: variance must be computed stably */
    ops->layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-12f);
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++)
            m += x[(size_t)n * C + c];
        m /= C;
        for (int c = 0; c < C; c++)
            v += (x[(size_t)n * C + c] - m) * (x[(size_t)n * C + c] - m);
        v /= C;
        for (int c = 0; c < C; c++)
            ref[(size_t)n * C + c] = (x[(size_t)n * C + c] - m) / sqrt(v + 1e-12) * w[c] + b[c];
        CHECK_NEAR(mean[n], m, 1e-4);
        CHECK_NEAR(rstd[n], 1.0 / sqrt(v + 1e-12), 1e-4);
    }
    CHECK_MSG(max_diff(out, ref, (size_t)N * C) < 1e-4, "layernorm N=%d C=%d", N, C);
    /* In place gives the same. */
    ops->layernorm_forward(x, NULL, NULL, x, w, b, N, C, 1e-12f);
    CHECK(memcmp(x, out, sizeof(float) * (size_t)N * C) == 0);
    free(x); free(w); free(b); free(out); free(mean); free(rstd); free(ref);
}

/* Attention forward against the padded float64 reference, with dropout
 * probability p (0: none) and seed. */
static void test_attention(const stc_ops *ops, const int *lens, int B, int C, int H, float p, uint64_t seed)
{
    int D = C / H, T = 0, maxL = 0;
    int *cu = malloc(sizeof(int) * (size_t)(B + 1));
    cu[0] = 0;
    for (int b = 0; b < B; b++) {
        T += lens[b];
        cu[b + 1] = T;
        maxL = lens[b] > maxL ? lens[b] : maxL;
    }
    float *qkv = rand_buf((size_t)T * 3 * C, 2.0f);
    float *out = malloc(sizeof(float) * (size_t)T * C);
    float *scratch = malloc(sizeof(float) * stc_attention_scratch_floats(maxL));
    size_t natt = 0;
    for (int b = 0; b < B; b++)
        natt += (size_t)H * lens[b] * lens[b];
    float *att = malloc(sizeof(float) * (natt ? natt : 1));
    double *ref = malloc(sizeof(double) * (size_t)T * C);
    double *s = malloc(sizeof(double) * (size_t)maxL);
    ops->attention_forward(out, NULL, qkv, cu, B, C, H, p, seed, scratch);
    size_t att_off = 0, dropped = 0; /* sequence b's offset in the att layout */
    double keep_scale = p > 0.0f ? 1.0 / (1.0 - (double)p) : 1.0;
    for (int b = 0; b < B; att_off += (size_t)H * lens[b] * lens[b], b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < lens[b]; i++) {
                /* Padded reference: keys j >= len get -inf (exp -> 0). */
                const float *q = qkv + (size_t)(cu[b] + i) * 3 * C + h * D;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < maxL; j++) {
                    if (j >= lens[b]) {
                        s[j] = -INFINITY;
                        continue;
                    }
                    const float *k = qkv + (size_t)(cu[b] + j) * 3 * C + C + h * D;
                    double d = 0;
                    for (int e = 0; e < D; e++)
                        d += (double)q[e] * k[e];
                    s[j] = d / sqrt((double)D);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < maxL; j++) {
                    s[j] = exp(s[j] - mx);
                    sum += s[j];
                }
                /* Dropout of probability (b, h, i, j), counter = its att offset. */
                for (int j = 0; j < lens[b]; j++) {
                    uint64_t ctr = att_off + ((size_t)h * lens[b] + i) * lens[b] + j;
                    int keep = p <= 0.0f || stc_dropout_uniform(seed, ctr) >= p;
                    s[j] = keep ? s[j] / sum * keep_scale : 0.0;
                    dropped += !keep;
                }
                for (int e = 0; e < D; e++) {
                    double o = 0;
                    for (int j = 0; j < lens[b]; j++)
                        o += s[j] * qkv[(size_t)(cu[b] + j) * 3 * C + 2 * C + h * D + e];
                    ref[(size_t)(cu[b] + i) * C + h * D + e] = o;
                }
            }
    double d = max_diff(out, ref, (size_t)T * C);
    CHECK_MSG(d < 1e-5, "attention B=%d C=%d H=%d p=%g: %.3g", B, C, H, p, d);
    if (p > 0.0f && natt >= 100)
        CHECK_MSG(dropped > 0, "attention p=%g dropped nothing", p);
    /* Saving probabilities for backward gives the same output, and rows of
     * the saved blocks sum to one. */
    float *out2 = malloc(sizeof(float) * (size_t)T * C);
    ops->attention_forward(out2, att, qkv, cu, B, C, H, p, seed, scratch);
    CHECK(memcmp(out, out2, sizeof(float) * (size_t)T * C) == 0);
    /* Without dropout the seed is unused: another seed, the same bits. */
    if (p <= 0.0f) {
        ops->attention_forward(out2, NULL, qkv, cu, B, C, H, 0.0f, seed ^ 0xABCDEFull, scratch);
        CHECK(memcmp(out, out2, sizeof(float) * (size_t)T * C) == 0);
    }
    if (natt) {
        double rs = 0;
        for (int j = 0; j < lens[0]; j++)
            rs += att[j];
        CHECK_NEAR(rs, 1.0, 1e-5);
    }
    free(cu); free(qkv); free(out); free(out2); free(scratch); free(att); free(ref); free(s);
}

/* Drop rate measured from the kernel's output: with q = k = 0 every
 * probability is 1/L, and with v = 1 output (b, h, i, any e) is
 * (kept in row i) / (L (1 - p)), so the kept count of every row comes back
 * as an integer. Over ~1e5 probabilities the rate must be p within 0.01
 * (>= 6 standard deviations at p = 0.5); rows must not all share one mask;
 * and another seed must draw another mask. */
static void test_attention_drop_rate(const stc_ops *ops, float p)
{
    enum { B = 3, C = 32, H = 4, D = C / H };
    int lens[B] = {100, 37, 128}, cu[B + 1] = {0};
    for (int b = 0; b < B; b++)
        cu[b + 1] = cu[b] + lens[b];
    int T = cu[B];
    float *qkv = calloc((size_t)T * 3 * C, sizeof(float));
    for (int t = 0; t < T; t++)
        for (int c = 2 * C; c < 3 * C; c++)
            qkv[(size_t)t * 3 * C + c] = 1.0f;
    float *out = malloc(sizeof(float) * (size_t)T * C), *out2 = malloc(sizeof(float) * (size_t)T * C);
    float *scratch = malloc(sizeof(float) * stc_attention_scratch_floats(128));
    ops->attention_forward(out, NULL, qkv, cu, B, C, H, p, 0x5EEDull, scratch);
    double kept = 0, total = 0, worst_int = 0;
    int distinct_rows = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < lens[b]; i++)
            for (int h = 0; h < H; h++) {
                const float *o = out + (size_t)(cu[b] + i) * C + h * D;
                double k = (double)o[0] * lens[b] * (1.0 - (double)p);
                worst_int = fmax(worst_int, fabs(k - nearbyint(k)));
                for (int e = 1; e < D; e++)
                    CHECK(o[e] == o[0]);
                kept += nearbyint(k);
                total += lens[b];
                if (i > 0 && o[0] != out[(size_t)(cu[b] + i - 1) * C + h * D])
                    distinct_rows++;
            }
    double rate = 1.0 - kept / total;
    CHECK_MSG(worst_int < 1e-3, "drop rate p=%g: kept counts not integers (%.3g)", p, worst_int);
    CHECK_MSG(fabs(rate - p) < 0.01, "drop rate p=%g: measured %.4f over %.0f probabilities", p, rate, total);
    CHECK_MSG(distinct_rows > 10, "drop rate p=%g: rows share one mask", p);
    printf("attention dropout p=%.2f: measured drop rate %.4f over %.0f probabilities\n", p, rate, total);
    ops->attention_forward(out2, NULL, qkv, cu, B, C, H, p, 0x5EEEull, scratch);
    CHECK_MSG(memcmp(out, out2, sizeof(float) * (size_t)T * C) != 0, "drop rate p=%g: seed ignored", p);
    free(qkv); free(out); free(out2); free(scratch);
}

static void test_elementwise(const stc_ops *ops)
{
    size_t n = 1001;
    float *x = rand_buf(n, 4.0f), *y = rand_buf(n, 1.0f), *out = malloc(sizeof(float) * n);
    /* GELU, erf form: x * Phi(x); check against known values and the formula. */
    ops->activation_forward(out, x, n, STC_ACT_GELU);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(out[i] - 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)))));
    CHECK_MSG(worst < 1e-6, "gelu %.3g", worst);
    /* A dense sweep, the tails included: absolute error within float32
     * rounding of the exact value. */
    {
        size_t m = 200001;
        float *xs = malloc(sizeof(float) * m), *gs = malloc(sizeof(float) * m);
        for (size_t i = 0; i < m; i++)
            xs[i] = -20.0f + 40.0f * (float)i / (float)(m - 1);
        ops->activation_forward(gs, xs, m, STC_ACT_GELU);
        double w2 = 0;
        for (size_t i = 0; i < m; i++) {
            double exact = 0.5 * xs[i] * (1.0 + erf(xs[i] / sqrt(2.0)));
            w2 = fmax(w2, fabs(gs[i] - exact) / fmax(1.0, fabs(exact)));
        }
        CHECK_MSG(w2 < 4e-7, "gelu sweep %.3g", w2);
        free(xs);
        free(gs);
    }
    float g1 = 1.0f, g;
    ops->activation_forward(&g, &g1, 1, STC_ACT_GELU);
    CHECK_NEAR(g, 0.8413447460685429, 1e-6);
    ops->activation_forward(out, x, n, STC_ACT_TANH);
    CHECK_NEAR(out[7], tanh(x[7]), 1e-6);
    ops->activation_forward(out, x, n, STC_ACT_RELU);
    CHECK(out[3] == (x[3] > 0 ? x[3] : 0.0f));
    ops->residual_forward(out, x, y, n);
    CHECK(out[5] == x[5] + y[5]);
    /* L2 normalisation: unit rows, and a zero row stays zero (eps). */
    memset(x, 0, sizeof(float) * 10);
    ops->l2_normalize_forward(out, x, 100, 10);
    CHECK(out[0] == 0.0f && out[9] == 0.0f);
    double norm = 0;
    for (int c = 0; c < 10; c++)
        norm += (double)out[10 + c] * out[10 + c];
    CHECK_NEAR(norm, 1.0, 1e-6);
    free(x); free(y); free(out);
}

static void test_embeddings(const stc_ops *ops)
{
    int V = 11, P = 9, C = 5, T = 7;
    float *wte = rand_buf((size_t)V * C, 1), *wpe = rand_buf((size_t)P * C, 1), *wtt = rand_buf(2 * (size_t)C, 1);
    int32_t ids[7] = {0, 10, 3, 3, 7, 1, 2}, pos[7] = {0, 1, 2, 0, 1, 2, 3}, ty[7] = {0, 0, 1, 0, 0, 1, 1};
    float out[35];
    ops->embeddings_forward(out, ids, pos, ty, wte, wpe, wtt, T, C);
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++)
            CHECK(out[t * C + c] == (wte[ids[t] * C + c] + wtt[ty[t] * C + c]) + wpe[pos[t] * C + c]);
    free(wte); free(wpe); free(wtt);
}

int main(void)
{
    const stc_ops *ops = stc_ops_cpu();
    test_matmul(ops, 1, 1, 1, 1);
    test_matmul(ops, 7, 13, 5, 1);
    test_matmul(ops, 33, 64, 96, 0);
    test_matmul(ops, 0, 8, 8, 1);
    test_layernorm(ops, 1, 3);
    test_layernorm(ops, 17, 384);
    int lens1[] = {1};
    int lens2[] = {5, 1, 9, 3};
    int lens3[] = {17, 0, 16, 2, 33};
    test_attention(ops, lens1, 1, 8, 2, 0.0f, 0);
    test_attention(ops, lens2, 4, 12, 3, 0.0f, 7);
    test_attention(ops, lens3, 5, 64, 4, 0.0f, 0);
    test_attention(ops, lens1, 1, 8, 2, 0.5f, 3);
    test_attention(ops, lens2, 4, 12, 3, 0.1f, 11);
    test_attention(ops, lens3, 5, 64, 4, 0.3f, 0x1234ABCDull);
    test_attention_drop_rate(ops, 0.1f);
    test_attention_drop_rate(ops, 0.5f);
    test_elementwise(ops);
    test_embeddings(ops);
    return check_report("test_kernels_cpu");
}
