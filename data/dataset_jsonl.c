/*
 * JSONL record parser (see dataset.h for the rules it enforces).
 *
 * A record is one line holding one JSON object whose keys are the dataset's
 * columns. Our own parser rather than cJSON because we need what cJSON does
 * not give: duplicate keys found, "\u0000" and invalid UTF-8 kept apart from
 * the end of a string (replaced and counted), no allocation per value, and
 * a bounded nesting depth. Strictness follows Python's json module (strict
 * mode): raw control characters inside strings are refused, NaN/Infinity
 * are not numbers. Lone UTF-16 surrogates in \u escapes (which Python keeps
 * and the tokenizer then rejects) become U+FFFD and are counted.
 */
#include "data/dataset_internal.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

/* Deepest nesting skipped while discovering the columns. */
#define JSONL_MAX_DEPTH 64

/* Skips JSON whitespace from p[i]; returns the next index. */
static size_t ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i;
}

/* What a value starting with c is, for messages. */
static const char *value_kind(char c)
{
    switch (c) {
    case '"':
        return "a string";
    case '{':
        return "an object";
    case '[':
        return "an array";
    case 't':
    case 'f':
        return "a boolean";
    case 'n':
        return "null";
    default:
        return (c == '-' || (c >= '0' && c <= '9')) ? "a number" : NULL;
    }
}

/* Reads the 4 hex digits of a \u escape; -1 if one is not hex. */
static int hex4(const char *p, unsigned *v)
{
    unsigned x = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        x <<= 4;
        if (c >= '0' && c <= '9')
            x |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            x |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *v = x;
    return 0;
}

/* Writes code point cp as UTF-8; returns its length. */
static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the JSON string at p[*i] (a '"') into out (room for 3x its raw
 * length); *olen is its byte length. *i ends after the closing quote. */
static int json_string(stc_ds_rec *rec, const char *p, size_t n, size_t *i, char *out, size_t *olen)
{
    size_t j = *i + 1, o = 0;
    for (;;) {
        size_t seg = j;
        while (j < n) {
            unsigned char c = (unsigned char)p[j];
            if (c == '"' || c == '\\' || c < 0x20)
                break;
            j++;
        }
        o += stc_ds_utf8_repair(out + o, (const unsigned char *)p + seg, j - seg, &rec->n_invalid);
        if (j >= n)
            return stc_ds_rec_bad(rec, *i, "invalid JSON: string starting at byte %zu is not terminated", *i + 1);
        char c = p[j];
        if (c == '"') {
            *i = j + 1;
            *olen = o;
            return STC_DS_REC_OK;
        }
        if (c != '\\')
            return stc_ds_rec_bad(rec, j, "invalid JSON at byte %zu: control character 0x%02x in a string "
                               "(escape it)", j + 1, (unsigned)(unsigned char)c);
        if (j + 1 >= n)
            return stc_ds_rec_bad(rec, j, "invalid JSON: string starting at byte %zu is not terminated", *i + 1);
        char e = p[j + 1];
        j += 2;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            out[o++] = e;
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (j + 4 > n || hex4(p + j, &cp))
                return stc_ds_rec_bad(rec, j - 2, "invalid JSON at byte %zu: bad \\u escape", j - 1);
            j += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && j + 6 <= n && p[j] == '\\' && p[j + 1] == 'u' &&
                !hex4(p + j + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                j += 6;
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD; /* a lone surrogate */
                rec->n_invalid++;
            }
            o += put_utf8(out + o, cp);
            break;
        }
        default:
            return stc_ds_rec_bad(rec, j - 2, "invalid JSON at byte %zu: bad escape '\\%c'", j - 1,
                               (e >= 0x20 && e < 0x7F) ? e : '?');
        }
    }
}

/* Matches a literal (true/false/null) at p[*i]. */
static int literal(const char *p, size_t n, size_t *i, const char *lit)
{
    size_t l = strlen(lit);
    if (n - *i < l || memcmp(p + *i, lit, l))
        return 0;
    *i += l;
    return 1;
}

/* Skips any JSON value at p[*i] (used only to find the keys of the first
 * record; scratch receives decoded strings). */
static int skip_value(stc_ds_rec *rec, const char *p, size_t n, size_t *i, char *scratch, int depth)
{
    size_t j = ws(p, n, *i), l;
    double v;
    if (j >= n)
        return stc_ds_rec_bad(rec, j, "invalid JSON: the line ends where a value was expected");
    if (depth > JSONL_MAX_DEPTH)
        return stc_ds_rec_bad(rec, j, "invalid JSON: nested deeper than %d", JSONL_MAX_DEPTH);
    char c = p[j];
    int r = STC_DS_REC_OK;
    if (c == '"') {
        r = json_string(rec, p, n, &j, scratch, &l);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        r = stc_ds_json_number(rec, p, n, &j, &v);
    } else if (literal(p, n, &j, "true") || literal(p, n, &j, "false") || literal(p, n, &j, "null")) {
        r = STC_DS_REC_OK;
    } else if (c == '[' || c == '{') {
        char close = c == '[' ? ']' : '}';
        j = ws(p, n, j + 1);
        if (j < n && p[j] == close) {
            j++;
        } else {
            for (;;) {
                if (c == '{') {
                    j = ws(p, n, j);
                    if (j >= n || p[j] != '"')
                        return stc_ds_rec_bad(rec, j, "invalid JSON at byte %zu: expected a key", j + 1);
                    if ((r = json_string(rec, p, n, &j, scratch, &l)))
                        return r;
                    j = ws(p, n, j);
                    if (j >= n || p[j] != ':')
                        return stc_ds_rec_bad(rec, j, "invalid JSON at byte %zu: expected ':'", j + 1);
                    j++;
                }
                if ((r = skip_value(rec, p, n, &j, scratch, depth + 1)))
                    return r;
                j = ws(p, n, j);
                if (j < n && p[j] == ',') {
                    j++;
                    continue;
                }
                if (j < n && p[j] == close) {
                    j++;
                    break;
                }
                return stc_ds_rec_bad(rec, j, "invalid JSON at byte %zu: expected ',' or '%c'", j + 1, close);
            }
        }
    } else {
        return stc_ds_rec_bad(rec, j, "invalid JSON at byte %zu: unexpected character", j + 1);
    }
    if (r == STC_DS_REC_OK)
        *i = j;
    return r;
}

/* The line p[0..n) of a record: finds its end. */
static int line_extent(const char *p, size_t avail, int at_eof, size_t *n, size_t *consumed)
{
    const char *nl = memchr(p, '\n', avail);
    if (!nl && !at_eof)
        return STC_DS_REC_NEED_MORE;
    *n = nl ? (size_t)(nl - p) : avail;
    *consumed = nl ? *n + 1 : avail;
    return STC_DS_REC_OK;
}

int stc_ds_jsonl_discover(stc_ds_schema *s, stc_ds_rec *rec, const char *p, size_t n, const char *path)
{
    char **names = NULL;
    int nn = 0, cap = 0, r;
    size_t i = ws(p, n, 0), l;
    char *scratch = rec->buf + rec->len;
    if (i >= n || p[i] != '{') {
        r = stc_ds_rec_bad(rec, i, "expected a JSON object");
        goto out;
    }
    i = ws(p, n, i + 1);
    if (i < n && p[i] == '}') {
        r = stc_ds_rec_bad(rec, i, "empty JSON object (no columns)");
        goto out;
    }
    for (;;) {
        i = ws(p, n, i);
        if (i >= n || p[i] != '"') {
            r = stc_ds_rec_bad(rec, i, "invalid JSON at byte %zu: expected a key", i + 1);
            goto out;
        }
        if ((r = json_string(rec, p, n, &i, scratch, &l)))
            goto out;
        if (memchr(scratch, '\0', l)) {
            r = stc_ds_rec_bad(rec, i, "a key contains a NUL character");
            goto out;
        }
        for (int k = 0; k < nn; k++)
            if (strlen(names[k]) == l && !memcmp(names[k], scratch, l)) {
                r = stc_ds_rec_bad(rec, i, "duplicate key \"%s\"", names[k]);
                goto out;
            }
        if (nn == cap) {
            int c = cap ? 2 * cap : 8;
            char **nn2 = realloc(names, (size_t)c * sizeof *nn2);
            if (!nn2) {
                r = STC_DS_REC_NOMEM;
                stc_errorf(STC_ERR_NOMEM, "dataset: out of memory");
                goto out;
            }
            names = nn2;
            cap = c;
        }
        names[nn] = stc_malloc(l + 1, "column name");
        if (!names[nn]) {
            r = STC_DS_REC_NOMEM;
            goto out;
        }
        memcpy(names[nn], scratch, l);
        names[nn++][l] = '\0';
        if (nn > STC_DATASET_MAX_COLUMNS) {
            r = stc_ds_rec_bad(rec, i, "more than %d keys", STC_DATASET_MAX_COLUMNS);
            goto out;
        }
        i = ws(p, n, i);
        if (i >= n || p[i] != ':') {
            r = stc_ds_rec_bad(rec, i, "invalid JSON at byte %zu: expected ':'", i + 1);
            goto out;
        }
        i++;
        if ((r = skip_value(rec, p, n, &i, scratch, 1)))
            goto out;
        i = ws(p, n, i);
        if (i < n && p[i] == ',') {
            i++;
            continue;
        }
        if (i < n && p[i] == '}')
            break;
        r = stc_ds_rec_bad(rec, i, "invalid JSON at byte %zu: expected ',' or '}'", i + 1);
        goto out;
    }
    i = ws(p, n, i + 1);
    if (i != n) {
        r = stc_ds_rec_bad(rec, i, "invalid JSON at byte %zu: characters after the object", i + 1);
        goto out;
    }
    if (stc_ds_schema_set(s, names, nn, path)) /* takes names, even on failure */
        return STC_DS_REC_FATAL;
    return STC_DS_REC_OK;
out:
    for (int k = 0; k < nn; k++)
        free(names[k]);
    free(names);
    return r;
}

/* Parses the label value at p[*i] into rec->label. */
static int label_value(stc_ds_rec *rec, const char *p, size_t n, size_t *i, const char *col)
{
    size_t j = *i;
    double v;
    int r;
    char c = p[j];
    if (c == '[') {
        r = stc_ds_json_number_array(rec, p, n, &j);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        r = stc_ds_json_number(rec, p, n, &j, &v);
        if (r == STC_DS_REC_OK)
            r = stc_ds_rec_label_value(rec, j, v);
    } else if (literal(p, n, &j, "true")) {
        r = stc_ds_rec_push_label(rec, 1.0f);
    } else if (literal(p, n, &j, "false")) {
        r = stc_ds_rec_push_label(rec, 0.0f);
    } else if (value_kind(c)) {
        return stc_ds_rec_bad(rec, j, "column \"%s\" must be a number or an array of numbers, found %s", col,
                           value_kind(c));
    } else {
        return stc_ds_rec_bad(rec, j, "invalid JSON at byte %zu: unexpected character", j + 1);
    }
    if (r == STC_DS_REC_OK)
        *i = j;
    return r;
}

/* Finds the column named by the key bytes k[0..l). */
static int find_column(const stc_ds_schema *s, const char *k, size_t l)
{
    if (memchr(k, '\0', l))
        return -1;
    for (int c = 0; c < s->n_cols; c++)
        if (strlen(s->col_names[c]) == l && !memcmp(s->col_names[c], k, l))
            return c;
    return -1;
}

/* Parses the object on the line p[0..n) against the schema. */
static int parse_object(const stc_ds_schema *s, stc_ds_rec *rec, const char *p, size_t n)
{
    size_t i = ws(p, n, 0), l;
    int r;
    if (p[i] != '{')
        return stc_ds_rec_bad(rec, i, "expected a JSON object, found %s",
                           value_kind(p[i]) ? value_kind(p[i]) : "invalid JSON");
    memset(rec->seen, 0, (size_t)s->n_cols);
    i = ws(p, n, i + 1);
    if (i < n && p[i] == '}') {
        i++;
    } else {
        for (;;) {
            i = ws(p, n, i);
            if (i >= n || p[i] != '"')
                return stc_ds_rec_bad(rec, i, "invalid JSON at byte %zu: expected a key", i + 1);
            /* The key is decoded past the output, which values overwrite. */
            char *key = rec->buf + rec->len;
            if ((r = json_string(rec, p, n, &i, key, &l)))
                return r;
            int c = find_column(s, key, l);
            if (c < 0) {
                key[l] = '\0';
                return stc_ds_rec_bad(rec, i, "unexpected column \"%.200s\" (not in the first record)", key);
            }
            if (rec->seen[c])
                return stc_ds_rec_bad(rec, i, "duplicate key \"%s\"", s->col_names[c]);
            rec->seen[c] = 1;
            i = ws(p, n, i);
            if (i >= n || p[i] != ':')
                return stc_ds_rec_bad(rec, i, "invalid JSON at byte %zu: expected ':'", i + 1);
            i = ws(p, n, i + 1);
            if (i >= n)
                return stc_ds_rec_bad(rec, i, "invalid JSON: the line ends where a value was expected");
            if (c == s->label_col) {
                if ((r = label_value(rec, p, n, &i, s->col_names[c])))
                    return r;
            } else {
                if (p[i] != '"') {
                    const char *k = value_kind(p[i]);
                    if (!k)
                        return stc_ds_rec_bad(rec, i, "invalid JSON at byte %zu: unexpected character", i + 1);
                    return stc_ds_rec_bad(rec, i, "column \"%s\" must be a string, found %s", s->col_names[c], k);
                }
                int slot = s->col_slot[c];
                char *out = rec->buf + rec->len;
                if ((r = json_string(rec, p, n, &i, out, &l)))
                    return r;
                out[l] = '\0';
                rec->col_off[slot] = rec->len;
                rec->col_len[slot] = l;
                rec->len += l + 1;
            }
            i = ws(p, n, i);
            if (i < n && p[i] == ',') {
                i++;
                continue;
            }
            if (i < n && p[i] == '}') {
                i++;
                break;
            }
            return stc_ds_rec_bad(rec, i, "invalid JSON at byte %zu: expected ',' or '}'", i + 1);
        }
    }
    i = ws(p, n, i);
    if (i != n)
        return stc_ds_rec_bad(rec, i, "invalid JSON at byte %zu: characters after the object", i + 1);
    for (int c = 0; c < s->n_cols; c++)
        if (!rec->seen[c])
            return stc_ds_rec_bad(rec, n, "missing column \"%s\"", s->col_names[c]);
    if (s->label_col >= 0)
        return stc_ds_rec_check_label(rec, s, s->col_names[s->label_col]);
    return STC_DS_REC_OK;
}

int stc_ds_jsonl_parse(const stc_ds_schema *s, stc_ds_rec *rec, const char *p, size_t avail, int at_eof,
                    size_t *consumed)
{
    size_t n;
    if (line_extent(p, avail, at_eof, &n, consumed) != STC_DS_REC_OK)
        return STC_DS_REC_NEED_MORE;
    if (ws(p, n, 0) == n)
        return STC_DS_REC_BLANK;
    size_t base = rec->len;
    rec->label_n = 0;
    rec->label_is_array = 0;
    int r = parse_object(s, rec, p, n);
    if (r != STC_DS_REC_OK)
        rec->len = base;
    return r;
}
