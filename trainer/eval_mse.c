/*
 * MSEEvaluator (sentence_transformer/evaluation/mse.py): the mean squared
 * error, times 100, between the teacher's embeddings of source_sentences
 * and the evaluated (student) model's embeddings of target_sentences.
 *
 * Key negative_mse (= -MSE x 100, so that higher is better; primary). The
 * teacher embeddings are computed once, as Python does at construction:
 * "teacher_model": a model directory encoded by stc (model.encode with the
 * evaluator's batch_size and truncate_dim), or given as a file,
 * "teacher_embeddings": an HDF5 file with the dataset "embeddings" (what
 * `stc encode` writes) or a NumPy .npy array, [len(source_sentences), D]
 * (with truncate_dim, its first truncate_dim columns, as the teacher's
 * encode would truncate).
 *
 * Numbers as numpy computes them: float32 differences and squares, their
 * float32 sum with numpy's pairwise summation, / (rows x D) and x 100 in
 * float32. Every rank holds every embedding (eval_embed.c) and sums in the
 * same order: the same bits on any number of ranks.
 */
#include "data/h5_embeddings.h"
#include "data/npy.h"
#include "trainer/eval_internal.h"
#include "util/error.h"
#include "util/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    stc_eval_rows rows;       /* col[0] source_sentences, col[1] target_sentences */
    stc_st_model teacher;     /* with teacher_model */
    int has_teacher;
    float *source_emb;        /* [rows.n, source_dim]: read from the file, or encoded at the first call */
    int source_dim;
} mse_eval;

static const char *const text_keys[] = {"source_sentences", "target_sentences"};
static const char *const keys[] = {"dataset", "source_sentences", "target_sentences", "teacher_model",
                                   "teacher_embeddings", NULL};

static void destroy(void *impl)
{
    mse_eval *e = impl;
    stc_eval_rows_free(&e->rows);
    if (e->has_teacher)
        stc_st_model_free(&e->teacher);
    free(e->source_emb);
    free(e);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && !strcasecmp(s + ls - lx, suffix);
}

static int read_embeddings(mse_eval *e, const char *path, const char *where)
{
    if (!stc_is_file(path))
        return stc_errorf(STC_ERR_USAGE, "%s: \"teacher_embeddings\": %s: no such file", where, path);
    size_t rows = 0, cols = 0;
    int rc;
    if (ends_with(path, ".npy"))
        rc = stc_npy_read_f32(path, &e->source_emb, &rows, &cols);
    else if (ends_with(path, ".h5") || ends_with(path, ".hdf5"))
        rc = stc_h5_embeddings_read(path, &e->source_emb, &rows, &cols);
    else
        return stc_errorf(STC_ERR_USAGE, "%s: \"teacher_embeddings\": %s: give an .h5/.hdf5 file (dataset "
                          "\"embeddings\", as stc encode writes) or a .npy file", where, path);
    if (rc)
        return stc_error_prefix(rc, "%s: \"teacher_embeddings\"", where);
    if (rows != e->rows.n || cols == 0 || cols > 1 << 20)
        return stc_errorf(STC_ERR_DATA, "%s: \"teacher_embeddings\": %s holds %zu x %zu embeddings; there are %zu "
                          "source sentences", where, path, rows, cols, e->rows.n);
    e->source_dim = (int)cols;
    return 0;
}

static int create(void **impl, const cJSON *spec, const char *where)
{
    mse_eval *e = calloc(1, sizeof *e);
    if (!e)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(spec, "teacher_model");
    const cJSON *te = cJSON_GetObjectItemCaseSensitive(spec, "teacher_embeddings");
    tm = cJSON_IsNull(tm) ? NULL : tm;
    te = cJSON_IsNull(te) ? NULL : te;
    int rc = stc_eval_rows_load(&e->rows, spec, where, 2, text_keys, NULL);
    if (!rc && !!tm == !!te)
        rc = stc_errorf(STC_ERR_USAGE, "%s: give one of \"teacher_model\" (a model directory) and "
                        "\"teacher_embeddings\" (an .h5 or .npy file of the source sentences' embeddings)", where);
    else if (!rc && tm && !cJSON_IsString(tm))
        rc = stc_errorf(STC_ERR_USAGE, "%s: \"teacher_model\" must be a model directory (a string)", where);
    else if (!rc && te && !cJSON_IsString(te))
        rc = stc_errorf(STC_ERR_USAGE, "%s: \"teacher_embeddings\" must be a path (a string)", where);
    else if (!rc && tm) {
        if (!stc_is_dir(tm->valuestring))
            rc = stc_errorf(STC_ERR_USAGE, "%s: \"teacher_model\": %s: no such directory", where, tm->valuestring);
        else if ((rc = stc_st_model_load(&e->teacher, tm->valuestring)))
            rc = stc_error_prefix(rc, "%s: \"teacher_model\"", where);
        else
            e->has_teacher = 1;
    } else if (!rc)
        rc = read_embeddings(e, te->valuestring, where);
    if (rc) {
        destroy(e);
        return rc;
    }
    *impl = e;
    return 0;
}

/* numpy's pairwise summation of n float32 values (PW_BLOCKSIZE 128, eight
 * accumulators). */
static float pairwise_sum(const float *a, size_t n)
{
    if (n < 8) {
        float r = 0.0f;
        for (size_t i = 0; i < n; i++)
            r += a[i];
        return r;
    }
    if (n <= 128) {
        float r[8];
        memcpy(r, a, sizeof r);
        size_t i = 8;
        for (; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += a[i + j];
        float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* ((s - t) ** 2).mean() of float32 arrays: numpy's reduction runs the
 * pairwise sum over buffers of 8192 values and adds the buffers' sums. */
static float numpy_mse(const float *s, const float *t, size_t n)
{
    enum { BUFSIZE = 8192 };
    float sq[BUFSIZE], sum = 0.0f;
    for (size_t b = 0; b < n; b += BUFSIZE) {
        size_t k = n - b < BUFSIZE ? n - b : BUFSIZE;
        for (size_t i = 0; i < k; i++) {
            float d = s[b + i] - t[b + i];
            sq[i] = d * d;
        }
        sum += pairwise_sum(sq, k);
    }
    return sum / (float)n;
}

static int run(void *impl, const stc_eval_call *call, stc_metrics *out)
{
    mse_eval *e = impl;
    size_t n = e->rows.n;
    int rc = 0;
    if (e->has_teacher && !e->source_emb) {
        stc_eval_call tcall = *call;
        tcall.model = &e->teacher;
        stc_eval_encode_opts o = {.fn = STC_EVAL_ENCODE};
        if ((rc = stc_eval_embed(&tcall, &o, &e->rows.col[0], &e->source_emb, &e->source_dim)))
            return stc_error_prefix(rc, "teacher model %s", e->teacher.dir);
    }
    float *target = NULL;
    int D;
    stc_eval_encode_opts o = {.fn = STC_EVAL_ENCODE};
    if ((rc = stc_eval_embed(call, &o, &e->rows.col[1], &target, &D)))
        return rc;
    /* A file's embeddings truncated as the teacher's encode would be. */
    int Ds = call->truncate_dim && call->truncate_dim < e->source_dim ? call->truncate_dim : e->source_dim;
    float *src = Ds == D ? malloc(sizeof *src * n * (size_t)D) : NULL;
    if (Ds != D)
        rc = stc_errorf(STC_ERR_DATA, "the teacher embeddings have %d dimensions, the model's %d (numpy could not "
                        "subtract them; truncate_dim cuts both)", Ds, D);
    else if (!src)
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
    if (!rc) {
        for (size_t i = 0; i < n; i++)
            memcpy(src + i * (size_t)D, e->source_emb + i * (size_t)e->source_dim, sizeof *src * (size_t)D);
        float mse = numpy_mse(src, target, n * (size_t)D) * 100.0f;
        if (!(rc = stc_metrics_add(out, "negative_mse", -(double)mse))) {
            snprintf(out->primary, sizeof out->primary, "negative_mse");
            stc_eval_strs header = {0}, row = {0};
            rc = stc_eval_csv_begin(&header, &row, call) || stc_eval_strs_push(&header, "MSE") ||
                 stc_eval_strs_push_f64(&row, mse);
            /* Python's file name keeps the "_" with an empty name. */
            char file[STC_METRIC_NAME_MAX + 64];
            snprintf(file, sizeof file, "mse_evaluation_%s_results.csv", call->name);
            rc = rc ? STC_ERR_NOMEM : stc_eval_csv_append_file(call, file, &header, &row, 1);
            stc_eval_strs_free(&header);
            stc_eval_strs_free(&row);
        }
    }
    free(src);
    free(target);
    return rc;
}

const stc_eval_family stc_eval_mse_family = {
    .type = "MSEEvaluator",
    .keys = keys,
    .default_batch_size = 32,
    .create = create,
    .run = run,
    .free = destroy,
};
