/*
 * GISTEmbedLoss and CachedGISTEmbedLoss as sentence-transformers 6.3
 * computes them (gist_embed.py forward, cached_gist_embed.py
 * calculate_loss): MNRL-like cross-entropy over cosine scores / temperature,
 * where a guide model's similarities decide which in-batch candidates are
 * false negatives and drop them (-inf).
 *
 * Shapes: B local anchors (never gathered), k candidate columns of W rows
 * each (positives, then the negative columns; W = P*B when gathered),
 * Nc = k*W candidates, D the student's width, Dg the guide's, m anchors per
 * chunk.
 *
 * For local anchor i, own = cand_offset + i (its positive, the CE target),
 * with s the student's and g the guide's cosine (nn.CosineSimilarity: rows
 * divided by max(||x||, 1e-8)):
 *   thr_i  = g(a_i, p_own); a score is dropped where g > thr_i - margin
 *            ("absolute") or g > thr_i - |thr_i| * margin ("relative");
 *   blocks = [s(a_i, c_j) for every candidate j (Python's anchor-positive
 *             and anchor-negative blocks), the positive j = own never dropped;
 *             s(a_i, a_j), j < B, j = i dropped      (contrast_anchors);
 *             s(p_own, p_j), j < W, j = own dropped   (contrast_positives)]
 *   loss_i = logsumexp(blocks / temperature) - s(a_i, p_own) / temperature
 * and the loss is the mean over the B local anchors. The order of the blocks
 * in a row differs from Python's concatenation, which changes nothing (a
 * logsumexp and a target index). Chunks of mini_batch_size anchors add
 * CE(chunk) * m / B, as the cached loss does; the guide takes no gradient.
 */
#include "trainer/loss_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define TORCH_COS_EPS 1e-8 /* nn.CosineSimilarity's eps */

/* Unit rows (x / max(||x||, eps)) of R float rows, in float64. */
static void normalize_guide(double *y, const float *x, int R, int D)
{
    for (int r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * D;
        double s = 0.0;
        for (int j = 0; j < D; j++)
            s += (double)xr[j] * xr[j];
        double n = sqrt(s), den = n > TORCH_COS_EPS ? n : TORCH_COS_EPS;
        for (int j = 0; j < D; j++)
            y[(size_t)r * D + j] = xr[j] / den;
    }
}

/* torch.cosine_similarity's backward through y = x / max(||x||, eps),
 * assigned: dx = (dy - y (y.dy)) / ||x|| above eps; below it torch divides by
 * eps but keeps the norm's own gradient unclamped:
 * dx = (dy - (y.dy) x / ||x||) / eps (loss_pairwise.c, torch_cos_backward). */
static void cos_rows_backward(double *dx, const double *dy, const double *y, const double *x,
                              const double *norm, int R, int D)
{
    for (int r = 0; r < R; r++) {
        const double *dyr = dy + (size_t)r * D, *yr = y + (size_t)r * D, *xr = x + (size_t)r * D;
        double *dxr = dx + (size_t)r * D;
        double dot = stc_loss_dot(yr, dyr, D), n = norm[r];
        if (n >= TORCH_COS_EPS) {
            for (int j = 0; j < D; j++)
                dxr[j] = (dyr[j] - yr[j] * dot) / n;
        } else {
            double u = n > 0.0 ? 1.0 / n : 0.0;
            for (int j = 0; j < D; j++)
                dxr[j] = (dyr[j] - dot * xr[j] * u) / TORCH_COS_EPS;
        }
    }
}

int stc_loss_gist_f64(const stc_loss_spec *spec, const double *anchors, const double *cands,
                      const stc_inbatch_geometry *geo, int D, double *loss, double *danchors,
                      double *dcands)
{
    const stc_loss_guide *gd = spec->guide;
    const int B = geo->n_local, W = geo->cand_col_rows, Nc = geo->cand_cols * W, oc = geo->cand_offset;
    const int Dg = gd->dim;
    const int want_grad = danchors != NULL && dcands != NULL;
    const double inv_t = 1.0 / spec->temperature, margin = spec->margin;
    /* the row's blocks: candidates [Nc], anchors [B], positives [W] */
    const int off_aa = Nc, off_pp = Nc + (spec->contrast_anchors ? B : 0);
    const int total = off_pp + (spec->contrast_positives ? W : 0);
    const int chunk = spec->mini_batch_size > 0 && spec->mini_batch_size < B ? spec->mini_batch_size : B;
    int rc = STC_OK;

    double *an = stc_malloc((size_t)B * D * sizeof(double), "gist unit anchors");
    double *anrm = stc_malloc((size_t)B * sizeof(double), "gist anchor norms");
    double *cn = stc_malloc((size_t)Nc * D * sizeof(double), "gist unit candidates");
    double *cnrm = stc_malloc((size_t)Nc * sizeof(double), "gist candidate norms");
    double *ga = stc_malloc((size_t)B * Dg * sizeof(double), "gist guide anchors");
    double *gc = stc_malloc((size_t)Nc * Dg * sizeof(double), "gist guide candidates");
    double *logits = stc_malloc((size_t)chunk * total * sizeof(double), "gist logits");
    double *gsim = stc_malloc((size_t)chunk * total * sizeof(double), "gist guide similarities");
    double *row_loss = stc_malloc((size_t)chunk * sizeof(double), "gist row losses");
    double *dan = want_grad ? stc_calloc((size_t)B * D, sizeof(double), "gist anchor gradient") : NULL;
    double *dcn = want_grad ? stc_calloc((size_t)Nc * D, sizeof(double), "gist candidate gradient") : NULL;
    if (!an || !anrm || !cn || !cnrm || !ga || !gc || !logits || !gsim || !row_loss ||
        (want_grad && (!dan || !dcn))) {
        rc = STC_ERR_NOMEM;
        goto out;
    }
    stc_loss_normalize_rows(an, anrm, anchors, B, D, TORCH_COS_EPS);
    stc_loss_normalize_rows(cn, cnrm, cands, Nc, D, TORCH_COS_EPS);
    normalize_guide(ga, gd->anchors, B, Dg);
    normalize_guide(gc, gd->cands, Nc, Dg);

    double sum = 0.0;
    for (int b = 0; b < B; b += chunk) {
        const int m = B - b < chunk ? B - b : chunk;
        const double *ac = an + (size_t)b * D, *pc = cn + (size_t)(oc + b) * D;
        const double *gac = ga + (size_t)b * Dg, *gpc = gc + (size_t)(oc + b) * Dg;
        stc_loss_gemm_abt(logits, total, ac, cn, m, Nc, D, 0.0);
        stc_loss_gemm_abt(gsim, total, gac, gc, m, Nc, Dg, 0.0);
        if (spec->contrast_anchors) {
            stc_loss_gemm_abt(logits + off_aa, total, ac, an, m, B, D, 0.0);
            stc_loss_gemm_abt(gsim + off_aa, total, gac, ga, m, B, Dg, 0.0);
        }
        if (spec->contrast_positives) {
            stc_loss_gemm_abt(logits + off_pp, total, pc, cn, m, W, D, 0.0);
            stc_loss_gemm_abt(gsim + off_pp, total, gpc, gc, m, W, Dg, 0.0);
        }

        /* Mask, scale; loss and d(raw similarity) per row. */
        #pragma omp parallel for schedule(static)
        for (int i = 0; i < m; i++) {
            double *row = logits + (size_t)i * total;
            const double *g = gsim + (size_t)i * total;
            const int own = oc + b + i; /* < Nc: only the candidate block holds it */
            const double thr = g[own];
            const double bound = spec->margin_relative ? thr - fabs(thr) * margin : thr - margin;
            for (int j = 0; j < total; j++)
                row[j] = j != own && g[j] > bound ? -INFINITY : row[j] * inv_t;
            if (spec->contrast_anchors)
                row[off_aa + b + i] = -INFINITY;
            if (spec->contrast_positives)
                row[off_pp + own] = -INFINITY;
            const double log_z = stc_loss_logsumexp(row, total);
            row_loss[i] = log_z - row[own];
            if (!want_grad)
                continue;
            /* d loss / d raw similarity: (softmax - onehot) / (B * temperature) */
            const double w = inv_t / B;
            for (int j = 0; j < total; j++)
                row[j] = w * exp(row[j] - log_z);
            row[own] -= w;
        }
        for (int i = 0; i < m; i++) /* the chunk's CE * m / B */
            sum += row_loss[i] / B;
        if (!want_grad)
            continue;
        double *dac = dan + (size_t)b * D, *dpc = dcn + (size_t)(oc + b) * D;
        stc_loss_gemm_sb(dac, logits, total, cn, m, Nc, D);
        stc_loss_gemm_stA(dcn, logits, total, ac, m, Nc, D);
        if (spec->contrast_anchors) {
            stc_loss_gemm_sb(dac, logits + off_aa, total, an, m, B, D);
            stc_loss_gemm_stA(dan, logits + off_aa, total, ac, m, B, D);
        }
        if (spec->contrast_positives) {
            stc_loss_gemm_sb(dpc, logits + off_pp, total, cn, m, W, D);
            stc_loss_gemm_stA(dcn, logits + off_pp, total, pc, m, W, D);
        }
    }
    *loss = sum;
    if (want_grad) {
        cos_rows_backward(danchors, dan, an, anchors, anrm, B, D);
        cos_rows_backward(dcands, dcn, cn, cands, cnrm, Nc, D);
    }
out:
    free(an);
    free(anrm);
    free(cn);
    free(cnrm);
    free(ga);
    free(gc);
    free(logits);
    free(gsim);
    free(row_loss);
    free(dan);
    free(dcn);
    return rc;
}
