/*
 * Unicode helpers of the WordPiece tokenizer: the per-code-point flag table,
 * lower-case and NFD mappings, and Python-compatible UTF-8 decoding. See
 * data/tokenizer_unicode.h; the tables themselves are generated
 * (data/tokenizer_tables.c).
 */
#include "data/tokenizer_unicode.h"

#include "data/tokenizer_tables.h"

#include <pthread.h>
#include <utf8proc.h>

#define STC_TOKU_NCP 0x110000

/* Flags of every code point; written once under pthread_once, then only read. */
static uint16_t toku_flags[STC_TOKU_NCP];
static pthread_once_t toku_once = PTHREAD_ONCE_INIT;

/* Sets flag on every code point of a generated range table. */
static void toku_mark(const uint32_t (*ranges)[2], int n, uint16_t flag)
{
    for (int i = 0; i < n; i++)
        for (uint32_t c = ranges[i][0]; c <= ranges[i][1] && c < STC_TOKU_NCP; c++)
            toku_flags[c] |= flag;
}

/* Builds toku_flags from the generated tables and utf8proc's combining classes. */
static void toku_init(void)
{
    toku_mark(stc_tok_removed, stc_tok_removed_n, STC_TOKU_REMOVED);
    toku_mark(stc_tok_ws, stc_tok_ws_n, STC_TOKU_WS);
    toku_mark(stc_tok_punct, stc_tok_punct_n, STC_TOKU_PUNCT);
    toku_mark(stc_tok_chinese, stc_tok_chinese_n, STC_TOKU_CHINESE);
    toku_mark(stc_tok_mn, stc_tok_mn_n, STC_TOKU_MN);
    toku_mark(stc_tok_combining, stc_tok_combining_n, STC_TOKU_COMBINING);
    toku_mark(stc_tok_word, stc_tok_word_n, STC_TOKU_WORD);
    for (int i = 0; i < stc_tok_lower_n; i++)
        toku_flags[stc_tok_lower[i].cp] |= STC_TOKU_LOWER;
    for (int i = 0; i < stc_tok_nfd_n; i++)
        toku_flags[stc_tok_nfd[i].cp] |= STC_TOKU_NFD;
    for (uint32_t c = 0xAC00; c <= 0xD7A3; c++)
        toku_flags[c] |= STC_TOKU_NFD;
    for (uint32_t c = 0x300; c < STC_TOKU_NCP; c++)
        if (!(c >= 0xD800 && c < 0xE000) && utf8proc_get_property((utf8proc_int32_t)c)->combining_class)
            toku_flags[c] |= STC_TOKU_CCC;
}

const uint16_t *stc_toku_flags(void)
{
    pthread_once(&toku_once, toku_init);
    return toku_flags;
}

/* Binary search of a generated map; returns the entry or NULL. */
static const stc_tok_map_entry *toku_find(const stc_tok_map_entry *map, int n, uint32_t c)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (map[mid].cp == c)
            return &map[mid];
        if (map[mid].cp < c)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

int stc_toku_lower(uint32_t c, uint32_t *out)
{
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return 1;
    }
    const stc_tok_map_entry *e = toku_find(stc_tok_lower, stc_tok_lower_n, c);
    if (!e) {
        out[0] = c;
        return 1;
    }
    for (int i = 0; i < e->len; i++)
        out[i] = stc_tok_lower_data[e->off + i];
    return e->len;
}

int stc_toku_nfd(uint32_t c, uint32_t *out)
{
    if (c >= 0xAC00 && c <= 0xD7A3) { /* Hangul syllable: L V (T) */
        uint32_t s = c - 0xAC00;
        out[0] = 0x1100 + s / 588;
        out[1] = 0x1161 + (s % 588) / 28;
        if (s % 28) {
            out[2] = 0x11A7 + s % 28;
            return 3;
        }
        return 2;
    }
    const stc_tok_map_entry *e = toku_find(stc_tok_nfd, stc_tok_nfd_n, c);
    if (!e) {
        out[0] = c;
        return 1;
    }
    for (int i = 0; i < e->len; i++)
        out[i] = stc_tok_nfd_data[e->off + i];
    return e->len;
}

int stc_toku_ccc(uint32_t c)
{
    if (c < 0x300 || c >= STC_TOKU_NCP || (c >= 0xD800 && c < 0xE000))
        return 0;
    return utf8proc_get_property((utf8proc_int32_t)c)->combining_class;
}

int stc_toku_decode(const unsigned char *s, size_t n, uint32_t *cp, int *bad)
{
    unsigned b0 = s[0];
    *bad = 0;
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    int need;           /* continuation bytes after the lead */
    unsigned lo = 0x80; /* allowed range of the first continuation byte */
    unsigned hi = 0xBF;
    uint32_t c;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
        c = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        c = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0; /* no overlongs */
        else if (b0 == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        c = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *cp = 0xFFFD;
        *bad = 1;
        return 1;
    }
    size_t i = 1;
    for (; i <= (size_t)need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            /* The maximal valid prefix s[0..i) becomes one U+FFFD. */
            *cp = 0xFFFD;
            *bad = 1;
            return (int)i;
        }
        c = (c << 6) | (s[i] & 0x3F);
        lo = 0x80;
        hi = 0xBF;
    }
    *cp = c;
    return (int)i;
}

int stc_toku_encode(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

int stc_toku_valid_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int bad;
        i += (size_t)stc_toku_decode(u + i, n - i, &cp, &bad);
        if (bad)
            return 0;
    }
    return 1;
}
