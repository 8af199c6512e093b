/* Evaluation during training (train_internal.h): the eval losses of
 * eval_dataset, the evaluators, and best-model tracking. */
#include "trainer/evaluator.h"
#include "trainer/train_internal.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fileio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for an evaluation metric's name with its prefixes. */
enum { STC_METRIC_KEY_MAX = 256 };

/* The evaluators' metrics into o, "eval_" prefixed unless they already are
 * (Python's evaluation_loop); CSVs in output_dir/eval as Python writes
 * them (rank 0). */
static int run_evaluators(trainer *t, int64_t step, double epoch_f, cJSON *o)
{
    if (!t->evaluator)
        return 0;
    stc_metrics ms;
    stc_metrics_init(&ms);
    char *csv = t->comm->rank == 0 ? stc_path_join(t->a->output_dir, "eval") : NULL;
    int rc = t->comm->rank == 0 && !csv ? stc_errorf(STC_ERR_NOMEM, "out of memory")
                                        : stc_evaluator_run(t->evaluator, &t->model, t->comm, csv, epoch_f, step, &ms);
    for (int i = 0; !rc && i < ms.n; i++) {
        char key[STC_METRIC_KEY_MAX];
        snprintf(key, sizeof key, "%s%s", strncmp(ms.m[i].name, "eval_", 5) ? "eval_" : "", ms.m[i].name);
        cJSON_AddNumberToObject(o, key, ms.m[i].value);
    }
    free(csv);
    stc_metrics_free(&ms);
    return rc;
}

/* The eval loss of eval dataset `set` (Python's evaluation_loop): its
 * batches of per_device_eval_batch_size rows per rank (eval_plans), no
 * dropout, each batch's loss weighted by its rows. Each rank scores its own
 * slice of a batch (no gathering across ranks, unlike training) and the
 * weighted mean runs over every rank's batches. */
static int eval_loss(trainer *t, int set, double *out)
{
    const stc_comm *c = t->comm;
    const train_set *s = &t->eval_sets[set];
    const stc_epoch_plan *plan = &t->eval_plans[set];
    double sums[2] = {0.0, 0.0}; /* rows x loss, rows */
    int rc = 0;
    for (size_t bi = 0; bi < stc_epoch_plan_num_batches(plan) && !rc; bi++) {
        const int64_t *grow;
        size_t gn;
        int dsi;
        if ((rc = stc_epoch_plan_rank_rows(plan, bi, c->rank, &grow, &gn, &dsi)))
            break;
        for (size_t i = 0; i < gn; i++)
            t->row_ids[i] = (size_t)grow[i];
        double loss = 0.0;
        long tokens;
        if ((rc = stc_trainer_micro_step(t, s, t->row_ids, (int)gn, 1.0, 0, 0, &loss, &tokens)))
            break;
        if (gn > 0) {
            sums[0] += (double)gn * loss;
            sums[1] += (double)gn;
        }
    }
    if (!rc && c->world > 1)
        rc = stc_comm_allreduce_sum_f64(c, sums, 2);
    *out = sums[1] > 0 ? sums[0] / sums[1] : NAN;
    return rc;
}

/* Whether eval_strategy asks for an evaluation after this step. */
int stc_trainer_eval_due(const trainer *t, int64_t step, int last_in_epoch)
{
    const stc_training_args *a = t->a;
    if (!strcmp(a->eval_strategy, "steps"))
        return stc_trainer_every(a->eval_steps, step, t->total);
    return !strcmp(a->eval_strategy, "epoch") && last_in_epoch;
}

/* metric_for_best_model against the best so far (Python's
 * _determine_best_metric): "eval_" prefixed when missing, strictly better
 * by greater_is_better, so a NaN never wins. Rank 0's value decides on
 * every rank. */
static int track_best(trainer *t, const cJSON *metrics, int64_t step)
{
    const char *m = t->a->metric_for_best_model;
    if (!m)
        return 0;
    char key[STC_METRIC_KEY_MAX];
    snprintf(key, sizeof key, "%s%s", strncmp(m, "eval_", 5) ? "eval_" : "", m);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(metrics, key);
    if (!cJSON_IsNumber(v)) {
        char have[1024] = "";
        size_t n = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, metrics) if (n < sizeof have && strncmp(e->string, "eval_", 5) == 0) n +=
            (size_t)snprintf(have + n, sizeof have - n, "%s%s", n ? ", " : "", e->string);
        return stc_errorf(STC_ERR_USAGE, "%s: metric_for_best_model \"%s\": the evaluation has no \"%s\" (it has %s)",
                          t->cfg->path, m, key, n ? have : "no metrics");
    }
    double x = v->valuedouble;
    int rc = t->comm->world > 1 ? stc_comm_broadcast(t->comm, &x, sizeof x, 0) : 0;
    if (rc)
        return rc;
    double best = t->has_best ? t->best_metric : (t->a->greater_is_better ? -INFINITY : INFINITY);
    if (t->a->greater_is_better ? x > best : x < best) {
        t->has_best = 1;
        t->best_metric = x;
        t->best_step = step;
    }
    return 0;
}

/* An evaluation after optimizer step `step` (or before the first, step 0):
 * the eval losses, then the evaluators' metrics, logged as one line with
 * Python's "eval_" names; then best-model tracking. */
int stc_trainer_evaluate(trainer *t, int64_t step, double epoch_f)
{
    double t0 = stc_now_s();
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    int rc = 0;
    double rows = 0.0, batches = 0.0;
    for (int i = 0; i < t->n_eval_sets && !rc; i++) {
        double l;
        if ((rc = eval_loss(t, i, &l)))
            break;
        rows += (double)stc_dataset_num_rows(t->eval_sets[i].ds);
        batches += (double)stc_epoch_plan_num_batches(&t->eval_plans[i]);
        char key[STC_METRIC_KEY_MAX];
        /* A dict of eval datasets: one prefix per dataset (Python's
         * eval_<name>_loss). */
        snprintf(key, sizeof key, "eval_%s%sloss", t->eval_multi ? t->eval_sets[i].name : "",
                 t->eval_multi ? "_" : "");
        cJSON_AddNumberToObject(o, key, l);
    }
    if (!rc)
        rc = run_evaluators(t, step, epoch_f, o);
    if (!rc) {
        /* Python's speed_metrics, rounded as it rounds them. */
        double dt = stc_now_s() - t0;
        cJSON_AddNumberToObject(o, "eval_runtime", round(dt * 1e4) / 1e4);
        if (t->n_eval_sets && dt > 0) {
            cJSON_AddNumberToObject(o, "eval_samples_per_second", round(rows / dt * 1e3) / 1e3);
            cJSON_AddNumberToObject(o, "eval_steps_per_second", round(batches / dt * 1e3) / 1e3);
        }
        cJSON_AddNumberToObject(o, "epoch", epoch_f);
        cJSON_AddNumberToObject(o, "step", (double)step);
        /* eval_on_start's evaluation is not a candidate (Python). */
        if (step > 0)
            rc = track_best(t, o, step);
    }
    if (rc) {
        cJSON_Delete(o);
        return rc;
    }
    if (t->comm->rank != 0) {
        cJSON_Delete(o);
        return 0;
    }
    /* The terminal gets the losses and the metric that picks the best
     * model; log.jsonl gets everything. */
    char what[1024];
    size_t n = (size_t)snprintf(what, sizeof what, "eval at step %lld (%.1f s):", (long long)step,
                                stc_now_s() - t0);
    const cJSON *e;
    const char *m = t->a->metric_for_best_model;
    cJSON_ArrayForEach(e, o)
    {
        size_t kl = strlen(e->string);
        int is_loss = kl >= 5 && !strcmp(e->string + kl - 5, "_loss");
        int is_best = m && (!strcmp(e->string, m) || (!strncmp(e->string, "eval_", 5) && !strcmp(e->string + 5, m)));
        if ((is_loss || is_best) && n < sizeof what)
            n += (size_t)snprintf(what + n, sizeof what - n, " %s %.6g%s", e->string, e->valuedouble,
                                  is_best && t->has_best && t->best_step == step ? " (best so far)" : "");
    }
    stc_trainer_record_line(t, o, what);
    return 0;
}

