/* Sentence Transformers model directory loader (see st_model.h). */
#include "model/st_model.h"
#include "model/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The class name at the end of a dotted Python path. */
static const char *class_name(const char *type)
{
    const char *dot = strrchr(type, '.');
    return dot ? dot + 1 : type;
}

/* The module kind of a Python class path, by its class name (5.x writes
 * "sentence_transformers.models.Pooling", 6.x
 * "sentence_transformers.sentence_transformer.modules.pooling.Pooling");
 * -1 if stc has no such module. */
static int kind_of(const char *type, stc_module_kind *kind)
{
    static const struct { const char *cls; stc_module_kind kind; } table[] = {
        {"Transformer", STC_MODULE_TRANSFORMER}, {"Pooling", STC_MODULE_POOLING}, {"Dense", STC_MODULE_DENSE},
        {"Normalize", STC_MODULE_NORMALIZE},     {"Router", STC_MODULE_ROUTER},   {"Asym", STC_MODULE_ROUTER},
    };
    const char *cls = class_name(type);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!strcmp(cls, table[i].cls)) {
            *kind = table[i].kind;
            return 0;
        }
    }
    return -1;
}

/* Reads modules.json into m->modules (kinds, names, paths). */
static int load_modules_json(stc_st_model *m)
{
    char *path = stc_path_join(m->dir, "modules.json");
    if (!path)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    int rc = 0;
    cJSON *root = NULL;
    if (!stc_is_file(path)) {
        rc = stc_errorf(STC_ERR_DATA, "%s: not found; is %s a Sentence Transformers model directory?", path, m->dir);
        goto out;
    }
    if ((rc = stc_json_load(path, &root)))
        goto out;
    if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) == 0) {
        rc = stc_errorf(STC_ERR_DATA, "%s: expected a non-empty JSON array of modules", path);
        goto out;
    }
    int n = cJSON_GetArraySize(root);
    m->modules = stc_calloc((size_t)n, sizeof *m->modules, "modules");
    if (!m->modules) {
        rc = STC_ERR_NOMEM;
        goto out;
    }
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, root) {
        stc_module *mod = &m->modules[i];
        const char *name = NULL, *mpath = NULL, *type = NULL;
        if (!cJSON_IsObject(e)) {
            rc = stc_errorf(STC_ERR_DATA, "%s: entry %d is not an object", path, i);
            goto out;
        }
        if ((rc = stc_json_get_string(e, "name", path, &name)) ||
            (rc = stc_json_get_string(e, "path", path, &mpath)) ||
            (rc = stc_json_get_string(e, "type", path, &type)))
            goto out;
        if (!type || !mpath) {
            rc = stc_errorf(STC_ERR_DATA, "%s: entry %d lacks \"type\" or \"path\"", path, i);
            goto out;
        }
        char idx[16];
        snprintf(idx, sizeof idx, "%d", i);
        mod->name = strdup(name ? name : idx);
        mod->path = strdup(mpath);
        mod->type = strdup(type);
        m->n_modules = ++i;
        if (!mod->name || !mod->path || !mod->type) {
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (kind_of(type, &mod->kind)) {
            rc = stc_errorf(STC_ERR_DATA,
                            "%s: module %d has unsupported type \"%s\" (supported: Transformer, Pooling, Dense, Normalize, Router)",
                            path, i - 1, type);
            goto out;
        }
    }
out:
    cJSON_Delete(root);
    free(path);
    return rc;
}

/* The pipeline stc runs: Transformer, then Pooling, then Dense/Normalize.
 * where names the file (and route) for messages; *pooling_module is set to
 * the Pooling module's index. */
static int check_pipeline(const stc_module *mods, int n, const char *where, int *pooling_module)
{
    if (mods[0].kind != STC_MODULE_TRANSFORMER)
        return stc_errorf(STC_ERR_DATA, "%s: the first module must be a Transformer, not \"%s\"", where, mods[0].type);
    *pooling_module = -1;
    for (int k = 1; k < n; k++) {
        const stc_module *mod = &mods[k];
        if (mod->kind == STC_MODULE_TRANSFORMER)
            return stc_errorf(STC_ERR_DATA, "%s: module %s: only one Transformer module is supported", where, mod->name);
        if (mod->kind == STC_MODULE_ROUTER)
            return stc_errorf(STC_ERR_DATA, "%s: module %s: a Router is supported only as module 0", where, mod->name);
        if (mod->kind == STC_MODULE_POOLING) {
            if (*pooling_module >= 0)
                return stc_errorf(STC_ERR_DATA, "%s: module %s: only one Pooling module is supported", where, mod->name);
            *pooling_module = k;
        } else if (*pooling_module < 0) {
            return stc_errorf(STC_ERR_DATA, "%s: module %s (%s) comes before any Pooling module", where, mod->name,
                              mod->type);
        }
    }
    if (*pooling_module < 0)
        return stc_errorf(STC_ERR_DATA, "%s: no Pooling module; stc needs sentence embeddings", where);
    return 0;
}

/* The Transformer module: encoder, tokenizer and their settings. */
typedef struct {
    stc_bert bert;
    stc_tokenizer *tokenizer;
    int max_seq_length, do_lower_case;
} transformer;

/* sentence_bert_config.json of the Transformer module. sentence-transformers
 * 6.x no longer writes max_seq_length there: it is the tokenizer's
 * model_max_length (tokenizer_config.json), which 5.x also fell back to
 * (capped by max_position_embeddings, as here). */
static int load_sbert_config(transformer *tr, const char *tdir)
{
    char *path = stc_path_join(tdir, "sentence_bert_config.json");
    char *tpath = stc_path_join(tdir, "tokenizer_config.json");
    if (!path || !tpath) {
        free(path);
        free(tpath);
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    }
    int rc = 0;
    tr->max_seq_length = -1;
    tr->do_lower_case = 0;
    if (stc_is_file(path)) {
        cJSON *root;
        if ((rc = stc_json_load(path, &root)) == 0) {
            if (!(rc = stc_json_get_int(root, "max_seq_length", path, &tr->max_seq_length)))
                rc = stc_json_get_bool(root, "do_lower_case", path, &tr->do_lower_case);
            cJSON_Delete(root);
        }
    }
    int from_sbert = tr->max_seq_length > 0;
    if (!rc && !from_sbert && stc_is_file(tpath)) {
        cJSON *root;
        double mml = -1.0; /* may be 1e30 ("no limit") */
        if ((rc = stc_json_load(tpath, &root)) == 0) {
            rc = stc_json_get_double(root, "model_max_length", tpath, &mml);
            cJSON_Delete(root);
        }
        if (!rc && mml >= 1.0)
            tr->max_seq_length = mml < 1e9 ? (int)mml : 1000000000;
    }
    int maxpos = tr->bert.cfg.max_position_embeddings;
    if (!rc && (tr->max_seq_length <= 0 || tr->max_seq_length > maxpos)) {
        if (tr->max_seq_length > maxpos && from_sbert)
            fprintf(stderr, "stc: warning: %s: max_seq_length %d exceeds max_position_embeddings %d; using %d\n",
                    path, tr->max_seq_length, maxpos, maxpos);
        tr->max_seq_length = maxpos;
    }
    free(path);
    free(tpath);
    return rc;
}

/* Loads the Transformer module in tdir: registers its encoder's tensors
 * under prefix ("0.auto_model.") as module module_idx, reads its settings
 * and its tokenizer. */
static int load_transformer(transformer *tr, const char *tdir, stc_param_table *t, int module_idx,
                            const char *prefix)
{
    memset(tr, 0, sizeof *tr);
    char *cfg = stc_path_join(tdir, "config.json");
    if (!cfg)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    stc_bert_config bcfg;
    int rc = stc_bert_config_load(&bcfg, cfg);
    free(cfg);
    if (rc)
        return rc;
    if ((rc = stc_bert_register(&tr->bert, &bcfg, t, module_idx, prefix)) || (rc = load_sbert_config(tr, tdir)) ||
        (rc = stc_tokenizer_load(&tr->tokenizer, tdir, tr->do_lower_case)))
        return rc;
    if (stc_tokenizer_vocab_size(tr->tokenizer) > bcfg.vocab_size)
        return stc_errorf(STC_ERR_DATA, "%s: the tokenizer has %d tokens but config.json's vocab_size is %d", tdir,
                          stc_tokenizer_vocab_size(tr->tokenizer), bcfg.vocab_size);
    return 0;
}

/* Reads the configuration of a Pooling or Dense module in mdir (a Dense
 * registers its tensors as prefix + "linear.weight"). */
static int load_module_config(stc_module *mod, const char *mdir, stc_param_table *t, int module_idx,
                              const char *prefix)
{
    if (mod->kind == STC_MODULE_POOLING) {
        char *pc = stc_path_join(mdir, "config.json");
        int rc = pc ? stc_pooling_load(&mod->pooling, pc) : stc_errorf(STC_ERR_NOMEM, "out of memory");
        free(pc);
        return rc;
    }
    if (mod->kind == STC_MODULE_DENSE)
        return stc_dense_load_config_named(&mod->dense, mdir, t, module_idx, prefix);
    return 0;
}

/* The sentence embedding width after every module of a checked pipeline;
 * errors name the config whose input width does not fit. */
static int pipeline_dim(const stc_module *mods, int n, const char *dir, int hidden, int *out)
{
    int dim = hidden, rc = 0;
    for (int k = 1; k < n && !rc; k++) {
        const stc_module *mod = &mods[k];
        if (mod->kind == STC_MODULE_POOLING) {
            if (mod->pooling.word_embedding_dimension != dim)
                rc = stc_errorf(STC_ERR_DATA, "%s/%s/config.json: word_embedding_dimension %d does not match the "
                                "transformer's hidden size %d", dir, mod->path, mod->pooling.word_embedding_dimension, dim);
            dim = stc_pooling_dim(&mod->pooling);
        } else if (mod->kind == STC_MODULE_DENSE) {
            if (mod->dense.in_features != dim)
                rc = stc_errorf(STC_ERR_DATA, "%s/%s/config.json: in_features %d does not match the previous module's "
                                "output %d", dir, mod->path, mod->dense.in_features, dim);
            dim = mod->dense.out_features;
        }
    }
    *out = dim;
    return rc;
}

/* config_sentence_transformers.json: prompts, default prompt, similarity. */
static int load_st_config(stc_st_model *m)
{
    char *path = stc_path_join(m->dir, "config_sentence_transformers.json");
    if (!path)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    int rc = 0;
    cJSON *root = NULL;
    const char *sim = "cosine", *def = NULL;
    if (stc_is_file(path)) {
        if ((rc = stc_json_load(path, &root)))
            goto out;
        const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(root, "prompts");
        if (prompts && !cJSON_IsNull(prompts)) {
            if (!cJSON_IsObject(prompts)) {
                rc = stc_errorf(STC_ERR_DATA, "%s: \"prompts\" must be an object of name -> text", path);
                goto out;
            }
            int n = cJSON_GetArraySize(prompts);
            m->prompt_names = stc_calloc((size_t)n, sizeof(char *), "prompts");
            m->prompt_texts = stc_calloc((size_t)n, sizeof(char *), "prompts");
            if (!m->prompt_names || !m->prompt_texts) {
                rc = STC_ERR_NOMEM;
                goto out;
            }
            const cJSON *p;
            cJSON_ArrayForEach(p, prompts) {
                if (!cJSON_IsString(p)) {
                    rc = stc_errorf(STC_ERR_DATA, "%s: prompt \"%s\" must be a string", path, p->string);
                    goto out;
                }
                m->prompt_names[m->n_prompts] = strdup(p->string);
                m->prompt_texts[m->n_prompts] = strdup(p->valuestring);
                m->n_prompts++;
            }
        }
        if ((rc = stc_json_get_string(root, "default_prompt_name", path, &def)) ||
            (rc = stc_json_get_string(root, "similarity_fn_name", path, &sim)))
            goto out;
        if (def && !stc_st_model_prompt(m, def)) {
            rc = stc_errorf(STC_ERR_DATA, "%s: default_prompt_name \"%s\" is not one of the prompts", path, def);
            goto out;
        }
    }
    m->similarity_fn_name = strdup(sim);
    m->default_prompt_name = def ? strdup(def) : NULL;
out:
    cJSON_Delete(root);
    free(path);
    return rc;
}

/* Reads every registered tensor of module module_idx from file. Root BERT
 * files written from task models (BertForMaskedLM, ...) prefix keys with
 * "bert."; that spelling is accepted too. */
static int load_module_weights(const stc_param_table *t, int module_idx, const char *file)
{
    stc_safetensors st;
    if (!stc_is_file(file)) {
        char *dir = strdup(file);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash)
            *slash = '\0';
        char *bin = dir ? stc_path_join(dir, "pytorch_model.bin") : NULL;
        int has_bin = bin && stc_is_file(bin);
        free(bin);
        free(dir);
        if (has_bin)
            return stc_errorf(STC_ERR_DATA, "%s: not found (only pytorch_model.bin is there, which stc does not read: "
                              "save the model with safetensors)", file);
        return stc_errorf(STC_ERR_DATA, "%s: not found", file);
    }
    int rc = stc_safetensors_open(&st, file);
    if (rc)
        return rc;
    for (int i = 0; i < t->n; i++) {
        const stc_param *p = &t->params[i];
        if (p->module_idx != module_idx)
            continue;
        const char *key = p->file_key;
        char alt[300];
        if (!stc_safetensors_find(&st, key)) {
            snprintf(alt, sizeof alt, "bert.%s", p->file_key);
            if (stc_safetensors_find(&st, alt))
                key = alt;
            else if (p->optional)
                continue; /* stays zero */
            else {
                rc = stc_errorf(STC_ERR_DATA, "%s: tensor '%s' (parameter %s) is missing", file, p->file_key, p->name);
                break;
            }
        }
        if ((rc = stc_safetensors_read_f32(&st, key, stc_params_data(t, i), p->ndim, p->shape)))
            break;
    }
    stc_safetensors_close(&st);
    return rc;
}

/* Reads module_idx's weights from dir/rel/model.safetensors. */
static int load_weights_in(const stc_param_table *t, int module_idx, const char *dir, const char *rel)
{
    char *mdir = stc_path_join(dir, rel);
    char *f = mdir ? stc_path_join(mdir, "model.safetensors") : NULL;
    int rc = f ? load_module_weights(t, module_idx, f) : stc_errorf(STC_ERR_NOMEM, "out of memory");
    free(f);
    free(mdir);
    return rc;
}

/* Configuration of the top-level modules after module 0 (their tensors are
 * named "<index>.linear.weight"). */
static int load_top_configs(stc_module *mods, int n, const char *dir, stc_param_table *t)
{
    for (int k = 1; k < n; k++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "%d.", k);
        char *mdir = stc_path_join(dir, mods[k].path);
        int rc = mdir ? load_module_config(&mods[k], mdir, t, k, prefix) : stc_errorf(STC_ERR_NOMEM, "out of memory");
        free(mdir);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- Router models ---- */

static void router_free(stc_st_router *r)
{
    if (!r)
        return;
    for (int i = 0; r->subs && i < r->cfg.n_entries; i++) {
        stc_st_routed_module *s = &r->subs[i];
        free(s->mod.name);
        free(s->mod.path);
        free(s->mod.type);
        if (s->tokenizer)
            stc_tokenizer_free(s->tokenizer);
        stc_bert_free(&s->bert);
    }
    free(r->subs);
    for (int i = 0; i < r->n_top; i++) {
        free(r->top[i].name);
        free(r->top[i].path);
        free(r->top[i].type);
    }
    free(r->top);
    for (int v = 0; r->views && v < r->cfg.n_routes; v++)
        free(r->views[v].modules); /* the rest is borrowed */
    free(r->views);
    free(r->param_offset);
    free(r->param_count);
    stc_router_config_free(&r->cfg);
    free(r);
}

/* Loads routed module e, first met at position pos of route `route`:
 * parameters named as Python's named_parameters() does for the first
 * occurrence, "0.sub_modules.<route>.<pos>.". */
static int load_routed_module(stc_st_model *m, stc_st_router *r, int e, int route, int pos)
{
    stc_st_routed_module *s = &r->subs[e];
    const stc_router_entry *en = &r->cfg.entries[e];
    const char *rname = r->cfg.routes[route].name;
    if (kind_of(en->type, &s->mod.kind) || s->mod.kind == STC_MODULE_ROUTER)
        return stc_errorf(STC_ERR_DATA, "%s: route \"%s\", module %d (\"%s\"): unsupported type \"%s\" "
                          "(supported in a route: Transformer, Pooling, Dense, Normalize)",
                          r->cfg.path, rname, pos, en->id, en->type);
    const char *rdir = r->top[0].path; /* ids are folders of the Router's own folder */
    s->mod.name = strdup(en->id);
    s->mod.type = strdup(en->type);
    s->mod.path = rdir[0] ? stc_path_join(rdir, en->id) : strdup(en->id);
    if (!s->mod.name || !s->mod.type || !s->mod.path)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    s->module_idx = r->n_top + e;
    s->loaded = 1;
    char *mdir = stc_path_join(m->dir, s->mod.path);
    if (!mdir)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    int rc = 0;
    if (!stc_is_dir(mdir)) {
        rc = stc_errorf(STC_ERR_DATA, "%s: folder of module \"%s\" (route \"%s\") not found", mdir, en->id, rname);
        goto out;
    }
    /* Sentence Transformers 6.x names the Transformer's model "model"
     * ("0.sub_modules.query.0.model.embeddings...") where 5.x said
     * "auto_model"; stc keeps the auto_model spelling of ST_SPEC and of the
     * models without a Router ("0.auto_model..."). */
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s.sub_modules.%s.%d.%s", r->top[0].name, rname, pos,
             s->mod.kind == STC_MODULE_TRANSFORMER ? "auto_model." : "");
    if (s->mod.kind == STC_MODULE_TRANSFORMER) {
        transformer tr;
        rc = load_transformer(&tr, mdir, &m->params, s->module_idx, prefix);
        /* kept even on error, so router_free releases it */
        s->bert = tr.bert;
        s->tokenizer = tr.tokenizer;
        s->max_seq_length = tr.max_seq_length;
        s->do_lower_case = tr.do_lower_case;
    } else {
        rc = load_module_config(&s->mod, mdir, &m->params, s->module_idx, prefix);
    }
    if (rc)
        stc_error_prefix(rc, "route \"%s\"", rname);
out:
    free(mdir);
    return rc;
}

/* Builds route v's pipeline: its modules, then the top-level ones after the
 * Router. Fields shared with the model are filled in by share_views(). */
static int build_view(stc_st_model *m, stc_st_router *r, int v)
{
    const stc_router_route *route = &r->cfg.routes[v];
    stc_st_model *view = &r->views[v];
    int n = route->n + r->n_top - 1;
    view->modules = stc_calloc((size_t)n, sizeof *view->modules, "route modules");
    if (!view->modules)
        return STC_ERR_NOMEM;
    for (int i = 0; i < route->n; i++)
        view->modules[i] = r->subs[route->entries[i]].mod;
    for (int k = 1; k < r->n_top; k++)
        view->modules[route->n + k - 1] = r->top[k];
    view->n_modules = n;
    char where[1200];
    snprintf(where, sizeof where, "%s: route \"%s\"", r->cfg.path, route->name);
    int rc = check_pipeline(view->modules, n, where, &view->pooling_module);
    if (rc)
        return rc;
    const stc_st_routed_module *t = &r->subs[route->entries[0]];
    view->bert = t->bert;
    view->tokenizer = t->tokenizer;
    view->max_seq_length = t->max_seq_length;
    view->do_lower_case = t->do_lower_case;
    view->router = r;
    view->is_view = 1;
    return pipeline_dim(view->modules, n, m->dir, t->bert.cfg.hidden_size, &view->dim);
}

/* Loads module 0, a Router: every routed module, registered in Python's
 * named_parameters() order (routes in "structure" order, each module at its
 * first occurrence), then the top-level modules after it. m->modules (the
 * modules.json entries) moves into the router. */
static int load_router(stc_st_model *m)
{
    stc_st_router *r = stc_calloc(1, sizeof *r, "router");
    if (!r)
        return STC_ERR_NOMEM;
    r->top = m->modules;
    r->n_top = m->n_modules;
    m->modules = NULL;
    m->n_modules = 0;
    m->router = r;
    char *rdir = stc_path_join(m->dir, r->top[0].path);
    int rc = rdir ? stc_router_config_load(&r->cfg, rdir) : stc_errorf(STC_ERR_NOMEM, "out of memory");
    free(rdir);
    if (rc)
        return rc;
    int nr = r->cfg.n_routes;
    r->subs = stc_calloc((size_t)r->cfg.n_entries, sizeof *r->subs, "routed modules");
    r->views = stc_calloc((size_t)nr, sizeof *r->views, "routes");
    r->param_offset = stc_calloc((size_t)nr, sizeof(size_t), "routes");
    r->param_count = stc_calloc((size_t)nr, sizeof(size_t), "routes");
    if (!r->subs || !r->views || !r->param_offset || !r->param_count)
        return STC_ERR_NOMEM;
    for (int v = 0; v < nr; v++) {
        const stc_router_route *route = &r->cfg.routes[v];
        r->param_offset[v] = m->params.total;
        for (int i = 0; i < route->n; i++)
            if (!r->subs[route->entries[i]].loaded && (rc = load_routed_module(m, r, route->entries[i], v, i)))
                return rc;
        r->param_count[v] = m->params.total - r->param_offset[v];
    }
    if ((rc = load_top_configs(r->top, r->n_top, m->dir, &m->params)))
        return rc;
    for (int v = 0; v < nr; v++)
        if ((rc = build_view(m, r, v)))
            return rc;
    return 0;
}

/* Once the slab and the prompts exist: the views share them, and the model's
 * own pipeline fields become the default route's. */
static void share_views(stc_st_model *m)
{
    stc_st_router *r = m->router;
    for (int v = 0; v < r->cfg.n_routes; v++) {
        stc_st_model *view = &r->views[v];
        view->dir = m->dir;
        view->params = m->params;
        view->n_prompts = m->n_prompts;
        view->prompt_names = m->prompt_names;
        view->prompt_texts = m->prompt_texts;
        view->default_prompt_name = m->default_prompt_name;
        view->similarity_fn_name = m->similarity_fn_name;
    }
    const stc_st_model *d = &r->views[r->cfg.default_route >= 0 ? r->cfg.default_route : 0];
    m->modules = d->modules;
    m->n_modules = d->n_modules;
    m->bert = d->bert;
    m->tokenizer = d->tokenizer;
    m->max_seq_length = d->max_seq_length;
    m->do_lower_case = d->do_lower_case;
    m->pooling_module = d->pooling_module;
    m->dim = d->dim;
}

/* A model without a Router: the Transformer in modules[0].path, then the
 * modules after it. */
static int load_plain(stc_st_model *m)
{
    char *mj = stc_path_join(m->dir, "modules.json");
    int rc = mj ? check_pipeline(m->modules, m->n_modules, mj, &m->pooling_module)
                : stc_errorf(STC_ERR_NOMEM, "out of memory");
    free(mj);
    if (rc)
        return rc;
    char *tdir = stc_path_join(m->dir, m->modules[0].path);
    if (!tdir)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    transformer tr;
    rc = load_transformer(&tr, tdir, &m->params, 0, "0.auto_model.");
    free(tdir);
    m->bert = tr.bert; /* kept even on error, so stc_st_model_free releases it */
    m->tokenizer = tr.tokenizer;
    m->max_seq_length = tr.max_seq_length;
    m->do_lower_case = tr.do_lower_case;
    if (rc || (rc = load_top_configs(m->modules, m->n_modules, m->dir, &m->params)))
        return rc;
    return pipeline_dim(m->modules, m->n_modules, m->dir, m->bert.cfg.hidden_size, &m->dim);
}

/* Weights, module by module, from the file each one owns. */
int stc_st_model_load_weights(stc_st_model *m, const char *dir)
{
    int rc = 0;
    if (m->router) {
        stc_st_router *r = m->router;
        for (int e = 0; e < r->cfg.n_entries && !rc; e++) {
            const stc_st_routed_module *s = &r->subs[e];
            if (s->loaded && (s->mod.kind == STC_MODULE_TRANSFORMER || s->mod.kind == STC_MODULE_DENSE))
                rc = load_weights_in(&m->params, s->module_idx, dir, s->mod.path);
        }
        for (int k = 1; k < r->n_top && !rc; k++)
            if (r->top[k].kind == STC_MODULE_DENSE)
                rc = load_weights_in(&m->params, k, dir, r->top[k].path);
    } else {
        for (int k = 0; k < m->n_modules && !rc; k++)
            if (m->modules[k].kind == STC_MODULE_TRANSFORMER || m->modules[k].kind == STC_MODULE_DENSE)
                rc = load_weights_in(&m->params, k, dir, m->modules[k].path);
    }
    return rc;
}

int stc_st_model_load(stc_st_model *m, const char *dir)
{
    memset(m, 0, sizeof *m);
    stc_params_init(&m->params);
    int rc = 0;
    if (!stc_is_dir(dir)) {
        rc = stc_errorf(STC_ERR_DATA, "%s: model directory not found", dir);
        goto err;
    }
    if (!(m->dir = strdup(dir))) {
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
        goto err;
    }
    if ((rc = load_modules_json(m)))
        goto err;
    rc = m->modules[0].kind == STC_MODULE_ROUTER ? load_router(m) : load_plain(m);
    if (rc || (rc = load_st_config(m)) || (rc = stc_params_alloc(&m->params)))
        goto err;

    if (m->router)
        share_views(m);
    if ((rc = stc_st_model_load_weights(m, m->dir)))
        goto err;
    return 0;

err:
    stc_st_model_free(m);
    return rc;
}

void stc_st_model_free(stc_st_model *m)
{
    if (m->is_view)
        return; /* owned by its model */
    if (m->router) {
        /* The pipeline fields are the default route's, owned by the router. */
        router_free(m->router);
    } else {
        for (int i = 0; i < m->n_modules; i++) {
            free(m->modules[i].name);
            free(m->modules[i].path);
            free(m->modules[i].type);
        }
        free(m->modules);
        if (m->tokenizer)
            stc_tokenizer_free(m->tokenizer);
        stc_bert_free(&m->bert);
    }
    for (int i = 0; i < m->n_prompts; i++) {
        free(m->prompt_names[i]);
        free(m->prompt_texts[i]);
    }
    free(m->prompt_names);
    free(m->prompt_texts);
    free(m->default_prompt_name);
    free(m->similarity_fn_name);
    stc_params_free(&m->params);
    free(m->dir);
    memset(m, 0, sizeof *m);
}

const char *stc_st_model_prompt(const stc_st_model *m, const char *name)
{
    for (int i = 0; i < m->n_prompts; i++)
        if (!strcmp(m->prompt_names[i], name))
            return m->prompt_texts[i];
    return NULL;
}

int stc_st_model_n_routes(const stc_st_model *m) { return m->router ? m->router->cfg.n_routes : 1; }

int stc_st_model_route_index(const stc_st_model *m, const char *task, int *route)
{
    *route = 0;
    return m->router ? stc_router_resolve(&m->router->cfg, task, route) : 0;
}

const stc_st_model *stc_st_model_route(const stc_st_model *m, int route)
{
    if (!m->router)
        return route == 0 ? m : NULL;
    return route >= 0 && route < m->router->cfg.n_routes ? &m->router->views[route] : NULL;
}

const char *stc_st_model_route_name(const stc_st_model *m, int route)
{
    if (!m->router || route < 0 || route >= m->router->cfg.n_routes)
        return NULL;
    return m->router->cfg.routes[route].name;
}

void stc_st_model_route_params(const stc_st_model *m, int route, size_t *offset, size_t *count)
{
    *offset = 0;
    *count = 0;
    if (!m->router) {
        if (route == 0)
            *count = m->params.total;
        return;
    }
    if (route >= 0 && route < m->router->cfg.n_routes) {
        *offset = m->router->param_offset[route];
        *count = m->router->param_count[route];
    }
}
