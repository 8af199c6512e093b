/* Saving a Sentence Transformers model directory (see st_save.h). */
#include "model/st_save.h"
#include "model/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Weight files are written from the slab, never copied. */
static int is_weight_file(const char *name)
{
    return !strcmp(name, "model.safetensors") || !strcmp(name, "pytorch_model.bin") ||
           strstr(name, ".tmp") != NULL;
}

/* Copies src_dir's files (and, recursively, its folders) into dst_dir,
 * except weight files. */
static int copy_tree(const char *src_dir, const char *dst_dir)
{
    int rc = stc_mkdir_p(dst_dir);
    if (rc)
        return rc;
    DIR *d = opendir(src_dir);
    if (!d)
        return stc_errorf(STC_ERR_IO, "%s: cannot list: %s", src_dir, strerror(errno));
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.' || is_weight_file(e->d_name))
            continue;
        char *src = stc_path_join(src_dir, e->d_name), *dst = stc_path_join(dst_dir, e->d_name);
        if (!src || !dst) {
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
        } else if (stc_is_dir(src)) {
            /* Checkpoints and run outputs are not part of a model. */
            if (strncmp(e->d_name, "checkpoint-", 11) != 0 && strcmp(e->d_name, "eval") != 0)
                rc = copy_tree(src, dst);
        } else if (stc_is_file(src)) {
            char *data;
            size_t len;
            if (!(rc = stc_read_file(src, &data, &len))) {
                rc = stc_write_file_atomic(dst, data, len);
                free(data);
            }
        }
        free(src);
        free(dst);
    }
    closedir(d);
    return rc;
}

/* Writes module_idx's parameters to file under their file keys. */
static int write_module_weights(const stc_st_model *m, int module_idx, const char *file)
{
    const stc_param_table *t = &m->params;
    int n = 0;
    for (int i = 0; i < t->n; i++)
        n += t->params[i].module_idx == module_idx;
    stc_st_write_tensor *w = stc_calloc((size_t)n, sizeof *w, "tensor list");
    if (!w)
        return STC_ERR_NOMEM;
    int k = 0;
    for (int i = 0; i < t->n; i++) {
        const stc_param *p = &t->params[i];
        if (p->module_idx != module_idx)
            continue;
        w[k].name = p->file_key;
        w[k].dtype = STC_DT_F32;
        w[k].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++)
            w[k].shape[d] = p->shape[d];
        w[k].data = stc_params_data(t, i);
        k++;
    }
    /* transformers refuses safetensors files without format "pt". */
    const char *keys[] = {"format"}, *vals[] = {"pt"};
    int rc = stc_safetensors_write(file, w, n, keys, vals, 1);
    free(w);
    return rc;
}

/* A module that router_config.json lists in no route is never run, and stc
 * does not load it, but Python loads every listed module: its weights are
 * copied as they are. */
static int copy_unrouted_weights(const char *src_dir, const char *out_dir, const char *router_path, const char *id)
{
    char *rsrc = stc_path_join(src_dir, router_path), *rdst = stc_path_join(out_dir, router_path);
    char *msrc = rsrc ? stc_path_join(rsrc, id) : NULL, *mdst = rdst ? stc_path_join(rdst, id) : NULL;
    char *src = msrc ? stc_path_join(msrc, "model.safetensors") : NULL;
    char *dst = mdst ? stc_path_join(mdst, "model.safetensors") : NULL;
    int rc = src && dst ? 0 : stc_errorf(STC_ERR_NOMEM, "out of memory");
    if (!rc && stc_is_file(src)) {
        char *data;
        size_t len;
        if (!(rc = stc_read_file(src, &data, &len))) {
            rc = stc_write_file_atomic(dst, data, len);
            free(data);
        }
    }
    free(rsrc);
    free(rdst);
    free(msrc);
    free(mdst);
    free(src);
    free(dst);
    return rc;
}

/* Writes module_idx's weights to out_dir/rel/model.safetensors. */
static int save_weights_in(const stc_st_model *m, int module_idx, const char *out_dir, const char *rel)
{
    char *mdir = stc_path_join(out_dir, rel);
    char *file = mdir ? stc_path_join(mdir, "model.safetensors") : NULL;
    int rc = file ? stc_mkdir_p(mdir) : stc_errorf(STC_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = write_module_weights(m, module_idx, file);
    free(file);
    free(mdir);
    return rc;
}

int stc_st_model_save(const stc_st_model *m, const char *out_dir)
{
    int rc = stc_mkdir_p(out_dir);
    if (rc)
        return rc;
    char a[4096], b[4096];
    int same_dir = realpath(m->dir, a) && realpath(out_dir, b) && strcmp(a, b) == 0;
    if (!same_dir) {
        if ((rc = copy_tree(m->dir, out_dir)))
            return rc;
    }
    if (m->router) {
        /* A Router's modules live in their id folders (router_config.json,
         * their configs and tokenizers came with the tree above); the
         * top-level modules after it in their modules.json folders. */
        const stc_st_router *r = m->router;
        for (int e = 0; e < r->cfg.n_entries && !rc; e++) {
            const stc_st_routed_module *s = &r->subs[e];
            if (s->loaded && (s->mod.kind == STC_MODULE_TRANSFORMER || s->mod.kind == STC_MODULE_DENSE))
                rc = save_weights_in(m, s->module_idx, out_dir, s->mod.path);
            else if (!s->loaded && !same_dir)
                rc = copy_unrouted_weights(m->dir, out_dir, r->top[0].path, r->cfg.entries[e].id);
        }
        for (int k = 1; k < r->n_top && !rc; k++)
            if (r->top[k].kind == STC_MODULE_DENSE)
                rc = save_weights_in(m, k, out_dir, r->top[k].path);
        return rc;
    }
    for (int k = 0; k < m->n_modules && !rc; k++) {
        const stc_module *mod = &m->modules[k];
        if (mod->kind == STC_MODULE_TRANSFORMER || mod->kind == STC_MODULE_DENSE)
            rc = save_weights_in(m, k, out_dir, mod->path);
    }
    return rc;
}
