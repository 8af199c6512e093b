/* The training loop (see train.h). */
#include "trainer/train.h"
#include "trainer/train_internal.h"
#include "data/dataset.h"
#include "kernels/dropout.h"
#include "kernels/ops.h"
#include "model/st_model.h"
#include "model/st_save.h"
#include "model/st_train.h"
#include "data/sampler.h"
#include "trainer/sampler_inputs.h"
#include "data/prepared.h"
#include "trainer/collate.h"
#include "trainer/dp_step.h"
#include "trainer/losses.h"
#include "trainer/optimizer.h"
#include "trainer/param_groups.h"
#include "trainer/scheduler.h"
#include "trainer/checkpoint.h"
#include "trainer/evaluator.h"
#include "trainer/loss_plot.h"
#include "util/error.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/json.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

_Static_assert(STC_DP_MAX_SCALARS >= 2 + STC_LOSS_MAX_COMPONENTS,
               "the step averages the loss, its components and the SIGTERM flag");

/* Training stops after this many optimizer steps in a row with a
 * non-finite loss or gradient (RELIABILITY.md, "Numerical faults"). */
enum { MAX_BAD_STEPS = 10 };


/* Datasets and their losses from the config's train_dataset and loss. */
/* The datasets of the config's `key` (train_dataset or eval_dataset) with
 * their losses: one path, or a {name: path} object whose names the loss
 * object maps (Python's DatasetDict). */
static int load_set_list(trainer *t, const char *key, train_set **out, int *n_out, int *multi_out)
{
    const cJSON *root = t->cfg->resolved;
    const char *path = t->cfg->path;
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(root, key);
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(root, "loss");
    int n_sets, multi = 0;
    if (cJSON_IsString(td)) {
        n_sets = 1;
    } else if (cJSON_IsObject(td) && td->child) {
        n_sets = cJSON_GetArraySize(td);
        multi = 1;
    } else {
        return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be a path or a {name: path} object", path, key);
    }
    *n_out = n_sets;
    *multi_out = multi;
    /* loss: one loss object ({"type": ...}) for every dataset, or
     * {dataset: loss} with every dataset's key; absent: CoSENTLoss, the
     * Python trainer's default. */
    int per_set = cJSON_IsObject(loss) && !cJSON_GetObjectItemCaseSensitive(loss, "type");
    if (loss && !cJSON_IsNull(loss) && !cJSON_IsObject(loss))
        return stc_errorf(STC_ERR_USAGE, "%s: \"loss\" must be a loss object or a {dataset: loss} object", path);
    if (per_set && !multi)
        return stc_errorf(STC_ERR_USAGE, "%s: \"loss\" maps dataset names to losses but %s is a single path", path, key);
    train_set *sets = *out = stc_calloc((size_t)n_sets, sizeof *sets, "datasets");
    if (!sets)
        return STC_ERR_NOMEM;
    for (int i = 0; i < n_sets; i++) {
        train_set *s = &sets[i];
        const cJSON *p = multi ? cJSON_GetArrayItem(td, i) : td;
        if (!cJSON_IsString(p))
            return stc_errorf(STC_ERR_USAGE, "%s: %s[\"%s\"] must be a path", path, key, p->string);
        s->name = strdup(multi ? p->string : "");
        s->path = strdup(p->valuestring);
        const cJSON *l = per_set ? cJSON_GetObjectItemCaseSensitive(loss, s->name) : loss;
        char where[256];
        snprintf(where, sizeof where, "%s: loss%s%s%s", path, per_set ? "[\"" : "", per_set ? s->name : "",
                 per_set ? "\"]" : "");
        int rc;
        if (per_set && !l)
            return stc_errorf(STC_ERR_USAGE, "%s: \"loss\" has no entry for %s \"%s\"", path, key, s->name);
        if (l && !cJSON_IsNull(l)) {
            if ((rc = stc_loss_spec_from_json(l, where, &s->loss)))
                return rc;
        } else {
            stc_loss_spec_init(&s->loss, STC_LOSS_COSENT);
        }
        stc_dataset_opts o = {.skip_bad_rows = t->a->skip_bad_rows, .index_path = NULL};
        /* A dataset that does not fit the config is found here, before any
         * work, and is a usage error like any other config mistake. */
        if ((rc = stc_dataset_open(&s->ds, s->path, &o)))
            return rc == STC_ERR_DATA ? STC_ERR_USAGE : rc;
        /* A prepared dataset's ids must come from this model's tokenizer
         * (a Router model's routes tokenize its texts themselves). */
        if (stc_st_model_n_routes(&t->model) == 1 &&
            (rc = stc_dataset_check_prepared(s->ds, t->model.dir, t->model.do_lower_case, t->model.max_seq_length)))
            return rc == STC_ERR_DATA ? STC_ERR_USAGE : rc;
        if (stc_dataset_num_bad_rows(s->ds) && t->comm->rank == 0)
            fprintf(stderr, "stc train: %s: %zu bad rows skipped (first: %s)\n", s->path,
                    stc_dataset_num_bad_rows(s->ds), stc_dataset_first_bad_row(s->ds));
        if (stc_dataset_num_invalid_utf8(s->ds) && t->comm->rank == 0)
            fprintf(stderr, "stc train: warning: %s: %zu invalid UTF-8 sequences replaced by U+FFFD\n", s->path,
                    stc_dataset_num_invalid_utf8(s->ds));
        s->n_cols = stc_dataset_num_text_columns(s->ds);
        s->col_names = stc_calloc((size_t)s->n_cols, sizeof(char *), "column names");
        if (!s->col_names)
            return STC_ERR_NOMEM;
        for (int c = 0; c < s->n_cols; c++)
            s->col_names[c] = stc_dataset_text_column_name(s->ds, c);
        /* Each column's route: router_mapping's task, resolved by the
         * model's Router (an unknown task is a config error here). */
        s->col_route = stc_calloc((size_t)s->n_cols, sizeof(int), "column routes");
        if (!s->col_route)
            return STC_ERR_NOMEM;
        for (int c = 0; c < s->n_cols; c++) {
            const char *task = stc_collator_task(t->a->router_mapping, multi ? s->name : NULL, s->col_names[c]);
            if ((rc = stc_st_model_route_index(&t->model, task, &s->col_route[c])))
                return stc_error_prefix(STC_ERR_USAGE, "%s: router_mapping: column \"%s\" of %s", path,
                                        s->col_names[c], s->path);
        }
        if (s->n_cols > STC_LOSS_MAX_COLUMNS)
            return stc_errorf(STC_ERR_DATA, "%s: %d text columns; at most %d are supported", s->path, s->n_cols,
                              STC_LOSS_MAX_COLUMNS);
        if ((rc = stc_loss_check_dataset(&s->loss, s->n_cols, stc_dataset_label_dim(s->ds), t->model.dim)))
            return stc_error_prefix(rc, "%s (%s%s%s%s)", s->path, key, multi ? "[\"" : "", multi ? s->name : "",
                                    multi ? "\"]" : "");
        t->max_cols = s->n_cols > t->max_cols ? s->n_cols : t->max_cols;
    }
    return 0;
}

static int load_sets(trainer *t)
{
    /* A Router model needs router_mapping, default route or not: Python's
     * trainer refuses it without one (trainer.py, get_data_collator). */
    if (t->model.router && !(cJSON_IsObject(t->a->router_mapping) && t->a->router_mapping->child)) {
        char routes[512] = "";
        size_t n = 0;
        for (int r = 0; r < stc_st_model_n_routes(&t->model) && n < sizeof routes; r++)
            n += (size_t)snprintf(routes + n, sizeof routes - n, "%s\"%s\"", r ? ", " : "",
                                  stc_st_model_route_name(&t->model, r));
        return stc_errorf(STC_ERR_USAGE,
                          "%s: the model has a Router, so \"router_mapping\" is required: map each column to a "
                          "route (one of %s), e.g. {\"anchor\": \"query\", \"positive\": \"document\"}",
                          t->cfg->path, routes);
    }
    int rc = load_set_list(t, "train_dataset", &t->sets, &t->n_sets, &t->multi);
    if (rc)
        return rc;
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(t->cfg->resolved, "loss");
    if (cJSON_IsObject(loss) && !cJSON_GetObjectItemCaseSensitive(loss, "type") &&
        cJSON_GetArraySize(loss) != t->n_sets)
        return stc_errorf(STC_ERR_USAGE, "%s: \"loss\" names a dataset that train_dataset does not have",
                          t->cfg->path);
    /* eval_dataset: the eval loss's data, read in order (eval_loss below). */
    if (cJSON_GetObjectItemCaseSensitive(t->cfg->resolved, "eval_dataset") &&
        !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(t->cfg->resolved, "eval_dataset")))
        return load_set_list(t, "eval_dataset", &t->eval_sets, &t->n_eval_sets, &t->eval_multi);
    return 0;
}

/* Set i of the training sets followed by the eval sets. */
static train_set *set_at(trainer *t, int i)
{
    return i < t->n_sets ? &t->sets[i] : &t->eval_sets[i - t->n_sets];
}

/*
 * GISTEmbedLoss's guide models, loaded once per path (sets naming the same
 * guide share it). The guide reads the model's own token batch: that is
 * what Python does when the two tokenizers have the same vocabulary and the
 * guide's max_seq_length is not shorter than the model's (6.3's
 * must_retokenize false). Otherwise Python decodes the model's token ids and
 * tokenizes the text again with the guide's tokenizer, which stc does not
 * do: such a guide is refused.
 */
static int load_guides(trainer *t)
{
    for (int i = 0; i < t->n_sets + t->n_eval_sets; i++) {
        train_set *s = set_at(t, i);
        if (!stc_loss_is_gist(s->loss.type))
            continue;
        const char *path = s->loss.guide_path;
        for (int j = 0; j < i && !s->guide; j++) {
            const train_set *o = set_at(t, j);
            if (o->guide && !strcmp(o->loss.guide_path, path)) {
                s->guide = o->guide;
                s->guide_acts = o->guide_acts;
            }
        }
        if (s->guide)
            continue;
        const char *name = stc_loss_type_name(s->loss.type);
        if (stc_st_model_n_routes(&t->model) > 1)
            return stc_errorf(STC_ERR_USAGE, "%s: %s: stc does not train a Router model with a guide", t->cfg->path,
                              name);
        s->guide = stc_calloc(1, sizeof *s->guide, "guide model");
        s->guide_acts = stc_calloc(1, sizeof *s->guide_acts, "guide activations");
        if (!s->guide || !s->guide_acts)
            return STC_ERR_NOMEM;
        s->owns_guide = 1;
        int rc = stc_st_model_load(s->guide, path);
        if (rc)
            return stc_error_prefix(rc == STC_ERR_DATA || rc == STC_ERR_IO ? STC_ERR_USAGE : rc, "%s: %s: guide",
                                    t->cfg->path, name);
        if (s->guide->router)
            return stc_errorf(STC_ERR_USAGE, "%s: %s: the guide %s has a Router; stc supports guides without one",
                              t->cfg->path, name, path);
        if (!stc_tokenizer_same_vocab(t->model.tokenizer, s->guide->tokenizer) ||
            s->guide->max_seq_length < t->model.max_seq_length)
            return stc_errorf(STC_ERR_USAGE,
                              "%s: %s: the guide %s %s; Python then decodes the model's tokens and tokenizes "
                              "them again for the guide, which stc does not do: use a guide with the model's "
                              "tokenizer and a max_seq_length of at least %d",
                              t->cfg->path, name, path,
                              s->guide->max_seq_length < t->model.max_seq_length
                                  ? "has a shorter max_seq_length than the model"
                                  : "has another tokenizer vocabulary than the model",
                              t->model.max_seq_length);
        if (s->guide->dim > t->guide_dim_max)
            t->guide_dim_max = s->guide->dim;
    }
    return 0;
}

/* Param groups (learning_rate_mapping), AdamW and the schedule. */
static int setup_optimizer(trainer *t, int64_t total_steps)
{
    const stc_training_args *a = t->a;
    const stc_param_table *tab = &t->model.params;
    /* The loss module names its parameters: "model." for one loss; a dict
     * of losses is an nn.Sequential keyed by dataset, and shared parameters
     * keep the first loss's prefix. */
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s%smodel.", t->multi ? t->sets[0].name : "", t->multi ? "." : "");
    stc_param_source src = {.table = tab, .prefix = prefix, .in_layernorm = NULL};
    int n_map = cJSON_GetArraySize(a->learning_rate_mapping);
    stc_lr_mapping_entry *map = stc_calloc((size_t)(n_map ? n_map : 1), sizeof *map, "learning_rate_mapping");
    if (!map)
        return STC_ERR_NOMEM;
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a->learning_rate_mapping) {
        map[k].pattern = e->string;
        map[k].lr = e->valuedouble;
        k++;
    }
    int rc = stc_param_groups_build(&t->pg, &src, 1, a->learning_rate, a->weight_decay, map, n_map);
    free(map);
    if (rc)
        return stc_error_prefix(rc, "%s: learning_rate_mapping", t->cfg->path);
    /* With several ranks each one updates, and keeps moments for, its own
     * block of the slab (ZeRO-1, dp_step.h). */
    if ((rc = stc_dp_step_init(&t->dp, t->comm, tab->total)))
        return rc;
    if (t->comm->world > 1)
        rc = stc_adamw_init_shard(&t->opt, &t->pg, a->adam_beta1, a->adam_beta2, a->adam_epsilon, &t->dp.begin,
                                  &t->dp.count);
    else
        rc = stc_adamw_init(&t->opt, &t->pg, a->adam_beta1, a->adam_beta2, a->adam_epsilon);
    if (rc)
        return rc;
    stc_sched_type type;
    if ((rc = stc_sched_type_parse(a->lr_scheduler_type, &type)))
        return rc;
    stc_sched_kwargs kw = stc_sched_kwargs_default();
    if (a->lr_scheduler_kwargs && (rc = stc_sched_kwargs_from_json(a->lr_scheduler_kwargs, type, t->cfg->path, &kw)))
        return rc;
    int64_t warmup = stc_sched_warmup_steps_v5(a->warmup_steps, total_steps);
    return stc_scheduler_init(&t->sched, type, total_steps, warmup, a->learning_rate, &kw);
}

/* A view of texts [a, b) of a packed batch; cu must hold b - a + 1 ints. */
static stc_token_batch sub_batch(const stc_token_batch *full, int a, int b, int *cu)
{
    stc_token_batch v = *full;
    int t0 = full->cu_seqlens[a];
    for (int i = 0; i <= b - a; i++)
        cu[i] = full->cu_seqlens[a + i] - t0;
    v.B = b - a;
    v.T = cu[b - a];
    v.ids = full->ids + t0;
    v.pos = full->pos + t0;
    v.types = full->types + t0;
    v.cu_seqlens = cu;
    v.skip = full->skip + a;
    return v;
}

/* The dropout stream of chunk k of a pass: GradCache's second pass replays
 * exactly the masks of its first (RandContext in Python). */
static stc_bert_dropout chunk_dropout(uint64_t pass_seed, int k)
{
    stc_bert_dropout d = {.seed = stc_dropout_site_seed(pass_seed, 0, (uint64_t)k, 0) | 1};
    return d;
}

/*
 * gather_across_devices (MNRL family, GIST): every rank's candidate columns
 * (positives, hard negatives; GIST: and the guide's embeddings of them) are
 * all-gathered, so each local anchor is
 * scored against the candidates of all ranks; anchors are gathered too when
 * a direction reads them (the symmetric losses). The gradients of gathered
 * blocks are summed over ranks onto the rank that owns those rows
 * (reduce-scatter); DDP's average over ranks then
 * gives exactly the gradient of one rank with the whole global batch.
 * E is this rank's [n_cols * n, D] embeddings (column-major); d(E) goes to
 * t->demb. Every rank has n rows: the sampler gives full global batches
 * under DDP (drop_last).
 */
static int gathered_loss(trainer *t, const stc_loss_spec *spec, const float *E, int n, int n_cols, int D,
                         stc_loss_result *res)
{
    const stc_comm *c = t->comm;
    int P = c->world, k = n_cols - 1, rows = P * n;
    int gather_anchors = (spec->directions & (STC_MNRL_QUERY_TO_QUERY | STC_MNRL_DOC_TO_QUERY)) != 0;
    size_t col = (size_t)n * D, gcol = (size_t)rows * D;
    size_t na = gather_anchors ? gcol : col, nc = (size_t)k * gcol;
    float *A = stc_malloc(sizeof(float) * na, "gathered anchors");
    float *Cd = stc_malloc(sizeof(float) * nc, "gathered candidates");
    float *dA = stc_malloc(sizeof(float) * na, "anchor gradients");
    float *dC = stc_malloc(sizeof(float) * nc, "candidate gradients");
    /* GISTEmbedLoss: the guide's candidates are gathered like the model's */
    const int Dg = spec->guide ? spec->guide->dim : 0;
    float *GC = Dg ? stc_malloc(sizeof(float) * (size_t)k * rows * Dg, "gathered guide candidates") : NULL;
    stc_loss_spec sp = *spec;
    stc_loss_guide guide;
    int rc = (A && Cd && dA && dC && (!Dg || GC)) ? 0 : STC_ERR_NOMEM;
    if (!rc && k < 1)
        rc = stc_errorf(STC_ERR_USAGE, "%s needs at least one candidate column", stc_loss_type_name(spec->type));
    /* Python: torch.cat([all_gather(col) for col in candidate columns]). */
    for (int j = 0; !rc && j < k; j++)
        rc = stc_comm_allgather_f32(c, Cd + (size_t)j * gcol, E + (size_t)(j + 1) * col, col);
    for (int j = 0; !rc && Dg && j < k; j++)
        rc = stc_comm_allgather_f32(c, GC + (size_t)j * rows * Dg, spec->guide->cands + (size_t)j * n * Dg,
                                    (size_t)n * Dg);
    if (Dg) {
        guide = (stc_loss_guide){spec->guide->anchors, GC, Dg};
        sp.guide = &guide;
    }
    if (!rc) {
        if (gather_anchors)
            rc = stc_comm_allgather_f32(c, A, E, col);
        else
            memcpy(A, E, sizeof(float) * col);
    }
    stc_inbatch_geometry g = {
        .n_local = n,
        .anchor_rows = gather_anchors ? rows : n,
        .anchor_offset = gather_anchors ? c->rank * n : 0,
        .cand_cols = k,
        .cand_col_rows = rows,
        .cand_offset = c->rank * n,
    };
    if (!rc)
        rc = stc_loss_compute_inbatch(&sp, A, Cd, &g, D, res, dA, dC);
    /* Each gathered block's gradient, summed over ranks, goes back to the
     * rank it came from (reduce-scatter, equal blocks of n rows). */
    for (int j = 0; !rc && j < k; j++)
        rc = stc_comm_reduce_scatter_sum_f32(c, t->demb + (size_t)(j + 1) * col, dC + (size_t)j * gcol, col);
    if (!rc) {
        if (gather_anchors)
            rc = stc_comm_reduce_scatter_sum_f32(c, t->demb, dA, col);
        else
            memcpy(t->demb, dA, sizeof(float) * col);
    }
    free(A);
    free(Cd);
    free(dA);
    free(dC);
    free(GC);
    return rc;
}

/* Groups a set's columns by route (s->col_route), routes in order. */
static void route_groups(const trainer *t, train_set *s)
{
    route_group *g = s->groups;
    int n = 0;
    for (int r = 0; r < t->n_routes; r++) {
        g[n].route = r;
        g[n].n = 0;
        for (int c = 0; c < s->n_cols; c++)
            if (s->col_route[c] == r)
                g[n].cols[g[n].n++] = c;
        n += g[n].n > 0;
    }
    s->n_groups = n;
}

/* Whether a set's rows are read as token ids: a prepared file, a model
 * without routes (whose routes would tokenize with their own tokenizers),
 * and no prompt to tokenize together with a text. */
static int set_uses_ids(const trainer *t, const train_set *s, int *use)
{
    *use = stc_dataset_is_prepared(s->ds) && t->n_routes == 1;
    for (int c = 0; *use && c < s->n_cols; c++) {
        const char *prompt;
        int rc = stc_collator_prompt(&t->col[0], s->name, s->col_names[c], &prompt);
        if (rc)
            return rc;
        *use = prompt == NULL || prompt[0] == 0;
    }
    return 0;
}

/* Text j of a group (column-major over its columns, B rows each) is text
 * cols[j / B] * B + j % B of the whole batch. */
static size_t group_text(const route_group *g, int B, int j)
{
    return (size_t)g->cols[j / B] * (size_t)B + (size_t)(j % B);
}

/* Copies rows [a, b) of a group's embeddings (src, contiguous) into the
 * batch's E, or (to_group) E's rows into dst, one run per column. */
static void group_copy(const route_group *g, int B, int D, int a, int b, float *E, float *grp, int to_group)
{
    for (int j = a; j < b;) {
        int run = B - j % B;
        if (run > b - j)
            run = b - j;
        float *e = E + group_text(g, B, j) * (size_t)D, *x = grp + (size_t)(j - a) * D;
        if (to_group)
            memcpy(x, e, sizeof(float) * (size_t)run * D);
        else
            memcpy(e, x, sizeof(float) * (size_t)run * D);
        j += run;
    }
}

/* Dropout stream of chunk k of group gi (group 0's are the streams of a
 * model without a Router). */
static stc_bert_dropout group_dropout(uint64_t pass_seed, int gi, int k)
{
    return chunk_dropout(pass_seed, gi * 65536 + k);
}

/* stc_loss_ranks' all-gather over this run's communicator. */
static int loss_allgather_f64(void *ctx, double *out, const double *in, size_t n)
{
    return stc_comm_allgather_f64((const stc_comm *)ctx, out, in, n);
}

/* Runs one micro-batch (this rank's rows of one global batch) forward and
 * backward; the gradient is scaled by grad_scale (1 / accumulation steps).
 * *loss gets the loss value; *tokens the tokens processed.
 *
 * Each route's columns (router_mapping; every column without a Router) are
 * tokenized by that route's tokenizer and embedded by its pipeline, which
 * shares the model's parameter slab, so backward accumulates into the one
 * gradient buffer.
 *
 * Cached losses (CachedMultipleNegativesRankingLoss and its symmetric
 * variant) run GradCache: the texts are embedded in chunks of
 * mini_batch_size with no activations kept, the loss and d(embeddings) are
 * computed on all embeddings, then each chunk is embedded again (same
 * dropout masks) and backpropagated with its slice of d(embeddings). Memory
 * then grows with the batch only through the embedding matrices. */
int stc_trainer_micro_step(trainer *t, const train_set *s, const size_t *rows, int n, double grad_scale, uint64_t pass_seed,
                      int train, double *loss, long *tokens)
{
    int rc;
    *loss = 0.0;
    *tokens = 0;
    if (n == 0)
        return 0; /* a rank without rows in a short last batch still joins the all-reduce */
    if (t->debug_rows && train) {
        char fn[4096];
        snprintf(fn, sizeof fn, "%s.%d", t->debug_rows, t->comm->rank);
        FILE *f = fopen(fn, "a");
        for (int i = 0; f && i < n; i++)
            fprintf(f, "%zu%c", rows[i], i + 1 < n ? ' ' : '\n');
        if (f)
            fclose(f);
    }
    const route_group *groups = s->groups;
    int n_groups = s->n_groups;
    double t_data = stc_now_s();
    long invalid = 0, truncated = 0;
    if (s->use_ids) {
        if ((rc = stc_dataset_read_tokens(s->ds, rows, (size_t)n, &t->rows)) ||
            (rc = stc_collate_ids(&t->col[0], s->n_cols, n, t->rows.tok_ids, t->rows.tok_off)))
            return stc_error_prefix(rc, "%s", s->path);
    } else {
        if ((rc = stc_dataset_read_rows(s->ds, rows, (size_t)n, &t->rows)))
            return rc;
        for (int gi = 0; gi < n_groups; gi++) {
            const route_group *g = &groups[gi];
            const char *names[STC_LOSS_MAX_COLUMNS];
            for (int k = 0; k < g->n; k++) {
                names[k] = s->col_names[g->cols[k]];
                for (int i = 0; i < n; i++) {
                    t->gtexts[k * n + i] = t->rows.texts[(size_t)g->cols[k] * n + i];
                    t->glens[k * n + i] = t->rows.text_lens[(size_t)g->cols[k] * n + i];
                }
            }
            if ((rc = stc_collate(&t->col[g->route], s->name, names, g->n, n, t->gtexts, t->glens, &invalid,
                                  &truncated)))
                return rc;
        }
    }
    if (train) /* the step's data share leaves evaluation out */
        t->data_s += stc_now_s() - t_data;
    const stc_ops *ops = stc_ops_cpu();
    int D = t->model.dim, n_texts = s->n_cols * n;
    int cached = stc_loss_spec_is_cached(&s->loss);
    float *E = t->emb_all;
    for (int gi = 0; gi < n_groups; gi++) {
        const route_group *g = &groups[gi];
        const stc_st_model *view = stc_st_model_route(&t->model, g->route);
        stc_st_train_acts *acts = &t->acts[g->route];
        const stc_token_batch *full = &t->col[g->route].batch;
        /* Chunks of texts: the group at once, or mini_batch_size texts. */
        int m = full->B, chunk = cached ? t->chunk_texts : m;
        for (int a = 0, k = 0; a < m; a += chunk, k++) {
            int b = a + chunk < m ? a + chunk : m;
            stc_token_batch v = cached ? sub_batch(full, a, b, t->cu_chunk) : *full;
            /* Evaluation runs without dropout (Python's model.eval()). */
            stc_st_train_forward(view, ops, acts, &v, train ? group_dropout(pass_seed, gi, k) : (stc_bert_dropout){0});
            group_copy(g, n, D, a, b, E, acts->emb, 0);
        }
        *tokens += full->T;
    }
    /* GISTEmbedLoss: the guide embeds the same tokens (no dropout, no
     * gradient), in the same chunks; a model with a guide has one route. */
    stc_loss_guide guide = {0};
    if (s->guide) {
        const stc_token_batch *full = &t->col[0].batch;
        int Dg = s->guide->dim, m = full->B, chunk = cached ? t->chunk_texts : m;
        for (int a = 0; a < m; a += chunk) {
            int b = a + chunk < m ? a + chunk : m;
            stc_token_batch v = cached ? sub_batch(full, a, b, t->cu_chunk) : *full;
            stc_st_train_forward(s->guide, ops, s->guide_acts, &v, (stc_bert_dropout){0});
            memcpy(t->guide_emb + (size_t)a * Dg, s->guide_acts->emb, sizeof(float) * (size_t)(b - a) * Dg);
        }
        guide = (stc_loss_guide){t->guide_emb, t->guide_emb + (size_t)n * Dg, Dg};
    }

    const float *cols[STC_LOSS_MAX_COLUMNS];
    float *dcols[STC_LOSS_MAX_COLUMNS];
    for (int c = 0; c < s->n_cols; c++) {
        cols[c] = E + (size_t)c * n * D;
        dcols[c] = t->demb + (size_t)c * n * D;
    }
    stc_loss_labels labels = {0};
    if (t->rows.labels) {
        labels.values = t->rows.labels;
        labels.ndim = t->rows.label_dim == 1 ? 1 : 2;
        labels.cols = 1;
        labels.width = t->rows.label_dim;
    }
    stc_loss_result res;
    stc_loss_spec spec = s->loss;
    if (s->guide)
        spec.guide = &guide;
    /* The eval loss is each rank's own batch's (see eval_loss). */
    int gather = spec.gather_across_devices && t->comm->world > 1 && train;
    if (gather && (spec.type == STC_LOSS_COSENT || spec.type == STC_LOSS_ANGLE))
        spec.ranks = &t->loss_ranks; /* one loss over every rank's pairs (losses.h) */
    if (gather && stc_loss_is_inbatch(spec.type))
        rc = gathered_loss(t, &spec, E, n, s->n_cols, D, &res);
    else
        rc = stc_loss_compute(&spec, cols, s->n_cols, n, D, labels.values ? &labels : NULL, &res, dcols);
    if (rc)
        return stc_error_prefix(rc, "%s", s->path);
    *loss = res.value;
    if (!train)
        return 0;
    for (int i = 0; i < res.n_components; i++) {
        int k = 0;
        while (k < t->n_comp && strcmp(t->comp_names[k], res.components[i].name) != 0)
            k++;
        if (k == t->n_comp && t->n_comp < STC_LOSS_MAX_COMPONENTS) {
            snprintf(t->comp_names[k], sizeof t->comp_names[k], "%s", res.components[i].name);
            t->n_comp++;
        }
        if (k < t->n_comp)
            t->comp_step[k] += res.components[i].value * grad_scale;
    }
    if (!isfinite(res.value))
        return 0; /* the caller skips this step; no backward of a NaN */
    size_t nd = (size_t)n_texts * D;
    for (size_t i = 0; i < nd; i++)
        t->demb[i] *= (float)grad_scale;
    for (int gi = 0; gi < n_groups; gi++) {
        const route_group *g = &groups[gi];
        const stc_st_model *view = stc_st_model_route(&t->model, g->route);
        stc_st_train_acts *acts = &t->acts[g->route];
        const stc_token_batch *full = &t->col[g->route].batch;
        int m = full->B;
        if (!cached) {
            /* The forward above left this group's activations in place. */
            group_copy(g, n, D, 0, m, t->demb, t->demb_group, 1);
            stc_st_train_backward(view, ops, acts, full, t->demb_group, t->grads, group_dropout(pass_seed, gi, 0));
            continue;
        }
        for (int a = 0, k = 0; a < m; a += t->chunk_texts, k++) {
            int b = a + t->chunk_texts < m ? a + t->chunk_texts : m;
            stc_token_batch v = sub_batch(full, a, b, t->cu_chunk);
            stc_bert_dropout d = group_dropout(pass_seed, gi, k);
            stc_st_train_forward(view, ops, acts, &v, d);
            group_copy(g, n, D, a, b, t->demb, t->demb_group, 1);
            stc_st_train_backward(view, ops, acts, &v, t->demb_group, t->grads, d);
        }
    }
    return 0;
}

/* Set by SIGTERM; read at each optimizer step (see the loop). */
static volatile sig_atomic_t sigterm_seen;

static void on_sigterm(int sig)
{
    (void)sig;
    sigterm_seen = 1;
}

/* Whether save_strategy asks for a checkpoint after this step (Python's
 * DefaultFlowCallback; "steps" saves at the last step too). */
static int save_due(const trainer *t, int64_t step, int last_in_epoch)
{
    const stc_training_args *a = t->a;
    if (!strcmp(a->save_strategy, "steps")) {
        return stc_trainer_every(a->save_steps, step, t->total) || step == t->total;
    }
    if (!strcmp(a->save_strategy, "epoch"))
        return last_in_epoch;
    if (!strcmp(a->save_strategy, "best"))
        return t->has_best && t->best_step == step;
    return 0;
}

/* Rank 0: output_dir/loss.png from the log history; a failed plot costs a
 * warning, not the run. */
static void write_plot(trainer *t)
{
    char *png = stc_path_join(t->a->output_dir, "loss.png");
    if (png && stc_loss_plot_write(t->history, png) != 0)
        fprintf(stderr, "stc train: warning: %s\n", stc_error_message());
    free(png);
    t->plot_t = stc_now_s();
}

/* Rank 0: one line of log.jsonl (NaN becomes null), with "stc train:
 * <echo>" on stderr when echo is set, kept (o is taken) for
 * trainer_state.json's log_history. */
void stc_trainer_record_line(trainer *t, cJSON *o, const char *echo)
{
    char *line = stc_json_print_exact(o, 0);
    if (line && t->log) {
        fprintf(t->log, "%s\n", line);
        fflush(t->log);
    }
    if (echo)
        fprintf(stderr, "%sstc train: %s\n", t->tty ? "\n" : "", echo);
    free(line);
    if (!t->history)
        t->history = cJSON_CreateArray();
    if (t->history)
        cJSON_AddItemToArray(t->history, o);
    else
        cJSON_Delete(o);
    /* The loss curve beside the log: redrawn with each evaluation and at
     * most every 30 s otherwise (drawing costs the length of the history),
     * and at the end (save_final). */
    if (echo || stc_now_s() - t->plot_t >= 30.0)
        write_plot(t);
}

static void log_line(trainer *t, int64_t step, double epoch, double loss, double grad_norm, double lr_factor,
                     double samples_s, double tokens_s, long skipped)
{
    if (t->comm->rank != 0)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", (double)step);
    cJSON_AddNumberToObject(o, "epoch", epoch);
    /* Unrounded, as transformers 5 logs it (4.x rounded to 4 decimals). */
    cJSON_AddNumberToObject(o, "loss", loss);
    for (int k = 0; k < t->n_comp; k++) {
        char key[64];
        snprintf(key, sizeof key, "loss_%s", t->comp_names[k]);
        cJSON_AddNumberToObject(o, key, t->comp_log[k] / (double)(step - t->last_log_step));
    }
    cJSON_AddNumberToObject(o, "grad_norm", grad_norm);
    cJSON_AddNumberToObject(o, "learning_rate", stc_adamw_group_lr(&t->opt, 0, lr_factor));
    cJSON *lrs = cJSON_AddArrayToObject(o, "learning_rates");
    for (int g = 0; g < t->pg.n_groups; g++)
        cJSON_AddItemToArray(lrs, cJSON_CreateNumber(stc_adamw_group_lr(&t->opt, g, lr_factor)));
    cJSON_AddNumberToObject(o, "samples_per_second", round(samples_s * 1000) / 1000);
    cJSON_AddNumberToObject(o, "tokens_per_second", round(tokens_s * 10) / 10);
    cJSON_AddNumberToObject(o, "skipped_steps", (double)skipped);
    cJSON_AddNumberToObject(o, "data_share", t->log_dt > 0 ? round(t->data_s / t->log_dt * 1e4) / 1e4 : 0.0);
    stc_trainer_record_line(t, o, NULL);
}

static void show_progress(trainer *t, int64_t step, int64_t total, double loss, double lr)
{
    if (!t->tty || t->comm->rank != 0)
        return;
    double dt = stc_now_s() - t->t0;
    double eta = step > 0 ? dt / (double)step * (double)(total - step) : 0.0;
    fprintf(stderr, "\rtrain: step %lld/%lld (%.0f%%) | loss %.4f | lr %.3g | %.0fs elapsed, %.0fs left   ",
            (long long)step, (long long)total, 100.0 * (double)step / (double)total, loss, lr, dt, eta);
}

static void free_sets(train_set *sets, int n)
{
    for (int i = 0; sets && i < n; i++) { /* sets is NULL after an early config error */
        free(sets[i].name);
        free(sets[i].path);
        free(sets[i].col_names);
        free(sets[i].col_route);
        if (sets[i].ds)
            stc_dataset_close(sets[i].ds);
        if (sets[i].owns_guide) {
            if (sets[i].guide_acts)
                stc_st_train_acts_free(sets[i].guide_acts);
            if (sets[i].guide)
                stc_st_model_free(sets[i].guide);
            free(sets[i].guide_acts);
            free(sets[i].guide);
        }
    }
    free(sets);
}

static void trainer_free(trainer *t)
{
    if (t->log)
        fclose(t->log);
    cJSON_Delete(t->history);
    free(t->best_ckpt);
    if (t->evaluator)
        stc_evaluator_free(t->evaluator);
    free_sets(t->sets, t->n_sets);
    free_sets(t->eval_sets, t->n_eval_sets);
    for (int r = 0; r < t->n_routes; r++) {
        if (t->col)
            stc_collator_free(&t->col[r]);
        if (t->acts)
            stc_st_train_acts_free(&t->acts[r]);
    }
    free(t->col);
    free(t->acts);
    free(t->demb_group);
    free(t->gtexts);
    free(t->glens);
    stc_adamw_free(&t->opt);
    stc_dp_step_free(&t->dp);
    stc_param_groups_free(&t->pg);
    stc_rows_free(&t->rows);
    stc_epoch_plan_free(&t->plan);
    for (int i = 0; t->eval_plans && i < t->n_eval_sets; i++)
        stc_epoch_plan_free(&t->eval_plans[i]);
    free(t->eval_plans);
    stc_sampler_inputs_free(&t->sin);
    if (t->sampler)
        stc_sampler_free(t->sampler);
    free(t->grads);
    free(t->has_grad);
    free(t->demb);
    free(t->emb_all);
    free(t->guide_emb);
    free(t->cu_chunk);
    free(t->row_ids);
    if (t->model_loaded)
        stc_st_model_free(&t->model);
}

/* Writes the final model and the resolved config (rank 0). */
static int save_final(trainer *t)
{
    if (t->comm->rank != 0)
        return 0;
    write_plot(t);
    int rc = stc_st_model_save(&t->model, t->a->output_dir);
    if (rc)
        return rc;
    char *json = stc_train_config_dump(t->cfg);
    char *p = stc_path_join(t->a->output_dir, "training_config.json");
    if (!json || !p)
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
    else
        rc = stc_write_file_atomic(p, json, strlen(json));
    free(json);
    free(p);
    return rc;
}

/* One epoch-0 batch plan over sets (data/sampler.h): the sampler, the rows'
 * inputs it needs (text hashes for no_duplicates, labels for
 * group_by_label) and the plan. The caller frees all three. */
static int plan_sets(const stc_sampler_config *sc, const train_set *sets, int n, stc_sampler **smp,
                     stc_sampler_inputs *sin, stc_epoch_plan *plan)
{
    stc_epoch_plan_init(plan);
    int rc = stc_sampler_create(smp, sc);
    if (rc)
        return rc;
    stc_dataset **dss = stc_calloc((size_t)n, sizeof *dss, "datasets");
    const char **names = stc_calloc((size_t)n, sizeof *names, "datasets");
    if (!dss || !names) {
        free(dss);
        free(names);
        return STC_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        dss[i] = sets[i].ds;
        names[i] = sets[i].path;
    }
    const char *bs = sc->batch_sampler ? sc->batch_sampler : "";
    rc = stc_sampler_inputs_build(sin, dss, names, n, !strncasecmp(bs, "no_duplicates", 13),
                                  !strcasecmp(bs, "group_by_label"));
    free(dss);
    free(names);
    if (!rc)
        rc = stc_sampler_plan_epoch(*smp, sin->sds, n, 0, plan);
    return rc;
}

int stc_train_run(const stc_train_config *cfg, const stc_comm *comm)
{
    trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = cfg;
    t.a = &cfg->args;
    t.comm = comm;
    t.loss_ranks = (stc_loss_ranks){.world = comm->world, .rank = comm->rank, .allgather_f64 = loss_allgather_f64,
                                    .ctx = (void *)comm};
    const stc_training_args *a = t.a;
    stc_rows_init(&t.rows);
    int rc, term_installed = 0;
    struct sigaction sa_old;
    const cJSON *mj = cJSON_GetObjectItemCaseSensitive(cfg->resolved, "model");
    if (!cJSON_IsString(mj)) {
        rc = stc_errorf(STC_ERR_USAGE, "%s: \"model\" must be a model directory path", cfg->path);
        goto out;
    }
    if (a->bf16 || a->fp16) {
        rc = stc_errorf(STC_ERR_USAGE, "%s: bf16/fp16 need the CUDA backend; CPU ranks train in float32", cfg->path);
        goto out;
    }
    if ((rc = stc_st_model_load(&t.model, mj->valuestring)))
        goto out;
    t.model_loaded = 1;
    if ((rc = load_sets(&t)) || (rc = load_guides(&t)))
        goto out;
    /* The evaluators read their files now: a bad one is an error before
     * any step. */
    const cJSON *evj = cJSON_GetObjectItemCaseSensitive(cfg->resolved, "evaluator");
    if (evj && !cJSON_IsNull(evj) && (rc = stc_evaluator_create(&t.evaluator, evj, cfg->path)))
        goto out;

    /* The batch plan: every rank computes the same global batches
     * (data/sampler.h), then reads only its own slice of each. */
    const char *bs_name, *ms_name;
    const cJSON *bs_params, *ms_params;
    if ((rc = stc_sampler_parse_choice(cJSON_GetObjectItemCaseSensitive(cfg->resolved, "batch_sampler"),
                                       "batch_sampler", &bs_name, &bs_params)) ||
        (rc = stc_sampler_parse_choice(cJSON_GetObjectItemCaseSensitive(cfg->resolved, "multi_dataset_batch_sampler"),
                                       "multi_dataset_batch_sampler", &ms_name, &ms_params)))
        goto out;
    stc_sampler_config sc = {
        .batch_sampler = bs_name,
        .batch_sampler_params = bs_params,
        .multi_dataset_batch_sampler = ms_name,
        .multi_dataset_batch_sampler_params = ms_params,
        .per_device_batch_size = a->per_device_train_batch_size,
        .world_size = comm->world,
        /* Python forces drop_last under DDP (training_args.py). */
        .drop_last = a->dataloader_drop_last || comm->world > 1,
        .seed = (uint64_t)(a->data_seed >= 0 ? a->data_seed : a->seed),
    };
    if ((rc = plan_sets(&sc, t.sets, t.n_sets, &t.sampler, &t.sin, &t.plan)))
        goto out;
    /* Evaluation batches come from the same kind of sampler, over each eval
     * dataset alone, the same batches at every evaluation (Python builds
     * its eval dataloader with the training batch sampler and never moves
     * its epoch). */
    if (t.n_eval_sets) {
        t.eval_plans = stc_calloc((size_t)t.n_eval_sets, sizeof *t.eval_plans, "eval batch plans");
        if (!t.eval_plans) {
            rc = STC_ERR_NOMEM;
            goto out;
        }
        stc_sampler_config esc = sc;
        esc.per_device_batch_size = a->per_device_eval_batch_size;
        esc.drop_last = a->dataloader_drop_last;
        for (int i = 0; i < t.n_eval_sets; i++) {
            stc_sampler *es = NULL;
            stc_sampler_inputs ein = {0};
            rc = plan_sets(&esc, &t.eval_sets[i], 1, &es, &ein, &t.eval_plans[i]);
            if (es)
                stc_sampler_free(es);
            stc_sampler_inputs_free(&ein);
            if (rc)
                goto out;
        }
    }
    int64_t batches_per_epoch = (int64_t)stc_epoch_plan_num_batches(&t.plan);
    int GA = a->gradient_accumulation_steps;
    int64_t steps_per_epoch = batches_per_epoch / GA + (batches_per_epoch % GA > 0);
    if (steps_per_epoch < 1)
        steps_per_epoch = 1;
    if (batches_per_epoch == 0) {
        rc = stc_errorf(STC_ERR_DATA, "%s: the training data gives no batch (%zu rows, global batch %d, drop_last); "
                        "use a smaller per_device_train_batch_size", t.sets[0].path, stc_dataset_num_rows(t.sets[0].ds),
                        a->per_device_train_batch_size * comm->world);
        goto out;
    }
    int64_t total = a->max_steps > 0 ? a->max_steps : (int64_t)ceil(a->num_train_epochs * (double)steps_per_epoch);
    if (total < 1) {
        rc = stc_errorf(STC_ERR_USAGE, "%s: num_train_epochs %g gives no training step", cfg->path, a->num_train_epochs);
        goto out;
    }

    int B = a->per_device_train_batch_size;
    /* Buffers hold the larger of a training and an evaluation batch. */
    int B_alloc = t.n_eval_sets && a->per_device_eval_batch_size > B ? a->per_device_eval_batch_size : B;
    int max_texts = B_alloc * t.max_cols;
    /* Activations for the largest forward: the whole batch, or only a
     * GradCache chunk when every dataset's loss is a cached one. */
    int all_cached = 1, chunk = 0;
    for (int i = 0; i < t.n_sets + t.n_eval_sets; i++) {
        const train_set *st = set_at(&t, i);
        if (!stc_loss_spec_is_cached(&st->loss))
            all_cached = 0;
        else if (st->loss.mini_batch_size > chunk)
            chunk = st->loss.mini_batch_size;
    }
    t.chunk_texts = chunk > 0 ? (chunk < max_texts ? chunk : max_texts) : max_texts;
    int act_texts = all_cached ? t.chunk_texts : max_texts;
    /* One collator (tokenizer, max_seq_length) and one set of activations
     * per route of the model. */
    t.n_routes = stc_st_model_n_routes(&t.model);
    t.col = stc_calloc((size_t)t.n_routes, sizeof *t.col, "collators");
    t.acts = stc_calloc((size_t)t.n_routes, sizeof *t.acts, "activations");
    if (!t.col || !t.acts) {
        rc = STC_ERR_NOMEM;
        goto out;
    }
    for (int r = 0; r < t.n_routes; r++) {
        const stc_st_model *view = stc_st_model_route(&t.model, r);
        int ml = view->max_seq_length; /* the model's own (max_len) without a Router */
        if ((rc = stc_collator_init(&t.col[r], view, a->prompts, t.multi, ml, max_texts)) ||
            (rc = stc_st_train_acts_alloc(&t.acts[r], view, act_texts, act_texts * ml, ml)))
            goto out;
    }
    /* What each set's micro-batches do the same way every step. */
    for (int i = 0; i < t.n_sets + t.n_eval_sets; i++) {
        train_set *st = set_at(&t, i);
        route_groups(&t, st);
        if ((rc = set_uses_ids(&t, st, &st->use_ids)))
            goto out;
    }
    /* The guides' activations: as many texts as the model's forward. */
    for (int i = 0; i < t.n_sets + t.n_eval_sets; i++) {
        train_set *st = set_at(&t, i);
        int ml = t.model.max_seq_length;
        if (st->owns_guide && (rc = stc_st_train_acts_alloc(st->guide_acts, st->guide, act_texts, act_texts * ml, ml)))
            goto out;
    }
    if (t.guide_dim_max &&
        !(t.guide_emb = stc_malloc(sizeof(float) * (size_t)max_texts * t.guide_dim_max, "guide embeddings"))) {
        rc = STC_ERR_NOMEM;
        goto out;
    }
    t.demb_group = stc_malloc(sizeof(float) * (size_t)max_texts * t.model.dim, "embedding gradients");
    t.gtexts = stc_malloc(sizeof(char *) * (size_t)max_texts, "texts");
    t.glens = stc_malloc(sizeof(size_t) * (size_t)max_texts, "text lengths");
    if (!t.demb_group || !t.gtexts || !t.glens) {
        rc = STC_ERR_NOMEM;
        goto out;
    }
    t.grads = stc_calloc(t.model.params.total, sizeof(float), "gradients");
    t.has_grad = stc_calloc((size_t)t.model.params.n, 1, "gradient flags");
    t.demb = stc_malloc(sizeof(float) * (size_t)max_texts * t.model.dim, "embedding gradients");
    t.emb_all = stc_malloc(sizeof(float) * (size_t)max_texts * t.model.dim, "embeddings");
    t.cu_chunk = stc_malloc(sizeof(int) * (size_t)(t.chunk_texts + 1), "chunk offsets");
    t.row_ids = stc_malloc(sizeof(size_t) * (size_t)B_alloc, "row ids");
    if (!t.grads || !t.has_grad || !t.demb || !t.emb_all || !t.cu_chunk || !t.row_ids) {
        rc = STC_ERR_NOMEM;
        goto out;
    }
    /* BERT's pooler never gets a gradient under Sentence Transformers:
     * torch skips it (no update, no decay). */
    for (int i = 0; i < t.model.params.n; i++)
        t.has_grad[i] = strstr(t.model.params.params[i].name, ".pooler.") == NULL;
    if ((rc = setup_optimizer(&t, total)))
        goto out;
    /* A collective that waits longer than ddp_timeout means a peer died or
     * hangs: the watchdog ends the job instead of hanging (dist/comm.h). */
    if (comm->world > 1) {
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(cfg->resolved, "ddp_timeout");
        if ((rc = stc_comm_set_timeout(comm, cJSON_IsNumber(to) ? to->valuedouble : 1800.0)))
            goto out;
    }
    /* Every rank starts from rank 0's weights. */
    if (comm->world > 1 &&
        (rc = stc_comm_broadcast(comm, t.model.params.slab, sizeof(float) * t.model.params.total, 0)))
        goto out;

    t.total = total;
    t.steps_per_epoch = steps_per_epoch;
    /* A checkpoint to continue from (resume_from_checkpoint): weights,
     * optimizer shard, position, log history (train_state.c). */
    {
        char *rdir = NULL;
        if (comm->rank == 0 && (rc = stc_ckpt_clean_stale(a->output_dir)))
            goto out;
        if ((rc = stc_trainer_resume_dir(&t, &rdir)))
            goto out;
        if (rdir) {
            rc = stc_trainer_resume(&t, rdir);
            free(rdir);
            if (rc)
                goto out;
        }
    }

    if (comm->rank == 0) {
        if ((rc = stc_mkdir_p(a->output_dir)))
            goto out;
        char *lp = stc_path_join(a->output_dir, "log.jsonl");
        t.log = lp ? fopen(lp, "w") : NULL;
        if (!t.log) {
            rc = stc_errorf(STC_ERR_IO, "%s: cannot open for writing", lp ? lp : "log.jsonl");
            free(lp);
            goto out;
        }
        free(lp);
        /* A resumed run's log starts with the history it continues. */
        const cJSON *h;
        cJSON_ArrayForEach(h, t.history)
        {
            char *line = stc_json_print_exact(h, 0);
            if (line)
                fprintf(t.log, "%s\n", line);
            free(line);
        }
        fflush(t.log);
        t.tty = isatty(2);
        fprintf(stderr, "stc train: %lld steps (%lld per epoch), %d rank(s) x batch %d, %d parameter groups\n",
                (long long)total, (long long)steps_per_epoch, comm->world, B, t.pg.n_groups);
        if (t.pos.step > 0)
            fprintf(stderr, "stc train: resuming at step %lld (epoch %d, batch %lld)\n", (long long)t.pos.step,
                    t.pos.epoch, (long long)t.pos.next_batch);
    }

    /* SIGTERM (preemption): every rank learns of it at the next step's
     * reduction, checkpoints there and exits 0 (RELIABILITY.md). */
    sigterm_seen = 0;
    struct sigaction sa_term = {.sa_handler = on_sigterm};
    sigemptyset(&sa_term.sa_mask);
    sigaction(SIGTERM, &sa_term, &sa_old);
    term_installed = 1;
    t.profile = getenv("STC_PROFILE") != NULL;
    t.debug_rows = getenv("STC_DEBUG_ROWS");
    /* Fault injection for the tests of a lost rank (SIGKILL) and of
     * preemption (SIGTERM): STC_FAULT_KILL_AFTER_STEPS=k and
     * STC_FAULT_SIGTERM_AFTER_STEPS=k make the last rank raise the signal
     * after k optimizer steps. */
    const char *fk = getenv("STC_FAULT_KILL_AFTER_STEPS"), *ft = getenv("STC_FAULT_SIGTERM_AFTER_STEPS");
    t.fault_kill_after = fk ? atol(fk) : 0;
    t.fault_term_after = ft ? atol(ft) : 0;
    t.t0 = stc_now_s();
    train_pos *pos = &t.pos;
    double step_loss = 0.0, last_norm = 0.0;
    long samples_since_log = 0, tokens_since_log = 0;
    double log_t0 = stc_now_s();
    int micro = 0, preempted = 0;
    int64_t step0 = pos->step;
    if (a->eval_on_start && pos->step == 0 && (rc = stc_trainer_evaluate(&t, 0, 0.0)))
        goto out;
    for (int epoch = pos->epoch; pos->step < total && !preempted; epoch++) {
        if ((epoch > 0 || pos->epoch > 0) &&
            (rc = stc_sampler_plan_epoch(t.sampler, t.sin.sds, t.n_sets, epoch, &t.plan)))
            goto out;
        size_t n_batches = stc_epoch_plan_num_batches(&t.plan);
        /* A resumed epoch continues where the checkpoint left it (Python's
         * data skip), unless ignore_data_skip. */
        size_t first = epoch == pos->epoch && !a->ignore_data_skip ? (size_t)pos->next_batch : 0;
        for (size_t bi = first; bi < n_batches && pos->step < total && !preempted; bi++) {
            const int64_t *grow;
            size_t gn;
            int dsi;
            if ((rc = stc_epoch_plan_rank_rows(&t.plan, bi, comm->rank, &grow, &gn, &dsi)))
                goto out;
            const train_set *s = &t.sets[dsi];
            int n = (int)gn;
            for (int i = 0; i < n; i++)
                t.row_ids[i] = (size_t)grow[i];
            double loss;
            long tokens;
            uint64_t pass = stc_dropout_site_seed((uint64_t)a->seed, comm->rank, (uint64_t)(pos->step * GA + micro), 0);
            double tc = stc_now_s();
            if ((rc = stc_trainer_micro_step(&t, s, t.row_ids, n, 1.0 / GA, pass, 1, &loss, &tokens)))
                goto out;
            t.t_compute += stc_now_s() - tc;
            step_loss += loss / GA;
            samples_since_log += n;
            tokens_since_log += tokens;
            micro++;
            int last_in_epoch = bi + 1 == n_batches;
            if (micro < GA && !last_in_epoch)
                continue;
            micro = 0;
            /* The optimizer step: average across ranks, clip, update
             * (dp_step.h). The loss components go with the loss, every
             * slot on every rank, so the reduction has one size; the last
             * slot says whether any rank got SIGTERM. */
            enum { N_SC = 2 + STC_LOSS_MAX_COMPONENTS };
            double sc[N_SC];
            sc[0] = step_loss;
            int local_bad = !isfinite(step_loss);
            for (int k = 0; k < STC_LOSS_MAX_COMPONENTS; k++)
                sc[1 + k] = t.comp_step[k];
            sc[N_SC - 1] = sigterm_seen ? 1.0 : 0.0;
            double factor = stc_scheduler_lambda(&t.sched, pos->step), norm = 0.0;
            int updated;
            if ((rc = stc_dp_step_run(&t.dp, &t.opt, &t.model.params, t.grads, t.has_grad, sc, N_SC,
                                      a->max_grad_norm, factor, &norm, &updated)))
                goto out;
            preempted = sc[N_SC - 1] > 0.0;
            if (!updated) {
                pos->skipped++;
                /* Each rank whose own loss was not finite names its rows
                 * (of the step's last micro-batch). */
                if (local_bad) {
                    char rows[256];
                    size_t m = 0;
                    for (int i = 0; i < n && i < 16 && m < sizeof rows; i++)
                        m += (size_t)snprintf(rows + m, sizeof rows - m, "%s%zu", i ? " " : "", t.row_ids[i]);
                    fprintf(stderr, "\nstc train: rank %d: step %lld: non-finite loss on rows %s%s of %s\n", comm->rank,
                            (long long)pos->step + 1, rows, n > 16 ? " ..." : "", s->path);
                }
                if (++pos->bad_in_row >= MAX_BAD_STEPS) {
                    rc = stc_errorf(STC_ERR_NUMERIC, "training stopped: %d optimizer steps in a row (up to step %lld, "
                                    "epoch %d) had a non-finite loss or gradient; lower learning_rate or check the data",
                                    MAX_BAD_STEPS, (long long)pos->step + 1, epoch);
                    goto out;
                }
                if (comm->rank == 0)
                    fprintf(stderr, "\nstc train: step %lld skipped: loss %g, grad_norm %g\n", (long long)pos->step + 1,
                            sc[0], norm);
            } else {
                pos->bad_in_row = 0;
                pos->loss_since_log += sc[0];
                for (int k = 0; k < t.n_comp; k++)
                    t.comp_log[k] += sc[1 + k];
                last_norm = norm;
            }
            double tz = stc_now_s();
            memset(t.grads, 0, sizeof(float) * t.model.params.total);
            t.t_zero += stc_now_s() - tz;
            int64_t step = ++pos->step;
            pos->epoch = last_in_epoch ? epoch + 1 : epoch;
            pos->next_batch = last_in_epoch ? 0 : (int64_t)bi + 1;
            stc_comm_set_step(step);
            if (comm->rank == comm->world - 1 && step == t.fault_kill_after)
                raise(SIGKILL);
            if (comm->rank == comm->world - 1 && step == t.fault_term_after)
                raise(SIGTERM); /* every rank sees it at the next step */
            step_loss = 0.0;
            for (int k = 0; k < t.n_comp; k++)
                t.comp_step[k] = 0.0;
            double epoch_f = epoch + (double)(bi + 1) / (double)n_batches;
            show_progress(&t, step, total, sc[0], stc_adamw_group_lr(&t.opt, 0, factor));
            int log_now = (!strcmp(a->logging_strategy, "steps") && stc_trainer_every(a->logging_steps, step, total)) ||
                          (a->logging_first_step && step == 1) || step == total ||
                          (!strcmp(a->logging_strategy, "epoch") && last_in_epoch);
            if (log_now && strcmp(a->logging_strategy, "no") != 0) {
                double dt = stc_now_s() - log_t0;
                long tot[2] = {samples_since_log, tokens_since_log};
                double fl[2] = {(double)tot[0], (double)tot[1]};
                if (comm->world > 1 && (rc = stc_comm_allreduce_sum_f64(comm, fl, 2)))
                    goto out;
                int64_t nsteps = step - t.last_log_step;
                t.log_dt = dt;
                log_line(&t, step, epoch_f, pos->loss_since_log / (double)nsteps, last_norm, factor,
                         dt > 0 ? fl[0] / dt : 0.0, dt > 0 ? fl[1] / dt : 0.0, pos->skipped);
                pos->loss_since_log = 0.0;
                t.last_log_step = step;
                for (int k = 0; k < t.n_comp; k++)
                    t.comp_log[k] = 0.0;
                samples_since_log = tokens_since_log = 0;
                t.data_s = 0.0;
                log_t0 = stc_now_s();
            }
            /* Python's order within a step: log, evaluate (and track the
             * best metric), save. */
            if (stc_trainer_eval_due(&t, step, last_in_epoch) && (rc = stc_trainer_evaluate(&t, step, epoch_f)))
                goto out;
            if (save_due(&t, step, last_in_epoch) || preempted) {
                if ((rc = stc_trainer_save_checkpoint(&t)))
                    goto out;
            }
        }
    }
    if (t.tty && comm->rank == 0)
        fputc('\n', stderr);
    if (t.profile && pos->step > step0) {
        double ms = 1000.0 / (double)(pos->step - step0), all = stc_now_s() - t.t0;
        fprintf(stderr, "stc train: profile (rank %d, ms per step over %lld steps): total %.1f = forward+backward %.1f, "
                "reduce %.1f, update %.1f, gather %.1f, zero %.1f, other %.1f\n", comm->rank,
                (long long)(pos->step - step0), all * ms, t.t_compute * ms, t.dp.t_reduce * ms, t.dp.t_update * ms,
                t.dp.t_gather * ms, t.t_zero * ms,
                (all - t.t_compute - t.dp.t_reduce - t.dp.t_update - t.dp.t_gather - t.t_zero) * ms);
    }
    if (preempted) {
        if (comm->rank == 0)
            fprintf(stderr, "stc train: SIGTERM: checkpoint-%lld written in %s; continue with "
                    "--resume_from_checkpoint true\n", (long long)pos->step, a->output_dir);
        goto out;
    }
    /* load_best_model_at_end: the final model is the best checkpoint's;
     * with save_total_limit 1 only that checkpoint stays (Python). */
    if (a->load_best_model_at_end && t.best_ckpt) {
        if (comm->rank == 0)
            fprintf(stderr, "stc train: loading the best model from %s (%s %g at step %lld)\n", t.best_ckpt,
                    a->metric_for_best_model, t.best_metric, (long long)t.best_step);
        if ((rc = stc_st_model_load_weights(&t.model, t.best_ckpt)))
            goto out;
    }
    if (comm->rank == 0 && t.best_ckpt && a->save_total_limit == 1 && (rc = stc_ckpt_keep_only(a->output_dir, t.best_ckpt)))
        goto out;
    rc = save_final(&t);
    if (!rc && comm->rank == 0)
        fprintf(stderr, "stc train: done in %.1f s; model saved to %s\n", stc_now_s() - t.t0, a->output_dir);
out:
    if (term_installed)
        sigaction(SIGTERM, &sa_old, NULL);
    trainer_free(&t);
    return rc;
}
