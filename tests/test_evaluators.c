/*
 * Evaluators against sentence-transformers (tools/make_eval_fixtures.py):
 * for every case of fixtures/eval/expected.json, the same metric keys in
 * the same order, each value within 1e-6, the same primary metric, and the
 * same CSV files after the same two calls (header and epoch/steps fields
 * byte for byte, values within 1e-6, Python's line ends). Then the config
 * errors (each names the key, file or file:line), metric-list semantics and
 * Python's number printing.
 */
#include "check.h"
#include "model/st_model.h"
#include "trainer/evaluator.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/pyfloat.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOL 1e-6

static char tmp_root[256];

/* Largest |stc - Python| per evaluator class, for the summary line. */
static const char *const types[] = {"InformationRetrievalEvaluator", "EmbeddingSimilarityEvaluator",
                                    "TripletEvaluator", "BinaryClassificationEvaluator",
                                    "RerankingEvaluator", "MSEEvaluator", "ParaphraseMiningEvaluator",
                                    "TranslationEvaluator", "SequentialEvaluator"};
enum { N_TYPES = (int)(sizeof types / sizeof types[0]), SEQUENTIAL = N_TYPES - 1 };
static double worst[N_TYPES];

static int type_index(const cJSON *spec)
{
    if (cJSON_IsArray(spec))
        return SEQUENTIAL;
    const char *t = cJSON_GetObjectItemCaseSensitive(spec, "type")->valuestring;
    for (int i = 0; i < SEQUENTIAL; i++)
        if (!strcmp(t, types[i]))
            return i;
    return SEQUENTIAL;
}

/* Compares one CSV file: lines, fields, line ends. */
static void compare_csv(const char *case_name, const char *file, const char *want, const char *got, int ti)
{
    const char *w = want, *g = got;
    int line = 1;
    while (*w || *g) {
        size_t wl = strcspn(w, "\n"), gl = strcspn(g, "\n");
        char wline[4096], gline[4096];
        snprintf(wline, sizeof wline, "%.*s", (int)wl, w);
        snprintf(gline, sizeof gline, "%.*s", (int)gl, g);
        if (line == 1) {
            CHECK_MSG(!strcmp(wline, gline), "%s: %s: header\n  python: %s\n  stc:    %s", case_name, file, wline,
                      gline);
        } else {
            /* Fields: epoch and steps exactly, values within TOL. */
            char *ws = NULL, *gs = NULL;
            char *wf = strtok_r(wline, ",", &ws), *gf = strtok_r(gline, ",", &gs);
            for (int f = 0; wf || gf; f++) {
                if (!wf || !gf) {
                    CHECK_MSG(0, "%s: %s line %d: field counts differ", case_name, file, line);
                    break;
                }
                if (f < 2) {
                    CHECK_MSG(!strcmp(wf, gf), "%s: %s line %d: field %d: %s vs %s", case_name, file, line, f, wf,
                              gf);
                } else {
                    double d = fabs(strtod(wf, NULL) - strtod(gf, NULL));
                    worst[ti] = d > worst[ti] ? d : worst[ti];
                    CHECK_MSG(d <= TOL, "%s: %s line %d: field %d: python %s, stc %s", case_name, file, line, f, wf,
                              gf);
                    /* The int 0 Python leaves in place prints as "0", a float as "0.0". */
                    CHECK_MSG((strchr(wf, '.') || strchr(wf, 'e')) == (strchr(gf, '.') || strchr(gf, 'e')),
                              "%s: %s line %d: field %d printed as %s, Python %s", case_name, file, line, f, gf, wf);
                }
                wf = strtok_r(NULL, ",", &ws);
                gf = strtok_r(NULL, ",", &gs);
            }
        }
        CHECK_MSG((w[wl] == '\n') == (g[gl] == '\n'), "%s: %s: line %d: line end", case_name, file, line);
        w += wl + (w[wl] == '\n');
        g += gl + (g[gl] == '\n');
        line++;
    }
}

static void run_case(const cJSON *c, const stc_comm *comm, const cJSON *calls)
{
    const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(c, "spec");
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "metrics");
    int ti = type_index(spec);
    const char *model_dir = cJSON_GetObjectItemCaseSensitive(c, "model")->valuestring;
    stc_st_model model_storage, *model = &model_storage;
    if (stc_st_model_load(model, model_dir)) {
        CHECK_MSG(0, "%s: %s", name, stc_error_message());
        return;
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", tmp_root, name);
    stc_evaluator *ev = NULL;
    int rc = stc_evaluator_create(&ev, spec, "expected.json");
    CHECK_MSG(rc == 0, "%s: create: %s", name, stc_error_message());
    if (rc) {
        stc_st_model_free(model);
        return;
    }
    stc_metrics m;
    stc_metrics_init(&m);
    for (const cJSON *call = calls->child; call && !rc; call = call->next) {
        stc_metrics_free(&m);
        rc = stc_evaluator_run(ev, model, comm, dir, cJSON_GetArrayItem(call, 0)->valuedouble,
                               (int64_t)cJSON_GetArrayItem(call, 1)->valuedouble, &m);
        CHECK_MSG(rc == 0, "%s: run: %s", name, stc_error_message());
    }
    stc_evaluator_free(ev);
    stc_st_model_free(model);
    if (rc)
        return;

    /* The same keys in the same order, the same values. */
    CHECK_MSG(m.n == cJSON_GetArraySize(want), "%s: %d metrics, Python %d", name, m.n, cJSON_GetArraySize(want));
    int i = 0;
    for (const cJSON *w = want->child; w && i < m.n; w = w->next, i++) {
        CHECK_MSG(!strcmp(m.m[i].name, w->string), "%s: metric %d is %s, Python %s", name, i, m.m[i].name,
                  w->string);
        double d = fabs(m.m[i].value - w->valuedouble);
        worst[ti] = d > worst[ti] ? d : worst[ti];
        CHECK_MSG(d <= TOL, "%s: %s = %.17g, Python %.17g", name, w->string, m.m[i].value, w->valuedouble);
    }
    const char *primary = cJSON_GetObjectItemCaseSensitive(c, "primary")->valuestring;
    CHECK_MSG(!strcmp(m.primary, primary), "%s: primary %s, Python %s", name, m.primary, primary);
    stc_metrics_free(&m);

    /* The same CSV files, the same contents. */
    const cJSON *csvs = cJSON_GetObjectItemCaseSensitive(c, "csv");
    int n_files = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        n_files += e->d_name[0] != '.';
    if (d)
        closedir(d);
    CHECK_MSG(n_files == cJSON_GetArraySize(csvs), "%s: %d CSV files, Python %d", name, n_files,
              cJSON_GetArraySize(csvs));
    for (const cJSON *f = csvs->child; f; f = f->next) {
        char *path = stc_path_join(dir, f->string), *got = NULL;
        size_t len;
        int r = stc_read_file(path, &got, &len);
        CHECK_MSG(r == 0, "%s: %s missing: %s", name, f->string, stc_error_message());
        if (!r)
            compare_csv(name, f->string, f->valuestring, got, ti);
        free(got);
        free(path);
    }
}

static void test_parity(void)
{
    cJSON *exp = NULL;
    CHECK(stc_json_load("fixtures/eval/expected.json", &exp) == 0);
    if (!exp)
        return;
    stc_comm comm = {.rank = 0, .world = 1};
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(exp, "calls");
    for (const cJSON *c = cJSON_GetObjectItemCaseSensitive(exp, "cases")->child; c; c = c->next)
        run_case(c, &comm, calls);
    printf("max |stc - Python| (metrics and CSV values):");
    for (int i = 0; i < N_TYPES; i++)
        printf(" %s %.3g%s", types[i], worst[i], i < N_TYPES - 1 ? "," : "\n");
    cJSON_Delete(exp);
}

/* ---- errors ------------------------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Creating spec (JSON text) fails with code, and the message holds want. */
static void expect_fail(const char *json, int code, const char *want)
{
    cJSON *spec = cJSON_Parse(json);
    CHECK_MSG(spec != NULL, "bad test JSON: %s", json);
    stc_evaluator *ev = NULL;
    stc_error_clear();
    int rc = stc_evaluator_create(&ev, spec, "cfg.json");
    CHECK_MSG(rc == code, "%s: rc %d (want %d): %s", json, rc, code, stc_error_message());
    CHECK_MSG(strstr(stc_error_message(), want) != NULL, "message \"%s\" lacks \"%s\"", stc_error_message(), want);
    CHECK(ev == NULL);
    stc_evaluator_free(ev);
    cJSON_Delete(spec);
}

static void test_errors(void)
{
    char qrels[600], spec[2048];
    snprintf(qrels, sizeof qrels, "%s/qrels_bad.tsv", tmp_root);
    write_text(qrels, "query-id\tcorpus-id\tscore\nq0\td1\t1\nq1\td2\n");
#define IR_FILES "\"queries\": \"fixtures/eval/queries.jsonl\", \"corpus\": \"fixtures/eval/corpus.jsonl\""
    expect_fail("{\"type\": \"NanoBEIREvaluator\"}", STC_ERR_USAGE, "unknown evaluator type \"NanoBEIREvaluator\"");
    expect_fail("[{\"type\": \"TripletEvaluator\", \"anchors\": [\"a\"], \"positives\": [\"b\"], \"negatives\": "
                "[\"c\"]}, {\"type\": \"Nope\"}]",
                STC_ERR_USAGE, "cfg.json: evaluator[1]: unknown evaluator type \"Nope\"");
    expect_fail("{\"type\": \"InformationRetrievalEvaluator\", " IR_FILES ", \"relevant_docs\": "
                "\"fixtures/eval/qrels.tsv\", \"ndcg_at\": [10]}",
                STC_ERR_USAGE, "unknown key \"ndcg_at\"");
    expect_fail("{\"type\": \"InformationRetrievalEvaluator\", " IR_FILES ", \"relevant_docs\": "
                "\"fixtures/eval/missing-qrels.tsv\"}",
                STC_ERR_USAGE, "\"relevant_docs\": fixtures/eval/missing-qrels.tsv: no such file");
    snprintf(spec, sizeof spec, "{\"type\": \"InformationRetrievalEvaluator\", " IR_FILES ", \"relevant_docs\": \"%s\"}",
             qrels);
    char want[700];
    snprintf(want, sizeof want, "%s:3:", qrels);
    expect_fail(spec, STC_ERR_DATA, want);
    expect_fail("{\"type\": \"InformationRetrievalEvaluator\", \"queries\": \"fixtures/eval/queries.jsonl\"}",
                STC_ERR_USAGE, "\"corpus\" (a path) is required");
    expect_fail("{\"type\": \"InformationRetrievalEvaluator\", " IR_FILES ", \"relevant_docs\": "
                "\"fixtures/eval/similarity.csv\"}",
                STC_ERR_DATA, "a qrels file has the header");
    expect_fail("{\"type\": \"InformationRetrievalEvaluator\", " IR_FILES ", \"relevant_docs\": "
                "\"fixtures/eval/qrels.tsv\", \"mrr_at_k\": [10, 0]}",
                STC_ERR_USAGE, "\"mrr_at_k\"[1] must be a positive integer");
    expect_fail("{\"type\": \"InformationRetrievalEvaluator\", " IR_FILES ", \"relevant_docs\": "
                "\"fixtures/eval/qrels.tsv\", \"score_functions\": [\"cosine\", \"jaccard\"]}",
                STC_ERR_USAGE, "unknown similarity function \"jaccard\"");
    expect_fail("[]", STC_ERR_USAGE, "empty list");
    expect_fail("{\"type\": \"EmbeddingSimilarityEvaluator\", \"dataset\": \"fixtures/eval/triplets.jsonl\"}",
                STC_ERR_DATA, "fixtures/eval/triplets.jsonl has text columns");
    expect_fail("{\"type\": \"EmbeddingSimilarityEvaluator\", \"dataset\": \"fixtures/eval/similarity.csv\", "
                "\"sentences1\": [\"a\"]}",
                STC_ERR_USAGE, "not both");
    expect_fail("{\"type\": \"EmbeddingSimilarityEvaluator\", \"sentences1\": [\"a\", \"b\"], \"sentences2\": "
                "[\"c\"], \"scores\": [1, 2]}",
                STC_ERR_USAGE, "\"sentences2\" has 1 entries");
    expect_fail("{\"type\": \"BinaryClassificationEvaluator\", \"sentences1\": [\"a\", \"b\"], \"sentences2\": "
                "[\"c\", \"d\"], \"labels\": [1, 2]}",
                STC_ERR_DATA, "label of row 2 is 2");
    expect_fail("{\"type\": \"TripletEvaluator\", \"anchors\": [\"a\"], \"positives\": [\"b\"]}", STC_ERR_USAGE,
                "\"negatives\" is missing");
    expect_fail("{\"type\": \"TripletEvaluator\", \"dataset\": \"fixtures/eval/triplets.jsonl\", \"batch_size\": 0}",
                STC_ERR_USAGE, "\"batch_size\" must be a positive integer");
    expect_fail("{\"type\": \"EmbeddingSimilarityEvaluator\", \"dataset\": \"fixtures/eval/similarity.csv\", "
                "\"precision\": \"int8\"}",
                STC_ERR_USAGE, "\"precision\"");

    /* The later evaluators. */
    char rr[600];
    snprintf(rr, sizeof rr, "%s/rr_bad.jsonl", tmp_root);
    write_text(rr, "{\"query\": \"q\", \"positive\": [\"a\"], \"negative\": [\"b\"]}\n\n{\"query\": \"q\", "
                   "\"positive\": [\"a\", 3], \"negative\": \"b\"}\n");
    snprintf(spec, sizeof spec, "{\"type\": \"RerankingEvaluator\", \"dataset\": \"%s\"}", rr);
    snprintf(want, sizeof want, "%s:3: \"positive\"[1] must be a text", rr);
    expect_fail(spec, STC_ERR_DATA, want);
    write_text(rr, "{\"query\": \"q\", \"positive\": [\"a\"], \"negative\": [\"b\"]}\n{\"query\": \"q\"\n");
    snprintf(want, sizeof want, "%s:2: not a JSON object", rr);
    expect_fail(spec, STC_ERR_DATA, want);
    expect_fail("{\"type\": \"RerankingEvaluator\", \"samples\": [{\"query\": \"q\", \"negative\": [\"b\"]}]}",
                STC_ERR_DATA, "\"samples\"[0]: \"positive\" is missing");
    expect_fail("{\"type\": \"RerankingEvaluator\", \"samples\": [{\"query\": \"q\", \"positive\": [\"a\"], "
                "\"negative\": []}]}",
                STC_ERR_DATA, "no sample has both a positive and a negative");
    expect_fail("{\"type\": \"RerankingEvaluator\", \"dataset\": \"fixtures/eval/reranking.jsonl\", \"at_k\": 0}",
                STC_ERR_USAGE, "\"at_k\" must be a positive integer");
    expect_fail("{\"type\": \"RerankingEvaluator\", \"dataset\": \"fixtures/eval/reranking.jsonl\", "
                "\"similarity_fct\": \"jaccard\"}",
                STC_ERR_USAGE, "\"similarity_fct\": unknown similarity function");
    expect_fail("{\"type\": \"MSEEvaluator\", \"dataset\": \"fixtures/eval/translation.tsv\"}", STC_ERR_USAGE,
                "give one of \"teacher_model\"");
    expect_fail("{\"type\": \"MSEEvaluator\", \"dataset\": \"fixtures/eval/translation.tsv\", \"teacher_embeddings\": "
                "\"fixtures/eval/teacher.bin\"}",
                STC_ERR_USAGE, "\"teacher_embeddings\": fixtures/eval/teacher.bin: no such file");
    expect_fail("{\"type\": \"MSEEvaluator\", \"dataset\": \"fixtures/eval/binary.tsv\", \"teacher_embeddings\": "
                "\"fixtures/eval/teacher.npy\"}",
                STC_ERR_DATA, "fixtures/eval/binary.tsv has text columns");
    expect_fail("{\"type\": \"MSEEvaluator\", \"source_sentences\": [\"a\"], \"target_sentences\": [\"b\"], "
                "\"teacher_embeddings\": \"fixtures/eval/teacher.npy\"}",
                STC_ERR_DATA, "holds 30 x 16 embeddings; there are 1 source sentences");
    expect_fail("{\"type\": \"MSEEvaluator\", \"source_sentences\": [\"a\"], \"target_sentences\": [\"b\"], "
                "\"teacher_embeddings\": \"fixtures/eval/reranking.jsonl\"}",
                STC_ERR_USAGE, "give an .h5/.hdf5 file");
    snprintf(rr, sizeof rr, "%s/bad.npy", tmp_root);
    write_text(rr, "\x93NUMPY\x01");
    snprintf(spec, sizeof spec, "{\"type\": \"MSEEvaluator\", \"source_sentences\": [\"a\"], \"target_sentences\": "
             "[\"b\"], \"teacher_embeddings\": \"%s\"}", rr);
    expect_fail(spec, STC_ERR_DATA, "not a .npy file");
    expect_fail("{\"type\": \"MSEEvaluator\", \"source_sentences\": [\"a\"], \"target_sentences\": [\"b\"], "
                "\"teacher_model\": \"fixtures/encode/no-such-model\"}",
                STC_ERR_USAGE, "\"teacher_model\": fixtures/encode/no-such-model: no such directory");
    expect_fail("{\"type\": \"ParaphraseMiningEvaluator\", \"duplicates_list\": []}", STC_ERR_USAGE,
                "\"sentences_map\" ({id: text}");
    expect_fail("{\"type\": \"ParaphraseMiningEvaluator\", \"sentences_map\": {\"a\": \"x\", \"b\": 1}}",
                STC_ERR_USAGE, "\"sentences_map\".\"b\" must be a text");
    expect_fail("{\"type\": \"ParaphraseMiningEvaluator\", \"sentences_map\": {\"a\": \"x\", \"a\": \"y\"}}",
                STC_ERR_DATA, "id \"a\" appears twice");
    expect_fail("{\"type\": \"ParaphraseMiningEvaluator\", \"sentences_map\": {\"a\": \"x\"}, \"duplicates_list\": "
                "[[\"a\"]]}",
                STC_ERR_USAGE, "\"duplicates_list\"[0] must be a pair of ids");
    expect_fail("{\"type\": \"ParaphraseMiningEvaluator\", \"sentences_map\": {\"a\": \"x\"}, \"duplicates_dict\": "
                "{\"a\": {\"b\": 1}}}",
                STC_ERR_USAGE, "\"duplicates_dict\".\"a\".\"b\" must be true or false");
    expect_fail("{\"type\": \"ParaphraseMiningEvaluator\", \"sentences_map\": {\"a\": \"x\"}, \"duplicates_list\": "
                "\"fixtures/eval/binary.tsv\"}",
                STC_ERR_DATA, "must have two columns of ids");
    expect_fail("{\"type\": \"ParaphraseMiningEvaluator\", \"sentences_map\": \"fixtures/eval/binary.tsv\"}",
                STC_ERR_DATA, "has no \"_id\" field");
    expect_fail("{\"type\": \"ParaphraseMiningEvaluator\", \"sentences_map\": {\"a\": \"x\"}, \"top_k\": -1}",
                STC_ERR_USAGE, "\"top_k\" must be a positive integer");
    expect_fail("{\"type\": \"TranslationEvaluator\", \"source_sentences\": [\"a\", \"b\"], \"target_sentences\": "
                "[\"c\"]}",
                STC_ERR_USAGE, "\"target_sentences\" has 1 entries");
    expect_fail("{\"type\": \"TranslationEvaluator\", \"dataset\": \"fixtures/eval/translation.tsv\", "
                "\"print_wrong_matches\": true}",
                STC_ERR_USAGE, "\"print_wrong_matches\"");
}

/* ---- metric lists and numbers ----------------------------------------------------------- */

static void test_metrics_and_numbers(void)
{
    stc_metrics m;
    stc_metrics_init(&m);
    CHECK(stc_metrics_add(&m, "a", 1.0) == 0);
    CHECK(stc_metrics_add(&m, "b", 0.5) == 0);
    CHECK(stc_metrics_add(&m, "a", 0.25) == 0); /* a dict: keeps its place, takes the new value */
    CHECK(m.n == 2 && !strcmp(m.m[0].name, "a") && m.m[0].value == 0.25);
    CHECK(stc_metrics_get(&m, "b") && *stc_metrics_get(&m, "b") == 0.5);
    CHECK(stc_metrics_get(&m, "c") == NULL);
    char *j = stc_metrics_to_json(&m);
    CHECK_MSG(j && !strcmp(j, "{\n  \"a\": 0.25,\n  \"b\": 0.5\n}"), "%s", j ? j : "(null)");
    free(j);
    stc_metrics_free(&m);

    static const struct {
        double v;
        const char *want;
    } f64[] = {{0.1, "0.1"}, {1.0, "1.0"}, {0.0, "0.0"}, {-0.0, "-0.0"}, {1e-5, "1e-05"}, {0.0001, "0.0001"},
               {1e16, "1e+16"}, {1234567890123456.0, "1234567890123456.0"}, {2.0 / 3.0, "0.6666666666666666"},
               {0.13999999999999999, "0.13999999999999999"}, {1.5e-7, "1.5e-07"}, {123.456, "123.456"},
               {1e22, "1e+22"}, {NAN, "nan"}, {-INFINITY, "-inf"}};
    char buf[STC_PYFLOAT_MAX];
    for (size_t i = 0; i < sizeof f64 / sizeof f64[0]; i++)
        CHECK_MSG(!strcmp(stc_pyfloat_repr(f64[i].v, buf), f64[i].want), "repr %.17g: %s, want %s", f64[i].v, buf,
                  f64[i].want);
    CHECK(!strcmp(stc_pyfloat_repr_f32(0.1f, buf), "0.1"));
    CHECK(!strcmp(stc_pyfloat_repr_f32(0.9929694f, buf), "0.9929694"));
    CHECK(!strcmp(stc_pyfloat_repr_f32(2.0f / 3.0f, buf), "0.6666667"));
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/stc_test_evaluators_%d", (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", tmp_root);
    if (system(cmd) != 0)
        return 1;
    test_metrics_and_numbers();
    test_errors();
    test_parity();
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_root);
    return check_report("test_evaluators");
}
