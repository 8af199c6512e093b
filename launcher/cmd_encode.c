/*
 * `stc encode`: texts (plain lines or JSONL) -> HDF5 dataset "embeddings"
 * [N, D], with Sentence Transformers' encode() options.
 */
#include "data/h5_embeddings.h"
#include "dist/comm.h"
#include "data/text_input.h"
#include "kernels/ops.h"
#include "launcher/args.h"
#include "launcher/cmd_ranks.h"
#include "launcher/commands.h"
#include "model/encode.h"
#include "model/quantize.h"
#include "model/st_model.h"
#include "util/error.h"
#include "util/clock.h"

#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Texts per chunk (the default of --chunk-size): the unit of work a rank
 * takes and of resumption, and one encoder call (bounds the token-id
 * buffers and paces progress). */
enum { DEFAULT_CHUNK = 4096 };

typedef struct {
    size_t base, total;
    double t0;
} progress_state;

static void show_progress(size_t done, size_t total, void *arg)
{
    (void)total;
    progress_state *p = arg;
    size_t all = p->base + done;
    double dt = stc_now_s() - p->t0;
    fprintf(stderr, "\rencode: %zu/%zu texts (%.1f%%, %.0f texts/s)", all, p->total,
            p->total ? 100.0 * (double)all / (double)p->total : 100.0, dt > 0 ? (double)all / dt : 0.0);
}

/* Fault injection for the tests of a killed run: with
 * STC_FAULT_KILL_AFTER_CHUNKS=k the last rank kills itself (SIGKILL, as a
 * lost node) after writing k chunks. */
static void fault_injection(const stc_comm *comm, size_t chunks_written)
{
    const char *k = getenv("STC_FAULT_KILL_AFTER_CHUNKS");
    if (k && comm->rank == comm->world - 1 && chunks_written == (size_t)atol(k))
        raise(SIGKILL);
}

int stc_cmd_encode(int argc, char **argv)
{
    const char *model_dir = NULL, *input = NULL, *output = NULL, *text_field = "text";
    const char *prompt_name = NULL, *prompt = NULL, *precision = "float32", *task = NULL;
    int batch_size = 32, normalize = 0, truncate_dim = 0, max_seq_length = 0, chunk_size = DEFAULT_CHUNK;
    stc_comm comm = {.rank = 0, .world = 1};
    int use_mpi = 0;
    const stc_opt opts[] = {
        {"model", STC_OPT_STRING, &model_dir, "Sentence Transformers model directory (required)"},
        {"input", STC_OPT_STRING, &input, "texts: a text file (one per line) or .jsonl (required)"},
        {"output", STC_OPT_STRING, &output, "HDF5 file to write; dataset \"embeddings\" [N, D] (required)"},
        {"text-field", STC_OPT_STRING, &text_field, "JSONL field holding the text (default: text)"},
        {"batch-size", STC_OPT_INT, &batch_size, "texts per forward pass (default: 32)"},
        {"normalize", STC_OPT_FLAG, &normalize, "L2-normalise the embeddings"},
        {"truncate-dim", STC_OPT_INT, &truncate_dim, "keep the first D dimensions (before normalising)"},
        {"prompt-name", STC_OPT_STRING, &prompt_name, "a prompt from the model's config (\"query\" = encode_query)"},
        {"prompt", STC_OPT_STRING, &prompt, "prompt text prepended to every text (wins over --prompt-name)"},
        {"task", STC_OPT_STRING, &task, "Router models: the route's task, e.g. query | document (default: the default route)"},
        {"precision", STC_OPT_STRING, &precision, "float32 | float16 | int8 | uint8 | binary | ubinary"},
        {"max-seq-length", STC_OPT_INT, &max_seq_length, "tokens per text, special tokens included (default: the model's)"},
        {"chunk-size", STC_OPT_INT, &chunk_size, "texts per chunk: the unit ranks share and a rerun resumes from (default 4096)"},
    };
    int rc = stc_args_parse("encode", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]));
    if (rc == 1)
        return 0;
    if (rc)
        goto fail;
    if (!model_dir || !input || !output) {
        rc = stc_errorf(STC_ERR_USAGE, "stc encode: --model, --input and --output are required (see stc encode --help)");
        goto fail;
    }
    /* Under mpirun the corpus is split across ranks by chunk, and all ranks
     * write one file through parallel HDF5. */
    if ((rc = stc_cmd_ranks_join(&comm, &use_mpi, &argc, &argv)))
        goto fail;
    stc_precision prec;
    if ((rc = stc_precision_parse(precision, &prec)))
        goto fail;
    if (max_seq_length < 0 || truncate_dim < 0 || batch_size <= 0 || chunk_size <= 0) {
        rc = stc_errorf(STC_ERR_USAGE, "stc encode: --batch-size must be positive; --truncate-dim and --max-seq-length non-negative");
        goto fail;
    }

    stc_st_model model;
    if ((rc = stc_st_model_load(&model, model_dir)))
        goto fail;
    /* Python: an explicit prompt wins over prompt_name (with a warning);
     * else the model's default_prompt_name applies. */
    if (prompt && prompt_name)
        fprintf(stderr, "stc: warning: both --prompt and --prompt-name given; using --prompt\n");
    if (!prompt) {
        const char *name = prompt_name ? prompt_name : model.default_prompt_name;
        if (name) {
            prompt = stc_st_model_prompt(&model, name);
            if (!prompt) {
                rc = stc_errorf(STC_ERR_USAGE, "stc encode: prompt \"%s\" is not in %s/config_sentence_transformers.json "
                                "(it has %d prompts)", name, model_dir, model.n_prompts);
                stc_st_model_free(&model);
                goto fail;
            }
        }
    }

    /* Python's encode(task=...): the route, checked before any text is
     * read; a model without a Router ignores the task. The route is part of
     * the output's identity (its "route" attribute), so a rerun with another
     * task does not resume this one's file. */
    int route;
    if ((rc = stc_st_model_route_index(&model, task, &route))) {
        stc_error_prefix(rc, "stc encode: %s", model_dir);
        stc_st_model_free(&model);
        goto fail;
    }

    stc_texts texts;
    if ((rc = stc_texts_load(&texts, input, text_field))) {
        stc_st_model_free(&model);
        goto fail;
    }
    if (texts.n == 0) {
        rc = stc_errorf(STC_ERR_DATA, "%s: no texts to encode (the file is empty)", input);
        goto free_texts;
    }

    stc_encode_opts eo = {.batch_size = batch_size, .max_seq_length = max_seq_length, .normalize = normalize,
                          .truncate_dim = truncate_dim, .prompt = prompt, .task = task};
    stc_encoder *enc;
    if ((rc = stc_encoder_init(&enc, &model, stc_ops_cpu(), &eo)))
        goto free_texts;
    int dim = stc_encoder_dim(enc), cols;
    if ((rc = stc_precision_columns(prec, dim, &cols)))
        goto free_enc;

    /* int8/uint8 ranges come from the whole call (all ranks), so those
     * precisions keep their float embeddings until the end and are not
     * resumed; the others stream by chunk. */
    int calibrate = prec == STC_PREC_INT8 || prec == STC_PREC_UINT8;
    if (calibrate && texts.n == 1) {
        rc = stc_errorf(STC_ERR_USAGE, "stc encode: %s quantisation ranges cannot be computed from a single embedding "
                        "(as in Sentence Transformers)", precision);
        goto free_enc;
    }
    size_t chunk_rows = calibrate ? texts.n : (size_t)chunk_size;
    float *emb = stc_malloc(sizeof(float) * chunk_rows * (size_t)dim, "embeddings");
    void *qbuf = stc_malloc(stc_precision_elem_size(prec) * chunk_rows * (size_t)cols, "quantised embeddings");
    stc_quant_ranges ranges = {0};
    stc_h5_embeddings out;
    int out_open = 0;
    stc_h5_embeddings_info info = {.model = model_dir, .prompt = prompt, .route = stc_st_model_route_name(&model, route),
                                   .normalize = normalize, .truncate_dim = truncate_dim};
    if (!emb || !qbuf || (calibrate && (rc = stc_quant_ranges_init(&ranges, dim)))) {
        rc = rc ? rc : STC_ERR_NOMEM;
        goto free_bufs;
    }
    MPI_Comm world = MPI_COMM_WORLD;
    size_t resumed = 0;
    if ((rc = stc_h5_embeddings_open(&out, output, texts.n, (size_t)cols, prec, (size_t)chunk_size, &info,
                                     use_mpi ? &world : NULL, &resumed)))
        goto free_bufs;
    out_open = 1;
    if (calibrate) /* the ranges need every embedding again */
        memset(out.chunk_done, 0, out.n_chunks);
    else if (resumed && comm.rank == 0)
        fprintf(stderr, "stc: resuming %s.tmp: %zu of %zu chunks already written\n", output, resumed, out.n_chunks);

    long invalid = 0, truncated = 0;
    progress_state ps = {.base = 0, .total = texts.n, .t0 = stc_now_s()};
    int tty = isatty(2) && comm.rank == 0;
    size_t done_rows = 0, chunks_written = 0;
    for (size_t c = 0; c < out.n_chunks; c++) {
        size_t start = c * (size_t)chunk_size;
        size_t nb = texts.n - start < (size_t)chunk_size ? texts.n - start : (size_t)chunk_size;
        /* Chunk c belongs to rank c mod world: the rows a chunk holds, and so
         * its embeddings, do not depend on the number of ranks. */
        if ((int)(c % (size_t)comm.world) != comm.rank || out.chunk_done[c])
            continue;
        float *dst = emb + (calibrate ? start * (size_t)dim : 0);
        ps.base = done_rows * (size_t)comm.world;
        rc = stc_encoder_run(enc, texts.texts + start, texts.lens + start, nb, dst, &invalid, &truncated,
                             tty ? show_progress : NULL, &ps);
        if (rc)
            break;
        done_rows += nb;
        if (!calibrate) {
            stc_quantize(prec, NULL, dst, nb, dim, qbuf);
            if ((rc = stc_h5_embeddings_write(&out, start, nb, qbuf)) || (rc = stc_h5_embeddings_mark_done(&out, c)))
                break;
            fault_injection(&comm, ++chunks_written);
        }
    }
    if (tty)
        fputc('\n', stderr);
    stc_cmd_rank_failed(&comm, use_mpi, rc);
    if (!rc && calibrate) {
        /* Ranges over every rank's rows (min and max all-reduced), then each
         * rank quantises and writes its own chunks. */
        for (size_t c = (size_t)comm.rank; c < out.n_chunks; c += (size_t)comm.world) {
            size_t start = c * (size_t)chunk_size;
            size_t nb = texts.n - start < (size_t)chunk_size ? texts.n - start : (size_t)chunk_size;
            stc_quant_ranges_update(&ranges, emb + start * (size_t)dim, nb);
        }
        if (use_mpi && ((rc = stc_comm_allreduce_min_f32(&comm, ranges.min, (size_t)dim)) ||
                        (rc = stc_comm_allreduce_max_f32(&comm, ranges.max, (size_t)dim))))
            goto free_bufs;
        for (size_t c = (size_t)comm.rank; !rc && c < out.n_chunks; c += (size_t)comm.world) {
            size_t start = c * (size_t)chunk_size;
            size_t nb = texts.n - start < (size_t)chunk_size ? texts.n - start : (size_t)chunk_size;
            stc_quantize(prec, &ranges, emb + start * (size_t)dim, nb, dim, qbuf);
            if (!(rc = stc_h5_embeddings_write(&out, start, nb, qbuf)))
                rc = stc_h5_embeddings_mark_done(&out, c);
        }
    }
    /* The other ranks wait in the next collective: end them all. The
     * chunks already recorded stay in the .tmp file for a rerun. */
    stc_cmd_rank_failed(&comm, use_mpi, rc);
    if (use_mpi && !rc)
        rc = stc_comm_barrier(&comm);
    if (rc) {
        stc_h5_embeddings_abort(&out, 1);
        out_open = 0;
    } else {
        rc = stc_h5_embeddings_commit(&out);
        out_open = 0;
        if (use_mpi && !rc)
            rc = stc_comm_barrier(&comm);
    }
    if (!rc && comm.rank == 0) {
        if (invalid)
            fprintf(stderr, "stc: warning: %s: %ld invalid UTF-8 sequences replaced by U+FFFD\n", input, invalid);
        if (truncated)
            fprintf(stderr, "stc: %ld of %zu texts were truncated to %d tokens\n", truncated, texts.n,
                    max_seq_length > 0 ? max_seq_length : stc_st_model_route(&model, route)->max_seq_length);
        fprintf(stderr, "stc: wrote %zu x %d %s embeddings to %s (%.1f s, %d rank%s)\n", texts.n, cols, precision,
                output, stc_now_s() - ps.t0, comm.world, comm.world > 1 ? "s" : "");
    }
free_bufs:
    if (out_open)
        stc_h5_embeddings_abort(&out, 1);
    stc_quant_ranges_free(&ranges);
    free(emb);
    free(qbuf);
free_enc:
    stc_encoder_free(enc);
free_texts:
    stc_texts_free(&texts);
    stc_st_model_free(&model);
fail:
    return stc_cmd_ranks_leave(&comm, use_mpi, rc);
}
