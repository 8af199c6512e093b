/*
 * Dataset API (see dataset.h): open/close and accessors, the row reader of
 * the text formats, and helpers the record parsers share: UTF-8 repair,
 * JSON numbers, label checks and the column schema.
 */
#include "data/dataset_internal.h"
#include "data/sampler.h"
#include "data/tokenizer_unicode.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- UTF-8 repair ------------------------------------------------------ */

/* Python's bytes.decode("utf-8", errors="replace"), re-encoded: the decoder
 * is the tokenizer's (data/tokenizer_unicode.h), so datasets and the
 * tokenizer replace exactly the same byte sequences. */
size_t stc_ds_utf8_repair(char *out, const unsigned char *s, size_t n, long *n_invalid)
{
    size_t i = 0, o = 0;
    while (i < n) {
        if (s[i] < 0x80) { /* the common case, byte by byte */
            out[o++] = (char)s[i++];
            continue;
        }
        uint32_t cp;
        int bad = 0;
        int k = stc_toku_decode(s + i, n - i, &cp, &bad);
        if (bad) {
            (*n_invalid)++;
            o += (size_t)stc_toku_encode(0xFFFD, out + o);
        } else {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
        }
        i += (size_t)k;
    }
    return o;
}

/* ---- record parser state ------------------------------------------------ */

int stc_ds_rec_init(stc_ds_rec *rec, int n_cols, int n_text)
{
    memset(rec, 0, sizeof *rec);
    size_t nc = n_cols > 0 ? (size_t)n_cols : 1, nt = n_text > 0 ? (size_t)n_text : 1;
    rec->col_off = stc_calloc(nt, sizeof *rec->col_off, "record columns");
    rec->col_len = stc_calloc(nt, sizeof *rec->col_len, "record columns");
    rec->seen = stc_calloc(nc, 1, "record columns");
    if (!rec->col_off || !rec->col_len || !rec->seen) {
        stc_ds_rec_free(rec);
        return STC_ERR_NOMEM;
    }
    return 0;
}

void stc_ds_rec_free(stc_ds_rec *rec)
{
    free(rec->buf);
    free(rec->col_off);
    free(rec->col_len);
    free(rec->seen);
    free(rec->label);
    free(rec->spans);
    memset(rec, 0, sizeof *rec);
}

int stc_ds_rec_reserve(stc_ds_rec *rec, size_t extra)
{
    if (extra <= rec->cap - rec->len)
        return 0;
    size_t c = rec->cap ? rec->cap : 4096;
    while (c - rec->len < extra) {
        if (c > ((size_t)-1) / 2)
            return stc_errorf(STC_ERR_NOMEM, "dataset: record buffer too large");
        c *= 2;
    }
    char *b = realloc(rec->buf, c);
    if (!b)
        return stc_errorf(STC_ERR_NOMEM, "dataset: out of memory (%zu bytes of text)", c);
    rec->buf = b;
    rec->cap = c;
    return 0;
}

int stc_ds_rec_push_label(stc_ds_rec *rec, float v)
{
    if (rec->label_n == rec->label_cap) {
        size_t c = rec->label_cap ? 2 * rec->label_cap : 64;
        float *l = realloc(rec->label, c * sizeof *l);
        if (!l) {
            stc_errorf(STC_ERR_NOMEM, "dataset: out of memory (label values)");
            return STC_DS_REC_NOMEM;
        }
        rec->label = l;
        rec->label_cap = c;
    }
    rec->label[rec->label_n++] = v;
    return STC_DS_REC_OK;
}

int stc_ds_rec_bad(stc_ds_rec *rec, size_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rec->err, sizeof rec->err, fmt, ap);
    va_end(ap);
    rec->err_at = at;
    return STC_DS_REC_BAD;
}

int stc_ds_rec_label_value(stc_ds_rec *rec, size_t at, double v)
{
    float f = (float)v;
    if (!isfinite(f))
        return stc_ds_rec_bad(rec, at, "label value %g is not a finite float", v);
    return stc_ds_rec_push_label(rec, f);
}

int stc_ds_rec_check_label(stc_ds_rec *rec, const stc_ds_schema *s, const char *col)
{
    if (rec->label_is_array && rec->label_n == 0)
        return stc_ds_rec_bad(rec, 0, "column \"%s\" is an empty array (expected numbers)", col);
    if (s->label_kind == 0)
        return STC_DS_REC_OK;
    if (s->label_kind == STC_LABEL_SCALAR && rec->label_is_array)
        return stc_ds_rec_bad(rec, 0, "column \"%s\" is an array, but in the first row it is a number", col);
    if (s->label_kind == STC_LABEL_VECTOR && !rec->label_is_array)
        return stc_ds_rec_bad(rec, 0, "column \"%s\" is a number, but in the first row it is an array", col);
    if (s->label_kind == STC_LABEL_VECTOR && rec->label_n != (size_t)s->label_dim)
        return stc_ds_rec_bad(rec, 0, "column \"%s\" has %zu values, but %d in the first row", col, rec->label_n,
                           s->label_dim);
    return STC_DS_REC_OK;
}

/* ---- JSON numbers (also CSV labels written as arrays) ------------------- */

/* An ASCII digit. */
static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int stc_ds_json_number(stc_ds_rec *rec, const char *p, size_t n, size_t *i, double *v)
{
    size_t s = *i, j = s;
    if (j < n && p[j] == '-')
        j++;
    if (j < n && p[j] == '0') {
        j++;
    } else if (j < n && p[j] >= '1' && p[j] <= '9') {
        while (j < n && is_digit(p[j]))
            j++;
    } else {
        return stc_ds_rec_bad(rec, j, "invalid JSON at byte %zu: expected a number", j + 1);
    }
    if (j < n && p[j] == '.') {
        j++;
        if (j >= n || !is_digit(p[j]))
            return stc_ds_rec_bad(rec, j, "invalid JSON at byte %zu: expected a digit after '.'", j + 1);
        while (j < n && is_digit(p[j]))
            j++;
    }
    if (j < n && (p[j] == 'e' || p[j] == 'E')) {
        j++;
        if (j < n && (p[j] == '+' || p[j] == '-'))
            j++;
        if (j >= n || !is_digit(p[j]))
            return stc_ds_rec_bad(rec, j, "invalid JSON at byte %zu: expected an exponent", j + 1);
        while (j < n && is_digit(p[j]))
            j++;
    }
    char tmp[128];
    if (j - s >= sizeof tmp)
        return stc_ds_rec_bad(rec, s, "number at byte %zu is too long (%zu characters)", s + 1, j - s);
    memcpy(tmp, p + s, j - s);
    tmp[j - s] = '\0';
    *v = strtod(tmp, NULL);
    *i = j;
    return STC_DS_REC_OK;
}

/* Skips JSON whitespace from p[i]; returns the next index. */
static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i;
}

int stc_ds_json_number_array(stc_ds_rec *rec, const char *p, size_t n, size_t *i)
{
    size_t j = *i + 1;
    rec->label_is_array = 1;
    j = skip_ws(p, n, j);
    if (j < n && p[j] == ']') {
        *i = j + 1;
        return STC_DS_REC_OK;
    }
    for (;;) {
        j = skip_ws(p, n, j);
        if (j >= n)
            return stc_ds_rec_bad(rec, j, "invalid JSON: unterminated array");
        if (!(p[j] == '-' || is_digit(p[j])))
            return stc_ds_rec_bad(rec, j, "label array holds a non-number at byte %zu (expected numbers only)",
                               j + 1);
        double v;
        int r = stc_ds_json_number(rec, p, n, &j, &v);
        if (r == STC_DS_REC_OK)
            r = stc_ds_rec_label_value(rec, j, v);
        if (r != STC_DS_REC_OK)
            return r;
        j = skip_ws(p, n, j);
        if (j < n && p[j] == ',') {
            j++;
            continue;
        }
        if (j < n && p[j] == ']') {
            *i = j + 1;
            return STC_DS_REC_OK;
        }
        return stc_ds_rec_bad(rec, j, "invalid JSON at byte %zu: expected ',' or ']' in the array", j + 1);
    }
}

/* ---- schema -------------------------------------------------------------- */

void stc_ds_schema_free(stc_ds_schema *s)
{
    if (s->col_names)
        for (int i = 0; i < s->n_cols; i++)
            free(s->col_names[i]);
    free(s->col_names);
    free(s->col_slot);
    free(s->text_col);
    memset(s, 0, sizeof *s);
    s->n_cols = -1;
    s->label_col = -1;
}

int stc_ds_schema_set(stc_ds_schema *s, char **names, int n, const char *path)
{
    int rc = 0;
    stc_ds_schema_free(s);
    s->col_names = names;
    s->n_cols = n;
    if (n > STC_DATASET_MAX_COLUMNS) {
        rc = stc_errorf(STC_ERR_DATA, "%s: %d columns (at most %d)", path, n, STC_DATASET_MAX_COLUMNS);
        goto err;
    }
    for (int i = 0; i < n; i++) {
        if (!names[i][0]) {
            rc = stc_errorf(STC_ERR_DATA,
                            "%s: column %d has an empty name (a pandas index column? write the file with "
                            "index=False)", path, i + 1);
            goto err;
        }
        if (!strcmp(names[i], "dataset_name") || !strcmp(names[i], "return_loss")) {
            rc = stc_errorf(STC_ERR_DATA, "%s: column \"%s\" is reserved by the trainer; rename it", path,
                            names[i]);
            goto err;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(names[i], names[j])) {
                rc = stc_errorf(STC_ERR_DATA, "%s: column \"%s\" appears twice", path, names[i]);
                goto err;
            }
    }
    /* Sentence Transformers' valid_label_columns, in priority order. */
    static const char *const label_names[] = {"label", "score"};
    for (size_t k = 0; k < 2 && s->label_col < 0; k++)
        for (int i = 0; i < n; i++)
            if (!strcmp(names[i], label_names[k]))
                s->label_col = i;
    s->n_text = n - (s->label_col >= 0);
    if (s->n_text < 1) {
        rc = stc_errorf(STC_ERR_DATA, "%s: no text columns (only \"%s\")", path,
                        s->label_col >= 0 ? names[s->label_col] : "");
        goto err;
    }
    s->col_slot = stc_calloc((size_t)n, sizeof *s->col_slot, "dataset columns");
    s->text_col = stc_calloc((size_t)s->n_text, sizeof *s->text_col, "dataset columns");
    if (!s->col_slot || !s->text_col) {
        rc = STC_ERR_NOMEM;
        goto err;
    }
    for (int i = 0, t = 0; i < n; i++) {
        if (i == s->label_col) {
            s->col_slot[i] = -1;
        } else {
            s->col_slot[i] = t;
            s->text_col[t++] = i;
        }
    }
    s->label_kind = 0;
    s->label_dim = 0;
    return 0;
err:
    stc_ds_schema_free(s);
    return rc;
}

/* ---- file access ----------------------------------------------------------- */

int stc_ds_pread(const stc_dataset *ds, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t r = pread(ds->fd, p, len, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return stc_errorf(STC_ERR_IO, "%s: read failed at byte %llu: %s", ds->path,
                              (unsigned long long)off, strerror(errno));
        }
        if (r == 0)
            return stc_errorf(STC_ERR_DATA, "%s: file is shorter than its row index says (changed on disk?)",
                              ds->path);
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

size_t stc_ds_line_of(const stc_dataset *ds, uint64_t off)
{
    char buf[65536];
    size_t line = 1;
    uint64_t pos = 0;
    while (pos < off) {
        size_t want = off - pos < sizeof buf ? (size_t)(off - pos) : sizeof buf;
        ssize_t r = pread(ds->fd, buf, want, (off_t)pos);
        if (r <= 0)
            break;
        for (const char *q = buf, *end = buf + r; (q = memchr(q, '\n', (size_t)(end - q))); q++)
            line++;
        pos += (uint64_t)r;
    }
    return line;
}

int stc_ds_parse_record(const stc_dataset *ds, stc_ds_rec *rec, const char *p, size_t avail, int at_eof,
                        size_t *consumed)
{
    switch (ds->format) {
    case STC_DATASET_JSONL:
        return stc_ds_jsonl_parse(&ds->schema, rec, p, avail, at_eof, consumed);
    case STC_DATASET_CSV:
        return stc_ds_csv_parse(&ds->schema, rec, ',', p, avail, at_eof, consumed);
    case STC_DATASET_TSV:
        return stc_ds_csv_parse(&ds->schema, rec, '\t', p, avail, at_eof, consumed);
    default:
        stc_errorf(STC_ERR_INTERNAL, "%s: no record parser for this format", ds->path);
        return STC_DS_REC_NOMEM;
    }
}

/* ---- stc_rows ---------------------------------------------------------------- */

void stc_rows_init(stc_rows *r)
{
    memset(r, 0, sizeof *r);
}

void stc_rows_free(stc_rows *r)
{
    free(r->texts);
    free(r->text_lens);
    free(r->labels);
    free(r->buf);
    free(r->offs);
    free(r->raw);
    free(r->scratch_label);
    free(r->tok_ids);
    free(r->tok_off);
    memset(r, 0, sizeof *r);
}

const char *stc_rows_text(const stc_rows *r, size_t row, int c, size_t *len)
{
    size_t k = (size_t)c * r->n + row;
    if (len)
        *len = r->text_lens[k];
    return r->texts[k];
}

/* Grows the per-row arrays of out for n rows of nt texts and dim labels. */
int stc_ds_rows_reserve(stc_rows *out, size_t n, int nt, int dim)
{
    size_t cells = n * (size_t)nt;
    if (cells > out->rows_cap) {
        const char **t = realloc(out->texts, cells * sizeof *t);
        if (t)
            out->texts = t;
        size_t *l = realloc(out->text_lens, cells * sizeof *l);
        if (l)
            out->text_lens = l;
        size_t *o = realloc(out->offs, cells * sizeof *o);
        if (o)
            out->offs = o;
        if (!t || !l || !o)
            return stc_errorf(STC_ERR_NOMEM, "dataset: out of memory for %zu rows", n);
        out->rows_cap = cells;
    }
    size_t nl = n * (size_t)dim;
    if (nl > out->labels_cap) {
        float *f = realloc(out->labels, nl * sizeof *f);
        if (!f)
            return stc_errorf(STC_ERR_NOMEM, "dataset: out of memory for %zu labels", nl);
        out->labels = f;
        out->labels_cap = nl;
    }
    return 0;
}

/* Largest span of adjacent records read with one pread. */
#define STC_DS_COALESCE ((size_t)1 << 20)

/* The text formats' row reader: preads each record (adjacent records in
 * one read) and re-parses it; the index scan already validated it, so a
 * failure here means the file changed. */
static int records_read_rows(const stc_dataset *ds, const size_t *rows, size_t n, stc_rows *out)
{
    const stc_ds_schema *s = &ds->schema;
    int nt = s->n_text > 0 ? s->n_text : 0, dim = s->label_dim;
    struct stat st;
    if (fstat(ds->fd, &st) != 0)
        return stc_errorf(STC_ERR_IO, "%s: cannot stat: %s", ds->path, strerror(errno));
    if ((uint64_t)st.st_size != ds->file_size || (int64_t)st.st_mtim.tv_sec != ds->mtime_sec ||
        (int64_t)st.st_mtim.tv_nsec != ds->mtime_nsec)
        return stc_errorf(STC_ERR_DATA, "%s: the file changed on disk after it was opened; restart to re-index it",
                          ds->path);
    int rc = stc_ds_rows_reserve(out, n, nt, dim);
    if (rc)
        return rc;
    stc_ds_rec rec;
    if ((rc = stc_ds_rec_init(&rec, s->n_cols, s->n_text)))
        return rc;
    /* The parser appends into out's buffers, borrowed for the call. */
    rec.buf = out->buf;
    rec.cap = out->buf_cap;
    rec.len = 0;
    rec.label = out->scratch_label;
    rec.label_cap = out->scratch_label_cap;
    out->n_invalid_utf8 = 0;

    for (size_t i = 0; i < n;) {
        /* A run of records that follow each other in the file. */
        size_t j = i + 1;
        uint64_t start = ds->row_off[rows[i]];
        uint64_t end = start + ds->row_len[rows[i]];
        while (j < n && ds->row_off[rows[j]] == end && end - start + ds->row_len[rows[j]] <= STC_DS_COALESCE) {
            end += ds->row_len[rows[j]];
            j++;
        }
        size_t span = (size_t)(end - start);
        if (span > out->raw_cap) {
            char *r = realloc(out->raw, span);
            if (!r) {
                rc = stc_errorf(STC_ERR_NOMEM, "dataset: out of memory (%zu bytes)", span);
                goto out;
            }
            out->raw = r;
            out->raw_cap = span;
        }
        if ((rc = stc_ds_pread(ds, out->raw, span, start)))
            goto out;
        for (size_t k = i; k < j; k++) {
            size_t row = rows[k], len = ds->row_len[row], consumed = 0;
            const char *p = out->raw + (ds->row_off[row] - start);
            if ((rc = stc_ds_rec_reserve(&rec, 3 * len + (size_t)nt + 16)))
                goto out;
            rec.label_n = 0;
            rec.label_is_array = 0;
            int r = stc_ds_parse_record(ds, &rec, p, len, 1, &consumed);
            if (r == STC_DS_REC_NOMEM) {
                rc = STC_ERR_NOMEM;
                goto out;
            }
            if (r != STC_DS_REC_OK || (dim && rec.label_n != (size_t)dim)) {
                rc = stc_errorf(STC_ERR_DATA, "%s:%zu: %s (row %zu; the file changed after it was indexed?)",
                                ds->path, stc_ds_line_of(ds, ds->row_off[row]),
                                r == STC_DS_REC_BAD ? rec.err : "record no longer parses", row);
                goto out;
            }
            for (int c = 0; c < nt; c++) {
                out->offs[(size_t)c * n + k] = rec.col_off[c];
                out->text_lens[(size_t)c * n + k] = rec.col_len[c];
            }
            if (dim)
                memcpy(out->labels + k * (size_t)dim, rec.label, (size_t)dim * sizeof(float));
        }
        i = j;
    }
    for (size_t c = 0; c < (size_t)nt * n; c++)
        out->texts[c] = rec.buf + out->offs[c];
    out->n = n;
    out->n_text_columns = nt;
    out->label_dim = dim;
    out->n_invalid_utf8 = rec.n_invalid;
out:
    out->buf = rec.buf;
    out->buf_cap = rec.cap;
    out->buf_len = rec.len;
    out->scratch_label = rec.label;
    out->scratch_label_cap = rec.label_cap;
    rec.buf = NULL;
    rec.label = NULL;
    stc_ds_rec_free(&rec);
    if (rc)
        out->n = 0;
    return rc;
}

static const stc_dataset_backend records_backend = {
    .name = "records",
    .read_rows = records_read_rows,
};

/* ---- public API ------------------------------------------------------------ */

stc_dataset_format stc_dataset_format_from_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return STC_DATASET_UNKNOWN;
    if (!strcasecmp(dot, ".jsonl"))
        return STC_DATASET_JSONL;
    if (!strcasecmp(dot, ".csv"))
        return STC_DATASET_CSV;
    if (!strcasecmp(dot, ".tsv"))
        return STC_DATASET_TSV;
    if (!strcasecmp(dot, ".h5") || !strcasecmp(dot, ".hdf5"))
        return STC_DATASET_PREPARED;
    return STC_DATASET_UNKNOWN;
}

int stc_dataset_open_fd(stc_dataset **out, int fd, const char *name, stc_dataset_format format,
                        const stc_dataset_opts *opts, size_t scan_chunk)
{
    *out = NULL;
    int rc = 0;
    char *index_path = NULL;
    stc_dataset *ds = stc_calloc(1, sizeof *ds, "dataset");
    if (!ds) {
        close(fd);
        return STC_ERR_NOMEM;
    }
    ds->fd = fd;
    ds->format = format;
    ds->skip_bad_rows = opts ? opts->skip_bad_rows : 0;
    ds->scan_chunk = scan_chunk;
    ds->backend = &records_backend;
    ds->schema.n_cols = -1;
    ds->schema.label_col = -1;
    ds->path = strdup(name);
    if (!ds->path) {
        rc = stc_errorf(STC_ERR_NOMEM, "dataset: out of memory");
        goto err;
    }
    if (format != STC_DATASET_JSONL && format != STC_DATASET_CSV && format != STC_DATASET_TSV) {
        rc = stc_errorf(STC_ERR_USAGE, "%s: unknown dataset format (expected .jsonl, .csv or .tsv)", name);
        goto err;
    }
    const char *ip = opts ? opts->index_path : NULL;
    if (!ip) {
        size_t l = strlen(name);
        index_path = stc_malloc(l + 8, "index path");
        if (!index_path) {
            rc = STC_ERR_NOMEM;
            goto err;
        }
        memcpy(index_path, name, l);
        memcpy(index_path + l, ".stcidx", 8);
    }
    if ((rc = stc_ds_row_index_open(ds, ip ? (ip[0] ? ip : NULL) : index_path)))
        goto err;
    free(index_path);
    *out = ds;
    return 0;
err:
    free(index_path);
    stc_dataset_close(ds);
    return rc;
}

int stc_dataset_open(stc_dataset **out, const char *path, const stc_dataset_opts *opts)
{
    *out = NULL;
    stc_dataset_format f = stc_dataset_format_from_path(path);
    if (f == STC_DATASET_UNKNOWN)
        return stc_errorf(STC_ERR_USAGE, "%s: unknown dataset format (expected a .jsonl, .csv or .tsv file, or "
                          "a .h5 file written by stc prepare)", path);
    if (f == STC_DATASET_PREPARED)
        return stc_ds_prepared_open(out, path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return stc_errorf(STC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return stc_errorf(STC_ERR_IO, "%s: not a regular file", path);
    }
    return stc_dataset_open_fd(out, fd, path, f, opts, 0);
}

void stc_dataset_close(stc_dataset *ds)
{
    if (!ds)
        return;
    if (ds->backend && ds->backend->close)
        ds->backend->close(ds);
    if (ds->fd >= 0)
        close(ds->fd);
    stc_ds_schema_free(&ds->schema);
    free(ds->row_off);
    free(ds->row_len);
    free(ds->path);
    free(ds);
}

const char *stc_dataset_path(const stc_dataset *ds)
{
    return ds->path;
}

stc_dataset_format stc_dataset_format_of(const stc_dataset *ds)
{
    return ds->format;
}

size_t stc_dataset_num_rows(const stc_dataset *ds)
{
    return ds->n_rows;
}

int stc_dataset_num_text_columns(const stc_dataset *ds)
{
    return ds->schema.n_cols > 0 ? ds->schema.n_text : 0;
}

const char *stc_dataset_text_column_name(const stc_dataset *ds, int i)
{
    if (i < 0 || i >= stc_dataset_num_text_columns(ds))
        return NULL;
    return ds->schema.col_names[ds->schema.text_col[i]];
}

const char *stc_dataset_label_column_name(const stc_dataset *ds)
{
    return ds->schema.label_col >= 0 ? ds->schema.col_names[ds->schema.label_col] : NULL;
}

int stc_dataset_label_kind(const stc_dataset *ds)
{
    return ds->schema.label_col >= 0 ? ds->schema.label_kind : STC_LABEL_NONE;
}

int stc_dataset_label_dim(const stc_dataset *ds)
{
    return ds->schema.label_col >= 0 ? ds->schema.label_dim : 0;
}

size_t stc_dataset_num_bad_rows(const stc_dataset *ds)
{
    return ds->n_bad;
}

size_t stc_dataset_num_invalid_utf8(const stc_dataset *ds)
{
    return ds->n_invalid;
}

const char *stc_dataset_first_bad_row(const stc_dataset *ds)
{
    return ds->first_bad;
}

stc_index_source stc_dataset_index_source(const stc_dataset *ds)
{
    return ds->index_source;
}

int stc_dataset_read_rows(const stc_dataset *ds, const size_t *rows, size_t n, stc_rows *out)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= ds->n_rows)
            return stc_errorf(STC_ERR_INTERNAL, "%s: row %zu out of range (%zu rows)", ds->path, rows[i],
                              ds->n_rows);
    return ds->backend->read_rows(ds, rows, n, out);
}

int stc_dataset_read_tokens(const stc_dataset *ds, const size_t *rows, size_t n, stc_rows *out)
{
    if (!ds->backend->read_tokens)
        return stc_errorf(STC_ERR_INTERNAL, "%s: token ids are only stored in prepared (.h5) datasets", ds->path);
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= ds->n_rows)
            return stc_errorf(STC_ERR_INTERNAL, "%s: row %zu out of range (%zu rows)", ds->path, rows[i],
                              ds->n_rows);
    return ds->backend->read_tokens(ds, rows, n, out);
}

/* Rows per read of the generic metadata scan. */
enum { META_ROWS = 4096 };

int stc_dataset_read_meta(const stc_dataset *ds, size_t start, size_t n, uint64_t *hashes, float *labels)
{
    if (start > ds->n_rows || n > ds->n_rows - start)
        return stc_errorf(STC_ERR_INTERNAL, "%s: rows [%zu, %zu) out of range (%zu rows)", ds->path, start,
                          start + n, ds->n_rows);
    if (ds->backend->read_meta)
        return ds->backend->read_meta(ds, start, n, hashes, labels);
    int cols = stc_dataset_num_text_columns(ds), dim = stc_dataset_label_dim(ds), rc = 0;
    size_t *ids = stc_malloc(sizeof(size_t) * META_ROWS, "row ids");
    if (!ids)
        return STC_ERR_NOMEM;
    stc_rows r;
    stc_rows_init(&r);
    for (size_t a = 0; !rc && a < n; a += META_ROWS) {
        size_t k = n - a < META_ROWS ? n - a : META_ROWS;
        for (size_t i = 0; i < k; i++)
            ids[i] = start + a + i;
        if ((rc = stc_dataset_read_rows(ds, ids, k, &r)))
            break;
        for (size_t i = 0; i < k; i++) {
            if (hashes)
                for (int c = 0; c < cols; c++) {
                    size_t len;
                    const char *t = stc_rows_text(&r, i, c, &len);
                    hashes[(a + i) * (size_t)cols + (size_t)c] = stc_sampler_hash_text(t, len);
                }
            if (labels && dim)
                memcpy(labels + (a + i) * (size_t)dim, r.labels + i * (size_t)dim, sizeof(float) * (size_t)dim);
        }
    }
    stc_rows_free(&r);
    free(ids);
    return rc;
}
