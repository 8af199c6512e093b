/* Parameter registry (see params.h). */
#include "model/params.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

void stc_params_init(stc_param_table *t) { memset(t, 0, sizeof *t); }

void stc_params_free(stc_param_table *t)
{
    for (int i = 0; i < t->n; i++) {
        free(t->params[i].name);
        free(t->params[i].file_key);
    }
    free(t->params);
    free(t->slab);
    memset(t, 0, sizeof *t);
}

int stc_params_add(stc_param_table *t, const char *name, const char *file_key, int module_idx,
                   int ndim, const int64_t *shape, int optional)
{
    if (t->slab) {
        stc_errorf(STC_ERR_INTERNAL, "parameter '%s' registered after the slab was allocated", name);
        return -1;
    }
    if (ndim < 1 || ndim > STC_PARAM_MAX_DIMS) {
        stc_errorf(STC_ERR_INTERNAL, "parameter '%s': %d dimensions", name, ndim);
        return -1;
    }
    if (stc_params_find(t, name) >= 0) {
        stc_errorf(STC_ERR_INTERNAL, "parameter '%s' registered twice", name);
        return -1;
    }
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        stc_param *p = realloc(t->params, sizeof *p * (size_t)cap);
        if (!p) {
            stc_errorf(STC_ERR_NOMEM, "out of memory registering parameter '%s'", name);
            return -1;
        }
        t->params = p;
        t->cap = cap;
    }
    stc_param *p = &t->params[t->n];
    memset(p, 0, sizeof *p);
    p->name = strdup(name);
    p->file_key = strdup(file_key);
    if (!p->name || !p->file_key) {
        free(p->name);
        free(p->file_key);
        stc_errorf(STC_ERR_NOMEM, "out of memory registering parameter '%s'", name);
        return -1;
    }
    p->module_idx = module_idx;
    p->ndim = ndim;
    p->count = 1;
    for (int d = 0; d < ndim; d++) {
        p->shape[d] = shape[d];
        p->count *= (size_t)shape[d];
    }
    p->offset = t->total;
    p->optional = optional;
    t->total += p->count;
    return t->n++;
}

int stc_params_alloc(stc_param_table *t)
{
    t->slab = stc_calloc(t->total, sizeof(float), "model parameters");
    return t->slab ? 0 : STC_ERR_NOMEM;
}

float *stc_params_data(const stc_param_table *t, int idx) { return t->slab + t->params[idx].offset; }

int stc_params_find(const stc_param_table *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->params[i].name, name))
            return i;
    return -1;
}
