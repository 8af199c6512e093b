/* Typed reads of an evaluator object's arguments (eval_internal.h). */
#include "trainer/eval_internal.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>

static const cJSON *present(const cJSON *spec, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int is_positive_int(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && v->valuedouble >= 1 &&
           v->valuedouble <= 2147483647.0;
}

int stc_eval_get_positive(const cJSON *spec, const char *key, const char *where, int *out)
{
    const cJSON *v = present(spec, key);
    if (!v)
        return 0;
    if (!is_positive_int(v))
        return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be a positive integer", where, key);
    *out = (int)v->valuedouble;
    return 0;
}

int stc_eval_get_ks(const cJSON *spec, const char *key, const char *where, int **ks, int *n)
{
    const cJSON *v = present(spec, key);
    if (!v)
        return 0;
    int len = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (len == 0)
        return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be a non-empty list of positive integers", where, key);
    int *k = malloc(sizeof *k * (size_t)len);
    if (!k)
        return stc_errorf(STC_ERR_NOMEM, "out of memory (%s)", key);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!is_positive_int(e)) {
            free(k);
            return stc_errorf(STC_ERR_USAGE, "%s: \"%s\"[%d] must be a positive integer", where, key, i);
        }
        k[i] = (int)e->valuedouble;
    }
    free(*ks);
    *ks = k;
    *n = len;
    return 0;
}

int stc_eval_get_strings(const cJSON *spec, const char *key, const char *where, const cJSON **arr)
{
    const cJSON *v = present(spec, key);
    if (!v)
        return 0;
    if (!cJSON_IsArray(v))
        return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be a list of strings", where, key);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++)
        if (!cJSON_IsString(e))
            return stc_errorf(STC_ERR_USAGE, "%s: \"%s\"[%d] must be a string", where, key, i);
    *arr = v;
    return 0;
}
