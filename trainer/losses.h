/*
 * Training losses on sentence embeddings (ST_SPEC.md section 3): the
 * Sentence Transformers loss classes, computed from the embedding matrices
 * the model produced, with their gradients d(loss)/d(embeddings).
 *
 * Shapes (llm.c's legend, for this file):
 *   B   local rows: the batch of this rank (one row per dataset example)
 *   D   embedding width (columns of every matrix)
 *   k   candidate columns of an in-batch loss: positive + hard negatives
 *   P   ranks; W = rows per candidate column after an all-gather (P*B),
 *       W = B on one rank
 *
 * Two ways in:
 *   - stc_loss_compute(): one rank's batch as text columns, in dataset column
 *     order (anchor, positive, negative_1, ...), each [B, D], plus labels.
 *     Every loss takes this form.
 *   - stc_loss_compute_inbatch(): the in-batch-negatives family
 *     (MultipleNegativesRanking and its symmetric/cached variants, the GIST
 *     losses, and MatryoshkaLoss around them) on "anchors x candidates" with explicit
 *     geometry, so that a distributed layer can all-gather the candidate
 *     columns (and the anchors when a direction needs them), call this, and
 *     reduce-scatter d(candidates) (and d(anchors)) without knowing the
 *     formulas. The candidate matrix is laid out as Python's
 *     torch.cat(all_gather(col) for col in columns): all ranks' positives
 *     [W, D], then all ranks' first negatives [W, D], ...; local anchor i's
 *     positive is candidate row cand_offset + i (labels
 *     arange(rank*B, rank*B + B)).
 *
 * Gradient contract: every gradient is ASSIGNED (=), never accumulated; a
 * NULL gradient array asks for the value only (evaluation). The loss is the
 * rank-local value, exactly as Python's loss module returns it on that rank
 * (MNRL: mean over the local anchors), so that DDP's averaging of the model
 * gradients over P gives the gradient of the global mean.
 *
 * CoSENTLoss and AnglELoss across ranks: these are one logsumexp over all
 * score pairs of the batch, so the mean of per-rank losses (Sentence
 * Transformers under DDP, which has no option for it) is not the loss of the
 * global batch. With spec->ranks set (the trainer sets it on more than one
 * rank unless the loss says "gather_across_devices": false), each rank
 * all-gathers its pair scores and labels (one double each per pair), every
 * rank computes the loss of the global score vector, laid out as one rank
 * with the whole batch would (rank 0's rows, then rank 1's, per candidate
 * column), and returns that global value; the gradient of its own rows'
 * scores is taken times P, so DDP's average over ranks gives the one-rank
 * gradient: P ranks x batch B train as 1 rank x batch P*B.
 * "gather_across_devices": false gives Sentence Transformers' behaviour
 * (each rank's own loss, the gradients averaged).
 *
 * Precision: the math runs in float64 throughout (the *_f64 entry points take
 * and return float64; the float32 ones convert at the edges). B x N similarity
 * matrices are cheap next to the model, and float64 makes the
 * finite-difference checks of tests/test_losses.c meaningful.
 *
 * Where the installed sentence-transformers 6.3 differs from ST_SPEC (5.2):
 * MNRL grew `directions` / `partition_mode` / `hardness_mode`, and the
 * symmetric loss is now MNRL(directions = query_to_doc + doc_to_query,
 * partition_mode = per_direction) (the same value as 5.2's (fwd + bwd) / 2);
 * CoSENT is computed by sorting (same value as 5.2's pair matrix, no -1e12
 * masking); AnglE accepts (anchor, positive, negatives...) tuples; MSELoss
 * is EmbedDistillLoss("mse"): the mean over columns of each column's MSE
 * (the same value as 5.2's concatenation), and teacher labels may also be
 * [B, k, D] (one teacher per column); TripletLoss uses real distances again
 * (= stc's decision); MarginMSELoss takes several negative columns with
 * [B, k] margins or [B, 1+k] scores; DistillKLDivLoss has
 * student_temperature / teacher_temperature and needs >= 2 candidates;
 * MegaBatchMarginLoss's mini-batched version is GradCache (the whole-batch
 * value and gradient, below); GlobalOrthogonalRegularizationLoss (not in
 * ST_SPEC's list) returns a dict of two parts. stc follows 6.3 in all of
 * these.
 *
 * GISTEmbedLoss / CachedGISTEmbedLoss (6.3): nn.CosineSimilarity (eps 1e-8)
 * scores of [anchor x candidates, anchor x anchors (contrast_anchors),
 * positive x positives (contrast_positives)] / temperature, with every score
 * whose guide similarity exceeds the guide's g(anchor, own positive) -
 * margin (relative: - |g| * margin) dropped, the own positive never; CE on
 * the own positive; the guide's embeddings come in spec->guide (they take no
 * gradient and MatryoshkaLoss does not truncate them). The plain loss takes
 * 2 or 3 columns, the cached one any number of negatives; when gathered,
 * anchors stay local (anchor_rows == n_local).
 */
#ifndef STC_TRAINER_LOSSES_H
#define STC_TRAINER_LOSSES_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STC_LOSS_MAX_COLUMNS 16     /* text columns of one dataset */
#define STC_LOSS_MAX_COMPONENTS 8   /* named parts of one loss value */
#define STC_MATRYOSHKA_MAX_DIMS 16

/* The Sentence Transformers loss classes stc implements. */
typedef enum {
    STC_LOSS_MNRL = 0,                    /* MultipleNegativesRankingLoss */
    STC_LOSS_CACHED_MNRL,                 /* CachedMultipleNegativesRankingLoss (loss-on-embeddings step) */
    STC_LOSS_MNRL_SYMMETRIC,              /* MultipleNegativesSymmetricRankingLoss */
    STC_LOSS_CACHED_MNRL_SYMMETRIC,       /* CachedMultipleNegativesSymmetricRankingLoss */
    STC_LOSS_COSENT,                      /* CoSENTLoss */
    STC_LOSS_ANGLE,                       /* AnglELoss */
    STC_LOSS_COSINE_SIMILARITY,           /* CosineSimilarityLoss (MSE of cos vs label) */
    STC_LOSS_MSE,                         /* MSELoss (embeddings vs teacher embeddings) */
    STC_LOSS_TRIPLET,                     /* TripletLoss */
    STC_LOSS_CONTRASTIVE,                 /* ContrastiveLoss */
    STC_LOSS_ONLINE_CONTRASTIVE,          /* OnlineContrastiveLoss */
    STC_LOSS_MARGIN_MSE,                  /* MarginMSELoss (student margins vs teacher margins) */
    STC_LOSS_DISTILL_KL_DIV,              /* DistillKLDivLoss (KL of softmaxed scores vs teacher scores) */
    STC_LOSS_BATCH_ALL_TRIPLET,           /* BatchAllTripletLoss */
    STC_LOSS_BATCH_HARD_TRIPLET,          /* BatchHardTripletLoss */
    STC_LOSS_BATCH_SEMI_HARD_TRIPLET,     /* BatchSemiHardTripletLoss */
    STC_LOSS_BATCH_HARD_SOFT_MARGIN_TRIPLET, /* BatchHardSoftMarginTripletLoss */
    STC_LOSS_MEGA_BATCH_MARGIN,           /* MegaBatchMarginLoss */
    STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION, /* GlobalOrthogonalRegularizationLoss (two named parts) */
    STC_LOSS_GIST,                        /* GISTEmbedLoss (guide model masks false negatives) */
    STC_LOSS_CACHED_GIST,                 /* CachedGISTEmbedLoss (GradCache) */
    STC_LOSS_TYPE_COUNT
} stc_loss_type;

/* Similarity of the MNRL family (util.cos_sim / util.dot_score) and of
 * CoSENT (util.pairwise_cos_sim / util.pairwise_dot_score). */
typedef enum {
    STC_SIM_COS = 0, /* rows L2-normalised as F.normalize (eps 1e-12), then dot */
    STC_SIM_DOT
} stc_similarity;

/* Distance of TripletLoss (TripletDistanceMetric), of the contrastive
 * losses (SiameseDistanceMetric) and of the Batch*TripletLoss family
 * (BatchHardTripletLossDistanceFunction); the exact formula depends on the
 * loss, as in Python:
 *   TripletLoss:  EUCLIDEAN ||a-b||_2, MANHATTAN ||a-b||_1,
 *                 COSINE 1 - pairwise_cos_sim (F.normalize, eps 1e-12)
 *   Contrastive:  EUCLIDEAN F.pairwise_distance = ||a-b+1e-6||_2,
 *                 MANHATTAN ||a-b+1e-6||_1,
 *                 COSINE (COSINE_DISTANCE) 1 - torch.cosine_similarity (eps 1e-8)
 *   Batch*Triplet: EUCLIDEAN euclidean_distance (alias eucledian_distance):
 *                 sqrt(max(|a|^2 - 2 a.b + |b|^2, 0)), 0 where that is 0;
 *                 COSINE cosine_distance: max(1 - cos_sim, 0), diagonal 0;
 *                 no MANHATTAN (6.3 has none) */
typedef enum {
    STC_DIST_EUCLIDEAN = 0,
    STC_DIST_MANHATTAN,
    STC_DIST_COSINE
} stc_distance;

/* MNRL `directions` (bit set; QUERY_TO_DOC is required). */
enum {
    STC_MNRL_QUERY_TO_DOC = 1,   /* local anchor -> all candidates */
    STC_MNRL_QUERY_TO_QUERY = 2, /* local anchor -> all (gathered) anchors but itself */
    STC_MNRL_DOC_TO_QUERY = 4,   /* local positive -> all (gathered) anchors */
    STC_MNRL_DOC_TO_DOC = 8      /* local positive -> all candidates but its own row's */
};

/* MNRL `partition_mode`. */
typedef enum {
    STC_MNRL_JOINT = 0,     /* one softmax over every selected direction */
    STC_MNRL_PER_DIRECTION  /* one softmax per direction, log-partitions averaged */
} stc_mnrl_partition;

/* MNRL `hardness_mode`: adds strength * stop_grad(sim) to the selected
 * query_to_doc logits (after scaling, not scaled itself). */
typedef enum {
    STC_HARDNESS_NONE = 0,
    STC_HARDNESS_IN_BATCH_NEGATIVES, /* every candidate not of this anchor's own row */
    STC_HARDNESS_HARD_NEGATIVES,     /* only this anchor's own hard negatives */
    STC_HARDNESS_ALL_NEGATIVES       /* everything but the own positive */
} stc_mnrl_hardness;

/*
 * How the ranks of a data-parallel run exchange a pairwise loss's scores
 * (CoSENTLoss, AnglELoss with gather_across_devices; see loss_pairwise.c).
 * The trainer provides it over dist/; the losses know no communicator.
 */
typedef struct {
    int world, rank;
    /* out[world * n] = every rank's in[n] in rank order; 0 or an stc_status.
     * Every rank calls it the same number of times with the same n. */
    int (*allgather_f64)(void *ctx, double *out, const double *in, size_t n);
    void *ctx;
} stc_loss_ranks;

/*
 * GISTEmbedLoss's guide embeddings for one call, laid out like the student's
 * inputs: the anchors [B, dim] (anchors are never gathered) and the
 * candidates [k * W, dim] in the candidate matrix's order (stc_loss_compute:
 * columns 1.. of the batch, one after the other). float32: they come from
 * the guide's float32 forward, carry no gradient and only decide which
 * scores are masked.
 */
typedef struct {
    const float *anchors;
    const float *cands;
    int dim;
} stc_loss_guide;

#define STC_LOSS_GUIDE_PATH_MAX 1024

/* One loss, with Python's constructor arguments (defaults from
 * stc_loss_spec_init). MatryoshkaLoss is not a type of its own but a wrapper
 * described by the matryoshka_* fields around any of these losses. */
typedef struct {
    stc_loss_type type;
    double scale;                  /* MNRL family, CoSENT, AnglE: 20 */
    stc_similarity similarity;     /* MNRL family, CoSENT: COS */
    unsigned directions;           /* MNRL family: STC_MNRL_* bits */
    stc_mnrl_partition partition;  /* MNRL family */
    stc_mnrl_hardness hardness_mode;
    double hardness_strength;      /* >= 0; 0 disables */
    int gather_across_devices;     /* MNRL family (default 0, as Python): the trainer gathers candidates,
                                      the math here is the same. CoSENT, AnglE (default 1, stc's own
                                      option): the loss over every rank's pairs, through `ranks` */
    const stc_loss_ranks *ranks;   /* not from the config: set by the trainer for CoSENT / AnglE with
                                      gather_across_devices on more than one rank; NULL: this rank alone */
    int mini_batch_size;           /* anchor rows per loss chunk: Cached*: 32; plain MNRL: 0 = all rows */
    int mini_batched;              /* MegaBatchMarginLoss use_mini_batched_version (GradCache in the trainer) */
    stc_distance distance;         /* Triplet: EUCLIDEAN; Contrastive, OnlineContrastive: COSINE */
    double margin;                 /* Triplet: 5; Contrastive, OnlineContrastive: 0.5; GIST: 0 */
    int size_average;              /* Contrastive: 1 (mean) or 0 (sum) */
    double student_temperature;    /* DistillKLDiv: `temperature` (1) unless student_temperature is given */
    double teacher_temperature;    /* DistillKLDiv: `temperature` (1) unless teacher_temperature is given */
    double positive_margin;        /* MegaBatchMargin: 0.8 */
    double negative_margin;        /* MegaBatchMargin: 0.3 */
    double mean_weight;            /* GlobalOrthogonalRegularization: 1; 0 (Python: 0 or None) drops gor_mean */
    double second_moment_weight;   /* GlobalOrthogonalRegularization: 1; 0 drops gor_second_moment */
    int aggregation_sum;           /* GlobalOrthogonalRegularization: 0 "mean" over columns, 1 "sum" */
    char guide_path[STC_LOSS_GUIDE_PATH_MAX]; /* GIST: `guide`, the guide model's directory */
    double temperature;            /* GIST: 0.01 (scores are cos / temperature) */
    int margin_relative;           /* GIST: margin_strategy 0 "absolute", 1 "relative"; `margin` above: 0 */
    int contrast_anchors;          /* GIST: 1 (anchor-anchor scores) */
    int contrast_positives;        /* GIST: 1 (positive-positive scores) */
    const stc_loss_guide *guide;   /* not from the config: GIST's guide embeddings of the call, set by the
                                      trainer (required by the compute functions for GIST) */
    /* MatryoshkaLoss around this loss: none when matryoshka_n_dims == 0.
     * Dims are kept sorted descending with their weights (as Python). */
    int matryoshka_n_dims;
    int matryoshka_dims[STC_MATRYOSHKA_MAX_DIMS];
    double matryoshka_weights[STC_MATRYOSHKA_MAX_DIMS];
    int n_dims_per_step;           /* -1 (all dims every step) or a count to sample */
    uint64_t matryoshka_step_seed; /* sampling seed when n_dims_per_step > 0: the trainer sets
                                      it per step from (seed, global step), equal on all ranks */
} stc_loss_spec;

/* Labels of one batch (NULL values: the dataset has no label column).
 *   ndim 1: [B] scores or classes        (CoSENT, AnglE, CosineSimilarity, Contrastive,
 *                                         Batch*Triplet classes, MarginMSE with one negative)
 *   ndim 2: [B, width] teacher embeddings (MSELoss: the same teacher for every column),
 *           teacher margins [B, k] or scores [B, 1+k] (MarginMSE), teacher scores [B, 1+k]
 *           (DistillKLDiv), for k negative columns
 *   ndim 3: [B, cols, width]              (MSELoss: one teacher per column) */
typedef struct {
    const float *values;
    int ndim;
    int cols;
    int width;
} stc_loss_labels;

typedef struct {
    const double *values;
    int ndim;
    int cols;
    int width;
} stc_loss_labels_f64;

/* Geometry of an in-batch (MNRL family) call; see the head of this file. */
typedef struct {
    int n_local;        /* B: this rank's anchors (>= 1) */
    int anchor_rows;    /* rows of the anchor matrix: B, or W when the anchors are gathered */
    int anchor_offset;  /* row of local anchor 0 in the anchor matrix (rank*B when gathered) */
    int cand_cols;      /* k: candidate columns (1 + hard negatives) */
    int cand_col_rows;  /* W: rows per candidate column; the candidate matrix is [k*W, D] */
    int cand_offset;    /* local anchor i's positive is candidate row cand_offset + i */
} stc_inbatch_geometry;

/* A named part of a loss value (Python losses that return a dict): the
 * trainer optimises the sum and logs each part. */
typedef struct {
    char name[48];
    double value;
} stc_loss_component;

/* What a loss call returns. n_components == 0: a plain loss (Python returns
 * a scalar). GlobalOrthogonalRegularizationLoss returns its dict's parts
 * ("gor_mean", "gor_second_moment"; a part whose weight is 0 is left out, as
 * in Python) and value = their sum. */
typedef struct {
    double value;
    int n_components;
    stc_loss_component components[STC_LOSS_MAX_COMPONENTS];
} stc_loss_result;

/* Python class name of a type ("MultipleNegativesRankingLoss"). */
const char *stc_loss_type_name(stc_loss_type type);

/* The type of a Python class name; STC_ERR_USAGE (naming the supported
 * classes) for anything else. "MatryoshkaLoss" is not a type (see
 * stc_loss_spec_from_json). */
int stc_loss_type_from_name(const char *name, stc_loss_type *type);

/* Python's constructor defaults for a type. */
void stc_loss_spec_init(stc_loss_spec *spec, stc_loss_type type);

/* Checks a spec's values (ranges, combinations Python rejects); 0 or
 * STC_ERR_USAGE with a message. */
int stc_loss_spec_validate(const stc_loss_spec *spec);

/* Sets the MatryoshkaLoss wrapper: dims (> 0, at most `embedding_dim` when
 * that is > 0) and optional weights (NULL: all 1), sorted by dim descending
 * as Python does; n_dims_per_step -1 or >= 1. */
int stc_loss_spec_set_matryoshka(stc_loss_spec *spec, const int *dims, const double *weights,
                                 int n_dims, int n_dims_per_step, int embedding_dim);

/* Reads a loss object of the training config:
 * {"type": "<Python class>", <constructor arguments by Python name>}, with
 * {"type": "MatryoshkaLoss", "loss": {...}, "matryoshka_dims": [...],
 *  "matryoshka_weights": [...], "n_dims_per_step": -1} around any loss.
 * Unknown keys, wrong types and values Python would reject are errors
 * naming `where` (e.g. "config.json: loss") and the key. Arguments naming
 * Python features stc does not have (projection_dim, mini_batch_num_tokens,
 * a loss_fct other than MSELoss, ...) are accepted only at their defaults. */
int stc_loss_spec_from_json(const cJSON *obj, const char *where, stc_loss_spec *spec);

/* 1 for the in-batch-negatives family (MNRL, symmetric, cached variants, GIST),
 * whose inputs can be gathered across ranks. */
int stc_loss_is_inbatch(stc_loss_type type);

/* 1 for GISTEmbedLoss and CachedGISTEmbedLoss (in-batch losses that need
 * spec->guide). */
int stc_loss_is_gist(stc_loss_type type);

/* Checks, before any training, that a dataset fits a loss: its number of
 * text columns, its label (label_dim 0: none, 1: a score, D: a vector) and
 * the model's embedding width D. STC_ERR_USAGE naming what is missing. */
int stc_loss_check_dataset(const stc_loss_spec *spec, int n_cols, int label_dim, int D);

/* 1 for the GradCache losses (the trainer embeds in mini-batches first). */
int stc_loss_is_cached(stc_loss_type type);
/* The same for a configured loss: also MegaBatchMarginLoss with
 * use_mini_batched_version (Python's mini-batched version is GradCache). */
int stc_loss_spec_is_cached(const stc_loss_spec *spec);

/*
 * One rank's batch as text columns. emb[c] is [B, D] for c < n_cols
 * (dataset column order); demb[c] (or demb itself) NULL for value only.
 * Column counts: MNRL family >= 2, GISTEmbedLoss 2 or 3 (CachedGIST >= 2), Triplet 3, CoSENT / CosineSimilarity /
 * Contrastive / OnlineContrastive >= 2 (only the first two are used, as in
 * Python), AnglE >= 2, MSE >= 1, MarginMSE >= 3, DistillKLDiv >= 3,
 * Batch*Triplet 1, MegaBatchMargin 2, GlobalOrthogonalRegularization >= 1.
 * Labels: required by CoSENT, CosineSimilarity, Contrastive,
 * OnlineContrastive, Batch*Triplet ([B]), MSE ([B, D] or [B, n_cols, D]),
 * MarginMSE ([B] with one negative, [B, k] margins or [B, 1+k] scores) and
 * DistillKLDiv ([B, 1+k]); optional for AnglE with > 2 columns (NULL: ones);
 * ignored by the rest. Returns 0 or an stc_status (STC_ERR_USAGE for shapes
 * that do not fit the loss, STC_ERR_DATA for non-finite labels,
 * STC_ERR_NOMEM).
 *
 * The losses added after OnlineContrastiveLoss (MarginMSE ... GOR) are
 * per-rank losses: under several ranks each rank computes its own batch's
 * value, as Python under DDP, and DDP's gradient average does the rest.
 * MegaBatchMarginLoss's mini-batched version (6.3: GradCache, chunks of
 * mini_batch_size anchors, each chunk's loss / B summed) has the value and
 * gradient of the whole batch at once, which is what stc computes; as in
 * Python, mini_batch_size bounds the memory: the trainer embeds and
 * back-propagates that many texts at a time (stc_loss_spec_is_cached).
 */
int stc_loss_compute(const stc_loss_spec *spec, const float *const *emb, int n_cols, int B, int D,
                     const stc_loss_labels *labels, stc_loss_result *result, float *const *demb);
int stc_loss_compute_f64(const stc_loss_spec *spec, const double *const *emb, int n_cols, int B,
                         int D, const stc_loss_labels_f64 *labels, stc_loss_result *result,
                         double *const *demb);

/*
 * The in-batch family on anchors [geo->anchor_rows, D] x candidates
 * [geo->cand_cols * geo->cand_col_rows, D] (see the head of this file).
 * danchors [anchor_rows, D] and dcands [k*W, D] are assigned (both NULL for
 * the value only): the caller sums them back to their owner ranks
 * (reduce-scatter). The query_to_query and doc_to_query directions need the
 * anchors of every candidate row (anchor_rows == cand_col_rows); the default
 * query_to_doc needs only the local anchors. The spec's mini_batch_size
 * splits the local anchors into chunks whose loss is
 * CE(chunk) * len(chunk) / B, summed (CachedMNRL's loss step): the same value
 * and gradients as one chunk, up to rounding, with B x N memory cut to
 * mini_batch_size x N.
 */
int stc_loss_compute_inbatch(const stc_loss_spec *spec, const float *anchors, const float *cands,
                             const stc_inbatch_geometry *geo, int D, stc_loss_result *result,
                             float *danchors, float *dcands);
int stc_loss_compute_inbatch_f64(const stc_loss_spec *spec, const double *anchors,
                                 const double *cands, const stc_inbatch_geometry *geo, int D,
                                 stc_loss_result *result, double *danchors, double *dcands);

#ifdef __cplusplus
}
#endif

#endif
