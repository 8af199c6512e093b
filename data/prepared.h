/*
 * Prepared datasets: a training dataset tokenized once by `stc prepare` into
 * an HDF5 file that training reads row by row (DESIGN.md, "Formats"). A rank
 * reads only the rows of its slice of each batch; nothing is loaded whole,
 * so a dataset of 100 million rows needs no more memory than a batch.
 *
 * Layout (format version 1; readable with h5py):
 *
 *   /                      attributes:
 *     stc_format           "stc-prepared"
 *     stc_format_version   1
 *     n_rows               int64
 *     columns              JSON array of the text columns' names, in the
 *                          source file's order (anchor, positive, negatives)
 *     label_column         name of the label column ("label"/"score"), "" if none
 *     label_kind           "none" | "scalar" | "vector"
 *     tokenizer_hash       hex of a 64-bit hash of the tokenizer files
 *                          (tokenizer.json, else vocab.txt; plus
 *                          tokenizer_config.json) and do_lower_case
 *     max_seq_length       int64: the ids were truncated to this many tokens
 *     do_lower_case        int64 (sentence_bert_config.json)
 *     model                the model directory given to stc prepare
 *     source               the source dataset file
 *     n_bad_rows           rows of the source skipped (skip_bad_rows)
 *     n_invalid_utf8       invalid UTF-8 sequences replaced in the texts
 *   /columns/<name>/       one group per text column:
 *     input_ids            int32 [total tokens], every row's ids back to
 *                          back, exactly what the model's tokenizer gives
 *                          (special tokens included, truncated to
 *                          max_seq_length); chunked, uncompressed (rows are
 *                          read at random)
 *     offsets              int64 [n_rows + 1]: row i's ids are
 *                          input_ids[offsets[i]:offsets[i+1]]
 *     text                 uint8 [total bytes]: the texts in UTF-8 (invalid
 *                          UTF-8 already replaced), back to back; chunked
 *                          and deflate-compressed (read only when a prompt
 *                          must be tokenized with the text)
 *     text_offsets         int64 [n_rows + 1], as offsets for text
 *     text_hash            uint64 [n_rows]: stc_sampler_hash_text of each
 *                          text (NO_DUPLICATES compares texts by it)
 *   /label                 float32 [n_rows] or [n_rows, D]; absent without
 *                          a label column
 *
 * In h5py: ids = f["columns/anchor/input_ids"][o[i]:o[i+1]] with
 * o = f["columns/anchor/offsets"]; text likewise, .tobytes().decode().
 *
 * The writer appends blocks of consecutive rows (stc_prepared_block) in row
 * order; `stc prepare` under mpirun has every rank tokenize blocks and rank 0
 * write them, so the file's content does not depend on the number of ranks.
 * The file is written as "<path>.tmp" and renamed when complete: a killed
 * run never leaves a truncated file under the final name.
 */
#ifndef STC_DATA_PREPARED_H
#define STC_DATA_PREPARED_H

#include "data/dataset.h"
#include "data/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STC_PREPARED_FORMAT "stc-prepared"
#define STC_PREPARED_VERSION 1

/* The identity of a model directory's tokenizer: a 64-bit hash (16 hex
 * digits + NUL) of its tokenizer.json (or vocab.txt), tokenizer_config.json
 * and do_lower_case. Errors name the directory. */
int stc_prepared_tokenizer_hash(const char *tokenizer_dir, int do_lower_case, char out[17]);

/* Rows tokenized for the file: per text column, every row's ids, its text and
 * the text's hash; per row its label. Built by stc_prepared_block_add_rows,
 * moved between ranks as bytes (pack/unpack). */
typedef struct {
    size_t n_rows;
    int n_text;
    int label_dim;
    int32_t **ids;      /* (n_text) ids back to back */
    size_t *n_ids, *ids_cap;
    int64_t **id_len;   /* (n_text) (n_rows) ids per row */
    char **text;        /* (n_text) bytes back to back */
    size_t *n_text_bytes, *text_cap;
    int64_t **text_len; /* (n_text) (n_rows) */
    uint64_t **hash;    /* (n_text) (n_rows) */
    float *labels;      /* (n_rows, label_dim) */
    size_t rows_cap;
    long n_truncated;   /* texts longer than max_seq_length */
    long n_invalid_utf8;
} stc_prepared_block;

int stc_prepared_block_init(stc_prepared_block *b, int n_text, int label_dim);
void stc_prepared_block_free(stc_prepared_block *b);
void stc_prepared_block_clear(stc_prepared_block *b);
/* Tokenizes the rows just read (all of rows->n) and appends them. */
int stc_prepared_block_add_rows(stc_prepared_block *b, const stc_tokenizer *tok, int max_seq_length,
                                const stc_rows *rows);
/* Serialises the block into one malloc'd buffer / rebuilds it from one. */
int stc_prepared_block_pack(const stc_prepared_block *b, void **buf, size_t *len);
int stc_prepared_block_unpack(stc_prepared_block *b, const void *buf, size_t len);

/* What the file describes besides its rows. */
typedef struct {
    const char *model;            /* model directory */
    const char *source;           /* source dataset */
    const char *tokenizer_hash;   /* stc_prepared_tokenizer_hash */
    int max_seq_length;
    int do_lower_case;
    int n_text;
    const char *const *col_names; /* (n_text) */
    const char *label_name;       /* NULL: no label */
    int label_dim;                /* 0, 1, or D (vector labels) */
    int label_vector;             /* 1: label is a vector (even if D == 1) */
    long long n_bad_rows;
    long long n_invalid_utf8;
} stc_prepared_info;

typedef struct stc_prepared_writer stc_prepared_writer;

/* Creates "<path>.tmp" for n_rows rows. */
int stc_prepared_writer_open(stc_prepared_writer **w, const char *path, const stc_prepared_info *info,
                             uint64_t n_rows);
/* Appends the next block of rows. */
int stc_prepared_writer_append(stc_prepared_writer *w, const stc_prepared_block *b);
/* After all n_rows rows: closes the file and renames it to path. */
int stc_prepared_writer_finish(stc_prepared_writer *w);
/* Closes and deletes the tmp file (after an error). */
void stc_prepared_writer_abort(stc_prepared_writer *w);

/* ---- reading (the dataset backend; see dataset.h) ------------------------- */

/* 1 if the dataset is a prepared HDF5 file. */
int stc_dataset_is_prepared(const stc_dataset *ds);
/* The tokenizer identity, max_seq_length and do_lower_case the file was
 * prepared with (NULL / 0 for other formats). */
const char *stc_dataset_prepared_tokenizer_hash(const stc_dataset *ds);
int stc_dataset_prepared_max_seq_length(const stc_dataset *ds);

/* Checks that a prepared dataset was tokenized by this tokenizer (hash of
 * the files in tokenizer_dir and do_lower_case) with max_seq_length; a
 * mismatch is STC_ERR_DATA naming the file and both values. A non-prepared
 * dataset passes. */
int stc_dataset_check_prepared(const stc_dataset *ds, const char *tokenizer_dir, int do_lower_case,
                               int max_seq_length);

#ifdef __cplusplus
}
#endif

#endif
