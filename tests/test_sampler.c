/*
 * Batch samplers, multi-dataset samplers, rank slices and the custom-sampler
 * API (data/sampler.h). Each built-in sampler is checked two ways: against a
 * naive re-implementation of its rule written here from ST_SPEC.md section 4
 * (over the documented rng streams), and by the structural properties the
 * trainer relies on (every row once per epoch, no repeated text in a
 * no_duplicates batch, label groups kept whole, world sizes 1/2/4 giving the
 * same global batches, rank slices partitioning each batch).
 *
 * `test_sampler --big` instead plans 10-million-row epochs and prints the
 * time taken.
 */
#include "check.h"
#include "data/sampler.h"
#include "util/error.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const stc_sampler_ops stc_temperature_sampler; /* configs/samplers/temperature_sampler.c */

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A sampler from names (NULL: defaults) and params given as JSON text. */
static stc_sampler *make_sampler(const char *batch, const char *batch_params, const char *multi,
                                 const char *multi_params, int per_device, int world,
                                 int drop_last, uint64_t seed)
{
    cJSON *bp = batch_params ? cJSON_Parse(batch_params) : NULL;
    cJSON *mp = multi_params ? cJSON_Parse(multi_params) : NULL;
    stc_sampler_config cfg = {batch, bp, multi, mp, per_device, world, drop_last, seed};
    stc_sampler *s = NULL;
    int rc = stc_sampler_create(&s, &cfg);
    CHECK_MSG(rc == 0, "create %s/%s: %s", batch ? batch : "-", multi ? multi : "-",
              stc_error_message());
    cJSON_Delete(bp); /* samplers copy what they keep */
    cJSON_Delete(mp);
    return s;
}

/* The error stc_sampler_create gives (0 if none), for refusal tests. */
static int create_error(const char *batch, const char *batch_params, const char *multi,
                        const char *multi_params, int per_device, const char *expect)
{
    cJSON *bp = batch_params ? cJSON_Parse(batch_params) : NULL;
    cJSON *mp = multi_params ? cJSON_Parse(multi_params) : NULL;
    stc_sampler_config cfg = {batch, bp, multi, mp, per_device, 1, 0, 1};
    stc_sampler *s = NULL;
    stc_error_clear();
    int rc = stc_sampler_create(&s, &cfg);
    if (rc == 0)
        stc_sampler_free(s);
    else
        CHECK_MSG(strstr(stc_error_message(), expect) != NULL, "message \"%s\" lacks \"%s\"",
                  stc_error_message(), expect);
    cJSON_Delete(bp);
    cJSON_Delete(mp);
    return rc;
}

static int plans_equal(const stc_epoch_plan *a, const stc_epoch_plan *b)
{
    size_t n = a->batches.n_batches;
    if (n != b->batches.n_batches)
        return 0;
    if (n == 0)
        return 1;
    if (memcmp(a->batches.offsets, b->batches.offsets, (n + 1) * sizeof(size_t)) ||
        memcmp(a->dataset, b->dataset, n * sizeof(int32_t)))
        return 0;
    return !memcmp(a->batches.rows, b->batches.rows, a->batches.offsets[n] * sizeof(int64_t));
}

static int lists_equal(const stc_batch_list *a, const stc_batch_list *b)
{
    if (a->n_batches != b->n_batches)
        return 0;
    for (size_t i = 0; i < a->n_batches; i++) {
        size_t la = a->offsets[i + 1] - a->offsets[i], lb = b->offsets[i + 1] - b->offsets[i];
        if (la != lb ||
            memcmp(a->rows + a->offsets[i], b->rows + b->offsets[i], la * sizeof(int64_t)))
            return 0;
    }
    return 1;
}

/* Times each (dataset, row) appears in the plan; counts[k] has n_rows[k]. */
static size_t **count_rows(const stc_epoch_plan *p, const stc_sampler_dataset *ds, int K)
{
    size_t **counts = calloc((size_t)K, sizeof *counts);
    for (int k = 0; k < K; k++)
        counts[k] = calloc(ds[k].n_rows + 1, sizeof **counts);
    for (size_t b = 0; b < p->batches.n_batches; b++)
        for (size_t i = p->batches.offsets[b]; i < p->batches.offsets[b + 1]; i++)
            counts[p->dataset[b]][p->batches.rows[i]]++;
    return counts;
}

static void free_counts(size_t **c, int K)
{
    for (int k = 0; k < K; k++)
        free(c[k]);
    free(c);
}

/* Every row of every dataset exactly once (want_all) or at most once. */
static void check_rows_once(const stc_epoch_plan *p, const stc_sampler_dataset *ds, int K,
                            int want_all, const char *what)
{
    size_t **c = count_rows(p, ds, K);
    size_t bad = 0;
    for (int k = 0; k < K; k++)
        for (size_t r = 0; r < ds[k].n_rows; r++)
            if (c[k][r] > 1 || (want_all && c[k][r] != 1))
                bad++;
    CHECK_MSG(bad == 0, "%s: %zu rows not used exactly %s", what, bad, want_all ? "once" : "<= once");
    free_counts(c, K);
}

/* The permutation the header documents for dataset k's batch sampler. */
static int64_t *ref_perm(uint64_t seed, int64_t epoch, int k, int pass, size_t n)
{
    int64_t *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = (int64_t)i;
    stc_rng rng;
    stc_rng_init(&rng, seed + (uint64_t)epoch, STC_SAMPLER_STREAM_BATCH(k, pass));
    stc_rng_shuffle_i64(&rng, p, n);
    return p;
}

/* ------------------------------------------------------------------------ */
/* Reference samplers (naive, written from ST_SPEC.md)                      */
/* ------------------------------------------------------------------------ */

/* NoDuplicatesBatchSampler._iter_one_pass as a plain array of remaining
 * rows and a linear search over the batch's values. */
static void ref_no_duplicates(const int64_t *perm, size_t n, const uint64_t *H, int C, size_t G,
                              int drop_last, stc_batch_list *out)
{
    int64_t *remaining = malloc((n ? n : 1) * sizeof *remaining);
    int64_t *batch = malloc(G * sizeof *batch);
    uint64_t *values = malloc((G * (size_t)C + 1) * sizeof *values);
    memcpy(remaining, perm, n * sizeof *remaining);
    size_t n_rem = n;
    stc_batch_list_clear(out);
    while (n_rem) {
        size_t nb = 0, nv = 0, keep = 0;
        int full = 0;
        size_t i = 0;
        for (; i < n_rem; i++) {
            int64_t row = remaining[i];
            int clash = 0;
            for (int c = 0; c < C && !clash; c++)
                for (size_t v = 0; v < nv && !clash; v++)
                    clash = H[row * C + c] == values[v];
            if (clash) {
                remaining[keep++] = row;
                continue;
            }
            batch[nb++] = row;
            if (nb == G) {
                full = 1;
                i++;
                break;
            }
            for (int c = 0; c < C; c++)
                values[nv++] = H[row * C + c];
        }
        for (; i < n_rem; i++)
            remaining[keep++] = remaining[i];
        n_rem = keep;
        if (full || !drop_last)
            stc_batch_list_append(out, batch, nb);
    }
    free(remaining);
    free(batch);
    free(values);
}

/* GroupByLabelBatchSampler (ST 5.x): groups by first occurrence (quadratic
 * search), truncated to even counts, shuffled group order, rows in dataset
 * order, cut into G. */
static void ref_group_by_label(const int64_t *labels, size_t n, size_t G, int drop_last,
                               uint64_t seed, int64_t epoch, int k, stc_batch_list *out)
{
    int64_t *glabel = malloc((n + 1) * sizeof *glabel);
    size_t n_groups = 0;
    for (size_t r = 0; r < n; r++) {
        size_t g = 0;
        while (g < n_groups && glabel[g] != labels[r])
            g++;
        if (g == n_groups)
            glabel[n_groups++] = labels[r];
    }
    int64_t *kept = malloc((n_groups + 1) * sizeof *kept);
    size_t n_kept = 0;
    for (size_t g = 0; g < n_groups; g++) {
        size_t cnt = 0;
        for (size_t r = 0; r < n; r++)
            cnt += labels[r] == glabel[g];
        if (cnt >= 2)
            kept[n_kept++] = (int64_t)g;
    }
    stc_rng rng;
    stc_rng_init(&rng, seed + (uint64_t)epoch, STC_SAMPLER_STREAM_BATCH(k, 0));
    stc_rng_shuffle_i64(&rng, kept, n_kept);
    int64_t *stream = malloc((n + 1) * sizeof *stream);
    size_t w = 0;
    for (size_t i = 0; i < n_kept; i++) {
        int64_t lab = glabel[kept[i]];
        size_t cnt = 0;
        for (size_t r = 0; r < n; r++)
            cnt += labels[r] == lab;
        cnt &= ~(size_t)1;
        for (size_t r = 0; r < n && cnt; r++)
            if (labels[r] == lab) {
                stream[w++] = (int64_t)r;
                cnt--;
            }
    }
    stc_batch_list_clear(out);
    for (size_t at = 0; at < w; at += G) {
        size_t m = w - at < G ? w - at : G;
        if (m < G && drop_last)
            break;
        stc_batch_list_append(out, stream + at, m);
    }
    free(glabel);
    free(kept);
    free(stream);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */
/* ------------------------------------------------------------------------ */

static void test_rng(void)
{
    stc_rng a, b, c;
    stc_rng_init(&a, 42, 7);
    stc_rng_init(&b, 42, 7);
    stc_rng_init(&c, 42, 8);
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = stc_rng_next(&a), y = stc_rng_next(&b), z = stc_rng_next(&c);
        same &= x == y;
        diff += x != z;
    }
    CHECK(same);
    CHECK(diff == 100);
    /* SplitMix64's first output from state 0 is a published value: with the
     * init rule, state = fmix(fmix(0) ^ fmix(K)) — so test the step alone. */
    stc_rng z = {0};
    CHECK(stc_rng_next(&z) == 0xE220A8397B1DCDAFull);

    /* below(n): in range and close to uniform. */
    enum { N = 10, DRAWS = 200000 };
    size_t hist[N] = {0};
    double umin = 1, umax = 0;
    for (int i = 0; i < DRAWS; i++) {
        uint64_t v = stc_rng_below(&a, N);
        CHECK(v < N);
        if (v < N)
            hist[v]++;
        double u = stc_rng_uniform(&a);
        umin = u < umin ? u : umin;
        umax = u > umax ? u : umax;
    }
    for (int i = 0; i < N; i++)
        CHECK_NEAR((double)hist[i] / DRAWS, 0.1, 0.005);
    CHECK(umin >= 0 && umin < 0.001 && umax < 1 && umax > 0.999);
    CHECK(stc_rng_below(&a, 1) == 0);
    /* A huge n (rejection threshold near 2^63) still terminates in range. */
    CHECK(stc_rng_below(&a, (1ull << 63) + 1) <= (1ull << 63));

    int64_t p[1000];
    for (int i = 0; i < 1000; i++)
        p[i] = i;
    stc_rng_shuffle_i64(&a, p, 1000);
    char seen[1000] = {0};
    int perm_ok = 1, moved = 0;
    for (int i = 0; i < 1000; i++) {
        perm_ok &= p[i] >= 0 && p[i] < 1000 && !seen[p[i]];
        if (p[i] >= 0 && p[i] < 1000)
            seen[p[i]] = 1;
        moved += p[i] != i;
    }
    CHECK(perm_ok);
    CHECK(moved > 900);

    /* Text hash: equal bytes equal hash; one changed byte, a longer text or
     * a trailing NUL give another. */
    char buf[80], buf2[80];
    for (int i = 0; i < 80; i++)
        buf[i] = (char)('a' + i % 26);
    int hash_ok = 1;
    for (size_t len = 0; len <= 70; len++) {
        memcpy(buf2, buf, sizeof buf);
        uint64_t h = stc_sampler_hash_text(buf, len);
        hash_ok &= h == stc_sampler_hash_text(buf2, len);
        hash_ok &= h != stc_sampler_hash_text(buf, len + 1);
        for (size_t i = 0; i < len; i++) {
            buf2[i] ^= 1;
            hash_ok &= h != stc_sampler_hash_text(buf2, len);
            buf2[i] ^= 1;
        }
    }
    CHECK(hash_ok);
    CHECK(stc_sampler_hash_text("a", 1) != stc_sampler_hash_text("a\0", 2));
}

static void test_batch_sampler(void)
{
    stc_sampler_dataset ds = {.name = "d", .n_rows = 103};
    for (int drop = 0; drop <= 1; drop++) {
        stc_sampler *s = make_sampler(NULL, NULL, NULL, NULL, 10, 1, drop, 42);
        stc_epoch_plan p0, p0b, p1;
        stc_epoch_plan_init(&p0);
        stc_epoch_plan_init(&p0b);
        stc_epoch_plan_init(&p1);
        CHECK(stc_sampler_plan_epoch(s, &ds, 1, 0, &p0) == 0);
        CHECK(stc_sampler_plan_epoch(s, &ds, 1, 0, &p0b) == 0);
        CHECK(stc_sampler_plan_epoch(s, &ds, 1, 1, &p1) == 0);
        CHECK(stc_epoch_plan_num_batches(&p0) == (drop ? 10u : 11u));
        CHECK(stc_batch_list_num_rows(&p0.batches) == (drop ? 100u : 103u));
        for (size_t b = 0; b < p0.batches.n_batches; b++)
            CHECK(p0.batches.offsets[b + 1] - p0.batches.offsets[b] ==
                  (b == 10 ? 3u : 10u));
        check_rows_once(&p0, &ds, 1, !drop, "batch_sampler");
        /* The rows are the documented permutation, in order. */
        int64_t *perm = ref_perm(42, 0, 0, 0, 103);
        CHECK(!memcmp(p0.batches.rows, perm, stc_batch_list_num_rows(&p0.batches) * sizeof *perm));
        free(perm);
        CHECK(plans_equal(&p0, &p0b));
        CHECK(!plans_equal(&p0, &p1)); /* a new epoch reshuffles */
        stc_sampler *s2 = make_sampler(NULL, NULL, NULL, NULL, 10, 1, drop, 43);
        stc_epoch_plan q;
        stc_epoch_plan_init(&q);
        CHECK(stc_sampler_plan_epoch(s2, &ds, 1, 0, &q) == 0);
        CHECK(!plans_equal(&p0, &q)); /* another seed, another order */
        /* seed + epoch: (42, epoch 1) is (43, epoch 0), as in Python. */
        CHECK(!memcmp(q.batches.rows, p1.batches.rows, 100 * sizeof(int64_t)));
        stc_epoch_plan_free(&q);
        stc_sampler_free(s2);
        stc_epoch_plan_free(&p0);
        stc_epoch_plan_free(&p0b);
        stc_epoch_plan_free(&p1);
        stc_sampler_free(s);
    }
    /* Fewer rows than a batch; an empty dataset. */
    stc_sampler *s = make_sampler("BATCH_SAMPLER", NULL, NULL, NULL, 8, 2, 1, 1);
    stc_epoch_plan p;
    stc_epoch_plan_init(&p);
    stc_sampler_dataset small = {.n_rows = 15};
    CHECK(stc_sampler_plan_epoch(s, &small, 1, 0, &p) == 0 && stc_epoch_plan_num_batches(&p) == 0);
    stc_sampler_dataset empty = {.n_rows = 0};
    CHECK(stc_sampler_plan_epoch(s, &empty, 1, 0, &p) == 0 && stc_epoch_plan_num_batches(&p) == 0);
    stc_epoch_plan_free(&p);
    stc_sampler_free(s);
}

/* True if no hash appears in two different rows of any batch. */
static int batches_have_no_duplicates(const stc_batch_list *l, const uint64_t *H, int C)
{
    for (size_t b = 0; b < l->n_batches; b++)
        for (size_t i = l->offsets[b]; i < l->offsets[b + 1]; i++)
            for (size_t j = i + 1; j < l->offsets[b + 1]; j++)
                for (int x = 0; x < C; x++)
                    for (int y = 0; y < C; y++)
                        if (H[l->rows[i] * C + x] == H[l->rows[j] * C + y])
                            return 0;
    return 1;
}

static void test_no_duplicates(void)
{
    enum { N = 600, C = 2 };
    static uint64_t H[N * C];
    stc_rng g;
    stc_rng_init(&g, 99, 0);
    int inside_dups = 0;
    for (int i = 0; i < N; i++) {
        /* Small overlapping alphabets: anchors repeat, and an anchor value
         * is often another row's positive (cross-column duplicates). */
        H[i * C] = stc_rng_below(&g, 250);
        H[i * C + 1] = 200 + stc_rng_below(&g, 300);
        if (i % 37 == 0) {
            H[i * C + 1] = H[i * C]; /* a duplicate inside one row is fine */
            inside_dups++;
        }
    }
    stc_sampler_dataset ds = {.name = "nd", .n_rows = N, .n_hash_columns = C, .hashes = H};
    for (int drop = 0; drop <= 1; drop++) {
        for (int64_t epoch = 0; epoch < 3; epoch++) {
            stc_sampler *s = make_sampler("no_duplicates", NULL, NULL, NULL, 16, 1, drop, 5);
            stc_epoch_plan p;
            stc_epoch_plan_init(&p);
            CHECK(stc_sampler_plan_epoch(s, &ds, 1, epoch, &p) == 0);
            stc_batch_list ref;
            stc_batch_list_init(&ref);
            int64_t *perm = ref_perm(5, epoch, 0, 0, N);
            ref_no_duplicates(perm, N, H, C, 16, drop, &ref);
            CHECK_MSG(lists_equal(&p.batches, &ref), "no_duplicates != reference (drop %d epoch %lld)",
                      drop, (long long)epoch);
            CHECK(batches_have_no_duplicates(&p.batches, H, C));
            check_rows_once(&p, &ds, 1, !drop, "no_duplicates");
            /* The reported count is the batches there are; short batches
             * only when a scan ran out (so only at or after the first). */
            size_t short_batches = 0, first_short = SIZE_MAX;
            for (size_t b = 0; b < p.batches.n_batches; b++)
                if (p.batches.offsets[b + 1] - p.batches.offsets[b] < 16) {
                    short_batches++;
                    if (first_short == SIZE_MAX)
                        first_short = b;
                }
            if (drop)
                CHECK(short_batches == 0);
            else
                CHECK(short_batches >= 1); /* these data run out mid-way */
            /* Rows with an in-row duplicate are used (drop_last off). */
            if (!drop) {
                size_t **cnt = count_rows(&p, &ds, 1);
                int used = 0;
                for (int i = 0; i < N; i += 37)
                    used += cnt[0][i] == 1;
                CHECK(used == inside_dups);
                free_counts(cnt, 1);
            }
            /* A later epoch differs. */
            if (epoch == 1) {
                stc_epoch_plan p0;
                stc_epoch_plan_init(&p0);
                CHECK(stc_sampler_plan_epoch(s, &ds, 1, 0, &p0) == 0);
                CHECK(!plans_equal(&p0, &p));
                stc_epoch_plan_free(&p0);
            }
            free(perm);
            stc_batch_list_free(&ref);
            stc_epoch_plan_free(&p);
            stc_sampler_free(s);
        }
    }

    /* Skewed data, three columns: a value in 30% of the anchors, one in 10%
     * of the positives, rows holding both, rows holding a frequent value
     * twice, and light repeats. Frequent values take no_duplicates' list
     * per heavy set; the batches must still be the literal scan's. */
    enum { S = 900, C3 = 3 };
    static uint64_t H3[S * C3];
    for (int i = 0; i < S; i++) {
        uint64_t u = stc_rng_below(&g, 100);
        H3[i * C3] = u < 30 ? 7 : 1000 + stc_rng_below(&g, 400);
        H3[i * C3 + 1] = u >= 25 && u < 35 ? 9 : 2000 + stc_rng_below(&g, 600);
        H3[i * C3 + 2] = u >= 90 ? 11 : u >= 85 ? 7 : 3000 + (uint64_t)i;
        if (u == 99)
            H3[i * C3 + 1] = 11; /* the same frequent value twice in a row */
    }
    stc_sampler_dataset skew = {.name = "skew", .n_rows = S, .n_hash_columns = C3, .hashes = H3};
    for (int drop = 0; drop <= 1; drop++)
        for (int G = 4; G <= 32; G *= 2)
            for (int64_t epoch = 0; epoch < 2; epoch++) {
                stc_sampler *s = make_sampler("no_duplicates", NULL, NULL, NULL, G / 2, 2, drop, 77);
                stc_epoch_plan p;
                stc_epoch_plan_init(&p);
                CHECK(stc_sampler_plan_epoch(s, &skew, 1, epoch, &p) == 0);
                stc_batch_list ref;
                stc_batch_list_init(&ref);
                int64_t *perm = ref_perm(77, epoch, 0, 0, S);
                ref_no_duplicates(perm, S, H3, C3, (size_t)G, drop, &ref);
                CHECK_MSG(lists_equal(&p.batches, &ref),
                          "skewed no_duplicates != reference (G %d drop %d epoch %lld)", G, drop,
                          (long long)epoch);
                CHECK(batches_have_no_duplicates(&p.batches, H3, C3));
                check_rows_once(&p, &skew, 1, !drop, "skewed no_duplicates");
                free(perm);
                stc_batch_list_free(&ref);
                stc_epoch_plan_free(&p);
                stc_sampler_free(s);
            }

    /* Many frequent values (more heavy sets than the sampler keeps lists
     * for): 40 values spread over two columns. */
    for (int i = 0; i < S; i++) {
        H3[i * C3] = stc_rng_below(&g, 40);
        H3[i * C3 + 1] = 100 + stc_rng_below(&g, 40);
        H3[i * C3 + 2] = 200 + stc_rng_below(&g, 40);
    }
    for (int drop = 0; drop <= 1; drop++) {
        stc_sampler *s = make_sampler("no_duplicates", NULL, NULL, NULL, 16, 1, drop, 3);
        stc_epoch_plan p;
        stc_epoch_plan_init(&p);
        CHECK(stc_sampler_plan_epoch(s, &skew, 1, 0, &p) == 0);
        stc_batch_list ref;
        stc_batch_list_init(&ref);
        int64_t *perm = ref_perm(3, 0, 0, 0, S);
        ref_no_duplicates(perm, S, H3, C3, 16, drop, &ref);
        CHECK(lists_equal(&p.batches, &ref));
        free(perm);
        stc_batch_list_free(&ref);
        stc_epoch_plan_free(&p);
        stc_sampler_free(s);
    }

    /* One value shared by every row: batches of one row each (drop_last
     * off) or none (on). */
    static uint64_t same[50 * 2];
    for (int i = 0; i < 50; i++) {
        same[2 * i] = 7;
        same[2 * i + 1] = 1000 + (uint64_t)i;
    }
    stc_sampler_dataset one = {.n_rows = 50, .n_hash_columns = 2, .hashes = same};
    for (int drop = 0; drop <= 1; drop++) {
        stc_sampler *s = make_sampler("NO_DUPLICATES", NULL, NULL, NULL, 4, 1, drop, 5);
        stc_epoch_plan p;
        stc_epoch_plan_init(&p);
        CHECK(stc_sampler_plan_epoch(s, &one, 1, 0, &p) == 0);
        CHECK(stc_epoch_plan_num_batches(&p) == (drop ? 0u : 50u));
        stc_epoch_plan_free(&p);
        stc_sampler_free(s);
    }

    /* No text columns: nothing can clash, so it is batch_sampler's plan;
     * no_duplicates_hashed is the same sampler. */
    stc_sampler_dataset nocol = {.n_rows = 77};
    stc_sampler *a = make_sampler("no_duplicates_hashed", NULL, NULL, NULL, 8, 1, 0, 3);
    stc_sampler *b = make_sampler("batch_sampler", NULL, NULL, NULL, 8, 1, 0, 3);
    stc_epoch_plan pa, pb;
    stc_epoch_plan_init(&pa);
    stc_epoch_plan_init(&pb);
    CHECK(stc_sampler_plan_epoch(a, &nocol, 1, 2, &pa) == 0);
    CHECK(stc_sampler_plan_epoch(b, &nocol, 1, 2, &pb) == 0);
    CHECK(plans_equal(&pa, &pb));
    stc_epoch_plan_free(&pa);
    stc_epoch_plan_free(&pb);
    stc_sampler_free(a);
    stc_sampler_free(b);
}

static void test_group_by_label(void)
{
    enum { N = 300 };
    static int64_t lab[N];
    static double labd[N];
    stc_rng g;
    stc_rng_init(&g, 11, 0);
    for (int i = 0; i < N; i++) {
        /* 40 common labels, plus singletons (1000 + i) every 13th row. */
        lab[i] = i % 13 == 0 ? 1000 + i : (int64_t)stc_rng_below(&g, 40);
        labd[i] = (double)lab[i];
    }
    stc_sampler_dataset ds = {.name = "g", .n_rows = N, .labels_i64 = lab};
    stc_sampler_dataset dsd = {.name = "g", .n_rows = N, .labels_f64 = labd};
    for (int drop = 0; drop <= 1; drop++) {
        stc_sampler *s = make_sampler("group_by_label", NULL, NULL, NULL, 8, 1, drop, 21);
        stc_epoch_plan p, pd, p1;
        stc_epoch_plan_init(&p);
        stc_epoch_plan_init(&pd);
        stc_epoch_plan_init(&p1);
        CHECK(stc_sampler_plan_epoch(s, &ds, 1, 0, &p) == 0);
        CHECK(stc_sampler_plan_epoch(s, &dsd, 1, 0, &pd) == 0);
        CHECK(stc_sampler_plan_epoch(s, &ds, 1, 1, &p1) == 0);
        stc_batch_list ref;
        stc_batch_list_init(&ref);
        ref_group_by_label(lab, N, 8, drop, 21, 0, 0, &ref);
        CHECK(lists_equal(&p.batches, &ref));
        CHECK(plans_equal(&p, &pd)); /* int64 and double labels agree */
        CHECK(!plans_equal(&p, &p1)); /* a new epoch shuffles the groups */

        /* Structure: along the concatenated rows, each label occupies one
         * contiguous run holding its first even number of rows, in dataset
         * order; singletons and odd leftovers never appear. */
        size_t total = stc_batch_list_num_rows(&p.batches);
        const int64_t *rows = p.batches.rows;
        int structure_ok = 1;
        size_t kept_expected = 0;
        for (int i = 0; i < N; i++) {
            /* first occurrence of its label: compute its kept rows */
            int first = 1;
            for (int j = 0; j < i && first; j++)
                first = lab[j] != lab[i];
            if (!first)
                continue;
            size_t cnt = 0;
            for (int j = 0; j < N; j++)
                cnt += lab[j] == lab[i];
            kept_expected += cnt & ~(size_t)1;
        }
        for (size_t a = 0; a < total;) {
            size_t e = a;
            while (e < total && lab[rows[e]] == lab[rows[a]])
                e++;
            /* the run [a, e): its rows are the label's first e-a rows */
            size_t cnt = 0, seen = 0;
            for (int j = 0; j < N; j++)
                cnt += lab[j] == lab[rows[a]];
            for (int j = 0; j < N && seen < e - a; j++)
                if (lab[j] == lab[rows[a]]) {
                    /* the run may be cut by drop_last at the end only */
                    structure_ok &= rows[a + seen] == j;
                    seen++;
                }
            if (e < total || !drop)
                structure_ok &= (e - a) == (cnt & ~(size_t)1);
            structure_ok &= cnt >= 2;
            a = e;
        }
        CHECK(structure_ok);
        if (drop)
            CHECK(total == kept_expected / 8 * 8);
        else
            CHECK(total == kept_expected);
        for (size_t b = 0; b + 1 < p.batches.n_batches; b++)
            CHECK(p.batches.offsets[b + 1] - p.batches.offsets[b] == 8);
        stc_batch_list_free(&ref);
        stc_epoch_plan_free(&p);
        stc_epoch_plan_free(&pd);
        stc_epoch_plan_free(&p1);
        stc_sampler_free(s);
    }

    /* -0.0 and 0.0 are one label; NaN is refused; odd G and a dataset
     * without labels are refused. */
    double z[4] = {0.0, -0.0, 1.0, 1.0};
    stc_sampler_dataset dz = {.n_rows = 4, .labels_f64 = z};
    stc_sampler *s = make_sampler("group_by_label", NULL, NULL, NULL, 4, 1, 0, 1);
    stc_epoch_plan p;
    stc_epoch_plan_init(&p);
    CHECK(stc_sampler_plan_epoch(s, &dz, 1, 0, &p) == 0);
    CHECK(stc_epoch_plan_num_batches(&p) == 1 && stc_batch_list_num_rows(&p.batches) == 4);
    z[2] = NAN;
    CHECK(stc_sampler_plan_epoch(s, &dz, 1, 0, &p) == STC_ERR_DATA);
    CHECK(strstr(stc_error_message(), "NaN") != NULL);
    stc_sampler_dataset nolab = {.name = "plain", .n_rows = 4};
    CHECK(stc_sampler_plan_epoch(s, &nolab, 1, 0, &p) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "plain") != NULL);
    stc_sampler_free(s);
    s = make_sampler("group_by_label", NULL, NULL, NULL, 3, 1, 0, 1);
    CHECK(stc_sampler_plan_epoch(s, &ds, 1, 0, &p) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "even") != NULL);
    stc_sampler_free(s);
    /* An odd per-device size on an even world is an even global batch. */
    s = make_sampler("group_by_label", NULL, NULL, NULL, 3, 2, 0, 1);
    CHECK(stc_sampler_plan_epoch(s, &ds, 1, 0, &p) == 0);
    stc_sampler_free(s);
    stc_epoch_plan_free(&p);
}

/* Three datasets of 50, 23 and 80 rows (8 / 3 / 10 batches of 8 with a
 * short last one; 6 / 2 / 10 with drop_last). */
static void three_datasets(stc_sampler_dataset ds[3])
{
    memset(ds, 0, 3 * sizeof *ds);
    ds[0].name = "a";
    ds[0].n_rows = 50;
    ds[1].name = "b";
    ds[1].n_rows = 23;
    ds[2].name = "c";
    ds[2].n_rows = 80;
}

/* The plan's batches of dataset k, in order, equal the first m batches of
 * dataset k's own plans (pass 0, then 1, ...). */
static int batches_follow_dataset_plans(const stc_sampler *s, const stc_epoch_plan *p,
                                        const stc_sampler_dataset *ds, int K, int k)
{
    stc_batch_list own;
    stc_batch_list_init(&own);
    int pass = 0, ok = 1;
    size_t cursor = 0;
    if (stc_sampler_plan_dataset(s, ds, K, k, p->epoch, pass, &own))
        return 0;
    for (size_t b = 0; b < p->batches.n_batches && ok; b++) {
        if (p->dataset[b] != k)
            continue;
        if (cursor == own.n_batches) {
            if (stc_sampler_plan_dataset(s, ds, K, k, p->epoch, ++pass, &own) || !own.n_batches)
                return 0;
            cursor = 0;
        }
        size_t la = p->batches.offsets[b + 1] - p->batches.offsets[b];
        size_t lb = own.offsets[cursor + 1] - own.offsets[cursor];
        ok = la == lb && !memcmp(p->batches.rows + p->batches.offsets[b],
                                 own.rows + own.offsets[cursor], la * sizeof(int64_t));
        cursor++;
    }
    stc_batch_list_free(&own);
    return ok;
}

static void test_round_robin(void)
{
    stc_sampler_dataset ds[3];
    three_datasets(ds);
    for (int drop = 0; drop <= 1; drop++) {
        stc_sampler *s = make_sampler(NULL, NULL, "round_robin", NULL, 8, 1, drop, 42);
        stc_epoch_plan p;
        stc_epoch_plan_init(&p);
        CHECK(stc_sampler_plan_epoch(s, ds, 3, 0, &p) == 0);
        size_t rounds = drop ? 2 : 3; /* min(7,3,10) or min(6,2,10) */
        CHECK(stc_epoch_plan_num_batches(&p) == rounds * 3);
        int cyc = 1;
        for (size_t b = 0; b < p.batches.n_batches; b++)
            cyc &= p.dataset[b] == (int32_t)(b % 3);
        CHECK(cyc);
        for (int k = 0; k < 3; k++)
            CHECK(batches_follow_dataset_plans(s, &p, ds, 3, k));
        check_rows_once(&p, ds, 3, 0, "round_robin");
        stc_epoch_plan_free(&p);
        stc_sampler_free(s);
    }
}

static void test_proportional(void)
{
    stc_sampler_dataset ds[3];
    three_datasets(ds);
    stc_sampler *s = make_sampler(NULL, NULL, NULL, NULL, 8, 1, 0, 42); /* proportional is the default */
    stc_sampler *s2 = make_sampler(NULL, NULL, "PROPORTIONAL", NULL, 8, 1, 0, 7);
    stc_epoch_plan p, again, p1, q;
    stc_epoch_plan_init(&p);
    stc_epoch_plan_init(&again);
    stc_epoch_plan_init(&p1);
    stc_epoch_plan_init(&q);
    CHECK(stc_sampler_plan_epoch(s, ds, 3, 0, &p) == 0);
    CHECK(stc_sampler_plan_epoch(s, ds, 3, 0, &again) == 0);
    CHECK(stc_sampler_plan_epoch(s, ds, 3, 1, &p1) == 0);
    CHECK(stc_sampler_plan_epoch(s2, ds, 3, 0, &q) == 0);
    CHECK(stc_epoch_plan_num_batches(&p) == 7 + 3 + 10);
    size_t per[3] = {0};
    int sorted = 1;
    for (size_t b = 0; b < p.batches.n_batches; b++) {
        per[p.dataset[b]]++;
        if (b)
            sorted &= p.dataset[b] >= p.dataset[b - 1];
    }
    CHECK(per[0] == 7 && per[1] == 3 && per[2] == 10);
    CHECK(!sorted);
    for (int k = 0; k < 3; k++)
        CHECK(batches_follow_dataset_plans(s, &p, ds, 3, k));
    check_rows_once(&p, ds, 3, 1, "proportional"); /* every batch of every dataset once */
    CHECK(plans_equal(&p, &again));
    CHECK(memcmp(p.dataset, p1.dataset, 20 * sizeof(int32_t)) != 0); /* reshuffled */
    CHECK(memcmp(p.dataset, q.dataset, 20 * sizeof(int32_t)) != 0);  /* seeded */
    /* The order is the documented shuffle of [0]*7 + [1]*3 + [2]*10. */
    int32_t ids[20];
    for (int i = 0; i < 20; i++)
        ids[i] = i < 7 ? 0 : i < 10 ? 1 : 2;
    stc_rng rng;
    stc_rng_init(&rng, 42, STC_SAMPLER_STREAM_MULTI);
    stc_rng_shuffle_i32(&rng, ids, 20);
    CHECK(!memcmp(ids, p.dataset, sizeof ids));
    /* A dataset's batches in a multi-dataset epoch are its own plan with
     * its own stream: dataset 0 alone gives the same batches. */
    stc_epoch_plan alone;
    stc_epoch_plan_init(&alone);
    CHECK(stc_sampler_plan_epoch(s, ds, 1, 0, &alone) == 0);
    CHECK(batches_follow_dataset_plans(s, &alone, ds, 1, 0));
    stc_epoch_plan_free(&alone);
    stc_epoch_plan_free(&p);
    stc_epoch_plan_free(&again);
    stc_epoch_plan_free(&p1);
    stc_epoch_plan_free(&q);
    stc_sampler_free(s);
    stc_sampler_free(s2);
}

static void test_rank_split(void)
{
    size_t st, n;
    /* Full batch: [r*B, (r+1)*B). */
    for (int r = 0; r < 2; r++) {
        stc_sampler_rank_split(16, 2, r, &st, &n);
        CHECK(st == (size_t)r * 8 && n == 8);
    }
    /* 5 rows on 4 ranks: 2, 1, 1, 1. 3 rows: 1, 1, 1, 0. */
    size_t want5[4][2] = {{0, 2}, {2, 1}, {3, 1}, {4, 1}};
    size_t want3[4][2] = {{0, 1}, {1, 1}, {2, 1}, {3, 0}};
    for (int r = 0; r < 4; r++) {
        stc_sampler_rank_split(5, 4, r, &st, &n);
        CHECK(st == want5[r][0] && n == want5[r][1]);
        stc_sampler_rank_split(3, 4, r, &st, &n);
        CHECK(st == want3[r][0] && n == want3[r][1]);
    }
    /* Any m, P: contiguous, in order, a partition, counts differ by <= 1. */
    int ok = 1;
    for (size_t m = 0; m < 40; m++)
        for (int P = 1; P <= 8; P++) {
            size_t at = 0, lo = SIZE_MAX, hi = 0;
            for (int r = 0; r < P; r++) {
                stc_sampler_rank_split(m, P, r, &st, &n);
                ok &= st == at;
                at += n;
                lo = n < lo ? n : lo;
                hi = n > hi ? n : hi;
            }
            ok &= at == m && hi - lo <= 1;
        }
    CHECK(ok);
}

/* World sizes 1, 2, 4 with the same global batch size plan the same
 * global batches; the ranks' slices partition each one. */
static void test_world_sizes(void)
{
    enum { N = 1003 };
    static uint64_t H[N * 2];
    static int64_t lab[N];
    for (int i = 0; i < N; i++) {
        H[2 * i] = (uint64_t)(i % 400);
        H[2 * i + 1] = 5000 + (uint64_t)(i % 700);
        lab[i] = i % 17;
    }
    stc_sampler_dataset ds[2] = {
        {.name = "x", .n_rows = N, .n_hash_columns = 2, .hashes = H, .labels_i64 = lab},
        {.name = "y", .n_rows = 301, .n_hash_columns = 2, .hashes = H, .labels_i64 = lab},
    };
    const char *batch[] = {"batch_sampler", "no_duplicates", "group_by_label"};
    const char *multi[] = {"proportional", "round_robin"};
    for (int bi = 0; bi < 3; bi++)
        for (int mi = 0; mi < 2; mi++)
            for (int K = 1; K <= 2; K++)
                for (int drop = 0; drop <= 1; drop++) {
                    stc_epoch_plan plans[3];
                    int worlds[3] = {1, 2, 4};
                    for (int w = 0; w < 3; w++) {
                        stc_sampler *s = make_sampler(batch[bi], NULL, multi[mi], NULL,
                                                      16 / worlds[w], worlds[w], drop, 42);
                        stc_epoch_plan_init(&plans[w]);
                        CHECK(stc_sampler_plan_epoch(s, ds, K, 3, &plans[w]) == 0);
                        CHECK(plans[w].global_batch_size == 16);
                        stc_sampler_free(s);
                    }
                    CHECK_MSG(plans_equal(&plans[0], &plans[1]) && plans_equal(&plans[0], &plans[2]),
                              "%s/%s K=%d drop=%d: world sizes differ", batch[bi], multi[mi], K, drop);
                    int partition = 1, partial_seen = 0;
                    for (int w = 1; w < 3; w++) {
                        const stc_epoch_plan *p = &plans[w];
                        for (size_t b = 0; b < p->batches.n_batches; b++) {
                            const int64_t *whole = p->batches.rows + p->batches.offsets[b];
                            size_t m = p->batches.offsets[b + 1] - p->batches.offsets[b], at = 0;
                            for (int r = 0; r < worlds[w]; r++) {
                                const int64_t *rows;
                                size_t n;
                                int d;
                                if (stc_epoch_plan_rank_rows(p, b, r, &rows, &n, &d)) {
                                    partition = 0;
                                    break;
                                }
                                partition &= rows == whole + at && d == p->dataset[b];
                                if (m == 16)
                                    partition &= n == (size_t)(16 / worlds[w]);
                                at += n;
                            }
                            partition &= at == m;
                            partial_seen |= m < 16;
                        }
                    }
                    CHECK(partition);
                    if (drop && bi != 1)
                        CHECK(!partial_seen);
                    for (int w = 0; w < 3; w++)
                        stc_epoch_plan_free(&plans[w]);
                }
}

/* ------------------------------------------------------------------------ */
/* Custom samplers                                                          */
/* ------------------------------------------------------------------------ */

/* A custom batch sampler: the rows in dataset order. */
static int sequential_plan(const void *state, const stc_sampler_epoch *ep, int k, stc_rng *rng,
                           stc_batch_list *out)
{
    (void)state;
    (void)rng;
    size_t n = ep->datasets[k].n_rows;
    int64_t buf[64];
    for (size_t at = 0; at < n; at += ep->batch_size) {
        size_t m = n - at < ep->batch_size ? n - at : ep->batch_size;
        if (m < ep->batch_size && ep->drop_last)
            break;
        for (size_t i = 0; i < m; i++)
            buf[i] = (int64_t)(at + i);
        int rc = stc_batch_list_append(out, buf, m);
        if (rc)
            return rc;
    }
    return 0;
}
static const stc_sampler_ops sequential_ops = {
    .name = "sequential", .kind = STC_SAMPLER_BATCH, .plan_batches = sequential_plan};

/* A broken one: a row past the end. */
static int bad_rows_plan(const void *state, const stc_sampler_epoch *ep, int k, stc_rng *rng,
                         stc_batch_list *out)
{
    (void)state;
    (void)rng;
    int64_t row = (int64_t)ep->datasets[k].n_rows;
    return stc_batch_list_append(out, &row, 1);
}
static const stc_sampler_ops bad_rows_ops = {
    .name = "bad_rows", .kind = STC_SAMPLER_BATCH, .plan_batches = bad_rows_plan};

/* A multi sampler that always draws dataset 1. */
static int always_one(const void *state, const stc_sampler_epoch *ep, stc_rng *rng,
                      stc_dataset_order *out)
{
    (void)state;
    (void)ep;
    (void)rng;
    for (int i = 0; i < 10; i++)
        if (stc_dataset_order_push(out, 1))
            return STC_ERR_NOMEM;
    return 0;
}
static const stc_sampler_ops always_one_ops = {
    .name = "always_one", .kind = STC_SAMPLER_MULTI, .plan_order = always_one};

static void test_registry(void)
{
    /* The example registered itself before main(). */
    CHECK(stc_sampler_find("temperature", STC_SAMPLER_MULTI) == &stc_temperature_sampler);
    CHECK(stc_sampler_find("Temperature", STC_SAMPLER_MULTI) == &stc_temperature_sampler);
    CHECK(stc_sampler_find("temperature", STC_SAMPLER_BATCH) == NULL);
    CHECK(stc_sampler_find("no_duplicates", STC_SAMPLER_BATCH) != NULL);
    CHECK(stc_sampler_register(&stc_temperature_sampler) == 0); /* same ops again: fine */

    CHECK(stc_sampler_register(&sequential_ops) == 0);
    CHECK(stc_sampler_register(&sequential_ops) == 0);
    CHECK(stc_sampler_register(&bad_rows_ops) == 0);
    CHECK(stc_sampler_register(&always_one_ops) == 0);
    stc_sampler_ops clash = sequential_ops;
    CHECK(stc_sampler_register(&clash) == STC_ERR_USAGE); /* name taken */
    clash.name = "ROUND_ROBIN";
    CHECK(stc_sampler_register(&clash) == STC_ERR_USAGE); /* a built-in's name */
    stc_sampler_ops broken = {.name = "broken", .kind = STC_SAMPLER_BATCH};
    CHECK(stc_sampler_register(&broken) == STC_ERR_USAGE); /* no plan_batches */
    broken.kind = (stc_sampler_kind)7;
    CHECK(stc_sampler_register(&broken) == STC_ERR_USAGE);
    stc_sampler_ops noname = {.kind = STC_SAMPLER_BATCH, .plan_batches = sequential_plan};
    CHECK(stc_sampler_register(&noname) == STC_ERR_USAGE);

    /* A custom batch sampler runs by name, under any multi sampler. */
    stc_sampler_dataset ds = {.n_rows = 20};
    stc_sampler *s = make_sampler("Sequential", NULL, NULL, NULL, 3, 2, 0, 1);
    stc_epoch_plan p;
    stc_epoch_plan_init(&p);
    CHECK(stc_sampler_plan_epoch(s, &ds, 1, 0, &p) == 0);
    CHECK(stc_epoch_plan_num_batches(&p) == 4);
    int in_order = 1;
    for (size_t i = 0; i < stc_batch_list_num_rows(&p.batches); i++)
        in_order &= p.batches.rows[i] == (int64_t)i;
    CHECK(in_order);
    stc_sampler_free(s);

    /* Bad output from a custom sampler stops at planning. */
    s = make_sampler("bad_rows", NULL, NULL, NULL, 3, 1, 0, 1);
    CHECK(stc_sampler_plan_epoch(s, &ds, 1, 0, &p) == STC_ERR_INTERNAL);
    CHECK(strstr(stc_error_message(), "out of range") != NULL);
    CHECK(stc_epoch_plan_num_batches(&p) == 0);
    stc_sampler_free(s);

    /* Drawing a dataset more often than it has batches continues with its
     * next pass; drawing one without batches is an error. */
    stc_sampler_dataset two[2] = {{.name = "big", .n_rows = 100}, {.name = "tiny", .n_rows = 7}};
    s = make_sampler(NULL, NULL, "always_one", NULL, 4, 1, 0, 1);
    CHECK(stc_sampler_plan_epoch(s, two, 2, 0, &p) == 0);
    CHECK(stc_epoch_plan_num_batches(&p) == 10); /* 5 passes of 2 batches */
    CHECK(batches_follow_dataset_plans(s, &p, two, 2, 1));
    stc_sampler_free(s);
    s = make_sampler(NULL, NULL, "always_one", NULL, 8, 1, 1, 1);
    CHECK(stc_sampler_plan_epoch(s, two, 2, 0, &p) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "tiny") != NULL);
    stc_sampler_free(s);
    stc_epoch_plan_free(&p);

    /* Config errors name the key; unknown names list the choices. */
    CHECK(create_error(NULL, NULL, "no_such", NULL, 4, "temperature") == STC_ERR_USAGE);
    CHECK(create_error("no_such", NULL, NULL, NULL, 4, "no_duplicates") == STC_ERR_USAGE);
    CHECK(create_error("temperature", NULL, NULL, NULL, 4, "unknown sampler") == STC_ERR_USAGE);
    CHECK(create_error(NULL, "{\"type\": \"batch_sampler\", \"x\": 1}", NULL, NULL, 4,
                       "takes no parameters") == STC_ERR_USAGE);
    CHECK(create_error(NULL, "{\"type\": \"batch_sampler\"}", NULL, NULL, 4, "") == 0);
    CHECK(create_error(NULL, NULL, NULL, NULL, 0, "per_device_train_batch_size") == STC_ERR_USAGE);
    CHECK(create_error(NULL, NULL, "temperature", "{\"temperature\": 0}", 4, "temperature") ==
          STC_ERR_USAGE);
    CHECK(create_error(NULL, NULL, "temperature", "{\"temperature\": \"hot\"}", 4, "temperature") ==
          STC_ERR_USAGE);
    CHECK(create_error(NULL, NULL, "temperature", "{\"temprature\": 2}", 4, "temprature") ==
          STC_ERR_USAGE);
    CHECK(create_error(NULL, NULL, "temperature", "{\"num_batches\": -3}", 4, "num_batches") ==
          STC_ERR_USAGE);
    CHECK(create_error(NULL, NULL, "temperature", "[1]", 4, "object") == STC_ERR_USAGE);

    /* The config value: a name or {"type": name, ...}. */
    cJSON *v = cJSON_Parse("{\"type\": \"temperature\", \"temperature\": 3}");
    const char *name;
    const cJSON *params;
    CHECK(stc_sampler_parse_choice(v, "multi_dataset_batch_sampler", &name, &params) == 0);
    CHECK(name && !strcmp(name, "temperature") && params == v);
    cJSON_Delete(v);
    v = cJSON_CreateString("round_robin");
    CHECK(stc_sampler_parse_choice(v, "k", &name, &params) == 0 && !strcmp(name, "round_robin") &&
          !params);
    cJSON_Delete(v);
    v = cJSON_Parse("{\"temperature\": 3}");
    CHECK(stc_sampler_parse_choice(v, "k", &name, &params) == STC_ERR_USAGE);
    cJSON_Delete(v);
    v = cJSON_CreateNumber(3);
    CHECK(stc_sampler_parse_choice(v, "k", &name, &params) == STC_ERR_USAGE);
    cJSON_Delete(v);
}

/* The worked example: proportions follow n_k^(1/T); deterministic per seed;
 * small datasets wrap into further passes. */
static void test_temperature(void)
{
    stc_sampler_dataset ds[4] = {{.name = "large", .n_rows = 10000},
                                 {.name = "medium", .n_rows = 1000},
                                 {.name = "small", .n_rows = 100},
                                 {.name = "too_small", .n_rows = 3}};
    double temps[3] = {1.0, 2.0, 5.0};
    for (int t = 0; t < 3; t++) {
        char params[64];
        snprintf(params, sizeof params, "{\"temperature\": %g}", temps[t]);
        /* drop_last: "too_small" has no batches and is never drawn. */
        stc_sampler *s = make_sampler(NULL, NULL, "temperature", params, 4, 1, 1, 1234);
        stc_sampler *s_same = make_sampler(NULL, NULL, "temperature", params, 4, 1, 1, 1234);
        stc_sampler *s_other = make_sampler(NULL, NULL, "temperature", params, 4, 1, 1, 99);
        double w[3], wsum = 0;
        for (int k = 0; k < 3; k++)
            wsum += w[k] = pow((double)ds[k].n_rows, 1.0 / temps[t]);
        size_t drawn[4] = {0}, total = 0;
        for (int64_t epoch = 0; epoch < 12; epoch++) {
            stc_epoch_plan p, p2, p3;
            stc_epoch_plan_init(&p);
            stc_epoch_plan_init(&p2);
            stc_epoch_plan_init(&p3);
            CHECK(stc_sampler_plan_epoch(s, ds, 4, epoch, &p) == 0);
            CHECK(stc_sampler_plan_epoch(s_same, ds, 4, epoch, &p2) == 0);
            CHECK(stc_sampler_plan_epoch(s_other, ds, 4, epoch, &p3) == 0);
            CHECK(plans_equal(&p, &p2));
            CHECK(!plans_equal(&p, &p3));
            CHECK(stc_epoch_plan_num_batches(&p) == 2500 + 250 + 25);
            for (size_t b = 0; b < p.batches.n_batches; b++)
                drawn[p.dataset[b]]++;
            total += p.batches.n_batches;
            if (epoch == 0)
                for (int k = 0; k < 3; k++)
                    CHECK(batches_follow_dataset_plans(s, &p, ds, 4, k));
            stc_epoch_plan_free(&p);
            stc_epoch_plan_free(&p2);
            stc_epoch_plan_free(&p3);
        }
        CHECK(drawn[3] == 0);
        for (int k = 0; k < 3; k++)
            CHECK_MSG(fabs((double)drawn[k] / (double)total - w[k] / wsum) < 0.01,
                      "T=%g dataset %d: drew %.4f, expected %.4f", temps[t], k,
                      (double)drawn[k] / (double)total, w[k] / wsum);
        stc_sampler_free(s);
        stc_sampler_free(s_same);
        stc_sampler_free(s_other);
    }
    /* num_batches sets the epoch's length. */
    stc_sampler *s = make_sampler(NULL, NULL, "temperature",
                                  "{\"type\": \"temperature\", \"temperature\": 2, \"num_batches\": 100}",
                                  4, 2, 0, 1);
    stc_epoch_plan p;
    stc_epoch_plan_init(&p);
    CHECK(stc_sampler_plan_epoch(s, ds, 4, 0, &p) == 0);
    CHECK(stc_epoch_plan_num_batches(&p) == 100);
    CHECK(p.global_batch_size == 8);
    stc_epoch_plan_free(&p);
    stc_sampler_free(s);
}

/* ------------------------------------------------------------------------ */
/* 10 million rows                                                          */
/* ------------------------------------------------------------------------ */

/* One no_duplicates epoch over n rows x 2 columns: timed, then checked
 * (every row once, no hash twice in a batch) in O(n). */
static void big_no_duplicates(const char *what, size_t n, const uint64_t *H, int per_device,
                              int world)
{
    stc_sampler_dataset ds = {.name = what, .n_rows = n, .n_hash_columns = 2, .hashes = H};
    stc_sampler *s = make_sampler("no_duplicates", NULL, NULL, NULL, per_device, world, 0, 42);
    stc_epoch_plan p;
    stc_epoch_plan_init(&p);
    double t0 = now_s();
    int rc = stc_sampler_plan_epoch(s, &ds, 1, 0, &p);
    double t1 = now_s();
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    size_t G = p.global_batch_size, shorts = 0;
    for (size_t b = 0; b < p.batches.n_batches; b++)
        shorts += p.batches.offsets[b + 1] - p.batches.offsets[b] < G;
    printf("no_duplicates, %s: %zu rows x 2 cols, global batch %zu: %zu batches (%zu short) in "
           "%.2f s\n", what, n, G, p.batches.n_batches, shorts, t1 - t0);
    /* Every row once. */
    unsigned char *seen = calloc(n, 1);
    size_t bad = 0;
    for (size_t i = 0; i < stc_batch_list_num_rows(&p.batches); i++)
        bad += seen[p.batches.rows[i]]++ != 0;
    for (size_t r = 0; r < n; r++)
        bad += seen[r] != 1;
    CHECK_MSG(bad == 0, "%zu rows not used exactly once", bad);
    free(seen);
    /* No hash twice in a batch (an open-addressing set per batch). */
    size_t cap = 1;
    while (cap < 4 * G * 2)
        cap *= 2;
    uint64_t *keys = malloc(cap * sizeof *keys);
    size_t *stamp = calloc(cap, sizeof *stamp);
    size_t dup_batches = 0;
    for (size_t b = 0; b < p.batches.n_batches; b++) {
        int dup = 0;
        for (size_t i = p.batches.offsets[b]; i < p.batches.offsets[b + 1]; i++) {
            const uint64_t *hv = H + p.batches.rows[i] * 2;
            for (int c = 0; c < 2; c++) {
                if (c == 1 && hv[1] == hv[0])
                    continue; /* the same value twice in one row is allowed */
                size_t j = (hv[c] * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
                while (stamp[j] == b + 1 && keys[j] != hv[c])
                    j = (j + 1) & (cap - 1);
                if (stamp[j] == b + 1)
                    dup = 1;
                stamp[j] = b + 1;
                keys[j] = hv[c];
            }
        }
        dup_batches += dup;
    }
    CHECK_MSG(dup_batches == 0, "%zu batches repeat a text", dup_batches);
    free(keys);
    free(stamp);
    stc_epoch_plan_free(&p);
    stc_sampler_free(s);
}

static void test_big(void)
{
    const size_t n = 10 * 1000 * 1000;
    uint64_t *H = malloc(n * 2 * sizeof *H);
    if (!H) {
        CHECK_MSG(0, "cannot allocate 160 MB");
        return;
    }
    stc_rng g;
    stc_rng_init(&g, 2024, 0);
    /* Distinct texts, except that 1% of the positives repeat another row's
     * anchor (cross-column duplicates). */
    for (size_t i = 0; i < n; i++) {
        H[2 * i] = stc_rng_next(&g);
        H[2 * i + 1] = stc_rng_next(&g);
    }
    for (size_t i = 0; i < n / 100; i++)
        H[2 * stc_rng_below(&g, n) + 1] = H[2 * stc_rng_below(&g, n)];
    big_no_duplicates("1% cross-column repeats", n, H, 32, 2);

    /* Every anchor (query) four times with different positives, as in
     * MS MARCO-style data. */
    for (size_t i = 0; i < n; i++)
        H[2 * i] = stc_sampler_hash_text(&(uint64_t){i / 4}, sizeof(uint64_t));
    big_no_duplicates("each anchor 4x", n, H, 32, 2);

    /* A fifth of the anchors share one text (an empty string, say): the
     * literal scan is quadratic here; the lists per heavy value are not. */
    for (size_t i = 0; i < n; i++) {
        H[2 * i] = stc_rng_next(&g);
        if (stc_rng_below(&g, 5) == 0)
            H[2 * i] = 12345;
    }
    big_no_duplicates("20% share one anchor", n, H, 32, 2);

    /* batch_sampler on the same size, for scale. */
    stc_sampler_dataset ds = {.n_rows = n};
    stc_sampler *s = make_sampler(NULL, NULL, NULL, NULL, 32, 2, 0, 42);
    stc_epoch_plan p;
    stc_epoch_plan_init(&p);
    double t0 = now_s();
    CHECK(stc_sampler_plan_epoch(s, &ds, 1, 0, &p) == 0);
    printf("batch_sampler: %zu rows: %zu batches in %.2f s\n", n, p.batches.n_batches, now_s() - t0);
    stc_epoch_plan_free(&p);
    stc_sampler_free(s);
    free(H);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--big")) {
        test_big();
        return check_report("test_sampler --big");
    }
    test_rng();
    test_batch_sampler();
    test_no_duplicates();
    test_group_by_label();
    test_round_robin();
    test_proportional();
    test_rank_split();
    test_world_sizes();
    test_registry();
    test_temperature();
    return check_report("test_sampler");
}
