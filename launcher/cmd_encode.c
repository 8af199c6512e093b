/*
 * `stc encode`: texts (plain lines or JSONL) -> HDF5 dataset "embeddings"
 * [N, D], with Sentence Transformers' encode() options.
 */
#include "data/h5_embeddings.h"
#include "data/text_input.h"
#include "kernels/ops.h"
#include "launcher/args.h"
#include "launcher/commands.h"
#include "model/encode.h"
#include "model/quantize.h"
#include "model/st_model.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Texts per encoder call: bounds the token-id buffers and paces progress. */
enum { ENCODE_CHUNK = 4096 };

typedef struct {
    size_t base, total;
    double t0;
} progress_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void show_progress(size_t done, size_t total, void *arg)
{
    (void)total;
    progress_state *p = arg;
    size_t all = p->base + done;
    double dt = now_s() - p->t0;
    fprintf(stderr, "\rencode: %zu/%zu texts (%.1f%%, %.0f texts/s)", all, p->total,
            p->total ? 100.0 * (double)all / (double)p->total : 100.0, dt > 0 ? (double)all / dt : 0.0);
}

int stc_cmd_encode(int argc, char **argv)
{
    const char *model_dir = NULL, *input = NULL, *output = NULL, *text_field = "text";
    const char *prompt_name = NULL, *prompt = NULL, *precision = "float32";
    int batch_size = 32, normalize = 0, truncate_dim = 0, max_seq_length = 0;
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
        {"precision", STC_OPT_STRING, &precision, "float32 | float16 | int8 | uint8 | binary | ubinary"},
        {"max-seq-length", STC_OPT_INT, &max_seq_length, "tokens per text, special tokens included (default: the model's)"},
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
    /* Splitting a corpus across ranks comes with the distributed engine;
     * until then several ranks would each write the whole file. */
    const char *ws = getenv("OMPI_COMM_WORLD_SIZE");
    if (ws && atoi(ws) > 1) {
        rc = stc_errorf(STC_ERR_USAGE, "stc encode: running under mpirun with %s ranks is not supported yet; "
                        "run it as one process", ws);
        goto fail;
    }
    stc_precision prec;
    if ((rc = stc_precision_parse(precision, &prec)))
        goto fail;
    if (max_seq_length < 0 || truncate_dim < 0 || batch_size <= 0) {
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
                          .truncate_dim = truncate_dim, .prompt = prompt};
    stc_encoder *enc;
    if ((rc = stc_encoder_init(&enc, &model, stc_ops_cpu(), &eo)))
        goto free_texts;
    int dim = stc_encoder_dim(enc), cols;
    if ((rc = stc_precision_columns(prec, dim, &cols)))
        goto free_enc;

    /* int8/uint8 ranges come from the whole call, so those precisions keep
     * every float embedding until the end; the others stream by chunk. */
    int calibrate = prec == STC_PREC_INT8 || prec == STC_PREC_UINT8;
    if (calibrate && texts.n == 1) {
        rc = stc_errorf(STC_ERR_USAGE, "stc encode: %s quantisation ranges cannot be computed from a single embedding "
                        "(as in Sentence Transformers)", precision);
        goto free_enc;
    }
    size_t chunk_rows = calibrate ? texts.n : ENCODE_CHUNK;
    float *emb = stc_malloc(sizeof(float) * chunk_rows * (size_t)dim, "embeddings");
    void *qbuf = stc_malloc(stc_precision_elem_size(prec) * chunk_rows * (size_t)cols, "quantised embeddings");
    stc_quant_ranges ranges = {0};
    stc_h5_embeddings out;
    stc_h5_embeddings_info info = {.model = model_dir, .prompt = prompt, .normalize = normalize, .truncate_dim = truncate_dim};
    if (!emb || !qbuf || (calibrate && (rc = stc_quant_ranges_init(&ranges, dim)))) {
        rc = rc ? rc : STC_ERR_NOMEM;
        goto free_bufs;
    }
    if ((rc = stc_h5_embeddings_create(&out, output, texts.n, (size_t)cols, prec, &info)))
        goto free_bufs;

    long invalid = 0, truncated = 0;
    progress_state ps = {.base = 0, .total = texts.n, .t0 = now_s()};
    int tty = isatty(2);
    for (size_t start = 0; start < texts.n; start += ENCODE_CHUNK) {
        size_t nb = texts.n - start < ENCODE_CHUNK ? texts.n - start : ENCODE_CHUNK;
        float *dst = emb + (calibrate ? start * (size_t)dim : 0);
        ps.base = start;
        rc = stc_encoder_run(enc, texts.texts + start, texts.lens + start, nb, dst, &invalid, &truncated,
                             tty ? show_progress : NULL, &ps);
        if (rc)
            break;
        if (!calibrate) {
            stc_quantize(prec, NULL, dst, nb, dim, qbuf);
            if ((rc = stc_h5_embeddings_write(&out, start, nb, qbuf)))
                break;
        }
    }
    if (tty)
        fputc('\n', stderr);
    if (!rc && calibrate) {
        stc_quant_ranges_update(&ranges, emb, texts.n);
        stc_quantize(prec, &ranges, emb, texts.n, dim, qbuf);
        rc = stc_h5_embeddings_write(&out, 0, texts.n, qbuf);
    }
    if (rc) {
        stc_h5_embeddings_abort(&out);
    } else {
        rc = stc_h5_embeddings_commit(&out);
    }
    if (!rc) {
        if (invalid)
            fprintf(stderr, "stc: warning: %s: %ld invalid UTF-8 sequences replaced by U+FFFD\n", input, invalid);
        if (truncated)
            fprintf(stderr, "stc: %ld of %zu texts were truncated to %d tokens\n", truncated, texts.n,
                    max_seq_length > 0 ? max_seq_length : model.max_seq_length);
        fprintf(stderr, "stc: wrote %zu x %d %s embeddings to %s (%.1f s)\n", texts.n, cols, precision, output,
                now_s() - ps.t0);
    }
free_bufs:
    stc_quant_ranges_free(&ranges);
    free(emb);
    free(qbuf);
free_enc:
    stc_encoder_free(enc);
free_texts:
    stc_texts_free(&texts);
    stc_st_model_free(&model);
fail:
    if (rc)
        fprintf(stderr, "stc: error: %s\n", stc_error_message());
    return rc;
}
