/* Training forward and backward of the BERT encoder (see bert_train.h). */
#include "model/bert_train.h"
#include "kernels/dropout.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

/* Dropout sites of one pass: every (layer, place) draws its own stream.
 * SITE_ATTN_PROBS is the attention probabilities' dropout inside
 * attention_forward/backward, whose counter is the att layout's offset. */
enum { SITE_EMB = 0, SITE_ATTN_OUT = 1, SITE_FFN_OUT = 2, SITE_ATTN_PROBS = 3, SITES_PER_LAYER = 4 };

static uint64_t site_seed(stc_bert_dropout d, int layer, int place)
{
    return stc_dropout_site_seed(d.seed, 0, 0, 1 + layer * SITES_PER_LAYER + place);
}

int stc_bert_train_acts_alloc(stc_bert_train_acts *a, const stc_bert_config *cfg, int max_tokens, int max_len)
{
    memset(a, 0, sizeof *a);
    size_t T = (size_t)max_tokens, C = (size_t)cfg->hidden_size, I = (size_t)cfg->intermediate_size;
    size_t H = (size_t)cfg->num_attention_heads, L = (size_t)cfg->num_hidden_layers;
    /* Sequences of at most max_len tokens: sum of L_b^2 <= T * max_len. */
    size_t att = H * T * (size_t)max_len;
    size_t fwd_scratch = stc_attention_scratch_floats(max_len);
    size_t bwd_scratch = stc_attention_backward_scratch_floats(max_len);
    size_t per_layer = T * C * 5 + T * 3 * C + att + T * I * 2 + 4 * T;
    size_t total = T * C + 2 * T + L * per_layer + T * C /* out */
                 + 3 * T * C + 3 * T * C + T * I /* backward */
                 + (fwd_scratch > bwd_scratch ? fwd_scratch : bwd_scratch);
    a->layers = stc_calloc(L, sizeof *a->layers, "layer activations");
    a->slab = stc_malloc(sizeof(float) * total, "training activations");
    if (!a->layers || !a->slab) {
        stc_bert_train_acts_free(a);
        return STC_ERR_NOMEM;
    }
    a->slab_floats = total;
    a->max_tokens = max_tokens;
    a->max_len = max_len;
    a->max_att = att;
    float *p = a->slab;
#define TAKE(dst, n) do { (dst) = p; p += (n); } while (0)
    TAKE(a->emb_sum, T * C);
    TAKE(a->emb_mean, T);
    TAKE(a->emb_rstd, T);
    for (size_t l = 0; l < L; l++) {
        stc_bert_layer_acts *la = &a->layers[l];
        TAKE(la->x_in, T * C);
        TAKE(la->qkv, 3 * T * C);
        TAKE(la->att, att);
        TAKE(la->ctx, T * C);
        TAKE(la->res1, T * C);
        TAKE(la->ln1_mean, T);
        TAKE(la->ln1_rstd, T);
        TAKE(la->h, T * C);
        TAKE(la->fc_pre, T * I);
        TAKE(la->fc_act, T * I);
        TAKE(la->res2, T * C);
        TAKE(la->ln2_mean, T);
        TAKE(la->ln2_rstd, T);
    }
    TAKE(a->out, T * C);
    TAKE(a->d_x, T * C);
    TAKE(a->d_h, T * C);
    TAKE(a->d_tmp, T * C);
    TAKE(a->d_qkv, 3 * T * C);
    TAKE(a->d_fc, T * I);
    TAKE(a->scratch, fwd_scratch > bwd_scratch ? fwd_scratch : bwd_scratch);
#undef TAKE
    return 0;
}

void stc_bert_train_acts_free(stc_bert_train_acts *a)
{
    free(a->layers);
    free(a->slab);
    memset(a, 0, sizeof *a);
}

void stc_bert_train_forward(const stc_bert *m, const stc_param_table *t, const stc_ops *ops,
                            stc_bert_train_acts *a, const int32_t *ids, const int32_t *pos,
                            const int32_t *type_ids, const int *cu_seqlens, int B, stc_bert_dropout drop)
{
    const stc_bert_config *cfg = &m->cfg;
    int T = cu_seqlens[B], C = cfg->hidden_size, I = cfg->intermediate_size, H = cfg->num_attention_heads;
    int L = cfg->num_hidden_layers;
    float eps = cfg->layer_norm_eps, ph = drop.seed ? cfg->hidden_dropout_prob : 0.0f;
    float pa = drop.seed ? cfg->attention_probs_dropout_prob : 0.0f;
    size_t TC = (size_t)T * C;
#define P(idx) stc_params_data(t, (idx))
    ops->embeddings_forward(a->emb_sum, ids, pos, type_ids, P(m->wte), P(m->wpe), P(m->wtt), T, C);
    float *x0 = a->layers[0].x_in;
    ops->layernorm_forward(x0, a->emb_mean, a->emb_rstd, a->emb_sum, P(m->emb_ln_w), P(m->emb_ln_b), T, C, eps);
    stc_dropout_forward(x0, x0, TC, ph, site_seed(drop, -1, SITE_EMB), 0);
    for (int l = 0; l < L; l++) {
        const stc_bert_layer_params *p = &m->layers[l];
        stc_bert_layer_acts *la = &a->layers[l];
        float *next = l + 1 < L ? a->layers[l + 1].x_in : a->out;
        ops->matmul_forward(la->qkv, la->x_in, P(p->qkv_w), P(p->qkv_b), T, C, 3 * C);
        ops->attention_forward(la->ctx, la->att, la->qkv, cu_seqlens, B, C, H, pa,
                               site_seed(drop, l, SITE_ATTN_PROBS), a->scratch);
        ops->matmul_forward(la->res1, la->ctx, P(p->attn_out_w), P(p->attn_out_b), T, C, C);
        stc_dropout_forward(la->res1, la->res1, TC, ph, site_seed(drop, l, SITE_ATTN_OUT), 0);
        ops->residual_forward(la->res1, la->res1, la->x_in, TC);
        ops->layernorm_forward(la->h, la->ln1_mean, la->ln1_rstd, la->res1, P(p->ln1_w), P(p->ln1_b), T, C, eps);
        ops->matmul_forward(la->fc_pre, la->h, P(p->fc_w), P(p->fc_b), T, C, I);
        ops->activation_forward(la->fc_act, la->fc_pre, (size_t)T * I, cfg->hidden_act);
        ops->matmul_forward(la->res2, la->fc_act, P(p->fc_out_w), P(p->fc_out_b), T, I, C);
        stc_dropout_forward(la->res2, la->res2, TC, ph, site_seed(drop, l, SITE_FFN_OUT), 0);
        ops->residual_forward(la->res2, la->res2, la->h, TC);
        ops->layernorm_forward(next, la->ln2_mean, la->ln2_rstd, la->res2, P(p->ln2_w), P(p->ln2_b), T, C, eps);
    }
#undef P
}

void stc_bert_train_backward(const stc_bert *m, const stc_param_table *t, const stc_ops *ops,
                             stc_bert_train_acts *a, float *grads, float *d_out, const int32_t *ids,
                             const int32_t *pos, const int32_t *type_ids, const int *cu_seqlens, int B,
                             stc_bert_dropout drop)
{
    const stc_bert_config *cfg = &m->cfg;
    int T = cu_seqlens[B], C = cfg->hidden_size, I = cfg->intermediate_size, H = cfg->num_attention_heads;
    int L = cfg->num_hidden_layers;
    float ph = drop.seed ? cfg->hidden_dropout_prob : 0.0f;
    float pa = drop.seed ? cfg->attention_probs_dropout_prob : 0.0f;
    size_t TC = (size_t)T * C;
#define P(idx) stc_params_data(t, (idx))
#define G(idx) (grads + t->params[(idx)].offset)
    float *dx = a->d_x, *dh = a->d_h, *dt = a->d_tmp;
    memcpy(dx, d_out, sizeof(float) * TC);
    for (int l = L - 1; l >= 0; l--) {
        const stc_bert_layer_params *p = &m->layers[l];
        stc_bert_layer_acts *la = &a->layers[l];
        /* LayerNorm 2: dx is the gradient of its output. */
        ops->layernorm_backward(dt, G(p->ln2_w), G(p->ln2_b), dx, la->res2, P(p->ln2_w), la->ln2_mean, la->ln2_rstd, T, C);
        /* res2 = h + dropout(fc_act W2 + b2) */
        memcpy(dh, dt, sizeof(float) * TC);
        stc_dropout_backward(dt, dt, TC, ph, site_seed(drop, l, SITE_FFN_OUT), 0);
        ops->matmul_backward(a->d_fc, G(p->fc_out_w), G(p->fc_out_b), dt, la->fc_act, P(p->fc_out_w), T, I, C);
        ops->activation_backward(a->d_fc, a->d_fc, la->fc_pre, (size_t)T * I, cfg->hidden_act);
        ops->matmul_backward(dt, G(p->fc_w), G(p->fc_b), a->d_fc, la->h, P(p->fc_w), T, C, I);
        ops->residual_forward(dh, dh, dt, TC);
        /* LayerNorm 1 */
        ops->layernorm_backward(dt, G(p->ln1_w), G(p->ln1_b), dh, la->res1, P(p->ln1_w), la->ln1_mean, la->ln1_rstd, T, C);
        /* res1 = x_in + dropout(ctx Wo + bo) */
        memcpy(dx, dt, sizeof(float) * TC);
        stc_dropout_backward(dt, dt, TC, ph, site_seed(drop, l, SITE_ATTN_OUT), 0);
        ops->matmul_backward(dh, G(p->attn_out_w), G(p->attn_out_b), dt, la->ctx, P(p->attn_out_w), T, C, C);
        ops->attention_backward(a->d_qkv, dh, la->qkv, la->att, cu_seqlens, B, C, H, pa,
                                site_seed(drop, l, SITE_ATTN_PROBS), a->scratch);
        ops->matmul_backward(dt, G(p->qkv_w), G(p->qkv_b), a->d_qkv, la->x_in, P(p->qkv_w), T, C, 3 * C);
        ops->residual_forward(dx, dx, dt, TC);
    }
    /* Embeddings: x0 = dropout(LayerNorm(word + type + position)). */
    stc_dropout_backward(dx, dx, TC, ph, site_seed(drop, -1, SITE_EMB), 0);
    ops->layernorm_backward(dt, G(m->emb_ln_w), G(m->emb_ln_b), dx, a->emb_sum, P(m->emb_ln_w), a->emb_mean, a->emb_rstd, T, C);
    ops->embeddings_backward(G(m->wte), G(m->wpe), G(m->wtt), dt, ids, pos, type_ids, T, C);
#undef G
#undef P
}
