/*
 * Tests of trainer/losses.h, the losses on embeddings:
 *   1. every loss's float64 gradient against central finite differences
 *      (relative error <= 1e-6) on small random shapes (B 3..7, D 4..9):
 *      hard negatives, cos and dot, every MNRL direction / partition /
 *      hardness mode, CoSENT labels with ties, every distance metric,
 *      MatryoshkaLoss around several losses, gathered in-batch geometry;
 *   2. parity with the Python library: tests/fixtures/losses/cases.json
 *      (tools/make_loss_fixtures.py, the real sentence_transformers 6.3 loss
 *      classes under autograd, float64): value and every gradient within
 *      1e-6 relative on the float64 path and 1e-5 on the float32 path,
 *      the loss spec read from the same config JSON the trainer reads;
 *   3. CachedMNRL's chunked loss step equals the full batch;
 *   4. P ranks x B (gathered candidates / anchors, per-rank calls, gradients
 *      summed as a reduce-scatter would, averaged as DDP does) equals one
 *      rank with P*B;
 *   5. value-only calls, Matryoshka dim sampling, spec parsing and the
 *      errors for shapes, labels and configs that do not fit.
 * The losses added with MarginMSE (MarginMSE, DistillKLDiv, the four
 * Batch*TripletLosses, MegaBatchMargin, GlobalOrthogonalRegularization) are
 * in 1 (test_fd_more), 2 (their fixture cases, GOR's parts included) and 5
 * (test_more_specs_and_errors).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "trainer/losses.h"
#include "util/error.h"
#include "util/json.h"

#define FD_TOL 1e-6
#define F64_TOL 1e-6
#define F32_TOL 1e-5

/* ---- random numbers ------------------------------------------------------ */

static uint64_t rng_state = 0x5EED1234ABCDull;

static uint64_t rng_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(void)
{
    return (double)(rng_u64() >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_normal(void)
{
    double u = rng_uniform(), v = rng_uniform();
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static int rng_int(int lo, int hi) /* inclusive */
{
    return lo + (int)(rng_u64() % (uint64_t)(hi - lo + 1));
}

static double *rand_matrix(int R, int D, double scale)
{
    double *x = malloc(sizeof(double) * (size_t)R * D);
    for (int i = 0; i < R * D; i++)
        x[i] = rng_normal() * scale;
    return x;
}

/* ---- a batch of columns -------------------------------------------------- */

typedef struct {
    int n_cols, B, D;
    double *x[STC_LOSS_MAX_COLUMNS];
    double *g[STC_LOSS_MAX_COLUMNS];
    double *labels;
    stc_loss_labels_f64 L;
} batch;

static void batch_init(batch *b, int n_cols, int B, int D, double scale)
{
    memset(b, 0, sizeof(*b));
    b->n_cols = n_cols;
    b->B = B;
    b->D = D;
    for (int c = 0; c < n_cols; c++) {
        b->x[c] = rand_matrix(B, D, scale);
        b->g[c] = calloc((size_t)B * D, sizeof(double));
    }
}

static void batch_free(batch *b)
{
    for (int c = 0; c < b->n_cols; c++) {
        free(b->x[c]);
        free(b->g[c]);
    }
    free(b->labels);
}

/* labels [B]: kind 0 scores in {0, .5, 1} (ties), 1 binary, 2 uniform */
static void batch_scalar_labels(batch *b, int kind)
{
    b->labels = malloc(sizeof(double) * b->B);
    for (int i = 0; i < b->B; i++)
        b->labels[i] = kind == 0 ? rng_int(0, 2) * 0.5 : kind == 1 ? (double)(i % 2) : rng_uniform();
    b->L = (stc_loss_labels_f64){b->labels, 1, 0, 0};
}

/* labels [B]: classes i % n_classes (n_classes 1: one class) */
static void batch_classes(batch *b, int n_classes)
{
    b->labels = malloc(sizeof(double) * b->B);
    for (int i = 0; i < b->B; i++)
        b->labels[i] = (double)(i % n_classes);
    b->L = (stc_loss_labels_f64){b->labels, 1, 0, 0};
}

/* labels [B, width]: teacher scores (or margins), normal * scale */
static void batch_scores(batch *b, int width, double scale)
{
    b->labels = rand_matrix(b->B, width, scale);
    b->L = (stc_loss_labels_f64){b->labels, 2, 0, width};
}

static void batch_teacher(batch *b, int per_column)
{
    int cols = per_column ? b->n_cols : 1;
    b->labels = rand_matrix(b->B * cols, b->D, 1.0);
    b->L = (stc_loss_labels_f64){b->labels, per_column ? 3 : 2, per_column ? cols : 0, b->D};
}

static double value_of(const stc_loss_spec *s, batch *b)
{
    stc_loss_result r;
    int rc = stc_loss_compute_f64(s, (const double *const *)b->x, b->n_cols, b->B, b->D, &b->L, &r, NULL);
    if (rc) {
        fprintf(stderr, "loss failed: %s\n", stc_error_message());
        return NAN;
    }
    return r.value;
}

/* max |a - b| / max(max |b|, floor) over n values */
static double rel_err(const double *a, const double *b, size_t n, double floor)
{
    double d = 0.0, m = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > d || isnan(a[i]))
            d = isnan(a[i]) ? INFINITY : fabs(a[i] - b[i]);
        if (fabs(b[i]) > m)
            m = fabs(b[i]);
    }
    return d / (m > floor ? m : floor);
}

/* Central differences of the loss with respect to every input element. */
static void fd_check(const char *name, const stc_loss_spec *s, batch *b)
{
    stc_loss_result r;
    int rc = stc_loss_compute_f64(s, (const double *const *)b->x, b->n_cols, b->B, b->D, &b->L, &r, b->g);
    CHECK_MSG(rc == 0, "%s: %s", name, stc_error_message());
    if (rc)
        return;
    CHECK_MSG(fabs(value_of(s, b) - r.value) <= 1e-12 * (1.0 + fabs(r.value)), "%s: value-only call differs", name);
    const double h = 1e-6;
    double worst = 0.0;
    size_t n = (size_t)b->B * b->D;
    double *fd = malloc(sizeof(double) * n);
    for (int c = 0; c < b->n_cols; c++) {
        for (size_t i = 0; i < n; i++) {
            double keep = b->x[c][i];
            b->x[c][i] = keep + h;
            double up = value_of(s, b);
            b->x[c][i] = keep - h;
            double dn = value_of(s, b);
            b->x[c][i] = keep;
            fd[i] = (up - dn) / (2.0 * h);
        }
        double e = rel_err(b->g[c], fd, n, 1e-6);
        if (e > worst)
            worst = e;
    }
    free(fd);
    CHECK_MSG(worst <= FD_TOL, "%s: gradient vs finite differences: relative error %.3g (loss %.6g)", name, worst,
              r.value);
    printf("  fd %-44s B=%d D=%d cols=%d loss=%-10.6g rel.err %.2e\n", name, b->B, b->D, b->n_cols, r.value,
           worst);
}

static stc_loss_spec spec_of(stc_loss_type t)
{
    stc_loss_spec s;
    stc_loss_spec_init(&s, t);
    return s;
}

/* ---- 1. finite-difference checks ------------------------------------------- */

static void test_fd_all(void)
{
    batch b;
    stc_loss_spec s;

    /* MNRL family */
    for (int cols = 2; cols <= 4; cols++) {
        char name[64];
        snprintf(name, sizeof name, "MNRL cos, %d columns", cols);
        batch_init(&b, cols, rng_int(3, 7), rng_int(4, 9), 1.0);
        s = spec_of(STC_LOSS_MNRL);
        fd_check(name, &s, &b);
        batch_free(&b);
    }
    batch_init(&b, 3, rng_int(3, 7), rng_int(4, 9), 0.5);
    s = spec_of(STC_LOSS_MNRL);
    s.similarity = STC_SIM_DOT;
    s.scale = 1.0;
    fd_check("MNRL dot, scale 1, hard negative", &s, &b);
    batch_free(&b);

    batch_init(&b, 3, rng_int(3, 7), rng_int(4, 9), 1.0);
    s = spec_of(STC_LOSS_MNRL_SYMMETRIC);
    fd_check("MNRL symmetric", &s, &b);
    batch_free(&b);

    static const unsigned dir_sets[] = {
        STC_MNRL_QUERY_TO_DOC | STC_MNRL_QUERY_TO_QUERY,
        STC_MNRL_QUERY_TO_DOC | STC_MNRL_DOC_TO_DOC,
        STC_MNRL_QUERY_TO_DOC | STC_MNRL_QUERY_TO_QUERY | STC_MNRL_DOC_TO_QUERY | STC_MNRL_DOC_TO_DOC,
    };
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "MNRL joint, directions 0x%x", dir_sets[i]);
        batch_init(&b, 3, rng_int(3, 7), rng_int(4, 9), 1.0);
        s = spec_of(STC_LOSS_MNRL);
        s.directions = dir_sets[i];
        fd_check(name, &s, &b);
        batch_free(&b);
    }
    batch_init(&b, 2, rng_int(3, 7), rng_int(4, 9), 1.0);
    s = spec_of(STC_LOSS_MNRL);
    s.directions = STC_MNRL_QUERY_TO_DOC | STC_MNRL_DOC_TO_QUERY;
    s.similarity = STC_SIM_DOT;
    s.scale = 2.0;
    fd_check("MNRL dot, query_to_doc + doc_to_query joint", &s, &b);
    batch_free(&b);

    /* No finite differences for hardness_mode: its penalty is
     * strength * stop_grad(sim), so the gradient Python (and stc) uses is
     * deliberately not the derivative of the value. The Python fixtures,
     * the chunked and the ranks tests cover it. */
    batch_init(&b, 3, 7, rng_int(4, 9), 1.0);
    s = spec_of(STC_LOSS_CACHED_MNRL);
    s.mini_batch_size = 3;
    fd_check("CachedMNRL loss step, chunks of 3", &s, &b);
    batch_free(&b);

    /* CoSENT / AnglE */
    batch_init(&b, 2, 7, rng_int(4, 9), 1.0);
    batch_scalar_labels(&b, 0);
    s = spec_of(STC_LOSS_COSENT);
    fd_check("CoSENT, labels with ties", &s, &b);
    batch_free(&b);
    batch_init(&b, 2, rng_int(3, 7), rng_int(4, 9), 0.5);
    batch_scalar_labels(&b, 2);
    s = spec_of(STC_LOSS_COSENT);
    s.similarity = STC_SIM_DOT;
    s.scale = 3.0;
    fd_check("CoSENT dot", &s, &b);
    batch_free(&b);
    for (int D = 4; D <= 5; D++) {
        batch_init(&b, 2, rng_int(3, 7), D + 2, 1.0);
        batch_scalar_labels(&b, 0);
        s = spec_of(STC_LOSS_ANGLE);
        fd_check(D == 4 ? "AnglE, even D" : "AnglE, odd D", &s, &b);
        batch_free(&b);
    }
    batch_init(&b, 3, rng_int(3, 7), rng_int(4, 9), 1.0);
    batch_scalar_labels(&b, 2);
    s = spec_of(STC_LOSS_ANGLE);
    fd_check("AnglE (anchor, positive, negative) + labels", &s, &b);
    batch_free(&b);
    batch_init(&b, 4, rng_int(3, 7), rng_int(4, 9), 1.0);
    s = spec_of(STC_LOSS_ANGLE);
    fd_check("AnglE 2 negatives, no labels", &s, &b);
    batch_free(&b);

    /* CosineSimilarity, MSE */
    batch_init(&b, 2, rng_int(3, 7), rng_int(4, 9), 1.0);
    batch_scalar_labels(&b, 2);
    s = spec_of(STC_LOSS_COSINE_SIMILARITY);
    fd_check("CosineSimilarity", &s, &b);
    batch_free(&b);
    batch_init(&b, 3, rng_int(3, 7), rng_int(4, 9), 1.0);
    batch_teacher(&b, 0);
    s = spec_of(STC_LOSS_MSE);
    fd_check("MSE, one teacher for 3 columns", &s, &b);
    batch_free(&b);
    batch_init(&b, 2, rng_int(3, 7), rng_int(4, 9), 1.0);
    batch_teacher(&b, 1);
    s = spec_of(STC_LOSS_MSE);
    fd_check("MSE, a teacher per column", &s, &b);
    batch_free(&b);

    /* Triplet */
    static const struct { stc_distance d; double margin; const char *name; } trip[] = {
        {STC_DIST_EUCLIDEAN, 1.0, "Triplet euclidean"},
        {STC_DIST_MANHATTAN, 2.0, "Triplet manhattan"},
        {STC_DIST_COSINE, 0.3, "Triplet cosine"},
    };
    for (int i = 0; i < 3; i++) {
        batch_init(&b, 3, 7, rng_int(4, 9), 1.0);
        s = spec_of(STC_LOSS_TRIPLET);
        s.distance = trip[i].d;
        s.margin = trip[i].margin;
        fd_check(trip[i].name, &s, &b);
        batch_free(&b);
    }

    /* Contrastive, OnlineContrastive */
    static const struct { stc_distance d; double margin; int avg; const char *name; } con[] = {
        {STC_DIST_COSINE, 1.0, 1, "Contrastive cosine distance"},
        {STC_DIST_EUCLIDEAN, 4.0, 0, "Contrastive euclidean, sum"},
        {STC_DIST_MANHATTAN, 6.0, 1, "Contrastive manhattan"},
    };
    for (int i = 0; i < 3; i++) {
        batch_init(&b, 2, 7, rng_int(4, 9), 1.0);
        batch_scalar_labels(&b, 1);
        s = spec_of(STC_LOSS_CONTRASTIVE);
        s.distance = con[i].d;
        s.margin = con[i].margin;
        s.size_average = con[i].avg;
        fd_check(con[i].name, &s, &b);
        batch_free(&b);
    }
    static const struct { stc_distance d; double margin; const char *name; } onl[] = {
        {STC_DIST_COSINE, 1.2, "OnlineContrastive cosine distance"},
        {STC_DIST_EUCLIDEAN, 3.5, "OnlineContrastive euclidean"},
        {STC_DIST_MANHATTAN, 7.0, "OnlineContrastive manhattan"},
    };
    for (int i = 0; i < 3; i++) {
        batch_init(&b, 2, 7, rng_int(4, 9), 1.0);
        batch_scalar_labels(&b, 1);
        s = spec_of(STC_LOSS_ONLINE_CONTRASTIVE);
        s.distance = onl[i].d;
        s.margin = onl[i].margin;
        fd_check(onl[i].name, &s, &b);
        batch_free(&b);
    }
    batch_init(&b, 2, 5, 6, 1.0);
    batch_scalar_labels(&b, 1);
    for (int i = 0; i < b.B; i++)
        b.labels[i] = 1.0; /* no negatives: the positives' mean is the threshold */
    s = spec_of(STC_LOSS_ONLINE_CONTRASTIVE);
    fd_check("OnlineContrastive, positives only", &s, &b);
    batch_free(&b);

    /* Matryoshka around several losses */
    {
        int dims[] = {3, 9, 5};
        double w[] = {0.25, 1.0, 0.5};
        batch_init(&b, 3, rng_int(3, 7), 9, 1.0);
        s = spec_of(STC_LOSS_MNRL);
        CHECK(stc_loss_spec_set_matryoshka(&s, dims, w, 3, -1, 9) == 0);
        fd_check("Matryoshka(MNRL) 9/5/3", &s, &b);
        batch_free(&b);

        batch_init(&b, 2, 6, 9, 1.0);
        batch_scalar_labels(&b, 0);
        s = spec_of(STC_LOSS_COSENT);
        CHECK(stc_loss_spec_set_matryoshka(&s, dims, NULL, 3, -1, 9) == 0);
        fd_check("Matryoshka(CoSENT) 9/5/3", &s, &b);
        batch_free(&b);

        batch_init(&b, 2, rng_int(3, 7), 9, 1.0);
        batch_teacher(&b, 1);
        s = spec_of(STC_LOSS_MSE);
        CHECK(stc_loss_spec_set_matryoshka(&s, dims, w, 3, -1, 9) == 0);
        fd_check("Matryoshka(MSE) teacher sliced", &s, &b);
        batch_free(&b);

        batch_init(&b, 3, 7, 9, 1.0);
        s = spec_of(STC_LOSS_TRIPLET);
        s.margin = 1.0;
        CHECK(stc_loss_spec_set_matryoshka(&s, dims, w, 3, -1, 9) == 0);
        fd_check("Matryoshka(Triplet)", &s, &b);
        batch_free(&b);

        batch_init(&b, 3, rng_int(3, 7), 9, 1.0);
        s = spec_of(STC_LOSS_MNRL_SYMMETRIC);
        CHECK(stc_loss_spec_set_matryoshka(&s, dims, w, 3, 2, 9) == 0);
        s.matryoshka_step_seed = 77;
        fd_check("Matryoshka(MNRL symmetric), 2 dims per step", &s, &b);
        batch_free(&b);
    }
}

/* ---- in-batch geometry: finite differences on gathered inputs --------------- */

static double inbatch_value(const stc_loss_spec *s, const double *a, const double *c,
                            const stc_inbatch_geometry *g, int D)
{
    stc_loss_result r;
    if (stc_loss_compute_inbatch_f64(s, a, c, g, D, &r, NULL, NULL))
        return NAN;
    return r.value;
}

/* f[i] = central difference of the in-batch loss in x[i], i < n (x is a or c). */
static void fd_inbatch(const stc_loss_spec *s, double *a, double *c, const stc_inbatch_geometry *g, int D,
                       double *x, int n, double *f)
{
    const double h = 1e-6;
    for (int i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double up = inbatch_value(s, a, c, g, D);
        x[i] = keep - h;
        double dn = inbatch_value(s, a, c, g, D);
        x[i] = keep;
        f[i] = (up - dn) / (2 * h);
    }
}

static void test_fd_inbatch(void)
{
    const int P = 3, B = 3, k = 2, D = 5, W = P * B;
    stc_inbatch_geometry g = {.n_local = B, .anchor_rows = W, .anchor_offset = B, .cand_cols = k,
                              .cand_col_rows = W, .cand_offset = B};
    double *a = rand_matrix(W, D, 1.0), *c = rand_matrix(k * W, D, 1.0);
    double *da = malloc(sizeof(double) * W * D), *dc = malloc(sizeof(double) * k * W * D);
    double *fa = malloc(sizeof(double) * W * D), *fc = malloc(sizeof(double) * k * W * D);
    stc_loss_spec s = spec_of(STC_LOSS_MNRL);
    s.directions = STC_MNRL_QUERY_TO_DOC | STC_MNRL_QUERY_TO_QUERY | STC_MNRL_DOC_TO_QUERY | STC_MNRL_DOC_TO_DOC;
    s.mini_batch_size = 2;
    stc_loss_result r;
    int rc = stc_loss_compute_inbatch_f64(&s, a, c, &g, D, &r, da, dc);
    CHECK_MSG(rc == 0, "inbatch: %s", stc_error_message());
    fd_inbatch(&s, a, c, &g, D, a, W * D, fa);
    fd_inbatch(&s, a, c, &g, D, c, k * W * D, fc);
    double ea = rel_err(da, fa, (size_t)W * D, 1e-6), ec = rel_err(dc, fc, (size_t)k * W * D, 1e-6);
    CHECK_MSG(ea <= FD_TOL && ec <= FD_TOL, "gathered in-batch: rel err anchors %.3g candidates %.3g", ea, ec);
    printf("  fd %-44s P=%d B=%d D=%d k=%d rel.err %.2e / %.2e\n", "gathered MNRL, all directions, rank 1", P, B, D,
           k, ea, ec);
    /* rows of other ranks' anchors get gradient only through the directions
     * that read all anchors; with query_to_doc alone they get none */
    s.directions = STC_MNRL_QUERY_TO_DOC;
    rc = stc_loss_compute_inbatch_f64(&s, a, c, &g, D, &r, da, dc);
    double other = 0.0;
    for (int i = 0; i < W * D; i++)
        if (i / D < B || i / D >= 2 * B)
            other = fmax(other, fabs(da[i]));
    CHECK_MSG(rc == 0 && other == 0.0, "query_to_doc gives other ranks' anchors a gradient (%g)", other);
    free(a);
    free(c);
    free(da);
    free(dc);
    free(fa);
    free(fc);
}

/* ---- GISTEmbedLoss: finite differences, gathered geometry, ranks ------------- */

/* Guide embeddings [n_cols * B, Dg] (float, as the trainer's): the first
 * columns of the student's rows plus noise, so that the guide masks some
 * in-batch candidates and keeps others. */
static float *gist_guide(const batch *b, int Dg)
{
    float *g = malloc(sizeof(float) * b->n_cols * b->B * Dg);
    for (int c = 0; c < b->n_cols; c++)
        for (int i = 0; i < b->B; i++)
            for (int j = 0; j < Dg; j++)
                g[((size_t)c * b->B + i) * Dg + j] =
                    (float)((j < b->D ? b->x[c][i * b->D + j] : 0.0) + 0.7 * rng_normal());
    return g;
}

static void test_fd_gist(void)
{
    static const struct {
        const char *name;
        stc_loss_type type;
        int cols, B, D, Dg, relative, contrast_anchors, contrast_positives, mini_batch_size, matryoshka;
        double margin, temperature;
    } cases[] = {
        {"GIST pairs", STC_LOSS_GIST, 2, 5, 6, 4, 0, 1, 1, 0, 0, 0.0, 0.05},
        {"GIST triplets, margin 0.1", STC_LOSS_GIST, 3, 4, 5, 7, 0, 1, 1, 0, 0, 0.1, 0.1},
        {"GIST relative, no contrast", STC_LOSS_GIST, 3, 6, 4, 4, 1, 0, 0, 0, 0, 0.2, 0.2},
        {"GIST relative, anchors only", STC_LOSS_GIST, 2, 5, 5, 5, 1, 1, 0, 0, 0, -0.1, 0.1},
        {"GIST positives only", STC_LOSS_GIST, 3, 5, 6, 3, 0, 0, 1, 0, 0, 0.05, 0.1},
        {"CachedGIST 3 negatives, chunks of 2", STC_LOSS_CACHED_GIST, 5, 5, 4, 6, 1, 1, 1, 2, 0, 0.1, 0.1},
        {"Matryoshka(GIST) [6, 3]", STC_LOSS_GIST, 3, 4, 6, 5, 0, 1, 1, 0, 1, 0.0, 0.1},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        batch b;
        batch_init(&b, cases[t].cols, cases[t].B, cases[t].D, 1.0);
        float *g = gist_guide(&b, cases[t].Dg);
        stc_loss_guide guide = {g, g + (size_t)cases[t].B * cases[t].Dg, cases[t].Dg};
        stc_loss_spec s = spec_of(cases[t].type);
        s.margin_relative = cases[t].relative;
        s.margin = cases[t].margin;
        s.temperature = cases[t].temperature;
        s.contrast_anchors = cases[t].contrast_anchors;
        s.contrast_positives = cases[t].contrast_positives;
        if (cases[t].mini_batch_size)
            s.mini_batch_size = cases[t].mini_batch_size;
        if (cases[t].matryoshka) {
            int dims[] = {6, 3};
            stc_loss_spec_set_matryoshka(&s, dims, NULL, 2, -1, cases[t].D);
        }
        s.guide = &guide;
        fd_check(cases[t].name, &s, &b);
        free(g);
        batch_free(&b);
    }
}

/* Gathered GIST (rank r of P: local anchors, every rank's candidates and
 * their guide embeddings): finite differences at a rank offset, and with
 * contrast_anchors off, P ranks x B equal 1 rank x P*B. (With
 * contrast_anchors on they do not: Python never gathers the anchors, so each
 * rank's anchor-anchor block holds only its own B anchors.) */
static void test_gist_ranks(void)
{
    const int P = 3, B = 3, k = 2, D = 5, Dg = 4, G = P * B;
    batch b;
    batch_init(&b, 1 + k, G, D, 1.0);
    float *guide = gist_guide(&b, Dg); /* [anchors of all ranks, positives, negatives] */
    double *cands = malloc(sizeof(double) * k * G * D), *dc = malloc(sizeof(double) * k * G * D);
    double *da = malloc(sizeof(double) * B * D), *fc = malloc(sizeof(double) * k * G * D);
    double *sum_dc = calloc((size_t)k * G * D, sizeof(double)), *sum_da = calloc((size_t)G * D, sizeof(double));
    for (int c = 0; c < k; c++)
        memcpy(cands + (size_t)c * G * D, b.x[1 + c], sizeof(double) * G * D);
    for (int ca = 1; ca >= 0; ca--) {
        stc_loss_spec s = spec_of(STC_LOSS_GIST);
        s.contrast_anchors = ca;
        s.temperature = 0.1;
        s.margin = 0.05;
        stc_loss_result one, res;
        stc_loss_guide gone = {guide, guide + (size_t)G * Dg, Dg};
        s.guide = &gone;
        CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 1 + k, G, D, NULL, &one, b.g) == 0);
        memset(sum_dc, 0, sizeof(double) * k * G * D);
        double loss_sum = 0.0, fd_err = 0.0;
        int rc = 0;
        for (int r = 0; r < P; r++) {
            stc_inbatch_geometry g = {.n_local = B, .anchor_rows = B, .anchor_offset = 0, .cand_cols = k,
                                      .cand_col_rows = G, .cand_offset = r * B};
            stc_loss_guide gr = {guide + (size_t)r * B * Dg, guide + (size_t)G * Dg, Dg};
            s.guide = &gr;
            double *anchors = b.x[0] + (size_t)r * B * D;
            rc |= stc_loss_compute_inbatch_f64(&s, anchors, cands, &g, D, &res, da, dc);
            loss_sum += res.value;
            for (int i = 0; i < k * G * D; i++)
                sum_dc[i] += dc[i];
            memcpy(sum_da + (size_t)r * B * D, da, sizeof(double) * B * D);
            if (r != 1)
                continue;
            /* finite differences of rank 1's loss in its candidates */
            fd_inbatch(&s, anchors, cands, &g, D, cands, k * G * D, fc);
            fd_err = rel_err(dc, fc, (size_t)k * G * D, 1e-6);
        }
        CHECK_MSG(rc == 0, "gathered GIST: %s", stc_error_message());
        CHECK_MSG(fd_err <= FD_TOL, "gathered GIST (contrast_anchors %d), rank 1: rel err %.3g", ca, fd_err);
        printf("  fd %-44s P=%d B=%d D=%d k=%d rel.err %.2e\n",
               ca ? "gathered GIST, rank 1" : "gathered GIST, no contrast_anchors, rank 1", P, B, D, k, fd_err);
        if (ca)
            continue;
        for (int i = 0; i < k * G * D; i++)
            sum_dc[i] /= P;
        for (int i = 0; i < G * D; i++)
            sum_da[i] /= P; /* anchors are local: each rank's own gradient, averaged by DDP */
        double e = fabs(loss_sum / P - one.value) / fabs(one.value);
        e = fmax(e, rel_err(sum_da, b.g[0], (size_t)G * D, 1e-12) / 1.0);
        for (int c = 0; c < k; c++)
            e = fmax(e, rel_err(sum_dc + (size_t)c * G * D, b.g[1 + c], (size_t)G * D, 1e-12));
        CHECK_MSG(e <= 1e-12, "GIST: %d ranks x %d != 1 rank x %d: relative difference %.3g", P, B, G, e);
        printf("  %d ranks x B=%d == 1 rank x %d (GIST, contrast_anchors off): max relative difference %.2e\n", P,
               B, G, e);
    }
    free(guide);
    free(cands);
    free(dc);
    free(da);
    free(fc);
    free(sum_dc);
    free(sum_da);
    batch_free(&b);
}

/* ---- 3. chunked == full ------------------------------------------------------ */

static void test_chunked(void)
{
    const int B = 7, D = 6, cols = 3;
    batch b;
    batch_init(&b, cols, B, D, 1.0);
    static const unsigned dirs[] = {
        STC_MNRL_QUERY_TO_DOC,
        STC_MNRL_QUERY_TO_DOC | STC_MNRL_DOC_TO_QUERY,
        STC_MNRL_QUERY_TO_DOC | STC_MNRL_QUERY_TO_QUERY | STC_MNRL_DOC_TO_QUERY | STC_MNRL_DOC_TO_DOC,
    };
    double *ref[STC_LOSS_MAX_COLUMNS];
    for (int c = 0; c < cols; c++)
        ref[c] = malloc(sizeof(double) * B * D);
    double worst = 0.0;
    for (int t = 0; t < 3; t++) {
        for (int part = 0; part < 2; part++) {
            stc_loss_spec s = spec_of(STC_LOSS_MNRL);
            s.directions = dirs[t];
            s.partition = (t < 2 && part) ? STC_MNRL_PER_DIRECTION : STC_MNRL_JOINT;
            s.hardness_mode = part ? STC_HARDNESS_IN_BATCH_NEGATIVES : STC_HARDNESS_NONE;
            s.hardness_strength = 4.0;
            stc_loss_result full, ch;
            s.mini_batch_size = 0;
            CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, cols, B, D, NULL, &full, ref) == 0);
            for (int mbs = 1; mbs <= B + 1; mbs++) {
                s.mini_batch_size = mbs;
                CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, cols, B, D, NULL, &ch, b.g) == 0);
                double e = fabs(ch.value - full.value) / fabs(full.value);
                for (int c = 0; c < cols; c++)
                    e = fmax(e, rel_err(b.g[c], ref[c], (size_t)B * D, 1e-12));
                CHECK_MSG(e <= 1e-12, "chunks of %d (directions 0x%x, part %d): relative difference %.3g", mbs,
                          dirs[t], part, e);
                worst = fmax(worst, e);
            }
        }
    }
    printf("  chunked (mini_batch_size 1..%d) vs full batch: max relative difference %.2e\n", B + 1, worst);
    for (int c = 0; c < cols; c++)
        free(ref[c]);
    batch_free(&b);
}

/* ---- 4. P ranks x B == 1 rank x P*B -------------------------------------------- */

static void test_ranks_equal_one(void)
{
    const int P = 3, B = 4, D = 6, k = 3; /* k candidate columns: positive + 2 negatives */
    const int G = P * B;
    for (int variant = 0; variant < 3; variant++) {
        stc_loss_spec s = spec_of(variant == 1 ? STC_LOSS_MNRL_SYMMETRIC : STC_LOSS_MNRL);
        int gather_anchors = variant >= 1;
        if (variant == 2) {
            s.directions = STC_MNRL_QUERY_TO_DOC | STC_MNRL_QUERY_TO_QUERY | STC_MNRL_DOC_TO_QUERY |
                           STC_MNRL_DOC_TO_DOC;
            s.hardness_mode = STC_HARDNESS_HARD_NEGATIVES;
            s.hardness_strength = 5.0;
            int dims[] = {6, 3};
            stc_loss_spec_set_matryoshka(&s, dims, NULL, 2, -1, D);
        }
        /* the global batch on one rank */
        batch b;
        batch_init(&b, 1 + k, G, D, 1.0);
        stc_loss_result one;
        CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 1 + k, G, D, NULL, &one, b.g) == 0);
        /* gathered candidates = [col1 of all ranks, col2 of all ranks, ...] = the global layout */
        double *cands = malloc(sizeof(double) * k * G * D), *dc = malloc(sizeof(double) * k * G * D);
        double *sum_dc = calloc((size_t)k * G * D, sizeof(double)), *sum_da = calloc((size_t)G * D, sizeof(double));
        double *da = malloc(sizeof(double) * G * D);
        for (int c = 0; c < k; c++)
            memcpy(cands + (size_t)c * G * D, b.x[1 + c], sizeof(double) * G * D);
        double loss_sum = 0.0;
        int rc = 0;
        for (int r = 0; r < P; r++) {
            stc_inbatch_geometry g = {.n_local = B, .cand_cols = k, .cand_col_rows = G, .cand_offset = r * B};
            const double *anchors;
            if (gather_anchors) {
                g.anchor_rows = G;
                g.anchor_offset = r * B;
                anchors = b.x[0];
            } else {
                g.anchor_rows = B;
                g.anchor_offset = 0;
                anchors = b.x[0] + (size_t)r * B * D; /* only this rank's anchors */
            }
            stc_loss_result res;
            rc |= stc_loss_compute_inbatch_f64(&s, anchors, cands, &g, D, &res, da, dc);
            loss_sum += res.value;
            for (int i = 0; i < k * G * D; i++) /* reduce-scatter: owners sum every rank's part */
                sum_dc[i] += dc[i];
            if (gather_anchors)
                for (int i = 0; i < G * D; i++)
                    sum_da[i] += da[i];
            else
                for (int i = 0; i < B * D; i++)
                    sum_da[(size_t)r * B * D + i] += da[i];
        }
        CHECK_MSG(rc == 0, "per-rank in-batch call: %s", stc_error_message());
        /* DDP averages gradients over P; the logged global loss is the mean */
        for (int i = 0; i < k * G * D; i++)
            sum_dc[i] /= P;
        for (int i = 0; i < G * D; i++)
            sum_da[i] /= P;
        double e = fabs(loss_sum / P - one.value) / fabs(one.value);
        e = fmax(e, rel_err(sum_da, b.g[0], (size_t)G * D, 1e-12));
        for (int c = 0; c < k; c++)
            e = fmax(e, rel_err(sum_dc + (size_t)c * G * D, b.g[1 + c], (size_t)G * D, 1e-12));
        CHECK_MSG(e <= 1e-12, "variant %d: %d ranks x %d != 1 rank x %d: relative difference %.3g", variant, P, B, G, e);
        printf("  %d ranks x B=%d == 1 rank x %d (variant %d): max relative difference %.2e\n", P, B, G, variant, e);
        free(cands);
        free(dc);
        free(sum_dc);
        free(sum_da);
        free(da);
        batch_free(&b);
    }
}

/* ---- 2. parity fixtures ------------------------------------------------------- */

static double *json_doubles(const cJSON *arr, int *n)
{
    *n = cJSON_GetArraySize(arr);
    double *v = malloc(sizeof(double) * (*n > 0 ? *n : 1));
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) v[i++] = e->valuedouble;
    return v;
}

/* Gradient error per row, relative to the row's largest reference entry
 * (floored at 1e-3 of the column's largest), so that the ordinary rows are
 * held to the tolerance next to eps-clamped rows whose gradients are ~1e12. */
static double row_rel_err(const double *a, const double *ref, int B, int D)
{
    double colmax = 0.0, worst = 0.0;
    for (int i = 0; i < B * D; i++)
        colmax = fmax(colmax, fabs(ref[i]));
    for (int r = 0; r < B; r++) {
        double rm = 0.0, d = 0.0;
        for (int j = 0; j < D; j++) {
            rm = fmax(rm, fabs(ref[r * D + j]));
            double x = fabs(a[r * D + j] - ref[r * D + j]);
            d = isnan(x) ? INFINITY : fmax(d, x);
        }
        double den = fmax(rm, fmax(1e-3 * colmax, 1e-300));
        worst = fmax(worst, d / den);
    }
    return worst;
}

static void test_fixtures(void)
{
    cJSON *root = NULL;
    int rc = stc_json_load("fixtures/losses/cases.json", &root);
    CHECK_MSG(rc == 0, "fixtures: %s", stc_error_message());
    if (rc)
        return;
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases"), *cs;
    int n_cases = 0;
    double worst64 = 0.0, worst32 = 0.0;
    cJSON_ArrayForEach(cs, cases) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cs, "name"));
        int B = cJSON_GetObjectItemCaseSensitive(cs, "B")->valueint;
        int D = cJSON_GetObjectItemCaseSensitive(cs, "D")->valueint;
        double want = cJSON_GetObjectItemCaseSensitive(cs, "value")->valuedouble;
        stc_loss_spec spec;
        rc = stc_loss_spec_from_json(cJSON_GetObjectItemCaseSensitive(cs, "loss"), name, &spec);
        CHECK_MSG(rc == 0, "%s: %s", name, stc_error_message());
        if (rc)
            continue;
        const cJSON *cols = cJSON_GetObjectItemCaseSensitive(cs, "columns");
        const cJSON *grads = cJSON_GetObjectItemCaseSensitive(cs, "grads");
        int nc = cJSON_GetArraySize(cols), n;
        double *x[STC_LOSS_MAX_COLUMNS], *gref[STC_LOSS_MAX_COLUMNS], *g[STC_LOSS_MAX_COLUMNS];
        float *xf[STC_LOSS_MAX_COLUMNS], *gf[STC_LOSS_MAX_COLUMNS];
        for (int c = 0; c < nc; c++) {
            x[c] = json_doubles(cJSON_GetArrayItem(cols, c), &n);
            gref[c] = json_doubles(cJSON_GetArrayItem(grads, c), &n);
            g[c] = malloc(sizeof(double) * B * D);
            xf[c] = malloc(sizeof(float) * B * D);
            gf[c] = malloc(sizeof(float) * B * D);
            for (int i = 0; i < B * D; i++)
                xf[c][i] = (float)x[c][i];
        }
        stc_loss_labels_f64 L = {0};
        stc_loss_labels Lf = {0};
        double *lab = NULL;
        float *labf = NULL;
        const cJSON *jl = cJSON_GetObjectItemCaseSensitive(cs, "labels");
        if (cJSON_IsObject(jl)) {
            lab = json_doubles(cJSON_GetObjectItemCaseSensitive(jl, "values"), &n);
            labf = malloc(sizeof(float) * n);
            for (int i = 0; i < n; i++)
                labf[i] = (float)lab[i];
            int ndim = cJSON_GetObjectItemCaseSensitive(jl, "ndim")->valueint;
            int lc = cJSON_GetObjectItemCaseSensitive(jl, "cols")->valueint;
            int lw = cJSON_GetObjectItemCaseSensitive(jl, "width")->valueint;
            L = (stc_loss_labels_f64){lab, ndim, lc, lw};
            Lf = (stc_loss_labels){labf, ndim, lc, lw};
        }
        /* GISTEmbedLoss: the guide's embeddings of every column, one after the other */
        const cJSON *jg = cJSON_GetObjectItemCaseSensitive(cs, "guide");
        float *guide_buf = NULL;
        stc_loss_guide guide = {0};
        if (cJSON_IsObject(jg)) {
            int Dg = cJSON_GetObjectItemCaseSensitive(jg, "D")->valueint;
            guide_buf = malloc(sizeof(float) * nc * B * Dg);
            for (int c = 0; c < nc; c++) {
                double *v = json_doubles(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(jg, "columns"), c), &n);
                for (int i = 0; i < B * Dg; i++)
                    guide_buf[(size_t)c * B * Dg + i] = (float)v[i];
                free(v);
            }
            guide = (stc_loss_guide){guide_buf, guide_buf + (size_t)B * Dg, Dg};
            spec.guide = &guide;
        }
        stc_loss_result r64, r32;
        rc = stc_loss_compute_f64(&spec, (const double *const *)x, nc, B, D, &L, &r64, g);
        CHECK_MSG(rc == 0, "%s (float64): %s", name, stc_error_message());
        int rc32 = stc_loss_compute(&spec, (const float *const *)xf, nc, B, D, &Lf, &r32, gf);
        CHECK_MSG(rc32 == 0, "%s (float32): %s", name, stc_error_message());
        if (!rc && !rc32) {
            double e64 = fabs(r64.value - want) / fmax(fabs(want), 1e-12);
            double e32 = fabs(r32.value - want) / fmax(fabs(want), 1e-12);
            double abs64 = fabs(r64.value - want);
            const cJSON *parts = cJSON_GetObjectItemCaseSensitive(cs, "components"), *pt;
            int n_parts = 0;
            cJSON_ArrayForEach(pt, parts) {
                int found = 0;
                for (int p = 0; p < r64.n_components; p++)
                    if (!strcmp(r64.components[p].name, pt->string)) {
                        found = 1;
                        e64 = fmax(e64, fabs(r64.components[p].value - pt->valuedouble) /
                                            fmax(fabs(pt->valuedouble), 1e-12));
                    }
                CHECK_MSG(found, "%s: no part '%s' in stc's result", name, pt->string);
                n_parts++;
            }
            CHECK_MSG(n_parts == r64.n_components && r32.n_components == r64.n_components,
                      "%s: %d parts in stc's result, %d in Python's", name, r64.n_components, n_parts);
            for (int c = 0; c < nc; c++) {
                for (int i = 0; i < B * D; i++)
                    abs64 = fmax(abs64, fabs(g[c][i] - gref[c][i]));
                e64 = fmax(e64, row_rel_err(g[c], gref[c], B, D));
                double *gd = malloc(sizeof(double) * B * D);
                for (int i = 0; i < B * D; i++)
                    gd[i] = gf[c][i];
                e32 = fmax(e32, row_rel_err(gd, gref[c], B, D));
                free(gd);
            }
            CHECK_MSG(e64 <= F64_TOL, "%s: float64 vs Python: relative error %.3g (loss %.17g vs %.17g)", name, e64,
                      r64.value, want);
            CHECK_MSG(e32 <= F32_TOL, "%s: float32 vs Python: relative error %.3g (loss %.9g vs %.17g)", name, e32,
                      r32.value, want);
            printf("  py %-36s loss %-12.8g float64 rel.err %.2e (abs %.2e)  float32 %.2e\n", name, want, e64,
                   abs64, e32);
            worst64 = fmax(worst64, e64);
            worst32 = fmax(worst32, e32);
        }
        for (int c = 0; c < nc; c++) {
            free(x[c]);
            free(gref[c]);
            free(g[c]);
            free(xf[c]);
            free(gf[c]);
        }
        free(lab);
        free(labf);
        free(guide_buf);
        n_cases++;
    }
    CHECK_MSG(n_cases >= 30, "only %d fixture cases", n_cases);
    printf("  %d Python cases: worst relative error float64 %.2e, float32 %.2e\n", n_cases, worst64, worst32);
    cJSON_Delete(root);
}

/* ---- 5. the rest ---------------------------------------------------------------- */

static void test_normalize_clamp(void)
{
    /* F.normalize of a zero row: y = 0, and the gradient is dy / eps. */
    stc_loss_spec s = spec_of(STC_LOSS_MNRL);
    batch b;
    batch_init(&b, 2, 3, 4, 1.0);
    for (int j = 0; j < 4; j++)
        b.x[0][4 + j] = 0.0; /* anchor 1 is zero: its similarities are 0 */
    stc_loss_result r;
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 2, 3, 4, NULL, &r, b.g) == 0);
    CHECK(isfinite(r.value));
    double mx = 0.0;
    for (int j = 0; j < 4; j++)
        mx = fmax(mx, fabs(b.g[0][4 + j]));
    CHECK_MSG(mx > 1e9, "zero anchor: gradient %g, expected ~1e12 (dy / eps)", mx);
    batch_free(&b);
}

static void test_matryoshka_sampling(void)
{
    int dims[] = {8, 6, 4, 2};
    batch b;
    batch_init(&b, 2, 5, 8, 1.0);
    stc_loss_spec base = spec_of(STC_LOSS_MNRL), s;
    double single[4];
    for (int i = 0; i < 4; i++) {
        s = base;
        CHECK(stc_loss_spec_set_matryoshka(&s, &dims[i], NULL, 1, -1, 8) == 0);
        single[i] = value_of(&s, &b);
    }
    s = base;
    CHECK(stc_loss_spec_set_matryoshka(&s, dims, NULL, 4, 2, 8) == 0);
    double first = NAN;
    int distinct = 0, bad = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        s.matryoshka_step_seed = seed;
        double v = value_of(&s, &b);
        CHECK(v == value_of(&s, &b)); /* same seed, same dims */
        int found = 0;
        for (int i = 0; i < 4; i++)
            for (int j = i + 1; j < 4; j++)
                if (fabs(v - (single[i] + single[j])) <= 1e-12 * fabs(v))
                    found = 1;
        bad += !found;
        if (seed == 1)
            first = v;
        else if (v != first)
            distinct = 1;
    }
    CHECK_MSG(bad == 0, "%d sampled steps are not the sum of 2 dims", bad);
    CHECK_MSG(distinct, "20 seeds always picked the same dims");
    batch_free(&b);
}

static int parse(const char *json, stc_loss_spec *s)
{
    cJSON *j = cJSON_Parse(json);
    int rc = stc_loss_spec_from_json(j, "config.json: loss", s);
    cJSON_Delete(j);
    return rc;
}

static void test_specs_and_errors(void)
{
    stc_loss_spec s;
    CHECK(parse("{\"type\": \"MultipleNegativesRankingLoss\"}", &s) == 0);
    CHECK(s.type == STC_LOSS_MNRL && s.scale == 20.0 && s.similarity == STC_SIM_COS &&
          s.directions == STC_MNRL_QUERY_TO_DOC && s.mini_batch_size == 0);
    CHECK(parse("{\"type\": \"CachedMultipleNegativesRankingLoss\", \"gather_across_devices\": true}", &s) == 0);
    CHECK(s.mini_batch_size == 32 && s.gather_across_devices == 1 && stc_loss_is_cached(s.type));
    CHECK(parse("{\"type\": \"MultipleNegativesSymmetricRankingLoss\"}", &s) == 0);
    CHECK(s.partition == STC_MNRL_PER_DIRECTION && s.directions == (STC_MNRL_QUERY_TO_DOC | STC_MNRL_DOC_TO_QUERY));
    CHECK(parse("{\"type\": \"TripletLoss\"}", &s) == 0);
    CHECK(s.distance == STC_DIST_EUCLIDEAN && s.margin == 5.0 && !s.gather_across_devices);
    /* CoSENT / AnglE: the loss over every rank's pairs unless turned off */
    CHECK(parse("{\"type\": \"CoSENTLoss\"}", &s) == 0 && s.gather_across_devices == 1 && !s.ranks);
    CHECK(parse("{\"type\": \"AnglELoss\", \"gather_across_devices\": false}", &s) == 0 && !s.gather_across_devices);
    CHECK(parse("{\"type\": \"TripletLoss\", \"gather_across_devices\": true}", &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"ContrastiveLoss\"}", &s) == 0);
    CHECK(s.distance == STC_DIST_COSINE && s.margin == 0.5 && s.size_average == 1);
    CHECK(parse("{\"type\": \"MatryoshkaLoss\", \"loss\": {\"type\": \"CoSENTLoss\"}, "
                "\"matryoshka_dims\": [64, 384, 128], \"matryoshka_weights\": [3, 1, 2]}", &s) == 0);
    CHECK(s.type == STC_LOSS_COSENT && s.matryoshka_n_dims == 3 && s.matryoshka_dims[0] == 384 &&
          s.matryoshka_dims[2] == 64 && s.matryoshka_weights[0] == 1 && s.matryoshka_weights[2] == 3);
    /* config errors name the key */
    CHECK(parse("{\"type\": \"MultipleNegativesRankingLoss\", \"scal\": 2}", &s) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "scal") != NULL);
    CHECK(parse("{\"type\": \"MultipleNegativesRankingLoss\", \"scale\": 0}", &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"NoSuchLoss\"}", &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"MultipleNegativesRankingLoss\", \"directions\": [\"query_to_query\"]}", &s) ==
          STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"MultipleNegativesRankingLoss\", \"directions\": [\"query_to_doc\", \"doc_to_doc\"], "
                "\"partition_mode\": \"per_direction\"}", &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"MSELoss\", \"projection_dim\": 128}", &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"MatryoshkaLoss\", \"loss\": {\"type\": \"CoSENTLoss\"}, \"matryoshka_dims\": [0]}",
                &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"MatryoshkaLoss\", \"loss\": {\"type\": \"CoSENTLoss\"}, \"matryoshka_dims\": [8, 4], "
                "\"matryoshka_weights\": [1]}", &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"MatryoshkaLoss\", \"loss\": {\"type\": \"MatryoshkaLoss\"}, \"matryoshka_dims\": [8]}",
                &s) == STC_ERR_USAGE);

    /* shape and label errors */
    batch b;
    batch_init(&b, 3, 4, 5, 1.0);
    stc_loss_result r;
    s = spec_of(STC_LOSS_TRIPLET);
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 2, 4, 5, NULL, &r, NULL) == STC_ERR_USAGE);
    s = spec_of(STC_LOSS_COSENT);
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 2, 4, 5, NULL, &r, NULL) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "label") != NULL);
    double nan_labels[4] = {0.1, NAN, 0.3, 0.4};
    stc_loss_labels_f64 L = {nan_labels, 1, 0, 0};
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 2, 4, 5, &L, &r, NULL) == STC_ERR_DATA);
    s = spec_of(STC_LOSS_MSE);
    double teacher[4 * 3];
    memset(teacher, 0, sizeof teacher);
    stc_loss_labels_f64 T = {teacher, 2, 0, 3};
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 1, 4, 5, &T, &r, NULL) == STC_ERR_USAGE);
    s = spec_of(STC_LOSS_MNRL);
    int dims[] = {6};
    CHECK(stc_loss_spec_set_matryoshka(&s, dims, NULL, 1, -1, 5) == STC_ERR_USAGE);
    CHECK(stc_loss_spec_set_matryoshka(&s, dims, NULL, 1, -1, 0) == 0);
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 2, 4, 5, NULL, &r, NULL) == STC_ERR_USAGE);
    s = spec_of(STC_LOSS_MNRL);
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 1, 4, 5, NULL, &r, NULL) == STC_ERR_USAGE);
    s.directions = STC_MNRL_QUERY_TO_DOC | STC_MNRL_QUERY_TO_QUERY;
    stc_inbatch_geometry g = {.n_local = 2, .anchor_rows = 2, .anchor_offset = 0, .cand_cols = 1,
                              .cand_col_rows = 4, .cand_offset = 2};
    CHECK(stc_loss_compute_inbatch_f64(&s, b.x[0], b.x[1], &g, 5, &r, NULL, NULL) == STC_ERR_USAGE);
    s.directions = STC_MNRL_QUERY_TO_DOC;
    CHECK(stc_loss_compute_inbatch_f64(&s, b.x[0], b.x[1], &g, 5, &r, NULL, NULL) == 0);
    g.cand_offset = 3; /* positives 3, 4: past the column */
    CHECK(stc_loss_compute_inbatch_f64(&s, b.x[0], b.x[1], &g, 5, &r, NULL, NULL) == STC_ERR_USAGE);
    s = spec_of(STC_LOSS_COSENT);
    g.cand_offset = 0;
    CHECK(stc_loss_compute_inbatch_f64(&s, b.x[0], b.x[1], &g, 5, &r, NULL, NULL) == STC_ERR_USAGE);
    CHECK(r.n_components == 0);
    batch_free(&b);
}

/* ---- the losses added with MarginMSE --------------------------------------------- */

static void test_fd_more(void)
{
    batch b;
    stc_loss_spec s;

    /* MarginMSE: [B] margins (width 0), [B, k] margins, [B, 1+k] scores; DistillKLDiv [B, 1+k] */
    static const struct {
        stc_loss_type t;
        int cols, width;
        double scale;       /* of the teacher labels */
        stc_similarity sim;
        double ts, tt;      /* DistillKLDiv temperatures */
        const char *name;
    } sc[] = {
        {STC_LOSS_MARGIN_MSE, 3, 0, 1.0, STC_SIM_DOT, 1.0, 1.0, "MarginMSE, one negative, [B] margins"},
        {STC_LOSS_MARGIN_MSE, 4, 2, 1.0, STC_SIM_DOT, 1.0, 1.0, "MarginMSE, 2 negatives, [B, k] margins"},
        {STC_LOSS_MARGIN_MSE, 5, 4, 0.3, STC_SIM_COS, 1.0, 1.0, "MarginMSE cos, 3 negatives, [B, 1+k] scores"},
        {STC_LOSS_DISTILL_KL_DIV, 3, 2, 3.0, STC_SIM_DOT, 1.0, 1.0, "DistillKLDiv"},
        {STC_LOSS_DISTILL_KL_DIV, 5, 4, 5.0, STC_SIM_COS, 0.1, 2.0, "DistillKLDiv cos, T_s 0.1, T_t 2"},
    };
    for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
        batch_init(&b, sc[i].cols, rng_int(3, 7), rng_int(4, 9), 1.0);
        if (sc[i].width)
            batch_scores(&b, sc[i].width, sc[i].scale);
        else
            batch_scalar_labels(&b, 2);
        s = spec_of(sc[i].t);
        s.similarity = sc[i].sim;
        s.student_temperature = sc[i].ts;
        s.teacher_temperature = sc[i].tt;
        fd_check(sc[i].name, &s, &b);
        batch_free(&b);
    }

    /* Batch*Triplet: euclidean and cosine, 1..3 classes */
    static const struct { stc_loss_type t; const char *name; } bt[] = {
        {STC_LOSS_BATCH_ALL_TRIPLET, "BatchAll"},
        {STC_LOSS_BATCH_HARD_TRIPLET, "BatchHard"},
        {STC_LOSS_BATCH_SEMI_HARD_TRIPLET, "BatchSemiHard"},
        {STC_LOSS_BATCH_HARD_SOFT_MARGIN_TRIPLET, "BatchHardSoftMargin"},
    };
    for (int i = 0; i < 4; i++)
        for (int cosine = 0; cosine < 2; cosine++)
            for (int classes = 1; classes <= 3; classes++) {
                char name[80];
                snprintf(name, sizeof name, "%s %s, %d class%s", bt[i].name, cosine ? "cosine" : "euclidean",
                         classes, classes > 1 ? "es" : "");
                batch_init(&b, 1, rng_int(5, 8), rng_int(4, 9), 1.0);
                batch_classes(&b, classes);
                s = spec_of(bt[i].t);
                s.distance = cosine ? STC_DIST_COSINE : STC_DIST_EUCLIDEAN;
                s.margin = cosine ? 0.4 : 1.5;
                fd_check(name, &s, &b);
                batch_free(&b);
            }

    /* MegaBatchMargin, GOR */
    batch_init(&b, 2, rng_int(3, 7), rng_int(4, 9), 1.0);
    s = spec_of(STC_LOSS_MEGA_BATCH_MARGIN);
    fd_check("MegaBatchMargin", &s, &b);
    batch_free(&b);
    batch_init(&b, 2, 6, 5, 1.0);
    for (int i = 0; i < 6 * 5; i++)
        b.x[1][i] = b.x[0][i] + 0.3 * b.x[1][i]; /* some positives past the margin */
    s = spec_of(STC_LOSS_MEGA_BATCH_MARGIN);
    s.positive_margin = 0.9;
    s.negative_margin = 0.1;
    fd_check("MegaBatchMargin, near positives", &s, &b);
    batch_free(&b);
    batch_init(&b, 3, rng_int(3, 7), rng_int(4, 9), 1.0);
    s = spec_of(STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION);
    fd_check("GlobalOrthogonalRegularization cos, mean", &s, &b);
    batch_free(&b);
    batch_init(&b, 2, rng_int(3, 7), 3, 1.0);
    s = spec_of(STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION);
    s.similarity = STC_SIM_DOT;
    s.aggregation_sum = 1;
    s.mean_weight = 0.5;
    s.second_moment_weight = 2.0;
    fd_check("GlobalOrthogonalRegularization dot, sum", &s, &b);
    batch_free(&b);

    /* Matryoshka around them */
    int dims[] = {9, 4};
    double w[] = {1.0, 0.5};
    batch_init(&b, 1, 7, 9, 1.0);
    batch_classes(&b, 3);
    s = spec_of(STC_LOSS_BATCH_SEMI_HARD_TRIPLET);
    s.margin = 1.0;
    CHECK(stc_loss_spec_set_matryoshka(&s, dims, w, 2, -1, 9) == 0);
    fd_check("Matryoshka(BatchSemiHard)", &s, &b);
    batch_free(&b);
    batch_init(&b, 4, 5, 9, 1.0);
    batch_scores(&b, 3, 2.0);
    s = spec_of(STC_LOSS_DISTILL_KL_DIV);
    CHECK(stc_loss_spec_set_matryoshka(&s, dims, w, 2, -1, 9) == 0);
    fd_check("Matryoshka(DistillKLDiv)", &s, &b);
    batch_free(&b);
}

/* GOR's parts; Batch*Triplet edge cases without a valid triplet. */
static void test_more_values(void)
{
    batch b;
    batch_init(&b, 2, 5, 6, 1.0);
    stc_loss_spec s = spec_of(STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION);
    stc_loss_result r;
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 2, 5, 6, NULL, &r, b.g) == 0);
    CHECK(r.n_components == 2 && !strcmp(r.components[0].name, "gor_mean") &&
          !strcmp(r.components[1].name, "gor_second_moment"));
    CHECK(fabs(r.components[0].value + r.components[1].value - r.value) <= 1e-15);
    s.mean_weight = 0.0;
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 2, 5, 6, NULL, &r, NULL) == 0);
    CHECK(r.n_components == 1 && !strcmp(r.components[0].name, "gor_second_moment") &&
          r.value == r.components[0].value);
    batch_free(&b);

    /* one class: BatchAll and BatchSemiHard... BatchAll 0, BatchHard = margin, zero gradients */
    batch_init(&b, 1, 5, 4, 1.0);
    batch_classes(&b, 1);
    s = spec_of(STC_LOSS_BATCH_HARD_TRIPLET);
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 1, 5, 4, &b.L, &r, b.g) == 0);
    double gmax = 0.0;
    for (int i = 0; i < 20; i++)
        gmax = fmax(gmax, fabs(b.g[0][i]));
    CHECK_MSG(r.value == 5.0 && gmax == 0.0, "BatchHard, one class: loss %g (want the margin 5), |grad| %g", r.value,
              gmax);
    s = spec_of(STC_LOSS_BATCH_ALL_TRIPLET);
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 1, 5, 4, &b.L, &r, b.g) == 0 && r.value == 0.0);
    batch_free(&b);
    batch_init(&b, 1, 4, 4, 1.0);
    batch_classes(&b, 4); /* all distinct: no positive pair */
    s = spec_of(STC_LOSS_BATCH_SEMI_HARD_TRIPLET);
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 1, 4, 4, &b.L, &r, b.g) == 0 && r.value == 0.0);
    batch_free(&b);
}

static void test_more_specs_and_errors(void)
{
    stc_loss_spec s;
    CHECK(parse("{\"type\": \"MarginMSELoss\"}", &s) == 0 && s.type == STC_LOSS_MARGIN_MSE &&
          s.similarity == STC_SIM_DOT);
    CHECK(parse("{\"type\": \"DistillKLDivLoss\"}", &s) == 0 && s.similarity == STC_SIM_DOT &&
          s.student_temperature == 1.0 && s.teacher_temperature == 1.0);
    CHECK(parse("{\"type\": \"DistillKLDivLoss\", \"teacher_temperature\": 3, \"temperature\": 2, "
                "\"student_temperature\": null}", &s) == 0);
    CHECK(s.student_temperature == 2.0 && s.teacher_temperature == 3.0);
    CHECK(parse("{\"type\": \"DistillKLDivLoss\", \"temperature\": 0}", &s) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "temperature") != NULL);
    CHECK(parse("{\"type\": \"BatchHardTripletLoss\"}", &s) == 0 && s.margin == 5.0 &&
          s.distance == STC_DIST_EUCLIDEAN);
    CHECK(parse("{\"type\": \"BatchHardTripletLoss\", \"margin\": 5.0, \"distance_metric\": "
                "\"eucledian_distance\"}", &s) == 0 && s.distance == STC_DIST_EUCLIDEAN);
    CHECK(parse("{\"type\": \"BatchAllTripletLoss\", \"distance_metric\": "
                "\"BatchHardTripletLossDistanceFunction.cosine_distance\"}", &s) == 0 &&
          s.distance == STC_DIST_COSINE);
    CHECK(parse("{\"type\": \"BatchSemiHardTripletLoss\", \"distance_metric\": \"manhattan_distance\"}", &s) ==
          STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "distance_metric") != NULL);
    CHECK(parse("{\"type\": \"BatchHardTripletLoss\", \"triplet_margin\": 1}", &s) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "triplet_margin") != NULL);
    CHECK(parse("{\"type\": \"BatchHardSoftMarginTripletLoss\", \"margin\": 1}", &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"MegaBatchMarginLoss\"}", &s) == 0 && s.positive_margin == 0.8 &&
          s.negative_margin == 0.3 && s.mini_batch_size == 50 && !stc_loss_is_cached(s.type));
    CHECK(parse("{\"type\": \"MegaBatchMarginLoss\", \"use_mini_batched_version\": false, \"mini_batch_size\": 8, "
                "\"mini_batch_num_tokens\": null, \"show_progress_bar\": true}", &s) == 0);
    CHECK(parse("{\"type\": \"MegaBatchMarginLoss\", \"mini_batch_num_tokens\": 4096}", &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"GlobalOrthogonalRegularizationLoss\"}", &s) == 0 && s.similarity == STC_SIM_COS &&
          s.mean_weight == 1.0 && s.second_moment_weight == 1.0 && !s.aggregation_sum);
    CHECK(parse("{\"type\": \"GlobalOrthogonalRegularizationLoss\", \"mean_weight\": null, "
                "\"similarity_fct\": \"dot_score\", \"aggregation\": \"sum\"}", &s) == 0 &&
          s.mean_weight == 0.0 && s.similarity == STC_SIM_DOT && s.aggregation_sum);
    CHECK(parse("{\"type\": \"GlobalOrthogonalRegularizationLoss\", \"mean_weight\": 0, "
                "\"second_moment_weight\": null}", &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"GlobalOrthogonalRegularizationLoss\", \"aggregation\": \"max\"}", &s) ==
          STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"MatryoshkaLoss\", \"loss\": {\"type\": \"GlobalOrthogonalRegularizationLoss\"}, "
                "\"matryoshka_dims\": [8]}", &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"MatryoshkaLoss\", \"loss\": {\"type\": \"BatchSemiHardTripletLoss\"}, "
                "\"matryoshka_dims\": [8, 4]}", &s) == 0 && s.matryoshka_n_dims == 2);
    CHECK(parse("{\"type\": \"MarginMSELoss\", \"scale\": 2}", &s) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "'scale'") != NULL);

    /* datasets that do not fit: the messages name what is missing */
    s = spec_of(STC_LOSS_BATCH_HARD_TRIPLET);
    CHECK(stc_loss_check_dataset(&s, 1, 1, 8) == 0);
    CHECK(stc_loss_check_dataset(&s, 2, 1, 8) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "BatchHardTripletLoss: needs 1 text column and an integer label") != NULL);
    CHECK(stc_loss_check_dataset(&s, 1, 0, 8) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "BatchHardTripletLoss: needs 1 text column and an integer label") != NULL);
    CHECK(stc_loss_check_dataset(&s, 1, 3, 8) == STC_ERR_USAGE);
    s = spec_of(STC_LOSS_MARGIN_MSE);
    CHECK(stc_loss_check_dataset(&s, 3, 1, 8) == 0);
    CHECK(stc_loss_check_dataset(&s, 3, 2, 8) == 0);
    CHECK(stc_loss_check_dataset(&s, 4, 2, 8) == 0);
    CHECK(stc_loss_check_dataset(&s, 4, 3, 8) == 0);
    CHECK(stc_loss_check_dataset(&s, 4, 1, 8) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "teacher margin") != NULL);
    CHECK(stc_loss_check_dataset(&s, 3, 0, 8) == STC_ERR_USAGE);
    CHECK(stc_loss_check_dataset(&s, 2, 1, 8) == STC_ERR_USAGE);
    s = spec_of(STC_LOSS_DISTILL_KL_DIV);
    CHECK(stc_loss_check_dataset(&s, 3, 2, 8) == 0);
    CHECK(stc_loss_check_dataset(&s, 3, 1, 8) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "2 teacher scores") != NULL);
    CHECK(stc_loss_check_dataset(&s, 4, 2, 8) == STC_ERR_USAGE);
    s = spec_of(STC_LOSS_MEGA_BATCH_MARGIN);
    CHECK(stc_loss_check_dataset(&s, 2, 0, 8) == 0);
    CHECK(stc_loss_check_dataset(&s, 3, 0, 8) == STC_ERR_USAGE);
    CHECK(strstr(stc_error_message(), "(anchor, positive)") != NULL);
    s = spec_of(STC_LOSS_GLOBAL_ORTHOGONAL_REGULARIZATION);
    CHECK(stc_loss_check_dataset(&s, 1, 0, 8) == 0 && stc_loss_check_dataset(&s, 4, 1, 8) == 0);

    /* non-finite teacher scores and class labels are data errors */
    batch b;
    batch_init(&b, 3, 4, 5, 1.0);
    batch_scores(&b, 2, 1.0);
    b.labels[3] = NAN;
    stc_loss_result r;
    s = spec_of(STC_LOSS_DISTILL_KL_DIV);
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 3, 4, 5, &b.L, &r, NULL) == STC_ERR_DATA);
    batch_free(&b);
    batch_init(&b, 1, 4, 5, 1.0);
    batch_classes(&b, 2);
    b.labels[1] = INFINITY;
    s = spec_of(STC_LOSS_BATCH_ALL_TRIPLET);
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 1, 4, 5, &b.L, &r, NULL) == STC_ERR_DATA);
    batch_free(&b);
}

static void test_gist_specs_and_errors(void)
{
    stc_loss_spec s;
    CHECK(parse("{\"type\": \"GISTEmbedLoss\", \"guide\": \"models/guide\"}", &s) == 0);
    CHECK(s.type == STC_LOSS_GIST && !strcmp(s.guide_path, "models/guide") && s.temperature == 0.01 &&
          s.margin == 0.0 && !s.margin_relative && s.contrast_anchors && s.contrast_positives &&
          !s.gather_across_devices && !stc_loss_spec_is_cached(&s) && stc_loss_is_inbatch(s.type));
    CHECK(parse("{\"type\": \"CachedGISTEmbedLoss\", \"guide\": \"g\", \"mini_batch_size\": 4, "
                "\"margin_strategy\": \"relative\", \"margin\": 0.05, \"temperature\": 0.02, "
                "\"contrast_anchors\": false, \"contrast_positives\": false, \"gather_across_devices\": true, "
                "\"show_progress_bar\": false, \"mini_batch_num_tokens\": null}", &s) == 0);
    CHECK(s.type == STC_LOSS_CACHED_GIST && s.mini_batch_size == 4 && s.margin_relative && s.margin == 0.05 &&
          s.temperature == 0.02 && !s.contrast_anchors && !s.contrast_positives && s.gather_across_devices &&
          stc_loss_spec_is_cached(&s));
    CHECK(parse("{\"type\": \"CachedGISTEmbedLoss\", \"guide\": \"g\"}", &s) == 0 && s.mini_batch_size == 32);
    CHECK(parse("{\"type\": \"GISTEmbedLoss\"}", &s) == STC_ERR_USAGE);                     /* no guide */
    CHECK(strstr(stc_error_message(), "guide") != NULL);
    CHECK(parse("{\"type\": \"GISTEmbedLoss\", \"guide\": \"g\", \"margin_strategy\": \"other\"}", &s) ==
          STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"GISTEmbedLoss\", \"guide\": \"g\", \"temperature\": 0}", &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"GISTEmbedLoss\", \"guide\": \"g\", \"scale\": 20}", &s) == STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"GISTEmbedLoss\", \"guide\": \"g\", \"mini_batch_size\": 2}", &s) ==
          STC_ERR_USAGE);
    CHECK(parse("{\"type\": \"MatryoshkaLoss\", \"matryoshka_dims\": [4], "
                "\"loss\": {\"type\": \"GISTEmbedLoss\", \"guide\": \"g\"}}", &s) == 0);
    /* columns: GISTEmbedLoss takes 2 or 3 (Python: "Expected 2 or 3 embeddings"), the cached one 2 or more */
    stc_loss_spec_init(&s, STC_LOSS_GIST);
    CHECK(stc_loss_check_dataset(&s, 2, 0, 8) == 0 && stc_loss_check_dataset(&s, 3, 0, 8) == 0);
    CHECK(stc_loss_check_dataset(&s, 4, 0, 8) == STC_ERR_USAGE && stc_loss_check_dataset(&s, 1, 0, 8) == STC_ERR_USAGE);
    stc_loss_spec_init(&s, STC_LOSS_CACHED_GIST);
    CHECK(stc_loss_check_dataset(&s, 5, 0, 8) == 0);
    /* without the guide's embeddings the loss refuses to run */
    batch b;
    batch_init(&b, 2, 3, 4, 1.0);
    stc_loss_result r;
    stc_loss_spec_init(&s, STC_LOSS_GIST);
    CHECK(stc_loss_compute_f64(&s, (const double *const *)b.x, 2, 3, 4, NULL, &r, b.g) == STC_ERR_USAGE);
    /* the gathered geometry never gathers anchors */
    float gz[2 * 3 * 2] = {0};
    stc_loss_guide guide = {gz, gz + 6, 2};
    s.guide = &guide;
    stc_inbatch_geometry g = {.n_local = 3, .anchor_rows = 6, .anchor_offset = 3, .cand_cols = 1,
                              .cand_col_rows = 6, .cand_offset = 3};
    double a6[6 * 4] = {0}, c6[6 * 4] = {0};
    CHECK(stc_loss_compute_inbatch_f64(&s, a6, c6, &g, 4, &r, NULL, NULL) == STC_ERR_USAGE);
    batch_free(&b);
}

int main(void)
{
    printf("finite differences (float64):\n");
    test_fd_all();
    test_fd_inbatch();
    test_fd_more();
    test_fd_gist();
    test_gist_ranks();
    printf("chunked == full:\n");
    test_chunked();
    printf("ranks:\n");
    test_ranks_equal_one();
    printf("Python parity:\n");
    test_fixtures();
    test_normalize_clamp();
    test_matryoshka_sampling();
    test_specs_and_errors();
    test_more_values();
    test_more_specs_and_errors();
    test_gist_specs_and_errors();
    return check_report("test_losses");
}
