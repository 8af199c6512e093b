/*
 * CSV / TSV record parser (RFC 4180; see dataset.h).
 *
 * A field that starts with '"' is quoted: it runs to the next lone '"'
 * ("" stands for one quote) and may hold delimiters and newlines; after the
 * closing quote only a delimiter or the end of the record may follow.
 * Elsewhere a '"' is an ordinary character (as in pandas and Python's csv).
 * A record ends at '\n' outside quotes; a '\r' right before it is dropped.
 * Fields keep their spaces. An empty line is skipped (so a one-column file
 * cannot hold an empty text unquoted: write "").
 *
 * Framing (finding the fields) and decoding (unquoting, UTF-8 repair) are
 * separate steps, so a bad record is skipped as a whole: an unterminated
 * quote skips the record's first line only, a stray character after a
 * closing quote skips to the end of its line.
 */
#include "data/dataset_internal.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Records a field span; fields past the column limit are counted only. */
static int push_span(stc_ds_rec *rec, size_t start, size_t end, int quoted)
{
    if (rec->n_spans <= STC_DATASET_MAX_COLUMNS) {
        if (rec->n_spans == rec->spans_cap) {
            size_t c = rec->spans_cap ? 2 * rec->spans_cap : 16;
            stc_ds_csv_span *s = realloc(rec->spans, c * sizeof *s);
            if (!s) {
                stc_errorf(STC_ERR_NOMEM, "dataset: out of memory (CSV fields)");
                return STC_DS_REC_NOMEM;
            }
            rec->spans = s;
            rec->spans_cap = c;
        }
        rec->spans[rec->n_spans] = (stc_ds_csv_span){start, end, quoted};
    }
    rec->n_spans++;
    return STC_DS_REC_OK;
}

/* Where to resume after a bad record: after the first '\n' at or after
 * from (or the end of the data at EOF). */
static int resync(const char *p, size_t avail, int at_eof, size_t from, size_t *consumed)
{
    const char *nl = from < avail ? memchr(p + from, '\n', avail - from) : NULL;
    if (!nl && !at_eof)
        return STC_DS_REC_NEED_MORE;
    *consumed = nl ? (size_t)(nl - p) + 1 : avail;
    return STC_DS_REC_BAD;
}

/* Finds the fields of the record at p into rec->spans. */
static int frame(stc_ds_rec *rec, char delim, const char *p, size_t avail, int at_eof, size_t *consumed)
{
    rec->n_spans = 0;
    if (avail == 0)
        return at_eof ? (*consumed = 0, STC_DS_REC_BLANK) : STC_DS_REC_NEED_MORE;
    if (p[0] == '\n') {
        *consumed = 1;
        return STC_DS_REC_BLANK;
    }
    if (p[0] == '\r' && avail == 1) {
        if (!at_eof)
            return STC_DS_REC_NEED_MORE;
        *consumed = 1;
        return STC_DS_REC_BLANK;
    }
    if (p[0] == '\r' && p[1] == '\n') {
        *consumed = 2;
        return STC_DS_REC_BLANK;
    }
    size_t i = 0;
    int r;
    for (;;) {
        if (i < avail && p[i] == '"') {
            size_t j = i + 1, k;
            for (;;) {
                const char *q = j < avail ? memchr(p + j, '"', avail - j) : NULL;
                if (!q) {
                    if (!at_eof)
                        return STC_DS_REC_NEED_MORE;
                    stc_ds_rec_bad(rec, i, "unterminated quoted field (starting at byte %zu of the record)", i + 1);
                    return resync(p, avail, at_eof, 0, consumed);
                }
                k = (size_t)(q - p);
                if (k + 1 < avail && p[k + 1] == '"') {
                    j = k + 2;
                    continue;
                }
                if (k + 1 == avail && !at_eof)
                    return STC_DS_REC_NEED_MORE;
                break;
            }
            if ((r = push_span(rec, i + 1, k, 1)))
                return r;
            i = k + 1;
            if (i == avail) {
                *consumed = i;
                return STC_DS_REC_OK;
            }
            if (p[i] == delim) {
                i++;
                continue;
            }
            if (p[i] == '\n') {
                *consumed = i + 1;
                return STC_DS_REC_OK;
            }
            if (p[i] == '\r' && i + 1 < avail && p[i + 1] == '\n') {
                *consumed = i + 2;
                return STC_DS_REC_OK;
            }
            if (p[i] == '\r' && i + 1 == avail) {
                if (!at_eof)
                    return STC_DS_REC_NEED_MORE;
                *consumed = avail;
                return STC_DS_REC_OK;
            }
            stc_ds_rec_bad(rec, i, "unexpected character after the closing quote of field %zu", rec->n_spans);
            return resync(p, avail, at_eof, i, consumed);
        }
        size_t j = i;
        while (j < avail && p[j] != delim && p[j] != '\n')
            j++;
        if (j == avail && !at_eof)
            return STC_DS_REC_NEED_MORE;
        size_t end = j;
        if ((j == avail || p[j] == '\n') && end > i && p[end - 1] == '\r')
            end--;
        if ((r = push_span(rec, i, end, 0)))
            return r;
        if (j == avail) {
            *consumed = avail;
            return STC_DS_REC_OK;
        }
        if (p[j] == '\n') {
            *consumed = j + 1;
            return STC_DS_REC_OK;
        }
        i = j + 1; /* a delimiter: another field follows (maybe empty) */
    }
}

/* Decodes field sp of the record at p into out (room for 3x its length);
 * returns the decoded length. */
static size_t decode(stc_ds_rec *rec, const char *p, const stc_ds_csv_span *sp, char *out)
{
    const unsigned char *u = (const unsigned char *)p;
    if (!sp->quoted)
        return stc_ds_utf8_repair(out, u + sp->start, sp->end - sp->start, &rec->n_invalid);
    size_t o = 0, j = sp->start;
    while (j < sp->end) {
        const char *q = memchr(p + j, '"', sp->end - j);
        size_t seg_end = q ? (size_t)(q - p) : sp->end;
        o += stc_ds_utf8_repair(out + o, u + j, seg_end - j, &rec->n_invalid);
        if (!q)
            break;
        out[o++] = '"';
        j = seg_end + 2; /* "" */
    }
    return o;
}

/* ASCII whitespace trimmed around a label field. */
static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Parses a label field (decoded, s[0..n)): a number, true/false, or a JSON
 * array of numbers. */
static int label_field(stc_ds_rec *rec, const char *s, size_t n, const char *col)
{
    size_t a = 0, b = n;
    while (a < b && is_space(s[a]))
        a++;
    while (b > a && is_space(s[b - 1]))
        b--;
    if (a == b)
        return stc_ds_rec_bad(rec, 0, "column \"%s\" is empty (expected a number)", col);
    if (s[a] == '[') {
        size_t i = a;
        int r = stc_ds_json_number_array(rec, s, b, &i);
        if (r == STC_DS_REC_OK && i != b)
            r = stc_ds_rec_bad(rec, 0, "column \"%s\": characters after the array", col);
        return r;
    }
    if (b - a == 4 && !strncasecmp(s + a, "true", 4))
        return stc_ds_rec_push_label(rec, 1.0f);
    if (b - a == 5 && !strncasecmp(s + a, "false", 5))
        return stc_ds_rec_push_label(rec, 0.0f);
    /* [+-] digits [. digits] [e [+-] digits], at least one mantissa digit
     * (what pandas reads as a float, NaN/inf aside). */
    size_t i = a, digits = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    while (i < b && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < b && s[i] == '.') {
        i++;
        while (i < b && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits && i < b && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = ++i;
        if (i < b && (s[i] == '+' || s[i] == '-'))
            e = ++i;
        while (i < b && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e)
            digits = 0;
    }
    char tmp[128];
    if (!digits || i != b || b - a >= sizeof tmp)
        return stc_ds_rec_bad(rec, 0, "column \"%s\" is not a number: \"%.*s\"", col, (int)(b - a < 40 ? b - a : 40),
                              s + a);
    memcpy(tmp, s + a, b - a);
    tmp[b - a] = '\0';
    return stc_ds_rec_label_value(rec, 0, strtod(tmp, NULL));
}

int stc_ds_csv_parse(const stc_ds_schema *s, stc_ds_rec *rec, char delim, const char *p, size_t avail,
                  int at_eof, size_t *consumed)
{
    int r = frame(rec, delim, p, avail, at_eof, consumed);
    if (r != STC_DS_REC_OK)
        return r;
    if (rec->n_spans != (size_t)s->n_cols)
        return stc_ds_rec_bad(rec, 0, "expected %d fields (as in the header), found %zu", s->n_cols, rec->n_spans);
    size_t base = rec->len;
    rec->label_n = 0;
    rec->label_is_array = 0;
    for (int c = 0; c < s->n_cols; c++) {
        char *out = rec->buf + rec->len;
        size_t l = decode(rec, p, &rec->spans[c], out);
        int slot = s->col_slot[c];
        if (slot >= 0) {
            out[l] = '\0';
            rec->col_off[slot] = rec->len;
            rec->col_len[slot] = l;
            rec->len += l + 1;
        } else if ((r = label_field(rec, out, l, s->col_names[c]))) {
            rec->len = base;
            return r;
        }
    }
    if (s->label_col >= 0 && (r = stc_ds_rec_check_label(rec, s, s->col_names[s->label_col]))) {
        rec->len = base;
        return r;
    }
    return STC_DS_REC_OK;
}

int stc_ds_csv_parse_header(stc_ds_schema *s, stc_ds_rec *rec, char delim, const char *p, size_t avail,
                         int at_eof, size_t *consumed, const char *path)
{
    int r = frame(rec, delim, p, avail, at_eof, consumed);
    if (r != STC_DS_REC_OK)
        return r;
    if (rec->n_spans > STC_DATASET_MAX_COLUMNS)
        return stc_ds_rec_bad(rec, 0, "the header has %zu columns (at most %d)", rec->n_spans,
                           STC_DATASET_MAX_COLUMNS);
    size_t n = rec->n_spans;
    char **names = stc_calloc(n, sizeof *names, "column names");
    if (!names)
        return STC_DS_REC_NOMEM;
    long save = rec->n_invalid; /* invalid UTF-8 in names is replaced, not counted as text */
    for (size_t c = 0; c < n; c++) {
        const stc_ds_csv_span *sp = &rec->spans[c];
        names[c] = stc_malloc(3 * (sp->end - sp->start) + 1, "column name");
        if (!names[c]) {
            r = STC_DS_REC_NOMEM;
            break;
        }
        size_t l = decode(rec, p, sp, names[c]);
        if (memchr(names[c], '\0', l)) {
            r = stc_ds_rec_bad(rec, 0, "column %zu of the header contains a NUL character", c + 1);
            break;
        }
        names[c][l] = '\0';
    }
    rec->n_invalid = save;
    if (r != STC_DS_REC_OK) {
        for (size_t c = 0; c < n; c++)
            free(names[c]);
        free(names);
        return r;
    }
    if (stc_ds_schema_set(s, names, (int)n, path))
        return STC_DS_REC_FATAL;
    return STC_DS_REC_OK;
}
