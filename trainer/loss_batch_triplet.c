/*
 * The batch triplet losses: one text column of B rows, an integer class
 * label per row, triplets mined inside the batch from the B x B distance
 * matrix, as sentence-transformers 6.3 computes them
 * (batch_{all,hard,semi_hard,hard_soft_margin}_triplet.py):
 *   - BatchAllTripletLoss: every valid triplet (a, p, n), relu(d_ap - d_an
 *     + margin), summed and divided by the number of positive ones (> 1e-16,
 *     plus 1e-16: no valid triplet gives 0);
 *   - BatchHardTripletLoss: per anchor, the farthest positive and the
 *     nearest negative, mean of relu(d_hp - d_hn + margin);
 *   - BatchHardSoftMarginTripletLoss: the same pair, softplus(d_hp - d_hn);
 *   - BatchSemiHardTripletLoss (FaceNet): per positive pair, the nearest
 *     negative farther than the positive, else the farthest negative.
 *
 * The value and the gradient follow torch's autograd through the same
 * operations, edge cases included: max/min/sort pick the first index on
 * ties, `x[x < 0] = 0` passes the gradient where x >= 0, torch.max(x, 0)
 * halves it where x == 0, an anchor without positives has a hardest positive
 * of 0 (a masked entry: no gradient), an anchor without negatives takes
 * its row's largest distance as the hardest negative (the masked-min trick
 * of the Python code), and a batch of one class gives BatchHard the margin
 * with a zero gradient. d [B, B] is the distance matrix, g [B, B]
 * d loss / d d.
 */
#include "trainer/loss_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* ---- distance matrices ------------------------------------------------------ */

/*
 * euclidean_distance(squared=False): d2 = |x_j|^2 - 2 x_i.x_j + |x_i|^2,
 * negatives set to 0; d = sqrt(d2) where d2 > 0, else 0 with no gradient
 * (Python adds 1e-16 under the sqrt there and multiplies by 0).
 * cosine_distance: max(1 - cos_sim, 0) (the gradient passes where
 * 1 - cos >= 0), diagonal 0. r holds the rows (normalised for cosine).
 */
static void distance_matrix(double *d, const stc_loss_rows *r, int B, int cosine)
{
    const int D = r->dim;
    const double *x = r->h[0];
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            double dot = stc_loss_dot(x + (size_t)i * D, x + (size_t)j * D, D);
            double v;
            if (cosine) {
                v = i == j ? 0.0 : 1.0 - dot;
                v = v < 0.0 ? 0.0 : v;
            } else {
                double sqi = stc_loss_dot(x + (size_t)i * D, x + (size_t)i * D, D);
                double sqj = stc_loss_dot(x + (size_t)j * D, x + (size_t)j * D, D);
                v = (sqj - 2.0 * dot) + sqi;
                v = v > 0.0 ? sqrt(v) : 0.0;
            }
            d[(size_t)i * B + j] = v;
        }
}

/* The distance matrix's backward into r->gh[0]: g [B, B] = d loss / d d. */
static void distance_matrix_backward(stc_loss_rows *r, const double *d, const double *g, int B, int cosine)
{
    const int D = r->dim;
    const double *x = r->h[0];
    double *gx = r->gh[0];
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            double gij = g[(size_t)i * B + j];
            if (gij == 0.0 || i == j)
                continue;
            const double *xi = x + (size_t)i * D, *xj = x + (size_t)j * D;
            if (cosine) {
                /* d = 1 - xi.xj where that is >= 0 (clamp_min passes the bound) */
                if (1.0 - stc_loss_dot(xi, xj, D) < 0.0)
                    continue;
                for (int c = 0; c < D; c++) {
                    gx[(size_t)i * D + c] -= gij * xj[c];
                    gx[(size_t)j * D + c] -= gij * xi[c];
                }
            } else {
                double dij = d[(size_t)i * B + j];
                if (dij == 0.0)
                    continue;
                /* d = sqrt(|xi - xj|^2): dd/dxi = (xi - xj) / d */
                double w = gij / dij;
                for (int c = 0; c < D; c++) {
                    double diff = w * (xi[c] - xj[c]);
                    gx[(size_t)i * D + c] += diff;
                    gx[(size_t)j * D + c] -= diff;
                }
            }
        }
}

/* ---- the losses on d ---------------------------------------------------------- */

/*
 * BatchHard and BatchHardSoftMargin. Per anchor i: hardest positive =
 * max_j (same class, j != i ? d_ij : 0); hardest negative = min_j (d_ij +
 * rowmax_i * [same class]), whose gradient reaches rowmax_i's entry when the
 * minimum is a same-class entry (no negative in the batch, or a tie).
 */
static void loss_batch_hard(const stc_loss_spec *spec, const double *d, const double *lab, int B, double *loss,
                            double *g)
{
    const int soft = spec->type == STC_LOSS_BATCH_HARD_SOFT_MARGIN_TRIPLET;
    double sum = 0.0;
    for (int i = 0; i < B; i++) {
        const double *di = d + (size_t)i * B;
        int jp = 0, jm = 0, jn = 0;
        double hp = -INFINITY, rowmax = -INFINITY, hn = INFINITY;
        for (int j = 0; j < B; j++) {
            double v = (lab[j] == lab[i] && j != i) ? di[j] : 0.0;
            if (v > hp) {
                hp = v;
                jp = j;
            }
            if (di[j] > rowmax) {
                rowmax = di[j];
                jm = j;
            }
        }
        for (int j = 0; j < B; j++) {
            double v = di[j] + rowmax * (lab[j] == lab[i] ? 1.0 : 0.0);
            if (v < hn) {
                hn = v;
                jn = j;
            }
        }
        double x = hp - hn, dl;
        if (soft) {
            /* F.softplus(beta 1, threshold 20) */
            sum += x > 20.0 ? x : log1p(exp(x));
            dl = x > 20.0 ? 1.0 : 1.0 / (1.0 + exp(-x));
        } else {
            double tl = x + spec->margin;
            sum += tl < 0.0 ? 0.0 : tl;
            dl = tl < 0.0 ? 0.0 : 1.0;
        }
        if (!g || dl == 0.0)
            continue;
        dl /= B;
        double *gi = g + (size_t)i * B;
        if (lab[jp] == lab[i] && jp != i)
            gi[jp] += dl;
        gi[jn] -= dl;
        if (lab[jn] == lab[i])
            gi[jm] -= dl;
    }
    *loss = sum / B;
}

/*
 * BatchAll: for every positive pair (a, p) (same class, a != p) and every
 * n of another class, t = d_ap - d_an + margin; t < 0 counts 0 (no
 * gradient), t > 1e-16 is a positive triplet; loss = sum t / (count + 1e-16).
 * Two passes: the count divides every gradient.
 */
static void loss_batch_all(const double *d, const double *lab, int B, double margin, double *loss, double *g)
{
    double sum = 0.0;
    long count = 0;
    for (int pass = 0; pass < (g ? 2 : 1); pass++) {
        const double w = pass ? 1.0 / ((double)count + 1e-16) : 0.0;
        for (int a = 0; a < B; a++)
            for (int p = 0; p < B; p++) {
                if (p == a || lab[p] != lab[a])
                    continue;
                const double dap = d[(size_t)a * B + p];
                for (int n = 0; n < B; n++) {
                    if (lab[n] == lab[a])
                        continue;
                    double t = dap - d[(size_t)a * B + n] + margin;
                    if (t < 0.0)
                        continue;
                    if (pass) {
                        g[(size_t)a * B + p] += w;
                        g[(size_t)a * B + n] -= w;
                    } else {
                        sum += t;
                        count += t > 1e-16;
                    }
                }
            }
    }
    *loss = sum / ((double)count + 1e-16);
}

/*
 * BatchSemiHard, as 6.3's sort-and-search version of TF's: for row i, the
 * negatives (other classes) sorted ascending, same-class entries +inf at the
 * end; for each j the first sorted negative > d_ij (searchsorted right,
 * clamped to B-1) if finite, else the row's "masked maximum"
 * m_i + max_k((d_ik - m_i) [k negative]), m_i = min_k d_ik. Over the positive
 * pairs (same class, i != j): sum max((d_ij - semi_ij + margin), 0) /
 * max(#pairs, 1e-16); torch.max(x, 0) gives half the gradient at x == 0.
 */
static int loss_batch_semi_hard(const double *d, const double *lab, int B, double margin, double *loss, double *g)
{
    stc_loss_ranked *neg = stc_malloc((size_t)B * sizeof(*neg), "semi-hard negatives");
    if (!neg)
        return STC_ERR_NOMEM;
    long n_pos = 0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++)
            n_pos += j != i && lab[j] == lab[i];
    const double den = n_pos > 0 ? (double)n_pos : 1e-16;
    double sum = 0.0;
    for (int i = 0; i < B; i++) {
        const double *di = d + (size_t)i * B;
        int nn = 0, km = 0, kx = 0;
        double m = INFINITY, best = -INFINITY;
        for (int k = 0; k < B; k++) {
            if (lab[k] != lab[i])
                neg[nn++] = (stc_loss_ranked){di[k], k};
            if (di[k] < m) {
                m = di[k];
                km = k;
            }
        }
        qsort(neg, (size_t)nn, sizeof(*neg), stc_loss_ranked_cmp);
        for (int k = 0; k < B; k++) {
            double v = (di[k] - m) * (lab[k] != lab[i] ? 1.0 : 0.0);
            if (v > best) {
                best = v;
                kx = k;
            }
        }
        const double inside = best + m;
        for (int j = 0; j < B; j++) {
            if (j == i || lab[j] != lab[i])
                continue;
            int pos = 0; /* sorted entries <= d_ij; the +inf tail (index nn..B-1) never is */
            while (pos < nn && neg[pos].v <= di[j])
                pos++;
            const int outside = pos < nn;
            const double semi = outside ? neg[pos].v : inside;
            const double x = di[j] - semi + margin;
            sum += x > 0.0 ? x : 0.0;
            if (!g || x < 0.0)
                continue;
            const double w = (x > 0.0 ? 1.0 : 0.5) / den;
            double *gi = g + (size_t)i * B;
            gi[j] += w;
            if (outside) {
                gi[neg[pos].idx] -= w;
            } else {
                const int kx_neg = lab[kx] != lab[i];
                gi[kx] -= w * (kx_neg ? 1.0 : 0.0);
                gi[km] -= w * (kx_neg ? 0.0 : 1.0);
            }
        }
    }
    *loss = sum / den;
    free(neg);
    return STC_OK;
}

int stc_loss_batch_triplet_f64(const stc_loss_spec *spec, const stc_loss_input *in, double *loss, double *const *dx)
{
    const int B = in->rows[0];
    const int cosine = spec->distance == STC_DIST_COSINE;
    const double *lab = in->labels.values;
    stc_loss_rows r;
    int rc = stc_loss_rows_init(&r, in, cosine, dx != NULL);
    if (rc)
        return rc;
    double *d = stc_malloc((size_t)B * B * sizeof(double), "triplet distances");
    double *g = dx ? stc_calloc((size_t)B * B, sizeof(double), "triplet distance gradient") : NULL;
    if (!d || (dx && !g)) {
        rc = STC_ERR_NOMEM;
        goto out;
    }
    distance_matrix(d, &r, B, cosine);
    switch (spec->type) {
    case STC_LOSS_BATCH_ALL_TRIPLET: loss_batch_all(d, lab, B, spec->margin, loss, g); break;
    case STC_LOSS_BATCH_SEMI_HARD_TRIPLET: rc = loss_batch_semi_hard(d, lab, B, spec->margin, loss, g); break;
    default: loss_batch_hard(spec, d, lab, B, loss, g); break;
    }
    if (!rc && dx) {
        distance_matrix_backward(&r, d, g, B, cosine);
        stc_loss_rows_backward(&r, dx);
    }
out:
    free(g);
    free(d);
    stc_loss_rows_free(&r);
    return rc;
}
