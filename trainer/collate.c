/* Collation with Sentence Transformers' prompts (see collate.h). */
#include "trainer/collate.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

int stc_collator_init(stc_collator *c, const stc_st_model *m, const cJSON *prompts, int multi_dataset,
                      int max_len, int max_texts)
{
    memset(c, 0, sizeof *c);
    c->model = m;
    c->prompts = prompts;
    c->multi_dataset = multi_dataset;
    c->max_len = max_len;
    c->max_texts = max_texts;
    size_t T = (size_t)max_len * (size_t)max_texts;
    c->batch.ids = stc_malloc(sizeof(int32_t) * T, "token ids");
    c->batch.pos = stc_malloc(sizeof(int32_t) * T, "positions");
    c->batch.types = stc_calloc(T, sizeof(int32_t), "token types");
    c->batch.cu_seqlens = stc_malloc(sizeof(int) * (size_t)(max_texts + 1), "sequence offsets");
    c->batch.skip = stc_calloc((size_t)max_texts, sizeof(int), "prompt lengths");
    if (!c->batch.ids || !c->batch.pos || !c->batch.types || !c->batch.cu_seqlens || !c->batch.skip) {
        stc_collator_free(c);
        return STC_ERR_NOMEM;
    }
    return 0;
}

void stc_collator_free(stc_collator *c)
{
    free(c->batch.ids);
    free(c->batch.pos);
    free(c->batch.types);
    free(c->batch.cu_seqlens);
    free(c->batch.skip);
    free(c->joined);
    memset(c, 0, sizeof *c);
}

int stc_collator_prompt(const stc_collator *c, const char *dataset, const char *column, const char **prompt)
{
    *prompt = NULL;
    const cJSON *p = c->prompts;
    if (!p || cJSON_IsNull(p))
        return 0;
    if (cJSON_IsString(p)) {
        *prompt = p->valuestring;
        return 0;
    }
    if (!cJSON_IsObject(p) || !p->child)
        return 0;
    /* data_collator.py::_resolve_prompts */
    const cJSON *sel = p;
    if (c->multi_dataset && dataset && cJSON_GetObjectItemCaseSensitive(p, dataset)) {
        sel = cJSON_GetObjectItemCaseSensitive(p, dataset);
    } else if (cJSON_IsObject(p->child)) {
        if (!c->multi_dataset)
            return stc_errorf(STC_ERR_USAGE, "\"prompts\" is nested ({dataset: {column: prompt}}) but train_dataset is "
                              "a single dataset, so no dataset names can be matched");
        return 0;
    }
    /* _get_prompt_for_column */
    if (cJSON_IsString(sel)) {
        *prompt = sel->valuestring;
    } else if (cJSON_IsObject(sel)) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(sel, column);
        if (cJSON_IsString(v))
            *prompt = v->valuestring;
    }
    return 0;
}

const char *stc_collator_task(const cJSON *router_mapping, const char *dataset, const char *column)
{
    const cJSON *m = router_mapping;
    if (!cJSON_IsObject(m) || !m->child)
        return NULL;
    /* data_collator.py::_resolve_router_mapping: nested when the first value
     * is a dict; then the dataset's own mapping, or none. */
    if (cJSON_IsObject(m->child))
        m = dataset ? cJSON_GetObjectItemCaseSensitive(m, dataset) : NULL;
    const cJSON *v = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, column) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Python: prompt_length = len(tokenize(prompt)) - 1 (the trailing [SEP]). */
static int prompt_tokens(const stc_collator *c, const char *prompt, int *n)
{
    int32_t *tmp = stc_malloc(sizeof(int32_t) * (size_t)c->max_len, "prompt tokens");
    if (!tmp)
        return STC_ERR_NOMEM;
    int nt = 0;
    int rc = stc_tokenizer_encode(c->model->tokenizer, prompt, strlen(prompt), c->max_len, tmp, NULL, &nt, NULL, NULL);
    free(tmp);
    *n = nt - 1;
    return rc;
}

int stc_collate(stc_collator *c, const char *dataset, const char *const *col_names, int n_cols, int B,
                const char *const *texts, const size_t *lens, long *n_invalid, long *n_truncated)
{
    if (n_cols * B > c->max_texts)
        return stc_errorf(STC_ERR_INTERNAL, "batch of %d texts exceeds the collator's %d", n_cols * B, c->max_texts);
    stc_token_batch *b = &c->batch;
    int T = 0, rc;
    b->B = n_cols * B;
    b->cu_seqlens[0] = 0;
    for (int col = 0; col < n_cols; col++) {
        const char *prompt;
        if ((rc = stc_collator_prompt(c, dataset, col_names[col], &prompt)))
            return rc;
        size_t plen = prompt ? strlen(prompt) : 0;
        /* Python's collator adds prompt lengths only when the model's
         * Pooling leaves the prompt out (include_prompt false); so a guide
         * model (GISTEmbedLoss) reading the same batch sees them only then. */
        const stc_st_model *m = c->model;
        int masks = m->pooling_module >= 0 && !m->modules[m->pooling_module].pooling.include_prompt;
        int skip = 0;
        if (plen && masks && (rc = prompt_tokens(c, prompt, &skip)))
            return rc;
        for (int i = 0; i < B; i++) {
            int s = col * B + i;
            const char *t = texts[s];
            size_t tl = lens[s];
            if (plen) {
                if (plen + tl + 1 > c->joined_cap) {
                    char *j = realloc(c->joined, plen + tl + 1);
                    if (!j)
                        return stc_errorf(STC_ERR_NOMEM, "out of memory joining prompt and text");
                    c->joined = j;
                    c->joined_cap = plen + tl + 1;
                }
                memcpy(c->joined, prompt, plen);
                memcpy(c->joined + plen, t, tl);
                t = c->joined;
                tl += plen;
            }
            int nt = 0, full = 0;
            long bad = 0;
            if ((rc = stc_tokenizer_encode(c->model->tokenizer, t, tl, c->max_len, b->ids + T, NULL, &nt, &full, &bad)))
                return stc_error_prefix(rc, "column \"%s\", row %d of the batch", col_names[col], i);
            for (int k = 0; k < nt; k++) {
                b->pos[T + k] = k;
                b->types[T + k] = 0;
            }
            b->skip[s] = skip;
            T += nt;
            b->cu_seqlens[s + 1] = T;
            if (n_invalid)
                *n_invalid += bad;
            if (n_truncated)
                *n_truncated += full > nt;
        }
    }
    b->T = T;
    return 0;
}

int stc_collate_ids(stc_collator *c, int n_cols, int B, const int32_t *ids, const size_t *off)
{
    int n = n_cols * B;
    if (n > c->max_texts)
        return stc_errorf(STC_ERR_INTERNAL, "batch of %d texts exceeds the collator's %d", n, c->max_texts);
    stc_token_batch *b = &c->batch;
    int32_t vocab = c->model->bert.cfg.vocab_size;
    int T = 0;
    b->B = n;
    b->cu_seqlens[0] = 0;
    for (int s = 0; s < n; s++) {
        size_t len = off[s + 1] - off[s];
        if (len < 1 || len > (size_t)c->max_len)
            return stc_errorf(STC_ERR_DATA, "text %d of the batch has %zu token ids (1..%d expected)", s, len,
                              c->max_len);
        for (size_t k = 0; k < len; k++) {
            int32_t id = ids[off[s] + k];
            if (id < 0 || id >= vocab)
                return stc_errorf(STC_ERR_DATA, "token id %d outside the model's vocabulary (%d)", (int)id, (int)vocab);
            b->ids[T] = id;
            b->pos[T] = (int32_t)k;
            b->types[T] = 0;
            T++;
        }
        b->skip[s] = 0;
        b->cu_seqlens[s + 1] = T;
    }
    b->T = T;
    return 0;
}
