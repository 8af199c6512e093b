/*
 * EmbeddingSimilarityEvaluator (sentence_transformer/evaluation/
 * embedding_similarity.py): Pearson and Spearman correlation of the gold
 * scores with each similarity function's pair scores.
 *
 * Keys pearson_{fn}, spearman_{fn} per function (similarity_fn_names, else
 * [main_similarity], else the model's), then pearson_max and spearman_max
 * when there are several; primary spearman_{main_similarity} if given,
 * else spearman_max with several functions, else spearman_{fn}.
 */
#include "trainer/eval_internal.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    stc_eval_rows rows;
    stc_sim_set sims; /* similarity_fn_names, main_similarity */
} similarity_eval;

static const char *const text_keys[] = {"sentences1", "sentences2"};
static const char *const keys[] = {"dataset", "sentences1", "sentences2", "scores", "main_similarity",
                                   "similarity_fn_names", "precision", NULL};

static int create(void **impl, const cJSON *spec, const char *where)
{
    similarity_eval *e = calloc(1, sizeof *e);
    if (!e)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    const cJSON *prec = cJSON_GetObjectItemCaseSensitive(spec, "precision");
    int rc = 0;
    /* Python's precision quantises the embeddings (and normalises them);
     * stc evaluates float32 embeddings only, Python's default. */
    if (prec && !cJSON_IsNull(prec))
        rc = stc_errorf(STC_ERR_USAGE, "%s: \"precision\": stc evaluates float32 embeddings only (leave it null)", where);
    if (!rc)
        rc = stc_sim_set_parse(&e->sims, spec, where, "similarity_fn_names", "main_similarity", 1);
    if (!rc)
        rc = stc_eval_rows_load(&e->rows, spec, where, 2, text_keys, "scores");
    if (rc) {
        free(e);
        return rc;
    }
    *impl = e;
    return 0;
}

static void destroy(void *impl)
{
    similarity_eval *e = impl;
    stc_eval_rows_free(&e->rows);
    free(e);
}

static int run(void *impl, const stc_eval_call *call, stc_metrics *out)
{
    similarity_eval *e = impl;
    stc_sim_fn fns[STC_SIM_COUNT];
    int n_fns;
    int rc = stc_sim_set_resolve(&e->sims, call->model, fns, &n_fns);
    if (rc)
        return rc;
    size_t n = e->rows.n;
    float *emb[2];
    int D;
    stc_eval_encode_opts o = {.fn = STC_EVAL_ENCODE};
    if ((rc = stc_eval_embed_columns(call, &o, e->rows.col, 2, emb, &D)))
        return rc;
    double *scores = malloc(sizeof *scores * n), pearson[STC_SIM_COUNT], spearman[STC_SIM_COUNT];
    if (!scores)
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
    char key[STC_METRIC_NAME_MAX];
    for (int f = 0; f < n_fns && !rc; f++) {
        /* Python's scores are float32 (torch); scipy reads them as float64. */
        for (size_t i = 0; i < n; i++)
            scores[i] = stc_sim_pair(fns[f], emb[0] + i * (size_t)D, emb[1] + i * (size_t)D, D);
        pearson[f] = stc_stat_pearson(e->rows.labels, scores, n);
        spearman[f] = stc_stat_spearman(e->rows.labels, scores, n);
        snprintf(key, sizeof key, "pearson_%s", stc_sim_name(fns[f]));
        if (!(rc = stc_metrics_add(out, key, pearson[f]))) {
            snprintf(key, sizeof key, "spearman_%s", stc_sim_name(fns[f]));
            rc = stc_metrics_add(out, key, spearman[f]);
        }
    }
    free(scores);
    free(emb[0]);
    free(emb[1]);
    if (rc)
        return rc;

    stc_eval_strs header = {0}, row = {0};
    rc = stc_eval_csv_begin(&header, &row, call);
    for (int f = 0; f < n_fns && !rc; f++)
        rc = stc_eval_strs_push(&header, "%s_pearson", stc_sim_name(fns[f])) ||
             stc_eval_strs_push(&header, "%s_spearman", stc_sim_name(fns[f])) ||
             stc_eval_strs_push_f64(&row, pearson[f]) || stc_eval_strs_push_f64(&row, spearman[f]);
    rc = rc ? STC_ERR_NOMEM : stc_eval_csv_append(call, "similarity_evaluation", &header, &row, 1);
    stc_eval_strs_free(&header);
    stc_eval_strs_free(&row);
    if (rc)
        return rc;

    if (n_fns > 1 && ((rc = stc_metrics_add(out, "pearson_max", stc_eval_first_max(pearson, n_fns, 1))) ||
                      (rc = stc_metrics_add(out, "spearman_max", stc_eval_first_max(spearman, n_fns, 1)))))
        return rc;
    stc_sim_set_primary(&e->sims, fns, n_fns, "spearman_%s", "spearman_max", out);
    return 0;
}

const stc_eval_family stc_eval_similarity_family = {
    .type = "EmbeddingSimilarityEvaluator",
    .keys = keys,
    .default_batch_size = 16,
    .create = create,
    .run = run,
    .free = destroy,
};
