/*
 * Batch samplers and multi-dataset samplers (ST_SPEC.md section 4), as pure
 * functions of (seed, epoch, dataset sizes, rows' metadata).
 *
 * Every rank calls stc_sampler_plan_epoch with the same arguments and gets
 * the same epoch plan — the list of global batches, each drawn from one
 * dataset — without any communication; it then takes its own slice of each
 * global batch (stc_epoch_plan_rank_rows). Resuming at (epoch, step) is
 * re-planning the epoch and skipping `step` batches.
 *
 * Global batch and rank slices (stc's choice, DESIGN.md "Data flow"): the
 * config's per_device_train_batch_size B is per rank; with P ranks the
 * samplers run with batch size G = P * B, and rank r takes rows
 * [r*B, (r+1)*B) of each full global batch. So P ranks x B sees exactly the
 * batches of 1 rank x P*B, and world sizes 1, 2, 4 with the same G give
 * identical global batches. A global batch with m < G rows (the last batch
 * without drop_last, or a NO_DUPLICATES batch cut short by duplicates) is
 * split as evenly as possible in rank order: rank r gets
 * floor(m/P) + (r < m%P) rows, starting at r*floor(m/P) + min(r, m%P)
 * (stc_sampler_rank_split). A rank may get fewer rows than the others, and
 * none when m < P; it still joins every collective of the step (with zero
 * rows), and losses must average over the global batch, not per rank. The
 * per-rank counts are a pure function too, so every rank knows them all
 * (e.g. for an all-gather of uneven sizes) without asking.
 *
 * Random numbers: SplitMix64 (stc_rng below). Each random decision has its
 * own stream, keyed by (seed + epoch, stream id): the batch sampler of
 * dataset k uses STC_SAMPLER_STREAM_BATCH(k, pass), the multi-dataset
 * sampler STC_SAMPLER_STREAM_MULTI. Following ST_SPEC's decisions, the
 * per-dataset samplers are seeded with the training seed + epoch (the
 * Python library uses 0 + epoch), every epoch reshuffles on every world
 * size, and the streams are not torch's: the structural rules are kept,
 * not the exact orders.
 *
 * Built-in batch samplers (config "batch_sampler", case-insensitive):
 *   batch_sampler   a permutation of the rows (Fisher-Yates over 0..n-1),
 *                   cut into batches of G; a short last batch unless
 *                   drop_last.
 *   no_duplicates   (alias no_duplicates_hashed) Sentence Transformers'
 *                   rule: over the same permutation, repeatedly scan the
 *                   remaining rows in order, skipping a row if any of its
 *                   text hashes (all text columns) equals one already in
 *                   the batch (across columns; repeats inside one row are
 *                   fine), until G rows are taken; a scan that reaches the
 *                   end yields its short batch unless drop_last, and its
 *                   rows are consumed either way. The batch count is the
 *                   true one (the plan is the run). Rows holding a
 *                   frequent value are kept in lists of their own so that
 *                   a batch never rescans rows it must skip: near-linear
 *                   time even where one text is in a fifth of the rows (the
 *                   literal scan, and Python, are quadratic there); see
 *                   no_duplicates.c.
 *   group_by_label  G even. Rows grouped by label in first-occurrence
 *                   order; each group keeps its first even number of rows
 *                   (in dataset order; a group of one is dropped); each
 *                   epoch the kept groups are visited in a shuffled order,
 *                   their rows appended in dataset order, and the stream is
 *                   cut into batches of G; the rest is a batch unless
 *                   drop_last. Labels: int64 or double (-0.0 == 0.0; NaN is
 *                   an error).
 * Built-in multi-dataset samplers ("multi_dataset_batch_sampler"; used only
 * with two or more datasets; each batch comes from one dataset):
 *   proportional    (default) the ids [0]*len0 + [1]*len1 + ... shuffled;
 *                   each id takes that dataset's next batch: every batch of
 *                   every dataset once per epoch.
 *   round_robin     datasets 0..K-1 one batch each, in turn; the epoch ends
 *                   at the first exhausted dataset (min(len_k) * K batches).
 *
 * Custom samplers: implement stc_sampler_ops in a .c file and register it
 * (stc_sampler_register, or STC_SAMPLER_REGISTER(ops) for registration at
 * program start); the config names it. See data/SAMPLERS.md and
 * configs/samplers/temperature_sampler.c.
 */
#ifndef STC_DATA_SAMPLER_H
#define STC_DATA_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Random numbers                                                           */
/* ------------------------------------------------------------------------ */

/*
 * SplitMix64 (Steele, Lea, Flood 2014): state += 0x9E3779B97F4A7C15, output
 * is the state through the 64-bit finalizer
 *   z = (z ^ z>>30) * 0xBF58476D1CE4E5B9; z = (z ^ z>>27) * 0x94D049BB133111EB;
 *   z ^ z>>31.
 * stc_rng_init(seed, stream) starts at state
 *   fmix(fmix(seed) ^ fmix(stream ^ 0x6A09E667F3BCC909))
 * (fmix = the finalizer above), so streams with different ids are unrelated.
 */
typedef struct {
    uint64_t state; /* the SplitMix64 counter */
} stc_rng;

/* Stream ids: the batch sampler of dataset k (its pass-th plan within one
 * epoch; pass 0 normally, later passes when a custom multi-dataset sampler
 * draws a dataset more often than it has batches), and the multi-dataset
 * sampler. Custom samplers get their rng already keyed. */
#define STC_SAMPLER_STREAM_BATCH(k, pass) \
    (((uint64_t)1 << 56) | ((uint64_t)((uint32_t)(pass) & 0xFFFFFFu) << 32) | (uint64_t)(uint32_t)(k))
#define STC_SAMPLER_STREAM_MULTI ((uint64_t)2 << 56)

/* Seeds rng for stream `stream` of seed `seed` (the samplers pass
 * seed + epoch, as a wrapping 64-bit sum). */
void stc_rng_init(stc_rng *rng, uint64_t seed, uint64_t stream);
/* The next 64 random bits. */
uint64_t stc_rng_next(stc_rng *rng);
/* Uniform in [0, n), unbiased (rejection of the low 2^64 mod n values, then
 * modulo); n >= 1. */
uint64_t stc_rng_below(stc_rng *rng, uint64_t n);
/* Uniform double in [0, 1): the top 53 bits of stc_rng_next / 2^53. */
double stc_rng_uniform(stc_rng *rng);
/* Fisher-Yates: for i = n-1 down to 1, swap a[i] with a[stc_rng_below(i+1)]. */
void stc_rng_shuffle_i64(stc_rng *rng, int64_t *a, size_t n);
void stc_rng_shuffle_i32(stc_rng *rng, int32_t *a, size_t n);

/* A 64-bit hash of a text's bytes for NO_DUPLICATES (equal bytes, equal
 * hash; the same on every machine). Not cryptographic: two different texts
 * collide with probability about 2^-64 per pair, which would only make the
 * sampler keep them apart. */
uint64_t stc_sampler_hash_text(const void *data, size_t len);

/* ------------------------------------------------------------------------ */
/* Inputs and outputs                                                       */
/* ------------------------------------------------------------------------ */

/* What the samplers know of one dataset. The arrays belong to the caller and
 * must outlive the call. */
typedef struct {
    const char *name;          /* for messages; NULL: "dataset K" */
    size_t n_rows;
    int n_hash_columns;        /* no_duplicates: text values per row */
    const uint64_t *hashes;    /* (n_rows, n_hash_columns) hashes of the text columns, row-major */
    const int64_t *labels_i64; /* group_by_label: (n_rows) labels, or ... */
    const double *labels_f64;  /* ... (n_rows) labels (set exactly one) */
} stc_sampler_dataset;

/* Batches as row numbers: batch b is rows[offsets[b] .. offsets[b+1]).
 * Zero-initialise (or stc_batch_list_init); stc_batch_list_free. */
typedef struct {
    size_t n_batches;
    size_t *offsets;     /* (n_batches + 1); NULL while empty */
    int64_t *rows;       /* (offsets[n_batches]) row numbers within the dataset */
    size_t batches_cap;  /* offsets holds batches_cap + 1 */
    size_t rows_cap;     /* rows holds rows_cap */
} stc_batch_list;

void stc_batch_list_init(stc_batch_list *l);
void stc_batch_list_free(stc_batch_list *l);
/* Empties the list, keeping its memory. */
void stc_batch_list_clear(stc_batch_list *l);
/* Makes room for n_batches more batches holding n_rows more rows. */
int stc_batch_list_reserve(stc_batch_list *l, size_t n_batches, size_t n_rows);
/* Appends one batch of n >= 1 rows. */
int stc_batch_list_append(stc_batch_list *l, const int64_t *rows, size_t n);
/* Rows in the list (offsets[n_batches], 0 when empty). */
size_t stc_batch_list_num_rows(const stc_batch_list *l);

/* A growable list of dataset ids: a multi-dataset sampler's output. */
typedef struct {
    size_t n;
    size_t cap;
    int32_t *ids; /* (n) dataset of each global batch, in order */
} stc_dataset_order;

int stc_dataset_order_reserve(stc_dataset_order *o, size_t n);
int stc_dataset_order_push(stc_dataset_order *o, int32_t id);
void stc_dataset_order_free(stc_dataset_order *o);

/* One epoch of global batches. Zero-initialise (or stc_epoch_plan_init);
 * stc_epoch_plan_free. */
typedef struct {
    int64_t epoch;
    int world_size;
    int per_device_batch_size;
    size_t global_batch_size; /* world_size * per_device_batch_size */
    stc_batch_list batches;   /* global batches, rows within their dataset */
    int32_t *dataset;         /* (batches.n_batches) dataset of each batch */
    size_t dataset_cap;
} stc_epoch_plan;

void stc_epoch_plan_init(stc_epoch_plan *p);
void stc_epoch_plan_free(stc_epoch_plan *p);

/* Global batches in the plan (the epoch's step count before gradient
 * accumulation). */
size_t stc_epoch_plan_num_batches(const stc_epoch_plan *p);

/* The slice of a global batch of m rows that `rank` of world_size takes
 * (the rule in the file comment). Slices of ranks 0..P-1 are contiguous, in
 * order, and partition [0, m). */
void stc_sampler_rank_split(size_t m, int world_size, int rank, size_t *start, size_t *count);

/* Rank `rank`'s rows of global batch b: *rows points into the plan, *n rows
 * (may be 0); *dataset (may be NULL) receives the batch's dataset. */
int stc_epoch_plan_rank_rows(const stc_epoch_plan *p, size_t b, int rank,
                             const int64_t **rows, size_t *n, int *dataset);

/* ------------------------------------------------------------------------ */
/* Custom samplers                                                          */
/* ------------------------------------------------------------------------ */

typedef enum {
    STC_SAMPLER_BATCH = 1, /* batches over one dataset ("batch_sampler") */
    STC_SAMPLER_MULTI = 2  /* order of datasets ("multi_dataset_batch_sampler") */
} stc_sampler_kind;

/* What a sampler sees of the epoch being planned. */
typedef struct {
    uint64_t seed;                       /* the training seed (data_seed if set) */
    int64_t epoch;
    size_t batch_size;                   /* the global batch size G */
    int drop_last;
    int n_datasets;
    const stc_sampler_dataset *datasets; /* (n_datasets) */
    const size_t *n_batches;             /* MULTI only: (n_datasets) batches in each dataset's plan */
} stc_sampler_epoch;

/*
 * A sampler. Members marked optional may be NULL. The plan functions must be
 * pure: same inputs, same output, on every rank; all randomness comes from
 * the rng they are given (already keyed by seed + epoch and the stream), and
 * they must not change their state (it is const).
 */
typedef struct stc_sampler_ops {
    const char *name;      /* the config name, matched case-insensitively */
    stc_sampler_kind kind;
    /* Optional. Reads the sampler's parameters (a JSON object, or NULL when
     * the config gave only the name) into a new *state; `where` names the
     * config key for messages. Returns 0 or an stc_status after stc_errorf. */
    int (*init)(void **state, const cJSON *params, const char *where);
    /* Optional. Frees what init made. */
    void (*free)(void *state);
    /* BATCH: appends the epoch's batches over ep->datasets[dataset] to out
     * (empty on entry): each batch 1..batch_size rows, row numbers in
     * [0, n_rows). Which rows and how often is the sampler's rule. */
    int (*plan_batches)(const void *state, const stc_sampler_epoch *ep, int dataset,
                        stc_rng *rng, stc_batch_list *out);
    /* MULTI: appends to out (empty on entry) the dataset id of each global
     * batch of the epoch, in order. Each id takes that dataset's next batch;
     * a dataset drawn more than ep->n_batches[k] times continues with a fresh
     * plan of itself (stream pass 1, 2, ...); drawing one without batches is
     * an error. */
    int (*plan_order)(const void *state, const stc_sampler_epoch *ep, stc_rng *rng,
                      stc_dataset_order *out);
} stc_sampler_ops;

/* Adds a sampler to the registry. Registering the same ops twice is fine; a
 * name already taken (built-ins included, any case) or a malformed ops is an
 * STC_ERR_USAGE error. Not thread-safe: register at start-up. */
int stc_sampler_register(const stc_sampler_ops *ops);

/* Registers `ops` (a stc_sampler_ops variable) before main() runs. An error
 * is kept and reported by the next stc_sampler_create. The .c file must be
 * linked as an object (cmake/samplers.cmake does this for
 * configs/samplers/ files), not pulled from a static library. */
#define STC_SAMPLER_REGISTER(ops) \
    __attribute__((constructor)) static void stc_sampler_autoregister_##ops(void) \
    { stc_sampler_register_at_start(&(ops)); }
void stc_sampler_register_at_start(const stc_sampler_ops *ops);

/* The registered sampler of this kind and name (any case), or NULL. */
const stc_sampler_ops *stc_sampler_find(const char *name, stc_sampler_kind kind);

/* A config value naming a sampler: a string, or an object
 * {"type": name, <params>...}. *name points into value; *params is the
 * object (the sampler ignores "type") or NULL. */
int stc_sampler_parse_choice(const cJSON *value, const char *key, const char **name,
                             const cJSON **params);

/* ------------------------------------------------------------------------ */
/* Planning an epoch                                                        */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *batch_sampler;                     /* NULL: "batch_sampler" */
    const cJSON *batch_sampler_params;             /* NULL or an object */
    const char *multi_dataset_batch_sampler;       /* NULL: "proportional" */
    const cJSON *multi_dataset_batch_sampler_params;
    int per_device_batch_size;                     /* >= 1 */
    int world_size;                                /* >= 1 */
    int drop_last;
    uint64_t seed;                                 /* data_seed if set, else seed */
} stc_sampler_config;

typedef struct stc_sampler stc_sampler;

/* Resolves the sampler names and reads their parameters. Errors
 * (STC_ERR_USAGE) name the key and list the registered names. */
int stc_sampler_create(stc_sampler **out, const stc_sampler_config *cfg);
void stc_sampler_free(stc_sampler *s);

/* The epoch's global batches over n_datasets >= 1 datasets (with one, the
 * multi-dataset sampler is not used: Sentence Transformers' plain Dataset).
 * plan is overwritten. A pure function of its arguments. */
int stc_sampler_plan_epoch(const stc_sampler *s, const stc_sampler_dataset *datasets,
                           int n_datasets, int64_t epoch, stc_epoch_plan *plan);

/* The batch sampler's plan of one dataset alone (dataset k of datasets, its
 * pass-th plan of the epoch), as stc_sampler_plan_epoch uses it. out is
 * overwritten. */
int stc_sampler_plan_dataset(const stc_sampler *s, const stc_sampler_dataset *datasets,
                             int n_datasets, int k, int64_t epoch, int pass,
                             stc_batch_list *out);

#ifdef __cplusplus
}
#endif

#endif
