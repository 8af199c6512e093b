/*
 * Collation: a batch of dataset rows -> one packed token batch of all its
 * text columns (column-major: column c's texts are sequences c*B .. c*B+B-1),
 * with Sentence Transformers' prompts (data_collator.py): `prompts` is a
 * string (every column), {column: prompt}, {dataset: prompt} or
 * {dataset: {column: prompt}}; the prompt is prepended to the text, and with
 * the Pooling module's include_prompt false its tokens are excluded from
 * pooling.
 */
#ifndef STC_TRAINER_COLLATE_H
#define STC_TRAINER_COLLATE_H

#include "model/st_model.h"
#include "model/st_train.h"

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const stc_st_model *model;
    const cJSON *prompts;   /* the config's prompts (may be NULL) */
    int multi_dataset;      /* 1 when train_dataset is a {name: path} object */
    int max_len;            /* tokens per text, specials included */
    int max_texts;          /* capacity in texts */
    stc_token_batch batch;  /* owned buffers, capacity max_texts x max_len */
    char *joined;           /* prompt + text scratch */
    size_t joined_cap;
} stc_collator;

int stc_collator_init(stc_collator *c, const stc_st_model *m, const cJSON *prompts, int multi_dataset,
                      int max_len, int max_texts);
void stc_collator_free(stc_collator *c);

/* The prompt for column `column` of dataset `dataset` (NULL for none);
 * errors on a nested prompts object with a single dataset, as Python. */
int stc_collator_prompt(const stc_collator *c, const char *dataset, const char *column, const char **prompt);

/* The task (route) of column `column` of dataset `dataset` from the
 * config's router_mapping ({column: task} or {dataset: {column: task}}), as
 * data_collator.py resolves it: NULL when the mapping names none (the
 * model's default route then applies). */
const char *stc_collator_task(const cJSON *router_mapping, const char *dataset, const char *column);

/* Tokenizes n_cols columns x B rows (texts[c * B + i], lens likewise) into
 * c->batch. Counts invalid UTF-8 replacements and truncated texts. */
int stc_collate(stc_collator *c, const char *dataset, const char *const *col_names, int n_cols, int B,
                const char *const *texts, const size_t *lens, long *n_invalid, long *n_truncated);

/* Packs already tokenized texts (a prepared dataset's ids: n_cols x B texts,
 * text s's ids at ids[off[s] .. off[s + 1])) into c->batch. Ids outside the
 * model's vocabulary or a text longer than max_len are STC_ERR_DATA. */
int stc_collate_ids(stc_collator *c, int n_cols, int B, const int32_t *ids, const size_t *off);

#ifdef __cplusplus
}
#endif

#endif
