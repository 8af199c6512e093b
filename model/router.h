/*
 * Sentence Transformers' Router module (base/modules/router.py in 6.x,
 * models/Router.py in 5.x; "Asym" is its old name): module 0 of an
 * asymmetric model. Each input goes through one of several routes, each a
 * sequence of modules of its own (e.g. a query encoder and a document
 * encoder); the route is picked by the task (encode_query: "query",
 * encode_document: "document", training: the router_mapping column ->
 * route).
 *
 * This file owns router_config.json: reading and validating it, and
 * resolving a task to a route exactly as Python's Router._resolve_route does
 * for text inputs. Loading the routed modules is st_model.c's job.
 *
 * router_config.json (indent 4):
 *   {"types":      {"query_0_Transformer": "<module>.Transformer", ...},
 *    "structure":  {"query": ["query_0_Transformer", "query_1_Pooling"], ...},
 *    "parameters": {"default_route": "document" | null, "allow_empty_key": true,
 *                   "route_mappings": {"('query', 'text')": "query", ...}}}
 * Each id of "types" is a folder under the model directory holding that
 * module's files. A module listed in several routes is one module (its
 * parameters are shared), as Python's save writes it.
 */
#ifndef STC_MODEL_ROUTER_H
#define STC_MODEL_ROUTER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *id;     /* key in "types", e.g. "query_0_Transformer"; its folder under the model dir */
    char *type;   /* Python class path, e.g. "sentence_transformers.base.modules.transformer.Transformer" */
} stc_router_entry;

typedef struct {
    char *name;   /* route key, e.g. "query" */
    int n;        /* modules in the route */
    int *entries; /* [n] indices into stc_router_config.entries, in route order */
} stc_router_route;

/* One route_mappings rule: (task, modality) -> route; NULL = Python's None
 * (any). */
typedef struct {
    char *task;
    char *modality;        /* a single modality ("text", "image") */
    int modality_is_tuple; /* a multimodal tuple such as ('image', 'text'): never matches text input */
    int route;
} stc_router_mapping;

typedef struct {
    char *path;            /* the file read (router_config.json, or a legacy Asym config.json): for messages */
    int n_entries;
    stc_router_entry *entries; /* in "types" order */
    int n_routes;
    stc_router_route *routes;  /* in "structure" order */
    int default_route;     /* index, or -1 when there is none (then a task is required) */
    int allow_empty_key;
    int n_mappings;
    stc_router_mapping *mappings;
} stc_router_config;

/* Reads dir/router_config.json (or, as Python does for models saved by the
 * old Asym module, dir/config.json). Errors name the file and the key. */
int stc_router_config_load(stc_router_config *rc, const char *dir);

/* The same from the file's bytes; path names it in messages. */
int stc_router_config_parse(stc_router_config *rc, const char *json, size_t len, const char *path);
void stc_router_config_free(stc_router_config *rc);

/* The route that text inputs with this task take (task NULL = none given),
 * in Python's order: route_mappings (task, "text"), (task, any),
 * (any, "text"), (any, any); then a route named like the task; then a route
 * named "text" (the modality); an unknown task is an error; no task falls
 * back to default_route, and without one it is an error. Errors name the
 * task and list the routes. */
int stc_router_resolve(const stc_router_config *rc, const char *task, int *route);

/* Index of the route named name, or -1. */
int stc_router_find_route(const stc_router_config *rc, const char *name);

#ifdef __cplusplus
}
#endif

#endif
