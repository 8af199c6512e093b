/*
 * Evaluators with Sentence Transformers' semantics and metric names
 * (ST_SPEC.md section 8): InformationRetrievalEvaluator,
 * EmbeddingSimilarityEvaluator, TripletEvaluator,
 * BinaryClassificationEvaluator, RerankingEvaluator, MSEEvaluator,
 * ParaphraseMiningEvaluator, TranslationEvaluator, and a list of them
 * (SequentialEvaluator).
 *
 * The config's "evaluator" is one object or a list of objects,
 * {"type": <Python class name>, "name": ..., <files and constructor
 * arguments>}; it is parsed and its files are read once, at creation, so a
 * bad file or key is an error before any training step.
 *
 * Every rank calls stc_evaluator_run with the same model weights: the texts
 * are encoded in rank slices and the embeddings all-gathered, and every
 * rank returns the same metrics. Rank 0 alone writes the CSV files
 * (csv_dir/<Python's csv file name>), appending a row per call as Python
 * does.
 */
#ifndef STC_TRAINER_EVALUATOR_H
#define STC_TRAINER_EVALUATOR_H

#include "dist/comm.h"
#include "model/st_model.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { STC_METRIC_NAME_MAX = 160 };

typedef struct {
    char name[STC_METRIC_NAME_MAX]; /* "{evaluator name}_{key}" as Python's prefix_name_to_metrics, no "eval_" */
    double value;
} stc_metric;

typedef struct {
    stc_metric *m;
    int n, cap;
    char primary[STC_METRIC_NAME_MAX]; /* name of the primary metric (a list, i.e. a SequentialEvaluator:
                                        * "sequential_score", whose value is the last evaluator's primary) */
} stc_metrics;

void stc_metrics_init(stc_metrics *ms);
void stc_metrics_free(stc_metrics *ms);
int stc_metrics_add(stc_metrics *ms, const char *name, double value);
/* The value of name, or NULL. */
const double *stc_metrics_get(const stc_metrics *ms, const char *name);
/* The metrics as one JSON object in their order, numbers as Python's
 * json.dumps writes floats (NaN, Infinity), two-space indent; malloc'd,
 * NULL when out of memory. */
char *stc_metrics_to_json(const stc_metrics *ms);

typedef struct stc_evaluator stc_evaluator;

/* spec: the config's "evaluator" (object or array); where: the config
 * file, for messages. Each evaluator's batch_size defaults to its Python
 * class's default. */
int stc_evaluator_create(stc_evaluator **out, const cJSON *spec, const char *where);
void stc_evaluator_free(stc_evaluator *ev);

/* Runs every evaluator on model; appends the metrics to out (which the
 * caller initialised). csv_dir NULL: no CSV. epoch/steps are Python's
 * arguments (-1 when not training). */
int stc_evaluator_run(stc_evaluator *ev, const stc_st_model *model, const stc_comm *comm, const char *csv_dir,
                      double epoch, int64_t steps, stc_metrics *out);

#ifdef __cplusplus
}
#endif

#endif
