/*
 * Error reporting for library code.
 *
 * Library functions never exit: they return 0 on success or a non-zero
 * stc_status, after recording a message with stc_errorf(). Only the entry
 * point (launcher/) decides to die, through stc_fatal(), which under MPI
 * brings every rank down. The message is thread-local, so OpenMP workers
 * cannot garble each other's reports.
 *
 * The status values double as process exit codes (README, "Exit codes").
 */
#ifndef STC_UTIL_ERROR_H
#define STC_UTIL_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    STC_OK = 0,
    STC_ERR_INTERNAL = 1, /* a bug or an impossible state */
    STC_ERR_USAGE = 2,    /* bad command line or config */
    STC_ERR_DATA = 3,     /* malformed user file: model, dataset, input text */
    STC_ERR_IO = 4,       /* the OS refused: open, read, write, rename, fsync */
    STC_ERR_NUMERIC = 5,  /* NaN/Inf abort */
    STC_ERR_PEER = 6,     /* another rank failed or a collective timed out */
    STC_ERR_NOMEM = 7     /* allocation failed */
} stc_status;

/* Records a printf-style message and returns code, so callers can write
 * `return stc_errorf(STC_ERR_DATA, "%s: ...", path);`. */
int stc_errorf(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to the recorded message (adds context while unwinding)
 * and returns code. */
int stc_error_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last recorded message of this thread ("" if none). */
const char *stc_error_message(void);

/* Clears the recorded message. */
void stc_error_clear(void);

/* Allocation helpers that record STC_ERR_NOMEM with what was being allocated.
 * They return NULL on failure (never abort). */
void *stc_malloc(size_t n, const char *what);
void *stc_calloc(size_t count, size_t size, const char *what);

#ifdef __cplusplus
}
#endif

#endif
