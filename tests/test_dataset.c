/*
 * Dataset readers (data/dataset.h): the same rows from JSONL, CSV and TSV
 * versions of one small dataset (quotes, delimiters and newlines inside
 * fields, unicode, empty strings, a label column in the middle); vector
 * labels; UTF-8 repair against Python's errors="replace"; every kind of bad
 * input, as an error naming file, line and column, or skipped and counted;
 * the row index cache (reused, rebuilt after edits, in memory when it
 * cannot be written); random and concurrent access equal to sequential; and
 * a 1M-row JSONL file indexed and read (times printed, not asserted).
 *
 *   test_dataset [--rows N]   N rows for the large case (default 1000000)
 *
 * Fixtures are in fixtures/dataset/corpus/ (also the fuzz seed corpus);
 * anything that writes an index works on copies in a temporary directory.
 */
#include "data/dataset.h"
#include "data/dataset_internal.h"
#include "util/error.h"
#include "util/fileio.h"

#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FX "fixtures/dataset/corpus/"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Opens with the index in memory only (never writes into the source tree). */
static int open_mem(stc_dataset **ds, const char *path, int skip)
{
    stc_dataset_opts o = {.skip_bad_rows = skip, .index_path = ""};
    return stc_dataset_open(ds, path, &o);
}

/* 1 if the text of (row, col) of the last read is exactly want. */
static int text_is(const stc_rows *r, size_t row, int col, const char *want, size_t want_len)
{
    size_t len;
    const char *t = stc_rows_text(r, row, col, &len);
    return len == want_len && !memcmp(t, want, len) && t[len] == '\0';
}
#define TEXT_IS(r, row, col, s) text_is(r, row, col, s, sizeof(s) - 1)

/* ---- the same dataset in three formats ----------------------------------- */

typedef struct {
    const char *anchor, *positive, *negative;
    float label;
} pair_row;

/* What tests/fixtures/dataset/corpus/pairs.{jsonl,csv,tsv} hold. */
static const pair_row PAIRS[] = {
    {"A man is eating food.", "A man eats something.", "A woman plays violin.", 0.9f},
    {"She said \"hi\", then left.", "comma, inside", "tab\there", 0.5f},
    {"line one\nline two", "",
     "\xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xe2\x80\x94 "
     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80", 1.0f},
    {"crlf\r\ninside", "\"\"", "trailing space ", -0.25f},
    {"  leading spaces", "back\\slash", "'single' quotes", 1.0f},
    {"x", "semi;colon|pipe", "last", 0.001f},
};
#define N_PAIRS (sizeof PAIRS / sizeof PAIRS[0])

static void check_pairs(const char *path)
{
    stc_dataset *ds;
    int rc = open_mem(&ds, path, 0);
    CHECK_MSG(rc == 0, "%s: %s", path, stc_error_message());
    if (rc)
        return;
    CHECK(stc_dataset_num_rows(ds) == N_PAIRS);
    CHECK(stc_dataset_num_text_columns(ds) == 3);
    CHECK(!strcmp(stc_dataset_text_column_name(ds, 0), "anchor"));
    CHECK(!strcmp(stc_dataset_text_column_name(ds, 1), "positive"));
    CHECK(!strcmp(stc_dataset_text_column_name(ds, 2), "negative"));
    CHECK(stc_dataset_text_column_name(ds, 3) == NULL);
    CHECK(stc_dataset_label_column_name(ds) && !strcmp(stc_dataset_label_column_name(ds), "label"));
    CHECK(stc_dataset_label_kind(ds) == STC_LABEL_SCALAR && stc_dataset_label_dim(ds) == 1);
    CHECK(stc_dataset_num_bad_rows(ds) == 0 && stc_dataset_num_invalid_utf8(ds) == 0);
    CHECK(stc_dataset_index_source(ds) == STC_INDEX_BUILT_MEMORY);
    size_t rows[N_PAIRS];
    for (size_t i = 0; i < N_PAIRS; i++)
        rows[i] = i;
    stc_rows r;
    stc_rows_init(&r);
    rc = stc_dataset_read_rows(ds, rows, N_PAIRS, &r);
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    if (rc == 0) {
        CHECK(r.n == N_PAIRS && r.n_text_columns == 3 && r.label_dim == 1 && r.n_invalid_utf8 == 0);
        for (size_t i = 0; i < N_PAIRS; i++) {
            const char *want[3] = {PAIRS[i].anchor, PAIRS[i].positive, PAIRS[i].negative};
            for (int c = 0; c < 3; c++)
                CHECK_MSG(text_is(&r, i, c, want[c], strlen(want[c])), "%s row %zu col %d: \"%s\"", path, i, c,
                          stc_rows_text(&r, i, c, NULL));
            CHECK_MSG(r.labels[i] == PAIRS[i].label, "%s row %zu label %g", path, i, r.labels[i]);
        }
    }
    stc_rows_free(&r);
    stc_dataset_close(ds);
}

/* Vector labels (MSE distillation), JSON arrays in JSONL and in CSV fields. */
static void check_distill(const char *path)
{
    static const float want[3][3] = {{0.1f, -0.2f, 0.3f}, {1e-3f, 2.5f, -4.0f}, {0, 0, 1}};
    stc_dataset *ds;
    int rc = open_mem(&ds, path, 0);
    CHECK_MSG(rc == 0, "%s: %s", path, stc_error_message());
    if (rc)
        return;
    CHECK(stc_dataset_num_rows(ds) == 3 && stc_dataset_num_text_columns(ds) == 1);
    CHECK(stc_dataset_label_kind(ds) == STC_LABEL_VECTOR && stc_dataset_label_dim(ds) == 3);
    size_t rows[] = {2, 0, 1};
    stc_rows r;
    stc_rows_init(&r);
    CHECK(stc_dataset_read_rows(ds, rows, 3, &r) == 0);
    CHECK(r.label_dim == 3);
    for (int i = 0; i < 3; i++)
        for (int d = 0; d < 3; d++)
            CHECK(r.labels[i * 3 + d] == want[rows[i]][d]);
    CHECK(TEXT_IS(&r, 0, 0, "!") && TEXT_IS(&r, 1, 0, "Hello"));
    stc_rows_free(&r);
    stc_dataset_close(ds);
}

/* ---- UTF-8 repair --------------------------------------------------------- */

/* Inputs and what Python's bytes.decode("utf-8", "replace") gives. */
static const struct {
    const char *in;
    size_t len;
    const char *out;
    long n_repl;
} UTF8_CASES[] = {
    {"\x61\x62\x63", 3, "\x61\x62\x63", 0},
    {"\xe9", 1, "\xef\xbf\xbd", 1},
    {"\x63\x61\x66\xe9\x20\x6f\x6b", 7, "\x63\x61\x66\xef\xbf\xbd\x20\x6f\x6b", 1},
    {"\xe0\x80\xaf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 3},
    {"\xf0\x9f\x98", 3, "\xef\xbf\xbd", 1},
    {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 0},
    {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 3},
    {"\xed\x9f\xbf", 3, "\xed\x9f\xbf", 0},
    {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 2},
    {"\xc2", 1, "\xef\xbf\xbd", 1},
    {"\xc2\x41", 2, "\xef\xbf\xbd\x41", 1},
    {"\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 4},
    {"\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf", 0},
    {"\xf5\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd", 2},
    {"\x80\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd", 2},
    {"\xe1\x80", 2, "\xef\xbf\xbd", 1},
    {"\xe1\x80\xe1\x80\x80", 5, "\xef\xbf\xbd\xe1\x80\x80", 1},
    {"\xf1\x80\x80\xc3\xa9", 5, "\xef\xbf\xbd\xc3\xa9", 1},
    {"\xff\xfe", 2, "\xef\xbf\xbd\xef\xbf\xbd", 2},
};

static void check_utf8_repair(void)
{
    for (size_t k = 0; k < sizeof UTF8_CASES / sizeof UTF8_CASES[0]; k++) {
        char out[64];
        long n = 0;
        size_t o = stc_ds_utf8_repair(out, (const unsigned char *)UTF8_CASES[k].in, UTF8_CASES[k].len, &n);
        CHECK_MSG(o == strlen(UTF8_CASES[k].out) && !memcmp(out, UTF8_CASES[k].out, o) &&
                  n == UTF8_CASES[k].n_repl, "case %zu: %zu bytes, %ld replaced", k, o, n);
    }
}

/* Raw invalid bytes and lone surrogates are replaced and counted; the
 * texts' lengths count a NUL from \u0000. */
static void check_invalid_utf8(void)
{
    static const char other0[] = "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd|"
                                 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xc3\xa9|\xef\xbf\xbd";
    const char *paths[] = {FX "invalid_utf8.jsonl", FX "invalid_utf8.csv"};
    for (int f = 0; f < 2; f++) {
        stc_dataset *ds;
        int rc = open_mem(&ds, paths[f], 0);
        CHECK_MSG(rc == 0, "%s", stc_error_message());
        if (rc)
            continue;
        size_t want_rows = f == 0 ? 2 : 1;
        CHECK(stc_dataset_num_rows(ds) == want_rows);
        CHECK_MSG(stc_dataset_num_invalid_utf8(ds) == (f == 0 ? 11u : 9u), "%zu",
                  stc_dataset_num_invalid_utf8(ds));
        size_t rows[] = {0, 1};
        stc_rows r;
        stc_rows_init(&r);
        CHECK(stc_dataset_read_rows(ds, rows, want_rows, &r) == 0);
        CHECK(r.n_invalid_utf8 == (f == 0 ? 11 : 9));
        CHECK(TEXT_IS(&r, 0, 0, "caf\xef\xbf\xbd ok"));
        CHECK(TEXT_IS(&r, 0, 1, other0));
        if (f == 0) {
            CHECK(TEXT_IS(&r, 1, 0, "lone \xef\xbf\xbd high, pair \xf0\x9f\x98\x80, lone low \xef\xbf\xbd"));
            CHECK(text_is(&r, 1, 1, "\0nul", 4));
        }
        stc_rows_free(&r);
        stc_dataset_close(ds);
    }
}

/* ---- bad input ------------------------------------------------------------ */

/* Opening file must fail with code, and the message must hold every
 * (non-NULL) piece. */
static void expect_error(const char *file, int skip, int code, const char *a, const char *b, const char *c)
{
    char path[256];
    snprintf(path, sizeof path, FX "%s", file);
    stc_dataset *ds = NULL;
    stc_error_clear();
    int rc = open_mem(&ds, path, skip);
    const char *m = stc_error_message();
    CHECK_MSG(rc == code, "%s: rc %d (want %d): %s", file, rc, code, m);
    CHECK_MSG(strstr(m, path) != NULL, "%s: message does not name the file: %s", file, m);
    const char *parts[] = {a, b, c};
    for (int k = 0; k < 3; k++)
        if (parts[k])
            CHECK_MSG(strstr(m, parts[k]) != NULL, "%s: message lacks \"%s\": %s", file, parts[k], m);
    CHECK(ds == NULL);
    stc_dataset_close(ds);
}

static void check_bad_inputs(void)
{
    expect_error("bad_json.jsonl", 0, STC_ERR_DATA, ":3:", "invalid JSON", NULL);
    expect_error("missing_column.jsonl", 0, STC_ERR_DATA, ":4:", "missing column \"positive\"", NULL);
    expect_error("extra_column.jsonl", 0, STC_ERR_DATA, ":2:", "unexpected column \"negative\"", NULL);
    expect_error("non_string.jsonl", 0, STC_ERR_DATA, ":2:", "column \"positive\" must be a string", "a number");
    expect_error("null_text.jsonl", 0, STC_ERR_DATA, ":1:", "column \"positive\" must be a string", "null");
    expect_error("not_object.jsonl", 0, STC_ERR_DATA, ":1:", "expected a JSON object", NULL);
    expect_error("duplicate_key.jsonl", 0, STC_ERR_DATA, ":2:", "duplicate key \"anchor\"", NULL);
    expect_error("bad_label.jsonl", 0, STC_ERR_DATA, ":2:", "column \"label\" must be a number", "a string");
    expect_error("label_dim.jsonl", 0, STC_ERR_DATA, ":2:", "has 2 values, but 3 in the first row", NULL);
    expect_error("label_kind.jsonl", 0, STC_ERR_DATA, ":2:", "is an array", NULL);
    expect_error("label_range.jsonl", 0, STC_ERR_DATA, ":1:", "not a finite float", NULL);
    expect_error("control_char.jsonl", 0, STC_ERR_DATA, ":1:", "control character", NULL);
    expect_error("reserved.jsonl", 0, STC_ERR_DATA, "\"dataset_name\" is reserved", NULL, NULL);
    expect_error("reserved.jsonl", 1, STC_ERR_DATA, "\"dataset_name\" is reserved", NULL, NULL);
    expect_error("unterminated_quote.csv", 0, STC_ERR_DATA, ":3:", "unterminated quoted field", NULL);
    expect_error("wrong_field_count.csv", 0, STC_ERR_DATA, ":3:", "expected 3 fields", "found 2");
    expect_error("wrong_field_count.tsv", 0, STC_ERR_DATA, ":3:", "expected 2 fields", "found 3");
    expect_error("after_quote.csv", 0, STC_ERR_DATA, ":2:", "after the closing quote", NULL);
    expect_error("bad_label.csv", 0, STC_ERR_DATA, ":3:", "column \"score\" is not a number", "high");
    expect_error("empty_name.csv", 1, STC_ERR_DATA, "column 1 has an empty name", "index=False", NULL);
    expect_error("only_label.csv", 0, STC_ERR_DATA, "no text columns", NULL, NULL);
    expect_error("duplicate_name.tsv", 0, STC_ERR_DATA, "\"anchor\" appears twice", NULL, NULL);
    expect_error("header_unterminated.csv", 1, STC_ERR_DATA, ":1:", "bad header", "unterminated");
    expect_error("mixed.jsonl", 0, STC_ERR_DATA, ":2:", "invalid JSON", "skip_bad_rows");

    /* "nan" is a number to pandas but not a finite label. */
    stc_dataset *ds;
    int rc = open_mem(&ds, FX "bad_label.csv", 1);
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    if (rc == 0) {
        CHECK(stc_dataset_num_rows(ds) == 1 && stc_dataset_num_bad_rows(ds) == 2);
        stc_dataset_close(ds);
    }
    /* Unknown extension, missing file. */
    CHECK(stc_dataset_open(&ds, FX "pairs.txt", NULL) == STC_ERR_USAGE && ds == NULL);
    CHECK(stc_dataset_open(&ds, FX "no_such_file.jsonl", NULL) == STC_ERR_IO && ds == NULL);
    CHECK(stc_dataset_format_from_path("a/B.JSONL") == STC_DATASET_JSONL);
    CHECK(stc_dataset_format_from_path("a.tsv/b") == STC_DATASET_UNKNOWN);
}

/* skip_bad_rows: bad rows are left out and counted, good ones kept in order. */
static void check_skip(const char *file, size_t want_bad, const char *first_line)
{
    stc_dataset *ds;
    int rc = open_mem(&ds, file, 1);
    CHECK_MSG(rc == 0, "%s: %s", file, stc_error_message());
    if (rc)
        return;
    CHECK(stc_dataset_num_rows(ds) == 4);
    CHECK_MSG(stc_dataset_num_bad_rows(ds) == want_bad, "%s: %zu bad", file, stc_dataset_num_bad_rows(ds));
    CHECK_MSG(strstr(stc_dataset_first_bad_row(ds), first_line) != NULL, "%s", stc_dataset_first_bad_row(ds));
    CHECK(strstr(stc_dataset_first_bad_row(ds), file) != NULL);
    size_t rows[] = {0, 1, 2, 3};
    stc_rows r;
    stc_rows_init(&r);
    CHECK(stc_dataset_read_rows(ds, rows, 4, &r) == 0);
    for (size_t i = 0; i < 4 && r.n == 4; i++) {
        char a[16], p[16];
        snprintf(a, sizeof a, "good %zu", i + 1);
        snprintf(p, sizeof p, "p%zu", i + 1);
        CHECK_MSG(text_is(&r, i, 0, a, strlen(a)) && text_is(&r, i, 1, p, strlen(p)), "%s row %zu", file, i);
        CHECK(r.labels[i] == (float)i);
    }
    size_t bad_row = 4;
    CHECK(stc_dataset_read_rows(ds, &bad_row, 1, &r) == STC_ERR_INTERNAL);
    stc_rows_free(&r);
    stc_dataset_close(ds);
}

/* The indexing scan reading a few bytes at a time (so records straddle
 * reads at every position: inside quotes, between "" and CR LF) gives the
 * same index, counters and errors as the default scan, for every fixture. */
static void check_small_reads(void)
{
    DIR *dir = opendir(FX);
    CHECK(dir != NULL);
    if (!dir)
        return;
    int files = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        char path[512];
        snprintf(path, sizeof path, FX "%s", e->d_name);
        stc_dataset_format f = stc_dataset_format_from_path(path);
        if (f == STC_DATASET_UNKNOWN)
            continue;
        files++;
        for (int skip = 0; skip < 2; skip++) {
            stc_dataset_opts o = {.skip_bad_rows = skip, .index_path = ""};
            stc_dataset *ref = NULL;
            int rc = stc_dataset_open_fd(&ref, open(path, O_RDONLY), path, f, &o, 0);
            char msg[4096];
            snprintf(msg, sizeof msg, "%s", stc_error_message());
            for (size_t chunk = 1; chunk <= 17; chunk += 4) {
                stc_dataset *ds = NULL;
                int rc2 = stc_dataset_open_fd(&ds, open(path, O_RDONLY), path, f, &o, chunk);
                CHECK_MSG(rc2 == rc, "%s chunk %zu: rc %d vs %d", path, chunk, rc2, rc);
                if (rc || rc2) {
                    CHECK_MSG(!strcmp(msg, stc_error_message()), "%s chunk %zu: %s", path, chunk, stc_error_message());
                } else {
                    size_t n = ref->n_rows;
                    CHECK_MSG(ds->n_rows == n && ds->n_bad == ref->n_bad && ds->n_invalid == ref->n_invalid &&
                              !strcmp(ds->first_bad, ref->first_bad) &&
                              (!n || (!memcmp(ds->row_off, ref->row_off, n * sizeof *ds->row_off) &&
                                      !memcmp(ds->row_len, ref->row_len, n * sizeof *ds->row_len))),
                              "%s chunk %zu: different index", path, chunk);
                }
                stc_dataset_close(ds);
            }
            stc_dataset_close(ref);
        }
    }
    closedir(dir);
    CHECK(files >= 30);
}

/* ---- files in a temporary directory ----------------------------------------- */

static char tmpdir[256];

static char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

static int copy_file(const char *from, const char *to)
{
    char *d;
    size_t n;
    if (stc_read_file(from, &d, &n))
        return -1;
    int rc = write_file(to, d, n);
    free(d);
    return rc;
}

/* Reads every row of ds in one call. */
static int read_all(stc_dataset *ds, stc_rows *r)
{
    size_t n = stc_dataset_num_rows(ds);
    size_t *rows = malloc((n ? n : 1) * sizeof *rows);
    for (size_t i = 0; i < n; i++)
        rows[i] = i;
    int rc = stc_dataset_read_rows(ds, rows, n, r);
    free(rows);
    return rc;
}

/* The row index cache: saved, reused, rebuilt after edits (also edits that
 * keep the size and the mtime), rebuilt when damaged, kept in memory when it
 * cannot be written, and never used to hide bad rows from a strict open. */
static void check_index_cache(void)
{
    char *data = tmp_path("pairs.jsonl");
    char *idx = tmp_path("pairs.jsonl.stcidx");
    CHECK(copy_file(FX "pairs.jsonl", data) == 0);
    stc_dataset *ds;
    stc_rows r;
    stc_rows_init(&r);

    CHECK(stc_dataset_open(&ds, data, NULL) == 0);
    CHECK(stc_dataset_index_source(ds) == STC_INDEX_BUILT_SAVED);
    stc_dataset_close(ds);
    CHECK(stc_is_file(idx));

    int rc = stc_dataset_open(&ds, data, NULL);
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    CHECK(stc_dataset_index_source(ds) == STC_INDEX_LOADED);
    CHECK(stc_dataset_num_rows(ds) == N_PAIRS && stc_dataset_num_text_columns(ds) == 3);
    CHECK(stc_dataset_label_kind(ds) == STC_LABEL_SCALAR);
    CHECK(read_all(ds, &r) == 0 && TEXT_IS(&r, 2, 0, "line one\nline two") && r.labels[3] == -0.25f);
    stc_dataset_close(ds);

    /* Appending a row changes the size. */
    char *d;
    size_t n;
    CHECK(stc_read_file(data, &d, &n) == 0);
    char *more = malloc(n + 128);
    memcpy(more, d, n);
    static const char extra[] = "\n{\"anchor\": \"new\", \"label\": 2, \"positive\": \"p\", \"negative\": \"n\"}\n";
    memcpy(more + n, extra, sizeof extra - 1);
    CHECK(write_file(data, more, n + sizeof extra - 1) == 0);
    CHECK(stc_dataset_open(&ds, data, NULL) == 0);
    CHECK(stc_dataset_index_source(ds) == STC_INDEX_BUILT_SAVED);
    CHECK(stc_dataset_num_rows(ds) == N_PAIRS + 1);
    stc_dataset_close(ds);

    /* A same-size edit with the old mtime put back: the head hash sees it. */
    struct stat st;
    CHECK(stat(data, &st) == 0);
    char *a = memmem(more, n, "A man is eating", 15);
    CHECK(a != NULL);
    if (a)
        memcpy(a, "A cat", 5);
    CHECK(write_file(data, more, n + sizeof extra - 1) == 0);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    CHECK(utimensat(AT_FDCWD, data, times, 0) == 0);
    struct stat st2;
    CHECK(stat(data, &st2) == 0 && st2.st_size == st.st_size && st2.st_mtim.tv_sec == st.st_mtim.tv_sec &&
          st2.st_mtim.tv_nsec == st.st_mtim.tv_nsec);
    CHECK(stc_dataset_open(&ds, data, NULL) == 0);
    CHECK(stc_dataset_index_source(ds) == STC_INDEX_BUILT_SAVED);
    CHECK(read_all(ds, &r) == 0 && TEXT_IS(&r, 0, 0, "A cat is eating food."));
    stc_dataset_close(ds);
    free(more);
    free(d);

    /* A same-size edit in the middle of a large file (outside the hashed
     * ends): the mtime sees it. */
    char *big = tmp_path("big.csv");
    size_t cap = 64 << 10, len = 0;
    char *buf = malloc(cap);
    len += (size_t)snprintf(buf, cap, "sentence1,sentence2,score\n");
    for (int i = 0; len + 64 < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "s%05d,t%05d,%d\n", i, i, i % 5);
    CHECK(write_file(big, buf, len) == 0);
    CHECK(stc_dataset_open(&ds, big, NULL) == 0);
    CHECK(stc_dataset_index_source(ds) == STC_INDEX_BUILT_SAVED);
    size_t mid = stc_dataset_num_rows(ds) / 2;
    stc_dataset_close(ds);
    char *m = memmem(buf, len, "s01000", 6);
    CHECK(m != NULL && (size_t)(m - buf) > 4096 && (size_t)(m - buf) < len - 4096);
    if (m)
        m[0] = 'X';
    CHECK(stat(big, &st) == 0);
    CHECK(write_file(big, buf, len) == 0);
    struct timespec later[2] = {st.st_atim, {st.st_mtim.tv_sec + 1, st.st_mtim.tv_nsec}};
    CHECK(utimensat(AT_FDCWD, big, later, 0) == 0);
    CHECK(stc_dataset_open(&ds, big, NULL) == 0);
    CHECK(stc_dataset_index_source(ds) == STC_INDEX_BUILT_SAVED);
    CHECK(stc_dataset_read_rows(ds, &(size_t){1000}, 1, &r) == 0 && TEXT_IS(&r, 0, 0, "X01000"));
    (void)mid;
    stc_dataset_close(ds);
    CHECK(stc_dataset_open(&ds, big, NULL) == 0);
    CHECK(stc_dataset_index_source(ds) == STC_INDEX_LOADED);
    CHECK(stc_dataset_label_column_name(ds) && !strcmp(stc_dataset_label_column_name(ds), "score"));

    /* A file changed after open: reads refuse. */
    buf[len - 2] = '4';
    CHECK(write_file(big, buf, len - 1) == 0);
    size_t last = stc_dataset_num_rows(ds) - 1;
    CHECK(stc_dataset_read_rows(ds, &last, 1, &r) == STC_ERR_DATA);
    CHECK(strstr(stc_error_message(), "changed") != NULL);
    stc_dataset_close(ds);
    free(buf);

    /* A damaged index is rebuilt silently. */
    CHECK(stc_read_file(idx, &d, &n) == 0);
    if (n > 700) {
        d[n - 5] ^= 0x55;
        CHECK(write_file(idx, d, n) == 0);
        CHECK(stc_dataset_open(&ds, data, NULL) == 0);
        CHECK(stc_dataset_index_source(ds) == STC_INDEX_BUILT_SAVED);
        stc_dataset_close(ds);
        CHECK(write_file(idx, d, 100) == 0); /* truncated */
        CHECK(stc_dataset_open(&ds, data, NULL) == 0);
        CHECK(stc_dataset_index_source(ds) == STC_INDEX_BUILT_SAVED);
        stc_dataset_close(ds);
    }
    free(d);

    /* The index cannot be written: kept in memory, no error. */
    stc_dataset_opts ro = {.skip_bad_rows = 0, .index_path = "/nonexistent-dir/x/pairs.jsonl.stcidx"};
    rc = stc_dataset_open(&ds, data, &ro);
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    if (rc == 0) {
        CHECK(stc_dataset_index_source(ds) == STC_INDEX_BUILT_MEMORY);
        stc_dataset_close(ds);
    }

    /* An index built with skip_bad_rows: reused with it (counters kept),
     * not without it (the strict open fails naming the line). */
    char *mixed = tmp_path("mixed.csv");
    CHECK(copy_file(FX "mixed.csv", mixed) == 0);
    stc_dataset_opts skip = {.skip_bad_rows = 1};
    CHECK(stc_dataset_open(&ds, mixed, &skip) == 0);
    CHECK(stc_dataset_index_source(ds) == STC_INDEX_BUILT_SAVED && stc_dataset_num_bad_rows(ds) == 3);
    stc_dataset_close(ds);
    CHECK(stc_dataset_open(&ds, mixed, &skip) == 0);
    CHECK(stc_dataset_index_source(ds) == STC_INDEX_LOADED && stc_dataset_num_bad_rows(ds) == 3);
    CHECK(strstr(stc_dataset_first_bad_row(ds), "mixed.csv:3:") != NULL);
    CHECK(stc_dataset_num_rows(ds) == 4);
    CHECK(read_all(ds, &r) == 0 && TEXT_IS(&r, 3, 0, "good 4"));
    stc_dataset_close(ds);
    CHECK(stc_dataset_open(&ds, mixed, NULL) == STC_ERR_DATA);
    CHECK(strstr(stc_error_message(), "mixed.csv:3:") != NULL);

    /* Empty files and header-only files. */
    char *empty_jsonl = tmp_path("empty.jsonl"), *empty_csv = tmp_path("empty.csv");
    char *header_only = tmp_path("header.tsv");
    CHECK(write_file(empty_jsonl, "\n\n", 2) == 0 && write_file(empty_csv, "", 0) == 0);
    CHECK(write_file(header_only, "query\tlabel\n", 12) == 0);
    CHECK(stc_dataset_open(&ds, empty_jsonl, NULL) == 0);
    CHECK(stc_dataset_num_rows(ds) == 0 && stc_dataset_num_text_columns(ds) == 0);
    stc_dataset_close(ds);
    CHECK(stc_dataset_open(&ds, empty_jsonl, NULL) == 0 && stc_dataset_index_source(ds) == STC_INDEX_LOADED);
    stc_dataset_close(ds);
    CHECK(stc_dataset_open(&ds, empty_csv, NULL) == STC_ERR_DATA);
    CHECK(stc_dataset_open(&ds, header_only, NULL) == 0);
    CHECK(stc_dataset_num_rows(ds) == 0 && stc_dataset_num_text_columns(ds) == 1);
    CHECK(stc_dataset_label_kind(ds) == STC_LABEL_SCALAR);
    stc_dataset_close(ds);
    CHECK(stc_dataset_open(&ds, header_only, NULL) == 0 && stc_dataset_index_source(ds) == STC_INDEX_LOADED);
    CHECK(stc_dataset_num_text_columns(ds) == 1 && !strcmp(stc_dataset_text_column_name(ds, 0), "query"));
    stc_dataset_close(ds);
    stc_rows_free(&r);
}

/* ---- random access ----------------------------------------------------------- */

/* A small deterministic generator (xorshift64*). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

/* Writes n rows as JSONL and as CSV: texts with quotes, commas, newlines,
 * escapes and multi-byte characters; labels i/7. */
static void write_generated(const char *jsonl, const char *csv, size_t n)
{
    FILE *fj = fopen(jsonl, "wb"), *fc = fopen(csv, "wb");
    fprintf(fc, "q,score,d\n");
    for (size_t i = 0; i < n; i++) {
        unsigned k = (unsigned)(rng() % 6);
        const char *extra[] = {"", "with \\\"quote\\\"", "comma, here", "new\\nline", "\\u00e9t\\u00e9",
                               "\\ud83d\\ude00"};
        const char *extra_csv[] = {"", "with \"\"quote\"\"", "comma, here", "new\nline", "\xc3\xa9t\xc3\xa9",
                                   "\xf0\x9f\x98\x80"};
        fprintf(fj, "{\"q\": \"query %zu %s\", \"score\": %zu.0e-1, \"d\": \"doc %zu\"}\n", i, extra[k], i % 10, i);
        fprintf(fc, "\"query %zu %s\",%zu.0e-1,doc %zu\n", i, extra_csv[k], i % 10, i);
    }
    fclose(fj);
    fclose(fc);
}

/* Sequential reads in batches, then random batches with repeats (and from
 * several threads at once) must give the same bytes. */
static void check_random_access(const char *path, size_t n_rows)
{
    stc_dataset *ds;
    int rc = stc_dataset_open(&ds, path, NULL);
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    if (rc)
        return;
    CHECK(stc_dataset_num_rows(ds) == n_rows);
    /* The sequential pass, copied out. */
    char **seq = calloc(n_rows * 2, sizeof *seq);
    size_t *seq_len = calloc(n_rows * 2, sizeof *seq_len);
    float *seq_lab = calloc(n_rows, sizeof *seq_lab);
    stc_rows r;
    stc_rows_init(&r);
    for (size_t s = 0; s < n_rows; s += 97) {
        size_t b = n_rows - s < 97 ? n_rows - s : 97, rows[97];
        for (size_t i = 0; i < b; i++)
            rows[i] = s + i;
        CHECK(stc_dataset_read_rows(ds, rows, b, &r) == 0);
        for (size_t i = 0; i < b; i++) {
            for (int c = 0; c < 2; c++) {
                size_t l;
                const char *t = stc_rows_text(&r, i, c, &l);
                seq[(s + i) * 2 + c] = malloc(l + 1);
                memcpy(seq[(s + i) * 2 + c], t, l + 1);
                seq_len[(s + i) * 2 + c] = l;
            }
            seq_lab[s + i] = r.labels[i];
        }
    }
    char want[32];
    snprintf(want, sizeof want, "doc %zu", n_rows - 1);
    CHECK(seq_len[(n_rows - 1) * 2 + 1] == strlen(want) && !strcmp(seq[(n_rows - 1) * 2 + 1], want));
    int mismatches = 0;
    for (int rep = 0; rep < 200; rep++) {
        size_t b = 1 + rng() % 300, rows[300];
        for (size_t i = 0; i < b; i++)
            rows[i] = rng() % n_rows;
        if (stc_dataset_read_rows(ds, rows, b, &r) != 0) {
            mismatches++;
            continue;
        }
        for (size_t i = 0; i < b; i++) {
            for (int c = 0; c < 2; c++) {
                size_t l;
                const char *t = stc_rows_text(&r, i, c, &l);
                if (l != seq_len[rows[i] * 2 + c] || memcmp(t, seq[rows[i] * 2 + c], l))
                    mismatches++;
            }
            if (r.labels[i] != seq_lab[rows[i]])
                mismatches++;
        }
    }
    CHECK_MSG(mismatches == 0, "%s: %d random-access mismatches", path, mismatches);
    /* Threads sharing one dataset, each with its own stc_rows. */
    int thread_mismatches = 0;
#pragma omp parallel num_threads(4) reduction(+ : thread_mismatches)
    {
        stc_rows tr;
        stc_rows_init(&tr);
        uint64_t st = 0x1234567ull + (uint64_t)(size_t)&tr;
        for (int rep = 0; rep < 100; rep++) {
            size_t rows[64];
            for (int i = 0; i < 64; i++) {
                st = st * 6364136223846793005ull + 1442695040888963407ull;
                rows[i] = (size_t)(st >> 33) % n_rows;
            }
            if (stc_dataset_read_rows(ds, rows, 64, &tr) != 0) {
                thread_mismatches++;
                continue;
            }
            for (int i = 0; i < 64; i++) {
                size_t l;
                const char *t = stc_rows_text(&tr, (size_t)i, 0, &l);
                if (l != seq_len[rows[i] * 2] || memcmp(t, seq[rows[i] * 2], l) || tr.labels[i] != seq_lab[rows[i]])
                    thread_mismatches++;
            }
        }
        stc_rows_free(&tr);
    }
    CHECK_MSG(thread_mismatches == 0, "%s: %d mismatches with threads", path, thread_mismatches);
    for (size_t i = 0; i < n_rows * 2; i++)
        free(seq[i]);
    free(seq);
    free(seq_len);
    free(seq_lab);
    stc_rows_free(&r);
    stc_dataset_close(ds);
}

/* The generated JSONL and CSV files hold the same rows. */
static void check_generated_agree(const char *a, const char *b, size_t n_rows)
{
    stc_dataset *da, *db;
    if (stc_dataset_open(&da, a, NULL) || stc_dataset_open(&db, b, NULL)) {
        CHECK_MSG(0, "%s", stc_error_message());
        return;
    }
    stc_rows ra, rb;
    stc_rows_init(&ra);
    stc_rows_init(&rb);
    CHECK(read_all(da, &ra) == 0 && read_all(db, &rb) == 0);
    int diff = ra.n != n_rows || rb.n != n_rows;
    for (size_t i = 0; !diff && i < n_rows; i++) {
        for (int c = 0; c < 2; c++) {
            size_t la, lb;
            const char *ta = stc_rows_text(&ra, i, c, &la), *tb = stc_rows_text(&rb, i, c, &lb);
            diff |= la != lb || memcmp(ta, tb, la);
        }
        diff |= ra.labels[i] != rb.labels[i];
    }
    CHECK_MSG(!diff, "%s and %s differ", a, b);
    stc_rows_free(&ra);
    stc_rows_free(&rb);
    stc_dataset_close(da);
    stc_dataset_close(db);
}

/* ---- a large file --------------------------------------------------------------- */

static void check_large(size_t n_rows)
{
    char *path = tmp_path("large.jsonl");
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    for (size_t i = 0; i < n_rows; i++)
        fprintf(f, "{\"anchor\": \"what is item %zu?\", \"positive\": \"item %zu is a thing \\u00e9\", "
                   "\"score\": %zu}\n", i, i, i % 5);
    fclose(f);
    struct stat st;
    stat(path, &st);
    stc_dataset *ds;
    double t0 = now_s();
    int rc = stc_dataset_open(&ds, path, NULL);
    double t_build = now_s() - t0;
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    if (rc)
        return;
    CHECK(stc_dataset_num_rows(ds) == n_rows);
    CHECK(stc_dataset_index_source(ds) == STC_INDEX_BUILT_SAVED);
    stc_dataset_close(ds);
    t0 = now_s();
    CHECK(stc_dataset_open(&ds, path, NULL) == 0);
    double t_load = now_s() - t0;
    CHECK(stc_dataset_index_source(ds) == STC_INDEX_LOADED && stc_dataset_num_rows(ds) == n_rows);
    /* Read every row, in batches of 1024, in a shuffled batch order. */
    stc_rows r;
    stc_rows_init(&r);
    size_t nb = (n_rows + 1023) / 1024, *order = malloc(nb * sizeof *order), rows[1024];
    for (size_t i = 0; i < nb; i++)
        order[i] = i;
    for (size_t i = nb; i > 1; i--) {
        size_t j = rng() % i, t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    int bad = 0;
    t0 = now_s();
    for (size_t k = 0; k < nb; k++) {
        size_t s = order[k] * 1024, b = n_rows - s < 1024 ? n_rows - s : 1024;
        for (size_t i = 0; i < b; i++)
            rows[i] = s + i;
        if (stc_dataset_read_rows(ds, rows, b, &r) != 0 || r.labels[b - 1] != (float)((s + b - 1) % 5))
            bad++;
    }
    double t_read = now_s() - t0;
    CHECK(bad == 0);
    printf("large: %zu rows, %.1f MB: index built+saved in %.2f s, loaded in %.3f s, all rows read in %.2f s\n",
           n_rows, (double)st.st_size / 1e6, t_build, t_load, t_read);
    free(order);
    stc_rows_free(&r);
    stc_dataset_close(ds);
}

/* Removes the temporary directory's files (flat) and the directory. */
static void cleanup_tmp(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(int argc, char **argv)
{
    size_t large_rows = 1000000;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--rows"))
            large_rows = (size_t)strtoull(argv[i + 1], NULL, 10);

    const char *base = getenv("STC_BUILD_DIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_dataset.XXXXXX", base && stc_is_dir(base) ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }

    check_pairs(FX "pairs.jsonl");
    check_pairs(FX "pairs.csv");
    check_pairs(FX "pairs.tsv");
    check_distill(FX "distill.jsonl");
    check_distill(FX "distill.csv");
    check_utf8_repair();
    check_invalid_utf8();
    check_bad_inputs();
    check_skip(FX "mixed.jsonl", 4, "mixed.jsonl:2:");
    check_skip(FX "mixed.csv", 3, "mixed.csv:3:");
    check_small_reads();
    check_index_cache();

    char *gj = tmp_path("gen.jsonl"), *gc = tmp_path("gen.csv");
    write_generated(gj, gc, 5000);
    check_random_access(gj, 5000);
    check_random_access(gc, 5000);
    check_generated_agree(gj, gc, 5000);
    if (large_rows)
        check_large(large_rows);

    cleanup_tmp();
    return check_report("test_dataset");
}
