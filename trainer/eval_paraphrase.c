/*
 * ParaphraseMiningEvaluator (sentence_transformer/evaluation/
 * paraphrase_mining.py): mines the most similar sentence pairs of
 * sentences_map (util.paraphrase_mining) and scores them against the known
 * duplicates: the best F1 over score thresholds (its precision, recall and
 * threshold) and the average precision of the ranked pairs.
 *
 * Keys average_precision (primary), f1, precision, recall, threshold.
 *
 * Mining as util.paraphrase_mining_embeddings with the model's similarity
 * function: each sentence's top_k most similar other sentences (from its
 * best top_k + 1, itself included) are offered in sentence order to a heap
 * of the best max_pairs pairs; a pair is kept once; once the heap is full,
 * a pair scoring at most the last evicted score is skipped. Of equal scores
 * the lower sentence index ranks first in a sentence's top list (torch's
 * topk leaves that order open) and the heap evicts the smallest
 * (score, i, j), as Python's heapq does. query_chunk_size and
 * corpus_chunk_size bound Python's memory; stc scores pair by pair, so they
 * are checked and change nothing.
 *
 * Duplicates: duplicates_list pairs whose ids are both sentences mark both
 * directions; duplicates_dict {id: {id: true|false}} marks what it says;
 * add_transitive_closure joins every pair of the sentences reachable from
 * each other, as Python's add_transitive_closure walks its dict (in key
 * order, following true entries). A pair (a, b) is a duplicate when a->b
 * or b->a is true; a missing entry reads false (Python's defaultdict; a
 * plain dict given as duplicates_dict could raise KeyError there).
 *
 * Data: "sentences_map": {id: text} inline or a JSONL file of {"_id",
 * "text"} records (the BEIR layout); "duplicates_list": [[id1, id2], ...]
 * inline or a JSONL/CSV/TSV file whose two text columns (any names, e.g.
 * the TSV header "id1<TAB>id2") are the pair; "duplicates_dict" inline.
 *
 * Work: the sentences are encoded across ranks; rank r finds the top lists
 * of its slice of the sentences (every pair scored, no [n x n] matrix
 * held); the lists are all-gathered and every rank runs the (cheap) pair
 * heap in sentence order: the same pairs and bits on any number of ranks.
 */
#include "data/dataset.h"
#include "trainer/eval_internal.h"
#include "util/error.h"
#include "util/json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a map of 64-bit keys to 32-bit values (open addressing) ---------------------- */

typedef struct {
    uint64_t *key; /* key + 1; 0: empty */
    uint32_t *val;
    size_t cap, n;
} u64_map;

static void map_free(u64_map *m)
{
    free(m->key);
    free(m->val);
    memset(m, 0, sizeof *m);
}

static size_t map_slot(const u64_map *m, uint64_t k)
{
    size_t h = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 17) & (m->cap - 1);
    while (m->key[h] && m->key[h] != k + 1)
        h = (h + 1) & (m->cap - 1);
    return h;
}

/* The value of k, or NULL. */
static uint32_t *map_get(const u64_map *m, uint64_t k)
{
    if (!m->cap)
        return NULL;
    size_t h = map_slot(m, k);
    return m->key[h] ? &m->val[h] : NULL;
}

/* Sets k to v; *is_new (if given) tells whether k was absent. */
static int map_put(u64_map *m, uint64_t k, uint32_t v, int *is_new)
{
    if (2 * (m->n + 1) > m->cap) {
        u64_map g = {.cap = m->cap ? 2 * m->cap : 64};
        g.key = calloc(g.cap, sizeof *g.key);
        g.val = malloc(sizeof *g.val * g.cap);
        if (!g.key || !g.val) {
            map_free(&g);
            return stc_errorf(STC_ERR_NOMEM, "out of memory (duplicate pairs)");
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i]) {
                size_t h = map_slot(&g, m->key[i] - 1);
                g.key[h] = m->key[i];
                g.val[h] = m->val[i];
            }
        g.n = m->n;
        map_free(m);
        *m = g;
    }
    size_t h = map_slot(m, k);
    if (is_new)
        *is_new = !m->key[h];
    if (!m->key[h]) {
        m->key[h] = k + 1;
        m->n++;
    }
    m->val[h] = v;
    return 0;
}

/* ---- the duplicates graph (Python's dict of dicts) ------------------------------- */

typedef struct {
    size_t M;           /* nodes: the sentences (0 .. n-1), then other ids */
    u64_map edge;       /* a * M + b -> 1 (true) / 0 (false) */
    size_t *head;       /* (M) first edge out of a node, (size_t)-1: none */
    size_t *to, *next;  /* (edges) target, next edge of the same node */
    size_t n_edges, cap_edges;
    uint8_t *is_key;    /* (M) a key of the outer dict */
    size_t *keys, n_keys; /* outer keys in insertion order */
} dup_graph;

static void graph_free(dup_graph *g)
{
    map_free(&g->edge);
    free(g->head);
    free(g->to);
    free(g->next);
    free(g->is_key);
    free(g->keys);
    memset(g, 0, sizeof *g);
}

static int graph_init(dup_graph *g, size_t M)
{
    memset(g, 0, sizeof *g);
    g->M = M;
    g->head = malloc(sizeof *g->head * (M ? M : 1));
    g->is_key = calloc(M ? M : 1, 1);
    g->keys = malloc(sizeof *g->keys * (M ? M : 1));
    if (!g->head || !g->is_key || !g->keys)
        return stc_errorf(STC_ERR_NOMEM, "out of memory (duplicates)");
    memset(g->head, 0xff, sizeof *g->head * M);
    return 0;
}

static void graph_add_key(dup_graph *g, size_t a)
{
    if (!g->is_key[a]) {
        g->is_key[a] = 1;
        g->keys[g->n_keys++] = a;
    }
}

/* graph[a][b] = v */
static int graph_set(dup_graph *g, size_t a, size_t b, int v)
{
    graph_add_key(g, a);
    int is_new, rc = map_put(&g->edge, (uint64_t)a * g->M + b, (uint32_t)v, &is_new);
    if (rc || !is_new)
        return rc;
    if (g->n_edges == g->cap_edges) {
        size_t cap = g->cap_edges ? 2 * g->cap_edges : 256;
        size_t *to = realloc(g->to, sizeof *to * cap);
        if (to)
            g->to = to;
        size_t *next = to ? realloc(g->next, sizeof *next * cap) : NULL;
        if (!next)
            return stc_errorf(STC_ERR_NOMEM, "out of memory (duplicates)");
        g->next = next;
        g->cap_edges = cap;
    }
    g->to[g->n_edges] = b;
    g->next[g->n_edges] = g->head[a];
    g->head[a] = g->n_edges++;
    return 0;
}

static int graph_is_true(const dup_graph *g, size_t a, size_t b)
{
    const uint32_t *v = map_get(&g->edge, (uint64_t)a * g->M + b);
    return v && *v;
}

/* Python's add_transitive_closure: from each key (in order) not yet in a
 * closed group, the nodes reachable along true entries become one group
 * whose every pair is marked true both ways. */
static int graph_close(dup_graph *g)
{
    size_t M = g->M, n_keys = g->n_keys;
    uint8_t *visited = calloc(M ? M : 1, 1);
    size_t *stamp = calloc(M ? M : 1, sizeof *stamp), *comp = malloc(sizeof *comp * (M ? M : 1));
    size_t *queue = NULL, qcap = 0;
    int rc = visited && stamp && comp ? 0 : stc_errorf(STC_ERR_NOMEM, "out of memory (transitive closure)");
    for (size_t ki = 0; ki < n_keys && !rc; ki++) {
        size_t a = g->keys[ki];
        if (visited[a])
            continue;
        size_t nc = 0, qh = 0, qt = 0;
        comp[nc++] = a;
        stamp[a] = ki + 1;
        for (size_t node = a;;) {
            /* queue.extend(the true neighbours of node) */
            for (size_t e = g->head[node]; e != (size_t)-1 && !rc; e = g->next[e]) {
                if (!graph_is_true(g, node, g->to[e]))
                    continue;
                if (qt == qcap) {
                    size_t *q = realloc(queue, sizeof *q * (qcap = qcap ? 2 * qcap : 256));
                    if (!q) {
                        rc = stc_errorf(STC_ERR_NOMEM, "out of memory (transitive closure)");
                        break;
                    }
                    queue = q;
                }
                queue[qt++] = g->to[e];
            }
            for (node = (size_t)-1; qh < qt && node == (size_t)-1; qh++)
                if (stamp[queue[qh]] != ki + 1) {
                    node = queue[qh];
                    stamp[node] = ki + 1;
                    comp[nc++] = node;
                }
            if (node == (size_t)-1 || rc)
                break;
        }
        for (size_t i = 0; i + 1 < nc && !rc; i++)
            for (size_t j = i + 1; j < nc && !rc; j++) {
                if (!(rc = graph_set(g, comp[i], comp[j], 1)))
                    rc = graph_set(g, comp[j], comp[i], 1);
                visited[comp[i]] = visited[comp[j]] = 1;
            }
    }
    free(visited);
    free(stamp);
    free(comp);
    free(queue);
    return rc;
}

/* ---- the evaluator --------------------------------------------------------------------- */

typedef struct {
    stc_eval_texts ids, sentences; /* (n) sentences_map in order */
    u64_map dup;                   /* i * n + j (i <= j) -> 1: the duplicate sentence pairs */
    size_t total_dups;             /* Python's total_num_duplicates */
    int top_k, max_pairs, query_chunk, corpus_chunk;
} paraphrase_eval;

static const char *const keys[] = {"sentences_map", "duplicates_list", "duplicates_dict", "add_transitive_closure",
                                   "query_chunk_size", "corpus_chunk_size", "max_pairs", "top_k", NULL};

static void destroy(void *impl)
{
    paraphrase_eval *e = impl;
    stc_eval_texts_free(&e->ids);
    stc_eval_texts_free(&e->sentences);
    map_free(&e->dup);
    free(e);
}

static int push_str(stc_eval_texts *t, const char *s) { return stc_eval_texts_push(t, s, strlen(s)); }

static int load_sentences(paraphrase_eval *e, const cJSON *v, const char *where)
{
    if (cJSON_IsString(v))
        return stc_eval_load_id_texts(v->valuestring, where, "sentences_map", &e->ids, &e->sentences);
    if (!cJSON_IsObject(v))
        return stc_errorf(STC_ERR_USAGE, "%s: \"sentences_map\" must be {id: text} or a JSONL file of {\"_id\", "
                          "\"text\"} (a path)", where);
    int rc = 0;
    for (const cJSON *s = v->child; s && !rc; s = s->next) {
        if (!cJSON_IsString(s))
            return stc_errorf(STC_ERR_USAGE, "%s: \"sentences_map\".\"%s\" must be a text (a string)", where,
                              s->string);
        if (!(rc = push_str(&e->ids, s->string)))
            rc = push_str(&e->sentences, s->valuestring);
    }
    if (!rc && (rc = stc_eval_texts_finish(&e->ids)) == 0)
        rc = stc_eval_texts_finish(&e->sentences);
    return rc;
}

/* duplicates_list: inline pairs or a file of two text columns, into a flat
 * list (2 ids per pair). */
static int load_pairs(stc_eval_texts *out, const cJSON *v, const char *where)
{
    if (cJSON_IsString(v)) {
        stc_dataset *ds;
        int rc = stc_eval_open_dataset(&ds, v->valuestring, where, "duplicates_list");
        if (rc)
            return rc;
        if (stc_dataset_num_text_columns(ds) != 2 || stc_dataset_label_kind(ds) != STC_LABEL_NONE)
            rc = stc_errorf(STC_ERR_DATA, "%s: \"duplicates_list\": %s must have two columns of ids (e.g. the TSV "
                            "header \"id1<TAB>id2\"; a column named label or score is not an id)", where,
                            v->valuestring);
        stc_eval_texts cols[2];
        stc_eval_texts_init(&cols[0]);
        stc_eval_texts_init(&cols[1]);
        int c[2] = {0, 1};
        if (!rc)
            rc = stc_eval_read_columns(ds, c, 2, cols, NULL);
        stc_dataset_close(ds);
        for (size_t i = 0; i < cols[0].n && !rc; i++)
            if (!(rc = stc_eval_texts_push(out, cols[0].texts[i], cols[0].lens[i])))
                rc = stc_eval_texts_push(out, cols[1].texts[i], cols[1].lens[i]);
        stc_eval_texts_free(&cols[0]);
        stc_eval_texts_free(&cols[1]);
        return rc;
    }
    if (!cJSON_IsArray(v))
        return stc_errorf(STC_ERR_USAGE, "%s: \"duplicates_list\" must be [[id1, id2], ...] or a file of pairs (a "
                          "path)", where);
    int i = 0, rc = 0;
    for (const cJSON *p = v->child; p && !rc; p = p->next, i++) {
        const cJSON *a = cJSON_GetArrayItem(p, 0), *b = cJSON_GetArrayItem(p, 1);
        if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2 || !cJSON_IsString(a) || !cJSON_IsString(b))
            return stc_errorf(STC_ERR_USAGE, "%s: \"duplicates_list\"[%d] must be a pair of ids [\"id1\", \"id2\"]",
                              where, i);
        if (!(rc = push_str(out, a->valuestring)))
            rc = push_str(out, b->valuestring);
    }
    return rc;
}

/* duplicates_dict's ids in order (key, then its entries' keys), checked. */
static int dict_ids(stc_eval_texts *out, const cJSON *d, const char *where)
{
    if (!cJSON_IsObject(d))
        return stc_errorf(STC_ERR_USAGE, "%s: \"duplicates_dict\" must be {id: {id: true|false}}", where);
    int rc = 0;
    for (const cJSON *a = d->child; a && !rc; a = a->next) {
        if (!cJSON_IsObject(a))
            return stc_errorf(STC_ERR_USAGE, "%s: \"duplicates_dict\".\"%s\" must be {id: true|false}", where,
                              a->string);
        rc = push_str(out, a->string);
        for (const cJSON *b = a->child; b && !rc; b = b->next) {
            if (!cJSON_IsBool(b))
                return stc_errorf(STC_ERR_USAGE, "%s: \"duplicates_dict\".\"%s\".\"%s\" must be true or false", where,
                                  a->string, b->string);
            rc = push_str(out, b->string);
        }
    }
    return rc;
}

/* The duplicate sentence pairs, as Python's constructor finds them. */
static int build_duplicates(paraphrase_eval *e, const cJSON *spec, const char *where)
{
    const cJSON *dl = cJSON_GetObjectItemCaseSensitive(spec, "duplicates_list");
    const cJSON *dd = cJSON_GetObjectItemCaseSensitive(spec, "duplicates_dict");
    dl = cJSON_IsNull(dl) ? NULL : dl;
    dd = cJSON_IsNull(dd) ? NULL : dd;
    int closure = 0;
    if (stc_json_get_bool(spec, "add_transitive_closure", where, &closure))
        return STC_ERR_USAGE;
    size_t n = e->ids.n;
    stc_eval_texts all, uniq;
    stc_eval_texts_init(&all);
    stc_eval_texts_init(&uniq);
    dup_graph g = {0};
    size_t *idx = NULL, n_dict = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = stc_eval_texts_push(&all, e->ids.texts[i], e->ids.lens[i]);
    if (!rc && dd && !(rc = dict_ids(&all, dd, where)))
        n_dict = all.n - n;
    if (!rc && dl)
        rc = load_pairs(&all, dl, where);
    if (!rc && (rc = stc_eval_texts_finish(&all)) == 0 && !(idx = malloc(sizeof *idx * (all.n ? all.n : 1))))
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory (duplicates)");
    if (!rc)
        rc = stc_eval_texts_unique(&all, &uniq, idx);
    for (size_t i = 0; i < n && !rc; i++)
        if (idx[i] != i)
            rc = stc_errorf(STC_ERR_DATA, "%s: \"sentences_map\": id \"%s\" appears twice (sentences %zu and %zu); ids "
                            "must be unique", where, e->ids.texts[i], idx[i] + 1, i + 1);
    if (!rc)
        rc = graph_init(&g, uniq.n);
    /* duplicates_dict as given, then the list's pairs of sentences. */
    size_t k = n;
    for (const cJSON *a = dd ? dd->child : NULL; a && !rc; a = a->next) {
        size_t na = idx[k++];
        graph_add_key(&g, na);
        for (const cJSON *b = a->child; b && !rc; b = b->next)
            rc = graph_set(&g, na, idx[k++], cJSON_IsTrue(b));
    }
    for (k = n + n_dict; k + 1 < all.n && !rc; k += 2) {
        size_t a = idx[k], b = idx[k + 1];
        if (a < n && b < n && !(rc = graph_set(&g, a, b, 1)))
            rc = graph_set(&g, b, a, 1);
    }
    if (!rc && closure)
        rc = graph_close(&g);
    /* Python's positive_key_pairs: entries between two sentences, true one
     * way or the other, counted once per unordered pair. */
    for (size_t ki = 0; ki < g.n_keys && !rc; ki++) {
        size_t a = g.keys[ki];
        for (size_t ed = g.head[a]; ed != (size_t)-1 && !rc; ed = g.next[ed]) {
            size_t b = g.to[ed];
            if (a >= n || b >= n || !(graph_is_true(&g, a, b) || graph_is_true(&g, b, a)))
                continue;
            int is_new;
            rc = map_put(&e->dup, (uint64_t)(a < b ? a : b) * n + (a < b ? b : a), 1, &is_new);
            e->total_dups += !rc && is_new;
        }
    }
    graph_free(&g);
    free(idx);
    stc_eval_texts_free(&all);
    stc_eval_texts_free(&uniq);
    return rc;
}

static int create(void **impl, const cJSON *spec, const char *where)
{
    paraphrase_eval *e = calloc(1, sizeof *e);
    if (!e)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    stc_eval_texts_init(&e->ids);
    stc_eval_texts_init(&e->sentences);
    e->top_k = 100;
    e->max_pairs = 500000;
    e->query_chunk = 5000;
    e->corpus_chunk = 100000;
    const cJSON *sm = cJSON_GetObjectItemCaseSensitive(spec, "sentences_map");
    int rc = 0;
    if ((rc = stc_eval_get_positive(spec, "top_k", where, &e->top_k)) ||
        (rc = stc_eval_get_positive(spec, "max_pairs", where, &e->max_pairs)) ||
        (rc = stc_eval_get_positive(spec, "query_chunk_size", where, &e->query_chunk)) ||
        (rc = stc_eval_get_positive(spec, "corpus_chunk_size", where, &e->corpus_chunk)))
        ;
    else if (!sm || cJSON_IsNull(sm))
        rc = stc_errorf(STC_ERR_USAGE, "%s: \"sentences_map\" ({id: text}, or a JSONL file of {\"_id\", \"text\"}) is "
                        "required", where);
    else if (!(rc = load_sentences(e, sm, where)) && e->ids.n == 0)
        rc = stc_errorf(STC_ERR_DATA, "%s: \"sentences_map\" has no sentences", where);
    if (!rc && e->ids.n > UINT32_MAX)
        rc = stc_errorf(STC_ERR_DATA, "%s: more than %u sentences", where, UINT32_MAX);
    if (!rc)
        rc = build_duplicates(e, spec, where);
    if (rc) {
        destroy(e);
        return rc;
    }
    *impl = e;
    return 0;
}

/* ---- mining ---------------------------------------------------------------------------- */

/* A mined pair; the heap's order is Python's tuple order (score, i, j). */
typedef struct {
    float s;
    uint32_t i, j;
} mined;

static int mined_less(mined a, mined b)
{
    if (a.s != b.s)
        return a.s < b.s;
    return a.i != b.i ? a.i < b.i : a.j < b.j;
}

static void pairs_sift_down(mined *h, size_t n, size_t i)
{
    for (;;) {
        size_t m = i, l = 2 * i + 1, r = l + 1;
        if (l < n && mined_less(h[l], h[m]))
            m = l;
        if (r < n && mined_less(h[r], h[m]))
            m = r;
        if (m == i)
            return;
        mined t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void pairs_push(mined *h, size_t *n, mined x)
{
    size_t i = (*n)++;
    h[i] = x;
    while (i > 0 && mined_less(h[i], h[(i - 1) / 2])) {
        mined t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* heapq.heappushpop: returns the smallest of the heap and x. */
static mined pairs_pushpop(mined *h, size_t n, mined x)
{
    if (!mined_less(h[0], x))
        return x;
    mined out = h[0];
    h[0] = x;
    pairs_sift_down(h, n, 0);
    return out;
}

static int cmp_mined_desc(const void *pa, const void *pb)
{
    const mined *a = pa, *b = pb;
    return mined_less(*b, *a) ? -1 : mined_less(*a, *b);
}

/* Each sentence's best K1 (itself included), rows [b, b + c) of cand
 * ([n, 2 K1]: corpus row, score). */
static int top_lists(const float *emb, size_t n, int D, stc_sim_fn fn, int K1, size_t b, size_t c, double *cand)
{
    stc_eval_hit *top = malloc(sizeof *top * (c ? c : 1) * (size_t)K1);
    if (!top)
        return stc_errorf(STC_ERR_NOMEM, "out of memory (%zu sentences' top lists)", c);
#pragma omp parallel for schedule(dynamic, 4)
    for (size_t q = 0; q < c; q++) {
        stc_eval_hit *h = top + q * (size_t)K1;
        int nh = 0;
        for (size_t j = 0; j < n; j++) {
            stc_eval_hit x = {stc_sim_score(fn, emb + (b + q) * (size_t)D, emb + j * (size_t)D, D), (uint32_t)j};
            stc_eval_topk_push(h, &nh, K1, x, NULL);
        }
        stc_eval_topk_sort(h, nh, NULL);
        for (int r = 0; r < K1; r++) {
            cand[(b + q) * 2 * (size_t)K1 + 2 * (size_t)r] = h[r].doc;
            cand[(b + q) * 2 * (size_t)K1 + 2 * (size_t)r + 1] = h[r].s;
        }
    }
    free(top);
    return 0;
}

/* paraphrase_mining_embeddings' pair heap over the gathered top lists;
 * the pairs best first into *out, *n_out. */
static int mine_pairs(const paraphrase_eval *e, const double *cand, size_t n, int K1, mined **out, size_t *n_out)
{
    size_t cap = (size_t)e->max_pairs, np = 0;
    mined *h = malloc(sizeof *h * (cap < n * (size_t)e->top_k ? cap : n * (size_t)e->top_k + 1));
    u64_map queued = {0}; /* pair -> 1 while in the heap */
    int rc = h ? 0 : stc_errorf(STC_ERR_NOMEM, "out of memory (mined pairs)");
    float min_score = -INFINITY;
    for (size_t i = 0; i < n && !rc; i++) {
        const double *row = cand + i * 2 * (size_t)K1;
        int taken = 0;
        for (int r = 0; r < K1 && taken < e->top_k && !rc; r++) {
            size_t j = (size_t)row[2 * r];
            float s = (float)row[2 * r + 1];
            if (j == i)
                continue;
            taken++;
            if (s <= min_score)
                continue;
            mined x = {s, (uint32_t)(i < j ? i : j), (uint32_t)(i < j ? j : i)};
            uint64_t key = (uint64_t)x.i * n + x.j;
            const uint32_t *q = map_get(&queued, key);
            if (q && *q)
                continue;
            if ((rc = map_put(&queued, key, 1, NULL)))
                break;
            if (np < cap) {
                pairs_push(h, &np, x);
            } else {
                mined ev = pairs_pushpop(h, np, x);
                rc = map_put(&queued, (uint64_t)ev.i * n + ev.j, 0, NULL);
                min_score = ev.s;
            }
        }
    }
    map_free(&queued);
    if (rc) {
        free(h);
        return rc;
    }
    qsort(h, np, sizeof *h, cmp_mined_desc);
    *out = h;
    *n_out = np;
    return 0;
}

static int is_dup(const paraphrase_eval *e, const mined *p)
{
    const uint32_t *v = map_get(&e->dup, (uint64_t)p->i * e->ids.n + p->j);
    return v && *v;
}

static int run(void *impl, const stc_eval_call *call, stc_metrics *out)
{
    paraphrase_eval *e = impl;
    stc_sim_fn fn;
    int rc = stc_sim_model_fn(call->model, &fn);
    if (rc)
        return rc;
    size_t n = e->ids.n;
    float *emb = NULL;
    int D;
    stc_eval_encode_opts o = {.fn = STC_EVAL_ENCODE};
    if ((rc = stc_eval_embed(call, &o, &e->sentences, &emb, &D)))
        return rc;
    if (fn == STC_SIM_COSINE)
        stc_sim_normalize_rows(emb, n, D);
    int K1 = (size_t)e->top_k + 1 < n ? e->top_k + 1 : (int)n;
    size_t b, c;
    stc_eval_rank_slice(call->comm, n, (size_t)call->batch_size, &b, &c);
    double *cand = malloc(sizeof *cand * n * 2 * (size_t)K1);
    mined *pairs = NULL;
    size_t np = 0;
    rc = cand ? top_lists(emb, n, D, fn, K1, b, c, cand) : stc_errorf(STC_ERR_NOMEM, "out of memory (top lists)");
    free(emb);
    if (!rc)
        rc = stc_eval_allgather_rows_f64(call->comm, cand, n, (size_t)call->batch_size, 2 * (size_t)K1);
    if (!rc)
        rc = mine_pairs(e, cand, n, K1, &pairs, &np);
    free(cand);
    if (rc)
        return rc;

    /* The evaluator's sweep over the ranked pairs: at the end of each run
     * of equal scores, precision and recall of the pairs so far. Python's
     * integer 0s stay in place until a value is found (the CSV prints "0"). */
    size_t n_extract = 0, n_correct = 0, prev_correct = 0;
    double threshold = 0, best_f1 = 0, best_p = 0, best_r = 0, ap = 0;
    int found = 0, ap_float = 0;
    for (size_t i = 0; i < np; i++) {
        n_extract++;
        n_correct += (size_t)is_dup(e, &pairs[i]);
        if (i + 1 < np && pairs[i + 1].s == pairs[i].s)
            continue;
        if (n_correct > prev_correct) {
            double p = (double)n_correct / (double)n_extract;
            double r = e->total_dups ? (double)n_correct / (double)e->total_dups : 0.0;
            double f1 = 2 * p * r / (p + r);
            ap += p * (double)(n_correct - prev_correct);
            ap_float = 1;
            if (f1 > best_f1) {
                best_f1 = f1;
                best_p = p;
                best_r = r;
                threshold = ((double)pairs[i].s + (double)pairs[i + 1 < np ? i + 1 : np - 1].s) / 2;
                found = 1;
            }
        }
        prev_correct = n_correct;
    }
    free(pairs);
    if (e->total_dups) {
        ap /= (double)e->total_dups;
        ap_float = 1;
    }
    const char *names[5] = {"average_precision", "f1", "precision", "recall", "threshold"};
    double v[5] = {ap, best_f1, best_p, best_r, threshold};
    for (int i = 0; i < 5 && !rc; i++)
        rc = stc_metrics_add(out, names[i], v[i]);
    if (rc)
        return rc;
    snprintf(out->primary, sizeof out->primary, "average_precision");

    static const int csv_order[5] = {2, 3, 1, 4, 0}; /* precision, recall, f1, threshold, average_precision */
    stc_eval_strs header = {0}, row = {0};
    rc = stc_eval_csv_begin(&header, &row, call);
    for (int i = 0; i < 5 && !rc; i++) {
        int m = csv_order[i];
        rc = stc_eval_strs_push(&header, "%s", names[m]) ||
             ((m == 0 ? ap_float : found) ? stc_eval_strs_push_f64(&row, v[m]) : stc_eval_strs_push(&row, "0"));
    }
    rc = rc ? STC_ERR_NOMEM : stc_eval_csv_append(call, "paraphrase_mining_evaluation", &header, &row, 1);
    stc_eval_strs_free(&header);
    stc_eval_strs_free(&row);
    return rc;
}

const stc_eval_family stc_eval_paraphrase_family = {
    .type = "ParaphraseMiningEvaluator",
    .keys = keys,
    .default_batch_size = 16,
    .create = create,
    .run = run,
    .free = destroy,
};
