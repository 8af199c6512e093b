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
        const char *cls = class_name(type);
        if (!strcmp(cls, "Transformer"))
            mod->kind = STC_MODULE_TRANSFORMER;
        else if (!strcmp(cls, "Pooling"))
            mod->kind = STC_MODULE_POOLING;
        else if (!strcmp(cls, "Dense"))
            mod->kind = STC_MODULE_DENSE;
        else if (!strcmp(cls, "Normalize"))
            mod->kind = STC_MODULE_NORMALIZE;
        else {
            rc = stc_errorf(STC_ERR_DATA,
                            "%s: module %d has unsupported type \"%s\" (supported: Transformer, Pooling, Dense, Normalize)",
                            path, i - 1, type);
            goto out;
        }
    }
    /* The pipeline stc runs: Transformer, then Pooling, then Dense/Normalize. */
    if (m->modules[0].kind != STC_MODULE_TRANSFORMER) {
        rc = stc_errorf(STC_ERR_DATA, "%s: the first module must be a Transformer, not \"%s\"", path, m->modules[0].type);
        goto out;
    }
    m->pooling_module = -1;
    for (int k = 1; k < m->n_modules; k++) {
        stc_module_kind kind = m->modules[k].kind;
        if (kind == STC_MODULE_TRANSFORMER) {
            rc = stc_errorf(STC_ERR_DATA, "%s: module %d: only one Transformer module is supported", path, k);
            goto out;
        }
        if (kind == STC_MODULE_POOLING) {
            if (m->pooling_module >= 0) {
                rc = stc_errorf(STC_ERR_DATA, "%s: module %d: only one Pooling module is supported", path, k);
                goto out;
            }
            m->pooling_module = k;
        } else if (m->pooling_module < 0) {
            rc = stc_errorf(STC_ERR_DATA, "%s: module %d (%s) comes before any Pooling module", path, k,
                            m->modules[k].type);
            goto out;
        }
    }
    if (m->pooling_module < 0)
        rc = stc_errorf(STC_ERR_DATA, "%s: no Pooling module; stc needs sentence embeddings", path);
out:
    cJSON_Delete(root);
    free(path);
    return rc;
}

/* sentence_bert_config.json of the Transformer module. */
static int load_sbert_config(stc_st_model *m, const char *tdir)
{
    char *path = stc_path_join(tdir, "sentence_bert_config.json");
    if (!path)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    int rc = 0;
    m->max_seq_length = -1;
    m->do_lower_case = 0;
    if (stc_is_file(path)) {
        cJSON *root;
        if ((rc = stc_json_load(path, &root)) == 0) {
            if (!(rc = stc_json_get_int(root, "max_seq_length", path, &m->max_seq_length)))
                rc = stc_json_get_bool(root, "do_lower_case", path, &m->do_lower_case);
            cJSON_Delete(root);
        }
    }
    int maxpos = m->bert.cfg.max_position_embeddings;
    if (!rc && (m->max_seq_length <= 0 || m->max_seq_length > maxpos)) {
        if (m->max_seq_length > maxpos)
            fprintf(stderr, "stc: warning: %s: max_seq_length %d exceeds max_position_embeddings %d; using %d\n",
                    path, m->max_seq_length, maxpos, maxpos);
        m->max_seq_length = maxpos;
    }
    free(path);
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
static int load_module_weights(stc_st_model *m, int module_idx, const char *file)
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
    for (int i = 0; i < m->params.n; i++) {
        const stc_param *p = &m->params.params[i];
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
        if ((rc = stc_safetensors_read_f32(&st, key, stc_params_data(&m->params, i), p->ndim, p->shape)))
            break;
    }
    stc_safetensors_close(&st);
    return rc;
}

int stc_st_model_load(stc_st_model *m, const char *dir)
{
    memset(m, 0, sizeof *m);
    stc_params_init(&m->params);
    int rc = 0;
    char *tdir = NULL, *cfg = NULL, *weights = NULL;
    if (!stc_is_dir(dir)) {
        rc = stc_errorf(STC_ERR_DATA, "%s: model directory not found", dir);
        goto err;
    }
    m->dir = strdup(dir);
    if ((rc = load_modules_json(m)))
        goto err;
    tdir = stc_path_join(dir, m->modules[0].path);
    cfg = tdir ? stc_path_join(tdir, "config.json") : NULL;
    if (!cfg) {
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
        goto err;
    }
    stc_bert_config bcfg;
    if ((rc = stc_bert_config_load(&bcfg, cfg)))
        goto err;
    if ((rc = stc_bert_register(&m->bert, &bcfg, &m->params, 0, "0.auto_model.")))
        goto err;
    if ((rc = load_sbert_config(m, tdir)))
        goto err;

    int dim = bcfg.hidden_size;
    for (int k = 1; k < m->n_modules; k++) {
        stc_module *mod = &m->modules[k];
        char *mdir = stc_path_join(dir, mod->path);
        if (!mdir) {
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
            goto err;
        }
        if (mod->kind == STC_MODULE_POOLING) {
            char *pc = stc_path_join(mdir, "config.json");
            rc = pc ? stc_pooling_load(&mod->pooling, pc) : STC_ERR_NOMEM;
            if (!rc && mod->pooling.word_embedding_dimension != dim)
                rc = stc_errorf(STC_ERR_DATA, "%s: word_embedding_dimension %d does not match the transformer's hidden size %d",
                                pc, mod->pooling.word_embedding_dimension, dim);
            if (!rc)
                dim = stc_pooling_dim(&mod->pooling);
            free(pc);
        } else if (mod->kind == STC_MODULE_DENSE) {
            rc = stc_dense_load_config(&mod->dense, mdir, &m->params, k);
            if (!rc && mod->dense.in_features != dim)
                rc = stc_errorf(STC_ERR_DATA, "%s/config.json: in_features %d does not match the previous module's output %d",
                                mdir, mod->dense.in_features, dim);
            if (!rc)
                dim = mod->dense.out_features;
        }
        free(mdir);
        if (rc)
            goto err;
    }
    m->dim = dim;
    if ((rc = load_st_config(m)))
        goto err;
    if ((rc = stc_tokenizer_load(&m->tokenizer, tdir, m->do_lower_case)))
        goto err;
    if (stc_tokenizer_vocab_size(m->tokenizer) > bcfg.vocab_size) {
        rc = stc_errorf(STC_ERR_DATA, "%s: the tokenizer has %d tokens but config.json's vocab_size is %d", tdir,
                        stc_tokenizer_vocab_size(m->tokenizer), bcfg.vocab_size);
        goto err;
    }

    if ((rc = stc_params_alloc(&m->params)))
        goto err;
    weights = stc_path_join(tdir, "model.safetensors");
    if ((rc = load_module_weights(m, 0, weights)))
        goto err;
    for (int k = 1; k < m->n_modules; k++) {
        if (m->modules[k].kind != STC_MODULE_DENSE)
            continue;
        char *mdir = stc_path_join(dir, m->modules[k].path);
        char *f = mdir ? stc_path_join(mdir, "model.safetensors") : NULL;
        rc = f ? load_module_weights(m, k, f) : STC_ERR_NOMEM;
        free(f);
        free(mdir);
        if (rc)
            goto err;
    }
    free(tdir);
    free(cfg);
    free(weights);
    return 0;

err:
    free(tdir);
    free(cfg);
    free(weights);
    stc_st_model_free(m);
    return rc;
}

void stc_st_model_free(stc_st_model *m)
{
    for (int i = 0; i < m->n_modules; i++) {
        free(m->modules[i].name);
        free(m->modules[i].path);
        free(m->modules[i].type);
    }
    free(m->modules);
    for (int i = 0; i < m->n_prompts; i++) {
        free(m->prompt_names[i]);
        free(m->prompt_texts[i]);
    }
    free(m->prompt_names);
    free(m->prompt_texts);
    free(m->default_prompt_name);
    free(m->similarity_fn_name);
    if (m->tokenizer)
        stc_tokenizer_free(m->tokenizer);
    stc_bert_free(&m->bert);
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
