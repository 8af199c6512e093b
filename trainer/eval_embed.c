/*
 * Embeddings for the evaluators (eval_internal.h): Python's encode,
 * encode_query and encode_document (prompt and task rules), with the texts
 * split across ranks and the embeddings all-gathered.
 */
#include "kernels/ops.h"
#include "model/encode.h"
#include "trainer/eval_internal.h"
#include "util/clock.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void stc_eval_rank_slice(const stc_comm *comm, size_t n, size_t unit, size_t *begin, size_t *count)
{
    size_t P = (size_t)comm->world, r = (size_t)comm->rank, units = (n + unit - 1) / unit;
    size_t b = units * r / P * unit, e = units * (r + 1) / P * unit;
    *begin = b < n ? b : n;
    *count = (e < n ? e : n) - *begin;
}

/* Rows per rank moved by one all-gather: bounds the staging buffers and
 * keeps every MPI count far below INT_MAX. */
enum { GATHER_VALUES = 1 << 24 };

static int allgather_rows(const stc_comm *comm, void *buf, size_t n, size_t unit, size_t width, size_t elem)
{
    if (comm->world == 1 || n == 0 || width == 0)
        return 0;
    size_t P = (size_t)comm->world, most = 0;
    for (int q = 0; q < comm->world; q++) {
        stc_comm qc = *comm;
        qc.rank = q;
        size_t qb, qn;
        stc_eval_rank_slice(&qc, n, unit, &qb, &qn);
        most = qn > most ? qn : most;
    }
    size_t R = GATHER_VALUES / width ? GATHER_VALUES / width : 1;
    R = R < most ? R : most;
    size_t row = width * elem;
    char *send = malloc(R * row), *recv = malloc(P * R * row);
    int rc = send && recv ? 0 : stc_errorf(STC_ERR_NOMEM, "out of memory (gathering embeddings)");
    size_t begin, count;
    stc_eval_rank_slice(comm, n, unit, &begin, &count);
    /* Round s moves rows [s, s + R) of every rank's slice, padded to R. */
    for (size_t s = 0; s < most && !rc; s += R) {
        size_t k = s < count ? (count - s < R ? count - s : R) : 0;
        memcpy(send, (char *)buf + (begin + s) * row, k * row);
        rc = elem == sizeof(float)
                 ? stc_comm_allgather_f32(comm, (float *)recv, (const float *)send, R * width)
                 : stc_comm_allgather_f64(comm, (double *)recv, (const double *)send, R * width);
        for (size_t q = 0; q < P && !rc; q++) {
            if ((int)q == comm->rank)
                continue;
            stc_comm qc = *comm;
            qc.rank = (int)q;
            size_t qb, qn;
            stc_eval_rank_slice(&qc, n, unit, &qb, &qn);
            size_t qk = s < qn ? (qn - s < R ? qn - s : R) : 0;
            memcpy((char *)buf + (qb + s) * row, recv + q * R * row, qk * row);
        }
    }
    free(send);
    free(recv);
    return rc;
}

int stc_eval_allgather_rows_f32(const stc_comm *comm, float *buf, size_t n, size_t unit, size_t width)
{
    return allgather_rows(comm, buf, n, unit, width, sizeof(float));
}

int stc_eval_allgather_rows_f64(const stc_comm *comm, double *buf, size_t n, size_t unit, size_t width)
{
    return allgather_rows(comm, buf, n, unit, width, sizeof(double));
}

/* Python's encode_query / encode_document pick a prompt when the caller
 * gives none ("query"; the first of "document", "passage", "corpus" the
 * model has) and a task; then encode resolves the prompt: an explicit
 * prompt wins, else the prompt name (which must exist), else the model's
 * default_prompt_name. */
static int resolve(const stc_st_model *m, const stc_eval_encode_opts *o, const char **prompt, const char **task)
{
    static const char *const doc_names[] = {"document", "passage", "corpus"};
    const char *name = o->prompt_name;
    *prompt = o->prompt;
    *task = NULL;
    if (o->fn == STC_EVAL_ENCODE_QUERY) {
        *task = "query";
        if (!*prompt && !name && stc_st_model_prompt(m, "query"))
            name = "query";
    } else if (o->fn == STC_EVAL_ENCODE_DOCUMENT) {
        *task = "document";
        for (int i = 0; i < 3 && !*prompt && !name; i++)
            if (stc_st_model_prompt(m, doc_names[i]))
                name = doc_names[i];
    }
    if (*prompt)
        return 0;
    if (name) {
        *prompt = stc_st_model_prompt(m, name);
        if (!*prompt)
            return stc_errorf(STC_ERR_USAGE, "prompt name \"%s\" is not in %s/config_sentence_transformers.json "
                              "(it has %d prompts)", name, m->dir, m->n_prompts);
    } else if (m->default_prompt_name) {
        *prompt = stc_st_model_prompt(m, m->default_prompt_name);
    }
    return 0;
}

int stc_eval_embed(const stc_eval_call *call, const stc_eval_encode_opts *o, const stc_eval_texts *t, float **out,
                   int *dim)
{
    *out = NULL;
    const char *prompt, *task;
    int rc = resolve(call->model, o, &prompt, &task);
    if (rc)
        return rc;
    stc_encode_opts eo = {.batch_size = call->batch_size, .truncate_dim = call->truncate_dim, .prompt = prompt,
                          .task = task};
    stc_encoder *enc;
    if ((rc = stc_encoder_init(&enc, call->model, stc_ops_cpu(), &eo)))
        return rc;
    int D = stc_encoder_dim(enc);
    float *emb = malloc(sizeof *emb * (t->n ? t->n : 1) * (size_t)D);
    if (!emb) {
        stc_encoder_free(enc);
        return stc_errorf(STC_ERR_NOMEM, "out of memory (%zu embeddings of %d floats)", t->n, D);
    }
    /* One encoder call per batch_size texts from the start of t: the
     * batches, and so every bit of every embedding, are the same on any
     * number of ranks (a text's embedding can differ in the last bits with
     * the batch it shares a matrix product with). */
    size_t B = (size_t)call->batch_size, begin, count;
    stc_eval_rank_slice(call->comm, t->n, B, &begin, &count);
    /* Long encodings show progress on a terminal (rank 0's share, which
     * the other ranks' keep pace with). */
    int show = call->comm->rank == 0 && count >= 4 * B && isatty(2);
    double t0 = stc_now_s(), last = t0;
    for (size_t i = begin; i < begin + count && !rc; i += B) {
        size_t k = begin + count - i < B ? begin + count - i : B;
        rc = stc_encoder_run(enc, t->texts + i, t->lens + i, k, emb + i * (size_t)D, NULL, NULL, NULL, NULL);
        double now = stc_now_s();
        if (show && now - last >= 0.5) {
            size_t done = i + k - begin;
            fprintf(stderr, "\reval: encoding %zu texts: %.0f%% (%.0f texts/s)   ", t->n,
                    100.0 * (double)done / (double)count, (double)done * call->comm->world / (now - t0));
            last = now;
        }
    }
    if (show && last > t0)
        fputc('\n', stderr);
    stc_encoder_free(enc);
    if (!rc)
        rc = stc_eval_allgather_rows_f32(call->comm, emb, t->n, B, (size_t)D);
    if (rc) {
        free(emb);
        return rc;
    }
    *out = emb;
    *dim = D;
    return 0;
}

int stc_eval_embed_columns(const stc_eval_call *call, const stc_eval_encode_opts *o, const stc_eval_texts *cols,
                           int k, float **emb, int *dim)
{
    stc_eval_texts all, uniq;
    stc_eval_texts_init(&all);
    stc_eval_texts_init(&uniq);
    for (int c = 0; c < k; c++)
        emb[c] = NULL;
    size_t n = cols[0].n;
    size_t *idx = malloc(sizeof *idx * (n * (size_t)k + 1));
    float *u = NULL;
    int rc = idx ? 0 : stc_errorf(STC_ERR_NOMEM, "out of memory (evaluator texts)");
    for (int c = 0; c < k && !rc; c++)
        for (size_t i = 0; i < n && !rc; i++)
            rc = stc_eval_texts_push(&all, cols[c].texts[i], cols[c].lens[i]);
    if (!rc)
        rc = stc_eval_texts_unique(&all, &uniq, idx);
    int D = 0;
    if (!rc)
        rc = stc_eval_embed(call, o, &uniq, &u, &D);
    for (int c = 0; c < k && !rc; c++) {
        if (!(emb[c] = malloc(sizeof(float) * (n ? n : 1) * (size_t)D))) {
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory (embeddings)");
            break;
        }
        for (size_t i = 0; i < n; i++)
            memcpy(emb[c] + i * (size_t)D, u + idx[(size_t)c * n + i] * (size_t)D, sizeof(float) * (size_t)D);
    }
    if (rc)
        for (int c = 0; c < k; c++) {
            free(emb[c]);
            emb[c] = NULL;
        }
    *dim = D;
    free(u);
    free(idx);
    stc_eval_texts_free(&all);
    stc_eval_texts_free(&uniq);
    return rc;
}
