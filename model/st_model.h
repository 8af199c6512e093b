/*
 * A Sentence Transformers model directory: modules.json and the modules it
 * lists (Transformer (BERT), Pooling, Dense, Normalize, or a Router of
 * routes made of those as module 0), the tokenizer,
 * sentence_bert_config.json and config_sentence_transformers.json (prompts,
 * default_prompt_name, similarity_fn_name).
 *
 * Parameters are registered under the names Sentence Transformers'
 * model.named_parameters() gives ("0.auto_model.encoder.layer.0...",
 * "2.linear.weight", in a Router "0.sub_modules.query.0.auto_model...."),
 * in that order, all in one slab (model/params.h).
 *
 * Routes: a model whose module 0 is a Router (model/router.h) runs one
 * pipeline per route: the route's modules, then the top-level modules after
 * the Router. stc_st_model_route() gives a route's pipeline as an
 * stc_st_model "view" that the tokenizer, the encoder and the training
 * passes (st_train.h) take like any model. A model without a Router has one
 * route, route 0, which is the model itself, for every task.
 */
#ifndef STC_MODEL_ST_MODEL_H
#define STC_MODEL_ST_MODEL_H

#include "data/tokenizer.h"
#include "model/bert.h"
#include "model/dense.h"
#include "model/params.h"
#include "model/pooling.h"
#include "model/router.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    STC_MODULE_TRANSFORMER,
    STC_MODULE_POOLING,
    STC_MODULE_DENSE,
    STC_MODULE_NORMALIZE,
    STC_MODULE_ROUTER    /* only as module 0; its routes hold the others */
} stc_module_kind;

typedef struct {
    stc_module_kind kind;
    char *name;        /* modules.json "name" ("0", "1", ...); in a route, the module id ("query_0_Transformer") */
    char *path;        /* modules.json "path", relative to the model dir ("" = root); in a route, the id's folder */
    char *type;        /* modules.json "type", e.g. "sentence_transformers.models.Pooling" */
    stc_pooling pooling; /* kind == STC_MODULE_POOLING */
    stc_dense dense;     /* kind == STC_MODULE_DENSE */
} stc_module;

typedef struct stc_st_router stc_st_router;

typedef struct {
    char *dir;
    stc_module *modules;  /* the pipeline in run order; modules[0] is the Transformer */
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
    /* Router models: the routes and the modules.json entries; NULL
     * otherwise. The pipeline fields above (modules, n_modules, bert,
     * tokenizer, max_seq_length, do_lower_case, pooling_module, dim) then
     * are those of the default route (route 0 when the Router has none), so
     * code that knows nothing of routes runs the model as Python's encode()
     * without a task does. A route view has them for its route and shares
     * dir, params, prompts and router with its model. */
    stc_st_router *router;
    int is_view;          /* 1: a route view, owned by its model (stc_st_model_free ignores it) */
} stc_st_model;

/* A module listed in router_config.json's "types", as loaded. */
typedef struct {
    stc_module mod;            /* name = the id, path = its folder relative to the model dir */
    int loaded;                /* 0: no route lists it (Python loads it and never runs it; stc skips it) */
    int module_idx;            /* its parameters' module_idx: n_top + its index in "types" */
    stc_bert bert;             /* Transformer only: the encoder, its tokenizer and settings */
    stc_tokenizer *tokenizer;
    int max_seq_length, do_lower_case;
} stc_st_routed_module;

/* The Router of a model (module 0). */
struct stc_st_router {
    stc_router_config cfg;     /* router_config.json */
    stc_module *top;           /* [n_top] modules.json entries; top[0] is the Router */
    int n_top;
    stc_st_routed_module *subs; /* [cfg.n_entries] in "types" order */
    stc_st_model *views;       /* [cfg.n_routes] each route's pipeline */
    size_t *param_offset;      /* [cfg.n_routes] first slab element of the parameters the route registered */
    size_t *param_count;       /* [cfg.n_routes] their number of elements */
};

/* Loads the model directory (config, tokenizer and weights). Errors name the
 * file and key or tensor at fault. */
int stc_st_model_load(stc_st_model *m, const char *dir);

/* Replaces the loaded model's weights with those saved in dir, a folder of
 * the same layout (a checkpoint of it): every module's model.safetensors,
 * each tensor's name and shape checked. */
int stc_st_model_load_weights(stc_st_model *m, const char *dir);
void stc_st_model_free(stc_st_model *m);

/* The prompt text registered under name, or NULL. */
const char *stc_st_model_prompt(const stc_st_model *m, const char *name);

/* Number of routes: the Router's, or 1 for a model without a Router. */
int stc_st_model_n_routes(const stc_st_model *m);

/* The route that texts of this task take, as Python's Router resolves it
 * (model/router.h): task NULL = no task, i.e. the default route; an unknown
 * task is an error naming it and the routes. A model without a Router maps
 * every task to route 0 (not an error: Python ignores the task there). */
int stc_st_model_route_index(const stc_st_model *m, const char *task, int *route);

/* Route `route`'s pipeline, for the tokenizer, stc_encoder_init and
 * stc_st_train_*; the model itself for a model without a Router. Its params
 * table IS the model's (same slab, same offsets), so parameter gradients
 * of stc_st_train_backward(view, ...) go into a buffer laid out like the
 * model's m->params.slab, with no offset to apply. Owned by m. */
const stc_st_model *stc_st_model_route(const stc_st_model *m, int route);

/* The route's key ("query"), or NULL for a model without a Router. */
const char *stc_st_model_route_name(const stc_st_model *m, int route);

/* The slab elements [*offset, *offset + *count) holding the parameters of
 * route `route`'s own modules (the whole slab without a Router). A module
 * that several routes list belongs to the first; the top-level modules after
 * the Router (shared by every route) lie after all routes. */
void stc_st_model_route_params(const stc_st_model *m, int route, size_t *offset, size_t *count);

#ifdef __cplusplus
}
#endif

#endif
