/* Thread-local error messages for library code (see error.h). */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { STC_ERROR_CAP = 2048 };
static _Thread_local char stc_error_buf[STC_ERROR_CAP];

int stc_errorf(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(stc_error_buf, sizeof stc_error_buf, fmt, ap);
    va_end(ap);
    return code;
}

int stc_error_prefix(int code, const char *fmt, ...)
{
    char prefix[STC_ERROR_CAP];
    char old[STC_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, stc_error_buf, sizeof old);
    /* Long messages are cut at the buffer's end; that is acceptable. */
    size_t n = strnlen(prefix, sizeof prefix - 3);
    memcpy(stc_error_buf, prefix, n);
    memcpy(stc_error_buf + n, ": ", 2);
    size_t room = sizeof stc_error_buf - n - 2;
    size_t m = strnlen(old, room - 1);
    memcpy(stc_error_buf + n + 2, old, m);
    stc_error_buf[n + 2 + m] = '\0';
    return code;
}

const char *stc_error_message(void) { return stc_error_buf; }

void stc_error_clear(void) { stc_error_buf[0] = '\0'; }

void *stc_malloc(size_t n, const char *what)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        stc_errorf(STC_ERR_NOMEM, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *stc_calloc(size_t count, size_t size, const char *what)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        stc_errorf(STC_ERR_NOMEM, "out of memory allocating %zu x %zu bytes for %s", count, size, what);
    return p;
}
