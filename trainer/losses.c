/*
 * The loss API (losses.h): specs with Python's defaults, their validation and
 * config parsing, the entry points that check shapes and convert float32 to
 * float64, the MatryoshkaLoss wrapper, and the row normalisation shared by
 * the loss families (loss_mnrl.c, loss_pairwise.c).
 */
#include "trainer/losses.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "trainer/loss_internal.h"
#include "util/error.h"

/* ---- normalisation ------------------------------------------------------- */

void stc_loss_normalize_rows(double *y, double *norm, const double *x, int R, int D, double eps)
{
    for (int r = 0; r < R; r++) {
        const double *xr = x + (size_t)r * D;
        double *yr = y + (size_t)r * D;
        double s = 0.0;
        for (int j = 0; j < D; j++)
            s += xr[j] * xr[j];
        double n = sqrt(s), den = n > eps ? n : eps;
        norm[r] = n;
        for (int j = 0; j < D; j++)
            yr[j] = xr[j] / den;
    }
}

void stc_loss_normalize_rows_backward(double *dx, const double *dy, const double *y,
                                      const double *norm, int R, int D, double eps)
{
    for (int r = 0; r < R; r++) {
        const double *dyr = dy + (size_t)r * D, *yr = y + (size_t)r * D;
        double *dxr = dx + (size_t)r * D;
        if (norm[r] >= eps) {
            double dot = 0.0;
            for (int j = 0; j < D; j++)
                dot += yr[j] * dyr[j];
            for (int j = 0; j < D; j++)
                dxr[j] = (dyr[j] - yr[j] * dot) / norm[r];
        } else {
            for (int j = 0; j < D; j++)
                dxr[j] = dyr[j] / eps;
        }
    }
}

int stc_loss_ranked_cmp(const void *a, const void *b)
{
    const stc_loss_ranked *x = a, *y = b;
    if (x->v < y->v)
        return -1;
    if (x->v > y->v)
        return 1;
    return x->idx - y->idx;
}

double stc_loss_dot(const double *x, const double *y, int D)
{
    double s = 0.0;
    for (int j = 0; j < D; j++)
        s += x[j] * y[j];
    return s;
}

void stc_loss_rows_free(stc_loss_rows *r)
{
    for (int m = 0; m < r->n_mats; m++) {
        if (r->normed)
            free((double *)r->h[m]);
        free(r->nrm[m]);
        free(r->gh[m]);
        r->h[m] = r->nrm[m] = r->gh[m] = NULL;
    }
}

int stc_loss_rows_init(stc_loss_rows *r, const stc_loss_input *in, int normed, int grad)
{
    memset(r, 0, sizeof(*r));
    r->n_mats = in->n_mats;
    r->dim = in->dim;
    r->normed = normed;
    for (int m = 0; m < in->n_mats; m++) {
        const size_t n = (size_t)in->rows[m] * in->dim;
        r->rows[m] = in->rows[m];
        if (normed) {
            double *h = stc_malloc(n * sizeof(double), "unit rows");
            r->h[m] = h;
            r->nrm[m] = stc_malloc((size_t)in->rows[m] * sizeof(double), "row norms");
            if (!h || !r->nrm[m])
                goto err_free;
            stc_loss_normalize_rows(h, r->nrm[m], in->x[m], in->rows[m], in->dim, STC_NORMALIZE_EPS);
        } else {
            r->h[m] = in->x[m];
        }
        if (grad && !(r->gh[m] = stc_calloc(n, sizeof(double), "unit row gradient")))
            goto err_free;
    }
    return STC_OK;
err_free:
    stc_loss_rows_free(r);
    return STC_ERR_NOMEM;
}

void stc_loss_rows_backward(const stc_loss_rows *r, double *const *dx)
{
    for (int m = 0; m < r->n_mats; m++) {
        if (r->normed)
            stc_loss_normalize_rows_backward(dx[m], r->gh[m], r->h[m], r->nrm[m], r->rows[m], r->dim,
                                             STC_NORMALIZE_EPS);
        else
            memcpy(dx[m], r->gh[m], (size_t)r->rows[m] * r->dim * sizeof(double));
    }
}

/* ---- names, defaults, validation ------------------------------------------- */

static const char *const TYPE_NAMES[STC_LOSS_TYPE_COUNT] = {
    [STC_LOSS_MNRL] = "MultipleNegativesRankingLoss",
    [STC_LOSS_CACHED_MNRL] = "CachedMultipleNegativesRankingLoss",
    [STC_LOSS_MNRL_SYMMETRIC] = "MultipleNegativesSymmetricRankingLoss",
    [STC_LOSS_CACHED_MNRL_SYMMETRIC] = "CachedMultipleNegativesSymmetricRankingLoss",
    [STC_LOSS_COSENT] = "CoSENTLoss",
    [STC_LOSS_ANGLE] = "AnglELoss",
    [STC_LOSS_COSINE_SIMILARITY] = "CosineSimilarityLoss",
    [STC_LOSS_MSE] = "MSELoss",
    [STC_LOSS_TRIPLET] = "TripletLoss",
    [STC_LOSS_CONTRASTIVE] = "ContrastiveLoss",
    [STC_LOSS_ONLINE_CONTRASTIVE] = "OnlineContrastiveLoss",
    [STC_LOSS_MARGIN_MSE] = "MarginMSELoss",
    [STC_LOSS_DISTILL_KL_DIV] = "DistillKLDivLoss",
    [STC_LOSS_BATCH_ALL_TRIPLET] = "BatchAllTripletLoss",
    [STC_LOSS_BATCH_HARD_TRIPLET] = "BatchHardTripletLoss",
    [STC_LOSS_BATCH_SEMI_HARD_TRIPLET] = "BatchSemiHardTripletLoss",
    [STC_LOSS_BATCH_HARD_SOFT_MARGIN_TRIPLET] = "BatchHardSoftMarginTripletLoss",
    [STC_LOSS_MEGA_BATCH_MARGIN] = "MegaBatchMarginLoss",
    [STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION] = "GlobalOrthogonalRegularizationLoss",
    [STC_LOSS_GIST] = "GISTEmbedLoss",
    [STC_LOSS_CACHED_GIST] = "CachedGISTEmbedLoss",
};

/* GOR returns a dict of parts; Python's MatryoshkaLoss computes
 * weight * loss(...), a TypeError for a dict, so stc refuses the pair too. */
#define MATRYOSHKA_NO_PARTS \
    "MatryoshkaLoss cannot wrap %s: it returns a dict of parts, which Python's MatryoshkaLoss cannot weight either"

/* 1 for the Batch*TripletLoss family (one text column, class labels). */
static int is_batch_triplet(stc_loss_type t)
{
    return t == STC_LOSS_BATCH_ALL_TRIPLET || t == STC_LOSS_BATCH_HARD_TRIPLET ||
           t == STC_LOSS_BATCH_SEMI_HARD_TRIPLET || t == STC_LOSS_BATCH_HARD_SOFT_MARGIN_TRIPLET;
}

const char *stc_loss_type_name(stc_loss_type type)
{
    return (unsigned)type < STC_LOSS_TYPE_COUNT ? TYPE_NAMES[type] : "?";
}

int stc_loss_type_from_name(const char *name, stc_loss_type *type)
{
    for (int t = 0; t < STC_LOSS_TYPE_COUNT; t++) {
        if (!strcmp(name, TYPE_NAMES[t])) {
            *type = (stc_loss_type)t;
            return STC_OK;
        }
    }
    return stc_errorf(STC_ERR_USAGE,
                      "unknown loss '%s' (stc has MultipleNegativesRankingLoss, "
                      "CachedMultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss, "
                      "CachedMultipleNegativesSymmetricRankingLoss, CoSENTLoss, AnglELoss, "
                      "CosineSimilarityLoss, MSELoss, TripletLoss, ContrastiveLoss, "
                      "OnlineContrastiveLoss, MarginMSELoss, DistillKLDivLoss, BatchAllTripletLoss, "
                      "BatchHardTripletLoss, BatchSemiHardTripletLoss, BatchHardSoftMarginTripletLoss, "
                      "MegaBatchMarginLoss, GlobalOrthogonalRegularizationLoss, GISTEmbedLoss, "
                      "CachedGISTEmbedLoss, and MatryoshkaLoss around any of them but "
                      "GlobalOrthogonalRegularizationLoss)",
                      name);
}

int stc_loss_is_inbatch(stc_loss_type type)
{
    return type == STC_LOSS_MNRL || type == STC_LOSS_CACHED_MNRL || type == STC_LOSS_MNRL_SYMMETRIC ||
           type == STC_LOSS_CACHED_MNRL_SYMMETRIC || stc_loss_is_gist(type);
}

int stc_loss_is_gist(stc_loss_type type)
{
    return type == STC_LOSS_GIST || type == STC_LOSS_CACHED_GIST;
}

int stc_loss_is_cached(stc_loss_type type)
{
    return type == STC_LOSS_CACHED_MNRL || type == STC_LOSS_CACHED_MNRL_SYMMETRIC || type == STC_LOSS_CACHED_GIST;
}

int stc_loss_spec_is_cached(const stc_loss_spec *spec)
{
    return stc_loss_is_cached(spec->type) || (spec->type == STC_LOSS_MEGA_BATCH_MARGIN && spec->mini_batched);
}

void stc_loss_spec_init(stc_loss_spec *spec, stc_loss_type type)
{
    memset(spec, 0, sizeof(*spec));
    spec->type = type;
    spec->scale = 20.0;
    spec->similarity = STC_SIM_COS;
    spec->directions = STC_MNRL_QUERY_TO_DOC;
    spec->partition = STC_MNRL_JOINT;
    spec->hardness_mode = STC_HARDNESS_NONE;
    spec->hardness_strength = 0.0;
    spec->mini_batch_size = stc_loss_is_cached(type) ? 32 : 0;
    spec->n_dims_per_step = -1;
    if (type == STC_LOSS_MNRL_SYMMETRIC || type == STC_LOSS_CACHED_MNRL_SYMMETRIC) {
        spec->directions = STC_MNRL_QUERY_TO_DOC | STC_MNRL_DOC_TO_QUERY;
        spec->partition = STC_MNRL_PER_DIRECTION;
    }
    switch (type) {
    case STC_LOSS_COSENT:
    case STC_LOSS_ANGLE:
        spec->gather_across_devices = 1; /* stc's default (losses.h, "CoSENTLoss and AnglELoss across ranks") */
        break;
    case STC_LOSS_TRIPLET:
        spec->distance = STC_DIST_EUCLIDEAN;
        spec->margin = 5.0;
        break;
    case STC_LOSS_CONTRASTIVE:
    case STC_LOSS_ONLINE_CONTRASTIVE:
        spec->distance = STC_DIST_COSINE;
        spec->margin = 0.5;
        spec->size_average = 1;
        break;
    case STC_LOSS_MARGIN_MSE:
    case STC_LOSS_DISTILL_KL_DIV:
        spec->similarity = STC_SIM_DOT; /* pairwise_dot_score */
        spec->student_temperature = spec->teacher_temperature = 1.0;
        break;
    case STC_LOSS_BATCH_ALL_TRIPLET:
    case STC_LOSS_BATCH_HARD_TRIPLET:
    case STC_LOSS_BATCH_SEMI_HARD_TRIPLET:
    case STC_LOSS_BATCH_HARD_SOFT_MARGIN_TRIPLET:
        spec->distance = STC_DIST_EUCLIDEAN;
        spec->margin = 5.0; /* unused by the soft-margin loss */
        break;
    case STC_LOSS_MEGA_BATCH_MARGIN:
        spec->positive_margin = 0.8;
        spec->negative_margin = 0.3;
        /* Python's mini-batched version is GradCache: so is stc's (the
         * trainer embeds mini_batch_size texts at a time, see
         * stc_loss_spec_is_cached); the loss itself sees the whole batch. */
        spec->mini_batch_size = 50;
        spec->mini_batched = 1;
        break;
    case STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION:
        spec->mean_weight = spec->second_moment_weight = 1.0;
        break;
    case STC_LOSS_GIST:
    case STC_LOSS_CACHED_GIST:
        spec->temperature = 0.01;
        spec->margin = 0.0;
        spec->contrast_anchors = spec->contrast_positives = 1;
        break;
    default:
        break;
    }
}

int stc_loss_spec_validate(const stc_loss_spec *spec)
{
    const char *name = stc_loss_type_name(spec->type);
    if ((unsigned)spec->type >= STC_LOSS_TYPE_COUNT)
        return stc_errorf(STC_ERR_USAGE, "loss type %d is not known", (int)spec->type);
    if (stc_loss_is_inbatch(spec->type)) {
        if (!(spec->scale > 0.0) || !isfinite(spec->scale))
            return stc_errorf(STC_ERR_USAGE, "%s: scale must be a positive number (got %g)", name, spec->scale);
        if (spec->similarity != STC_SIM_COS && spec->similarity != STC_SIM_DOT)
            return stc_errorf(STC_ERR_USAGE, "%s: unknown similarity %d", name, (int)spec->similarity);
        if (!(spec->directions & STC_MNRL_QUERY_TO_DOC) || (spec->directions & ~15u))
            return stc_errorf(STC_ERR_USAGE, "%s: directions must include query_to_doc", name);
        if (spec->partition != STC_MNRL_JOINT && spec->partition != STC_MNRL_PER_DIRECTION)
            return stc_errorf(STC_ERR_USAGE, "%s: unknown partition_mode %d", name, (int)spec->partition);
        if (spec->partition == STC_MNRL_PER_DIRECTION &&
            (spec->directions & (STC_MNRL_QUERY_TO_QUERY | STC_MNRL_DOC_TO_DOC)))
            return stc_errorf(STC_ERR_USAGE,
                              "%s: partition_mode 'per_direction' cannot be used with the "
                              "query_to_query or doc_to_doc directions (their candidates never "
                              "include the positive); use 'joint'",
                              name);
        if ((unsigned)spec->hardness_mode > STC_HARDNESS_ALL_NEGATIVES)
            return stc_errorf(STC_ERR_USAGE, "%s: unknown hardness_mode %d", name, (int)spec->hardness_mode);
        if (!(spec->hardness_strength >= 0.0) || !isfinite(spec->hardness_strength))
            return stc_errorf(STC_ERR_USAGE, "%s: hardness_strength must be non-negative (got %g)", name,
                              spec->hardness_strength);
        if (spec->mini_batch_size < 0)
            return stc_errorf(STC_ERR_USAGE, "%s: mini_batch_size must be positive (got %d)", name,
                              spec->mini_batch_size);
        if (stc_loss_is_cached(spec->type) && spec->mini_batch_size < 1)
            return stc_errorf(STC_ERR_USAGE, "%s: mini_batch_size must be positive (got %d)", name,
                              spec->mini_batch_size);
    }
    if (spec->type == STC_LOSS_COSENT || spec->type == STC_LOSS_ANGLE) {
        if (!isfinite(spec->scale))
            return stc_errorf(STC_ERR_USAGE, "%s: scale must be finite", name);
        if (spec->similarity != STC_SIM_COS && spec->similarity != STC_SIM_DOT)
            return stc_errorf(STC_ERR_USAGE, "%s: unknown similarity %d", name, (int)spec->similarity);
    }
    if (spec->type == STC_LOSS_TRIPLET || spec->type == STC_LOSS_CONTRASTIVE ||
        spec->type == STC_LOSS_ONLINE_CONTRASTIVE) {
        if ((unsigned)spec->distance > STC_DIST_COSINE)
            return stc_errorf(STC_ERR_USAGE, "%s: unknown distance metric %d", name, (int)spec->distance);
        if (!isfinite(spec->margin))
            return stc_errorf(STC_ERR_USAGE, "%s: margin must be finite", name);
    }
    if (spec->type == STC_LOSS_MARGIN_MSE || spec->type == STC_LOSS_DISTILL_KL_DIV ||
        spec->type == STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION)
        if (spec->similarity != STC_SIM_COS && spec->similarity != STC_SIM_DOT)
            return stc_errorf(STC_ERR_USAGE, "%s: unknown similarity %d", name, (int)spec->similarity);
    if (spec->type == STC_LOSS_DISTILL_KL_DIV &&
        !(spec->student_temperature > 0.0 && isfinite(spec->student_temperature) &&
          spec->teacher_temperature > 0.0 && isfinite(spec->teacher_temperature)))
        return stc_errorf(STC_ERR_USAGE, "%s: temperatures must be positive finite numbers (got %g, %g)", name,
                          spec->student_temperature, spec->teacher_temperature);
    if (is_batch_triplet(spec->type)) {
        if (spec->distance != STC_DIST_EUCLIDEAN && spec->distance != STC_DIST_COSINE)
            return stc_errorf(STC_ERR_USAGE, "%s: distance_metric must be euclidean_distance or cosine_distance",
                              name);
        if (!isfinite(spec->margin))
            return stc_errorf(STC_ERR_USAGE, "%s: margin must be finite", name);
    }
    if (stc_loss_is_gist(spec->type)) {
        /* Python takes any temperature; 0 or less gives NaN or an inverted objective */
        if (!(spec->temperature > 0.0) || !isfinite(spec->temperature))
            return stc_errorf(STC_ERR_USAGE, "%s: temperature must be a positive number (got %g)", name,
                              spec->temperature);
        if (!isfinite(spec->margin))
            return stc_errorf(STC_ERR_USAGE, "%s: margin must be finite", name);
    }
    if (spec->type == STC_LOSS_MEGA_BATCH_MARGIN &&
        (!isfinite(spec->positive_margin) || !isfinite(spec->negative_margin)))
        return stc_errorf(STC_ERR_USAGE, "%s: margins must be finite", name);
    if (spec->type == STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION) {
        if (!isfinite(spec->mean_weight) || !isfinite(spec->second_moment_weight))
            return stc_errorf(STC_ERR_USAGE, "%s: weights must be finite", name);
        if (spec->mean_weight == 0.0 && spec->second_moment_weight == 0.0)
            return stc_errorf(STC_ERR_USAGE, "%s: at least one of mean_weight or second_moment_weight must be non-zero",
                              name);
        if (spec->matryoshka_n_dims > 0)
            return stc_errorf(STC_ERR_USAGE, MATRYOSHKA_NO_PARTS, name);
    }
    if (spec->matryoshka_n_dims < 0 || spec->matryoshka_n_dims > STC_MATRYOSHKA_MAX_DIMS)
        return stc_errorf(STC_ERR_USAGE, "MatryoshkaLoss: between 1 and %d dims are supported",
                          STC_MATRYOSHKA_MAX_DIMS);
    for (int i = 0; i < spec->matryoshka_n_dims; i++) {
        if (spec->matryoshka_dims[i] <= 0)
            return stc_errorf(STC_ERR_USAGE, "MatryoshkaLoss: all dimensions must be > 0 (got %d)",
                              spec->matryoshka_dims[i]);
        if (!isfinite(spec->matryoshka_weights[i]))
            return stc_errorf(STC_ERR_USAGE, "MatryoshkaLoss: weights must be finite");
        if (i > 0 && spec->matryoshka_dims[i] > spec->matryoshka_dims[i - 1])
            return stc_errorf(STC_ERR_USAGE, "MatryoshkaLoss: dims must be sorted descending "
                                             "(use stc_loss_spec_set_matryoshka)");
    }
    if (spec->matryoshka_n_dims > 0 && spec->n_dims_per_step != -1 && spec->n_dims_per_step < 1)
        return stc_errorf(STC_ERR_USAGE, "MatryoshkaLoss: n_dims_per_step must be -1 or positive (got %d)",
                          spec->n_dims_per_step);
    return STC_OK;
}

int stc_loss_spec_set_matryoshka(stc_loss_spec *spec, const int *dims, const double *weights,
                                 int n_dims, int n_dims_per_step, int embedding_dim)
{
    if (n_dims < 1 || n_dims > STC_MATRYOSHKA_MAX_DIMS)
        return stc_errorf(STC_ERR_USAGE, "MatryoshkaLoss: between 1 and %d matryoshka_dims are supported (got %d)",
                          STC_MATRYOSHKA_MAX_DIMS, n_dims);
    if (n_dims_per_step != -1 && n_dims_per_step < 1)
        return stc_errorf(STC_ERR_USAGE, "MatryoshkaLoss: n_dims_per_step must be -1 or positive (got %d)",
                          n_dims_per_step);
    if (spec->type == STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION)
        return stc_errorf(STC_ERR_USAGE, MATRYOSHKA_NO_PARTS, stc_loss_type_name(spec->type));
    for (int i = 0; i < n_dims; i++) {
        if (dims[i] <= 0)
            return stc_errorf(STC_ERR_USAGE, "MatryoshkaLoss: all dimensions must be > 0 (got %d)", dims[i]);
        if (embedding_dim > 0 && dims[i] > embedding_dim)
            return stc_errorf(STC_ERR_USAGE,
                              "MatryoshkaLoss: dimension %d exceeds the model's embedding dimension %d",
                              dims[i], embedding_dim);
        if (weights && !isfinite(weights[i]))
            return stc_errorf(STC_ERR_USAGE, "MatryoshkaLoss: weights must be finite");
    }
    /* Stable insertion sort, descending (Python: sorted(..., reverse=True)). */
    int d[STC_MATRYOSHKA_MAX_DIMS];
    double w[STC_MATRYOSHKA_MAX_DIMS];
    for (int i = 0; i < n_dims; i++) {
        int di = dims[i];
        double wi = weights ? weights[i] : 1.0;
        int j = i;
        while (j > 0 && d[j - 1] < di) {
            d[j] = d[j - 1];
            w[j] = w[j - 1];
            j--;
        }
        d[j] = di;
        w[j] = wi;
    }
    spec->matryoshka_n_dims = n_dims;
    memcpy(spec->matryoshka_dims, d, sizeof(int) * n_dims);
    memcpy(spec->matryoshka_weights, w, sizeof(double) * n_dims);
    spec->n_dims_per_step = n_dims_per_step;
    return STC_OK;
}

/* ---- config parsing ---------------------------------------------------------- */

/* Allowed constructor keys per type ("type" is always allowed). */
static int key_allowed(stc_loss_type t, const char *k)
{
    static const char *const mnrl[] = {"scale", "similarity_fct", "gather_across_devices", "directions",
                                       "partition_mode", "hardness_mode", "hardness_strength", NULL};
    static const char *const cached[] = {"mini_batch_size", "mini_batch_num_tokens", "show_progress_bar", NULL};
    static const char *const sym[] = {"scale", "similarity_fct", "gather_across_devices", NULL};
    static const char *const cosent[] = {"scale", "similarity_fct", "gather_across_devices", NULL};
    static const char *const angle[] = {"scale", "gather_across_devices", NULL};
    static const char *const cossim[] = {"loss_fct", "cos_score_transformation", NULL};
    static const char *const mse[] = {"projection_dim", NULL};
    static const char *const triplet[] = {"distance_metric", "triplet_margin", NULL};
    static const char *const contrastive[] = {"distance_metric", "margin", "size_average", NULL};
    static const char *const online[] = {"distance_metric", "margin", NULL};
    static const char *const margin_mse[] = {"similarity_fct", NULL};
    static const char *const distill[] = {"similarity_fct", "temperature", "student_temperature",
                                          "teacher_temperature", NULL};
    static const char *const batch_triplet[] = {"distance_metric", "margin", NULL};
    static const char *const soft_margin[] = {"distance_metric", NULL};
    static const char *const mega[] = {"positive_margin", "negative_margin", "use_mini_batched_version",
                                       "mini_batch_size", "mini_batch_num_tokens", "show_progress_bar", NULL};
    static const char *const gor[] = {"similarity_fct", "mean_weight", "second_moment_weight", "aggregation", NULL};
    static const char *const gist[] = {"guide", "temperature", "margin_strategy", "margin", "contrast_anchors",
                                       "contrast_positives", "gather_across_devices", NULL};
    const char *const *lists[2] = {NULL, NULL};
    switch (t) {
    case STC_LOSS_MNRL: lists[0] = mnrl; break;
    case STC_LOSS_CACHED_MNRL: lists[0] = mnrl; lists[1] = cached; break;
    case STC_LOSS_MNRL_SYMMETRIC: lists[0] = sym; break;
    case STC_LOSS_CACHED_MNRL_SYMMETRIC: lists[0] = sym; lists[1] = cached; break;
    case STC_LOSS_COSENT: lists[0] = cosent; break;
    case STC_LOSS_ANGLE: lists[0] = angle; break;
    case STC_LOSS_COSINE_SIMILARITY: lists[0] = cossim; break;
    case STC_LOSS_MSE: lists[0] = mse; break;
    case STC_LOSS_TRIPLET: lists[0] = triplet; break;
    case STC_LOSS_CONTRASTIVE: lists[0] = contrastive; break;
    case STC_LOSS_ONLINE_CONTRASTIVE: lists[0] = online; break;
    case STC_LOSS_MARGIN_MSE: lists[0] = margin_mse; break;
    case STC_LOSS_DISTILL_KL_DIV: lists[0] = distill; break;
    case STC_LOSS_BATCH_ALL_TRIPLET:
    case STC_LOSS_BATCH_HARD_TRIPLET:
    case STC_LOSS_BATCH_SEMI_HARD_TRIPLET: lists[0] = batch_triplet; break;
    case STC_LOSS_BATCH_HARD_SOFT_MARGIN_TRIPLET: lists[0] = soft_margin; break;
    case STC_LOSS_MEGA_BATCH_MARGIN: lists[0] = mega; break;
    case STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION: lists[0] = gor; break;
    case STC_LOSS_GIST: lists[0] = gist; break;
    case STC_LOSS_CACHED_GIST: lists[0] = gist; lists[1] = cached; break;
    default: break;
    }
    for (int l = 0; l < 2; l++)
        for (int i = 0; lists[l] && lists[l][i]; i++)
            if (!strcmp(lists[l][i], k))
                return 1;
    return 0;
}

static int json_number(const cJSON *it, const char *where, double *out)
{
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return stc_errorf(STC_ERR_USAGE, "%s: '%s' must be a number", where, it->string);
    *out = it->valuedouble;
    return STC_OK;
}

static int json_int(const cJSON *it, const char *where, int *out)
{
    double v = it->valuedouble;
    if (!cJSON_IsNumber(it) || v != floor(v) || v < INT_MIN || v > INT_MAX)
        return stc_errorf(STC_ERR_USAGE, "%s: '%s' must be an integer", where, it->string);
    *out = (int)v;
    return STC_OK;
}

/* A string that must be `first` or `second`; *is_second says which. */
static int json_choice(const cJSON *it, const char *where, const char *first, const char *second, int *is_second)
{
    const char *v = cJSON_GetStringValue(it);
    if (!v || (strcmp(v, first) && strcmp(v, second)))
        return stc_errorf(STC_ERR_USAGE, "%s: '%s' must be \"%s\" or \"%s\"", where, it->string, first, second);
    *is_second = !strcmp(v, second);
    return STC_OK;
}

/* The enum-valued string after an optional "Class." prefix
 * ("TripletDistanceMetric.EUCLIDEAN" -> "EUCLIDEAN"). */
static const char *enum_name(const char *s)
{
    const char *dot = strrchr(s, '.');
    return dot ? dot + 1 : s;
}

/* Reads one constructor argument of spec->type into spec. */
static int parse_arg(const cJSON *it, const char *where, stc_loss_spec *spec)
{
    const char *k = it->string;
    const int t = spec->type;
    int rc;
    if (!strcmp(k, "scale")) {
        if ((rc = json_number(it, where, &spec->scale)))
            return rc;
        if (stc_loss_is_inbatch(spec->type) && !(spec->scale > 0.0))
            return stc_errorf(STC_ERR_USAGE, "%s: 'scale' must be positive", where);
        return STC_OK;
    }
    if (!strcmp(k, "similarity_fct")) {
        const char *v = cJSON_GetStringValue(it);
        /* the in-batch family and GOR take matrix similarities, the others pairwise ones */
        int inb = stc_loss_is_inbatch(spec->type) || t == STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION;
        if (v && (!strcmp(enum_name(v), inb ? "cos_sim" : "pairwise_cos_sim") || !strcasecmp(v, "cosine"))) {
            spec->similarity = STC_SIM_COS;
            return STC_OK;
        }
        if (v && (!strcmp(enum_name(v), inb ? "dot_score" : "pairwise_dot_score") || !strcasecmp(v, "dot"))) {
            spec->similarity = STC_SIM_DOT;
            return STC_OK;
        }
        return stc_errorf(STC_ERR_USAGE, "%s: 'similarity_fct' must be \"%s\" or \"%s\"", where,
                          inb ? "cos_sim" : "pairwise_cos_sim", inb ? "dot_score" : "pairwise_dot_score");
    }
    if (!strcmp(k, "gather_across_devices") || !strcmp(k, "show_progress_bar") || !strcmp(k, "size_average") ||
        !strcmp(k, "use_mini_batched_version") || !strcmp(k, "contrast_anchors") ||
        !strcmp(k, "contrast_positives")) {
        if (!cJSON_IsBool(it))
            return stc_errorf(STC_ERR_USAGE, "%s: '%s' must be true or false", where, k);
        if (!strcmp(k, "contrast_anchors"))
            spec->contrast_anchors = cJSON_IsTrue(it);
        else if (!strcmp(k, "contrast_positives"))
            spec->contrast_positives = cJSON_IsTrue(it);
        else if (!strcmp(k, "gather_across_devices"))
            spec->gather_across_devices = cJSON_IsTrue(it);
        else if (!strcmp(k, "size_average"))
            spec->size_average = cJSON_IsTrue(it);
        else if (!strcmp(k, "use_mini_batched_version"))
            spec->mini_batched = cJSON_IsTrue(it);
        return STC_OK;
    }
    if (!strcmp(k, "directions")) {
        static const char *const names[] = {"query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"};
        unsigned dirs = 0;
        const cJSON *e;
        if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) == 0)
            return stc_errorf(STC_ERR_USAGE, "%s: 'directions' must be a non-empty list", where);
        cJSON_ArrayForEach(e, it) {
            const char *v = cJSON_GetStringValue(e);
            int found = -1;
            for (int i = 0; v && i < 4; i++)
                if (!strcmp(v, names[i]))
                    found = i;
            if (found < 0)
                return stc_errorf(STC_ERR_USAGE,
                                  "%s: 'directions' entries must be query_to_doc, query_to_query, "
                                  "doc_to_query or doc_to_doc",
                                  where);
            dirs |= 1u << found;
        }
        if (!(dirs & STC_MNRL_QUERY_TO_DOC))
            return stc_errorf(STC_ERR_USAGE, "%s: 'directions' must include query_to_doc (it holds the positive pair)",
                              where);
        spec->directions = dirs;
        return STC_OK;
    }
    if (!strcmp(k, "partition_mode")) {
        const char *v = cJSON_GetStringValue(it);
        if (v && !strcmp(v, "joint"))
            spec->partition = STC_MNRL_JOINT;
        else if (v && !strcmp(v, "per_direction"))
            spec->partition = STC_MNRL_PER_DIRECTION;
        else
            return stc_errorf(STC_ERR_USAGE, "%s: 'partition_mode' must be \"joint\" or \"per_direction\"", where);
        return STC_OK;
    }
    if (!strcmp(k, "hardness_mode")) {
        const char *v = cJSON_GetStringValue(it);
        if (cJSON_IsNull(it))
            spec->hardness_mode = STC_HARDNESS_NONE;
        else if (v && !strcmp(v, "in_batch_negatives"))
            spec->hardness_mode = STC_HARDNESS_IN_BATCH_NEGATIVES;
        else if (v && !strcmp(v, "hard_negatives"))
            spec->hardness_mode = STC_HARDNESS_HARD_NEGATIVES;
        else if (v && !strcmp(v, "all_negatives"))
            spec->hardness_mode = STC_HARDNESS_ALL_NEGATIVES;
        else
            return stc_errorf(STC_ERR_USAGE,
                              "%s: 'hardness_mode' must be null, \"in_batch_negatives\", "
                              "\"hard_negatives\" or \"all_negatives\"",
                              where);
        return STC_OK;
    }
    if (!strcmp(k, "hardness_strength")) {
        if ((rc = json_number(it, where, &spec->hardness_strength)))
            return rc;
        if (spec->hardness_strength < 0.0)
            return stc_errorf(STC_ERR_USAGE, "%s: 'hardness_strength' must be non-negative", where);
        return STC_OK;
    }
    if (!strcmp(k, "mini_batch_size")) {
        if ((rc = json_int(it, where, &spec->mini_batch_size)))
            return rc;
        if (spec->mini_batch_size < 1)
            return stc_errorf(STC_ERR_USAGE, "%s: 'mini_batch_size' must be positive", where);
        return STC_OK;
    }
    if (!strcmp(k, "mini_batch_num_tokens") || !strcmp(k, "projection_dim")) {
        if (!cJSON_IsNull(it))
            return stc_errorf(STC_ERR_USAGE, "%s: '%s' is not supported by stc (leave it null)", where, k);
        return STC_OK;
    }
    if (!strcmp(k, "loss_fct") || !strcmp(k, "cos_score_transformation")) {
        const char *v = cJSON_GetStringValue(it);
        const char *want = !strcmp(k, "loss_fct") ? "MSELoss" : "Identity";
        if (cJSON_IsNull(it) || (v && !strcmp(enum_name(v), want)))
            return STC_OK;
        return stc_errorf(STC_ERR_USAGE, "%s: '%s' other than %s is not supported by stc", where, k, want);
    }
    if (!strcmp(k, "distance_metric") && is_batch_triplet(spec->type)) {
        const char *v = cJSON_GetStringValue(it);
        const char *n = v ? enum_name(v) : "";
        /* BatchHardTripletLossDistanceFunction.<name>; eucledian_distance is 6.3's alias */
        if (!strcmp(n, "euclidean_distance") || !strcmp(n, "eucledian_distance"))
            spec->distance = STC_DIST_EUCLIDEAN;
        else if (!strcmp(n, "cosine_distance"))
            spec->distance = STC_DIST_COSINE;
        else
            return stc_errorf(STC_ERR_USAGE,
                              "%s: 'distance_metric' must be BatchHardTripletLossDistanceFunction.euclidean_distance "
                              "(or eucledian_distance) or cosine_distance (sentence-transformers 6.3 has no other)",
                              where);
        return STC_OK;
    }
    if (!strcmp(k, "distance_metric")) {
        const char *v = cJSON_GetStringValue(it);
        const char *n = v ? enum_name(v) : "";
        int triplet = t == STC_LOSS_TRIPLET;
        if (!strcasecmp(n, "EUCLIDEAN"))
            spec->distance = STC_DIST_EUCLIDEAN;
        else if (!strcasecmp(n, "MANHATTAN"))
            spec->distance = STC_DIST_MANHATTAN;
        else if (!strcasecmp(n, triplet ? "COSINE" : "COSINE_DISTANCE"))
            spec->distance = STC_DIST_COSINE;
        else
            return stc_errorf(STC_ERR_USAGE, "%s: 'distance_metric' must be %s.EUCLIDEAN, MANHATTAN or %s", where,
                              triplet ? "TripletDistanceMetric" : "SiameseDistanceMetric",
                              triplet ? "COSINE" : "COSINE_DISTANCE");
        return STC_OK;
    }
    if (!strcmp(k, "triplet_margin") || !strcmp(k, "margin"))
        return json_number(it, where, &spec->margin);
    if (!strcmp(k, "positive_margin"))
        return json_number(it, where, &spec->positive_margin);
    if (!strcmp(k, "negative_margin"))
        return json_number(it, where, &spec->negative_margin);
    if (!strcmp(k, "guide")) {
        const char *v = cJSON_GetStringValue(it);
        if (!v || !v[0])
            return stc_errorf(STC_ERR_USAGE, "%s: 'guide' must be the path of a Sentence Transformers model directory",
                              where);
        if (strlen(v) >= sizeof spec->guide_path)
            return stc_errorf(STC_ERR_USAGE, "%s: 'guide' path longer than %d bytes", where,
                              (int)sizeof spec->guide_path - 1);
        strcpy(spec->guide_path, v);
        return STC_OK;
    }
    if (!strcmp(k, "margin_strategy"))
        return json_choice(it, where, "absolute", "relative", &spec->margin_relative);
    if (!strcmp(k, "temperature") && stc_loss_is_gist(spec->type)) {
        if ((rc = json_number(it, where, &spec->temperature)))
            return rc;
        if (!(spec->temperature > 0.0))
            return stc_errorf(STC_ERR_USAGE, "%s: 'temperature' must be positive (got %g)", where, spec->temperature);
        return STC_OK;
    }
    if (!strcmp(k, "temperature") || !strcmp(k, "student_temperature") || !strcmp(k, "teacher_temperature")) {
        /* temperature sets both; student_/teacher_temperature (null: temperature) override it
         * whatever the key order: stc_loss_spec_from_json applies them after every key */
        double v;
        if (cJSON_IsNull(it) && strcmp(k, "temperature"))
            return STC_OK;
        if ((rc = json_number(it, where, &v)))
            return rc;
        if (!(v > 0.0))
            return stc_errorf(STC_ERR_USAGE, "%s: '%s' must be a positive finite number (got %g)", where, k, v);
        if (!strcmp(k, "temperature"))
            spec->student_temperature = spec->teacher_temperature = v;
        return STC_OK;
    }
    if (!strcmp(k, "mean_weight") || !strcmp(k, "second_moment_weight")) {
        double v = 0.0; /* null: the part is left out, as Python's falsy weight */
        if (!cJSON_IsNull(it) && (rc = json_number(it, where, &v)))
            return rc;
        *(!strcmp(k, "mean_weight") ? &spec->mean_weight : &spec->second_moment_weight) = v;
        return STC_OK;
    }
    if (!strcmp(k, "aggregation"))
        return json_choice(it, where, "mean", "sum", &spec->aggregation_sum);
    return stc_errorf(STC_ERR_INTERNAL, "%s: unhandled key '%s'", where, k);
}

int stc_loss_spec_from_json(const cJSON *obj, const char *where, stc_loss_spec *spec)
{
    if (!cJSON_IsObject(obj))
        return stc_errorf(STC_ERR_USAGE, "%s: a loss must be an object with a \"type\"", where);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "type"));
    if (!type)
        return stc_errorf(STC_ERR_USAGE, "%s: a loss needs a \"type\" string (a Sentence Transformers loss class)",
                          where);
    int rc;
    const cJSON *it;
    if (!strcmp(type, "MatryoshkaLoss")) {
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(obj, "loss");
        const cJSON *dims = cJSON_GetObjectItemCaseSensitive(obj, "matryoshka_dims");
        const cJSON *weights = cJSON_GetObjectItemCaseSensitive(obj, "matryoshka_weights");
        int n_dims_per_step = -1;
        cJSON_ArrayForEach(it, obj) {
            const char *k = it->string;
            if (strcmp(k, "type") && strcmp(k, "loss") && strcmp(k, "matryoshka_dims") &&
                strcmp(k, "matryoshka_weights") && strcmp(k, "n_dims_per_step"))
                return stc_errorf(STC_ERR_USAGE, "%s: MatryoshkaLoss has no argument '%s'", where, k);
            if (!strcmp(k, "n_dims_per_step") && (rc = json_int(it, where, &n_dims_per_step)))
                return rc;
        }
        if (!inner)
            return stc_errorf(STC_ERR_USAGE, "%s: MatryoshkaLoss needs \"loss\" (the wrapped loss object)", where);
        const char *inner_type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(inner, "type"));
        if (inner_type && !strcmp(inner_type, "MatryoshkaLoss"))
            return stc_errorf(STC_ERR_USAGE, "%s: a MatryoshkaLoss inside a MatryoshkaLoss is not supported", where);
        if ((rc = stc_loss_spec_from_json(inner, where, spec)))
            return rc;
        if (!cJSON_IsArray(dims) || cJSON_GetArraySize(dims) < 1 ||
            cJSON_GetArraySize(dims) > STC_MATRYOSHKA_MAX_DIMS)
            return stc_errorf(STC_ERR_USAGE, "%s: 'matryoshka_dims' must be a list of 1 to %d integers", where,
                              STC_MATRYOSHKA_MAX_DIMS);
        int n = cJSON_GetArraySize(dims), d[STC_MATRYOSHKA_MAX_DIMS], i = 0;
        double w[STC_MATRYOSHKA_MAX_DIMS];
        cJSON_ArrayForEach(it, dims) {
            if ((rc = json_int(it, where, &d[i++])))
                return stc_errorf(STC_ERR_USAGE, "%s: 'matryoshka_dims' must be a list of integers", where);
        }
        if (weights && !cJSON_IsNull(weights)) {
            if (!cJSON_IsArray(weights) || cJSON_GetArraySize(weights) != n)
                return stc_errorf(STC_ERR_USAGE, "%s: matryoshka_weights must be the same length as matryoshka_dims",
                                  where);
            i = 0;
            cJSON_ArrayForEach(it, weights) {
                if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
                    return stc_errorf(STC_ERR_USAGE, "%s: 'matryoshka_weights' must be a list of numbers", where);
                w[i++] = it->valuedouble;
            }
        }
        return stc_loss_spec_set_matryoshka(spec, d, weights && !cJSON_IsNull(weights) ? w : NULL, n,
                                            n_dims_per_step, 0);
    }
    stc_loss_type t = STC_LOSS_MNRL;
    if ((rc = stc_loss_type_from_name(type, &t)))
        return stc_error_prefix(rc, "%s", where);
    stc_loss_spec_init(spec, t);
    cJSON_ArrayForEach(it, obj) {
        if (!strcmp(it->string, "type"))
            continue;
        if (!key_allowed(t, it->string))
            return stc_errorf(STC_ERR_USAGE, "%s: %s has no argument '%s'", where, type, it->string);
        if ((rc = parse_arg(it, where, spec)))
            return rc;
    }
    if (stc_loss_is_gist(t) && !spec->guide_path[0])
        return stc_errorf(STC_ERR_USAGE, "%s: %s needs \"guide\": the guide model's directory", where, type);
    if (t == STC_LOSS_DISTILL_KL_DIV) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "student_temperature");
        const cJSON *tt = cJSON_GetObjectItemCaseSensitive(obj, "teacher_temperature");
        if (cJSON_IsNumber(st))
            spec->student_temperature = st->valuedouble;
        if (cJSON_IsNumber(tt))
            spec->teacher_temperature = tt->valuedouble;
    }
    if ((rc = stc_loss_spec_validate(spec)))
        return stc_error_prefix(rc, "%s", where);
    return STC_OK;
}

/* ---- evaluation ----------------------------------------------------------------- */

/* One evaluation of the wrapped (non-Matryoshka) loss. */
static int eval_base(const stc_loss_spec *spec, const stc_loss_input *in, double *loss, double *const *dx)
{
    if (in->inbatch && stc_loss_is_gist(spec->type))
        return stc_loss_gist_f64(spec, in->x[0], in->x[1], &in->geo, in->dim, loss, dx ? dx[0] : NULL,
                                 dx ? dx[1] : NULL);
    if (in->inbatch)
        return stc_loss_mnrl_f64(spec, in->x[0], in->x[1], &in->geo, in->dim, loss, dx ? dx[0] : NULL,
                                 dx ? dx[1] : NULL);
    switch (spec->type) {
    case STC_LOSS_MARGIN_MSE:
    case STC_LOSS_DISTILL_KL_DIV: return stc_loss_distill_f64(spec, in, loss, dx);
    case STC_LOSS_MEGA_BATCH_MARGIN:
    case STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION: return stc_loss_batch_similarity_f64(spec, in, loss, dx);
    default:
        if (is_batch_triplet(spec->type))
            return stc_loss_batch_triplet_f64(spec, in, loss, dx);
        return stc_loss_pairwise_f64(spec, in, loss, dx);
    }
}

/* splitmix64: the Matryoshka dim sampler's generator. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Indices of the dims evaluated this step, ascending (= dims descending):
 * all of them, or n_dims_per_step drawn without replacement from a
 * generator seeded with the step seed (Python: random.sample, then sort). */
static int matryoshka_pick(const stc_loss_spec *spec, int *idx)
{
    const int n = spec->matryoshka_n_dims;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    if (spec->n_dims_per_step <= 0 || spec->n_dims_per_step >= n)
        return n;
    const int k = spec->n_dims_per_step;
    uint64_t s = spec->matryoshka_step_seed;
    for (int i = 0; i < k; i++) { /* partial Fisher-Yates */
        int j = i + (int)(splitmix64(&s) % (uint64_t)(n - i));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    for (int i = 1; i < k; i++) /* insertion sort of the k picks */
        for (int j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    return k;
}

/*
 * MatryoshkaLoss around eval_base, or eval_base alone. For each dim d
 * (descending, weight w): every matrix is cut to its first d columns and
 * re-normalised row by row (F.normalize, as 6.3's shrink()), teacher labels
 * whose width is the full D are cut to d, the inner loss runs, and
 * loss += w * inner; the inner gradients go back through the normalisation
 * into the first d columns, times w. dx (assigned) is [rows, D].
 */
static int eval_loss(const stc_loss_spec *spec, const stc_loss_input *in, double *loss, double *const *dx)
{
    if (spec->matryoshka_n_dims == 0)
        return eval_base(spec, in, loss, dx);

    const int D = in->dim, nm = in->n_mats;
    int rc = STC_OK, idx[STC_MATRYOSHKA_MAX_DIMS];
    const int n_pick = matryoshka_pick(spec, idx);
    double *xt[STC_LOSS_MAX_COLUMNS] = {0}, *nrm[STC_LOSS_MAX_COLUMNS] = {0};
    double *gt[STC_LOSS_MAX_COLUMNS] = {0}, *gx = NULL, *lab = NULL, *cut = NULL;
    size_t max_rows = 0;

    for (int m = 0; m < nm; m++) {
        if ((size_t)in->rows[m] > max_rows)
            max_rows = (size_t)in->rows[m];
        xt[m] = stc_malloc((size_t)in->rows[m] * D * sizeof(double), "matryoshka embeddings");
        nrm[m] = stc_malloc((size_t)in->rows[m] * sizeof(double), "matryoshka norms");
        if (!xt[m] || !nrm[m]) {
            rc = STC_ERR_NOMEM;
            goto out;
        }
        if (dx) {
            gt[m] = stc_malloc((size_t)in->rows[m] * D * sizeof(double), "matryoshka gradient");
            if (!gt[m]) {
                rc = STC_ERR_NOMEM;
                goto out;
            }
            memset(dx[m], 0, (size_t)in->rows[m] * D * sizeof(double));
        }
    }
    const stc_loss_labels_f64 *L = &in->labels;
    const int slice_labels = L->values && (L->ndim == 2 || L->ndim == 3) && L->width == D;
    if (slice_labels) {
        size_t n = (size_t)max_rows * (L->ndim == 3 ? L->cols : 1) * D;
        lab = stc_malloc(n * sizeof(double), "matryoshka labels");
        if (!lab) {
            rc = STC_ERR_NOMEM;
            goto out;
        }
    }
    cut = stc_malloc(max_rows * D * sizeof(double), "matryoshka truncated rows");
    if (dx)
        gx = stc_malloc(max_rows * D * sizeof(double), "matryoshka normalise gradient");
    if (!cut || (dx && !gx)) {
        rc = STC_ERR_NOMEM;
        goto out;
    }

    double total = 0.0;
    for (int p = 0; p < n_pick; p++) {
        const int d = spec->matryoshka_dims[idx[p]];
        const double w = spec->matryoshka_weights[idx[p]];
        stc_loss_input sub = *in;
        sub.dim = d;
        for (int m = 0; m < nm; m++) {
            /* cut to the first d columns, then normalise into xt */
            const int R = in->rows[m];
            for (int r = 0; r < R; r++)
                memcpy(cut + (size_t)r * d, in->x[m] + (size_t)r * D, (size_t)d * sizeof(double));
            stc_loss_normalize_rows(xt[m], nrm[m], cut, R, d, STC_NORMALIZE_EPS);
            sub.x[m] = xt[m];
        }
        if (slice_labels) {
            const int C = L->ndim == 3 ? L->cols : 1;
            const size_t rows = (size_t)in->rows[0] * C;
            for (size_t r = 0; r < rows; r++)
                memcpy(lab + r * d, L->values + r * D, (size_t)d * sizeof(double));
            sub.labels.values = lab;
            sub.labels.width = d;
        }
        double l = 0.0;
        if ((rc = eval_base(spec, &sub, &l, dx ? gt : NULL)))
            goto out;
        total += w * l;
        if (!dx)
            continue;
        for (int m = 0; m < nm; m++) {
            const int R = in->rows[m];
            stc_loss_normalize_rows_backward(gx, gt[m], xt[m], nrm[m], R, d, STC_NORMALIZE_EPS);
            for (int r = 0; r < R; r++)
                for (int j = 0; j < d; j++)
                    dx[m][(size_t)r * D + j] += w * gx[(size_t)r * d + j];
        }
    }
    *loss = total;
out:
    for (int m = 0; m < nm; m++) {
        free(xt[m]);
        free(nrm[m]);
        free(gt[m]);
    }
    free(gx);
    free(cut);
    free(lab);
    return rc;
}

/* MarginMSE's and DistillKLDiv's label shapes for n_cols text columns
 * (k = n_cols - 2 negatives): MarginMSE [B] (k == 1), [B, k] or [B, 1+k];
 * DistillKLDiv [B, 1+k]. */
static int check_teacher_scores(const stc_loss_spec *spec, int n_cols, const stc_loss_labels_f64 *L)
{
    const char *name = stc_loss_type_name(spec->type);
    const int k = n_cols - 2;
    const int w = !L || !L->values ? -1 : L->ndim == 1 ? 1 : L->ndim == 2 ? L->width : -1;
    if (spec->type == STC_LOSS_MARGIN_MSE && (w == k || w == k + 1) && (L->ndim == 2 || k == 1))
        return STC_OK;
    if (spec->type == STC_LOSS_DISTILL_KL_DIV && w == k + 1 && L->ndim == 2)
        return STC_OK;
    if (spec->type == STC_LOSS_MARGIN_MSE)
        return stc_errorf(STC_ERR_USAGE,
                          "%s: needs a label per example with %d teacher margin%s (sim(q, pos) - sim(q, neg_i)) or "
                          "%d teacher scores [pos, neg_1, ...] for %d text columns; the dataset gives %s",
                          name, k, k == 1 ? "" : "s", k + 1, n_cols,
                          w < 0 ? "no usable label" : L->ndim == 1 ? "a single score" : "another width");
    if (spec->type == STC_LOSS_DISTILL_KL_DIV)
        return stc_errorf(STC_ERR_USAGE,
                          "%s: needs a label per example with %d teacher scores [pos, neg_1, ...] for %d text "
                          "columns; the dataset gives %s",
                          name, k + 1, n_cols,
                          w < 0 ? "no usable label" : L->ndim == 1 ? "a single score" : "another width");
    return STC_OK;
}

/* Checks the batch shape and labels against the loss. */
static int check_columns(const stc_loss_spec *spec, int n_cols, int B, int D, const stc_loss_labels_f64 *L)
{
    const char *name = stc_loss_type_name(spec->type);
    int rc;
    if (B < 1 || D < 1)
        return stc_errorf(STC_ERR_USAGE, "%s: empty batch (%d rows of width %d)", name, B, D);
    if (n_cols < 1 || n_cols > STC_LOSS_MAX_COLUMNS)
        return stc_errorf(STC_ERR_USAGE, "%s: %d text columns (1 to %d supported)", name, n_cols,
                          STC_LOSS_MAX_COLUMNS);
    if ((size_t)B * (size_t)D * (size_t)n_cols > (size_t)INT_MAX)
        return stc_errorf(STC_ERR_USAGE, "%s: batch of %d x %d x %d values is too large", name, n_cols, B, D);
    int min_cols = 2, max_cols = STC_LOSS_MAX_COLUMNS;
    const char *what = "(anchor, positive, ...) columns";
    switch (spec->type) {
    case STC_LOSS_TRIPLET: min_cols = max_cols = 3; what = "(anchor, positive, negative) columns"; break;
    case STC_LOSS_CONTRASTIVE: min_cols = max_cols = 2; what = "(sentence1, sentence2) columns and a label"; break;
    case STC_LOSS_MSE: min_cols = 1; what = "text columns and teacher embeddings as the label"; break;
    case STC_LOSS_MARGIN_MSE:
        min_cols = 3;
        what = "(query, positive, negative_1, ...) columns and teacher margins or scores as the label";
        break;
    case STC_LOSS_DISTILL_KL_DIV:
        min_cols = 3;
        what = "(query, positive, negative_1, ...) columns and teacher scores [positive, negative_1, ...] as the label";
        break;
    case STC_LOSS_MEGA_BATCH_MARGIN: min_cols = max_cols = 2; what = "(anchor, positive) columns"; break;
    case STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION: min_cols = 1; what = "text columns"; break;
    case STC_LOSS_GIST: max_cols = 3; what = "(anchor, positive) or (anchor, positive, negative) columns"; break;
    default:
        if (is_batch_triplet(spec->type)) {
            min_cols = max_cols = 1;
            what = "text column and an integer label (the class)";
        }
        break;
    }
    if (n_cols < min_cols || n_cols > max_cols)
        return stc_errorf(STC_ERR_USAGE, "%s: needs %s%d %s, the dataset gives %d", name,
                          min_cols == max_cols ? "" : "at least ", min_cols, what, n_cols);

    int need_scalar = spec->type == STC_LOSS_COSENT || spec->type == STC_LOSS_COSINE_SIMILARITY ||
                      spec->type == STC_LOSS_CONTRASTIVE || spec->type == STC_LOSS_ONLINE_CONTRASTIVE ||
                      (spec->type == STC_LOSS_ANGLE && n_cols == 2) || is_batch_triplet(spec->type);
    int opt_scalar = spec->type == STC_LOSS_ANGLE && n_cols > 2;
    if ((need_scalar || opt_scalar) && L && L->values) {
        if (!(L->ndim == 1 || (L->ndim == 2 && L->width == 1)))
            return stc_errorf(STC_ERR_USAGE, "%s: expects one label per example (a score column), got a %d-D label",
                              name, L->ndim);
    } else if (need_scalar) {
        if (is_batch_triplet(spec->type))
            return stc_errorf(STC_ERR_USAGE, "%s: needs 1 text column and an integer label (the class) column", name);
        return stc_errorf(STC_ERR_USAGE, "%s: needs a label (or score) column", name);
    }
    if (spec->type == STC_LOSS_MSE) {
        if (!L || !L->values)
            return stc_errorf(STC_ERR_USAGE, "MSELoss: needs teacher embeddings as the label column");
        if (L->ndim == 2) {
            if (L->width != D)
                return stc_errorf(STC_ERR_USAGE, "MSELoss: teacher embeddings have width %d, the model %d "
                                                 "(stc has no projection_dim)", L->width, D);
        } else if (L->ndim == 3) {
            if (L->cols != n_cols || L->width != D)
                return stc_errorf(STC_ERR_USAGE,
                                  "MSELoss: teacher labels [B, %d, %d] do not match %d text columns of width %d",
                                  L->cols, L->width, n_cols, D);
        } else {
            return stc_errorf(STC_ERR_USAGE, "MSELoss: teacher labels must be [B, D] or [B, columns, D] (got %d-D)",
                              L->ndim);
        }
    }
    if ((rc = check_teacher_scores(spec, n_cols, L)))
        return rc;
    const int need_scores = spec->type == STC_LOSS_MARGIN_MSE || spec->type == STC_LOSS_DISTILL_KL_DIV;
    if (L && L->values && (need_scalar || opt_scalar || need_scores || spec->type == STC_LOSS_MSE)) {
        size_t n = (size_t)B * (L->ndim >= 2 ? (size_t)L->width : 1) * (L->ndim == 3 ? (size_t)L->cols : 1);
        for (size_t i = 0; i < n; i++)
            if (!isfinite(L->values[i]))
                return stc_errorf(STC_ERR_DATA, "%s: label value %zu of the batch (row %zu) is not finite", name, i,
                                  i / (n / (size_t)B));
    }
    for (int i = 0; i < spec->matryoshka_n_dims; i++)
        if (spec->matryoshka_dims[i] > D)
            return stc_errorf(STC_ERR_USAGE,
                              "MatryoshkaLoss: dimension %d exceeds the model's embedding dimension %d",
                              spec->matryoshka_dims[i], D);
    return STC_OK;
}

int stc_loss_check_dataset(const stc_loss_spec *spec, int n_cols, int label_dim, int D)
{
    double zero[1] = {0.0};
    stc_loss_labels_f64 L = {.values = zero, .ndim = label_dim == 1 ? 1 : 2, .cols = 1, .width = label_dim};
    int rc = stc_loss_spec_validate(spec);
    /* One row of zero labels: only the shapes are checked. */
    if (!rc && label_dim > 1) {
        double *z = calloc((size_t)label_dim, sizeof *z);
        if (!z)
            return stc_errorf(STC_ERR_NOMEM, "out of memory");
        L.values = z;
        rc = check_columns(spec, n_cols, 1, D, &L);
        free(z);
        return rc;
    }
    return rc ? rc : check_columns(spec, n_cols, 1, D, label_dim > 0 ? &L : NULL);
}

static int check_geometry(const stc_loss_spec *spec, const stc_inbatch_geometry *g, int D);

int stc_loss_compute_f64(const stc_loss_spec *spec, const double *const *emb, int n_cols, int B, int D,
                         const stc_loss_labels_f64 *labels, stc_loss_result *result, double *const *demb)
{
    int rc;
    stc_loss_labels_f64 none = {0};
    if (!labels)
        labels = &none;
    if ((rc = stc_loss_spec_validate(spec)) || (rc = check_columns(spec, n_cols, B, D, labels)))
        return rc;
    if (demb)
        for (int c = 0; c < n_cols; c++)
            if (!demb[c])
                return stc_errorf(STC_ERR_USAGE, "%s: gradient of column %d is NULL", stc_loss_type_name(spec->type),
                                  c);
    memset(result, 0, sizeof(*result));

    stc_loss_input in = {0};
    in.dim = D;
    in.labels = *labels;
    in.parts = result;
    if (!stc_loss_is_inbatch(spec->type)) {
        in.n_mats = n_cols;
        for (int c = 0; c < n_cols; c++) {
            in.x[c] = emb[c];
            in.rows[c] = B;
        }
        return eval_loss(spec, &in, &result->value, demb);
    }

    /* In-batch family on one rank: candidates = cat(columns 1..k). */
    const int k = n_cols - 1;
    double *cands = stc_malloc((size_t)k * B * D * sizeof(double), "loss candidates");
    double *dcands = demb ? stc_malloc((size_t)k * B * D * sizeof(double), "loss candidate gradient") : NULL;
    if (!cands || (demb && !dcands)) {
        free(cands);
        free(dcands);
        return STC_ERR_NOMEM;
    }
    for (int c = 0; c < k; c++)
        memcpy(cands + (size_t)c * B * D, emb[1 + c], (size_t)B * D * sizeof(double));
    in.n_mats = 2;
    in.x[0] = emb[0];
    in.x[1] = cands;
    in.rows[0] = B;
    in.rows[1] = k * B;
    in.inbatch = 1;
    in.geo = (stc_inbatch_geometry){.n_local = B, .anchor_rows = B, .anchor_offset = 0,
                                    .cand_cols = k, .cand_col_rows = B, .cand_offset = 0};
    double *dx[2] = {demb ? demb[0] : NULL, dcands};
    rc = check_geometry(spec, &in.geo, D);
    if (!rc)
        rc = eval_loss(spec, &in, &result->value, demb ? dx : NULL);
    if (!rc && demb)
        for (int c = 0; c < k; c++)
            memcpy(demb[1 + c], dcands + (size_t)c * B * D, (size_t)B * D * sizeof(double));
    free(dcands);
    free(cands);
    return rc;
}

/* Checks an in-batch call's geometry. */
static int check_geometry(const stc_loss_spec *spec, const stc_inbatch_geometry *g, int D)
{
    const char *name = stc_loss_type_name(spec->type);
    if (!stc_loss_is_inbatch(spec->type))
        return stc_errorf(STC_ERR_USAGE, "%s has no in-batch negatives; use stc_loss_compute", name);
    if (D < 1 || g->n_local < 1 || g->cand_cols < 1 || g->cand_cols > STC_LOSS_MAX_COLUMNS - 1)
        return stc_errorf(STC_ERR_USAGE, "%s: bad in-batch geometry (D %d, %d local anchors, %d candidate columns)",
                          name, D, g->n_local, g->cand_cols);
    if (g->anchor_rows < g->n_local || g->anchor_offset < 0 || g->anchor_offset > g->anchor_rows - g->n_local)
        return stc_errorf(STC_ERR_USAGE, "%s: local anchors [%d, %d) lie outside the %d anchor rows", name,
                          g->anchor_offset, g->anchor_offset + g->n_local, g->anchor_rows);
    if (g->cand_col_rows < g->n_local || g->cand_offset < 0 || g->cand_offset > g->cand_col_rows - g->n_local)
        return stc_errorf(STC_ERR_USAGE, "%s: local positives [%d, %d) lie outside the %d rows of a candidate column",
                          name, g->cand_offset, g->cand_offset + g->n_local, g->cand_col_rows);
    if ((size_t)g->cand_cols * g->cand_col_rows * (size_t)D > (size_t)INT_MAX ||
        (size_t)g->anchor_rows * (size_t)D > (size_t)INT_MAX)
        return stc_errorf(STC_ERR_USAGE, "%s: in-batch matrices too large", name);
    if ((spec->directions & (STC_MNRL_QUERY_TO_QUERY | STC_MNRL_DOC_TO_QUERY)) &&
        (g->anchor_rows != g->cand_col_rows || g->anchor_offset != g->cand_offset))
        return stc_errorf(STC_ERR_USAGE,
                          "%s: the query_to_query and doc_to_query directions need every candidate row's "
                          "anchor (anchors gathered like the candidates: %d anchor rows at offset %d, "
                          "candidate columns of %d rows at offset %d)",
                          name, g->anchor_rows, g->anchor_offset, g->cand_col_rows, g->cand_offset);
    if (stc_loss_is_gist(spec->type)) {
        if (g->anchor_rows != g->n_local || g->anchor_offset != 0)
            return stc_errorf(STC_ERR_USAGE, "%s: anchors are never gathered (%d anchor rows for %d local anchors)",
                              name, g->anchor_rows, g->n_local);
        const stc_loss_guide *gd = spec->guide;
        if (!gd || !gd->anchors || !gd->cands || gd->dim < 1)
            return stc_errorf(STC_ERR_USAGE, "%s: the guide model's embeddings of the batch are missing", name);
    }
    for (int i = 0; i < spec->matryoshka_n_dims; i++)
        if (spec->matryoshka_dims[i] > D)
            return stc_errorf(STC_ERR_USAGE,
                              "MatryoshkaLoss: dimension %d exceeds the model's embedding dimension %d",
                              spec->matryoshka_dims[i], D);
    return STC_OK;
}

int stc_loss_compute_inbatch_f64(const stc_loss_spec *spec, const double *anchors, const double *cands,
                                 const stc_inbatch_geometry *geo, int D, stc_loss_result *result,
                                 double *danchors, double *dcands)
{
    int rc;
    if ((rc = stc_loss_spec_validate(spec)) || (rc = check_geometry(spec, geo, D)))
        return rc;
    if ((danchors == NULL) != (dcands == NULL))
        return stc_errorf(STC_ERR_USAGE, "%s: give both gradients or neither", stc_loss_type_name(spec->type));
    memset(result, 0, sizeof(*result));
    stc_loss_input in = {0};
    in.n_mats = 2;
    in.x[0] = anchors;
    in.x[1] = cands;
    in.rows[0] = geo->anchor_rows;
    in.rows[1] = geo->cand_cols * geo->cand_col_rows;
    in.dim = D;
    in.inbatch = 1;
    in.geo = *geo;
    double *dx[2] = {danchors, dcands};
    return eval_loss(spec, &in, &result->value, danchors ? dx : NULL);
}

/* ---- float32 entry points ---------------------------------------------------------- */

/* A float64 copy of n floats (NULL on OOM, message recorded). */
static double *to_f64(const float *x, size_t n, const char *what)
{
    double *y = stc_malloc(n * sizeof(double), what);
    if (y)
        for (size_t i = 0; i < n; i++)
            y[i] = x[i];
    return y;
}

static void to_f32(float *y, const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (float)x[i];
}

int stc_loss_compute(const stc_loss_spec *spec, const float *const *emb, int n_cols, int B, int D,
                     const stc_loss_labels *labels, stc_loss_result *result, float *const *demb)
{
    if (n_cols < 1 || n_cols > STC_LOSS_MAX_COLUMNS || B < 1 || D < 1)
        return check_columns(spec, n_cols, B, D, NULL);
    const size_t n = (size_t)B * D;
    int rc = STC_OK;
    double *x[STC_LOSS_MAX_COLUMNS] = {0}, *g[STC_LOSS_MAX_COLUMNS] = {0}, *lab = NULL;
    stc_loss_labels_f64 L = {0};
    for (int c = 0; c < n_cols; c++) {
        x[c] = to_f64(emb[c], n, "loss embeddings (float64)");
        g[c] = demb ? stc_malloc(n * sizeof(double), "loss gradient (float64)") : NULL;
        if (!x[c] || (demb && !g[c])) {
            rc = STC_ERR_NOMEM;
            goto out;
        }
    }
    if (labels && labels->values) {
        size_t nl = (size_t)B * (labels->ndim >= 2 && labels->width > 0 ? (size_t)labels->width : 1) *
                    (labels->ndim == 3 && labels->cols > 0 ? (size_t)labels->cols : 1);
        lab = to_f64(labels->values, nl, "loss labels (float64)");
        if (!lab) {
            rc = STC_ERR_NOMEM;
            goto out;
        }
        L = (stc_loss_labels_f64){lab, labels->ndim, labels->cols, labels->width};
    }
    rc = stc_loss_compute_f64(spec, (const double *const *)x, n_cols, B, D, &L, result, demb ? g : NULL);
    if (!rc && demb)
        for (int c = 0; c < n_cols; c++)
            to_f32(demb[c], g[c], n);
out:
    for (int c = 0; c < n_cols; c++) {
        free(x[c]);
        free(g[c]);
    }
    free(lab);
    return rc;
}

int stc_loss_compute_inbatch(const stc_loss_spec *spec, const float *anchors, const float *cands,
                             const stc_inbatch_geometry *geo, int D, stc_loss_result *result, float *danchors,
                             float *dcands)
{
    int rc;
    if ((rc = stc_loss_spec_validate(spec)) || (rc = check_geometry(spec, geo, D)))
        return rc;
    const size_t na = (size_t)geo->anchor_rows * D, nc = (size_t)geo->cand_cols * geo->cand_col_rows * D;
    const int grad = danchors && dcands;
    double *a = to_f64(anchors, na, "loss anchors (float64)");
    double *c = to_f64(cands, nc, "loss candidates (float64)");
    double *da = grad ? stc_malloc(na * sizeof(double), "loss anchor gradient (float64)") : NULL;
    double *dc = grad ? stc_malloc(nc * sizeof(double), "loss candidate gradient (float64)") : NULL;
    if (!a || !c || (grad && (!da || !dc))) {
        rc = STC_ERR_NOMEM;
        goto out;
    }
    if (!grad && (danchors || dcands)) {
        rc = stc_errorf(STC_ERR_USAGE, "%s: give both gradients or neither", stc_loss_type_name(spec->type));
        goto out;
    }
    rc = stc_loss_compute_inbatch_f64(spec, a, c, geo, D, result, da, dc);
    if (!rc && grad) {
        to_f32(danchors, da, na);
        to_f32(dcands, dc, nc);
    }
out:
    free(a);
    free(c);
    free(da);
    free(dc);
    return rc;
}
