/*
 * Unicode helpers of the WordPiece tokenizer (internal to data/tokenizer*.c).
 *
 * A code point's tokenizer properties live in one flag word, looked up in a
 * table of all 0x110000 code points built once per process from the
 * generated ranges of data/tokenizer_tables.c. Mappings (lower case, NFD)
 * are binary searches in the generated maps, Hangul syllables decomposed
 * arithmetically. Canonical combining classes (for the canonical reordering
 * NFD does) come from utf8proc.
 */
#ifndef STC_DATA_TOKENIZER_UNICODE_H
#define STC_DATA_TOKENIZER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum {
    STC_TOKU_REMOVED = 1 << 0,   /* deleted by clean_text (controls, format, private use, NUL, U+FFFD) */
    STC_TOKU_WS = 1 << 1,        /* Rust char::is_whitespace */
    STC_TOKU_PUNCT = 1 << 2,     /* isolated by BertPreTokenizer */
    STC_TOKU_CHINESE = 1 << 3,   /* CJK ideograph padded by handle_chinese_chars */
    STC_TOKU_MN = 1 << 4,        /* non-spacing mark dropped by BertNormalizer strip_accents */
    STC_TOKU_COMBINING = 1 << 5, /* combining mark dropped by the StripAccents normalizer */
    STC_TOKU_WORD = 1 << 6,      /* regex \w */
    STC_TOKU_LOWER = 1 << 7,     /* lower-casing changes the code point */
    STC_TOKU_NFD = 1 << 8,       /* NFD decomposes the code point */
    STC_TOKU_CCC = 1 << 9        /* canonical combining class is not 0 */
};

/* Longest output of one mapping (lower case or NFD). */
#define STC_TOKU_MAP_MAX 4

/* The flag table (0x110000 entries); built on first call, thread-safe. */
const uint16_t *stc_toku_flags(void);

/* Writes the lower-case mapping of c to out (1..STC_TOKU_MAP_MAX code points)
 * and returns the count; c itself if it has none. */
int stc_toku_lower(uint32_t c, uint32_t *out);

/* Writes the full canonical decomposition of c (as tokenizers' NFD does it)
 * and returns the count; c itself if it has none. */
int stc_toku_nfd(uint32_t c, uint32_t *out);

/* Canonical combining class of c (0 for starters). */
int stc_toku_ccc(uint32_t c);

/* Decodes one code point from s[0..n) (n >= 1) the way Python's
 * bytes.decode("utf-8", errors="replace") does: an ill-formed sequence
 * becomes U+FFFD and consumes its maximal valid prefix (at least one byte).
 * Returns the bytes consumed; *bad is set to 1 for a replacement, else 0. */
int stc_toku_decode(const unsigned char *s, size_t n, uint32_t *cp, int *bad);

/* Encodes c as UTF-8 into out (4 bytes room); returns the byte count. */
int stc_toku_encode(uint32_t c, char *out);

/* 1 if s[0..n) is well-formed UTF-8. */
int stc_toku_valid_utf8(const char *s, size_t n);

#endif
