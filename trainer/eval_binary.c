/*
 * BinaryClassificationEvaluator (sentence_transformer/evaluation/
 * binary_classification.py): how well a threshold on each similarity
 * function's pair scores separates label 1 (similar) from label 0.
 *
 * Per function (similarity_fn_names, else the model's): {fn}_accuracy,
 * _accuracy_threshold, _f1, _f1_threshold, _precision, _recall, _ap, _mcc;
 * with several functions also max_{metric} of each; primary {fn}_ap, or
 * max_ap. Cosine and dot score similarity (higher = similar), euclidean and
 * manhattan score distance (lower = similar), as in Python.
 */
#include "trainer/eval_internal.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    stc_eval_rows rows;
    int *labels;      /* (n) 0 or 1 */
    stc_sim_set sims; /* similarity_fn_names */
} binary_eval;

static const char *const text_keys[] = {"sentences1", "sentences2"};
static const char *const keys[] = {"dataset", "sentences1", "sentences2", "labels", "similarity_fn_names", NULL};

/* The metrics of one function, in Python's dict order. */
enum { ACC, ACC_THR, F1, F1_THR, PREC, REC, AP, MCC, N_METRICS };
static const char *const metric_names[N_METRICS] = {"accuracy", "accuracy_threshold", "f1", "f1_threshold",
                                                    "precision", "recall", "ap", "mcc"};
/* The CSV's column order (Python's csv_headers). */
static const int csv_order[N_METRICS] = {ACC, ACC_THR, F1, PREC, REC, F1_THR, AP, MCC};

static int create(void **impl, const cJSON *spec, const char *where)
{
    binary_eval *e = calloc(1, sizeof *e);
    if (!e)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    int rc = stc_sim_set_parse(&e->sims, spec, where, "similarity_fn_names", NULL, 0);
    if (!rc)
        rc = stc_eval_rows_load(&e->rows, spec, where, 2, text_keys, "labels");
    if (!rc && !(e->labels = malloc(sizeof *e->labels * e->rows.n)))
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < e->rows.n && !rc; i++) {
        double l = e->rows.labels[i];
        if (l != 0.0 && l != 1.0)
            rc = stc_errorf(STC_ERR_DATA, "%s: label of row %zu is %g; labels must be 0 or 1", where, i + 1, l);
        e->labels[i] = l == 1.0;
    }
    if (rc) {
        stc_eval_rows_free(&e->rows);
        free(e->labels);
        free(e);
        return rc;
    }
    *impl = e;
    return 0;
}

static void destroy(void *impl)
{
    binary_eval *e = impl;
    stc_eval_rows_free(&e->rows);
    free(e->labels);
    free(e);
}

/* One function's metrics (v in metric order) and its CSV fields. */
static int score_fn(const binary_eval *e, stc_sim_fn fn, const float *e1, const float *e2, int D, double *v,
                    stc_eval_strs *row)
{
    size_t n = e->rows.n;
    int greater = fn == STC_SIM_COSINE || fn == STC_SIM_DOT;
    float *scores = malloc(sizeof *scores * n), *ap_scores = malloc(sizeof *ap_scores * n);
    int *pred = malloc(sizeof *pred * n);
    int rc = scores && ap_scores && pred ? 0 : stc_errorf(STC_ERR_NOMEM, "out of memory");
    if (!rc) {
        for (size_t i = 0; i < n; i++) {
            float s = stc_sim_pair(fn, e1 + i * (size_t)D, e2 + i * (size_t)D, D);
            scores[i] = greater ? s : -s; /* distances are positive here */
            ap_scores[i] = s;             /* Python: scores * (1 if greater else -1) */
        }
        stc_stat_thresholds t;
        stc_stat_best_thresholds(scores, e->labels, n, greater, &t);
        for (size_t i = 0; i < n; i++)
            pred[i] = greater ? scores[i] >= t.f1_threshold : scores[i] <= t.f1_threshold;
        v[ACC] = t.accuracy;
        v[ACC_THR] = t.accuracy_threshold;
        v[F1] = t.f1;
        v[F1_THR] = t.f1_threshold;
        v[PREC] = t.precision;
        v[REC] = t.recall;
        v[AP] = stc_stat_average_precision(e->labels, ap_scores, n);
        v[MCC] = stc_stat_mcc(e->labels, pred, n);
        /* As Python's str(): the thresholds are numpy float32; f1,
         * precision, recall and f1_threshold stay the int 0 when no
         * threshold gave F1 > 0. */
        for (int j = 0; j < N_METRICS && !rc; j++) {
            int m = csv_order[j];
            if (!t.f1_set && (m == F1 || m == PREC || m == REC || m == F1_THR))
                rc = stc_eval_strs_push(row, "0");
            else if (m == ACC_THR || m == F1_THR)
                rc = stc_eval_strs_push_f32(row, (float)v[m]);
            else
                rc = stc_eval_strs_push_f64(row, v[m]);
        }
    }
    free(scores);
    free(ap_scores);
    free(pred);
    return rc;
}

static int run(void *impl, const stc_eval_call *call, stc_metrics *out)
{
    binary_eval *e = impl;
    stc_sim_fn fns[STC_SIM_COUNT];
    int n_fns;
    int rc = stc_sim_set_resolve(&e->sims, call->model, fns, &n_fns);
    if (rc)
        return rc;
    float *emb[2];
    int D;
    stc_eval_encode_opts o = {.fn = STC_EVAL_ENCODE};
    if ((rc = stc_eval_embed_columns(call, &o, e->rows.col, 2, emb, &D)))
        return rc;
    double v[STC_SIM_COUNT][N_METRICS];
    stc_eval_strs header = {0}, row = {0};
    rc = stc_eval_csv_begin(&header, &row, call);
    for (int f = 0; f < n_fns && !rc; f++) {
        for (int j = 0; j < N_METRICS && !rc; j++)
            rc = stc_eval_strs_push(&header, "%s_%s", stc_sim_name(fns[f]), metric_names[csv_order[j]]);
        if (!rc)
            rc = score_fn(e, fns[f], emb[0], emb[1], D, v[f], &row);
    }
    free(emb[0]);
    free(emb[1]);
    char key[STC_METRIC_NAME_MAX];
    for (int f = 0; f < n_fns && !rc; f++)
        for (int m = 0; m < N_METRICS && !rc; m++) {
            snprintf(key, sizeof key, "%s_%s", stc_sim_name(fns[f]), metric_names[m]);
            rc = stc_metrics_add(out, key, v[f][m]);
        }
    if (!rc)
        rc = stc_eval_csv_append(call, "binary_classification_evaluation", &header, &row, 1);
    stc_eval_strs_free(&header);
    stc_eval_strs_free(&row);
    if (rc)
        return rc;
    for (int m = 0; m < N_METRICS && n_fns > 1 && !rc; m++) {
        snprintf(key, sizeof key, "max_%s", metric_names[m]);
        rc = stc_metrics_add(out, key, stc_eval_first_max(&v[0][m], n_fns, N_METRICS));
    }
    stc_sim_set_primary(&e->sims, fns, n_fns, "%s_ap", "max_ap", out);
    return rc;
}

const stc_eval_family stc_eval_binary_family = {
    .type = "BinaryClassificationEvaluator",
    .keys = keys,
    .default_batch_size = 32,
    .create = create,
    .run = run,
    .free = destroy,
};
