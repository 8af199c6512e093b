/*
 * Unicode tables of the WordPiece tokenizer (data/tokenizer_tables.c, generated
 * by tools/make_tokenizer_tables.py from Hugging Face tokenizers). Range
 * tables are sorted, disjoint, inclusive [first, last] pairs; maps are sorted
 * by code point, each entry naming len code points at data[off].
 */
#ifndef STC_DATA_TOKENIZER_TABLES_H
#define STC_DATA_TOKENIZER_TABLES_H

#include <stdint.h>

typedef struct {
    uint32_t cp;  /* the mapped code point */
    uint16_t off; /* first output code point in the map's data array */
    uint16_t len; /* number of output code points (1..4) */
} stc_tok_map_entry;

extern const char stc_tok_tables_version[];

extern const uint32_t stc_tok_removed[][2];
extern const int stc_tok_removed_n;
extern const uint32_t stc_tok_ws[][2];
extern const int stc_tok_ws_n;
extern const uint32_t stc_tok_punct[][2];
extern const int stc_tok_punct_n;
extern const uint32_t stc_tok_chinese[][2];
extern const int stc_tok_chinese_n;
extern const uint32_t stc_tok_mn[][2];
extern const int stc_tok_mn_n;
extern const uint32_t stc_tok_combining[][2];
extern const int stc_tok_combining_n;
extern const uint32_t stc_tok_word[][2];
extern const int stc_tok_word_n;

extern const stc_tok_map_entry stc_tok_lower[];
extern const int stc_tok_lower_n;
extern const uint32_t stc_tok_lower_data[];
extern const stc_tok_map_entry stc_tok_nfd[];
extern const int stc_tok_nfd_n;
extern const uint32_t stc_tok_nfd_data[];

#endif
