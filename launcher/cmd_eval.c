/*
 * `stc eval`: runs the evaluators of an evaluator spec (or of a training
 * config's "evaluator") on a model, as Python's evaluator(model,
 * output_path) does, and prints the metrics as one JSON object.
 */
#include "dist/comm.h"
#include "launcher/args.h"
#include "launcher/cmd_ranks.h"
#include "launcher/commands.h"
#include "model/st_model.h"
#include "trainer/evaluator.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The evaluator spec inside root: root itself when it is an evaluator
 * object or a list, else a training config's "evaluator". */
static int find_spec(const cJSON *root, const char *path, const cJSON **spec)
{
    if (cJSON_IsArray(root) || (cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "type"))) {
        *spec = root;
        return 0;
    }
    const cJSON *ev = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "evaluator") : NULL;
    if (!ev || cJSON_IsNull(ev))
        return stc_errorf(STC_ERR_USAGE, "%s: neither an evaluator ({\"type\": ...} or a list of them) nor a training "
                          "config with an \"evaluator\" key", path);
    *spec = ev;
    return 0;
}

int stc_cmd_eval(int argc, char **argv)
{
    const char *model_dir = NULL, *spec_path = NULL, *output_dir = NULL, *json_out = NULL;
    const stc_opt opts[] = {
        {"model", STC_OPT_STRING, &model_dir, "Sentence Transformers model directory (required)"},
        {"evaluator", STC_OPT_STRING, &spec_path,
         "JSON: an evaluator object, a list of them, or a training config with \"evaluator\" (required)"},
        {"output-dir", STC_OPT_STRING, &output_dir, "write the evaluators' CSV files under DIR/eval (as the trainer)"},
        {"json", STC_OPT_STRING, &json_out, "also write the metrics JSON to this file"},
    };
    int rc = stc_args_parse("eval", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]));
    if (rc == 1)
        return 0;
    stc_comm comm = {.rank = 0, .world = 1};
    int use_mpi = 0;
    if (rc)
        return stc_cmd_ranks_leave(&comm, use_mpi, rc);
    if (!model_dir || !spec_path)
        return stc_cmd_ranks_leave(&comm, use_mpi,
                                   stc_errorf(STC_ERR_USAGE, "stc eval: --model and --evaluator are required "
                                              "(see stc eval --help)"));
    /* Every rank encodes its slice of each text list; all return the same
     * metrics, and rank 0 prints and writes them. */
    if ((rc = stc_cmd_ranks_join(&comm, &use_mpi, &argc, &argv)))
        return stc_cmd_ranks_leave(&comm, use_mpi, rc);

    cJSON *root = NULL;
    const cJSON *spec = NULL;
    stc_evaluator *ev = NULL;
    char *csv_dir = NULL, *json = NULL;
    stc_metrics metrics;
    stc_metrics_init(&metrics);
    /* The spec and its files first: a bad key or file fails before the
     * model loads. */
    if (!(rc = stc_json_load(spec_path, &root)) && !(rc = find_spec(root, spec_path, &spec)))
        rc = stc_evaluator_create(&ev, spec, spec_path);
    stc_st_model model;
    int model_loaded = 0;
    if (!rc && !(rc = stc_st_model_load(&model, model_dir)))
        model_loaded = 1;
    if (!rc && output_dir && !(csv_dir = stc_path_join(output_dir, "eval")))
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = stc_evaluator_run(ev, &model, &comm, csv_dir, -1.0, -1, &metrics);
    stc_cmd_rank_failed(&comm, use_mpi, rc);
    if (!rc && comm.rank == 0) {
        if (!(json = stc_metrics_to_json(&metrics)))
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
        else if (printf("%s\n", json) < 0 || fflush(stdout) != 0)
            rc = stc_errorf(STC_ERR_IO, "stc eval: writing the metrics to stdout failed");
        if (!rc && json_out) {
            size_t len = strlen(json);
            json[len] = '\n'; /* the NUL becomes the final newline */
            rc = stc_write_file_atomic(json_out, json, len + 1);
        }
    }
    free(json);
    free(csv_dir);
    stc_metrics_free(&metrics);
    stc_evaluator_free(ev);
    if (model_loaded)
        stc_st_model_free(&model);
    cJSON_Delete(root);
    return stc_cmd_ranks_leave(&comm, use_mpi, rc);
}
