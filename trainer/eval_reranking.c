/*
 * RerankingEvaluator (sentence_transformer/evaluation/reranking.py): each
 * sample is a query with positive and negative documents; the documents
 * are ranked by their similarity to the query and MAP, MRR@k and nDCG@k
 * are averaged over the samples.
 *
 * Keys map, mrr@{at_k}, ndcg@{at_k} (primary). Per sample as Python:
 * sklearn's average_precision_score and ndcg_score (equal scores share
 * their ranks' discounts, sklearn's tie averaging), and the reciprocal rank
 * of the first positive among the best at_k in torch.argsort(-scores) order
 * (equal scores: the earlier document first). Samples without positives or
 * without negatives are left out, as in Python. Queries are encoded as
 * queries (encode_query), documents as documents (encode_document); the
 * similarity is similarity_fct (a function name), else the model's.
 *
 * Data: "samples" inline (a list of {"query", "positive", "negative"}, or
 * an object whose values are such samples, as Python takes a dict), or
 * "dataset": a JSONL file of such records, one per line; "positive" and
 * "negative" are a list of texts or one text; other fields are ignored.
 *
 * Work: with use_batched_encoding (the default) all queries, then all
 * distinct documents, are encoded across ranks; without it each rank
 * encodes its own samples one at a time (the query alone, then the
 * sample's documents), as Python's individual mode does to bound memory.
 * Rank r scores its slice of the samples; the per-sample values are
 * all-gathered and averaged in sample order.
 */
#include "trainer/eval_internal.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    stc_eval_texts queries; /* (n) */
    stc_eval_texts docs;    /* sample s's positives, then its negatives: docs[doc_off[s] .. doc_off[s + 1]) */
    size_t *doc_off;        /* (n + 1) */
    size_t *n_pos;          /* (n) */
    size_t n, cap;
    int at_k;
    int sim_fn;             /* similarity_fct; -1: the model's */
    int batched;            /* use_batched_encoding */
} reranking_eval;

static const char *const keys[] = {"dataset", "samples", "at_k", "similarity_fct", "use_batched_encoding",
                                   "mrr_at_k", NULL};

static void destroy(void *impl)
{
    reranking_eval *e = impl;
    stc_eval_texts_free(&e->queries);
    stc_eval_texts_free(&e->docs);
    free(e->doc_off);
    free(e->n_pos);
    free(e);
}

/* ---- samples ------------------------------------------------------------------ */

/* The number of texts of "positive" / "negative" (a list of texts or one
 * text), or an error naming at and key. */
static int count_texts(const cJSON *v, const char *at, const char *key, size_t *n)
{
    *n = 0;
    if (cJSON_IsString(v)) {
        *n = 1;
        return 0;
    }
    if (!cJSON_IsArray(v))
        return stc_errorf(STC_ERR_DATA, "%s: \"%s\" must be a list of texts or a text", at, key);
    for (const cJSON *t = v->child; t; t = t->next, (*n)++)
        if (!cJSON_IsString(t))
            return stc_errorf(STC_ERR_DATA, "%s: \"%s\"[%zu] must be a text (a string)", at, key, *n);
    return 0;
}

static int push_texts(reranking_eval *e, const cJSON *v)
{
    if (cJSON_IsString(v))
        return stc_eval_texts_push(&e->docs, v->valuestring, strlen(v->valuestring));
    int rc = 0;
    for (const cJSON *t = v->child; t && !rc; t = t->next)
        rc = stc_eval_texts_push(&e->docs, t->valuestring, strlen(t->valuestring));
    return rc;
}

/* One sample; at names it in messages ("file:line", "samples[3]"). */
static int add_sample(reranking_eval *e, const cJSON *s, const char *at)
{
    if (!cJSON_IsObject(s))
        return stc_errorf(STC_ERR_DATA, "%s: a sample must be an object {\"query\", \"positive\", \"negative\"}", at);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(s, "query");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(s, "positive");
    const cJSON *ng = cJSON_GetObjectItemCaseSensitive(s, "negative");
    if (!cJSON_IsString(q))
        return stc_errorf(STC_ERR_DATA, "%s: \"query\" (a text) is %s", at, q ? "not a string" : "missing");
    if (!p || !ng)
        return stc_errorf(STC_ERR_DATA, "%s: \"%s\" is missing", at, p ? "negative" : "positive");
    if (e->n + 1 >= e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 64;
        size_t *off = realloc(e->doc_off, sizeof *off * (cap + 1));
        if (off)
            e->doc_off = off;
        size_t *np = off ? realloc(e->n_pos, sizeof *np * cap) : NULL;
        if (!np)
            return stc_errorf(STC_ERR_NOMEM, "out of memory (samples)");
        e->n_pos = np;
        e->cap = cap;
    }
    size_t before = e->docs.n, npos, nneg;
    int rc = count_texts(p, at, "positive", &npos);
    if (!rc)
        rc = count_texts(ng, at, "negative", &nneg);
    if (rc || npos == 0 || nneg == 0) /* Python drops a sample without positives or negatives */
        return rc;
    if ((rc = push_texts(e, p)) || (rc = push_texts(e, ng)) ||
        (rc = stc_eval_texts_push(&e->queries, q->valuestring, strlen(q->valuestring))))
        return rc;
    e->doc_off[e->n] = before;
    e->n_pos[e->n] = npos;
    e->n++;
    e->doc_off[e->n] = e->docs.n;
    return 0;
}

/* A JSONL file of samples, one per line (blank lines skipped). */
static int load_file(reranking_eval *e, const char *path, const char *where)
{
    if (!stc_is_file(path))
        return stc_errorf(STC_ERR_USAGE, "%s: \"dataset\": %s: no such file", where, path);
    char *data;
    size_t len;
    int rc = stc_read_file(path, &data, &len);
    if (rc)
        return stc_error_prefix(rc, "%s: \"dataset\"", where);
    char *p = data, at[1024];
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    for (size_t line = 1; *p && !rc; line++) {
        char *end = strchr(p, '\n');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        snprintf(at, sizeof at, "%s:%zu", path, line);
        if (strspn(p, " \t\r") < l) {
            cJSON *s = cJSON_ParseWithLength(p, l);
            rc = s ? add_sample(e, s, at) : stc_errorf(STC_ERR_DATA, "%s: not a JSON object", at);
            cJSON_Delete(s);
        }
        p += l + (end != NULL);
    }
    free(data);
    return rc;
}

static int load_inline(reranking_eval *e, const cJSON *samples, const char *where)
{
    if (!cJSON_IsArray(samples) && !cJSON_IsObject(samples))
        return stc_errorf(STC_ERR_USAGE, "%s: \"samples\" must be a list of {\"query\", \"positive\", \"negative\"} "
                          "(or an object of them)", where);
    char at[1024];
    int i = 0, rc = 0;
    for (const cJSON *s = samples->child; s && !rc; s = s->next, i++) {
        if (cJSON_IsObject(samples))
            snprintf(at, sizeof at, "%s: \"samples\".\"%s\"", where, s->string);
        else
            snprintf(at, sizeof at, "%s: \"samples\"[%d]", where, i);
        rc = add_sample(e, s, at);
    }
    return rc;
}

static int create(void **impl, const cJSON *spec, const char *where)
{
    reranking_eval *e = calloc(1, sizeof *e);
    if (!e)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    e->at_k = 10;
    e->sim_fn = -1;
    e->batched = 1;
    stc_eval_texts_init(&e->queries);
    stc_eval_texts_init(&e->docs);
    int mrr_at_k = 0, rc = 0;
    if ((rc = stc_eval_get_positive(spec, "at_k", where, &e->at_k)) ||
        (rc = stc_eval_get_positive(spec, "mrr_at_k", where, &mrr_at_k)) ||
        (rc = stc_sim_get(spec, "similarity_fct", where, &e->sim_fn)) ||
        (rc = stc_json_get_bool(spec, "use_batched_encoding", where, &e->batched) ? STC_ERR_USAGE : 0)) {
        destroy(e);
        return rc;
    }
    if (mrr_at_k) /* Python's deprecated name wins over at_k */
        e->at_k = mrr_at_k;
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(spec, "dataset");
    const cJSON *samples = cJSON_GetObjectItemCaseSensitive(spec, "samples");
    ds = cJSON_IsNull(ds) ? NULL : ds;
    samples = cJSON_IsNull(samples) ? NULL : samples;
    if (ds && samples)
        rc = stc_errorf(STC_ERR_USAGE, "%s: give either \"dataset\" or \"samples\", not both", where);
    else if (ds && !cJSON_IsString(ds))
        rc = stc_errorf(STC_ERR_USAGE, "%s: \"dataset\" must be a path (JSONL)", where);
    else if (ds)
        rc = load_file(e, ds->valuestring, where);
    else if (samples)
        rc = load_inline(e, samples, where);
    else
        rc = stc_errorf(STC_ERR_USAGE, "%s: no data: give \"dataset\" (a JSONL file of {\"query\", \"positive\", "
                        "\"negative\"}) or \"samples\"", where);
    if (!rc)
        rc = stc_eval_texts_finish(&e->queries);
    if (!rc)
        rc = stc_eval_texts_finish(&e->docs);
    if (!rc && e->n == 0)
        rc = stc_errorf(STC_ERR_DATA, "%s: no sample has both a positive and a negative document", where);
    if (rc) {
        destroy(e);
        return rc;
    }
    *impl = e;
    return 0;
}

/* ---- one sample's metrics ---------------------------------------------------------- */

typedef struct {
    float s;
    size_t i;
} scored;

/* Descending score, then ascending position: a stable argsort(-scores). */
static int cmp_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* sklearn's discount 1 / (log(i + 2) / log(2)). */
static double discount(size_t i) { return 1.0 / (log((double)i + 2.0) / log(2.0)); }

/* v = {AP, RR@k, nDCG@k} of one sample: nd documents (the first np
 * positive) with scores s; o is scratch (nd). */
static void sample_values(const float *s, const int *rel, size_t nd, size_t np, int k, scored *o, double *v)
{
    for (size_t i = 0; i < nd; i++)
        o[i] = (scored){s[i], i};
    qsort(o, nd, sizeof *o, cmp_scored);
    v[0] = stc_stat_average_precision(rel, s, nd);
    v[1] = 0.0;
    for (size_t r = 0; r < nd && r < (size_t)k; r++)
        if (rel[o[r].i]) {
            v[1] = 1.0 / (double)(r + 1);
            break;
        }
    /* _tie_averaged_dcg: each run of equal scores gets its mean gain times
     * the sum of the discounts of the ranks it spans (discounts past k
     * are 0); the ideal DCG puts the positives first. */
    double dcg = 0.0, idcg = 0.0, cum = 0.0, cum_prev = 0.0;
    for (size_t a = 0; a < nd;) {
        size_t b = a, gain = 0;
        for (; b < nd && o[b].s == o[a].s; b++) {
            gain += (size_t)rel[o[b].i];
            cum += b < (size_t)k ? discount(b) : 0.0;
        }
        dcg += (double)gain / (double)(b - a) * (cum - cum_prev);
        cum_prev = cum;
        a = b;
    }
    for (size_t i = 0; i < np && i < (size_t)k; i++)
        idcg += discount(i);
    v[2] = dcg / idcg;
}

/* ---- one call ------------------------------------------------------------------------ */

/* Sample s's query (q) and documents (d, [n docs, D]) are embedded; its
 * values into v. */
static int score_sample(const reranking_eval *e, stc_sim_fn fn, size_t s, const float *q, const float *d, int D,
                        double *v)
{
    size_t nd = e->doc_off[s + 1] - e->doc_off[s], np = e->n_pos[s];
    float *sc = malloc(sizeof *sc * nd);
    int *rel = malloc(sizeof *rel * nd);
    scored *o = malloc(sizeof *o * nd);
    int rc = sc && rel && o ? 0 : stc_errorf(STC_ERR_NOMEM, "out of memory");
    if (!rc) {
        for (size_t i = 0; i < nd; i++) {
            sc[i] = stc_sim_pair(fn, q, d + i * (size_t)D, D);
            rel[i] = i < np;
        }
        sample_values(sc, rel, nd, np, e->at_k, o, v);
    }
    free(sc);
    free(rel);
    free(o);
    return rc;
}

/* use_batched_encoding: every query and every distinct document encoded
 * once, across ranks; this rank scores samples [b, b + c). */
static int run_batched(const reranking_eval *e, const stc_eval_call *call, stc_sim_fn fn, size_t b, size_t c,
                       double *vals)
{
    stc_eval_encode_opts qo = {.fn = STC_EVAL_ENCODE_QUERY}, dopt = {.fn = STC_EVAL_ENCODE_DOCUMENT};
    float *q = NULL, *d = NULL;
    int D, Dd;
    int rc = stc_eval_embed(call, &qo, &e->queries, &q, &D);
    if (!rc)
        rc = stc_eval_embed_columns(call, &dopt, &e->docs, 1, &d, &Dd);
    if (!rc && D != Dd)
        rc = stc_errorf(STC_ERR_DATA, "query embeddings have %d dimensions, document embeddings %d", D, Dd);
    for (size_t s = b; s < b + c && !rc; s++)
        rc = score_sample(e, fn, s, q + s * (size_t)D, d + e->doc_off[s] * (size_t)D, D, vals + 3 * s);
    free(q);
    free(d);
    return rc;
}

/* Python's individual mode: each sample's query alone, then its documents,
 * encoded by this rank by itself. */
static int run_individual(const reranking_eval *e, const stc_eval_call *call, stc_sim_fn fn, size_t b, size_t c,
                          double *vals)
{
    stc_comm solo = *call->comm;
    solo.rank = 0;
    solo.world = 1;
    stc_eval_call scall = *call;
    scall.comm = &solo;
    stc_eval_encode_opts qo = {.fn = STC_EVAL_ENCODE_QUERY}, dopt = {.fn = STC_EVAL_ENCODE_DOCUMENT};
    int rc = 0;
    for (size_t s = b; s < b + c && !rc; s++) {
        size_t o = e->doc_off[s];
        stc_eval_texts qv = {.n = 1, .texts = e->queries.texts + s, .lens = e->queries.lens + s};
        stc_eval_texts dv = {.n = e->doc_off[s + 1] - o, .texts = e->docs.texts + o, .lens = e->docs.lens + o};
        float *q = NULL, *d = NULL;
        int D, Dd;
        rc = stc_eval_embed(&scall, &qo, &qv, &q, &D);
        if (!rc)
            rc = stc_eval_embed(&scall, &dopt, &dv, &d, &Dd);
        if (!rc && D != Dd)
            rc = stc_errorf(STC_ERR_DATA, "query embeddings have %d dimensions, document embeddings %d", D, Dd);
        if (!rc)
            rc = score_sample(e, fn, s, q, d, D, vals + 3 * s);
        free(q);
        free(d);
    }
    return rc;
}

static int run(void *impl, const stc_eval_call *call, stc_metrics *out)
{
    reranking_eval *e = impl;
    stc_sim_fn fn = (stc_sim_fn)e->sim_fn;
    int rc = e->sim_fn < 0 ? stc_sim_model_fn(call->model, &fn) : 0;
    if (rc)
        return rc;
    size_t n = e->n, b, c;
    stc_eval_rank_slice(call->comm, n, (size_t)call->batch_size, &b, &c);
    double *vals = malloc(sizeof *vals * 3 * n); /* (n, 3): AP, RR, nDCG */
    if (!vals)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    rc = e->batched ? run_batched(e, call, fn, b, c, vals) : run_individual(e, call, fn, b, c, vals);
    if (!rc)
        rc = stc_eval_allgather_rows_f64(call->comm, vals, n, (size_t)call->batch_size, 3);
    double mean[3] = {0, 0, 0};
    for (size_t s = 0; s < n && !rc; s++)
        for (int j = 0; j < 3; j++)
            mean[j] += vals[3 * s + j];
    free(vals);
    if (rc)
        return rc;
    for (int j = 0; j < 3; j++)
        mean[j] /= (double)n;

    char key[STC_METRIC_NAME_MAX];
    if ((rc = stc_metrics_add(out, "map", mean[0])))
        return rc;
    snprintf(key, sizeof key, "mrr@%d", e->at_k);
    if ((rc = stc_metrics_add(out, key, mean[1])))
        return rc;
    snprintf(key, sizeof key, "ndcg@%d", e->at_k);
    if ((rc = stc_metrics_add(out, key, mean[2])))
        return rc;
    snprintf(out->primary, sizeof out->primary, "%s", key);

    stc_eval_strs header = {0}, row = {0};
    rc = stc_eval_csv_begin(&header, &row, call) || stc_eval_strs_push(&header, "MAP") ||
         stc_eval_strs_push(&header, "MRR@%d", e->at_k) || stc_eval_strs_push(&header, "NDCG@%d", e->at_k);
    for (int j = 0; j < 3 && !rc; j++)
        rc = stc_eval_strs_push_f64(&row, mean[j]);
    char file[STC_METRIC_NAME_MAX + 64];
    snprintf(file, sizeof file, "RerankingEvaluator%s%s_results_@%d.csv", *call->name ? "_" : "", call->name,
             e->at_k);
    rc = rc ? STC_ERR_NOMEM : stc_eval_csv_append_file(call, file, &header, &row, 1);
    stc_eval_strs_free(&header);
    stc_eval_strs_free(&row);
    return rc;
}

const stc_eval_family stc_eval_reranking_family = {
    .type = "RerankingEvaluator",
    .keys = keys,
    .default_batch_size = 64,
    .create = create,
    .run = run,
    .free = destroy,
};
