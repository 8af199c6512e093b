/*
 * Row index of a text dataset (JSONL, CSV, TSV): one sequential scan that
 * validates every record and keeps the byte range of each good one, so any
 * rank can later pread any row; cached in "<file>.stcidx" (see dataset.h).
 *
 * Index file layout (native byte order, checked by a marker):
 *   stc_idx_header                      identity of the data file + counters
 *   uint64 off[n_rows]                  record start offsets, increasing
 *   uint32 len[n_rows]                  record lengths, terminator included
 * It is trusted only when every identity field matches the data file as it
 * is now (size, mtime to the nanosecond, hashes of the first and last 4 KiB),
 * the payload hash matches, and every range is inside the file in order;
 * otherwise it is rebuilt. An index built with skip_bad_rows that left rows
 * out is not used by an open without it (that open must fail, naming the
 * first bad line, so it rebuilds and does).
 *
 * The schema (column names, label kind and size) is not stored: it is read
 * again from the CSV header or the first indexed JSONL row, and the first
 * indexed row's label, with the same parsers.
 */
#include "data/dataset_internal.h"
#include "util/error.h"
#include "util/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STC_IDX_MAGIC "STCIDX\r\n"
#define STC_IDX_BYTE_ORDER 0x01020304u
#define STC_IDX_VERSION 1u
/* Bytes hashed at each end of the data file. */
#define STC_IDX_EDGE 4096
/* Bytes read per step of the scan. */
#define STC_IDX_CHUNK ((size_t)4 << 20)

typedef struct {
    char magic[8];          /* STC_IDX_MAGIC */
    uint32_t byte_order;    /* STC_IDX_BYTE_ORDER as written */
    uint32_t version;       /* STC_IDX_VERSION */
    uint32_t format;        /* stc_dataset_format */
    uint32_t skip_bad_rows; /* the option of the open that built it */
    uint64_t file_size;     /* identity of the data file ... */
    int64_t mtime_sec;
    int64_t mtime_nsec;
    uint64_t head_hash;     /* ... hash of its first 4 KiB */
    uint64_t tail_hash;     /* ... and of its last 4 KiB */
    uint64_t data_start;    /* 3 after a UTF-8 BOM */
    uint64_t n_rows;        /* good records indexed */
    uint64_t n_bad;         /* bad records left out */
    uint64_t n_invalid;     /* invalid UTF-8 replaced in good records */
    uint64_t payload_hash;  /* hash of off[] and len[] */
    char first_bad[STC_DATASET_MSG_LEN]; /* reason for the first bad row */
} stc_idx_header;

/* Identity of the data file. */
typedef struct {
    uint64_t size;
    int64_t sec, nsec;
    uint64_t head, tail;
} file_id;

/* A 64-bit hash for change detection (not cryptographic): FNV-style
 * multiply over 8-byte words with a final mix. */
static uint64_t hash64(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    while (n--)
        h = (h ^ *p++) * 0x100000001b3ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
}

/* Size, mtime and edge hashes of the open data file. */
static int file_identity(const stc_dataset *ds, file_id *id)
{
    struct stat st;
    if (fstat(ds->fd, &st) != 0)
        return stc_errorf(STC_ERR_IO, "%s: cannot stat: %s", ds->path, strerror(errno));
    id->size = (uint64_t)st.st_size;
    id->sec = (int64_t)st.st_mtim.tv_sec;
    id->nsec = (int64_t)st.st_mtim.tv_nsec;
    unsigned char buf[STC_IDX_EDGE];
    size_t n = id->size < STC_IDX_EDGE ? (size_t)id->size : STC_IDX_EDGE;
    int rc;
    if ((rc = stc_ds_pread(ds, buf, n, 0)))
        return rc;
    id->head = hash64(buf, n);
    if ((rc = stc_ds_pread(ds, buf, n, id->size - n)))
        return rc;
    id->tail = hash64(buf, n);
    return 0;
}

/* 1 if two identities describe the same file contents (as far as known). */
static int same_identity(const file_id *a, const file_id *b)
{
    return a->size == b->size && a->sec == b->sec && a->nsec == b->nsec && a->head == b->head &&
           a->tail == b->tail;
}

/* Resizes the parser state's per-column arrays to the schema. */
static int rec_fit(stc_ds_rec *rec, const stc_ds_schema *s)
{
    size_t nc = s->n_cols > 0 ? (size_t)s->n_cols : 1, nt = s->n_text > 0 ? (size_t)s->n_text : 1;
    free(rec->col_off);
    free(rec->col_len);
    free(rec->seen);
    rec->col_off = stc_calloc(nt, sizeof *rec->col_off, "record columns");
    rec->col_len = stc_calloc(nt, sizeof *rec->col_len, "record columns");
    rec->seen = stc_calloc(nc, 1, "record columns");
    return (rec->col_off && rec->col_len && rec->seen) ? 0 : STC_ERR_NOMEM;
}

/* Sets the schema's label kind from a good record, if not known yet. */
static void learn_label(stc_ds_schema *s, const stc_ds_rec *rec)
{
    if (s->label_col < 0 || s->label_kind)
        return;
    s->label_kind = rec->label_is_array ? STC_LABEL_VECTOR : STC_LABEL_SCALAR;
    s->label_dim = (int)rec->label_n;
}

/* Newlines in p[0..n): lines a record spans. */
static size_t count_newlines(const char *p, size_t n)
{
    size_t c = 0;
    for (const char *q = p, *end = p + n; (q = memchr(q, '\n', (size_t)(end - q))); q++)
        c++;
    return c;
}

/* Parses the record at p as the scan sees it: the CSV header first; for
 * JSONL without columns yet, the record's keys become the columns (dropped
 * again if the record turns out bad). */
static int scan_record(stc_dataset *ds, stc_ds_rec *rec, int *header_done, const char *p, size_t avail, int at_eof,
                       size_t *consumed)
{
    stc_ds_schema *s = &ds->schema;
    char delim = ds->format == STC_DATASET_TSV ? '\t' : ',';
    int r;
    if (!*header_done) {
        r = stc_ds_csv_parse_header(s, rec, delim, p, avail, at_eof, consumed, ds->path);
        if (r == STC_DS_REC_OK) {
            *header_done = 1;
            if (rec_fit(rec, s))
                return STC_DS_REC_NOMEM;
            return STC_DS_REC_BLANK; /* the header is no row */
        }
        return r == STC_DS_REC_BAD ? STC_DS_REC_BAD_HEADER : r; /* never skipped */
    }
    if (ds->format == STC_DATASET_JSONL && s->n_cols < 0) {
        const char *nl = memchr(p, '\n', avail);
        if (!nl && !at_eof)
            return STC_DS_REC_NEED_MORE;
        size_t n = nl ? (size_t)(nl - p) : avail, i = 0;
        *consumed = nl ? n + 1 : avail;
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
            i++;
        if (i == n)
            return STC_DS_REC_BLANK;
        long inv = rec->n_invalid; /* the parse below counts them */
        r = stc_ds_jsonl_discover(s, rec, p, n, ds->path);
        rec->n_invalid = inv;
        if (r != STC_DS_REC_OK)
            return r;
        if (rec_fit(rec, s))
            return STC_DS_REC_NOMEM;
        r = stc_ds_jsonl_parse(s, rec, p, avail, at_eof, consumed);
        if (r == STC_DS_REC_BAD)
            stc_ds_schema_free(s);
        return r;
    }
    return stc_ds_parse_record(ds, rec, p, avail, at_eof, consumed);
}

/* Appends one row to the index arrays. */
static int push_row(stc_dataset *ds, size_t *cap, uint64_t off, size_t len)
{
    if (ds->n_rows == *cap) {
        size_t c = *cap ? 2 * *cap : 4096;
        uint64_t *o = realloc(ds->row_off, c * sizeof *o);
        if (o)
            ds->row_off = o;
        uint32_t *l = realloc(ds->row_len, c * sizeof *l);
        if (l)
            ds->row_len = l;
        if (!o || !l)
            return stc_errorf(STC_ERR_NOMEM, "%s: out of memory indexing %zu rows", ds->path, c);
        *cap = c;
    }
    ds->row_off[ds->n_rows] = off;
    ds->row_len[ds->n_rows] = (uint32_t)len;
    ds->n_rows++;
    return 0;
}

/* The scan: reads the file in chunks, parses every record, indexes the good
 * ones. On return ds holds the index, the counters and the schema. */
static int build_index(stc_dataset *ds)
{
    size_t start = 0, end = 0, rows_cap = 0, line = 1;
    size_t chunk = ds->scan_chunk ? ds->scan_chunk : STC_IDX_CHUNK;
    size_t cap = ds->file_size < chunk ? (size_t)ds->file_size + 16 : chunk;
    uint64_t buf_pos = ds->data_start; /* file offset of buf[0] */
    int eof = 0, rc = 0, header_done = ds->format == STC_DATASET_JSONL;
    char *buf = stc_malloc(cap, "dataset scan buffer");
    stc_ds_rec rec;
    if (!buf)
        return STC_ERR_NOMEM;
    if ((rc = stc_ds_rec_init(&rec, 1, 1))) {
        free(buf);
        return rc;
    }
    for (;;) {
        if (start == end && eof)
            break;
        const char *p = buf + start;
        size_t avail = end - start, consumed = 0;
        int nt = ds->schema.n_text > 0 ? ds->schema.n_text : 0;
        rec.len = 0;
        if ((rc = stc_ds_rec_reserve(&rec, 3 * avail + (size_t)nt + 16)))
            goto out;
        long inv = rec.n_invalid;
        int r = scan_record(ds, &rec, &header_done, p, avail, eof, &consumed);
        if (r == STC_DS_REC_NEED_MORE) {
            if (avail >= STC_DATASET_MAX_RECORD) {
                rc = stc_errorf(STC_ERR_DATA, "%s:%zu: record longer than %zu MiB (an unterminated quote?)",
                                ds->path, line, STC_DATASET_MAX_RECORD >> 20);
                goto out;
            }
            memmove(buf, buf + start, avail);
            buf_pos += start;
            start = 0;
            end = avail;
            if (end == cap) {
                char *nb = realloc(buf, 2 * cap);
                if (!nb) {
                    rc = stc_errorf(STC_ERR_NOMEM, "%s: out of memory (a %zu-byte record)", ds->path, 2 * cap);
                    goto out;
                }
                buf = nb;
                cap *= 2;
            }
            size_t want = cap - end < chunk ? cap - end : chunk;
            ssize_t got;
            do
                got = pread(ds->fd, buf + end, want, (off_t)(buf_pos + end));
            while (got < 0 && errno == EINTR);
            if (got < 0) {
                rc = stc_errorf(STC_ERR_IO, "%s: read failed: %s", ds->path, strerror(errno));
                goto out;
            }
            if (got == 0)
                eof = 1;
            end += (size_t)got;
            continue;
        }
        switch (r) {
        case STC_DS_REC_OK:
            if (consumed > STC_DATASET_MAX_RECORD) {
                rc = stc_errorf(STC_ERR_DATA, "%s:%zu: record longer than %zu MiB", ds->path, line,
                                STC_DATASET_MAX_RECORD >> 20);
                goto out;
            }
            if ((rc = push_row(ds, &rows_cap, buf_pos + start, consumed)))
                goto out;
            ds->n_invalid += (size_t)(rec.n_invalid - inv);
            learn_label(&ds->schema, &rec);
            break;
        case STC_DS_REC_BLANK:
            break;
        case STC_DS_REC_BAD:
            if (!ds->skip_bad_rows) {
                rc = stc_errorf(STC_ERR_DATA, "%s:%zu: %s (skip_bad_rows leaves such rows out)", ds->path, line,
                                rec.err);
                goto out;
            }
            if (!ds->n_bad)
                snprintf(ds->first_bad, sizeof ds->first_bad, "%s:%zu: %s", ds->path, line, rec.err);
            ds->n_bad++;
            break;
        case STC_DS_REC_BAD_HEADER:
            rc = stc_errorf(STC_ERR_DATA, "%s:%zu: bad header: %s", ds->path, line, rec.err);
            goto out;
        case STC_DS_REC_NOMEM:
            rc = STC_ERR_NOMEM;
            goto out;
        default: /* STC_DS_REC_FATAL: message recorded */
            rc = STC_ERR_DATA;
            goto out;
        }
        line += count_newlines(p, consumed);
        start += consumed;
    }
    if (!header_done) {
        rc = stc_errorf(STC_ERR_DATA, "%s: empty file (expected a header row)", ds->path);
        goto out;
    }
    if (ds->schema.label_col >= 0 && !ds->schema.label_kind) {
        ds->schema.label_kind = STC_LABEL_SCALAR; /* no rows: nothing says otherwise */
        ds->schema.label_dim = 1;
    }
out:
    free(buf);
    stc_ds_rec_free(&rec);
    return rc;
}

/* Reads the CSV header at data_start into the schema. */
static int load_csv_header(stc_dataset *ds, stc_ds_rec *rec)
{
    char delim = ds->format == STC_DATASET_TSV ? '\t' : ',';
    uint64_t off = ds->data_start;
    size_t cap = 65536;
    int rc = 0;
    char *buf = NULL;
    for (;;) {
        uint64_t left = ds->file_size - off;
        size_t want = left < cap ? (size_t)left : cap;
        char *nb = realloc(buf, cap);
        if (!nb) {
            rc = stc_errorf(STC_ERR_NOMEM, "%s: out of memory", ds->path);
            break;
        }
        buf = nb;
        if ((rc = stc_ds_pread(ds, buf, want, off)))
            break;
        size_t consumed = 0;
        rec->len = 0;
        if ((rc = stc_ds_rec_reserve(rec, 3 * want + 16)))
            break;
        int r = stc_ds_csv_parse_header(&ds->schema, rec, delim, buf, want, want == left, &consumed, ds->path);
        if (r == STC_DS_REC_OK)
            break;
        if (r == STC_DS_REC_BLANK && consumed > 0) {
            off += consumed;
            continue;
        }
        if (r == STC_DS_REC_NEED_MORE && cap < STC_DATASET_MAX_RECORD) {
            cap *= 2;
            continue;
        }
        rc = stc_errorf(STC_ERR_DATA, "%s: cannot read the header again", ds->path);
        break;
    }
    free(buf);
    return rc;
}

/* Re-derives the schema of an index loaded from the cache: columns from the
 * CSV header or the first JSONL row, the label's kind from the first row. */
static int load_schema(stc_dataset *ds)
{
    stc_ds_rec rec;
    char *row = NULL;
    int rc = stc_ds_rec_init(&rec, 1, 1);
    if (rc)
        return rc;
    if (ds->format != STC_DATASET_JSONL && (rc = load_csv_header(ds, &rec)))
        goto out;
    if (ds->n_rows > 0) {
        size_t len = ds->row_len[0], consumed;
        row = stc_malloc(len, "dataset row");
        if (!row) {
            rc = STC_ERR_NOMEM;
            goto out;
        }
        if ((rc = stc_ds_pread(ds, row, len, ds->row_off[0])))
            goto out;
        rec.len = 0;
        if ((rc = stc_ds_rec_reserve(&rec, 3 * len + 16)))
            goto out;
        if (ds->format == STC_DATASET_JSONL) {
            size_t n = len;
            if (n && row[n - 1] == '\n')
                n--;
            if (stc_ds_jsonl_discover(&ds->schema, &rec, row, n, ds->path) != STC_DS_REC_OK) {
                rc = stc_errorf(STC_ERR_DATA, "%s: cached index does not match the first row", ds->path);
                goto out;
            }
        }
        if ((rc = rec_fit(&rec, &ds->schema)))
            goto out;
        if ((rc = stc_ds_rec_reserve(&rec, 3 * len + 16 + (size_t)ds->schema.n_text)))
            goto out;
        if (stc_ds_parse_record(ds, &rec, row, len, 1, &consumed) != STC_DS_REC_OK) {
            rc = stc_errorf(STC_ERR_DATA, "%s: cached index does not match the first row", ds->path);
            goto out;
        }
        learn_label(&ds->schema, &rec);
    }
    if (ds->schema.label_col >= 0 && !ds->schema.label_kind) {
        ds->schema.label_kind = STC_LABEL_SCALAR;
        ds->schema.label_dim = 1;
    }
out:
    free(row);
    stc_ds_rec_free(&rec);
    return rc;
}

/* Uses the cached index if it describes the file as it is now. Returns 1
 * when loaded; 0 when it is absent, stale or damaged (then rebuilt). */
static int try_load(stc_dataset *ds, const char *index_path, const file_id *id)
{
    struct stat st;
    if (stat(index_path, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size < sizeof(stc_idx_header))
        return 0;
    /* At most one record per byte of data: bounds the size read. */
    if ((uint64_t)st.st_size - sizeof(stc_idx_header) > (id->size + 1) * 12)
        return 0;
    char *data = NULL;
    size_t len = 0;
    if (stc_read_file(index_path, &data, &len)) {
        stc_error_clear();
        return 0;
    }
    stc_idx_header h;
    memcpy(&h, data, sizeof h);
    const char *payload = data + sizeof h;
    size_t plen = len - sizeof h;
    int ok = !memcmp(h.magic, STC_IDX_MAGIC, 8) && h.byte_order == STC_IDX_BYTE_ORDER &&
             h.version == STC_IDX_VERSION && h.format == (uint32_t)ds->format && h.file_size == id->size &&
             h.mtime_sec == id->sec && h.mtime_nsec == id->nsec && h.head_hash == id->head &&
             h.tail_hash == id->tail && h.data_start == ds->data_start && h.n_rows <= id->size &&
             plen == h.n_rows * 12 && hash64(payload, plen) == h.payload_hash &&
             (h.n_bad == 0 || ds->skip_bad_rows);
    if (!ok) {
        free(data);
        return 0;
    }
    size_t n = (size_t)h.n_rows;
    ds->row_off = stc_malloc(n ? n * sizeof *ds->row_off : 1, "row index");
    ds->row_len = stc_malloc(n ? n * sizeof *ds->row_len : 1, "row index");
    if (!ds->row_off || !ds->row_len) {
        stc_error_clear();
        goto reject;
    }
    memcpy(ds->row_off, payload, n * sizeof *ds->row_off);
    memcpy(ds->row_len, payload + n * sizeof *ds->row_off, n * sizeof *ds->row_len);
    free(data);
    data = NULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t o = ds->row_off[i], l = ds->row_len[i];
        if (l == 0 || l > STC_DATASET_MAX_RECORD || o < ds->data_start || o > id->size || l > id->size - o ||
            (i && o < ds->row_off[i - 1] + ds->row_len[i - 1]))
            goto reject;
    }
    ds->n_rows = n;
    ds->n_bad = (size_t)h.n_bad;
    ds->n_invalid = (size_t)h.n_invalid;
    memcpy(ds->first_bad, h.first_bad, sizeof ds->first_bad);
    ds->first_bad[sizeof ds->first_bad - 1] = '\0';
    if (load_schema(ds)) {
        stc_error_clear();
        goto reject;
    }
    return 1;
reject:
    free(data);
    free(ds->row_off);
    free(ds->row_len);
    ds->row_off = NULL;
    ds->row_len = NULL;
    ds->n_rows = ds->n_bad = ds->n_invalid = 0;
    ds->first_bad[0] = '\0';
    stc_ds_schema_free(&ds->schema);
    return 0;
}

/* Writes the index; returns 0 or an error (which the caller forgives). */
static int save_index(const stc_dataset *ds, const char *index_path, const file_id *id)
{
    size_t n = ds->n_rows, plen = n * 12;
    char *data = stc_malloc(sizeof(stc_idx_header) + plen, "row index");
    if (!data)
        return STC_ERR_NOMEM;
    char *payload = data + sizeof(stc_idx_header);
    if (n) {
        memcpy(payload, ds->row_off, n * sizeof *ds->row_off);
        memcpy(payload + n * sizeof *ds->row_off, ds->row_len, n * sizeof *ds->row_len);
    }
    stc_idx_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, STC_IDX_MAGIC, 8);
    h.byte_order = STC_IDX_BYTE_ORDER;
    h.version = STC_IDX_VERSION;
    h.format = (uint32_t)ds->format;
    h.skip_bad_rows = (uint32_t)ds->skip_bad_rows;
    h.file_size = id->size;
    h.mtime_sec = id->sec;
    h.mtime_nsec = id->nsec;
    h.head_hash = id->head;
    h.tail_hash = id->tail;
    h.data_start = ds->data_start;
    h.n_rows = n;
    h.n_bad = ds->n_bad;
    h.n_invalid = ds->n_invalid;
    h.payload_hash = hash64(payload, plen);
    memcpy(h.first_bad, ds->first_bad, sizeof h.first_bad);
    memcpy(data, &h, sizeof h);
    int rc = stc_write_file_atomic(index_path, data, sizeof h + plen);
    free(data);
    return rc;
}

int stc_ds_row_index_open(stc_dataset *ds, const char *index_path)
{
    file_id id, after;
    int rc = file_identity(ds, &id);
    if (rc)
        return rc;
    ds->file_size = id.size;
    ds->mtime_sec = id.sec;
    ds->mtime_nsec = id.nsec;
    unsigned char bom[3];
    ds->data_start = 0;
    if (id.size >= 3 && !stc_ds_pread(ds, bom, 3, 0) && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF)
        ds->data_start = 3;
    if (index_path && try_load(ds, index_path, &id)) {
        ds->index_source = STC_INDEX_LOADED;
        return 0;
    }
    if ((rc = build_index(ds)))
        return rc;
    if ((rc = file_identity(ds, &after)))
        return rc;
    if (!same_identity(&id, &after))
        return stc_errorf(STC_ERR_DATA, "%s: the file changed while it was being indexed; try again", ds->path);
    ds->index_source = STC_INDEX_BUILT_MEMORY;
    if (index_path) {
        if (save_index(ds, index_path, &id) == 0)
            ds->index_source = STC_INDEX_BUILT_SAVED;
        else
            stc_error_clear(); /* a read-only directory: keep it in memory */
    }
    return 0;
}
