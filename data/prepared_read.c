/* Reading prepared datasets: the HDF5 backend of stc_dataset (see
 * prepared.h for the layout, dataset.h for the API). Every read touches only
 * the requested rows: their offsets (a point selection), then each row's
 * ids or text bytes (a hyperslab). */
#include "data/dataset_internal.h"
#include "data/h5_attrs.h"
#include "data/prepared.h"
#include "data/sampler.h"
#include "util/fileio.h"
#include "util/error.h"

#include <cjson/cJSON.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    hid_t file;
    int n_text;
    hid_t *ids, *offs, *text, *toffs, *hash; /* (n_text) */
    hsize_t *n_ids, *n_bytes;                /* (n_text) sizes of input_ids / text */
    hid_t label;
    int label_2d;
    char tokenizer_hash[17];
    int max_seq_length;
    hsize_t *coords;                         /* point-selection scratch */
    size_t coords_cap;
    int64_t *pair;                           /* (2n) offsets of the rows read */
    size_t pair_cap;
    size_t *order;                           /* (n) the rows by file offset */
    size_t order_cap;
    char *gather;                            /* the distinct slices, in file order */
    size_t gather_cap;
} prepared;

static void prepared_close(stc_dataset *ds)
{
    prepared *p = ds->backend_data;
    if (!p)
        return;
    for (int c = 0; c < p->n_text; c++) {
        hid_t *sets[] = {p->ids, p->offs, p->text, p->toffs, p->hash};
        for (int s = 0; s < 5; s++)
            if (sets[s] && sets[s][c] >= 0)
                H5Dclose(sets[s][c]);
    }
    if (p->label >= 0)
        H5Dclose(p->label);
    if (p->file >= 0)
        H5Fclose(p->file);
    free(p->ids);
    free(p->offs);
    free(p->text);
    free(p->toffs);
    free(p->hash);
    free(p->n_ids);
    free(p->n_bytes);
    free(p->coords);
    free(p->pair);
    free(p->order);
    free(p->gather);
    free(p);
    ds->backend_data = NULL;
}

/* Opens dataset name under g, checks it is rank-1 (or rank-2 if allowed)
 * of type class cls and element size (bytes), and gives its first
 * dimension. HDF5 would convert other types on read without a word, so a
 * dataset of the wrong type is refused instead (RELIABILITY.md). */
static hid_t open_1d(hid_t g, const char *name, H5T_class_t cls, size_t size, hsize_t *len, int allow_2d,
                     int *is_2d)
{
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
        return -1;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t t = H5Dget_type(d);
    int ok = t >= 0 && H5Tget_class(t) == cls && H5Tget_size(t) == size;
    if (t >= 0)
        H5Tclose(t);
    if (!ok) {
        H5Dclose(d);
        return -1;
    }
    hid_t sp = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[2] = {0, 0};
    if (r >= 1 && r <= 2)
        H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    if (r != 1 && !(allow_2d && r == 2)) {
        H5Dclose(d);
        return -1;
    }
    if (is_2d)
        *is_2d = r == 2;
    *len = dims[0];
    return d;
}

static int grow_coords(prepared *p, size_t n)
{
    if (n <= p->coords_cap)
        return 0;
    hsize_t *c = realloc(p->coords, n * sizeof *c);
    if (!c)
        return stc_errorf(STC_ERR_NOMEM, "out of memory for %zu selection points", n);
    p->coords = c;
    p->coords_cap = n;
    return 0;
}

/* out[2i], out[2i+1] = d[rows[i]], d[rows[i] + 1] (an offsets dataset), in
 * request order (a point selection keeps the order of its points). */
static int read_pairs(const stc_dataset *ds, prepared *p, hid_t d, const size_t *rows, size_t n)
{
    int rc;
    if ((rc = grow_coords(p, 2 * n)))
        return rc;
    if (2 * n > p->pair_cap) {
        int64_t *q = realloc(p->pair, 2 * n * sizeof *q);
        if (!q)
            return stc_errorf(STC_ERR_NOMEM, "out of memory for %zu offsets", 2 * n);
        p->pair = q;
        p->pair_cap = 2 * n;
    }
    for (size_t i = 0; i < n; i++) {
        p->coords[2 * i] = rows[i];
        p->coords[2 * i + 1] = rows[i] + 1;
    }
    hsize_t m = 2 * n;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &m, NULL);
    herr_t e = H5Sselect_elements(fs, H5S_SELECT_SET, m, p->coords);
    if (e >= 0)
        e = H5Dread(d, H5T_NATIVE_INT64, ms, fs, H5P_DEFAULT, p->pair);
    H5Sclose(ms);
    H5Sclose(fs);
    if (e < 0)
        return stc_errorf(STC_ERR_DATA, "%s: cannot read row offsets (truncated or damaged file?)", ds->path);
    return 0;
}

/* Reads d[a, b) (elements of mem type mt) into out. */
static int read_range(hid_t d, hid_t mt, hsize_t a, hsize_t b, void *out)
{
    if (b == a)
        return 0;
    hsize_t cnt = b - a;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &cnt, NULL);
    herr_t e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &a, NULL, &cnt, NULL);
    if (e >= 0)
        e = H5Dread(d, mt, ms, fs, H5P_DEFAULT, out);
    H5Sclose(ms);
    H5Sclose(fs);
    return e < 0 ? -1 : 0;
}

/* The labels of rows[0..n) into out->labels (point selection, in order). */
static int read_labels(const stc_dataset *ds, prepared *p, const size_t *rows, size_t n, stc_rows *out)
{
    int dim = ds->schema.label_dim;
    if (!dim || !n)
        return 0;
    int rank = p->label_2d ? 2 : 1, rc;
    size_t m = n * (size_t)dim;
    if ((rc = grow_coords(p, m * (size_t)rank)))
        return rc;
    for (size_t i = 0, k = 0; i < n; i++)
        for (int j = 0; j < dim; j++) {
            p->coords[k++] = rows[i];
            if (rank == 2)
                p->coords[k++] = (hsize_t)j;
        }
    hsize_t mm = m;
    hid_t fs = H5Dget_space(p->label), ms = H5Screate_simple(1, &mm, NULL);
    herr_t e = H5Sselect_elements(fs, H5S_SELECT_SET, m, p->coords);
    if (e >= 0)
        e = H5Dread(p->label, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out->labels);
    H5Sclose(ms);
    H5Sclose(fs);
    return e < 0 ? stc_errorf(STC_ERR_DATA, "%s: cannot read labels (truncated or damaged file?)", ds->path) : 0;
}

static int bad_offsets(const stc_dataset *ds, const char *col, size_t row)
{
    return stc_errorf(STC_ERR_DATA, "%s: column \"%s\", row %zu: offsets out of order or past the end (damaged file)",
                      ds->path, col, row);
}

/* qsort context for ordering rows by their first element. */
static const int64_t *sort_pairs;

static int by_start(const void *x, const void *y)
{
    int64_t a = sort_pairs[2 * *(const size_t *)x], b = sort_pairs[2 * *(const size_t *)y];
    return (a > b) - (a < b);
}

/* Appends the rows' slices of column c's ragged data d (offsets od; n_data
 * elements of elem bytes, read as mem type mt) to *buf (capacity *cap
 * bytes; element count *used), each followed by `pad` zero elements (a
 * NUL for texts); at[i] gets row i's first element, len[i] its length.
 * max_len bounds a row (0: none). `what` names the data in errors.
 *
 * One H5Dread per call: the distinct slices, ordered by offset, form one
 * union selection (HDF5 transfers a selection in file order), then each
 * request is copied out in request order. A read per row costs ~25 us of
 * HDF5 overhead, which at 128 texts a batch is milliseconds. */
static int read_ragged(const stc_dataset *ds, prepared *p, int c, hid_t od, hid_t d, hid_t mt, size_t elem,
                       hsize_t n_data, int64_t max_len, size_t pad, const size_t *rows, size_t n, void **buf,
                       size_t *cap, size_t *used, size_t *at, size_t *len, const char *what)
{
    int rc;
    const char *col = stc_dataset_text_column_name(ds, c);
    if ((rc = read_pairs(ds, p, od, rows, n)))
        return rc;
    size_t need = *used;
    for (size_t i = 0; i < n; i++) {
        int64_t a = p->pair[2 * i], b = p->pair[2 * i + 1];
        if (a < 0 || b < a || (hsize_t)b > n_data || (max_len && b - a > max_len))
            return bad_offsets(ds, col, rows[i]);
        need += (size_t)(b - a) + pad;
    }
    if (need * elem > *cap) {
        void *q = realloc(*buf, 2 * need * elem);
        if (!q)
            return stc_errorf(STC_ERR_NOMEM, "out of memory for %zu %s", need, what);
        *buf = q;
        *cap = 2 * need * elem;
    }
    if (n > p->order_cap) {
        size_t *o = realloc(p->order, n * sizeof *o);
        if (!o)
            return stc_errorf(STC_ERR_NOMEM, "out of memory for %zu rows", n);
        p->order = o;
        p->order_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        p->order[i] = i;
    sort_pairs = p->pair;
    qsort(p->order, n, sizeof *p->order, by_start);
    /* The union of the distinct non-empty slices; g_at[i] (kept in at[])
     * is each request's place in the gathered buffer. */
    hid_t fs = H5Dget_space(d);
    hsize_t total = 0, last_a = (hsize_t)-1;
    size_t last_i = 0; /* the request whose slice was selected last */
    int any = 0;
    herr_t e = fs < 0 ? -1 : 0;
    for (size_t k = 0; e >= 0 && k < n; k++) {
        size_t i = p->order[k];
        hsize_t a = (hsize_t)p->pair[2 * i], cnt = (hsize_t)(p->pair[2 * i + 1] - p->pair[2 * i]);
        if (cnt == 0) {
            at[i] = 0;
            continue;
        }
        if (a == last_a) { /* the same row again (a non-empty slice starting there is that row) */
            at[i] = at[last_i];
            continue;
        }
        at[i] = (size_t)total;
        e = H5Sselect_hyperslab(fs, any ? H5S_SELECT_OR : H5S_SELECT_SET, &a, NULL, &cnt, NULL);
        any = 1;
        last_a = a;
        last_i = i;
        total += cnt;
    }
    if (e >= 0 && total * elem > p->gather_cap) {
        char *g = realloc(p->gather, (size_t)total * elem);
        if (!g) {
            H5Sclose(fs);
            return stc_errorf(STC_ERR_NOMEM, "out of memory for %llu %s", (unsigned long long)total, what);
        }
        p->gather = g;
        p->gather_cap = (size_t)total * elem;
    }
    if (e >= 0 && total) {
        hid_t ms = H5Screate_simple(1, &total, NULL);
        e = H5Dread(d, mt, ms, fs, H5P_DEFAULT, p->gather);
        H5Sclose(ms);
    }
    if (fs >= 0)
        H5Sclose(fs);
    if (e < 0)
        return stc_errorf(STC_ERR_DATA, "%s: column \"%s\": cannot read the %s of %zu rows (truncated or damaged "
                          "file?)", ds->path, col, what, n);
    for (size_t i = 0; i < n; i++) {
        len[i] = (size_t)(p->pair[2 * i + 1] - p->pair[2 * i]);
        char *dst = (char *)*buf + *used * elem;
        memcpy(dst, p->gather + at[i] * elem, len[i] * elem);
        at[i] = *used;
        *used += len[i];
        memset((char *)*buf + *used * elem, 0, pad * elem);
        *used += pad;
    }
    return 0;
}

/* The end of a row read: the rows' labels and out's counts. */
static int finish_read(const stc_dataset *ds, prepared *p, const size_t *rows, size_t n, stc_rows *out)
{
    int rc = read_labels(ds, p, rows, n, out);
    if (rc)
        return rc;
    out->n = n;
    out->n_text_columns = p->n_text;
    out->label_dim = ds->schema.label_dim;
    out->n_invalid_utf8 = 0;
    return 0;
}

static int prepared_read_tokens(const stc_dataset *ds, const size_t *rows, size_t n, stc_rows *out)
{
    prepared *p = ds->backend_data;
    int nt = p->n_text, dim = ds->schema.label_dim, rc;
    if ((rc = stc_ds_rows_reserve(out, n, nt, dim)))
        return rc;
    size_t cells = (size_t)nt * n;
    if (cells + 1 > out->tok_off_cap) {
        size_t *o = realloc(out->tok_off, (cells + 1) * sizeof *o);
        if (!o)
            return stc_errorf(STC_ERR_NOMEM, "out of memory for %zu texts", cells);
        out->tok_off = o;
        out->tok_off_cap = cells + 1;
    }
    /* Each row's ids follow the previous row's: tok_off[s + 1] = where text
     * s ends (text_lens serves as scratch for the lengths). */
    size_t used = 0, cap = out->tok_ids_cap * sizeof(int32_t);
    void *buf = out->tok_ids;
    for (int c = 0; c < nt && !rc; c++)
        rc = read_ragged(ds, p, c, p->offs[c], p->ids[c], H5T_NATIVE_INT32, sizeof(int32_t), p->n_ids[c],
                         p->max_seq_length, 0, rows, n, &buf, &cap, &used, out->tok_off + (size_t)c * n,
                         out->text_lens + (size_t)c * n, "token ids");
    out->tok_ids = buf;
    out->tok_ids_cap = cap / sizeof(int32_t);
    if (rc)
        return rc;
    out->tok_off[cells] = used;
    return finish_read(ds, p, rows, n, out);
}

static int prepared_read_rows(const stc_dataset *ds, const size_t *rows, size_t n, stc_rows *out)
{
    prepared *p = ds->backend_data;
    int nt = p->n_text, dim = ds->schema.label_dim, rc;
    if ((rc = stc_ds_rows_reserve(out, n, nt, dim)))
        return rc;
    size_t used = 0, cap = out->buf_cap;
    void *buf = out->buf;
    for (int c = 0; c < nt && !rc; c++)
        rc = read_ragged(ds, p, c, p->toffs[c], p->text[c], H5T_NATIVE_UINT8, 1, p->n_bytes[c], 0, 1, rows, n,
                         &buf, &cap, &used, out->offs + (size_t)c * n, out->text_lens + (size_t)c * n, "text");
    out->buf = buf;
    out->buf_cap = cap;
    if (rc)
        return rc;
    for (size_t k = 0; k < (size_t)nt * n; k++)
        out->texts[k] = out->buf + out->offs[k];
    out->buf_len = used;
    return finish_read(ds, p, rows, n, out);
}

static int prepared_read_meta(const stc_dataset *ds, size_t start, size_t n, uint64_t *hashes, float *labels)
{
    prepared *p = ds->backend_data;
    int nt = p->n_text, dim = ds->schema.label_dim;
    if (hashes && n) {
        uint64_t *col = malloc(sizeof(uint64_t) * n);
        if (!col)
            return stc_errorf(STC_ERR_NOMEM, "out of memory for %zu hashes", n);
        for (int c = 0; c < nt; c++) {
            if (read_range(p->hash[c], H5T_NATIVE_UINT64, start, start + n, col)) {
                free(col);
                return stc_errorf(STC_ERR_DATA, "%s: cannot read column \"%s\"'s text hashes (damaged file?)",
                                  ds->path, stc_dataset_text_column_name(ds, c));
            }
            for (size_t i = 0; i < n; i++)
                hashes[i * (size_t)nt + (size_t)c] = col[i];
        }
        free(col);
    }
    if (labels && dim && n) {
        hsize_t st[2] = {start, 0}, cnt[2] = {n, (hsize_t)dim};
        int rank = p->label_2d ? 2 : 1;
        hid_t fs = H5Dget_space(p->label), ms = H5Screate_simple(rank, cnt, NULL);
        herr_t e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, cnt, NULL);
        if (e >= 0)
            e = H5Dread(p->label, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, labels);
        H5Sclose(ms);
        H5Sclose(fs);
        if (e < 0)
            return stc_errorf(STC_ERR_DATA, "%s: cannot read the labels (damaged file?)", ds->path);
    }
    return 0;
}

static const stc_dataset_backend prepared_backend = {
    .name = "prepared",
    .read_rows = prepared_read_rows,
    .read_tokens = prepared_read_tokens,
    .read_meta = prepared_read_meta,
    .close = prepared_close,
};

/* Fills p and the schema from the open file; errors name what is wrong. */
static int load_layout(stc_dataset *ds, prepared *p)
{
    const char *path = ds->path;
    char *fmt = stc_h5_attr_read_string(p->file, "stc_format");
    int ours = fmt && !strcmp(fmt, STC_PREPARED_FORMAT);
    free(fmt);
    if (!ours)
        return stc_errorf(STC_ERR_DATA, "%s: an HDF5 file, but not a dataset written by stc prepare (no "
                          "stc_format = \"" STC_PREPARED_FORMAT "\" attribute)", path);
    long long ver = 0, n_rows = -1, msl = 0;
    if (stc_h5_attr_read_long(p->file, "stc_format_version", &ver) || ver != STC_PREPARED_VERSION)
        return stc_errorf(STC_ERR_DATA, "%s: prepared-dataset format version %lld; this stc reads version %d "
                          "(re-run stc prepare)", path, ver, STC_PREPARED_VERSION);
    char *cols = stc_h5_attr_read_string(p->file, "columns"), *label = stc_h5_attr_read_string(p->file, "label_column");
    char *kind = stc_h5_attr_read_string(p->file, "label_kind"), *th = stc_h5_attr_read_string(p->file, "tokenizer_hash");
    int rc = 0;
    cJSON *arr = cols ? cJSON_Parse(cols) : NULL;
    if (stc_h5_attr_read_long(p->file, "n_rows", &n_rows) || n_rows < 0 || stc_h5_attr_read_long(p->file, "max_seq_length", &msl) ||
        msl <= 0 || !arr || !cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 ||
        cJSON_GetArraySize(arr) > STC_DATASET_MAX_COLUMNS || !label || !kind || !th || strlen(th) != 16 ||
        (strcmp(kind, "none") && strcmp(kind, "scalar") && strcmp(kind, "vector")) ||
        (!strcmp(kind, "none")) != (label[0] == 0)) {
        rc = stc_errorf(STC_ERR_DATA, "%s: damaged prepared dataset: missing or malformed root attributes "
                        "(n_rows, columns, label_column, label_kind, tokenizer_hash, max_seq_length)", path);
        goto out;
    }
    memcpy(p->tokenizer_hash, th, 17);
    p->max_seq_length = (int)msl;
    ds->n_rows = (size_t)n_rows;
    int nt = cJSON_GetArraySize(arr), has_label = label[0] != 0;
    p->n_text = nt;
    p->ids = malloc(sizeof(hid_t) * (size_t)nt);
    p->offs = malloc(sizeof(hid_t) * (size_t)nt);
    p->text = malloc(sizeof(hid_t) * (size_t)nt);
    p->toffs = malloc(sizeof(hid_t) * (size_t)nt);
    p->hash = malloc(sizeof(hid_t) * (size_t)nt);
    p->n_ids = calloc((size_t)nt, sizeof(hsize_t));
    p->n_bytes = calloc((size_t)nt, sizeof(hsize_t));
    char **names = calloc((size_t)nt + 1, sizeof(char *));
    if (!p->ids || !p->offs || !p->text || !p->toffs || !p->hash || !p->n_ids || !p->n_bytes || !names) {
        free(names);
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int c = 0; c < nt; c++)
        p->ids[c] = p->offs[c] = p->text[c] = p->toffs[c] = p->hash[c] = -1;
    int c = 0;
    for (const cJSON *it = arr->child; it; it = it->next, c++) {
        if (!cJSON_IsString(it) || !(names[c] = strdup(it->valuestring))) {
            rc = stc_errorf(STC_ERR_DATA, "%s: damaged prepared dataset: \"columns\" must list column names", path);
            break;
        }
        char grp[64 + 1024];
        if (strlen(it->valuestring) > 1024) {
            rc = stc_errorf(STC_ERR_DATA, "%s: column name too long", path);
            break;
        }
        snprintf(grp, sizeof grp, "columns/%s", it->valuestring);
        hid_t g = H5Lexists(p->file, "columns", H5P_DEFAULT) > 0 && H5Lexists(p->file, grp, H5P_DEFAULT) > 0
                      ? H5Gopen2(p->file, grp, H5P_DEFAULT)
                      : -1;
        hsize_t lo = 0, lto = 0, lh = 0;
        if (g >= 0) {
            p->ids[c] = open_1d(g, "input_ids", H5T_INTEGER, 4, &p->n_ids[c], 0, NULL);
            p->offs[c] = open_1d(g, "offsets", H5T_INTEGER, 8, &lo, 0, NULL);
            p->text[c] = open_1d(g, "text", H5T_INTEGER, 1, &p->n_bytes[c], 0, NULL);
            p->toffs[c] = open_1d(g, "text_offsets", H5T_INTEGER, 8, &lto, 0, NULL);
            p->hash[c] = open_1d(g, "text_hash", H5T_INTEGER, 8, &lh, 0, NULL);
            H5Gclose(g);
        }
        if (g < 0 || p->ids[c] < 0 || p->offs[c] < 0 || p->text[c] < 0 || p->toffs[c] < 0 || p->hash[c] < 0 ||
            lo != (hsize_t)n_rows + 1 || lto != (hsize_t)n_rows + 1 || lh != (hsize_t)n_rows) {
            rc = stc_errorf(STC_ERR_DATA, "%s: damaged prepared dataset: group \"%s\" lacks input_ids, offsets, "
                            "text, text_offsets or text_hash of %lld rows (with the types of the layout)", path, grp, n_rows);
            break;
        }
        /* The last offsets must end the flat arrays: a cheap check that the
         * file was completely written. */
        int64_t last[2] = {-1, -1};
        if (read_range(p->offs[c], H5T_NATIVE_INT64, (hsize_t)n_rows, (hsize_t)n_rows + 1, &last[0]) ||
            read_range(p->toffs[c], H5T_NATIVE_INT64, (hsize_t)n_rows, (hsize_t)n_rows + 1, &last[1]) ||
            last[0] != (int64_t)p->n_ids[c] || last[1] != (int64_t)p->n_bytes[c]) {
            rc = stc_errorf(STC_ERR_DATA, "%s: damaged prepared dataset: column \"%s\"'s offsets do not end at its "
                            "data (a truncated or partly written file?)", path, it->valuestring);
            break;
        }
    }
    if (!rc && has_label) {
        names[nt] = strdup(label);
        hsize_t ln = 0;
        p->label = names[nt] ? open_1d(p->file, "label", H5T_FLOAT, 4, &ln, 1, &p->label_2d) : -1;
        if (p->label < 0 || ln != (hsize_t)n_rows || p->label_2d != !strcmp(kind, "vector")) {
            rc = stc_errorf(STC_ERR_DATA, "%s: damaged prepared dataset: \"label\" missing or not [%lld%s]", path,
                            n_rows, p->label_2d ? ", D" : "");
        }
    }
    if (rc) {
        for (int k = 0; k <= nt; k++)
            free(names[k]);
        free(names);
        goto out;
    }
    /* The schema, as the text formats build it from a header. */
    if ((rc = stc_ds_schema_set(&ds->schema, names, nt + has_label, path)))
        goto out;
    if (has_label) {
        int dim = 1;
        if (p->label_2d) {
            hid_t sp = H5Dget_space(p->label);
            hsize_t dims[2];
            H5Sget_simple_extent_dims(sp, dims, NULL);
            H5Sclose(sp);
            dim = (int)dims[1];
        }
        ds->schema.label_kind = p->label_2d ? STC_LABEL_VECTOR : STC_LABEL_SCALAR;
        ds->schema.label_dim = dim;
    }
    long long nb = 0, ni = 0;
    stc_h5_attr_read_long(p->file, "n_bad_rows", &nb);
    stc_h5_attr_read_long(p->file, "n_invalid_utf8", &ni);
    ds->n_bad = (size_t)(nb > 0 ? nb : 0);
    ds->n_invalid = (size_t)(ni > 0 ? ni : 0);
out:
    cJSON_Delete(arr);
    free(cols);
    free(label);
    free(kind);
    free(th);
    return rc;
}

int stc_ds_prepared_open(stc_dataset **out, const char *path)
{
    *out = NULL;
    stc_dataset *ds = stc_calloc(1, sizeof *ds, "dataset");
    prepared *p = stc_calloc(1, sizeof *p, "prepared dataset");
    if (!ds || !p) {
        free(ds);
        free(p);
        return STC_ERR_NOMEM;
    }
    ds->fd = -1;
    ds->format = STC_DATASET_PREPARED;
    ds->backend = &prepared_backend;
    ds->backend_data = p;
    ds->schema.label_col = -1;
    ds->index_source = STC_INDEX_LOADED;
    p->label = -1;
    p->file = -1;
    ds->path = strdup(path);
    if (!ds->path) {
        stc_dataset_close(ds);
        return STC_ERR_NOMEM;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported by us, once */
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        int rc = is < 0 ? stc_errorf(STC_ERR_IO, "%s: cannot open (missing or unreadable?)", path)
                        : stc_errorf(STC_ERR_DATA, "%s: not an HDF5 file (a prepared dataset is written by stc "
                                     "prepare)", path);
        stc_dataset_close(ds);
        return rc;
    }
    p->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (p->file < 0) {
        stc_dataset_close(ds);
        return stc_errorf(STC_ERR_DATA, "%s: HDF5 cannot open it (truncated or damaged file?)", path);
    }
    int rc = load_layout(ds, p);
    if (rc) {
        stc_dataset_close(ds);
        return rc;
    }
    *out = ds;
    return 0;
}

int stc_dataset_is_prepared(const stc_dataset *ds)
{
    return ds->format == STC_DATASET_PREPARED;
}

const char *stc_dataset_prepared_tokenizer_hash(const stc_dataset *ds)
{
    return stc_dataset_is_prepared(ds) ? ((const prepared *)ds->backend_data)->tokenizer_hash : NULL;
}

int stc_dataset_prepared_max_seq_length(const stc_dataset *ds)
{
    return stc_dataset_is_prepared(ds) ? ((const prepared *)ds->backend_data)->max_seq_length : 0;
}

int stc_prepared_tokenizer_hash(const char *tokenizer_dir, int do_lower_case, char out[17])
{
    const char *main_files[] = {"tokenizer.json", "vocab.txt"};
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)(do_lower_case + 2);
    int found = 0;
    for (int i = 0; i < 2 && !found; i++) {
        char *path = stc_path_join(tokenizer_dir, main_files[i]);
        if (!path)
            return STC_ERR_NOMEM;
        if (stc_is_file(path)) {
            char *data;
            size_t len;
            int rc = stc_read_file(path, &data, &len);
            free(path);
            if (rc)
                return rc;
            h = h * 31 + stc_sampler_hash_text(data, len) + (uint64_t)i;
            free(data);
            found = 1;
        } else {
            free(path);
        }
    }
    if (!found)
        return stc_errorf(STC_ERR_DATA, "%s: no tokenizer.json or vocab.txt to identify the tokenizer by",
                          tokenizer_dir);
    char *cfg = stc_path_join(tokenizer_dir, "tokenizer_config.json");
    if (!cfg)
        return STC_ERR_NOMEM;
    if (stc_is_file(cfg)) {
        char *data;
        size_t len;
        int rc = stc_read_file(cfg, &data, &len);
        if (rc) {
            free(cfg);
            return rc;
        }
        h = h * 31 + stc_sampler_hash_text(data, len);
        free(data);
    }
    free(cfg);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return 0;
}

int stc_dataset_check_prepared(const stc_dataset *ds, const char *tokenizer_dir, int do_lower_case,
                               int max_seq_length)
{
    if (!stc_dataset_is_prepared(ds))
        return 0;
    const prepared *p = ds->backend_data;
    char h[17];
    int rc = stc_prepared_tokenizer_hash(tokenizer_dir, do_lower_case, h);
    if (rc)
        return rc;
    if (strcmp(h, p->tokenizer_hash))
        return stc_errorf(STC_ERR_DATA, "%s: prepared with another tokenizer (tokenizer_hash %s) than the model's in %s "
                          "(%s); re-run stc prepare with this model", ds->path, p->tokenizer_hash, tokenizer_dir, h);
    if (p->max_seq_length != max_seq_length)
        return stc_errorf(STC_ERR_DATA, "%s: prepared with max_seq_length %d but training uses %d; re-run stc prepare "
                          "with --max-seq-length %d", ds->path, p->max_seq_length, max_seq_length, max_seq_length);
    return 0;
}
