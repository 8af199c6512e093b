/*
 * libFuzzer harness for the dataset record parsers (JSONL, CSV, TSV) and the
 * row index scan (RELIABILITY.md, "Untrusted input"). Built by
 * tests/cmake/dataset.cmake as `fuzz_dataset` (clang) and as
 * `fuzz_replay_dataset`, which replays fixtures/dataset/corpus under
 * ASan/UBSan in ctest.
 *
 * Every input is opened as all three formats, strict and with
 * skip_bad_rows, from a memfd (index in memory). Beyond "no crash", it
 * checks what an accepted dataset promises and aborts if one is broken:
 *   - every indexed record lies inside the input, in order, none empty;
 *   - a strict open that succeeds left nothing out, and the skipping open
 *     of the same input then succeeds with the same rows;
 *   - every row reads back; texts are valid UTF-8, NUL-terminated at their
 *     length; labels are finite and label_dim wide; the replacements
 *     counted by the reads add up to the scan's count;
 *   - reading rows one at a time in reverse gives the same bytes;
 *   - an indexing scan that reads a few bytes at a time (records straddle
 *     reads everywhere) gives the same index, counters and errors;
 * and a rejected input's message names the input.
 */
#include "data/dataset.h"
#include "data/dataset_internal.h"
#include "util/error.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* 1 if s[0..n) is valid UTF-8 (NUL allowed); independent of the reader. */
static int valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* Opens data as format from a memfd, the scan reading chunk bytes at a time
 * (0: the default). */
static int open_input(stc_dataset **ds, const uint8_t *data, size_t size, stc_dataset_format f, const char *name,
                      int skip, size_t chunk)
{
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    for (size_t off = 0; off < size;) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
    stc_dataset_opts o = {.skip_bad_rows = skip, .index_path = ""};
    return stc_dataset_open_fd(ds, fd, name, f, &o, chunk);
}

static void check_accepted(const stc_dataset *ds, size_t size)
{
    size_t n = stc_dataset_num_rows(ds);
    for (size_t i = 0; i < n; i++) {
        if (ds->row_len[i] == 0 || ds->row_off[i] > size || ds->row_len[i] > size - ds->row_off[i])
            abort();
        if (i && ds->row_off[i] < ds->row_off[i - 1] + ds->row_len[i - 1])
            abort();
    }
    int nt = stc_dataset_num_text_columns(ds), dim = stc_dataset_label_dim(ds);
    if (n && nt < 1)
        abort();
    size_t *rows = malloc((n ? n : 1) * sizeof *rows);
    uint64_t *h = malloc((n * (size_t)(nt > 0 ? nt : 1) + 1) * sizeof *h);
    if (!rows || !h)
        abort();
    for (size_t i = 0; i < n; i++)
        rows[i] = i;
    stc_rows r;
    stc_rows_init(&r);
    if (stc_dataset_read_rows(ds, rows, n, &r) != 0)
        abort();
    if (r.n != n || (n && (r.n_text_columns != nt || r.label_dim != dim)))
        abort();
    if ((size_t)r.n_invalid_utf8 != stc_dataset_num_invalid_utf8(ds))
        abort();
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < nt; c++) {
            size_t l;
            const char *t = stc_rows_text(&r, i, c, &l);
            if (t[l] != '\0' || !valid_utf8((const unsigned char *)t, l))
                abort();
            h[i * (size_t)nt + (size_t)c] = hash_bytes(t, l);
        }
        for (int d = 0; d < dim; d++)
            if (!isfinite(r.labels[i * (size_t)dim + (size_t)d]))
                abort();
    }
    for (size_t i = n; i-- > 0;) {
        if (stc_dataset_read_rows(ds, &i, 1, &r) != 0)
            abort();
        for (int c = 0; c < nt; c++) {
            size_t l;
            const char *t = stc_rows_text(&r, 0, c, &l);
            if (hash_bytes(t, l) != h[i * (size_t)nt + (size_t)c])
                abort();
        }
    }
    stc_rows_free(&r);
    free(rows);
    free(h);
}

/* The scan with small reads must agree with the default one. */
static void check_small_reads(const stc_dataset *ds, int rc, const char *msg, const uint8_t *data, size_t size,
                              stc_dataset_format f, const char *name, int skip)
{
    size_t chunk = size <= 1024 ? 1 + size % 5 : 64 + size % 61;
    stc_dataset *d2 = NULL;
    int rc2 = open_input(&d2, data, size, f, name, skip, chunk);
    if (rc2 != rc)
        abort();
    if (rc) {
        if (strcmp(msg, stc_error_message()))
            abort();
        return;
    }
    size_t n = ds->n_rows;
    if (d2->n_rows != n || d2->n_bad != ds->n_bad || d2->n_invalid != ds->n_invalid ||
        strcmp(d2->first_bad, ds->first_bad) ||
        (n && (memcmp(d2->row_off, ds->row_off, n * sizeof *ds->row_off) ||
               memcmp(d2->row_len, ds->row_len, n * sizeof *ds->row_len))) ||
        stc_dataset_num_text_columns(d2) != stc_dataset_num_text_columns(ds) ||
        stc_dataset_label_dim(d2) != stc_dataset_label_dim(ds) ||
        stc_dataset_label_kind(d2) != stc_dataset_label_kind(ds))
        abort();
    stc_dataset_close(d2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        stc_dataset_format f;
        const char *name;
    } fmts[] = {{STC_DATASET_JSONL, "fuzz-input.jsonl"},
                {STC_DATASET_CSV, "fuzz-input.csv"},
                {STC_DATASET_TSV, "fuzz-input.tsv"}};
    for (int k = 0; k < 3; k++) {
        size_t strict_rows = 0;
        int strict_ok = 0;
        for (int skip = 0; skip < 2; skip++) {
            stc_dataset *ds = NULL;
            int rc = open_input(&ds, data, size, fmts[k].f, fmts[k].name, skip, 0);
            char msg[8192];
            snprintf(msg, sizeof msg, "%s", stc_error_message());
            check_small_reads(ds, rc, msg, data, size, fmts[k].f, fmts[k].name, skip);
            if (rc != 0) {
                if (!strstr(msg, "fuzz-input") || ds)
                    abort();
                if (skip && strict_ok)
                    abort(); /* skipping can only accept more */
                continue;
            }
            if (!skip) {
                if (stc_dataset_num_bad_rows(ds) != 0)
                    abort();
                strict_ok = 1;
                strict_rows = stc_dataset_num_rows(ds);
            } else if (strict_ok && (stc_dataset_num_rows(ds) != strict_rows || stc_dataset_num_bad_rows(ds)))
                abort();
            check_accepted(ds, size);
            stc_dataset_close(ds);
        }
    }
    return 0;
}
