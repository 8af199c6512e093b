/*
 * WordPiece tokenizer with the semantics of Hugging Face's fast BERT tokenizer
 * (tokenizers: added tokens, BertNormalizer / Lowercase / NFD / StripAccents,
 * BertPreTokenizer, WordPiece, TemplateProcessing / BertProcessing /
 * RobertaProcessing), loaded from a model directory's tokenizer.json
 * (vocab.txt + tokenizer_config.json as fallback, as transformers'
 * BertTokenizer builds it). Anything else (BPE, Unigram, other normalizers or
 * pre-tokenizers) is an STC_ERR_DATA error naming the file and the feature.
 *
 * Ids produced are exactly what Sentence Transformers' model.tokenize() gives
 * (checked against sentence-transformers 6.3 / transformers 5 / tokenizers
 * 0.23): added tokens such as a literal "[SEP]" in the text become their id,
 * special tokens are added by the template, and the result is truncated to
 * max_len tokens (special tokens included; "longest_first" for pairs).
 * Current Sentence Transformers no longer strips texts (for a BERT
 * tokenizer that never changed the ids anyway). transformers' BertTokenizer
 * (and DistilBert/Electra/MPNet) rebuild the normalizer from
 * tokenizer_config.json's do_lower_case / strip_accents /
 * tokenize_chinese_chars; so does stc when that file names such a class (or
 * names none and config.json's model_type is bert, distilbert, electra, mpnet).
 *
 * Encoding is thread-safe (a loaded tokenizer is read-only) and allocates
 * nothing for a single text in the common case.
 */
#ifndef STC_DATA_TOKENIZER_H
#define STC_DATA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct stc_tokenizer stc_tokenizer;

/* Loads the tokenizer of a model directory. do_lower_case: -1 keeps the
 * tokenizer's own setting; 0/1 is Sentence Transformers' do_lower_case from
 * sentence_bert_config.json (1 prepends a Lowercase normalizer, Rust's
 * char::to_lowercase, unless the normalizer already has one: what ST does). */
int stc_tokenizer_load(stc_tokenizer **out, const char *model_dir, int do_lower_case);
void stc_tokenizer_free(stc_tokenizer *tok);

/* The same from bytes in memory (tests, fuzzing): the contents of a
 * tokenizer.json, or of a vocab.txt, plus optionally (config may be NULL) of
 * tokenizer_config.json; path names the first in messages. */
int stc_tokenizer_from_json(stc_tokenizer **out, const char *json, size_t len, const char *path,
                            const char *config, size_t config_len, int do_lower_case);
int stc_tokenizer_from_vocab(stc_tokenizer **out, const char *vocab, size_t len, const char *path,
                             const char *config, size_t config_len, int do_lower_case);

/* 1 + the largest id the tokenizer can emit (vocab, added tokens, template). */
int stc_tokenizer_vocab_size(const stc_tokenizer *tok);
/* 1 if a and b map the same tokens (vocab and added tokens) to the same
 * ids, as transformers' get_vocab() compares them (GISTEmbedLoss decides
 * with it whether its guide can read the model's token ids). */
int stc_tokenizer_same_vocab(const stc_tokenizer *a, const stc_tokenizer *b);

/* Ids of the pad / CLS / SEP tokens named by tokenizer_config.json or
 * special_tokens_map.json ("[PAD]", "[CLS]", "[SEP]" by default); -1 if the
 * vocab has no such token. */
int32_t stc_tokenizer_pad_id(const stc_tokenizer *tok);
int32_t stc_tokenizer_cls_id(const stc_tokenizer *tok);
int32_t stc_tokenizer_sep_id(const stc_tokenizer *tok);

/* Tokenizes one text of len bytes (need not be NUL-terminated; invalid UTF-8
 * is replaced by U+FFFD as Python's bytes.decode(errors="replace") does, and
 * the number of replacements is added to *n_invalid if non-NULL).
 * Writes at most max_len ids (specials included) to ids and, if non-NULL,
 * token type ids to type_ids (both must hold max_len entries). *n_tokens is
 * the count written; *n_untruncated (if non-NULL) the length before
 * truncation, specials included (asking for it makes the encoder tokenize
 * the whole text; without it, it stops once max_len ids are known).
 * A max_len shorter than the template's special tokens is STC_ERR_USAGE. */
int stc_tokenizer_encode(const stc_tokenizer *tok, const char *text, size_t len, int max_len,
                         int32_t *ids, int32_t *type_ids, int *n_tokens, int *n_untruncated,
                         long *n_invalid);

/* Pair encoding ([CLS] A [SEP] B [SEP], type ids 0.. then 1..), truncated
 * with the "longest_first" strategy to max_len. */
int stc_tokenizer_encode_pair(const stc_tokenizer *tok, const char *a, size_t alen,
                              const char *b, size_t blen, int max_len,
                              int32_t *ids, int32_t *type_ids, int *n_tokens, long *n_invalid);

#ifdef __cplusplus
}
#endif

#endif
