/*
 * Sentence embeddings for a list of texts, with the semantics of Sentence
 * Transformers' encode(): optional prompt (prepended; with include_prompt
 * false its tokens are left out of pooling), truncate_dim, then L2
 * normalisation, results in input order.
 *
 * Texts are tokenized in parallel, sorted by token count, packed into
 * batches of batch_size texts without padding, and run through the module
 * pipeline. Every text's embedding depends on that text alone, so results do
 * not depend on how texts are grouped into calls, batches or ranks.
 */
#ifndef STC_MODEL_ENCODE_H
#define STC_MODEL_ENCODE_H

#include "kernels/ops.h"
#include "model/st_model.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int batch_size;        /* texts per forward pass (default 32) */
    int max_seq_length;    /* 0: the model's */
    int normalize;         /* L2-normalise after truncation */
    int truncate_dim;      /* 0: full dimension */
    const char *prompt;    /* prepended to every text; NULL or "" for none */
    const char *task;      /* Router models: picks the route ("query", "document", ...);
                            * NULL = no task (the default route), as Python's encode(task=None) */
} stc_encode_opts;

typedef struct stc_encoder stc_encoder;

/* Prepares an encoder (activation arena sized once for the largest batch)
 * for the route opts->task resolves to (the model itself without a Router).
 * An unknown task is an error naming it and the routes. */
int stc_encoder_init(stc_encoder **out, const stc_st_model *model, const stc_ops *ops,
                     const stc_encode_opts *opts);
void stc_encoder_free(stc_encoder *enc);

/* Output dimension (truncate_dim or the model's). */
int stc_encoder_dim(const stc_encoder *enc);

/* Embeds n texts (texts[i] has lens[i] bytes) into out[n, dim]. Counts of
 * invalid UTF-8 replacements and of truncated texts are added to the
 * non-NULL counters. progress(done, total, arg), if non-NULL, is called after
 * each batch. */
int stc_encoder_run(stc_encoder *enc, const char *const *texts, const size_t *lens, size_t n, float *out,
                    long *n_invalid_utf8, long *n_truncated,
                    void (*progress)(size_t done, size_t total, void *arg), void *progress_arg);

#ifdef __cplusplus
}
#endif

#endif
