/*
 * The sampler framework: SplitMix64 streams, the text hash, batch and order
 * lists, and stc_sampler_plan_epoch, which runs the configured batch sampler
 * on every dataset and lets the multi-dataset sampler order the batches
 * (see sampler.h for the rules). The samplers themselves live in
 * batch_sampler.c and multi_sampler.c, the registry in sampler_registry.c.
 */
#include "data/sampler.h"
#include "data/sampler_internal.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Random numbers                                                           */
/* ------------------------------------------------------------------------ */


/* Keys the stream: two finalizer rounds keep nearby seeds and nearby
 * stream ids far apart. */
void stc_rng_init(stc_rng *rng, uint64_t seed, uint64_t stream)
{
    rng->state = stc_sampler_fmix64(stc_sampler_fmix64(seed) ^
                                    stc_sampler_fmix64(stream ^ 0x6A09E667F3BCC909ull));
}

/* SplitMix64's step. */
uint64_t stc_rng_next(stc_rng *rng)
{
    rng->state += STC_GOLDEN;
    return stc_sampler_fmix64(rng->state);
}

/* Unbiased: the values below 2^64 mod n are redrawn, so the accepted range
 * holds a whole number of copies of [0, n). */
uint64_t stc_rng_below(stc_rng *rng, uint64_t n)
{
    if (n <= 1)
        return 0;
    uint64_t threshold = (0 - n) % n;
    uint64_t x;
    do
        x = stc_rng_next(rng);
    while (x < threshold);
    return x % n;
}

double stc_rng_uniform(stc_rng *rng)
{
    return (double)(stc_rng_next(rng) >> 11) * 0x1.0p-53;
}

void stc_rng_shuffle_i64(stc_rng *rng, int64_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)stc_rng_below(rng, i);
        int64_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

void stc_rng_shuffle_i32(stc_rng *rng, int32_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)stc_rng_below(rng, i);
        int32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* ------------------------------------------------------------------------ */
/* Lists                                                                    */
/* ------------------------------------------------------------------------ */

void stc_batch_list_init(stc_batch_list *l) { memset(l, 0, sizeof *l); }

void stc_batch_list_free(stc_batch_list *l)
{
    free(l->offsets);
    free(l->rows);
    memset(l, 0, sizeof *l);
}

void stc_batch_list_clear(stc_batch_list *l)
{
    l->n_batches = 0;
    if (l->offsets)
        l->offsets[0] = 0;
}

size_t stc_batch_list_num_rows(const stc_batch_list *l)
{
    return l->offsets ? l->offsets[l->n_batches] : 0;
}

/* Grows capacities to at least what is asked, doubling so that appends are
 * amortised O(1). */
int stc_batch_list_reserve(stc_batch_list *l, size_t n_batches, size_t n_rows)
{
    size_t used_rows = stc_batch_list_num_rows(l);
    if (n_batches > SIZE_MAX / 2 - l->n_batches || n_rows > SIZE_MAX / 2 - used_rows)
        return stc_errorf(STC_ERR_NOMEM, "sampler: batch list too large");
    size_t want_b = l->n_batches + n_batches;
    if (!l->offsets || want_b > l->batches_cap) {
        size_t cap = l->batches_cap ? l->batches_cap : 16;
        while (cap < want_b)
            cap *= 2;
        if (cap >= SIZE_MAX / sizeof(size_t))
            return stc_errorf(STC_ERR_NOMEM, "sampler: batch list too large");
        size_t *o = realloc(l->offsets, (cap + 1) * sizeof *o);
        if (!o)
            return stc_errorf(STC_ERR_NOMEM, "sampler: out of memory for %zu batch offsets", cap + 1);
        if (!l->offsets)
            o[0] = 0;
        l->offsets = o;
        l->batches_cap = cap;
    }
    size_t want_r = used_rows + n_rows;
    if (want_r > l->rows_cap) {
        size_t cap = l->rows_cap ? l->rows_cap : 64;
        while (cap < want_r)
            cap *= 2;
        if (cap > SIZE_MAX / sizeof(int64_t))
            return stc_errorf(STC_ERR_NOMEM, "sampler: batch list too large");
        int64_t *r = realloc(l->rows, cap * sizeof *r);
        if (!r)
            return stc_errorf(STC_ERR_NOMEM, "sampler: out of memory for %zu batch rows", cap);
        l->rows = r;
        l->rows_cap = cap;
    }
    return 0;
}

int stc_batch_list_append(stc_batch_list *l, const int64_t *rows, size_t n)
{
    if (n == 0)
        return stc_errorf(STC_ERR_INTERNAL, "sampler: empty batch appended");
    int rc = stc_batch_list_reserve(l, 1, n);
    if (rc)
        return rc;
    size_t at = l->offsets[l->n_batches];
    memcpy(l->rows + at, rows, n * sizeof *rows);
    l->offsets[++l->n_batches] = at + n;
    return 0;
}

int stc_dataset_order_reserve(stc_dataset_order *o, size_t n)
{
    if (n > SIZE_MAX / 8 - o->n)
        return stc_errorf(STC_ERR_NOMEM, "sampler: dataset order too long");
    if (o->n + n <= o->cap)
        return 0;
    size_t cap = o->cap ? o->cap : 64;
    while (cap < o->n + n)
        cap *= 2;
    int32_t *ids = realloc(o->ids, cap * sizeof *ids);
    if (!ids)
        return stc_errorf(STC_ERR_NOMEM, "sampler: out of memory for %zu dataset ids", cap);
    o->ids = ids;
    o->cap = cap;
    return 0;
}

int stc_dataset_order_push(stc_dataset_order *o, int32_t id)
{
    int rc = stc_dataset_order_reserve(o, 1);
    if (rc)
        return rc;
    o->ids[o->n++] = id;
    return 0;
}

void stc_dataset_order_free(stc_dataset_order *o)
{
    free(o->ids);
    memset(o, 0, sizeof *o);
}

void stc_epoch_plan_init(stc_epoch_plan *p) { memset(p, 0, sizeof *p); }

void stc_epoch_plan_free(stc_epoch_plan *p)
{
    stc_batch_list_free(&p->batches);
    free(p->dataset);
    memset(p, 0, sizeof *p);
}

size_t stc_epoch_plan_num_batches(const stc_epoch_plan *p) { return p->batches.n_batches; }

/* ------------------------------------------------------------------------ */
/* Rank slices                                                              */
/* ------------------------------------------------------------------------ */

/* Even split in rank order: the first m % P ranks get one row more. For a
 * full batch (m = P*B) this is rows [r*B, (r+1)*B). */
void stc_sampler_rank_split(size_t m, int world_size, int rank, size_t *start, size_t *count)
{
    if (world_size < 1 || rank < 0 || rank >= world_size) {
        *start = 0;
        *count = 0;
        return;
    }
    size_t p = (size_t)world_size, r = (size_t)rank;
    size_t base = m / p, extra = m % p;
    *count = base + (r < extra ? 1 : 0);
    *start = r * base + (r < extra ? r : extra);
}

int stc_epoch_plan_rank_rows(const stc_epoch_plan *p, size_t b, int rank,
                             const int64_t **rows, size_t *n, int *dataset)
{
    if (b >= p->batches.n_batches)
        return stc_errorf(STC_ERR_INTERNAL, "sampler: batch %zu of an epoch with %zu batches", b,
                          p->batches.n_batches);
    if (rank < 0 || rank >= p->world_size)
        return stc_errorf(STC_ERR_INTERNAL, "sampler: rank %d of world size %d", rank, p->world_size);
    size_t lo = p->batches.offsets[b], m = p->batches.offsets[b + 1] - lo, start, count;
    stc_sampler_rank_split(m, p->world_size, rank, &start, &count);
    *rows = p->batches.rows + lo + start;
    *n = count;
    if (dataset)
        *dataset = p->dataset[b];
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The sampler                                                              */
/* ------------------------------------------------------------------------ */

struct stc_sampler {
    const stc_sampler_ops *batch; /* per-dataset batch sampler */
    const stc_sampler_ops *multi; /* multi-dataset sampler */
    void *batch_state;            /* from batch->init, or NULL */
    void *multi_state;            /* from multi->init, or NULL */
    int per_device_batch_size;
    int world_size;
    size_t global_batch_size;     /* world_size * per_device_batch_size */
    int drop_last;
    uint64_t seed;
};

/* True when params holds a key other than "type" (a sampler without init
 * cannot take it). */
static int has_params(const cJSON *params)
{
    if (!params)
        return 0;
    for (const cJSON *c = params->child; c; c = c->next)
        if (!c->string || strcmp(c->string, "type") != 0)
            return 1;
    return 0;
}

/* Finds a sampler by name and runs its init; errors name the config key. */
static int resolve(const char *key, const char *name, const cJSON *params, stc_sampler_kind kind,
                   const stc_sampler_ops **ops, void **state)
{
    *ops = stc_sampler_find(name, kind);
    if (!*ops) {
        char names[512];
        stc_sampler_list_names(kind, names, sizeof names);
        return stc_errorf(STC_ERR_USAGE, "config: %s: unknown sampler \"%s\" (registered: %s)", key,
                          name, names);
    }
    if (params && !cJSON_IsObject(params))
        return stc_errorf(STC_ERR_USAGE, "config: %s: parameters must be a JSON object", key);
    if ((*ops)->init)
        return (*ops)->init(state, params, key);
    if (has_params(params))
        return stc_errorf(STC_ERR_USAGE, "config: %s: sampler \"%s\" takes no parameters", key, name);
    return 0;
}

int stc_sampler_create(stc_sampler **out, const stc_sampler_config *cfg)
{
    *out = NULL;
    int rc = stc_sampler_startup_error();
    if (rc)
        return rc;
    if (cfg->per_device_batch_size < 1)
        return stc_errorf(STC_ERR_USAGE, "config: per_device_train_batch_size must be >= 1 (got %d)",
                          cfg->per_device_batch_size);
    if (cfg->world_size < 1)
        return stc_errorf(STC_ERR_USAGE, "sampler: world size must be >= 1 (got %d)", cfg->world_size);
    stc_sampler *s = stc_calloc(1, sizeof *s, "sampler");
    if (!s)
        return STC_ERR_NOMEM;
    s->per_device_batch_size = cfg->per_device_batch_size;
    s->world_size = cfg->world_size;
    s->global_batch_size = (size_t)cfg->per_device_batch_size * (size_t)cfg->world_size;
    s->drop_last = cfg->drop_last ? 1 : 0;
    s->seed = cfg->seed;
    const char *bname = cfg->batch_sampler ? cfg->batch_sampler : "batch_sampler";
    const char *mname = cfg->multi_dataset_batch_sampler ? cfg->multi_dataset_batch_sampler
                                                         : "proportional";
    rc = resolve("batch_sampler", bname, cfg->batch_sampler_params, STC_SAMPLER_BATCH, &s->batch,
                 &s->batch_state);
    if (rc)
        goto err_free_sampler;
    rc = resolve("multi_dataset_batch_sampler", mname, cfg->multi_dataset_batch_sampler_params,
                 STC_SAMPLER_MULTI, &s->multi, &s->multi_state);
    if (rc)
        goto err_free_sampler;
    *out = s;
    return 0;

err_free_sampler:
    stc_sampler_free(s);
    return rc;
}

void stc_sampler_free(stc_sampler *s)
{
    if (!s)
        return;
    if (s->batch && s->batch->free && s->batch_state)
        s->batch->free(s->batch_state);
    if (s->multi && s->multi->free && s->multi_state)
        s->multi->free(s->multi_state);
    free(s);
}

/* Checks what the caller says about the datasets before any sampler reads
 * it. */
static int check_datasets(const stc_sampler_dataset *ds, int n)
{
    if (n < 1 || n > 0xFFFFFF)
        return stc_errorf(STC_ERR_USAGE, "sampler: %d datasets (need 1 to %d)", n, 0xFFFFFF);
    for (int k = 0; k < n; k++) {
        char nb[32];
        const char *name = stc_sampler_ds_name(&ds[k], k, nb);
        if (ds[k].n_rows > (size_t)INT64_MAX)
            return stc_errorf(STC_ERR_DATA, "sampler: %s: too many rows", name);
        if (ds[k].n_hash_columns < 0 || (ds[k].n_hash_columns > 0 && ds[k].n_rows && !ds[k].hashes))
            return stc_errorf(STC_ERR_INTERNAL, "sampler: %s: bad text hashes", name);
    }
    return 0;
}

/* The epoch as the samplers see it (n_batches filled in later for MULTI). */
static stc_sampler_epoch epoch_view(const stc_sampler *s, const stc_sampler_dataset *ds, int n,
                                    int64_t epoch)
{
    stc_sampler_epoch ep = {0};
    ep.seed = s->seed;
    ep.epoch = epoch;
    ep.batch_size = s->global_batch_size;
    ep.drop_last = s->drop_last;
    ep.n_datasets = n;
    ep.datasets = ds;
    return ep;
}

/* Runs the batch sampler on dataset k (its pass-th plan) and checks what it
 * returned: a custom sampler's bad output stops here, not in the trainer. */
static int plan_one(const stc_sampler *s, const stc_sampler_epoch *ep, int k, int pass,
                    stc_batch_list *out)
{
    stc_rng rng;
    stc_rng_init(&rng, s->seed + (uint64_t)ep->epoch, STC_SAMPLER_STREAM_BATCH(k, pass));
    stc_batch_list_clear(out);
    int rc = s->batch->plan_batches(s->batch_state, ep, k, &rng, out);
    char nb[32];
    const char *name = stc_sampler_ds_name(&ep->datasets[k], k, nb);
    if (rc)
        return stc_error_prefix(rc, "batch sampler \"%s\" on %s", s->batch->name, name);
    size_t n_rows = ep->datasets[k].n_rows;
    for (size_t b = 0; b < out->n_batches; b++) {
        size_t lo = out->offsets[b], hi = out->offsets[b + 1];
        if (hi <= lo || hi - lo > ep->batch_size)
            return stc_errorf(STC_ERR_INTERNAL,
                              "batch sampler \"%s\" on %s: batch %zu has %zu rows (batch size %zu)",
                              s->batch->name, name, b, hi - lo, ep->batch_size);
        for (size_t i = lo; i < hi; i++)
            if (out->rows[i] < 0 || (uint64_t)out->rows[i] >= n_rows)
                return stc_errorf(STC_ERR_INTERNAL,
                                  "batch sampler \"%s\" on %s: row %lld out of range (%zu rows)",
                                  s->batch->name, name, (long long)out->rows[i], n_rows);
    }
    return 0;
}

int stc_sampler_plan_dataset(const stc_sampler *s, const stc_sampler_dataset *datasets,
                             int n_datasets, int k, int64_t epoch, int pass, stc_batch_list *out)
{
    int rc = check_datasets(datasets, n_datasets);
    if (rc)
        return rc;
    if (k < 0 || k >= n_datasets || pass < 0 || pass > 0xFFFFFF)
        return stc_errorf(STC_ERR_INTERNAL, "sampler: dataset %d pass %d of %d datasets", k, pass,
                          n_datasets);
    stc_sampler_epoch ep = epoch_view(s, datasets, n_datasets, epoch);
    return plan_one(s, &ep, k, pass, out);
}

/* Sizes the plan's dataset-id array for n batches. */
static int plan_reserve_ids(stc_epoch_plan *p, size_t n)
{
    if (n <= p->dataset_cap && p->dataset)
        return 0;
    size_t cap = n ? n : 1;
    int32_t *d = realloc(p->dataset, cap * sizeof *d);
    if (!d)
        return stc_errorf(STC_ERR_NOMEM, "sampler: out of memory for %zu batch ids", cap);
    p->dataset = d;
    p->dataset_cap = cap;
    return 0;
}

/* With several datasets: every dataset's pass-0 plan, then the multi sampler's
 * order, then the batches copied in that order (a dataset drawn beyond its
 * plan continues with its next pass). */
static int plan_multi(const stc_sampler *s, const stc_sampler_dataset *ds, int n, int64_t epoch,
                      stc_epoch_plan *plan)
{
    int rc = 0;
    stc_sampler_epoch ep = epoch_view(s, ds, n, epoch);
    stc_batch_list *lists = stc_calloc((size_t)n, sizeof *lists, "sampler: per-dataset batches");
    size_t *n_batches = stc_calloc((size_t)n, sizeof *n_batches, "sampler: batch counts");
    size_t *cursor = stc_calloc((size_t)n, sizeof *cursor, "sampler: cursors");
    int *pass = stc_calloc((size_t)n, sizeof *pass, "sampler: passes");
    stc_dataset_order order = {0};
    if (!lists || !n_batches || !cursor || !pass) {
        rc = STC_ERR_NOMEM;
        goto out_free;
    }
    size_t total_rows = 0;
    for (int k = 0; k < n; k++) {
        if ((rc = plan_one(s, &ep, k, 0, &lists[k])))
            goto out_free;
        n_batches[k] = lists[k].n_batches;
        total_rows += stc_batch_list_num_rows(&lists[k]);
    }
    ep.n_batches = n_batches;
    stc_rng rng;
    stc_rng_init(&rng, s->seed + (uint64_t)epoch, STC_SAMPLER_STREAM_MULTI);
    if ((rc = s->multi->plan_order(s->multi_state, &ep, &rng, &order))) {
        rc = stc_error_prefix(rc, "multi-dataset sampler \"%s\"", s->multi->name);
        goto out_free;
    }
    if ((rc = plan_reserve_ids(plan, order.n)) ||
        (rc = stc_batch_list_reserve(&plan->batches, order.n, total_rows)))
        goto out_free;
    for (size_t i = 0; i < order.n; i++) {
        int32_t k = order.ids[i];
        if (k < 0 || k >= n) {
            rc = stc_errorf(STC_ERR_INTERNAL, "multi-dataset sampler \"%s\": dataset id %d of %d",
                            s->multi->name, (int)k, n);
            goto out_free;
        }
        if (cursor[k] == lists[k].n_batches) {
            char nb[32];
            if (lists[k].n_batches == 0) {
                rc = stc_errorf(STC_ERR_USAGE,
                                "multi-dataset sampler \"%s\" drew %s, which has no batches "
                                "(%zu rows, batch size %zu%s)",
                                s->multi->name, stc_sampler_ds_name(&ds[k], k, nb), ds[k].n_rows,
                                s->global_batch_size, s->drop_last ? ", drop_last" : "");
                goto out_free;
            }
            if ((rc = plan_one(s, &ep, k, ++pass[k], &lists[k])))
                goto out_free;
            cursor[k] = 0;
        }
        const stc_batch_list *l = &lists[k];
        size_t lo = l->offsets[cursor[k]], hi = l->offsets[cursor[k] + 1];
        cursor[k]++;
        if ((rc = stc_batch_list_append(&plan->batches, l->rows + lo, hi - lo)))
            goto out_free;
        plan->dataset[plan->batches.n_batches - 1] = k;
    }

out_free:
    if (lists)
        for (int k = 0; k < n; k++)
            stc_batch_list_free(&lists[k]);
    free(lists);
    free(n_batches);
    free(cursor);
    free(pass);
    stc_dataset_order_free(&order);
    return rc;
}

int stc_sampler_plan_epoch(const stc_sampler *s, const stc_sampler_dataset *datasets,
                           int n_datasets, int64_t epoch, stc_epoch_plan *plan)
{
    stc_batch_list_clear(&plan->batches);
    plan->epoch = epoch;
    plan->world_size = s->world_size;
    plan->per_device_batch_size = s->per_device_batch_size;
    plan->global_batch_size = s->global_batch_size;
    int rc = check_datasets(datasets, n_datasets);
    if (rc)
        return rc;
    if (n_datasets > 1) {
        rc = plan_multi(s, datasets, n_datasets, epoch, plan);
    } else {
        stc_sampler_epoch ep = epoch_view(s, datasets, 1, epoch);
        rc = plan_one(s, &ep, 0, 0, &plan->batches);
        if (!rc)
            rc = plan_reserve_ids(plan, plan->batches.n_batches);
        if (!rc)
            memset(plan->dataset, 0, plan->batches.n_batches * sizeof *plan->dataset);
    }
    if (rc)
        stc_batch_list_clear(&plan->batches);
    return rc;
}
