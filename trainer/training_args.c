/* The training config: load, override, default, validate (see training_args.h). */
#include "trainer/training_args.h"
#include "util/error.h"
#include "util/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { K_STR, K_INT, K_FLOAT, K_BOOL, K_OBJECT, K_ANY } field_kind;

typedef enum {
    P_USE,          /* stc acts on it */
    P_IGNORE,       /* Python-machinery only; accepted, no effect */
    P_DEFAULT_ONLY  /* a feature stc lacks: only its default is accepted */
} field_policy;

typedef struct {
    const char *name;
    field_kind kind;
    const char *def;     /* default as JSON text */
    int nullable;
    double min, max;     /* numeric range (inclusive), when min < max */
    const char *choices; /* K_STR: "|a|b|c|" or NULL */
    field_policy policy;
} field;

#define INF HUGE_VAL
/* SentenceTransformerTrainingArguments (sentence-transformers 6.x on
 * transformers 5.x), with their Python defaults. */
static const field FIELDS[] = {
    {"output_dir", K_STR, "null", 1, 0, 0, NULL, P_USE},
    {"per_device_train_batch_size", K_INT, "8", 0, 1, 1e9, NULL, P_USE},
    {"per_device_eval_batch_size", K_INT, "8", 0, 1, 1e9, NULL, P_USE},
    {"num_train_epochs", K_FLOAT, "3.0", 0, 0, INF, NULL, P_USE},
    {"max_steps", K_INT, "-1", 0, -1, 2e9, NULL, P_USE},
    {"learning_rate", K_FLOAT, "5e-05", 0, 0, INF, NULL, P_USE},
    {"learning_rate_mapping", K_OBJECT, "{}", 1, 0, 0, NULL, P_USE},
    {"lr_scheduler_type", K_STR, "\"linear\"", 0, 0, 0,
     "|linear|cosine|cosine_with_restarts|polynomial|constant|constant_with_warmup|", P_USE},
    {"lr_scheduler_kwargs", K_OBJECT, "null", 1, 0, 0, NULL, P_USE},
    {"warmup_steps", K_FLOAT, "0", 0, 0, INF, NULL, P_USE},
    {"warmup_ratio", K_FLOAT, "null", 1, 0, 1, NULL, P_USE},
    {"weight_decay", K_FLOAT, "0.0", 0, 0, INF, NULL, P_USE},
    {"adam_beta1", K_FLOAT, "0.9", 0, 0, 0.999999999, NULL, P_USE},
    {"adam_beta2", K_FLOAT, "0.999", 0, 0, 0.999999999, NULL, P_USE},
    {"adam_epsilon", K_FLOAT, "1e-08", 0, 0, INF, NULL, P_USE},
    {"optim", K_STR, "\"adamw_torch_fused\"", 0, 0, 0, "|adamw_torch|adamw_torch_fused|", P_USE},
    {"max_grad_norm", K_FLOAT, "1.0", 0, 0, INF, NULL, P_USE},
    {"gradient_accumulation_steps", K_INT, "1", 0, 1, 1e9, NULL, P_USE},
    {"logging_strategy", K_STR, "\"steps\"", 0, 0, 0, "|no|steps|epoch|", P_USE},
    {"logging_steps", K_FLOAT, "500", 0, 1e-12, INF, NULL, P_USE},
    {"logging_first_step", K_BOOL, "false", 0, 0, 0, NULL, P_USE},
    {"eval_strategy", K_STR, "\"no\"", 0, 0, 0, "|no|steps|epoch|", P_USE},
    {"eval_steps", K_FLOAT, "null", 1, 1e-12, INF, NULL, P_USE},
    {"save_strategy", K_STR, "\"steps\"", 0, 0, 0, "|no|steps|epoch|best|", P_USE},
    {"save_steps", K_FLOAT, "500", 0, 1e-12, INF, NULL, P_USE},
    {"save_total_limit", K_INT, "null", 1, -1e9, 1e9, NULL, P_USE},
    {"save_only_model", K_BOOL, "false", 0, 0, 0, NULL, P_USE},
    {"load_best_model_at_end", K_BOOL, "false", 0, 0, 0, NULL, P_USE},
    {"metric_for_best_model", K_STR, "null", 1, 0, 0, NULL, P_USE},
    {"greater_is_better", K_BOOL, "null", 1, 0, 0, NULL, P_USE},
    {"seed", K_INT, "42", 0, 0, 4294967295.0, NULL, P_USE},
    {"data_seed", K_INT, "null", 1, 0, 4294967295.0, NULL, P_USE},
    {"dataloader_drop_last", K_BOOL, "false", 0, 0, 0, NULL, P_USE},
    {"resume_from_checkpoint", K_ANY, "null", 1, 0, 0, NULL, P_USE},
    {"ignore_data_skip", K_BOOL, "false", 0, 0, 0, NULL, P_USE},
    {"batch_sampler", K_ANY, "\"batch_sampler\"", 0, 0, 0, NULL, P_USE},
    {"multi_dataset_batch_sampler", K_ANY, "\"proportional\"", 0, 0, 0, NULL, P_USE},
    {"prompts", K_ANY, "null", 1, 0, 0, NULL, P_USE},
    {"router_mapping", K_OBJECT, "{}", 1, 0, 0, NULL, P_USE},
    {"bf16", K_BOOL, "false", 0, 0, 0, NULL, P_USE},
    /* stc's own: leave malformed dataset rows out (counted) instead of
     * stopping with an error naming the file and line. */
    {"skip_bad_rows", K_BOOL, "false", 0, 0, 0, NULL, P_USE},
    {"fp16", K_BOOL, "false", 0, 0, 0, NULL, P_USE},
    /* Accepted and ignored: logging, workers, hub identity, ... */
    {"optim_args", K_STR, "null", 1, 0, 0, NULL, P_IGNORE},
    {"average_tokens_across_devices", K_BOOL, "true", 0, 0, 0, NULL, P_IGNORE},
    {"bf16_full_eval", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"fp16_full_eval", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"tf32", K_BOOL, "null", 1, 0, 0, NULL, P_IGNORE},
    {"use_cache", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"torch_empty_cache_steps", K_INT, "null", 1, 0, 1e9, NULL, P_IGNORE},
    {"log_on_each_node", K_BOOL, "true", 0, 0, 0, NULL, P_IGNORE},
    {"logging_nan_inf_filter", K_BOOL, "true", 0, 0, 0, NULL, P_IGNORE},
    {"include_num_input_tokens_seen", K_ANY, "\"no\"", 0, 0, 0, NULL, P_IGNORE},
    {"log_level", K_STR, "\"passive\"", 0, 0, 0, NULL, P_IGNORE},
    {"log_level_replica", K_STR, "\"warning\"", 0, 0, 0, NULL, P_IGNORE},
    {"disable_tqdm", K_BOOL, "null", 1, 0, 0, NULL, P_IGNORE},
    {"report_to", K_ANY, "\"none\"", 1, 0, 0, NULL, P_IGNORE},
    {"run_name", K_STR, "null", 1, 0, 0, NULL, P_IGNORE},
    {"project", K_STR, "\"huggingface\"", 0, 0, 0, NULL, P_IGNORE},
    {"trackio_space_id", K_STR, "null", 1, 0, 0, NULL, P_IGNORE},
    {"trackio_bucket_id", K_STR, "null", 1, 0, 0, NULL, P_IGNORE},
    {"trackio_static_space_id", K_ANY, "null", 1, 0, 0, NULL, P_IGNORE},
    {"eval_delay", K_FLOAT, "0", 0, 0, INF, NULL, P_IGNORE},
    {"prediction_loss_only", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"eval_on_start", K_BOOL, "false", 0, 0, 0, NULL, P_USE},
    {"eval_do_concat_batches", K_BOOL, "true", 0, 0, 0, NULL, P_IGNORE},
    {"eval_use_gather_object", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"eval_accumulation_steps", K_INT, "null", 1, 1, 1e9, NULL, P_IGNORE},
    {"include_for_metrics", K_ANY, "[]", 0, 0, 0, NULL, P_IGNORE},
    {"batch_eval_metrics", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"save_on_each_node", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"hub_token", K_STR, "null", 1, 0, 0, NULL, P_IGNORE},
    {"hub_private_repo", K_BOOL, "null", 1, 0, 0, NULL, P_IGNORE},
    {"hub_model_id", K_STR, "null", 1, 0, 0, NULL, P_IGNORE},
    {"hub_strategy", K_STR, "\"every_save\"", 0, 0, 0, NULL, P_IGNORE},
    {"hub_always_push", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"hub_revision", K_STR, "null", 1, 0, 0, NULL, P_IGNORE},
    {"restore_callback_states_from_checkpoint", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"full_determinism", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"use_cpu", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"accelerator_config", K_ANY, "null", 1, 0, 0, NULL, P_IGNORE},
    {"dataloader_num_workers", K_INT, "0", 0, 0, 1e6, NULL, P_IGNORE},
    {"dataloader_pin_memory", K_BOOL, "true", 0, 0, 0, NULL, P_IGNORE},
    {"dataloader_persistent_workers", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"dataloader_prefetch_factor", K_INT, "null", 1, 0, 1e6, NULL, P_IGNORE},
    {"dataloader_multiprocessing_context", K_STR, "null", 1, 0, 0, NULL, P_IGNORE},
    {"dataloader_in_order", K_BOOL, "true", 0, 0, 0, NULL, P_IGNORE},
    {"remove_unused_columns", K_BOOL, "true", 0, 0, 0, NULL, P_IGNORE},
    {"label_names", K_ANY, "null", 1, 0, 0, NULL, P_IGNORE},
    {"train_sampling_strategy", K_STR, "\"random\"", 0, 0, 0, NULL, P_IGNORE},
    {"length_column_name", K_STR, "\"length\"", 0, 0, 0, NULL, P_IGNORE},
    {"ddp_find_unused_parameters", K_BOOL, "null", 1, 0, 0, NULL, P_IGNORE},
    {"ddp_bucket_cap_mb", K_INT, "null", 1, 1, 1e9, NULL, P_IGNORE},
    {"ddp_broadcast_buffers", K_BOOL, "null", 1, 0, 0, NULL, P_IGNORE},
    {"ddp_static_graph", K_BOOL, "null", 1, 0, 0, NULL, P_IGNORE},
    {"ddp_backend", K_STR, "null", 1, 0, 0, NULL, P_IGNORE},
    {"ddp_timeout", K_INT, "1800", 0, 1, 1e9, NULL, P_USE},
    {"debug", K_ANY, "\"\"", 0, 0, 0, NULL, P_IGNORE},
    {"skip_memory_metrics", K_BOOL, "true", 0, 0, 0, NULL, P_IGNORE},
    {"do_train", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"do_eval", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"do_predict", K_BOOL, "false", 0, 0, 0, NULL, P_IGNORE},
    {"local_rank", K_INT, "-1", 0, -1, 1e9, NULL, P_IGNORE},
    /* Features stc does not have: only their defaults are accepted. */
    {"optim_target_modules", K_ANY, "null", 1, 0, 0, NULL, P_DEFAULT_ONLY},
    {"label_smoothing_factor", K_FLOAT, "0.0", 0, 0, 1, NULL, P_DEFAULT_ONLY},
    {"activation_checkpointing", K_BOOL, "null", 1, 0, 0, NULL, P_DEFAULT_ONLY},
    {"activation_checkpointing_kwargs", K_ANY, "null", 1, 0, 0, NULL, P_DEFAULT_ONLY},
    {"gradient_checkpointing", K_BOOL, "null", 1, 0, 0, NULL, P_DEFAULT_ONLY},
    {"gradient_checkpointing_kwargs", K_ANY, "null", 1, 0, 0, NULL, P_DEFAULT_ONLY},
    {"torch_compile", K_BOOL, "false", 0, 0, 0, NULL, P_DEFAULT_ONLY},
    {"torch_compile_backend", K_STR, "null", 1, 0, 0, NULL, P_DEFAULT_ONLY},
    {"torch_compile_mode", K_STR, "null", 1, 0, 0, NULL, P_DEFAULT_ONLY},
    {"use_liger_kernel", K_BOOL, "false", 0, 0, 0, NULL, P_DEFAULT_ONLY},
    {"liger_kernel_config", K_ANY, "null", 1, 0, 0, NULL, P_DEFAULT_ONLY},
    {"neftune_noise_alpha", K_FLOAT, "null", 1, 0, INF, NULL, P_DEFAULT_ONLY},
    {"auto_find_batch_size", K_BOOL, "false", 0, 0, 0, NULL, P_DEFAULT_ONLY},
    {"enable_jit_checkpoint", K_BOOL, "false", 0, 0, 0, NULL, P_DEFAULT_ONLY},
    {"push_to_hub", K_BOOL, "false", 0, 0, 0, NULL, P_DEFAULT_ONLY},
    {"parallelism_config", K_ANY, "null", 1, 0, 0, NULL, P_DEFAULT_ONLY},
    {"fsdp", K_ANY, "null", 1, 0, 0, NULL, P_DEFAULT_ONLY},
    {"fsdp_config", K_ANY, "null", 1, 0, 0, NULL, P_DEFAULT_ONLY},
    {"deepspeed", K_ANY, "null", 1, 0, 0, NULL, P_DEFAULT_ONLY},
};
#define N_FIELDS ((int)(sizeof FIELDS / sizeof FIELDS[0]))

/* The trainer's constructor arguments (validated by their own modules). */
static const char *const SECTIONS[] = {"model", "train_dataset", "eval_dataset", "loss", "evaluator"};
#define N_SECTIONS ((int)(sizeof SECTIONS / sizeof SECTIONS[0]))

static const field *find_field(const char *name)
{
    for (int i = 0; i < N_FIELDS; i++)
        if (!strcmp(FIELDS[i].name, name))
            return &FIELDS[i];
    return NULL;
}

static int is_section(const char *name)
{
    for (int i = 0; i < N_SECTIONS; i++)
        if (!strcmp(SECTIONS[i], name))
            return 1;
    return 0;
}

static const char *kind_name(field_kind k)
{
    switch (k) {
    case K_STR: return "a string";
    case K_INT: return "an integer";
    case K_FLOAT: return "a number";
    case K_BOOL: return "true or false";
    case K_OBJECT: return "an object";
    case K_ANY: break;
    }
    return "a value";
}

/* Checks one value against its field. */
static int check_value(const char *path, const field *f, const cJSON *v)
{
    if (cJSON_IsNull(v)) {
        if (f->nullable)
            return 0;
        return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be %s, not null", path, f->name, kind_name(f->kind));
    }
    switch (f->kind) {
    case K_STR:
        if (!cJSON_IsString(v))
            return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be a string", path, f->name);
        if (f->choices) {
            char probe[128];
            snprintf(probe, sizeof probe, "|%s|", v->valuestring);
            if (!strstr(f->choices, probe))
                return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" is \"%s\"; expected one of %s", path, f->name, v->valuestring,
                                  f->choices);
        }
        return 0;
    case K_INT:
    case K_FLOAT:
        if (!cJSON_IsNumber(v))
            return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be %s", path, f->name, kind_name(f->kind));
        if (f->kind == K_INT && v->valuedouble != floor(v->valuedouble))
            return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be an integer, not %g", path, f->name, v->valuedouble);
        if (!isfinite(v->valuedouble))
            return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be finite", path, f->name);
        if (f->min < f->max && (v->valuedouble < f->min || v->valuedouble > f->max))
            return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" = %g is out of range [%g, %g]", path, f->name, v->valuedouble,
                              f->min, f->max);
        return 0;
    case K_BOOL:
        if (!cJSON_IsBool(v))
            return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be true or false", path, f->name);
        return 0;
    case K_OBJECT:
        if (!cJSON_IsObject(v))
            return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be an object", path, f->name);
        return 0;
    case K_ANY:
        return 0;
    }
    return 0;
}

/* Applies "--key value" overrides onto root. A value that parses as JSON is
 * taken as JSON, except for string fields, whose values are taken as is. */
static int apply_overrides(cJSON *root, const char *path, int n, char **ov)
{
    for (int i = 0; i < n; i++) {
        const char *a = ov[i];
        if (strncmp(a, "--", 2) != 0)
            return stc_errorf(STC_ERR_USAGE, "unexpected argument '%s' (overrides are --key value)", a);
        const char *key = a + 2, *eq = strchr(key, '=');
        char name[128];
        size_t klen = eq ? (size_t)(eq - key) : strlen(key);
        if (klen == 0 || klen >= sizeof name)
            return stc_errorf(STC_ERR_USAGE, "bad override '%s'", a);
        memcpy(name, key, klen);
        name[klen] = '\0';
        const char *val = eq ? eq + 1 : (i + 1 < n ? ov[++i] : NULL);
        if (!val)
            return stc_errorf(STC_ERR_USAGE, "override --%s needs a value", name);
        const field *f = find_field(name);
        if (!f && !is_section(name))
            return stc_errorf(STC_ERR_USAGE, "override --%s: unknown key (not a SentenceTransformerTrainingArguments field "
                              "nor one of model, train_dataset, eval_dataset, loss, evaluator)", name);
        cJSON *v = NULL;
        if (!(f && f->kind == K_STR))
            v = cJSON_Parse(val);
        if (!v)
            v = cJSON_CreateString(val);
        if (!v)
            return stc_errorf(STC_ERR_NOMEM, "out of memory");
        if (cJSON_HasObjectItem(root, name))
            cJSON_ReplaceItemInObjectCaseSensitive(root, name, v);
        else
            cJSON_AddItemToObject(root, name, v);
    }
    (void)path;
    return 0;
}

static int has_duplicate_keys(const cJSON *obj, const char **dup)
{
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && !strcmp(a->string, b->string)) {
                *dup = a->string;
                return 1;
            }
    return 0;
}

static const char *str_of(const cJSON *root, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_of(const cJSON *root, const char *k, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static int bool_of(const cJSON *root, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static const cJSON *obj_of(const cJSON *root, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, k);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

/* Cross-field rules of transformers' TrainingArguments.__post_init__. */
static int check_rules(const char *path, stc_training_args *a, const cJSON *root)
{
    if (!a->output_dir)
        return stc_errorf(STC_ERR_USAGE, "%s: \"output_dir\" is required", path);
    if (!obj_of(root, "model"))
        return stc_errorf(STC_ERR_USAGE, "%s: \"model\" (a Sentence Transformers model directory) is required", path);
    if (!obj_of(root, "train_dataset"))
        return stc_errorf(STC_ERR_USAGE, "%s: \"train_dataset\" is required", path);
    const cJSON *m = a->learning_rate_mapping;
    for (const cJSON *e = m->child; e; e = e->next)
        if (!cJSON_IsNumber(e) || e->valuedouble < 0)
            return stc_errorf(STC_ERR_USAGE, "%s: learning_rate_mapping[\"%s\"] must be a non-negative number", path,
                              e->string);
    if (a->bf16 && a->fp16)
        return stc_errorf(STC_ERR_USAGE, "%s: \"bf16\" and \"fp16\" cannot both be true", path);
    if (a->load_best_model_at_end) {
        if (strcmp(a->save_strategy, "best") != 0 && strcmp(a->eval_strategy, a->save_strategy) != 0)
            return stc_errorf(STC_ERR_USAGE, "%s: load_best_model_at_end needs eval_strategy == save_strategy "
                              "(\"%s\" vs \"%s\")", path, a->eval_strategy, a->save_strategy);
        if (!strcmp(a->save_strategy, "steps") && a->eval_steps > 0 &&
            fmod(a->save_steps, a->eval_steps) != 0.0)
            return stc_errorf(STC_ERR_USAGE, "%s: load_best_model_at_end needs save_steps (%g) to be a multiple of "
                              "eval_steps (%g)", path, a->save_steps, a->eval_steps);
    }
    if (!strcmp(a->save_strategy, "best") && !a->metric_for_best_model && !obj_of(root, "eval_dataset"))
        return stc_errorf(STC_ERR_USAGE, "%s: save_strategy \"best\" needs metric_for_best_model or an eval_dataset", path);
    if (strcmp(a->eval_strategy, "no") != 0 && !obj_of(root, "eval_dataset") && !obj_of(root, "evaluator"))
        return stc_errorf(STC_ERR_USAGE, "%s: eval_strategy \"%s\" needs an eval_dataset or an evaluator", path,
                          a->eval_strategy);
    return 0;
}

int stc_train_config_load(stc_train_config *cfg, const char *path, int n_overrides, char **overrides)
{
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = NULL;
    int rc = stc_json_load(path, &root);
    if (rc)
        return rc == STC_ERR_DATA ? STC_ERR_USAGE : rc;
    const char *dup;
    if (!cJSON_IsObject(root)) {
        rc = stc_errorf(STC_ERR_USAGE, "%s: the training config must be a JSON object", path);
        goto err;
    }
    if (has_duplicate_keys(root, &dup)) {
        rc = stc_errorf(STC_ERR_USAGE, "%s: key \"%s\" appears twice", path, dup);
        goto err;
    }
    if ((rc = apply_overrides(root, path, n_overrides, overrides)))
        goto err;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (is_section(e->string))
            continue;
        const field *f = find_field(e->string);
        if (!f) {
            rc = stc_errorf(STC_ERR_USAGE, "%s: unknown key \"%s\" (not a SentenceTransformerTrainingArguments field "
                            "nor one of model, train_dataset, eval_dataset, loss, evaluator)", path, e->string);
            goto err;
        }
        if ((rc = check_value(path, f, e)))
            goto err;
        if (f->policy == P_DEFAULT_ONLY) {
            cJSON *def = cJSON_Parse(f->def);
            int same = def && cJSON_Compare(def, e, 1);
            cJSON_Delete(def);
            if (!same) {
                rc = stc_errorf(STC_ERR_USAGE, "%s: \"%s\" is not supported by stc; leave it at its default (%s)", path,
                                e->string, f->def);
                goto err;
            }
        }
    }
    /* Defaults for everything absent. */
    for (int i = 0; i < N_FIELDS; i++) {
        if (cJSON_HasObjectItem(root, FIELDS[i].name))
            continue;
        cJSON *def = cJSON_Parse(FIELDS[i].def);
        if (!def) {
            rc = stc_errorf(STC_ERR_INTERNAL, "bad default for %s", FIELDS[i].name);
            goto err;
        }
        cJSON_AddItemToObject(root, FIELDS[i].name, def);
    }
    /* transformers v5: a warmup_ratio with warmup_steps unset becomes the
     * ratio form of warmup_steps. */
    const cJSON *wr = cJSON_GetObjectItemCaseSensitive(root, "warmup_ratio");
    if (cJSON_IsNumber(wr) && num_of(root, "warmup_steps", 0) == 0)
        cJSON_ReplaceItemInObjectCaseSensitive(root, "warmup_steps", cJSON_CreateNumber(wr->valuedouble));

    stc_training_args *a = &cfg->args;
    a->output_dir = str_of(root, "output_dir");
    a->per_device_train_batch_size = (int)num_of(root, "per_device_train_batch_size", 8);
    a->per_device_eval_batch_size = (int)num_of(root, "per_device_eval_batch_size", 8);
    a->num_train_epochs = num_of(root, "num_train_epochs", 3.0);
    a->max_steps = (int)num_of(root, "max_steps", -1);
    a->learning_rate = num_of(root, "learning_rate", 5e-5);
    a->learning_rate_mapping = obj_of(root, "learning_rate_mapping");
    if (!a->learning_rate_mapping) {
        cJSON_ReplaceItemInObjectCaseSensitive(root, "learning_rate_mapping", cJSON_CreateObject());
        a->learning_rate_mapping = obj_of(root, "learning_rate_mapping");
    }
    a->lr_scheduler_type = str_of(root, "lr_scheduler_type");
    a->lr_scheduler_kwargs = obj_of(root, "lr_scheduler_kwargs");
    a->warmup_steps = num_of(root, "warmup_steps", 0);
    a->weight_decay = num_of(root, "weight_decay", 0);
    a->adam_beta1 = num_of(root, "adam_beta1", 0.9);
    a->adam_beta2 = num_of(root, "adam_beta2", 0.999);
    a->adam_epsilon = num_of(root, "adam_epsilon", 1e-8);
    a->max_grad_norm = num_of(root, "max_grad_norm", 1.0);
    a->gradient_accumulation_steps = (int)num_of(root, "gradient_accumulation_steps", 1);
    a->logging_strategy = str_of(root, "logging_strategy");
    a->logging_steps = num_of(root, "logging_steps", 500);
    a->logging_first_step = bool_of(root, "logging_first_step", 0);
    a->eval_strategy = str_of(root, "eval_strategy");
    a->eval_steps = num_of(root, "eval_steps", 0);
    if (a->eval_steps == 0) /* transformers: eval_steps defaults to logging_steps */
        a->eval_steps = a->logging_steps;
    a->eval_on_start = bool_of(root, "eval_on_start", 0);
    a->save_strategy = str_of(root, "save_strategy");
    a->save_steps = num_of(root, "save_steps", 500);
    a->save_total_limit = (int)num_of(root, "save_total_limit", 0);
    a->save_only_model = bool_of(root, "save_only_model", 0);
    a->load_best_model_at_end = bool_of(root, "load_best_model_at_end", 0);
    a->metric_for_best_model = str_of(root, "metric_for_best_model");
    a->greater_is_better = bool_of(root, "greater_is_better", -1);
    a->seed = (int)num_of(root, "seed", 42);
    a->data_seed = (int)num_of(root, "data_seed", -1);
    a->dataloader_drop_last = bool_of(root, "dataloader_drop_last", 0);
    a->resume_from_checkpoint = obj_of(root, "resume_from_checkpoint");
    a->ignore_data_skip = bool_of(root, "ignore_data_skip", 0);
    a->batch_sampler = str_of(root, "batch_sampler");
    a->multi_dataset_batch_sampler = str_of(root, "multi_dataset_batch_sampler");
    a->prompts = obj_of(root, "prompts");
    a->router_mapping = obj_of(root, "router_mapping");
    a->bf16 = bool_of(root, "bf16", 0);
    a->skip_bad_rows = bool_of(root, "skip_bad_rows", 0);
    a->fp16 = bool_of(root, "fp16", 0);
    if (a->resume_from_checkpoint && !cJSON_IsString(a->resume_from_checkpoint) &&
        !cJSON_IsBool(a->resume_from_checkpoint)) {
        rc = stc_errorf(STC_ERR_USAGE, "%s: \"resume_from_checkpoint\" must be a path or true", path);
        goto err;
    }
    /* transformers: metric_for_best_model defaults to "loss" with
     * load_best_model_at_end, and greater_is_better follows its name. */
    if (a->load_best_model_at_end && !a->metric_for_best_model) {
        cJSON_ReplaceItemInObjectCaseSensitive(root, "metric_for_best_model", cJSON_CreateString("loss"));
        a->metric_for_best_model = str_of(root, "metric_for_best_model");
    }
    if (a->metric_for_best_model && a->greater_is_better < 0) {
        size_t ml = strlen(a->metric_for_best_model);
        a->greater_is_better = !(ml >= 4 && !strcmp(a->metric_for_best_model + ml - 4, "loss"));
    }
    if ((rc = check_rules(path, a, root)))
        goto err;
    cfg->resolved = root;
    cfg->path = strdup(path);
    return 0;
err:
    cJSON_Delete(root);
    memset(cfg, 0, sizeof *cfg);
    return rc;
}

void stc_train_config_free(stc_train_config *cfg)
{
    cJSON_Delete(cfg->resolved);
    free(cfg->path);
    memset(cfg, 0, sizeof *cfg);
}

char *stc_train_config_dump(const stc_train_config *cfg)
{
    return cJSON_Print(cfg->resolved);
}
