/*
 * What the loss files share and the public API (losses.h) does not show:
 * the float64 input set one loss evaluation sees, the per-family cores, and
 * the row normalisation of F.normalize with its backward.
 *
 * A loss input set is a list of matrices of equal width D: the text columns
 * [B, D] each (pairwise losses), or anchors [Na, D] and candidates [k*W, D]
 * with geometry (in-batch losses). MatryoshkaLoss (losses.c) truncates and
 * re-normalises every matrix of a set the same way, whatever it holds, so it
 * wraps both families without knowing them.
 */
#ifndef STC_TRAINER_LOSS_INTERNAL_H
#define STC_TRAINER_LOSS_INTERNAL_H

#include "trainer/losses.h"

typedef struct {
    int n_mats;                              /* matrices in x */
    const double *x[STC_LOSS_MAX_COLUMNS];   /* x[m] is [rows[m], dim], row-major */
    int rows[STC_LOSS_MAX_COLUMNS];
    int dim;                                 /* D of this evaluation (a Matryoshka dim) */
    stc_loss_labels_f64 labels;              /* as given (Matryoshka slices teacher labels) */
    int inbatch;                             /* 1: x[0] anchors, x[1] candidates, geo below */
    stc_inbatch_geometry geo;
    stc_loss_result *parts;                  /* a loss with named parts (GOR) writes them here; may be NULL */
} stc_loss_input;

/* The matrices of an input set as a similarity sees them: rows
 * F.normalize'd (cos_sim, pairwise_cos_sim) or the rows themselves (dot),
 * with zeroed gradient buffers for them when a gradient is wanted. */
typedef struct {
    int n_mats, dim, normed;
    int rows[STC_LOSS_MAX_COLUMNS];
    const double *h[STC_LOSS_MAX_COLUMNS];   /* [rows[m], dim]: unit rows, or in->x[m] */
    double *nrm[STC_LOSS_MAX_COLUMNS];       /* [rows[m]]: norms before the clamp (normed only) */
    double *gh[STC_LOSS_MAX_COLUMNS];        /* [rows[m], dim]: d loss / d h, accumulated (+=) by the loss */
} stc_loss_rows;

/* Fills r from in (normalised when normed; gradient buffers when grad);
 * 0 or STC_ERR_NOMEM (r is then freed). */
int stc_loss_rows_init(stc_loss_rows *r, const stc_loss_input *in, int normed, int grad);

/* dx[m] = d loss / d x[m] from r->gh (through the normalisation), assigned. */
void stc_loss_rows_backward(const stc_loss_rows *r, double *const *dx);

void stc_loss_rows_free(stc_loss_rows *r);

/* A value and its position; stc_loss_ranked_cmp orders them ascending by
 * value, ties by position (qsort then gives torch's stable sort). */
typedef struct {
    double v;
    int idx;
} stc_loss_ranked;

int stc_loss_ranked_cmp(const void *a, const void *b);

/* Dot product of two rows of width D. */
double stc_loss_dot(const double *x, const double *y, int D);

/* The in-batch (MNRL) family: loss and assigned d(anchors), d(cands)
 * (both NULL: value only). Geometry already validated. */
int stc_loss_mnrl_f64(const stc_loss_spec *spec, const double *anchors, const double *cands,
                      const stc_inbatch_geometry *geo, int D, double *loss, double *danchors,
                      double *dcands);

/* GISTEmbedLoss / CachedGISTEmbedLoss (loss_gist.c): the same contract,
 * with the guide's embeddings from spec->guide (validated). */
int stc_loss_gist_f64(const stc_loss_spec *spec, const double *anchors, const double *cands,
                      const stc_inbatch_geometry *geo, int D, double *loss, double *danchors,
                      double *dcands);

/* Shared by the in-batch cores (loss_mnrl.c): logsumexp of x[0..n) (-inf
 * entries allowed), and the row-major products of similarity blocks:
 *   gemm_abt  C[m, n] = A[m, D] . Bm[n, D]^T (+ beta C), C's leading dimension ldc
 *   gemm_sb   dA[m, D] += dS[m, n] . Bm[n, D]   (dS's leading dimension lds)
 *   gemm_stA  dB[n, D] += dS[m, n]^T . A[m, D] */
double stc_loss_logsumexp(const double *x, int n);
void stc_loss_gemm_abt(double *C, int ldc, const double *A, const double *Bm, int m, int n, int D, double beta);
void stc_loss_gemm_sb(double *dA, const double *dS, int lds, const double *Bm, int m, int n, int D);
void stc_loss_gemm_stA(double *dB, const double *dS, int lds, const double *A, int m, int n, int D);

/* The losses below take text columns in->x[0..n_mats) of in->rows[0] rows
 * and return the loss and assigned gradients dx[m] (dx NULL: value only);
 * shapes and labels already checked (losses.c). */

/* CoSENT, AnglE, CosineSimilarity, MSE, Triplet, (Online)Contrastive. */
int stc_loss_pairwise_f64(const stc_loss_spec *spec, const stc_loss_input *in, double *loss,
                          double *const *dx);

/* MarginMSELoss, DistillKLDivLoss (loss_distill.c). */
int stc_loss_distill_f64(const stc_loss_spec *spec, const stc_loss_input *in, double *loss,
                         double *const *dx);

/* BatchAll / BatchHard / BatchSemiHard / BatchHardSoftMargin TripletLoss
 * (loss_batch_triplet.c). */
int stc_loss_batch_triplet_f64(const stc_loss_spec *spec, const stc_loss_input *in, double *loss,
                               double *const *dx);

/* MegaBatchMarginLoss, GlobalOrthogonalRegularizationLoss (loss_batch_similarity.c). */
int stc_loss_batch_similarity_f64(const stc_loss_spec *spec, const stc_loss_input *in, double *loss,
                                  double *const *dx);

/* F.normalize(x, p=2, dim=-1, eps): y = x / max(||x||, eps) row by row;
 * norm[r] = ||x_r|| (before the clamp). y may not alias x. */
void stc_loss_normalize_rows(double *y, double *norm, const double *x, int R, int D, double eps);

/* Its backward, assigned: dx = (dy - y (y.dy)) / ||x|| where ||x|| >= eps;
 * where the norm was clamped, the denominator is a constant and
 * dx = dy / eps (torch's clamp_min passes no gradient below the bound, so a
 * zero row gets dy / eps, not zero). */
void stc_loss_normalize_rows_backward(double *dx, const double *dy, const double *y,
                                      const double *norm, int R, int D, double eps);

/* F.normalize's default eps. */
#define STC_NORMALIZE_EPS 1e-12

#endif
