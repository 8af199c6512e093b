/* The similarity functions of the evaluators, by Python's names
 * (sentence_transformers.util.similarity; eval_internal.h). */
#include "trainer/eval_internal.h"
#include "util/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const names[STC_SIM_COUNT] = {"cosine", "dot", "euclidean", "manhattan"};

int stc_sim_parse(const char *s, stc_sim_fn *out)
{
    *out = STC_SIM_COSINE;
    for (int i = 0; i < STC_SIM_COUNT; i++)
        if (!strcmp(s, names[i])) {
            *out = (stc_sim_fn)i;
            return 0;
        }
    return stc_errorf(STC_ERR_USAGE, "unknown similarity function \"%s\" (cosine, dot, euclidean, manhattan)", s);
}

const char *stc_sim_name(stc_sim_fn f) { return names[f]; }

int stc_sim_get(const cJSON *spec, const char *key, const char *where, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    stc_sim_fn f = STC_SIM_COSINE;
    if (!cJSON_IsString(v))
        return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be a string (cosine, dot, euclidean, manhattan)", where, key);
    int rc = stc_sim_parse(v->valuestring, &f);
    if (rc)
        return stc_error_prefix(rc, "%s: \"%s\"", where, key);
    *out = (int)f;
    return 0;
}

/* A list of names into fns (no repeats); absent: *n untouched. */
static int get_sims(const cJSON *spec, const char *key, const char *where, stc_sim_fn *fns, int *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsArray(v))
        return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be a list of names (cosine, dot, euclidean, manhattan)",
                          where, key);
    int k = 0;
    for (const cJSON *e = v->child; e; e = e->next) {
        stc_sim_fn f = STC_SIM_COSINE;
        int rc = cJSON_IsString(e) ? stc_sim_parse(e->valuestring, &f)
                                   : stc_errorf(STC_ERR_USAGE, "entry %d is not a string", k);
        if (rc)
            return stc_error_prefix(rc, "%s: \"%s\"", where, key);
        for (int j = 0; j < k; j++)
            if (fns[j] == f)
                return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" names \"%s\" twice", where, key, names[f]);
        fns[k++] = f;
    }
    /* An empty list is Python's default (`similarity_fn_names or []`). */
    *n = k;
    return 0;
}

int stc_sim_set_parse(stc_sim_set *s, const cJSON *spec, const char *where, const char *list_key,
                      const char *main_key, int main_fills_list)
{
    s->n = 0;
    s->main_fn = -1;
    int rc = get_sims(spec, list_key, where, s->fn, &s->n);
    if (!rc && main_key)
        rc = stc_sim_get(spec, main_key, where, &s->main_fn);
    if (!rc && main_fills_list && s->n == 0 && s->main_fn >= 0)
        s->fn[s->n++] = (stc_sim_fn)s->main_fn;
    return rc;
}

int stc_sim_set_resolve(const stc_sim_set *s, const stc_st_model *model, stc_sim_fn *fns, int *n)
{
    memcpy(fns, s->fn, sizeof s->fn);
    *n = s->n;
    if (s->n)
        return 0;
    *n = 1;
    return stc_sim_model_fn(model, &fns[0]);
}

int stc_sim_model_fn(const stc_st_model *model, stc_sim_fn *out)
{
    const char *name = model->similarity_fn_name ? model->similarity_fn_name : "cosine";
    int rc = stc_sim_parse(name, out);
    return rc ? stc_error_prefix(rc, "%s/config_sentence_transformers.json: similarity_fn_name", model->dir) : 0;
}

void stc_sim_set_primary(const stc_sim_set *s, const stc_sim_fn *fns, int n, const char *fmt, const char *max_key,
                         stc_metrics *out)
{
    if (s->main_fn < 0 && n > 1)
        snprintf(out->primary, sizeof out->primary, "%s", max_key);
    else
        snprintf(out->primary, sizeof out->primary, fmt, names[s->main_fn >= 0 ? s->main_fn : (int)fns[0]]);
}

double stc_eval_first_max(const double *v, int n, int stride)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[(size_t)i * stride] > m ? v[(size_t)i * stride] : m;
    return m;
}

/* In double: the float32 embeddings' sums are then exact enough that the
 * one rounding to float32 at the end gives torch's value or a neighbour. */
float stc_sim_pair(stc_sim_fn f, const float *a, const float *b, int D)
{
    double s = 0.0, na = 0.0, nb = 0.0;
    switch (f) {
    case STC_SIM_COSINE:
        for (int j = 0; j < D; j++) {
            s += (double)a[j] * b[j];
            na += (double)a[j] * a[j];
            nb += (double)b[j] * b[j];
        }
        /* F.normalize: x / max(||x||, 1e-12). */
        return (float)(s / (fmax(sqrt(na), 1e-12) * fmax(sqrt(nb), 1e-12)));
    case STC_SIM_DOT:
        for (int j = 0; j < D; j++)
            s += (double)a[j] * b[j];
        return (float)s;
    case STC_SIM_EUCLIDEAN:
        for (int j = 0; j < D; j++) {
            double d = (double)a[j] - b[j];
            s += d * d;
        }
        return (float)-sqrt(s);
    case STC_SIM_MANHATTAN:
    default:
        for (int j = 0; j < D; j++)
            s += fabs((double)a[j] - b[j]);
        return (float)-s;
    }
}

/* One float32 score with a fixed summation order (8 lanes, then a fixed
 * tree): the same pair gives the same bits whatever the chunk, query slice
 * or thread, so identical documents tie exactly. */
float stc_sim_score(stc_sim_fn f, const float *a, const float *b, int D)
{
    float acc[8] = {0};
    int j = 0;
    switch (f) {
    case STC_SIM_COSINE: /* inputs normalised beforehand */
    case STC_SIM_DOT:
        for (; j + 8 <= D; j += 8)
            for (int l = 0; l < 8; l++)
                acc[l] += a[j + l] * b[j + l];
        for (; j < D; j++)
            acc[j & 7] += a[j] * b[j];
        break;
    case STC_SIM_EUCLIDEAN:
        for (; j + 8 <= D; j += 8)
            for (int l = 0; l < 8; l++) {
                float d = a[j + l] - b[j + l];
                acc[l] += d * d;
            }
        for (; j < D; j++) {
            float d = a[j] - b[j];
            acc[j & 7] += d * d;
        }
        break;
    default: /* manhattan */
        for (; j + 8 <= D; j += 8)
            for (int l = 0; l < 8; l++)
                acc[l] += fabsf(a[j + l] - b[j + l]);
        for (; j < D; j++)
            acc[j & 7] += fabsf(a[j] - b[j]);
        break;
    }
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    return f == STC_SIM_EUCLIDEAN ? -sqrtf(s) : f == STC_SIM_MANHATTAN ? -s : s;
}

/* F.normalize in place: rows / max(||row||, 1e-12). */
void stc_sim_normalize_rows(float *x, size_t n, int D)
{
    for (size_t i = 0; i < n; i++) {
        float *r = x + i * (size_t)D;
        double s = 0.0;
        for (int j = 0; j < D; j++)
            s += (double)r[j] * r[j];
        float inv = (float)(1.0 / fmax(sqrt(s), 1e-12));
        for (int j = 0; j < D; j++)
            r[j] *= inv;
    }
}
