/*
 * Internals shared by the dataset reader's files (not a public header):
 *   dataset.c        the public API, backend dispatch, the row reader of the
 *                    text formats, UTF-8 repair and number parsing;
 *   row_index.c      the indexing scan and the "<file>.stcidx" cache;
 *   dataset_jsonl.c  the JSONL record parser;
 *   dataset_csv.c    the CSV/TSV record parser.
 *
 * A backend is a table of functions; the text formats (JSONL, CSV, TSV)
 * share one ("records": a row index over a text file plus a record parser),
 * prepared HDF5 (prepared_read.c) is another that fills the same schema
 * fields and stc_rows, and reads token ids.
 */
#ifndef STC_DATA_DATASET_INTERNAL_H
#define STC_DATA_DATASET_INTERNAL_H

#include "data/dataset.h"

#include <stdint.h>

/* Most columns a dataset may have (a guard against absurd headers). */
#define STC_DATASET_MAX_COLUMNS 1024

/* Size of the first-bad-row message kept (and cached in the index). */
#define STC_DATASET_MSG_LEN 512

typedef struct stc_dataset_backend {
    const char *name;
    /* Fills out with rows[0..n); rows are already range-checked. */
    int (*read_rows)(const stc_dataset *ds, const size_t *rows, size_t n, stc_rows *out);
    /* Prepared datasets: token ids and labels of rows[0..n) (NULL: none). */
    int (*read_tokens)(const stc_dataset *ds, const size_t *rows, size_t n, stc_rows *out);
    /* Text hashes / labels of a row range (NULL: read the rows and hash). */
    int (*read_meta)(const stc_dataset *ds, size_t start, size_t n, uint64_t *hashes, float *labels);
    /* Frees backend_data (optional). */
    void (*close)(stc_dataset *ds);
} stc_dataset_backend;

/* Column layout of a dataset, as Sentence Transformers maps it. */
typedef struct {
    int n_cols;         /* columns in the file; -1 until known (JSONL) */
    char **col_names;   /* (n_cols) NUL-terminated UTF-8 */
    int label_col;      /* file column of the label, -1 if none */
    int *col_slot;      /* (n_cols) text-input index of each column, -1 = label */
    int n_text;         /* text input columns */
    int *text_col;      /* (n_text) file column of each text input */
    int label_kind;     /* stc_label_kind; 0 with label_col >= 0 = not seen yet */
    int label_dim;      /* floats per row (0 none, 1 scalar) */
} stc_ds_schema;

struct stc_dataset {
    char *path;                     /* as given to open (for messages) */
    int fd;                         /* read with pread only */
    stc_dataset_format format;
    int skip_bad_rows;              /* the option it was opened with */
    size_t scan_chunk;              /* bytes per read of the indexing scan (0: 4 MiB) */
    const stc_dataset_backend *backend;
    void *backend_data;             /* backend-owned (HDF5 later) */
    stc_ds_schema schema;

    /* Text formats: identity of the file the index describes. */
    uint64_t file_size;
    int64_t mtime_sec, mtime_nsec;
    uint64_t data_start;            /* 3 after a UTF-8 BOM, else 0 */

    /* Text formats: the row index. */
    size_t n_rows;
    uint64_t *row_off;              /* (n_rows) byte offset of each record */
    uint32_t *row_len;              /* (n_rows) bytes, terminator included */
    size_t n_bad;                   /* bad rows left out */
    size_t n_invalid;               /* invalid UTF-8 replaced in kept rows */
    char first_bad[STC_DATASET_MSG_LEN];
    stc_index_source index_source;
};

/* Result of parsing one record from a buffer. */
typedef enum {
    STC_DS_REC_OK = 0,        /* a record; *consumed bytes used */
    STC_DS_REC_BLANK = 1,     /* a blank line; *consumed bytes to skip */
    STC_DS_REC_NEED_MORE = 2, /* the buffer ends inside the record (not at EOF) */
    STC_DS_REC_BAD = 3,       /* a bad record: rec->err says why; *consumed skips it */
    STC_DS_REC_NOMEM = 4,     /* allocation failed (message recorded) */
    STC_DS_REC_FATAL = 5,     /* an error no row skipping can fix (message recorded) */
    STC_DS_REC_BAD_HEADER = 6 /* the scan's view of a bad CSV header (rec->err) */
} stc_ds_rec_result;

/* One CSV field's bytes inside the record buffer. */
typedef struct {
    size_t start, end;  /* [start, end) without the enclosing quotes */
    int quoted;         /* "" inside stands for one quote */
} stc_ds_csv_span;

/* Working state and output of the record parsers. Decoded texts are
 * appended to buf (NUL-terminated); col_off/col_len give each text column's
 * bytes for the last record (indexed by text slot). */
typedef struct {
    char *buf;               /* growable output; may be swapped with stc_rows' */
    size_t len, cap;
    size_t *col_off;         /* (n_text) */
    size_t *col_len;         /* (n_text) */
    unsigned char *seen;     /* (n_cols) JSONL: key seen in this record */
    float *label;            /* the record's label values */
    size_t label_n, label_cap;
    int label_is_array;      /* the label was a JSON array */
    long n_invalid;          /* invalid UTF-8 replaced (accumulates) */
    stc_ds_csv_span *spans;     /* CSV: fields of the record */
    size_t n_spans, spans_cap;
    size_t err_at;           /* byte offset of the problem in the record */
    char err[STC_DATASET_MSG_LEN - 64]; /* why the record is bad */
} stc_ds_rec;

int stc_ds_rec_init(stc_ds_rec *rec, int n_cols, int n_text);
void stc_ds_rec_free(stc_ds_rec *rec);
/* Makes room for at least extra more bytes of output. */
int stc_ds_rec_reserve(stc_ds_rec *rec, size_t extra);
/* Appends one label value. */
int stc_ds_rec_push_label(stc_ds_rec *rec, float v);
/* Records why a record is bad and returns STC_DS_REC_BAD. */
int stc_ds_rec_bad(stc_ds_rec *rec, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Copies n bytes to out, replacing each maximal ill-formed UTF-8 subpart by
 * U+FFFD (EF BF BD) like Python's decode(errors="replace"). out needs 3n
 * bytes. Returns bytes written; adds replacements to *n_invalid. */
size_t stc_ds_utf8_repair(char *out, const unsigned char *s, size_t n, long *n_invalid);

/* Parses a JSON array of numbers at p[*i] (which is '[') into rec->label;
 * p has n bytes; *i ends after ']'. STC_DS_REC_OK or STC_DS_REC_BAD/NOMEM. */
int stc_ds_json_number_array(stc_ds_rec *rec, const char *p, size_t n, size_t *i);
/* Parses a JSON number at p[*i]; *i ends after it. OK or BAD. */
int stc_ds_json_number(stc_ds_rec *rec, const char *p, size_t n, size_t *i, double *v);
/* Stores one label value after checking it fits a finite float. */
int stc_ds_rec_label_value(stc_ds_rec *rec, size_t at, double v);
/* After a record's label was parsed: checks it against the schema (kind,
 * dim) unless the schema has not seen a label yet. OK or BAD. */
int stc_ds_rec_check_label(stc_ds_rec *rec, const stc_ds_schema *s, const char *col);

/* Sets a schema from column names (takes ownership of names): finds the
 * label, refuses reserved names, duplicates and text-less layouts.
 * Returns 0 or STC_ERR_DATA naming path. */
int stc_ds_schema_set(stc_ds_schema *s, char **names, int n, const char *path);
void stc_ds_schema_free(stc_ds_schema *s);

/* Record parsers: p[0..avail) starts at a record; at_eof says the buffer
 * ends where the file does. On OK the record's texts are in rec. */
int stc_ds_jsonl_parse(const stc_ds_schema *s, stc_ds_rec *rec, const char *p, size_t avail, int at_eof,
                    size_t *consumed);
/* JSONL: reads the keys of the object on the line p[0..n) as the column
 * names of s (schema unset before). OK, BAD (rec->err) or NOMEM. */
int stc_ds_jsonl_discover(stc_ds_schema *s, stc_ds_rec *rec, const char *p, size_t n, const char *path);
int stc_ds_csv_parse(const stc_ds_schema *s, stc_ds_rec *rec, char delim, const char *p, size_t avail,
                  int at_eof, size_t *consumed);
/* CSV: parses the header record into the column names of s. OK, BLANK (an
 * empty file), NEED_MORE, BAD or NOMEM. */
int stc_ds_csv_parse_header(stc_ds_schema *s, stc_ds_rec *rec, char delim, const char *p, size_t avail,
                         int at_eof, size_t *consumed, const char *path);

/* Grows out's per-row arrays for n rows of nt texts and dim label floats. */
int stc_ds_rows_reserve(stc_rows *out, size_t n, int nt, int dim);

/* Opens a prepared HDF5 dataset (data/prepared_read.c). */
int stc_ds_prepared_open(stc_dataset **out, const char *path);

/* One record parser by format. */
int stc_ds_parse_record(const stc_dataset *ds, stc_ds_rec *rec, const char *p, size_t avail, int at_eof,
                        size_t *consumed);

/* Builds or loads the row index (and the schema) of an opened text file. */
int stc_ds_row_index_open(stc_dataset *ds, const char *index_path);

/* Reads len bytes at off with pread (retrying short reads). */
int stc_ds_pread(const stc_dataset *ds, void *buf, size_t len, uint64_t off);

/* 1-based line number of byte off (counts newlines before it). */
size_t stc_ds_line_of(const stc_dataset *ds, uint64_t off);

/* Opens an already-open file descriptor (the fuzz harness uses a memfd):
 * name is used in messages and for the default index path; the dataset
 * owns fd from the call on (it is closed on failure too). scan_chunk: bytes
 * per read of the indexing scan, 0 for the default; tests make it tiny so
 * that records straddle reads at every position. */
int stc_dataset_open_fd(stc_dataset **out, int fd, const char *name, stc_dataset_format format,
                        const stc_dataset_opts *opts, size_t scan_chunk);

#endif
