/*
 * `stc prepare`: tokenizes a training dataset (JSONL, CSV, TSV) once into a
 * prepared HDF5 file (data/prepared.h) that training reads row by row.
 *
 * Under mpirun the rows are split into blocks; ranks 1..N-1 tokenize them
 * (block b by rank 1 + b mod (N-1)) and rank 0 gathers each round of N-1
 * blocks and appends them in row order, so the file holds the same content
 * for any number of ranks. Rank 0 only writes: the writer (HDF5, deflate)
 * is the one serial part, and while it writes a round the others tokenize
 * the next.
 */
#include "data/dataset.h"
#include "data/prepared.h"
#include "dist/comm.h"
#include "launcher/args.h"
#include "launcher/cmd_ranks.h"
#include "launcher/commands.h"
#include "model/st_model.h"
#include "util/clock.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Rows per block: the unit a rank tokenizes and sends (default of
 * --block-rows). */
enum { DEFAULT_BLOCK_ROWS = 8192 };

int stc_cmd_prepare(int argc, char **argv)
{
    const char *model_dir = NULL, *input = NULL, *output = NULL;
    int max_seq_length = 0, skip_bad_rows = 0, block_rows = DEFAULT_BLOCK_ROWS;
    const stc_opt opts[] = {
        {"model", STC_OPT_STRING, &model_dir, "Sentence Transformers model directory whose tokenizer to use (required)"},
        {"input", STC_OPT_STRING, &input, "dataset to tokenize: .jsonl, .csv or .tsv (required)"},
        {"output", STC_OPT_STRING, &output, "prepared HDF5 file to write (.h5) (required)"},
        {"max-seq-length", STC_OPT_INT, &max_seq_length,
         "tokens per text, special tokens included (default: the model's; training must use the same)"},
        {"skip-bad-rows", STC_OPT_FLAG, &skip_bad_rows, "leave malformed rows out (counted) instead of failing"},
        {"block-rows", STC_OPT_INT, &block_rows, "rows per block, the unit ranks share (default 8192)"},
    };
    stc_comm comm = {.rank = 0, .world = 1};
    int use_mpi = 0;
    int rc = stc_args_parse("prepare", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]));
    if (rc == 1)
        return 0;
    if (rc)
        goto fail;
    if (!model_dir || !input || !output) {
        rc = stc_errorf(STC_ERR_USAGE, "stc prepare: --model, --input and --output are required (see stc prepare --help)");
        goto fail;
    }
    if (max_seq_length < 0 || block_rows <= 0) {
        rc = stc_errorf(STC_ERR_USAGE, "stc prepare: --max-seq-length must be non-negative and --block-rows positive");
        goto fail;
    }
    if (stc_dataset_format_from_path(output) != STC_DATASET_PREPARED) {
        rc = stc_errorf(STC_ERR_USAGE, "stc prepare: --output %s must end in .h5 or .hdf5 (training picks the reader by "
                        "extension)", output);
        goto fail;
    }
    if ((rc = stc_cmd_ranks_join(&comm, &use_mpi, &argc, &argv)))
        goto fail;

    stc_st_model model;
    if ((rc = stc_st_model_load(&model, model_dir)))
        goto fail;
    if (stc_st_model_n_routes(&model) > 1) {
        /* Its routes tokenize with their own tokenizers, chosen per column
         * by the training config's router_mapping. */
        rc = stc_errorf(STC_ERR_USAGE, "stc prepare: %s is a Router model (one tokenizer per route); train it from "
                        "the JSONL/CSV dataset instead", model_dir);
        stc_st_model_free(&model);
        goto fail;
    }
    int msl = max_seq_length ? max_seq_length : model.max_seq_length;
    char th[17];
    stc_dataset *ds = NULL;
    stc_prepared_writer *w = NULL;
    stc_prepared_block blk;
    int blk_init = 0;
    stc_rows rows;
    stc_rows_init(&rows);
    size_t *ids = NULL;
    void *packed = NULL, *gathered = NULL;
    size_t *sizes = NULL;
    if ((rc = stc_prepared_tokenizer_hash(model.dir, model.do_lower_case, th)))
        goto free_model;
    stc_dataset_opts dopts = {.skip_bad_rows = skip_bad_rows};
    if ((rc = stc_dataset_open(&ds, input, &dopts)))
        goto free_model;
    if (stc_dataset_is_prepared(ds)) {
        rc = stc_errorf(STC_ERR_USAGE, "stc prepare: %s is already a prepared dataset", input);
        goto free_model;
    }
    size_t n = stc_dataset_num_rows(ds);
    if (n == 0) {
        rc = stc_errorf(STC_ERR_DATA, "%s: no rows to prepare", input);
        goto free_model;
    }
    int nt = stc_dataset_num_text_columns(ds), dim = stc_dataset_label_dim(ds);
    const char **names = malloc(sizeof(char *) * (size_t)nt);
    ids = malloc(sizeof(size_t) * (size_t)block_rows);
    sizes = malloc(sizeof(size_t) * (size_t)comm.world);
    if (!names || !ids || !sizes) {
        free(names);
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
        goto free_model;
    }
    for (int c = 0; c < nt; c++)
        names[c] = stc_dataset_text_column_name(ds, c);
    if ((rc = stc_prepared_block_init(&blk, nt, dim))) {
        free(names);
        goto free_model;
    }
    blk_init = 1;
    if (comm.rank == 0) {
        stc_prepared_info info = {.model = model_dir, .source = input, .tokenizer_hash = th, .max_seq_length = msl,
                                  .do_lower_case = model.do_lower_case, .n_text = nt, .col_names = names,
                                  .label_name = stc_dataset_label_column_name(ds), .label_dim = dim,
                                  .label_vector = stc_dataset_label_kind(ds) == STC_LABEL_VECTOR,
                                  .n_bad_rows = (long long)stc_dataset_num_bad_rows(ds),
                                  .n_invalid_utf8 = (long long)stc_dataset_num_invalid_utf8(ds)};
        rc = stc_prepared_writer_open(&w, output, &info, n);
    }
    free(names);
    if (rc)
        goto free_model;

    size_t n_blocks = (n + (size_t)block_rows - 1) / (size_t)block_rows;
    /* Tokenizing ranks and this rank's index among them (-1: the writer). */
    size_t P = use_mpi ? (size_t)comm.world - 1 : 1;
    long me = use_mpi ? (long)comm.rank - 1 : 0;
    long truncated = 0;
    double t0 = stc_now_s();
    int tty = isatty(2) && comm.rank == 0;
    for (size_t round = 0; !rc && round * P < n_blocks; round++) {
        /* This rank's block of the round (none past the end). */
        size_t b = round * P + (size_t)me;
        stc_prepared_block_clear(&blk);
        if (me >= 0 && b < n_blocks) {
            size_t start = b * (size_t)block_rows, k = n - start < (size_t)block_rows ? n - start : (size_t)block_rows;
            for (size_t i = 0; i < k; i++)
                ids[i] = start + i;
            if ((rc = stc_dataset_read_rows(ds, ids, k, &rows)) ||
                (rc = stc_prepared_block_add_rows(&blk, model.tokenizer, msl, &rows)))
                break;
        }
        if (!use_mpi) {
            truncated += blk.n_truncated;
            rc = stc_prepared_writer_append(w, &blk);
        } else {
            size_t len;
            if ((rc = stc_prepared_block_pack(&blk, &packed, &len)) ||
                (rc = stc_comm_gather_bytes(&comm, packed, len, 0, &gathered, sizes)))
                break;
            free(packed);
            packed = NULL;
            if (comm.rank == 0) {
                size_t off = sizes[0]; /* the writer's own (empty) part */
                for (size_t r = 0; !rc && r < P; r++) {
                    if (round * P + r < n_blocks &&
                        !(rc = stc_prepared_block_unpack(&blk, (char *)gathered + off, sizes[r + 1]))) {
                        truncated += blk.n_truncated;
                        rc = stc_prepared_writer_append(w, &blk);
                    }
                    off += sizes[r + 1];
                }
                free(gathered);
                gathered = NULL;
            }
        }
        if (tty) {
            size_t done = (round + 1) * P * (size_t)block_rows;
            done = done < n ? done : n;
            double dt = stc_now_s() - t0;
            fprintf(stderr, "\rprepare: %zu/%zu rows (%.1f%%, %.0f rows/s)", done, n, 100.0 * (double)done / (double)n,
                    dt > 0 ? (double)done / dt : 0.0);
        }
    }
    if (tty)
        fputc('\n', stderr);
    /* The others wait in the next gather: end them all. The final name
     * was never written; rank 0's .tmp file stays behind. */
    stc_cmd_rank_failed(&comm, use_mpi, rc);
    if (!rc && comm.rank == 0) {
        rc = stc_prepared_writer_finish(w);
        w = NULL;
    }
    if (!rc && use_mpi)
        rc = stc_comm_barrier(&comm);
    if (!rc && comm.rank == 0) {
        if (stc_dataset_num_bad_rows(ds))
            fprintf(stderr, "stc: %zu bad rows of %s skipped (first: %s)\n", stc_dataset_num_bad_rows(ds), input,
                    stc_dataset_first_bad_row(ds));
        if (stc_dataset_num_invalid_utf8(ds))
            fprintf(stderr, "stc: warning: %s: %zu invalid UTF-8 sequences replaced by U+FFFD\n", input,
                    stc_dataset_num_invalid_utf8(ds));
        if (truncated)
            fprintf(stderr, "stc: %ld texts were truncated to %d tokens\n", truncated, msl);
        double dt = stc_now_s() - t0;
        fprintf(stderr, "stc: prepared %zu rows x %d text column%s into %s (%.1f s, %.0f rows/s, %d rank%s)\n", n, nt,
                nt > 1 ? "s" : "", output, dt, dt > 0 ? (double)n / dt : 0.0, comm.world, comm.world > 1 ? "s" : "");
    }
free_model:
    if (w)
        stc_prepared_writer_abort(w);
    if (blk_init)
        stc_prepared_block_free(&blk);
    stc_rows_free(&rows);
    free(ids);
    free(sizes);
    free(packed);
    free(gathered);
    stc_dataset_close(ds);
    stc_st_model_free(&model);
fail:
    return stc_cmd_ranks_leave(&comm, use_mpi, rc);
}
