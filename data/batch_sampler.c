/*
 * Two built-in batch samplers over one dataset (ST_SPEC.md section 4):
 * batch_sampler (a shuffled permutation cut into batches) and
 * group_by_label (shuffled label groups, rows in dataset order);
 * no_duplicates has its own file. Each is a pure function of its rng (keyed
 * by seed + epoch and the dataset), the global batch size and the dataset's
 * metadata; sampler.h states the rules.
 *
 * Shapes: n rows, G the global batch size.
 */
#include "data/sampler.h"
#include "data/sampler_internal.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Cuts rows[0..n) of out (already written, in order) into batches of G; the
 * short rest is a batch unless drop_last (then its rows are left out). */
static void cut_batches(stc_batch_list *out, size_t n, size_t G, int drop_last)
{
    size_t b = 0, at = 0;
    while (at < n) {
        size_t m = n - at < G ? n - at : G;
        if (m < G && drop_last)
            break;
        at += m;
        out->offsets[++b] = at;
    }
    out->n_batches = b;
}

/* Batches a dataset needs at most: ceil(n / G) (room for the offsets). */
static size_t max_batches(size_t n, size_t G) { return n / G + (n % G ? 1 : 0); }

/* ------------------------------------------------------------------------ */
/* batch_sampler                                                            */
/* ------------------------------------------------------------------------ */

/* The permutation stc_rng_shuffle_i64 makes of 0..n-1, cut into batches
 * of G. */
static int plan_batch(const void *state, const stc_sampler_epoch *ep, int k, stc_rng *rng,
                      stc_batch_list *out)
{
    (void)state;
    size_t n = ep->datasets[k].n_rows, G = ep->batch_size;
    int rc = stc_batch_list_reserve(out, max_batches(n, G), n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        out->rows[i] = (int64_t)i;
    stc_rng_shuffle_i64(rng, out->rows, n);
    cut_batches(out, n, G, ep->drop_last);
    return 0;
}

const stc_sampler_ops stc_sampler_builtin_batch = {
    .name = "batch_sampler",
    .kind = STC_SAMPLER_BATCH,
    .plan_batches = plan_batch,
};

/* ------------------------------------------------------------------------ */
/* group_by_label                                                           */
/* ------------------------------------------------------------------------ */

/* Label -> group id, growing (labels are usually few; at worst one per
 * row). Slot value 0 is empty, else group id + 1. */
typedef struct {
    uint64_t *keys;  /* (cap) label bits */
    size_t *vals;    /* (cap) group id + 1, 0 = empty */
    size_t mask;     /* cap - 1 */
    size_t n;        /* groups */
} label_map;

static int label_map_grow(label_map *m)
{
    size_t cap = m->keys ? (m->mask + 1) * 2 : 1024;
    uint64_t *keys = stc_malloc(cap * sizeof *keys, "group_by_label: label map");
    size_t *vals = stc_calloc(cap, sizeof *vals, "group_by_label: label map");
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return STC_ERR_NOMEM;
    }
    for (size_t i = 0; m->keys && i <= m->mask; i++) {
        if (!m->vals[i])
            continue;
        size_t j = stc_sampler_fmix64(m->keys[i]) & (cap - 1);
        while (vals[j])
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->mask = cap - 1;
    return 0;
}

/* The group of label key, made (with the next id) if new. */
static int label_map_group(label_map *m, uint64_t key, size_t *group)
{
    if (!m->keys || 2 * (m->n + 1) > m->mask + 1) {
        int rc = label_map_grow(m);
        if (rc)
            return rc;
    }
    size_t i = stc_sampler_fmix64(key) & m->mask;
    for (; m->vals[i]; i = (i + 1) & m->mask)
        if (m->keys[i] == key) {
            *group = m->vals[i] - 1;
            return 0;
        }
    m->keys[i] = key;
    m->vals[i] = ++m->n;
    *group = m->n - 1;
    return 0;
}

/* A label as a map key: int64 as is; double by its bits, with -0.0 folded
 * into 0.0 (Python: -0.0 == 0.0, one dict key). */
static int label_key(const stc_sampler_dataset *d, size_t row, uint64_t *key)
{
    if (d->labels_i64) {
        *key = (uint64_t)d->labels_i64[row];
        return 0;
    }
    double v = d->labels_f64[row];
    if (isnan(v))
        return stc_errorf(STC_ERR_DATA, "group_by_label: row %zu has a NaN label", row);
    if (v == 0.0)
        v = 0.0;
    memcpy(key, &v, sizeof *key);
    return 0;
}

/*
 * Groups in first-occurrence order, each keeping its first even number of
 * rows; the kept groups in a shuffled order (stc_rng_shuffle_i64 of their
 * first-occurrence ranks), their rows in dataset order, cut into batches
 * of G.
 */
static int plan_group_by_label(const void *state, const stc_sampler_epoch *ep, int k,
                               stc_rng *rng, stc_batch_list *out)
{
    (void)state;
    const stc_sampler_dataset *d = &ep->datasets[k];
    size_t n = d->n_rows, G = ep->batch_size;
    char nb[32];
    if (G % 2)
        return stc_errorf(STC_ERR_USAGE,
                          "group_by_label needs an even global batch size "
                          "(world size x per_device_train_batch_size = %zu)",
                          G);
    if (n == 0)
        return 0;
    if (!d->labels_i64 == !d->labels_f64)
        return stc_errorf(STC_ERR_USAGE,
                          "group_by_label: %s has no label column (\"label\" or \"score\")",
                          stc_sampler_ds_name(d, k, nb));
    int rc = 0;
    label_map map = {0};
    size_t *group_of = stc_malloc(n * sizeof *group_of, "group_by_label: row groups");
    size_t *left = NULL, *start = NULL, *cursor = NULL;
    int64_t *order = NULL, *bucket = NULL;
    if (!group_of) {
        rc = STC_ERR_NOMEM;
        goto out_free;
    }
    for (size_t r = 0; r < n; r++) {
        uint64_t key = 0;
        if ((rc = label_key(d, r, &key)) || (rc = label_map_group(&map, key, &group_of[r]))) {
            if (rc == STC_ERR_DATA)
                rc = stc_error_prefix(rc, "%s", stc_sampler_ds_name(d, k, nb));
            goto out_free;
        }
    }
    size_t n_groups = map.n; /* >= 1 since n >= 1 */
    left = stc_calloc(n_groups, sizeof *left, "group_by_label: group sizes");
    start = stc_malloc((n_groups + 1) * sizeof *start, "group_by_label: group offsets");
    cursor = stc_malloc(n_groups * sizeof *cursor, "group_by_label: group cursors");
    order = stc_malloc(n_groups * sizeof *order, "group_by_label: group order");
    bucket = stc_malloc(n * sizeof *bucket, "group_by_label: grouped rows");
    if (!left || !start || !cursor || !order || !bucket) {
        rc = STC_ERR_NOMEM;
        goto out_free;
    }
    for (size_t r = 0; r < n; r++)
        left[group_of[r]]++;
    /* Each group keeps an even count; kept groups listed in first-occurrence
     * order; group g's kept rows go to bucket[start[g] .. start[g+1]). */
    size_t n_kept = 0, kept_rows = 0;
    for (size_t g = 0; g < n_groups; g++) {
        left[g] &= ~(size_t)1;
        start[g] = cursor[g] = kept_rows;
        kept_rows += left[g];
        if (left[g])
            order[n_kept++] = (int64_t)g;
    }
    start[n_groups] = kept_rows;
    for (size_t r = 0; r < n; r++) {
        size_t g = group_of[r];
        if (left[g]) {
            bucket[cursor[g]++] = (int64_t)r;
            left[g]--;
        }
    }
    stc_rng_shuffle_i64(rng, order, n_kept);
    if ((rc = stc_batch_list_reserve(out, max_batches(kept_rows, G), kept_rows)))
        goto out_free;
    size_t w = 0;
    for (size_t i = 0; i < n_kept; i++) {
        size_t g = (size_t)order[i], m = start[g + 1] - start[g];
        memcpy(out->rows + w, bucket + start[g], m * sizeof *bucket);
        w += m;
    }
    cut_batches(out, w, G, ep->drop_last);

out_free:
    free(map.keys);
    free(map.vals);
    free(group_of);
    free(left);
    free(start);
    free(cursor);
    free(order);
    free(bucket);
    return rc;
}

const stc_sampler_ops stc_sampler_builtin_group_by_label = {
    .name = "group_by_label",
    .kind = STC_SAMPLER_BATCH,
    .plan_batches = plan_group_by_label,
};
