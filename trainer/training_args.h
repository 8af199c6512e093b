/*
 * The training config: one JSON file that reads like the Python it
 * replaces (DESIGN.md, "The training config"): the trainer's constructor
 * arguments (model, train_dataset, eval_dataset, loss, evaluator) plus every
 * SentenceTransformerTrainingArguments field at the top level under its
 * Python name, with the same defaults. `--key value` on the command line
 * overrides any top-level key (the value is JSON, or a plain string).
 *
 * Every key is checked before any work starts: an unknown key, a wrong type
 * or an out-of-range value is an error naming the key. Fields that only
 * matter to Python's machinery (report_to, dataloader_num_workers, ...) are
 * accepted and ignored; fields naming features stc does not have
 * (deepspeed, torch_compile, push_to_hub, ...) are accepted only at their
 * default values.
 */
#ifndef STC_TRAINER_TRAINING_ARGS_H
#define STC_TRAINER_TRAINING_ARGS_H

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The fields stc's trainer acts on, resolved (defaults applied). */
typedef struct {
    const char *output_dir;
    int per_device_train_batch_size;
    int per_device_eval_batch_size;
    double num_train_epochs;
    int max_steps;                   /* -1: from num_train_epochs */
    double learning_rate;
    const cJSON *learning_rate_mapping; /* object pattern -> lr, insertion order; never NULL */
    const char *lr_scheduler_type;   /* linear, cosine, cosine_with_restarts, polynomial, constant, constant_with_warmup */
    const cJSON *lr_scheduler_kwargs; /* object or NULL */
    double warmup_steps;             /* >= 1: steps; < 1: ratio of total steps (transformers v5) */
    double weight_decay;
    double adam_beta1, adam_beta2, adam_epsilon;
    double max_grad_norm;            /* <= 0: no clipping */
    int gradient_accumulation_steps;
    const char *logging_strategy;    /* no, steps, epoch */
    double logging_steps;            /* < 1: ratio of total steps */
    int logging_first_step;
    const char *eval_strategy;       /* no, steps, epoch */
    double eval_steps;               /* 0: same as logging_steps */
    int eval_on_start;               /* evaluate once before the first step */
    const char *save_strategy;       /* no, steps, epoch, best */
    double save_steps;
    int save_total_limit;            /* 0: keep all */
    int save_only_model;
    int load_best_model_at_end;
    const char *metric_for_best_model; /* NULL: none */
    int greater_is_better;           /* -1: from the metric's name */
    int seed;
    int data_seed;                   /* -1: seed */
    int dataloader_drop_last;
    const cJSON *resume_from_checkpoint; /* string path, true, or NULL */
    int ignore_data_skip;
    const char *batch_sampler;       /* batch_sampler, no_duplicates, group_by_label, or a registered custom name;
                                        NULL when given as {"type": name, params...} (data/sampler.h) */
    const char *multi_dataset_batch_sampler; /* proportional, round_robin, or a custom name (likewise) */
    const cJSON *prompts;            /* string, object, or NULL */
    const cJSON *router_mapping;     /* object (may be empty) */
    int bf16, fp16;
    int skip_bad_rows;               /* stc's own: skip malformed dataset rows (counted) */
} stc_training_args;

typedef struct {
    cJSON *resolved;                 /* the whole config with defaults filled in; owned */
    char *path;                      /* the config file, for messages */
    stc_training_args args;          /* views into resolved */
} stc_train_config;

/* Loads path, applies overrides (argv-style "--key value" pairs, may be
 * NULL/0), fills defaults and validates everything. */
int stc_train_config_load(stc_train_config *cfg, const char *path, int n_overrides, char **overrides);
void stc_train_config_free(stc_train_config *cfg);

/* The resolved config as indented JSON (saved beside the trained model).
 * Caller frees. */
char *stc_train_config_dump(const stc_train_config *cfg);

#ifdef __cplusplus
}
#endif

#endif
