/*
 * libFuzzer harness for the tokenizer's file parsers and encoder
 * (RELIABILITY.md, "Untrusted input"). Built by tests/cmake/tokenizer.cmake
 * as fuzz_replay_tokenizer (the seed corpus replayed under ASan/UBSan in
 * ctest, any compiler) and, with clang, the fuzz_tokenizer libFuzzer binary.
 *
 * Input: byte 0 chooses the parser and settings, the rest is the file.
 *   bit 0      0: tokenizer.json (stc_tokenizer_from_json), 1: vocab.txt
 *   bit 1      do_lower_case 1 (Sentence Transformers' Lowercase) instead of -1
 *   bits 2..7  max_len = 2 + value (2..65)
 *
 * A rejected file must be STC_ERR_DATA with a message naming it (or an
 * allocation failure). An accepted one is run on fixed tricky texts, on the
 * input bytes themselves and on pairs, and must keep its promises, else the
 * harness aborts (a finding): at most max_len ids, every id inside
 * [0, vocab_size), type ids 0/1 ... as the template says (non-negative),
 * n_untruncated >= n_tokens, and the same ids whether or not the encoder may
 * stop early.
 */
#include "data/tokenizer.h"
#include "util/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz-input"
#define FUZZ_MAX 600

/* Encodes one text two ways and checks the promises. */
static void fuzz_encode(const stc_tokenizer *tok, const char *s, size_t n, int max_len)
{
    int32_t ids[FUZZ_MAX], ids2[FUZZ_MAX], types[FUZZ_MAX];
    int nt = -1, nt2 = -1, nu = -1;
    long inv = 0;
    int rc = stc_tokenizer_encode(tok, s, n, max_len, ids, types, &nt, &nu, &inv);
    int rc2 = stc_tokenizer_encode(tok, s, n, max_len, ids2, NULL, &nt2, NULL, NULL);
    if (rc != rc2)
        abort();
    if (rc) {
        if (rc != STC_ERR_USAGE && rc != STC_ERR_NOMEM)
            abort();
        return;
    }
    if (nt < 0 || nt > max_len || nt != nt2 || nu < nt || inv < 0 || (size_t)inv > n)
        abort();
    for (int i = 0; i < nt; i++)
        if (ids[i] < 0 || ids[i] >= stc_tokenizer_vocab_size(tok) || ids[i] != ids2[i] || types[i] < 0)
            abort();
}

static void fuzz_pair(const stc_tokenizer *tok, const char *a, size_t alen, const char *b, size_t blen,
                      int max_len)
{
    int32_t ids[FUZZ_MAX], types[FUZZ_MAX];
    int nt = -1;
    int rc = stc_tokenizer_encode_pair(tok, a, alen, b, blen, max_len, ids, types, &nt, NULL);
    if (rc) {
        if (rc != STC_ERR_USAGE && rc != STC_ERR_NOMEM)
            abort();
        return;
    }
    if (nt < 0 || nt > max_len)
        abort();
    for (int i = 0; i < nt; i++)
        if (ids[i] < 0 || ids[i] >= stc_tokenizer_vocab_size(tok) || types[i] < 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0];
    const char *file = (const char *)data + 1;
    size_t len = size - 1;
    int dlc = (mode & 2) ? 1 : -1;
    int max_len = 2 + (mode >> 2);
    stc_tokenizer *tok = NULL;
    int rc = (mode & 1) ? stc_tokenizer_from_vocab(&tok, file, len, FUZZ_NAME, NULL, 0, dlc)
                        : stc_tokenizer_from_json(&tok, file, len, FUZZ_NAME, NULL, 0, dlc);
    if (rc) {
        if (tok || (rc != STC_ERR_NOMEM && (rc != STC_ERR_DATA || !strstr(stc_error_message(), FUZZ_NAME))))
            abort();
        return 0;
    }
    static const char *const texts[] = {
        "Hello [SEP] world, [CLS]x[MASK]y!",
        "h\xc3\xa9llo W\xc3\xb6rld \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \xc4\xb0stanbul \xce\xa3\xcf\x82",
        "\xff\xfe broken \xe2\x82 utf-8 \xed\xa0\x80",
        "a\xcc\x81\xcc\xa3 \xf0\x9d\x85\xad\xf0\x9d\x85\xa5 \t\n\r\x01 <s> </s> ## @@",
        "",
        ("supercalifragilisticexpialidocioussupercalifragilisticexpialidocioussupercalifragilisticexpialidocious"
         "supercalifragilistic"),
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        fuzz_encode(tok, texts[i], strlen(texts[i]), max_len);
        fuzz_encode(tok, texts[i], strlen(texts[i]), FUZZ_MAX);
    }
    size_t n = len < 4096 ? len : 4096;
    fuzz_encode(tok, file, n, max_len);
    fuzz_encode(tok, file, n, FUZZ_MAX);
    fuzz_pair(tok, texts[0], strlen(texts[0]), file, n, max_len);
    fuzz_pair(tok, file, n, texts[1], strlen(texts[1]), FUZZ_MAX);
    stc_tokenizer_free(tok);
    return 0;
}
