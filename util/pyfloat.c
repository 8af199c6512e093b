/* Python's float repr (see pyfloat.h). */
#include "util/pyfloat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shortest digits of x (1..max_digits significant) that read back as
 * the same value at the given precision (is_f32: through float), and the
 * decimal exponent of the first digit. %.*e rounds correctly, so the first
 * precision that round-trips gives the digits Python's dtoa mode 0 gives:
 * among the shortest strings that read back, the one nearest x. */
static void shortest_digits(double x, int is_f32, char *digits, int *exp10)
{
    char tmp[STC_PYFLOAT_MAX + 16];
    int max_digits = is_f32 ? 9 : 17;
    for (int p = 1; p <= max_digits; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
        int back = is_f32 ? strtof(tmp, NULL) == (float)x : strtod(tmp, NULL) == x;
        if (back || p == max_digits)
            break;
    }
    /* tmp is "d.ddde[+-]XX": split into digits and exponent. */
    char *e = strchr(tmp, 'e');
    *exp10 = atoi(e + 1);
    int n = 0;
    for (const char *s = tmp; s < e; s++)
        if (*s >= '0' && *s <= '9')
            digits[n++] = *s;
    while (n > 1 && digits[n - 1] == '0') /* %.*e may pad zeros at p = max_digits */
        n--;
    digits[n] = '\0';
}

static char *format(double x, int is_f32, char *buf)
{
    if (isnan(x))
        return strcpy(buf, "nan");
    if (isinf(x))
        return strcpy(buf, x > 0 ? "inf" : "-inf");
    char *o = buf;
    if (signbit(x)) {
        *o++ = '-';
        x = -x;
    }
    if (x == 0.0) {
        strcpy(o, "0.0");
        return buf;
    }
    char d[24];
    int e;
    shortest_digits(x, is_f32, d, &e);
    int nd = (int)strlen(d);
    /* Python: scientific when the decimal point would lie more than 16
     * digits right of the first digit or 4 or more zeros left of it. */
    if (e < -4 || e >= 16) {
        *o++ = d[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)(nd - 1));
            o += nd - 1;
        }
        sprintf(o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
        return buf;
    }
    if (e < 0) { /* 0.000ddd */
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -e - 1; i++)
            *o++ = '0';
        memcpy(o, d, (size_t)nd);
        o[nd] = '\0';
        return buf;
    }
    /* e >= 0: digits before the point are d[0..e], zero-padded. */
    for (int i = 0; i <= e; i++)
        *o++ = i < nd ? d[i] : '0';
    *o++ = '.';
    if (nd > e + 1) {
        memcpy(o, d + e + 1, (size_t)(nd - e - 1));
        o += nd - e - 1;
    } else {
        *o++ = '0';
    }
    *o = '\0';
    return buf;
}

char *stc_pyfloat_repr(double x, char *buf) { return format(x, 0, buf); }

char *stc_pyfloat_repr_f32(float x, char *buf) { return format((double)x, 1, buf); }
