/*
 * AdamW (torch.optim.AdamW semantics) and clip_grad_norm_ on CPU; see
 * optimizer.h for the update and for what "no gradient" means.
 */
#include "trainer/optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "stc's checkpoint buffers are little-endian; a big-endian host needs byte swapping here"
#endif

/* Elements per unit of parallel work (optimizer chunks, norm partials). */
enum { STC_OPT_CHUNK = 1 << 16 };

/* Per-parameter scalars of one step, in the precision torch applies them. */
typedef struct {
    int active;        /* has a gradient this step */
    float decay_mul;   /* 1 - lr*wd */
    float step_neg;    /* -(lr / (1 - b1^t)) */
    float bc2_sqrt;    /* sqrt(1 - b2^t) */
} adamw_scalars;

void stc_adamw_free(stc_adamw *opt)
{
    for (int s = 0; s < opt->n_sources; s++) {
        if (opt->m)
            free(opt->m[s]);
        if (opt->v)
            free(opt->v[s]);
    }
    free(opt->m);
    free(opt->v);
    free(opt->step);
    free(opt->chunks);
    free(opt->shard_begin);
    free(opt->shard_count);
    memset(opt, 0, sizeof *opt);
}

/* The pieces of at most STC_OPT_CHUNK elements of each parameter's part
 * in [lo, hi) of its source's slab (parameters in global order, each cut
 * from the start of that part). Fills chunks when non-NULL; returns the
 * count. */
static size_t adamw_chunks(const stc_param_groups *pg, const size_t *lo, const size_t *hi, stc_adamw_chunk *chunks)
{
    size_t nc = 0;
    for (int k = 0; k < pg->n_params; k++) {
        int s = pg->source[k];
        size_t b = pg->offset[k] > lo[s] ? pg->offset[k] : lo[s];
        size_t e = pg->offset[k] + pg->count[k] < hi[s] ? pg->offset[k] + pg->count[k] : hi[s];
        for (size_t x = b; x < e; x += STC_OPT_CHUNK, nc++)
            if (chunks) {
                chunks[nc].param = k;
                chunks[nc].begin = x;
                chunks[nc].count = e - x < STC_OPT_CHUNK ? e - x : STC_OPT_CHUNK;
            }
    }
    return nc;
}

int stc_adamw_init(stc_adamw *opt, const stc_param_groups *pg, double beta1, double beta2, double eps)
{
    return stc_adamw_init_shard(opt, pg, beta1, beta2, eps, NULL, NULL);
}

int stc_adamw_init_shard(stc_adamw *opt, const stc_param_groups *pg, double beta1, double beta2, double eps,
                         const size_t *shard_begin, const size_t *shard_count)
{
    memset(opt, 0, sizeof *opt);
    if (!(beta1 >= 0.0 && beta1 < 1.0) || !(beta2 >= 0.0 && beta2 < 1.0) || !(eps >= 0.0) || !isfinite(eps))
        return stc_errorf(STC_ERR_USAGE, "AdamW: need 0 <= adam_beta1, adam_beta2 < 1 and adam_epsilon >= 0 "
                          "(got %g, %g, %g)", beta1, beta2, eps);
    if (pg->n_sources > STC_ADAMW_MAX_SOURCES)
        return stc_errorf(STC_ERR_INTERNAL, "AdamW: %d parameter sources, at most %d", pg->n_sources,
                          STC_ADAMW_MAX_SOURCES);
    opt->beta1 = beta1;
    opt->beta2 = beta2;
    opt->eps = eps;
    opt->pg = pg;
    opt->n_sources = pg->n_sources;
    size_t ns = pg->n_sources ? (size_t)pg->n_sources : 1;
    opt->m = stc_calloc(ns, sizeof(float *), "AdamW moments");
    opt->v = stc_calloc(ns, sizeof(float *), "AdamW moments");
    opt->step = stc_calloc(pg->n_params ? (size_t)pg->n_params : 1, sizeof(int64_t), "AdamW steps");
    opt->shard_begin = stc_calloc(ns, sizeof(size_t), "AdamW shard");
    opt->shard_count = stc_calloc(ns, sizeof(size_t), "AdamW shard");
    size_t *hi = stc_calloc(ns, sizeof(size_t), "AdamW shard");
    if (!opt->m || !opt->v || !opt->step || !opt->shard_begin || !opt->shard_count || !hi)
        goto err_free_hi;
    for (int s = 0; s < pg->n_sources; s++) {
        opt->shard_begin[s] = shard_begin ? shard_begin[s] : 0;
        opt->shard_count[s] = shard_count ? shard_count[s] : pg->source_total[s];
        if (opt->shard_begin[s] > pg->source_total[s] ||
            opt->shard_count[s] > pg->source_total[s] - opt->shard_begin[s]) {
            int rc = stc_errorf(STC_ERR_INTERNAL, "AdamW: shard [%zu, +%zu) outside source %d's %zu elements",
                                opt->shard_begin[s], opt->shard_count[s], s, pg->source_total[s]);
            free(hi);
            stc_adamw_free(opt);
            return rc;
        }
        hi[s] = opt->shard_begin[s] + opt->shard_count[s];
        size_t n = opt->shard_count[s] ? opt->shard_count[s] : 1;
        opt->m[s] = stc_calloc(n, sizeof(float), "AdamW first moments");
        opt->v[s] = stc_calloc(n, sizeof(float), "AdamW second moments");
        if (!opt->m[s] || !opt->v[s])
            goto err_free_hi;
    }
    /* Work list: each parameter's part of the shard cut into pieces of at
     * most STC_OPT_CHUNK. */
    size_t nc = adamw_chunks(pg, opt->shard_begin, hi, NULL);
    opt->chunks = stc_malloc(sizeof *opt->chunks * (nc ? nc : 1), "AdamW work list");
    if (!opt->chunks)
        goto err_free_hi;
    opt->n_chunks = (int)adamw_chunks(pg, opt->shard_begin, hi, opt->chunks);
    free(hi);
    return 0;

err_free_hi:
    free(hi);
    stc_adamw_free(opt);
    return STC_ERR_NOMEM;
}

double stc_adamw_group_lr(const stc_adamw *opt, int g, double lr_factor)
{
    /* torch's LambdaLR: group["lr"] = base_lr * lambda(k), in double. */
    return opt->pg->groups[g].lr * lr_factor;
}

/* The update of elements [0, n) of one chunk (see optimizer.h); the
 * gradient is (g * pre) * post, rounded as two in-place passes would.
 * Elements are independent and each operation is IEEE-rounded alike in
 * vector and scalar form (no contraction into FMA in ISO C mode), so the
 * SIMD loop gives the scalar loop's bits. */
static void adamw_update(float *p, float *m, float *v, const float *g, size_t n, const adamw_scalars *sc,
                         float w1, float b2, float w2, float eps, float pre, float post)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float gi = (g[i] * pre) * post;
        float pi = p[i] * sc->decay_mul;
        float mi = m[i] + w1 * (gi - m[i]);
        float vi = v[i] * b2 + w2 * gi * gi;
        float denom = sqrtf(vi) / sc->bc2_sqrt + eps;
        p[i] = pi + sc->step_neg * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

int stc_adamw_step(stc_adamw *opt, const stc_adamw_slab *slabs, double lr_factor)
{
    return stc_adamw_step_scaled(opt, slabs, lr_factor, 1.0f, 1.0f);
}

int stc_adamw_step_scaled(stc_adamw *opt, const stc_adamw_slab *slabs, double lr_factor, float grad_pre,
                          float grad_post)
{
    const stc_param_groups *pg = opt->pg;
    adamw_scalars *sc = stc_malloc(sizeof *sc * (size_t)(pg->n_params ? pg->n_params : 1), "AdamW step");
    if (!sc)
        return STC_ERR_NOMEM;
    for (int s = 0; s < pg->n_sources; s++)
        if (!slabs[s].param || !slabs[s].grad) {
            free(sc);
            return stc_errorf(STC_ERR_INTERNAL, "AdamW step: source %d has no parameter or gradient slab", s);
        }
    /* Per parameter: advance its step count if it has a gradient and fix
     * the scalars, as torch computes them (double, then rounded to float
     * when they meet the float32 tensors). */
    for (int k = 0; k < pg->n_params; k++) {
        const unsigned char *hg = slabs[pg->source[k]].has_grad;
        sc[k].active = !hg || hg[pg->index[k]];
        if (!sc[k].active)
            continue;
        const stc_param_group *grp = &pg->groups[pg->group_of[k]];
        double lr = grp->lr * lr_factor;
        double t = (double)++opt->step[k];
        double bc1 = 1.0 - pow(opt->beta1, t);
        double bc2 = 1.0 - pow(opt->beta2, t);
        sc[k].decay_mul = grp->weight_decay != 0.0 ? (float)(1.0 - lr * grp->weight_decay) : 1.0f;
        sc[k].step_neg = (float)(-(lr / bc1));
        sc[k].bc2_sqrt = (float)sqrt(bc2);
    }
    float w1 = (float)(1.0 - opt->beta1), b2 = (float)opt->beta2, w2 = (float)(1.0 - opt->beta2);
    float eps = (float)opt->eps;
    int n_chunks = opt->n_chunks;
#pragma omp parallel for schedule(dynamic, 1)
    for (int c = 0; c < n_chunks; c++) {
        const stc_adamw_chunk *ch = &opt->chunks[c];
        int k = ch->param;
        if (!sc[k].active)
            continue;
        int s = pg->source[k];
        size_t o = ch->begin - opt->shard_begin[s]; /* in the moments and the gradient */
        adamw_update(slabs[s].param + ch->begin, opt->m[s] + o, opt->v[s] + o, slabs[s].grad + o, ch->count,
                     &sc[k], w1, b2, w2, eps, grad_pre, grad_post);
    }
    free(sc);
    return 0;
}

/* ---- state buffer ----------------------------------------------------- */

static const char adamw_magic[8] = {'S', 'T', 'C', 'A', 'D', 'A', 'M', 'W'};
enum { ADAMW_STATE_VERSION = 1 };

/* Header: magic, u32 version, u32 n_sources, f64 beta1, beta2, eps,
 * u64 n_params, u64 total[n_sources]. */
static size_t header_bytes(int n_sources)
{
    return 8 + 4 + 4 + 3 * 8 + 8 + 8 * (size_t)n_sources;
}

size_t stc_adamw_state_bytes(const stc_adamw *opt)
{
    size_t n = header_bytes(opt->n_sources) + 8 * (size_t)opt->pg->n_params;
    for (int s = 0; s < opt->n_sources; s++)
        n += 2 * sizeof(float) * opt->shard_count[s];
    return n;
}

/* Sequential writer / reader over a byte buffer. */
static void wr(unsigned char **p, const void *src, size_t n)
{
    memcpy(*p, src, n);
    *p += n;
}

static void rd(const unsigned char **p, void *dst, size_t n)
{
    memcpy(dst, *p, n);
    *p += n;
}

int stc_adamw_state_save(const stc_adamw *opt, void *buf, size_t cap)
{
    size_t need = stc_adamw_state_bytes(opt);
    if (cap < need)
        return stc_errorf(STC_ERR_INTERNAL, "AdamW state: buffer of %zu bytes, need %zu", cap, need);
    unsigned char *p = buf;
    uint32_t version = ADAMW_STATE_VERSION, ns = (uint32_t)opt->n_sources;
    uint64_t np = (uint64_t)opt->pg->n_params;
    wr(&p, adamw_magic, 8);
    wr(&p, &version, 4);
    wr(&p, &ns, 4);
    wr(&p, &opt->beta1, 8);
    wr(&p, &opt->beta2, 8);
    wr(&p, &opt->eps, 8);
    wr(&p, &np, 8);
    for (int s = 0; s < opt->n_sources; s++) {
        uint64_t t = opt->shard_count[s];
        wr(&p, &t, 8);
    }
    wr(&p, opt->step, 8 * (size_t)np);
    for (int s = 0; s < opt->n_sources; s++) {
        wr(&p, opt->m[s], sizeof(float) * opt->shard_count[s]);
        wr(&p, opt->v[s], sizeof(float) * opt->shard_count[s]);
    }
    return 0;
}

/* A state buffer's header, validated against opt's model: the betas, eps,
 * each source's element count, and where the step counts and moments
 * start. */
typedef struct {
    double b1, b2, eps;
    uint64_t count[STC_ADAMW_MAX_SOURCES];
    const unsigned char *steps, *moments;
} state_header;

static int parse_header(const stc_adamw *opt, const void *buf, size_t len, const char *what, state_header *h)
{
    const unsigned char *p = buf;
    if (len < header_bytes(0) || memcmp(p, adamw_magic, 8) != 0)
        return stc_errorf(STC_ERR_DATA, "%s: not an stc AdamW state (bad magic or too short)", what);
    p += 8;
    uint32_t version, ns;
    uint64_t np;
    rd(&p, &version, 4);
    rd(&p, &ns, 4);
    rd(&p, &h->b1, 8);
    rd(&p, &h->b2, 8);
    rd(&p, &h->eps, 8);
    rd(&p, &np, 8);
    if (version != ADAMW_STATE_VERSION)
        return stc_errorf(STC_ERR_DATA, "%s: AdamW state version %u, this stc reads %d", what, version,
                          ADAMW_STATE_VERSION);
    if (ns != (uint32_t)opt->n_sources || np != (uint64_t)opt->pg->n_params || ns > STC_ADAMW_MAX_SOURCES)
        return stc_errorf(STC_ERR_DATA,
                          "%s: AdamW state for %u parameter sources / %llu tensors, the model has %d / %d",
                          what, ns, (unsigned long long)np, opt->n_sources, opt->pg->n_params);
    if (len < header_bytes(opt->n_sources))
        return stc_errorf(STC_ERR_DATA, "%s: AdamW state truncated", what);
    size_t need = header_bytes(opt->n_sources) + 8 * (size_t)np;
    for (int s = 0; s < opt->n_sources; s++) {
        rd(&p, &h->count[s], 8);
        need += 2 * sizeof(float) * h->count[s];
    }
    if (len != need)
        return stc_errorf(STC_ERR_DATA, "%s: AdamW state is %zu bytes, its header says %zu", what, len, need);
    if (!(h->b1 >= 0.0 && h->b1 < 1.0) || !(h->b2 >= 0.0 && h->b2 < 1.0) || !(h->eps >= 0.0) || !isfinite(h->eps))
        return stc_errorf(STC_ERR_DATA, "%s: AdamW state has betas (%g, %g) / eps %g out of range", what, h->b1,
                          h->b2, h->eps);
    h->steps = p;
    for (uint64_t k = 0; k < np; k++) {
        int64_t st;
        memcpy(&st, h->steps + 8 * k, 8);
        if (st < 0)
            return stc_errorf(STC_ERR_DATA, "%s: AdamW state has a negative step count", what);
    }
    h->moments = h->steps + 8 * np;
    return 0;
}

int stc_adamw_state_load(stc_adamw *opt, const void *buf, size_t len, const char *what)
{
    state_header h;
    int rc = parse_header(opt, buf, len, what, &h);
    if (rc)
        return rc;
    for (int s = 0; s < opt->n_sources; s++)
        if (h.count[s] != (uint64_t)opt->shard_count[s])
            return stc_errorf(STC_ERR_DATA, "%s: AdamW state holds %llu elements for source %d, this optimizer %zu",
                              what, (unsigned long long)h.count[s], s, opt->shard_count[s]);
    return stc_adamw_state_load_range(opt, buf, len, opt->shard_begin, opt->shard_count, what);
}

int stc_adamw_state_load_range(stc_adamw *opt, const void *buf, size_t len, const size_t *buf_begin,
                               const size_t *buf_count, const char *what)
{
    state_header h;
    int rc = parse_header(opt, buf, len, what, &h);
    if (rc)
        return rc;
    for (int s = 0; s < opt->n_sources; s++)
        if (h.count[s] != (uint64_t)buf_count[s])
            return stc_errorf(STC_ERR_DATA, "%s: AdamW state holds %llu elements for source %d, its shard has %zu",
                              what, (unsigned long long)h.count[s], s, buf_count[s]);
    /* Validated: now overwrite. Step counts advance on every rank alike
     * (each parameter with a gradient, whatever the shard), so any
     * shard's copy is everyone's. */
    opt->beta1 = h.b1;
    opt->beta2 = h.b2;
    opt->eps = h.eps;
    memcpy(opt->step, h.steps, 8 * (size_t)opt->pg->n_params);
    const unsigned char *p = h.moments;
    for (int s = 0; s < opt->n_sources; s++) {
        size_t fb = buf_begin[s], fc = (size_t)h.count[s];
        size_t ob = opt->shard_begin[s], oc = opt->shard_count[s];
        size_t lo = fb > ob ? fb : ob, hi = fb + fc < ob + oc ? fb + fc : ob + oc;
        const float *m = (const float *)(const void *)p, *v = m + fc;
        if (lo < hi) {
            memcpy(opt->m[s] + (lo - ob), m + (lo - fb), sizeof(float) * (hi - lo));
            memcpy(opt->v[s] + (lo - ob), v + (lo - fb), sizeof(float) * (hi - lo));
        }
        p += 2 * sizeof(float) * fc;
    }
    return 0;
}

/* ---- gradient clipping ------------------------------------------------- */

/* The norm's pieces: at most STC_OPT_CHUNK elements of each tensor with a
 * gradient, within [lo, hi) of the slab, in table order, each tensor's part
 * cut from its start. Fills begin/count when non-NULL; returns the count. */
static size_t norm_pieces(const stc_param_table *t, const unsigned char *has_grad, size_t lo, size_t hi,
                          size_t *begin, size_t *count)
{
    size_t q = 0;
    for (int i = 0; i < t->n; i++) {
        if (has_grad && !has_grad[i])
            continue;
        const stc_param *p = &t->params[i];
        size_t b = p->offset > lo ? p->offset : lo, e = p->offset + p->count < hi ? p->offset + p->count : hi;
        for (size_t x = b; x < e; x += STC_OPT_CHUNK, q++)
            if (begin) {
                begin[q] = x;
                count[q] = e - x < STC_OPT_CHUNK ? e - x : STC_OPT_CHUNK;
            }
    }
    return q;
}

/* Sum of squares of (grad[i - lo] * pre) over the pieces of [lo, hi): each
 * piece's sum taken sequentially, the partials added in piece order, so the
 * result is the same for any thread count. */
static int sum_squares(const stc_param_table *t, const float *grad, const unsigned char *has_grad, size_t lo,
                       size_t hi, float pre, double *out)
{
    size_t n_pieces = norm_pieces(t, has_grad, lo, hi, NULL, NULL), np1 = n_pieces ? n_pieces : 1;
    size_t *begin = stc_malloc(sizeof(size_t) * np1, "gradient norm");
    size_t *count = stc_malloc(sizeof(size_t) * np1, "gradient norm");
    double *partial = stc_malloc(sizeof(double) * np1, "gradient norm");
    if (!begin || !count || !partial) {
        free(begin);
        free(count);
        free(partial);
        return STC_ERR_NOMEM;
    }
    norm_pieces(t, has_grad, lo, hi, begin, count);
    long np = (long)n_pieces;
#pragma omp parallel for schedule(static)
    for (long j = 0; j < np; j++) {
        const float *g = grad + (begin[j] - lo);
        double acc = 0.0;
        for (size_t i = 0; i < count[j]; i++) {
            float gi = g[i] * pre;
            acc += (double)gi * (double)gi;
        }
        partial[j] = acc;
    }
    double sum = 0.0;
    for (long j = 0; j < np; j++)
        sum += partial[j];
    *out = sum;
    free(begin);
    free(count);
    free(partial);
    return 0;
}

float stc_clip_coef(double norm, double max_norm)
{
    if (!(max_norm > 0.0) || !isfinite(norm))
        return 1.0f;
    double coef = max_norm / (norm + 1e-6);
    return coef < 1.0 ? (float)coef : 1.0f;
}

int stc_clip_grad_norm(const stc_param_table *t, float *grad, const unsigned char *has_grad,
                       double max_norm, double *norm_out)
{
    double sum;
    int rc = sum_squares(t, grad, has_grad, 0, t->total, 1.0f, &sum);
    if (rc)
        return rc;
    double norm = sqrt(sum);
    *norm_out = norm;
    float c = stc_clip_coef(norm, max_norm);
    if (c != 1.0f) {
        size_t n_pieces = norm_pieces(t, has_grad, 0, t->total, NULL, NULL), np1 = n_pieces ? n_pieces : 1;
        size_t *begin = stc_malloc(sizeof(size_t) * np1, "gradient clipping");
        size_t *count = stc_malloc(sizeof(size_t) * np1, "gradient clipping");
        if (!begin || !count) {
            free(begin);
            free(count);
            return STC_ERR_NOMEM;
        }
        norm_pieces(t, has_grad, 0, t->total, begin, count);
        long np = (long)n_pieces;
#pragma omp parallel for schedule(static)
        for (long j = 0; j < np; j++) {
            float *g = grad + begin[j];
            for (size_t i = 0; i < count[j]; i++)
                g[i] *= c;
        }
        free(begin);
        free(count);
    }
    return 0;
}

int stc_grad_sum_squares_shard(const stc_param_table *t, const float *grad, const unsigned char *has_grad,
                               size_t begin, size_t count, float pre, double *sumsq)
{
    if (begin > t->total || count > t->total - begin)
        return stc_errorf(STC_ERR_INTERNAL, "gradient norm: shard [%zu, +%zu) outside %zu elements", begin, count,
                          t->total);
    return sum_squares(t, grad, has_grad, begin, begin + count, pre, sumsq);
}
