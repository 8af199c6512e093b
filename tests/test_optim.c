/*
 * The optimizer side of training against the Python reference
 * (tests/fixtures/optim/, written by tools/make_optim_fixtures.py):
 *   - param groups: Sentence Transformers' trainer.create_optimizer() groups
 *     for a tiny BERT (membership, order, lr, weight decay), including a dict
 *     of losses with a loss-owned classifier, overlapping and emptied groups;
 *   - schedules: lambda(k) of every transformers schedule, warmup rules;
 *   - AdamW + clip_grad_norm_ + LambdaLR: torch's parameters after every
 *     step, grad_norm, lrs and final moments;
 * then against itself: regex translation, decay names, error messages,
 * state save/load (resumed run bit-identical), and thread-count
 * independence.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/params.h"
#include "trainer/optimizer.h"
#include "trainer/param_groups.h"
#include "trainer/scheduler.h"
#include "util/error.h"
#include "util/json.h"

#define FIX "fixtures/optim/"

/* ---- fixture helpers ---------------------------------------------------- */

/* A set of parameter tables built from a fixture's "sources". */
typedef struct {
    int n;
    stc_param_table tables[4];
    stc_param_source src[4];
} sources_t;

static int sources_load(sources_t *S, const cJSON *arr)
{
    memset(S, 0, sizeof *S);
    const cJSON *s;
    cJSON_ArrayForEach(s, arr) {
        if (S->n == 4)
            return -1;
        stc_param_table *t = &S->tables[S->n];
        stc_params_init(t);
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(s, "params")) {
            const char *name = cJSON_GetArrayItem(p, 0)->valuestring;
            const cJSON *shape = cJSON_GetArrayItem(p, 1);
            int64_t dims[STC_PARAM_MAX_DIMS];
            int nd = 0;
            const cJSON *d;
            cJSON_ArrayForEach(d, shape) dims[nd++] = (int64_t)d->valuedouble;
            if (stc_params_add(t, name, name, 0, nd, dims, 0) < 0)
                return -1;
        }
        if (stc_params_alloc(t))
            return -1;
        S->src[S->n].table = t;
        S->src[S->n].prefix = cJSON_GetObjectItem(s, "prefix")->valuestring;
        S->n++;
    }
    return 0;
}

static void sources_free(sources_t *S)
{
    for (int i = 0; i < S->n; i++)
        stc_params_free(&S->tables[i]);
}

/* mapping [[pattern, lr], ...] -> entries (pointers into the JSON). */
static int mapping_load(const cJSON *arr, stc_lr_mapping_entry *out, int cap)
{
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (n == cap)
            return -1;
        out[n].pattern = cJSON_GetArrayItem(e, 0)->valuestring;
        out[n].lr = cJSON_GetArrayItem(e, 1)->valuedouble;
        n++;
    }
    return n;
}

static double num(const cJSON *o, const char *key) { return cJSON_GetObjectItem(o, key)->valuedouble; }

/* Checks pg's groups against the fixture's [{"lr", "weight_decay", "params"}]. */
static void check_groups(const char *what, const stc_param_groups *pg, const cJSON *groups)
{
    CHECK_MSG(pg->n_groups == cJSON_GetArraySize(groups), "%s: %d groups, reference %d", what, pg->n_groups,
              cJSON_GetArraySize(groups));
    int g = 0;
    const cJSON *G;
    cJSON_ArrayForEach(G, groups) {
        if (g >= pg->n_groups)
            break;
        const stc_param_group *gr = &pg->groups[g];
        CHECK_MSG(gr->lr == num(G, "lr"), "%s: group %d lr %g, reference %g", what, g, gr->lr, num(G, "lr"));
        CHECK_MSG(gr->weight_decay == num(G, "weight_decay"), "%s: group %d weight_decay %g, reference %g", what,
                  g, gr->weight_decay, num(G, "weight_decay"));
        const cJSON *names = cJSON_GetObjectItem(G, "params");
        CHECK_MSG(gr->n == cJSON_GetArraySize(names), "%s: group %d has %d params, reference %d", what, g, gr->n,
                  cJSON_GetArraySize(names));
        int i = 0;
        const cJSON *nm;
        cJSON_ArrayForEach(nm, names) {
            if (i >= gr->n)
                break;
            CHECK_MSG(!strcmp(pg->names[gr->members[i]], nm->valuestring), "%s: group %d member %d: %s vs %s",
                      what, g, i, pg->names[gr->members[i]], nm->valuestring);
            i++;
        }
        g++;
    }
    /* group_of agrees with membership */
    for (int k = 0; k < pg->n_params; k++) {
        const stc_param_group *gr = &pg->groups[pg->group_of[k]];
        int found = 0;
        for (int i = 0; i < gr->n; i++)
            found |= gr->members[i] == k;
        CHECK_MSG(found, "%s: %s not in its group", what, pg->names[k]);
    }
}

/* ---- param groups vs Sentence Transformers ------------------------------ */

static void test_st_groups(void)
{
    cJSON *root = NULL;
    if (stc_json_load(FIX "groups.json", &root)) {
        CHECK_MSG(0, "%s", stc_error_message());
        return;
    }
    const cJSON *c;
    int n_cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        sources_t S;
        stc_lr_mapping_entry map[16];
        CHECK(sources_load(&S, cJSON_GetObjectItem(c, "sources")) == 0);
        int nm = mapping_load(cJSON_GetObjectItem(c, "mapping"), map, 16);
        CHECK(nm >= 0);
        stc_param_groups pg;
        int rc = stc_param_groups_build(&pg, S.src, S.n, num(c, "learning_rate"), num(c, "weight_decay"), map, nm);
        CHECK_MSG(rc == 0, "%s: %s", name, stc_error_message());
        if (rc == 0) {
            check_groups(name, &pg, cJSON_GetObjectItem(c, "groups"));
            stc_param_groups_free(&pg);
        }
        sources_free(&S);
        n_cases++;
    }
    CHECK(n_cases == 3);
    cJSON_Delete(root);
}

/* ---- param groups: unit checks and errors ------------------------------- */

static void check_translate(const char *py, const char *want)
{
    char *got = stc_python_regex_to_pcre2(py);
    CHECK_MSG(got && !strcmp(got, want), "translate '%s': '%s', want '%s'", py, got ? got : "(null)", want);
    free(got);
}

/* Builds a one-source table of names (1-D, 2 elements each). */
static void table_of(stc_param_table *t, const char *const *names, int n)
{
    stc_params_init(t);
    int64_t shape[1] = {2};
    for (int i = 0; i < n; i++)
        stc_params_add(t, names[i], names[i], 0, 1, shape, 0);
    stc_params_alloc(t);
}

/* Group lr of name under a one-pattern mapping, or -1 if the build failed. */
static double lr_of(const char *pattern, const char *name)
{
    stc_param_table t;
    const char *names[] = {name, "zzz"};
    table_of(&t, names, 2);
    stc_param_source src = {&t, "", NULL};
    stc_lr_mapping_entry map[2] = {{pattern, 1.0}, {"zzz", 2.0}};
    stc_param_groups pg;
    double lr = -1;
    if (stc_param_groups_build(&pg, &src, 1, 0.5, 0.0, map, 2) == 0) {
        lr = pg.groups[pg.group_of[0]].lr;
        stc_param_groups_free(&pg);
    }
    stc_params_free(&t);
    return lr;
}

static void test_groups_units(void)
{
    /* Python-only spellings rewritten; everything else left alone. */
    check_translate("layer\\.1\\Z", "layer\\.1\\z");
    check_translate("a{,3}", "a{0,3}");
    check_translate("a{,}", "a{0,}");
    check_translate("a{,x}", "a{,x}");
    check_translate("a{2,3}", "a{2,3}");
    check_translate("[[:alpha:]]", "[\\[:alpha:]]");
    check_translate("[]{,3}]", "[]{,3}]");
    check_translate("[^]a]{,2}", "[^]a]{0,2}");
    check_translate("\\u00e9\\U0001F600", "\\x{00e9}\\x{0001F600}");
    check_translate("\\u00g", "\\u00g");
    check_translate("\\v", "\\x0b");
    check_translate("\\\\Z", "\\\\Z");
    check_translate("(?P<n>x)(?P=n)", "(?P<n>x)(?P=n)");
    check_translate("[\\Z]", "[\\Z]");

    /* Matching as Python's re.search would. */
    CHECK(lr_of("layer\\.1\\Z", "enc.layer.1") == 1.0);
    CHECK(lr_of("x{,1}y", "ay") == 1.0);        /* {,1} is a quantifier, not text */
    CHECK(lr_of("[[:alpha:]]", "b") == -1);     /* Python: a set then a literal ']'; PCRE2 would match */
    CHECK(lr_of("[[:alpha:]]", "p]") == 1.0);
    CHECK(lr_of("(?i)QUERY", "self.query.weight") == 1.0);
    CHECK(lr_of("\\u00e9", "caf\xc3\xa9.w") == 1.0);
    CHECK(lr_of("\\w+\\.\\d", "l\xc3\xa9.3") == 1.0);

    /* transformers' decay-name rules. */
    CHECK(stc_param_name_decays("model.0.auto_model.encoder.layer.0.attention.self.query.weight"));
    CHECK(!stc_param_name_decays("model.0.auto_model.encoder.layer.0.attention.self.query.bias"));
    CHECK(!stc_param_name_decays("model.0.auto_model.embeddings.LayerNorm.weight"));
    CHECK(!stc_param_name_decays("m.norm.weight"));
    CHECK(!stc_param_name_decays("norm"));
    CHECK(!stc_param_name_decays("m.final_norm.weight"));
    CHECK(!stc_param_name_decays("m.layer_norm"));
    CHECK(!stc_param_name_decays("m.RMSNorm.weight"));
    CHECK(!stc_param_name_decays("m.Bias"));
    CHECK(stc_param_name_decays("m.normal.weight"));
    CHECK(stc_param_name_decays("m.enorm.weight"));
    CHECK(stc_param_name_decays("2.linear.weight"));
    CHECK(!stc_param_name_decays("my_norm.model.0.linear.weight")); /* a dataset name can exclude all */

    /* in_layernorm: no decay whatever the name. */
    {
        stc_param_table t;
        const char *names[] = {"ln_1.weight", "fc.weight"};
        table_of(&t, names, 2);
        unsigned char in_ln[2] = {1, 0};
        stc_param_source src = {&t, "model.", in_ln};
        stc_param_groups pg;
        CHECK(stc_param_groups_build(&pg, &src, 1, 1e-3, 0.1, NULL, 0) == 0);
        CHECK(pg.n_groups == 2 && pg.group_of[0] == 1 && pg.group_of[1] == 0);
        CHECK(!strcmp(pg.names[0], "model.ln_1.weight"));
        CHECK(stc_param_groups_find(&pg, "model.fc.weight") == 1 && stc_param_groups_find(&pg, "fc.weight") == -1);
        CHECK(pg.groups[0].weight_decay == 0.1 && pg.groups[1].weight_decay == 0.0);
        stc_param_groups_free(&pg);
        stc_params_free(&t);
    }

    /* Errors name the pattern. */
    {
        stc_param_table t;
        const char *names[] = {"0.auto_model.encoder.layer.0.attention.self.query.weight", "1.linear.bias"};
        table_of(&t, names, 2);
        stc_param_source src = {&t, "model.", NULL};
        stc_param_groups pg;
        stc_lr_mapping_entry nomatch[2] = {{"linear", 1e-3}, {"decoder\\.", 1e-4}};
        int rc = stc_param_groups_build(&pg, &src, 1, 1e-3, 0.0, nomatch, 2);
        CHECK(rc == STC_ERR_USAGE);
        CHECK_MSG(strstr(stc_error_message(), "'decoder\\.'") != NULL, "message: %s", stc_error_message());
        CHECK(pg.groups == NULL && pg.names == NULL);
        /* Anchored at the start of the loss-module name, which has the prefix. */
        stc_lr_mapping_entry anchored[1] = {{"^0\\.auto_model", 1e-3}};
        CHECK(stc_param_groups_build(&pg, &src, 1, 1e-3, 0.0, anchored, 1) == STC_ERR_USAGE);
        stc_lr_mapping_entry bad[2] = {{"query", 1e-3}, {"layer(\\d", 1e-4}};
        rc = stc_param_groups_build(&pg, &src, 1, 1e-3, 0.0, bad, 2);
        CHECK(rc == STC_ERR_USAGE);
        CHECK_MSG(strstr(stc_error_message(), "'layer(\\d'") && strstr(stc_error_message(), "offset"),
                  "message: %s", stc_error_message());
        stc_lr_mapping_entry unsupported[1] = {{"\\N{LATIN SMALL LETTER E}", 1e-3}};
        CHECK(stc_param_groups_build(&pg, &src, 1, 1e-3, 0.0, unsupported, 1) == STC_ERR_USAGE);
        stc_params_free(&t);
    }
}

/* ---- schedules ------------------------------------------------------------ */

static void test_schedules(void)
{
    cJSON *root = NULL;
    if (stc_json_load(FIX "schedules.json", &root)) {
        CHECK_MSG(0, "%s", stc_error_message());
        return;
    }
    const cJSON *s;
    int n = 0;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(root, "schedules")) {
        const char *type = cJSON_GetObjectItem(s, "type")->valuestring;
        stc_sched_type t;
        CHECK(stc_sched_type_parse(type, &t) == 0);
        CHECK(!strcmp(stc_sched_type_name(t), type));
        stc_sched_kwargs kw;
        CHECK_MSG(stc_sched_kwargs_from_json(cJSON_GetObjectItem(s, "kwargs"), t, "test", &kw) == 0, "%s",
                  stc_error_message());
        stc_scheduler sc;
        int64_t T = (int64_t)num(s, "T"), W = (int64_t)num(s, "W");
        CHECK(stc_scheduler_init(&sc, t, T, W, num(s, "base_lr"), &kw) == 0);
        int64_t k = 0;
        const cJSON *lam;
        cJSON_ArrayForEach(lam, cJSON_GetObjectItem(s, "lambdas")) {
            double got = stc_scheduler_lambda(&sc, k);
            CHECK_MSG(fabs(got - lam->valuedouble) <= 1e-12, "%s T=%lld W=%lld k=%lld: %.17g vs %.17g", type,
                      (long long)T, (long long)W, (long long)k, got, lam->valuedouble);
            CHECK(stc_scheduler_lr(&sc, 2.0, k) == 2.0 * got);
            k++;
        }
        CHECK(k == T + 4);
        n++;
    }
    CHECK(n == 17);
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(root, "warmup")) {
        int64_t T = (int64_t)num(s, "T");
        int64_t W = stc_sched_warmup_steps_v5(num(s, "warmup_steps"), T);
        CHECK_MSG(W == (int64_t)num(s, "W"), "warmup %g of %lld: %lld vs %lld", num(s, "warmup_steps"),
                  (long long)T, (long long)W, (long long)num(s, "W"));
    }
    cJSON_Delete(root);

    /* transformers v4's rule: warmup_steps wins when > 0. */
    CHECK(stc_sched_warmup_steps_v4(5, 0.5, 20) == 5);
    CHECK(stc_sched_warmup_steps_v4(0, 0.07, 100) == 8); /* ceil(7.000000000000001) as in Python */
    CHECK(stc_sched_warmup_steps_v4(0, 0.1, 30) == 3);
    CHECK(stc_sched_warmup_steps_v4(0, 0.0, 20) == 0);

    /* kwargs and argument errors. */
    stc_sched_kwargs kw;
    cJSON *o = cJSON_Parse("{\"num_cycles\": 2}");
    CHECK(stc_sched_kwargs_from_json(o, STC_SCHED_LINEAR, "cfg", &kw) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "num_cycles") != NULL);
    CHECK(stc_sched_kwargs_from_json(o, STC_SCHED_COSINE, "cfg", &kw) == 0 && kw.num_cycles == 2.0);
    CHECK(stc_sched_kwargs_from_json(o, STC_SCHED_POLYNOMIAL, "cfg", &kw) == STC_ERR_USAGE);
    CHECK(stc_sched_kwargs_from_json(o, STC_SCHED_CONSTANT, "cfg", &kw) == 0);
    cJSON_Delete(o);
    o = cJSON_Parse("{\"power\": \"x\"}");
    CHECK(stc_sched_kwargs_from_json(o, STC_SCHED_POLYNOMIAL, "cfg", &kw) == STC_ERR_USAGE);
    cJSON_Delete(o);
    stc_sched_type t;
    CHECK(stc_sched_type_parse("inverse_sqrt", &t) == STC_ERR_USAGE);
    stc_scheduler sc;
    stc_sched_kwargs pk = stc_sched_kwargs_default();
    pk.lr_end = 1e-3;
    CHECK(stc_scheduler_init(&sc, STC_SCHED_POLYNOMIAL, 10, 0, 1e-3, &pk) == STC_ERR_USAGE);
    CHECK(stc_scheduler_init(&sc, STC_SCHED_LINEAR, -1, 0, 1e-3, NULL) == STC_ERR_USAGE);
    /* polynomial with T == W: Python divides by zero at k == T; stc gives lr_end / lr_init */
    CHECK(stc_scheduler_init(&sc, STC_SCHED_POLYNOMIAL, 4, 4, 1e-3, NULL) == 0);
    CHECK(stc_scheduler_lambda(&sc, 2) == 0.5);
    CHECK(fabs(stc_scheduler_lambda(&sc, 4) - 1e-4) < 1e-18);
}

/* ---- AdamW trajectories vs torch ----------------------------------------- */

/* Copies a JSON number array into dst (n values); returns the count read. */
static size_t floats_from(const cJSON *arr, float *dst, size_t n)
{
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (i < n)
            dst[i] = (float)v->valuedouble;
        i++;
    }
    return i;
}

/* Largest difference of x from the JSON reference, relative to
 * |ref| + floor: floor keeps values that cancelled to near zero (a parameter
 * that crossed zero) from counting their sub-ulp differences as large
 * relative ones. floor < 0: -floor times the tensor's largest |ref|. */
static double max_rel(const float *x, const cJSON *ref, size_t n, double floor)
{
    double worst = 0, scale = 0;
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, ref) scale = fmax(scale, fabs(v->valuedouble));
    if (floor < 0)
        floor = -floor * scale;
    cJSON_ArrayForEach(v, ref) {
        if (i >= n)
            return INFINITY;
        double r = v->valuedouble, d = fabs((double)x[i] - r) / (fabs(r) + floor);
        if (!(d <= worst))
            worst = d;
        i++;
    }
    return i == n ? worst : INFINITY;
}

typedef struct {
    sources_t S;
    stc_param_groups pg;
    stc_adamw opt;
    float *grad[4];
    unsigned char *has_grad[4];
} run_t;

static int run_setup(run_t *R, const cJSON *c)
{
    memset(R, 0, sizeof *R);
    stc_lr_mapping_entry map[8];
    if (sources_load(&R->S, cJSON_GetObjectItem(c, "sources")))
        return -1;
    int nm = mapping_load(cJSON_GetObjectItem(c, "mapping"), map, 8);
    if (nm < 0 || stc_param_groups_build(&R->pg, R->S.src, R->S.n, num(c, "base_lr"), num(c, "weight_decay"), map, nm))
        return -1;
    const cJSON *betas = cJSON_GetObjectItem(c, "betas");
    if (stc_adamw_init(&R->opt, &R->pg, cJSON_GetArrayItem(betas, 0)->valuedouble,
                       cJSON_GetArrayItem(betas, 1)->valuedouble, num(c, "eps")))
        return -1;
    for (int s = 0; s < R->S.n; s++) {
        R->grad[s] = calloc(R->S.tables[s].total + 1, sizeof(float));
        R->has_grad[s] = calloc((size_t)R->S.tables[s].n + 1, 1);
        if (!R->grad[s] || !R->has_grad[s])
            return -1;
    }
    /* initial parameters */
    const cJSON *init = cJSON_GetObjectItem(c, "init");
    for (int k = 0; k < R->pg.n_params; k++) {
        const stc_param_table *t = &R->S.tables[R->pg.source[k]];
        float *p = t->slab + R->pg.offset[k];
        if (floats_from(cJSON_GetObjectItem(init, R->pg.names[k]), p, R->pg.count[k]) != R->pg.count[k])
            return -1;
    }
    return 0;
}

static void run_free(run_t *R)
{
    for (int s = 0; s < R->S.n; s++) {
        free(R->grad[s]);
        free(R->has_grad[s]);
    }
    stc_adamw_free(&R->opt);
    stc_param_groups_free(&R->pg);
    sources_free(&R->S);
}

/* Loads step `st`'s gradients into the run's slabs. */
static void run_load_grads(run_t *R, const cJSON *st)
{
    const cJSON *grads = cJSON_GetObjectItem(st, "grads");
    for (int k = 0; k < R->pg.n_params; k++) {
        int s = R->pg.source[k];
        const cJSON *g = cJSON_GetObjectItem(grads, R->pg.names[k]);
        float *dst = R->grad[s] + R->pg.offset[k];
        if (!g || cJSON_IsNull(g)) {
            R->has_grad[s][R->pg.index[k]] = 0;
            memset(dst, 0, sizeof(float) * R->pg.count[k]);
        } else {
            R->has_grad[s][R->pg.index[k]] = 1;
            floats_from(g, dst, R->pg.count[k]);
        }
    }
}

/* One full training step as the trainer does it: clip, lr, AdamW. */
static int run_step(run_t *R, const cJSON *c, const stc_scheduler *sc, int64_t k, double *grad_norm)
{
    int cs = (int)num(c, "clipped_source");
    double max_norm = num(c, "max_grad_norm");
    *grad_norm = NAN;
    if (max_norm > 0 &&
        stc_clip_grad_norm(&R->S.tables[cs], R->grad[cs], R->has_grad[cs], max_norm, grad_norm))
        return -1;
    stc_adamw_slab slabs[4];
    for (int s = 0; s < R->S.n; s++) {
        slabs[s].param = R->S.tables[s].slab;
        slabs[s].grad = R->grad[s];
        slabs[s].has_grad = R->has_grad[s];
    }
    return stc_adamw_step(&R->opt, slabs, stc_scheduler_lambda(sc, k));
}

static void scheduler_of(const cJSON *c, stc_scheduler *sc)
{
    const cJSON *s = cJSON_GetObjectItem(c, "scheduler");
    stc_sched_type t;
    stc_sched_kwargs kw;
    CHECK(stc_sched_type_parse(cJSON_GetObjectItem(s, "type")->valuestring, &t) == 0);
    CHECK(stc_sched_kwargs_from_json(cJSON_GetObjectItem(s, "kwargs"), t, "fixture", &kw) == 0);
    CHECK(stc_scheduler_init(sc, t, (int64_t)num(s, "T"), (int64_t)num(s, "W"), num(c, "base_lr"), &kw) == 0);
}

static void test_adamw_case(const cJSON *c)
{
    const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
    run_t R;
    if (run_setup(&R, c)) {
        CHECK_MSG(0, "%s: setup: %s", name, stc_error_message());
        run_free(&R);
        return;
    }
    check_groups(name, &R.pg, cJSON_GetObjectItem(c, "groups"));
    stc_scheduler sc;
    scheduler_of(c, &sc);

    /* A second run resumed from a saved state half-way must end identical. */
    run_t R2;
    memset(&R2, 0, sizeof R2);
    int resumed = 0;
    const int save_at = 5;

    double worst_p = 0, worst_n = 0, worst_lr = 0;
    int64_t k = 0;
    const cJSON *st;
    cJSON_ArrayForEach(st, cJSON_GetObjectItem(c, "steps")) {
        run_load_grads(&R, st);
        double gn;
        CHECK(run_step(&R, c, &sc, k, &gn) == 0);
        const cJSON *ref_gn = cJSON_GetObjectItem(st, "grad_norm");
        if (!cJSON_IsNull(ref_gn))
            worst_n = fmax(worst_n, fabs(gn - ref_gn->valuedouble) / ref_gn->valuedouble);
        int g = 0;
        const cJSON *lr;
        cJSON_ArrayForEach(lr, cJSON_GetObjectItem(st, "lrs")) {
            double got = stc_adamw_group_lr(&R.opt, g++, stc_scheduler_lambda(&sc, k));
            worst_lr = fmax(worst_lr, fabs(got - lr->valuedouble) / fmax(lr->valuedouble, 1e-30));
        }
        const cJSON *params = cJSON_GetObjectItem(st, "params");
        for (int p = 0; p < R.pg.n_params; p++) {
            const float *x = R.S.tables[R.pg.source[p]].slab + R.pg.offset[p];
            double d = max_rel(x, cJSON_GetObjectItem(params, R.pg.names[p]), R.pg.count[p], 0.1);
            CHECK_MSG(d <= 1e-6, "%s step %lld %s: rel diff %.3g", name, (long long)k + 1, R.pg.names[p], d);
            worst_p = fmax(worst_p, d);
        }
        if (resumed) {
            run_load_grads(&R2, st);
            CHECK(run_step(&R2, c, &sc, k, &gn) == 0);
        }
        k++;
        if (k == save_at) {
            /* checkpoint: moments + steps, and the parameters */
            size_t nb = stc_adamw_state_bytes(&R.opt);
            unsigned char *buf = malloc(nb);
            CHECK(buf && stc_adamw_state_save(&R.opt, buf, nb) == 0);
            CHECK(stc_adamw_state_save(&R.opt, buf, nb - 1) != 0);
            CHECK(run_setup(&R2, c) == 0);
            /* corrupted or mismatched buffers are refused, the state untouched */
            buf[0] ^= 1;
            CHECK(stc_adamw_state_load(&R2.opt, buf, nb, "ckpt") == STC_ERR_DATA);
            buf[0] ^= 1;
            CHECK(stc_adamw_state_load(&R2.opt, buf, nb - 4, "ckpt") == STC_ERR_DATA);
            CHECK(strstr(stc_error_message(), "ckpt") != NULL);
            CHECK(stc_adamw_state_load(&R2.opt, buf, 10, "ckpt") == STC_ERR_DATA);
            uint64_t saved_total;
            memcpy(&saved_total, buf + 48, 8); /* first source's element count */
            uint64_t bad_total = saved_total + 1;
            memcpy(buf + 48, &bad_total, 8);
            CHECK(stc_adamw_state_load(&R2.opt, buf, nb, "ckpt") == STC_ERR_DATA);
            memcpy(buf + 48, &saved_total, 8);
            CHECK(R2.opt.step[0] == 0);
            CHECK_MSG(stc_adamw_state_load(&R2.opt, buf, nb, "ckpt") == 0, "%s", stc_error_message());
            for (int s = 0; s < R.S.n; s++)
                memcpy(R2.S.tables[s].slab, R.S.tables[s].slab, sizeof(float) * R.S.tables[s].total);
            free(buf);
            resumed = 1;
        }
    }
    printf("%s: %lld steps, worst rel diff: params %.3g, grad_norm %.3g, lr %.3g\n", name, (long long)k,
           worst_p, worst_n, worst_lr);
    CHECK_MSG(worst_n <= 1e-6, "%s: grad_norm rel diff %.3g", name, worst_n);
    CHECK_MSG(worst_lr <= 1e-12, "%s: lr rel diff %.3g", name, worst_lr);

    /* final optimizer state: per-parameter step counts and moments */
    const cJSON *fin = cJSON_GetObjectItem(c, "final");
    double worst_m = 0;
    for (int p = 0; p < R.pg.n_params; p++) {
        const cJSON *f = cJSON_GetObjectItem(fin, R.pg.names[p]);
        int s = R.pg.source[p];
        if (!f) {
            CHECK_MSG(R.opt.step[p] == 0, "%s: %s never had a gradient but has step %lld", name, R.pg.names[p],
                      (long long)R.opt.step[p]);
            continue;
        }
        CHECK_MSG(R.opt.step[p] == (int64_t)num(f, "step"), "%s: %s step %lld vs %g", name, R.pg.names[p],
                  (long long)R.opt.step[p], num(f, "step"));
        double dm = max_rel(R.opt.m[s] + R.pg.offset[p], cJSON_GetObjectItem(f, "exp_avg"), R.pg.count[p], -1e-3);
        double dv = max_rel(R.opt.v[s] + R.pg.offset[p], cJSON_GetObjectItem(f, "exp_avg_sq"), R.pg.count[p], -1e-3);
        worst_m = fmax(worst_m, fmax(dm, dv));
        CHECK_MSG(dm <= 1e-5 && dv <= 1e-5, "%s: %s moments rel diff %.3g / %.3g", name, R.pg.names[p], dm, dv);
    }

    printf("%s: worst rel diff of the final moments %.3g\n", name, worst_m);

    /* the resumed run is bit-identical */
    CHECK(resumed);
    if (resumed) {
        for (int s = 0; s < R.S.n; s++) {
            size_t n = R.S.tables[s].total;
            CHECK(memcmp(R.S.tables[s].slab, R2.S.tables[s].slab, sizeof(float) * n) == 0);
            CHECK(memcmp(R.opt.m[s], R2.opt.m[s], sizeof(float) * n) == 0);
            CHECK(memcmp(R.opt.v[s], R2.opt.v[s], sizeof(float) * n) == 0);
        }
        CHECK(memcmp(R.opt.step, R2.opt.step, sizeof(int64_t) * (size_t)R.pg.n_params) == 0);
    }
    run_free(&R2);
    run_free(&R);
}

static void test_adamw(void)
{
    cJSON *root = NULL;
    if (stc_json_load(FIX "adamw.json", &root)) {
        CHECK_MSG(0, "%s", stc_error_message());
        return;
    }
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
        test_adamw_case(c);
        n++;
    }
    CHECK(n == 2);
    cJSON_Delete(root);
}

/* ---- thread-count independence and clipping edge cases ------------------ */

static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static float rng_float(uint32_t *s) { return (float)((double)rng_next(s) / 4294967296.0 - 0.5); }

/* Runs 3 AdamW steps with clipping on a table larger than one work chunk,
 * with `threads` OpenMP threads; returns params and the last norm. */
/* A table of 287300 elements: emb.weight [700, 300], emb.bias [300] and a
 * pooler [1000, 77] that gets no gradient. */
static void three_params(stc_param_table *t)
{
    stc_params_init(t);
    int64_t s1[2] = {700, 300}, s2[1] = {300}, s3[2] = {1000, 77};
    stc_params_add(t, "0.emb.weight", "emb.weight", 0, 2, s1, 0);
    stc_params_add(t, "0.emb.bias", "emb.bias", 0, 1, s2, 0);
    stc_params_add(t, "0.pooler.weight", "pooler.weight", 0, 2, s3, 1);
    stc_params_alloc(t);
}

static void big_run(int threads, float **params_out, double *norm_out, size_t *n_out)
{
    stc_param_table t;
    three_params(&t);
    uint32_t seed = 12345;
    for (size_t i = 0; i < t.total; i++)
        t.slab[i] = rng_float(&seed);
    float *grad = malloc(sizeof(float) * t.total);
    unsigned char has_grad[3] = {1, 1, 0};
    stc_param_source src = {&t, "model.", NULL};
    stc_param_groups pg;
    stc_lr_mapping_entry map[1] = {{"bias", 3e-3}};
    CHECK(stc_param_groups_build(&pg, &src, 1, 1e-3, 0.01, map, 1) == 0);
    stc_adamw opt;
    CHECK(stc_adamw_init(&opt, &pg, 0.9, 0.999, 1e-8) == 0);
    omp_set_num_threads(threads);
    for (int step = 0; step < 3; step++) {
        for (size_t i = 0; i < t.total; i++)
            grad[i] = rng_float(&seed);
        CHECK(stc_clip_grad_norm(&t, grad, has_grad, 1.0, norm_out) == 0);
        stc_adamw_slab sl = {t.slab, grad, has_grad};
        CHECK(stc_adamw_step(&opt, &sl, 1.0) == 0);
    }
    omp_set_num_threads(1);
    /* the pooler had no gradient: untouched (no decay either), no state */
    CHECK(opt.step[2] == 0 && opt.step[0] == 3);
    *n_out = t.total;
    *params_out = malloc(sizeof(float) * t.total);
    memcpy(*params_out, t.slab, sizeof(float) * t.total);
    stc_adamw_free(&opt);
    stc_param_groups_free(&pg);
    free(grad);
    stc_params_free(&t);
}

static void test_threads_and_clip(void)
{
    float *p1, *p3;
    double n1, n3;
    size_t n, n_b;
    big_run(1, &p1, &n1, &n);
    big_run(3, &p3, &n3, &n_b);
    CHECK(n == n_b);
    CHECK_MSG(n1 == n3, "norm %.17g vs %.17g", n1, n3);
    CHECK(memcmp(p1, p3, sizeof(float) * n) == 0);
    /* pooler (last 77000 elements) unchanged from its initial values */
    uint32_t seed = 12345;
    int same = 1;
    for (size_t i = 0; i < n; i++) {
        float v = rng_float(&seed);
        if (i >= n - 77000)
            same &= p1[i] == v;
    }
    CHECK(same);
    free(p1);
    free(p3);

    /* clipping: below max_norm untouched; above, scaled to ~max_norm; max_norm 0 only measures */
    stc_param_table t;
    stc_params_init(&t);
    int64_t sh[1] = {4};
    stc_params_add(&t, "a", "a", 0, 1, sh, 0);
    stc_params_add(&t, "b", "b", 0, 1, sh, 0);
    stc_params_alloc(&t);
    float g[8] = {3, 0, 0, 0, 0, 4, 0, 0};
    double norm;
    CHECK(stc_clip_grad_norm(&t, g, NULL, 10.0, &norm) == 0 && norm == 5.0 && g[0] == 3.0f && g[5] == 4.0f);
    CHECK(stc_clip_grad_norm(&t, g, NULL, 0.0, &norm) == 0 && norm == 5.0 && g[0] == 3.0f);
    CHECK(stc_clip_grad_norm(&t, g, NULL, 1.0, &norm) == 0 && norm == 5.0);
    CHECK_NEAR(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
    CHECK_NEAR(g[5], 4.0 / (5.0 + 1e-6), 1e-7);
    unsigned char hg[2] = {0, 1};
    float g2[8] = {30, 0, 0, 0, 0, 4, 0, 0};
    CHECK(stc_clip_grad_norm(&t, g2, hg, 1.0, &norm) == 0 && norm == 4.0 && g2[0] == 30.0f);
    float g3[8] = {NAN, 0, 0, 0, 0, 4, 0, 0};
    CHECK(stc_clip_grad_norm(&t, g3, NULL, 1.0, &norm) == 0 && isnan(norm) && g3[5] == 4.0f);
    stc_params_free(&t);

    /* bad hyperparameters */
    stc_param_groups pg;
    memset(&pg, 0, sizeof pg);
    stc_adamw opt;
    CHECK(stc_adamw_init(&opt, &pg, 1.0, 0.999, 1e-8) == STC_ERR_USAGE);
    CHECK(stc_adamw_init(&opt, &pg, 0.9, 0.999, -1.0) == STC_ERR_USAGE);
}

/* ZeRO-1: three shards, each with its own optimizer, stepping gradients
 * twice the true ones scaled by 1/2 as they are read (the 1/world average),
 * give the unsharded run's parameters: bit for bit without clipping (each
 * element's update is the same arithmetic), within rounding of the norm's
 * summation order with clipping. The shard boundaries cut parameters. */
static void test_sharded(void)
{
    stc_param_table t;
    three_params(&t);
    size_t n = t.total;
    unsigned char has_grad[3] = {1, 1, 0};
    stc_param_source src = {&t, "model.", NULL};
    stc_param_groups pg;
    stc_lr_mapping_entry map[1] = {{"bias", 3e-3}};
    CHECK(stc_param_groups_build(&pg, &src, 1, 1e-3, 0.01, map, 1) == 0);
    /* shards as dist/comm.c's stc_comm_block cuts them for 3 ranks, by hand
     * here (this test does not link MPI): thirds of 16-element units */
    size_t units = (n + 15) / 16, begin[4], count[3];
    for (int r = 0; r <= 3; r++)
        begin[r] = units * (size_t)r / 3 * 16 < n ? units * (size_t)r / 3 * 16 : n;
    for (int r = 0; r < 3; r++)
        count[r] = begin[r + 1] - begin[r];
    CHECK(begin[1] > 0 && begin[2] < 700 * 300); /* both cuts inside emb.weight */
    for (int clip = 0; clip <= 1; clip++) {
        double max_norm = clip ? 1.0 : 0.0;
        float *ref = malloc(sizeof(float) * n), *shd = malloc(sizeof(float) * n);
        float *g = malloc(sizeof(float) * n), *g2 = malloc(sizeof(float) * n);
        uint32_t seed = 99;
        for (size_t i = 0; i < n; i++)
            ref[i] = shd[i] = rng_float(&seed);
        stc_adamw full, part[3];
        CHECK(stc_adamw_init(&full, &pg, 0.9, 0.999, 1e-8) == 0);
        for (int r = 0; r < 3; r++) {
            size_t b = begin[r], c = count[r];
            CHECK(stc_adamw_init_shard(&part[r], &pg, 0.9, 0.999, 1e-8, &b, &c) == 0);
        }
        double worst = 0.0;
        for (int step = 0; step < 3; step++) {
            for (size_t i = 0; i < n; i++) {
                g[i] = rng_float(&seed);
                g2[i] = 2.0f * g[i];
            }
            double norm, sq[3], total = 0.0;
            CHECK(stc_clip_grad_norm(&t, g, has_grad, max_norm, &norm) == 0);
            stc_adamw_slab sl = {ref, g, has_grad};
            CHECK(stc_adamw_step(&full, &sl, 1.0) == 0);
            for (int r = 0; r < 3; r++) {
                CHECK(stc_grad_sum_squares_shard(&t, g2 + begin[r], has_grad, begin[r], count[r], 0.5f, &sq[r]) == 0);
                total += sq[r];
            }
            CHECK_MSG(fabs(sqrt(total) - norm) <= 1e-12 * norm, "norm %.17g vs %.17g", sqrt(total), norm);
            float coef = stc_clip_coef(sqrt(total), max_norm);
            for (int r = 0; r < 3; r++) {
                stc_adamw_slab ps = {shd, g2 + begin[r], has_grad};
                CHECK(stc_adamw_step_scaled(&part[r], &ps, 1.0, 0.5f, coef) == 0);
            }
        }
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)ref[i] - shd[i]);
            worst = d > worst ? d : worst;
        }
        if (clip)
            CHECK_MSG(worst <= 1e-6, "clipped: sharded vs whole max abs %.3g", worst);
        else
            CHECK_MSG(memcmp(ref, shd, sizeof(float) * n) == 0, "unclipped: sharded differs (max abs %.3g)", worst);
        CHECK(part[0].shard_count[0] == count[0] && part[2].step[0] == 3 && part[2].step[2] == 0);
        /* a shard's state saves and loads its own moments only */
        size_t nb = stc_adamw_state_bytes(&part[1]);
        CHECK(nb < stc_adamw_state_bytes(&full));
        void *buf = malloc(nb);
        CHECK(buf && stc_adamw_state_save(&part[1], buf, nb) == 0);
        CHECK(stc_adamw_state_load(&part[1], buf, nb, "shard") == 0);
        CHECK(stc_adamw_state_load(&part[0], buf, nb, "shard") == STC_ERR_DATA || count[0] == count[1]);
        free(buf);
        stc_adamw_free(&full);
        for (int r = 0; r < 3; r++)
            stc_adamw_free(&part[r]);
        free(ref);
        free(shd);
        free(g);
        free(g2);
    }
    size_t bad_b = n - 10, bad_c = 11;
    stc_adamw bad;
    CHECK(stc_adamw_init_shard(&bad, &pg, 0.9, 0.999, 1e-8, &bad_b, &bad_c) == STC_ERR_INTERNAL);
    stc_param_groups_free(&pg);
    stc_params_free(&t);
}

int main(void)
{
    test_st_groups();
    test_groups_units();
    test_schedules();
    test_adamw();
    test_threads_and_clip();
    test_sharded();
    return check_report("test_optim");
}
