/*
 * Score distillation: a query's similarity to each of its candidates (the
 * positive, then the hard negatives of its own row) against a teacher's
 * scores given as the label, as sentence-transformers 6.3 computes them in
 * compute_loss_from_embeddings:
 *   - MarginMSELoss: MSE between the student margins
 *     sim(q, pos) - sim(q, neg_j) and the teacher margins;
 *   - DistillKLDivLoss: KL(softmax(teacher / T_t) || softmax(student / T_s)),
 *     batchmean, times T_s^2.
 *
 * Shapes: B rows, D width, k = n_cols - 2 negative columns (n_cols - 1
 * candidates); s [B, 1+k] the student scores, row-major.
 * Similarity (spec->similarity): pairwise_dot_score (default) or
 * pairwise_cos_sim (F.normalize, eps 1e-12, then dot).
 */
#include "trainer/loss_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* s[i * n + c] = sim(query_i, candidate column c, row i), c < n. */
static void candidate_scores(double *s, const stc_loss_rows *r, int B, int n)
{
    const int D = r->dim;
    for (int i = 0; i < B; i++)
        for (int c = 0; c < n; c++)
            s[(size_t)i * n + c] = stc_loss_dot(r->h[0] + (size_t)i * D, r->h[1 + c] + (size_t)i * D, D);
}

/* The scores' gradient ds [B, n] into the rows' gradient buffers. */
static void candidate_scores_backward(stc_loss_rows *r, const double *ds, int B, int n)
{
    const int D = r->dim;
    for (int i = 0; i < B; i++)
        for (int c = 0; c < n; c++) {
            const double g = ds[(size_t)i * n + c];
            const double *q = r->h[0] + (size_t)i * D, *v = r->h[1 + c] + (size_t)i * D;
            double *gq = r->gh[0] + (size_t)i * D, *gv = r->gh[1 + c] + (size_t)i * D;
            for (int j = 0; j < D; j++) {
                gq[j] += g * v[j];
                gv[j] += g * q[j];
            }
        }
}

/*
 * MarginMSELoss. Teacher margins t [B, k] from the label: [B] (k = 1),
 * [B, k] margins, or [B, 1+k] scores (t_j = label_0 - label_{1+j}); the
 * [B, 1+k] reading is tried first, as in Python. loss = mean over B x k of
 * (s_pos - s_neg_j - t_j)^2.
 */
static void loss_margin_mse(const stc_loss_input *in, const double *s, double *loss, double *ds)
{
    const int B = in->rows[0], k = in->n_mats - 2, n = k + 1;
    const stc_loss_labels_f64 *L = &in->labels;
    const int scores = L->ndim == 2 && L->width == n;
    const double w = 2.0 / ((double)B * k);
    double sum = 0.0;
    for (int i = 0; i < B; i++) {
        const double *si = s + (size_t)i * n;
        const double *li = L->values + (size_t)i * (L->ndim == 2 ? L->width : 1);
        if (ds)
            ds[(size_t)i * n] = 0.0;
        for (int j = 0; j < k; j++) {
            double t = scores ? li[0] - li[1 + j] : li[j];
            double r = (si[0] - si[1 + j]) - t;
            sum += r * r;
            if (ds) {
                ds[(size_t)i * n] += w * r;
                ds[(size_t)i * n + 1 + j] = -w * r;
            }
        }
    }
    *loss = sum / ((double)B * k);
}

/* log(sum(exp(x))) of n values and softmax into p. */
static double log_softmax_row(double *p, const double *x, int n)
{
    double mx = -INFINITY, z = 0.0;
    for (int c = 0; c < n; c++)
        mx = x[c] > mx ? x[c] : mx;
    for (int c = 0; c < n; c++)
        z += exp(x[c] - mx);
    double lse = mx + log(z);
    for (int c = 0; c < n; c++)
        p[c] = exp(x[c] - lse);
    return lse;
}

/*
 * DistillKLDivLoss: per row, log q = log_softmax(s / T_s), p =
 * softmax(label / T_t); loss = T_s^2 / B * sum p (log p - log q)
 * (nn.KLDivLoss(reduction="batchmean"); p log p is 0 where p is 0, as
 * torch's xlogy). d loss / d s = T_s / B * (q sum(p) - p).
 */
static int loss_distill_kl(const stc_loss_spec *spec, const stc_loss_input *in, const double *s, double *loss,
                           double *ds)
{
    const int B = in->rows[0], n = in->n_mats - 1;
    const double Ts = spec->student_temperature, Tt = spec->teacher_temperature;
    double *buf = stc_malloc(4 * (size_t)n * sizeof(double), "distill rows");
    if (!buf)
        return STC_ERR_NOMEM;
    double *x = buf, *q = buf + n, *t = buf + 2 * n, *p = buf + 3 * n;
    double sum = 0.0;
    for (int i = 0; i < B; i++) {
        for (int c = 0; c < n; c++) {
            x[c] = s[(size_t)i * n + c] / Ts;
            t[c] = in->labels.values[(size_t)i * n + c] / Tt;
        }
        double lse_s = log_softmax_row(q, x, n);
        double lse_t = log_softmax_row(p, t, n);
        double psum = 0.0;
        for (int c = 0; c < n; c++) {
            if (p[c] > 0.0)
                sum += p[c] * ((t[c] - lse_t) - (x[c] - lse_s));
            psum += p[c];
        }
        if (ds)
            for (int c = 0; c < n; c++)
                ds[(size_t)i * n + c] = Ts / B * (q[c] * psum - p[c]);
    }
    *loss = sum / B * Ts * Ts;
    free(buf);
    return STC_OK;
}

int stc_loss_distill_f64(const stc_loss_spec *spec, const stc_loss_input *in, double *loss, double *const *dx)
{
    const int B = in->rows[0], n = in->n_mats - 1;
    stc_loss_rows r;
    int rc = stc_loss_rows_init(&r, in, spec->similarity == STC_SIM_COS, dx != NULL);
    if (rc)
        return rc;
    double *s = stc_malloc(2 * (size_t)B * n * sizeof(double), "distill scores");
    if (!s) {
        stc_loss_rows_free(&r);
        return STC_ERR_NOMEM;
    }
    double *ds = dx ? s + (size_t)B * n : NULL;
    candidate_scores(s, &r, B, n);
    if (spec->type == STC_LOSS_MARGIN_MSE)
        loss_margin_mse(in, s, loss, ds);
    else
        rc = loss_distill_kl(spec, in, s, loss, ds);
    if (!rc && dx) {
        candidate_scores_backward(&r, ds, B, n);
        stc_loss_rows_backward(&r, dx);
    }
    free(s);
    stc_loss_rows_free(&r);
    return rc;
}
