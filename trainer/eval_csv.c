/*
 * The evaluators' CSV files as Python writes them (eval_internal.h):
 * "<output_path>/<prefix>[_<name>]_results.csv", a header row when the file
 * is new, then one row per call, appended. Values are printed as Python's
 * str() prints them, so the files are interchangeable with Python's.
 */
#include "trainer/eval_internal.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/pyfloat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void stc_eval_strs_free(stc_eval_strs *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
    memset(l, 0, sizeof *l);
}

int stc_eval_strs_push(stc_eval_strs *l, const char *fmt, ...)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **s = realloc(l->s, sizeof *s * (size_t)cap);
        if (!s)
            return stc_errorf(STC_ERR_NOMEM, "out of memory (CSV fields)");
        l->s = s;
        l->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)len + 1);
    if (!s)
        return stc_errorf(STC_ERR_NOMEM, "out of memory (CSV fields)");
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    l->s[l->n++] = s;
    return 0;
}

int stc_eval_strs_push_f64(stc_eval_strs *l, double v)
{
    char b[STC_PYFLOAT_MAX];
    return stc_eval_strs_push(l, "%s", stc_pyfloat_repr(v, b));
}

int stc_eval_strs_push_f32(stc_eval_strs *l, float v)
{
    char b[STC_PYFLOAT_MAX];
    return stc_eval_strs_push(l, "%s", stc_pyfloat_repr_f32(v, b));
}

/* Python's defaults are the int -1; the trainer passes state.epoch, a
 * float ("1.0", "0.5"), and global_step, an int. */
int stc_eval_csv_begin(stc_eval_strs *header, stc_eval_strs *row, const stc_eval_call *call)
{
    int rc = stc_eval_strs_push(header, "epoch") || stc_eval_strs_push(header, "steps") ||
             (call->epoch == -1.0 ? stc_eval_strs_push(row, "-1") : stc_eval_strs_push_f64(row, call->epoch)) ||
             stc_eval_strs_push(row, "%lld", (long long)call->steps);
    return rc ? STC_ERR_NOMEM : 0;
}

static int write_row(FILE *f, const stc_eval_strs *r, const char *eol)
{
    for (int i = 0; i < r->n; i++)
        if (fputs(i ? "," : "", f) < 0 || fputs(r->s[i], f) < 0)
            return -1;
    return fputs(eol, f) < 0 ? -1 : 0;
}

int stc_eval_csv_append(const stc_eval_call *call, const char *prefix, const stc_eval_strs *header,
                        const stc_eval_strs *row, int crlf)
{
    char file[512];
    snprintf(file, sizeof file, "%s%s%s_results.csv", prefix, *call->name ? "_" : "", call->name);
    return stc_eval_csv_append_file(call, file, header, row, crlf);
}

int stc_eval_csv_append_file(const stc_eval_call *call, const char *file, const stc_eval_strs *header,
                             const stc_eval_strs *row, int crlf)
{
    if (!call->csv_dir)
        return 0;
    int rc = stc_mkdir_p(call->csv_dir);
    if (rc)
        return rc;
    char *path = stc_path_join(call->csv_dir, file);
    if (!path)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    int is_new = !stc_is_file(path);
    FILE *f = fopen(path, "a");
    if (!f) {
        rc = stc_errorf(STC_ERR_IO, "%s: cannot open for appending: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    const char *eol = crlf ? "\r\n" : "\n";
    int bad = (is_new && write_row(f, header, eol)) || write_row(f, row, eol);
    bad |= fclose(f) != 0;
    if (bad)
        rc = stc_errorf(STC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    free(path);
    return rc;
}
