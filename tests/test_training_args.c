/* trainer/training_args: defaults as in Python, overrides, and every kind of
 * bad key named before any work. */
#include "tests/check.h"
#include "trainer/training_args.h"
#include "util/error.h"
#include "util/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static int load(const char *json, int n, char **ov, stc_train_config *cfg)
{
    stc_write_file_atomic(path, json, strlen(json));
    return stc_train_config_load(cfg, path, n, ov);
}

#define BASE "\"model\": \"m\", \"train_dataset\": \"t.jsonl\", \"output_dir\": \"out\""

/* The config must fail with a usage error whose message contains want. */
static void expect_fail(const char *json, int n, char **ov, const char *want)
{
    stc_train_config cfg;
    int rc = load(json, n, ov, &cfg);
    CHECK_MSG(rc == STC_ERR_USAGE, "expected a usage error for %s, got %d", json, rc);
    CHECK_MSG(strstr(stc_error_message(), want) != NULL, "message '%s' lacks '%s'", stc_error_message(), want);
    if (!rc)
        stc_train_config_free(&cfg);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/stc_test_args_%d.json", (int)getpid());
    stc_train_config cfg;

    /* Python's defaults. */
    CHECK(load("{" BASE "}", 0, NULL, &cfg) == 0);
    const stc_training_args *a = &cfg.args;
    CHECK(a->per_device_train_batch_size == 8 && a->num_train_epochs == 3.0 && a->max_steps == -1);
    CHECK(a->learning_rate == 5e-5 && a->weight_decay == 0.0 && a->adam_beta1 == 0.9 && a->adam_beta2 == 0.999);
    CHECK(a->adam_epsilon == 1e-8 && a->max_grad_norm == 1.0 && a->gradient_accumulation_steps == 1);
    CHECK(!strcmp(a->lr_scheduler_type, "linear") && a->warmup_steps == 0 && a->seed == 42);
    CHECK(a->logging_steps == 500 && a->save_steps == 500 && !strcmp(a->save_strategy, "steps"));
    CHECK(!strcmp(a->eval_strategy, "no") && a->save_total_limit == 0 && !a->dataloader_drop_last);
    CHECK(!strcmp(a->batch_sampler, "batch_sampler") && !strcmp(a->multi_dataset_batch_sampler, "proportional"));
    CHECK(a->learning_rate_mapping && cJSON_GetArraySize(a->learning_rate_mapping) == 0);
    CHECK(a->eval_steps == a->logging_steps);
    stc_train_config_free(&cfg);

    /* Overrides (JSON values, and plain strings for string fields), the
     * mapping in insertion order, warmup_ratio becoming warmup_steps. */
    char *ov[] = {"--learning_rate", "3e-5", "--output_dir", "123", "--bf16=false", "--warmup_ratio", "0.1"};
    CHECK(load("{" BASE ", \"learning_rate_mapping\": {\"b\": 1e-3, \"a\": 2e-3}}", 7, ov, &cfg) == 0);
    CHECK(cfg.args.learning_rate == 3e-5 && !strcmp(cfg.args.output_dir, "123") && !cfg.args.bf16);
    CHECK(cfg.args.warmup_steps == 0.1);
    CHECK(!strcmp(cfg.args.learning_rate_mapping->child->string, "b"));
    char *dump = stc_train_config_dump(&cfg);
    CHECK(dump && strstr(dump, "\"adam_beta2\":\t0.999"));
    free(dump);
    stc_train_config_free(&cfg);

    /* load_best_model_at_end: metric defaults to loss, smaller is better. */
    CHECK(load("{" BASE ", \"eval_dataset\": \"e.jsonl\", \"eval_strategy\": \"steps\", \"eval_steps\": 50, "
               "\"save_steps\": 100, \"load_best_model_at_end\": true}", 0, NULL, &cfg) == 0);
    CHECK(!strcmp(cfg.args.metric_for_best_model, "loss") && cfg.args.greater_is_better == 0);
    stc_train_config_free(&cfg);

    /* Errors, each naming the key. */
    expect_fail("{" BASE ", \"learning_rat\": 1}", 0, NULL, "unknown key \"learning_rat\"");
    expect_fail("{" BASE ", \"per_device_train_batch_size\": \"8\"}", 0, NULL, "\"per_device_train_batch_size\" must be an integer");
    expect_fail("{" BASE ", \"per_device_train_batch_size\": 0}", 0, NULL, "\"per_device_train_batch_size\" = 0 is out of range");
    expect_fail("{" BASE ", \"gradient_accumulation_steps\": 1.5}", 0, NULL, "\"gradient_accumulation_steps\" must be an integer");
    expect_fail("{" BASE ", \"lr_scheduler_type\": \"cosine_annealing\"}", 0, NULL, "\"lr_scheduler_type\" is \"cosine_annealing\"");
    expect_fail("{" BASE ", \"deepspeed\": \"ds.json\"}", 0, NULL, "\"deepspeed\" is not supported by stc");
    expect_fail("{" BASE ", \"learning_rate_mapping\": {\"x\": \"fast\"}}", 0, NULL, "learning_rate_mapping[\"x\"]");
    expect_fail("{" BASE ", \"seed\": 1, \"seed\": 2}", 0, NULL, "key \"seed\" appears twice");
    expect_fail("{\"model\": \"m\", \"train_dataset\": \"t\"}", 0, NULL, "\"output_dir\" is required");
    expect_fail("{" BASE ", \"eval_strategy\": \"steps\"}", 0, NULL, "needs an eval_dataset or an evaluator");
    expect_fail("{" BASE ", \"eval_dataset\": \"e\", \"eval_strategy\": \"steps\", \"eval_steps\": 30, "
                "\"save_steps\": 100, \"load_best_model_at_end\": true}", 0, NULL, "multiple of eval_steps");
    char *bad_ov[] = {"--no_such_arg", "1"};
    expect_fail("{" BASE "}", 2, bad_ov, "--no_such_arg: unknown key");
    char *bad_val[] = {"--max_grad_norm", "-1"};
    expect_fail("{" BASE "}", 2, bad_val, "\"max_grad_norm\" = -1 is out of range");
    expect_fail("[1, 2]", 0, NULL, "must be a JSON object");
    expect_fail("{" BASE ",}", 0, NULL, "invalid JSON");
    unlink(path);
    return check_report("test_training_args");
}
