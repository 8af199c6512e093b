/* Tokenized blocks of rows for prepared datasets (see prepared.h). */
#include "data/prepared.h"
#include "data/sampler.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

int stc_prepared_block_init(stc_prepared_block *b, int n_text, int label_dim)
{
    memset(b, 0, sizeof *b);
    b->n_text = n_text;
    b->label_dim = label_dim;
    size_t k = (size_t)n_text;
    b->ids = calloc(k, sizeof *b->ids);
    b->n_ids = calloc(k, sizeof *b->n_ids);
    b->ids_cap = calloc(k, sizeof *b->ids_cap);
    b->id_len = calloc(k, sizeof *b->id_len);
    b->text = calloc(k, sizeof *b->text);
    b->n_text_bytes = calloc(k, sizeof *b->n_text_bytes);
    b->text_cap = calloc(k, sizeof *b->text_cap);
    b->text_len = calloc(k, sizeof *b->text_len);
    b->hash = calloc(k, sizeof *b->hash);
    if (!b->ids || !b->n_ids || !b->ids_cap || !b->id_len || !b->text || !b->n_text_bytes || !b->text_cap ||
        !b->text_len || !b->hash) {
        stc_prepared_block_free(b);
        return stc_errorf(STC_ERR_NOMEM, "out of memory for a block of rows");
    }
    return 0;
}

void stc_prepared_block_free(stc_prepared_block *b)
{
    for (int c = 0; c < b->n_text; c++) {
        if (b->ids)
            free(b->ids[c]);
        if (b->id_len)
            free(b->id_len[c]);
        if (b->text)
            free(b->text[c]);
        if (b->text_len)
            free(b->text_len[c]);
        if (b->hash)
            free(b->hash[c]);
    }
    free(b->ids);
    free(b->n_ids);
    free(b->ids_cap);
    free(b->id_len);
    free(b->text);
    free(b->n_text_bytes);
    free(b->text_cap);
    free(b->text_len);
    free(b->hash);
    free(b->labels);
    memset(b, 0, sizeof *b);
}

void stc_prepared_block_clear(stc_prepared_block *b)
{
    b->n_rows = 0;
    for (int c = 0; c < b->n_text; c++)
        b->n_ids[c] = b->n_text_bytes[c] = 0;
    b->n_truncated = 0;
    b->n_invalid_utf8 = 0;
}

/* Grows *p (elem-byte items, capacity *cap) to hold need items. */
/* memcpy of n bytes; an empty block's arrays may be NULL, and memcpy's
 * pointers must not be even for 0 bytes. */
static void copy(void *dst, const void *src, size_t n)
{
    if (n)
        memcpy(dst, src, n);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return stc_errorf(STC_ERR_NOMEM, "out of memory for a block of rows (%zu items)", need);
    *p = q;
    *cap = n;
    return 0;
}

static int reserve_rows(stc_prepared_block *b, size_t rows)
{
    if (rows <= b->rows_cap)
        return 0;
    size_t n = b->rows_cap ? b->rows_cap : 1024;
    while (n < rows)
        n *= 2;
    for (int c = 0; c < b->n_text; c++) {
        int64_t *il = realloc(b->id_len[c], n * sizeof *il);
        if (il)
            b->id_len[c] = il;
        int64_t *tl = realloc(b->text_len[c], n * sizeof *tl);
        if (tl)
            b->text_len[c] = tl;
        uint64_t *h = realloc(b->hash[c], n * sizeof *h);
        if (h)
            b->hash[c] = h;
        if (!il || !tl || !h)
            return stc_errorf(STC_ERR_NOMEM, "out of memory for a block of %zu rows", rows);
    }
    if (b->label_dim) {
        float *l = realloc(b->labels, n * (size_t)b->label_dim * sizeof *l);
        if (!l)
            return stc_errorf(STC_ERR_NOMEM, "out of memory for a block of %zu labels", rows);
        b->labels = l;
    }
    b->rows_cap = n;
    return 0;
}

int stc_prepared_block_add_rows(stc_prepared_block *b, const stc_tokenizer *tok, int max_seq_length,
                                const stc_rows *rows)
{
    int rc;
    size_t n = rows->n, base = b->n_rows;
    if ((rc = reserve_rows(b, base + n)))
        return rc;
    for (int c = 0; c < b->n_text; c++) {
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *t = stc_rows_text(rows, i, c, &len);
            if ((rc = grow((void **)&b->ids[c], &b->ids_cap[c], b->n_ids[c] + (size_t)max_seq_length,
                           sizeof(int32_t))) ||
                (rc = grow((void **)&b->text[c], &b->text_cap[c], b->n_text_bytes[c] + len + 1, 1)))
                return rc;
            int nt = 0, full = 0;
            /* The texts were already made valid UTF-8 by the reader. */
            if ((rc = stc_tokenizer_encode(tok, t, len, max_seq_length, b->ids[c] + b->n_ids[c], NULL, &nt, &full,
                                           NULL)))
                return rc;
            b->n_truncated += full > nt;
            b->n_ids[c] += (size_t)nt;
            b->id_len[c][base + i] = nt;
            memcpy(b->text[c] + b->n_text_bytes[c], t, len);
            b->n_text_bytes[c] += len;
            b->text_len[c][base + i] = (int64_t)len;
            b->hash[c][base + i] = stc_sampler_hash_text(t, len);
        }
    }
    if (b->label_dim)
        memcpy(b->labels + base * (size_t)b->label_dim, rows->labels, n * (size_t)b->label_dim * sizeof(float));
    b->n_invalid_utf8 += rows->n_invalid_utf8;
    b->n_rows = base + n;
    return 0;
}

/* Packed form: a header of int64s (n_rows, n_text, label_dim, n_truncated,
 * n_invalid, then per column n_ids and n_text_bytes), then per column the
 * id lengths, text lengths, hashes, ids and text bytes (each padded to 8
 * bytes), then the labels. Ranks of one job share the byte order. */
static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

int stc_prepared_block_pack(const stc_prepared_block *b, void **buf, size_t *len)
{
    size_t nt = (size_t)b->n_text, n = b->n_rows;
    size_t total = 8 * (5 + 2 * nt);
    for (size_t c = 0; c < nt; c++)
        total += 3 * 8 * n + pad8(4 * b->n_ids[c]) + pad8(b->n_text_bytes[c]);
    total += pad8(sizeof(float) * n * (size_t)b->label_dim);
    char *p = malloc(total ? total : 1);
    if (!p)
        return stc_errorf(STC_ERR_NOMEM, "out of memory packing a block of %zu rows", n);
    memset(p, 0, total);
    int64_t *h = (int64_t *)p;
    h[0] = (int64_t)n;
    h[1] = (int64_t)nt;
    h[2] = b->label_dim;
    h[3] = b->n_truncated;
    h[4] = b->n_invalid_utf8;
    for (size_t c = 0; c < nt; c++) {
        h[5 + 2 * c] = (int64_t)b->n_ids[c];
        h[6 + 2 * c] = (int64_t)b->n_text_bytes[c];
    }
    size_t o = 8 * (5 + 2 * nt);
    for (size_t c = 0; c < nt; c++) {
        copy(p + o, b->id_len[c], 8 * n), o += 8 * n;
        copy(p + o, b->text_len[c], 8 * n), o += 8 * n;
        copy(p + o, b->hash[c], 8 * n), o += 8 * n;
        if (b->n_ids[c])
            memcpy(p + o, b->ids[c], 4 * b->n_ids[c]);
        o += pad8(4 * b->n_ids[c]);
        if (b->n_text_bytes[c])
            memcpy(p + o, b->text[c], b->n_text_bytes[c]);
        o += pad8(b->n_text_bytes[c]);
    }
    if (b->label_dim && n)
        memcpy(p + o, b->labels, sizeof(float) * n * (size_t)b->label_dim);
    *buf = p;
    *len = total;
    return 0;
}

int stc_prepared_block_unpack(stc_prepared_block *b, const void *buf, size_t len)
{
    const char *p = buf;
    const int64_t *h = buf;
    stc_prepared_block_clear(b);
    if (len < 40 || h[1] != b->n_text || h[2] != b->label_dim || h[0] < 0)
        return stc_errorf(STC_ERR_INTERNAL, "a packed block does not match this dataset's columns");
    size_t n = (size_t)h[0], nt = (size_t)b->n_text;
    int rc;
    if ((rc = reserve_rows(b, n)))
        return rc;
    size_t o = 8 * (5 + 2 * nt);
    for (size_t c = 0; c < nt; c++) {
        size_t ni = (size_t)h[5 + 2 * c], tb = (size_t)h[6 + 2 * c];
        if ((rc = grow((void **)&b->ids[c], &b->ids_cap[c], ni, sizeof(int32_t))) ||
            (rc = grow((void **)&b->text[c], &b->text_cap[c], tb + 1, 1)))
            return rc;
        copy(b->id_len[c], p + o, 8 * n), o += 8 * n;
        copy(b->text_len[c], p + o, 8 * n), o += 8 * n;
        copy(b->hash[c], p + o, 8 * n), o += 8 * n;
        copy(b->ids[c], p + o, 4 * ni), o += pad8(4 * ni);
        copy(b->text[c], p + o, tb), o += pad8(tb);
        b->n_ids[c] = ni;
        b->n_text_bytes[c] = tb;
    }
    if (b->label_dim && n)
        memcpy(b->labels, p + o, sizeof(float) * n * (size_t)b->label_dim);
    b->n_rows = n;
    b->n_truncated = (long)h[3];
    b->n_invalid_utf8 = (long)h[4];
    return 0;
}
