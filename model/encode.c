/* Sentence embeddings with Sentence Transformers' encode() semantics (see encode.h). */
#include "model/encode.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

struct stc_encoder {
    const stc_st_model *model;
    const stc_ops *ops;
    stc_encode_opts opts;
    int max_len;          /* tokens per text, specials included */
    int dim;              /* output dimension */
    int prompt_tokens;    /* ST's prompt_length: [CLS] + prompt tokens */
    char *prompt;         /* owned copy, or NULL */
    size_t prompt_len;
    stc_bert_acts acts;
    int max_width;        /* widest module output (pooling or dense) */
    float *buf0, *buf1;   /* (batch, max_width) module ping-pong buffers */
    int32_t *ids, *pos, *types; /* (batch * max_len) packed inputs */
    int *cu_seqlens;      /* (batch + 1) */
    int *skip;            /* (batch) prompt tokens to mask in pooling */
};

int stc_encoder_init(stc_encoder **out, const stc_st_model *model, const stc_ops *ops,
                     const stc_encode_opts *opts)
{
    *out = NULL;
    stc_encoder *e = stc_calloc(1, sizeof *e, "encoder");
    if (!e)
        return STC_ERR_NOMEM;
    int rc = 0;
    int route;
    /* The prompt, max_seq_length, tokenizer and pooling are the route's, as
     * Python's Router hands preprocessing to the route's first module. */
    if ((rc = stc_st_model_route_index(model, opts->task, &route)))
        goto err;
    model = stc_st_model_route(model, route);
    e->model = model;
    e->ops = ops;
    e->opts = *opts;
    if (e->opts.batch_size <= 0) {
        rc = stc_errorf(STC_ERR_USAGE, "batch size must be positive (got %d)", e->opts.batch_size);
        goto err;
    }
    e->max_len = opts->max_seq_length > 0 ? opts->max_seq_length : model->max_seq_length;
    if (e->max_len > model->bert.cfg.max_position_embeddings) {
        rc = stc_errorf(STC_ERR_USAGE, "max_seq_length %d exceeds the model's max_position_embeddings %d", e->max_len,
                        model->bert.cfg.max_position_embeddings);
        goto err;
    }
    if (e->max_len < 2) {
        rc = stc_errorf(STC_ERR_USAGE, "max_seq_length must be at least 2 (got %d)", e->max_len);
        goto err;
    }
    e->dim = model->dim;
    if (opts->truncate_dim < 0) {
        rc = stc_errorf(STC_ERR_USAGE, "truncate_dim must be positive (got %d)", opts->truncate_dim);
        goto err;
    }
    if (opts->truncate_dim > 0 && opts->truncate_dim < e->dim)
        e->dim = opts->truncate_dim; /* larger values slice nothing, as in Python */

    if (opts->prompt && opts->prompt[0]) {
        e->prompt_len = strlen(opts->prompt);
        e->prompt = strdup(opts->prompt);
        if (!e->prompt) {
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
            goto err;
        }
        /* Python: prompt_length = len(tokenize([prompt]).input_ids) - 1,
         * i.e. [CLS] and the prompt's tokens, without the final [SEP]. */
        int32_t *tmp = stc_malloc(sizeof(int32_t) * (size_t)e->max_len, "prompt tokens");
        if (!tmp) {
            rc = STC_ERR_NOMEM;
            goto err;
        }
        int nt = 0;
        rc = stc_tokenizer_encode(model->tokenizer, e->prompt, e->prompt_len, e->max_len, tmp, NULL, &nt, NULL, NULL);
        free(tmp);
        if (rc)
            goto err;
        e->prompt_tokens = nt - 1;
    }

    int B = e->opts.batch_size, T = B * e->max_len;
    if ((rc = stc_bert_acts_alloc(&e->acts, &model->bert.cfg, T, e->max_len)))
        goto err;
    e->max_width = model->bert.cfg.hidden_size;
    for (int k = 1; k < model->n_modules; k++) {
        const stc_module *mod = &model->modules[k];
        int w = mod->kind == STC_MODULE_POOLING ? stc_pooling_dim(&mod->pooling)
              : mod->kind == STC_MODULE_DENSE   ? mod->dense.out_features : 0;
        e->max_width = w > e->max_width ? w : e->max_width;
    }
    e->buf0 = stc_malloc(sizeof(float) * (size_t)B * e->max_width, "encoder buffers");
    e->buf1 = stc_malloc(sizeof(float) * (size_t)B * e->max_width, "encoder buffers");
    e->ids = stc_malloc(sizeof(int32_t) * (size_t)T, "token ids");
    e->pos = stc_malloc(sizeof(int32_t) * (size_t)T, "positions");
    e->types = stc_malloc(sizeof(int32_t) * (size_t)T, "token types");
    e->cu_seqlens = stc_malloc(sizeof(int) * (size_t)(B + 1), "sequence offsets");
    e->skip = stc_malloc(sizeof(int) * (size_t)B, "prompt lengths");
    if (!e->buf0 || !e->buf1 || !e->ids || !e->pos || !e->types || !e->cu_seqlens || !e->skip) {
        rc = STC_ERR_NOMEM;
        goto err;
    }
    *out = e;
    return 0;
err:
    stc_encoder_free(e);
    return rc;
}

void stc_encoder_free(stc_encoder *e)
{
    if (!e)
        return;
    stc_bert_acts_free(&e->acts);
    free(e->prompt);
    free(e->buf0);
    free(e->buf1);
    free(e->ids);
    free(e->pos);
    free(e->types);
    free(e->cu_seqlens);
    free(e->skip);
    free(e);
}

int stc_encoder_dim(const stc_encoder *e) { return e->dim; }

/* Sort key: longest first, then input order (a stable, deterministic order). */
typedef struct {
    int len;
    size_t idx;
} len_idx;

static int cmp_len_desc(const void *a, const void *b)
{
    const len_idx *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx ? 1 : 0);
}

/* Runs the modules after the Transformer for B pooled texts; returns the
 * buffer holding the [B, model dim] result. */
static float *run_modules(stc_encoder *e, int B)
{
    const stc_st_model *m = e->model;
    const stc_module *pool = &m->modules[m->pooling_module];
    int C = m->bert.cfg.hidden_size;
    stc_pooling_forward(&pool->pooling, e->buf0, e->acts.x, e->cu_seqlens, e->prompt ? e->skip : NULL, B, C);
    float *cur = e->buf0, *other = e->buf1;
    int width = stc_pooling_dim(&pool->pooling);
    for (int k = m->pooling_module + 1; k < m->n_modules; k++) {
        const stc_module *mod = &m->modules[k];
        if (mod->kind == STC_MODULE_DENSE) {
            stc_dense_forward(&mod->dense, &m->params, e->ops, other, cur, B);
            float *t = cur;
            cur = other;
            other = t;
            width = mod->dense.out_features;
        } else if (mod->kind == STC_MODULE_NORMALIZE) {
            e->ops->l2_normalize_forward(cur, cur, B, width);
        }
    }
    return cur;
}

int stc_encoder_run(stc_encoder *e, const char *const *texts, const size_t *lens, size_t n, float *out,
                    long *n_invalid_utf8, long *n_truncated,
                    void (*progress)(size_t done, size_t total, void *arg), void *progress_arg)
{
    const stc_st_model *m = e->model;
    int L = e->max_len;
    int32_t *tok = NULL;
    int *ntok = NULL;
    len_idx *order = NULL;
    int rc = 0;
    if (n == 0)
        return 0;
    tok = stc_malloc(sizeof(int32_t) * n * (size_t)L, "token ids");
    ntok = stc_malloc(sizeof(int) * n, "token counts");
    order = stc_malloc(sizeof(len_idx) * n, "length order");
    if (!tok || !ntok || !order) {
        rc = STC_ERR_NOMEM;
        goto out;
    }

    long invalid = 0, truncated = 0;
    int tok_rc = 0;
#pragma omp parallel
    {
        char *joined = NULL;
        size_t joined_cap = 0;
        int my_rc = 0;
#pragma omp for schedule(dynamic, 64) reduction(+ : invalid, truncated)
        for (size_t i = 0; i < n; i++) {
            if (my_rc)
                continue;
            const char *t = texts[i];
            size_t tl = lens[i];
            if (e->prompt) { /* Python: prompt + text, then tokenize */
                size_t need = e->prompt_len + tl;
                if (need + 1 > joined_cap) {
                    char *j = realloc(joined, need + 1);
                    if (!j) {
                        my_rc = stc_errorf(STC_ERR_NOMEM, "out of memory joining prompt and text");
                        continue;
                    }
                    joined = j;
                    joined_cap = need + 1;
                }
                memcpy(joined, e->prompt, e->prompt_len);
                memcpy(joined + e->prompt_len, t, tl);
                t = joined;
                tl = need;
            }
            int nt = 0, full = 0;
            long bad = 0;
            int r = stc_tokenizer_encode(m->tokenizer, t, tl, L, tok + i * (size_t)L, NULL, &nt, &full, &bad);
            if (r) {
                my_rc = stc_error_prefix(r, "text %zu", i);
                continue;
            }
            ntok[i] = nt;
            invalid += bad;
            truncated += full > nt;
        }
        free(joined);
#pragma omp critical
        if (my_rc && !tok_rc)
            tok_rc = my_rc;
    }
    if (tok_rc) {
        rc = tok_rc;
        goto out;
    }
    if (n_invalid_utf8)
        *n_invalid_utf8 += invalid;
    if (n_truncated)
        *n_truncated += truncated;

    for (size_t i = 0; i < n; i++) {
        order[i].len = ntok[i];
        order[i].idx = i;
    }
    qsort(order, n, sizeof *order, cmp_len_desc);

    int B = e->opts.batch_size, mdim = m->dim;
    for (size_t start = 0; start < n; start += (size_t)B) {
        mdim = m->dim;
        int nb = (int)((n - start) < (size_t)B ? (n - start) : (size_t)B);
        int T = 0;
        e->cu_seqlens[0] = 0;
        for (int b = 0; b < nb; b++) {
            size_t i = order[start + b].idx;
            int len = ntok[i];
            memcpy(e->ids + T, tok + i * (size_t)L, sizeof(int32_t) * (size_t)len);
            for (int t = 0; t < len; t++) {
                e->pos[T + t] = t;
                e->types[T + t] = 0;
            }
            e->skip[b] = e->prompt_tokens;
            T += len;
            e->cu_seqlens[b + 1] = T;
        }
        stc_bert_forward(&m->bert, &m->params, e->ops, &e->acts, e->ids, e->pos, e->types, e->cu_seqlens, nb);
        float *res = run_modules(e, nb);
        /* Python: truncate to truncate_dim, then normalise, then reorder.
         * The rows are truncated into the free ping-pong buffer so one call
         * normalises the whole batch. */
        if (e->opts.normalize) {
            float *tr = res == e->buf0 ? e->buf1 : e->buf0;
            for (int b = 0; b < nb; b++)
                memcpy(tr + (size_t)b * e->dim, res + (size_t)b * mdim, sizeof(float) * (size_t)e->dim);
            e->ops->l2_normalize_forward(tr, tr, nb, e->dim);
            res = tr;
            mdim = e->dim;
        }
        for (int b = 0; b < nb; b++)
            memcpy(out + order[start + b].idx * (size_t)e->dim, res + (size_t)b * mdim, sizeof(float) * (size_t)e->dim);
        if (progress)
            progress(start + (size_t)nb, n, progress_arg);
    }
out:
    free(tok);
    free(ntok);
    free(order);
    return rc;
}
