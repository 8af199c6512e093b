/* Typed reads of JSON config files and exact printing (see json.h). */
#include "util/json.h"
#include "util/pyfloat.h"
#include "util/error.h"
#include "util/fileio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int stc_json_load(const char *path, cJSON **root)
{
    char *text;
    size_t len;
    *root = NULL;
    int rc = stc_read_file(path, &text, &len);
    if (rc)
        return rc;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!j) {
        long at = end ? (long)(end - text) : -1;
        free(text);
        return stc_errorf(STC_ERR_DATA, "%s: invalid JSON near byte %ld", path, at);
    }
    free(text);
    *root = j;
    return 0;
}

static const cJSON *present(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

int stc_json_get_int(const cJSON *obj, const char *key, const char *path, int *out)
{
    const cJSON *v = present(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 2147483647.0)
        return stc_errorf(STC_ERR_DATA, "%s: \"%s\" must be an integer", path, key);
    *out = (int)v->valuedouble;
    return 0;
}

int stc_json_get_double(const cJSON *obj, const char *key, const char *path, double *out)
{
    const cJSON *v = present(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v))
        return stc_errorf(STC_ERR_DATA, "%s: \"%s\" must be a number", path, key);
    *out = v->valuedouble;
    return 0;
}

int stc_json_get_bool(const cJSON *obj, const char *key, const char *path, int *out)
{
    const cJSON *v = present(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return stc_errorf(STC_ERR_DATA, "%s: \"%s\" must be true or false", path, key);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return 0;
}

int stc_json_get_string(const cJSON *obj, const char *key, const char *path, const char **out)
{
    const cJSON *v = present(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsString(v))
        return stc_errorf(STC_ERR_DATA, "%s: \"%s\" must be a string", path, key);
    *out = v->valuestring;
    return 0;
}

/* Turns the numbers under n into raw text that reads back exactly. */
static int exact_numbers(cJSON *n)
{
    for (; n; n = n->next) {
        if (n->child && exact_numbers(n->child))
            return -1;
        if (!cJSON_IsNumber(n))
            continue;
        double v = n->valuedouble;
        if (!isfinite(v)) {
            n->type = cJSON_NULL;
            continue;
        }
        char buf[STC_PYFLOAT_MAX];
        if (v == floor(v) && fabs(v) < 9007199254740992.0) /* 2^53: every integer exact */
            snprintf(buf, sizeof buf, "%.0f", v);
        else
            stc_pyfloat_repr(v, buf);
        char *raw = strdup(buf);
        if (!raw)
            return -1;
        n->type = cJSON_Raw;
        n->valuestring = raw;
    }
    return 0;
}

char *stc_json_print_exact(const cJSON *node, int formatted)
{
    cJSON *d = cJSON_Duplicate(node, 1);
    if (!d)
        return NULL;
    char *s = exact_numbers(d) ? NULL : formatted ? cJSON_Print(d) : cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return s;
}
