/* router_config.json and route resolution of the Router module (see router.h). */
#include "model/router.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The modality of every input stc encodes or trains on. */
static const char *const TEXT_MODALITY = "text";

void stc_router_config_free(stc_router_config *rc)
{
    for (int i = 0; i < rc->n_entries; i++) {
        free(rc->entries[i].id);
        free(rc->entries[i].type);
    }
    free(rc->entries);
    for (int r = 0; r < rc->n_routes; r++) {
        free(rc->routes[r].name);
        free(rc->routes[r].entries);
    }
    free(rc->routes);
    for (int i = 0; i < rc->n_mappings; i++) {
        free(rc->mappings[i].task);
        free(rc->mappings[i].modality);
    }
    free(rc->mappings);
    free(rc->path);
    memset(rc, 0, sizeof *rc);
    rc->default_route = -1;
}

int stc_router_find_route(const stc_router_config *rc, const char *name)
{
    for (int r = 0; r < rc->n_routes; r++)
        if (!strcmp(rc->routes[r].name, name))
            return r;
    return -1;
}

static int find_entry(const stc_router_config *rc, const char *id)
{
    for (int i = 0; i < rc->n_entries; i++)
        if (!strcmp(rc->entries[i].id, id))
            return i;
    return -1;
}

/* An id names a folder under the model directory: like Python's
 * _validate_relative_path, refuse rooted paths and ".." components, so a
 * hostile config cannot point the loader outside the model. */
static int id_is_safe(const char *id)
{
    if (!id[0] || id[0] == '/' || strchr(id, '\\') || strchr(id, ':'))
        return 0;
    for (const char *s = id; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return 0;
        s += n + (e != NULL);
    }
    return 1;
}

/* ---- route_mappings keys: Python's str() of a (task, modality) tuple,
 * e.g. "('query', 'text')", "(None, 'image')", "(None, ('image', 'text'))". */

static void skip_ws(const char **p)
{
    while (**p == ' ')
        (*p)++;
}

/* A Python string literal ('...' or "...") into a new string, or NULL. */
static char *parse_py_string(const char **p)
{
    char q = **p;
    if (q != '\'' && q != '"')
        return NULL;
    const char *s = *p + 1;
    char *out = malloc(strlen(s) + 1), *o = out;
    if (!out)
        return NULL;
    for (; *s && *s != q; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            *o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s == 'r' ? '\r' : *s;
        } else {
            *o++ = *s;
        }
    }
    if (*s != q) {
        free(out);
        return NULL;
    }
    *o = '\0';
    *p = s + 1;
    return out;
}

/* One tuple element: None (*out NULL), a string, or (modality only) a tuple
 * of strings (*is_tuple set, *out NULL). Returns 0 on success. */
static int parse_py_elem(const char **p, char **out, int *is_tuple, int allow_tuple)
{
    *out = NULL;
    skip_ws(p);
    if (!strncmp(*p, "None", 4)) {
        *p += 4;
        return 0;
    }
    if (**p == '(' && allow_tuple) {
        (*p)++;
        for (;;) {
            skip_ws(p);
            if (**p == ')')
                break;
            char *s = parse_py_string(p);
            if (!s)
                return -1;
            free(s);
            skip_ws(p);
            if (**p == ',')
                (*p)++;
            else if (**p != ')')
                return -1;
        }
        (*p)++;
        *is_tuple = 1;
        return 0;
    }
    return (*out = parse_py_string(p)) ? 0 : -1;
}

static int parse_mapping_key(const char *key, stc_router_mapping *m)
{
    const char *p = key;
    skip_ws(&p);
    if (*p++ != '(')
        return -1;
    if (parse_py_elem(&p, &m->task, &m->modality_is_tuple, 0))
        return -1;
    skip_ws(&p);
    if (*p++ != ',')
        return -1;
    if (parse_py_elem(&p, &m->modality, &m->modality_is_tuple, 1))
        return -1;
    skip_ws(&p);
    if (*p++ != ')')
        return -1;
    skip_ws(&p);
    return *p ? -1 : 0;
}

static int load_mappings(stc_router_config *rc, const cJSON *maps)
{
    const char *path = rc->path;
    if (!maps || cJSON_IsNull(maps))
        return 0;
    if (!cJSON_IsObject(maps))
        return stc_errorf(STC_ERR_DATA, "%s: \"parameters.route_mappings\" must be an object", path);
    int n = cJSON_GetArraySize(maps);
    if (n == 0)
        return 0;
    rc->mappings = stc_calloc((size_t)n, sizeof *rc->mappings, "route mappings");
    if (!rc->mappings)
        return STC_ERR_NOMEM;
    const cJSON *e;
    cJSON_ArrayForEach(e, maps) {
        stc_router_mapping *m = &rc->mappings[rc->n_mappings];
        if (!cJSON_IsString(e))
            return stc_errorf(STC_ERR_DATA, "%s: route_mappings[\"%s\"] must be a route name", path, e->string);
        if (parse_mapping_key(e->string, m)) {
            /* Python logs a warning and drops the rule. */
            free(m->task);
            free(m->modality);
            memset(m, 0, sizeof *m);
            fprintf(stderr, "stc: warning: %s: cannot parse route_mappings key \"%s\"; rule skipped\n", path, e->string);
            continue;
        }
        rc->n_mappings++;
        if ((m->route = stc_router_find_route(rc, e->valuestring)) < 0)
            return stc_errorf(STC_ERR_DATA, "%s: route_mappings[\"%s\"] maps to \"%s\", which is not a route of \"structure\"",
                              path, e->string, e->valuestring);
    }
    return 0;
}

static int load_types(stc_router_config *rc, const cJSON *types)
{
    const char *path = rc->path;
    if (!cJSON_IsObject(types) || cJSON_GetArraySize(types) == 0)
        return stc_errorf(STC_ERR_DATA, "%s: \"types\" must be a non-empty object of module id -> class", path);
    int n = cJSON_GetArraySize(types);
    rc->entries = stc_calloc((size_t)n, sizeof *rc->entries, "router modules");
    if (!rc->entries)
        return STC_ERR_NOMEM;
    const cJSON *e;
    cJSON_ArrayForEach(e, types) {
        if (!cJSON_IsString(e))
            return stc_errorf(STC_ERR_DATA, "%s: types[\"%s\"] must be a class name string", path, e->string);
        if (!id_is_safe(e->string))
            return stc_errorf(STC_ERR_DATA, "%s: module id \"%s\" is not a relative folder name inside the model", path,
                              e->string);
        if (find_entry(rc, e->string) >= 0)
            return stc_errorf(STC_ERR_DATA, "%s: module id \"%s\" appears twice in \"types\"", path, e->string);
        stc_router_entry *en = &rc->entries[rc->n_entries];
        en->id = strdup(e->string);
        en->type = strdup(e->valuestring);
        rc->n_entries++;
        if (!en->id || !en->type)
            return stc_errorf(STC_ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int load_structure(stc_router_config *rc, const cJSON *structure)
{
    const char *path = rc->path;
    if (!cJSON_IsObject(structure) || cJSON_GetArraySize(structure) == 0)
        return stc_errorf(STC_ERR_DATA, "%s: \"structure\" must be a non-empty object of route -> [module ids]", path);
    int n = cJSON_GetArraySize(structure);
    rc->routes = stc_calloc((size_t)n, sizeof *rc->routes, "routes");
    if (!rc->routes)
        return STC_ERR_NOMEM;
    const cJSON *e;
    cJSON_ArrayForEach(e, structure) {
        if (stc_router_find_route(rc, e->string) >= 0)
            return stc_errorf(STC_ERR_DATA, "%s: route \"%s\" appears twice in \"structure\"", path, e->string);
        stc_router_route *r = &rc->routes[rc->n_routes];
        if (!(r->name = strdup(e->string)))
            return stc_errorf(STC_ERR_NOMEM, "out of memory");
        rc->n_routes++;
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) == 0)
            return stc_errorf(STC_ERR_DATA, "%s: structure[\"%s\"] must be a non-empty list of module ids", path, e->string);
        r->entries = stc_calloc((size_t)cJSON_GetArraySize(e), sizeof(int), "route");
        if (!r->entries)
            return STC_ERR_NOMEM;
        const cJSON *id;
        cJSON_ArrayForEach(id, e) {
            int k = cJSON_IsString(id) ? find_entry(rc, id->valuestring) : -1;
            if (k < 0)
                return stc_errorf(STC_ERR_DATA, "%s: route \"%s\" lists %s%s%s, which is not a module id of \"types\"", path,
                                  e->string, cJSON_IsString(id) ? "\"" : "",
                                  cJSON_IsString(id) ? id->valuestring : "a non-string", cJSON_IsString(id) ? "\"" : "");
            r->entries[r->n++] = k;
        }
    }
    return 0;
}

int stc_router_config_parse(stc_router_config *rc, const char *json, size_t len, const char *path)
{
    memset(rc, 0, sizeof *rc);
    rc->default_route = -1;
    rc->allow_empty_key = 1;
    int rc_ = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!(rc->path = strdup(path))) {
        cJSON_Delete(root);
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    }
    if (!root) {
        rc_ = stc_errorf(STC_ERR_DATA, "%s: invalid JSON near byte %ld", path, end ? (long)(end - json) : -1L);
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc_ = stc_errorf(STC_ERR_DATA, "%s: expected a JSON object with \"types\", \"structure\" and \"parameters\"", path);
        goto out;
    }
    if ((rc_ = load_types(rc, cJSON_GetObjectItemCaseSensitive(root, "types"))) ||
        (rc_ = load_structure(rc, cJSON_GetObjectItemCaseSensitive(root, "structure"))))
        goto out;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
    const char *def = NULL;
    if (params && !cJSON_IsNull(params)) {
        if (!cJSON_IsObject(params)) {
            rc_ = stc_errorf(STC_ERR_DATA, "%s: \"parameters\" must be an object", path);
            goto out;
        }
        if ((rc_ = stc_json_get_string(params, "default_route", path, &def)) ||
            (rc_ = stc_json_get_bool(params, "allow_empty_key", path, &rc->allow_empty_key)))
            goto out;
    }
    /* Python's constructor: a named default must exist; without one,
     * allow_empty_key makes the first route the default. */
    if (def) {
        if ((rc->default_route = stc_router_find_route(rc, def)) < 0) {
            rc_ = stc_errorf(STC_ERR_DATA, "%s: default_route \"%s\" is not a route of \"structure\"", path, def);
            goto out;
        }
    } else if (rc->allow_empty_key) {
        rc->default_route = 0;
    }
    rc_ = load_mappings(rc, params ? cJSON_GetObjectItemCaseSensitive(params, "route_mappings") : NULL);
out:
    cJSON_Delete(root);
    if (rc_)
        stc_router_config_free(rc);
    return rc_;
}

int stc_router_config_load(stc_router_config *rc, const char *dir)
{
    memset(rc, 0, sizeof *rc);
    rc->default_route = -1;
    char *path = stc_path_join(dir, "router_config.json");
    if (!path)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    if (!stc_is_file(path)) {
        /* Python falls back to config.json, where the Asym module kept it. */
        char *legacy = stc_path_join(dir, "config.json");
        if (!legacy || !stc_is_file(legacy)) {
            int r = stc_errorf(STC_ERR_DATA, "%s: not found; a Router module keeps its routes there", path);
            free(legacy);
            free(path);
            return r;
        }
        free(path);
        path = legacy;
    }
    char *text;
    size_t len;
    int r = stc_read_file(path, &text, &len);
    if (!r) {
        r = stc_router_config_parse(rc, text, len, path);
        free(text);
    }
    free(path);
    return r;
}

/* A mapping rule for (task, modality) with NULL as Python's None: exact
 * equality of both, as a dict lookup of the tuple (where a key given twice
 * keeps its last rule, hence the search from the end). */
static int mapping_lookup(const stc_router_config *rc, const char *task, const char *modality)
{
    for (int i = rc->n_mappings - 1; i >= 0; i--) {
        const stc_router_mapping *m = &rc->mappings[i];
        if (m->modality_is_tuple)
            continue;
        int task_eq = task ? (m->task && !strcmp(m->task, task)) : !m->task;
        int mod_eq = modality ? (m->modality && !strcmp(m->modality, modality)) : !m->modality;
        if (task_eq && mod_eq)
            return m->route;
    }
    return -1;
}

/* "query, document" for messages. */
static void route_list(const stc_router_config *rc, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int r = 0; r < rc->n_routes && n < cap; r++)
        n += (size_t)snprintf(buf + n, cap - n, "%s\"%s\"", r ? ", " : "", rc->routes[r].name);
}

int stc_router_resolve(const stc_router_config *rc, const char *task, int *route)
{
    const char *mod = TEXT_MODALITY;
    int r;
    if ((r = mapping_lookup(rc, task, mod)) >= 0 || (r = mapping_lookup(rc, task, NULL)) >= 0 ||
        (r = mapping_lookup(rc, NULL, mod)) >= 0 || (r = mapping_lookup(rc, NULL, NULL)) >= 0) {
        *route = r;
        return 0;
    }
    /* Python tests `if task and ...`: an empty task is not looked up. */
    if (task && task[0] && (r = stc_router_find_route(rc, task)) >= 0) {
        *route = r;
        return 0;
    }
    if ((r = stc_router_find_route(rc, mod)) >= 0) {
        *route = r;
        return 0;
    }
    char routes[1024];
    route_list(rc, routes, sizeof routes);
    if (task)
        return stc_errorf(STC_ERR_USAGE, "no route for task \"%s\" in %s; the routes are %s", task, rc->path, routes);
    if (rc->default_route < 0)
        return stc_errorf(STC_ERR_USAGE, "no task given and %s has no default_route; give a task (one of the routes %s)",
                          rc->path, routes);
    *route = rc->default_route;
    return 0;
}
