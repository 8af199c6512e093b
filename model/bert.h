/*
 * The BERT encoder (Hugging Face BertModel), as Sentence Transformers'
 * Transformer module runs it: embeddings, L post-LayerNorm encoder layers.
 * Works on packed batches (kernels/ops.h): T tokens of B sequences back to
 * back, so padding costs nothing.
 *
 * Legend: T tokens, B sequences, C hidden, H heads, I intermediate (FFN),
 * L layers, V vocabulary, P max positions.
 */
#ifndef STC_MODEL_BERT_H
#define STC_MODEL_BERT_H

#include "kernels/ops.h"
#include "model/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int vocab_size;            /* V */
    int hidden_size;           /* C */
    int num_hidden_layers;     /* L */
    int num_attention_heads;   /* H */
    int intermediate_size;     /* I */
    int max_position_embeddings; /* P */
    int type_vocab_size;
    float layer_norm_eps;
    stc_activation hidden_act; /* gelu (erf form) */
    float hidden_dropout_prob; /* used in training only */
    float attention_probs_dropout_prob;
} stc_bert_config;

/* Parameter indices (into the model's stc_param_table) of one encoder layer. */
typedef struct {
    int qkv_w;   /* (3C, C): query, key, value weights adjacent in the slab */
    int qkv_b;   /* (3C) */
    int attn_out_w, attn_out_b;  /* (C, C), (C) */
    int ln1_w, ln1_b;            /* (C) attention.output.LayerNorm */
    int fc_w, fc_b;              /* (I, C), (I) intermediate.dense */
    int fc_out_w, fc_out_b;      /* (C, I), (C) output.dense */
    int ln2_w, ln2_b;            /* (C) output.LayerNorm */
} stc_bert_layer_params;

typedef struct {
    stc_bert_config cfg;
    int wte, wpe, wtt;           /* (V, C), (P, C), (type_vocab, C) */
    int emb_ln_w, emb_ln_b;      /* (C) */
    stc_bert_layer_params *layers; /* [L] */
    int pooler_w, pooler_b;      /* unused by Sentence Transformers; kept for saving */
} stc_bert;

/* Inference activations, sized once for at most max_tokens tokens. */
typedef struct {
    int max_tokens;
    float *x;      /* (T, C) residual stream; the final token embeddings */
    float *qkv;    /* (T, 3C) */
    float *a;      /* (T, C) attention output, then FFN output */
    float *h;      /* (T, C) after the attention block's LayerNorm */
    float *f;      /* (T, I) FFN hidden */
    float *scratch; /* attention score blocks, stc_attention_scratch_floats(max_len) */
    float *slab;   /* the one allocation the above are carved from */
} stc_bert_acts;

/* Reads a Hugging Face config.json; rejects anything but a BERT encoder with
 * absolute positions, naming the file and the unsupported value. */
int stc_bert_config_load(stc_bert_config *cfg, const char *path);

/* Registers the model's tensors under prefix (e.g. "0.auto_model.") with file
 * keys without it (root model.safetensors has no prefix). */
int stc_bert_register(stc_bert *m, const stc_bert_config *cfg, stc_param_table *t, int module_idx,
                      const char *prefix);
void stc_bert_free(stc_bert *m);

int stc_bert_acts_alloc(stc_bert_acts *acts, const stc_bert_config *cfg, int max_tokens, int max_len);
void stc_bert_acts_free(stc_bert_acts *acts);

/* Runs the encoder on a packed batch; the token embeddings end in acts->x.
 * ids/pos/type_ids: (T); cu_seqlens: (B+1), cu_seqlens[B] == T <= max_tokens. */
void stc_bert_forward(const stc_bert *m, const stc_param_table *t, const stc_ops *ops,
                      stc_bert_acts *acts, const int32_t *ids, const int32_t *pos,
                      const int32_t *type_ids, const int *cu_seqlens, int B);

#ifdef __cplusplus
}
#endif

#endif
