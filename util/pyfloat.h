/*
 * Numbers printed as Python prints them, so files that Python tools compare
 * or parse (evaluator CSVs, metrics JSON) read the same from stc: the
 * shortest decimal that reads back to the same value (Python's repr of a
 * float; numpy's str of a float32 for float32 values), positional between
 * 1e-4 and 1e16 with at least one digit after the point ("1.0", "0.25"),
 * scientific outside ("1e-05", "1.5e+16"), "nan", "inf", "-inf".
 */
#ifndef STC_UTIL_PYFLOAT_H
#define STC_UTIL_PYFLOAT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest result, NUL included ("-1.2345678901234567e-308"). */
#define STC_PYFLOAT_MAX 32

/* repr(float(x)) into buf[STC_PYFLOAT_MAX]; returns buf. */
char *stc_pyfloat_repr(double x, char *buf);
/* str(np.float32(x)) into buf[STC_PYFLOAT_MAX]; returns buf. */
char *stc_pyfloat_repr_f32(float x, char *buf);

#ifdef __cplusplus
}
#endif

#endif
