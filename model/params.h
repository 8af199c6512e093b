/*
 * Parameter registry: every trainable tensor of a model, under the name that
 * Sentence Transformers' model.named_parameters() gives it (learning_rate_mapping
 * patterns and checkpoints use these names), all carved from one float32 slab.
 *
 * Modules register their tensors first (stc_params_add), then the slab is
 * allocated once (stc_params_alloc) and modules fetch their pointers
 * (stc_params_data). Registration order is slab order, so a module can make
 * tensors that one kernel reads together (BERT's query/key/value) adjacent.
 */
#ifndef STC_MODEL_PARAMS_H
#define STC_MODEL_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { STC_PARAM_MAX_DIMS = 4 };

typedef struct {
    char *name;        /* ST name, e.g. "0.auto_model.encoder.layer.0.attention.self.query.weight" */
    char *file_key;    /* key in its module's safetensors file, e.g. "encoder.layer.0.attention.self.query.weight" */
    int module_idx;    /* index of the owning module in modules.json */
    int ndim;
    int64_t shape[STC_PARAM_MAX_DIMS];
    size_t count;      /* number of elements */
    size_t offset;     /* first element in the slab */
    int optional;      /* 1: may be absent from the file (zero-filled, e.g. BERT's unused pooler) */
} stc_param;

typedef struct {
    stc_param *params; /* in registration (= slab) order */
    int n, cap;
    float *slab;       /* all parameters, float32; NULL until stc_params_alloc */
    size_t total;      /* elements in the slab */
} stc_param_table;

void stc_params_init(stc_param_table *t);
void stc_params_free(stc_param_table *t);

/* Registers a tensor; returns its index (>= 0) or -1 with an error recorded. */
int stc_params_add(stc_param_table *t, const char *name, const char *file_key, int module_idx,
                   int ndim, const int64_t *shape, int optional);

/* Allocates the slab (zeroed) once all tensors are registered. */
int stc_params_alloc(stc_param_table *t);

/* Pointer to tensor idx's data (slab must be allocated). */
float *stc_params_data(const stc_param_table *t, int idx);

/* Index of the tensor with this ST name, or -1. */
int stc_params_find(const stc_param_table *t, const char *name);

#ifdef __cplusplus
}
#endif

#endif
