/*
 * Training and evaluation datasets: rows of texts (and an optional label)
 * read by row number, so every rank reads only the rows of its own slice of
 * a batch (DESIGN.md, "Data flow").
 *
 * Formats, chosen by the file's extension (case-insensitive):
 *   .jsonl  one JSON object per line; blank lines are skipped. JSON as
 *           Python's json module reads it in strict mode (no raw control
 *           characters in strings, no NaN); a key may not repeat.
 *   .csv    a header row, then records; RFC 4180 quoting: a field that
 *   .tsv    starts with '"' runs to the closing quote ("" is a quote) and
 *           may hold delimiters and newlines; only a delimiter or the end
 *           of the record may follow it. A '"' inside an unquoted field is
 *           an ordinary character, spaces are kept, empty lines are skipped.
 *           TSV is the same with a tab delimiter.
 * A UTF-8 byte order mark at the start of the file is ignored, a missing
 * final newline is fine, "\r\n" line ends are accepted.
 *   .h5     a prepared dataset written by `stc prepare` (data/prepared.h):
 *   .hdf5   the same columns and labels, plus the token ids, read without
 *           tokenizing (stc_dataset_read_tokens). Its HDF5 reads are not
 *           thread-safe: one thread at a time per process.
 * stc_dataset_open picks the backend by extension; the backend fills the
 * schema and stc_rows (stc_dataset_backend in dataset_internal.h).
 *
 * Columns follow Sentence Transformers (ST_SPEC.md section 5): columns are
 * in file order (JSONL: the key order of the first record; every record has
 * exactly those keys, in any order). The first of "label", "score" present
 * is the label and is not a text input; every other column is a text input,
 * in order (anchor, positive, negatives...). The names "dataset_name" and
 * "return_loss" are reserved (the trainer adds them) and refused.
 *   - Text values are strings (JSON strings; every CSV field is one). The
 *     empty string is legal. Invalid UTF-8 is replaced by U+FFFD with
 *     Python's errors="replace" rule (one U+FFFD per maximal subpart of an
 *     ill-formed sequence) and counted; so are lone UTF-16 surrogates in JSON
 *     \u escapes. "\u0000" decodes to a NUL byte: use the lengths.
 *   - Label values are a finite number or a boolean (1/0), or, for MSE
 *     distillation, an array of numbers (a teacher embedding). The first
 *     good row decides which; every row must then agree, arrays of the same
 *     length. In CSV/TSV a label field is parsed as a number, true/false (any
 *     case), or a JSON array of numbers ("[0.1, 0.2]").
 *
 * Bad rows (invalid JSON, an unterminated quote, a wrong field count, a
 * missing or unexpected column, a text that is not a string, a bad label)
 * are an STC_ERR_DATA error "FILE:LINE: reason" — or, with skip_bad_rows,
 * left out of the dataset and counted (the first reason is kept). Errors in
 * the CSV header, reserved column names, or a dataset without text columns
 * are always errors. A record may be at most STC_DATASET_MAX_RECORD bytes.
 *
 * Row index: the first open scans the file once, validates every record and
 * records its byte range; the index is saved beside the file as
 * "<file>.stcidx" (written atomically) with the file's size, mtime and a hash
 * of its first and last 4 KiB, and reused by later opens while these match
 * (a changed file is re-indexed automatically; an edit that keeps the size
 * and the mtime and lies outside the hashed ends goes unseen). A damaged
 * index (payload hash, ranges) is rebuilt. If the index cannot be written
 * (read-only directory) it is kept in memory, silently. Ranks that open one
 * file at once each build and write the same index; the rename keeps one.
 *
 * Thread safety: after open a dataset is read-only; stc_dataset_read_rows
 * reads with pread (no shared file position), so threads may read one
 * dataset at once, each into its own stc_rows.
 */
#ifndef STC_DATA_DATASET_H
#define STC_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest record (JSONL line, CSV record) accepted, in bytes. */
#define STC_DATASET_MAX_RECORD ((size_t)64 << 20)

typedef struct stc_dataset stc_dataset;

typedef enum {
    STC_DATASET_UNKNOWN = 0,
    STC_DATASET_JSONL = 1,
    STC_DATASET_CSV = 2,
    STC_DATASET_TSV = 3,
    STC_DATASET_PREPARED = 4 /* .h5 / .hdf5 written by stc prepare (data/prepared.h) */
} stc_dataset_format;

typedef enum {
    STC_LABEL_NONE = 0,   /* no label column */
    STC_LABEL_SCALAR = 1, /* one float per row */
    STC_LABEL_VECTOR = 2  /* label_dim floats per row */
} stc_label_kind;

/* Where the row index of an open dataset came from. */
typedef enum {
    STC_INDEX_LOADED = 1,       /* a valid "<file>.stcidx" was reused */
    STC_INDEX_BUILT_SAVED = 2,  /* built by this open and saved */
    STC_INDEX_BUILT_MEMORY = 3  /* built by this open, kept in memory only */
} stc_index_source;

typedef struct {
    int skip_bad_rows;      /* 1: leave bad rows out and count them; 0: error */
    const char *index_path; /* NULL: "<path>.stcidx"; "": memory only */
} stc_dataset_opts;

/* Opens a dataset; opts may be NULL (defaults: errors on bad rows, index
 * cached beside the file). Returns 0 or an stc_status with a message. */
int stc_dataset_open(stc_dataset **out, const char *path, const stc_dataset_opts *opts);
void stc_dataset_close(stc_dataset *ds);

/* The format a path's extension selects (STC_DATASET_UNKNOWN if none). */
stc_dataset_format stc_dataset_format_from_path(const char *path);

const char *stc_dataset_path(const stc_dataset *ds);
stc_dataset_format stc_dataset_format_of(const stc_dataset *ds);
size_t stc_dataset_num_rows(const stc_dataset *ds);

/* Text input columns, in order (0 anchor, 1 positive, 2+ negatives). */
int stc_dataset_num_text_columns(const stc_dataset *ds);
const char *stc_dataset_text_column_name(const stc_dataset *ds, int i);

/* The label column: its name (NULL if none), kind (stc_label_kind) and the
 * number of floats per row (0 none, 1 scalar, D vector). */
const char *stc_dataset_label_column_name(const stc_dataset *ds);
int stc_dataset_label_kind(const stc_dataset *ds);
int stc_dataset_label_dim(const stc_dataset *ds);

/* Counters over the whole file, from the indexing scan: bad rows skipped,
 * invalid UTF-8 sequences replaced in the kept rows' texts; the reason for
 * the first skipped row ("FILE:LINE: reason", "" if none). */
size_t stc_dataset_num_bad_rows(const stc_dataset *ds);
size_t stc_dataset_num_invalid_utf8(const stc_dataset *ds);
const char *stc_dataset_first_bad_row(const stc_dataset *ds);
stc_index_source stc_dataset_index_source(const stc_dataset *ds);

/*
 * Rows read by stc_dataset_read_rows. Initialise with stc_rows_init; the
 * buffers are reused (grown, never shrunk) across reads; stc_rows_free.
 * The texts of column c, row r (r-th of the rows requested) are
 * texts[c * n + r] (NUL-terminated; text_lens gives the byte length, which
 * counts any NUL from "\u0000"), so column c's texts are contiguous — the
 * collator tokenizes column by column. Valid until the next read.
 */
typedef struct {
    size_t n;               /* rows in the last read */
    int n_text_columns;     /* columns per row */
    const char **texts;     /* (n_text_columns, n) UTF-8, into the buffer below */
    size_t *text_lens;      /* (n_text_columns, n) byte lengths */
    float *labels;          /* (n, label_dim) row-major; NULL without a label */
    int label_dim;          /* floats per row: 0 none, 1 scalar, D vector */
    long n_invalid_utf8;    /* invalid UTF-8 sequences replaced in this read */

    /* Internal, reused between reads. */
    char *buf;              /* decoded text bytes */
    size_t buf_len, buf_cap;
    size_t *offs;           /* (n_text_columns, n) offsets into buf */
    size_t rows_cap;        /* rows the per-row arrays hold */
    size_t labels_cap;      /* floats labels holds */
    char *raw;              /* record bytes read from the file */
    size_t raw_cap;
    float *scratch_label;   /* one record's label values */
    size_t scratch_label_cap;
    /* Prepared datasets, after stc_dataset_read_tokens: the token ids of
     * column c, row r are tok_ids[tok_off[c * n + r] .. tok_off[c * n + r + 1]),
     * as the model's tokenizer gave them (special tokens included). texts is
     * not filled by that read. */
    int32_t *tok_ids;
    size_t *tok_off;        /* (n_text_columns * n + 1) */
    size_t tok_ids_cap, tok_off_cap;
} stc_rows;

void stc_rows_init(stc_rows *r);
void stc_rows_free(stc_rows *r);

/* Reads rows[0..n) (any order, repeats allowed) into out. A row number out
 * of range is STC_ERR_INTERNAL; a file changed on disk since open is
 * STC_ERR_DATA (reopen to re-index). */
int stc_dataset_read_rows(const stc_dataset *ds, const size_t *rows, size_t n, stc_rows *out);

/* Prepared datasets only: reads rows' token ids and labels (not their
 * texts) into out (tok_ids / tok_off, labels). Other formats:
 * STC_ERR_INTERNAL. */
int stc_dataset_read_tokens(const stc_dataset *ds, const size_t *rows, size_t n, stc_rows *out);

/* What samplers need of rows [start, start + n): hashes (n, n_text_columns)
 * row-major of the texts (stc_sampler_hash_text of the bytes read_rows
 * gives), labels (n, label_dim); either may be NULL. Prepared datasets read
 * the stored hashes and labels without touching the texts. */
int stc_dataset_read_meta(const stc_dataset *ds, size_t start, size_t n, uint64_t *hashes, float *labels);

/* The text of column c of the row-th row of the last read (its byte length
 * in *len if non-NULL). */
const char *stc_rows_text(const stc_rows *r, size_t row, int c, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
