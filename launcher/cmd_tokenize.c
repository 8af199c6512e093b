/*
 * `stc tokenize`: one line per input text with the JSON array of token ids
 * the model sees (special tokens added, truncated to max_seq_length).
 */
#include "data/text_input.h"
#include "launcher/args.h"
#include "launcher/commands.h"
#include "model/st_model.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>

/* The Transformer settings tokenize needs, without loading any weights. */
static int load_tokenizer_settings(const char *dir, int *max_seq_length, int *do_lower_case)
{
    *max_seq_length = 512;
    *do_lower_case = 0;
    int rc = 0;
    char *path = stc_path_join(dir, "sentence_bert_config.json");
    if (path && stc_is_file(path)) {
        cJSON *root;
        if (!(rc = stc_json_load(path, &root))) {
            if (!(rc = stc_json_get_int(root, "max_seq_length", path, max_seq_length)))
                rc = stc_json_get_bool(root, "do_lower_case", path, do_lower_case);
            cJSON_Delete(root);
        }
    }
    free(path);
    /* Never more than the model's positions. */
    path = stc_path_join(dir, "config.json");
    if (!rc && path && stc_is_file(path)) {
        cJSON *root;
        int maxpos = 0;
        if (!(rc = stc_json_load(path, &root))) {
            rc = stc_json_get_int(root, "max_position_embeddings", path, &maxpos);
            cJSON_Delete(root);
        }
        if (!rc && maxpos > 0 && *max_seq_length > maxpos)
            *max_seq_length = maxpos;
    }
    free(path);
    return rc;
}

int stc_cmd_tokenize(int argc, char **argv)
{
    const char *model_dir = NULL, *input = NULL, *text_field = "text";
    int max_seq_length = 0;
    const stc_opt opts[] = {
        {"model", STC_OPT_STRING, &model_dir, "Sentence Transformers model directory (required)"},
        {"input", STC_OPT_STRING, &input, "texts: a text file (one per line) or .jsonl (required)"},
        {"text-field", STC_OPT_STRING, &text_field, "JSONL field holding the text (default: text)"},
        {"max-seq-length", STC_OPT_INT, &max_seq_length, "tokens per text, special tokens included (default: the model's)"},
    };
    int rc = stc_args_parse("tokenize", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]));
    if (rc == 1)
        return 0;
    if (rc)
        goto fail;
    if (!model_dir || !input) {
        rc = stc_errorf(STC_ERR_USAGE, "stc tokenize: --model and --input are required (see stc tokenize --help)");
        goto fail;
    }
    int model_max, lower;
    if ((rc = load_tokenizer_settings(model_dir, &model_max, &lower)))
        goto fail;
    int L = max_seq_length > 0 ? max_seq_length : model_max;
    if (L < 2) {
        rc = stc_errorf(STC_ERR_USAGE, "stc tokenize: --max-seq-length must be at least 2");
        goto fail;
    }
    stc_tokenizer *tok;
    if ((rc = stc_tokenizer_load(&tok, model_dir, lower)))
        goto fail;
    stc_texts texts;
    if ((rc = stc_texts_load(&texts, input, text_field))) {
        stc_tokenizer_free(tok);
        goto fail;
    }
    int32_t *ids = stc_malloc(sizeof(int32_t) * (size_t)L, "token ids");
    long invalid = 0;
    if (!ids)
        rc = STC_ERR_NOMEM;
    for (size_t i = 0; !rc && i < texts.n; i++) {
        int n = 0;
        if ((rc = stc_tokenizer_encode(tok, texts.texts[i], texts.lens[i], L, ids, NULL, &n, NULL, &invalid))) {
            stc_error_prefix(rc, "%s: record %zu", input, i + 1);
            break;
        }
        putchar('[');
        for (int k = 0; k < n; k++)
            printf(k ? ", %d" : "%d", (int)ids[k]);
        fputs("]\n", stdout);
    }
    if (!rc && invalid)
        fprintf(stderr, "stc: warning: %s: %ld invalid UTF-8 sequences replaced by U+FFFD\n", input, invalid);
    if (fflush(stdout) != 0 && !rc)
        rc = stc_errorf(STC_ERR_IO, "writing to standard output failed");
    free(ids);
    stc_texts_free(&texts);
    stc_tokenizer_free(tok);
fail:
    if (rc)
        fprintf(stderr, "stc: error: %s\n", stc_error_message());
    return rc;
}
