/* Text lists of the evaluators and their de-duplication (eval_internal.h). */
#include "data/sampler.h"
#include "trainer/eval_internal.h"
#include "util/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void stc_eval_texts_init(stc_eval_texts *t) { memset(t, 0, sizeof *t); }

void stc_eval_texts_free(stc_eval_texts *t)
{
    free(t->texts);
    free(t->lens);
    free(t->buf);
    free(t->offs);
    stc_eval_texts_init(t);
}

int stc_eval_texts_push(stc_eval_texts *t, const char *s, size_t len)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        size_t *offs = realloc(t->offs, sizeof *offs * cap);
        if (!offs)
            return stc_errorf(STC_ERR_NOMEM, "out of memory (evaluator texts)");
        t->offs = offs;
        size_t *lens = realloc(t->lens, sizeof *lens * cap);
        if (!lens)
            return stc_errorf(STC_ERR_NOMEM, "out of memory (evaluator texts)");
        t->lens = lens;
        t->cap = cap;
    }
    if (t->buf_len + len + 1 > t->buf_cap) {
        size_t cap = t->buf_cap ? 2 * t->buf_cap : 4096;
        while (cap < t->buf_len + len + 1)
            cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b)
            return stc_errorf(STC_ERR_NOMEM, "out of memory (evaluator texts)");
        t->buf = b;
        t->buf_cap = cap;
    }
    memcpy(t->buf + t->buf_len, s, len);
    t->buf[t->buf_len + len] = '\0';
    t->offs[t->n] = t->buf_len;
    t->lens[t->n] = len;
    t->buf_len += len + 1;
    t->n++;
    return 0;
}

int stc_eval_texts_finish(stc_eval_texts *t)
{
    free(t->texts);
    t->texts = malloc(sizeof *t->texts * (t->n ? t->n : 1));
    if (!t->texts)
        return stc_errorf(STC_ERR_NOMEM, "out of memory (evaluator texts)");
    for (size_t i = 0; i < t->n; i++)
        t->texts[i] = t->buf + t->offs[i];
    return 0;
}

/* Open addressing on the text hash; slots hold 1 + the position in uniq. */
int stc_eval_texts_unique(const stc_eval_texts *t, stc_eval_texts *uniq, size_t *idx)
{
    stc_eval_texts_init(uniq);
    size_t cap = 16;
    while (cap < 2 * t->n)
        cap *= 2;
    size_t *slot = calloc(cap, sizeof *slot);
    if (!slot)
        return stc_errorf(STC_ERR_NOMEM, "out of memory (evaluator texts)");
    int rc = 0;
    for (size_t i = 0; i < t->n && !rc; i++) {
        const char *s = t->buf + t->offs[i];
        size_t len = t->lens[i];
        size_t h = (size_t)stc_sampler_hash_text(s, len) & (cap - 1);
        for (;; h = (h + 1) & (cap - 1)) {
            if (!slot[h]) {
                slot[h] = uniq->n + 1;
                idx[i] = uniq->n;
                rc = stc_eval_texts_push(uniq, s, len);
                break;
            }
            size_t u = slot[h] - 1;
            if (uniq->lens[u] == len && !memcmp(uniq->buf + uniq->offs[u], s, len)) {
                idx[i] = u;
                break;
            }
        }
    }
    free(slot);
    if (!rc)
        rc = stc_eval_texts_finish(uniq);
    if (rc)
        stc_eval_texts_free(uniq);
    return rc;
}
