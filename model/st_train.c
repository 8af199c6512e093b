/* Training passes through a whole Sentence Transformers model (see st_train.h). */
#include "model/st_train.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

/* Width of module k's output (k > 0). */
static int module_width(const stc_st_model *m, int k, int prev)
{
    const stc_module *mod = &m->modules[k];
    if (mod->kind == STC_MODULE_POOLING)
        return stc_pooling_dim(&mod->pooling);
    if (mod->kind == STC_MODULE_DENSE)
        return mod->dense.out_features;
    return prev;
}

int stc_st_train_acts_alloc(stc_st_train_acts *a, const stc_st_model *m, int max_texts, int max_tokens, int max_len)
{
    memset(a, 0, sizeof *a);
    int rc = stc_bert_train_acts_alloc(&a->bert, &m->bert.cfg, max_tokens, max_len);
    if (rc)
        return rc;
    a->max_texts = max_texts;
    a->n_stages = m->n_modules - m->pooling_module;
    int width = m->bert.cfg.hidden_size;
    a->max_width = width;
    a->stage_in = stc_calloc((size_t)a->n_stages, sizeof(float *), "module activations");
    if (!a->stage_in)
        goto oom;
    for (int s = 0; s < a->n_stages; s++) {
        int k = m->pooling_module + s;
        /* Stage 0 (pooling) reads the token embeddings held by bert.out;
         * later stages keep their input. */
        if (s > 0 && !(a->stage_in[s] = stc_malloc(sizeof(float) * (size_t)max_texts * width, "module activations")))
            goto oom;
        width = module_width(m, k, width);
        a->max_width = width > a->max_width ? width : a->max_width;
    }
    a->emb = stc_malloc(sizeof(float) * (size_t)max_texts * m->dim, "embeddings");
    a->d_a = stc_malloc(sizeof(float) * (size_t)max_texts * a->max_width, "embedding gradients");
    a->d_b = stc_malloc(sizeof(float) * (size_t)max_texts * a->max_width, "embedding gradients");
    a->d_tok = stc_malloc(sizeof(float) * (size_t)max_tokens * m->bert.cfg.hidden_size, "token gradients");
    if (!a->emb || !a->d_a || !a->d_b || !a->d_tok)
        goto oom;
    return 0;
oom:
    stc_st_train_acts_free(a);
    return STC_ERR_NOMEM;
}

void stc_st_train_acts_free(stc_st_train_acts *a)
{
    stc_bert_train_acts_free(&a->bert);
    if (a->stage_in)
        for (int s = 1; s < a->n_stages; s++)
            free(a->stage_in[s]);
    free(a->stage_in);
    free(a->emb);
    free(a->d_a);
    free(a->d_b);
    free(a->d_tok);
    memset(a, 0, sizeof *a);
}

void stc_st_train_forward(const stc_st_model *m, const stc_ops *ops, stc_st_train_acts *a,
                          const stc_token_batch *batch, stc_bert_dropout drop)
{
    int B = batch->B, C = m->bert.cfg.hidden_size;
    stc_bert_train_forward(&m->bert, &m->params, ops, &a->bert, batch->ids, batch->pos, batch->types,
                           batch->cu_seqlens, B, drop);
    int width = C;
    for (int s = 0; s < a->n_stages; s++) {
        int k = m->pooling_module + s;
        const stc_module *mod = &m->modules[k];
        /* Each stage writes the next stage's input, the last one emb. */
        float *dst = s + 1 < a->n_stages ? a->stage_in[s + 1] : a->emb;
        if (mod->kind == STC_MODULE_POOLING) {
            stc_pooling_forward(&mod->pooling, dst, a->bert.out, batch->cu_seqlens, batch->skip, B, C);
        } else if (mod->kind == STC_MODULE_DENSE) {
            stc_dense_forward(&mod->dense, &m->params, ops, dst, a->stage_in[s], B);
        } else { /* Normalize */
            ops->l2_normalize_forward(dst, a->stage_in[s], B, width);
        }
        width = module_width(m, k, width);
    }
}

void stc_st_train_backward(const stc_st_model *m, const stc_ops *ops, stc_st_train_acts *a,
                           const stc_token_batch *batch, float *d_emb, float *grads, stc_bert_dropout drop)
{
    int B = batch->B, C = m->bert.cfg.hidden_size;
    /* Widths of every stage's input. */
    int widths[64];
    int width = C;
    for (int s = 0; s < a->n_stages && s < 64; s++) {
        widths[s] = width;
        width = module_width(m, m->pooling_module + s, width);
    }
    float *d = d_emb; /* gradient of the current stage's output */
    for (int s = a->n_stages - 1; s >= 0; s--) {
        const stc_module *mod = &m->modules[m->pooling_module + s];
        float *d_in = (d == a->d_a) ? a->d_b : a->d_a;
        if (mod->kind == STC_MODULE_POOLING) {
            stc_pooling_backward(&mod->pooling, a->d_tok, d, a->bert.out, batch->cu_seqlens, batch->skip, B, C);
        } else if (mod->kind == STC_MODULE_DENSE) {
            const stc_dense *dn = &mod->dense;
            /* out = act(z): the activation's derivative needs z, which
             * forward did not keep; recompute it (one small matmul). */
            float *z = d_in;
            ops->matmul_forward(z, a->stage_in[s], stc_params_data(&m->params, dn->w),
                                dn->b >= 0 ? stc_params_data(&m->params, dn->b) : NULL, B, dn->in_features,
                                dn->out_features);
            ops->activation_backward(d, d, z, (size_t)B * dn->out_features, dn->act);
            ops->matmul_backward(d_in, grads + m->params.params[dn->w].offset,
                                 dn->b >= 0 ? grads + m->params.params[dn->b].offset : NULL, d, a->stage_in[s],
                                 stc_params_data(&m->params, dn->w), B, dn->in_features, dn->out_features);
            d = d_in;
        } else { /* Normalize */
            ops->l2_normalize_backward(d_in, d, a->stage_in[s], B, widths[s]);
            d = d_in;
        }
    }
    stc_bert_train_backward(&m->bert, &m->params, ops, &a->bert, grads, a->d_tok, batch->ids, batch->pos,
                            batch->types, batch->cu_seqlens, B, drop);
}
