/*
 * The trainer's state, shared by the training loop (train.c) and its
 * checkpoints (train_state.c). Private to trainer/.
 */
#ifndef STC_TRAINER_TRAIN_INTERNAL_H
#define STC_TRAINER_TRAIN_INTERNAL_H

#include "data/dataset.h"
#include "data/sampler.h"
#include "model/st_model.h"
#include "model/st_train.h"
#include "trainer/collate.h"
#include "trainer/dp_step.h"
#include "trainer/losses.h"
#include "trainer/optimizer.h"
#include "trainer/param_groups.h"
#include "trainer/sampler_inputs.h"
#include "trainer/scheduler.h"
#include "trainer/training_args.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

/* The loop's position and its sums since the last log line. A checkpoint
 * taken after optimizer step `step` resumes at batch next_batch of epoch
 * `epoch`. */
typedef struct {
    int64_t step;         /* optimizer steps done */
    int epoch;            /* epoch of the next batch */
    int64_t next_batch;   /* index of the next batch in that epoch's plan */
    int64_t bad_in_row;   /* non-finite steps in a row */
    int64_t skipped;      /* non-finite steps in all */
    double loss_since_log; /* sum of step losses since the last log line */
} train_pos;

/* The columns of a set that one route embeds (router_mapping), in column
 * order; a model without a Router has one group of every column. */
typedef struct {
    int route;
    int n;                               /* columns */
    int cols[STC_LOSS_MAX_COLUMNS];
} route_group;

/* One training dataset with its loss. */
typedef struct {
    char *name;           /* the config's key; "" for a single dataset */
    char *path;
    stc_dataset *ds;
    stc_loss_spec loss;
    int n_cols;           /* text columns */
    const char **col_names;
    int *col_route;       /* (n_cols) the model route of each column (router_mapping; 0 without a Router) */
    route_group groups[STC_LOSS_MAX_COLUMNS]; /* the columns by route, routes in order */
    int n_groups;
    int use_ids;          /* read token ids (a prepared file, one route, no prompt), not texts */
    /* GISTEmbedLoss / CachedGISTEmbedLoss: the guide model (loss.guide_path),
     * run without dropout on the model's token batch, and its activations;
     * owned by the first set that names the path, borrowed by the others. */
    stc_st_model *guide;
    stc_st_train_acts *guide_acts;
    int owns_guide;
} train_set;

typedef struct {
    const stc_train_config *cfg;
    const stc_training_args *a;
    const stc_comm *comm;
    stc_st_model model;
    int model_loaded;
    train_set *sets;
    int n_sets;
    int multi;            /* train_dataset is a {name: path} object */
    train_set *eval_sets; /* eval_dataset's (the eval loss), or NULL */
    int n_eval_sets;
    int eval_multi;       /* eval_dataset is a {name: path} object */
    stc_epoch_plan *eval_plans; /* (n_eval_sets) each eval set's batches, the same at every evaluation */
    struct stc_evaluator *evaluator; /* the config's "evaluator", or NULL */
    int max_cols;
    int n_routes;         /* the model's routes (1 without a Router) */
    stc_collator *col;    /* (n_routes) each route's tokenizer and max_seq_length */
    stc_st_train_acts *acts; /* (n_routes) activations of each route's forward */
    float *demb_group;    /* (max_cols * B, dim) one route's slice of d(embeddings) */
    const char **gtexts;  /* (max_cols * B) one route's texts */
    size_t *glens;
    float *grads;         /* like model.params.slab */
    unsigned char *has_grad; /* (params.n) */
    stc_param_groups pg;
    stc_adamw opt;        /* over this rank's block of the slab (dp_step.h) */
    stc_dp_step dp;       /* the optimizer step across ranks: this rank's block, buffers, timings */
    stc_scheduler sched;
    stc_rows rows;
    float *demb;          /* (max_cols * B, dim) */
    float *emb_all;       /* (max_cols * B, dim) GradCache's embeddings of the whole batch */
    float *guide_emb;     /* (max_cols * B, max guide dim) the GIST guide's embeddings of the batch */
    int guide_dim_max;    /* widest guide embedding (0: no GIST loss) */
    int chunk_texts;      /* GradCache chunk (mini_batch_size texts) */
    int *cu_chunk;        /* (chunk_texts + 1) offsets of a chunk's view */
    size_t *row_ids;      /* (B) this rank's rows of the current batch */
    stc_sampler *sampler;
    stc_sampler_inputs sin;
    stc_epoch_plan plan;  /* this epoch's global batches */
    stc_loss_ranks loss_ranks; /* the ranks' score exchange for CoSENT / AnglE (losses.h) */
    /* Named loss components (losses that return a dict in Python): their
     * sums since the last log line, logged as "loss_<name>". */
    int64_t last_log_step;
    int n_comp;
    char comp_names[STC_LOSS_MAX_COMPONENTS][48];
    double comp_step[STC_LOSS_MAX_COMPONENTS], comp_log[STC_LOSS_MAX_COMPONENTS];
    /* Seconds this rank spent reading and collating rows since the last log
     * line, and that interval's length: the data pipeline's share of the
     * step time, logged as data_share. */
    double data_s, log_dt;
    FILE *log;            /* output_dir/log.jsonl (rank 0) */
    int tty;
    double t0;
    /* STC_PROFILE set: each rank prints where its steps' time went
     * (seconds so far in forward/backward and in zeroing the gradients;
     * the optimizer step's phases are in dp). */
    int profile;
    double t_compute, t_zero;
    /* STC_DEBUG_ROWS=PATH (the tests of rank-local negatives): each
     * micro-batch's dataset rows are appended, a line each, to PATH.<rank>. */
    const char *debug_rows;
    /* Fault injection for the tests (read once): the last rank raises
     * SIGKILL / SIGTERM after this many optimizer steps; 0: never. */
    int64_t fault_kill_after, fault_term_after;
    /* Where the loop stands and what it has summed since the last log
     * line: what a checkpoint must hold to continue exactly. */
    train_pos pos;
    int64_t total;        /* optimizer steps of the run */
    int64_t steps_per_epoch;
    cJSON *history;       /* rank 0: every log and eval line so far (trainer_state.json's log_history) */
    double plot_t;        /* when loss.png was last drawn */
    /* Best-model tracking (metric_for_best_model, "eval_" prefixed). */
    int has_best;
    double best_metric;
    int64_t best_step;
    char *best_ckpt;      /* output_dir/checkpoint-<best_step> once saved, else NULL */
} trainer;

/* Python's "every N steps" (logging_steps, eval_steps, save_steps): N
 * itself when >= 1, else that fraction of the run's steps rounded up
 * (transformers). 1 when step falls on it. */
static inline int stc_trainer_every(double n, int64_t step, int64_t total)
{
    int64_t every = n >= 1 ? (int64_t)n : (int64_t)ceil(n * (double)total);
    return every > 0 && step % every == 0;
}

/* One micro-batch of set s's rows (train.c): collate, forward, loss and,
 * when train, backward into the gradients with grad_scale and dropout from
 * pass_seed; without train (evaluation) no dropout, no backward, no
 * gathering across ranks, and no time counted in the data share. */
int stc_trainer_micro_step(trainer *t, const train_set *s, const size_t *rows, int n, double grad_scale,
                           uint64_t pass_seed, int train, double *loss, long *tokens);

/* Rank 0: one line of log.jsonl, echoed as "stc train: <echo>" when echo
 * is set, kept (o is taken) in the log history (train.c). */
void stc_trainer_record_line(trainer *t, cJSON *o, const char *echo);

/* Whether eval_strategy asks for an evaluation after this step, and the
 * evaluation itself (step 0: eval_on_start) (train_eval.c). */
int stc_trainer_eval_due(const trainer *t, int64_t step, int last_in_epoch);
int stc_trainer_evaluate(trainer *t, int64_t step, double epoch_f);

/* Writes checkpoint-<pos.step> (every rank; train_state.c). */
int stc_trainer_save_checkpoint(trainer *t);

/* Continues from the checkpoint folder dir (every rank): weights,
 * optimizer shard, position, sums, log history, best metric. */
int stc_trainer_resume(trainer *t, const char *dir);

/* The folder resume_from_checkpoint names (a path, or true: the newest
 * complete checkpoint in output_dir), malloc'd, or NULL when the config
 * does not resume. Every rank. */
int stc_trainer_resume_dir(const trainer *t, char **dir);

#endif
