/*
 * Sentence Transformers' Pooling module: token embeddings -> one vector per
 * text. Every mode the Python library has; enabled modes are concatenated in
 * its order: cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken.
 */
#ifndef STC_MODEL_POOLING_H
#define STC_MODEL_POOLING_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int word_embedding_dimension; /* C */
    int cls, max, mean, mean_sqrt_len, weightedmean, lasttoken; /* modes, 0/1 */
    int include_prompt;           /* 0: prompt tokens are masked out of pooling */
} stc_pooling;

/* Reads 1_Pooling/config.json (pooling_mode_* keys; include_prompt default true). */
int stc_pooling_load(stc_pooling *p, const char *path);

/* Output dimension: C x number of enabled modes. */
int stc_pooling_dim(const stc_pooling *p);

/* out[B, dim] from tok[T, C] of a packed batch. skip[b] (may be NULL) is the
 * number of leading tokens masked out for sequence b when include_prompt is
 * false (ST's prompt_length: [CLS] + prompt tokens); cls pooling then reads
 * the first token after them, as sentence-transformers 6.x does. */
void stc_pooling_forward(const stc_pooling *p, float *out, const float *tok, const int *cu_seqlens,
                         const int *skip, int B, int C);

/* Backward of stc_pooling_forward: d_tok[T, C] (ASSIGNED; tokens no mode
 * reads get 0) from d_out[B, dim]. tok is the forward's input (max pooling
 * routes each channel's gradient to the token that held the maximum, the
 * first one on ties). */
void stc_pooling_backward(const stc_pooling *p, float *d_tok, const float *d_out, const float *tok,
                          const int *cu_seqlens, const int *skip, int B, int C);

#ifdef __cplusplus
}
#endif

#endif
