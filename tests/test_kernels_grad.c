/*
 * Backward passes of the CPU kernels (kernels/ops.h) against central finite
 * differences, on small random odd shapes.
 *
 * Scheme, for every op:
 *   1. a float64 reference forward written here as plain loops; the float32
 *      forward must match it (so the reference computes the op we ship);
 *   2. loss = sum(out * R) for a random R; its gradient by central
 *      differences of the float64 reference (step h ~ 1e-6 relative to the
 *      input's scale: truncation error O(h^2) ~ 1e-12, rounding ~1e-16 *
 *      |loss| / h ~ 1e-9) is the truth the float32 backward must match;
 *   3. the float32 backward is bit-identical with 1, 2 and 3 OpenMP threads;
 *   4. the accumulation contract: parameter gradients are added to what the
 *      buffer held, activation gradients overwrite it (buffers pre-filled
 *      with NaN must come out equal to a fresh result).
 *
 * Tolerance (GRAD_TOL): max |got - want| / max(1, |want|) <= 1e-5. The float32
 * kernels round each product and sum to ~6e-8 relative; the longest chains
 * here (sums of a few dozen terms, LayerNorm's cancellation of a +100 row
 * offset, GELU's erf approximation at 1.5e-7) measure below 4e-7, so 1e-5
 * leaves a margin of >20x for other CPUs' vector widths and BLAS kernels,
 * while a mistake in a formula, an index or a layout shows up at O(1e-2).
 */
#include "kernels/dropout.h"
#include "kernels/ops.h"
#include "tests/check.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GRAD_TOL 1e-5
#define FD_STEP 1e-6

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static double drand_pm1(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
}

static float *rand_f32(size_t n, float scale)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        p[i] = scale * (float)drand_pm1();
    return p;
}

static float *fill_f32(size_t n, float v)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        p[i] = v;
    return p;
}

static double *to_f64(const float *x, size_t n)
{
    double *p = malloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        p[i] = x[i];
    return p;
}

static double dot_f64(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Largest |got - want| / max(1, |want|). */
static double grad_err(const float *got, const double *want, size_t n)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i]));
        if (!(e <= w)) /* NaN counts as the worst error */
            w = isnan(e) ? INFINITY : e;
    }
    return w;
}

/* Largest |got - want| / max(1, |want|) between two float buffers. */
static double rel_diff_f32(const float *got, const float *want, size_t n)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / fmax(1.0, fabs((double)want[i]));
        w = isnan(e) ? INFINITY : fmax(w, e);
    }
    return w;
}

static int same_bits(const float *a, const float *b, size_t n)
{
    return n == 0 || memcmp(a, b, sizeof(float) * n) == 0;
}

/* Worst error of any check, reported at the end. */
static double worst_seen = 0.0;
#define CHECK_GRAD(got, want, n, ...) do { \
    double e_ = grad_err((got), (want), (n)); \
    worst_seen = fmax(worst_seen, e_); \
    CHECK_MSG(e_ <= GRAD_TOL, __VA_ARGS__); \
    if (e_ > GRAD_TOL) fprintf(stderr, "  error %.3g\n", e_); \
} while (0)

/* loss(ctx) of a float64 reference forward. */
typedef double (*loss_fn)(void *ctx);

/* g[i] = d loss / d x[i] by central differences with step h[i] (or FD_STEP
 * when h is NULL); x is one of the arrays the loss reads. */
static void fd_grad(double *g, double *x, size_t n, const double *h, loss_fn f, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i], s = h ? h[i] : FD_STEP;
        x[i] = x0 + s;
        double fp = f(ctx);
        x[i] = x0 - s;
        double fm = f(ctx);
        x[i] = x0;
        g[i] = (fp - fm) / (2.0 * s);
    }
}

/* ---------------------------------------------------------------- embeddings */

typedef struct {
    double *wte, *wpe, *wtt, *out, *R;
    const int32_t *ids, *pos, *ty;
    int T, C;
} emb_ctx;

static double emb_loss(void *p)
{
    emb_ctx *c = p;
    for (int t = 0; t < c->T; t++)
        for (int k = 0; k < c->C; k++)
            c->out[(size_t)t * c->C + k] = c->wte[(size_t)c->ids[t] * c->C + k] +
                                           c->wpe[(size_t)c->pos[t] * c->C + k] +
                                           c->wtt[(size_t)c->ty[t] * c->C + k];
    return dot_f64(c->out, c->R, (size_t)c->T * c->C);
}

static void test_embeddings(const stc_ops *ops)
{
    enum { V = 11, P = 9, NTY = 2, C = 37, T = 13 }; /* C spans a full and a partial channel block */
    int32_t ids[T] = {0, 10, 3, 3, 7, 1, 2, 3, 10, 5, 5, 5, 9};
    int32_t pos[T] = {0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3, 8};
    int32_t ty[T] = {0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0};
    float *wte = rand_f32((size_t)V * C, 1), *wpe = rand_f32((size_t)P * C, 1), *wtt = rand_f32((size_t)NTY * C, 1);
    float *R = rand_f32((size_t)T * C, 1);
    float *out = malloc(sizeof(float) * T * C);
    emb_ctx ctx = {to_f64(wte, (size_t)V * C), to_f64(wpe, (size_t)P * C), to_f64(wtt, (size_t)NTY * C),
                   malloc(sizeof(double) * T * C), to_f64(R, (size_t)T * C), ids, pos, ty, T, C};
    emb_loss(&ctx);
    ops->embeddings_forward(out, ids, pos, ty, wte, wpe, wtt, T, C);
    CHECK_GRAD(out, ctx.out, (size_t)T * C, "embeddings forward");

    double *gte = malloc(sizeof(double) * V * C), *gpe = malloc(sizeof(double) * P * C), *gtt = malloc(sizeof(double) * NTY * C);
    fd_grad(gte, ctx.wte, (size_t)V * C, NULL, emb_loss, &ctx);
    fd_grad(gpe, ctx.wpe, (size_t)P * C, NULL, emb_loss, &ctx);
    fd_grad(gtt, ctx.wtt, (size_t)NTY * C, NULL, emb_loss, &ctx);

    /* Backward with 1..3 threads from zero: matches FD, bit-identical. */
    float *dte[3], *dpe[3], *dtt[3];
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        dte[nt - 1] = fill_f32((size_t)V * C, 0);
        dpe[nt - 1] = fill_f32((size_t)P * C, 0);
        dtt[nt - 1] = fill_f32((size_t)NTY * C, 0);
        ops->embeddings_backward(dte[nt - 1], dpe[nt - 1], dtt[nt - 1], R, ids, pos, ty, T, C);
    }
    omp_set_num_threads(1);
    CHECK_GRAD(dte[0], gte, (size_t)V * C, "embeddings dwte");
    CHECK_GRAD(dpe[0], gpe, (size_t)P * C, "embeddings dwpe");
    CHECK_GRAD(dtt[0], gtt, (size_t)NTY * C, "embeddings dwtt");
    for (int i = 1; i < 3; i++) {
        CHECK_MSG(same_bits(dte[0], dte[i], (size_t)V * C), "embeddings dwte %d threads", i + 1);
        CHECK_MSG(same_bits(dpe[0], dpe[i], (size_t)P * C), "embeddings dwpe %d threads", i + 1);
        CHECK_MSG(same_bits(dtt[0], dtt[i], (size_t)NTY * C), "embeddings dwtt %d threads", i + 1);
    }

    /* Accumulation: starting from G0, the result is G0 + gradient; NULL
     * tables are skipped. */
    float *g0 = rand_f32((size_t)V * C, 1), *acc = malloc(sizeof(float) * V * C), *want = malloc(sizeof(float) * V * C);
    memcpy(acc, g0, sizeof(float) * V * C);
    ops->embeddings_backward(acc, NULL, NULL, R, ids, pos, ty, T, C);
    for (size_t i = 0; i < (size_t)V * C; i++)
        want[i] = g0[i] + dte[0][i];
    CHECK_MSG(rel_diff_f32(acc, want, (size_t)V * C) <= 1e-6, "embeddings accumulate");

    for (int i = 0; i < 3; i++) {
        free(dte[i]); free(dpe[i]); free(dtt[i]);
    }
    free(g0); free(acc); free(want);
    free(gte); free(gpe); free(gtt);
    free(ctx.wte); free(ctx.wpe); free(ctx.wtt); free(ctx.out); free(ctx.R);
    free(wte); free(wpe); free(wtt); free(R); free(out);
}

/* ---------------------------------------------------------------- layernorm */

typedef struct {
    double *x, *w, *b, *out, *R;
    int N, C;
    double eps;
} ln_ctx;

static double ln_loss(void *p)
{
    ln_ctx *c = p;
    for (int n = 0; n < c->N; n++) {
        const double *x = c->x + (size_t)n * c->C;
        double m = 0, v = 0;
        for (int k = 0; k < c->C; k++)
            m += x[k];
        m /= c->C;
        for (int k = 0; k < c->C; k++)
            v += (x[k] - m) * (x[k] - m);
        v /= c->C;
        for (int k = 0; k < c->C; k++)
            c->out[(size_t)n * c->C + k] = (x[k] - m) / sqrt(v + c->eps) * c->w[k] + c->b[k];
    }
    return dot_f64(c->out, c->R, (size_t)c->N * c->C);
}

static void test_layernorm(const stc_ops *ops, int N, int C)
{
    size_t NC = (size_t)N * C;
    float eps = 1e-12f; /* BERT's layer_norm_eps */
    float *x = rand_f32(NC, 3.0f), *w = rand_f32((size_t)C, 1.0f), *b = rand_f32((size_t)C, 1.0f);
    float *R = rand_f32(NC, 1.0f);
    x[0] += 100.0f; /* an offset row: the backward's xhat must stay accurate */
    float *out = malloc(sizeof(float) * NC), *mean = malloc(sizeof(float) * N), *rstd = malloc(sizeof(float) * N);
    ops->layernorm_forward(out, mean, rstd, x, w, b, N, C, eps);
    ln_ctx ctx = {to_f64(x, NC), to_f64(w, (size_t)C), to_f64(b, (size_t)C), malloc(sizeof(double) * NC),
                  to_f64(R, NC), N, C, eps};
    ln_loss(&ctx);
    CHECK_GRAD(out, ctx.out, NC, "layernorm forward N=%d C=%d", N, C);

    double *gx = malloc(sizeof(double) * NC), *gw = malloc(sizeof(double) * C), *gb = malloc(sizeof(double) * C);
    fd_grad(gx, ctx.x, NC, NULL, ln_loss, &ctx);
    fd_grad(gw, ctx.w, (size_t)C, NULL, ln_loss, &ctx);
    fd_grad(gb, ctx.b, (size_t)C, NULL, ln_loss, &ctx);

    float *dx[3], *dw[3], *db[3];
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        dx[nt - 1] = fill_f32(NC, NAN); /* activation gradient: must be overwritten */
        dw[nt - 1] = fill_f32((size_t)C, 0);
        db[nt - 1] = fill_f32((size_t)C, 0);
        ops->layernorm_backward(dx[nt - 1], dw[nt - 1], db[nt - 1], R, x, w, mean, rstd, N, C);
    }
    omp_set_num_threads(1);
    CHECK_GRAD(dx[0], gx, NC, "layernorm dinp N=%d C=%d", N, C);
    CHECK_GRAD(dw[0], gw, (size_t)C, "layernorm dweight N=%d C=%d", N, C);
    CHECK_GRAD(db[0], gb, (size_t)C, "layernorm dbias N=%d C=%d", N, C);
    for (int i = 1; i < 3; i++) {
        CHECK_MSG(same_bits(dx[0], dx[i], NC), "layernorm dinp %d threads", i + 1);
        CHECK_MSG(same_bits(dw[0], dw[i], (size_t)C), "layernorm dweight %d threads", i + 1);
        CHECK_MSG(same_bits(db[0], db[i], (size_t)C), "layernorm dbias %d threads", i + 1);
    }

    /* Accumulation into dweight/dbias; dinp in place over dout. */
    float *w0 = rand_f32((size_t)C, 1), *b0 = rand_f32((size_t)C, 1);
    float *aw = malloc(sizeof(float) * C), *ab = malloc(sizeof(float) * C), *want = calloc((size_t)C, sizeof(float));
    float *inplace = malloc(sizeof(float) * NC);
    memcpy(aw, w0, sizeof(float) * C);
    memcpy(ab, b0, sizeof(float) * C);
    memcpy(inplace, R, sizeof(float) * NC);
    ops->layernorm_backward(inplace, aw, ab, inplace, x, w, mean, rstd, N, C);
    CHECK_MSG(same_bits(inplace, dx[0], NC), "layernorm dinp aliasing dout");
    for (int k = 0; k < C; k++)
        want[k] = w0[k] + dw[0][k];
    CHECK_MSG(rel_diff_f32(aw, want, (size_t)C) <= 1e-6, "layernorm dweight accumulates");
    for (int k = 0; k < C; k++)
        want[k] = b0[k] + db[0][k];
    CHECK_MSG(rel_diff_f32(ab, want, (size_t)C) <= 1e-6, "layernorm dbias accumulates");
    /* Frozen parameters (NULL) leave dinp unchanged. */
    ops->layernorm_backward(inplace, NULL, NULL, R, x, w, mean, rstd, N, C);
    CHECK_MSG(same_bits(inplace, dx[0], NC), "layernorm without parameter gradients");

    for (int i = 0; i < 3; i++) {
        free(dx[i]); free(dw[i]); free(db[i]);
    }
    free(w0); free(b0); free(aw); free(ab); free(want); free(inplace);
    free(gx); free(gw); free(gb);
    free(ctx.x); free(ctx.w); free(ctx.b); free(ctx.out); free(ctx.R);
    free(x); free(w); free(b); free(R); free(out); free(mean); free(rstd);
}

/* ---------------------------------------------------------------- matmul */

typedef struct {
    double *x, *w, *b, *out, *R;
    int N, C, OC;
} mm_ctx;

static double mm_loss(void *p)
{
    mm_ctx *c = p;
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->OC; o++) {
            double s = c->b ? c->b[o] : 0.0;
            for (int k = 0; k < c->C; k++)
                s += c->x[(size_t)n * c->C + k] * c->w[(size_t)o * c->C + k];
            c->out[(size_t)n * c->OC + o] = s;
        }
    return dot_f64(c->out, c->R, (size_t)c->N * c->OC);
}

static void test_matmul(const stc_ops *ops, int N, int C, int OC, int with_bias, int fd)
{
    size_t NC = (size_t)N * C, OCC = (size_t)OC * C, NO = (size_t)N * OC;
    float *x = rand_f32(NC, 1.0f), *w = rand_f32(OCC, 0.5f), *b = rand_f32((size_t)OC, 1.0f);
    float *R = rand_f32(NO, 1.0f), *out = malloc(sizeof(float) * (NO ? NO : 1));
    ops->matmul_forward(out, x, w, with_bias ? b : NULL, N, C, OC);

    float *dx[3], *dw[3], *db[3];
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        dx[nt - 1] = fill_f32(NC, NAN);
        dw[nt - 1] = fill_f32(OCC, 0);
        db[nt - 1] = fill_f32((size_t)OC, 0);
        ops->matmul_backward(dx[nt - 1], dw[nt - 1], with_bias ? db[nt - 1] : NULL, R, x, w, N, C, OC);
    }
    omp_set_num_threads(1);
    for (int i = 1; i < 3; i++) {
        CHECK_MSG(same_bits(dx[0], dx[i], NC), "matmul dinp %d threads N=%d C=%d OC=%d", i + 1, N, C, OC);
        CHECK_MSG(same_bits(dw[0], dw[i], OCC), "matmul dweight %d threads N=%d C=%d OC=%d", i + 1, N, C, OC);
        CHECK_MSG(same_bits(db[0], db[i], (size_t)OC), "matmul dbias %d threads N=%d C=%d OC=%d", i + 1, N, C, OC);
    }
    if (!with_bias)
        for (int o = 0; o < OC; o++)
            CHECK(db[0][o] == 0.0f);

    if (fd) {
        mm_ctx ctx = {to_f64(x, NC), to_f64(w, OCC), with_bias ? to_f64(b, (size_t)OC) : NULL,
                      malloc(sizeof(double) * (NO ? NO : 1)), to_f64(R, NO), N, C, OC};
        mm_loss(&ctx);
        CHECK_GRAD(out, ctx.out, NO, "matmul forward N=%d C=%d OC=%d", N, C, OC);
        double *gx = malloc(sizeof(double) * (NC ? NC : 1)), *gw = malloc(sizeof(double) * OCC);
        double *gb = malloc(sizeof(double) * OC);
        fd_grad(gx, ctx.x, NC, NULL, mm_loss, &ctx);
        fd_grad(gw, ctx.w, OCC, NULL, mm_loss, &ctx);
        CHECK_GRAD(dx[0], gx, NC, "matmul dinp N=%d C=%d OC=%d", N, C, OC);
        CHECK_GRAD(dw[0], gw, OCC, "matmul dweight N=%d C=%d OC=%d", N, C, OC);
        if (with_bias) {
            fd_grad(gb, ctx.b, (size_t)OC, NULL, mm_loss, &ctx);
            CHECK_GRAD(db[0], gb, (size_t)OC, "matmul dbias N=%d C=%d OC=%d", N, C, OC);
        }
        free(gx); free(gw); free(gb);
        free(ctx.x); free(ctx.w); free(ctx.b); free(ctx.out); free(ctx.R);
    }

    /* Accumulation: dweight/dbias start from G0; dinp NULL is allowed. */
    float *w0 = rand_f32(OCC, 1), *b0 = rand_f32((size_t)OC, 1);
    float *aw = malloc(sizeof(float) * OCC), *ab = malloc(sizeof(float) * OC);
    float *want = malloc(sizeof(float) * (OCC > (size_t)OC ? OCC : (size_t)OC));
    memcpy(aw, w0, sizeof(float) * OCC);
    memcpy(ab, b0, sizeof(float) * OC);
    ops->matmul_backward(NULL, aw, ab, R, x, w, N, C, OC);
    for (size_t i = 0; i < OCC; i++)
        want[i] = w0[i] + dw[0][i];
    CHECK_MSG(rel_diff_f32(aw, want, OCC) <= 1e-6, "matmul dweight accumulates N=%d C=%d OC=%d", N, C, OC);
    if (with_bias) {
        for (int o = 0; o < OC; o++)
            want[o] = b0[o] + db[0][o];
        CHECK_MSG(rel_diff_f32(ab, want, (size_t)OC) <= 1e-6, "matmul dbias accumulates");
    }
    if (N == 0) /* no rows: parameter gradients unchanged */
        CHECK(same_bits(aw, w0, OCC) && same_bits(ab, b0, (size_t)OC));

    for (int i = 0; i < 3; i++) {
        free(dx[i]); free(dw[i]); free(db[i]);
    }
    free(w0); free(b0); free(aw); free(ab); free(want);
    free(x); free(w); free(b); free(R); free(out);
}

/* ---------------------------------------------------------------- attention */

/* The reference applies attention-probability dropout (p > 0) with the mask
 * kernels/ops.h documents, regenerated here from stc_dropout_uniform: the
 * counter of probability (b, h, i, j) is its offset in the att layout. The
 * mask does not depend on qkv, so the finite differences see a fixed mask. */
typedef struct {
    double *qkv, *out, *R, *s;
    const int *cu;
    int B, C, H;
    float p;
    uint64_t seed;
    size_t dropped; /* probabilities the last evaluation dropped */
} att_ctx;

static double att_loss(void *p)
{
    att_ctx *c = p;
    int D = c->C / c->H, C3 = 3 * c->C;
    double keep_scale = c->p > 0.0f ? 1.0 / (1.0 - (double)c->p) : 1.0;
    size_t off = 0; /* sequence b's offset in the att layout */
    c->dropped = 0;
    for (int b = 0; b < c->B; off += (size_t)c->H * (c->cu[b + 1] - c->cu[b]) * (c->cu[b + 1] - c->cu[b]), b++) {
        int t0 = c->cu[b], L = c->cu[b + 1] - t0;
        for (int h = 0; h < c->H; h++)
            for (int i = 0; i < L; i++) {
                const double *q = c->qkv + (size_t)(t0 + i) * C3 + h * D;
                double mx = -INFINITY, sum = 0.0;
                for (int j = 0; j < L; j++) {
                    const double *k = c->qkv + (size_t)(t0 + j) * C3 + c->C + h * D;
                    double d = 0.0;
                    for (int e = 0; e < D; e++)
                        d += q[e] * k[e];
                    c->s[j] = d / sqrt((double)D);
                    mx = fmax(mx, c->s[j]);
                }
                for (int j = 0; j < L; j++) {
                    c->s[j] = exp(c->s[j] - mx);
                    sum += c->s[j];
                }
                for (int j = 0; j < L; j++) {
                    uint64_t ctr = off + ((size_t)h * L + i) * L + j;
                    int keep = c->p <= 0.0f || stc_dropout_uniform(c->seed, ctr) >= c->p;
                    c->s[j] = keep ? c->s[j] / sum * keep_scale : 0.0;
                    c->dropped += !keep;
                }
                for (int e = 0; e < D; e++) {
                    double o = 0.0;
                    for (int j = 0; j < L; j++)
                        o += c->s[j] * c->qkv[(size_t)(t0 + j) * C3 + 2 * c->C + h * D + e];
                    c->out[(size_t)(t0 + i) * c->C + h * D + e] = o;
                }
            }
    }
    int T = c->cu[c->B];
    return dot_f64(c->out, c->R, (size_t)T * c->C);
}

/* Attention forward and backward with dropout probability p (0: none):
 * forward against the float64 reference, backward against its finite
 * differences, both passes bit-identical for 1, 2 and 3 threads. With p = 0
 * the seed must not matter; with p > 0 saving att must not change the
 * output, and the saved att must be the undropped probabilities. */
static void test_attention(const stc_ops *ops, const int *lens, int B, int C, int H, float p, uint64_t seed)
{
    int T = 0, maxL = 0;
    int *cu = malloc(sizeof(int) * (size_t)(B + 1));
    cu[0] = 0;
    size_t natt = 0;
    for (int b = 0; b < B; b++) {
        T += lens[b];
        cu[b + 1] = T;
        maxL = lens[b] > maxL ? lens[b] : maxL;
        natt += (size_t)H * lens[b] * lens[b];
    }
    size_t TC = (size_t)T * C, T3C = 3 * TC;
    float *qkv = rand_f32(T3C, 1.0f), *R = rand_f32(TC, 1.0f);
    float *out = malloc(sizeof(float) * (TC ? TC : 1)), *att = malloc(sizeof(float) * (natt ? natt : 1));
    float *out_n = malloc(sizeof(float) * (TC ? TC : 1)), *att_n = malloc(sizeof(float) * (natt ? natt : 1));
    /* Scratch for up to 3 threads; one buffer serves forward and backward. */
    omp_set_num_threads(3);
    size_t nscr = stc_attention_scratch_floats(maxL);
    CHECK(stc_attention_backward_scratch_floats(maxL) <= nscr);
    float *scratch = malloc(sizeof(float) * (nscr ? nscr : 1));
    omp_set_num_threads(1);
    ops->attention_forward(out, att, qkv, cu, B, C, H, p, seed, scratch);

    /* Forward: thread count, saving att or not, and (p = 0) the seed change
     * no bit; the saved att is the undropped softmax (rows sum to one). */
    for (int nt = 2; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        ops->attention_forward(out_n, att_n, qkv, cu, B, C, H, p, seed, scratch);
        CHECK_MSG(same_bits(out, out_n, TC) && same_bits(att, att_n, natt),
                  "attention forward %d threads B=%d C=%d H=%d p=%g", nt, B, C, H, p);
        ops->attention_forward(out_n, NULL, qkv, cu, B, C, H, p, seed, scratch);
        CHECK_MSG(same_bits(out, out_n, TC), "attention forward without att, %d threads p=%g", nt, p);
    }
    omp_set_num_threads(1);
    if (p <= 0.0f) {
        ops->attention_forward(out_n, att_n, qkv, cu, B, C, H, 0.0f, seed + 12345, scratch);
        CHECK_MSG(same_bits(out, out_n, TC) && same_bits(att, att_n, natt), "attention p=0 depends on the seed");
    }
    for (int b = 0, o = 0; b < B; o += H * lens[b] * lens[b], b++)
        for (int r = 0; r < H * lens[b]; r++) {
            double rs = 0.0;
            for (int j = 0; j < lens[b]; j++)
                rs += att[o + (size_t)r * lens[b] + j];
            CHECK_MSG(fabs(rs - 1.0) < 1e-5, "attention saved probabilities: row sum %.7f", rs);
        }

    att_ctx ctx = {to_f64(qkv, T3C), malloc(sizeof(double) * (TC ? TC : 1)), to_f64(R, TC),
                   malloc(sizeof(double) * (maxL ? maxL : 1)), cu, B, C, H, p, seed, 0};
    att_loss(&ctx);
    CHECK_GRAD(out, ctx.out, TC, "attention forward B=%d C=%d H=%d p=%g", B, C, H, p);
    if (p > 0.0f && natt >= 50)
        CHECK_MSG(ctx.dropped > 0, "attention p=%g: the mask dropped nothing", p);
    double *g = malloc(sizeof(double) * (T3C ? T3C : 1));
    fd_grad(g, ctx.qkv, T3C, NULL, att_loss, &ctx);

    float *d[3];
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        d[nt - 1] = fill_f32(T3C, NAN); /* every row of every sequence must be written */
        ops->attention_backward(d[nt - 1], R, qkv, att, cu, B, C, H, p, seed, scratch);
    }
    omp_set_num_threads(1);
    CHECK_GRAD(d[0], g, T3C, "attention dqkv B=%d C=%d H=%d p=%g", B, C, H, p);
    for (int i = 1; i < 3; i++)
        CHECK_MSG(same_bits(d[0], d[i], T3C), "attention dqkv %d threads B=%d C=%d H=%d p=%g", i + 1, B, C, H, p);
    if (p <= 0.0f) {
        float *dn = fill_f32(T3C, NAN);
        ops->attention_backward(dn, R, qkv, att, cu, B, C, H, 0.0f, seed + 12345, scratch);
        CHECK_MSG(same_bits(d[0], dn, T3C), "attention backward p=0 depends on the seed");
        free(dn);
    }

    for (int i = 0; i < 3; i++)
        free(d[i]);
    free(g);
    free(ctx.qkv); free(ctx.out); free(ctx.R); free(ctx.s);
    free(cu); free(qkv); free(R); free(out); free(att); free(out_n); free(att_n); free(scratch);
}

/* ---------------------------------------------------------------- activations */

static double act_ref(double x, stc_activation act)
{
    switch (act) {
    case STC_ACT_TANH: return tanh(x);
    case STC_ACT_RELU: return x > 0 ? x : 0;
    case STC_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case STC_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case STC_ACT_IDENTITY: break;
    }
    return x;
}

typedef struct {
    double *x, *R;
    size_t n;
    stc_activation act;
} act_ctx;

static double act_loss(void *p)
{
    act_ctx *c = p;
    double s = 0.0;
    for (size_t i = 0; i < c->n; i++)
        s += act_ref(c->x[i], c->act) * c->R[i];
    return s;
}

static void test_activation(const stc_ops *ops, stc_activation act, const char *name)
{
    size_t n = 1001; /* odd: the vector loop's remainder runs too */
    float *x = rand_f32(n, 6.0f), *R = rand_f32(n, 1.0f);
    /* The tails (exp underflow), and nothing within the FD step of ReLU's kink. */
    x[0] = -20.0f; x[1] = 20.0f; x[2] = -9.5f; x[3] = 9.5f;
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) < 1e-3f)
            x[i] = x[i] < 0 ? -1e-3f : 1e-3f;
    float *out = malloc(sizeof(float) * n);
    ops->activation_forward(out, x, n, act);
    double *ref = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++)
        ref[i] = act_ref(x[i], act);
    CHECK_GRAD(out, ref, n, "%s forward", name);

    /* The function is elementwise, so one pass of FD over every x at once
     * would mix terms; perturb each element on its own. */
    act_ctx ctx = {to_f64(x, n), to_f64(R, n), n, act};
    double *g = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) {
        act_ctx one = {ctx.x + i, ctx.R + i, 1, act};
        fd_grad(g + i, one.x, 1, NULL, act_loss, &one);
    }

    float *d[3];
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        d[nt - 1] = fill_f32(n, NAN);
        ops->activation_backward(d[nt - 1], R, x, n, act);
    }
    omp_set_num_threads(1);
    CHECK_GRAD(d[0], g, n, "%s backward", name);
    for (int i = 1; i < 3; i++)
        CHECK_MSG(same_bits(d[0], d[i], n), "%s backward %d threads", name, i + 1);
    /* In place over dout. */
    float *inplace = malloc(sizeof(float) * n);
    memcpy(inplace, R, sizeof(float) * n);
    ops->activation_backward(inplace, inplace, x, n, act);
    CHECK_MSG(same_bits(inplace, d[0], n), "%s backward in place", name);

    for (int i = 0; i < 3; i++)
        free(d[i]);
    free(inplace); free(g); free(ctx.x); free(ctx.R); free(ref); free(out); free(x); free(R);
}

/* Values at the points FD cannot see, and a dense sweep of GELU's derivative
 * against the exact formula. */
static void test_activation_points(const stc_ops *ops)
{
    float zero = 0.0f, one = 1.0f, g;
    ops->activation_backward(&g, &one, &zero, 1, STC_ACT_RELU);
    CHECK(g == 0.0f); /* torch: relu'(0) = 0 */
    ops->activation_backward(&g, &one, &zero, 1, STC_ACT_GELU);
    CHECK_NEAR(g, 0.5, 1e-7);
    ops->activation_backward(&g, &one, &zero, 1, STC_ACT_SIGMOID);
    CHECK_NEAR(g, 0.25, 1e-7);
    ops->activation_backward(&g, &one, &zero, 1, STC_ACT_TANH);
    CHECK_NEAR(g, 1.0, 1e-7);

    size_t m = 200001;
    float *xs = malloc(sizeof(float) * m), *gs = malloc(sizeof(float) * m), *ones = fill_f32(m, 1.0f);
    for (size_t i = 0; i < m; i++)
        xs[i] = -20.0f + 40.0f * (float)i / (float)(m - 1);
    ops->activation_backward(gs, ones, xs, m, STC_ACT_GELU);
    double w = 0.0;
    for (size_t i = 0; i < m; i++) {
        double x = xs[i];
        double exact = 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
        w = fmax(w, fabs(gs[i] - exact));
    }
    /* erf's A&S error (1.5e-7) plus the x phi(x) term's rounding. */
    CHECK_MSG(w < 1e-6, "gelu derivative sweep %.3g", w);
    printf("gelu derivative: max abs error %.3g over [-20, 20]\n", w);
    free(xs); free(gs); free(ones);
}

/* ---------------------------------------------------------------- l2 normalize */

typedef struct {
    double *x, *out, *R;
    int N, C;
} l2_ctx;

static double l2_loss(void *p)
{
    l2_ctx *c = p;
    for (int n = 0; n < c->N; n++) {
        const double *x = c->x + (size_t)n * c->C;
        double ss = 0.0;
        for (int k = 0; k < c->C; k++)
            ss += x[k] * x[k];
        double den = fmax(sqrt(ss), 1e-12);
        for (int k = 0; k < c->C; k++)
            c->out[(size_t)n * c->C + k] = x[k] / den;
    }
    return dot_f64(c->out, c->R, (size_t)c->N * c->C);
}

static void test_l2_normalize(const stc_ops *ops)
{
    enum { N = 6, C = 7 };
    size_t NC = (size_t)N * C;
    float *x = rand_f32(NC, 2.0f), *R = rand_f32(NC, 1.0f);
    for (int k = 0; k < C; k++) {
        x[1 * C + k] = 0.0f;                   /* a zero row: the clamp's branch */
        x[3 * C + k] = 1e-14f * (float)(k - 3); /* a tiny row, norm < 1e-12: the clamp's branch */
        x[4 * C + k] *= 1e4f;                  /* a large row */
    }
    float *out = malloc(sizeof(float) * NC);
    ops->l2_normalize_forward(out, x, N, C);
    l2_ctx ctx = {to_f64(x, NC), malloc(sizeof(double) * NC), to_f64(R, NC), N, C};
    l2_loss(&ctx);
    CHECK_GRAD(out, ctx.out, NC, "l2_normalize forward");

    /* Steps relative to each row's scale, so that FD stays on the row's side
     * of the clamp (a zero row gets 1e-18: still below 1e-12). */
    double *h = malloc(sizeof(double) * NC), *g = malloc(sizeof(double) * NC);
    for (int n = 0; n < N; n++) {
        double ss = 0.0;
        for (int k = 0; k < C; k++)
            ss += ctx.x[n * C + k] * ctx.x[n * C + k];
        for (int k = 0; k < C; k++)
            h[n * C + k] = FD_STEP * fmax(sqrt(ss), 1e-12);
    }
    fd_grad(g, ctx.x, NC, h, l2_loss, &ctx);

    float *d[3];
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        d[nt - 1] = fill_f32(NC, NAN);
        ops->l2_normalize_backward(d[nt - 1], R, x, N, C);
    }
    omp_set_num_threads(1);
    CHECK_GRAD(d[0], g, NC, "l2_normalize backward");
    for (int i = 1; i < 3; i++)
        CHECK_MSG(same_bits(d[0], d[i], NC), "l2_normalize backward %d threads", i + 1);
    /* The zero row: dout / 1e-12 exactly (in float). */
    CHECK(d[0][C] == (float)(R[C] / 1e-12));
    float *inplace = malloc(sizeof(float) * NC);
    memcpy(inplace, R, sizeof(float) * NC);
    ops->l2_normalize_backward(inplace, inplace, x, N, C);
    CHECK_MSG(same_bits(inplace, d[0], NC), "l2_normalize backward in place");

    for (int i = 0; i < 3; i++)
        free(d[i]);
    free(inplace); free(h); free(g); free(ctx.x); free(ctx.out); free(ctx.R); free(out); free(x); free(R);
}

int main(void)
{
    const stc_ops *ops = stc_ops_cpu();
    test_embeddings(ops);

    test_layernorm(ops, 1, 3);
    test_layernorm(ops, 7, 45);
    test_layernorm(ops, 5, 96);

    test_matmul(ops, 1, 1, 1, 1, 1);
    test_matmul(ops, 9, 13, 7, 1, 1);
    test_matmul(ops, 5, 33, 37, 1, 1);
    test_matmul(ops, 4, 6, 3, 0, 1);
    test_matmul(ops, 0, 8, 8, 1, 1);
    /* Big enough for OpenBLAS to use its threads: determinism only. */
    test_matmul(ops, 301, 257, 199, 1, 0);

    int lens1[] = {1};
    int lens2[] = {3, 0, 1, 5, 2};
    int lens3[] = {0, 7};
    int lens4[] = {4, 1, 6};
    test_attention(ops, lens1, 1, 8, 2, 0.0f, 0);
    test_attention(ops, lens2, 5, 12, 3, 0.0f, 0);
    test_attention(ops, lens3, 2, 6, 1, 0.0f, 5);
    test_attention(ops, lens4, 3, 20, 4, 0.0f, 0);
    /* Attention-probability dropout (BERT's 0.1, and heavier). */
    test_attention(ops, lens1, 1, 8, 2, 0.5f, 99);
    test_attention(ops, lens2, 5, 12, 3, 0.3f, 0x5EEDull);
    test_attention(ops, lens3, 2, 6, 1, 0.1f, 17);
    test_attention(ops, lens4, 3, 20, 4, 0.5f, 0xDEADBEEFull);

    test_activation(ops, STC_ACT_GELU, "gelu");
    test_activation(ops, STC_ACT_TANH, "tanh");
    test_activation(ops, STC_ACT_RELU, "relu");
    test_activation(ops, STC_ACT_SIGMOID, "sigmoid");
    test_activation(ops, STC_ACT_IDENTITY, "identity");
    test_activation_points(ops);

    test_l2_normalize(ops);

    printf("worst relative gradient error vs float64 finite differences: %.3g (tolerance %.0e)\n",
           worst_seen, GRAD_TOL);
    return check_report("test_kernels_grad");
}
