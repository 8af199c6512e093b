/*
 * CPU backend of the op API (kernels/ops.h): C11 + OpenMP, OpenBLAS sgemm for
 * every matrix product. This file is the readable specification that other
 * backends are tested against.
 */
#include "kernels/ops.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

static void cpu_embeddings_forward(float *out, const int32_t *ids, const int32_t *pos,
                                   const int32_t *type_ids, const float *wte, const float *wpe,
                                   const float *wtt, int T, int C)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *a = wte + (size_t)ids[t] * C;
        const float *p = wpe + (size_t)pos[t] * C;
        const float *s = wtt + (size_t)type_ids[t] * C;
        float *o = out + (size_t)t * C;
        /* Same association as torch: (word + token_type) + position. */
        for (int c = 0; c < C; c++)
            o[c] = (a[c] + s[c]) + p[c];
    }
}

static void cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                  const float *weight, const float *bias, int N, int C, float eps)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        /* Two-pass statistics in double: exact enough that the float32
         * result matches torch to the last bit or two. */
        double m = 0.0;
        for (int c = 0; c < C; c++)
            m += x[c];
        m /= C;
        double v = 0.0;
        for (int c = 0; c < C; c++) {
            double d = x[c] - m;
            v += d * d;
        }
        v /= C;
        float fm = (float)m;
        float rs = (float)(1.0 / sqrt(v + eps));
        for (int c = 0; c < C; c++)
            o[c] = (x[c] - fm) * rs * weight[c] + bias[c];
        if (mean)
            mean[n] = fm;
        if (rstd)
            rstd[n] = rs;
    }
}

static void cpu_matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                               int N, int C, int OC)
{
    if (N == 0)
        return;
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++)
            memcpy(out + (size_t)n * OC, bias, sizeof(float) * (size_t)OC);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C,
                bias ? 1.0f : 0.0f, out, OC);
}

size_t stc_attention_scratch_floats(int max_len)
{
    return (size_t)omp_get_max_threads() * (size_t)max_len * (size_t)max_len;
}

/* Softmax of each of the L rows of s[L, L], in place. */
static void softmax_rows(float *s, int L)
{
    for (int i = 0; i < L; i++) {
        float *r = s + (size_t)i * L;
        float mx = r[0];
        for (int j = 1; j < L; j++)
            mx = r[j] > mx ? r[j] : mx;
        float sum = 0.0f;
        for (int j = 0; j < L; j++) {
            r[j] = expf(r[j] - mx);
            sum += r[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < L; j++)
            r[j] *= inv;
    }
}

static void cpu_attention_forward(float *out, float *att, const float *qkv, const int *cu_seqlens,
                                  int B, int C, int H, float *scratch)
{
    int D = C / H;
    float scale = 1.0f / sqrtf((float)D);
    int C3 = 3 * C;
    int max_len = 0;
    for (int b = 0; b < B; b++) {
        int L = cu_seqlens[b + 1] - cu_seqlens[b];
        max_len = L > max_len ? L : max_len;
    }
    /* One task per (sequence, head); each worker owns one score block. BLAS
     * calls inside the parallel region run on the calling thread (OpenBLAS's
     * OpenMP build). */
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        int t0 = cu_seqlens[b];
        int L = cu_seqlens[b + 1] - t0;
        if (L == 0)
            continue;
        float *s;
        if (att) {
            size_t off = 0;
            for (int i = 0; i < b; i++) {
                size_t Li = (size_t)(cu_seqlens[i + 1] - cu_seqlens[i]);
                off += (size_t)H * Li * Li;
            }
            s = att + off + (size_t)h * L * L;
        } else {
            s = scratch + (size_t)omp_get_thread_num() * max_len * max_len;
        }
        const float *q = qkv + (size_t)t0 * C3 + h * D;
        const float *k = q + C;
        const float *v = q + 2 * C;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, D, scale, q, C3, k, C3, 0.0f, s, L);
        softmax_rows(s, L);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, D, L, 1.0f, s, L, v, C3, 0.0f,
                    out + (size_t)t0 * C + h * D, C);
    }
}

/* exp(x) for x <= 0 in float32, branch-free so loops over it vectorise:
 * Cody-Waite reduction x = k ln2 + r, Cephes' degree-6 polynomial for
 * exp(r), 2^k from the exponent bits. Relative error ~2 ulp; inputs below
 * -87 give exp(-87) (~1.6e-38) instead of a denormal, which no caller can
 * tell from 0. */
static inline float exp_nonpos(float x)
{
    x = x < -87.0f ? -87.0f : x;
    /* Round to nearest with the 1.5 * 2^23 trick: floorf is a libm call on
     * baseline x86-64 and would stop the loop from vectorising. */
    float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - k * 0.693359375f + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return e * scale;
}

/* GELU, erf form (BERT, torch.nn.GELU()): x * (1 + erf(x / sqrt 2)) / 2,
 * with erf from Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7, the
 * size of a float32 rounding of values near 1) so the loop vectorises;
 * glibc's erff does not, and costs a fifth of a MiniLM forward pass. */
static inline float gelu_erf(float x)
{
    float z = x * (float)M_SQRT1_2;
    float a = fabsf(z);
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    float erf_abs = 1.0f - poly * exp_nonpos(-a * a);
    float erf = z < 0.0f ? -erf_abs : erf_abs;
    return 0.5f * x * (1.0f + erf);
}

static float act_one(float x, stc_activation act)
{
    switch (act) {
    case STC_ACT_TANH: return tanhf(x);
    case STC_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case STC_ACT_GELU: return gelu_erf(x);
    case STC_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case STC_ACT_IDENTITY: break;
    }
    return x;
}

/* Built for AVX-512, AVX2 and baseline x86-64, picked at load time: one
 * binary runs on every node of a cluster and uses what each CPU has. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define STC_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define STC_CPU_CLONES
#endif

STC_CPU_CLONES
static void cpu_activation_forward(float *out, const float *inp, size_t n, stc_activation act)
{
    if (act == STC_ACT_GELU) { /* the hot one: a loop of its own that vectorises */
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++)
            out[i] = gelu_erf(inp[i]);
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        out[i] = act_one(inp[i], act);
}

static void cpu_residual_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

static void cpu_l2_normalize_forward(float *out, const float *inp, int N, int C)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        double ss = 0.0;
        for (int c = 0; c < C; c++)
            ss += (double)x[c] * x[c];
        float norm = (float)sqrt(ss);
        float denom = norm > 1e-12f ? norm : 1e-12f;
        for (int c = 0; c < C; c++)
            o[c] = x[c] / denom;
    }
}

static const stc_ops cpu_ops = {
    .name = "cpu",
    .embeddings_forward = cpu_embeddings_forward,
    .layernorm_forward = cpu_layernorm_forward,
    .matmul_forward = cpu_matmul_forward,
    .attention_forward = cpu_attention_forward,
    .activation_forward = cpu_activation_forward,
    .residual_forward = cpu_residual_forward,
    .l2_normalize_forward = cpu_l2_normalize_forward,
};

const stc_ops *stc_ops_cpu(void) { return &cpu_ops; }
