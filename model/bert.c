/* The BERT encoder on packed batches (see bert.h). */
#include "model/bert.h"
#include "util/error.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int stc_bert_config_load(stc_bert_config *cfg, const char *path)
{
    cJSON *root;
    int rc = stc_json_load(path, &root);
    if (rc)
        return rc;
    memset(cfg, 0, sizeof *cfg);
    cfg->type_vocab_size = 2;
    cfg->max_position_embeddings = 512;
    double eps = 1e-12, hd = 0.1, ad = 0.1;
    const char *model_type = NULL, *act = "gelu", *pos_type = "absolute";
    if ((rc = stc_json_get_string(root, "model_type", path, &model_type)))
        goto out;
    if (!model_type || strcmp(model_type, "bert") != 0) {
        const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
        const char *a0 = (cJSON_IsArray(arch) && cJSON_IsString(cJSON_GetArrayItem(arch, 0)))
                             ? cJSON_GetArrayItem(arch, 0)->valuestring : "?";
        rc = stc_errorf(STC_ERR_DATA,
                        "%s: unsupported architecture: model_type \"%s\" (architectures[0] \"%s\"); "
                        "stc supports BERT-family encoders (model_type \"bert\")",
                        path, model_type ? model_type : "(missing)", a0);
        goto out;
    }
    if ((rc = stc_json_get_int(root, "vocab_size", path, &cfg->vocab_size)) ||
        (rc = stc_json_get_int(root, "hidden_size", path, &cfg->hidden_size)) ||
        (rc = stc_json_get_int(root, "num_hidden_layers", path, &cfg->num_hidden_layers)) ||
        (rc = stc_json_get_int(root, "num_attention_heads", path, &cfg->num_attention_heads)) ||
        (rc = stc_json_get_int(root, "intermediate_size", path, &cfg->intermediate_size)) ||
        (rc = stc_json_get_int(root, "max_position_embeddings", path, &cfg->max_position_embeddings)) ||
        (rc = stc_json_get_int(root, "type_vocab_size", path, &cfg->type_vocab_size)) ||
        (rc = stc_json_get_double(root, "layer_norm_eps", path, &eps)) ||
        (rc = stc_json_get_double(root, "hidden_dropout_prob", path, &hd)) ||
        (rc = stc_json_get_double(root, "attention_probs_dropout_prob", path, &ad)) ||
        (rc = stc_json_get_string(root, "hidden_act", path, &act)) ||
        (rc = stc_json_get_string(root, "position_embedding_type", path, &pos_type)))
        goto out;
    if (strcmp(act, "gelu") != 0) {
        rc = stc_errorf(STC_ERR_DATA, "%s: hidden_act \"%s\" is not supported (only \"gelu\", erf form)", path, act);
        goto out;
    }
    if (strcmp(pos_type, "absolute") != 0) {
        rc = stc_errorf(STC_ERR_DATA, "%s: position_embedding_type \"%s\" is not supported (only \"absolute\")",
                        path, pos_type);
        goto out;
    }
    if (cfg->vocab_size <= 0 || cfg->hidden_size <= 0 || cfg->num_hidden_layers <= 0 ||
        cfg->num_attention_heads <= 0 || cfg->intermediate_size <= 0 ||
        cfg->max_position_embeddings <= 0 || cfg->type_vocab_size <= 0) {
        rc = stc_errorf(STC_ERR_DATA, "%s: vocab_size, hidden_size, num_hidden_layers, num_attention_heads, "
                        "intermediate_size, max_position_embeddings and type_vocab_size must be positive", path);
        goto out;
    }
    if (cfg->hidden_size % cfg->num_attention_heads != 0) {
        rc = stc_errorf(STC_ERR_DATA, "%s: hidden_size %d is not a multiple of num_attention_heads %d", path,
                        cfg->hidden_size, cfg->num_attention_heads);
        goto out;
    }
    if (!(hd >= 0.0 && hd < 1.0) || !(ad >= 0.0 && ad < 1.0)) {
        rc = stc_errorf(STC_ERR_DATA, "%s: hidden_dropout_prob (%g) and attention_probs_dropout_prob (%g) must be in [0, 1)",
                        path, hd, ad);
        goto out;
    }
    cfg->layer_norm_eps = (float)eps;
    cfg->hidden_act = STC_ACT_GELU;
    cfg->hidden_dropout_prob = (float)hd;
    cfg->attention_probs_dropout_prob = (float)ad;
out:
    cJSON_Delete(root);
    return rc;
}

/* Registers prefix+key under file key `key`; returns the index or -1. */
static int reg(stc_param_table *t, int module_idx, const char *prefix, const char *key, int ndim,
               int64_t d0, int64_t d1, int optional)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", prefix, key);
    int64_t shape[2] = {d0, d1};
    return stc_params_add(t, name, key, module_idx, ndim, shape, optional);
}

int stc_bert_register(stc_bert *m, const stc_bert_config *cfg, stc_param_table *t, int module_idx,
                      const char *prefix)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    int C = cfg->hidden_size, I = cfg->intermediate_size;
    m->layers = stc_calloc((size_t)cfg->num_hidden_layers, sizeof *m->layers, "BERT layers");
    if (!m->layers)
        return STC_ERR_NOMEM;
#define REG(dst, key, nd, a, b, opt)                                                                    \
    do {                                                                                                \
        if (((dst) = reg(t, module_idx, prefix, key, nd, a, b, opt)) < 0)                               \
            return STC_ERR_INTERNAL;                                                                    \
    } while (0)
    REG(m->wte, "embeddings.word_embeddings.weight", 2, cfg->vocab_size, C, 0);
    REG(m->wpe, "embeddings.position_embeddings.weight", 2, cfg->max_position_embeddings, C, 0);
    REG(m->wtt, "embeddings.token_type_embeddings.weight", 2, cfg->type_vocab_size, C, 0);
    REG(m->emb_ln_w, "embeddings.LayerNorm.weight", 1, C, 0, 0);
    REG(m->emb_ln_b, "embeddings.LayerNorm.bias", 1, C, 0, 0);
    for (int l = 0; l < cfg->num_hidden_layers; l++) {
        stc_bert_layer_params *p = &m->layers[l];
        char k[128];
        int dummy;
        /* query, key, value weights back to back, then their biases: one
         * (3C, C) matmul computes all three. */
        static const char *const qkv[3] = {"query", "key", "value"};
        for (int j = 0; j < 3; j++) {
            snprintf(k, sizeof k, "encoder.layer.%d.attention.self.%s.weight", l, qkv[j]);
            REG(dummy, k, 2, C, C, 0);
            if (j == 0)
                p->qkv_w = dummy;
        }
        for (int j = 0; j < 3; j++) {
            snprintf(k, sizeof k, "encoder.layer.%d.attention.self.%s.bias", l, qkv[j]);
            REG(dummy, k, 1, C, 0, 0);
            if (j == 0)
                p->qkv_b = dummy;
        }
        snprintf(k, sizeof k, "encoder.layer.%d.attention.output.dense.weight", l);
        REG(p->attn_out_w, k, 2, C, C, 0);
        snprintf(k, sizeof k, "encoder.layer.%d.attention.output.dense.bias", l);
        REG(p->attn_out_b, k, 1, C, 0, 0);
        snprintf(k, sizeof k, "encoder.layer.%d.attention.output.LayerNorm.weight", l);
        REG(p->ln1_w, k, 1, C, 0, 0);
        snprintf(k, sizeof k, "encoder.layer.%d.attention.output.LayerNorm.bias", l);
        REG(p->ln1_b, k, 1, C, 0, 0);
        snprintf(k, sizeof k, "encoder.layer.%d.intermediate.dense.weight", l);
        REG(p->fc_w, k, 2, I, C, 0);
        snprintf(k, sizeof k, "encoder.layer.%d.intermediate.dense.bias", l);
        REG(p->fc_b, k, 1, I, 0, 0);
        snprintf(k, sizeof k, "encoder.layer.%d.output.dense.weight", l);
        REG(p->fc_out_w, k, 2, C, I, 0);
        snprintf(k, sizeof k, "encoder.layer.%d.output.dense.bias", l);
        REG(p->fc_out_b, k, 1, C, 0, 0);
        snprintf(k, sizeof k, "encoder.layer.%d.output.LayerNorm.weight", l);
        REG(p->ln2_w, k, 1, C, 0, 0);
        snprintf(k, sizeof k, "encoder.layer.%d.output.LayerNorm.bias", l);
        REG(p->ln2_b, k, 1, C, 0, 0);
    }
    /* The pooler is part of BertModel's parameters (ST lists it) but no
     * Sentence Transformers module uses it; some files omit it. */
    REG(m->pooler_w, "pooler.dense.weight", 2, C, C, 1);
    REG(m->pooler_b, "pooler.dense.bias", 1, C, 0, 1);
#undef REG
    return 0;
}

void stc_bert_free(stc_bert *m)
{
    free(m->layers);
    m->layers = NULL;
}

int stc_bert_acts_alloc(stc_bert_acts *acts, const stc_bert_config *cfg, int max_tokens, int max_len)
{
    memset(acts, 0, sizeof *acts);
    size_t T = (size_t)max_tokens, C = (size_t)cfg->hidden_size, I = (size_t)cfg->intermediate_size;
    size_t nx = T * C, nqkv = 3 * T * C, na = T * C, nh = T * C, nf = T * I;
    size_t ns = stc_attention_scratch_floats(max_len);
    float *s = stc_malloc(sizeof(float) * (nx + nqkv + na + nh + nf + ns), "encoder activations");
    if (!s)
        return STC_ERR_NOMEM;
    acts->slab = s;
    acts->max_tokens = max_tokens;
    acts->x = s;
    acts->qkv = acts->x + nx;
    acts->a = acts->qkv + nqkv;
    acts->h = acts->a + na;
    acts->f = acts->h + nh;
    acts->scratch = acts->f + nf;
    return 0;
}

void stc_bert_acts_free(stc_bert_acts *acts)
{
    free(acts->slab);
    memset(acts, 0, sizeof *acts);
}

void stc_bert_forward(const stc_bert *m, const stc_param_table *t, const stc_ops *ops,
                      stc_bert_acts *acts, const int32_t *ids, const int32_t *pos,
                      const int32_t *type_ids, const int *cu_seqlens, int B)
{
    const stc_bert_config *cfg = &m->cfg;
    int T = cu_seqlens[B], C = cfg->hidden_size, I = cfg->intermediate_size, H = cfg->num_attention_heads;
    float eps = cfg->layer_norm_eps;
#define P(idx) stc_params_data(t, (idx))
    ops->embeddings_forward(acts->x, ids, pos, type_ids, P(m->wte), P(m->wpe), P(m->wtt), T, C);
    ops->layernorm_forward(acts->x, NULL, NULL, acts->x, P(m->emb_ln_w), P(m->emb_ln_b), T, C, eps);
    for (int l = 0; l < cfg->num_hidden_layers; l++) {
        const stc_bert_layer_params *p = &m->layers[l];
        ops->matmul_forward(acts->qkv, acts->x, P(p->qkv_w), P(p->qkv_b), T, C, 3 * C);
        /* Inference: no attention dropout (p = 0). */
        ops->attention_forward(acts->a, NULL, acts->qkv, cu_seqlens, B, C, H, 0.0f, 0, acts->scratch);
        ops->matmul_forward(acts->h, acts->a, P(p->attn_out_w), P(p->attn_out_b), T, C, C);
        ops->residual_forward(acts->h, acts->h, acts->x, (size_t)T * C);
        ops->layernorm_forward(acts->h, NULL, NULL, acts->h, P(p->ln1_w), P(p->ln1_b), T, C, eps);
        ops->matmul_forward(acts->f, acts->h, P(p->fc_w), P(p->fc_b), T, C, I);
        ops->activation_forward(acts->f, acts->f, (size_t)T * I, cfg->hidden_act);
        ops->matmul_forward(acts->a, acts->f, P(p->fc_out_w), P(p->fc_out_b), T, I, C);
        ops->residual_forward(acts->a, acts->a, acts->h, (size_t)T * C);
        ops->layernorm_forward(acts->x, NULL, NULL, acts->a, P(p->ln2_w), P(p->ln2_b), T, C, eps);
    }
#undef P
}
