/*
 * Prepared datasets (data/prepared.h): a dataset tokenized into HDF5 reads
 * back the same rows as its JSONL and CSV sources (texts in any order with
 * repeats, scalar and vector labels, the text hashes NO_DUPLICATES uses),
 * its ids are the tokenizer's; writing in blocks of any size gives the same
 * file content; packing a block for another rank and unpacking it is the
 * identity; a truncated, foreign, non-HDF5 or damaged file is a clear
 * error naming it; a tokenizer or max_seq_length mismatch is refused.
 *
 *   test_prepared   (run from tests/)
 */
#include "data/dataset.h"
#include "data/prepared.h"
#include "data/sampler.h"
#include "data/tokenizer.h"
#include "util/error.h"
#include "util/fileio.h"

#include "check.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FX "fixtures/dataset/corpus/"
#define TOKDIR "fixtures/encode/tiny-bert"
enum { MSL = 24 };

static char tmpdir[] = "/tmp/stc_prepared_XXXXXX";

static int open_mem(stc_dataset **ds, const char *path)
{
    stc_dataset_opts o = {.skip_bad_rows = 0, .index_path = ""};
    return stc_dataset_open(ds, path, &o);
}

/* Prepares src into out with blocks of block_rows rows (through pack and
 * unpack, as ranks send them). Returns 0 or the error. */
static int prepare(const char *src, const char *out, const stc_tokenizer *tok, size_t block_rows)
{
    stc_dataset *ds;
    int rc = open_mem(&ds, src);
    if (rc)
        return rc;
    int nt = stc_dataset_num_text_columns(ds), dim = stc_dataset_label_dim(ds);
    const char *names[16];
    for (int c = 0; c < nt; c++)
        names[c] = stc_dataset_text_column_name(ds, c);
    char th[17];
    if ((rc = stc_prepared_tokenizer_hash(TOKDIR, 0, th)))
        return rc;
    stc_prepared_info info = {.model = TOKDIR, .source = src, .tokenizer_hash = th, .max_seq_length = MSL,
                              .n_text = nt, .col_names = names, .label_name = stc_dataset_label_column_name(ds),
                              .label_dim = dim, .label_vector = stc_dataset_label_kind(ds) == STC_LABEL_VECTOR,
                              .n_invalid_utf8 = (long long)stc_dataset_num_invalid_utf8(ds)};
    size_t n = stc_dataset_num_rows(ds);
    stc_prepared_writer *w;
    if ((rc = stc_prepared_writer_open(&w, out, &info, n)))
        return rc;
    stc_prepared_block b, b2;
    stc_prepared_block_init(&b, nt, dim);
    stc_prepared_block_init(&b2, nt, dim);
    stc_rows rows;
    stc_rows_init(&rows);
    size_t ids[64];
    for (size_t s = 0; !rc && s < n; s += block_rows) {
        size_t k = n - s < block_rows ? n - s : block_rows;
        for (size_t i = 0; i < k; i++)
            ids[i] = s + i;
        stc_prepared_block_clear(&b);
        void *buf;
        size_t len;
        if (!(rc = stc_dataset_read_rows(ds, ids, k, &rows)) && !(rc = stc_prepared_block_add_rows(&b, tok, MSL, &rows)) &&
            !(rc = stc_prepared_block_pack(&b, &buf, &len))) {
            rc = stc_prepared_block_unpack(&b2, buf, len);
            free(buf);
            if (!rc)
                rc = stc_prepared_writer_append(w, &b2);
        }
    }
    if (rc)
        stc_prepared_writer_abort(w);
    else
        rc = stc_prepared_writer_finish(w);
    stc_rows_free(&rows);
    stc_prepared_block_free(&b);
    stc_prepared_block_free(&b2);
    stc_dataset_close(ds);
    return rc;
}

/* Every row of a and b (read in a scrambled order with repeats): equal
 * texts and labels; equal metadata. */
static void same_rows(stc_dataset *a, stc_dataset *b, const char *what)
{
    size_t n = stc_dataset_num_rows(a);
    CHECK_MSG(n == stc_dataset_num_rows(b), "%s: %zu vs %zu rows", what, n, stc_dataset_num_rows(b));
    int nt = stc_dataset_num_text_columns(a), dim = stc_dataset_label_dim(a);
    CHECK_MSG(nt == stc_dataset_num_text_columns(b) && dim == stc_dataset_label_dim(b) &&
                  stc_dataset_label_kind(a) == stc_dataset_label_kind(b), "%s: schema differs", what);
    if (n != stc_dataset_num_rows(b) || nt != stc_dataset_num_text_columns(b) || dim != stc_dataset_label_dim(b))
        return;
    for (int c = 0; c < nt; c++)
        CHECK_MSG(!strcmp(stc_dataset_text_column_name(a, c), stc_dataset_text_column_name(b, c)), "%s: column %d", what, c);
    const char *la = stc_dataset_label_column_name(a), *lb = stc_dataset_label_column_name(b);
    CHECK_MSG((!la && !lb) || (la && lb && !strcmp(la, lb)), "%s: label column", what);
    size_t order[64], m = 0;
    for (size_t i = 0; i < n; i++)
        order[m++] = (i * 7 + 3) % n;
    order[m++] = 0;
    order[m++] = n - 1;
    order[m++] = 0;
    order[m++] = 2 % n; /* pairs: an empty text, now twice */
    stc_rows ra, rb;
    stc_rows_init(&ra);
    stc_rows_init(&rb);
    CHECK(stc_dataset_read_rows(a, order, m, &ra) == 0);
    CHECK(stc_dataset_read_rows(b, order, m, &rb) == 0);
    for (size_t i = 0; i < m; i++) {
        for (int c = 0; c < nt; c++) {
            size_t l1, l2;
            const char *t1 = stc_rows_text(&ra, i, c, &l1), *t2 = stc_rows_text(&rb, i, c, &l2);
            CHECK_MSG(l1 == l2 && !memcmp(t1, t2, l1) && t2[l2] == 0, "%s: row %zu col %d: \"%s\" vs \"%s\"", what,
                      order[i], c, t1, t2);
        }
        for (int j = 0; j < dim; j++)
            CHECK_MSG(ra.labels[i * (size_t)dim + (size_t)j] == rb.labels[i * (size_t)dim + (size_t)j],
                      "%s: row %zu label %d", what, order[i], j);
    }
    uint64_t ha[256], hb[256];
    float fa[256], fb[256];
    CHECK(n * (size_t)nt <= 256 && n * (size_t)(dim ? dim : 1) <= 256);
    CHECK(stc_dataset_read_meta(a, 0, n, ha, dim ? fa : NULL) == 0);
    CHECK(stc_dataset_read_meta(b, 0, n, hb, dim ? fb : NULL) == 0);
    CHECK_MSG(!memcmp(ha, hb, sizeof(uint64_t) * n * (size_t)nt), "%s: text hashes differ", what);
    if (dim)
        CHECK_MSG(!memcmp(fa, fb, sizeof(float) * n * (size_t)dim), "%s: labels differ", what);
    /* A range in the middle. */
    if (n > 2) {
        CHECK(stc_dataset_read_meta(b, 1, n - 2, hb, NULL) == 0);
        CHECK(!memcmp(ha + nt, hb, sizeof(uint64_t) * (n - 2) * (size_t)nt));
    }
    stc_rows_free(&ra);
    stc_rows_free(&rb);
}

/* The ids read from a prepared file equal the tokenizer's on its texts. */
static void ids_are_tokenizer_output(stc_dataset *p, const stc_tokenizer *tok)
{
    size_t n = stc_dataset_num_rows(p), order[64], m = 0;
    for (size_t i = n; i-- > 0;)
        order[m++] = i;
    order[m++] = n / 2;
    int nt = stc_dataset_num_text_columns(p);
    stc_rows rt, rx;
    stc_rows_init(&rt);
    stc_rows_init(&rx);
    CHECK(stc_dataset_read_tokens(p, order, m, &rt) == 0);
    CHECK(stc_dataset_read_rows(p, order, m, &rx) == 0);
    for (int c = 0; c < nt; c++)
        for (size_t i = 0; i < m; i++) {
            size_t len, s = (size_t)c * m + i;
            const char *t = stc_rows_text(&rx, i, c, &len);
            int32_t want[MSL];
            int nw = 0;
            CHECK(stc_tokenizer_encode(tok, t, len, MSL, want, NULL, &nw, NULL, NULL) == 0);
            size_t got = rt.tok_off[s + 1] - rt.tok_off[s];
            CHECK_MSG(got == (size_t)nw && !memcmp(rt.tok_ids + rt.tok_off[s], want, sizeof(int32_t) * got),
                      "ids of row %zu col %d (%zu vs %d ids)", order[i], c, got, nw);
        }
    if (stc_dataset_label_dim(p))
        for (size_t i = 0; i < m * (size_t)stc_dataset_label_dim(p); i++)
            CHECK(rt.labels[i] == rx.labels[i]);
    stc_rows_free(&rt);
    stc_rows_free(&rx);
}

static char *tmp_path(const char *name)
{
    return stc_path_join(tmpdir, name);
}

static int copy_prefix(const char *src, const char *dst, double frac)
{
    char *data;
    size_t len;
    if (stc_read_file(src, &data, &len))
        return -1;
    FILE *f = fopen(dst, "wb");
    size_t k = (size_t)((double)len * frac);
    int ok = f && fwrite(data, 1, k, f) == k;
    if (f)
        fclose(f);
    free(data);
    return ok ? 0 : -1;
}

static void expect_open_error(const char *path, const char *needle)
{
    stc_dataset *ds = NULL;
    int rc = stc_dataset_open(&ds, path, NULL);
    CHECK_MSG(rc == STC_ERR_DATA || rc == STC_ERR_IO, "%s: open gave %d", path, rc);
    const char *msg = stc_error_message();
    CHECK_MSG(strstr(msg, path) && strstr(msg, needle), "%s: message \"%s\" lacks \"%s\"", path, msg, needle);
    if (!rc)
        stc_dataset_close(ds);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    stc_tokenizer *tok;
    if (stc_tokenizer_load(&tok, TOKDIR, 0)) {
        fprintf(stderr, "%s\n", stc_error_message());
        return 1;
    }
    /* pairs: a label in the middle; quotes, newlines, unicode, "" */
    const char *sources[] = {FX "pairs.jsonl", FX "distill.jsonl", FX "invalid_utf8.jsonl", FX "pairs.tsv"};
    const char *others[] = {FX "pairs.csv", FX "distill.csv", NULL, FX "pairs.jsonl"};
    for (size_t k = 0; k < sizeof sources / sizeof *sources; k++) {
        char name[64];
        snprintf(name, sizeof name, "p%zu.h5", k);
        char *h5 = tmp_path(name);
        snprintf(name, sizeof name, "q%zu.h5", k);
        char *h5b = tmp_path(name);
        int rc = prepare(sources[k], h5, tok, 64);
        CHECK_MSG(rc == 0, "prepare %s: %s", sources[k], stc_error_message());
        rc = prepare(sources[k], h5b, tok, 1);
        CHECK_MSG(rc == 0, "prepare %s by single rows: %s", sources[k], stc_error_message());
        stc_dataset *src, *p, *q;
        if (open_mem(&src, sources[k]) || open_mem(&p, h5) || open_mem(&q, h5b)) {
            CHECK_MSG(0, "open: %s", stc_error_message());
            continue;
        }
        CHECK(stc_dataset_is_prepared(p) && !stc_dataset_is_prepared(src));
        CHECK(stc_dataset_format_of(p) == STC_DATASET_PREPARED);
        CHECK(stc_dataset_prepared_max_seq_length(p) == MSL);
        CHECK(stc_dataset_num_invalid_utf8(p) == stc_dataset_num_invalid_utf8(src));
        same_rows(src, p, sources[k]);
        same_rows(p, q, "block sizes 64 vs 1");
        ids_are_tokenizer_output(p, tok);
        if (others[k]) {
            stc_dataset *o;
            if (open_mem(&o, others[k]) == 0) {
                same_rows(o, p, others[k]);
                stc_dataset_close(o);
            }
        }
        /* The identity checks. */
        CHECK(stc_dataset_check_prepared(p, TOKDIR, 0, MSL) == 0);
        CHECK(stc_dataset_check_prepared(src, "fixtures/tokenizer/minilm", 0, MSL) == 0); /* not prepared: passes */
        CHECK(stc_dataset_check_prepared(p, TOKDIR, 0, MSL + 1) == STC_ERR_DATA &&
              strstr(stc_error_message(), "max_seq_length 24 but training uses 25"));
        CHECK(stc_dataset_check_prepared(p, "fixtures/tokenizer/minilm", 0, MSL) == STC_ERR_DATA &&
              strstr(stc_error_message(), "another tokenizer") && strstr(stc_error_message(), h5));
        CHECK(stc_dataset_check_prepared(p, TOKDIR, 1, MSL) == STC_ERR_DATA); /* do_lower_case is part of it */
        /* Reading token ids of a text dataset is refused. */
        size_t zero = 0;
        stc_rows r;
        stc_rows_init(&r);
        CHECK(stc_dataset_read_tokens(src, &zero, 1, &r) == STC_ERR_INTERNAL);
        stc_rows_free(&r);
        stc_dataset_close(src);
        stc_dataset_close(p);
        stc_dataset_close(q);
        /* A truncated copy (an interrupted copy to another node): a clear
         * error at open, never garbage. */
        char *cut = tmp_path("cut.h5");
        for (double frac = 0.25; frac < 1.0; frac += 0.25) {
            CHECK(copy_prefix(h5, cut, frac) == 0);
            stc_dataset *d = NULL;
            rc = stc_dataset_open(&d, cut, NULL);
            if (rc == 0) {
                /* The superblock and layout survived: every read must still
                 * either succeed or fail cleanly. */
                size_t all[64];
                for (size_t i = 0; i < stc_dataset_num_rows(d); i++)
                    all[i] = i;
                stc_rows_init(&r);
                int r1 = stc_dataset_read_rows(d, all, stc_dataset_num_rows(d), &r);
                int r2 = stc_dataset_read_tokens(d, all, stc_dataset_num_rows(d), &r);
                CHECK_MSG(r1 == STC_ERR_DATA || r2 == STC_ERR_DATA, "truncated to %.0f%%: reads succeeded", 100 * frac);
                stc_rows_free(&r);
                stc_dataset_close(d);
            } else {
                CHECK_MSG(rc == STC_ERR_DATA && strstr(stc_error_message(), cut), "truncated to %.0f%%: %d %s",
                          100 * frac, rc, stc_error_message());
            }
        }
        unlink(cut);
        free(cut);
        unlink(h5);
        unlink(h5b);
        free(h5);
        free(h5b);
    }

    /* Not HDF5 at all. */
    char *txt = tmp_path("text.h5");
    stc_write_file_atomic(txt, "{\"a\": \"b\"}\n", 11);
    expect_open_error(txt, "not an HDF5 file");
    unlink(txt);
    free(txt);
    /* A foreign HDF5 file (e.g. stc encode's embeddings). */
    char *foreign = tmp_path("foreign.h5");
    hid_t f = H5Fcreate(foreign, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {2, 3};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(f, "embeddings", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
    expect_open_error(foreign, "not a dataset written by stc prepare");
    unlink(foreign);
    free(foreign);
    /* Ours but damaged: a column's group removed. */
    char *dam = tmp_path("damaged.h5");
    CHECK(prepare(FX "pairs.jsonl", dam, tok, 64) == 0);
    f = H5Fopen(dam, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0 && H5Ldelete(f, "columns/positive/text_hash", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_open_error(dam, "damaged prepared dataset");
    unlink(dam);
    /* Ours but a dataset of another type (float ids): refused, not
     * converted. */
    CHECK(prepare(FX "pairs.jsonl", dam, tok, 64) == 0);
    f = H5Fopen(dam, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0 && H5Ldelete(f, "columns/anchor/input_ids", H5P_DEFAULT) >= 0);
    hsize_t one = 100;
    sp = H5Screate_simple(1, &one, NULL);
    d = H5Dcreate2(f, "columns/anchor/input_ids", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(d >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
    expect_open_error(dam, "with the types of the layout");
    unlink(dam);
    free(dam);
    /* A missing file. */
    expect_open_error("fixtures/no-such-file.h5", "cannot open");
    /* An interrupted writer leaves no file under the final name. */
    char *ab = tmp_path("aborted.h5");
    {
        const char *names[] = {"a"};
        char th[17] = "0000000000000000";
        stc_prepared_info info = {.tokenizer_hash = th, .max_seq_length = MSL, .n_text = 1, .col_names = names};
        stc_prepared_writer *w;
        CHECK(stc_prepared_writer_open(&w, ab, &info, 10) == 0);
        CHECK(stc_prepared_writer_finish(w) == STC_ERR_INTERNAL); /* 0 of 10 rows */
        CHECK(!stc_is_file(ab));
        char tmpname[512];
        snprintf(tmpname, sizeof tmpname, "%s.tmp", ab);
        CHECK(!stc_is_file(tmpname));
    }
    free(ab);
    stc_tokenizer_free(tok);
    rmdir(tmpdir);
    return check_report("test_prepared");
}
