/*
 * The in-batch-negatives family: MultipleNegativesRankingLoss as
 * sentence-transformers 6.3 computes it (compute_loss_from_embeddings and
 * CachedMultipleNegativesRankingLoss.calculate_loss), on local anchors
 * against a candidate matrix that may hold every rank's candidates.
 *
 * Shapes: B local anchors, Na anchor rows (B, or W when gathered), k
 * candidate columns of W rows each, Nc = k*W candidates, m anchors per chunk.
 *
 * For local anchor i (anchor row oa+i, positive candidate row oc+i) the
 * logits are, per selected direction (Python's sim_matrices):
 *   query_to_doc   [Nc]  sim(q_i, c_j) * scale (+ hardness penalty)
 *   query_to_query [W]   sim(q_i, q_j) * scale, -inf at j = oa+i
 *   doc_to_query   [W]   sim(d_i, q_j) * scale, d_i = c_{oc+i}
 *   doc_to_doc     [Nc]  sim(d_i, c_j) * scale, -inf where j % W == oc+i
 * loss_i = log_z_i - logit_qd[i, oc+i], log_z the logsumexp of all blocks
 * (joint) or the mean of the blocks' logsumexps (per_direction); the loss is
 * the mean over the B local anchors. Anchor chunks of mini_batch_size rows
 * add CE(chunk) * m / B each, as CachedMNRL does; the candidate gradient sums
 * over chunks before the normalisation backward, which by linearity equals
 * Python's per-chunk backward through cos_sim.
 */
#include "trainer/loss_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "util/error.h"

enum { BLK_QD, BLK_QQ, BLK_DQ, BLK_DD };

/* One direction's block of a logits row. */
typedef struct {
    int kind;  /* BLK_* */
    int off;   /* first column in the logits row */
    int cols;  /* Nc or W */
} mnrl_block;

/* logsumexp of x[0..n), -inf entries allowed (at least one finite). */
double stc_loss_logsumexp(const double *x, int n)
{
    double mx = -INFINITY;
    for (int j = 0; j < n; j++)
        if (x[j] > mx)
            mx = x[j];
    if (mx == -INFINITY)
        return -INFINITY;
    if (!isfinite(mx))
        return mx; /* +inf or NaN propagates */
    double s = 0.0;
    for (int j = 0; j < n; j++)
        s += exp(x[j] - mx);
    return mx + log(s);
}

/* 1 if the hardness penalty applies to query_to_doc column j of the anchor
 * whose own positive is candidate row own (Python's penalty_exclusion_mask
 * negated). */
static int hardness_applies(stc_mnrl_hardness mode, int j, int W, int own)
{
    int own_row = (j % W) == own;
    switch (mode) {
    case STC_HARDNESS_IN_BATCH_NEGATIVES: return !own_row;
    case STC_HARDNESS_HARD_NEGATIVES: return own_row && j >= W;
    case STC_HARDNESS_ALL_NEGATIVES: return j != own;
    default: return 0;
    }
}

/* C[m, n] (+)= A[m, D] . Bm[n, D]^T with C's leading dimension ldc. */
void stc_loss_gemm_abt(double *C, int ldc, const double *A, const double *Bm, int m, int n, int D,
                     double beta)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, D, 1.0, A, D, Bm, D, beta, C, ldc);
}

/* dA[m, D] += dS[m, n] . Bm[n, D] (dS with leading dimension lds). */
void stc_loss_gemm_sb(double *dA, const double *dS, int lds, const double *Bm, int m, int n, int D)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, D, n, 1.0, dS, lds, Bm, D, 1.0, dA, D);
}

/* dB[n, D] += dS[m, n]^T . A[m, D]. */
void stc_loss_gemm_stA(double *dB, const double *dS, int lds, const double *A, int m, int n, int D)
{
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, D, m, 1.0, dS, lds, A, D, 1.0, dB, D);
}

int stc_loss_mnrl_f64(const stc_loss_spec *spec, const double *anchors, const double *cands,
                      const stc_inbatch_geometry *geo, int D, double *loss, double *danchors,
                      double *dcands)
{
    const int B = geo->n_local, Na = geo->anchor_rows, W = geo->cand_col_rows;
    const int Nc = geo->cand_cols * W, oa = geo->anchor_offset, oc = geo->cand_offset;
    const int want_grad = danchors != NULL && dcands != NULL;
    const int cos = spec->similarity == STC_SIM_COS;
    const double scale = spec->scale;
    const double alpha = spec->hardness_mode != STC_HARDNESS_NONE ? spec->hardness_strength : 0.0;
    int rc = STC_OK;
    double *qn_buf = NULL, *qnorm = NULL, *cn_buf = NULL, *cnorm = NULL;
    double *dq = NULL, *dc = NULL, *logits = NULL, *row_loss = NULL;
    const double *Qn = anchors, *Cn = cands;

    mnrl_block blk[4];
    int nb = 0, total = 0;
    const unsigned dirs = spec->directions;
    if (dirs & STC_MNRL_QUERY_TO_DOC) { blk[nb] = (mnrl_block){BLK_QD, total, Nc}; total += Nc; nb++; }
    if (dirs & STC_MNRL_QUERY_TO_QUERY) { blk[nb] = (mnrl_block){BLK_QQ, total, W}; total += W; nb++; }
    if (dirs & STC_MNRL_DOC_TO_QUERY) { blk[nb] = (mnrl_block){BLK_DQ, total, W}; total += W; nb++; }
    if (dirs & STC_MNRL_DOC_TO_DOC) { blk[nb] = (mnrl_block){BLK_DD, total, Nc}; total += Nc; nb++; }

    const int chunk = spec->mini_batch_size > 0 && spec->mini_batch_size < B ? spec->mini_batch_size : B;

    if (cos) {
        qn_buf = stc_malloc((size_t)Na * D * sizeof(double), "mnrl normalised anchors");
        qnorm = stc_malloc((size_t)Na * sizeof(double), "mnrl anchor norms");
        cn_buf = stc_malloc((size_t)Nc * D * sizeof(double), "mnrl normalised candidates");
        cnorm = stc_malloc((size_t)Nc * sizeof(double), "mnrl candidate norms");
        if (!qn_buf || !qnorm || !cn_buf || !cnorm) {
            rc = STC_ERR_NOMEM;
            goto out;
        }
        stc_loss_normalize_rows(qn_buf, qnorm, anchors, Na, D, STC_NORMALIZE_EPS);
        stc_loss_normalize_rows(cn_buf, cnorm, cands, Nc, D, STC_NORMALIZE_EPS);
        Qn = qn_buf;
        Cn = cn_buf;
    }
    if (want_grad) {
        if (cos) {
            dq = stc_calloc((size_t)Na * D, sizeof(double), "mnrl anchor gradient");
            dc = stc_calloc((size_t)Nc * D, sizeof(double), "mnrl candidate gradient");
            if (!dq || !dc) {
                rc = STC_ERR_NOMEM;
                goto out;
            }
        } else {
            dq = danchors;
            dc = dcands;
            memset(dq, 0, (size_t)Na * D * sizeof(double));
            memset(dc, 0, (size_t)Nc * D * sizeof(double));
        }
    }
    logits = stc_malloc((size_t)chunk * total * sizeof(double), "mnrl logits");
    row_loss = stc_malloc((size_t)chunk * sizeof(double), "mnrl row losses");
    if (!logits || !row_loss) {
        rc = STC_ERR_NOMEM;
        goto out;
    }

    double sum = 0.0;
    for (int b = 0; b < B; b += chunk) {
        const int m = B - b < chunk ? B - b : chunk;
        const double *qc = Qn + (size_t)(oa + b) * D; /* this chunk's anchors [m, D] */
        const double *dcn = Cn + (size_t)(oc + b) * D; /* their positives [m, D] */

        /* Raw similarities, block by block, into the logits rows. */
        for (int t = 0; t < nb; t++) {
            double *dst = logits + blk[t].off;
            switch (blk[t].kind) {
            case BLK_QD: stc_loss_gemm_abt(dst, total, qc, Cn, m, Nc, D, 0.0); break;
            case BLK_QQ: stc_loss_gemm_abt(dst, total, qc, Qn, m, W, D, 0.0); break;
            case BLK_DQ: stc_loss_gemm_abt(dst, total, dcn, Qn, m, W, D, 0.0); break;
            default: stc_loss_gemm_abt(dst, total, dcn, Cn, m, Nc, D, 0.0); break;
            }
        }

        /* Scale, penalise, mask; loss and d(raw similarity) per row. */
        #pragma omp parallel for schedule(static)
        for (int i = 0; i < m; i++) {
            double *row = logits + (size_t)i * total;
            const int own = oc + b + i; /* own positive: candidate row, and doc-to-doc mask */
            const int self = oa + b + i; /* own anchor row: query-to-query mask */
            double lse_blk[4];
            for (int t = 0; t < nb; t++) {
                double *x = row + blk[t].off;
                if (blk[t].kind == BLK_QD && alpha > 0.0) {
                    for (int j = 0; j < Nc; j++)
                        x[j] = x[j] * scale +
                               (hardness_applies(spec->hardness_mode, j, W, own) ? alpha * x[j] : 0.0);
                } else {
                    for (int j = 0; j < blk[t].cols; j++)
                        x[j] *= scale;
                }
                if (blk[t].kind == BLK_QQ)
                    x[self] = -INFINITY;
                if (blk[t].kind == BLK_DD)
                    for (int j = own % W; j < Nc; j += W)
                        x[j] = -INFINITY;
                lse_blk[t] = stc_loss_logsumexp(x, blk[t].cols);
            }
            double log_z;
            if (spec->partition == STC_MNRL_JOINT) {
                log_z = stc_loss_logsumexp(row, total);
            } else {
                log_z = 0.0;
                for (int t = 0; t < nb; t++)
                    log_z += lse_blk[t];
                log_z /= nb;
            }
            row_loss[i] = log_z - row[own]; /* the query_to_doc block is first */
            if (!want_grad)
                continue;
            /* d loss / d logit, times scale = d loss / d raw similarity
             * (the hardness penalty is a stop-gradient constant). */
            if (spec->partition == STC_MNRL_JOINT) {
                const double w = scale / B;
                for (int j = 0; j < total; j++)
                    row[j] = w * exp(row[j] - log_z);
            } else {
                const double w = scale / ((double)B * nb);
                for (int t = 0; t < nb; t++) {
                    double *x = row + blk[t].off;
                    for (int j = 0; j < blk[t].cols; j++)
                        x[j] = w * exp(x[j] - lse_blk[t]);
                }
            }
            row[own] -= scale / B;
        }
        double chunk_sum = 0.0;
        for (int i = 0; i < m; i++)
            chunk_sum += row_loss[i];
        sum += chunk_sum / B;

        if (!want_grad)
            continue;
        double *dqc = dq + (size_t)(oa + b) * D;
        double *ddc = dc + (size_t)(oc + b) * D;
        for (int t = 0; t < nb; t++) {
            const double *dS = logits + blk[t].off;
            switch (blk[t].kind) {
            case BLK_QD:
                stc_loss_gemm_sb(dqc, dS, total, Cn, m, Nc, D);
                stc_loss_gemm_stA(dc, dS, total, qc, m, Nc, D);
                break;
            case BLK_QQ:
                stc_loss_gemm_sb(dqc, dS, total, Qn, m, W, D);
                stc_loss_gemm_stA(dq, dS, total, qc, m, W, D);
                break;
            case BLK_DQ:
                stc_loss_gemm_sb(ddc, dS, total, Qn, m, W, D);
                stc_loss_gemm_stA(dq, dS, total, dcn, m, W, D);
                break;
            default:
                stc_loss_gemm_sb(ddc, dS, total, Cn, m, Nc, D);
                stc_loss_gemm_stA(dc, dS, total, dcn, m, Nc, D);
                break;
            }
        }
    }
    *loss = sum;

    if (want_grad && cos) {
        stc_loss_normalize_rows_backward(danchors, dq, Qn, qnorm, Na, D, STC_NORMALIZE_EPS);
        stc_loss_normalize_rows_backward(dcands, dc, Cn, cnorm, Nc, D, STC_NORMALIZE_EPS);
    }

out:
    free(row_loss);
    free(logits);
    if (cos) {
        free(dq);
        free(dc);
    }
    free(cnorm);
    free(cn_buf);
    free(qnorm);
    free(qn_buf);
    return rc;
}
