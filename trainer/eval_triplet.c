/*
 * TripletEvaluator (sentence_transformer/evaluation/triplet.py): the share
 * of triplets whose anchor is more similar to the positive than to the
 * negative (plus margin). Anchors are encoded as queries (encode_query),
 * positives and negatives as documents (encode_document).
 *
 * Keys {fn}_accuracy per function (similarity_fn_names, else
 * [main_similarity_function], else the model's), then max_accuracy when
 * there are several; primary {main_similarity_function}_accuracy if given,
 * else max_accuracy with several functions, else {fn}_accuracy.
 */
#include "trainer/eval_internal.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    stc_eval_rows rows;
    stc_sim_set sims;             /* similarity_fn_names, main_similarity_function */
    double margin[STC_SIM_COUNT]; /* per function (Python: a number for all, or {fn: margin}) */
} triplet_eval;

static const char *const text_keys[] = {"anchors", "positives", "negatives"};
static const char *const keys[] = {"dataset", "anchors", "positives", "negatives", "main_similarity_function",
                                   "margin", "similarity_fn_names", NULL};

static int parse_margin(triplet_eval *e, const cJSON *spec, const char *where)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(spec, "margin");
    if (!m || cJSON_IsNull(m))
        return 0;
    if (cJSON_IsNumber(m)) {
        for (int f = 0; f < STC_SIM_COUNT; f++)
            e->margin[f] = m->valuedouble;
        return 0;
    }
    if (!cJSON_IsObject(m))
        return stc_errorf(STC_ERR_USAGE, "%s: \"margin\" must be a number or {similarity function: number}", where);
    for (const cJSON *k = m->child; k; k = k->next) {
        stc_sim_fn f;
        int rc = stc_sim_parse(k->string, &f);
        if (rc)
            return stc_error_prefix(rc, "%s: \"margin\"", where);
        if (!cJSON_IsNumber(k))
            return stc_errorf(STC_ERR_USAGE, "%s: \"margin\".\"%s\" must be a number", where, k->string);
        e->margin[f] = k->valuedouble;
    }
    return 0;
}

static int create(void **impl, const cJSON *spec, const char *where)
{
    triplet_eval *e = calloc(1, sizeof *e);
    if (!e)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    int rc = stc_sim_set_parse(&e->sims, spec, where, "similarity_fn_names", "main_similarity_function", 1);
    if (!rc)
        rc = parse_margin(e, spec, where);
    if (!rc)
        rc = stc_eval_rows_load(&e->rows, spec, where, 3, text_keys, NULL);
    if (rc) {
        free(e);
        return rc;
    }
    *impl = e;
    return 0;
}

static void destroy(void *impl)
{
    triplet_eval *e = impl;
    stc_eval_rows_free(&e->rows);
    free(e);
}

static int run(void *impl, const stc_eval_call *call, stc_metrics *out)
{
    triplet_eval *e = impl;
    stc_sim_fn fns[STC_SIM_COUNT];
    int n_fns;
    int rc = stc_sim_set_resolve(&e->sims, call->model, fns, &n_fns);
    if (rc)
        return rc;
    size_t n = e->rows.n;
    float *a = NULL, *pn[2] = {NULL, NULL};
    int D, D2;
    stc_eval_encode_opts q = {.fn = STC_EVAL_ENCODE_QUERY}, d = {.fn = STC_EVAL_ENCODE_DOCUMENT};
    if ((rc = stc_eval_embed_columns(call, &q, &e->rows.col[0], 1, &a, &D)) ||
        (rc = stc_eval_embed_columns(call, &d, &e->rows.col[1], 2, pn, &D2))) {
        free(a);
        return rc;
    }
    if (D != D2)
        rc = stc_errorf(STC_ERR_DATA, "query embeddings have %d dimensions, document embeddings %d", D, D2);
    double acc[STC_SIM_COUNT];
    char key[STC_METRIC_NAME_MAX];
    for (int f = 0; f < n_fns && !rc; f++) {
        /* torch: float32 scores, neg + margin in float32, then the float32
         * mean of the comparisons (an exact count over n). */
        size_t wins = 0;
        float margin = (float)e->margin[fns[f]];
        for (size_t i = 0; i < n; i++) {
            const float *ai = a + i * (size_t)D;
            float sp = stc_sim_pair(fns[f], ai, pn[0] + i * (size_t)D, D);
            float sn = stc_sim_pair(fns[f], ai, pn[1] + i * (size_t)D, D);
            wins += sp > sn + margin;
        }
        acc[f] = (double)((float)wins / (float)n);
        snprintf(key, sizeof key, "%s_accuracy", stc_sim_name(fns[f]));
        rc = stc_metrics_add(out, key, acc[f]);
    }
    free(a);
    free(pn[0]);
    free(pn[1]);
    if (rc)
        return rc;

    stc_eval_strs header = {0}, row = {0};
    rc = stc_eval_csv_begin(&header, &row, call);
    for (int f = 0; f < n_fns && !rc; f++)
        rc = stc_eval_strs_push(&header, "accuracy_%s", stc_sim_name(fns[f])) || stc_eval_strs_push_f64(&row, acc[f]);
    rc = rc ? STC_ERR_NOMEM : stc_eval_csv_append(call, "triplet_evaluation", &header, &row, 1);
    stc_eval_strs_free(&header);
    stc_eval_strs_free(&row);
    if (rc)
        return rc;

    if (n_fns > 1 && (rc = stc_metrics_add(out, "max_accuracy", stc_eval_first_max(acc, n_fns, 1))))
        return rc;
    stc_sim_set_primary(&e->sims, fns, n_fns, "%s_accuracy", "max_accuracy", out);
    return 0;
}

const stc_eval_family stc_eval_triplet_family = {
    .type = "TripletEvaluator",
    .keys = keys,
    .default_batch_size = 16,
    .create = create,
    .run = run,
    .free = destroy,
};
