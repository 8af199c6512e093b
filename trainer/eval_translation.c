/*
 * TranslationEvaluator (sentence_transformer/evaluation/translation.py):
 * given sentence i in two languages, how often source i's most similar
 * target (cosine, whatever the model's similarity function) is target i
 * (src2trg), and the other way round (trg2src).
 *
 * Keys src2trg_accuracy, trg2src_accuracy, mean_accuracy (primary). A match
 * counts when the found sentence's text equals the right one's, so a
 * repeated target is no error, as in Python; of equal scores the first
 * sentence wins (np.argmax).
 *
 * Work: both lists are encoded across ranks (model.encode); rank r finds
 * the best match of its slice of sources and of targets, and the per-row
 * results are all-gathered and counted in row order.
 */
#include "trainer/eval_internal.h"
#include "util/error.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    stc_eval_rows rows; /* col[0] source_sentences, col[1] target_sentences */
} translation_eval;

static const char *const text_keys[] = {"source_sentences", "target_sentences"};
static const char *const keys[] = {"dataset", "source_sentences", "target_sentences", "print_wrong_matches", NULL};

static int create(void **impl, const cJSON *spec, const char *where)
{
    int print_wrong = 0;
    if (stc_json_get_bool(spec, "print_wrong_matches", where, &print_wrong))
        return STC_ERR_USAGE;
    /* Python prints them to stdout, where stc eval prints the metrics. */
    if (print_wrong)
        return stc_errorf(STC_ERR_USAGE, "%s: \"print_wrong_matches\": stc does not print matches (leave it false)",
                          where);
    translation_eval *e = calloc(1, sizeof *e);
    if (!e)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    int rc = stc_eval_rows_load(&e->rows, spec, where, 2, text_keys, NULL);
    if (rc) {
        free(e);
        return rc;
    }
    *impl = e;
    return 0;
}

static void destroy(void *impl)
{
    translation_eval *e = impl;
    stc_eval_rows_free(&e->rows);
    free(e);
}

/* np.argmax over the n rows of b of the cosine with a (both normalised). */
static size_t best_match(const float *a, const float *b, size_t n, int D)
{
    size_t best = 0;
    float best_s = stc_sim_score(STC_SIM_COSINE, a, b, D);
    for (size_t j = 1; j < n; j++) {
        float s = stc_sim_score(STC_SIM_COSINE, a, b + j * (size_t)D, D);
        if (s > best_s) {
            best_s = s;
            best = j;
        }
    }
    return best;
}

static int same_text(const stc_eval_texts *t, size_t i, size_t j)
{
    return t->lens[i] == t->lens[j] && !memcmp(t->texts[i], t->texts[j], t->lens[i]);
}

static int run(void *impl, const stc_eval_call *call, stc_metrics *out)
{
    translation_eval *e = impl;
    size_t n = e->rows.n;
    const stc_eval_texts *src = &e->rows.col[0], *trg = &e->rows.col[1];
    float *emb[2];
    int D;
    stc_eval_encode_opts o = {.fn = STC_EVAL_ENCODE};
    int rc = stc_eval_embed_columns(call, &o, e->rows.col, 2, emb, &D);
    if (rc)
        return rc;
    stc_sim_normalize_rows(emb[0], n, D);
    stc_sim_normalize_rows(emb[1], n, D);
    double *hit = malloc(sizeof *hit * 2 * n); /* (n, 2): source i found target i, target i found source i */
    if (!hit)
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
    size_t begin = 0, count = 0;
    stc_eval_rank_slice(call->comm, n, (size_t)call->batch_size, &begin, &count);
    if (!rc) {
#pragma omp parallel for schedule(dynamic, 4)
        for (size_t i = begin; i < begin + count; i++) {
            hit[2 * i] = same_text(trg, i, best_match(emb[0] + i * (size_t)D, emb[1], n, D));
            hit[2 * i + 1] = same_text(src, i, best_match(emb[1] + i * (size_t)D, emb[0], n, D));
        }
        rc = stc_eval_allgather_rows_f64(call->comm, hit, n, (size_t)call->batch_size, 2);
    }
    free(emb[0]);
    free(emb[1]);
    size_t correct[2] = {0, 0};
    for (size_t i = 0; i < n && !rc; i++) {
        correct[0] += hit[2 * i] != 0.0;
        correct[1] += hit[2 * i + 1] != 0.0;
    }
    free(hit);
    if (rc)
        return rc;
    double acc[2] = {(double)correct[0] / (double)n, (double)correct[1] / (double)n};
    if ((rc = stc_metrics_add(out, "src2trg_accuracy", acc[0])) ||
        (rc = stc_metrics_add(out, "trg2src_accuracy", acc[1])) ||
        (rc = stc_metrics_add(out, "mean_accuracy", (acc[0] + acc[1]) / 2)))
        return rc;
    snprintf(out->primary, sizeof out->primary, "mean_accuracy");

    stc_eval_strs header = {0}, row = {0};
    rc = stc_eval_csv_begin(&header, &row, call) || stc_eval_strs_push(&header, "src2trg") ||
         stc_eval_strs_push(&header, "trg2src") || stc_eval_strs_push_f64(&row, acc[0]) ||
         stc_eval_strs_push_f64(&row, acc[1]);
    rc = rc ? STC_ERR_NOMEM : stc_eval_csv_append(call, "translation_evaluation", &header, &row, 1);
    stc_eval_strs_free(&header);
    stc_eval_strs_free(&row);
    return rc;
}

const stc_eval_family stc_eval_translation_family = {
    .type = "TranslationEvaluator",
    .keys = keys,
    .default_batch_size = 16,
    .create = create,
    .run = run,
    .free = destroy,
};
