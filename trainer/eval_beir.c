/*
 * BEIR retrieval sets for InformationRetrievalEvaluator (eval_internal.h):
 * queries.jsonl and corpus.jsonl ("_id", "text") and a qrels TSV
 * ("query-id corpus-id score"), read with the dataset readers
 * (data/dataset.h), so a bad line is an error naming file and line. The
 * "_id"/"text" reader serves ParaphraseMiningEvaluator's sentences too.
 */
#include "data/dataset.h"
#include "trainer/eval_internal.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An id and the row it came from; ids compare as Python compares str
 * (code points, i.e. UTF-8 bytes), a prefix first. */
typedef struct {
    const char *s;
    size_t len, row;
} id_key;

static int cmp_bytes(const char *a, size_t la, const char *b, size_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

static int cmp_id(const void *pa, const void *pb)
{
    const id_key *a = pa, *b = pb;
    int c = cmp_bytes(a->s, a->len, b->s, b->len);
    return c ? c : (a->row > b->row) - (a->row < b->row);
}

/* ids sorted, or a repeated id as an error naming path. */
static int sort_ids(const stc_eval_texts *ids, const char *path, id_key **out)
{
    id_key *k = malloc(sizeof *k * (ids->n ? ids->n : 1));
    if (!k)
        return stc_errorf(STC_ERR_NOMEM, "out of memory (%s ids)", path);
    for (size_t i = 0; i < ids->n; i++)
        k[i] = (id_key){ids->texts[i], ids->lens[i], i};
    qsort(k, ids->n, sizeof *k, cmp_id);
    for (size_t i = 1; i < ids->n; i++)
        if (!cmp_bytes(k[i - 1].s, k[i - 1].len, k[i].s, k[i].len)) {
            int rc = stc_errorf(STC_ERR_DATA, "%s: _id \"%s\" appears twice (records %zu and %zu); ids must be unique",
                                path, k[i].s, k[i - 1].row + 1, k[i].row + 1);
            free(k);
            return rc;
        }
    *out = k;
    return 0;
}

/* The row of id s in sorted keys, or (size_t)-1. */
static size_t find_id(const id_key *k, size_t n, const char *s, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_bytes(k[mid].s, k[mid].len, s, len);
        if (!c)
            return k[mid].row;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (size_t)-1;
}

static int column_of(const stc_dataset *ds, const char *name)
{
    for (int c = 0; c < stc_dataset_num_text_columns(ds); c++)
        if (!strcmp(stc_dataset_text_column_name(ds, c), name))
            return c;
    return -1;
}

static void column_list(const stc_dataset *ds, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int c = 0; c < stc_dataset_num_text_columns(ds) && len < cap; c++)
        len += (size_t)snprintf(buf + len, cap - len, "%s\"%s\"", c ? ", " : "", stc_dataset_text_column_name(ds, c));
    if (stc_dataset_label_column_name(ds) && len < cap)
        snprintf(buf + len, cap - len, "%s\"%s\"", len ? ", " : "", stc_dataset_label_column_name(ds));
}

int stc_eval_load_id_texts(const char *path, const char *where, const char *key, stc_eval_texts *ids,
                           stc_eval_texts *texts)
{
    stc_dataset *ds;
    int rc = stc_eval_open_dataset(&ds, path, where, key);
    if (rc)
        return rc;
    int c[2] = {column_of(ds, "_id"), column_of(ds, "text")};
    if (c[0] < 0 || c[1] < 0) {
        char have[512];
        column_list(ds, have, sizeof have);
        rc = stc_errorf(STC_ERR_DATA, "%s: \"%s\": %s has no \"%s\" field (its fields: %s); BEIR records are "
                        "{\"_id\": ..., \"text\": ...}", where, key, path, c[0] < 0 ? "_id" : "text", have);
    } else {
        stc_eval_texts out[2];
        stc_eval_texts_init(&out[0]);
        stc_eval_texts_init(&out[1]);
        rc = stc_eval_read_columns(ds, c, 2, out, NULL);
        *ids = out[0];
        *texts = out[1];
    }
    stc_dataset_close(ds);
    return rc;
}

static int cmp_row(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    size_t q;         /* query row */
    const char *cid;  /* corpus id (into the qrels texts) */
    size_t len;
} rel_pair;

static int cmp_pair(const void *pa, const void *pb)
{
    const rel_pair *a = pa, *b = pb;
    if (a->q != b->q)
        return a->q < b->q ? -1 : 1;
    return cmp_bytes(a->cid, a->len, b->cid, b->len);
}

/* qrels: the relevant (score > 0) pairs whose query is in the queries
 * file, sorted by (query row, corpus id), repeats removed. */
static int load_qrels(const char *path, const char *where, const id_key *qkeys, size_t nq, stc_eval_texts *cids,
                      rel_pair **pairs, size_t *n_pairs)
{
    stc_dataset *ds;
    int rc = stc_eval_open_dataset(&ds, path, where, "relevant_docs");
    if (rc)
        return rc;
    const char *label = stc_dataset_label_column_name(ds);
    if (stc_dataset_num_text_columns(ds) != 2 || column_of(ds, "query-id") != 0 || column_of(ds, "corpus-id") != 1 ||
        !label || strcmp(label, "score") || stc_dataset_label_kind(ds) != STC_LABEL_SCALAR) {
        char have[512];
        column_list(ds, have, sizeof have);
        rc = stc_errorf(STC_ERR_DATA, "%s: \"relevant_docs\": %s has columns %s; a qrels file has the header "
                        "\"query-id<TAB>corpus-id<TAB>score\"", where, path, have);
        stc_dataset_close(ds);
        return rc;
    }
    stc_eval_texts cols[2];
    stc_eval_texts_init(&cols[0]);
    stc_eval_texts_init(&cols[1]);
    double *score = NULL;
    int c[2] = {0, 1};
    rc = stc_eval_read_columns(ds, c, 2, cols, &score);
    size_t n = stc_dataset_num_rows(ds), k = 0;
    stc_dataset_close(ds);
    rel_pair *p = rc ? NULL : malloc(sizeof *p * (n ? n : 1));
    if (!rc && !p)
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory (%s)", path);
    for (size_t i = 0; i < n && !rc; i++) {
        if (!(score[i] > 0))
            continue;
        size_t q = find_id(qkeys, nq, cols[0].texts[i], cols[0].lens[i]);
        if (q != (size_t)-1)
            p[k++] = (rel_pair){q, cols[1].texts[i], cols[1].lens[i]};
    }
    if (!rc) {
        qsort(p, k, sizeof *p, cmp_pair);
        size_t u = 0;
        for (size_t i = 0; i < k; i++)
            if (!u || cmp_pair(&p[u - 1], &p[i]))
                p[u++] = p[i];
        k = u;
    }
    free(score);
    stc_eval_texts_free(&cols[0]);
    if (rc) {
        free(p);
        stc_eval_texts_free(&cols[1]);
        return rc;
    }
    *cids = cols[1]; /* the pairs point into it */
    *pairs = p;
    *n_pairs = k;
    return 0;
}

int stc_eval_beir_load(stc_eval_beir *b, const char *queries, const char *corpus, const char *qrels,
                       const char *where)
{
    memset(b, 0, sizeof *b);
    stc_eval_texts all_qids, all_q, cids;
    stc_eval_texts_init(&all_qids);
    stc_eval_texts_init(&all_q);
    stc_eval_texts_init(&cids);
    id_key *qkeys = NULL, *ckeys = NULL;
    rel_pair *pairs = NULL;
    size_t n_pairs = 0, *first = NULL;
    int rc = stc_eval_load_id_texts(queries, where, "queries", &all_qids, &all_q);
    if (!rc)
        rc = stc_eval_load_id_texts(corpus, where, "corpus", &b->corpus_ids, &b->corpus);
    if (!rc && b->corpus_ids.n == 0)
        rc = stc_errorf(STC_ERR_DATA, "%s: \"corpus\": %s has no documents", where, corpus);
    if (!rc)
        rc = sort_ids(&all_qids, queries, &qkeys);
    if (!rc)
        rc = sort_ids(&b->corpus_ids, corpus, &ckeys);
    if (!rc)
        rc = load_qrels(qrels, where, qkeys, all_qids.n, &cids, &pairs, &n_pairs);
    size_t nq_all = all_qids.n, nc = b->corpus_ids.n;
    if (!rc) {
        b->id_rank = malloc(sizeof *b->id_rank * (nc ? nc : 1));
        first = calloc(nq_all + 1, sizeof *first); /* pairs of query row q: [first[q], first[q + 1]) */
        b->rel_off = calloc(nq_all + 1, sizeof *b->rel_off);
        b->rel_doc = malloc(sizeof *b->rel_doc * (n_pairs ? n_pairs : 1));
        b->n_rel = calloc(nq_all ? nq_all : 1, sizeof *b->n_rel);
        if (!b->id_rank || !first || !b->rel_off || !b->rel_doc || !b->n_rel)
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory (%s)", qrels);
    }
    if (!rc) {
        for (size_t i = 0; i < nc; i++)
            b->id_rank[ckeys[i].row] = i;
        for (size_t i = 0; i < n_pairs; i++)
            first[pairs[i].q + 1]++;
        for (size_t q = 0; q < nq_all; q++)
            first[q + 1] += first[q];
        /* Python keeps the queries (in file order) that have relevant
         * documents; a relevant id missing from the corpus still counts in
         * the recall's denominator. */
        size_t kept = 0, nd = 0;
        for (size_t q = 0; q < nq_all && !rc; q++) {
            if (first[q + 1] == first[q])
                continue;
            b->n_rel[kept] = first[q + 1] - first[q];
            for (size_t i = first[q]; i < first[q + 1]; i++) {
                size_t row = find_id(ckeys, nc, pairs[i].cid, pairs[i].len);
                if (row != (size_t)-1)
                    b->rel_doc[nd++] = row;
            }
            /* ascending rows, for the binary search of the metrics */
            qsort(b->rel_doc + b->rel_off[kept], nd - b->rel_off[kept], sizeof *b->rel_doc, cmp_row);
            b->rel_off[kept + 1] = nd;
            kept++;
            if ((rc = stc_eval_texts_push(&b->query_ids, all_qids.texts[q], all_qids.lens[q])) ||
                (rc = stc_eval_texts_push(&b->queries, all_q.texts[q], all_q.lens[q])))
                break;
        }
        if (!rc && (rc = stc_eval_texts_finish(&b->query_ids)) == 0)
            rc = stc_eval_texts_finish(&b->queries);
        if (!rc && kept == 0)
            rc = stc_errorf(STC_ERR_DATA, "%s: no query in %s has a relevant document (score > 0) in %s", where,
                            queries, qrels);
    }
    free(qkeys);
    free(ckeys);
    free(pairs);
    free(first);
    stc_eval_texts_free(&cids);
    stc_eval_texts_free(&all_qids);
    stc_eval_texts_free(&all_q);
    if (rc)
        stc_eval_beir_free(b);
    return rc;
}

void stc_eval_beir_free(stc_eval_beir *b)
{
    stc_eval_texts_free(&b->query_ids);
    stc_eval_texts_free(&b->queries);
    stc_eval_texts_free(&b->corpus_ids);
    stc_eval_texts_free(&b->corpus);
    free(b->id_rank);
    free(b->rel_off);
    free(b->rel_doc);
    free(b->n_rel);
    memset(b, 0, sizeof *b);
}
