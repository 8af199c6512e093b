/*
 * The statistics of the pair evaluators, as the Python libraries compute
 * them (eval_internal.h): scipy's pearsonr and spearmanr, sklearn's
 * average_precision_score and matthews_corrcoef, and
 * BinaryClassificationEvaluator's threshold searches.
 */
#include "trainer/eval_internal.h"

#include <math.h>
#include <stdlib.h>

double stc_stat_pearson(const double *x, const double *y, size_t n)
{
    double mx = 0.0, my = 0.0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0.0, sxx = 0.0, syy = 0.0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (sxx == 0.0 || syy == 0.0)
        return NAN; /* scipy: a constant input has no correlation */
    double r = sxy / sqrt(sxx * syy);
    return r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
}

typedef struct {
    double v;
    size_t i;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* scipy.stats.rankdata(method="average"): 1-based ranks, ties share the
 * mean of the ranks they span. */
static int average_ranks(const double *x, size_t n, double *rank)
{
    keyed *k = malloc(sizeof *k * n);
    if (!k)
        return -1;
    for (size_t i = 0; i < n; i++)
        k[i] = (keyed){x[i], i};
    qsort(k, n, sizeof *k, cmp_keyed);
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && k[b].v == k[a].v)
            b++;
        double r = 0.5 * (double)(a + 1 + b); /* mean of a+1 .. b */
        for (size_t j = a; j < b; j++)
            rank[k[j].i] = r;
        a = b;
    }
    free(k);
    return 0;
}

double stc_stat_spearman(const double *x, const double *y, size_t n)
{
    double *rx = malloc(sizeof *rx * n), *ry = malloc(sizeof *ry * n);
    double r = NAN;
    if (rx && ry && !average_ranks(x, n, rx) && !average_ranks(y, n, ry))
        r = stc_stat_pearson(rx, ry, n);
    free(rx);
    free(ry);
    return r;
}

/* Indices of scores in descending order (ties in any order: every use
 * below treats a run of equal scores as one step). */
static size_t *order_desc(const float *scores, size_t n)
{
    keyed *k = malloc(sizeof *k * n);
    size_t *o = malloc(sizeof *o * n);
    if (!k || !o) {
        free(k);
        free(o);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        k[i] = (keyed){-(double)scores[i], i};
    qsort(k, n, sizeof *k, cmp_keyed);
    for (size_t i = 0; i < n; i++)
        o[i] = k[i].i;
    free(k);
    return o;
}

/* sklearn: the precision-recall curve at every distinct score (highest
 * first), AP = sum over thresholds of (R_t - R_{t-1}) P_t, summed from the
 * lowest threshold up as -np.sum(np.diff(recall) * precision[:-1]) does.
 * Without positives recall is 1 everywhere and AP is 0. */
double stc_stat_average_precision(const int *labels, const float *scores, size_t n)
{
    size_t *o = order_desc(scores, n);
    double *p = malloc(sizeof *p * n), *r = malloc(sizeof *r * n);
    if (!o || !p || !r) {
        free(o);
        free(p);
        free(r);
        return NAN;
    }
    size_t pos = 0, m = 0;
    for (size_t i = 0; i < n; i++)
        pos += labels[i] == 1;
    size_t tp = 0;
    for (size_t i = 0; i < n; i++) {
        tp += labels[o[i]] == 1;
        if (i + 1 < n && scores[o[i + 1]] == scores[o[i]])
            continue;
        p[m] = (double)tp / (double)(i + 1);
        r[m] = pos ? (double)tp / (double)pos : 1.0;
        m++;
    }
    double ap = 0.0;
    for (size_t j = m; j-- > 0;)
        ap += (r[j] - (j ? r[j - 1] : 0.0)) * p[j];
    free(o);
    free(p);
    free(r);
    return ap;
}

/* sklearn's multiclass formula on the 2x2 confusion matrix. */
double stc_stat_mcc(const int *labels, const int *pred, size_t n)
{
    double t1 = 0, p1 = 0, correct = 0, N = (double)n;
    for (size_t i = 0; i < n; i++) {
        t1 += labels[i] == 1;
        p1 += pred[i] == 1;
        correct += labels[i] == pred[i];
    }
    double t0 = N - t1, p0 = N - p1;
    double cov_ytyp = correct * N - (t0 * p0 + t1 * p1);
    double cov_ypyp = N * N - (p0 * p0 + p1 * p1);
    double cov_ytyt = N * N - (t0 * t0 + t1 * t1);
    if (cov_ypyp * cov_ytyt == 0.0)
        return 0.0;
    return cov_ytyp / sqrt(cov_ytyt * cov_ypyp);
}

/* The midpoint of two neighbouring float32 scores as numpy computes it
 * (float32 sum, then / 2); a midpoint that rounds onto the next score
 * would include it, so Python falls back to the score itself. */
static float midpoint(float s, float next)
{
    float t = (s + next) / 2.0f;
    return t == next ? s : t;
}

void stc_stat_best_thresholds(const float *scores, const int *labels, size_t n, int greater, stc_stat_thresholds *out)
{
    *out = (stc_stat_thresholds){0};
    size_t *o = order_desc(scores, n);
    if (!o || n == 0) {
        free(o);
        out->accuracy = NAN;
        return;
    }
    if (!greater) /* ascending: lower score = more similar */
        for (size_t i = 0; i < n / 2; i++) {
            size_t t = o[i];
            o[i] = o[n - 1 - i];
            o[n - 1 - i] = t;
        }
    size_t neg = 0, pos_total = 0;
    for (size_t i = 0; i < n; i++) {
        neg += labels[i] == 0;
        pos_total += labels[i] == 1;
    }
    /* find_best_acc_and_threshold: start from "every pair dissimilar". */
    out->accuracy = (double)neg / (double)n;
    out->accuracy_threshold = nextafterf(scores[o[0]], greater ? INFINITY : -INFINITY);
    size_t pos_so_far = 0, remaining_neg = neg, extracted = 0, correct = 0;
    for (size_t i = 0; i < n; i++) {
        int label = labels[o[i]];
        float s = scores[o[i]];
        extracted++;
        if (label == 1) {
            pos_so_far++;
            correct++;
        } else {
            remaining_neg--;
        }
        int last = i + 1 == n;
        if (!last && scores[o[i + 1]] == s)
            continue;
        float thr = last ? s : midpoint(s, scores[o[i + 1]]);
        double acc = (double)(pos_so_far + remaining_neg) / (double)n;
        if (acc > out->accuracy) {
            out->accuracy = acc;
            out->accuracy_threshold = thr;
        }
        /* find_best_f1_and_threshold */
        if (correct > 0) {
            double p = (double)correct / (double)extracted, r = (double)correct / (double)pos_total;
            double f1 = 2 * p * r / (p + r);
            if (f1 > out->f1) {
                out->f1 = f1;
                out->precision = p;
                out->recall = r;
                out->f1_threshold = thr;
                out->f1_set = 1;
            }
        }
    }
    free(o);
}
