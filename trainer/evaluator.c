/*
 * The evaluator API (evaluator.h): the config's "evaluator" (one object, or
 * a list run as Python's SequentialEvaluator), the arguments every
 * evaluator class has, metric naming (prefix_name_to_metrics) and the
 * metric list.
 */
#include "trainer/evaluator.h"
#include "trainer/eval_internal.h"
#include "util/error.h"
#include "util/json.h"
#include "util/pyfloat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- metrics ---------------------------------------------------------------- */

void stc_metrics_init(stc_metrics *ms) { memset(ms, 0, sizeof *ms); }

void stc_metrics_free(stc_metrics *ms)
{
    free(ms->m);
    stc_metrics_init(ms);
}

/* As a Python dict: a new name is appended, an existing one keeps its
 * place and takes the new value. */
int stc_metrics_add(stc_metrics *ms, const char *name, double value)
{
    if (strlen(name) >= STC_METRIC_NAME_MAX)
        return stc_errorf(STC_ERR_USAGE, "metric name \"%s\" is longer than %d bytes (shorten the evaluator's name)",
                          name, STC_METRIC_NAME_MAX - 1);
    for (int i = 0; i < ms->n; i++)
        if (!strcmp(ms->m[i].name, name)) {
            ms->m[i].value = value;
            return 0;
        }
    if (ms->n == ms->cap) {
        int cap = ms->cap ? 2 * ms->cap : 32;
        stc_metric *m = realloc(ms->m, sizeof *m * (size_t)cap);
        if (!m)
            return stc_errorf(STC_ERR_NOMEM, "out of memory (metrics)");
        ms->m = m;
        ms->cap = cap;
    }
    snprintf(ms->m[ms->n].name, STC_METRIC_NAME_MAX, "%s", name);
    ms->m[ms->n].value = value;
    ms->n++;
    return 0;
}

const double *stc_metrics_get(const stc_metrics *ms, const char *name)
{
    for (int i = 0; i < ms->n; i++)
        if (!strcmp(ms->m[i].name, name))
            return &ms->m[i].value;
    return NULL;
}

/* A JSON number as Python's json.dumps writes a float. */
static const char *json_number(double v, char *buf)
{
    stc_pyfloat_repr(v, buf);
    if (!strcmp(buf, "nan"))
        return "NaN";
    if (!strcmp(buf, "inf"))
        return "Infinity";
    if (!strcmp(buf, "-inf"))
        return "-Infinity";
    return buf;
}

char *stc_metrics_to_json(const stc_metrics *ms)
{
    size_t cap = 64, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    len += (size_t)snprintf(out, cap, "{");
    for (int i = 0; i < ms->n; i++) {
        cJSON *key = cJSON_CreateString(ms->m[i].name);
        char *k = key ? cJSON_PrintUnformatted(key) : NULL;
        cJSON_Delete(key);
        if (!k) {
            free(out);
            return NULL;
        }
        char num[STC_PYFLOAT_MAX];
        const char *v = json_number(ms->m[i].value, num);
        size_t need = len + strlen(k) + strlen(v) + 16;
        if (need > cap) {
            while (cap < need)
                cap *= 2;
            char *o = realloc(out, cap);
            if (!o) {
                free(k);
                free(out);
                return NULL;
            }
            out = o;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s\n  %s: %s", i ? "," : "", k, v);
        free(k);
    }
    if (len + 4 > cap) {
        char *o = realloc(out, len + 4);
        if (!o) {
            free(out);
            return NULL;
        }
        out = o;
    }
    strcpy(out + len, ms->n ? "\n}" : "}");
    return out;
}

/* ---- the evaluator list -------------------------------------------------------- */

static const stc_eval_family *const families[] = {
    &stc_eval_ir_family,
    &stc_eval_similarity_family,
    &stc_eval_triplet_family,
    &stc_eval_binary_family,
    &stc_eval_reranking_family,
    &stc_eval_mse_family,
    &stc_eval_paraphrase_family,
    &stc_eval_translation_family,
};
enum { N_FAMILIES = (int)(sizeof families / sizeof families[0]) };

/* Arguments every evaluator class takes (BaseEvaluator subclasses). */
static const char *const common_keys[] = {"type", "name", "batch_size", "show_progress_bar", "write_csv",
                                          "truncate_dim", NULL};
enum { NAME_MAX_LEN = 100 }; /* leaves room for the longest key in STC_METRIC_NAME_MAX */

typedef struct {
    const stc_eval_family *fam;
    void *impl;
    char name[NAME_MAX_LEN + 1];
    char where[512];
    int batch_size, truncate_dim, write_csv;
} eval_entry;

struct stc_evaluator {
    eval_entry *e;
    int n;
    int sequential; /* a list: Python's SequentialEvaluator (adds sequential_score) */
};

static int in_list(const char *const *list, const char *s)
{
    for (int i = 0; list && list[i]; i++)
        if (!strcmp(list[i], s))
            return 1;
    return 0;
}

static const stc_eval_family *family_of(const char *type)
{
    for (int i = 0; i < N_FAMILIES; i++)
        if (!strcmp(families[i]->type, type))
            return families[i];
    return NULL;
}

static int check_keys(const cJSON *spec, const stc_eval_family *fam, const char *where)
{
    for (const cJSON *k = spec->child; k; k = k->next)
        if (!in_list(common_keys, k->string) && !in_list(fam->keys, k->string)) {
            char known[1024] = "";
            size_t len = 0;
            for (const char *const *l = fam->keys; *l && len < sizeof known - 64; l++)
                len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", len ? ", " : "", *l);
            return stc_errorf(STC_ERR_USAGE, "%s: unknown key \"%s\" (%s takes: %s, and %s)", where, k->string,
                              fam->type, known, "name, batch_size, write_csv, truncate_dim, show_progress_bar");
        }
    return 0;
}

static int entry_create(eval_entry *e, const cJSON *spec, const char *file, int index)
{
    if (index >= 0)
        snprintf(e->where, sizeof e->where, "%s: evaluator[%d]", file, index);
    else
        snprintf(e->where, sizeof e->where, "%s: evaluator", file);
    if (!cJSON_IsObject(spec))
        return stc_errorf(STC_ERR_USAGE, "%s: must be an object {\"type\": <evaluator class>, ...}", e->where);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(spec, "type");
    if (!cJSON_IsString(type))
        return stc_errorf(STC_ERR_USAGE, "%s: \"type\" (the Python class name, a string) is required", e->where);
    e->fam = family_of(type->valuestring);
    if (!e->fam) {
        char known[512] = "";
        size_t len = 0;
        for (int i = 0; i < N_FAMILIES; i++)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", families[i]->type);
        return stc_errorf(STC_ERR_USAGE, "%s: unknown evaluator type \"%s\" (stc has: %s)", e->where,
                          type->valuestring, known);
    }
    size_t wl = strlen(e->where);
    snprintf(e->where + wl, sizeof e->where - wl, " (%s)", e->fam->type);
    int rc = check_keys(spec, e->fam, e->where);
    if (rc)
        return rc;

    const char *name = "";
    int progress = 0;
    e->batch_size = e->fam->default_batch_size;
    e->truncate_dim = 0;
    e->write_csv = 1;
    if ((rc = stc_json_get_string(spec, "name", e->where, &name)) ||
        (rc = stc_eval_get_positive(spec, "batch_size", e->where, &e->batch_size)) ||
        (rc = stc_eval_get_positive(spec, "truncate_dim", e->where, &e->truncate_dim)) ||
        (rc = stc_json_get_bool(spec, "write_csv", e->where, &e->write_csv)) ||
        (rc = stc_json_get_bool(spec, "show_progress_bar", e->where, &progress)))
        return STC_ERR_USAGE; /* the getter's message names where and the key */
    if (strlen(name) > NAME_MAX_LEN)
        return stc_errorf(STC_ERR_USAGE, "%s: \"name\" is longer than %d bytes", e->where, NAME_MAX_LEN);
    snprintf(e->name, sizeof e->name, "%s", name);
    return e->fam->create(&e->impl, spec, e->where);
}

int stc_evaluator_create(stc_evaluator **out, const cJSON *spec, const char *where)
{
    *out = NULL;
    int n = cJSON_IsArray(spec) ? cJSON_GetArraySize(spec) : 1;
    if (cJSON_IsArray(spec) && n == 0)
        return stc_errorf(STC_ERR_USAGE, "%s: \"evaluator\" is an empty list", where);
    stc_evaluator *ev = calloc(1, sizeof *ev);
    eval_entry *e = calloc((size_t)n, sizeof *e);
    if (!ev || !e) {
        free(ev);
        free(e);
        return stc_errorf(STC_ERR_NOMEM, "out of memory (evaluators)");
    }
    ev->e = e;
    ev->sequential = cJSON_IsArray(spec);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        rc = entry_create(&e[i], ev->sequential ? cJSON_GetArrayItem(spec, i) : spec, where, ev->sequential ? i : -1);
        ev->n = i + 1;
    }
    if (rc) {
        stc_evaluator_free(ev);
        return rc;
    }
    *out = ev;
    return 0;
}

void stc_evaluator_free(stc_evaluator *ev)
{
    if (!ev)
        return;
    for (int i = 0; i < ev->n; i++)
        if (ev->e[i].impl)
            ev->e[i].fam->free(ev->e[i].impl);
    free(ev->e);
    free(ev);
}

/* Python's prefix_name_to_metrics: every key gets "{name}_"; the primary
 * metric too unless it already starts with it. */
static int add_prefixed(stc_metrics *out, const stc_metrics *m, const char *name, char *primary)
{
    char key[2 * STC_METRIC_NAME_MAX];
    for (int i = 0; i < m->n; i++) {
        snprintf(key, sizeof key, "%s%s%s", name, *name ? "_" : "", m->m[i].name);
        int rc = stc_metrics_add(out, key, m->m[i].value);
        if (rc)
            return rc;
    }
    size_t nl = strlen(name);
    if (*name && !(!strncmp(m->primary, name, nl) && m->primary[nl] == '_'))
        snprintf(key, sizeof key, "%s_%s", name, m->primary);
    else
        snprintf(key, sizeof key, "%s", m->primary);
    if (strlen(key) >= STC_METRIC_NAME_MAX)
        return stc_errorf(STC_ERR_USAGE, "metric name \"%s\" is longer than %d bytes", key, STC_METRIC_NAME_MAX - 1);
    memcpy(primary, key, strlen(key) + 1);
    return 0;
}

int stc_evaluator_run(stc_evaluator *ev, const stc_st_model *model, const stc_comm *comm, const char *csv_dir,
                      double epoch, int64_t steps, stc_metrics *out)
{
    double last = 0.0;
    for (int i = 0; i < ev->n; i++) {
        eval_entry *e = &ev->e[i];
        stc_eval_call call = {.model = model, .comm = comm,
                              .csv_dir = comm->rank == 0 && e->write_csv ? csv_dir : NULL,
                              .epoch = epoch, .steps = steps, .name = e->name,
                              .batch_size = e->batch_size, .truncate_dim = e->truncate_dim};
        stc_metrics m;
        stc_metrics_init(&m);
        int rc = e->fam->run(e->impl, &call, &m);
        if (!rc)
            rc = add_prefixed(out, &m, e->name, out->primary);
        stc_metrics_free(&m);
        if (rc)
            return stc_error_prefix(rc, "%s", e->where);
        const double *v = stc_metrics_get(out, out->primary);
        if (!v)
            return stc_errorf(STC_ERR_USAGE, "%s: primary metric \"%s\" is not among its metrics (as in Python, an "
                              "evaluator named like its own metric keys cannot be used)", e->where, out->primary);
        last = *v;
    }
    /* Python's SequentialEvaluator: the merged metrics plus sequential_score,
     * the last evaluator's primary metric, which is its primary metric. */
    if (ev->sequential) {
        int rc = stc_metrics_add(out, "sequential_score", last);
        if (rc)
            return rc;
        snprintf(out->primary, sizeof out->primary, "sequential_score");
    }
    return 0;
}
