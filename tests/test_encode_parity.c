/*
 * Embedding parity with Sentence Transformers: every case of
 * fixtures/encode/cases.jsonl (written by tools/make_encode_fixtures.py from
 * the Python library) is encoded by stc and compared with Python's output.
 *
 * usage: test_encode_parity CASES MODEL
 *   MODEL "tiny": the committed tiny models (fixtures/encode/tiny-bert*);
 *   MODEL "all-MiniLM-L6-v2": the real model, fetched by scripts/fetch-model
 *   into the cache; if it cannot be fetched the test prints SKIPPED with the
 *   reason and exits 77 (ctest's skip code).
 */
#include "kernels/ops.h"
#include "model/encode.h"
#include "model/quantize.h"
#include "model/st_model.h"
#include "tests/check.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Float tolerance: the bound for normalised embeddings; relative to
 * the value's size for unnormalised ones. */
static const double TOL = 1e-5;

static char *fetch_minilm(char *reason, size_t rlen)
{
    const char *src = getenv("STC_SOURCE_DIR");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/scripts/fetch-model 2>/tmp/stc-fetch-model.err", src ? src : "..");
    FILE *p = popen(cmd, "r");
    char line[4096] = "";
    if (!p || !fgets(line, sizeof line, p)) {
        if (p)
            pclose(p);
        FILE *e = fopen("/tmp/stc-fetch-model.err", "r");
        size_t n = e ? fread(reason, 1, rlen - 1, e) : 0;
        reason[n] = '\0';
        if (e)
            fclose(e);
        return NULL;
    }
    int st = pclose(p);
    if (st != 0) {
        snprintf(reason, rlen, "scripts/fetch-model exited with status %d", st);
        return NULL;
    }
    line[strcspn(line, "\n")] = '\0';
    return strdup(line);
}

static int override_pooling(stc_st_model *m, const cJSON *pool)
{
    if (!pool || cJSON_IsNull(pool))
        return 0;
    stc_pooling *p = &m->modules[m->pooling_module].pooling;
    static const struct { const char *key; size_t off; } keys[] = {
        {"pooling_mode_cls_token", offsetof(stc_pooling, cls)},
        {"pooling_mode_mean_tokens", offsetof(stc_pooling, mean)},
        {"pooling_mode_max_tokens", offsetof(stc_pooling, max)},
        {"pooling_mode_mean_sqrt_len_tokens", offsetof(stc_pooling, mean_sqrt_len)},
        {"pooling_mode_weightedmean_tokens", offsetof(stc_pooling, weightedmean)},
        {"pooling_mode_lasttoken", offsetof(stc_pooling, lasttoken)},
        {"include_prompt", offsetof(stc_pooling, include_prompt)},
    };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(pool, keys[k].key);
        if (cJSON_IsBool(v))
            *(int *)((char *)p + keys[k].off) = cJSON_IsTrue(v);
    }
    if (m->pooling_module != m->n_modules - 1 && m->modules[m->pooling_module + 1].kind == STC_MODULE_DENSE) {
        fprintf(stderr, "case overrides pooling of a model with Dense after it: unsupported in this test\n");
        return -1;
    }
    m->dim = stc_pooling_dim(p);
    return 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jint(const cJSON *o, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

/* Runs one case; returns the number of failed checks it added. */
static void run_case(const cJSON *c, const char *model_dir)
{
    const char *name = jstr(c, "name");
    int before = check_failures;
    stc_st_model m;
    int rc = stc_st_model_load(&m, model_dir);
    CHECK_MSG(rc == 0, "%s: load %s: %s", name, model_dir, stc_error_message());
    if (rc)
        return;
    if (override_pooling(&m, cJSON_GetObjectItemCaseSensitive(c, "pooling"))) {
        CHECK_MSG(0, "%s: pooling override", name);
        stc_st_model_free(&m);
        return;
    }
    const char *prompt = jstr(c, "prompt");
    const char *pname = jstr(c, "prompt_name");
    if (!prompt && pname)
        prompt = stc_st_model_prompt(&m, pname);
    if (!prompt && !pname && m.default_prompt_name)
        prompt = stc_st_model_prompt(&m, m.default_prompt_name);
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(c, "normalize");
    stc_encode_opts o = {
        .batch_size = jint(c, "batch_size", 32),
        .max_seq_length = jint(c, "max_seq_length", 0),
        .normalize = cJSON_IsTrue(norm),
        .truncate_dim = jint(c, "truncate_dim", 0),
        .prompt = prompt,
    };
    stc_precision prec = STC_PREC_FLOAT32;
    const char *ps = jstr(c, "precision");
    if (ps)
        CHECK(stc_precision_parse(ps, &prec) == 0);

    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(c, "texts");
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "embeddings");
    size_t n = (size_t)cJSON_GetArraySize(texts);
    const char **tx = calloc(n, sizeof *tx);
    size_t *tl = calloc(n, sizeof *tl);
    for (size_t i = 0; i < n; i++) {
        tx[i] = cJSON_GetArrayItem(texts, (int)i)->valuestring;
        tl[i] = strlen(tx[i]);
    }
    stc_encoder *enc;
    rc = stc_encoder_init(&enc, &m, stc_ops_cpu(), &o);
    CHECK_MSG(rc == 0, "%s: %s", name, stc_error_message());
    if (!rc) {
        int dim = stc_encoder_dim(enc), cols = 0;
        float *emb = calloc(n * (size_t)dim, sizeof *emb);
        rc = stc_encoder_run(enc, tx, tl, n, emb, NULL, NULL, NULL, NULL);
        CHECK_MSG(rc == 0, "%s: %s", name, stc_error_message());
        CHECK(stc_precision_columns(prec, dim, &cols) == 0);
        CHECK_MSG(cJSON_GetArraySize(want) == (int)n, "%s: %d reference rows for %zu texts", name,
                  cJSON_GetArraySize(want), n);
        int wcols = cJSON_GetArraySize(cJSON_GetArrayItem(want, 0));
        CHECK_MSG(wcols == cols, "%s: dimension %d, reference %d", name, cols, wcols);
        if (!rc && wcols == cols && cJSON_GetArraySize(want) == (int)n) {
            void *q = calloc(n * (size_t)cols, stc_precision_elem_size(prec));
            stc_quant_ranges r = {0};
            if (prec == STC_PREC_INT8 || prec == STC_PREC_UINT8) {
                stc_quant_ranges_init(&r, dim);
                stc_quant_ranges_update(&r, emb, n);
            }
            stc_quantize(prec, &r, emb, n, dim, q);
            double worst = 0.0;
            long mismatched = 0;
            for (size_t i = 0; i < n; i++) {
                const cJSON *row = cJSON_GetArrayItem(want, (int)i);
                for (int k = 0; k < cols; k++) {
                    double w = cJSON_GetArrayItem(row, k)->valuedouble;
                    size_t at = i * (size_t)cols + (size_t)k;
                    if (prec == STC_PREC_FLOAT32) {
                        double d = fabs(emb[at] - w) / (o.normalize || fabs(w) < 1.0 ? 1.0 : fabs(w));
                        worst = d > worst ? d : worst;
                    } else {
                        double got = prec == STC_PREC_INT8 || prec == STC_PREC_BINARY ? ((int8_t *)q)[at]
                                                                                        : ((uint8_t *)q)[at];
                        /* A float within 1e-5 of a bucket edge may fall
                         * either side: allow one step, rarely. */
                        if (got != w) {
                            mismatched++;
                            if (prec == STC_PREC_INT8 || prec == STC_PREC_UINT8)
                                CHECK_MSG(fabs(got - w) <= 1.0, "%s: row %zu col %d: %g vs %g", name, i, k, got, w);
                        }
                    }
                }
            }
            if (prec == STC_PREC_FLOAT32)
                CHECK_MSG(worst <= TOL, "%s: max abs difference %.3g > %.1g", name, worst, TOL);
            else
                CHECK_MSG(mismatched * 100 <= (long)(n * (size_t)cols), "%s: %ld of %zu quantised values differ", name,
                          mismatched, n * (size_t)cols);
            printf("  %-40s %zu texts, dim %d, %s: %s %.3g\n", name, n, cols, ps ? ps : "float32",
                   prec == STC_PREC_FLOAT32 ? "max diff" : "mismatches",
                   prec == STC_PREC_FLOAT32 ? worst : (double)mismatched);
            stc_quant_ranges_free(&r);
            free(q);
        }
        free(emb);
        stc_encoder_free(enc);
    }
    free(tx);
    free(tl);
    stc_st_model_free(&m);
    if (check_failures != before)
        fprintf(stderr, "case %s failed\n", name);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_encode_parity CASES MODEL\n");
        return 2;
    }
    const char *which = argv[2];
    char *real_dir = NULL;
    if (strcmp(which, "tiny") != 0) {
        char reason[2048];
        real_dir = fetch_minilm(reason, sizeof reason);
        if (!real_dir) {
            printf("SKIPPED: %s could not be fetched: %s\n", which, reason);
            return 77;
        }
    }
    char *data;
    size_t len;
    if (stc_read_file(argv[1], &data, &len)) {
        fprintf(stderr, "%s\n", stc_error_message());
        return 1;
    }
    int cases = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *c = cJSON_Parse(line);
        if (!c) {
            CHECK_MSG(0, "bad JSON line in %s", argv[1]);
            continue;
        }
        const char *model = jstr(c, "model");
        if (model) {
            int real = !strcmp(model, "all-MiniLM-L6-v2");
            if (real == (real_dir != NULL) && (!real || !strcmp(model, which))) {
                char *dir = real ? strdup(real_dir) : stc_path_join("fixtures/encode", model);
                run_case(c, dir);
                free(dir);
                cases++;
            }
        }
        cJSON_Delete(c);
    }
    free(data);
    free(real_dir);
    CHECK_MSG(cases > 0, "no cases for %s in %s", which, argv[1]);
    return check_report("test_encode_parity");
}
