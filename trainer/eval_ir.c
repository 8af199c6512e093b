/*
 * InformationRetrievalEvaluator (sentence_transformer/evaluation/
 * information_retrieval.py): every query is scored against the whole
 * corpus, its top max_k documents are kept, and accuracy@k, precision@k,
 * recall@k, nDCG@k, MRR@k and MAP@k are averaged over the queries.
 *
 * Ranking: by score, then by corpus id (ascending, as Python's str order),
 * the total order sentence-transformers 6.x ranks by ((-score, corpus_id)),
 * so exactly tied documents come out in the same order as in Python and
 * the result does not depend on corpus_chunk_size. Scores are float32, as
 * torch computes them; two documents whose float32 scores differ from
 * Python's in the last bit can swap places only when their scores are
 * within that rounding of each other.
 *
 * Work: queries are encoded as queries (encode_query), the corpus in chunks
 * of corpus_chunk_size as documents (encode_document), each chunk across
 * all ranks; rank r scores its contiguous slice of the queries against each
 * chunk (never a whole [queries x corpus] matrix) and keeps a bounded heap
 * of its best max_k per query. Per-query metric values are all-gathered and
 * averaged in query order, so every rank, on any number of ranks, returns
 * the same numbers.
 */
#include "trainer/eval_internal.h"
#include "util/error.h"
#include "util/json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int *k, n;   /* as given (the CSV repeats a repeated k, as Python's) */
    int *u, nu;  /* distinct, first-seen order (the metric keys, as Python's dicts) */
} k_list;

enum { L_ACC, L_PR, L_MRR, L_NDCG, L_MAP, N_LISTS };
static const char *const list_keys[N_LISTS] = {"accuracy_at_k", "precision_recall_at_k", "mrr_at_k", "ndcg_at_k",
                                               "map_at_k"};

typedef struct {
    stc_eval_beir data;
    k_list ks[N_LISTS];
    stc_sim_set sims;              /* score_functions (in the order given), main_score_function */
    int chunk;                     /* corpus_chunk_size */
    char *prompt[4];               /* query_prompt, query_prompt_name, corpus_prompt, corpus_prompt_name */
} ir_eval;

static const char *const prompt_keys[4] = {"query_prompt", "query_prompt_name", "corpus_prompt",
                                           "corpus_prompt_name"};
static const char *const keys[] = {"queries", "corpus", "relevant_docs", "corpus_chunk_size", "mrr_at_k",
                                   "ndcg_at_k", "accuracy_at_k", "precision_recall_at_k", "map_at_k",
                                   "score_functions", "main_score_function", "query_prompt",
                                   "query_prompt_name", "corpus_prompt", "corpus_prompt_name",
                                   "write_predictions", NULL};

/* ---- configuration ------------------------------------------------------------ */

static void destroy(void *impl)
{
    ir_eval *e = impl;
    stc_eval_beir_free(&e->data);
    for (int l = 0; l < N_LISTS; l++) {
        free(e->ks[l].k);
        free(e->ks[l].u);
    }
    for (int i = 0; i < 4; i++)
        free(e->prompt[i]);
    free(e);
}

static int set_ks(k_list *l, const int *def, int n_def, const cJSON *spec, const char *key, const char *where)
{
    if (!(l->k = malloc(sizeof *l->k * (size_t)n_def)))
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    memcpy(l->k, def, sizeof *l->k * (size_t)n_def);
    l->n = n_def;
    int rc = stc_eval_get_ks(spec, key, where, &l->k, &l->n);
    if (rc)
        return rc;
    if (!(l->u = malloc(sizeof *l->u * (size_t)l->n)))
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < l->n; i++) {
        int seen = 0;
        for (int j = 0; j < l->nu; j++)
            seen |= l->u[j] == l->k[i];
        if (!seen)
            l->u[l->nu++] = l->k[i];
    }
    return 0;
}

static int path_arg(const cJSON *spec, const char *key, const char *where, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!cJSON_IsString(v))
        return stc_errorf(STC_ERR_USAGE, "%s: \"%s\" (a path) is required", where, key);
    *out = v->valuestring;
    return 0;
}

static int create(void **impl, const cJSON *spec, const char *where)
{
    ir_eval *e = calloc(1, sizeof *e);
    if (!e)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    e->chunk = 50000;
    static const int k10[] = {10}, k1_10[] = {1, 3, 5, 10}, k100[] = {100};
    int rc = set_ks(&e->ks[L_ACC], k1_10, 4, spec, list_keys[L_ACC], where);
    if (!rc)
        rc = set_ks(&e->ks[L_PR], k1_10, 4, spec, list_keys[L_PR], where);
    if (!rc)
        rc = set_ks(&e->ks[L_MRR], k10, 1, spec, list_keys[L_MRR], where);
    if (!rc)
        rc = set_ks(&e->ks[L_NDCG], k10, 1, spec, list_keys[L_NDCG], where);
    if (!rc)
        rc = set_ks(&e->ks[L_MAP], k100, 1, spec, list_keys[L_MAP], where);
    if (!rc)
        rc = stc_eval_get_positive(spec, "corpus_chunk_size", where, &e->chunk);
    if (!rc) /* Python's main_score_function picks the primary metric only */
        rc = stc_sim_set_parse(&e->sims, spec, where, "score_functions", "main_score_function", 0);
    for (int i = 0; i < 4 && !rc; i++) {
        const char *s = NULL;
        rc = stc_json_get_string(spec, prompt_keys[i], where, &s) ? STC_ERR_USAGE : 0;
        if (!rc && s && !(e->prompt[i] = strdup(s)))
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
    }
    int predictions = 0;
    if (!rc)
        rc = stc_json_get_bool(spec, "write_predictions", where, &predictions) ? STC_ERR_USAGE : 0;
    if (!rc && predictions)
        rc = stc_errorf(STC_ERR_USAGE, "%s: \"write_predictions\": stc does not write prediction files (leave it "
                        "false)", where);
    const char *q = NULL, *c = NULL, *r = NULL;
    if (!rc && !(rc = path_arg(spec, "queries", where, &q)) && !(rc = path_arg(spec, "corpus", where, &c)) &&
        !(rc = path_arg(spec, "relevant_docs", where, &r)))
        rc = stc_eval_beir_load(&e->data, q, c, r, where);
    if (rc) {
        destroy(e);
        return rc;
    }
    *impl = e;
    return 0;
}

/* ---- scoring -------------------------------------------------------------------- */

/* ---- metrics ---------------------------------------------------------------------- */

static int is_relevant(const stc_eval_beir *b, size_t q, uint32_t doc)
{
    size_t lo = b->rel_off[q], hi = b->rel_off[q + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->rel_doc[mid] == doc)
            return 1;
        if (b->rel_doc[mid] < doc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Values per (query, function), in the order of the metric keys:
 * accuracy@k, precision@k, recall@k, ndcg@k, mrr@k, map@k (distinct ks). */
static int values_per_fn(const ir_eval *e)
{
    return e->ks[L_ACC].nu + 2 * e->ks[L_PR].nu + e->ks[L_NDCG].nu + e->ks[L_MRR].nu + e->ks[L_MAP].nu;
}

/* Python's compute_metrics for one query's best-first hits; rel[n_top]
 * is scratch. */
static void query_values(const ir_eval *e, size_t q, const stc_eval_hit *top, int n_top, int *rel, double *v)
{
    const stc_eval_beir *b = &e->data;
    for (int i = 0; i < n_top; i++)
        rel[i] = is_relevant(b, q, top[i].doc);
    double n_rel = (double)b->n_rel[q];
    int o = 0;
    const k_list *l = &e->ks[L_ACC];
    for (int i = 0; i < l->nu; i++) {
        int any = 0;
        for (int j = 0; j < n_top && j < l->u[i]; j++)
            any |= rel[j];
        v[o++] = any;
    }
    l = &e->ks[L_PR];
    for (int pass = 0; pass < 2; pass++) /* precision@k, then recall@k */
        for (int i = 0; i < l->nu; i++) {
            int hits = 0;
            for (int j = 0; j < n_top && j < l->u[i]; j++)
                hits += rel[j];
            v[o++] = pass == 0 ? (double)hits / l->u[i] : (double)hits / n_rel;
        }
    l = &e->ks[L_NDCG];
    for (int i = 0; i < l->nu; i++) {
        double dcg = 0.0, idcg = 0.0;
        for (int j = 0; j < n_top && j < l->u[i]; j++)
            dcg += rel[j] / log2(j + 2.0);
        for (int j = 0; j < (int)fmin(n_rel, l->u[i]); j++)
            idcg += 1.0 / log2(j + 2.0);
        v[o++] = dcg / idcg;
    }
    l = &e->ks[L_MRR];
    for (int i = 0; i < l->nu; i++) {
        double rr = 0.0;
        for (int j = 0; j < n_top && j < l->u[i]; j++)
            if (rel[j]) {
                rr = 1.0 / (j + 1);
                break;
            }
        v[o++] = rr;
    }
    l = &e->ks[L_MAP];
    for (int i = 0; i < l->nu; i++) {
        int correct = 0;
        double sum = 0.0;
        for (int j = 0; j < n_top && j < l->u[i]; j++)
            if (rel[j]) {
                correct++;
                sum += (double)correct / (j + 1);
            }
        v[o++] = sum / fmin((double)l->u[i], n_rel);
    }
}

/* ---- one call ------------------------------------------------------------------------ */

static int max_k_of(const ir_eval *e)
{
    int m = 1;
    for (int l = 0; l < N_LISTS; l++)
        for (int i = 0; i < e->ks[l].n; i++)
            m = e->ks[l].k[i] > m ? e->ks[l].k[i] : m;
    return m;
}

/* Scores this rank's queries q_emb[0..nl) against every corpus chunk and
 * leaves each (query, function)'s best-first hits in top / n_top. */
static int retrieve(const ir_eval *e, const stc_eval_call *call, const stc_sim_fn *fns, int n_fns, float *q_emb,
                    size_t nl, int D, int K, stc_eval_hit *top, int *n_top)
{
    const stc_eval_beir *b = &e->data;
    int need_cos = 0, need_raw = 0;
    for (int f = 0; f < n_fns; f++) {
        need_cos |= fns[f] == STC_SIM_COSINE;
        need_raw |= fns[f] != STC_SIM_COSINE;
    }
    float *q_cos = NULL;
    if (need_cos) {
        if (!(q_cos = malloc(sizeof *q_cos * (nl ? nl : 1) * (size_t)D)))
            return stc_errorf(STC_ERR_NOMEM, "out of memory (query embeddings)");
        memcpy(q_cos, q_emb, sizeof *q_cos * nl * (size_t)D);
        stc_sim_normalize_rows(q_cos, nl, D);
    }
    stc_eval_encode_opts o = {.fn = STC_EVAL_ENCODE_DOCUMENT, .prompt = e->prompt[2], .prompt_name = e->prompt[3]};
    int rc = 0;
    for (size_t start = 0; start < b->corpus.n && !rc; start += (size_t)e->chunk) {
        size_t nc = b->corpus.n - start < (size_t)e->chunk ? b->corpus.n - start : (size_t)e->chunk;
        stc_eval_texts view = {.n = nc, .texts = b->corpus.texts + start, .lens = b->corpus.lens + start};
        float *c_emb, *c_cos = NULL;
        int Dc;
        if ((rc = stc_eval_embed(call, &o, &view, &c_emb, &Dc)))
            break;
        if (Dc != D) {
            rc = stc_errorf(STC_ERR_DATA, "query embeddings have %d dimensions, document embeddings %d", D, Dc);
            free(c_emb);
            break;
        }
        if (need_cos && !need_raw) {
            c_cos = c_emb;
        } else if (need_cos && !(c_cos = malloc(sizeof *c_cos * nc * (size_t)D))) {
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory (corpus embeddings)");
            free(c_emb);
            break;
        } else if (need_cos) {
            memcpy(c_cos, c_emb, sizeof *c_cos * nc * (size_t)D);
        }
        if (need_cos)
            stc_sim_normalize_rows(c_cos, nc, D);
        for (int f = 0; f < n_fns; f++) {
            const float *qe = fns[f] == STC_SIM_COSINE ? q_cos : q_emb;
            const float *ce = fns[f] == STC_SIM_COSINE ? c_cos : c_emb;
#pragma omp parallel for schedule(dynamic, 4)
            for (size_t q = 0; q < nl; q++) {
                stc_eval_hit *h = top + ((size_t)f * nl + q) * (size_t)K;
                int *n = &n_top[(size_t)f * nl + q];
                for (size_t c = 0; c < nc; c++) {
                    stc_eval_hit x = {stc_sim_score(fns[f], qe + q * (size_t)D, ce + c * (size_t)D, D),
                                      (uint32_t)(start + c)};
                    stc_eval_topk_push(h, n, K, x, b->id_rank);
                }
            }
        }
        if (c_cos != c_emb)
            free(c_cos);
        free(c_emb);
    }
    free(q_cos);
    if (!rc)
        for (size_t i = 0; i < (size_t)n_fns * nl; i++)
            stc_eval_topk_sort(top + i * (size_t)K, n_top[i], b->id_rank);
    return rc;
}

static int add_metrics(const ir_eval *e, const stc_sim_fn *fns, int n_fns, const double *mean, stc_metrics *out)
{
    static const char *const names[] = {"accuracy", "precision", "recall", "ndcg", "mrr", "map"};
    static const int lists[] = {L_ACC, L_PR, L_PR, L_NDCG, L_MRR, L_MAP};
    int W = values_per_fn(e), rc = 0;
    char key[STC_METRIC_NAME_MAX];
    for (int f = 0; f < n_fns && !rc; f++) {
        int o = 0;
        for (int m = 0; m < 6 && !rc; m++)
            for (int i = 0; i < e->ks[lists[m]].nu && !rc; i++) {
                snprintf(key, sizeof key, "%s_%s@%d", stc_sim_name(fns[f]), names[m], e->ks[lists[m]].u[i]);
                rc = stc_metrics_add(out, key, mean[f * W + o++]);
            }
    }
    return rc;
}

/* The mean of metric (list l, k) of function f, from the per-function block. */
static double value_of(const ir_eval *e, const double *mean_f, int l, int k, int recall)
{
    int o = 0;
    static const int order[] = {L_ACC, L_PR, -1, L_NDCG, L_MRR, L_MAP}; /* -1: recall (the L_PR ks again) */
    for (int m = 0; m < 6; m++) {
        int lm = order[m] < 0 ? L_PR : order[m];
        int is_recall = order[m] < 0;
        for (int i = 0; i < e->ks[lm].nu; i++, o++)
            if (lm == l && e->ks[lm].u[i] == k && is_recall == recall)
                return mean_f[o];
    }
    return NAN; /* unreachable: k comes from the same list */
}

static int write_csv(const ir_eval *e, const stc_eval_call *call, const stc_sim_fn *fns, int n_fns,
                     const double *mean)
{
    if (!call->csv_dir)
        return 0;
    static const char *const label[N_LISTS] = {"Accuracy", "Precision", "MRR", "NDCG", "MAP"};
    static const int csv_lists[] = {L_ACC, L_PR, L_MRR, L_NDCG, L_MAP};
    int W = values_per_fn(e);
    stc_eval_strs header = {0}, row = {0};
    int rc = stc_eval_csv_begin(&header, &row, call);
    /* Python writes the functions in sorted name order (the enum's). */
    for (int s = 0; s < STC_SIM_COUNT && !rc; s++)
        for (int f = 0; f < n_fns && !rc; f++) {
            if (fns[f] != (stc_sim_fn)s)
                continue;
            const char *fn = stc_sim_name(fns[f]);
            for (int m = 0; m < 5 && !rc; m++) {
                int l = csv_lists[m];
                for (int i = 0; i < e->ks[l].n && !rc; i++) {
                    int k = e->ks[l].k[i];
                    rc = stc_eval_strs_push(&header, "%s-%s@%d", fn, label[l], k) ||
                         stc_eval_strs_push_f64(&row, value_of(e, mean + f * W, l, k, 0));
                    if (!rc && l == L_PR)
                        rc = stc_eval_strs_push(&header, "%s-Recall@%d", fn, k) ||
                             stc_eval_strs_push_f64(&row, value_of(e, mean + f * W, l, k, 1));
                    rc = rc ? STC_ERR_NOMEM : 0;
                }
            }
        }
    if (!rc)
        rc = stc_eval_csv_append(call, "Information-Retrieval_evaluation", &header, &row, 0);
    stc_eval_strs_free(&header);
    stc_eval_strs_free(&row);
    return rc;
}

static int run(void *impl, const stc_eval_call *call, stc_metrics *out)
{
    ir_eval *e = impl;
    const stc_eval_beir *b = &e->data;
    stc_sim_fn fns[STC_SIM_COUNT];
    int n_fns;
    int rc = stc_sim_set_resolve(&e->sims, call->model, fns, &n_fns);
    if (rc)
        return rc;
    int K = max_k_of(e), W = values_per_fn(e);
    size_t nq = b->queries.n, qb, nl;
    /* In whole batches, so a query's batch is the same on any number of
     * ranks (stc_eval_embed). */
    stc_eval_rank_slice(call->comm, nq, (size_t)call->batch_size, &qb, &nl);

    /* This rank's queries only: encoded alone (a world of one), as no other
     * rank needs them. */
    stc_comm solo = *call->comm;
    solo.rank = 0;
    solo.world = 1;
    stc_eval_call qcall = *call;
    qcall.comm = &solo;
    stc_eval_texts qview = {.n = nl, .texts = b->queries.texts + qb, .lens = b->queries.lens + qb};
    stc_eval_encode_opts qo = {.fn = STC_EVAL_ENCODE_QUERY, .prompt = e->prompt[0], .prompt_name = e->prompt[1]};
    float *q_emb = NULL;
    int D = 0;
    if ((rc = stc_eval_embed(&qcall, &qo, &qview, &q_emb, &D)))
        return rc;

    size_t nh = (size_t)n_fns * (nl ? nl : 1);
    stc_eval_hit *top = malloc(sizeof *top * nh * (size_t)K);
    int *n_top = calloc(nh, sizeof *n_top);
    double *vals = malloc(sizeof *vals * (nq ? nq : 1) * (size_t)(n_fns * W)); /* (nq, n_fns * W) */
    double *mean = calloc((size_t)(n_fns * W), sizeof *mean);
    int *rel = malloc(sizeof *rel * (size_t)K);
    if (!top || !n_top || !vals || !mean || !rel)
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory (retrieval of %zu queries)", nl);
    if (!rc)
        rc = retrieve(e, call, fns, n_fns, q_emb, nl, D, K, top, n_top);
    if (!rc) {
        for (size_t q = 0; q < nl; q++)
            for (int f = 0; f < n_fns; f++)
                query_values(e, qb + q, top + ((size_t)f * nl + q) * (size_t)K, n_top[(size_t)f * nl + q], rel,
                             vals + (qb + q) * (size_t)(n_fns * W) + f * W);
        rc = stc_eval_allgather_rows_f64(call->comm, vals, nq, (size_t)call->batch_size, (size_t)(n_fns * W));
    }
    if (!rc) {
        /* Sums in query order on every rank: the same bits on any number of
         * ranks. Python: counts / len(queries) and np.mean, the same values. */
        for (size_t q = 0; q < nq; q++)
            for (int j = 0; j < n_fns * W; j++)
                mean[j] += vals[q * (size_t)(n_fns * W) + j];
        for (int j = 0; j < n_fns * W; j++)
            mean[j] /= (double)nq;
        rc = add_metrics(e, fns, n_fns, mean, out);
    }
    if (!rc)
        rc = write_csv(e, call, fns, n_fns, mean);
    if (!rc) {
        /* Primary: nDCG at the largest k of main_score_function, else of the
         * function (in name order) with the highest such nDCG. */
        const k_list *nd = &e->ks[L_NDCG];
        int kmax = nd->u[0];
        for (int i = 1; i < nd->nu; i++)
            kmax = nd->u[i] > kmax ? nd->u[i] : kmax;
        int best = e->sims.main_fn;
        double best_v = -INFINITY;
        for (int s = 0; s < STC_SIM_COUNT && e->sims.main_fn < 0; s++)
            for (int f = 0; f < n_fns; f++)
                if (fns[f] == (stc_sim_fn)s) {
                    double v = value_of(e, mean + f * W, L_NDCG, kmax, 0);
                    if (best < 0 || v > best_v) { /* Python's max(): the first of equals */
                        best_v = v;
                        best = (int)fns[f];
                    }
                }
        snprintf(out->primary, sizeof out->primary, "%s_ndcg@%d", stc_sim_name((stc_sim_fn)best), kmax);
    }
    free(q_emb);
    free(top);
    free(n_top);
    free(vals);
    free(mean);
    free(rel);
    return rc;
}

const stc_eval_family stc_eval_ir_family = {
    .type = "InformationRetrievalEvaluator",
    .keys = keys,
    .default_batch_size = 32,
    .create = create,
    .run = run,
    .free = destroy,
};
