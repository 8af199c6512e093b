/*
 * Router models (model/router.h, st_model.h's routes): a tiny asymmetric
 * model saved by sentence-transformers (fixtures/router/, written by
 * tools/make_router_fixtures.py) must give Python's embeddings for every
 * task, register its parameters under Python's names and order, train a
 * route's pipeline into that route's slice of the slab only, reject bad
 * configs with messages that name the file, route and module, and survive
 * save -> load unchanged.
 *
 * usage: test_router [FIXTURE_DIR]   (default fixtures/router)
 * STC_ROUTER_SAVE_DIR=dir also saves the fixture model there, for
 * `tools/make_router_fixtures.py --verify dir` (Python loads stc's save).
 */
#include "kernels/ops.h"
#include "model/encode.h"
#include "model/st_model.h"
#include "model/st_save.h"
#include "model/st_train.h"
#include "tests/check.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double TOL = 1e-5; /* the parity bound for normalised embeddings */

static char tmpdir[512];
static const char *fixture = "fixtures/router";

static char *tmp_path(const char *name)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static cJSON *load_json(const char *path)
{
    char *data;
    size_t len;
    if (stc_read_file(path, &data, &len)) {
        fprintf(stderr, "%s\n", stc_error_message());
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(data, len);
    free(data);
    return j;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Replaces every occurrence of from by to in the file. */
static void replace_in_file(const char *path, const char *from, const char *to)
{
    char *data;
    size_t len;
    CHECK(stc_read_file(path, &data, &len) == 0);
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = data; (p = strstr(p, from)); p += fl)
        n++;
    CHECK_MSG(n > 0, "%s: no \"%s\"", path, from);
    char *out = malloc(len + n * (tl > fl ? tl - fl : 0) + 1), *o = out;
    const char *p = data, *q;
    while ((q = strstr(p, from))) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, tl);
        o += tl;
        p = q + fl;
    }
    strcpy(o, p);
    write_text(path, out);
    free(out);
    free(data);
}

/* Texts of expected.json. */
typedef struct {
    int n;
    const char **texts;
    size_t *lens;
} text_list;

static text_list get_texts(const cJSON *exp)
{
    const cJSON *t = cJSON_GetObjectItem(exp, "texts");
    text_list tl = {.n = cJSON_GetArraySize(t)};
    tl.texts = calloc((size_t)tl.n, sizeof *tl.texts);
    tl.lens = calloc((size_t)tl.n, sizeof *tl.lens);
    for (int i = 0; i < tl.n; i++) {
        tl.texts[i] = cJSON_GetArrayItem(t, i)->valuestring;
        tl.lens[i] = strlen(tl.texts[i]);
    }
    return tl;
}

/* Encodes the texts with task and prompt; returns n x dim floats (NULL on
 * error, the message left in stc_error_message()). */
static float *encode(const stc_st_model *m, const text_list *tl, const char *task, const char *prompt, int batch,
                     int *dim)
{
    stc_encode_opts o = {.batch_size = batch, .task = task, .prompt = prompt};
    stc_encoder *enc;
    if (stc_encoder_init(&enc, m, stc_ops_cpu(), &o))
        return NULL;
    *dim = stc_encoder_dim(enc);
    float *out = malloc(sizeof(float) * (size_t)tl->n * (size_t)*dim);
    int rc = stc_encoder_run(enc, tl->texts, tl->lens, (size_t)tl->n, out, NULL, NULL, NULL, NULL);
    stc_encoder_free(enc);
    if (rc) {
        free(out);
        return NULL;
    }
    return out;
}

static const char *json_str_or_null(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* stc's embeddings per task against Python's. */
static void check_parity(const stc_st_model *m, const cJSON *exp, double *worst)
{
    text_list tl = get_texts(exp);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(exp, "cases")) {
        const char *task = json_str_or_null(c, "task"), *prompt = json_str_or_null(c, "prompt");
        const cJSON *emb = cJSON_GetObjectItem(c, "embeddings");
        for (int batch = 32; batch >= 3; batch -= 29) { /* one batch, and several */
            int dim = 0;
            float *got = encode(m, &tl, task, prompt, batch, &dim);
            CHECK_MSG(got != NULL, "%s: %s", c->string, stc_error_message());
            if (!got)
                continue;
            double md = 0;
            for (int i = 0; i < tl.n; i++) {
                const cJSON *row = cJSON_GetArrayItem(emb, i);
                CHECK(cJSON_GetArraySize(row) == dim);
                for (int j = 0; j < dim; j++) {
                    double d = fabs(got[i * dim + j] - cJSON_GetArrayItem(row, j)->valuedouble);
                    md = d > md ? d : md;
                }
            }
            CHECK_MSG(md <= TOL, "%s (batch %d): max abs diff %.3g", c->string, batch, md);
            if (batch == 32)
                printf("parity %-18s task %-9s max abs diff %.3g\n", c->string, task ? task : "(none)", md);
            *worst = md > *worst ? md : *worst;
            free(got);
        }
    }
    free(tl.texts);
    free(tl.lens);
}

/* Names, shapes and order of named_parameters(); routes and their slices. */
static void check_params(const stc_st_model *m, const cJSON *exp)
{
    const cJSON *ps = cJSON_GetObjectItem(exp, "params");
    CHECK_MSG(m->params.n == cJSON_GetArraySize(ps), "%d parameters, Python has %d", m->params.n,
              cJSON_GetArraySize(ps));
    /* Every Python name with its shape; the order inside a BERT differs
     * (stc keeps query/key/value adjacent for one matmul, params.h), but
     * the route slices follow named_parameters(): routes in order. */
    size_t n_query = 0, n_doc = 0;
    for (int i = 0; i < cJSON_GetArraySize(ps); i++) {
        const cJSON *e = cJSON_GetArrayItem(ps, i);
        const char *name = cJSON_GetObjectItem(e, "name")->valuestring;
        int k = stc_params_find(&m->params, name);
        CHECK_MSG(k >= 0, "Python's parameter %s is not registered", name);
        if (k < 0)
            continue;
        const stc_param *p = &m->params.params[k];
        const cJSON *shape = cJSON_GetObjectItem(e, "shape");
        CHECK(p->ndim == cJSON_GetArraySize(shape));
        for (int d = 0; d < p->ndim && d < cJSON_GetArraySize(shape); d++)
            CHECK(p->shape[d] == cJSON_GetArrayItem(shape, d)->valueint);
        if (!strncmp(name, "0.sub_modules.query.", 20))
            n_query += p->count;
        else if (!strncmp(name, "0.sub_modules.document.", 23))
            n_doc += p->count;
    }
    CHECK(stc_params_find(&m->params, "0.sub_modules.query.0.auto_model.embeddings.word_embeddings.weight") == 0);
    CHECK(stc_params_find(&m->params, "0.sub_modules.document.0.auto_model.encoder.layer.1.output.LayerNorm.bias") > 0);
    CHECK(stc_params_find(&m->params, "0.sub_modules.document.2.linear.weight") > 0);

    CHECK(stc_st_model_n_routes(m) == 2);
    CHECK(!strcmp(stc_st_model_route_name(m, 0), "query"));
    CHECK(!strcmp(stc_st_model_route_name(m, 1), "document"));
    size_t off, cnt;
    stc_st_model_route_params(m, 0, &off, &cnt);
    CHECK(off == 0 && cnt == n_query);
    stc_st_model_route_params(m, 1, &off, &cnt);
    CHECK(off == n_query && cnt == n_doc);
    CHECK(n_query + n_doc == m->params.total);
    printf("routes: query [0, %zu), document [%zu, %zu) of %zu slab elements\n", n_query, n_query, n_query + n_doc,
           m->params.total);

    int r = -1;
    CHECK(stc_st_model_route_index(m, "query", &r) == 0 && r == 0);
    CHECK(stc_st_model_route_index(m, "document", &r) == 0 && r == 1);
    CHECK(stc_st_model_route_index(m, NULL, &r) == 0 && r == 1); /* for_query_document: default "document" */
    const stc_st_model *q = stc_st_model_route(m, 0), *d = stc_st_model_route(m, 1);
    CHECK(q && d && q->is_view && d->is_view);
    CHECK(q->params.slab == m->params.slab && d->params.slab == m->params.slab);
    CHECK(q->max_seq_length == 16 && d->max_seq_length == 48);
    CHECK(q->dim == 32 && d->dim == 32 && m->dim == 32);
    CHECK(q->n_modules == 3 && d->n_modules == 4); /* route modules + the top-level Normalize */
    CHECK(q->modules[2].kind == STC_MODULE_NORMALIZE && d->modules[2].kind == STC_MODULE_DENSE);
    CHECK(q->bert.wte != d->bert.wte);
    CHECK(!q->modules[1].pooling.include_prompt && d->modules[1].pooling.cls);
    /* Code that knows nothing of routes runs the default route. */
    CHECK(m->max_seq_length == 48 && m->modules == d->modules && m->tokenizer == d->tokenizer);
    CHECK(stc_st_model_route(m, 2) == NULL);
    CHECK(stc_st_model_prompt(q, "query") != NULL); /* views share the prompts */
}

/* A model without a Router: one route, itself, for any task. */
static void check_plain_model(void)
{
    stc_st_model m;
    int rc = stc_st_model_load(&m, "fixtures/encode/tiny-bert");
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    if (rc)
        return;
    int r = -1;
    CHECK(stc_st_model_n_routes(&m) == 1);
    CHECK(stc_st_model_route_index(&m, "query", &r) == 0 && r == 0);
    CHECK(stc_st_model_route_index(&m, "anything", &r) == 0 && r == 0);
    CHECK(stc_st_model_route_index(&m, NULL, &r) == 0 && r == 0);
    CHECK(stc_st_model_route(&m, 0) == &m);
    CHECK(stc_st_model_route_name(&m, 0) == NULL);
    size_t off, cnt;
    stc_st_model_route_params(&m, 0, &off, &cnt);
    CHECK(off == 0 && cnt == m.params.total);
    CHECK(!strcmp(m.params.params[0].name, "0.auto_model.embeddings.word_embeddings.weight"));
    stc_st_model_free(&m);
}

/* Deterministic values in [-1, 1). */
static float lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

typedef struct {
    stc_token_batch b;
    int max_len;
} batch_buf;

static void make_batch(batch_buf *bb, const stc_st_model *v, const text_list *tl)
{
    int L = v->max_seq_length, B = tl->n;
    bb->max_len = L;
    bb->b.B = B;
    bb->b.ids = malloc(sizeof(int32_t) * (size_t)B * L);
    bb->b.pos = malloc(sizeof(int32_t) * (size_t)B * L);
    bb->b.types = calloc((size_t)B * L, sizeof(int32_t));
    bb->b.cu_seqlens = malloc(sizeof(int) * (size_t)(B + 1));
    bb->b.skip = calloc((size_t)B, sizeof(int));
    int T = 0;
    bb->b.cu_seqlens[0] = 0;
    for (int i = 0; i < B; i++) {
        int nt = 0;
        CHECK(stc_tokenizer_encode(v->tokenizer, tl->texts[i], tl->lens[i], L, bb->b.ids + T, NULL, &nt, NULL, NULL) == 0);
        for (int t = 0; t < nt; t++)
            bb->b.pos[T + t] = t;
        T += nt;
        bb->b.cu_seqlens[i + 1] = T;
    }
    bb->b.T = T;
}

static void free_batch(batch_buf *bb)
{
    free(bb->b.ids);
    free(bb->b.pos);
    free(bb->b.types);
    free(bb->b.cu_seqlens);
    free(bb->b.skip);
}

/* L = sum(w . emb) of a forward pass of view v. */
static double route_loss(const stc_st_model *v, stc_st_train_acts *a, const batch_buf *bb, const float *w)
{
    stc_bert_dropout nodrop = {0};
    stc_st_train_forward(v, stc_ops_cpu(), a, &bb->b, nodrop);
    double l = 0;
    for (size_t i = 0; i < (size_t)bb->b.B * v->dim; i++)
        l += (double)w[i] * a->emb[i];
    return l;
}

/* Training through a route's pipeline: forward equals the encoder, backward
 * touches only the route's slice of a gradient buffer laid out like the
 * model's slab, and agrees with finite differences. */
static void check_train_route(stc_st_model *m, const cJSON *exp, int route)
{
    const stc_st_model *v = stc_st_model_route(m, route);
    const char *name = stc_st_model_route_name(m, route);
    text_list tl = get_texts(exp);
    batch_buf bb;
    make_batch(&bb, v, &tl);
    stc_st_train_acts a;
    CHECK(stc_st_train_acts_alloc(&a, v, tl.n, bb.b.T, bb.max_len) == 0);
    int B = tl.n, D = v->dim;
    float *w = malloc(sizeof(float) * (size_t)B * D), *d_emb = malloc(sizeof(float) * (size_t)B * D);
    uint64_t seed = 42 + (uint64_t)route;
    for (int i = 0; i < B * D; i++)
        w[i] = lcg(&seed);

    /* Forward = the encoder's embeddings for this task. */
    int dim = 0;
    float *ref = encode(m, &tl, name, NULL, 32, &dim);
    CHECK(ref && dim == D);
    double l0 = route_loss(v, &a, &bb, w), md = 0;
    for (int i = 0; ref && i < B * D; i++)
        md = fmax(md, fabs(a.emb[i] - ref[i]));
    CHECK_MSG(md <= 1e-5, "route %s: training forward vs encoder max abs diff %.3g", name, md);
    free(ref);

    float *grads = calloc(m->params.total, sizeof(float));
    memcpy(d_emb, w, sizeof(float) * (size_t)B * D);
    stc_bert_dropout nodrop = {0};
    stc_st_train_backward(v, stc_ops_cpu(), &a, &bb.b, d_emb, grads, nodrop);
    size_t off, cnt, outside = 0, inside = 0;
    stc_st_model_route_params(m, route, &off, &cnt);
    for (size_t i = 0; i < m->params.total; i++) {
        if (i >= off && i < off + cnt)
            inside += grads[i] != 0.0f;
        else
            outside += grads[i] != 0.0f;
    }
    CHECK_MSG(outside == 0, "route %s: %zu gradient elements outside its slice are non-zero", name, outside);
    CHECK_MSG(inside > cnt / 100, "route %s: only %zu of %zu gradient elements set", name, inside, cnt);

    /* Finite differences on the largest gradient of a few tensors. */
    const char *tensors[] = {"auto_model.embeddings.LayerNorm.weight", "auto_model.encoder.layer.0.attention.self.query.weight",
                             "auto_model.encoder.layer.1.output.dense.bias", "auto_model.embeddings.word_embeddings.weight",
                             route == 1 ? "linear.weight" : "auto_model.encoder.layer.1.intermediate.dense.weight"};
    double worst = 0;
    for (size_t t = 0; t < sizeof tensors / sizeof tensors[0]; t++) {
        char full[256];
        snprintf(full, sizeof full, "0.sub_modules.%s.%d.%s", name, route == 1 && t == 4 ? 2 : 0, tensors[t]);
        int pi = stc_params_find(&m->params, full);
        CHECK_MSG(pi >= 0, "%s", full);
        if (pi < 0)
            continue;
        const stc_param *p = &m->params.params[pi];
        CHECK(p->offset >= off && p->offset + p->count <= off + cnt);
        size_t best = p->offset;
        for (size_t i = p->offset; i < p->offset + p->count; i++)
            if (fabsf(grads[i]) > fabsf(grads[best]))
                best = i;
        float *x = &m->params.slab[best], x0 = *x, h = 3e-3f;
        *x = x0 + h;
        double lp = route_loss(v, &a, &bb, w);
        *x = x0 - h;
        double lm = route_loss(v, &a, &bb, w);
        *x = x0;
        double fd = (lp - lm) / (2.0 * h), g = grads[best];
        double err = fabs(fd - g) / fmax(fabs(g), 1e-2);
        worst = fmax(worst, err);
        CHECK_MSG(err <= 3e-2, "route %s: %s[%zu]: backward %.6g, finite difference %.6g", name, full,
                  best - p->offset, g, fd);
    }
    printf("train route %-8s forward vs encoder %.3g; %zu/%zu grads set in [%zu, %zu), 0 outside; "
           "finite-difference worst rel err %.3g (loss %.4f)\n", name, md, inside, cnt, off, off + cnt, worst, l0);
    free(grads);
    free(w);
    free(d_emb);
    stc_st_train_acts_free(&a);
    free_batch(&bb);
    free(tl.texts);
    free(tl.lens);
}

/* Loads dir, expecting failure with a message holding each of the needles. */
static void expect_load_error(const char *dir, const char *what, const char *n1, const char *n2, const char *n3)
{
    stc_st_model m;
    int rc = stc_st_model_load(&m, dir);
    CHECK_MSG(rc != 0, "%s: loaded", what);
    if (!rc) {
        stc_st_model_free(&m);
        return;
    }
    const char *msg = stc_error_message();
    const char *needles[] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        CHECK_MSG(!needles[i] || strstr(msg, needles[i]), "%s: message \"%s\" lacks \"%s\"", what, msg, needles[i]);
    printf("error (%s): %s\n", what, msg);
}

/* A copy of the fixture model (saved by stc) under tmpdir/name. */
static const char *copy_model(const stc_st_model *m, const char *name)
{
    const char *dir = tmp_path(name);
    CHECK_MSG(stc_st_model_save(m, dir) == 0, "%s", stc_error_message());
    return dir;
}

static const char *router_json(const char *dir)
{
    static char buf[1100];
    snprintf(buf, sizeof buf, "%s/router_config.json", dir);
    return buf;
}

/* A router_config.json for the fixture's modules with the given structure
 * and parameters. */
static void write_router(const char *dir, const char *types_extra, const char *structure, const char *params)
{
    char json[4096];
    snprintf(json, sizeof json,
             "{\"types\": {\"query_0_Transformer\": \"sentence_transformers.models.Transformer\", "
             "\"query_1_Pooling\": \"sentence_transformers.models.Pooling\", "
             "\"document_0_Transformer\": \"sentence_transformers.models.Transformer\", "
             "\"document_1_Pooling\": \"sentence_transformers.models.Pooling\", "
             "\"document_2_Dense\": \"sentence_transformers.models.Dense\"%s}, "
             "\"structure\": %s, \"parameters\": %s}",
             types_extra, structure, params);
    write_text(router_json(dir), json);
}

static const char *QD = "{\"query\": [\"query_0_Transformer\", \"query_1_Pooling\"], "
                        "\"document\": [\"document_0_Transformer\", \"document_1_Pooling\", \"document_2_Dense\"]}";

static int load_ok(stc_st_model *m, const char *dir, const char *what)
{
    int rc = stc_st_model_load(m, dir);
    CHECK_MSG(rc == 0, "%s: %s", what, stc_error_message());
    return rc == 0;
}

static void check_errors_and_variants(const stc_st_model *m, const cJSON *exp)
{
    int r;
    /* Unknown task: named, with the routes. */
    CHECK(stc_st_model_route_index(m, "nope", &r) != 0);
    const char *msg = stc_error_message();
    CHECK_MSG(strstr(msg, "\"nope\"") && strstr(msg, "\"query\"") && strstr(msg, "\"document\"") &&
              strstr(msg, "router_config.json"), "%s", msg);
    printf("error (unknown task): %s\n", msg);
    CHECK(stc_st_model_route_index(m, "", &r) != 0); /* Python: an empty task is not a route either */
    text_list tl = get_texts(exp);
    int dim;
    CHECK(encode(m, &tl, "nope", NULL, 8, &dim) == NULL && strstr(stc_error_message(), "nope"));

    /* Unsupported module in a route: names the route, the module and its type. */
    const char *d = copy_model(m, "unsupported");
    replace_in_file(router_json(d), "\"query_1_Pooling\": \"sentence_transformers.sentence_transformer.modules.pooling.Pooling\"",
                    "\"query_1_Pooling\": \"sentence_transformers.models.LSTM\"");
    expect_load_error(d, "unsupported module", "route \"query\"", "query_1_Pooling", "sentence_transformers.models.LSTM");

    /* Malformed router_config.json: the file is named. */
    d = copy_model(m, "malformed");
    write_text(router_json(d), "{\"types\": {\"query_0_Transformer\": ");
    expect_load_error(d, "malformed JSON", "router_config.json", NULL, NULL);
    write_text(router_json(d), "[1, 2]");
    expect_load_error(d, "not an object", "router_config.json", NULL, NULL);
    write_router(d, "", "{\"query\": [\"query_0_Transformer\", \"query_9_Pooling\"]}", "{}");
    expect_load_error(d, "unknown id", "router_config.json", "query_9_Pooling", NULL);
    write_router(d, "", QD, "{\"default_route\": \"nope\"}");
    expect_load_error(d, "bad default_route", "router_config.json", "default_route", "nope");
    write_router(d, "", QD, "{\"route_mappings\": {\"(None, 'text')\": \"nope\"}}");
    expect_load_error(d, "mapping to no route", "router_config.json", "nope", NULL);
    write_router(d, ", \"../evil\": \"sentence_transformers.models.Normalize\"", QD, "{}");
    expect_load_error(d, "id outside the model", "router_config.json", "../evil", NULL);
    write_router(d, "", "{\"query\": [\"query_1_Pooling\", \"query_0_Transformer\"]}", "{}");
    expect_load_error(d, "route not starting with a Transformer", "route \"query\"", "Transformer", NULL);
    write_router(d, "", "{\"query\": []}", "{}");
    expect_load_error(d, "empty route", "router_config.json", "query", NULL);
    char missing[1100];
    snprintf(missing, sizeof missing, "%s/router_config.json", tmp_path("malformed"));
    remove(missing);
    expect_load_error(d, "missing router_config.json", "router_config.json", "not found", NULL);

    stc_st_model v;
    /* No default route: a task is required. */
    d = copy_model(m, "nodefault");
    write_router(d, "", QD, "{\"default_route\": null, \"allow_empty_key\": false}");
    if (load_ok(&v, d, "no default route")) {
        CHECK(stc_st_model_route_index(&v, NULL, &r) != 0 && strstr(stc_error_message(), "default_route"));
        CHECK(stc_st_model_route_index(&v, "query", &r) == 0 && r == 0);
        stc_st_model_free(&v);
    }
    /* allow_empty_key without default_route: the first route. */
    write_router(d, "", QD, "{\"default_route\": null, \"allow_empty_key\": true}");
    if (load_ok(&v, d, "first route default")) {
        CHECK(stc_st_model_route_index(&v, NULL, &r) == 0 && r == 0);
        stc_st_model_free(&v);
    }
    /* route_mappings, in Python's priority order (text input). */
    write_router(d, "", QD,
                 "{\"default_route\": \"document\", \"route_mappings\": {\"('document', None)\": \"query\", "
                 "\"(None, ('image', 'text'))\": \"query\", \"(None, 'image')\": \"query\"}}");
    if (load_ok(&v, d, "mappings")) {
        CHECK(stc_st_model_route_index(&v, "document", &r) == 0 && r == 0); /* (task, None) */
        CHECK(stc_st_model_route_index(&v, NULL, &r) == 0 && r == 1);       /* tuple / image rules never match text */
        CHECK(stc_st_model_route_index(&v, "query", &r) == 0 && r == 0);
        stc_st_model_free(&v);
    }
    write_router(d, "", QD, "{\"route_mappings\": {\"(None, 'text')\": \"query\", \"('document', 'text')\": \"document\"}}");
    if (load_ok(&v, d, "mappings 2")) {
        CHECK(stc_st_model_route_index(&v, "document", &r) == 0 && r == 1); /* (task, 'text') first */
        CHECK(stc_st_model_route_index(&v, NULL, &r) == 0 && r == 0);       /* (None, 'text') */
        CHECK(stc_st_model_route_index(&v, "other", &r) == 0 && r == 0);    /* mapped before the unknown-task error */
        stc_st_model_free(&v);
    }
    /* A route that shares the query encoder: one set of parameters, named
     * at its first occurrence, as Python's named_parameters(). */
    write_router(d, "", "{\"query\": [\"query_0_Transformer\", \"query_1_Pooling\"], "
                        "\"document\": [\"query_0_Transformer\", \"document_1_Pooling\", \"document_2_Dense\"]}", "{}");
    if (load_ok(&v, d, "shared module")) {
        CHECK(stc_params_find(&v.params, "0.sub_modules.document.0.auto_model.embeddings.word_embeddings.weight") < 0);
        CHECK(stc_st_model_route(&v, 0)->bert.wte == stc_st_model_route(&v, 1)->bert.wte);
        size_t off, cnt;
        stc_st_model_route_params(&v, 1, &off, &cnt);
        CHECK(cnt == 32 * 32 + 32); /* the document route's own: its Dense */
        stc_st_model_free(&v);
    }

    /* The 5.x spellings (sentence_transformers.models.*) and a legacy Asym
     * config.json load the same model. */
    d = copy_model(m, "classic");
    char mj[1100];
    snprintf(mj, sizeof mj, "%s/modules.json", d);
    replace_in_file(mj, "sentence_transformers.base.modules.router.Router", "sentence_transformers.models.Asym");
    replace_in_file(mj, "sentence_transformers.base.modules.normalize.Normalize", "sentence_transformers.models.Normalize");
    write_router(d, "", QD, "{\"default_route\": \"document\", \"allow_empty_key\": true}");
    char cj[1100];
    snprintf(cj, sizeof cj, "%s/config.json", d);
    CHECK(rename(router_json(d), cj) == 0);
    if (load_ok(&v, d, "classic spellings")) {
        const char *tasks[] = {NULL, "query", "document"};
        for (int t = 0; t < 3; t++) {
            int d1 = 0, d2 = 0;
            float *a = encode(m, &tl, tasks[t], NULL, 32, &d1), *b = encode(&v, &tl, tasks[t], NULL, 32, &d2);
            CHECK(a && b && d1 == d2 && !memcmp(a, b, sizeof(float) * (size_t)tl.n * d1));
            free(a);
            free(b);
        }
        stc_st_model_free(&v);
    }
    free(tl.texts);
    free(tl.lens);
}

/* stc saves (after a change of every weight, as training would), stc
 * reloads: identical slab and embeddings per task. */
static void check_round_trip(stc_st_model *m, const cJSON *exp)
{
    for (size_t i = 0; i < m->params.total; i++)
        m->params.slab[i] += 1e-3f * (float)sin((double)i);
    const char *dir = tmp_path("saved");
    CHECK_MSG(stc_st_model_save(m, dir) == 0, "%s", stc_error_message());
    stc_st_model r;
    if (!load_ok(&r, dir, "reload"))
        return;
    CHECK(r.params.total == m->params.total &&
          !memcmp(r.params.slab, m->params.slab, sizeof(float) * m->params.total));
    text_list tl = get_texts(exp);
    const char *tasks[] = {NULL, "query", "document"};
    int same = 1;
    for (int t = 0; t < 3; t++) {
        int d1 = 0, d2 = 0;
        float *a = encode(m, &tl, tasks[t], "query: ", 32, &d1), *b = encode(&r, &tl, tasks[t], "query: ", 32, &d2);
        int eq = a && b && d1 == d2 && !memcmp(a, b, sizeof(float) * (size_t)tl.n * d1);
        CHECK_MSG(eq, "task %s: embeddings differ after save -> load", tasks[t] ? tasks[t] : "(none)");
        same &= eq;
        free(a);
        free(b);
    }
    printf("save -> load: slab and embeddings (3 tasks) %s\n", same ? "bit-identical" : "DIFFER");
    free(tl.texts);
    free(tl.lens);
    stc_st_model_free(&r);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        fixture = argv[1];
    const char *base = getenv("STC_BUILD_DIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_router.XXXXXX", base && stc_is_dir(base) ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/expected.json", fixture);
    cJSON *exp = load_json(path);
    CHECK(exp != NULL);
    snprintf(path, sizeof path, "%s/model", fixture);
    stc_st_model m;
    int rc = stc_st_model_load(&m, path);
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    if (exp && !rc) {
        double worst = 0;
        check_parity(&m, exp, &worst);
        printf("parity worst max abs diff %.3g (bound %.0e)\n", worst, TOL);
        check_params(&m, exp);
        check_plain_model();
        check_train_route(&m, exp, 0);
        check_train_route(&m, exp, 1);
        check_errors_and_variants(&m, exp);
        const char *keep = getenv("STC_ROUTER_SAVE_DIR");
        if (keep)
            CHECK_MSG(stc_st_model_save(&m, keep) == 0, "%s", stc_error_message());
        check_round_trip(&m, exp);
        stc_st_model_free(&m);
    }
    cJSON_Delete(exp);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_report("test_router");
}
