/*
 * CPU backend of the op API (kernels/ops.h): forward and backward passes in
 * C11 + OpenMP, OpenBLAS sgemm for every matrix product. This file is the
 * readable specification that other backends are tested against.
 */
#include "kernels/ops.h"
#include "kernels/dropout.h"

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

/* Offset of sequence b's H [L_b, L_b] blocks in the att layout (kernels/ops.h):
 * H * sum of L^2 of the sequences before it. */
static size_t att_block_offset(const int *cu_seqlens, int b, int H)
{
    size_t off = 0;
    for (int i = 0; i < b; i++) {
        size_t Li = (size_t)(cu_seqlens[i + 1] - cu_seqlens[i]);
        off += (size_t)H * Li * Li;
    }
    return off;
}

/* dst[e] = keep(e) ? src[e] * scale : 0 for e < n, keep(e) =
 * stc_dropout_uniform(seed, ctr + e) >= p: the attention-probability mask of
 * one [L, L] block whose first element has counter ctr. dst may alias src. */
static void attention_dropout(float *dst, const float *src, size_t n, float p, float scale, uint64_t seed,
                              uint64_t ctr)
{
    for (size_t e = 0; e < n; e++)
        dst[e] = stc_dropout_uniform(seed, ctr + e) >= p ? src[e] * scale : 0.0f;
}

/* The longest sequence of a packed batch (sizes the per-worker blocks). */
static int max_seq_len(const int *cu_seqlens, int B)
{
    int m = 0;
    for (int b = 0; b < B; b++)
        m = cu_seqlens[b + 1] - cu_seqlens[b] > m ? cu_seqlens[b + 1] - cu_seqlens[b] : m;
    return m;
}

static void cpu_attention_forward(float *out, float *att, const float *qkv, const int *cu_seqlens,
                                  int B, int C, int H, float p_drop, uint64_t seed, float *scratch)
{
    int D = C / H;
    float scale = 1.0f / sqrtf((float)D);
    int C3 = 3 * C;
    int drop = p_drop > 0.0f;
    float keep_scale = drop ? 1.0f / (1.0f - p_drop) : 1.0f;
    int max_len = max_seq_len(cu_seqlens, B);
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
        size_t LL = (size_t)L * L;
        /* This block's offset in the att layout: where it is saved, and the
         * dropout counter of its first element. */
        size_t off = att || drop ? att_block_offset(cu_seqlens, b, H) + (size_t)h * LL : 0;
        float *mine = scratch + (size_t)omp_get_thread_num() * max_len * max_len;
        float *s = att ? att + off : mine;
        const float *q = qkv + (size_t)t0 * C3 + h * D;
        const float *k = q + C;
        const float *v = q + 2 * C;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, D, scale, q, C3, k, C3, 0.0f, s, L);
        softmax_rows(s, L);
        /* Dropout on the probabilities: the saved att keeps them undropped
         * (softmax backward needs P); the product uses the dropped copy,
         * built in this worker's scratch block (in place when att is NULL). */
        const float *pv = s;
        if (drop) {
            attention_dropout(mine, s, LL, p_drop, keep_scale, seed, off);
            pv = mine;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, D, L, 1.0f, pv, L, v, C3, 0.0f,
                    out + (size_t)t0 * C + h * D, C);
    }
}

/* exp(x) for x <= 0 in float32, branch-free so loops over it vectorise:
 * Cody-Waite reduction x = k ln2 + r, Cephes' degree-6 polynomial for
 * exp(r), 2^k from the exponent bits. Relative error ~2 ulp; inputs below
 * -87 give exp(-87) (~1.6e-38) instead of a denormal, which no caller can
 * tell from 0. */
static inline float exp_nonpos(float x_in)
{
    /* NaN clamps too (a comparison with NaN is false), so the float to int
     * conversion below is always defined; the NaN is given back at the end. */
    float x = x_in >= -87.0f ? x_in : -87.0f;
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
    uint32_t bits = (uint32_t)((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x_in != x_in ? x_in : e * scale;
}

/* erf(x / sqrt 2) by Abramowitz & Stegun 7.1.26 (see gelu_erf), branch-free
 * so loops over it vectorise. Also returns exp(-x^2 / 2), which the formula
 * computes on the way and GELU's derivative needs. */
static inline float erf_sqrt1_2(float x, float *exp_half_sq)
{
    float z = x * (float)M_SQRT1_2;
    float a = fabsf(z);
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    float e = exp_nonpos(-a * a);
    float erf_abs = 1.0f - poly * e;
    *exp_half_sq = e;
    return z < 0.0f ? -erf_abs : erf_abs;
}

/* GELU, erf form (BERT, torch.nn.GELU()): x * (1 + erf(x / sqrt 2)) / 2,
 * with erf from Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7, the
 * size of a float32 rounding of values near 1) so the loop vectorises;
 * glibc's erff does not, and costs a fifth of a MiniLM forward pass. */
static inline float gelu_erf(float x)
{
    float e;
    return 0.5f * x * (1.0f + erf_sqrt1_2(x, &e));
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

/* ------------------------------------------------------------------------
 * Backward passes. Contract (kernels/ops.h): parameter gradients +=,
 * activation gradients =, bit-identical results for any thread count.
 *
 * Reductions over rows (dweight, dbias, embedding tables) are split over
 * fixed blocks of STC_CH_BLOCK channels: each block's owner walks the rows in
 * order 0..N-1, so every sum is formed in the same order whatever the number
 * of threads, with no atomics and no scratch.
 * ------------------------------------------------------------------------ */

#define STC_CH_BLOCK 32 /* channels per reduction block: 128 bytes, two cache lines */

static inline int ch_blocks(int C) { return (C + STC_CH_BLOCK - 1) / STC_CH_BLOCK; }

/* Adds dout's rows into the table rows that idx[] names, channels
 * [c0, c1) only: one table of embeddings_backward. */
static void embedding_accumulate(float *dtable, const float *dout, const int32_t *idx, int T, int C,
                                 int c0, int c1)
{
    for (int t = 0; t < T; t++) {
        float *d = dtable + (size_t)idx[t] * C;
        const float *g = dout + (size_t)t * C;
        for (int c = c0; c < c1; c++)
            d[c] += g[c];
    }
}

static void cpu_embeddings_backward(float *dwte, float *dwpe, float *dwtt, const float *dout,
                                    const int32_t *ids, const int32_t *pos, const int32_t *type_ids,
                                    int T, int C)
{
    /* A token id may repeat in the batch, so rows cannot be split between
     * threads without atomics; channel blocks can. */
    int nb = ch_blocks(C);
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nb; blk++) {
        int c0 = blk * STC_CH_BLOCK, c1 = c0 + STC_CH_BLOCK < C ? c0 + STC_CH_BLOCK : C;
        if (dwte)
            embedding_accumulate(dwte, dout, ids, T, C, c0, c1);
        if (dwpe)
            embedding_accumulate(dwpe, dout, pos, T, C, c0, c1);
        if (dwtt)
            embedding_accumulate(dwtt, dout, type_ids, T, C, c0, c1);
    }
}

static void cpu_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                   const float *inp, const float *weight, const float *mean,
                                   const float *rstd, int N, int C)
{
    /* Parameter gradients first, so that dinp may then overwrite dout:
     * dweight[c] += sum_n dout[n,c] * xhat[n,c], dbias[c] += sum_n dout[n,c],
     * summed in double per channel block, rows in order. */
    if (dweight || dbias) {
        int nb = ch_blocks(C);
#pragma omp parallel for schedule(static)
        for (int blk = 0; blk < nb; blk++) {
            int c0 = blk * STC_CH_BLOCK, w = C - c0 < STC_CH_BLOCK ? C - c0 : STC_CH_BLOCK;
            double aw[STC_CH_BLOCK] = {0}, ab[STC_CH_BLOCK] = {0};
            for (int n = 0; n < N; n++) {
                const float *x = inp + (size_t)n * C + c0;
                const float *g = dout + (size_t)n * C + c0;
                float m = mean[n], rs = rstd[n];
                for (int c = 0; c < w; c++) {
                    aw[c] += (double)g[c] * (double)((x[c] - m) * rs);
                    ab[c] += g[c];
                }
            }
            for (int c = 0; c < w; c++) {
                if (dweight)
                    dweight[c0 + c] += (float)aw[c];
                if (dbias)
                    dbias[c0 + c] += (float)ab[c];
            }
        }
    }
    /* dinp = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),
     * dxhat = dout * weight: rows are independent. */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        const float *g = dout + (size_t)n * C;
        float *d = dinp + (size_t)n * C;
        float m = mean[n], rs = rstd[n];
        double s1 = 0.0, s2 = 0.0;
        for (int c = 0; c < C; c++) {
            float dxhat = g[c] * weight[c];
            s1 += dxhat;
            s2 += (double)dxhat * (double)((x[c] - m) * rs);
        }
        float mean_d = (float)(s1 / C), mean_dx = (float)(s2 / C);
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - m) * rs;
            d[c] = rs * (g[c] * weight[c] - mean_d - xhat * mean_dx);
        }
    }
}

static void cpu_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, int N, int C, int OC)
{
    if (N == 0) {
        /* Nothing to add to the parameters; dinp has no rows. */
        return;
    }
    /* dinp[N,C] = dout[N,OC] @ weight[OC,C] */
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C,
                    0.0f, dinp, C);
    /* dweight[OC,C] += dout^T @ inp[N,C] */
    if (dweight)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C,
                    1.0f, dweight, C);
    /* dbias[OC] += column sums of dout, in double per channel block. */
    if (dbias) {
        int nb = ch_blocks(OC);
#pragma omp parallel for schedule(static)
        for (int blk = 0; blk < nb; blk++) {
            int o0 = blk * STC_CH_BLOCK, w = OC - o0 < STC_CH_BLOCK ? OC - o0 : STC_CH_BLOCK;
            double acc[STC_CH_BLOCK] = {0};
            for (int n = 0; n < N; n++) {
                const float *g = dout + (size_t)n * OC + o0;
                for (int o = 0; o < w; o++)
                    acc[o] += g[o];
            }
            for (int o = 0; o < w; o++)
                dbias[o0 + o] += (float)acc[o];
        }
    }
}

size_t stc_attention_backward_scratch_floats(int max_len)
{
    return (size_t)omp_get_max_threads() * (size_t)max_len * (size_t)max_len;
}

/* Softmax backward of the L rows of one block, in place: dp[i, j] =
 * p[i, j] * (dp[i, j] - sum_k dp[i, k] p[i, k]), dp the gradient of the
 * probabilities p on entry, of the scores on exit. */
static void softmax_backward_rows(float *dp, const float *p, int L)
{
    for (int i = 0; i < L; i++) {
        const float *pr = p + (size_t)i * L;
        float *r = dp + (size_t)i * L;
        float dot = 0.0f;
        for (int j = 0; j < L; j++)
            dot += r[j] * pr[j];
        for (int j = 0; j < L; j++)
            r[j] = pr[j] * (r[j] - dot);
    }
}

static void cpu_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                                   const int *cu_seqlens, int B, int C, int H, float p_drop,
                                   uint64_t seed, float *scratch)
{
    /* Per (sequence, head), with S = scale Q K^T, P = softmax(S),
     * Pd = dropout(P) = M P / (1 - p) (M the 0/1 mask), O = Pd V:
     *   dV = Pd^T dO        dPd = dO V^T        dP = M dPd / (1 - p)
     *   dS = P * (dP - rowsum(dP * P))      (softmax backward, in place)
     *   dQ = scale dS K     dK = scale dS^T Q
     * Without dropout Pd = P and dP = dPd. The mask is regenerated from
     * (seed, att offset) as forward drew it, once for Pd and once for dP,
     * so one [L, L] scratch block per worker suffices.
     * Each task writes its own rows and columns of dqkv, so no two tasks
     * touch the same element; the result is independent of scheduling. */
    int D = C / H;
    float scale = 1.0f / sqrtf((float)D);
    int C3 = 3 * C;
    int drop = p_drop > 0.0f;
    float keep_scale = drop ? 1.0f / (1.0f - p_drop) : 1.0f;
    int max_len = max_seq_len(cu_seqlens, B);
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        int t0 = cu_seqlens[b];
        int L = cu_seqlens[b + 1] - t0;
        if (L == 0)
            continue;
        size_t LL = (size_t)L * L;
        size_t off = att_block_offset(cu_seqlens, b, H) + (size_t)h * LL;
        const float *p = att + off;
        float *dp = scratch + (size_t)omp_get_thread_num() * max_len * max_len;
        const float *q = qkv + (size_t)t0 * C3 + h * D;
        const float *k = q + C;
        const float *v = q + 2 * C;
        const float *dO = dout + (size_t)t0 * C + h * D;
        float *dq = dqkv + (size_t)t0 * C3 + h * D;
        float *dk = dq + C;
        float *dv = dq + 2 * C;
        if (!drop) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, D, 1.0f, dO, C, v, C3, 0.0f, dp, L);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, D, L, 1.0f, p, L, dO, C, 0.0f, dv, C3);
        } else {
            /* dV from Pd, rebuilt bit for bit as forward multiplied it. */
            attention_dropout(dp, p, LL, p_drop, keep_scale, seed, off);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, D, L, 1.0f, dp, L, dO, C, 0.0f, dv, C3);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, D, 1.0f, dO, C, v, C3, 0.0f, dp, L);
            attention_dropout(dp, dp, LL, p_drop, keep_scale, seed, off);
        }
        softmax_backward_rows(dp, p, L);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, D, L, scale, dp, L, k, C3, 0.0f, dq, C3);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, D, L, scale, dp, L, q, C3, 0.0f, dk, C3);
    }
}

/* d/dx GELU(x) = Phi(x) + x phi(x) = 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2/2) / sqrt(2 pi),
 * with the forward's erf and exp approximations (absolute error ~2e-7). */
static inline float gelu_erf_grad(float x)
{
    float e;
    float erf = erf_sqrt1_2(x, &e);
    return 0.5f * (1.0f + erf) + x * e * 0.3989422804014327f;
}

static float act_grad_one(float x, stc_activation act)
{
    switch (act) {
    case STC_ACT_TANH: {
        float t = tanhf(x);
        return 1.0f - t * t;
    }
    case STC_ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case STC_ACT_GELU: return gelu_erf_grad(x);
    case STC_ACT_SIGMOID: {
        float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f - s);
    }
    case STC_ACT_IDENTITY: break;
    }
    return 1.0f;
}

STC_CPU_CLONES
static void cpu_activation_backward(float *dinp, const float *dout, const float *inp, size_t n,
                                    stc_activation act)
{
    if (act == STC_ACT_GELU) { /* the hot one, vectorised as the forward */
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++)
            dinp[i] = dout[i] * gelu_erf_grad(inp[i]);
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        dinp[i] = dout[i] * act_grad_one(inp[i], act);
}

static void cpu_l2_normalize_backward(float *dinp, const float *dout, const float *inp, int N, int C)
{
    /* y = x / max(||x||, eps). Where ||x|| >= eps (torch's clamp_min passes
     * the gradient at equality): dx = (dy - y (y . dy)) / ||x||
     * = (dy - x (x . dy) / ||x||^2) / ||x||. Otherwise y = x / eps: dx = dy / eps. */
    const double eps = 1e-12;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        const float *g = dout + (size_t)n * C;
        float *d = dinp + (size_t)n * C;
        double ss = 0.0, xg = 0.0;
        for (int c = 0; c < C; c++) {
            ss += (double)x[c] * x[c];
            xg += (double)x[c] * g[c];
        }
        double norm = sqrt(ss);
        /* Compare as forward does, in float: the same rows take the clamp. */
        if ((float)norm >= (float)eps) {
            float inv = (float)(1.0 / norm);
            float coef = (float)(xg / ss);
            for (int c = 0; c < C; c++)
                d[c] = (g[c] - x[c] * coef) * inv;
        } else {
            for (int c = 0; c < C; c++)
                d[c] = (float)(g[c] / eps);
        }
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
    .embeddings_backward = cpu_embeddings_backward,
    .layernorm_backward = cpu_layernorm_backward,
    .matmul_backward = cpu_matmul_backward,
    .attention_backward = cpu_attention_backward,
    .activation_backward = cpu_activation_backward,
    .l2_normalize_backward = cpu_l2_normalize_backward,
};

const stc_ops *stc_ops_cpu(void) { return &cpu_ops; }
