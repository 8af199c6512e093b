/* Sentence Transformers' Pooling module (see pooling.h). */
#include "model/pooling.h"
#include "util/error.h"
#include "util/json.h"

#include <math.h>
#include <string.h>

int stc_pooling_load(stc_pooling *p, const char *path)
{
    cJSON *root;
    int rc = stc_json_load(path, &root);
    if (rc)
        return rc;
    memset(p, 0, sizeof *p);
    p->include_prompt = 1;
    if ((rc = stc_json_get_int(root, "word_embedding_dimension", path, &p->word_embedding_dimension)) ||
        /* sentence-transformers 6.x renamed it */
        (rc = stc_json_get_int(root, "embedding_dimension", path, &p->word_embedding_dimension)) ||
        (rc = stc_json_get_bool(root, "pooling_mode_cls_token", path, &p->cls)) ||
        (rc = stc_json_get_bool(root, "pooling_mode_max_tokens", path, &p->max)) ||
        (rc = stc_json_get_bool(root, "pooling_mode_mean_tokens", path, &p->mean)) ||
        (rc = stc_json_get_bool(root, "pooling_mode_mean_sqrt_len_tokens", path, &p->mean_sqrt_len)) ||
        (rc = stc_json_get_bool(root, "pooling_mode_weightedmean_tokens", path, &p->weightedmean)) ||
        (rc = stc_json_get_bool(root, "pooling_mode_lasttoken", path, &p->lasttoken)) ||
        (rc = stc_json_get_bool(root, "include_prompt", path, &p->include_prompt)))
        goto out;
    /* The constructor's form, which 6.x saves: "pooling_mode": "mean", or a
     * list of modes. Python concatenates a list in the order given; stc in
     * its fixed order, so a list must come in that order. */
    const cJSON *modes = cJSON_GetObjectItemCaseSensitive(root, "pooling_mode");
    if (modes && !cJSON_IsNull(modes)) {
        static const char *const order[] = {"cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"};
        int *flag[] = {&p->cls, &p->max, &p->mean, &p->mean_sqrt_len, &p->weightedmean, &p->lasttoken};
        int n = cJSON_IsArray(modes) ? cJSON_GetArraySize(modes) : 1, last = -1;
        if (!cJSON_IsArray(modes) && !cJSON_IsString(modes)) {
            rc = stc_errorf(STC_ERR_DATA, "%s: \"pooling_mode\" must be a string or a list of strings", path);
            goto out;
        }
        for (int i = 0; i < n; i++) {
            const cJSON *e = cJSON_IsArray(modes) ? cJSON_GetArrayItem(modes, i) : modes;
            int k = 0;
            while (k < 6 && !(cJSON_IsString(e) && !strcmp(e->valuestring, order[k])))
                k++;
            if (k == 6) {
                rc = stc_errorf(STC_ERR_DATA, "%s: unknown pooling_mode %s%s%s", path, cJSON_IsString(e) ? "\"" : "",
                                cJSON_IsString(e) ? e->valuestring : "(not a string)", cJSON_IsString(e) ? "\"" : "");
                goto out;
            }
            if (k <= last) {
                rc = stc_errorf(STC_ERR_DATA, "%s: pooling_mode lists \"%s\" out of stc's order (cls, max, mean, "
                                "mean_sqrt_len_tokens, weightedmean, lasttoken) or twice", path, order[k]);
                goto out;
            }
            last = k;
            *flag[k] = 1;
        }
    }
    if (p->word_embedding_dimension <= 0) {
        rc = stc_errorf(STC_ERR_DATA, "%s: word_embedding_dimension must be a positive integer", path);
        goto out;
    }
    if (stc_pooling_dim(p) == 0)
        rc = stc_errorf(STC_ERR_DATA, "%s: no pooling mode is enabled", path);
out:
    cJSON_Delete(root);
    return rc;
}

int stc_pooling_dim(const stc_pooling *p)
{
    return p->word_embedding_dimension *
           (p->cls + p->max + p->mean + p->mean_sqrt_len + p->weightedmean + p->lasttoken);
}

/* Text b's first pooled token (of L): tokens [first, L) are unmasked, as
 * Python sets attention_mask[:, :prompt_length] = 0 when the prompt is not
 * to be pooled. */
static int first_pooled(const stc_pooling *p, const int *skip, int b, int L)
{
    int first = (!p->include_prompt && skip) ? skip[b] : 0;
    return first < L ? first : L;
}

void stc_pooling_forward(const stc_pooling *p, float *out, const float *tok, const int *cu_seqlens,
                         const int *skip, int B, int C)
{
    int dim = stc_pooling_dim(p);
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        int t0 = cu_seqlens[b], L = cu_seqlens[b + 1] - t0;
        int first = first_pooled(p, skip, b, L);
        const float *x = tok + (size_t)t0 * C;
        float *o = out + (size_t)b * dim;
        int n_unmasked = L - first;
        if (p->cls) {
            /* The first unmasked token (sentence-transformers 6.x: with
             * include_prompt false, the first token after the prompt; 5.x
             * always took token 0); token 0 when every token is masked. */
            int at = first < L ? first : 0;
            memcpy(o, x + (size_t)at * C, sizeof(float) * (size_t)C);
            o += C;
        }
        if (p->max) {
            for (int c = 0; c < C; c++) {
                /* Masked tokens count as -inf (sentence-transformers 6.x;
                 * 5.x used -1e9), so an all-masked text pools to -inf. */
                float m = -INFINITY;
                for (int i = first; i < L; i++)
                    m = x[(size_t)i * C + c] > m ? x[(size_t)i * C + c] : m;
                o[c] = m;
            }
            o += C;
        }
        if (p->mean || p->mean_sqrt_len) {
            float denom = n_unmasked > 0 ? (float)n_unmasked : 1e-9f;
            for (int c = 0; c < C; c++) {
                float s = 0.0f;
                for (int i = first; i < L; i++)
                    s += x[(size_t)i * C + c];
                if (p->mean)
                    o[c] = s / denom;
                if (p->mean_sqrt_len)
                    o[c + (p->mean ? C : 0)] = s / sqrtf(denom);
            }
            o += C * (p->mean + p->mean_sqrt_len);
        }
        if (p->weightedmean) {
            /* Weight of position i (0-based in the padded sequence) is i+1. */
            float wsum = 0.0f;
            for (int i = first; i < L; i++)
                wsum += (float)(i + 1);
            if (wsum < 1e-9f)
                wsum = 1e-9f;
            for (int c = 0; c < C; c++) {
                float s = 0.0f;
                for (int i = first; i < L; i++)
                    s += x[(size_t)i * C + c] * (float)(i + 1);
                o[c] = s / wsum;
            }
            o += C;
        }
        if (p->lasttoken) {
            /* The last unmasked token; Python falls back to the last
             * position when every token is masked. */
            int last = L - 1;
            memcpy(o, x + (size_t)(last < 0 ? 0 : last) * C, sizeof(float) * (size_t)C);
            o += C;
        }
    }
}

void stc_pooling_backward(const stc_pooling *p, float *d_tok, const float *d_out, const float *tok,
                          const int *cu_seqlens, const int *skip, int B, int C)
{
    int dim = stc_pooling_dim(p);
    memset(d_tok, 0, sizeof(float) * (size_t)cu_seqlens[B] * (size_t)C);
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        int t0 = cu_seqlens[b], L = cu_seqlens[b + 1] - t0;
        int first = first_pooled(p, skip, b, L);
        const float *x = tok + (size_t)t0 * C;
        float *dx = d_tok + (size_t)t0 * C;
        const float *g = d_out + (size_t)b * dim;
        int n_unmasked = L - first;
        if (p->cls) {
            int at = first < L ? first : 0;
            if (L > 0)
                for (int c = 0; c < C; c++)
                    dx[(size_t)at * C + c] += g[c];
            g += C;
        }
        if (p->max) {
            for (int c = 0; c < C; c++) {
                int arg = -1;
                float m = -INFINITY;
                for (int i = first; i < L; i++)
                    if (x[(size_t)i * C + c] > m) {
                        m = x[(size_t)i * C + c];
                        arg = i;
                    }
                if (arg >= 0)
                    dx[(size_t)arg * C + c] += g[c];
            }
            g += C;
        }
        if (p->mean || p->mean_sqrt_len) {
            float denom = n_unmasked > 0 ? (float)n_unmasked : 1e-9f;
            for (int c = 0; c < C; c++) {
                float s = 0.0f;
                if (p->mean)
                    s += g[c] / denom;
                if (p->mean_sqrt_len)
                    s += g[c + (p->mean ? C : 0)] / sqrtf(denom);
                for (int i = first; i < L; i++)
                    dx[(size_t)i * C + c] += s;
            }
            g += C * (p->mean + p->mean_sqrt_len);
        }
        if (p->weightedmean) {
            float wsum = 0.0f;
            for (int i = first; i < L; i++)
                wsum += (float)(i + 1);
            if (wsum < 1e-9f)
                wsum = 1e-9f;
            for (int i = first; i < L; i++)
                for (int c = 0; c < C; c++)
                    dx[(size_t)i * C + c] += g[c] * (float)(i + 1) / wsum;
            g += C;
        }
        if (p->lasttoken) {
            if (L > 0)
                for (int c = 0; c < C; c++)
                    dx[(size_t)(L - 1) * C + c] += g[c];
            g += C;
        }
    }
}
