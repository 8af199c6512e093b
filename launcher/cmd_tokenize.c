/*
 * `stc tokenize`: one line per input text with the JSON array of token ids
 * the model sees (special tokens added, truncated to max_seq_length), with
 * the model's own loader deciding tokenizer and max_seq_length, so what it
 * prints is what encode and train feed the model. Router models: --task
 * picks the route whose tokenizer is used.
 */
#include "data/text_input.h"
#include "launcher/args.h"
#include "launcher/commands.h"
#include "model/st_model.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>

int stc_cmd_tokenize(int argc, char **argv)
{
    const char *model_dir = NULL, *input = NULL, *text_field = "text", *task = NULL;
    int max_seq_length = 0;
    const stc_opt opts[] = {
        {"model", STC_OPT_STRING, &model_dir, "Sentence Transformers model directory (required)"},
        {"input", STC_OPT_STRING, &input, "texts: a text file (one per line) or .jsonl (required)"},
        {"text-field", STC_OPT_STRING, &text_field, "JSONL field holding the text (default: text)"},
        {"max-seq-length", STC_OPT_INT, &max_seq_length, "tokens per text, special tokens included (default: the model's)"},
        {"task", STC_OPT_STRING, &task, "Router models: the route's task, e.g. query | document (default: the default route)"},
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
    stc_st_model model;
    if ((rc = stc_st_model_load(&model, model_dir)))
        goto fail;
    int route;
    if ((rc = stc_st_model_route_index(&model, task, &route))) {
        stc_error_prefix(rc, "stc tokenize: %s", model_dir);
        stc_st_model_free(&model);
        goto fail;
    }
    const stc_st_model *view = stc_st_model_route(&model, route);
    int L = max_seq_length > 0 ? max_seq_length : view->max_seq_length;
    if (L < 2) {
        rc = stc_errorf(STC_ERR_USAGE, "stc tokenize: --max-seq-length must be at least 2");
        stc_st_model_free(&model);
        goto fail;
    }
    stc_texts texts;
    if ((rc = stc_texts_load(&texts, input, text_field))) {
        stc_st_model_free(&model);
        goto fail;
    }
    int32_t *ids = stc_malloc(sizeof(int32_t) * (size_t)L, "token ids");
    long invalid = 0;
    if (!ids)
        rc = STC_ERR_NOMEM;
    for (size_t i = 0; !rc && i < texts.n; i++) {
        int n = 0;
        if ((rc = stc_tokenizer_encode(view->tokenizer, texts.texts[i], texts.lens[i], L, ids, NULL, &n, NULL,
                                       &invalid))) {
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
    stc_st_model_free(&model);
fail:
    if (rc)
        fprintf(stderr, "stc: error: %s\n", stc_error_message());
    return rc;
}
