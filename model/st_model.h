/*
 * A Sentence Transformers model directory: modules.json and the modules it
 * lists (Transformer (BERT), Pooling, Dense, Normalize), the tokenizer,
 * sentence_bert_config.json and config_sentence_transformers.json (prompts,
 * default_prompt_name, similarity_fn_name).
 *
 * Parameters are registered under the names Sentence Transformers'
 * model.named_parameters() gives ("0.auto_model.encoder.layer.0...",
 * "2.linear.weight"), all in one slab (model/params.h).
 */
#ifndef STC_MODEL_ST_MODEL_H
#define STC_MODEL_ST_MODEL_H

#include "data/tokenizer.h"
#include "model/bert.h"
#include "model/dense.h"
#include "model/params.h"
#include "model/pooling.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    STC_MODULE_TRANSFORMER,
    STC_MODULE_POOLING,
    STC_MODULE_DENSE,
    STC_MODULE_NORMALIZE
} stc_module_kind;

typedef struct {
    stc_module_kind kind;
    char *name;        /* modules.json "name" ("0", "1", ...) */
    char *path;        /* modules.json "path", relative to the model dir ("" = root) */
    char *type;        /* modules.json "type", e.g. "sentence_transformers.models.Pooling" */
    stc_pooling pooling; /* kind == STC_MODULE_POOLING */
    stc_dense dense;     /* kind == STC_MODULE_DENSE */
} stc_module;

typedef struct {
    char *dir;
    stc_module *modules;  /* in modules.json order; modules[0] is the Transformer */
    int n_modules;
    stc_bert bert;        /* the Transformer module's encoder */
    stc_param_table params;
    stc_tokenizer *tokenizer;
    int max_seq_length;   /* sentence_bert_config.json, clamped to max_position_embeddings */
    int do_lower_case;
    int pooling_module;   /* index of the Pooling module */
    int dim;              /* sentence embedding dimension (after Dense modules) */
    int n_prompts;
    char **prompt_names, **prompt_texts;
    char *default_prompt_name;  /* NULL if none */
    char *similarity_fn_name;   /* "cosine" unless the config says otherwise */
} stc_st_model;

/* Loads the model directory (config, tokenizer and weights). Errors name the
 * file and key or tensor at fault. */
int stc_st_model_load(stc_st_model *m, const char *dir);
void stc_st_model_free(stc_st_model *m);

/* The prompt text registered under name, or NULL. */
const char *stc_st_model_prompt(const stc_st_model *m, const char *name);

#ifdef __cplusplus
}
#endif

#endif
