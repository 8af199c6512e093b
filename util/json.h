/*
 * Typed reads of JSON config files (cJSON) with errors that name the file and
 * key. Every getter leaves *out unchanged when the key is absent (or null),
 * so callers set the default first.
 */
#ifndef STC_UTIL_JSON_H
#define STC_UTIL_JSON_H

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Parses a JSON file; *root must be freed with cJSON_Delete. */
int stc_json_load(const char *path, cJSON **root);

/* Getters: 0 on success or absence; STC_ERR_DATA on a wrong type. */
int stc_json_get_int(const cJSON *obj, const char *key, const char *path, int *out);
int stc_json_get_double(const cJSON *obj, const char *key, const char *path, double *out);
int stc_json_get_bool(const cJSON *obj, const char *key, const char *path, int *out);
/* *out points into the cJSON tree (valid while root lives). */
int stc_json_get_string(const cJSON *obj, const char *key, const char *path, const char **out);

/* Prints node (formatted or not) with every number exact: cJSON prints 15
 * significant digits whenever they read back "close enough", which loses a
 * double's last bits; here a non-integral number is printed as Python's
 * repr (the shortest text that reads back as the same double), an integral
 * one as an integer, a non-finite one as null. Caller frees; NULL on OOM. */
char *stc_json_print_exact(const cJSON *node, int formatted);

#ifdef __cplusplus
}
#endif

#endif
