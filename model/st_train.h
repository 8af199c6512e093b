/*
 * Training passes through a whole Sentence Transformers model: BERT (with
 * saved activations), Pooling, Dense and Normalize modules, from a packed
 * batch of token ids to sentence embeddings [B, dim], and back from
 * d(embeddings) to parameter gradients.
 *
 * Several text columns (anchor, positive, negatives) go through one pass as
 * one packed batch of all their texts: every text's embedding depends on
 * that text alone, so this equals Python's one forward per column.
 */
#ifndef STC_MODEL_ST_TRAIN_H
#define STC_MODEL_ST_TRAIN_H

#include "model/bert_train.h"
#include "model/st_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A packed batch of tokenized texts. */
typedef struct {
    int B;              /* texts */
    int T;              /* tokens */
    int32_t *ids, *pos, *types; /* (T) */
    int *cu_seqlens;    /* (B + 1) */
    int *skip;          /* (B) prompt tokens excluded from pooling (include_prompt false) */
} stc_token_batch;

typedef struct {
    stc_bert_train_acts bert;
    int max_texts;
    int n_stages;       /* pooling + each Dense/Normalize after it */
    float **stage_in;   /* [n_stages] (max_texts, width) input of each module after the transformer */
    float *emb;         /* (max_texts, dim) the sentence embeddings */
    float *d_a, *d_b;   /* (max_texts, max width) gradient ping-pong buffers */
    float *d_tok;       /* (max_tokens, C) gradient of the token embeddings */
    int max_width;
} stc_st_train_acts;

int stc_st_train_acts_alloc(stc_st_train_acts *a, const stc_st_model *m, int max_texts, int max_tokens, int max_len);
void stc_st_train_acts_free(stc_st_train_acts *a);

/* Forward: a->emb holds [batch->B, m->dim] embeddings afterwards. */
void stc_st_train_forward(const stc_st_model *m, const stc_ops *ops, stc_st_train_acts *a,
                          const stc_token_batch *batch, stc_bert_dropout drop);

/* Backward from d_emb [B, dim] (clobbered) of the last forward; parameter
 * gradients ACCUMULATE into grads (laid out like m->params.slab). */
void stc_st_train_backward(const stc_st_model *m, const stc_ops *ops, stc_st_train_acts *a,
                           const stc_token_batch *batch, float *d_emb, float *grads, stc_bert_dropout drop);

#ifdef __cplusplus
}
#endif

#endif
