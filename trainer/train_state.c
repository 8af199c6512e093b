/* The trainer's checkpoints: what goes into checkpoint-STEP and how a run
 * continues from one (train_internal.h). The folder protocol itself is
 * checkpoint.c's.
 *
 * A checkpoint holds:
 *   the model, as a Sentence Transformers directory (rank 0)    model.safetensors, modules.json, ...
 *   the resolved config                                          training_config.json
 *   Python's TrainerState (log history, best metric)            trainer_state.json
 *   the loop's exact position and running sums                  stc_state.json
 *   each rank's AdamW shard (moments of its block, step counts) optimizer-rankR-of-W.bin
 * Dropout masks and the sampler's batches are pure functions of (seed,
 * rank, step) and (seed, epoch), so the position is all the randomness
 * state there is. */
#include "trainer/checkpoint.h"
#include "trainer/train_internal.h"
#include "model/st_save.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_FILE "stc_state.json"
#define TRAINER_STATE "trainer_state.json"
#define STATE_FORMAT "stc-trainer-state"
#define STATE_VERSION 1
#define OPT_STEM "optimizer"

static char *ckpt_path(const char *output_dir, int64_t step)
{
    char name[64];
    snprintf(name, sizeof name, "checkpoint-%" PRId64, step);
    return stc_path_join(output_dir, name);
}

/* The float epoch Python records: epochs done plus the part of this one. */
static double epoch_float(const trainer *t)
{
    size_t nb = stc_epoch_plan_num_batches(&t->plan);
    return t->pos.epoch + (nb > 0 ? (double)t->pos.next_batch / (double)nb : 0.0);
}

static void add_best(cJSON *o, const trainer *t, const char *best_path)
{
    if (t->has_best) {
        cJSON_AddNumberToObject(o, "best_global_step", (double)t->best_step);
        cJSON_AddNumberToObject(o, "best_metric", t->best_metric);
    } else {
        cJSON_AddNullToObject(o, "best_global_step");
        cJSON_AddNullToObject(o, "best_metric");
    }
    if (best_path)
        cJSON_AddStringToObject(o, "best_model_checkpoint", best_path);
    else
        cJSON_AddNullToObject(o, "best_model_checkpoint");
}

/* Python's trainer_state.json: TrainerState's fields in sorted order; the
 * log history holds stc's log lines (a superset of Python's keys). */
static char *trainer_state_json(const trainer *t, const char *best_path)
{
    const stc_training_args *a = t->a;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_best(o, t, best_path);
    cJSON_AddNumberToObject(o, "epoch", epoch_float(t));
    cJSON_AddNumberToObject(o, "eval_steps", a->eval_steps);
    cJSON_AddNumberToObject(o, "global_step", (double)t->pos.step);
    cJSON_AddFalseToObject(o, "is_hyper_param_search");
    cJSON_AddTrueToObject(o, "is_local_process_zero");
    cJSON_AddTrueToObject(o, "is_world_process_zero");
    cJSON *h = t->history ? cJSON_Duplicate(t->history, 1) : cJSON_CreateArray();
    cJSON_AddItemToObject(o, "log_history", h);
    cJSON_AddNumberToObject(o, "logging_steps", a->logging_steps);
    cJSON_AddNumberToObject(o, "max_steps", (double)t->total);
    cJSON_AddNumberToObject(o, "num_input_tokens_seen", 0);
    cJSON_AddNumberToObject(o, "num_train_epochs",
                            ceil((double)t->total / (double)(t->steps_per_epoch > 0 ? t->steps_per_epoch : 1)));
    cJSON_AddNumberToObject(o, "save_steps", a->save_steps);
    cJSON_AddItemToObject(o, "stateful_callbacks", cJSON_CreateObject());
    cJSON_AddNumberToObject(o, "total_flos", 0);
    cJSON_AddNumberToObject(o, "train_batch_size", a->per_device_train_batch_size);
    cJSON_AddNullToObject(o, "trial_name");
    cJSON_AddNullToObject(o, "trial_params");
    char *s = stc_json_print_exact(o, 1);
    cJSON_Delete(o);
    return s;
}

/* stc's own state: everything the loop needs to take the next step exactly
 * as an uninterrupted run would (numbers printed exactly, so the running
 * sums survive the round trip bit for bit). */
static char *stc_state_json(const trainer *t)
{
    const stc_training_args *a = t->a;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "format", STATE_FORMAT);
    cJSON_AddNumberToObject(o, "version", STATE_VERSION);
    cJSON_AddNumberToObject(o, "global_step", (double)t->pos.step);
    cJSON_AddNumberToObject(o, "epoch", t->pos.epoch);
    cJSON_AddNumberToObject(o, "next_batch", (double)t->pos.next_batch);
    cJSON_AddNumberToObject(o, "bad_in_row", (double)t->pos.bad_in_row);
    cJSON_AddNumberToObject(o, "skipped", (double)t->pos.skipped);
    cJSON_AddNumberToObject(o, "loss_since_log", t->pos.loss_since_log);
    cJSON_AddNumberToObject(o, "last_log_step", (double)t->last_log_step);
    cJSON *comp = cJSON_AddObjectToObject(o, "loss_components_since_log");
    for (int k = 0; k < t->n_comp; k++)
        cJSON_AddNumberToObject(comp, t->comp_names[k], t->comp_log[k]);
    cJSON_AddNumberToObject(o, "world_size", t->comm->world);
    cJSON_AddNumberToObject(o, "per_device_train_batch_size", a->per_device_train_batch_size);
    cJSON_AddNumberToObject(o, "gradient_accumulation_steps", a->gradient_accumulation_steps);
    cJSON_AddNumberToObject(o, "seed", a->seed);
    cJSON_AddNumberToObject(o, "data_seed", a->data_seed);
    cJSON_AddBoolToObject(o, "optimizer_saved", !a->save_only_model);
    add_best(o, t, NULL);
    char *s = stc_json_print_exact(o, 1);
    cJSON_Delete(o);
    return s;
}

static int put_json(stc_ckpt_writer *w, const char *name, char *text)
{
    int rc = text ? stc_ckpt_put(w, name, text, strlen(text)) : stc_errorf(STC_ERR_NOMEM, "out of memory");
    free(text);
    return rc;
}

/* Rank 0's files: the model and the JSON states. */
static int write_root_files(trainer *t, stc_ckpt_writer *w, const char *best_path)
{
    int rc = stc_st_model_save(&t->model, stc_ckpt_tmp_dir(w));
    if (!rc)
        rc = put_json(w, "training_config.json", stc_train_config_dump(t->cfg));
    if (!rc)
        rc = put_json(w, TRAINER_STATE, trainer_state_json(t, best_path));
    if (!rc)
        rc = put_json(w, STATE_FILE, stc_state_json(t));
    return rc;
}

static int write_shard(trainer *t, stc_ckpt_writer *w)
{
    size_t n = stc_adamw_state_bytes(&t->opt);
    void *buf = stc_malloc(n, "optimizer state");
    if (!buf)
        return STC_ERR_NOMEM;
    int rc = stc_adamw_state_save(&t->opt, buf, n);
    char name[96];
    stc_ckpt_shard_name(name, sizeof name, OPT_STEM, t->comm->rank, t->comm->world);
    if (!rc)
        rc = stc_ckpt_put(w, name, buf, n);
    free(buf);
    return rc;
}

int stc_trainer_save_checkpoint(trainer *t)
{
    const stc_training_args *a = t->a;
    const stc_comm *comm = t->comm;
    double t0 = stc_now_s();
    stc_ckpt_writer *w;
    int rc = stc_ckpt_begin(&w, comm, a->output_dir, t->pos.step);
    if (rc)
        return rc;
    /* Python names the best checkpoint in the state it saves with it. */
    char *here = ckpt_path(a->output_dir, t->pos.step);
    if (!here) {
        stc_ckpt_commit(w, 0, NULL);
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    }
    if (t->has_best && t->best_step == t->pos.step) {
        free(t->best_ckpt);
        t->best_ckpt = strdup(here);
    }
    int wrc = 0;
    if (comm->rank == 0)
        wrc = write_root_files(t, w, t->best_ckpt);
    if (!wrc && !a->save_only_model)
        wrc = write_shard(t, w);
    if (wrc)
        fprintf(stderr, "stc train: rank %d: writing checkpoint-%lld failed: %s\n", comm->rank,
                (long long)t->pos.step, stc_error_message());
    rc = stc_ckpt_commit(w, wrc == 0, NULL);
    if (!rc && comm->rank == 0)
        rc = stc_ckpt_rotate(a->output_dir, a->save_total_limit, t->best_ckpt);
    if (!rc && comm->rank == 0)
        fprintf(stderr, "%sstc train: %s written in %.2f s\n", t->tty ? "\n" : "", here, stc_now_s() - t0);
    free(here);
    return rc;
}

/* --- resuming --- */

int stc_trainer_resume_dir(const trainer *t, char **dir)
{
    *dir = NULL;
    const cJSON *r = t->a->resume_from_checkpoint;
    if (!r || cJSON_IsNull(r) || cJSON_IsFalse(r))
        return 0;
    if (cJSON_IsString(r)) {
        *dir = strdup(r->valuestring);
        return *dir ? 0 : stc_errorf(STC_ERR_NOMEM, "out of memory");
    }
    /* true: the newest complete checkpoint, as rank 0 sees it. */
    int64_t msg[2] = {0, -1}; /* status, step */
    if (t->comm->rank == 0) {
        stc_ckpt_entry *e;
        int n;
        msg[0] = stc_ckpt_list(t->a->output_dir, &e, &n);
        if (!msg[0] && n > 0)
            msg[1] = e[n - 1].step;
        if (!msg[0])
            stc_ckpt_entries_free(e, n);
    }
    if (t->comm->world > 1) {
        int rc = stc_comm_broadcast(t->comm, msg, sizeof msg, 0);
        if (rc)
            return rc;
    }
    if (msg[0])
        return t->comm->rank == 0 ? (int)msg[0]
                                  : stc_errorf((int)msg[0], "%s: rank 0 could not list the checkpoints",
                                               t->a->output_dir);
    if (msg[1] < 0)
        return stc_errorf(STC_ERR_USAGE, "resume_from_checkpoint is true but %s holds no complete checkpoint "
                          "(checkpoint-STEP with its manifest.json)", t->a->output_dir);
    *dir = ckpt_path(t->a->output_dir, msg[1]);
    return *dir ? 0 : stc_errorf(STC_ERR_NOMEM, "out of memory");
}

/* An integer field of the state that the run's config must match. */
static int check_same(const cJSON *st, const char *key, double now, const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, key);
    if (!cJSON_IsNumber(v))
        return stc_errorf(STC_ERR_DATA, "%s: \"%s\" missing", path, key);
    if (v->valuedouble != now)
        return stc_errorf(STC_ERR_USAGE, "%s: the checkpoint was trained with %s %g, this run has %g; resume with "
                          "the same value (the batches and dropout masks depend on it)", path, key, v->valuedouble,
                          now);
    return 0;
}

static int num_field(const cJSON *st, const char *key, const char *path, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, key);
    if (!cJSON_IsNumber(v))
        return stc_errorf(STC_ERR_DATA, "%s: \"%s\" missing or not a number", path, key);
    *out = v->valuedouble;
    return 0;
}

/* The position, the running sums and the best metric from stc_state.json. */
static int load_stc_state(trainer *t, const char *dir, int saved_world, int *has_optimizer)
{
    char *path = stc_path_join(dir, STATE_FILE);
    if (!path)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    cJSON *st = NULL;
    int rc = stc_json_load(path, &st);
    const cJSON *fmt = st ? cJSON_GetObjectItemCaseSensitive(st, "format") : NULL;
    if (!rc && !(cJSON_IsString(fmt) && !strcmp(fmt->valuestring, STATE_FORMAT)))
        rc = stc_errorf(STC_ERR_DATA, "%s: not an stc trainer state", path);
    const stc_training_args *a = t->a;
    /* Another number of ranks is fine with the same global batch: the
     * sampler's global batches depend on it alone (data/sampler.h). */
    if (!rc && saved_world == t->comm->world)
        rc = check_same(st, "per_device_train_batch_size", a->per_device_train_batch_size, path);
    if (!rc && saved_world != t->comm->world) {
        double pd = 0.0;
        if (!(rc = num_field(st, "per_device_train_batch_size", path, &pd)) &&
            pd * saved_world != (double)a->per_device_train_batch_size * t->comm->world)
            rc = stc_errorf(STC_ERR_USAGE, "%s: the checkpoint's global batch is %g rows (%d rank(s) x %g), this run's "
                            "%d (%d x %d): on another number of ranks, resume with the same global batch", path,
                            pd * saved_world, saved_world, pd, a->per_device_train_batch_size * t->comm->world,
                            t->comm->world, a->per_device_train_batch_size);
    }
    if (!rc)
        rc = check_same(st, "gradient_accumulation_steps", a->gradient_accumulation_steps, path);
    if (!rc)
        rc = check_same(st, "seed", a->seed, path);
    if (!rc)
        rc = check_same(st, "data_seed", a->data_seed, path);
    double v[6];
    static const char *const keys[6] = {"global_step", "epoch",          "next_batch",
                                        "bad_in_row",  "loss_since_log", "last_log_step"};
    for (int i = 0; i < 6 && !rc; i++)
        rc = num_field(st, keys[i], path, &v[i]);
    const cJSON *skipped = st ? cJSON_GetObjectItemCaseSensitive(st, "skipped") : NULL;
    if (!rc) {
        t->pos.step = (int64_t)v[0];
        t->pos.epoch = (int)v[1];
        t->pos.next_batch = (int64_t)v[2];
        t->pos.bad_in_row = (int64_t)v[3];
        t->pos.loss_since_log = v[4];
        t->last_log_step = (int64_t)v[5];
        t->pos.skipped = cJSON_IsNumber(skipped) ? (int64_t)skipped->valuedouble : 0;
        const cJSON *comp = cJSON_GetObjectItemCaseSensitive(st, "loss_components_since_log");
        for (int k = 0; k < t->n_comp; k++) {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(comp, t->comp_names[k]);
            t->comp_log[k] = cJSON_IsNumber(c) ? c->valuedouble : 0.0;
        }
        const cJSON *bs = cJSON_GetObjectItemCaseSensitive(st, "best_global_step");
        const cJSON *bm = cJSON_GetObjectItemCaseSensitive(st, "best_metric");
        t->has_best = cJSON_IsNumber(bs) && cJSON_IsNumber(bm);
        t->best_step = t->has_best ? (int64_t)bs->valuedouble : 0;
        t->best_metric = t->has_best ? bm->valuedouble : 0.0;
        *has_optimizer = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "optimizer_saved"));
    }
    cJSON_Delete(st);
    free(path);
    return rc;
}

/* Saved shard r of a world of `world` ranks, whole (begin/count NULL) or
 * re-sharded into this rank's block. */
static int load_shard_file(trainer *t, const char *dir, int r, int world, const size_t *begin, const size_t *count)
{
    char name[96];
    stc_ckpt_shard_name(name, sizeof name, OPT_STEM, r, world);
    char *path = stc_path_join(dir, name);
    if (!path)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    char *buf;
    size_t len;
    int rc = stc_read_file(path, &buf, &len);
    if (!rc) {
        rc = begin ? stc_adamw_state_load_range(&t->opt, buf, len, begin, count, path)
                   : stc_adamw_state_load(&t->opt, buf, len, path);
        free(buf);
    }
    free(path);
    return rc;
}

/* This rank's optimizer state: its own shard file, or, from a checkpoint of
 * another number of ranks, the pieces of every saved shard that overlap
 * its block (ZeRO-1 blocks are stc_comm_block's partition of the slab, so
 * each saved shard's place follows from its rank and world). */
static int load_shards(trainer *t, const char *dir, int saved_world)
{
    if (saved_world == t->comm->world)
        return load_shard_file(t, dir, t->comm->rank, saved_world, NULL, NULL);
    size_t total = t->model.params.total;
    size_t mine_b = t->opt.shard_begin[0], mine_e = mine_b + t->opt.shard_count[0];
    for (int r = 0; r < saved_world; r++) {
        size_t b = 0, c = total;
        if (saved_world > 1)
            stc_comm_block(total, saved_world, r, &b, &c);
        /* Shard 0 is read even when it does not overlap: the step counts. */
        if (r > 0 && (b + c <= mine_b || b >= mine_e))
            continue;
        int rc = load_shard_file(t, dir, r, saved_world, &b, &c);
        if (rc)
            return rc;
    }
    return 0;
}

/* Rank 0: the log history and best checkpoint from trainer_state.json. */
static int load_trainer_state(trainer *t, const char *dir)
{
    char *path = stc_path_join(dir, TRAINER_STATE);
    if (!path)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    cJSON *ts = NULL;
    int rc = stc_json_load(path, &ts);
    if (!rc) {
        cJSON *h = cJSON_DetachItemFromObjectCaseSensitive(ts, "log_history");
        if (!cJSON_IsArray(h)) {
            cJSON_Delete(h);
            rc = stc_errorf(STC_ERR_DATA, "%s: \"log_history\" missing or not a list", path);
        } else {
            cJSON_Delete(t->history);
            t->history = h;
        }
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(ts, "best_model_checkpoint");
        if (!rc && cJSON_IsString(b) && stc_is_dir(b->valuestring)) {
            free(t->best_ckpt);
            t->best_ckpt = strdup(b->valuestring);
        }
    }
    cJSON_Delete(ts);
    free(path);
    return rc;
}

int stc_trainer_resume(trainer *t, const char *dir)
{
    const stc_comm *comm = t->comm;
    /* Rank 0 checks every file against the manifest; the verdict is
     * everyone's. */
    int64_t msg[3] = {0, 0, 0}; /* status, step, world */
    if (comm->rank == 0) {
        int world = 0;
        msg[0] = stc_ckpt_verify(dir, &msg[1], &world);
        msg[2] = world;
    }
    int rc = comm->world > 1 ? stc_comm_broadcast(comm, msg, sizeof msg, 0) : 0;
    if (rc)
        return rc;
    if (msg[0])
        return comm->rank == 0 ? (int)msg[0]
                               : stc_errorf((int)msg[0], "%s: rank 0 found the checkpoint incomplete or corrupted", dir);
    int saved_world = (int)msg[2];
    if (t->opt.n_sources != 1)
        return stc_errorf(STC_ERR_INTERNAL, "resume: %d parameter sources", t->opt.n_sources);
    int has_opt = 0;
    if ((rc = load_stc_state(t, dir, saved_world, &has_opt)))
        return rc;
    if (!has_opt)
        return stc_errorf(STC_ERR_USAGE, "%s was saved with save_only_model (no optimizer state): it can be "
                          "loaded as a model, not resumed", dir);
    if (t->pos.step != msg[1])
        return stc_errorf(STC_ERR_DATA, "%s: stc_state.json says step %lld, the manifest %lld", dir,
                          (long long)t->pos.step, (long long)msg[1]);
    if ((rc = stc_st_model_load_weights(&t->model, dir)) || (rc = load_shards(t, dir, saved_world)))
        return rc;
    if (saved_world != comm->world && comm->rank == 0)
        fprintf(stderr, "stc train: %s was written by %d rank(s), this run has %d: optimizer state re-sharded; the "
                "global batches are the same, the dropout masks are not the original run's\n", dir, saved_world,
                comm->world);
    if (comm->rank == 0 && (rc = load_trainer_state(t, dir)))
        return rc;
    return 0;
}
