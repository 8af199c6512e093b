/*
 * The no_duplicates batch sampler: Sentence Transformers'
 * NoDuplicatesBatchSampler (ST_SPEC.md section 4) over 64-bit hashes of
 * each row's texts. Rule, over the permutation stc_rng_shuffle_i64 makes of
 * 0..n-1: repeatedly scan the remaining rows in order; take a row unless one
 * of its hashes is already in the batch (across columns; a repeat inside
 * the row is fine); stop at G rows; a scan that reaches the end makes a
 * short batch, kept unless drop_last; taken rows leave either way.
 *
 * Cost. Done literally, every row skipped by a batch is looked at again by
 * the next batch's scan. That is cheap while duplicates are spread out, but
 * when one value is shared by more than about 1/G of the rows (an empty
 * negative, a constant column) the skipped rows pile up and every batch
 * rescans them: quadratic (1M rows with 20% sharing a value took 350 s).
 * So rows holding a frequent ("heavy") value are kept apart: the remaining
 * rows form one linked list per set of heavy values they hold (the light
 * list holds rows with none), each in permutation order, and a batch scans
 * the merge of these lists by position. Once a heavy value is in the batch,
 * every list whose set contains it is left out of the merge for the rest of
 * the batch — its rows would all be skipped. The rows visited, and taken,
 * are exactly those of the literal scan, minus rows it would skip anyway,
 * so the batches are identical (tests/test_sampler.c checks this against a
 * literal implementation). Heavy values are found in a fixed sample of
 * rows (pure, so every rank agrees; a value it misses only costs time).
 * The result is O(n * C) plus skips caused by light values, which are
 * bounded by their counts.
 *
 * Shapes: n rows, C hashes per row, G the global batch size, positions =
 * indices into the permutation.
 */
#include "data/sampler.h"
#include "data/sampler_internal.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define STC_PREFETCH(p) __builtin_prefetch(p)
#else
#define STC_PREFETCH(p) ((void)0)
#endif

enum {
    ND_SAMPLE_ROWS = 65536, /* rows sampled to find heavy values */
    ND_MAX_HEAVY = 64,      /* heavy values at most (a bit each in a mask) */
    ND_MAX_QUEUES = 256     /* lists of rows with heavy values at most */
};

/* ------------------------------------------------------------------------ */
/* The batch's hash set                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Open addressing with linear probing over a power-of-two table at most
 * half full (G*C values). A slot is live when its stamp equals the current
 * batch's stamp, so starting a new batch costs nothing.
 */
typedef struct {
    uint64_t *keys;   /* (cap) hashes */
    uint32_t *stamps; /* (cap) batch stamp of each slot; other stamps = empty */
    size_t mask;      /* cap - 1 */
    uint32_t stamp;   /* the current batch's stamp (never 0) */
} hash_set;

/* Smallest power of two >= 2*values (at least 16); 0 if it would not fit. */
static size_t table_cap(size_t values)
{
    size_t cap = 16;
    while (cap < 2 * values) {
        if (cap > SIZE_MAX / 4 / sizeof(uint64_t))
            return 0;
        cap *= 2;
    }
    return cap;
}

static int hash_set_init(hash_set *s, size_t max_values)
{
    size_t cap = table_cap(max_values);
    if (!cap)
        return stc_errorf(STC_ERR_NOMEM, "no_duplicates: batch too large (%zu values)", max_values);
    s->keys = stc_malloc(cap * sizeof *s->keys, "no_duplicates: hash set");
    s->stamps = stc_calloc(cap, sizeof *s->stamps, "no_duplicates: hash set");
    if (!s->keys || !s->stamps)
        return STC_ERR_NOMEM;
    s->mask = cap - 1;
    s->stamp = 0;
    return 0;
}

static void hash_set_free(hash_set *s)
{
    free(s->keys);
    free(s->stamps);
}

/* Empties the set in O(1) (O(cap) once every 2^32 batches). */
static void hash_set_reset(hash_set *s)
{
    if (++s->stamp == 0) {
        memset(s->stamps, 0, (s->mask + 1) * sizeof *s->stamps);
        s->stamp = 1;
    }
}

/* The callers' hashes may be weak (small integers in tests), so the slot
 * comes from the finalizer of the hash. */
static int hash_set_has(const hash_set *s, uint64_t h)
{
    for (size_t i = stc_sampler_fmix64(h) & s->mask;; i = (i + 1) & s->mask) {
        if (s->stamps[i] != s->stamp)
            return 0;
        if (s->keys[i] == h)
            return 1;
    }
}

static void hash_set_add(hash_set *s, uint64_t h)
{
    size_t i = stc_sampler_fmix64(h) & s->mask;
    for (; s->stamps[i] == s->stamp; i = (i + 1) & s->mask)
        if (s->keys[i] == h)
            return;
    s->stamps[i] = s->stamp;
    s->keys[i] = h;
}

/* ------------------------------------------------------------------------ */
/* Heavy values                                                             */
/* ------------------------------------------------------------------------ */

/* A value seen in the sample and how often. */
typedef struct {
    uint64_t value;
    uint32_t count;
} value_count;

/* Most frequent first; ties by value, so the choice is deterministic. */
static int by_count_desc(const void *a, const void *b)
{
    const value_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->value < y->value ? -1 : x->value > y->value;
}

/*
 * The values held (once per row) by more than 1/(4G) of a fixed sample of
 * rows (all rows when n <= ND_SAMPLE_ROWS, else rows i*n/s), at least twice;
 * the ND_MAX_HEAVY most frequent, most frequent first.
 */
static int find_heavy(const uint64_t *H, size_t n, size_t C, size_t G, uint64_t *heavy,
                      int *n_heavy)
{
    *n_heavy = 0;
    size_t s = n < ND_SAMPLE_ROWS ? n : ND_SAMPLE_ROWS;
    if (C == 0 || s == 0)
        return 0;
    size_t threshold = s / (4 * G) + 1;
    if (threshold < 2)
        threshold = 2;
    size_t cap = table_cap(s * C);
    uint64_t *keys = stc_malloc(cap * sizeof *keys, "no_duplicates: sample");
    uint32_t *counts = stc_calloc(cap, sizeof *counts, "no_duplicates: sample");
    value_count *cand = NULL;
    int rc = 0;
    if (!keys || !counts) {
        rc = STC_ERR_NOMEM;
        goto out_free;
    }
    size_t mask = cap - 1, n_cand = 0;
    for (size_t i = 0; i < s; i++) {
        size_t row = s == n ? i : i * (n / s) + i * (n % s) / s;
        const uint64_t *hv = H + row * C;
        for (size_t c = 0; c < C; c++) {
            int repeat = 0;
            for (size_t e = 0; e < c && !repeat; e++)
                repeat = hv[e] == hv[c];
            if (repeat)
                continue;
            size_t j = stc_sampler_fmix64(hv[c]) & mask;
            while (counts[j] && keys[j] != hv[c])
                j = (j + 1) & mask;
            keys[j] = hv[c];
            if (++counts[j] == threshold)
                n_cand++;
        }
    }
    if (!n_cand)
        goto out_free;
    cand = stc_malloc(n_cand * sizeof *cand, "no_duplicates: heavy values");
    if (!cand) {
        rc = STC_ERR_NOMEM;
        goto out_free;
    }
    size_t w = 0;
    for (size_t j = 0; j <= mask; j++)
        if (counts[j] >= threshold)
            cand[w++] = (value_count){keys[j], counts[j]};
    qsort(cand, w, sizeof *cand, by_count_desc);
    *n_heavy = w < ND_MAX_HEAVY ? (int)w : ND_MAX_HEAVY;
    for (int i = 0; i < *n_heavy; i++)
        heavy[i] = cand[i].value;

out_free:
    free(keys);
    free(counts);
    free(cand);
    return rc;
}

/* value -> heavy index, a small fixed table (4 slots per heavy value). */
typedef struct {
    uint64_t keys[4 * ND_MAX_HEAVY];
    int8_t index[4 * ND_MAX_HEAVY]; /* -1 empty */
} heavy_map;

static void heavy_map_init(heavy_map *m, const uint64_t *heavy, int n_heavy)
{
    memset(m->index, -1, sizeof m->index);
    for (int h = 0; h < n_heavy; h++) {
        size_t j = stc_sampler_fmix64(heavy[h]) & (4 * ND_MAX_HEAVY - 1);
        while (m->index[j] >= 0)
            j = (j + 1) & (4 * ND_MAX_HEAVY - 1);
        m->keys[j] = heavy[h];
        m->index[j] = (int8_t)h;
    }
}

/* The bit set of heavy values among a row's hashes (0: a light row). */
static uint64_t heavy_mask(const heavy_map *m, const uint64_t *hv, size_t C)
{
    uint64_t mask = 0;
    for (size_t c = 0; c < C; c++)
        for (size_t j = stc_sampler_fmix64(hv[c]) & (4 * ND_MAX_HEAVY - 1); m->index[j] >= 0;
             j = (j + 1) & (4 * ND_MAX_HEAVY - 1))
            if (m->keys[j] == hv[c]) {
                mask |= (uint64_t)1 << m->index[j];
                break;
            }
    return mask;
}

/* ------------------------------------------------------------------------ */
/* The remaining rows: one list per heavy set                               */
/* ------------------------------------------------------------------------ */

/* Queue 0 holds the light rows; queue q >= 1 the rows whose heavy values
 * are exactly qmask[q]. All lists thread through one `next` array over
 * positions. */
typedef struct {
    int n_queues;
    uint64_t qmask[ND_MAX_QUEUES + 1]; /* heavy set of each queue (0 for queue 0) */
    int64_t head[ND_MAX_QUEUES + 1];   /* first remaining position, -1 none */
    int64_t cur[ND_MAX_QUEUES + 1];    /* this batch's scan position, -1 done */
    int64_t prev[ND_MAX_QUEUES + 1];   /* the last position skipped by this scan, -1 none */
    int heap[ND_MAX_QUEUES];           /* queues 1.. in the merge, min-heap on cur */
    int heap_n;
} queues;

/* Splits positions 0..n-1 into the queues (each in position order).
 * Returns 1 if there would be more than ND_MAX_QUEUES heavy sets (the
 * caller then uses fewer heavy values). */
static int build_queues(queues *Q, int64_t *next, const int64_t *perm, size_t n, const uint64_t *H,
                        size_t C, const heavy_map *hm, int n_heavy)
{
    int64_t tail[ND_MAX_QUEUES + 1];
    /* mask -> queue: a small open-addressing table */
    uint64_t mkeys[2 * ND_MAX_QUEUES];
    int mq[2 * ND_MAX_QUEUES];
    memset(mq, 0, sizeof mq);
    Q->n_queues = 1;
    Q->qmask[0] = 0;
    Q->head[0] = tail[0] = -1;
    for (size_t pos = 0; pos < n; pos++) {
        int q = 0;
        if (n_heavy) {
            uint64_t m = heavy_mask(hm, H + (size_t)perm[pos] * C, C);
            if (m) {
                size_t j = stc_sampler_fmix64(m) & (2 * ND_MAX_QUEUES - 1);
                while (mq[j] && mkeys[j] != m)
                    j = (j + 1) & (2 * ND_MAX_QUEUES - 1);
                if (!mq[j]) {
                    if (Q->n_queues == ND_MAX_QUEUES + 1)
                        return 1;
                    mkeys[j] = m;
                    mq[j] = Q->n_queues;
                    Q->qmask[Q->n_queues] = m;
                    Q->head[Q->n_queues] = tail[Q->n_queues] = -1;
                    Q->n_queues++;
                }
                q = mq[j];
            }
        }
        if (tail[q] == -1)
            Q->head[q] = (int64_t)pos;
        else
            next[tail[q]] = (int64_t)pos;
        tail[q] = (int64_t)pos;
    }
    for (int q = 0; q < Q->n_queues; q++)
        if (tail[q] != -1)
            next[tail[q]] = -1;
    return 0;
}

static void heap_sift_down(queues *Q, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < Q->heap_n && Q->cur[Q->heap[l]] < Q->cur[Q->heap[m]])
            m = l;
        if (r < Q->heap_n && Q->cur[Q->heap[r]] < Q->cur[Q->heap[m]])
            m = r;
        if (m == i)
            return;
        int t = Q->heap[i];
        Q->heap[i] = Q->heap[m];
        Q->heap[m] = t;
        i = m;
    }
}

static void heap_pop(queues *Q)
{
    Q->heap[0] = Q->heap[--Q->heap_n];
    heap_sift_down(Q, 0);
}

/* Starts a batch's scan: every queue from its head, all heavy queues with
 * rows in the merge. */
static void scan_start(queues *Q)
{
    Q->heap_n = 0;
    for (int q = 0; q < Q->n_queues; q++) {
        Q->cur[q] = Q->head[q];
        Q->prev[q] = -1;
        if (q && Q->head[q] != -1)
            Q->heap[Q->heap_n++] = q;
    }
    for (int i = Q->heap_n / 2 - 1; i >= 0; i--)
        heap_sift_down(Q, i);
}

/* ------------------------------------------------------------------------ */
/* The sampler                                                              */
/* ------------------------------------------------------------------------ */

static int plan_no_duplicates(const void *state, const stc_sampler_epoch *ep, int k, stc_rng *rng,
                              stc_batch_list *out)
{
    (void)state;
    const stc_sampler_dataset *d = &ep->datasets[k];
    size_t n = d->n_rows, G = ep->batch_size, C = (size_t)d->n_hash_columns;
    const uint64_t *H = d->hashes;
    if (n == 0)
        return 0;
    if (C && G > SIZE_MAX / 2 / C)
        return stc_errorf(STC_ERR_USAGE, "no_duplicates: batch size %zu too large", G);
    int rc = stc_batch_list_reserve(out, n / G + 1, n);
    if (rc)
        return rc;
    int64_t *perm = stc_malloc(n * sizeof *perm, "no_duplicates: permutation");
    int64_t *next = stc_malloc(n * sizeof *next, "no_duplicates: remaining lists");
    queues *Q = stc_malloc(sizeof *Q, "no_duplicates: lists");
    hash_set set = {0};
    if (!perm || !next || !Q) {
        rc = STC_ERR_NOMEM;
        goto out_free;
    }
    if ((rc = hash_set_init(&set, G * C)))
        goto out_free;
    for (size_t i = 0; i < n; i++)
        perm[i] = (int64_t)i;
    stc_rng_shuffle_i64(rng, perm, n);

    uint64_t heavy[ND_MAX_HEAVY];
    int n_heavy;
    if ((rc = find_heavy(H, n, C, G, heavy, &n_heavy)))
        goto out_free;
    heavy_map hm;
    for (;;) {
        heavy_map_init(&hm, heavy, n_heavy);
        if (!build_queues(Q, next, perm, n, H, C, &hm, n_heavy))
            break;
        n_heavy /= 2; /* too many heavy sets: keep the most frequent half (8 always fit) */
    }

    size_t remaining = n, written = 0; /* rows of kept batches in out->rows */
    while (remaining) {
        hash_set_reset(&set);
        scan_start(Q);
        uint64_t in_batch = 0; /* heavy values in the batch */
        size_t taken = 0;
        int full = 0;
        for (;;) {
            /* The next position of the merge: the light list or the first
             * heavy queue none of whose values is in the batch. */
            while (Q->heap_n && (Q->qmask[Q->heap[0]] & in_batch))
                heap_pop(Q);
            int q;
            if (Q->heap_n && (Q->cur[0] == -1 || Q->cur[Q->heap[0]] < Q->cur[0]))
                q = Q->heap[0];
            else if (Q->cur[0] != -1)
                q = 0;
            else
                break; /* the scan reached the end */
            int64_t pos = Q->cur[q], nx = next[pos];
            if (q == 0 && nx != -1 && (size_t)nx + 8 < n)
                STC_PREFETCH(H + (size_t)perm[nx + 8] * C);
            const uint64_t *hv = H + (size_t)perm[pos] * C;
            int clash = 0;
            for (size_t c = 0; c < C && !clash; c++)
                clash = hash_set_has(&set, hv[c]);
            Q->cur[q] = nx;
            if (clash) {
                Q->prev[q] = pos;
            } else {
                /* Take the row: it joins the batch and leaves its list. */
                out->rows[written + taken++] = perm[pos];
                if (Q->prev[q] == -1)
                    Q->head[q] = nx;
                else
                    next[Q->prev[q]] = nx;
                remaining--;
                if (taken == G) {
                    full = 1;
                    break;
                }
                for (size_t c = 0; c < C; c++)
                    hash_set_add(&set, hv[c]);
                in_batch |= Q->qmask[q]; /* q itself leaves the merge */
            }
            if (q) {
                if (nx == -1)
                    heap_pop(Q);
                else
                    heap_sift_down(Q, 0);
            }
        }
        if (full || !ep->drop_last) {
            /* Short batches can make more than n/G + 1 batches. */
            if (out->n_batches == out->batches_cap && (rc = stc_batch_list_reserve(out, 1, 0)))
                goto out_free;
            written += taken;
            out->offsets[++out->n_batches] = written;
        }
    }

out_free:
    hash_set_free(&set);
    free(perm);
    free(next);
    free(Q);
    return rc;
}

const stc_sampler_ops stc_sampler_builtin_no_duplicates = {
    .name = "no_duplicates",
    .kind = STC_SAMPLER_BATCH,
    .plan_batches = plan_no_duplicates,
};

/* Python's NO_DUPLICATES_HASHED is the same rule with precomputed hashes,
 * which stc always uses. */
const stc_sampler_ops stc_sampler_builtin_no_duplicates_hashed = {
    .name = "no_duplicates_hashed",
    .kind = STC_SAMPLER_BATCH,
    .plan_batches = plan_no_duplicates,
};
