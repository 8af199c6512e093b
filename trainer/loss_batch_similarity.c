/*
 * Losses on a batch's similarity matrix, as sentence-transformers 6.3
 * computes them:
 *   - MegaBatchMarginLoss (anchor, positive): S = cos_sim(anchors,
 *     positives) [B, B]; per anchor relu(positive_margin - S_ii) +
 *     relu(max_{j != i} S_ij - negative_margin), summed over the batch / B.
 *     6.3's mini-batched version is GradCache (chunks of mini_batch_size
 *     anchors, each chunk's sum / B, re-embedded under the same RNG): the
 *     same value and gradient as this whole-batch form, which stc computes.
 *     With B = 1 there is no negative (max over nothing is -inf: relu 0).
 *   - GlobalOrthogonalRegularizationLoss: per text column c,
 *     S = sim(E_c, E_c) (cos_sim or dot_score) with a zero diagonal,
 *     n = max(B (B - 1), 1), mean_c = (sum S / n)^2,
 *     second_c = relu(sum S^2 / n - 1 / D); the parts gor_mean =
 *     mean_weight * agg_c(mean_c) and gor_second_moment =
 *     second_moment_weight * agg_c(second_c), agg "mean" or "sum" over the
 *     columns; a part with weight 0 is left out (Python: a falsy weight).
 *
 * Shapes: B rows, D width; S [B, B], dS [B, B] = d loss / d S.
 */
#include "trainer/loss_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* S[i * B + j] = a_i . b_j over the rows of r->h[ma] and r->h[mb]. */
static void similarity_matrix(double *S, const stc_loss_rows *r, int ma, int mb, int B)
{
    const int D = r->dim;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++)
            S[(size_t)i * B + j] = stc_loss_dot(r->h[ma] + (size_t)i * D, r->h[mb] + (size_t)j * D, D);
}

/* Its backward into r->gh[ma], r->gh[mb] (the same buffer when ma == mb). */
static void similarity_matrix_backward(stc_loss_rows *r, const double *dS, int ma, int mb, int B)
{
    const int D = r->dim;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            const double g = dS[(size_t)i * B + j];
            if (g == 0.0)
                continue;
            const double *a = r->h[ma] + (size_t)i * D, *b = r->h[mb] + (size_t)j * D;
            double *ga = r->gh[ma] + (size_t)i * D, *gb = r->gh[mb] + (size_t)j * D;
            for (int c = 0; c < D; c++) {
                ga[c] += g * b[c];
                gb[c] += g * a[c];
            }
        }
}

/* MegaBatchMarginLoss on S = cos_sim(anchors, positives); dS assigned. */
static void loss_mega_batch(const stc_loss_spec *spec, const double *S, int B, double *loss, double *dS)
{
    double sum = 0.0;
    for (int i = 0; i < B; i++) {
        const double *si = S + (size_t)i * B;
        int jn = i;
        double neg = -INFINITY; /* the diagonal is -inf in Python: picked only when B == 1 */
        for (int j = 0; j < B; j++)
            if (j != i && si[j] > neg) {
                neg = si[j];
                jn = j;
            }
        double lp = spec->positive_margin - si[i], ln = neg - spec->negative_margin;
        sum += (lp > 0.0 ? lp : 0.0) + (ln > 0.0 ? ln : 0.0);
        if (dS) {
            if (lp > 0.0)
                dS[(size_t)i * B + i] -= 1.0 / B;
            if (ln > 0.0)
                dS[(size_t)i * B + jn] += 1.0 / B;
        }
    }
    *loss = sum / B;
}

/*
 * GlobalOrthogonalRegularizationLoss for one column: adds the column's
 * weighted, aggregated terms to mean_part / second_part and, with dS,
 * assigns d (parts) / d S (zero diagonal).
 */
static void gor_column(const stc_loss_spec *spec, const double *S, int B, int D, double agg, double *mean_part,
                       double *second_part, double *dS)
{
    const double n = B > 1 ? (double)B * (B - 1) : 1.0;
    double s1 = 0.0, s2 = 0.0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++)
            if (i != j) {
                double v = S[(size_t)i * B + j];
                s1 += v;
                s2 += v * v;
            }
    const double m1 = s1 / n, second = s2 / n - 1.0 / D;
    *mean_part += spec->mean_weight * agg * m1 * m1;
    *second_part += spec->second_moment_weight * agg * (second > 0.0 ? second : 0.0);
    if (!dS)
        return;
    const double g1 = spec->mean_weight * agg * 2.0 * m1 / n;
    const double g2 = second > 0.0 ? spec->second_moment_weight * agg * 2.0 / n : 0.0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++)
            dS[(size_t)i * B + j] = i == j ? 0.0 : g1 + g2 * S[(size_t)i * B + j];
}

/* GOR's parts into in->parts (when given) and their sum. */
static void gor_parts(const stc_loss_spec *spec, const stc_loss_input *in, double mean_part, double second_part,
                      double *loss)
{
    *loss = 0.0;
    stc_loss_result *res = in->parts;
    if (res)
        res->n_components = 0;
    const struct {
        const char *name;
        double weight, value;
    } parts[2] = {{"gor_mean", spec->mean_weight, mean_part}, {"gor_second_moment", spec->second_moment_weight,
                                                              second_part}};
    for (int p = 0; p < 2; p++) {
        if (parts[p].weight == 0.0)
            continue;
        *loss += parts[p].value;
        if (res) {
            stc_loss_component *c = &res->components[res->n_components++];
            snprintf(c->name, sizeof c->name, "%s", parts[p].name);
            c->value = parts[p].value;
        }
    }
}

int stc_loss_batch_similarity_f64(const stc_loss_spec *spec, const stc_loss_input *in, double *loss,
                                  double *const *dx)
{
    const int B = in->rows[0], mega = spec->type == STC_LOSS_MEGA_BATCH_MARGIN;
    stc_loss_rows r;
    int rc = stc_loss_rows_init(&r, in, mega || spec->similarity == STC_SIM_COS, dx != NULL);
    if (rc)
        return rc;
    double *S = stc_malloc((size_t)B * B * sizeof(double), "batch similarities");
    double *dS = dx ? stc_calloc((size_t)B * B, sizeof(double), "batch similarity gradient") : NULL;
    if (!S || (dx && !dS)) {
        rc = STC_ERR_NOMEM;
        goto out;
    }
    if (mega) {
        similarity_matrix(S, &r, 0, 1, B);
        loss_mega_batch(spec, S, B, loss, dS);
        if (dx)
            similarity_matrix_backward(&r, dS, 0, 1, B);
    } else {
        const double agg = spec->aggregation_sum ? 1.0 : 1.0 / in->n_mats;
        double mean_part = 0.0, second_part = 0.0;
        for (int c = 0; c < in->n_mats; c++) {
            similarity_matrix(S, &r, c, c, B);
            gor_column(spec, S, B, in->dim, agg, &mean_part, &second_part, dS);
            if (dx)
                similarity_matrix_backward(&r, dS, c, c, B);
        }
        gor_parts(spec, in, mean_part, second_part, loss);
    }
    if (dx)
        stc_loss_rows_backward(&r, dx);
out:
    free(dS);
    free(S);
    stc_loss_rows_free(&r);
    return rc;
}
