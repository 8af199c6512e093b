/*
 * WordPiece tokenizer with the exact semantics of Hugging Face's fast BERT
 * tokenizer as Sentence Transformers drives it (see data/tokenizer.h).
 *
 * The Rust crate's pipeline, reproduced step by step:
 *   1. added tokens with normalized=false (the specials [CLS], [SEP], ...) are
 *      cut out of the raw text, leftmost-longest, honouring single_word,
 *      lstrip and rstrip (tokenizer/added_vocabulary.rs);
 *   2. each remaining segment is normalized (BertNormalizer: clean_text,
 *      handle_chinese_chars, strip_accents, lowercase; or Lowercase / NFD /
 *      StripAccents in a Sequence); added tokens with normalized=true are then
 *      cut out of the normalized text;
 *   3. BertPreTokenizer splits on whitespace and isolates punctuation;
 *   4. WordPiece: greedy longest-match-first with the "##" prefix; a word of
 *      more than max_input_chars_per_word chars, or with a piece that cannot
 *      be matched, becomes [UNK];
 *   5. truncation ("longest_first", room left for the specials) and the
 *      TemplateProcessing / BertProcessing / RobertaProcessing template.
 *
 * Speed: a text is streamed once. Normalization is per code point (an ASCII
 * table precomputed at load, a flag table for the rest), words are built in a
 * fixed buffer and looked up in an open-addressing hash table of the vocab
 * (continuation pieces live in a second table without their "##", so no
 * string is ever built); nothing is allocated per character or per word, and
 * a single text needs no allocation at all unless its model has normalized
 * added tokens or max_input_chars_per_word > 256.
 *
 * Transformers' BertTokenizer(Fast) overrides the tokenizer.json normalizer's
 * lowercase / strip_accents / handle_chinese_chars with tokenizer_config.json's
 * do_lower_case / strip_accents / tokenize_chinese_chars (defaults true / null /
 * true); so does this loader when tokenizer_class is BertTokenizer(Fast).
 * Sentence Transformers (v3+) no longer strips texts, and its do_lower_case
 * prepends a Lowercase normalizer (Rust char::to_lowercase) unless the
 * normalizer already has one; so does stc.
 */
#include "data/tokenizer.h"

#include "data/tokenizer_unicode.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOK_MAX_STEPS 8          /* normalizer steps after flattening Sequences */
#define TOK_NORM_MAX 128         /* code points one input code point may become */
#define TOK_STACK_WORD 256       /* max_input_chars_per_word served from the stack */
#define TOK_MAX_WORD_CHARS 100000
#define TOK_MAX_TEMPLATE 64

/* ------------------------------------------------------------------ */
/* Vocabulary hash table                                               */
/* ------------------------------------------------------------------ */

typedef struct {
    uint32_t hash; /* low 32 bits of the key's hash */
    uint32_t len;  /* key length in bytes */
    size_t off;    /* key bytes at arena + off */
    int32_t id;    /* token id; -1 marks an empty slot */
} tok_slot;

typedef struct {
    tok_slot *slots; /* (mask + 1) */
    uint32_t mask;   /* capacity - 1 (capacity a power of two) */
    uint32_t n;      /* keys stored */
    uint32_t maxlen; /* longest key in bytes */
} tok_table;

/* FNV-1a, 64-bit; keys are short, so this is as fast as anything fancier. */
static uint64_t tok_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

/* An empty table with room for n_keys at load factor <= 1/2. */
static int table_init(tok_table *t, size_t n_keys)
{
    size_t cap = 16;
    while (cap < 2 * n_keys + 1)
        cap *= 2;
    t->slots = stc_malloc(cap * sizeof *t->slots, "tokenizer vocab table");
    if (!t->slots)
        return STC_ERR_NOMEM;
    for (size_t i = 0; i < cap; i++)
        t->slots[i].id = -1;
    t->mask = (uint32_t)(cap - 1);
    t->n = 0;
    t->maxlen = 0;
    return 0;
}

/* Inserts key (bytes at arena + off) or, if present, replaces its id: a later
 * duplicate wins, as in the Rust HashMap the crate fills. The table never
 * fills: it is sized for twice the keys. */
static void table_put(tok_table *t, const char *arena, size_t off, uint32_t len, int32_t id)
{
    uint32_t h = (uint32_t)tok_hash(arena + off, len);
    for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
        tok_slot *s = &t->slots[i];
        if (s->id < 0) {
            s->hash = h;
            s->len = len;
            s->off = off;
            s->id = id;
            t->n++;
            if (len > t->maxlen)
                t->maxlen = len;
            return;
        }
        if (s->hash == h && s->len == len && memcmp(arena + s->off, arena + off, len) == 0) {
            s->id = id;
            return;
        }
    }
}

/* The id of key s[0..n), or -1. */
static inline int32_t table_get(const tok_table *t, const char *arena, const char *s, size_t n)
{
    uint32_t h = (uint32_t)tok_hash(s, n);
    for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const tok_slot *e = &t->slots[i];
        if (e->id < 0)
            return -1;
        if (e->hash == h && e->len == n && memcmp(arena + e->off, s, n) == 0)
            return e->id;
    }
}

/* ------------------------------------------------------------------ */
/* The tokenizer                                                       */
/* ------------------------------------------------------------------ */

enum { NORM_BERT, NORM_LOWERCASE, NORM_NFD, NORM_STRIP_ACCENTS };

typedef struct {
    int kind;    /* NORM_* */
    int clean;   /* BertNormalizer clean_text */
    int chinese; /* BertNormalizer handle_chinese_chars */
    int strip;   /* BertNormalizer strip_accents (null resolved to lowercase) */
    int lower;   /* BertNormalizer lowercase */
} tok_norm_step;

typedef struct {
    char *content;   /* raw bytes, NUL-terminated (owned) */
    size_t len;      /* bytes of content */
    uint32_t *ncp;   /* normalized content as code points (normalized tokens; owned) */
    int nlen;        /* code points in ncp */
    int32_t id;
    int single_word; /* match only as a whole word (regex \w around it) */
    int lstrip;      /* swallow whitespace on the left */
    int rstrip;      /* swallow whitespace on the right */
    int normalized;  /* matched in the normalized text instead of the raw one */
} tok_added;

enum { TPL_SPECIAL, TPL_A, TPL_B };

typedef struct {
    int kind;        /* TPL_* */
    int type_id;     /* token type id of everything this item emits */
    int n_ids;       /* TPL_SPECIAL: number of ids */
    int32_t ids[8];  /* TPL_SPECIAL: the ids */
} tok_tpl_item;

struct stc_tokenizer {
    char *arena;            /* vocab key bytes */
    tok_table vocab;        /* every vocab entry -> id */
    tok_table cont;         /* entries that start with the prefix, keyed without it */
    int cont_is_vocab;      /* empty prefix: cont is vocab */
    int32_t unk_id;
    int max_chars;          /* WordPiece max_input_chars_per_word */
    int vocab_size;         /* 1 + the largest id (vocab and added tokens) */

    tok_norm_step steps[TOK_MAX_STEPS]; /* normalizer, flattened */
    int n_steps;
    int reorder;            /* a step decomposes: put combining marks in canonical order */
    int has_lowercase_step; /* a Lowercase normalizer is present (for ST's do_lower_case) */
    int pretok_bert;        /* 1: BertPreTokenizer; 0: none (a segment is one word) */

    tok_added *added;       /* (n_added) */
    int n_added;
    int *raw_order;         /* non-normalized added tokens by (first byte, length desc) */
    int raw_start[257];     /* raw_order[raw_start[b] .. raw_start[b+1]) start with byte b */
    int *norm_order;        /* normalized added tokens by length desc */
    int n_norm;

    tok_tpl_item single[TOK_MAX_TEMPLATE];
    int n_single;
    tok_tpl_item pair[TOK_MAX_TEMPLATE];
    int n_pair;             /* 0: no pair template */
    int n_special_single;   /* ids the single template adds */
    int n_special_pair;

    int32_t pad_id, cls_id, sep_id;
    int32_t next_added_id;  /* id of the next added token not in the vocab */

    uint8_t ascii_n[128];      /* normalizer output length of each ASCII char */
    uint32_t ascii_out[128][4];
    int ascii_generic[128];    /* output longer than 4: take the generic path */
    const uint16_t *flags;
};

/* ------------------------------------------------------------------ */
/* Normalization                                                       */
/* ------------------------------------------------------------------ */

/* The BertNormalizer's strip/lowercase part for one code point. */
static int norm_bert_tail(const stc_tokenizer *t, const tok_norm_step *st, uint32_t c, uint32_t *out)
{
    const uint16_t *F = t->flags;
    int n = 0;
    if (st->strip) {
        uint32_t d[STC_TOKU_MAP_MAX];
        int nd = (F[c] & STC_TOKU_NFD) ? stc_toku_nfd(c, d) : (d[0] = c, 1);
        for (int i = 0; i < nd; i++) {
            if (F[d[i]] & STC_TOKU_MN)
                continue;
            if (st->lower && (F[d[i]] & STC_TOKU_LOWER))
                n += stc_toku_lower(d[i], out + n);
            else
                out[n++] = d[i];
        }
        return n;
    }
    if (st->lower && (F[c] & STC_TOKU_LOWER))
        return stc_toku_lower(c, out);
    out[0] = c;
    return 1;
}

/* Applies one normalizer step to one code point; returns the output count. */
static int norm_step_apply(const stc_tokenizer *t, const tok_norm_step *st, uint32_t c, uint32_t *out)
{
    const uint16_t *F = t->flags;
    switch (st->kind) {
    case NORM_BERT:
        if (st->clean) {
            if (F[c] & STC_TOKU_REMOVED)
                return 0;
            if (F[c] & STC_TOKU_WS)
                c = ' ';
        }
        if (st->chinese && (F[c] & STC_TOKU_CHINESE)) {
            out[0] = ' ';
            int n = 1 + norm_bert_tail(t, st, c, out + 1);
            out[n++] = ' ';
            return n;
        }
        return norm_bert_tail(t, st, c, out);
    case NORM_LOWERCASE:
        return (F[c] & STC_TOKU_LOWER) ? stc_toku_lower(c, out) : (out[0] = c, 1);
    case NORM_NFD:
        return (F[c] & STC_TOKU_NFD) ? stc_toku_nfd(c, out) : (out[0] = c, 1);
    case NORM_STRIP_ACCENTS:
        return (F[c] & STC_TOKU_COMBINING) ? 0 : (out[0] = c, 1);
    }
    return 0;
}

/* Runs the whole normalizer on one code point; *res points at the output
 * (in buf or in the ASCII table); returns its length. */
static inline int norm_char(const stc_tokenizer *t, uint32_t c, uint32_t buf[2][TOK_NORM_MAX],
                            const uint32_t **res)
{
    if (c < 128 && !t->ascii_generic[c]) {
        *res = t->ascii_out[c];
        return t->ascii_n[c];
    }
    if (t->n_steps == 0) {
        buf[0][0] = c;
        *res = buf[0];
        return 1;
    }
    if (t->n_steps == 1) {
        int n = norm_step_apply(t, &t->steps[0], c, buf[0]);
        *res = buf[0];
        return n;
    }
    int cur = 0, n = 1;
    buf[0][0] = c;
    for (int s = 0; s < t->n_steps; s++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            m += norm_step_apply(t, &t->steps[s], buf[cur][i], buf[cur ^ 1] + m);
        cur ^= 1;
        n = m;
    }
    *res = buf[cur];
    return n;
}

/* Most outputs one code point can have after step list steps[0..n):
 * used at load to keep norm_char inside its buffers. */
static long norm_expansion(const tok_norm_step *steps, int n)
{
    long e = 1;
    for (int i = 0; i < n; i++) {
        long k = steps[i].kind == NORM_BERT ? 2 + STC_TOKU_MAP_MAX * STC_TOKU_MAP_MAX
               : steps[i].kind == NORM_STRIP_ACCENTS ? 1 : STC_TOKU_MAP_MAX;
        e *= k;
        if (e > 1L << 20)
            return e;
    }
    return e;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

/* Where a sequence's token ids go. */
typedef struct {
    int32_t *ids; /* (cap) the first cap ids */
    int cap;
    int n;        /* ids produced so far (may exceed cap) */
    int stop;     /* 1: nothing past cap is needed (stop tokenizing) */
} tok_sink;

/* Per-call scratch: the current word. */
typedef struct {
    uint32_t *cps;    /* (cap) code points of the word */
    char *bytes;      /* (4 * cap) its UTF-8 */
    int32_t *pieces;  /* (cap) WordPiece output before it is known good */
    int cap;          /* max_chars + 1 */
    int n;            /* chars in the word (counts on past cap: overlong) */
    uint32_t *seg;    /* normalized segment (normalized added tokens only) */
    size_t seg_cap;
    uint32_t stack_cps[TOK_STACK_WORD + 1];
    char stack_bytes[4 * (TOK_STACK_WORD + 1)];
    int32_t stack_pieces[TOK_STACK_WORD + 1];
    void *heap;       /* word buffers when max_chars > TOK_STACK_WORD */
} tok_scratch;

/* Word buffers for one encode call: on the stack unless max_chars is large. */
static int scratch_init(tok_scratch *s, const stc_tokenizer *t)
{
    s->cap = t->max_chars + 1;
    s->n = 0;
    s->seg = NULL;
    s->seg_cap = 0;
    s->heap = NULL;
    if (t->max_chars <= TOK_STACK_WORD) {
        s->cps = s->stack_cps;
        s->bytes = s->stack_bytes;
        s->pieces = s->stack_pieces;
        return 0;
    }
    size_t cap = (size_t)s->cap;
    s->heap = stc_malloc(cap * (sizeof(uint32_t) + 4 + sizeof(int32_t)), "tokenizer word buffer");
    if (!s->heap)
        return STC_ERR_NOMEM;
    s->cps = s->heap;
    s->pieces = (int32_t *)(s->cps + cap);
    s->bytes = (char *)(s->pieces + cap);
    return 0;
}

/* Releases what scratch_init and run_segment allocated. */
static void scratch_free(tok_scratch *s)
{
    free(s->heap);
    free(s->seg);
}

/* Emits one id: kept while there is room, always counted (saturating). */
static inline void sink_put(tok_sink *k, int32_t id)
{
    if (k->n < k->cap)
        k->ids[k->n] = id;
    if (k->n < INT_MAX)
        k->n++;
}

/* 1 for a UTF-8 continuation byte (never the start of a character). */
static inline int is_cont_byte(char b)
{
    return ((unsigned char)b & 0xC0) == 0x80;
}

/* WordPiece on the finished word; emits its pieces or [UNK]. */
static void word_flush(const stc_tokenizer *t, tok_scratch *w, tok_sink *out)
{
    int nchars = w->n;
    w->n = 0;
    if (nchars == 0)
        return;
    if (nchars > t->max_chars) {
        sink_put(out, t->unk_id);
        return;
    }
    size_t nb = 0;
    for (int i = 0; i < nchars; i++)
        nb += (size_t)stc_toku_encode(w->cps[i], w->bytes + nb);
    const char *b = w->bytes;
    int np = 0;
    size_t start = 0;
    while (start < nb) {
        const tok_table *tab = start == 0 ? &t->vocab : (t->cont_is_vocab ? &t->vocab : &t->cont);
        size_t end = nb;
        if (end - start > tab->maxlen) {
            end = start + tab->maxlen;
            while (end > start && is_cont_byte(b[end]))
                end--;
        }
        int32_t id = -1;
        while (end > start) {
            id = table_get(tab, t->arena, b + start, end - start);
            if (id >= 0)
                break;
            end--;
            while (end > start && is_cont_byte(b[end]))
                end--;
        }
        if (id < 0) {
            sink_put(out, t->unk_id);
            return;
        }
        w->pieces[np++] = id;
        start = end;
    }
    for (int i = 0; i < np; i++)
        sink_put(out, w->pieces[i]);
}

/* Appends a normalized code point to the word, keeping combining marks in
 * canonical order when the normalizer decomposes (NFD's reordering; the
 * insertion is stable, so it commutes with the mark filtering after it). */
static inline void word_push(const stc_tokenizer *t, tok_scratch *w, uint32_t c)
{
    if (w->n < w->cap) {
        int i = w->n;
        if (t->reorder && (t->flags[c] & STC_TOKU_CCC)) {
            int cc = stc_toku_ccc(c);
            while (i > 0 && (t->flags[w->cps[i - 1]] & STC_TOKU_CCC) && stc_toku_ccc(w->cps[i - 1]) > cc) {
                w->cps[i] = w->cps[i - 1];
                i--;
            }
        }
        w->cps[i] = c;
    }
    w->n++;
}

/* Pre-tokenizes one normalized code point into the word stream. */
static inline void pretok_char(const stc_tokenizer *t, tok_scratch *w, tok_sink *out, uint32_t c)
{
    if (t->pretok_bert) {
        uint16_t f = t->flags[c];
        if (f & STC_TOKU_WS) {
            word_flush(t, w, out);
            return;
        }
        if (f & STC_TOKU_PUNCT) {
            word_flush(t, w, out);
            word_push(t, w, c);
            word_flush(t, w, out);
            return;
        }
    }
    word_push(t, w, c);
}

/* Counts the ill-formed sequences of s[0..n) into *n_invalid. */
static void count_invalid(const unsigned char *s, size_t n, long *n_invalid)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t c;
        int bad;
        i += (size_t)stc_toku_decode(s + i, n - i, &c, &bad);
        *n_invalid += bad;
    }
}

/* 1 once nothing more the sink receives can be kept and the caller said so. */
static inline int sink_full(const tok_sink *k)
{
    return k->stop && k->n >= k->cap;
}

/* The code point that ends at s + end (U+FFFD if the bytes there are not one
 * well-formed character); *len its byte length. A lead byte is never
 * swallowed by the sequence before it, so a well-formed character found
 * backwards is the one the forward decoder sees. */
static uint32_t char_before(const unsigned char *s, size_t end, int *len)
{
    size_t lead = end - 1;
    while (lead > 0 && end - lead < 4 && (s[lead] & 0xC0) == 0x80)
        lead--;
    uint32_t c;
    int bad;
    int n = stc_toku_decode(s + lead, end - lead, &c, &bad);
    if (bad || (size_t)n != end - lead) {
        *len = 1;
        return 0xFFFD;
    }
    *len = n;
    return c;
}

/* Feeds the normalized code points seg[a..b) to the pre-tokenizer. */
static void pretok_span(const stc_tokenizer *t, tok_scratch *w, tok_sink *out, const uint32_t *seg,
                        size_t a, size_t b)
{
    for (size_t i = a; i < b; i++)
        pretok_char(t, w, out, seg[i]);
    word_flush(t, w, out);
}

/* Normalized added tokens: matches them in the normalized segment seg[0..n)
 * (added_vocabulary.rs find_matches on the normalized string) and feeds the
 * pieces between them to the pre-tokenizer. */
static void split_normalized(const stc_tokenizer *t, tok_scratch *w, tok_sink *out,
                             const uint32_t *seg, size_t n)
{
    const uint16_t *F = t->flags;
    size_t start_offset = 0, pos = 0;
    while (pos < n) {
        /* Leftmost-longest match at or after pos. */
        int k = -1;
        size_t p = pos;
        for (; p < n && k < 0; p++) {
            for (int j = 0; j < t->n_norm; j++) {
                const tok_added *a = &t->added[t->norm_order[j]];
                if ((size_t)a->nlen <= n - p && a->ncp[0] == seg[p] &&
                    memcmp(a->ncp, seg + p, (size_t)a->nlen * sizeof(uint32_t)) == 0) {
                    k = t->norm_order[j];
                    break;
                }
            }
        }
        if (k < 0)
            break;
        const tok_added *a = &t->added[k];
        size_t start = p - 1, stop = start + (size_t)a->nlen;
        pos = stop;
        if (a->single_word) {
            int left_ok = start == 0 || !(F[seg[start - 1]] & STC_TOKU_WORD);
            int right_ok = stop == n || !(F[seg[stop]] & STC_TOKU_WORD);
            if (!left_ok || !right_ok)
                continue;
        }
        if (a->lstrip) {
            size_t s2 = start;
            while (s2 > 0 && (F[seg[s2 - 1]] & STC_TOKU_WS))
                s2--;
            start = s2 > start_offset ? s2 : start_offset;
        }
        if (a->rstrip)
            while (stop < n && (F[seg[stop]] & STC_TOKU_WS))
                stop++;
        if (start_offset < start)
            pretok_span(t, w, out, seg, start_offset, start);
        sink_put(out, a->id);
        start_offset = stop;
        if (sink_full(out))
            return;
    }
    if (start_offset < n)
        pretok_span(t, w, out, seg, start_offset, n);
}

/* Normalizes, pre-tokenizes and WordPiece-encodes the raw segment s[0..n)
 * (no raw added token inside). Returns the bytes consumed: n, or less when
 * the sink filled and stopped early. */
static int run_segment(const stc_tokenizer *t, tok_scratch *w, tok_sink *out, const unsigned char *s,
                       size_t n, long *n_invalid, size_t *consumed)
{
    uint32_t buf[2][TOK_NORM_MAX];
    const uint32_t *res;
    size_t i = 0;
    if (t->n_norm == 0) {
        while (i < n) {
            uint32_t c;
            if (s[i] < 0x80) {
                c = s[i++];
            } else {
                int bad;
                i += (size_t)stc_toku_decode(s + i, n - i, &c, &bad);
                *n_invalid += bad;
            }
            int m = norm_char(t, c, buf, &res);
            for (int j = 0; j < m; j++)
                pretok_char(t, w, out, res[j]);
            if (sink_full(out)) {
                *consumed = i;
                return 0;
            }
        }
        word_flush(t, w, out);
        *consumed = n;
        return 0;
    }
    /* Normalized added tokens: materialize the normalized segment first. */
    size_t len = 0;
    while (i < n) {
        uint32_t c;
        int bad;
        i += (size_t)stc_toku_decode(s + i, n - i, &c, &bad);
        *n_invalid += bad;
        int m = norm_char(t, c, buf, &res);
        if (len + (size_t)m > w->seg_cap) {
            size_t cap = w->seg_cap ? 2 * w->seg_cap : 256;
            while (cap < len + (size_t)m)
                cap *= 2;
            uint32_t *p = realloc(w->seg, cap * sizeof *p);
            if (!p)
                return stc_errorf(STC_ERR_NOMEM, "out of memory normalizing a text of %zu bytes", n);
            w->seg = p;
            w->seg_cap = cap;
        }
        for (int j = 0; j < m; j++) {
            uint32_t d = res[j];
            size_t k = len++;
            if (t->reorder && (t->flags[d] & STC_TOKU_CCC)) {
                int cc = stc_toku_ccc(d);
                while (k > 0 && (t->flags[w->seg[k - 1]] & STC_TOKU_CCC) && stc_toku_ccc(w->seg[k - 1]) > cc) {
                    w->seg[k] = w->seg[k - 1];
                    k--;
                }
            }
            w->seg[k] = d;
        }
    }
    split_normalized(t, w, out, w->seg, len);
    *consumed = n;
    return 0;
}

/* Tokenizes one text into out (no specials): raw added tokens are cut out
 * first (added_vocabulary.rs find_matches on the raw text), the rest goes
 * through run_segment. */
static int encode_sequence(const stc_tokenizer *t, tok_scratch *w, const char *text, size_t len,
                           tok_sink *out, long *n_invalid)
{
    const unsigned char *s = (const unsigned char *)text;
    const uint16_t *F = t->flags;
    size_t start_offset = 0, pos = 0, consumed;
    int rc;
    int have_raw = t->raw_start[256] > 0;
    while (have_raw && pos < len) {
        /* Leftmost-longest raw added token at or after pos. */
        int k = -1;
        size_t p = pos;
        for (; p < len; p++) {
            int b = s[p];
            for (int j = t->raw_start[b]; j < t->raw_start[b + 1]; j++) {
                const tok_added *a = &t->added[t->raw_order[j]];
                if (a->len <= len - p && memcmp(a->content, s + p, a->len) == 0) {
                    k = t->raw_order[j];
                    break;
                }
            }
            if (k >= 0)
                break;
        }
        if (k < 0)
            break;
        const tok_added *a = &t->added[k];
        size_t start = p, stop = p + a->len;
        pos = stop;
        if (a->single_word) {
            int l;
            uint32_t c;
            int left_ok = start == 0 || !(F[char_before(s, start, &l)] & STC_TOKU_WORD);
            int right_ok = stop == len;
            if (!right_ok) {
                int bad;
                stc_toku_decode(s + stop, len - stop, &c, &bad);
                right_ok = !(F[c] & STC_TOKU_WORD);
            }
            if (!left_ok || !right_ok)
                continue;
        }
        if (a->lstrip) {
            size_t s2 = start;
            int l;
            while (s2 > 0 && (F[char_before(s, s2, &l)] & STC_TOKU_WS))
                s2 -= (size_t)l;
            start = s2 > start_offset ? s2 : start_offset;
        }
        if (a->rstrip) {
            while (stop < len) {
                uint32_t c;
                int bad;
                int l = stc_toku_decode(s + stop, len - stop, &c, &bad);
                if (!(F[c] & STC_TOKU_WS))
                    break;
                stop += (size_t)l;
            }
        }
        if (start_offset < start) {
            if ((rc = run_segment(t, w, out, s + start_offset, start - start_offset, n_invalid, &consumed)))
                return rc;
            if (sink_full(out)) {
                count_invalid(s + start_offset + consumed, len - start_offset - consumed, n_invalid);
                return 0;
            }
        }
        sink_put(out, a->id);
        start_offset = stop;
        if (sink_full(out)) {
            count_invalid(s + stop, len - stop, n_invalid);
            return 0;
        }
    }
    if (start_offset < len) {
        if ((rc = run_segment(t, w, out, s + start_offset, len - start_offset, n_invalid, &consumed)))
            return rc;
        if (consumed < len - start_offset)
            count_invalid(s + start_offset + consumed, len - start_offset - consumed, n_invalid);
    }
    return 0;
}

/* Number of ids the specials of a template add; raises *vocab_size to
 * cover them (a template may name ids outside the vocab). */
static int tpl_specials(const tok_tpl_item *items, int n, int *vocab_size)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (items[i].kind == TPL_SPECIAL) {
            k += items[i].n_ids;
            for (int j = 0; j < items[i].n_ids; j++)
                if (items[i].ids[j] >= *vocab_size)
                    *vocab_size = items[i].ids[j] + 1;
        }
    return k;
}

/* Writes a template's special-token item at ids[n] (and its type ids);
 * returns the new length. */
static int emit_special(const tok_tpl_item *it, int32_t *ids, int32_t *type_ids, int n)
{
    for (int j = 0; j < it->n_ids; j++) {
        if (type_ids)
            type_ids[n] = it->type_id;
        ids[n++] = it->ids[j];
    }
    return n;
}

/* Single text: the content goes straight into ids after the template's
 * leading specials; without n_untruncated the encoder stops once full. */
int stc_tokenizer_encode(const stc_tokenizer *tok, const char *text, size_t len, int max_len,
                         int32_t *ids, int32_t *type_ids, int *n_tokens, int *n_untruncated,
                         long *n_invalid)
{
    *n_tokens = 0;
    int room = max_len - tok->n_special_single;
    if (room < 0)
        return stc_errorf(STC_ERR_USAGE, "max_seq_length %d is shorter than the %d special tokens",
                          max_len, tok->n_special_single);
    int before = 0; /* specials before the text */
    int i_seq = 0;
    while (tok->single[i_seq].kind != TPL_A) {
        before += tok->single[i_seq].n_ids;
        i_seq++;
    }
    tok_scratch w;
    int rc = scratch_init(&w, tok);
    if (rc)
        return rc;
    long invalid = 0;
    tok_sink sink = {ids + before, room, 0, n_untruncated == NULL};
    rc = encode_sequence(tok, &w, text, len, &sink, &invalid);
    scratch_free(&w);
    if (rc)
        return rc;
    if (n_invalid)
        *n_invalid += invalid;
    int kept = sink.n < room ? sink.n : room;
    /* Template around the kept text ids. */
    int n = 0;
    for (int i = 0; i < tok->n_single; i++) {
        const tok_tpl_item *it = &tok->single[i];
        if (it->kind == TPL_SPECIAL) {
            n = emit_special(it, ids, type_ids, n);
        } else {
            if (type_ids)
                for (int j = 0; j < kept; j++)
                    type_ids[n + j] = it->type_id;
            n += kept;
        }
    }
    *n_tokens = n;
    if (n_untruncated)
        *n_untruncated = sink.n + tok->n_special_single;
    return 0;
}

/* tokenizers' truncate_encodings, LongestFirst with a pair: the lengths the
 * two sequences keep out of n1 and n2 when at most max tokens fit. */
static void truncate_longest_first(int n1, int n2, int max, int *k1, int *k2)
{
    if (n1 + n2 <= max) {
        *k1 = n1;
        *k2 = n2;
        return;
    }
    int a = n1, b = n2, swap = 0;
    if (a > b) { /* a: the shorter one */
        swap = 1;
        a = n2;
        b = n1;
    }
    if (a > max)
        b = a;
    else
        b = (max - a) > a ? (max - a) : a;
    if (a + b > max) {
        a = max / 2;
        b = a + max % 2;
    }
    if (swap) {
        *k1 = b;
        *k2 = a;
    } else {
        *k1 = a;
        *k2 = b;
    }
    if (*k1 > n1)
        *k1 = n1;
    if (*k2 > n2)
        *k2 = n2;
}

/* Pair: both texts tokenized in full (longest_first needs both lengths),
 * up to max_len ids of each kept, then truncated and templated. */
int stc_tokenizer_encode_pair(const stc_tokenizer *tok, const char *a, size_t alen, const char *b,
                              size_t blen, int max_len, int32_t *ids, int32_t *type_ids, int *n_tokens,
                              long *n_invalid)
{
    *n_tokens = 0;
    if (tok->n_pair == 0)
        return stc_errorf(STC_ERR_USAGE, "this tokenizer has no template for text pairs");
    int room = max_len - tok->n_special_pair;
    if (room < 0)
        return stc_errorf(STC_ERR_USAGE, "max_seq_length %d is shorter than the %d special tokens of a pair",
                          max_len, tok->n_special_pair);
    int32_t *buf = stc_malloc(2 * ((size_t)room + 1) * sizeof *buf, "pair token buffer");
    if (!buf)
        return STC_ERR_NOMEM;
    tok_scratch w;
    int rc = scratch_init(&w, tok);
    if (rc) {
        free(buf);
        return rc;
    }
    long invalid = 0;
    tok_sink sa = {buf, room, 0, 0}, sb = {buf + room + 1, room, 0, 0};
    rc = encode_sequence(tok, &w, a, alen, &sa, &invalid);
    if (!rc)
        rc = encode_sequence(tok, &w, b, blen, &sb, &invalid);
    scratch_free(&w);
    if (rc) {
        free(buf);
        return rc;
    }
    if (n_invalid)
        *n_invalid += invalid;
    int ka, kb;
    truncate_longest_first(sa.n, sb.n, room, &ka, &kb);
    int n = 0;
    for (int i = 0; i < tok->n_pair; i++) {
        const tok_tpl_item *it = &tok->pair[i];
        if (it->kind == TPL_SPECIAL) {
            n = emit_special(it, ids, type_ids, n);
        } else {
            const int32_t *src = it->kind == TPL_A ? sa.ids : sb.ids;
            int k = it->kind == TPL_A ? ka : kb;
            for (int j = 0; j < k; j++) {
                if (type_ids)
                    type_ids[n] = it->type_id;
                ids[n++] = src[j];
            }
        }
    }
    *n_tokens = n;
    free(buf);
    return 0;
}

/* Accessors (see tokenizer.h). */
/* Every key of a's table has the same id in b's, and they hold as many keys. */
static int table_same(const tok_table *a, const char *a_arena, const tok_table *b, const char *b_arena)
{
    if (a->n != b->n)
        return 0;
    for (uint32_t i = 0; i <= a->mask; i++) {
        const tok_slot *e = &a->slots[i];
        if (e->id >= 0 && table_get(b, b_arena, a_arena + e->off, e->len) != e->id)
            return 0;
    }
    return 1;
}

int stc_tokenizer_same_vocab(const stc_tokenizer *a, const stc_tokenizer *b)
{
    if (a->vocab_size != b->vocab_size || a->n_added != b->n_added ||
        !table_same(&a->vocab, a->arena, &b->vocab, b->arena))
        return 0;
    for (int i = 0; i < a->n_added; i++) {
        int found = 0;
        for (int j = 0; j < b->n_added && !found; j++)
            found = a->added[i].id == b->added[j].id && a->added[i].len == b->added[j].len &&
                    memcmp(a->added[i].content, b->added[j].content, a->added[i].len) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

int stc_tokenizer_vocab_size(const stc_tokenizer *tok)
{
    return tok->vocab_size;
}

int32_t stc_tokenizer_pad_id(const stc_tokenizer *tok)
{
    return tok->pad_id;
}

int32_t stc_tokenizer_cls_id(const stc_tokenizer *tok)
{
    return tok->cls_id;
}

int32_t stc_tokenizer_sep_id(const stc_tokenizer *tok)
{
    return tok->sep_id;
}

/* Frees everything the loader allocated; NULL is a no-op. */
void stc_tokenizer_free(stc_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->arena);
    free(tok->vocab.slots);
    free(tok->cont.slots);
    for (int i = 0; i < tok->n_added; i++) {
        free(tok->added[i].content);
        free(tok->added[i].ncp);
    }
    free(tok->added);
    free(tok->raw_order);
    free(tok->norm_order);
    free(tok);
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

/* What tokenizer_config.json / special_tokens_map.json say. */
typedef struct {
    int bert_class;     /* transformers builds the normalizer from this config (bert_like_class) */
    int do_lower_case;  /* -1: absent */
    int strip_accents;  /* -1: absent or null */
    int chinese;        /* tokenize_chinese_chars; -1: absent */
    const char *names[5]; /* unk, sep, pad, cls, mask token contents (into the cJSON trees) */
    const cJSON *added_decoder; /* "added_tokens_decoder" object or NULL */
} tok_config;

enum { SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK };
static const char *const sp_keys[5] = {"unk_token", "sep_token", "pad_token", "cls_token", "mask_token"};
static const char *const sp_defaults[5] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};

/* A special-token value: a string, or {"content": "..."} (AddedToken). */
static const char *config_token(const cJSON *v)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsObject(v)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (cJSON_IsString(c))
            return c->valuestring;
    }
    return NULL;
}

/* Optional boolean key: -1 absent or null, else 0/1; a wrong type is an error. */
static int json_tristate(const cJSON *obj, const char *key, const char *path, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = -1;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return stc_errorf(STC_ERR_DATA, "%s: \"%s\" must be true, false or null", path, key);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return 0;
}

/* 1 if transformers' tokenizer class of that name rebuilds the BertNormalizer
 * from tokenizer_config.json (do_lower_case, strip_accents,
 * tokenize_chinese_chars): BertTokenizer and its subclasses, MPNetTokenizer. */
static int bert_like_class(const char *name)
{
    static const char *const names[] = {"BertTokenizer", "DistilBertTokenizer", "ElectraTokenizer",
                                        "MPNetTokenizer"};
    size_t n = strlen(name);
    if (n > 4 && !strcmp(name + n - 4, "Fast"))
        n -= 4;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && !strncmp(name, names[i], n))
            return 1;
    return 0;
}

/* The same by config.json's model_type (AutoTokenizer's mapping, used when
 * tokenizer_config.json names no class). */
static int bert_like_model_type(const char *model_type)
{
    return model_type && (!strcmp(model_type, "bert") || !strcmp(model_type, "distilbert") ||
                          !strcmp(model_type, "electra") || !strcmp(model_type, "mpnet"));
}

/* Reads the settings of tokenizer_config.json (cfg_root, may be NULL) and
 * the token names of special_tokens_map.json (map_root, may be NULL). */
static int config_read(tok_config *c, const cJSON *cfg_root, const char *cfg_path, const cJSON *map_root)
{
    memset(c, 0, sizeof *c);
    c->do_lower_case = c->strip_accents = c->chinese = -1;
    if (cfg_root) {
        if (!cJSON_IsObject(cfg_root))
            return stc_errorf(STC_ERR_DATA, "%s: not a JSON object", cfg_path);
        int rc;
        if ((rc = json_tristate(cfg_root, "do_lower_case", cfg_path, &c->do_lower_case)) ||
            (rc = json_tristate(cfg_root, "strip_accents", cfg_path, &c->strip_accents)) ||
            (rc = json_tristate(cfg_root, "tokenize_chinese_chars", cfg_path, &c->chinese)))
            return rc;
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(cfg_root, "tokenizer_class");
        if (cJSON_IsString(cls))
            c->bert_class = bert_like_class(cls->valuestring);
        else
            c->bert_class = -1; /* decided by config.json's model_type */
        for (int i = 0; i < 5; i++)
            c->names[i] = config_token(cJSON_GetObjectItemCaseSensitive(cfg_root, sp_keys[i]));
        const cJSON *dec = cJSON_GetObjectItemCaseSensitive(cfg_root, "added_tokens_decoder");
        if (cJSON_IsObject(dec))
            c->added_decoder = dec;
    }
    if (map_root && cJSON_IsObject(map_root))
        for (int i = 0; i < 5; i++)
            if (!c->names[i])
                c->names[i] = config_token(cJSON_GetObjectItemCaseSensitive(map_root, sp_keys[i]));
    return 0;
}

/* Loader state shared by the tokenizer.json and vocab.txt paths. */
typedef struct {
    stc_tokenizer *t;
    const char *path;  /* file named in messages */
    size_t arena_len, arena_cap;
    size_t n_keys;     /* vocab entries added */
    size_t *key_off;   /* (n_keys) arena offsets, for building the tables */
    uint32_t *key_len;
    int32_t *key_id;
    size_t keys_cap;
} tok_loader;

/* Appends one vocab entry (bytes s[0..n) -> id) to the loader. */
static int loader_key(tok_loader *L, const char *s, size_t n, int32_t id)
{
    if (n > UINT32_MAX)
        return stc_errorf(STC_ERR_DATA, "%s: vocab token of %zu bytes", L->path, n);
    if (L->arena_len + n + 1 > L->arena_cap) {
        size_t cap = L->arena_cap ? L->arena_cap : 1 << 16;
        while (cap < L->arena_len + n + 1)
            cap *= 2;
        char *p = realloc(L->t->arena, cap);
        if (!p)
            return stc_errorf(STC_ERR_NOMEM, "%s: out of memory for the vocab", L->path);
        L->t->arena = p;
        L->arena_cap = cap;
    }
    if (L->n_keys == L->keys_cap) {
        size_t cap = L->keys_cap ? 2 * L->keys_cap : 1024;
        size_t *o = realloc(L->key_off, cap * sizeof *o);
        if (o)
            L->key_off = o;
        uint32_t *l = realloc(L->key_len, cap * sizeof *l);
        if (l)
            L->key_len = l;
        int32_t *d = realloc(L->key_id, cap * sizeof *d);
        if (d)
            L->key_id = d;
        if (!o || !l || !d)
            return stc_errorf(STC_ERR_NOMEM, "%s: out of memory for the vocab", L->path);
        L->keys_cap = cap;
    }
    memcpy(L->t->arena + L->arena_len, s, n);
    L->t->arena[L->arena_len + n] = '\0';
    L->key_off[L->n_keys] = L->arena_len;
    L->key_len[L->n_keys] = (uint32_t)n;
    L->key_id[L->n_keys] = id;
    L->n_keys++;
    L->arena_len += n + 1;
    if (id >= L->t->vocab_size)
        L->t->vocab_size = id + 1;
    return 0;
}

/* Frees the loader's key lists (the arena belongs to the tokenizer). */
static void loader_free(tok_loader *L)
{
    free(L->key_off);
    free(L->key_len);
    free(L->key_id);
}

/* Builds the vocab and continuation tables from the collected keys. */
static int loader_tables(tok_loader *L, const char *prefix)
{
    stc_tokenizer *t = L->t;
    size_t plen = strlen(prefix);
    int rc = table_init(&t->vocab, L->n_keys);
    if (rc)
        return rc;
    for (size_t i = 0; i < L->n_keys; i++)
        table_put(&t->vocab, t->arena, L->key_off[i], L->key_len[i], L->key_id[i]);
    if (plen == 0) {
        t->cont_is_vocab = 1;
        return 0;
    }
    size_t n_cont = 0;
    for (size_t i = 0; i < L->n_keys; i++)
        if (L->key_len[i] > plen && !memcmp(t->arena + L->key_off[i], prefix, plen))
            n_cont++;
    if ((rc = table_init(&t->cont, n_cont)))
        return rc;
    /* Insert in vocab order too, so a duplicate resolves as in the vocab. */
    for (size_t i = 0; i < L->n_keys; i++)
        if (L->key_len[i] > plen && !memcmp(t->arena + L->key_off[i], prefix, plen))
            table_put(&t->cont, t->arena, L->key_off[i] + plen, L->key_len[i] - (uint32_t)plen, L->key_id[i]);
    /* Duplicates: the final id of a key is the vocab table's. */
    for (uint32_t i = 0; i <= t->cont.mask; i++) {
        tok_slot *s = &t->cont.slots[i];
        if (s->id >= 0)
            s->id = table_get(&t->vocab, t->arena, t->arena + s->off - plen, s->len + plen);
    }
    return 0;
}

/* Id of a token by content: added tokens first, then the vocab; -1 if none. */
static int32_t token_id(const stc_tokenizer *t, const char *s)
{
    if (!s)
        return -1;
    for (int i = t->n_added - 1; i >= 0; i--)
        if (!strcmp(t->added[i].content, s))
            return t->added[i].id;
    if (!t->vocab.slots)
        return -1;
    return table_get(&t->vocab, t->arena, s, strlen(s));
}

/* Adds (or redefines, when the content is already there) an added token.
 * Its id is tokenizers' (AddedVocabulary::add_tokens), whatever a file says:
 * the id the content already has (added tokens, then the vocab), else the
 * next free one, counted from the number of vocab entries. */
static int add_token(stc_tokenizer *t, const char *path, const char *content, int single_word, int lstrip,
                     int rstrip, int normalized)
{
    size_t len = strlen(content);
    if (len == 0)
        return 0; /* tokenizers ignores empty added tokens */
    if (!stc_toku_valid_utf8(content, len))
        return stc_errorf(STC_ERR_DATA, "%s: added token with invalid UTF-8", path);
    int32_t id = token_id(t, content);
    if (id < 0) {
        if (t->next_added_id == INT32_MAX)
            return stc_errorf(STC_ERR_DATA, "%s: too many added tokens", path);
        id = t->next_added_id++;
    }
    for (int i = 0; i < t->n_added; i++) {
        if (!strcmp(t->added[i].content, content)) {
            t->added[i].id = id;
            t->added[i].single_word = single_word;
            t->added[i].lstrip = lstrip;
            t->added[i].rstrip = rstrip;
            t->added[i].normalized = normalized;
            goto done;
        }
    }
    if ((t->n_added & (t->n_added - 1)) == 0) { /* grow at powers of two */
        size_t cap = t->n_added ? 2 * (size_t)t->n_added : 8;
        tok_added *p = realloc(t->added, cap * sizeof *p);
        if (!p)
            return stc_errorf(STC_ERR_NOMEM, "%s: out of memory for added tokens", path);
        t->added = p;
    }
    tok_added *a = &t->added[t->n_added];
    memset(a, 0, sizeof *a);
    a->content = stc_malloc(len + 1, "added token");
    if (!a->content)
        return STC_ERR_NOMEM;
    memcpy(a->content, content, len + 1);
    a->len = len;
    a->id = id;
    a->single_word = single_word;
    a->lstrip = lstrip;
    a->rstrip = rstrip;
    a->normalized = normalized;
    t->n_added++;
done:
    if (id >= t->vocab_size)
        t->vocab_size = id + 1;
    return 0;
}

/* Order of raw added tokens: by first byte, then longest first (so the first
 * match found at a position is the longest), then by definition order. */
static int cmp_raw_order_ctx_len(const stc_tokenizer *t, int a, int b)
{
    unsigned char fa = (unsigned char)t->added[a].content[0], fb = (unsigned char)t->added[b].content[0];
    if (fa != fb)
        return fa < fb ? -1 : 1;
    if (t->added[a].len != t->added[b].len)
        return t->added[a].len > t->added[b].len ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Insertion sort (few added tokens; keeps the code free of qsort contexts). */
static void sort_order(const stc_tokenizer *t, int *ord, int n, int by_norm)
{
    for (int i = 1; i < n; i++) {
        int x = ord[i], j = i - 1;
        while (j >= 0) {
            int y = ord[j], c;
            if (by_norm)
                c = t->added[y].nlen < t->added[x].nlen || (t->added[y].nlen == t->added[x].nlen && y > x);
            else
                c = cmp_raw_order_ctx_len(t, y, x) > 0;
            if (!c)
                break;
            ord[j + 1] = y;
            j--;
        }
        ord[j + 1] = x;
    }
}

/* Normalizes the added tokens marked normalized and builds the match indexes.
 * Called once the normalizer is final. */
static int finish_added(stc_tokenizer *t, const char *path)
{
    int n_raw = 0;
    t->n_norm = 0;
    for (int i = 0; i < t->n_added; i++) {
        tok_added *a = &t->added[i];
        if (!a->normalized) {
            n_raw++;
            continue;
        }
        uint32_t buf[2][TOK_NORM_MAX];
        const uint32_t *res;
        size_t cap = a->len * 8 + 8, n = 0;
        a->ncp = stc_malloc(cap * sizeof *a->ncp, "normalized added token");
        if (!a->ncp)
            return STC_ERR_NOMEM;
        const unsigned char *s = (const unsigned char *)a->content;
        for (size_t i = 0; i < a->len;) {
            uint32_t c;
            int bad;
            i += (size_t)stc_toku_decode(s + i, a->len - i, &c, &bad);
            int m = norm_char(t, c, buf, &res);
            if (n + (size_t)m > cap) {
                cap = 2 * (n + (size_t)m);
                uint32_t *p = realloc(a->ncp, cap * sizeof *p);
                if (!p)
                    return stc_errorf(STC_ERR_NOMEM, "%s: out of memory", path);
                a->ncp = p;
            }
            for (int j = 0; j < m; j++) {
                size_t k = n++;
                uint32_t d = res[j];
                if (t->reorder && (t->flags[d] & STC_TOKU_CCC)) {
                    int cc = stc_toku_ccc(d);
                    while (k > 0 && (t->flags[a->ncp[k - 1]] & STC_TOKU_CCC) && stc_toku_ccc(a->ncp[k - 1]) > cc) {
                        a->ncp[k] = a->ncp[k - 1];
                        k--;
                    }
                }
                a->ncp[k] = d;
            }
        }
        if (n > 0x7fffffff)
            return stc_errorf(STC_ERR_DATA, "%s: added token too long", path);
        a->nlen = (int)n;
        if (n > 0) /* normalized away: can never match */
            t->n_norm++;
    }
    t->raw_order = stc_malloc(((size_t)n_raw + 1) * sizeof(int), "added token index");
    t->norm_order = stc_malloc(((size_t)t->n_norm + 1) * sizeof(int), "added token index");
    if (!t->raw_order || !t->norm_order)
        return STC_ERR_NOMEM;
    int r = 0, m = 0;
    for (int i = 0; i < t->n_added; i++) {
        if (!t->added[i].normalized)
            t->raw_order[r++] = i;
        else if (t->added[i].nlen > 0)
            t->norm_order[m++] = i;
    }
    sort_order(t, t->raw_order, r, 0);
    sort_order(t, t->norm_order, m, 1);
    memset(t->raw_start, 0, sizeof t->raw_start);
    for (int i = 0; i < r; i++)
        t->raw_start[(unsigned char)t->added[t->raw_order[i]].content[0] + 1]++;
    for (int b = 0; b < 256; b++)
        t->raw_start[b + 1] += t->raw_start[b];
    return 0;
}

/* Final steps shared by both loaders: ST's do_lower_case, the ASCII table,
 * added-token indexes, special ids. */
static int finish(stc_tokenizer *t, const char *path, int do_lower_case, const tok_config *cfg)
{
    if (do_lower_case == 1 && !t->has_lowercase_step) {
        if (t->n_steps == TOK_MAX_STEPS)
            return stc_errorf(STC_ERR_DATA, "%s: normalizer has too many steps", path);
        memmove(t->steps + 1, t->steps, (size_t)t->n_steps * sizeof t->steps[0]);
        t->steps[0] = (tok_norm_step){NORM_LOWERCASE, 0, 0, 0, 0};
        t->n_steps++;
        t->has_lowercase_step = 1;
    }
    if (norm_expansion(t->steps, t->n_steps) > TOK_NORM_MAX)
        return stc_errorf(STC_ERR_DATA, "%s: normalizer sequence of %d steps is too deep for stc", path,
                          t->n_steps);
    t->reorder = 0;
    for (int i = 0; i < t->n_steps; i++)
        if (t->steps[i].kind == NORM_NFD || (t->steps[i].kind == NORM_BERT && t->steps[i].strip))
            t->reorder = 1;
    for (uint32_t c = 0; c < 128; c++) {
        uint32_t buf[2][TOK_NORM_MAX];
        const uint32_t *res;
        t->ascii_generic[c] = 1; /* norm_char must take the generic path now */
        int n = norm_char(t, c, buf, &res);
        if (n <= 4) {
            memcpy(t->ascii_out[c], res, (size_t)n * sizeof(uint32_t));
            t->ascii_n[c] = (uint8_t)n;
            t->ascii_generic[c] = 0;
        }
    }
    int rc = finish_added(t, path);
    if (rc)
        return rc;
    t->pad_id = token_id(t, cfg->names[SP_PAD] ? cfg->names[SP_PAD] : sp_defaults[SP_PAD]);
    t->cls_id = token_id(t, cfg->names[SP_CLS] ? cfg->names[SP_CLS] : sp_defaults[SP_CLS]);
    t->sep_id = token_id(t, cfg->names[SP_SEP] ? cfg->names[SP_SEP] : sp_defaults[SP_SEP]);
    return 0;
}

/* A boolean member, dflt when absent or not a boolean (serde defaults). */
static int json_bool(const cJSON *obj, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* A non-negative integer id that fits int32; -1 if v is not one. */
static int32_t json_id(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2147483646.0 ||
        v->valuedouble != floor(v->valuedouble))
        return -1;
    return (int32_t)v->valuedouble;
}

/* Appends one normalizer (object) to t->steps; Sequences are flattened. */
static int parse_normalizer(stc_tokenizer *t, const cJSON *n, const char *path, int depth)
{
    if (!n || cJSON_IsNull(n))
        return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(n, "type");
    if (!cJSON_IsObject(n) || !cJSON_IsString(type))
        return stc_errorf(STC_ERR_DATA, "%s: normalizer without a \"type\"", path);
    const char *ty = type->valuestring;
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list) || depth > 4)
            return stc_errorf(STC_ERR_DATA, "%s: normalizer Sequence without a \"normalizers\" list", path);
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            int rc = parse_normalizer(t, it, path, depth + 1);
            if (rc)
                return rc;
        }
        return 0;
    }
    tok_norm_step st = {0, 0, 0, 0, 0};
    if (!strcmp(ty, "BertNormalizer")) {
        st.kind = NORM_BERT;
        st.clean = json_bool(n, "clean_text", 1);
        st.chinese = json_bool(n, "handle_chinese_chars", 1);
        st.lower = json_bool(n, "lowercase", 1);
        st.strip = json_bool(n, "strip_accents", st.lower); /* null follows lowercase */
    } else if (!strcmp(ty, "Lowercase")) {
        st.kind = NORM_LOWERCASE;
        t->has_lowercase_step = 1;
    } else if (!strcmp(ty, "NFD")) {
        st.kind = NORM_NFD;
    } else if (!strcmp(ty, "StripAccents")) {
        st.kind = NORM_STRIP_ACCENTS;
    } else {
        return stc_errorf(STC_ERR_DATA,
                          "%s: unsupported normalizer \"%s\" (stc supports BertNormalizer, Lowercase, NFD, "
                          "StripAccents and Sequences of them)",
                          path, ty);
    }
    if (t->n_steps == TOK_MAX_STEPS)
        return stc_errorf(STC_ERR_DATA, "%s: more than %d normalizers", path, TOK_MAX_STEPS);
    t->steps[t->n_steps++] = st;
    return 0;
}

/* BertPreTokenizer (alone or as the only member of a Sequence) or none. */
static int parse_pre_tokenizer(stc_tokenizer *t, const cJSON *p, const char *path)
{
    t->pretok_bert = 0;
    if (!p || cJSON_IsNull(p))
        return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    if (!cJSON_IsObject(p) || !cJSON_IsString(type))
        return stc_errorf(STC_ERR_DATA, "%s: pre_tokenizer without a \"type\"", path);
    if (!strcmp(type->valuestring, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (cJSON_IsArray(list) && cJSON_GetArraySize(list) == 1)
            return parse_pre_tokenizer(t, cJSON_GetArrayItem(list, 0), path);
    } else if (!strcmp(type->valuestring, "BertPreTokenizer")) {
        t->pretok_bert = 1;
        return 0;
    }
    return stc_errorf(STC_ERR_DATA, "%s: unsupported pre_tokenizer \"%s\" (stc supports BertPreTokenizer)", path,
                      type->valuestring);
}

/* One template ("single" or "pair" of TemplateProcessing) into items. */
static int parse_template(const cJSON *list, const cJSON *specials, const char *path, const char *which,
                          tok_tpl_item *items, int *n_items)
{
    int n = 0, na = 0, nb = 0;
    const cJSON *it;
    if (!cJSON_IsArray(list))
        return stc_errorf(STC_ERR_DATA, "%s: post_processor \"%s\" template is not a list", path, which);
    cJSON_ArrayForEach(it, list) {
        if (n == TOK_MAX_TEMPLATE)
            return stc_errorf(STC_ERR_DATA, "%s: post_processor \"%s\" template too long", path, which);
        tok_tpl_item *x = &items[n];
        memset(x, 0, sizeof *x);
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
        const cJSON *body = sp ? sp : sq;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "id");
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(body, "type_id");
        if (!cJSON_IsObject(body) || !cJSON_IsString(id) || json_id(ty) < 0)
            return stc_errorf(STC_ERR_DATA, "%s: post_processor \"%s\": malformed template item", path, which);
        x->type_id = json_id(ty);
        if (sq) {
            if (!strcmp(id->valuestring, "A")) {
                x->kind = TPL_A;
                na++;
            } else if (!strcmp(id->valuestring, "B")) {
                x->kind = TPL_B;
                nb++;
            } else {
                return stc_errorf(STC_ERR_DATA, "%s: post_processor: unknown sequence \"%s\"", path, id->valuestring);
            }
        } else {
            x->kind = TPL_SPECIAL;
            const cJSON *def = cJSON_GetObjectItemCaseSensitive(specials, id->valuestring);
            const cJSON *ids = cJSON_GetObjectItemCaseSensitive(def, "ids");
            if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) > 8)
                return stc_errorf(STC_ERR_DATA, "%s: post_processor: special token \"%s\" is not defined", path,
                                  id->valuestring);
            const cJSON *v;
            cJSON_ArrayForEach(v, ids) {
                if (json_id(v) < 0)
                    return stc_errorf(STC_ERR_DATA, "%s: post_processor: bad id for \"%s\"", path, id->valuestring);
                x->ids[x->n_ids++] = json_id(v);
            }
        }
        n++;
    }
    int want_b = !strcmp(which, "pair");
    if (na != 1 || nb != want_b)
        return stc_errorf(STC_ERR_DATA, "%s: post_processor \"%s\" template must hold $A%s exactly once", path,
                          which, want_b ? " and $B" : "");
    *n_items = n;
    return 0;
}

/* [CLS] A [SEP] / [CLS] A [SEP] (sep_twice: [SEP]) B [SEP] for Bert/RobertaProcessing. */
static void simple_template(stc_tokenizer *t, int32_t cls, int32_t sep, int sep_twice, int b_type)
{
    tok_tpl_item c = {TPL_SPECIAL, 0, 1, {cls}}, s = {TPL_SPECIAL, 0, 1, {sep}};
    tok_tpl_item a = {TPL_A, 0, 0, {0}}, b = {TPL_B, b_type, 0, {0}};
    tok_tpl_item sb = {TPL_SPECIAL, b_type, 1, {sep}};
    t->single[0] = c;
    t->single[1] = a;
    t->single[2] = s;
    t->n_single = 3;
    int n = 0;
    t->pair[n++] = c;
    t->pair[n++] = a;
    t->pair[n++] = s;
    if (sep_twice)
        t->pair[n++] = s;
    t->pair[n++] = b;
    t->pair[n++] = sb;
    t->n_pair = n;
}

/* ["[SEP]", 102] of BertProcessing / RobertaProcessing. */
static int32_t processing_pair(const cJSON *pp, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(pp, key);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
        return -1;
    return json_id(cJSON_GetArrayItem(v, 1));
}

/* The template: TemplateProcessing, BertProcessing, RobertaProcessing, or
 * none (the text alone; a pair is A then B with type ids 0 and 1). */
static int parse_post_processor(stc_tokenizer *t, const cJSON *pp, const char *path)
{
    if (!pp || cJSON_IsNull(pp)) {
        tok_tpl_item a = {TPL_A, 0, 0, {0}}, b = {TPL_B, 1, 0, {0}};
        t->single[0] = a;
        t->n_single = 1;
        t->pair[0] = a;
        t->pair[1] = b;
        t->n_pair = 2;
        return 0;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(pp, "type");
    if (!cJSON_IsObject(pp) || !cJSON_IsString(type))
        return stc_errorf(STC_ERR_DATA, "%s: post_processor without a \"type\"", path);
    const char *ty = type->valuestring;
    if (!strcmp(ty, "TemplateProcessing")) {
        const cJSON *specials = cJSON_GetObjectItemCaseSensitive(pp, "special_tokens");
        int rc = parse_template(cJSON_GetObjectItemCaseSensitive(pp, "single"), specials, path, "single",
                                t->single, &t->n_single);
        if (!rc)
            rc = parse_template(cJSON_GetObjectItemCaseSensitive(pp, "pair"), specials, path, "pair", t->pair,
                                &t->n_pair);
        return rc;
    }
    if (!strcmp(ty, "BertProcessing") || !strcmp(ty, "RobertaProcessing")) {
        int32_t cls = processing_pair(pp, "cls"), sep = processing_pair(pp, "sep");
        if (cls < 0 || sep < 0)
            return stc_errorf(STC_ERR_DATA, "%s: %s needs \"cls\" and \"sep\" as [token, id]", path, ty);
        int bert = !strcmp(ty, "BertProcessing");
        simple_template(t, cls, sep, !bert, bert ? 1 : 0);
        return 0;
    }
    return stc_errorf(STC_ERR_DATA,
                      "%s: unsupported post_processor \"%s\" (stc supports TemplateProcessing, BertProcessing, "
                      "RobertaProcessing)",
                      path, ty);
}

/* An empty tokenizer with WordPiece's and BertPreTokenizer's defaults. */
static stc_tokenizer *tokenizer_new(void)
{
    stc_tokenizer *t = stc_calloc(1, sizeof *t, "tokenizer");
    if (!t)
        return NULL;
    t->flags = stc_toku_flags();
    t->max_chars = 100;
    t->pretok_bert = 1;
    t->pad_id = t->cls_id = t->sep_id = -1;
    return t;
}

/* Shared tail of both loaders: WordPiece settings and the vocab tables. */
static int set_wordpiece(stc_tokenizer *t, tok_loader *L, const char *unk, const char *prefix, double max_chars)
{
    if (max_chars < 0 || max_chars > TOK_MAX_WORD_CHARS || max_chars != floor(max_chars))
        return stc_errorf(STC_ERR_DATA, "%s: max_input_chars_per_word must be an integer in 0..%d", L->path,
                          TOK_MAX_WORD_CHARS);
    t->max_chars = (int)max_chars;
    int rc = loader_tables(L, prefix);
    if (rc)
        return rc;
    t->next_added_id = (int32_t)t->vocab.n; /* model.get_vocab_size(): distinct entries */
    t->unk_id = table_get(&t->vocab, t->arena, unk, strlen(unk));
    if (t->unk_id < 0)
        return stc_errorf(STC_ERR_DATA, "%s: the unknown token \"%s\" is not in the vocab", L->path, unk);
    return 0;
}

/* The model section and added tokens of a tokenizer.json. */
static int load_json_model(stc_tokenizer *t, tok_loader *L, const cJSON *root)
{
    const char *path = L->path;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model))
        return stc_errorf(STC_ERR_DATA, "%s: no \"model\" object", path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "WordPiece"))
        return stc_errorf(STC_ERR_DATA, "%s: unsupported model type \"%s\" (stc supports WordPiece only)", path,
                          type->valuestring);
    if (!type && (cJSON_GetObjectItemCaseSensitive(model, "merges") || cJSON_IsArray(vocab)))
        return stc_errorf(STC_ERR_DATA, "%s: unsupported model (BPE or Unigram; stc supports WordPiece only)", path);
    if (!cJSON_IsObject(vocab))
        return stc_errorf(STC_ERR_DATA, "%s: model has no \"vocab\" object", path);
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        int32_t id = json_id(e);
        if (id < 0 || !e->string)
            return stc_errorf(STC_ERR_DATA, "%s: vocab entry \"%.60s\" has no valid id", path,
                              e->string ? e->string : "");
        int rc = loader_key(L, e->string, strlen(e->string), id);
        if (rc)
            return rc;
    }
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    const cJSON *maxc = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if ((unk && !cJSON_IsString(unk)) || (prefix && !cJSON_IsString(prefix)) || (maxc && !cJSON_IsNumber(maxc)))
        return stc_errorf(STC_ERR_DATA, "%s: malformed WordPiece settings", path);
    int rc = set_wordpiece(t, L, unk ? unk->valuestring : "[UNK]", prefix ? prefix->valuestring : "##",
                           maxc ? maxc->valuedouble : 100);
    if (rc)
        return rc;
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added)) {
        if (!cJSON_IsArray(added))
            return stc_errorf(STC_ERR_DATA, "%s: \"added_tokens\" is not a list", path);
        cJSON_ArrayForEach(e, added) {
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
            int32_t id = json_id(cJSON_GetObjectItemCaseSensitive(e, "id"));
            if (!cJSON_IsString(content) || id < 0)
                return stc_errorf(STC_ERR_DATA, "%s: added token without \"content\" or \"id\"", path);
            int special = json_bool(e, "special", 0);
            if ((rc = add_token(t, path, content->valuestring, json_bool(e, "single_word", 0),
                                json_bool(e, "lstrip", 0), json_bool(e, "rstrip", 0),
                                json_bool(e, "normalized", !special))))
                return rc;
        }
    }
    return 0;
}

/* Parses cfg/map JSON bytes (either may be NULL) into trees. */
static int parse_optional_json(const char *data, size_t len, const char *path, cJSON **out)
{
    *out = NULL;
    if (!data)
        return 0;
    *out = cJSON_ParseWithLength(data, len);
    if (!*out)
        return stc_errorf(STC_ERR_DATA, "%s: invalid JSON", path);
    return 0;
}

/* Builds a tokenizer from tokenizer.json bytes plus the optional configs. */
static int build_from_json(stc_tokenizer **out, const char *json, size_t len, const char *path,
                           const char *cfg, size_t cfg_len, const char *cfg_path, const char *map,
                           size_t map_len, const char *map_path, const char *model_type, int do_lower_case)
{
    *out = NULL;
    cJSON *root = NULL, *cfg_root = NULL, *map_root = NULL;
    tok_loader L = {0};
    stc_tokenizer *t = tokenizer_new();
    int rc;
    if (!t)
        return STC_ERR_NOMEM;
    L.t = t;
    L.path = path;
    if (!stc_toku_valid_utf8(json, len)) {
        rc = stc_errorf(STC_ERR_DATA, "%s: not valid UTF-8", path);
        goto fail;
    }
    root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        rc = stc_errorf(STC_ERR_DATA, "%s: invalid JSON (not a tokenizer.json object)", path);
        goto fail;
    }
    if ((rc = parse_optional_json(cfg, cfg_len, cfg_path, &cfg_root)) ||
        (rc = parse_optional_json(map, map_len, map_path, &map_root)))
        goto fail;
    tok_config c;
    if ((rc = config_read(&c, cfg_root, cfg_path, map_root)))
        goto fail;
    if ((rc = load_json_model(t, &L, root)) ||
        (rc = parse_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), path, 0)) ||
        (rc = parse_pre_tokenizer(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), path)) ||
        (rc = parse_post_processor(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path)))
        goto fail;
    /* transformers' BertTokenizer(Fast) and kin: tokenizer_config.json decides. */
    if (c.bert_class < 0)
        c.bert_class = cfg_root && bert_like_model_type(model_type);
    if (c.bert_class && t->n_steps == 1 && t->steps[0].kind == NORM_BERT) {
        tok_norm_step *st = &t->steps[0];
        st->lower = c.do_lower_case >= 0 ? c.do_lower_case : 1;
        st->strip = c.strip_accents >= 0 ? c.strip_accents : st->lower;
        st->chinese = c.chinese >= 0 ? c.chinese : 1;
    }
    if ((rc = finish(t, path, do_lower_case, &c)))
        goto fail;
    t->n_special_single = tpl_specials(t->single, t->n_single, &t->vocab_size);
    t->n_special_pair = tpl_specials(t->pair, t->n_pair, &t->vocab_size);
    *out = t;
    t = NULL;
fail:
    loader_free(&L);
    cJSON_Delete(root);
    cJSON_Delete(cfg_root);
    cJSON_Delete(map_root);
    stc_tokenizer_free(t);
    return rc;
}

/* Builds a tokenizer from vocab.txt bytes plus the optional configs, as
 * transformers' BertTokenizer does without a tokenizer.json. */
static int build_from_vocab(stc_tokenizer **out, const char *vocab, size_t len, const char *path,
                            const char *cfg, size_t cfg_len, const char *cfg_path, const char *map,
                            size_t map_len, const char *map_path, int do_lower_case)
{
    *out = NULL;
    cJSON *cfg_root = NULL, *map_root = NULL;
    tok_loader L = {0};
    stc_tokenizer *t = tokenizer_new();
    int rc;
    if (!t)
        return STC_ERR_NOMEM;
    L.t = t;
    L.path = path;
    if ((rc = parse_optional_json(cfg, cfg_len, cfg_path, &cfg_root)) ||
        (rc = parse_optional_json(map, map_len, map_path, &map_root)))
        goto fail;
    tok_config c;
    if ((rc = config_read(&c, cfg_root, cfg_path, map_root)))
        goto fail;
    /* Rust WordPiece::read_file: lines split at '\n', trailing whitespace
     * trimmed (char::is_whitespace, which covers a '\r'), the line number is
     * the id, a later duplicate wins; a line that is not UTF-8 is an error. */
    const uint16_t *F = t->flags;
    size_t pos = 0;
    int32_t line = 0;
    while (pos < len) {
        const char *nl = memchr(vocab + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - vocab) : len;
        if (!stc_toku_valid_utf8(vocab + pos, end - pos)) {
            rc = stc_errorf(STC_ERR_DATA, "%s: line %ld is not valid UTF-8", path, (long)line + 1);
            goto fail;
        }
        size_t e = end;
        while (e > pos) {
            int l;
            uint32_t ch = char_before((const unsigned char *)vocab + pos, e - pos, &l);
            if (!(F[ch] & STC_TOKU_WS))
                break;
            e -= (size_t)l;
        }
        if (line == INT32_MAX - 1) {
            rc = stc_errorf(STC_ERR_DATA, "%s: too many lines", path);
            goto fail;
        }
        if ((rc = loader_key(&L, vocab + pos, e - pos, line)))
            goto fail;
        line++;
        pos = nl ? end + 1 : len;
    }
    const char *names[5];
    for (int i = 0; i < 5; i++)
        names[i] = c.names[i] ? c.names[i] : sp_defaults[i];
    if ((rc = set_wordpiece(t, &L, names[SP_UNK], "##", 100)))
        goto fail;
    /* tokenizer_config.json "added_tokens_decoder" (transformers >= 4.34),
     * then the special tokens (special, not normalized). */
    if (c.added_decoder) {
        const cJSON *e;
        cJSON_ArrayForEach(e, c.added_decoder) {
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
            char *endp;
            long id = e->string ? strtol(e->string, &endp, 10) : -1;
            if (!cJSON_IsString(content) || id < 0 || id > INT32_MAX - 1 || *endp) {
                rc = stc_errorf(STC_ERR_DATA, "%s: malformed \"added_tokens_decoder\" entry", cfg_path);
                goto fail;
            }
            int special = json_bool(e, "special", 0);
            if ((rc = add_token(t, cfg_path, content->valuestring, json_bool(e, "single_word", 0),
                                json_bool(e, "lstrip", 0), json_bool(e, "rstrip", 0),
                                json_bool(e, "normalized", !special))))
                goto fail;
        }
    }
    for (int i = 0; i < 5; i++)
        if ((rc = add_token(t, path, names[i], 0, 0, 0, 0)))
            goto fail;
    tok_norm_step st = {NORM_BERT, 1, c.chinese >= 0 ? c.chinese : 1, 0, c.do_lower_case >= 0 ? c.do_lower_case : 1};
    st.strip = c.strip_accents >= 0 ? c.strip_accents : st.lower;
    t->steps[0] = st;
    t->n_steps = 1;
    t->pretok_bert = 1;
    int32_t cls = token_id(t, names[SP_CLS]), sep = token_id(t, names[SP_SEP]);
    simple_template(t, cls >= 0 ? cls : 2, sep >= 0 ? sep : 3, 0, 1);
    if ((rc = finish(t, path, do_lower_case, &c)))
        goto fail;
    t->n_special_single = tpl_specials(t->single, t->n_single, &t->vocab_size);
    t->n_special_pair = tpl_specials(t->pair, t->n_pair, &t->vocab_size);
    *out = t;
    t = NULL;
fail:
    loader_free(&L);
    cJSON_Delete(cfg_root);
    cJSON_Delete(map_root);
    stc_tokenizer_free(t);
    return rc;
}

/* In-memory loaders (see tokenizer.h). */
int stc_tokenizer_from_json(stc_tokenizer **out, const char *json, size_t len, const char *path,
                            const char *config, size_t config_len, int do_lower_case)
{
    return build_from_json(out, json, len, path, config, config_len, "tokenizer_config.json", NULL, 0, NULL, NULL,
                           do_lower_case);
}

int stc_tokenizer_from_vocab(stc_tokenizer **out, const char *vocab, size_t len, const char *path,
                             const char *config, size_t config_len, int do_lower_case)
{
    return build_from_vocab(out, vocab, len, path, config, config_len, "tokenizer_config.json", NULL, 0, NULL,
                            do_lower_case);
}

/* Reads dir/name into *data if the file exists (NULL otherwise); *path gets
 * the joined path (owned). */
static int read_optional(const char *dir, const char *name, char **path, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    *path = stc_path_join(dir, name);
    if (!*path)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    if (!stc_is_file(*path))
        return 0;
    return stc_read_file(*path, data, len);
}

/* tokenizer.json if present, else vocab.txt, with the directory's
 * tokenizer_config.json, special_tokens_map.json and config.json. */
int stc_tokenizer_load(stc_tokenizer **out, const char *model_dir, int do_lower_case)
{
    enum { F_JSON, F_VOCAB, F_CFG, F_MAP, F_MODEL, F_N };
    static const char *const names[F_N] = {"tokenizer.json", "vocab.txt", "tokenizer_config.json",
                                           "special_tokens_map.json", "config.json"};
    char *path[F_N] = {0}, *data[F_N] = {0};
    size_t len[F_N] = {0};
    int rc = 0;
    *out = NULL;
    for (int i = 0; i < F_N && !rc; i++)
        rc = read_optional(model_dir, names[i], &path[i], &data[i], &len[i]);
    if (rc)
        goto done;
    if (data[F_JSON]) {
        /* config.json's model_type picks the tokenizer class when
         * tokenizer_config.json does not name one. */
        const char *model_type = NULL;
        cJSON *mc = data[F_MODEL] ? cJSON_ParseWithLength(data[F_MODEL], len[F_MODEL]) : NULL;
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(mc, "model_type");
        if (cJSON_IsString(mt))
            model_type = mt->valuestring;
        rc = build_from_json(out, data[F_JSON], len[F_JSON], path[F_JSON], data[F_CFG], len[F_CFG], path[F_CFG],
                             data[F_MAP], len[F_MAP], path[F_MAP], model_type, do_lower_case);
        cJSON_Delete(mc);
    }
    else if (data[F_VOCAB])
        rc = build_from_vocab(out, data[F_VOCAB], len[F_VOCAB], path[F_VOCAB], data[F_CFG], len[F_CFG],
                              path[F_CFG], data[F_MAP], len[F_MAP], path[F_MAP], do_lower_case);
    else
        rc = stc_errorf(STC_ERR_DATA, "%s: no tokenizer.json or vocab.txt in this model directory", model_dir);
done:
    for (int i = 0; i < F_N; i++) {
        free(path[i]);
        free(data[i]);
    }
    return rc;
}
