/* Typed reads of JSON config files (see json.h). */
#include "util/json.h"
#include "util/error.h"
#include "util/fileio.h"

#include <math.h>
#include <stdlib.h>

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
