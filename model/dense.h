/*
 * Sentence Transformers' Dense module: y = act(x W^T + b), applied to the
 * sentence embedding. Parameters are "<idx>.linear.weight" / ".bias", stored
 * in <idx>_Dense/model.safetensors as "linear.weight" / "linear.bias".
 */
#ifndef STC_MODEL_DENSE_H
#define STC_MODEL_DENSE_H

#include "kernels/ops.h"
#include "model/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int in_features, out_features;
    int has_bias;
    stc_activation act;
    int w, b;        /* parameter indices; b = -1 without bias */
} stc_dense;

/* Reads <dir>/config.json and registers the parameters of module module_idx
 * as "<module_idx>.linear.weight" / ".bias". */
int stc_dense_load_config(stc_dense *d, const char *dir, stc_param_table *t, int module_idx);

/* The same under another name prefix: a Dense inside a Router is
 * "0.sub_modules.<route>.<i>.linear.weight". */
int stc_dense_load_config_named(stc_dense *d, const char *dir, stc_param_table *t, int module_idx,
                                const char *prefix);

/* The Python class name of an activation function string, e.g.
 * "torch.nn.modules.activation.Tanh" -> STC_ACT_TANH. */
int stc_activation_from_torch_name(const char *name, stc_activation *out);

/* out[B, out_features] = act(inp[B, in_features] W^T + b) */
void stc_dense_forward(const stc_dense *d, const stc_param_table *t, const stc_ops *ops, float *out,
                       const float *inp, int B);

#ifdef __cplusplus
}
#endif

#endif
