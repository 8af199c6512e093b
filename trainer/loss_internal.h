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
} stc_loss_input;

/* The in-batch (MNRL) family: loss and assigned d(anchors), d(cands)
 * (both NULL: value only). Geometry already validated. */
int stc_loss_mnrl_f64(const stc_loss_spec *spec, const double *anchors, const double *cands,
                      const stc_inbatch_geometry *geo, int D, double *loss, double *danchors,
                      double *dcands);

/* Every other loss on text columns in->x[0..n_mats) of in->rows[0] rows:
 * loss and assigned gradients dx[m] (dx NULL: value only). */
int stc_loss_pairwise_f64(const stc_loss_spec *spec, const stc_loss_input *in, double *loss,
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
