/*
 * The losses that compare rows of the text columns pairwise (no in-batch
 * negatives): CoSENTLoss, AnglELoss, CosineSimilarityLoss, MSELoss,
 * TripletLoss, ContrastiveLoss, OnlineContrastiveLoss, as
 * sentence-transformers 6.3 computes them in compute_loss_from_embeddings.
 *
 * Shapes: B rows per column, D width, columns x[c] [B, D].
 *
 * Three cosines appear, as in Python, and differ only near zero norms:
 *   - pairwise_cos_sim / cos_sim: F.normalize (eps 1e-12) on each side, dot;
 *   - torch.cosine_similarity (CosineSimilarityLoss, COSINE_DISTANCE of the
 *     contrastive losses): x / max(||x||, 1e-8) on each side, dot, whose
 *     gradient torch computes as (y/max(||y||,eps) - c x/||x||) / max(||x||,eps)
 *     (the norm's own gradient is not clamped; checked against torch 2.x);
 *   - pairwise_angle_sim (AnglE): F.normalize, then |cos + sin| of the
 *     halves (a zero column is appended when D is odd).
 *
 * CoSENT and AnglE on several ranks compute one loss over every rank's
 * pairs (spec->ranks; losses.h, "CoSENTLoss and AnglELoss across ranks");
 * the others are per-row means and stay per rank, as in Python under DDP.
 */
#include "trainer/loss_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define TORCH_COS_EPS 1e-8        /* torch.cosine_similarity's eps */
#define PAIRWISE_DISTANCE_EPS 1e-6 /* F.pairwise_distance's eps, added to x - y */

static double sgn(double v)
{
    return v > 0.0 ? 1.0 : v < 0.0 ? -1.0 : 0.0;
}

static double norm2(const double *x, int D)
{
    double s = 0.0;
    for (int j = 0; j < D; j++)
        s += x[j] * x[j];
    return sqrt(s);
}

static double log_add_exp(double a, double b)
{
    if (a == -INFINITY)
        return b;
    if (b == -INFINITY)
        return a;
    double mx = a > b ? a : b;
    return mx + log(exp(a - mx) + exp(b - mx));
}

/* ---- row-wise cosines and distances ----------------------------------- */

/* torch.cosine_similarity(x, y) of one pair. */
static double torch_cos(const double *x, const double *y, int D)
{
    double nx = norm2(x, D), ny = norm2(y, D);
    double cx = nx > TORCH_COS_EPS ? nx : TORCH_COS_EPS, cy = ny > TORCH_COS_EPS ? ny : TORCH_COS_EPS;
    double s = 0.0;
    for (int j = 0; j < D; j++)
        s += (x[j] / cx) * (y[j] / cy);
    return s;
}

/* gx += g * d cos/dx, gy += g * d cos/dy, for c = torch_cos(x, y). */
static void torch_cos_backward(double *gx, double *gy, const double *x, const double *y, int D,
                               double c, double g)
{
    double nx = norm2(x, D), ny = norm2(y, D);
    double cx = nx > TORCH_COS_EPS ? nx : TORCH_COS_EPS, cy = ny > TORCH_COS_EPS ? ny : TORCH_COS_EPS;
    double ux = nx > 0.0 ? 1.0 / nx : 0.0, uy = ny > 0.0 ? 1.0 / ny : 0.0;
    for (int j = 0; j < D; j++) {
        gx[j] += g * (y[j] / cy - c * x[j] * ux) / cx;
        gy[j] += g * (x[j] / cx - c * y[j] * uy) / cy;
    }
}

/* The pair distances of TripletLoss and the contrastive losses. */
typedef enum {
    PD_L2,      /* ||x - y||_2 (Triplet EUCLIDEAN) */
    PD_L1,      /* ||x - y||_1 (Triplet MANHATTAN) */
    PD_COS,     /* 1 - pairwise_cos_sim (Triplet COSINE) */
    PD_L2_EPS,  /* F.pairwise_distance p=2: ||x - y + 1e-6||_2 */
    PD_L1_EPS,  /* F.pairwise_distance p=1 */
    PD_TORCH_COS /* 1 - torch.cosine_similarity (COSINE_DISTANCE) */
} pair_distance;

static pair_distance triplet_distance(stc_distance d)
{
    return d == STC_DIST_EUCLIDEAN ? PD_L2 : d == STC_DIST_MANHATTAN ? PD_L1 : PD_COS;
}

static pair_distance siamese_distance(stc_distance d)
{
    return d == STC_DIST_EUCLIDEAN ? PD_L2_EPS : d == STC_DIST_MANHATTAN ? PD_L1_EPS : PD_TORCH_COS;
}

/* x / max(||x||, 1e-12) element j, given the norm. */
static double unit(const double *x, int j, double n)
{
    return x[j] / (n > STC_NORMALIZE_EPS ? n : STC_NORMALIZE_EPS);
}

static double distance(pair_distance kind, const double *x, const double *y, int D)
{
    double s = 0.0;
    switch (kind) {
    case PD_L2:
    case PD_L2_EPS: {
        double e = kind == PD_L2_EPS ? PAIRWISE_DISTANCE_EPS : 0.0;
        for (int j = 0; j < D; j++) {
            double d = x[j] - y[j] + e;
            s += d * d;
        }
        return sqrt(s);
    }
    case PD_L1:
    case PD_L1_EPS: {
        double e = kind == PD_L1_EPS ? PAIRWISE_DISTANCE_EPS : 0.0;
        for (int j = 0; j < D; j++)
            s += fabs(x[j] - y[j] + e);
        return s;
    }
    case PD_COS: {
        double nx = norm2(x, D), ny = norm2(y, D);
        for (int j = 0; j < D; j++)
            s += unit(x, j, nx) * unit(y, j, ny);
        return 1.0 - s;
    }
    default:
        return 1.0 - torch_cos(x, y, D);
    }
}

/* gx += g * d dist/dx, gy += g * d dist/dy; dist is distance(kind, x, y). */
static void distance_backward(double *gx, double *gy, pair_distance kind, const double *x,
                              const double *y, int D, double dist, double g)
{
    switch (kind) {
    case PD_L2:
    case PD_L2_EPS: {
        /* torch's norm backward is 0 at a zero norm */
        if (dist == 0.0)
            return;
        double e = kind == PD_L2_EPS ? PAIRWISE_DISTANCE_EPS : 0.0;
        for (int j = 0; j < D; j++) {
            double d = g * (x[j] - y[j] + e) / dist;
            gx[j] += d;
            gy[j] -= d;
        }
        return;
    }
    case PD_L1:
    case PD_L1_EPS: {
        double e = kind == PD_L1_EPS ? PAIRWISE_DISTANCE_EPS : 0.0;
        for (int j = 0; j < D; j++) {
            double d = g * sgn(x[j] - y[j] + e);
            gx[j] += d;
            gy[j] -= d;
        }
        return;
    }
    case PD_COS: {
        /* d(1 - xh.yh): through F.normalize on each side */
        double nx = norm2(x, D), ny = norm2(y, D);
        double c = 1.0 - dist;
        for (int j = 0; j < D; j++) {
            double xh = unit(x, j, nx), yh = unit(y, j, ny);
            gx[j] -= g * (nx >= STC_NORMALIZE_EPS ? (yh - xh * c) / nx : yh / STC_NORMALIZE_EPS);
            gy[j] -= g * (ny >= STC_NORMALIZE_EPS ? (xh - yh * c) / ny : xh / STC_NORMALIZE_EPS);
        }
        return;
    }
    default:
        torch_cos_backward(gx, gy, x, y, D, 1.0 - dist, -g);
        return;
    }
}

/* ---- CoSENT / AnglE ---------------------------------------------------- */

/*
 * loss = logsumexp({0} U {s_i - s_j : label_i < label_j}) of n scores and
 * ds = d loss / d s, in O(n log n) as 6.3 does (sorted by label; ties
 * excluded): term_i = s_i + logsumexp_{l_j > l_i}(-s_j), loss =
 * logsumexp(0, terms), ds_i = exp(term_i - loss)
 *   - exp(-s_i + logsumexp_{l_k < l_i}(s_k) - loss).
 */
static int cosent_core(const double *s, const double *lab, int n, double *loss, double *ds)
{
    stc_loss_ranked *ord = stc_malloc((size_t)n * sizeof(*ord), "cosent order");
    double *term = stc_malloc((size_t)n * sizeof(double), "cosent terms");
    if (!ord || !term) {
        free(ord);
        free(term);
        return STC_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++)
        ord[i] = (stc_loss_ranked){lab[i], i};
    qsort(ord, (size_t)n, sizeof(*ord), stc_loss_ranked_cmp);

    /* Groups of equal labels, from the highest down: suffix over higher groups. */
    double suf = -INFINITY;
    for (int e = n; e > 0;) {
        int g = e - 1;
        while (g > 0 && ord[g - 1].v == ord[e - 1].v)
            g--;
        double grp = -INFINITY;
        for (int t = g; t < e; t++) {
            int i = ord[t].idx;
            term[i] = suf == -INFINITY ? -INFINITY : s[i] + suf;
            grp = log_add_exp(grp, -s[i]);
        }
        suf = log_add_exp(suf, grp);
        e = g;
    }
    double log_z = 0.0; /* the appended zero */
    for (int i = 0; i < n; i++)
        log_z = log_add_exp(log_z, term[i]);
    *loss = log_z;

    if (ds) {
        double pre = -INFINITY;
        for (int g = 0; g < n;) {
            int e = g + 1;
            while (e < n && ord[e].v == ord[g].v)
                e++;
            double grp = -INFINITY;
            for (int t = g; t < e; t++) {
                int i = ord[t].idx;
                double d = term[i] == -INFINITY ? 0.0 : exp(term[i] - log_z);
                if (pre != -INFINITY)
                    d -= exp(-s[i] + pre - log_z);
                ds[i] = d;
                grp = log_add_exp(grp, s[i]);
            }
            pre = log_add_exp(pre, grp);
            g = e;
        }
    }
    free(term);
    free(ord);
    return STC_OK;
}

/*
 * cosent_core over every rank's pairs (losses.h, "CoSENTLoss and AnglELoss
 * across ranks"). s and lab are this rank's ncand * B scores and labels,
 * candidate column major (p = c*B + i). They are all-gathered and laid out
 * as one rank with the whole batch lays them out: column c of the global
 * batch is rank 0's rows of c, then rank 1's, ... (p = c*P*B + q*B + i), so
 * the loss is computed on the same vector in the same order on every rank.
 * ds gets P times the global loss's gradient of this rank's own scores.
 */
static int cosent_across_ranks(const stc_loss_ranks *R, const double *s, const double *lab, int ncand, int B,
                               double *loss, double *ds)
{
    const int P = R->world, n = ncand * B, W = P * B;
    const size_t N = (size_t)P * n;
    double *mine = stc_malloc(2 * (size_t)n * sizeof(double), "cosent scores to gather");
    double *all = stc_malloc(2 * N * sizeof(double), "gathered cosent scores");
    double *gs = stc_malloc(2 * N * sizeof(double), "global cosent scores");
    double *gds = ds ? stc_malloc(N * sizeof(double), "global cosent score gradient") : NULL;
    int rc = mine && all && gs && (!ds || gds) ? STC_OK : STC_ERR_NOMEM;
    if (!rc) {
        /* one message per rank: its scores, then its labels */
        memcpy(mine, s, (size_t)n * sizeof(double));
        memcpy(mine + n, lab, (size_t)n * sizeof(double));
        rc = R->allgather_f64(R->ctx, all, mine, 2 * (size_t)n);
    }
    if (!rc) {
        double *glab = gs + N;
        for (int q = 0; q < P; q++)
            for (int c = 0; c < ncand; c++)
                for (int i = 0; i < B; i++) {
                    size_t from = (size_t)q * 2 * n + (size_t)c * B + i, to = (size_t)c * W + (size_t)q * B + i;
                    gs[to] = all[from];
                    glab[to] = all[from + n];
                }
        rc = cosent_core(gs, glab, (int)N, loss, gds);
    }
    if (!rc && ds)
        for (int c = 0; c < ncand; c++)
            for (int i = 0; i < B; i++)
                ds[(size_t)c * B + i] = P * gds[(size_t)c * W + (size_t)R->rank * B + i];
    free(gds);
    free(gs);
    free(all);
    free(mine);
    return rc;
}

/* pairwise_angle_sim of two F.normalize'd rows xh, yh (width D; a zero is
 * appended when D is odd, so h = ceil(D/2)); with gx/gy non-NULL adds
 * g * d sim / d xh (yh) to them. */
static double angle_sim(const double *xh, const double *yh, int D, double *gx, double *gy, double g)
{
    const int h = (D + 1) / 2;
    double z = 0.0;
    for (int j = 0; j < D; j++)
        z += xh[j] * yh[j];
    for (int k = 0; k < h; k++) {
        double xl = h + k < D ? xh[h + k] : 0.0, yl = h + k < D ? yh[h + k] : 0.0;
        z += xl * yh[k] - xh[k] * yl;
    }
    if (gx) {
        double w = g * sgn(z);
        for (int j = 0; j < D; j++) {
            gx[j] += w * yh[j];
            gy[j] += w * xh[j];
        }
        for (int k = 0; k < h; k++) {
            double xl = h + k < D ? xh[h + k] : 0.0, yl = h + k < D ? yh[h + k] : 0.0;
            gy[k] += w * xl;
            gx[k] -= w * yl;
            if (h + k < D) {
                gx[h + k] += w * yh[k];
                gy[h + k] -= w * xh[k];
            }
        }
    }
    return fabs(z);
}

/* CoSENTLoss / AnglELoss. Pairs: (col0_i, col1_i) with label_i; AnglE with
 * k > 1 candidate columns: (col0_i, col_c_i) for every c >= 1, labels
 * [labels, 1 - labels, 1 - labels, ...] (NULL labels: ones). */
static int loss_cosent(const stc_loss_spec *spec, const stc_loss_input *in, double *loss,
                       double *const *dx)
{
    const int B = in->rows[0], D = in->dim;
    const int angle = spec->type == STC_LOSS_ANGLE;
    const int ncand = angle ? in->n_mats - 1 : 1;
    const int n = ncand * B;
    const int normed = angle || spec->similarity == STC_SIM_COS;
    const int ncols = 1 + ncand;
    int rc = STC_OK;
    double *xh[STC_LOSS_MAX_COLUMNS] = {0}, *nrm[STC_LOSS_MAX_COLUMNS] = {0};
    double *gh[STC_LOSS_MAX_COLUMNS] = {0};
    double *s = stc_malloc((size_t)n * sizeof(double), "cosent scores");
    double *lab = stc_malloc((size_t)n * sizeof(double), "cosent labels");
    double *ds = stc_malloc((size_t)n * sizeof(double), "cosent score gradient");
    if (!s || !lab || !ds) {
        rc = STC_ERR_NOMEM;
        goto out;
    }
    for (int c = 0; c < ncols; c++) {
        if (normed) {
            xh[c] = stc_malloc((size_t)B * D * sizeof(double), "cosent normalised column");
            nrm[c] = stc_malloc((size_t)B * sizeof(double), "cosent norms");
            if (!xh[c] || !nrm[c]) {
                rc = STC_ERR_NOMEM;
                goto out;
            }
            stc_loss_normalize_rows(xh[c], nrm[c], in->x[c], B, D, STC_NORMALIZE_EPS);
        } else {
            xh[c] = (double *)in->x[c]; /* read only: dot similarity on the raw rows */
        }
        if (dx) {
            gh[c] = stc_calloc((size_t)B * D, sizeof(double), "cosent column gradient");
            if (!gh[c]) {
                rc = STC_ERR_NOMEM;
                goto out;
            }
        }
    }
    for (int p = 0; p < n; p++) {
        int c = 1 + p / B, i = p % B;
        const double *u = xh[0] + (size_t)i * D, *v = xh[c] + (size_t)i * D;
        double sim;
        if (angle) {
            sim = angle_sim(u, v, D, NULL, NULL, 0.0);
        } else {
            sim = 0.0;
            for (int j = 0; j < D; j++)
                sim += u[j] * v[j];
        }
        s[p] = spec->scale * sim;
        double l = in->labels.values ? in->labels.values[i] : 1.0;
        lab[p] = c == 1 ? l : 1.0 - l;
    }
    rc = spec->ranks && spec->ranks->world > 1 ? cosent_across_ranks(spec->ranks, s, lab, ncand, B, loss, dx ? ds : NULL)
                                                : cosent_core(s, lab, n, loss, dx ? ds : NULL);
    if (rc || !dx)
        goto out;
    for (int p = 0; p < n; p++) {
        int c = 1 + p / B, i = p % B;
        const double *u = xh[0] + (size_t)i * D, *v = xh[c] + (size_t)i * D;
        double *gu = gh[0] + (size_t)i * D, *gv = gh[c] + (size_t)i * D;
        double g = spec->scale * ds[p];
        if (angle) {
            angle_sim(u, v, D, gu, gv, g);
        } else {
            for (int j = 0; j < D; j++) {
                gu[j] += g * v[j];
                gv[j] += g * u[j];
            }
        }
    }
    for (int c = 0; c < ncols; c++) {
        if (normed)
            stc_loss_normalize_rows_backward(dx[c], gh[c], xh[c], nrm[c], B, D, STC_NORMALIZE_EPS);
        else
            memcpy(dx[c], gh[c], (size_t)B * D * sizeof(double));
    }
out:
    for (int c = 0; c < ncols; c++) {
        if (normed)
            free(xh[c]);
        free(nrm[c]);
        free(gh[c]);
    }
    free(ds);
    free(lab);
    free(s);
    return rc;
}

/* ---- the rest ------------------------------------------------------------ */

/* CosineSimilarityLoss: mean_i (torch_cos(u_i, v_i) - label_i)^2. */
static void loss_cosine_similarity(const stc_loss_input *in, double *loss, double *const *dx)
{
    const int B = in->rows[0], D = in->dim;
    double sum = 0.0;
    for (int i = 0; i < B; i++) {
        const double *u = in->x[0] + (size_t)i * D, *v = in->x[1] + (size_t)i * D;
        double c = torch_cos(u, v, D), r = c - in->labels.values[i];
        sum += r * r;
        if (dx)
            torch_cos_backward(dx[0] + (size_t)i * D, dx[1] + (size_t)i * D, u, v, D, c, 2.0 * r / B);
    }
    *loss = sum / B;
}

/* MSELoss (EmbedDistillLoss "mse"): mean over columns of F.mse_loss(E_c, T_c),
 * T_c the [B, D] teacher or column c of a [B, k, D] teacher. */
static void loss_mse(const stc_loss_input *in, double *loss, double *const *dx)
{
    const int B = in->rows[0], D = in->dim, k = in->n_mats;
    const stc_loss_labels_f64 *L = &in->labels;
    const double w = 2.0 / ((double)k * B * D);
    double total = 0.0;
    for (int c = 0; c < k; c++) {
        double sum = 0.0;
        for (int i = 0; i < B; i++) {
            const double *t = L->ndim == 3 ? L->values + ((size_t)i * L->cols + c) * L->width
                                           : L->values + (size_t)i * L->width;
            const double *e = in->x[c] + (size_t)i * D;
            for (int j = 0; j < D; j++) {
                double r = e[j] - t[j];
                sum += r * r;
                if (dx)
                    dx[c][(size_t)i * D + j] = w * r;
            }
        }
        total += sum / ((double)B * D);
    }
    *loss = total / k;
}

/* TripletLoss: mean_i relu(d(a_i, p_i) - d(a_i, n_i) + margin). */
static void loss_triplet(const stc_loss_spec *spec, const stc_loss_input *in, double *loss,
                         double *const *dx)
{
    const int B = in->rows[0], D = in->dim;
    const pair_distance kind = triplet_distance(spec->distance);
    double sum = 0.0;
    for (int i = 0; i < B; i++) {
        size_t o = (size_t)i * D;
        const double *a = in->x[0] + o, *p = in->x[1] + o, *n = in->x[2] + o;
        double dp = distance(kind, a, p, D), dn = distance(kind, a, n, D);
        double h = dp - dn + spec->margin;
        if (h > 0.0) {
            sum += h;
            if (dx) {
                distance_backward(dx[0] + o, dx[1] + o, kind, a, p, D, dp, 1.0 / B);
                distance_backward(dx[0] + o, dx[2] + o, kind, a, n, D, dn, -1.0 / B);
            }
        }
    }
    *loss = sum / B;
}

/* ContrastiveLoss: 0.5 (y d^2 + (1 - y) relu(margin - d)^2), mean or sum. */
static void loss_contrastive(const stc_loss_spec *spec, const stc_loss_input *in, double *loss,
                             double *const *dx)
{
    const int B = in->rows[0], D = in->dim;
    const pair_distance kind = siamese_distance(spec->distance);
    const double norm = spec->size_average ? 1.0 / B : 1.0;
    double sum = 0.0;
    for (int i = 0; i < B; i++) {
        size_t o = (size_t)i * D;
        const double *u = in->x[0] + o, *v = in->x[1] + o;
        double y = in->labels.values[i], d = distance(kind, u, v, D);
        double r = spec->margin - d > 0.0 ? spec->margin - d : 0.0;
        sum += 0.5 * (y * d * d + (1.0 - y) * r * r);
        if (dx)
            distance_backward(dx[0] + o, dx[1] + o, kind, u, v, D, d, norm * (y * d - (1.0 - y) * r));
    }
    *loss = sum * norm;
}

/* OnlineContrastiveLoss: hard positives (label 1, d > min negative d) add
 * d^2, hard negatives (label 0, d < max positive d) add relu(margin - d)^2,
 * summed; with no negatives (positives) the threshold is the positives'
 * (negatives') mean, as in Python. Other labels are ignored. */
static int loss_online_contrastive(const stc_loss_spec *spec, const stc_loss_input *in,
                                   double *loss, double *const *dx)
{
    const int B = in->rows[0], D = in->dim;
    const pair_distance kind = siamese_distance(spec->distance);
    double *d = stc_malloc((size_t)B * sizeof(double), "online contrastive distances");
    if (!d)
        return STC_ERR_NOMEM;
    double pos_max = -INFINITY, neg_min = INFINITY, pos_sum = 0.0, neg_sum = 0.0;
    int n_pos = 0, n_neg = 0;
    for (int i = 0; i < B; i++) {
        size_t o = (size_t)i * D;
        d[i] = distance(kind, in->x[0] + o, in->x[1] + o, D);
        double y = in->labels.values[i];
        if (y == 1.0) {
            n_pos++;
            pos_sum += d[i];
            if (d[i] > pos_max)
                pos_max = d[i];
        } else if (y == 0.0) {
            n_neg++;
            neg_sum += d[i];
            if (d[i] < neg_min)
                neg_min = d[i];
        }
    }
    double neg_thr = n_pos ? pos_max : (n_neg ? neg_sum / n_neg : 0.0);
    double pos_thr = n_neg ? neg_min : (n_pos ? pos_sum / n_pos : 0.0);
    double sum = 0.0;
    for (int i = 0; i < B; i++) {
        size_t o = (size_t)i * D;
        double y = in->labels.values[i], g = 0.0;
        if (y == 1.0 && d[i] > pos_thr) {
            sum += d[i] * d[i];
            g = 2.0 * d[i];
        } else if (y == 0.0 && d[i] < neg_thr) {
            double r = spec->margin - d[i] > 0.0 ? spec->margin - d[i] : 0.0;
            sum += r * r;
            g = -2.0 * r;
        }
        if (dx && g != 0.0)
            distance_backward(dx[0] + o, dx[1] + o, kind, in->x[0] + o, in->x[1] + o, D, d[i], g);
    }
    *loss = sum;
    free(d);
    return STC_OK;
}

int stc_loss_pairwise_f64(const stc_loss_spec *spec, const stc_loss_input *in, double *loss,
                          double *const *dx)
{
    const int B = in->rows[0], D = in->dim;
    if (dx)
        for (int c = 0; c < in->n_mats; c++)
            memset(dx[c], 0, (size_t)B * D * sizeof(double));
    switch (spec->type) {
    case STC_LOSS_COSENT:
    case STC_LOSS_ANGLE: return loss_cosent(spec, in, loss, dx);
    case STC_LOSS_COSINE_SIMILARITY: loss_cosine_similarity(in, loss, dx); return STC_OK;
    case STC_LOSS_MSE: loss_mse(in, loss, dx); return STC_OK;
    case STC_LOSS_TRIPLET: loss_triplet(spec, in, loss, dx); return STC_OK;
    case STC_LOSS_CONTRASTIVE: loss_contrastive(spec, in, loss, dx); return STC_OK;
    case STC_LOSS_ONLINE_CONTRASTIVE: return loss_online_contrastive(spec, in, loss, dx);
    default: return stc_errorf(STC_ERR_INTERNAL, "loss %d is not a pairwise loss", (int)spec->type);
    }
}
