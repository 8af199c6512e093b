/* Texts from plain text or JSONL files (see text_input.h). */
#include "data/text_input.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

int stc_texts_is_jsonl(const char *path)
{
    size_t n = strlen(path);
    return n >= 6 && !strcmp(path + n - 6, ".jsonl");
}

/* Grows the pointer/length arrays to hold at least need entries. */
static int reserve(stc_texts *t, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 1024;
    while (c < need)
        c *= 2;
    const char **p = realloc(t->texts, sizeof *p * c);
    if (!p)
        return stc_errorf(STC_ERR_NOMEM, "out of memory reading texts");
    t->texts = p;
    size_t *l = realloc(t->lens, sizeof *l * c);
    if (!l)
        return stc_errorf(STC_ERR_NOMEM, "out of memory reading texts");
    t->lens = l;
    *cap = c;
    return 0;
}

static int load_lines(stc_texts *t, const char *path)
{
    size_t cap = 0, len = 0;
    int rc = stc_read_file(path, &t->file, &len);
    if (rc)
        return rc;
    t->data = t->file;
    t->file = NULL;
    size_t start = 0;
    while (start < len) {
        char *nl = memchr(t->data + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - t->data) : len;
        size_t l = end - start;
        if (l > 0 && t->data[start + l - 1] == '\r')
            l--;
        if ((rc = reserve(t, &cap, t->n + 1)))
            return rc;
        t->texts[t->n] = t->data + start;
        t->lens[t->n] = l;
        t->n++;
        start = end + 1;
    }
    return 0;
}

static int load_jsonl(stc_texts *t, const char *path, const char *field)
{
    size_t cap = 0, len = 0, used = 0;
    int rc = stc_read_file(path, &t->file, &len);
    if (rc)
        return rc;
    /* Decoded texts are never longer than their JSON lines. */
    t->data = stc_malloc(len + 1, "texts");
    if (!t->data)
        return STC_ERR_NOMEM;
    size_t *offs = NULL;
    size_t start = 0, line = 0;
    while (start < len) {
        char *nl = memchr(t->file + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - t->file) : len;
        line++;
        size_t s = start, e = end;
        while (s < e && (t->file[s] == ' ' || t->file[s] == '\t' || t->file[s] == '\r'))
            s++;
        start = end + 1;
        if (s == e)
            continue;
        cJSON *obj = cJSON_ParseWithLength(t->file + s, e - s);
        if (!obj) {
            rc = stc_errorf(STC_ERR_DATA, "%s:%zu: not valid JSON", path, line);
            goto out;
        }
        const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, field) : NULL;
        if (!cJSON_IsObject(obj))
            rc = stc_errorf(STC_ERR_DATA, "%s:%zu: expected a JSON object", path, line);
        else if (!v)
            rc = stc_errorf(STC_ERR_DATA, "%s:%zu: no field \"%s\" (choose the field with --text-field)", path, line, field);
        else if (!cJSON_IsString(v))
            rc = stc_errorf(STC_ERR_DATA, "%s:%zu: field \"%s\" is not a string", path, line, field);
        if (rc) {
            cJSON_Delete(obj);
            goto out;
        }
        /* cJSON decodes \u0000 as the end of the string; that is the one
         * character that cannot appear in a text read this way. */
        size_t l = strlen(v->valuestring);
        if ((rc = reserve(t, &cap, t->n + 1))) {
            cJSON_Delete(obj);
            goto out;
        }
        size_t *o = realloc(offs, sizeof *o * cap);
        if (!o) {
            cJSON_Delete(obj);
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory reading texts");
            goto out;
        }
        offs = o;
        memcpy(t->data + used, v->valuestring, l);
        offs[t->n] = used;
        t->lens[t->n] = l;
        used += l;
        t->n++;
        cJSON_Delete(obj);
    }
    for (size_t i = 0; i < t->n; i++)
        t->texts[i] = t->data + offs[i];
out:
    free(offs);
    free(t->file);
    t->file = NULL;
    return rc;
}

int stc_texts_load(stc_texts *t, const char *path, const char *text_field)
{
    memset(t, 0, sizeof *t);
    int rc = stc_texts_is_jsonl(path) ? load_jsonl(t, path, text_field ? text_field : "text") : load_lines(t, path);
    if (rc)
        stc_texts_free(t);
    return rc;
}

void stc_texts_free(stc_texts *t)
{
    free(t->texts);
    free(t->lens);
    free(t->data);
    free(t->file);
    memset(t, 0, sizeof *t);
}
