/*
 * A custom multi-dataset sampler, as a user would write one: temperature-
 * scaled dataset sampling. Each global batch comes from dataset k with
 * probability proportional to n_k^(1/T), n_k its row count:
 *   T = 1  proportional to size (like "proportional", but drawn with
 *          replacement instead of using every batch exactly once);
 *   T > 1  flatter: small datasets are seen more often than their size
 *          alone would give (T -> infinity: uniform over datasets);
 *   T < 1  sharper: large datasets dominate.
 * A dataset drawn more often than it has batches in the epoch continues
 * with a fresh shuffle of itself (stc_sampler_plan_epoch does this); one
 * without batches (fewer rows than a global batch, with drop_last) is never
 * drawn.
 *
 * Config:
 *   "multi_dataset_batch_sampler": {"type": "temperature", "temperature": 2.0,
 *                                   "num_batches": 1000}
 * temperature > 0 (default 1.0); num_batches >= 1 is the epoch's length in
 * global batches (default: the total batches of all datasets, as with
 * "proportional").
 *
 * Built into stc by cmake/samplers.cmake (every C file in configs/samplers/ is
 * linked into the stc executable); STC_SAMPLER_REGISTER at the bottom makes
 * the name known before main() runs.
 */
#include "data/sampler.h"
#include "util/error.h"
#include "util/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The parsed parameters. */
typedef struct {
    double temperature; /* T > 0 */
    long num_batches;   /* epoch length in global batches; 0: sum of the datasets' batches */
} temperature_params;

/* Reads {"temperature": T, "num_batches": L}; any other key is an error
 * (a misspelt parameter must not be ignored silently). */
static int temperature_init(void **state, const cJSON *params, const char *where)
{
    temperature_params p = {1.0, 0};
    int num_batches = 0;
    if (params) {
        for (const cJSON *c = params->child; c; c = c->next)
            if (strcmp(c->string, "type") && strcmp(c->string, "temperature") &&
                strcmp(c->string, "num_batches"))
                return stc_errorf(STC_ERR_USAGE,
                                  "config: %s: unknown parameter \"%s\" of the temperature "
                                  "sampler (known: temperature, num_batches)",
                                  where, c->string);
        if (stc_json_get_double(params, "temperature", where, &p.temperature) ||
            stc_json_get_int(params, "num_batches", where, &num_batches))
            return stc_error_prefix(STC_ERR_USAGE, "config");
    }
    if (!(p.temperature > 0) || !isfinite(p.temperature))
        return stc_errorf(STC_ERR_USAGE, "config: %s: temperature must be a number > 0 (got %g)",
                          where, p.temperature);
    if (num_batches < 0)
        return stc_errorf(STC_ERR_USAGE, "config: %s: num_batches must be >= 1 (got %d)", where,
                          num_batches);
    p.num_batches = num_batches;
    temperature_params *s = stc_malloc(sizeof *s, "temperature sampler");
    if (!s)
        return STC_ERR_NOMEM;
    *s = p;
    *state = s;
    return 0;
}

static void temperature_free(void *state) { free(state); }

/* Draws each batch's dataset by inverting the cumulative weights
 * n_k^(1/T) with one uniform number (rng is already keyed by seed + epoch,
 * so every rank draws the same sequence). */
static int temperature_plan_order(const void *state, const stc_sampler_epoch *ep, stc_rng *rng,
                                  stc_dataset_order *out)
{
    const temperature_params *p = state;
    int K = ep->n_datasets, rc = 0;
    double *cum = stc_malloc((size_t)K * sizeof *cum, "temperature sampler: weights");
    if (!cum)
        return STC_ERR_NOMEM;
    double total = 0;
    size_t total_batches = 0;
    int last = -1; /* the last dataset with batches */
    for (int k = 0; k < K; k++) {
        if (ep->n_batches[k]) {
            total += pow((double)ep->datasets[k].n_rows, 1.0 / p->temperature);
            last = k;
        }
        cum[k] = total;
        total_batches += ep->n_batches[k];
    }
    size_t L = p->num_batches ? (size_t)p->num_batches : total_batches;
    if (last < 0 || !(total > 0))
        goto out_free; /* nothing to draw from: an empty epoch */
    if ((rc = stc_dataset_order_reserve(out, L)))
        goto out_free;
    for (size_t i = 0; i < L; i++) {
        double u = stc_rng_uniform(rng) * total;
        int lo = 0, hi = last; /* first k with cum[k] > u; rounding falls to last */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (cum[mid] > u)
                hi = mid;
            else
                lo = mid + 1;
        }
        out->ids[out->n++] = lo;
    }

out_free:
    free(cum);
    return rc;
}

const stc_sampler_ops stc_temperature_sampler = {
    .name = "temperature",
    .kind = STC_SAMPLER_MULTI,
    .init = temperature_init,
    .free = temperature_free,
    .plan_order = temperature_plan_order,
};

STC_SAMPLER_REGISTER(stc_temperature_sampler)
