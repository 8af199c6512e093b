/*
 * Saving a Sentence Transformers model directory: the layout Python's
 * SentenceTransformer.save() writes and SentenceTransformer(path) loads.
 * Configuration and tokenizer files come from the directory the model was
 * loaded from; weights are written from the parameter slab under each
 * module's own keys (root model.safetensors without prefix, Dense modules'
 * "linear.weight"/"linear.bias" in their folders). Every file is written
 * atomically (tmp, fsync, rename), so an interrupted save never leaves a
 * half-written file under a final name.
 */
#ifndef STC_MODEL_ST_SAVE_H
#define STC_MODEL_ST_SAVE_H

#include "model/st_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the model into out_dir (created if needed; existing model files
 * are replaced, other files left alone). */
int stc_st_model_save(const stc_st_model *m, const char *out_dir);

#ifdef __cplusplus
}
#endif

#endif
