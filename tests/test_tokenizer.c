/*
 * Parity of stc's WordPiece tokenizer (data/tokenizer.c) with Sentence
 * Transformers / Hugging Face tokenizers, on the fixtures written by
 * tools/make_tokenizer_fixtures.py (tests/fixtures/tokenizer/):
 *   - every text of texts.jsonl gives exactly the ids of model.tokenize() at
 *     max_seq_length 256 and 16, through tokenizer.json and through the
 *     vocab.txt fallback (a directory holding only vocab.txt and
 *     tokenizer_config.json), with do_lower_case=1 (ST's Lowercase), and with
 *     tokenizer_config.json's do_lower_case=false (transformers' override);
 *   - pair encodings ([CLS] A [SEP] B [SEP], type ids, longest_first);
 *   - raw bytes with ill-formed UTF-8 (ids and the replacement count);
 *   - features.jsonl: small tokenizer.json variants run through the
 *     `tokenizers` library (added-token flags, normalizer sequences, other
 *     post-processors, no pre-tokenizer, other subword prefixes);
 *   - malformed or unsupported tokenizer files are STC_ERR_DATA errors that
 *     name the file and what is wrong.
 *
 *   test_tokenizer                 the checks (ctest)
 *   test_tokenizer --bench N       also times N texts (fixture texts repeated)
 *   test_tokenizer --encode DIR MAX_LEN DO_LOWER_CASE
 *                                  reads hex-encoded texts (one per line) on
 *                                  stdin, writes "n_invalid ids..." lines: the
 *                                  stc side of tools/check_tokenizer_parity.py
 */
#include "data/tokenizer.h"

#include "check.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FIX "fixtures/tokenizer/"
#define MAX_IDS 4096

typedef struct {
    char *s;    /* text bytes (may hold NULs) */
    size_t len;
} text_t;

typedef struct {
    int32_t *ids;
    int n;
} idlist_t;

/* Failures reported in detail per check group before going quiet. */
static int detail_budget;

/* Decodes one ASCII-escaped JSON string literal (json.dumps(ensure_ascii))
 * into bytes; NULs survive, unlike in cJSON's valuestring. */
static int json_string_bytes(const char *p, text_t *out)
{
    size_t cap = strlen(p) + 1, n = 0;
    char *b = malloc(cap);
    if (!b || *p++ != '"')
        goto bad;
    while (*p && *p != '"') {
        if (*p != '\\') {
            b[n++] = *p++;
            continue;
        }
        p++;
        char e = *p++;
        switch (e) {
        case 'n': b[n++] = '\n'; break;
        case 't': b[n++] = '\t'; break;
        case 'r': b[n++] = '\r'; break;
        case 'b': b[n++] = '\b'; break;
        case 'f': b[n++] = '\f'; break;
        case '"': case '\\': case '/': b[n++] = e; break;
        case 'u': {
            unsigned c = 0;
            if (sscanf(p, "%4x", &c) != 1)
                goto bad;
            p += 4;
            if (c >= 0xD800 && c < 0xDC00 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = 0;
                if (sscanf(p + 2, "%4x", &lo) == 1 && lo >= 0xDC00 && lo < 0xE000) {
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (c < 0x80) {
                b[n++] = (char)c;
            } else if (c < 0x800) {
                b[n++] = (char)(0xC0 | (c >> 6));
                b[n++] = (char)(0x80 | (c & 0x3F));
            } else if (c < 0x10000) {
                b[n++] = (char)(0xE0 | (c >> 12));
                b[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
                b[n++] = (char)(0x80 | (c & 0x3F));
            } else {
                b[n++] = (char)(0xF0 | (c >> 18));
                b[n++] = (char)(0x80 | ((c >> 12) & 0x3F));
                b[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
                b[n++] = (char)(0x80 | (c & 0x3F));
            }
            break;
        }
        default:
            goto bad;
        }
    }
    out->s = b;
    out->len = n;
    return 0;
bad:
    free(b);
    return -1;
}

/* Splits a file into lines (the buffer is modified; lines point into it). */
static int read_lines(const char *path, char **buf, char ***lines, int *n)
{
    size_t len;
    if (stc_read_file(path, buf, &len)) {
        fprintf(stderr, "%s\n", stc_error_message());
        return -1;
    }
    int cap = 64;
    *lines = malloc(sizeof(char *) * (size_t)cap);
    *n = 0;
    for (char *p = *buf; *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (*n == cap) {
            cap *= 2;
            *lines = realloc(*lines, sizeof(char *) * (size_t)cap);
        }
        (*lines)[(*n)++] = p;
        if (!nl)
            break;
        p = nl + 1;
    }
    return 0;
}

/* Ints of a cJSON array. */
static idlist_t json_ids(const cJSON *a)
{
    idlist_t l = {NULL, 0};
    int n = cJSON_GetArraySize(a);
    l.ids = malloc(sizeof(int32_t) * (size_t)(n + 1));
    const cJSON *v;
    cJSON_ArrayForEach(v, a) l.ids[l.n++] = (int32_t)v->valuedouble;
    return l;
}

static int load_texts(text_t **texts, int *n)
{
    char *buf, **lines;
    if (read_lines(FIX "texts.jsonl", &buf, &lines, n))
        return -1;
    *texts = calloc((size_t)*n, sizeof **texts);
    for (int i = 0; i < *n; i++)
        if (json_string_bytes(lines[i], &(*texts)[i])) {
            fprintf(stderr, "texts.jsonl:%d: bad JSON string\n", i + 1);
            return -1;
        }
    free(lines);
    free(buf);
    return 0;
}

static int load_expected(const char *path, idlist_t **exp, int n_texts)
{
    char *buf, **lines;
    int n;
    if (read_lines(path, &buf, &lines, &n))
        return -1;
    if (n != n_texts) {
        fprintf(stderr, "%s: %d lines for %d texts\n", path, n, n_texts);
        return -1;
    }
    *exp = calloc((size_t)n, sizeof **exp);
    for (int i = 0; i < n; i++) {
        cJSON *a = cJSON_Parse(lines[i]);
        if (!cJSON_IsArray(a)) {
            fprintf(stderr, "%s:%d: not a JSON array\n", path, i + 1);
            return -1;
        }
        (*exp)[i] = json_ids(a);
        cJSON_Delete(a);
    }
    free(lines);
    free(buf);
    return 0;
}

static void print_ids(const char *what, const int32_t *ids, int n)
{
    fprintf(stderr, "    %s (%d):", what, n);
    for (int i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static void print_text(const text_t *t)
{
    fprintf(stderr, "    text: \"");
    for (size_t i = 0; i < t->len && i < 160; i++) {
        unsigned char c = (unsigned char)t->s[i];
        if (c < 0x20 || c == 0x7f)
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fprintf(stderr, t->len > 160 ? "\"...\n" : "\"\n");
}

/* Encodes every text at max_len and compares with exp; reports the first
 * mismatches with their text. */
static void check_all(const stc_tokenizer *tok, const char *what, const text_t *texts, const idlist_t *exp,
                      int n, int max_len)
{
    int32_t ids[MAX_IDS], types[MAX_IDS], ids2[MAX_IDS];
    int bad = 0;
    detail_budget = 5;
    for (int i = 0; i < n; i++) {
        int nt = -1, nu = -1, nt2 = -1;
        long inv = 0;
        int rc = stc_tokenizer_encode(tok, texts[i].s, texts[i].len, max_len, ids, types, &nt, &nu, &inv);
        /* Without n_untruncated the encoder may stop early: same ids. */
        int rc2 = stc_tokenizer_encode(tok, texts[i].s, texts[i].len, max_len, ids2, NULL, &nt2, NULL, NULL);
        int ok = rc == 0 && rc2 == 0 && nt == exp[i].n && nt2 == nt && nu >= nt && (nu == nt || nt == max_len) &&
                 !memcmp(ids, exp[i].ids, sizeof(int32_t) * (size_t)nt) &&
                 !memcmp(ids2, ids, sizeof(int32_t) * (size_t)nt);
        for (int k = 0; ok && k < nt; k++)
            ok = types[k] == 0;
        if (!ok) {
            bad++;
            if (detail_budget-- > 0) {
                fprintf(stderr, "  %s: text %d (max_len %d) mismatch (rc %d: %s)\n", what, i + 1, max_len, rc,
                        rc ? stc_error_message() : "");
                print_text(&texts[i]);
                print_ids("expected", exp[i].ids, exp[i].n);
                print_ids("stc     ", ids, nt);
            }
        }
    }
    CHECK_MSG(bad == 0, "%s: %d of %d texts differ at max_len %d", what, bad, n, max_len);
    printf("%s, max_len %d: %d/%d texts identical\n", what, max_len, n - bad, n);
}

/* Many threads share one tokenizer (encoding is read-only): every text,
 * encoded 8 times over 4 threads, gives its expected ids. */
static void check_threads(const stc_tokenizer *tok, const text_t *texts, const idlist_t *exp, int n)
{
    int bad = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(4) reduction(+ : bad) schedule(dynamic, 7)
#endif
    for (int k = 0; k < 8 * n; k++) {
        int32_t ids[256];
        int nt = 0;
        int i = k % n;
        if (stc_tokenizer_encode(tok, texts[i].s, texts[i].len, 256, ids, NULL, &nt, NULL, NULL) ||
            nt != exp[i].n || memcmp(ids, exp[i].ids, sizeof(int32_t) * (size_t)nt))
            bad++;
    }
    CHECK_MSG(bad == 0, "threads: %d encodings differ", bad);
}

/* n_untruncated at a small max_len equals the full length. */
static void check_untruncated(const stc_tokenizer *tok, const text_t *texts, int n)
{
    int32_t ids[MAX_IDS];
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int n_full = 0, n_small = 0, nu = 0;
        stc_tokenizer_encode(tok, texts[i].s, texts[i].len, MAX_IDS, ids, NULL, &n_full, NULL, NULL);
        stc_tokenizer_encode(tok, texts[i].s, texts[i].len, 8, ids, NULL, &n_small, &nu, NULL);
        if (nu != n_full || n_small != (n_full < 8 ? n_full : 8))
            bad++;
    }
    CHECK_MSG(bad == 0, "n_untruncated wrong on %d texts", bad);
}

static void check_pairs(const stc_tokenizer *tok, const text_t *texts, int n_texts)
{
    char *buf, **lines;
    int n;
    if (read_lines(FIX "pairs.jsonl", &buf, &lines, &n)) {
        CHECK(0);
        return;
    }
    int bad = 0;
    detail_budget = 5;
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_Parse(lines[i]);
        int a = cJSON_GetObjectItem(o, "a")->valueint, b = cJSON_GetObjectItem(o, "b")->valueint;
        int max_len = cJSON_GetObjectItem(o, "max_len")->valueint;
        idlist_t e = json_ids(cJSON_GetObjectItem(o, "ids")), et = json_ids(cJSON_GetObjectItem(o, "type_ids"));
        int32_t ids[MAX_IDS], types[MAX_IDS];
        int nt = -1;
        int rc = a < n_texts && b < n_texts
                     ? stc_tokenizer_encode_pair(tok, texts[a].s, texts[a].len, texts[b].s, texts[b].len, max_len,
                                                 ids, types, &nt, NULL)
                     : -1;
        int ok = rc == 0 && nt == e.n && !memcmp(ids, e.ids, sizeof(int32_t) * (size_t)nt) &&
                 !memcmp(types, et.ids, sizeof(int32_t) * (size_t)nt);
        if (!ok) {
            bad++;
            if (detail_budget-- > 0) {
                fprintf(stderr, "  pair %d (texts %d, %d, max_len %d) mismatch\n", i + 1, a + 1, b + 1, max_len);
                print_ids("expected", e.ids, e.n);
                print_ids("stc     ", ids, nt);
                print_ids("expected types", et.ids, et.n);
                print_ids("stc types     ", types, nt);
            }
        }
        free(e.ids);
        free(et.ids);
        cJSON_Delete(o);
    }
    CHECK_MSG(bad == 0, "pairs: %d of %d differ", bad, n);
    printf("pairs: %d/%d identical\n", n - bad, n);
    free(lines);
    free(buf);
}

static int unhex(const char *h, char **out, size_t *len)
{
    size_t n = strlen(h) / 2;
    *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1)
            return -1;
        (*out)[i] = (char)v;
    }
    *len = n;
    return 0;
}

static void check_invalid_utf8(const stc_tokenizer *tok)
{
    char *buf, **lines;
    int n;
    if (read_lines(FIX "invalid_utf8.jsonl", &buf, &lines, &n)) {
        CHECK(0);
        return;
    }
    int bad = 0;
    detail_budget = 5;
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_Parse(lines[i]);
        char *raw;
        size_t len;
        unhex(cJSON_GetObjectItem(o, "hex")->valuestring, &raw, &len);
        long want_inv = (long)cJSON_GetObjectItem(o, "n_invalid")->valuedouble;
        idlist_t e = json_ids(cJSON_GetObjectItem(o, "ids"));
        int32_t ids[MAX_IDS];
        int nt = -1;
        long inv = 7; /* counts are added */
        int rc = stc_tokenizer_encode(tok, raw, len, 256, ids, NULL, &nt, NULL, &inv);
        if (rc || nt != e.n || memcmp(ids, e.ids, sizeof(int32_t) * (size_t)nt) || inv != 7 + want_inv) {
            bad++;
            if (detail_budget-- > 0) {
                fprintf(stderr, "  invalid UTF-8 case %d (%s): n_invalid %ld, want %ld\n", i + 1,
                        cJSON_GetObjectItem(o, "hex")->valuestring, inv - 7, want_inv);
                print_ids("expected", e.ids, e.n);
                print_ids("stc     ", ids, nt);
            }
        }
        free(raw);
        free(e.ids);
        cJSON_Delete(o);
    }
    CHECK_MSG(bad == 0, "invalid UTF-8: %d of %d differ", bad, n);
    printf("invalid UTF-8: %d/%d identical\n", n - bad, n);
    free(lines);
    free(buf);
}

/* features.jsonl: {"name", "tokenizer": {...}, "do_lower_case": -1/1,
 * "texts_hex": [...], "cases": [{"a", ["b"], "max_len", "ids", "type_ids"}]}. */
static void check_features(void)
{
    char *buf, **lines;
    int n;
    if (read_lines(FIX "features.jsonl", &buf, &lines, &n)) {
        CHECK(0);
        return;
    }
    int bad = 0, total = 0;
    detail_budget = 8;
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_Parse(lines[i]);
        const char *name = cJSON_GetObjectItem(o, "name")->valuestring;
        char *json = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "tokenizer"));
        stc_tokenizer *tok = NULL;
        int rc = stc_tokenizer_from_json(&tok, json, strlen(json), name, NULL, 0,
                                         cJSON_GetObjectItem(o, "do_lower_case")->valueint);
        free(json);
        CHECK_MSG(rc == 0, "feature %s: %s", name, stc_error_message());
        const cJSON *hexes = cJSON_GetObjectItem(o, "texts_hex");
        int nt_texts = cJSON_GetArraySize(hexes);
        text_t *tx = calloc((size_t)nt_texts, sizeof *tx);
        for (int k = 0; k < nt_texts; k++)
            unhex(cJSON_GetArrayItem(hexes, k)->valuestring, &tx[k].s, &tx[k].len);
        const cJSON *c;
        int k = 0;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(o, "cases")) {
            k++;
            total++;
            if (!tok)
                continue;
            const text_t *a = &tx[cJSON_GetObjectItem(c, "a")->valueint];
            const cJSON *jb = cJSON_GetObjectItem(c, "b");
            const text_t *b = jb ? &tx[jb->valueint] : NULL;
            int max_len = cJSON_GetObjectItem(c, "max_len")->valueint;
            idlist_t e = json_ids(cJSON_GetObjectItem(c, "ids")), et = json_ids(cJSON_GetObjectItem(c, "type_ids"));
            int32_t ids[MAX_IDS], types[MAX_IDS];
            int nt = -1;
            rc = b ? stc_tokenizer_encode_pair(tok, a->s, a->len, b->s, b->len, max_len, ids, types, &nt, NULL)
                   : stc_tokenizer_encode(tok, a->s, a->len, max_len, ids, types, &nt, NULL, NULL);
            if (rc || nt != e.n || memcmp(ids, e.ids, sizeof(int32_t) * (size_t)nt) ||
                memcmp(types, et.ids, sizeof(int32_t) * (size_t)nt)) {
                bad++;
                if (detail_budget-- > 0) {
                    fprintf(stderr, "  feature %s case %d (max_len %d%s) mismatch (rc %d %s)\n", name, k, max_len,
                            b ? ", pair" : "", rc, rc ? stc_error_message() : "");
                    print_text(a);
                    if (b)
                        print_text(b);
                    print_ids("expected", e.ids, e.n);
                    print_ids("stc     ", ids, nt);
                    print_ids("expected types", et.ids, et.n);
                    print_ids("stc types     ", types, nt);
                }
            }
            free(e.ids);
            free(et.ids);
        }
        for (int t = 0; t < nt_texts; t++)
            free(tx[t].s);
        free(tx);
        stc_tokenizer_free(tok);
        cJSON_Delete(o);
    }
    CHECK_MSG(bad == 0, "features: %d of %d cases differ", bad, total);
    printf("features: %d/%d cases identical over %d tokenizer variants\n", total - bad, total, n);
    free(lines);
    free(buf);
}

/* A bad tokenizer file is STC_ERR_DATA naming the file and the problem. */
static void expect_json_error(const char *json, const char *needle)
{
    stc_tokenizer *tok = NULL;
    stc_error_clear();
    int rc = stc_tokenizer_from_json(&tok, json, strlen(json), "bad/tokenizer.json", NULL, 0, -1);
    const char *msg = stc_error_message();
    CHECK_MSG(rc == STC_ERR_DATA && tok == NULL && strstr(msg, "bad/tokenizer.json") && strstr(msg, needle),
              "rc %d, message \"%s\", wanted \"%s\"", rc, msg, needle);
    stc_tokenizer_free(tok);
}

static void check_errors(void)
{
    expect_json_error("{\"model\": ", "invalid JSON");
    expect_json_error("[1, 2]", "invalid JSON");
    expect_json_error("{\"normalizer\": null}", "model");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\"}}", "vocab");
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", "BPE");
    expect_json_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.0]]}}", "Unigram");
    expect_json_error("{\"model\": {\"vocab\": [[\"a\", -1.0]]}}", "WordPiece");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", "[UNK]");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": -3}}}", "id");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}},"
                      " \"normalizer\": {\"type\": \"NFKC\"}}",
                      "NFKC");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}},"
                      " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
                      "ByteLevel");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}},"
                      " \"post_processor\": {\"type\": \"ByteLevel\"}}",
                      "ByteLevel");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}},"
                      " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": "
                      "[{\"SpecialToken\": {\"id\": \"[X]\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {}}}",
                      "[X]");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}, "
                      "\"max_input_chars_per_word\": 1e12}}",
                      "max_input_chars_per_word");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}}, \"added_tokens\": "
                      "[{\"content\": \"x\"}]}",
                      "added token");
    const char bad_utf8[] = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"\xff\": 0}}}";
    expect_json_error(bad_utf8, "UTF-8");

    /* vocab.txt: invalid UTF-8 line, unknown token missing. */
    stc_tokenizer *tok = NULL;
    int rc = stc_tokenizer_from_vocab(&tok, "[UNK]\n\xff\n", 8, "bad/vocab.txt", NULL, 0, -1);
    CHECK_MSG(rc == STC_ERR_DATA && strstr(stc_error_message(), "bad/vocab.txt") &&
                  strstr(stc_error_message(), "line 2"),
              "%s", stc_error_message());
    rc = stc_tokenizer_from_vocab(&tok, "a\nb\n", 4, "bad/vocab.txt", NULL, 0, -1);
    CHECK_MSG(rc == STC_ERR_DATA && strstr(stc_error_message(), "[UNK]"), "%s", stc_error_message());
    rc = stc_tokenizer_from_vocab(&tok, "[UNK]\n", 6, "bad/vocab.txt", "{\"do_lower_case\": 3}", 20, -1);
    CHECK_MSG(rc == STC_ERR_DATA && strstr(stc_error_message(), "do_lower_case"), "%s", stc_error_message());
    rc = stc_tokenizer_load(&tok, "fixtures/tokenizer/no-such-dir", -1);
    CHECK_MSG(rc == STC_ERR_DATA && strstr(stc_error_message(), "no-such-dir"), "%s", stc_error_message());

    /* A max_len too short for the specials is a usage error. */
    const char *json = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2}},"
                       " \"post_processor\": {\"type\": \"BertProcessing\", \"sep\": [\"[SEP]\", 2], "
                       "\"cls\": [\"[CLS]\", 1]}}";
    rc = stc_tokenizer_from_json(&tok, json, strlen(json), "ok/tokenizer.json", NULL, 0, -1);
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    if (!rc) {
        int32_t ids[8];
        int nt;
        CHECK(stc_tokenizer_encode(tok, "a", 1, 1, ids, NULL, &nt, NULL, NULL) == STC_ERR_USAGE);
        CHECK(stc_tokenizer_encode(tok, "a", 1, 2, ids, NULL, &nt, NULL, NULL) == 0 && nt == 2);
        CHECK(stc_tokenizer_encode_pair(tok, "a", 1, "b", 1, 2, ids, NULL, &nt, NULL) == STC_ERR_USAGE);
        CHECK(stc_tokenizer_encode_pair(tok, "a", 1, "b", 1, 3, ids, NULL, &nt, NULL) == 0 && nt == 3);
        CHECK(stc_tokenizer_cls_id(tok) == 1 && stc_tokenizer_sep_id(tok) == 2 && stc_tokenizer_pad_id(tok) == -1);
        stc_tokenizer_free(tok);
    }
}

/* Copies src to dir/name. */
static int copy_file(const char *src, const char *dir, const char *name)
{
    char *data;
    size_t len;
    if (stc_read_file(src, &data, &len))
        return -1;
    char *dst = stc_path_join(dir, name);
    int rc = stc_write_file_atomic(dst, data, len);
    free(dst);
    free(data);
    return rc;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Tokenizes n_texts texts (the fixture texts, repeated) at max_len 256 and
 * prints texts/s and tokens/s (specials included): once as a caller that
 * needs only the kept ids (the encoder stops at max_len), once asking for
 * the untruncated length too (every text tokenized to its end). */
static void bench(const stc_tokenizer *tok, const text_t *texts, int n, long n_texts)
{
    int32_t ids[256];
    for (int full = 0; full < 2; full++) {
        long tokens = 0, all_tokens = 0;
        size_t bytes = 0;
        double t0 = now();
        for (long i = 0; i < n_texts; i++) {
            int nt, nu = 0;
            const text_t *t = &texts[i % n];
            stc_tokenizer_encode(tok, t->s, t->len, 256, ids, NULL, &nt, full ? &nu : NULL, NULL);
            tokens += nt;
            all_tokens += nu;
            bytes += t->len;
        }
        double dt = now() - t0;
        printf("bench (%s): %ld texts, %.1f MB, %ld tokens kept%s in %.3f s: %.0f texts/s, %.0f tokens/s, "
               "%.1f MB/s (1 thread)\n",
               full ? "n_untruncated" : "kept ids only", n_texts, (double)bytes / 1e6, tokens,
               full ? " (all tokenized)" : "", dt, (double)n_texts / dt, (double)tokens / dt,
               (double)bytes / 1e6 / dt);
        if (full)
            printf("bench: %ld tokens before truncation, %.0f tokens/s\n", all_tokens, (double)all_tokens / dt);
    }
}

/* --encode: the stc side of the randomized parity check. */
static int encode_stdin(const char *dir, int max_len, int do_lower_case)
{
    stc_tokenizer *tok;
    if (stc_tokenizer_load(&tok, dir, do_lower_case)) {
        fprintf(stderr, "%s\n", stc_error_message());
        return 1;
    }
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)max_len);
    size_t cap = 1 << 16;
    char *line = malloc(cap), *raw = NULL;
    while (fgets(line, (int)cap, stdin)) {
        size_t n = strlen(line);
        while (n == cap - 1 && line[n - 1] != '\n') {
            line = realloc(line, cap * 2);
            if (!fgets(line + n, (int)(cap + 1), stdin))
                break;
            cap *= 2;
            n = strlen(line);
        }
        if (n && line[n - 1] == '\n')
            line[--n] = '\0';
        size_t len;
        unhex(line, &raw, &len);
        int nt = 0;
        long inv = 0;
        if (stc_tokenizer_encode(tok, raw, len, max_len, ids, NULL, &nt, NULL, &inv)) {
            fprintf(stderr, "%s\n", stc_error_message());
            return 1;
        }
        free(raw);
        printf("%ld", inv);
        for (int i = 0; i < nt; i++)
            printf(" %d", (int)ids[i]);
        putchar('\n');
    }
    free(line);
    free(ids);
    stc_tokenizer_free(tok);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "--encode"))
        return encode_stdin(argv[2], atoi(argv[3]), atoi(argv[4]));
    long bench_n = argc == 3 && !strcmp(argv[1], "--bench") ? atol(argv[2]) : 0;
    text_t *texts;
    int n;
    idlist_t *e256, *e16, *ecased;
    if (load_texts(&texts, &n) || load_expected(FIX "expected_256.jsonl", &e256, n) ||
        load_expected(FIX "expected_16.jsonl", &e16, n) || load_expected(FIX "expected_cased.jsonl", &ecased, n)) {
        CHECK_MSG(0, "cannot read the fixtures (run from tests/)");
        return check_report("test_tokenizer");
    }

    /* tokenizer.json path. */
    stc_tokenizer *tok = NULL;
    int rc = stc_tokenizer_load(&tok, FIX "minilm", -1);
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    if (!rc) {
        CHECK(stc_tokenizer_vocab_size(tok) == 30522);
        CHECK(stc_tokenizer_pad_id(tok) == 0 && stc_tokenizer_cls_id(tok) == 101 && stc_tokenizer_sep_id(tok) == 102);
        check_all(tok, "tokenizer.json", texts, e256, n, 256);
        check_all(tok, "tokenizer.json", texts, e16, n, 16);
        check_untruncated(tok, texts, n);
        check_threads(tok, texts, e256, n);
        check_pairs(tok, texts, n);
        check_invalid_utf8(tok);
    }

    /* do_lower_case=1: ST prepends a Lowercase normalizer, which does not
     * change the ids of this already-lowercasing tokenizer (the fixture
     * generator checks that in Python). */
    stc_tokenizer *low = NULL;
    rc = stc_tokenizer_load(&low, FIX "minilm", 1);
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    if (!rc)
        check_all(low, "do_lower_case=1", texts, e256, n, 256);
    stc_tokenizer_free(low);

    /* vocab.txt fallback: a directory with only vocab.txt + tokenizer_config.json. */
    char dir[] = "/tmp/stc-test-tokenizer-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    stc_tokenizer *vt = NULL;
    if (copy_file(FIX "minilm/vocab.txt", dir, "vocab.txt") == 0 &&
        copy_file(FIX "minilm/tokenizer_config.json", dir, "tokenizer_config.json") == 0) {
        rc = stc_tokenizer_load(&vt, dir, -1);
        CHECK_MSG(rc == 0, "%s", stc_error_message());
        if (!rc) {
            CHECK(stc_tokenizer_vocab_size(vt) == 30522);
            CHECK(stc_tokenizer_pad_id(vt) == 0 && stc_tokenizer_cls_id(vt) == 101 &&
                  stc_tokenizer_sep_id(vt) == 102);
            check_all(vt, "vocab.txt", texts, e256, n, 256);
            check_all(vt, "vocab.txt", texts, e16, n, 16);
            check_pairs(vt, texts, n);
        }
    } else {
        CHECK_MSG(0, "cannot copy the vocab fixture: %s", stc_error_message());
    }
    stc_tokenizer_free(vt);
    char *p;
    p = stc_path_join(dir, "vocab.txt");
    unlink(p);
    free(p);
    p = stc_path_join(dir, "tokenizer_config.json");
    unlink(p);
    free(p);
    rmdir(dir);

    /* tokenizer_config.json do_lower_case=false overrides the BertNormalizer
     * (tokenizer.json and vocab.txt alike). */
    {
        char *json, *vocab, *cfgtext;
        size_t jlen, vlen, clen;
        if (!stc_read_file(FIX "minilm/tokenizer.json", &json, &jlen) &&
            !stc_read_file(FIX "minilm/vocab.txt", &vocab, &vlen) &&
            !stc_read_file(FIX "minilm/tokenizer_config.json", &cfgtext, &clen)) {
            cJSON *cfg = cJSON_Parse(cfgtext);
            cJSON_ReplaceItemInObject(cfg, "do_lower_case", cJSON_CreateFalse());
            char *cased = cJSON_PrintUnformatted(cfg);
            stc_tokenizer *c1 = NULL, *c2 = NULL;
            rc = stc_tokenizer_from_json(&c1, json, jlen, "minilm/tokenizer.json", cased, strlen(cased), -1);
            CHECK_MSG(rc == 0, "%s", stc_error_message());
            if (!rc)
                check_all(c1, "cased tokenizer.json", texts, ecased, n, 256);
            rc = stc_tokenizer_from_vocab(&c2, vocab, vlen, "minilm/vocab.txt", cased, strlen(cased), -1);
            CHECK_MSG(rc == 0, "%s", stc_error_message());
            if (!rc)
                check_all(c2, "cased vocab.txt", texts, ecased, n, 256);
            stc_tokenizer_free(c1);
            stc_tokenizer_free(c2);
            free(cased);
            cJSON_Delete(cfg);
            free(json);
            free(vocab);
            free(cfgtext);
        } else {
            CHECK_MSG(0, "%s", stc_error_message());
        }
    }

    check_features();
    check_errors();

    if (bench_n > 0 && tok)
        bench(tok, texts, n, bench_n);
    stc_tokenizer_free(tok);
    for (int i = 0; i < n; i++) {
        free(texts[i].s);
        free(e256[i].ids);
        free(e16[i].ids);
        free(ecased[i].ids);
    }
    free(texts);
    free(e256);
    free(e16);
    free(ecased);
    return check_report("test_tokenizer");
}
