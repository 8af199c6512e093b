/*
 * Training passes of the BERT encoder: a forward that keeps what backward
 * needs, and the hand-written backward (llm.c style, no autograd), over
 * packed batches (kernels/ops.h).
 *
 * Dropout (hidden_dropout_prob after the embeddings, the attention output
 * projection and the FFN output; attention_probs_dropout_prob on the
 * attention probabilities, inside the attention kernels) is applied when the
 * pass's dropout seed is set, from the counter-based stream of
 * kernels/dropout.h, so backward and GradCache's replay regenerate the same
 * masks. Each (layer, site) has its own stream; the saved att holds the
 * probabilities before dropout.
 *
 * Legend: T tokens, B sequences, C hidden, H heads, I intermediate, L layers.
 */
#ifndef STC_MODEL_BERT_TRAIN_H
#define STC_MODEL_BERT_TRAIN_H

#include "model/bert.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What forward saves for one layer. */
typedef struct {
    float *x_in;     /* (T, C) layer input */
    float *qkv;      /* (T, 3C) */
    float *att;      /* (H * sum L_b^2) softmax probabilities (before dropout) */
    float *ctx;      /* (T, C) attention output (heads concatenated) */
    float *res1;     /* (T, C) x_in + dropout(ctx Wo + bo): LayerNorm 1 input */
    float *ln1_mean, *ln1_rstd; /* (T) */
    float *h;        /* (T, C) LayerNorm 1 output */
    float *fc_pre;   /* (T, I) h W1 + b1 */
    float *fc_act;   /* (T, I) gelu(fc_pre) */
    float *res2;     /* (T, C) h + dropout(fc_act W2 + b2): LayerNorm 2 input */
    float *ln2_mean, *ln2_rstd; /* (T) */
} stc_bert_layer_acts;

/* Training activations, sized once for at most max_tokens tokens in
 * sequences of at most max_len tokens. */
typedef struct {
    int max_tokens, max_len;
    size_t max_att;          /* floats of each layer's att buffer */
    float *emb_sum;          /* (T, C) word + type + position, LayerNorm input */
    float *emb_mean, *emb_rstd; /* (T) */
    stc_bert_layer_acts *layers; /* [L] */
    float *out;              /* (T, C) final token embeddings */
    /* Backward scratch. */
    float *d_x, *d_h, *d_tmp; /* (T, C) */
    float *d_qkv;            /* (T, 3C) */
    float *d_fc;             /* (T, I) */
    float *scratch;          /* attention forward/backward scratch */
    float *slab;             /* the one allocation everything above is carved from */
    size_t slab_floats;
} stc_bert_train_acts;

/* Per-pass dropout settings: seed 0 disables dropout (eval). */
typedef struct {
    uint64_t seed;
} stc_bert_dropout;

int stc_bert_train_acts_alloc(stc_bert_train_acts *a, const stc_bert_config *cfg, int max_tokens, int max_len);
void stc_bert_train_acts_free(stc_bert_train_acts *a);

/* Forward keeping activations; token embeddings end in a->out. */
void stc_bert_train_forward(const stc_bert *m, const stc_param_table *t, const stc_ops *ops,
                            stc_bert_train_acts *a, const int32_t *ids, const int32_t *pos,
                            const int32_t *type_ids, const int *cu_seqlens, int B, stc_bert_dropout drop);

/* Backward from d_out (T, C), the gradient of the loss with respect to the
 * token embeddings of the last train_forward. Parameter gradients are
 * ACCUMULATED into grads (a slab laid out like t->slab). d_out is clobbered. */
void stc_bert_train_backward(const stc_bert *m, const stc_param_table *t, const stc_ops *ops,
                             stc_bert_train_acts *a, float *grads, float *d_out, const int32_t *ids,
                             const int32_t *pos, const int32_t *type_ids, const int *cu_seqlens, int B,
                             stc_bert_dropout drop);

#ifdef __cplusplus
}
#endif

#endif
