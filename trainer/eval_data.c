/*
 * The rows of the pair evaluators (eval_internal.h): a dataset file read
 * with the training datasets' readers (data/dataset.h: JSONL, CSV, TSV;
 * text columns in file order, a "label" or "score" column as the label), or
 * inline arrays under Python's argument names.
 */
#include "data/dataset.h"
#include "trainer/eval_internal.h"
#include "util/error.h"
#include "util/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows per read of a dataset file. */
enum { READ_ROWS = 4096 };

/* "sentences1, sentences2, scores": the argument names, for messages. */
static void wanted(char *buf, size_t cap, int n_text, const char *const *text_keys, const char *label_key)
{
    size_t len = 0;
    for (int c = 0; c < n_text; c++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", c ? ", " : "", text_keys[c]);
    if (label_key)
        snprintf(buf + len, cap - len, ", %s", label_key);
}

int stc_eval_open_dataset(stc_dataset **ds, const char *path, const char *where, const char *key)
{
    /* A path in the config that names no file is a config error (exit 2). */
    if (!stc_is_file(path))
        return stc_errorf(STC_ERR_USAGE, "%s: \"%s\": %s: no such file", where, key, path);
    stc_dataset_opts opts = {.skip_bad_rows = 0, .index_path = ""};
    int rc = stc_dataset_open(ds, path, &opts);
    return rc ? stc_error_prefix(rc, "%s: \"%s\"", where, key) : 0;
}

int stc_eval_read_columns(const stc_dataset *ds, const int *cols, int nc, stc_eval_texts *out, double **labels)
{
    size_t n = stc_dataset_num_rows(ds);
    size_t *rows = malloc(sizeof *rows * READ_ROWS);
    int rc = rows ? 0 : stc_errorf(STC_ERR_NOMEM, "out of memory (%s)", stc_dataset_path(ds));
    if (!rc && labels && !(*labels = malloc(sizeof **labels * (n ? n : 1))))
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory (%s)", stc_dataset_path(ds));
    stc_rows got;
    stc_rows_init(&got);
    for (size_t start = 0; start < n && !rc; start += READ_ROWS) {
        size_t k = n - start < READ_ROWS ? n - start : READ_ROWS;
        for (size_t i = 0; i < k; i++)
            rows[i] = start + i;
        if ((rc = stc_dataset_read_rows(ds, rows, k, &got)))
            break;
        for (size_t i = 0; i < k && !rc; i++) {
            for (int j = 0; j < nc && !rc; j++) {
                size_t len;
                const char *s = stc_rows_text(&got, i, cols[j], &len);
                rc = stc_eval_texts_push(&out[j], s, len);
            }
            if (labels)
                (*labels)[start + i] = got.labels[i];
        }
    }
    for (int j = 0; j < nc && !rc; j++)
        rc = stc_eval_texts_finish(&out[j]);
    stc_rows_free(&got);
    free(rows);
    return rc;
}

/* The rows of a dataset file whose columns are exactly the evaluator's. */
static int load_dataset(stc_eval_rows *r, const char *path, const char *where, int n_text,
                        const char *const *text_keys, const char *label_key)
{
    stc_dataset *ds;
    int rc = stc_eval_open_dataset(&ds, path, where, "dataset");
    if (rc)
        return rc;
    char want[512];
    wanted(want, sizeof want, n_text, text_keys, label_key);
    int has_label = stc_dataset_label_kind(ds) != STC_LABEL_NONE;
    if (stc_dataset_num_text_columns(ds) != n_text || has_label != (label_key != NULL) ||
        (has_label && stc_dataset_label_kind(ds) != STC_LABEL_SCALAR)) {
        char have[512];
        size_t len = 0;
        for (int c = 0; c < stc_dataset_num_text_columns(ds); c++)
            len += (size_t)snprintf(have + len, sizeof have - len, "%s%s", c ? ", " : "",
                                    stc_dataset_text_column_name(ds, c));
        snprintf(have + len, sizeof have - len, "%s%s%s", has_label ? "; label " : "",
                 has_label ? stc_dataset_label_column_name(ds) : "",
                 has_label && stc_dataset_label_kind(ds) != STC_LABEL_SCALAR ? " (not one number per row)" : "");
        rc = stc_errorf(STC_ERR_DATA, "%s: %s has text columns %s; the evaluator needs %d text columns in this order "
                        "(as %s)%s", where, path, have, n_text, want,
                        label_key ? " and a \"label\" or \"score\" column of numbers" : " and no label column");
        stc_dataset_close(ds);
        return rc;
    }
    int cols[STC_EVAL_MAX_COLUMNS] = {0, 1, 2};
    rc = stc_eval_read_columns(ds, cols, n_text, r->col, label_key ? &r->labels : NULL);
    r->n = stc_dataset_num_rows(ds);
    stc_dataset_close(ds);
    return rc;
}

static int load_inline(stc_eval_rows *r, const cJSON *spec, const char *where, int n_text,
                       const char *const *text_keys, const char *label_key)
{
    int rc = 0;
    for (int c = 0; c < n_text; c++) {
        const cJSON *arr = NULL;
        if ((rc = stc_eval_get_strings(spec, text_keys[c], where, &arr)))
            return rc;
        if (!arr)
            return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" is missing (give \"dataset\" or every one of the lists)",
                              where, text_keys[c]);
        size_t n = (size_t)cJSON_GetArraySize(arr);
        if (c > 0 && n != r->n)
            return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" has %zu entries, \"%s\" %zu", where, text_keys[c], n,
                              text_keys[0], r->n);
        r->n = n;
        for (const cJSON *e = arr->child; e && !rc; e = e->next)
            rc = stc_eval_texts_push(&r->col[c], e->valuestring, strlen(e->valuestring));
        if (rc)
            return rc;
    }
    if (!label_key)
        return 0;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(spec, label_key);
    if (!cJSON_IsArray(arr))
        return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" must be a list of numbers", where, label_key);
    if ((size_t)cJSON_GetArraySize(arr) != r->n)
        return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" has %d entries, \"%s\" %zu", where, label_key,
                          cJSON_GetArraySize(arr), text_keys[0], r->n);
    if (!(r->labels = malloc(sizeof *r->labels * (r->n ? r->n : 1))))
        return stc_errorf(STC_ERR_NOMEM, "out of memory (%s)", label_key);
    size_t i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        if (cJSON_IsBool(e))
            r->labels[i] = cJSON_IsTrue(e);
        else if (cJSON_IsNumber(e))
            r->labels[i] = e->valuedouble;
        else
            return stc_errorf(STC_ERR_USAGE, "%s: \"%s\"[%zu] must be a number", where, label_key, i);
    }
    return 0;
}

int stc_eval_rows_load(stc_eval_rows *r, const cJSON *spec, const char *where, int n_text,
                       const char *const *text_keys, const char *label_key)
{
    memset(r, 0, sizeof *r);
    r->n_text = n_text;
    for (int c = 0; c < n_text; c++)
        stc_eval_texts_init(&r->col[c]);
    const char *path = NULL;
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(spec, "dataset");
    if (ds && !cJSON_IsNull(ds)) {
        if (!cJSON_IsString(ds))
            return stc_errorf(STC_ERR_USAGE, "%s: \"dataset\" must be a path (JSONL, CSV or TSV)", where);
        path = ds->valuestring;
    }
    int any_inline = label_key && cJSON_GetObjectItemCaseSensitive(spec, label_key);
    for (int c = 0; c < n_text; c++)
        any_inline |= cJSON_GetObjectItemCaseSensitive(spec, text_keys[c]) != NULL;
    char want[512];
    wanted(want, sizeof want, n_text, text_keys, label_key);
    int rc;
    if (path && any_inline)
        rc = stc_errorf(STC_ERR_USAGE, "%s: give either \"dataset\" or the lists (%s), not both", where, want);
    else if (path)
        rc = load_dataset(r, path, where, n_text, text_keys, label_key);
    else if (any_inline)
        rc = load_inline(r, spec, where, n_text, text_keys, label_key);
    else
        rc = stc_errorf(STC_ERR_USAGE, "%s: no data: give \"dataset\" (a JSONL, CSV or TSV file) or the lists %s", where,
                        want);
    for (int c = 0; c < n_text && !rc; c++)
        rc = stc_eval_texts_finish(&r->col[c]);
    if (!rc && r->n == 0)
        rc = stc_errorf(STC_ERR_DATA, "%s: no rows to evaluate%s%s", where, path ? " in " : "", path ? path : "");
    if (rc)
        stc_eval_rows_free(r);
    return rc;
}

void stc_eval_rows_free(stc_eval_rows *r)
{
    for (int c = 0; c < STC_EVAL_MAX_COLUMNS; c++)
        stc_eval_texts_free(&r->col[c]);
    free(r->labels);
    memset(r, 0, sizeof *r);
}
