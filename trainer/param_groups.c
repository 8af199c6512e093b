/*
 * Optimizer parameter groups from learning_rate_mapping (see param_groups.h
 * for the rules and for how Python regexes map onto PCRE2).
 */
#include "trainer/param_groups.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* ---- Python re -> PCRE2 ------------------------------------------------ */

static int is_hex(char c) { return isxdigit((unsigned char)c) != 0; }

/* Appends n bytes to the growing output (cap is always big enough: the
 * caller sizes it for the worst case). */
static void put(char *out, size_t *len, const char *s, size_t n)
{
    memcpy(out + *len, s, n);
    *len += n;
}

/* Translates a Python \u / \U escape at p (p points at 'u' or 'U') with
 * `digits` hex digits into \x{...}; returns the bytes of p consumed, or 0
 * when the digits are missing (the escape is then copied as is and PCRE2
 * reports it, as Python would). */
static size_t put_unicode_escape(char *out, size_t *len, const char *p, int digits)
{
    for (int i = 1; i <= digits; i++)
        if (!is_hex(p[i]))
            return 0;
    put(out, len, "\\x{", 3);
    put(out, len, p + 1, (size_t)digits);
    put(out, len, "}", 1);
    return (size_t)digits + 1;
}

/* Handles the escape that starts at p[0] == '\\' (in or outside a class);
 * returns the bytes of p consumed. */
static size_t put_escape(char *out, size_t *len, const char *p, int in_class)
{
    char c = p[1];
    size_t used;
    if (c == '\0') { /* trailing backslash: an error in both; let PCRE2 say so */
        put(out, len, p, 1);
        return 1;
    }
    if (c == 'u' && (used = put_unicode_escape(out, len, p + 1, 4)) > 0)
        return used + 1;
    if (c == 'U' && (used = put_unicode_escape(out, len, p + 1, 8)) > 0)
        return used + 1;
    if (c == 'v') {
        put(out, len, "\\x0b", 4);
        return 2;
    }
    if (c == 'Z' && !in_class) {
        put(out, len, "\\z", 2);
        return 2;
    }
    put(out, len, p, 2);
    return 2;
}

char *stc_python_regex_to_pcre2(const char *pattern)
{
    /* Worst case growth: "\v" (2 bytes) -> "\x0b" (4), "{,}" (3) -> "{0,}"
     * (4), "[" (1) -> "\[" (2): at most twice the input. */
    size_t n = strlen(pattern);
    char *out = stc_malloc(2 * n + 1, "regex translation");
    if (!out)
        return NULL;
    size_t len = 0;
    int in_class = 0;
    const char *p = pattern;
    while (*p) {
        if (*p == '\\') {
            p += put_escape(out, &len, p, in_class);
        } else if (in_class) {
            if (*p == ']') {
                in_class = 0;
                put(out, &len, p++, 1);
            } else if (*p == '[') {
                put(out, &len, "\\[", 2);
                p++;
            } else {
                put(out, &len, p++, 1);
            }
        } else if (*p == '[') {
            /* A set opens: '^' negates, and a ']' right after is literal. */
            in_class = 1;
            put(out, &len, p++, 1);
            if (*p == '^')
                put(out, &len, p++, 1);
            if (*p == ']')
                put(out, &len, p++, 1);
        } else if (p[0] == '{' && p[1] == ',') {
            /* Python's {,n} / {,}: a quantifier only if digits then '}'. */
            const char *q = p + 2;
            while (*q >= '0' && *q <= '9')
                q++;
            if (*q == '}') {
                put(out, &len, "{0", 2);
                put(out, &len, p + 1, (size_t)(q + 1 - (p + 1)));
                p = q + 1;
            } else {
                put(out, &len, p++, 1);
            }
        } else {
            put(out, &len, p++, 1);
        }
    }
    out[len] = '\0';
    return out;
}

/* ---- decay rule ----------------------------------------------------------- */

/* 1 if `word` occurs in s at i with a '.' or the start before it (when
 * need_dot_before) and a '.' or the end after it. */
static int has_delimited(const char *s, const char *word, int need_dot_before)
{
    size_t wl = strlen(word);
    for (const char *q = strstr(s, word); q; q = strstr(q + 1, word)) {
        int before_ok = !need_dot_before || q == s || q[-1] == '.';
        int after_ok = q[wl] == '\0' || q[wl] == '.';
        if (before_ok && after_ok)
            return 1;
    }
    return 0;
}

int stc_param_name_decays(const char *full_name)
{
    /* transformers' get_decay_parameter_names searches these in the
     * lower-cased name: bias, layernorm, rmsnorm, (?:^|\.)norm(?:$|\.),
     * _norm(?:$|\.). Its per-level recursion reduces to one search of the
     * full name: a match in any suffix "child.param" is also a match in the
     * full name (the suffix starts after a '.'). */
    size_t n = strlen(full_name);
    char buf[512];
    char *low = n < sizeof buf ? buf : malloc(n + 1);
    if (!low)
        return 1; /* cannot happen in practice; decaying is the default */
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)full_name[i]);
    int excluded = strstr(low, "bias") || strstr(low, "layernorm") || strstr(low, "rmsnorm") ||
                   has_delimited(low, "norm", 1) || has_delimited(low, "_norm", 0);
    if (low != buf)
        free(low);
    return !excluded;
}

/* ---- groups --------------------------------------------------------------- */

void stc_param_groups_free(stc_param_groups *pg)
{
    if (pg->names)
        for (int i = 0; i < pg->n_params; i++)
            free(pg->names[i]);
    free(pg->names);
    free(pg->source_first);
    free(pg->source_total);
    free(pg->source);
    free(pg->index);
    free(pg->offset);
    free(pg->count);
    free(pg->decay);
    free(pg->group_of);
    if (pg->groups)
        for (int g = 0; g < pg->n_groups; g++)
            free(pg->groups[g].members);
    free(pg->groups);
    memset(pg, 0, sizeof *pg);
}

int stc_param_groups_find(const stc_param_groups *pg, const char *full_name)
{
    for (int i = 0; i < pg->n_params; i++)
        if (!strcmp(pg->names[i], full_name))
            return i;
    return -1;
}

/* Appends an (empty) group; returns its index or -1 (error recorded). */
static int add_group(stc_param_groups *pg, int *cap, double lr, double wd, int mapping_idx, int decay)
{
    if (pg->n_groups == *cap) {
        int nc = *cap ? 2 * *cap : 8;
        stc_param_group *g = realloc(pg->groups, sizeof *g * (size_t)nc);
        if (!g) {
            stc_errorf(STC_ERR_NOMEM, "out of memory for optimizer param groups");
            return -1;
        }
        pg->groups = g;
        *cap = nc;
    }
    stc_param_group *g = &pg->groups[pg->n_groups];
    memset(g, 0, sizeof *g);
    g->lr = lr;
    g->weight_decay = wd;
    g->mapping_idx = mapping_idx;
    g->decay = decay;
    return pg->n_groups++;
}

/* Fills names and the per-parameter layout from the sources. */
static int collect_params(stc_param_groups *pg, const stc_param_source *sources, int n_sources)
{
    int n = 0;
    for (int s = 0; s < n_sources; s++) {
        if (!sources[s].table)
            return stc_errorf(STC_ERR_INTERNAL, "param groups: source %d has no table", s);
        n += sources[s].table->n;
    }
    pg->n_sources = n_sources;
    pg->n_params = n;
    pg->source_first = stc_calloc((size_t)n_sources + 1, sizeof(int), "param groups");
    pg->source_total = stc_calloc((size_t)n_sources + 1, sizeof(size_t), "param groups");
    size_t m = n ? (size_t)n : 1;
    pg->names = stc_calloc(m, sizeof(char *), "param groups");
    pg->source = stc_calloc(m, sizeof(int), "param groups");
    pg->index = stc_calloc(m, sizeof(int), "param groups");
    pg->offset = stc_calloc(m, sizeof(size_t), "param groups");
    pg->count = stc_calloc(m, sizeof(size_t), "param groups");
    pg->decay = stc_calloc(m, 1, "param groups");
    pg->group_of = stc_calloc(m, sizeof(int), "param groups");
    if (!pg->source_first || !pg->source_total || !pg->names || !pg->source || !pg->index ||
        !pg->offset || !pg->count || !pg->decay || !pg->group_of)
        return STC_ERR_NOMEM;
    int k = 0;
    for (int s = 0; s < n_sources; s++) {
        const stc_param_table *t = sources[s].table;
        const char *prefix = sources[s].prefix ? sources[s].prefix : "";
        pg->source_first[s] = k;
        pg->source_total[s] = t->total;
        for (int i = 0; i < t->n; i++, k++) {
            const stc_param *p = &t->params[i];
            size_t len = strlen(prefix) + strlen(p->name) + 1;
            pg->names[k] = stc_malloc(len, "parameter name");
            if (!pg->names[k])
                return STC_ERR_NOMEM;
            snprintf(pg->names[k], len, "%s%s", prefix, p->name);
            pg->source[k] = s;
            pg->index[k] = i;
            pg->offset[k] = p->offset;
            pg->count[k] = p->count;
            int in_ln = sources[s].in_layernorm && sources[s].in_layernorm[i];
            pg->decay[k] = (unsigned char)(!in_ln && stc_param_name_decays(pg->names[k]));
        }
    }
    pg->source_first[n_sources] = k;
    return 0;
}

/* Compiles a Python pattern with PCRE2 (after translation). */
static int compile_pattern(const char *pattern, pcre2_code **out)
{
    char *pcre = stc_python_regex_to_pcre2(pattern);
    if (!pcre)
        return STC_ERR_NOMEM;
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    *out = pcre2_compile((PCRE2_SPTR)pcre, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &errcode,
                         &erroff, NULL);
    free(pcre);
    if (!*out) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(errcode, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", errcode);
        return stc_errorf(STC_ERR_USAGE,
                          "learning_rate_mapping: pattern '%s' is not a valid regex: %s (at offset %zu)",
                          pattern, (const char *)msg, (size_t)erroff);
    }
    return 0;
}

/* Marks matched[k] = 1 for every name the pattern is found in; *n_matched
 * counts them. */
static int search_names(const stc_param_groups *pg, const char *pattern, const pcre2_code *re,
                        unsigned char *matched, int *n_matched)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md)
        return stc_errorf(STC_ERR_NOMEM, "out of memory matching pattern '%s'", pattern);
    int rc = 0;
    *n_matched = 0;
    for (int k = 0; k < pg->n_params; k++) {
        int r = pcre2_match(re, (PCRE2_SPTR)pg->names[k], PCRE2_ZERO_TERMINATED, 0, 0, md, NULL);
        if (r >= 0) {
            matched[k] = 1;
            (*n_matched)++;
        } else if (r == PCRE2_ERROR_NOMATCH) {
            matched[k] = 0;
        } else {
            PCRE2_UCHAR msg[256];
            if (pcre2_get_error_message(r, msg, sizeof msg) < 0)
                snprintf((char *)msg, sizeof msg, "error %d", r);
            rc = stc_errorf(STC_ERR_USAGE,
                            "learning_rate_mapping: pattern '%s' failed on parameter '%s': %s", pattern,
                            pg->names[k], (const char *)msg);
            break;
        }
    }
    pcre2_match_data_free(md);
    return rc;
}

/* Lists each group's members from group_of, ascending. */
static int fill_members(stc_param_groups *pg)
{
    for (int g = 0; g < pg->n_groups; g++)
        pg->groups[g].n = 0;
    for (int k = 0; k < pg->n_params; k++)
        pg->groups[pg->group_of[k]].n++;
    for (int g = 0; g < pg->n_groups; g++) {
        stc_param_group *gr = &pg->groups[g];
        gr->members = stc_malloc(sizeof(int) * (size_t)(gr->n ? gr->n : 1), "param group members");
        if (!gr->members)
            return STC_ERR_NOMEM;
        gr->n = 0;
    }
    for (int k = 0; k < pg->n_params; k++) {
        stc_param_group *gr = &pg->groups[pg->group_of[k]];
        gr->members[gr->n++] = k;
    }
    return 0;
}

int stc_param_groups_build(stc_param_groups *pg, const stc_param_source *sources, int n_sources,
                           double learning_rate, double weight_decay,
                           const stc_lr_mapping_entry *mapping, int n_mapping)
{
    memset(pg, 0, sizeof *pg);
    unsigned char *matched = NULL;
    pcre2_code *re = NULL;
    int cap = 0, rc;

    if ((rc = collect_params(pg, sources, n_sources)))
        goto err;
    /* Base groups: all parameters (each requires grad), split by decay. */
    if (add_group(pg, &cap, learning_rate, weight_decay, -1, 1) < 0 ||
        add_group(pg, &cap, learning_rate, 0.0, -1, 0) < 0) {
        rc = STC_ERR_NOMEM;
        goto err;
    }
    for (int k = 0; k < pg->n_params; k++)
        pg->group_of[k] = pg->decay[k] ? 0 : 1;

    matched = stc_calloc(pg->n_params ? (size_t)pg->n_params : 1, 1, "pattern matches");
    if (!matched) {
        rc = STC_ERR_NOMEM;
        goto err;
    }
    /* Each pattern takes its matches out of whatever group holds them
     * (earlier patterns' groups too: the last matching pattern wins) and
     * appends its decay / no-decay pair, each only if non-empty. Groups
     * left empty stay, as in the Python code. */
    for (int j = 0; j < n_mapping; j++) {
        int n_matched = 0;
        if ((rc = compile_pattern(mapping[j].pattern, &re)))
            goto err;
        if ((rc = search_names(pg, mapping[j].pattern, re, matched, &n_matched)))
            goto err;
        pcre2_code_free(re);
        re = NULL;
        if (n_matched == 0) {
            rc = stc_errorf(STC_ERR_USAGE,
                            "learning_rate_mapping: no parameters match the pattern '%s' "
                            "(patterns are searched in names such as '%s')",
                            mapping[j].pattern, pg->n_params ? pg->names[0] : "(no parameters)");
            goto err;
        }
        int n_decay = 0;
        for (int k = 0; k < pg->n_params; k++)
            n_decay += matched[k] && pg->decay[k];
        int g_decay = -1, g_nodecay = -1;
        if (n_decay > 0 && (g_decay = add_group(pg, &cap, mapping[j].lr, weight_decay, j, 1)) < 0) {
            rc = STC_ERR_NOMEM;
            goto err;
        }
        if (n_matched - n_decay > 0 && (g_nodecay = add_group(pg, &cap, mapping[j].lr, 0.0, j, 0)) < 0) {
            rc = STC_ERR_NOMEM;
            goto err;
        }
        for (int k = 0; k < pg->n_params; k++)
            if (matched[k])
                pg->group_of[k] = pg->decay[k] ? g_decay : g_nodecay;
    }
    if ((rc = fill_members(pg)))
        goto err;
    free(matched);
    return 0;

err:
    pcre2_code_free(re);
    free(matched);
    stc_param_groups_free(pg);
    return rc;
}
