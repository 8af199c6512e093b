/* Sentence Transformers' Dense module (see dense.h). */
#include "model/dense.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int stc_activation_from_torch_name(const char *name, stc_activation *out)
{
    static const struct { const char *cls; stc_activation act; } table[] = {
        {"Tanh", STC_ACT_TANH},       {"Identity", STC_ACT_IDENTITY}, {"ReLU", STC_ACT_RELU},
        {"GELU", STC_ACT_GELU},       {"Sigmoid", STC_ACT_SIGMOID},
    };
    const char *dot = strrchr(name, '.');
    const char *cls = dot ? dot + 1 : name;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!strcmp(cls, table[i].cls)) {
            *out = table[i].act;
            return 0;
        }
    }
    return stc_errorf(STC_ERR_DATA, "unsupported activation function \"%s\" (supported: Tanh, Identity, ReLU, GELU, Sigmoid)",
                      name);
}

int stc_dense_load_config(stc_dense *d, const char *dir, stc_param_table *t, int module_idx)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%d.", module_idx);
    return stc_dense_load_config_named(d, dir, t, module_idx, prefix);
}

int stc_dense_load_config_named(stc_dense *d, const char *dir, stc_param_table *t, int module_idx,
                                const char *prefix)
{
    char *path = stc_path_join(dir, "config.json");
    if (!path)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    cJSON *root;
    int rc = stc_json_load(path, &root);
    if (rc) {
        free(path);
        return rc;
    }
    memset(d, 0, sizeof *d);
    d->has_bias = 1;
    const char *act = "torch.nn.modules.activation.Tanh";
    if ((rc = stc_json_get_int(root, "in_features", path, &d->in_features)) ||
        (rc = stc_json_get_int(root, "out_features", path, &d->out_features)) ||
        (rc = stc_json_get_bool(root, "bias", path, &d->has_bias)) ||
        (rc = stc_json_get_string(root, "activation_function", path, &act)))
        goto out;
    if (d->in_features <= 0 || d->out_features <= 0) {
        rc = stc_errorf(STC_ERR_DATA, "%s: in_features and out_features must be positive integers", path);
        goto out;
    }
    if ((rc = stc_activation_from_torch_name(act, &d->act))) {
        stc_error_prefix(rc, "%s", path);
        goto out;
    }
    char name[256];
    int64_t wshape[2] = {d->out_features, d->in_features}, bshape[1] = {d->out_features};
    snprintf(name, sizeof name, "%slinear.weight", prefix);
    if ((d->w = stc_params_add(t, name, "linear.weight", module_idx, 2, wshape, 0)) < 0) {
        rc = STC_ERR_INTERNAL;
        goto out;
    }
    d->b = -1;
    if (d->has_bias) {
        snprintf(name, sizeof name, "%slinear.bias", prefix);
        if ((d->b = stc_params_add(t, name, "linear.bias", module_idx, 1, bshape, 0)) < 0)
            rc = STC_ERR_INTERNAL;
    }
out:
    cJSON_Delete(root);
    free(path);
    return rc;
}

void stc_dense_forward(const stc_dense *d, const stc_param_table *t, const stc_ops *ops, float *out,
                       const float *inp, int B)
{
    ops->matmul_forward(out, inp, stc_params_data(t, d->w), d->b >= 0 ? stc_params_data(t, d->b) : NULL,
                        B, d->in_features, d->out_features);
    ops->activation_forward(out, out, (size_t)B * d->out_features, d->act);
}
